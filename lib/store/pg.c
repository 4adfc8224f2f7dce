/*
 * pg.c - the PostgreSQL backend of the state store: the connection and its
 * reconnection, the schema and its migrations, the query helpers the
 * other pg*.c files use, and the table of operations.
 *
 * Connection.  conf->pg_conninfo is handed to libpq as it is (a key=value
 * string or a postgresql:// URI: several hosts, target_session_attrs,
 * sslmode, sslrootcert... are libpq's); the password, when given, is
 * passed as a separate parameter, so it appears in no string cetbyod
 * builds.  Messages name the server as "PostgreSQL <dbname> at
 * <host>:<port>" and never include the conninfo (it may hold a password).
 * When the connection drops, the call that notices fails; the next call
 * resets the connection (PQreset, trying the conninfo's hosts again) and
 * runs if that works.  Outages are logged once, and again on recovery.
 *
 * Statements.  Each statement text is prepared (PQprepare, named "cb<n>")
 * the first time a connection runs it and executed by name after that, so
 * PostgreSQL parses and plans it once per connection instead of once per
 * call (the module's writer threads run the same few statements for every
 * decision, device and audit record).  At most PG_STMTS_MAX texts are
 * prepared per connection; any beyond (cetbyodctl's ad hoc audit queries)
 * run unprepared.  The names are forgotten when the connection is reset,
 * since the server forgets them with the session.  A connection pooler in
 * front of PostgreSQL must keep a client's session (PgBouncer: session
 * pooling, or max_prepared_statements in transaction pooling).
 * cb_pg_exec_many sends one statement for many rows in one round trip
 * (libpq's pipeline mode): the audit index's rows of a batch, the devices
 * seen of a round.  At most PG_BATCH_MAX statements go in one pipeline,
 * whose answers (a few bytes each) fit in the socket's buffers, so the
 * server never waits on a client that is still sending.
 *
 * Schema.  In the role's current schema (its search_path): an empty one
 * gets schema/pg/cetbyod.sql, one at an older version its migrations, one
 * at a newer version is refused.  All of it in one transaction under an
 * advisory lock, so servers starting together do not race.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "store/pg_schema.h"
#include "store/pg_schema_5.h"


/* pg_migrations[v - 4]: from version v to v + 1 (the PostgreSQL store starts at version 4). */
static char const *const pg_migrations[] = { pg_schema_5 };

/*
 *	Parameters
 */
static void param(cb_pg_params_t *p, char const *v)
{
	if (p->n >= PG_PARAMS_MAX) abort();	/* A programming error: the statements are fixed. */
	p->v[p->n++] = v;
}

void cb_pg_text(cb_pg_params_t *p, char const *s)
{
	param(p, s ? s : "");
}

void cb_pg_int(cb_pg_params_t *p, int64_t v)
{
	if (p->n >= PG_PARAMS_MAX) abort();
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
	param(p, p->num[p->n]);
}

void cb_pg_null(cb_pg_params_t *p)
{
	param(p, NULL);
}

void cb_pg_bool(cb_pg_params_t *p, bool v)
{
	param(p, v ? "true" : "false");
}

/*
 *	Connection and queries
 */

/** one_line - PostgreSQL's message without its trailing newline, into buf. */
static char const *one_line(char const *msg, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", msg && *msg ? msg : "unknown error");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
	for (char *c = buf; *c; c++) if (*c == '\n' || *c == '\t') *c = ' ';
	return buf;
}

static void describe(cb_store_backend_t *be)
{
	char const *host = PQhost(be->conn), *port = PQport(be->conn), *db = PQdb(be->conn);

	snprintf(be->where, sizeof(be->where), "PostgreSQL %s at %s:%s", db && *db ? db : "?",
		 host && *host ? host : "?", port && *port ? port : "?");
}

/** stmts_forget - the statements prepared on the connection, forgotten (it was reset, or is closing). */
static void stmts_forget(cb_store_backend_t *be)
{
	for (size_t i = 0; i < be->n_stmts; i++) free(be->stmts[i].sql);
	be->n_stmts = 0;
}

