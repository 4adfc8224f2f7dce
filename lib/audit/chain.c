/*
 * chain.c - the audit trail's records and their hash chain: building a
 * record from an event, its canonical form, and the line that carries its
 * hash and the previous record's.  The writer (writer.c) chains and
 * writes them; verify.c checks them.
 *
 * What it is for.  The school's policy says network use is logged, breaches
 * are investigated and exceptions are recorded.  An investigator asks "who
 * had which device on the network, when, and on what acknowledgement", and
 * must be able to trust that nobody quietly edited the answer.  So every
 * event (decision, session start and stop, revocation, exception, sync,
 * disconnect attempt) becomes one line of JSON in a file, and every line
 * carries the hash of the line before it.
 *
 * The record.  One JSON object per line, members in any order, values only
 * strings, integers, booleans and null (no floating point: it has no single
 * text form).  Every record has:
 *   seq    1, 2, 3, ... without gaps, for the life of the trail (rotation
 *          does not restart it);
 *   prev   the previous record's hash ("000...0", 64 zeros, for seq 1);
 *   type   "decision", "session_start", ... (cb_audit_type_name);
 *   time   when it happened, RFC 3339 UTC ("2026-11-24T10:14:03Z");
 *   hash   SHA-256 of the record's canonical form, as 64 hex digits;
 * and the event's own fields (audit.h lists them per type).  The canonical
 * form is the record without "hash", keys sorted bytewise, written by
 * json-c with JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE.  The
 * line on disk is that canonical form with ,"hash":"..." added before the
 * closing brace, so a reader can recompute the hash from the line alone,
 * and a change of spacing or key order by a text editor that keeps the
 * content leaves the hash valid (the content is what is protected).
 *
 * A worked example.  The trail starts; the first event is a decision:
 *
 *   canonical C1 = {"identity":"alice","prev":"0000...0000","reason":"acknowledged",
 *                   "seq":1,"status":"admit","time":"2026-11-24T10:14:03Z","type":"decision"}
 *   H1 = SHA-256(C1) = "5e1f...", say
 *   line 1 = C1 minus its "}" + ,"hash":"5e1f..."}
 *
 * Then alice's laptop starts a session:
 *
 *   C2 = {"framed_ip":"10.20.30.40","identity":"alice",...,"prev":"5e1f...","seq":2,...}
 *   H2 = SHA-256(C2), line 2 = C2 + hash H2.
 *
 * Verify reads line 2, recomputes SHA-256 over its canonical form and
 * compares with its "hash" (catches an edit of line 2), checks that its
 * "prev" equals line 1's hash (catches line 1 edited with its hash
 * recomputed, or replaced), and that its seq is one more (catches a deleted
 * or moved line).  A last line without its newline was cut short.  After
 * rotation, cetbyod-audit.jsonl.1 ends with seq 41 and hash H41, and the
 * new cetbyod-audit.jsonl starts with seq 42 and prev H41: verify, given
 * the files oldest first, follows the chain across them.  When the oldest
 * files have been deleted by retention, the chain simply starts later.
 *
 * The keyed chain (audit { hmac_key_file }).  With a key, a record also
 * holds "chain": "hmac-sha256" (inside its canonical form, so it cannot be
 * stripped unseen) and its "hash" is HMAC-SHA256(key, canonical form);
 * since the canonical form holds "prev", each link is HMAC(key, prev ||
 * record).  Records without "chain" are plain SHA-256 (the default, and
 * every record older versions wrote).  Verified with the key, every record
 * from the first keyed one on must be keyed, the last included, so a
 * history rewritten as plain SHA-256 records fails.  The key is held where
 * the FreeRADIUS user can read but not write it (root-owned, 0640):
 * someone with the service's rights can still append and delete the
 * newest records (the store's copy and syslog show the latter), but not
 * rewrite history undetected; someone who can read the key can.
 *
 * What the plain chain does not do: someone who can rewrite the whole file can
 * recompute every hash.  The copies that live elsewhere are the anchors:
 * the database table (each row holds its record and hash, and verify
 * compares the file's last record with the table's), and syslog when it
 * is on (sent to another machine, it is out of reach of a local editor).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit/audit_int.h"
#include "base/name.h"
#include "base/utf8.h"
#include "core/tz.h"

static cb_name_t const type_names[] = {
	{ "decision", CB_AUDIT_DECISION },
	{ "session_start", CB_AUDIT_SESSION_START },
	{ "session_stop", CB_AUDIT_SESSION_STOP },
	{ "revoke", CB_AUDIT_REVOKE },
	{ "reinstate", CB_AUDIT_REINSTATE },
	{ "exception_grant", CB_AUDIT_EXCEPTION_GRANT },
	{ "exception_end", CB_AUDIT_EXCEPTION_END },
	{ "sync", CB_AUDIT_SYNC },
	{ "disconnect", CB_AUDIT_DISCONNECT },
	{ "audit_start", CB_AUDIT_AUDIT_START },
	{ "audit_gap", CB_AUDIT_AUDIT_GAP },
	{ "reminder", CB_AUDIT_REMINDER },
	{ "sharing", CB_AUDIT_SHARING },
	{ "devices_forget", CB_AUDIT_DEVICES_FORGET },
	{ NULL, -1 }
};

char const *cb_audit_type_name(cb_audit_type_t type)
{
	return cb_name_of(type_names, (int) type, "?");
}

int cb_audit_type_from_name(char const *name)
{
	return cb_name_value(type_names, name, -1);
}

char const *cb_audit_strerror(int e, char *buf, size_t len)
{
	if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "error %d", e);
	return buf;
}

/*
 *	Text
 */

