/*
 * test_store.c - the state store (SQLite backend) through its public
 * interface: every function, restart survival (close and reopen),
 * concurrent writers, Accounting-On closing a NAS's sessions, stale
 * sessions, 64-bit counters, the disconnect queue's retries, held bursts
 * and confirmation, revocations, commands and status, the audit index
 * and the subject access export; and files that are not a current cetbyod
 * store, which must be refused and left untouched.
 *
 * Each test works in its own temporary directory.  The schema embedded in
 * store.c is compared with schema/sql/cetbyod.sql, found through $srcdir.
 *
 * Both backends.  Run alone, the binary tests the SQLite store.  With
 * CB_TEST_PG_CONNINFO (and CB_TEST_PG_PASSWORD_FILE, CB_TEST_PG_ADMIN) in
 * the environment, as tests/unit/test_store_pg.sh sets them from
 * tests/pg/pg-fixture.sh, it runs every test that is not about SQLite's
 * file on the PostgreSQL store instead, each on a freshly emptied schema,
 * plus the PostgreSQL store's own tests (test_pg_*).
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "base/mac.h"
#include "store/store.h"
#include "test_tmp.h"

#define T0 1788249600	/* 2026-09-01T08:00:00Z */

static char tmpdir[256];
static char dbpath[512];
static char last_log[1024];
static char const *pg_conninfo;		/* Set: the tests run on PostgreSQL. */
static char pg_password[128];

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	(void) uctx;
	(void) level;
	va_start(ap, fmt);
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
}

/** pg_admin - run sql as the fixture's superuser; the test fails when it fails. */
static void pg_admin(char const *sql)
{
	char const *admin = getenv("CB_TEST_PG_ADMIN");
	PGconn *c;
	PGresult *r;

	ck_assert_ptr_nonnull(admin);
	c = PQconnectdb(admin);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/** store_conf - the configuration of the store under test (SQLite at dbpath, or the PostgreSQL fixture). */
static cb_store_conf_t store_conf(bool create)
{
	cb_store_conf_t conf = { .path = dbpath, .create = create, .log = test_log };

	if (pg_conninfo) {
		conf.backend = CB_STORE_POSTGRESQL;
		conf.pg_conninfo = pg_conninfo;
		conf.pg_password = pg_password;
		conf.server_id = "test";
	}
	return conf;
}

static void setup(void)
{
	if (pg_conninfo) pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	test_tmp_dir("test_store", tmpdir, sizeof(tmpdir));
	ck_assert(cb_store_path(tmpdir, dbpath, sizeof(dbpath)));
	last_log[0] = '\0';
}

static void teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[600];

	if (!d) return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

static cb_store_t *open_store(bool create)
{
	cb_store_conf_t conf = store_conf(create);
	char err[512] = "";
	cb_store_t *s = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(s != NULL, "open: %s", err);
	return s;
}

/** open_fails - opening must fail; returns the error. */
static char const *open_fails(bool create)
{
	static char err[512];
	cb_store_conf_t conf = store_conf(create);
	cb_store_t *s;

	err[0] = '\0';
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_ptr_null(s);
	ck_assert(err[0] != '\0');
	return err;
}

/** put_decision - a decision for identity with status; its class id in class_id. */
static void put_decision(cb_store_t *s, char const *identity, char const *status, time_t valid_until,
			 char class_id[CB_CLASS_ID_LEN + 1])
{
	cb_store_decision_t d;

	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(cb_store_new_class_id(class_id), 0);
	memcpy(d.class_id, class_id, CB_CLASS_ID_LEN + 1);
	snprintf(d.identity, sizeof(d.identity), "%s", identity);
	snprintf(d.outer_identity, sizeof(d.outer_identity), "anonymous@school.example");
	snprintf(d.status, sizeof(d.status), "%s", status);
	snprintf(d.reason, sizeof(d.reason), "%s", strcmp(status, "admit") == 0 ? "acknowledged" : "no_acknowledgement");
	d.decided_at = T0;
	d.valid_until = valid_until;
	d.ack_time = T0 - 86400;
	snprintf(d.policy_version, sizeof(d.policy_version), "2026-1");
	snprintf(d.nas, sizeof(d.nas), "10.0.0.2");
	snprintf(d.calling_station, sizeof(d.calling_station), "02-00-00-00-00-01");
	snprintf(d.role, sizeof(d.role), "%s", strcmp(identity, "gwen") == 0 ? "governors" : "staff");
	ck_assert_int_eq(cb_store_decision_put(s, &d), 0);
}

/** acct - an accounting request for session sid on nas. */
static cb_store_acct_t mk_acct(char const *nas, char const *sid, char const *class_id, time_t t)
{
	cb_store_acct_t a;

	memset(&a, 0, sizeof(a));
	a.nas = nas;
	a.acct_session_id = sid;
	a.class_id = class_id;
	a.outer_identity = "anonymous@school.example";
	a.calling_station = "02-00-00-00-00-01";
	a.called_station = "02-00-00-00-00-aa:StaffWiFi";
	a.nas_ip = nas;
	a.event_time = t;
	return a;
}

static char *read_file(char const *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (!fp) return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t) n, fp), (size_t) n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t) n;
	return buf;
}

