/*
 * fuzz_reminder_template.c - libFuzzer target: the reminder template of
 * lib/people/mail.h, the file an admin writes
 * (raddb/mods-config/cetbyod/reminder.txt), from file to message.
 *
 * The input is the template file.  It is written into a fresh mkdtemp
 * directory and read back with cb_mail_template_load() (size, NUL and
 * UTF-8 checks, BOM); what the loader refuses is still rendered as a C
 * string, since cb_mail_render() takes any string.  A rendered template
 * is filled in with fixed values (as lib/people/people.c names them, one
 * non-ASCII so the Subject may need RFC 2047) and wrapped by
 * cb_mail_build() at a fixed time.  The stated contracts are checked and
 * abort() when broken: a rendered subject is one non-empty line; a built
 * message has CRLF line ends only, no line over CB_MAIL_LINE_MAX octets,
 * and ends in CRLF.
 *
 * State: none kept between inputs; the directory is removed before
 * returning.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "people/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cb_mail_var_t const vars[] = {
	{ "name", "Zoë Ångström-Ødegård" },
	{ "identity", "zoe.angstrom" },
	{ "email", "zoe.angstrom@school.example" },
	{ "expires", "Tuesday 24 November 2026" },
	{ "days", "14" },
	{ "window", NULL },
	{ "form_url", "https://docs.google.com/forms/d/e/1FAIpQLSf-example/viewform" },
	{ "school", "St Example's School" },
};

static cb_mail_conf_t const conf = {
	.url = "smtp://127.0.0.1:25",
	.from = "byod@school.example",
	.from_name = "École IT — Wi-Fi",
};

/* The template as cb_mail_template_load() reads it from a file, or NULL when it refuses it. */
static char *load(uint8_t const *data, size_t size)
{
	char dir[] = "/tmp/fuzz_reminder_template.XXXXXX", path[sizeof(dir) + 16], err[512];
	char *tmpl = NULL;
	FILE *fp;

	if (!mkdtemp(dir)) abort();
	snprintf(path, sizeof(path), "%s/reminder.txt", dir);
	fp = fopen(path, "we");
	if (!fp) abort();
	if (size && fwrite(data, 1, size, fp) != size) abort();
	if (fclose(fp) != 0) abort();
	if (cb_mail_template_load(path, &tmpl, err, sizeof(err)) < 0) tmpl = NULL;
	unlink(path);
	rmdir(dir);
	return tmpl;
}

/* A built message must hold CRLF line ends only, lines of at most CB_MAIL_LINE_MAX octets, and end in CRLF. */
static void check_message(char const *msg)
{
	size_t col = 0, len = strlen(msg);

	if (len < 2 || memcmp(msg + len - 2, "\r\n", 2) != 0) abort();
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			if (msg[i + 1] != '\n') abort();
			i++;
			col = 0;
		} else if (msg[i] == '\n') {
			abort();
		} else if (++col > CB_MAIL_LINE_MAX) {
			abort();
		}
	}
}

static void render_and_build(char const *tmpl)
{
	char *subject, *body, *msg, err[1024] = "";

	if (cb_mail_render(tmpl, vars, sizeof(vars) / sizeof(vars[0]), &subject, &body, err, sizeof(err)) < 0) {
		if (subject || body || !err[0]) abort();
		return;
	}
	if (!subject || !body || !subject[0] || strpbrk(subject, "\r\n")) abort();
	msg = cb_mail_build(&conf, "zoe.angstrom@school.example", subject, body, 1795000000, err, sizeof(err));
	if (msg) check_message(msg);
	free(msg);
	free(subject);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tmpl;

	if (size > CB_MAIL_TEMPLATE_MAX + 1) return 0;	/* The loader refuses more. */
	tmpl = load(data, size);
	if (!tmpl) {
		tmpl = malloc(size + 1);			/* Refused by the loader: render the bytes anyway. */
		if (!tmpl) return 0;
		memcpy(tmpl, data, size);
		tmpl[size] = '\0';
	}
	render_and_build(tmpl);
	free(tmpl);
	return 0;
}
