/*
 * rlm_cetbyod.h - private header of the module glue: the instance data
 * shared by rlm_cetbyod.c (configuration tables, the mod_* methods),
 * glue_start.c (start-up), glue_request.c (post-auth's attributes),
 * glue_ldap.c (the directory through FreeRADIUS's connection pool) and
 * glue_people.c (the list of people).  The core (lib/) never includes this
 * file.
 */
#ifndef RLM_CETBYOD_H
#define RLM_CETBYOD_H

#include <freeradius-devel/radiusd.h>
#include <freeradius-devel/modules.h>

#include "conf_store.h"

#include "audit/audit.h"
#include "core/ack.h"
#include "core/decide.h"
#include "directory/dirwatch.h"
#include "directory/ldap.h"
#include "enforce/enforcer.h"
#include "store/store.h"
#include "core/identity.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/policy.h"
#include "core/roles.h"
#include "sources/sync.h"
#include "core/tz.h"

#define CB_MAX_EMAILS 8

typedef enum {
	SOURCE_FILE = 0,
	SOURCE_FORMS,
	SOURCE_SHEETS
} source_kind_t;

typedef enum {
	DIRECTORY_ATTRIBUTES = 0,
	DIRECTORY_LDAP
} directory_kind_t;

/** log_decisions: which decisions get their line in radius.log (INFO); radiusd -X shows every one. */
typedef enum {
	LOG_DECISIONS_ALL = 0,
	LOG_DECISIONS_REFUSALS,
	LOG_DECISIONS_NONE
} log_decisions_t;

typedef struct cetbyod_ldap cetbyod_ldap_t;	/* glue_ldap.c */

