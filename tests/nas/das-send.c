/*
 * das-send.c - a test helper: send one Disconnect-Request or CoA-Request
 * (or --count copies of it, concurrently) with cb_das_send() and print the
 * outcome, so that shell tests can drive the sender against a real NAS.
 *
 * Output, one line per request on stdout:
 *   result=NAK response=Disconnect-NAK error_cause=503 error_cause_name="Session Context Not Found"
 *   transmissions=1 fell_back=no queued_ms=0.004 elapsed_ms=0.812 error="Error-Cause 503 (Session Context Not Found)"
 * (queued: from the call to the first transmission; elapsed: from there to the outcome.)
 * The sender's "DAS: ..." log lines go to stderr.
 * Exit status: 0 every request ACK, 1 a NAK (and nothing worse), 2 a
 * TIMEOUT, 3 an ERROR, 64 bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/das.h"

static int verbose = 1;

static void log_stderr(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_stderr(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	static char const *const names[] = { "debug", "info", "warn", "error" };
	va_list ap;

	(void)uctx;
	if (level == CB_LOG_DEBUG && verbose < 2) return;
	if (verbose < 1 && level < CB_LOG_WARN) return;
	fprintf(stderr, "%s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: das-send --address ADDR --secret SECRET [options]\n"
		"  --address ADDR             the NAS's DAS address (numeric IPv4/IPv6)\n"
		"  --port PORT                its DAS port (default: the profile's, 3799)\n"
		"  --secret SECRET            the DAS secret\n"
		"  --profile NAME             %s (default rfc5176)\n"
		"  --mode MODE                disconnect, coa, coa-then-disconnect (default: the profile's)\n"
		"  --attrs LIST               attributes to send, comma-separated (default: the profile's)\n"
		"  --user-name U --acct-session-id A --calling-station-id C --called-station-id C\n"
		"  --nas-ip-address A --nas-identifier N --framed-ip-address A\n"
		"                             the session, as the NAS reported it\n"
		"  --coa-attr TYPE=STRING     an authorisation change for CoA (repeatable)\n"
		"  --coa-vsa VENDOR:TYPE=STRING  a vendor attribute for CoA (repeatable)\n"
		"  --irt MS --mrc N --mrt MS --mrd MS   retransmission (RFC 5080; defaults 2000 5 16000 30000)\n"
		"  --window S                 Event-Timestamp window for answers (300)\n"
		"  --count N                  send N copies concurrently (default 1)\n"
		"  --inflight N               requests in flight per NAS (32)\n"
		"  --quiet | --debug\n", cb_das_profile_names());
}

/** parse_uint - a decimal number in [lo, hi].  Returns: 0, or -1. */
static int parse_uint(char const *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+') return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi) return -1;
	*out = v;
	return 0;
}

#define MAX_COA 16

