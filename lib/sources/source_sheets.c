/*
 * source_sheets.c - acknowledgements read from the form's response
 * spreadsheet through the Sheets API v4 (the "sheets" source).
 *
 * A fetch:
 *   1. Drive files.get?fields=version,modifiedTime: when the spreadsheet's
 *      version is the one of the last successful fetch and this is not a
 *      full fetch, the answer is CB_FETCH_UNCHANGED and nothing is
 *      downloaded.  (If the Drive API is unusable the check is skipped with a
 *      warning: it saves work, it is not needed for correctness.)
 *   1b. With sheets.form_id: forms.get of the form feeding the sheet, which
 *      must collect verified email addresses (or allow_unverified_email be
 *      set) and send its responses to this spreadsheet (check_form).
 *   2. spreadsheets.get?fields=properties.timeZone,sheets.properties(...)
 *      gives the spreadsheet's own time zone, in which its serial date-times
 *      are local times, and its tabs (title, rowCount) so that a deleted or
 *      renamed tab is named in the error.  Only full fetches ask (a zone
 *      or a tab rarely changes, and Sheets allows a service account 60
 *      reads a minute, shared by every server using it): a fetch of a
 *      changed sheet in between uses the zone and tab of the last full
 *      fetch and reads rows until a short block, since the rowCount it
 *      knows may be out of date.  A values.get refused then (a tab renamed
 *      meanwhile) makes the next fetch ask again.
 *   3. values.get on the configured A1 range (header row first) with
 *      valueRenderOption=UNFORMATTED_VALUE and dateTimeRenderOption=
 *      SERIAL_NUMBER, so that a timestamp is a number (days since
 *      1899-12-30, local time) and a formula gives its value.  A range that
 *      can be split ("'Form responses 1'!A:F", "A2:F", a bare tab name) is
 *      read in blocks of rows_per_request rows, each block parsed as it
 *      arrives and dropped, so memory holds one block of JSON at a time.
 *   4. Only for a block whose agreement or policy-version column holds a
 *      cell that this reading gives as a number, date or boolean (a version
 *      typed "1.0" arrives as 1, "2026-09" as a date serial): the same block
 *      again with valueRenderOption=FORMATTED_VALUE, whose text of those
 *      cells is what the sheet shows, as typed.  A sheet of text answers
 *      costs no extra request (one values.get batchGet cannot mix two
 *      renderings).
 *
 * Columns are found by their header, trimmed and ignoring case: timestamp,
 * email, agreement (required), policy version and Revoked (optional); once
 * found they stay bound by position plus header, so a header renamed in
 * place is still read (sheets_cols.h).  A row
 * may be shorter than the header: Google leaves trailing empty cells out.
 * Agreement = the agreement cell is one of agree_value, or one of the
 * choices of a checkbox answer ("I agree, Other"), the rule the Forms source
 * applies (cb_gsource_agrees); any other answer is a withdrawal; a Revoked cell with one of revoked_value revokes the row
 * (empty, FALSE, no, n, 0 leave it alone; anything else is reported and the
 * row skipped, since the intent is unclear).  An empty agreement cell (or a
 * row that ends before it) is no answer: neither agreement nor withdrawal,
 * so the row is reported and skipped and the person's other rows decide
 * (none: no acknowledgement); only a Revoked mark on such a row counts.
 *
 * Timestamps: serial s -> local date-time in the spreadsheet's zone -> UTC
 * with cb_tz_serial_to_utc, which reads the spring-forward gap with the
 * offset before the change and the repeated autumn hour as its first
 * occurrence.  ICU is not cheap per call, so conversions are cached per
 * local hour: an hour whose start and end are exactly 3600 s apart in UTC
 * has one offset throughout, and any time in it is its start plus the
 * seconds into it; an hour containing a change (its ends are 0 or 7200 s
 * apart in Europe/London) is converted exactly, row by row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources/greport.h"
#include "sources/gseen.h"
#include "sources/gsource.h"
#include "sources/sheets_cols.h"
#include "sources/sheets_range.h"
#include "core/identity.h"
#include "core/tz.h"

#define SHEETS_BLOCK_DEFAULT	10000
#define SHEETS_BLOCKS_MAX	10000		/* Bounds the block loop (a sheet has at most 10M cells). */
#define SHEETS_ID_MAX		128
#define SHEETS_URL_MAX		4096
#define SHEETS_RANGE_MAX	512
#define SHEETS_VERSION_MAX	64
#define SHEETS_COLS_MAX		18278		/* ZZZ */
#define SHEETS_HOUR_CACHE	256
#define SHEETS_SCOPES		CB_GOOGLE_SCOPE_SHEETS " https://www.googleapis.com/auth/forms.body.readonly"

typedef struct {
	cb_google_t	*google;		/* First member: see cb_gsource_http. */
	char		*id;
	char		*id_esc;
	cb_sheets_range_t	range;
	char		*col_ts, *col_email, *col_agree, *col_version, *col_revoked;
	char		*form_id, *form_id_esc;	/* The form feeding the sheet; NULL: not checked. */
	bool		allow_unverified;
	cb_strlist_t	agree, revoked, domains;
	uint32_t	block;

	/* State kept between fetches. */
	cb_tz_t		*tz;			/* The spreadsheet's zone, as last read. */
	cb_sheets_cols_t bound;			/* Where the columns were found, kept across header renames. */
	bool		props_known;		/* tz and tab are from a full fetch, and still work. */
	char		*tab;			/* The tab read, as the last full fetch found it; NULL: unknown. */
	bool		have_version;
	char		version[SHEETS_VERSION_MAX];	/* Drive version (or modifiedTime) of the last success. */
} sheets_ctx_t;

/* The columns found in the header row (0-based indexes, -1: absent). */
typedef struct {
	int	ts, email, agree, version, revoked;
	int	width;
} sheets_cols_t;

