/*
 * values.c - what the store accepts and how it spells it: the text checks
 * every backend relies on, class ids and the Class attribute,
 * Called-Station-Id, the store's path, and the names of its enums.  Pure
 * functions, no state.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/mac.h"
#include "base/utf8.h"
#include "store/store_int.h"

/*
 *	Names, as the store writes them
 */
cb_name_t const cb_store_disc_kind_names[] = {
	{ "disconnect", CB_DISC_DISCONNECT },
	{ "coa", CB_DISC_COA },
	{ NULL, -1 }
};

cb_name_t const cb_store_disc_state_names[] = {
	{ "pending", CB_DISC_PENDING },
	{ "held", CB_DISC_HELD },
	{ "done", CB_DISC_DONE },
	{ "failed", CB_DISC_FAILED },
	{ "cancelled", CB_DISC_CANCELLED },
	{ NULL, -1 }
};

cb_name_t const cb_store_disc_result_names[] = {
	{ "", CB_DISC_NONE },
	{ "acked", CB_DISC_ACKED },
	{ "nak", CB_DISC_NAK },
	{ "timeout", CB_DISC_TIMEOUT },
	{ NULL, -1 }
};

static cb_name_t const cmd_names[] = {
	{ "sync", CB_CMD_SYNC },
	{ "sync-full", CB_CMD_SYNC_FULL },
	{ "confirm", CB_CMD_CONFIRM },
	{ "accept-mass-removal", CB_CMD_ACCEPT_MASS_REMOVAL },
	{ "enforce", CB_CMD_ENFORCE },
	{ NULL, -1 }
};


char const *cb_disc_kind_name(cb_disc_kind_t kind)
{
	return cb_name_of(cb_store_disc_kind_names, (int) kind, "?");
}

char const *cb_disc_state_name(cb_disc_state_t state)
{
	return cb_name_of(cb_store_disc_state_names, (int) state, "?");
}

char const *cb_disc_result_name(cb_disc_result_t result)
{
	return cb_name_of(cb_store_disc_result_names, (int) result, "?");
}

char const *cb_cmd_name(cb_cmd_t cmd)
{
	return cb_name_of(cmd_names, (int) cmd, "?");
}

int cb_cmd_from_name(char const *name)
{
	return cb_name_value(cmd_names, name, -1);
}

/*
 *	Text checks
 */

/** utf8_char - length of the valid UTF-8 sequence at p (before end), 0 when invalid; *cp gets the code point. */
static size_t utf8_char(unsigned char const *p, unsigned char const *end, uint32_t *cp)
{
	return cb_utf8_decode(p, end, cp);
}

bool cb_store_text_valid(char const *s, size_t max)
{
	unsigned char const *p, *end;
	size_t len;

	if (!s) return false;
	len = strlen(s);
	if (len == 0 || len > max) return false;
	p = (unsigned char const *) s;
	end = p + len;
	while (p < end) {
		uint32_t cp;
		size_t n = utf8_char(p, end, &cp);

		if (n == 0) return false;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
		p += n;
	}
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool cb_store_class_id_valid(char const *s)
{
	size_t i;

	if (!s) return false;
	for (i = 0; i < CB_CLASS_ID_LEN; i++) {
		if (!is_hex(s[i]) || (s[i] >= 'A' && s[i] <= 'F')) return false;
	}
	return s[CB_CLASS_ID_LEN] == '\0';
}

/*
 *	Class values
 */
int cb_store_new_class_id(char out[CB_CLASS_ID_LEN + 1])
{
	static char const hex[] = "0123456789abcdef";
	unsigned char raw[CB_CLASS_ID_LEN / 2];
	size_t i;

	out[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1) return -1;
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0x0f];
	}
	out[CB_CLASS_ID_LEN] = '\0';
	return 0;
}

bool cb_store_class_format(char const *class_id, char *buf, size_t len)
{
	size_t plen = sizeof(CB_CLASS_PREFIX) - 1;

	if (!cb_store_class_id_valid(class_id) || len < CB_CLASS_ATTR_LEN + 1) return false;
	memcpy(buf, CB_CLASS_PREFIX, plen);
	memcpy(buf + plen, class_id, CB_CLASS_ID_LEN + 1);
	return true;
}

