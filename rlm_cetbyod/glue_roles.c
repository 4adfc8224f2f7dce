/*
 * glue_roles.c - roles { }: the roles beyond employees (lib/core/roles.h).
 *
 *	roles {
 *		governors {
 *			group = "cn=governors,ou=groups,dc=school,dc=example"
 *			vlan = 110
 *			version = "2026-governors"
 *			validity_days = 365
 *		}
 *	}
 *
 * Each subsection is a role, named by the section; its members (any of its
 * group DNs, repeatable) are staff as the school's policy means it, and
 * acknowledge the same form.  vlan, version and validity_days default to
 * the employees' (reply { staff_vlan }, policy { version, validity_days }).
 * Options FreeRADIUS does not know are refused here by name, since
 * FreeRADIUS 3.2 would ignore them: a misspelt "valdity_days" must not
 * silently mean the employees' validity.
 */
#include "rlm_cetbyod.h"

#include <stdlib.h>

#define ROLE_VLAN_MAX		32	/* Tunnel-Private-Group-Id: a VLAN id or name. */
#define ROLE_VERSION_MAX	64	/* As the store keeps policy versions (CB_STORE_NAME_MAX). */

static char const role_options[] = "group, vlan, version and validity_days";

/** vlan_ok - 1 to ROLE_VLAN_MAX of A-Z, a-z, 0-9, '_', '-', '.'. */
static bool vlan_ok(char const *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > ROLE_VLAN_MAX) return false;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.')) return false;
	}
	return true;
}

/** version_ok - 1 to ROLE_VERSION_MAX printable ASCII characters. */
static bool version_ok(char const *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > ROLE_VERSION_MAX) return false;
	for (size_t i = 0; i < len; i++) if (v[i] < 0x20 || v[i] > 0x7e) return false;
	return true;
}

/** role_value - one option of a role into r; -1 after cf_log_err naming it. */
static int role_value(cb_role_conf_t *r, CONF_PAIR *cp)
{
	char const *name = cf_pair_attr(cp), *v = cf_pair_value(cp);
	char *end = NULL;
	unsigned long days;

	if (!v) v = "";
	if (strcmp(name, "vlan") == 0) {
		if (!vlan_ok(v)) {
			cf_log_err_cp(cp, "Invalid value \"%s\" for 'roles { %s { vlan } }': accepted values are a VLAN "
				      "id or name of 1 to %d letters, digits, '_', '-' and '.'", v, r->name, ROLE_VLAN_MAX);
			return -1;
		}
		r->vlan = v;
	} else if (strcmp(name, "version") == 0) {
		if (!version_ok(v)) {
			cf_log_err_cp(cp, "Invalid value \"%s\" for 'roles { %s { version } }': accepted values are 1 "
				      "to %d printable characters (the form's policy version)", v, r->name,
				      ROLE_VERSION_MAX);
			return -1;
		}
		r->policy.policy_version = v;
		r->own_version = true;
	} else if (strcmp(name, "validity_days") == 0) {
		days = (*v >= '0' && *v <= '9') ? strtoul(v, &end, 10) : 0;
		if (!end || *end || days > 3660) {
			cf_log_err_cp(cp, "Invalid value \"%s\" for 'roles { %s { validity_days } }': accepted values "
				      "are 0 (never lapses) to 3660", v, r->name);
			return -1;
		}
		r->policy.validity_days = (unsigned int) days;
		r->own_validity = true;
	} else if (strcmp(name, "group") != 0) {
		cf_log_err_cp(cp, "Unknown option 'roles { %s { %s } }': accepted options are %s", r->name, name,
			      role_options);
		return -1;
	}
	return 0;
}

