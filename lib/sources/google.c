/*
 * google.c - service-account authentication for Google's APIs, and the
 * authorised JSON requests both Google sources make.
 *
 * The OAuth 2.0 JWT bearer grant, as Google's own client libraries do it:
 *
 *   1. The key file (JSON, from the Cloud console) gives client_email,
 *      private_key (PEM, PKCS#8 or PKCS#1 RSA), private_key_id and token_uri.
 *      It holds a secret, so a file that group or others may read is refused.
 *   2. A JWT is made: base64url({"alg":"RS256","typ":"JWT","kid":<key id>})
 *      "." base64url({"iss":<client_email>,"scope":<scopes>,"aud":<token_uri>,
 *      "iat":now,"exp":now+3600}) and signed with RSASSA-PKCS1-v1_5 SHA-256
 *      through OpenSSL's EVP interface; base64 is OpenSSL's EVP_EncodeBlock,
 *      turned into base64url by swapping "+/" for "-_" and dropping "=".
 *   3. It is POSTed to token_uri as grant_type=urn:ietf:params:oauth:
 *      grant-type:jwt-bearer&assertion=<JWT>; the answer's access_token is
 *      cached until token_margin seconds before expires_in runs out
 *      (measured on the monotonic clock, so a wall-clock step cannot make a
 *      dead token look alive).
 *
 * API requests (cb_google_get_json) carry the token as a bearer header and
 * are parsed as they arrive with one json_tokener per response; a 401 drops
 * the token and retries once.  Each API request first takes a place in the
 * service account's request budget (budget.h); when there is none, it is
 * not sent and the answer is RETRY with the wait until one frees.  Token
 * requests go to the OAuth endpoint, which has no per-user API quota, and
 * are not counted.  Every unsuccessful answer is turned into a
 * sentence for the admin by cb_google_explain, from the HTTP status and
 * Google's error body (both the {"error":{"status","details":[{reason}]}}
 * shape and Drive's older {"error":{"errors":[{reason}]}}).
 *
 * Ownership: cb_google_t owns the EVP_PKEY, copies of every string it keeps
 * and the cached token; the key file's text is wiped after parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/clock.h"
#include "base/name.h"
#include "sources/budget.h"
#include "sources/google.h"

/* json-c before 0.15 has no accessor for where parsing stopped. */
#if JSON_C_VERSION_NUM < ((0 << 16) | (15 << 8))
#define json_tokener_get_parse_end(_tok) ((size_t) (_tok)->char_offset)
#endif

#define CB_KEY_FILE_MAX		65536	/* A service-account key is about 2.3 KB. */
#define CB_TOKEN_MAX		4096	/* Longest access token accepted. */
#define CB_JWT_LIFETIME		3600	/* Google's maximum. */
#define CB_DEFAULT_MARGIN	60
#define CB_MSG_MAX		300	/* Longest server text quoted in a message. */
#define CB_HEAD_MAX		200	/* Raw bytes kept of a body that is not JSON. */

struct cb_google {
	cb_http_t	*http;
	EVP_PKEY	*pkey;
	char		*client_email;
	char		*key_id;	/* private_key_id; NULL when the file has none. */
	char		*aud;		/* The key file's token_uri (the JWT's audience). */
	char		*token_url;	/* Where the JWT is sent. */
	char		*subject;
	char		*scopes;
	char		*forms_url;
	char		*sheets_url;
	char		*drive_url;
	uint32_t	margin;
	cb_budget_t	*budget;	/* Request budget of client_email; NULL: none. */
	cb_source_retry_t retry_why;	/* Of the last RETRY (cb_google_retry_why). */
	char		*token;		/* Cached access token, or NULL. */
	struct timespec	token_until;	/* Monotonic instant it stops being used. */
};

/*
 *	Small helpers
 */

/* A copy of s without trailing '/'; NULL on allocation failure. */
static char *dup_base(char const *s, char const *dflt)
{
	char const *v = (s && *s) ? s : dflt;
	size_t len = strlen(v);
	char *out;

	while (len && v[len - 1] == '/') len--;
	out = malloc(len + 1);
	if (!out) return NULL;
	memcpy(out, v, len);
	out[len] = '\0';
	return out;
}

