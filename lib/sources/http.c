/*
 * http.c - the HTTPS client of the Google sources: one libcurl easy handle,
 * certificate verification always on, bounded in time and size.
 *
 * Ownership: a cb_http_t owns its curl handle and copies of the configured
 * strings.  A request's body is either collected into a growable buffer
 * that never exceeds max_response bytes (owned by the response, freed with
 * cb_http_response_clear) or streamed to the caller's sink, so a caller
 * that parses as bytes arrive never holds the whole body.
 *
 * The handle is reset (curl_easy_reset) before each request, which keeps
 * its connection cache: the pages of a listing share one TLS connection.
 * Nothing here is global; see http.h for curl_global_init.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/name.h"
#include "sources/http.h"

#define CB_HTTP_DEFAULT_CONNECT_MS	10000
#define CB_HTTP_DEFAULT_TIMEOUT_MS	30000
#define CB_HTTP_DEFAULT_MAX		((size_t) 64 * 1024 * 1024)
#define CB_HTTP_INITIAL_BUF		16384
#define CB_HTTP_RETRY_AFTER_MAX		86400	/* A day: anything longer is nonsense. */
#define CB_HTTP_FAKE_CHUNK		4096	/* Fake bodies reach the sink in pieces of this size. */

struct cb_http {
	CURL		*curl;
	char		*ca_file;
	char		*proxy;
	char		*user_agent;
	uint32_t	connect_timeout_ms;
	uint32_t	timeout_ms;
	size_t		max_response;
	cb_http_fake_t	fake;
	void		*fake_ctx;
	char		curl_err[CURL_ERROR_SIZE];
};

/* The state of one transfer, shared by the write and header callbacks. */
typedef struct {
	cb_http_t			*h;
	cb_http_request_t const		*req;
	cb_http_response_t		*resp;
	size_t				cap;		/* Allocated size of resp->body. */
	bool				too_large;
	bool				aborted;
} cb_xfer_t;

static char *dup_or_null(char const *s)
{
	if (!s || !*s) return NULL;
	return strdup(s);
}

cb_http_t *cb_http_new(cb_http_conf_t const *conf, char *err, size_t errlen)
{
	cb_http_t *h;

	if (conf->ca_file && *conf->ca_file && access(conf->ca_file, R_OK) != 0) {
		snprintf(err, errlen, "ca_file \"%s\" cannot be read: %m", conf->ca_file);
		return NULL;
	}
	if (conf->proxy && *conf->proxy && strncasecmp(conf->proxy, "http://", 7) != 0 &&
	    strncasecmp(conf->proxy, "https://", 8) != 0) {
		snprintf(err, errlen, "proxy \"%s\" must be an http:// or https:// URL", conf->proxy);
		return NULL;
	}

	h = calloc(1, sizeof(*h));
	if (!h) goto oom;
	h->curl = curl_easy_init();
	if (!h->curl) {
		snprintf(err, errlen, "libcurl could not create a handle (was curl_global_init called?)");
		free(h);
		return NULL;
	}
	h->ca_file = dup_or_null(conf->ca_file);
	h->proxy = dup_or_null(conf->proxy);
	h->user_agent = strdup(conf->user_agent ? conf->user_agent : "cetbyod");
	if ((conf->ca_file && *conf->ca_file && !h->ca_file) || (conf->proxy && *conf->proxy && !h->proxy) ||
	    !h->user_agent) {
		cb_http_free(h);
		goto oom;
	}
	h->connect_timeout_ms = conf->connect_timeout_ms ? conf->connect_timeout_ms : CB_HTTP_DEFAULT_CONNECT_MS;
	h->timeout_ms = conf->timeout_ms ? conf->timeout_ms : CB_HTTP_DEFAULT_TIMEOUT_MS;
	h->max_response = conf->max_response ? conf->max_response : CB_HTTP_DEFAULT_MAX;
	return h;

oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void cb_http_free(cb_http_t *h)
{
	if (!h) return;
	if (h->curl) curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h->proxy);
	free(h->user_agent);
	free(h);
}

void cb_http_set_fake(cb_http_t *h, cb_http_fake_t fake, void *ctx)
{
	h->fake = fake;
	h->fake_ctx = ctx;
}

uint32_t cb_http_timeout_ms(cb_http_t const *h)
{
	return h->timeout_ms;
}

void cb_http_response_clear(cb_http_response_t *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->status = 0;
	resp->retry_after = -1;
}

static cb_name_t const http_results[] = {
	{ "ok",		CB_HTTP_OK },
	{ "timeout",	CB_HTTP_TIMEOUT },
	{ "connect",	CB_HTTP_CONNECT },
	{ "tls",	CB_HTTP_TLS },
	{ "truncated",	CB_HTTP_TRUNCATED },
	{ "too large",	CB_HTTP_TOO_LARGE },
	{ "aborted",	CB_HTTP_ABORTED },
	{ "error",	CB_HTTP_ERROR },
	{ NULL, -1 }
};

