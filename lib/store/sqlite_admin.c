/*
 * sqlite_admin.c - the SQLite backend's records kept for and by IT:
 * revocations, the exceptions register, people, reminders, devices seen,
 * commands to the module, status, counts and the purge (see sqlite.c for
 * the connection and the statements).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/*
 *	Row readers: each returns false when a row does not fit its record,
 *	which only an edit outside cetbyod can cause.
 */
#define UNREADABLE "(unreadable in the store)"

/** lenient_text - a column that describes (not identifies) a row: UNREADABLE when it does not fit. */
static void lenient_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	if (!cb_sqlite_col_text(st, col, buf, size)) snprintf(buf, size, "%s", UNREADABLE);
}

/**
 * read_revocation - a revocation row.  Only the identity must be readable
 * (it is what the request path matches); the reason and the names are
 * kept as UNREADABLE otherwise, so that the revocation still holds.
 */
static bool read_revocation(sqlite3_stmt *st, void *row)
{
	cb_store_revocation_t *r = row;

	r->id = sqlite3_column_int64(st, 0);
	r->revoked_at = cb_sqlite_col_time(st, 4);
	r->reinstated_at = cb_sqlite_col_time(st, 6);
	lenient_text(st, 2, r->reason, sizeof(r->reason));
	lenient_text(st, 3, r->by, sizeof(r->by));
	lenient_text(st, 5, r->reinstated_by, sizeof(r->reinstated_by));
	return COL_TEXT(st, 1, r->identity) && r->identity[0];
}

static bool read_exception(sqlite3_stmt *st, void *row)
{
	cb_store_exception_t *x = row;

	x->id = sqlite3_column_int64(st, 0);
	x->granted_at = cb_sqlite_col_time(st, 6);
	x->until = cb_sqlite_col_time(st, 7);
	x->ended_at = cb_sqlite_col_time(st, 9);
	return COL_TEXT(st, 1, x->identity) && COL_TEXT(st, 2, x->mac) && COL_TEXT(st, 3, x->reason) &&
	       COL_TEXT(st, 4, x->approved_by) && COL_TEXT(st, 5, x->granted_by) && COL_TEXT(st, 8, x->ended_by);
}

static bool read_person(sqlite3_stmt *st, void *row)
{
	cb_store_person_t *p = row;

	p->disabled = sqlite3_column_int(st, 3) != 0;
	p->exception_until = cb_sqlite_col_time(st, 6);
	p->ack_time = cb_sqlite_col_time(st, 7);
	p->ack_expiry = cb_sqlite_col_time(st, 8);
	p->ack_revoked = sqlite3_column_int(st, 9) != 0;
	p->refreshed_at = cb_sqlite_col_time(st, 13);
	return COL_TEXT(st, 0, p->identity) && COL_TEXT(st, 1, p->email) && COL_TEXT(st, 2, p->role) &&
	       COL_TEXT(st, 4, p->exception_reason) && COL_TEXT(st, 5, p->exception_approved_by) &&
	       COL_TEXT(st, 10, p->policy_version) && COL_TEXT(st, 11, p->status) && COL_TEXT(st, 12, p->reason);
}

static bool read_reminder(sqlite3_stmt *st, void *row)
{
	cb_store_reminder_t *r = row;

	r->ack_expiry = cb_sqlite_col_time(st, 2);
	r->window_days = (unsigned int) sqlite3_column_int(st, 3);
	r->sent_at = cb_sqlite_col_time(st, 4);
	return COL_TEXT(st, 0, r->identity) && COL_TEXT(st, 1, r->email) && COL_TEXT(st, 5, r->result) &&
	       COL_TEXT(st, 6, r->detail);
}

static bool read_device(sqlite3_stmt *st, void *row)
{
	cb_store_device_t *d = row;
	int64_t n = sqlite3_column_int64(st, 2), active = sqlite3_column_int64(st, 3);

	d->sessions = n > 0 ? (size_t) n : 0;
	d->active = active > 0 ? (size_t) active : 0;
	d->first_seen = cb_sqlite_col_time(st, 4);
	d->last_seen = cb_sqlite_col_time(st, 5);
	return COL_TEXT(st, 0, d->identity) && COL_TEXT(st, 1, d->device);
}
static bool read_command(sqlite3_stmt *st, void *row)
{
	cb_store_command_t *c = row;
	char name[CB_STORE_NAME_MAX + 1];
	int cmd;

	c->id = sqlite3_column_int64(st, 0);
	c->created_at = cb_sqlite_col_time(st, 4);
	if (!COL_TEXT(st, 1, name) || !COL_TEXT(st, 2, c->arg) || !COL_TEXT(st, 3, c->by)) return false;
	cmd = cb_cmd_from_name(name);
	if (cmd < 0) return false;
	c->cmd = (cb_cmd_t) cmd;
	return true;
}

