/*
 * ctl_out.c - how cetbyodctl shows things: aligned tables for people,
 * JSON for scripts, times in UTC.
 *
 * Everything shown came from RADIUS or an admin and may hold anything:
 * tables escape control characters and invalid UTF-8 as \xNN so that a
 * hostile Acct-Session-Id cannot move the cursor or forge a line; JSON
 * strings are made valid UTF-8 (invalid bytes become U+FFFD) and json-c
 * escapes the rest.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "ctl.h"

/** utf8_len - length of the valid UTF-8 sequence at p (before end), 0 when invalid; *cp the code point. */
static size_t utf8_len(unsigned char const *p, unsigned char const *end, uint32_t *cp)
{
	return cb_utf8_decode(p, end, cp);
}

char const *ctl_safe(char const *s, char *out, size_t outlen)
{
	return cb_utf8_escape(s, out, outlen);
}

/** display_width - code points in a string that ctl_safe has made valid UTF-8. */
static size_t display_width(char const *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char) *s & 0xc0) != 0x80) w++;
	}
	return w;
}

char const *ctl_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || !gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, len, "-");
	}
	return buf;
}

char const *ctl_age(time_t t, time_t now, char *buf, size_t len)
{
	long long d = (long long) now - (long long) t;
	char const *sign = "";

	if (d < 0) {
		sign = "in ";
		d = -d;
	}
	if (d < 120) snprintf(buf, len, "%s%lld s", sign, d);
	else if (d < 7200) snprintf(buf, len, "%s%lld min", sign, d / 60);
	else if (d < 172800) snprintf(buf, len, "%s%lld h", sign, d / 3600);
	else snprintf(buf, len, "%s%lld d", sign, d / 86400);
	return buf;
}

char const *ctl_bytes(uint64_t n, char *buf, size_t len)
{
	static char const *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double) n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

time_t ctl_parse_time(char const *s)
{
	long long v = 0;

	if (!s || !*s) return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (LLONG_MAX - 9) / 10) return 0;
		v = v * 10 + (*s - '0');
	}
	return (time_t) v;
}

/*
 *	Tables
 */
#define TABLE_ROWS_MAX	(CB_STORE_TEXT_MAX * 1000)	/* More than any store list. */

struct ctl_table {
	size_t		ncols;
	char const	*const *headers;
	char		**cells;	/* rows * ncols, each malloc'd. */
	size_t		rows;
	size_t		alloc;
};

ctl_table_t *ctl_table_new(size_t ncols, char const *const *headers)
{
	ctl_table_t *t = calloc(1, sizeof(*t));

	if (!t) return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

int ctl_table_row(ctl_table_t *t, char const *const *cells)
{
	size_t i;

	if (t->rows == t->alloc) {
		size_t nalloc = t->alloc ? t->alloc * 2 : 16;
		char **n;

		if (nalloc > TABLE_ROWS_MAX) return -1;
		n = realloc(t->cells, nalloc * t->ncols * sizeof(*n));
		if (!n) return -1;
		t->cells = n;
		t->alloc = nalloc;
	}
	for (i = 0; i < t->ncols; i++) {
		char const *c = cells[i] ? cells[i] : "";
		size_t size = CTL_SAFE_LEN(strlen(c));
		char *s = malloc(size);

		if (!s) {
			while (i-- > 0) free(t->cells[t->rows * t->ncols + i]);
			return -1;
		}
		ctl_safe(c, s, size);
		t->cells[t->rows * t->ncols + i] = s;
	}
	t->rows++;
	return 0;
}

/** print_cell - one cell, padded to width unless it is the last. */
static void print_cell(FILE *fp, char const *s, size_t width, bool last)
{
	size_t w = display_width(s);

	fputs(s, fp);
	if (last) return;
	for (; w < width + 2; w++) fputc(' ', fp);
}

void ctl_table_print(ctl_table_t const *t, FILE *fp, char const *indent)
{
	size_t *width = calloc(t->ncols, sizeof(*width));
	size_t r, c;

	if (!width) return;
	for (c = 0; c < t->ncols; c++) width[c] = display_width(t->headers[c]);
	for (r = 0; r < t->rows; r++) {
		for (c = 0; c < t->ncols; c++) {
			size_t w = display_width(t->cells[r * t->ncols + c]);

			if (w > width[c]) width[c] = w;
		}
	}
	fputs(indent, fp);
	for (c = 0; c < t->ncols; c++) print_cell(fp, t->headers[c], width[c], c + 1 == t->ncols);
	fputc('\n', fp);
	for (r = 0; r < t->rows; r++) {
		fputs(indent, fp);
		for (c = 0; c < t->ncols; c++) print_cell(fp, t->cells[r * t->ncols + c], width[c], c + 1 == t->ncols);
		fputc('\n', fp);
	}
	free(width);
}

void ctl_table_free(ctl_table_t *t)
{
	size_t i;

	if (!t) return;
	for (i = 0; i < t->rows * t->ncols; i++) free(t->cells[i]);
	free(t->cells);
	free(t);
}

/*
 *	JSON
 */
json_object *ctl_jstr(char const *s)
{
	unsigned char const *p = (unsigned char const *) (s ? s : ""), *end = p + strlen((char const *) p);
	size_t size = 3 * (size_t) (end - p) + 1, o = 0;
	json_object *j;
	char *out = malloc(size);

	if (!out) return NULL;
	while (p < end) {
		uint32_t cp;
		size_t n = utf8_len(p, end, &cp);

		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);	/* U+FFFD */
			o += 3;
			p++;
			continue;
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	j = json_object_new_string(out);
	free(out);
	return j;
}

json_object *ctl_jtime(time_t t)
{
	return t ? json_object_new_int64((int64_t) t) : NULL;
}

static json_object *juint(uint64_t v)
{
#if JSON_C_VERSION_NUM >= ((0 << 16) | (14 << 8))
	return json_object_new_uint64(v);
#else
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t) v);
#endif
}

