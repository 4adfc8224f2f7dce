/*
 * test_google.c - unit tests of the Google sources and their helpers: the
 * JWT and key-file checks, Google's errors in words, Forms and Sheets
 * parsing from fixture JSON through a fake transport, the mass-removal
 * guard, backoff, and the snapshot file.  main() also runs the emulator
 * suite (test_google_emu.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sources/snapshot.h"
#include "sources/backoff.h"
#include "sources/guard.h"
#include "core/tz.h"

#include "test_google.h"

static char *dir;
static char *key_path;
static char *pub_pem;
static char *key_text;		/* One RSA key for all tests (key generation is slow under valgrind). */
static char *base_dir;		/* Holds every test's directory; removed even when tests fail. */

/*
 *	Unchecked fixture, run in the parent process: checked teardowns do not
 *	run after a failed test (the forked child just exits), so each test's
 *	directory lives under base_dir, which is removed here.
 */
static void keygen_once(void)
{
	char *tmp, *path;

	base_dir = tg_mkdtemp();
	tmp = tg_mkdtemp_in(base_dir);
	path = tg_make_key(tmp, "sa.json", 0600, false, &pub_pem);
	FILE *fp = fopen(path, "r");
	long n;

	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	key_text = calloc(1, (size_t) n + 1);
	ck_assert_int_eq(fread(key_text, 1, (size_t) n, fp), (size_t) n);
	fclose(fp);
	tg_rmdir(tmp);
	free(tmp);
	free(path);
}

static void keygen_free(void)
{
	tg_rmdir(base_dir);
	free(base_dir);
	free(key_text);
	free(pub_pem);
	base_dir = key_text = pub_pem = NULL;
}

/* Each test gets its own directory with the key file, mode 0600. */
static void setup(void)
{
	dir = tg_mkdtemp_in(base_dir);
	key_path = tg_write_file(dir, "sa.json", key_text, 0600);
}

char const *tg_unit_key_path(void)
{
	return key_path;
}

static void teardown(void)
{
	tg_rmdir(dir);
	free(dir);
	free(key_path);
	dir = key_path = NULL;
}

static time_t when(char const *rfc3339)
{
	time_t t;

	ck_assert_int_eq(cb_tz_parse_time(rfc3339, strlen(rfc3339), NULL, &t), 0);
	return t;
}

/*
 *	JWT and key file
 */

/* base64url -> bytes (OpenSSL's decoder after restoring the alphabet and padding). */
static unsigned char *b64url_decode(char const *in, size_t len, size_t *outlen)
{
	size_t padded = (len + 3) / 4 * 4;
	char *tmp = calloc(1, padded + 1);
	unsigned char *out = calloc(1, padded + 1);
	int n;

	for (size_t i = 0; i < len; i++) tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	for (size_t i = len; i < padded; i++) tmp[i] = '=';
	n = EVP_DecodeBlock(out, (unsigned char *) tmp, (int) padded);
	ck_assert_int_ge(n, 0);
	*outlen = (size_t) n - (padded - len);
	free(tmp);
	return out;
}

static json_object *jwt_part(char const *start, size_t len)
{
	size_t n;
	unsigned char *raw = b64url_decode(start, len, &n);
	json_object *o;

	raw[n] = '\0';
	o = json_tokener_parse((char *) raw);
	free(raw);
	ck_assert_ptr_nonnull(o);
	return o;
}

START_TEST(test_jwt_structure_and_signature)
{
	cb_google_conf_t gc;
	cb_google_t *g;
	char err[512];
	char *jwt, *dot1, *dot2;
	json_object *hdr, *cl, *v;
	unsigned char *sig;
	size_t siglen;
	BIO *bio;
	EVP_PKEY *pub;
	EVP_MD_CTX *md;

	tg_google_conf(&gc, key_path);
	g = cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err));
	ck_assert_msg(g != NULL, "%s", err);
	ck_assert_str_eq(cb_google_client_email(g), TG_EMAIL);
	jwt = cb_google_make_jwt(g, 1788249600, err, sizeof(err));
	ck_assert_ptr_nonnull(jwt);
	ck_assert_msg(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(jwt),
		      "JWT is not base64url: %s", jwt);
	dot1 = strchr(jwt, '.');
	ck_assert_ptr_nonnull(dot1);
	dot2 = strchr(dot1 + 1, '.');
	ck_assert_ptr_nonnull(dot2);
	ck_assert_ptr_null(strchr(dot2 + 1, '.'));

	hdr = jwt_part(jwt, (size_t) (dot1 - jwt));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(hdr, "alg")), "RS256");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(hdr, "typ")), "JWT");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(hdr, "kid")), TG_KID);

	cl = jwt_part(dot1 + 1, (size_t) (dot2 - dot1 - 1));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "iss")), TG_EMAIL);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "aud")), "https://oauth2.googleapis.com/token");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "scope")), CB_GOOGLE_SCOPE_FORMS);
	ck_assert(json_object_object_get_ex(cl, "iat", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1788249600);
	ck_assert(json_object_object_get_ex(cl, "exp", &v));
	ck_assert_int_eq(json_object_get_int64(v), 1788249600 + 3600);
	ck_assert(!json_object_object_get_ex(cl, "sub", NULL));

	/* The signature verifies with the public key over "header.claims". */
	sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen);
	ck_assert_int_eq(siglen, 256);
	bio = BIO_new_mem_buf(pub_pem, -1);
	pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(pub);
	md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(md, sig, siglen, (unsigned char *) jwt, (size_t) (dot2 - jwt)), 1);
	/* ... and not over anything else. */
	jwt[0] ^= 1;
	ck_assert_int_ne(EVP_DigestVerify(md, sig, siglen, (unsigned char *) jwt, (size_t) (dot2 - jwt)), 1);

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	BIO_free(bio);
	free(sig);
	json_object_put(hdr);
	json_object_put(cl);
	free(jwt);
	cb_google_free(g);
}
END_TEST

START_TEST(test_key_file_refused)
{
	cb_google_conf_t gc;
	cb_google_t *g;
	char err[1024], *p;

	/* Readable by group or others: refused, saying how to fix it. */
	ck_assert_int_eq(chmod(key_path, 0640), 0);
	tg_google_conf(&gc, key_path);
	g = cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err));
	ck_assert_ptr_null(g);
	ck_assert_msg(strstr(err, "readable by other users") && strstr(err, "chmod 600") && strstr(err, key_path), "%s", err);
	ck_assert_int_eq(chmod(key_path, 0604), 0);
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));

	/* Missing, not JSON, not a service account, no private key. */
	gc.key_file = "/nonexistent/sa.json";
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));
	ck_assert_msg(strstr(err, "google.key_file") != NULL, "%s", err);

	p = tg_write_file(dir, "notjson.json", "-----BEGIN PRIVATE KEY-----", 0600);
	gc.key_file = p;
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not JSON") != NULL, "%s", err);
	free(p);

	p = tg_write_file(dir, "user.json", "{\"type\":\"authorized_user\",\"client_email\":\"a@b\"}", 0600);
	gc.key_file = p;
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a service_account") != NULL, "%s", err);
	free(p);

	p = tg_write_file(dir, "nokey.json", "{\"type\":\"service_account\",\"client_email\":\"a@b.c\",\"private_key\":\"x\"}", 0600);
	gc.key_file = p;
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a readable PEM private key") != NULL, "%s", err);
	free(p);

	/* An http:// API URL is refused. */
	ck_assert_int_eq(chmod(key_path, 0600), 0);
	tg_google_conf(&gc, key_path);
	gc.forms_url = "http://forms.googleapis.com";
	ck_assert_ptr_null(cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err)));
	ck_assert_msg(strstr(err, "google.forms_url") && strstr(err, "https://"), "%s", err);
}
END_TEST

