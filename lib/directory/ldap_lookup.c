/*
 * ldap_lookup.c - cb_ldap_lookup(): finding one person in the directory.
 *
 * How a lookup works
 * ------------------
 * One search per lookup, in the common case.  With the OpenLDAP defaults
 * (user_filter "(uid=%s)", group_mode memberof, disabled_mode ppolicy_locked)
 * looking up "alice" is:
 *
 *	base     dc=school,dc=example (subtree)
 *	filter   (uid=alice)            - the identity escaped per RFC 4515
 *	attrs    mail memberOf pwdAccountLockedTime cetbyodRevoked ...
 *	limits   sizelimit 2, timelimit and client timeout from search_timeout_ms
 *
 * Zero entries is NOT_FOUND; two is refused as ambiguous (the size limit of
 * 2 is what lets us see that cheaply); one is copied into the neutral
 * cb_ldap_entry_t (its DN, and the values of the attributes asked for) and
 * read by cb_ldap_facts_read() (ldap_facts.c), which needs no connection.
 * group_mode search/ad_nested adds one search for the groups that list the
 * user's DN, and disabled_mode filter adds a base-scoped search of the
 * user's entry; all searches of one lookup share one search_timeout_ms
 * budget.
 *
 * Failure contract
 * ----------------
 * Anything that stops the directory from answering (connection lost, timeout,
 * server error) is CB_DIR_UNAVAILABLE, and marks the connection broken: it is
 * never used again, because libldap would otherwise silently reconnect a lost
 * connection without TLS or bind.  An answer that cannot be used (ambiguous,
 * DN too long, more groups than max_groups) is NOT_FOUND with out->refused
 * set.  How bad values inside the entry are read is ldap_facts.c's business.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory/ldap_int.h"
#include "base/clock.h"
#include "core/identity.h"

/** add_attr - add name to the attribute list unless it is empty or there already. */
static void add_attr(char const **attrs, size_t *n, char const *name)
{
	if (!cb_ldap_is_set(name) || *n + 1 >= CB_LDAP_MAX_ATTRS) return;
	for (size_t i = 0; i < *n; i++) if (strcasecmp(attrs[i], name) == 0) return;
	attrs[(*n)++] = name;
	attrs[*n] = NULL;
}

static void build_attrs(cb_ldap_conf_t const *conf, char const **attrs)
{
	size_t n = 0;

	attrs[0] = NULL;
	for (size_t i = 0; i < conf->num_email_attributes && i < CB_LDAP_MAX_EMAIL_ATTRS; i++) {
		add_attr(attrs, &n, conf->email_attributes[i]);
	}
	if (conf->group_mode == CB_LDAP_GROUPS_MEMBEROF) add_attr(attrs, &n, conf->member_of_attribute);
	if (conf->disabled_mode == CB_LDAP_DISABLED_AD_UAC) add_attr(attrs, &n, CB_LDAP_AD_UAC_ATTR);
	if (conf->disabled_mode == CB_LDAP_DISABLED_PPOLICY) add_attr(attrs, &n, CB_LDAP_PPOLICY_LOCKED_ATTR);
	add_attr(attrs, &n, conf->revoked_attribute);
	add_attr(attrs, &n, conf->revoked_reason_attribute);
	add_attr(attrs, &n, conf->exception_reason_attribute);
	add_attr(attrs, &n, conf->exception_approved_by_attribute);
	add_attr(attrs, &n, conf->exception_until_attribute);
	if (n == 0) add_attr(attrs, &n, LDAP_NO_ATTRS);
}

/** Outcome of one search. */
typedef enum {
	SEARCH_OK = 0,		/* Answered; *res holds the entries. */
	SEARCH_TOO_MANY,	/* Answered with more entries than the size limit; *res holds some. */
	SEARCH_FAILED		/* No usable answer: the connection is broken. */
} search_rcode_t;

/**
 * run_search - one synchronous search bounded by what is left until deadline.
 * On SEARCH_OK and SEARCH_TOO_MANY the caller frees *res with ldap_msgfree();
 * on SEARCH_FAILED *res is NULL, err says why and the connection is broken.
 */
