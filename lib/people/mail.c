/*
 * mail.c - reminder e-mail: template loading and rendering, RFC 5322
 * message building and delivery to an SMTP relay with libcurl.
 *
 * This file owns the text of reminder messages from the template file to
 * the relay's "250" and nothing else: it keeps no state between calls, and
 * it does not decide who gets a reminder or when (the caller does).
 *
 * Hostile input.  Template variables come from the directory (names,
 * addresses) and the template from an admin's file, so:
 *   - addresses must be a plain addr-spec (no display name, comment, quoted
 *     local part or non-ASCII), which also rules out SMTP command injection
 *     through MAIL FROM / RCPT TO;
 *   - no header value may hold a control character, so a name cannot add a
 *     header ("Bcc:") or end the header block;
 *   - non-ASCII header text is sent as RFC 2047 encoded words, base64 by
 *     OpenSSL, split only between whole UTF-8 characters;
 *   - body lines end in CRLF, a bare CR is refused, as is a line longer than
 *     998 octets (RFC 5322 2.1.1); libcurl dot-stuffs the body on the wire;
 *   - every buffer grows up to a fixed maximum and no further.
 *
 * Delivery.  One curl easy handle per message, closed afterwards: reminders
 * are few, and a fresh connection is the simplest thing to reason about.
 * libcurl does not expose the relay's reply text, so a debug callback keeps
 * the last reply line (CURLINFO_HEADER_IN) and notes which command was sent
 * last (CURLINFO_HEADER_OUT; only the command verb is looked at, never the
 * AUTH payload, which holds the password).  From the two, a failure is told
 * apart as connect / TLS / login / sender / recipient / message, and a 5xx
 * to RCPT TO as a permanent refusal of the recipient.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/utf8.h"
#include "people/mail.h"

#define CB_MAIL_NAME_MAX	200	/* from_name, bytes. */
#define CB_MAIL_USER_MAX	256	/* smtp_username / smtp_password, bytes. */
#define CB_MAIL_PLACEHOLDER_MAX	64	/* Length of a placeholder's name. */
#define CB_MAIL_WORD_BYTES	39	/* Raw bytes per encoded word: 52 base64 chars, 64 with the delimiters. */
#define CB_MAIL_PLAIN_SUBJECT	69	/* A longer ASCII subject is folded at its spaces (78 a line), or encoded. */
#define CB_MAIL_HEADERS_MAX	(16 * 1024)
#define CB_MAIL_CONNECT_MAX_MS	10000
#define CB_MAIL_REPLY_MAX	200	/* Relay reply quoted in messages, bytes. */

/*
 *	A growable buffer with a hard maximum.  Errors are sticky: appending
 *	to a failed buffer does nothing, and the caller checks once.
 */
typedef enum { SB_OK = 0, SB_TOO_LARGE, SB_NOMEM } sb_state_t;

typedef struct {
	char		*data;
	size_t		len;
	size_t		cap;
	size_t		max;		/* Largest len allowed (the NUL is extra). */
	sb_state_t	state;
} sbuf_t;

static void sb_add(sbuf_t *b, char const *p, size_t n)
{
	if (b->state != SB_OK) return;
	if (n > b->max - b->len) {
		b->state = SB_TOO_LARGE;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *nd;

		while (cap < b->len + n + 1) cap *= 2;
		if (cap > b->max + 1) cap = b->max + 1;
		nd = realloc(b->data, cap);
		if (!nd) {
			b->state = SB_NOMEM;
			return;
		}
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void sb_adds(sbuf_t *b, char const *s)
{
	sb_add(b, s, strlen(s));
}

/* The buffer's string, owned by the caller from now on ("" when empty); NULL after a failure. */
static char *sb_take(sbuf_t *b)
{
	char *s = NULL;

	if (b->state == SB_OK) s = b->data ? b->data : strdup("");
	else free(b->data);
	b->data = NULL;
	return s;
}

static void sb_free(sbuf_t *b)
{
	free(b->data);
	b->data = NULL;
}

static void set_err(char *err, size_t errlen, char const *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, char const *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0) return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 *	s as it may appear in a log line: printable ASCII kept, anything else
 *	'?', at most max bytes of it, "..." when cut.  out has room for max + 4.
 */
static char const *printable(char const *s, char *out, size_t outlen)
{
	size_t o = 0, max = outlen > 4 ? outlen - 4 : 0;

	if (!s) s = "";
	for (; *s && o < max; s++) out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (*s && outlen >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (outlen) out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

static bool is_empty(char const *s)
{
	return !s || !*s;
}

/* Offset of the first byte of s[0..len) that is not valid UTF-8, or len. */
static size_t utf8_check(char const *s, size_t len)
{
	unsigned char const *p = (unsigned char const *) s, *end = p + len;

	while (p < end) {
		uint32_t cp;
		size_t n = cb_utf8_decode(p, end, &cp);

		if (n == 0) return (size_t) (p - (unsigned char const *) s);
		p += n;
	}
	return len;
}

/* Is s one line of valid UTF-8 without control characters (C0, DEL, C1)? */
static bool header_text_ok(char const *s)
{
	unsigned char const *p = (unsigned char const *) s, *end = p + strlen(s);

	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control);

		if (n == 0 || control) return false;
		p += n;
	}
	return true;
}

/*
 *	Addresses
 */
static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static bool local_part_ok(char const *s, size_t len)
{
	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.') return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.') return false;
		} else if (!is_atext((unsigned char) s[i])) {
			return false;
		}
	}
	return true;
}

