/*
 * test_google_changes.c - forms and sheets changed during the year (issue
 * 14): acknowledgements dated in the future refused by every source (the
 * builder's limit, reported with where they came from), and the Forms
 * questions bound by id (gbind.c: rename, deletion, re-creation, the kept
 * file and a damaged one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/ackfile.h"
#include "sources/gbind.h"
#include "test_google.h"

static char *dir;
static char *key_path;
static char const *school[] = { "school.example" };

static void setup(void)
{
	dir = tg_mkdtemp();
	key_path = tg_make_key(dir, "sa.json", 0600, false, NULL);
}

static void teardown(void)
{
	tg_rmdir(dir);
	free(dir);
	free(key_path);
}

static time_t when(char const *rfc3339)
{
	time_t t;

	ck_assert_int_eq(cb_tz_parse_time(rfc3339, strlen(rfc3339), NULL, &t), 0);
	return t;
}

/* One fetch into a builder whose latest allowed time is latest (skew 300 s). */
static cb_ack_index_t *fetch_until(cb_source_t *src, time_t latest, cb_source_result_t *rc, char *err, size_t errlen)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	unsigned int ra = 0;

	ck_assert_ptr_nonnull(b);
	cb_ack_builder_set_latest(b, latest + 300, 300);
	*rc = src->fetch(src, b, NULL, true, &ra, err, errlen);
	if (*rc != CB_FETCH_OK) {
		cb_ack_builder_free(b);
		return NULL;
	}
	return cb_ack_builder_finish(b, latest);
}

START_TEST(test_builder_future)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	char why[160];

	ck_assert(!cb_ack_builder_future(b, when("2099-01-01T00:00:00Z"), why, sizeof(why)));	/* No limit set. */
	cb_ack_builder_set_latest(b, when("2026-09-01T08:05:00Z"), 300);
	ck_assert(!cb_ack_builder_future(b, when("2026-09-01T08:05:00Z"), why, sizeof(why)));	/* The limit itself. */
	ck_assert(cb_ack_builder_future(b, when("2026-09-01T08:05:01Z"), why, sizeof(why)));
	ck_assert_str_eq(why, "dated 2026-09-01T08:05:01Z, more than 300 s in the future (sync { future_skew }); refused");
	ck_assert_int_eq(cb_ack_builder_add(b, "a@school.example", when("2099-01-01T00:00:00Z"), "", false, "t"),
			 CB_ACK_REFUSED_FUTURE);
	ck_assert_uint_eq(cb_ack_builder_count(b), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "a@school.example", when("2026-09-01T08:00:00Z"), "", false, "t"), 0);
	ck_assert_uint_eq(cb_ack_builder_count(b), 1);
	cb_ack_builder_free(b);
}
END_TEST

