/*
 * classtok.h - the keyed Class: an admission's decision carried in the
 * Access-Accept's Class, sealed with AES-256-GCM (OpenSSL EVP) under a key
 * of the class key file, so that accounting ties the session to the person
 * without a row written per Access-Accept nor read per accounting.
 *
 *   Class = "cetbyod:2." base64url( version | key id | nonce[12] |
 *                                   AES-256-GCM(payload) | tag[16] )
 *
 * version and key id are authenticated (GCM's additional data); the payload
 * (identity, status, reason, role, acknowledgement address, time and policy
 * version, decided-at, valid-until, the device's MAC) is encrypted: the
 * inner identity of PEAP is not readable on the wire.  The class id of a
 * keyed Class (the audit trail's and the sessions' link to the decision) is
 * the hex of its nonce and the first 4 bytes of its tag: accounting computes
 * it from the Class it echoes.  A Class is at most 253 octets (RFC 2865
 * 5.25): cb_classtok_seal says when the decision does not fit, and the
 * caller records the decision in the store under a random class id (the
 * old "cetbyod:<32 hex>" form, which cb_store_class_parse reads).
 *
 * The key file (class_key_file; default <state_dir>/class.key, made 0600
 * when absent) holds one key per line, "<id> <64 hex digits> <verify
 * until>": id 1..255, verify until 0 for the current key (the newest such
 * line signs), else the Unix time after which Classes under it are no
 * longer trusted.  cb_classkey_rotate adds a new current key and gives the
 * previous one a verify-until of now + grace.  Servers that share sessions
 * must share the file.
 */
#ifndef CB_STORE_CLASSTOK_H
#define CB_STORE_CLASSTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"

#define CB_CLASSTOK_PREFIX	CB_CLASS_PREFIX "2."	/* A keyed Class starts so. */
#define CB_CLASSTOK_MAX		253			/* RFC 2865: an attribute's value at most. */
#define CB_CLASSKEY_MAX		16			/* Keys a file holds at most. */
#define CB_CLASSKEY_NAME	"class.key"		/* In state_dir, when class_key_file is not set. */
#define CB_CLASSKEY_GRACE_DAYS	14			/* Rotation: how long the previous key still verifies. */

typedef struct {
	unsigned int	id;		/* 1..255. */
	uint8_t		key[32];
	time_t		verify_until;	/* 0: no end (the current key is the newest such). */
} cb_classkey_entry_t;

typedef struct {
	cb_classkey_entry_t	keys[CB_CLASSKEY_MAX];
	size_t			count;
	int			current;	/* Index of the signing key; -1 none. */
	char			path[4096];
} cb_classkey_t;

/**
 * cb_classkey_load - the keys of the file at path.  create: make the file
 * (0600, one new key) when it does not exist.  Returns 0, or -1 with err
 * naming the file and what is wrong (bad line, no current key, mode).
 */
int cb_classkey_load(char const *path, bool create, cb_classkey_t *out, char *err, size_t errlen);

/**
 * cb_classkey_rotate - add a new current key to the file at path (created
 * when absent) and let the previous current key verify until now +
 * grace_days; keys whose verify-until passed are dropped.  Written to a
 * temporary file and renamed (0600).  *new_id gets the new key's id.
 * Returns 0, or -1 with err.
 */
int cb_classkey_rotate(char const *path, time_t now, unsigned int grace_days, unsigned int *new_id, char *err,
		       size_t errlen);

/** cb_classkey_wipe - forget the keys' bytes. */
void cb_classkey_wipe(cb_classkey_t *k);

typedef enum {
	CB_CLASSTOK_OK = 0,
	CB_CLASSTOK_NOT_KEYED,		/* Not "cetbyod:2.": another format (the old class id, or not ours). */
	CB_CLASSTOK_MALFORMED,		/* "cetbyod:2." but not base64url of a sealed Class. */
	CB_CLASSTOK_UNKNOWN_KEY,	/* A key id the file does not have (forged, or long rotated out). */
	CB_CLASSTOK_KEY_RETIRED,	/* Its key's verify-until has passed. */
	CB_CLASSTOK_FORGED,		/* The tag does not verify: altered, or made up. */
	CB_CLASSTOK_TOO_LONG,		/* seal: the decision does not fit in 253 octets. */
	CB_CLASSTOK_ERROR		/* OpenSSL failed, or no current key. */
} cb_classtok_rc_t;

/** cb_classtok_error - what an rc means, for a log line. */
char const *cb_classtok_error(cb_classtok_rc_t rc);

/**
 * cb_classtok_seal - d (identity, status, reason, role, ack_email,
 * policy_version, decided_at, valid_until, ack_time, calling_station as a
 * MAC when it is one) sealed under the current key into out (a string of
 * at most 253 bytes; len >= CB_CLASSTOK_MAX + 1).  class_id gets the keyed
 * Class's id.  Returns CB_CLASSTOK_OK, CB_CLASSTOK_TOO_LONG or
 * CB_CLASSTOK_ERROR.
 */
cb_classtok_rc_t cb_classtok_seal(cb_classkey_t const *k, cb_store_decision_t const *d, char *out, size_t len,
				  char class_id[CB_CLASS_ID_LEN + 1]);

/**
 * cb_classtok_open - the decision a keyed Class value (value[0..len))
 * carries, verified at now.  out gets class_id and the sealed fields
 * (calling_station as AA-BB-CC-DD-EE-FF, "" when none); nas and
 * outer_identity are "" (accounting has them).  *key_id (may be NULL) gets
 * the key id read, 0 when none.
 */
cb_classtok_rc_t cb_classtok_open(cb_classkey_t const *k, char const *value, size_t len, time_t now,
				  cb_store_decision_t *out, unsigned int *key_id);

#endif
