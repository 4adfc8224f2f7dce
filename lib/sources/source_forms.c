/*
 * source_forms.c - acknowledgements read from a Google Form through the
 * Forms API v1 (the "forms" source).
 *
 * A fetch:
 *   1. forms.get (GET /v1/forms/{id}) checks that the form collects
 *      verified email addresses and finds the questions: by the configured
 *      title the first time, then by the questionId bound then (gbind.h),
 *      so an edited title changes nothing; a deleted and re-created
 *      question holds the result (src->hold) until an admin accepts it.
 *      Done on every full fetch; while a question is held every fetch is
 *      a full one.
 *   2. responses.list (GET /v1/forms/{id}/responses?pageSize=N&pageToken=...)
 *      reads the responses page by page; each page is parsed as it arrives
 *      (one json_tokener per page), turned into records and dropped, so
 *      memory holds one page of JSON at a time.
 *   3. Each response becomes one record: respondentEmail (normalised,
 *      domain-checked), lastSubmittedTime, the policy version answer, and
 *      agreement = one of the answers to the agreement question is listed
 *      in agree_value; any other answer is a withdrawal.  A response with
 *      no answer to the agreement question is neither: it is reported and
 *      skipped, and the person's other responses decide (none: no
 *      acknowledgement).  When such a response replaces (was edited from)
 *      the response in force for its person, an incremental fetch cannot
 *      tell what remains, so the fetch is redone as a full one.
 *
 * Full and incremental fetches.  A full fetch (full = true, the first fetch
 * of this source, or no previous index) rebuilds the index from every
 * response, so deleted responses disappear.  In between, an incremental
 * fetch asks only for responses with filter=timestamp >= T, where T is the
 * newest forms record in prev (the index in force).  T comes from prev and
 * not from what this source last read because the sync thread may have
 * refused to apply the last result (the mass-removal guard): reading from
 * prev's own horizon never leaves a gap.  ">=" with whole seconds re-reads
 * the responses of second T (already in prev, harmless) and can never miss
 * one submitted later within that second.  If every response read is
 * already in prev unchanged, the fetch returns CB_FETCH_UNCHANGED and the
 * builder is not touched; otherwise prev's records are re-added, then the
 * new responses (the builder keeps the latest per person).
 *
 * Example: prev holds a@ (agreed 08:00:00) and b@ (agreed 08:05:10).  At
 * 08:06 the incremental filter is "timestamp >= <08:05:10>"; the answer
 * holds b@'s response again (unchanged) and c@ 08:05:58: c@ is new, so the
 * builder gets a@, b@ from prev and then b@, c@ from Google.
 *
 * Page size.  json-c builds a tree of about 4 KB per response (every JSON
 * object gets its own hash table), so a page of 5000 responses costs some
 * 20 MB while it is parsed, and freeing a page's 64 KB array of 8192 slots
 * makes glibc consolidate the whole freed tree (a quarter of the CPU time
 * at 5000).  2500 per page keeps the peak of a 100 000-response fetch
 * near 70 MB and its parsing under a second, for 40 requests (well inside
 * the 180 expensive reads per minute per user that Google allows).
 *
 * A response dated more than sync { future_skew } ahead is refused
 * (cb_ack_builder_future) and reported; it does not move newest_seen.
 *
 * Problems with single responses are reported (cb_greport_problem) and skipped;
 * responses already reported by an earlier fetch (older than the newest
 * lastSubmittedTime seen) are reported again only at debug level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources/gbind.h"
#include "sources/greport.h"
#include "sources/gseen.h"
#include "sources/gsource.h"
#include "core/identity.h"
#include "core/tz.h"

#define FORMS_PAGE_DEFAULT	2500		/* See "Page size" above. */
#define FORMS_PAGE_MAX		5000
#define FORMS_PAGES_MAX		100000		/* Bounds the paging loop (500 million responses). */
#define FORMS_VERSION_MAX	64
#define FORMS_ID_MAX		128
#define FORMS_URL_MAX		4096
#define FORMS_QUESTIONS_MAX	1024		/* Questions of a form looked at. */

