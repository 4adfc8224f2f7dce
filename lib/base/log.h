/*
 * log.h - the one logging type of the core: a level and a printf-style sink.
 *
 * Every core unit that reports something takes a cb_log_fn_t and its
 * context; the module routes it to radiusd's log, cetbyodctl to stderr,
 * the tests to a buffer.  A NULL sink means silent.  Units prefix their
 * lines with their subsystem ("DAS: ...", "Store: ..."), as hostapd does.
 */
#ifndef CETBYOD_BASE_LOG_H
#define CETBYOD_BASE_LOG_H

#include <stdarg.h>

typedef enum {
	CB_LOG_DEBUG = 0,
	CB_LOG_INFO,
	CB_LOG_WARN,
	CB_LOG_ERROR
} cb_log_level_t;

/** A log sink: the module routes it to radiusd's log, cetbyodctl to stderr. */
typedef void (*cb_log_fn_t)(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * cb_log_vprefixed - format fmt/ap (at most 1023 bytes; longer is cut) and
 * hand it to log as "<prefix><message>": the one body of every unit's
 * "foo_log(unit, level, fmt, ...)" wrapper.  Nothing when log is NULL.
 */
void cb_log_vprefixed(cb_log_fn_t log, void *ctx, cb_log_level_t level, char const *prefix, char const *fmt,
		      va_list ap) __attribute__((format(printf, 5, 0)));

#endif