/* Copy untrusted server text into out, controls replaced, at most CB_MSG_MAX bytes. */
static void quote_text(char const *in, char *out, size_t outlen)
{
	size_t i, n = 0;

	if (!outlen) return;
	for (i = 0; in && in[i] && n + 1 < outlen && i < CB_MSG_MAX; i++) {
		unsigned char c = (unsigned char) in[i];

		out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	out[n] = '\0';
}

static char const *json_str(json_object const *o, char const *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object)) return NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
	return json_object_get_string(v);
}

/*
 *	The key file
 */

/*
 * read_key_file - the file's text, checked for ownership rules, or NULL with
 * err set.  The mode is checked on the open descriptor (no race with a
 * rename).  The caller wipes and frees the text.
 */
static char *read_key_file(char const *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES) {
			snprintf(err, errlen, "google.key_file \"%s\" cannot be read: %m; it must be owned by the user "
				 "radiusd runs as (chown freerad \"%s\" on Debian) with mode 0600", path, path);
		} else {
			snprintf(err, errlen, "google.key_file \"%s\" cannot be opened: %m", path);
		}
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "google.key_file \"%s\" is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "google.key_file \"%s\" is readable by other users (mode %04o): it holds the "
			 "service account's private key; run chmod 600 \"%s\" and make it owned by the user radiusd "
			 "runs as (freerad on Debian)", path, (unsigned int) (st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	if (st.st_size <= 0 || st.st_size > CB_KEY_FILE_MAX) {
		snprintf(err, errlen, "google.key_file \"%s\" has an implausible size (%lld bytes) for a service "
			 "account key", path, (long long) st.st_size);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	while (got < (size_t) st.st_size) {
		n = read(fd, buf + got, (size_t) st.st_size - got);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		got += (size_t) n;
	}
	close(fd);
	if (got != (size_t) st.st_size) {
		snprintf(err, errlen, "google.key_file \"%s\" could not be read completely", path);
		OPENSSL_cleanse(buf, (size_t) st.st_size);
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	return buf;
}

/* An encrypted PEM would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void) buf;
	(void) size;
	(void) rwflag;
	(void) u;
	return -1;
}

static EVP_PKEY *load_private_key(char const *pem, char const *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey;

	if (!bio) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey) {
		snprintf(err, errlen, "google.key_file \"%s\": private_key is not a readable PEM private key", path);
		return NULL;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "google.key_file \"%s\": private_key is not an RSA key (Google service "
			 "accounts use RSA)", path);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

/* Parse the key file's JSON into g.  0, or -1 with err set. */
static int parse_key(cb_google_t *g, char const *text, char const *path, char *err, size_t errlen)
{
	json_object *root = json_tokener_parse(text);
	char const *type, *email, *pem, *kid, *uri;
	int rc = -1;

	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "google.key_file \"%s\" is not JSON (download a JSON key for the service "
			 "account from the Google Cloud console)", path);
		goto done;
	}
	type = json_str(root, "type");
	email = json_str(root, "client_email");
	pem = json_str(root, "private_key");
	kid = json_str(root, "private_key_id");
	uri = json_str(root, "token_uri");
	if (type && strcmp(type, "service_account") != 0) {
		snprintf(err, errlen, "google.key_file \"%s\" is a \"%.40s\" key, not a service_account key", path, type);
		goto done;
	}
	if (!email || !*email || !strchr(email, '@') || strlen(email) > 256) {
		snprintf(err, errlen, "google.key_file \"%s\" has no valid client_email", path);
		goto done;
	}
	if (!pem || !*pem) {
		snprintf(err, errlen, "google.key_file \"%s\" has no private_key", path);
		goto done;
	}
	if (uri && strncasecmp(uri, "https://", 8) != 0) {
		snprintf(err, errlen, "google.key_file \"%s\": token_uri must be an https:// URL", path);
		goto done;
	}
	g->pkey = load_private_key(pem, path, err, errlen);
	if (!g->pkey) goto done;
	g->client_email = strdup(email);
	g->key_id = (kid && *kid) ? strdup(kid) : NULL;
	g->aud = strdup(uri ? uri : CB_GOOGLE_TOKEN_AUD);
	if (!g->client_email || (kid && *kid && !g->key_id) || !g->aud) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;
done:
	json_object_put(root);
	return rc;
}

static int check_https(char const *url, char const *option, char *err, size_t errlen)
{
	if (strncasecmp(url, "https://", 8) == 0) return 0;
	snprintf(err, errlen, "google.%s \"%s\" must be an https:// URL", option, url);
	return -1;
}

