/*
 * test_identity.c - identity checks and normal forms with hostile input:
 * NUL bytes, control characters, invalid UTF-8, over-long names,
 * DOMAIN\user and user@realm forms; and email normalisation.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/identity.h"

static cb_identity_conf_t const conf = { .strip_realm = false, .strip_domain = true, .max_length = 128 };

static cb_identity_result_t norm(cb_identity_conf_t const *c, char const *in, size_t len, char *out)
{
	return cb_identity_normalise(c, in, len, out, CB_IDENTITY_MAX + 1);
}

START_TEST(test_forms)
{
	char out[CB_IDENTITY_MAX + 1];
	cb_identity_conf_t strip = conf;

	ck_assert_int_eq(norm(&conf, "Alice", 5, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "alice");
	ck_assert_int_eq(norm(&conf, "SCHOOL\\Alice", 12, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "alice");
	ck_assert_int_eq(norm(&conf, "Alice@School.Example", 20, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "alice@school.example");
	strip.strip_realm = true;
	ck_assert_int_eq(norm(&strip, "Alice@School.Example", 20, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "alice");
	strip.strip_domain = false;
	ck_assert_int_eq(norm(&strip, "SCHOOL\\alice", 12, out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "school\\alice");
	ck_assert_int_eq(norm(&conf, "zoë", strlen("zoë"), out), CB_IDENTITY_OK);
	ck_assert_str_eq(out, "zoë");
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
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
