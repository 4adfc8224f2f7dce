/*
 * identity.h - checking and normalising the identity a person authenticated as.
 *
 * The identity comes from a RADIUS attribute: up to 253 arbitrary bytes.  It
 * is checked (no NUL, no control characters, valid UTF-8, not over-long,
 * one realm at most) before it is used as a key or put in a directory
 * search, and normalised: Unicode default case folding and NFC, so that
 * "Élise", "élise", "ÉLISE" and the decomposed "E\u0301lise" are one key
 * (revocations, sessions, exceptions, decisions), as they are one entry in a
 * directory that matches names case-insensitively; then the DOMAIN\ prefix
 * and the @realm suffix are taken off when the domain or realm is one of
 * those configured, and kept otherwise ("other\alice" stays another
 * person).  Email addresses from the sources and the directory are checked
 * and folded by the same rule.
 */
#ifndef CETBYOD_CORE_IDENTITY_H
#define CETBYOD_CORE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strlist.h"

#define CB_IDENTITY_MAX 253	/* RFC 2865 attribute limit. */

typedef struct {
	cb_strlist_t	strip_domains;	/* DOMAIN\user -> user for these domains (any case); others kept. */
	cb_strlist_t	strip_realms;	/* user@realm -> user for these realms (any case); others kept. */
	size_t		max_length;	/* Longest identity accepted, in bytes (1..253); 0: 253. */
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

/**
 * cb_identity_strip_name_ok - name may be listed in strip_domains or
 * strip_realms: non-empty valid UTF-8 text, no control character, space,
 * '\' or '@', at most CB_IDENTITY_MAX bytes.
 */
bool cb_identity_strip_name_ok(char const *name);

/** cb_identity_error - what is wrong, in words, for the log. */
char const *cb_identity_error(cb_identity_result_t result);

/**
 * cb_identity_email - the email address that keys a person's acknowledgement
 * when the directory gives none: the identity itself when it has a realm,
 * else identity@domain.  Returns false when neither applies or buf is short.
 */
bool cb_identity_email(char const *identity, char const *domain, char *buf, size_t len);

/**
 * cb_identity_email_normalise - folded copy (as identities are) of an email
 * address trimmed of spaces and tabs, checked like an identity: one @ with
 * text on both sides, no spaces.  Returns false (out unusable) for anything
 * else.
 */
bool cb_identity_email_normalise(char const *in, size_t len, char *out, size_t outlen);

/* Room for any identity escaped: four bytes per input byte, the NUL. */
#define CB_IDENTITY_ESCAPED_MAX (4 * CB_IDENTITY_MAX + 1)

/**
 * cb_identity_escape - in[0..len) (any bytes, hostile) as text for one log
 * line: printable ASCII and valid UTF-8 other than controls as they are,
 * '"' and '\' after a '\', every other byte as '\' and three octal digits
 * ("ca\001rl").  Writes at most outlen bytes with the NUL (outlen >= 4);
 * what does not fit is cut at a whole character and marked "...".  Returns out.
 */
char const *cb_identity_escape(char const *in, size_t len, char *out, size_t outlen);

#endif
