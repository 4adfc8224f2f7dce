/*
 * identity.c - checks and normal forms for identities and email addresses
 * (the UTF-8 rule itself is base/utf8.c).
 *
 * Everything here treats its input as hostile: lengths are explicit, nothing
 * is read past the end, and nothing is written unless the whole input passed.
 */
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf16.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

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

/*
 *	Folding: UTF-8 to UTF-16, NFD, Unicode default case folding, NFC, back
 *	to UTF-8 (canonical caseless matching, then composed).  The Turkish
 *	dotless and dotted i are folded as Unicode's default says, whatever
 *	the locale.  The folding is the simple one (each character to one, as
 *	u_foldCase; CaseFolding.txt status C and S), not the full one of
 *	u_strFoldCase: the folded identity is also what the directory is
 *	searched for, and directories fold "Straße" to "straße", not to
 *	"strasse", so full folding would lose people a directory finds.
 *	Buffers hold four UTF-16 units per input byte: normalising can grow a
 *	string, and anything that grows past them or past CB_IDENTITY_MAX bytes
 *	of UTF-8 is refused as too long.
 */
#define FOLD_UNITS (4 * CB_IDENTITY_MAX)

/** simple_fold - src[0..n) folded character by character into dst; its length, or -1 when it does not fit. */
static int32_t simple_fold(UChar const *src, int32_t n, UChar *dst, int32_t cap)
{
	int32_t i = 0, j = 0;

	while (i < n) {
		UChar32 c;
		UBool bad = false;

		U16_NEXT(src, i, n, c);
		c = u_foldCase(c, U_FOLD_CASE_DEFAULT);
		if (j + U16_LENGTH(c) > cap) return -1;
		U16_APPEND(dst, j, cap, c, bad);
		if (bad) return -1;
	}
	return j;
}

/**
 * fold_ascii - in[0..len) lower-cased into out when every byte is ASCII (for
 * ASCII, NFD and NFC change nothing and the default case folding maps only
 * A-Z, so this is what the Unicode path gives, without ICU); false otherwise.
 */
static bool fold_ascii(char const *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char) in[i] >= 0x80) return false;
	}
	for (size_t i = 0; i < len; i++) out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char) (in[i] - 'A' + 'a') : in[i];
	out[len] = '\0';
	return true;
}

static cb_identity_result_t fold(char const *in, size_t len, char *out, size_t outlen)
{
	UChar a[FOLD_UNITS], b[FOLD_UNITS];
	UErrorCode err = U_ZERO_ERROR;
	UNormalizer2 const *nfd, *nfc;
	int32_t n = 0;

	out[0] = '\0';
	if (len > CB_IDENTITY_MAX || outlen < 2) return CB_IDENTITY_TOO_LONG;
	if (len < outlen && fold_ascii(in, len, out)) return CB_IDENTITY_OK;
	nfd = unorm2_getNFDInstance(&err);
	nfc = unorm2_getNFCInstance(&err);
	if (U_FAILURE(err)) return CB_IDENTITY_TOO_LONG;
	u_strFromUTF8(a, FOLD_UNITS, &n, in, (int32_t) len, &err);
	if (U_SUCCESS(err)) n = unorm2_normalize(nfd, a, n, b, FOLD_UNITS, &err);
	if (U_SUCCESS(err) && (n = simple_fold(b, n, a, FOLD_UNITS)) < 0) err = U_BUFFER_OVERFLOW_ERROR;
	if (U_SUCCESS(err)) n = unorm2_normalize(nfc, a, n, b, FOLD_UNITS, &err);
	if (err == U_INVALID_CHAR_FOUND || err == U_ILLEGAL_CHAR_FOUND) return CB_IDENTITY_BAD_UTF8;
	if (U_FAILURE(err) || n >= FOLD_UNITS) return CB_IDENTITY_TOO_LONG;
	u_strToUTF8(out, (int32_t) (outlen - 1), &n, b, n, &err);
	if (U_FAILURE(err) || n < 0 || (size_t) n > CB_IDENTITY_MAX || (size_t) n >= outlen) {
		out[0] = '\0';
		return CB_IDENTITY_TOO_LONG;
	}
	out[n] = '\0';
	return CB_IDENTITY_OK;
}

