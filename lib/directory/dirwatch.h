/*
 * dirwatch.h - the directory watcher's provider of facts: a person's facts
 * from the LDAP directory outside any request.
 *
 * The enforcer's directory watcher decides again (cb_decide) for each
 * person with an active session; this provider gives it their facts, on a
 * connection of its own, sharing the module's cache of answers.  The module
 * sets it up at start-up from its LDAP configuration and cache, and hands
 * it to the enforcer (cb_enforcer_conf_t.directory).
 */
#ifndef CETBYOD_DIRWATCH_H
#define CETBYOD_DIRWATCH_H

#include <time.h>

#include "base/log.h"
#include "core/decide.h"
#include "directory/dircache.h"
#include "directory/ldap.h"

typedef struct cb_dirwatch cb_dirwatch_t;

typedef struct {
	cb_ldap_conf_t const	*ldap;		/* Borrowed; must outlive the provider. */
	cb_dircache_t		*cache;		/* The module's cache (thread-safe, shared); NULL: none. */
	unsigned int		admit_cached;	/* Use a cached answer this young when the directory is down; 0: never. */
	char const		*email_domain;	/* identity@domain when the entry has no address; NULL: none. */
	cb_log_fn_t		log;
	void			*log_ctx;
} cb_dirwatch_conf_t;

/** cb_dirwatch_new - a provider (conf copied, its pointers borrowed); NULL when out of memory. */
cb_dirwatch_t *cb_dirwatch_new(cb_dirwatch_conf_t const *conf);

/**
 * cb_dirwatch_facts - identity's facts from the cache when fresh, else from
 * the directory on the provider's own connection (opened when needed,
 * closed after a failure), else, when the directory is unavailable, from a
 * young enough cached answer; dir.result CB_DIR_UNAVAILABLE otherwise.
 * entry is the storage facts point into.  Used by one thread at a time.
 */
void cb_dirwatch_facts(cb_dirwatch_t *dw, char const *identity, time_t now, cb_dir_entry_t *entry, cb_facts_t *facts);

/** cb_dirwatch_free - close its connection and free it (NULL is fine). */
void cb_dirwatch_free(cb_dirwatch_t *dw);

#endif