typedef struct {
	char const	*name;

	/* Configuration, as parsed. */
	char const	*source_name;
	char const	*directory_name;
	char const	*timezone;
	char const	*form_url;
	char const	*email_domain;
	char const	*state_dir;
	char const	*log_decisions_name;
	char const	*class_key_file;	/* "": <state_dir>/class.key, made when absent (glue_class.c). */
	struct {
		char const	*strip_domains;	/* Repeatable: see parse_identity. */
		char const	*strip_realms;
		bool		strip_realm;	/* The old switches: yes only with a list. */
		bool		strip_domain;
		uint32_t	max_length;
	} identity;
	struct {
		uint32_t	validity_days;
		char const	*effective_from;
		char const	*version;
		uint32_t	grace_period;
		char const	*unacknowledged;
		uint32_t	stale_after;
		bool		admit_when_stale;
		uint32_t	max_devices;
		uint32_t	device_window;
		char const	*max_devices_action;
		uint32_t	max_concurrent;
		char const	*max_concurrent_action;
	} policy;
	struct {
		char const	*filename;
		uint32_t	check_interval;
	} file;
	struct {
		uint32_t	interval;
		uint32_t	full_interval;
		uint32_t	max_removal_percent;
		uint32_t	min_removals;
		uint32_t	backoff_max;
		uint32_t	key_backoff_max;	/* Seconds; cap of the backoff after a rejected key. */
		uint32_t	future_skew;		/* Seconds; later-dated acknowledgements are refused. */
	} sync_conf;
	struct {
		char const	*key_file;
		char const	*token_url;
		char const	*subject;
		char const	*forms_url;
		char const	*sheets_url;
		char const	*drive_url;
		char const	*ca_file;
		char const	*proxy;
		uint32_t	connect_timeout;
		uint32_t	timeout;
		uint32_t	max_requests_per_minute;
	} google;
	struct {
		char const	*form_id;
		char const	*agreement_question;
		char const	*agree_value;
		char const	*policy_version_question;
		char const	*allowed_domain;
		uint32_t	page_size;
		bool		allow_unverified_email;
	} forms;
	struct {
		char const	*spreadsheet_id;
		char const	*range;
		char const	*timestamp_column;
		char const	*email_column;
		char const	*agreement_column;
		char const	*agree_value;
		char const	*policy_version_column;
		char const	*revoked_column;
		char const	*revoked_value;
		char const	*allowed_domain;
		uint32_t	rows_per_request;
		char const	*form_id;
		bool		allow_unverified_email;
	} sheets;
	struct {
		uint32_t	burst_limit;
		uint32_t	stale_session_after;
		uint32_t	retry_interval;
		uint32_t	max_attempts;
		uint32_t	initial_retransmit_ms;
		uint32_t	max_transmissions;
		uint32_t	max_duration;
		uint32_t	watch_interval;
	} enforce;
	struct {
		char const	*filename;
		char const	*fsync;
		uint32_t	batch_wait_ms;	/* Gathering under fsync = batch (lib/audit/writer.c). */
		char const	*on_failure;
		uint32_t	queue;
		bool		syslog;
		uint32_t	coalesce_window;	/* Refusal coalescing (lib/audit/runs.c); 0: off. */
		uint32_t	coalesce_summary_every;
		uint32_t	coalesce_max_runs;
		uint32_t	index_defer;
		uint32_t	index_busy_rate;
		uint32_t	retention_days;
		char const	*hmac_key_file;	/* Keyed chain; "": plain SHA-256. */
	} audit_conf;
	cetbyod_store_section_t	store_conf;	/* store { } (conf_store.c). */
	cb_store_conf_t		store_template;	/* The backend and its connection (glue_store.c). */
	char			*pg_password;	/* From password_file; never logged. */
	struct {
		uint32_t	refresh_interval;
		char const	*sharing_summary_to;	/* "": no daily sharing summary. */
		uint32_t	sharing_summary_hour;
	} reports;
	struct {
		char const	*filename;	/* "": no textfile. */
		uint32_t	interval;
	} metrics_conf;
	struct {
		bool		enabled;
		bool		dry_run;
		char const	*windows;
		uint32_t	per_minute;
		char const	*template_file;
		char const	*template_text;	/* Loaded at start-up (talloc'd on the instance). */
		char const	*school;
		char const	*smtp_url;
		char const	*smtp_username;
		char const	*smtp_password;
		char const	*from;
		char const	*from_name;
		char const	*ca_file;
		bool		require_tls;
		uint32_t	timeout;
	} reminders;
	struct {
		char const	*staff_vlan;
		char const	*onboarding_vlan;
		char const	*restricted_vlan;
		uint32_t	onboarding_session_timeout;
		bool		session_timeout_at_expiry;
	} reply;
	struct {
		bool		reply_user_name;
		bool		accounting_user_name;
		char const	*realm;		/* "": do not forward accounting. */
	} web_filter;

	/* Derived at instantiate. */
	source_kind_t		source;
	directory_kind_t	directory;
	log_decisions_t		log_decisions;
	cb_tz_t			*tz;
	cb_policy_conf_t	pconf;
	cb_roles_t		roles;		/* roles { }: governors, volunteers, contractors (glue_roles.c). */
	cb_ldap_role_t		ldap_roles[CB_ROLES_MAX];	/* Their groups, as the directory reads them. */
	cb_limits_conf_t	lconf;		/* policy { max_devices, max_concurrent, ... }. */
	cb_identity_conf_t	iconf;
	cb_ack_current_t	*acks;
	cb_sync_t		*sync;
	cetbyod_ldap_t		*ldap;		/* directory = ldap; NULL otherwise. */
	cb_store_t		*store;		/* state_dir set; NULL otherwise. */
	cb_audit_t		*audit;		/* With the store and audit { filename }. */
	cb_enforcer_t		*enforcer;	/* With the store. */
	struct cb_people	*people;	/* With the store: the list of people, reminders. */
	cb_store_t		*people_store;	/* Its own connection to the store. */
	cb_store_t		*limits_store;	/* The device limits' own connection (glue_limits.c). */
	struct cetbyod_limits	*limits;	/* With it: one person's checks at a time, the devices just admitted. */
	struct cetbyod_class	*klass;		/* With the store: the class key, the devices seen (glue_class.c). */
	cb_metrics_t		*metrics;	/* The counters (always; the request path only increments). */
	struct cb_metrics_writer *metrics_writer;	/* metrics { filename } set; NULL otherwise. */
	cb_enforcer_nas_t	*nas;		/* enforce { nas NAME { } } entries. */
	size_t			num_nas;
	bool			check_only;	/* radiusd -C: options checked; nothing opened, started or written. */

	DICT_ATTR const	*da_inner_identity, *da_role, *da_email, *da_disabled, *da_revoked;
	DICT_ATTR const	*da_exception_until, *da_exception_reason;
	DICT_ATTR const	*da_status, *da_reason, *da_message, *da_ack_time, *da_expiry, *da_ack_expiry;
	DICT_ATTR const	*da_policy_version, *da_form_url, *da_vlan, *da_session_timeout, *da_identity;
	DICT_ATTR const	*da_class;
	DICT_ATTR const	*da_user_name, *da_replicate_to_realm;	/* glue_filter.c */
} rlm_cetbyod_t;