static void write_file(char const *path, char const *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

/*
 *	Schema and files
 */
/** schema_file - schema/sql/NAME through $srcdir (malloc'd), its length in *len. */
static char *schema_file(char const *name, size_t *len)
{
	char const *srcdir = getenv("srcdir");
	char path[1024];
	char *sql;

	snprintf(path, sizeof(path), "%s/schema/sql/%s", srcdir ? srcdir : ".", name);
	sql = read_file(path, len);
	ck_assert_msg(sql != NULL, "cannot read %s (set srcdir)", path);
	return sql;
}

START_TEST(test_schema_matches_file)
{
	size_t len;
	char *sql = schema_file("cetbyod.sql", &len);

	ck_assert_msg(strlen(cb_store_schema()) == len && memcmp(sql, cb_store_schema(), len) == 0,
		      "the schema embedded in lib/store/store.c differs from schema/sql/cetbyod.sql");
	free(sql);
}
END_TEST

START_TEST(test_open_creates)
{
	cb_store_t *s;
	struct stat st;
	sqlite3 *db;
	sqlite3_stmt *q;

	ck_assert_ptr_nonnull(strstr(open_fails(false), "no store at"));
	ck_assert_int_ne(access(dbpath, F_OK), 0);	/* Not created. */

	s = open_store(true);
	ck_assert_int_eq(stat(dbpath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(cb_store_status_put(s, "a", "b", T0), 0);

	/* WAL, version and application id, seen from outside. */
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT * FROM pragma_user_version, pragma_application_id, "
					    "pragma_journal_mode", -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(q, 0), CB_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(sqlite3_column_int(q, 1), 0x43425944);
	ck_assert_str_eq((char const *) sqlite3_column_text(q, 2), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
	cb_store_close(s);

	/* A looser mode is tightened on open. */
	ck_assert_int_eq(chmod(dbpath, 0644), 0);
	s = open_store(false);
	ck_assert_int_eq(stat(dbpath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	cb_store_close(s);
	cb_store_close(NULL);
}
END_TEST

START_TEST(test_open_refuses)
{
	static char const garbage[] = "this is not a database, it is a shopping list\n";
	sqlite3 *db;
	size_t len;
	char *after;
	char bad[600];

	/* Not a database at all. */
	write_file(dbpath, garbage, sizeof(garbage) - 1);
	ck_assert_ptr_nonnull(strstr(open_fails(true), "not a database"));
	after = read_file(dbpath, &len);
	ck_assert_uint_eq(len, sizeof(garbage) - 1);
	ck_assert_mem_eq(after, garbage, len);
	free(after);
	unlink(dbpath);

	/* Someone else's SQLite database. */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE grades (pupil TEXT); INSERT INTO grades VALUES ('x')",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_nonnull(strstr(open_fails(true), "not a cetbyod store"));
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "SELECT pupil FROM grades", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	unlink(dbpath);

	/* A store from a newer cetbyod. */
	cb_store_close(open_store(true));
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_nonnull(strstr(open_fails(false), "newer cetbyod"));

	/* A directory where the file should be; a missing state directory. */
	unlink(dbpath);
	ck_assert_int_eq(mkdir(dbpath, 0700), 0);
	ck_assert_ptr_nonnull(strstr(open_fails(true), "not a regular file"));
	rmdir(dbpath);
	snprintf(bad, sizeof(bad), "%s/missing/cetbyod.db", tmpdir);
	{
		cb_store_conf_t conf = { .path = bad, .create = true };
		char err[512];

		ck_assert_ptr_null(cb_store_open(&conf, err, sizeof(err)));
		ck_assert_ptr_nonnull(strstr(err, "does not exist"));
	}
}
END_TEST

/*
 *	Pure helpers
 */
START_TEST(test_class_ids)
{
	char a[CB_CLASS_ID_LEN + 1], b[CB_CLASS_ID_LEN + 1], attr[64], parsed[CB_CLASS_ID_LEN + 1];

	ck_assert_int_eq(cb_store_new_class_id(a), 0);
	ck_assert_int_eq(cb_store_new_class_id(b), 0);
	ck_assert_uint_eq(strlen(a), CB_CLASS_ID_LEN);
	ck_assert_str_ne(a, b);
	ck_assert(cb_store_class_format(a, attr, sizeof(attr)));
	ck_assert_uint_eq(strlen(attr), CB_CLASS_ATTR_LEN);
	ck_assert(strncmp(attr, "cetbyod:", 8) == 0);
	ck_assert(cb_store_class_parse(attr, strlen(attr), parsed));
	ck_assert_str_eq(parsed, a);
	ck_assert(!cb_store_class_format(a, attr, CB_CLASS_ATTR_LEN));	/* No room for the NUL. */
	ck_assert(!cb_store_class_format("xyz", attr, sizeof(attr)));

	ck_assert(cb_store_class_parse("cetbyod:0123456789ABCDEF0123456789abcdef", 40, parsed));
	ck_assert_str_eq(parsed, "0123456789abcdef0123456789abcdef");
	ck_assert(!cb_store_class_parse("cetbyod:0123456789abcdef0123456789abcde", 39, parsed));
	ck_assert_str_eq(parsed, "");
	ck_assert(!cb_store_class_parse("cetbyod:0123456789abcdef0123456789abcdeg", 40, parsed));
	ck_assert(!cb_store_class_parse("other:00123456789abcdef0123456789abcdef", 40, parsed));
	ck_assert(!cb_store_class_parse("cetbyod:0123456789abcdef\0" "123456789abcdef", 40, parsed));
	ck_assert(!cb_store_class_parse(NULL, 0, parsed));
}
END_TEST

START_TEST(test_called_station)
{
	char ap[CB_STORE_TEXT_MAX + 1], ssid[CB_STORE_TEXT_MAX + 1];

	ck_assert(cb_store_split_called_station("00-11-22-aa-bb-cc:Staff WiFi", ap, ssid));
	ck_assert_str_eq(ap, "00-11-22-AA-BB-CC");
	ck_assert_str_eq(ssid, "Staff WiFi");
	ck_assert(cb_store_split_called_station("00:11:22:AA:BB:CC:Staff:Two", ap, ssid));
	ck_assert_str_eq(ap, "00-11-22-AA-BB-CC");
	ck_assert_str_eq(ssid, "Staff:Two");
	ck_assert(cb_store_split_called_station("001122aabbcc:eduroam", ap, ssid));
	ck_assert_str_eq(ap, "00-11-22-AA-BB-CC");
	ck_assert_str_eq(ssid, "eduroam");
	ck_assert(cb_store_split_called_station("0011.22aa.bbcc:x", ap, ssid));
	ck_assert_str_eq(ap, "00-11-22-AA-BB-CC");
	ck_assert_str_eq(ssid, "x");
	ck_assert(cb_store_split_called_station("00-11-22-AA-BB-CC", ap, ssid));
	ck_assert_str_eq(ap, "00-11-22-AA-BB-CC");
	ck_assert_str_eq(ssid, "");
	ck_assert(!cb_store_split_called_station("00-11-22-AA-BB", ap, ssid));
	ck_assert_str_eq(ap, "");
	ck_assert(!cb_store_split_called_station("00-11:22-AA-BB-CC:x", ap, ssid));
	ck_assert(!cb_store_split_called_station("00112233445566", ap, ssid));
	ck_assert(!cb_store_split_called_station("StaffWiFi", ap, ssid));
	ck_assert(!cb_store_split_called_station("a", ap, ssid));
	ck_assert(!cb_store_split_called_station("", ap, ssid));
	ck_assert(!cb_store_split_called_station(NULL, ap, ssid));
}
END_TEST

START_TEST(test_text_valid)
{
	char big[300];

	ck_assert(cb_store_text_valid("left the school", CB_STORE_REASON_MAX));
	ck_assert(cb_store_text_valid("zoë's phone", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid(NULL, CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("a\nb", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("a\x1b[31mb", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("a\x7f", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("a\xc2\x85", CB_STORE_REASON_MAX));	/* C1 NEL */
	ck_assert(!cb_store_text_valid("a\xff", CB_STORE_REASON_MAX));
	ck_assert(!cb_store_text_valid("a\xc0\xaf", CB_STORE_REASON_MAX));	/* Overlong. */
	ck_assert(!cb_store_text_valid("a\xed\xa0\x80", CB_STORE_REASON_MAX));	/* Surrogate. */
	ck_assert(!cb_store_text_valid("zo\xc3", CB_STORE_REASON_MAX));	/* Truncated. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert(!cb_store_text_valid(big, CB_STORE_REASON_MAX));
	big[CB_STORE_REASON_MAX] = '\0';
	ck_assert(cb_store_text_valid(big, CB_STORE_REASON_MAX));
	ck_assert_uint_eq(cb_store_octets(7, 5), ((uint64_t) 5 << 32) + 7);
	ck_assert_uint_eq(cb_store_octets(UINT32_MAX, UINT32_MAX), UINT64_MAX);
}
END_TEST

START_TEST(test_names)
{
	int i;

	for (i = 0; i < CB_CMD_MAX; i++) ck_assert_int_eq(cb_cmd_from_name(cb_cmd_name((cb_cmd_t) i)), i);
	ck_assert_int_eq(cb_cmd_from_name("reboot"), -1);
	ck_assert_int_eq(cb_cmd_from_name(NULL), -1);
	ck_assert_str_eq(cb_cmd_name(CB_CMD_ACCEPT_MASS_REMOVAL), "accept-mass-removal");
	ck_assert_str_eq(cb_disc_kind_name(CB_DISC_COA), "coa");
	ck_assert_str_eq(cb_disc_state_name(CB_DISC_CANCELLED), "cancelled");
	ck_assert_str_eq(cb_disc_result_name(CB_DISC_TIMEOUT), "timeout");
	ck_assert_str_eq(cb_disc_result_name(CB_DISC_NONE), "");
}
END_TEST

/*
 *	Decisions
 */
START_TEST(test_decisions)
{
	cb_store_t *s = open_store(true);
	char id[CB_CLASS_ID_LEN + 1], other[CB_CLASS_ID_LEN + 1];
	cb_store_decision_t d;

	put_decision(s, "alice", "admit", T0 + 86400, id);
	ck_assert_int_eq(cb_store_decision_get(s, id, &d), 0);
	ck_assert_str_eq(d.identity, "alice");
	ck_assert_str_eq(d.outer_identity, "anonymous@school.example");
	ck_assert_str_eq(d.status, "admit");
	ck_assert_str_eq(d.reason, "acknowledged");
	ck_assert_int_eq(d.decided_at, T0);
	ck_assert_int_eq(d.valid_until, T0 + 86400);
	ck_assert_int_eq(d.ack_time, T0 - 86400);
	ck_assert_str_eq(d.policy_version, "2026-1");
	ck_assert_str_eq(d.nas, "10.0.0.2");
	ck_assert_str_eq(d.calling_station, "02-00-00-00-00-01");
	ck_assert_str_eq(d.role, "staff");

	/* The role a decision was made under (roles { governors }) is kept; a bad one is refused. */
	put_decision(s, "gwen", "admit", T0 + 86400, other);
	ck_assert_int_eq(cb_store_decision_get(s, other, &d), 0);
	ck_assert_str_eq(d.role, "governors");
	ck_assert_int_eq(cb_store_new_class_id(d.class_id), 0);
	snprintf(d.role, sizeof(d.role), "Governors; DROP");
	ck_assert_int_eq(cb_store_decision_put(s, &d), -1);

	/* The same class id twice is an error; the first stays. */
	ck_assert_int_eq(cb_store_decision_get(s, id, &d), 0);
	ck_assert_int_eq(cb_store_decision_put(s, &d), -1);
	ck_assert_msg(strstr(last_log, pg_conninfo ? "unique constraint" : "UNIQUE"), "%s", last_log);
	ck_assert_int_eq(cb_store_new_class_id(other), 0);
	ck_assert_int_eq(cb_store_decision_get(s, other, &d), 1);
	ck_assert_int_eq(cb_store_decision_get(s, "nope", &d), -1);

	/* Bad input never reaches the database. */
	ck_assert_int_eq(cb_store_decision_get(s, id, &d), 0);
	memcpy(d.class_id, other, sizeof(other));
	memcpy(d.status, "maybe", 6);
	ck_assert_int_eq(cb_store_decision_put(s, &d), -1);
	ck_assert_ptr_nonnull(strstr(last_log, "unknown status"));
	memcpy(d.status, "admit", 6);
	memcpy(d.reason, "because", 8);
	ck_assert_int_eq(cb_store_decision_put(s, &d), -1);
	memcpy(d.reason, "acknowledged", 13);
	memcpy(d.identity, "al\nice", 7);
	ck_assert_int_eq(cb_store_decision_put(s, &d), -1);
	ck_assert_int_eq(cb_store_decision_get(s, other, &d), 1);
	cb_store_close(s);
}
END_TEST

/*
 *	Sessions
 */
START_TEST(test_session_lifecycle)
{
	cb_store_t *s = open_store(true);
	char id[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	cb_store_session_t ses;
	cb_store_sessions_t list;
	uint64_t big_in = cb_store_octets(123, 5), big_out = cb_store_octets(UINT32_MAX, UINT32_MAX);

	put_decision(s, "alice", "admit", T0 + 3600, id);

	/* Start: identity and status come from the decision named by Class. */
	a = mk_acct("10.0.0.2", "5F3A0001", id, T0 + 10);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "5F3A0001", &ses), 0);
	ck_assert_str_eq(ses.identity, "alice");
	ck_assert_str_eq(ses.outer_identity, "anonymous@school.example");
	ck_assert_str_eq(ses.status, "admit");
	ck_assert_str_eq(ses.class_id, id);
	ck_assert_str_eq(ses.ap, "02-00-00-00-00-AA");
	ck_assert_str_eq(ses.ssid, "StaffWiFi");
	ck_assert_str_eq(ses.nas_ip, "10.0.0.2");
	ck_assert_int_eq(ses.valid_until, T0 + 3600);
	ck_assert_int_eq(ses.started, T0 + 10);
	ck_assert_int_eq(ses.last_seen, T0 + 10);
	ck_assert_int_eq(ses.stopped, 0);
	ck_assert_str_eq(ses.framed_ip, "");

	/* A repeated Start refreshes; it does not open a second session. */
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);

	/* Interim: address, 64-bit counters, last_seen. */
	a = mk_acct("10.0.0.2", "5F3A0001", id, T0 + 310);
	a.framed_ip = "10.20.30.40";
	a.has_octets = true;
	a.in_octets = big_in;
	a.out_octets = big_out;
	ck_assert_int_eq(cb_store_session_update(s, &a), 0);
	ck_assert_int_eq(cb_store_active_for_user(s, "alice", &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].framed_ip, "10.20.30.40");
	ck_assert_uint_eq(list.items[0].in_octets, big_in);
	ck_assert_uint_eq(list.items[0].out_octets, UINT64_MAX);
	ck_assert_int_eq(list.items[0].last_seen, T0 + 310);
	cb_store_sessions_free(&list);
	ck_assert_ptr_null(list.items);

	/* An interim without counters keeps them; an older event does not move last_seen back. */
	a = mk_acct("10.0.0.2", "5F3A0001", NULL, T0 + 200);
	ck_assert_int_eq(cb_store_session_update(s, &a), 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "5F3A0001", &ses), 0);
	ck_assert_uint_eq(ses.in_octets, big_in);
	ck_assert_int_eq(ses.last_seen, T0 + 310);
	ck_assert_str_eq(ses.identity, "alice");

	/* Stop. */
	a = mk_acct("10.0.0.2", "5F3A0001", id, T0 + 600);
	a.stop_cause = "User-Request";
	a.has_octets = true;
	a.in_octets = big_in + 1;
	a.out_octets = 42;
	ck_assert_int_eq(cb_store_session_stop(s, &a), 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "5F3A0001", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 600);
	ck_assert_str_eq(ses.stop_cause, "User-Request");
	ck_assert_uint_eq(ses.in_octets, big_in + 1);
	ck_assert_uint_eq(ses.out_octets, 42);
	ck_assert_int_eq(cb_store_active_for_user(s, "alice", &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_sessions_free(&list);

	/* A repeated Stop changes nothing. */
	a.stop_cause = "Lost-Carrier";
	a.event_time = T0 + 700;
	ck_assert_int_eq(cb_store_session_stop(s, &a), 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "5F3A0001", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 600);
	ck_assert_str_eq(ses.stop_cause, "User-Request");

	/* The NAS reuses the Acct-Session-Id: a new session with the same key. */
	a = mk_acct("10.0.0.2", "5F3A0001", id, T0 + 1000);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "5F3A0001", &ses), 0);
	ck_assert_int_eq(ses.stopped, 0);
	ck_assert_int_eq(ses.started, T0 + 1000);

	/* Unknown sessions: an interim opens one (1), a Stop records a closed one (1). */
	a = mk_acct("10.0.0.3", "LOST", NULL, T0 + 50);
	a.identity = "bob";
	a.started = T0 + 5;
	ck_assert_int_eq(cb_store_session_update(s, &a), 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.3", "LOST", &ses), 0);
	ck_assert_int_eq(ses.started, T0 + 5);
	ck_assert_str_eq(ses.identity, "bob");
	ck_assert_str_eq(ses.status, "");
	a = mk_acct("10.0.0.3", "NOSTART", NULL, T0 + 50);
	a.stop_cause = "Idle-Timeout";
	ck_assert_int_eq(cb_store_session_stop(s, &a), 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.3", "NOSTART", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 50);
	ck_assert_str_eq(ses.identity, "");
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.3", "NEVER", &ses), 1);

	/* Bad requests are refused with a reason. */
	a = mk_acct("", "X", NULL, T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), -1);
	ck_assert_ptr_nonnull(strstr(last_log, "required"));
	a = mk_acct("10.0.0.2", "X", "not-a-class", T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), -1);
	a = mk_acct("10.0.0.2", "X", NULL, T0);
	a.framed_ip = "1234567890123456789012345678901234567890123456";
	ck_assert_int_eq(cb_store_session_start(s, &a), -1);
	a.framed_ip = NULL;
	a.identity = "bad\x01";
	ck_assert_int_eq(cb_store_session_update(s, &a), -1);
	ck_assert_int_eq(cb_store_session_stop(s, NULL), -1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "X", &ses), 1);
	cb_store_close(s);
}
END_TEST

START_TEST(test_unknown_class)
{
	cb_store_t *s = open_store(true);
	char id[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	cb_store_session_t ses;

	/* A Class of ours whose decision this store never saw: kept, identity unknown. */
	ck_assert_int_eq(cb_store_new_class_id(id), 0);
	a = mk_acct("nas-east", "1", id, T0);
	a.nas_ip = NULL;
	a.nas_identifier = "nas-east";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_session_get(s, "nas-east", "1", &ses), 0);
	ck_assert_str_eq(ses.class_id, id);
	ck_assert_str_eq(ses.identity, "");
	ck_assert_str_eq(ses.nas_identifier, "nas-east");
	ck_assert_int_eq(ses.valid_until, 0);
	cb_store_close(s);
}
END_TEST

/* A keyed Class's decision (cb_store_acct_t.decision): recorded once with the session, read back in .result. */
START_TEST(test_keyed_decision)
{
	cb_store_t *s = open_store(true);
	cb_store_decision_t dec, got;
	cb_store_acct_t a;
	cb_store_session_t ses, *res = calloc(1, sizeof(*res));
	cb_store_sessions_t list;
	cb_store_filter_t expired = { .expired_by = T0 + 7200 };
	char cid[CB_CLASS_ID_LEN + 1];

	ck_assert_ptr_nonnull(res);
	memset(&dec, 0, sizeof(dec));
	ck_assert_int_eq(cb_store_new_class_id(dec.class_id), 0);
	snprintf(dec.identity, sizeof(dec.identity), "alice");
	snprintf(dec.status, sizeof(dec.status), "admit");
	snprintf(dec.reason, sizeof(dec.reason), "acknowledged");
	snprintf(dec.role, sizeof(dec.role), "governors");
	snprintf(dec.ack_email, sizeof(dec.ack_email), "alice@school.example");
	dec.decided_at = T0;
	dec.valid_until = T0 + 3600;
	memcpy(cid, dec.class_id, sizeof(cid));
	a = mk_acct("10.0.0.2", "K1", cid, T0 + 10);
	a.decision = &dec;
	a.result = res;
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_str_eq(res->identity, "alice");	/* Read back under the same lock. */
	ck_assert_str_eq(res->status, "admit");
	ck_assert_int_eq(res->started, T0 + 10);
	ck_assert_int_eq(cb_store_decision_get(s, dec.class_id, &got), 0);
	ck_assert_str_eq(got.role, "governors");
	ck_assert_str_eq(got.ack_email, "alice@school.example");
	/* The enforcer finds it by the decision's expiry, as for a decision put at post-auth. */
	ck_assert_int_eq(cb_store_sessions_active(s, &expired, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_int_eq(list.items[0].valid_until, T0 + 3600);
	cb_store_sessions_free(&list);
	/* A repeated Start and the Stop change nothing of the decision. */
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a.event_time = T0 + 60;
	ck_assert_int_eq(cb_store_session_stop(s, &a), 0);
	ck_assert_int_eq(res->stopped, T0 + 60);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "K1", &ses), 0);
	ck_assert_str_eq(ses.identity, "alice");
	/* A decision that is not the Class's, or not valid, is refused. */
	a.acct_session_id = "K2";
	ck_assert_int_eq(cb_store_new_class_id(dec.class_id), 0);
	ck_assert_int_eq(cb_store_session_start(s, &a), -1);
	memcpy(dec.class_id, cid, sizeof(dec.class_id));
	snprintf(dec.status, sizeof(dec.status), "maybe");
	ck_assert_int_eq(cb_store_session_start(s, &a), -1);
	free(res);
	cb_store_close(s);
}
END_TEST

START_TEST(test_nas_reboot)
{
	cb_store_t *s = open_store(true);
	char id[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	cb_store_session_t ses;
	cb_store_sessions_t list;
	size_t closed = 99;
	char sid[16];
	int i;

	put_decision(s, "alice", "admit", 0, id);
	for (i = 0; i < 3; i++) {
		snprintf(sid, sizeof(sid), "A%d", i);
		a = mk_acct("10.0.0.2", sid, id, T0 + i);
		ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	}
	a = mk_acct("10.0.0.9", "B0", id, T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);

	/* Accounting-On from 10.0.0.2 closes its three sessions only. */
	ck_assert_int_eq(cb_store_nas_reboot(s, "10.0.0.2", NULL, T0 + 100, &closed, NULL), 0);
	ck_assert_uint_eq(closed, 3);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "A1", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 100);
	ck_assert_str_eq(ses.stop_cause, "NAS-Reboot");
	ck_assert_int_eq(cb_store_sessions_active(s, NULL, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].nas, "10.0.0.9");
	cb_store_sessions_free(&list);

	/* Again: nothing open; Accounting-Off with its own cause. */
	ck_assert_int_eq(cb_store_nas_reboot(s, "10.0.0.2", NULL, T0 + 200, &closed, NULL), 1);
	ck_assert_uint_eq(closed, 0);
	ck_assert_int_eq(cb_store_nas_reboot(s, "10.0.0.9", "Accounting-Off", T0 + 200, NULL, NULL), 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.9", "B0", &ses), 0);
	ck_assert_str_eq(ses.stop_cause, "Accounting-Off");
	ck_assert_int_eq(cb_store_nas_reboot(s, "", NULL, T0, NULL, NULL), -1);
	ck_assert_int_eq(cb_store_nas_reboot(s, "10.0.0.9", "bad\ncause", T0, NULL, NULL), -1);
	cb_store_close(s);
}
END_TEST

/** same_row - a->result, filled by the write itself, is the row cb_store_session_get reads after it. */
static void same_row(cb_store_t *s, cb_store_acct_t const *a)
{
	cb_store_session_t const *r = a->result;
	cb_store_session_t *g = calloc(1, sizeof(*g));

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(cb_store_session_get(s, a->nas, a->acct_session_id, g), 0);
	ck_assert_int_eq(r->id, g->id);
	ck_assert_str_eq(r->nas, g->nas);
	ck_assert_str_eq(r->acct_session_id, g->acct_session_id);
	ck_assert_str_eq(r->class_id, g->class_id);
	ck_assert_str_eq(r->identity, g->identity);
	ck_assert_str_eq(r->outer_identity, g->outer_identity);
	ck_assert_str_eq(r->calling_station, g->calling_station);
	ck_assert_str_eq(r->called_station, g->called_station);
	ck_assert_str_eq(r->ap, g->ap);
	ck_assert_str_eq(r->ssid, g->ssid);
	ck_assert_str_eq(r->framed_ip, g->framed_ip);
	ck_assert_str_eq(r->nas_ip, g->nas_ip);
	ck_assert_str_eq(r->nas_identifier, g->nas_identifier);
	ck_assert_str_eq(r->status, g->status);
	ck_assert_int_eq(r->valid_until, g->valid_until);
	ck_assert_int_eq(r->started, g->started);
	ck_assert_int_eq(r->last_seen, g->last_seen);
	ck_assert_int_eq(r->stopped, g->stopped);
	ck_assert_str_eq(r->stop_cause, g->stop_cause);
	ck_assert_uint_eq(r->in_octets, g->in_octets);
	ck_assert_uint_eq(r->out_octets, g->out_octets);
	free(g);
}

/** result_write - op (0 Start, 1 Interim, 2 Stop) with a fresh a->result; rc must be want; then same_row. */
static void result_write(cb_store_t *s, cb_store_acct_t *a, int op, int want)
{
	cb_store_session_t *r = malloc(sizeof(*r));

	ck_assert_ptr_nonnull(r);
	memset(r, 0x5a, sizeof(*r));	/* Nothing left from before may pass for the answer. */
	a->result = r;
	ck_assert_int_eq(op == 0 ? cb_store_session_start(s, a) : op == 1 ? cb_store_session_update(s, a) :
			 cb_store_session_stop(s, a), want);
	same_row(s, a);
	a->result = NULL;
	free(r);
}

/*
 * Each write returns its row (RETURNING, no read-back): the answer of every
 * path (new, repeated Start, Interim with and without a Class, Stop,
 * repeated Stop, reused key, unknown session, stale reopened) is the row as
 * read afterwards, its decision's expiry included; alone and grouped.
 */
START_TEST(test_session_result)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_t *s;
	cb_store_acct_t a;
	size_t closed;
	char err[256], id[CB_CLASS_ID_LEN + 1], id2[CB_CLASS_ID_LEN + 1];

	conf.group_commit = _i == 1;
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	put_decision(s, "alice", "admit", T0 + 3600, id);
	put_decision(s, "bob", "admit", T0 + 7200, id2);
	a = mk_acct("10.0.0.2", "R1", id, T0 + 10);
	result_write(s, &a, 0, 0);
	result_write(s, &a, 0, 0);				/* Repeated Start. */
	a = mk_acct("10.0.0.2", "R1", NULL, T0 + 20);		/* No Class: the row keeps its own. */
	a.framed_ip = "10.20.30.40";
	a.has_octets = true;
	a.in_octets = 7;
	result_write(s, &a, 1, 0);
	a = mk_acct("10.0.0.2", "R1", id2, T0 + 30);		/* Another Class: the row takes it. */
	a.stop_cause = "User-Request";
	result_write(s, &a, 2, 0);
	a = mk_acct("10.0.0.2", "R1", NULL, T0 + 40);		/* Repeated Stop: the closed row. */
	result_write(s, &a, 2, 1);
	a = mk_acct("10.0.0.2", "R1", id, T0 + 50);		/* Reused key: a new row. */
	result_write(s, &a, 0, 0);
	a = mk_acct("10.0.0.3", "U1", NULL, T0 + 60);		/* Unknown: an Interim opens, a Stop closes. */
	a.identity = "carol";
	result_write(s, &a, 1, 1);
	a = mk_acct("10.0.0.3", "U2", id, T0 + 60);
	result_write(s, &a, 2, 1);
	a = mk_acct("10.0.0.3", "S1", id2, T0 + 100);		/* Closed as stale, then reopened. */
	result_write(s, &a, 0, 0);
	ck_assert_int_eq(cb_store_close_stale(s, 1800, T0 + 4000, &closed, NULL), 0);
	a.event_time = T0 + 4100;
	result_write(s, &a, 1, 1);
	cb_store_close(s);
}
END_TEST

/** keyed - a keyed Class's decision for identity, not in the store (as the module's Accept leaves it). */
static void keyed(cb_store_decision_t *d, char const *identity)
{
	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(cb_store_new_class_id(d->class_id), 0);
	snprintf(d->identity, sizeof(d->identity), "%s", identity);
	snprintf(d->status, sizeof(d->status), "admit");
	snprintf(d->reason, sizeof(d->reason), "acknowledged");
	d->decided_at = T0;
	d->valid_until = T0 + 3600;
}

/** keyed_write - op (0 Start, 1 Interim, 2 Stop) of sid with d's keyed Class at t; then d is in the store. */
static void keyed_write(cb_store_t *s, char const *sid, cb_store_decision_t const *d, int op, time_t t, int want)
{
	cb_store_acct_t a = mk_acct("10.0.0.2", sid, d->class_id, t);
	cb_store_decision_t got;

	a.decision = d;
	result_write(s, &a, op, want);
	ck_assert_int_eq(cb_store_decision_get(s, d->class_id, &got), 0);
	ck_assert_str_eq(got.identity, d->identity);
}

/*
 * A keyed Class's decision is recorded by the write that first names it on
 * a session; an Interim or a Stop of an open session that names it already
 * skips the insert (acct.c).  Every other order still records it: a Stop
 * or an Interim without its Start, a Class that changes during the session,
 * a session closed as stale whose decision purge then removed; alone and
 * through the group commit.
 */
START_TEST(test_keyed_decision_order)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_decision_t d1, d2, d3, d4, got;
	cb_store_acct_t a;
	cb_store_session_t ses;
	cb_store_t *s;
	size_t n;
	char err[256];

	conf.group_commit = _i == 1;
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	keyed(&d1, "alice");
	keyed(&d2, "bob");
	keyed(&d3, "carol");
	keyed(&d4, "dave");
	keyed_write(s, "O1", &d1, 2, T0 + 10, 1);			/* A Stop, its Start lost. */
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "O1", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 10);
	ck_assert_str_eq(ses.identity, "alice");
	keyed_write(s, "O1", &d1, 2, T0 + 10, 1);			/* Retransmitted: nothing written. */
	keyed_write(s, "O2", &d2, 1, T0 + 20, 1);			/* An Interim opens it. */
	keyed_write(s, "O2", &d2, 1, T0 + 30, 0);			/* The next updates it (no insert). */
	keyed_write(s, "O2", &d2, 2, T0 + 40, 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "O2", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0 + 40);
	keyed_write(s, "O2", &d2, 2, T0 + 40, 1);			/* Repeated: nothing written. */
	/* No Class on the Start, then a keyed one; then another keyed Class. */
	a = mk_acct("10.0.0.2", "O3", NULL, T0 + 50);
	a.identity = "carol";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	keyed_write(s, "O3", &d3, 1, T0 + 60, 0);
	keyed_write(s, "O3", &d4, 1, T0 + 70, 0);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "O3", &ses), 0);
	ck_assert_str_eq(ses.class_id, d4.class_id);
	ck_assert_str_eq(ses.identity, "dave");
	ck_assert_int_eq(ses.valid_until, T0 + 3600);
	/* Closed as stale, its decision purged; the next Interim reopens it and records the decision again. */
	ck_assert_int_eq(cb_store_close_stale(s, 1800, T0 + 4000, &n, NULL), 0);
	ck_assert_int_eq(cb_store_purge(s, T0 + 5000, &n), 0);
	ck_assert_int_eq(cb_store_decision_get(s, d4.class_id, &got), 1);
	keyed_write(s, "O3", &d4, 1, T0 + 4100, 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "O3", &ses), 0);
	ck_assert_int_eq(ses.stopped, 0);
	ck_assert_int_eq(ses.valid_until, T0 + 3600);
	cb_store_close(s);
}
END_TEST

START_TEST(test_stale)
{
	cb_store_t *s = open_store(true);
	cb_store_acct_t a;
	cb_store_session_t ses;
	size_t closed;
	int64_t first_id;

	a = mk_acct("10.0.0.2", "OLD", NULL, T0);
	a.identity = "alice";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a = mk_acct("10.0.0.2", "NEW", NULL, T0 + 3000);
	a.identity = "bob";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);

	/* At T0 + 3600 with a limit of 1800 s, OLD is stale (last seen T0), NEW is not. */
	ck_assert_int_eq(cb_store_close_stale(s, 1800, T0 + 3600, &closed, NULL), 0);
	ck_assert_uint_eq(closed, 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "OLD", &ses), 0);
	ck_assert_int_eq(ses.stopped, T0);
	ck_assert_str_eq(ses.stop_cause, "Stale");
	first_id = ses.id;
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "NEW", &ses), 0);
	ck_assert_int_eq(ses.stopped, 0);
	ck_assert_int_eq(cb_store_close_stale(s, 1800, T0 + 3600, &closed, NULL), 1);
	ck_assert_int_eq(cb_store_close_stale(s, 0, T0, &closed, NULL), -1);

	/* The session was alive after all: an interim reopens the same row. */
	a = mk_acct("10.0.0.2", "OLD", NULL, T0 + 3700);
	ck_assert_int_eq(cb_store_session_update(s, &a), 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "OLD", &ses), 0);
	ck_assert_int_eq(ses.id, first_id);
	ck_assert_int_eq(ses.stopped, 0);
	ck_assert_str_eq(ses.stop_cause, "");
	ck_assert_str_eq(ses.identity, "alice");

	/* A real Stop after a stale close records the real end. */
	ck_assert_int_eq(cb_store_close_stale(s, 60, T0 + 9000, &closed, NULL), 0);
	a = mk_acct("10.0.0.2", "OLD", NULL, T0 + 9100);
	a.stop_cause = "Lost-Carrier";
	ck_assert_int_eq(cb_store_session_stop(s, &a), 1);
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "OLD", &ses), 0);
	ck_assert_int_eq(ses.id, first_id);
	ck_assert_int_eq(ses.stopped, T0 + 9100);
	ck_assert_str_eq(ses.stop_cause, "Lost-Carrier");
	cb_store_close(s);
}
END_TEST