char const *cb_http_result_name(cb_http_result_t result)
{
	return cb_name_of(http_results, (int) result, "error");
}

int cb_http_escape(cb_http_t *h, char const *s, char *out, size_t outlen)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	size_t n;

	if (!e) return -1;
	n = strlen(e);
	if (n + 1 > outlen) {
		curl_free(e);
		return -1;
	}
	memcpy(out, e, n + 1);
	curl_free(e);
	return (int) n;
}

/*
 *	Collect body bytes into resp->body, doubling the buffer up to
 *	max_response + 1 (room for the terminating NUL).
 */
static int collect(cb_xfer_t *x, char const *data, size_t len)
{
	cb_http_response_t *resp = x->resp;

	if (resp->len + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : CB_HTTP_INITIAL_BUF;
		char *nb;

		while (cap < resp->len + len + 1) cap *= 2;
		if (cap > x->h->max_response + 1) cap = x->h->max_response + 1;
		nb = realloc(resp->body, cap);
		if (!nb) {
			x->aborted = true;
			return -1;
		}
		resp->body = nb;
		x->cap = cap;
	}
	memcpy(resp->body + resp->len, data, len);
	resp->body[resp->len + len] = '\0';
	return 0;
}

/* Account for and deliver len body bytes.  -1 stops the transfer. */
static int deliver(cb_xfer_t *x, long status, char const *data, size_t len)
{
	if (len > x->h->max_response - x->resp->len) {
		x->too_large = true;
		return -1;
	}
	if (x->req->sink) {
		if (x->req->sink(x->req->sink_ctx, status, data, len) < 0) {
			x->aborted = true;
			return -1;
		}
	} else if (collect(x, data, len) < 0) {
		return -1;
	}
	x->resp->len += len;
	return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *uctx)
{
	cb_xfer_t *x = uctx;
	size_t len = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (deliver(x, status, data, len) < 0) return 0;	/* 0 != len makes curl stop. */
	return len;
}

/*
 *	Retry-After is either delta-seconds or an HTTP-date (RFC 9110 10.2.3).
 *	Anything else, or a value beyond a day, is ignored.
 */
static long parse_retry_after(char const *v, size_t len)
{
	char buf[64];
	char *end;
	long secs;
	time_t when, now;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
	if (len == 0 || len >= sizeof(buf)) return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';

	if (buf[0] >= '0' && buf[0] <= '9') {
		errno = 0;
		secs = strtol(buf, &end, 10);
		if (errno || *end != '\0' || secs < 0) return -1;
		return secs > CB_HTTP_RETRY_AFTER_MAX ? CB_HTTP_RETRY_AFTER_MAX : secs;
	}
	when = curl_getdate(buf, NULL);
	if (when == (time_t) -1) return -1;
	now = time(NULL);
	if (when <= now) return 0;
	return (when - now) > CB_HTTP_RETRY_AFTER_MAX ? CB_HTTP_RETRY_AFTER_MAX : (long) (when - now);
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *uctx)
{
	cb_xfer_t *x = uctx;
	size_t len = size * nmemb;
	static char const ra[] = "Retry-After:";

	/* A new status line (after a 100 Continue, say) starts a new header block. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		x->resp->retry_after = -1;
	} else if (len > sizeof(ra) - 1 && strncasecmp(data, ra, sizeof(ra) - 1) == 0) {
		x->resp->retry_after = parse_retry_after(data + sizeof(ra) - 1, len - (sizeof(ra) - 1));
	}
	return len;
}

/* Set the options of one request; CURLE_OK or the first failure. */
static CURLcode set_options(cb_http_t *h, cb_http_request_t const *req, struct curl_slist *headers, cb_xfer_t *x)
{
	CURL *c = h->curl;
	CURLcode rc = CURLE_OK;

#define SETOPT(_o, _v) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, _o, _v); } while (0)
	SETOPT(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, h->curl_err);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file) SETOPT(CURLOPT_CAINFO, h->ca_file);
	SETOPT(CURLOPT_PROXY, h->proxy ? h->proxy : "");	/* "" also ignores the environment. */
	SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) h->connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) h->timeout_ms);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) h->max_response);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");		/* Whatever libcurl can decode. */
	SETOPT(CURLOPT_USERAGENT, h->user_agent);
	SETOPT(CURLOPT_HTTPHEADER, headers);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, x);
	if (req->post) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDS, req->post);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->post_len);
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}
#undef SETOPT
	return rc;
}

/* The request's headers; NULL on allocation failure. */
static struct curl_slist *make_headers(cb_http_request_t const *req, bool *oom)
{
	struct curl_slist *list = NULL, *n;
	char line[8192];

