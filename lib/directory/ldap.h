/*
 * ldap.h - looking a person up in the school's LDAP directory.
 *
 * The directory client is built on libldap (OpenLDAP's client library) and
 * knows nothing of FreeRADIUS.  It exposes one connection at a time:
 * cb_ldap_connect() opens and binds a connection (trying the configured URIs
 * in order), cb_ldap_lookup() runs the search for one identity on it and
 * turns the entry into facts for the policy engine (through
 * cb_ldap_entry_facts(), which needs no connection), cb_ldap_alive() says
 * whether it is still worth keeping, cb_ldap_close() ends it;
 * cb_ldap_list_people() enumerates the staff and exception holders a report
 * or a reminder run needs, on the same kind of connection.  The module
 * keeps these connections in FreeRADIUS's connection pool; cetbyodctl and the
 * tests use them directly.  A connection is used by one thread at a time.
 *
 * Everything the directory returns is untrusted: DNs, addresses and texts
 * are length-checked and UTF-8-checked into fixed buffers, times are parsed
 * strictly, and what does not fit is refused or truncated with a warning in
 * cb_dir_entry_t.warning, never overflowed.
 *
 * Time: no call waits longer than the configured timeouts.  Connecting to one
 * URI (TCP connect, TLS handshake or StartTLS, bind) takes at most
 * connect_timeout_ms, so cb_ldap_connect() takes at most that times the
 * number of URIs it has to try; a lookup takes at most search_timeout_ms in
 * all, however many searches it needs.  Listing people takes at most
 * list_timeout_ms (by default 10 x search_timeout_ms).
 *
 * A connection serves one configuration: pass the same conf to every call
 * on it.  The process must ignore SIGPIPE (radiusd does), because libldap
 * may write to a socket the server has closed.
 */
#ifndef CETBYOD_DIRECTORY_H
#define CETBYOD_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/identity.h"
#include "core/policy.h"

#define CB_LDAP_MAX_URIS		8	/* uris */
#define CB_LDAP_MAX_EMAIL_ATTRS		8	/* email_attributes */
#define CB_LDAP_MAX_GROUPS		32	/* staff_groups, pupil_groups (each) */
#define CB_LDAP_MAX_ROLES		8	/* roles (lib/core/roles.h: CB_ROLES_MAX) */
#define CB_LDAP_MAX_ADMITTED		64	/* staff_groups and the roles' groups together */
#define CB_LDAP_URI_MAX			256	/* Longest URI accepted. */
#define CB_LDAP_FILTER_MAX		4096	/* Longest filter after substitution. */
#define CB_LDAP_LIST_PAGE_SIZE		500	/* list_page_size default: under AD's MaxPageSize (1000). */
#define CB_LDAP_LIST_MAX_PEOPLE		200000	/* list_max_people default. */
#define CB_LDAP_LIST_TIMEOUT_FACTOR	10	/* list_timeout_ms default: this times search_timeout_ms. */

#define CB_DIR_DN_MAX			1024	/* Longest DN kept, with its NUL. */
#define CB_DIR_EMAILS_MAX		8	/* Addresses kept per person. */
#define CB_DIR_EMAIL_MAX		(CB_IDENTITY_MAX + 1)
#define CB_DIR_TEXT_MAX			256	/* Reasons and names, with the NUL. */
#define CB_DIR_WARNING_MAX		512
#define CB_DIR_PUPIL_BIT		(1u << 31)	/* cb_dir_entry_t.role_groups: in a pupil_group. */

/** How staff and pupil membership is found. */
typedef enum {
	CB_LDAP_GROUPS_MEMBEROF = 0,	/* The user entry's memberOf (same search). */
	CB_LDAP_GROUPS_SEARCH,		/* One more search: groups whose member is the user's DN. */
	CB_LDAP_GROUPS_AD_NESTED	/* As SEARCH, with AD's LDAP_MATCHING_RULE_IN_CHAIN. */
} cb_ldap_group_mode_t;