/** pg_ready - the connection is usable, reset when it was lost; 0, or -1 (logged once per outage). */
static int pg_ready(cb_store_backend_t *be)
{
	char msg[512];

	if (PQstatus(be->conn) == CONNECTION_OK) return 0;
	if (be->in_tx) return -1;	/* The transaction is lost with the connection. */
	PQreset(be->conn);
	be->people_lead = false;	/* A session's advisory lock ends with it. */
	stmts_forget(be);		/* So do its prepared statements. */
	if (PQstatus(be->conn) == CONNECTION_OK) {
		describe(be);
		if (be->down_logged && be->log) be->log(be->log_ctx, CB_LOG_INFO, "store: %s: reconnected", be->where);
		be->down_logged = false;
		return 0;
	}
	be->conn_lost = true;
	be->sqlstate[0] = '\0';
	if (!be->down_logged) {
		PG_ERR(be, "store: %s is unreachable: %s (the module keeps answering from what it knows; writes "
		       "fail until the database is back, and it reconnects by itself)", be->where,
		       one_line(PQerrorMessage(be->conn), msg, sizeof(msg)));
		be->down_logged = true;
	}
	return -1;
}

static void fail(cb_store_backend_t *be, PGresult const *r, char const *what)
{
	char msg[512];
	char const *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	snprintf(be->sqlstate, sizeof(be->sqlstate), "%s", state ? state : "");
	be->conn_lost = PQstatus(be->conn) != CONNECTION_OK;
	if (be->conn_lost && be->down_logged) return;
	if (be->conn_lost) be->down_logged = true;
	PG_ERR(be, "store: %s: %s: %s%s", be->where, what,
	       one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(be->conn), msg, sizeof(msg)),
	       be->conn_lost ? " (the connection was lost; the next call reconnects)" : "");
}

/**
 * stmt_name - the name sql is prepared under on this connection, preparing
 * it the first time; 1 with name filled, 0 when it runs unprepared (the
 * table is full, or out of memory), -1 when preparing failed (logged with
 * what: the statement would have failed the same way).
 */
static int stmt_name(cb_store_backend_t *be, char const *sql, int nparams, char name[16], char const *what)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;
	PGresult *r;

	for (char const *c = sql; *c; c++) h = (h ^ (uint8_t) *c) * 1099511628211ULL;
	for (i = 0; i < be->n_stmts; i++) {
		if (be->stmts[i].hash == h && strcmp(be->stmts[i].sql, sql) == 0) break;
	}
	snprintf(name, 16, "cb%zu", i);
	if (i < be->n_stmts) return 1;
	if (i == PG_STMTS_MAX || !(be->stmts[i].sql = strdup(sql))) return 0;
	r = PQprepare(be->conn, name, sql, nparams, NULL);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		fail(be, r, what);
		PQclear(r);
		free(be->stmts[i].sql);
		return -1;
	}
	PQclear(r);
	be->stmts[i].hash = h;
	be->n_stmts++;
	return 1;
}

PGresult *cb_pg_query(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, char const *what)
{
	PGresult *r;
	ExecStatusType st;
	char name[16];
	int n = p ? p->n : 0, prepared;

	if (pg_ready(be) < 0) return NULL;
	prepared = stmt_name(be, sql, n, name, what);
	if (prepared < 0) return NULL;
	r = prepared ? PQexecPrepared(be->conn, name, n, p ? p->v : NULL, NULL, NULL, 0)
		     : PQexecParams(be->conn, sql, n, NULL, p ? p->v : NULL, NULL, NULL, 0);
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
	fail(be, r, what);
	PQclear(r);
	return NULL;
}

