/*
 * test_pg.c - the PostgreSQL fixture for the unit tests (test_pg.h).
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_pg.h"

char const *test_pg_conninfo(void)
{
	char const *c = getenv("CB_TEST_PG_CONNINFO");

	return c && *c ? c : NULL;
}

void test_pg_password(char *buf, size_t len)
{
	char const *p = getenv("CB_TEST_PG_PASSWORD_FILE");
	FILE *f = p ? fopen(p, "r") : NULL;
	size_t n;

	buf[0] = '\0';
	if (!f) return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
}

/** query - sql as the superuser; the result (the test fails on an error). */
static PGresult *query(PGconn **c, char const *sql)
{
	PGresult *r;

	*c = PQconnectdb(getenv("CB_TEST_PG_ADMIN") ? getenv("CB_TEST_PG_ADMIN") : "");
	ck_assert_msg(PQstatus(*c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(*c));
	PQclear(PQexec(*c, "SET client_min_messages = warning"));
	r = PQexec(*c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	return r;
}

void test_pg_admin(char const *sql)
{
	PGconn *c;

	PQclear(query(&c, sql));
	PQfinish(c);
}

long test_pg_count(char const *sql)
{
	PGconn *c;
	PGresult *r = query(&c, sql);
	long n = PQntuples(r) == 1 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;

	PQclear(r);
	PQfinish(c);
	return n;
}
