/*
 * test_exreg.c - the module's copy of the exceptions register (exreg.c)
 * against a store in a temporary directory: what a refresh keeps in force,
 * what it reports as gone (ended by IT, lapsed; none at the first refresh),
 * and which exception a device gets (its own over any device's, in any
 * spelling of its MAC).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/exreg.h"
#include "test_state.h"

#define T0	((time_t) 1788246000)
#define DAY	((time_t) 86400)

static cb_store_t *store;
static cb_exreg_t *reg;

static void setup(void)
{
	store = test_state_open();
	reg = cb_exreg_new(store, NULL);
	ck_assert_ptr_nonnull(reg);
}

static void teardown(void)
{
	cb_exreg_free(reg);
	test_state_close(store);
}

static int64_t add(char const *identity, char const *mac, char const *reason, time_t until)
{
	int64_t id = 0;

	ck_assert_int_eq(cb_store_exception_add(store, identity, mac, reason, "Head of Year", "it-office", until, T0,
						&id), 0);
	return id;
}

static size_t refresh(time_t now, cb_store_exceptions_t *gone)
{
	ck_assert_int_eq(cb_exreg_refresh(reg, now, gone), 0);
	return gone->count;
}

START_TEST(test_refresh_and_in_force)
{
	cb_store_exceptions_t gone;
	cb_store_exception_t x;

	/* Nothing is known before the first refresh. */
	add("pupil1", "", "medical", T0 + DAY);
	ck_assert(!cb_exreg_find(reg, "pupil1", NULL, T0 + 1, NULL));
	ck_assert_uint_eq(refresh(T0 + 1, &gone), 0);
	ck_assert(cb_exreg_find(reg, "pupil1", NULL, T0 + 1, &x));
	ck_assert_str_eq(x.reason, "medical");
	ck_assert_int_eq(x.until, T0 + DAY);
	ck_assert(!cb_exreg_find(reg, "pupil2", NULL, T0 + 1, NULL));
	ck_assert(!cb_exreg_find(reg, NULL, NULL, T0 + 1, NULL));

	/* At its end it is no longer in force, even before the next refresh ... */
	ck_assert(!cb_exreg_find(reg, "pupil1", NULL, T0 + DAY, NULL));
	/* ... and the next refresh reports it gone, once. */
	ck_assert_uint_eq(refresh(T0 + DAY, &gone), 1);
	ck_assert_str_eq(gone.items[0].identity, "pupil1");
	cb_store_exceptions_free(&gone);
	ck_assert_uint_eq(refresh(T0 + DAY + 1, &gone), 0);
}
END_TEST

START_TEST(test_ended_by_it)
{
	cb_store_exceptions_t gone;
	size_t ended = 0;

	add("pupil1", "", "medical", T0 + DAY);
	add("pupil2", "", "sports", T0 + DAY);
	ck_assert_uint_eq(refresh(T0 + 1, &gone), 0);
	ck_assert_int_eq(cb_store_exception_end(store, "pupil2", NULL, "it-office", T0 + 2, &ended), 0);
	ck_assert_uint_eq(ended, 1);
	ck_assert_uint_eq(refresh(T0 + 3, &gone), 1);
	ck_assert_str_eq(gone.items[0].identity, "pupil2");
	ck_assert_str_eq(gone.items[0].reason, "sports");
	cb_store_exceptions_free(&gone);
	ck_assert(cb_exreg_find(reg, "pupil1", NULL, T0 + 3, NULL));
	ck_assert(!cb_exreg_find(reg, "pupil2", NULL, T0 + 3, NULL));
}
END_TEST

START_TEST(test_device_binding)
{
	cb_store_exceptions_t gone;
	cb_store_exception_t x;
	int64_t any, dev;

	dev = add("pupil1", "02-00-00-00-00-01", "hearing aid", T0 + 2 * DAY);
	ck_assert_uint_eq(refresh(T0 + 1, &gone), 0);

	/* That device, in every spelling; not another, nor a non-MAC. */
	ck_assert(cb_exreg_find(reg, "pupil1", "02-00-00-00-00-01", T0 + 1, &x));
	ck_assert_int_eq(x.id, dev);
	ck_assert(cb_exreg_find(reg, "pupil1", "02:00:00:00:00:01", T0 + 1, NULL));
	ck_assert(cb_exreg_find(reg, "pupil1", "0200.0000.0001", T0 + 1, NULL));
	ck_assert(cb_exreg_find(reg, "pupil1", "020000000001", T0 + 1, NULL));
	ck_assert(!cb_exreg_find(reg, "pupil1", "02-00-00-00-00-02", T0 + 1, NULL));
	ck_assert(!cb_exreg_find(reg, "pupil1", "not a mac", T0 + 1, NULL));
	/* A request that names no device is not that device: no match (issue 15 item 9). */
	ck_assert(!cb_exreg_find(reg, "pupil1", "", T0 + 1, NULL));
	ck_assert(!cb_exreg_find(reg, "pupil1", "  ", T0 + 1, NULL));
	/* A question about the person (NULL: the directory watcher), not a request: any of theirs. */
	ck_assert(cb_exreg_find(reg, "pupil1", NULL, T0 + 1, NULL));

	/* One for any device too: the device's own wins for its device, any device's for the others. */
	any = add("pupil1", "", "medical", T0 + DAY);
	ck_assert_uint_eq(refresh(T0 + 2, &gone), 0);
	ck_assert(cb_exreg_find(reg, "pupil1", "02:00:00:00:00:01", T0 + 2, &x));
	ck_assert_int_eq(x.id, dev);
	ck_assert(cb_exreg_find(reg, "pupil1", "02:00:00:00:00:02", T0 + 2, &x));
	ck_assert_int_eq(x.id, any);
	/* A request without a device: only the one for any device counts. */
	ck_assert(cb_exreg_find(reg, "pupil1", "", T0 + 2, &x));
	ck_assert_int_eq(x.id, any);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exreg");
	TCase *tc = tcase_create("exreg");
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_refresh_and_in_force);
	tcase_add_test(tc, test_ended_by_it);
	tcase_add_test(tc, test_device_binding);
	suite_add_tcase(s, tc);
	failed = test_state_run(s);
	return failed;
}
