/*
 * glue_request.c - post-auth's FreeRADIUS side: the identity and the facts
 * read from the request (the attributes earlier modules set, or the
 * directory through glue_ldap.c), what radiusd -X says about what the
 * decision found, the Access-Accept remembered in the store under a Class,
 * the decision in the audit trail, and the decision written back as
 * Cetbyod-* attributes in the control list.  The decision itself is the
 * core's (cb_decide, lib/core/decide.h).
 */
#include "rlm_cetbyod.h"

#include <inttypes.h>

#include "core/decide.h"
#include "core/identity.h"
#include "core/policy.h"
#include "sources/sync.h"

/*
 *	Reading facts.  The control list wins over the outer session-state
 *	(where the inner tunnel copies what the stock modules found).
 */
static VALUE_PAIR *find_fact(REQUEST *request, DICT_ATTR const *da)
{
	VALUE_PAIR *vp = fr_pair_find_by_da(request->config, da, TAG_ANY);

	if (!vp) vp = fr_pair_find_by_da(request->state, da, TAG_ANY);
	return vp;
}

/** identity_attribute - the inner identity if the tunnel passed one up, else User-Name. */
static VALUE_PAIR *identity_attribute(rlm_cetbyod_t const *inst, REQUEST *request)
{
	VALUE_PAIR *vp = fr_pair_find_by_da(request->state, inst->da_inner_identity, TAG_ANY);

	if (vp) return vp;
	return fr_pair_find_by_num(request->packet->vps, PW_USER_NAME, 0, TAG_ANY);
}

static void directory_facts_from_attributes(rlm_cetbyod_t const *inst, REQUEST *request, cb_dir_facts_t *dir)
{
	VALUE_PAIR *vp;

	memset(dir, 0, sizeof(*dir));
	vp = find_fact(request, inst->da_role);
	if (!vp) {
		dir->result = CB_DIR_NOT_FOUND;
		RDEBUG2("No Cetbyod-Role in control or session-state: the user store does not know this person");
		return;
	}
	dir->result = CB_DIR_FOUND;
	dir->role = (vp->vp_integer == 1) ? CB_ROLE_STAFF : (vp->vp_integer == 2) ? CB_ROLE_PUPIL : CB_ROLE_OTHER;
	vp = find_fact(request, inst->da_disabled);
	dir->disabled = vp && vp->vp_integer != 0;
	vp = find_fact(request, inst->da_revoked);
	if (vp) {
		dir->revoked = true;
		dir->revoked_reason = vp->vp_strvalue;
	}
}

/** collect_emails - normalised addresses keying the acknowledgement (Cetbyod-Email) into facts. */
static void collect_emails(rlm_cetbyod_t const *inst, REQUEST *request, cb_facts_t *facts,
			   char buf[][CB_IDENTITY_MAX + 1])
{
	VALUE_PAIR *list[2] = { request->config, request->state };

	for (size_t l = 0; l < 2 && facts->num_emails == 0; l++) {
		vp_cursor_t cursor;
		VALUE_PAIR *vp;

		for (vp = fr_cursor_init(&cursor, &list[l]); vp && facts->num_emails < CB_MAX_EMAILS;
		     vp = fr_cursor_next(&cursor)) {
			char *email = buf[facts->num_emails];
			char shown[CB_IDENTITY_ESCAPED_MAX];

			if (vp->da != inst->da_email) continue;
			if (!cb_identity_email_normalise(vp->vp_strvalue, vp->vp_length, email, CB_IDENTITY_MAX + 1)) {
				RWDEBUG("Ignoring Cetbyod-Email \"%s\": not an email address",
					cb_identity_escape(vp->vp_strvalue, vp->vp_length, shown, sizeof(shown)));
				continue;
			}
			cb_facts_add_email(facts, email);
		}
	}
}

