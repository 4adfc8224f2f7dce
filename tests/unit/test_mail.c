/*
 * test_mail.c - reminder e-mail: templates, message building, the
 * configuration check, and real deliveries to tests/smtp/smtp-sink.py.
 *
 * The delivery tests run against four sinks on 127.0.0.1, started by an
 * unchecked fixture in the parent process and stopped by their PIDs in the
 * unchecked teardown (which runs even when tests fail, since each test runs
 * in a forked child; PR_SET_PDEATHSIG stops them if this program dies):
 *   plain     no TLS, AUTH PLAIN; refuses REFUSED_RCPT (550), delays BUSY_RCPT (450)
 *   login     no TLS, AUTH LOGIN only, MAIL before AUTH gets 530
 *   starttls  STARTTLS required before AUTH or MAIL, AUTH PLAIN and LOGIN
 *   smtps     TLS from the first byte
 * The certificates come from tests/google-emulator/mkcerts.sh, run into the
 * test's temporary directory, which is removed afterwards (MAILER_KEEP=1
 * keeps it).  Each test uses its own recipient address, by which it finds
 * its message among the sink's output files.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "people/mail.h"
#include "people/people.h"

#include "test_proc.h"
#include "test_tmp.h"

#define FROM		"it-support@school.example"
#define USER		"byod-mailer"
#define PASSWORD	"s3cret-Pa55word"
#define REFUSED_RCPT	"left.school@school.example"
#define BUSY_RCPT	"busy@school.example"

typedef struct {
	char const	*name;
	char const	*args[12];	/* Extra arguments; "@CERT@" / "@KEY@" are replaced. */
	pid_t		pid;
	int		port;
	char		outdir[600];
	char		url[64];
} sink_t;

static sink_t sinks[] = {
	{ .name = "plain", .args = { "--user", USER, "--password", PASSWORD, "--auth-mechs", "PLAIN",
				     "--reject-rcpt", REFUSED_RCPT, "--tempfail-rcpt", BUSY_RCPT } },
	{ .name = "login", .args = { "--user", USER, "--password", PASSWORD, "--auth-mechs", "LOGIN",
				     "--require-auth" } },
	{ .name = "starttls", .args = { "--user", USER, "--password", PASSWORD, "--tls-cert", "@CERT@",
					"--tls-key", "@KEY@", "--starttls", "--require-tls" } },
	{ .name = "smtps", .args = { "--tls-cert", "@CERT@", "--tls-key", "@KEY@", "--implicit-tls" } },
};
enum { SINK_PLAIN, SINK_LOGIN, SINK_STARTTLS, SINK_SMTPS, SINK_COUNT };

static char tmp_root[256];
static char sink_error[1024];
static char ca_pem[512], wrong_ca_pem[512];

/*
 *	Helpers
 */
static char const *srcdir(void)
{
	char const *s = getenv("srcdir");

	return s && *s ? s : ".";
}

