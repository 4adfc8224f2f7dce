/*
 * pg_sessions.c - the PostgreSQL backend's decisions, sessions and
 * disconnect queue: the same statements and rules as sqlite_sessions.c
 * (which explains them), in PostgreSQL's dialect, every value a parameter.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "store/pg_int.h"

#define DEC_COLS "class_id, identity, outer_identity, status, reason, decided_at, valid_until, ack_time, " \
		 "policy_version, nas, calling_station, ack_email, role"
#define CLOSED_COLS "id, nas, acct_session_id, class_id, identity, outer_identity, calling_station, " \
		    "called_station, ap, ssid, framed_ip, nas_ip, nas_identifier, status, 0, started, last_seen, " \
		    "stopped, stop_cause, in_octets, out_octets"
#define DISC_COLS "id, nas, acct_session_id, identity, reason, kind, state, attempts, created_at, next_attempt, " \
		  "last_attempt, last_result, error_cause, detail"
#define NONEMPTY(n, col) col " = COALESCE(NULLIF($" #n "::text, ''), " col ")"

/*
 *	Row readers
 */
static bool read_decision(PGresult const *r, int i, void *row)
{
	cb_store_decision_t *d = row;

	d->decided_at = (time_t) cb_pg_col_int(r, i, 5);
	d->valid_until = (time_t) cb_pg_col_int(r, i, 6);
	d->ack_time = (time_t) cb_pg_col_int(r, i, 7);
	return PG_TEXT(r, i, 0, d->class_id) && PG_TEXT(r, i, 1, d->identity) && PG_TEXT(r, i, 2, d->outer_identity) &&
	       PG_TEXT(r, i, 3, d->status) && PG_TEXT(r, i, 4, d->reason) && PG_TEXT(r, i, 8, d->policy_version) &&
	       PG_TEXT(r, i, 9, d->nas) && PG_TEXT(r, i, 10, d->calling_station) &&
	       PG_TEXT(r, i, 11, d->ack_email) && PG_TEXT(r, i, 12, d->role);
}

bool cb_pg_read_session(PGresult const *r, int i, void *row)
{
	cb_store_session_t *s = row;

	s->id = cb_pg_col_int(r, i, 0);
	s->valid_until = (time_t) cb_pg_col_int(r, i, 14);
	s->started = (time_t) cb_pg_col_int(r, i, 15);
	s->last_seen = (time_t) cb_pg_col_int(r, i, 16);
	s->stopped = (time_t) cb_pg_col_int(r, i, 17);
	s->in_octets = (uint64_t) cb_pg_col_int(r, i, 19);
	s->out_octets = (uint64_t) cb_pg_col_int(r, i, 20);
	return PG_TEXT(r, i, 1, s->nas) && PG_TEXT(r, i, 2, s->acct_session_id) && PG_TEXT(r, i, 3, s->class_id) &&
	       PG_TEXT(r, i, 4, s->identity) && PG_TEXT(r, i, 5, s->outer_identity) &&
	       PG_TEXT(r, i, 6, s->calling_station) && PG_TEXT(r, i, 7, s->called_station) &&
	       PG_TEXT(r, i, 8, s->ap) && PG_TEXT(r, i, 9, s->ssid) && PG_TEXT(r, i, 10, s->framed_ip) &&
	       PG_TEXT(r, i, 11, s->nas_ip) && PG_TEXT(r, i, 12, s->nas_identifier) &&
	       PG_TEXT(r, i, 13, s->status) && PG_TEXT(r, i, 18, s->stop_cause);
}

