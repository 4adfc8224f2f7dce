/*
 * fuzz_sheets_json.c - the Sheets source's reading of Google's answers: the
 * spreadsheet's metadata (time zone, tabs), the values of the range and the
 * Drive file version, through a full fetch and then a second one, with a
 * fake network.
 *
 * Input: sections cut at NUL bytes: the metadata body, the values body(ies),
 * and last the Drive body when there are three or more.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_google.h"
#include "sources/gsource.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	static char const *agree[] = { "I agree" };
	static char const *school[] = { "school.example" };
	cb_gsource_sheets_conf_t sc = {
		.spreadsheet_id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
		.email_column = "email address",
		.agreement_column = "Do you agree to the policy?",
		.agree_values = { agree, 1 },
		.policy_version_column = "policy version",
		.allowed_domains = { school, 1 },
		.rows_per_request = 50,
		.allow_unverified_email = true,		/* No form to check: the fuzzer feeds the sheet only. */
	};
	cb_google_conf_t gc = fz_google_conf();
	fz_fake_t fake = { .n = 0 };
	fz_section_t sec[FZ_SECTIONS_MAX];
	size_t n = fz_split(data, size, sec, FZ_SECTIONS_MAX);
	fz_route_t *values;
	cb_source_t *src;
	char err[1024];

	if (size > 0 && (data[0] & 1)) sc.range = "'Form responses 1'!A:F";
	src = cb_gsource_sheets_new(&sc, &gc, NULL, NULL, err, sizeof(err));
	if (!src) abort();
	cb_http_set_fake(cb_gsource_http(src), fz_fake_fn, &fake);
	fz_answer(fz_route(&fake, "/token", 200), FZ_TOKEN_BODY, sizeof(FZ_TOKEN_BODY) - 1);
	fz_answer(fz_route(&fake, "/drive/v3/files/", 200), n >= 3 ? sec[n - 1].data : "{}", n >= 3 ? sec[n - 1].len : 2);
	values = fz_route(&fake, "/values/", 200);
	for (size_t i = 1; i < (n >= 3 ? n - 1 : n); i++) fz_answer(values, sec[i].data, sec[i].len);
	if (n == 1) fz_answer(values, "{}", 2);
	fz_answer(fz_route(&fake, "/v4/spreadsheets/", 200), sec[0].data, sec[0].len);

	fz_fetch_twice(src);
	return 0;
}
