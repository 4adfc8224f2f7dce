/*
 * fuzz_sa_key.c - the service-account key file (JSON with a PEM private
 * key) as cb_google_new reads it, given in memory (cb_google_conf_t.key_json).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sources/google.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	curl_global_init(CURL_GLOBAL_ALL);
	return 0;
}

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	char *text = malloc(size + 1);
	cb_google_conf_t conf = { .key_file = "fuzz.json" };
	cb_google_t *g;
	char err[1024], *jwt;

	if (!text) return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	conf.key_json = text;
	g = cb_google_new(&conf, CB_GOOGLE_SCOPE_SHEETS, err, sizeof(err));
	if (g) {
		jwt = cb_google_make_jwt(g, 1788249600, err, sizeof(err));
		free(jwt);
		cb_google_free(g);
	}
	free(text);
	return 0;
}
