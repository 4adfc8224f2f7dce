/*
 * test_google_emu.c - the Google sources against tests/google-emulator over
 * real HTTPS: token exchange, paging, the incremental filter, the Drive
 * version check, and the faults (expired token, not shared, 429 with
 * Retry-After, a hanging server, a truncated body, the wrong certificate).
 *
 * The emulator runs for the whole test case: it is started by an unchecked
 * fixture in the parent process (mkcerts.sh into a temporary directory,
 * then /usr/bin/python3 emulator.py on port 0 of 127.0.0.1) and stopped by
 * its PID in the unchecked teardown, which runs even when tests fail, since
 * each test runs in its own forked child.  PR_SET_PDEATHSIG also stops it if
 * the test program dies.  Each test starts with POST /_emulator/reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/tz.h"

#include "test_google.h"
#include "test_proc.h"

#define EMU_FORM	"1FAIpQLSeEmuForm"
#define EMU_SHEET	"1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"

static char *emu_dir;
static pid_t emu_pid = -1;
static int emu_port;
static char emu_error[2048];
static char emu_base[64];
static char emu_token_url[96];

static char const *srcdir(void)
{
	char const *s = getenv("srcdir");

	return s && *s ? s : ".";
}

static void emu_path(char *buf, size_t len, char const *name)
{
	snprintf(buf, len, "%s/certs/%s", emu_dir, name);
}

static char *read_small(char const *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (!fp) return NULL;
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* The private_key_id of the key file, for --key-id. */
static void key_id(char const *path, char *out, size_t len)
{
	char *text = read_small(path);
	json_object *o = text ? json_tokener_parse(text) : NULL, *v;

	out[0] = '\0';
	if (o && json_object_object_get_ex(o, "private_key_id", &v)) snprintf(out, len, "%s", json_object_get_string(v));
	json_object_put(o);
	free(text);
}

