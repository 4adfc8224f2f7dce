/*
 * glue_ldap.c - the directory (directory = ldap) inside radiusd: the
 * ldap { } configuration, FreeRADIUS's connection pool around the core's
 * LDAP client (lib/directory/ldap.c), the cache of answers (dircache.c), and what
 * radiusd -X says about each lookup.
 *
 * This file owns only FreeRADIUS glue.  What a lookup does on the wire, how
 * an entry becomes facts, and how long anything may take are the core's
 * (lib/directory/ldap.h); this file decides when to ask, what to
 * remember and what to tell the administrator.
 *
 * One person, one post-auth
 * -------------------------
 *	1. A fresh cached answer for the normalised identity?  Use it: no
 *	   connection is taken, nothing is searched.
 *	2. Otherwise take a connection from the pool and trust it: no
 *	   poll() per request.  A connection the server closed while it sat
 *	   idle (slapd restarted, an idle timeout) shows itself on use: the
 *	   search fails at once with "server down" (cb_ldap_conn_lost), the
 *	   connection is closed and the search runs again on the next one;
 *	   when none is left the pool opens a new one, trying the configured
 *	   URIs in order (failover).  Bounded by the pool's size.
 *	3. Search.  Found and not-found answers go into the cache; an
 *	   ambiguous or malformed answer (refused) and "unavailable" never do.
 *	   After any other failure (a timeout, an error, a connection that
 *	   never answered) the connection is closed, never reused, and the
 *	   search is not retried: a directory that timed out once would only
 *	   make the worker wait a second time.
 *	4. When the directory is unavailable the decision is
 *	   directory_unavailable (fail closed), unless
 *	   admit_cached_when_unavailable allows facts read from the directory
 *	   less than that many seconds ago, even past their TTL.
 *
 * Why not fr_connection_reconnect() for a dead idle connection: it runs the
 * create callback (a TCP connect, TLS handshake and bind, up to
 * connect_timeout_ms per URI) with the pool's mutex held, so every other
 * worker would queue behind it.  Closing the dead handle and asking the pool
 * again makes the pool open the new connection outside its mutex, and
 * honours retry_delay after a failed attempt.
 *
 * How long a request can wait: connect_timeout_ms for each URI tried, only
 * when it needs a new connection and retry_delay has passed since the last
 * failed attempt (otherwise the pool refuses at once), plus
 * search_timeout_ms.  A search on a connection found closed by the server
 * fails at once (the server's FIN or RST is already there) and is made
 * again on the next connection; only a server that drops the connection
 * in the middle of a search could add one more search_timeout_ms, once per
 * pooled connection.  The pool's "min" and "spare" would add connection
 * attempts in the request's thread (FreeRADIUS opens them when a connection
 * is released or closed), so both default to 0 here; see pool_section().
 *
 * Memory: the cetbyod_ldap_t hangs off the module instance; a talloc
 * destructor frees the pool (and with it every connection, whose handles
 * close their libldap connection in their own destructor) and the cache.
 * The bind password is parsed as PW_TYPE_SECRET (radiusd -X shows
 * "<<< secret >>>") and is passed to the core only.
 */
#include "rlm_cetbyod.h"

#include <pthread.h>
#include <time.h>

#include "base/clock.h"
#include "base/name.h"
#include "core/decide.h"
#include "directory/dircache.h"
#include "directory/dirwatch.h"
#include "directory/ldap.h"
#include "core/tz.h"

#define CONNECT_ERR_MAX		4096	/* cb_ldap_connect lists every URI's failure. */
#define LOOKUP_ERR_MAX		1024
#define LAST_ERR_MAX		1024
#define ADMIT_CACHED_MAX	604800	/* admit_cached_when_unavailable: a week at most. */

/** What the configuration gives, as parsed, and what is made from it. */
struct cetbyod_ldap {
	/* Parsed (strings belong to the configuration). */
	char const		*uri;			/* First only; every value is in conf.uris. */
	char const		*base_dn;
	char const		*user_filter;
	char const		*identity_attribute;
	char const		*bind_dn;
	char const		*bind_password;		/* Secret. */
	bool			sasl_external;
	bool			start_tls;
	char const		*ca_file;
	char const		*ca_dir;
	char const		*cert_file;
	char const		*key_file;
	bool			require_cert;
	uint32_t		connect_timeout_ms;
	uint32_t		search_timeout_ms;
	char const		*email_attribute;	/* First only; all in conf.email_attributes. */
	char const		*group_membership;
	char const		*member_of_attribute;
	char const		*group_base_dn;
	char const		*group_filter;
	char const		*group_member_attribute;
	uint32_t		max_groups;
	char const		*staff_group;		/* First only. */
	char const		*pupil_group;		/* First only. */
	char const		*disabled_mode;
	char const		*disabled_filter;
	char const		*revoked_attribute;
	char const		*revoked_reason_attribute;
	char const		*exception_reason_attribute;
	char const		*exception_approved_by_attribute;
	char const		*exception_until_attribute;
	struct {
		uint32_t	max_entries;
		uint32_t	found_ttl;
		uint32_t	not_found_ttl;
	} cache_conf;
	uint32_t		admit_cached;		/* admit_cached_when_unavailable, seconds; 0: never. */

