/*
 * fuzz_identity.c - the identity a person authenticated as (up to 253
 * arbitrary bytes of a RADIUS attribute) and email addresses, on arbitrary
 * bytes: cb_identity_normalise under each configuration,
 * cb_identity_email_normalise, cb_identity_email and the UTF-8 check.
 * What comes out normalised must be valid text and normalise to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "core/identity.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size);

static char const *const domains[] = { "SCHOOL", "Élève" };
static char const *const realms[] = { "School.Example", "ÉCOLE.example" };

static void identity(char const *in, size_t len, bool strip_realm, bool strip_domain, size_t max)
{
	cb_identity_conf_t conf = { .max_length = max };
	char out[CB_IDENTITY_MAX + 1], again[CB_IDENTITY_MAX + 1], email[2 * CB_IDENTITY_MAX + 2];
	cb_identity_result_t rc;

	if (strip_domain) conf.strip_domains = (cb_strlist_t) { .v = domains, .n = 2 };
	if (strip_realm) conf.strip_realms = (cb_strlist_t) { .v = realms, .n = 2 };
	rc = cb_identity_normalise(&conf, in, len, out, sizeof(out));
	if (cb_identity_error(rc) == NULL) abort();
	if (rc != CB_IDENTITY_OK) {
		if (out[0]) abort();
		return;
	}
	if (!cb_utf8_text_valid(out, strlen(out))) abort();
	conf.max_length = 0;	/* Folding may lengthen: the normal form is checked against 253 bytes only. */
	if (cb_identity_normalise(&conf, out, strlen(out), again, sizeof(again)) != CB_IDENTITY_OK) abort();
	if (strcmp(out, again) != 0) abort();
	cb_identity_email(out, "School.Example", email, sizeof(email));
}

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	char const *in = (char const *) data;
	char out[CB_IDENTITY_MAX + 1], again[CB_IDENTITY_MAX + 1];

	for (int c = 0; c < 4; c++) identity(in, size, c & 1, c & 2, 0);
	identity(in, size, true, true, size ? size - 1 : 1);
	cb_utf8_check(in, size);
	{
		char shown[CB_IDENTITY_ESCAPED_MAX], small[16];

		cb_identity_escape(in, size, shown, sizeof(shown));
		if (strlen(shown) >= sizeof(shown) || strlen(shown) > 4 * size + 3) abort();
		cb_identity_escape(in, size, small, sizeof(small));
		if (strlen(small) >= sizeof(small)) abort();
	}
	if (cb_identity_email_normalise(in, size, out, sizeof(out))) {
		if (!cb_utf8_text_valid(out, strlen(out)) || !strchr(out, '@')) abort();
		if (!cb_identity_email_normalise(out, strlen(out), again, sizeof(again)) || strcmp(out, again) != 0) abort();
	}
	return 0;
}