START_TEST(test_key_file_pkcs1)
{
	cb_google_conf_t gc;
	cb_google_t *g;
	char err[512];
	char *p = tg_make_key(dir, "pkcs1.json", 0400, true, NULL);

	tg_google_conf(&gc, p);
	g = cb_google_new(&gc, CB_GOOGLE_SCOPE_SHEETS, err, sizeof(err));
	ck_assert_msg(g != NULL, "%s", err);
	cb_google_free(g);
	free(p);
}
END_TEST

/*
 *	Token exchange and errors, through the fake transport
 */
static cb_google_t *fake_google(tg_fake_t *fake)
{
	cb_google_conf_t gc;
	cb_google_t *g;
	char err[512];

	tg_google_conf(&gc, key_path);
	g = cb_google_new(&gc, CB_GOOGLE_SCOPE_FORMS, err, sizeof(err));
	ck_assert_msg(g != NULL, "%s", err);
	cb_http_set_fake(cb_google_http(g), tg_fake_fn, fake);
	return g;
}

START_TEST(test_token_cached_and_dropped)
{
	tg_fake_t fake = { 0 };
	cb_google_t *g = fake_google(&fake);
	char const *tok;
	char err[512];
	unsigned int ra = 0;

	tg_fake_token(&fake);
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_OK);
	ck_assert_str_eq(tok, "ya29.test-token");
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_OK);
	ck_assert_int_eq(fake.token_requests, 1);
	ck_assert_ptr_nonnull(fake.last_assertion);
	ck_assert_int_eq(strchr(fake.last_assertion, '.') != NULL, 1);
	cb_google_token_drop(g);
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_OK);
	ck_assert_int_eq(fake.token_requests, 2);
	cb_google_free(g);
	tg_fake_clear(&fake);
}
END_TEST

START_TEST(test_token_errors)
{
	tg_fake_t fake = { 0 };
	cb_google_t *g = fake_google(&fake);
	char const *tok;
	char err[512];
	unsigned int ra = 0;
	tg_route_t *r;

	tg_fake_route_n(&fake, "/token", 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}", 1);
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_REJECTED);
	ck_assert_str_eq(err, "the service account key was rejected: Invalid JWT Signature.; check the key file and the server clock");

	r = tg_fake_route_n(&fake, "/token", 503, "{\"error\":\"internal_failure\",\"error_description\":\"Backend Error\"}", 1);
	r->retry_after = 9;
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_RETRY);
	ck_assert_int_eq(ra, 9);

	tg_fake_route_n(&fake, "/token", 401, "{\"error\":\"invalid_client\",\"error_description\":\"The OAuth client was not found.\"}", 1);
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_REJECTED);
	ck_assert_msg(strstr(err, "deleted") != NULL, "%s", err);

	/* A token with a newline would smuggle a header: refused. */
	tg_fake_route_n(&fake, "/token", 200, "{\"access_token\":\"ya29.a\\r\\nX-Evil: 1\",\"expires_in\":3599}", 1);
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_ERROR);

	r = tg_fake_route_n(&fake, "/token", 0, NULL, 1);
	r->result = CB_HTTP_TIMEOUT;
	ck_assert_int_eq(cb_google_token(g, &tok, &ra, err, sizeof(err)), CB_FETCH_RETRY);
	cb_google_free(g);
	tg_fake_clear(&fake);
}
END_TEST

START_TEST(test_explain)
{
	tg_fake_t fake = { 0 };
	cb_google_t *g = fake_google(&fake);
	char err[1024];
	json_object *body;

	body = json_tokener_parse("{\"error\":{\"code\":403,\"message\":\"The caller does not have permission\","
				  "\"status\":\"PERMISSION_DENIED\"}}");
	ck_assert_int_eq(cb_google_explain(g, 403, body, CB_GOOGLE_SPREADSHEET, "spreadsheet X", err, sizeof(err)),
			 CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "share the spreadsheet with " TG_EMAIL) != NULL, "%s", err);
	ck_assert_int_eq(cb_google_explain(g, 403, body, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, TG_EMAIL " as a collaborator") != NULL, "%s", err);
	ck_assert_int_eq(cb_google_explain(g, 404, body, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "check the id") && strstr(err, TG_EMAIL), "%s", err);
	ck_assert_int_eq(cb_google_explain(g, 500, body, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_RETRY);
	ck_assert_int_eq(cb_google_explain(g, 503, NULL, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_RETRY);
	ck_assert_int_eq(cb_google_explain(g, 429, NULL, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_RETRY);
	ck_assert_int_eq(cb_google_explain(g, 400, body, CB_GOOGLE_FORM, "form X", err, sizeof(err)), CB_FETCH_ERROR);
	json_object_put(body);

	/* Quota errors come as 403 too; so does a disabled API. */
	body = json_tokener_parse("{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\",\"errors\":"
				  "[{\"domain\":\"usageLimits\",\"reason\":\"userRateLimitExceeded\"}]}}");
	ck_assert_int_eq(cb_google_explain(g, 403, body, CB_GOOGLE_SPREADSHEET, "x", err, sizeof(err)), CB_FETCH_RETRY);
	json_object_put(body);
	body = json_tokener_parse("{\"error\":{\"code\":403,\"message\":\"Google Sheets API has not been used in project 1\","
				  "\"status\":\"PERMISSION_DENIED\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
				  "\"reason\":\"SERVICE_DISABLED\"}]}}");
	ck_assert_int_eq(cb_google_explain(g, 403, body, CB_GOOGLE_SPREADSHEET, "x", err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "not enabled") != NULL, "%s", err);
	json_object_put(body);
	cb_google_free(g);
	tg_fake_clear(&fake);
}
END_TEST

START_TEST(test_get_json_401_retried_once)
{
	tg_fake_t fake = { 0 };
	cb_google_t *g = fake_google(&fake);
	char err[1024];
	json_object *out = NULL;
	unsigned int ra = 0;

	tg_fake_token(&fake);
	tg_fake_route_n(&fake, "/v1/forms/A", 401, "{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\"}}", 1);
	tg_fake_route(&fake, "/v1/forms/A", 200, "{\"formId\":\"A\"}");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/A", CB_GOOGLE_FORM, "form A", &out, &ra,
					    err, sizeof(err)), CB_FETCH_OK);
	ck_assert_int_eq(fake.token_requests, 2);
	ck_assert_str_eq(fake.seen[1], "https://fake.invalid/v1/forms/A?prettyPrint=false");
	json_object_put(out);

	/* Twice 401: an error, not a loop. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/v1/forms/B", 401, "{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\"}}");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/B", CB_GOOGLE_FORM, "form B", &out, &ra,
					    err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_int_eq(tg_fake_count(&fake, "/v1/forms/B"), 2);
	ck_assert_ptr_null(out);

	/* Malformed JSON is an error; a document cut short is worth a retry; HTML is explained. */
	tg_fake_route(&fake, "/v1/forms/C", 200, "{\"formId\": \"C\",, }");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/C", CB_GOOGLE_FORM, "form C", &out, &ra,
					    err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "not valid JSON") != NULL, "%s", err);
	tg_fake_route(&fake, "/v1/forms/D", 200, "{\"formId\": \"D\", \"items\": [");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/D", CB_GOOGLE_FORM, "form D", &out, &ra,
					    err, sizeof(err)), CB_FETCH_RETRY);
	ck_assert_msg(strstr(err, "cut short") != NULL, "%s", err);
	tg_fake_route(&fake, "/v1/forms/E", 200, "{\"formId\": \"E\"} {\"x\":1}");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/E", CB_GOOGLE_FORM, "form E", &out, &ra,
					    err, sizeof(err)), CB_FETCH_ERROR);
	tg_fake_route(&fake, "/v1/forms/F", 404, "<html><body>Not Found</body></html>");
	ck_assert_int_eq(cb_google_get_json(g, "https://fake.invalid/v1/forms/F", CB_GOOGLE_FORM, "form F", &out, &ra,
					    err, sizeof(err)), CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "Not Found") != NULL, "%s", err);
	cb_google_free(g);
	tg_fake_clear(&fake);
}
END_TEST

