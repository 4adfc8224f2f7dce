/*
 * clock.h - the one monotonic clock of the core.
 *
 * Timeouts, deadlines, retry intervals and rate limits are measured on
 * CLOCK_MONOTONIC, which neither NTP steps nor an admin's date command move.
 * Wall-clock times (what is recorded and shown) are time_t from time(), and
 * are passed in by callers so that tests control them.
 */
#ifndef CETBYOD_BASE_CLOCK_H
#define CETBYOD_BASE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/** cb_clock_mono - the monotonic clock now, as a timespec.  Never fails on Linux. */
void cb_clock_mono(struct timespec *ts);

/** cb_clock_ms - the monotonic clock now, in milliseconds. */
int64_t cb_clock_ms(void);

/** cb_clock_sleep_ms - sleep ms milliseconds on this clock (a signal does not cut it short). */
void cb_clock_sleep_ms(int64_t ms);

/** cb_clock_after_ms - the monotonic instant ms milliseconds from now (for pthread_cond_timedwait on a monotonic condattr). */
void cb_clock_after_ms(struct timespec *ts, int64_t ms);

/** cb_clock_cond_init - a condition variable whose timed waits use this clock; pthread_cond_init's rc. */
int cb_clock_cond_init(pthread_cond_t *cond);

#endif
