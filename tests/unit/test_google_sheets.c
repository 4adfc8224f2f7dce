/*
 * test_google_sheets.c - the Sheets source against a school's sheet as
 * people type into it: versions that the sheet turns into numbers and dates,
 * checkbox answers in one cell, and the form behind the sheet (verified
 * addresses or not).  Fake transport; the integration test
 * tests/integration/test_google_sheets.sh shows the same through radiusd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/gsource.h"

#include "test_google.h"

#define TS_SHEET	"1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
#define TS_FORM		"1FAIpQLSe-byod_form"

static cb_source_t *typed_source(tg_fake_t *fake, tg_log_t *log, char const *form_id, bool allow)
{
	static char const *agree[] = { "I agree", "Yes, I agree" };
	cb_gsource_sheets_conf_t sc = {
		.spreadsheet_id = TS_SHEET,
		.agreement_column = "Agreement",
		.agree_values = { agree, 2 },
		.policy_version_column = "Version",
		.form_id = form_id,
		.allow_unverified_email = allow,
	};
	cb_google_conf_t gc;
	cb_source_t *src;
	char err[512];

	tg_google_conf(&gc, tg_unit_key_path());
	src = cb_gsource_sheets_new(&sc, &gc, tg_log, log, err, sizeof(err));
	ck_assert_msg(src != NULL, "%s", err);
	cb_http_set_fake(cb_gsource_http(src), tg_fake_fn, fake);
	return src;
}

/* 46266 = 2026-09-01; 46266.5 = 2026-09-01 12:00 local. */
static char const typed_unformatted[] =
	"{\"values\":[[\"Timestamp\",\"Email address\",\"Agreement\",\"Version\"],"
	"[46266.5,\"a@school.example\",\"I agree\",1],"
	"[46266.5,\"b@school.example\",\"I agree\",46266],"
	"[46266.5,\"c@school.example\",\"I agree, Other\",\"v3\"],"
	"[46266.5,\"d@school.example\",\"Other, I do not\",\"v3\"],"
	"[46266.5,\"e@school.example\",\"Maybe, Yes, I agree\",\"v3\"],"
	"[46266.5,\"f@school.example\",\"I agreed, Other\",\"v3\"]]}";
static char const typed_formatted[] =
	"{\"values\":[[\"Timestamp\",\"Email address\",\"Agreement\",\"Version\"],"
	"[\"01/09/2026 12:00:00\",\"a@school.example\",\"I agree\",\"1.0\"],"
	"[\"01/09/2026 12:00:00\",\"b@school.example\",\"I agree\",\"2026-09\"],"
	"[\"01/09/2026 12:00:00\",\"c@school.example\",\"I agree, Other\",\"v3\"],"
	"[\"01/09/2026 12:00:00\",\"d@school.example\",\"Other, I do not\",\"v3\"],"
	"[\"01/09/2026 12:00:00\",\"e@school.example\",\"Maybe, Yes, I agree\",\"v3\"],"
	"[\"01/09/2026 12:00:00\",\"f@school.example\",\"I agreed, Other\",\"v3\"]]}";
static char const props[] = "{\"properties\":{\"timeZone\":\"Europe/London\"},"
	"\"sheets\":[{\"properties\":{\"title\":\"Form responses 1\",\"gridProperties\":{\"rowCount\":100}}}]}";

static void typed_routes(tg_fake_t *fake, char const *unformatted, char const *formatted)
{
	tg_fake_token(fake);
	tg_fake_route(fake, "/drive/v3/files/", 200, "{\"version\":\"7\"}");
	tg_fake_route(fake, "valueRenderOption=FORMATTED_VALUE", 200, formatted);
	tg_fake_route(fake, "/values/", 200, unformatted);
	tg_fake_route(fake, "/v4/spreadsheets/", 200, props);
}

