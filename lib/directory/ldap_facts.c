/*
 * ldap_facts.c - entry-to-facts: what one directory entry says about a
 * person, as a cb_dir_entry_t for the policy engine.
 *
 * This half of the client is pure: it reads a neutral cb_ldap_entry_t (the
 * DN and attribute -> values, as (pointer, length) pairs) and needs no
 * connection, so it can be tested and fuzzed without a server.
 * cb_ldap_lookup() (ldap_lookup.c) fills such an entry from the LDAPMessage
 * its search returned and calls cb_ldap_facts_read(); the searches some
 * configurations need besides (group_mode search and ad_nested, disabled_mode
 * filter) stay there.
 *
 * Reading an entry
 * ----------------
 * The addresses are normalised and de-duplicated; the member_of_attribute
 * values are compared with the configured staff and pupil groups after DN
 * normalisation (both sides through ldap_dn_normalize(), which is string
 * work, no network); the disabled marker, the BYOD revocation flag and the
 * documented exception are read.  Everything is untrusted: values that are
 * bad or do not fit are skipped or truncated with a line in out->warning,
 * and where a bad value could grant access (an unreadable revocation flag,
 * exception end or userAccountControl) the safe reading is taken.
 *
 * Also here: strict GeneralizedTime, and the cb_dir_entry_t helpers.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "directory/ldap_int.h"
#include "base/utf8.h"
#include "core/identity.h"
#include "core/tz.h"

/** warn_add - record a warning in the entry; "..." marks warnings that did not fit. */
static void warn_add(cb_dir_entry_t *e, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_add(cb_dir_entry_t *e, char const *fmt, ...)
{
	char msg[CB_DIR_WARNING_MAX];
	size_t used = strnlen(e->warning, sizeof(e->warning)), mlen;
	size_t sep = used ? 2 : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlen = strlen(msg);

	if (used + sep + mlen + 1 > sizeof(e->warning) - 4) {
		if (used + 4 < sizeof(e->warning) && (used < 3 || memcmp(e->warning + used - 3, "...", 3) != 0)) {
			memcpy(e->warning + used, "...", 4);
		}
		return;
	}
	if (sep) memcpy(e->warning + used, "; ", 2);
	memcpy(e->warning + used + sep, msg, mlen + 1);
}

/**
 * text_copy - copy a value for display: invalid UTF-8 and control characters
 * become '?', and it is cut at a character boundary to fit out.
 * Returns a bit set: 1 when something was replaced, 2 when it was cut.
 */
static int text_copy(char *out, size_t outlen, char const *in, size_t len)
{
	unsigned char const *p = (unsigned char const *) in, *end = in ? p + len : p;	/* An empty value may be NULL. */
	size_t o = 0;
	int changed = 0;

	while (p < end) {
		bool control;
		size_t n = cb_utf8_char_len(p, end, &control);

		if (!n || control) {
			if (o + 2 > outlen) break;
			out[o++] = '?';
			changed |= 1;
			p += n ? n : 1;
			continue;
		}
		if (o + n + 1 > outlen) break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	if (p < end) changed |= 2;
	out[o] = '\0';
	return changed;
}

/** digits - n decimal digits at *p (advanced) into *out; false if any is not a digit. */
static bool digits(char const **p, char const *end, size_t n, int *out)
{
	int v = 0;

	if ((size_t) (end - *p) < n) return false;
	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9') return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool is_digit_at(char const *p, char const *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

bool cb_ldap_parse_generalized_time(char const *in, size_t len, time_t *out)
{
	char const *p, *end;
	int year, mon, day, hour, min = 0, sec = 0, oh = 0, om = 0, sign = 0;
	int64_t t;

	if (!in || !out) return false;
	p = in;
	end = in + len;
	if (!digits(&p, end, 4, &year) || !digits(&p, end, 2, &mon) || !digits(&p, end, 2, &day) ||
	    !digits(&p, end, 2, &hour)) return false;
	if (is_digit_at(p, end)) {
		if (!digits(&p, end, 2, &min)) return false;
		if (is_digit_at(p, end) && !digits(&p, end, 2, &sec)) return false;
	}
	if (p < end && (*p == '.' || *p == ',')) {
		p++;
		if (!is_digit_at(p, end)) return false;
		while (is_digit_at(p, end)) p++;
	}
	if (p >= end) return false;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = (*p == '+') ? 1 : -1;
		p++;
		if (!digits(&p, end, 2, &oh)) return false;
		if (p < end && !digits(&p, end, 2, &om)) return false;
		if (oh > 23 || om > 59) return false;
	} else {
		return false;
	}
	if (p != end) return false;
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > cb_tz_days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 60) return false;

	t = cb_tz_days_from_civil(year, (unsigned) mon, (unsigned) day) * 86400 + hour * 3600 + min * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0) return false;
	*out = (time_t) t;
	return true;
}

