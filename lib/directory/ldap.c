/*
 * ldap.c - the LDAP directory client: connections, the user search, and
 * turning an entry into facts for the policy engine.
 *
 * How a lookup works
 * ------------------
 * One search per lookup, in the common case.  With the OpenLDAP defaults
 * (user_filter "(uid=%s)", group_mode memberof, disabled_mode ppolicy_locked)
 * looking up "alice" is:
 *
 *	base     dc=school,dc=example (subtree)
 *	filter   (uid=alice)            - the identity escaped per RFC 4515
 *	attrs    mail memberOf pwdAccountLockedTime cetbyodRevoked ...
 *	limits   sizelimit 2, timelimit and client timeout from search_timeout_ms
 *
 * Zero entries is NOT_FOUND; two is refused as ambiguous (the size limit of
 * 2 is what lets us see that cheaply); one is read attribute by attribute:
 * the addresses normalised and de-duplicated, memberOf compared with the
 * configured staff and pupil groups after DN normalisation, the disabled
 * marker, and the BYOD revocation and exception attributes.  group_mode
 * search/ad_nested adds one search for the groups that list the user's DN,
 * and disabled_mode filter adds a base-scoped search of the user's entry;
 * all searches of one lookup share one search_timeout_ms budget.
 *
 * Failure contract
 * ----------------
 * Anything that stops the directory from answering (connection lost, timeout,
 * server error) is CB_DIR_UNAVAILABLE, and marks the connection broken: it is
 * never used again, because libldap would otherwise silently reconnect a lost
 * connection without TLS or bind.  An answer that cannot be used (ambiguous,
 * DN too long) is NOT_FOUND with out->refused set.  Values that are bad or do
 * not fit are skipped or truncated with a line in out->warning; where a bad
 * value could grant access (an unreadable revocation flag or exception end),
 * the safe reading is taken.
 *
 * Secrets: bind_password is handed to libldap and appears nowhere else.
 * Signals: libldap may write to a socket the server closed, so the process
 * must ignore SIGPIPE (radiusd does).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <ldap.h>

#include "base/utf8.h"
#include "directory/ldap.h"
#include "core/identity.h"
#include "core/tz.h"

/* AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups. */
#define AD_IN_CHAIN ":1.2.840.113556.1.4.1941:"
#define AD_UAC_ATTR "userAccountControl"
#define AD_UAC_ACCOUNTDISABLE 0x2
#define PPOLICY_LOCKED_ATTR "pwdAccountLockedTime"
#define ATTR_NAME_MAX 128
#define MAX_ATTRS (CB_LDAP_MAX_EMAIL_ATTRS + 8)
#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 60000
#define MAX_GROUPS_LIMIT 100000
#define LIST_TIMEOUT_MAX_MS 3600000
#define LIST_MAX_PEOPLE_LIMIT 10000000
#define LIST_PAGE_SIZE_LIMIT 100000

/*
 *	The connection guard.  libldap bounds the TCP connect with
 *	LDAP_OPT_NETWORK_TIMEOUT, but not the TLS handshake that follows
 *	(ldaps://, or after StartTLS): with a network timeout set it makes the
 *	socket non-blocking and retries the handshake in a loop with no time
 *	check, so a server that accepts the connection and then stalls keeps a
 *	worker spinning forever.  A connection callback slips this small Sockbuf
 *	I/O layer between TLS and TCP; while it is armed, a read or write that
 *	would block waits for the socket until the deadline and then fails with
 *	ETIMEDOUT, which ends the handshake.  Disarmed, it passes everything
 *	through unchanged.
 */
typedef struct {
	ldap_conncb	cb;		/* Registered with LDAP_OPT_CONNECT_CB; must outlive the handle. */
	int64_t		deadline_ms;	/* Armed while non-zero (CLOCK_MONOTONIC ms). */
	bool		fired;		/* The deadline ended an operation. */
} guard_t;

struct cb_ldap_conn {
	LDAP			*ld;
	guard_t			*guard;		/* Freed after ld. */
	bool			broken;		/* Failed once: never used again. */
	char			uri[CB_LDAP_URI_MAX];
	unsigned int		search_timeout_ms;

	/* The configured groups in normal form, made for one conf. */
	cb_ldap_conf_t const	*groups_for;
	char			*staff[CB_LDAP_MAX_GROUPS];
	size_t			num_staff;
	char			*pupil[CB_LDAP_MAX_GROUPS];
	size_t			num_pupil;
};

/*
 *	Small helpers: messages, bounded strings, UTF-8.
 */

