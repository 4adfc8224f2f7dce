/*
 * fuzz_google.h - what the Google fuzz targets share (fuzz_google_token,
 * fuzz_forms_json, fuzz_sheets_json): a service-account key made once per
 * process, a Google configuration pointing at an address that is never
 * contacted, and a stand-in for the network (cb_http_set_fake) that answers
 * each request from the fuzz input.
 *
 * The input is cut at NUL bytes into sections; a route names a piece of
 * URL and the sections it answers with, one per request in turn (the last
 * one again once they run out).  Nothing here is kept between inputs but
 * the key, which never changes.
 */
#ifndef CETBYOD_FUZZ_GOOGLE_H
#define CETBYOD_FUZZ_GOOGLE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/ack.h"
#include "sources/google.h"
#include "sources/http.h"
#include "sources/source.h"

#define FZ_SECTIONS_MAX	8
#define FZ_ROUTES_MAX	4
#define FZ_CALLS_MAX	64	/* Bounds a paging loop the input could make long. */
#define FZ_TOKEN_BODY	"{\"access_token\":\"ya29.fuzz\",\"token_type\":\"Bearer\",\"expires_in\":3599}"

typedef struct {
	char const	*data;
	size_t		len;
} fz_section_t;

typedef struct {
	char const	*part;				/* Piece of the URL. */
	long		status;
	fz_section_t	answers[FZ_SECTIONS_MAX];
	size_t		n, next;
} fz_route_t;

typedef struct {
	fz_route_t	routes[FZ_ROUTES_MAX];
	size_t		n;
	unsigned int	calls;
} fz_fake_t;

/* Cut data at NUL bytes into at most max sections; returns how many. */
static __attribute__((unused)) size_t fz_split(uint8_t const *data, size_t size, fz_section_t *out, size_t max)
{
	size_t n = 0;

	while (n < max) {
		uint8_t const *nul = n + 1 < max ? memchr(data, 0, size) : NULL;
		size_t len = nul ? (size_t) (nul - data) : size;

		out[n].data = (char const *) data;
		out[n++].len = len;
		if (!nul) break;
		data += len + 1;
		size -= len + 1;
	}
	return n;
}

static __attribute__((unused)) fz_route_t *fz_route(fz_fake_t *f, char const *part, long status)
{
	fz_route_t *r = &f->routes[f->n++];

	r->part = part;
	r->status = status;
	return r;
}

static __attribute__((unused)) void fz_answer(fz_route_t *r, char const *data, size_t len)
{
	if (r->n < FZ_SECTIONS_MAX) r->answers[r->n++] = (fz_section_t) { data, len };
}

static __attribute__((unused)) cb_http_result_t fz_fake_fn(void *ctx, cb_http_request_t const *req, cb_http_response_t *resp)
{
	fz_fake_t *f = ctx;

	if (++f->calls > FZ_CALLS_MAX) return CB_HTTP_CONNECT;
	for (size_t i = 0; i < f->n; i++) {
		fz_route_t *r = &f->routes[i];
		fz_section_t const *a;

		if (!strstr(req->url, r->part) || r->n == 0) continue;
		a = &r->answers[r->next < r->n ? r->next++ : r->n - 1];
		resp->status = r->status;
		resp->body = malloc(a->len + 1);
		if (!resp->body) return CB_HTTP_ERROR;
		memcpy(resp->body, a->data, a->len);
		resp->body[a->len] = '\0';
		resp->len = a->len;
		return CB_HTTP_OK;
	}
	resp->status = 404;
	return CB_HTTP_OK;
}

/* The service-account key JSON, made once (a 1024-bit RSA key: the code checks the type, not the size). */
static __attribute__((unused)) char const *fz_key_json(void)
{
	static char *json;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx;
	BIO *bio;
	json_object *o;
	char *pem;
	long n;

	if (json) return json;
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	bio = BIO_new(BIO_s_mem());
	if (!ctx || !bio || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024) <= 0 ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1 || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) abort();
	n = BIO_get_mem_data(bio, &pem);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("service_account"));
	json_object_object_add(o, "private_key_id", json_object_new_string("fuzzkid"));
	json_object_object_add(o, "private_key", json_object_new_string_len(pem, (int) n));
	json_object_object_add(o, "client_email", json_object_new_string("fuzz@fuzz.iam.gserviceaccount.com"));
	json = strdup(json_object_to_json_string(o));
	json_object_put(o);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	if (!json) abort();
	return json;
}

/* A Google configuration with the key in memory and every URL on a name that does not resolve. */
static __attribute__((unused)) cb_google_conf_t fz_google_conf(void)
{
	return (cb_google_conf_t) {
		.key_json = fz_key_json(),
		.token_url = "https://fake.invalid/token",
		.forms_url = "https://fake.invalid",
		.sheets_url = "https://fake.invalid",
		.drive_url = "https://fake.invalid",
		.timeout_ms = 1000,
		.connect_timeout_ms = 1000,
	};
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size);

/* Once per process: libcurl (as main() does for the module) and the key. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	curl_global_init(CURL_GLOBAL_ALL);
	fz_key_json();
	return 0;
}

/* One fetch of src into a new index (NULL when the fetch did not end in one). */
static __attribute__((unused)) cb_ack_index_t *fz_fetch(cb_source_t *src, cb_ack_index_t const *prev, bool full)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	unsigned int retry_after = 0;
	char err[1024];

	if (!b) abort();
	if (src->fetch(src, b, prev, full, &retry_after, err, sizeof(err)) != CB_FETCH_OK) {
		cb_ack_builder_free(b);
		return NULL;
	}
	return cb_ack_builder_finish(b, 1788249600);
}

/* A full fetch, then (when it gave an index) a second one on top of it; frees src. */
static __attribute__((unused)) void fz_fetch_twice(cb_source_t *src)
{
	cb_ack_index_t *idx = fz_fetch(src, NULL, true);

	if (idx) cb_ack_index_unref(fz_fetch(src, idx, false));
	cb_ack_index_unref(idx);
	src->free(src);
}

#endif