/*
 *	Entries.
 */

void cb_dir_entry_init(cb_dir_entry_t *entry)
{
	memset(entry, 0, sizeof(*entry));
	entry->facts.result = CB_DIR_NOT_FOUND;
	entry->facts.role = CB_ROLE_OTHER;
}

void cb_dir_entry_copy(cb_dir_entry_t *dst, cb_dir_entry_t const *src)
{
	if (dst == src) return;
	memcpy(dst, src, sizeof(*dst));
	dst->facts.revoked_reason = src->facts.revoked_reason ? dst->revoked_reason : NULL;
}

cb_exception_t cb_dir_entry_exception(cb_dir_entry_t const *entry)
{
	cb_exception_t ex;

	ex.present = entry->exception.present;
	ex.until = entry->exception.present ? entry->exception.until : 0;
	return ex;
}

/*
 *	The configured groups, and membership.
 */

static int prepare_list(char **dst, size_t *num, size_t cap, char const **src, size_t n)
{
	if (n && !src) return -1;
	for (size_t i = 0; i < n; i++) {
		if (*num >= cap) return -1;
		dst[*num] = src[i] ? cb_ldap_dn_normal(src[i]) : NULL;
		if (!dst[*num]) return -1;
		(*num)++;
	}
	return 0;
}

/** prepare_admitted - staff_groups (role 0), then each role's groups (role k), into groups->staff. */
static int prepare_admitted(cb_ldap_groups_t *groups, cb_ldap_conf_t const *conf)
{
	if (prepare_list(groups->staff, &groups->num_staff, CB_LDAP_MAX_GROUPS, conf->staff_groups,
			 conf->num_staff_groups) < 0) return -1;
	if (conf->num_roles && !conf->roles) return -1;
	for (size_t r = 0; r < conf->num_roles && r < CB_LDAP_MAX_ROLES; r++) {
		size_t from = groups->num_staff;

		if (prepare_list(groups->staff, &groups->num_staff, CB_LDAP_MAX_ADMITTED, conf->roles[r].groups,
				 conf->roles[r].num_groups) < 0) return -1;
		for (size_t i = from; i < groups->num_staff; i++) groups->role_of[i] = (unsigned char) (r + 1);
	}
	return 0;
}

int cb_ldap_groups_prepare(cb_ldap_groups_t *groups, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	memset(groups, 0, sizeof(*groups));
	if (prepare_admitted(groups, conf) < 0 ||
	    prepare_list(groups->pupil, &groups->num_pupil, CB_LDAP_MAX_GROUPS, conf->pupil_groups,
			 conf->num_pupil_groups) < 0) {
		cb_ldap_groups_free(groups);
		cb_ldap_err_set(err, errlen, "a staff_group, pupil_group or role's group DN cannot be normalised");
		return -1;
	}
	return 0;
}

void cb_ldap_groups_free(cb_ldap_groups_t *groups)
{
	size_t i;

	for (i = 0; i < groups->num_staff; i++) ldap_memfree(groups->staff[i]);
	for (i = 0; i < groups->num_pupil; i++) ldap_memfree(groups->pupil[i]);
	groups->num_staff = groups->num_pupil = 0;
}

static bool ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/** simple_value - one RDN value from *i up to ',' or len: letters, digits, inner spaces, "_.@-". */
static bool simple_value(char const *v, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && v[*i] != ',') {
		char c = v[*i];

		if (!ascii_alnum(c) && c != ' ' && c != '_' && c != '.' && c != '@' && c != '-') return false;
		(*i)++;
	}
	return *i > start && v[start] != ' ' && v[*i - 1] != ' ';
}

bool cb_ldap_dn_simple(char const *v, size_t len)
{
	size_t i = 0;

	if (!v || len == 0) return false;
	while (i < len) {
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z'))) return false;
		while (i < len && (ascii_alnum(v[i]) || v[i] == '-')) i++;
		if (i >= len || v[i] != '=') return false;
		i++;
		if (!simple_value(v, len, &i)) return false;
		if (i < len && ++i == len) return false;	/* A trailing ','. */
	}
	return true;
}

/** dn_equal - a group's normal form against a value: normalised (norm), or a simple DN compared as it is. */
static bool dn_equal(char const *group, char const *norm, char const *val, size_t len)
{
	if (norm) return strcmp(group, norm) == 0;
	return strlen(group) == len && strncasecmp(group, val, len) == 0;
}