static void err_set(char *err, size_t errlen, char const *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_set(char *err, size_t errlen, char const *fmt, ...)
{
	va_list ap;

	if (!err || !errlen) return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/** err_append - add "; " and a message to what err already holds (bounded). */
static void err_append(char *err, size_t errlen, char const *msg)
{
	size_t used;

	if (!err || !errlen) return;
	used = strnlen(err, errlen);
	if (used + 1 >= errlen) return;
	snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", msg);
}

/** warn_add - record a warning in the entry; "..." marks warnings that did not fit. */
static void warn_add(cb_dir_entry_t *e, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_add(cb_dir_entry_t *e, char const *fmt, ...)
{
	char msg[CB_DIR_WARNING_MAX];
	size_t used = strnlen(e->warning, sizeof(e->warning)), mlen;
	size_t sep = used ? 2 : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlen = strlen(msg);

	if (used + sep + mlen + 1 > sizeof(e->warning) - 4) {
		if (used + 4 < sizeof(e->warning) && (used < 3 || memcmp(e->warning + used - 3, "...", 3) != 0)) {
			memcpy(e->warning + used, "...", 4);
		}
		return;
	}
	if (sep) memcpy(e->warning + used, "; ", 2);
	memcpy(e->warning + used + sep, msg, mlen + 1);
}

static bool is_set(char const *s)
{
	return s && *s;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/** text_ok - in[0..len) is valid UTF-8 without NUL or control characters. */
static bool text_ok(char const *in, size_t len)
{
	return cb_utf8_text_valid(in, len);
}

/**
 * text_copy - copy a value for display: invalid UTF-8 and control characters
 * become '?', and it is cut at a character boundary to fit out.
 * Returns a bit set: 1 when something was replaced, 2 when it was cut.
 */
static int text_copy(char *out, size_t outlen, char const *in, size_t len)
{
	unsigned char const *p = (unsigned char const *) in, *end = p + len;
	size_t o = 0;
	int changed = 0;

	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control);

		if (!n || control) {
			if (o + 2 > outlen) break;
			out[o++] = '?';
			changed |= 1;
			p += n ? n : 1;
			continue;
		}
		if (o + n + 1 > outlen) break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	if (p < end) changed |= 2;
	out[o] = '\0';
	return changed;
}

/** text_sanitise - make a libldap or server message printable, in place. */
static void text_sanitise(char *s)
{
	for (; *s; s++) if ((unsigned char) *s < 0x20 || *s == 0x7f) *s = '?';
}

/** A bounded string builder: once something does not fit, it stays failed. */
typedef struct {
	char	*buf;
	size_t	len;
	size_t	cap;
	bool	overflow;
} sbuf_t;

static void sb_init(sbuf_t *sb, char *buf, size_t cap)
{
	sb->buf = buf;
	sb->len = 0;
	sb->cap = cap;
	sb->overflow = (cap == 0);
	if (cap) buf[0] = '\0';
}

static void sb_addn(sbuf_t *sb, char const *s, size_t n)
{
	if (sb->overflow) return;
	if (sb->len + n + 1 > sb->cap) {
		sb->overflow = true;
		sb->buf[0] = '\0';
		return;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static void sb_add(sbuf_t *sb, char const *s)
{
	sb_addn(sb, s, strlen(s));
}

/** sb_add_escaped - add value escaped as an RFC 4515 assertion value (libldap's escaping). */
static bool sb_add_escaped(sbuf_t *sb, char const *value, size_t len)
{
	struct berval in, out = { 0, NULL };

	in.bv_val = (char *) (uintptr_t) value;
	in.bv_len = len;
	if (ldap_bv2escaped_filter_value(&in, &out) != 0 || !out.bv_val) return false;
	sb_addn(sb, out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return true;
}

/*
 *	Option names and checks.
 */

static char const *group_mode_names[] = {
	[CB_LDAP_GROUPS_MEMBEROF]	= "memberof",
	[CB_LDAP_GROUPS_SEARCH]		= "search",
	[CB_LDAP_GROUPS_AD_NESTED]	= "ad_nested"
};

static char const *disabled_mode_names[] = {
	[CB_LDAP_DISABLED_NONE]		= "none",
	[CB_LDAP_DISABLED_AD_UAC]	= "ad_user_account_control",
	[CB_LDAP_DISABLED_PPOLICY]	= "ppolicy_locked",
	[CB_LDAP_DISABLED_FILTER]	= "filter"
};

#define NUM(_a) (sizeof(_a) / sizeof((_a)[0]))

static int name_lookup(char const * const *names, size_t n, char const *name)
{
	size_t i;

	if (!name) return -1;
	for (i = 0; i < n; i++) if (strcmp(names[i], name) == 0) return (int) i;
	return -1;
}

int cb_ldap_group_mode_parse(char const *name)
{
	return name_lookup(group_mode_names, NUM(group_mode_names), name);
}

char const *cb_ldap_group_mode_name(cb_ldap_group_mode_t mode)
{
	return ((size_t) mode < NUM(group_mode_names)) ? group_mode_names[mode] : "unknown";
}

int cb_ldap_disabled_mode_parse(char const *name)
{
	return name_lookup(disabled_mode_names, NUM(disabled_mode_names), name);
}

char const *cb_ldap_disabled_mode_name(cb_ldap_disabled_mode_t mode)
{
	return ((size_t) mode < NUM(disabled_mode_names)) ? disabled_mode_names[mode] : "unknown";
}

static char const *default_email_attributes[] = { "mail" };

void cb_ldap_conf_defaults(cb_ldap_conf_t *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->user_filter = "(uid=%s)";
	conf->require_cert = true;
	conf->connect_timeout_ms = 2000;
	conf->search_timeout_ms = 2000;
	conf->email_attributes = default_email_attributes;
	conf->num_email_attributes = NUM(default_email_attributes);
	conf->group_mode = CB_LDAP_GROUPS_MEMBEROF;
	conf->member_of_attribute = "memberOf";
	conf->group_filter = "(objectClass=groupOfNames)";
	conf->group_member_attribute = "member";
	conf->max_groups = 1000;
	conf->disabled_mode = CB_LDAP_DISABLED_NONE;
	conf->revoked_attribute = "cetbyodRevoked";
	conf->revoked_reason_attribute = "cetbyodRevokedReason";
	conf->exception_reason_attribute = "cetbyodExceptionReason";
	conf->exception_approved_by_attribute = "cetbyodExceptionApprovedBy";
	conf->exception_until_attribute = "cetbyodExceptionUntil";
	conf->list_timeout_ms = 0;	/* CB_LDAP_LIST_TIMEOUT_FACTOR x search_timeout_ms */
	conf->list_max_people = CB_LDAP_LIST_MAX_PEOPLE;
	conf->list_page_size = CB_LDAP_LIST_PAGE_SIZE;
}

/** attr_name_ok - an attribute description: a name or numeric OID, with ;options. */
static bool attr_name_ok(char const *s)
{
	size_t len = strlen(s), i = 0;
	bool numeric = (s[0] >= '0' && s[0] <= '9');

	if (len == 0 || len > ATTR_NAME_MAX) return false;
	if (!numeric && !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
	for (i = 0; i < len && s[i] != ';'; i++) {
		char c = s[i];

		if (numeric) {
			if (!((c >= '0' && c <= '9') || c == '.')) return false;
			if (c == '.' && (i + 1 == len || s[i + 1] == '.' || s[i + 1] == ';')) return false;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	for (; i < len; i++) {	/* ;option;option */
		char c = s[i];

		if (c == ';') {
			if (i + 1 == len || s[i + 1] == ';') return false;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
	}
	return true;
}

static bool dn_ok(char const *s)
{
	LDAPDN dn = NULL;

	if (strlen(s) >= CB_DIR_DN_MAX || !text_ok(s, strlen(s))) return false;
	if (ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) return false;
	ldap_dnfree(dn);
	return true;
}

/**
 * filter_shape_ok - a filter is one parenthesised item with balanced
 * parentheses (values must carry '(' and ')' escaped as \28 and \29, so every
 * parenthesis is structure).  The server checks the rest.
 */
static bool filter_shape_ok(char const *f)
{
	size_t len = strlen(f), i;
	int depth = 0;

	if (len < 3 || f[0] != '(' || f[len - 1] != ')' || !text_ok(f, len)) return false;
	for (i = 0; i < len; i++) {
		if (f[i] == '(') depth++;
		else if (f[i] == ')' && --depth < 0) return false;
		if (depth == 0 && i + 1 < len) return false;
	}
	return depth == 0;
}

/**
 * filter_subst_at - the offset of the %s in a filter template, or -1 when
 * there is none (%% is a literal %; any other % sequence ends the scan, as
 * cb_ldap_filter_expand refuses it).
 */
static long filter_subst_at(char const *tmpl)
{
	for (char const *p = tmpl; *p; p++) {
		if (*p != '%') continue;
		if (p[1] == 's') return (long) (p - tmpl);
		if (p[1] != '%') return -1;
		p++;
	}
	return -1;
}

static bool attr_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == ';' ||
	       c == '.';
}

/**
 * identity_attr_derive - the ATTR of user_filter's "(ATTR=%s)" item, into buf.
 * Only a plain equality item whose whole value is the identity counts:
 * "(&(objectClass=user)(sAMAccountName=%s))" gives sAMAccountName, while
 * "(uid~=%s)", "(uid:dn:=%s)" and "(mail=%s@school.example)" give nothing.
 * Returns false, with buf empty, when there is no such item.
 */
static bool identity_attr_derive(char const *tmpl, char *buf, size_t buflen)
{
	long at;
	size_t start, end;

	if (buflen) buf[0] = '\0';
	if (!is_set(tmpl)) return false;
	at = filter_subst_at(tmpl);
	if (at < 2 || tmpl[at - 1] != '=' || tmpl[at + 2] != ')') return false;
	end = (size_t) at - 1;		/* The '='. */
	start = end;
	while (start > 0 && attr_char(tmpl[start - 1])) start--;
	if (start == 0 || tmpl[start - 1] != '(' || start == end || end - start >= buflen) return false;
	memcpy(buf, tmpl + start, end - start);
	buf[end - start] = '\0';
	if (attr_name_ok(buf)) return true;
	buf[0] = '\0';
	return false;
}

static int check_attr(char const *option, char const *value, bool required, char *err, size_t errlen)
{
	if (!is_set(value)) {
		if (!required) return 0;
		err_set(err, errlen, "%s must be set to an LDAP attribute name", option);
		return -1;
	}
	if (attr_name_ok(value)) return 0;
	err_set(err, errlen, "%s = \"%s\" is not an LDAP attribute name (letters, digits and '-', "
		"starting with a letter, or a numeric OID)", option, value);
	return -1;
}

static int check_file(char const *option, char const *path, bool dir, char *err, size_t errlen)
{
	struct stat st;

	if (!is_set(path)) return 0;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		err_set(err, errlen, "%s = \"%s\": %s", option, path, strerror(errno));
		return -1;
	}
	if (dir && !S_ISDIR(st.st_mode)) {
		err_set(err, errlen, "%s = \"%s\" is not a directory", option, path);
		return -1;
	}
	if (!dir && !S_ISREG(st.st_mode)) {
		err_set(err, errlen, "%s = \"%s\" is not a regular file", option, path);
		return -1;
	}
	return 0;
}

static int check_groups(char const *option, char const **groups, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (n > CB_LDAP_MAX_GROUPS) {
		err_set(err, errlen, "%s is given %zu times; at most %d are accepted", option, n, CB_LDAP_MAX_GROUPS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!groups[i] || !dn_ok(groups[i])) {
			err_set(err, errlen, "%s: \"%s\" is not a valid DN (e.g. \"cn=staff,ou=groups,dc=school,dc=example\")",
				option, groups[i] ? groups[i] : "");
			return -1;
		}
	}
	return 0;
}

/** check_uri - one server URI: ldap://, ldaps:// or ldapi://, a host, nothing after it. */
static int check_uri(cb_ldap_conf_t const *conf, char const *uri, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	int rcode = -1;

	if (!is_set(uri) || strlen(uri) >= CB_LDAP_URI_MAX || !text_ok(uri, strlen(uri))) {
		err_set(err, errlen, "uri: \"%s\" is empty, too long or not printable", uri ? uri : "");
		return -1;
	}
	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS) {
		err_set(err, errlen, "uri: \"%s\" is not an LDAP URI (e.g. ldaps://ldap.school.example:636)", uri);
		return -1;
	}
	if (strcasecmp(lud->lud_scheme, "ldap") != 0 && strcasecmp(lud->lud_scheme, "ldaps") != 0 &&
	    strcasecmp(lud->lud_scheme, "ldapi") != 0) {
		err_set(err, errlen, "uri: \"%s\": the scheme must be ldap, ldaps or ldapi", uri);
	} else if (strcasecmp(lud->lud_scheme, "ldapi") != 0 && !is_set(lud->lud_host)) {
		err_set(err, errlen, "uri: \"%s\" names no server", uri);
	} else if (is_set(lud->lud_dn) || lud->lud_attrs || is_set(lud->lud_filter) || lud->lud_exts) {
		err_set(err, errlen, "uri: \"%s\" carries a DN, attributes, filter or extensions; "
			"give only scheme://host:port and use base_dn and user_filter", uri);
	} else if (conf->start_tls && strcasecmp(lud->lud_scheme, "ldap") != 0) {
		err_set(err, errlen, "start_tls = yes cannot be used with \"%s\": StartTLS applies to ldap:// only "
			"(ldaps:// is TLS already)", uri);
	} else if (conf->sasl_external && strcasecmp(lud->lud_scheme, "ldap") == 0 && !conf->start_tls) {
		err_set(err, errlen, "sasl_external = yes needs TLS for \"%s\": set start_tls = yes or use ldaps://", uri);
	} else {
		rcode = 0;
	}
	ldap_free_urldesc(lud);
	return rcode;
}

static int check_connection(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	size_t i;

	if (!conf->uris || conf->num_uris == 0 || conf->num_uris > CB_LDAP_MAX_URIS) {
		err_set(err, errlen, "uri must be given 1 to %d times (servers, tried in order)", CB_LDAP_MAX_URIS);
		return -1;
	}
	for (i = 0; i < conf->num_uris; i++) {
		if (check_uri(conf, conf->uris[i], err, errlen) < 0) return -1;
	}
	if (is_set(conf->bind_password) && !is_set(conf->bind_dn)) {
		err_set(err, errlen, "bind_password is set but bind_dn is not; set both, or neither for an anonymous bind");
		return -1;
	}
	if (is_set(conf->bind_dn) && !dn_ok(conf->bind_dn)) {
		err_set(err, errlen, "bind_dn = \"%s\" is not a valid DN", conf->bind_dn);
		return -1;
	}
	if (conf->sasl_external && is_set(conf->bind_dn)) {
		err_set(err, errlen, "sasl_external = yes and bind_dn cannot both be set: "
			"SASL EXTERNAL takes the identity from the client certificate");
		return -1;
	}
	if (is_set(conf->cert_file) != is_set(conf->key_file)) {
		err_set(err, errlen, "cert_file and key_file must be set together");
		return -1;
	}
	if (check_file("ca_file", conf->ca_file, false, err, errlen) < 0 ||
	    check_file("ca_dir", conf->ca_dir, true, err, errlen) < 0 ||
	    check_file("cert_file", conf->cert_file, false, err, errlen) < 0 ||
	    check_file("key_file", conf->key_file, false, err, errlen) < 0) return -1;
	if (conf->connect_timeout_ms < TIMEOUT_MIN_MS || conf->connect_timeout_ms > TIMEOUT_MAX_MS) {
		err_set(err, errlen, "connect_timeout_ms = %u is out of range (%d to %d)",
			conf->connect_timeout_ms, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
		return -1;
	}
	if (conf->search_timeout_ms < TIMEOUT_MIN_MS || conf->search_timeout_ms > TIMEOUT_MAX_MS) {
		err_set(err, errlen, "search_timeout_ms = %u is out of range (%d to %d)",
			conf->search_timeout_ms, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
		return -1;
	}
	return 0;
}

static int check_search(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char probe[CB_LDAP_FILTER_MAX], why[256];

	if (!is_set(conf->base_dn) || !dn_ok(conf->base_dn)) {
		err_set(err, errlen, "base_dn = \"%s\" is not a valid DN (e.g. \"dc=school,dc=example\")",
			conf->base_dn ? conf->base_dn : "");
		return -1;
	}
	if (!is_set(conf->user_filter)) {
		err_set(err, errlen, "user_filter must be set, e.g. \"(&(objectClass=inetOrgPerson)(uid=%%s))\"");
		return -1;
	}
	if (cb_ldap_filter_expand(conf->user_filter, "x", probe, sizeof(probe), why, sizeof(why)) < 0) {
		err_set(err, errlen, "user_filter = \"%s\": %s", conf->user_filter, why);
		return -1;
	}
	if (!filter_shape_ok(probe)) {
		err_set(err, errlen, "user_filter = \"%s\" is not one parenthesised LDAP filter with balanced "
			"parentheses", conf->user_filter);
		return -1;
	}
	if (is_set(conf->identity_attribute)) {
		if (check_attr("identity_attribute", conf->identity_attribute, true, err, errlen) < 0) return -1;
	} else if (!identity_attr_derive(conf->user_filter, probe, sizeof(probe))) {
		err_set(err, errlen, "identity_attribute is not set and cannot be derived from user_filter = \"%s\", "
			"which has no \"(ATTR=%%s)\" item: set ldap { identity_attribute } to the attribute the "
			"filter matches the identity against (e.g. uid, sAMAccountName)", conf->user_filter);
		return -1;
	}
	if (conf->num_email_attributes > CB_LDAP_MAX_EMAIL_ATTRS) {
		err_set(err, errlen, "email_attribute is given %zu times; at most %d are accepted",
			conf->num_email_attributes, CB_LDAP_MAX_EMAIL_ATTRS);
		return -1;
	}
	for (size_t i = 0; i < conf->num_email_attributes; i++) {
		if (check_attr("email_attribute", conf->email_attributes[i], true, err, errlen) < 0) return -1;
	}
	return 0;
}

static int check_groups_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	switch (conf->group_mode) {
	case CB_LDAP_GROUPS_MEMBEROF:
		if (check_attr("member_of_attribute", conf->member_of_attribute, true, err, errlen) < 0) return -1;
		break;

	case CB_LDAP_GROUPS_SEARCH:
	case CB_LDAP_GROUPS_AD_NESTED:
		if (check_attr("group_member_attribute", conf->group_member_attribute, true, err, errlen) < 0) return -1;
		/* ad_nested lists people by their memberOf (cb_ldap_list_people); unset means memberOf. */
		if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED &&
		    check_attr("member_of_attribute", conf->member_of_attribute, false, err, errlen) < 0) return -1;
		if (is_set(conf->group_base_dn) && !dn_ok(conf->group_base_dn)) {
			err_set(err, errlen, "group_base_dn = \"%s\" is not a valid DN", conf->group_base_dn);
			return -1;
		}
		if (is_set(conf->group_filter) && !filter_shape_ok(conf->group_filter)) {
			err_set(err, errlen, "group_filter = \"%s\" is not one parenthesised LDAP filter with balanced "
				"parentheses, e.g. \"(objectClass=groupOfNames)\"", conf->group_filter);
			return -1;
		}
		if (conf->max_groups < 1 || conf->max_groups > MAX_GROUPS_LIMIT) {
			err_set(err, errlen, "max_groups = %u is out of range (1 to %d)", conf->max_groups, MAX_GROUPS_LIMIT);
			return -1;
		}
		break;

	default:
		err_set(err, errlen, "group_membership: unknown mode %d; accepted: %s", (int) conf->group_mode,
			CB_LDAP_GROUP_MODE_NAMES);
		return -1;
	}
	if (conf->num_staff_groups == 0) {
		err_set(err, errlen, "staff_group is not set: name at least one group (by DN) whose members are staff");
		return -1;
	}
	if (check_groups("staff_group", conf->staff_groups, conf->num_staff_groups, err, errlen) < 0 ||
	    check_groups("pupil_group", conf->pupil_groups, conf->num_pupil_groups, err, errlen) < 0) return -1;
	return 0;
}

static int check_state_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	switch (conf->disabled_mode) {
	case CB_LDAP_DISABLED_NONE:
	case CB_LDAP_DISABLED_AD_UAC:
	case CB_LDAP_DISABLED_PPOLICY:
		break;

	case CB_LDAP_DISABLED_FILTER:
		if (!is_set(conf->disabled_filter) || !filter_shape_ok(conf->disabled_filter)) {
			err_set(err, errlen, "disabled_mode = filter needs disabled_filter, one parenthesised LDAP filter "
				"such as \"(nsAccountLock=TRUE)\"");
			return -1;
		}
		break;

	default:
		err_set(err, errlen, "disabled_mode: unknown mode %d; accepted: %s", (int) conf->disabled_mode,
			CB_LDAP_DISABLED_MODE_NAMES);
		return -1;
	}
	if (check_attr("revoked_attribute", conf->revoked_attribute, false, err, errlen) < 0 ||
	    check_attr("revoked_reason_attribute", conf->revoked_reason_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_reason_attribute", conf->exception_reason_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_approved_by_attribute", conf->exception_approved_by_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_until_attribute", conf->exception_until_attribute, false, err, errlen) < 0) return -1;
	return 0;
}

/** check_list_conf - the limits of cb_ldap_list_people (0 is each one's default). */
static int check_list_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (conf->list_timeout_ms &&
	    (conf->list_timeout_ms < TIMEOUT_MIN_MS || conf->list_timeout_ms > LIST_TIMEOUT_MAX_MS)) {
		err_set(err, errlen, "list_timeout_ms = %u is out of range (%d to %d, or 0 for %d x search_timeout_ms)",
			conf->list_timeout_ms, TIMEOUT_MIN_MS, LIST_TIMEOUT_MAX_MS, CB_LDAP_LIST_TIMEOUT_FACTOR);
		return -1;
	}
	if (conf->list_max_people > LIST_MAX_PEOPLE_LIMIT) {
		err_set(err, errlen, "list_max_people = %u is out of range (1 to %d, or 0 for %d)",
			conf->list_max_people, LIST_MAX_PEOPLE_LIMIT, CB_LDAP_LIST_MAX_PEOPLE);
		return -1;
	}
	if (conf->list_page_size > LIST_PAGE_SIZE_LIMIT) {
		err_set(err, errlen, "list_page_size = %u is out of range (1 to %d, or 0 for %d)",
			conf->list_page_size, LIST_PAGE_SIZE_LIMIT, CB_LDAP_LIST_PAGE_SIZE);
		return -1;
	}
	return 0;
}

int cb_ldap_conf_check(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (err && errlen) err[0] = '\0';
	if (check_connection(conf, err, errlen) < 0) return -1;
	if (check_search(conf, err, errlen) < 0) return -1;
	if (check_groups_conf(conf, err, errlen) < 0) return -1;
	if (check_state_conf(conf, err, errlen) < 0) return -1;
	if (check_list_conf(conf, err, errlen) < 0) return -1;
	return 0;
}

/*
 *	Filters and times.
 */

int cb_ldap_filter_expand(char const *tmpl, char const *value, char *buf, size_t buflen, char *err, size_t errlen)
{
	sbuf_t sb;
	char const *p;
	int subst = 0;

	sb_init(&sb, buf, buflen);
	if (!tmpl || !value) {
		err_set(err, errlen, "no filter template or value");
		return -1;
	}
	for (p = tmpl; *p; p++) {
		if (*p != '%') {
			sb_addn(&sb, p, 1);
			continue;
		}
		if (p[1] == '%') {
			sb_addn(&sb, "%", 1);
			p++;
		} else if (p[1] == 's') {
			if (++subst > 1) break;
			if (!sb_add_escaped(&sb, value, strlen(value))) {
				err_set(err, errlen, "the value could not be escaped");
				goto fail;
			}
			p++;
		} else if (p[1] == '{') {
			err_set(err, errlen, "%%{...} expansions are not supported here; put %%s where the identity goes");
			goto fail;
		} else {
			err_set(err, errlen, "'%%%c' is not understood; use %%s for the identity and %%%% for a %%",
				p[1] ? p[1] : ' ');
			goto fail;
		}
	}
	if (subst != 1) {
		err_set(err, errlen, "the template must contain %%s exactly once (it has %s)", subst ? "more" : "none");
		goto fail;
	}
	if (sb.overflow) {
		err_set(err, errlen, "the filter would be longer than %zu bytes", buflen ? buflen - 1 : 0);
		goto fail;
	}
	return 0;

fail:
	if (buflen) buf[0] = '\0';
	return -1;
}

/** digits - n decimal digits at *p (advanced) into *out; false if any is not a digit. */
static bool digits(char const **p, char const *end, size_t n, int *out)
{
	int v = 0;

	if ((size_t) (end - *p) < n) return false;
	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9') return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool is_digit_at(char const *p, char const *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

bool cb_ldap_parse_generalized_time(char const *in, size_t len, time_t *out)
{
	char const *p, *end;
	int year, mon, day, hour, min = 0, sec = 0, oh = 0, om = 0, sign = 0;
	int64_t t;

	if (!in || !out) return false;
	p = in;
	end = in + len;
	if (!digits(&p, end, 4, &year) || !digits(&p, end, 2, &mon) || !digits(&p, end, 2, &day) ||
	    !digits(&p, end, 2, &hour)) return false;
	if (is_digit_at(p, end)) {
		if (!digits(&p, end, 2, &min)) return false;
		if (is_digit_at(p, end) && !digits(&p, end, 2, &sec)) return false;
	}
	if (p < end && (*p == '.' || *p == ',')) {
		p++;
		if (!is_digit_at(p, end)) return false;
		while (is_digit_at(p, end)) p++;
	}
	if (p >= end) return false;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = (*p == '+') ? 1 : -1;
		p++;
		if (!digits(&p, end, 2, &oh)) return false;
		if (p < end && !digits(&p, end, 2, &om)) return false;
		if (oh > 23 || om > 59) return false;
	} else {
		return false;
	}
	if (p != end) return false;
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > cb_tz_days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 60) return false;

	t = cb_tz_days_from_civil(year, (unsigned) mon, (unsigned) day) * 86400 + hour * 3600 + min * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0) return false;
	*out = (time_t) t;
	return true;
}

/*
 *	Entries.
 */

void cb_dir_entry_init(cb_dir_entry_t *entry)
{
	memset(entry, 0, sizeof(*entry));
	entry->facts.result = CB_DIR_NOT_FOUND;
	entry->facts.role = CB_ROLE_OTHER;
}

void cb_dir_entry_copy(cb_dir_entry_t *dst, cb_dir_entry_t const *src)
{
	if (dst == src) return;
	memcpy(dst, src, sizeof(*dst));
	dst->facts.revoked_reason = src->facts.revoked_reason ? dst->revoked_reason : NULL;
}

cb_exception_t cb_dir_entry_exception(cb_dir_entry_t const *entry)
{
	cb_exception_t ex;

	ex.present = entry->exception.present;
	ex.until = entry->exception.present ? entry->exception.until : 0;
	return ex;
}

/*
 *	Connections.
 */

/** ld_error - "what: LDAP error text (server's diagnostic)". */
static void ld_error(LDAP *ld, int rc, char const *what, char *err, size_t errlen)
{
	char *diag = NULL;

	if (ld) ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag && *diag) {
		text_sanitise(diag);
		err_set(err, errlen, "%s: %s (%s)", what, ldap_err2string(rc), diag);
	} else {
		err_set(err, errlen, "%s: %s", what, ldap_err2string(rc));
	}
	if (diag) ldap_memfree(diag);
}

static bool uri_is(char const *uri, char const *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(uri, scheme, n) == 0 && strncmp(uri + n, "://", 3) == 0;
}

static void ms_to_timeval(unsigned int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static int set_str_opt(LDAP *ld, int opt, char const *option, char const *value, char *err, size_t errlen)
{
	if (!is_set(value)) return 0;
	if (ldap_set_option(ld, opt, value) == LDAP_OPT_SUCCESS) return 0;
	err_set(err, errlen, "libldap refused %s = \"%s\"", option, value);
	return -1;
}

/** tls_files_options - trust, client certificate and checks on a handle (no context yet). */
static int tls_files_options(LDAP *ld, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	int reqcert = conf->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	int minproto = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;

	if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &reqcert) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &minproto) != LDAP_OPT_SUCCESS) {
		err_set(err, errlen, "libldap refused the TLS options (is it built with TLS?)");
		return -1;
	}
	if (set_str_opt(ld, LDAP_OPT_X_TLS_CACERTFILE, "ca_file", conf->ca_file, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_CACERTDIR, "ca_dir", conf->ca_dir, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_CERTFILE, "cert_file", conf->cert_file, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_KEYFILE, "key_file", conf->key_file, err, errlen) < 0) return -1;
	return 0;
}

static int tls_new_ctx(LDAP *ld, char *err, size_t errlen)
{
	int newctx = 0;

	if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx) == LDAP_OPT_SUCCESS) return 0;
	ld_error(ld, LDAP_LOCAL_ERROR, "cannot set up TLS (check ca_file, ca_dir, cert_file, key_file)", err, errlen);
	return -1;
}

