/*
 * test_roles.c - the roles beyond employees (lib/core/roles.h): names,
 * each role's policy (a form version and validity of its own, else the
 * employees'), the VLAN a decision puts a member on and why, cb_decide()
 * under a role's policy, and the directory's reading of role groups from
 * an entry (cb_ldap_entry_facts, no server): precedence pupil, staff_group,
 * then the roles in their configured order; and the checks of the roles'
 * groups in cb_ldap_conf_check.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decide.h"
#include "core/roles.h"
#include "directory/ldap.h"
#include "test_state.h"

#define T0	((time_t) 1788246000)	/* 2026-09-01T07:00:00Z */
#define DAY	((time_t) 86400)
#define BASE_DN	"dc=school,dc=example"
#define GROUP(cn) "cn=" cn ",ou=groups," BASE_DN

static cb_policy_conf_t const employees = {
	.validity_days = 365, .policy_version = "2026-staff", .unacknowledged = CB_UNACK_ONBOARD,
};

/** two_roles - governors (own version, validity, VLAN 110) then volunteers (nothing of their own). */
static void two_roles(cb_roles_t *roles)
{
	char err[256];
	cb_role_conf_t *r;

	memset(roles, 0, sizeof(*roles));
	r = cb_roles_add(roles, "governors", &employees, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	r->vlan = "110";
	r->policy.policy_version = "2026-gov";
	r->policy.validity_days = 30;
	r->own_version = r->own_validity = true;
	ck_assert_ptr_nonnull(cb_roles_add(roles, "volunteers", &employees, err, sizeof(err)));
}

START_TEST(test_names)
{
	static char const *const bad[] = { "", "staff", "pupil", "other", "Governors", "9ers", "gov ernors",
					   "gov{}", "a123456789012345678901234567890123" };
	cb_roles_t roles;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!cb_role_name_check(bad[i], err, sizeof(err)), "\"%s\" was accepted", bad[i]);
		ck_assert(err[0]);
	}
	ck_assert(cb_role_name_check("governors", err, sizeof(err)));
	ck_assert(cb_role_name_check("contractors_2-a", err, sizeof(err)));

	two_roles(&roles);
	ck_assert_ptr_null(cb_roles_add(&roles, "governors", &employees, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "twice"));
	for (int i = 0; roles.count < CB_ROLES_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		ck_assert_ptr_nonnull(cb_roles_add(&roles, name, &employees, err, sizeof(err)));
	}
	ck_assert_ptr_null(cb_roles_add(&roles, "onemore", &employees, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "at most"));
}
END_TEST

START_TEST(test_lookup_and_policy)
{
	cb_roles_t roles;
	cb_dir_facts_t dir = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF };

	two_roles(&roles);
	ck_assert_str_eq(cb_roles_name(&roles, &dir), "staff");
	ck_assert_ptr_eq(cb_roles_policy(&roles, &dir, &employees), &employees);

	ck_assert(cb_roles_lookup(&roles, "governors", &dir));
	ck_assert_int_eq(dir.role, CB_ROLE_STAFF);
	ck_assert_uint_eq(dir.role_id, 1);
	ck_assert_str_eq(cb_roles_name(&roles, &dir), "governors");
	ck_assert_str_eq(cb_roles_policy(&roles, &dir, &employees)->policy_version, "2026-gov");
	ck_assert_uint_eq(cb_roles_policy(&roles, &dir, &employees)->validity_days, 30);

	ck_assert(cb_roles_lookup(&roles, "volunteers", &dir));
	ck_assert_uint_eq(dir.role_id, 2);
	ck_assert_str_eq(cb_roles_policy(&roles, &dir, &employees)->policy_version, "2026-staff");	/* Inherited. */

	/* A role no longer configured is not found; pupils never get a role's policy. */
	ck_assert(!cb_roles_lookup(&roles, "contractors", &dir));
	ck_assert_uint_eq(dir.role_id, 2);
	ck_assert(cb_roles_lookup(&roles, "pupil", &dir));
	ck_assert_int_eq(dir.role, CB_ROLE_PUPIL);
	dir.role_id = 1;
	ck_assert_ptr_eq(cb_roles_policy(&roles, &dir, &employees), &employees);
	ck_assert_str_eq(cb_roles_name(&roles, &dir), "pupil");
	ck_assert(cb_roles_lookup(NULL, "staff", &dir));
	ck_assert_uint_eq(dir.role_id, 0);

	/* An id out of range (a stale cache entry after a restart with fewer roles): the employees'. */
	dir.role_id = 7;
	ck_assert_ptr_eq(cb_roles_policy(&roles, &dir, &employees), &employees);
	ck_assert_str_eq(cb_roles_name(&roles, &dir), "staff");
}
END_TEST