static void emu_start(void)
{
	char script[1024], emulator[1024], certs[1024], out[1024], portfile[1024], log[1024];
	char cert[1024], key[1024], pub[1024], sa[1024], kid[128];
	char *port_text;

	emu_dir = tg_mkdtemp();
	snprintf(script, sizeof(script), "%s/tests/google-emulator/mkcerts.sh", srcdir());
	snprintf(emulator, sizeof(emulator), "%s/tests/google-emulator/emulator.py", srcdir());
	snprintf(certs, sizeof(certs), "%s/certs", emu_dir);
	snprintf(out, sizeof(out), "%s/emulator.out", emu_dir);
	snprintf(portfile, sizeof(portfile), "%s/port", emu_dir);
	snprintf(log, sizeof(log), "%s/emulator.log", emu_dir);
	if (access(emulator, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0) {
		snprintf(emu_error, sizeof(emu_error), "%s or /usr/bin/python3 is missing", emulator);
		return;
	}
	{
		char *argv[] = { "/bin/sh", script, certs, NULL };

		if (test_run_wait(argv, out) != 0) {
			snprintf(emu_error, sizeof(emu_error), "mkcerts.sh failed (see %s)", out);
			return;
		}
	}
	emu_path(cert, sizeof(cert), "server.pem");
	emu_path(key, sizeof(key), "server.key");
	emu_path(pub, sizeof(pub), "sa_pub.pem");
	emu_path(sa, sizeof(sa), "sa.json");
	key_id(sa, kid, sizeof(kid));

	{
		char *argv[] = { "/usr/bin/python3", emulator, "--listen", "127.0.0.1", "--port", "0",
				 "--cert", cert, "--key", key, "--service-account-pubkey", pub,
				 "--client-email", TG_EMAIL, "--key-id", kid, "--port-file", portfile, "--log", log, NULL };

		emu_pid = test_spawn(argv, out);
	}
	if (emu_pid < 0) {
		snprintf(emu_error, sizeof(emu_error), "fork: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < 200 && !emu_port; i++) {		/* Up to 10 s. */
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if ((port_text = read_small(portfile))) {
			emu_port = (int) strtol(port_text, NULL, 10);
			if (emu_port < 0) emu_port = 0;
			free(port_text);
		}
		if (!emu_port && waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
			emu_pid = -1;
			break;
		}
		if (!emu_port) nanosleep(&ts, NULL);
	}
	if (!emu_port) {
		snprintf(emu_error, sizeof(emu_error), "the emulator did not start (see %s)", out);
		return;
	}
	snprintf(emu_base, sizeof(emu_base), "https://127.0.0.1:%d", emu_port);
	snprintf(emu_token_url, sizeof(emu_token_url), "%s/token", emu_base);
}

static void emu_stop(void)
{
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		for (int i = 0; i < 100; i++) {			/* Up to 5 s, then KILL. */
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			if (waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
				emu_pid = -1;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (emu_pid > 0) {
			kill(emu_pid, SIGKILL);
			waitpid(emu_pid, NULL, 0);
		}
	}
	emu_pid = -1;
	if (getenv("TG_KEEP")) fprintf(stderr, "emulator directory kept: %s\n", emu_dir);
	else tg_rmdir(emu_dir);
	free(emu_dir);
	emu_dir = NULL;
}

/*
 *	Control API
 */
typedef struct {
	char	*data;
	size_t	len;
} buf_t;

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	buf_t *b = ctx;
	char *nd = realloc(b->data, b->len + size * n + 1);

	if (!nd) return 0;
	b->data = nd;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* A control call; returns the parsed answer (NULL if not JSON); the test fails unless 2xx. */
static json_object *emu(char const *method, char const *path, char const *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[1024], ca[1024];
	buf_t b = { 0 };
	long status = 0;
	CURLcode rc;
	json_object *o;

	ck_assert_msg(emu_port > 0, "emulator not running: %s", emu_error);
	snprintf(url, sizeof(url), "%s%s", emu_base, path);
	emu_path(ca, sizeof(ca), "ca.pem");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	ck_assert_msg(rc == CURLE_OK && status >= 200 && status < 300, "%s %s: curl %d, HTTP %ld: %s", method, path,
		      (int) rc, status, b.data ? b.data : "");
	o = b.data ? json_tokener_parse(b.data) : NULL;
	free(b.data);
	return o;
}

static void emu_do(char const *method, char const *path, char const *body)
{
	json_object_put(emu(method, path, body));
}

/* Requests the emulator logged whose path starts with prefix; *with counts those whose query has needle. */
static int emu_requests(char const *prefix, char const *needle, int *with)
{
	char path[512];
	json_object *o, *list;
	int n = 0;

	snprintf(path, sizeof(path), "/_emulator/requests?path=%s", prefix);
	o = emu("GET", path, NULL);
	ck_assert(json_object_object_get_ex(o, "requests", &list));
	if (with) *with = 0;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *q, *e = json_object_array_get_idx(list, i);

		n++;
		if (with && needle && json_object_object_get_ex(e, "query", &q) && strstr(json_object_get_string(q), needle)) {
			(*with)++;
		}
	}
	json_object_put(o);
	return n;
}

static void emu_google_conf(cb_google_conf_t *gc, char *key, char *ca, size_t len)
{
	emu_path(key, len, "sa.json");
	emu_path(ca, len, "ca.pem");
	*gc = (cb_google_conf_t) {
		.key_file = key,
		.token_url = emu_token_url,
		.forms_url = emu_base,
		.sheets_url = emu_base,
		.drive_url = emu_base,
		.ca_file = ca,
		.connect_timeout_ms = 2000,
		.timeout_ms = 10000,
	};
}

static void emu_reset(void)
{
	ck_assert_msg(emu_port > 0, "emulator not running: %s", emu_error);
	emu_do("POST", "/_emulator/reset", "{}");
}

/*
 *	Forms
 */
static void emu_form(int responses)
{
	char body[1024];

	emu_do("PUT", "/_emulator/forms/" EMU_FORM,
	       "{\"title\":\"BYOD acknowledgement\",\"collectEmails\":true,\"shared\":true,\"items\":["
	       "{\"title\":\"Do you agree to the policy?\",\"questionId\":\"q-agree\",\"kind\":\"choice\","
	       "\"options\":[\"I agree\",\"I do not agree\"]},"
	       "{\"title\":\"Policy version\",\"questionId\":\"q-ver\",\"kind\":\"text\"},"
	       "{\"title\":\"Part 2\",\"kind\":\"section\"}]}");
	snprintf(body, sizeof(body), "{\"count\":%d,\"startTime\":\"2026-09-01T00:00:00Z\",\"stepSeconds\":60,"
		 "\"template\":{\"respondentEmail\":\"user{i}@school.example\",\"answers\":{"
		 "\"Do you agree to the policy?\":\"I agree\",\"Policy version\":\"2026\"}}}", responses);
	if (responses) emu_do("POST", "/_emulator/forms/" EMU_FORM "/responses:bulk", body);
}

static cb_source_t *emu_forms_source(cb_google_conf_t *gc, tg_log_t *log, uint32_t page_size)
{
	static char const *agree[] = { "I agree" };
	cb_gsource_forms_conf_t fc = {
		.form_id = EMU_FORM,
		.agreement_question = "Do you agree to the policy?",
		.agree_values = { agree, 1 },
		.policy_version_question = "Policy version",
		.page_size = page_size,
	};
	char err[1024];
	cb_source_t *src = cb_gsource_forms_new(&fc, gc, tg_log, log, err, sizeof(err));

	ck_assert_msg(src != NULL, "%s", err);
	return src;
}

START_TEST(emu_forms_paging_and_incremental)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_ack_index_t *idx, *idx2;
	cb_source_result_t rc;
	int with;

	emu_reset();
	emu_form(25);
	emu_google_conf(&gc, key, ca, sizeof(key));
	src = emu_forms_source(&gc, &log, 10);

	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 25);
	ck_assert_int_eq(cb_ack_index_agreed(idx), 25);
	ck_assert_str_eq(tg_find(idx, "user7@school.example")->policy_version, "2026");
	ck_assert_int_eq(emu_requests("/token", NULL, NULL), 1);
	ck_assert_int_eq(emu_requests("/v1/forms/" EMU_FORM "/responses", "pageToken=", &with), 3);
	ck_assert_int_eq(with, 2);

	/* A new response and a withdrawal are picked up by an incremental fetch. */
	emu_do("DELETE", "/_emulator/requests", NULL);
	emu_do("POST", "/_emulator/forms/" EMU_FORM "/responses",
	       "{\"respondentEmail\":\"new.teacher@school.example\",\"lastSubmittedTime\":\"2026-09-02T08:00:00Z\","
	       "\"answers\":{\"Do you agree to the policy?\":\"I agree\"}}");
	emu_do("POST", "/_emulator/forms/" EMU_FORM "/responses",
	       "{\"respondentEmail\":\"user3@school.example\",\"lastSubmittedTime\":\"2026-09-02T09:00:00Z\","
	       "\"answers\":{\"Do you agree to the policy?\":\"I do not agree\"}}");
	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx2), 26);
	ck_assert(!tg_find(idx2, "new.teacher@school.example")->revoked);
	ck_assert(tg_find(idx2, "user3@school.example")->revoked);
	ck_assert_int_eq(emu_requests("/v1/forms/" EMU_FORM "/responses", "filter=timestamp", &with), 1);
	ck_assert_int_eq(with, 1);
	ck_assert_int_eq(emu_requests("/v1/forms/" EMU_FORM, NULL, NULL), 1);	/* No forms.get. */
	ck_assert_int_eq(emu_requests("/token", NULL, NULL), 0);		/* The token was cached. */

	/* Nothing new: unchanged. */
	ck_assert_ptr_null(tg_fetch(src, idx2, false, &rc, NULL, err, sizeof(err)));
	ck_assert_msg(rc == CB_FETCH_UNCHANGED, "%d %s", rc, err);

	/* A deleted response disappears on the next full fetch. */
	emu_do("DELETE", "/_emulator/forms/" EMU_FORM "/responses", NULL);
	emu_do("POST", "/_emulator/forms/" EMU_FORM "/responses",
	       "{\"respondentEmail\":\"only@school.example\",\"answers\":{\"Do you agree to the policy?\":\"I agree\"}}");
	cb_ack_index_unref(idx);
	idx = tg_fetch(src, idx2, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 1);

	cb_ack_index_unref(idx);
	cb_ack_index_unref(idx2);
	src->free(src);
	tg_log_clear(&log);
}
END_TEST

