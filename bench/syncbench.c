/*
 * syncbench.c - one acknowledgement sync, timed and weighed, for the
 * cetbyod benchmarks (bench/run, figure 3).
 *
 * It runs exactly what the module's sync thread runs for a full sync,
 * through libcetbyod-core and nothing else: a Google source (Forms API or
 * Sheets API, here served by tests/google-emulator), one fetch() into a
 * builder (service-account token, every page over HTTPS, JSON parsing,
 * validation, one record per response), then cb_ack_builder_finish() (the
 * immutable index the request path reads).  It owns nothing beyond that
 * run; each run is a process of its own so that the peak memory it reports
 * belongs to that one sync.
 *
 * What it reports, on one line of key=value pairs for scripts:
 *   records    people in the index; agreed: whose latest record agrees
 *   wall_ms    fetch + parse + index, wall clock (what the target is about)
 *   fetch_ms   the fetch alone (token, HTTP, JSON, records into the builder)
 *   index_ms   cb_ack_builder_finish alone
 *   cpu_ms     this process's user + system CPU for the whole run; on a
 *              loaded machine wall_ms - cpu_ms is mostly waiting for the
 *              server (the emulator is Python and shares the cores)
 *   base_kb    resident memory before the fetch (libraries, TLS, ICU)
 *   peak_kb    peak resident memory of the process (getrusage ru_maxrss)
 *   index_kb   resident memory after the fetch's buffers were freed,
 *              minus base_kb: roughly what the index keeps
 * Exit status: 0 on success, 1 on a usage or set-up error, 2 when the
 * fetch failed or found a different number of people than --expect.
 *
 * Network: the base URL must be https on a loopback address; nothing else
 * is accepted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#include "base/clock.h"
#include "base/name.h"
#include "core/ack.h"
#include "sources/gsource.h"

typedef struct {
	unsigned long	warnings;
	unsigned long	shown;
} sb_log_t;

static void sb_log(void *uctx, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/** sb_log - warnings and errors to stderr (the first ten), the rest counted. */
static void sb_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	sb_log_t *l = uctx;
	va_list ap;

	if (level < CB_LOG_WARN) return;
	l->warnings++;
	if (l->shown >= 10) return;
	l->shown++;
	fputs("syncbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double mono_ms(void)
{
	struct timespec ts;

	cb_clock_mono(&ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/** rss_kb - VmRSS of this process from /proc, or 0 when unknown. */
static unsigned long rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;

	if (!fp) return 0;
	while (fgets(line, sizeof(line), fp)) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			char *end;

			kb = strtoul(line + 6, &end, 10);
			break;
		}
	}
	fclose(fp);
	return kb;
}

/** loopback_https - whether url is https://127.x.y.z[:port] or https://[::1][:port]. */
static int loopback_https(char const *url)
{
	char const *h;

	if (strncmp(url, "https://", 8) != 0) return 0;
	h = url + 8;
	if (strncmp(h, "[::1]", 5) == 0) return h[5] == '\0' || h[5] == ':' || h[5] == '/';
	if (strncmp(h, "127.", 4) != 0) return 0;
	for (h += 4; *h && *h != ':' && *h != '/'; h++) {
		if ((*h < '0' || *h > '9') && *h != '.') return 0;
	}
	return 1;
}

static int parse_u32(char const *opt, char const *arg, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v > max) {
		fprintf(stderr, "syncbench: %s \"%s\": expected a whole number from 0 to %lu\n", opt, arg, max);
		return -1;
	}
	*out = (uint32_t) v;
	return 0;
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: syncbench --source forms|sheets --url https://127.0.0.1:PORT --key SA.json --ca CA.pem\n"
		"                 --id FORM_OR_SPREADSHEET_ID --question TITLE [--agree VALUE]\n"
		"                 [--page-size N] [--rows N] [--expect N]\n"
		"  --question  the agreement question's title (forms) or column header (sheets)\n"
		"  --page-size responses per responses.list page (forms; default: the shipped 1000)\n"
		"  --rows      rows per values.get (sheets; default: the shipped 10000)\n"
		"  --expect    the number of people the index must hold\n");
}

typedef enum {
	SB_FORMS = 0,
	SB_SHEETS
} sb_source_t;

static cb_name_t const sb_sources[] = {
	{ "forms",	SB_FORMS },
	{ "sheets",	SB_SHEETS },
	{ NULL, -1 }
};

/* The command line. */
typedef struct {
	char const	*source, *url, *key, *ca, *id, *question, *agree;
	uint32_t	page_size, rows, expect;
	bool		have_expect;
} sb_opts_t;

/** parse_args - fill o from the command line.  *done: exit now with the status returned (usage, help). */
static int parse_args(int argc, char **argv, sb_opts_t *o, bool *done)
{
	static struct option const opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "question", required_argument, NULL, 'q' },
		{ "agree", required_argument, NULL, 'a' },
		{ "page-size", required_argument, NULL, 'p' },
		{ "rows", required_argument, NULL, 'r' },
		{ "expect", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	*done = true;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->source = optarg; break;
		case 'u': o->url = optarg; break;
		case 'k': o->key = optarg; break;
		case 'c': o->ca = optarg; break;
		case 'i': o->id = optarg; break;
		case 'q': o->question = optarg; break;
		case 'a': o->agree = optarg; break;
		case 'p': if (parse_u32("--page-size", optarg, 5000, &o->page_size) < 0) return 1; break;
		case 'r': if (parse_u32("--rows", optarg, 1000000, &o->rows) < 0) return 1; break;
		case 'e':
			if (parse_u32("--expect", optarg, 100000000, &o->expect) < 0) return 1;
			o->have_expect = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || !o->source || !o->url || !o->key || !o->ca || !o->id || !o->question) {
		usage(stderr);
		return 1;
	}
	if (!loopback_https(o->url)) {
		fprintf(stderr, "syncbench: --url %s: only https on a loopback address (the emulator) is allowed\n", o->url);
		return 1;
	}
	*done = false;
	return 0;
}

