/*
 * pg_audit.c - the PostgreSQL backend's audit index (schema/pg/audit.sql)
 * and subject access export: the rules of sqlite_audit.c (which explains
 * them) in PostgreSQL's dialect.  Each row records the server_id of the
 * server whose trail holds it; a server's last record and counts are its
 * own, and a handle without a server_id (cetbyodctl) sees every server's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/pg_schema_audit.h"

#define EXPORT_COLS_MAX	64
#define AUDIT_COLS "seq, time, type, identity, outer_identity, calling_station, nas, ssid, framed_ip, " \
		   "acct_session_id, status, reason, \"by\", record, session_start, session_stop, server_id"

/* Type OIDs of the columns the export sees (PostgreSQL's catalog/pg_type.dat). */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_FLOAT4	700
#define OID_FLOAT8	701

/** has_table - 1 when table is in the search path, 0 when not, -1. */
static int has_table(cb_store_backend_t *be, char const *table)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc;

	cb_pg_text(&p, table);
	r = cb_pg_query(be, "SELECT to_regclass($1) IS NOT NULL", &p, "looking up a table");
	if (!r) return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

/* Under the schema's advisory lock: two servers starting at once would both create the tables (duplicate key). */
int cb_pg_audit_attach(cb_store_backend_t *be)
{
	int rc;

	if (cb_pg_begin(be) < 0) return -1;
	rc = cb_pg_exec(be, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK_KEY ")", NULL, "locking the schema", NULL);
	if (rc == 0) rc = cb_pg_script(be, pg_schema_audit, "creating the audit table");
	return cb_pg_end(be, rc);
}

#define AUDIT_INSERT "INSERT INTO audit (seq, time, type, identity, outer_identity, calling_station, mac, nas, " \
		     "ap, ssid, framed_ip, acct_session_id, status, reason, \"by\", session_start, session_stop, hash, " \
		     "record, server_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, " \
		     "$16, $17, $18, $19, $20)"
#define AUDIT_REF_INSERT "INSERT INTO audit_refs (ref, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING"

/** audit_params - entry e as AUDIT_INSERT's parameters into p; record: its record with a NUL (the caller frees). */
static void audit_params(cb_store_backend_t *be, cb_store_audit_entry_t const *e, cb_pg_params_t *p, char *record)
{
	char const *text[] = {
		e->type, e->identity, e->outer_identity, e->calling_station, e->mac, e->nas, e->ap, e->ssid,
		e->framed_ip, e->acct_session_id, e->status, e->reason, e->by
	};

	cb_pg_int(p, (int64_t) e->seq);
	cb_pg_int(p, e->time);
	for (size_t k = 0; k < sizeof(text) / sizeof(text[0]); k++) cb_pg_text(p, text[k]);
	if (e->session_start) cb_pg_int(p, e->session_start);
	else cb_pg_null(p);
	if (e->session_stop) cb_pg_int(p, e->session_stop);
	else cb_pg_null(p);
	cb_pg_text(p, e->hash);
	memcpy(record, e->record, e->record_len);	/* Text parameters end at a NUL; the record need not. */
	record[e->record_len] = '\0';
	cb_pg_text(p, record);
	cb_pg_text(p, be->server_id);
}

/**
 * audit_insert_run - entries[0..n-1] (n <= PG_BATCH_MAX) into the index:
 * their rows in one pipeline of the prepared insert, then their refs in
 * another; 0 or -1 (logged).
 */
static int audit_insert_run(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n)
{
	cb_pg_params_t *p = calloc(n, sizeof(*p)), *q = calloc(n, sizeof(*q));
	char **records = calloc(n, sizeof(*records));
	size_t i, refs = 0;
	int rc = p && q && records ? 0 : -1;

	for (i = 0; i < n && rc == 0; i++) {
		cb_store_audit_entry_t const *e = &entries[i];

		if (!(records[i] = malloc(e->record_len + 1))) {
			rc = -1;
			break;
		}
		audit_params(be, e, &p[i], records[i]);
		if (!e->ref || !*e->ref) continue;
		cb_pg_text(&q[refs], e->ref);
		cb_pg_int(&q[refs++], (int64_t) e->seq);
	}
	if (rc < 0) PG_ERR(be, "store: %s: out of memory copying %zu audit record(s)", be->where, n);
	if (rc == 0) rc = cb_pg_exec_many(be, AUDIT_INSERT, p, n, "copying an audit record", NULL);
	if (rc == 0) rc = cb_pg_exec_many(be, AUDIT_REF_INSERT, q, refs, "noting an audited action", NULL);
	for (i = 0; records && i < n; i++) free(records[i]);
	free(records);
	free(p);
	free(q);
	return rc;
}

