/*
 * source.c - what every acknowledgement source shares: its allocation.
 */
#include <stdlib.h>

#include "sources/source.h"

cb_source_t *cb_source_new(char const *name, cb_source_fetch_fn_t fetch, void (*free_fn)(cb_source_t *src),
			   size_t ctx_size, cb_log_fn_t log, void *log_ctx)
{
	cb_source_t *src = calloc(1, sizeof(*src));
	void *ctx = calloc(1, ctx_size);

	if (!src || !ctx) {
		free(src);
		free(ctx);
		return NULL;
	}
	src->name = name;
	src->fetch = fetch;
	src->free = free_fn;
	src->ctx = ctx;
	src->log = log;
	src->log_ctx = log_ctx;
	return src;
}
