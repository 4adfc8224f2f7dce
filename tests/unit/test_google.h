/*
 * test_google.h - helpers shared by the Google tests: a temporary directory,
 * a service-account key made on the fly, a fake HTTP transport that answers
 * from a table of URL prefixes, a log collector, and the emulator.
 */
#ifndef TEST_GOOGLE_H
#define TEST_GOOGLE_H

#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <json-c/json.h>

#include "core/ack.h"
#include "sources/google.h"
#include "sources/gsource.h"
#include "sources/http.h"

#define TG_EMAIL	"sa@test-project.iam.gserviceaccount.com"
#define TG_KID		"0123456789abcdef0123456789abcdef01234567"

/* A temporary directory (under parent, else under the program's root: test_tmp.h), removed by tg_rmdir. */
char *tg_mkdtemp(void);
char *tg_mkdtemp_in(char const *parent);
void tg_rmdir(char const *dir);

/* tg_write_file - write text to dir/name with mode; returns the malloc'd path. */
char *tg_write_file(char const *dir, char const *name, char const *text, int mode);

/* tg_read_fixture - the text of tests/unit/fixtures/google/<name> (found via $srcdir); malloc'd. */
char *tg_read_fixture(char const *name);

/*
 * tg_make_key - a fresh RSA key; writes a service-account JSON key file
 * (mode) to dir/name and returns its path.  *pub_pem (if not NULL) gets the
 * public key as PEM (malloc'd).  pkcs1: write "BEGIN RSA PRIVATE KEY".
 */
char *tg_make_key(char const *dir, char const *name, int mode, bool pkcs1, char **pub_pem);

/*
 *	Log collector: every line logged by a source.
 */
typedef struct {
	char	*text;		/* All lines, '\n'-separated. */
	size_t	len;
	int	warnings;
	int	errors;
} tg_log_t;

void tg_log(void *uctx, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));
void tg_log_clear(tg_log_t *log);
bool tg_log_has(tg_log_t const *log, char const *needle);

/*
 *	Fake transport.  Routes are matched in order by URL substring; each
 *	may be used up to uses times (0: unlimited).
 */
#define TG_ROUTES_MAX	32
#define TG_SEEN_MAX	64

typedef struct {
	char const	*match;
	long		status;
	char const	*body;		/* NULL: empty. */
	long		retry_after;
	int		uses;
	int		used;
	cb_http_result_t result;
} tg_route_t;

typedef struct {
	tg_route_t	routes[TG_ROUTES_MAX];
	int		nroutes;
	char		*seen[TG_SEEN_MAX];	/* URLs requested, in order. */
	int		nseen;
	int		token_requests;
	char		*last_assertion;
} tg_fake_t;

void tg_fake_route(tg_fake_t *f, char const *match, long status, char const *body);
tg_route_t *tg_fake_route_n(tg_fake_t *f, char const *match, long status, char const *body, int uses);
void tg_fake_token(tg_fake_t *f);	/* A route for the token endpoint, answering a token. */
cb_http_result_t tg_fake_fn(void *ctx, cb_http_request_t const *req, cb_http_response_t *resp);
void tg_fake_clear(tg_fake_t *f);
int tg_fake_count(tg_fake_t const *f, char const *match);
char const *tg_fake_find(tg_fake_t const *f, char const *match);

/* A google conf pointing at https://fake.invalid with key_file. */
void tg_google_conf(cb_google_conf_t *g, char const *key_file);

/* Run one fetch into a new index (NULL unless OK); *rc gets the result. */
cb_ack_index_t *tg_fetch(cb_source_t *src, cb_ack_index_t const *prev, bool full, cb_source_result_t *rc,
			 unsigned int *retry_after, char *err, size_t errlen);

/* The key file of the unit tests' fixture (test_google.c). */
char const *tg_unit_key_path(void);

/* The Sheets source's typed cells and form check (test_google_sheets.c), added to tc. */
void tg_add_sheets_tests(TCase *tc);

/* The record of email in idx, or fail the test. */
cb_ack_record_t const *tg_find(cb_ack_index_t const *idx, char const *email);

/*
 *	The emulator (test_google_emu.c)
 */
Suite *tg_emu_suite(void);

/* tg_changes_suite - forms and sheets changed during the year (test_google_changes.c). */
Suite *tg_changes_suite(void);

/* Suites of test_google.c */
Suite *tg_unit_suite(void);

#endif