/* "[192.0.2.1]": four decimal octets, no leading zeros. */
static bool ipv4_literal_ok(char const *s, size_t len)
{
	size_t i = 1;

	if (len < 9 || s[0] != '[' || s[len - 1] != ']') return false;
	for (int part = 0; part < 4; part++) {
		unsigned int v = 0;
		size_t start = i;

		while (i < len - 1 && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (unsigned int) (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1)) return false;
		if (part < 3) {
			if (s[i] != '.') return false;
			i++;
		}
	}
	return i == len - 1;
}

static bool host_name_ok(char const *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253) return false;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-') return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

int cb_mail_address_check(char const *addr, char *err, size_t errlen)
{
	char show[80];
	char const *at;
	size_t len;

	if (is_empty(addr)) {
		set_err(err, errlen, "the address is empty");
		return -1;
	}
	len = strlen(addr);
	at = strrchr(addr, '@');
	if (len > CB_MAIL_ADDR_MAX) {
		set_err(err, errlen, "the address \"%s\" is longer than %d bytes", printable(addr, show, sizeof(show)),
			CB_MAIL_ADDR_MAX);
		return -1;
	}
	if (!at || !local_part_ok(addr, (size_t) (at - addr)) ||
	    !(host_name_ok(at + 1, strlen(at + 1)) || ipv4_literal_ok(at + 1, strlen(at + 1)))) {
		set_err(err, errlen, "\"%s\" is not a plain e-mail address (user@domain.example: ASCII, no name, "
			"quotes, spaces or comments)", printable(addr, show, sizeof(show)));
		return -1;
	}
	return 0;
}

/*
 *	Configuration
 */

/* Loopback hosts, to which a password may travel without TLS. */
static bool host_is_loopback(char const *host)
{
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
	       strcmp(host, "::1") == 0;
}

