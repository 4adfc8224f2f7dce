/*
 * spool.h - a bounded, append-only file of records: what the store would
 * have written to PostgreSQL while the database was unreachable, kept on
 * the local disk until it can be replayed (store_spool.c replays it).
 *
 * File format (all integers little-endian):
 *   header  "CBSPOOL1" (8 bytes), then the generation: 16 random bytes as
 *           32 lower-case hex digits (32 bytes).  40 bytes in all.
 *   record  u32 magic 0x43425352 ("CBSR"), u32 length (1..CB_SPOOL_RECORD_MAX),
 *           u32 CRC-32 (IEEE, zlib's) of the payload, then the payload.
 * A record's sequence number is its position (1, 2, ...) in its
 * generation; (generation, sequence) names a record for ever, so that a
 * replay can tell which records the database already holds.  When every
 * record was replayed the file is cut back to a header with a new
 * generation.
 *
 * Durability: each append is written with one write(2) and fsync(2)ed
 * before cb_spool_append returns (a RADIUS reply follows it: the NAS then
 * forgets the request, so the spool must not).  A record cut short by a
 * crash (a torn tail) or whose checksum does not match ends the file:
 * cb_spool_open keeps what comes before, cuts the rest off and says so in
 * *dropped (bytes).
 *
 * Not thread-safe: the store calls it under its own mutex.
 */
#ifndef CETBYOD_STORE_SPOOL_H
#define CETBYOD_STORE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CB_SPOOL_FILE		"store.spool"		/* In the state directory: the request path's. */
#define CB_SPOOL_DEVICES_FILE	"store-devices.spool"	/* The module's devices writer's. */
#define CB_SPOOL_LIMITS_FILE	"store-limits.spool"	/* The device limits' handle's. */
#define CB_SPOOL_HEADER_LEN	40
#define CB_SPOOL_GEN_LEN	32
#define CB_SPOOL_RECORD_MAX	65536			/* Bytes of one record's payload, at most. */
#define CB_SPOOL_DEFAULT_MAX	(64ULL * 1024 * 1024)	/* store { spool_max_size } by default. */

typedef struct cb_spool cb_spool_t;

/** cb_spool_crc32 - CRC-32 (IEEE 802.3, as zlib's crc32) of data[0..len). */
uint32_t cb_spool_crc32(void const *data, size_t len);

/**
 * cb_spool_open - open or create (mode 0600) the spool at path, at most
 * max_bytes long (header included; 0: CB_SPOOL_DEFAULT_MAX).  A torn or
 * corrupt tail is cut off (*dropped, may be NULL: its bytes).  NULL with
 * err set when the file cannot be opened or is not a spool.
 */
cb_spool_t *cb_spool_open(char const *path, uint64_t max_bytes, size_t *dropped, char *err, size_t errlen);

/**
 * cb_spool_append - one record, written and fsync'ed.  Returns 0; 1 when
 * it does not fit under the cap (nothing written); -1 on an I/O error
 * (err set; the file is cut back to what it held).
 */
int cb_spool_append(cb_spool_t *sp, void const *data, size_t len, char *err, size_t errlen);

/**
 * cb_spool_appendv - n records (data[i], len[i] bytes each) in one write
 * and one fsync: all of them or none.  Returns as cb_spool_append (1: they
 * do not all fit under the cap; nothing written).
 */
int cb_spool_appendv(cb_spool_t *sp, void const *const *data, size_t const *len, size_t n, char *err, size_t errlen);

/**
 * cb_spool_peek - the oldest record not yet consumed nor peeked since the
 * last consume (so that several can be replayed in one transaction): 0
 * with *data (malloc'd, NUL-terminated after len bytes; the caller frees
 * it), *len and *seq filled; 1 when none is left; -1 on an I/O error.
 */
int cb_spool_peek(cb_spool_t *sp, void **data, size_t *len, uint64_t *seq);

/**
 * cb_spool_consume - the records cb_spool_peek returned are in the database;
 * once the last one is, the file is cut back to a fresh header (a new
 * generation).  0, or -1 on an I/O error.
 */
int cb_spool_consume(cb_spool_t *sp);

/** cb_spool_unpeek - forget what was peeked since the last consume: the next peek is the oldest waiting. */
void cb_spool_unpeek(cb_spool_t *sp);

/** cb_spool_rewind - replay again from the first record (after a failed replay); forgets what was peeked. */
void cb_spool_rewind(cb_spool_t *sp);

bool cb_spool_pending(cb_spool_t const *sp);		/* Records are waiting. */
uint64_t cb_spool_bytes(cb_spool_t const *sp);		/* The file's size. */
uint64_t cb_spool_count(cb_spool_t const *sp);		/* Records waiting. */
uint64_t cb_spool_max(cb_spool_t const *sp);
char const *cb_spool_generation(cb_spool_t const *sp);	/* 32 hex digits. */
char const *cb_spool_path(cb_spool_t const *sp);

/** cb_spool_close - close and free (NULL is fine); the file stays. */
void cb_spool_close(cb_spool_t *sp);

#endif