	/* Made at instantiate. */
	cb_roles_t const	*roles;			/* The module's roles { } (names, for radiusd -X). */
	char const		*log_prefix;		/* "rlm_cetbyod (name): ldap" */
	cb_ldap_conf_t		conf;			/* What the core reads; arrays talloc'd here. */
	fr_connection_pool_t	*pool;
	cb_dircache_t		*cache;
	cb_dirwatch_t		*watcher;		/* The directory watcher's own client (cetbyod_ldap_watcher). */

	/* The last failure to open a connection, for requests that get none. */
	pthread_mutex_t		mutex;
	bool			mutex_ready;
	char			last_error[LAST_ERR_MAX];
	time_t			last_error_at;
};

/** One pooled connection.  Its destructor closes the libldap connection. */
typedef struct {
	cb_ldap_conn_t		*conn;
} ldap_handle_t;

static const CONF_PARSER cache_config[] = {
	{ "max_entries", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, cache_conf.max_entries), "10000" },
	{ "found_ttl", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, cache_conf.found_ttl), "300" },
	{ "not_found_ttl", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, cache_conf.not_found_ttl), "30" },
	CONF_PARSER_TERMINATOR
};

/*
 *	The defaults here are the core's (cb_ldap_conf_defaults); the
 *	repeatable options (uri, email_attribute, staff_group, pupil_group)
 *	are read again, every value, by collect().
 */
static const CONF_PARSER ldap_config[] = {
	{ "uri", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, cetbyod_ldap_t, uri), NULL },
	{ "base_dn", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, base_dn), NULL },
	{ "user_filter", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, user_filter), "(uid=%s)" },
	{ "identity_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, identity_attribute), NULL },
	{ "bind_dn", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, bind_dn), NULL },
	{ "bind_password", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_SECRET, cetbyod_ldap_t, bind_password), NULL },
	{ "sasl_external", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, cetbyod_ldap_t, sasl_external), "no" },
	{ "start_tls", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, cetbyod_ldap_t, start_tls), "no" },
	{ "ca_file", FR_CONF_OFFSET(PW_TYPE_FILE_INPUT, cetbyod_ldap_t, ca_file), NULL },
	{ "ca_dir", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, ca_dir), NULL },
	{ "cert_file", FR_CONF_OFFSET(PW_TYPE_FILE_INPUT, cetbyod_ldap_t, cert_file), NULL },
	{ "key_file", FR_CONF_OFFSET(PW_TYPE_FILE_INPUT, cetbyod_ldap_t, key_file), NULL },
	{ "require_cert", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, cetbyod_ldap_t, require_cert), "yes" },
	{ "connect_timeout_ms", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, connect_timeout_ms), "2000" },
	{ "search_timeout_ms", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, search_timeout_ms), "2000" },
	{ "email_attribute", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, cetbyod_ldap_t, email_attribute), "mail" },
	{ "group_membership", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, cetbyod_ldap_t, group_membership), "memberof" },
	{ "member_of_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, member_of_attribute), "memberOf" },
	{ "group_base_dn", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, group_base_dn), NULL },
	{ "group_filter", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, group_filter), "(objectClass=groupOfNames)" },
	{ "group_member_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, group_member_attribute), "member" },
	{ "max_groups", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, max_groups), "1000" },
	{ "staff_group", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, cetbyod_ldap_t, staff_group), NULL },
	{ "pupil_group", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, cetbyod_ldap_t, pupil_group), NULL },
	{ "disabled_mode", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, cetbyod_ldap_t, disabled_mode), "none" },
	{ "disabled_filter", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, disabled_filter), NULL },
	{ "revoked_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, revoked_attribute), "cetbyodRevoked" },
	{ "revoked_reason_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, revoked_reason_attribute),
	  "cetbyodRevokedReason" },
	{ "exception_reason_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, exception_reason_attribute),
	  "cetbyodExceptionReason" },
	{ "exception_approved_by_attribute",
	  FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, exception_approved_by_attribute), "cetbyodExceptionApprovedBy" },
	{ "exception_until_attribute", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_ldap_t, exception_until_attribute),
	  "cetbyodExceptionUntil" },
	{ "admit_cached_when_unavailable", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_ldap_t, admit_cached), "0" },
	{ "cache", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cache_config },
	CONF_PARSER_TERMINATOR
};