cb_google_t *cb_google_new(cb_google_conf_t const *conf, char const *scopes, char *err, size_t errlen)
{
	cb_google_t *g;
	char *text;
	int rc;
	cb_http_conf_t hc = {
		.ca_file = conf->ca_file,
		.proxy = conf->proxy,
		.connect_timeout_ms = conf->connect_timeout_ms,
		.timeout_ms = conf->timeout_ms,
		.max_response = conf->max_response,
		.user_agent = "cetbyod (FreeRADIUS BYOD acknowledgements)",
	};

	if (!conf->key_json && (!conf->key_file || !*conf->key_file)) {
		snprintf(err, errlen, "google.key_file is required: the service account's JSON key");
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conf->key_json) {
		text = strdup(conf->key_json);
		if (!text) snprintf(err, errlen, "out of memory");
	} else {
		text = read_key_file(conf->key_file, err, errlen);
	}
	if (!text) goto fail;
	rc = parse_key(g, text, conf->key_file ? conf->key_file : "(in memory)", err, errlen);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (rc < 0) goto fail;

	g->token_url = dup_base(conf->token_url, g->aud);
	g->forms_url = dup_base(conf->forms_url, CB_GOOGLE_FORMS_URL);
	g->sheets_url = dup_base(conf->sheets_url, CB_GOOGLE_SHEETS_URL);
	g->drive_url = dup_base(conf->drive_url, CB_GOOGLE_DRIVE_URL);
	g->scopes = strdup(scopes);
	g->subject = (conf->subject && *conf->subject) ? strdup(conf->subject) : NULL;
	if (!g->token_url || !g->forms_url || !g->sheets_url || !g->drive_url || !g->scopes ||
	    (conf->subject && *conf->subject && !g->subject)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (check_https(g->token_url, "token_url", err, errlen) < 0 ||
	    check_https(g->forms_url, "forms_url", err, errlen) < 0 ||
	    check_https(g->sheets_url, "sheets_url", err, errlen) < 0 ||
	    check_https(g->drive_url, "drive_url", err, errlen) < 0) goto fail;
	g->margin = conf->token_margin ? conf->token_margin : CB_DEFAULT_MARGIN;

	g->http = cb_http_new(&hc, err, errlen);
	if (!g->http) goto fail;
	if (conf->max_requests_per_minute) {
		g->budget = cb_budget_get(g->client_email, conf->max_requests_per_minute, conf->budget_window_ms);
		if (!g->budget) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return g;

fail:
	cb_google_free(g);
	return NULL;
}

void cb_google_free(cb_google_t *g)
{
	if (!g) return;
	cb_google_token_drop(g);
	cb_http_free(g->http);
	cb_budget_put(g->budget);
	EVP_PKEY_free(g->pkey);
	free(g->client_email);
	free(g->key_id);
	free(g->aud);
	free(g->token_url);
	free(g->subject);
	free(g->scopes);
	free(g->forms_url);
	free(g->sheets_url);
	free(g->drive_url);
	free(g);
}

char const *cb_google_client_email(cb_google_t const *g)
{
	return g->client_email;
}

cb_http_t *cb_google_http(cb_google_t *g)
{
	return g->http;
}

char const *cb_google_forms_url(cb_google_t const *g)
{
	return g->forms_url;
}

char const *cb_google_sheets_url(cb_google_t const *g)
{
	return g->sheets_url;
}

char const *cb_google_drive_url(cb_google_t const *g)
{
	return g->drive_url;
}

/*
 *	The JWT
 */

/* base64url of in[0..len) without padding; malloc'd, NULL on allocation failure. */
static char *b64url(unsigned char const *in, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *out;
	int n;

	if (len > 1024 * 1024) return NULL;
	out = malloc(cap);
	if (!out) return NULL;
	n = EVP_EncodeBlock(out, in, (int) len);
	while (n > 0 && out[n - 1] == '=') n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++) {
		if (out[i] == '+') out[i] = '-';
		else if (out[i] == '/') out[i] = '_';
	}
	return (char *) out;
}

/* base64url of a JSON object's compact text. */
static char *b64url_json(json_object *o)
{
	char const *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? b64url((unsigned char const *) s, strlen(s)) : NULL;
}

/* "header.claims" for the JWT, malloc'd; NULL on allocation failure. */
static char *jwt_signing_input(cb_google_t const *g, time_t now)
{
	json_object *hdr = json_object_new_object(), *cl = json_object_new_object();
	char *h64 = NULL, *c64 = NULL, *out = NULL;
	size_t len;

	if (!hdr || !cl) goto done;
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	if (g->key_id) json_object_object_add(hdr, "kid", json_object_new_string(g->key_id));

	json_object_object_add(cl, "iss", json_object_new_string(g->client_email));
	json_object_object_add(cl, "scope", json_object_new_string(g->scopes));
	json_object_object_add(cl, "aud", json_object_new_string(g->aud));
	json_object_object_add(cl, "iat", json_object_new_int64((int64_t) now));
	json_object_object_add(cl, "exp", json_object_new_int64((int64_t) now + CB_JWT_LIFETIME));
	if (g->subject) json_object_object_add(cl, "sub", json_object_new_string(g->subject));

	h64 = b64url_json(hdr);
	c64 = b64url_json(cl);
	if (!h64 || !c64) goto done;
	len = strlen(h64) + 1 + strlen(c64) + 1;
	out = malloc(len);
	if (out) snprintf(out, len, "%s.%s", h64, c64);
done:
	json_object_put(hdr);
	json_object_put(cl);
	free(h64);
	free(c64);
	return out;
}

/* RS256 signature of data, base64url; NULL on failure. */
static char *rs256(EVP_PKEY *pkey, char const *data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *out = NULL;

	if (!ctx) return NULL;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1) goto done;
	if (EVP_DigestSign(ctx, NULL, &siglen, (unsigned char const *) data, strlen(data)) != 1) goto done;
	sig = malloc(siglen);
	if (!sig) goto done;
	if (EVP_DigestSign(ctx, sig, &siglen, (unsigned char const *) data, strlen(data)) != 1) goto done;
	out = b64url(sig, siglen);
done:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return out;
}