static bool read_disconnect(PGresult const *r, int i, void *row)
{
	cb_store_disconnect_t *d = row;
	char kind[16], state[16], result[16];
	int k, s, res;

	d->id = cb_pg_col_int(r, i, 0);
	d->attempts = (unsigned int) cb_pg_col_int(r, i, 7);
	d->created_at = (time_t) cb_pg_col_int(r, i, 8);
	d->next_attempt = (time_t) cb_pg_col_int(r, i, 9);
	d->last_attempt = (time_t) cb_pg_col_int(r, i, 10);
	d->error_cause = (unsigned int) cb_pg_col_int(r, i, 12);
	if (!PG_TEXT(r, i, 1, d->nas) || !PG_TEXT(r, i, 2, d->acct_session_id) || !PG_TEXT(r, i, 3, d->identity) ||
	    !PG_TEXT(r, i, 4, d->reason) || !PG_TEXT(r, i, 5, kind) || !PG_TEXT(r, i, 6, state) ||
	    !PG_TEXT(r, i, 11, result) || !PG_TEXT(r, i, 13, d->detail)) return false;
	k = cb_name_value(cb_store_disc_kind_names, kind, -1);
	s = cb_name_value(cb_store_disc_state_names, state, -1);
	res = cb_name_value(cb_store_disc_result_names, result, -1);
	if (k < 0 || s < 0 || res < 0) return false;
	d->kind = (cb_disc_kind_t) k;
	d->state = (cb_disc_state_t) s;
	d->last_result = (cb_disc_result_t) res;
	return true;
}

/*
 *	Decisions
 */
/* pg_decision_write - the decision's row; if_new: only when its class id has none yet (a keyed Class's
 * decision, recorded with its session's first accounting), without the device (the request path records
 * admitted devices itself). */
static int pg_decision_write(cb_store_backend_t *be, cb_store_decision_t const *d, bool if_new)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, d->class_id);
	cb_pg_text(&p, d->identity);
	cb_pg_text(&p, d->outer_identity);
	cb_pg_text(&p, d->status);
	cb_pg_text(&p, d->reason);
	cb_pg_int(&p, d->decided_at);
	cb_pg_int(&p, d->valid_until);
	cb_pg_int(&p, d->ack_time);
	cb_pg_text(&p, d->policy_version);
	cb_pg_text(&p, d->nas);
	cb_pg_text(&p, d->calling_station);
	cb_pg_text(&p, d->ack_email);
	cb_pg_text(&p, d->role);
	cb_pg_text(&p, be->server_id);
	if (if_new) {
		return cb_pg_exec(be, "INSERT INTO decisions (" DEC_COLS ", server_id) VALUES ($1, $2, $3, $4, $5, $6, "
				  "$7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (class_id) DO NOTHING", &p,
				  "recording a session's decision", NULL);
	}
	if (cb_pg_exec(be, "INSERT INTO decisions (" DEC_COLS ", server_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
		       "$9, $10, $11, $12, $13, $14)", &p, "recording a decision", NULL) < 0) return -1;
	return cb_pg_decision_device(be, d);
}

static int pg_decision_insert(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	return pg_decision_write(be, d, false);
}

/** cb_pg_decisions_put - n decisions in one transaction, each in a savepoint: one that fails spares the others. */
int cb_pg_decisions_put(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n)
{
	int rc = 0;

	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		if (cb_pg_exec(be, "SAVEPOINT decision", NULL, "recording a decision", NULL) < 0) break;
		if (pg_decision_insert(be, &d[i]) == 0) continue;
		rc = 1;
		if (cb_pg_exec(be, "ROLLBACK TO SAVEPOINT decision", NULL, "recording a decision", NULL) < 0) {
			return cb_pg_end(be, -1);
		}
	}
	return cb_pg_end(be, 0) < 0 ? -1 : -rc;
}

int cb_pg_decision_get(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out)
{
	cb_pg_params_t p = { 0 };
	cb_store_decision_t d;
	int rc;

	memset(&d, 0, sizeof(d));
	cb_pg_text(&p, class_id);
	rc = cb_pg_one(be, "SELECT " DEC_COLS " FROM decisions WHERE class_id = $1", &p, read_decision, &d,
		       "reading a decision");
	if (rc == 0) *out = d;
	return rc;
}

/*
 *	Sessions
 */

/*
 * The session statements share their parameters (acct_params):
 * $1 nas $2 acct_session_id $3 class_id $4 identity $5 outer_identity
 * $6 calling_station $7 called_station $8 ap $9 ssid $10 framed_ip $11 nas_ip
 * $12 nas_identifier $13 status $14 started $15 event time $16 stopped (NULL: open)
 * $17 stop_cause $18 has_octets $19 in_octets $20 out_octets $21 server_id
 */