/** How a disabled account is recognised. */
typedef enum {
	CB_LDAP_DISABLED_NONE = 0,	/* Never disabled (e.g. Google Secure LDAP). */
	CB_LDAP_DISABLED_AD_UAC,	/* Active Directory: userAccountControl bit 0x2. */
	CB_LDAP_DISABLED_PPOLICY,	/* OpenLDAP ppolicy: pwdAccountLockedTime present. */
	CB_LDAP_DISABLED_FILTER		/* The entry matches disabled_filter (one more search). */
} cb_ldap_disabled_mode_t;

/** A role beyond employees (roles { NAME { group } }): its members are staff with role_id its place + 1. */
typedef struct {
	char const		*name;		/* For messages: roles { NAME }. */
	char const		**groups;	/* DNs; membership of any one gives the role. */
	size_t			num_groups;
} cb_ldap_role_t;

/**
 * The directory configuration.  Plain values owned by the caller (the
 * module's instance data); the functions here only read it.  Arrays are a
 * pointer and a count.  NULL and "" mean "not set" for every string.
 * Messages name the options as raddb/mods-available/cetbyod spells them
 * (ldap { uri, email_attribute, staff_group, pupil_group, group_membership,
 * ... }); the other fields have the option's name.
 */
typedef struct {
	char const		**uris;		/* ldap://, ldaps:// or ldapi:// URIs, tried in order. */
	size_t			num_uris;
	char const		*base_dn;	/* Where users are searched (subtree). */
	char const		*user_filter;	/* Filter with one %s for the escaped identity; %% is a %. */
	char const		*identity_attribute;	/* Attribute holding the identity the user_filter matches
							   (e.g. uid, sAMAccountName); NULL/"": derived from
							   user_filter's "(ATTR=%s)". */

	char const		*bind_dn;	/* Simple bind; NULL: anonymous (or SASL EXTERNAL). */
	char const		*bind_password;	/* Secret: never logged, never in an error message. */
	bool			sasl_external;	/* Bind with SASL EXTERNAL (the TLS client certificate). */

	bool			start_tls;	/* StartTLS on ldap:// URIs. */
	char const		*ca_file;	/* PEM file of CAs trusted for the server certificate. */
	char const		*ca_dir;	/* Directory of such CAs. */
	char const		*cert_file;	/* Client certificate (PEM), e.g. for Google Secure LDAP. */
	char const		*key_file;	/* Its private key (PEM). */
	bool			require_cert;	/* Verify the server certificate and name (default true). */

	unsigned int		connect_timeout_ms;	/* Per step of a connection attempt. */
	unsigned int		search_timeout_ms;	/* Per lookup, all its searches together. */

	char const		**email_attributes;	/* Attributes holding the person's addresses. */
	size_t			num_email_attributes;

	cb_ldap_group_mode_t	group_mode;
	char const		*member_of_attribute;	/* memberof mode: "memberOf". */
	char const		*group_base_dn;		/* search modes: where groups are; NULL: base_dn. */
	char const		*group_filter;		/* search modes: which entries are groups. */
	char const		*group_member_attribute; /* search modes: "member". */
	unsigned int		max_groups;		/* search modes: most groups a user may be in. */
	char const		**staff_groups;		/* DNs; membership of any one makes staff. */
	size_t			num_staff_groups;
	char const		**pupil_groups;		/* DNs; membership of any one makes a pupil. */
	size_t			num_pupil_groups;
	cb_ldap_role_t const	*roles;			/* Roles beyond employees, in precedence order. */
	size_t			num_roles;

	cb_ldap_disabled_mode_t	disabled_mode;
	char const		*disabled_filter;	/* filter mode: e.g. "(nsAccountLock=TRUE)". */

	/* BYOD state kept in the directory (schema/ldap/cetbyod.schema); NULL/"": not read. */
	char const		*revoked_attribute;
	char const		*revoked_reason_attribute;
	char const		*exception_reason_attribute;	/* Needed for exceptions to be read at all. */
	char const		*exception_approved_by_attribute;
	char const		*exception_until_attribute;

	/* cb_ldap_list_people(); 0 means the default for each. */
	unsigned int		list_timeout_ms;	/* The whole enumeration; default 10 x search_timeout_ms. */
	unsigned int		list_max_people;	/* Most people it may report; default 200000. */
	unsigned int		list_page_size;		/* Entries per page (RFC 2696); default 500. */
} cb_ldap_conf_t;