/*
 *	Connections.
 */

static int handle_free(ldap_handle_t *h)
{
	cb_ldap_close(h->conn);
	h->conn = NULL;
	return 0;
}

/** remember_error - keep the last connection failure (or clear it: err NULL). */
static void remember_error(cetbyod_ldap_t *l, char const *err)
{
	pthread_mutex_lock(&l->mutex);
	if (err) {
		strlcpy(l->last_error, err, sizeof(l->last_error));
		l->last_error_at = time(NULL);
	} else {
		l->last_error[0] = '\0';
		l->last_error_at = 0;
	}
	pthread_mutex_unlock(&l->mutex);
}

/**
 * mod_conn_create - the pool's create callback: open, secure and bind one
 * connection (cb_ldap_connect tries the URIs in order).  The handle lives in
 * ctx; NULL, with the reason logged, when no server could be used.
 */
static void *mod_conn_create(TALLOC_CTX *ctx, void *instance)
{
	cetbyod_ldap_t *l = instance;
	char err[CONNECT_ERR_MAX];
	cb_ldap_conn_t *conn;
	ldap_handle_t *h;

	conn = cb_ldap_connect(&l->conf, err, sizeof(err));
	if (!conn) {
		ERROR("%s: cannot open a directory connection: %s", l->log_prefix, err);
		remember_error(l, err);
		return NULL;
	}
	h = talloc_zero(ctx, ldap_handle_t);
	if (!h) {
		cb_ldap_close(conn);
		return NULL;
	}
	h->conn = conn;
	talloc_set_destructor(h, handle_free);
	remember_error(l, NULL);
	DEBUG("%s: directory connection to %s open", l->log_prefix, cb_ldap_conn_uri(conn));
	return h;
}

/** mod_conn_alive - the pool's alive callback (stored by 3.2, which never calls it; nor do we, per request). */
static int mod_conn_alive(void *instance, void *handle)
{
	ldap_handle_t *h = handle;

	(void) instance;
	return cb_ldap_alive(h->conn) ? 0 : -1;
}

/** no_connection - say why the pool gave no connection. */
static void no_connection(cetbyod_ldap_t *l, REQUEST *request)
{
	char last[LAST_ERR_MAX];
	time_t at;

	pthread_mutex_lock(&l->mutex);
	strlcpy(last, l->last_error, sizeof(last));
	at = l->last_error_at;
	pthread_mutex_unlock(&l->mutex);

	if (last[0]) {
		REDEBUG("Directory unavailable: no connection; the last attempt, %ld s ago, failed: %s",
			(long) (time(NULL) - at), last);
	} else {
		REDEBUG("Directory unavailable: no connection could be had from the pool (all in use at "
			"ldap { pool { max } }, or radiusd is stopping)");
	}
}

/**
 * search - one lookup through the pool.  entry is always initialised.
 * server (at least CB_LDAP_URI_MAX bytes) gets the URI asked, or "".
 * A pooled connection found closed by the server is closed and the search
 * run again on the next (bounded by the pool's size); any other failure
 * ends the lookup.
 */
static cb_dir_result_t search(cetbyod_ldap_t *l, REQUEST *request, char const *identity, cb_dir_entry_t *entry,
			      char *server, size_t server_len, int64_t *took_ms)
{
	char err[LOOKUP_ERR_MAX];
	int tries = fr_connection_pool_get_num(l->pool) + 1;
	cb_dir_result_t result = CB_DIR_UNAVAILABLE;
	int64_t t0 = cb_clock_ms();

	server[0] = '\0';
	cb_dir_entry_init(entry);
	entry->facts.result = CB_DIR_UNAVAILABLE;
	for (int i = 0; i < tries; i++) {
		ldap_handle_t *h = fr_connection_get(l->pool);

		if (!h) {
			no_connection(l, request);
			break;
		}
		strlcpy(server, cb_ldap_conn_uri(h->conn), server_len);
		result = cb_ldap_lookup(h->conn, &l->conf, identity, entry, err, sizeof(err));
		if (result != CB_DIR_UNAVAILABLE) {
			fr_connection_release(l->pool, h);
			if (entry->refused) {
				RWDEBUG("Directory %s: the answer for \"%s\" cannot be used: %s", server, identity, err);
			}
			break;
		}
		if (cb_ldap_conn_lost(h->conn)) {
			RDEBUG2("Directory connection to %s was closed by the server (%s); closing it and searching "
				"on another", server, err);
			fr_connection_close(l->pool, h, "closed by the directory server");
			continue;
		}
		REDEBUG("Directory unavailable: %s did not answer the search for \"%s\" (%lld ms): %s", server,
			identity, (long long) (cb_clock_ms() - t0), err);
		fr_connection_close(l->pool, h, "the search failed");	/* Never reused, not retried. */
		break;
	}
	*took_ms = cb_clock_ms() - t0;
	return result;
}