char *cb_google_make_jwt(cb_google_t const *g, time_t now, char *err, size_t errlen)
{
	char *input = jwt_signing_input(g, now), *sig, *jwt;
	size_t len;

	if (!input) {
		snprintf(err, errlen, "out of memory making the JWT");
		return NULL;
	}
	sig = rs256(g->pkey, input);
	if (!sig) {
		snprintf(err, errlen, "OpenSSL could not sign the JWT with the service account's key");
		free(input);
		return NULL;
	}
	len = strlen(input) + 1 + strlen(sig) + 1;
	jwt = malloc(len);
	if (jwt) snprintf(jwt, len, "%s.%s", input, sig);
	else snprintf(err, errlen, "out of memory making the JWT");
	free(input);
	free(sig);
	return jwt;
}

/*
 *	The token exchange
 */

void cb_google_token_drop(cb_google_t *g)
{
	if (g->token) {
		OPENSSL_cleanse(g->token, strlen(g->token));
		free(g->token);
		g->token = NULL;
	}
}

static bool token_fresh(cb_google_t const *g)
{
	struct timespec now;

	if (!g->token) return false;
	cb_clock_mono(&now);
	return now.tv_sec < g->token_until.tv_sec;
}

/* The OAuth error codes the token endpoint's answer is judged by (RFC 6749 section 5.2, and Google's). */
typedef enum {
	TOKEN_ERR_OTHER = 0,
	TOKEN_ERR_TEMPORARY,		/* internal_failure */
	TOKEN_ERR_GRANT,		/* invalid_grant */
	TOKEN_ERR_CLIENT,		/* invalid_client, unauthorized_client */
	TOKEN_ERR_SCOPE			/* invalid_scope */
} token_err_t;

static cb_name_t const token_errors[] = {
	{ "internal_failure",		TOKEN_ERR_TEMPORARY },
	{ "invalid_grant",		TOKEN_ERR_GRANT },
	{ "invalid_client",		TOKEN_ERR_CLIENT },
	{ "unauthorized_client",	TOKEN_ERR_CLIENT },
	{ "invalid_scope",		TOKEN_ERR_SCOPE },
	{ NULL, -1 }
};

/* The answer is not the OAuth shape: maybe a proxy's page, or Google's API error shape. */
static cb_source_result_t token_failure_bare(cb_google_t const *g, long status, char *err, size_t errlen)
{
	if (status == 429 || status >= 500) {
		snprintf(err, errlen, "the token endpoint %s had a temporary failure (HTTP %ld)", g->token_url, status);
		return CB_FETCH_RETRY;
	}
	snprintf(err, errlen, "the token endpoint %s answered HTTP %ld without an OAuth error", g->token_url, status);
	return CB_FETCH_ERROR;
}

