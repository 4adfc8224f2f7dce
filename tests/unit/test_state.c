/*
 * test_state.c - a state store in a temporary directory, and the decisions,
 * sessions and acknowledgements the unit tests put in it (test_state.h).
 *
 * With CB_TEST_PG_CONNINFO in the environment (tests/unit/test_state_pg.sh
 * sets it from tests/pg/pg-fixture.sh) the store is the PostgreSQL one
 * instead, its schema emptied for each test.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "test_state.h"
#include "test_tmp.h"

static char tmpdir[256];
static char dbpath[256];

static char pg_password[256];

/** pg_conninfo - the fixture's conninfo, or NULL: the tests run on SQLite. */
static char const *pg_conninfo(void)
{
	char const *c = getenv("CB_TEST_PG_CONNINFO");

	return c && *c ? c : NULL;
}

/** pg_admin - run sql as the fixture's superuser, in the store's schema. */
static void pg_admin(char const *sql)
{
	PGconn *c = PQconnectdb(getenv("CB_TEST_PG_ADMIN") ? getenv("CB_TEST_PG_ADMIN") : "");
	PGresult *r;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning; SET search_path = cetbyod"));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static void pg_read_password(void)
{
	char const *path = getenv("CB_TEST_PG_PASSWORD_FILE");
	FILE *f = path ? fopen(path, "r") : NULL;
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(pg_password, 1, sizeof(pg_password) - 1, f);
	fclose(f);
	pg_password[n] = '\0';
	pg_password[strcspn(pg_password, "\r\n")] = '\0';
}

void test_state_pg_admin(char const *sql)
{
	pg_admin(sql);
}

char const *test_state_pg_password(void)
{
	pg_read_password();
	return pg_password;
}

cb_store_t *test_state_open(void)
{
	cb_store_conf_t conf = { .create = true };
	char path[256], err[512] = "";
	cb_store_t *store;

	test_tmp_dir("test_state", tmpdir, sizeof(tmpdir));
	ck_assert(cb_store_path(tmpdir, path, sizeof(path)));
	snprintf(dbpath, sizeof(dbpath), "%s", path);
	conf.path = path;
	if (pg_conninfo()) {
		pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
		pg_read_password();
		conf.backend = CB_STORE_POSTGRESQL;
		conf.pg_conninfo = pg_conninfo();
		conf.pg_password = pg_password;
	}
	store = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(store != NULL, "cb_store_open: %s", err);
	return store;
}

void test_state_edit(char const *sqlite_sql, char const *pg_sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (pg_conninfo()) {
		pg_admin(pg_sql);
		return;
	}
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, sqlite_sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sqlite_sql,
		      msg ? msg : "?");
	sqlite3_close(db);
}

char const *test_state_db(void)
{
	return dbpath;
}

void test_state_close(cb_store_t *store)
{
	DIR *d;
	struct dirent *e;
	char p[600];

	cb_store_close(store);
	d = opendir(tmpdir);
	if (!d) return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

void test_state_session(cb_store_t *store, char const *identity, char const *status, time_t valid_until,
			char const *ack_email, char const *sid, char const *calling, time_t now)
{
	cb_store_decision_t d;
	cb_store_acct_t a;

	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(cb_store_new_class_id(d.class_id), 0);
	snprintf(d.identity, sizeof(d.identity), "%s", identity);
	snprintf(d.status, sizeof(d.status), "%s", status);
	snprintf(d.reason, sizeof(d.reason), "%s", strcmp(status, "admit") == 0 ? "acknowledged" :
		 strcmp(status, "restricted") == 0 ? "exception_active" : "no_acknowledgement");
	d.decided_at = now;
	d.valid_until = valid_until;
	snprintf(d.nas, sizeof(d.nas), "127.0.0.1");
	snprintf(d.calling_station, sizeof(d.calling_station), "%s", calling);
	snprintf(d.ack_email, sizeof(d.ack_email), "%s", ack_email ? ack_email : "");
	ck_assert_int_eq(cb_store_decision_put(store, &d), 0);

	memset(&a, 0, sizeof(a));
	a.nas = "127.0.0.1";
	a.nas_ip = "127.0.0.1";
	a.acct_session_id = sid;
	a.class_id = d.class_id;
	a.outer_identity = identity;
	a.calling_station = calling;
	a.event_time = now;
	ck_assert_int_eq(cb_store_session_start(store, &a), 0);
}

cb_ack_index_t *test_state_index(char const *const *emails, size_t n, time_t ack_time, bool revoked)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx;

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(cb_ack_builder_add(b, emails[i], ack_time, "", revoked, "test"), 0);
	}
	idx = cb_ack_builder_finish(b, ack_time);
	ck_assert_ptr_nonnull(idx);
	return idx;
}

int test_state_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