/** utf8_len - length of the valid UTF-8 sequence at p (before end), 0 when invalid. */
static size_t utf8_len(unsigned char const *p, unsigned char const *end)
{
	uint32_t cp;

	return cb_utf8_decode(p, end, &cp);
}

/** ascii_within - whether p..end is ASCII and no longer than a field may be (the usual text: taken as it is). */
static bool ascii_within(unsigned char const *p, unsigned char const *end)
{
	if (end - p > CB_AUDIT_FIELD_MAX) return false;
	for (; p < end; p++) {
		if (*p & 0x80) return false;
	}
	return true;
}

/**
 * cb_audit_jtext - s as a JSON string: invalid UTF-8 as U+FFFD, at most
 * CB_AUDIT_FIELD_MAX bytes (cut at a character; *cut set).  NULL on
 * allocation failure.
 */
json_object *cb_audit_jtext(char const *s, bool *cut)
{
	unsigned char const *p = (unsigned char const *) s, *end = p + strlen(s);
	char buf[CB_AUDIT_FIELD_MAX + 4];
	size_t o = 0;

	if (ascii_within(p, end)) return json_object_new_string_len(s, (int) (end - p));	/* Nothing to mend or cut. */

	while (p < end) {
		size_t n = utf8_len(p, end);
		unsigned char const *src = p;

		if (n == 0) {
			src = (unsigned char const *) "\xef\xbf\xbd";
			n = 3;
			p++;
		} else {
			p += n;
		}
		if (o + n > CB_AUDIT_FIELD_MAX) {
			*cut = true;
			break;
		}
		memcpy(buf + o, src, n);
		o += n;
	}
	return json_object_new_string_len(buf, (int) o);
}

/*
 *	Building records
 *
 *	The members are collected first (key, value), then made into one
 *	object: in the order put for cb_audit_event_json, sorted for
 *	cb_audit_chain_event, which so builds the record's canonical form
 *	directly (one object, no copy, no lookup).  Keys are string literals
 *	(JSON_C_OBJECT_KEY_IS_CONSTANT: json-c does not copy them).
 */
#define REC_MEMBERS	64		/* More than an event has (44), with seq, prev and chain. */

typedef struct {
	char const	*key[REC_MEMBERS];
	json_object	*val[REC_MEMBERS];
	size_t		n;
	bool		cut;
	bool		failed;
} rec_t;

static void put(rec_t *r, char const *key, json_object *v)
{
	if (!v || r->n >= REC_MEMBERS) {
		json_object_put(v);
		r->failed = true;
		return;
	}
	r->key[r->n] = key;
	r->val[r->n++] = v;
}

/** rec_clear - o emptied of its members (their values put); its table keeps its size, its text buffer too. */
static void rec_clear(json_object *o)
{
	struct lh_table *t = json_object_get_object(o);
	struct lh_entry *e, *next;

	lh_foreach_safe(t, e, next) lh_table_delete_entry(t, e);
}

/**
 * rec_object - r's members as one object, in r's order; r is emptied.
 * With into (an empty object), the members go there and into is returned
 * (the caller keeps its reference); else a new object.  NULL on allocation
 * failure (into emptied again).
 */
