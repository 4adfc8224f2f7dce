/*
 * roles.c - the roles beyond employees (see roles.h): their names, the
 * policy each is decided under, and the VLAN a decision puts them on.
 */
#include <stdio.h>
#include <string.h>

#include "core/roles.h"

static char const *const reserved[] = { CB_ROLE_EMPLOYEES, "pupil", "other" };

bool cb_role_name_check(char const *name, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > CB_ROLE_NAME_MAX) {
		snprintf(err, errlen, "a role's name must have 1 to %d characters", CB_ROLE_NAME_MAX);
		return false;
	}
	if (name[0] < 'a' || name[0] > 'z') {
		snprintf(err, errlen, "role \"%.*s\": a name starts with a lower-case letter (e.g. governors)",
			 CB_ROLE_NAME_MAX, name);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			snprintf(err, errlen, "role \"%.*s\": a name has only a-z, 0-9, '_' and '-'", CB_ROLE_NAME_MAX,
				 name);
			return false;
		}
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strcmp(name, reserved[i]) == 0) {
			snprintf(err, errlen, "role \"%s\": the name is taken (staff, pupil and other are the "
				 "directory's own: employees, pupils and everyone else)", name);
			return false;
		}
	}
	return true;
}

cb_role_conf_t *cb_roles_add(cb_roles_t *roles, char const *name, cb_policy_conf_t const *base, char *err,
			     size_t errlen)
{
	cb_role_conf_t *r;

	if (!cb_role_name_check(name, err, errlen)) return NULL;
	for (size_t i = 0; i < roles->count; i++) {
		if (strcmp(roles->role[i].name, name) == 0) {
			snprintf(err, errlen, "role \"%s\" is configured twice", name);
			return NULL;
		}
	}
	if (roles->count >= CB_ROLES_MAX) {
		snprintf(err, errlen, "role \"%s\": at most %d roles", name, CB_ROLES_MAX);
		return NULL;
	}
	r = &roles->role[roles->count++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->policy = *base;
	return r;
}

cb_role_conf_t const *cb_roles_get(cb_roles_t const *roles, unsigned int role_id)
{
	if (!roles || role_id == 0 || role_id > roles->count) return NULL;
	return &roles->role[role_id - 1];
}

cb_policy_conf_t const *cb_roles_policy(cb_roles_t const *roles, cb_dir_facts_t const *dir,
					cb_policy_conf_t const *base)
{
	cb_role_conf_t const *r = (dir->role == CB_ROLE_STAFF) ? cb_roles_get(roles, dir->role_id) : NULL;

	return r ? &r->policy : base;
}

char const *cb_roles_name(cb_roles_t const *roles, cb_dir_facts_t const *dir)
{
	cb_role_conf_t const *r;

	switch (dir->role) {
	case CB_ROLE_PUPIL:	return "pupil";
	case CB_ROLE_OTHER:	return "other";
	case CB_ROLE_STAFF:	break;
	}
	r = cb_roles_get(roles, dir->role_id);
	return r ? r->name : CB_ROLE_EMPLOYEES;
}

bool cb_roles_lookup(cb_roles_t const *roles, char const *name, cb_dir_facts_t *dir)
{
	if (!name) return false;
	if (strcmp(name, CB_ROLE_EMPLOYEES) == 0) {
		dir->role = CB_ROLE_STAFF;
		dir->role_id = 0;
		return true;
	}
	if (strcmp(name, "pupil") == 0 || strcmp(name, "other") == 0) {
		dir->role = name[0] == 'p' ? CB_ROLE_PUPIL : CB_ROLE_OTHER;
		dir->role_id = 0;
		return true;
	}
	for (size_t i = 0; roles && i < roles->count; i++) {
		if (strcmp(roles->role[i].name, name) != 0) continue;
		dir->role = CB_ROLE_STAFF;
		dir->role_id = (unsigned int) i + 1;
		return true;
	}
	return false;
}

char const *cb_roles_vlan(cb_roles_t const *roles, cb_vlans_t const *vlans, cb_dir_facts_t const *dir,
			  cb_status_t status, char *why, size_t len)
{
	cb_role_conf_t const *r = (dir->role == CB_ROLE_STAFF) ? cb_roles_get(roles, dir->role_id) : NULL;

	switch (status) {
	case CB_STATUS_ADMIT:
		if (r && r->vlan && *r->vlan) {
			snprintf(why, len, "roles { %s { vlan } }", r->name);
			return r->vlan;
		}
		if (r) {
			snprintf(why, len, "reply { staff_vlan } (roles { %s } sets no vlan)", r->name);
		} else {
			snprintf(why, len, "reply { staff_vlan }");
		}
		return vlans->staff;
	case CB_STATUS_ONBOARD:
		snprintf(why, len, "reply { onboarding_vlan } (until acknowledged)");
		return vlans->onboarding;
	case CB_STATUS_RESTRICTED:
		snprintf(why, len, "reply { restricted_vlan } (a documented exception)");
		return vlans->restricted;
	case CB_STATUS_REJECT:
		break;
	}
	snprintf(why, len, "refused: no VLAN");
	return NULL;
}
