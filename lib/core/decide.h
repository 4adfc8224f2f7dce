/*
 * decide.h - the one decision use-case: what one person gets, now.
 *
 * Four places decide: the request path (post-auth), the directory watcher
 * and the re-decision on a new acknowledgement index (the enforcer), and the
 * list of people (the reports and the reminders).  They differ only in where
 * the person's facts come from; the sequence is this one:
 *
 *	1. the facts from a provider (cb_facts_t: RADIUS attributes, the
 *	   directory or its cache, the people list, or what admitted a session);
 *	2. the exceptions register (cetbyodctl exception add), when the
 *	   provider gave no exception or one that ends sooner;
 *	3. the latest acknowledgement of any of the person's addresses;
 *	4. IT's revocations (cetbyodctl revoke), when the provider had none;
 *	5. cb_policy_decide() with the freshness of the acknowledgement source,
 *	   under the policy of the person's role (roles.h: governors may have
 *	   a form version or validity of their own);
 *	6. an admission the audit trail refuses to record becomes a refusal
 *	   (audit { on_failure = fail_closed }).
 *
 * cb_decide() does no I/O and logs nothing: it reads the in-memory state it
 * is given (the acknowledgement index, and IT's revocations and the
 * exceptions register through cb_decide_state_t, which the enforcer offers:
 * cb_enforcer_decide_state), and returns what was found with the decision,
 * so that the caller can say in its own words (radiusd -X, a report row)
 * what was decided and why.  Whether the audit trail refuses admissions is
 * a plain input the caller reads before deciding.
 *
 * The core depends on lib/base only: the providers of facts (RADIUS
 * attributes in the glue, the directory's, lib/directory/dirwatch.h, the
 * people list) and of the state (lib/enforce/) call in, never the reverse.
 */
#ifndef CETBYOD_DECIDE_H
#define CETBYOD_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/ack.h"
#include "core/policy.h"
#include "core/roles.h"

#define CB_FACTS_EMAILS_MAX	8	/* Addresses that key a person's acknowledgement. */

/** Where a person's facts came from. */
typedef enum {
	CB_FACTS_ATTRIBUTES = 0,	/* RADIUS attributes set by earlier modules (directory = attributes). */
	CB_FACTS_DIRECTORY,		/* The LDAP directory, or the module's cache of its answers. */
	CB_FACTS_PEOPLE,		/* The list of people (a directory listing, or the acknowledgements). */
	CB_FACTS_SESSION		/* What admitted a session: staff, in the directory (the enforcer). */
} cb_facts_origin_t;

/** What a provider knows about one person.  Pointers are borrowed for the call. */
typedef struct {
	cb_facts_origin_t	origin;
	cb_dir_facts_t		dir;		/* In the directory?  Role, disabled, revoked (with reason). */
	cb_exception_t		exception;	/* A documented exception the provider holds (not the register's). */
	char const		*emails[CB_FACTS_EMAILS_MAX];	/* Normalised; none: no acknowledgement can count. */
	size_t			num_emails;
	char const		*device;	/* Calling-Station-Id, for the register's per-device exceptions.
						 * NULL: a question about the person (the watcher, the
						 * reports): any of their exceptions counts.  "" or not a
						 * MAC: a request without a device: a device-bound
						 * exception never counts. */
} cb_facts_t;

/*
 *	The exceptions register's exception, as the decision reads it: a copy
 *	of the register's row (the store's cb_store_exception_t, whose limits
 *	these are).
 */
#define CB_DECIDE_MAC_MAX	17	/* AA-BB-CC-DD-EE-FF. */
#define CB_DECIDE_REASON_MAX	200	/* Exception and revocation reasons, in bytes. */
#define CB_DECIDE_BY_MAX	64	/* Who approved it. */

typedef struct {
	int64_t		id;				/* The register's id; 0: none found. */
	char		mac[CB_DECIDE_MAC_MAX + 1];	/* "" for any device. */
	char		reason[CB_DECIDE_REASON_MAX + 1];
	char		approved_by[CB_DECIDE_BY_MAX + 1];
	time_t		until;				/* Exclusive end. */
} cb_decide_exception_t;

/**
 * The state decide reads besides the acknowledgements: IT's revocations
 * and the exceptions register, held in memory by their keeper (the
 * enforcer: cb_enforcer_decide_state).  A NULL function is not consulted;
 * all zero: neither is.  Both are called with ctx, from any thread.
 */
typedef struct {
	/** is_revoked - whether IT revoked identity; the reason copied to reason (len bytes). */
	bool	(*is_revoked)(void *ctx, char const *identity, char *reason, size_t len);
	/**
	 * exception - the register's exception in force at now for identity
	 * on device (NULL: any of the person's; "" or not a MAC: only those
	 * bound to no device).  True and out filled when there is one.
	 */
	bool	(*exception)(void *ctx, char const *identity, char const *device, time_t now,
			     cb_decide_exception_t *out);
	void	*ctx;
} cb_decide_state_t;

/** What the decision reads besides the facts: the state held in memory, and the configuration. */
typedef struct {
	cb_policy_conf_t const	*policy;	/* Required: the employees' policy. */
	cb_roles_t const	*roles;		/* The roles beyond employees, each with its policy; NULL: none. */
	cb_ack_index_t const	*acks;		/* The acknowledgements in force; NULL: none on record. */
	cb_decide_state_t	state;		/* Revocations and exceptions register; all zero: neither is consulted. */
	bool			source_stale;	/* The acknowledgement source is stale (cb_sync_is_stale). */
	bool			audit_refuses;	/* The audit trail refuses admissions now (fail_closed and it
						 * cannot write: !cb_audit_admit_ok): an admission becomes a
						 * refusal, audit_unavailable. */
} cb_decide_env_t;

/** The decision, and what it was made from. */
typedef struct {
	cb_decision_t		decision;	/* status, reason, valid_until, ack_expires. */
	cb_policy_conf_t const	*policy;	/* The policy applied: the person's role's, else env->policy. */
	cb_policy_input_t	in;		/* The facts the policy was given. */
	cb_ack_record_t const	*ack;		/* The acknowledgement that counted (points into env->acks); NULL: none. */
	char const		*ack_email;	/* ack's address, else the first of the facts' addresses; "" when none. */
	cb_decide_exception_t	exception;	/* The register's exception found (id 0: none). */
	bool			exception_used;	/* ... and used (the provider's, if any, ends sooner). */
	bool			revoked;	/* In IT's revocation set (not already revoked by the provider). */
	char			revoked_reason[CB_DECIDE_REASON_MAX + 1];
} cb_decide_result_t;

/**
 * cb_decide - decide for identity (normalised) with the facts a provider
 * gave, at now.  out's pointers point into facts and env->acks: use them
 * while both live.  Never fails; safe from any thread.
 */
void cb_decide(cb_decide_env_t const *env, char const *identity, cb_facts_t const *facts, time_t now,
	       cb_decide_result_t *out);

/** cb_facts_add_email - append a normalised address (borrowed) to facts, if there is room. */
void cb_facts_add_email(cb_facts_t *facts, char const *email);

#endif