static search_rcode_t run_search(cb_ldap_conn_t *conn, char const *base, int scope, char const *filter,
				 char const **attrs, int sizelimit, int64_t deadline, LDAPMessage **res,
				 char *err, size_t errlen)
{
	int64_t left = deadline - cb_clock_ms();
	struct timeval tv;
	char what[CB_LDAP_URI_MAX + 128];
	int rc;

	*res = NULL;
	if (left <= 0) {
		cb_ldap_err_set(err, errlen, "search_timeout_ms (%u ms) used up before the search of %s", conn->search_timeout_ms,
			base);
		conn->broken = true;
		return SEARCH_FAILED;
	}
	cb_ldap_ms_to_timeval((unsigned int) left, &tv);
	rc = ldap_search_ext_s(conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0, NULL, NULL,
			       &tv, sizelimit, res);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		conn->answered++;
		return rc == LDAP_SUCCESS ? SEARCH_OK : SEARCH_TOO_MANY;
	}

	if (*res) ldap_msgfree(*res);
	*res = NULL;
	conn->broken = true;
	conn->lost = (rc == LDAP_SERVER_DOWN) && conn->answered > 0;
	switch (rc) {
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
		snprintf(what, sizeof(what), "%s: no answer within search_timeout_ms (%u ms)", conn->uri,
			 conn->search_timeout_ms);
		break;
	case LDAP_NO_SUCH_OBJECT:
		snprintf(what, sizeof(what), "%s: the search base does not exist or is hidden from the bind identity "
			 "(check base_dn, group_base_dn, bind_dn)", conn->uri);
		break;
	case LDAP_INSUFFICIENT_ACCESS:
		snprintf(what, sizeof(what), "%s: the bind identity may not search there (check bind_dn and the "
			 "directory's access rules)", conn->uri);
		break;
	case LDAP_FILTER_ERROR:
		snprintf(what, sizeof(what), "%s: the server refused the filter", conn->uri);
		break;
	default:
		snprintf(what, sizeof(what), "%s: search failed", conn->uri);
		break;
	}
	cb_ldap_ld_error(conn->ld, rc, what, err, errlen);
	return SEARCH_FAILED;
}

/** group_search - group_mode search/ad_nested: groups that list the user's DN. */
static search_rcode_t group_search(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_dir_entry_t *out,
				   int64_t deadline, char *err, size_t errlen)
{
	char filter[CB_LDAP_FILTER_MAX];
	char const *attrs[] = { LDAP_NO_ATTRS, NULL };
	cb_ldap_roles_t roles = { false, false, 0 };
	LDAPMessage *res, *e;
	search_rcode_t rcode;
	cb_ldap_sb_t sb;

	cb_ldap_sb_init(&sb, filter, sizeof(filter));
	cb_ldap_sb_add(&sb, "(&");
	if (cb_ldap_is_set(conf->group_filter)) cb_ldap_sb_add(&sb, conf->group_filter);
	cb_ldap_sb_add(&sb, "(");
	cb_ldap_sb_add(&sb, conf->group_member_attribute);
	if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED) cb_ldap_sb_add(&sb, CB_LDAP_AD_IN_CHAIN);
	cb_ldap_sb_add(&sb, "=");
	if (!cb_ldap_sb_add_escaped(&sb, out->dn, strlen(out->dn))) sb.overflow = true;
	cb_ldap_sb_add(&sb, "))");
	if (sb.overflow) {
		cb_ldap_err_set(err, errlen, "the group search filter for %s would be too long", out->dn);
		return SEARCH_TOO_MANY;
	}
	rcode = run_search(conn, cb_ldap_is_set(conf->group_base_dn) ? conf->group_base_dn : conf->base_dn,
			   LDAP_SCOPE_SUBTREE, filter, attrs, (int) conf->max_groups, deadline, &res, err, errlen);
	if (rcode == SEARCH_FAILED) return rcode;
	if (rcode == SEARCH_TOO_MANY) {
		cb_ldap_err_set(err, errlen, "%s is in more than max_groups (%u) groups; raise max_groups or narrow "
			"group_base_dn/group_filter", out->dn, conf->max_groups);
		ldap_msgfree(res);
		return rcode;
	}
	for (e = ldap_first_entry(conn->ld, res); e; e = ldap_next_entry(conn->ld, e)) {
		char *dn = ldap_get_dn(conn->ld, e);

		if (!dn) continue;
		cb_ldap_roles_note(&conn->groups, dn, strlen(dn), &roles);
		ldap_memfree(dn);
	}
	ldap_msgfree(res);
	cb_ldap_roles_set(out, &roles);
	return SEARCH_OK;
}