/* The parts of smtp_url that matter; 0, or -1 with err set. */
static int url_check(cb_mail_conf_t const *conf, bool *smtps, bool *loopback, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *part = NULL;
	char show[160];
	int ret = -1;

	if (!u) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	/* Never echo a URL that may hold a password. */
	printable(strchr(conf->url, '@') ? "(not shown: it contains '@')" : conf->url, show, sizeof(show));
	if (curl_url_set(u, CURLUPART_URL, conf->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		set_err(err, errlen, "reminders { smtp_url = \"%s\" } is not a URL: write smtp://host[:port] "
			"or smtps://host[:port]", show);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
		set_err(err, errlen, "reminders { smtp_url } must not contain a user name or password: "
			"set smtp_username and smtp_password instead");
		goto done;
	}
	if (strcasecmp(scheme, "smtp") != 0 && strcasecmp(scheme, "smtps") != 0) {
		set_err(err, errlen, "reminders { smtp_url = \"%s\" } must start with smtp:// (STARTTLS, usually "
			"port 587 or 25) or smtps:// (TLS from the start, usually port 465)", show);
		goto done;
	}
	*smtps = strcasecmp(scheme, "smtps") == 0;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		set_err(err, errlen, "reminders { smtp_url = \"%s\" } names no host", show);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		set_err(err, errlen, "reminders { smtp_url = \"%s\" } must not have a '?' query or '#' fragment", show);
		goto done;
	}
	*loopback = host_is_loopback(host);
	ret = 0;
done:
	curl_free(part);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

static int credentials_check(cb_mail_conf_t const *conf, bool smtps, bool loopback, char *err, size_t errlen)
{
	char show[80];

	if (is_empty(conf->username) != is_empty(conf->password)) {
		set_err(err, errlen, "reminders { smtp_username } and { smtp_password } must be set together "
			"(or neither, for a relay that needs no login)");
		return -1;
	}
	if (is_empty(conf->username)) return 0;
	if (strlen(conf->username) > CB_MAIL_USER_MAX || !header_text_ok(conf->username)) {
		set_err(err, errlen, "reminders { smtp_username = \"%s\" } must be one line of UTF-8 text of at "
			"most %d bytes", printable(conf->username, show, sizeof(show)), CB_MAIL_USER_MAX);
		return -1;
	}
	if (strlen(conf->password) > CB_MAIL_USER_MAX || !header_text_ok(conf->password)) {
		set_err(err, errlen, "reminders { smtp_password } must be one line of UTF-8 text of at most %d bytes",
			CB_MAIL_USER_MAX);
		return -1;
	}
	if (!smtps && !conf->require_tls && !loopback) {
		set_err(err, errlen, "reminders { smtp_password } would cross the network in clear: set "
			"require_tls = yes (STARTTLS) or use an smtps:// smtp_url");
		return -1;
	}
	return 0;
}

/** check_from_name - reminders { from_name }: empty, or one line of UTF-8 of at most CB_MAIL_NAME_MAX bytes. */
static int check_from_name(cb_mail_conf_t const *conf, char *err, size_t errlen)
{
	char show[CB_MAIL_NAME_MAX + 64];

	if (is_empty(conf->from_name) ||
	    (strlen(conf->from_name) <= CB_MAIL_NAME_MAX && header_text_ok(conf->from_name))) return 0;
	set_err(err, errlen, "reminders { from_name = \"%s\" } must be one line of UTF-8 text of at most "
		"%d bytes", printable(conf->from_name, show, sizeof(show)), CB_MAIL_NAME_MAX);
	return -1;
}

int cb_mail_conf_check(cb_mail_conf_t const *conf, char *err, size_t errlen)
{
	char aerr[256], show[80];
	bool smtps = false, loopback = false;

	if (is_empty(conf->url)) {
		set_err(err, errlen, "reminders { smtp_url } is not set: give the relay as smtp://host:587 or "
			"smtps://host:465");
		return -1;
	}
	if (url_check(conf, &smtps, &loopback, err, errlen) < 0) return -1;
	if (credentials_check(conf, smtps, loopback, err, errlen) < 0) return -1;
	if (is_empty(conf->from)) {
		set_err(err, errlen, "reminders { from } is not set: give the sender address, e.g. "
			"it-support@school.example");
		return -1;
	}
	if (cb_mail_address_check(conf->from, aerr, sizeof(aerr)) < 0) {
		set_err(err, errlen, "reminders { from }: %s", aerr);
		return -1;
	}
	if (check_from_name(conf, err, errlen) < 0) return -1;
	if (!is_empty(conf->ca_file) && access(conf->ca_file, R_OK) != 0) {
		set_err(err, errlen, "reminders { ca_file = \"%s\" } cannot be read: %s",
			printable(conf->ca_file, show, sizeof(show)), strerror(errno));
		return -1;
	}
	if (conf->timeout_ms > CB_MAIL_MAX_TIMEOUT_MS) {
		set_err(err, errlen, "reminders { timeout } is too long: at most %d seconds",
			CB_MAIL_MAX_TIMEOUT_MS / 1000);
		return -1;
	}
	return 0;
}

/*
 *	Templates
 */
int cb_mail_template_load(char const *path, char **out, char *err, size_t errlen)
{
	char show[160];
	struct stat st;
	char *buf = NULL;
	size_t len = 0, bad;
	int fd;

	*out = NULL;
	printable(path, show, sizeof(show));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "cannot open the reminder template \"%s\": %s", show, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "the reminder template \"%s\" is not a regular file", show);
		goto fail;
	}
	buf = malloc(CB_MAIL_TEMPLATE_MAX + 2);
	if (!buf) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	while (len < CB_MAIL_TEMPLATE_MAX + 1) {	/* One byte more than allowed tells "too large". */
		ssize_t n = read(fd, buf + len, CB_MAIL_TEMPLATE_MAX + 1 - len);

		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			set_err(err, errlen, "cannot read the reminder template \"%s\": %s", show, strerror(errno));
			goto fail;
		}
		if (n == 0) break;
		len += (size_t) n;
	}
	if (len > CB_MAIL_TEMPLATE_MAX) {
		set_err(err, errlen, "the reminder template \"%s\" is larger than %d bytes", show, CB_MAIL_TEMPLATE_MAX);
		goto fail;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		set_err(err, errlen, "the reminder template \"%s\" contains a NUL byte at offset %zu (is it text?)",
			show, (size_t) ((char *) memchr(buf, '\0', len) - buf));
		goto fail;
	}
	bad = utf8_check(buf, len);
	if (bad < len) {
		set_err(err, errlen, "the reminder template \"%s\" is not valid UTF-8 at byte offset %zu: save it "
			"as UTF-8", show, bad);
		goto fail;
	}
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) memmove(buf, buf + 3, len - 2);	/* A BOM. */
	close(fd);
	*out = buf;
	return 0;

fail:
	free(buf);
	close(fd);
	return -1;
}

/* The value of the variable called name[0..len), or NULL when there is none. */
static cb_mail_var_t const *var_find(cb_mail_var_t const *vars, size_t nvars, char const *name, size_t len)
{
	for (size_t i = 0; i < nvars; i++) {
		if (vars[i].name && strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0) return &vars[i];
	}
	return NULL;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* "name, email, ..." for the unknown-placeholder message. */
static void var_list(cb_mail_var_t const *vars, size_t nvars, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < nvars && o + 1 < outlen; i++) {
		int n = snprintf(out + o, outlen - o, "%s%%{%s}", i ? ", " : "", vars[i].name ? vars[i].name : "");

		if (n < 0) break;
		o += (size_t) n;
	}
	if (nvars == 0) snprintf(out, outlen, "none");
}

/*
 *	The placeholder that starts at src[*i] ("%{"): its value appended to b
 *	and *i moved past the '}'.  0, or -1 with err set.
 */
