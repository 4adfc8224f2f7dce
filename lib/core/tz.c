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

#define CB_TZ_NAME_MAX 64

struct cb_tz {
	char	name[CB_TZ_NAME_MAX];
	UChar	uname[CB_TZ_NAME_MAX];
	int32_t	ulen;
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
	return tz;
}

void cb_tz_free(cb_tz_t *tz)
{
	free(tz);
}

char const *cb_tz_name(cb_tz_t const *tz)
{
	return tz->name;
}

time_t cb_tz_add_days(cb_tz_t const *tz, time_t t, int days)
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
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal;
	UDate millis;
	int whole = (int) floor(sec);

	if ((year < 1900) || (year > 9999) || (month < 1) || (month > 12) || (day < 1) || (day > 31) ||
	    (day > cb_tz_days_in_month(year, month)) ||
	    (hour < 0) || (hour > 23) || (min < 0) || (min > 59) || (sec < 0) || (sec >= 61)) return -1;
	if (whole == 60) whole = 59;	/* A leap second is read as the second before it. */

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

char *cb_tz_format_utc(time_t t, char *buf, size_t len)
{
	int64_t days = (int64_t) t / 86400, sod = (int64_t) t % 86400;
	int y, m, d;

	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
		 (int) (sod / 3600), (int) ((sod / 60) % 60), (int) (sod % 60));
	return buf;
}

char *cb_tz_format_local(cb_tz_t const *tz, time_t t, char *buf, size_t len)
{
	static char const *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
	static char const *const months[] = { "January", "February", "March", "April", "May", "June", "July",
					      "August", "September", "October", "November", "December" };
	UErrorCode status = U_ZERO_ERROR;
	UCalendar *cal = open_calendar(tz);
	int32_t wday, mday, mon, year, hour, min;

	if (len) buf[0] = '\0';
	if (!cal) return buf;
	ucal_setMillis(cal, (UDate) t * 1000.0, &status);
	wday = ucal_get(cal, UCAL_DAY_OF_WEEK, &status);
	mday = ucal_get(cal, UCAL_DATE, &status);
	mon = ucal_get(cal, UCAL_MONTH, &status);
	year = ucal_get(cal, UCAL_YEAR, &status);
	hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &status);
	min = ucal_get(cal, UCAL_MINUTE, &status);
	ucal_close(cal);
	if (U_FAILURE(status) || wday < 1 || wday > 7 || mon < 0 || mon > 11) return buf;
	snprintf(buf, len, "%s %d %s %d, %02d:%02d", days[wday - 1], mday, months[mon], year, hour, min);
	return buf;
}

int cb_tz_local_day(cb_tz_t const *tz, time_t t, char day[11], int *hour)
{
	UErrorCode status = U_ZERO_ERROR;
	int32_t mday, mon, year;
	UCalendar *cal;
	struct tm tm;

	if (!tz) {
		if (!gmtime_r(&t, &tm)) return -1;
		snprintf(day, 11, "%04u-%02u-%02u", (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
			 (unsigned) tm.tm_mday % 100u);
		*hour = tm.tm_hour;
		return 0;
	}
	if (!(cal = open_calendar(tz))) return -1;
	ucal_setMillis(cal, (UDate) t * 1000.0, &status);
	mday = ucal_get(cal, UCAL_DATE, &status);
	mon = ucal_get(cal, UCAL_MONTH, &status);
	year = ucal_get(cal, UCAL_YEAR, &status);
	*hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &status);
	ucal_close(cal);
	if (U_FAILURE(status) || mon < 0 || mon > 11 || year < 0 || year > 9999 || mday < 1 || mday > 31) return -1;
	snprintf(day, 11, "%04u-%02u-%02u", (unsigned) year % 10000u, (unsigned) (mon + 1) % 100u, (unsigned) mday % 100u);
	return 0;
}