int main(int argc, char **argv)
{
	cb_das_conf_t conf;
	cb_das_profile_t prof;
	cb_das_profile_t const *base = cb_das_profile_find("rfc5176");
	cb_das_session_t sess = { 0 };
	cb_das_nas_t nas = { 0 };
	cb_das_attr_t coa[MAX_COA];
	cb_das_request_t *reqs;
	cb_das_t *das;
	char const *mode = NULL, *attrs = NULL;
	unsigned long v, count = 1, port = 0;
	size_t ncoa = 0, i;
	char err[256];
	int a, worst = 0;

	cb_das_conf_defaults(&conf);
	conf.log = log_stderr;
	for (a = 1; a < argc; a++) {
		char const *opt = argv[a];
		char const *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(opt, "--quiet") == 0) {
			verbose = 0;
			continue;
		}
		if (strcmp(opt, "--debug") == 0) {
			verbose = 2;
			continue;
		}
		if (strcmp(opt, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (!val) {
			fprintf(stderr, "das-send: %s needs a value\n", opt);
			usage(stderr);
			return 64;
		}
		a++;
		if (strcmp(opt, "--address") == 0) nas.address = val;
		else if (strcmp(opt, "--secret") == 0) nas.secret = val;
		else if (strcmp(opt, "--profile") == 0) {
			base = cb_das_profile_find(val);
			if (!base) {
				fprintf(stderr, "das-send: unknown profile \"%s\": accepted are %s\n", val,
					cb_das_profile_names());
				return 64;
			}
		}
		else if (strcmp(opt, "--mode") == 0) mode = val;
		else if (strcmp(opt, "--attrs") == 0) attrs = val;
		else if (strcmp(opt, "--user-name") == 0) sess.user_name = val;
		else if (strcmp(opt, "--acct-session-id") == 0) sess.acct_session_id = val;
		else if (strcmp(opt, "--calling-station-id") == 0) sess.calling_station_id = val;
		else if (strcmp(opt, "--called-station-id") == 0) sess.called_station_id = val;
		else if (strcmp(opt, "--nas-ip-address") == 0) sess.nas_ip_address = val;
		else if (strcmp(opt, "--nas-identifier") == 0) sess.nas_identifier = val;
		else if (strcmp(opt, "--framed-ip-address") == 0) sess.framed_ip_address = val;
		else if (strcmp(opt, "--coa-attr") == 0 || strcmp(opt, "--coa-vsa") == 0) {
			char const *eq = strchr(val, '=');
			cb_das_attr_t *at = &coa[ncoa];
			unsigned long type, vendor = 0;
			char num[32];
			size_t nlen;

			if (ncoa == MAX_COA || !eq || (size_t)(eq - val) >= sizeof(num)) {
				fprintf(stderr, "das-send: bad or too many %s \"%s\"\n", opt, val);
				return 64;
			}
			nlen = (size_t)(eq - val);
			memcpy(num, val, nlen);
			num[nlen] = '\0';
			memset(at, 0, sizeof(*at));
			if (strcmp(opt, "--coa-vsa") == 0) {
				char *colon = strchr(num, ':');

				if (!colon) {
					fprintf(stderr, "das-send: --coa-vsa wants VENDOR:TYPE=STRING\n");
					return 64;
				}
				*colon = '\0';
				if (parse_uint(num, 1, 0xffffff, &vendor) < 0 || parse_uint(colon + 1, 1, 255, &type) < 0) {
					fprintf(stderr, "das-send: bad vendor or type in \"%s\"\n", val);
					return 64;
				}
				at->type = 26;
				at->vendor = (uint32_t)vendor;
				at->vendor_type = (uint8_t)type;
			} else {
				if (parse_uint(num, 1, 255, &type) < 0) {
					fprintf(stderr, "das-send: bad attribute type in \"%s\"\n", val);
					return 64;
				}
				at->type = (uint8_t)type;
			}
			at->value = (uint8_t const *)(eq + 1);
			at->len = strlen(eq + 1);
			ncoa++;
		}
		else if (strcmp(opt, "--port") == 0) {
			if (parse_uint(val, 1, 65535, &port) < 0) goto bad_number;
		} else if (strcmp(opt, "--irt") == 0) {
			if (parse_uint(val, 1, 600000, &v) < 0) goto bad_number;
			conf.irt_ms = (unsigned int)v;
		} else if (strcmp(opt, "--mrc") == 0) {
			if (parse_uint(val, 1, 100, &v) < 0) goto bad_number;
			conf.mrc = (unsigned int)v;
		} else if (strcmp(opt, "--mrt") == 0) {
			if (parse_uint(val, 0, 600000, &v) < 0) goto bad_number;
			conf.mrt_ms = (unsigned int)v;
		} else if (strcmp(opt, "--mrd") == 0) {
			if (parse_uint(val, 1, 600000, &v) < 0) goto bad_number;
			conf.mrd_ms = (unsigned int)v;
		} else if (strcmp(opt, "--window") == 0) {
			if (parse_uint(val, 1, 86400, &v) < 0) goto bad_number;
			conf.time_window = (unsigned int)v;
		} else if (strcmp(opt, "--inflight") == 0) {
			if (parse_uint(val, 1, 4096, &v) < 0) goto bad_number;
			conf.max_inflight_per_nas = (unsigned int)v;
		} else if (strcmp(opt, "--count") == 0) {
			if (parse_uint(val, 1, CB_DAS_MAX_BATCH, &count) < 0) goto bad_number;
		} else {
			fprintf(stderr, "das-send: unknown option %s\n", opt);
			usage(stderr);
			return 64;
		}
		continue;
bad_number:
		fprintf(stderr, "das-send: %s: \"%s\" is not a number in range\n", opt, val);
		return 64;
	}
	if (!nas.address || !nas.secret) {
		usage(stderr);
		return 64;
	}

	prof = *base;
	if (mode && cb_das_mode_parse(mode, &prof.mode) < 0) {
		fprintf(stderr, "das-send: unknown mode \"%s\": accepted are disconnect, coa, coa-then-disconnect\n", mode);
		return 64;
	}
	if (attrs && cb_das_attrs_parse(attrs, &prof.attrs, err, sizeof(err)) < 0) {
		fprintf(stderr, "das-send: --attrs: %s\n", err);
		return 64;
	}
	nas.port = (uint16_t)port;
	nas.profile = &prof;

	das = cb_das_init(&conf, err, sizeof(err));
	if (!das) {
		fprintf(stderr, "das-send: %s\n", err);
		return 64;
	}
	reqs = calloc(count, sizeof(*reqs));
	if (!reqs) {
		fprintf(stderr, "das-send: out of memory\n");
		cb_das_deinit(das);
		return 3;
	}
	for (i = 0; i < count; i++) {
		reqs[i].nas = &nas;
		reqs[i].session = &sess;
		reqs[i].coa_attrs = ncoa ? coa : NULL;
		reqs[i].num_coa_attrs = ncoa;
	}
	if (cb_das_send(das, reqs, count) < 0) {
		fprintf(stderr, "das-send: invalid call\n");
		free(reqs);
		cb_das_deinit(das);
		return 3;
	}
	for (i = 0; i < count; i++) {
		cb_das_request_t const *r = &reqs[i];
		int rank = r->result == CB_DAS_ACK ? 0 : r->result == CB_DAS_NAK ? 1 : r->result == CB_DAS_TIMEOUT ? 2 : 3;

		printf("result=%s response=%s error_cause=%u error_cause_name=\"%s\" transmissions=%u fell_back=%s "
		       "queued_ms=%.3f elapsed_ms=%.3f error=\"%s\"\n", cb_das_result_name(r->result),
		       r->response_code ? cb_das_code_name(r->response_code) : "none", r->error_cause,
		       r->error_cause ? cb_das_error_cause_name(r->error_cause) : "", r->transmissions,
		       r->fell_back ? "yes" : "no", (double)r->queued_us / 1000.0, (double)r->elapsed_us / 1000.0, r->error);
		if (rank > worst) worst = rank;
	}
	free(reqs);
	cb_das_deinit(das);
	return worst;
}