/*
 *	Shared TLS contexts.  A TLS context holds the parsed CAs and the
 *	client certificate.  Making one per connection costs file reads and
 *	parsing, and libldap 2.5 built with GnuTLS leaks the client key and
 *	certificate of every context it makes (about 20 kB each), so a pool
 *	that keeps reconnecting would grow without bound.  Connections with the
 *	same TLS settings therefore share one context, made once on a template
 *	handle that is never connected.  The settings key includes each file's
 *	identity (device, inode, size, mtime), so a renewed certificate gets a
 *	new context at the next connection.  libldap has no public call to drop
 *	the reference LDAP_OPT_X_TLS_CTX hands out, so a shared context lives
 *	until the process ends; at most TLS_SHARE_MAX are made, after which
 *	connections get contexts of their own again.
 */
#define TLS_SHARE_MAX 8
#define TLS_KEY_MAX (4 * (PATH_MAX + 96) + 8)

typedef struct {
	char	*key;
	LDAP	*tmpl;
} tls_share_t;

static pthread_mutex_t tls_share_mutex = PTHREAD_MUTEX_INITIALIZER;
static tls_share_t tls_shares[TLS_SHARE_MAX];
static size_t tls_num_shares;

/** tls_key_file - add "path|dev:ino:size:mtime|" to the key; false when it does not fit. */
static bool tls_key_file(sbuf_t *sb, char const *path)
{
	char id[96];
	struct stat st;

	if (!is_set(path)) {
		sb_add(sb, "-|");
		return !sb->overflow;
	}
	if (stat(path, &st) < 0) return false;
	snprintf(id, sizeof(id), "|%llu:%llu:%lld:%lld.%09ld|", (unsigned long long) st.st_dev,
		 (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
		 (long) st.st_mtim.tv_nsec);
	sb_add(sb, path);
	sb_add(sb, id);
	return !sb->overflow;
}

static bool tls_key(cb_ldap_conf_t const *conf, char *key, size_t keylen)
{
	sbuf_t sb;

	sb_init(&sb, key, keylen);
	sb_add(&sb, conf->require_cert ? "demand|" : "never|");
	return tls_key_file(&sb, conf->ca_file) && tls_key_file(&sb, conf->ca_dir) &&
	       tls_key_file(&sb, conf->cert_file) && tls_key_file(&sb, conf->key_file);
}

/** tls_share_find - the template for key, made if need be.  NULL: none (use a context of one's own). */
static LDAP *tls_share_find(cb_ldap_conf_t const *conf, char const *key, char *err, size_t errlen, bool *failed)
{
	tls_share_t *share;
	LDAP *tmpl = NULL;

	*failed = false;
	for (size_t i = 0; i < tls_num_shares; i++) if (strcmp(tls_shares[i].key, key) == 0) return tls_shares[i].tmpl;
	if (tls_num_shares == TLS_SHARE_MAX) return NULL;

	share = &tls_shares[tls_num_shares];
	if (ldap_initialize(&tmpl, NULL) != LDAP_SUCCESS || !tmpl) return NULL;
	if (tls_files_options(tmpl, conf, err, errlen) < 0 || tls_new_ctx(tmpl, err, errlen) < 0) {
		ldap_unbind_ext_s(tmpl, NULL, NULL);
		*failed = true;
		return NULL;
	}
	share->key = strdup(key);
	if (!share->key) {
		ldap_unbind_ext_s(tmpl, NULL, NULL);
		return NULL;
	}
	share->tmpl = tmpl;
	tls_num_shares++;
	return tmpl;
}

/** set_tls_options - TLS settings and a context for the handle (shared where possible). */
static int set_tls_options(LDAP *ld, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char key[TLS_KEY_MAX];
	void *ctx = NULL;
	bool failed = false;
	LDAP *tmpl = NULL;
	int rc = -1;

	if (tls_files_options(ld, conf, err, errlen) < 0) return -1;
	if (!tls_key(conf, key, sizeof(key))) return tls_new_ctx(ld, err, errlen);

	pthread_mutex_lock(&tls_share_mutex);
	tmpl = tls_share_find(conf, key, err, errlen, &failed);
	if (tmpl && ldap_get_option(tmpl, LDAP_OPT_X_TLS_CTX, &ctx) == LDAP_OPT_SUCCESS && ctx &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CTX, ctx) == LDAP_OPT_SUCCESS) rc = 0;
	pthread_mutex_unlock(&tls_share_mutex);

	if (rc == 0) return 0;
	if (failed) return -1;
	return tls_new_ctx(ld, err, errlen);
}