void cb_ldap_roles_note(cb_ldap_groups_t const *groups, char const *val, size_t len, cb_ldap_roles_t *roles)
{
	char buf[CB_DIR_DN_MAX], *norm = NULL;

	if (!val || len == 0 || len >= sizeof(buf) || memchr(val, '\0', len)) return;
	/*
	 *	A simple DN (the usual "cn=Staff,ou=Groups,dc=school,dc=example")
	 *	is its own normal form but for case, so a case-insensitive
	 *	comparison settles it; anything else goes through
	 *	ldap_dn_normalize().
	 */
	if (!cb_ldap_dn_simple(val, len)) {
		memcpy(buf, val, len);
		buf[len] = '\0';
		norm = cb_ldap_dn_normal(buf);
		if (!norm) return;
	}
	for (size_t i = 0; i < groups->num_staff; i++) {
		if (!dn_equal(groups->staff[i], norm, val, len)) continue;
		roles->staff = true;
		roles->groups |= 1u << groups->role_of[i];
	}
	for (size_t i = 0; i < groups->num_pupil; i++) {
		if (!dn_equal(groups->pupil[i], norm, val, len)) continue;
		roles->pupil = true;
		roles->groups |= CB_DIR_PUPIL_BIT;
		break;
	}
	if (norm) ldap_memfree(norm);
}

void cb_ldap_roles_set(cb_dir_entry_t *out, cb_ldap_roles_t const *roles)
{
	out->role_groups = roles->groups;
	out->facts.role_id = 0;
	if (roles->pupil && roles->staff) {
		warn_add(out, "member of both a staff and a pupil group: treated as a pupil");
	}
	if (roles->pupil) {
		out->facts.role = CB_ROLE_PUPIL;
	} else if (roles->staff) {
		out->facts.role = CB_ROLE_STAFF;
		/* The lowest bit wins: a staff_group (0), else the first role configured. */
		for (unsigned int k = 0; k <= CB_LDAP_MAX_ROLES; k++) {
			if (roles->groups & (1u << k)) {
				out->facts.role_id = k;
				break;
			}
		}
	} else {
		out->facts.role = CB_ROLE_OTHER;
	}
}

/*
 *	Reading the entry.
 */

/**
 * attr_find - the attribute called name in entry: the first whose whole
 * description matches case-insensitively, as ldap_get_values_len() finds it.
 * NULL when name is not set, or the entry has no such attribute or it has
 * no values.
 */
static cb_ldap_attr_t const *attr_find(cb_ldap_entry_t const *entry, char const *name)
{
	if (!cb_ldap_is_set(name) || !entry->attrs) return NULL;
	for (size_t i = 0; i < entry->num_attrs; i++) {
		cb_ldap_attr_t const *a = &entry->attrs[i];

		if (!a->name || strcasecmp(a->name, name) != 0) continue;
		return (a->values && a->num_values) ? a : NULL;
	}
	return NULL;
}

/**
 * email_value - the address in one value, or NULL to skip it quietly.
 * AD's proxyAddresses carry a type prefix: "SMTP:" (primary) and "smtp:"
 * (alias) are addresses; "X500:", "sip:" and the like are not.
 */
static char const *email_value(cb_ldap_value_t const *bv, size_t *len)
{
	char const *v = bv->val, *colon, *at;

	*len = bv->len;
	if (!v || !bv->len) return "";
	colon = memchr(v, ':', bv->len);
	at = memchr(v, '@', bv->len);
	if (!colon || (at && at < colon)) return v;
	if ((size_t) (colon - v) == 4 && strncasecmp(v, "smtp", 4) == 0) {
		*len = bv->len - 5;
		return colon + 1;
	}
	for (char const *p = v; p < colon; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) return v;
	}
	return NULL;
}

static void add_email(cb_dir_entry_t *out, char const *attr, char const *v, size_t len, bool *full)
{
	char norm[CB_DIR_EMAIL_MAX];

	if (!cb_identity_email_normalise(v, len, norm, sizeof(norm))) {
		warn_add(out, "a value of %s is not an email address; ignored", attr);
		return;
	}
	for (size_t i = 0; i < out->num_emails; i++) if (strcmp(out->emails[i], norm) == 0) return;
	if (out->num_emails == CB_DIR_EMAILS_MAX) {
		if (!*full) warn_add(out, "more than %d email addresses; the rest are ignored", CB_DIR_EMAILS_MAX);
		*full = true;
		return;
	}
	memcpy(out->emails[out->num_emails++], norm, strlen(norm) + 1);
}