static int placeholder(sbuf_t *b, char const *src, size_t len, size_t *i, bool subject, unsigned int line,
		       cb_mail_var_t const *vars, size_t nvars, char *err, size_t errlen)
{
	size_t start = *i + 2, end = start, nlen;
	cb_mail_var_t const *v;
	char show[CB_MAIL_PLACEHOLDER_MAX + 1], known[512];

	while (end < len && is_name_char(src[end]) && end - start <= CB_MAIL_PLACEHOLDER_MAX) end++;
	nlen = end - start;
	if (end >= len || src[end] != '}' || nlen == 0 || nlen > CB_MAIL_PLACEHOLDER_MAX) {
		set_err(err, errlen, "line %u of the reminder template: \"%%{\" must be followed by a name "
			"(letters, digits, '_', '-') and '}'; write %%%% for a literal %%", line);
		return -1;
	}
	v = var_find(vars, nvars, src + start, nlen);
	if (!v) {
		var_list(vars, nvars, known, sizeof(known));
		snprintf(show, sizeof(show), "%.*s", (int) nlen, src + start);
		set_err(err, errlen, "line %u of the reminder template: unknown placeholder %%{%s} (known: %s)",
			line, show, known);
		return -1;
	}
	if (subject && v->value && !header_text_ok(v->value)) {
		set_err(err, errlen, "line %u of the reminder template: the value of %%{%s} has a line break, "
			"control character or invalid UTF-8 and cannot go into the Subject", line, v->name);
		return -1;
	}
	sb_adds(b, v->value ? v->value : "");
	*i = end + 1;
	return 0;
}

/*
 *	Expand src[0..len) into b: placeholders, "%%", CRLF to LF.  *line is
 *	the template line of src[0] and advances.  In the subject a value must
 *	hold no control character.  0, or -1 with err set.
 */
static int expand(sbuf_t *b, char const *src, size_t len, bool subject, unsigned int *line,
		  cb_mail_var_t const *vars, size_t nvars, char *err, size_t errlen)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i;

		while (i < len && src[i] != '%' && src[i] != '\r') {
			if (src[i] == '\n') (*line)++;
			i++;
		}
		sb_add(b, src + start, i - start);
		if (i >= len) break;
		if (src[i] == '\r') {			/* CRLF becomes LF; a lone CR stays (cb_mail_build refuses it). */
			if (i + 1 >= len || src[i + 1] != '\n') sb_add(b, "\r", 1);
			i++;
		} else if (i + 1 < len && src[i + 1] == '%') {
			sb_add(b, "%", 1);
			i += 2;
		} else if (i + 1 < len && src[i + 1] == '{') {
			if (placeholder(b, src, len, &i, subject, *line, vars, nvars, err, errlen) < 0) return -1;
		} else {
			sb_add(b, "%", 1);		/* Any other '%' stands for itself. */
			i++;
		}
	}
	return 0;
}

/* Split the template into the Subject text (subj, subj_len) and the body.  0, or -1 with err set. */
static int template_split(char const *tmpl, char const **subj, size_t *subj_len, char const **body,
			  char *err, size_t errlen)
{
	static char const tag[] = "Subject:";
	char const *eol = strchr(tmpl, '\n'), *p, *end;

	if (strncasecmp(tmpl, tag, sizeof(tag) - 1) != 0) {
		set_err(err, errlen, "the reminder template must start with a \"Subject: ...\" line, then an empty "
			"line, then the body");
		return -1;
	}
	if (!eol || !(eol[1] == '\n' || (eol[1] == '\r' && eol[2] == '\n'))) {
		set_err(err, errlen, "line 2 of the reminder template must be empty: it separates the Subject line "
			"from the body");
		return -1;
	}
	p = tmpl + sizeof(tag) - 1;
	end = eol;
	while (p < end && (*p == ' ' || *p == '\t')) p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
	if (p == end) {
		set_err(err, errlen, "line 1 of the reminder template: the Subject is empty");
		return -1;
	}
	*subj = p;
	*subj_len = (size_t) (end - p);
	*body = eol + (eol[1] == '\n' ? 2 : 3);
	return 0;
}

