/*
 * sqlite_audit.c - the SQLite backend's audit index and subject access
 * export.
 *
 * The index is the table of schema/sql/audit.sql, in the store's own
 * database file: one row per audit record, its indexed fields beside the
 * whole line.  The trail's writer creates it (cb_sqlite_audit_attach) and
 * appends to it on its own cb_store_t; a store that never had a writer
 * has no table and reads as an empty index.  The export reads every table
 * that names a person, column by column, so a column added later is
 * exported without a change here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define EXPORT_COLS_MAX	64	/* Columns of one exported row; the widest table has 20. */

int cb_sqlite_audit_attach(cb_store_backend_t *be)
{
	char *msg = NULL;

	if (sqlite3_exec(be->db, cb_store_audit_schema(), NULL, NULL, &msg) == SQLITE_OK) return 0;
	BE_ERR(be, "store %s: cannot create the audit table: %s", be->path, msg ? msg : sqlite3_errmsg(be->db));
	sqlite3_free(msg);
	return -1;
}

/** bind_time_or_null - t, or NULL when 0 (unknown). */
static void bind_time_or_null(sqlite3_stmt *st, int i, time_t t)
{
	if (t) {
		sqlite3_bind_int64(st, i, t);
	} else {
		sqlite3_bind_null(st, i);
	}
}

static int audit_insert(cb_store_backend_t *be, cb_store_audit_entry_t const *e)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, S_AUDIT_INSERT);
	char const *text[] = {
		e->type, e->identity, e->outer_identity, e->calling_station, e->mac, e->nas, e->ap, e->ssid,
		e->framed_ip, e->acct_session_id, e->status, e->reason, e->by
	};
	int i = 1;

	if (!st) return -1;
	cb_sqlite_bind_int(st, i++, e->seq);
	cb_sqlite_bind_int(st, i++, e->time);
	for (size_t k = 0; k < sizeof(text) / sizeof(text[0]); k++) cb_sqlite_bind_text(st, i++, text[k]);
	bind_time_or_null(st, i++, e->session_start);
	bind_time_or_null(st, i++, e->session_stop);
	cb_sqlite_bind_text(st, i++, e->hash);
	sqlite3_bind_text(st, i, e->record, (int) e->record_len, SQLITE_STATIC);
	if (cb_sqlite_done(be, st, "copying an audit record") < 0) return -1;
	if (!e->ref || !*e->ref) return 0;
	st = cb_sqlite_stmt(be, S_AUDIT_REF_INSERT);
	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, e->ref);
	cb_sqlite_bind_int(st, 2, e->seq);
	return cb_sqlite_done(be, st, "noting an audited action");
}

int cb_sqlite_audit_has_ref(cb_store_backend_t *be, char const *ref)
{
	int rc = cb_sqlite_has_table(be, "audit_refs");

	if (rc <= 0) return rc;
	return cb_sqlite_exists(be, S_AUDIT_REF_GET, ref, "looking up an audited action");
}

int cb_sqlite_audit_put(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n)
{
	int rc = 0;

	if (cb_sqlite_begin(be) < 0) return -1;
	for (size_t i = 0; i < n && rc == 0; i++) rc = audit_insert(be, &entries[i]);
	return cb_sqlite_end(be, rc);
}

int cb_sqlite_audit_last(cb_store_backend_t *be, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1])
{
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, "audit");

	if (rc <= 0) return rc < 0 ? -1 : 1;
	st = cb_sqlite_stmt(be, S_AUDIT_LAST);
	if (!st) return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char const *h = (char const *) sqlite3_column_text(st, 1);

		rc = -1;
		if (cb_store_hash_valid(h)) {
			*seq = (uint64_t) sqlite3_column_int64(st, 0);
			memcpy(hash, h, CB_STORE_HASH_HEX + 1);
			rc = 0;
		} else {
			BE_ERR(be, "store %s: the last audit record has no valid hash (was the database edited?)",
			       be->path);
		}
	} else if (rc == SQLITE_DONE) {
		rc = 1;
	} else {
		rc = cb_sqlite_fail(be, "reading the last audit record");
	}
	sqlite3_reset(st);
	return rc;
}

