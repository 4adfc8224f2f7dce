/*
 * test_google_util.c - helpers of the Google tests (see test_google.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "test_google.h"
#include "test_tmp.h"

char *tg_mkdtemp_in(char const *parent)
{
	char path[512];
	char *d;

	if (!parent) {
		test_tmp_dir("cetbyod-google", path, sizeof(path));
		return strdup(path);
	}
	snprintf(path, sizeof(path), "%s/cetbyod-google.XXXXXX", parent);
	d = mkdtemp(path);
	ck_assert_msg(d != NULL, "mkdtemp: %s", strerror(errno));
	return strdup(d);
}

char *tg_mkdtemp(void)
{
	return tg_mkdtemp_in(NULL);
}

void tg_rmdir(char const *dir)
{
	test_tmp_remove_tree(dir);
}

char *tg_write_file(char const *dir, char const *name, char const *text, int mode)
{
	char path[1024];
	int fd;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
	ck_assert_int_eq(fchmod(fd, (mode_t) mode), 0);
	close(fd);
	return strdup(path);
}

char *tg_read_fixture(char const *name)
{
	char const *srcdir = getenv("srcdir");
	char path[1024];
	FILE *fp;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/tests/unit/fixtures/google/%s", srcdir && *srcdir ? srcdir : ".", name);
	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "fixture %s: %s (is $srcdir set?)", path, strerror(errno));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t) n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t) n, fp), (size_t) n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static char *bio_text(BIO *bio)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = malloc((size_t) n + 1);

	memcpy(out, data, (size_t) n);
	out[n] = '\0';
	return out;
}

char *tg_make_key(char const *dir, char const *name, int mode, bool pkcs1, char **pub_pem)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	EVP_PKEY *pkey = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	json_object *o = json_object_new_object();
	char *pem, *path;

	ck_assert(ctx && bio && o);
	ck_assert_int_eq(EVP_PKEY_keygen_init(ctx), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 0);
	ck_assert_int_eq(EVP_PKEY_keygen(ctx, &pkey), 1);
	if (pkcs1) {
		ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	} else {
		ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	}
	pem = bio_text(bio);
	if (pub_pem) {
		BIO *pb = BIO_new(BIO_s_mem());

		ck_assert_int_eq(PEM_write_bio_PUBKEY(pb, pkey), 1);
		*pub_pem = bio_text(pb);
		BIO_free(pb);
	}
	json_object_object_add(o, "type", json_object_new_string("service_account"));
	json_object_object_add(o, "project_id", json_object_new_string("test-project"));
	json_object_object_add(o, "private_key_id", json_object_new_string(TG_KID));
	json_object_object_add(o, "private_key", json_object_new_string(pem));
	json_object_object_add(o, "client_email", json_object_new_string(TG_EMAIL));
	json_object_object_add(o, "client_id", json_object_new_string("112233445566778899"));
	json_object_object_add(o, "token_uri", json_object_new_string("https://oauth2.googleapis.com/token"));
	path = tg_write_file(dir, name, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY), mode);

	json_object_put(o);
	free(pem);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return path;
}

/*
 *	Log collector
 */
void tg_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	tg_log_t *log = uctx;
	char line[2048];
	va_list ap;
	size_t n;
	char *t;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == CB_LOG_WARN) log->warnings++;
	if (level == CB_LOG_ERROR) log->errors++;
	if (getenv("TG_VERBOSE")) fprintf(stderr, "log[%d]: %s\n", (int) level, line);
	n = strlen(line);
	t = realloc(log->text, log->len + n + 2);
	ck_assert_ptr_nonnull(t);
	log->text = t;
	memcpy(log->text + log->len, line, n);
	log->len += n;
	log->text[log->len++] = '\n';
	log->text[log->len] = '\0';
}

void tg_log_clear(tg_log_t *log)
{
	free(log->text);
	memset(log, 0, sizeof(*log));
}

bool tg_log_has(tg_log_t const *log, char const *needle)
{
	return log->text && strstr(log->text, needle) != NULL;
}

/*
 *	Fake transport
 */