int cb_mail_render(char const *tmpl, cb_mail_var_t const *vars, size_t nvars, char **subject, char **body,
		   char *err, size_t errlen)
{
	sbuf_t s = { .max = CB_MAIL_SUBJECT_MAX }, b = { .max = CB_MAIL_BODY_MAX };
	char const *subj, *rest;
	size_t subj_len;
	unsigned int line = 1;

	*subject = *body = NULL;
	if (template_split(tmpl, &subj, &subj_len, &rest, err, errlen) < 0) return -1;
	if (expand(&s, subj, subj_len, true, &line, vars, nvars, err, errlen) < 0) goto fail;
	line = 3;
	if (expand(&b, rest, strlen(rest), false, &line, vars, nvars, err, errlen) < 0) goto fail;
	if (s.state != SB_OK || b.state != SB_OK) {
		if (s.state == SB_TOO_LARGE) {
			set_err(err, errlen, "the reminder's Subject is longer than %d bytes", CB_MAIL_SUBJECT_MAX);
		} else if (b.state == SB_TOO_LARGE) {
			set_err(err, errlen, "the reminder's body is longer than %d bytes", CB_MAIL_BODY_MAX);
		} else {
			set_err(err, errlen, "out of memory");
		}
		goto fail;
	}
	if (s.len == 0 || strspn(s.data, " \t") == s.len) {
		set_err(err, errlen, "line 1 of the reminder template: the Subject is empty once filled in");
		goto fail;
	}
	if (!header_text_ok(s.data)) {
		set_err(err, errlen, "line 1 of the reminder template: the Subject holds a tab or another control "
			"character");
		goto fail;
	}
	*subject = sb_take(&s);
	*body = sb_take(&b);
	if (!*subject || !*body) {
		free(*subject);
		free(*body);
		*subject = *body = NULL;
		set_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;

fail:
	sb_free(&s);
	sb_free(&b);
	return -1;
}

/*
 *	Messages
 */

/* Length of the longest prefix of s[0..len), at most max bytes, that ends between UTF-8 characters. */
static size_t utf8_prefix(char const *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	while (n > 0 && n < len && ((unsigned char) s[n] & 0xc0) == 0x80) n--;
	return n;
}

/*
 *	text as RFC 2047 B encoded words.  *col is the column the first word
 *	starts at and is advanced; a word that would pass column 76 goes on a
 *	continuation line (CRLF SP).
 */
static void add_encoded_words(sbuf_t *b, char const *text, size_t *col)
{
	size_t len = strlen(text), off = 0;
	unsigned char enc[((CB_MAIL_WORD_BYTES + 2) / 3) * 4 + 1];

	while (off < len) {
		size_t n = utf8_prefix(text + off, len - off, CB_MAIL_WORD_BYTES), wlen;

		if (n == 0) n = 1;	/* Cannot happen with valid UTF-8; never loop forever. */
		wlen = (size_t) EVP_EncodeBlock(enc, (unsigned char const *) text + off, (int) n) + 12;
		if (off) {
			if (*col + 1 + wlen > 76) {
				sb_adds(b, "\r\n ");
				*col = 1;
			} else {
				sb_adds(b, " ");
				(*col)++;
			}
		}
		sb_adds(b, "=?UTF-8?B?");
		sb_adds(b, (char const *) enc);
		sb_adds(b, "?=");
		*col += wlen;
		off += n;
	}
}

/* Could s go into a header as it is: short printable ASCII that does not look like an encoded word? */
static bool plain_ascii(char const *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max || strstr(s, "=?")) return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) return false;
	}
	return true;
}

/**
 * foldable_ascii - printable ASCII (no "=?") whose words, separated by
 * single spaces, each fit on a folded line: such a subject is folded at
 * its spaces (RFC 5322 2.2.3) and stays readable, rather than encoded.
 */
static bool foldable_ascii(char const *s)
{
	size_t word = 0;

	if (!plain_ascii(s, CB_MAIL_SUBJECT_MAX) || s[0] == ' ') return false;
	for (; *s; s++) {
		if (*s == ' ') {
			if (word == 0) return false;	/* Two spaces: folding would change them. */
			word = 0;
		} else if (++word > CB_MAIL_PLAIN_SUBJECT) {
			return false;
		}
	}
	return word > 0;
}

/** add_folded - s (foldable_ascii) starting at column col, folded before a space when a line would pass 78. */
static void add_folded(sbuf_t *b, char const *s, size_t col)
{
	while (*s) {
		char const *sp = strchr(s + 1, ' ');
		size_t n = sp ? (size_t) (sp - s) : strlen(s);

		if (*s == ' ' && col + n > 78) {
			sb_adds(b, "\r\n");	/* The space starts the continuation line. */
			col = 0;
		}
		sb_add(b, s, n);
		col += n;
		s += n;
	}
}

static void add_from(sbuf_t *b, cb_mail_conf_t const *conf)
{
	size_t col = 6;

	sb_adds(b, "From: ");
	if (is_empty(conf->from_name)) {
		sb_adds(b, conf->from);
		sb_adds(b, "\r\n");
		return;
	}
	if (plain_ascii(conf->from_name, CB_MAIL_NAME_MAX)) {
		sb_adds(b, "\"");
		for (char const *p = conf->from_name; *p; p++, col++) {
			if (*p == '"' || *p == '\\') sb_adds(b, "\\");
			sb_add(b, p, 1);
		}
		sb_adds(b, "\"");
	} else {
		add_encoded_words(b, conf->from_name, &col);
	}
	sb_adds(b, col + 3 + strlen(conf->from) > 78 ? "\r\n <" : " <");
	sb_adds(b, conf->from);
	sb_adds(b, ">\r\n");
}

