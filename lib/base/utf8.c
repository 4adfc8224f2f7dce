/*
 * utf8.c - the UTF-8 decoder and text check (see utf8.h).
 */
#include <string.h>

#include "base/utf8.h"

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

cb_utf8_result_t cb_utf8_check(char const *in, size_t len)
{
	unsigned char const *p = (unsigned char const *) in, *end = p + len;

	if (len && memchr(in, '\0', len)) return CB_UTF8_NUL;
	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control);

		if (n == 0) return CB_UTF8_BAD;
		if (control) return CB_UTF8_CONTROL;
		p += n;
	}
	return CB_UTF8_OK;
}

bool cb_utf8_text_valid(char const *in, size_t len)
{
	return cb_utf8_check(in, len) == CB_UTF8_OK;
}

/** put_hex - "\xNN" for byte b at out + o; returns the new offset. */
static size_t put_hex(char *out, size_t o, unsigned char b)
{
	static char const hex[] = "0123456789abcdef";

	out[o++] = '\\';
	out[o++] = 'x';
	out[o++] = hex[b >> 4];
	out[o++] = hex[b & 0x0f];
	return o;
}

char const *cb_utf8_escape(char const *s, char *out, size_t outlen)
{
	unsigned char const *p = (unsigned char const *) (s ? s : ""), *end = p + strlen((char const *) p);
	size_t o = 0;

	if (outlen == 0) return "";
	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control), i;

		if (n == 0 || control) {
			if (n == 0) n = 1;
			if (o + 4 * n >= outlen) break;
			for (i = 0; i < n; i++) o = put_hex(out, o, p[i]);
		} else {
			if (o + n >= outlen) break;
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
	return out;
}
