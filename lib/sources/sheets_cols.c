/*
 * sheets_cols.c - the Sheets source's columns, bound by position plus
 * header (see sheets_cols.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strlist.h"
#include "sources/sheets_cols.h"
#include "sources/sheets_range.h"

#define COLS_HEADERS_MAX	512

void cb_sheets_cols_init(cb_sheets_cols_t *b)
{
	for (int i = 0; i < CB_SHEETS_COLS; i++) {
		b->pos[i] = -1;
		b->header[i] = NULL;
	}
	b->width = 0;
}

void cb_sheets_cols_free(cb_sheets_cols_t *b)
{
	for (int i = 0; i < CB_SHEETS_COLS; i++) free(b->header[i]);
	cb_sheets_cols_init(b);
}

/* The text of header cell i, or NULL when it is not text. */
static char const *head_at(json_object *header, int i)
{
	json_object *cell;

	if (i < 0 || (size_t) i >= json_object_array_length(header)) return NULL;
	cell = json_object_array_get_idx(header, (size_t) i);
	return (cell && json_object_is_type(cell, json_type_string)) ? json_object_get_string(cell) : NULL;
}

static bool is_name(char const *text, char const *name)
{
	cb_strlist_t one = { .v = &name, .n = 1 };

	return text && name && cb_strlist_has(&one, text, strlen(text));
}

/* The column headed name: its position, -1 when none, -2 when two or more (*second: the second). */
static int find_col(json_object *header, char const *name, int *second)
{
	int n = (int) json_object_array_length(header), found = -1;

	for (int i = 0; i < n; i++) {
		if (!is_name(head_at(header, i), name)) continue;
		if (found >= 0) {
			*second = i;
			return -2;
		}
		found = i;
	}
	return found;
}

static void list_headers(json_object *header, char *buf, size_t len)
{
	int n = (int) json_object_array_length(header);
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && used + 8 < len; i++) {
		char const *h = head_at(header, i);

		if (h) snprintf(buf + used, len - used, "%s\"%.60s\"", used ? ", " : "", h);
		used = strlen(buf);
	}
}

/* Column i was renamed in place (see sheets_cols.h): the others found by name stayed, the row did not narrow. */
static bool renamed_in_place(cb_sheets_cols_t const *b, cb_sheets_col_want_t const want[CB_SHEETS_COLS],
			     json_object *header, int const out[CB_SHEETS_COLS], int i)
{
	char const *now = head_at(header, b->pos[i]);

	if (!now || !*now || (int) json_object_array_length(header) < b->width) return false;
	for (int k = 0; k < CB_SHEETS_COLS; k++) {
		if (want[k].name && is_name(now, want[k].name)) return false;
		if (k != i && out[k] >= 0 && b->pos[k] >= 0 && out[k] != b->pos[k]) return false;
	}
	return true;
}

/* Why column i cannot be found: into err. */
static void explain(cb_sheets_cols_t const *b, cb_sheets_col_want_t const *w, json_object *header, int i, int pos,
		    int second, char const *what, char *err, size_t errlen)
{
	char headers[COLS_HEADERS_MAX], c1[8], c2[8];

	list_headers(header, headers, sizeof(headers));
	if (pos == -2) {
		cb_sheets_range_col_name(second + 1, c2, sizeof(c2));
		snprintf(err, errlen, "%s: two columns are headed \"%s\" (%s, the second in column %s); rename or remove "
			 "one (a question deleted and added again leaves its old column)", what, w->name, w->option, c2);
	} else if (b->pos[i] >= 0) {
		cb_sheets_range_col_name(b->pos[i] + 1, c1, sizeof(c1));
		snprintf(err, errlen, "%s: no column is headed \"%s\" (%s) any more; it was column %s (\"%.60s\"), and columns "
			 "have moved since, so the sync holds rather than guess: set %s to the column's header; the headers "
			 "are: %s", what, w->name, w->option, c1, b->header[i] ? b->header[i] : "", w->option,
			 headers[0] ? headers : "(none)");
	} else {
		snprintf(err, errlen, "%s has no column headed \"%s\" (%s); the headers are: %s", what, w->name, w->option,
			 headers[0] ? headers : "(none)");
	}
}

/* Remember where each column was found and its header; log a header renamed in place, once. */
static int remember(cb_sheets_cols_t *b, json_object *header, int const out[CB_SHEETS_COLS],
		    cb_sheets_col_want_t const want[CB_SHEETS_COLS], cb_log_fn_t log, void *log_ctx)
{
	for (int i = 0; i < CB_SHEETS_COLS; i++) {
		char const *now = out[i] >= 0 ? head_at(header, out[i]) : NULL;
		bool same_pos = now && b->pos[i] == out[i] && b->header[i];
		char *copy;
		char col[8];

		if (same_pos && strcmp(b->header[i], now) == 0) continue;
		if (same_pos && !is_name(now, want[i].name) && log) {
			cb_sheets_range_col_name(out[i] + 1, col, sizeof(col));
			log(log_ctx, CB_LOG_WARN, "sheets: column %s, headed \"%.60s\" when last read, is now headed \"%.60s\": "
			    "still read as %s (set %s = \"%.60s\" to match)", col, b->header[i], now, want[i].option,
			    want[i].option, now);
		}
		copy = now ? strdup(now) : NULL;
		if (now && !copy) return -1;
		free(b->header[i]);
		b->header[i] = copy;
		b->pos[i] = out[i];
	}
	b->width = (int) json_object_array_length(header);
	return 0;
}

cb_source_result_t cb_sheets_cols_bind(cb_sheets_cols_t *b, cb_sheets_col_want_t const want[CB_SHEETS_COLS],
				       json_object *header, int out[CB_SHEETS_COLS], cb_log_fn_t log, void *log_ctx,
				       char const *what, char *err, size_t errlen)
{
	int second[CB_SHEETS_COLS] = { 0 };

	for (int i = 0; i < CB_SHEETS_COLS; i++) {
		out[i] = want[i].name ? find_col(header, want[i].name, &second[i]) : -1;
		if (out[i] == -2) {
			explain(b, &want[i], header, i, -2, second[i], what, err, errlen);
			return CB_FETCH_ERROR;
		}
	}
	for (int i = 0; i < CB_SHEETS_COLS; i++) {
		if (out[i] >= 0 || !want[i].name) continue;
		if (b->pos[i] >= 0 && renamed_in_place(b, want, header, out, i)) {
			out[i] = b->pos[i];
			continue;
		}
		if (b->pos[i] < 0 && !want[i].required) continue;
		explain(b, &want[i], header, i, -1, 0, what, err, errlen);
		return CB_FETCH_ERROR;
	}
	if (remember(b, header, out, want, log, log_ctx) < 0) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	return CB_FETCH_OK;
}
