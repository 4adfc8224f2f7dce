/*
 * identity.c - checks and normal forms for identities and email addresses.
 *
 * Everything here treats its input as hostile: lengths are explicit, nothing
 * is read past the end, and nothing is written unless the whole input passed.
 */
#include <string.h>

#include "core/identity.h"

char const *cb_identity_error(cb_identity_result_t result)
{
	switch (result) {
	case CB_IDENTITY_OK:		return "ok";
	case CB_IDENTITY_EMPTY:		return "identity is empty";
	case CB_IDENTITY_TOO_LONG:	return "identity is longer than the configured maximum";
	case CB_IDENTITY_NUL:		return "identity contains a NUL byte";
	case CB_IDENTITY_CONTROL:	return "identity contains a control character";
	case CB_IDENTITY_BAD_UTF8:	return "identity is not valid UTF-8";
	case CB_IDENTITY_BAD_FORM:	return "identity is not of the form user, user@realm or DOMAIN\\user";
	}
	return "identity is invalid";
}

size_t cb_utf8_decode(unsigned char const *p, unsigned char const *end, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t) (end - p) < n) return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
	*cp = c;
	return n;
}

size_t cb_utf8_char_len(unsigned char const *p, unsigned char const *end, bool *control)
{
	uint32_t cp = 0;
	size_t n = cb_utf8_decode(p, end, &cp);

	*control = n && (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f));
	return n;
}

/** check_text - the byte-level checks shared by identities and email addresses. */
static cb_identity_result_t check_text(char const *in, size_t len)
{
	unsigned char const *p = (unsigned char const *) in, *end = p + len;

	if (len == 0) return CB_IDENTITY_EMPTY;
	if (memchr(in, '\0', len)) return CB_IDENTITY_NUL;
	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control);

		if (n == 0) return CB_IDENTITY_BAD_UTF8;
		if (control) return CB_IDENTITY_CONTROL;
		p += n;
	}
	return CB_IDENTITY_OK;
}

bool cb_text_valid(char const *in, size_t len)
{
	return len == 0 || check_text(in, len) == CB_IDENTITY_OK;
}

static void copy_lower(char *out, char const *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
	}
	out[len] = '\0';
}

static size_t count_char(char const *in, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) n += (in[i] == c);
	return n;
}

cb_identity_result_t cb_identity_normalise(cb_identity_conf_t const *conf, char const *in, size_t len,
					   char *out, size_t outlen)
{
	cb_identity_result_t rcode;
	char const *start = in, *at;
	size_t max = conf->max_length ? conf->max_length : CB_IDENTITY_MAX;

	if (outlen) out[0] = '\0';
	if (outlen < CB_IDENTITY_MAX + 1) return CB_IDENTITY_TOO_LONG;
	if (max > CB_IDENTITY_MAX) max = CB_IDENTITY_MAX;
	if (len > max) return CB_IDENTITY_TOO_LONG;

	rcode = check_text(in, len);
	if (rcode != CB_IDENTITY_OK) return rcode;

	/*
	 *	At most one DOMAIN\ prefix and one @realm suffix, and neither
	 *	may leave the user part empty.
	 */
	if (count_char(in, len, '\\') > 1 || count_char(in, len, '@') > 1) return CB_IDENTITY_BAD_FORM;
	if (conf->strip_domain) {
		char const *bs = memchr(in, '\\', len);

		if (bs) {
			if (bs == in) return CB_IDENTITY_BAD_FORM;
			len -= (size_t) (bs + 1 - in);
			start = bs + 1;
		}
	}
	at = memchr(start, '@', len);
	if (at) {
		if (at == start || at == start + len - 1) return CB_IDENTITY_BAD_FORM;
		if (conf->strip_realm) len = (size_t) (at - start);
	}
	if (len == 0) return CB_IDENTITY_BAD_FORM;
	copy_lower(out, start, len);
	return CB_IDENTITY_OK;
}

bool cb_identity_email(char const *identity, char const *domain, char *buf, size_t len)
{
	size_t ilen = strlen(identity), dlen;

	if (strchr(identity, '@')) {
		if (ilen + 1 > len) return false;
		memcpy(buf, identity, ilen + 1);
		return true;
	}
	if (!domain || !*domain) return false;
	dlen = strlen(domain);
	if (ilen + 1 + dlen + 1 > len) return false;
	memcpy(buf, identity, ilen);
	buf[ilen] = '@';
	copy_lower(buf + ilen + 1, domain, dlen);
	return true;
}

bool cb_email_normalise(char const *in, size_t len, char *out, size_t outlen)
{
	char const *at;

	/* Trim the spaces a spreadsheet cell or a directory value may carry. */
	while (len && (in[0] == ' ' || in[0] == '\t')) {
		in++;
		len--;
	}
	while (len && (in[len - 1] == ' ' || in[len - 1] == '\t')) len--;

	if (len == 0 || len + 1 > outlen || len > CB_IDENTITY_MAX) return false;
	if (check_text(in, len) != CB_IDENTITY_OK) return false;
	if (count_char(in, len, '@') != 1) return false;
	at = memchr(in, '@', len);
	if (at == in || at == in + len - 1) return false;
	if (memchr(in, ' ', len)) return false;
	copy_lower(out, in, len);
	return true;
}