int cb_pg_script(cb_store_backend_t *be, char const *sql, char const *what)
{
	PGresult *r;

	if (pg_ready(be) < 0) return -1;
	r = PQexec(be->conn, sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	fail(be, r, what);
	PQclear(r);
	return -1;
}

/** changed_rows - the rows a statement's result says it changed. */
static size_t changed_rows(PGresult *r)
{
	char const *n = PQcmdTuples(r);

	return n && *n ? (size_t) strtoull(n, NULL, 10) : 0;
}

int cb_pg_exec(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, char const *what, size_t *changed)
{
	PGresult *r = cb_pg_query(be, sql, p, what);

	if (!r) return -1;
	if (changed) *changed = changed_rows(r);
	PQclear(r);
	return 0;
}

/**
 * pipeline_collect - the results of a pipeline up to its sync, changed[k]
 * (may be NULL) from the k-th statement's; 0, or -1 after the first
 * failure, logged.
 */
static int pipeline_collect(cb_store_backend_t *be, char const *what, size_t *changed, size_t n)
{
	PGresult *r;
	size_t k = 0, ends = 0;
	int rc = 0;

	for (;;) {
		ExecStatusType st;

		r = PQgetResult(be->conn);
		if (!r) {	/* The end of one statement's results; more of them than statements: lost. */
			if (PQstatus(be->conn) != CONNECTION_OK || ++ends > n + 1) break;
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			return rc;
		}
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED && rc == 0) {
			fail(be, r, what);
			rc = -1;
		}
		if (st == PGRES_PIPELINE_ABORTED) rc = -1;
		if (changed && k < n) changed[k] = changed_rows(r);
		k++;
		PQclear(r);
	}
	if (rc == 0) fail(be, NULL, what);
	return -1;
}

/** one_by_one - cb_pg_exec_many without a pipeline. */
static int one_by_one(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, size_t n, char const *what,
		      size_t *changed)
{
	for (size_t i = 0; i < n; i++) {
		if (cb_pg_exec(be, sql, &p[i], what, changed ? &changed[i] : NULL) < 0) return -1;
	}
	return 0;
}

int cb_pg_exec_many(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, size_t n, char const *what,
		    size_t *changed)
{
	char name[16];
	size_t i;
	int rc;

	if (n == 0) return 0;
	if (n == 1 || n > PG_BATCH_MAX) return one_by_one(be, sql, p, n, what, changed);
	if (pg_ready(be) < 0) return -1;
	rc = stmt_name(be, sql, p[0].n, name, what);
	if (rc < 0) return -1;
	if (rc == 0) return one_by_one(be, sql, p, n, what, changed);
	if (!PQenterPipelineMode(be->conn)) {
		fail(be, NULL, what);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!PQsendQueryPrepared(be->conn, name, p[i].n, p[i].v, NULL, NULL, 0)) break;
	}
	if (i < n || !PQpipelineSync(be->conn)) {
		fail(be, NULL, what);
		rc = -1;
		if (PQstatus(be->conn) == CONNECTION_OK && PQpipelineSync(be->conn)) pipeline_collect(be, what, NULL, n);
	} else {
		rc = pipeline_collect(be, what, changed, n);
	}
	if (!PQexitPipelineMode(be->conn) && PQstatus(be->conn) == CONNECTION_OK) {
		PG_ERR(be, "store: %s: %s: cannot leave pipeline mode", be->where, what);
		rc = -1;
	}
	return rc < 0 ? -1 : 0;
}

int cb_pg_begin(cb_store_backend_t *be)
{
	if (be->in_tx) {
		be->tx_depth++;
		return 0;
	}
	be->tx_failed = false;
	if (cb_pg_exec(be, "BEGIN", NULL, "starting a transaction", NULL) < 0) return -1;
	be->in_tx = true;
	return 0;
}

int cb_pg_end(cb_store_backend_t *be, int rc)
{
	if (!be->in_tx) return -1;
	if (be->tx_depth > 0) {
		be->tx_depth--;
		if (rc < 0) be->tx_failed = true;
		return rc;
	}
	if (be->tx_failed) rc = -1;
	if (rc >= 0) {
		if (cb_pg_exec(be, "COMMIT", NULL, "committing", NULL) == 0) {
			be->in_tx = false;
			return rc;
		}
		rc = -1;
	}
	if (PQstatus(be->conn) == CONNECTION_OK) {
		PGresult *r = PQexec(be->conn, "ROLLBACK");

		PQclear(r);
	}
	be->in_tx = false;
	return rc;
}

