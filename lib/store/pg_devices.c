/*
 * pg_devices.c - the PostgreSQL backend's devices seen per person, the
 * devices report, and IT's forgetting of devices: the rules of
 * sqlite_devices.c (which explains them) in PostgreSQL's dialect.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "core/policy.h"
#include "store/pg_int.h"

static void dev_params(cb_pg_params_t *p, char const *identity, char const *mac, char const *nas, bool counted,
		       time_t now)
{
	cb_pg_text(p, identity);
	cb_pg_text(p, mac);
	cb_pg_int(p, now);
	cb_pg_text(p, nas);
	cb_pg_int(p, counted ? 1 : 0);
}

/** make_room - at most CB_STORE_DEVICES_PER_PERSON rows per person (sqlite_devices.c); 0 or -1. */
static int make_room(cb_store_backend_t *be, char const *identity, char const *mac)
{
	cb_pg_params_t p = { 0 }, q = { 0 };
	PGresult *r;
	int64_t count, has;

	cb_pg_text(&p, identity);
	cb_pg_text(&p, mac);
	r = cb_pg_query(be, "SELECT count(*), count(*) FILTER (WHERE mac = $2) FROM devices WHERE identity = $1", &p,
			"counting a person's devices");
	if (!r) return -1;
	count = cb_pg_col_int(r, 0, 0);
	has = cb_pg_col_int(r, 0, 1);
	PQclear(r);
	if (has || count < CB_STORE_DEVICES_PER_PERSON) return 0;
	cb_pg_text(&q, identity);
	return cb_pg_exec(be, "DELETE FROM devices WHERE identity = $1 AND mac = (SELECT mac FROM devices WHERE "
			  "identity = $1 ORDER BY last_seen, mac LIMIT 1)", &q, "making room for a device", NULL);
}

#define DEV_UPDATE "UPDATE devices SET last_seen = GREATEST(last_seen, $3::bigint), nas = $4, " \
		   "counted = GREATEST(counted, $5::bigint) WHERE identity = $1 AND mac = $2"
#define DEV_INSERT "INSERT INTO devices (identity, mac, first_seen, last_seen, nas, counted) " \
		   "VALUES ($1, $2, $3, $3, $4, $5) ON CONFLICT (identity, mac) DO UPDATE SET " \
		   "last_seen = GREATEST(devices.last_seen, excluded.last_seen), nas = excluded.nas, " \
		   "counted = GREATEST(devices.counted, excluded.counted)"
/* make_room in one statement, for a pipeline: $1 identity, $2 MAC, $3 CB_STORE_DEVICES_PER_PERSON. */
#define DEV_ROOM "DELETE FROM devices WHERE identity = $1 AND mac = (SELECT mac FROM devices WHERE identity = $1 " \
		 "AND NOT EXISTS (SELECT 1 FROM devices WHERE identity = $1 AND mac = $2) AND " \
		 "(SELECT count(*) FROM devices WHERE identity = $1) >= $3::bigint ORDER BY last_seen, mac LIMIT 1)"

/**
 * insert_new - the devices of items[0..n-1] the update did not find
 * (changed[i] 0; dev_params in p[i]), in waves: each wave takes the next
 * new device of each person, room made for them in one pipeline and the
 * rows in another, so that a person never passes
 * CB_STORE_DEVICES_PER_PERSON and a person's devices go in in their
 * order; 0 or -1.
 */
