/*
 * sheets_cols.h - the Sheets source's columns, found in the header row by
 * their configured headers and kept bound between fetches, keyed by column
 * position plus header, so that a header renamed in place (a teacher fixing
 * a typo in the question, which Forms copies to the sheet) keeps its column
 * instead of stopping every update.
 *
 * On each full reading of the header row, for each wanted column:
 *   - exactly one header matches the configured name (trimmed, ignoring
 *     case): that column, wherever it now is;
 *   - two or more match: ambiguous (a question deleted and re-created gets
 *     a second column with the same title): an error naming both columns;
 *   - none matches but the column was bound before: it keeps its binding
 *     (logged once per new header) when it was renamed in place: the column
 *     at its position has a non-empty header that is none of the configured
 *     ones, the row is no narrower than before, and every other column found
 *     by name is still where it was bound.  Otherwise columns moved as well
 *     and which one is meant cannot be told: an error, so the sync holds
 *     rather than misreading;
 *   - none matches and it was never bound: an error for a required column,
 *     absent for an optional one (Revoked).
 * Bindings live in memory: after a restart the configured headers must
 * match again (the error lists the headers).
 */
#ifndef CETBYOD_SOURCES_SHEETS_COLS_H
#define CETBYOD_SOURCES_SHEETS_COLS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "sources/source.h"

#define CB_SHEETS_COLS	5	/* Timestamp, email, agreement, policy version, Revoked. */

/** A column the source wants: its configured header (NULL: not wanted), the option, whether required. */
typedef struct {
	char const	*name;
	char const	*option;
	bool		required;
} cb_sheets_col_want_t;

/** The bindings kept between fetches (zero-initialise, then cb_sheets_cols_init). */
typedef struct {
	int	pos[CB_SHEETS_COLS];		/* 0-based; -1: never bound. */
	char	*header[CB_SHEETS_COLS];	/* The header at pos when last read. */
	int	width;				/* Cells in the header row when last read. */
} cb_sheets_cols_t;

/** cb_sheets_cols_init - no column bound yet. */
void cb_sheets_cols_init(cb_sheets_cols_t *b);

/** cb_sheets_cols_free - forget the bindings. */
void cb_sheets_cols_free(cb_sheets_cols_t *b);

/**
 * cb_sheets_cols_bind - find want[] in header (a JSON array of cells) as
 * described above; out[i] gets column i's 0-based position or -1.  what
 * names the row in messages ("spreadsheet X, the first row of \"A:Z\"").
 * Renames kept are logged through log (may be NULL).  CB_FETCH_OK, or
 * CB_FETCH_ERROR with err naming the column, its option and the headers.
 */
cb_source_result_t cb_sheets_cols_bind(cb_sheets_cols_t *b, cb_sheets_col_want_t const want[CB_SHEETS_COLS],
				       json_object *header, int out[CB_SHEETS_COLS], cb_log_fn_t log, void *log_ctx,
				       char const *what, char *err, size_t errlen);

#endif
