/*
 * ack.h - the acknowledgement index: normalised email -> the latest
 * acknowledgement record of that person.
 *
 * A source (the local file, Google Forms, Google Sheets) feeds every record
 * it reads into a builder; the builder keeps, per email, the latest record
 * (a later withdrawal wins over an earlier agreement; at equal times a
 * withdrawal wins); finishing the builder yields an immutable, reference-
 * counted index.  The request path looks up in an index it holds a
 * reference to, without locks.  cb_ack_current_t is the one mutable cell: a
 * pointer to the index in force, swapped atomically by the sync thread.
 */
#ifndef CETBYOD_CORE_ACK_H
#define CETBYOD_CORE_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct {
	char const	*email;			/* Normalised (lower case), never NULL. */
	time_t		ack_time;		/* When this record was submitted (UTC). */
	char const	*policy_version;	/* "" when the source has none. */
	bool		revoked;		/* A withdrawal/revocation rather than an agreement. */
	char const	*origin;		/* Where it came from: "file:12", "forms:<responseId>", "sheet:row 7". */
} cb_ack_record_t;

typedef struct cb_ack_builder cb_ack_builder_t;
typedef struct cb_ack_index cb_ack_index_t;
typedef struct cb_ack_current cb_ack_current_t;

/** cb_ack_builder_new - an empty builder.  NULL on allocation failure. */
cb_ack_builder_t *cb_ack_builder_new(void);

/**
 * cb_ack_builder_set_latest - records dated after latest are refused (a
 * Timestamp typed as 2099 would never lapse and never be superseded): the
 * sync thread sets it to the time of the sync plus skew seconds (sync {
 * future_skew }).  Unset: no limit.
 */
void cb_ack_builder_set_latest(cb_ack_builder_t *b, time_t latest, unsigned int skew);

/**
 * cb_ack_builder_future - whether ack_time is refused as future-dated; if
 * so, a sentence saying so ("dated 2099-01-01T00:00:00Z, more than 300 s
 * in the future (sync { future_skew }); refused") into buf, for the source
 * to report with where the record came from.  The one check every source
 * uses, before adding a record.
 */
bool cb_ack_builder_future(cb_ack_builder_t const *b, time_t ack_time, char *buf, size_t len);

#define CB_ACK_REFUSED_FUTURE	1	/* cb_ack_builder_add: future-dated, not added. */

/**
 * cb_ack_builder_add - add one record.  email must already be normalised
 * (cb_identity_email_normalise).  Strings are copied.  Returns 0,
 * CB_ACK_REFUSED_FUTURE when the record is dated after the builder's latest
 * (nothing added; sources report it first, see cb_ack_builder_future), or
 * -1 on allocation failure (the builder stays usable and unchanged).
 */
int cb_ack_builder_add(cb_ack_builder_t *b, char const *email, time_t ack_time,
		       char const *policy_version, bool revoked, char const *origin);

/** cb_ack_builder_count - records kept so far (one per email). */
size_t cb_ack_builder_count(cb_ack_builder_t const *b);

/**
 * cb_ack_builder_finish - turn the builder into an index with one reference,
 * owned by the caller.  The builder is freed in every case.  NULL on
 * allocation failure.
 */
cb_ack_index_t *cb_ack_builder_finish(cb_ack_builder_t *b, time_t built_at);

/** cb_ack_builder_free - discard a builder (NULL is fine). */
void cb_ack_builder_free(cb_ack_builder_t *b);

/** cb_ack_index_find - the record for a normalised email, or NULL.  Lock-free. */
cb_ack_record_t const *cb_ack_index_find(cb_ack_index_t const *idx, char const *email);

/**
 * cb_ack_index_find_latest - of the records for any of n normalised emails
 * (a person's mail and aliases), the latest one; NULL when none has a record.
 */
cb_ack_record_t const *cb_ack_index_find_latest(cb_ack_index_t const *idx, char const *const *emails, size_t n);

size_t cb_ack_index_count(cb_ack_index_t const *idx);		/* People with a record. */
size_t cb_ack_index_agreed(cb_ack_index_t const *idx);		/* ... whose latest record is an agreement. */
time_t cb_ack_index_built_at(cb_ack_index_t const *idx);
/** cb_ack_index_at - the i-th record (0 <= i < count), in no particular order. */
cb_ack_record_t const *cb_ack_index_at(cb_ack_index_t const *idx, size_t i);

/** cb_ack_index_ref / unref - take and drop a reference (unref of NULL is fine). */
cb_ack_index_t *cb_ack_index_ref(cb_ack_index_t *idx);
void cb_ack_index_unref(cb_ack_index_t *idx);

/** cb_ack_current_new - a holder, initially empty.  NULL on allocation failure. */
cb_ack_current_t *cb_ack_current_new(void);
/** cb_ack_current_free - drops the holder's reference to its index. */
void cb_ack_current_free(cb_ack_current_t *cur);
/** cb_ack_current_get - a new reference to the index in force (NULL if none); unref it when done. */
cb_ack_index_t *cb_ack_current_get(cb_ack_current_t *cur);
/** cb_ack_current_set - make idx the index in force; takes over the caller's reference. */
void cb_ack_current_set(cb_ack_current_t *cur, cb_ack_index_t *idx);

#endif