static int set_options(LDAP *ld, cb_ldap_conf_t const *conf, bool tls, char *err, size_t errlen)
{
	int version = LDAP_VERSION3;
	struct timeval tv;
	unsigned int user_timeout = conf->connect_timeout_ms + conf->search_timeout_ms;

	ms_to_timeval(conf->connect_timeout_ms, &tv);
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		err_set(err, errlen, "libldap refused the connection options");
		return -1;
	}
	/* Where the OS has it, a server that stops acknowledging data fails the socket too. */
	(void) ldap_set_option(ld, LDAP_OPT_TCP_USER_TIMEOUT, &user_timeout);
	return tls ? set_tls_options(ld, conf, err, errlen) : 0;
}


static int guard_wait(Sockbuf_IO_Desc *sbiod, short events)
{
	guard_t *g = sbiod->sbiod_pvt;
	ber_socket_t fd = -1;
	struct pollfd pfd;
	int64_t left = g->deadline_ms - now_ms();
	int rc;

	if (left <= 0) goto timeout;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	do {
		rc = poll(&pfd, 1, (int) left);
	} while (rc < 0 && errno == EINTR);
	if (rc > 0) return 0;
	if (rc < 0) return -1;

timeout:
	g->fired = true;
	errno = ETIMEDOUT;
	return -1;
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static ber_slen_t guard_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	guard_t *g = sbiod->sbiod_pvt;

	for (;;) {
		ber_slen_t n = LBER_SBIOD_READ_NEXT(sbiod, buf, len);

		if (n >= 0 || !g->deadline_ms || !would_block()) return n;
		if (guard_wait(sbiod, POLLIN) < 0) return -1;
	}
}

static ber_slen_t guard_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	guard_t *g = sbiod->sbiod_pvt;

	for (;;) {
		ber_slen_t n = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);

		if (n >= 0 || !g->deadline_ms || !would_block()) return n;
		if (guard_wait(sbiod, POLLOUT) < 0) return -1;
	}
}

static int guard_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int guard_remove(Sockbuf_IO_Desc *sbiod)
{
	(void) sbiod;
	return 0;
}

static int guard_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static int guard_close(Sockbuf_IO_Desc *sbiod)
{
	(void) sbiod;
	return 0;
}

static Sockbuf_IO guard_io = {
	.sbi_setup	= guard_setup,
	.sbi_remove	= guard_remove,
	.sbi_ctrl	= guard_ctrl,
	.sbi_read	= guard_read,
	.sbi_write	= guard_write,
	.sbi_close	= guard_close
};

/** guard_add - connection callback: called by libldap after TCP connect, before TLS. */
static int guard_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr, struct ldap_conncb *ctx)
{
	(void) ld;
	(void) srv;
	(void) addr;
	return ber_sockbuf_add_io(sb, &guard_io, LBER_SBIOD_LEVEL_PROVIDER + 5, ctx->lc_arg) < 0 ? -1 : 0;
}

static void guard_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void) ld;
	(void) sb;
	(void) ctx;
}

static void guard_arm(guard_t *g, int64_t deadline_ms)
{
	g->fired = false;
	g->deadline_ms = deadline_ms;
}

/** op_timeout - give the next synchronous operation what is left until deadline; -1 if nothing is. */
static int op_timeout(LDAP *ld, int64_t deadline_ms)
{
	int64_t left = deadline_ms - now_ms();
	struct timeval tv;

	if (left <= 0) return -1;
	ms_to_timeval((unsigned int) left, &tv);
	return ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) == LDAP_OPT_SUCCESS ? 0 : -1;
}

static void guard_disarm(guard_t *g)
{
	g->deadline_ms = 0;
}

/** tls_error - a failed TLS handshake, with what to check. */
static void tls_error(char const *what, char *err, size_t errlen)
{
	err_set(err, errlen, "%s: TLS handshake failed: the server's certificate is not trusted (ca_file, ca_dir), "
		"does not name the host in the URI, or the server does not speak TLS there", what);
}

/**
 * do_connect - TCP connect, and the TLS handshake for ldaps://.  libldap
 * (GnuTLS flavour) leaves a diagnostic message after a failed handshake and
 * none after a failed TCP connect, which tells the two apart.
 */
static int do_connect(LDAP *ld, guard_t *guard, int64_t deadline_ms, bool ldaps, char *err, size_t errlen)
{
	char *diag = NULL;
	int rc;

	guard_arm(guard, deadline_ms);
	rc = ldap_connect(ld);
	guard_disarm(guard);
	if (rc == LDAP_SUCCESS) return 0;
	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (guard->fired) {
		err_set(err, errlen, "ldaps: TLS handshake: no answer within connect_timeout_ms");
	} else if (ldaps && diag) {
		tls_error("ldaps", err, errlen);
	} else {
		err_set(err, errlen, "cannot contact the server (connection refused, unreachable, or no answer "
			"within connect_timeout_ms): %s", ldap_err2string(rc));
	}
	if (diag) ldap_memfree(diag);
	return -1;
}

static int do_start_tls(LDAP *ld, guard_t *guard, int64_t deadline_ms, char *err, size_t errlen)
{
	int rc;

	if (op_timeout(ld, deadline_ms) < 0) {
		err_set(err, errlen, "StartTLS: connect_timeout_ms used up before it could start");
		return -1;
	}
	guard_arm(guard, deadline_ms);
	rc = ldap_start_tls_s(ld, NULL, NULL);
	guard_disarm(guard);
	if (rc == LDAP_SUCCESS) return 0;
	if (rc == LDAP_TIMEOUT || guard->fired) {
		err_set(err, errlen, "StartTLS: no answer within connect_timeout_ms");
	} else if (rc == LDAP_CONNECT_ERROR || rc == LDAP_SERVER_DOWN) {
		tls_error("StartTLS", err, errlen);
	} else {
		ld_error(ld, rc, "StartTLS refused by the server", err, errlen);
	}
	return -1;
}

static int do_bind(LDAP *ld, cb_ldap_conf_t const *conf, int64_t deadline_ms, char *err, size_t errlen)
{
	char what[CB_DIR_DN_MAX + 64];
	struct berval cred;
	int rc;

	if ((conf->sasl_external || is_set(conf->bind_dn)) && op_timeout(ld, deadline_ms) < 0) {
		err_set(err, errlen, "bind: connect_timeout_ms used up before it could start");
		return -1;
	}
	if (conf->sasl_external) {
		/* An empty initial response: "authorise as the certificate's identity". */
		cred.bv_val = (char *) (uintptr_t) "";
		cred.bv_len = 0;
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
		snprintf(what, sizeof(what), "SASL EXTERNAL bind (with the identity of cert_file) refused");
	} else if (is_set(conf->bind_dn)) {
		cred.bv_val = (char *) (uintptr_t) (conf->bind_password ? conf->bind_password : "");
		cred.bv_len = strlen(cred.bv_val);
		rc = ldap_sasl_bind_s(ld, conf->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		snprintf(what, sizeof(what), "bind as \"%s\" refused", conf->bind_dn);
	} else {
		return 0;	/* Anonymous. */
	}
	if (rc == LDAP_SUCCESS) return 0;
	if (rc == LDAP_TIMEOUT) {
		err_set(err, errlen, "bind: no answer within connect_timeout_ms");
		return -1;
	}
	ld_error(ld, rc, what, err, errlen);
	return -1;
}

/**
 * connect_uri - one URI: initialise, connect, secure, bind.
 * Returns the handle, with *guardp set to its guard (the caller frees it
 * after the handle), or NULL with err set and nothing left allocated.
 */
static LDAP *connect_uri(cb_ldap_conf_t const *conf, char const *uri, guard_t **guardp, char *err, size_t errlen)
{
	LDAP *ld = NULL;
	bool ldaps = uri_is(uri, "ldaps"), starttls = conf->start_tls && uri_is(uri, "ldap");
	guard_t *guard;
	struct timeval tv;
	int64_t deadline;
	int rc;

	*guardp = NULL;
	guard = calloc(1, sizeof(*guard));
	if (!guard) {
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	guard->cb.lc_add = guard_add;
	guard->cb.lc_del = guard_del;
	guard->cb.lc_arg = guard;

	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS || !ld) {
		err_set(err, errlen, "cannot use this URI: %s", ldap_err2string(rc));
		free(guard);
		return NULL;
	}
	if (ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &guard->cb) != LDAP_OPT_SUCCESS) {
		err_set(err, errlen, "libldap refused the connection callback");
		goto fail;
	}
	/* One budget for the whole attempt: TCP connect, TLS, bind. */
	deadline = now_ms() + conf->connect_timeout_ms;
	if (set_options(ld, conf, ldaps || starttls, err, errlen) < 0 ||
	    do_connect(ld, guard, deadline, ldaps, err, errlen) < 0 ||
	    (starttls && do_start_tls(ld, guard, deadline, err, errlen) < 0) ||
	    do_bind(ld, conf, deadline, err, errlen) < 0) goto fail;

	/* From now on, operations get the search timeout. */
	ms_to_timeval(conf->search_timeout_ms, &tv);
	if (ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		err_set(err, errlen, "libldap refused the search timeout");
		goto fail;
	}
	*guardp = guard;
	return ld;

fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	free(guard);
	return NULL;
}

