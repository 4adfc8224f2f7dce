/*
 * fuzz_google_token.c - the Google client's reading of outside answers:
 * the OAuth token endpoint's response (token_accept / token_failure) and
 * Google's API error bodies (the streaming JSON sink and cb_google_explain),
 * through cb_google_token and cb_google_get_json with a fake network.
 *
 * Input: byte 0 picks the HTTP status, byte 1 whether the body is the token
 * endpoint's (even) or an API answer (odd, the token being fine); the rest
 * is the body.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_google.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	static long const statuses[] = { 200, 200, 200, 400, 401, 403, 404, 429, 500, 503, 302, 0 };
	cb_google_conf_t conf = fz_google_conf();
	fz_fake_t fake = { .n = 0 };
	cb_google_t *g;
	char err[1024];
	char const *token;
	unsigned int retry_after = 0;
	json_object *out = NULL;
	long status;
	bool api;

	if (size < 2) return 0;
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	api = data[1] & 1;
	g = cb_google_new(&conf, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err));
	if (!g) abort();
	cb_http_set_fake(cb_google_http(g), fz_fake_fn, &fake);
	if (api) {
		fz_answer(fz_route(&fake, "/token", 200), FZ_TOKEN_BODY, sizeof(FZ_TOKEN_BODY) - 1);
		fz_answer(fz_route(&fake, "/v1/", status), (char const *) data + 2, size - 2);
		cb_google_get_json(g, "https://fake.invalid/v1/forms/x", (data[1] & 2) ? CB_GOOGLE_SPREADSHEET : CB_GOOGLE_FORM,
				   "form x", &out, &retry_after, err, sizeof(err));
		json_object_put(out);
	} else {
		fz_answer(fz_route(&fake, "/token", status), (char const *) data + 2, size - 2);
		if (cb_google_token(g, &token, &retry_after, err, sizeof(err)) == CB_FETCH_OK) {
			cb_google_token(g, &token, &retry_after, err, sizeof(err));	/* From the cache. */
		}
	}
	cb_google_free(g);
	return 0;
}