START_TEST(emu_forms_faults)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_ack_index_t *idx;
	cb_source_result_t rc;
	unsigned int ra = 0;

	emu_reset();
	emu_form(5);
	emu_google_conf(&gc, key, ca, sizeof(key));
	src = emu_forms_source(&gc, &log, 0);

	/* An expired token: 401, a new token, success. */
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"expire_tokens\",\"count\":1,\"after\":1}");
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 5);
	ck_assert_int_eq(emu_requests("/token", NULL, NULL), 2);
	cb_ack_index_unref(idx);

	/* 429 with Retry-After. */
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"429\",\"count\":1,\"retryAfter\":7}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_int_eq(ra, 7);

	/* 500 and 503: retry. */
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"503\",\"count\":1}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_int_eq(ra, 0);
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"500\",\"count\":1,\"after\":1}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_RETRY);

	/* A body cut short, and half a JSON document: retry. */
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"truncate\",\"count\":1,\"after\":1}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_msg(rc == CB_FETCH_RETRY, "%d %s", rc, err);
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"malformed_json\",\"count\":1}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_msg(rc == CB_FETCH_RETRY, "%d %s", rc, err);

	/* Not shared: 403 says whom to share it with. */
	emu_do("PATCH", "/_emulator/forms/" EMU_FORM, "{\"shared\":false}");
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "add " TG_EMAIL " as a collaborator") != NULL, "%s", err);

	/* Unknown form: 404. */
	emu_do("DELETE", "/_emulator/forms/" EMU_FORM, NULL);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, &ra, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "HTTP 404") != NULL, "%s", err);

	src->free(src);
	tg_log_clear(&log);
}
END_TEST