/** disabled_search - disabled_mode filter: does the user's entry match disabled_filter? */
static search_rcode_t disabled_search(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_dir_entry_t *out,
				      int64_t deadline, char *err, size_t errlen)
{
	char const *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	search_rcode_t rcode;

	rcode = run_search(conn, out->dn, LDAP_SCOPE_BASE, conf->disabled_filter, attrs, 1, deadline, &res,
			   err, errlen);
	if (rcode == SEARCH_FAILED) return rcode;
	out->facts.disabled = (ldap_count_entries(conn->ld, res) > 0);
	ldap_msgfree(res);
	return SEARCH_OK;
}

static cb_dir_result_t unavailable(cb_ldap_conn_t *conn, cb_dir_entry_t *out)
{
	if (conn) conn->broken = true;
	cb_dir_entry_init(out);
	out->facts.result = CB_DIR_UNAVAILABLE;
	return CB_DIR_UNAVAILABLE;
}

/*
 *	The entry found, in the neutral form ldap_facts.c reads.
 */

/*
 *	Read in one pass over the entry's BER (ldap_get_dn_ber, then
 *	ldap_get_attribute_ber for each attribute in turn), rather than an
 *	ldap_get_values_len() per attribute asked for, each of which scans the
 *	entry from its start and copies every value.  The values stay in the
 *	message's buffer, as (pointer, length), until msg_entry_free().
 */
#define MSG_ATTRS_MAX	1024	/* Attributes read from one entry; a hostile server may send any number. */

typedef struct {
	BerElement		*ber;				/* The reading position; NULL: no DN read. */
	struct berval		*vals[CB_LDAP_MAX_ATTRS];	/* Of each attribute asked for; NULL: none. */
	cb_ldap_attr_t		attrs[CB_LDAP_MAX_ATTRS];
	cb_ldap_value_t		*values;			/* All the values, attribute after attribute. */
	cb_ldap_entry_t		entry;
} msg_entry_t;

static void msg_entry_free(msg_entry_t *m)
{
	for (size_t i = 0; i < CB_LDAP_MAX_ATTRS; i++) if (m->vals[i]) ber_memfree(m->vals[i]);
	if (m->ber) ber_free(m->ber, 0);
	free(m->values);
}

/**
 * asked_index - which of names[0..n) the attribute description desc is:
 * the whole description, case-insensitively, as ldap_get_values_len()
 * matches it ("memberOf;x-hidden" is not "memberOf").  n when none.
 */
static size_t asked_index(char const * const *names, size_t n, struct berval const *desc)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) == desc->bv_len && strncasecmp(names[i], desc->bv_val, desc->bv_len) == 0) return i;
	}
	return n;
}

/** msg_entry_attrs - the values of the attributes asked for (the first of each name), in one pass. */
static size_t msg_entry_attrs(LDAP *ld, LDAPMessage *e, char const * const *names, size_t n, msg_entry_t *m)
{
	size_t total = 0;

	for (int i = 0; i < MSG_ATTRS_MAX; i++) {
		struct berval desc = { 0, NULL }, *vals = NULL;
		size_t k;

		if (ldap_get_attribute_ber(ld, e, m->ber, &desc, &vals) != LDAP_SUCCESS || !desc.bv_val) {
			if (vals) ber_memfree(vals);
			break;
		}
		k = asked_index(names, n, &desc);
		if (k == n || m->vals[k] || !vals) {	/* Not asked for, or a second time: ignored. */
			if (vals) ber_memfree(vals);
			continue;
		}
		m->vals[k] = vals;
		for (size_t j = 0; vals[j].bv_val; j++) total++;
	}
	return total;
}

/**
 * msg_entry_read - e's DN and the values of the attributes names lists
 * (those the search asked for) into m.  Returns 0, or -1 when memory runs
 * out; either way the caller frees m with msg_entry_free().  An entry whose
 * DN cannot be read has no DN and no values (the facts reader refuses it).
 */