cb_ldap_conn_t *cb_ldap_connect(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char one[1024], line[CB_LDAP_URI_MAX + sizeof(one) + 4];
	cb_ldap_conn_t *conn;
	size_t i;

	if (err && errlen) err[0] = '\0';
	if (!conf || !conf->uris || conf->num_uris == 0) {
		err_set(err, errlen, "no server URIs configured (uri)");
		return NULL;
	}
	for (i = 0; i < conf->num_uris && i < CB_LDAP_MAX_URIS; i++) {
		char const *uri = conf->uris[i];
		guard_t *guard;
		LDAP *ld;

		if (!is_set(uri) || strlen(uri) >= CB_LDAP_URI_MAX) continue;
		one[0] = '\0';
		ld = connect_uri(conf, uri, &guard, one, sizeof(one));
		if (!ld) {
			snprintf(line, sizeof(line), "%s: %s", uri, one);
			err_append(err, errlen, line);
			continue;
		}
		conn = calloc(1, sizeof(*conn));
		if (!conn) {
			ldap_unbind_ext_s(ld, NULL, NULL);
			free(guard);
			err_set(err, errlen, "out of memory");
			return NULL;
		}
		conn->ld = ld;
		conn->guard = guard;
		conn->search_timeout_ms = conf->search_timeout_ms;
		memcpy(conn->uri, uri, strlen(uri) + 1);
		if (err && errlen) err[0] = '\0';
		return conn;
	}
	if (err && errlen && !err[0]) err_set(err, errlen, "no usable server URI");
	return NULL;
}

static void free_groups(cb_ldap_conn_t *conn)
{
	size_t i;

	for (i = 0; i < conn->num_staff; i++) ldap_memfree(conn->staff[i]);
	for (i = 0; i < conn->num_pupil; i++) ldap_memfree(conn->pupil[i]);
	conn->num_staff = conn->num_pupil = 0;
	conn->groups_for = NULL;
}

void cb_ldap_close(cb_ldap_conn_t *conn)
{
	if (!conn) return;
	if (conn->ld) ldap_unbind_ext_s(conn->ld, NULL, NULL);
	free(conn->guard);
	free_groups(conn);
	free(conn);
}

char const *cb_ldap_conn_uri(cb_ldap_conn_t const *conn)
{
	return conn ? conn->uri : "";
}

bool cb_ldap_alive(cb_ldap_conn_t *conn)
{
	struct pollfd pfd;
	ber_socket_t fd = -1;
	char c;
	ssize_t n;

	if (!conn || !conn->ld || conn->broken) return false;
	if (ldap_get_option(conn->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) return false;
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) < 0) return errno == EINTR;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) goto dead;
	if (!(pfd.revents & POLLIN)) return true;

	/*
	 *	An idle connection has nothing to read.  Data now is end of file,
	 *	a Notice of Disconnection or a TLS alert: the server is leaving.
	 */
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;

dead:
	conn->broken = true;
	return false;
}

/*
 *	Lookups.
 */

/** dn_normal - the DN in a normal form for comparison (ldap_memfree it), NULL if not a DN. */
static char *dn_normal(char const *dn)
{
	char *out = NULL, *p;

	if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) return NULL;
	if (!out) return NULL;
	for (p = out; *p; p++) *p = ascii_lower(*p);
	return out;
}

static int prepare_list(char **dst, size_t *num, char const **src, size_t n)
{
	for (size_t i = 0; i < n && i < CB_LDAP_MAX_GROUPS; i++) {
		dst[i] = dn_normal(src[i]);
		if (!dst[i]) return -1;
		*num = i + 1;
	}
	return 0;
}

/** prepare_groups - normalise the configured groups once per connection and conf. */
static int prepare_groups(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (conn->groups_for == conf) return 0;
	free_groups(conn);
	if (prepare_list(conn->staff, &conn->num_staff, conf->staff_groups, conf->num_staff_groups) < 0 ||
	    prepare_list(conn->pupil, &conn->num_pupil, conf->pupil_groups, conf->num_pupil_groups) < 0) {
		free_groups(conn);
		err_set(err, errlen, "a staff_group or pupil_group DN cannot be normalised");
		return -1;
	}
	conn->groups_for = conf;
	return 0;
}

static bool in_list(char * const *list, size_t n, char const *dn)
{
	for (size_t i = 0; i < n; i++) if (strcmp(list[i], dn) == 0) return true;
	return false;
}

/** Group membership found so far. */
typedef struct {
	bool	staff;
	bool	pupil;
} roles_t;

/** note_group - compare one group DN (not NUL-terminated, untrusted) with the configured groups. */
static void note_group(cb_ldap_conn_t *conn, char const *val, size_t len, roles_t *roles)
{
	char buf[CB_DIR_DN_MAX], *norm;

	if (len == 0 || len >= sizeof(buf) || memchr(val, '\0', len)) return;
	memcpy(buf, val, len);
	buf[len] = '\0';
	norm = dn_normal(buf);
	if (!norm) return;
	if (in_list(conn->staff, conn->num_staff, norm)) roles->staff = true;
	if (in_list(conn->pupil, conn->num_pupil, norm)) roles->pupil = true;
	ldap_memfree(norm);
}

static void set_role(cb_dir_entry_t *out, roles_t const *roles)
{
	if (roles->pupil && roles->staff) {
		warn_add(out, "member of both a staff and a pupil group: treated as a pupil");
	}
	if (roles->pupil) out->facts.role = CB_ROLE_PUPIL;
	else if (roles->staff) out->facts.role = CB_ROLE_STAFF;
	else out->facts.role = CB_ROLE_OTHER;
}

/** add_attr - add name to the attribute list unless it is empty or there already. */
static void add_attr(char const **attrs, size_t *n, char const *name)
{
	if (!is_set(name) || *n + 1 >= MAX_ATTRS) return;
	for (size_t i = 0; i < *n; i++) if (strcasecmp(attrs[i], name) == 0) return;
	attrs[(*n)++] = name;
	attrs[*n] = NULL;
}

static void build_attrs(cb_ldap_conf_t const *conf, char const **attrs)
{
	size_t n = 0;

	attrs[0] = NULL;
	for (size_t i = 0; i < conf->num_email_attributes && i < CB_LDAP_MAX_EMAIL_ATTRS; i++) {
		add_attr(attrs, &n, conf->email_attributes[i]);
	}
	if (conf->group_mode == CB_LDAP_GROUPS_MEMBEROF) add_attr(attrs, &n, conf->member_of_attribute);
	if (conf->disabled_mode == CB_LDAP_DISABLED_AD_UAC) add_attr(attrs, &n, AD_UAC_ATTR);
	if (conf->disabled_mode == CB_LDAP_DISABLED_PPOLICY) add_attr(attrs, &n, PPOLICY_LOCKED_ATTR);
	add_attr(attrs, &n, conf->revoked_attribute);
	add_attr(attrs, &n, conf->revoked_reason_attribute);
	add_attr(attrs, &n, conf->exception_reason_attribute);
	add_attr(attrs, &n, conf->exception_approved_by_attribute);
	add_attr(attrs, &n, conf->exception_until_attribute);
	if (n == 0) add_attr(attrs, &n, LDAP_NO_ATTRS);
}

/** Outcome of one search. */
typedef enum {
	SEARCH_OK = 0,		/* Answered; *res holds the entries. */
	SEARCH_TOO_MANY,	/* Answered with more entries than the size limit; *res holds some. */
	SEARCH_FAILED		/* No usable answer: the connection is broken. */
} search_rcode_t;

/**
 * run_search - one synchronous search bounded by what is left until deadline.
 * On SEARCH_OK and SEARCH_TOO_MANY the caller frees *res with ldap_msgfree();
 * on SEARCH_FAILED *res is NULL, err says why and the connection is broken.
 */
static search_rcode_t run_search(cb_ldap_conn_t *conn, char const *base, int scope, char const *filter,
				 char const **attrs, int sizelimit, int64_t deadline, LDAPMessage **res,
				 char *err, size_t errlen)
{
	int64_t left = deadline - now_ms();
	struct timeval tv;
	char what[CB_LDAP_URI_MAX + 128];
	int rc;

	*res = NULL;
	if (left <= 0) {
		err_set(err, errlen, "search_timeout_ms (%u ms) used up before the search of %s", conn->search_timeout_ms,
			base);
		conn->broken = true;
		return SEARCH_FAILED;
	}
	ms_to_timeval((unsigned int) left, &tv);
	rc = ldap_search_ext_s(conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0, NULL, NULL,
			       &tv, sizelimit, res);
	if (rc == LDAP_SUCCESS) return SEARCH_OK;
	if (rc == LDAP_SIZELIMIT_EXCEEDED) return SEARCH_TOO_MANY;

	if (*res) ldap_msgfree(*res);
	*res = NULL;
	conn->broken = true;
	switch (rc) {
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
		snprintf(what, sizeof(what), "%s: no answer within search_timeout_ms (%u ms)", conn->uri,
			 conn->search_timeout_ms);
		break;
	case LDAP_NO_SUCH_OBJECT:
		snprintf(what, sizeof(what), "%s: the search base does not exist or is hidden from the bind identity "
			 "(check base_dn, group_base_dn, bind_dn)", conn->uri);
		break;
	case LDAP_INSUFFICIENT_ACCESS:
		snprintf(what, sizeof(what), "%s: the bind identity may not search there (check bind_dn and the "
			 "directory's access rules)", conn->uri);
		break;
	case LDAP_FILTER_ERROR:
		snprintf(what, sizeof(what), "%s: the server refused the filter", conn->uri);
		break;
	default:
		snprintf(what, sizeof(what), "%s: search failed", conn->uri);
		break;
	}
	ld_error(conn->ld, rc, what, err, errlen);
	return SEARCH_FAILED;
}

/** values - the values of attr in e (free with ldap_value_free_len), NULL if none or not asked. */
static struct berval **values(LDAP *ld, LDAPMessage *e, char const *attr)
{
	if (!is_set(attr)) return NULL;
	return ldap_get_values_len(ld, e, attr);
}

/**
 * email_value - the address in one value, or NULL to skip it quietly.
 * AD's proxyAddresses carry a type prefix: "SMTP:" (primary) and "smtp:"
 * (alias) are addresses; "X500:", "sip:" and the like are not.
 */
static char const *email_value(struct berval const *bv, size_t *len)
{
	char const *v = bv->bv_val, *colon, *at;

	*len = bv->bv_len;
	if (!v || !bv->bv_len) return "";
	colon = memchr(v, ':', bv->bv_len);
	at = memchr(v, '@', bv->bv_len);
	if (!colon || (at && at < colon)) return v;
	if ((size_t) (colon - v) == 4 && strncasecmp(v, "smtp", 4) == 0) {
		*len = bv->bv_len - 5;
		return colon + 1;
	}
	for (char const *p = v; p < colon; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) return v;
	}
	return NULL;
}

static void add_email(cb_dir_entry_t *out, char const *attr, char const *v, size_t len, bool *full)
{
	char norm[CB_DIR_EMAIL_MAX];

	if (!cb_identity_email_normalise(v, len, norm, sizeof(norm))) {
		warn_add(out, "a value of %s is not an email address; ignored", attr);
		return;
	}
	for (size_t i = 0; i < out->num_emails; i++) if (strcmp(out->emails[i], norm) == 0) return;
	if (out->num_emails == CB_DIR_EMAILS_MAX) {
		if (!*full) warn_add(out, "more than %d email addresses; the rest are ignored", CB_DIR_EMAILS_MAX);
		*full = true;
		return;
	}
	memcpy(out->emails[out->num_emails++], norm, strlen(norm) + 1);
}

static void read_emails(LDAP *ld, LDAPMessage *e, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	bool full = false;

	for (size_t i = 0; i < conf->num_email_attributes && i < CB_LDAP_MAX_EMAIL_ATTRS; i++) {
		char const *attr = conf->email_attributes[i];
		struct berval **vals = values(ld, e, attr);

		for (size_t j = 0; vals && vals[j]; j++) {
			size_t len;
			char const *v = email_value(vals[j], &len);

			if (v) add_email(out, attr, v, len, &full);
		}
		if (vals) ldap_value_free_len(vals);
	}
}

