/*
 * guard.h - the mass-removal guard of the sync thread: would a new index
 * remove too many of the agreements in force at once?
 *
 * A pure function: it keeps no state, does no I/O and takes no locks, and is
 * tested as a table.
 */
#ifndef CETBYOD_SOURCES_GUARD_H
#define CETBYOD_SOURCES_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/ack.h"

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

#endif
