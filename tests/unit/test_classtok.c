/*
 * test_classtok.c - the keyed Class (lib/store/classtok.c): a decision
 * sealed and opened again; a bit flipped anywhere, a made-up Class, an
 * unknown key id, a key rotated out, the 253-octet bound; the key file
 * made 0600 when absent, its bad lines refused, rotation keeping the
 * previous key for its grace; nonces never repeated (past a batch, across a
 * change of key, in a forked child).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/classtok.h"
#include "test_tmp.h"

#define NOW	1800000000

static char tmpdir[128];
static char keypath[256];

static void setup(void)
{
	test_tmp_dir("test_classtok", tmpdir, sizeof(tmpdir));
	snprintf(keypath, sizeof(keypath), "%s/class.key", tmpdir);
}

static void teardown(void)
{
	char tmp[300];

	unlink(keypath);
	snprintf(tmp, sizeof(tmp), "%s.tmp", keypath);
	unlink(tmp);
	rmdir(tmpdir);
}

static void decision(cb_store_decision_t *d, char const *identity)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->identity, sizeof(d->identity), "%s", identity);
	snprintf(d->ack_email, sizeof(d->ack_email), "%s", identity);
	snprintf(d->status, sizeof(d->status), "admit");
	snprintf(d->reason, sizeof(d->reason), "acknowledged");
	snprintf(d->role, sizeof(d->role), "governors");
	snprintf(d->policy_version, sizeof(d->policy_version), "2026-09");
	snprintf(d->calling_station, sizeof(d->calling_station), "02:00:00:aa:bb:01");
	d->decided_at = NOW;
	d->valid_until = NOW + 86400;
	d->ack_time = NOW - 3600;
}

static cb_classkey_t load(void)
{
	cb_classkey_t k;
	char err[512];

	ck_assert_msg(cb_classkey_load(keypath, true, &k, err, sizeof(err)) == 0, "%s", err);
	return k;
}

START_TEST(test_round_trip)
{
	cb_classkey_t k = load();
	cb_store_decision_t d, out;
	char tok[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1];
	unsigned int kid;
	struct stat st;

	ck_assert_int_eq(stat(keypath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	decision(&d, "alice@school.example");
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	ck_assert(strncmp(tok, "cetbyod:2.", 10) == 0);
	ck_assert_ptr_null(strstr(tok, "alice"));	/* Encrypted: the identity is not on the wire. */
	ck_assert_int_eq(cb_classtok_open(&k, tok, strlen(tok), NOW, &out, &kid), CB_CLASSTOK_OK);
	ck_assert_str_eq(out.class_id, id);
	ck_assert_str_eq(out.identity, "alice@school.example");
	ck_assert_str_eq(out.ack_email, "alice@school.example");
	ck_assert_str_eq(out.status, "admit");
	ck_assert_str_eq(out.reason, "acknowledged");
	ck_assert_str_eq(out.role, "governors");
	ck_assert_str_eq(out.policy_version, "2026-09");
	ck_assert_str_eq(out.calling_station, "02-00-00-AA-BB-01");
	ck_assert_int_eq(out.decided_at, NOW);
	ck_assert_int_eq(out.valid_until, NOW + 86400);
	ck_assert_int_eq(out.ack_time, NOW - 3600);
	ck_assert_uint_eq(kid, k.keys[k.current].id);

	/* Another address for the acknowledgement, no device. */
	snprintf(d.ack_email, sizeof(d.ack_email), "a.smith@school.example");
	d.calling_station[0] = '\0';
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	ck_assert_int_eq(cb_classtok_open(&k, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_OK);
	ck_assert_str_eq(out.ack_email, "a.smith@school.example");
	ck_assert_str_eq(out.calling_station, "");
	cb_classkey_wipe(&k);
}
END_TEST

