/*
 * query.c - the audit trail's queries, its part of the subject access
 * export, and the CSV cells cetbyodctl prints.
 *
 * Everything here reads the store (cb_store_audit_*, cb_store_export_person),
 * never the database: the index keeps the indexed fields of each record
 * beside the record itself.  "Who had 10.20.30.40 at 10:14" is answered
 * from session_start and session_stop records alone: each session (NAS,
 * Acct-Session-Id) holds its address from start to stop; a session whose
 * stop never arrived holds it until another session with that address
 * starts (cb_audit_ip_at).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "base/mac.h"
#include "base/utf8.h"

int cb_audit_query(cb_store_t *store, cb_audit_query_t const *q, cb_audit_rows_t *out, char *err, size_t errlen)
{
	cb_store_audit_filter_t f = {
		.identity = q->identity, .nas = q->nas, .ssid = q->ssid, .ip = q->ip, .from = q->from, .to = q->to,
		.limit = q->limit,
	};
	char mac[CB_MAC_LEN + 1];

	out->items = NULL;
	out->count = 0;
	if (q->mac) {
		if (!cb_mac_normalise(q->mac, mac)) {
			snprintf(err, errlen, "not a MAC address");
			return -1;
		}
		f.mac = mac;
	}
	if (!q->any_type && q->type >= 0) f.type = cb_audit_type_name((cb_audit_type_t) q->type);
	if (cb_store_audit_query(store, &f, out) < 0) {
		snprintf(err, errlen, "query: the store could not be read");
		return -1;
	}
	return 0;
}

void cb_audit_rows_free(cb_audit_rows_t *rows)
{
	cb_store_audit_rows_free(rows);
}

/*
 *	Who held an address
 */
typedef struct {
	cb_audit_holder_t	h;
	bool			has_start, has_stop, has_ip;
} interval_t;

/** copy_text - s into buf when it is not empty (a later record fills in what an earlier lacked). */
static void copy_text(char const *s, char *buf, size_t size)
{
	if (s && *s) snprintf(buf, size, "%s", s);
}

/** interval_fill - what one start or stop record says about its session. */
static void interval_fill(interval_t *cur, cb_audit_row_t const *r, char const *ip, bool start)
{
	copy_text(r->identity, cur->h.identity, sizeof(cur->h.identity));
	copy_text(r->outer_identity, cur->h.outer_identity, sizeof(cur->h.outer_identity));
	copy_text(r->calling_station, cur->h.calling_station, sizeof(cur->h.calling_station));
	copy_text(r->ssid, cur->h.ssid, sizeof(cur->h.ssid));
	copy_text(r->framed_ip, cur->h.framed_ip, sizeof(cur->h.framed_ip));
	if (strcmp(r->framed_ip, ip) == 0) cur->has_ip = true;
	if (start) {
		if (!cur->has_start) cur->h.started = r->session_start;
		cur->has_start = true;
	} else {
		if (!cur->h.started) cur->h.started = r->session_start;
		cur->h.stopped = r->session_stop;
		if (!cur->h.started) cur->h.started = cur->h.stopped;
		cur->has_stop = true;
	}
}

/** intervals - rebuild sessions (intervals) from the start and stop records of sessions that had ip. */
static int intervals(cb_audit_rows_t const *rows, char const *ip, interval_t **out, size_t *n)
{
	interval_t *list = NULL, *cur = NULL;
	size_t count = 0, alloc = 0;

	for (size_t k = 0; k < rows->count; k++) {
		cb_audit_row_t const *r = &rows->items[k];
		bool start = strcmp(r->type, "session_start") == 0;
		bool same = cur && strcmp(cur->h.nas, r->nas) == 0 && strcmp(cur->h.acct_session_id,
									       r->acct_session_id) == 0;

		/* A new interval: another key, a start after a stop, or a stop after a stop. */
		if (!same || cur->has_stop) {
			if (count == alloc) {
				size_t na = alloc ? alloc * 2 : 16;
				interval_t *ni = realloc(list, na * sizeof(*ni));

				if (!ni) {
					free(list);
					return -1;
				}
				list = ni;
				alloc = na;
			}
			cur = &list[count++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->h.nas, sizeof(cur->h.nas), "%s", r->nas);
			snprintf(cur->h.acct_session_id, sizeof(cur->h.acct_session_id), "%s", r->acct_session_id);
		}
		interval_fill(cur, r, ip, start);
	}
	*out = list;
	*n = count;
	return 0;
}

static int holder_cmp(void const *a, void const *b)
{
	cb_audit_holder_t const *x = a, *y = b;

	return x->started < y->started ? 1 : (x->started > y->started ? -1 : 0);
}

/** supersede - a session without a stop is superseded by the next session with the address. */
static void supersede(interval_t *iv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (iv[i].has_stop || !iv[i].has_ip) continue;
		for (size_t j = 0; j < n; j++) {
			if (j == i || !iv[j].has_ip || iv[j].h.started <= iv[i].h.started) continue;
			if (!iv[i].h.superseded || iv[j].h.started < iv[i].h.superseded) iv[i].h.superseded = iv[j].h.started;
		}
	}
}