/*
 *	Forms
 */
static char const *school[] = { "school.example" };

static cb_source_t *forms_source(tg_fake_t *fake, tg_log_t *log, uint32_t page_size)
{
	static char const *agree[] = { "I agree" };
	cb_gsource_forms_conf_t fc = {
		.form_id = "1FAIpQLSdTestForm",
		.agreement_question = "  do you agree to the mobile devices and smart technology policy? ",
		.agree_values = { agree, 1 },
		.policy_version_question = "Policy version",
		.allowed_domains = { school, 1 },
		.page_size = page_size,
	};
	cb_google_conf_t gc;
	cb_source_t *src;
	char err[512];

	tg_google_conf(&gc, key_path);
	src = cb_gsource_forms_new(&fc, &gc, tg_log, log, err, sizeof(err));
	ck_assert_msg(src != NULL, "%s", err);
	cb_http_set_fake(cb_gsource_http(src), tg_fake_fn, fake);
	return src;
}

static void forms_routes(tg_fake_t *fake, char **fixtures)
{
	fixtures[0] = tg_read_fixture("form.json");
	fixtures[1] = tg_read_fixture("responses_p1.json");
	fixtures[2] = tg_read_fixture("responses_p2.json");
	tg_fake_token(fake);
	tg_fake_route(fake, "pageToken=cGFnZTI", 200, fixtures[2]);
	tg_fake_route(fake, "/responses?", 200, fixtures[1]);
	tg_fake_route(fake, "/v1/forms/1FAIpQLSdTestForm?", 200, fixtures[0]);
}

