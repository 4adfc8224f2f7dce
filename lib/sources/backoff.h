/*
 * backoff.h - truncated exponential backoff with jitter, for the sync
 * thread's retries after temporary failures, as Google recommends.
 *
 * Pure but for the random bits: no state, no I/O, no locks; tested as a table.
 */
#ifndef CETBYOD_SOURCES_BACKOFF_H
#define CETBYOD_SOURCES_BACKOFF_H

#include <stdint.h>

#define CB_BACKOFF_RETRY_AFTER_MAX	3600	/* A Retry-After beyond an hour is read as an hour. */

/**
 * cb_backoff_delay_ms - how long to wait before retry number attempt
 * (0 for the first retry): min(2^attempt s + (rnd mod 1000) ms, max_ms),
 * as Google recommends; when the server sent Retry-After (retry_after_s >
 * 0, capped at CB_BACKOFF_RETRY_AFTER_MAX) the wait is at least that long,
 * even beyond max_ms.  rnd is any uniformly random 32-bit value
 * (cb_backoff_random).  max_ms 0 means 32 000.
 */
uint32_t cb_backoff_delay_ms(unsigned int attempt, uint32_t max_ms, unsigned int retry_after_s, uint32_t rnd);

/** cb_backoff_random - 32 random bits for the jitter (getrandom; never fails, never blocks). */
uint32_t cb_backoff_random(void);

#endif
