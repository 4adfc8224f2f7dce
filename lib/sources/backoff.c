/*
 * backoff.c - the retry backoff of the sync thread (see backoff.h).
 */
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sources/backoff.h"

#define CB_BACKOFF_DEFAULT_MAX	32000

uint32_t cb_backoff_delay_ms(unsigned int attempt, uint32_t max_ms, unsigned int retry_after_s, uint32_t rnd)
{
	uint64_t delay;

	if (max_ms == 0) max_ms = CB_BACKOFF_DEFAULT_MAX;
	delay = (attempt >= 32 ? UINT64_MAX / 2 : ((uint64_t) 1000 << attempt)) + rnd % 1000;
	if (delay > max_ms) delay = max_ms;
	if (retry_after_s > 0) {
		uint64_t ra = (uint64_t) (retry_after_s > CB_BACKOFF_RETRY_AFTER_MAX ? CB_BACKOFF_RETRY_AFTER_MAX
										     : retry_after_s) * 1000;

		if (ra > delay) delay = ra;
	}
	return (uint32_t) delay;
}

uint32_t cb_backoff_random(void)
{
	uint32_t r;
	struct timespec ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t) sizeof(r)) return r;
	cb_clock_mono(&ts);	/* Jitter, not secrecy: the clock will do. */
	return (uint32_t) ts.tv_nsec ^ (uint32_t) getpid();
}
