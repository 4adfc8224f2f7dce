/*
 * bench_trail.h - what the benchmark tools that write an audit trail
 * share (auditbench, acctbench): a decision queued as radiusd's request
 * threads queue them, and a wait that keeps the queue from filling (a
 * full queue drops records under fail_open).
 */
#ifndef CETBYOD_BENCH_TRAIL_H
#define CETBYOD_BENCH_TRAIL_H

#include <stdio.h>
#include <unistd.h>

#include "audit/audit.h"

#define BENCH_TRAIL_ROOM	3500	/* Records queued at most before the tools wait (their queue holds 4,096). */

/** bench_trail_room - wait while the trail's queue is nearly full. */
static inline void bench_trail_room(cb_audit_t *a)
{
	cb_audit_stats_t st;

	for (;;) {
		cb_audit_stats(a, &st);
		if (st.queued < BENCH_TRAIL_ROOM) return;
		usleep(500);
	}
}

/** bench_trail_decision - queue decision i, an admission of one of 2,000 people; cb_audit_record's answer. */
static inline cb_audit_rc_t bench_trail_decision(cb_audit_t *a, unsigned long i)
{
	char who[64];
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .identity = who, .outer_identity = "anonymous",
				.calling_station = "aa:bb:cc:00:11:22", .called_station = "00-11-22-33-44-55:Staff",
				.nas = "10.0.0.2", .status = "admit", .reason = "acknowledged", .policy_version = "2026" };

	snprintf(who, sizeof(who), "user%lu@school.example", i % 2000);
	return cb_audit_record(a, &ev);
}

#endif
