/*
 * ldap_list.c - cb_ldap_list_people(): everyone a report or a reminder run
 * needs, by paged searches (RFC 2696).
 *
 *	Reports and reminders need everyone a decision could concern: staff
 *	(who must acknowledge) and anyone with an exception recorded in the
 *	directory.  With the OpenLDAP defaults (user_filter "(uid=%s)", group_mode
 *	memberof, staff_group cn=staff,ou=groups,dc=school,dc=example) that is
 *	one paged subtree search:
 *
 *	base     dc=school,dc=example (subtree)
 *	filter   (&(uid=*)(|(memberOf=cn=staff,ou=groups,dc=school,dc=example)
 *	                    (cetbyodExceptionReason=*)))
 *	attrs    uid
 *	control  Simple Paged Results (RFC 2696), list_page_size entries a page
 *
 *	"(uid=*)" is user_filter with "*" put unescaped where %s is: whatever
 *	the filter requires of a user besides the identity (an objectClass, an
 *	account type) it still requires.  The group DNs are escaped as
 *	assertion values (RFC 4515); ad_nested asks for memberOf with AD's
 *	IN_CHAIN rule, so members of nested groups count as lookups count them.
 *
 *	group_mode search has no memberOf to filter on: each staff group is
 *	read (a base search returning its group_member_attribute values), each
 *	member DN is read with a base search whose filter is the presence
 *	filter (so nested groups, service accounts and dangling DNs drop out),
 *	and one paged subtree search finds the exception holders.  The member
 *	DNs, normalised, are kept in a set, so that a person in two groups is
 *	read once and the exception search skips those already read.
 *
 *	Each entry gives at most one identity: its identity_attribute value,
 *	checked and lower-cased by cb_identity_normalise() without stripping
 *	anything (that is the value a lookup puts into user_filter).  Entries
 *	with no valid value, or with several different ones, are skipped and
 *	counted.  Identities already reported (two entries sharing a uid) are
 *	not reported again: the reported ones are kept in a second set, which
 *	list_max_people bounds, and with it the memory used.
 *
 *	Every request gets what is left of one list_timeout_ms budget, both as
 *	the client's wait and as the server's time limit.  Any failure breaks
 *	the connection, as a failed lookup does.  A server that ignores the
 *	paging control and stops at its size limit is an error, never a
 *	silently short list; so is a group whose member list comes back in AD
 *	ranges ("member;range=0-1499"), which search mode does not follow.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory/ldap_int.h"
#include "base/clock.h"
#include "base/utf8.h"
#include "core/identity.h"

/** A set of strings: open addressing, linear probing, a power-of-two table at most half full. */
typedef struct {
	char	**slot;
	size_t	cap;
	size_t	used;
} strset_t;

