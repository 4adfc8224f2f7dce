/*
 * dirwatch.c - the directory watcher's provider of facts (see dirwatch.h):
 * the cache, else a search on a connection of its own, else a young enough
 * cached answer.
 *
 * Worked example: the directory watcher asks about bob, who has a session.
 * The provider finds no fresh cached answer, searches the directory on its
 * own connection (bob is staff, his account now locked) and puts the answer
 * in the module's cache; cb_decide() then says reject, account_disabled.
 *
 * The provider's connection: one, opened when first needed, used by the
 * enforcer thread only, closed after any failure.  After a failure to
 * connect or search, the directory is taken as unavailable for
 * RETRY_SECONDS without trying, so that a round over many sessions during
 * an outage costs one timeout, not one per person (the module's connection
 * pool has the same rule in its retry_delay).
 */
#include <stdlib.h>
#include <string.h>

#include "base/name.h"
#include "core/identity.h"
#include "directory/dirwatch.h"

#define RETRY_SECONDS	30	/* After a connection or search failure. */

struct cb_dirwatch {
	cb_dirwatch_conf_t	conf;
	cb_ldap_conn_t		*conn;		/* NULL until needed, and after a failure. */
	time_t			retry_at;	/* Unavailable without trying until then. */
};

cb_dirwatch_t *cb_dirwatch_new(cb_dirwatch_conf_t const *conf)
{
	cb_dirwatch_t *dw = calloc(1, sizeof(*dw));

	if (dw) dw->conf = *conf;
	return dw;
}

void cb_dirwatch_free(cb_dirwatch_t *dw)
{
	if (!dw) return;
	cb_ldap_close(dw->conn);
	free(dw);
}

/** connection - the provider's connection, opened if needed; NULL when the directory cannot be reached. */
static cb_ldap_conn_t *connection(cb_dirwatch_t *dw, time_t now)
{
	char err[4096];

	if (dw->conn && !cb_ldap_alive(dw->conn)) {
		cb_ldap_close(dw->conn);
		dw->conn = NULL;
	}
	if (dw->conn) return dw->conn;
	if (now < dw->retry_at) return NULL;
	dw->conn = cb_ldap_connect(dw->conf.ldap, err, sizeof(err));
	if (!dw->conn) {
		dw->retry_at = now + RETRY_SECONDS;
		if (dw->conf.log) {
			dw->conf.log(dw->conf.log_ctx, CB_LOG_ERROR, "directory watcher: cannot open a directory connection: %s",
				     err);
		}
	}
	return dw->conn;
}

/** search - one lookup on the provider's connection; after a failure the connection is closed, not reused. */
static cb_dir_result_t search(cb_dirwatch_t *dw, char const *identity, time_t now, cb_dir_entry_t *entry)
{
	char err[1024];
	cb_ldap_conn_t *conn = connection(dw, now);
	cb_dir_result_t result;

	if (!conn) {
		cb_dir_entry_init(entry);
		entry->facts.result = CB_DIR_UNAVAILABLE;
		return CB_DIR_UNAVAILABLE;
	}
	result = cb_ldap_lookup(conn, dw->conf.ldap, identity, entry, err, sizeof(err));
	if (result == CB_DIR_UNAVAILABLE) {
		if (dw->conf.log) {
			dw->conf.log(dw->conf.log_ctx, CB_LOG_WARN, "directory watcher: %s did not answer the search for "
				     "\"%s\": %s", cb_ldap_conn_uri(conn), identity, err);
		}
		cb_ldap_close(conn);
		dw->conn = NULL;
		dw->retry_at = now + RETRY_SECONDS;
	} else if (entry->refused && dw->conf.log) {
		dw->conf.log(dw->conf.log_ctx, CB_LOG_DEBUG, "directory watcher: the answer for \"%s\" cannot be used: %s",
			     identity, err);
	}
	return result;
}

/**
 * lookup - the answer for identity: the cache, the directory, or (when
 * allowed) an older cached answer.  Returns where it came from, for the log.
 */
static char const *lookup(cb_dirwatch_t *dw, char const *identity, time_t now, cb_dir_entry_t *entry)
{
	cb_dircache_t *cache = dw->conf.cache;

	if (cache && cb_dircache_get(cache, identity, now, entry)) return "cached";
	if (search(dw, identity, now, entry) != CB_DIR_UNAVAILABLE) {
		if (cache && !entry->refused) (void) cb_dircache_put(cache, identity, entry, now);
		return "searched";
	}
	if (cache && dw->conf.admit_cached &&
	    cb_dircache_get_stale(cache, identity, now, dw->conf.admit_cached, entry, NULL)) {
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

void cb_dirwatch_facts(cb_dirwatch_t *dw, char const *identity, time_t now, cb_dir_entry_t *entry, cb_facts_t *facts)
{
	char const *where;

	memset(facts, 0, sizeof(*facts));
	facts->origin = CB_FACTS_DIRECTORY;
	where = lookup(dw, identity, now, entry);
	if (dw->conf.log) {
		dw->conf.log(dw->conf.log_ctx, CB_LOG_DEBUG, "directory watcher: \"%s\" %s (%s)", identity,
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
	    cb_identity_email(identity, dw->conf.email_domain, entry->emails[0], sizeof(entry->emails[0]))) {
		cb_facts_add_email(facts, entry->emails[0]);
	}
}