static bool read_status(sqlite3_stmt *st, void *row)
{
	cb_store_status_t *s = row;

	s->updated_at = cb_sqlite_col_time(st, 2);
	return COL_TEXT(st, 0, s->key) && COL_TEXT(st, 1, s->value);
}
/*
 *	Revocations
 */
int cb_sqlite_revoke(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (cb_sqlite_begin(be) < 0) return -1;
	st = cb_sqlite_stmt(be, S_REV_UPDATE);
	if (!st) goto done;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, reason);
	cb_sqlite_bind_text(st, 3, by);
	cb_sqlite_bind_int(st, 4, now);
	if (cb_sqlite_done(be, st, "updating a revocation") < 0) goto done;
	if (cb_sqlite_changes(be) > 0) {
		rc = 1;
		goto done;
	}
	st = cb_sqlite_stmt(be, S_REV_INSERT);
	if (!st) goto done;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, reason);
	cb_sqlite_bind_text(st, 3, by);
	cb_sqlite_bind_int(st, 4, now);
	rc = cb_sqlite_done(be, st, "recording a revocation");
done:
	if (rc >= 0 && cb_sqlite_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_reinstate(cb_store_backend_t *be, char const *identity, char const *by, time_t now)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REV_REINSTATE);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, by);
	cb_sqlite_bind_int(st, 3, now);
	if (cb_sqlite_done(be, st, "reinstating") < 0) return -1;
	return cb_sqlite_changes(be) ? 0 : 1;
}

int cb_sqlite_is_revoked(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REV_GET);
	cb_store_revocation_t r;
	int rc;

	if (!st) return -1;
	memset(&r, 0, sizeof(r));
	cb_sqlite_bind_text(st, 1, identity);
	rc = cb_sqlite_one(be, st, read_revocation, &r, "reading a revocation");
	if (rc < 0) return -1;
	if (rc == 1) return 0;
	if (out) *out = r;
	return 1;
}

int cb_sqlite_revocations(cb_store_backend_t *be, bool history, cb_store_revocations_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REV_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, history);
	rc = cb_sqlite_list_skipping(be, st, read_revocation, sizeof(cb_store_revocation_t), &items, &out->count,
				     &out->skipped, &out->first_skipped, "listing revocations");
	out->items = items;
	return rc;
}

/*
 *	Exceptions register
 */
static void bind_exception(sqlite3_stmt *st, char const *identity, char const *mac, char const *reason,
			   char const *approved_by, char const *by, time_t now, time_t until)
{
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	cb_sqlite_bind_text(st, 3, reason);
	cb_sqlite_bind_text(st, 4, approved_by);
	cb_sqlite_bind_text(st, 5, by);
	cb_sqlite_bind_int(st, 6, now);
	cb_sqlite_bind_int(st, 7, until);
}

