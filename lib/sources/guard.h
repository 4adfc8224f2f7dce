/*
 * guard.h - pure helpers of the sync thread: the mass-removal guard,
 * and truncated exponential backoff with jitter.
 *
 * Neither keeps state, does I/O or takes locks; both are tested as tables.
 */
#ifndef CETBYOD_SYNCGUARD_H
#define CETBYOD_SYNCGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ack.h"

/*
 *	Mass-removal guard
 */
typedef struct {
	unsigned int	max_removal_percent;	/* Hold a sync that removes more than this share (0..100) of agreements. */
	unsigned int	min_removals;		/* ... but always apply one that removes fewer than this many. */
} cb_guard_conf_t;

typedef struct {
	size_t		old_agreed;	/* Agreements in force in the old index. */
	size_t		new_agreed;	/* Agreements in the new index. */
	size_t		removed;	/* Old agreements that the new index no longer has as agreements: */
	size_t		missing;	/* ... because the person has no record at all, */
	size_t		withdrawn;	/* ... because the latest record is now a withdrawal or revocation. */
	size_t		added;		/* New agreements that the old index did not have. */
	bool		hold;		/* The new index must not be applied without an admin's say-so. */
} cb_guard_result_t;

/**
 * cb_guard_check - compare the index in force (old, may be NULL) with the
 * candidate (new) and decide whether applying it would remove too many
 * acknowledgements at once (a deleted tab, a changed range, a renamed
 * column).  It holds when removed >= min_removals and removed * 100 >
 * max_removal_percent * old_agreed.  Fills *res and writes a sentence to
 * msg[msglen] (why it is held, or what it changes).  Returns res->hold.
 */
bool cb_guard_check(cb_guard_conf_t const *conf, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx,
		    cb_guard_result_t *res, char *msg, size_t msglen);

/*
 *	Backoff
 */
#define CB_BACKOFF_RETRY_AFTER_MAX	3600	/* A Retry-After beyond an hour is read as an hour. */

/**
 * cb_backoff_delay_ms - how long to wait before retry number attempt
 * (0 for the first retry): min(2^attempt s + (rnd mod 1000) ms, max_ms),
 * as Google recommends; when the server sent Retry-After (retry_after_s >
 * 0, capped at CB_BACKOFF_RETRY_AFTER_MAX) the wait is at least that long,
 * even beyond max_ms.  rnd is any uniformly random 32-bit value
 * (cb_backoff_random).  max_ms 0 means 32 000.
 */
uint32_t cb_backoff_delay_ms(unsigned int attempt, uint32_t max_ms, unsigned int retry_after_s, uint32_t rnd);

/** cb_backoff_random - 32 random bits for the jitter (getrandom; never fails, never blocks). */
uint32_t cb_backoff_random(void);

#endif
