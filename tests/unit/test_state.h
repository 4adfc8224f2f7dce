/*
 * test_state.h - a state store in a temporary directory for the unit tests
 * of the units that keep their state there (exceptions register, enforcer,
 * decide), and the decisions and sessions they act on (test_state.c).
 */
#ifndef CETBYOD_TEST_STATE_H
#define CETBYOD_TEST_STATE_H

#include <check.h>
#include <stdbool.h>
#include <time.h>

#include "core/ack.h"
#include "store/store.h"

/** test_state_open - a new store in a new temporary directory (one at a time); the test fails if it cannot. */
cb_store_t *test_state_open(void);

/** test_state_db - the path of the store's database file (for edits a running module never makes). */
char const *test_state_db(void);

/**
 * test_state_edit - an edit a running module never makes, through a
 * connection of its own, as an editing admin would: sqlite_sql on the
 * SQLite store, pg_sql on the PostgreSQL one (in the store's schema).
 */
void test_state_edit(char const *sqlite_sql, char const *pg_sql);

/** test_state_pg_admin - run sql as the PostgreSQL fixture's superuser (search_path cetbyod); fails the test on error. */
void test_state_pg_admin(char const *sql);

/** test_state_pg_password - the fixture's password of the cetbyod role (CB_TEST_PG_PASSWORD_FILE). */
char const *test_state_pg_password(void);

/** test_state_close - close the store and remove its directory. */
void test_state_close(cb_store_t *store);

/**
 * test_state_session - a decision for identity (status, valid_until, the
 * address its acknowledgement was looked up under) and an active session
 * for it: session sid on NAS 127.0.0.1 from device calling.
 */
void test_state_session(cb_store_t *store, char const *identity, char const *status, time_t valid_until,
			char const *ack_email, char const *sid, char const *calling, time_t now);

/** test_state_index - an acknowledgement index of n emails, each acknowledged at ack_time (revoked: withdrawn). */
cb_ack_index_t *test_state_index(char const *const *emails, size_t n, time_t ack_time, bool revoked);

/** test_state_run - run the suite (and free it): EXIT_SUCCESS when every test passed. */
int test_state_run(Suite *s);

#endif