START_TEST(test_active_filters)
{
	cb_store_t *s = open_store(true);
	char alice[CB_CLASS_ID_LEN + 1], bob[CB_CLASS_ID_LEN + 1], carol[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	cb_store_sessions_t list;
	cb_store_filter_t f;

	put_decision(s, "alice", "admit", T0 + 100, alice);
	put_decision(s, "bob", "onboard", T0 + 900, bob);
	put_decision(s, "carol", "admit", 0, carol);
	a = mk_acct("10.0.0.2", "a1", alice, T0 + 1);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a = mk_acct("10.0.0.2", "a2", alice, T0 + 2);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a = mk_acct("10.0.0.2", "b1", bob, T0 + 3);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a = mk_acct("10.0.0.2", "c1", carol, T0 + 4);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);

	ck_assert_int_eq(cb_store_sessions_active(s, NULL, &list), 0);
	ck_assert_uint_eq(list.count, 4);
	ck_assert_str_eq(list.items[0].acct_session_id, "a1");	/* Oldest first. */
	ck_assert_str_eq(list.items[3].acct_session_id, "c1");
	cb_store_sessions_free(&list);

	memset(&f, 0, sizeof(f));
	f.status = "onboard";
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].identity, "bob");
	cb_store_sessions_free(&list);

	/* Expired by T0 + 500: alice's two (valid until T0 + 100); carol never lapses. */
	memset(&f, 0, sizeof(f));
	f.expired_by = T0 + 500;
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[0].identity, "alice");
	ck_assert_str_eq(list.items[1].identity, "alice");
	cb_store_sessions_free(&list);
	f.expired_by = T0 + 900;
	f.limit = 2;
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	cb_store_sessions_free(&list);

	/* Revoked people. */
	memset(&f, 0, sizeof(f));
	f.revoked = true;
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_sessions_free(&list);
	ck_assert_int_eq(cb_store_revoke(s, "carol", "left the school", "it-admin", T0), 0);
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].identity, "carol");
	cb_store_sessions_free(&list);

	ck_assert_int_eq(cb_store_active_for_user(s, "alice", &list), 0);
	ck_assert_uint_eq(list.count, 2);
	cb_store_sessions_free(&list);
	ck_assert_int_eq(cb_store_active_for_user(s, "nobody", &list), 0);
	ck_assert_uint_eq(list.count, 0);
	ck_assert_int_eq(cb_store_active_for_user(s, "", &list), -1);
	ck_assert_uint_eq(list.count, 0);
	f.status = "maybe";
	ck_assert_int_eq(cb_store_sessions_active(s, &f, &list), -1);
	ck_assert_int_eq(cb_store_sessions_active(s, NULL, NULL), -1);
	cb_store_sessions_free(NULL);
	cb_store_close(s);
}
END_TEST