static void read_emails(cb_ldap_entry_t const *entry, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	bool full = false;

	for (size_t i = 0; i < conf->num_email_attributes && i < CB_LDAP_MAX_EMAIL_ATTRS; i++) {
		char const *attr = conf->email_attributes[i];
		cb_ldap_attr_t const *a = attr_find(entry, attr);

		for (size_t j = 0; a && j < a->num_values; j++) {
			size_t len;
			char const *v = email_value(&a->values[j], &len);

			if (v) add_email(out, attr, v, len, &full);
		}
	}
}

static void read_member_of(cb_ldap_groups_t const *groups, cb_ldap_entry_t const *entry, cb_ldap_conf_t const *conf,
			   cb_dir_entry_t *out)
{
	cb_ldap_attr_t const *a = attr_find(entry, conf->member_of_attribute);
	cb_ldap_roles_t roles = { false, false, 0 };

	for (size_t j = 0; a && j < a->num_values; j++) {
		cb_ldap_roles_note(groups, a->values[j].val, a->values[j].len, &roles);
	}
	cb_ldap_roles_set(out, &roles);
}

/** parse_int32 - strict decimal integer in the range of a 32-bit (signed or unsigned) int. */
static bool parse_int32(char const *v, size_t len, uint32_t *out)
{
	bool neg = false;
	uint64_t n = 0;
	size_t i = 0;

	if (len && v[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 10) return false;
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') return false;
		n = n * 10 + (uint64_t) (v[i] - '0');
	}
	if (neg ? n > 2147483648ULL : n > 4294967295ULL) return false;
	*out = neg ? (uint32_t) (-(int64_t) n) : (uint32_t) n;
	return true;
}

static void read_disabled(cb_ldap_entry_t const *entry, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	cb_ldap_attr_t const *a;
	uint32_t uac;

	switch (conf->disabled_mode) {
	case CB_LDAP_DISABLED_AD_UAC:
		a = attr_find(entry, CB_LDAP_AD_UAC_ATTR);
		if (!a || a->num_values != 1 || !parse_int32(a->values[0].val, a->values[0].len, &uac)) {
			warn_add(out, "%s is missing or not one integer: account treated as disabled", CB_LDAP_AD_UAC_ATTR);
			out->facts.disabled = true;
		} else {
			out->facts.disabled = (uac & CB_LDAP_AD_UAC_ACCOUNTDISABLE) != 0;
		}
		break;

	case CB_LDAP_DISABLED_PPOLICY:
		out->facts.disabled = attr_find(entry, CB_LDAP_PPOLICY_LOCKED_ATTR) != NULL;
		break;

	default:
		break;
	}
}

/** parse_flag - TRUE/FALSE (LDAP Boolean), also 1/0 and yes/no for string attributes. */
static int parse_flag(cb_ldap_value_t const *bv)
{
	static char const *yes[] = { "TRUE", "1", "yes" }, *no[] = { "FALSE", "0", "no" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (bv->len == strlen(yes[i]) && strncasecmp(bv->val, yes[i], bv->len) == 0) return 1;
		if (bv->len == strlen(no[i]) && strncasecmp(bv->val, no[i], bv->len) == 0) return 0;
	}
	return -1;
}

/** read_text - first value of attr as display text; false when absent. */
static bool read_text(cb_ldap_entry_t const *entry, char const *attr, char *buf, size_t buflen, cb_dir_entry_t *out)
{
	cb_ldap_attr_t const *a = attr_find(entry, attr);
	int changed;

	buf[0] = '\0';
	if (!a) return false;
	if (a->num_values > 1) warn_add(out, "%s has several values; the first is used", attr);
	changed = text_copy(buf, buflen, a->values[0].val, a->values[0].len);
	if (changed & 1) warn_add(out, "%s holds control characters or invalid UTF-8, shown as '?'", attr);
	if (changed & 2) warn_add(out, "%s is longer than %zu bytes; truncated", attr, buflen - 1);
	return true;
}

static void read_revocation(cb_ldap_entry_t const *entry, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	cb_ldap_attr_t const *a = attr_find(entry, conf->revoked_attribute);

	for (size_t j = 0; a && j < a->num_values; j++) {
		int flag = parse_flag(&a->values[j]);

		if (flag < 0) {
			warn_add(out, "%s is neither TRUE nor FALSE: access treated as revoked", conf->revoked_attribute);
			flag = 1;
		}
		if (flag) out->facts.revoked = true;
	}
	if (!out->facts.revoked) return;
	if (read_text(entry, conf->revoked_reason_attribute, out->revoked_reason, sizeof(out->revoked_reason), out) &&
	    out->revoked_reason[0]) {
		out->facts.revoked_reason = out->revoked_reason;
	}
}

