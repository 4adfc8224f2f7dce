/*
 * ldap_util.c - small helpers the LDAP client's files share: messages,
 * bounded strings with RFC 4515 escaping, DN normal form, timeouts.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "directory/ldap_int.h"

void cb_ldap_err_set(char *err, size_t errlen, char const *fmt, ...)
{
	va_list ap;

	if (!err || !errlen) return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/** cb_ldap_text_sanitise - make a libldap or server message printable, in place. */
void cb_ldap_text_sanitise(char *s)
{
	for (; *s; s++) if ((unsigned char) *s < 0x20 || *s == 0x7f) *s = '?';
}

void cb_ldap_sb_init(cb_ldap_sb_t *sb, char *buf, size_t cap)
{
	sb->buf = buf;
	sb->len = 0;
	sb->cap = cap;
	sb->overflow = (cap == 0);
	if (cap) buf[0] = '\0';
}

void cb_ldap_sb_addn(cb_ldap_sb_t *sb, char const *s, size_t n)
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

void cb_ldap_sb_add(cb_ldap_sb_t *sb, char const *s)
{
	cb_ldap_sb_addn(sb, s, strlen(s));
}

/** cb_ldap_sb_add_escaped - add value escaped as an RFC 4515 assertion value (libldap's escaping). */
bool cb_ldap_sb_add_escaped(cb_ldap_sb_t *sb, char const *value, size_t len)
{
	struct berval in, out = { 0, NULL };

	in.bv_val = (char *) (uintptr_t) value;
	in.bv_len = len;
	if (ldap_bv2escaped_filter_value(&in, &out) != 0 || !out.bv_val) return false;
	cb_ldap_sb_addn(sb, out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return true;
}

/** cb_ldap_ld_error - "what: LDAP error text (server's diagnostic)". */
void cb_ldap_ld_error(LDAP *ld, int rc, char const *what, char *err, size_t errlen)
{
	char *diag = NULL;

	if (ld) ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag && *diag) {
		cb_ldap_text_sanitise(diag);
		cb_ldap_err_set(err, errlen, "%s: %s (%s)", what, ldap_err2string(rc), diag);
	} else {
		cb_ldap_err_set(err, errlen, "%s: %s", what, ldap_err2string(rc));
	}
	if (diag) ldap_memfree(diag);
}

void cb_ldap_ms_to_timeval(unsigned int ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/** cb_ldap_dn_normal - the DN in a normal form for comparison (ldap_memfree it), NULL if not a DN. */
char *cb_ldap_dn_normal(char const *dn)
{
	char *out = NULL, *p;

	if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) return NULL;
	if (!out) return NULL;
	for (p = out; *p; p++) *p = ascii_lower(*p);
	return out;
}
