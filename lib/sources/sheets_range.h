/*
 * sheets_range.h - the A1 range the Sheets source reads (sheets.range),
 * split so that it can be read in blocks of rows: "'Form responses 1'!A:F",
 * "A2:F", a bare quoted tab name, or "" (the whole first tab).  Something
 * that is not plain A1 (a named range, an unquoted tab name) is kept raw and
 * read in one request.
 */
#ifndef CETBYOD_SOURCES_SHEETS_RANGE_H
#define CETBYOD_SOURCES_SHEETS_RANGE_H

#include <stdbool.h>
#include <stddef.h>

/** A1 range, split so that it can be read in blocks of rows. */
typedef struct {
	char		*raw;		/* As configured ("" for the whole first tab). */
	char		*sheet;		/* Tab name, unquoted; NULL: the first tab. */
	bool		blockable;	/* Parsed; otherwise raw is sent as it is, once. */
	int		c1, c2;		/* 1-based columns; 0: whole rows. */
	long		r1, r2;		/* 1-based rows; r2 = 0: to the end. */
} cb_sheets_range_t;

/**
 * cb_sheets_range_parse - split the configured range raw (NULL: "") into r.
 * -1 only on allocation failure or broken quoting (r then needs
 * cb_sheets_range_free all the same).
 */
int cb_sheets_range_parse(char const *raw, cb_sheets_range_t *r);

/** cb_sheets_range_free - free r's strings. */
void cb_sheets_range_free(cb_sheets_range_t *r);

/** cb_sheets_range_col_name - 1-based column -> letters ("A".."ZZZ") in buf. */
void cb_sheets_range_col_name(int col, char *buf, size_t len);

/**
 * cb_sheets_range_block - the A1 text of rows [from, to] of r in tab (the
 * tab's actual title, quoted here; NULL: none), or r->raw when r is not
 * blockable.  -1 when it does not fit in out.
 */
int cb_sheets_range_block(cb_sheets_range_t const *r, char const *tab, long from, long to, char *out, size_t len);

#endif