bool cb_store_class_parse(char const *value, size_t len, char out[CB_CLASS_ID_LEN + 1])
{
	size_t plen = sizeof(CB_CLASS_PREFIX) - 1, i;

	out[0] = '\0';
	if (!value || len != CB_CLASS_ATTR_LEN || memcmp(value, CB_CLASS_PREFIX, plen) != 0) return false;
	for (i = 0; i < CB_CLASS_ID_LEN; i++) {
		char c = value[plen + i];

		if (!is_hex(c)) {
			out[0] = '\0';
			return false;
		}
		out[i] = (c >= 'A' && c <= 'F') ? (char) (c - 'A' + 'a') : c;
	}
	out[CB_CLASS_ID_LEN] = '\0';
	return true;
}

/*
 *	Called-Station-Id and the path
 */
bool cb_store_split_called_station(char const *called, char *ap, char *ssid)
{
	char digits[12];
	size_t len;

	ap[0] = ssid[0] = '\0';
	if (!called || strlen(called) > CB_STORE_TEXT_MAX) return false;
	len = cb_mac_at(called, digits);
	if (!len || (called[len] != '\0' && called[len] != ':')) return false;
	cb_mac_format(digits, ap);
	if (called[len] == ':') {
		size_t slen = strlen(called + len + 1);

		memcpy(ssid, called + len + 1, slen + 1);
	}
	return true;
}

bool cb_store_path(char const *state_dir, char *buf, size_t len)
{
	int n;

	if (!state_dir || !*state_dir) return false;
	n = snprintf(buf, len, "%s%s%s", state_dir,
		     state_dir[strlen(state_dir) - 1] == '/' ? "" : "/", CB_STORE_FILE);
	return n > 0 && (size_t) n < len;
}

/*
 *	Exceptions and people
 */
bool cb_store_exception_in_force(cb_store_exception_t const *x, time_t now)
{
	return x && x->ended_at == 0 && now < x->until;
}

/** opt_text_ok - NULL, "", or cb_store_text_valid. */
static bool opt_text_ok(char const *s, size_t max)
{
	return !s || !*s || cb_store_text_valid(s, max);
}

bool cb_store_role_valid(char const *s)
{
	size_t len = strlen(s);

	if (len == 0) return true;
	if (len > 32 || s[0] < 'a' || s[0] > 'z') return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-')) {
			return false;
		}
	}
	return true;
}

bool cb_store_person_valid(cb_store_person_t const *p)
{
	return cb_store_text_valid(p->identity, CB_STORE_TEXT_MAX) && opt_text_ok(p->email, CB_STORE_TEXT_MAX) &&
	       cb_store_role_valid(p->role) &&
	       opt_text_ok(p->exception_reason, CB_STORE_REASON_MAX) &&
	       opt_text_ok(p->exception_approved_by, CB_STORE_BY_MAX) &&
	       opt_text_ok(p->policy_version, CB_STORE_NAME_MAX) && opt_text_ok(p->status, CB_STORE_NAME_MAX) &&
	       opt_text_ok(p->reason, CB_STORE_NAME_MAX);
}

bool cb_store_hash_valid(char const *s)
{
	size_t i;

	if (!s || strlen(s) != CB_STORE_HASH_HEX) return false;
	for (i = 0; i < CB_STORE_HASH_HEX; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
	}
	return true;
}

int cb_store_acct_resolve(cb_store_backend_t *be,
			  int (*decision_get)(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out),
			  cb_store_acct_t const *a, cb_store_acct_extra_t *x)
{
	memset(x, 0, sizeof(*x));
	if (a->identity && *a->identity) snprintf(x->identity, sizeof(x->identity), "%s", a->identity);
	if (a->decision) {
		/* A verified keyed Class: its decision, without reading one. */
		if (!x->identity[0]) memcpy(x->identity, a->decision->identity, sizeof(x->identity));
		memcpy(x->status, a->decision->status, sizeof(x->status));
		x->valid_until = a->decision->valid_until;
	} else if (a->class_id && *a->class_id) {
		cb_store_decision_t d;
		int rc = decision_get(be, a->class_id, &d);

		if (rc < 0) return -1;
		if (rc == 0) {
			if (!x->identity[0]) memcpy(x->identity, d.identity, sizeof(x->identity));
			memcpy(x->status, d.status, sizeof(x->status));
			x->valid_until = d.valid_until;
		}
	}
	cb_store_split_called_station(a->called_station, x->ap, x->ssid);
	return 0;
}