START_TEST(emu_hang_times_out)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_source_result_t rc;
	struct timespec t0, t1;
	double secs;

	emu_reset();
	emu_form(2);
	emu_google_conf(&gc, key, ca, sizeof(key));
	gc.timeout_ms = 1500;
	src = emu_forms_source(&gc, &log, 0);
	emu_do("POST", "/_emulator/faults", "{\"path\":\"/v1/forms/\",\"kind\":\"hang\",\"count\":1,\"seconds\":30}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_int_eq(rc, CB_FETCH_RETRY);
	ck_assert_msg(strstr(err, "within 1.500 s") != NULL, "%s", err);
	ck_assert_msg(secs >= 1.4 && secs < 4.0, "took %.2f s", secs);
	src->free(src);
	tg_log_clear(&log);
}
END_TEST

START_TEST(emu_keys_and_certificates)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_ack_index_t *idx;
	cb_source_result_t rc;

	emu_reset();
	emu_form(3);

	/* The wrong CA: the server's certificate is refused. */
	emu_google_conf(&gc, key, ca, sizeof(key));
	emu_path(ca, sizeof(ca), "wrong-ca.pem");
	src = emu_forms_source(&gc, &log, 0);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "TLS with") && strstr(err, "ca_file"), "%s", err);
	ck_assert_int_eq(emu_requests("/token", NULL, NULL), 0);
	src->free(src);

	/* A key Google does not know. */
	emu_google_conf(&gc, key, ca, sizeof(key));
	emu_path(key, sizeof(key), "sa-wrongkey.json");
	src = emu_forms_source(&gc, &log, 0);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_REJECTED);
	ck_assert_msg(strstr(err, "the service account key was rejected: Invalid JWT Signature.; check the key file "
			      "and the server clock") != NULL, "%s", err);
	src->free(src);

	/* The older PKCS#1 key encoding works, and the token carries the Forms scopes. */
	emu_google_conf(&gc, key, ca, sizeof(key));
	emu_path(key, sizeof(key), "sa-pkcs1.json");
	src = emu_forms_source(&gc, &log, 0);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 3);
	cb_ack_index_unref(idx);
	{
		json_object *t = emu("GET", "/_emulator/tokens", NULL);
		char const *s = json_object_to_json_string(t);

		ck_assert_msg(strstr(s, "forms.responses.readonly") && strstr(s, "forms.body.readonly"), "%s", s);
		json_object_put(t);
	}
	src->free(src);

	/* The proxy is used (and a dead one is a temporary failure): port 9 on loopback is closed. */
	emu_google_conf(&gc, key, ca, sizeof(key));
	gc.proxy = "http://127.0.0.1:9";
	src = emu_forms_source(&gc, &log, 0);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_msg(rc == CB_FETCH_RETRY && strstr(err, "could not reach"), "%d %s", rc, err);
	src->free(src);

	/* A response larger than max_response is refused. */
	emu_google_conf(&gc, key, ca, sizeof(key));
	gc.max_response = 200;
	src = emu_forms_source(&gc, &log, 0);
	ck_assert_ptr_null(tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "larger than the limit of 200 bytes") != NULL, "%s", err);
	src->free(src);
	tg_log_clear(&log);
}
END_TEST