static char const ses_insert[] = "INSERT INTO sessions (nas, acct_session_id, class_id, identity, outer_identity, "
	"calling_station, called_station, ap, ssid, framed_ip, nas_ip, nas_identifier, status, started, "
	"last_seen, stopped, stop_cause, in_octets, out_octets, server_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
	"$10, $11, $12, $13, $14, $15, $16, $17, CASE WHEN $18::boolean THEN $19::bigint ELSE 0 END, "
	"CASE WHEN $18::boolean THEN $20::bigint ELSE 0 END, $21) RETURNING " CLOSED_COLS;
#define SES_UPDATE "UPDATE sessions SET " CB_SES_KEEP_TEXT ", last_seen = GREATEST(last_seen, $15::bigint), stopped = $16::bigint, " \
	NONEMPTY(17, "stop_cause") ", in_octets = CASE WHEN $18::boolean THEN $19::bigint ELSE in_octets END, " \
	"out_octets = CASE WHEN $18::boolean THEN $20::bigint ELSE out_octets END, " \
	"server_id = $21 WHERE nas = $1 AND acct_session_id = $2 AND stopped IS NULL AND $14::bigint IS NOT NULL "
static char const ses_update[] = SES_UPDATE "RETURNING " CLOSED_COLS;
/* A keyed Class's Interim or Stop: only a row that names its class id already (acct.c). */
static char const ses_update_same[] = SES_UPDATE "AND class_id = $3 RETURNING " CLOSED_COLS;

static void acct_params(cb_store_backend_t *be, cb_pg_params_t *p, cb_store_acct_t const *a,
			cb_store_acct_extra_t const *x, int64_t stopped)
{
	cb_pg_text(p, a->nas);
	cb_pg_text(p, a->acct_session_id);
	cb_pg_text(p, a->class_id);
	cb_pg_text(p, x->identity);
	cb_pg_text(p, a->outer_identity);
	cb_pg_text(p, a->calling_station);
	cb_pg_text(p, a->called_station);
	cb_pg_text(p, x->ap);
	cb_pg_text(p, x->ssid);
	cb_pg_text(p, a->framed_ip);
	cb_pg_text(p, a->nas_ip);
	cb_pg_text(p, a->nas_identifier);
	cb_pg_text(p, x->status);
	cb_pg_int(p, a->started ? a->started : a->event_time);
	cb_pg_int(p, a->event_time);
	if (stopped < 0) cb_pg_null(p);
	else cb_pg_int(p, stopped);
	cb_pg_text(p, a->stop_cause);
	cb_pg_bool(p, a->has_octets);
	cb_pg_int(p, (int64_t) a->in_octets);
	cb_pg_int(p, (int64_t) a->out_octets);
	cb_pg_text(p, be->server_id);
}

/**
 * ses_rows - run sql (a session write ... RETURNING, or the lookup), the
 * first row into out when not NULL (zeroed when it does not fit: edited
 * outside cetbyod; the write stands); when stopped is not NULL, *stopped
 * tells whether that row is closed (1), or closed as stale (2), and *id is
 * its id.  1 when a row came, 0 when none, -1.
 */
static int ses_rows(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_store_session_t *out,
		    int *stopped, int64_t *id, char const *what)
{
	PGresult *r = cb_pg_query(be, sql, p, what);
	int found;

	if (!r) return -1;
	found = PQntuples(r) > 0;
	if (found && out && !cb_pg_read_session(r, 0, out)) memset(out, 0, sizeof(*out));
	if (found && stopped) {
		*id = cb_pg_col_int(r, 0, 0);
		*stopped = !PQgetisnull(r, 0, 17);
		if (*stopped && strcmp(PQgetvalue(r, 0, 18), "Stale") == 0) *stopped = 2;
	}
	PQclear(r);
	return found;
}

/** ses_write - the update (how) or the insert with the request's values, the row into a->result: 1, 0 no row, -1. */
static int ses_write(cb_store_backend_t *be, cb_store_acct_row_t how, cb_store_acct_t const *a,
		     cb_store_acct_extra_t const *x, int64_t stopped)
{
	cb_pg_params_t p = { 0 };
	bool insert = how == CB_ACCT_INSERT;

	acct_params(be, &p, a, x, stopped);
	return ses_rows(be, insert ? ses_insert : how == CB_ACCT_UPDATE_SAME ? ses_update_same : ses_update, &p,
			a->result, NULL, NULL, insert ? "recording a session" : "updating a session");
}

