/*
 * mac.h - the one MAC-address rule of the project.
 *
 * A MAC is accepted in the spellings NASes and admins use, with one
 * separator used consistently, in either case:
 *
 *	aa-bb-cc-dd-ee-ff	aa:bb:cc:dd:ee:ff	aabb.ccdd.eeff	aabbccddeeff
 *
 * and is always kept and shown as AA-BB-CC-DD-EE-FF (RFC 3580 section 3.21).
 * Mixed separators ("aa:bb-cc..."), missing or extra digits, and anything
 * after the address are refused.  The same rule serves Calling-Station-Id,
 * the AP part of Called-Station-Id, `exception add --mac` and
 * `audit query --mac`.
 */
#ifndef CETBYOD_BASE_MAC_H
#define CETBYOD_BASE_MAC_H

#include <stdbool.h>
#include <stddef.h>

#define CB_MAC_LEN	17	/* AA-BB-CC-DD-EE-FF, without the NUL. */

/**
 * cb_mac_at - parse a MAC at the start of s (it may be followed by more text,
 * as in Called-Station-Id "AA-BB-CC-DD-EE-FF:SSID").
 * Returns: the number of bytes of s the MAC took, with its 12 hex digits in
 * upper case in digits; 0 when s does not start with a MAC (digits undefined).
 */
size_t cb_mac_at(char const *s, char digits[12]);

/** cb_mac_format - 12 hex digits as AA-BB-CC-DD-EE-FF (out: CB_MAC_LEN + 1 bytes). */
void cb_mac_format(char const digits[12], char out[CB_MAC_LEN + 1]);

/**
 * cb_mac_normalise - the whole of in as one MAC in the canonical form.
 * Returns: true with out filled; false (out = "") when in is NULL, empty or
 * not exactly one MAC by the rule above.
 */
bool cb_mac_normalise(char const *in, char out[CB_MAC_LEN + 1]);

#endif
