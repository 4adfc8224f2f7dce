/*
 * test_identity.c - identity checks and normal forms with hostile input:
 * NUL bytes, control characters, invalid UTF-8, over-long names,
 * DOMAIN\user and user@realm forms; and email normalisation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>

#include "core/identity.h"

static char const *const school[] = { "SCHOOL" };
static char const *const realm[] = { "School.Example" };
static cb_identity_conf_t const conf = { .strip_domains = { school, 1 }, .max_length = 128 };

static cb_identity_result_t norm(cb_identity_conf_t const *c, char const *in, size_t len, char *out)
{
	return cb_identity_normalise(c, in, len, out, CB_IDENTITY_MAX + 1);
}

/** expect - in normalises OK under c to want. */
static void expect(cb_identity_conf_t const *c, char const *in, char const *want)
{
	char out[CB_IDENTITY_MAX + 1];

	ck_assert_int_eq(norm(c, in, strlen(in), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, want);
}

START_TEST(test_forms)
{
	cb_identity_conf_t strip = conf;
	static struct {
		char const *in, *want;
	} const both[] = {
		{ "Alice@School.Example", "alice" },
		{ "SCHOOL\\Alice@SCHOOL.EXAMPLE", "alice" },
		/* A realm or domain that is not listed stays: another domain's alice is not ours. */
		{ "alice@other.example", "alice@other.example" },
		{ "OTHERDOMAIN\\alice", "otherdomain\\alice" },
		{ "SCHOOLX\\alice", "schoolx\\alice" },
		{ "alice@school.example.evil", "alice@school.example.evil" },
	};

	expect(&conf, "Alice", "alice");
	expect(&conf, "SCHOOL\\Alice", "alice");
	expect(&conf, "Alice@School.Example", "alice@school.example");
	expect(&conf, "zoë", "zoë");
	strip.strip_realms = (cb_strlist_t) { realm, 1 };
	for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) expect(&strip, both[i].in, both[i].want);
	strip.strip_domains = (cb_strlist_t) { NULL, 0 };
	expect(&strip, "SCHOOL\\alice", "school\\alice");
}
END_TEST