static char *slurp(char const *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!fp) return NULL;
	buf = calloc(1, 1024 * 1024 + 1);
	n = buf ? fread(buf, 1, 1024 * 1024, fp) : 0;
	if (buf) buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void write_file(char const *path, char const *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	ck_assert_msg(fp != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*
 *	The sinks
 */
static int sink_start(sink_t *s)
{
	char script[1024], portfile[700], out[700], log[700], cert[512], key[512];
	char *argv[32];
	int argc = 0;

	snprintf(script, sizeof(script), "%s/tests/smtp/smtp-sink.py", srcdir());
	snprintf(s->outdir, sizeof(s->outdir), "%s/%s", tmp_root, s->name);
	snprintf(portfile, sizeof(portfile), "%s.port", s->outdir);
	snprintf(out, sizeof(out), "%s.out", s->outdir);
	snprintf(log, sizeof(log), "%s.log", s->outdir);
	snprintf(cert, sizeof(cert), "%s/certs/server.pem", tmp_root);
	snprintf(key, sizeof(key), "%s/certs/server.key", tmp_root);
	if (mkdir(s->outdir, 0700) != 0) return -1;

	argv[argc++] = "/usr/bin/python3";
	argv[argc++] = script;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--outdir";
	argv[argc++] = s->outdir;
	argv[argc++] = "--log";
	argv[argc++] = log;
	for (size_t i = 0; i < sizeof(s->args) / sizeof(s->args[0]) && s->args[i]; i++) {
		char const *a = s->args[i];

		argv[argc++] = strcmp(a, "@CERT@") == 0 ? cert : strcmp(a, "@KEY@") == 0 ? key : (char *) a;
	}
	argv[argc] = NULL;

	s->pid = test_spawn(argv, out);
	if (s->pid < 0) return -1;
	for (int i = 0; i < 200 && !s->port; i++) {		/* Up to 10 s. */
		char *text = slurp(portfile);

		if (text) {
			long port = strtol(text, NULL, 10);

			s->port = port > 0 && port < 65536 ? (int) port : 0;
			free(text);
		}
		if (!s->port && waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = -1;
			break;
		}
		if (!s->port) sleep_ms(50);
	}
	if (!s->port) return -1;
	snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", s - sinks == SINK_SMTPS ? "smtps" : "smtp", s->port);
	return 0;
}

static void sink_stop(sink_t *s)
{
	if (s->pid <= 0) return;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {				/* Up to 5 s, then KILL. */
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = -1;
			return;
		}
		sleep_ms(50);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = -1;
}

static void sinks_start(void)
{
	char const *tmp = getenv("TMPDIR");
	char script[1024], certs[300], out[512];

	for (int i = 0; i < SINK_COUNT; i++) sinks[i].pid = -1;
	snprintf(tmp_root, sizeof(tmp_root), "%s/cetbyod-mailer.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_root)) {
		snprintf(sink_error, sizeof(sink_error), "mkdtemp: %s", strerror(errno));
		tmp_root[0] = '\0';
		return;
	}
	if (access("/usr/bin/python3", X_OK) != 0) {
		snprintf(sink_error, sizeof(sink_error), "/usr/bin/python3 is missing");
		return;
	}
	snprintf(script, sizeof(script), "%s/tests/google-emulator/mkcerts.sh", srcdir());
	snprintf(certs, sizeof(certs), "%s/certs", tmp_root);
	snprintf(out, sizeof(out), "%s/mkcerts.out", tmp_root);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", certs);
	snprintf(wrong_ca_pem, sizeof(wrong_ca_pem), "%s/wrong-ca.pem", certs);
	{
		char *argv[] = { "/bin/sh", script, certs, NULL };

		if (test_run_wait(argv, out) != 0) {
			snprintf(sink_error, sizeof(sink_error), "mkcerts.sh failed (see %s)", out);
			return;
		}
	}
	for (int i = 0; i < SINK_COUNT; i++) {
		if (sink_start(&sinks[i]) < 0) {
			snprintf(sink_error, sizeof(sink_error), "the %s sink did not start (see %s.out)",
				 sinks[i].name, sinks[i].outdir);
			return;
		}
	}
}

static void sinks_stop(void)
{
	for (int i = 0; i < SINK_COUNT; i++) sink_stop(&sinks[i]);
	if (!tmp_root[0]) return;
	if (getenv("MAILER_KEEP")) fprintf(stderr, "test_mail: kept %s\n", tmp_root);
	else test_tmp_remove_tree(tmp_root);
}

static sink_t *sink(int which)
{
	ck_assert_msg(sinks[which].port > 0, "SMTP sink not running: %s", sink_error);
	return &sinks[which];
}

/* The envelope (parsed .json) of the message the sink got for rcpt, and its .eml; NULL when none. */
static json_object *delivery(sink_t const *s, char const *rcpt, char **eml)
{
	DIR *d = opendir(s->outdir);
	struct dirent *e;
	json_object *found = NULL;

	*eml = NULL;
	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d))) {
		char path[1024];
		char *text;
		json_object *o, *r, *name;
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json") != 0) continue;
		snprintf(path, sizeof(path), "%s/%s", s->outdir, e->d_name);
		text = slurp(path);
		o = text ? json_tokener_parse(text) : NULL;
		free(text);
		if (o && json_object_object_get_ex(o, "rcpt_to", &r) && json_object_array_length(r) == 1 &&
		    strcmp(json_object_get_string(json_object_array_get_idx(r, 0)), rcpt) == 0 &&
		    json_object_object_get_ex(o, "eml", &name)) {
			snprintf(path, sizeof(path), "%s/%s", s->outdir, json_object_get_string(name));
			*eml = slurp(path);
			found = o;
		} else {
			json_object_put(o);
		}
	}
	closedir(d);
	return found;
}

static char const *jstr(json_object *o, char const *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && !json_object_is_type(v, json_type_null) ?
	       json_object_get_string(v) : NULL;
}

static cb_mail_conf_t conf_for(sink_t const *s)
{
	return (cb_mail_conf_t) { .url = s->url, .from = FROM, .from_name = "School IT", .timeout_ms = 10000 };
}

static char *message(cb_mail_conf_t const *conf, char const *to, char const *body)
{
	char err[512];
	char *msg = cb_mail_build(conf, to, "BYOD policy reminder", body, time(NULL), err, sizeof(err));

	ck_assert_msg(msg != NULL, "cb_mail_build: %s", err);
	return msg;
}

/* Build and send one message; the result, with err filled. */
static int send_one(cb_mail_conf_t const *conf, char const *to, char *err, size_t errlen)
{
	char *msg = message(conf, to, "Hello.\n");
	int rc = cb_mail_send(conf, to, msg, err, errlen);

	free(msg);
	return rc;
}

/*
 *	Templates
 */