typedef struct {
	cb_google_t	*google;		/* First member: see cb_gsource_http. */
	char		*form_id;
	char		*form_id_esc;		/* Percent-encoded for the path. */
	char		*agreement_question;
	char		*version_question;	/* NULL: none. */
	cb_strlist_t	agree;
	cb_strlist_t	domains;
	uint32_t	page_size;
	bool		allow_unverified;

	char		*binding_path;		/* Where the bindings are kept; NULL: not kept. */

	/* State kept between fetches. */
	cb_gbind_t	agree_q;		/* The questions, bound by id (gbind.h). */
	cb_gbind_t	version_q;
	char const	*agree_qid;		/* The ids read: from the last forms.get; NULL until mapped. */
	char const	*version_qid;
	bool		held;			/* A question is held (gbind.h): every fetch is a full one. */
	bool		full_done;		/* A full fetch has succeeded. */
	time_t		newest_seen;		/* Newest lastSubmittedTime of the last successful fetch. */
	time_t		future_seen;		/* Newest future-dated response already reported. */
} forms_ctx_t;

/* One response, ready for the builder. */
typedef struct {
	char	email[CB_IDENTITY_MAX + 1];
	char	version[FORMS_VERSION_MAX + 1];
	char	origin[FORMS_ID_MAX + 8];
	time_t	ack_time;
	bool	revoked;
} forms_rec_t;

/* The state of one fetch. */
typedef struct {
	cb_source_t		*src;
	forms_ctx_t		*c;
	cb_ack_builder_t	*b;
	cb_greport_t		report;
	cb_gseen_t		*seen;
	bool			incremental;
	bool			need_full;	/* Incremental: a response in force was edited to no answer. */
	cb_ack_index_t const	*prev;
	forms_rec_t		*pending;	/* Incremental: the responses read, before deciding. */
	size_t			npending, cap;
	size_t			read, used, no_email;
	time_t			newest;
	time_t			future;		/* Newest future-dated response of this fetch. */
} forms_fetch_t;

/*
 *	JSON helpers
 */
static json_object *jget(json_object *o, char const *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object)) return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static char const *jstr(json_object *o, char const *key, size_t *len)
{
	json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_string)) return NULL;
	if (len) *len = (size_t) json_object_get_string_len(v);
	return json_object_get_string(v);
}

/*
 *	forms.get: question titles -> questionIds
 */

/* Append "title" to a list for a message, while room remains. */
static void list_title(char *buf, size_t len, char const *title)
{
	size_t used = strlen(buf);

	if (used + 8 >= len) return;
	snprintf(buf + used, len - used, "%s\"%.60s\"", used ? ", " : "", title);
}

/* Warn when a choice question offers none of the agreement values. */
static void check_options(cb_source_t *src, forms_ctx_t *c, json_object *question)
{
	json_object *opts = jget(jget(question, "choiceQuestion"), "options");
	size_t n;

	if (!opts || !json_object_is_type(opts, json_type_array)) return;
	n = json_object_array_length(opts);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char const *v = jstr(json_object_array_get_idx(opts, i), "value", &len);

		if (v && cb_strlist_has(&c->agree, v, len)) return;
	}
	if (src->log) src->log(src->log_ctx, CB_LOG_WARN, "forms: none of the options of the question \"%s\" is "
			       "listed in forms.agree_value, so no response can count as agreement",
			       c->agreement_question);
}

/* The questions of the form into items (at most max; pointers into form) and their titles into titles. */
static size_t list_items(cb_source_t *src, forms_ctx_t *c, json_object *list, cb_gbind_item_t *items, size_t max,
			 char *titles, size_t tlen)
{
	size_t n = json_object_array_length(list), got = 0;

	for (size_t i = 0; i < n && got < max; i++) {
		json_object *item = json_object_array_get_idx(list, i);
		json_object *q = jget(jget(item, "questionItem"), "question");
		char const *title = jstr(item, "title", NULL), *qid = jstr(q, "questionId", NULL);

		if (!title || !qid) continue;
		list_title(titles, tlen, title);
		for (size_t j = 0; j < got; j++) {
			if (strcasecmp(items[j].title, title) == 0 && src->log &&
			    (strcasecmp(title, c->agreement_question) == 0 ||
			     (c->version_question && strcasecmp(title, c->version_question) == 0))) {
				src->log(src->log_ctx, CB_LOG_WARN, "forms: two questions are titled \"%s\"; the first "
					 "is used", title);
			}
		}
		items[got++] = (cb_gbind_item_t) { .qid = qid, .title = title };
	}
	if (got == max && src->log) src->log(src->log_ctx, CB_LOG_WARN, "forms: form %s has more than %zu questions; "
					     "only the first %zu are looked at", c->form_id, max, max);
	return got;
}