START_TEST(test_sheets_typed_cells)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_source_t *src = typed_source(&fake, &log, NULL, true);
	cb_ack_index_t *idx;
	cb_source_result_t rc;
	char err[1024];

	typed_routes(&fake, typed_unformatted, typed_formatted);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);
	/* Versions as the sheet shows them, as typed, not the values 1 and 46266. */
	ck_assert_str_eq(tg_find(idx, "a@school.example")->policy_version, "1.0");
	ck_assert_str_eq(tg_find(idx, "b@school.example")->policy_version, "2026-09");
	/* The timestamp still comes from the serial reading. */
	ck_assert_int_eq(tg_find(idx, "a@school.example")->ack_time, 1788260400);
	/* A checkbox answer agrees when any of its choices is an agree_value, even one holding ", ". */
	ck_assert(!tg_find(idx, "c@school.example")->revoked);
	ck_assert(tg_find(idx, "d@school.example")->revoked);
	ck_assert(!tg_find(idx, "e@school.example")->revoked);
	ck_assert(tg_find(idx, "f@school.example")->revoked);	/* "I agreed" is not "I agree". */
	ck_assert_int_eq(tg_fake_count(&fake, "valueRenderOption=FORMATTED_VALUE"), 1);
	ck_assert_int_eq(tg_fake_count(&fake, "valueRenderOption=UNFORMATTED_VALUE"), 1);
	cb_ack_index_unref(idx);

	/* A sheet of text answers costs no formatted reading. */
	tg_fake_clear(&fake);
	typed_routes(&fake, "{\"values\":[[\"Timestamp\",\"Email address\",\"Agreement\",\"Version\"],"
		     "[46266.5,\"a@school.example\",\"I agree\",\"1.0\"]]}", typed_formatted);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);
	ck_assert_int_eq(tg_fake_count(&fake, "valueRenderOption=FORMATTED_VALUE"), 0);
	cb_ack_index_unref(idx);

	/* Rows that moved between the two readings: read again later, never mixed up. */
	tg_fake_clear(&fake);
	typed_routes(&fake, typed_unformatted, "{\"values\":[[\"Timestamp\",\"Email address\",\"Agreement\",\"Version\"],"
		     "[\"x\",\"b@school.example\",\"I agree\",\"2026-09\"]]}");
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_ptr_null(idx);
	ck_assert_msg(strstr(err, "changed between its two readings") != NULL, "%s", err);

	src->free(src);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

/* One fetch of a sheet whose form says ect; returns rc, err filled. */
static cb_source_result_t fetch_with_form(char const *form_json, bool allow, char *err, size_t errlen, int *form_gets)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_source_t *src = typed_source(&fake, &log, TS_FORM, allow);
	cb_ack_index_t *idx;
	cb_source_result_t rc;

	typed_routes(&fake, typed_unformatted, typed_formatted);
	tg_fake_route(&fake, "/v1/forms/" TS_FORM "?fields=settings%2ClinkedSheetId", 200, form_json);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, errlen);
	*form_gets = tg_fake_count(&fake, "/v1/forms/");
	if (idx) cb_ack_index_unref(idx);
	src->free(src);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
	return rc;
}

START_TEST(test_sheets_form_check)
{
	char err[1024];
	int gets = 0;

	ck_assert_int_eq(fetch_with_form("{\"settings\":{\"emailCollectionType\":\"VERIFIED\"},\"linkedSheetId\":\""
					 TS_SHEET "\"}", false, err, sizeof(err), &gets), CB_FETCH_OK);
	ck_assert_int_eq(gets, 1);
	/* Responder input: refused, naming the option; allowed once it is set. */
	ck_assert_int_eq(fetch_with_form("{\"settings\":{\"emailCollectionType\":\"RESPONDER_INPUT\"},\"linkedSheetId\":\""
					 TS_SHEET "\"}", false, err, sizeof(err), &gets), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "form " TS_FORM " lets respondents type any email address") &&
		      strstr(err, "sheets.allow_unverified_email = yes"), "%s", err);
	ck_assert_int_eq(fetch_with_form("{\"settings\":{\"emailCollectionType\":\"RESPONDER_INPUT\"},\"linkedSheetId\":\""
					 TS_SHEET "\"}", true, err, sizeof(err), &gets), CB_FETCH_OK);
	/* A form that collects no address, or feeds another sheet, is refused even so. */
	ck_assert_int_eq(fetch_with_form("{\"settings\":{\"emailCollectionType\":\"DO_NOT_COLLECT\"}}", true, err,
					 sizeof(err), &gets), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "does not collect email addresses") != NULL, "%s", err);
	ck_assert_int_eq(fetch_with_form("{\"settings\":{\"emailCollectionType\":\"VERIFIED\"},\"linkedSheetId\":\"other\"}",
					 false, err, sizeof(err), &gets), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "sends its responses to spreadsheet other, not to " TS_SHEET) != NULL, "%s", err);
}
END_TEST

