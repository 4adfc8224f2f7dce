/*
 * glue_filter.c - the web filter learns who is on which address.
 *
 * Web filters (Smoothwall, FortiGate RSSO, Netsweeper, Lightspeed, ...)
 * map addresses to people from RADIUS accounting: User-Name and
 * Framed-IP-Address of Start, Interim-Update and Stop.  With PEAP and TTLS
 * the NAS knows only the outer identity ("anonymous@school.example"), so
 * the module offers two ways for the real name to reach the filter
 * (web_filter { } in mods-available/cetbyod, README "The web filter: who
 * is on which address"):
 *
 *   - reply_user_name: Cetbyod-User-Name in the control list on admission;
 *     the site copies it to the Access-Accept's User-Name, and a NAS that
 *     follows RFC 2865 section 5.1 ("the client SHOULD use the name
 *     returned in the Access-Accept packet in all Accounting-Request
 *     packets for this session") accounts under the real name.
 *   - accounting_user_name: for NASes that do not, Cetbyod-User-Name in
 *     accounting from the decision the session's Class names; the site
 *     rewrites User-Name with it just before the replicate module copies
 *     the packet to the filter.  A Class this server did not issue, or one
 *     issued to another device, rewrites nothing.
 *
 * realm names the proxy.conf realm whose accounting pool is the filter's
 * receiver: the module puts it in Replicate-To-Realm, so the site's
 * "replicate" forwards every accounting packet there.
 */
#include "rlm_cetbyod.h"

#include <freeradius-devel/realms.h>

#include "base/mac.h"

/** find_realm - web_filter { realm }: a realm of proxy.conf with an accounting pool. */
static int find_realm(rlm_cetbyod_t const *inst, CONF_SECTION *conf)
{
	char const *name = inst->web_filter.realm;
	REALM *realm;

	if (!name || !*name) return 0;
	realm = realm_find2(name);
	if (!realm || strcmp(realm->name, name) != 0) {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'web_filter { realm }': no realm of that name is "
			      "defined (proxy.conf, or the example at the end of sites-available/cetbyod); accepted "
			      "values are \"\" (do not forward) or the name of a realm with an acct_pool", name);
		return -1;
	}
	if (!realm->acct_pool) {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'web_filter { realm }': the realm has no acct_pool "
			      "(the home_server_pool holding the web filter's accounting receiver)", name);
		return -1;
	}
	return 0;
}

int cetbyod_filter_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	inst->da_user_name = dict_attrbyname("Cetbyod-User-Name");
	if (!inst->da_user_name) {
		cf_log_err_cs(conf, "Attribute Cetbyod-User-Name is not defined: add \"$INCLUDE dictionary.cetbyod\" "
			      "to raddb/dictionary (make install does this)");
		return -1;
	}
	inst->da_replicate_to_realm = dict_attrbyname("Replicate-To-Realm");
	if (!inst->da_replicate_to_realm) {
		cf_log_err_cs(conf, "Attribute Replicate-To-Realm is not defined: FreeRADIUS's own dictionary is "
			      "incomplete");
		return -1;
	}
	return find_realm(inst, conf);
}

static void set_control(REQUEST *request, DICT_ATTR const *da, char const *value)
{
	VALUE_PAIR *vp = fr_pair_afrom_da(request, da);

	if (!vp) return;
	fr_pair_value_strcpy(vp, value);
	fr_pair_replace(&request->config, vp);
}

void cetbyod_filter_reply(rlm_cetbyod_t const *inst, REQUEST *request, char const *identity, cb_status_t status)
{
	char outer[CB_STORE_TEXT_MAX + 1];

	if (!inst->web_filter.reply_user_name || status == CB_STATUS_REJECT || !identity || !*identity) return;
	cetbyod_value(cetbyod_packet_attr(request, PW_USER_NAME), outer, sizeof(outer));
	if (strcmp(outer, identity) == 0) {
		RDEBUG2("Web filter: User-Name \"%s\" is already the person's name; the NAS accounts under it", outer);
		return;
	}
	set_control(request, inst->da_user_name, identity);
	RDEBUG2("Web filter: Cetbyod-User-Name = \"%s\" (the request's User-Name is \"%s\"): the site puts it in the "
		"Access-Accept's User-Name, and a NAS that honours it (RFC 2865 section 5.1) accounts under it",
		identity, outer);
}