/* The question object of the item with questionId qid (for check_options). */
static json_object *question_of(json_object *list, char const *qid)
{
	size_t n = json_object_array_length(list);

	for (size_t i = 0; i < n; i++) {
		json_object *q = jget(jget(json_object_array_get_idx(list, i), "questionItem"), "question");
		char const *id = jstr(q, "questionId", NULL);

		if (id && strcmp(id, qid) == 0) return q;
	}
	return NULL;
}

/* Save the bindings when they changed; a failure is logged (they are bound by title again after a restart). */
static void save_bindings(cb_source_t *src, forms_ctx_t *c)
{
	char err[512];

	if (!c->binding_path || cb_gbind_save(c->binding_path, c->form_id, &c->agree_q, &c->version_q, err,
					      sizeof(err)) == 0) return;
	if (src->log) src->log(src->log_ctx, CB_LOG_ERROR, "forms: cannot keep the question ids: %s (after a "
			       "restart the questions are found by title again)", err);
}

/* One question's binding; the message of a hold goes to src->hold (appended). */
static cb_source_result_t bind_one(cb_source_t *src, cb_gbind_t *b, cb_gbind_form_t *f, char const *want,
				   char const *what, char const *option, char *err, size_t errlen)
{
	char msg[CB_SOURCE_HOLD_MAX];
	size_t at = 0, used;

	switch (cb_gbind_resolve(b, f, want, what, option, &at, msg, sizeof(msg))) {
	case CB_GBIND_OK:
		return CB_FETCH_OK;
	case CB_GBIND_HOLD:
		used = strlen(src->hold);
		if (used + 3 < sizeof(src->hold)) {	/* A second hold is cut short to fit. */
			snprintf(src->hold + used, sizeof(src->hold) - used, "%s%.*s", used ? "; " : "",
				 (int) (sizeof(src->hold) - used - 3), msg);
		}
		return CB_FETCH_OK;
	case CB_GBIND_ERROR:
		break;
	}
	snprintf(err, errlen, "%s", msg);
	return CB_FETCH_ERROR;
}