static void read_member_of(cb_ldap_conn_t *conn, LDAPMessage *e, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	struct berval **vals = values(conn->ld, e, conf->member_of_attribute);
	roles_t roles = { false, false };

	for (size_t j = 0; vals && vals[j]; j++) note_group(conn, vals[j]->bv_val, vals[j]->bv_len, &roles);
	if (vals) ldap_value_free_len(vals);
	set_role(out, &roles);
}

/** parse_int32 - strict decimal integer in the range of a 32-bit (signed or unsigned) int. */
static bool parse_int32(char const *v, size_t len, uint32_t *out)
{
	bool neg = false;
	uint64_t n = 0;
	size_t i = 0;

	if (len && v[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 10) return false;
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') return false;
		n = n * 10 + (uint64_t) (v[i] - '0');
	}
	if (neg ? n > 2147483648ULL : n > 4294967295ULL) return false;
	*out = neg ? (uint32_t) (-(int64_t) n) : (uint32_t) n;
	return true;
}

static void read_disabled(LDAP *ld, LDAPMessage *e, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	struct berval **vals;
	uint32_t uac;

	switch (conf->disabled_mode) {
	case CB_LDAP_DISABLED_AD_UAC:
		vals = values(ld, e, AD_UAC_ATTR);
		if (!vals || !vals[0] || vals[1] || !parse_int32(vals[0]->bv_val, vals[0]->bv_len, &uac)) {
			warn_add(out, "%s is missing or not one integer: account treated as disabled", AD_UAC_ATTR);
			out->facts.disabled = true;
		} else {
			out->facts.disabled = (uac & AD_UAC_ACCOUNTDISABLE) != 0;
		}
		if (vals) ldap_value_free_len(vals);
		break;

	case CB_LDAP_DISABLED_PPOLICY:
		vals = values(ld, e, PPOLICY_LOCKED_ATTR);
		out->facts.disabled = (vals && vals[0]);
		if (vals) ldap_value_free_len(vals);
		break;

	default:
		break;
	}
}

/** parse_flag - TRUE/FALSE (LDAP Boolean), also 1/0 and yes/no for string attributes. */
static int parse_flag(struct berval const *bv)
{
	static char const *yes[] = { "TRUE", "1", "yes" }, *no[] = { "FALSE", "0", "no" };

	for (size_t i = 0; i < NUM(yes); i++) {
		if (bv->bv_len == strlen(yes[i]) && strncasecmp(bv->bv_val, yes[i], bv->bv_len) == 0) return 1;
		if (bv->bv_len == strlen(no[i]) && strncasecmp(bv->bv_val, no[i], bv->bv_len) == 0) return 0;
	}
	return -1;
}

/** read_text - first value of attr as display text; false when absent. */
static bool read_text(LDAP *ld, LDAPMessage *e, char const *attr, char *buf, size_t buflen, cb_dir_entry_t *out)
{
	struct berval **vals = values(ld, e, attr);
	int changed;

	buf[0] = '\0';
	if (!vals || !vals[0]) {
		if (vals) ldap_value_free_len(vals);
		return false;
	}
	if (vals[1]) warn_add(out, "%s has several values; the first is used", attr);
	changed = text_copy(buf, buflen, vals[0]->bv_val, vals[0]->bv_len);
	if (changed & 1) warn_add(out, "%s holds control characters or invalid UTF-8, shown as '?'", attr);
	if (changed & 2) warn_add(out, "%s is longer than %zu bytes; truncated", attr, buflen - 1);
	ldap_value_free_len(vals);
	return true;
}

static void read_revocation(LDAP *ld, LDAPMessage *e, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	struct berval **vals = values(ld, e, conf->revoked_attribute);

	for (size_t j = 0; vals && vals[j]; j++) {
		int flag = parse_flag(vals[j]);

		if (flag < 0) {
			warn_add(out, "%s is neither TRUE nor FALSE: access treated as revoked", conf->revoked_attribute);
			flag = 1;
		}
		if (flag) out->facts.revoked = true;
	}
	if (vals) ldap_value_free_len(vals);
	if (!out->facts.revoked) return;
	if (read_text(ld, e, conf->revoked_reason_attribute, out->revoked_reason, sizeof(out->revoked_reason), out) &&
	    out->revoked_reason[0]) {
		out->facts.revoked_reason = out->revoked_reason;
	}
}

/**
 * read_exception - an exception counts only when documented: a reason, the
 * approver (when exception_approved_by_attribute is set) and, when present,
 * a valid end.  Anything less is ignored with a warning (fail closed).
 */
static void read_exception(LDAP *ld, LDAPMessage *e, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	cb_dir_exception_t *ex = &out->exception;
	struct berval **vals;

	memset(ex, 0, sizeof(*ex));
	if (!read_text(ld, e, conf->exception_reason_attribute, ex->reason, sizeof(ex->reason), out)) return;
	if (is_set(conf->exception_approved_by_attribute) &&
	    !read_text(ld, e, conf->exception_approved_by_attribute, ex->approved_by, sizeof(ex->approved_by), out)) {
		warn_add(out, "exception has no %s (who approved it): ignored", conf->exception_approved_by_attribute);
		goto ignore;
	}
	vals = values(ld, e, conf->exception_until_attribute);
	if (vals && vals[0]) {
		bool ok = !vals[1] && cb_ldap_parse_generalized_time(vals[0]->bv_val, vals[0]->bv_len, &ex->until);

		ldap_value_free_len(vals);
		if (!ok) {
			warn_add(out, "%s is not one GeneralizedTime (e.g. 20250718000000Z): exception ignored",
				 conf->exception_until_attribute);
			goto ignore;
		}
	} else if (vals) {
		ldap_value_free_len(vals);
	}
	ex->present = true;
	return;

ignore:
	memset(ex, 0, sizeof(*ex));
}

/** read_dn - the entry's DN into out->dn; false (with err) when it is unusable. */
static bool read_dn(LDAP *ld, LDAPMessage *e, cb_dir_entry_t *out, char *err, size_t errlen)
{
	char *dn = ldap_get_dn(ld, e);
	size_t len;

	if (!dn) {
		err_set(err, errlen, "the entry has no DN");
		return false;
	}
	len = strlen(dn);
	if (len == 0 || len >= sizeof(out->dn) || !text_ok(dn, len)) {
		err_set(err, errlen, "the entry's DN is empty, longer than %zu bytes or not printable UTF-8",
			sizeof(out->dn) - 1);
		ldap_memfree(dn);
		return false;
	}
	memcpy(out->dn, dn, len + 1);
	ldap_memfree(dn);
	return true;
}

/** group_search - group_mode search/ad_nested: groups that list the user's DN. */
static search_rcode_t group_search(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_dir_entry_t *out,
				   int64_t deadline, char *err, size_t errlen)
{
	char filter[CB_LDAP_FILTER_MAX];
	char const *attrs[] = { LDAP_NO_ATTRS, NULL };
	roles_t roles = { false, false };
	LDAPMessage *res, *e;
	search_rcode_t rcode;
	sbuf_t sb;

	sb_init(&sb, filter, sizeof(filter));
	sb_add(&sb, "(&");
	if (is_set(conf->group_filter)) sb_add(&sb, conf->group_filter);
	sb_add(&sb, "(");
	sb_add(&sb, conf->group_member_attribute);
	if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED) sb_add(&sb, AD_IN_CHAIN);
	sb_add(&sb, "=");
	if (!sb_add_escaped(&sb, out->dn, strlen(out->dn))) sb.overflow = true;
	sb_add(&sb, "))");
	if (sb.overflow) {
		err_set(err, errlen, "the group search filter for %s would be too long", out->dn);
		return SEARCH_TOO_MANY;
	}
	rcode = run_search(conn, is_set(conf->group_base_dn) ? conf->group_base_dn : conf->base_dn,
			   LDAP_SCOPE_SUBTREE, filter, attrs, (int) conf->max_groups, deadline, &res, err, errlen);
	if (rcode == SEARCH_FAILED) return rcode;
	if (rcode == SEARCH_TOO_MANY) {
		err_set(err, errlen, "%s is in more than max_groups (%u) groups; raise max_groups or narrow "
			"group_base_dn/group_filter", out->dn, conf->max_groups);
		ldap_msgfree(res);
		return rcode;
	}
	for (e = ldap_first_entry(conn->ld, res); e; e = ldap_next_entry(conn->ld, e)) {
		char *dn = ldap_get_dn(conn->ld, e);

		if (!dn) continue;
		note_group(conn, dn, strlen(dn), &roles);
		ldap_memfree(dn);
	}
	ldap_msgfree(res);
	set_role(out, &roles);
	return SEARCH_OK;
}

/** disabled_search - disabled_mode filter: does the user's entry match disabled_filter? */
static search_rcode_t disabled_search(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_dir_entry_t *out,
				      int64_t deadline, char *err, size_t errlen)
{
	char const *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	search_rcode_t rcode;

	rcode = run_search(conn, out->dn, LDAP_SCOPE_BASE, conf->disabled_filter, attrs, 1, deadline, &res,
			   err, errlen);
	if (rcode == SEARCH_FAILED) return rcode;
	out->facts.disabled = (ldap_count_entries(conn->ld, res) > 0);
	ldap_msgfree(res);
	return SEARCH_OK;
}

static cb_dir_result_t refuse(cb_dir_entry_t *out)
{
	char warning[CB_DIR_WARNING_MAX];

	memcpy(warning, out->warning, sizeof(warning));
	cb_dir_entry_init(out);
	memcpy(out->warning, warning, sizeof(warning));
	out->refused = true;
	return CB_DIR_NOT_FOUND;
}

static cb_dir_result_t unavailable(cb_ldap_conn_t *conn, cb_dir_entry_t *out)
{
	if (conn) conn->broken = true;
	cb_dir_entry_init(out);
	out->facts.result = CB_DIR_UNAVAILABLE;
	return CB_DIR_UNAVAILABLE;
}

/** read_entry - turn the one entry found into facts (and run the extra searches configured). */
static cb_dir_result_t read_entry(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, LDAPMessage *e,
				  cb_dir_entry_t *out, int64_t deadline, char *err, size_t errlen)
{
	search_rcode_t rcode = SEARCH_OK;

	if (!read_dn(conn->ld, e, out, err, errlen)) return refuse(out);
	read_emails(conn->ld, e, conf, out);
	if (conf->group_mode == CB_LDAP_GROUPS_MEMBEROF) read_member_of(conn, e, conf, out);
	read_disabled(conn->ld, e, conf, out);
	read_revocation(conn->ld, e, conf, out);
	read_exception(conn->ld, e, conf, out);

	if (conf->group_mode != CB_LDAP_GROUPS_MEMBEROF) rcode = group_search(conn, conf, out, deadline, err, errlen);
	if (rcode == SEARCH_OK && conf->disabled_mode == CB_LDAP_DISABLED_FILTER) {
		rcode = disabled_search(conn, conf, out, deadline, err, errlen);
	}
	if (rcode == SEARCH_FAILED) return unavailable(conn, out);
	if (rcode == SEARCH_TOO_MANY) return refuse(out);
	out->facts.result = CB_DIR_FOUND;
	return CB_DIR_FOUND;
}