START_TEST(test_vlan)
{
	cb_roles_t roles;
	cb_vlans_t const vlans = { .staff = "100", .onboarding = "200", .restricted = "300" };
	cb_dir_facts_t gov = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .role_id = 1 };
	cb_dir_facts_t vol = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .role_id = 2 };
	cb_dir_facts_t staff = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF };
	char why[128];

	two_roles(&roles);
	ck_assert_str_eq(cb_roles_vlan(&roles, &vlans, &gov, CB_STATUS_ADMIT, why, sizeof(why)), "110");
	ck_assert_str_eq(why, "roles { governors { vlan } }");
	ck_assert_str_eq(cb_roles_vlan(&roles, &vlans, &vol, CB_STATUS_ADMIT, why, sizeof(why)), "100");
	ck_assert_ptr_nonnull(strstr(why, "roles { volunteers } sets no vlan"));
	ck_assert_str_eq(cb_roles_vlan(&roles, &vlans, &staff, CB_STATUS_ADMIT, why, sizeof(why)), "100");
	ck_assert_str_eq(why, "reply { staff_vlan }");
	/* Before acknowledging, a governor is onboarded like anyone else. */
	ck_assert_str_eq(cb_roles_vlan(&roles, &vlans, &gov, CB_STATUS_ONBOARD, why, sizeof(why)), "200");
	ck_assert_ptr_nonnull(strstr(why, "onboarding_vlan"));
	ck_assert_str_eq(cb_roles_vlan(&roles, &vlans, &gov, CB_STATUS_RESTRICTED, why, sizeof(why)), "300");
	ck_assert_ptr_null(cb_roles_vlan(&roles, &vlans, &gov, CB_STATUS_REJECT, why, sizeof(why)));
	ck_assert_ptr_null(cb_roles_vlan(NULL, &vlans, &gov, CB_STATUS_REJECT, why, sizeof(why)));
	ck_assert_str_eq(cb_roles_vlan(NULL, &vlans, &gov, CB_STATUS_ADMIT, why, sizeof(why)), "100");
}
END_TEST

/* cb_decide under a role's policy: the governors' form version and validity, not the employees'. */
START_TEST(test_decide_per_role)
{
	cb_roles_t roles;
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx;
	cb_decide_result_t res;
	cb_facts_t facts = { .origin = CB_FACTS_DIRECTORY, .dir = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF } };
	cb_decide_env_t env = { .policy = &employees, .acks = NULL };

	two_roles(&roles);
	env.roles = &roles;
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(cb_ack_builder_add(b, "gwen@s.example", T0, "2026-gov", false, "file:1"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "sam@s.example", T0, "2026-staff", false, "file:2"), 0);
	idx = cb_ack_builder_finish(b, T0);
	env.acks = idx;

	/* gwen, a governor, acknowledged the governors' version: admitted, lapsing after 30 days. */
	cb_facts_add_email(&facts, "gwen@s.example");
	facts.dir.role_id = 1;
	cb_decide(&env, "gwen", &facts, T0 + DAY, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_ADMIT);
	ck_assert_int_eq(res.decision.reason, CB_REASON_ACKNOWLEDGED);
	ck_assert_ptr_eq(res.policy, &roles.role[0].policy);
	ck_assert_int_eq(res.decision.ack_expires, T0 + 30 * DAY);
	cb_decide(&env, "gwen", &facts, T0 + 31 * DAY, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_ACKNOWLEDGEMENT_EXPIRED);

	/* The same acknowledgement does not count for an employee: another version. */
	facts.dir.role_id = 0;
	cb_decide(&env, "gwen", &facts, T0 + DAY, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_ONBOARD);
	ck_assert_int_eq(res.decision.reason, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY);
	ck_assert_ptr_eq(res.policy, &employees);

	/* sam acknowledged the employees' version: a governor must acknowledge theirs. */
	facts.num_emails = 0;
	cb_facts_add_email(&facts, "sam@s.example");
	cb_decide(&env, "sam", &facts, T0 + DAY, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_ADMIT);
	facts.dir.role_id = 1;
	cb_decide(&env, "sam", &facts, T0 + DAY, &res);
	ck_assert_int_eq(res.decision.reason, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY);
	/* volunteers inherit the employees' version. */
	facts.dir.role_id = 2;
	cb_decide(&env, "sam", &facts, T0 + DAY, &res);
	ck_assert_int_eq(res.decision.status, CB_STATUS_ADMIT);
	ck_assert_int_eq(res.decision.ack_expires, T0 + 365 * DAY);

	/* Without roles (env.roles NULL) every member of staff is decided as an employee. */
	env.roles = NULL;
	facts.dir.role_id = 1;
	cb_decide(&env, "sam", &facts, T0 + DAY, &res);
	ck_assert_ptr_eq(res.policy, &employees);
	cb_ack_index_unref(idx);
}
END_TEST

/*
 *	The directory's reading of role groups (memberof mode, no server).
 */
static char const *staff_groups[] = { GROUP("staff") };
static char const *pupil_groups[] = { GROUP("pupils") };
static char const *gov_groups[] = { GROUP("governors"), GROUP("trustees") };
static char const *vol_groups[] = { GROUP("volunteers") };
static char const *uris[] = { "ldap://127.0.0.1:1" };