int cb_pg_audit_has_ref(cb_store_backend_t *be, char const *ref)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc = has_table(be, "audit_refs");

	if (rc <= 0) return rc;
	cb_pg_text(&p, ref);
	r = cb_pg_query(be, "SELECT 1 FROM audit_refs WHERE ref = $1", &p, "looking up an audited action");
	if (!r) return -1;
	rc = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

int cb_pg_audit_put(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n)
{
	int rc = 0;

	if (cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n && rc == 0; i += PG_BATCH_MAX) {
		rc = audit_insert_run(be, &entries[i], n - i < PG_BATCH_MAX ? n - i : PG_BATCH_MAX);
	}
	return cb_pg_end(be, rc);
}

int cb_pg_audit_last(cb_store_backend_t *be, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1])
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc = has_table(be, "audit");

	if (rc <= 0) return rc < 0 ? -1 : 1;
	cb_pg_text(&p, be->server_id);
	r = cb_pg_query(be, "SELECT seq, hash FROM audit WHERE ($1 = '' OR server_id = $1) ORDER BY seq DESC LIMIT 1",
			&p,
			"reading the last audit record");
	if (!r) return -1;
	rc = 1;
	if (PQntuples(r) > 0) {
		char const *h = PQgetvalue(r, 0, 1);

		rc = -1;
		if (cb_store_hash_valid(h)) {
			*seq = (uint64_t) cb_pg_col_int(r, 0, 0);
			memcpy(hash, h, CB_STORE_HASH_HEX + 1);
			rc = 0;
		} else {
			PG_ERR(be, "store: %s: the last audit record has no valid hash (was the database edited?)",
			       be->where);
		}
	}
	PQclear(r);
	return rc;
}

int cb_pg_audit_count(cb_store_backend_t *be, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first)
{
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int rc = has_table(be, "audit");

	*count = 0;
	*first = 0;
	if (rc <= 0) return rc;
	cb_pg_int(&p, from > INT64_MAX ? INT64_MAX : (int64_t) from);
	cb_pg_int(&p, to > INT64_MAX ? INT64_MAX : (int64_t) to);
	cb_pg_text(&p, be->server_id);
	r = cb_pg_query(be, "SELECT count(*), min(seq) FROM audit WHERE seq BETWEEN $1 AND $2 AND "
			"($3 = '' OR server_id = $3)", &p,
			"counting audit records");
	if (!r) return -1;
	*count = (uint64_t) cb_pg_col_int(r, 0, 0);
	*first = (uint64_t) cb_pg_col_int(r, 0, 1);
	PQclear(r);
	return 0;
}

int cb_pg_audit_tally(cb_store_backend_t *be, char const *type, cb_store_tally_fn fn, void *ctx)
{
	char const *sql;
	PGresult *r;
	int rc;

	if (strcmp(type, "decision") == 0) {
		sql = "SELECT status, reason, count(*) FROM audit WHERE type = 'decision' GROUP BY status, reason";
	} else if (strcmp(type, "disconnect") == 0) {
		sql = "SELECT COALESCE(record::jsonb ->> 'result', ''), '', count(*) FROM audit WHERE type = 'disconnect' "
		      "GROUP BY 1";
	} else {
		return -1;
	}
	rc = has_table(be, "audit");
	if (rc <= 0) return rc;
	r = cb_pg_query(be, sql, NULL, "counting audit records");
	if (!r) return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (uint64_t) cb_pg_col_int(r, i, 2));
	}
	PQclear(r);
	return 0;
}

/*
 *	Reading rows
 */
