/*
 * test_enforcer.c - the enforcer thread against a store in a temporary
 * directory: a revocation queues a Disconnect-Request that reaches the NAS
 * (a local UDP socket that never answers), a decision that stopped holding
 * is disconnected once, an acknowledgement sync promotes an onboarded
 * session and refuses a withdrawn one, and the end of an exception
 * disconnects the session it admitted.  A Disconnect-NAK 503 closes the
 * session and is done; another NAK, with no attempts left, is failed.  The
 * revocations are read before cb_enforcer_start() returns, an unreadable
 * row does not hide the others, and while the list cannot be read at all
 * everyone counts as revoked.  Where no NAS is configured, a queued
 * disconnect fails at once ("no DAS configured"), with its reason kept.
 * Every wait is bounded (5 s) and polls every 10 ms.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

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

/**
 * nas_answer_nak - read the next request on the NAS's socket and answer it
 * with a Disconnect-NAK carrying Error-Cause cause, signed with the
 * Response Authenticator of RFC 5176 section 2.3 (the rfc5176 profile does
 * not require a Message-Authenticator in answers).
 */
static void nas_answer_nak(uint32_t cause)
{
	unsigned char req[4096], ans[26 + 64], digest[EVP_MAX_MD_SIZE];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct pollfd pfd = { .fd = nas_fd, .events = POLLIN };
	size_t slen = strlen(nas.das.secret);
	unsigned int dlen = 0;
	ssize_t n;

	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	n = recvfrom(nas_fd, req, sizeof(req), 0, (struct sockaddr *) &from, &flen);
	ck_assert_int_ge(n, 20);
	ck_assert_uint_eq(req[0], 40);
	ans[0] = 42;
	ans[1] = req[1];
	ans[2] = 0;
	ans[3] = 26;
	memcpy(ans + 4, req + 4, 16);
	ans[20] = 101;
	ans[21] = 6;
	for (int i = 0; i < 4; i++) ans[22 + i] = (unsigned char) (cause >> (24 - 8 * i));
	ck_assert_uint_le(slen, 64);
	memcpy(ans + 26, nas.das.secret, slen);
	ck_assert_int_eq(EVP_Digest(ans, 26 + slen, digest, &dlen, EVP_md5(), NULL), 1);
	memcpy(ans + 4, digest, 16);
	ck_assert_int_eq(sendto(nas_fd, ans, 26, 0, (struct sockaddr *) &from, flen), 26);
}

START_TEST(test_nak_503_closes)
{
	time_t now = time(NULL);
	cb_store_session_t ses;
	cb_store_disconnect_t d;

	nas_open();
	test_state_session(store, "erin", "admit", now + DAY, "erin@s.example", "S8", "02-00-00-00-00-08", now);
	start(true);
	ck_assert_int_eq(cb_store_revoke(store, "erin", "left the school", "it-office", now), 0);
	cb_enforcer_poke(enforcer);
	nas_answer_nak(503);
	wait_disconnect_in("erin", CB_DISC_DONE, "revoked_by_admin: left the school", NULL);
	ck_assert(find_disconnect("erin", &d));
	ck_assert_int_eq(d.last_result, CB_DISC_NAK);
	ck_assert_uint_eq(d.error_cause, 503);
	ck_assert_int_eq(cb_store_session_get(store, "127.0.0.1", "S8", &ses), 0);
	ck_assert_int_gt(ses.stopped, 0);
	ck_assert_str_eq(ses.stop_cause, "Session-Context-Not-Found");
}
END_TEST

START_TEST(test_nak_other_fails)
{
	time_t now = time(NULL);
	cb_store_session_t ses;
	cb_store_disconnect_t d;

	nas_open();
	test_state_session(store, "frank", "admit", now + DAY, "frank@s.example", "S9", "02-00-00-00-00-09", now);
	start(true);	/* max_attempts 1: the first NAK gives up. */
	ck_assert_int_eq(cb_store_revoke(store, "frank", "lost phone", "it-office", now), 0);
	cb_enforcer_poke(enforcer);
	nas_answer_nak(506);
	wait_disconnect_in("frank", CB_DISC_FAILED, "revoked_by_admin: lost phone", NULL);
	ck_assert(find_disconnect("frank", &d));
	ck_assert_uint_eq(d.error_cause, 506);
	ck_assert_str_eq(d.detail, "Disconnect-NAK from ap1: Error-Cause 506 (Resources Unavailable)");
	ck_assert_int_eq(cb_store_session_get(store, "127.0.0.1", "S9", &ses), 0);
	ck_assert_int_eq(ses.stopped, 0);	/* Still open: cetbyodctl status calls it not enforced. */
}
END_TEST