static int insert_new(cb_store_backend_t *be, cb_store_seen_t const *items, cb_pg_params_t const *p,
		      size_t const *changed, size_t n)
{
	cb_pg_params_t *room = calloc(n, sizeof(*room)), *ins = calloc(n, sizeof(*ins));
	size_t *wave = calloc(n, sizeof(*wave));	/* Of each new device, from 1; 0: not new. */
	size_t i, j, w, waves = 0;
	int rc = room && ins && wave ? 0 : -1;

	if (rc < 0) PG_ERR(be, "store: %s: out of memory recording %zu device(s)", be->where, n);
	for (i = 0; i < n && rc == 0; i++) {	/* After the person's latest new device before it. */
		if (changed[i]) continue;
		for (j = 0; j < i; j++) {
			if (wave[j] > wave[i] && strcmp(items[j].identity, items[i].identity) == 0) wave[i] = wave[j];
		}
		if (++wave[i] > waves) waves = wave[i];
	}
	for (w = 1; w <= waves && rc == 0; w++) {
		size_t m = 0;

		for (i = 0; i < n; i++) {
			if (wave[i] != w) continue;
			room[m] = (cb_pg_params_t) { 0 };
			cb_pg_text(&room[m], items[i].identity);
			cb_pg_text(&room[m], items[i].mac);
			cb_pg_int(&room[m], CB_STORE_DEVICES_PER_PERSON);
			ins[m++] = p[i];
		}
		rc = cb_pg_exec_many(be, DEV_ROOM, room, m, "making room for a device", NULL);
		if (rc == 0) rc = cb_pg_exec_many(be, DEV_INSERT, ins, m, "recording a device", NULL);
	}
	free(room);
	free(ins);
	free(wave);
	return rc;
}

static int upsert(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
		  time_t now)
{
	cb_pg_params_t p = { 0 };
	size_t n = 0;

	dev_params(&p, identity, mac, nas, counted, now);
	if (cb_pg_exec(be, DEV_UPDATE, &p, "recording a device", &n) < 0) return -1;
	if (n) return 0;
	if (make_room(be, identity, mac) < 0) return -1;
	return cb_pg_exec(be, DEV_INSERT, &p, "recording a device", NULL);
}

int cb_pg_device_seen(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
		      time_t now)
{
	if (cb_pg_begin(be) < 0) return -1;
	return cb_pg_end(be, upsert(be, identity, mac, nas, counted, now));
}

/**
 * seen_run - items[0..n-1] (n <= PG_BATCH_MAX): the devices known updated
 * in one pipeline, then the ones the update did not find inserted; 0 or -1.
 */
static int seen_run(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n)
{
	cb_pg_params_t *p = calloc(n, sizeof(*p));
	size_t *changed = calloc(n, sizeof(*changed));
	int rc = p && changed ? 0 : -1;

	if (rc < 0) PG_ERR(be, "store: %s: out of memory recording %zu device(s)", be->where, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		dev_params(&p[i], items[i].identity, items[i].mac, items[i].nas, items[i].counted, items[i].when);
	}
	if (rc == 0) rc = cb_pg_exec_many(be, DEV_UPDATE, p, n, "recording a device", changed);
	if (rc == 0) rc = insert_new(be, items, p, changed, n);
	free(p);
	free(changed);
	return rc;
}

int cb_pg_devices_seen(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n)
{
	int rc = 0;

	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n && rc == 0; i += PG_BATCH_MAX) {
		rc = seen_run(be, &items[i], n - i < PG_BATCH_MAX ? n - i : PG_BATCH_MAX);
	}
	return cb_pg_end(be, rc);
}

int cb_pg_decision_device(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	char mac[CB_MAC_LEN + 1];
	bool counted = strcmp(d->reason, cb_reason_name(CB_REASON_DEVICE_LIMIT)) != 0 &&
		       strcmp(d->reason, cb_reason_name(CB_REASON_CONCURRENT_LIMIT)) != 0;

	if (!cb_mac_normalise(d->calling_station, mac)) return 0;
	return upsert(be, d->identity, mac, d->nas, counted, d->decided_at);
}

static bool read_known(PGresult const *r, int i, void *row)
{
	cb_store_known_device_t *d = row;

	d->first_seen = (time_t) cb_pg_col_int(r, i, 2);
	d->last_seen = (time_t) cb_pg_col_int(r, i, 3);
	d->counted = cb_pg_col_int(r, i, 5) != 0;
	return PG_TEXT(r, i, 0, d->identity) && PG_TEXT(r, i, 1, d->mac) && PG_TEXT(r, i, 4, d->nas);
}