static cb_mail_var_t const vars[] = {
	{ "name", "Ada Lovelace" }, { "email", "ada@school.example" }, { "identity", "ada" },
	{ "expires", "2025-09-01" }, { "days", "14" }, { "form_url", "https://forms.example/ack" },
	{ "school", "St Mary's" }, { "empty", NULL },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int render(char const *tmpl, char **subject, char **body, char *err, size_t errlen)
{
	return cb_mail_render(tmpl, vars, NVARS, subject, body, err, errlen);
}

START_TEST(render_placeholders)
{
	char *subject, *body, err[512];

	ck_assert_int_eq(render("Subject:  Reminder for %{name} (%{days} days) \n\n"
				"Dear %{name} <%{email}>, %{identity}\n"
				"expires %{expires} at %{school}: %{form_url}%{empty}.\n",
				&subject, &body, err, sizeof(err)), 0);
	ck_assert_str_eq(subject, "Reminder for Ada Lovelace (14 days)");
	ck_assert_str_eq(body, "Dear Ada Lovelace <ada@school.example>, ada\n"
			       "expires 2025-09-01 at St Mary's: https://forms.example/ack.\n");
	free(subject);
	free(body);
}
END_TEST

START_TEST(render_percent)
{
	char *subject, *body, err[512];

	ck_assert_int_eq(render("Subject: 100%% done\n\n50% off, %%{name} is literal, %%%{days}%%, 100%\n",
				&subject, &body, err, sizeof(err)), 0);
	ck_assert_str_eq(subject, "100% done");
	ck_assert_str_eq(body, "50% off, %{name} is literal, %14%, 100%\n");
	free(subject);
	free(body);
}
END_TEST

START_TEST(render_crlf_template)
{
	char *subject, *body, err[512];

	ck_assert_int_eq(render("Subject: Hi %{name}\r\n\r\nline 1\r\nline 2\r\n", &subject, &body, err, sizeof(err)),
			 0);
	ck_assert_str_eq(subject, "Hi Ada Lovelace");
	ck_assert_str_eq(body, "line 1\nline 2\n");
	free(subject);
	free(body);
}
END_TEST

/* A template that must fail, with err containing each of the needles. */
static void render_fails(char const *tmpl, char const *needle1, char const *needle2)
{
	char *subject = (char *) 1, *body = (char *) 1, err[512] = "";

	ck_assert_int_eq(render(tmpl, &subject, &body, err, sizeof(err)), -1);
	ck_assert_ptr_null(subject);
	ck_assert_ptr_null(body);
	ck_assert_msg(strstr(err, needle1), "\"%s\" not in \"%s\"", needle1, err);
	if (needle2) ck_assert_msg(strstr(err, needle2), "\"%s\" not in \"%s\"", needle2, err);
}

START_TEST(render_errors)
{
	render_fails("Subject: Hi\n\nDear %{nmae},\n", "unknown placeholder %{nmae}", "line 3");
	render_fails("Subject: Hi\n\na\nb\n%{form-url}\n", "%{form-url}", "line 5");
	render_fails("Subject: Hi %{who}\n\nx\n", "%{who}", "line 1");
	render_fails("Subject: Hi\n\nDear %{name,\n", "line 3", "%%");
	render_fails("Subject: Hi\n\nDear %{}\n", "line 3", NULL);
	render_fails("Hello %{name}\n\nbody\n", "Subject", NULL);
	render_fails("", "Subject", NULL);
	render_fails("Subject: Hi\nbody starts at once\n", "line 2", NULL);
	render_fails("Subject: Hi", "line 2", NULL);
	render_fails("Subject:   \n\nbody\n", "Subject is empty", NULL);
	render_fails("Subject: %{empty}\n\nbody\n", "empty once filled in", NULL);
	render_fails("Subject: a\tb\n\nbody\n", "control character", NULL);
}
END_TEST

START_TEST(render_value_cannot_break_subject)
{
	cb_mail_var_t const bad[] = { { "name", "Ada\r\nBcc: everyone@school.example" } };
	char *subject, *body, err[512];

	ck_assert_int_eq(cb_mail_render("Subject: Hi %{name}\n\nx\n", bad, 1, &subject, &body, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "%{name}") && strstr(err, "Subject"), "%s", err);
	/* In the body a line break in a value is only text. */
	ck_assert_int_eq(cb_mail_render("Subject: Hi\n\n%{name}\n", bad, 1, &subject, &body, err, sizeof(err)), 0);
	free(subject);
	free(body);
}
END_TEST

START_TEST(template_load)
{
	char dir[96], path[128], *out, err[512];
	char *big;

	test_tmp_dir("cetbyod-mailer-tmpl", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/t", dir);

	write_file(path, "\xef\xbb\xbfSubject: caf\xc3\xa9\n\nbody\n", 24);
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "Subject: caf\xc3\xa9\n\nbody\n");		/* The BOM is gone. */
	free(out);

	write_file(path, "Subject: x\n\nbo\0dy\n", 18);
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), -1);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, "NUL") && strstr(err, "offset 14"), "%s", err);

	write_file(path, "Subject: caf\xe9\n\nbody\n", 20);			/* Latin-1. */
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "UTF-8") && strstr(err, "offset 12"), "%s", err);

	big = malloc(CB_MAIL_TEMPLATE_MAX + 1);
	memset(big, 'x', CB_MAIL_TEMPLATE_MAX + 1);
	write_file(path, big, CB_MAIL_TEMPLATE_MAX);
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), 0);
	free(out);
	write_file(path, big, CB_MAIL_TEMPLATE_MAX + 1);
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "larger than"), "%s", err);
	free(big);

	ck_assert_int_eq(cb_mail_template_load(dir, &out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
	unlink(path);
	ck_assert_int_eq(cb_mail_template_load(path, &out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot open") && strstr(err, path), "%s", err);
	rmdir(dir);
}
END_TEST

/*
 *	Messages
 */
static cb_mail_conf_t const base_conf = {
	.url = "smtp://mail.school.example:587", .from = FROM, .from_name = "School IT", .require_tls = true,
};

/* The unfolded value of header name in msg (caller frees), NULL when absent. */
static char *header(char const *msg, char const *name)
{
	char const *end = strstr(msg, "\r\n\r\n"), *p = msg;
	size_t nlen = strlen(name);

	ck_assert_ptr_nonnull(end);
	while (p < end) {
		char const *eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			char *out = calloc(1, (size_t) (end - p) + 1);
			size_t o = 0;

			p += nlen + 1;
			while (*p == ' ') p++;
			for (; p < end; p++) {
				if (p[0] == '\r' && p[1] == '\n') {
					if (p[2] != ' ' && p[2] != '\t') break;
					p++;		/* Unfold: drop CRLF, keep the blank. */
					continue;
				}
				out[o++] = *p;
			}
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Decode a header value made of RFC 2047 B words (with OpenSSL), checking each word's length. */
static char *decode_words(char const *value)
{
	char *out = calloc(1, strlen(value) + 1);
	size_t o = 0;
	char const *p = value;

	while (*p) {
		char const *start, *end;
		unsigned char dec[256];
		int n, pad = 0;

		while (*p == ' ') p++;
		ck_assert_msg(strncmp(p, "=?UTF-8?B?", 10) == 0, "not an encoded word: \"%s\"", p);
		start = p + 10;
		end = strstr(start, "?=");
		ck_assert_ptr_nonnull(end);
		ck_assert_msg(end + 2 - p <= 75, "encoded word longer than 75 characters");
		ck_assert_int_eq((end - start) % 4, 0);
		n = EVP_DecodeBlock(dec, (unsigned char const *) start, (int) (end - start));
		ck_assert_int_ge(n, 0);
		if (end - start >= 1 && end[-1] == '=') pad++;
		if (end - start >= 2 && end[-2] == '=') pad++;
		memcpy(out + o, dec, (size_t) (n - pad));
		o += (size_t) (n - pad);
		p = end + 2;
	}
	out[o] = '\0';
	return out;
}

START_TEST(build_headers_and_crlf)
{
	char err[512], *msg, *v;
	char const *body;

	msg = cb_mail_build(&base_conf, "ada@school.example", "BYOD reminder", "Dear Ada,\n.leading dot\n\nbye",
			    1700000000, err, sizeof(err));
	ck_assert_msg(msg != NULL, "%s", err);
	for (char const *p = msg; (p = strchr(p, '\n')); p++) ck_assert_msg(p > msg && p[-1] == '\r', "bare LF");
	for (char const *p = msg; (p = strchr(p, '\r')); p++) ck_assert_msg(p[1] == '\n', "bare CR");
	ck_assert_msg(strncmp(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0, "%s", msg);
	ck_assert_ptr_nonnull(strstr(msg, "\r\nFrom: \"School IT\" <" FROM ">\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTo: ada@school.example\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nSubject: BYOD reminder\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nContent-Transfer-Encoding: 7bit\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nAuto-Submitted: auto-generated\r\n"));
	v = header(msg, "Message-ID");
	ck_assert_ptr_nonnull(v);
	ck_assert_msg(strlen(v) == 1 + 32 + strlen("@school.example") + 1 && v[0] == '<' &&
		      strcmp(v + 33, "@school.example>") == 0, "Message-ID %s", v);
	free(v);
	body = strstr(msg, "\r\n\r\n") + 4;
	ck_assert_str_eq(body, "Dear Ada,\r\n.leading dot\r\n\r\nbye\r\n");
	free(msg);
}
END_TEST

START_TEST(build_message_ids_differ)
{
	char err[512], *a, *b, *ida, *idb;

	a = cb_mail_build(&base_conf, "ada@school.example", "x", "y\n", 1700000000, err, sizeof(err));
	b = cb_mail_build(&base_conf, "ada@school.example", "x", "y\n", 1700000000, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ida = header(a, "Message-ID");
	idb = header(b, "Message-ID");
	ck_assert_str_ne(ida, idb);
	free(ida);
	free(idb);
	free(a);
	free(b);
}
END_TEST

START_TEST(build_rfc2047_round_trip)
{
	static char const subject[] = "Rappel : politique « Apportez votre appareil » — réponse attendue "
				      "d'ici 30 jours ✓ 日本語テキスト";
	static char const name[] = "Équipe informatique de l'école";
	cb_mail_conf_t conf = base_conf;
	char err[512], *msg, *v, *dec;

	conf.from_name = name;
	msg = cb_mail_build(&conf, "ada@school.example", subject, "Café\n", 1700000000, err, sizeof(err));
	ck_assert_msg(msg != NULL, "%s", err);

	/* No header line longer than 78 characters, and none but ASCII in the header. */
	for (char const *p = msg, *end = strstr(msg, "\r\n\r\n"); p < end; p = strstr(p, "\r\n") + 2) {
		ck_assert_msg(strstr(p, "\r\n") - p <= 78, "long header line: %.100s", p);
	}
	for (char const *p = msg; p < strstr(msg, "\r\n\r\n"); p++) ck_assert_int_lt((unsigned char) *p, 0x80);

	v = header(msg, "Subject");
	dec = decode_words(v);
	ck_assert_str_eq(dec, subject);
	free(dec);
	free(v);

	v = header(msg, "From");
	ck_assert_msg(strlen(v) > strlen(" <" FROM ">") &&
		      strcmp(v + strlen(v) - strlen(" <" FROM ">"), " <" FROM ">") == 0, "From: %s", v);
	v[strlen(v) - strlen(" <" FROM ">")] = '\0';
	dec = decode_words(v);
	ck_assert_str_eq(dec, name);
	free(dec);
	free(v);

	ck_assert_ptr_nonnull(strstr(msg, "\r\nContent-Transfer-Encoding: 8bit\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\n\r\nCaf\xc3\xa9\r\n"));
	free(msg);
}
END_TEST

START_TEST(build_ascii_that_needs_encoding)
{
	char err[512], *msg, *v, *dec;
	cb_mail_conf_t conf = base_conf;

	conf.from_name = "O\"Brien \\ IT";
	msg = cb_mail_build(&conf, "ada@school.example", "looks like =?UTF-8?B?eA==?= a word", "x", 1700000000, err,
			    sizeof(err));
	ck_assert_ptr_nonnull(msg);
	v = header(msg, "Subject");
	dec = decode_words(v);
	ck_assert_str_eq(dec, "looks like =?UTF-8?B?eA==?= a word");
	free(dec);
	free(v);
	ck_assert_ptr_nonnull(strstr(msg, "\r\nFrom: \"O\\\"Brien \\\\ IT\" <" FROM ">\r\n"));
	free(msg);
}
END_TEST

/* Which window a lapse falls in: the smallest that holds it; none once it has passed. */
START_TEST(reminder_windows)
{
	unsigned int const w[] = { 30, 7, 1 };
	time_t const now = 1700000000, day = 86400;

	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 40 * day, now), 0);
	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 30 * day, now), 30);	/* Exactly 30 days: in it. */
	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 20 * day, now), 30);
	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 7 * day + 1, now), 30);
	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 5 * day, now), 7);
	ck_assert_uint_eq(cb_reminder_window(w, 3, now + 3600, now), 1);
	ck_assert_uint_eq(cb_reminder_window(w, 3, now, now), 0);		/* Lapsed: no reminder. */
	ck_assert_uint_eq(cb_reminder_window(w, 3, now - day, now), 0);
	ck_assert_uint_eq(cb_reminder_window(w, 0, now + day, now), 0);
}
END_TEST