/* The message and verdict for an unsuccessful token answer. */
static cb_source_result_t token_failure(cb_google_t const *g, long status, json_object *body, char *err, size_t errlen)
{
	char const *code = json_str(body, "error");
	char desc[CB_MSG_MAX + 1];
	token_err_t kind;

	quote_text(json_str(body, "error_description"), desc, sizeof(desc));
	if (!code) return token_failure_bare(g, status, err, errlen);
	kind = (token_err_t) cb_name_value(token_errors, code, TOKEN_ERR_OTHER);
	if (kind == TOKEN_ERR_TEMPORARY || status == 429 || status >= 500) {
		snprintf(err, errlen, "the token endpoint had a temporary failure (HTTP %ld %.40s: %s)", status, code, desc);
		return CB_FETCH_RETRY;
	}
	switch (kind) {
	case TOKEN_ERR_GRANT:		/* Asking again with the same key gets the same answer. */
		snprintf(err, errlen, "the service account key was rejected: %s; check the key file and the server "
			 "clock", desc[0] ? desc : "invalid_grant");
		return CB_FETCH_REJECTED;
	case TOKEN_ERR_CLIENT:
		snprintf(err, errlen, "the service account %s was refused (%.40s: %s): the key may have been deleted "
			 "or the account disabled%s", g->client_email, code, desc,
			 g->subject ? "; with google.subject set, domain-wide delegation must be granted for its scopes" : "");
		return CB_FETCH_REJECTED;
	case TOKEN_ERR_SCOPE:
		snprintf(err, errlen, "the token endpoint refused the scopes (%s)", desc);
		break;
	default:
		snprintf(err, errlen, "the token endpoint refused the service account key (HTTP %ld %.40s: %s)", status,
			 code, desc);
		break;
	}
	return CB_FETCH_ERROR;
}

/* A plausible bearer token: printable ASCII, no spaces, bounded. */
static bool token_ok(char const *t)
{
	size_t n = 0;

	for (; t[n]; n++) {
		if ((unsigned char) t[n] <= 0x20 || (unsigned char) t[n] >= 0x7f) return false;
		if (n >= CB_TOKEN_MAX) return false;
	}
	return n > 0;
}

/* Take the token out of a 200 answer.  OK or ERROR. */
static cb_source_result_t token_accept(cb_google_t *g, json_object *body, char *err, size_t errlen)
{
	char const *tok = json_str(body, "access_token"), *type = json_str(body, "token_type");
	json_object *ei;
	int64_t expires_in, life;

	if (!tok || !token_ok(tok)) {
		snprintf(err, errlen, "the token endpoint %s answered without a usable access_token", g->token_url);
		return CB_FETCH_ERROR;
	}
	if (type && strcasecmp(type, "Bearer") != 0) {
		snprintf(err, errlen, "the token endpoint issued a \"%.20s\" token, not a Bearer token", type);
		return CB_FETCH_ERROR;
	}
	if (!json_object_object_get_ex(body, "expires_in", &ei) || !json_object_is_type(ei, json_type_int) ||
	    (expires_in = json_object_get_int64(ei)) <= 0 || expires_in > 86400) {
		snprintf(err, errlen, "the token endpoint %s answered without a valid expires_in", g->token_url);
		return CB_FETCH_ERROR;
	}
	life = expires_in > 2 * (int64_t) g->margin ? expires_in - g->margin : expires_in / 2;

	cb_google_token_drop(g);
	g->token = strdup(tok);
	if (!g->token) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	cb_clock_mono(&g->token_until);
	g->token_until.tv_sec += (time_t) life;
	return CB_FETCH_OK;
}

/* Map a transport failure to RETRY (transient) or ERROR (configuration). */
static cb_source_result_t transport_verdict(cb_http_result_t hr)
{
	switch (hr) {
	case CB_HTTP_TIMEOUT:
	case CB_HTTP_CONNECT:
	case CB_HTTP_TRUNCATED:
		return CB_FETCH_RETRY;
	default:
		return CB_FETCH_ERROR;
	}
}

