/*
 * tz.c - calendar arithmetic in a named time zone, through ICU's ucal API,
 * and strict parsing and formatting of RFC 3339 instants.
 *
 * Why ICU: the C library can only convert in the process's own TZ, which a
 * threaded radiusd must not change, while the school's zone and a
 * spreadsheet's zone are configuration and data.  ICU carries the tz
 * database and converts in any zone without touching process state.  Each
 * call opens its own UCalendar (ICU caches the zone data), so a cb_tz_t is
 * immutable and shared freely between threads.
 *
 * The request path must not open a calendar per request (issue 13), so
 * cb_tz_new also asks ICU, once, for the zone's UTC-offset transitions from
 * 1970 to 2100 and keeps them in a table; the conversions (instant -> local
 * fields, local fields -> instant, adding calendar days) are then a binary
 * search in it, with exactly ICU's rules for gaps and overlaps (reproduced
 * below, and checked against ICU by tests/unit/test_tz_table.c).  Outside
 * the table's range the ICU path answers, as before.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "core/tz.h"

static void civil_from_days(int64_t z, int *y, int *m, int *d);

#define CB_TZ_NAME_MAX 64

#define TZ_TABLE_FROM	INT64_C(0)		/* 1970-01-01T00:00:00Z */
#define TZ_TABLE_TO	INT64_C(4102444800)	/* 2100-01-01T00:00:00Z */
#define TZ_TABLE_MAX	2048			/* spans; ~2 a year for the busiest zones */
#define TZ_MARGIN	(2 * 86400)		/* keeps every offset adjustment inside the table */

/*
 *	One span of the table: from instant at (seconds) on, the zone is off
 *	seconds ahead of UTC.  wall is the first local time read with this span's
 *	offset: at + max(previous offset, off), which is ICU's rule for both the
 *	gap (a skipped local time takes the offset before the change) and the
 *	overlap (a repeated local time is its first occurrence).
 */
typedef struct {
	int64_t	at;
	int64_t	wall;
	int32_t	off;
} tz_span_t;

struct cb_tz {
	char		name[CB_TZ_NAME_MAX];
	UChar		uname[CB_TZ_NAME_MAX];
	int32_t		ulen;
	tz_span_t	*spans;		/* NULL: no table, ICU answers everything */
	size_t		nspans;
	int64_t		hi;		/* The table covers instants [TZ_TABLE_FROM, hi). */
};

static bool is_leap(int y)
{
	return ((y % 4) == 0 && (y % 100) != 0) || ((y % 400) == 0);
}

int cb_tz_days_in_month(int y, int m)
{
	static int const dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
}

/** open_calendar - a fresh Gregorian calendar in tz; NULL on ICU failure. */
static UCalendar *open_calendar(cb_tz_t const *tz)
{
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal = ucal_open(tz->uname, tz->ulen, "en_GB", UCAL_GREGORIAN, &status);

	if (U_FAILURE(status)) return NULL;
	/*
	 *	Lenient, because a strict ICU calendar refuses wall times in a
	 *	gap instead of applying UCAL_SKIPPED_WALL_TIME; the fields are
	 *	range-checked before they get here.
	 */
	ucal_setAttribute(cal, UCAL_LENIENT, 1);
	ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
	ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_LAST);
	return cal;
}

/** icu_offset - the zone's total offset (seconds) at instant ms; INT32_MIN on failure or a fractional offset. */
static int32_t icu_offset(UCalendar *cal, UDate ms)
{
	UErrorCode status = U_ZERO_ERROR;
	int32_t off;

	ucal_setMillis(cal, ms, &status);
	off = ucal_get(cal, UCAL_ZONE_OFFSET, &status) + ucal_get(cal, UCAL_DST_OFFSET, &status);
	if (U_FAILURE(status) || (off % 1000) != 0) return INT32_MIN;
	return off / 1000;
}