/** ses_find - sqlite_sessions.c's: 0 nothing, 1 open, 2 latest closed, 3 latest closed as stale (*id), -1. */
static int ses_find(cb_store_backend_t *be, cb_store_acct_t const *a, int64_t *id)
{
	cb_pg_params_t p = { 0 };
	int rc, stopped = 0;

	cb_pg_text(&p, a->nas);
	cb_pg_text(&p, a->acct_session_id);
	rc = ses_rows(be, "SELECT " CLOSED_COLS " FROM sessions WHERE nas = $1 AND acct_session_id = $2 "
		      "ORDER BY stopped IS NULL DESC, id DESC LIMIT 1", &p, a->result, &stopped, id,
		      "looking up a session");
	return rc <= 0 ? rc : 1 + stopped;
}

static int ses_reopen(cb_store_backend_t *be, int64_t id)
{
	cb_pg_params_t p = { 0 };

	cb_pg_int(&p, id);
	return cb_pg_exec(be, "UPDATE sessions SET stopped = NULL, stop_cause = '' WHERE id = $1::bigint", &p,
			  "reopening a stale session", NULL);
}

static int pg_decision_new(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	return pg_decision_write(be, d, true);
}

static cb_store_acct_ops_t const pg_acct = {
	.decision_get = cb_pg_decision_get, .decision_new = pg_decision_new, .write = ses_write,
	.find = ses_find, .reopen = ses_reopen,
};

int cb_pg_session_start(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (cb_pg_begin(be) < 0) return -1;
	return cb_pg_end(be, cb_store_acct_apply(be, &pg_acct, a, CB_SPOOL_START)) < 0 ? -1 : 0;
}

int cb_pg_session_update(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (cb_pg_begin(be) < 0) return -1;
	return cb_pg_end(be, cb_store_acct_apply(be, &pg_acct, a, CB_SPOOL_UPDATE));
}

int cb_pg_session_stop(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (cb_pg_begin(be) < 0) return -1;
	return cb_pg_end(be, cb_store_acct_apply(be, &pg_acct, a, CB_SPOOL_STOP));
}

int cb_pg_sessions_write(cb_store_backend_t *be, cb_store_sw_t *w, size_t n)
{
	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		int rc = cb_store_acct_apply(be, &pg_acct, w[i].a, w[i].op);

		if (rc < 0) return cb_pg_end(be, -1);
		w[i].rc = w[i].op == CB_SPOOL_START ? 0 : rc;
	}
	return cb_pg_end(be, 0);
}

int cb_pg_session_get(cb_store_backend_t *be, char const *nas, char const *acct_session_id, cb_store_session_t *out)
{
	cb_pg_params_t p = { 0 };
	cb_store_session_t *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) return -1;
	cb_pg_text(&p, nas);
	cb_pg_text(&p, acct_session_id);
	rc = cb_pg_one(be, "SELECT " PG_SES_COLS "WHERE s.nas = $1 AND s.acct_session_id = $2 "
		       "ORDER BY s.stopped IS NULL DESC, s.id DESC LIMIT 1", &p, cb_pg_read_session, s,
		       "reading a session");
	if (rc == 0) *out = *s;
	free(s);
	return rc;
}

static int close_returning(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, char const *what,
			   size_t *closed, cb_store_sessions_t *out)
{
	void *items;
	int rc = cb_pg_list(be, sql, p, cb_pg_read_session, sizeof(cb_store_session_t), &items, &out->count, what);

	out->items = items;
	if (rc < 0) return -1;
	*closed = out->count;
	return *closed ? 0 : 1;
}

int cb_pg_nas_reboot(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
		     cb_store_sessions_t *out)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, nas);
	cb_pg_int(&p, now);
	cb_pg_text(&p, cause);
	return close_returning(be, "UPDATE sessions SET stopped = GREATEST(last_seen, $2::bigint), stop_cause = $3 "
			       "WHERE nas = $1 AND stopped IS NULL RETURNING " CLOSED_COLS, &p,
			       "closing the sessions of a NAS", closed, out);
}