/** A documented exception as recorded in the directory. */
typedef struct {
	bool		present;
	time_t		until;				/* Exclusive end; 0 = open-ended. */
	char		reason[CB_DIR_TEXT_MAX];
	char		approved_by[CB_DIR_TEXT_MAX];
} cb_dir_exception_t;

/**
 * What the directory says about one person.  Self-contained (no pointers
 * out of it except facts.revoked_reason, which points at revoked_reason in
 * the same struct or is NULL): copy it with cb_dir_entry_copy(), never with
 * plain assignment, so that pointer follows the copy.
 */
typedef struct {
	cb_dir_facts_t		facts;		/* result, disabled, role, role_id, revoked. */
	unsigned int		role_groups;	/* Groups found: bit 0 a staff_group, bit k roles[k - 1]'s,
						   bit CB_DIR_PUPIL_BIT a pupil_group (which one won: facts). */
	bool			refused;	/* The directory answered, but the answer is not usable
						   (ambiguous, malformed); facts.result is NOT_FOUND, do not cache. */
	char			dn[CB_DIR_DN_MAX];
	size_t			num_emails;
	char			emails[CB_DIR_EMAILS_MAX][CB_DIR_EMAIL_MAX];	/* Normalised, no duplicates. */
	cb_dir_exception_t	exception;
	char			revoked_reason[CB_DIR_TEXT_MAX];
	char			warning[CB_DIR_WARNING_MAX];	/* What was refused or truncated; "" if nothing. */
} cb_dir_entry_t;

/** One attribute value as the server sent it: any bytes, not NUL-terminated; val is NULL only when len is 0. */
typedef struct {
	char const	*val;
	size_t		len;
} cb_ldap_value_t;

/** One attribute of an entry: its description as sent (e.g. "mail", "member;range=0-1499") and its values. */
typedef struct {
	char const		*name;
	cb_ldap_value_t const	*values;
	size_t			num_values;
} cb_ldap_attr_t;

/**
 * A directory entry in a neutral form, free of libldap: its DN and its
 * attributes.  Nothing in it is trusted.  The caller owns all of it;
 * cb_ldap_entry_facts() only reads it.
 */
typedef struct {
	char const		*dn;		/* NULL: the entry has no DN. */
	size_t			dn_len;
	cb_ldap_attr_t const	*attrs;
	size_t			num_attrs;
} cb_ldap_entry_t;

typedef struct cb_ldap_conn cb_ldap_conn_t;

/**
 * cb_ldap_conf_defaults - fill conf with every option's default.  uris and
 * base_dn have none (they stay unset); user_filter is "(uid=%s)".  The
 * strings and arrays set are static: never free them.
 */
void cb_ldap_conf_defaults(cb_ldap_conf_t *conf);

/**
 * cb_ldap_conf_check - validate a configuration before it is used.
 * Returns 0 when it is usable, else -1 with err holding a sentence that
 * names the option, what is wrong and what is accepted.
 */
int cb_ldap_conf_check(cb_ldap_conf_t const *conf, char *err, size_t errlen);

/** cb_ldap_group_mode_parse - "memberof", "search" or "ad_nested"; -1 when unknown. */
int cb_ldap_group_mode_parse(char const *name);
char const *cb_ldap_group_mode_name(cb_ldap_group_mode_t mode);
#define CB_LDAP_GROUP_MODE_NAMES "memberof, search, ad_nested"

/** cb_ldap_disabled_mode_parse - "none", "ad_user_account_control", "ppolicy_locked", "filter"; -1 when unknown. */
int cb_ldap_disabled_mode_parse(char const *name);
char const *cb_ldap_disabled_mode_name(cb_ldap_disabled_mode_t mode);
#define CB_LDAP_DISABLED_MODE_NAMES "none, ad_user_account_control, ppolicy_locked, filter"

