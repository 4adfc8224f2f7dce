/*
 * clock.c - the one monotonic clock of the core (see clock.h).
 */
#include <errno.h>

#include "base/clock.h"

void cb_clock_mono(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

int64_t cb_clock_ms(void)
{
	struct timespec ts;

	cb_clock_mono(&ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cb_clock_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0) return;
	cb_clock_after_ms(&ts, ms);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

void cb_clock_after_ms(struct timespec *ts, int64_t ms)
{
	cb_clock_mono(ts);
	if (ms < 0) ms = 0;
	ts->tv_sec += (time_t) (ms / 1000);
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int cb_clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}