/** make_source - the Google source the options name, or NULL (explained on stderr). */
static cb_source_t *make_source(sb_opts_t const *o, sb_log_t *log)
{
	static char token_url[1024];	/* The token endpoint is on the emulator too. */
	char const *agree_v[] = { o->agree };
	cb_google_conf_t g = {
		.key_file = o->key, .forms_url = o->url, .sheets_url = o->url, .drive_url = o->url, .ca_file = o->ca,
		.connect_timeout_ms = 5000, .timeout_ms = 60000, .token_url = token_url,
	};
	cb_gsource_forms_conf_t f = {
		.form_id = o->id, .agreement_question = o->question, .agree_values = { agree_v, 1 },
		.page_size = o->page_size,
	};
	cb_gsource_sheets_conf_t sh = {
		.spreadsheet_id = o->id, .agreement_column = o->question, .agree_values = { agree_v, 1 },
		.rows_per_request = o->rows,
		.allow_unverified_email = true,		/* The bench measures reading the sheet, not the form check. */
	};
	cb_source_t *src = NULL;
	char err[1024] = "";
	int n = snprintf(token_url, sizeof(token_url), "%s/token", o->url);

	if (n < 0 || (size_t) n >= sizeof(token_url)) {
		fprintf(stderr, "syncbench: --url is too long\n");
		return NULL;
	}
	switch (cb_name_value(sb_sources, o->source, -1)) {
	case SB_FORMS:
		src = cb_gsource_forms_new(&f, &g, sb_log, log, err, sizeof(err));
		break;
	case SB_SHEETS:
		src = cb_gsource_sheets_new(&sh, &g, sb_log, log, err, sizeof(err));
		break;
	default:
		fprintf(stderr, "syncbench: --source \"%s\": accepted values are forms and sheets\n", o->source);
		return NULL;
	}
	if (!src) fprintf(stderr, "syncbench: cannot set up the %s source: %s\n", o->source, err);
	return src;
}

/** report - the figures of one run on stdout; 0, or 2 when the index is not the size expected. */
static int report(sb_opts_t const *o, cb_ack_index_t const *idx, sb_log_t const *log, double t0, double t1, double t2,
		  unsigned long base_kb)
{
	unsigned long after_kb = rss_kb();
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("syncbench source=%s records=%zu agreed=%zu warnings=%lu wall_ms=%.1f fetch_ms=%.1f index_ms=%.1f "
	       "cpu_ms=%.1f base_kb=%lu peak_kb=%ld index_kb=%ld\n",
	       o->source, cb_ack_index_count(idx), cb_ack_index_agreed(idx), log->warnings, t2 - t0, t1 - t0, t2 - t1,
	       (double) ru.ru_utime.tv_sec * 1e3 + (double) ru.ru_utime.tv_usec / 1e3 +
	       (double) ru.ru_stime.tv_sec * 1e3 + (double) ru.ru_stime.tv_usec / 1e3,
	       base_kb, ru.ru_maxrss, (long) after_kb - (long) base_kb);
	if (o->have_expect && cb_ack_index_count(idx) != o->expect) {
		fprintf(stderr, "syncbench: expected %" PRIu32 " people, the index holds %zu\n", o->expect,
			cb_ack_index_count(idx));
		return 2;
	}
	return 0;
}

/** run - one timed fetch and index build.  The exit status. */
static int run(sb_opts_t const *o, cb_source_t *src, sb_log_t const *log)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx;
	cb_source_result_t fr;
	unsigned int retry_after = 0;
	char err[1024] = "";
	unsigned long base_kb;
	double t0, t1, t2;
	int rc;

	if (!b) {
		fprintf(stderr, "syncbench: out of memory\n");
		return 1;
	}
	base_kb = rss_kb();
	t0 = mono_ms();
	fr = src->fetch(src, b, NULL, true, &retry_after, err, sizeof(err));
	t1 = mono_ms();
	if (fr != CB_FETCH_OK) {
		fprintf(stderr, "syncbench: fetch failed (%d): %s\n", (int) fr, err);
		cb_ack_builder_free(b);
		return 2;
	}
	idx = cb_ack_builder_finish(b, time(NULL));	/* Frees b in every case. */
	t2 = mono_ms();
	if (!idx) {
		fprintf(stderr, "syncbench: out of memory building the index\n");
		return 2;
	}
	rc = report(o, idx, log, t0, t1, t2, base_kb);
	cb_ack_index_unref(idx);
	return rc;
}

int main(int argc, char **argv)
{
	sb_opts_t o = { .agree = "I agree", .page_size = 1000, .rows = 10000 };
	sb_log_t log = { 0 };
	cb_source_t *src;
	bool done;
	int rc = parse_args(argc, argv, &o, &done);

	if (done) return rc;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		fprintf(stderr, "syncbench: curl_global_init failed\n");
		return 1;
	}
	src = make_source(&o, &log);
	rc = src ? run(&o, src, &log) : 1;
	if (src) src->free(src);
	curl_global_cleanup();
	return rc;
}
