/*
 * log.c - the one body of the units' prefixed log wrappers (see log.h).
 */
#include <stdio.h>

#include "base/log.h"

void cb_log_vprefixed(cb_log_fn_t log, void *ctx, cb_log_level_t level, char const *prefix, char const *fmt,
		      va_list ap)
{
	char msg[1024];

	if (!log) return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log(ctx, level, "%s%s", prefix ? prefix : "", msg);
}
