/*
 * mail.h - acknowledgement reminders by e-mail: the template, the message
 * and its delivery to one SMTP relay through libcurl.
 *
 * The three steps are separate so each can be checked on its own:
 *
 *   cb_mail_template_load()  reads the admin's template file (UTF-8, at most
 *                            CB_MAIL_TEMPLATE_MAX bytes);
 *   cb_mail_render()         fills its %{placeholders} in, giving a subject
 *                            and a body;
 *   cb_mail_build()          wraps them in an RFC 5322 message (CRLF lines,
 *                            RFC 2047 headers, refusing header injection);
 *   cb_mail_send()           hands the message to the relay for one
 *                            recipient.
 *
 * The template file:
 *
 *	Subject: Wi-Fi: please acknowledge the BYOD policy by %{expires}
 *
 *	Dear %{name},
 *	your acknowledgement of the %{school} policy lapses in %{days} days.
 *	Please fill in %{form_url} again.  Discounts of 100%% are not on offer.
 *
 * The first line is "Subject:" and the subject, the second line is empty,
 * everything after it is the body.  %{name} is replaced by the value of the
 * variable called name (letters, digits, '_' and '-'); a placeholder with no
 * variable of that name is an error that names it; "%%" is one '%'; any
 * other '%' stands for itself.  LF and CRLF line ends are both accepted.
 * To validate a template at start-up, render it once with every variable
 * set to "".
 *
 * Global state: none here.  libcurl needs curl_global_init() once per
 * process before the first cb_mail_send() (see http.h); OpenSSL supplies
 * the random Message-ID and the base64 of encoded words.
 *
 * Failure contract: every function that can fail writes a sentence for the
 * admin into err[errlen] and leaves nothing allocated.  Messages name the
 * raddb options of the reminders section (smtp_url, smtp_username,
 * smtp_password, from, from_name, ca_file, require_tls, timeout) and never
 * contain the password.  Returned strings belong to the caller, who frees
 * them with free().
 */
#ifndef CETBYOD_PEOPLE_MAIL_H
#define CETBYOD_PEOPLE_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CB_MAIL_TEMPLATE_MAX	(64 * 1024)	/* Largest template file, bytes. */
#define CB_MAIL_BODY_MAX	(256 * 1024)	/* Largest rendered body, bytes. */
#define CB_MAIL_SUBJECT_MAX	900		/* Largest rendered subject, bytes. */
#define CB_MAIL_LINE_MAX	998		/* RFC 5322 2.1.1: octets per line, without CRLF. */
#define CB_MAIL_ADDR_MAX	254		/* RFC 5321 4.5.3.1.3 path, less the brackets. */
#define CB_MAIL_DEFAULT_TIMEOUT_MS	30000
#define CB_MAIL_MAX_TIMEOUT_MS		600000

/*
 *	reminders { ... } as the module parsed it.  Strings are borrowed: they
 *	must outlive every call that is given the conf.
 */
typedef struct {
	char const	*url;		/* smtp_url: "smtp://host[:port][/ehlo-name]" or "smtps://...". */
	char const	*username;	/* smtp_username: NULL or "": no AUTH. */
	char const	*password;	/* smtp_password: set exactly when username is. */
	char const	*from;		/* from: envelope and header sender, a plain addr-spec. */
	char const	*from_name;	/* from_name: display name, UTF-8; NULL or "": none. */
	char const	*ca_file;	/* ca_file: PEM CAs to trust; NULL or "": the system's store. */
	bool		require_tls;	/* require_tls: smtp:// must upgrade with STARTTLS. */
	unsigned int	timeout_ms;	/* timeout: whole delivery; 0: CB_MAIL_DEFAULT_TIMEOUT_MS. */
} cb_mail_conf_t;

/* One template variable: %{name} becomes value. */
typedef struct {
	char const	*name;
	char const	*value;		/* UTF-8; NULL is taken as "". */
} cb_mail_var_t;

/* What cb_mail_send returns. */
enum {
	CB_MAIL_SENT = 0,		/* The relay accepted the message (250 after DATA). */
	CB_MAIL_FAILED = -1,		/* Not sent: connection, TLS, login, sender, timeout or a
					 * temporary (4xx) refusal.  Try again later; when the
					 * reason is the configuration, err says which option. */
	CB_MAIL_RCPT_REFUSED = -2	/* The relay permanently (5xx) refused this recipient
					 * address at RCPT TO, or it is not a plain address at
					 * all: retrying will not help; the address is wrong. */
};