START_TEST(test_forms_parse)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char *fx[3], err[1024];
	cb_source_t *src = forms_source(&fake, &log, 0);
	cb_ack_index_t *idx;
	cb_ack_record_t const *r;
	cb_source_result_t rc;

	forms_routes(&fake, fx);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);

	/* Requests: forms.get, then two pages with pageSize and pageToken. */
	ck_assert_int_eq(tg_fake_count(&fake, "/v1/forms/1FAIpQLSdTestForm?prettyPrint=false"), 1);
	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/v1/forms/1FAIpQLSdTestForm/responses?pageSize=2500&prettyPrint=false"));
	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/responses?pageSize=2500&pageToken=cGFnZTI&prettyPrint=false"));
	ck_assert_int_eq(fake.token_requests, 1);

	ck_assert_int_eq(cb_ack_index_count(idx), 7);
	r = tg_find(idx, "alice@school.example");
	ck_assert(!r->revoked);
	ck_assert_int_eq(r->ack_time, when("2026-09-01T08:00:00Z"));
	ck_assert_str_eq(r->policy_version, "2026");
	ck_assert_str_eq(r->origin, "forms:ACYDBNj1");
	r = tg_find(idx, "bob@school.example");			/* A later withdrawal wins. */
	ck_assert(r->revoked);
	ck_assert_int_eq(r->ack_time, when("2026-09-02T10:00:00Z"));
	ck_assert(tg_find(idx, "carol@school.example")->revoked);	/* Same instant: the withdrawal wins. */
	r = tg_find(idx, "dave@school.example");			/* Normalised. */
	ck_assert(!r->revoked);
	ck_assert_str_eq(r->policy_version, "2025");
	ck_assert_str_eq(tg_find(idx, "erin@school.example")->policy_version, "");
	ck_assert(!tg_find(idx, "frank@school.example")->revoked);	/* " i AGREE " counts. */
	/* No answer to the agreement question: neither an agreement nor a withdrawal; reported, skipped. */
	ck_assert_ptr_null(cb_ack_index_find(idx, "grace@school.example"));
	ck_assert_msg(tg_log_has(&log, "response ACYDBNk3 (grace@school.example): no answer to the agreement question"),
		      "%s", log.text);
	ck_assert_uint_eq(src->problems, 6);
	ck_assert(src->problems_fresh);
	ck_assert_msg(strstr(src->first_problem, "ACYDBNj") != NULL, "%s", src->first_problem);
	ck_assert_ptr_null(cb_ack_index_find(idx, "heidi@school.example"));
	ck_assert_ptr_null(cb_ack_index_find(idx, "mallory@gmail.com"));
	r = tg_find(idx, "ivan@school.example");			/* A later agreement wins. */
	ck_assert(!r->revoked);
	ck_assert_int_eq(r->ack_time, when("2026-09-05T07:00:00Z"));

	/* Every bad response was reported with its id. */
	ck_assert_msg(tg_log_has(&log, "ACYDBNj6 has no respondentEmail: the form must collect verified email addresses"),
		      "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "ACYDBNj7: mallory@gmail.com is not in an allowed domain"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "ACYDBNk4: lastSubmittedTime"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "forms:ACYDBNk1: a second response of alice@school.example"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "forms:ACYDBNj5: carol@school.example both agreed and withdrew"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "10 responses used, 6 skipped or questionable"), "%s", log.text);

	cb_ack_index_unref(idx);
	src->free(src);
	for (int i = 0; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_forms_incremental)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char *fx[3], *fx2[3], *incr = tg_read_fixture("responses_incr.json"), *same = tg_read_fixture("responses_same.json");
	char err[1024];
	cb_source_t *src = forms_source(&fake, &log, 50);
	cb_ack_index_t *idx, *idx2;
	cb_source_result_t rc;

	forms_routes(&fake, fx);
	idx = tg_fetch(src, NULL, false, &rc, NULL, err, sizeof(err));	/* The first fetch is always full. */
	ck_assert_msg(rc == CB_FETCH_OK, "%s", err);
	ck_assert(tg_find(idx, "bob@school.example")->revoked);

	/* Nothing new: only the boundary response comes back, and the fetch says unchanged. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "filter=", 200, same);
	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_UNCHANGED, "%d %s", rc, err);
	ck_assert_ptr_null(idx2);
	ck_assert_int_eq(tg_fake_count(&fake, "/v1/forms/1FAIpQLSdTestForm?"), 0);	/* No forms.get. */
	ck_assert_ptr_nonnull(tg_fake_find(&fake,
		"/responses?pageSize=50&filter=timestamp%20%3E%3D%202026-09-05T07%3A00%3A00Z&prettyPrint=false"));

	/* Bob agrees again: merged with prev. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "filter=", 200, incr);
	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx2), cb_ack_index_count(idx));
	ck_assert(!tg_find(idx2, "bob@school.example")->revoked);
	ck_assert_str_eq(tg_find(idx2, "bob@school.example")->origin, "forms:ACYDBNk7");
	ck_assert(!tg_find(idx2, "alice@school.example")->revoked);
	ck_assert(tg_find(idx2, "carol@school.example")->revoked);

	/* A full fetch re-reads everything (and forms.get). */
	tg_fake_clear(&fake);
	forms_routes(&fake, fx2);
	cb_ack_index_unref(tg_fetch(src, idx2, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_OK);
	ck_assert_ptr_null(tg_fake_find(&fake, "filter="));
	ck_assert_int_eq(tg_fake_count(&fake, "/v1/forms/1FAIpQLSdTestForm?"), 1);

	cb_ack_index_unref(idx);
	cb_ack_index_unref(idx2);
	src->free(src);
	for (int i = 0; i < 3; i++) {
		free(fx[i]);
		free(fx2[i]);
	}
	free(incr);
	free(same);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_forms_config_errors)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char err[1024];
	cb_source_t *src;
	cb_gsource_forms_conf_t fc = { 0 };
	cb_google_conf_t gc;
	cb_source_result_t rc;

	tg_google_conf(&gc, key_path);
	ck_assert_ptr_null(cb_gsource_forms_new(&fc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "forms.form_id is required") != NULL, "%s", err);
	fc.form_id = "bad id/..";
	ck_assert_ptr_null(cb_gsource_forms_new(&fc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "forms.form_id") != NULL, "%s", err);
	fc.form_id = "abc";
	ck_assert_ptr_null(cb_gsource_forms_new(&fc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "forms.agreement_question is required") != NULL, "%s", err);
	fc.agreement_question = "x";
	fc.page_size = 6000;
	ck_assert_ptr_null(cb_gsource_forms_new(&fc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "forms.page_size") != NULL, "%s", err);

	/* A missing question names the questions that exist. */
	src = forms_source(&fake, &log, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/v1/forms/1FAIpQLSdTestForm?", 200,
		      "{\"settings\":{\"emailCollectionType\":\"VERIFIED\"},\"items\":[{\"title\":\"Do you agree?\","
		      "\"questionItem\":{\"question\":{\"questionId\":\"q1\"}}}]}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "has no question titled") && strstr(err, "\"Do you agree?\""), "%s", err);
	src->free(src);
	tg_fake_clear(&fake);

	/* A form that does not collect emails. */
	src = forms_source(&fake, &log, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/v1/forms/1FAIpQLSdTestForm?", 200,
		      "{\"settings\":{\"emailCollectionType\":\"DO_NOT_COLLECT\"},\"items\":[]}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "the form must collect verified email addresses") != NULL, "%s", err);
	src->free(src);
	tg_fake_clear(&fake);

	/* Responses without any email (older revisions do not say what the form collects). */
	src = forms_source(&fake, &log, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/responses?", 200,
		      "{\"responses\":[{\"responseId\":\"r1\",\"lastSubmittedTime\":\"2026-09-01T08:00:00Z\"}]}");
	tg_fake_route(&fake, "/v1/forms/1FAIpQLSdTestForm?", 200,
		      "{\"items\":[{\"title\":\"Do you agree to the Mobile Devices and Smart Technology Policy?\","
		      "\"questionItem\":{\"question\":{\"questionId\":\"q1\"}}},{\"title\":\"Policy version\","
		      "\"questionItem\":{\"question\":{\"questionId\":\"q2\"}}}]}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "none of the 1 responses") && strstr(err, "must collect verified email"), "%s", err);
	src->free(src);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_forms_retry_paths)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char *fx[3], err[1024];
	cb_source_t *src = forms_source(&fake, &log, 0);
	cb_source_result_t rc;
	unsigned int ra = 0;
	tg_route_t *r;

	/* Page 2 answers 429 with Retry-After. */
	tg_fake_token(&fake);
	r = tg_fake_route_n(&fake, "pageToken=", 429, "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}", 1);
	r->retry_after = 30;
	forms_routes(&fake, fx);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_int_eq(ra, 30);
	ck_assert_msg(strstr(err, "quota") != NULL, "%s", err);

	/* A timeout: retry, no Retry-After. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	r = tg_fake_route_n(&fake, "/v1/forms/", 0, NULL, 1);
	r->result = CB_HTTP_TIMEOUT;
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_int_eq(ra, 0);

	/* A page token that never changes is an error, not an endless loop. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/responses?", 200, "{\"responses\":[],\"nextPageToken\":\"same\"}");
	free(fx[0]);
	fx[0] = tg_read_fixture("form.json");
	tg_fake_route(&fake, "/v1/forms/1FAIpQLSdTestForm?", 200, fx[0]);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "same nextPageToken") != NULL, "%s", err);
	free(fx[0]);

	src->free(src);
	for (int i = 1; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

/*
 *	Sheets
 */
static cb_source_t *sheets_source(tg_fake_t *fake, tg_log_t *log, char const *range, uint32_t block)
{
	static char const *agree[] = { "I agree" };
	cb_gsource_sheets_conf_t sc = {
		.spreadsheet_id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
		.range = range,
		.email_column = "email address",
		.agreement_column = "Do you agree to the policy?",
		.agree_values = { agree, 1 },
		.policy_version_column = "policy version",
		.allowed_domains = { school, 1 },
		.rows_per_request = block,
		.allow_unverified_email = true,		/* Most tests read a sheet alone; test_sheets_form checks the form. */
	};
	cb_google_conf_t gc;
	cb_source_t *src;
	char err[512];

	tg_google_conf(&gc, key_path);
	src = cb_gsource_sheets_new(&sc, &gc, tg_log, log, err, sizeof(err));
	ck_assert_msg(src != NULL, "%s", err);
	cb_http_set_fake(cb_gsource_http(src), tg_fake_fn, fake);
	return src;
}

static void sheets_routes(tg_fake_t *fake, char **fx)
{
	fx[0] = tg_read_fixture("drive.json");
	fx[1] = tg_read_fixture("sheet_props.json");
	fx[2] = tg_read_fixture("sheet_values.json");
	tg_fake_token(fake);
	tg_fake_route(fake, "/drive/v3/files/", 200, fx[0]);
	tg_fake_route(fake, "/values/", 200, fx[2]);
	tg_fake_route(fake, "/v4/spreadsheets/", 200, fx[1]);
}

START_TEST(test_sheets_parse)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char *fx[3], err[1024];
	cb_source_t *src = sheets_source(&fake, &log, "'Form responses 1'!A:F", 0);
	cb_ack_index_t *idx;
	cb_ack_record_t const *r;
	cb_source_result_t rc;

	sheets_routes(&fake, fx);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d: %s", rc, err);

	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/drive/v3/files/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms?"
					   "fields=version%2CmodifiedTime"));
	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms?"
					   "fields=properties.timeZone"));
	/* The range is quoted, percent-encoded and bounded by the tab's rowCount. */
	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/values/%27Form%20responses%201%27%21A1%3AF1000?majorDimension=ROWS&"
					   "valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=SERIAL_NUMBER"));

	/* Daylight saving in Europe/London: last Sundays of March and October 2026. */
	ck_assert_int_eq(tg_find(idx, "a1@school.example")->ack_time, when("2026-03-29T00:30:00Z"));
	ck_assert_int_eq(tg_find(idx, "a2@school.example")->ack_time, when("2026-03-29T01:30:00Z"));	/* In the gap. */
	ck_assert_int_eq(tg_find(idx, "a3@school.example")->ack_time, when("2026-03-29T01:30:00Z"));	/* 02:30 BST. */
	ck_assert_int_eq(tg_find(idx, "a4@school.example")->ack_time, when("2026-10-24T23:30:00Z"));	/* 00:30 BST. */
	ck_assert_int_eq(tg_find(idx, "a5@school.example")->ack_time, when("2026-10-25T00:30:00Z"));	/* First 01:30. */
	ck_assert_int_eq(tg_find(idx, "a6@school.example")->ack_time, when("2026-10-25T02:30:00Z"));	/* 02:30 GMT. */

	/* A numeric policy version, a short row, the Revoked column, a conflict. */
	r = tg_find(idx, "a1@school.example");
	ck_assert_str_eq(r->policy_version, "2026");
	ck_assert_str_eq(r->origin, "sheet:row 2");
	ck_assert(!r->revoked);
	ck_assert_str_eq(tg_find(idx, "a3@school.example")->policy_version, "");
	ck_assert(tg_find(idx, "b2@school.example")->revoked);
	ck_assert(!tg_find(idx, "b3@school.example")->revoked);
	ck_assert(tg_find(idx, "b4@school.example")->revoked);
	ck_assert(tg_find(idx, "b7@school.example")->revoked);		/* TRUE is not "I agree". */
	ck_assert_int_eq(tg_find(idx, "b8@school.example")->ack_time, when("2026-09-01T08:00:00Z"));
	ck_assert(!tg_find(idx, "b9@school.example")->revoked);		/* Revoked = FALSE. */
	ck_assert_ptr_null(cb_ack_index_find(idx, "b1@school.example"));
	ck_assert_ptr_null(cb_ack_index_find(idx, "b5@school.example"));
	ck_assert_ptr_null(cb_ack_index_find(idx, "b6@school.example"));
	ck_assert_ptr_null(cb_ack_index_find(idx, "x@gmail.com"));
	ck_assert_int_eq(cb_ack_index_count(idx), 12);

	/* Each problem names its row and column. */
	ck_assert_msg(tg_log_has(&log, "row 8, column B (email address): holds a formula"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 9, column C (Do you agree to the policy?): holds a spreadsheet error value"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 12 duplicates row 11"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "rows 13 and 14 of b4@school.example"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 15, column B (email address): x@gmail.com is not in an allowed domain"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 17, column A (Timestamp): \"not a date\" is not a date and time"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 18, column B (email address): no email address"), "%s", log.text);
	ck_assert_msg(tg_log_has(&log, "row 19, column F (Revoked): \"maybe\""), "%s", log.text);
	ck_assert_msg(!tg_log_has(&log, "row 16"), "%s", log.text);	/* An empty row is not a problem. */

	cb_ack_index_unref(idx);
	src->free(src);
	for (int i = 0; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_sheets_unchanged_version)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char *fx[3], err[1024];
	cb_source_t *src = sheets_source(&fake, &log, NULL, 0);
	cb_ack_index_t *idx, *idx2;
	cb_source_result_t rc;

	sheets_routes(&fake, fx);
	idx = tg_fetch(src, NULL, false, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%s", err);
	/* No range configured: the first tab, every column. */
	ck_assert_ptr_nonnull(tg_fake_find(&fake, "/values/%27Form%20responses%201%27%211%3A1000?"));

	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_int_eq(rc, CB_FETCH_UNCHANGED);
	ck_assert_ptr_null(idx2);
	/* Two values.get: the fixture has a numeric version, so the block is read formatted too. */
	ck_assert_int_eq(tg_fake_count(&fake, "/values/"), 2);
	ck_assert_int_eq(tg_fake_count(&fake, "valueRenderOption=FORMATTED_VALUE"), 1);
	ck_assert_int_eq(tg_fake_count(&fake, "/drive/v3/files/"), 2);

	/* A full fetch reads it anyway. */
	idx2 = tg_fetch(src, idx, true, &rc, NULL, err, sizeof(err));
	ck_assert_int_eq(rc, CB_FETCH_OK);
	ck_assert_int_eq(tg_fake_count(&fake, "/values/"), 4);
	cb_ack_index_unref(idx2);

	/* A new version is read. */
	tg_fake_clear(&fake);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"18\"}");
	tg_fake_route(&fake, "/values/", 200, fx[2]);
	tg_fake_route(&fake, "/v4/spreadsheets/", 200, fx[1]);
	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_int_eq(rc, CB_FETCH_OK);
	cb_ack_index_unref(idx2);

	cb_ack_index_unref(idx);
	src->free(src);
	for (int i = 0; i < 3; i++) free(fx[i]);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_sheets_blocks)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char err[1024];
	cb_source_t *src = sheets_source(&fake, &log, "'It''s the responses'!B2:E", 3);
	cb_ack_index_t *idx;
	cb_source_result_t rc;

	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"1\"}");
	tg_fake_route(&fake, "/values/%27It%27%27s%20the%20responses%27%21B2%3AE4?", 200,
		      "{\"values\":[[\"timestamp\",\"Email Address\",\"Do you agree to the policy?\",\"Policy version\"],"
		      "[46100.5,\"u1@school.example\",\"I agree\"],[46100.6,\"u2@school.example\",\"I agree\"]]}");
	tg_fake_route(&fake, "/values/%27It%27%27s%20the%20responses%27%21B5%3AE7?", 200,
		      "{\"values\":[[46100.7,\"u3@school.example\",\"I agree\"],[],[46100.8,\"u4@school.example\",\"I agree\"]]}");
	tg_fake_route(&fake, "/values/%27It%27%27s%20the%20responses%27%21B8%3AE10?", 200,
		      "{\"values\":[[46100.9,\"u5@school.example\",\"I agree\"]]}");
	tg_fake_route(&fake, "/v4/spreadsheets/", 200,
		      "{\"properties\":{\"timeZone\":\"GMT-07:00\"},\"sheets\":[{\"properties\":{\"title\":\"Other\"}},"
		      "{\"properties\":{\"title\":\"It's the responses\"}}]}");
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 5);
	ck_assert_int_eq(tg_fake_count(&fake, "/values/"), 3);	/* The short third block ends it. */
	ck_assert_str_eq(tg_find(idx, "u4@school.example")->origin, "sheet:row 7");
	/* GMT-07:00: serial 46100.5 is 2026-03-19 12:00 local = 19:00Z. */
	ck_assert_int_eq(tg_find(idx, "u1@school.example")->ack_time, when("2026-03-19T19:00:00Z"));
	cb_ack_index_unref(idx);
	src->free(src);
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

