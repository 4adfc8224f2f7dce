/*
 * sqlite_sessions.c - the SQLite backend's decisions, sessions and
 * disconnect queue (see sqlite.c for the connection and the statements).
 */
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "store/sqlite_int.h"

/*
 *	Row readers: each returns false when a row does not fit its record,
 *	which only an edit outside cetbyod can cause.
 */
static bool read_decision(sqlite3_stmt *st, void *row)
{
	cb_store_decision_t *d = row;

	d->decided_at = cb_sqlite_col_time(st, 5);
	d->valid_until = cb_sqlite_col_time(st, 6);
	d->ack_time = cb_sqlite_col_time(st, 7);
	return COL_TEXT(st, 0, d->class_id) && COL_TEXT(st, 1, d->identity) && COL_TEXT(st, 2, d->outer_identity) &&
	       COL_TEXT(st, 3, d->status) && COL_TEXT(st, 4, d->reason) && COL_TEXT(st, 8, d->policy_version) &&
	       COL_TEXT(st, 9, d->nas) && COL_TEXT(st, 10, d->calling_station) && COL_TEXT(st, 11, d->ack_email) &&
	       COL_TEXT(st, 12, d->role);
}

static bool read_session(sqlite3_stmt *st, void *row)
{
	cb_store_session_t *s = row;

	s->id = sqlite3_column_int64(st, 0);
	s->valid_until = cb_sqlite_col_time(st, 14);
	s->started = cb_sqlite_col_time(st, 15);
	s->last_seen = cb_sqlite_col_time(st, 16);
	s->stopped = cb_sqlite_col_time(st, 17);
	s->in_octets = (uint64_t) sqlite3_column_int64(st, 19);
	s->out_octets = (uint64_t) sqlite3_column_int64(st, 20);
	return COL_TEXT(st, 1, s->nas) && COL_TEXT(st, 2, s->acct_session_id) && COL_TEXT(st, 3, s->class_id) &&
	       COL_TEXT(st, 4, s->identity) && COL_TEXT(st, 5, s->outer_identity) &&
	       COL_TEXT(st, 6, s->calling_station) && COL_TEXT(st, 7, s->called_station) &&
	       COL_TEXT(st, 8, s->ap) && COL_TEXT(st, 9, s->ssid) && COL_TEXT(st, 10, s->framed_ip) &&
	       COL_TEXT(st, 11, s->nas_ip) && COL_TEXT(st, 12, s->nas_identifier) &&
	       COL_TEXT(st, 13, s->status) && COL_TEXT(st, 18, s->stop_cause);
}
static bool read_disconnect(sqlite3_stmt *st, void *row)
{
	cb_store_disconnect_t *d = row;
	char kind[16], state[16], result[16];
	int k, s, r;

	d->id = sqlite3_column_int64(st, 0);
	d->attempts = (unsigned int) sqlite3_column_int(st, 7);
	d->created_at = cb_sqlite_col_time(st, 8);
	d->next_attempt = cb_sqlite_col_time(st, 9);
	d->last_attempt = cb_sqlite_col_time(st, 10);
	d->error_cause = (unsigned int) sqlite3_column_int(st, 12);
	if (!COL_TEXT(st, 1, d->nas) || !COL_TEXT(st, 2, d->acct_session_id) || !COL_TEXT(st, 3, d->identity) ||
	    !COL_TEXT(st, 4, d->reason) || !COL_TEXT(st, 5, kind) || !COL_TEXT(st, 6, state) ||
	    !COL_TEXT(st, 11, result) || !COL_TEXT(st, 13, d->detail)) return false;
	k = cb_name_value(cb_store_disc_kind_names, kind, -1);
	s = cb_name_value(cb_store_disc_state_names, state, -1);
	r = cb_name_value(cb_store_disc_result_names, result, -1);
	if (k < 0 || s < 0 || r < 0) return false;
	d->kind = (cb_disc_kind_t) k;
	d->state = (cb_disc_state_t) s;
	d->last_result = (cb_disc_result_t) r;
	return true;
}
/*
 *	Decisions
 */