int cb_sqlite_audit_count(cb_store_backend_t *be, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first)
{
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, "audit");

	*count = 0;
	*first = 0;
	if (rc <= 0) return rc;
	/* seq is the rowid: a range scan of the table's own b-tree. */
	if (sqlite3_prepare_v2(be->db, "SELECT count(*), min(seq) FROM audit WHERE seq BETWEEN ?1 AND ?2", -1, &st,
			       NULL) != SQLITE_OK) {
		return cb_sqlite_fail(be, "counting audit records");
	}
	cb_sqlite_bind_int(st, 1, from > INT64_MAX ? INT64_MAX : (int64_t) from);
	cb_sqlite_bind_int(st, 2, to > INT64_MAX ? INT64_MAX : (int64_t) to);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count = (uint64_t) sqlite3_column_int64(st, 0);
		*first = (uint64_t) sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = cb_sqlite_fail(be, "counting audit records");
	}
	sqlite3_finalize(st);
	return rc;
}

int cb_sqlite_audit_tally(cb_store_backend_t *be, char const *type, cb_store_tally_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	char const *sql;
	int rc;

	if (strcmp(type, "decision") == 0) {
		/* A summary of coalesced refusals (session_start set: lib/audit/runs.c) stands for its count. */
		sql = "SELECT status, reason, sum(CASE WHEN session_start IS NULL THEN 1 "
		      "ELSE coalesce(json_extract(record, '$.count'), 1) END) FROM audit WHERE type = 'decision' "
		      "GROUP BY status, reason";
	} else if (strcmp(type, "disconnect") == 0) {
		/* The attempt's result is in the record only (audit.sql has no column for it). */
		sql = "SELECT json_extract(record, '$.result'), '', count(*) FROM audit WHERE type = 'disconnect' "
		      "GROUP BY 1";
	} else {
		return -1;
	}
	rc = cb_sqlite_has_table(be, "audit");
	if (rc <= 0) return rc;
	if (sqlite3_prepare_v2(be->db, sql, -1, &st, NULL) != SQLITE_OK) return cb_sqlite_fail(be, "counting audit records");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char const *a = (char const *) sqlite3_column_text(st, 0);
		char const *b = (char const *) sqlite3_column_text(st, 1);

		fn(ctx, a ? a : "", b ? b : "", (uint64_t) sqlite3_column_int64(st, 2));
	}
	rc = rc == SQLITE_DONE ? 0 : cb_sqlite_fail(be, "counting audit records");
	sqlite3_finalize(st);
	return rc;
}

/*
 *	Reading rows
 */

/** col_dup - a text column as a malloc'd string ("" for NULL); NULL on allocation failure. */
static char *col_dup(sqlite3_stmt *st, int col)
{
	char const *t = (char const *) sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	char *s = malloc((size_t) (n > 0 ? n : 0) + 1);

	if (!s) return NULL;
	if (t && n > 0) memcpy(s, t, (size_t) n);
	s[n > 0 ? n : 0] = '\0';
	return s;
}

/**
 * read_row - the current row (columns CB_SQLITE_AUDIT_COLS) into r; false
 * on allocation failure (r then holds what was allocated, for
 * cb_store_audit_rows_free).
 */
static bool read_row(sqlite3_stmt *st, cb_store_audit_row_t *r)
{
	char const *t = (char const *) sqlite3_column_text(st, 2);
	char **text[] = {
		&r->identity, &r->outer_identity, &r->calling_station, &r->nas, &r->ssid, &r->framed_ip,
		&r->acct_session_id, &r->status, &r->reason, &r->by, &r->record
	};
	bool ok = true;

	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	r->time = (time_t) sqlite3_column_int64(st, 1);
	snprintf(r->type, sizeof(r->type), "%s", t ? t : "");
	for (size_t k = 0; k < sizeof(text) / sizeof(text[0]); k++) {
		*text[k] = col_dup(st, (int) k + 3);
		if (!*text[k]) ok = false;
	}
	r->session_start = (time_t) sqlite3_column_int64(st, 14);
	r->session_stop = (time_t) sqlite3_column_int64(st, 15);
	return ok;
}