/* A long ASCII subject is folded at its spaces (readable in any mail client), not encoded. */
START_TEST(build_folds_long_ascii_subject)
{
	static char const subject[] = "Wi-Fi: please renew your BYOD acknowledgement by Thursday 3 December 2026, "
				      "16:06 (it lapses then)";
	char err[512], *msg, unfolded[256];
	char const *p, *end;
	size_t o = 0, lines = 0;

	msg = cb_mail_build(&base_conf, "ada@school.example", subject, "x\n", 1700000000, err, sizeof(err));
	ck_assert_msg(msg != NULL, "%s", err);
	ck_assert_ptr_null(strstr(msg, "=?"));
	p = strstr(msg, "\r\nSubject: ") + 11;
	for (;;) {
		end = strstr(p, "\r\n");
		ck_assert_msg(end - p + (lines ? 0 : 9) <= 78, "line longer than 78: %.*s", (int) (end - p), p);
		memcpy(unfolded + o, p, (size_t) (end - p));
		o += (size_t) (end - p);
		lines++;
		if (end[2] != ' ') break;
		p = end + 2;		/* The continuation line starts with the space. */
	}
	unfolded[o] = '\0';
	ck_assert_uint_ge(lines, 2);
	ck_assert_str_eq(unfolded, subject);
	free(msg);
}
END_TEST

