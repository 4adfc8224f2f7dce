/*
 * test_decide.c - the one decision use-case (cb_decide) as a table: each row
 * is a person's facts from a provider, the acknowledgement index, the
 * freshness of the source and the policy, and the decision it must give,
 * with the acknowledgement that counted.  A second case runs it with an
 * enforcer's revocation set and exceptions register (a temporary store):
 * revoked by IT, an exception for any device, for this device (in another
 * spelling), for another device, and one the directory's outlasts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/decide.h"
#include "enforce/enforcer.h"
#include "test_state.h"

#define T0	((time_t) 1788246000)	/* 2026-09-01T07:00:00Z */
#define DAY	((time_t) 86400)

static cb_tz_t *london;

typedef struct {
	char const	*name;
	cb_dir_facts_t	dir;
	cb_exception_t	exc;
	char const	*emails[3];
	bool		stale;
	unsigned int	grace;
	time_t		effective_from;
	char const	*version;
	time_t		now;
	cb_status_t	status;
	cb_reason_t	reason;
	char const	*ack_email;	/* The acknowledgement's address (or the first one); "" none. */
	bool		ack;		/* An acknowledgement counted. */
} row_t;

#define STAFF	{ .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF }
#define PUPIL	{ .result = CB_DIR_FOUND, .role = CB_ROLE_PUPIL }

