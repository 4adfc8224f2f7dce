/*
 * sharing.h - who looks like they share their credentials: the one reading
 * of the store that `cetbyodctl report sharing` prints and the module's
 * daily summary to IT (reports { sharing_summary_to }) mails.
 *
 * A person qualifies when they have more devices than the threshold (seen
 * since `since`; policy { max_devices }, 3 by default), or when sessions of
 * their identity were open at two NASes at the same time since then (two
 * different devices: one device roaming with a late Stop is not sharing).
 *
 * Memory: cb_sharing_read fills a cb_sharing_t whose devices, sessions,
 * overlaps and people are the caller's until cb_sharing_free; the people
 * and overlaps point into the devices and sessions.
 */
#ifndef CETBYOD_PEOPLE_SHARING_H
#define CETBYOD_PEOPLE_SHARING_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "store/store.h"

#define CB_SHARING_SESSIONS_MAX	200000	/* Sessions read at most. */
#define CB_SHARING_OVERLAPS_MAX	10	/* Two-NAS overlaps kept per person at most. */
#define CB_SHARING_THRESHOLD	3	/* Without policy { max_devices }. */

/** Two sessions of one identity open at two NASes at the same time. */
typedef struct {
	cb_store_session_t const	*a, *b;		/* a started first. */
	time_t				from, until;	/* The overlap; until 0: both still open. */
} cb_sharing_overlap_t;

/** One person in the report: their rows in devs and in ovs. */
typedef struct {
	char const	*identity;
	size_t		dev_first, dev_count;
	size_t		ov_first, ov_count;
} cb_sharing_person_t;

/** Everything the report is made of. */
typedef struct {
	cb_store_known_devices_t	devs;
	cb_store_sessions_t		ses;
	cb_sharing_overlap_t		*ovs;
	size_t				num_ovs;
	cb_sharing_person_t		*people;
	size_t				num_people;
	unsigned long			threshold;	/* Set by the caller before cb_sharing_read. */
	time_t				since;		/* Likewise. */
} cb_sharing_t;

/**
 * cb_sharing_defaults - the threshold and start of the window the module
 * runs with (the store's status keys policy { max_devices, device_window }
 * left there; 3 and 90 days without them).
 */
void cb_sharing_defaults(cb_store_t *store, time_t now, unsigned long *threshold, time_t *since);

/**
 * cb_sharing_read - fill r (threshold and since already set) from store.
 * Returns 0, -1 when the store could not be read, -2 out of memory; on
 * failure r still needs cb_sharing_free.
 */
int cb_sharing_read(cb_store_t *store, cb_sharing_t *r);

/** cb_sharing_free - what cb_sharing_read allocated (r zeroed first is fine). */
void cb_sharing_free(cb_sharing_t *r);

/** cb_sharing_session_nas - the NAS a session names: its IP, else NAS-Identifier, else the key. */
char const *cb_sharing_session_nas(cb_store_session_t const *s);

#endif
