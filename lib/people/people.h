/*
 * people.h - the module's list of people, and the reminder emails.
 *
 * A thread of its own (it talks to the directory and to an SMTP relay,
 * which may be slow) keeps the store's people table, which `cetbyodctl
 * report` and `exception list` read:
 *
 *   every refresh_interval: the directory's staff and exception holders
 *     (cb_ldap_list_people, then cb_ldap_lookup for each), or, without a
 *     directory, everyone with an acknowledgement on record;
 *   whenever the acknowledgements change (cb_people_poke, from the sync):
 *     what each person's acknowledgement says and what the policy decides
 *     for them, from the people last listed;
 *
 * and then, when reminders are on, sends each person whose acknowledgement
 * lapses within one of the configured windows (e.g. 30, 7 and 1 days) one
 * email for the smallest window they are in, at most once per address,
 * acknowledgement and window (the store remembers), at most per_minute a
 * minute, recording each in the audit trail.  In dry_run mode it logs the
 * whole message instead and remembers nothing.
 *
 * With sharing_summary_to set, once a day (from sharing_summary_hour, local
 * time) it also mails IT the people who look like they share credentials
 * (summary.h), through the reminders' relay.
 *
 * A directory or relay that is down costs a log line and a retry at the
 * next round; the table keeps its last good contents.
 */
#ifndef CETBYOD_PEOPLE_H
#define CETBYOD_PEOPLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/ack.h"
#include "audit/audit.h"
#include "directory/ldap.h"
#include "people/mail.h"
#include "core/policy.h"
#include "core/roles.h"
#include "sources/source.h"
#include "store/store.h"

#define CB_PEOPLE_MAX_WINDOWS	8
#define CB_PEOPLE_MAX		200000	/* People listed at most. */

typedef struct {
	bool			enabled;
	bool			dry_run;
	unsigned int		windows[CB_PEOPLE_MAX_WINDOWS];	/* Days before the lapse, any order. */
	size_t			num_windows;
	unsigned int		per_minute;	/* Emails a minute at most; 0: no limit. */
	char const		*template_text;	/* Loaded from the template file; must render. */
	char const		*form_url;	/* %{form_url}. */
	char const		*school;	/* %{school}. */
	cb_mail_conf_t		mail;
} cb_reminders_conf_t;

typedef struct {
	cb_store_t		*store;		/* Shared; must outlive the thread. */
	cb_audit_t		*audit;		/* May be NULL. */
	cb_ldap_conf_t const	*ldap;		/* NULL: no directory. */
	cb_ack_current_t	*acks;		/* The acknowledgements in force. */
	cb_policy_conf_t const	*policy;
	cb_roles_t const	*roles;		/* Roles beyond employees (their names and policies); NULL: none. */
	char const		*email_domain;	/* identity@domain when the directory gives no address. */
	unsigned int		refresh_interval;	/* Seconds between directory listings. */
	cb_reminders_conf_t	reminders;	/* Its mail relay also sends the sharing summary. */
	char const		*sharing_summary_to;	/* IT's address for the daily sharing summary; NULL: none. */
	unsigned int		sharing_summary_hour;	/* Local hour (0-23) from which the day's summary may go. */
	cb_log_fn_t		log;
	void			*log_ctx;
} cb_people_conf_t;

typedef struct cb_people cb_people_t;

/** cb_people_start - start the thread (conf copied, its pointers borrowed); NULL with err set. */
cb_people_t *cb_people_start(cb_people_conf_t const *conf, char *err, size_t errlen);

/** cb_people_poke - the acknowledgements changed: recompute soon.  A cb_sync_change_fn_t-friendly call. */
void cb_people_poke(cb_people_t *p);

/**
 * cb_people_halt - stop the thread and wait for it; cb_people_poke() stays
 * harmless until cb_people_stop().  NULL is fine; once is enough.
 */
void cb_people_halt(cb_people_t *p);

/** cb_people_stop - cb_people_halt(), then free (NULL is fine). */
void cb_people_stop(cb_people_t *p);

/**
 * cb_reminder_window - the smallest of the windows (days) that the instant
 * expiry is within at now, or 0 when it is within none (or already past).
 */
unsigned int cb_reminder_window(unsigned int const *windows, size_t n, time_t expiry, time_t now);

#endif