/*
 *	What radiusd -X says about the answer.
 */

/** role_others - ", roles { a } and roles { b }": the role groups in groups (a bit mask) other than skip's. */
static void role_others(cb_roles_t const *roles, unsigned int groups, unsigned int skip, char *buf, size_t len)
{
	size_t o = strlen(buf);

	for (unsigned int k = 1; k <= CB_ROLES_MAX && o + 1 < len; k++) {
		cb_role_conf_t const *r = cb_roles_get(roles, k);

		if (k == skip || !r || !(groups & (1u << k))) continue;
		o += (size_t) snprintf(buf + o, len - o, "%sroles { %s }", o ? ", " : "", r->name);
	}
}

/**
 * log_role - the person's role, and why: which kind of group made it, and
 * which other groups of theirs were passed over (a pupil group comes first,
 * then a staff_group, then the roles in their configured order).
 */
static void log_role(cetbyod_ldap_t const *l, REQUEST *request, cb_dir_entry_t const *e)
{
	cb_role_conf_t const *r = cb_roles_get(l->roles, e->facts.role_id);
	char also[256] = "";

	switch (e->facts.role) {
	case CB_ROLE_PUPIL:
		if (e->role_groups & 1u) strlcpy(also, "a staff_group", sizeof(also));
		role_others(l->roles, e->role_groups, 0, also, sizeof(also));
		RDEBUG2("Directory: role pupil (member of a pupil_group)%s%s%s", also[0] ? "; also in " : "", also,
			also[0] ? ", but a pupil_group comes first" : "");
		return;
	case CB_ROLE_OTHER:
		RDEBUG2("Directory: role other (in no staff_group, pupil_group or roles { } group)");
		return;
	case CB_ROLE_STAFF:
		break;
	}
	role_others(l->roles, e->role_groups, e->facts.role_id, also, sizeof(also));
	if (!r) {
		RDEBUG2("Directory: role staff (member of a staff_group)%s%s%s", also[0] ? "; also in " : "", also,
			also[0] ? ", but a staff_group comes first" : "");
		return;
	}
	RDEBUG2("Directory: role %s (member of a roles { %s { group } })%s%s%s", r->name, r->name,
		also[0] ? "; also in " : "", also, also[0] ? ", configured after it" : "");
}

static void log_exception(REQUEST *request, cb_dir_exception_t const *ex)
{
	char until[32];

	if (!ex->present) {
		RDEBUG2("Directory: no documented exception");
		return;
	}
	if (ex->until) {
		cb_tz_format_utc(ex->until, until, sizeof(until));
	} else {
		strlcpy(until, "open-ended", sizeof(until));
	}
	RDEBUG2("Directory: exception \"%s\", approved by \"%s\", until %s", ex->reason,
		ex->approved_by[0] ? ex->approved_by : "(not recorded)", until);
}

/** log_answer - DN, role, disabled, revoked, exception, addresses; and where the answer came from. */
static void log_answer(cetbyod_ldap_t const *l, REQUEST *request, char const *identity, cb_dir_entry_t const *e,
		       char const *where)
{
	if (!RDEBUG_ENABLED || e->facts.result == CB_DIR_UNAVAILABLE) return;	/* radiusd -X lines only. */
	if (e->facts.result == CB_DIR_NOT_FOUND) {
		if (!e->refused) {
			RDEBUG2("Directory: no entry for \"%s\" under %s (%s)", identity, l->conf.base_dn, where);
		}
		if (e->warning[0]) {
			RWDEBUG("Directory: %s", e->warning);
		}
		return;
	}
	RDEBUG2("Directory: \"%s\" is %s (%s)", identity, e->dn, where);
	log_role(l, request, e);
	RDEBUG2("Directory: account %s", e->facts.disabled ? "disabled" : "not disabled");
	if (e->facts.revoked) {
		RDEBUG2("Directory: BYOD access revoked by IT: %s", e->revoked_reason[0] ? e->revoked_reason :
			"(no reason recorded)");
	} else {
		RDEBUG2("Directory: BYOD access not revoked");
	}
	log_exception(request, &e->exception);
	for (size_t i = 0; i < e->num_emails; i++) {
		RDEBUG2("Directory: email %s", e->emails[i]);
	}
	if (e->num_emails == 0) {
		RDEBUG2("Directory: no email address in the email_attribute(s); the identity keys the acknowledgement");
	}
	if (e->warning[0]) {
		RWDEBUG("Directory: %s", e->warning);
	}
}