START_TEST(test_forged)
{
	cb_classkey_t k = load();
	cb_store_decision_t d, out;
	char tok[CB_CLASSTOK_MAX + 1], bad[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1];
	static char const alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n;

	decision(&d, "alice@school.example");
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	n = strlen(tok);
	/* Every character after the prefix changed: never OK (the key id byte: unknown key or forged). */
	for (size_t i = 10; i < n; i++) {
		memcpy(bad, tok, n + 1);
		bad[i] = alphabet[(strchr(alphabet, tok[i]) - alphabet + 1) % 64];
		ck_assert_int_ne(cb_classtok_open(&k, bad, n, NOW, &out, NULL), CB_CLASSTOK_OK);
		ck_assert_str_eq(out.identity, "");
	}
	/* Truncated, made up, not ours, not base64url. */
	ck_assert_int_ne(cb_classtok_open(&k, tok, n - 4, NOW, &out, NULL), CB_CLASSTOK_OK);
	snprintf(bad, sizeof(bad), "cetbyod:2.AgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	ck_assert_int_ne(cb_classtok_open(&k, bad, strlen(bad), NOW, &out, NULL), CB_CLASSTOK_OK);
	ck_assert_int_eq(cb_classtok_open(&k, "cetbyod:0123", 12, NOW, &out, NULL), CB_CLASSTOK_NOT_KEYED);
	ck_assert_int_eq(cb_classtok_open(&k, "cetbyod:2.a*b", 13, NOW, &out, NULL), CB_CLASSTOK_MALFORMED);
	cb_classkey_wipe(&k);
}
END_TEST

START_TEST(test_too_long)
{
	cb_classkey_t k = load();
	cb_store_decision_t d, out;
	char tok[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1], name[200];
	size_t len;

	/* The longest identity that fits makes a Class of at most 253 octets; one more byte does not fit. */
	for (len = 60; len < 190; len++) {
		memset(name, 'a', len);
		memcpy(name + len - 15, "@school.example", 16);
		decision(&d, name);
		if (cb_classtok_seal(&k, &d, tok, sizeof(tok), id) != CB_CLASSTOK_OK) break;
		ck_assert_uint_le(strlen(tok), 253);
		ck_assert_int_eq(cb_classtok_open(&k, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_OK);
		ck_assert_str_eq(out.identity, name);
	}
	ck_assert_uint_gt(len, 100);
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_TOO_LONG);
	cb_classkey_wipe(&k);
}
END_TEST

START_TEST(test_rotation)
{
	cb_classkey_t k = load(), k2, other;
	cb_store_decision_t d, out;
	char tok[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1], err[512], other_path[300];
	unsigned int new_id;

	decision(&d, "bob@school.example");
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	ck_assert_int_eq(cb_classkey_rotate(keypath, NOW, 14, &new_id, err, sizeof(err)), 0);
	k2 = load();
	ck_assert_uint_eq(k2.count, 2);
	ck_assert_uint_eq(k2.keys[k2.current].id, new_id);
	ck_assert_uint_ne(new_id, k.keys[k.current].id);
	/* Within the grace the old key still verifies; after it, the Class is refused as rotated out. */
	ck_assert_int_eq(cb_classtok_open(&k2, tok, strlen(tok), NOW + 13 * 86400, &out, NULL), CB_CLASSTOK_OK);
	ck_assert_str_eq(out.identity, "bob@school.example");
	ck_assert_int_eq(cb_classtok_open(&k2, tok, strlen(tok), NOW + 15 * 86400, &out, NULL),
			 CB_CLASSTOK_KEY_RETIRED);
	/* A second rotation after the grace drops the old key: unknown then. */
	ck_assert_int_eq(cb_classkey_rotate(keypath, NOW + 15 * 86400, 14, &new_id, err, sizeof(err)), 0);
	cb_classkey_wipe(&k2);
	k2 = load();
	ck_assert_uint_eq(k2.count, 2);
	ck_assert_int_eq(cb_classtok_open(&k2, tok, strlen(tok), NOW + 15 * 86400, &out, NULL),
			 CB_CLASSTOK_UNKNOWN_KEY);
	/* Another server's own key (same id, other bytes) does not verify it: forged. */
	snprintf(other_path, sizeof(other_path), "%s/other.key", tmpdir);
	ck_assert_int_eq(cb_classkey_load(other_path, true, &other, err, sizeof(err)), 0);
	ck_assert_int_eq(cb_classtok_open(&other, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_FORGED);
	unlink(other_path);
	cb_classkey_wipe(&k);
	cb_classkey_wipe(&k2);
	cb_classkey_wipe(&other);
}
END_TEST

/* The nonce part of a class id (its first 24 hex digits). */
static void nonce_of(char const *class_id, char out[25])
{
	memcpy(out, class_id, 24);
	out[24] = '\0';
}

START_TEST(test_nonces_unique)
{
	cb_classkey_t k = load(), other;
	cb_store_decision_t d, out;
	char tok[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1], err[512], other_path[300];
	static char seen[200][25];

	/* More seals than one batch of nonces: every nonce new. */
	decision(&d, "alice@school.example");
	for (size_t i = 0; i < 200; i++) {
		ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
		nonce_of(id, seen[i]);
		for (size_t j = 0; j < i; j++) ck_assert_str_ne(seen[i], seen[j]);
	}
	/* The thread's cipher state follows a change of key, both ways. */
	snprintf(other_path, sizeof(other_path), "%s/other.key", tmpdir);
	ck_assert_int_eq(cb_classkey_load(other_path, true, &other, err, sizeof(err)), 0);
	unlink(other_path);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(cb_classtok_seal(&other, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
		ck_assert_int_eq(cb_classtok_open(&other, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_OK);
		ck_assert_int_ne(cb_classtok_open(&k, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_OK);
		ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
		ck_assert_int_eq(cb_classtok_open(&k, tok, strlen(tok), NOW, &out, NULL), CB_CLASSTOK_OK);
		ck_assert_str_eq(out.identity, "alice@school.example");
	}
	cb_classkey_wipe(&k);
	cb_classkey_wipe(&other);
}
END_TEST

START_TEST(test_nonces_after_fork)
{
	cb_classkey_t k = load();
	cb_store_decision_t d;
	char tok[CB_CLASSTOK_MAX + 1], id[CB_CLASS_ID_LEN + 1], child_nonce[25] = "", parent_nonce[25];
	int fds[2], status;
	pid_t pid;

	/* The parent has drawn a batch of nonces; a forked child must not seal with the parent's next ones. */
	decision(&d, "alice@school.example");
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		if (cb_classtok_seal(&k, &d, tok, sizeof(tok), id) != CB_CLASSTOK_OK) _exit(1);
		nonce_of(id, child_nonce);
		_exit(write(fds[1], child_nonce, 24) == 24 ? 0 : 1);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], child_nonce, 24), 24);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(cb_classtok_seal(&k, &d, tok, sizeof(tok), id), CB_CLASSTOK_OK);
	nonce_of(id, parent_nonce);
	ck_assert_str_ne(child_nonce, parent_nonce);
	cb_classkey_wipe(&k);
}
END_TEST

START_TEST(test_bad_file)
{
	static char const *const bad[] = {
		"1 00112233 0\n",					/* Short key. */
		"0 " "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0\n",	/* Id 0. */
		"1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 5\n",	/* No current. */
		"1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0 x\n",
		"1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0\n"
		"1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0\n",	/* Twice. */
	};
	cb_classkey_t k;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(keypath, "w");

		ck_assert_ptr_nonnull(f);
		fputs(bad[i], f);
		fclose(f);
		chmod(keypath, 0600);
		ck_assert_int_eq(cb_classkey_load(keypath, true, &k, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, keypath));
	}
	chmod(keypath, 0644);
	ck_assert_int_eq(cb_classkey_load(keypath, true, &k, err, sizeof(err)), -1);	/* Readable by everyone. */
	unlink(keypath);
	ck_assert_int_eq(cb_classkey_load(keypath, false, &k, err, sizeof(err)), -1);	/* Absent, not created. */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("classtok");
	TCase *tc = tcase_create("classtok");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_forged);
	tcase_add_test(tc, test_too_long);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_bad_file);
	tcase_add_test(tc, test_nonces_unique);
	tcase_add_test(tc, test_nonces_after_fork);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