typedef struct {
	long	key;		/* Local hour index (seconds since the epoch of serials / 3600); -1: empty. */
	time_t	utc;		/* UTC instant of the hour's start. */
} hour_entry_t;

/* The state of one fetch. */
typedef struct {
	cb_source_t		*src;
	sheets_ctx_t		*c;
	cb_ack_builder_t	*b;
	cb_greport_t		report;
	cb_gseen_t		*seen;
	char			*sheet;		/* Tab to read (configured or the first one); NULL: unknown. */
	long			row_count;	/* Rows in the tab, -1: unknown. */
	sheets_cols_t		cols;
	bool			have_header;
	size_t			rows, used;
	json_object		*shown_row;	/* The row being read as FORMATTED_VALUE; NULL: not read. */
	hour_entry_t		hours[SHEETS_HOUR_CACHE];
} sheets_fetch_t;

/*
 *	JSON helpers
 */
static json_object *jget(json_object *o, char const *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object)) return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static char const *jstr(json_object *o, char const *key)
{
	json_object *v = jget(o, key);

	return (v && json_object_is_type(v, json_type_string)) ? json_object_get_string(v) : NULL;
}

/*
 *	Drive: has the spreadsheet changed?
 */
static cb_source_result_t drive_version(sheets_fetch_t *f, char *version, size_t len, unsigned int *retry_after,
				       char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	char url[SHEETS_URL_MAX], what[SHEETS_ID_MAX + 32], msg[512];
	json_object *file = NULL, *v;
	cb_source_result_t rc;
	char const *s = NULL;

	version[0] = '\0';
	snprintf(what, sizeof(what), "spreadsheet %s", c->id);
	if ((size_t) snprintf(url, sizeof(url), "%s/drive/v3/files/%s?fields=version%%2CmodifiedTime&supportsAllDrives=true",
			      cb_google_drive_url(c->google), c->id_esc) >= sizeof(url)) return CB_FETCH_OK;
	rc = cb_google_get_json(c->google, url, CB_GOOGLE_SPREADSHEET, what, &file, retry_after, msg, sizeof(msg));
	if (rc == CB_FETCH_RETRY || rc == CB_FETCH_REJECTED) {	/* Not worth a second token request. */
		snprintf(err, errlen, "%s", msg);
		return rc;
	}
	if (rc != CB_FETCH_OK) {
		if (f->src->log) f->src->log(f->src->log_ctx, CB_LOG_WARN, "sheets: cannot ask Drive whether the "
					     "spreadsheet changed, reading it anyway: %s", msg);
		return CB_FETCH_OK;
	}
	v = jget(file, "version");
	if (v && (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))) {
		s = json_object_get_string(v);
	} else {
		s = jstr(file, "modifiedTime");
	}
	if (s && strlen(s) < len) snprintf(version, len, "%s", s);
	json_object_put(file);
	return CB_FETCH_OK;
}

/*
 *	forms.get: does the form feeding the sheet collect verified addresses?
 *	Asked before each reading of the sheet's rows (a Forms API read, whose
 *	quota is not the Sheets API's), so rows typed in by a form switched to
 *	"Responder input" are never believed; the same check, and the same
 *	refusal, as the Forms source's.
 */
