/*
 * test_slack.h - the scheduling allowance a unit test adds to a wait or a
 * timeout it measures: CB_TEST_SLACK_MS (make check-valgrind sets it, as
 * valgrind runs programs many times slower), or floor_ms when that is more.
 */
#ifndef CETBYOD_TEST_SLACK_H
#define CETBYOD_TEST_SLACK_H

#include <stdint.h>
#include <stdlib.h>

static inline int64_t test_slack_ms(int64_t floor_ms)
{
	char const *v = getenv("CB_TEST_SLACK_MS");
	long n = v ? strtol(v, NULL, 10) : 0;

	return n > floor_ms ? n : floor_ms;
}

#endif
