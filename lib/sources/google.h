/*
 * google.h - the Google client both Google sources share: service-
 * account authentication (a JWT signed with RS256, exchanged for an access
 * token that is cached until shortly before it expires) and authorised
 * JSON requests to Google's APIs, with Google's errors explained to the
 * admin in words.
 *
 * A cb_google_t is used by one thread at a time (the sync thread).  It owns
 * its HTTP client, the service account's private key and the cached token.
 * Needs curl_global_init() first (see http.h).
 */
#ifndef CETBYOD_SOURCES_GOOGLE_H
#define CETBYOD_SOURCES_GOOGLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "sources/http.h"
#include "sources/source.h"

/* Defaults of the google { } section. */
#define CB_GOOGLE_FORMS_URL	"https://forms.googleapis.com"
#define CB_GOOGLE_SHEETS_URL	"https://sheets.googleapis.com"
#define CB_GOOGLE_DRIVE_URL	"https://www.googleapis.com"
#define CB_GOOGLE_TOKEN_AUD	"https://oauth2.googleapis.com/token"

#define CB_GOOGLE_SCOPE_FORMS	"https://www.googleapis.com/auth/forms.body.readonly " \
				"https://www.googleapis.com/auth/forms.responses.readonly"
#define CB_GOOGLE_SCOPE_SHEETS	"https://www.googleapis.com/auth/spreadsheets.readonly " \
				"https://www.googleapis.com/auth/drive.metadata.readonly"

/** The google { } section of the module's configuration. */
typedef struct {
	char const	*key_file;		/* Service account's JSON key (mode 0600, owned by radiusd's user). Required. */
	char const	*token_url;		/* Where to exchange the JWT; NULL/"": the key file's token_uri. */
	char const	*subject;		/* Domain-wide delegation: user to act as; NULL/"": none. */
	char const	*forms_url;		/* Forms API base; NULL/"": CB_GOOGLE_FORMS_URL. */
	char const	*sheets_url;		/* Sheets API base; NULL/"": CB_GOOGLE_SHEETS_URL. */
	char const	*drive_url;		/* Drive API base; NULL/"": CB_GOOGLE_DRIVE_URL. */
	char const	*ca_file;		/* See cb_http_conf_t. */
	char const	*proxy;			/* See cb_http_conf_t. */
	uint32_t	connect_timeout_ms;	/* 0: 10 000. */
	uint32_t	timeout_ms;		/* Per request; 0: 30 000. */
	size_t		max_response;		/* Bytes per response; 0: 64 MiB. */
	uint32_t	token_margin;		/* Renew the token this many seconds before it expires; 0: 60. */
	uint32_t	max_requests_per_minute; /* Request budget of the service account (budget.h); 0: none.  Token
						 * requests are not counted (they are not API requests). */
	uint32_t	budget_window_ms;	/* The budget's window; 0: a minute (unit tests shorten it). */
	char const	*key_json;		/* The key's JSON text itself, not read from key_file (which then only
						 * names it in messages): for tests and fuzzing.  NULL: read key_file. */
} cb_google_conf_t;

/** What a request reads, so that errors can say what to share and which option to check. */
typedef enum {
	CB_GOOGLE_FORM = 0,	/* A form (Forms API). */
	CB_GOOGLE_SPREADSHEET	/* A spreadsheet (Sheets API, Drive metadata). */
} cb_google_target_t;

typedef struct cb_google cb_google_t;

/**
 * cb_google_new - read and check the key file and set up the HTTP client.
 * scopes: space-separated OAuth scopes (CB_GOOGLE_SCOPE_*).  Returns NULL
 * and explains in err, naming the option, when the key file is missing,
 * unreadable, readable by group or others ("chmod 600 ..."), not a service
 * account key, or its private key is not RSA; or when a URL is not https.
 * No network traffic happens here.  With conf->key_json the key is parsed
 * from memory and no file is read.
 */