static json_object *rec_object(rec_t *r, json_object *into)
{
	json_object *o = r->failed ? NULL : into ? into : json_object_new_object();
	size_t i;

	for (i = 0; o && i < r->n; i++) {
		if (json_object_object_add_ex(o, r->key[i], r->val[i],
					      JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT) != 0) {
			if (o == into) rec_clear(o);
			else json_object_put(o);
			o = NULL;
		}
	}
	if (!o) {
		for (; i < r->n; i++) json_object_put(r->val[i]);	/* Those not taken by o. */
	}
	r->n = 0;
	return o;
}

/** rec_sort - r's members in bytewise key order (an insertion sort: a record has few). */
static void rec_sort(rec_t *r)
{
	for (size_t i = 1; i < r->n; i++) {
		char const *k = r->key[i];
		json_object *v = r->val[i];
		size_t j = i;

		for (; j > 0 && strcmp(r->key[j - 1], k) > 0; j--) {
			r->key[j] = r->key[j - 1];
			r->val[j] = r->val[j - 1];
		}
		r->key[j] = k;
		r->val[j] = v;
	}
}

static void put_str(rec_t *r, char const *key, char const *s)
{
	if (s && *s) put(r, key, cb_audit_jtext(s, &r->cut));
}

static void put_time(rec_t *r, char const *key, time_t t)
{
	char buf[32];

	if (t) put(r, key, json_object_new_string(cb_tz_format_utc(t, buf, sizeof(buf))));
}

static void put_int(rec_t *r, char const *key, int64_t v)
{
	put(r, key, json_object_new_int64(v));
}

/** put_who - the fields that say who and where. */
static void put_who(rec_t *r, cb_audit_event_t const *ev)
{
	put_str(r, "identity", ev->identity);
	put_str(r, "outer_identity", ev->outer_identity);
	put_str(r, "calling_station", ev->calling_station);
	if (ev->called_station && *ev->called_station) {
		char ap[CB_STORE_TEXT_MAX + 1], ssid[CB_STORE_TEXT_MAX + 1];

		put_str(r, "called_station", ev->called_station);
		if (cb_store_split_called_station(ev->called_station, ap, ssid)) {
			put_str(r, "ap", ap);
			put_str(r, "ssid", ssid);
		}
	}
	put_str(r, "nas", ev->nas);
	put_str(r, "class_id", ev->class_id);
	put_str(r, "acct_session_id", ev->acct_session_id);
	put_str(r, "framed_ip", ev->framed_ip);
}

/** event_members - the members of ev's record, without seq, prev and hash, into r (r->failed: allocation failure). */
static void event_members(rec_t *r, cb_audit_event_t const *ev, time_t now)
{
	put(r, "type", json_object_new_string(cb_audit_type_name(ev->type)));
	put_time(r, "time", ev->time ? ev->time : now);
	put_who(r, ev);
	put_str(r, "status", ev->status);
	put_str(r, "reason", ev->reason);
	put_time(r, "ack_time", ev->ack_time);
	put_str(r, "policy_version", ev->policy_version);
	put_time(r, "expiry", ev->expiry);
	put_str(r, "role", ev->role);
	put_str(r, "vlan", ev->vlan);
	put_str(r, "vlan_why", ev->vlan_why);
	put_time(r, "session_started", ev->session_started);
	if (ev->type == CB_AUDIT_SESSION_STOP) {
		put_time(r, "session_stopped", ev->session_stopped ? ev->session_stopped : (ev->time ? ev->time : now));
	}
	put_str(r, "stop_cause", ev->stop_cause);
	if (ev->has_octets) {
		put_int(r, "in_octets", (int64_t) ev->in_octets);
		put_int(r, "out_octets", (int64_t) ev->out_octets);
	}
	put_str(r, "by", ev->by);
	put_str(r, "why", ev->why);
	put_str(r, "approved_by", ev->approved_by);
	put_time(r, "until", ev->until);
	put_str(r, "result", ev->result);
	if (ev->has_counts) {
		put_int(r, "people", ev->people);
		put_int(r, "agreed", ev->agreed);
		put_int(r, "added", ev->added);
		put_int(r, "removed", ev->removed);
		put_int(r, "errors", ev->errors);
	}
	put_str(r, "kind", ev->kind);
	if (ev->attempt) put_int(r, "attempt", ev->attempt);
	if (ev->error_cause) put_int(r, "error_cause", ev->error_cause);
	put_str(r, "detail", ev->detail);
	put_str(r, "ref", ev->ref);
	if (ev->count) {
		put_int(r, "count", (int64_t) ev->count);
		put_time(r, "first", ev->first);
		put_time(r, "last", ev->last);
	}
	if (r->cut) put(r, "truncated", json_object_new_boolean(1));
}