/*
 *	Sheets
 */
static cb_source_t *emu_sheets_source(cb_google_conf_t *gc, tg_log_t *log, char const *range, uint32_t block)
{
	static char const *agree[] = { "Yes" };
	cb_gsource_sheets_conf_t sc = {
		.spreadsheet_id = EMU_SHEET,
		.range = range,
		.agreement_column = "Do you agree to the policy?",
		.agree_values = { agree, 1 },
		.rows_per_request = block,
		.allow_unverified_email = true,		/* These tests read sheets without a form. */
	};
	char err[1024];
	cb_source_t *src = cb_gsource_sheets_new(&sc, gc, tg_log, log, err, sizeof(err));

	ck_assert_msg(src != NULL, "%s", err);
	return src;
}

START_TEST(emu_sheets_dst_and_unchanged)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_ack_index_t *idx, *idx2;
	cb_source_result_t rc;
	time_t t;
	int with;

	emu_reset();
	/* Serial 46110 is Sunday 2026-03-29, 46320 is Sunday 2026-10-25. */
	emu_do("PUT", "/_emulator/sheets/" EMU_SHEET,
	       "{\"title\":\"BYOD (Responses)\",\"timeZone\":\"Europe/London\",\"locale\":\"en_GB\",\"shared\":true,"
	       "\"sheets\":[{\"title\":\"Form responses 1\",\"rows\":["
	       "[\"Timestamp\",\"Email Address\",\"Do you agree to the policy?\",\"Revoked\"],"
	       "[{\"serial\":46110.0625},\"gap@school.example\",\"Yes\"],"
	       "[{\"serial\":46110.10416666667},\"bst@school.example\",\"Yes\"],"
	       "[{\"serial\":46320.0625},\"twice@school.example\",\"Yes\"],"
	       "[{\"serial\":46320.10416666667},\"gmt@school.example\",\"Yes\"],"
	       "[{\"datetime\":\"2026-07-01T12:00:00+01:00\"},\"summer@school.example\",\"Yes\",\"\"],"
	       "[{\"serial\":46204.5},\"revoked@school.example\",\"Yes\",true],"
	       "[{\"serial\":46204.6},\"=cmd|' /C calc'!A0\",\"Yes\"]"
	       "]}]}");
	emu_google_conf(&gc, key, ca, sizeof(key));
	src = emu_sheets_source(&gc, &log, "'Form responses 1'!A:D", 0);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	cb_tz_parse_time("2026-03-29T01:30:00Z", 20, NULL, &t);
	ck_assert_int_eq(tg_find(idx, "gap@school.example")->ack_time, t);
	ck_assert_int_eq(tg_find(idx, "bst@school.example")->ack_time, t);
	cb_tz_parse_time("2026-10-25T00:30:00Z", 20, NULL, &t);
	ck_assert_int_eq(tg_find(idx, "twice@school.example")->ack_time, t);
	cb_tz_parse_time("2026-10-25T02:30:00Z", 20, NULL, &t);
	ck_assert_int_eq(tg_find(idx, "gmt@school.example")->ack_time, t);
	cb_tz_parse_time("2026-07-01T11:00:00Z", 20, NULL, &t);
	ck_assert_int_eq(tg_find(idx, "summer@school.example")->ack_time, t);
	ck_assert(tg_find(idx, "revoked@school.example")->revoked);
	ck_assert_int_eq(cb_ack_index_count(idx), 6);
	ck_assert_msg(tg_log_has(&log, "row 8, column B (Email address): holds a formula"), "%s", log.text);

	/* Unchanged: only Drive is asked. */
	emu_do("DELETE", "/_emulator/requests", NULL);
	ck_assert_ptr_null(tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_UNCHANGED);
	ck_assert_int_eq(emu_requests("/drive/v3/files/" EMU_SHEET, NULL, NULL), 1);
	ck_assert_int_eq(emu_requests("/v4/", NULL, NULL), 0);

	/* A new row bumps the version: read again, with the time zone of the full read (issue 14: quotas). */
	emu_do("POST", "/_emulator/sheets/" EMU_SHEET "/rows",
	       "{\"rows\":[[{\"datetime\":\"2026-09-01T08:00:00Z\"},\"late@school.example\",\"Yes\"]]}");
	emu_do("DELETE", "/_emulator/requests", NULL);
	idx2 = tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx2), 7);
	ck_assert_int_eq(emu_requests("/v4/spreadsheets/" EMU_SHEET, "timeZone", &with), 1);	/* values.get only. */
	ck_assert_int_eq(with, 0);
	cb_ack_index_unref(idx2);

	/* A deleted tab: the range no longer exists, the error names the tabs. */
	emu_do("PATCH", "/_emulator/sheets/" EMU_SHEET,
	       "{\"sheets\":[{\"title\":\"Sheet1\",\"rows\":[[\"x\"]]}]}");
	ck_assert_ptr_null(tg_fetch(src, idx, false, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "no tab named \"Form responses 1\"") && strstr(err, "\"Sheet1\""), "%s", err);

	/* The key deleted in the Cloud console: one token request per fetch, not one per API call. */
	emu_do("POST", "/_emulator/config", "{\"keyDeleted\":true}");
	emu_do("DELETE", "/_emulator/tokens", NULL);
	emu_do("DELETE", "/_emulator/requests", NULL);
	ck_assert_ptr_null(tg_fetch(src, idx, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_REJECTED);
	ck_assert_msg(strstr(err, "Invalid JWT Signature.") != NULL, "%s", err);
	ck_assert_int_eq(emu_requests("/token", NULL, NULL), 1);
	emu_do("POST", "/_emulator/config", "{\"keyDeleted\":false}");

	/* Not shared. */
	emu_do("PATCH", "/_emulator/sheets/" EMU_SHEET, "{\"shared\":false}");
	ck_assert_ptr_null(tg_fetch(src, idx, true, &rc, NULL, err, sizeof(err)));
	ck_assert_int_eq(rc, CB_FETCH_ERROR);
	ck_assert_msg(strstr(err, "share the spreadsheet with " TG_EMAIL) != NULL, "%s", err);

	cb_ack_index_unref(idx);
	src->free(src);
	tg_log_clear(&log);
}
END_TEST

