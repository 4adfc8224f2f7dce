/*
 * test_enforcer.c - the enforcer thread against a store in a temporary
 * directory: a revocation queues a Disconnect-Request that reaches the NAS
 * (a local UDP socket that never answers), a decision that stopped holding
 * is disconnected once, an acknowledgement sync promotes an onboarded
 * session and refuses a withdrawn one, and the end of an exception
 * disconnects the session it admitted.  Apart from the first, no NAS is
 * configured, so a queued disconnect fails at once ("no DAS configured"),
 * with its reason kept.  Every wait is bounded (5 s) and polls every 10 ms.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "enforce/enforcer.h"
#include "test_state.h"

#define DAY	((time_t) 86400)
#define WAIT_MS	5000

static cb_store_t *store;
static cb_enforcer_t *enforcer;
static cb_policy_conf_t policy = { .validity_days = 365, .unacknowledged = CB_UNACK_ONBOARD };
static cb_enforcer_nas_t nas;
static int nas_fd = -1;

static void start(bool with_nas)
{
	cb_enforcer_conf_t conf = { .policy = &policy, .max_attempts = 1, .retry_interval = 60 };
	char err[256];

	cb_das_conf_defaults(&conf.das);
	conf.das.irt_ms = 100;
	conf.das.mrc = 1;
	conf.das.mrd_ms = 200;
	conf.store = store;
	if (with_nas) {
		conf.nas = &nas;
		conf.num_nas = 1;
	}
	enforcer = cb_enforcer_start(&conf, err, sizeof(err));
	ck_assert_msg(enforcer != NULL, "cb_enforcer_start: %s", err);
}

static void setup(void)
{
	store = test_state_open();
	enforcer = NULL;
}

static void teardown(void)
{
	cb_enforcer_stop(enforcer);
	test_state_close(store);
	if (nas_fd >= 0) close(nas_fd);
	nas_fd = -1;
}

/** nas_open - the NAS's DAS: a UDP socket on 127.0.0.1 that never answers. */
static void nas_open(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	nas_fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(nas_fd, 0);
	ck_assert_int_eq(bind(nas_fd, (struct sockaddr *) &a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(nas_fd, (struct sockaddr *) &a, &alen), 0);
	nas = (cb_enforcer_nas_t) {
		.name = "ap1", .ip = "127.0.0.1",
		.das = { .address = "127.0.0.1", .port = ntohs(a.sin_port), .secret = "das-secret",
			 .profile = cb_das_profile_find("rfc5176") },
	};
}

/** find_disconnect - the queued disconnect of identity's session in any state; false when none. */
static bool find_disconnect(char const *identity, cb_store_disconnect_t *out)
{
	static cb_disc_state_t const states[] = { CB_DISC_PENDING, CB_DISC_HELD, CB_DISC_DONE, CB_DISC_FAILED };
	bool found = false;

	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]) && !found; s++) {
		cb_store_disconnects_t list = { 0 };

		if (cb_store_disconnects(store, states[s], 0, &list) < 0) continue;
		for (size_t i = 0; i < list.count && !found; i++) {
			if (strcmp(list.items[i].identity, identity) != 0) continue;
			*out = list.items[i];
			found = true;
		}
		cb_store_disconnects_free(&list);
	}
	return found;
}

/**
 * wait_disconnect - identity's session queued for disconnection, within
 * WAIT_MS, in state (or any state: -1), with a reason that starts with
 * reason (and ends with suffix, when not NULL).
 */
static void wait_disconnect_in(char const *identity, int state, char const *reason, char const *suffix)
{
	cb_store_disconnect_t d;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (find_disconnect(identity, &d) && (state < 0 || (int) d.state == state)) {
			ck_assert_msg(strncmp(d.reason, reason, strlen(reason)) == 0, "%s: reason \"%s\", want \"%s\"",
				      identity, d.reason, reason);
			if (!suffix) ck_assert_str_eq(d.reason, reason);
			else ck_assert(strlen(d.reason) >= strlen(suffix) &&
				       strcmp(d.reason + strlen(d.reason) - strlen(suffix), suffix) == 0);
			return;
		}
		usleep(10000);
	}
	ck_abort_msg("no disconnect queued for %s (%s)", identity, reason);
}

static void wait_disconnect(char const *identity, char const *reason)
{
	wait_disconnect_in(identity, -1, reason, NULL);
}