/*
 *	Revocations
 */
START_TEST(test_revocations)
{
	cb_store_t *s = open_store(true);
	cb_store_revocation_t r;
	cb_store_revocations_t list;
	cb_store_commands_t cmds;

	ck_assert_int_eq(cb_store_is_revoked(s, "alice", &r), 0);
	ck_assert_int_eq(cb_store_revoke(s, "alice", "device lost", "it-admin", T0), 0);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", &r), 1);
	ck_assert_str_eq(r.identity, "alice");
	ck_assert_str_eq(r.reason, "device lost");
	ck_assert_str_eq(r.by, "it-admin");
	ck_assert_int_eq(r.revoked_at, T0);
	ck_assert_int_eq(r.reinstated_at, 0);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", NULL), 1);
	ck_assert_int_eq(cb_store_is_revoked(s, "Alice", NULL), 0);	/* Byte for byte. */

	/* The running module is told in the same transaction. */
	ck_assert_int_eq(cb_store_commands_take(s, &cmds), 0);
	ck_assert_uint_eq(cmds.count, 1);
	ck_assert_int_eq(cmds.items[0].cmd, CB_CMD_ENFORCE);
	ck_assert_str_eq(cmds.items[0].arg, "alice");
	ck_assert_str_eq(cmds.items[0].by, "it-admin");
	cb_store_commands_free(&cmds);

	/* Revoking again replaces reason, by and time (1). */
	ck_assert_int_eq(cb_store_revoke(s, "alice", "policy breach", "dsl", T0 + 5), 1);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", &r), 1);
	ck_assert_str_eq(r.reason, "policy breach");
	ck_assert_str_eq(r.by, "dsl");
	ck_assert_int_eq(r.revoked_at, T0 + 5);

	ck_assert_int_eq(cb_store_revoke(s, "bob", "left", "it-admin", T0 + 6), 0);
	ck_assert_int_eq(cb_store_revocations(s, false, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[0].identity, "bob");	/* Newest first. */
	cb_store_revocations_free(&list);

	/* Reinstate: history kept; a second reinstate has nothing to do. */
	ck_assert_int_eq(cb_store_reinstate(s, "alice", "it-admin", T0 + 10), 0);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", &r), 0);
	ck_assert_int_eq(cb_store_reinstate(s, "alice", "it-admin", T0 + 11), 1);
	ck_assert_int_eq(cb_store_revocations(s, false, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	cb_store_revocations_free(&list);
	ck_assert_int_eq(cb_store_revocations(s, true, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[1].identity, "alice");
	ck_assert_str_eq(list.items[1].reinstated_by, "it-admin");
	ck_assert_int_eq(list.items[1].reinstated_at, T0 + 10);
	cb_store_revocations_free(&list);

	/* Revoked again after reinstatement: a new revocation (0). */
	ck_assert_int_eq(cb_store_revoke(s, "alice", "again", "it-admin", T0 + 20), 0);

	/* Bad input. */
	ck_assert_int_eq(cb_store_revoke(s, "carol", "", "it-admin", T0), -1);
	ck_assert_int_eq(cb_store_revoke(s, "carol", "line\nbreak", "it-admin", T0), -1);
	ck_assert_ptr_nonnull(strstr(last_log, "invalid reason"));
	ck_assert_int_eq(cb_store_revoke(s, "carol", "ok", "", T0), -1);
	ck_assert_int_eq(cb_store_revoke(s, "", "ok", "it-admin", T0), -1);
	ck_assert_int_eq(cb_store_reinstate(s, "carol", NULL, T0), -1);
	ck_assert_int_eq(cb_store_is_revoked(s, "carol", NULL), 0);
	ck_assert_int_eq(cb_store_revocations(s, false, NULL), -1);
	cb_store_close(s);
}
END_TEST

/*
 *	Exceptions register, people, reminders (schema version 2)
 */
START_TEST(test_exceptions)
{
	cb_store_t *s = open_store(true);
	cb_store_exceptions_t list;
	cb_store_commands_t cmds;
	char mac[CB_STORE_MAC_MAX + 1];
	int64_t id = 0, id2 = 0;
	size_t ended = 0;

	ck_assert(cb_mac_normalise("aa:bb:cc:dd:ee:0f", mac));
	ck_assert_str_eq(mac, "AA-BB-CC-DD-EE-0F");
	ck_assert(cb_mac_normalise("aabb.ccdd.ee0f", mac));
	ck_assert_str_eq(mac, "AA-BB-CC-DD-EE-0F");
	ck_assert(cb_mac_normalise("aabbccddee0f", mac));
	ck_assert_str_eq(mac, "AA-BB-CC-DD-EE-0F");
	ck_assert(!cb_mac_normalise("aa:bb:cc:dd:ee", mac));
	ck_assert(!cb_mac_normalise("aa:bb:cc:dd:ee:0f:11", mac));
	ck_assert(!cb_mac_normalise("zzbbccddee0f", mac));

	/* Any device, then one device: two open exceptions for the person. */
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "medical monitoring", "Head of Year 9", "it-admin",
						T0 + 86400, T0, &id), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(cb_store_exception_add(s, "percy", "AA-BB-CC-DD-EE-0F", "insulin pump app", "SENCo",
						"it-admin", T0 + 2 * 86400, T0 + 1, &id2), 0);
	ck_assert_int_ne(id, id2);
	ck_assert_int_eq(cb_store_commands_take(s, &cmds), 0);	/* The module is told. */
	ck_assert_uint_eq(cmds.count, 2);
	ck_assert_int_eq(cmds.items[0].cmd, CB_CMD_ENFORCE);
	ck_assert_str_eq(cmds.items[0].arg, "percy");
	cb_store_commands_free(&cmds);

	/* Granting again for the same device replaces it (1), same id. */
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "medical monitoring (renewed)", "Head of Year 9",
						"dsl", T0 + 3 * 86400, T0 + 5, &id2), 1);
	ck_assert_int_eq(id2, id);
	ck_assert_int_eq(cb_store_exceptions(s, false, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[0].reason, "medical monitoring (renewed)");	/* Newest grant first. */
	ck_assert_str_eq(list.items[0].granted_by, "dsl");
	ck_assert_int_eq(list.items[0].until, T0 + 3 * 86400);
	ck_assert_str_eq(list.items[1].mac, "AA-BB-CC-DD-EE-0F");
	ck_assert(cb_store_exception_in_force(&list.items[1], T0 + 2 * 86400 - 1));
	ck_assert(!cb_store_exception_in_force(&list.items[1], T0 + 2 * 86400));	/* until is exclusive. */
	cb_store_exceptions_free(&list);

	/* End only the device's; then the rest; a third end has nothing to do. */
	ck_assert_int_eq(cb_store_exception_end(s, "percy", "AA-BB-CC-DD-EE-0F", "it-admin", T0 + 10, &ended), 0);
	ck_assert_uint_eq(ended, 1);
	ck_assert_int_eq(cb_store_exceptions(s, false, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].mac, "");
	cb_store_exceptions_free(&list);
	ck_assert_int_eq(cb_store_exception_end(s, "percy", NULL, "it-admin", T0 + 11, &ended), 0);
	ck_assert_int_eq(cb_store_exception_end(s, "percy", NULL, "it-admin", T0 + 12, &ended), 1);
	ck_assert_int_eq(cb_store_exceptions(s, true, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_int_eq(list.items[0].ended_at, T0 + 11);
	ck_assert_str_eq(list.items[0].ended_by, "it-admin");
	ck_assert(!cb_store_exception_in_force(&list.items[0], T0 + 11));
	cb_store_exceptions_free(&list);

	/* Purge keeps what ended after the cut-off, removes what ended before. */
	ck_assert_int_eq(cb_store_purge(s, T0 + 11, NULL), 0);		/* The device's (ended T0 + 10). */
	ck_assert_int_eq(cb_store_exceptions(s, true, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	cb_store_exceptions_free(&list);

	/* Bad input: nothing recorded. */
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "r", "a", "b", T0, T0, NULL), -1);
	ck_assert_ptr_nonnull(strstr(last_log, "not in the future"));
	ck_assert_int_eq(cb_store_exception_add(s, "percy", "aa:bb:cc:dd:ee:0f", "r", "a", "b", T0 + 9, T0, NULL), -1);
	ck_assert_ptr_nonnull(strstr(last_log, "invalid MAC"));
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "two\nlines", "a", "b", T0 + 9, T0, NULL), -1);
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "r", "", "b", T0 + 9, T0, NULL), -1);
	ck_assert_int_eq(cb_store_exception_add(s, "", NULL, "r", "a", "b", T0 + 9, T0, NULL), -1);
	ck_assert_int_eq(cb_store_exceptions(s, false, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_exceptions_free(&list);
	cb_store_close(s);
}
END_TEST

/* The rows cb_store_people_update writes: the first rows_left of the array given. */
static size_t rows_left, rows_given;

static bool next_row(void *ctx, cb_store_person_t *row)
{
	cb_store_person_t const *rows = ctx;

	if (rows_given >= rows_left) {
		rows_given = 0;
		return false;
	}
	*row = rows[rows_given++];
	return true;
}

START_TEST(test_people_reminders)
{
	cb_store_t *s = open_store(true);
	cb_store_person_t p[2];
	cb_store_people_t people;
	cb_store_reminder_t r;
	cb_store_reminders_t sent;

	memset(p, 0, sizeof(p));
	snprintf(p[0].identity, sizeof(p[0].identity), "alice");
	snprintf(p[0].email, sizeof(p[0].email), "alice@school.example");
	snprintf(p[0].role, sizeof(p[0].role), "staff");
	p[0].ack_time = T0 - 300 * 86400;
	p[0].ack_expiry = T0 + 65 * 86400;
	snprintf(p[0].status, sizeof(p[0].status), "admit");
	snprintf(p[0].reason, sizeof(p[0].reason), "acknowledged");
	p[0].refreshed_at = T0;
	p[1] = p[0];
	snprintf(p[1].identity, sizeof(p[1].identity), "percy");
	snprintf(p[1].role, sizeof(p[1].role), "pupil");
	snprintf(p[1].exception_reason, sizeof(p[1].exception_reason), "medical");
	rows_left = 2;
	ck_assert_int_eq(cb_store_people_update(s, true, NULL, 0, next_row, p), 0);
	ck_assert_int_eq(cb_store_people(s, &people), 0);
	ck_assert_uint_eq(people.count, 2);
	ck_assert_str_eq(people.items[1].exception_reason, "medical");
	ck_assert_int_eq(people.items[0].ack_expiry, T0 + 65 * 86400);
	cb_store_people_free(&people);

	/* An update: percy removed, alice rewritten, nothing else touched. */
	{
		char const *gone[] = { "percy" };

		p[0].ack_expiry = T0 + 400 * 86400;
		rows_left = 1;
		ck_assert_int_eq(cb_store_people_update(s, false, gone, 1, next_row, p), 0);
	}
	ck_assert_int_eq(cb_store_people(s, &people), 0);
	ck_assert_uint_eq(people.count, 1);
	ck_assert_int_eq(people.items[0].ack_expiry, T0 + 400 * 86400);
	cb_store_people_free(&people);

	/* A role beyond employees is a row like any other. */
	snprintf(p[1].role, sizeof(p[1].role), "governors");
	rows_left = 1;
	ck_assert_int_eq(cb_store_people_update(s, false, NULL, 0, next_row, &p[1]), 0);
	ck_assert_int_eq(cb_store_people(s, &people), 0);
	ck_assert_uint_eq(people.count, 2);
	ck_assert_str_eq(people.items[1].role, "governors");
	cb_store_people_free(&people);
	{
		char const *gone[] = { "percy" };

		rows_left = 0;
		ck_assert_int_eq(cb_store_people_update(s, false, gone, 1, next_row, p), 0);
	}

	/* A bad row refuses the whole update: nothing changed. */
	snprintf(p[1].role, sizeof(p[1].role), "Teacher!");
	rows_left = 2;
	ck_assert_int_eq(cb_store_people_update(s, true, NULL, 0, next_row, p), -1);
	ck_assert_int_eq(cb_store_people(s, &people), 0);
	ck_assert_uint_eq(people.count, 1);
	cb_store_people_free(&people);

	/* A reminder is recorded once per address, expiry and window. */
	memset(&r, 0, sizeof(r));
	snprintf(r.identity, sizeof(r.identity), "alice");
	snprintf(r.email, sizeof(r.email), "alice@school.example");
	r.ack_expiry = T0 + 65 * 86400;
	r.window_days = 30;
	r.sent_at = T0 + 36 * 86400;
	snprintf(r.result, sizeof(r.result), "sent");
	ck_assert_int_eq(cb_store_reminder_sent(s, r.email, r.ack_expiry, 30), 0);
	ck_assert_int_eq(cb_store_reminder_put(s, &r), 0);
	ck_assert_int_eq(cb_store_reminder_put(s, &r), 1);
	ck_assert_int_eq(cb_store_reminder_sent(s, r.email, r.ack_expiry, 30), 1);
	ck_assert_int_eq(cb_store_reminder_sent(s, r.email, r.ack_expiry, 7), 0);
	ck_assert_int_eq(cb_store_reminder_sent(s, r.email, r.ack_expiry + 1, 30), 0);	/* A new acknowledgement. */
	snprintf(r.result, sizeof(r.result), "maybe");
	ck_assert_int_eq(cb_store_reminder_put(s, &r), -1);
	ck_assert_int_eq(cb_store_reminders(s, 0, &sent), 0);
	ck_assert_uint_eq(sent.count, 1);
	ck_assert_str_eq(sent.items[0].result, "sent");
	cb_store_reminders_free(&sent);
	cb_store_close(s);
}
END_TEST

/*
 * defer_decisions: a put returns at once; this handle sees the decision in
 * every later call (accounting ties its session at once); another handle
 * sees it within CB_STORE_DEFER_MS; closing commits what is queued; a
 * burst larger than the queue is committed all the same.
 */
START_TEST(test_deferred_decisions)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_conf_t other_conf = store_conf(false);
	cb_store_t *s, *other;
	cb_store_decision_t got;
	cb_store_acct_t a;
	cb_store_session_t ses;
	char err[256], class_id[CB_CLASS_ID_LEN + 1];
	int found = 0;

	conf.defer_decisions = true;

	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	other = cb_store_open(&other_conf, err, sizeof(err));
	ck_assert_msg(other != NULL, "%s", err);

	put_decision(s, "alice", "admit", T0 + 3600, class_id);
	a = mk_acct("10.0.0.2", "S1", class_id, T0 + 1);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);		/* Commits the queue first. */
	ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "S1", &ses), 0);
	ck_assert_str_eq(ses.identity, "alice");

	put_decision(s, "bob", "admit", T0 + 3600, class_id);
	for (int i = 0; i < 200 && !found; i++) {			/* The writer commits it within ms. */
		found = cb_store_decision_get(other, class_id, &got) == 0;
		if (!found) usleep(5000);
	}
	ck_assert_msg(found, "another handle never saw the deferred decision");

	for (int i = 0; i < CB_STORE_DEFER_MAX + 50; i++) {		/* More than the queue holds. */
		put_decision(s, "carol", "onboard", T0 + 3600, class_id);
	}
	put_decision(s, "dave", "admit", T0 + 3600, class_id);
	cb_store_close(s);						/* Commits what is queued. */
	ck_assert_int_eq(cb_store_decision_get(other, class_id, &got), 0);
	ck_assert_str_eq(got.identity, "dave");
	cb_store_close(other);
}
END_TEST

