/*
 * test_state.c - a state store in a temporary directory, and the decisions,
 * sessions and acknowledgements the unit tests put in it (test_state.h).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_state.h"

static char tmpdir[64];
static char dbpath[256];

cb_store_t *test_state_open(void)
{
	cb_store_conf_t conf = { .create = true };
	char path[256], err[512] = "";
	cb_store_t *store;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_state.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert(cb_store_path(tmpdir, path, sizeof(path)));
	snprintf(dbpath, sizeof(dbpath), "%s", path);
	conf.path = path;
	store = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(store != NULL, "cb_store_open: %s", err);
	return store;
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
