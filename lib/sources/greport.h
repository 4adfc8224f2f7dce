/*
 * greport.h - counting and logging the bad records of one Google fetch.
 *
 * The first CB_GREPORT_LOUD_MAX problems of a fetch are logged as warnings
 * through the source's log, the rest at debug level, and a summary line
 * counts them all.  A problem already reported by an earlier fetch (quiet)
 * goes to the debug level only.
 */
#ifndef CETBYOD_SOURCES_GREPORT_H
#define CETBYOD_SOURCES_GREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "sources/source.h"

#define CB_GREPORT_LOUD_MAX	50	/* Problems per fetch logged as warnings. */

/** Counts problems and logs them: warnings up to CB_GREPORT_LOUD_MAX, then debug. */
typedef struct {
	cb_source_t	*src;
	size_t		problems;	/* All problems of the fetch. */
	size_t		loud;		/* ... of which reported as new (not quiet). */
	bool		quiet;		/* Set per record: already reported by an earlier fetch, log at debug level. */
	bool		complete;	/* The fetch reads the whole source: the summary publishes the count. */
	char		first[CB_SOURCE_PROBLEM_MAX];	/* The first problem's message. */
} cb_greport_t;

/** cb_greport_problem - count one problem and log it as "<source>: <message>". */
void cb_greport_problem(cb_greport_t *r, char const *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * cb_greport_summary - one line counting the problems of the fetch (at
 * debug level when none); when the fetch was complete, the count and the
 * first message also go to the source (src->problems) for the status.
 */
void cb_greport_summary(cb_greport_t *r, char const *what, size_t used);

#endif