cb_source_result_t cb_google_token(cb_google_t *g, char const **token, unsigned int *retry_after,
				  char *err, size_t errlen)
{
	cb_http_response_t resp = { .retry_after = -1 };
	cb_http_request_t req = { .url = g->token_url };
	cb_http_result_t hr;
	cb_source_result_t rc;
	json_object *body = NULL;
	char grant[128], *jwt, *post;
	size_t len;

	if (token_fresh(g)) {
		*token = g->token;
		return CB_FETCH_OK;
	}
	jwt = cb_google_make_jwt(g, time(NULL), err, errlen);
	if (!jwt) return CB_FETCH_ERROR;
	if (cb_http_escape(g->http, "urn:ietf:params:oauth:grant-type:jwt-bearer", grant, sizeof(grant)) < 0) {
		free(jwt);
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	len = strlen("grant_type=&assertion=") + strlen(grant) + strlen(jwt) + 1;
	post = malloc(len);
	if (!post) {
		free(jwt);
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	snprintf(post, len, "grant_type=%s&assertion=%s", grant, jwt);	/* A JWT is URL-safe as it is. */
	free(jwt);
	req.post = post;
	req.post_len = strlen(post);

	hr = cb_http_perform(g->http, &req, &resp, err, errlen);
	free(post);
	if (resp.retry_after >= 0 && retry_after) *retry_after = (unsigned int) resp.retry_after;
	if (hr != CB_HTTP_OK) {
		rc = transport_verdict(hr);
		cb_http_response_clear(&resp);
		return rc;
	}
	if (resp.body) body = json_tokener_parse(resp.body);
	if (resp.status == 200) {
		rc = body ? token_accept(g, body, err, errlen) : CB_FETCH_RETRY;
		if (!body) snprintf(err, errlen, "the token endpoint %s answered with something other than JSON", g->token_url);
	} else {
		rc = token_failure(g, resp.status, body, err, errlen);
	}
	json_object_put(body);
	cb_http_response_clear(&resp);
	if (rc == CB_FETCH_OK) *token = g->token;
	return rc;
}

/*
 *	API requests
 */

/* Streams a body into one json_tokener; keeps the first bytes for messages. */
typedef struct {
	json_tokener		*tok;
	json_object		*obj;
	enum json_tokener_error	jerr;
	bool			failed;		/* Syntax error, or text after the document. */
	long			status;
	char			head[CB_HEAD_MAX + 1];
	size_t			head_len;
} cb_jsink_t;

static bool all_space(char const *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return false;
	}
	return true;
}

static int jsink_feed(void *ctx, long status, char const *data, size_t len)
{
	cb_jsink_t *s = ctx;

	s->status = status;
	if (s->head_len < CB_HEAD_MAX) {
		size_t n = CB_HEAD_MAX - s->head_len < len ? CB_HEAD_MAX - s->head_len : len;

		memcpy(s->head + s->head_len, data, n);
		s->head_len += n;
		s->head[s->head_len] = '\0';
	}
	if (s->failed) return status == 200 ? -1 : 0;
	if (s->obj) {
		if (!all_space(data, len)) s->failed = true;
		return 0;
	}
	while (len > 0) {
		size_t n = len > (1U << 30) ? (1U << 30) : len;
		size_t used;

		s->obj = json_tokener_parse_ex(s->tok, data, (int) n);
		if (s->obj) {
			used = json_tokener_get_parse_end(s->tok);
			if (used < n && !all_space(data + used, n - used)) s->failed = true;
			if (n < len && !all_space(data + n, len - n)) s->failed = true;
			break;
		}
		s->jerr = json_tokener_get_error(s->tok);
		if (s->jerr != json_tokener_continue) {
			s->failed = true;
			break;
		}
		data += n;
		len -= n;
	}
	if (s->failed && status == 200) return -1;	/* No point reading more of a broken document. */
	return 0;
}

/* The "reason" of a Google error body: ErrorInfo in details, or errors[0]. */
static char const *error_reason(json_object const *error)
{
	json_object *arr, *item;
	char const *r;

	if (json_object_object_get_ex(error, "details", &arr) && json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			item = json_object_array_get_idx(arr, i);
			if ((r = json_str(item, "reason"))) return r;
		}
	}
	if (json_object_object_get_ex(error, "errors", &arr) && json_object_is_type(arr, json_type_array) &&
	    json_object_array_length(arr) > 0) {
		return json_str(json_object_array_get_idx(arr, 0), "reason");
	}
	return NULL;
}

