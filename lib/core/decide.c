/*
 * decide.c - the one decision use-case (see decide.h): the facts a
 * provider gave, the exceptions register, the acknowledgement, IT's
 * revocations, the policy, the audit trail's veto; and the directory
 * provider used outside requests.
 *
 * Worked example: the directory watcher asks about bob, who has a session.
 * The provider finds no fresh cached answer, searches the directory on its
 * own connection (bob is staff, his account now locked) and puts the answer
 * in the module's cache.  cb_decide() finds no register exception, finds
 * bob's acknowledgement in the index, finds no revocation, and the policy
 * says reject, account_disabled; the enforcer compares that with the
 * status bob's session was admitted with (onboard) and disconnects it.
 *
 * The provider's connection: one, opened when first needed, used by the
 * enforcer thread only, closed after any failure.  After a failure to
 * connect or search, the directory is taken as unavailable for
 * RETRY_SECONDS without trying, so that a round over many sessions during
 * an outage costs one timeout, not one per person (the module's connection
 * pool has the same rule in its retry_delay).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/name.h"
#include "core/decide.h"
#include "core/identity.h"
#include "enforce/enforcer.h"

#define RETRY_SECONDS	30	/* After a connection or search failure. */

void cb_facts_add_email(cb_facts_t *facts, char const *email)
{
	if (!email || !*email || facts->num_emails >= CB_FACTS_EMAILS_MAX) return;
	facts->emails[facts->num_emails++] = email;
}

/**
 * register_exception - the register's exception for identity on the
 * device, used when the provider gave none or one that ends sooner.
 */
static void register_exception(cb_decide_env_t const *env, char const *identity, cb_facts_t const *facts,
			       time_t now, cb_decide_result_t *out)
{
	cb_exception_t *exc = &out->in.exception;
	cb_store_exception_t *x = &out->exception;

	if (!env->enforcer || !cb_enforcer_exception(env->enforcer, identity, facts->device, now, x)) return;
	if (exc->present && (exc->until == 0 || exc->until >= x->until)) return;	/* The provider's lasts longer. */
	out->exception_used = true;
	exc->present = true;
	exc->until = x->until;
}

static void acknowledgement(cb_decide_env_t const *env, cb_facts_t const *facts, cb_decide_result_t *out)
{
	cb_ack_record_t const *ack = cb_ack_index_find_latest(env->acks, facts->emails, facts->num_emails);

	out->ack = ack;
	out->ack_email = ack ? ack->email : facts->num_emails ? facts->emails[0] : "";
	if (!ack) return;
	out->in.ack.present = true;
	out->in.ack.revoked = ack->revoked;
	out->in.ack.ack_time = ack->ack_time;
	out->in.ack.policy_version = ack->policy_version;
}

static void revocation(cb_decide_env_t const *env, char const *identity, cb_decide_result_t *out)
{
	if (out->in.dir.revoked || !env->enforcer) return;
	if (!cb_enforcer_is_revoked(env->enforcer, identity, out->revoked_reason, sizeof(out->revoked_reason))) return;
	out->revoked = true;
	out->in.dir.revoked = true;
	out->in.dir.revoked_reason = out->revoked_reason;
}

void cb_decide(cb_decide_env_t const *env, char const *identity, cb_facts_t const *facts, time_t now,
	       cb_decide_result_t *out)
{
	cb_decision_t *d = &out->decision;

	memset(out, 0, sizeof(*out));
	out->ack_email = "";
	out->in.dir = facts->dir;
	out->in.exception = facts->exception;
	register_exception(env, identity, facts, now, out);
	acknowledgement(env, facts, out);
	out->in.source.stale = env->source_stale;
	revocation(env, identity, out);

	cb_policy_decide(env->policy, &out->in, now, d);
	if (env->audit && d->status != CB_STATUS_REJECT && !cb_audit_admit_ok(env->audit)) {
		d->status = CB_STATUS_REJECT;
		d->reason = CB_REASON_AUDIT_UNAVAILABLE;
		d->valid_until = 0;
	}
}

/*
 *	The directory provider.
 */
struct cb_decide_directory {
	cb_decide_directory_conf_t	conf;
	cb_ldap_conn_t			*conn;		/* NULL until needed, and after a failure. */
	time_t				retry_at;	/* Unavailable without trying until then. */
};

cb_decide_directory_t *cb_decide_directory_new(cb_decide_directory_conf_t const *conf)
{
	cb_decide_directory_t *dp = calloc(1, sizeof(*dp));

	if (dp) dp->conf = *conf;
	return dp;
}

void cb_decide_directory_free(cb_decide_directory_t *dp)
{
	if (!dp) return;
	cb_ldap_close(dp->conn);
	free(dp);
}