int cb_sqlite_exception_add(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			    char const *approved_by, char const *by, time_t until, time_t now, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (cb_sqlite_begin(be) < 0) return -1;
	st = cb_sqlite_stmt(be, S_EXC_UPDATE);
	if (!st) goto done;
	bind_exception(st, identity, mac, reason, approved_by, by, now, until);
	if (cb_sqlite_done(be, st, "updating an exception") < 0) goto done;
	if (cb_sqlite_changes(be) > 0) {
		rc = 1;
	} else {
		st = cb_sqlite_stmt(be, S_EXC_INSERT);
		if (!st) goto done;
		bind_exception(st, identity, mac, reason, approved_by, by, now, until);
		rc = cb_sqlite_done(be, st, "recording an exception");
	}
	if (rc >= 0 && id) {
		cb_store_exceptions_t list = { 0 };

		*id = 0;
		if (cb_sqlite_exceptions(be, false, &list) == 0) {
			for (size_t i = 0; i < list.count; i++) {
				if (strcmp(list.items[i].identity, identity) == 0 && strcmp(list.items[i].mac, mac) == 0) {
					*id = list.items[i].id;
				}
			}
		}
		cb_store_exceptions_free(&list);
	}
	if (rc >= 0 && cb_sqlite_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
done:
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_exception_end(cb_store_backend_t *be, char const *identity, char const *mac, char const *by,
			    time_t now, size_t *ended)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (cb_sqlite_begin(be) < 0) return -1;
	st = cb_sqlite_stmt(be, S_EXC_END);
	if (!st) goto done;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	cb_sqlite_bind_text(st, 3, by);
	cb_sqlite_bind_int(st, 4, now);
	if (cb_sqlite_done(be, st, "ending an exception") < 0) goto done;
	*ended = cb_sqlite_changes(be);
	rc = *ended ? 0 : 1;
	if (rc == 0 && cb_sqlite_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
done:
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_EXC_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, history);
	rc = cb_sqlite_list(be, st, read_exception, sizeof(cb_store_exception_t), &items, &out->count, "listing exceptions");
	out->items = items;
	return rc;
}

/*
 *	People and reminders
 */
static int sq_person_insert(cb_store_backend_t *be, cb_store_person_t const *p)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_PEOPLE_INSERT);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, p->identity);
	cb_sqlite_bind_text(st, 2, p->email);
	cb_sqlite_bind_text(st, 3, p->role);
	cb_sqlite_bind_int(st, 4, p->disabled);
	cb_sqlite_bind_text(st, 5, p->exception_reason);
	cb_sqlite_bind_text(st, 6, p->exception_approved_by);
	cb_sqlite_bind_int(st, 7, p->exception_until);
	cb_sqlite_bind_int(st, 8, p->ack_time);
	cb_sqlite_bind_int(st, 9, p->ack_expiry);
	cb_sqlite_bind_int(st, 10, p->ack_revoked);
	cb_sqlite_bind_text(st, 11, p->policy_version);
	cb_sqlite_bind_text(st, 12, p->status);
	cb_sqlite_bind_text(st, 13, p->reason);
	cb_sqlite_bind_int(st, 14, p->refreshed_at);
	return cb_sqlite_done(be, st, "recording a person");
}

int cb_sqlite_people_update(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			    cb_store_person_next_fn next, void *ctx)
{
	cb_store_person_t row;
	int rc = 0;

	if (cb_sqlite_begin(be) < 0) return -1;
	if (replace) rc = cb_sqlite_exec(be, S_PEOPLE_CLEAR, "clearing the people");
	for (size_t i = 0; i < n_removed && rc == 0; i++) {
		sqlite3_stmt *st = cb_sqlite_stmt(be, S_PEOPLE_DELETE);

		if (!st) {
			rc = -1;
			break;
		}
		cb_sqlite_bind_text(st, 1, removed[i]);
		rc = cb_sqlite_done(be, st, "removing a person");
	}
	while (rc == 0 && next(ctx, &row)) {
		if (!cb_store_person_valid(&row)) {
			BE_ERR(be, "store %s: a person with invalid text (%.64s): the list of people is not updated",
			       be->path, row.identity);
			rc = -1;
			break;
		}
		rc = sq_person_insert(be, &row);
	}
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_people(cb_store_backend_t *be, cb_store_people_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_PEOPLE_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = cb_sqlite_list(be, st, read_person, sizeof(cb_store_person_t), &items, &out->count, "listing people");
	out->items = items;
	return rc;
}

int cb_sqlite_reminder_put(cb_store_backend_t *be, cb_store_reminder_t const *r)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REM_INSERT);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, r->identity);
	cb_sqlite_bind_text(st, 2, r->email);
	cb_sqlite_bind_int(st, 3, r->ack_expiry);
	cb_sqlite_bind_int(st, 4, r->window_days);
	cb_sqlite_bind_int(st, 5, r->sent_at);
	cb_sqlite_bind_text(st, 6, r->result);
	cb_sqlite_bind_text(st, 7, r->detail);
	if (cb_sqlite_done(be, st, "recording a reminder") < 0) return -1;
	return cb_sqlite_changes(be) ? 0 : 1;
}

int cb_sqlite_reminder_sent(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REM_GET);
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, email);
	cb_sqlite_bind_int(st, 2, ack_expiry);
	cb_sqlite_bind_int(st, 3, window_days);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) return 1;
	if (rc == SQLITE_DONE) return 0;
	return cb_sqlite_fail(be, "reading the reminders");
}

int cb_sqlite_reminders(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_REM_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, since);
	rc = cb_sqlite_list(be, st, read_reminder, sizeof(cb_store_reminder_t), &items, &out->count, "listing reminders");
	out->items = items;
	return rc;
}