static void exception_from_attributes(rlm_cetbyod_t const *inst, REQUEST *request, cb_exception_t *exc)
{
	VALUE_PAIR *until = find_fact(request, inst->da_exception_until);
	VALUE_PAIR *reason = find_fact(request, inst->da_exception_reason);

	memset(exc, 0, sizeof(*exc));
	if (!until && !reason) return;
	exc->present = true;
	exc->until = until ? (time_t) until->vp_date : 0;
}

void cetbyod_value(VALUE_PAIR *vp, char *buf, size_t len)
{
	buf[0] = '\0';
	if (vp) vp_prints_value(buf, len, vp, 0);
}

VALUE_PAIR *cetbyod_packet_attr(REQUEST *request, unsigned int attr)
{
	return fr_pair_find_by_num(request->packet->vps, attr, 0, TAG_ANY);
}

void cetbyod_request_facts(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t *facts,
			   cetbyod_facts_buf_t *buf)
{
	memset(facts, 0, sizeof(*facts));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), buf->device, sizeof(buf->device));
	facts->device = buf->device;
	if (inst->directory == DIRECTORY_LDAP) {
		facts->origin = CB_FACTS_DIRECTORY;
		cetbyod_ldap_person(inst, request, identity, facts, buf->emails);
	} else {
		facts->origin = CB_FACTS_ATTRIBUTES;
		directory_facts_from_attributes(inst, request, &facts->dir);
		exception_from_attributes(inst, request, &facts->exception);
		collect_emails(inst, request, facts, buf->emails);
	}
	if (!facts->num_emails && cb_identity_email(identity, inst->email_domain, buf->emails[0], CB_IDENTITY_MAX + 1)) {
		cb_facts_add_email(facts, buf->emails[0]);
	}
}

/** log_found - what radiusd -X says about the register, the acknowledgement and IT's revocation. */
static void log_found(REQUEST *request, char const *identity, cb_facts_t const *facts, cb_decide_result_t const *res)
{
	cb_decide_exception_t const *x = &res->exception;
	char until[32];

	if (x->id) {
		cb_tz_format_utc(x->until, until, sizeof(until));
		if (!res->exception_used) {
			RDEBUG2("Register: exception #%" PRId64 " until %s; the directory's lasts longer and is used", x->id,
				until);
		} else {
			RDEBUG2("Register: exception #%" PRId64 " \"%s\", approved by \"%s\", until %s%s%s", x->id,
				x->reason, x->approved_by, until, x->mac[0] ? ", for device " : "", x->mac);
		}
	}
	if (res->ack) {
		RDEBUG2("Acknowledgement of %s from %s", res->ack->email, res->ack->origin);
	} else {
		RDEBUG2("No acknowledgement on record for %s%s", facts->num_emails ? facts->emails[0] : identity,
			facts->num_emails > 1 ? " or its aliases" : "");
	}
	if (res->revoked) {
		RDEBUG2("BYOD access of %s was revoked by IT: %s", identity, res->revoked_reason);
	}
}

/** log_role - which policy a member of staff was decided under: the employees' or their role's. */
static void log_role(rlm_cetbyod_t const *inst, REQUEST *request, cb_decide_result_t const *res)
{
	cb_role_conf_t const *r = cb_roles_get(&inst->roles, res->in.dir.role_id);
	char const *version = res->policy->policy_version;

	if (res->in.dir.role != CB_ROLE_STAFF) return;
	if (!r) {
		RDEBUG2("Role staff (employees): policy { } applies");
		return;
	}
	RDEBUG2("Role %s: form version %s (%s), validity %u day(s) (%s)", r->name, version && *version ? version : "any",
		r->own_version ? "roles { } version" : "policy { version }", res->policy->validity_days,
		r->own_validity ? "roles { } validity_days" : "policy { validity_days }");
}

void cetbyod_request_decide(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_facts_t const *facts,
			    cb_ack_index_t const *idx, time_t now, cb_decide_result_t *res)
{
	cb_decide_env_t env = {
		.policy = &inst->pconf, .roles = &inst->roles, .acks = idx, .state = cb_enforcer_decide_state(inst->enforcer),
		.source_stale = cb_sync_is_stale(inst->sync, now),
		.audit_refuses = inst->audit && !cb_audit_admit_ok(inst->audit),
	};

	cb_decide(&env, identity, facts, now, res);
	log_found(request, identity, facts, res);
	log_role(inst, request, res);
}

