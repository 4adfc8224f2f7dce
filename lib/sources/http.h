/*
 * http.h - a small HTTPS client on libcurl for the Google sources.
 *
 * One cb_http_t wraps one curl easy handle and is used by one thread at a
 * time (the sync thread); reusing it keeps the TLS connection alive between
 * the pages of a listing.  Every request:
 *   - verifies the server's certificate and host name (always; there is no
 *     option to turn it off), against ca_file when one is configured and the
 *     system's trust store otherwise;
 *   - speaks HTTPS only (an http:// URL is refused);
 *   - is bounded in time (connect_timeout_ms, timeout_ms) and in size
 *     (max_response bytes after decompression: a larger answer is abandoned
 *     and reported as CB_HTTP_TOO_LARGE);
 *   - goes through the configured HTTP proxy, or none: the process's
 *     environment (https_proxy and friends) is deliberately ignored, so a
 *     daemon behaves the same whatever shell started it;
 *   - never follows redirects.
 *
 * Global state: none here.  libcurl needs curl_global_init(CURL_GLOBAL_ALL)
 * once per process before the first cb_http_new() and before other threads
 * start (the module does it in its global init, cetbyodctl and the tests in
 * main()); curl_global_cleanup() at exit.  This file never calls either.
 *
 * Failure contract: every function that can fail returns an error code and
 * writes a sentence for the admin into err[errlen]; nothing is left
 * half-allocated.
 */
#ifndef CETBYOD_SOURCES_HTTP_H
#define CETBYOD_SOURCES_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	char const	*ca_file;		/* PEM bundle of CAs to trust; NULL/"": the system's store. */
	char const	*proxy;			/* "http://[user:pass@]host:port"; NULL/"": no proxy. */
	uint32_t	connect_timeout_ms;	/* TCP + TLS set-up; 0: 10 000. */
	uint32_t	timeout_ms;		/* Whole request, first byte to last; 0: 30 000. */
	size_t		max_response;		/* Largest body accepted, bytes; 0: 64 MiB. */
	char const	*user_agent;		/* NULL: "cetbyod". */
} cb_http_conf_t;

typedef enum {
	CB_HTTP_OK = 0,		/* A complete HTTP response (of any status) was received. */
	CB_HTTP_TIMEOUT,	/* No complete answer within the timeouts. */
	CB_HTTP_CONNECT,	/* Name resolution, TCP or proxy failure: the server was not reached. */
	CB_HTTP_TLS,		/* TLS failure, including an untrusted certificate. */
	CB_HTTP_TRUNCATED,	/* The connection closed before the whole body arrived. */
	CB_HTTP_TOO_LARGE,	/* The body exceeded max_response. */
	CB_HTTP_ABORTED,	/* The sink asked to stop. */
	CB_HTTP_ERROR		/* Anything else (bad URL, out of memory, protocol error). */
} cb_http_result_t;

/**
 * cb_http_sink_t - receives the body as it arrives, in order, in pieces of
 * any size.  Return 0 to go on, -1 to abandon the transfer (CB_HTTP_ABORTED).
 * status is the HTTP status of the response the bytes belong to.
 */
typedef int (*cb_http_sink_t)(void *ctx, long status, char const *data, size_t len);

typedef struct {
	char const	*url;		/* https:// only. */
	char const	*bearer;	/* Access token for "Authorization: Bearer"; NULL: none. */
	char const	*post;		/* Body to POST; NULL: the request is a GET. */
	size_t		post_len;
	char const	*content_type;	/* Of the POST body; NULL: application/x-www-form-urlencoded. */
	cb_http_sink_t	sink;		/* NULL: the body is collected into the response. */
	void		*sink_ctx;
} cb_http_request_t;

typedef struct {
	long		status;		/* HTTP status, 0 when none was received. */
	long		retry_after;	/* Retry-After in seconds (delta or HTTP-date), -1 when absent. */
	char		*body;		/* Collected body, NUL-terminated (only without a sink); free with cb_http_response_clear. */
	size_t		len;		/* Body bytes received (also counted with a sink). */
} cb_http_response_t;

/**
 * cb_http_fake_t - a stand-in for the network, for unit tests: called
 * instead of libcurl with the request; it fills status, retry_after and the
 * body (malloc'd, owned by the response afterwards).  The sink, if any, is
 * then fed from that body as if it had arrived.  Returns the transfer result.
 */
typedef cb_http_result_t (*cb_http_fake_t)(void *ctx, cb_http_request_t const *req, cb_http_response_t *resp);

typedef struct cb_http cb_http_t;

/**
 * cb_http_new - a client with conf applied.  Strings in conf are copied.
 * Returns NULL and explains in err when libcurl cannot be set up or the
 * configuration is refused (an unreadable ca_file, a proxy URL that is not
 * http:// or https://).
 */
cb_http_t *cb_http_new(cb_http_conf_t const *conf, char *err, size_t errlen);

/** cb_http_free - close connections and free (NULL is fine). */
void cb_http_free(cb_http_t *h);

/**
 * cb_http_perform - make one request.  resp is reset first; on any result
 * the caller frees it with cb_http_response_clear.  On CB_HTTP_OK the whole
 * response arrived (status may be anything); otherwise err says what failed,
 * in words, naming the host.
 */
cb_http_result_t cb_http_perform(cb_http_t *h, cb_http_request_t const *req, cb_http_response_t *resp,
				 char *err, size_t errlen);

/** cb_http_response_clear - free a response's body and reset it (safe to repeat). */
void cb_http_response_clear(cb_http_response_t *resp);

/** cb_http_set_fake - route requests to fake instead of the network (tests only); NULL restores. */
void cb_http_set_fake(cb_http_t *h, cb_http_fake_t fake, void *ctx);

/** cb_http_timeout_ms - the configured total timeout, for messages. */
uint32_t cb_http_timeout_ms(cb_http_t const *h);

/** cb_http_result_name - "timeout", "tls", ... for logs. */
char const *cb_http_result_name(cb_http_result_t result);

/**
 * cb_http_escape - percent-encode s with libcurl (only RFC 3986 unreserved
 * characters stay) into out[outlen].  Returns the length written, or -1
 * when out is too short or memory runs out.
 */
int cb_http_escape(cb_http_t *h, char const *s, char *out, size_t outlen);

#endif
