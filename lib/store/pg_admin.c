/*
 * pg_admin.c - the PostgreSQL backend's revocations, exceptions, people,
 * reminders, commands, status, counts and purge: the rules of
 * sqlite_admin.c (which explains them) in PostgreSQL's dialect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

#define REV_COLS "id, identity, reason, revoked_by, revoked_at, reinstated_by, COALESCE(reinstated_at, 0)"
#define EXC_COLS "id, identity, mac, reason, approved_by, granted_by, granted_at, until, ended_by, " \
		 "COALESCE(ended_at, 0)"
#define PEOPLE_COLS "identity, email, role, disabled, exception_reason, exception_approved_by, exception_until, " \
		    "ack_time, ack_expiry, ack_revoked, policy_version, status, reason, refreshed_at"
#define UNREADABLE "(unreadable in the store)"

static void lenient_text(PGresult const *r, int i, int col, char *buf, size_t size)
{
	if (!cb_pg_col_text(r, i, col, buf, size)) snprintf(buf, size, "%s", UNREADABLE);
}

static bool read_revocation(PGresult const *res, int i, void *row)
{
	cb_store_revocation_t *r = row;

	r->id = cb_pg_col_int(res, i, 0);
	r->revoked_at = (time_t) cb_pg_col_int(res, i, 4);
	r->reinstated_at = (time_t) cb_pg_col_int(res, i, 6);
	lenient_text(res, i, 2, r->reason, sizeof(r->reason));
	lenient_text(res, i, 3, r->by, sizeof(r->by));
	lenient_text(res, i, 5, r->reinstated_by, sizeof(r->reinstated_by));
	return PG_TEXT(res, i, 1, r->identity) && r->identity[0];
}

static bool read_exception(PGresult const *r, int i, void *row)
{
	cb_store_exception_t *x = row;

	x->id = cb_pg_col_int(r, i, 0);
	x->granted_at = (time_t) cb_pg_col_int(r, i, 6);
	x->until = (time_t) cb_pg_col_int(r, i, 7);
	x->ended_at = (time_t) cb_pg_col_int(r, i, 9);
	return PG_TEXT(r, i, 1, x->identity) && PG_TEXT(r, i, 2, x->mac) && PG_TEXT(r, i, 3, x->reason) &&
	       PG_TEXT(r, i, 4, x->approved_by) && PG_TEXT(r, i, 5, x->granted_by) && PG_TEXT(r, i, 8, x->ended_by);
}

static bool read_person(PGresult const *r, int i, void *row)
{
	cb_store_person_t *p = row;

	p->disabled = cb_pg_col_int(r, i, 3) != 0;
	p->exception_until = (time_t) cb_pg_col_int(r, i, 6);
	p->ack_time = (time_t) cb_pg_col_int(r, i, 7);
	p->ack_expiry = (time_t) cb_pg_col_int(r, i, 8);
	p->ack_revoked = cb_pg_col_int(r, i, 9) != 0;
	p->refreshed_at = (time_t) cb_pg_col_int(r, i, 13);
	return PG_TEXT(r, i, 0, p->identity) && PG_TEXT(r, i, 1, p->email) && PG_TEXT(r, i, 2, p->role) &&
	       PG_TEXT(r, i, 4, p->exception_reason) && PG_TEXT(r, i, 5, p->exception_approved_by) &&
	       PG_TEXT(r, i, 10, p->policy_version) && PG_TEXT(r, i, 11, p->status) && PG_TEXT(r, i, 12, p->reason);
}

static bool read_reminder(PGresult const *res, int i, void *row)
{
	cb_store_reminder_t *r = row;

	r->ack_expiry = (time_t) cb_pg_col_int(res, i, 2);
	r->window_days = (unsigned int) cb_pg_col_int(res, i, 3);
	r->sent_at = (time_t) cb_pg_col_int(res, i, 4);
	return PG_TEXT(res, i, 0, r->identity) && PG_TEXT(res, i, 1, r->email) && PG_TEXT(res, i, 5, r->result) &&
	       PG_TEXT(res, i, 6, r->detail);
}

static bool read_command(PGresult const *r, int i, void *row)
{
	cb_store_command_t *c = row;
	char name[CB_STORE_NAME_MAX + 1];
	int cmd;

	c->id = cb_pg_col_int(r, i, 0);
	c->created_at = (time_t) cb_pg_col_int(r, i, 4);
	if (!PG_TEXT(r, i, 1, name) || !PG_TEXT(r, i, 2, c->arg) || !PG_TEXT(r, i, 3, c->by)) return false;
	cmd = cb_cmd_from_name(name);
	if (cmd < 0) return false;
	c->cmd = (cb_cmd_t) cmd;
	return true;
}

static bool read_status(PGresult const *r, int i, void *row)
{
	cb_store_status_t *s = row;

	s->updated_at = (time_t) cb_pg_col_int(r, i, 2);
	return PG_TEXT(r, i, 0, s->key) && PG_TEXT(r, i, 1, s->value);
}

/*
 *	Revocations
 */