/* Google's error reasons that mean a quota (retry later) or a disabled API (an admin must enable it). */
typedef enum {
	REASON_OTHER = 0,
	REASON_QUOTA,
	REASON_DISABLED
} reason_kind_t;

static cb_name_t const reasons[] = {
	{ "RATE_LIMIT_EXCEEDED",	REASON_QUOTA },
	{ "rateLimitExceeded",		REASON_QUOTA },
	{ "userRateLimitExceeded",	REASON_QUOTA },
	{ "quotaExceeded",		REASON_QUOTA },
	{ "dailyLimitExceeded",		REASON_QUOTA },
	{ "SERVICE_DISABLED",		REASON_DISABLED },
	{ "accessNotConfigured",	REASON_DISABLED },
	{ NULL, -1 }
};

static bool is_quota_reason(char const *reason, char const *status)
{
	if (status && strcmp(status, "RESOURCE_EXHAUSTED") == 0) return true;
	return cb_name_value(reasons, reason, REASON_OTHER) == REASON_QUOTA;
}

/* Whether an unsuccessful answer is Google's quota refusal (429, or 403 with a rate-limit reason). */
static bool is_quota_answer(long status, json_object const *body)
{
	json_object *error = NULL;

	if (status == 429) return true;
	if (status != 403 || !body || !json_object_object_get_ex(body, "error", &error)) return false;
	return is_quota_reason(error_reason(error), json_str(error, "status"));
}

static bool is_disabled_reason(char const *reason)
{
	return cb_name_value(reasons, reason, REASON_OTHER) == REASON_DISABLED;
}

static void share_hint(cb_google_t const *g, cb_google_target_t target, char *out, size_t outlen)
{
	if (target == CB_GOOGLE_FORM) {
		snprintf(out, outlen, "add %s as a collaborator (editor) of the form", g->client_email);
	} else {
		snprintf(out, outlen, "share the spreadsheet with %s (Viewer is enough)", g->client_email);
	}
}

cb_source_result_t cb_google_explain(cb_google_t const *g, long status, json_object const *body,
				    cb_google_target_t target, char const *what, char *err, size_t errlen)
{
	json_object *error = NULL;
	char const *reason = NULL;
	char msg[CB_MSG_MAX + 1] = "", hint[400];

	if (body && json_object_object_get_ex(body, "error", &error) && json_object_is_type(error, json_type_object)) {
		quote_text(json_str(error, "message"), msg, sizeof(msg));
		reason = error_reason(error);
	}
	share_hint(g, target, hint, sizeof(hint));

	if (is_quota_answer(status, body)) {
		snprintf(err, errlen, "rate limited by Google: the per-user quota of %s for reading %s is used up for "
			 "now (HTTP %ld: %s); backing off (servers sharing this service account share its quota)",
			 g->client_email, what, status, msg);
		return CB_FETCH_RETRY;
	}
	if (status >= 500 && status <= 599) {
		snprintf(err, errlen, "Google had a temporary failure reading %s (HTTP %ld: %s); retrying later",
			 what, status, msg);
		return CB_FETCH_RETRY;
	}
	switch (status) {
	case 401:
		snprintf(err, errlen, "Google did not accept the access token of %s for %s (HTTP 401: %s)",
			 g->client_email, what, msg);
		break;
	case 403:
		if (is_disabled_reason(reason)) {
			snprintf(err, errlen, "an API needed for %s is not enabled in the service account's Google Cloud "
				 "project: enable it in the Cloud console (HTTP 403: %s)", what, msg);
		} else {
			snprintf(err, errlen, "Google denied access to %s (HTTP 403: %s): %s", what, msg, hint);
		}
		break;
	case 404:
		snprintf(err, errlen, "Google found no %s (HTTP 404: %s): check the id in the configuration, and %s",
			 what, msg, hint);
		break;
	case 400:
		snprintf(err, errlen, "Google refused the request for %s (HTTP 400: %s): check the configuration",
			 what, msg);
		break;
	default:
		snprintf(err, errlen, "unexpected HTTP %ld from Google for %s: %s", status, what, msg);
		break;
	}
	return CB_FETCH_ERROR;
}