/** role_groups - the role's group DNs (repeatable) into lr, talloc'd on inst.  -1 after cf_log_err. */
static int role_groups(rlm_cetbyod_t *inst, CONF_SECTION *cs, cb_role_conf_t const *r, cb_ldap_role_t *lr)
{
	CONF_PAIR *cp;
	char const **groups;
	size_t n = 0;

	for (cp = cf_pair_find(cs, "group"); cp; cp = cf_pair_find_next(cs, cp, "group")) n++;
	if (n == 0) {
		cf_log_err_cs(cs, "'roles { %s { group } }' is not set: name at least one directory group (by DN) "
			      "whose members have the role", r->name);
		return -1;
	}
	groups = talloc_array(inst, char const *, n);
	if (!groups) return -1;
	n = 0;
	for (cp = cf_pair_find(cs, "group"); cp; cp = cf_pair_find_next(cs, cp, "group")) {
		groups[n] = cf_pair_value(cp);
		if (!groups[n] || !*groups[n]) {
			cf_log_err_cp(cp, "Invalid value \"\" for 'roles { %s { group } }': accepted values are group "
				      "DNs (e.g. \"cn=%s,ou=groups,dc=school,dc=example\")", r->name, r->name);
			return -1;
		}
		n++;
	}
	lr->name = r->name;
	lr->groups = groups;
	lr->num_groups = n;
	return 0;
}

/** parse_role - one roles { NAME { } } subsection.  -1 after cf_log_err. */
static int parse_role(rlm_cetbyod_t *inst, CONF_SECTION *cs)
{
	char const *name = cf_section_name1(cs);
	char err[256];
	cb_role_conf_t *r;
	CONF_ITEM *ci;

	if (cf_section_name2(cs)) {
		cf_log_err_cs(cs, "Invalid section 'roles { %s %s { } }': a role is 'NAME { ... }', e.g. "
			      "'governors { group = ... }'", name, cf_section_name2(cs));
		return -1;
	}
	r = cb_roles_add(&inst->roles, name, &inst->pconf, err, sizeof(err));
	if (!r) {
		cf_log_err_cs(cs, "Invalid 'roles { %s }': %s", name, err);
		return -1;
	}
	for (ci = cf_item_find_next(cs, NULL); ci; ci = cf_item_find_next(cs, ci)) {
		if (!cf_item_is_pair(ci)) {
			cf_log_err(ci, "Unknown section in 'roles { %s }': accepted options are %s", name, role_options);
			return -1;
		}
		if (role_value(r, cf_item_to_pair(ci)) < 0) return -1;
	}
	return role_groups(inst, cs, r, &inst->ldap_roles[inst->roles.count - 1]);
}

/** log_roles - what radiusd -X says about each role at start-up. */
static void log_roles(rlm_cetbyod_t const *inst)
{
	for (size_t i = 0; i < inst->roles.count; i++) {
		cb_role_conf_t const *r = &inst->roles.role[i];
		char const *version = r->policy.policy_version;

		INFO("rlm_cetbyod (%s): role %s: %zu group(s), VLAN %s%s, form version %s%s, validity %u day(s)%s",
		     inst->name, r->name, inst->ldap_roles[i].num_groups, r->vlan ? r->vlan : inst->reply.staff_vlan,
		     r->vlan ? "" : " (reply { staff_vlan })", version && *version ? version : "any",
		     r->own_version ? "" : " (policy { version })", r->policy.validity_days,
		     r->own_validity ? "" : " (policy { validity_days })");
	}
}

int cetbyod_start_roles(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	CONF_SECTION *roles = cf_section_sub_find(conf, "roles");
	CONF_ITEM *ci;

	memset(&inst->roles, 0, sizeof(inst->roles));
	if (!roles) return 0;
	for (ci = cf_item_find_next(roles, NULL); ci; ci = cf_item_find_next(roles, ci)) {
		if (cf_item_is_pair(ci)) {
			cf_log_err(ci, "Invalid option '%s' in 'roles { }': each role is a section, e.g. "
				   "'roles { governors { group = \"cn=governors,...\" } }'", cf_pair_attr(cf_item_to_pair(ci)));
			return -1;
		}
		if (parse_role(inst, cf_item_to_section(ci)) < 0) return -1;
	}
	if (inst->roles.count && inst->directory != DIRECTORY_LDAP) {
		cf_log_err_cs(roles, "'roles { }' needs directory = ldap: a role is given by membership of a directory "
			      "group");
		return -1;
	}
	log_roles(inst);
	return 0;
}