static void rev_params(cb_pg_params_t *p, char const *identity, char const *reason, char const *by, time_t now)
{
	cb_pg_text(p, identity);
	cb_pg_text(p, reason);
	cb_pg_text(p, by);
	cb_pg_int(p, now);
}

int cb_pg_revoke(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now)
{
	cb_pg_params_t p = { 0 };
	size_t n = 0;
	int rc;

	rev_params(&p, identity, reason, by, now);
	if (cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_exec(be, "UPDATE revocations SET reason = $2, revoked_by = $3, revoked_at = $4 "
			"WHERE identity = $1 AND reinstated_at IS NULL", &p, "updating a revocation", &n);
	if (rc == 0 && n > 0) rc = 1;
	else if (rc == 0) rc = cb_pg_exec(be, "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) "
					  "VALUES ($1, $2, $3, $4)", &p, "recording a revocation", NULL);
	if (rc >= 0 && cb_pg_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
	return cb_pg_end(be, rc);
}

int cb_pg_reinstate(cb_store_backend_t *be, char const *identity, char const *by, time_t now)
{
	cb_pg_params_t p = { 0 };
	size_t n = 0;
	int rc;

	cb_pg_text(&p, identity);
	cb_pg_text(&p, by);
	cb_pg_int(&p, now);
	if (cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_exec(be, "UPDATE revocations SET reinstated_by = $2, reinstated_at = $3 "
			"WHERE identity = $1 AND reinstated_at IS NULL", &p, "reinstating", &n);
	if (rc == 0 && n == 0) rc = 1;
	if (rc == 0 && cb_pg_notify(be, "reinstate") < 0) rc = -1;
	return cb_pg_end(be, rc);
}

int cb_pg_is_revoked(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out)
{
	cb_pg_params_t p = { 0 };
	cb_store_revocation_t r;
	int rc;

	memset(&r, 0, sizeof(r));
	cb_pg_text(&p, identity);
	rc = cb_pg_one(be, "SELECT " REV_COLS " FROM revocations WHERE identity = $1 AND reinstated_at IS NULL", &p,
		       read_revocation, &r, "reading a revocation");
	if (rc < 0) return -1;
	if (rc == 1) return 0;
	if (out) *out = r;
	return 1;
}

int cb_pg_revocations(cb_store_backend_t *be, bool history, cb_store_revocations_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_bool(&p, history);
	rc = cb_pg_list_skipping(be, "SELECT " REV_COLS " FROM revocations WHERE $1::boolean OR reinstated_at IS NULL "
				 "ORDER BY revoked_at DESC, id DESC", &p, read_revocation,
				 sizeof(cb_store_revocation_t), &items, &out->count, &out->skipped,
				 &out->first_skipped, "listing revocations");
	out->items = items;
	return rc;
}

/*
 *	Exceptions register
 */
int cb_pg_exception_add(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			char const *approved_by, char const *by, time_t until, time_t now, int64_t *id)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc = -1;

	cb_pg_text(&p, identity);
	cb_pg_text(&p, mac);
	cb_pg_text(&p, reason);
	cb_pg_text(&p, approved_by);
	cb_pg_text(&p, by);
	cb_pg_int(&p, now);
	cb_pg_int(&p, until);
	if (cb_pg_begin(be) < 0) return -1;
	r = cb_pg_query(be, "UPDATE exceptions SET reason = $3, approved_by = $4, granted_by = $5, granted_at = $6, "
			"until = $7 WHERE identity = $1 AND mac = $2 AND ended_at IS NULL RETURNING id", &p,
			"updating an exception");
	if (r && PQntuples(r) > 0) {
		rc = 1;
	} else if (r) {
		PQclear(r);
		r = cb_pg_query(be, "INSERT INTO exceptions (identity, mac, reason, approved_by, granted_by, granted_at, "
				"until) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", &p, "recording an exception");
		if (r && PQntuples(r) > 0) rc = 0;
	}
	if (rc >= 0 && id) *id = cb_pg_col_int(r, 0, 0);
	PQclear(r);
	if (rc >= 0 && cb_pg_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
	return cb_pg_end(be, rc);
}

int cb_pg_exception_end(cb_store_backend_t *be, char const *identity, char const *mac, char const *by, time_t now,
			size_t *ended)
{
	cb_pg_params_t p = { 0 };
	int rc;

	cb_pg_text(&p, identity);
	cb_pg_text(&p, mac);
	cb_pg_text(&p, by);
	cb_pg_int(&p, now);
	if (cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_exec(be, "UPDATE exceptions SET ended_by = $3, ended_at = $4 "
			"WHERE identity = $1 AND ($2 = '' OR mac = $2) AND ended_at IS NULL", &p, "ending an exception",
			ended);
	if (rc == 0) rc = *ended ? 0 : 1;
	if (rc == 0 && cb_pg_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
	return cb_pg_end(be, rc);
}

int cb_pg_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_bool(&p, history);
	rc = cb_pg_list(be, "SELECT " EXC_COLS " FROM exceptions WHERE $1::boolean OR ended_at IS NULL "
			"ORDER BY granted_at DESC, id DESC", &p, read_exception, sizeof(cb_store_exception_t), &items,
			&out->count, "listing exceptions");
	out->items = items;
	return rc;
}

/*
 *	People and reminders
 */
static int person_insert(cb_store_backend_t *be, cb_store_person_t const *row)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, row->identity);
	cb_pg_text(&p, row->email);
	cb_pg_text(&p, row->role);
	cb_pg_int(&p, row->disabled);
	cb_pg_text(&p, row->exception_reason);
	cb_pg_text(&p, row->exception_approved_by);
	cb_pg_int(&p, row->exception_until);
	cb_pg_int(&p, row->ack_time);
	cb_pg_int(&p, row->ack_expiry);
	cb_pg_int(&p, row->ack_revoked);
	cb_pg_text(&p, row->policy_version);
	cb_pg_text(&p, row->status);
	cb_pg_text(&p, row->reason);
	cb_pg_int(&p, row->refreshed_at);
	return cb_pg_exec(be, "INSERT INTO people (" PEOPLE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
			  "$11, $12, $13, $14) ON CONFLICT (identity) DO UPDATE SET email = excluded.email, "
			  "role = excluded.role, disabled = excluded.disabled, exception_reason = "
			  "excluded.exception_reason, exception_approved_by = excluded.exception_approved_by, "
			  "exception_until = excluded.exception_until, ack_time = excluded.ack_time, ack_expiry = "
			  "excluded.ack_expiry, ack_revoked = excluded.ack_revoked, policy_version = "
			  "excluded.policy_version, status = excluded.status, reason = excluded.reason, "
			  "refreshed_at = excluded.refreshed_at", &p, "recording a person", NULL);
}

/**
 * people_lead - whether this server keeps the list of people: it holds the
 * session-level advisory lock PG_PEOPLE_LOCK (kept until its connection
 * ends, so a server that stops or dies hands the list on).  1, 0 (another
 * server holds it), -1.
 */
static int people_lead(cb_store_backend_t *be)
{
	PGresult *r = cb_pg_query(be, "SELECT pg_try_advisory_lock(" PG_PEOPLE_LOCK ")", NULL,
				  "asking which server keeps the list of people");
	bool got;

	if (!r) return -1;
	got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (got && be->log) be->log(be->log_ctx, CB_LOG_INFO, "store: %s: this server keeps the list of people "
				    "(the other servers sharing the store leave it to it)", be->where);
	be->people_lead = got;
	return got ? 1 : 0;
}

int cb_pg_people_update(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			cb_store_person_next_fn next, void *ctx)
{
	cb_store_person_t row;
	int rc = 0;

	if (!be->people_lead) {
		int lead = people_lead(be);

		if (lead <= 0) return lead < 0 ? -1 : 1;
	}
	if (cb_pg_begin(be) < 0) return -1;
	if (replace) rc = cb_pg_exec(be, "DELETE FROM people", NULL, "clearing the people", NULL);
	for (size_t i = 0; i < n_removed && rc == 0; i++) {
		cb_pg_params_t p = { 0 };

		cb_pg_text(&p, removed[i]);
		rc = cb_pg_exec(be, "DELETE FROM people WHERE identity = $1", &p, "removing a person", NULL);
	}
	while (rc == 0 && next(ctx, &row)) {
		if (!cb_store_person_valid(&row)) {
			PG_ERR(be, "store: %s: a person with invalid text (%.64s): the list of people is not updated",
			       be->where, row.identity);
			rc = -1;
			break;
		}
		rc = person_insert(be, &row);
	}
	return cb_pg_end(be, rc);
}

int cb_pg_people(cb_store_backend_t *be, cb_store_people_t *out)
{
	void *items;
	int rc = cb_pg_list(be, "SELECT " PEOPLE_COLS " FROM people ORDER BY identity", NULL, read_person,
			    sizeof(cb_store_person_t), &items, &out->count, "listing people");

	out->items = items;
	return rc;
}

int cb_pg_reminder_put(cb_store_backend_t *be, cb_store_reminder_t const *r)
{
	cb_pg_params_t p = { 0 };
	size_t n = 0;

	cb_pg_text(&p, r->identity);
	cb_pg_text(&p, r->email);
	cb_pg_int(&p, r->ack_expiry);
	cb_pg_int(&p, r->window_days);
	cb_pg_int(&p, r->sent_at);
	cb_pg_text(&p, r->result);
	cb_pg_text(&p, r->detail);
	/* Over this server's claim (cb_pg_reminder_claim); never over a reminder recorded. */
	if (cb_pg_exec(be, "INSERT INTO reminders (identity, email, ack_expiry, window_days, sent_at, result, detail) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email, ack_expiry, window_days) DO UPDATE SET "
		       "sent_at = EXCLUDED.sent_at, result = EXCLUDED.result, detail = EXCLUDED.detail WHERE "
		       "reminders.detail LIKE '" PG_CLAIM_MARK "%'", &p, "recording a reminder", &n) < 0) return -1;
	return n ? 0 : 1;
}

/*
 * A claim is a reminder row whose detail is PG_CLAIM_MARK and the server's
 * name, until cb_pg_reminder_put records what became of it; one older
 * than PG_CLAIM_STALE seconds (its server died while sending) is taken
 * over.
 */
#define PG_CLAIM_STALE	600

int cb_pg_reminder_claim(cb_store_backend_t *be, cb_store_reminder_t const *r)
{
	cb_pg_params_t p = { 0 };
	char mark[CB_STORE_NAME_MAX + 32];
	size_t n = 0;

	snprintf(mark, sizeof(mark), PG_CLAIM_MARK "%s", be->server_id[0] ? be->server_id : "(no server_id)");
	cb_pg_text(&p, r->identity);
	cb_pg_text(&p, r->email);
	cb_pg_int(&p, r->ack_expiry);
	cb_pg_int(&p, r->window_days);
	cb_pg_int(&p, r->sent_at);
	cb_pg_text(&p, mark);
	cb_pg_int(&p, r->sent_at - PG_CLAIM_STALE);
	if (cb_pg_exec(be, "INSERT INTO reminders (identity, email, ack_expiry, window_days, sent_at, result, detail) "
		       "VALUES ($1, $2, $3, $4, $5, 'sent', $6) ON CONFLICT (email, ack_expiry, window_days) DO UPDATE SET "
		       "sent_at = EXCLUDED.sent_at, detail = EXCLUDED.detail WHERE reminders.detail LIKE '" PG_CLAIM_MARK
		       "%' AND reminders.sent_at < $7::bigint", &p, "claiming a reminder", &n) < 0) return -1;
	return n ? 0 : 1;
}

int cb_pg_reminder_unclaim(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, email);
	cb_pg_int(&p, ack_expiry);
	cb_pg_int(&p, window_days);
	return cb_pg_exec(be, "DELETE FROM reminders WHERE email = $1 AND ack_expiry = $2 AND window_days = $3 AND "
			  "detail LIKE '" PG_CLAIM_MARK "%'", &p, "giving a reminder's claim back", NULL);
}

int cb_pg_reminder_sent(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc;

	cb_pg_text(&p, email);
	cb_pg_int(&p, ack_expiry);
	cb_pg_int(&p, window_days);
	r = cb_pg_query(be, "SELECT 1 FROM reminders WHERE email = $1 AND ack_expiry = $2 AND window_days = $3", &p,
			"reading the reminders");
	if (!r) return -1;
	rc = PQntuples(r) > 0 ? 1 : 0;
	PQclear(r);
	return rc;
}

int cb_pg_reminders(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_int(&p, since);
	rc = cb_pg_list(be, "SELECT identity, email, ack_expiry, window_days, sent_at, result, detail FROM reminders "
			"WHERE sent_at >= $1 ORDER BY sent_at DESC, id DESC", &p, read_reminder,
			sizeof(cb_store_reminder_t), &items, &out->count, "listing reminders");
	out->items = items;
	return rc;
}

/*
 *	Commands
 */
/* The command's row and its NOTIFY: in the caller's transaction when there is one, else in one of its own. */
int cb_pg_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now)
{
	cb_pg_params_t p = { 0 };
	bool own = !be->in_tx;
	int rc;

	cb_pg_text(&p, cb_cmd_name(cmd));
	cb_pg_text(&p, arg);
	cb_pg_text(&p, by);
	cb_pg_int(&p, now);
	if (own && cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_exec(be, "INSERT INTO commands (command, arg, requested_by, created_at) VALUES ($1, $2, $3, $4)",
			&p, "queueing a command", NULL);
	if (rc == 0) rc = cb_pg_notify(be, cb_cmd_name(cmd));
	return own ? cb_pg_end(be, rc) : rc;
}

/**
 * cb_pg_commands_take - the queued commands, deleted in the same
 * statement (DELETE ... RETURNING): each is taken once even when several
 * servers ask at the same time.
 */
int cb_pg_commands_take(cb_store_backend_t *be, cb_store_commands_t *out)
{
	void *items;
	int rc = cb_pg_list(be, "WITH taken AS (DELETE FROM commands RETURNING id, command, arg, requested_by, "
			    "created_at) SELECT * FROM taken ORDER BY id", NULL, read_command,
			    sizeof(cb_store_command_t), &items, &out->count, "taking commands");

	out->items = items;
	return rc;
}

/*
 *	Status
 */
int cb_pg_status_put(cb_store_backend_t *be, char const *key, char const *value, time_t now)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, key);
	cb_pg_text(&p, value);
	cb_pg_int(&p, now);
	return cb_pg_exec(be, "INSERT INTO status (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) "
			  "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at", &p,
			  "writing status", NULL);
}