/* cb_mail_build must refuse, with err containing needle. */
static void build_fails(cb_mail_conf_t const *conf, char const *to, char const *subject, char const *body,
			char const *needle)
{
	char err[512] = "";
	char *msg = cb_mail_build(conf, to, subject, body, 1700000000, err, sizeof(err));

	ck_assert_msg(msg == NULL, "built a message for to=%s subject=%s", to, subject);
	ck_assert_msg(strstr(err, needle), "\"%s\" not in \"%s\"", needle, err);
}

START_TEST(build_refuses_injection)
{
	cb_mail_conf_t conf = base_conf;
	char *line;

	build_fails(&conf, "ada@school.example", "Hi\r\nBcc: all@school.example", "x", "Subject");
	build_fails(&conf, "ada@school.example", "Hi\nBcc: all@school.example", "x", "Subject");
	build_fails(&conf, "ada@school.example", "Hi\tthere", "x", "Subject");
	build_fails(&conf, "ada@school.example", "Hi \xc2\x85 NEL", "x", "Subject");	/* C1 control. */
	build_fails(&conf, "ada@school.example", "caf\xe9", "x", "Subject");		/* Not UTF-8. */
	build_fails(&conf, "ada@school.example", "", "x", "Subject");
	build_fails(&conf, "ada@school.example\r\nRCPT TO:<all@school.example>", "Hi", "x", "recipient");
	build_fails(&conf, "Ada <ada@school.example>", "Hi", "x", "plain e-mail address");
	build_fails(&conf, "ada@school.example, eve@evil.example", "Hi", "x", "recipient");
	build_fails(&conf, "\"ada\"@school.example", "Hi", "x", "recipient");
	build_fails(&conf, "ada@school.example>", "Hi", "x", "recipient");
	build_fails(&conf, "ada", "Hi", "x", "recipient");
	build_fails(&conf, "ad\xc3\xa9@school.example", "Hi", "x", "recipient");
	build_fails(&conf, "ada@school.example", "Hi", "one\rtwo\n", "carriage return");
	conf.from_name = "IT\r\nBcc: all@school.example";
	build_fails(&conf, "ada@school.example", "Hi", "x", "from_name");
	conf = base_conf;
	conf.from = "it@school.example\r\nX: y";
	build_fails(&conf, "ada@school.example", "Hi", "x", "reminders { from }");

	/* 998 octets per line are allowed, 999 are not. */
	line = malloc(1001);
	memset(line, 'a', 999);
	line[999] = '\n';
	line[1000] = '\0';
	build_fails(&base_conf, "ada@school.example", "Hi", line, "998");
	line[998] = '\n';
	line[999] = '\0';
	{
		char err[512], *msg = cb_mail_build(&base_conf, "ada@school.example", "Hi", line, 0, err, sizeof(err));

		ck_assert_msg(msg != NULL, "%s", err);
		free(msg);
	}
	free(line);
}
END_TEST

