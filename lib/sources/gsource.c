/*
 * gsource.c - what the Forms and Sheets sources share besides the Google
 * client: the allowed-domain check, spotting formulas and error values in
 * cells, and the accessors of a Google source.  The duplicate table is
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