int cb_pg_status_get(cb_store_backend_t *be, char const *key, cb_store_status_t *out)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, key);
	return cb_pg_one(be, "SELECT key, value, updated_at FROM status WHERE key = $1", &p, read_status, out,
			 "reading status");
}

int cb_pg_statuses(cb_store_backend_t *be, cb_store_statuses_t *out)
{
	void *items;
	int rc = cb_pg_list(be, "SELECT key, value, updated_at FROM status ORDER BY key", NULL, read_status,
			    sizeof(cb_store_status_t), &items, &out->count, "reading status");

	out->items = items;
	return rc;
}

/*
 *	Counts and housekeeping
 */
int cb_pg_counts(cb_store_backend_t *be, cb_store_counts_t *out)
{
	size_t *fields[] = { &out->decisions, &out->sessions, &out->sessions_active, &out->people_active,
			     &out->revocations, &out->disc_pending, &out->disc_held, &out->disc_failed,
			     &out->commands };
	PGresult *r = cb_pg_query(be, "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM sessions), "
				  "(SELECT count(*) FROM sessions WHERE stopped IS NULL), "
				  "(SELECT count(DISTINCT identity) FROM sessions WHERE stopped IS NULL AND identity <> ''), "
				  "(SELECT count(*) FROM revocations WHERE reinstated_at IS NULL), "
				  "(SELECT count(*) FROM disconnects WHERE state = 'pending'), "
				  "(SELECT count(*) FROM disconnects WHERE state = 'held'), "
				  "(SELECT count(*) FROM disconnects WHERE state = 'failed'), "
				  "(SELECT count(*) FROM commands)", NULL, "counting");

	if (!r) return -1;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		int64_t v = cb_pg_col_int(r, 0, (int) i);

		*fields[i] = v > 0 ? (size_t) v : 0;
	}
	PQclear(r);
	return 0;
}