cb_dir_result_t cb_ldap_lookup(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char const *identity,
			       cb_dir_entry_t *out, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + (conf ? conf->search_timeout_ms : 0);
	char filter[CB_LDAP_FILTER_MAX], why[256];
	char const *attrs[MAX_ATTRS + 1];
	LDAPMessage *res = NULL;
	search_rcode_t rcode;
	cb_dir_result_t result;
	int count;

	if (err && errlen) err[0] = '\0';
	cb_dir_entry_init(out);
	if (!conn || !conn->ld || conn->broken || !conf) {
		err_set(err, errlen, "the directory connection is not usable (it failed before)");
		return unavailable(conn, out);
	}
	conn->search_timeout_ms = conf->search_timeout_ms;
	if (!identity || !*identity || strlen(identity) > CB_IDENTITY_MAX) {
		err_set(err, errlen, "no identity, or an identity longer than %d bytes, to look up", CB_IDENTITY_MAX);
		return refuse(out);
	}
	if (cb_ldap_filter_expand(conf->user_filter, identity, filter, sizeof(filter), why, sizeof(why)) < 0) {
		err_set(err, errlen, "user_filter: %s", why);
		return refuse(out);
	}
	if (prepare_groups(conn, conf, err, errlen) < 0) return unavailable(conn, out);
	build_attrs(conf, attrs);

	rcode = run_search(conn, conf->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, deadline, &res, err, errlen);
	if (rcode == SEARCH_FAILED) return unavailable(conn, out);
	count = ldap_count_entries(conn->ld, res);
	if (rcode == SEARCH_TOO_MANY || count > 1) {
		err_set(err, errlen, "%s matches more than one entry under %s: refused as ambiguous", filter, conf->base_dn);
		ldap_msgfree(res);
		return refuse(out);
	}
	if (count <= 0) {
		ldap_msgfree(res);
		return CB_DIR_NOT_FOUND;
	}
	result = read_entry(conn, conf, ldap_first_entry(conn->ld, res), out, deadline, err, errlen);
	ldap_msgfree(res);
	return result;
}

/*
 *	Listing people (cb_ldap_list_people).
 *
 *	Reports and reminders need everyone a decision could concern: staff
 *	(who must acknowledge) and anyone with an exception recorded in the
 *	directory.  With the OpenLDAP defaults (user_filter "(uid=%s)", group_mode
 *	memberof, staff_group cn=staff,ou=groups,dc=school,dc=example) that is
 *	one paged subtree search:
 *
 *	base     dc=school,dc=example (subtree)
 *	filter   (&(uid=*)(|(memberOf=cn=staff,ou=groups,dc=school,dc=example)
 *	                    (cetbyodExceptionReason=*)))
 *	attrs    uid
 *	control  Simple Paged Results (RFC 2696), list_page_size entries a page
 *
 *	"(uid=*)" is user_filter with "*" put unescaped where %s is: whatever
 *	the filter requires of a user besides the identity (an objectClass, an
 *	account type) it still requires.  The group DNs are escaped as
 *	assertion values (RFC 4515); ad_nested asks for memberOf with AD's
 *	IN_CHAIN rule, so members of nested groups count as lookups count them.
 *
 *	group_mode search has no memberOf to filter on: each staff group is
 *	read (a base search returning its group_member_attribute values), each
 *	member DN is read with a base search whose filter is the presence
 *	filter (so nested groups, service accounts and dangling DNs drop out),
 *	and one paged subtree search finds the exception holders.  The member
 *	DNs, normalised, are kept in a set, so that a person in two groups is
 *	read once and the exception search skips those already read.
 *
 *	Each entry gives at most one identity: its identity_attribute value,
 *	checked and lower-cased by cb_identity_normalise() without stripping
 *	anything (that is the value a lookup puts into user_filter).  Entries
 *	with no valid value, or with several different ones, are skipped and
 *	counted.  Identities already reported (two entries sharing a uid) are
 *	not reported again: the reported ones are kept in a second set, which
 *	list_max_people bounds, and with it the memory used.
 *
 *	Every request gets what is left of one list_timeout_ms budget, both as
 *	the client's wait and as the server's time limit.  Any failure breaks
 *	the connection, as a failed lookup does.  A server that ignores the
 *	paging control and stops at its size limit is an error, never a
 *	silently short list; so is a group whose member list comes back in AD
 *	ranges ("member;range=0-1499"), which search mode does not follow.
 */

/** A set of strings: open addressing, linear probing, a power-of-two table at most half full. */
typedef struct {
	char	**slot;
	size_t	cap;
	size_t	used;
} strset_t;

