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

	clock_gettime(CLOCK_MONOTONIC, &ts);
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

int main(int argc, char **argv)
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
	char const *source = NULL, *url = NULL, *key = NULL, *ca = NULL, *id = NULL, *question = NULL;
	char const *agree = "I agree";
	uint32_t page_size = 1000, rows = 10000, expect = 0;
	bool have_expect = false;
	char err[1024] = "";
	sb_log_t log = { 0 };
	cb_google_conf_t g;
	cb_source_t *src = NULL;
	cb_ack_builder_t *b = NULL;
	cb_ack_index_t *idx = NULL;
	cb_source_result_t fr;
	unsigned int retry_after = 0;
	double t0, t1, t2;
	unsigned long base_kb, after_kb;
	struct rusage ru;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': source = optarg; break;
		case 'u': url = optarg; break;
		case 'k': key = optarg; break;
		case 'c': ca = optarg; break;
		case 'i': id = optarg; break;
		case 'q': question = optarg; break;
		case 'a': agree = optarg; break;
		case 'p': if (parse_u32("--page-size", optarg, 5000, &page_size) < 0) return 1; break;
		case 'r': if (parse_u32("--rows", optarg, 1000000, &rows) < 0) return 1; break;
		case 'e':
			if (parse_u32("--expect", optarg, 100000000, &expect) < 0) return 1;
			have_expect = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || !source || !url || !key || !ca || !id || !question) {
		usage(stderr);
		return 1;
	}
	if (!loopback_https(url)) {
		fprintf(stderr, "syncbench: --url %s: only https on a loopback address (the emulator) is allowed\n", url);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		fprintf(stderr, "syncbench: curl_global_init failed\n");
		return 1;
	}

	memset(&g, 0, sizeof(g));
	g.key_file = key;
	g.token_url = NULL;
	g.forms_url = url;
	g.sheets_url = url;
	g.drive_url = url;
	g.ca_file = ca;
	g.connect_timeout_ms = 5000;
	g.timeout_ms = 60000;
	{
		/* The token endpoint is on the emulator too. */
		static char token_url[1024];
		int n = snprintf(token_url, sizeof(token_url), "%s/token", url);

		if (n < 0 || (size_t) n >= sizeof(token_url)) {
			fprintf(stderr, "syncbench: --url is too long\n");
			goto done;
		}
		g.token_url = token_url;
	}

	if (strcmp(source, "forms") == 0) {
		char const *agree_v[] = { agree };
		cb_gsource_forms_conf_t f = {
			.form_id = id, .agreement_question = question, .agree_values = { agree_v, 1 },
			.page_size = page_size,
		};

		src = cb_gsource_forms_new(&f, &g, sb_log, &log, err, sizeof(err));
	} else if (strcmp(source, "sheets") == 0) {
		char const *agree_v[] = { agree };
		cb_gsource_sheets_conf_t s = {
			.spreadsheet_id = id, .agreement_column = question, .agree_values = { agree_v, 1 },
			.rows_per_request = rows,
		};

		src = cb_gsource_sheets_new(&s, &g, sb_log, &log, err, sizeof(err));
	} else {
		fprintf(stderr, "syncbench: --source \"%s\": accepted values are forms and sheets\n", source);
		goto done;
	}
	if (!src) {
		fprintf(stderr, "syncbench: cannot set up the %s source: %s\n", source, err);
		goto done;
	}
	b = cb_ack_builder_new();
	if (!b) {
		fprintf(stderr, "syncbench: out of memory\n");
		goto done;
	}

	base_kb = rss_kb();
	t0 = mono_ms();
	fr = src->fetch(src, b, NULL, true, &retry_after, err, sizeof(err));
	t1 = mono_ms();
	if (fr != CB_FETCH_OK) {
		fprintf(stderr, "syncbench: fetch failed (%d): %s\n", (int) fr, err);
		rc = 2;
		goto done;
	}
	idx = cb_ack_builder_finish(b, time(NULL));
	b = NULL;	/* Freed by finish in every case. */
	t2 = mono_ms();
	if (!idx) {
		fprintf(stderr, "syncbench: out of memory building the index\n");
		rc = 2;
		goto done;
	}
	after_kb = rss_kb();
	getrusage(RUSAGE_SELF, &ru);
	printf("syncbench source=%s records=%zu agreed=%zu warnings=%lu wall_ms=%.1f fetch_ms=%.1f index_ms=%.1f "
	       "cpu_ms=%.1f base_kb=%lu peak_kb=%ld index_kb=%ld\n",
	       source, cb_ack_index_count(idx), cb_ack_index_agreed(idx), log.warnings, t2 - t0, t1 - t0, t2 - t1,
	       (double) ru.ru_utime.tv_sec * 1e3 + (double) ru.ru_utime.tv_usec / 1e3 +
	       (double) ru.ru_stime.tv_sec * 1e3 + (double) ru.ru_stime.tv_usec / 1e3,
	       base_kb, ru.ru_maxrss, (long) after_kb - (long) base_kb);
	rc = 0;
	if (have_expect && cb_ack_index_count(idx) != expect) {
		fprintf(stderr, "syncbench: expected %" PRIu32 " people, the index holds %zu\n", expect,
			cb_ack_index_count(idx));
		rc = 2;
	}
done:
	cb_ack_index_unref(idx);
	cb_ack_builder_free(b);
	if (src) src->free(src);
	curl_global_cleanup();
	return rc;
}
