/*
 * guard.c - the mass-removal guard of the sync thread.  A pure function
 * over its arguments (see guard.h).
 *
 * The guard counts, for every person whose record in the old index is an
 * agreement, whether the new index still has an agreement for them.  A
 * person with no record any more counts as "missing" (a deleted tab or row
 * range), one whose latest record is now a withdrawal as "withdrawn" (a
 * renamed agreement column makes everybody look withdrawn).  Both are
 * removals.  Example: 1 000 agreements, max_removal_percent = 10,
 * min_removals = 5: removing 100 applies (100 * 100 > 10 * 1000 is false),
 * 101 is held; with 20 agreements, removing 4 applies whatever the share.
 */
#include <stdio.h>

#include "sources/guard.h"

static void count_removals(cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx, cb_guard_result_t *res)
{
	size_t n = cb_ack_index_count(old_idx);

	for (size_t i = 0; i < n; i++) {
		cb_ack_record_t const *o = cb_ack_index_at(old_idx, i), *nr;

		if (!o || o->revoked) continue;
		res->old_agreed++;
		nr = cb_ack_index_find(new_idx, o->email);
		if (!nr) {
			res->missing++;
		} else if (nr->revoked) {
			res->withdrawn++;
		}
	}
	res->removed = res->missing + res->withdrawn;
}

static void count_additions(cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx, cb_guard_result_t *res)
{
	size_t n = cb_ack_index_count(new_idx);

	for (size_t i = 0; i < n; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(new_idx, i), *o;

		if (!r || r->revoked) continue;
		res->new_agreed++;
		o = old_idx ? cb_ack_index_find(old_idx, r->email) : NULL;
		if (!o || o->revoked) res->added++;
	}
}

bool cb_guard_check(cb_guard_conf_t const *conf, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx,
		    cb_guard_result_t *res, char *msg, size_t msglen)
{
	unsigned long long pct;

	*res = (cb_guard_result_t) { 0 };
	if (old_idx) count_removals(old_idx, new_idx, res);
	count_additions(old_idx, new_idx, res);

	res->hold = res->removed > 0 && res->removed >= conf->min_removals &&
		    (unsigned long long) res->removed * 100 > (unsigned long long) conf->max_removal_percent * res->old_agreed;
	pct = res->old_agreed ? ((unsigned long long) res->removed * 100 + res->old_agreed / 2) / res->old_agreed : 0;

	if (res->hold) {
		snprintf(msg, msglen, "the new acknowledgements would remove %zu of the %zu agreements in force (%llu%%: "
			 "%zu no longer present, %zu now withdrawn or revoked), more than max_removal_percent = %u%%; "
			 "the previous snapshot stays in force.  Check the source (a deleted tab or responses, a changed "
			 "range, a renamed column or question) and accept the new snapshot explicitly if the removals "
			 "are intended", res->removed, res->old_agreed, pct, res->missing, res->withdrawn,
			 conf->max_removal_percent);
	} else {
		snprintf(msg, msglen, "%zu agreements (%zu added, %zu removed: %zu no longer present, %zu withdrawn or "
			 "revoked)", res->new_agreed, res->added, res->removed, res->missing, res->withdrawn);
	}
	return res->hold;
}