START_TEST(test_stop_while_nas_silent)
{
	cb_enforcer_conf_t conf = { .policy = &policy, .max_attempts = 5, .retry_interval = 60 };
	time_t now = time(NULL);
	struct pollfd pfd;
	struct timespec t0, t1;
	char err[256];
	double ms;

	nas_open();
	test_state_session(store, "mallory", "admit", now + DAY, "mallory@s.example", "S1", "02-00-00-00-00-01", now);
	cb_das_conf_defaults(&conf.das);	/* 30 s of retransmissions to a NAS that never answers. */
	conf.store = store;
	conf.nas = &nas;
	conf.num_nas = 1;
	enforcer = cb_enforcer_start(&conf, err, sizeof(err));
	ck_assert_msg(enforcer != NULL, "cb_enforcer_start: %s", err);
	ck_assert_int_eq(cb_store_revoke(store, "mallory", "lost phone", "it-office", now), 0);
	cb_enforcer_poke(enforcer);
	pfd = (struct pollfd) { .fd = nas_fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cb_enforcer_stop(enforcer);
	enforcer = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms < 1000, "stopping took %.1f ms while the NAS was silent", ms);
	/* The request in flight is due again at once for the next start. */
	{
		cb_store_disconnects_t due = { 0 };

		ck_assert_int_eq(cb_store_disconnect_due(store, time(NULL), 0, &due), 0);
		ck_assert_uint_eq(due.count, 1);
		ck_assert_uint_eq(due.items[0].attempts, 0);
		cb_store_disconnects_free(&due);
	}
}
END_TEST

START_TEST(test_revocations_before_first_request)
{
	time_t now = time(NULL);
	char sql[1024], pgsql[1024], why[128];

	ck_assert_int_eq(cb_store_revoke(store, "mallory", "lost phone", "it-office", now), 0);
	ck_assert_int_eq(cb_store_revoke(store, "oscar", "left", "it-office", now), 0);
	/* Rows cetbyod never writes: an identity too long to read, and a reason too long (kept, unreadable). */
	snprintf(sql, sizeof(sql), "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) "
		 "VALUES (printf('%%.300c', 'x'), 'edited', 'nobody', %lld); "
		 "UPDATE revocations SET reason = printf('%%.400c', 'r') WHERE identity = 'oscar';", (long long) now);
	snprintf(pgsql, sizeof(pgsql), "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) "
		 "VALUES (repeat('x', 300), 'edited', 'nobody', %lld); "
		 "UPDATE revocations SET reason = repeat('r', 400) WHERE identity = 'oscar';", (long long) now);
	test_state_edit(sql, pgsql);
	start(false);
	/* No wait: read before cb_enforcer_start() returned. */
	ck_assert(cb_enforcer_is_revoked(enforcer, "mallory", why, sizeof(why)));
	ck_assert_str_eq(why, "lost phone");
	ck_assert(cb_enforcer_is_revoked(enforcer, "oscar", why, sizeof(why)));
	ck_assert_str_eq(why, "(unreadable in the store)");
	ck_assert(!cb_enforcer_is_revoked(enforcer, "alice", NULL, 0));
}
END_TEST

START_TEST(test_revocations_unknown_refuse)
{
	char why[160];
	bool known = false;

	test_state_edit("ALTER TABLE revocations RENAME TO revocations_away",
			"ALTER TABLE revocations RENAME TO revocations_away");
	start(false);
	/* The list cannot be read: everyone counts as revoked, with a reason that says why. */
	ck_assert(cb_enforcer_is_revoked(enforcer, "alice", why, sizeof(why)));
	ck_assert_msg(strstr(why, "revocation list could not be read") != NULL, "%s", why);
	test_state_edit("ALTER TABLE revocations_away RENAME TO revocations",
			"ALTER TABLE revocations_away RENAME TO revocations");
	for (int i = 0; i < WAIT_MS / 10 && !known; i++) {
		known = !cb_enforcer_is_revoked(enforcer, "alice", NULL, 0);
		if (!known) usleep(10000);
	}
	ck_assert_msg(known, "the list read again once the store can be read");
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
	tcase_add_test(tc, test_nak_503_closes);
	tcase_add_test(tc, test_nak_other_fails);
	tcase_add_test(tc, test_revocations_before_first_request);
	tcase_add_test(tc, test_revocations_unknown_refuse);
	tcase_add_test(tc, test_stop_while_nas_silent);
	suite_add_tcase(s, tc);
	failed = test_state_run(s);
	return failed;
}