static uint64_t str_hash(char const *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	for (; *s; s++) h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

/** strset_find - the slot holding s, or the empty slot where it would go. */
static size_t strset_find(strset_t const *set, char const *s)
{
	size_t i = (size_t) str_hash(s) & (set->cap - 1);

	while (set->slot[i] && strcmp(set->slot[i], s) != 0) i = (i + 1) & (set->cap - 1);
	return i;
}

static bool strset_has(strset_t const *set, char const *s)
{
	return set->cap && set->slot[strset_find(set, s)] != NULL;
}

static bool strset_grow(strset_t *set)
{
	size_t cap = set->cap ? set->cap * 2 : 64;
	strset_t bigger = { calloc(cap, sizeof(char *)), cap, set->used };

	if (!bigger.slot) return false;
	for (size_t i = 0; i < set->cap; i++) {
		if (set->slot[i]) bigger.slot[strset_find(&bigger, set->slot[i])] = set->slot[i];
	}
	free(set->slot);
	*set = bigger;
	return true;
}

/** strset_add - add a copy of s.  Returns 1 when added, 0 when already there, -1 when out of memory. */
static int strset_add(strset_t *set, char const *s)
{
	size_t i;

	if (strset_has(set, s)) return 0;
	if ((set->used + 1) * 2 > set->cap && !strset_grow(set)) return -1;
	i = strset_find(set, s);
	set->slot[i] = strdup(s);
	if (!set->slot[i]) return -1;
	set->used++;
	return 1;
}

static void strset_free(strset_t *set)
{
	for (size_t i = 0; i < set->cap; i++) free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

/** The state of one cb_ldap_list_people() call. */
typedef struct {
	cb_ldap_conn_t		*conn;
	cb_ldap_conf_t const	*conf;
	cb_ldap_person_fn	fn;
	void			*ctx;

	char			idattr[CB_LDAP_ATTR_NAME_MAX + 1];	/* identity_attribute, or the derived one. */
	char			presence[CB_LDAP_FILTER_MAX];	/* user_filter with %s -> '*'. */
	unsigned int		timeout_ms;
	unsigned int		max_people;
	unsigned int		page_size;
	int64_t			deadline;

	strset_t		people;		/* Identities reported. */
	strset_t		dns;		/* search mode: normalised DNs of the members read. */
	size_t			count;
	size_t			skipped;
	bool			stop;		/* fn asked to stop. */
	size_t			groups_read;	/* search mode: staff group entries read. */

	char			*err;
	size_t			errlen;
} lister_t;

typedef int (*lister_entry_fn)(lister_t *l, LDAPMessage *e);

/** list_fail - set err to "uri: listing people: message (after N people)"; break the connection.  -1. */
static int list_fail(lister_t *l, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static int list_fail(lister_t *l, char const *fmt, ...)
{
	char msg[CB_DIR_DN_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cb_ldap_text_sanitise(msg);
	cb_ldap_err_set(l->err, l->errlen, "%s: listing people: %s (after %zu reported)", l->conn->uri, msg, l->count);
	l->conn->broken = true;
	return -1;
}

/** presence_filter - tmpl with "*" where its %s is and % for each %%. */
static bool presence_filter(char const *tmpl, char *buf, size_t buflen)
{
	cb_ldap_sb_t sb;

	cb_ldap_sb_init(&sb, buf, buflen);
	for (char const *p = tmpl; *p; p++) {
		if (*p != '%') {
			cb_ldap_sb_addn(&sb, p, 1);
		} else if (p[1] == '%') {
			cb_ldap_sb_add(&sb, "%");
			p++;
		} else if (p[1] == 's') {
			cb_ldap_sb_add(&sb, "*");
			p++;
		} else {
			return false;
		}
	}
	return !sb.overflow;
}

/**
 * list_entry - report the identity in one entry, or count it as skipped.
 * Returns 0, or -1 (err set) when list_max_people is passed or memory runs out.
 */
static int list_entry(lister_t *l, LDAPMessage *e)
{
	static cb_identity_conf_t const plain = { .max_length = CB_IDENTITY_MAX };
	struct berval **vals = ldap_get_values_len(l->conn->ld, e, l->idattr);
	char found[CB_IDENTITY_MAX + 1], norm[CB_IDENTITY_MAX + 1];
	int distinct = 0;

	for (size_t j = 0; vals && vals[j] && distinct < 2; j++) {
		if (!vals[j]->bv_val ||
		    cb_identity_normalise(&plain, vals[j]->bv_val, vals[j]->bv_len, norm, sizeof(norm)) != CB_IDENTITY_OK) {
			continue;
		}
		if (distinct == 0) {
			memcpy(found, norm, strlen(norm) + 1);
			distinct = 1;
		} else if (strcmp(found, norm) != 0) {
			distinct = 2;
		}
	}
	if (vals) ldap_value_free_len(vals);
	if (distinct != 1) {
		l->skipped++;
		return 0;
	}
	if (strset_has(&l->people, found)) return 0;
	if (l->people.used >= l->max_people) {
		return list_fail(l, "more than list_max_people (%u) people; raise it if the directory really holds "
				 "that many", l->max_people);
	}
	if (strset_add(&l->people, found) < 0) return list_fail(l, "out of memory");
	l->count++;
	if (l->fn(l->ctx, found) != 0) l->stop = true;
	return 0;
}

/** search_failed - err for a failed search, with what to check.  -1. */
static int search_failed(lister_t *l, int rc, char const *what)
{
	char *diag = NULL, detail[512] = "";

	if (rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED) {
		return list_fail(l, "%s: not finished within list_timeout_ms (%u ms)", what, l->timeout_ms);
	}
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		return list_fail(l, "%s: the server stopped at its size limit, so it ignored paging (RFC 2696) or "
				 "limits paged searches too (OpenLDAP: limits size.prtotal for the bind identity)", what);
	}
	ldap_get_option(l->conn->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag && *diag) snprintf(detail, sizeof(detail), " (%s)", diag);
	if (diag) ldap_memfree(diag);
	switch (rc) {
	case LDAP_NO_SUCH_OBJECT:
		return list_fail(l, "%s: %s%s: the base does not exist or is hidden from the bind identity", what,
				 ldap_err2string(rc), detail);
	case LDAP_INSUFFICIENT_ACCESS:
		return list_fail(l, "%s: %s%s: check bind_dn and the directory's access rules", what,
				 ldap_err2string(rc), detail);
	default:
		return list_fail(l, "%s: %s%s", what, ldap_err2string(rc), detail);
	}
}

/** page_cookie - the cookie of res's paged results response into *cookie ("" when none: the last page). */
static int page_cookie(lister_t *l, LDAPMessage *res, struct berval *cookie, char const *what)
{
	LDAPControl **ctrls = NULL, *pr;
	ber_int_t estimate = 0;
	int rc;

	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	rc = ldap_parse_result(l->conn->ld, res, NULL, NULL, NULL, NULL, &ctrls, 0);
	if (rc != LDAP_SUCCESS) return search_failed(l, rc, what);
	pr = ctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL) : NULL;
	rc = pr ? ldap_parse_pageresponse_control(l->conn->ld, pr, &estimate, cookie) : LDAP_SUCCESS;
	if (ctrls) ldap_controls_free(ctrls);
	if (rc != LDAP_SUCCESS) return list_fail(l, "%s: the server's paged results response is malformed", what);
	return 0;
}

/**
 * page_abandon - end a paged search early, so that the server can drop its
 * state: a request with page size 0 and the last cookie (RFC 2696 section 3).
 * libldap's ldap_create_page_control() refuses a size of 0, so the control
 * is encoded here.  If this fails the connection is marked broken: nothing
 * is lost, the next lookup takes a fresh one.
 */
static void page_abandon(lister_t *l, char const *base, int scope, char const *filter, char const **attrs,
			 struct berval *cookie)
{
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	LDAPMessage *res = NULL;
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval value = { 0, NULL };
	struct timeval tv;
	int64_t left = l->deadline - cb_clock_ms();
	int rc = LDAP_LOCAL_ERROR;

	if (ber && left > 0 && ber_printf(ber, "{iO}", (ber_int_t) 0, cookie) != -1 && ber_flatten2(ber, &value, 0) == 0 &&
	    ldap_control_create(LDAP_CONTROL_PAGEDRESULTS, 0, &value, 1, &page) == LDAP_SUCCESS) {
		ctrls[0] = page;
		cb_ldap_ms_to_timeval((unsigned int) left, &tv);
		rc = ldap_search_ext_s(l->conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0, ctrls, NULL,
				       &tv, 0, &res);
		ldap_control_free(page);
		if (res) ldap_msgfree(res);
	}
	if (ber) ber_free(ber, 1);
	if (rc != LDAP_SUCCESS) l->conn->broken = true;
}

/**
 * list_search - one search, in pages when paged, each entry given to on_entry
 * until it fails or fn asks to stop.  A missing base is an empty answer when
 * missing_ok.  Returns 0, or -1 with err set and the connection broken.
 */
static int list_search(lister_t *l, char const *what, char const *base, int scope, char const *filter,
		       char const **attrs, bool paged, bool missing_ok, lister_entry_fn on_entry)
{
	struct berval cookie = { 0, NULL };
	int rcode = 0;

	do {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
		LDAPMessage *res = NULL, *e;
		struct timeval tv;
		int64_t left = l->deadline - cb_clock_ms();
		int rc;

		if (left <= 0) {
			rcode = list_fail(l, "%s: not finished within list_timeout_ms (%u ms)", what, l->timeout_ms);
			break;
		}
		cb_ldap_ms_to_timeval((unsigned int) left, &tv);
		if (paged) {
			rc = ldap_create_page_control(l->conn->ld, (ber_int_t) l->page_size, cookie.bv_len ? &cookie : NULL,
						      0, &page);
			if (rc != LDAP_SUCCESS) {
				rcode = list_fail(l, "%s: libldap cannot make the paged results control: %s", what,
						  ldap_err2string(rc));
				break;
			}
			ctrls[0] = page;
		}
		rc = ldap_search_ext_s(l->conn->ld, base, scope, filter, (char **) (uintptr_t) attrs, 0,
				       paged ? ctrls : NULL, NULL, &tv, paged ? 0 : 1, &res);
		if (page) ldap_control_free(page);
		if (rc == LDAP_NO_SUCH_OBJECT && missing_ok) {
			if (res) ldap_msgfree(res);
			break;
		}
		if (rc != LDAP_SUCCESS) {
			if (res) ldap_msgfree(res);
			rcode = search_failed(l, rc, what);
			break;
		}
		if (cookie.bv_val) ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (paged && page_cookie(l, res, &cookie, what) < 0) {
			ldap_msgfree(res);
			rcode = -1;
			break;
		}
		for (e = ldap_first_entry(l->conn->ld, res); e && !l->stop && rcode == 0;
		     e = ldap_next_entry(l->conn->ld, e)) {
			rcode = on_entry(l, e);
		}
		ldap_msgfree(res);
		if (rcode == 0 && l->stop && cookie.bv_len) page_abandon(l, base, scope, filter, attrs, &cookie);
	} while (rcode == 0 && !l->stop && cookie.bv_len > 0);

	if (cookie.bv_val) ber_memfree(cookie.bv_val);
	return rcode;
}

/** member_of_filter - memberof/ad_nested: presence AND (any staff group OR an exception), in a malloc'd string. */
static char *member_of_filter(lister_t *l)
{
	cb_ldap_conf_t const *conf = l->conf;
	cb_ldap_conn_t *conn = l->conn;
	char const *moa = cb_ldap_is_set(conf->member_of_attribute) ? conf->member_of_attribute : "memberOf";
	size_t cap = strlen(l->presence) + 16;
	char *buf;
	cb_ldap_sb_t sb;

	for (size_t i = 0; i < conn->groups.num_staff; i++) {
		cap += strlen(moa) + sizeof(CB_LDAP_AD_IN_CHAIN) + 3 * strlen(conn->groups.staff[i]) + 4;	/* "(" moa rule "=" value ")" */
	}
	if (cb_ldap_is_set(conf->exception_reason_attribute)) cap += strlen(conf->exception_reason_attribute) + 5;
	buf = malloc(cap);
	if (!buf) return NULL;

	cb_ldap_sb_init(&sb, buf, cap);
	cb_ldap_sb_add(&sb, "(&");
	cb_ldap_sb_add(&sb, l->presence);
	cb_ldap_sb_add(&sb, "(|");
	for (size_t i = 0; i < conn->groups.num_staff; i++) {
		cb_ldap_sb_add(&sb, "(");
		cb_ldap_sb_add(&sb, moa);
		if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED) cb_ldap_sb_add(&sb, CB_LDAP_AD_IN_CHAIN);
		cb_ldap_sb_add(&sb, "=");
		if (!cb_ldap_sb_add_escaped(&sb, conn->groups.staff[i], strlen(conn->groups.staff[i]))) sb.overflow = true;
		cb_ldap_sb_add(&sb, ")");
	}
	if (cb_ldap_is_set(conf->exception_reason_attribute)) {
		cb_ldap_sb_add(&sb, "(");
		cb_ldap_sb_add(&sb, conf->exception_reason_attribute);
		cb_ldap_sb_add(&sb, "=*)");
	}
	cb_ldap_sb_add(&sb, "))");
	if (sb.overflow) {
		free(buf);
		return NULL;
	}
	return buf;
}

/** list_member - search mode: one member DN of a staff group, read once if it is a user. */
static int list_member(lister_t *l, char const *val, size_t len)
{
	char dn[CB_DIR_DN_MAX], what[CB_DIR_DN_MAX + 32], *norm;
	char const *attrs[] = { l->idattr, NULL };
	int added;

	if (len == 0 || len >= sizeof(dn) || !cb_utf8_text_valid(val, len)) {
		l->skipped++;
		return 0;
	}
	memcpy(dn, val, len);
	dn[len] = '\0';
	norm = cb_ldap_dn_normal(dn);
	if (!norm) {
		l->skipped++;
		return 0;
	}
	if (!strset_has(&l->dns, norm) && l->dns.used >= l->max_people) {
		ldap_memfree(norm);
		return list_fail(l, "the staff groups have more than list_max_people (%u) members", l->max_people);
	}
	added = strset_add(&l->dns, norm);
	ldap_memfree(norm);
	if (added < 0) return list_fail(l, "out of memory");
	if (added == 0) return 0;	/* In an earlier group too. */
	snprintf(what, sizeof(what), "reading member %s", dn);
	return list_search(l, what, dn, LDAP_SCOPE_BASE, l->presence, attrs, false, true, list_entry);
}

/** list_group - search mode: one staff group entry; each of its members. */
static int list_group(lister_t *l, LDAPMessage *e)
{
	char const *attr = l->conf->group_member_attribute;
	size_t alen = strlen(attr);
	struct berval **vals;
	BerElement *ber = NULL;
	bool ranged = false;
	int rcode = 0;

	l->groups_read++;
	/* AD hands out long member lists in ranges ("member;range=0-1499"); we do not follow them. */
	for (char *a = ldap_first_attribute(l->conn->ld, e, &ber); a; a = ldap_next_attribute(l->conn->ld, e, ber)) {
		if (strncasecmp(a, attr, alen) == 0 && strncasecmp(a + alen, ";range=", 7) == 0) ranged = true;
		ldap_memfree(a);
	}
	if (ber) ber_free(ber, 0);
	if (ranged) {
		return list_fail(l, "a staff_group's %s list comes in ranges (Active Directory, more than 1500 "
				 "members): use group_membership = ad_nested or memberof", attr);
	}
	vals = ldap_get_values_len(l->conn->ld, e, attr);
	for (size_t j = 0; vals && vals[j] && rcode == 0 && !l->stop; j++) {
		rcode = list_member(l, vals[j]->bv_val, vals[j]->bv_len);
	}
	if (vals) ldap_value_free_len(vals);
	return rcode;
}

/** list_exception_holder - search mode: an exception holder, unless read already as a member. */
static int list_exception_holder(lister_t *l, LDAPMessage *e)
{
	char *dn = ldap_get_dn(l->conn->ld, e), *norm = dn ? cb_ldap_dn_normal(dn) : NULL;
	bool seen = norm && strset_has(&l->dns, norm);

	if (norm) ldap_memfree(norm);
	if (dn) ldap_memfree(dn);
	return seen ? 0 : list_entry(l, e);
}

static int list_by_member_of(lister_t *l)
{
	char const *attrs[] = { l->idattr, NULL };
	char *filter = member_of_filter(l);
	int rcode;

	if (!filter) return list_fail(l, "out of memory building the filter");
	rcode = list_search(l, "searching staff and exception holders", l->conf->base_dn, LDAP_SCOPE_SUBTREE, filter,
			    attrs, true, false, list_entry);
	free(filter);
	return rcode;
}

static int list_by_group_search(lister_t *l)
{
	cb_ldap_conf_t const *conf = l->conf;
	char const *group_attrs[] = { conf->group_member_attribute, NULL }, *attrs[] = { l->idattr, NULL };
	char const *group_filter = cb_ldap_is_set(conf->group_filter) ? conf->group_filter : "(objectClass=*)";
	char filter[CB_LDAP_FILTER_MAX], what[CB_DIR_DN_MAX + 64];
	cb_ldap_sb_t sb;

	for (size_t i = 0; i < l->conn->groups.num_staff && !l->stop; i++) {
		size_t groups = l->groups_read;

		snprintf(what, sizeof(what), "reading staff_group %s", l->conn->groups.staff[i]);
		if (list_search(l, what, l->conn->groups.staff[i], LDAP_SCOPE_BASE, group_filter, group_attrs, false, false,
				list_group) < 0) return -1;
		if (l->groups_read == groups) {
			return list_fail(l, "staff_group %s is not a group: it does not match group_filter %s",
					 l->conn->groups.staff[i], group_filter);
		}
	}
	if (l->stop || !cb_ldap_is_set(conf->exception_reason_attribute)) return 0;

	cb_ldap_sb_init(&sb, filter, sizeof(filter));
	cb_ldap_sb_add(&sb, "(&");
	cb_ldap_sb_add(&sb, l->presence);
	cb_ldap_sb_add(&sb, "(");
	cb_ldap_sb_add(&sb, conf->exception_reason_attribute);
	cb_ldap_sb_add(&sb, "=*))");
	if (sb.overflow) return list_fail(l, "the exception holders' filter would be longer than %d bytes",
					  CB_LDAP_FILTER_MAX - 1);
	return list_search(l, "searching exception holders", conf->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, true,
			   false, list_exception_holder);
}

int cb_ldap_list_people(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_ldap_person_fn fn, void *ctx,
			size_t *count, size_t *skipped, char *err, size_t errlen)
{
	lister_t l;
	char why[256];
	int rcode;

	if (err && errlen) err[0] = '\0';
	if (count) *count = 0;
	if (skipped) *skipped = 0;
	if (!conn || !conn->ld || conn->broken || !conf || !fn) {
		if (conn) conn->broken = true;
		cb_ldap_err_set(err, errlen, "the directory connection is not usable (it failed before), or no callback");
		return -1;
	}

	memset(&l, 0, sizeof(l));
	l.conn = conn;
	l.conf = conf;
	l.fn = fn;
	l.ctx = ctx;
	l.err = err;
	l.errlen = errlen;
	l.timeout_ms = conf->list_timeout_ms ? conf->list_timeout_ms
					     : CB_LDAP_LIST_TIMEOUT_FACTOR * conf->search_timeout_ms;
	l.max_people = conf->list_max_people ? conf->list_max_people : CB_LDAP_LIST_MAX_PEOPLE;
	l.page_size = conf->list_page_size ? conf->list_page_size : CB_LDAP_LIST_PAGE_SIZE;
	l.deadline = cb_clock_ms() + l.timeout_ms;

	if (cb_ldap_is_set(conf->identity_attribute)) {
		size_t len = strlen(conf->identity_attribute);

		if (len >= sizeof(l.idattr)) return list_fail(&l, "identity_attribute is too long");
		memcpy(l.idattr, conf->identity_attribute, len + 1);
	} else if (!cb_ldap_identity_attr_derive(conf->user_filter, l.idattr, sizeof(l.idattr))) {
		return list_fail(&l, "user_filter has no \"(ATTR=%%s)\" item to derive the identity attribute from: "
				 "set ldap { identity_attribute }");
	}
	if (!cb_ldap_is_set(conf->user_filter) || !presence_filter(conf->user_filter, l.presence, sizeof(l.presence))) {
		return list_fail(&l, "user_filter cannot be turned into a filter for all users");
	}
	if (cb_ldap_conn_groups(conn, conf, why, sizeof(why)) < 0) return list_fail(&l, "%s", why);

	rcode = (conf->group_mode == CB_LDAP_GROUPS_SEARCH) ? list_by_group_search(&l) : list_by_member_of(&l);

	if (count) *count = l.count;
	if (skipped) *skipped = l.skipped;
	strset_free(&l.people);
	strset_free(&l.dns);
	return rcode;
}