START_TEST(test_ackfile_future)
{
	static char const text[] = "a@school.example 2026-09-01T08:00:00Z\n"
				   "b@school.example 2099-01-01T00:00:00Z\n"
				   "c@school.example 2026-09-02T08:00:00Z\n";
	cb_ack_builder_t *b = cb_ack_builder_new();
	tg_log_t log = { 0 };
	cb_ack_index_t *idx;

	cb_ack_builder_set_latest(b, when("2026-09-03T00:00:00Z"), 300);
	ck_assert_uint_eq(cb_ackfile_parse("acks", text, sizeof(text) - 1, NULL, b, tg_log, &log), 1);
	ck_assert_msg(tg_log_has(&log, "acknowledgements file acks line 2: dated 2099-01-01T00:00:00Z, more than 300 s "
				 "in the future (sync { future_skew }); refused; line skipped"), "%s", log.text);
	idx = cb_ack_builder_finish(b, 0);
	ck_assert_uint_eq(cb_ack_index_count(idx), 2);
	ck_assert_ptr_null(cb_ack_index_find(idx, "b@school.example"));
	cb_ack_index_unref(idx);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_sheets_future)
{
	static char const *agree[] = { "I agree" };
	cb_gsource_sheets_conf_t sc = {
		.spreadsheet_id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", .range = "'Form responses 1'!A:F",
		.email_column = "email address", .agreement_column = "Do you agree to the policy?",
		.agree_values = { agree, 1 }, .policy_version_column = "policy version", .allowed_domains = { school, 1 },
		.allow_unverified_email = true,	/* No form_id: the form check is test_google_sheets.c's. */
	};
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_google_conf_t gc;
	cb_source_t *src;
	cb_ack_index_t *idx;
	cb_source_result_t rc;
	char *fx[3], err[1024];

	tg_google_conf(&gc, key_path);
	src = cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err));
	ck_assert_msg(src != NULL, "%s", err);
	cb_http_set_fake(cb_gsource_http(src), tg_fake_fn, &fake);
	fx[0] = tg_read_fixture("drive.json");
	fx[1] = tg_read_fixture("sheet_props.json");
	fx[2] = tg_read_fixture("sheet_values.json");
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, fx[0]);
	tg_fake_route(&fake, "/values/", 200, fx[2]);
	tg_fake_route(&fake, "/v4/spreadsheets/", 200, fx[1]);

	/* "Now" is 2026-10-01: the rows of late October are in the future, the rest are used. */
	idx = fetch_until(src, when("2026-10-01T00:00:00Z"), &rc, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);
	ck_assert_ptr_null(cb_ack_index_find(idx, "a4@school.example"));
	ck_assert_ptr_null(cb_ack_index_find(idx, "a6@school.example"));
	ck_assert_ptr_nonnull(cb_ack_index_find(idx, "a1@school.example"));
	ck_assert_ptr_nonnull(cb_ack_index_find(idx, "b9@school.example"));
	ck_assert_msg(tg_log_has(&log, "sheets: row 5 (a4@school.example): dated 2026-10-24T23:30:00Z, more than 300 s "
				 "in the future"), "%s", log.text);
	ck_assert(src->problems_fresh);
	ck_assert_uint_ge(src->problems, 3);		/* Counted for `cetbyodctl status` with the other problems. */
	cb_ack_index_unref(idx);
	src->free(src);
	for (int i = 0; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_forms_future)
{
	static char const *agree[] = { "I agree" };
	cb_gsource_forms_conf_t fc = {
		.form_id = "1FAIpQLSdTestForm",
		.agreement_question = "do you agree to the mobile devices and smart technology policy?",
		.agree_values = { agree, 1 }, .policy_version_question = "Policy version", .allowed_domains = { school, 1 },
	};
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_google_conf_t gc;
	cb_source_t *src;
	cb_ack_index_t *idx;
	cb_source_result_t rc;
	char *fx[3], err[1024];

	tg_google_conf(&gc, key_path);
	src = cb_gsource_forms_new(&fc, &gc, tg_log, &log, err, sizeof(err));
	ck_assert_msg(src != NULL, "%s", err);
	cb_http_set_fake(cb_gsource_http(src), tg_fake_fn, &fake);
	fx[0] = tg_read_fixture("form.json");
	fx[1] = tg_read_fixture("responses_p1.json");
	fx[2] = tg_read_fixture("responses_p2.json");
	tg_fake_token(&fake);
	tg_fake_route(&fake, "pageToken=cGFnZTI", 200, fx[2]);
	tg_fake_route(&fake, "/responses?", 200, fx[1]);
	tg_fake_route(&fake, "/v1/forms/1FAIpQLSdTestForm?", 200, fx[0]);

	/* "Now" is 2026-09-04: ivan's agreement of 2026-09-05 is in the future; his earlier response decides. */
	idx = fetch_until(src, when("2026-09-04T00:00:00Z"), &rc, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);
	ck_assert_msg(tg_log_has(&log, "(ivan@school.example): dated 2026-09-05T07:00:00Z, more than 300 s in the "
				 "future (sync { future_skew }); refused"), "%s", log.text);
	ck_assert(cb_ack_index_find(idx, "ivan@school.example") == NULL ||
		  cb_ack_index_find(idx, "ivan@school.example")->ack_time < when("2026-09-05T07:00:00Z"));
	ck_assert(!cb_ack_index_find(idx, "alice@school.example")->revoked);
	cb_ack_index_unref(idx);
	src->free(src);
	for (int i = 0; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

/* A form of questions (id, title) to resolve against. */
static cb_gbind_form_t form_of(cb_gbind_item_t const *items, size_t n, tg_log_t *log)
{
	return (cb_gbind_form_t) { .form_id = "f1", .items = items, .n = n, .titles = "(the titles)", .log = log ? tg_log : NULL,
				   .log_ctx = log };
}

START_TEST(test_gbind_rename_and_recreate)
{
	cb_gbind_item_t v1[] = { { "q-role", "Your role" }, { "q-agree", "Do you agree?" } };
	cb_gbind_item_t v2[] = { { "q-role", "Your role" }, { "q-agree", "Do you agree to the policy?" } };
	cb_gbind_item_t v3[] = { { "q-role", "Your role" }, { "q-new", "Do you agree to the policy?" } };
	cb_gbind_item_t v4[] = { { "q-role", "Your role" } };
	cb_gbind_t b = { 0 };
	tg_log_t log = { 0 };
	cb_gbind_form_t f = form_of(v1, 2, &log);
	char msg[512];
	size_t at = 99;

	/* First: by title. */
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "do you agree?", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_OK);
	ck_assert_uint_eq(at, 1);
	ck_assert_str_eq(cb_gbind_qid(&b), "q-agree");
	ck_assert(f.dirty);

	/* Renamed: still read by its id, and logged. */
	f = form_of(v2, 2, &log);
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "do you agree?", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_OK);
	ck_assert_str_eq(cb_gbind_qid(&b), "q-agree");
	ck_assert(f.dirty);
	ck_assert_msg(tg_log_has(&log, "the agreement question (id q-agree) was renamed in form f1 from \"Do you agree?\" "
				 "to \"Do you agree to the policy?\""), "%s", log.text);

	/* Deleted and re-created: held, naming both ids; read from the new one for the held result. */
	f = form_of(v3, 2, &log);
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "do you agree?", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_HOLD);
	ck_assert_msg(strstr(msg, "(id q-agree) is gone from form f1 and a question of that title has the new id q-new")
		      && strstr(msg, "confirm --rebind"), "%s", msg);
	ck_assert_str_eq(cb_gbind_qid(&b), "q-new");
	ck_assert_str_eq(b.qid, "q-agree");		/* Not re-bound without the admin. */

	/* Accepted: bound to the new id. */
	f = form_of(v3, 2, &log);
	f.accept = true;
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "do you agree?", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_OK);
	ck_assert_str_eq(b.qid, "q-new");
	ck_assert_ptr_null(b.new_qid);
	ck_assert(f.dirty);

	/* Gone with no question of that title: an error naming the option. */
	f = form_of(v4, 1, &log);
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "do you agree?", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_ERROR);
	ck_assert_msg(strstr(msg, "the agreement question (id q-new, last titled \"Do you agree to the policy?\") is no "
			     "longer in form f1"), "%s", msg);

	/* The option now names another question: found by that title. */
	f = form_of(v3, 2, &log);
	ck_assert_int_eq(cb_gbind_resolve(&b, &f, "your role", "agreement", "forms.agreement_question", &at, msg,
					  sizeof(msg)), CB_GBIND_OK);
	ck_assert_str_eq(b.qid, "q-role");
	cb_gbind_clear(&b);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_gbind_file)
{
	cb_gbind_item_t items[] = { { "q-agree", "Do you agree?" }, { "q-ver", "Version" } };
	cb_gbind_t a = { 0 }, v = { 0 }, a2 = { 0 }, v2 = { 0 };
	cb_gbind_form_t f = form_of(items, 2, NULL);
	char msg[512], err[512], *path, *bad;
	size_t at;

	ck_assert_int_eq(cb_gbind_resolve(&a, &f, "Do you agree?", "agreement", "o", &at, msg, sizeof(msg)), CB_GBIND_OK);
	ck_assert_int_eq(cb_gbind_resolve(&v, &f, "Version", "policy version", "o", &at, msg, sizeof(msg)), CB_GBIND_OK);
	path = tg_write_file(dir, "forms-questions.json", "", 0600);
	ck_assert_int_eq(cb_gbind_save(path, "f1", &a, &v, err, sizeof(err)), 0);
	ck_assert_int_eq(cb_gbind_load(path, "f1", &a2, &v2, err, sizeof(err)), 0);
	ck_assert_str_eq(a2.qid, "q-agree");
	ck_assert_str_eq(v2.qid, "q-ver");
	ck_assert_str_eq(v2.configured, "Version");
	cb_gbind_clear(&a2);
	cb_gbind_clear(&v2);

	ck_assert_int_eq(cb_gbind_load(path, "another-form", &a2, &v2, err, sizeof(err)), 1);	/* Not ours. */
	ck_assert_ptr_null(a2.qid);
	bad = tg_write_file(dir, "damaged.json", "{\"format\":\"cetbyod-forms-questions\",\"form_id\":\"f1\","
			    "\"agreement\":{\"configured\":\"x\",\"id\":\"bad id\",\"title\":\"x\"}}", 0600);
	ck_assert_int_eq(cb_gbind_load(bad, "f1", &a2, &v2, err, sizeof(err)), -1);		/* Damaged: unbound. */
	ck_assert_ptr_null(a2.qid);
	ck_assert_msg(strstr(err, "malformed") != NULL, "%s", err);
	free(bad);
	bad = tg_write_file(dir, "garbage.json", "\x01\x02 not json", 0600);
	ck_assert_int_eq(cb_gbind_load(bad, "f1", &a2, &v2, err, sizeof(err)), -1);
	ck_assert_int_eq(cb_gbind_load("/nonexistent/forms-questions.json", "f1", &a2, &v2, err, sizeof(err)), 1);
	ck_assert_ptr_null(a2.qid);
	free(bad);
	free(path);
	cb_gbind_clear(&a);
	cb_gbind_clear(&v);
}
END_TEST

Suite *tg_changes_suite(void)
{
	Suite *s = suite_create("google-changes");
	TCase *tc = tcase_create("changes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_builder_future);
	tcase_add_test(tc, test_ackfile_future);
	tcase_add_test(tc, test_sheets_future);
	tcase_add_test(tc, test_forms_future);
	tcase_add_test(tc, test_gbind_rename_and_recreate);
	tcase_add_test(tc, test_gbind_file);
	suite_add_tcase(s, tc);
	return s;
}