static cb_source_result_t map_questions(cb_source_t *src, forms_ctx_t *c, json_object *form, char *err, size_t errlen)
{
	json_object *list = jget(form, "items");
	char titles[512] = "";
	cb_gbind_item_t items[FORMS_QUESTIONS_MAX];
	cb_gbind_form_t f = { .form_id = c->form_id, .items = items, .titles = titles, .accept = src->accept_hold,
			      .log = src->log, .log_ctx = src->log_ctx };
	cb_source_result_t rc;

	rc = cb_gsource_check_email_collection(form, c->form_id, c->allow_unverified, "forms", err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	if (!list || !json_object_is_type(list, json_type_array)) {
		snprintf(err, errlen, "form %s has no questions (forms.get returned no items)", c->form_id);
		return CB_FETCH_ERROR;
	}
	f.n = list_items(src, c, list, items, sizeof(items) / sizeof(items[0]), titles, sizeof(titles));
	rc = bind_one(src, &c->agree_q, &f, c->agreement_question, "agreement", "forms.agreement_question", err, errlen);
	if (rc == CB_FETCH_OK && c->version_question) {
		rc = bind_one(src, &c->version_q, &f, c->version_question, "policy version",
			      "forms.policy_version_question", err, errlen);
	} else if (rc == CB_FETCH_OK && c->version_q.qid) {
		cb_gbind_clear(&c->version_q);
		f.dirty = true;
	}
	if (f.dirty) save_bindings(src, c);
	if (rc != CB_FETCH_OK) {
		c->agree_qid = c->version_qid = NULL;	/* No incremental fetch until a full one maps them again. */
		return rc;
	}
	c->agree_qid = cb_gbind_qid(&c->agree_q);
	c->version_qid = c->version_question ? cb_gbind_qid(&c->version_q) : NULL;
	c->held = src->hold[0] != '\0';
	check_options(src, c, question_of(list, c->agree_qid));
	return CB_FETCH_OK;
}

static cb_source_result_t fetch_form(cb_source_t *src, forms_ctx_t *c, unsigned int *retry_after, char *err, size_t errlen)
{
	char url[FORMS_URL_MAX], what[FORMS_ID_MAX + 16];
	json_object *form = NULL;
	cb_source_result_t rc;

	snprintf(what, sizeof(what), "form %s", c->form_id);
	if ((size_t) snprintf(url, sizeof(url), "%s/v1/forms/%s", cb_google_forms_url(c->google), c->form_id_esc) >=
	    sizeof(url)) {
		snprintf(err, errlen, "forms: the form's URL is too long");
		return CB_FETCH_ERROR;
	}
	rc = cb_google_get_json(c->google, url, CB_GOOGLE_FORM, what, &form, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	rc = map_questions(src, c, form, err, errlen);
	json_object_put(form);
	return rc;
}

/*
 *	One response -> one record
 */

/* The text answers to a question, or NULL. */
static json_object *answers_to(json_object *response, char const *qid)
{
	json_object *list = jget(jget(jget(jget(response, "answers"), qid), "textAnswers"), "answers");

	return (list && json_object_is_type(list, json_type_array)) ? list : NULL;
}

static bool agreed(forms_ctx_t *c, json_object *answers)
{
	size_t n = answers ? json_object_array_length(answers) : 0;

	for (size_t i = 0; i < n; i++) {
		size_t len;
		char const *v = jstr(json_object_array_get_idx(answers, i), "value", &len);

		if (v && cb_gsource_agrees(&c->agree, v, len, false)) return true;
	}
	return false;	/* Any other answer is a withdrawal. */
}

/* Whether the response answers the agreement question at all (a non-empty value). */
static bool answered(json_object *answers)
{
	size_t n = answers ? json_object_array_length(answers) : 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		char const *v = jstr(json_object_array_get_idx(answers, i), "value", &len);

		if (v && len > 0) return true;
	}
	return false;
}

/* A response without an answer to the agreement question: reported; 0 to skip it, as every caller does. */
static int unanswered(forms_fetch_t *f, forms_rec_t const *rec, char const *rid)
{
	cb_ack_record_t const *r = f->prev ? cb_ack_index_find(f->prev, rec->email) : NULL;

	cb_greport_problem(&f->report, "response %s (%s): no answer to the agreement question: a blank answer is "
			   "neither an acknowledgement nor a withdrawal; skipped", rid, rec->email);
	if (f->incremental && r && strcmp(r->origin, rec->origin) == 0) f->need_full = true;
	return -1;
}

/* The policy version answer into rec->version; -1 (reported) when unusable. */
static int read_version(forms_fetch_t *f, json_object *response, forms_rec_t *rec, char const *rid)
{
	json_object *answers;
	char const *v;
	size_t len;

	rec->version[0] = '\0';
	if (!f->c->version_qid) return 0;
	answers = answers_to(response, f->c->version_qid);
	if (!answers || json_object_array_length(answers) == 0) return 0;
	v = jstr(json_object_array_get_idx(answers, 0), "value", &len);
	if (!v) return 0;
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
	if (len > FORMS_VERSION_MAX || memchr(v, '\0', len) || cb_gsource_cell_problem(v)) {
		cb_greport_problem(&f->report, "response %s: the policy version answer is too long or holds odd text; skipped", rid);
		return -1;
	}
	memcpy(rec->version, v, len);
	rec->version[len] = '\0';
	return 0;
}

/* A response id fit for an origin: printable, no spaces, bounded. */
static bool rid_ok(char const *rid, size_t len)
{
	if (len == 0 || len > FORMS_ID_MAX) return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char) rid[i] <= 0x20 || (unsigned char) rid[i] >= 0x7f) return false;
	}
	return true;
}