static void add_date(sbuf_t *b, time_t now)
{
	static char const *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static char const *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char line[64];

	if (!gmtime_r(&now, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		b->state = SB_NOMEM;	/* Cannot happen for a real clock; fail rather than write nonsense. */
		return;
	}
	snprintf(line, sizeof(line), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	sb_adds(b, line);
}

/* "Message-ID: <32 hex digits@from-domain>"; -1 when OpenSSL has no randomness. */
static int add_message_id(sbuf_t *b, char const *from)
{
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) return -1;
	for (size_t i = 0; i < sizeof(rnd); i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	sb_adds(b, "Message-ID: <");
	sb_adds(b, hex);
	sb_adds(b, strrchr(from, '@'));
	sb_adds(b, ">\r\n");
	return 0;
}

/* body with CRLF line ends; 0, or -1 with err set (bare CR, long line, bad UTF-8). */
static int add_body(sbuf_t *b, char const *body, char *err, size_t errlen)
{
	size_t len = strlen(body), bad = utf8_check(body, len);
	unsigned int line = 1;
	char const *p = body, *end = body + len;

	if (bad < len) {
		set_err(err, errlen, "the reminder's body is not valid UTF-8 at byte offset %zu", bad);
		return -1;
	}
	while (p < end) {
		char const *nl = memchr(p, '\n', (size_t) (end - p));
		char const *stop = nl ? nl : end;
		size_t n = (size_t) (stop - p);

		if (n && p[n - 1] == '\r' && nl) n--;
		if (memchr(p, '\r', n)) {
			set_err(err, errlen, "line %u of the reminder's body holds a carriage return that does not end "
				"the line", line);
			return -1;
		}
		if (n > CB_MAIL_LINE_MAX) {
			set_err(err, errlen, "line %u of the reminder's body is %zu bytes long: the limit is %d "
				"(RFC 5322); break it up", line, n, CB_MAIL_LINE_MAX);
			return -1;
		}
		sb_add(b, p, n);
		sb_adds(b, "\r\n");
		p = nl ? nl + 1 : end;
		line++;
	}
	return 0;
}

/* The checks of cb_mail_build's arguments; 0, or -1 with err set. */
static int build_check(cb_mail_conf_t const *conf, char const *to, char const *subject, char *err, size_t errlen)
{
	char aerr[256], show[80];

	if (is_empty(conf->from) || cb_mail_address_check(conf->from, aerr, sizeof(aerr)) < 0) {
		set_err(err, errlen, "reminders { from }: %s", is_empty(conf->from) ? "not set" : aerr);
		return -1;
	}
	if (cb_mail_address_check(to, aerr, sizeof(aerr)) < 0) {
		set_err(err, errlen, "recipient: %s", aerr);
		return -1;
	}
	if (check_from_name(conf, err, errlen) < 0) return -1;
	if (is_empty(subject) || strlen(subject) > CB_MAIL_SUBJECT_MAX || !header_text_ok(subject)) {
		set_err(err, errlen, "the reminder's Subject \"%s\" must be one line of UTF-8 text of 1 to %d bytes, "
			"without control characters", printable(subject, show, sizeof(show)), CB_MAIL_SUBJECT_MAX);
		return -1;
	}
	return 0;
}

char *cb_mail_build(cb_mail_conf_t const *conf, char const *to, char const *subject, char const *body, time_t now,
		    char *err, size_t errlen)
{
	sbuf_t b = { .max = CB_MAIL_HEADERS_MAX + 2 * (size_t) CB_MAIL_BODY_MAX };
	bool eight_bit = false;
	char *msg;

	if (build_check(conf, to, subject, err, errlen) < 0) return NULL;
	if (!body) body = "";
	for (char const *p = body; *p && !eight_bit; p++) eight_bit = (unsigned char) *p >= 0x80;

	add_date(&b, now);
	add_from(&b, conf);
	sb_adds(&b, "To: ");
	sb_adds(&b, to);
	sb_adds(&b, "\r\nSubject: ");
	if (plain_ascii(subject, CB_MAIL_PLAIN_SUBJECT)) {
		sb_adds(&b, subject);
	} else if (foldable_ascii(subject)) {
		add_folded(&b, subject, 9);
	} else {
		size_t col = 9;

		add_encoded_words(&b, subject, &col);
	}
	sb_adds(&b, "\r\n");
	if (add_message_id(&b, conf->from) < 0) {
		set_err(err, errlen, "OpenSSL could not produce random bytes for the Message-ID");
		sb_free(&b);
		return NULL;
	}
	sb_adds(&b, "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=UTF-8\r\n");
	sb_adds(&b, eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "Content-Transfer-Encoding: 7bit\r\n");
	sb_adds(&b, "Auto-Submitted: auto-generated\r\n"
		    "\r\n");
	if (add_body(&b, body, err, errlen) < 0) {
		sb_free(&b);
		return NULL;
	}
	if (b.state != SB_OK) {
		set_err(err, errlen, b.state == SB_TOO_LARGE ? "the reminder message is too large" : "out of memory");
		sb_free(&b);
		return NULL;
	}
	msg = sb_take(&b);
	if (!msg) set_err(err, errlen, "out of memory");
	return msg;
}

/*
 *	Delivery
 */
typedef enum {
	STAGE_CONNECT = 0,	/* Nothing sent yet: TCP, TLS or the greeting. */
	STAGE_HELLO,		/* EHLO / HELO. */
	STAGE_STARTTLS,
	STAGE_AUTH,
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA,		/* DATA sent, the message not yet complete. */
	STAGE_END		/* The message sent, waiting for the verdict. */
} stage_t;

typedef struct {
	char const	*msg;
	size_t		len;
	size_t		pos;
	stage_t		stage;
	bool		connected;	/* The TCP connection was made. */
	bool		quit;		/* QUIT went out: later replies say nothing about the failure. */
	char		reply[CB_MAIL_REPLY_MAX + 4];	/* The relay's last reply line, printable. */
	char		curl_err[CURL_ERROR_SIZE];
} xfer_t;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ctx)
{
	xfer_t *x = ctx;
	size_t n = size * nitems;

	if (n > x->len - x->pos) n = x->len - x->pos;
	memcpy(buf, x->msg + x->pos, n);
	x->pos += n;
	if (x->pos == x->len) x->stage = STAGE_END;
	return n;
}

/* Which command went out: only the verb is looked at (AUTH continuations carry secrets). */
static void note_command(xfer_t *x, char const *data, size_t size)
{
	static const struct {
		char const	*verb;
		stage_t		stage;
	} cmds[] = {
		{ "EHLO ", STAGE_HELLO }, { "HELO ", STAGE_HELLO }, { "STARTTLS\r", STAGE_STARTTLS },
		{ "AUTH ", STAGE_AUTH }, { "MAIL FROM:", STAGE_MAIL }, { "RCPT TO:", STAGE_RCPT },
		{ "DATA\r", STAGE_DATA }
	};

	if (size >= 5 && strncasecmp(data, "QUIT\r", 5) == 0) {
		x->quit = true;
		return;
	}

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		size_t n = strlen(cmds[i].verb);

		if (size >= n && strncasecmp(data, cmds[i].verb, n) == 0) {
			x->stage = cmds[i].stage;
			return;
		}
	}
}

