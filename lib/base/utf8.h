/*
 * utf8.h - the one UTF-8 decoder of the project, and the check every piece
 * of outside text passes before it is used (identities, email addresses,
 * directory values, audit fields, reminder text).
 *
 * Valid means RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no sequence cut short.  Lengths are explicit: nothing here
 * reads past the end it is given.
 */
#ifndef CETBYOD_BASE_UTF8_H
#define CETBYOD_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	CB_UTF8_OK = 0,		/* Valid UTF-8 without NUL or control characters (or empty). */
	CB_UTF8_NUL,		/* A NUL byte. */
	CB_UTF8_CONTROL,	/* A C0 control, DEL, or a C1 control U+0080..U+009F. */
	CB_UTF8_BAD		/* Not valid UTF-8. */
} cb_utf8_result_t;

/**
 * cb_utf8_decode - decode the UTF-8 sequence at p (p < end) into *cp.
 * Returns its length, or 0 when it is invalid (overlong, a surrogate, past
 * U+10FFFF, cut short); *cp is then unchanged.
 */
size_t cb_utf8_decode(unsigned char const *p, unsigned char const *end, uint32_t *cp);

/**
 * cb_utf8_char_len - length of the valid UTF-8 sequence at p (p < end), 0
 * when invalid (overlong, surrogate, past U+10FFFF, cut short).  *control is
 * set for C0 controls, DEL and the C1 controls U+0080..U+009F.
 */
size_t cb_utf8_char_len(unsigned char const *p, unsigned char const *end, bool *control);

/**
 * cb_utf8_check - what is wrong with in[0..len): a NUL anywhere first, then
 * the first invalid sequence or control character; CB_UTF8_OK when nothing.
 */
cb_utf8_result_t cb_utf8_check(char const *in, size_t len);

/**
 * cb_utf8_escape - s for a terminal or a spreadsheet, into out: each byte
 * of a C0 control (TAB, CR, LF and ESC included), DEL, a C1 control
 * U+0080..U+009F, or an invalid sequence as "\xHH" (lower-case hex); the
 * rest unchanged.  Stops at a character that does not fit; out always
 * ends with NUL.  CB_UTF8_ESCAPE_LEN(strlen(s)) bytes always suffice.
 * Returns out.
 */
char const *cb_utf8_escape(char const *s, char *out, size_t outlen);
#define CB_UTF8_ESCAPE_LEN(n)	(4 * (n) + 1)

/** cb_utf8_text_valid - in[0..len) is valid UTF-8 without NUL or control characters (empty is valid). */
bool cb_utf8_text_valid(char const *in, size_t len);

#endif