static char *col_dup(PGresult const *r, int i, int col)
{
	size_t n = (size_t) PQgetlength(r, i, col);
	char *s = malloc(n + 1);

	if (!s) return NULL;
	memcpy(s, PQgetvalue(r, i, col), n);
	s[n] = '\0';
	return s;
}

static bool read_row(PGresult const *res, int i, cb_store_audit_row_t *r)
{
	char **text[] = {
		&r->identity, &r->outer_identity, &r->calling_station, &r->nas, &r->ssid, &r->framed_ip,
		&r->acct_session_id, &r->status, &r->reason, &r->by, &r->record
	};
	bool ok = true;

	memset(r, 0, sizeof(*r));
	r->seq = cb_pg_col_int(res, i, 0);
	r->time = (time_t) cb_pg_col_int(res, i, 1);
	snprintf(r->type, sizeof(r->type), "%s", PQgetvalue(res, i, 2));
	for (size_t k = 0; k < sizeof(text) / sizeof(text[0]); k++) {
		*text[k] = col_dup(res, i, (int) k + 3);
		if (!*text[k]) ok = false;
	}
	r->session_start = (time_t) cb_pg_col_int(res, i, 14);
	r->session_stop = (time_t) cb_pg_col_int(res, i, 15);
	snprintf(r->server_id, sizeof(r->server_id), "%s", PQgetvalue(res, i, 16));
	return ok;
}

static int audit_rows(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_store_audit_rows_t *out,
		      char const *what)
{
	PGresult *r = cb_pg_query(be, sql, p, what);
	size_t n;

	if (!r) return -1;
	n = (size_t) PQntuples(r);
	if (n > 0) {
		out->items = calloc(n, sizeof(*out->items));
		if (!out->items) goto oom;
	}
	for (size_t i = 0; i < n; i++) {
		if (!read_row(r, (int) i, &out->items[out->count++])) goto oom;
	}
	PQclear(r);
	return 0;
oom:
	PQclear(r);
	PG_ERR(be, "store: %s: %s: out of memory", be->where, what);
	cb_store_audit_rows_free(out);
	return -1;
}

int cb_pg_audit_query(cb_store_backend_t *be, cb_store_audit_filter_t const *f, cb_store_audit_rows_t *out)
{
	cb_pg_params_t p = { 0 };
	int rc = has_table(be, "audit");

	if (rc <= 0) return rc;
	/* A NULL parameter is "any": one statement for every filter. */
	char const *text[] = { f->identity, f->mac, f->nas, f->ssid, f->ip };
	for (size_t k = 0; k < sizeof(text) / sizeof(text[0]); k++) {
		if (text[k]) cb_pg_text(&p, text[k]);
		else cb_pg_null(&p);
	}
	cb_pg_int(&p, f->from);
	cb_pg_int(&p, f->to);
	if (f->type) cb_pg_text(&p, f->type);
	else cb_pg_null(&p);
	cb_pg_int(&p, (int64_t) (f->limit ? f->limit : CB_STORE_AUDIT_LIMIT));
	return audit_rows(be, "SELECT " AUDIT_COLS " FROM audit WHERE ($1::text IS NULL OR identity = $1) AND "
			  "($2::text IS NULL OR mac = $2) AND ($3::text IS NULL OR nas = $3) AND "
			  "($4::text IS NULL OR ssid = $4) AND ($5::text IS NULL OR framed_ip = $5) AND "
			  "($6::bigint = 0 OR time >= $6) AND ($7::bigint = 0 OR time <= $7) AND "
			  "($8::text IS NULL OR type = $8) ORDER BY time, server_id, seq LIMIT $9", &p, out,
			  "querying the audit index");
}

int cb_pg_audit_sessions(cb_store_backend_t *be, char const *ip, char const *nas, cb_store_audit_rows_t *out)
{
	cb_pg_params_t p = { 0 };
	int rc = has_table(be, "audit");

	if (rc <= 0) return rc;
	cb_pg_text(&p, ip);
	cb_pg_text(&p, nas);
	return audit_rows(be, "SELECT " AUDIT_COLS " FROM audit WHERE type IN ('session_start', 'session_stop') AND "
			  "(nas, acct_session_id) IN (SELECT nas, acct_session_id FROM audit WHERE framed_ip = $1 AND "
			  "type IN ('session_start', 'session_stop') AND ($2 = '' OR nas = $2)) "
			  "ORDER BY nas, acct_session_id, time, seq", &p, out, "reading the sessions of an address");
}