START_TEST(test_sheets_errors)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	char err[1024], *props = tg_read_fixture("sheet_props.json");
	cb_source_t *src;
	cb_source_result_t rc;
	cb_gsource_sheets_conf_t sc = { 0 };
	cb_google_conf_t gc;

	tg_google_conf(&gc, key_path);
	ck_assert_ptr_null(cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "sheets.spreadsheet_id is required") != NULL, "%s", err);
	sc.spreadsheet_id = "abc";
	ck_assert_ptr_null(cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "sheets.agreement_column is required") != NULL, "%s", err);
	sc.agreement_column = "x";
	sc.range = "'unterminated!A:Z";
	sc.allow_unverified_email = true;
	ck_assert_ptr_null(cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "sheets.range") != NULL, "%s", err);
	sc.range = NULL;
	sc.allow_unverified_email = false;
	/* Neither the form to check nor an explicit allow_unverified_email: refused, naming both. */
	ck_assert_ptr_null(cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "sheets.form_id is required") && strstr(err, "sheets.allow_unverified_email = yes"), "%s", err);
	sc.form_id = "not a form";
	ck_assert_ptr_null(cb_gsource_sheets_new(&sc, &gc, tg_log, &log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "sheets.form_id \"not a form\" is not a form id") != NULL, "%s", err);
	sc.form_id = NULL;

	/* A tab name that differs only in case: read, with a warning, under its real name. */
	{
		char *values = tg_read_fixture("sheet_values.json");
		cb_ack_index_t *idx;

		src = sheets_source(&fake, &log, "'FORM RESPONSES 1'!A:F", 0);
		tg_fake_token(&fake);
		tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"1\"}");
		tg_fake_route(&fake, "/values/%27Form%20responses%201%27%21A1%3AF1000?", 200, values);
		tg_fake_route(&fake, "/v4/spreadsheets/", 200, props);
		idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
		ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
		ck_assert_msg(tg_log_has(&log, "no tab is named \"FORM RESPONSES 1\"; reading \"Form responses 1\""),
			      "%s", log.text);
		cb_ack_index_unref(idx);
		src->free(src);
		tg_fake_clear(&fake);
		free(values);
	}

	/* A tab that is not there is named, with the tabs that are. */
	src = sheets_source(&fake, &log, "'Form Responses 2'!A:Z", 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"1\"}");
	tg_fake_route(&fake, "/v4/spreadsheets/", 200, props);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "no tab named \"Form Responses 2\"") && strstr(err, "\"Form responses 1\", \"IT notes\""),
		      "%s", err);
	src->free(src);
	tg_fake_clear(&fake);

	/* A renamed column is named, with the headers that are there. */
	src = sheets_source(&fake, &log, NULL, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 403, "{\"error\":{\"code\":403,\"message\":\"Drive API disabled\","
		      "\"errors\":[{\"reason\":\"accessNotConfigured\"}]}}");
	tg_fake_route(&fake, "/values/", 200, "{\"values\":[[\"Timestamp\",\"Email\",\"Agreed\"]]}");
	tg_fake_route(&fake, "/v4/spreadsheets/", 200, props);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "no column headed \"email address\" (sheets.email_column)") &&
		      strstr(err, "\"Timestamp\", \"Email\", \"Agreed\""), "%s", err);
	/* The Drive failure was only a warning. */
	ck_assert_msg(tg_log_has(&log, "reading it anyway"), "%s", log.text);
	src->free(src);
	tg_fake_clear(&fake);

	/* Not shared: 403 names the service account. */
	src = sheets_source(&fake, &log, NULL, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"1\"}");
	tg_fake_route(&fake, "/v4/spreadsheets/", 403, "{\"error\":{\"code\":403,\"message\":\"The caller does not have "
		      "permission\",\"status\":\"PERMISSION_DENIED\"}}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "share the spreadsheet with " TG_EMAIL) != NULL, "%s", err);
	src->free(src);
	tg_fake_clear(&fake);

	/* An empty range. */
	src = sheets_source(&fake, &log, NULL, 0);
	tg_fake_token(&fake);
	tg_fake_route(&fake, "/drive/v3/files/", 200, "{\"version\":\"1\"}");
	tg_fake_route(&fake, "/values/", 200, "{\"range\":\"x\",\"majorDimension\":\"ROWS\"}");
	tg_fake_route(&fake, "/v4/spreadsheets/", 200, props);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "is empty (no header row)") != NULL, "%s", err);
	src->free(src);
	tg_fake_clear(&fake);

	free(props);
	tg_log_clear(&log);
}
END_TEST