static void add_string(REQUEST *request, DICT_ATTR const *da, char const *value)
{
	VALUE_PAIR *vp = fr_pair_afrom_da(request, da);

	if (!vp) return;
	fr_pair_value_strcpy(vp, value);
	fr_pair_replace(&request->config, vp);
}

static void add_integer(REQUEST *request, DICT_ATTR const *da, uint32_t value)
{
	VALUE_PAIR *vp = fr_pair_afrom_da(request, da);

	if (!vp) return;
	vp->vp_integer = value;
	fr_pair_replace(&request->config, vp);
}

static void add_date(REQUEST *request, DICT_ATTR const *da, time_t value)
{
	VALUE_PAIR *vp;

	if (value <= 0 || value > (time_t) UINT32_MAX) return;
	vp = fr_pair_afrom_da(request, da);
	if (!vp) return;
	vp->vp_date = (uint32_t) value;
	fr_pair_replace(&request->config, vp);
}

/**
 * decision_vlan - the VLAN of a decision for a person of dir's role (NULL
 * dir: no facts, employees), and in why which setting chose it.
 */
static char const *decision_vlan(rlm_cetbyod_t const *inst, cb_dir_facts_t const *dir, cb_status_t status,
				 char *why, size_t len)
{
	cb_vlans_t const vlans = {
		.staff = inst->reply.staff_vlan, .onboarding = inst->reply.onboarding_vlan,
		.restricted = inst->reply.restricted_vlan,
	};
	cb_dir_facts_t const none = { .result = CB_DIR_NOT_FOUND };

	return cb_roles_vlan(&inst->roles, &vlans, dir ? dir : &none, status, why, len);
}

/** wants_form - whether completing the form is what the person should do next. */
static bool wants_form(cb_decision_t const *d)
{
	switch (d->reason) {
	case CB_REASON_NO_ACKNOWLEDGEMENT:
	case CB_REASON_ACKNOWLEDGEMENT_EXPIRED:
	case CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY:
	case CB_REASON_ACKNOWLEDGEMENT_REVOKED:
	case CB_REASON_ACKNOWLEDGED_IN_GRACE:
		return true;
	default:
		return false;
	}
}

/** write_decision - the decision as Cetbyod-* attributes in the control list. */
static void write_decision(rlm_cetbyod_t const *inst, REQUEST *request, char const *identity,
			   cb_dir_facts_t const *dir, cb_decision_t const *d, cb_ack_record_t const *ack, time_t now)
{
	char why[128];
	char const *vlan = decision_vlan(inst, dir, d->status, why, sizeof(why));

	cb_metrics_decision(inst->metrics, d->status, d->reason);
	add_integer(request, inst->da_status, (uint32_t) d->status);
	add_string(request, inst->da_reason, cb_reason_name(d->reason));
	add_string(request, inst->da_message, cb_reason_message(d->reason));
	if (identity && *identity) add_string(request, inst->da_identity, identity);
	if (inst->form_url && *inst->form_url && wants_form(d)) add_string(request, inst->da_form_url, inst->form_url);
	if (vlan) {
		add_string(request, inst->da_vlan, vlan);
		RDEBUG2("VLAN %s, from %s", vlan, why);
	}
	add_date(request, inst->da_expiry, d->valid_until);
	add_date(request, inst->da_ack_expiry, d->ack_expires);
	if (ack) {
		add_date(request, inst->da_ack_time, ack->ack_time);
		if (*ack->policy_version) add_string(request, inst->da_policy_version, ack->policy_version);
	}
	if (d->status == CB_STATUS_ONBOARD && inst->reply.onboarding_session_timeout) {
		add_integer(request, inst->da_session_timeout, inst->reply.onboarding_session_timeout);
	} else if (inst->reply.session_timeout_at_expiry && d->valid_until > now && d->status != CB_STATUS_REJECT) {
		add_integer(request, inst->da_session_timeout, (uint32_t) (d->valid_until - now));
	}
}