static uint64_t str_hash(char const *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (; *s; s++) h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

/** strset_find - the slot holding s, or the empty slot where it would go. */
static size_t strset_find(strset_t const *set, char const *s)
{
	size_t i = (size_t) str_hash(s) & (set->cap - 1);

	while (set->slot[i] && strcmp(set->slot[i], s) != 0) i = (i + 1) & (set->cap - 1);
	return i;
}

static bool strset_has(strset_t const *set, char const *s)
{
	return set->cap && set->slot[strset_find(set, s)] != NULL;
}

static bool strset_grow(strset_t *set)
{
	size_t cap = set->cap ? set->cap * 2 : 64;
	strset_t bigger = { calloc(cap, sizeof(char *)), cap, set->used };

	if (!bigger.slot) return false;
	for (size_t i = 0; i < set->cap; i++) {
		if (set->slot[i]) bigger.slot[strset_find(&bigger, set->slot[i])] = set->slot[i];
	}
	free(set->slot);
	*set = bigger;
	return true;
}

/** strset_add - add a copy of s.  Returns 1 when added, 0 when already there, -1 when out of memory. */
static int strset_add(strset_t *set, char const *s)
{
	size_t i;

	if (strset_has(set, s)) return 0;
	if ((set->used + 1) * 2 > set->cap && !strset_grow(set)) return -1;
	i = strset_find(set, s);
	set->slot[i] = strdup(s);
	if (!set->slot[i]) return -1;
	set->used++;
	return 1;
}

static void strset_free(strset_t *set)
{
	for (size_t i = 0; i < set->cap; i++) free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

/** The state of one cb_ldap_list_people() call. */
typedef struct {
	cb_ldap_conn_t		*conn;
	cb_ldap_conf_t const	*conf;
	cb_ldap_person_fn	fn;
	void			*ctx;

	char			idattr[ATTR_NAME_MAX + 1];	/* identity_attribute, or the derived one. */
	char			presence[CB_LDAP_FILTER_MAX];	/* user_filter with %s -> '*'. */
	unsigned int		timeout_ms;
	unsigned int		max_people;
	unsigned int		page_size;
	int64_t			deadline;

	strset_t		people;		/* Identities reported. */
	strset_t		dns;		/* search mode: normalised DNs of the members read. */
	size_t			count;
	size_t			skipped;
	bool			stop;		/* fn asked to stop. */
	size_t			groups_read;	/* search mode: staff group entries read. */

	char			*err;
	size_t			errlen;
} lister_t;

typedef int (*lister_entry_fn)(lister_t *l, LDAPMessage *e);

/** list_fail - set err to "uri: listing people: message (after N people)"; break the connection.  -1. */
static int list_fail(lister_t *l, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static int list_fail(lister_t *l, char const *fmt, ...)
{
	char msg[CB_DIR_DN_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	text_sanitise(msg);
	err_set(l->err, l->errlen, "%s: listing people: %s (after %zu reported)", l->conn->uri, msg, l->count);
	l->conn->broken = true;
	return -1;
}

/** presence_filter - tmpl with "*" where its %s is and % for each %%. */
static bool presence_filter(char const *tmpl, char *buf, size_t buflen)
{
	sbuf_t sb;

	sb_init(&sb, buf, buflen);
	for (char const *p = tmpl; *p; p++) {
		if (*p != '%') {
			sb_addn(&sb, p, 1);
		} else if (p[1] == '%') {
			sb_add(&sb, "%");
			p++;
		} else if (p[1] == 's') {
			sb_add(&sb, "*");
			p++;
		} else {
			return false;
		}
	}
	return !sb.overflow;
}

/**
 * list_entry - report the identity in one entry, or count it as skipped.
 * Returns 0, or -1 (err set) when list_max_people is passed or memory runs out.
 */
static int list_entry(lister_t *l, LDAPMessage *e)
{
	static cb_identity_conf_t const plain = { .strip_realm = false, .strip_domain = false,
						 .max_length = CB_IDENTITY_MAX };
	struct berval **vals = ldap_get_values_len(l->conn->ld, e, l->idattr);
	char found[CB_IDENTITY_MAX + 1], norm[CB_IDENTITY_MAX + 1];
	int distinct = 0;

	for (size_t j = 0; vals && vals[j] && distinct < 2; j++) {
		if (!vals[j]->bv_val ||
		    cb_identity_normalise(&plain, vals[j]->bv_val, vals[j]->bv_len, norm, sizeof(norm)) != CB_IDENTITY_OK) {
			continue;
		}
		if (distinct == 0) {
			memcpy(found, norm, strlen(norm) + 1);
			distinct = 1;
		} else if (strcmp(found, norm) != 0) {
			distinct = 2;
		}
	}
	if (vals) ldap_value_free_len(vals);
	if (distinct != 1) {
		l->skipped++;
		return 0;
	}
	if (strset_has(&l->people, found)) return 0;
	if (l->people.used >= l->max_people) {
		return list_fail(l, "more than list_max_people (%u) people; raise it if the directory really holds "
				 "that many", l->max_people);
	}
	if (strset_add(&l->people, found) < 0) return list_fail(l, "out of memory");
	l->count++;
	if (l->fn(l->ctx, found) != 0) l->stop = true;
	return 0;
}

/** search_failed - err for a failed search, with what to check.  -1. */
static int search_failed(lister_t *l, int rc, char const *what)
{
	char *diag = NULL, detail[512] = "";

	if (rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED) {
		return list_fail(l, "%s: not finished within list_timeout_ms (%u ms)", what, l->timeout_ms);
	}
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		return list_fail(l, "%s: the server stopped at its size limit, so it ignored paging (RFC 2696) or "
				 "limits paged searches too (OpenLDAP: limits size.prtotal for the bind identity)", what);
	}
	ldap_get_option(l->conn->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag && *diag) snprintf(detail, sizeof(detail), " (%s)", diag);
	if (diag) ldap_memfree(diag);
	switch (rc) {
	case LDAP_NO_SUCH_OBJECT:
		return list_fail(l, "%s: %s%s: the base does not exist or is hidden from the bind identity", what,
				 ldap_err2string(rc), detail);
	case LDAP_INSUFFICIENT_ACCESS:
		return list_fail(l, "%s: %s%s: check bind_dn and the directory's access rules", what,
				 ldap_err2string(rc), detail);
	default:
		return list_fail(l, "%s: %s%s", what, ldap_err2string(rc), detail);
	}
}

/** page_cookie - the cookie of res's paged results response into *cookie ("" when none: the last page). */
static int page_cookie(lister_t *l, LDAPMessage *res, struct berval *cookie, char const *what)
{
	LDAPControl **ctrls = NULL, *pr;
	ber_int_t estimate = 0;
	int rc;

	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	rc = ldap_parse_result(l->conn->ld, res, NULL, NULL, NULL, NULL, &ctrls, 0);
	if (rc != LDAP_SUCCESS) return search_failed(l, rc, what);
	pr = ctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL) : NULL;
	rc = pr ? ldap_parse_pageresponse_control(l->conn->ld, pr, &estimate, cookie) : LDAP_SUCCESS;
	if (ctrls) ldap_controls_free(ctrls);
	if (rc != LDAP_SUCCESS) return list_fail(l, "%s: the server's paged results response is malformed", what);
	return 0;
}

/**
 * page_abandon - end a paged search early, so that the server can drop its
 * state: a request with page size 0 and the last cookie (RFC 2696 section 3).
 * libldap's ldap_create_page_control() refuses a size of 0, so the control
 * is encoded here.  If this fails the connection is marked broken: nothing
 * is lost, the next lookup takes a fresh one.
 */
static void page_abandon(lister_t *l, char const *base, int scope, char const *filter, char const **attrs,
			 struct berval *cookie)
{
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	LDAPMessage *res = NULL;
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval value = { 0, NULL };
	struct timeval tv;
	int64_t left = l->deadline - now_ms();
	int rc = LDAP_LOCAL_ERROR;

	if (ber && left > 0 && ber_printf(ber, "{iO}", (ber_int_t) 0, cookie) != -1 && ber_flatten2(ber, &value, 0) == 0 &&
	    ldap_control_create(LDAP_CONTROL_PAGEDRESULTS, 0, &value, 1, &page) == LDAP_SUCCESS) {
		ctrls[0] = page;
		ms_to_timeval((unsigned int) left, &tv);
		rc = ldap_search_ext_s(l->conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0, ctrls, NULL,
				       &tv, 0, &res);
		ldap_control_free(page);
		if (res) ldap_msgfree(res);
	}
	if (ber) ber_free(ber, 1);
	if (rc != LDAP_SUCCESS) l->conn->broken = true;
}

/**
 * list_search - one search, in pages when paged, each entry given to on_entry
 * until it fails or fn asks to stop.  A missing base is an empty answer when
 * missing_ok.  Returns 0, or -1 with err set and the connection broken.
 */
static int list_search(lister_t *l, char const *what, char const *base, int scope, char const *filter,
		       char const **attrs, bool paged, bool missing_ok, lister_entry_fn on_entry)
{
	struct berval cookie = { 0, NULL };
	int rcode = 0;

	do {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
		LDAPMessage *res = NULL, *e;
		struct timeval tv;
		int64_t left = l->deadline - now_ms();
		int rc;

		if (left <= 0) {
			rcode = list_fail(l, "%s: not finished within list_timeout_ms (%u ms)", what, l->timeout_ms);
			break;
		}
		ms_to_timeval((unsigned int) left, &tv);
		if (paged) {
			rc = ldap_create_page_control(l->conn->ld, (ber_int_t) l->page_size, cookie.bv_len ? &cookie : NULL,
						      0, &page);
			if (rc != LDAP_SUCCESS) {
				rcode = list_fail(l, "%s: libldap cannot make the paged results control: %s", what,
						  ldap_err2string(rc));
				break;
			}
			ctrls[0] = page;
		}
		rc = ldap_search_ext_s(l->conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0,
				       paged ? ctrls : NULL, NULL, &tv, paged ? 0 : 1, &res);
		if (page) ldap_control_free(page);
		if (rc == LDAP_NO_SUCH_OBJECT && missing_ok) {
			if (res) ldap_msgfree(res);
			break;
		}
		if (rc != LDAP_SUCCESS) {
			if (res) ldap_msgfree(res);
			rcode = search_failed(l, rc, what);
			break;
		}
		if (cookie.bv_val) ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (paged && page_cookie(l, res, &cookie, what) < 0) {
			ldap_msgfree(res);
			rcode = -1;
			break;
		}
		for (e = ldap_first_entry(l->conn->ld, res); e && !l->stop && rcode == 0;
		     e = ldap_next_entry(l->conn->ld, e)) {
			rcode = on_entry(l, e);
		}
		ldap_msgfree(res);
		if (rcode == 0 && l->stop && cookie.bv_len) page_abandon(l, base, scope, filter, attrs, &cookie);
	} while (rcode == 0 && !l->stop && cookie.bv_len > 0);

	if (cookie.bv_val) ber_memfree(cookie.bv_val);
	return rcode;
}

/** member_of_filter - memberof/ad_nested: presence AND (any staff group OR an exception), in a malloc'd string. */
static char *member_of_filter(lister_t *l)
{
	cb_ldap_conf_t const *conf = l->conf;
	cb_ldap_conn_t *conn = l->conn;
	char const *moa = is_set(conf->member_of_attribute) ? conf->member_of_attribute : "memberOf";
	size_t cap = strlen(l->presence) + 16;
	char *buf;
	sbuf_t sb;

	for (size_t i = 0; i < conn->num_staff; i++) {
		cap += strlen(moa) + sizeof(AD_IN_CHAIN) + 3 * strlen(conn->staff[i]) + 4;	/* "(" moa rule "=" value ")" */
	}
	if (is_set(conf->exception_reason_attribute)) cap += strlen(conf->exception_reason_attribute) + 5;
	buf = malloc(cap);
	if (!buf) return NULL;

	sb_init(&sb, buf, cap);
	sb_add(&sb, "(&");
	sb_add(&sb, l->presence);
	sb_add(&sb, "(|");
	for (size_t i = 0; i < conn->num_staff; i++) {
		sb_add(&sb, "(");
		sb_add(&sb, moa);
		if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED) sb_add(&sb, AD_IN_CHAIN);
		sb_add(&sb, "=");
		if (!sb_add_escaped(&sb, conn->staff[i], strlen(conn->staff[i]))) sb.overflow = true;
		sb_add(&sb, ")");
	}
	if (is_set(conf->exception_reason_attribute)) {
		sb_add(&sb, "(");
		sb_add(&sb, conf->exception_reason_attribute);
		sb_add(&sb, "=*)");
	}
	sb_add(&sb, "))");
	if (sb.overflow) {
		free(buf);
		return NULL;
	}
	return buf;
}

/** list_member - search mode: one member DN of a staff group, read once if it is a user. */
static int list_member(lister_t *l, char const *val, size_t len)
{
	char dn[CB_DIR_DN_MAX], what[CB_DIR_DN_MAX + 32], *norm;
	char const *attrs[] = { l->idattr, NULL };
	int added;

	if (len == 0 || len >= sizeof(dn) || !text_ok(val, len)) {
		l->skipped++;
		return 0;
	}
	memcpy(dn, val, len);
	dn[len] = '\0';
	norm = dn_normal(dn);
	if (!norm) {
		l->skipped++;
		return 0;
	}
	if (!strset_has(&l->dns, norm) && l->dns.used >= l->max_people) {
		ldap_memfree(norm);
		return list_fail(l, "the staff groups have more than list_max_people (%u) members", l->max_people);
	}
	added = strset_add(&l->dns, norm);
	ldap_memfree(norm);
	if (added < 0) return list_fail(l, "out of memory");
	if (added == 0) return 0;	/* In an earlier group too. */
	snprintf(what, sizeof(what), "reading member %s", dn);
	return list_search(l, what, dn, LDAP_SCOPE_BASE, l->presence, attrs, false, true, list_entry);
}

/** list_group - search mode: one staff group entry; each of its members. */
static int list_group(lister_t *l, LDAPMessage *e)
{
	char const *attr = l->conf->group_member_attribute;
	size_t alen = strlen(attr);
	struct berval **vals;
	BerElement *ber = NULL;
	bool ranged = false;
	int rcode = 0;

	l->groups_read++;
	/* AD hands out long member lists in ranges ("member;range=0-1499"); we do not follow them. */
	for (char *a = ldap_first_attribute(l->conn->ld, e, &ber); a; a = ldap_next_attribute(l->conn->ld, e, ber)) {
		if (strncasecmp(a, attr, alen) == 0 && strncasecmp(a + alen, ";range=", 7) == 0) ranged = true;
		ldap_memfree(a);
	}
	if (ber) ber_free(ber, 0);
	if (ranged) {
		return list_fail(l, "a staff_group's %s list comes in ranges (Active Directory, more than 1500 "
				 "members): use group_membership = ad_nested or memberof", attr);
	}
	vals = ldap_get_values_len(l->conn->ld, e, attr);
	for (size_t j = 0; vals && vals[j] && rcode == 0 && !l->stop; j++) {
		rcode = list_member(l, vals[j]->bv_val, vals[j]->bv_len);
	}
	if (vals) ldap_value_free_len(vals);
	return rcode;
}

/** list_exception_holder - search mode: an exception holder, unless read already as a member. */
static int list_exception_holder(lister_t *l, LDAPMessage *e)
{
	char *dn = ldap_get_dn(l->conn->ld, e), *norm = dn ? dn_normal(dn) : NULL;
	bool seen = norm && strset_has(&l->dns, norm);

	if (norm) ldap_memfree(norm);
	if (dn) ldap_memfree(dn);
	return seen ? 0 : list_entry(l, e);
}

static int list_by_member_of(lister_t *l)
{
	char const *attrs[] = { l->idattr, NULL };
	char *filter = member_of_filter(l);
	int rcode;

	if (!filter) return list_fail(l, "out of memory building the filter");
	rcode = list_search(l, "searching staff and exception holders", l->conf->base_dn, LDAP_SCOPE_SUBTREE, filter,
			    attrs, true, false, list_entry);
	free(filter);
	return rcode;
}

static int list_by_group_search(lister_t *l)
{
	cb_ldap_conf_t const *conf = l->conf;
	char const *group_attrs[] = { conf->group_member_attribute, NULL }, *attrs[] = { l->idattr, NULL };
	char const *group_filter = is_set(conf->group_filter) ? conf->group_filter : "(objectClass=*)";
	char filter[CB_LDAP_FILTER_MAX], what[CB_DIR_DN_MAX + 64];
	sbuf_t sb;

	for (size_t i = 0; i < l->conn->num_staff && !l->stop; i++) {
		size_t groups = l->groups_read;

		snprintf(what, sizeof(what), "reading staff_group %s", l->conn->staff[i]);
		if (list_search(l, what, l->conn->staff[i], LDAP_SCOPE_BASE, group_filter, group_attrs, false, false,
				list_group) < 0) return -1;
		if (l->groups_read == groups) {
			return list_fail(l, "staff_group %s is not a group: it does not match group_filter %s",
					 l->conn->staff[i], group_filter);
		}
	}
	if (l->stop || !is_set(conf->exception_reason_attribute)) return 0;

	sb_init(&sb, filter, sizeof(filter));
	sb_add(&sb, "(&");
	sb_add(&sb, l->presence);
	sb_add(&sb, "(");
	sb_add(&sb, conf->exception_reason_attribute);
	sb_add(&sb, "=*))");
	if (sb.overflow) return list_fail(l, "the exception holders' filter would be longer than %d bytes",
					  CB_LDAP_FILTER_MAX - 1);
	return list_search(l, "searching exception holders", conf->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, true,
			   false, list_exception_holder);
}

int cb_ldap_list_people(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_ldap_person_fn fn, void *ctx,
			size_t *count, size_t *skipped, char *err, size_t errlen)
{
	lister_t l;
	char why[256];
	int rcode;

	if (err && errlen) err[0] = '\0';
	if (count) *count = 0;
	if (skipped) *skipped = 0;
	if (!conn || !conn->ld || conn->broken || !conf || !fn) {
		if (conn) conn->broken = true;
		err_set(err, errlen, "the directory connection is not usable (it failed before), or no callback");
		return -1;
	}

	memset(&l, 0, sizeof(l));
	l.conn = conn;
	l.conf = conf;
	l.fn = fn;
	l.ctx = ctx;
	l.err = err;
	l.errlen = errlen;
	l.timeout_ms = conf->list_timeout_ms ? conf->list_timeout_ms
					     : CB_LDAP_LIST_TIMEOUT_FACTOR * conf->search_timeout_ms;
	l.max_people = conf->list_max_people ? conf->list_max_people : CB_LDAP_LIST_MAX_PEOPLE;
	l.page_size = conf->list_page_size ? conf->list_page_size : CB_LDAP_LIST_PAGE_SIZE;
	l.deadline = now_ms() + l.timeout_ms;

	if (is_set(conf->identity_attribute)) {
		size_t len = strlen(conf->identity_attribute);

		if (len >= sizeof(l.idattr)) return list_fail(&l, "identity_attribute is too long");
		memcpy(l.idattr, conf->identity_attribute, len + 1);
	} else if (!identity_attr_derive(conf->user_filter, l.idattr, sizeof(l.idattr))) {
		return list_fail(&l, "user_filter has no \"(ATTR=%%s)\" item to derive the identity attribute from: "
				 "set ldap { identity_attribute }");
	}
	if (!is_set(conf->user_filter) || !presence_filter(conf->user_filter, l.presence, sizeof(l.presence))) {
		return list_fail(&l, "user_filter cannot be turned into a filter for all users");
	}
	if (prepare_groups(conn, conf, why, sizeof(why)) < 0) return list_fail(&l, "%s", why);

	rcode = (conf->group_mode == CB_LDAP_GROUPS_SEARCH) ? list_by_group_search(&l) : list_by_member_of(&l);

	if (count) *count = l.count;
	if (skipped) *skipped = l.skipped;
	strset_free(&l.people);
	strset_free(&l.dns);
	return rcode;
}
