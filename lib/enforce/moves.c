/*
 * moves.c - whether a session decided again must move although its status
 * did not change, or must stay although it did (see moves.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/policy.h"
#include "enforce/moves.h"

bool cb_moves_limit_reason(char const *reason)
{
	return strcmp(reason, cb_reason_name(CB_REASON_DEVICE_LIMIT)) == 0 ||
	       strcmp(reason, cb_reason_name(CB_REASON_CONCURRENT_LIMIT)) == 0;
}

bool cb_moves_held_by_limit(cb_store_t *store, cb_store_session_t const *s)
{
	cb_store_decision_t dec;

	if (strcmp(s->status, "onboard") != 0 || !s->class_id[0]) return false;
	return cb_store_decision_get(store, s->class_id, &dec) == 0 && cb_moves_limit_reason(dec.reason);
}

bool cb_moves_role_moved(cb_store_t *store, cb_store_session_t const *s, char const *role, char *was, size_t waslen)
{
	cb_store_decision_t dec;

	if (strcmp(s->status, "admit") != 0 || !s->class_id[0]) return false;
	if (cb_store_decision_get(store, s->class_id, &dec) != 0 || !dec.role[0]) return false;
	snprintf(was, waslen, "%s", dec.role);
	return strcmp(dec.role, role) != 0;
}