static row_t const rows[] = {
	{ "acknowledged", STAFF, {0}, { "alice@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, "alice@s.example", true },
	{ "no acknowledgement", STAFF, {0}, { "nobody@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_ONBOARD, CB_REASON_NO_ACKNOWLEDGEMENT, "nobody@s.example", false },
	{ "no address at all", STAFF, {0}, { NULL }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_ONBOARD, CB_REASON_NO_ACKNOWLEDGEMENT, "", false },
	{ "withdrawn", STAFF, {0}, { "wd@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_REJECT, CB_REASON_ACKNOWLEDGEMENT_REVOKED, "wd@s.example", true },
	{ "predates the policy", STAFF, {0}, { "alice@s.example" }, false, 0, T0 + 10, NULL, T0 + DAY,
	  CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY, "alice@s.example", true },
	{ "another policy version", STAFF, {0}, { "v1@s.example" }, false, 0, 0, "2026-2", T0 + DAY,
	  CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY, "v1@s.example", true },
	{ "in grace", STAFF, {0}, { "alice@s.example" }, false, 3600, 0, NULL, T0 + 365 * DAY + 60,
	  CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED_IN_GRACE, "alice@s.example", true },
	{ "expired", STAFF, {0}, { "alice@s.example" }, false, 3600, 0, NULL, T0 + 366 * DAY,
	  CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_EXPIRED, "alice@s.example", true },
	{ "stale source", STAFF, {0}, { "alice@s.example" }, true, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_REJECT, CB_REASON_SOURCE_STALE, "alice@s.example", true },
	{ "the latest of the aliases", STAFF, {0}, { "old@s.example", "alice@s.example" }, false, 0, 0, NULL,
	  T0 + DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, "alice@s.example", true },
	{ "a later withdrawal under an alias", STAFF, {0}, { "alice@s.example", "wd@s.example" }, false, 0, 0, NULL,
	  T0 + DAY, CB_STATUS_REJECT, CB_REASON_ACKNOWLEDGEMENT_REVOKED, "wd@s.example", true },
	{ "revoked in the directory", { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .revoked = true },
	  {0}, { "alice@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_REJECT, CB_REASON_REVOKED_BY_ADMIN, "alice@s.example", true },
	{ "account disabled", { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .disabled = true },
	  {0}, { "alice@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_REJECT, CB_REASON_ACCOUNT_DISABLED, "alice@s.example", true },
	{ "not in the directory", { .result = CB_DIR_NOT_FOUND }, {0}, { "alice@s.example" }, false, 0, 0, NULL,
	  T0 + DAY, CB_STATUS_REJECT, CB_REASON_NOT_IN_DIRECTORY, "alice@s.example", true },
	{ "directory unavailable", { .result = CB_DIR_UNAVAILABLE }, {0}, { NULL }, false, 0, 0, NULL,
	  T0 + DAY, CB_STATUS_REJECT, CB_REASON_DIRECTORY_UNAVAILABLE, "", false },
	{ "pupil without exception", PUPIL, {0}, { "alice@s.example" }, false, 0, 0, NULL, T0 + DAY,
	  CB_STATUS_REJECT, CB_REASON_PUPIL_WITHOUT_EXCEPTION, "alice@s.example", true },
	{ "other, no exception", { .result = CB_DIR_FOUND, .role = CB_ROLE_OTHER }, {0}, { NULL }, false, 0, 0,
	  NULL, T0 + DAY, CB_STATUS_REJECT, CB_REASON_NOT_STAFF, "", false },
	{ "pupil, the provider's exception", PUPIL, { .present = true, .until = T0 + 2 * DAY }, { NULL }, false,
	  0, 0, NULL, T0 + DAY, CB_STATUS_RESTRICTED, CB_REASON_EXCEPTION_ACTIVE, "", false },
	{ "pupil, the provider's exception ended", PUPIL, { .present = true, .until = T0 + DAY }, { NULL }, false,
	  0, 0, NULL, T0 + DAY, CB_STATUS_REJECT, CB_REASON_EXCEPTION_EXPIRED, "", false },
};

static cb_ack_index_t *table_index(void)
{
	cb_ack_builder_t *b = cb_ack_builder_new();

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(cb_ack_builder_add(b, "alice@s.example", T0, "", false, "file:1"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "old@s.example", T0 - 30 * DAY, "", false, "file:2"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "wd@s.example", T0 + 60, "", true, "file:3"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "v1@s.example", T0, "2026-1", false, "file:4"), 0);
	return cb_ack_builder_finish(b, T0);
}

START_TEST(test_table)
{
	row_t const *r = &rows[_i];
	cb_policy_conf_t policy = {
		.validity_days = 365, .grace_seconds = r->grace, .effective_from = r->effective_from,
		.policy_version = r->version, .unacknowledged = CB_UNACK_ONBOARD, .tz = london,
	};
	cb_ack_index_t *idx = table_index();
	cb_decide_env_t env = { .policy = &policy, .acks = idx, .source_stale = r->stale };
	cb_facts_t facts = { .origin = CB_FACTS_ATTRIBUTES, .dir = r->dir, .exception = r->exc };
	cb_decide_result_t res;

	for (size_t i = 0; i < 3 && r->emails[i]; i++) cb_facts_add_email(&facts, r->emails[i]);
	cb_decide(&env, "alice", &facts, r->now, &res);
	ck_assert_msg(res.decision.status == r->status && res.decision.reason == r->reason,
		      "%s: got %s (%s), want %s (%s)", r->name, cb_status_name(res.decision.status),
		      cb_reason_name(res.decision.reason), cb_status_name(r->status), cb_reason_name(r->reason));
	ck_assert_msg((res.ack != NULL) == r->ack, "%s: acknowledgement %s", r->name, res.ack ? "found" : "missing");
	ck_assert_str_eq(res.ack_email, r->ack_email);
	ck_assert(!res.revoked && !res.exception_used && res.exception.id == 0);
	cb_ack_index_unref(idx);
}
END_TEST

START_TEST(test_emails_bounded)
{
	cb_facts_t facts = { 0 };

	for (int i = 0; i < CB_FACTS_EMAILS_MAX + 3; i++) cb_facts_add_email(&facts, "x@s.example");
	cb_facts_add_email(&facts, NULL);
	ck_assert_uint_eq(facts.num_emails, CB_FACTS_EMAILS_MAX);
}
END_TEST

/*
 *	With an enforcer: IT's revocations and the exceptions register.
 */
static cb_store_t *store;
static cb_enforcer_t *enforcer;
static cb_policy_conf_t policy = { .validity_days = 365, .unacknowledged = CB_UNACK_ONBOARD };

static void enforcer_setup(void)
{
	cb_enforcer_conf_t conf = { .policy = &policy, .max_attempts = 1 };
	char err[256];
	time_t now = time(NULL);
	int64_t id;

	store = test_state_open();
	ck_assert_int_eq(cb_store_revoke(store, "mallory", "lost phone", "it-office", now), 0);
	ck_assert_int_eq(cb_store_exception_add(store, "pupil1", "", "medical", "Head of Year", "it-office",
						now + DAY, now, &id), 0);
	ck_assert_int_eq(cb_store_exception_add(store, "pupil2", "02-00-00-00-00-01", "hearing aid", "SENCo",
						"it-office", now + 2 * DAY, now, &id), 0);
	cb_das_conf_defaults(&conf.das);
	conf.store = store;
	enforcer = cb_enforcer_start(&conf, err, sizeof(err));
	ck_assert_msg(enforcer != NULL, "cb_enforcer_start: %s", err);
	/* The first pass reads the revocations and the register (within 100 ms; wait at most 5 s). */
	for (int i = 0; i < 500 && !cb_enforcer_is_revoked(enforcer, "mallory", NULL, 0); i++) usleep(10000);
	for (int i = 0; i < 500 && !cb_enforcer_exception(enforcer, "pupil2", NULL, now, NULL); i++) usleep(10000);
}

static void enforcer_teardown(void)
{
	cb_enforcer_stop(enforcer);
	test_state_close(store);
}

static void decide_with(char const *identity, cb_role_t role, char const *device, cb_exception_t exc,
			cb_decide_result_t *res)
{
	char const *email = "alice@s.example";
	cb_ack_index_t *idx = test_state_index(&email, 1, time(NULL) - DAY, false);
	cb_decide_env_t env = { .policy = &policy, .acks = idx, .state = cb_enforcer_decide_state(enforcer) };
	cb_facts_t facts = { .origin = CB_FACTS_DIRECTORY, .dir = { .result = CB_DIR_FOUND, .role = role },
			     .exception = exc, .device = device };

	cb_facts_add_email(&facts, email);
	cb_decide(&env, identity, &facts, time(NULL), res);
	cb_ack_index_unref(idx);
}

START_TEST(test_revoked_by_it)
{
	cb_decide_result_t res;
	cb_exception_t none = { 0 };

	decide_with("mallory", CB_ROLE_STAFF, NULL, none, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_REJECT);
	ck_assert_int_eq(res.decision.reason, CB_REASON_REVOKED_BY_ADMIN);
	ck_assert(res.revoked);
	ck_assert_str_eq(res.revoked_reason, "lost phone");
	ck_assert_str_eq(res.in.dir.revoked_reason, "lost phone");

	decide_with("alice", CB_ROLE_STAFF, NULL, none, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_ACKNOWLEDGED);
	ck_assert(!res.revoked);
}
END_TEST

START_TEST(test_register_exception)
{
	cb_decide_result_t res;
	cb_exception_t none = { 0 };
	cb_exception_t longer = { .present = true, .until = 0 };
	cb_exception_t sooner = { .present = true, .until = time(NULL) + 60 };

	/* For any device: whatever device is asked about. */
	decide_with("pupil1", CB_ROLE_PUPIL, "02:00:00:00:00:09", none, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_RESTRICTED);
	ck_assert_int_eq(res.decision.reason, CB_REASON_EXCEPTION_ACTIVE);
	ck_assert(res.exception_used);
	ck_assert_str_eq(res.exception.reason, "medical");
	ck_assert_int_eq(res.decision.valid_until, res.exception.until);

	/* For one device: that device, in another spelling, ... */
	decide_with("pupil2", CB_ROLE_PUPIL, "02:00:00:00:00:01", none, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_EXCEPTION_ACTIVE);
	ck_assert_str_eq(res.exception.mac, "02-00-00-00-00-01");
	/* ... not another ... */
	decide_with("pupil2", CB_ROLE_PUPIL, "02-00-00-00-00-02", none, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_PUPIL_WITHOUT_EXCEPTION);
	ck_assert(!res.exception_used && res.exception.id == 0);
	/* ... and any, when no device is given (the directory watcher). */
	decide_with("pupil2", CB_ROLE_PUPIL, NULL, none, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_EXCEPTION_ACTIVE);
	/* ... but a request without Calling-Station-Id ("") is not that device. */
	decide_with("pupil2", CB_ROLE_PUPIL, "", none, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_PUPIL_WITHOUT_EXCEPTION);

	/* The provider's open-ended exception outlasts the register's: found, not used. */
	decide_with("pupil1", CB_ROLE_PUPIL, NULL, longer, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_EXCEPTION_ACTIVE);
	ck_assert(res.exception.id != 0 && !res.exception_used);
	ck_assert_int_eq(res.decision.valid_until, 0);
	/* One that ends sooner: the register's is used. */
	decide_with("pupil1", CB_ROLE_PUPIL, NULL, sooner, &res);
	ck_assert(res.exception_used);
	ck_assert_int_eq(res.decision.valid_until, res.exception.until);
}
END_TEST

int main(void)
{
	char const *err = NULL;
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("table"), *te = tcase_create("enforcer");
	int failed;

	london = cb_tz_new("Europe/London", &err);
	if (!london) return 1;
	tcase_add_loop_test(tc, test_table, 0, (int) (sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_emails_bounded);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(te, enforcer_setup, enforcer_teardown);
	tcase_set_timeout(te, 20);
	tcase_add_test(te, test_revoked_by_it);
	tcase_add_test(te, test_register_exception);
	suite_add_tcase(s, te);
	failed = test_state_run(s);
	cb_tz_free(london);
	return failed;
}