/**
 * read_exception - an exception counts only when documented: a reason, the
 * approver (when exception_approved_by_attribute is set) and, when present,
 * a valid end.  Anything less is ignored with a warning (fail closed).
 */
static void read_exception(cb_ldap_entry_t const *entry, cb_ldap_conf_t const *conf, cb_dir_entry_t *out)
{
	cb_dir_exception_t *ex = &out->exception;
	cb_ldap_attr_t const *a;

	memset(ex, 0, sizeof(*ex));
	if (!read_text(entry, conf->exception_reason_attribute, ex->reason, sizeof(ex->reason), out)) return;
	if (cb_ldap_is_set(conf->exception_approved_by_attribute) &&
	    !read_text(entry, conf->exception_approved_by_attribute, ex->approved_by, sizeof(ex->approved_by), out)) {
		warn_add(out, "exception has no %s (who approved it): ignored", conf->exception_approved_by_attribute);
		goto ignore;
	}
	a = attr_find(entry, conf->exception_until_attribute);
	if (a && (a->num_values != 1 ||
		  !cb_ldap_parse_generalized_time(a->values[0].val, a->values[0].len, &ex->until))) {
		warn_add(out, "%s is not one GeneralizedTime (e.g. 20250718000000Z): exception ignored",
			 conf->exception_until_attribute);
		goto ignore;
	}
	ex->present = true;
	return;

ignore:
	memset(ex, 0, sizeof(*ex));
}

/** read_dn - the entry's DN into out->dn; false (with err) when it is unusable. */
static bool read_dn(cb_ldap_entry_t const *entry, cb_dir_entry_t *out, char *err, size_t errlen)
{
	size_t len = entry->dn_len;

	if (!entry->dn) {
		cb_ldap_err_set(err, errlen, "the entry has no DN");
		return false;
	}
	if (len == 0 || len >= sizeof(out->dn) || !cb_utf8_text_valid(entry->dn, len)) {
		cb_ldap_err_set(err, errlen, "the entry's DN is empty, longer than %zu bytes or not printable UTF-8",
				sizeof(out->dn) - 1);
		return false;
	}
	memcpy(out->dn, entry->dn, len);
	out->dn[len] = '\0';
	return true;
}

cb_dir_result_t cb_ldap_facts_refuse(cb_dir_entry_t *out)
{
	char warning[CB_DIR_WARNING_MAX];

	memcpy(warning, out->warning, sizeof(warning));
	cb_dir_entry_init(out);
	memcpy(out->warning, warning, sizeof(warning));
	out->refused = true;
	return CB_DIR_NOT_FOUND;
}

cb_dir_result_t cb_ldap_facts_read(cb_ldap_conf_t const *conf, cb_ldap_groups_t const *groups,
				   cb_ldap_entry_t const *entry, cb_dir_entry_t *out, char *err, size_t errlen)
{
	cb_dir_entry_init(out);
	if (!read_dn(entry, out, err, errlen)) return cb_ldap_facts_refuse(out);
	read_emails(entry, conf, out);
	if (conf->group_mode == CB_LDAP_GROUPS_MEMBEROF) read_member_of(groups, entry, conf, out);
	read_disabled(entry, conf, out);
	read_revocation(entry, conf, out);
	read_exception(entry, conf, out);
	out->facts.result = CB_DIR_FOUND;
	return CB_DIR_FOUND;
}

cb_dir_result_t cb_ldap_entry_facts(cb_ldap_conf_t const *conf, cb_ldap_entry_t const *entry, cb_dir_entry_t *out,
				    char *err, size_t errlen)
{
	cb_ldap_groups_t groups;
	cb_dir_result_t result;

	if (err && errlen) err[0] = '\0';
	if (out) cb_dir_entry_init(out);
	if (!conf || !entry || !out) {
		cb_ldap_err_set(err, errlen, "no configuration, entry or answer to fill");
		goto unavailable;
	}
	if (cb_ldap_groups_prepare(&groups, conf, err, errlen) < 0) goto unavailable;
	result = cb_ldap_facts_read(conf, &groups, entry, out, err, errlen);
	cb_ldap_groups_free(&groups);
	return result;

unavailable:
	if (out) out->facts.result = CB_DIR_UNAVAILABLE;
	return CB_DIR_UNAVAILABLE;
}