int cb_pg_audit_purge(cb_store_backend_t *be, time_t before, size_t *removed)
{
	cb_pg_params_t p = { 0 };
	int rc = has_table(be, "audit");

	if (rc <= 0) return rc < 0 ? -1 : 1;
	cb_pg_int(&p, before);
	if (cb_pg_exec(be, "DELETE FROM audit WHERE time < $1", &p, "purging old audit records", removed) < 0) return -1;
	return *removed ? 0 : 1;
}

/*
 *	Subject access export
 */
static void field_of(PGresult const *r, int i, int col, cb_store_field_t *f)
{
	memset(f, 0, sizeof(*f));
	f->name = PQfname(r, col);
	if (PQgetisnull(r, i, col)) {
		f->type = CB_STORE_FIELD_NULL;
		return;
	}
	switch (PQftype(r, col)) {
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
		f->type = CB_STORE_FIELD_INT;
		f->i = cb_pg_col_int(r, i, col);
		break;
	case OID_BOOL:
		f->type = CB_STORE_FIELD_INT;
		f->i = strcmp(PQgetvalue(r, i, col), "t") == 0;
		break;
	case OID_FLOAT4:
	case OID_FLOAT8:
		f->type = CB_STORE_FIELD_REAL;
		f->real = strtod(PQgetvalue(r, i, col), NULL);
		break;
	default:
		f->type = CB_STORE_FIELD_TEXT;
		f->text = PQgetvalue(r, i, col);
		break;
	}
}

static int export_rows(cb_store_backend_t *be, char const *sql, char const *identity, char const *kind,
		       cb_store_export_fn fn, void *ctx)
{
	cb_store_field_t fields[EXPORT_COLS_MAX];
	cb_pg_params_t p = { 0 };
	PGresult *r;
	int n, rc = 0;

	cb_pg_text(&p, identity);
	r = cb_pg_query(be, sql, &p, "exporting a person's records");
	if (!r) return -1;
	n = PQnfields(r);
	if (n > EXPORT_COLS_MAX) {
		PG_ERR(be, "store: %s: export %s: more than %d columns", be->where, kind, EXPORT_COLS_MAX);
		PQclear(r);
		return -1;
	}
	if (fn(ctx, kind, NULL, 0) < 0) rc = -1;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		for (int c = 0; c < n; c++) field_of(r, i, c, &fields[c]);
		if (fn(ctx, kind, fields, (size_t) n) < 0) rc = -1;
	}
	PQclear(r);
	return rc;
}

int cb_pg_export_person(cb_store_backend_t *be, char const *identity, cb_store_export_fn fn, void *ctx)
{
	/* The tables and their order: fixed names, never values. */
	static char const *const tables[][2] = {
		{ "people", "SELECT * FROM people WHERE identity = $1" },
		{ "decisions", "SELECT * FROM decisions WHERE identity = $1 ORDER BY decided_at, class_id" },
		{ "sessions", "SELECT * FROM sessions WHERE identity = $1 ORDER BY id" },
		{ "revocations", "SELECT * FROM revocations WHERE identity = $1 ORDER BY id" },
		{ "disconnects", "SELECT * FROM disconnects WHERE identity = $1 ORDER BY id" },
		{ "exceptions", "SELECT * FROM exceptions WHERE identity = $1 ORDER BY id" },
		{ "reminders", "SELECT * FROM reminders WHERE identity = $1 ORDER BY id" },
		{ "devices", "SELECT * FROM devices WHERE identity = $1 ORDER BY mac" },
		{ "device_forgets", "SELECT * FROM device_forgets WHERE identity = $1 ORDER BY id" },
	};
	int rc;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (export_rows(be, tables[i][1], identity, tables[i][0], fn, ctx) < 0) return -1;
	}
	rc = has_table(be, "audit");
	if (rc <= 0) return rc;
	return export_rows(be, "SELECT record FROM audit WHERE identity = $1 ORDER BY time, server_id, seq", identity,
			   "audit", fn, ctx);
}