/**
 * cb_ldap_connect - open, secure and bind a connection, trying conf->uris in order.
 * Returns a connection the caller owns (free it with cb_ldap_close()), or
 * NULL with err saying, for each URI tried, what failed.
 */
cb_ldap_conn_t *cb_ldap_connect(cb_ldap_conf_t const *conf, char *err, size_t errlen);

/**
 * cb_ldap_lookup - find the person whose normalised identity is given.
 * identity must already have passed cb_identity_normalise(); it is escaped
 * (RFC 4515) for the filter here.  out is always initialised.
 *
 * Returns CB_DIR_FOUND (out filled), CB_DIR_NOT_FOUND (no such person, or
 * out->refused with err saying why the answer was unusable), or
 * CB_DIR_UNAVAILABLE (err says why): the connection is then unusable and the
 * caller must close it.
 */
cb_dir_result_t cb_ldap_lookup(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char const *identity,
			       cb_dir_entry_t *out, char *err, size_t errlen);

/**
 * cb_ldap_entry_facts - what one directory entry says about a person: the
 * pure half of cb_ldap_lookup(), with no connection and no search.
 *
 * It reads the DN and the attributes conf names, as cb_ldap_lookup() reads
 * the entry its search found: the addresses in email_attributes
 * (normalised, de-duplicated, AD's "smtp:" prefixes understood), the
 * member_of_attribute values compared with staff_groups and pupil_groups
 * after DN normalisation (group_mode memberof only), userAccountControl
 * (disabled_mode ad_user_account_control) or pwdAccountLockedTime
 * (ppolicy_locked), and the revocation and exception attributes.  What needs
 * another search stays with cb_ldap_lookup(): in group_mode search and
 * ad_nested the role here is CB_ROLE_OTHER, and with disabled_mode filter
 * facts.disabled is false.
 *
 * Attribute names match as ldap_get_values_len() matches them: the whole
 * description, case-insensitively ("mail;lang-en" is not "mail"); of two
 * attributes with one name the first counts.  Values may hold any bytes.
 *
 * Bounds: the answer is the fixed-size out; what does not fit or is bad is
 * skipped, truncated or given its safe reading (an unreadable revocation
 * flag revokes, an unreadable exception is ignored, an unreadable
 * userAccountControl disables), each with a line in out->warning.  The work
 * is one pass over the values of the attributes conf names; group values
 * of CB_DIR_DN_MAX bytes or more are ignored unread.  Nothing is kept:
 * memory libldap allocates to normalise DNs is freed before it returns.
 * conf should have passed cb_ldap_conf_check(); it is read, not checked.
 *
 * Returns CB_DIR_FOUND with out filled; CB_DIR_NOT_FOUND with out->refused
 * and err set when the DN is missing, empty, of CB_DIR_DN_MAX bytes or more,
 * or not printable UTF-8 (out keeps only its warnings); CB_DIR_UNAVAILABLE
 * with err set, and out empty, when conf, entry or out is NULL, a configured
 * group cannot be normalised, or memory runs out.  out is always
 * initialised when not NULL.
 */
cb_dir_result_t cb_ldap_entry_facts(cb_ldap_conf_t const *conf, cb_ldap_entry_t const *entry, cb_dir_entry_t *out,
				    char *err, size_t errlen);

/** Called once for each person cb_ldap_list_people() finds; return nonzero to stop. */
typedef int (*cb_ldap_person_fn)(void *ctx, char const *identity);