int cb_pg_close_stale(cb_store_backend_t *be, time_t before, time_t now, size_t *closed, cb_store_sessions_t *out)
{
	cb_pg_params_t p = { 0 };

	(void) now;
	cb_pg_int(&p, before);
	return close_returning(be, "UPDATE sessions SET stopped = last_seen, stop_cause = 'Stale' "
			       "WHERE stopped IS NULL AND last_seen < $1::bigint RETURNING " CLOSED_COLS, &p,
			       "closing stale sessions", closed, out);
}

static void limit_param(cb_pg_params_t *p, size_t limit)
{
	if (limit) cb_pg_int(p, (int64_t) limit);
	else cb_pg_null(p);
}

int cb_pg_sessions_active(cb_store_backend_t *be, cb_store_filter_t const *f, cb_store_sessions_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_text(&p, f->identity);
	cb_pg_text(&p, f->status);
	cb_pg_int(&p, f->expired_by);
	cb_pg_bool(&p, f->revoked);
	limit_param(&p, f->limit);
	rc = cb_pg_list(be, "SELECT " PG_SES_COLS "WHERE s.stopped IS NULL "
			"AND ($1 = '' OR s.identity = $1) AND ($2 = '' OR s.status = $2) "
			"AND ($3::bigint = 0 OR (d.valid_until > 0 AND d.valid_until <= $3::bigint)) "
			"AND (NOT $4::boolean OR EXISTS (SELECT 1 FROM revocations r WHERE r.identity = s.identity "
			"AND r.reinstated_at IS NULL AND s.identity <> '')) "
			"ORDER BY s.started, s.id LIMIT $5::bigint", &p, cb_pg_read_session,
			sizeof(cb_store_session_t), &items, &out->count, "listing sessions");
	out->items = items;
	return rc;
}

int cb_pg_sessions_since(cb_store_backend_t *be, time_t since, size_t limit, cb_store_sessions_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_int(&p, since);
	limit_param(&p, limit);
	rc = cb_pg_list(be, "SELECT " PG_SES_COLS "WHERE s.identity <> '' AND (s.stopped IS NULL OR "
			"s.stopped >= $1::bigint) ORDER BY s.identity, s.started, s.id LIMIT $2::bigint", &p,
			cb_pg_read_session, sizeof(cb_store_session_t), &items, &out->count, "listing sessions");
	out->items = items;
	return rc;
}

/*
 *	Disconnect queue
 */
/*
 * An open request for the same session and kind (pending or held), or a
 * Disconnect for the same reason the NAS answered in the last DISC_RECENT
 * seconds (done), is not queued again: with two servers sharing the
 * store, both see a new revocation and both queue its sessions; the second
 * finds the first's row, open or already answered.  The two servers' look
 * and insert are serialised by a transaction-level advisory lock on the
 * session's key (DISC_LOCK): without it, a server whose look came before
 * the other's insert and whose insert came after the other's row was
 * already sent and answered (done, so outside the unique index) queued a
 * second Disconnect (seen once in test_two_servers on a loaded machine).
 * The unique index disconnects_open still settles two that race (ON
 * CONFLICT DO NOTHING: no error in the log).
 */
#define DISC_LOCK "SELECT pg_advisory_xact_lock(" PG_DISC_LOCK_CLASS ", hashtext($1 || E'\\n' || $2))"
#define DISC_RECENT	300
#define DISC_EXISTING "SELECT id FROM disconnects WHERE nas = $1 AND acct_session_id = $2 AND kind = $3 AND " \
	"(state IN ('pending', 'held') OR (kind = 'disconnect' AND state = 'done' AND reason = $5 AND updated_at >= $4::bigint)) " \
	"ORDER BY state IN ('pending', 'held') DESC, id DESC LIMIT 1"

/** disc_existing - the id of the row that makes a new one needless: 1 (*id set), 0 (none), -1. */
static int disc_existing(cb_store_backend_t *be, char const *nas, char const *acct_session_id, cb_disc_kind_t kind,
			 char const *reason, time_t now, int64_t *id)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc = 0;

	cb_pg_text(&p, nas);
	cb_pg_text(&p, acct_session_id);
	cb_pg_text(&p, cb_disc_kind_name(kind));
	cb_pg_int(&p, now - DISC_RECENT);
	cb_pg_text(&p, reason);
	r = cb_pg_query(be, DISC_EXISTING, &p, "looking up the disconnect queue");
	if (!r) return -1;
	if (PQntuples(r) > 0) {
		*id = cb_pg_col_int(r, 0, 0);
		rc = 1;
	}
	PQclear(r);
	return rc;
}