/** connection - the provider's connection, opened if needed; NULL when the directory cannot be reached. */
static cb_ldap_conn_t *connection(cb_decide_directory_t *dp, time_t now)
{
	char err[4096];

	if (dp->conn && !cb_ldap_alive(dp->conn)) {
		cb_ldap_close(dp->conn);
		dp->conn = NULL;
	}
	if (dp->conn) return dp->conn;
	if (now < dp->retry_at) return NULL;
	dp->conn = cb_ldap_connect(dp->conf.ldap, err, sizeof(err));
	if (!dp->conn) {
		dp->retry_at = now + RETRY_SECONDS;
		if (dp->conf.log) {
			dp->conf.log(dp->conf.log_ctx, CB_LOG_ERROR, "directory watcher: cannot open a directory connection: %s",
				     err);
		}
	}
	return dp->conn;
}

/** search - one lookup on the provider's connection; after a failure the connection is closed, not reused. */
static cb_dir_result_t search(cb_decide_directory_t *dp, char const *identity, time_t now, cb_dir_entry_t *entry)
{
	char err[1024];
	cb_ldap_conn_t *conn = connection(dp, now);
	cb_dir_result_t result;

	if (!conn) {
		cb_dir_entry_init(entry);
		entry->facts.result = CB_DIR_UNAVAILABLE;
		return CB_DIR_UNAVAILABLE;
	}
	result = cb_ldap_lookup(conn, dp->conf.ldap, identity, entry, err, sizeof(err));
	if (result == CB_DIR_UNAVAILABLE) {
		if (dp->conf.log) {
			dp->conf.log(dp->conf.log_ctx, CB_LOG_WARN, "directory watcher: %s did not answer the search for "
				     "\"%s\": %s", cb_ldap_conn_uri(conn), identity, err);
		}
		cb_ldap_close(conn);
		dp->conn = NULL;
		dp->retry_at = now + RETRY_SECONDS;
	} else if (entry->refused && dp->conf.log) {
		dp->conf.log(dp->conf.log_ctx, CB_LOG_DEBUG, "directory watcher: the answer for \"%s\" cannot be used: %s",
			     identity, err);
	}
	return result;
}

/**
 * lookup - the answer for identity: the cache, the directory, or (when
 * allowed) an older cached answer.  Returns where it came from, for the log.
 */
static char const *lookup(cb_decide_directory_t *dp, char const *identity, time_t now, cb_dir_entry_t *entry)
{
	cb_dircache_t *cache = dp->conf.cache;

	if (cache && cb_dircache_get(cache, identity, now, entry)) return "cached";
	if (search(dp, identity, now, entry) != CB_DIR_UNAVAILABLE) {
		if (cache && !entry->refused) (void) cb_dircache_put(cache, identity, entry, now);
		return "searched";
	}
	if (cache && dp->conf.admit_cached &&
	    cb_dircache_get_stale(cache, identity, now, dp->conf.admit_cached, entry, NULL)) {
		return "cached, past its TTL: the directory is unavailable";
	}
	cb_dir_entry_init(entry);
	entry->facts.result = CB_DIR_UNAVAILABLE;
	return "the directory is unavailable";
}

static cb_name_t const result_names[] = {
	{ "found", CB_DIR_FOUND },
	{ "not found", CB_DIR_NOT_FOUND },
	{ "unavailable", CB_DIR_UNAVAILABLE },
	{ NULL, -1 }
};

void cb_decide_directory_facts(cb_decide_directory_t *dp, char const *identity, time_t now, cb_dir_entry_t *entry,
			       cb_facts_t *facts)
{
	char const *where;

	memset(facts, 0, sizeof(*facts));
	facts->origin = CB_FACTS_DIRECTORY;
	where = lookup(dp, identity, now, entry);
	if (dp->conf.log) {
		dp->conf.log(dp->conf.log_ctx, CB_LOG_DEBUG, "directory watcher: \"%s\" %s (%s)", identity,
			     cb_name_of(result_names, entry->facts.result, "unavailable"), where);
	}
	facts->dir = entry->facts;
	facts->dir.revoked_reason = entry->facts.revoked && entry->revoked_reason[0] ? entry->revoked_reason : NULL;
	if (entry->facts.result == CB_DIR_FOUND) {
		facts->exception = cb_dir_entry_exception(entry);
		for (size_t i = 0; i < entry->num_emails; i++) cb_facts_add_email(facts, entry->emails[i]);
	}
	/* No address in the directory: the identity keys the acknowledgement (the entry's first slot is free). */
	if (!facts->num_emails &&
	    cb_identity_email(identity, dp->conf.email_domain, entry->emails[0], sizeof(entry->emails[0]))) {
		cb_facts_add_email(facts, entry->emails[0]);
	}
}