START_TEST(test_revocation)
{
	time_t now = time(NULL);
	struct pollfd pfd;
	unsigned char pkt[4096];
	ssize_t n;

	nas_open();
	test_state_session(store, "mallory", "admit", now + DAY, "mallory@s.example", "S1", "02-00-00-00-00-01", now);
	test_state_session(store, "alice", "admit", now + DAY, "alice@s.example", "S2", "02-00-00-00-00-02", now);
	start(true);
	ck_assert(!cb_enforcer_is_revoked(enforcer, "mallory", NULL, 0));
	ck_assert_int_eq(cb_store_revoke(store, "mallory", "lost phone", "it-office", now), 0);
	cb_enforcer_poke(enforcer);

	/* The NAS gets a Disconnect-Request (code 40). */
	pfd = (struct pollfd) { .fd = nas_fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	n = recv(nas_fd, pkt, sizeof(pkt), 0);
	ck_assert_int_ge(n, 20);
	ck_assert_uint_eq(pkt[0], 40);
	wait_disconnect("mallory", "revoked_by_admin: lost phone");

	/* The request path's view of the revocation set. */
	{
		char why[64];

		ck_assert(cb_enforcer_is_revoked(enforcer, "mallory", why, sizeof(why)));
		ck_assert_str_eq(why, "lost phone");
	}
	{
		cb_store_disconnect_t d;

		ck_assert(!find_disconnect("alice", &d));
	}
}
END_TEST

START_TEST(test_expiry)
{
	time_t now = time(NULL);
	cb_store_disconnect_t d;

	test_state_session(store, "bob", "admit", now - 1, "bob@s.example", "S3", "02-00-00-00-00-03", now - 10);
	test_state_session(store, "alice", "admit", now + DAY, "alice@s.example", "S2", "02-00-00-00-00-02", now);
	start(false);
	wait_disconnect_in("bob", CB_DISC_FAILED, "decision expired: acknowledgement or exception lapsed", NULL);
	ck_assert(find_disconnect("bob", &d));
	ck_assert_str_eq(d.detail, "no DAS configured for this NAS");
	ck_assert(!find_disconnect("alice", &d));
}
END_TEST

START_TEST(test_acknowledgement_changes)
{
	time_t now = time(NULL);
	char const *before[] = { "dave@s.example", "erin@s.example" };
	char const *after[] = { "carol@s.example", "dave@s.example" };
	cb_ack_index_t *old_idx, *new_idx;
	cb_ack_builder_t *b;
	cb_store_disconnect_t d;

	test_state_session(store, "carol", "onboard", 0, "carol@s.example", "S4", "02-00-00-00-00-04", now);
	test_state_session(store, "dave", "admit", now + DAY, "dave@s.example", "S5", "02-00-00-00-00-05", now);
	test_state_session(store, "erin", "admit", now + DAY, "erin@s.example", "S6", "02-00-00-00-00-06", now);
	start(false);
	old_idx = test_state_index(before, 2, now - DAY, false);
	/* carol acknowledges; dave's record is unchanged; erin withdraws. */
	b = cb_ack_builder_new();
	ck_assert_int_eq(cb_ack_builder_add(b, after[0], now - 60, "", false, "test"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, after[1], now - DAY, "", false, "test"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, before[1], now - 60, "", true, "test"), 0);
	new_idx = cb_ack_builder_finish(b, now);
	ck_assert_ptr_nonnull(new_idx);

	cb_enforcer_ack_changed(enforcer, old_idx, new_idx);
	wait_disconnect("carol", "promotion: onboard -> admit (acknowledged)");
	wait_disconnect("erin", "acknowledgement changed: admit -> reject (acknowledgement_revoked)");
	ck_assert(!find_disconnect("dave", &d));
	cb_ack_index_unref(old_idx);
	cb_ack_index_unref(new_idx);
}
END_TEST

START_TEST(test_exception_end)
{
	time_t now = time(NULL);
	int64_t id;
	size_t ended;

	ck_assert_int_eq(cb_store_exception_add(store, "pupil1", "", "medical", "Head of Year", "it-office", now + DAY,
						now, &id), 0);
	test_state_session(store, "pupil1", "restricted", now + DAY, "", "S7", "02-00-00-00-00-07", now);
	start(false);
	for (int i = 0; i < WAIT_MS / 10 && !cb_enforcer_exception(enforcer, "pupil1", NULL, now, NULL); i++) {
		usleep(10000);
	}
	ck_assert(cb_enforcer_exception(enforcer, "pupil1", "02:00:00:00:00:07", now, NULL));
	ck_assert_int_eq(cb_store_exception_end(store, "pupil1", NULL, "it-office", time(NULL), &ended), 0);
	cb_enforcer_poke(enforcer);
	/* "exception ended by IT: ..." or "exception lapsed: ..." (the register reports the copy it held). */
	wait_disconnect_in("pupil1", -1, "exception ", ": medical");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enforcer");
	TCase *tc = tcase_create("enforcer");
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_revocation);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_acknowledgement_changes);
	tcase_add_test(tc, test_exception_end);
	suite_add_tcase(s, tc);
	failed = test_state_run(s);
	return failed;
}
