/*
 * fuzz_forms_json.c - the Forms source's reading of Google's answers: the
 * form (forms.get: questions, settings) and pages of responses.list, through
 * a full fetch and then an incremental one, with a fake network.
 *
 * Input: sections cut at NUL bytes: the form's body, then the bodies of
 * successive responses.list pages.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_google.h"
#include "sources/gsource.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	static char const *agree[] = { "I agree" };
	static char const *school[] = { "school.example" };
	cb_gsource_forms_conf_t fc = {
		.form_id = "1FAIpQLSdTestForm",
		.agreement_question = "Do you agree to the Mobile Devices and Smart Technology Policy?",
		.agree_values = { agree, 1 },
		.policy_version_question = "Policy version",
		.allowed_domains = { school, 1 },
	};
	cb_google_conf_t gc = fz_google_conf();
	fz_fake_t fake = { .n = 0 };
	fz_section_t sec[FZ_SECTIONS_MAX];
	size_t n = fz_split(data, size, sec, FZ_SECTIONS_MAX);
	fz_route_t *pages;
	cb_source_t *src;
	char err[1024];

	src = cb_gsource_forms_new(&fc, &gc, NULL, NULL, err, sizeof(err));
	if (!src) abort();
	cb_http_set_fake(cb_gsource_http(src), fz_fake_fn, &fake);
	fz_answer(fz_route(&fake, "/token", 200), FZ_TOKEN_BODY, sizeof(FZ_TOKEN_BODY) - 1);
	pages = fz_route(&fake, "/responses", 200);
	for (size_t i = 1; i < n; i++) fz_answer(pages, sec[i].data, sec[i].len);
	if (n == 1) fz_answer(pages, "{}", 2);
	fz_answer(fz_route(&fake, "/v1/forms/", 200), sec[0].data, sec[0].len);

	fz_fetch_twice(src);
	return 0;
}