/* A version 1 store (before the exceptions register) is migrated when opened, keeping its rows. */
START_TEST(test_migrate_v1)
{
	cb_store_t *s;
	sqlite3 *db;
	cb_store_revocation_t r;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, cb_store_schema(), NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) "
				      "VALUES ('alice', 'old', 'it', 1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store(false);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", &r), 1);
	ck_assert_int_eq(cb_store_exception_add(s, "percy", NULL, "r", "a", "b", T0 + 9, T0, NULL), 0);
	cb_store_close(s);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	{
		sqlite3_stmt *q;

		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(q, 0), CB_STORE_SCHEMA_VERSION);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
}
END_TEST

/*
 * A version 2 store (roles limited to staff, pupil and other) is migrated
 * to version 3: its people and decisions kept, decisions get a role ("",
 * read as employees) and people may hold a role's name.
 */
START_TEST(test_migrate_v2)
{
	size_t len;
	char *v2 = schema_file("cetbyod-2.sql", &len);
	cb_store_t *s;
	sqlite3 *db;
	cb_store_people_t people;
	cb_store_decision_t d;
	char const *old_class = "0123456789abcdef0123456789abcdef";

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, cb_store_schema(), NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, v2, NULL, NULL, NULL), SQLITE_OK);
	free(v2);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO people (identity, role, refreshed_at) VALUES ('alice', 'staff', 1);"
				      "INSERT INTO decisions (class_id, identity, status, reason, decided_at) VALUES "
				      "('0123456789abcdef0123456789abcdef', 'alice', 'admit', 'acknowledged', 1)",
				      NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(db, "INSERT INTO people (identity, role, refreshed_at) VALUES ('gwen', "
				      "'governors', 1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store(false);
	ck_assert_int_eq(cb_store_people(s, &people), 0);
	ck_assert_uint_eq(people.count, 1);
	ck_assert_str_eq(people.items[0].role, "staff");
	cb_store_people_free(&people);
	ck_assert_int_eq(cb_store_decision_get(s, old_class, &d), 0);
	ck_assert_str_eq(d.role, "");
	cb_store_close(s);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO people (identity, role, refreshed_at) VALUES ('gwen', "
				      "'governors', 1)", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(db, "INSERT INTO people (identity, role, refreshed_at) VALUES ('eve', "
				      "'Bad Role', 1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}
END_TEST

/** index_count - rows of sqlite_master naming index name in the store (0 or 1). */
static int index_count(char const *name)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int n;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
					    -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/*
 * A version 4 store is migrated to version 5: the index of every session
 * by class id goes, its sessions and decisions stay, and the purge of
 * decisions still keeps those of open sessions.  A new store has no such
 * index either.
 */
START_TEST(test_migrate_v4)
{
	char const *files[] = { "cetbyod-2.sql", "cetbyod-3.sql", "cetbyod-4.sql" };
	char const *open_class = "0123456789abcdef0123456789abcdef", *old_class = "fedcba9876543210fedcba9876543210";
	cb_store_decision_t d;
	cb_store_t *s;
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, cb_store_schema(), NULL, NULL, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *sql = schema_file(files[i], &len);

		ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
	}
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 4;"
				      "INSERT INTO decisions (class_id, identity, status, reason, decided_at) VALUES "
				      "('0123456789abcdef0123456789abcdef', 'alice', 'admit', 'acknowledged', 1),"
				      "('fedcba9876543210fedcba9876543210', 'bob', 'admit', 'acknowledged', 1);"
				      "INSERT INTO sessions (nas, acct_session_id, class_id, identity, started, last_seen) VALUES "
				      "('10.0.0.1', 'S1', '0123456789abcdef0123456789abcdef', 'alice', 1, 1)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(index_count("sessions_class"), 1);

	s = open_store(false);
	ck_assert_int_eq(index_count("sessions_class"), 0);
	ck_assert_int_eq(cb_store_purge(s, T0, NULL), 0);
	ck_assert_int_eq(cb_store_decision_get(s, open_class, &d), 0);		/* Its session is open. */
	ck_assert_int_eq(cb_store_decision_get(s, old_class, &d), 1);		/* Purged. */
	cb_store_close(s);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	{
		sqlite3_stmt *q;

		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version), "
						    "(SELECT count(*) FROM sessions)", -1, &q, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(q, 0), 5);
		ck_assert_int_eq(sqlite3_column_int(q, 1), 1);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);

	unlink(dbpath);
	s = open_store(true);
	cb_store_close(s);
	ck_assert_int_eq(index_count("sessions_class"), 0);
}
END_TEST

/*
 *	Disconnect queue
 */

typedef struct {
	cb_store_t	*store;
	int		rc;
	int64_t		id;
} enqueue_job_t;

static void *enqueue_alice(void *arg)
{
	enqueue_job_t *j = arg;

	j->rc = cb_store_disconnect_enqueue(j->store, "10.0.0.2", "S1", "alice", "revoked_by_admin: lost",
					    CB_DISC_DISCONNECT, false, T0 + 1, &j->id);
	return NULL;
}

/*
 * PostgreSQL, two servers queueing the same revocation's disconnect: the
 * second's look and insert wait for the first's transaction, so a row the
 * first queued and that was already answered (done) meanwhile is found,
 * not queued again (test_two_servers once saw two Disconnect-Requests).
 * The other server is a raw connection holding the session's lock while
 * it writes that answered row.
 */
