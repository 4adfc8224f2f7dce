/*
 * greport.c - counting and logging the bad records of one Google fetch
 * (see greport.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "sources/greport.h"

void cb_greport_problem(cb_greport_t *r, char const *fmt, ...)
{
	char buf[1024];
	va_list ap;
	cb_log_level_t level = CB_LOG_DEBUG;

	r->problems++;
	if (!r->quiet && ++r->loud <= CB_GREPORT_LOUD_MAX) level = CB_LOG_WARN;
	if (!r->src->log) return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->src->log(r->src->log_ctx, level, "%s: %s", r->src->name, buf);
}

void cb_greport_summary(cb_greport_t *r, char const *what, size_t used)
{
	if (!r->src->log) return;
	if (r->problems == 0) {
		r->src->log(r->src->log_ctx, CB_LOG_DEBUG, "%s: %zu %s used", r->src->name, used, what);
		return;
	}
	r->src->log(r->src->log_ctx, r->loud ? CB_LOG_WARN : CB_LOG_DEBUG,
		    "%s: %zu %s used, %zu skipped or questionable%s", r->src->name, used, what, r->problems,
		    r->loud > CB_GREPORT_LOUD_MAX ? " (only the first ones were logged as warnings; "
		    "the rest are in the debug log)" : "");
}
