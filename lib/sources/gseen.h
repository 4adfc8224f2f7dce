/*
 * gseen.h - the duplicate table of one Google fetch: the (email, instant)
 * pairs met so far, to find double submissions and copied rows.
 *
 * One table per fetch, used by the sync thread only; see gseen.c for the
 * design.
 */
#ifndef CETBYOD_SOURCES_GSEEN_H
#define CETBYOD_SOURCES_GSEEN_H

#include <stdbool.h>
#include <time.h>

typedef struct cb_gseen cb_gseen_t;

typedef enum {
	CB_GSEEN_NEW = 0,	/* First record of this email at this instant. */
	CB_GSEEN_DUPLICATE,	/* Same email, instant and verdict as an earlier record. */
	CB_GSEEN_CONFLICT,	/* Same email and instant, the other verdict (the withdrawal wins). */
	CB_GSEEN_ERROR		/* Out of memory: treat as new. */
} cb_gseen_result_t;

/** cb_gseen_new - a table of the emails met in one fetch, to find duplicates.  NULL on allocation failure. */
cb_gseen_t *cb_gseen_new(void);

/** cb_gseen_free - free the table (NULL is fine). */
void cb_gseen_free(cb_gseen_t *seen);

/**
 * cb_gseen_check - note a record; says whether an earlier one had the same
 * email and ack_time, and if so *first is its position (row, response number).
 */
cb_gseen_result_t cb_gseen_check(cb_gseen_t *seen, char const *email, time_t ack_time, bool revoked, long where,
				 long *first);

#endif