START_TEST(test_queue_two_servers)
{
	cb_store_t *s = open_store(true);
	cb_store_acct_t a = mk_acct("10.0.0.2", "S1", NULL, T0);
	enqueue_job_t job = { .store = s, .rc = -2 };
	char const *admin = getenv("CB_TEST_PG_ADMIN");
	pthread_t t;
	PGconn *c;
	PGresult *r;

	a.identity = "alice";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	c = PQconnectdb(admin);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	/* The session's lock as lib/store/pg_sessions.c takes it (DISC_LOCK, PG_DISC_LOCK_CLASS in pg_int.h). */
	r = PQexec(c, "BEGIN; SELECT pg_advisory_xact_lock(1128421702, hashtext('10.0.0.2' || E'\\n' || 'S1'))");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	ck_assert_int_eq(pthread_create(&t, NULL, enqueue_alice, &job), 0);
	usleep(300000);
	ck_assert_int_eq(job.rc, -2);		/* Waiting for the other server's transaction. */
	r = PQexec(c, "INSERT INTO cetbyod.disconnects (nas, acct_session_id, identity, reason, kind, state, created_at, "
		   "updated_at, next_attempt, last_result) VALUES ('10.0.0.2', 'S1', 'alice', 'revoked_by_admin: lost', "
		   "'disconnect', 'done', 1788249600, 1788249600, 1788249600, 'acked'); COMMIT");
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	pthread_join(t, NULL);
	ck_assert_int_eq(job.rc, 1);		/* The answered one is found: nothing queued. */
	ck_assert_int_gt(job.id, 0);
	PQfinish(c);
	cb_store_close(s);
}
END_TEST

START_TEST(test_queue_retry)
{
	cb_store_t *s = open_store(true);
	cb_store_disconnects_t due;
	cb_store_acct_t a = mk_acct("10.0.0.2", "S1", NULL, T0);
	int64_t id, again;

	a.identity = "alice";
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S1", "alice", "revoked_by_admin",
						     CB_DISC_DISCONNECT, false, T0, &id), 0);
	ck_assert_int_gt(id, 0);
	/* Queued twice: the same entry (1). A CoA for the same session is another entry. */
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S1", "alice", "again",
						     CB_DISC_DISCONNECT, false, T0, &again), 1);
	ck_assert_int_eq(again, id);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S1", "alice", "promote",
						     CB_DISC_COA, false, T0 + 1, &again), 0);
	ck_assert_int_ne(again, id);

	ck_assert_int_eq(cb_store_disconnect_due(s, T0 - 1, 0, &due), 0);
	ck_assert_uint_eq(due.count, 0);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);
	ck_assert_int_eq(due.items[0].id, id);
	ck_assert_str_eq(due.items[0].identity, "alice");
	ck_assert_str_eq(due.items[0].reason, "revoked_by_admin");
	ck_assert_int_eq(due.items[0].kind, CB_DISC_DISCONNECT);
	ck_assert_int_eq(due.items[0].state, CB_DISC_PENDING);
	ck_assert_uint_eq(due.items[0].attempts, 0);
	ck_assert_int_eq(due.items[0].last_result, CB_DISC_NONE);
	cb_store_disconnects_free(&due);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 1, 1, &due), 0);
	ck_assert_uint_eq(due.count, 1);	/* The limit. */
	cb_store_disconnects_free(&due);

	/* Timeout: retried at T0 + 30. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, id, CB_DISC_TIMEOUT, 0, "no response from 10.0.0.2:3799",
						  T0 + 30, T0 + 10), 0);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 29, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);	/* Only the CoA. */
	ck_assert_int_eq(due.items[0].kind, CB_DISC_COA);
	cb_store_disconnects_free(&due);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 30, 0, &due), 0);
	ck_assert_uint_eq(due.count, 2);
	ck_assert_int_eq(due.items[1].id, id);
	ck_assert_uint_eq(due.items[1].attempts, 1);
	ck_assert_int_eq(due.items[1].last_result, CB_DISC_TIMEOUT);
	ck_assert_int_eq(due.items[1].last_attempt, T0 + 10);
	ck_assert_str_eq(due.items[1].detail, "no response from 10.0.0.2:3799");
	cb_store_disconnects_free(&due);

	/* Claimed while in flight: not due before the claim ends. */
	ck_assert_int_eq(cb_store_disconnect_claim(s, id, T0 + 45), 0);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 44, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);	/* Only the CoA. */
	cb_store_disconnects_free(&due);

	/* NAK with Error-Cause 506 (Resources Unavailable), then ACK: done, out of the queue. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, id, CB_DISC_NAK, 506, NULL, T0 + 60, T0 + 31), 0);
	ck_assert_int_eq(cb_store_disconnect_mark(s, id, CB_DISC_ACKED, 0, NULL, 0, T0 + 61), 0);
	ck_assert_int_eq(cb_store_disconnect_mark(s, id, CB_DISC_ACKED, 0, NULL, 0, T0 + 62), 1);
	ck_assert_int_eq(cb_store_disconnects(s, CB_DISC_DONE, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);
	ck_assert_uint_eq(due.items[0].attempts, 3);
	ck_assert_uint_eq(due.items[0].error_cause, 0);
	cb_store_disconnects_free(&due);

	/* The CoA gives up (next attempt 0): failed, with its Error-Cause. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, again, CB_DISC_NAK, 506, "Resources-Unavailable", 0, T0 + 70), 0);
	ck_assert_int_eq(cb_store_disconnects(s, CB_DISC_FAILED, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);
	ck_assert_uint_eq(due.items[0].error_cause, 506);
	ck_assert_int_eq(due.items[0].last_result, CB_DISC_NAK);
	cb_store_disconnects_free(&due);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 10000, 0, &due), 0);
	ck_assert_uint_eq(due.count, 0);

	/* Once done, the session may be queued again. */
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S1", "alice", "again",
						     CB_DISC_DISCONNECT, false, T0 + 100, &again), 0);
	ck_assert_int_ne(again, id);

	/* NAK 503 (Session Context Not Found): done at once, and the session closed. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, again, CB_DISC_NAK, 503, "gone", T0 + 200, T0 + 101), 0);
	ck_assert_int_eq(cb_store_disconnect_mark(s, again, CB_DISC_ACKED, 0, NULL, 0, T0 + 102), 1);
	{
		cb_store_session_t ses;

		ck_assert_int_eq(cb_store_session_get(s, "10.0.0.2", "S1", &ses), 0);
		ck_assert_int_ge(ses.stopped, T0 + 101);
		ck_assert_str_eq(ses.stop_cause, "Session-Context-Not-Found");
	}
	ck_assert_int_eq(cb_store_disconnect_claim(s, again, T0 + 300), 1);	/* Not pending. */

	/* Bad input. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, again, CB_DISC_NONE, 0, NULL, 0, T0), -1);
	ck_assert_int_eq(cb_store_disconnect_mark(s, again, CB_DISC_NAK, 0, "bad\ndetail", 0, T0), -1);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "", "S1", NULL, NULL, CB_DISC_COA, false, T0, NULL), -1);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "n", "S1", NULL, NULL, (cb_disc_kind_t) 7, false, T0, NULL), -1);
	ck_assert_int_eq(cb_store_disconnects(s, (cb_disc_state_t) 9, 0, &due), -1);
	/* A session the store has never seen can still be queued. */
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.9.9.9", "X", NULL, NULL, CB_DISC_COA, false, T0, NULL), 0);
	cb_store_close(s);
}
END_TEST

START_TEST(test_queue_hold)
{
	cb_store_t *s = open_store(true);
	cb_store_disconnects_t list;
	int64_t ids[4];
	size_t n;
	char sid[16];
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(sid, sizeof(sid), "S%d", i);
		ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", sid, "alice", "acknowledgement_expired",
							     CB_DISC_DISCONNECT, false, T0, &ids[i]), 0);
	}
	/* The enforcer sees a burst: hold three of them. */
	ck_assert_int_eq(cb_store_disconnect_hold(s, ids, 3, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(cb_store_disconnect_hold(s, ids, 3, &n), 1);	/* Already held. */
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(cb_store_disconnect_hold(s, ids, 0, &n), 1);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0, 0, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_int_eq(list.items[0].id, ids[3]);
	cb_store_disconnects_free(&list);
	ck_assert_int_eq(cb_store_list_held(s, &list), 0);
	ck_assert_uint_eq(list.count, 3);
	ck_assert_int_eq(list.items[0].state, CB_DISC_HELD);
	cb_store_disconnects_free(&list);

	/* A held entry is not marked, and a new one may go straight to held. */
	ck_assert_int_eq(cb_store_disconnect_mark(s, ids[0], CB_DISC_ACKED, 0, NULL, 0, T0), 1);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S9", "bob", "acknowledgement_expired",
						     CB_DISC_DISCONNECT, true, T0, NULL), 0);
	ck_assert_int_eq(cb_store_list_held(s, &list), 0);
	ck_assert_uint_eq(list.count, 4);
	cb_store_disconnects_free(&list);

	/* confirm: all held become due now. */
	ck_assert_int_eq(cb_store_disconnect_confirm_held(s, T0 + 100, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(cb_store_disconnect_confirm_held(s, T0 + 100, &n), 1);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 100, 0, &list), 0);
	ck_assert_uint_eq(list.count, 5);
	cb_store_disconnects_free(&list);

	/* discard: held entries are cancelled, not sent. */
	ck_assert_int_eq(cb_store_disconnect_hold(s, ids, 2, NULL), 0);
	ck_assert_int_eq(cb_store_disconnect_discard_held(s, T0 + 200, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(cb_store_disconnect_discard_held(s, T0 + 200, NULL), 1);
	ck_assert_int_eq(cb_store_disconnects(s, CB_DISC_CANCELLED, 0, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	cb_store_disconnects_free(&list);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0 + 300, 0, &list), 0);
	ck_assert_uint_eq(list.count, 3);
	cb_store_disconnects_free(&list);
	cb_store_close(s);
}
END_TEST

/*
 *	Commands and status
 */
START_TEST(test_commands)
{
	cb_store_t *s = open_store(true);
	cb_store_commands_t list;

	ck_assert_int_eq(cb_store_commands_take(s, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_SYNC, NULL, "it-admin", T0), 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_ENFORCE, "alice", "it-admin", T0 + 1), 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_ACCEPT_MASS_REMOVAL, NULL, NULL, T0 + 2), 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_MAX, NULL, NULL, T0), -1);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_SYNC, "bad\targ", NULL, T0), -1);

	ck_assert_int_eq(cb_store_commands_take(s, &list), 0);
	ck_assert_uint_eq(list.count, 3);
	ck_assert_int_eq(list.items[0].cmd, CB_CMD_SYNC);
	ck_assert_str_eq(list.items[0].by, "it-admin");
	ck_assert_str_eq(list.items[0].arg, "");
	ck_assert_int_eq(list.items[1].cmd, CB_CMD_ENFORCE);
	ck_assert_str_eq(list.items[1].arg, "alice");
	ck_assert_int_eq(list.items[1].created_at, T0 + 1);
	ck_assert_int_eq(list.items[2].cmd, CB_CMD_ACCEPT_MASS_REMOVAL);
	cb_store_commands_free(&list);

	/* Taken once only. */
	ck_assert_int_eq(cb_store_commands_take(s, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_commands_free(&list);
	ck_assert_int_eq(cb_store_commands_take(s, NULL), -1);
	cb_store_close(s);
}
END_TEST

START_TEST(test_status)
{
	cb_store_t *s = open_store(true);
	cb_store_statuses_t list;
	char buf[CB_STORE_VALUE_MAX + 1], big[CB_STORE_VALUE_MAX + 2];
	time_t at;

	ck_assert_int_eq(cb_store_status_get(s, CB_STATUS_SYNC_SUCCESS, buf, sizeof(buf), &at), 1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(cb_store_status_put(s, CB_STATUS_SYNC_SUCCESS, "1788249600", T0), 0);
	ck_assert_int_eq(cb_store_status_put(s, CB_STATUS_SYNC_ERROR, "", T0), 0);
	ck_assert_int_eq(cb_store_status_put(s, CB_STATUS_SYNC_SUCCESS, "1788249660", T0 + 60), 0);
	ck_assert_int_eq(cb_store_status_get(s, CB_STATUS_SYNC_SUCCESS, buf, sizeof(buf), &at), 0);
	ck_assert_str_eq(buf, "1788249660");
	ck_assert_int_eq(at, T0 + 60);
	ck_assert_int_eq(cb_store_status_get(s, CB_STATUS_SYNC_SUCCESS, buf, 5, NULL), -1);
	ck_assert_int_eq(cb_store_status_get(s, CB_STATUS_SYNC_ERROR, buf, sizeof(buf), NULL), 0);
	ck_assert_str_eq(buf, "");

	ck_assert_int_eq(cb_store_statuses(s, &list), 0);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[0].key, CB_STATUS_SYNC_ERROR);	/* Sorted. */
	ck_assert_str_eq(list.items[1].key, CB_STATUS_SYNC_SUCCESS);
	cb_store_statuses_free(&list);

	ck_assert_int_eq(cb_store_status_put(s, "Bad Key", "x", T0), -1);
	ck_assert_int_eq(cb_store_status_put(s, "", "x", T0), -1);
	ck_assert_int_eq(cb_store_status_put(s, "k", NULL, T0), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(cb_store_status_put(s, "k", big, T0), -1);
	big[CB_STORE_VALUE_MAX] = '\0';
	ck_assert_int_eq(cb_store_status_put(s, "k", big, T0), 0);
	ck_assert_int_eq(cb_store_status_get(s, "k", buf, sizeof(buf), NULL), 0);
	ck_assert_uint_eq(strlen(buf), CB_STORE_VALUE_MAX);
	cb_store_close(s);
}
END_TEST

START_TEST(test_counts_purge)
{
	cb_store_t *s = open_store(true);
	char old[CB_CLASS_ID_LEN + 1], live[CB_CLASS_ID_LEN + 1];
	cb_store_counts_t c;
	cb_store_acct_t a;
	cb_store_decision_t d;
	size_t removed;
	int64_t id;

	put_decision(s, "alice", "admit", 0, old);
	put_decision(s, "bob", "admit", 0, live);
	a = mk_acct("10.0.0.2", "old", old, T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	a.stop_cause = "User-Request";
	a.event_time = T0 + 10;
	ck_assert_int_eq(cb_store_session_stop(s, &a), 0);
	a = mk_acct("10.0.0.2", "live", live, T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_revoke(s, "carol", "x", "y", T0), 0);
	ck_assert_int_eq(cb_store_revoke(s, "dave", "x", "y", T0), 0);
	ck_assert_int_eq(cb_store_reinstate(s, "dave", "y", T0 + 1), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "old", NULL, NULL, CB_DISC_DISCONNECT, false,
						     T0, &id), 0);
	ck_assert_int_eq(cb_store_disconnect_mark(s, id, CB_DISC_ACKED, 0, NULL, 0, T0 + 1), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "live", NULL, NULL, CB_DISC_DISCONNECT, true,
						     T0, NULL), 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_SYNC, NULL, NULL, T0), 0);

	ck_assert_int_eq(cb_store_counts(s, &c), 0);
	ck_assert_uint_eq(c.decisions, 2);
	ck_assert_uint_eq(c.sessions, 2);
	ck_assert_uint_eq(c.sessions_active, 1);
	ck_assert_uint_eq(c.people_active, 1);
	ck_assert_uint_eq(c.revocations, 1);
	ck_assert_uint_eq(c.disc_pending, 0);
	ck_assert_uint_eq(c.disc_held, 1);
	ck_assert_uint_eq(c.disc_failed, 0);
	ck_assert_uint_eq(c.commands, 3);	/* sync, and one enforce per revocation. */

	/* Purge before T0 + 100: the closed session, its decision, the done disconnect,
	 * dave's ended revocation, and the two devices the decisions recorded (last seen
	 * at T0).  The open session's decision and everything in force stay. */
	ck_assert_int_eq(cb_store_purge(s, T0 + 100, &removed), 0);
	ck_assert_uint_eq(removed, 6);
	ck_assert_int_eq(cb_store_counts(s, &c), 0);
	ck_assert_uint_eq(c.decisions, 1);
	ck_assert_uint_eq(c.sessions, 1);
	ck_assert_uint_eq(c.revocations, 1);
	ck_assert_uint_eq(c.disc_held, 1);
	ck_assert_int_eq(cb_store_decision_get(s, live, &d), 0);
	ck_assert_int_eq(cb_store_decision_get(s, old, &d), 1);
	ck_assert_int_eq(cb_store_purge(s, T0 + 100, &removed), 1);
	ck_assert_int_eq(cb_store_counts(s, NULL), -1);
	cb_store_close(s);
}
END_TEST