static cb_source_result_t check_form(sheets_fetch_t *f, unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	char url[SHEETS_URL_MAX], what[SHEETS_ID_MAX + 16];
	json_object *form = NULL;
	char const *linked;
	cb_source_result_t rc;

	if (!c->form_id) return CB_FETCH_OK;
	snprintf(what, sizeof(what), "form %s", c->form_id);
	if ((size_t) snprintf(url, sizeof(url), "%s/v1/forms/%s?fields=settings%%2ClinkedSheetId",
			      cb_google_forms_url(c->google), c->form_id_esc) >= sizeof(url)) {
		snprintf(err, errlen, "sheets: the form's URL is too long");
		return CB_FETCH_ERROR;
	}
	rc = cb_google_get_json(c->google, url, CB_GOOGLE_FORM, what, &form, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	rc = cb_gsource_check_email_collection(form, c->form_id, c->allow_unverified, "sheets", err, errlen);
	linked = jstr(form, "linkedSheetId");
	if (rc == CB_FETCH_OK && linked && strcmp(linked, c->id) != 0) {
		snprintf(err, errlen, "form %s (sheets.form_id) sends its responses to spreadsheet %.128s, not to %s "
			 "(sheets.spreadsheet_id)", c->form_id, linked, c->id);
		rc = CB_FETCH_ERROR;
	}
	json_object_put(form);
	return rc;
}

/*
 *	spreadsheets.get: the time zone and the tabs
 */
static void list_tab(char *buf, size_t len, char const *title)
{
	size_t used = strlen(buf);

	if (used + 8 >= len) return;
	snprintf(buf + used, len - used, "%s\"%.60s\"", used ? ", " : "", title);
}

/* The title of sheets[i], or NULL. */
static char const *tab_title(json_object *sheets, size_t i)
{
	return jstr(jget(json_object_array_get_idx(sheets, i), "properties"), "title");
}

/*
 * find_tab - the index of the configured tab (the first tab when none is
 * configured), or -1.  The tab's name must match exactly, as Google wants;
 * failing that, a tab whose name differs only in case is taken (the
 * default tab has been seen both as "Form responses 1" and "Form Responses
 * 1"), since block requests name the tab by its actual title.
 */
static long find_tab(sheets_fetch_t *f, json_object *sheets)
{
	char const *want = f->c->range.sheet, *title;
	size_t n = json_object_array_length(sheets);

	if (!want) return n > 0 ? 0 : -1;
	for (size_t i = 0; i < n; i++) {
		if ((title = tab_title(sheets, i)) && strcmp(title, want) == 0) return (long) i;
	}
	for (size_t i = 0; f->c->range.blockable && i < n; i++) {
		if ((title = tab_title(sheets, i)) && strcasecmp(title, want) == 0) {
			if (f->src->log) f->src->log(f->src->log_ctx, CB_LOG_WARN, "sheets: no tab is named \"%s\"; "
						     "reading \"%s\" (fix sheets.range)", want, title);
			return (long) i;
		}
	}
	return -1;
}

/* Find the tab to read among sheets[] and its rowCount. */
static cb_source_result_t pick_tab(sheets_fetch_t *f, json_object *sheets, char *err, size_t errlen)
{
	char tabs[512] = "";
	size_t n = json_object_array_length(sheets);
	long i = find_tab(f, sheets);
	json_object *props, *rows;
	char const *title;

	if (i < 0 || !(title = tab_title(sheets, (size_t) i))) {
		if (!f->c->range.sheet || n == 0) return CB_FETCH_OK;	/* Nothing known: let values.get say. */
		for (size_t k = 0; k < n; k++) {
			if ((title = tab_title(sheets, k))) list_tab(tabs, sizeof(tabs), title);
		}
		snprintf(err, errlen, "spreadsheet %s has no tab named \"%s\" (sheets.range \"%s\"); its tabs are: %s",
			 f->c->id, f->c->range.sheet, f->c->range.raw, tabs[0] ? tabs : "(none)");
		return CB_FETCH_ERROR;
	}
	free(f->sheet);
	if (!(f->sheet = strdup(title))) {
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	props = jget(json_object_array_get_idx(sheets, (size_t) i), "properties");
	rows = jget(jget(props, "gridProperties"), "rowCount");
	if (rows && json_object_is_type(rows, json_type_int)) f->row_count = (long) json_object_get_int64(rows);
	return CB_FETCH_OK;
}

static cb_source_result_t set_zone(sheets_fetch_t *f, char const *zone, char *err, size_t errlen)
{
	char const *why = NULL;
	cb_tz_t *tz;

	if (!zone || !*zone) {
		snprintf(err, errlen, "spreadsheet %s: spreadsheets.get gave no properties.timeZone", f->c->id);
		return CB_FETCH_ERROR;
	}
	if (f->c->tz && strcmp(cb_tz_name(f->c->tz), zone) == 0) return CB_FETCH_OK;
	tz = cb_tz_new(zone, &why);
	if (!tz) {
		snprintf(err, errlen, "spreadsheet %s has the time zone \"%.64s\", which is not usable: %s", f->c->id,
			 zone, why ? why : "unknown");
		return CB_FETCH_ERROR;
	}
	cb_tz_free(f->c->tz);
	f->c->tz = tz;
	return CB_FETCH_OK;
}

static cb_source_result_t read_properties(sheets_fetch_t *f, unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	char url[SHEETS_URL_MAX], what[SHEETS_ID_MAX + 32];
	json_object *doc = NULL, *sheets;
	cb_source_result_t rc;

	snprintf(what, sizeof(what), "spreadsheet %s", c->id);
	if ((size_t) snprintf(url, sizeof(url), "%s/v4/spreadsheets/%s?fields=properties.timeZone%%2C"
			      "sheets.properties(title%%2CgridProperties.rowCount)",
			      cb_google_sheets_url(c->google), c->id_esc) >= sizeof(url)) {
		snprintf(err, errlen, "sheets: the spreadsheet's URL is too long");
		return CB_FETCH_ERROR;
	}
	rc = cb_google_get_json(c->google, url, CB_GOOGLE_SPREADSHEET, what, &doc, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	rc = set_zone(f, jstr(jget(doc, "properties"), "timeZone"), err, errlen);
	sheets = jget(doc, "sheets");
	if (rc == CB_FETCH_OK && sheets && json_object_is_type(sheets, json_type_array)) rc = pick_tab(f, sheets, err, errlen);
	json_object_put(doc);
	return rc;
}

/*
 * properties - the zone and the tab to read: asked of spreadsheets.get on a
 * full fetch (or when unknown), otherwise those of the last full fetch.
 */
static cb_source_result_t properties(sheets_fetch_t *f, bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	cb_source_result_t rc;

	if (!full && c->props_known && c->tz) {
		if (f->src->log) f->src->log(f->src->log_ctx, CB_LOG_DEBUG, "sheets: the spreadsheet changed; using "
					     "the time zone %s and the tab of the last full read", cb_tz_name(c->tz));
		if (c->tab && !(f->sheet = strdup(c->tab))) goto oom;
		return CB_FETCH_OK;
	}
	rc = read_properties(f, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	if (!f->sheet && c->range.sheet && !(f->sheet = strdup(c->range.sheet))) goto oom;
	free(c->tab);
	c->tab = NULL;
	if (f->sheet && !(c->tab = strdup(f->sheet))) goto oom;
	c->props_known = true;
	return CB_FETCH_OK;
oom:
	snprintf(err, errlen, "out of memory");
	return CB_FETCH_ERROR;
}

/*
 *	Cells
 */

/* A cell's text for comparisons: strings as they are, TRUE/FALSE, numbers as %.15g. */
static char const *cell_text(json_object *cell, char *buf, size_t len)
{
	if (!cell) return "";
	switch (json_object_get_type(cell)) {
	case json_type_string:
		return json_object_get_string(cell);
	case json_type_boolean:
		return json_object_get_boolean(cell) ? "TRUE" : "FALSE";
	case json_type_int:
		snprintf(buf, len, "%lld", (long long) json_object_get_int64(cell));
		return buf;
	case json_type_double:
		snprintf(buf, len, "%.15g", json_object_get_double(cell));
		return buf;
	default:
		return NULL;		/* Objects and arrays have no business in a cell. */
	}
}

static json_object *cell_at(json_object *row, int col)
{
	if (col < 0 || (size_t) col >= json_object_array_length(row)) return NULL;
	return json_object_array_get_idx(row, (size_t) col);
}

/*
 * The cell as people see it: for a cell that the unformatted reading gave
 * as a number, date or boolean, its text from the formatted reading of the
 * row (read_shown), when there is one.
 */
static json_object *shown_at(sheets_fetch_t *f, json_object *row, int col)
{
	json_object *cell = cell_at(row, col), *shown;

	if (!cell || json_object_is_type(cell, json_type_string) || !f->shown_row) return cell;
	shown = cell_at(f->shown_row, col);
	return (shown && json_object_is_type(shown, json_type_string)) ? shown : cell;
}

static bool cell_empty(json_object *cell)
{
	if (!cell || json_object_is_type(cell, json_type_null)) return true;
	if (!json_object_is_type(cell, json_type_string)) return false;
	for (char const *s = json_object_get_string(cell); *s; s++) {
		if (*s != ' ' && *s != '\t') return false;
	}
	return true;
}

/* "row 7, column C (Email address)" */
static void where_cell(sheets_fetch_t *f, long row, int col, char const *header, char *buf, size_t len)
{
	char letters[8];

	cb_sheets_range_col_name((f->c->range.c1 ? f->c->range.c1 : 1) + col, letters, sizeof(letters));
	snprintf(buf, len, "row %ld, column %s (%s)", row, letters, header);
}

/* UTC of a serial date-time in the spreadsheet's zone, through the per-hour cache.  -1 when invalid. */
static time_t serial_utc(sheets_fetch_t *f, double serial)
{
	long long total, key;
	hour_entry_t *e;
	time_t start, next;

	if (!isfinite(serial) || serial < 1.0 || serial >= 2958466.0) return -1;
	total = llround(serial * 86400.0);
	key = total / 3600;
	e = &f->hours[key % SHEETS_HOUR_CACHE];
	if (e->key == key) return e->utc + (time_t) (total - key * 3600);

	start = cb_tz_serial_to_utc(f->c->tz, (double) (key * 3600) / 86400.0);
	next = cb_tz_serial_to_utc(f->c->tz, (double) ((key + 1) * 3600) / 86400.0);
	if (start < 0 || next < 0 || next - start != 3600) return cb_tz_serial_to_utc(f->c->tz, serial);
	e->key = key;
	e->utc = start;
	return start + (time_t) (total - key * 3600);
}

static int read_timestamp(sheets_fetch_t *f, json_object *row, long rownum, time_t *out)
{
	json_object *cell = cell_at(row, f->cols.ts);
	char where[160];
	char const *s, *problem;

	where_cell(f, rownum, f->cols.ts, f->c->col_ts, where, sizeof(where));
	if (cell_empty(cell)) {
		cb_greport_problem(&f->report, "%s: no timestamp; row skipped", where);
		return -1;
	}
	if (json_object_is_type(cell, json_type_double) || json_object_is_type(cell, json_type_int)) {
		*out = serial_utc(f, json_object_get_double(cell));
		if (*out < 0) {
			cb_greport_problem(&f->report, "%s: %.6g is not a date and time; row skipped", where, json_object_get_double(cell));
			return -1;
		}
		return 0;
	}
	if (!json_object_is_type(cell, json_type_string)) {
		cb_greport_problem(&f->report, "%s: not a date and time; row skipped", where);
		return -1;
	}
	s = json_object_get_string(cell);
	if ((problem = cb_gsource_cell_problem(s))) {
		cb_greport_problem(&f->report, "%s: holds %s, not a date and time; row skipped", where, problem);
		return -1;
	}
	if (cb_tz_parse_time(s, (size_t) json_object_get_string_len(cell), f->c->tz, out) < 0) {
		cb_greport_problem(&f->report, "%s: \"%.40s\" is not a date and time; row skipped", where, s);
		return -1;
	}
	return 0;
}

static int read_email(sheets_fetch_t *f, json_object *row, long rownum, char *email, size_t len)
{
	json_object *cell = cell_at(row, f->cols.email);
	char where[160];
	char const *problem;

	where_cell(f, rownum, f->cols.email, f->c->col_email, where, sizeof(where));
	if (cell_empty(cell)) {
		cb_greport_problem(&f->report, "%s: no email address; row skipped", where);
		return -1;
	}
	if (!json_object_is_type(cell, json_type_string)) {
		cb_greport_problem(&f->report, "%s: not an email address; row skipped", where);
		return -1;
	}
	if ((problem = cb_gsource_cell_problem(json_object_get_string(cell)))) {
		cb_greport_problem(&f->report, "%s: holds %s, not an email address; row skipped", where, problem);
		return -1;
	}
	if (!cb_identity_email_normalise(json_object_get_string(cell), (size_t) json_object_get_string_len(cell), email, len)) {
		cb_greport_problem(&f->report, "%s: \"%.60s\" is not a valid email address; row skipped", where,
			   json_object_get_string(cell));
		return -1;
	}
	if (!cb_gsource_domain_allowed(&f->c->domains, email)) {
		cb_greport_problem(&f->report, "%s: %s is not in an allowed domain (sheets.allowed_domain); row skipped", where, email);
		return -1;
	}
	return 0;
}

/*
 * Agreement (0, *agreed set), no answer (1: an empty cell, or a row that
 * ends before it; not reported here, see read_row) or a cell that cannot be
 * trusted (-1, reported).
 */
static int read_agreement(sheets_fetch_t *f, json_object *row, long rownum, bool *agreed)
{
	json_object *cell = shown_at(f, row, f->cols.agree);
	char buf[64], where[160];
	char const *text = cell_text(cell, buf, sizeof(buf)), *problem;

	*agreed = false;
	if (cell_empty(cell)) return 1;
	where_cell(f, rownum, f->cols.agree, f->c->col_agree, where, sizeof(where));
	if (!text || (problem = cb_gsource_cell_problem(text))) {
		cb_greport_problem(&f->report, "%s: holds %s; row skipped", where, text ? problem : "a value of an odd type");
		return -1;
	}
	*agreed = cb_gsource_agrees(&f->c->agree, text, strlen(text), true);	/* Anything else is a withdrawal. */
	return 0;
}

static int read_version(sheets_fetch_t *f, json_object *row, long rownum, char *out, size_t len)
{
	json_object *cell;
	char buf[64], where[160];
	char const *text, *problem;
	size_t n;

	out[0] = '\0';
	if (f->cols.version < 0) return 0;
	cell = shown_at(f, row, f->cols.version);
	if (cell_empty(cell)) return 0;
	where_cell(f, rownum, f->cols.version, f->c->col_version, where, sizeof(where));
	text = json_object_is_type(cell, json_type_boolean) ? NULL : cell_text(cell, buf, sizeof(buf));
	if (!text || (problem = cb_gsource_cell_problem(text))) {
		cb_greport_problem(&f->report, "%s: holds %s; row skipped", where, text ? problem : "a value of an odd type");
		return -1;
	}
	while (*text == ' ' || *text == '\t') text++;
	n = strlen(text);
	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t')) n--;
	if (n >= len) {
		cb_greport_problem(&f->report, "%s: the policy version is too long; row skipped", where);
		return -1;
	}
	memcpy(out, text, n);
	out[n] = '\0';
	return 0;
}

static int read_revoked(sheets_fetch_t *f, json_object *row, long rownum, bool *revoked)
{
	static char const *not_revoked[] = { "no", "n", "false", "0", NULL };
	cb_strlist_t keep = { .v = not_revoked, .n = 4 };
	json_object *cell;
	char buf[64], where[160];
	char const *text, *problem;

	*revoked = false;
	if (f->cols.revoked < 0) return 0;
	cell = cell_at(row, f->cols.revoked);
	if (cell_empty(cell)) return 0;
	where_cell(f, rownum, f->cols.revoked, f->c->col_revoked, where, sizeof(where));
	text = cell_text(cell, buf, sizeof(buf));
	if (!text || (problem = cb_gsource_cell_problem(text))) {
		cb_greport_problem(&f->report, "%s: holds %s; row skipped", where, text ? problem : "a value of an odd type");
		return -1;
	}
	if (cb_strlist_has(&f->c->revoked, text, strlen(text))) {
		*revoked = true;
		return 0;
	}
	if (cb_strlist_has(&keep, text, strlen(text))) return 0;
	cb_greport_problem(&f->report, "%s: \"%.40s\" is neither a revoked_value nor empty/no/false; row skipped", where, text);
	return -1;
}

static bool row_empty(json_object *row)
{
	size_t n = json_object_array_length(row);

	for (size_t i = 0; i < n; i++) {
		if (!cell_empty(json_object_array_get_idx(row, i))) return false;
	}
	return true;
}

/* One data row -> the builder.  -1 only on allocation failure. */
static int read_row(sheets_fetch_t *f, json_object *row, long rownum)
{
	char email[CB_IDENTITY_MAX + 1], version[SHEETS_VERSION_MAX + 1], origin[32];
	time_t when;
	bool agreed, revoked;
	long first = 0;
	int answered;

	if (!json_object_is_type(row, json_type_array) || row_empty(row)) return 0;
	f->rows++;
	if (read_timestamp(f, row, rownum, &when) < 0 || read_email(f, row, rownum, email, sizeof(email)) < 0 ||
	    (answered = read_agreement(f, row, rownum, &agreed)) < 0 ||
	    read_version(f, row, rownum, version, sizeof(version)) < 0 || read_revoked(f, row, rownum, &revoked) < 0) return 0;
	if (answered == 1 && !revoked) {
		char where[160];

		where_cell(f, rownum, f->cols.agree, f->c->col_agree, where, sizeof(where));
		cb_greport_problem(&f->report, "%s: no answer (%s): a blank answer is neither an acknowledgement nor a "
				   "withdrawal; row skipped", where, email);
		return 0;
	}
	revoked = revoked || !agreed;
	if (cb_ack_builder_future(f->b, when, NULL, 0)) {	/* Future-dated: refused (ack.h). */
		char why[160];

		cb_ack_builder_future(f->b, when, why, sizeof(why));
		cb_greport_problem(&f->report, "row %ld (%s): %s", rownum, email, why);
		return 0;
	}

	switch (cb_gseen_check(f->seen, email, when, revoked, rownum, &first)) {
	case CB_GSEEN_DUPLICATE:
		cb_greport_problem(&f->report, "row %ld duplicates row %ld (%s, same time); skipped", rownum, first, email);
		return 0;
	case CB_GSEEN_CONFLICT:
		cb_greport_problem(&f->report, "rows %ld and %ld of %s have the same time, one agreeing and one not; the "
			   "withdrawal counts", first, rownum, email);
		break;
	default:
		break;
	}
	snprintf(origin, sizeof(origin), "sheet:row %ld", rownum);
	if (cb_ack_builder_add(f->b, email, when, version, revoked, origin) < 0) return -1;
	f->used++;
	return 0;
}

/*
 *	The header row: columns bound by position plus header (sheets_cols.c)
 */
static cb_source_result_t read_header(sheets_fetch_t *f, json_object *header, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	cb_sheets_col_want_t const want[CB_SHEETS_COLS] = {
		{ c->col_ts, "sheets.timestamp_column", true },
		{ c->col_email, "sheets.email_column", true },
		{ c->col_agree, "sheets.agreement_column", true },
		{ c->col_version, "sheets.policy_version_column", c->col_version != NULL },
		{ c->col_revoked, "sheets.revoked_column", false },
	};
	int out[CB_SHEETS_COLS];
	char what[SHEETS_RANGE_MAX + SHEETS_ID_MAX + 64];
	cb_source_result_t rc;

	if (!json_object_is_type(header, json_type_array)) {
		snprintf(err, errlen, "spreadsheet %s: the first row of the range is not a row", c->id);
		return CB_FETCH_ERROR;
	}
	snprintf(what, sizeof(what), "spreadsheet %s, the first row of \"%s\"", c->id,
		 c->range.raw[0] ? c->range.raw : "the first tab");
	rc = cb_sheets_cols_bind(&c->bound, want, header, out, f->src->log, f->src->log_ctx, what, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	f->cols.ts = out[0];
	f->cols.email = out[1];
	f->cols.agree = out[2];
	f->cols.version = out[3];
	f->cols.revoked = out[4];
	f->cols.width = (int) json_object_array_length(header);
	f->have_header = true;
	return CB_FETCH_OK;
}

/*
 *	values.get
 */

/* One values.get of a1 with valueRenderOption render: *values (owned by *doc) or an error. */
static cb_source_result_t get_values(sheets_fetch_t *f, char const *a1, char const *render, json_object **doc,
				    json_object **values, unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	char url[SHEETS_URL_MAX], esc[SHEETS_RANGE_MAX * 3], what[SHEETS_RANGE_MAX + SHEETS_ID_MAX + 32];
	cb_source_result_t rc;

	*doc = *values = NULL;
	if (cb_http_escape(cb_google_http(c->google), a1, esc, sizeof(esc)) < 0 ||
	    (size_t) snprintf(url, sizeof(url), "%s/v4/spreadsheets/%s/values/%s?majorDimension=ROWS&"
			      "valueRenderOption=%s%s", cb_google_sheets_url(c->google), c->id_esc, esc, render,
			      strcmp(render, "UNFORMATTED_VALUE") == 0 ? "&dateTimeRenderOption=SERIAL_NUMBER" : "") >=
	    sizeof(url)) {
		snprintf(err, errlen, "sheets.range \"%s\" makes a URL that is too long", c->range.raw);
		return CB_FETCH_ERROR;
	}
	snprintf(what, sizeof(what), "the range %s of spreadsheet %s", a1, c->id);
	rc = cb_google_get_json(c->google, url, CB_GOOGLE_SPREADSHEET, what, doc, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	*values = jget(*doc, "values");
	if (*values && !json_object_is_type(*values, json_type_array)) {
		snprintf(err, errlen, "spreadsheet %s: values.get returned \"values\" that is not a list", c->id);
		json_object_put(*doc);
		*doc = *values = NULL;
		return CB_FETCH_ERROR;
	}
	return CB_FETCH_OK;
}

/* A cell that people typed as text but the unformatted reading gave as a number, date or boolean. */
static bool typed_cell(json_object *row, int col)
{
	json_object *cell = json_object_is_type(row, json_type_array) ? cell_at(row, col) : NULL;

	return cell && !json_object_is_type(cell, json_type_string) && !json_object_is_type(cell, json_type_null);
}

/* Whether rows [from, n) hold an agreement or version cell that only the formatted reading shows as typed. */
static bool needs_shown(sheets_fetch_t *f, json_object *values, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++) {
		json_object *row = json_object_array_get_idx(values, i);

		if (typed_cell(row, f->cols.agree) || (f->cols.version >= 0 && typed_cell(row, f->cols.version))) return true;
	}
	return false;
}

/* The same cell in two readings: both absent, or equal text (a cell that is not text is not compared). */
static bool same_cell(json_object *a, json_object *b)
{
	bool ea = cell_empty(a), eb = cell_empty(b);

	if (ea || eb) return ea == eb;
	if (!json_object_is_type(a, json_type_string)) return true;
	return json_object_is_type(b, json_type_string) && strcmp(json_object_get_string(a), json_object_get_string(b)) == 0;
}

/*
 * read_shown - the block again with FORMATTED_VALUE: the text of each cell
 * as the sheet shows it ("1.0", "2026-09"), which is what the person typed
 * and what the policy's version is written as.  Made only for a block that
 * needs it, so a sheet of text answers costs no extra request.  The two
 * readings must hold the same rows: each row's email cell is compared, and
 * a row added or removed in between makes the fetch RETRY.
 */
static cb_source_result_t read_shown(sheets_fetch_t *f, char const *a1, json_object *values, size_t from,
				    json_object **doc, json_object **shown, unsigned int *retry_after, char *err,
				    size_t errlen)
{
	size_t n = json_object_array_length(values);
	cb_source_result_t rc = get_values(f, a1, "FORMATTED_VALUE", doc, shown, retry_after, err, errlen);

	if (rc != CB_FETCH_OK) return rc;
	for (size_t i = from; i < n; i++) {
		json_object *row = json_object_array_get_idx(values, i);
		json_object *srow = *shown ? json_object_array_get_idx(*shown, i) : NULL;

		if (!json_object_is_type(row, json_type_array)) continue;
		if (!srow || !json_object_is_type(srow, json_type_array) ||
		    !same_cell(cell_at(row, f->cols.email), cell_at(srow, f->cols.email))) {
			snprintf(err, errlen, "spreadsheet %s changed between its two readings of %s (rows moved); reading "
				 "it again", f->c->id, a1);
			json_object_put(*doc);
			*doc = *shown = NULL;
			return CB_FETCH_RETRY;
		}
	}
	return CB_FETCH_OK;
}

static cb_source_result_t read_block(sheets_fetch_t *f, char const *a1, long first_row, long *got,
				    unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = f->c;
	json_object *doc = NULL, *values, *shown_doc = NULL, *shown = NULL;
	cb_source_result_t rc;
	size_t n, i = 0;

	*got = 0;
	rc = get_values(f, a1, "UNFORMATTED_VALUE", &doc, &values, retry_after, err, errlen);
	if (rc != CB_FETCH_OK) return rc;
	n = values ? json_object_array_length(values) : 0;
	*got = (long) n;
	if (!f->have_header) {
		if (n == 0) {
			snprintf(err, errlen, "spreadsheet %s: the range \"%s\" is empty (no header row); check sheets.range",
				 c->id, a1);
			json_object_put(doc);
			return CB_FETCH_ERROR;
		}
		rc = read_header(f, json_object_array_get_idx(values, 0), err, errlen);
		i = 1;
	}
	if (rc == CB_FETCH_OK && needs_shown(f, values, i, n)) {
		rc = read_shown(f, a1, values, i, &shown_doc, &shown, retry_after, err, errlen);
	}
	for (; rc == CB_FETCH_OK && i < n; i++) {
		f->shown_row = shown ? json_object_array_get_idx(shown, i) : NULL;
		if (read_row(f, json_object_array_get_idx(values, i), first_row + (long) i) < 0) {
			snprintf(err, errlen, "out of memory reading spreadsheet %s", c->id);
			rc = CB_FETCH_ERROR;
		}
	}
	f->shown_row = NULL;
	json_object_put(shown_doc);
	json_object_put(doc);
	return rc;
}

static cb_source_result_t read_values(sheets_fetch_t *f, unsigned int *retry_after, char *err, size_t errlen)
{
	cb_sheets_range_t const *r = &f->c->range;
	char a1[SHEETS_RANGE_MAX];
	long from = r->r1, to, got, last = r->r2;
	cb_source_result_t rc;

	if (!r->blockable) {
		if (cb_sheets_range_block(&f->c->range, f->sheet, 0, 0, a1, sizeof(a1)) < 0) goto too_long;
		return read_block(f, a1, r->r1, &got, retry_after, err, errlen);
	}
	if (f->row_count > 0 && (last == 0 || last > f->row_count)) last = f->row_count;
	for (int blocks = 0; blocks < SHEETS_BLOCKS_MAX; blocks++) {
		to = from + (long) f->c->block - 1;
		if (last && to > last) to = last;
		if (cb_sheets_range_block(&f->c->range, f->sheet, from, to, a1, sizeof(a1)) < 0) goto too_long;
		rc = read_block(f, a1, from, &got, retry_after, err, errlen);
		if (rc != CB_FETCH_OK) return rc;
		/*
		 *	Done at the range's (or tab's) last row; without one, at a
		 *	short block (Google leaves trailing empty rows out).  An
		 *	entirely empty block also ends it: data after 10 000 empty
		 *	rows is not a form's response sheet.
		 */
		if (got == 0 || (last ? to >= last : got < to - from + 1)) return CB_FETCH_OK;
		from = to + 1;
	}
	snprintf(err, errlen, "spreadsheet %s: more than %d blocks of rows", f->c->id, SHEETS_BLOCKS_MAX);
	return CB_FETCH_ERROR;
too_long:
	snprintf(err, errlen, "sheets.range \"%s\" is too long", r->raw);
	return CB_FETCH_ERROR;
}

/*
 *	fetch()
 */
static cb_source_result_t sheets_fetch(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				      bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	sheets_ctx_t *c = src->ctx;
	sheets_fetch_t *f;
	char version[SHEETS_VERSION_MAX];
	cb_source_result_t rc;
	bool cached;

	if (retry_after) *retry_after = 0;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->seen = cb_gseen_new())) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return CB_FETCH_ERROR;
	}
	f->src = src;
	f->c = c;
	f->b = b;
	f->report.src = src;
	f->report.complete = true;		/* Every download reads every row. */
	f->row_count = -1;
	for (int i = 0; i < SHEETS_HOUR_CACHE; i++) f->hours[i].key = -1;

	rc = drive_version(f, version, sizeof(version), retry_after, err, errlen);
	if (rc == CB_FETCH_OK && !full && prev && c->have_version && version[0] && strcmp(version, c->version) == 0) {
		if (src->log) src->log(src->log_ctx, CB_LOG_DEBUG, "sheets: spreadsheet unchanged (version %s)", version);
		rc = CB_FETCH_UNCHANGED;
		goto done;
	}
	cached = !full && c->props_known;
	if (rc == CB_FETCH_OK) rc = check_form(f, retry_after, err, errlen);
	if (rc == CB_FETCH_OK) rc = properties(f, full, retry_after, err, errlen);
	if (rc == CB_FETCH_OK) {
		rc = read_values(f, retry_after, err, errlen);
		if (rc == CB_FETCH_ERROR && cached && !f->have_header) {
			/* The first values.get with the zone and tab of the last full read was refused: a tab
			 * renamed or deleted meanwhile?  Ask spreadsheets.get now, so that the error names the
			 * tabs there are. */
			free(f->sheet);
			f->sheet = NULL;
			rc = properties(f, true, retry_after, err, errlen);
			if (rc == CB_FETCH_OK) rc = read_values(f, retry_after, err, errlen);
		}
	}
	if (rc == CB_FETCH_ERROR) c->props_known = false;
	if (rc == CB_FETCH_OK) {
		cb_greport_summary(&f->report, "rows", f->used);
		c->have_version = version[0] != '\0';
		memcpy(c->version, version, sizeof(version));
	}
done:
	cb_gseen_free(f->seen);
	free(f->sheet);
	free(f);
	return rc;
}

/* fetch() as the sync thread calls it: the fetch, and why it must wait when it answers RETRY. */
static cb_source_result_t sheets_fetch_noted(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				  bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	cb_source_result_t rc = sheets_fetch(src, b, prev, full, retry_after, err, errlen);

	cb_gsource_note_retry(src, rc);
	return rc;
}

static void sheets_free(cb_source_t *src)
{
	sheets_ctx_t *c;

	if (!src) return;
	c = src->ctx;
	if (c) {
		cb_google_free(c->google);
		cb_tz_free(c->tz);
		free(c->tab);
		free(c->id);
		free(c->id_esc);
		cb_sheets_range_free(&c->range);
		cb_sheets_cols_free(&c->bound);
		free(c->col_ts);
		free(c->col_email);
		free(c->col_agree);
		free(c->col_version);
		free(c->col_revoked);
		free(c->form_id);
		free(c->form_id_esc);
		cb_strlist_free(&c->agree);
		cb_strlist_free(&c->revoked);
		cb_strlist_free(&c->domains);
		free(c);
	}
	free(src);
}

static bool id_ok(char const *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= SHEETS_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int check_conf(cb_gsource_sheets_conf_t const *conf, char *err, size_t errlen)
{
	if (!conf->spreadsheet_id || !*conf->spreadsheet_id) {
		snprintf(err, errlen, "sheets.spreadsheet_id is required: the id from the spreadsheet's URL "
			 "(https://docs.google.com/spreadsheets/d/<spreadsheet_id>/edit)");
		return -1;
	}
	if (!id_ok(conf->spreadsheet_id)) {
		snprintf(err, errlen, "sheets.spreadsheet_id \"%.80s\" is not a spreadsheet id (letters, digits, '-' "
			 "and '_' from the spreadsheet's URL)", conf->spreadsheet_id);
		return -1;
	}
	if (!conf->agreement_column || !*conf->agreement_column) {
		snprintf(err, errlen, "sheets.agreement_column is required: the header of the agreement question's column");
		return -1;
	}
	if (conf->range && strlen(conf->range) >= SHEETS_RANGE_MAX / 2) {
		snprintf(err, errlen, "sheets.range is too long");
		return -1;
	}
	for (size_t i = 0; i < conf->agree_values.n; i++) {
		if (!conf->agree_values.v[i] || !*conf->agree_values.v[i]) {
			snprintf(err, errlen, "sheets.agree_value must not be empty");
			return -1;
		}
	}
	if (conf->rows_per_request > 1000000) {
		snprintf(err, errlen, "sheets.rows_per_request %u is out of range (1..1000000)", conf->rows_per_request);
		return -1;
	}
	if (conf->form_id && *conf->form_id && !id_ok(conf->form_id)) {
		snprintf(err, errlen, "sheets.form_id \"%.80s\" is not a form id (letters, digits, '-' and '_' from the "
			 "form's edit URL)", conf->form_id);
		return -1;
	}
	if ((!conf->form_id || !*conf->form_id) && !conf->allow_unverified_email) {
		snprintf(err, errlen, "sheets.form_id is required: the form feeding the sheet (from its edit URL), checked "
			 "to collect verified email addresses; or set sheets.allow_unverified_email = yes to trust typed "
			 "addresses");
		return -1;
	}
	return 0;
}

static char *dup_default(char const *s, char const *dflt)
{
	if (s && *s) return strdup(s);
	return dflt ? strdup(dflt) : NULL;
}

cb_source_t *cb_gsource_sheets_new(cb_gsource_sheets_conf_t const *conf, cb_google_conf_t const *google,
				  cb_log_fn_t log, void *log_ctx, char *err, size_t errlen)
{
	static char const *default_agree[] = { "I agree", NULL };
	static char const *default_revoked[] = { "yes", "y", "true", "revoked", "withdrawn", "x", NULL };
	cb_source_t *src;
	sheets_ctx_t *c;
	char esc[SHEETS_ID_MAX * 3 + 1];

	if (check_conf(conf, err, errlen) < 0) return NULL;
	src = cb_source_new("sheets", sheets_fetch_noted, sheets_free, sizeof(*c), log, log_ctx);
	if (!src) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c = src->ctx;

	c->block = conf->rows_per_request ? conf->rows_per_request : SHEETS_BLOCK_DEFAULT;
	cb_sheets_cols_init(&c->bound);
	if (cb_sheets_range_parse(conf->range, &c->range) < 0) {
		snprintf(err, errlen, "sheets.range \"%s\" is not valid A1 notation (quote tab names with spaces: "
			 "'Form responses 1'!A:Z)", conf->range);
		sheets_free(src);
		return NULL;
	}
	c->id = strdup(conf->spreadsheet_id);
	c->allow_unverified = conf->allow_unverified_email;
	if (conf->form_id && *conf->form_id && !(c->form_id = strdup(conf->form_id))) {
		snprintf(err, errlen, "out of memory");
		sheets_free(src);
		return NULL;
	}
	c->col_ts = dup_default(conf->timestamp_column, "Timestamp");
	c->col_email = dup_default(conf->email_column, "Email address");
	c->col_agree = strdup(conf->agreement_column);
	c->col_version = dup_default(conf->policy_version_column, NULL);
	c->col_revoked = dup_default(conf->revoked_column, "Revoked");
	if (!c->id || !c->col_ts || !c->col_email || !c->col_agree || !c->col_revoked ||
	    (conf->policy_version_column && *conf->policy_version_column && !c->col_version) ||
	    cb_strlist_copy(&c->agree, &conf->agree_values, default_agree) < 0 ||
	    cb_strlist_copy(&c->revoked, &conf->revoked_values, default_revoked) < 0 ||
	    cb_strlist_copy(&c->domains, &conf->allowed_domains, NULL) < 0) {
		snprintf(err, errlen, "out of memory");
		sheets_free(src);
		return NULL;
	}
	c->google = cb_google_new(google, c->form_id ? SHEETS_SCOPES : CB_GOOGLE_SCOPE_SHEETS, err, errlen);
	if (!c->google) {
		sheets_free(src);
		return NULL;
	}
	if (cb_http_escape(cb_google_http(c->google), c->id, esc, sizeof(esc)) < 0 || !(c->id_esc = strdup(esc)) ||
	    (c->form_id && (cb_http_escape(cb_google_http(c->google), c->form_id, esc, sizeof(esc)) < 0 ||
			    !(c->form_id_esc = strdup(esc))))) {
		snprintf(err, errlen, "out of memory");
		sheets_free(src);
		return NULL;
	}
	return src;
}