int cb_pg_purge(cb_store_backend_t *be, time_t before, size_t *removed)
{
	static char const *const steps[] = {
		"DELETE FROM disconnects WHERE state IN ('done', 'failed', 'cancelled') AND updated_at < $1",
		"DELETE FROM sessions WHERE stopped IS NOT NULL AND stopped < $1",
		"DELETE FROM decisions WHERE decided_at < $1 AND class_id NOT IN "
		"(SELECT class_id FROM sessions WHERE stopped IS NULL)",
		"DELETE FROM revocations WHERE reinstated_at IS NOT NULL AND reinstated_at < $1",
		"DELETE FROM exceptions WHERE COALESCE(ended_at, until) < $1",
		"DELETE FROM reminders WHERE sent_at < $1",
		"DELETE FROM devices WHERE last_seen < $1",
		"DELETE FROM device_forgets WHERE forgotten_at < $1",
	};
	cb_pg_params_t p = { 0 };
	size_t n = 0;
	int rc = 0;

	cb_pg_int(&p, before);
	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && rc == 0; i++) {
		size_t c = 0;

		rc = cb_pg_exec(be, steps[i], &p, "purging old records", &c);
		n += c;
	}
	if (cb_pg_end(be, rc) < 0) return -1;
	*removed = n;
	return n ? 0 : 1;
}