/*
 *	The request path.
 */

/**
 * lookup - the answer for identity: cache, directory, or (when allowed) an
 * older cached answer.  Returns true when the directory did not answer
 * (counted in the metrics' directory errors).
 */
static bool lookup(cetbyod_ldap_t *l, REQUEST *request, char const *identity, cb_dir_entry_t *entry)
{
	char server[CB_LDAP_URI_MAX], where[CB_LDAP_URI_MAX + 64];
	time_t now = time(NULL), stored_at = 0;
	cb_dir_result_t result;
	int64_t took_ms;

	if (cb_dircache_get(l->cache, identity, now, entry)) {
		log_answer(l, request, identity, entry, "cached");
		return false;
	}
	result = search(l, request, identity, entry, server, sizeof(server), &took_ms);
	if (result != CB_DIR_UNAVAILABLE) {
		if (!entry->refused) (void) cb_dircache_put(l->cache, identity, entry, now);
		if (RDEBUG_ENABLED) {	/* Not a snprintf per request for lines nobody sees. */
			snprintf(where, sizeof(where), "searched %s in %lld ms", server, (long long) took_ms);
			log_answer(l, request, identity, entry, where);
		}
		return false;
	}
	if (l->admit_cached &&
	    cb_dircache_get_stale(l->cache, identity, time(NULL), l->admit_cached, entry, &stored_at)) {
		RWDEBUG("Directory unavailable: deciding with what it said %ld s ago "
			"(ldap { admit_cached_when_unavailable = %u })", (long) (time(NULL) - stored_at),
			l->admit_cached);
		log_answer(l, request, identity, entry, "cached, past its TTL");
		return true;
	}
	if (l->admit_cached) {
		RDEBUG2("Directory: no answer for \"%s\" read in the last %u s to fall back on", identity,
			l->admit_cached);
	}
	cb_dir_entry_init(entry);
	entry->facts.result = CB_DIR_UNAVAILABLE;
	return true;
}

void cetbyod_ldap_person(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t *facts,
			 char email_buf[][CB_IDENTITY_MAX + 1])
{
	cetbyod_ldap_t *l = inst->ldap;
	cb_dir_entry_t entry;

	memset(&facts->dir, 0, sizeof(facts->dir));
	memset(&facts->exception, 0, sizeof(facts->exception));
	if (!l) {
		REDEBUG("Directory unavailable: directory = ldap was not set up");
		facts->dir.result = CB_DIR_UNAVAILABLE;
		cb_metrics_directory_error(inst->metrics);
		return;
	}
	if (lookup(l, request, identity, &entry)) cb_metrics_directory_error(inst->metrics);

	facts->dir = entry.facts;
	facts->dir.revoked_reason = NULL;
	if (entry.facts.revoked && entry.revoked_reason[0]) {
		/* entry is on this stack: the policy gets a copy that lives as long as the request. */
		facts->dir.revoked_reason = talloc_typed_strdup(request, entry.revoked_reason);
	}
	if (entry.facts.result != CB_DIR_FOUND) return;

	facts->exception = cb_dir_entry_exception(&entry);
	for (size_t i = 0; i < entry.num_emails && facts->num_emails < CB_MAX_EMAILS; i++) {
		strlcpy(email_buf[facts->num_emails], entry.emails[i], CB_IDENTITY_MAX + 1);
		cb_facts_add_email(facts, email_buf[facts->num_emails]);
	}
}

cb_dirwatch_t *cetbyod_ldap_watcher(rlm_cetbyod_t *inst)
{
	cetbyod_ldap_t *l = inst->ldap;
	cb_dirwatch_conf_t dc;

	if (!l) return NULL;
	if (l->watcher) return l->watcher;
	dc = (cb_dirwatch_conf_t) {
		.ldap = &l->conf, .cache = l->cache, .admit_cached = l->admit_cached,
		.email_domain = inst->email_domain, .log = cetbyod_core_log, .log_ctx = inst,
	};
	l->watcher = cb_dirwatch_new(&dc);
	return l->watcher;
}

/*
 *	Start-up.
 */

/**
 * collect - every non-empty value of a repeatable option, as an array
 * talloc'd in l (PW_TYPE_MULTI keeps only the first in the struct).
 */