/*
 *	Hostile input: every fixture, damaged byte by byte, must give a result
 *	(never a crash, a leak or a sanitizer report).
 */
static void mutate_fetch(cb_source_t *src, tg_fake_t *fake, tg_log_t *log, char const *match, char const *text,
			 void (*routes)(tg_fake_t *, char **), int *ok)
{
	static char const repl[] = { '"', '}', '[', '9', '\\', ',' };
	size_t len = strlen(text);
	char *m = malloc(len + 1), *fx[3], err[1024];
	cb_source_result_t rc;

	for (size_t i = 0; i < len; i += 5) {
		for (size_t k = 0; k < sizeof(repl); k++) {
			memcpy(m, text, len + 1);
			if (m[i] == repl[k]) continue;
			m[i] = repl[k];
			tg_fake_clear(fake);
			tg_log_clear(log);
			tg_fake_token(fake);
			tg_fake_route(fake, match, 200, m);
			routes(fake, fx);
			cb_ack_index_unref(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
			ck_assert(rc == CB_FETCH_OK || rc == CB_FETCH_ERROR || rc == CB_FETCH_RETRY);
			if (rc == CB_FETCH_OK) (*ok)++;
			for (int j = 0; j < 3; j++) free(fx[j]);
		}
	}
	free(m);
}

START_TEST(test_hostile_input)
{
	tg_fake_t fake = { 0 };
	tg_log_t log = { 0 };
	cb_source_t *src;
	char *text;
	int ok = 0;

	src = forms_source(&fake, &log, 0);
	text = tg_read_fixture("responses_p1.json");
	mutate_fetch(src, &fake, &log, "/responses?pageSize=2500&prettyPrint", text, forms_routes, &ok);
	free(text);
	text = tg_read_fixture("form.json");
	mutate_fetch(src, &fake, &log, "/v1/forms/1FAIpQLSdTestForm?", text, forms_routes, &ok);
	free(text);
	src->free(src);
	tg_log_clear(&log);

	src = sheets_source(&fake, &log, NULL, 0);
	text = tg_read_fixture("sheet_values.json");
	mutate_fetch(src, &fake, &log, "/values/", text, sheets_routes, &ok);
	free(text);
	text = tg_read_fixture("sheet_props.json");
	mutate_fetch(src, &fake, &log, "/v4/spreadsheets/", text, sheets_routes, &ok);
	free(text);
	src->free(src);
	ck_assert_int_gt(ok, 0);	/* Some damage is harmless (inside a string). */
	tg_fake_clear(&fake);
	tg_log_clear(&log);
}
END_TEST

/*
 *	Shared checks
 */
START_TEST(test_cells_and_lists)
{
	static char const *vals[] = { "I agree", " Yes " };
	cb_strlist_t l = { vals, 2 };
	static char const *doms[] = { "school.example", "@trust.example" };
	cb_strlist_t d = { doms, 2 }, none = { NULL, 0 };

	ck_assert(cb_strlist_has(&l, "i agree", 7));
	ck_assert(cb_strlist_has(&l, "  YES\t", 6));
	ck_assert(!cb_strlist_has(&l, "I agreed", 8));
	ck_assert(cb_gsource_domain_allowed(&d, "a@school.example"));
	ck_assert(cb_gsource_domain_allowed(&d, "a@trust.example"));
	ck_assert(!cb_gsource_domain_allowed(&d, "a@sub.school.example"));
	ck_assert(!cb_gsource_domain_allowed(&d, "a@school.example.evil"));
	ck_assert(cb_gsource_domain_allowed(&none, "a@anything"));
	ck_assert_ptr_nonnull(cb_gsource_cell_problem("=IMPORTXML(\"x\")"));
	ck_assert_ptr_nonnull(cb_gsource_cell_problem(" #N/A"));
	ck_assert_ptr_nonnull(cb_gsource_cell_problem("a\001b"));
	ck_assert_ptr_null(cb_gsource_cell_problem("I agree"));
	ck_assert_ptr_null(cb_gsource_cell_problem("#1 fan"));
}
END_TEST

/*
 *	Mass-removal guard
 */
static cb_ack_index_t *index_of(int agreed, int revoked, int offset)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	char email[64];

	for (int i = 0; i < agreed + revoked; i++) {
		snprintf(email, sizeof(email), "user%d@school.example", i + offset);
		ck_assert_int_eq(cb_ack_builder_add(b, email, 1000 + i, "", i >= agreed, "test"), 0);
	}
	return cb_ack_builder_finish(b, 1);
}

