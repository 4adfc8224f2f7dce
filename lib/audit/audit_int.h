/*
 * audit_int.h - what the files of the audit trail share, and nobody else
 * sees: building a record, chaining it into a line, checking a hash.
 *
 *	chain.c		records, the canonical form, the hash chain (design and worked example)
 *	writer.c	the writer thread, the file, the copy to the store's index
 *	verify.c	verification of the chain across rotated files
 *	query.c		queries and the export (through the store), CSV
 */
#ifndef CETBYOD_AUDIT_INT_H
#define CETBYOD_AUDIT_INT_H

#include "audit/audit.h"

#define CB_AUDIT_ZERO_HASH	"0000000000000000000000000000000000000000000000000000000000000000"

/**
 * cb_audit_event_json - the record for ev, without seq, prev and hash; an
 * absent time is now.  NULL on allocation failure.
 */
json_object *cb_audit_event_json(cb_audit_event_t const *ev, time_t now);

/**
 * cb_audit_jtext - s as a JSON string: invalid UTF-8 as U+FFFD, at most
 * CB_AUDIT_FIELD_MAX bytes (cut at a character; *cut set).  NULL on
 * allocation failure.
 */
json_object *cb_audit_jtext(char const *s, bool *cut);

/**
 * cb_audit_chain_line - the line (with its newline) for fields at seq
 * after prev, malloc'd into *line; its hash into hash (with key: keyed,
 * HMAC-SHA256, and "chain": "hmac-sha256" added).  fields is not changed.  Returns 0 or -1 (allocation failure, or a value the canonical
 * form refuses).
 */
int cb_audit_chain_line(json_object *fields, uint64_t seq, char const *prev, cb_audit_key_t const *key, char **line,
			size_t *len, char hash[CB_AUDIT_HASH_HEX + 1]);

/** cb_audit_strerror - strerror(e), reentrant, into buf. */
char const *cb_audit_strerror(int e, char *buf, size_t len);

#endif