START_TEST(test_agrees_rule)
{
	static char const *v[] = { "I agree", " Yes, I agree " };
	cb_strlist_t agree = { v, 2 };

	/* One rule for both sources: a Forms answer is one choice, a sheet cell joins them with ", ". */
	ck_assert(cb_gsource_agrees(&agree, "i AGREE", 7, false));
	ck_assert(!cb_gsource_agrees(&agree, "I agree, Other", 14, false));
	ck_assert(cb_gsource_agrees(&agree, "I agree, Other", 14, true));
	ck_assert(cb_gsource_agrees(&agree, "Other, I agree", 14, true));
	ck_assert(cb_gsource_agrees(&agree, "A, I agree, B", 13, true));
	ck_assert(cb_gsource_agrees(&agree, "Yes, I agree", 12, true));
	ck_assert(!cb_gsource_agrees(&agree, "I agree,Other", 13, true));
	ck_assert(!cb_gsource_agrees(&agree, "I agreed, Other", 15, true));
	ck_assert(!cb_gsource_agrees(&agree, "No, I agree not", 15, true));
	ck_assert(!cb_gsource_agrees(&agree, "", 0, true));
}
END_TEST

/* A full fetch of a sheet whose rows are a header and one row for a@; rc, with err. */
static cb_source_result_t fetch_header(cb_source_t *src, tg_fake_t *fake, char const *header, char const *row,
				       char *err, size_t errlen)
{
	char values[1024];
	cb_ack_index_t *idx;
	cb_source_result_t rc;

	snprintf(values, sizeof(values), "{\"values\":[[%s],[%s]]}", header, row);
	tg_fake_clear(fake);
	typed_routes(fake, values, values);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, errlen);
	if (idx) {
		ck_assert(!tg_find(idx, "a@school.example")->revoked);
		cb_ack_index_unref(idx);
	}
	return rc;
}

START_TEST(test_sheets_header_renamed)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_source_t *src = typed_source(&fake, &log, NULL, true);
	char err[1024];
	char const *row = "46266.5,\"a@school.example\",\"I agree\",\"v3\"";

	ck_assert_int_eq(fetch_header(src, &fake, "\"Timestamp\",\"Email address\",\"Agreement\",\"Version\"", row, err,
				      sizeof(err)), CB_FETCH_OK);
	/* Renamed in place: still read, and the rename is logged once. */
	ck_assert_int_eq(fetch_header(src, &fake, "\"Timestamp\",\"Email address\",\"Agreement (required)\",\"Version\"",
				      row, err, sizeof(err)), CB_FETCH_OK);
	ck_assert_msg(tg_log_has(&log, "column C, headed \"Agreement\" when last read, is now headed \"Agreement "
				 "(required)\": still read as sheets.agreement_column"), "%s", log.text);
	tg_log_clear(&log);
	ck_assert_int_eq(fetch_header(src, &fake, "\"Timestamp\",\"Email address\",\"Agreement (required)\",\"Version\","
				      "\"Notes\"", row, err, sizeof(err)), CB_FETCH_OK);
	ck_assert_msg(!tg_log_has(&log, "is now headed"), "%s", log.text);
	/* Renamed and moved: held, not guessed. */
	ck_assert_int_eq(fetch_header(src, &fake, "\"Email address\",\"Timestamp\",\"Agreement, again\",\"Version\","
				      "\"Notes\"", "\"a@school.example\",46266.5,\"I agree\",\"v3\"", err, sizeof(err)),
			 CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "no column is headed \"Agreement\" (sheets.agreement_column) any more; it was column C") &&
		      strstr(err, "the sync holds"), "%s", err);
	/* Two columns with the configured header: ambiguous, held. */
	ck_assert_int_eq(fetch_header(src, &fake, "\"Timestamp\",\"Email address\",\"Agreement\",\"Version\",\"Agreement\"",
				      row, err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "two columns are headed \"Agreement\" (sheets.agreement_column, the second in column E)"),
		      "%s", err);

	src->free(src);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

void tg_add_sheets_tests(TCase *tc)
{
	tcase_add_test(tc, test_sheets_header_renamed);
	tcase_add_test(tc, test_sheets_typed_cells);
	tcase_add_test(tc, test_sheets_form_check);
	tcase_add_test(tc, test_agrees_rule);
}