static int collect(cetbyod_ldap_t *l, CONF_SECTION *cs, char const *name, char const ***out, size_t *num)
{
	CONF_PAIR *cp;
	char const **v;
	size_t n = 0;

	*out = NULL;
	*num = 0;
	for (cp = cf_pair_find(cs, name); cp; cp = cf_pair_find_next(cs, cp, name)) n++;
	if (n == 0) return 0;
	v = talloc_zero_array(l, char const *, n);
	if (!v) return -1;
	n = 0;
	for (cp = cf_pair_find(cs, name); cp; cp = cf_pair_find_next(cs, cp, name)) {
		char const *value = cf_pair_value(cp);

		if (value && *value) v[n++] = value;
	}
	*out = v;
	*num = n;
	return 0;
}

/** in_table - name is one of the table's options. */
static bool in_table(CONF_PARSER const *table, char const *name)
{
	for (CONF_PARSER const *p = table; p->name; p++) {
		if (strcmp(p->name, name) == 0) return true;
	}
	return false;
}

/** option_name - the option a core message starts with, if it is one of ours; else NULL. */
static char const *option_name(char const *err, char *buf, size_t len)
{
	size_t n = 0;

	while (err[n] && ((err[n] >= 'a' && err[n] <= 'z') || err[n] == '_') && n + 1 < len) {
		buf[n] = err[n];
		n++;
	}
	buf[n] = '\0';
	return (n && in_table(ldap_config, buf)) ? buf : NULL;
}

/**
 * unknown_options - refuse options we do not know (FreeRADIUS 3.2 ignores
 * them): a misspelt "start_tsl" or "requre_cert" must not silently mean
 * the default.  Sections allowed: cache { } and pool { } (whose options the
 * pool checks).
 */
static int unknown_options(CONF_SECTION *cs)
{
	CONF_ITEM *ci;
	CONF_SECTION *cache_cs;

	for (ci = cf_item_find_next(cs, NULL); ci; ci = cf_item_find_next(cs, ci)) {
		if (cf_item_is_pair(ci)) {
			char const *name = cf_pair_attr(cf_item_to_pair(ci));

			if (in_table(ldap_config, name) || strcmp(name, "pool") == 0) continue;
			cf_log_err(ci, "Unknown option 'ldap { %s }': see mods-available/cetbyod for the options", name);
			return -1;
		}
		if (cf_item_is_section(ci)) {
			char const *name = cf_section_name1(cf_item_to_section(ci));

			if (strcmp(name, "cache") == 0 || strcmp(name, "pool") == 0) continue;
			cf_log_err(ci, "Unknown section 'ldap { %s { } }': accepted are cache { } and pool { }", name);
			return -1;
		}
	}
	cache_cs = cf_section_sub_find(cs, "cache");
	if (!cache_cs) return 0;
	for (ci = cf_item_find_next(cache_cs, NULL); ci; ci = cf_item_find_next(cache_cs, ci)) {
		if (!cf_item_is_pair(ci) && !cf_item_is_section(ci)) continue;	/* CONF_DATA */
		if (cf_item_is_pair(ci) && in_table(cache_config, cf_pair_attr(cf_item_to_pair(ci)))) continue;
		cf_log_err(ci, "Unknown option in 'ldap { cache { } }': accepted are max_entries, found_ttl and "
			   "not_found_ttl");
		return -1;
	}
	return 0;
}

/** show_list - radiusd -X prints only the first value of a repeatable option: show them all. */
static void show_list(cetbyod_ldap_t const *l, char const *name, char const **v, size_t n)
{
	if (n < 2) return;
	for (size_t i = 0; i < n; i++) {
		DEBUG("%s: %s = \"%s\" (%zu of %zu)", l->log_prefix, name, v[i], i + 1, n);
	}
}

static int parse_modes(cetbyod_ldap_t *l, CONF_SECTION *cs)
{
	int mode;

	mode = cb_ldap_group_mode_parse(l->group_membership);
	if (mode < 0) {
		cf_log_err_cs(cs, "Invalid value \"%s\" for 'ldap { group_membership }': accepted values are %s",
			      l->group_membership, CB_LDAP_GROUP_MODE_NAMES);
		return -1;
	}
	l->conf.group_mode = (cb_ldap_group_mode_t) mode;
	mode = cb_ldap_disabled_mode_parse(l->disabled_mode);
	if (mode < 0) {
		cf_log_err_cs(cs, "Invalid value \"%s\" for 'ldap { disabled_mode }': accepted values are %s",
			      l->disabled_mode, CB_LDAP_DISABLED_MODE_NAMES);
		return -1;
	}
	l->conf.disabled_mode = (cb_ldap_disabled_mode_t) mode;
	return 0;
}