/** table_push - append a span; false when the offset is unusable or the wall times would not increase. */
static bool table_push(cb_tz_t *tz, int64_t at, int32_t off)
{
	tz_span_t *s = &tz->spans[tz->nspans];
	int32_t prev;

	if (off == INT32_MIN || off <= -86400 || off >= 86400) return false;
	if (tz->nspans == 0) {
		s->at = at;
		s->wall = INT64_MIN;
		s->off = off;
		tz->nspans = 1;
		return true;
	}
	prev = tz->spans[tz->nspans - 1].off;
	if (off == prev) return true;		/* Only the split between standard and DST changed. */
	s->at = at;
	s->off = off;
	s->wall = at + (prev > off ? prev : off);
	if (tz->nspans > 1 && s->wall <= tz->spans[tz->nspans - 1].wall) return false;
	tz->nspans++;
	return true;
}

/**
 * table_build - the zone's offsets from TZ_TABLE_FROM to TZ_TABLE_TO, from
 * ICU's own transitions.  On any surprise the table is dropped and ICU
 * answers everything, as before.
 */
static void table_build(cb_tz_t *tz)
{
	UCalendar *cal = open_calendar(tz);
	UErrorCode status = U_ZERO_ERROR;
	UDate next;
	bool ok;

	if (!cal) return;
	tz->spans = calloc(TZ_TABLE_MAX, sizeof(*tz->spans));
	tz->hi = TZ_TABLE_TO;
	ok = tz->spans && table_push(tz, TZ_TABLE_FROM, icu_offset(cal, (UDate) TZ_TABLE_FROM * 1000.0));
	ucal_setMillis(cal, (UDate) TZ_TABLE_FROM * 1000.0, &status);
	while (ok) {
		if (!ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next, &status) ||
		    U_FAILURE(status) || next >= (UDate) TZ_TABLE_TO * 1000.0) break;
		if (fmod(next, 1000.0) != 0.0) {
			ok = false;
			break;
		}
		if (tz->nspans == TZ_TABLE_MAX) {	/* A busy zone: the table ends here, ICU beyond. */
			tz->hi = (int64_t) (next / 1000.0);
			break;
		}
		ok = table_push(tz, (int64_t) (next / 1000.0), icu_offset(cal, next));
	}
	ucal_close(cal);
	if (!ok || U_FAILURE(status)) {
		free(tz->spans);
		tz->spans = NULL;
		tz->nspans = 0;
	}
}

/** table_covers - whether the table answers for instant t (with room for a day's adjustment either side). */
static bool table_covers(cb_tz_t const *tz, int64_t t)
{
	return tz->spans && t >= TZ_TABLE_FROM + TZ_MARGIN && t < tz->hi - TZ_MARGIN;
}

/** table_find - the last span starting at or before key: an instant, or a local time when by_wall. */
static tz_span_t const *table_find(cb_tz_t const *tz, int64_t key, bool by_wall)
{
	size_t lo = 0, hi = tz->nspans;

	while (hi - lo > 1) {			/* spans[lo] <= key < spans[hi] */
		size_t mid = lo + (hi - lo) / 2;

		if ((by_wall ? tz->spans[mid].wall : tz->spans[mid].at) <= key) lo = mid;
		else hi = mid;
	}
	return &tz->spans[lo];
}

/** table_offset - the offset at instant t (table_covers(t)). */
static int32_t table_offset(cb_tz_t const *tz, int64_t t)
{
	return table_find(tz, t, false)->off;
}

/** table_from_wall - the instant of local time w (seconds, as if UTC), gaps and overlaps as ICU reads them. */
static int64_t table_from_wall(cb_tz_t const *tz, int64_t w)
{
	return w - table_find(tz, w, true)->off;
}

static int64_t wall_in_day(int64_t local)
{
	int64_t r = local % 86400;

	return r < 0 ? r + 86400 : r;
}

/**
 * table_add_days - ICU's Calendar::add(UCAL_DATE) with the wall time kept:
 * move by whole days of 86,400 s; if the local time of day changed because
 * the offset did, shift back by the difference, unless that lands in a gap
 * the wrong way (UCAL_WALLTIME_LAST keeps the unshifted instant).
 */
