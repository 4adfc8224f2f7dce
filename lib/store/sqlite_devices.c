/*
 * sqlite_devices.c - the SQLite backend's devices seen per person
 * (schema/sql/cetbyod-3.sql: devices), written with each admission's
 * decision (in its batch: no commit of its own on the request path) and
 * for a device a limit refused, and IT's forgetting of them
 * (device_forgets).  Called under the front's mutex (store.c), with
 * arguments it has checked.
 */
#include <string.h>

#include "base/mac.h"
#include "core/policy.h"
#include "store/sqlite_int.h"

/**
 * make_room - at most CB_STORE_DEVICES_PER_PERSON rows per person: before a
 * new device of a person who has that many, the least recently seen goes.
 * 0 or -1.
 */
static int make_room(cb_store_backend_t *be, char const *identity, char const *mac)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_KDEV_COUNT);
	int64_t count, has;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	rc = sqlite3_step(st);
	count = sqlite3_column_int64(st, 0);
	has = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) return cb_sqlite_fail(be, "counting a person's devices");
	if (has || count < CB_STORE_DEVICES_PER_PERSON) return 0;
	st = cb_sqlite_stmt(be, S_KDEV_DROP_OLDEST);
	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	return cb_sqlite_done(be, st, "making room for a device");
}

/** device_step - statement id (S_KDEV_TOUCH or S_KDEV_PUT: the same parameters) on the device row; 0 or -1. */
static int device_step(cb_store_backend_t *be, stmt_id_t id, char const *identity, char const *mac, char const *nas,
		       bool counted, time_t now)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, id);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	cb_sqlite_bind_int(st, 3, now);
	cb_sqlite_bind_text(st, 4, nas);
	cb_sqlite_bind_int(st, 5, counted ? 1 : 0);
	return cb_sqlite_done(be, st, "recording a device");
}

/**
 * upsert - the device row (within a transaction): a known device is one
 * update by its key; only a new one counts the person's rows.  0 or -1.
 */
static int upsert(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
		  time_t now)
{
	if (device_step(be, S_KDEV_TOUCH, identity, mac, nas, counted, now) < 0) return -1;
	if (cb_sqlite_changes(be)) return 0;
	if (make_room(be, identity, mac) < 0) return -1;
	return device_step(be, S_KDEV_PUT, identity, mac, nas, counted, now);
}

int cb_sqlite_device_seen(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
			  time_t now)
{
	if (cb_sqlite_begin(be) < 0) return -1;
	return cb_sqlite_end(be, upsert(be, identity, mac, nas, counted, now));
}

int cb_sqlite_devices_seen(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n)
{
	if (cb_sqlite_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		if (upsert(be, items[i].identity, items[i].mac, items[i].nas, items[i].counted, items[i].when) < 0) {
			return cb_sqlite_end(be, -1);
		}
	}
	return cb_sqlite_end(be, 0);
}

int cb_sqlite_decision_device(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	char mac[CB_MAC_LEN + 1];
	bool counted = strcmp(d->reason, cb_reason_name(CB_REASON_DEVICE_LIMIT)) != 0 &&
		       strcmp(d->reason, cb_reason_name(CB_REASON_CONCURRENT_LIMIT)) != 0;

	if (!cb_mac_normalise(d->calling_station, mac)) return 0;
	return upsert(be, d->identity, mac, d->nas, counted, d->decided_at);
}

static bool read_known(sqlite3_stmt *st, void *row)
{
	cb_store_known_device_t *d = row;

	d->first_seen = cb_sqlite_col_time(st, 2);
	d->last_seen = cb_sqlite_col_time(st, 3);
	d->counted = sqlite3_column_int(st, 5) != 0;
	return COL_TEXT(st, 0, d->identity) && COL_TEXT(st, 1, d->mac) && COL_TEXT(st, 4, d->nas);
}

int cb_sqlite_devices_known(cb_store_backend_t *be, char const *identity, time_t since,
			    cb_store_known_devices_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_KDEV_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_int(st, 2, since);
	rc = cb_sqlite_list(be, st, read_known, sizeof(cb_store_known_device_t), &items, &out->count,
			    "listing devices");
	out->items = items;
	return rc;
}

/** forget_rows - delete the devices and record the forget; 0, 1 none, -1.  In a transaction. */
static int forget_rows(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
		       char const *by, time_t now, size_t *removed)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_KDEV_FORGET);

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	if (cb_sqlite_done(be, st, "forgetting devices") < 0) return -1;
	*removed = cb_sqlite_changes(be);
	if (*removed == 0) return 1;
	st = cb_sqlite_stmt(be, S_FORGET_INSERT);
	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	cb_sqlite_bind_text(st, 2, mac);
	cb_sqlite_bind_text(st, 3, reason);
	cb_sqlite_bind_text(st, 4, by);
	cb_sqlite_bind_int(st, 5, now);
	cb_sqlite_bind_int(st, 6, (int64_t) *removed);
	return cb_sqlite_done(be, st, "recording who forgot devices");
}

int cb_sqlite_devices_forget(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			     char const *by, time_t now, size_t *removed)
{
	int rc;

	*removed = 0;
	if (cb_sqlite_begin(be) < 0) return -1;
	rc = forget_rows(be, identity, mac, reason, by, now, removed);
	rc = cb_sqlite_end(be, rc);
	if (rc < 0) *removed = 0;
	return rc;
}

static bool read_forget(sqlite3_stmt *st, void *row)
{
	cb_store_device_forget_t *f = row;
	int64_t n = sqlite3_column_int64(st, 6);

	f->id = sqlite3_column_int64(st, 0);
	f->at = cb_sqlite_col_time(st, 5);
	f->removed = n > 0 ? (size_t) n : 0;
	return COL_TEXT(st, 1, f->identity) && COL_TEXT(st, 2, f->mac) && COL_TEXT(st, 3, f->reason) &&
	       COL_TEXT(st, 4, f->by);
}

int cb_sqlite_device_forgets(cb_store_backend_t *be, int64_t after, cb_store_device_forgets_t *out)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_FORGET_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, after);
	rc = cb_sqlite_list(be, st, read_forget, sizeof(cb_store_device_forget_t), &items, &out->count,
			    "listing forgotten devices");
	out->items = items;
	return rc;
}
