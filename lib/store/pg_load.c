/*
 * pg_load.c - the PostgreSQL backend's side of cb_store_copy (copy.c):
 * one transaction that checks the target is empty (or empties it), takes
 * rows column by column as the source has them, and moves each identity
 * sequence past the largest id copied.  Column names come from the
 * source's file: only lower-case names of letters, digits and '_' are
 * accepted, quoted; every value is a parameter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

#define LOAD_COLS_MAX	64
#define LOAD_SQL_MAX	8192

/** table_name_ok - one of copy.c's names: lower-case letters and '_'. */
static bool name_ok(char const *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || (s[0] >= '0' && s[0] <= '9')) return false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
	}
	return true;
}

int cb_pg_load_begin(cb_store_backend_t *be, char const *const *tables, size_t n, bool replace)
{
	char sql[256];
	PGresult *r;
	int rc = 0;

	if (cb_pg_audit_attach(be) < 0 || cb_pg_begin(be) < 0) return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!name_ok(tables[i])) rc = -1;
		else if (replace) {
			snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", tables[i]);
			rc = cb_pg_exec(be, sql, NULL, "emptying the target", NULL);
		} else {
			snprintf(sql, sizeof(sql), "SELECT EXISTS (SELECT 1 FROM \"%s\")", tables[i]);
			r = cb_pg_query(be, sql, NULL, "looking at the target");
			if (!r) rc = -1;
			else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) rc = 1;
			PQclear(r);
		}
	}
	if (rc != 0) {
		cb_pg_end(be, -1);
		return rc;
	}
	return 0;
}

/** value - a field as PostgreSQL's text input (num: room for a number); NULL for SQL NULL. */
static char const *value(cb_store_field_t const *f, char *num, size_t len)
{
	switch (f->type) {
	case CB_STORE_FIELD_INT:
		snprintf(num, len, "%" PRId64, (int64_t) f->i);
		return num;
	case CB_STORE_FIELD_REAL:
		snprintf(num, len, "%.17g", f->real);
		return num;
	case CB_STORE_FIELD_TEXT:
		return f->text;
	default:
		return NULL;
	}
}

int cb_pg_load_row(cb_store_backend_t *be, char const *table, cb_store_field_t const *fields, size_t n)
{
	char const *v[LOAD_COLS_MAX + 1];
	char num[LOAD_COLS_MAX][32], sql[LOAD_SQL_MAX], what[128];
	size_t len, k = 0;
	bool has_server = false;
	PGresult *r;

	if (n > LOAD_COLS_MAX || !name_ok(table)) {
		PG_ERR(be, "store: %s: copying %s: more than %d columns, or a bad table name", be->where, table, LOAD_COLS_MAX);
		return -1;
	}
	len = (size_t) snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (", table);
	for (k = 0; k < n; k++) {
		if (!fields[k].name || !name_ok(fields[k].name)) {
			PG_ERR(be, "store: %s: copying %s: a column has a name PostgreSQL is not given", be->where, table);
			return -1;
		}
		if (strcmp(fields[k].name, "server_id") == 0) has_server = true;
		v[k] = value(&fields[k], num[k], sizeof(num[k]));
		len += (size_t) snprintf(sql + len, sizeof(sql) - len, "%s\"%s\"", k ? ", " : "", fields[k].name);
	}
	if (strcmp(table, "audit") == 0 && !has_server) {	/* Each server its own chain: this server's. */
		v[k++] = be->server_id;
		len += (size_t) snprintf(sql + len, sizeof(sql) - len, "%sserver_id", n ? ", " : "");
	}
	len += (size_t) snprintf(sql + len, sizeof(sql) - len, ") VALUES (");
	for (size_t i = 0; i < k && len < sizeof(sql); i++) {
		len += (size_t) snprintf(sql + len, sizeof(sql) - len, "%s$%zu", i ? ", " : "", i + 1);
	}
	if (len + 2 >= sizeof(sql)) return -1;
	memcpy(sql + len, ")", 2);
	snprintf(what, sizeof(what), "copying a row of %s", table);
	r = PQexecParams(be->conn, sql, (int) k, NULL, v, NULL, NULL, 0);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		PG_ERR(be, "store: %s: %s: %s", be->where, what, r ? PQresultErrorMessage(r) : PQerrorMessage(be->conn));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

/** sequence_after - the table's identity sequence continues after its largest id (none: nothing). */
static int sequence_after(cb_store_backend_t *be, char const *table)
{
	cb_pg_params_t p = { 0 };
	char sql[256];
	PGresult *r;
	int has;

	cb_pg_text(&p, table);
	r = cb_pg_query(be, "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND "
			"table_name = $1 AND column_name = 'id' AND is_identity = 'YES'", &p, "looking up a sequence");
	if (!r) return -1;
	has = PQntuples(r) > 0;
	PQclear(r);
	if (!has) return 0;
	snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE(max(id), 0) + 1, false) "
		 "FROM \"%s\"", table);
	r = cb_pg_query(be, sql, &p, "moving a sequence past the copied ids");
	if (!r) return -1;
	PQclear(r);
	return 0;
}

int cb_pg_load_end(cb_store_backend_t *be, int rc, char const *const *tables, size_t n)
{
	for (size_t i = 0; i < n && rc >= 0; i++) {
		if (sequence_after(be, tables[i]) < 0) rc = -1;
	}
	return cb_pg_end(be, rc);
}
