/*
 * test_pg.h - the PostgreSQL fixture (tests/pg/pg-fixture.sh) as the unit
 * tests see it: its environment, and the superuser for what the module
 * never does (test_pg.c).  test_store.c and test_state.c keep their own
 * copies for now (another change may move them here).
 */
#ifndef CETBYOD_TEST_PG_H
#define CETBYOD_TEST_PG_H

#include <stddef.h>

/** test_pg_conninfo - CB_TEST_PG_CONNINFO, or NULL when the test runs without the fixture. */
char const *test_pg_conninfo(void);

/** test_pg_password - the cetbyod role's password (CB_TEST_PG_PASSWORD_FILE) into buf; "" when none. */
void test_pg_password(char *buf, size_t len);

/** test_pg_admin - run sql as the fixture's superuser; the test fails when it fails. */
void test_pg_admin(char const *sql);

/** test_pg_count - the number a SELECT count(*) returns, as the superuser. */
long test_pg_count(char const *sql);

#endif