/* Turn a response into rec.  0, or -1 when it was reported and must be skipped. */
static int read_response(forms_fetch_t *f, json_object *response, size_t index, forms_rec_t *rec)
{
	char const *rid, *stamp, *email;
	size_t rid_len, stamp_len, email_len;
	char where[FORMS_ID_MAX + 32], why[160];
	bool future;

	rid = jstr(response, "responseId", &rid_len);
	if (!rid || !rid_ok(rid, rid_len)) {
		cb_greport_problem(&f->report, "response number %zu of the page has no usable responseId; skipped", index + 1);
		return -1;
	}
	snprintf(where, sizeof(where), "%s", rid);
	snprintf(rec->origin, sizeof(rec->origin), "forms:%s", rid);

	stamp = jstr(response, "lastSubmittedTime", &stamp_len);
	if (!stamp) stamp = jstr(response, "createTime", &stamp_len);
	if (!stamp || cb_tz_parse_time(stamp, stamp_len, NULL, &rec->ack_time) < 0) {
		cb_greport_problem(&f->report, "response %s: lastSubmittedTime is missing or not an RFC 3339 time; skipped", where);
		return -1;
	}
	future = cb_ack_builder_future(f->b, rec->ack_time, why, sizeof(why));
	if (future) {		/* Reported once, then at debug level; never counted as seen. */
		f->report.quiet = f->incremental && rec->ack_time <= f->c->future_seen;
		if (rec->ack_time > f->future) f->future = rec->ack_time;
	} else {
		f->report.quiet = f->incremental && rec->ack_time <= f->c->newest_seen;
		if (rec->ack_time > f->newest) f->newest = rec->ack_time;
	}

	email = jstr(response, "respondentEmail", &email_len);
	if (!email) {
		f->no_email++;
		cb_greport_problem(&f->report, "response %s has no respondentEmail: the form must collect verified email "
			   "addresses; skipped", where);
		return -1;
	}
	if (!cb_identity_email_normalise(email, email_len, rec->email, sizeof(rec->email))) {
		cb_greport_problem(&f->report, "response %s: respondentEmail is not a valid email address; skipped", where);
		return -1;
	}
	if (!cb_gsource_domain_allowed(&f->c->domains, rec->email)) {
		cb_greport_problem(&f->report, "response %s: %s is not in an allowed domain (forms.allowed_domain); skipped",
			   where, rec->email);
		return -1;
	}
	if (future) {
		cb_greport_problem(&f->report, "response %s (%s): %s", where, rec->email, why);
		return -1;
	}
	if (!answered(answers_to(response, f->c->agree_qid))) return unanswered(f, rec, where);
	rec->revoked = !agreed(f->c, answers_to(response, f->c->agree_qid));
	return read_version(f, response, rec, where);
}

/* Duplicates within this fetch: 0 to use the record, -1 to skip it. */
static int check_seen(forms_fetch_t *f, forms_rec_t const *rec, long where)
{
	long first = 0;

	switch (cb_gseen_check(f->seen, rec->email, rec->ack_time, rec->revoked, where, &first)) {
	case CB_GSEEN_DUPLICATE:
		cb_greport_problem(&f->report, "%s: a second response of %s at the same instant (duplicate); skipped",
			   rec->origin, rec->email);
		return -1;
	case CB_GSEEN_CONFLICT:
		cb_greport_problem(&f->report, "%s: %s both agreed and withdrew at the same instant; the withdrawal counts",
			   rec->origin, rec->email);
		return 0;
	default:
		return 0;
	}
}

static int keep_pending(forms_fetch_t *f, forms_rec_t const *rec)
{
	if (f->npending == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		forms_rec_t *p = realloc(f->pending, cap * sizeof(*p));

		if (!p) return -1;
		f->pending = p;
		f->cap = cap;
	}
	f->pending[f->npending++] = *rec;
	return 0;
}

static cb_source_result_t read_page(forms_fetch_t *f, json_object *page, char *err, size_t errlen)
{
	json_object *list = jget(page, "responses");
	size_t n;
	forms_rec_t rec;

	if (!list) return CB_FETCH_OK;		/* An empty page has no "responses". */
	if (!json_object_is_type(list, json_type_array)) {
		snprintf(err, errlen, "form %s: responses.list returned \"responses\" that is not a list", f->c->form_id);
		return CB_FETCH_ERROR;
	}
	n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		f->read++;
		if (read_response(f, json_object_array_get_idx(list, i), i, &rec) < 0) continue;
		if (check_seen(f, &rec, (long) f->read) < 0) continue;
		if (f->incremental) {
			if (keep_pending(f, &rec) < 0) goto oom;
		} else if (cb_ack_builder_add(f->b, rec.email, rec.ack_time, rec.version, rec.revoked, rec.origin) < 0) {
			goto oom;
		}
		f->used++;
	}
	return CB_FETCH_OK;
oom:
	snprintf(err, errlen, "out of memory reading form %s", f->c->form_id);
	return CB_FETCH_ERROR;
}

/*
 *	Paging
 */
