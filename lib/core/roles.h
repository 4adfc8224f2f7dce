/*
 * roles.h - the roles beyond employees: governors, volunteers, contractors.
 *
 * The trust's policy says: "'Staff' in the policy means staff, trustees,
 * governors, volunteers, parents, carers, visitors and contractors who
 * bring devices on site."  They acknowledge the same form under the same
 * rule; a school may put them on a VLAN of their own and ask them for a
 * form version or a validity of their own.  A role is configured as
 * roles { governors { group = ..., vlan = ..., version = ...,
 * validity_days = ... } }; what it leaves out is the employees' (policy { }
 * and reply { staff_vlan }).
 *
 * In the facts a member of a role is CB_ROLE_STAFF with role_id k (the
 * k-th roles { } entry, from 1); employees have role_id 0.  So the policy
 * (policy.c) treats every kind of staff alike, and only the policy conf it
 * is given (cb_roles_policy) and the VLAN (cb_roles_vlan) differ.  Pupils
 * are never a role: a person in a pupil group stays a pupil.
 *
 * Precedence when a person is in several groups (decided by the directory
 * client, lib/directory/ldap_facts.c): a pupil group first (refused unless
 * an exception), then ldap { staff_group } (employees), then the roles in
 * the order they are configured.  Worked example: sam is in cn=staff and
 * cn=governors: he is an employee (staff VLAN, policy { version }), and
 * radiusd -X says that his governors group was passed over.
 *
 * Plain values, filled once at start-up and only read after: safe to share
 * between threads.
 */
#ifndef CETBYOD_ROLES_H
#define CETBYOD_ROLES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/policy.h"

#define CB_ROLES_MAX		8	/* roles { } entries at most. */
#define CB_ROLE_NAME_MAX	32	/* Bytes in a role's name. */
#define CB_ROLE_EMPLOYEES	"staff"	/* The name employees have in reports and the audit trail. */

typedef struct {
	char			name[CB_ROLE_NAME_MAX + 1];
	char const		*vlan;		/* NULL/"": the employees' (reply { staff_vlan }).  Borrowed. */
	bool			own_version;	/* version set in the role (else the employees'). */
	bool			own_validity;	/* validity_days set in the role. */
	cb_policy_conf_t	policy;		/* The employees' policy with this role's settings. */
} cb_role_conf_t;

typedef struct {
	cb_role_conf_t	role[CB_ROLES_MAX];
	size_t		count;
} cb_roles_t;

/** The VLANs of reply { } that roles fall back on.  Borrowed strings. */
typedef struct {
	char const	*staff;
	char const	*onboarding;
	char const	*restricted;
} cb_vlans_t;

/**
 * cb_role_name_check - a role's name: 1 to CB_ROLE_NAME_MAX of a-z, 0-9,
 * '_' and '-', starting with a letter, and not "staff", "pupil" or "other"
 * (the names those already have).  false with err saying why.
 */
bool cb_role_name_check(char const *name, char *err, size_t errlen);

/**
 * cb_roles_add - append a role called name, with base's policy (change its
 * policy, vlan and own_* after).  Returns the new role, or NULL with err
 * set when the name is bad, already taken or there are CB_ROLES_MAX roles.
 */
cb_role_conf_t *cb_roles_add(cb_roles_t *roles, char const *name, cb_policy_conf_t const *base, char *err,
			     size_t errlen);

/** cb_roles_get - the role with role_id (1 to count); NULL for 0 (employees), out of range or NULL roles. */
cb_role_conf_t const *cb_roles_get(cb_roles_t const *roles, unsigned int role_id);

/** cb_roles_policy - the policy that applies to dir: its role's when it has one, else base.  roles may be NULL. */
cb_policy_conf_t const *cb_roles_policy(cb_roles_t const *roles, cb_dir_facts_t const *dir,
					cb_policy_conf_t const *base);

/** cb_roles_name - "staff" (employees), "pupil", "other" or the role's name.  Never NULL. */
char const *cb_roles_name(cb_roles_t const *roles, cb_dir_facts_t const *dir);

/**
 * cb_roles_lookup - set dir's role and role_id from a name as
 * cb_roles_name() gives it.  false (dir unchanged) when the name is no
 * role (a role no longer configured).
 */
bool cb_roles_lookup(cb_roles_t const *roles, char const *name, cb_dir_facts_t *dir);

/**
 * cb_roles_vlan - the VLAN a decision with status puts dir's person on, or
 * NULL for a refusal.  An admission puts a member of a role with a vlan on
 * it, anyone else of staff on vlans->staff; onboarding and restricted are
 * the same for every role.  why (len bytes) says which setting chose it,
 * for radiusd -X and the audit trail.
 */
char const *cb_roles_vlan(cb_roles_t const *roles, cb_vlans_t const *vlans, cb_dir_facts_t const *dir,
			  cb_status_t status, char *why, size_t len);

#endif