/*
 *	Addresses and configuration
 */
START_TEST(address_check)
{
	static char const *const good[] = {
		"ada@school.example", "a.b+c_d-e@sub.school.example", "o'brien@school.example", "x@localhost",
		"it@[192.0.2.1]", "A@B.C", "!#$%&'*+-/=?^_`{|}~@x.example",
	};
	static char const *const bad[] = {
		"", "ada", "@school.example", "ada@", "ada@@school.example", "a@b@school.example", ".ada@x.example",
		"ada.@x.example", "a..b@x.example", "ada@-x.example", "ada@x-.example", "ada@x..example",
		"ada@x.example.", "ada @x.example", "ada@x_y.example", "\"ada\"@x.example", "<ada@x.example>",
		"ada@[192.0.2.256]", "ada@[01.2.3.4]", "ada@[1.2.3]", "ada(comment)@x.example", "ad\xc3\xa9@x.example",
	};
	char err[512], longaddr[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(cb_mail_address_check(good[i], err, sizeof(err)) == 0, "%s: %s", good[i], err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cb_mail_address_check(bad[i], err, sizeof(err)) == -1, "accepted %s", bad[i]);
	}
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + 64, "@", 1);
	for (size_t i = 65; i < 255; i += 10) longaddr[i] = '.';
	longaddr[255] = '\0';
	ck_assert_int_eq(cb_mail_address_check(longaddr, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "longer than"), "%s", err);
}
END_TEST

/* cb_mail_conf_check must refuse conf, with err containing needle and not containing hidden. */
static void conf_fails(cb_mail_conf_t const *conf, char const *needle, char const *hidden)
{
	char err[512] = "";

	ck_assert_int_eq(cb_mail_conf_check(conf, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, needle), "\"%s\" not in \"%s\"", needle, err);
	if (hidden) ck_assert_msg(!strstr(err, hidden), "\"%s\" leaked into \"%s\"", hidden, err);
}

START_TEST(conf_check)
{
	cb_mail_conf_t c = base_conf;
	char err[512];

	ck_assert_msg(cb_mail_conf_check(&c, err, sizeof(err)) == 0, "%s", err);
	c.username = USER;
	c.password = PASSWORD;
	ck_assert_msg(cb_mail_conf_check(&c, err, sizeof(err)) == 0, "%s", err);

	c = base_conf;
	c.url = NULL;
	conf_fails(&c, "smtp_url } is not set", NULL);
	c.url = "https://mail.school.example/";
	conf_fails(&c, "must start with smtp://", NULL);
	c.url = "mail.school.example:587";
	conf_fails(&c, "smtp_url", NULL);
	c.url = "smtp://byod:" PASSWORD "@mail.school.example:587";
	conf_fails(&c, "smtp_username and smtp_password instead", PASSWORD);
	c.url = "smtp://mail.school.example:587/?x=1";
	conf_fails(&c, "query", NULL);
	c.url = "smtps://mail.school.example:465";
	ck_assert_msg(cb_mail_conf_check(&c, err, sizeof(err)) == 0, "%s", err);

	c = base_conf;
	c.from = NULL;
	conf_fails(&c, "reminders { from } is not set", NULL);
	c.from = "School IT <it@school.example>";
	conf_fails(&c, "reminders { from }", NULL);
	c = base_conf;
	c.from_name = "IT\nBcc: x@y.example";
	conf_fails(&c, "from_name", NULL);

	c = base_conf;
	c.username = USER;
	conf_fails(&c, "smtp_password", NULL);
	c.username = NULL;
	c.password = PASSWORD;
	conf_fails(&c, "smtp_username", PASSWORD);
	c.username = USER;
	c.require_tls = false;					/* smtp://, no STARTTLS, not loopback. */
	conf_fails(&c, "in clear", PASSWORD);
	c.url = "smtp://127.0.0.1:2525";			/* Loopback: allowed. */
	ck_assert_msg(cb_mail_conf_check(&c, err, sizeof(err)) == 0, "%s", err);

	c = base_conf;
	c.ca_file = "/nonexistent/ca.pem";
	conf_fails(&c, "ca_file", NULL);
	c = base_conf;
	c.timeout_ms = CB_MAIL_MAX_TIMEOUT_MS + 1;
	conf_fails(&c, "timeout", NULL);
}
END_TEST

