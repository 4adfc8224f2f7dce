/*
 * source.h - the interface every acknowledgement source implements (the
 * local acknowledgements file, Google Forms, Google Sheets), as the sync
 * thread sees it.
 *
 * fetch() reads the source and adds every record to the builder.  It runs on
 * the sync thread only, may block on I/O within its own timeouts, and reports
 * problems with individual records through the report callback (each with
 * where it came from) while using the rest.  It must not keep pointers into
 * the builder.
 */
#ifndef CETBYOD_SOURCES_SOURCE_H
#define CETBYOD_SOURCES_SOURCE_H

#include <stdbool.h>
#include <time.h>

#include "base/log.h"
#include "core/ack.h"

#define CB_SOURCE_PROBLEM_MAX	256	/* Bytes of the first problem kept for the status. */
#define CB_SOURCE_HOLD_MAX	400	/* Bytes of a source's reason to hold its result. */

/** What a source's fetch() says (its values keep the CB_FETCH_ prefix of the method). */
typedef enum {
	CB_FETCH_OK = 0,	/* The builder holds the source's complete current state. */
	CB_FETCH_UNCHANGED,	/* Nothing changed since the last fetch; the builder is unused. */
	CB_FETCH_RETRY,		/* Temporary failure (network, 429, 5xx): try again with backoff. */
	CB_FETCH_ERROR,		/* Failure an admin must fix (permissions, configuration). */
	CB_FETCH_REJECTED	/* Our credentials were refused (key deleted, account disabled): an admin
				 * must fix them; retried with an exponential backoff, not every interval. */
} cb_source_result_t;

/** Why a fetch answered CB_FETCH_RETRY (fetch() sets src->retry_why; the sync thread reads and resets it). */
typedef enum {
	CB_SOURCE_RETRY_OTHER = 0,	/* Network, 5xx, a cut-short answer: backoff. */
	CB_SOURCE_RETRY_QUOTA,		/* The server refused for its quota (HTTP 429 RESOURCE_EXHAUSTED): backoff,
					 * counted for `cetbyodctl status`. */
	CB_SOURCE_RETRY_BUDGET		/* Our own request budget is used up: nothing was sent; the next pass
					 * waits *retry_after, and it is no failure of the source. */
} cb_source_retry_t;

typedef struct cb_source cb_source_t;
struct cb_source {
	char const	*name;		/* "file", "forms", "sheets". */
	/**
	 * fetch - read the source.  full: a complete read is wanted (a source
	 * that fetches increments may otherwise return only what changed, by
	 * re-adding the previous index's records itself).  prev: the index in
	 * force, or NULL.  On CB_FETCH_RETRY, *retry_after may be set to the
	 * server's requested delay in seconds (0: use backoff).
	 */
	cb_source_result_t (*fetch)(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				   bool full, unsigned int *retry_after, char *err, size_t errlen);
	void		(*free)(cb_source_t *src);
	void		*ctx;
	cb_log_fn_t	log;
	void		*log_ctx;

	/*
	 * Records skipped as unusable by the last complete read (bad rows,
	 * blank answers, ...), for `cetbyodctl status`: set by fetch() with
	 * problems_fresh = true; the sync thread copies and clears them after
	 * the fetch.  An incremental read leaves them alone.
	 */
	size_t		problems;
	char		first_problem[CB_SOURCE_PROBLEM_MAX];
	bool		problems_fresh;

	/*
	 * A result only an admin may put in force (the Forms source found its
	 * question deleted and one of the same title under a new id): fetch()
	 * returns CB_FETCH_OK with hold set to why, and the sync thread holds
	 * the index as the mass-removal guard does.  The sync thread clears
	 * hold before each fetch, and sets accept_hold for the one fetch after
	 * an admin accepted such a held result (`cetbyodctl confirm --rebind`).
	 */
	char		hold[CB_SOURCE_HOLD_MAX];
	bool		accept_hold;

	cb_source_retry_t retry_why;	/* See cb_source_retry_t; meaningful after CB_FETCH_RETRY only. */
};

typedef cb_source_result_t (*cb_source_fetch_fn_t)(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
						  bool full, unsigned int *retry_after, char *err, size_t errlen);

/**
 * cb_source_new - a source with its methods set and a zeroed private
 * context of ctx_size bytes in src->ctx.  NULL (nothing allocated) when
 * memory runs out.  free_fn must free src->ctx's contents, src->ctx and src.
 */
cb_source_t *cb_source_new(char const *name, cb_source_fetch_fn_t fetch, void (*free_fn)(cb_source_t *src),
			   size_t ctx_size, cb_log_fn_t log, void *log_ctx);

#endif
