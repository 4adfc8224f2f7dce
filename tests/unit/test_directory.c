/*
 * test_directory.c - the directory client (lib/directory/ldap.c) against a real slapd,
 * and the directory cache (dircache.c).
 *
 * Each TCase that needs a directory starts its own slapd with
 * tests/slapd/slapd-fixture.sh in a fresh temporary directory (an unchecked
 * fixture, so it runs once in the parent process) and stops it by PID in the
 * teardown, which check runs even when tests fail, because every test runs
 * in a child process.  The outage tests pause, stop and restart their slapd;
 * they have a slapd of their own so that the other tests never see it.
 *
 * The fixture script is found through $srcdir (set by automake's test
 * harness), else relative to this file.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>

#include "directory/dircache.h"
#include "directory/ldap.h"
#include "directory/ldap_int.h"
#include "test_slack.h"
#include "test_tmp.h"

#define BASE_DN "dc=school,dc=example"
#define PEOPLE "ou=people," BASE_DN
#define MODULE_DN "cn=cetbyod,ou=services," BASE_DN
#define TIMEOUT_MS 1000		/* The timeouts the outage tests measure. */
#define PATIENT_MS 15000	/* The timeouts of every other test: under valgrind on a
				 * loaded machine, a first TLS connect can take seconds. */

#define SLACK_MS test_slack_ms(800)	/* Allowance on top of a measured timeout (test_slack.h). */

static char script[PATH_MAX];
static char fixture_dir[128];
static char uri_ldap[64], uri_ldaps[64], uri_closed[64];
static char ca_file[PATH_MAX], ca_dir[PATH_MAX], untrusted_ca[PATH_MAX];
static char client_cert[PATH_MAX], client_key[PATH_MAX];

/*
 *	The slapd fixture.
 */

static void find_script(void)
{
	char const *srcdir = getenv("srcdir");
	char here[PATH_MAX / 2], *slash;

	if (srcdir && *srcdir) {
		snprintf(script, sizeof(script), "%s/tests/slapd/slapd-fixture.sh", srcdir);
		if (access(script, R_OK) == 0) return;
	}
	snprintf(here, sizeof(here), "%s", __FILE__);
	slash = strrchr(here, '/');
	if (slash) *slash = '\0';
	else snprintf(here, sizeof(here), ".");
	snprintf(script, sizeof(script), "%s/../slapd/slapd-fixture.sh", here);
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "test_directory: cannot find tests/slapd/slapd-fixture.sh (set srcdir)\n");
		exit(1);
	}
}

/** fixture_run - run "sh slapd-fixture.sh CMD fixture_dir"; its exit status. */
static int fixture_run(char const *cmd, bool quiet)
{
	pid_t pid = fork();
	int status;

	if (pid < 0) return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) dup2(null, STDOUT_FILENO);
		if (null >= 0 && quiet) dup2(null, STDERR_FILENO);
		execl("/bin/sh", "sh", script, cmd, fixture_dir, (char *) NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int fixture(char const *cmd)
{
	return fixture_run(cmd, false);
}

static int read_int_file(char const *name)
{
	char path[PATH_MAX + 32], buf[32];
	FILE *fp;
	long v = -1;

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	fp = fopen(path, "r");
	if (!fp) return -1;
	if (fgets(buf, sizeof(buf), fp)) {
		char *end;

		v = strtol(buf, &end, 10);
		if (end == buf) v = -1;
	}
	fclose(fp);
	return (int) v;
}

/** closed_port - a loopback port nothing listens on (bound then released). */
static int closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &sin, &len) == 0) port = ntohs(sin.sin_port);
	if (fd >= 0) close(fd);
	return port;
}