static void ldap_conf(cb_ldap_conf_t *c, cb_ldap_role_t *r, bool volunteers_first)
{
	cb_ldap_conf_defaults(c);
	c->uris = uris;
	c->num_uris = 1;
	c->base_dn = BASE_DN;
	c->staff_groups = staff_groups;
	c->num_staff_groups = 1;
	c->pupil_groups = pupil_groups;
	c->num_pupil_groups = 1;
	r[volunteers_first ? 1 : 0] = (cb_ldap_role_t) { "governors", gov_groups, 2 };
	r[volunteers_first ? 0 : 1] = (cb_ldap_role_t) { "volunteers", vol_groups, 1 };
	c->roles = r;
	c->num_roles = 2;
}

/** facts_of - the entry's facts with the memberOf values given (NULL-terminated). */
static void facts_of(cb_ldap_conf_t const *c, char const *const *groups, cb_dir_entry_t *e)
{
	cb_ldap_value_t v[8];
	cb_ldap_attr_t a = { .name = "memberOf", .values = v };
	cb_ldap_entry_t entry = { .dn = "uid=x,ou=people," BASE_DN, .attrs = &a, .num_attrs = 1 };
	char err[256];

	entry.dn_len = strlen(entry.dn);
	for (; groups[a.num_values]; a.num_values++) {
		v[a.num_values].val = groups[a.num_values];
		v[a.num_values].len = strlen(groups[a.num_values]);
	}
	ck_assert_msg(cb_ldap_entry_facts(c, &entry, e, err, sizeof(err)) == CB_DIR_FOUND, "%s", err);
}

START_TEST(test_directory_precedence)
{
	static char const *const gwen[] = { GROUP("governors"), NULL };
	static char const *const trustee[] = { "CN=Trustees,OU=Groups,DC=School,DC=Example", NULL };
	static char const *const sam[] = { GROUP("governors"), GROUP("staff"), NULL };
	static char const *const vic[] = { GROUP("volunteers"), GROUP("governors"), NULL };
	static char const *const both[] = { GROUP("governors"), GROUP("pupils"), NULL };
	static char const *const nobody[] = { GROUP("parents"), NULL };
	cb_ldap_role_t r[2];
	cb_ldap_conf_t c;
	cb_dir_entry_t e;
	char err[256];

	ldap_conf(&c, r, false);
	ck_assert_msg(cb_ldap_conf_check(&c, err, sizeof(err)) == 0, "%s", err);
	facts_of(&c, gwen, &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert_uint_eq(e.facts.role_id, 1);
	ck_assert_uint_eq(e.role_groups, 1u << 1);
	facts_of(&c, trustee, &e);		/* The role's second group, in another spelling. */
	ck_assert_uint_eq(e.facts.role_id, 1);
	/* A staff group comes before any role: sam is an employee, his governors group noted. */
	facts_of(&c, sam, &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_STAFF);
	ck_assert_uint_eq(e.facts.role_id, 0);
	ck_assert_uint_eq(e.role_groups, (1u << 0) | (1u << 1));
	/* Between roles, the one configured first. */
	facts_of(&c, vic, &e);
	ck_assert_uint_eq(e.facts.role_id, 1);
	ldap_conf(&c, r, true);
	facts_of(&c, vic, &e);
	ck_assert_uint_eq(e.facts.role_id, 1);
	ck_assert_str_eq(c.roles[0].name, "volunteers");
	/* A pupil is never admitted as a role's member. */
	facts_of(&c, both, &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_PUPIL);
	ck_assert_uint_eq(e.role_groups, CB_DIR_PUPIL_BIT | (1u << 2));
	ck_assert_ptr_nonnull(strstr(e.warning, "both a staff and a pupil group"));
	facts_of(&c, nobody, &e);
	ck_assert_int_eq(e.facts.role, CB_ROLE_OTHER);
	ck_assert_uint_eq(e.role_groups, 0);
}
END_TEST

START_TEST(test_directory_conf_check)
{
	static char const *bad_dn[] = { "governors" };
	cb_ldap_role_t r[2];
	cb_ldap_conf_t c;
	char err[512];

	ldap_conf(&c, r, false);
	r[0].num_groups = 0;
	ck_assert_int_eq(cb_ldap_conf_check(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "roles { governors { group } } is not set") != NULL, "%s", err);

	ldap_conf(&c, r, false);
	r[1].groups = bad_dn;
	ck_assert_int_eq(cb_ldap_conf_check(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "roles { volunteers { group } }: \"governors\" is not a valid DN") != NULL, "%s", err);

	ldap_conf(&c, r, false);
	c.num_roles = CB_LDAP_MAX_ROLES + 1;
	ck_assert_int_eq(cb_ldap_conf_check(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "at most"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("roles");
	TCase *tc = tcase_create("roles");

	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_lookup_and_policy);
	tcase_add_test(tc, test_vlan);
	tcase_add_test(tc, test_decide_per_role);
	tcase_add_test(tc, test_directory_precedence);
	tcase_add_test(tc, test_directory_conf_check);
	suite_add_tcase(s, tc);
	return test_state_run(s);
}