void cetbyod_filter_forward(rlm_cetbyod_t const *inst, REQUEST *request)
{
	if (!inst->web_filter.realm || !*inst->web_filter.realm) return;
	set_control(request, inst->da_replicate_to_realm, inst->web_filter.realm);
	RDEBUG2("Web filter: Replicate-To-Realm = \"%s\": the site's replicate copies this accounting to the "
		"web filter's receiver", inst->web_filter.realm);
}

/** same_device - whether two Calling-Station-Ids name one device (the project's MAC rule, else byte for byte). */
static bool same_device(char const *a, char const *b)
{
	char ma[CB_MAC_LEN + 1], mb[CB_MAC_LEN + 1];

	if (cb_mac_normalise(a, ma) && cb_mac_normalise(b, mb)) return strcmp(ma, mb) == 0;
	return strcmp(a, b) == 0;
}

void cetbyod_filter_accounting(rlm_cetbyod_t *inst, REQUEST *request, cb_store_acct_t const *a,
			       char const *untrusted)
{
	cb_store_decision_t d;
	int rc = 0;

	if (!inst->web_filter.accounting_user_name) return;
	if (untrusted) {
		RWDEBUG("Web filter: the Class is not trusted (%s): User-Name \"%s\" is forwarded unchanged", untrusted,
			a->outer_identity);
		return;
	}
	if (!a->class_id) {
		RDEBUG2("Web filter: no Class of ours in this accounting: User-Name \"%s\" is forwarded as the NAS "
			"sent it", a->outer_identity);
		return;
	}
	if (a->decision) {
		d = *a->decision;	/* A keyed Class, verified and bound to this device. */
	} else {
		rc = cb_store_decision_get(inst->store, a->class_id, &d);
	}
	if (rc != 0) {
		RWDEBUG("Web filter: Class " CB_CLASS_PREFIX "%s names no decision of this server (forged, or older than "
			"the state store): User-Name \"%s\" is forwarded unchanged", a->class_id, a->outer_identity);
		return;
	}
	if (d.calling_station[0] && a->calling_station[0] && !same_device(d.calling_station, a->calling_station)) {
		RWDEBUG("Web filter: Class " CB_CLASS_PREFIX "%s was issued to device %s, but this accounting is for "
			"device %s: User-Name \"%s\" is forwarded unchanged", a->class_id, d.calling_station,
			a->calling_station, a->outer_identity);
		return;
	}
	if (strcmp(d.identity, a->outer_identity) == 0) {
		RDEBUG2("Web filter: User-Name \"%s\" is already the person's name (the NAS honoured the "
			"Access-Accept's User-Name)", a->outer_identity);
		return;
	}
	set_control(request, inst->da_user_name, d.identity);
	RDEBUG2("Web filter: Class " CB_CLASS_PREFIX "%s ties this session to \"%s\"; Cetbyod-User-Name = \"%s\": the "
		"site rewrites User-Name \"%s\" (the outer identity) for the copy to the web filter", a->class_id,
		d.identity, d.identity, a->outer_identity);
}

void cetbyod_filter_address(rlm_cetbyod_t *inst, REQUEST *request, cb_store_acct_t const *a)
{
	cb_store_session_t s;

	/* Only what radiusd -X prints: the read waits for the group commit under way, so not otherwise. */
	if (!RDEBUG_ENABLED2 || !a->framed_ip || !*a->framed_ip) return;
	if (cb_store_session_get(inst->store, a->nas, a->acct_session_id, &s) != 0 || s.stopped) return;
	if (!s.framed_ip[0] || strcmp(s.framed_ip, a->framed_ip) == 0) return;
	RDEBUG2("Session %s: the device's address changed from %s to %s; the session and the web filter follow",
		a->acct_session_id, s.framed_ip, a->framed_ip);
}