static int64_t table_add_days(cb_tz_t const *tz, int64_t t, int64_t t1)
{
	int32_t off0 = table_offset(tz, t), off1 = table_offset(tz, t1);
	int64_t wall0 = wall_in_day(t + off0), adj;

	if (wall_in_day(t1 + off1) == wall0 || off1 == off0) return t1;
	adj = (int64_t) (off0 - off1) % 86400;
	if (adj == 0) return t1;
	if (wall_in_day(t1 + adj + table_offset(tz, t1 + adj)) != wall0 && adj < 0) return t1;
	return t1 + adj;
}

cb_tz_t *cb_tz_new(char const *name, char const **err)
{
	cb_tz_t *tz;
	UChar canonical[CB_TZ_NAME_MAX];
	UBool is_system = 0;
	UErrorCode status = U_ZERO_ERROR;
	size_t len;

	if (!name || !*name) {
		*err = "time zone name is empty";
		return NULL;
	}
	len = strlen(name);
	if (len >= CB_TZ_NAME_MAX) {
		*err = "time zone name is too long";
		return NULL;
	}
	tz = calloc(1, sizeof(*tz));
	if (!tz) {
		*err = "out of memory";
		return NULL;
	}
	memcpy(tz->name, name, len + 1);
	u_strFromUTF8(tz->uname, CB_TZ_NAME_MAX, &tz->ulen, name, (int32_t) len, &status);
	if (U_FAILURE(status)) {
		free(tz);
		*err = "time zone name is not valid UTF-8";
		return NULL;
	}
	/*
	 *	ICU silently falls back to GMT for names it does not know, so ask
	 *	for the canonical ID first: an unknown name is an error here.
	 */
	ucal_getCanonicalTimeZoneID(tz->uname, tz->ulen, canonical, CB_TZ_NAME_MAX, &is_system, &status);
	if (U_FAILURE(status)) {
		free(tz);
		*err = "unknown time zone (use an IANA name such as Europe/London, or GMT+hh:mm)";
		return NULL;
	}
	table_build(tz);
	return tz;
}

void cb_tz_free(cb_tz_t *tz)
{
	if (!tz) return;
	free(tz->spans);
	free(tz);
}

char const *cb_tz_name(cb_tz_t const *tz)
{
	return tz->name;
}

time_t cb_tz_add_days(cb_tz_t const *tz, time_t t, int days)
{
	int64_t t1 = (int64_t) t + (int64_t) days * 86400;

	if (days == 0) return t;
	if (table_covers(tz, t) && table_covers(tz, t1)) return (time_t) table_add_days(tz, t, t1);
	return cb_tz_icu_add_days(tz, t, days);
}

time_t cb_tz_icu_add_days(cb_tz_t const *tz, time_t t, int days)
{
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal = open_calendar(tz);
	UDate millis;

	if (!cal) return -1;
	ucal_setMillis(cal, (UDate) t * 1000.0, &status);
	ucal_add(cal, UCAL_DATE, days, &status);
	millis = ucal_getMillis(cal, &status);
	ucal_close(cal);
	if (U_FAILURE(status)) return -1;
	return (time_t) floor(millis / 1000.0);
}

time_t cb_tz_local_to_utc(cb_tz_t const *tz, int year, int month, int day, int hour, int min, double sec)
{
	int whole = (int) floor(sec);
	int64_t w;

	if ((year < 1900) || (year > 9999) || (month < 1) || (month > 12) || (day < 1) || (day > 31) ||
	    (day > cb_tz_days_in_month(year, month)) ||
	    (hour < 0) || (hour > 23) || (min < 0) || (min > 59) || (sec < 0) || (sec >= 61)) return -1;
	if (whole == 60) whole = 59;	/* A leap second is read as the second before it. */

	w = cb_tz_days_from_civil(year, (unsigned) month, (unsigned) day) * 86400 + hour * 3600 + min * 60 + whole;
	if (table_covers(tz, w)) return (time_t) table_from_wall(tz, w);
	return cb_tz_icu_local_to_utc(tz, year, month, day, hour, min, whole);
}

