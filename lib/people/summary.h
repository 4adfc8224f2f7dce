/*
 * summary.h - the daily sharing summary to IT (reports { sharing_summary_to }).
 *
 * Once a local day, from sharing_summary_hour on, the people thread reads
 * the sharing report (sharing.h: more devices than policy { max_devices },
 * or sessions at two NASes at once) since the last summary sent (the first
 * time: within policy { device_window }) and, when it names anyone, mails
 * it to IT through the reminders' relay and records a "sharing" audit
 * record (reason "summary").  The store's status key sharing.summary_day
 * remembers the local day it was sent, so a restart the same day sends no
 * second one.  Nothing to report sends nothing and is checked again later
 * that day; a relay that fails is tried again at the next check.  With
 * reminders { dry_run } the message is logged, not sent, not remembered.
 */
#ifndef CETBYOD_PEOPLE_SUMMARY_H
#define CETBYOD_PEOPLE_SUMMARY_H

#include <time.h>

#include "people/people.h"

#define CB_SUMMARY_PEOPLE_MAX	200	/* People listed in one email at most; the rest are counted. */

/** cb_summary_run - send today's summary if due, not yet sent and not empty (conf->sharing_summary_to set). */
void cb_summary_run(cb_people_conf_t const *conf, time_t now);

#endif