bool cb_pg_col_text(PGresult const *r, int row, int col, char *buf, size_t size)
{
	char const *v = PQgetvalue(r, row, col);
	size_t n = (size_t) PQgetlength(r, row, col);

	if (n >= size) return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return true;
}

int64_t cb_pg_col_int(PGresult const *r, int row, int col)
{
	if (PQgetisnull(r, row, col)) return 0;
	return (int64_t) strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int cb_pg_one(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read, void *out,
	      char const *what)
{
	PGresult *r = cb_pg_query(be, sql, p, what);
	int rc = 1;

	if (!r) return -1;
	if (PQntuples(r) > 0) {
		rc = 0;
		if (!read(r, 0, out)) {
			PG_ERR(be, "store: %s: %s: a row holds a value cetbyod never writes (was the database edited?)",
			       be->where, what);
			rc = -1;
		}
	}
	PQclear(r);
	return rc;
}

int cb_pg_list(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read, size_t size,
	       void **items, size_t *count, char const *what)
{
	size_t skipped = 0;
	int rc = cb_pg_list_skipping(be, sql, p, read, size, items, count, &skipped, NULL, what);

	if (rc == 0 && skipped > 0) {
		free(*items);
		*items = NULL;
		*count = 0;
		PG_ERR(be, "store: %s: %s: a row holds a value cetbyod never writes (was the database edited?)",
		       be->where, what);
		return -1;
	}
	return rc;
}

int cb_pg_list_skipping(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read,
			size_t size, void **items, size_t *count, size_t *skipped, int64_t *first_skipped,
			char const *what)
{
	PGresult *r;
	unsigned char *arr;
	size_t n = 0, rows;

	*items = NULL;
	*count = 0;
	*skipped = 0;
	if (first_skipped) *first_skipped = 0;
	r = cb_pg_query(be, sql, p, what);
	if (!r) return -1;
	rows = (size_t) PQntuples(r);
	if (rows > PG_LIST_MAX) {
		PG_ERR(be, "store: %s: %s: more than %d rows", be->where, what, PG_LIST_MAX);
		PQclear(r);
		return -1;
	}
	if (rows == 0) {
		PQclear(r);
		return 0;
	}
	arr = calloc(rows, size);
	if (!arr) {
		PG_ERR(be, "store: %s: %s: out of memory", be->where, what);
		PQclear(r);
		return -1;
	}
	for (size_t i = 0; i < rows; i++) {
		memset(arr + n * size, 0, size);
		if (read(r, (int) i, arr + n * size)) {
			n++;
			continue;
		}
		if (*skipped == 0 && first_skipped) *first_skipped = cb_pg_col_int(r, (int) i, 0);
		(*skipped)++;
	}
	PQclear(r);
	if (n == 0) {
		free(arr);
		arr = NULL;
	}
	*items = arr;
	*count = n;
	return 0;
}

/*
 *	Schema
 */

/** schema_version - the store's version in the current schema: 0 when empty, -1 (err set) when not ours. */
static int64_t schema_version(cb_store_backend_t *be, char *err, size_t errlen)
{
	PGresult *r;
	int64_t v = -1;
	char msg[256];

	r = PQexec(be->conn, "SELECT to_regclass('meta') IS NOT NULL, (SELECT count(*) FROM pg_class c JOIN "
		   "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'), "
		   "current_schema()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 2)) {
		snprintf(err, errlen, "%s: reading the schema: %s", be->where,
			 PQgetisnull(r, 0, 2) ? "the role has no current schema (set its search_path to a schema "
			 "it owns)" : one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
		PQclear(r);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		if (cb_pg_col_int(r, 0, 1) == 0) v = 0;
		else snprintf(err, errlen, "%s: schema %s holds tables but no cetbyod store (no meta table); refusing "
			      "to touch it (give cetbyod a schema of its own)", be->where, PQgetvalue(r, 0, 2));
		PQclear(r);
		return v;
	}
	PQclear(r);
	r = PQexec(be->conn, "SELECT (SELECT value FROM meta WHERE key = 'application'), "
		   "(SELECT value FROM meta WHERE key = 'schema_version')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
	    strcmp(PQgetvalue(r, 0, 0), "cetbyod") != 0 || PQgetisnull(r, 0, 1)) {
		snprintf(err, errlen, "%s: the meta table is not cetbyod's; refusing to touch the schema", be->where);
		PQclear(r);
		return -1;
	}
	v = cb_pg_col_int(r, 0, 1);
	PQclear(r);
	if (v > CB_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s has schema version %" PRId64 ", written by a newer cetbyod; this one knows "
			 "version %d and will not change it (upgrade cetbyod here: every server sharing the database "
			 "must run the same version)", be->where, v, CB_STORE_SCHEMA_VERSION);
		return -1;
	}
	if (v < 4) {
		snprintf(err, errlen, "%s: schema version %" PRId64 " is not one cetbyod wrote", be->where, v);
		return -1;
	}
	return v;
}

static int run_sql(cb_store_backend_t *be, char const *sql, char const *what, char *err, size_t errlen)
{
	PGresult *r = PQexec(be->conn, sql);
	char msg[512];

	if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	snprintf(err, errlen, "%s: %s: %s", be->where, what, one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
	PQclear(r);
	return -1;
}

/** pg_schema - create or migrate the schema in one transaction; 0 or -1 (err set, nothing changed). */
static int pg_schema(cb_store_backend_t *be, char *err, size_t errlen)
{
	int64_t v;
	int rc = -1;
	char lock[64];

	if (run_sql(be, "BEGIN", "starting a transaction", err, errlen) < 0) return -1;
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%s)", PG_SCHEMA_LOCK_KEY);
	if (run_sql(be, lock, "locking the schema", err, errlen) < 0) goto done;
	v = schema_version(be, err, errlen);
	if (v < 0) goto done;
	if (v == 0) {
		if (run_sql(be, pg_schema_sql, "creating the schema", err, errlen) < 0) goto done;
		v = 4;
	}
	for (; v < CB_STORE_SCHEMA_VERSION; v++) {
		cb_pg_params_t p = { 0 };
		char const *m = (size_t) (v - 4) < sizeof(pg_migrations) / sizeof(pg_migrations[0]) ?
				pg_migrations[v - 4] : NULL;
		PGresult *r;

		if (!m) {
			snprintf(err, errlen, "%s: no migration from schema version %" PRId64, be->where, v);
			goto done;
		}
		if (run_sql(be, m, "migrating the schema", err, errlen) < 0) goto done;
		cb_pg_int(&p, v + 1);
		r = PQexecParams(be->conn, "UPDATE meta SET value = $1 WHERE key = 'schema_version'", 1, NULL, p.v,
				 NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(r);
			snprintf(err, errlen, "%s: recording the schema version failed", be->where);
			goto done;
		}
		PQclear(r);
	}
	rc = 0;
done:
	if (rc == 0 && run_sql(be, "COMMIT", "committing the schema", err, errlen) == 0) return 0;
	PQclear(PQexec(be->conn, "ROLLBACK"));
	return -1;
}

/*
 *	Write failures
 */

/**
 * pg_transient - whether the last failure may pass by itself: the
 * connection (class 08, or lost), resources (53: disk full, out of memory,
 * too many connections), an operator's intervention (57: shutdown, a
 * failover) or a serialisation failure or deadlock (40).
 */
static bool pg_transient(cb_store_backend_t *be)
{
	if (be->conn_lost || !be->sqlstate[0]) return true;
	return strncmp(be->sqlstate, "08", 2) == 0 || strncmp(be->sqlstate, "53", 2) == 0 ||
	       strncmp(be->sqlstate, "57", 2) == 0 || strncmp(be->sqlstate, "40", 2) == 0 ||
	       strncmp(be->sqlstate, "25006", 5) == 0;	/* read-only transaction: a standby after failover. */
}

#define PG_WRITE_CHECK "INSERT INTO status (key, value, updated_at) VALUES ('store.write_check', '', 0) " \
	"ON CONFLICT (key) DO NOTHING; DELETE FROM status WHERE key = 'store.write_check'"

/** pg_check_writable - a transaction that writes and deletes one status row commits; 0, or -1 with why. */
static int pg_check_writable(cb_store_backend_t *be, char *why, size_t len)
{
	PGresult *r;
	char msg[512];

	if (pg_ready(be) < 0) {
		snprintf(why, len, "%s is unreachable: %s", be->where, one_line(PQerrorMessage(be->conn), msg,
										sizeof(msg)));
		return -1;
	}
	r = PQexec(be->conn, "BEGIN; " PG_WRITE_CHECK "; COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		PQclear(r);
		return 0;
	}
	snprintf(why, len, "%s: %s", be->where, one_line(PQresultErrorMessage(r), msg, sizeof(msg)));
	PQclear(r);
	if (PQstatus(be->conn) == CONNECTION_OK && PQtransactionStatus(be->conn) != PQTRANS_IDLE) {
		PQclear(PQexec(be->conn, "ROLLBACK"));
	}
	return -1;
}

static void pg_close(cb_store_backend_t *be)
{
	if (!be) return;
	if (be->conn) PQfinish(be->conn);
	stmts_forget(be);
	free(be->conninfo);
	if (be->password) {
		memset(be->password, 0, strlen(be->password));
		free(be->password);
	}
	free(be);
}

/** pg_reachable - a server of the conninfo accepts connections (PQping: no login, no lock needed). */
static bool pg_reachable(cb_store_backend_t *be)
{
	return be->conninfo && PQping(be->conninfo) == PQPING_OK;
}

static char const *pg_name(cb_store_backend_t *be)
{
	return be->where;
}

static cb_store_ops_t const pg_ops = {
	.name = "postgresql",
	.close = pg_close,
	.decisions_put = cb_pg_decisions_put,
	.decision_get = cb_pg_decision_get,
	.session_start = cb_pg_session_start,
	.session_update = cb_pg_session_update,
	.session_stop = cb_pg_session_stop,
	.sessions_write = cb_pg_sessions_write,
	.session_get = cb_pg_session_get,
	.nas_reboot = cb_pg_nas_reboot,
	.close_stale = cb_pg_close_stale,
	.sessions_active = cb_pg_sessions_active,
	.revoke = cb_pg_revoke,
	.reinstate = cb_pg_reinstate,
	.is_revoked = cb_pg_is_revoked,
	.revocations = cb_pg_revocations,
	.disconnect_enqueue = cb_pg_disconnect_enqueue,
	.disconnect_due = cb_pg_disconnect_due,
	.disconnect_claim = cb_pg_disconnect_claim,
	.disconnect_take = cb_pg_disconnect_take,
	.watch_start = cb_pg_watch_start,
	.disconnect_mark = cb_pg_disconnect_mark,
	.disconnect_hold = cb_pg_disconnect_hold,
	.disconnect_release = cb_pg_disconnect_release,
	.disconnects = cb_pg_disconnects,
	.command_enqueue = cb_pg_command_enqueue,
	.commands_take = cb_pg_commands_take,
	.status_put = cb_pg_status_put,
	.status_get = cb_pg_status_get,
	.statuses = cb_pg_statuses,
	.counts = cb_pg_counts,
	.purge = cb_pg_purge,
	.exception_add = cb_pg_exception_add,
	.exception_end = cb_pg_exception_end,
	.exceptions = cb_pg_exceptions,
	.people_update = cb_pg_people_update,
	.people = cb_pg_people,
	.reminder_put = cb_pg_reminder_put,
	.reminder_sent = cb_pg_reminder_sent,
	.reminder_claim = cb_pg_reminder_claim,
	.reminder_unclaim = cb_pg_reminder_unclaim,
	.reminders = cb_pg_reminders,
	.devices = cb_pg_devices,
	.sessions_since = cb_pg_sessions_since,
	.device_seen = cb_pg_device_seen,
	.devices_seen = cb_pg_devices_seen,
	.devices_known = cb_pg_devices_known,
	.devices_forget = cb_pg_devices_forget,
	.device_forgets = cb_pg_device_forgets,
	.audit_attach = cb_pg_audit_attach,
	.audit_put = cb_pg_audit_put,
	.audit_last = cb_pg_audit_last,
	.audit_count = cb_pg_audit_count,
	.audit_has_ref = cb_pg_audit_has_ref,
	.audit_tally = cb_pg_audit_tally,
	.audit_query = cb_pg_audit_query,
	.audit_sessions = cb_pg_audit_sessions,
	.audit_purge = cb_pg_audit_purge,
	.export_person = cb_pg_export_person,
	.load_begin = cb_pg_load_begin,
	.load_row = cb_pg_load_row,
	.load_end = cb_pg_load_end,
	.transient = pg_transient,
	.where = pg_name,
	.check_writable = pg_check_writable,
	.spool_apply = cb_pg_spool_apply,
	.reachable = pg_reachable,
};

/** refused - the server answered and said no (a login, a database, pg_hba.conf): not an outage. */
static bool refused(char const *msg)
{
	return strstr(msg, "authentication failed") || strstr(msg, "pg_hba.conf") ||
	       (strstr(msg, "database \"") && strstr(msg, "does not exist")) ||
	       (strstr(msg, "role \"") && strstr(msg, "does not exist"));
}

cb_store_backend_t *cb_store_pg_open(cb_store_conf_t const *conf, cb_store_ops_t const **ops, char *err,
				     size_t errlen)
{
	char const *keys[] = { "dbname", "password", "application_name", NULL };
	char const *vals[] = { conf->pg_conninfo, conf->pg_password, "cetbyod", NULL };
	cb_store_backend_t *be;
	char msg[512];

	if (conf->server_id && strlen(conf->server_id) > CB_STORE_NAME_MAX) {
		snprintf(err, errlen, "server_id is longer than %d bytes", CB_STORE_NAME_MAX);
		return NULL;
	}
	be = calloc(1, sizeof(*be));
	if (!be) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	be->log = conf->log;
	be->log_ctx = conf->log_ctx;
	if (conf->server_id) snprintf(be->server_id, sizeof(be->server_id), "%s", conf->server_id);
	if (!(be->conninfo = strdup(conf->pg_conninfo)) ||
	    (conf->pg_password && !(be->password = strdup(conf->pg_password)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!conf->pg_password) {
		keys[1] = "application_name";
		vals[1] = "cetbyod";
		keys[2] = NULL;
		vals[2] = NULL;
	}
	be->conn = PQconnectdbParams(keys, vals, 1);
	if (!be->conn) {
		snprintf(err, errlen, "PostgreSQL: out of memory");
		goto fail;
	}
	describe(be);
	if (PQstatus(be->conn) != CONNECTION_OK) {
		/* libpq's message names host and port and says why; it never repeats the password. */
		one_line(PQerrorMessage(be->conn), msg, sizeof(msg));
		snprintf(err, errlen, "%s: %s (check the conninfo, the password and pg_hba.conf)",
			 refused(msg) ? "PostgreSQL refused the connection" : CB_STORE_UNREACHABLE, msg);
		goto fail;
	}
	PQclear(PQexec(be->conn, "SET client_min_messages = warning"));
	if (pg_schema(be, err, errlen) < 0) goto fail;
	*ops = &pg_ops;
	return be;

fail:
	pg_close(be);
	return NULL;
}
