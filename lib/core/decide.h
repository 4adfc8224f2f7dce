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
 *	5. cb_policy_decide() with the freshness of the acknowledgement source;
 *	6. an admission the audit trail refuses to record becomes a refusal
 *	   (audit { on_failure = fail_closed }).
 *
 * cb_decide() does no I/O and logs nothing: it reads the in-memory state it
 * is given (the acknowledgement index, the enforcer's revocation set and
 * exceptions register), and returns what was found with the decision, so
 * that the caller can say in its own words (radiusd -X, a report row) what
 * was decided and why.
 *
 * The directory provider (cb_decide_directory_*) is the core's way to get a
 * person's facts from the LDAP directory outside any request: the directory
 * watcher uses it, on a connection of its own, sharing the module's cache of
 * answers.  The module sets it up at start-up from core objects only.
 */
#ifndef CETBYOD_DECIDE_H
#define CETBYOD_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "audit/audit.h"
#include "base/log.h"
#include "core/ack.h"
#include "core/policy.h"
#include "directory/dircache.h"
#include "directory/ldap.h"
#include "store/store.h"

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
	char const		*device;	/* Calling-Station-Id, for the register's per-device exceptions;
						 * NULL or "": any of the person's exceptions counts. */
} cb_facts_t;

/** What the decision reads besides the facts: the state held in memory, and the configuration. */
typedef struct {
	cb_policy_conf_t const	*policy;	/* Required. */
	cb_ack_index_t const	*acks;		/* The acknowledgements in force; NULL: none on record. */
	struct cb_enforcer	*enforcer;	/* Its revocation set and exceptions register; NULL: neither is consulted. */
	bool			source_stale;	/* The acknowledgement source is stale (cb_sync_is_stale). */
	cb_audit_t		*audit;		/* A trail that refuses admissions turns them into refusals; NULL: none. */
} cb_decide_env_t;

/** The decision, and what it was made from. */
typedef struct {
	cb_decision_t		decision;	/* status, reason, valid_until, ack_expires. */
	cb_policy_input_t	in;		/* The facts the policy was given. */
	cb_ack_record_t const	*ack;		/* The acknowledgement that counted (points into env->acks); NULL: none. */
	char const		*ack_email;	/* ack's address, else the first of the facts' addresses; "" when none. */
	cb_store_exception_t	exception;	/* The register's exception found (id 0: none). */
	bool			exception_used;	/* ... and used (the provider's, if any, ends sooner). */
	bool			revoked;	/* In IT's revocation set (not already revoked by the provider). */
	char			revoked_reason[CB_STORE_REASON_MAX + 1];
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

/*
 *	The directory provider, for deciding outside any request.
 */
typedef struct cb_decide_directory cb_decide_directory_t;

typedef struct {
	cb_ldap_conf_t const	*ldap;		/* Borrowed; must outlive the provider. */
	cb_dircache_t		*cache;		/* The module's cache (thread-safe, shared); NULL: none. */
	unsigned int		admit_cached;	/* Use a cached answer this young when the directory is down; 0: never. */
	char const		*email_domain;	/* identity@domain when the entry has no address; NULL: none. */
	cb_log_fn_t		log;
	void			*log_ctx;
} cb_decide_directory_conf_t;

/** cb_decide_directory_new - a provider (conf copied, its pointers borrowed); NULL when out of memory. */
cb_decide_directory_t *cb_decide_directory_new(cb_decide_directory_conf_t const *conf);

/**
 * cb_decide_directory_facts - identity's facts from the cache when fresh,
 * else from the directory on the provider's own connection (opened when
 * needed, closed after a failure), else, when the directory is unavailable,
 * from a young enough cached answer; dir.result CB_DIR_UNAVAILABLE otherwise.
 * entry is the storage facts point into.  Used by one thread at a time.
 */
void cb_decide_directory_facts(cb_decide_directory_t *dp, char const *identity, time_t now, cb_dir_entry_t *entry,
			       cb_facts_t *facts);

/** cb_decide_directory_free - close its connection and free it (NULL is fine). */
void cb_decide_directory_free(cb_decide_directory_t *dp);

#endif