/*
 *	Deliveries
 */
START_TEST(send_plain)
{
	sink_t *s = sink(SINK_PLAIN);
	cb_mail_conf_t conf = conf_for(s);
	char err[512], *msg, *eml;
	json_object *env;

	/* Lines with leading dots: libcurl stuffs them, the sink unstuffs them. */
	msg = message(&conf, "plain@school.example", "Dear Ada,\n.\n..two dots\n. one\n\nThanks.\n");
	ck_assert_msg(cb_mail_send(&conf, "plain@school.example", msg, err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
	env = delivery(s, "plain@school.example", &eml);
	ck_assert_ptr_nonnull(env);
	ck_assert_str_eq(jstr(env, "mail_from"), FROM);
	ck_assert_ptr_null(jstr(env, "auth_user"));
	ck_assert_ptr_nonnull(eml);
	ck_assert_str_eq(eml, msg);
	json_object_put(env);
	free(eml);
	free(msg);
}
END_TEST

START_TEST(send_auth)
{
	cb_mail_conf_t conf = conf_for(sink(SINK_PLAIN));
	char err[512], *eml;
	json_object *env;

	conf.username = USER;
	conf.password = PASSWORD;
	ck_assert_msg(send_one(&conf, "auth-plain@school.example", err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
	env = delivery(&sinks[SINK_PLAIN], "auth-plain@school.example", &eml);
	ck_assert_ptr_nonnull(env);
	ck_assert_str_eq(jstr(env, "auth_user"), USER);
	json_object_put(env);
	free(eml);

	conf = conf_for(sink(SINK_LOGIN));
	conf.username = USER;
	conf.password = PASSWORD;
	ck_assert_msg(send_one(&conf, "auth-login@school.example", err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
	env = delivery(&sinks[SINK_LOGIN], "auth-login@school.example", &eml);
	ck_assert_ptr_nonnull(env);
	ck_assert_str_eq(jstr(env, "auth_user"), USER);
	json_object_put(env);
	free(eml);
}
END_TEST

START_TEST(send_auth_refused)
{
	for (int which = SINK_PLAIN; which <= SINK_LOGIN; which++) {
		cb_mail_conf_t conf = conf_for(sink(which));
		char err[512], *eml;

		conf.username = USER;
		conf.password = "wrong-" PASSWORD;
		ck_assert_int_eq(send_one(&conf, "auth-bad@school.example", err, sizeof(err)), CB_MAIL_FAILED);
		ck_assert_msg(strstr(err, "refused the login for user \"" USER "\"") && strstr(err, "535 5.7.8") &&
			      strstr(err, "smtp_password") && strstr(err, conf.url), "%s", err);
		ck_assert_msg(!strstr(err, PASSWORD), "password in \"%s\"", err);
		ck_assert_ptr_null(delivery(&sinks[which], "auth-bad@school.example", &eml));
	}
}
END_TEST

START_TEST(send_auth_required)
{
	cb_mail_conf_t conf = conf_for(sink(SINK_LOGIN));
	char err[512];

	ck_assert_int_eq(send_one(&conf, "noauth@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(strstr(err, "refused the sender <" FROM ">") && strstr(err, "530") &&
		      strstr(err, "smtp_username"), "%s", err);
}
END_TEST

START_TEST(send_recipient_refused)
{
	cb_mail_conf_t conf = conf_for(sink(SINK_PLAIN));
	char err[512];

	ck_assert_int_eq(send_one(&conf, REFUSED_RCPT, err, sizeof(err)), CB_MAIL_RCPT_REFUSED);
	ck_assert_msg(strstr(err, "permanently refused the recipient <" REFUSED_RCPT ">") && strstr(err, "550 5.1.1"),
		      "%s", err);
	ck_assert_int_eq(send_one(&conf, BUSY_RCPT, err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(strstr(err, "temporarily refused the recipient") && strstr(err, "450"), "%s", err);
	/* The refusals concerned those recipients only: the next message goes through. */
	ck_assert_msg(send_one(&conf, "after-refusal@school.example", err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
}
END_TEST

/* A loopback port with nothing listening (bound, then closed), or one that listens and never answers. */
static int loopback_port(bool keep_listening, int *fd_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &alen), 0);
	if (keep_listening) {
		ck_assert_int_eq(listen(fd, 4), 0);
		*fd_out = fd;
	} else {
		close(fd);
	}
	return ntohs(a.sin_port);
}

START_TEST(send_not_listening)
{
	cb_mail_conf_t conf = base_conf;
	char url[64], err[512];
	double t0;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", loopback_port(false, NULL));
	conf.url = url;
	conf.require_tls = false;
	t0 = now_s();
	ck_assert_int_eq(send_one(&conf, "nobody@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(now_s() - t0 < 2.0, "took %.1f s", now_s() - t0);
	ck_assert_msg(strstr(err, "cannot connect to ") && strstr(err, url) && strstr(err, "smtp_url"), "%s", err);
}
END_TEST

START_TEST(send_silent_server_times_out)
{
	cb_mail_conf_t conf = base_conf;
	char url[64], err[512];
	double t0;
	int fd = -1;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", loopback_port(true, &fd));
	conf.url = url;
	conf.require_tls = false;
	conf.timeout_ms = 700;
	t0 = now_s();
	ck_assert_int_eq(send_one(&conf, "nobody@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(now_s() - t0 < 3.0, "took %.1f s", now_s() - t0);
	ck_assert_msg(strstr(err, "sent no greeting within reminders { timeout } (700 ms)"), "%s", err);
	close(fd);
}
END_TEST

START_TEST(send_starttls)
{
	sink_t *s = sink(SINK_STARTTLS);
	cb_mail_conf_t conf = conf_for(s);
	char err[512], *eml;
	json_object *env;

	conf.require_tls = true;
	conf.ca_file = ca_pem;
	conf.username = USER;
	conf.password = PASSWORD;
	ck_assert_msg(send_one(&conf, "starttls@school.example", err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
	env = delivery(s, "starttls@school.example", &eml);
	ck_assert_ptr_nonnull(env);
	ck_assert_str_eq(jstr(env, "tls"), "true");
	ck_assert_str_eq(jstr(env, "auth_user"), USER);
	json_object_put(env);
	free(eml);

	/* Opportunistic STARTTLS (require_tls = no) still verifies the certificate. */
	conf.require_tls = false;
	conf.ca_file = wrong_ca_pem;
	ck_assert_int_eq(send_one(&conf, "starttls-wrong-ca@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(strstr(err, "TLS with SMTP server") && strstr(err, "ca_file"), "%s", err);
}
END_TEST

START_TEST(send_require_tls_without_starttls)
{
	cb_mail_conf_t conf = conf_for(sink(SINK_PLAIN));
	char err[512], *eml;

	conf.require_tls = true;
	ck_assert_int_eq(send_one(&conf, "needs-tls@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(strstr(err, "does not offer STARTTLS") && strstr(err, "require_tls"), "%s", err);
	ck_assert_ptr_null(delivery(&sinks[SINK_PLAIN], "needs-tls@school.example", &eml));
}
END_TEST

START_TEST(send_smtps)
{
	sink_t *s = sink(SINK_SMTPS);
	cb_mail_conf_t conf = conf_for(s);
	char err[512], *eml;
	json_object *env;

	conf.ca_file = ca_pem;
	ck_assert_msg(send_one(&conf, "smtps@school.example", err, sizeof(err)) == CB_MAIL_SENT, "%s", err);
	env = delivery(s, "smtps@school.example", &eml);
	ck_assert_ptr_nonnull(env);
	ck_assert_str_eq(jstr(env, "tls"), "true");
	json_object_put(env);
	free(eml);

	conf.ca_file = wrong_ca_pem;
	ck_assert_int_eq(send_one(&conf, "smtps-wrong-ca@school.example", err, sizeof(err)), CB_MAIL_FAILED);
	ck_assert_msg(strstr(err, "TLS with SMTP server") && strstr(err, "ca_file"), "%s", err);
	ck_assert_ptr_null(delivery(s, "smtps-wrong-ca@school.example", &eml));
}
END_TEST

static Suite *mailer_suite(void)
{
	Suite *s = suite_create("mailer");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, render_placeholders);
	tcase_add_test(tc, render_percent);
	tcase_add_test(tc, render_crlf_template);
	tcase_add_test(tc, render_errors);
	tcase_add_test(tc, render_value_cannot_break_subject);
	tcase_add_test(tc, template_load);
	tcase_add_test(tc, build_headers_and_crlf);
	tcase_add_test(tc, build_message_ids_differ);
	tcase_add_test(tc, build_rfc2047_round_trip);
	tcase_add_test(tc, build_ascii_that_needs_encoding);
	tcase_add_test(tc, build_folds_long_ascii_subject);
	tcase_add_test(tc, reminder_windows);
	tcase_add_test(tc, build_refuses_injection);
	tcase_add_test(tc, address_check);
	tcase_add_test(tc, conf_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("smtp");
	tcase_add_unchecked_fixture(tc, sinks_start, sinks_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, send_plain);
	tcase_add_test(tc, send_auth);
	tcase_add_test(tc, send_auth_refused);
	tcase_add_test(tc, send_auth_required);
	tcase_add_test(tc, send_recipient_refused);
	tcase_add_test(tc, send_not_listening);
	tcase_add_test(tc, send_silent_server_times_out);
	tcase_add_test(tc, send_starttls);
	tcase_add_test(tc, send_require_tls_without_starttls);
	tcase_add_test(tc, send_smtps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	sr = srunner_create(mailer_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