static int msg_entry_read(LDAP *ld, LDAPMessage *e, char const * const *names, msg_entry_t *m)
{
	struct berval dn = { 0, NULL };
	size_t n, total = 0;

	memset(m, 0, sizeof(*m));
	for (n = 0; n < CB_LDAP_MAX_ATTRS && names[n]; n++) m->attrs[n].name = names[n];
	if (ldap_get_dn_ber(ld, e, &m->ber, &dn) == LDAP_SUCCESS && dn.bv_val) {
		m->entry.dn = dn.bv_val;
		m->entry.dn_len = dn.bv_len;
		total = msg_entry_attrs(ld, e, names, n, m);
	}
	m->values = calloc(total ? total : 1, sizeof(*m->values));
	if (!m->values) return -1;

	total = 0;
	for (size_t i = 0; i < n; i++) {
		m->attrs[i].values = m->values + total;
		for (size_t j = 0; m->vals[i] && m->vals[i][j].bv_val; j++, total++) {
			m->values[total].val = m->vals[i][j].bv_val;
			m->values[total].len = m->vals[i][j].bv_len;
			m->attrs[i].num_values++;
		}
	}
	m->entry.attrs = m->attrs;
	m->entry.num_attrs = n;
	return 0;
}

/** read_entry - turn the one entry found into facts (and run the extra searches configured). */
static cb_dir_result_t read_entry(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, LDAPMessage *e,
				  char const * const *attrs, cb_dir_entry_t *out, int64_t deadline,
				  char *err, size_t errlen)
{
	search_rcode_t rcode = SEARCH_OK;
	cb_dir_result_t result;
	msg_entry_t m;

	if (msg_entry_read(conn->ld, e, attrs, &m) < 0) {
		msg_entry_free(&m);
		cb_ldap_err_set(err, errlen, "%s: out of memory reading the entry", conn->uri);
		return unavailable(conn, out);
	}
	result = cb_ldap_facts_read(conf, &conn->groups, &m.entry, out, err, errlen);
	msg_entry_free(&m);
	if (result != CB_DIR_FOUND) return result;

	if (conf->group_mode != CB_LDAP_GROUPS_MEMBEROF) rcode = group_search(conn, conf, out, deadline, err, errlen);
	if (rcode == SEARCH_OK && conf->disabled_mode == CB_LDAP_DISABLED_FILTER) {
		rcode = disabled_search(conn, conf, out, deadline, err, errlen);
	}
	if (rcode == SEARCH_FAILED) return unavailable(conn, out);
	if (rcode == SEARCH_TOO_MANY) return cb_ldap_facts_refuse(out);
	return CB_DIR_FOUND;
}

cb_dir_result_t cb_ldap_lookup(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char const *identity,
			       cb_dir_entry_t *out, char *err, size_t errlen)
{
	int64_t deadline = cb_clock_ms() + (conf ? conf->search_timeout_ms : 0);
	char filter[CB_LDAP_FILTER_MAX], why[256];
	char const *attrs[CB_LDAP_MAX_ATTRS + 1];
	LDAPMessage *res = NULL;
	search_rcode_t rcode;
	cb_dir_result_t result;
	int count;

	if (err && errlen) err[0] = '\0';
	cb_dir_entry_init(out);
	if (!conn || !conn->ld || conn->broken || !conf) {
		cb_ldap_err_set(err, errlen, "the directory connection is not usable (it failed before)");
		return unavailable(conn, out);
	}
	conn->search_timeout_ms = conf->search_timeout_ms;
	if (!identity || !*identity || strlen(identity) > CB_IDENTITY_MAX) {
		cb_ldap_err_set(err, errlen, "no identity, or an identity longer than %d bytes, to look up",
				CB_IDENTITY_MAX);
		return cb_ldap_facts_refuse(out);
	}
	if (cb_ldap_filter_expand(conf->user_filter, identity, filter, sizeof(filter), why, sizeof(why)) < 0) {
		cb_ldap_err_set(err, errlen, "user_filter: %s", why);
		return cb_ldap_facts_refuse(out);
	}
	if (cb_ldap_conn_groups(conn, conf, err, errlen) < 0) return unavailable(conn, out);
	build_attrs(conf, attrs);

	rcode = run_search(conn, conf->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, deadline, &res, err, errlen);
	if (rcode == SEARCH_FAILED) return unavailable(conn, out);
	count = ldap_count_entries(conn->ld, res);
	if (rcode == SEARCH_TOO_MANY || count > 1) {
		cb_ldap_err_set(err, errlen, "%s matches more than one entry under %s: refused as ambiguous", filter,
				conf->base_dn);
		ldap_msgfree(res);
		return cb_ldap_facts_refuse(out);
	}
	if (count <= 0) {
		ldap_msgfree(res);
		return CB_DIR_NOT_FOUND;
	}
	result = read_entry(conn, conf, ldap_first_entry(conn->ld, res), attrs, out, deadline, err, errlen);
	ldap_msgfree(res);
	return result;
}