/*
 *	The decision line: at INFO (radius.log and radiusd -X) when
 *	log_decisions asks for it, else at debug level 2 (radiusd -X only).
 *	A refusal counted in an open run (audit { coalesce_window }) is a
 *	repeat: radius.log has the run's first refusal, and the writer logs
 *	the run's summaries (cb_audit_conf_t.log_summaries), so that a phone
 *	retrying all day adds a few lines, not one per retry.
 */
#define LOG_DECISION(_inst, _refusal, _repeat, _fmt, ...) do { \
		if (log_wanted((_inst), (_refusal), (_repeat))) RINFO(_fmt, __VA_ARGS__); \
		else RDEBUG2(_fmt, __VA_ARGS__); \
	} while (0)

static bool log_wanted(rlm_cetbyod_t const *inst, bool refusal, bool repeat)
{
	if (repeat) return false;
	switch (inst->log_decisions) {
	case LOG_DECISIONS_ALL:		return true;
	case LOG_DECISIONS_REFUSALS:	return refusal;
	case LOG_DECISIONS_NONE:	break;
	}
	return false;
}

/** log_decision - the one line per decision an admin reads in radiusd -X and (log_decisions) radius.log. */
static void log_decision(rlm_cetbyod_t const *inst, REQUEST *request, char const *identity, cb_decision_t const *d,
			 cb_ack_record_t const *ack, bool repeat)
{
	char ack_buf[32], until_buf[64] = "";
	bool refusal = d->status == CB_STATUS_REJECT;

	if (d->valid_until) {
		strlcpy(until_buf, "; holds until ", sizeof(until_buf));
		cb_tz_format_utc(d->valid_until, until_buf + strlen(until_buf), sizeof(until_buf) - strlen(until_buf));
	}
	if (!ack) {
		LOG_DECISION(inst, refusal, repeat, "%s -> %s (%s): no acknowledgement on record%s", identity, cb_status_name(d->status),
		      cb_reason_name(d->reason), until_buf);
		return;
	}
	cb_tz_format_utc(ack->ack_time, ack_buf, sizeof(ack_buf));
	LOG_DECISION(inst, refusal, repeat, "%s -> %s (%s): %s %s%s%s from %s%s", identity, cb_status_name(d->status), cb_reason_name(d->reason),
	      ack->revoked ? "withdrawn" : "acknowledged", ack_buf, *ack->policy_version ? " version " : "",
	      ack->policy_version, ack->origin, until_buf);
}

/** decision_row - the decision of an Access-Accept as the store records it (class_id not set). */
static void decision_row(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t const *res,
			 time_t now, cb_store_decision_t *rec)
{
	cb_decision_t const *d = &res->decision;
	cb_ack_record_t const *ack = res->ack;
	VALUE_PAIR *vp;

	memset(rec, 0, sizeof(*rec));
	strlcpy(rec->identity, identity, sizeof(rec->identity));
	cetbyod_value(cetbyod_packet_attr(request, PW_USER_NAME), rec->outer_identity, sizeof(rec->outer_identity));
	strlcpy(rec->status, cb_status_name(d->status), sizeof(rec->status));
	strlcpy(rec->reason, cb_reason_name(d->reason), sizeof(rec->reason));
	rec->decided_at = now;
	rec->valid_until = d->valid_until;
	if (ack) {
		rec->ack_time = ack->ack_time;
		strlcpy(rec->policy_version, ack->policy_version, sizeof(rec->policy_version));
	}
	strlcpy(rec->ack_email, res->ack_email ? res->ack_email : "", sizeof(rec->ack_email));
	strlcpy(rec->role, cb_roles_name(&inst->roles, &res->in.dir), sizeof(rec->role));	/* Its policy, if decided again. */
	vp = cetbyod_packet_attr(request, PW_NAS_IP_ADDRESS);
	if (!vp) vp = cetbyod_packet_attr(request, PW_NAS_IDENTIFIER);
	cetbyod_value(vp, rec->nas, sizeof(rec->nas));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), rec->calling_station,
		      sizeof(rec->calling_station));
}

