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

typedef enum {
	CB_LOG_DEBUG = 0,
	CB_LOG_INFO,
	CB_LOG_WARN,
	CB_LOG_ERROR
} cb_log_level_t;

/** A log sink: the module routes it to radiusd's log, cetbyodctl to stderr. */
typedef void (*cb_log_fn_t)(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