static void add(json_object *o, char const *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

json_object *ctl_jsession(cb_store_session_t const *s)
{
	json_object *o = json_object_new_object();

	add(o, "identity", ctl_jstr(s->identity));
	add(o, "outer_identity", ctl_jstr(s->outer_identity));
	add(o, "calling_station", ctl_jstr(s->calling_station));
	add(o, "called_station", ctl_jstr(s->called_station));
	add(o, "ap", ctl_jstr(s->ap));
	add(o, "ssid", ctl_jstr(s->ssid));
	add(o, "framed_ip", ctl_jstr(s->framed_ip));
	add(o, "nas", ctl_jstr(s->nas));
	add(o, "nas_ip", ctl_jstr(s->nas_ip));
	add(o, "nas_identifier", ctl_jstr(s->nas_identifier));
	add(o, "acct_session_id", ctl_jstr(s->acct_session_id));
	add(o, "class_id", ctl_jstr(s->class_id));
	add(o, "status", ctl_jstr(s->status));
	add(o, "valid_until", ctl_jtime(s->valid_until));
	add(o, "started", ctl_jtime(s->started));
	add(o, "last_seen", ctl_jtime(s->last_seen));
	add(o, "stopped", ctl_jtime(s->stopped));
	add(o, "stop_cause", ctl_jstr(s->stop_cause));
	add(o, "input_octets", juint(s->in_octets));
	add(o, "output_octets", juint(s->out_octets));
	return o;
}

json_object *ctl_jdisconnect(cb_store_disconnect_t const *d)
{
	json_object *o = json_object_new_object();

	add(o, "id", json_object_new_int64(d->id));
	add(o, "identity", ctl_jstr(d->identity));
	add(o, "nas", ctl_jstr(d->nas));
	add(o, "acct_session_id", ctl_jstr(d->acct_session_id));
	add(o, "kind", json_object_new_string(cb_disc_kind_name(d->kind)));
	add(o, "state", json_object_new_string(cb_disc_state_name(d->state)));
	add(o, "reason", ctl_jstr(d->reason));
	add(o, "attempts", json_object_new_int64(d->attempts));
	add(o, "created_at", ctl_jtime(d->created_at));
	add(o, "next_attempt", ctl_jtime(d->next_attempt));
	add(o, "last_attempt", ctl_jtime(d->last_attempt));
	add(o, "last_result", d->last_result == CB_DISC_NONE ? NULL :
	    json_object_new_string(cb_disc_result_name(d->last_result)));
	add(o, "error_cause", d->error_cause ? json_object_new_int64(d->error_cause) : NULL);
	add(o, "detail", ctl_jstr(d->detail));
	return o;
}

json_object *ctl_jrevocation(cb_store_revocation_t const *r)
{
	json_object *o = json_object_new_object();

	add(o, "identity", ctl_jstr(r->identity));
	add(o, "reason", ctl_jstr(r->reason));
	add(o, "by", ctl_jstr(r->by));
	add(o, "revoked_at", ctl_jtime(r->revoked_at));
	add(o, "reinstated_by", r->reinstated_at ? ctl_jstr(r->reinstated_by) : NULL);
	add(o, "reinstated_at", ctl_jtime(r->reinstated_at));
	return o;
}

int ctl_print_json(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return CTL_EXIT_OK;
}

/*
 *	Tables of store lists
 */
int ctl_sessions_table(ctl_t *ctl, cb_store_sessions_t const *list, char const *indent)
{
	static char const *const headers[] = {
		"USER", "DEVICE", "AP", "SSID", "IP", "NAS", "SESSION", "STATUS", "STARTED", "LAST SEEN", "IN", "OUT"
	};
	ctl_table_t *t = ctl_table_new(sizeof(headers) / sizeof(headers[0]), headers);
	size_t i;

	if (!t) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	for (i = 0; i < list->count; i++) {
		cb_store_session_t const *s = &list->items[i];
		char started[32], seen[40], age[24], in[24], out[24];
		char const *cells[12];

		ctl_time(s->started, started, sizeof(started));
		snprintf(seen, sizeof(seen), "%s ago", ctl_age(s->last_seen, ctl->now, age, sizeof(age)));
		cells[0] = s->identity[0] ? s->identity : (s->outer_identity[0] ? s->outer_identity : "?");
		cells[1] = s->calling_station;
		cells[2] = s->ap[0] ? s->ap : s->called_station;
		cells[3] = s->ssid;
		cells[4] = s->framed_ip;
		cells[5] = s->nas;
		cells[6] = s->acct_session_id;
		cells[7] = s->status[0] ? s->status : "?";
		cells[8] = started;
		cells[9] = seen;
		cells[10] = ctl_bytes(s->in_octets, in, sizeof(in));
		cells[11] = ctl_bytes(s->out_octets, out, sizeof(out));
		if (ctl_table_row(t, cells) < 0) {
			ctl_table_free(t);
			return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		}
	}
	ctl_table_print(t, stdout, indent);
	ctl_table_free(t);
	return CTL_EXIT_OK;
}

int ctl_disconnects_table(ctl_t *ctl, cb_store_disconnects_t const *list, char const *indent)
{
	static char const *const headers[] = {
		"ID", "USER", "KIND", "NAS", "SESSION", "REASON", "QUEUED", "ATTEMPTS", "LAST RESULT", "NEXT"
	};
	ctl_table_t *t = ctl_table_new(sizeof(headers) / sizeof(headers[0]), headers);
	size_t i;

	if (!t) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	for (i = 0; i < list->count; i++) {
		cb_store_disconnect_t const *d = &list->items[i];
		char id[24], queued[32], attempts[16], result[CB_STORE_DETAIL_MAX + 48], next[32];
		char const *cells[10];

		snprintf(id, sizeof(id), "%lld", (long long) d->id);
		snprintf(attempts, sizeof(attempts), "%u", d->attempts);
		if (d->last_result == CB_DISC_NAK && d->error_cause) {
			snprintf(result, sizeof(result), "nak %u%s%s", d->error_cause, d->detail[0] ? " " : "", d->detail);
		} else {
			snprintf(result, sizeof(result), "%s%s%s", d->last_result == CB_DISC_NONE ? "-" :
				 cb_disc_result_name(d->last_result), d->detail[0] ? " " : "", d->detail);
		}
		cells[0] = id;
		cells[1] = d->identity;
		cells[2] = cb_disc_kind_name(d->kind);
		cells[3] = d->nas;
		cells[4] = d->acct_session_id;
		cells[5] = d->reason;
		cells[6] = ctl_time(d->created_at, queued, sizeof(queued));
		cells[7] = attempts;
		cells[8] = result;
		cells[9] = d->state == CB_DISC_PENDING ? ctl_time(d->next_attempt, next, sizeof(next)) :
			   cb_disc_state_name(d->state);
		if (ctl_table_row(t, cells) < 0) {
			ctl_table_free(t);
			return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		}
	}
	ctl_table_print(t, stdout, indent);
	ctl_table_free(t);
	return CTL_EXIT_OK;
}

int ctl_revocations_table(ctl_t *ctl, cb_store_revocations_t const *list, char const *indent)
{
	static char const *const headers[] = { "USER", "REASON", "BY", "SINCE" };
	ctl_table_t *t = ctl_table_new(4, headers);
	size_t i;

	if (!t) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	for (i = 0; i < list->count; i++) {
		cb_store_revocation_t const *r = &list->items[i];
		char since[32];
		char const *cells[4] = { r->identity, r->reason, r->by, ctl_time(r->revoked_at, since, sizeof(since)) };

		if (ctl_table_row(t, cells) < 0) {
			ctl_table_free(t);
			return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		}
	}
	ctl_table_print(t, stdout, indent);
	ctl_table_free(t);
	return CTL_EXIT_OK;
}
