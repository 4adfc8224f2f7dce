/*
 * pg_spool.c - a spooled write replayed exactly once (store_spool.c).
 *
 * The mark is a status row, "spool.applied:<server_id>" = "<generation>:<seq>",
 * written in the transaction that applies a run of records ending at seq:
 * after a crash in the middle of a replay, the records up to the mark are
 * skipped (within a run too: a run may start before the mark), so
 * nothing is written twice (a Start replayed after its Stop would open
 * the session again).  Each server has its own row (server_id), and each
 * of its spool files too: "spool.applied:<server_id>:<file>" for the
 * store handles other than the request path's (the devices writer's).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/spool.h"

/** applied - the sequence number the mark says is in for gen (0: none, or another generation); -1 on error. */
static int64_t applied(cb_store_backend_t *be, char const *key, char const *gen)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	char const *v;
	int64_t seq = 0;

	cb_pg_text(&p, key);
	r = cb_pg_query(be, "SELECT value FROM status WHERE key = $1 FOR UPDATE", &p, "reading the spool's mark");
	if (!r) return -1;
	if (PQntuples(r) == 1) {
		v = PQgetvalue(r, 0, 0);
		if (strlen(v) > CB_SPOOL_GEN_LEN && v[CB_SPOOL_GEN_LEN] == ':' &&
		    strncmp(v, gen, CB_SPOOL_GEN_LEN) == 0) seq = (int64_t) strtoull(v + CB_SPOOL_GEN_LEN + 1, NULL, 10);
	}
	PQclear(r);
	return seq;
}

int cb_pg_spool_apply(cb_store_backend_t *be, char const *name, char const *gen, uint64_t last,
		      int (*apply)(cb_store_backend_t *be, void *ctx, uint64_t after), void *ctx)
{
	cb_pg_params_t p = { 0 };
	char key[CB_STORE_NAME_MAX + 64], mark[CB_SPOOL_GEN_LEN + 24];	/* name: a spool file's, under 32 bytes. */
	int64_t done;
	int rc;

	snprintf(key, sizeof(key), "spool.applied:%s%s%.31s", be->server_id, *name ? ":" : "", name);
	snprintf(mark, sizeof(mark), "%.*s:%" PRIu64, CB_SPOOL_GEN_LEN, gen, last);
	if (cb_pg_begin(be) < 0) return -1;
	done = applied(be, key, gen);
	if (done < 0) return cb_pg_end(be, -1);
	if ((uint64_t) done >= last) return cb_pg_end(be, 1);
	if (apply(be, ctx, (uint64_t) done) < 0) return cb_pg_end(be, -1);
	cb_pg_text(&p, key);
	cb_pg_text(&p, mark);
	rc = cb_pg_exec(be, "INSERT INTO status (key, value, updated_at) VALUES ($1, $2, "
			"EXTRACT(EPOCH FROM now())::bigint) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
			"updated_at = excluded.updated_at", &p, "marking spooled writes", NULL);
	return cb_pg_end(be, rc);
}
