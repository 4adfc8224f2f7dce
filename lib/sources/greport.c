/*
 * greport.c - counting and logging the bad records of one Google fetch
 * (see greport.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sources/greport.h"

void cb_greport_problem(cb_greport_t *r, char const *fmt, ...)
{
	char buf[1024];
	va_list ap;
	cb_log_level_t level = CB_LOG_DEBUG;

	r->problems++;
	if (!r->quiet && ++r->loud <= CB_GREPORT_LOUD_MAX) level = CB_LOG_WARN;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r->problems == 1) {		/* Cut short to fit: the log has it whole. */
		size_t n = strnlen(buf, sizeof(r->first) - 1);

		while (n > 0 && n < strlen(buf) && ((unsigned char) buf[n] & 0xC0) == 0x80) n--;	/* Whole characters. */
		memcpy(r->first, buf, n);
		r->first[n] = '\0';
	}
	if (!r->src->log) return;
	r->src->log(r->src->log_ctx, level, "%s: %s", r->src->name, buf);
}

void cb_greport_summary(cb_greport_t *r, char const *what, size_t used)
{
	if (r->complete) {
		r->src->problems = r->problems;
		snprintf(r->src->first_problem, sizeof(r->src->first_problem), "%s", r->problems ? r->first : "");
		r->src->problems_fresh = true;
	}
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
