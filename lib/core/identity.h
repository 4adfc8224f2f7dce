/*
 * identity.h - checking and normalising the identity a person authenticated as.
 *
 * The identity comes from a RADIUS attribute: up to 253 arbitrary bytes.  It
 * is checked (no NUL, no control characters, valid UTF-8, not over-long,
 * one realm at most) before it is used as a key or put in a directory
 * search, and normalised as configured: DOMAIN\user and user@realm forms,
 * ASCII lower case.
 */
#ifndef CETBYOD_IDENTITY_H
#define CETBYOD_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CB_IDENTITY_MAX 253	/* RFC 2865 attribute limit. */

typedef struct {
	bool	strip_realm;	/* user@realm -> user. */
	bool	strip_domain;	/* DOMAIN\user -> user. */
	size_t	max_length;	/* Longest identity accepted, in bytes (1..253). */
} cb_identity_conf_t;

typedef enum {
	CB_IDENTITY_OK = 0,
	CB_IDENTITY_EMPTY,
	CB_IDENTITY_TOO_LONG,
	CB_IDENTITY_NUL,
	CB_IDENTITY_CONTROL,
	CB_IDENTITY_BAD_UTF8,
	CB_IDENTITY_BAD_FORM
} cb_identity_result_t;

/**
 * cb_identity_normalise - check in[0..len) and write its normal form to out.
 * out must hold CB_IDENTITY_MAX + 1 bytes.  On any result but OK, out is
 * the empty string and the input must not be used.
 */
cb_identity_result_t cb_identity_normalise(cb_identity_conf_t const *conf, char const *in, size_t len,
					   char *out, size_t outlen);

/** cb_identity_error - what is wrong, in words, for the log. */
char const *cb_identity_error(cb_identity_result_t result);

/**
 * cb_identity_email - the email address that keys a person's acknowledgement
 * when the directory gives none: the identity itself when it has a realm,
 * else identity@domain.  Returns false when neither applies or buf is short.
 */
bool cb_identity_email(char const *identity, char const *domain, char *buf, size_t len);

/**
 * cb_utf8_decode - decode the UTF-8 sequence at p (p < end) into *cp.
 * Returns its length, or 0 when it is invalid (overlong, a surrogate, past
 * U+10FFFF, cut short); *cp is then unchanged.  The one UTF-8 decoder of the
 * project.
 */
size_t cb_utf8_decode(unsigned char const *p, unsigned char const *end, uint32_t *cp);

/**
 * cb_utf8_char_len - length of the valid UTF-8 sequence at p (p < end), 0
 * when invalid (overlong, surrogate, past U+10FFFF, cut short).  *control is
 * set for C0 controls, DEL and the C1 controls U+0080..U+009F.
 */
size_t cb_utf8_char_len(unsigned char const *p, unsigned char const *end, bool *control);

/** cb_text_valid - in[0..len) is valid UTF-8 without NUL or control characters. */
bool cb_text_valid(char const *in, size_t len);

/** cb_email_normalise - lower-case copy of an email address, checked like an identity. */
bool cb_email_normalise(char const *in, size_t len, char *out, size_t outlen);

#endif