	*oom = false;
#define ADD(_s) do { n = curl_slist_append(list, (_s)); if (!n) goto fail; list = n; } while (0)
	ADD("Accept: application/json");
	ADD("Expect:");
	if (req->bearer) {
		if ((size_t) snprintf(line, sizeof(line), "Authorization: Bearer %s", req->bearer) >= sizeof(line)) goto fail;
		ADD(line);
	}
	if (req->post) {
		snprintf(line, sizeof(line), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/x-www-form-urlencoded");
		ADD(line);
	}
#undef ADD
	return list;

fail:
	curl_slist_free_all(list);
	*oom = true;
	return NULL;
}

/* Map libcurl's verdict to ours, with a sentence for the admin. */
static cb_http_result_t classify(cb_http_t *h, cb_xfer_t *x, CURLcode rc, char const *url, char *err, size_t errlen)
{
	char const *detail = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);

	if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "the answer from %s is larger than the limit of %zu bytes", url, h->max_response);
		return CB_HTTP_TOO_LARGE;
	}
	if (x->aborted) {
		snprintf(err, errlen, "reading the answer from %s was abandoned", url);
		return CB_HTTP_ABORTED;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "no complete answer from %s within %u.%03u s (%s)", url,
			 h->timeout_ms / 1000, h->timeout_ms % 1000, detail);
		return CB_HTTP_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
		snprintf(err, errlen, "could not reach %s: %s", url, detail);
		return CB_HTTP_CONNECT;
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		snprintf(err, errlen, "the answer from %s was cut short (%s)", url, detail);
		return CB_HTTP_TRUNCATED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		snprintf(err, errlen, "TLS with %s failed: %s (the server's certificate must be trusted by ca_file or "
			 "the system; a proxy that inspects TLS needs its CA in ca_file)", url, detail);
		return CB_HTTP_TLS;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(err, errlen, "%s: only https:// URLs are used", url);
		return CB_HTTP_ERROR;
	default:
		snprintf(err, errlen, "request to %s failed: %s", url, detail);
		return CB_HTTP_ERROR;
	}
}

/* Serve a request from the fake transport, feeding the sink in pieces. */
static cb_http_result_t perform_fake(cb_http_t *h, cb_http_request_t const *req, cb_http_response_t *resp,
				     char *err, size_t errlen)
{
	cb_http_result_t rc = h->fake(h->fake_ctx, req, resp);
	char *body = resp->body;
	size_t len = resp->len, off;

	if (rc != CB_HTTP_OK) {
		snprintf(err, errlen, "request to %s failed (%s)", req->url, cb_http_result_name(rc));
		return rc;
	}
	if (len > h->max_response) {
		snprintf(err, errlen, "the answer from %s is larger than the limit of %zu bytes", req->url, h->max_response);
		return CB_HTTP_TOO_LARGE;
	}
	if (!req->sink) return CB_HTTP_OK;

	resp->body = NULL;
	for (off = 0; off < len; off += CB_HTTP_FAKE_CHUNK) {
		size_t n = len - off < CB_HTTP_FAKE_CHUNK ? len - off : CB_HTTP_FAKE_CHUNK;

		if (req->sink(req->sink_ctx, resp->status, body + off, n) < 0) {
			free(body);
			snprintf(err, errlen, "reading the answer from %s was abandoned", req->url);
			return CB_HTTP_ABORTED;
		}
	}
	free(body);
	return CB_HTTP_OK;
}

cb_http_result_t cb_http_perform(cb_http_t *h, cb_http_request_t const *req, cb_http_response_t *resp,
				 char *err, size_t errlen)
{
	cb_xfer_t x = { .h = h, .req = req, .resp = resp };
	struct curl_slist *headers;
	cb_http_result_t result;
	CURLcode rc;
	bool oom;

	resp->body = NULL;
	resp->len = 0;
	resp->status = 0;
	resp->retry_after = -1;

	if (strncasecmp(req->url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s: only https:// URLs are used", req->url);
		return CB_HTTP_ERROR;
	}
	if (h->fake) return perform_fake(h, req, resp, err, errlen);

	headers = make_headers(req, &oom);
	if (oom) {
		snprintf(err, errlen, "out of memory");
		return CB_HTTP_ERROR;
	}
	curl_easy_reset(h->curl);
	h->curl_err[0] = '\0';
	rc = set_options(h, req, headers, &x);
	if (rc == CURLE_OK) rc = curl_easy_perform(h->curl);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(headers);

	if (rc == CURLE_OK && !x.too_large && !x.aborted) return CB_HTTP_OK;
	result = classify(h, &x, rc, req->url, err, errlen);
	/* The options point at this request's memory: drop them now. */
	curl_easy_reset(h->curl);
	return result;
}
