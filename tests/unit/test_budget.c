/*
 * test_budget.c - lib/sources/budget.c: the per-service-account request
 * budget, on a clock the test sets (no sleeping).
 */
#include <check.h>
#include <stdlib.h>

#include "sources/budget.h"

/* Requests at 0, 1, 2 s with a budget of 3 a minute fit; the fourth waits until the first leaves. */
START_TEST(test_sliding_window)
{
	cb_budget_t *b = cb_budget_get("a@p.iam.gserviceaccount.com", 3, 60000);
	uint32_t wait = 0;

	ck_assert_ptr_nonnull(b);
	ck_assert(cb_budget_take(b, 0, &wait));
	ck_assert(cb_budget_take(b, 1000, &wait));
	ck_assert(cb_budget_take(b, 2000, &wait));
	ck_assert(!cb_budget_take(b, 5000, &wait));
	ck_assert_uint_eq(wait, 55000);
	ck_assert_uint_eq(cb_budget_used(b, 5000), 3);
	ck_assert(!cb_budget_take(b, 59999, &wait));
	ck_assert_uint_eq(wait, 1);
	ck_assert(cb_budget_take(b, 60000, &wait));		/* The one from 0 s left the window. */
	ck_assert(!cb_budget_take(b, 60000, &wait));
	ck_assert_uint_eq(wait, 1000);
	ck_assert_uint_eq(cb_budget_used(b, 200000), 0);
	cb_budget_put(b);
}
END_TEST

/* However the minutes are aligned, none holds more than the budget: a request every 100 ms for 10 minutes. */
START_TEST(test_no_minute_above)
{
	cb_budget_t *b = cb_budget_get("b@p.iam.gserviceaccount.com", 7, 60000);
	static int64_t sent[10000];
	size_t n = 0;

	for (int64_t t = 0; t < 600000; t += 100) {
		if (cb_budget_take(b, t, NULL)) sent[n++] = t;
	}
	ck_assert_uint_eq(n, 70);	/* 7 in each of the 10 minutes: the budget is used, not wasted. */
	for (size_t i = 0; i < n; i++) {
		size_t in = 0;

		for (size_t j = i; j < n && sent[j] < sent[i] + 60000; j++) in++;
		ck_assert_uint_le(in, 7);
	}
	cb_budget_put(b);
}
END_TEST

/* Two instances with one service account share one budget, the smaller; another account has its own. */
START_TEST(test_shared_per_account)
{
	cb_budget_t *a = cb_budget_get("c@p.iam.gserviceaccount.com", 5, 60000);
	cb_budget_t *a2, *other = cb_budget_get("d@p.iam.gserviceaccount.com", 5, 60000);
	uint32_t wait;

	ck_assert(cb_budget_take(a, 0, NULL));
	ck_assert(cb_budget_take(a, 10, NULL));
	ck_assert(cb_budget_take(a, 20, NULL));
	a2 = cb_budget_get("c@p.iam.gserviceaccount.com", 2, 60000);
	ck_assert_ptr_eq(a, a2);
	ck_assert_uint_eq(cb_budget_limit(a), 2);
	ck_assert_uint_eq(cb_budget_used(a, 30), 2);		/* The newest two are kept. */
	ck_assert(!cb_budget_take(a2, 30, &wait));
	ck_assert_uint_eq(wait, 59980);
	ck_assert(cb_budget_take(other, 30, NULL));
	cb_budget_put(a);
	ck_assert_uint_eq(cb_budget_limit(a2), 2);
	cb_budget_put(a2);
	cb_budget_put(other);
	ck_assert_ptr_null(cb_budget_get("e@p", 0, 0));		/* 0: no budget. */
}
END_TEST

static Suite *budget_suite(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sliding_window);
	tcase_add_test(tc, test_no_minute_above);
	tcase_add_test(tc, test_shared_per_account);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(budget_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