int cb_pg_disconnect_enqueue(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			     char const *identity, char const *reason, cb_disc_kind_t kind, bool held, time_t now,
			     int64_t *id)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc;

	if (cb_pg_begin(be) < 0) return -1;
	cb_pg_text(&p, nas);
	cb_pg_text(&p, acct_session_id);
	r = cb_pg_query(be, DISC_LOCK, &p, "locking the session's disconnect queue");	/* $1, $2 as below. */
	if (!r) return cb_pg_end(be, -1);
	PQclear(r);
	rc = disc_existing(be, nas, acct_session_id, kind, reason, now, id);
	if (rc != 0) return cb_pg_end(be, rc);
	cb_pg_text(&p, cb_disc_kind_name(kind));
	cb_pg_text(&p, identity);
	cb_pg_text(&p, reason);
	cb_pg_text(&p, held ? "held" : "pending");
	cb_pg_int(&p, now);
	r = cb_pg_query(be, "INSERT INTO disconnects (session_id, nas, acct_session_id, identity, reason, kind, state, "
			"created_at, updated_at, next_attempt) VALUES ((SELECT id FROM sessions WHERE nas = $1 AND "
			"acct_session_id = $2 ORDER BY stopped IS NULL DESC, id DESC LIMIT 1), $1, $2, $4, $5, $3, $6, "
			"$7, $7, $7) ON CONFLICT (nas, acct_session_id, kind) WHERE state IN ('pending', 'held') "
			"DO NOTHING RETURNING id", &p, "queueing a disconnect");
	rc = -1;
	if (r && PQntuples(r) == 1) {
		*id = cb_pg_col_int(r, 0, 0);
		rc = 0;
	} else if (r) {
		/* Another server queued it between our look and our insert. */
		rc = disc_existing(be, nas, acct_session_id, kind, reason, now, id) > 0 ? 1 : -1;
	}
	PQclear(r);
	return cb_pg_end(be, rc);
}

int cb_pg_disconnect_due(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_int(&p, now);
	limit_param(&p, limit);
	rc = cb_pg_list(be, "SELECT " DISC_COLS " FROM disconnects WHERE state = 'pending' AND next_attempt <= "
			"$1::bigint ORDER BY next_attempt, id LIMIT $2::bigint", &p, read_disconnect,
			sizeof(cb_store_disconnect_t), &items, &out->count, "listing due disconnects");
	out->items = items;
	return rc;
}

/**
 * cb_pg_disconnect_take - claim the due requests in one statement: rows
 * another server is claiming are skipped (FOR UPDATE SKIP LOCKED), rows it
 * claimed are not due before its lease ends; claimed_by names this server.
 */
int cb_pg_disconnect_take(cb_store_backend_t *be, time_t now, time_t until, size_t limit,
			  cb_store_disconnects_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_int(&p, now);
	limit_param(&p, limit);
	cb_pg_int(&p, until);
	cb_pg_text(&p, be->server_id);
	/* MATERIALIZED: the locking subquery runs once (as a plain IN it may run again per row, past LIMIT). */
	rc = cb_pg_list(be, "WITH due AS MATERIALIZED (SELECT id AS due_id FROM disconnects WHERE state = 'pending' AND "
			"next_attempt <= $1::bigint ORDER BY next_attempt, id LIMIT $2::bigint FOR UPDATE SKIP LOCKED) "
			"UPDATE disconnects SET next_attempt = $3::bigint, claimed_by = $4 FROM due WHERE id = due_id "
			"RETURNING " DISC_COLS, &p,
			read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count,
			"claiming due disconnects");
	out->items = items;
	return rc;
}

/**
 * cb_pg_disconnect_claim - a lease until until (next_attempt) on a request
 * this server holds (or nobody: claimed_by ''); 1 when it is not pending or
 * another server took it over after this one's lease ended.
 */