static int list_url(forms_fetch_t *f, char *url, size_t len, char const *filter, char const *token)
{
	forms_ctx_t *c = f->c;
	char filter_esc[256] = "", token_esc[2048] = "";
	int n;

	if (filter && cb_http_escape(cb_google_http(c->google), filter, filter_esc, sizeof(filter_esc)) < 0) return -1;
	if (token && cb_http_escape(cb_google_http(c->google), token, token_esc, sizeof(token_esc)) < 0) return -1;
	n = snprintf(url, len, "%s/v1/forms/%s/responses?pageSize=%u%s%s%s%s", cb_google_forms_url(c->google),
		     c->form_id_esc, c->page_size, filter ? "&filter=" : "", filter_esc, token ? "&pageToken=" : "",
		     token_esc);
	return (n < 0 || (size_t) n >= len) ? -1 : 0;
}

/* The next page's token into token (NULL'd when the listing is complete). */
static cb_source_result_t next_token(forms_fetch_t *f, json_object *page, char *token, size_t len, bool *more,
				    char *err, size_t errlen)
{
	size_t tlen;
	char const *t = jstr(page, "nextPageToken", &tlen);

	*more = false;
	if (!t || tlen == 0) return CB_FETCH_OK;
	if (tlen >= len || memchr(t, '\0', tlen)) {
		snprintf(err, errlen, "form %s: responses.list returned an unusable nextPageToken", f->c->form_id);
		return CB_FETCH_ERROR;
	}
	if (strcmp(t, token) == 0) {
		snprintf(err, errlen, "form %s: responses.list returned the same nextPageToken twice", f->c->form_id);
		return CB_FETCH_ERROR;
	}
	memcpy(token, t, tlen + 1);
	*more = true;
	return CB_FETCH_OK;
}

static cb_source_result_t read_responses(forms_fetch_t *f, char const *filter, unsigned int *retry_after,
					char *err, size_t errlen)
{
	char url[FORMS_URL_MAX], token[1024] = "", what[FORMS_ID_MAX + 32];
	bool more = true;
	size_t pages;
	cb_source_result_t rc = CB_FETCH_OK;

	snprintf(what, sizeof(what), "the responses of form %s", f->c->form_id);
	for (pages = 0; more && pages < FORMS_PAGES_MAX; pages++) {
		json_object *page = NULL;

		if (list_url(f, url, sizeof(url), filter, token[0] ? token : NULL) < 0) {
			snprintf(err, errlen, "form %s: the responses.list URL is too long", f->c->form_id);
			return CB_FETCH_ERROR;
		}
		rc = cb_google_get_json(f->c->google, url, CB_GOOGLE_FORM, what, &page, retry_after, err, errlen);
		if (rc != CB_FETCH_OK) return rc;
		rc = read_page(f, page, err, errlen);
		if (rc == CB_FETCH_OK) rc = next_token(f, page, token, sizeof(token), &more, err, errlen);
		json_object_put(page);
		if (rc != CB_FETCH_OK) return rc;
	}
	if (more) {
		snprintf(err, errlen, "form %s: more than %d pages of responses", f->c->form_id, FORMS_PAGES_MAX);
		return CB_FETCH_ERROR;
	}
	if (f->src->log) f->src->log(f->src->log_ctx, CB_LOG_DEBUG, "forms: read %zu responses in %zu pages%s%s",
				     f->read, pages, filter ? " with filter " : "", filter ? filter : "");
	return CB_FETCH_OK;
}

/*
 *	Incremental fetches
 */

/* The newest ack_time of prev's forms records, or -1 when it has none. */
static time_t prev_horizon(cb_ack_index_t const *prev)
{
	size_t n = cb_ack_index_count(prev);
	time_t newest = -1;

	for (size_t i = 0; i < n; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(prev, i);

		if (r && strncmp(r->origin, "forms:", 6) == 0 && r->ack_time > newest) newest = r->ack_time;
	}
	return newest;
}

/* Would rec change what prev says about its person? */
static bool changes(cb_ack_index_t const *prev, forms_rec_t const *rec)
{
	cb_ack_record_t const *r = cb_ack_index_find(prev, rec->email);

	if (!r) return true;
	if (r->ack_time > rec->ack_time) return false;		/* prev already holds something later. */
	if (r->ack_time < rec->ack_time) return true;
	if (r->revoked != rec->revoked) return !r->revoked;	/* At equal times the withdrawal wins. */
	return strcmp(r->policy_version, rec->version) != 0 || strcmp(r->origin, rec->origin) != 0;
}