static size_t count_char(char const *in, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) n += (in[i] == c);
	return n;
}

/** listed - the folded name[0..len) is one of list's entries, folded the same way. */
static bool listed(cb_strlist_t const *list, char const *name, size_t len)
{
	char entry[CB_IDENTITY_MAX + 1];

	for (size_t i = 0; i < list->n; i++) {
		char const *v = list->v[i];

		if (!v || fold(v, strlen(v), entry, sizeof(entry)) != CB_IDENTITY_OK) continue;
		if (strlen(entry) == len && memcmp(entry, name, len) == 0) return true;
	}
	return false;
}

bool cb_identity_strip_name_ok(char const *name)
{
	size_t len = name ? strlen(name) : 0;

	return len && len <= CB_IDENTITY_MAX && check_text(name, len) == CB_IDENTITY_OK &&
	       !strpbrk(name, " \\@");
}

/**
 * strip - take the listed DOMAIN\ prefix and @realm suffix off the folded
 * identity in place.  At most one of each, and neither may leave a part empty.
 */
static cb_identity_result_t strip(cb_identity_conf_t const *conf, char *id)
{
	size_t len = strlen(id);
	char *bs, *at;

	if (count_char(id, len, '\\') > 1 || count_char(id, len, '@') > 1) return CB_IDENTITY_BAD_FORM;
	bs = memchr(id, '\\', len);
	at = memchr(id, '@', len);
	if (bs && at == bs + 1) return CB_IDENTITY_BAD_FORM;	/* DOMAIN\@realm: no user. */
	if (bs) {
		if (bs == id || bs == id + len - 1) return CB_IDENTITY_BAD_FORM;
		if (listed(&conf->strip_domains, id, (size_t) (bs - id))) {
			len -= (size_t) (bs + 1 - id);
			memmove(id, bs + 1, len + 1);
		}
	}
	at = memchr(id, '@', len);
	if (at) {
		if (at == id || at == id + len - 1) return CB_IDENTITY_BAD_FORM;
		if (listed(&conf->strip_realms, at + 1, len - (size_t) (at + 1 - id))) *at = '\0';
	}
	return id[0] ? CB_IDENTITY_OK : CB_IDENTITY_BAD_FORM;
}

cb_identity_result_t cb_identity_normalise(cb_identity_conf_t const *conf, char const *in, size_t len,
					   char *out, size_t outlen)
{
	cb_identity_result_t rcode;
	size_t max = conf->max_length ? conf->max_length : CB_IDENTITY_MAX;

	if (outlen) out[0] = '\0';
	if (outlen < CB_IDENTITY_MAX + 1) return CB_IDENTITY_TOO_LONG;
	if (max > CB_IDENTITY_MAX) max = CB_IDENTITY_MAX;
	if (len > max) return CB_IDENTITY_TOO_LONG;

	rcode = check_text(in, len);
	if (rcode == CB_IDENTITY_OK) rcode = fold(in, len, out, outlen);
	if (rcode == CB_IDENTITY_OK) rcode = strip(conf, out);
	if (rcode != CB_IDENTITY_OK) out[0] = '\0';
	return rcode;
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
	if (fold(domain, dlen, buf + ilen + 1, len - ilen - 1) != CB_IDENTITY_OK) return false;
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

	if (len == 0 || len > CB_IDENTITY_MAX || outlen < CB_IDENTITY_MAX + 1) return false;
	if (check_text(in, len) != CB_IDENTITY_OK) return false;
	if (count_char(in, len, '@') != 1) return false;
	at = memchr(in, '@', len);
	if (at == in || at == in + len - 1) return false;
	if (memchr(in, ' ', len)) return false;
	return fold(in, len, out, outlen) == CB_IDENTITY_OK;
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