static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ctx)
{
	xfer_t *x = ctx;

	(void) c;
	if (type == CURLINFO_HEADER_OUT) {
		note_command(x, data, size);
	} else if (type == CURLINFO_HEADER_IN && !x->quit && size >= 3 && data[0] >= '2' && data[0] <= '5') {
		size_t o = 0;

		for (size_t i = 0; i < size && o < CB_MAIL_REPLY_MAX; i++) {
			if (data[i] == '\r' || data[i] == '\n') break;
			x->reply[o++] = (data[i] >= 0x20 && data[i] < 0x7f) ? data[i] : '?';
		}
		x->reply[o] = '\0';
	}
	return 0;
}

static CURLcode set_options(CURL *c, cb_mail_conf_t const *conf, bool smtps, struct curl_slist *rcpt,
			    char const *mail_from, xfer_t *x)
{
	unsigned int timeout = conf->timeout_ms ? conf->timeout_ms : CB_MAIL_DEFAULT_TIMEOUT_MS;
	CURLcode rc = CURLE_OK;

#define SETOPT(_o, _v) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, _o, _v); } while (0)
	SETOPT(CURLOPT_URL, conf->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, x->curl_err);
	SETOPT(CURLOPT_PROXY, "");		/* Ignore all_proxy and friends in the environment. */
	SETOPT(CURLOPT_USE_SSL, (long) (smtps || conf->require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (!is_empty(conf->ca_file)) SETOPT(CURLOPT_CAINFO, conf->ca_file);
	if (!is_empty(conf->username)) {
		SETOPT(CURLOPT_USERNAME, conf->username);
		SETOPT(CURLOPT_PASSWORD, conf->password);
	}
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) (timeout < CB_MAIL_CONNECT_MAX_MS ? timeout : CB_MAIL_CONNECT_MAX_MS));
	SETOPT(CURLOPT_TIMEOUT_MS, (long) timeout);
	SETOPT(CURLOPT_MAIL_FROM, mail_from);
	SETOPT(CURLOPT_MAIL_RCPT, rcpt);
	SETOPT(CURLOPT_UPLOAD, 1L);
	SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->len);
	SETOPT(CURLOPT_READFUNCTION, read_cb);
	SETOPT(CURLOPT_READDATA, x);
	SETOPT(CURLOPT_VERBOSE, 1L);		/* Only so that debug_cb sees the dialogue; nothing is printed. */
	SETOPT(CURLOPT_DEBUGFUNCTION, debug_cb);
	SETOPT(CURLOPT_DEBUGDATA, x);
#undef SETOPT
	return rc;
}

/* " (the server said: 550 ...)" when there is a reply, else "". */
static void reply_note(xfer_t const *x, char *out, size_t outlen)
{
	if (x->reply[0]) snprintf(out, outlen, ": %s", x->reply);
	else snprintf(out, outlen, "%s", "");
}

/* A refusal by the relay (4xx/5xx) at MAIL, RCPT or DATA as a sentence and a result; 1 when not one of those. */
static int explain_refusal(long code, cb_mail_conf_t const *conf, char const *to, xfer_t const *x, char const *url,
			   char const *said, char *err, size_t errlen)
{
	char show[CB_MAIL_ADDR_MAX + 8];
	char const *how = code >= 500 ? "permanently" : "temporarily";

	if (code < 400 || code >= 600) return 1;
	switch (x->stage) {
	case STAGE_MAIL:
		set_err(err, errlen, "SMTP server %s refused the sender <%s>%s (check reminders { from }%s)", url,
			printable(conf->from, show, sizeof(show)), said,
			is_empty(conf->username) ? " and whether the relay needs smtp_username" : "");
		return CB_MAIL_FAILED;
	case STAGE_RCPT:
		set_err(err, errlen, "SMTP server %s %s refused the recipient <%s>%s", url, how,
			printable(to, show, sizeof(show)), said);
		return code >= 500 ? CB_MAIL_RCPT_REFUSED : CB_MAIL_FAILED;
	case STAGE_DATA:
	case STAGE_END:
		set_err(err, errlen, "SMTP server %s %s refused the message to <%s>%s", url, how,
			printable(to, show, sizeof(show)), said);
		return CB_MAIL_FAILED;
	default:
		return 1;
	}
}

