/*
 * tz.h - calendar arithmetic in a named time zone (ICU), civil-date
 * arithmetic, and RFC 3339 times (parsed in or for a zone, formatted in UTC).
 *
 * The school's policy speaks in local calendar days ("valid for 365 days",
 * "counts from 1 September"), while every stored instant is UTC.  A cb_tz_t
 * names a zone ("Europe/London", "GMT-07:00"); it is immutable and may be
 * shared between threads.  It holds the zone's UTC-offset transitions from
 * 1970 to 2100, read from ICU once, and answers from them without opening a
 * calendar; outside that range each call opens its own ICU calendar.  The
 * cb_tz_icu_* functions always ask ICU: the reference the table is tested
 * against.
 */
#ifndef CETBYOD_CORE_TZ_H
#define CETBYOD_CORE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct cb_tz cb_tz_t;

/** cb_tz_new - a zone by its IANA or GMT±hh:mm name.  NULL (and *err set) when unknown. */
cb_tz_t *cb_tz_new(char const *name, char const **err);
void cb_tz_free(cb_tz_t *tz);
char const *cb_tz_name(cb_tz_t const *tz);

/** cb_tz_fields_t - a local date and time; wday 0 (Sunday) .. 6, month 1..12. */
typedef struct {
	int	year, month, day, hour, min, sec, wday;
} cb_tz_fields_t;

/** cb_tz_add_days - same local wall-clock time, days calendar days later.  -1 on error. */
time_t cb_tz_add_days(cb_tz_t const *tz, time_t t, int days);
time_t cb_tz_icu_add_days(cb_tz_t const *tz, time_t t, int days);

/** cb_tz_local_fields - the local date and time of t in tz.  0, or -1 when the calendar fails. */
int cb_tz_local_fields(cb_tz_t const *tz, time_t t, cb_tz_fields_t *f);
int cb_tz_icu_local_fields(cb_tz_t const *tz, time_t t, cb_tz_fields_t *f);

/**
 * cb_tz_local_to_utc - the instant of a local date and time in the zone.
 * A time that falls in a gap (the spring-forward hour) is read with the
 * offset in force before the change, so 01:30 on the last Sunday of March in
 * Europe/London is 01:30 GMT (02:30 BST); a time that occurs twice (the
 * fall-back hour) is its first occurrence.  -1 on error (fields out of range).
 */
time_t cb_tz_local_to_utc(cb_tz_t const *tz, int year, int month, int day, int hour, int min, double sec);

/** cb_tz_icu_local_to_utc - the same through ICU; fields already range-checked (sec 0..59). */
time_t cb_tz_icu_local_to_utc(cb_tz_t const *tz, int year, int month, int day, int hour, int min, int sec);

/** cb_tz_serial_to_utc - a spreadsheet serial date-time (days since 1899-12-30, local) to UTC. -1 on error. */
time_t cb_tz_serial_to_utc(cb_tz_t const *tz, double serial);

/**
 * cb_tz_parse_time - parse an instant: RFC 3339 ("2026-09-01T08:00:00Z",
 * "...+01:00", fractions allowed) or, when tz is given, a local date
 * "2026-09-01" (midnight) or "2026-09-01 08:00[:00]" in that zone.
 * Returns 0 and sets *out, or -1 for anything else.  Never reads past len.
 */
int cb_tz_parse_time(char const *s, size_t len, cb_tz_t const *tz, time_t *out);

/** cb_tz_days_from_civil - days from 1970-01-01 to a proleptic Gregorian date. */
int64_t cb_tz_days_from_civil(int64_t y, unsigned m, unsigned d);

/** cb_tz_days_in_month - 28..31; m is 1..12. */
int cb_tz_days_in_month(int y, int m);

/** cb_tz_format_utc - "2026-09-01T08:00:00Z" into buf (at least 21 bytes).  Returns buf. */
char *cb_tz_format_utc(time_t t, char *buf, size_t len);

/**
 * cb_tz_format_local - t as people in the school read it, in tz:
 * "Tuesday 1 September 2026, 09:00" (English names).  Returns buf ("" when
 * the calendar fails).
 */
char *cb_tz_format_local(cb_tz_t const *tz, time_t t, char *buf, size_t len);

/**
 * cb_tz_local_day - the local date of t in tz ("2026-09-01" into day) and
 * its local hour (0-23); tz NULL: UTC.  0, or -1 when the calendar fails.
 */
int cb_tz_local_day(cb_tz_t const *tz, time_t t, char day[11], int *hour);

#endif