/**
 * record_decision - an Access-Accept's decision into Cetbyod-Class (the
 * site copies it to the reply's Class, which accounting echoes back): the
 * keyed Class carries it (glue_class.c), nothing written but a device not
 * seen lately; when it does not fit, the decision is remembered in the
 * store under a new class id, the Class naming it.
 */
static void record_decision(rlm_cetbyod_t *inst, REQUEST *request, char const *identity,
			    cb_decide_result_t const *res, time_t now, bool device_new,
			    char class_id[CB_CLASS_ID_LEN + 1])
{
	cb_store_decision_t rec;
	char class_attr[CB_CLASS_ATTR_LEN + 1];

	if (!inst->store) return;
	decision_row(inst, request, identity, res, now, &rec);
	if (cetbyod_class_issue(inst, request, &rec)) {
		cetbyod_class_device(inst, request, &rec, device_new);
		strlcpy(class_id, rec.class_id, CB_CLASS_ID_LEN + 1);
		return;
	}
	if (cb_store_new_class_id(rec.class_id) < 0) {
		RWDEBUG("Cannot make a Class id: this session cannot be tied to its decision");
		return;
	}
	if (cb_store_decision_put(inst->store, &rec) < 0) {
		RWDEBUG("Cannot record the decision in the state store: its sessions will not be tied to it");
		return;
	}
	if (cb_store_class_format(rec.class_id, class_attr, sizeof(class_attr))) {
		cetbyod_class_put(inst, request, class_attr);
		RDEBUG2("Decision recorded in the state store as Class %s", class_attr);
		strlcpy(class_id, rec.class_id, CB_CLASS_ID_LEN + 1);
	}
}

/**
 * audit_decision - the decision into the audit trail.  Returns false when
 * the trail refuses (audit { on_failure = fail_closed } while it cannot be
 * written): the caller must not admit.  *repeat: a refusal counted in an
 * open run of identical ones (its line is then for radiusd -X only).
 */
static bool audit_decision(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_dir_facts_t const *dir,
			   cb_decision_t const *d, cb_ack_record_t const *ack, char const *class_id,
			   cb_decide_exception_t const *exc, bool *repeat)
{
	char outer[CB_STORE_TEXT_MAX + 1], calling[CB_STORE_TEXT_MAX + 1], called[CB_STORE_TEXT_MAX + 1];
	char nas[CB_STORE_TEXT_MAX + 1], vlan_why[128];
	VALUE_PAIR *vp;
	cb_audit_rc_t rc;
	cb_audit_event_t ev = {
		.type = CB_AUDIT_DECISION, .identity = identity, .outer_identity = outer, .calling_station = calling,
		.called_station = called, .nas = nas, .class_id = class_id, .status = cb_status_name(d->status),
		.reason = cb_reason_name(d->reason), .ack_time = ack ? ack->ack_time : 0,
		.policy_version = ack ? ack->policy_version : NULL, .expiry = d->valid_until,
		.admission = d->status != CB_STATUS_REJECT,
		.role = (dir && dir->result == CB_DIR_FOUND) ? cb_roles_name(&inst->roles, dir) : NULL,
		.vlan = decision_vlan(inst, dir, d->status, vlan_why, sizeof(vlan_why)),
		.vlan_why = vlan_why,
	};

	*repeat = false;
	if (!inst->audit) return true;
	if (!ev.vlan) ev.vlan_why = NULL;
	if (exc && d->reason == CB_REASON_EXCEPTION_ACTIVE) {
		ev.why = exc->reason;
		ev.approved_by = exc->approved_by;
		ev.until = exc->until;
	}
	cetbyod_value(cetbyod_packet_attr(request, PW_USER_NAME), outer, sizeof(outer));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLED_STATION_ID), called, sizeof(called));
	vp = cetbyod_packet_attr(request, PW_NAS_IP_ADDRESS);
	if (!vp) vp = cetbyod_packet_attr(request, PW_NAS_IDENTIFIER);
	cetbyod_value(vp, nas, sizeof(nas));
	rc = cb_audit_record(inst->audit, &ev);
	if (rc == CB_AUDIT_COUNTED) {
		*repeat = true;
		RDEBUG2("Audit: the same refusal as this device's last (identity, device, NAS, reason): counted in its "
			"run, written in the run's summary (audit { coalesce_window }); radius.log has the run's first "
			"refusal and its summaries, not this line");
	}
	if (rc != CB_AUDIT_REFUSE) return true;
	if (d->status == CB_STATUS_REJECT) return true;
	REDEBUG("The audit trail cannot be written and audit { on_failure = fail_closed }: refusing");
	/* The admission was not queued; the refusal that replaces it is. */
	ev.status = cb_status_name(CB_STATUS_REJECT);
	ev.admission = false;
	ev.reason = cb_reason_name(CB_REASON_AUDIT_UNAVAILABLE);
	ev.class_id = NULL;
	ev.expiry = 0;
	ev.why = ev.approved_by = NULL;
	ev.until = 0;
	ev.vlan = ev.vlan_why = NULL;
	cb_audit_record(inst->audit, &ev);
	return false;
}