START_TEST(test_guard)
{
	cb_guard_conf_t conf = { .max_removal_percent = 10, .min_removals = 5 };
	cb_guard_result_t res;
	cb_ack_index_t *old = index_of(1000, 0, 0), *n;
	char msg[1024];

	/* 100 of 1000 missing: exactly 10%, applied. */
	n = index_of(900, 0, 100);
	ck_assert(!cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	ck_assert_int_eq(res.removed, 100);
	ck_assert_int_eq(res.missing, 100);
	ck_assert_int_eq(res.old_agreed, 1000);
	ck_assert_int_eq(res.new_agreed, 900);
	cb_ack_index_unref(n);

	/* 101 missing: held, with the reason. */
	n = index_of(899, 0, 101);
	ck_assert(cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	ck_assert_int_eq(res.removed, 101);
	ck_assert_msg(strstr(msg, "remove 101 of the 1000 agreements") && strstr(msg, "max_removal_percent = 10%"), "%s", msg);
	cb_ack_index_unref(n);

	/* Everybody withdrawn (a renamed agreement column): held, counted as withdrawn. */
	n = index_of(0, 1000, 0);
	ck_assert(cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	ck_assert_int_eq(res.withdrawn, 1000);
	ck_assert_int_eq(res.missing, 0);
	cb_ack_index_unref(n);

	/* An empty new index after a deleted tab: held. */
	n = index_of(0, 0, 0);
	ck_assert(cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	cb_ack_index_unref(n);
	cb_ack_index_unref(old);

	/* Small numbers: 4 of 10 removed is under min_removals, applied; 5 is held. */
	old = index_of(10, 0, 0);
	n = index_of(6, 0, 4);
	ck_assert(!cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	cb_ack_index_unref(n);
	n = index_of(5, 0, 5);
	ck_assert(cb_guard_check(&conf, old, n, &res, msg, sizeof(msg)));
	cb_ack_index_unref(n);

	/* No index yet: never held; additions counted. */
	n = index_of(20, 0, 0);
	ck_assert(!cb_guard_check(&conf, NULL, n, &res, msg, sizeof(msg)));
	ck_assert_int_eq(res.added, 20);
	cb_ack_index_unref(n);
	cb_ack_index_unref(old);
}
END_TEST

START_TEST(test_backoff)
{
	for (unsigned int n = 0; n < 40; n++) {
		for (uint32_t rnd = 0; rnd < 5000; rnd += 997) {
			uint32_t d = cb_backoff_delay_ms(n, 32000, 0, rnd);
			uint64_t lo = n < 16 ? ((uint64_t) 1000 << n) : UINT64_MAX;

			if (lo > 32000) lo = 32000;
			ck_assert_uint_ge(d, lo);
			ck_assert_uint_le(d, lo == 32000 ? 32000 : lo + 999);
		}
	}
	ck_assert_uint_eq(cb_backoff_delay_ms(0, 32000, 0, 1234), 1234);
	ck_assert_uint_eq(cb_backoff_delay_ms(3, 32000, 0, 0), 8000);
	ck_assert_uint_eq(cb_backoff_delay_ms(10, 0, 0, 0), 32000);		/* 0: the 32 s default. */
	ck_assert_uint_eq(cb_backoff_delay_ms(0, 32000, 45, 0), 45000);		/* Retry-After beyond max is honoured. */
	ck_assert_uint_eq(cb_backoff_delay_ms(4, 32000, 2, 500), 16500);	/* ... and never shortens the backoff. */
	ck_assert_uint_eq(cb_backoff_delay_ms(0, 32000, 999999, 0), CB_BACKOFF_RETRY_AFTER_MAX * 1000);
	ck_assert_uint_eq(cb_backoff_delay_ms(UINT32_MAX, 60000, 0, UINT32_MAX), 60000);
	(void) cb_backoff_random();
}
END_TEST

/*
 *	Snapshot
 */
static char *snap_text(char const *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t) n + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t) n, fp), (size_t) n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t) n;
	return buf;
}

static void snap_write(char const *path, char const *text, size_t len)
{
	FILE *fp = fopen(path, "wb");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fwrite(text, 1, len, fp), len);
	fclose(fp);
}