/**
 * cb_mail_conf_check - is conf usable?  Checks that smtp_url is smtp:// or
 * smtps:// with a host and no user name, password, query or fragment in it;
 * that from is a plain addr-spec; that from_name is one line of UTF-8; that
 * smtp_username and smtp_password come together, and that a password is not
 * sent in clear to a host other than loopback (smtp:// without
 * require_tls); that ca_file can be read; and that timeout is at most
 * CB_MAIL_MAX_TIMEOUT_MS.  Returns 0, or -1 with the reason in err.
 */
int cb_mail_conf_check(cb_mail_conf_t const *conf, char *err, size_t errlen);

/**
 * cb_mail_address_check - is addr a plain addr-spec: a dot-atom local part,
 * '@', a host name (LDH labels) or an IPv4 domain literal, ASCII, at most
 * CB_MAIL_ADDR_MAX bytes?  Quoted local parts, comments, display names and
 * internationalised addresses are refused.  Returns 0, or -1 with the reason
 * in err (which quotes addr safely).
 */
int cb_mail_address_check(char const *addr, char *err, size_t errlen);

/**
 * cb_mail_template_load - read the template file at path into *out
 * (NUL-terminated, caller frees).  Refuses a file that is not a regular file,
 * is larger than CB_MAIL_TEMPLATE_MAX, holds a NUL byte or is not valid
 * UTF-8 (the message names the byte offset).  Returns 0, or -1 with *out
 * NULL and the reason in err.
 */
int cb_mail_template_load(char const *path, char **out, char *err, size_t errlen);

/**
 * cb_mail_render - fill the template in (format above).  On success *subject
 * (one line, surrounding blanks trimmed, not empty) and *body (lines ending
 * in LF) are the caller's to free, and 0 is returned.  On failure -1: both
 * are NULL and err names the problem and its template line: a missing or
 * empty Subject line, no blank second line, an unterminated or unknown
 * placeholder, a control character (a line break, say) in the subject,
 * including one brought in by a variable, or a result over
 * CB_MAIL_SUBJECT_MAX / CB_MAIL_BODY_MAX.
 */
int cb_mail_render(char const *tmpl, cb_mail_var_t const *vars, size_t nvars, char **subject, char **body,
		   char *err, size_t errlen);

/**
 * cb_mail_build - the complete message, ready for cb_mail_send: Date (now,
 * UTC), From (conf->from_name, RFC 2047 encoded when not plain ASCII), To,
 * Subject (likewise), Message-ID (128 random bits @ the from domain),
 * MIME-Version, Content-Type text/plain; charset=UTF-8, Content-Transfer-
 * Encoding 7bit or 8bit, Auto-Submitted: auto-generated, a blank line and
 * the body.  Every line ends in CRLF, the message too.  Refuses (NULL, err
 * says why): an address that is not a plain addr-spec, a control character
 * in a header value (header injection), a bare CR in the body, a body line
 * longer than CB_MAIL_LINE_MAX octets, and text that is not UTF-8.  The
 * returned string is the caller's to free.
 */
char *cb_mail_build(cb_mail_conf_t const *conf, char const *to, char const *subject, char const *body, time_t now,
		    char *err, size_t errlen);

/**
 * cb_mail_send - deliver message (from cb_mail_build) to one recipient, to,
 * through the relay at conf->url, verifying its certificate whenever TLS is
 * used (smtps://, or smtp:// with STARTTLS: required with require_tls,
 * otherwise used when the relay offers it).  Blocks for at most the
 * configured timeout.  Returns CB_MAIL_SENT, CB_MAIL_FAILED or
 * CB_MAIL_RCPT_REFUSED (see above); on failure err says what happened, with
 * the relay's own reply when there was one, e.g.
 *   SMTP server smtp://mail.school.example:587 refused the login for user
 *   "byod": 535 5.7.8 Authentication credentials invalid (check reminders
 *   { smtp_username, smtp_password })
 */
int cb_mail_send(cb_mail_conf_t const *conf, char const *to, char const *message, char *err, size_t errlen);

#endif
