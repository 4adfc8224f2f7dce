/*
 * ldap_int.h - what the files of the LDAP directory client share (private:
 * included only by lib/directory/ldap_*.c, never installed).
 *
 * The client is split along its seams:
 *
 *	ldap_conf.c	option names, defaults and checks; filter templates
 *	ldap_conn.c	connections: connect, TLS (ldaps, StartTLS), the bounded
 *			handshake, bind, failover, liveness
 *	ldap_facts.c	entry-to-facts: a neutral entry (DN, attribute -> values)
 *			turned into a cb_dir_entry_t, with no connection
 *	ldap_lookup.c	cb_ldap_lookup(): the searches, and the LDAPMessage
 *			turned into the neutral entry ldap_facts.c reads
 *	ldap_list.c	cb_ldap_list_people(): paged enumeration for reports
 *	ldap_util.c	small helpers: messages, bounded strings, DNs, timeouts
 */
#ifndef CETBYOD_DIRECTORY_LDAP_INT_H
#define CETBYOD_DIRECTORY_LDAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <ldap.h>

#include "directory/ldap.h"

/* AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups. */
#define CB_LDAP_AD_IN_CHAIN		":1.2.840.113556.1.4.1941:"
#define CB_LDAP_AD_UAC_ATTR		"userAccountControl"
#define CB_LDAP_AD_UAC_ACCOUNTDISABLE	0x2
#define CB_LDAP_PPOLICY_LOCKED_ATTR	"pwdAccountLockedTime"
#define CB_LDAP_ATTR_NAME_MAX		128
#define CB_LDAP_MAX_ATTRS		(CB_LDAP_MAX_EMAIL_ATTRS + 8)	/* Attributes a lookup asks for. */

/**
 * The configured staff and pupil groups, each DN in normal form
 * (cb_ldap_dn_normal).  staff holds every group whose members the policy
 * calls staff: staff_groups (role 0) and then each role's groups (role
 * k for roles[k - 1]), so that listing and membership treat them alike.
 */
typedef struct {
	char		*staff[CB_LDAP_MAX_ADMITTED];
	unsigned char	role_of[CB_LDAP_MAX_ADMITTED];
	size_t		num_staff;
	char		*pupil[CB_LDAP_MAX_GROUPS];
	size_t		num_pupil;
} cb_ldap_groups_t;

typedef struct cb_ldap_guard cb_ldap_guard_t;

struct cb_ldap_conn {
	LDAP			*ld;
	cb_ldap_guard_t		*guard;		/* Freed after ld. */
	bool			broken;		/* Failed once: never used again. */
	bool			lost;		/* Broken because the server had closed it (cb_ldap_conn_lost). */
	unsigned long		answered;	/* Searches it answered. */
	char			uri[CB_LDAP_URI_MAX];
	unsigned int		search_timeout_ms;

	cb_ldap_conf_t const	*groups_for;	/* The conf groups was made for; NULL: not made. */
	cb_ldap_groups_t	groups;
};

/*
 *	ldap_util.c
 */

static inline bool cb_ldap_is_set(char const *s)
{
	return s && *s;
}

/** cb_ldap_err_set - printf into err (bounded); err may be NULL. */
void cb_ldap_err_set(char *err, size_t errlen, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/** cb_ldap_text_sanitise - make a libldap or server message printable, in place. */
void cb_ldap_text_sanitise(char *s);

/** A bounded string builder: once something does not fit, it stays failed (and buf is ""). */
typedef struct {
	char	*buf;
	size_t	len;
	size_t	cap;
	bool	overflow;
} cb_ldap_sb_t;

void cb_ldap_sb_init(cb_ldap_sb_t *sb, char *buf, size_t cap);
void cb_ldap_sb_addn(cb_ldap_sb_t *sb, char const *s, size_t n);
void cb_ldap_sb_add(cb_ldap_sb_t *sb, char const *s);

/** cb_ldap_sb_add_escaped - add value escaped as an RFC 4515 assertion value; false if libldap cannot. */
bool cb_ldap_sb_add_escaped(cb_ldap_sb_t *sb, char const *value, size_t len);

/** cb_ldap_dn_normal - the DN in a normal form for comparison (ldap_memfree it), NULL if not a DN. */
char *cb_ldap_dn_normal(char const *dn);

void cb_ldap_ms_to_timeval(unsigned int ms, struct timeval *tv);

/** cb_ldap_ld_error - err = "what: LDAP error text (server's diagnostic)". */
void cb_ldap_ld_error(LDAP *ld, int rc, char const *what, char *err, size_t errlen);

/*
 *	ldap_conf.c
 */

/**
 * cb_ldap_identity_attr_derive - the ATTR of user_filter's "(ATTR=%s)" item,
 * into buf.  Returns false, with buf empty, when there is no such item.
 */
bool cb_ldap_identity_attr_derive(char const *tmpl, char *buf, size_t buflen);

/*
 *	ldap_facts.c
 */

/**
 * cb_ldap_groups_prepare - normalise conf's staff_group and pupil_group DNs
 * into groups.  Returns 0, or -1 with err set and groups empty.
 */
int cb_ldap_groups_prepare(cb_ldap_groups_t *groups, cb_ldap_conf_t const *conf, char *err, size_t errlen);

/** cb_ldap_groups_free - free what cb_ldap_groups_prepare made; groups is then empty. */
void cb_ldap_groups_free(cb_ldap_groups_t *groups);

/** Group membership found so far. */
typedef struct {
	bool		staff;		/* Some staff_group or role group. */
	bool		pupil;
	unsigned int	groups;		/* As cb_dir_entry_t.role_groups. */
} cb_ldap_roles_t;

/**
 * cb_ldap_dn_simple - v (len bytes, untrusted) is a DN that ldap_dn_normalize()
 * returns unchanged: "type=value" RDNs joined by ',', types of ASCII letters,
 * digits and '-' starting with a letter, values of letters, digits, inner
 * spaces and "_.@-".  Its normal form (cb_ldap_dn_normal) is then itself
 * lower-cased.
 */
bool cb_ldap_dn_simple(char const *v, size_t len);

/** cb_ldap_roles_note - compare one group DN (not NUL-terminated, untrusted) with the configured groups. */
void cb_ldap_roles_note(cb_ldap_groups_t const *groups, char const *val, size_t len, cb_ldap_roles_t *roles);

/**
 * cb_ldap_roles_set - out's role from the groups found: a pupil group wins
 * (with a warning when there was a staff or role group too), then a
 * staff_group, then the roles in their configured order.
 */
void cb_ldap_roles_set(cb_dir_entry_t *out, cb_ldap_roles_t const *roles);

/** cb_ldap_facts_read - cb_ldap_entry_facts() with the configured groups already normalised. */
cb_dir_result_t cb_ldap_facts_read(cb_ldap_conf_t const *conf, cb_ldap_groups_t const *groups,
				   cb_ldap_entry_t const *entry, cb_dir_entry_t *out, char *err, size_t errlen);

/** cb_ldap_facts_refuse - out emptied but for its warnings, and marked refused.  CB_DIR_NOT_FOUND. */
cb_dir_result_t cb_ldap_facts_refuse(cb_dir_entry_t *out);

/*
 *	ldap_conn.c
 */

/**
 * cb_ldap_conn_groups - conn's normalised groups for conf, made once per
 * connection and conf.  Returns 0, or -1 with err set.
 */
int cb_ldap_conn_groups(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char *err, size_t errlen);

#endif