/** dec_write - run S_DEC_PUT or S_DEC_PUT_NEW with d's values; 0, or -1. */
static int dec_write(cb_store_backend_t *be, stmt_id_t id, cb_store_decision_t const *d)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, id);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, d->class_id);
	cb_sqlite_bind_text(st, 2, d->identity);
	cb_sqlite_bind_text(st, 3, d->outer_identity);
	cb_sqlite_bind_text(st, 4, d->status);
	cb_sqlite_bind_text(st, 5, d->reason);
	cb_sqlite_bind_int(st, 6, d->decided_at);
	cb_sqlite_bind_int(st, 7, d->valid_until);
	cb_sqlite_bind_int(st, 8, d->ack_time);
	cb_sqlite_bind_text(st, 9, d->policy_version);
	cb_sqlite_bind_text(st, 10, d->nas);
	cb_sqlite_bind_text(st, 11, d->calling_station);
	cb_sqlite_bind_text(st, 12, d->ack_email);
	cb_sqlite_bind_text(st, 13, d->role);
	return cb_sqlite_done(be, st, "recording a decision");
}

static int sq_decision_insert(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	if (dec_write(be, S_DEC_PUT, d) < 0) return -1;
	return cb_sqlite_decision_device(be, d);
}

/** cb_sqlite_decisions_put - n decisions in one transaction; one that fails (logged) does not stop the others. */
int cb_sqlite_decisions_put(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n)
{
	int rc = 0;
	char mac[CB_MAC_LEN + 1];

	/* One decision without a device is one statement; with a device, two in one transaction. */
	if (n == 1 && !cb_mac_normalise(d->calling_station, mac)) return sq_decision_insert(be, d);
	if (cb_sqlite_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		if (sq_decision_insert(be, &d[i]) == 0) continue;
		rc = 1;
		/* SQLite rolls the whole transaction back on some errors (SQLITE_FULL,
		 * SQLITE_IOERR): the rest would then commit one by one, outside it. */
		if (sqlite3_get_autocommit(be->db)) return -1;
	}
	return cb_sqlite_end(be, 0) < 0 ? -1 : -rc;
}

int cb_sqlite_decision_get(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DEC_GET);
	cb_store_decision_t d;
	int rc;

	if (!st) return -1;
	memset(&d, 0, sizeof(d));
	cb_sqlite_bind_text(st, 1, class_id);
	rc = cb_sqlite_one(be, st, read_decision, &d, "reading a decision");
	if (rc == 0) *out = d;
	return rc;
}

/*
 *	Sessions
 */

/** bind_acct - the shared session parameters; stopped < 0 binds NULL (open). */
static void bind_acct(sqlite3_stmt *st, cb_store_acct_t const *a, cb_store_acct_extra_t const *x,
		      int64_t stopped)
{
	cb_sqlite_bind_text(st, 1, a->nas);
	cb_sqlite_bind_text(st, 2, a->acct_session_id);
	cb_sqlite_bind_text(st, 3, a->class_id);
	cb_sqlite_bind_text(st, 4, x->identity);
	cb_sqlite_bind_text(st, 5, a->outer_identity);
	cb_sqlite_bind_text(st, 6, a->calling_station);
	cb_sqlite_bind_text(st, 7, a->called_station);
	cb_sqlite_bind_text(st, 8, x->ap);
	cb_sqlite_bind_text(st, 9, x->ssid);
	cb_sqlite_bind_text(st, 10, a->framed_ip);
	cb_sqlite_bind_text(st, 11, a->nas_ip);
	cb_sqlite_bind_text(st, 12, a->nas_identifier);
	cb_sqlite_bind_text(st, 13, x->status);
	cb_sqlite_bind_int(st, 14, a->started ? a->started : a->event_time);
	cb_sqlite_bind_int(st, 15, a->event_time);
	if (stopped < 0) {
		sqlite3_bind_null(st, 16);
	} else {
		cb_sqlite_bind_int(st, 16, stopped);
	}
	cb_sqlite_bind_text(st, 17, a->stop_cause);
	cb_sqlite_bind_int(st, 18, a->has_octets);
	cb_sqlite_bind_int(st, 19, (int64_t) a->in_octets);
	cb_sqlite_bind_int(st, 20, (int64_t) a->out_octets);
}

/**
 * ses_rows - step st (S_SES_FIND or S_SES_BYID) to its end, the first
 * row into out when not NULL (zeroed when the row does not fit: it was
 * edited outside cetbyod, and the write stands); when stopped is not
 * NULL, *stopped tells whether that row is closed (1), or closed as stale
 * (2), and *id is its id.  1 when a row came, 0 when none, -1.
 */