int cb_pg_devices_known(cb_store_backend_t *be, char const *identity, time_t since, cb_store_known_devices_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_text(&p, identity);
	cb_pg_int(&p, since);
	rc = cb_pg_list(be, "SELECT identity, mac, first_seen, last_seen, nas, counted FROM devices "
			"WHERE ($1 = '' OR identity = $1) AND last_seen >= $2::bigint ORDER BY identity, last_seen DESC, "
			"mac", &p, read_known, sizeof(cb_store_known_device_t), &items, &out->count, "listing devices");
	out->items = items;
	return rc;
}

static int forget_rows(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
		       char const *by, time_t now, size_t *removed)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, identity);
	cb_pg_text(&p, mac);
	if (cb_pg_exec(be, "DELETE FROM devices WHERE identity = $1 AND ($2 = '' OR mac = $2)", &p,
		       "forgetting devices", removed) < 0) return -1;
	if (*removed == 0) return 1;
	cb_pg_text(&p, reason);
	cb_pg_text(&p, by);
	cb_pg_int(&p, now);
	cb_pg_int(&p, (int64_t) *removed);
	return cb_pg_exec(be, "INSERT INTO device_forgets (identity, mac, reason, forgotten_by, forgotten_at, removed) "
			  "VALUES ($1, $2, $3, $4, $5, $6)", &p, "recording who forgot devices", NULL);
}

int cb_pg_devices_forget(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			 char const *by, time_t now, size_t *removed)
{
	int rc;

	*removed = 0;
	if (cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_end(be, forget_rows(be, identity, mac, reason, by, now, removed));
	if (rc < 0) *removed = 0;
	return rc;
}

static bool read_forget(PGresult const *r, int i, void *row)
{
	cb_store_device_forget_t *f = row;
	int64_t n = cb_pg_col_int(r, i, 6);

	f->id = cb_pg_col_int(r, i, 0);
	f->at = (time_t) cb_pg_col_int(r, i, 5);
	f->removed = n > 0 ? (size_t) n : 0;
	return PG_TEXT(r, i, 1, f->identity) && PG_TEXT(r, i, 2, f->mac) && PG_TEXT(r, i, 3, f->reason) &&
	       PG_TEXT(r, i, 4, f->by);
}

int cb_pg_device_forgets(cb_store_backend_t *be, int64_t after, cb_store_device_forgets_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_int(&p, after);
	rc = cb_pg_list(be, "SELECT id, identity, mac, reason, forgotten_by, forgotten_at, removed FROM device_forgets "
			"WHERE id > $1 ORDER BY id", &p, read_forget, sizeof(cb_store_device_forget_t), &items,
			&out->count, "listing forgotten devices");
	out->items = items;
	return rc;
}

/* The devices report: sessions grouped by person and device (sqlite_admin.c's cb_sqlite_devices). */
static bool read_device(PGresult const *r, int i, void *row)
{
	cb_store_device_t *d = row;
	int64_t n = cb_pg_col_int(r, i, 2), active = cb_pg_col_int(r, i, 3);

	d->sessions = n > 0 ? (size_t) n : 0;
	d->active = active > 0 ? (size_t) active : 0;
	d->first_seen = (time_t) cb_pg_col_int(r, i, 4);
	d->last_seen = (time_t) cb_pg_col_int(r, i, 5);
	return PG_TEXT(r, i, 0, d->identity) && PG_TEXT(r, i, 1, d->device);
}

int cb_pg_devices(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out)
{
	cb_pg_params_t p = { 0 };
	void *items;
	int rc;

	cb_pg_text(&p, identity);
	cb_pg_int(&p, since);
	rc = cb_pg_list(be, "SELECT identity, upper(replace(calling_station, ':', '-')) AS dev, count(*), "
			"count(*) FILTER (WHERE stopped IS NULL), min(started), max(COALESCE(stopped, last_seen)) AS seen "
			"FROM sessions WHERE identity <> '' AND calling_station <> '' AND ($1 = '' OR identity = $1) "
			"AND COALESCE(stopped, last_seen) >= $2::bigint GROUP BY identity, dev ORDER BY identity, seen DESC",
			&p, read_device, sizeof(cb_store_device_t), &items, &out->count, "listing devices");
	out->items = items;
	return rc;
}
