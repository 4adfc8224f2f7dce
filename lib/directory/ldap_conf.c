/*
 * ldap_conf.c - the LDAP client's configuration: option names (group and
 * disabled modes), defaults, the checks cb_ldap_conf_check() runs before a
 * configuration is used, and filter templates (user_filter's %s, escaped
 * per RFC 4515).  Messages name the options as raddb/mods-available/cetbyod
 * spells them, say what is wrong and what is accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory/ldap_int.h"
#include "base/name.h"
#include "base/utf8.h"
#include "core/identity.h"

#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 60000
#define MAX_GROUPS_LIMIT 100000
#define LIST_TIMEOUT_MAX_MS 3600000
#define LIST_MAX_PEOPLE_LIMIT 10000000
#define LIST_PAGE_SIZE_LIMIT 100000

/*
 *	Option names and checks.
 */

static cb_name_t const group_mode_names[] = {
	{ "memberof",			CB_LDAP_GROUPS_MEMBEROF },
	{ "search",			CB_LDAP_GROUPS_SEARCH },
	{ "ad_nested",			CB_LDAP_GROUPS_AD_NESTED },
	{ NULL, -1 }
};

static cb_name_t const disabled_mode_names[] = {
	{ "none",			CB_LDAP_DISABLED_NONE },
	{ "ad_user_account_control",	CB_LDAP_DISABLED_AD_UAC },
	{ "ppolicy_locked",		CB_LDAP_DISABLED_PPOLICY },
	{ "filter",			CB_LDAP_DISABLED_FILTER },
	{ NULL, -1 }
};

int cb_ldap_group_mode_parse(char const *name)
{
	return cb_name_value(group_mode_names, name, -1);
}

char const *cb_ldap_group_mode_name(cb_ldap_group_mode_t mode)
{
	return cb_name_of(group_mode_names, (int) mode, "unknown");
}

int cb_ldap_disabled_mode_parse(char const *name)
{
	return cb_name_value(disabled_mode_names, name, -1);
}

char const *cb_ldap_disabled_mode_name(cb_ldap_disabled_mode_t mode)
{
	return cb_name_of(disabled_mode_names, (int) mode, "unknown");
}

static char const *default_email_attributes[] = { "mail" };

void cb_ldap_conf_defaults(cb_ldap_conf_t *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->user_filter = "(uid=%s)";
	conf->require_cert = true;
	conf->connect_timeout_ms = 2000;
	conf->search_timeout_ms = 2000;
	conf->email_attributes = default_email_attributes;
	conf->num_email_attributes = sizeof(default_email_attributes) / sizeof(default_email_attributes[0]);
	conf->group_mode = CB_LDAP_GROUPS_MEMBEROF;
	conf->member_of_attribute = "memberOf";
	conf->group_filter = "(objectClass=groupOfNames)";
	conf->group_member_attribute = "member";
	conf->max_groups = 1000;
	conf->disabled_mode = CB_LDAP_DISABLED_NONE;
	conf->revoked_attribute = "cetbyodRevoked";
	conf->revoked_reason_attribute = "cetbyodRevokedReason";
	conf->exception_reason_attribute = "cetbyodExceptionReason";
	conf->exception_approved_by_attribute = "cetbyodExceptionApprovedBy";
	conf->exception_until_attribute = "cetbyodExceptionUntil";
	conf->list_timeout_ms = 0;	/* CB_LDAP_LIST_TIMEOUT_FACTOR x search_timeout_ms */
	conf->list_max_people = CB_LDAP_LIST_MAX_PEOPLE;
	conf->list_page_size = CB_LDAP_LIST_PAGE_SIZE;
}