static int ses_rows(cb_store_backend_t *be, sqlite3_stmt *st, cb_store_session_t *out, int *stopped,
		    int64_t *id, char const *what)
{
	char const *cause;
	int rc, found = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (found++) continue;
		if (out && !read_session(st, out)) memset(out, 0, sizeof(*out));
		if (!stopped) continue;
		*id = sqlite3_column_int64(st, 0);
		*stopped = sqlite3_column_type(st, 17) != SQLITE_NULL;
		cause = (char const *) sqlite3_column_text(st, 18);
		if (*stopped && cause && strcmp(cause, "Stale") == 0) *stopped = 2;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) return cb_sqlite_fail(be, what);
	return found ? 1 : 0;
}

/** ses_read - the row by its id (id > 0) or, after an update, the key's open-else-latest one, into a->result. */
static int ses_read(cb_store_backend_t *be, cb_store_acct_t const *a, int64_t id)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, id > 0 ? S_SES_BYID : S_SES_FIND);

	if (!st) return -1;
	if (id > 0) {
		cb_sqlite_bind_int(st, 1, id);
	} else {
		cb_sqlite_bind_text(st, 1, a->nas);
		cb_sqlite_bind_text(st, 2, a->acct_session_id);
	}
	return ses_rows(be, st, a->result, NULL, NULL, "reading a session as written") < 0 ? -1 : 1;
}

/**
 * ses_write - S_SES_UPDATE, S_SES_UPDATE_SAME or S_SES_INSERT (how), with
 * the request's values: 1 a row written (into a->result, read in the same
 * transaction), 0 none, -1.  Not RETURNING: SQLite 3.40 runs it through an
 * ephemeral table per statement, which costs more than this point read
 * (measured: bench/README, session 21).
 */
static int ses_write(cb_store_backend_t *be, cb_store_acct_row_t how, cb_store_acct_t const *a,
		     cb_store_acct_extra_t const *x, int64_t stopped)
{
	bool insert = how == CB_ACCT_INSERT;
	sqlite3_stmt *st = cb_sqlite_stmt(be, insert ? S_SES_INSERT : how == CB_ACCT_UPDATE_SAME ? S_SES_UPDATE_SAME :
					  S_SES_UPDATE);

	if (!st) return -1;
	bind_acct(st, a, x, stopped);
	if (cb_sqlite_done(be, st, insert ? "recording a session" : "updating a session") < 0) return -1;
	if (!insert && !cb_sqlite_changes(be)) return 0;
	if (!a->result) return 1;
	return ses_read(be, a, insert ? sqlite3_last_insert_rowid(be->db) : 0);
}

/**
 * ses_find - what the key has: 0 nothing, 1 an open session, 2 its latest
 * closed, 3 its latest closed as stale (*id), -1 on error; the row into
 * a->result (a repeated Stop's answer).
 */
static int ses_find(cb_store_backend_t *be, cb_store_acct_t const *a, int64_t *id)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_FIND);
	int rc, stopped = 0;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, a->nas);
	cb_sqlite_bind_text(st, 2, a->acct_session_id);
	rc = ses_rows(be, st, a->result, &stopped, id, "looking up a session");
	return rc <= 0 ? rc : 1 + stopped;
}

/** ses_reopen - reopen the session id, closed as stale; 0 or -1. */
static int ses_reopen(cb_store_backend_t *be, int64_t id)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_REOPEN);

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, id);
	return cb_sqlite_done(be, st, "reopening a stale session");
}

static int sq_decision_new(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	return dec_write(be, S_DEC_PUT_NEW, d);
}

static cb_store_acct_ops_t const sq_acct = {
	.decision_get = cb_sqlite_decision_get, .decision_new = sq_decision_new, .write = ses_write,
	.find = ses_find, .reopen = ses_reopen,
};

int cb_sqlite_session_start(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	int rc;

	if (cb_sqlite_begin(be) < 0) return -1;
	rc = cb_sqlite_end(be, cb_store_acct_apply(be, &sq_acct, a, CB_SPOOL_START));
	return rc < 0 ? -1 : 0;
}

int cb_sqlite_session_update(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (cb_sqlite_begin(be) < 0) return -1;
	return cb_sqlite_end(be, cb_store_acct_apply(be, &sq_acct, a, CB_SPOOL_UPDATE));
}

int cb_sqlite_session_stop(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (cb_sqlite_begin(be) < 0) return -1;
	return cb_sqlite_end(be, cb_store_acct_apply(be, &sq_acct, a, CB_SPOOL_STOP));
}

int cb_sqlite_sessions_write(cb_store_backend_t *be, cb_store_sw_t *w, size_t n)
{
	if (cb_sqlite_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		int rc = cb_store_acct_apply(be, &sq_acct, w[i].a, w[i].op);

		if (rc < 0) return cb_sqlite_end(be, -1);
		w[i].rc = w[i].op == CB_SPOOL_START ? 0 : rc;
	}
	return cb_sqlite_end(be, 0);
}