tg_route_t *tg_fake_route_n(tg_fake_t *f, char const *match, long status, char const *body, int uses)
{
	tg_route_t *r;

	ck_assert_int_lt(f->nroutes, TG_ROUTES_MAX);
	r = &f->routes[f->nroutes++];
	*r = (tg_route_t) { .match = match, .status = status, .body = body, .retry_after = -1, .uses = uses };
	return r;
}

void tg_fake_route(tg_fake_t *f, char const *match, long status, char const *body)
{
	tg_fake_route_n(f, match, status, body, 0);
}

void tg_fake_token(tg_fake_t *f)
{
	tg_fake_route(f, "/token", 200, "{\"access_token\":\"ya29.test-token\",\"expires_in\":3599,\"token_type\":\"Bearer\"}");
}

cb_http_result_t tg_fake_fn(void *ctx, cb_http_request_t const *req, cb_http_response_t *resp)
{
	tg_fake_t *f = ctx;
	static char const missing[] = "{\"error\":{\"code\":404,\"message\":\"no fake route\",\"status\":\"NOT_FOUND\"}}";

	if (f->nseen < TG_SEEN_MAX) f->seen[f->nseen++] = strdup(req->url);
	if (strstr(req->url, "/token")) {
		char const *a = req->post ? strstr(req->post, "assertion=") : NULL;

		f->token_requests++;
		free(f->last_assertion);
		f->last_assertion = a ? strdup(a + 10) : NULL;
	}
	for (int i = 0; i < f->nroutes; i++) {
		tg_route_t *r = &f->routes[i];

		if (!strstr(req->url, r->match) || (r->uses && r->used >= r->uses)) continue;
		r->used++;
		if (r->result != CB_HTTP_OK) return r->result;
		resp->status = r->status;
		resp->retry_after = r->retry_after;
		resp->body = strdup(r->body ? r->body : "");
		resp->len = strlen(resp->body);
		return CB_HTTP_OK;
	}
	resp->status = 404;
	resp->body = strdup(missing);
	resp->len = strlen(missing);
	return CB_HTTP_OK;
}

void tg_fake_clear(tg_fake_t *f)
{
	for (int i = 0; i < f->nseen; i++) free(f->seen[i]);
	free(f->last_assertion);
	memset(f, 0, sizeof(*f));
}

int tg_fake_count(tg_fake_t const *f, char const *match)
{
	int n = 0;

	for (int i = 0; i < f->nseen; i++) n += strstr(f->seen[i], match) != NULL;
	return n;
}

char const *tg_fake_find(tg_fake_t const *f, char const *match)
{
	for (int i = 0; i < f->nseen; i++) {
		if (strstr(f->seen[i], match)) return f->seen[i];
	}
	return NULL;
}

void tg_google_conf(cb_google_conf_t *g, char const *key_file)
{
	*g = (cb_google_conf_t) {
		.key_file = key_file,
		.token_url = "https://fake.invalid/token",
		.forms_url = "https://fake.invalid",
		.sheets_url = "https://fake.invalid",
		.drive_url = "https://fake.invalid",
		.timeout_ms = 5000,
		.connect_timeout_ms = 2000,
	};
}

cb_ack_index_t *tg_fetch(cb_source_t *src, cb_ack_index_t const *prev, bool full, cb_source_result_t *rc,
			 unsigned int *retry_after, char *err, size_t errlen)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	unsigned int ra = 0;

	ck_assert_ptr_nonnull(b);
	err[0] = '\0';
	*rc = src->fetch(src, b, prev, full, &ra, err, errlen);
	if (retry_after) *retry_after = ra;
	if (*rc != CB_FETCH_OK) {
		cb_ack_builder_free(b);
		return NULL;
	}
	return cb_ack_builder_finish(b, 1000);
}

cb_ack_record_t const *tg_find(cb_ack_index_t const *idx, char const *email)
{
	cb_ack_record_t const *r = cb_ack_index_find(idx, email);

	ck_assert_msg(r != NULL, "no record for %s", email);
	return r;
}