int cb_pg_disconnect_claim(cb_store_backend_t *be, int64_t id, time_t until)
{
	cb_pg_params_t p = { 0 };
	size_t n = 0;

	cb_pg_int(&p, id);
	cb_pg_int(&p, until);
	cb_pg_text(&p, be->server_id);
	if (cb_pg_exec(be, "UPDATE disconnects SET next_attempt = $2, claimed_by = $3 WHERE id = $1 AND "
		       "state = 'pending' AND claimed_by IN ($3, '')", &p, "claiming a disconnect", &n) < 0) return -1;
	return n ? 0 : 1;
}

#define DISC_MARK "UPDATE disconnects SET attempts = attempts + 1, last_attempt = $2, updated_at = $2, " \
	"last_result = $3, error_cause = $4, detail = $5, " \
	"state = CASE WHEN $3 = 'acked' OR ($3 = 'nak' AND $4::bigint = 503) THEN 'done' " \
	"WHEN $6::bigint = 0 THEN 'failed' ELSE 'pending' END, " \
	"next_attempt = CASE WHEN $3 = 'acked' OR ($3 = 'nak' AND $4::bigint = 503) OR $6::bigint = 0 " \
	"THEN next_attempt ELSE $6::bigint END " \
	"WHERE id = $1 AND state = 'pending'"

int cb_pg_disconnect_mark(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			  char const *detail, time_t next_attempt, time_t now)
{
	cb_pg_params_t p = { 0 }, q = { 0 };
	size_t n = 0;

	cb_pg_int(&p, id);
	cb_pg_int(&p, now);
	cb_pg_text(&p, cb_disc_result_name(result));
	cb_pg_int(&p, error_cause);
	cb_pg_text(&p, detail);
	cb_pg_int(&p, next_attempt);
	if (result != CB_DISC_NAK || error_cause != 503) {
		if (cb_pg_exec(be, DISC_MARK, &p, "recording a disconnect attempt", &n) < 0) return -1;
		return n ? 0 : 1;
	}
	/* Session Context Not Found: the request is done and the session closed, in one transaction. */
	if (cb_pg_begin(be) < 0) return -1;
	if (cb_pg_exec(be, DISC_MARK, &p, "recording a disconnect attempt", &n) < 0) return cb_pg_end(be, -1);
	if (!n) return cb_pg_end(be, 1);
	cb_pg_int(&q, id);
	cb_pg_int(&q, now);
	return cb_pg_end(be, cb_pg_exec(be, "UPDATE sessions SET stopped = GREATEST(last_seen, $2::bigint), "
					"stop_cause = 'Session-Context-Not-Found' WHERE stopped IS NULL AND "
					"(nas, acct_session_id) = (SELECT nas, acct_session_id FROM disconnects WHERE "
					"id = $1)", &q, "closing a session the NAS does not know", NULL) < 0 ? -1 : 0);
}

int cb_pg_disconnect_hold(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held)
{
	size_t moved = 0;
	int rc = 0;

	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		cb_pg_params_t p = { 0 };
		size_t c = 0;

		cb_pg_int(&p, ids[i]);
		rc = cb_pg_exec(be, "UPDATE disconnects SET state = 'held' WHERE id = $1 AND state = 'pending'", &p,
				"holding a disconnect", &c);
		moved += c;
	}
	if (cb_pg_end(be, rc) < 0) return -1;
	*held = moved;
	return moved ? 0 : 1;
}

int cb_pg_disconnect_release(cb_store_backend_t *be, bool confirm, time_t now, size_t *count)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, confirm ? "pending" : "cancelled");
	cb_pg_int(&p, now);
	if (cb_pg_exec(be, "UPDATE disconnects SET state = $1, next_attempt = $2, updated_at = $2 WHERE state = 'held'",
		       &p, "releasing held disconnects", count) < 0) return -1;
	return *count ? 0 : 1;
}

int cb_pg_disconnects(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_text(&p, cb_disc_state_name(state));
	limit_param(&p, limit);
	rc = cb_pg_list(be, "SELECT " DISC_COLS " FROM disconnects WHERE state = $1 "
			"ORDER BY CASE WHEN $1 IN ('pending', 'held') THEN id ELSE -id END LIMIT $2::bigint", &p,
			read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count, "listing disconnects");
	out->items = items;
	return rc;
}