/* Turn a failed transfer into a sentence and a result. */
static int explain(CURLcode rc, long code, cb_mail_conf_t const *conf, char const *to, xfer_t const *x,
		   char *err, size_t errlen)
{
	char url[160], user[80], said[CB_MAIL_REPLY_MAX + 8];
	char const *detail = x->curl_err[0] ? x->curl_err : curl_easy_strerror(rc);
	unsigned int timeout = conf->timeout_ms ? conf->timeout_ms : CB_MAIL_DEFAULT_TIMEOUT_MS;
	int ret;

	printable(conf->url, url, sizeof(url));
	reply_note(x, said, sizeof(said));
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		set_err(err, errlen, "cannot connect to %s: %s (check reminders { smtp_url } and that the relay is "
			"running)", url, detail);
		return CB_MAIL_FAILED;
	case CURLE_OPERATION_TIMEDOUT:
		if (!x->connected) {
			set_err(err, errlen, "cannot connect to %s: %s (check reminders { smtp_url } and timeout)", url,
				detail);
		} else if (x->stage == STAGE_CONNECT && !x->reply[0]) {
			set_err(err, errlen, "SMTP server %s accepted the connection but sent no greeting within "
				"reminders { timeout } (%u ms): is that port for smtps:// rather than smtp://?", url,
				timeout);
		} else {
			set_err(err, errlen, "SMTP server %s did not finish within reminders { timeout } (%u ms)%s%s",
				url, timeout, x->reply[0] ? "; its last reply was" : "", said);
		}
		return CB_MAIL_FAILED;
	case CURLE_LOGIN_DENIED:
		set_err(err, errlen, "SMTP server %s refused the login for user \"%s\"%s (check reminders "
			"{ smtp_username, smtp_password })", url, printable(conf->username, user, sizeof(user)),
			x->reply[0] ? said : ": no authentication method both sides support");
		return CB_MAIL_FAILED;
	case CURLE_USE_SSL_FAILED:
		set_err(err, errlen, "SMTP server %s does not offer STARTTLS, and reminders { require_tls } is yes "
			"(use the relay's submission port 587, or smtps:// on 465)", url);
		return CB_MAIL_FAILED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		set_err(err, errlen, "TLS with SMTP server %s failed: %s (check reminders { ca_file }, that the "
			"server's certificate names the host in smtp_url, and that the port speaks TLS from the start "
			"for smtps:// or STARTTLS for smtp://)", url, detail);
		return CB_MAIL_FAILED;
	default:
		break;
	}
	ret = explain_refusal(code, conf, to, x, url, said, err, errlen);
	if (ret <= 0) return ret;
	set_err(err, errlen, "sending mail through %s failed: %s%s%s", url, detail,
		x->reply[0] ? "; the server's last reply was" : "", said);
	return CB_MAIL_FAILED;
}

int cb_mail_send(cb_mail_conf_t const *conf, char const *to, char const *message, char *err, size_t errlen)
{
	char from[CB_MAIL_ADDR_MAX + 3], rcpt_addr[CB_MAIL_ADDR_MAX + 3], aerr[256];
	struct curl_slist *rcpt = NULL;
	xfer_t x = { 0 };
	bool smtps;
	CURLcode rc;
	CURL *c;
	long code = 0;
	double connect_time = 0;
	int ret;

	if (cb_mail_conf_check(conf, err, errlen) < 0) return CB_MAIL_FAILED;
	if (cb_mail_address_check(to, aerr, sizeof(aerr)) < 0) {
		set_err(err, errlen, "recipient: %s", aerr);
		return CB_MAIL_RCPT_REFUSED;
	}
	if (is_empty(message)) {
		set_err(err, errlen, "the message is empty");
		return CB_MAIL_FAILED;
	}
	smtps = strncasecmp(conf->url, "smtps:", 6) == 0;
	snprintf(from, sizeof(from), "<%s>", conf->from);
	snprintf(rcpt_addr, sizeof(rcpt_addr), "<%s>", to);
	x.msg = message;
	x.len = strlen(message);

	c = curl_easy_init();
	rcpt = curl_slist_append(NULL, rcpt_addr);
	if (!c || !rcpt) {
		set_err(err, errlen, c ? "out of memory" : "libcurl could not create a handle (was curl_global_init "
			"called?)");
		ret = CB_MAIL_FAILED;
		goto done;
	}
	rc = set_options(c, conf, smtps, rcpt, from, &x);
	if (rc != CURLE_OK) {
		set_err(err, errlen, "libcurl refused an option: %s (does it support SMTP?)", curl_easy_strerror(rc));
		ret = CB_MAIL_FAILED;
		goto done;
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	x.connected = curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &connect_time) == CURLE_OK && connect_time > 0;
	if (code == 0 && x.reply[0]) code = strtol(x.reply, NULL, 10);
	ret = rc == CURLE_OK ? CB_MAIL_SENT : explain(rc, code, conf, to, &x, err, errlen);

done:
	curl_slist_free_all(rcpt);
	if (c) curl_easy_cleanup(c);
	return ret;
}