time_t cb_tz_icu_local_to_utc(cb_tz_t const *tz, int year, int month, int day, int hour, int min, int whole)
{
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal;
	UDate millis;

	cal = open_calendar(tz);
	if (!cal) return -1;
	ucal_clear(cal);
	ucal_setDateTime(cal, year, month - 1, day, hour, min, whole, &status);
	millis = ucal_getMillis(cal, &status);
	ucal_close(cal);
	if (U_FAILURE(status)) return -1;
	return (time_t) floor(millis / 1000.0);
}

/*
 *	Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, and
 *	back (Howard Hinnant's civil calendar algorithms).
 */
int64_t cb_tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) ((int64_t) yoe + era * 400 + (*m <= 2));
}

time_t cb_tz_serial_to_utc(cb_tz_t const *tz, double serial)
{
	int64_t total, days, sod;
	int y, m, d;

	/* 1 (1899-12-31) .. 2958465 (9999-12-31); anything else is not a date. */
	if (!isfinite(serial) || (serial < 1.0) || (serial >= 2958466.0)) return -1;

	total = llround(serial * 86400.0);
	days = total / 86400;
	sod = total % 86400;
	civil_from_days(cb_tz_days_from_civil(1899, 12, 30) + days, &y, &m, &d);
	return cb_tz_local_to_utc(tz, y, m, d, (int) (sod / 3600), (int) ((sod / 60) % 60), (double) (sod % 60));
}

/*
 *	Strict fixed-width field readers.  Each consumes exactly n digits from
 *	*p (never past end) or fails.
 */
static int read_digits(char const **p, char const *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n) return -1;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9') return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(char const **p, char const *end, char c)
{
	if (*p >= end || **p != c) return -1;
	(*p)++;
	return 0;
}

int cb_tz_parse_time(char const *s, size_t len, cb_tz_t const *tz, time_t *out)
{
	char const *p = s, *end = s + len;
	int y, mo, d, h = 0, mi = 0, sec = 0, off_h, off_m, sign;
	int64_t t;

	if (!s) return -1;
	if (read_digits(&p, end, 4, &y) < 0 || expect(&p, end, '-') < 0 ||
	    read_digits(&p, end, 2, &mo) < 0 || expect(&p, end, '-') < 0 ||
	    read_digits(&p, end, 2, &d) < 0) return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > cb_tz_days_in_month(y, mo) || y < 1900) return -1;

	if (p == end) {			/* Date only: local midnight. */
		if (!tz) return -1;
		t = cb_tz_local_to_utc(tz, y, mo, d, 0, 0, 0);
		if (t < 0) return -1;
		*out = (time_t) t;
		return 0;
	}
	if (*p != 'T' && *p != 't' && *p != ' ') return -1;
	p++;
	if (read_digits(&p, end, 2, &h) < 0 || expect(&p, end, ':') < 0 ||
	    read_digits(&p, end, 2, &mi) < 0) return -1;
	if (p < end && *p == ':') {
		p++;
		if (read_digits(&p, end, 2, &sec) < 0) return -1;
		if (p < end && *p == '.') {	/* Fraction: digits, ignored (sub-second). */
			char const *q = ++p;

			while (p < end && *p >= '0' && *p <= '9' && (p - q) < 12) p++;
			if (p == q) return -1;
		}
	}
	if (h > 23 || mi > 59 || sec > 60) return -1;
	if (sec == 60) sec = 59;

	if (p == end) {			/* No offset: local time in tz. */
		if (!tz) return -1;
		t = cb_tz_local_to_utc(tz, y, mo, d, h, mi, sec);
		if (t < 0) return -1;
		*out = (time_t) t;
		return 0;
	}
	if (*p == 'Z' || *p == 'z') {
		off_h = off_m = 0;
		sign = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = (*p == '-') ? -1 : 1;
		p++;
		if (read_digits(&p, end, 2, &off_h) < 0 || expect(&p, end, ':') < 0 ||
		    read_digits(&p, end, 2, &off_m) < 0) return -1;
		if (off_h > 23 || off_m > 59) return -1;
	} else {
		return -1;
	}
	if (p != end) return -1;

	t = cb_tz_days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (off_h * 3600 + off_m * 60);
	*out = (time_t) t;
	return 0;
}