/** audit_rows - step st for every row into out (emptied first); 0, or -1 (logged, out empty). */
static int audit_rows(cb_store_backend_t *be, sqlite3_stmt *st, cb_store_audit_rows_t *out, char const *what)
{
	size_t alloc = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			cb_store_audit_row_t *ni = realloc(out->items, na * sizeof(*ni));

			if (!ni) goto oom;
			out->items = ni;
			alloc = na;
		}
		if (!read_row(st, &out->items[out->count++])) goto oom;
	}
	if (rc != SQLITE_DONE) {
		cb_sqlite_fail(be, what);
		cb_store_audit_rows_free(out);
		return -1;
	}
	return 0;
oom:
	BE_ERR(be, "store %s: %s: out of memory", be->path, what);
	cb_store_audit_rows_free(out);
	return -1;
}

/** sql_add - append a fixed fragment to a bounded SQL buffer. */
static void sql_add(char *sql, size_t size, char const *frag)
{
	size_t n = strlen(sql), f = strlen(frag);

	if (n + f < size) memcpy(sql + n, frag, f + 1);
}

/** query_sql - the SELECT for f: only the conditions it asks for, so that SQLite can use the indexes. */
static void query_sql(cb_store_audit_filter_t const *f, char *sql, size_t size)
{
	snprintf(sql, size, "SELECT " CB_SQLITE_AUDIT_COLS " FROM audit WHERE 1");
	if (f->identity) sql_add(sql, size, " AND identity = ?1");
	if (f->mac) sql_add(sql, size, " AND mac = ?2");
	if (f->nas) sql_add(sql, size, " AND nas = ?3");
	if (f->ssid) sql_add(sql, size, " AND ssid = ?4");
	if (f->ip) sql_add(sql, size, " AND framed_ip = ?5");
	if (f->from) sql_add(sql, size, " AND time >= ?6");
	/* A summary of coalesced refusals (time = its last, session_start = its first)
	 * covers a span: it matches when the span meets [from, to]. */
	if (f->to) sql_add(sql, size, " AND (time <= ?7 OR (type = 'decision' AND session_start <= ?7))");
	if (f->type) sql_add(sql, size, " AND type = ?8");
	sql_add(sql, size, " ORDER BY seq LIMIT ?9");
}

int cb_sqlite_audit_query(cb_store_backend_t *be, cb_store_audit_filter_t const *f, cb_store_audit_rows_t *out)
{
	char sql[1024];
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, "audit");

	if (rc <= 0) return rc;
	query_sql(f, sql, sizeof(sql));
	if (sqlite3_prepare_v2(be->db, sql, -1, &st, NULL) != SQLITE_OK) {
		return cb_sqlite_fail(be, "querying the audit index");
	}
	cb_sqlite_bind_text(st, 1, f->identity);
	cb_sqlite_bind_text(st, 2, f->mac);
	cb_sqlite_bind_text(st, 3, f->nas);
	cb_sqlite_bind_text(st, 4, f->ssid);
	cb_sqlite_bind_text(st, 5, f->ip);
	cb_sqlite_bind_int(st, 6, f->from);
	cb_sqlite_bind_int(st, 7, f->to);
	cb_sqlite_bind_text(st, 8, f->type);
	cb_sqlite_bind_int(st, 9, (int64_t) (f->limit ? f->limit : CB_STORE_AUDIT_LIMIT));
	rc = audit_rows(be, st, out, "querying the audit index");
	sqlite3_finalize(st);
	return rc;
}

int cb_sqlite_audit_sessions(cb_store_backend_t *be, char const *ip, char const *nas, cb_store_audit_rows_t *out)
{
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, "audit");

	if (rc <= 0) return rc;
	st = cb_sqlite_stmt(be, S_AUDIT_SESSIONS);
	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, ip);
	cb_sqlite_bind_text(st, 2, nas);
	rc = audit_rows(be, st, out, "reading the sessions of an address");
	sqlite3_reset(st);
	return rc;
}

int cb_sqlite_audit_purge(cb_store_backend_t *be, time_t before, size_t *removed)
{
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, "audit");

	if (rc <= 0) return rc < 0 ? -1 : 1;
	st = cb_sqlite_stmt(be, S_AUDIT_PURGE);
	if (!st) return -1;
	cb_sqlite_bind_int(st, 1, before);
	if (cb_sqlite_done(be, st, "purging old audit records") < 0) return -1;
	*removed = cb_sqlite_changes(be);
	return *removed ? 0 : 1;
}

/*
 *	Subject access export
 */

