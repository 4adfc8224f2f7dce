/*
 * identity.c - checks and normal forms for identities and email addresses
 * (the UTF-8 rule itself is base/utf8.c).
 *
 * Everything here treats its input as hostile: lengths are explicit, nothing
 * is read past the end, and nothing is written unless the whole input passed.
 */
#include <string.h>

#include <unicode/uchar.h>

#include "base/name.h"
#include "base/utf8.h"
#include "core/identity.h"

static cb_name_t const identity_errors[] = {
	{ "ok",							CB_IDENTITY_OK },
	{ "identity is empty",					CB_IDENTITY_EMPTY },
	{ "identity is longer than the configured maximum",	CB_IDENTITY_TOO_LONG },
	{ "identity contains a NUL byte",			CB_IDENTITY_NUL },
	{ "identity contains a control character",		CB_IDENTITY_CONTROL },
	{ "identity is not valid UTF-8",			CB_IDENTITY_BAD_UTF8 },
	{ "identity is not of the form user, user@realm or DOMAIN\\user", CB_IDENTITY_BAD_FORM },
	{ NULL, -1 }
};

char const *cb_identity_error(cb_identity_result_t result)
{
	return cb_name_of(identity_errors, (int) result, "identity is invalid");
}

/** check_text - the byte-level checks shared by identities and email addresses. */
static cb_identity_result_t check_text(char const *in, size_t len)
{
	static cb_identity_result_t const of_utf8[] = {
		[CB_UTF8_OK] = CB_IDENTITY_OK, [CB_UTF8_NUL] = CB_IDENTITY_NUL,
		[CB_UTF8_CONTROL] = CB_IDENTITY_CONTROL, [CB_UTF8_BAD] = CB_IDENTITY_BAD_UTF8,
	};

	if (len == 0) return CB_IDENTITY_EMPTY;
	return of_utf8[cb_utf8_check(in, len)];
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

bool cb_identity_email_normalise(char const *in, size_t len, char *out, size_t outlen)
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

/**
 * shown_as_is - whether the n-byte character at p may reach a log line as it
 * is: valid UTF-8, no control, nothing that moves or hides text (format
 * characters such as the bidirectional overrides, line and paragraph
 * separators, unassigned and private-use code points).
 */
static bool shown_as_is(unsigned char const *p, unsigned char const *end, size_t *n)
{
	bool control = false;
	uint32_t cp = 0;
	int8_t type;

	*n = cb_utf8_char_len(p, end, &control);
	if (*n == 0 || control) return false;
	if (*n == 1) return true;
	cb_utf8_decode(p, end, &cp);
	type = u_charType((UChar32) cp);
	return type != U_FORMAT_CHAR && type != U_LINE_SEPARATOR && type != U_PARAGRAPH_SEPARATOR &&
	       type != U_UNASSIGNED && type != U_PRIVATE_USE_CHAR && type != U_SURROGATE;
}

char const *cb_identity_escape(char const *in, size_t len, char *out, size_t outlen)
{
	static char const octal[] = "01234567";
	unsigned char const *p = (unsigned char const *) in, *end = p + len;
	size_t used = 0, cut = 0;

	if (!outlen) return out;
	out[0] = '\0';
	if (outlen < 4) return out;
	while (p < end) {
		size_t n, k;
		char buf[8];

		if (!shown_as_is(p, end, &n)) {
			/* One byte at a time: the rest of a bad sequence is escaped in turn. */
			n = 1;
			buf[0] = '\\';
			buf[1] = octal[(p[0] >> 6) & 7];
			buf[2] = octal[(p[0] >> 3) & 7];
			buf[3] = octal[p[0] & 7];
			k = 4;
		} else if (p[0] == '"' || p[0] == '\\') {
			buf[0] = '\\';
			buf[1] = (char) p[0];
			k = 2;
		} else {
			memcpy(buf, p, n);
			k = n;
		}
		if (used + k + 1 > outlen) {
			/* Back to the last whole character that leaves room for the mark. */
			memcpy(out + cut, "...", 3);
			used = cut + 3;
			break;
		}
		memcpy(out + used, buf, k);
		used += k;
		if (used + 3 + 1 <= outlen) cut = used;
		p += n;
	}
	out[used] = '\0';
	return out;
}