static cb_source_result_t merge(forms_fetch_t *f, cb_ack_index_t const *prev, char *err, size_t errlen)
{
	size_t i, n;
	bool changed = false;

	for (i = 0; i < f->npending && !changed; i++) changed = changes(prev, &f->pending[i]);
	if (!changed) return CB_FETCH_UNCHANGED;

	n = cb_ack_index_count(prev);
	for (i = 0; i < n; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(prev, i);

		if (r && cb_ack_builder_add(f->b, r->email, r->ack_time, r->policy_version, r->revoked, r->origin) < 0) goto oom;
	}
	for (i = 0; i < f->npending; i++) {
		forms_rec_t const *rec = &f->pending[i];

		if (cb_ack_builder_add(f->b, rec->email, rec->ack_time, rec->version, rec->revoked, rec->origin) < 0) goto oom;
	}
	return CB_FETCH_OK;
oom:
	snprintf(err, errlen, "out of memory merging form %s", f->c->form_id);
	return CB_FETCH_ERROR;
}

/*
 *	fetch()
 */
static cb_source_result_t forms_fetch(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				     bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	forms_ctx_t *c = src->ctx;
	forms_fetch_t f = { .src = src, .c = c, .b = b, .prev = prev, .report = { .src = src } };
	char filter[64], stamp[32];
	time_t since = -1;
	cb_source_result_t rc;

	if (retry_after) *retry_after = 0;
	if (!full && prev && c->full_done && c->agree_qid && !c->held) since = prev_horizon(prev);
	f.incremental = since >= 0;
	f.report.complete = !f.incremental;

	if (!f.incremental) {
		rc = fetch_form(src, c, retry_after, err, errlen);
		if (rc != CB_FETCH_OK) return rc;
	}
	f.seen = cb_gseen_new();
	if (!f.seen) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	if (f.incremental) snprintf(filter, sizeof(filter), "timestamp >= %s", cb_tz_format_utc(since, stamp, sizeof(stamp)));
	rc = read_responses(&f, f.incremental ? filter : NULL, retry_after, err, errlen);
	if (rc == CB_FETCH_OK && f.need_full) {		/* Only when incremental: the full fetch never sets it. */
		cb_gseen_free(f.seen);
		free(f.pending);
		if (src->log) src->log(src->log_ctx, CB_LOG_INFO, "forms: a response in force was edited to have no "
				       "answer to the agreement question; reading the whole form");
		return forms_fetch(src, b, prev, true, retry_after, err, errlen);
	}

	if (rc == CB_FETCH_OK && !f.incremental && f.read > 0 && f.no_email == f.read) {
		snprintf(err, errlen, "none of the %zu responses of form %s has respondentEmail: the form must collect "
			 "verified email addresses (Settings > Responses > Collect email addresses: Verified)",
			 f.read, c->form_id);
		rc = CB_FETCH_ERROR;
	}
	if (rc == CB_FETCH_OK && f.incremental) rc = merge(&f, prev, err, errlen);
	if (rc == CB_FETCH_OK || rc == CB_FETCH_UNCHANGED) {
		cb_greport_summary(&f.report, "responses", f.used);
		if (!f.incremental) c->full_done = true;
		if (f.newest > c->newest_seen) c->newest_seen = f.newest;
		if (f.future > c->future_seen) c->future_seen = f.future;
	}
	cb_gseen_free(f.seen);
	free(f.pending);
	return rc;
}

/* fetch() as the sync thread calls it: the fetch, and why it must wait when it answers RETRY. */
static cb_source_result_t forms_fetch_noted(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				 bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	cb_source_result_t rc = forms_fetch(src, b, prev, full, retry_after, err, errlen);

	cb_gsource_note_retry(src, rc);
	return rc;
}

static void forms_free(cb_source_t *src)
{
	forms_ctx_t *c;

	if (!src) return;
	c = src->ctx;
	if (c) {
		cb_google_free(c->google);
		free(c->form_id);
		free(c->form_id_esc);
		free(c->agreement_question);
		free(c->version_question);
		free(c->binding_path);
		cb_gbind_clear(&c->agree_q);
		cb_gbind_clear(&c->version_q);
		cb_strlist_free(&c->agree);
		cb_strlist_free(&c->domains);
		free(c);
	}
	free(src);
}

