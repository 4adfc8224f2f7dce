/*
 * pg_spool.c - a spooled write replayed exactly once (store_spool.c).
 *
 * The mark is a status row, "spool.applied:<server_id>" = "<generation>:<seq>",
 * written in the transaction that applies record seq: after a crash in
 * the middle of a replay, the records before the mark are skipped, so
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

/** applied - whether the mark says record seq of gen is in; 0 no, 1 yes, -1. */
static int applied(cb_store_backend_t *be, char const *key, char const *gen, uint64_t seq)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	char const *v;
	int rc = 0;

	cb_pg_text(&p, key);
	r = cb_pg_query(be, "SELECT value FROM status WHERE key = $1 FOR UPDATE", &p, "reading the spool's mark");
	if (!r) return -1;
	if (PQntuples(r) == 1) {
		v = PQgetvalue(r, 0, 0);
		if (strlen(v) > CB_SPOOL_GEN_LEN && v[CB_SPOOL_GEN_LEN] == ':' &&
		    strncmp(v, gen, CB_SPOOL_GEN_LEN) == 0 &&
		    strtoull(v + CB_SPOOL_GEN_LEN + 1, NULL, 10) >= seq) rc = 1;
	}
	PQclear(r);
	return rc;
}

int cb_pg_spool_apply(cb_store_backend_t *be, char const *name, char const *gen, uint64_t seq,
		      int (*apply)(cb_store_backend_t *be, void *ctx), void *ctx)
{
	cb_pg_params_t p = { 0 };
	char key[CB_STORE_NAME_MAX + 64], mark[CB_SPOOL_GEN_LEN + 24];	/* name: a spool file's, under 32 bytes. */
	int rc;

	snprintf(key, sizeof(key), "spool.applied:%s%s%.31s", be->server_id, *name ? ":" : "", name);
	snprintf(mark, sizeof(mark), "%.*s:%" PRIu64, CB_SPOOL_GEN_LEN, gen, seq);
	if (cb_pg_begin(be) < 0) return -1;
	rc = applied(be, key, gen, seq);
	if (rc != 0) return cb_pg_end(be, rc);
	if (apply(be, ctx) < 0) return cb_pg_end(be, -1);
	cb_pg_text(&p, key);
	cb_pg_text(&p, mark);
	rc = cb_pg_exec(be, "INSERT INTO status (key, value, updated_at) VALUES ($1, $2, "
			"EXTRACT(EPOCH FROM now())::bigint) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
			"updated_at = excluded.updated_at", &p, "marking a spooled write", NULL);
	return cb_pg_end(be, rc);
}