/** build_conf - the core's configuration from the parsed options; checked. */
static int build_conf(cetbyod_ldap_t *l, CONF_SECTION *cs, cb_ldap_role_t const *roles, size_t num_roles)
{
	cb_ldap_conf_t *c = &l->conf;
	char err[1024], name[64];
	char const *option;

	/* NULL and "" both mean "not set" to the core: "" turns an attribute off. */
	cb_ldap_conf_defaults(c);
	if (collect(l, cs, "uri", &c->uris, &c->num_uris) < 0 ||
	    collect(l, cs, "email_attribute", &c->email_attributes, &c->num_email_attributes) < 0 ||
	    collect(l, cs, "staff_group", &c->staff_groups, &c->num_staff_groups) < 0 ||
	    collect(l, cs, "pupil_group", &c->pupil_groups, &c->num_pupil_groups) < 0) {
		cf_log_err_cs(cs, "Out of memory reading 'ldap { }'");
		return -1;
	}
	c->roles = roles;		/* roles { NAME { group } }: parsed by glue_roles.c. */
	c->num_roles = num_roles;
	c->base_dn = l->base_dn;
	c->user_filter = l->user_filter;
	c->identity_attribute = l->identity_attribute;
	c->bind_dn = l->bind_dn;
	c->bind_password = l->bind_password;
	c->sasl_external = l->sasl_external;
	c->start_tls = l->start_tls;
	c->ca_file = l->ca_file;
	c->ca_dir = l->ca_dir;
	c->cert_file = l->cert_file;
	c->key_file = l->key_file;
	c->require_cert = l->require_cert;
	c->connect_timeout_ms = l->connect_timeout_ms;
	c->search_timeout_ms = l->search_timeout_ms;
	c->member_of_attribute = l->member_of_attribute;
	c->group_base_dn = l->group_base_dn;
	c->group_filter = l->group_filter;
	c->group_member_attribute = l->group_member_attribute;
	c->max_groups = l->max_groups;
	c->disabled_filter = l->disabled_filter;
	c->revoked_attribute = l->revoked_attribute;
	c->revoked_reason_attribute = l->revoked_reason_attribute;
	c->exception_reason_attribute = l->exception_reason_attribute;
	c->exception_approved_by_attribute = l->exception_approved_by_attribute;
	c->exception_until_attribute = l->exception_until_attribute;
	if (parse_modes(l, cs) < 0) return -1;
	show_list(l, "uri", c->uris, c->num_uris);
	show_list(l, "email_attribute", c->email_attributes, c->num_email_attributes);
	show_list(l, "staff_group", c->staff_groups, c->num_staff_groups);
	show_list(l, "pupil_group", c->pupil_groups, c->num_pupil_groups);

	if (cb_ldap_conf_check(c, err, sizeof(err)) < 0) {
		option = option_name(err, name, sizeof(name));
		if (option) {
			cf_log_err_cs(cs, "Invalid 'ldap { %s }': %s", option, err);
		} else if (strncmp(err, "roles", 5) == 0) {
			cf_log_err_cs(cs, "Invalid %s", err);	/* "roles { governors { group } }: ..." */
		} else {
			cf_log_err_cs(cs, "Invalid 'ldap { }' configuration: %s", err);
		}
		return -1;
	}
	if (c->bind_password && *c->bind_password && !c->start_tls) {
		for (size_t i = 0; i < c->num_uris; i++) {
			if (strncasecmp(c->uris[i], "ldap://", 7) != 0) continue;
			WARN("%s: 'ldap { bind_password }' crosses the network in clear to %s: set start_tls = yes "
			     "or use ldaps://", l->log_prefix, c->uris[i]);
		}
	}
	return 0;
}

static int make_cache(cetbyod_ldap_t *l, CONF_SECTION *cs)
{
	cb_dircache_conf_t cc = {
		.max_entries = l->cache_conf.max_entries,
		.found_ttl = l->cache_conf.found_ttl,
		.not_found_ttl = l->cache_conf.not_found_ttl,
		.keep_stale = l->admit_cached,
	};
	char err[256];

	if (l->admit_cached > ADMIT_CACHED_MAX) {
		cf_log_err_cs(cs, "Invalid value %u for 'ldap { admit_cached_when_unavailable }': accepted values are 0 "
			      "(refuse while the directory is unavailable) to %d seconds", l->admit_cached,
			      ADMIT_CACHED_MAX);
		return -1;
	}
	if (cc.max_entries < 1 || cc.max_entries > CB_DIRCACHE_MAX_ENTRIES) {
		cf_log_err_cs(cs, "Invalid value %u for 'ldap { cache { max_entries } }': accepted values are 1 to %d",
			      l->cache_conf.max_entries, CB_DIRCACHE_MAX_ENTRIES);
		return -1;
	}
	l->cache = cb_dircache_create(&cc, err, sizeof(err));
	if (!l->cache) {
		cf_log_err_cs(cs, "Cannot create the directory cache ('ldap { cache { } }'): %s", err);
		return -1;
	}
	return 0;
}