/** field_of - column col of the current row. */
static void field_of(sqlite3_stmt *st, int col, cb_store_field_t *f)
{
	memset(f, 0, sizeof(*f));
	f->name = sqlite3_column_name(st, col);
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		f->type = CB_STORE_FIELD_INT;
		f->i = sqlite3_column_int64(st, col);
		break;
	case SQLITE_FLOAT:
		f->type = CB_STORE_FIELD_REAL;
		f->real = sqlite3_column_double(st, col);
		break;
	case SQLITE_TEXT:
		f->type = CB_STORE_FIELD_TEXT;
		f->text = (char const *) sqlite3_column_text(st, col);
		if (!f->text) f->type = CB_STORE_FIELD_NULL;
		break;
	default:
		f->type = CB_STORE_FIELD_NULL;
		break;
	}
}

/** export_rows - fn(kind, NULL), then fn(kind, row) for every row of st; 0 or -1. */
static int export_rows(cb_store_backend_t *be, sqlite3_stmt *st, char const *kind, cb_store_export_fn fn, void *ctx)
{
	cb_store_field_t fields[EXPORT_COLS_MAX];
	int rc, n = sqlite3_column_count(st);

	if (n > EXPORT_COLS_MAX) {
		BE_ERR(be, "store %s: export %s: more than %d columns", be->path, kind, EXPORT_COLS_MAX);
		return -1;
	}
	if (fn(ctx, kind, NULL, 0) < 0) return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < n; c++) field_of(st, c, &fields[c]);
		if (fn(ctx, kind, fields, (size_t) n) < 0) return -1;
	}
	if (rc != SQLITE_DONE) return cb_sqlite_fail(be, "exporting a person's records");
	return 0;
}

/** export_table - the rows of table whose identity column is identity; 0 or -1. */
static int export_table(cb_store_backend_t *be, char const *table, char const *identity, cb_store_export_fn fn,
			void *ctx)
{
	char sql[256];
	sqlite3_stmt *st;
	int rc;

	/* people and devices are WITHOUT ROWID tables: ordered by their key. */
	snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE identity = ?1%s", table,
		 strcmp(table, "people") == 0 ? "" : strcmp(table, "devices") == 0 ? " ORDER BY mac" : " ORDER BY rowid");
	if (sqlite3_prepare_v2(be->db, sql, -1, &st, NULL) != SQLITE_OK) {
		return cb_sqlite_fail(be, "exporting a person's records");
	}
	cb_sqlite_bind_text(st, 1, identity);
	rc = export_rows(be, st, table, fn, ctx);
	sqlite3_finalize(st);
	return rc;
}

int cb_sqlite_export_person(cb_store_backend_t *be, char const *identity, cb_store_export_fn fn, void *ctx)
{
	static char const *const tables[] = {
		"people", "decisions", "sessions", "revocations", "disconnects", "exceptions", "reminders", "devices",
		"device_forgets"
	};
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		rc = cb_sqlite_has_table(be, tables[i]);
		if (rc < 0) return -1;
		if (rc == 0) continue;
		if (export_table(be, tables[i], identity, fn, ctx) < 0) return -1;
	}
	rc = cb_sqlite_has_table(be, "audit");
	if (rc <= 0) return rc;
	st = cb_sqlite_stmt(be, S_AUDIT_RECORDS);
	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, identity);
	rc = export_rows(be, st, "audit", fn, ctx);
	sqlite3_reset(st);
	return rc;
}

int cb_sqlite_table_rows(cb_store_backend_t *be, char const *table, cb_store_export_fn fn, void *ctx)
{
	char sql[128];
	sqlite3_stmt *st;
	int rc = cb_sqlite_has_table(be, table);

	if (rc < 0) return -1;
	if (rc == 0) return fn(ctx, table, NULL, 0);
	/* table is one of copy.c's names, never a value.  ORDER BY: rowid tables in insertion order. */
	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"%s", table,
		 strcmp(table, "people") == 0 || strcmp(table, "devices") == 0 || strcmp(table, "status") == 0 ||
		 strcmp(table, "audit_refs") == 0 ? "" : " ORDER BY rowid");
	if (sqlite3_prepare_v2(be->db, sql, -1, &st, NULL) != SQLITE_OK) return cb_sqlite_fail(be, "reading a table");
	rc = export_rows(be, st, table, fn, ctx);
	sqlite3_finalize(st);
	return rc;
}