START_TEST(test_fold)
{
	char out[CB_IDENTITY_MAX + 1], a[CB_IDENTITY_MAX + 1];
	static char const *const eleve[] = { "ÉLÈVES" };
	cb_identity_conf_t c = { .strip_domains = { eleve, 1 }, .max_length = 128 };

	/* One person, however the case and the composition are written. */
	ck_assert_int_eq(norm(&conf, "élise", strlen("élise"), a), CB_IDENTITY_OK);
	ck_assert_str_eq(a, "\xc3\xa9lise");	/* NFC: U+00E9 */
	ck_assert_int_eq(norm(&conf, "Élise", strlen("Élise"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(norm(&conf, "ÉLISE", strlen("ÉLISE"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(norm(&conf, "e\xcc\x81lise", 7, out), CB_IDENTITY_OK);	/* NFD: e + U+0301 */
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(norm(&conf, "E\xcc\x81LISE", 7, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(norm(&conf, "SCHOOL\\ÉLISE", strlen("SCHOOL\\ÉLISE"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, a);
	/* Greek final sigma and capital sigma fold alike; Cyrillic and Deseret (outside the BMP) too. */
	ck_assert_int_eq(norm(&conf, "ΟΔΥΣΣΕΥΣ", strlen("ΟΔΥΣΣΕΥΣ"), a), CB_IDENTITY_OK);
	ck_assert_int_eq(norm(&conf, "οδυσσευς", strlen("οδυσσευς"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, a);
	ck_assert_int_eq(norm(&conf, "ИВАН", strlen("ИВАН"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "иван");
	ck_assert_int_eq(norm(&conf, "\xf0\x90\x90\x80", 4, out), CB_IDENTITY_OK);	/* U+10400 */
	ck_assert_str_eq(out, "\xf0\x90\x90\xa8");					/* U+10428 */
	/* Turkish: Unicode's default folding, whatever the locale.  I -> i; dotless ı kept; dotted İ is I + U+0307 (NFD), so i + U+0307. */
	ck_assert_int_eq(norm(&conf, "IŞIK", strlen("IŞIK"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "işik");
	ck_assert_int_eq(norm(&conf, "ışık", strlen("ışık"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "ışık");
	ck_assert_int_eq(norm(&conf, "İpek", strlen("İpek"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "i\xcc\x87pek");
	/* Simple folding: ß stays ß (a directory finds "straße", not "strasse"); ẞ folds to ß. */
	ck_assert_int_eq(norm(&conf, "STRAẞE", strlen("STRAẞE"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "straße");
	/* A listed domain is matched folded too. */
	ck_assert_int_eq(norm(&c, "élèves\\Zoë", strlen("élèves\\Zoë"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "zoë");
	ck_assert_int_eq(norm(&c, "e\xcc\x81le\xcc\x80ves\\zoe\xcc\x88", 16, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "zoë");
	/* Emails fold alike, so an acknowledgement keyed by "Élise@..." is élise's. */
	ck_assert(cb_identity_email_normalise("Élise@School.Example", strlen("Élise@School.Example"), out, sizeof(out)));
	ck_assert_str_eq(out, "élise@school.example");
	ck_assert(cb_identity_email("élise", "SCHOOL.example", out, sizeof(out)));
	ck_assert_str_eq(out, "élise@school.example");
	/* Names a configuration may list. */
	ck_assert(cb_identity_strip_name_ok("SCHOOL"));
	ck_assert(cb_identity_strip_name_ok("école.example"));
	ck_assert(!cb_identity_strip_name_ok(""));
	ck_assert(!cb_identity_strip_name_ok("SCHOOL STAFF"));
	ck_assert(!cb_identity_strip_name_ok("a\\b"));
	ck_assert(!cb_identity_strip_name_ok("a@b"));
	ck_assert(!cb_identity_strip_name_ok("a\x01"));
}
END_TEST

START_TEST(test_fold_ascii)
{
	UErrorCode err = U_ZERO_ERROR;
	UNormalizer2 const *nfd = unorm2_getNFDInstance(&err), *nfc = unorm2_getNFCInstance(&err);
	char in[16], want[16], out[CB_IDENTITY_MAX + 1];

	/* What ASCII's short cut assumes, asked of ICU: NFD and NFC keep each ASCII character, folding maps only A-Z. */
	ck_assert(U_SUCCESS(err));
	for (UChar c = 0; c < 0x80; c++) {
		ck_assert_int_eq(u_foldCase(c, U_FOLD_CASE_DEFAULT), (c >= 'A' && c <= 'Z') ? c + 32 : c);
		ck_assert(unorm2_isNormalized(nfd, &c, 1, &err) && unorm2_isNormalized(nfc, &c, 1, &err));
		ck_assert(U_SUCCESS(err));
	}
	/* Every printable ASCII character in an identity, and in an address, comes out lower-cased and nothing else. */
	for (int c = 0x21; c < 0x7f; c++) {
		if (c == '@' || c == '\\') continue;
		snprintf(in, sizeof(in), "Ab%cZ", c);
		snprintf(want, sizeof(want), "ab%cz", (c >= 'A' && c <= 'Z') ? c + 32 : c);
		expect(&conf, in, want);
		snprintf(in, sizeof(in), "X%c@Ex.ORG", c);
		snprintf(want, sizeof(want), "x%c@ex.org", (c >= 'A' && c <= 'Z') ? c + 32 : c);
		ck_assert(cb_identity_email_normalise(in, strlen(in), out, sizeof(out)));
		ck_assert_str_eq(out, want);
	}
	/* One byte past ASCII anywhere and the Unicode path decides: the last letter too. */
	expect(&conf, "ABCDEFGHIJKLMNOPQRSTUVWXYZ\xc3\x89", "abcdefghijklmnopqrstuvwxyz\xc3\xa9");
	expect(&conf, "\xc3\x89" "ABC", "\xc3\xa9" "abc");
}
END_TEST

START_TEST(test_fold_hostile)
{
	char out[CB_IDENTITY_MAX + 1], in[CB_IDENTITY_MAX + 1];
	cb_identity_conf_t max = conf;
	size_t n = 0;

	max.max_length = CB_IDENTITY_MAX;
	/* Growth when composing is refused as too long, never overrun: U+0390 (2 bytes) folds/decomposes to 3 code points. */
	while (n + 2 <= CB_IDENTITY_MAX) {
		memcpy(in + n, "\xce\x90", 2);
		n += 2;
	}
	ck_assert_int_le(n, CB_IDENTITY_MAX);
	cb_identity_result_t r = norm(&max, in, n, out);
	ck_assert(r == CB_IDENTITY_OK || r == CB_IDENTITY_TOO_LONG);
	if (r == CB_IDENTITY_OK) ck_assert_uint_le(strlen(out), CB_IDENTITY_MAX);
	else ck_assert_str_eq(out, "");
	/* Combining marks only, and a long run of them. */
	n = 0;
	while (n + 2 <= CB_IDENTITY_MAX) {
		memcpy(in + n, "\xcc\x81", 2);
		n += 2;
	}
	r = norm(&max, in, n, out);
	ck_assert(r == CB_IDENTITY_OK || r == CB_IDENTITY_TOO_LONG);
	ck_assert_uint_le(strlen(out), CB_IDENTITY_MAX);
	/* Noncharacters and unassigned code points pass through unchanged (valid UTF-8). */
	ck_assert_int_eq(norm(&conf, "a\xef\xbf\xbe", 4, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "a\xef\xbf\xbe");
	/* A folded form that needs more than 253 bytes is refused: ẞ (3 bytes) -> ß (2) is shorter; Ⱥ (2) -> ⱥ (3) longer. */
	n = 0;
	while (n + 2 <= CB_IDENTITY_MAX) {
		memcpy(in + n, "\xc8\xba", 2);
		n += 2;
	}
	ck_assert_int_eq(norm(&max, in, n, out), CB_IDENTITY_TOO_LONG);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(norm(&max, in, 2 * 84, out), CB_IDENTITY_OK);
	ck_assert_uint_eq(strlen(out), 3 * 84);
}
END_TEST

START_TEST(test_hostile)
{
	char out[CB_IDENTITY_MAX + 1];
	char big[300];
	cb_identity_conf_t max = conf;

	ck_assert_int_eq(norm(&conf, "", 0, out), CB_IDENTITY_EMPTY);
	ck_assert_int_eq(norm(&conf, "al\0ice", 6, out), CB_IDENTITY_NUL);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(norm(&conf, "al\x01ice", 6, out), CB_IDENTITY_CONTROL);
	ck_assert_int_eq(norm(&conf, "al\x7fice", 6, out), CB_IDENTITY_CONTROL);
	ck_assert_int_eq(norm(&conf, "al\nice", 6, out), CB_IDENTITY_CONTROL);
	ck_assert_int_eq(norm(&conf, "al\xc2\x85ice", 7, out), CB_IDENTITY_CONTROL);	/* U+0085 NEL */
	ck_assert_int_eq(norm(&conf, "al\xffice", 6, out), CB_IDENTITY_BAD_UTF8);
	ck_assert_int_eq(norm(&conf, "al\xc0\xafice", 7, out), CB_IDENTITY_BAD_UTF8);	/* overlong '/' */
	ck_assert_int_eq(norm(&conf, "al\xed\xa0\x80", 5, out), CB_IDENTITY_BAD_UTF8);	/* surrogate */
	ck_assert_int_eq(norm(&conf, "zo\xc3", 3, out), CB_IDENTITY_BAD_UTF8);		/* truncated */
	ck_assert_int_eq(norm(&conf, "a@b@c", 5, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "A\\B\\c", 5, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "\\alice", 6, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "SCHOOL\\", 7, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "@realm", 6, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "alice@", 6, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "SCHOOL\\@realm", 13, out), CB_IDENTITY_BAD_FORM);
	ck_assert_int_eq(norm(&conf, "OTHER\\@realm", 12, out), CB_IDENTITY_BAD_FORM);

	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(norm(&conf, big, 128, out), CB_IDENTITY_OK);
	ck_assert_int_eq(norm(&conf, big, 129, out), CB_IDENTITY_TOO_LONG);
	max.max_length = 253;
	ck_assert_int_eq(norm(&max, big, 253, out), CB_IDENTITY_OK);
	ck_assert_uint_eq(strlen(out), 253);
	ck_assert_int_eq(norm(&max, big, 254, out), CB_IDENTITY_TOO_LONG);
	/* A short output buffer is refused, never overrun. */
	ck_assert_int_eq(cb_identity_normalise(&conf, "alice", 5, out, 10), CB_IDENTITY_TOO_LONG);
	ck_assert_ptr_nonnull(strstr(cb_identity_error(CB_IDENTITY_NUL), "NUL"));
}
END_TEST

START_TEST(test_email)
{
	char out[CB_IDENTITY_MAX + 1];

	ck_assert(cb_identity_email_normalise(" Alice.Smith@School.Example\t", 28, out, sizeof(out)));
	ck_assert_str_eq(out, "alice.smith@school.example");
	ck_assert(!cb_identity_email_normalise("no-at-sign", 10, out, sizeof(out)));
	ck_assert(!cb_identity_email_normalise("a@b@c", 5, out, sizeof(out)));
	ck_assert(!cb_identity_email_normalise("a b@c", 5, out, sizeof(out)));
	ck_assert(!cb_identity_email_normalise("a\0@c", 4, out, sizeof(out)));
	ck_assert(!cb_identity_email_normalise("@c", 2, out, sizeof(out)));
	ck_assert(!cb_identity_email_normalise("", 0, out, sizeof(out)));

	ck_assert(cb_identity_email("alice", "School.Example", out, sizeof(out)));
	ck_assert_str_eq(out, "alice@school.example");
	ck_assert(cb_identity_email("alice@other.example", "school.example", out, sizeof(out)));
	ck_assert_str_eq(out, "alice@other.example");
	ck_assert(!cb_identity_email("alice", "", out, sizeof(out)));
	ck_assert(!cb_identity_email("alice", "school.example", out, 8));
}
END_TEST

START_TEST(test_escape)
{
	char out[CB_IDENTITY_ESCAPED_MAX], small[12];
	unsigned char every[256];
	char big[CB_IDENTITY_MAX];

	ck_assert_str_eq(cb_identity_escape("ca\001rl", 5, out, sizeof(out)), "ca\\001rl");
	ck_assert_str_eq(cb_identity_escape("al\0ice", 6, out, sizeof(out)), "al\\000ice");
	ck_assert_str_eq(cb_identity_escape("a\"b\\c", 5, out, sizeof(out)), "a\\\"b\\\\c");
	ck_assert_str_eq(cb_identity_escape("zo\xc3\xab", 4, out, sizeof(out)), "zo\xc3\xab");	/* zoë as is */
	ck_assert_str_eq(cb_identity_escape("zo\xc3", 3, out, sizeof(out)), "zo\\303");		/* cut short */
	ck_assert_str_eq(cb_identity_escape("a\xc2\x85", 3, out, sizeof(out)), "a\\302\\205");	/* U+0085 NEL */
	ck_assert_str_eq(cb_identity_escape("a\xe2\x80\xae" "b", 5, out, sizeof(out)), "a\\342\\200\\256b"); /* RLO */
	ck_assert_str_eq(cb_identity_escape("a\n", 2, out, sizeof(out)), "a\\012");
	ck_assert_str_eq(cb_identity_escape("", 0, out, sizeof(out)), "");

	/* Every byte value, the worst case of every length: bounded, NUL-terminated, no control left. */
	for (size_t i = 0; i < sizeof(every); i++) every[i] = (unsigned char) i;
	for (size_t len = 0; len <= CB_IDENTITY_MAX; len++) {
		cb_identity_escape((char const *) every + (len % 3), len, out, sizeof(out));
		ck_assert_uint_lt(strlen(out), sizeof(out));
		for (char const *c = out; *c; c++) ck_assert((unsigned char) *c >= 0x20 && *c != 0x7f);
	}
	memset(big, 1, sizeof(big));
	cb_identity_escape(big, sizeof(big), out, sizeof(out));
	ck_assert_uint_eq(strlen(out), 4 * sizeof(big));

	/* A short buffer: cut at a whole character and marked. */
	ck_assert_str_eq(cb_identity_escape("abcdefghijklmnop", 16, small, sizeof(small)), "abcdefgh...");
	ck_assert_str_eq(cb_identity_escape("a\001\001\001", 4, small, sizeof(small)), "a\\001...");
	ck_assert_str_eq(cb_identity_escape("abcdefghijk", 11, small, sizeof(small)), "abcdefghijk");
	ck_assert_str_eq(cb_identity_escape("abc", 3, small, 3), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = tcase_create("identity");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_forms);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_fold);
	tcase_add_test(tc, test_fold_ascii);
	tcase_add_test(tc, test_fold_hostile);
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