/** cb_audit_event_json - the record for ev, without seq, prev and hash.  NULL on allocation failure. */
json_object *cb_audit_event_json(cb_audit_event_t const *ev, time_t now)
{
	rec_t r = { .n = 0 };

	event_members(&r, ev, now);
	return rec_object(&r, NULL);
}

/* The event's strings, for cb_audit_event_copy. */
static size_t const event_strings[] = {
	offsetof(cb_audit_event_t, identity), offsetof(cb_audit_event_t, outer_identity),
	offsetof(cb_audit_event_t, calling_station), offsetof(cb_audit_event_t, called_station),
	offsetof(cb_audit_event_t, nas), offsetof(cb_audit_event_t, class_id),
	offsetof(cb_audit_event_t, acct_session_id), offsetof(cb_audit_event_t, framed_ip),
	offsetof(cb_audit_event_t, status), offsetof(cb_audit_event_t, reason),
	offsetof(cb_audit_event_t, policy_version), offsetof(cb_audit_event_t, role),
	offsetof(cb_audit_event_t, vlan), offsetof(cb_audit_event_t, vlan_why),
	offsetof(cb_audit_event_t, stop_cause), offsetof(cb_audit_event_t, by),
	offsetof(cb_audit_event_t, why), offsetof(cb_audit_event_t, approved_by),
	offsetof(cb_audit_event_t, result), offsetof(cb_audit_event_t, kind),
	offsetof(cb_audit_event_t, detail), offsetof(cb_audit_event_t, ref),
};
#define EVENT_STRINGS	(sizeof(event_strings) / sizeof(event_strings[0]))

#define EV_STR(ev, i)	(*(char const **) ((char *) (ev) + event_strings[i]))

cb_audit_event_t *cb_audit_event_copy(cb_audit_event_t const *ev, time_t now)
{
	size_t len[EVENT_STRINGS], total = sizeof(*ev), i;
	cb_audit_event_t *c;
	char *p;

	for (i = 0; i < EVENT_STRINGS; i++) {
		char const *s = EV_STR(ev, i);

		len[i] = s ? strlen(s) + 1 : 0;
		if (len[i] > SIZE_MAX / 2 - total) return NULL;
		total += len[i];
	}
	c = malloc(total);
	if (!c) return NULL;
	*c = *ev;
	if (!c->time) c->time = now;
	p = (char *) (c + 1);
	for (i = 0; i < EVENT_STRINGS; i++) {
		if (!len[i]) continue;
		memcpy(p, EV_STR(ev, i), len[i]);
		EV_STR(c, i) = p;
		p += len[i];
	}
	return c;
}

/*
 *	Canonical form and hash
 *
 *	The canonical form is what json-c writes for an object holding the
 *	record's members but "hash" in sorted order.  A record read back from
 *	a line the writer wrote is already in that order, with "hash" last:
 *	json-c keeps the order it parsed, so the object's own text is the
 *	canonical form but for its last member, and it is hashed as it is
 *	(in_order).  Any other object (members out of order, "hash" elsewhere,
 *	a line edited by hand) gets a sorted copy (canonical), which gives
 *	the same text for an object in order: test_audit compares the two.
 */
#define CANON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define CANON_KEYS_MAX	256
#define HASH_MEMBER	",\"hash\":\"\"}"	/* The line's end after the canonical form's last member, but the digits. */
#define HASH_TAIL	(sizeof(HASH_MEMBER) - 1 + CB_AUDIT_HASH_HEX)

static bool canonical_type(json_object *v)
{
	json_type t = json_object_get_type(v);

	return t == json_type_string || t == json_type_int || t == json_type_boolean || t == json_type_null;
}

/** hex_text - whether v is a string of CB_AUDIT_HASH_HEX hex digits (json-c writes it as it is). */
static bool hex_text(json_object *v)
{
	char const *s = json_object_get_string(v);

	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != CB_AUDIT_HASH_HEX) return false;
	for (size_t i = 0; i < CB_AUDIT_HASH_HEX; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
	}
	return true;
}

