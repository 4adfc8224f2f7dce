/*
 * acct.c - the rules of one accounting write, the same for both backends
 * (which supply the statements, cb_store_acct_ops_t): which statements a
 * Start, an Interim-Update and a Stop run and in what order, and the
 * session they answer with (a->result), which the backend's write returns
 * inside the same transaction: PostgreSQL by RETURNING (no round trip
 * more), SQLite by a point read (cheaper there than its RETURNING).
 *
 * Per write, in the common cases: a Start of a new session looks the key
 * up and inserts (two statements; updating first would be two statements
 * that change nothing before the insert); an Interim or a Stop updates its
 * open session (one).  valid_until, which the session row does not hold,
 * comes from the decision the request already resolved.
 *
 * A keyed Class's decision reaches the store only with accounting: the
 * write that first names its class id on a session records it (insert if
 * new), in the same transaction.  An Interim or a Stop whose open session
 * already names that class id needs no such insert (a third of a write's
 * instructions on SQLite, a round trip on PostgreSQL): the write that
 * named it recorded the decision, and purge keeps the decisions of open
 * sessions.  So an Interim or a Stop with a keyed Class first updates its
 * open session only if the row names the same class id
 * (CB_ACCT_UPDATE_SAME); when that changes nothing (no open session: the
 * Start was lost or comes later; or the row names another Class, or none)
 * it takes the full path, decision first.  A Start always records the
 * decision: it most often opens the session, and a repeated Start is rare.
 */
#include <string.h>

#include "store/store_int.h"

/**
 * acct_put - the session's row: update the open session; when there is
 * none, reopen the latest if it was closed as stale and update it; else
 * insert (a Stop inserts a closed session, unless the key's latest is
 * already closed: a repeated Stop, nothing written).  An Interim or a Stop
 * tries the update first; a Start looks first.  A keyed Class's decision
 * is recorded before, unless the open session already names it (see the
 * top of the file).  0 when an open session was updated, 1 otherwise, -1
 * on error.
 */
static int acct_put(cb_store_backend_t *be, cb_store_acct_ops_t const *ops, cb_store_acct_t const *a,
		    cb_store_acct_extra_t const *x, bool start, int64_t stopped)
{
	int64_t id = 0;
	int rc;

	if (!start && a->decision) {
		rc = ops->write(be, CB_ACCT_UPDATE_SAME, a, x, stopped);
		if (rc != 0) return rc < 0 ? -1 : 0;
	}
	if (a->decision && ops->decision_new(be, a->decision) < 0) return -1;
	if (!start) {
		rc = ops->write(be, CB_ACCT_UPDATE, a, x, stopped);
		if (rc != 0) return rc < 0 ? -1 : 0;
	}
	switch (ops->find(be, a, &id)) {
	case 1:		/* Open: a repeated Start (an Interim or a Stop found it above). */
		return ops->write(be, CB_ACCT_UPDATE, a, x, stopped) < 0 ? -1 : 0;
	case 3:
		if (ops->reopen(be, id) < 0) return -1;
		return ops->write(be, CB_ACCT_UPDATE, a, x, stopped) < 0 ? -1 : 1;
	case 2:
		if (stopped >= 0) return 1;	/* A repeated Stop: nothing to do. */
		/* FALL-THROUGH */
	case 0:
		return ops->write(be, CB_ACCT_INSERT, a, x, stopped) < 0 ? -1 : 1;
	default:
		return -1;
	}
}

/**
 * acct_valid_until - a->result's valid_until, which the row does not hold:
 * x's when the row's class id is a->class_id, else read (the row kept the
 * Class of an earlier write).  0, or -1 when the decision cannot be read.
 */
static int acct_valid_until(cb_store_backend_t *be, cb_store_acct_ops_t const *ops, cb_store_acct_t const *a,
			    cb_store_acct_extra_t const *x)
{
	cb_store_session_t *r = a->result;
	cb_store_decision_t d;
	int rc;

	if (!r) return 0;
	r->valid_until = 0;
	if (!r->class_id[0]) return 0;
	if (a->class_id && strcmp(r->class_id, a->class_id) == 0) {
		r->valid_until = x->valid_until;
		return 0;
	}
	rc = ops->decision_get(be, r->class_id, &d);
	if (rc < 0) return -1;
	if (rc == 0) r->valid_until = d.valid_until;
	return 0;
}

int cb_store_acct_apply(cb_store_backend_t *be, cb_store_acct_ops_t const *ops, cb_store_acct_t const *a,
			cb_spool_op_t op)
{
	cb_store_acct_extra_t x;
	int rc;

	if (cb_store_acct_resolve(be, ops->decision_get, a, &x) < 0) return -1;
	rc = acct_put(be, ops, a, &x, op == CB_SPOOL_START, op == CB_SPOOL_STOP ? (int64_t) a->event_time : -1);
	if (rc < 0 || acct_valid_until(be, ops, a, &x) < 0) return -1;
	return rc;
}