START_TEST(test_snapshot_round_trip)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx, *back;
	cb_snapshot_info_t info;
	char path[1024], err[1024];
	struct stat st;
	cb_ack_record_t const *r;

	ck_assert_int_eq(cb_ack_builder_add(b, "a@school.example", 1788249600, "2026", false, "forms:ACYD\"quoted\""), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "b@school.example", 1788253200, "", true, "sheet:row 9"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "c.d@school.example", 1, "v/1 \xc3\xa9", false, "file:12"), 0);
	idx = cb_ack_builder_finish(b, 1788260000);
	snprintf(path, sizeof(path), "%s/%s", dir, CB_SNAPSHOT_FILE);

	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), 1);	/* None yet. */
	ck_assert_ptr_null(back);
	ck_assert_msg(cb_snapshot_save(path, idx, 1788259999, "forms", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_msg(cb_snapshot_save(path, idx, 1788259999, "forms", err, sizeof(err)) == 0, "%s", err);	/* Replace. */

	ck_assert_msg(cb_snapshot_load(path, &back, &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(info.synced_at, 1788259999);
	ck_assert_int_eq(info.built_at, 1788260000);
	ck_assert_int_eq(info.count, 3);
	ck_assert_str_eq(info.source, "forms");
	ck_assert_int_eq(cb_ack_index_count(back), 3);
	ck_assert_int_eq(cb_ack_index_built_at(back), 1788260000);
	r = tg_find(back, "a@school.example");
	ck_assert_int_eq(r->ack_time, 1788249600);
	ck_assert_str_eq(r->policy_version, "2026");
	ck_assert_str_eq(r->origin, "forms:ACYD\"quoted\"");
	ck_assert(!r->revoked);
	ck_assert(tg_find(back, "b@school.example")->revoked);
	ck_assert_str_eq(tg_find(back, "c.d@school.example")->policy_version, "v/1 \xc3\xa9");
	cb_ack_index_unref(back);
	cb_ack_index_unref(idx);
}
END_TEST

START_TEST(test_snapshot_corruption)
{
	cb_ack_index_t *idx = index_of(50, 10, 0), *back;
	cb_snapshot_info_t info;
	char path[1024], err[1024], *orig, *copy, *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, CB_SNAPSHOT_FILE);
	ck_assert_int_eq(cb_snapshot_save(path, idx, 5, "sheets", err, sizeof(err)), 0);
	orig = snap_text(path, &len);
	copy = malloc(len + 1);

	/* Truncated anywhere: refused. */
	for (size_t cut = 0; cut < len; cut += len / 37 + 1) {
		snap_write(path, orig, cut);
		ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), -1);
		ck_assert_ptr_null(back);
		ck_assert_msg(strstr(err, "corrupt") != NULL, "%s", err);
	}
	/* One record edited (agreed -> revoked): the digest no longer matches. */
	memcpy(copy, orig, len + 1);
	p = strstr(copy, "\"revoked\":false");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "\"revoked\":true ", 15);
	snap_write(path, copy, len);
	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "SHA-256 mismatch") != NULL, "%s", err);
	/* A flipped bit in the digest. */
	memcpy(copy, orig, len + 1);
	copy[len - 5] ^= 1;
	snap_write(path, copy, len);
	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), -1);
	/* Text after the trailer. */
	snap_write(path, orig, len);
	{
		FILE *fp = fopen(path, "ab");

		fputs("{\"email\":\"x@y.z\"}\n", fp);
		fclose(fp);
	}
	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), -1);
	/* Not ours at all. */
	snap_write(path, "{\"hello\":1}\n", 12);
	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a cetbyod snapshot") != NULL, "%s", err);
	/* The original still loads. */
	snap_write(path, orig, len);
	ck_assert_int_eq(cb_snapshot_load(path, &back, &info, err, sizeof(err)), 0);
	ck_assert_int_eq(cb_ack_index_count(back), 60);
	ck_assert_int_eq(cb_ack_index_agreed(back), 50);
	cb_ack_index_unref(back);

	/* A directory that cannot be written: the error says so, nothing is left behind. */
	ck_assert_int_eq(cb_snapshot_save("/nonexistent-dir/x.snapshot", idx, 5, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "temporary file") != NULL, "%s", err);

	free(orig);
	free(copy);
	cb_ack_index_unref(idx);
}
END_TEST

/*
 *	HTTP
 */
START_TEST(test_http_conf)
{
	cb_http_conf_t hc = { .ca_file = "/nonexistent/ca.pem" };
	cb_http_t *h;
	cb_http_response_t resp;
	cb_http_request_t req = { .url = "http://127.0.0.1:1/" };
	char err[512], esc[64];

	ck_assert_ptr_null(cb_http_new(&hc, err, sizeof(err)));
	ck_assert_msg(strstr(err, "ca_file") != NULL, "%s", err);
	hc.ca_file = NULL;
	hc.proxy = "socks5://127.0.0.1:1080";
	ck_assert_ptr_null(cb_http_new(&hc, err, sizeof(err)));
	hc.proxy = NULL;
	h = cb_http_new(&hc, err, sizeof(err));
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(cb_http_perform(h, &req, &resp, err, sizeof(err)), CB_HTTP_ERROR);	/* https only. */
	ck_assert_msg(strstr(err, "only https://") != NULL, "%s", err);
	cb_http_response_clear(&resp);
	ck_assert_int_eq(cb_http_escape(h, "'Form responses 1'!A:Z", esc, sizeof(esc)), 34);
	ck_assert_str_eq(esc, "%27Form%20responses%201%27%21A%3AZ");
	ck_assert_int_eq(cb_http_escape(h, "'Form responses 1'!A:Z", esc, 10), -1);
	cb_http_free(h);
}
END_TEST

Suite *tg_unit_suite(void)
{
	Suite *s = suite_create("google");
	TCase *tc;

	tc = tcase_create("auth");
	tcase_add_unchecked_fixture(tc, keygen_once, keygen_free);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_jwt_structure_and_signature);
	tcase_add_test(tc, test_key_file_refused);
	tcase_add_test(tc, test_key_file_pkcs1);
	tcase_add_test(tc, test_token_cached_and_dropped);
	tcase_add_test(tc, test_token_errors);
	tcase_add_test(tc, test_explain);
	tcase_add_test(tc, test_get_json_401_retried_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("sources");
	tcase_add_unchecked_fixture(tc, keygen_once, keygen_free);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_forms_parse);
	tcase_add_test(tc, test_forms_incremental);
	tcase_add_test(tc, test_forms_config_errors);
	tcase_add_test(tc, test_forms_retry_paths);
	tcase_add_test(tc, test_sheets_parse);
	tcase_add_test(tc, test_sheets_unchanged_version);
	tcase_add_test(tc, test_sheets_blocks);
	tcase_add_test(tc, test_sheets_errors);
	tg_add_sheets_tests(tc);
	tcase_add_test(tc, test_cells_and_lists);
	tcase_add_test(tc, test_hostile_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("sync");
	tcase_add_unchecked_fixture(tc, keygen_once, keygen_free);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_guard);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_snapshot_round_trip);
	tcase_add_test(tc, test_snapshot_corruption);
	tcase_add_test(tc, test_http_conf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (curl_global_init(CURL_GLOBAL_ALL) != 0) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	sr = srunner_create(tg_unit_suite());
	srunner_add_suite(sr, tg_emu_suite());
	srunner_add_suite(sr, tg_changes_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