int cb_sqlite_session_get(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			  cb_store_session_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_GET);
	cb_store_session_t *s;
	int rc;

	if (!st) return -1;
	s = calloc(1, sizeof(*s));	/* 3 KB: not on a request thread's stack. */
	if (!s) {
		BE_ERR(be, "store %s: out of memory", be->path);
		return -1;
	}
	cb_sqlite_bind_text(st, 1, nas);
	cb_sqlite_bind_text(st, 2, acct_session_id);
	rc = cb_sqlite_one(be, st, read_session, s, "reading a session");
	if (rc == 0) *out = *s;
	free(s);
	return rc;
}

/** sq_close_returning - run an UPDATE ... RETURNING of sessions; the closed ones go to out. */
static int sq_close_returning(cb_store_backend_t *be, sqlite3_stmt *st, char const *what, size_t *closed,
			      cb_store_sessions_t *out)
{
	void *items;
	int rc;

	if (cb_sqlite_begin(be) < 0) return -1;
	rc = cb_sqlite_list(be, st, read_session, sizeof(cb_store_session_t), &items, &out->count, what);
	out->items = items;
	rc = cb_sqlite_end(be, rc);
	if (rc < 0) {
		cb_store_sessions_free(out);
		return -1;
	}
	*closed = out->count;
	return *closed ? 0 : 1;
}

int cb_sqlite_nas_reboot(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
			 cb_store_sessions_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_NAS_REBOOT);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, nas);
	cb_sqlite_bind_int(st, 2, now);
	cb_sqlite_bind_text(st, 3, cause);
	return sq_close_returning(be, st, "closing the sessions of a NAS", closed, out);
}

int cb_sqlite_close_stale(cb_store_backend_t *be, time_t before, time_t now, size_t *closed,
			  cb_store_sessions_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_STALE);

	(void) now;
	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, before);
	return sq_close_returning(be, st, "closing stale sessions", closed, out);
}

int cb_sqlite_sessions_active(cb_store_backend_t *be, cb_store_filter_t const *f, cb_store_sessions_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_ACTIVE);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, f->identity);
	cb_sqlite_bind_text(st, 2, f->status);
	cb_sqlite_bind_int(st, 3, f->expired_by);
	cb_sqlite_bind_int(st, 4, f->revoked);
	cb_sqlite_bind_int(st, 5, f->limit ? (int64_t) f->limit : -1);
	rc = cb_sqlite_list(be, st, read_session, sizeof(cb_store_session_t), &items, &out->count, "listing sessions");
	out->items = items;
	return rc;
}

int cb_sqlite_sessions_since(cb_store_backend_t *be, time_t since, size_t limit, cb_store_sessions_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_SES_SINCE);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, since);
	cb_sqlite_bind_int(st, 2, limit ? (int64_t) limit : -1);
	rc = cb_sqlite_list(be, st, read_session, sizeof(cb_store_session_t), &items, &out->count, "listing sessions");
	out->items = items;
	return rc;
}
/*
 *	Disconnect queue
 */

/** disc_find_open - id of the pending or held request of that kind for the session: 0 (*id), 1 none, -1. */
static int disc_find_open(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			  cb_disc_kind_t kind, int64_t *id)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_FIND_OPEN);
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, nas);
	cb_sqlite_bind_text(st, 2, acct_session_id);
	cb_sqlite_bind_text(st, 3, cb_disc_kind_name(kind));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) return 0;
	if (rc == SQLITE_DONE) return 1;
	return cb_sqlite_fail(be, "looking up the disconnect queue");
}

/** disc_session_id - the session's row id (0 when unknown), or -1. */
static int64_t disc_session_id(cb_store_backend_t *be, char const *nas, char const *acct_session_id)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_SESSION_ID);
	int64_t id = 0;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, nas);
	cb_sqlite_bind_text(st, 2, acct_session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) return cb_sqlite_fail(be, "looking up a session");
	return id;
}