START_TEST(emu_sheets_blocks)
{
	cb_google_conf_t gc;
	char key[1024], ca[1024], err[1024];
	tg_log_t log = { 0 };
	cb_source_t *src;
	cb_ack_index_t *idx;
	cb_source_result_t rc;

	emu_reset();
	emu_do("PUT", "/_emulator/sheets/" EMU_SHEET,
	       "{\"title\":\"BYOD\",\"timeZone\":\"Europe/London\",\"shared\":true,\"sheets\":[{\"title\":\"Form responses 1\","
	       "\"rowCount\":1000,\"rows\":[[\"Timestamp\",\"Email address\",\"Do you agree to the policy?\"]]}]}");
	emu_do("POST", "/_emulator/sheets/" EMU_SHEET "/rows:bulk",
	       "{\"count\":250,\"template\":[{\"timestamp\":true},\"user{i}@school.example\",\"Yes\"],"
	       "\"startTime\":\"2026-09-01T00:00:00Z\",\"stepSeconds\":600}");
	emu_google_conf(&gc, key, ca, sizeof(key));
	src = emu_sheets_source(&gc, &log, NULL, 100);
	idx = tg_fetch(src, NULL, true, &rc, NULL, err, sizeof(err));
	ck_assert_msg(rc == CB_FETCH_OK, "%d %s", rc, err);
	ck_assert_int_eq(cb_ack_index_count(idx), 250);
	/* Rows 1-100, 101-200, 201-300, then 301-400 comes back empty. */
	ck_assert_int_eq(emu_requests("/v4/spreadsheets/" EMU_SHEET "/values/", NULL, NULL), 4);
	ck_assert_msg(log.warnings == 0, "%s", log.text);
	cb_ack_index_unref(idx);
	src->free(src);
	tg_log_clear(&log);
}
END_TEST

Suite *tg_emu_suite(void)
{
	Suite *s = suite_create("google-emulator");
	TCase *tc = tcase_create("emulator");

	tcase_add_unchecked_fixture(tc, emu_start, emu_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, emu_forms_paging_and_incremental);
	tcase_add_test(tc, emu_forms_faults);
	tcase_add_test(tc, emu_hang_times_out);
	tcase_add_test(tc, emu_keys_and_certificates);
	tcase_add_test(tc, emu_sheets_dst_and_unchanged);
	tcase_add_test(tc, emu_sheets_blocks);
	suite_add_tcase(s, tc);
	return s;
}
