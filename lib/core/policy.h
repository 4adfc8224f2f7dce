/*
 * policy.h - the BYOD admission policy as a pure function.
 *
 * cb_policy_decide() takes everything the school knows about one person at
 * one instant (directory facts, acknowledgement facts, an exception record,
 * the freshness of the acknowledgement source) and the configured policy, and
 * returns admit / onboard / restricted / reject, a reason code from a fixed
 * list, a message for the user and the instant the decision stops holding.
 * It does no I/O and keeps no state, so it is tested as a table.
 */
#ifndef CETBYOD_POLICY_H
#define CETBYOD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/tz.h"

/** What the network should do with the device. */
typedef enum {
	CB_STATUS_REJECT = 0,	/* Access-Reject, with the reason and the form's URL. */
	CB_STATUS_ADMIT,	/* Access-Accept, staff VLAN. */
	CB_STATUS_ONBOARD,	/* Access-Accept, onboarding VLAN, short Session-Timeout. */
	CB_STATUS_RESTRICTED	/* Access-Accept, restricted VLAN (documented exception). */
} cb_status_t;

/** Why.  The names (cb_reason_name) are stable: they appear in logs, audit and attributes. */
typedef enum {
	CB_REASON_ACKNOWLEDGED = 0,
	CB_REASON_ACKNOWLEDGED_IN_GRACE,
	CB_REASON_EXCEPTION_ACTIVE,
	CB_REASON_INVALID_IDENTITY,
	CB_REASON_NOT_IN_DIRECTORY,
	CB_REASON_ACCOUNT_DISABLED,
	CB_REASON_NOT_STAFF,
	CB_REASON_NO_ACKNOWLEDGEMENT,
	CB_REASON_ACKNOWLEDGEMENT_EXPIRED,
	CB_REASON_ACKNOWLEDGEMENT_REVOKED,
	CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY,
	CB_REASON_REVOKED_BY_ADMIN,
	CB_REASON_SOURCE_STALE,
	CB_REASON_DIRECTORY_UNAVAILABLE,
	CB_REASON_PUPIL_WITHOUT_EXCEPTION,
	CB_REASON_EXCEPTION_EXPIRED,
	CB_REASON_AUDIT_UNAVAILABLE,	/* audit { on_failure = fail_closed } and the trail cannot be written. */
	CB_REASON_DEVICE_LIMIT,		/* A new device beyond policy { max_devices } (core/limits.h). */
	CB_REASON_CONCURRENT_LIMIT,	/* Sessions open beyond policy { max_concurrent } (core/limits.h). */
	CB_REASON_MAX
} cb_reason_t;

/**
 * Role of the person in the directory.  STAFF is "staff" as the school's
 * policy means it: employees (ldap { staff_group }) and the roles beyond
 * them (roles { governors { } }: governors, volunteers, contractors),
 * which cb_dir_facts_t.role_id tells apart (lib/core/roles.h).
 */
typedef enum {
	CB_ROLE_OTHER = 0,	/* In the directory, but neither staff nor pupil. */
	CB_ROLE_STAFF,
	CB_ROLE_PUPIL
} cb_role_t;

/** Outcome of the directory lookup. */
typedef enum {
	CB_DIR_FOUND = 0,
	CB_DIR_NOT_FOUND,
	CB_DIR_UNAVAILABLE
} cb_dir_result_t;

typedef struct {
	cb_dir_result_t	result;
	bool		disabled;	/* Account disabled or locked. */
	cb_role_t	role;
	unsigned int	role_id;	/* With role STAFF: 0 employees, k the k-th roles { } entry (roles.h). */
	bool		revoked;	/* BYOD access revoked by IT (directory flag or cetbyodctl). */
	char const	*revoked_reason;	/* May be NULL. */
} cb_dir_facts_t;

typedef struct {
	bool		present;	/* An acknowledgement (or withdrawal) is on record. */
	bool		revoked;	/* The latest record is a revocation or withdrawal. */
	time_t		ack_time;	/* When the acknowledgement that counts was given (UTC). */
	char const	*policy_version; /* Version acknowledged; NULL or "" when unknown. */
} cb_ack_facts_t;

typedef struct {
	bool		present;	/* A documented exception is on record. */
	time_t		until;		/* Instant it ends (exclusive); 0 = open-ended. */
} cb_exception_t;

typedef struct {
	bool		stale;		/* The acknowledgement source is older than its staleness limit. */
} cb_source_facts_t;

/** What unacknowledged staff get. */
typedef enum {
	CB_UNACK_ONBOARD = 0,
	CB_UNACK_REJECT
} cb_unack_action_t;

/** The configured policy.  Plain values; the module fills it once at start-up. */
typedef struct {
	unsigned int	validity_days;		/* 0: an acknowledgement does not lapse with age. */
	time_t		effective_from;		/* 0: none.  Acknowledgements before it do not count. */
	char const	*policy_version;	/* NULL/"": any version.  Otherwise must match when known. */
	unsigned int	grace_seconds;		/* Admit this long after expiry, reason ..._in_grace. */
	cb_unack_action_t unacknowledged;	/* For no_acknowledgement, expired, predates_policy. */
	bool		admit_when_stale;	/* Fail open when the source is stale (default no). */
	cb_tz_t const	*tz;			/* The school's time zone, for calendar arithmetic. */
} cb_policy_conf_t;

typedef struct {
	cb_dir_facts_t		dir;
	cb_ack_facts_t		ack;
	cb_exception_t		exception;
	cb_source_facts_t	source;
} cb_policy_input_t;

typedef struct {
	cb_status_t	status;
	cb_reason_t	reason;
	time_t		valid_until;	/* Instant the decision stops holding; 0 = no planned end. */
	time_t		ack_expires;	/* When the acknowledgement lapses; 0 = never or none. */
} cb_decision_t;

/** cb_policy_decide - decide for one person at instant now.  Never fails. */
void cb_policy_decide(cb_policy_conf_t const *conf, cb_policy_input_t const *in, time_t now, cb_decision_t *out);

/** cb_ack_expiry - instant the acknowledgement given at ack_time lapses, 0 if never. */
time_t cb_ack_expiry(cb_policy_conf_t const *conf, time_t ack_time);

/** cb_reason_name - stable machine name of a reason ("acknowledgement_expired"). */
char const *cb_reason_name(cb_reason_t reason);

/** cb_reason_from_name - parse a reason name; -1 when unknown. */
int cb_reason_from_name(char const *name);

/** cb_reason_message - one sentence for the user, without the form's URL. */
char const *cb_reason_message(cb_reason_t reason);

/** cb_status_name - "admit", "onboard", "restricted" or "reject". */
char const *cb_status_name(cb_status_t status);

#endif