cb_google_t *cb_google_new(cb_google_conf_t const *conf, char const *scopes, char *err, size_t errlen);

/** cb_google_free - forget the key and the token, close connections (NULL is fine). */
void cb_google_free(cb_google_t *g);

/** cb_google_client_email - the service account's address, to share forms and sheets with. */
char const *cb_google_client_email(cb_google_t const *g);

/** cb_google_http - the client's HTTP handle (for cb_http_escape, and cb_http_set_fake in tests). */
cb_http_t *cb_google_http(cb_google_t *g);

/** cb_google_forms_url, _sheets_url, _drive_url - the configured API bases, without a trailing "/". */
char const *cb_google_forms_url(cb_google_t const *g);
char const *cb_google_sheets_url(cb_google_t const *g);
char const *cb_google_drive_url(cb_google_t const *g);

/**
 * cb_google_make_jwt - the signed assertion for the token exchange, issued
 * at now: base64url(header) "." base64url(claims) "." base64url(RS256
 * signature).  Header {"alg":"RS256","typ":"JWT","kid":<private_key_id>};
 * claims iss, scope, aud (CB_GOOGLE_TOKEN_AUD unless the key names another
 * token_uri), iat = now, exp = now + 3600, and sub when configured.
 * Returns a malloc'd string, or NULL with err set.
 */
char *cb_google_make_jwt(cb_google_t const *g, time_t now, char *err, size_t errlen);

/**
 * cb_google_token - a valid access token, from the cache or a new exchange.
 * *token stays valid until the next call on g.  On failure returns RETRY
 * (network, 5xx, 429, internal_failure; *retry_after set from the server
 * when it sent one), REJECTED (invalid_grant, invalid_client: the key or
 * the account was refused, and asking again gets the same answer) or ERROR
 * (anything else), and explains in err (the reason and what to check).
 */
cb_source_result_t cb_google_token(cb_google_t *g, char const **token, unsigned int *retry_after,
				  char *err, size_t errlen);

/**
 * cb_google_retry_why - why the last cb_google_get_json answered RETRY:
 * Google's quota (429, or 403 with a rate-limit reason), our own request
 * budget (nothing was sent), or anything else.
 */
cb_source_retry_t cb_google_retry_why(cb_google_t const *g);

/** cb_google_token_drop - forget the cached token (after a 401). */
void cb_google_token_drop(cb_google_t *g);

/**
 * cb_google_get_json - GET url with the access token and parse the answer
 * as it arrives (one json_tokener for the whole body).  On a 401 the token
 * is dropped and the request made once more with a new one.
 *
 * what names the object for messages ("form 1FAIpQL..."), target says what
 * kind it is.  Returns CB_FETCH_OK with *out (a JSON object, owned by the
 * caller: json_object_put it); otherwise *out is NULL and:
 *   RETRY  on timeouts, connection failures, a truncated body, 429, 5xx and
 *          quota errors, with *retry_after from the server's Retry-After;
 *          and, without sending anything, when the request budget
 *          (max_requests_per_minute) is used up, with *retry_after the
 *          seconds until a request fits (cb_google_retry_why says which);
 *   ERROR  on 400, 403 (naming the client_email to share with), 404,
 *          a refused certificate, an oversized or malformed answer;
 * with err explaining.
 */
cb_source_result_t cb_google_get_json(cb_google_t *g, char const *url, cb_google_target_t target, char const *what,
				     json_object **out, unsigned int *retry_after, char *err, size_t errlen);

/**
 * cb_google_explain - the sentence for an unsuccessful HTTP status with its
 * (possibly NULL) parsed error body, and whether to retry.  Exposed for the
 * tests; cb_google_get_json uses it.
 */
cb_source_result_t cb_google_explain(cb_google_t const *g, long status, json_object const *body,
				    cb_google_target_t target, char const *what, char *err, size_t errlen);

#endif