/** pool_default - set name = value in the pool section unless the administrator did. */
static int pool_default(CONF_SECTION *pool_cs, char const *name, char const *value)
{
	CONF_PAIR *cp;

	if (cf_pair_find(pool_cs, name)) return 0;
	cp = cf_pair_alloc(pool_cs, name, value, T_OP_SET, T_BARE_WORD, T_BARE_WORD);
	if (!cp) return -1;
	cf_pair_add(pool_cs, cp);
	return 0;
}

/**
 * pool_section - the ldap { pool { } } section, made if absent, with our
 * defaults where the administrator set nothing:
 *
 *	start = 0	radiusd starts while the directory is down (deciding
 *			directory_unavailable until it is back) instead of
 *			refusing to start.
 *	min = 0, spare = 0
 *			FreeRADIUS 3.2 opens "min" and "spare" connections
 *			in the thread of the request that releases or closes
 *			a connection, before that request is answered; against
 *			a directory that hangs, that adds connect_timeout_ms
 *			per URI to the reply.  With 0 connections are opened
 *			only when a request needs one and none is idle.
 *
 * "pool = <module>" (sharing another module's pool) is refused: a pool's
 * connections belong to the module that made them.
 */
static int pool_section(CONF_SECTION *cs)
{
	CONF_SECTION *pool_cs;
	CONF_PAIR *cp;

	cp = cf_pair_find(cs, "pool");
	if (cp) {
		cf_log_err_cp(cp, "'ldap { pool }' must be a section (pool { start = ... max = ... }), not a "
			      "reference to another module");
		return -1;
	}
	pool_cs = cf_section_sub_find(cs, "pool");
	if (!pool_cs) {
		pool_cs = cf_section_alloc(cs, "pool", NULL);
		if (!pool_cs) return -1;
		cf_section_add(cs, pool_cs);
	}
	if (pool_default(pool_cs, "start", "0") < 0 || pool_default(pool_cs, "min", "0") < 0 ||
	    pool_default(pool_cs, "spare", "0") < 0) return -1;
	return 0;
}

static int ldap_free(cetbyod_ldap_t *l)
{
	fr_connection_pool_free(l->pool);	/* Closes every connection (handle_free). */
	l->pool = NULL;
	cb_dirwatch_free(l->watcher);	/* The enforcer, its user, has stopped. */
	l->watcher = NULL;
	cb_dircache_free(l->cache);
	l->cache = NULL;
	if (l->mutex_ready) pthread_mutex_destroy(&l->mutex);
	l->mutex_ready = false;
	return 0;
}

int cetbyod_ldap_instantiate(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	CONF_SECTION *cs = cf_section_sub_find(conf, "ldap");
	cetbyod_ldap_t *l;

	if (!cs) {
		cf_log_err_cs(conf, "directory = ldap needs an 'ldap { }' section (uri, base_dn, staff_group, ...): "
			      "see mods-available/cetbyod");
		return -1;
	}
	l = talloc_zero(inst, cetbyod_ldap_t);
	if (!l) return -1;
	if (pthread_mutex_init(&l->mutex, NULL) != 0) {
		talloc_free(l);
		return -1;
	}
	l->mutex_ready = true;
	talloc_set_destructor(l, ldap_free);
	l->log_prefix = talloc_asprintf(l, "rlm_cetbyod (%s): ldap", inst->name);
	if (!l->log_prefix) goto fail;

	if (unknown_options(cs) < 0) goto fail;
	if (cf_section_parse(cs, l, ldap_config) < 0) goto fail;
	l->roles = &inst->roles;
	if (build_conf(l, cs, inst->ldap_roles, inst->roles.count) < 0) goto fail;
	if (make_cache(l, cs) < 0) goto fail;
	if (pool_section(cs) < 0) goto fail;
	l->pool = fr_connection_pool_module_init(cs, l, mod_conn_create, mod_conn_alive, l->log_prefix);
	if (!l->pool) {
		cf_log_err_cs(cs, "Cannot start the directory connection pool ('ldap { pool { } }'): see the "
			      "messages above");
		goto fail;
	}
	inst->ldap = l;
	return 0;

fail:
	talloc_free(l);
	return -1;
}

cb_ldap_conf_t const *cetbyod_ldap_core_conf(rlm_cetbyod_t *inst)
{
	return inst->ldap ? &inst->ldap->conf : NULL;
}

void cetbyod_ldap_detach(rlm_cetbyod_t *inst)
{
	if (!inst || !inst->ldap) return;
	talloc_free(inst->ldap);
	inst->ldap = NULL;
}
