/*
 * fuzz_ldap_entry.c - libFuzzer target: LDAP entry-to-facts
 * (cb_ldap_entry_facts() of lib/directory/ldap.h), the code that reads
 * whatever a directory server sends back about a person.
 *
 * Input encoding (line-based, so that seeds can be written by hand):
 *
 *	line 1		the configuration: its first byte, modulo the number of
 *			configurations below, picks one (an empty line picks 0)
 *	other lines	NAME:VALUE - one value of the attribute NAME; NAME is
 *			the bytes before the first ':', VALUE the bytes after
 *			it up to the '\n' (or the end of the input).  "\xHH"
 *			in VALUE is the byte HH and "\\" a backslash; any other
 *			byte, NUL included, stands for itself.  The NAME "dn"
 *			(any case) gives the entry's DN instead (the last one
 *			counts; none: the entry has no DN).  Values of one NAME
 *			(exact bytes) form one attribute, in input order.
 *			Lines without ':' are ignored.
 *
 *	e.g.	0
 *		dn:uid=alice,ou=people,dc=school,dc=example
 *		memberOf:cn=staff,ou=groups,dc=school,dc=example
 *		mail:Alice@School.Example
 *		cetbyodRevoked:\x00TRUE
 *
 * Bounds: at most MAX_ATTRS attributes and MAX_VALUES values; later lines
 * are ignored.  The configurations (built afresh for every input, so no
 * state is kept between inputs) cover OpenLDAP and Active Directory: group
 * membership by memberOf against DNs spelt in either case, ad_nested
 * (membership left to a search), the ppolicy lock, userAccountControl and
 * the filter mode, revocation and exception attributes, attributes shared
 * by several options, and options unset.
 *
 * The stated contract is checked and abort() when broken: FOUND gives a
 * printable DN that fits, NOT_FOUND a refused and empty answer, never
 * UNAVAILABLE (the configurations are valid); every string in the answer
 * is NUL-terminated within its buffer; facts.revoked_reason points into
 * the answer or is NULL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"
#include "directory/ldap.h"
#include "core/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS	32
#define MAX_VALUES	1024
#define NUM_CONFS	4

static char const *uris[] = { "ldap://127.0.0.1:389" };
static char const *openldap_mail[] = { "mail", "mailLocalAddress" };
static char const *ad_mail[] = { "proxyAddresses", "mail" };
static char const *odd_mail[] = { "mail;lang-en", "description", "mail" };
static char const *openldap_staff[] = { "cn=staff,ou=groups,dc=school,dc=example",
					"CN=Support Staff, OU=Groups, DC=school, DC=example" };
static char const *openldap_pupils[] = { "cn=pupils,ou=groups,dc=school,dc=example" };
static char const *ad_staff[] = { "CN=Staff,OU=Groups,DC=school,DC=example" };
static char const *ad_pupils[] = { "CN=Pupils\\, Year 7,OU=Groups,DC=school,DC=example",
				   "CN=Pupils+OU=Lower,OU=Groups,DC=school,DC=example" };

/** conf_pick - configuration k (0 .. NUM_CONFS - 1), valid by cb_ldap_conf_check(). */
static void conf_pick(unsigned int k, cb_ldap_conf_t *c)
{
	cb_ldap_conf_defaults(c);
	c->uris = uris;
	c->num_uris = 1;
	c->base_dn = "dc=school,dc=example";
	c->staff_groups = openldap_staff;
	c->num_staff_groups = 2;
	c->pupil_groups = openldap_pupils;
	c->num_pupil_groups = 1;

	switch (k) {
	case 0:		/* OpenLDAP: memberOf overlay, ppolicy, the cetbyod schema. */
		c->user_filter = "(&(objectClass=inetOrgPerson)(uid=%s))";
		c->email_attributes = openldap_mail;
		c->num_email_attributes = 2;
		c->disabled_mode = CB_LDAP_DISABLED_PPOLICY;
		break;

	case 1:		/* Active Directory: memberOf, userAccountControl, proxyAddresses. */
		c->user_filter = "(sAMAccountName=%s)";
		c->email_attributes = ad_mail;
		c->num_email_attributes = 2;
		c->staff_groups = ad_staff;
		c->num_staff_groups = 1;
		c->pupil_groups = ad_pupils;
		c->num_pupil_groups = 2;
		c->disabled_mode = CB_LDAP_DISABLED_AD_UAC;
		break;

	case 2:		/* AD with nested groups and a disabled filter: both left to searches. */
		c->user_filter = "(userPrincipalName=%s)";
		c->group_mode = CB_LDAP_GROUPS_AD_NESTED;
		c->disabled_mode = CB_LDAP_DISABLED_FILTER;
		c->disabled_filter = "(nsAccountLock=TRUE)";
		c->exception_approved_by_attribute = NULL;
		break;

	default:	/* Odd mappings: options in names, one attribute for several options. */
		c->email_attributes = odd_mail;
		c->num_email_attributes = 3;
		c->member_of_attribute = "isMemberOf";
		c->revoked_attribute = "employeeType";
		c->revoked_reason_attribute = "description";
		c->exception_reason_attribute = "description";
		c->exception_approved_by_attribute = "title";
		c->exception_until_attribute = "employeeType";
		c->disabled_mode = CB_LDAP_DISABLED_NONE;
		break;
	}
}

/** The entry decoded from one input; every pointer is into buf or the arrays. */
typedef struct {
	char			*buf;			/* A copy of the input, unescaped in place. */
	cb_ldap_attr_t		attrs[MAX_ATTRS];
	size_t			name_len[MAX_ATTRS];
	cb_ldap_value_t		values[MAX_VALUES];	/* Grouped by attribute once decoded. */
	cb_ldap_value_t		raw[MAX_VALUES];	/* In input order, with... */
	size_t			raw_attr[MAX_VALUES];	/* ...the attribute each belongs to. */
	size_t			num_raw;
	cb_ldap_entry_t		entry;
} decoded_t;