static int disc_insert(cb_store_backend_t *be, char const *nas, char const *acct_session_id, char const *identity,
		       char const *reason, cb_disc_kind_t kind, bool held, time_t now, int64_t *id)
{
	int64_t sid = disc_session_id(be, nas, acct_session_id);
	sqlite3_stmt *st;

	if (sid < 0) return -1;
	st = cb_sqlite_stmt(be, S_DISC_INSERT);
	if (!st) return -1;
	if (sid > 0) {
		cb_sqlite_bind_int(st, 1, sid);
	} else {
		sqlite3_bind_null(st, 1);
	}
	cb_sqlite_bind_text(st, 2, nas);
	cb_sqlite_bind_text(st, 3, acct_session_id);
	cb_sqlite_bind_text(st, 4, identity);
	cb_sqlite_bind_text(st, 5, reason);
	cb_sqlite_bind_text(st, 6, cb_disc_kind_name(kind));
	cb_sqlite_bind_text(st, 7, held ? "held" : "pending");
	cb_sqlite_bind_int(st, 8, now);
	if (cb_sqlite_done(be, st, "queueing a disconnect") < 0) return -1;
	*id = sqlite3_last_insert_rowid(be->db);
	return 0;
}

int cb_sqlite_disconnect_enqueue(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
				 char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				 time_t now, int64_t *id)
{
	int rc;

	if (cb_sqlite_begin(be) < 0) return -1;
	rc = disc_find_open(be, nas, acct_session_id, kind, id);
	if (rc == 1) rc = disc_insert(be, nas, acct_session_id, identity, reason, kind, held, now, id);
	else if (rc == 0) rc = 1;
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_disconnect_due(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_DUE);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, now);
	cb_sqlite_bind_int(st, 2, limit ? (int64_t) limit : -1);
	rc = cb_sqlite_list(be, st, read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count,
		     "listing due disconnects");
	out->items = items;
	return rc;
}

int cb_sqlite_disconnect_mark(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			      char const *detail, time_t next_attempt, time_t now)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_MARK);

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, id);
	cb_sqlite_bind_int(st, 2, now);
	cb_sqlite_bind_text(st, 3, cb_disc_result_name(result));
	cb_sqlite_bind_int(st, 4, error_cause);
	cb_sqlite_bind_text(st, 5, detail);
	cb_sqlite_bind_int(st, 6, next_attempt);
	if (result != CB_DISC_NAK || error_cause != 503) {
		if (cb_sqlite_done(be, st, "recording a disconnect attempt") < 0) return -1;
		return cb_sqlite_changes(be) ? 0 : 1;
	}
	/* Session Context Not Found: the request is done and the session closed, in one transaction. */
	if (cb_sqlite_begin(be) < 0) {
		sqlite3_reset(st);
		return -1;
	}
	if (cb_sqlite_done(be, st, "recording a disconnect attempt") < 0) return cb_sqlite_end(be, -1);
	if (!cb_sqlite_changes(be)) return cb_sqlite_end(be, 1);
	st = cb_sqlite_stmt(be, S_DISC_GONE);
	if (!st) return cb_sqlite_end(be, -1);
	cb_sqlite_bind_int(st, 1, id);
	cb_sqlite_bind_int(st, 2, now);
	return cb_sqlite_end(be, cb_sqlite_done(be, st, "closing a session the NAS does not know") < 0 ? -1 : 0);
}

int cb_sqlite_disconnect_claim(cb_store_backend_t *be, int64_t id, time_t until)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_CLAIM);

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, id);
	cb_sqlite_bind_int(st, 2, until);
	if (cb_sqlite_done(be, st, "claiming a disconnect") < 0) return -1;
	return cb_sqlite_changes(be) ? 0 : 1;
}

int cb_sqlite_disconnect_hold(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held)
{
	size_t i, moved = 0;
	int rc = 0;

	if (cb_sqlite_begin(be) < 0) return -1;
	for (i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_HOLD);

		if (!st) {
			rc = -1;
			break;
		}
		cb_sqlite_bind_int(st, 1, ids[i]);
		rc = cb_sqlite_done(be, st, "holding a disconnect");
		if (rc == 0) moved += cb_sqlite_changes(be);
	}
	if (cb_sqlite_end(be, rc) < 0) return -1;
	*held = moved;
	return moved ? 0 : 1;
}

int cb_sqlite_disconnect_release(cb_store_backend_t *be, bool confirm, time_t now, size_t *count)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_RELEASE);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, confirm ? "pending" : "cancelled");
	cb_sqlite_bind_int(st, 2, now);
	if (cb_sqlite_done(be, st, "releasing held disconnects") < 0) return -1;
	*count = cb_sqlite_changes(be);
	return *count ? 0 : 1;
}

int cb_sqlite_disconnects(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DISC_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, cb_disc_state_name(state));
	cb_sqlite_bind_int(st, 2, limit ? (int64_t) limit : -1);
	rc = cb_sqlite_list(be, st, read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count,
		     "listing disconnects");
	out->items = items;
	return rc;
}