/** on_signal - if the test run is interrupted, do not leave slapd behind. */
static void on_signal(int sig)
{
	int pid = read_int_file("slapd.pid");

	if (pid > 0) {
		kill(pid, SIGCONT);
		kill(pid, SIGKILL);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void slapd_setup(void)
{
	char tmpl[] = "/tmp/cetbyod-slapd.XXXXXX";

	if (!mkdtemp(tmpl)) ck_abort_msg("mkdtemp: %s", strerror(errno));
	snprintf(fixture_dir, sizeof(fixture_dir), "%s", tmpl);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (fixture("start") != 0) ck_abort_msg("slapd-fixture.sh start %s failed", fixture_dir);
	snprintf(uri_ldap, sizeof(uri_ldap), "ldap://127.0.0.1:%d", read_int_file("ldap_port"));
	snprintf(uri_ldaps, sizeof(uri_ldaps), "ldaps://127.0.0.1:%d", read_int_file("ldaps_port"));
	snprintf(uri_closed, sizeof(uri_closed), "ldap://127.0.0.1:%d", closed_port());
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", fixture_dir);
	snprintf(ca_dir, sizeof(ca_dir), "%s/cadir", fixture_dir);
	snprintf(untrusted_ca, sizeof(untrusted_ca), "%s/untrusted-ca.pem", fixture_dir);
	snprintf(client_cert, sizeof(client_cert), "%s/client.pem", fixture_dir);
	snprintf(client_key, sizeof(client_key), "%s/client.key", fixture_dir);
}

/** outage_reset - before each outage test: slapd running and answering, whatever the last test left. */
static void outage_reset(void)
{
	unsetenv("SLAPD_SERVER_CERT");
	(void) fixture_run("resume", true);	/* Fails harmlessly when it is not running... */
	(void) fixture_run("start", true);	/* ... and this when it is. */
}

/* The unchecked teardown's stops that failed (a slapd that crashed): main() fails the run for them. */
static int teardown_stop_failures;

static void slapd_teardown(void)
{
	if (!fixture_dir[0]) return;
	if (fixture("stop") != 0) {
		fprintf(stderr, "test_directory: slapd-fixture.sh stop %s failed (slapd crashed? its message is above)\n",
			fixture_dir);
		teardown_stop_failures++;
	}
	test_tmp_remove_tree(fixture_dir);
	fixture_dir[0] = '\0';
}

/*
 *	Configurations.
 */

static char const *uris1[1];
static char const *uris2[2];
static char const *staff_groups[] = {
	"CN=Staff, OU=Groups, DC=school, DC=example",	/* Case and spaces differ from the directory. */
	"cn=support-staff,ou=groups,dc=school,dc=example"
};
static char const *pupil_groups[] = { "cn=pupils,ou=groups,dc=school,dc=example" };
static char const *email_attrs[] = { "mail", "mailLocalAddress" };
static char const *proxy_attrs[] = { "proxyAddresses" };

/** openldap_conf - the OpenLDAP configuration the tests start from: StartTLS, bind DN, ppolicy. */
static void openldap_conf(cb_ldap_conf_t *c)
{
	cb_ldap_conf_defaults(c);
	uris1[0] = uri_ldap;
	c->uris = uris1;
	c->num_uris = 1;
	c->base_dn = BASE_DN;
	c->user_filter = "(&(objectClass=inetOrgPerson)(uid=%s))";
	c->bind_dn = MODULE_DN;
	c->bind_password = "module-secret";
	c->start_tls = true;
	c->ca_file = ca_file;
	c->connect_timeout_ms = PATIENT_MS;
	c->search_timeout_ms = PATIENT_MS;
	c->email_attributes = email_attrs;
	c->num_email_attributes = 2;
	c->staff_groups = staff_groups;
	c->num_staff_groups = 2;
	c->pupil_groups = pupil_groups;
	c->num_pupil_groups = 1;
	c->disabled_mode = CB_LDAP_DISABLED_PPOLICY;
}

/* The short timeouts that the outage tests measure, set once their
 * connections are up (a lookup takes search_timeout_ms from the conf it is
 * given; a connect, connect_timeout_ms). */
static void shorten_timeouts(cb_ldap_conf_t *c)
{
	c->connect_timeout_ms = TIMEOUT_MS;
	c->search_timeout_ms = TIMEOUT_MS;
}

static void check_conf_ok(cb_ldap_conf_t const *c)
{
	char err[512];

	ck_assert_msg(cb_ldap_conf_check(c, err, sizeof(err)) == 0, "conf_check: %s", err);
}

/** lookup - connect, look one identity up, close. */
static cb_dir_result_t lookup(cb_ldap_conf_t const *c, char const *identity, cb_dir_entry_t *e,
			      char *err, size_t errlen)
{
	cb_ldap_conn_t *conn;
	cb_dir_result_t r;

	check_conf_ok(c);
	conn = cb_ldap_connect(c, err, errlen);
	ck_assert_msg(conn != NULL, "connect: %s", err);
	r = cb_ldap_lookup(conn, c, identity, e, err, errlen);
	cb_ldap_close(conn);
	return r;
}

static void expect_found(cb_ldap_conf_t const *c, char const *identity, cb_dir_entry_t *e)
{
	char err[1024];
	cb_dir_result_t r = lookup(c, identity, e, err, sizeof(err));

	ck_assert_msg(r == CB_DIR_FOUND, "%s: result %d (%s)", identity, (int) r, err);
	ck_assert_int_eq(e->facts.result, CB_DIR_FOUND);
	ck_assert(!e->refused);
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 *	Configuration checks and parsers (no directory needed, but cheap here).
 */

static void expect_conf_error(cb_ldap_conf_t const *c, char const *needle)
{
	char err[512];

	ck_assert_int_eq(cb_ldap_conf_check(c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" does not mention \"%s\"", err, needle);
}

START_TEST(test_conf_check)
{
	cb_ldap_conf_t c;
	static char const *bad_uri[] = { "http://127.0.0.1" };
	static char const *dn_uri[] = { "ldap://127.0.0.1/dc=x" };
	static char const *ldaps_uri[] = { "ldaps://127.0.0.1:636" };
	static char const *bad_groups[] = { "not a dn" };
	static char const *bad_attrs[] = { "ma il" };

	openldap_conf(&c);
	check_conf_ok(&c);

	openldap_conf(&c); c.num_uris = 0;			expect_conf_error(&c, "uri must be given");
	openldap_conf(&c); c.uris = bad_uri;			expect_conf_error(&c, "not an LDAP URI");
	openldap_conf(&c); c.uris = dn_uri;			expect_conf_error(&c, "base_dn");
	openldap_conf(&c); c.uris = ldaps_uri;			expect_conf_error(&c, "start_tls");
	openldap_conf(&c); c.bind_dn = NULL;			expect_conf_error(&c, "bind_dn");
	openldap_conf(&c); c.sasl_external = true;		expect_conf_error(&c, "sasl_external");
	openldap_conf(&c); c.base_dn = "nonsense";		expect_conf_error(&c, "base_dn");
	openldap_conf(&c); c.user_filter = "(uid=alice)";	expect_conf_error(&c, "exactly once");
	openldap_conf(&c); c.user_filter = "(|(uid=%s)(mail=%s))"; expect_conf_error(&c, "exactly once");
	openldap_conf(&c); c.user_filter = "(uid=%{User-Name})"; expect_conf_error(&c, "%{...}");
	openldap_conf(&c); c.user_filter = "(uid=%d)";		expect_conf_error(&c, "'%d'");
	openldap_conf(&c); c.user_filter = "(&(uid=%s)";	expect_conf_error(&c, "balanced");
	openldap_conf(&c); c.user_filter = "uid=%s";		expect_conf_error(&c, "user_filter");
	openldap_conf(&c); c.email_attributes = bad_attrs;	c.num_email_attributes = 1;
								expect_conf_error(&c, "email_attribute");
	openldap_conf(&c); c.num_staff_groups = 0;		expect_conf_error(&c, "staff_group");
	openldap_conf(&c); c.pupil_groups = bad_groups;		expect_conf_error(&c, "pupil_group");
	openldap_conf(&c); c.disabled_mode = CB_LDAP_DISABLED_FILTER; expect_conf_error(&c, "disabled_filter");
	openldap_conf(&c); c.disabled_mode = (cb_ldap_disabled_mode_t) 9; expect_conf_error(&c, CB_LDAP_DISABLED_MODE_NAMES);
	openldap_conf(&c); c.group_mode = (cb_ldap_group_mode_t) 9; expect_conf_error(&c, CB_LDAP_GROUP_MODE_NAMES);
	openldap_conf(&c); c.ca_file = "/nonexistent/ca.pem";	expect_conf_error(&c, "ca_file");
	openldap_conf(&c); c.ca_dir = ca_file;			expect_conf_error(&c, "not a directory");
	openldap_conf(&c); c.cert_file = client_cert;		expect_conf_error(&c, "key_file");
	openldap_conf(&c); c.search_timeout_ms = 0;		expect_conf_error(&c, "search_timeout_ms");
	openldap_conf(&c); c.connect_timeout_ms = 600000;	expect_conf_error(&c, "connect_timeout_ms");
	openldap_conf(&c); c.revoked_attribute = "bad attr";	expect_conf_error(&c, "revoked_attribute");
	openldap_conf(&c); c.group_mode = CB_LDAP_GROUPS_SEARCH; c.group_filter = "objectClass=group";
								expect_conf_error(&c, "group_filter");

	/* The secret never appears in a message. */
	openldap_conf(&c); c.bind_dn = NULL; c.bind_password = "s3cret-value";
	{
		char err[512];

		ck_assert_int_eq(cb_ldap_conf_check(&c, err, sizeof(err)), -1);
		ck_assert_ptr_null(strstr(err, "s3cret-value"));
	}

	ck_assert_int_eq(cb_ldap_group_mode_parse("search"), CB_LDAP_GROUPS_SEARCH);
	ck_assert_int_eq(cb_ldap_group_mode_parse("ad_nested"), CB_LDAP_GROUPS_AD_NESTED);
	ck_assert_int_eq(cb_ldap_group_mode_parse("Memberof"), -1);
	ck_assert_int_eq(cb_ldap_disabled_mode_parse("ad_user_account_control"), CB_LDAP_DISABLED_AD_UAC);
	ck_assert_int_eq(cb_ldap_disabled_mode_parse("ppolicy_locked"), CB_LDAP_DISABLED_PPOLICY);
	ck_assert_int_eq(cb_ldap_disabled_mode_parse(NULL), -1);
	ck_assert_str_eq(cb_ldap_disabled_mode_name(CB_LDAP_DISABLED_FILTER), "filter");
}
END_TEST

START_TEST(test_filter_expand)
{
	char buf[64], err[256];

	ck_assert_int_eq(cb_ldap_filter_expand("(uid=%s)", "*)(uid=*", buf, sizeof(buf), err, sizeof(err)), 0);
	ck_assert_msg(strcasecmp(buf, "(uid=\\2a\\29\\28uid=\\2a)") == 0, "got %s", buf);
	ck_assert_int_eq(cb_ldap_filter_expand("(uid=%s)", "back\\slash", buf, sizeof(buf), err, sizeof(err)), 0);
	ck_assert_msg(strcasecmp(buf, "(uid=back\\5cslash)") == 0, "got %s", buf);
	ck_assert_int_eq(cb_ldap_filter_expand("(&(uid=%s)(pct=100%%))", "a", buf, sizeof(buf), err, sizeof(err)), 0);
	ck_assert_str_eq(buf, "(&(uid=a)(pct=100%))");

	/* Too long for the buffer: refused, buffer empty. */
	ck_assert_int_eq(cb_ldap_filter_expand("(uid=%s)", "****************************************",
					       buf, sizeof(buf), err, sizeof(err)), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_ptr_nonnull(strstr(err, "longer"));
	ck_assert_int_eq(cb_ldap_filter_expand("(uid=%s%s)", "a", buf, sizeof(buf), err, sizeof(err)), -1);
	ck_assert_int_eq(cb_ldap_filter_expand("(uid=%)", "a", buf, sizeof(buf), err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_generalized_time)
{
	static struct {
		char const	*in;
		time_t		want;
	} const good[] = {
		{ "20240229123456Z",		1709210096 },
		{ "2024022912Z",		1709208000 },
		{ "202402291234Z",		1709210040 },
		{ "20240229123456.789Z",	1709210096 },
		{ "20240229123456,5Z",		1709210096 },
		{ "20240229123456+0130",	1709204696 },
		{ "20240229123456-05",		1709228096 },
		{ "20991231000000Z",		4102358400 },
		{ "19700101000000Z",		0 },
	};
	static char const *bad[] = {
		"", "Z", "20230229000000Z", "20241301000000Z", "20240229243000Z", "20240229126000Z",
		"20240229123456", "20240229123456z", "2024022912345Z", "20240229123456.Z", "20240229123456+2400",
		"20240229123456+01300", "19691231235959Z", "000001010000Z", "20240229123456Z ", " 20240229123456Z",
		"2024-02-29T12:34:56Z", "20240229123461Z", "20240200123456Z", "+20240229123456Z",
	};
	time_t t;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = 42;
		ck_assert_msg(cb_ldap_parse_generalized_time(good[i].in, strlen(good[i].in), &t), "%s refused", good[i].in);
		ck_assert_msg(t == good[i].want, "%s: got %lld want %lld", good[i].in, (long long) t,
			      (long long) good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 42;
		ck_assert_msg(!cb_ldap_parse_generalized_time(bad[i], strlen(bad[i]), &t), "\"%s\" accepted", bad[i]);
		ck_assert_int_eq(t, 42);
	}
	/* Length is honoured: no read past it. */
	ck_assert(!cb_ldap_parse_generalized_time("20240229123456Z", 14, &t));
	ck_assert(cb_ldap_parse_generalized_time("2024022912345600", 0, &t) == false);
}
END_TEST

/*
 *	Facts for each kind of person (OpenLDAP configuration, StartTLS).
 */

START_TEST(test_staff)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	expect_found(&c, "alice", &e);
	ck_assert_str_eq(e.dn, "uid=alice," PEOPLE);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert(!e.facts.disabled);
	ck_assert(!e.facts.revoked);
	ck_assert_ptr_null(e.facts.revoked_reason);
	ck_assert(!e.exception.present);
	ck_assert_int_eq(e.num_emails, 1);
	ck_assert_str_eq(e.emails[0], "alice@school.example");
	ck_assert_str_eq(e.warning, "");

	expect_found(&c, "bob", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);

	/* The second configured staff group counts too. */
	expect_found(&c, "carol", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
}
END_TEST

START_TEST(test_disabled_ppolicy)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	expect_found(&c, "dave", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert(e.facts.disabled);

	/* disabled_mode none ignores the lock. */
	c.disabled_mode = CB_LDAP_DISABLED_NONE;
	expect_found(&c, "dave", &e);
	ck_assert(!e.facts.disabled);
}
END_TEST

START_TEST(test_disabled_filter)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	c.disabled_mode = CB_LDAP_DISABLED_FILTER;
	c.disabled_filter = "(pwdAccountLockedTime=*)";
	expect_found(&c, "dave", &e);
	ck_assert(e.facts.disabled);
	expect_found(&c, "alice", &e);
	ck_assert(!e.facts.disabled);
}
END_TEST

START_TEST(test_pupils)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	cb_exception_t ex;

	openldap_conf(&c);
	expect_found(&c, "pupil1", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert(!e.exception.present);

	expect_found(&c, "pupil2", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert(e.exception.present);
	ck_assert_int_eq(e.exception.until, 4102358400);
	ck_assert_str_eq(e.exception.reason, "Medical monitoring device (continuous glucose monitor)");
	ck_assert_str_eq(e.exception.approved_by, "Headteacher (J. Smith)");
	ex = cb_dir_entry_exception(&e);
	ck_assert(ex.present);
	ck_assert_int_eq(ex.until, 4102358400);

	/* An ended exception is still reported; the policy engine sees it has ended. */
	expect_found(&c, "pupil3", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert(e.exception.present);
	ck_assert_int_eq(e.exception.until, 1577836800);

	/* In a staff and a pupil group: the more restricted role. */
	expect_found(&c, "both", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert_ptr_nonnull(strstr(e.warning, "both a staff and a pupil group"));
}
END_TEST

START_TEST(test_other_and_revoked)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e, copy;

	openldap_conf(&c);
	expect_found(&c, "oscar", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	ck_assert(!e.facts.disabled);

	expect_found(&c, "frank", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert(e.facts.revoked);
	ck_assert_ptr_eq(e.facts.revoked_reason, e.revoked_reason);
	ck_assert_str_eq(e.facts.revoked_reason, "Device reported lost; access revoked by IT");

	cb_dir_entry_copy(&copy, &e);
	ck_assert_ptr_eq(copy.facts.revoked_reason, copy.revoked_reason);
	ck_assert_str_eq(copy.facts.revoked_reason, "Device reported lost; access revoked by IT");

	/* Not reading the flag at all. */
	c.revoked_attribute = NULL;
	expect_found(&c, "frank", &e);
	ck_assert(!e.facts.revoked);
}
END_TEST

START_TEST(test_mail_normalised)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	expect_found(&c, "erin", &e);
	ck_assert_int_eq(e.num_emails, 2);
	ck_assert_str_eq(e.emails[0], "erin.upper@school.example");
	ck_assert_str_eq(e.emails[1], "e.upper@school.example");
}
END_TEST

START_TEST(test_injection_escaped)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	char err[512];

	openldap_conf(&c);
	expect_found(&c, "*)(uid=*", &e);
	ck_assert_str_eq(e.dn, "cn=Filter Injection," PEOPLE);
	ck_assert_int_eq(e.num_emails, 1);
	ck_assert_str_eq(e.emails[0], "injection@school.example");

	/* Wildcards and parentheses are literal. */
	ck_assert_int_eq(lookup(&c, "*", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert(!e.refused);
	ck_assert_int_eq(lookup(&c, "al*", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert_int_eq(lookup(&c, "alice)(uid=bob", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert_int_eq(lookup(&c, "nobody", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert_int_eq(e.facts.result, CB_DIR_NOT_FOUND);
	ck_assert(!e.refused);
}
END_TEST

START_TEST(test_ambiguous)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	char err[512];

	openldap_conf(&c);
	ck_assert_int_eq(lookup(&c, "twin", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert(e.refused);
	ck_assert_str_eq(e.dn, "");
	ck_assert_msg(strstr(err, "ambiguous") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_hostile_values)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	expect_found(&c, "hostile", &e);
	ck_assert_int_eq(e.num_emails, CB_DIR_EMAILS_MAX);
	ck_assert_str_eq(e.emails[0], "h1@school.example");
	ck_assert_str_eq(e.emails[7], "h8@school.example");
	ck_assert_msg(strstr(e.warning, "not an email address") != NULL, "warning: %s", e.warning);
	ck_assert_msg(strstr(e.warning, "more than 8 email addresses") != NULL, "warning: %s", e.warning);

	/* Map the BYOD attributes onto attributes holding junk. */
	c.revoked_attribute = "employeeType";			/* "maybe" */
	c.revoked_reason_attribute = "departmentNumber";	/* 600 x */
	c.exception_reason_attribute = "departmentNumber";
	c.exception_approved_by_attribute = "title";		/* "Bell\a and\ttab" */
	c.exception_until_attribute = "description";		/* "not-a-time" */
	expect_found(&c, "hostile", &e);
	ck_assert(e.facts.revoked);	/* Unreadable flag: the safe reading. */
	ck_assert_msg(strstr(e.warning, "neither TRUE nor FALSE") != NULL, "warning: %s", e.warning);
	ck_assert_int_eq(strlen(e.revoked_reason), CB_DIR_TEXT_MAX - 1);
	ck_assert(!e.exception.present);	/* Unreadable end: ignored. */
	ck_assert_msg(strstr(e.warning, "not one GeneralizedTime") != NULL, "warning: %s", e.warning);

	c.exception_until_attribute = NULL;
	expect_found(&c, "hostile", &e);
	ck_assert(e.exception.present);
	ck_assert_int_eq(e.exception.until, 0);
	ck_assert_int_eq(strlen(e.exception.reason), CB_DIR_TEXT_MAX - 1);
	ck_assert_str_eq(e.exception.approved_by, "Bell? and?tab");
	ck_assert_msg(strstr(e.warning, "truncated") != NULL, "warning: %s", e.warning);
	ck_assert_msg(strstr(e.warning, "control characters") != NULL, "warning: %s", e.warning);

	/* An exception nobody approved does not count. */
	c.exception_approved_by_attribute = "carLicense";
	expect_found(&c, "hostile", &e);
	ck_assert(!e.exception.present);
	ck_assert_msg(strstr(e.warning, "who approved it") != NULL, "warning: %s", e.warning);
}
END_TEST

START_TEST(test_group_search_mode)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	char err[512];

	openldap_conf(&c);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	c.group_base_dn = "ou=groups," BASE_DN;
	expect_found(&c, "alice", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	expect_found(&c, "carol", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	expect_found(&c, "pupil2", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	expect_found(&c, "oscar", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	expect_found(&c, "*)(uid=*", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);

	/*
	 *	ad_nested sends AD's LDAP_MATCHING_RULE_IN_CHAIN, which OpenLDAP
	 *	does not implement: the filter is accepted and matches no group.
	 */
	c.group_mode = CB_LDAP_GROUPS_AD_NESTED;
	expect_found(&c, "alice", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;

	/* More groups than max_groups: refused rather than guessed. */
	c.max_groups = 1;
	ck_assert_int_eq(lookup(&c, "both", &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert(e.refused);
	ck_assert_msg(strstr(err, "max_groups") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_active_directory_style)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	c.user_filter = "(sAMAccountName=%s)";
	c.disabled_mode = CB_LDAP_DISABLED_AD_UAC;
	c.email_attributes = proxy_attrs;
	c.num_email_attributes = 1;
	expect_found(&c, "adam", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert(!e.facts.disabled);
	ck_assert_int_eq(e.num_emails, 2);	/* SMTP: and smtp:, not X500: or sip:. */
	ck_assert_str_eq(e.emails[0], "adam.smith@school.example");
	ck_assert_str_eq(e.emails[1], "adam@old-school.example");

	expect_found(&c, "adis", &e);
	ck_assert(e.facts.disabled);	/* userAccountControl 514 = 512 | ACCOUNTDISABLE */

	c.user_filter = "(userPrincipalName=%s)";
	expect_found(&c, "adam@school.example", &e);
	ck_assert_str_eq(e.dn, "uid=adam," PEOPLE);

	/* No userAccountControl at all: treated as disabled, with a warning. */
	c.user_filter = "(uid=%s)";
	expect_found(&c, "alice", &e);
	ck_assert(e.facts.disabled);
	ck_assert_ptr_nonnull(strstr(e.warning, "userAccountControl"));
}
END_TEST

/*
 *	Connections: TLS, binds, failover.
 */

START_TEST(test_ldaps_and_ca_dir)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	openldap_conf(&c);
	uris1[0] = uri_ldaps;
	c.start_tls = false;
	expect_found(&c, "alice", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);

	c.ca_file = NULL;
	c.ca_dir = ca_dir;
	expect_found(&c, "alice", &e);

	openldap_conf(&c);	/* StartTLS with ca_dir */
	c.ca_file = NULL;
	c.ca_dir = ca_dir;
	expect_found(&c, "bob", &e);
}
END_TEST

static void expect_connect_error(cb_ldap_conf_t const *c, char const *needle)
{
	char err[2048];
	cb_ldap_conn_t *conn;

	check_conf_ok(c);
	conn = cb_ldap_connect(c, err, sizeof(err));
	ck_assert_ptr_null(conn);
	ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" does not mention \"%s\"", err, needle);
	ck_assert_msg(!c->bind_password || !strstr(err, c->bind_password), "password in \"%s\"", err);
}

START_TEST(test_untrusted_certificate)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	/* StartTLS: the server's certificate is not from the CA we trust. */
	openldap_conf(&c);
	c.ca_file = untrusted_ca;
	expect_connect_error(&c, "TLS handshake failed");
	expect_connect_error(&c, "certificate");
	expect_connect_error(&c, uri_ldap);

	/* ldaps: the same. */
	uris1[0] = uri_ldaps;
	c.start_tls = false;
	expect_connect_error(&c, "TLS handshake failed");

	/* require_cert = no accepts it (and is documented as unsafe). */
	c.require_cert = false;
	expect_found(&c, "alice", &e);
}
END_TEST

START_TEST(test_binds)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	char err[512];

	/* Wrong password: refused, the password is not echoed. */
	openldap_conf(&c);
	c.bind_password = "wrong-secret";
	expect_connect_error(&c, "Invalid credentials");
	expect_connect_error(&c, MODULE_DN);

	/* SASL EXTERNAL with the client certificate (its subject is the module's DN). */
	openldap_conf(&c);
	uris1[0] = uri_ldaps;
	c.start_tls = false;
	c.bind_dn = NULL;
	c.bind_password = NULL;
	c.sasl_external = true;
	c.cert_file = client_cert;
	c.key_file = client_key;
	expect_found(&c, "alice", &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);

	/* ... and without the certificate the server refuses it. */
	c.cert_file = c.key_file = NULL;
	expect_connect_error(&c, "SASL EXTERNAL");

	/* Anonymous: connects, but this directory lets anonymous users search nothing. */
	openldap_conf(&c);
	c.bind_dn = c.bind_password = NULL;
	ck_assert_int_eq(lookup(&c, "alice", &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	ck_assert_msg(strstr(err, "may not search") != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_failover)
{
	cb_ldap_conf_t c;
	cb_ldap_conn_t *conn;
	cb_dir_entry_t e;
	char err[1024];

	openldap_conf(&c);
	uris2[0] = uri_closed;
	uris2[1] = uri_ldap;
	c.uris = uris2;
	c.num_uris = 2;
	check_conf_ok(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect: %s", err);
	ck_assert_str_eq(cb_ldap_conn_uri(conn), uri_ldap);
	ck_assert(cb_ldap_alive(conn));
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_FOUND);
	/* The connection is reused for more lookups. */
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "pupil1", &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert(cb_ldap_alive(conn));
	cb_ldap_close(conn);

	/* Every server down: the error names each URI. */
	uris2[1] = uri_closed;
	expect_connect_error(&c, uri_closed);
	expect_connect_error(&c, "cannot contact");

	cb_ldap_close(NULL);
	ck_assert(!cb_ldap_alive(NULL));
	ck_assert_int_eq(cb_ldap_lookup(NULL, &c, "alice", &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	ck_assert_int_eq(e.facts.result, CB_DIR_UNAVAILABLE);
}
END_TEST

/*
 *	Listing people (cb_ldap_list_people).
 */

#define ROSTER_MAX 64
#define ROSTER_STAFF "cn=roster-staff,ou=groups," BASE_DN
#define ROSTER_EXTRA "cn=roster-extra,ou=groups," BASE_DN

/* With the usual staff groups: the staff (twin once), carol, and the pupils with exceptions. */
static char const *usual_list[] = {
	"alice", "bob", "carol", "dave", "erin", "frank", "*)(uid=*", "adam", "adis", "hostile", "twin", "both",
	"sam", "pupil2", "pupil3"
};

typedef struct {
	char	*ids[ROSTER_MAX];
	size_t	n;
	size_t	calls;
	size_t	stop_after;	/* Ask to stop after this many; 0: never. */
	bool	stop_server;	/* Stop slapd during the first call. */
	bool	repeated;	/* An identity came twice. */
	bool	overflow;
} roster_t;

static int roster_add(void *ctx, char const *identity)
{
	roster_t *r = ctx;

	r->calls++;
	for (size_t i = 0; i < r->n; i++) if (strcmp(r->ids[i], identity) == 0) r->repeated = true;
	if (r->n < ROSTER_MAX) r->ids[r->n++] = strdup(identity);
	else r->overflow = true;
	if (r->stop_server && r->calls == 1) ck_assert_int_eq(fixture("stop"), 0);
	return r->stop_after && r->calls >= r->stop_after;
}

static void roster_free(roster_t *r)
{
	for (size_t i = 0; i < r->n; i++) free(r->ids[i]);
	memset(r, 0, sizeof(*r));
}

static int cmp_str(void const *a, void const *b)
{
	return strcmp(*(char * const *) a, *(char * const *) b);
}

/** expect_roster - r holds exactly the identities in want (in any order), each once. */
static void expect_roster(roster_t *r, char const * const *want, size_t nwant)
{
	char const *sorted[ROSTER_MAX];
	char got[4096] = "";

	ck_assert(!r->overflow);
	ck_assert(nwant <= ROSTER_MAX);
	qsort(r->ids, r->n, sizeof(r->ids[0]), cmp_str);
	for (size_t i = 0; i < r->n; i++) {
		size_t used = strlen(got);

		snprintf(got + used, sizeof(got) - used, "%s\"%s\"", i ? " " : "", r->ids[i]);
	}
	memcpy(sorted, want, nwant * sizeof(want[0]));
	qsort(sorted, nwant, sizeof(sorted[0]), cmp_str);
	ck_assert_msg(!r->repeated, "an identity was reported twice: %s", got);
	ck_assert_msg(r->n == nwant, "got %zu identities, want %zu: %s", r->n, nwant, got);
	for (size_t i = 0; i < nwant; i++) {
		ck_assert_msg(strcmp(r->ids[i], sorted[i]) == 0, "got %s; \"%s\" is missing", got, sorted[i]);
	}
	ck_assert_int_eq(r->calls, r->n);
}

/** list_people - connect, list, close (the connection's state after -1 is checked separately). */
static int list_people(cb_ldap_conf_t const *c, roster_t *r, size_t *count, size_t *skipped, char *err, size_t errlen)
{
	cb_ldap_conn_t *conn;
	int rc;

	check_conf_ok(c);
	conn = cb_ldap_connect(c, err, errlen);
	ck_assert_msg(conn != NULL, "connect: %s", err);
	rc = cb_ldap_list_people(conn, c, roster_add, r, count, skipped, err, errlen);
	if (rc < 0) ck_assert(!cb_ldap_alive(conn));
	cb_ldap_close(conn);
	return rc;
}

/** expect_list - listing with c succeeds and gives exactly want, with that many skipped. */
static void expect_list(cb_ldap_conf_t const *c, char const * const *want, size_t nwant, size_t want_skipped)
{
	roster_t r = { .n = 0 };
	size_t count = 99, skipped = 99;
	char err[1024];

	ck_assert_msg(list_people(c, &r, &count, &skipped, err, sizeof(err)) == 0, "list: %s", err);
	expect_roster(&r, want, nwant);
	ck_assert_int_eq(count, nwant);
	ck_assert_int_eq(skipped, want_skipped);
	roster_free(&r);
}

#define NUM_OF(_a) (sizeof(_a) / sizeof((_a)[0]))

START_TEST(test_list_member_of)
{
	static char const *no_exceptions[] = {
		"alice", "bob", "carol", "dave", "erin", "frank", "*)(uid=*", "adam", "adis", "hostile", "twin", "both",
		"sam"
	};
	cb_ldap_conf_t c;

	openldap_conf(&c);
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);

	/* Pages of one and of two entries (16 entries: twin has two): the same list. */
	c.list_page_size = 1;
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);
	c.list_page_size = 2;
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);

	/* No exception attribute: the staff only. */
	c.exception_reason_attribute = NULL;
	expect_list(&c, no_exceptions, NUM_OF(no_exceptions), 0);

	/* ldaps, and the default page size. */
	openldap_conf(&c);
	uris1[0] = uri_ldaps;
	c.start_tls = false;
	c.list_page_size = 0;
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);
}
END_TEST

START_TEST(test_list_search_mode)
{
	cb_ldap_conf_t c;
	roster_t r = { .n = 0 };
	char err[1024];
	static char const *missing[] = { "cn=nobody,ou=groups," BASE_DN };
	static char const *not_group[] = { "uid=alice," PEOPLE };

	openldap_conf(&c);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	c.group_base_dn = "ou=groups," BASE_DN;
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);
	c.list_page_size = 1;
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);

	/* A staff group that is not there, or is not a group: an error, not a short list. */
	c.staff_groups = missing;
	c.num_staff_groups = 1;
	ck_assert_int_eq(list_people(&c, &r, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "staff_group cn=nobody") && strstr(err, "No such object"), "err: %s", err);
	roster_free(&r);
	c.staff_groups = not_group;
	ck_assert_int_eq(list_people(&c, &r, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is not a group") && strstr(err, "group_filter"), "err: %s", err);
	roster_free(&r);
}
END_TEST

START_TEST(test_list_ad_nested)
{
	static char const *exceptions_only[] = { "pupil2", "pupil3" };
	cb_ldap_conf_t c;

	/* OpenLDAP does not implement AD's IN_CHAIN rule: no memberOf matches, the exception holders remain. */
	openldap_conf(&c);
	c.group_mode = CB_LDAP_GROUPS_AD_NESTED;
	expect_list(&c, exceptions_only, NUM_OF(exceptions_only), 0);
}
END_TEST

START_TEST(test_list_bad_values)
{
	static char const *roster[] = { "roster.upper", "rosterdup", "pupil2", "pupil3" };
	static char const *groups[] = { ROSTER_STAFF };
	cb_ldap_conf_t c;

	/*
	 *	Skipped: two different uids, a uid with a BEL, one with two '@',
	 *	one of 300 bytes.  Not users at all, so neither reported nor
	 *	counted (search mode): the service account, the nested group, a
	 *	DN with no entry.
	 */
	openldap_conf(&c);
	c.staff_groups = groups;
	c.num_staff_groups = 1;
	expect_list(&c, roster, NUM_OF(roster), 4);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	expect_list(&c, roster, NUM_OF(roster), 4);
}
END_TEST

START_TEST(test_list_duplicates)
{
	static char const *roster[] = {
		"alice", "bob", "dave", "erin", "frank", "*)(uid=*", "adam", "adis", "hostile", "twin", "both",
		"roster.upper", "rosterdup", "sam"
	};
	static char const *groups[] = { ROSTER_STAFF, ROSTER_EXTRA, "cn=staff,ou=groups," BASE_DN };
	cb_ldap_conf_t c;

	/* rosterdup: in two staff groups and an "exception" holder (employeeNumber here); twin: two entries. */
	openldap_conf(&c);
	c.staff_groups = groups;
	c.num_staff_groups = NUM_OF(groups);
	c.exception_reason_attribute = "employeeNumber";
	c.list_page_size = 3;
	expect_list(&c, roster, NUM_OF(roster), 4);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	expect_list(&c, roster, NUM_OF(roster), 4);
}
END_TEST

START_TEST(test_list_identity_attribute)
{
	static char const *sam[] = { "adam", "adis" };
	static char const *upn[] = { "adam@school.example", "adis@school.example" };
	cb_ldap_conf_t c;

	/* Derived from "(sAMAccountName=%s)": only the entries that have one. */
	openldap_conf(&c);
	c.user_filter = "(sAMAccountName=%s)";
	expect_list(&c, sam, NUM_OF(sam), 0);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	expect_list(&c, sam, NUM_OF(sam), 0);

	/* Set: the values it holds, lower-cased (the realm is part of the identity). */
	openldap_conf(&c);
	c.user_filter = "(&(objectClass=cetbyodTestADUser)(userPrincipalName=%s)(!(cn=x%%y)))";
	c.identity_attribute = "userPrincipalName";
	expect_list(&c, upn, NUM_OF(upn), 0);

	/* Derived from a filter with %%: uid. */
	c.identity_attribute = NULL;
	c.user_filter = "(&(objectClass=inetOrgPerson)(!(cn=100%%))(uid=%s))";
	expect_list(&c, usual_list, NUM_OF(usual_list), 0);

	/* A value the filter does not pin down: "*" goes in its place (a substring match). */
	c.user_filter = "(&(objectClass=inetOrgPerson)(uid=p%s))";
	c.identity_attribute = "uid";
	{
		static char const *p_only[] = { "pupil2", "pupil3" };

		expect_list(&c, p_only, NUM_OF(p_only), 0);
	}
}
END_TEST

START_TEST(test_list_conf_check)
{
	cb_ldap_conf_t c;

	openldap_conf(&c); c.user_filter = "(uid=%s)";			check_conf_ok(&c);
	openldap_conf(&c); c.user_filter = "(&(uid=%s)(pct=100%%))";	check_conf_ok(&c);
	openldap_conf(&c); c.user_filter = "(mail=%s@school.example)";
	expect_conf_error(&c, "ldap { identity_attribute }");
	expect_conf_error(&c, "(mail=%s@school.example)");
	c.identity_attribute = "mail";					check_conf_ok(&c);
#define NO_ID "ldap { identity_attribute }"
	openldap_conf(&c); c.user_filter = "(uid:caseExactMatch:=%s)";	expect_conf_error(&c, NO_ID);
	openldap_conf(&c); c.user_filter = "(uid~=%s)";			expect_conf_error(&c, NO_ID);
	openldap_conf(&c); c.user_filter = "(uid>=%s)";			expect_conf_error(&c, NO_ID);
	openldap_conf(&c); c.user_filter = "(&(objectClass=person)(=%s))"; expect_conf_error(&c, NO_ID);
	openldap_conf(&c); c.user_filter = "(%%uid=%s)";		expect_conf_error(&c, NO_ID);
	openldap_conf(&c); c.user_filter = "(uid=%s*)";			expect_conf_error(&c, NO_ID);
#undef NO_ID
	openldap_conf(&c); c.identity_attribute = "bad attr";
	expect_conf_error(&c, "identity_attribute = \"bad attr\" is not an LDAP attribute name");
	openldap_conf(&c); c.identity_attribute = "1.2..3";		expect_conf_error(&c, "identity_attribute");
	openldap_conf(&c); c.identity_attribute = "0.9.2342.19200300.100.1.1"; check_conf_ok(&c);
	openldap_conf(&c); c.list_timeout_ms = 5;			expect_conf_error(&c, "list_timeout_ms");
	openldap_conf(&c); c.list_timeout_ms = 0;			check_conf_ok(&c);
	openldap_conf(&c); c.list_page_size = 1000000;			expect_conf_error(&c, "list_page_size");
	openldap_conf(&c); c.list_max_people = 4000000000U;		expect_conf_error(&c, "list_max_people");
	openldap_conf(&c); c.group_mode = CB_LDAP_GROUPS_AD_NESTED; c.member_of_attribute = "member of";
	expect_conf_error(&c, "member_of_attribute");
}
END_TEST

START_TEST(test_list_limits)
{
	cb_ldap_conf_t c;
	cb_ldap_conn_t *conn;
	cb_dir_entry_t e;
	roster_t r = { .n = 0 };
	size_t count = 99, skipped = 99;
	char err[1024];

	/* More people than list_max_people: an error, and the connection is done. */
	openldap_conf(&c);
	c.list_max_people = 3;
	ck_assert_int_eq(list_people(&c, &r, &count, &skipped, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "more than list_max_people (3)") != NULL, "err: %s", err);
	ck_assert_int_eq(count, 3);
	roster_free(&r);

	/* fn asks to stop: 0, and the connection still works (the paged search was abandoned). */
	openldap_conf(&c);
	c.list_page_size = 2;
	check_conf_ok(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect: %s", err);
	r.stop_after = 3;
	ck_assert_int_eq(cb_ldap_list_people(conn, &c, roster_add, &r, &count, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(count, 3);
	ck_assert_int_eq(r.calls, 3);
	ck_assert(cb_ldap_alive(conn));
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_FOUND);
	roster_free(&r);

	/* ... and a full list on the same connection afterwards. */
	ck_assert_int_eq(cb_ldap_list_people(conn, &c, roster_add, &r, &count, &skipped, err, sizeof(err)), 0);
	expect_roster(&r, usual_list, NUM_OF(usual_list));
	roster_free(&r);

	/* No callback, or a connection that failed before: -1. */
	ck_assert_int_eq(cb_ldap_list_people(conn, &c, NULL, NULL, &count, &skipped, err, sizeof(err)), -1);
	ck_assert(!cb_ldap_alive(conn));
	ck_assert_int_eq(cb_ldap_list_people(conn, &c, roster_add, &r, &count, &skipped, err, sizeof(err)), -1);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(count, 0);
	cb_ldap_close(conn);
	ck_assert_int_eq(cb_ldap_list_people(NULL, &c, roster_add, &r, &count, &skipped, err, sizeof(err)), -1);
}
END_TEST

/*
 *	Outages: a slapd of their own, paused, stopped and restarted.
 */

START_TEST(test_pause_search_timeout)
{
	cb_ldap_conf_t c;
	cb_ldap_conn_t *conn;
	cb_dir_entry_t e;
	char err[1024];
	int64_t t0, elapsed;

	openldap_conf(&c);
	check_conf_ok(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect: %s", err);
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_FOUND);

	shorten_timeouts(&c);
	ck_assert_int_eq(fixture("pause"), 0);
	t0 = ms_now();
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "bob", &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	elapsed = ms_now() - t0;
	ck_assert_int_eq(e.facts.result, CB_DIR_UNAVAILABLE);
	ck_assert_msg(elapsed >= TIMEOUT_MS - 50 && elapsed <= TIMEOUT_MS + SLACK_MS, "took %lld ms", (long long) elapsed);
	ck_assert_msg(strstr(err, "search_timeout_ms") != NULL, "err: %s", err);
	ck_assert(!cb_ldap_alive(conn));
	/* A broken connection is never used again. */
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	cb_ldap_close(conn);

	/* New connections time out too: StartTLS, then ldaps. */
	t0 = ms_now();
	ck_assert_ptr_null(cb_ldap_connect(&c, err, sizeof(err)));
	elapsed = ms_now() - t0;
	ck_assert_msg(elapsed <= TIMEOUT_MS + SLACK_MS, "StartTLS connect took %lld ms (%s)", (long long) elapsed, err);
	ck_assert_msg(strstr(err, "no answer") != NULL, "err: %s", err);

	uris1[0] = uri_ldaps;
	c.start_tls = false;
	t0 = ms_now();
	ck_assert_ptr_null(cb_ldap_connect(&c, err, sizeof(err)));
	elapsed = ms_now() - t0;
	ck_assert_msg(elapsed <= TIMEOUT_MS + SLACK_MS, "ldaps connect took %lld ms (%s)", (long long) elapsed, err);

	ck_assert_int_eq(fixture("resume"), 0);
	openldap_conf(&c);
	expect_found(&c, "bob", &e);
}
END_TEST

START_TEST(test_stop_and_restart)
{
	cb_ldap_conf_t c;
	cb_ldap_conn_t *conn, *idle;
	cb_dir_entry_t e;
	char err[1024];
	int64_t t0, elapsed;

	openldap_conf(&c);
	check_conf_ok(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect: %s", err);
	idle = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(idle != NULL, "connect: %s", err);
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_FOUND);

	shorten_timeouts(&c);
	ck_assert_int_eq(fixture("stop"), 0);

	/* An idle connection notices the server went away without a lookup. */
	ck_assert(!cb_ldap_alive(idle));
	cb_ldap_close(idle);

	t0 = ms_now();
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	elapsed = ms_now() - t0;
	ck_assert_msg(elapsed <= TIMEOUT_MS + SLACK_MS, "took %lld ms", (long long) elapsed);
	ck_assert(!cb_ldap_alive(conn));
	cb_ldap_close(conn);

	t0 = ms_now();
	ck_assert_ptr_null(cb_ldap_connect(&c, err, sizeof(err)));
	ck_assert_msg(ms_now() - t0 <= TIMEOUT_MS + SLACK_MS, "connect took too long");
	ck_assert_msg(strstr(err, "cannot contact") != NULL, "err: %s", err);

	/* Restarted on the same ports: a fresh connection works. */
	ck_assert_int_eq(fixture("start"), 0);
	openldap_conf(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect after restart: %s", err);
	ck_assert_int_eq(cb_ldap_lookup(conn, &c, "alice", &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	cb_ldap_close(conn);
}
END_TEST

/* The server goes away in the middle of a list (after the first page): -1, saying so. */
START_TEST(test_list_server_stops)
{
	cb_ldap_conf_t c;
	roster_t r = { .n = 0 };
	size_t count = 99;
	char err[1024];

	openldap_conf(&c);
	c.list_page_size = 2;
	r.stop_server = true;
	ck_assert_int_eq(list_people(&c, &r, &count, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, uri_ldap) && strstr(err, "listing people") && strstr(err, "Can't contact LDAP server"),
		      "err: %s", err);
	ck_assert_msg(strstr(err, "after 2 reported") != NULL, "err: %s", err);
	ck_assert_int_eq(count, 2);	/* The first page, and no more. */
	roster_free(&r);

	/* The same in search mode, between two member reads. */
	ck_assert_int_eq(fixture("start"), 0);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	r.stop_server = true;
	ck_assert_int_eq(list_people(&c, &r, &count, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "reading member") && strstr(err, "Can't contact LDAP server"), "err: %s", err);
	ck_assert_int_eq(count, 1);
	roster_free(&r);
}
END_TEST

/* A server that stops answering: the list ends after list_timeout_ms. */
START_TEST(test_list_timeout)
{
	cb_ldap_conf_t c;
	cb_ldap_conn_t *conn;
	roster_t r = { .n = 0 };
	char err[1024];
	int64_t t0, elapsed;

	openldap_conf(&c);
	c.list_timeout_ms = TIMEOUT_MS;
	check_conf_ok(&c);
	conn = cb_ldap_connect(&c, err, sizeof(err));
	ck_assert_msg(conn != NULL, "connect: %s", err);
	shorten_timeouts(&c);
	ck_assert_int_eq(fixture("pause"), 0);
	t0 = ms_now();
	ck_assert_int_eq(cb_ldap_list_people(conn, &c, roster_add, &r, NULL, NULL, err, sizeof(err)), -1);
	elapsed = ms_now() - t0;
	ck_assert_msg(elapsed >= TIMEOUT_MS - 50 && elapsed <= TIMEOUT_MS + SLACK_MS, "took %lld ms", (long long) elapsed);
	ck_assert_msg(strstr(err, "list_timeout_ms (1000 ms)") != NULL, "err: %s", err);
	ck_assert(!cb_ldap_alive(conn));
	ck_assert_int_eq(r.calls, 0);
	cb_ldap_close(conn);
	ck_assert_int_eq(fixture("resume"), 0);
}
END_TEST

/*
 *	slapd's "sizelimit 500" caps paged searches too (OpenLDAP's size.prtotal
 *	defaults to the hard limit): with more than 500 matching entries the
 *	list fails, naming the size limit, rather than coming back short.  The
 *	entries are added by the rootdn, which no limit applies to.
 */
START_TEST(test_list_server_size_limit)
{
	cb_ldap_conf_t c;
	roster_t r = { .n = 0 };
	struct berval cred = { 12, (char *) "admin-secret" };
	char err[1024];
	LDAP *ld = NULL;
	int version = LDAP_VERSION3;

	ck_assert_int_eq(ldap_initialize(&ld, uri_ldap), LDAP_SUCCESS);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ck_assert_int_eq(ldap_sasl_bind_s(ld, "cn=admin," BASE_DN, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL),
			 LDAP_SUCCESS);
	for (int i = 0; i < 510; i++) {
		char dn[128], uid[32];
		char *oc[] = { (char *) "inetOrgPerson", NULL }, *uidv[] = { uid, NULL };
		char *sn[] = { (char *) "Bulk", NULL }, *et[] = { (char *) "bulk", NULL };
		LDAPMod m_oc = { LDAP_MOD_ADD, (char *) "objectClass", { oc } };
		LDAPMod m_uid = { LDAP_MOD_ADD, (char *) "uid", { uidv } };
		LDAPMod m_cn = { LDAP_MOD_ADD, (char *) "cn", { sn } };
		LDAPMod m_sn = { LDAP_MOD_ADD, (char *) "sn", { sn } };
		LDAPMod m_et = { LDAP_MOD_ADD, (char *) "employeeType", { et } };
		LDAPMod *mods[] = { &m_oc, &m_uid, &m_cn, &m_sn, &m_et, NULL };

		snprintf(uid, sizeof(uid), "bulk%d", i);
		snprintf(dn, sizeof(dn), "uid=%s," PEOPLE, uid);
		ck_assert_int_eq(ldap_add_ext_s(ld, dn, mods, NULL, NULL), LDAP_SUCCESS);
	}
	ldap_unbind_ext_s(ld, NULL, NULL);

	openldap_conf(&c);
	c.exception_reason_attribute = "employeeType";	/* The 510, and hostile. */
	ck_assert_int_eq(list_people(&c, &r, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "size limit") && strstr(err, "paging"), "err: %s", err);
	ck_assert_uint_le(r.calls, 500);
	roster_free(&r);
}
END_TEST

START_TEST(test_server_with_untrusted_certificate)
{
	cb_ldap_conf_t c;
	cb_dir_entry_t e;

	/* slapd now presents a certificate from a CA the module does not trust. */
	ck_assert_int_eq(fixture("stop"), 0);
	setenv("SLAPD_SERVER_CERT", "untrusted", 1);
	ck_assert_int_eq(fixture("start"), 0);
	unsetenv("SLAPD_SERVER_CERT");

	openldap_conf(&c);
	expect_connect_error(&c, "TLS handshake failed: the server's certificate is not trusted");
	uris1[0] = uri_ldaps;
	c.start_tls = false;
	expect_connect_error(&c, "TLS handshake failed: the server's certificate is not trusted");

	/* Back to the trusted certificate: the same configuration works. */
	ck_assert_int_eq(fixture("stop"), 0);
	ck_assert_int_eq(fixture("start"), 0);
	expect_found(&c, "alice", &e);
}
END_TEST

/*
 *	Entry-to-facts without a server (cb_ldap_entry_facts).
 */

#define FACTS_MAX 16

/** An entry built from "name=value" strings: each string is one value; names may repeat. */
typedef struct {
	cb_ldap_value_t		values[FACTS_MAX];
	cb_ldap_attr_t		attrs[FACTS_MAX];
	char			names[FACTS_MAX][64];
	cb_ldap_entry_t		entry;
} fentry_t;

static void fentry_add(fentry_t *f, char const *name, size_t nlen, char const *val, size_t len)
{
	size_t i, v = 0;

	for (i = 0; i < f->entry.num_attrs; i++) v += f->attrs[i].num_values;
	ck_assert_uint_lt(v, FACTS_MAX);
	ck_assert_uint_lt(nlen, sizeof(f->names[0]));
	for (i = 0; i < f->entry.num_attrs; i++) {
		if (strlen(f->names[i]) == nlen && memcmp(f->names[i], name, nlen) == 0) break;
	}
	if (i == f->entry.num_attrs) {		/* A new attribute: its values follow all the others'. */
		memcpy(f->names[i], name, nlen);
		f->names[i][nlen] = '\0';
		f->attrs[i].name = f->names[i];
		f->attrs[i].values = &f->values[v];
		f->entry.num_attrs++;
	} else {
		ck_assert_msg(f->attrs[i].values + f->attrs[i].num_values == &f->values[v],
			      "values of %s must be given together", f->names[i]);
	}
	f->values[v].val = val;
	f->values[v].len = len;
	f->attrs[i].num_values++;
}

/** fentry - dn (NULL: none) and NULL-terminated "name=value" strings. */
static cb_ldap_entry_t const *fentry(fentry_t *f, char const *dn, char const * const *av)
{
	memset(f, 0, sizeof(*f));
	f->entry.dn = dn;
	f->entry.dn_len = dn ? strlen(dn) : 0;
	f->entry.attrs = f->attrs;
	for (; av && *av; av++) {
		char const *eq = strchr(*av, '=');

		ck_assert_ptr_nonnull(eq);
		fentry_add(f, *av, (size_t) (eq - *av), eq + 1, strlen(eq + 1));
	}
	return &f->entry;
}

#define STAFF_GROUP "memberOf=cn=staff,ou=groups," BASE_DN
#define PUPIL_GROUP "memberOf=cn=pupils,ou=groups," BASE_DN

typedef struct {
	char const	*what;
	char const	*dn;
	char const	*av[8];
	cb_dir_result_t	result;
	cb_role_t	role;
	bool		disabled;
	bool		revoked;
	bool		exception;
	char const	*warning;	/* A part of out.warning; NULL: none expected. */
} facts_case_t;

static facts_case_t const facts_cases[] = {
	{ "staff", "uid=alice," PEOPLE, { STAFF_GROUP, "mail=Alice@School.Example", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, false, false, NULL },
	{ "staff, group DN spelt otherwise", "uid=bob," PEOPLE, { "MEMBEROF=CN=Staff,OU=Groups,DC=School,DC=Example", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, false, false, NULL },
	{ "pupil", "uid=p1," PEOPLE, { PUPIL_GROUP, NULL }, CB_DIR_FOUND, CB_ROLE_PUPIL, false, false, false, NULL },
	{ "other", "uid=o1," PEOPLE, { "memberOf=cn=gardeners,ou=groups," BASE_DN, NULL },
	  CB_DIR_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "both", "uid=b1," PEOPLE, { STAFF_GROUP, PUPIL_GROUP, NULL },
	  CB_DIR_FOUND, CB_ROLE_PUPIL, false, false, false, "both a staff and a pupil group" },
	{ "locked", "uid=dave," PEOPLE, { STAFF_GROUP, "pwdAccountLockedTime=20240101000000Z", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, true, false, false, NULL },
	{ "revoked", "uid=frank," PEOPLE, { STAFF_GROUP, "cetbyodRevoked=TRUE", "cetbyodRevokedReason=Lost", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, true, false, NULL },
	{ "not revoked", "uid=frank," PEOPLE, { STAFF_GROUP, "cetbyodRevoked=FALSE", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, false, false, NULL },
	{ "unreadable revocation", "uid=frank," PEOPLE, { STAFF_GROUP, "cetbyodRevoked=maybe", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, true, false, "neither TRUE nor FALSE" },
	{ "exception", "uid=p2," PEOPLE, { PUPIL_GROUP, "cetbyodExceptionReason=Medical device",
	  "cetbyodExceptionApprovedBy=Head", "cetbyodExceptionUntil=20991231000000Z", NULL },
	  CB_DIR_FOUND, CB_ROLE_PUPIL, false, false, true, NULL },
	{ "exception nobody approved", "uid=p2," PEOPLE, { "cetbyodExceptionReason=Medical device", NULL },
	  CB_DIR_FOUND, CB_ROLE_OTHER, false, false, false, "who approved it" },
	{ "exception with a bad end", "uid=p2," PEOPLE, { "cetbyodExceptionReason=x", "cetbyodExceptionApprovedBy=y",
	  "cetbyodExceptionUntil=2099-12-31", NULL },
	  CB_DIR_FOUND, CB_ROLE_OTHER, false, false, false, "not one GeneralizedTime" },
	{ "attribute options are other attributes", "uid=o2," PEOPLE,
	  { "memberOf;x-hidden=cn=staff,ou=groups," BASE_DN, NULL }, CB_DIR_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "group value not a DN", "uid=o3," PEOPLE, { "memberOf=not a dn", "memberOf=", NULL },
	  CB_DIR_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "no DN", NULL, { STAFF_GROUP, NULL }, CB_DIR_NOT_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "empty DN", "", { STAFF_GROUP, NULL }, CB_DIR_NOT_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "DN not UTF-8", "uid=\xff\xfe," PEOPLE, { STAFF_GROUP, NULL },
	  CB_DIR_NOT_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "DN with a control character", "uid=a\tb," PEOPLE, { STAFF_GROUP, NULL },
	  CB_DIR_NOT_FOUND, CB_ROLE_OTHER, false, false, false, NULL },
	{ "bad address", "uid=alice," PEOPLE, { STAFF_GROUP, "mail=not an address", NULL },
	  CB_DIR_FOUND, CB_ROLE_STAFF, false, false, false, "not an email address" },
};

START_TEST(test_facts_table)
{
	facts_case_t const *t = &facts_cases[_i];
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	fentry_t f;
	char err[512];
	cb_dir_result_t r;

	openldap_conf(&c);	/* Its server is not used. */
	r = cb_ldap_entry_facts(&c, fentry(&f, t->dn, t->av), &e, err, sizeof(err));
	ck_assert_msg(r == t->result, "%s: result %d (%s)", t->what, (int) r, err);
	ck_assert_int_eq(e.facts.result, t->result);
	ck_assert_msg(e.facts.role == t->role, "%s: role %d", t->what, (int) e.facts.role);
	ck_assert_msg(e.facts.disabled == t->disabled, "%s: disabled", t->what);
	ck_assert_msg(e.facts.revoked == t->revoked, "%s: revoked", t->what);
	ck_assert_msg(e.exception.present == t->exception, "%s: exception", t->what);
	if (t->warning) {
		ck_assert_msg(strstr(e.warning, t->warning) != NULL, "%s: warning \"%s\"", t->what, e.warning);
	} else if (r == CB_DIR_FOUND) {
		ck_assert_msg(e.warning[0] == '\0', "%s: warning \"%s\"", t->what, e.warning);
	}
	if (r == CB_DIR_FOUND) {
		ck_assert(!e.refused);
		ck_assert_str_eq(e.dn, t->dn);
		ck_assert_str_eq(err, "");
	} else {
		ck_assert(e.refused);
		ck_assert_str_eq(e.dn, "");
		ck_assert_msg(strstr(err, "DN") != NULL, "%s: err \"%s\"", t->what, err);
	}
}
END_TEST

START_TEST(test_facts_values)
{
	static char const *staff_av[] = { STAFF_GROUP, "mail=Alice@School.Example", "mailLocalAddress=alice@school.example",
					  "mailLocalAddress=a.l@school.example", "cetbyodRevoked=yes",
					  "cetbyodRevokedReason=Device lost", "cetbyodExceptionReason=r",
					  "cetbyodExceptionApprovedBy=IT", NULL };
	cb_ldap_conf_t c;
	cb_dir_entry_t e, copy;
	fentry_t f;
	char err[512];

	openldap_conf(&c);
	ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "uid=alice," PEOPLE, staff_av), &e, err, sizeof(err)),
			 CB_DIR_FOUND);
	ck_assert_int_eq(e.num_emails, 2);	/* Normalised and de-duplicated across attributes. */
	ck_assert_str_eq(e.emails[0], "alice@school.example");
	ck_assert_str_eq(e.emails[1], "a.l@school.example");
	ck_assert_ptr_eq(e.facts.revoked_reason, e.revoked_reason);
	ck_assert_str_eq(e.revoked_reason, "Device lost");
	ck_assert(e.exception.present);
	ck_assert_int_eq(e.exception.until, 0);		/* Open-ended. */
	ck_assert_str_eq(e.exception.approved_by, "IT");
	cb_dir_entry_copy(&copy, &e);
	ck_assert_ptr_eq(copy.facts.revoked_reason, copy.revoked_reason);

	/* Attribute names match whatever their case. */
	{
		static char const *av[] = { "MEMBEROF=cn=pupils,ou=groups," BASE_DN, "MAIL=p@school.example", NULL };

		ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "uid=p," PEOPLE, av), &e, err, sizeof(err)),
				 CB_DIR_FOUND);
		ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
		ck_assert_int_eq(e.num_emails, 1);
	}

	/* Attributes not configured are not read: here no revocation, exception or lock at all. */
	c.revoked_attribute = NULL;
	c.exception_reason_attribute = "";
	c.disabled_mode = CB_LDAP_DISABLED_NONE;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "uid=alice," PEOPLE, staff_av), &e, err, sizeof(err)),
			 CB_DIR_FOUND);
	ck_assert(!e.facts.revoked);
	ck_assert_ptr_null(e.facts.revoked_reason);
	ck_assert(!e.exception.present);
	ck_assert(!e.facts.disabled);

	/* Search modes find groups by another search: the entry alone gives no role. */
	openldap_conf(&c);
	c.group_mode = CB_LDAP_GROUPS_SEARCH;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "uid=alice," PEOPLE, staff_av), &e, err, sizeof(err)),
			 CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);

	/* No arguments: unavailable, never a crash. */
	ck_assert_int_eq(cb_ldap_entry_facts(NULL, &f.entry, &e, err, sizeof(err)), CB_DIR_UNAVAILABLE);
	ck_assert_int_eq(e.facts.result, CB_DIR_UNAVAILABLE);
	ck_assert_int_eq(cb_ldap_entry_facts(&c, NULL, &e, NULL, 0), CB_DIR_UNAVAILABLE);
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, NULL, err, sizeof(err)), CB_DIR_UNAVAILABLE);
}
END_TEST

START_TEST(test_facts_active_directory)
{
	static char const *ad_groups[] = { "CN=Staff,OU=Groups,DC=school,DC=example" };
	static char const *av_enabled[] = { "memberOf=CN=Staff,OU=Groups,DC=school,DC=example", "userAccountControl=512",
					    "proxyAddresses=SMTP:Adam.Smith@School.Example",
					    "proxyAddresses=smtp:adam@old-school.example", "proxyAddresses=X500:/o=x",
					    "proxyAddresses=sip:adam@school.example", NULL };
	static char const *av_disabled[] = { "userAccountControl=514", NULL };
	static char const *av_negative[] = { "userAccountControl=-2147483646", NULL };
	static char const *av_junk[] = { "userAccountControl=0x2", NULL };
	static char const *av_two[] = { "userAccountControl=512", "userAccountControl=512", NULL };
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	fentry_t f;
	char err[512];

	openldap_conf(&c);
	c.staff_groups = ad_groups;
	c.num_staff_groups = 1;
	c.email_attributes = proxy_attrs;
	c.num_email_attributes = 1;
	c.disabled_mode = CB_LDAP_DISABLED_AD_UAC;
	c.revoked_attribute = c.revoked_reason_attribute = NULL;
	c.exception_reason_attribute = c.exception_approved_by_attribute = c.exception_until_attribute = NULL;

	ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "CN=Adam,OU=People,DC=school,DC=example", av_enabled), &e,
					     err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert(!e.facts.disabled);
	ck_assert_int_eq(e.num_emails, 2);	/* SMTP: and smtp:, not X500: or sip:. */
	ck_assert_str_eq(e.emails[0], "adam.smith@school.example");
	ck_assert_str_eq(e.emails[1], "adam@old-school.example");
	ck_assert_str_eq(e.warning, "");

	cb_ldap_entry_facts(&c, fentry(&f, "CN=A,DC=x", av_disabled), &e, err, sizeof(err));
	ck_assert(e.facts.disabled);
	cb_ldap_entry_facts(&c, fentry(&f, "CN=A,DC=x", av_negative), &e, err, sizeof(err));
	ck_assert(e.facts.disabled);		/* 0x80000002 as a signed value. */
	ck_assert_str_eq(e.warning, "");

	/* Missing, junk or several values: disabled, with a warning. */
	cb_ldap_entry_facts(&c, fentry(&f, "CN=A,DC=x", NULL), &e, err, sizeof(err));
	ck_assert(e.facts.disabled);
	ck_assert_ptr_nonnull(strstr(e.warning, "userAccountControl"));
	cb_ldap_entry_facts(&c, fentry(&f, "CN=A,DC=x", av_junk), &e, err, sizeof(err));
	ck_assert(e.facts.disabled);
	cb_ldap_entry_facts(&c, fentry(&f, "CN=A,DC=x", av_two), &e, err, sizeof(err));
	ck_assert(e.facts.disabled);
}
END_TEST

START_TEST(test_facts_hostile)
{
	static char const nul_group[] = "cn=staff\0,ou=groups," BASE_DN;
	static char const nul_mail[] = "alice@school.example\0evil";
	static char const bad_utf8[] = "Lost \xc3\x28 device\x07";
	static char const *many[] = { "mail=h1@school.example", "mail=h2@school.example", "mail=h3@school.example",
				      "mail=h4@school.example", "mail=h5@school.example", "mail=h6@school.example",
				      "mail=h7@school.example", "mail=h8@school.example", "mail=h9@school.example",
				      "mail=h1@SCHOOL.example", NULL };
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	fentry_t f;
	char err[512];

	openldap_conf(&c);

	/* NUL bytes: a group DN with one is no group, an address with one no address. */
	fentry(&f, "uid=h," PEOPLE, NULL);
	fentry_add(&f, "memberOf", 8, nul_group, sizeof(nul_group) - 1);
	fentry_add(&f, "mail", 4, nul_mail, sizeof(nul_mail) - 1);
	fentry_add(&f, "cetbyodRevoked", 14, "TRUE", 4);
	fentry_add(&f, "cetbyodRevokedReason", 20, bad_utf8, sizeof(bad_utf8) - 1);
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	ck_assert_int_eq(e.num_emails, 0);
	ck_assert_ptr_nonnull(strstr(e.warning, "not an email address"));
	ck_assert(e.facts.revoked);
	ck_assert_str_eq(e.revoked_reason, "Lost ?( device?");	/* Bad UTF-8 and controls shown as '?'. */
	ck_assert_ptr_nonnull(strstr(e.warning, "control characters or invalid UTF-8"));

	/* Empty and zero-length values. */
	fentry(&f, "uid=h," PEOPLE, NULL);
	fentry_add(&f, "mail", 4, NULL, 0);
	fentry_add(&f, "cetbyodRevoked", 14, "", 0);
	fentry_add(&f, "cetbyodExceptionReason", 22, "", 0);
	fentry_add(&f, "cetbyodExceptionApprovedBy", 26, NULL, 0);	/* Empty values may come as NULL. */
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert(e.facts.revoked);		/* An empty flag is unreadable: revoked. */
	ck_assert_ptr_null(e.facts.revoked_reason);
	ck_assert(e.exception.present);		/* Present, if empty: as a lookup reads it. */

	/* Too many addresses (one a duplicate in another case): the first 8 kept, once each. */
	ck_assert_int_eq(cb_ldap_entry_facts(&c, fentry(&f, "uid=h," PEOPLE, many), &e, err, sizeof(err)),
			 CB_DIR_FOUND);
	ck_assert_int_eq(e.num_emails, CB_DIR_EMAILS_MAX);
	ck_assert_str_eq(e.emails[7], "h8@school.example");
	ck_assert_ptr_nonnull(strstr(e.warning, "more than 8 email addresses"));
}
END_TEST

/*
 * The memberOf fast path (issue 13): a value cb_ldap_dn_simple() accepts is
 * compared with the groups as it is, case-insensitively, instead of through
 * ldap_dn_normalize().  That is only right if its normal form is itself
 * lower-cased: checked here against libldap for the usual spellings and for
 * 20,000 random strings over the characters that matter.
 */
static void check_simple(char const *v)
{
	char *norm, lower[CB_DIR_DN_MAX];
	size_t len = strlen(v);

	if (!cb_ldap_dn_simple(v, len)) return;
	ck_assert_uint_lt(len, sizeof(lower));
	for (size_t i = 0; i <= len; i++) lower[i] = (char) ((v[i] >= 'A' && v[i] <= 'Z') ? v[i] + 32 : v[i]);
	norm = cb_ldap_dn_normal(v);
	ck_assert_msg(norm && strcmp(norm, lower) == 0, "simple DN \"%s\": normal form \"%s\"", v, norm ? norm : "(none)");
	ldap_memfree(norm);
}

START_TEST(test_dn_simple_is_normal)
{
	static char const *const yes[] = {
		"cn=staff,ou=groups," BASE_DN, "CN=Staff,OU=Groups,DC=School,DC=Example", "cn=All Staff,ou=g",
		"cn=All  Staff,ou=g", "cn=a.b_c-d@e,ou=g", "c-n=a", "cn=a_b",
	};
	static char const *const no[] = {
		"", "cn=staff, ou=groups", " cn=staff", "cn=staff ", "cn=a ,ou=g", "cn=st\\61ff,ou=g", "cn=a+uid=b,ou=g",
		"cn=\"q\",ou=g", "cn=#0403616263", "2.5.4.3=staff", "cn=staff;ou=g", "cn=a=b", "cn=,ou=g", "cn=a,",
		"=a", "cn", "not a dn", "cn=\xc3\xa9",
	};
	static char const alphabet[] = "aZ9-=, _.@+;\\\"#<>";
	unsigned int seed = 13;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		ck_assert_msg(cb_ldap_dn_simple(yes[i], strlen(yes[i])), "\"%s\" is simple", yes[i]);
		check_simple(yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		ck_assert_msg(!cb_ldap_dn_simple(no[i], strlen(no[i])), "\"%s\" is not simple", no[i]);
	}
	for (int n = 0; n < 20000; n++) {
		char v[24];
		size_t len = 1 + (size_t) (rand_r(&seed) % (sizeof(v) - 1));

		for (size_t i = 0; i < len; i++) v[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		v[len] = '\0';
		if (n % 2) memcpy(v, "cn=", len < 3 ? len : 3);	/* Half of them start like a DN. */
		check_simple(v);
	}
}
END_TEST

START_TEST(test_facts_huge)
{
	char big[CB_DIR_DN_MAX + 200], dn[CB_DIR_DN_MAX + 10];
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	fentry_t f;
	char err[512];

	openldap_conf(&c);

	/* Huge values: texts truncated at a character boundary, group DNs ignored. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fentry(&f, "uid=h," PEOPLE, NULL);
	fentry_add(&f, "memberOf", 8, big, strlen(big));
	fentry_add(&f, "cetbyodExceptionReason", 22, big, strlen(big));
	fentry_add(&f, "cetbyodExceptionApprovedBy", 26, "\xe2\x82\xac", 3);
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	ck_assert_int_eq(strlen(e.exception.reason), CB_DIR_TEXT_MAX - 1);
	ck_assert_str_eq(e.exception.approved_by, "\xe2\x82\xac");
	ck_assert_ptr_nonnull(strstr(e.warning, "truncated"));

	/* A DN too long is refused, one byte shorter is kept. */
	memset(dn, 'a', sizeof(dn));
	memcpy(dn, "cn=", 3);
	fentry(&f, NULL, NULL);
	f.entry.dn = dn;
	f.entry.dn_len = CB_DIR_DN_MAX;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	ck_assert(e.refused);
	f.entry.dn_len = CB_DIR_DN_MAX - 1;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_uint_eq(strlen(e.dn), CB_DIR_DN_MAX - 1);

	/* A DN with a NUL inside is refused; an entry with NULL attributes has none. */
	f.entry.dn = "uid=a\0b";
	f.entry.dn_len = 7;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_NOT_FOUND);
	f.entry.dn_len = 5;
	f.entry.attrs = NULL;
	f.entry.num_attrs = 3;
	ck_assert_int_eq(cb_ldap_entry_facts(&c, &f.entry, &e, err, sizeof(err)), CB_DIR_FOUND);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
}
END_TEST

/*
 *	The cache.
 */

static void make_entry(cb_dir_entry_t *e, cb_dir_result_t result, char const *dn)
{
	cb_dir_entry_init(e);
	e->facts.result = result;
	if (result == CB_DIR_FOUND) {
		e->facts.role = CB_ROLE_STAFF;
		snprintf(e->dn, sizeof(e->dn), "%s", dn);
	}
}

static cb_dircache_t *make_cache(size_t max, unsigned found, unsigned not_found, unsigned keep)
{
	cb_dircache_conf_t conf = { .max_entries = max, .found_ttl = found, .not_found_ttl = not_found,
				    .keep_stale = keep };
	char err[256];
	cb_dircache_t *cache = cb_dircache_create(&conf, err, sizeof(err));

	ck_assert_msg(cache != NULL, "create: %s", err);
	return cache;
}

START_TEST(test_cache_ttls)
{
	cb_dircache_t *cache = make_cache(10, 300, 30, 0);
	cb_dir_entry_t in, out;
	cb_dircache_stats_t st;

	make_entry(&in, CB_DIR_FOUND, "uid=alice");
	ck_assert(cb_dircache_put(cache, "alice", &in, 1000));
	make_entry(&in, CB_DIR_NOT_FOUND, NULL);
	ck_assert(cb_dircache_put(cache, "nobody", &in, 1000));

	ck_assert(cb_dircache_get(cache, "alice", 1299, &out));
	ck_assert_int_eq(out.facts.result, CB_DIR_FOUND);
	ck_assert_str_eq(out.dn, "uid=alice");
	ck_assert(cb_dircache_get(cache, "nobody", 1029, &out));
	ck_assert_int_eq(out.facts.result, CB_DIR_NOT_FOUND);
	ck_assert(!cb_dircache_get(cache, "nobody", 1030, &out));
	ck_assert(cb_dircache_get(cache, "alice", 1030, &out));
	ck_assert(!cb_dircache_get(cache, "alice", 1300, &out));
	ck_assert(!cb_dircache_get(cache, "Alice", 1000, &out));	/* Keys are compared exactly. */

	/* The clock went back: not fresh. */
	make_entry(&in, CB_DIR_FOUND, "uid=bob");
	ck_assert(cb_dircache_put(cache, "bob", &in, 2000));
	ck_assert(!cb_dircache_get(cache, "bob", 1999, &out));

	/* keep_stale 0: expired entries are gone, for get_stale too. */
	ck_assert(!cb_dircache_get_stale(cache, "alice", 1300, 100000, &out, NULL));

	cb_dircache_stats(cache, &st);
	ck_assert_int_eq(st.hits, 3);
	ck_assert_int_eq(st.inserts, 3);
	cb_dircache_free(cache);

	/* A TTL of 0 disables caching of that kind of answer. */
	cache = make_cache(10, 300, 0, 0);
	make_entry(&in, CB_DIR_NOT_FOUND, NULL);
	ck_assert(!cb_dircache_put(cache, "nobody", &in, 1000));
	ck_assert(!cb_dircache_get(cache, "nobody", 1000, &out));
	cb_dircache_free(cache);
}
END_TEST

START_TEST(test_cache_never_unavailable)
{
	cb_dircache_t *cache = make_cache(10, 300, 30, 3600);
	cb_dir_entry_t in, out;
	cb_dircache_stats_t st;

	make_entry(&in, CB_DIR_UNAVAILABLE, NULL);
	ck_assert(!cb_dircache_put(cache, "alice", &in, 1000));
	make_entry(&in, CB_DIR_NOT_FOUND, NULL);
	in.refused = true;
	ck_assert(!cb_dircache_put(cache, "twin", &in, 1000));
	ck_assert(!cb_dircache_get(cache, "alice", 1000, &out));
	ck_assert(!cb_dircache_get_stale(cache, "twin", 1000, 3600, &out, NULL));

	/* Keys: empty and over-long are refused. */
	{
		char longkey[CB_IDENTITY_MAX + 2];

		memset(longkey, 'a', sizeof(longkey) - 1);
		longkey[sizeof(longkey) - 1] = '\0';
		make_entry(&in, CB_DIR_FOUND, "uid=x");
		ck_assert(!cb_dircache_put(cache, longkey, &in, 1000));
		ck_assert(!cb_dircache_put(cache, "", &in, 1000));
		ck_assert(!cb_dircache_put(cache, NULL, &in, 1000));
	}
	cb_dircache_stats(cache, &st);
	ck_assert_int_eq(st.entries, 0);
	cb_dircache_free(cache);
}
END_TEST

START_TEST(test_cache_eviction)
{
	cb_dircache_t *cache = make_cache(3, 300, 30, 0);
	cb_dir_entry_t in, out;
	cb_dircache_stats_t st;

	make_entry(&in, CB_DIR_FOUND, "uid=a");
	ck_assert(cb_dircache_put(cache, "a", &in, 1000));
	ck_assert(cb_dircache_put(cache, "b", &in, 1001));
	ck_assert(cb_dircache_put(cache, "c", &in, 1002));
	ck_assert(cb_dircache_get(cache, "a", 1003, &out));	/* a is now the most recent; b the least. */
	ck_assert(cb_dircache_put(cache, "d", &in, 1004));
	ck_assert(!cb_dircache_get(cache, "b", 1005, &out));
	ck_assert(cb_dircache_get(cache, "a", 1005, &out));
	ck_assert(cb_dircache_get(cache, "c", 1005, &out));
	ck_assert(cb_dircache_get(cache, "d", 1005, &out));

	/* Replacing an entry does not evict anything. */
	make_entry(&in, CB_DIR_FOUND, "uid=a2");
	ck_assert(cb_dircache_put(cache, "a", &in, 1006));
	ck_assert(cb_dircache_get(cache, "a", 1006, &out));
	ck_assert_str_eq(out.dn, "uid=a2");
	ck_assert(cb_dircache_get(cache, "c", 1006, &out));
	ck_assert(cb_dircache_get(cache, "d", 1006, &out));

	cb_dircache_stats(cache, &st);
	ck_assert_int_eq(st.entries, 3);
	ck_assert_int_eq(st.evictions, 1);

	cb_dircache_remove(cache, "c");
	ck_assert(!cb_dircache_get(cache, "c", 1006, &out));
	cb_dircache_clear(cache);
	ck_assert(!cb_dircache_get(cache, "a", 1006, &out));
	cb_dircache_stats(cache, &st);
	ck_assert_int_eq(st.entries, 0);
	cb_dircache_free(cache);
	cb_dircache_free(NULL);
}
END_TEST

START_TEST(test_cache_stale)
{
	cb_dircache_t *cache = make_cache(10, 300, 30, 3600);
	cb_dir_entry_t in, out;
	time_t stored = 0;

	make_entry(&in, CB_DIR_FOUND, "uid=alice");
	in.facts.revoked = true;
	snprintf(in.revoked_reason, sizeof(in.revoked_reason), "lost device");
	in.facts.revoked_reason = in.revoked_reason;
	ck_assert(cb_dircache_put(cache, "alice", &in, 1000));

	/* The worked example in dircache.c. */
	ck_assert(cb_dircache_get(cache, "alice", 1299, &out));
	ck_assert(!cb_dircache_get(cache, "alice", 1300, &out));
	ck_assert(cb_dircache_get_stale(cache, "alice", 1300, 900, &out, &stored));
	ck_assert_int_eq(stored, 1000);
	ck_assert_str_eq(out.dn, "uid=alice");
	ck_assert_ptr_eq(out.facts.revoked_reason, out.revoked_reason);
	ck_assert_str_eq(out.facts.revoked_reason, "lost device");
	ck_assert(cb_dircache_get_stale(cache, "alice", 1899, 900, &out, NULL));
	ck_assert(!cb_dircache_get_stale(cache, "alice", 1900, 900, &out, NULL));
	ck_assert(cb_dircache_get_stale(cache, "alice", 4899, 100000, &out, NULL));
	ck_assert(!cb_dircache_get_stale(cache, "alice", 4900, 100000, &out, NULL));	/* Gone. */
	ck_assert(!cb_dircache_get_stale(cache, "alice", 1000, 100000, &out, NULL));
	cb_dircache_free(cache);
}
END_TEST

typedef struct {
	cb_dircache_t	*cache;
	int		id;
} worker_arg_t;

static void *cache_worker(void *p)
{
	worker_arg_t *arg = p;
	cb_dir_entry_t in, out;
	char key[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "user%d", (i * 7 + arg->id) % 150);
		make_entry(&in, (i % 3) ? CB_DIR_FOUND : CB_DIR_NOT_FOUND, key);
		if (i % 2) (void) cb_dircache_put(arg->cache, key, &in, 1000 + i / 100);
		else if (cb_dircache_get(arg->cache, key, 1000 + i / 100, &out) && out.facts.result == CB_DIR_FOUND &&
			 strcmp(out.dn, key) != 0) return (void *) 1;
		if (i % 1000 == 0) cb_dircache_remove(arg->cache, key);
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	cb_dircache_t *cache = make_cache(100, 5, 2, 10);
	pthread_t t[4];
	worker_arg_t args[4];
	cb_dircache_stats_t st;

	for (int i = 0; i < 4; i++) {
		args[i].cache = cache;
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, cache_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
	cb_dircache_stats(cache, &st);
	ck_assert_uint_le(st.entries, 100);
	cb_dircache_free(cache);
}
END_TEST

START_TEST(test_cache_conf)
{
	cb_dircache_conf_t conf = { .max_entries = 0, .found_ttl = 1 };
	char err[256];

	ck_assert_ptr_null(cb_dircache_create(&conf, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "max_entries"));
	conf.max_entries = CB_DIRCACHE_MAX_ENTRIES + 1;
	ck_assert_ptr_null(cb_dircache_create(&conf, err, sizeof(err)));
}
END_TEST

/* A directory answer goes through the cache unchanged. */
START_TEST(test_cache_directory_answer)
{
	cb_dircache_t *cache = make_cache(10, 300, 30, 0);
	cb_ldap_conf_t c;
	cb_dir_entry_t e, out;

	openldap_conf(&c);
	expect_found(&c, "pupil2", &e);
	ck_assert(cb_dircache_put(cache, "pupil2", &e, 1000));
	ck_assert(cb_dircache_get(cache, "pupil2", 1001, &out));
	ck_assert_int_eq(memcmp(&out.facts.role, &e.facts.role, sizeof(e.facts.role)), 0);
	ck_assert_str_eq(out.dn, e.dn);
	ck_assert(out.exception.present);
	ck_assert_int_eq(out.exception.until, e.exception.until);
	ck_assert_str_eq(out.exception.approved_by, e.exception.approved_by);
	ck_assert_int_eq(out.num_emails, e.num_emails);
	cb_dircache_free(cache);
}
END_TEST

START_TEST(test_schema_ldif)
{
	/* schema/ldap/cetbyod.ldif loads into a cn=config and slaptest accepts it. */
	ck_assert_int_eq(fixture("check-schema"), 0);
}
END_TEST

/*
 *	LeakSanitizer: libldap 2.5 built with GnuTLS never frees the client key
 *	and certificate it loads into a TLS context (tls_g.c, tlsg_ctx_init).
 *	ldap.c shares one context per TLS configuration, so this happens
 *	once per configuration, not per connection; it is not ours to fix.
 *	This program never calls GnuTLS itself, so a leak whose stack runs
 *	through GnuTLS is always that one.
 */
char const *__lsan_default_suppressions(void);
char const *__lsan_default_suppressions(void)
{
	/* Matched by library: the unwinder cannot walk through libldap's frames. */
	return "leak:libgnutls.so\n"
	       "leak:libtasn1.so\n";
}

static Suite *directory_suite(void)
{
	Suite *s = suite_create("directory");
	TCase *tc;

	tc = tcase_create("lookup");
	tcase_add_unchecked_fixture(tc, slapd_setup, slapd_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_conf_check);
	tcase_add_test(tc, test_filter_expand);
	tcase_add_test(tc, test_generalized_time);
	tcase_add_test(tc, test_staff);
	tcase_add_test(tc, test_disabled_ppolicy);
	tcase_add_test(tc, test_disabled_filter);
	tcase_add_test(tc, test_pupils);
	tcase_add_test(tc, test_other_and_revoked);
	tcase_add_test(tc, test_mail_normalised);
	tcase_add_test(tc, test_injection_escaped);
	tcase_add_test(tc, test_ambiguous);
	tcase_add_test(tc, test_hostile_values);
	tcase_add_test(tc, test_group_search_mode);
	tcase_add_test(tc, test_active_directory_style);
	tcase_add_test(tc, test_ldaps_and_ca_dir);
	tcase_add_test(tc, test_untrusted_certificate);
	tcase_add_test(tc, test_binds);
	tcase_add_test(tc, test_failover);
	tcase_add_test(tc, test_cache_directory_answer);
	tcase_add_test(tc, test_schema_ldif);
	tcase_add_test(tc, test_list_member_of);
	tcase_add_test(tc, test_list_search_mode);
	tcase_add_test(tc, test_list_ad_nested);
	tcase_add_test(tc, test_list_bad_values);
	tcase_add_test(tc, test_list_duplicates);
	tcase_add_test(tc, test_list_identity_attribute);
	tcase_add_test(tc, test_list_conf_check);
	tcase_add_test(tc, test_list_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("outage");
	tcase_add_unchecked_fixture(tc, slapd_setup, slapd_teardown);
	tcase_add_checked_fixture(tc, outage_reset, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pause_search_timeout);
	tcase_add_test(tc, test_stop_and_restart);
	tcase_add_test(tc, test_server_with_untrusted_certificate);
	tcase_add_test(tc, test_list_server_stops);
	tcase_add_test(tc, test_list_timeout);
	tcase_add_test(tc, test_list_server_size_limit);	/* Last: it adds 510 entries. */
	suite_add_tcase(s, tc);

	tc = tcase_create("facts");
	tcase_add_loop_test(tc, test_facts_table, 0, (int) (sizeof(facts_cases) / sizeof(facts_cases[0])));
	tcase_add_test(tc, test_facts_values);
	tcase_add_test(tc, test_facts_active_directory);
	tcase_add_test(tc, test_facts_hostile);
	tcase_add_test(tc, test_facts_huge);
	tcase_add_test(tc, test_dn_simple_is_normal);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cache_ttls);
	tcase_add_test(tc, test_cache_never_unavailable);
	tcase_add_test(tc, test_cache_eviction);
	tcase_add_test(tc, test_cache_stale);
	tcase_add_test(tc, test_cache_threads);
	tcase_add_test(tc, test_cache_conf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* libldap may write to a socket the server has closed (radiusd ignores SIGPIPE too). */
	signal(SIGPIPE, SIG_IGN);
	find_script();
	sr = srunner_create(directory_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* A server the test started that crashed fails it, also when it crashed as the last TCase stopped it. */
	if (teardown_stop_failures) fprintf(stderr, "test_directory: %d slapd stop(s) failed at teardown\n",
					    teardown_stop_failures);
	return failed || teardown_stop_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