/** put_digits - v as exactly n decimal digits at p (v < 10^n). */
static void put_digits(char *p, int v, int n)
{
	while (n--) {
		p[n] = (char) ('0' + v % 10);
		v /= 10;
	}
}

char *cb_tz_format_utc(time_t t, char *buf, size_t len)
{
	int64_t days = (int64_t) t / 86400, sod = (int64_t) t % 86400;
	int y, m, d;

	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || len < sizeof("2026-09-01T08:00:00Z")) {	/* Rare: snprintf's widths and cut. */
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
			 (int) (sod / 3600), (int) ((sod / 60) % 60), (int) (sod % 60));
		return buf;
	}
	/* On every request's decision line: digits placed without snprintf's format parsing. */
	memcpy(buf, "0000-00-00T00:00:00Z", sizeof("2026-09-01T08:00:00Z"));
	put_digits(buf, y, 4);
	put_digits(buf + 5, m, 2);
	put_digits(buf + 8, d, 2);
	put_digits(buf + 11, (int) (sod / 3600), 2);
	put_digits(buf + 14, (int) ((sod / 60) % 60), 2);
	put_digits(buf + 17, (int) (sod % 60), 2);
	return buf;
}

int cb_tz_local_fields(cb_tz_t const *tz, time_t t, cb_tz_fields_t *f)
{
	int64_t local, days, sod;

	if (!table_covers(tz, t)) return cb_tz_icu_local_fields(tz, t, f);
	local = (int64_t) t + table_offset(tz, t);
	days = local / 86400;
	sod = local % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &f->year, &f->month, &f->day);
	f->hour = (int) (sod / 3600);
	f->min = (int) ((sod / 60) % 60);
	f->sec = (int) (sod % 60);
	f->wday = (int) (((days % 7) + 11) % 7);	/* 1970-01-01 was a Thursday (4). */
	return 0;
}

int cb_tz_icu_local_fields(cb_tz_t const *tz, time_t t, cb_tz_fields_t *f)
{
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal = open_calendar(tz);

	if (!cal) return -1;
	ucal_setMillis(cal, (UDate) t * 1000.0, &status);
	f->wday = ucal_get(cal, UCAL_DAY_OF_WEEK, &status) - 1;
	f->day = ucal_get(cal, UCAL_DATE, &status);
	f->month = ucal_get(cal, UCAL_MONTH, &status) + 1;
	f->year = ucal_get(cal, UCAL_YEAR, &status);
	f->hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &status);
	f->min = ucal_get(cal, UCAL_MINUTE, &status);
	f->sec = ucal_get(cal, UCAL_SECOND, &status);
	ucal_close(cal);
	if (U_FAILURE(status) || f->wday < 0 || f->wday > 6 || f->month < 1 || f->month > 12 || f->year < 0 ||
	    f->year > 9999 || f->day < 1 || f->day > 31) return -1;
	return 0;
}

char *cb_tz_format_local(cb_tz_t const *tz, time_t t, char *buf, size_t len)
{
	static char const *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
	static char const *const months[] = { "January", "February", "March", "April", "May", "June", "July",
					      "August", "September", "October", "November", "December" };
	cb_tz_fields_t f;

	if (len) buf[0] = '\0';
	if (cb_tz_local_fields(tz, t, &f) < 0) return buf;
	snprintf(buf, len, "%s %d %s %d, %02d:%02d", days[f.wday], f.day, months[f.month - 1], f.year, f.hour, f.min);
	return buf;
}

int cb_tz_local_day(cb_tz_t const *tz, time_t t, char day[11], int *hour)
{
	cb_tz_fields_t f;
	struct tm tm;

	if (!tz) {
		if (!gmtime_r(&t, &tm)) return -1;
		snprintf(day, 11, "%04u-%02u-%02u", (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
			 (unsigned) tm.tm_mday % 100u);
		*hour = tm.tm_hour;
		return 0;
	}
	if (cb_tz_local_fields(tz, t, &f) < 0) return -1;
	*hour = f.hour;
	snprintf(day, 11, "%04u-%02u-%02u", (unsigned) f.year % 10000u, (unsigned) f.month % 100u, (unsigned) f.day % 100u);
	return 0;
}