/*
 *	Restarts and threads
 */
START_TEST(test_restart)
{
	cb_store_t *s = open_store(true);
	char id[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	cb_store_sessions_t sessions;
	cb_store_disconnects_t due;
	cb_store_commands_t cmds;
	char buf[64];

	put_decision(s, "alice", "admit", 0, id);
	a = mk_acct("10.0.0.2", "S1", id, T0);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	ck_assert_int_eq(cb_store_revoke(s, "alice", "device lost", "it-admin", T0), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "10.0.0.2", "S1", "alice", "revoked_by_admin",
						     CB_DISC_DISCONNECT, false, T0, NULL), 0);
	ck_assert_int_eq(cb_store_command_enqueue(s, CB_CMD_ENFORCE, "alice", "it-admin", T0), 0);
	ck_assert_int_eq(cb_store_status_put(s, CB_STATUS_SYNC_PEOPLE, "42", T0), 0);
	cb_store_close(s);

	/* radiusd restarts: everything is still there, and still disconnectable. */
	s = open_store(false);
	ck_assert_int_eq(cb_store_active_for_user(s, "alice", &sessions), 0);
	ck_assert_uint_eq(sessions.count, 1);
	ck_assert_str_eq(sessions.items[0].acct_session_id, "S1");
	cb_store_sessions_free(&sessions);
	ck_assert_int_eq(cb_store_is_revoked(s, "alice", NULL), 1);
	ck_assert_int_eq(cb_store_disconnect_due(s, T0, 0, &due), 0);
	ck_assert_uint_eq(due.count, 1);
	cb_store_disconnects_free(&due);
	ck_assert_int_eq(cb_store_commands_take(s, &cmds), 0);
	ck_assert_uint_eq(cmds.count, 2);	/* revoke's own enforce, and the one queued by hand. */
	ck_assert_int_eq(cmds.items[0].cmd, CB_CMD_ENFORCE);
	ck_assert_str_eq(cmds.items[0].arg, "alice");
	cb_store_commands_free(&cmds);
	ck_assert_int_eq(cb_store_status_get(s, CB_STATUS_SYNC_PEOPLE, buf, sizeof(buf), NULL), 0);
	ck_assert_str_eq(buf, "42");
	cb_store_close(s);
}
END_TEST

#define THREAD_ROWS 200

typedef struct {
	cb_store_t	*store;
	int		n;
	int		failures;
} worker_t;

static void *worker(void *arg)
{
	worker_t *w = arg;
	char sid[32], key[32], val[32];
	int i;

	for (i = 0; i < THREAD_ROWS; i++) {
		cb_store_acct_t a;

		snprintf(sid, sizeof(sid), "T%d-%d", w->n, i);
		a = mk_acct("10.0.0.2", sid, NULL, T0 + i);
		a.identity = w->n % 2 ? "alice" : "bob";
		if (cb_store_session_start(w->store, &a) != 0) w->failures++;
		snprintf(key, sizeof(key), "worker.%d", w->n);
		snprintf(val, sizeof(val), "%d", i);
		if (cb_store_status_put(w->store, key, val, T0 + i) != 0) w->failures++;
		if (i % 10 == 0 && cb_store_command_enqueue(w->store, CB_CMD_SYNC, NULL, NULL, T0) != 0) w->failures++;
	}
	return NULL;
}

START_TEST(test_concurrency)
{
	cb_store_t *shared = open_store(true), *own1 = open_store(false), *own2 = open_store(false);
	worker_t w[4] = {
		{ .store = shared, .n = 0 }, { .store = shared, .n = 1 },	/* One store, two threads. */
		{ .store = own1, .n = 2 }, { .store = own2, .n = 3 }		/* Two connections to one file. */
	};
	pthread_t th[4];
	cb_store_counts_t c;
	cb_store_commands_t cmds;
	size_t taken = 0;
	int i;

	for (i = 0; i < 4; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	/* Meanwhile the module takes commands, as it does every second. */
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(cb_store_commands_take(shared, &cmds), 0);
		taken += cmds.count;
		cb_store_commands_free(&cmds);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	ck_assert_int_eq(cb_store_commands_take(own1, &cmds), 0);
	taken += cmds.count;
	cb_store_commands_free(&cmds);
	ck_assert_uint_eq(taken, 4 * THREAD_ROWS / 10);	/* Every command taken exactly once. */
	ck_assert_int_eq(cb_store_counts(own2, &c), 0);
	ck_assert_uint_eq(c.sessions_active, 4 * THREAD_ROWS);
	ck_assert_uint_eq(c.people_active, 2);
	cb_store_close(shared);
	cb_store_close(own1);
	cb_store_close(own2);
}
END_TEST


/*
 *	The audit index and the subject access export
 */
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

typedef struct {
	char	kinds[256];
	size_t	rows;
	size_t	audit_rows;
	bool	saw_identity;
} export_seen_t;

static int export_cb(void *ctx, char const *kind, cb_store_field_t const *fields, size_t n)
{
	export_seen_t *x = ctx;

	if (!fields) {
		size_t len = strlen(x->kinds);

		snprintf(x->kinds + len, sizeof(x->kinds) - len, "%s%s", len ? "," : "", kind);
		return 0;
	}
	x->rows++;
	if (strcmp(kind, "audit") == 0) {
		ck_assert_uint_eq(n, 1);
		ck_assert_str_eq(fields[0].name, "record");
		ck_assert_int_eq(fields[0].type, CB_STORE_FIELD_TEXT);
		x->audit_rows++;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(fields[i].name, "identity") == 0 && fields[i].type == CB_STORE_FIELD_TEXT &&
		    strcmp(fields[i].text, "alice") == 0) x->saw_identity = true;
	}
	return 0;
}

START_TEST(test_audit_index)
{
	cb_store_t *s = open_store(true);
	char const rec1[] = "{\"seq\":1,\"type\":\"session_start\"}", rec2[] = "{\"seq\":2}";
	cb_store_audit_entry_t e[2] = {
		{ .seq = 1, .time = T0, .type = "session_start", .identity = "alice", .calling_station = "aa:bb:cc:dd:ee:ff",
		  .mac = "AA-BB-CC-DD-EE-FF", .nas = "10.0.0.2", .ssid = "Staff", .framed_ip = "10.20.30.40",
		  .acct_session_id = "S1", .session_start = T0, .hash = HASH_A, .record = rec1,
		  .record_len = sizeof(rec1) - 1 },
		{ .seq = 2, .time = T0 + 60, .type = "session_stop", .identity = "alice", .nas = "10.0.0.2",
		  .framed_ip = "10.20.30.40", .acct_session_id = "S1", .session_start = T0, .session_stop = T0 + 60,
		  .hash = HASH_B, .record = rec2, .record_len = sizeof(rec2) - 1 },
	};
	cb_store_audit_filter_t f = { .mac = "AA-BB-CC-DD-EE-FF" };
	cb_store_audit_rows_t rows;
	cb_store_decision_t d = { .identity = "alice", .status = "admit", .reason = "acknowledged", .decided_at = T0 };
	export_seen_t seen = { .rows = 0 };
	char hash[CB_STORE_HASH_HEX + 1];
	uint64_t seq = 0;
	size_t removed = 9;

	/* A store that never had a writer reads as an empty index. */
	ck_assert_int_eq(cb_store_audit_last(s, &seq, hash), 1);
	ck_assert_int_eq(cb_store_audit_query(s, &f, &rows), 0);
	ck_assert_uint_eq(rows.count, 0);
	ck_assert_int_eq(cb_store_audit_purge(s, T0 + 3600, &removed), 1);
	ck_assert_uint_eq(removed, 0);

	ck_assert_int_eq(cb_store_audit_attach(s), 0);
	ck_assert_int_eq(cb_store_audit_attach(s), 0);		/* Idempotent. */
	ck_assert_int_eq(cb_store_audit_put(s, e, 2), 0);
	ck_assert_int_eq(cb_store_audit_put(s, e, 1), -1);	/* seq 1 again: all or nothing. */
	ck_assert_int_eq(cb_store_audit_last(s, &seq, hash), 0);
	ck_assert_uint_eq(seq, 2);
	ck_assert_str_eq(hash, HASH_B);

	ck_assert_int_eq(cb_store_audit_query(s, &f, &rows), 0);
	ck_assert_uint_eq(rows.count, 1);
	ck_assert_str_eq(rows.items[0].type, "session_start");
	ck_assert_str_eq(rows.items[0].record, rec1);
	ck_assert_int_eq(rows.items[0].session_start, T0);
	ck_assert_int_eq(rows.items[0].session_stop, 0);
	cb_store_audit_rows_free(&rows);
	f.mac = "aa:bb:cc:dd:ee:ff";				/* Not normalised: refused. */
	ck_assert_int_eq(cb_store_audit_query(s, &f, &rows), -1);
	memset(&f, 0, sizeof(f));
	f.identity = "alice";
	f.type = "session_stop";
	ck_assert_int_eq(cb_store_audit_query(s, &f, &rows), 0);
	ck_assert_uint_eq(rows.count, 1);
	ck_assert_int_eq(rows.items[0].seq, 2);
	cb_store_audit_rows_free(&rows);

	ck_assert_int_eq(cb_store_audit_sessions(s, "10.20.30.40", NULL, &rows), 0);
	ck_assert_uint_eq(rows.count, 2);
	ck_assert_int_eq(rows.items[1].session_stop, T0 + 60);
	cb_store_audit_rows_free(&rows);
	ck_assert_int_eq(cb_store_audit_sessions(s, "10.20.30.40", "10.9.9.9", &rows), 0);
	ck_assert_uint_eq(rows.count, 0);

	/* Subject access: every kind the store keeps, then the audit records. */
	ck_assert_int_eq(cb_store_new_class_id(d.class_id), 0);
	ck_assert_int_eq(cb_store_decision_put(s, &d), 0);
	ck_assert_int_eq(cb_store_export_person(s, "alice", export_cb, &seen), 0);
	ck_assert_str_eq(seen.kinds, "people,decisions,sessions,revocations,disconnects,exceptions,reminders,devices,"
			 "device_forgets,audit");
	ck_assert_uint_eq(seen.audit_rows, 2);
	ck_assert_uint_eq(seen.rows, 3);
	ck_assert(seen.saw_identity);

	/* Retention: the index's rows, then the store's. */
	{
		size_t store_removed = 9, audit_removed = 9;
		char err[128];

		ck_assert_int_eq(cb_store_retention_purge(s, T0 + 30, &store_removed, &audit_removed, err, sizeof(err)), 0);
		ck_assert_uint_eq(audit_removed, 1);
		ck_assert_uint_eq(store_removed, 1);			/* The decision: no open session needs it. */
		ck_assert_int_eq(cb_store_audit_last(s, &seq, hash), 0);
		ck_assert_uint_eq(seq, 2);
	}
	cb_store_close(s);
}
END_TEST