/* One GET; *again is set when a 401 means a new token is worth a try. */
static cb_source_result_t get_once(cb_google_t *g, char const *url, cb_google_target_t target, char const *what,
				  json_object **out, unsigned int *retry_after, bool *again, char *err, size_t errlen)
{
	cb_jsink_t s = { .jerr = json_tokener_success };
	cb_http_response_t resp = { .retry_after = -1 };
	cb_http_request_t req = { .url = url, .sink = jsink_feed, .sink_ctx = &s };
	cb_source_result_t rc;
	cb_http_result_t hr;
	char const *token;
	uint32_t wait_ms = 0;

	*again = false;
	rc = cb_google_token(g, &token, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	if (g->budget && !cb_budget_take(g->budget, cb_clock_ms(), &wait_ms)) {	/* Counted only when sent. */
		if (retry_after) *retry_after = (wait_ms + 999) / 1000;
		g->retry_why = CB_SOURCE_RETRY_BUDGET;
		snprintf(err, errlen, "the request budget of %u requests a minute for %s (google.max_requests_per_"
			 "minute) is used up: %s is read in %u s", cb_budget_limit(g->budget), g->client_email, what,
			 (wait_ms + 999) / 1000);
		return CB_FETCH_RETRY;
	}
	req.bearer = token;

	s.tok = json_tokener_new();
	if (!s.tok) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	hr = cb_http_perform(g->http, &req, &resp, err, errlen);
	if (resp.retry_after >= 0 && retry_after) *retry_after = (unsigned int) resp.retry_after;

	if (hr == CB_HTTP_ABORTED && s.failed) {
		snprintf(err, errlen, "Google's answer for %s is not valid JSON (%s)", what,
			 s.jerr != json_tokener_success ? json_tokener_error_desc(s.jerr) : "text after the document");
		rc = CB_FETCH_ERROR;
	} else if (hr != CB_HTTP_OK) {
		rc = transport_verdict(hr);
	} else if (resp.status != 200) {
		rc = cb_google_explain(g, resp.status, s.obj, target, what, err, errlen);
		if (is_quota_answer(resp.status, s.obj)) g->retry_why = CB_SOURCE_RETRY_QUOTA;
		if (resp.status == 401) {
			cb_google_token_drop(g);
			*again = true;
		}
		if (!s.obj && rc == CB_FETCH_ERROR && s.head_len) {
			size_t used = strlen(err);
			char quoted[CB_HEAD_MAX + 1];

			quote_text(s.head, quoted, sizeof(quoted));
			if (used < errlen) snprintf(err + used, errlen - used, " [%s]", quoted);
		}
	} else if (s.failed) {
		snprintf(err, errlen, "Google's answer for %s is not valid JSON (%s)", what,
			 s.jerr != json_tokener_success ? json_tokener_error_desc(s.jerr) : "text after the document");
		rc = CB_FETCH_ERROR;
	} else if (!s.obj) {
		snprintf(err, errlen, "Google's answer for %s was cut short (incomplete JSON after %zu bytes)", what, resp.len);
		rc = CB_FETCH_RETRY;
	} else if (!json_object_is_type(s.obj, json_type_object)) {
		snprintf(err, errlen, "Google's answer for %s is not a JSON object", what);
		rc = CB_FETCH_ERROR;
	} else {
		*out = s.obj;
		s.obj = NULL;
		rc = CB_FETCH_OK;
	}
	json_object_put(s.obj);
	json_tokener_free(s.tok);
	cb_http_response_clear(&resp);
	return rc;
}

cb_source_result_t cb_google_get_json(cb_google_t *g, char const *url, cb_google_target_t target, char const *what,
				     json_object **out, unsigned int *retry_after, char *err, size_t errlen)
{
	cb_source_result_t rc;
	size_t len = strlen(url) + sizeof("&prettyPrint=false");
	char *full = malloc(len);
	bool again;

	*out = NULL;
	g->retry_why = CB_SOURCE_RETRY_OTHER;
	if (!full) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	/* Compact JSON: Google indents by default, which doubles what is sent and parsed. */
	snprintf(full, len, "%s%cprettyPrint=false", url, strchr(url, '?') ? '&' : '?');
	rc = get_once(g, full, target, what, out, retry_after, &again, err, errlen);
	if (rc != CB_FETCH_OK && again) {
		rc = get_once(g, full, target, what, out, retry_after, &again, err, errlen);
	}
	free(full);
	return rc;
}

cb_source_retry_t cb_google_retry_why(cb_google_t const *g)
{
	return g->retry_why;
}