/** attr_name_ok - an attribute description: a name or numeric OID, with ;options. */
static bool attr_name_ok(char const *s)
{
	size_t len = strlen(s), i = 0;
	bool numeric = (s[0] >= '0' && s[0] <= '9');

	if (len == 0 || len > CB_LDAP_ATTR_NAME_MAX) return false;
	if (!numeric && !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
	for (i = 0; i < len && s[i] != ';'; i++) {
		char c = s[i];

		if (numeric) {
			if (!((c >= '0' && c <= '9') || c == '.')) return false;
			if (c == '.' && (i + 1 == len || s[i + 1] == '.' || s[i + 1] == ';')) return false;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	for (; i < len; i++) {	/* ;option;option */
		char c = s[i];

		if (c == ';') {
			if (i + 1 == len || s[i + 1] == ';') return false;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
	}
	return true;
}

static bool dn_ok(char const *s)
{
	LDAPDN dn = NULL;

	if (strlen(s) >= CB_DIR_DN_MAX || !cb_utf8_text_valid(s, strlen(s))) return false;
	if (ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) return false;
	ldap_dnfree(dn);
	return true;
}

/**
 * filter_shape_ok - a filter is one parenthesised item with balanced
 * parentheses (values must carry '(' and ')' escaped as \28 and \29, so every
 * parenthesis is structure).  The server checks the rest.
 */
static bool filter_shape_ok(char const *f)
{
	size_t len = strlen(f), i;
	int depth = 0;

	if (len < 3 || f[0] != '(' || f[len - 1] != ')' || !cb_utf8_text_valid(f, len)) return false;
	for (i = 0; i < len; i++) {
		if (f[i] == '(') depth++;
		else if (f[i] == ')' && --depth < 0) return false;
		if (depth == 0 && i + 1 < len) return false;
	}
	return depth == 0;
}

/**
 * filter_subst_at - the offset of the %s in a filter template, or -1 when
 * there is none (%% is a literal %; any other % sequence ends the scan, as
 * cb_ldap_filter_expand refuses it).
 */
static long filter_subst_at(char const *tmpl)
{
	for (char const *p = tmpl; *p; p++) {
		if (*p != '%') continue;
		if (p[1] == 's') return (long) (p - tmpl);
		if (p[1] != '%') return -1;
		p++;
	}
	return -1;
}

static bool attr_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == ';' ||
	       c == '.';
}

/**
 * cb_ldap_identity_attr_derive - the ATTR of user_filter's "(ATTR=%s)" item, into buf.
 * Only a plain equality item whose whole value is the identity counts:
 * "(&(objectClass=user)(sAMAccountName=%s))" gives sAMAccountName, while
 * "(uid~=%s)", "(uid:dn:=%s)" and "(mail=%s@school.example)" give nothing.
 * Returns false, with buf empty, when there is no such item.
 */
bool cb_ldap_identity_attr_derive(char const *tmpl, char *buf, size_t buflen)
{
	long at;
	size_t start, end;

	if (buflen) buf[0] = '\0';
	if (!cb_ldap_is_set(tmpl)) return false;
	at = filter_subst_at(tmpl);
	if (at < 2 || tmpl[at - 1] != '=' || tmpl[at + 2] != ')') return false;
	end = (size_t) at - 1;		/* The '='. */
	start = end;
	while (start > 0 && attr_char(tmpl[start - 1])) start--;
	if (start == 0 || tmpl[start - 1] != '(' || start == end || end - start >= buflen) return false;
	memcpy(buf, tmpl + start, end - start);
	buf[end - start] = '\0';
	if (attr_name_ok(buf)) return true;
	buf[0] = '\0';
	return false;
}

static int check_attr(char const *option, char const *value, bool required, char *err, size_t errlen)
{
	if (!cb_ldap_is_set(value)) {
		if (!required) return 0;
		cb_ldap_err_set(err, errlen, "%s must be set to an LDAP attribute name", option);
		return -1;
	}
	if (attr_name_ok(value)) return 0;
	cb_ldap_err_set(err, errlen, "%s = \"%s\" is not an LDAP attribute name (letters, digits and '-', "
		"starting with a letter, or a numeric OID)", option, value);
	return -1;
}

static int check_file(char const *option, char const *path, bool dir, char *err, size_t errlen)
{
	struct stat st;

	if (!cb_ldap_is_set(path)) return 0;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		char why[128];
		int e = errno;

		if (strerror_r(e, why, sizeof(why)) != 0) snprintf(why, sizeof(why), "error %d", e);
		cb_ldap_err_set(err, errlen, "%s = \"%s\": %s", option, path, why);
		return -1;
	}
	if (dir && !S_ISDIR(st.st_mode)) {
		cb_ldap_err_set(err, errlen, "%s = \"%s\" is not a directory", option, path);
		return -1;
	}
	if (!dir && !S_ISREG(st.st_mode)) {
		cb_ldap_err_set(err, errlen, "%s = \"%s\" is not a regular file", option, path);
		return -1;
	}
	return 0;
}

static int check_groups(char const *option, char const **groups, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (n > CB_LDAP_MAX_GROUPS) {
		cb_ldap_err_set(err, errlen, "%s is given %zu times; at most %d are accepted", option, n, CB_LDAP_MAX_GROUPS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!groups[i] || !dn_ok(groups[i])) {
			cb_ldap_err_set(err, errlen, "%s: \"%s\" is not a valid DN (e.g. \"cn=staff,ou=groups,dc=school,dc=example\")",
				option, groups[i] ? groups[i] : "");
			return -1;
		}
	}
	return 0;
}

/** check_roles - the roles' groups: each role names at least one, all valid, CB_LDAP_MAX_ADMITTED in all. */
static int check_roles(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	size_t total = conf->num_staff_groups;
	char option[96];

	if (conf->num_roles > CB_LDAP_MAX_ROLES || (conf->num_roles && !conf->roles)) {
		cb_ldap_err_set(err, errlen, "roles: at most %d roles are accepted", CB_LDAP_MAX_ROLES);
		return -1;
	}
	for (size_t r = 0; r < conf->num_roles; r++) {
		cb_ldap_role_t const *role = &conf->roles[r];

		snprintf(option, sizeof(option), "roles { %.40s { group } }", role->name ? role->name : "?");
		if (role->num_groups == 0) {
			cb_ldap_err_set(err, errlen, "%s is not set: name at least one group (by DN) whose members have "
					"the role", option);
			return -1;
		}
		if (check_groups(option, role->groups, role->num_groups, err, errlen) < 0) return -1;
		total += role->num_groups;
	}
	if (total > CB_LDAP_MAX_ADMITTED) {
		cb_ldap_err_set(err, errlen, "staff_group and the roles' group options name %zu groups; at most %d "
				"are accepted", total, CB_LDAP_MAX_ADMITTED);
		return -1;
	}
	return 0;
}

/** check_uri - one server URI: ldap://, ldaps:// or ldapi://, a host, nothing after it. */
static int check_uri(cb_ldap_conf_t const *conf, char const *uri, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	int rcode = -1;

	if (!cb_ldap_is_set(uri) || strlen(uri) >= CB_LDAP_URI_MAX || !cb_utf8_text_valid(uri, strlen(uri))) {
		cb_ldap_err_set(err, errlen, "uri: \"%s\" is empty, too long or not printable", uri ? uri : "");
		return -1;
	}
	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS) {
		cb_ldap_err_set(err, errlen, "uri: \"%s\" is not an LDAP URI (e.g. ldaps://ldap.school.example:636)", uri);
		return -1;
	}
	if (strcasecmp(lud->lud_scheme, "ldap") != 0 && strcasecmp(lud->lud_scheme, "ldaps") != 0 &&
	    strcasecmp(lud->lud_scheme, "ldapi") != 0) {
		cb_ldap_err_set(err, errlen, "uri: \"%s\": the scheme must be ldap, ldaps or ldapi", uri);
	} else if (strcasecmp(lud->lud_scheme, "ldapi") != 0 && !cb_ldap_is_set(lud->lud_host)) {
		cb_ldap_err_set(err, errlen, "uri: \"%s\" names no server", uri);
	} else if (cb_ldap_is_set(lud->lud_dn) || lud->lud_attrs || cb_ldap_is_set(lud->lud_filter) || lud->lud_exts) {
		cb_ldap_err_set(err, errlen, "uri: \"%s\" carries a DN, attributes, filter or extensions; "
			"give only scheme://host:port and use base_dn and user_filter", uri);
	} else if (conf->start_tls && strcasecmp(lud->lud_scheme, "ldap") != 0) {
		cb_ldap_err_set(err, errlen, "start_tls = yes cannot be used with \"%s\": StartTLS applies to ldap:// only "
			"(ldaps:// is TLS already)", uri);
	} else if (conf->sasl_external && strcasecmp(lud->lud_scheme, "ldap") == 0 && !conf->start_tls) {
		cb_ldap_err_set(err, errlen, "sasl_external = yes needs TLS for \"%s\": set start_tls = yes or use ldaps://", uri);
	} else {
		rcode = 0;
	}
	ldap_free_urldesc(lud);
	return rcode;
}

static int check_connection(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	size_t i;

	if (!conf->uris || conf->num_uris == 0 || conf->num_uris > CB_LDAP_MAX_URIS) {
		cb_ldap_err_set(err, errlen, "uri must be given 1 to %d times (servers, tried in order)", CB_LDAP_MAX_URIS);
		return -1;
	}
	for (i = 0; i < conf->num_uris; i++) {
		if (check_uri(conf, conf->uris[i], err, errlen) < 0) return -1;
	}
	if (cb_ldap_is_set(conf->bind_password) && !cb_ldap_is_set(conf->bind_dn)) {
		cb_ldap_err_set(err, errlen, "bind_password is set but bind_dn is not; set both, or neither for an anonymous bind");
		return -1;
	}
	if (cb_ldap_is_set(conf->bind_dn) && !dn_ok(conf->bind_dn)) {
		cb_ldap_err_set(err, errlen, "bind_dn = \"%s\" is not a valid DN", conf->bind_dn);
		return -1;
	}
	if (conf->sasl_external && cb_ldap_is_set(conf->bind_dn)) {
		cb_ldap_err_set(err, errlen, "sasl_external = yes and bind_dn cannot both be set: "
			"SASL EXTERNAL takes the identity from the client certificate");
		return -1;
	}
	if (cb_ldap_is_set(conf->cert_file) != cb_ldap_is_set(conf->key_file)) {
		cb_ldap_err_set(err, errlen, "cert_file and key_file must be set together");
		return -1;
	}
	if (check_file("ca_file", conf->ca_file, false, err, errlen) < 0 ||
	    check_file("ca_dir", conf->ca_dir, true, err, errlen) < 0 ||
	    check_file("cert_file", conf->cert_file, false, err, errlen) < 0 ||
	    check_file("key_file", conf->key_file, false, err, errlen) < 0) return -1;
	if (conf->connect_timeout_ms < TIMEOUT_MIN_MS || conf->connect_timeout_ms > TIMEOUT_MAX_MS) {
		cb_ldap_err_set(err, errlen, "connect_timeout_ms = %u is out of range (%d to %d)",
			conf->connect_timeout_ms, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
		return -1;
	}
	if (conf->search_timeout_ms < TIMEOUT_MIN_MS || conf->search_timeout_ms > TIMEOUT_MAX_MS) {
		cb_ldap_err_set(err, errlen, "search_timeout_ms = %u is out of range (%d to %d)",
			conf->search_timeout_ms, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
		return -1;
	}
	return 0;
}

static int check_search(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char probe[CB_LDAP_FILTER_MAX], why[256];

	if (!cb_ldap_is_set(conf->base_dn) || !dn_ok(conf->base_dn)) {
		cb_ldap_err_set(err, errlen, "base_dn = \"%s\" is not a valid DN (e.g. \"dc=school,dc=example\")",
			conf->base_dn ? conf->base_dn : "");
		return -1;
	}
	if (!cb_ldap_is_set(conf->user_filter)) {
		cb_ldap_err_set(err, errlen, "user_filter must be set, e.g. \"(&(objectClass=inetOrgPerson)(uid=%%s))\"");
		return -1;
	}
	if (cb_ldap_filter_expand(conf->user_filter, "x", probe, sizeof(probe), why, sizeof(why)) < 0) {
		cb_ldap_err_set(err, errlen, "user_filter = \"%s\": %s", conf->user_filter, why);
		return -1;
	}
	if (!filter_shape_ok(probe)) {
		cb_ldap_err_set(err, errlen, "user_filter = \"%s\" is not one parenthesised LDAP filter with balanced "
			"parentheses", conf->user_filter);
		return -1;
	}
	if (cb_ldap_is_set(conf->identity_attribute)) {
		if (check_attr("identity_attribute", conf->identity_attribute, true, err, errlen) < 0) return -1;
	} else if (!cb_ldap_identity_attr_derive(conf->user_filter, probe, sizeof(probe))) {
		cb_ldap_err_set(err, errlen, "identity_attribute is not set and cannot be derived from user_filter = \"%s\", "
			"which has no \"(ATTR=%%s)\" item: set ldap { identity_attribute } to the attribute the "
			"filter matches the identity against (e.g. uid, sAMAccountName)", conf->user_filter);
		return -1;
	}
	if (conf->num_email_attributes > CB_LDAP_MAX_EMAIL_ATTRS) {
		cb_ldap_err_set(err, errlen, "email_attribute is given %zu times; at most %d are accepted",
			conf->num_email_attributes, CB_LDAP_MAX_EMAIL_ATTRS);
		return -1;
	}
	for (size_t i = 0; i < conf->num_email_attributes; i++) {
		if (check_attr("email_attribute", conf->email_attributes[i], true, err, errlen) < 0) return -1;
	}
	return 0;
}

static int check_groups_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	switch (conf->group_mode) {
	case CB_LDAP_GROUPS_MEMBEROF:
		if (check_attr("member_of_attribute", conf->member_of_attribute, true, err, errlen) < 0) return -1;
		break;

	case CB_LDAP_GROUPS_SEARCH:
	case CB_LDAP_GROUPS_AD_NESTED:
		if (check_attr("group_member_attribute", conf->group_member_attribute, true, err, errlen) < 0) return -1;
		/* ad_nested lists people by their memberOf (cb_ldap_list_people); unset means memberOf. */
		if (conf->group_mode == CB_LDAP_GROUPS_AD_NESTED &&
		    check_attr("member_of_attribute", conf->member_of_attribute, false, err, errlen) < 0) return -1;
		if (cb_ldap_is_set(conf->group_base_dn) && !dn_ok(conf->group_base_dn)) {
			cb_ldap_err_set(err, errlen, "group_base_dn = \"%s\" is not a valid DN", conf->group_base_dn);
			return -1;
		}
		if (cb_ldap_is_set(conf->group_filter) && !filter_shape_ok(conf->group_filter)) {
			cb_ldap_err_set(err, errlen, "group_filter = \"%s\" is not one parenthesised LDAP filter with balanced "
				"parentheses, e.g. \"(objectClass=groupOfNames)\"", conf->group_filter);
			return -1;
		}
		if (conf->max_groups < 1 || conf->max_groups > MAX_GROUPS_LIMIT) {
			cb_ldap_err_set(err, errlen, "max_groups = %u is out of range (1 to %d)", conf->max_groups, MAX_GROUPS_LIMIT);
			return -1;
		}
		break;

	default:
		cb_ldap_err_set(err, errlen, "group_membership: unknown mode %d; accepted: %s", (int) conf->group_mode,
			CB_LDAP_GROUP_MODE_NAMES);
		return -1;
	}
	if (conf->num_staff_groups == 0) {
		cb_ldap_err_set(err, errlen, "staff_group is not set: name at least one group (by DN) whose members are staff");
		return -1;
	}
	if (check_groups("staff_group", conf->staff_groups, conf->num_staff_groups, err, errlen) < 0 ||
	    check_groups("pupil_group", conf->pupil_groups, conf->num_pupil_groups, err, errlen) < 0 ||
	    check_roles(conf, err, errlen) < 0) return -1;
	return 0;
}

static int check_state_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	switch (conf->disabled_mode) {
	case CB_LDAP_DISABLED_NONE:
	case CB_LDAP_DISABLED_AD_UAC:
	case CB_LDAP_DISABLED_PPOLICY:
		break;

	case CB_LDAP_DISABLED_FILTER:
		if (!cb_ldap_is_set(conf->disabled_filter) || !filter_shape_ok(conf->disabled_filter)) {
			cb_ldap_err_set(err, errlen, "disabled_mode = filter needs disabled_filter, one parenthesised LDAP filter "
				"such as \"(nsAccountLock=TRUE)\"");
			return -1;
		}
		break;

	default:
		cb_ldap_err_set(err, errlen, "disabled_mode: unknown mode %d; accepted: %s", (int) conf->disabled_mode,
			CB_LDAP_DISABLED_MODE_NAMES);
		return -1;
	}
	if (check_attr("revoked_attribute", conf->revoked_attribute, false, err, errlen) < 0 ||
	    check_attr("revoked_reason_attribute", conf->revoked_reason_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_reason_attribute", conf->exception_reason_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_approved_by_attribute", conf->exception_approved_by_attribute, false, err, errlen) < 0 ||
	    check_attr("exception_until_attribute", conf->exception_until_attribute, false, err, errlen) < 0) return -1;
	return 0;
}

/** check_list_conf - the limits of cb_ldap_list_people (0 is each one's default). */
static int check_list_conf(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (conf->list_timeout_ms &&
	    (conf->list_timeout_ms < TIMEOUT_MIN_MS || conf->list_timeout_ms > LIST_TIMEOUT_MAX_MS)) {
		cb_ldap_err_set(err, errlen, "list_timeout_ms = %u is out of range (%d to %d, or 0 for %d x search_timeout_ms)",
			conf->list_timeout_ms, TIMEOUT_MIN_MS, LIST_TIMEOUT_MAX_MS, CB_LDAP_LIST_TIMEOUT_FACTOR);
		return -1;
	}
	if (conf->list_max_people > LIST_MAX_PEOPLE_LIMIT) {
		cb_ldap_err_set(err, errlen, "list_max_people = %u is out of range (1 to %d, or 0 for %d)",
			conf->list_max_people, LIST_MAX_PEOPLE_LIMIT, CB_LDAP_LIST_MAX_PEOPLE);
		return -1;
	}
	if (conf->list_page_size > LIST_PAGE_SIZE_LIMIT) {
		cb_ldap_err_set(err, errlen, "list_page_size = %u is out of range (1 to %d, or 0 for %d)",
			conf->list_page_size, LIST_PAGE_SIZE_LIMIT, CB_LDAP_LIST_PAGE_SIZE);
		return -1;
	}
	return 0;
}

int cb_ldap_conf_check(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (err && errlen) err[0] = '\0';
	if (check_connection(conf, err, errlen) < 0) return -1;
	if (check_search(conf, err, errlen) < 0) return -1;
	if (check_groups_conf(conf, err, errlen) < 0) return -1;
	if (check_state_conf(conf, err, errlen) < 0) return -1;
	if (check_list_conf(conf, err, errlen) < 0) return -1;
	return 0;
}

/*
 *	Filter templates.
 */

int cb_ldap_filter_expand(char const *tmpl, char const *value, char *buf, size_t buflen, char *err, size_t errlen)
{
	cb_ldap_sb_t sb;
	char const *p;
	int subst = 0;

	cb_ldap_sb_init(&sb, buf, buflen);
	if (!tmpl || !value) {
		cb_ldap_err_set(err, errlen, "no filter template or value");
		return -1;
	}
	for (p = tmpl; *p; p++) {
		if (*p != '%') {
			cb_ldap_sb_addn(&sb, p, 1);
			continue;
		}
		if (p[1] == '%') {
			cb_ldap_sb_addn(&sb, "%", 1);
			p++;
		} else if (p[1] == 's') {
			if (++subst > 1) break;
			if (!cb_ldap_sb_add_escaped(&sb, value, strlen(value))) {
				cb_ldap_err_set(err, errlen, "the value could not be escaped");
				goto fail;
			}
			p++;
		} else if (p[1] == '{') {
			cb_ldap_err_set(err, errlen, "%%{...} expansions are not supported here; put %%s where the identity goes");
			goto fail;
		} else {
			cb_ldap_err_set(err, errlen, "'%%%c' is not understood; use %%s for the identity and %%%% for a %%",
				p[1] ? p[1] : ' ');
			goto fail;
		}
	}
	if (subst != 1) {
		cb_ldap_err_set(err, errlen, "the template must contain %%s exactly once (it has %s)", subst ? "more" : "none");
		goto fail;
	}
	if (sb.overflow) {
		cb_ldap_err_set(err, errlen, "the filter would be longer than %zu bytes", buflen ? buflen - 1 : 0);
		goto fail;
	}
	return 0;

fail:
	if (buflen) buf[0] = '\0';
	return -1;
}