/*
 *	The PostgreSQL store's own tests
 */

START_TEST(test_pg_open_refuses)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_t *s = open_store(true);
	char const *err;
	char e[512];

	cb_store_close(s);
	/* A newer schema: refused, with what to do. */
	pg_admin("UPDATE cetbyod.meta SET value = '99' WHERE key = 'schema_version'");
	err = open_fails(true);
	ck_assert_msg(strstr(err, "newer cetbyod") && strstr(err, "upgrade"), "%s", err);
	/* Somebody else's tables: refused and left alone. */
	pg_admin("DROP SCHEMA cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod; "
		 "CREATE TABLE cetbyod.grades (pupil TEXT); INSERT INTO cetbyod.grades VALUES ('x')");
	err = open_fails(true);
	ck_assert_msg(strstr(err, "refusing"), "%s", err);
	pg_admin("SELECT pupil FROM cetbyod.grades");
	/* A wrong password: refused, and the password is in no message. */
	conf.pg_password = "S3cr3t-Never-Logged";
	e[0] = '\0';
	ck_assert_ptr_null(cb_store_open(&conf, e, sizeof(e)));
	ck_assert_msg(e[0] && !strstr(e, "S3cr3t"), "%s", e);
	ck_assert(!strstr(last_log, "S3cr3t"));
}
END_TEST

START_TEST(test_pg_reconnect)
{
	cb_store_t *s = open_store(true);
	char v[64];
	time_t at;
	int tries = 0;

	ck_assert_int_eq(cb_store_status_put(s, "k", "before", T0), 0);
	/* The server ends the module's connection (a restart, a failover): the next calls reconnect. */
	pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cetbyod'");
	while (cb_store_status_put(s, "k", "after", T0 + 1) != 0) {
		ck_assert_int_lt(++tries, 2);	/* The call that notices fails; the next one works. */
	}
	ck_assert_int_eq(cb_store_status_get(s, "k", v, sizeof(v), &at), 0);
	ck_assert_str_eq(v, "after");
	/* A store opened on an existing schema keeps its rows. */
	cb_store_close(s);
	s = open_store(false);
	ck_assert_int_eq(cb_store_status_get(s, "k", v, sizeof(v), &at), 0);
	ck_assert_str_eq(v, "after");
	cb_store_close(s);
}
END_TEST

/*
 * group_commit: accounting from many threads at once.  Each Start returns
 * once committed (another handle sees it at once), with its session read
 * back in a->result; the Stops likewise; nothing is lost.
 */
#define GROUP_THREADS	8
#define GROUP_ROWS	40

typedef struct {
	cb_store_t	*store;
	char const	*class_id;
	int		n;
	bool		stop;
	int		failures;
} group_worker_t;

static void *group_worker(void *arg)
{
	group_worker_t *w = arg;
	cb_store_session_t *res = calloc(1, sizeof(*res));
	char sid[32];

	for (int i = 0; res && i < GROUP_ROWS; i++) {
		cb_store_acct_t a;
		int rc;

		snprintf(sid, sizeof(sid), "G%d-%d", w->n, i);
		a = mk_acct("10.0.0.2", sid, w->class_id, T0 + i);
		a.result = res;
		rc = w->stop ? cb_store_session_stop(w->store, &a) : cb_store_session_start(w->store, &a);
		if (rc != 0 || strcmp(res->acct_session_id, sid) != 0 || strcmp(res->identity, "alice") != 0 ||
		    (res->stopped != 0) != w->stop) w->failures++;
	}
	if (!res) w->failures++;
	free(res);
	return NULL;
}

/** group_run - GROUP_THREADS threads, each GROUP_ROWS Starts (or Stops); the failures they saw. */
static int group_run(cb_store_t *s, char const *class_id, bool stop)
{
	group_worker_t w[GROUP_THREADS];
	pthread_t th[GROUP_THREADS];
	int failures = 0;

	for (int i = 0; i < GROUP_THREADS; i++) {
		w[i] = (group_worker_t) { .store = s, .class_id = class_id, .n = i, .stop = stop };
		ck_assert_int_eq(pthread_create(&th[i], NULL, group_worker, &w[i]), 0);
	}
	for (int i = 0; i < GROUP_THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	return failures;
}

START_TEST(test_group_commit)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_t *s, *other;
	cb_store_counts_t c;
	char err[256], class_id[CB_CLASS_ID_LEN + 1];

	conf.group_commit = true;
	conf.defer_decisions = true;
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	other = open_store(false);
	put_decision(s, "alice", "admit", T0 + 3600, class_id);	/* Deferred: the group commits it first. */

	ck_assert_int_eq(group_run(s, class_id, false), 0);
	ck_assert_int_eq(cb_store_counts(other, &c), 0);		/* Answered: so committed. */
	ck_assert_uint_eq(c.sessions_active, GROUP_THREADS * GROUP_ROWS);
	ck_assert_int_eq(group_run(s, class_id, true), 0);
	ck_assert_int_eq(cb_store_counts(other, &c), 0);
	ck_assert_uint_eq(c.sessions_active, 0);
	cb_store_close(s);
	cb_store_close(other);
}
END_TEST

/** raw_sessions - the sessions rows of the SQLite file, read past the store. */
static int raw_sessions(sqlite3 *db)
{
	sqlite3_stmt *q;
	int n;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM sessions", -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n;
}

/*
 * group_commit, a commit that fails (another process holds the write lock
 * past busy_timeout, as a full disk would fail it): every request of the
 * batch returns -1 (not answered: the NAS retries) and nothing of it is
 * written; once the lock is gone the same requests are recorded.
 */
START_TEST(test_group_commit_fails)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_t *s;
	sqlite3 *db;
	char err[256], class_id[CB_CLASS_ID_LEN + 1];

	conf.group_commit = true;
	conf.busy_timeout_ms = 50;
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	put_decision(s, "alice", "admit", T0 + 3600, class_id);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	ck_assert_int_eq(group_run(s, class_id, false), GROUP_THREADS * GROUP_ROWS);	/* All fail. */
	ck_assert_int_eq(raw_sessions(db), 0);
	/* Any call that gives up says who holds the lock and that nothing changed. */
	ck_assert_int_eq(cb_store_revoke(s, "bob", "lost", "it", T0), -1);
	ck_assert_msg(strstr(last_log, "database is locked (another process, radiusd or cetbyodctl, held its write "
			     "lock for longer than this one waits; nothing was changed: try again)"), "%s", last_log);
	ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);

	ck_assert_int_eq(group_run(s, class_id, false), 0);			/* The NAS retries. */
	ck_assert_int_eq(raw_sessions(db), GROUP_THREADS * GROUP_ROWS);
	sqlite3_close(db);
	cb_store_close(s);
}
END_TEST

/** rollback_later - end the raw connection's transaction after 200 ms (another writer holding the lock). */
static void *rollback_later(void *arg)
{
	usleep(200000);
	sqlite3_exec(arg, "ROLLBACK", NULL, NULL, NULL);
	return NULL;
}

/*
 * cb_store_write_contended: a write that had to wait for another
 * connection's write lock marks the process as contended for a while
 * (what the audit index steps back for); writing alone does not.
 */
START_TEST(test_write_contended)
{
	cb_store_conf_t conf = store_conf(true);
	cb_store_t *s;
	sqlite3 *db;
	pthread_t t;
	char err[256];

	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	usleep(50000);		/* Past any wait of an earlier test of this process (CK_FORK=no under valgrind). */
	ck_assert_int_eq(cb_store_revoke(s, "carol", "lost", "it", T0), 0);
	ck_assert(!cb_store_write_contended(s, 40));		/* Writing alone is no contention. */

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, rollback_later, db), 0);
	ck_assert_int_eq(cb_store_revoke(s, "bob", "lost", "it", T0), 0);	/* Waited for the lock, then wrote. */
	pthread_join(t, NULL);
	ck_assert(cb_store_write_contended(s, 60000));
	usleep(20000);
	ck_assert(!cb_store_write_contended(s, 10));		/* Only for as long as asked. */
	ck_assert(!cb_store_write_contended(NULL, 60000));
	sqlite3_close(db);
	cb_store_close(s);
}
END_TEST

static Suite *store_suite(bool pg)
{
	Suite *s = suite_create(pg ? "store-postgresql" : "store-sqlite");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	if (!pg) tcase_add_test(tc, test_schema_matches_file);
	if (!pg) tcase_add_test(tc, test_open_creates);
	if (!pg) tcase_add_test(tc, test_open_refuses);
	if (!pg) tcase_add_test(tc, test_write_contended);
	if (!pg) tcase_add_test(tc, test_migrate_v4);
	tcase_add_test(tc, test_class_ids);
	tcase_add_test(tc, test_keyed_decision);
	tcase_add_loop_test(tc, test_keyed_decision_order, 0, 2);
	tcase_add_test(tc, test_called_station);
	tcase_add_test(tc, test_text_valid);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_decisions);
	tcase_add_test(tc, test_session_lifecycle);
	tcase_add_loop_test(tc, test_session_result, 0, 2);
	tcase_add_test(tc, test_unknown_class);
	tcase_add_test(tc, test_nas_reboot);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_active_filters);
	tcase_add_test(tc, test_revocations);
	tcase_add_test(tc, test_exceptions);
	tcase_add_test(tc, test_people_reminders);
	if (!pg) tcase_add_test(tc, test_migrate_v1);
	if (!pg) tcase_add_test(tc, test_migrate_v2);
	tcase_add_test(tc, test_deferred_decisions);
	tcase_add_test(tc, test_group_commit);
	if (!pg) tcase_add_test(tc, test_group_commit_fails);
	tcase_add_test(tc, test_queue_retry);
	if (pg) tcase_add_test(tc, test_queue_two_servers);
	tcase_add_test(tc, test_queue_hold);
	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_counts_purge);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_audit_index);
	if (pg) {
		tcase_add_test(tc, test_pg_open_refuses);
		tcase_add_test(tc, test_pg_reconnect);
	}
	suite_add_tcase(s, tc);
	return s;
}

/** read_password - the fixture's password file into pg_password. */
static void read_password(void)
{
	char const *path = getenv("CB_TEST_PG_PASSWORD_FILE");
	FILE *f = path ? fopen(path, "r") : NULL;
	size_t n;

	if (!f) return;
	n = fread(pg_password, 1, sizeof(pg_password) - 1, f);
	fclose(f);
	pg_password[n] = '\0';
	while (n > 0 && (pg_password[n - 1] == '\n' || pg_password[n - 1] == '\r')) pg_password[--n] = '\0';
}

int main(void)
{
	SRunner *sr;
	int failed;

	pg_conninfo = getenv("CB_TEST_PG_CONNINFO");
	if (pg_conninfo && !*pg_conninfo) pg_conninfo = NULL;
	if (pg_conninfo) read_password();
	sr = srunner_create(store_suite(pg_conninfo != NULL));

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