/**
 * in_order - whether rec's text is its canonical form but for a last
 * member "hash" (*tail: that member's bytes before the closing brace, 0
 * without one): every other key after the one before, of at most
 * CANON_KEYS_MAX, with canonical values, and "hash", when there, last,
 * after another member, holding hex digits.  false: canonical() decides.
 */
static bool in_order(json_object *rec, size_t *tail)
{
	char const *last = NULL;
	size_t n = 0;

	*tail = 0;
	json_object_object_foreach(rec, k, v) {
		if (*tail) return false;			/* A member after "hash". */
		if (strcmp(k, "hash") == 0) {
			if (n == 0 || !hex_text(v)) return false;
			*tail = HASH_TAIL - 1;
			continue;
		}
		if (!canonical_type(v) || (last && strcmp(last, k) >= 0) || ++n > CANON_KEYS_MAX) return false;
		last = k;
	}
	return true;
}

static void hex_of(unsigned char const *md, size_t n, char *out)
{
	static char const hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* SHA-256 and HMAC fetched once (OpenSSL 3 fetches on every EVP_sha256()/EVP_Q_mac call otherwise). */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/** sha256_hex - SHA-256 of a[0..alen) then b[0..blen), as hex; through keep when given (else a context of its own). */
static int sha256_hex(EVP_MD_CTX *keep, char const *a, size_t alen, char const *b, size_t blen,
		      char out[CB_AUDIT_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = keep;
	int ok;

	pthread_once(&fetch_once, fetch);
	if (!sha256_md || (!ctx && !(ctx = EVP_MD_CTX_new()))) return -1;
	ok = EVP_DigestInit_ex(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, a, alen) &&
	     (!blen || EVP_DigestUpdate(ctx, b, blen)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	if (ctx != keep) EVP_MD_CTX_free(ctx);
	if (!ok || mdlen != 32) return -1;
	hex_of(md, mdlen, out);
	return 0;
}

/** mac_hex - HMAC-SHA256 of a[0..alen) then b[0..blen) under key, as hex; through keep when given. */
static int mac_hex(EVP_MAC_CTX *keep, cb_audit_key_t const *key, char const *a, size_t alen, char const *b,
		   size_t blen, char out[CB_AUDIT_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END };
	EVP_MAC_CTX *ctx = keep;
	int ok;

	pthread_once(&fetch_once, fetch);
	if (!hmac_mac || (!ctx && !(ctx = EVP_MAC_CTX_new(hmac_mac)))) return -1;
	ok = EVP_MAC_init(ctx, key->bytes, key->len, params) && EVP_MAC_update(ctx, (unsigned char const *) a, alen) &&
	     (!blen || EVP_MAC_update(ctx, (unsigned char const *) b, blen)) && EVP_MAC_final(ctx, md, &mdlen, sizeof(md));
	if (ctx != keep) EVP_MAC_CTX_free(ctx);
	if (!ok || mdlen != 32) return -1;
	hex_of(md, mdlen, out);
	return 0;
}

struct cb_audit_scratch {
	json_object	*rec;		/* The record's object: emptied after each line. */
	EVP_MD_CTX	*md;
	EVP_MAC_CTX	*mac;
};

cb_audit_scratch_t *cb_audit_scratch_new(void)
{
	cb_audit_scratch_t *s = calloc(1, sizeof(*s));

	pthread_once(&fetch_once, fetch);
	if (!s || !(s->rec = json_object_new_object()) || !(s->md = EVP_MD_CTX_new()) ||
	    !hmac_mac || !(s->mac = EVP_MAC_CTX_new(hmac_mac))) {
		cb_audit_scratch_free(s);
		return NULL;
	}
	return s;
}

void cb_audit_scratch_free(cb_audit_scratch_t *s)
{
	if (!s) return;
	json_object_put(s->rec);
	EVP_MD_CTX_free(s->md);
	EVP_MAC_CTX_free(s->mac);
	free(s);
}

/** digest_hex - the record's hash (keyed under key when given) of a then b; through s's contexts when given. */
static int digest_hex(cb_audit_scratch_t *s, cb_audit_key_t const *key, char const *a, size_t alen, char const *b,
		      size_t blen, char out[CB_AUDIT_HASH_HEX + 1])
{
	return key ? mac_hex(s ? s->mac : NULL, key, a, alen, b, blen, out)
		   : sha256_hex(s ? s->md : NULL, a, alen, b, blen, out);
}

static int key_cmp(void const *a, void const *b)
{
	return strcmp(*(char const *const *) a, *(char const *const *) b);
}

/**
 * canonical - the hash of rec's canonical form (every member but "hash",
 * sorted), through a sorted copy.  Returns 0, or -1 when a value is not a
 * string, integer, boolean or null, or on allocation failure.
 */
static int canonical(json_object *rec, cb_audit_key_t const *key, char out[CB_AUDIT_HASH_HEX + 1])
{
	char const *keys[CANON_KEYS_MAX];
	size_t n = 0, i, len;
	json_object *sorted;
	char const *s;
	int rc = -1;

	json_object_object_foreach(rec, k, v) {
		if (strcmp(k, "hash") == 0) continue;
		if (!canonical_type(v) || n >= CANON_KEYS_MAX) return -1;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	sorted = json_object_new_object();
	if (!sorted) return -1;
	for (i = 0; i < n; i++) {
		json_object *val = json_object_object_get(rec, keys[i]);

		if (json_object_object_add(sorted, keys[i], json_object_get(val)) != 0) {
			json_object_put(val);
			goto done;
		}
	}
	s = json_object_to_json_string_length(sorted, CANON_FLAGS, &len);
	if (s) rc = digest_hex(NULL, key, s, len, NULL, 0, out);
done:
	json_object_put(sorted);
	return rc;
}

int cb_audit_line_mac(json_object *rec, cb_audit_key_t const *key, char out[CB_AUDIT_HASH_HEX + 1])
{
	char const *s;
	size_t tail, len;

	out[0] = '\0';
	if (!json_object_is_type(rec, json_type_object)) return -1;
	if (!in_order(rec, &tail)) return canonical(rec, key, out);
	/* "{...,"hash":"<64>"}": the canonical form is "{...}". */
	s = json_object_to_json_string_length(rec, CANON_FLAGS, &len);
	if (!s || len < tail + 1) return -1;
	return digest_hex(NULL, key, s, len - 1 - tail, "}", 1, out);
}

int cb_audit_line_hash(json_object *rec, char out[CB_AUDIT_HASH_HEX + 1])
{
	return cb_audit_line_mac(rec, NULL, out);
}

/*
 *	Lines
 */

/** buf_room - room for need more bytes in the growable *buf (len used of *alloc); 0 or -1. */
static int buf_room(char **buf, size_t len, size_t *alloc, size_t need)
{
	size_t na = *alloc ? *alloc : 1024;
	char *nb;

	if (len + need <= *alloc) return 0;
	while (na < len + need) na *= 2;
	nb = realloc(*buf, na);
	if (!nb) return -1;
	*buf = nb;
	*alloc = na;
	return 0;
}

/**
 * line_append - the line of rec (in canonical order, without "hash"),
 * with its hash and newline, appended to *buf (a NUL after it, outside
 * *len); its hash into hash.  0 or
 * -1 (allocation failure; *buf and *len as they were).
 */
static int line_append(json_object *rec, cb_audit_key_t const *key, cb_audit_scratch_t *sc, char **buf, size_t *len,
		       size_t *alloc, char hash[CB_AUDIT_HASH_HEX + 1])
{
	size_t clen;
	char const *c = json_object_to_json_string_length(rec, CANON_FLAGS, &clen);
	char *p;

	/* "{...}" -> "{...,"hash":"<64>"}\n" */
	if (!c || clen < 2 || digest_hex(sc, key, c, clen, NULL, 0, hash) < 0 ||
	    buf_room(buf, *len, alloc, clen + HASH_TAIL + 1) < 0) {
		return -1;
	}
	p = *buf + *len;
	memcpy(p, c, clen - 1);
	p += clen - 1;
	memcpy(p, ",\"hash\":\"", 9);
	memcpy(p + 9, hash, CB_AUDIT_HASH_HEX);
	memcpy(p + 9 + CB_AUDIT_HASH_HEX, "\"}\n", 4);		/* And a NUL after the line, not counted. */
	*len += clen - 1 + HASH_TAIL + 1;
	return 0;
}

/* The members cb_audit_chain_line sets itself: taken from fields, they would appear twice. */
static bool chain_own_key(char const *k, bool keyed)
{
	return strcmp(k, "seq") == 0 || strcmp(k, "prev") == 0 || strcmp(k, "hash") == 0 ||
	       (keyed && strcmp(k, "chain") == 0);
}

/** put_chain - the members the chain adds: seq, prev and, keyed, chain. */
static void put_chain(rec_t *r, uint64_t seq, char const *prev, bool keyed)
{
	put_int(r, "seq", (int64_t) seq);
	put(r, "prev", json_object_new_string(prev));
	if (keyed) put(r, "chain", json_object_new_string(CB_AUDIT_CHAIN_HMAC));
}

/**
 * chain_rec - fields with seq, prev (and chain when keyed) as one object
 * whose members were added in sorted order, so that json-c, which writes
 * members in the order they were added, writes it in the canonical form
 * directly (the form canonical() gives; test_audit compares the two).
 * Keys are copied (the object may outlive fields).  NULL on allocation
 * failure or when a value is one canonical() refuses.
 */
static json_object *chain_rec(json_object *fields, uint64_t seq, char const *prev, bool keyed)
{
	char const *keys[CANON_KEYS_MAX];
	size_t n = 0, i;
	json_object *rec;
	rec_t own = { .n = 0 };

	if (!json_object_is_type(fields, json_type_object)) return NULL;
	json_object_object_foreach(fields, k, fv) {
		if (chain_own_key(k, keyed)) continue;
		if (!canonical_type(fv) || n + 3 >= CANON_KEYS_MAX) return NULL;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	put_chain(&own, seq, prev, keyed);
	rec_sort(&own);
	rec = own.failed ? NULL : json_object_new_object();
	/* Merge the two sorted lists: fields' keys (copied) and the chain's (constant). */
	for (size_t f = 0, c = 0; rec && f + c < n + own.n;) {
		bool mine = f == n || (c < own.n && strcmp(own.key[c], keys[f]) < 0);
		char const *mk = mine ? own.key[c] : keys[f];
		json_object *v = mine ? own.val[c] : json_object_get(json_object_object_get(fields, keys[f]));

		if (json_object_object_add_ex(rec, mk, v, JSON_C_OBJECT_ADD_KEY_IS_NEW |
					      (mine ? JSON_C_OBJECT_KEY_IS_CONSTANT : 0)) != 0) {
			json_object_put(v);
			json_object_put(rec);
			rec = NULL;
		}
		if (mine) own.val[c++] = NULL;
		else f++;
	}
	for (i = 0; i < own.n; i++) json_object_put(own.val[i]);	/* Those rec did not take. */
	return rec;
}

/**
 * cb_audit_chain_line - the line (with its newline) for fields at seq after prev,
 * malloc'd into *line; its hash (keyed under key when given) into hash; with recp,
 * the record as an object, "hash" included, into *recp (the caller puts it).
 * fields is not changed.  Returns 0 or -1 (allocation failure, or a value
 * canonical refuses).
 */
int cb_audit_chain_line(json_object *fields, uint64_t seq, char const *prev, cb_audit_key_t const *key, char **line,
			size_t *len, char hash[CB_AUDIT_HASH_HEX + 1], json_object **recp)
{
	json_object *rec = chain_rec(fields, seq, prev, key != NULL);
	size_t alloc = 0;
	int rc = -1;

	*line = NULL;
	*len = 0;
	if (recp) *recp = NULL;
	if (!rec) return -1;
	if (line_append(rec, key, NULL, line, len, &alloc, hash) < 0) {
		free(*line);
		*line = NULL;
		goto done;
	}
	if (recp) {
		if (json_object_object_add(rec, "hash", json_object_new_string(hash)) != 0) {
			free(*line);
			*line = NULL;
			goto done;
		}
		*recp = rec;
		rec = NULL;
	}
	rc = 0;
done:
	json_object_put(rec);
	return rc;
}

int cb_audit_chain_event(cb_audit_event_t const *ev, uint64_t seq, char const *prev, cb_audit_key_t const *key,
			 cb_audit_scratch_t *s, char **buf, size_t *len, size_t *alloc, char hash[CB_AUDIT_HASH_HEX + 1])
{
	rec_t r = { .n = 0 };
	json_object *rec;
	int rc;

	event_members(&r, ev, ev->time);
	put_chain(&r, seq, prev, key != NULL);
	rec_sort(&r);
	rec = rec_object(&r, s ? s->rec : NULL);
	if (!rec) return -1;
	rc = line_append(rec, key, s, buf, len, alloc, hash);
	if (s) rec_clear(rec);
	else json_object_put(rec);
	return rc;
}