bool cetbyod_request_record(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t *res,
			    time_t now, bool device_new)
{
	char class_id[CB_CLASS_ID_LEN + 1] = "";
	cb_decision_t *d = &res->decision;
	bool repeat;

	if (d->status != CB_STATUS_REJECT) record_decision(inst, request, identity, res, now, device_new, class_id);
	if (!audit_decision(inst, request, identity, &res->in.dir, d, res->ack, class_id[0] ? class_id : NULL,
			    res->exception_used ? &res->exception : NULL, &repeat) && d->status != CB_STATUS_REJECT) {
		d->status = CB_STATUS_REJECT;
		d->reason = CB_REASON_AUDIT_UNAVAILABLE;
		d->valid_until = 0;
		fr_pair_delete_by_num(&request->config, inst->da_class->attr, 0, TAG_ANY);
	}
	return repeat;
}

void cetbyod_request_reply(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t const *res,
			   time_t now, bool repeat)
{
	write_decision(inst, request, identity, &res->in.dir, &res->decision, res->ack, now);
	log_decision(inst, request, identity, &res->decision, res->ack, repeat);
}

bool cetbyod_request_identity(rlm_cetbyod_t *inst, REQUEST *request, char identity[CB_IDENTITY_MAX + 1], time_t now)
{
	VALUE_PAIR *id_vp = identity_attribute(inst, request);
	cb_identity_result_t id_rcode;
	cb_decision_t d = { .status = CB_STATUS_REJECT, .reason = CB_REASON_INVALID_IDENTITY };
	char shown[CB_IDENTITY_ESCAPED_MAX];
	bool repeat;

	if (!id_vp) {
		REDEBUG("No User-Name and no Cetbyod-Inner-Identity: cannot decide, refusing");
		write_decision(inst, request, NULL, NULL, &d, NULL, now);
		return false;
	}
	id_rcode = cb_identity_normalise(&inst->iconf, id_vp->vp_strvalue, id_vp->vp_length, identity, CB_IDENTITY_MAX + 1);
	if (id_rcode != CB_IDENTITY_OK) {
		audit_decision(inst, request, NULL, NULL, &d, NULL, NULL, NULL, &repeat);
		LOG_DECISION(inst, true, repeat, "identity \"%s\" -> reject (invalid_identity): %s",
		      cb_identity_escape(id_vp->vp_strvalue, id_vp->vp_length, shown, sizeof(shown)),
		      cb_identity_error(id_rcode));
		write_decision(inst, request, NULL, NULL, &d, NULL, now);
		return false;
	}
	return true;
}
