/*
 * sheets_range.c - the Sheets source's A1 range (see sheets_range.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/sheets_range.h"

#define SHEETS_ROW_MAX		10000000L
#define SHEETS_RANGE_MAX	512

/* Column letters at *p ("A".."ZZZ") -> 1-based index; 0 when there are none. */
static int parse_col(char const **p)
{
	int col = 0, n = 0;

	while (n < 4 && ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z'))) {
		col = col * 26 + ((**p | 0x20) - 'a' + 1);
		(*p)++;
		n++;
	}
	return (n == 0 || n > 3) ? (n ? -1 : 0) : col;
}

/* Row digits at *p -> 1-based row; 0 when there are none, -1 when out of range. */
static long parse_row(char const **p)
{
	long row = 0;
	int n = 0;

	while (**p >= '0' && **p <= '9') {
		if (++n > 8) return -1;
		row = row * 10 + (**p - '0');
		(*p)++;
	}
	if (n && (row < 1 || row > SHEETS_ROW_MAX)) return -1;
	return row;
}

/* "A1:Z", "A:Z", "2:500", "B2:F900" -> r.  -1 when it is something else. */
static int parse_cells(char const *s, cb_sheets_range_t *r)
{
	char const *p = s;
	int c1, c2;
	long r1, r2;

	c1 = parse_col(&p);
	r1 = parse_row(&p);
	if (c1 < 0 || r1 < 0 || (c1 == 0 && r1 == 0)) return -1;
	if (*p == '\0') {			/* A single cell. */
		if (c1 == 0 || r1 == 0) return -1;
		c2 = c1;
		r2 = r1;
	} else {
		if (*p++ != ':') return -1;
		c2 = parse_col(&p);
		r2 = parse_row(&p);
		if (*p != '\0' || c2 < 0 || r2 < 0 || (c2 == 0 && r2 == 0)) return -1;
		if ((c1 == 0) != (c2 == 0)) return -1;	/* "2:B5" is not A1. */
	}
	if (c1 > c2 || (r2 && r1 > r2)) return -1;
	r->c1 = c1;
	r->c2 = c2;
	r->r1 = r1 ? r1 : 1;
	r->r2 = r2;
	return 0;
}

/* Unquote 'It''s'.  Returns a malloc'd name, or NULL when the quoting is broken. */
static char *unquote_sheet(char const *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t i, n = 0;

	if (!out) return NULL;
	if (len >= 2 && s[0] == '\'' && s[len - 1] == '\'') {
		for (i = 1; i + 1 < len; i++) {
			if (s[i] == '\'') {
				if (i + 2 >= len || s[i + 1] != '\'') {
					free(out);
					return NULL;
				}
				i++;
			}
			out[n++] = s[i];
		}
	} else {
		memcpy(out, s, len);
		n = len;
	}
	out[n] = '\0';
	return out;
}

int cb_sheets_range_parse(char const *raw, cb_sheets_range_t *r)
{
	char const *bang = NULL;
	bool quoted = false;

	memset(r, 0, sizeof(*r));
	r->raw = strdup(raw ? raw : "");
	if (!r->raw) return -1;
	r->r1 = 1;
	if (!*r->raw) {				/* The whole first tab. */
		r->blockable = true;
		return 0;
	}
	for (char const *p = r->raw; *p; p++) {
		if (*p == '\'') quoted = !quoted;
		else if (*p == '!' && !quoted) bang = p;
	}
	if (quoted) return -1;
	if (bang) {
		r->sheet = unquote_sheet(r->raw, (size_t) (bang - r->raw));
		if (!r->sheet) return -1;
		r->blockable = parse_cells(bang + 1, r) == 0;
		return 0;
	}
	if (parse_cells(r->raw, r) == 0) {
		r->blockable = true;
		return 0;
	}
	if (r->raw[0] == '\'') {			/* A quoted tab name alone. */
		r->sheet = unquote_sheet(r->raw, strlen(r->raw));
		if (!r->sheet) return -1;
		r->blockable = true;
		return 0;
	}
	r->blockable = false;				/* A named range, or a tab name: sent as is. */
	return 0;
}

void cb_sheets_range_col_name(int col, char *buf, size_t len)
{
	char tmp[8];
	int n = 0;

	while (col > 0 && n < 7) {
		col--;
		tmp[n++] = (char) ('A' + col % 26);
		col /= 26;
	}
	if (len < (size_t) n + 1) n = (int) len - 1;
	for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

int cb_sheets_range_block(cb_sheets_range_t const *r, char const *tab, long from, long to, char *out, size_t len)
{
	char sheet[SHEETS_RANGE_MAX] = "", c1[8] = "", c2[8] = "";
	size_t n = 0;
	int w;

	if (!r->blockable) return snprintf(out, len, "%s", r->raw) >= (int) len ? -1 : 0;
	if (tab) {			/* 'name' with ' doubled. */
		sheet[n++] = '\'';
		for (char const *p = tab; *p && n + 4 < sizeof(sheet); p++) {
			if (*p == '\'') sheet[n++] = '\'';
			sheet[n++] = *p;
		}
		if (n + 3 >= sizeof(sheet)) return -1;
		sheet[n++] = '\'';
		sheet[n++] = '!';
		sheet[n] = '\0';
	}
	if (r->c1) {
		cb_sheets_range_col_name(r->c1, c1, sizeof(c1));
		cb_sheets_range_col_name(r->c2, c2, sizeof(c2));
		w = snprintf(out, len, "%s%s%ld:%s%ld", sheet, c1, from, c2, to);
	} else {
		w = snprintf(out, len, "%s%ld:%ld", sheet, from, to);
	}
	return (w < 0 || (size_t) w >= len) ? -1 : 0;
}

void cb_sheets_range_free(cb_sheets_range_t *r)
{
	free(r->raw);
	free(r->sheet);
	r->raw = r->sheet = NULL;
}
