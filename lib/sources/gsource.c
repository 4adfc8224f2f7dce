/*
 * gsource.c - what the Forms and Sheets sources share besides the Google
 * client: the allowed-domain check, spotting formulas and error values in
 * cells, the agreement rule, the check that a form collects verified
 * addresses, and the accessors of a Google source.  The duplicate table is
 * gseen.c, the reporting of bad records greport.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sources/gsource.h"

bool cb_gsource_domain_allowed(cb_strlist_t const *domains, char const *email)
{
	char const *at = strrchr(email, '@');

	if (domains->n == 0) return true;
	if (!at) return false;
	at++;
	for (size_t i = 0; i < domains->n; i++) {
		char const *d = domains->v[i];

		if (*d == '@') d++;
		if (strcasecmp(d, at) == 0) return true;
	}
	return false;
}

char const *cb_gsource_cell_problem(char const *s)
{
	static char const *errors[] = { "#REF!", "#N/A", "#VALUE!", "#ERROR!", "#NAME?", "#DIV/0!", "#NUM!",
					"#NULL!", "#SPILL!", "#CALC!", "#LOADING", NULL };

	while (*s == ' ' || *s == '\t') s++;
	if (*s == '=') return "a formula (or text that looks like one)";
	if (*s == '#') {
		for (int i = 0; errors[i]; i++) {
			if (strncasecmp(s, errors[i], strlen(errors[i])) == 0) return "a spreadsheet error value";
		}
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c < 0x20 && c != '\t') || c == 0x7f) return "control characters";
	}
	return NULL;
}

/* text[0..len) equals want, both trimmed of spaces, ignoring ASCII case. */
static bool same(char const *text, size_t len, char const *want)
{
	cb_strlist_t one = { .v = &want, .n = 1 };

	return cb_strlist_has(&one, text, len);
}

/* want is one of the ", "-joined choices of text[0..len). */
static bool has_choice(char const *text, size_t len, char const *want)
{
	size_t wlen = strlen(want);

	while (wlen && (*want == ' ' || *want == '\t')) {
		want++;
		wlen--;
	}
	while (wlen && (want[wlen - 1] == ' ' || want[wlen - 1] == '\t')) wlen--;
	if (wlen == 0 || wlen > len) return false;
	for (size_t at = 0; at + wlen <= len; at++) {
		size_t end = at + wlen;

		if (strncasecmp(text + at, want, wlen) != 0) continue;
		if (at != 0 && (at < 2 || text[at - 2] != ',' || text[at - 1] != ' ')) continue;
		if (end == len || (end + 1 < len && text[end] == ',' && text[end + 1] == ' ')) return true;
	}
	return false;
}

bool cb_gsource_agrees(cb_strlist_t const *agree, char const *answer, size_t len, bool joined)
{
	while (len && (*answer == ' ' || *answer == '\t')) {
		answer++;
		len--;
	}
	while (len && (answer[len - 1] == ' ' || answer[len - 1] == '\t')) len--;
	for (size_t i = 0; i < agree->n; i++) {
		if (same(answer, len, agree->v[i])) return true;
		if (joined && has_choice(answer, len, agree->v[i])) return true;
	}
	return false;	/* Any other answer is a withdrawal. */
}

cb_source_result_t cb_gsource_check_email_collection(json_object *form, char const *form_id, bool allow_unverified,
						     char const *section, char *err, size_t errlen)
{
	json_object *settings, *type;
	char const *t;

	if (!json_object_object_get_ex(form, "settings", &settings) ||
	    !json_object_object_get_ex(settings, "emailCollectionType", &type) ||
	    !json_object_is_type(type, json_type_string)) return CB_FETCH_OK;	/* Older revisions do not say. */
	t = json_object_get_string(type);
	if (strcmp(t, "DO_NOT_COLLECT") == 0) {
		snprintf(err, errlen, "form %s does not collect email addresses: the form must collect verified email "
			 "addresses (Settings > Responses > Collect email addresses: Verified)", form_id);
		return CB_FETCH_ERROR;
	}
	if (strcmp(t, "RESPONDER_INPUT") == 0 && !allow_unverified) {
		snprintf(err, errlen, "form %s lets respondents type any email address: the form must collect verified "
			 "email addresses (Settings > Responses > Collect email addresses: Verified), or set "
			 "%s.allow_unverified_email = yes", form_id, section);
		return CB_FETCH_ERROR;
	}
	return CB_FETCH_OK;
}

/*
 *	Accessors common to both sources: each one's ctx starts with its
 *	cb_google_t pointer.
 */
cb_http_t *cb_gsource_http(cb_source_t *src)
{
	return cb_google_http(*(cb_google_t **) src->ctx);
}

char const *cb_gsource_client_email(cb_source_t const *src)
{
	return cb_google_client_email(*(cb_google_t * const *) src->ctx);
}

void cb_gsource_note_retry(cb_source_t *src, cb_source_result_t rc)
{
	src->retry_why = rc == CB_FETCH_RETRY ? cb_google_retry_why(*(cb_google_t * const *) src->ctx) : CB_SOURCE_RETRY_OTHER;
}