/* The bindings kept by an earlier run; a missing or damaged file is logged: they are found by title again. */
static int load_bindings(cb_source_t *src, forms_ctx_t *c, char const *path)
{
	char err[512];
	int rc;

	c->binding_path = strdup(path);
	if (!c->binding_path) return -1;
	rc = cb_gbind_load(path, c->form_id, &c->agree_q, &c->version_q, err, sizeof(err));
	if (rc != 0 && err[0] && src->log) {
		src->log(src->log_ctx, CB_LOG_WARN, "forms: ignoring the question ids kept in %s: the questions are "
			 "found by title again", err);
	}
	return 0;
}

/* A form id as Google issues them: letters, digits, '-' and '_'. */
static bool form_id_ok(char const *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > FORMS_ID_MAX) return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int check_conf(cb_gsource_forms_conf_t const *conf, char *err, size_t errlen)
{
	if (!conf->form_id || !*conf->form_id) {
		snprintf(err, errlen, "forms.form_id is required: the id from the form's edit URL "
			 "(https://docs.google.com/forms/d/<form_id>/edit)");
		return -1;
	}
	if (!form_id_ok(conf->form_id)) {
		snprintf(err, errlen, "forms.form_id \"%.80s\" is not a form id (letters, digits, '-' and '_' from "
			 "the form's edit URL)", conf->form_id);
		return -1;
	}
	if (!conf->agreement_question || !*conf->agreement_question) {
		snprintf(err, errlen, "forms.agreement_question is required: the title of the question whose answer "
			 "says the person agrees");
		return -1;
	}
	if (conf->page_size > FORMS_PAGE_MAX) {
		snprintf(err, errlen, "forms.page_size %u is out of range (1..%d)", conf->page_size, FORMS_PAGE_MAX);
		return -1;
	}
	for (size_t i = 0; i < conf->agree_values.n; i++) {
		if (!conf->agree_values.v[i] || !*conf->agree_values.v[i]) {
			snprintf(err, errlen, "forms.agree_value must not be empty");
			return -1;
		}
	}
	return 0;
}

cb_source_t *cb_gsource_forms_new(cb_gsource_forms_conf_t const *conf, cb_google_conf_t const *google,
				 cb_log_fn_t log, void *log_ctx, char *err, size_t errlen)
{
	static char const *default_agree[] = { "I agree", NULL };
	cb_source_t *src;
	forms_ctx_t *c;
	char esc[FORMS_ID_MAX * 3 + 1];

	if (check_conf(conf, err, errlen) < 0) return NULL;
	src = cb_source_new("forms", forms_fetch_noted, forms_free, sizeof(*c), log, log_ctx);
	if (!src) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c = src->ctx;

	c->page_size = conf->page_size ? conf->page_size : FORMS_PAGE_DEFAULT;
	c->allow_unverified = conf->allow_unverified_email;
	c->form_id = strdup(conf->form_id);
	c->agreement_question = strdup(conf->agreement_question);
	c->version_question = (conf->policy_version_question && *conf->policy_version_question) ?
			      strdup(conf->policy_version_question) : NULL;
	if (!c->form_id || !c->agreement_question ||
	    (conf->policy_version_question && *conf->policy_version_question && !c->version_question) ||
	    cb_strlist_copy(&c->agree, &conf->agree_values, default_agree) < 0 ||
	    cb_strlist_copy(&c->domains, &conf->allowed_domains, NULL) < 0) {
		snprintf(err, errlen, "out of memory");
		forms_free(src);
		return NULL;
	}
	if (conf->binding_path && *conf->binding_path && load_bindings(src, c, conf->binding_path) < 0) {
		snprintf(err, errlen, "out of memory");
		forms_free(src);
		return NULL;
	}
	c->google = cb_google_new(google, CB_GOOGLE_SCOPE_FORMS, err, errlen);
	if (!c->google) {
		forms_free(src);
		return NULL;
	}
	if (cb_http_escape(cb_google_http(c->google), c->form_id, esc, sizeof(esc)) < 0 || !(c->form_id_esc = strdup(esc))) {
		snprintf(err, errlen, "out of memory");
		forms_free(src);
		return NULL;
	}
	return src;
}