int cb_audit_ip_at(cb_store_t *store, char const *ip, char const *nas, time_t at, time_t at_end,
		   cb_audit_holders_t *out, char *err, size_t errlen)
{
	cb_audit_rows_t rows;
	interval_t *iv = NULL;
	size_t n = 0, i;

	out->items = NULL;
	out->count = 0;
	if (at_end < at) at_end = at;
	if (cb_store_audit_sessions(store, ip, nas, &rows) < 0) {
		snprintf(err, errlen, "query: the store could not be read");
		return -1;
	}
	i = intervals(&rows, ip, &iv, &n);
	cb_store_audit_rows_free(&rows);
	if (i != 0) goto oom;
	supersede(iv, n);
	out->items = calloc(n ? n : 1, sizeof(*out->items));
	if (!out->items) goto oom;
	for (i = 0; i < n; i++) {
		cb_audit_holder_t *h = &iv[i].h;
		time_t end = h->stopped ? h->stopped : (h->superseded ? h->superseded - 1 : 0);

		if (!iv[i].has_ip || h->started > at_end) continue;
		if (end && end < at) continue;
		out->items[out->count++] = *h;
	}
	for (i = 0; i < out->count; i++) {
		out->items[i].certain = out->count == 1 && out->items[i].stopped;
	}
	qsort(out->items, out->count, sizeof(*out->items), holder_cmp);
	free(iv);
	return 0;
oom:
	free(iv);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void cb_audit_holders_free(cb_audit_holders_t *list)
{
	if (!list) return;
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/*
 *	Subject access export
 */
typedef struct {
	json_object	*o;		/* The export. */
	json_object	*arr;		/* The array of the kind being exported. */
	bool		audit;		/* The store has an audit index. */
} export_t;

/** field_json - one column as JSON (text made valid UTF-8); NULL for SQL NULL. */
static json_object *field_json(cb_store_field_t const *f)
{
	bool cut = false;

	switch (f->type) {
	case CB_STORE_FIELD_INT:
		return json_object_new_int64(f->i);
	case CB_STORE_FIELD_REAL:
		return json_object_new_double(f->real);
	case CB_STORE_FIELD_TEXT:
		return cb_audit_jtext(f->text, &cut);
	default:
		return NULL;
	}
}

/** export_row - cb_store_export_fn: a kind starts (fields NULL), or one of its rows. */
static int export_row(void *ctx, char const *kind, cb_store_field_t const *fields, size_t n)
{
	export_t *x = ctx;
	json_object *row;
	bool audit = strcmp(kind, "audit") == 0;

	if (!fields) {
		x->arr = json_object_new_array();
		if (!x->arr) return -1;
		json_object_object_add(x->o, kind, x->arr);
		if (audit) x->audit = true;
		return 0;
	}
	if (audit) {
		row = n == 1 && fields[0].text ? json_tokener_parse(fields[0].text) : NULL;
	} else {
		row = json_object_new_object();
		for (size_t c = 0; row && c < n; c++) json_object_object_add(row, fields[c].name, field_json(&fields[c]));
	}
	if (row) json_object_array_add(x->arr, row);
	return 0;
}

json_object *cb_audit_export_person(cb_store_t *store, char const *identity, char *err, size_t errlen)
{
	export_t x = { .o = json_object_new_object() };

	if (!x.o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_object_object_add(x.o, "identity", json_object_new_string(identity));
	if (cb_store_export_person(store, identity, export_row, &x) < 0) {
		snprintf(err, errlen, "export: the store could not be read");
		json_object_put(x.o);
		return NULL;
	}
	if (!x.audit) json_object_object_add(x.o, "audit", json_object_new_array());
	return x.o;
}

/*
 *	Output helpers
 */
bool cb_audit_csv_cell(char const *s, char *out, size_t outlen)
{
	bool neutral, quote;
	size_t o = 0, need, n;
	char *e, *p;

	if (outlen) out[0] = '\0';
	n = CB_UTF8_ESCAPE_LEN(strlen(s ? s : ""));
	e = malloc(n);
	if (!e) return false;
	cb_utf8_escape(s, e, n);	/* Controls (ESC, CR, LF, TAB, C1) as \xHH: nothing reaches a terminal. */
	neutral = e[0] == '=' || e[0] == '+' || e[0] == '-' || e[0] == '@';
	quote = strpbrk(e, ",\"") != NULL;
	need = strlen(e) + 1 + (neutral ? 1 : 0) + (quote ? 2 : 0);
	for (p = e; *p; p++) if (*p == '"') need++;
	if (need <= outlen) {
		if (quote) out[o++] = '"';
		if (neutral) out[o++] = '\'';
		for (p = e; *p; p++) {
			if (*p == '"') out[o++] = '"';
			out[o++] = *p;
		}
		if (quote) out[o++] = '"';
		out[o] = '\0';
	}
	free(e);
	return need <= outlen;
}
