/*
 * mac.c - the one MAC-address rule of the project (see mac.h).
 */
#include "base/mac.h"

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char upper_hex(char c)
{
	return (c >= 'a' && c <= 'f') ? (char) (c - 'a' + 'A') : c;
}

size_t cb_mac_at(char const *s, char digits[12])
{
	size_t n = 0, pos = 0, group = 0;
	char sep = '\0';

	if (!s || !is_hex(s[0]) || !is_hex(s[1])) return 0;
	if (s[2] == '-' || s[2] == ':') {
		sep = s[2];		/* aa-bb-cc-dd-ee-ff, aa:bb:cc:dd:ee:ff */
		group = 2;
	} else if (is_hex(s[2]) && is_hex(s[3]) && s[4] == '.') {
		sep = '.';		/* aabb.ccdd.eeff */
		group = 4;
	}
	while (n < 12) {
		if (!is_hex(s[pos])) return 0;
		digits[n++] = upper_hex(s[pos++]);
		if (sep && n < 12 && n % group == 0) {
			if (s[pos] != sep) return 0;
			pos++;
		}
	}
	return pos;
}

void cb_mac_format(char const digits[12], char out[CB_MAC_LEN + 1])
{
	size_t o = 0;

	for (size_t i = 0; i < 12; i++) {
		out[o++] = digits[i];
		if (i % 2 == 1 && i < 11) out[o++] = '-';
	}
	out[o] = '\0';
}

bool cb_mac_normalise(char const *in, char out[CB_MAC_LEN + 1])
{
	char digits[12];
	size_t len;

	out[0] = '\0';
	len = cb_mac_at(in, digits);
	if (!len || in[len] != '\0') return false;
	cb_mac_format(digits, out);
	return true;
}