/** cetbyod_core_log - the core's log callback (a cb_log_fn_t; uctx is the instance): radiusd's log. */
void cetbyod_core_log(void *uctx, cb_log_level_t level, char const *fmt, ...) CC_HINT(format (printf, 3, 4));

/*
 *	glue_start.c: start-up.  Each returns 0, or -1 after cf_log_err naming
 *	the option and what it accepts.
 */

/** cetbyod_start_conf - the dictionary's attributes, the string options as enums, the policy and identity settings. */
int cetbyod_start_conf(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_start_enforcement - with state_dir: the store, the audit trail, the NAS table and the enforcer. */
int cetbyod_start_enforcement(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_start_source - the acknowledgement source and its sync thread. */
int cetbyod_start_source(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/**
 * cetbyod_store_connection - another connection to the module's store (which
 * exists: state_dir is set), for a thread whose work must not wait on the
 * request path's (what: for the error message); spool: the file in
 * state_dir where its writes wait while PostgreSQL is unreachable
 * (cetbyod_store_spool), or NULL for none.  NULL after cf_log_err.
 */
cb_store_t *cetbyod_store_connection(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *what, char const *spool);

/*
 *	glue_store.c: store { backend, postgresql { } }.
 */

/** cetbyod_store_start - check store { } and read the password file; 0, or -1 after cf_log_err. */
int cetbyod_store_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/**
 * cetbyod_store_spool - PostgreSQL with store { spool_max_mb } > 0: the
 * spool file name in state_dir (path[len]) into sc; false when state_dir is
 * too long.  Each store handle that spools has a file of its own.
 */
bool cetbyod_store_spool(rlm_cetbyod_t const *inst, char const *name, char *path, size_t len, cb_store_conf_t *sc);

/** cetbyod_store_conf - the backend and its connection into sc; path is the SQLite file. */
void cetbyod_store_conf(rlm_cetbyod_t const *inst, char const *path, cb_store_conf_t *sc);

/** cetbyod_store_name - how messages name the store: path, or "(PostgreSQL)". */
char const *cetbyod_store_name(rlm_cetbyod_t const *inst, char const *path);

/*
 *	glue_roles.c: roles { NAME { group, vlan, version, validity_days } }.
 */

/**
 * cetbyod_start_roles - parse roles { } into inst->roles (each role's
 * policy: the employees' with its own version and validity) and
 * inst->ldap_roles (their groups).  After cetbyod_start_conf (it needs
 * the employees' policy), before the directory.  0, or -1 after
 * cf_log_err naming the option.
 */
int cetbyod_start_roles(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/*
 *	glue_request.c: post-auth's reading and writing of attributes.
 */

/** Storage the facts of one request point into. */
typedef struct {
	char		emails[CB_MAX_EMAILS][CB_IDENTITY_MAX + 1];
	char		device[CB_STORE_TEXT_MAX + 1];	/* Calling-Station-Id. */
} cetbyod_facts_buf_t;

/** cetbyod_packet_attr - the request's attribute attr (vendor 0), or NULL. */
VALUE_PAIR *cetbyod_packet_attr(REQUEST *request, unsigned int attr);

/** cetbyod_value - an attribute's printable value into buf ("" when vp is NULL). */
void cetbyod_value(VALUE_PAIR *vp, char *buf, size_t len);

/**
 * cetbyod_request_identity - the inner identity (else User-Name), normalised
 * into identity.  false when there is none or it is invalid: the refusal
 * (invalid_identity) is then already logged, audited and written.
 */
bool cetbyod_request_identity(rlm_cetbyod_t *inst, REQUEST *request, char identity[CB_IDENTITY_MAX + 1], time_t now);

/** cetbyod_request_facts - the person's facts: the directory (directory = ldap) or the attributes; storage in buf. */
void cetbyod_request_facts(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t *facts,
			   cetbyod_facts_buf_t *buf);

/** cetbyod_request_decide - cb_decide() with the module's state, and what radiusd -X says it found. */
void cetbyod_request_decide(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t const *facts,
			    cb_ack_index_t const *idx, time_t now, cb_decide_result_t *res);

/**
 * cetbyod_request_record - an admission into a keyed Class (glue_class.c;
 * device_new: the device limits found the device unknown, it is written),
 * or when it does not fit into the store (under a new Class),
 * the decision into the audit trail; when the trail refuses an admission
 * (fail_closed), res becomes a refusal, audit_unavailable.  Returns true
 * when the decision is a refusal that repeats an open run (audit {
 * coalesce_window }): counted in the run, so its line is for radiusd -X
 * only (cetbyod_request_reply).
 */
bool cetbyod_request_record(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t *res,
			    time_t now, bool device_new);

/**
 * cetbyod_request_limits - policy { max_devices, max_concurrent } for an
 * admission (glue_limits.c): the person's devices and open sessions from
 * the store, the core's verdict (lib/core/limits.h) applied to res (onboard
 * or reject, device_limit or concurrent_limit), explained in radiusd -X,
 * "sharing" audit records for each limit passed and for two NASes at once,
 * and a refused device recorded.  Before cetbyod_request_record.  Returns
 * true when the limits were checked and the request's device is not among
 * the person's known devices (an admission must record it).
 */
bool cetbyod_request_limits(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t *res,
			    time_t now);

/**
 * cetbyod_limits_start - with the store: the device limits' own connection
 * to it, and their locks.  0, or -1 (cf_log_err).
 */
int cetbyod_limits_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_limits_stop - close it and free the locks (NULL-safe). */
void cetbyod_limits_stop(rlm_cetbyod_t *inst);

/**
 * cetbyod_request_reply - the decision as Cetbyod-* attributes in the
 * control list, and its log line: in radius.log as log_decisions says,
 * unless repeat (a refusal counted in an open run: radiusd -X only).
 */
void cetbyod_request_reply(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t const *res,
			   time_t now, bool repeat);

/*
 *	glue_people.c: reports { } and reminders { }, the people thread.
 */
extern const CONF_PARSER cetbyod_reports_config[];
extern const CONF_PARSER cetbyod_reminders_config[];

/** cetbyod_people_start - check reminders { } and start the people thread (needs the store). 0 or -1. */
int cetbyod_people_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_people_stop - stop it (NULL-safe). */
void cetbyod_people_stop(rlm_cetbyod_t *inst);

/*
 *	glue_ldap.c: the directory (directory = ldap) through FreeRADIUS's
 *	connection pool and the core's LDAP client and cache.
 */

/**
 * cetbyod_ldap_instantiate - parse the ldap { } subsection of conf, check it
 * (failing start-up with the option's name and accepted values), create the
 * connection pool and the cache, and set inst->ldap.  Returns 0 or -1.
 */
int cetbyod_ldap_instantiate(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_ldap_core_conf - the core's view of ldap { } (for the people thread's own connections). */
cb_ldap_conf_t const *cetbyod_ldap_core_conf(rlm_cetbyod_t *inst);

/** cetbyod_ldap_detach - free what cetbyod_ldap_instantiate made (NULL-safe). */
void cetbyod_ldap_detach(rlm_cetbyod_t *inst);

/**
 * cetbyod_ldap_person - the directory's facts about identity (normalised):
 * facts->dir, facts->exception, and up to CB_MAX_EMAILS normalised
 * addresses (storage in email_buf).  Cached answers are used when fresh;
 * when the directory is down, dir.result is CB_DIR_UNAVAILABLE unless a
 * young enough cached answer may be used.  Never waits longer than the
 * configured timeouts.
 */
void cetbyod_ldap_person(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t *facts,
			 char email_buf[][CB_IDENTITY_MAX + 1]);

/**
 * cetbyod_ldap_watcher - the directory watcher's facts provider (cb_dirwatch_t):
 * its client on a connection of its own, with the module's configuration and
 * cache (made once, freed with the ldap { } glue).  NULL when out of memory
 * or without directory = ldap.
 */
cb_dirwatch_t *cetbyod_ldap_watcher(rlm_cetbyod_t *inst);

/*
 *	glue_class.c: the keyed Class (lib/store/classtok.h).
 */

/** cetbyod_class_start - with the store: class_key_file, or <state_dir>/class.key made when absent.  0, or -1. */
int cetbyod_class_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

void cetbyod_class_stop(rlm_cetbyod_t *inst);

/** cetbyod_class_put - Cetbyod-Class = value in the control list. */
void cetbyod_class_put(rlm_cetbyod_t *inst, REQUEST *request, char const *value);

/**
 * cetbyod_class_issue - rec sealed into Cetbyod-Class (rec->class_id set).
 * false when there is no key or rec does not fit (said in radiusd -X): the
 * caller records rec in the store instead.
 */
bool cetbyod_class_issue(rlm_cetbyod_t *inst, REQUEST *request, cb_store_decision_t *rec);

#define CETBYOD_FNV_BASIS	14695981039346656037ULL

/** cetbyod_fnv1a - 64-bit FNV-1a of s, continued from h (CETBYOD_FNV_BASIS to start). */
uint64_t cetbyod_fnv1a(uint64_t h, char const *s);

/**
 * cetbyod_class_device - the admitted device of rec into the store's devices
 * (device limits, sharing report) when device_new, or when this server has
 * not written it within the hour (a recently-seen cache); else nothing.
 */
void cetbyod_class_device(rlm_cetbyod_t *inst, REQUEST *request, cb_store_decision_t const *rec, bool device_new);

typedef enum {
	CETBYOD_CLASS_NONE = 0,		/* No Class of ours. */
	CETBYOD_CLASS_STORE,		/* The old form: class_id names a decision in the store. */
	CETBYOD_CLASS_KEYED,		/* A keyed Class, verified and bound to this device: dec filled. */
	CETBYOD_CLASS_UNTRUSTED		/* Forged, key rotated out, or another device's: *untrusted says why. */
} cetbyod_class_kind_t;

/**
 * cetbyod_class_read - accounting: the request's Class.  class_id gets the
 * class id (KEYED, STORE), dec the decision (KEYED); calling is the
 * accounting's Calling-Station-Id, which must name the device the Class was
 * issued to.
 */
cetbyod_class_kind_t cetbyod_class_read(rlm_cetbyod_t *inst, REQUEST *request, char const *calling,
					char class_id[CB_CLASS_ID_LEN + 1], cb_store_decision_t *dec,
					char const **untrusted);

/*
 *	glue_filter.c: the web filter learns who is on which address.
 */

/** cetbyod_filter_start - web_filter { }: its attributes, and the realm (must exist, with an acct_pool). */
int cetbyod_filter_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_filter_reply - post-auth: Cetbyod-User-Name for the Access-Accept (reply_user_name), on admission. */
void cetbyod_filter_reply(rlm_cetbyod_t const *inst, REQUEST *request, char const *identity, cb_status_t status);

/** cetbyod_filter_forward - accounting: Replicate-To-Realm = web_filter { realm }, when set. */
void cetbyod_filter_forward(rlm_cetbyod_t const *inst, REQUEST *request);

/**
 * cetbyod_filter_accounting - accounting (accounting_user_name): Cetbyod-User-Name
 * from the decision of a->class_id (a->decision for a keyed Class), unless
 * the Class is unknown, not trusted (untrusted: why), was issued to another
 * device, or User-Name already is the person's name.
 */
void cetbyod_filter_accounting(rlm_cetbyod_t *inst, REQUEST *request, cb_store_acct_t const *a,
			       char const *untrusted);

/** cetbyod_filter_address - Interim-Update: say in radiusd -X when the session's Framed-IP-Address changed. */
void cetbyod_filter_address(rlm_cetbyod_t *inst, REQUEST *request, cb_store_acct_t const *a);

/*
 *	glue_metrics.c: metrics { filename, interval }, the textfile for
 *	node_exporter (lib/core/metrics.h).
 */
extern const CONF_PARSER cetbyod_metrics_config[];

/** cetbyod_metrics_init - the counters; first, so every later step may count.  0, or -1. */
int cetbyod_metrics_init(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_metrics_start - with metrics { filename }: check its directory, start the writer.  Last.  0, or -1. */
int cetbyod_metrics_start(rlm_cetbyod_t *inst, CONF_SECTION *conf);

/** cetbyod_metrics_stop - a last write, then the writer stops.  Before the threads it reads stop. */
void cetbyod_metrics_stop(rlm_cetbyod_t *inst);

/** cetbyod_store_log - the store's log callback: cetbyod_core_log, and errors counted in the metrics. */
void cetbyod_store_log(void *uctx, cb_log_level_t level, char const *fmt, ...) CC_HINT(format (printf, 3, 4));

#endif