/**
 * cb_ldap_list_people - the identities of everyone who is in a staff group,
 * and of everyone who has a directory-held exception (exception_reason_attribute
 * present, whatever its other attributes say), for reports and reminders.
 *
 * Who counts as a person is decided by user_filter: it is used with "*" in
 * place of %s, unescaped, so "(uid=%s)" becomes the presence test "(uid=*)"
 * and "(&(objectClass=user)(sAMAccountName=%s))" all users that have a
 * sAMAccountName.  (A filter with %s inside a longer value, such as
 * "(mail=%s@school.example)", becomes a substring match.)  Staff are found
 * as cb_ldap_lookup() finds them: memberof and ad_nested match the user's
 * member_of_attribute (ad_nested through nested groups, with AD's
 * IN_CHAIN rule), search reads each staff_group's group_member_attribute
 * (direct members only).
 *
 * Each person is reported once through fn, as the value of
 * identity_attribute in the form cb_ldap_lookup() takes: checked and
 * lower-cased as cb_identity_normalise() does with no realm or domain
 * stripping (a lookup puts that value straight into user_filter, so that is
 * the form that finds the person again).  identity is valid only during the
 * call.  An entry whose identity_attribute holds no valid identity, or
 * several different ones, is not reported and is counted in *skipped (so
 * is, in search mode, a member value that is not a DN); two entries with
 * the same identity are reported once.  In search mode a staff_group that
 * does not exist or does not match group_filter is an error.
 *
 * Searches are paged (RFC 2696, list_page_size entries at a time); the
 * whole enumeration takes at most list_timeout_ms and reports at most
 * list_max_people people, else it fails.  A server that stops at a size
 * limit fails it too, never giving a short list: AD's MaxPageSize applies
 * per page, but OpenLDAP's sizelimit caps paged searches as a whole unless
 * its limits (size.prtotal) for the bind identity allow more.
 *
 * Returns 0 with *count set to the number of calls made to fn (fn
 * returning nonzero ends the enumeration early, still 0), or -1 with err
 * saying why: the connection is then unusable, as after cb_ldap_lookup()'s
 * CB_DIR_UNAVAILABLE, and the caller must close it.  After -1, fn may
 * already have been called for some people: the list is incomplete.
 * count and skipped may be NULL.
 */
int cb_ldap_list_people(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, cb_ldap_person_fn fn, void *ctx,
			size_t *count, size_t *skipped, char *err, size_t errlen);

/** cb_ldap_alive - false when the connection failed or the server closed it.  NULL: false. */
bool cb_ldap_alive(cb_ldap_conn_t *conn);

/**
 * cb_ldap_conn_lost - true when the connection failed because the server
 * had closed it (LDAP_SERVER_DOWN) after answering at least once: a pooled
 * connection that died while idle (slapd restarted, an idle timeout), for
 * which a search on another connection may well succeed.  False after a
 * timeout or any other failure, and for a connection that never answered.
 */
bool cb_ldap_conn_lost(cb_ldap_conn_t const *conn);

/** cb_ldap_conn_uri - the URI the connection reached (for logs). */
char const *cb_ldap_conn_uri(cb_ldap_conn_t const *conn);

/** cb_ldap_close - unbind and free.  NULL is accepted. */
void cb_ldap_close(cb_ldap_conn_t *conn);

/**
 * cb_ldap_filter_expand - put value, escaped per RFC 4515, where tmpl has %s.
 * tmpl must have exactly one %s; %% stands for %.  Returns 0, or -1 with err
 * set (bad template, or the result does not fit buflen) and buf empty.
 */
int cb_ldap_filter_expand(char const *tmpl, char const *value, char *buf, size_t buflen,
			  char *err, size_t errlen);

/**
 * cb_ldap_parse_generalized_time - strict RFC 4517 GeneralizedTime to time_t.
 * Accepts YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM]), years 1970 to
 * 9999; the fraction is dropped.  Returns false, and leaves *out alone, on
 * anything else.
 */
bool cb_ldap_parse_generalized_time(char const *in, size_t len, time_t *out);

/** cb_dir_entry_init - an empty entry (NOT_FOUND, nothing known). */
void cb_dir_entry_init(cb_dir_entry_t *entry);

/** cb_dir_entry_copy - copy src to dst, re-pointing facts.revoked_reason. */
void cb_dir_entry_copy(cb_dir_entry_t *dst, cb_dir_entry_t const *src);

/** cb_dir_entry_exception - the exception in the form the policy engine takes. */
cb_exception_t cb_dir_entry_exception(cb_dir_entry_t const *entry);

#endif