int cb_sqlite_devices(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_DEVICES);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_int(st, 2, since);
	rc = cb_sqlite_list(be, st, read_device, sizeof(cb_store_device_t), &items, &out->count, "listing devices");
	out->items = items;
	return rc;
}
/*
 *	Commands
 */
int cb_sqlite_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_CMD_INSERT);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, cb_cmd_name(cmd));
	cb_sqlite_bind_text(st, 2, arg);
	cb_sqlite_bind_text(st, 3, by);
	cb_sqlite_bind_int(st, 4, now);
	return cb_sqlite_done(be, st, "queueing a command");
}

/** cmd_list - every queued command into out; 0 or -1. */
static int cmd_list(cb_store_backend_t *be, cb_store_commands_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_CMD_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = cb_sqlite_list(be, st, read_command, sizeof(cb_store_command_t), &items, &out->count, "reading commands");
	out->items = items;
	return rc;
}

int cb_sqlite_commands_take(cb_store_backend_t *be, cb_store_commands_t *out)
{
	sqlite3_stmt *st;
	int rc;

	/* The module asks every second: look without taking the write lock first. */
	if (cmd_list(be, out) < 0) return -1;
	if (out->count == 0) return 0;
	cb_store_commands_free(out);

	if (cb_sqlite_begin(be) < 0) return -1;
	rc = cmd_list(be, out);
	if (rc == 0 && out->count > 0) {
		st = cb_sqlite_stmt(be, S_CMD_DELETE);
		if (!st) {
			rc = -1;
		} else {
			cb_sqlite_bind_int(st, 1, out->items[out->count - 1].id);
			rc = cb_sqlite_done(be, st, "taking commands");
		}
	}
	rc = cb_sqlite_end(be, rc);
	if (rc < 0) cb_store_commands_free(out);
	return rc;
}

/*
 *	Status
 */
int cb_sqlite_status_put(cb_store_backend_t *be, char const *key, char const *value, time_t now)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_ST_PUT);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, key);
	cb_sqlite_bind_text(st, 2, value);
	cb_sqlite_bind_int(st, 3, now);
	return cb_sqlite_done(be, st, "writing status");
}

int cb_sqlite_status_get(cb_store_backend_t *be, char const *key, cb_store_status_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_ST_GET);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, key);
	return cb_sqlite_one(be, st, read_status, out, "reading status");
}

int cb_sqlite_statuses(cb_store_backend_t *be, cb_store_statuses_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_ST_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = cb_sqlite_list(be, st, read_status, sizeof(cb_store_status_t), &items, &out->count, "reading status");
	out->items = items;
	return rc;
}

/*
 *	Counts and housekeeping
 */
int cb_sqlite_counts(cb_store_backend_t *be, cb_store_counts_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_COUNTS);
	size_t *fields[] = { &out->decisions, &out->sessions, &out->sessions_active, &out->people_active,
			     &out->revocations, &out->disc_pending, &out->disc_held, &out->disc_failed,
			     &out->commands };
	size_t i;
	int rc;

	if (!st) return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return cb_sqlite_fail(be, "counting");
	}
	for (i = 0; i < ELEMENTS(fields); i++) {
		int64_t v = sqlite3_column_int64(st, (int) i);

		*fields[i] = v > 0 ? (size_t) v : 0;
	}
	sqlite3_reset(st);
	return 0;
}

int cb_sqlite_purge(cb_store_backend_t *be, time_t before, size_t *removed)
{
	static stmt_id_t const steps[] = {
		S_PURGE_DISC, S_PURGE_SES, S_PURGE_DEC, S_PURGE_REV, S_PURGE_EXC, S_PURGE_REM, S_PURGE_KDEV,
		S_PURGE_FORGET
	};
	size_t i, n = 0;
	int rc = 0;

	if (cb_sqlite_begin(be) < 0) return -1;
	for (i = 0; i < ELEMENTS(steps) && rc == 0; i++) {
		sqlite3_stmt *st = cb_sqlite_stmt(be, steps[i]);

		if (!st) {
			rc = -1;
			break;
		}
		cb_sqlite_bind_int(st, 1, before);
		rc = cb_sqlite_done(be, st, "purging old records");
		if (rc == 0) n += cb_sqlite_changes(be);
	}
	if (cb_sqlite_end(be, rc) < 0) return -1;
	*removed = n;
	return n ? 0 : 1;
}