static int hex(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/** unescape - decode "\xHH" and "\\" in p[0..len) in place; the new length. */
static size_t unescape(char *p, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		if (p[i] == '\\' && i + 1 < len && p[i + 1] == '\\') {
			p[o++] = '\\';
			i += 2;
		} else if (p[i] == '\\' && i + 3 < len && p[i + 1] == 'x' && hex(p[i + 2]) >= 0 && hex(p[i + 3]) >= 0) {
			p[o++] = (char) (hex(p[i + 2]) * 16 + hex(p[i + 3]));
			i += 4;
		} else {
			p[o++] = p[i++];
		}
	}
	return o;
}

/** attr_index - the attribute called name[0..len), added if new; -1 when there is no room. */
static long attr_index(decoded_t *d, char *name, size_t len)
{
	size_t i;

	for (i = 0; i < d->entry.num_attrs; i++) {
		if (d->name_len[i] == len && memcmp(d->attrs[i].name, name, len) == 0) return (long) i;
	}
	if (i == MAX_ATTRS) return -1;
	name[len] = '\0';	/* The ':' after it. */
	d->attrs[i].name = name;
	d->name_len[i] = len;
	d->entry.num_attrs++;
	return (long) i;
}

/** decode_line - one "NAME:VALUE" line (p[0..len), no '\n'). */
static void decode_line(decoded_t *d, char *p, size_t len)
{
	char *colon = memchr(p, ':', len);
	size_t nlen, vlen;
	long a;

	if (!colon) return;
	nlen = (size_t) (colon - p);
	vlen = unescape(colon + 1, len - nlen - 1);
	if (nlen == 2 && strncasecmp(p, "dn", 2) == 0) {
		d->entry.dn = colon + 1;
		d->entry.dn_len = vlen;
		return;
	}
	if (d->num_raw == MAX_VALUES || (a = attr_index(d, p, nlen)) < 0) return;
	d->raw[d->num_raw].val = vlen ? colon + 1 : NULL;	/* NULL with 0, as the contract allows. */
	d->raw[d->num_raw].len = vlen;
	d->raw_attr[d->num_raw++] = (size_t) a;
}

/** decode - the input as an entry; returns the configuration picked. */
static unsigned int decode(decoded_t *d, uint8_t const *data, size_t size)
{
	char *p, *end, *nl;
	unsigned int k;
	size_t v = 0;

	memcpy(d->buf, data, size);
	d->buf[size] = '\0';
	p = d->buf;
	end = d->buf + size;
	nl = memchr(p, '\n', size);
	k = (size && nl != p) ? (unsigned char) p[0] % NUM_CONFS : 0;
	p = nl ? nl + 1 : end;
	while (p < end) {
		nl = memchr(p, '\n', (size_t) (end - p));
		if (!nl) nl = end;
		decode_line(d, p, (size_t) (nl - p));
		p = nl + 1;
	}

	/* Group the values by attribute, keeping their order. */
	for (size_t a = 0; a < d->entry.num_attrs; a++) {
		d->attrs[a].values = &d->values[v];
		for (size_t i = 0; i < d->num_raw; i++) {
			if (d->raw_attr[i] != a) continue;
			d->values[v++] = d->raw[i];
			d->attrs[a].num_values++;
		}
	}
	d->entry.attrs = d->attrs;
	return k;
}

static bool terminated(char const *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/** check - the contract of cb_ldap_entry_facts(); abort() when it is broken. */
static void check(cb_dir_result_t r, cb_dir_entry_t const *e)
{
	if (!terminated(e->dn, sizeof(e->dn)) || !terminated(e->warning, sizeof(e->warning)) ||
	    !terminated(e->revoked_reason, sizeof(e->revoked_reason)) ||
	    !terminated(e->exception.reason, sizeof(e->exception.reason)) ||
	    !terminated(e->exception.approved_by, sizeof(e->exception.approved_by))) abort();
	if (e->num_emails > CB_DIR_EMAILS_MAX) abort();
	for (size_t i = 0; i < e->num_emails; i++) {
		if (!terminated(e->emails[i], sizeof(e->emails[i])) || !e->emails[i][0]) abort();
	}
	if (e->facts.revoked_reason && (e->facts.revoked_reason != e->revoked_reason || !e->facts.revoked)) abort();
	if (e->facts.role != CB_ROLE_OTHER && e->facts.role != CB_ROLE_STAFF && e->facts.role != CB_ROLE_PUPIL) abort();
	if (e->facts.result != r) abort();

	switch (r) {
	case CB_DIR_FOUND:
		if (e->refused || !e->dn[0] || !cb_utf8_text_valid(e->dn, strlen(e->dn))) abort();
		break;

	case CB_DIR_NOT_FOUND:
		if (!e->refused || e->dn[0] || e->num_emails || e->facts.revoked || e->exception.present) abort();
		break;

	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decoded_t *d = calloc(1, sizeof(*d));
	cb_ldap_conf_t conf;
	cb_dir_entry_t out;
	cb_dir_result_t r;
	char err[512];

	if (!d || !(d->buf = malloc(size + 1))) abort();
	conf_pick(decode(d, data, size), &conf);
	if (cb_ldap_conf_check(&conf, err, sizeof(err)) < 0) abort();	/* A mistake in this file. */

	r = cb_ldap_entry_facts(&conf, &d->entry, &out, err, sizeof(err));
	check(r, &out);
	if ((r == CB_DIR_FOUND) != (err[0] == '\0')) abort();

	free(d->buf);
	free(d);
	return 0;
}
