/*
 * rlm_cetbyod.c - FreeRADIUS glue of the cetbyod BYOD module.
 *
 * This file owns only what needs FreeRADIUS: the configuration tables, the
 * mod_* methods, the exported module_t, and the one mapping from decisions
 * to rlm_rcode_t.  Start-up checks are in glue_start.c, reading facts and
 * writing the decision in glue_request.c, the directory in glue_ldap.c, the
 * list of people in glue_people.c.  The decision (cb_decide), the policy,
 * the identity checks, the acknowledgement index and the threads are the
 * core (libcetbyod-core), shared with cetbyodctl and the unit tests.
 *
 * Where it runs: post-auth of the outer virtual server, once per
 * authentication.  For EAP the inner-tunnel copies the inner identity (and
 * any facts the stock modules set there) to the outer session-state; see
 * raddb/sites-available/cetbyod-inner-tunnel.
 */
#include "rlm_cetbyod.h"

#include <freeradius-devel/rad_assert.h>

#include "core/ack.h"
#include "core/decide.h"
#include "people/people.h"
#include "sources/sync.h"
#include "core/tz.h"

static const CONF_PARSER identity_config[] = {
	{ "strip_domains", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, identity.strip_domains), NULL },
	{ "strip_realms", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, identity.strip_realms), NULL },
	/* The old switches (any domain, any realm): refused as yes without a list, see parse_identity. */
	{ "strip_realm", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, identity.strip_realm), "no" },
	{ "strip_domain", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, identity.strip_domain), "no" },
	{ "max_length", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, identity.max_length), "128" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER policy_config[] = {
	{ "validity_days", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.validity_days), "365" },
	{ "effective_from", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, policy.effective_from), "" },
	{ "version", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, policy.version), "" },
	{ "grace_period", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.grace_period), "0" },
	{ "unacknowledged", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, policy.unacknowledged), "onboard" },
	{ "stale_after", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.stale_after), "604800" },
	{ "admit_when_stale", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, policy.admit_when_stale), "no" },
	{ "max_devices", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.max_devices), "0" },
	{ "device_window", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.device_window), "90" },
	{ "max_devices_action", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t,
						policy.max_devices_action), "onboard" },
	{ "max_concurrent", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.max_concurrent), "0" },
	{ "max_concurrent_action", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t,
						   policy.max_concurrent_action), "report" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER file_config[] = {
	{ "filename", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, file.filename), "" },
	{ "check_interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, file.check_interval), "5" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER sync_config[] = {
	{ "interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.interval), "60" },
	{ "full_interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.full_interval), "3600" },
	{ "max_removal_percent", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.max_removal_percent), "20" },
	{ "min_removals", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.min_removals), "5" },
	{ "backoff_max", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.backoff_max), "300" },
	{ "key_backoff_max", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.key_backoff_max), "3600" },
	{ "future_skew", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sync_conf.future_skew), "300" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER google_config[] = {
	{ "key_file", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.key_file), "" },
	{ "token_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.token_url), "" },
	{ "subject", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.subject), "" },
	{ "forms_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.forms_url), "" },
	{ "sheets_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.sheets_url), "" },
	{ "drive_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.drive_url), "" },
	{ "ca_file", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.ca_file), "" },
	{ "proxy", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, google.proxy), "" },
	{ "connect_timeout", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, google.connect_timeout), "10" },
	{ "timeout", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, google.timeout), "30" },
	{ "max_requests_per_minute", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, google.max_requests_per_minute), "30" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER forms_config[] = {
	{ "form_id", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, forms.form_id), "" },
	{ "agreement_question", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, forms.agreement_question), "" },
	{ "agree_value", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, forms.agree_value), NULL },
	{ "policy_version_question", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, forms.policy_version_question), "" },
	{ "allowed_domain", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, forms.allowed_domain), NULL },
	{ "page_size", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, forms.page_size), "2500" },
	{ "allow_unverified_email", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, forms.allow_unverified_email), "no" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER sheets_config[] = {
	{ "spreadsheet_id", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.spreadsheet_id), "" },
	{ "range", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.range), "" },
	{ "timestamp_column", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.timestamp_column), "Timestamp" },
	{ "email_column", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.email_column), "Email address" },
	{ "agreement_column", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.agreement_column), "" },
	{ "agree_value", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, sheets.agree_value), NULL },
	{ "policy_version_column", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.policy_version_column), "" },
	{ "revoked_column", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.revoked_column), "Revoked" },
	{ "revoked_value", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, sheets.revoked_value), NULL },
	{ "allowed_domain", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_MULTI, rlm_cetbyod_t, sheets.allowed_domain), NULL },
	{ "rows_per_request", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, sheets.rows_per_request), "10000" },
	{ "form_id", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, sheets.form_id), "" },
	{ "allow_unverified_email", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, sheets.allow_unverified_email), "no" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER enforce_config[] = {
	{ "burst_limit", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.burst_limit), "20" },
	{ "stale_session_after", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.stale_session_after), "7200" },
	{ "retry_interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.retry_interval), "60" },
	{ "max_attempts", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.max_attempts), "5" },
	{ "initial_retransmit_ms", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.initial_retransmit_ms), "2000" },
	{ "max_transmissions", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.max_transmissions), "5" },
	{ "max_duration", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.max_duration), "30" },
	{ "watch_interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, enforce.watch_interval), "300" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER audit_config[] = {
	{ "filename", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, audit_conf.filename), "" },
	{ "fsync", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, audit_conf.fsync), "batch" },
	{ "batch_wait_ms", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.batch_wait_ms), "5" },
	{ "on_failure", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, audit_conf.on_failure), "fail_open" },
	{ "queue", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.queue), "10000" },
	{ "syslog", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, audit_conf.syslog), "no" },
	{ "coalesce_window", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.coalesce_window), "300" },
	{ "coalesce_summary_every", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.coalesce_summary_every),
	  "3600" },
	{ "coalesce_max_runs", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.coalesce_max_runs), "10000" },
	{ "index_defer", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.index_defer), "30" },
	{ "index_busy_rate", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.index_busy_rate), "500" },
	{ "retention_days", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.retention_days), "400" },
	{ "hmac_key_file", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, audit_conf.hmac_key_file), "" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER reply_config[] = {
	{ "staff_vlan", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, reply.staff_vlan), "100" },
	{ "onboarding_vlan", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, reply.onboarding_vlan), "200" },
	{ "restricted_vlan", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, reply.restricted_vlan), "300" },
	{ "onboarding_session_timeout", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, reply.onboarding_session_timeout), "900" },
	{ "session_timeout_at_expiry", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, reply.session_timeout_at_expiry), "yes" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER web_filter_config[] = {
	{ "reply_user_name", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, web_filter.reply_user_name), "yes" },
	{ "accounting_user_name", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, web_filter.accounting_user_name), "yes" },
	{ "realm", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, web_filter.realm), "" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER module_config[] = {
	{ "source", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, source_name), "file" },
	{ "directory", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, directory_name), "attributes" },
	{ "timezone", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, timezone), "Europe/London" },
	{ "form_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, form_url), "" },
	{ "email_domain", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, email_domain), "" },
	{ "state_dir", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, state_dir), "" },
	{ "log_decisions", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, log_decisions_name), "refusals" },
	{ "class_key_file", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, class_key_file), "" },
	{ "identity", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) identity_config },
	{ "policy", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) policy_config },
	{ "file", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) file_config },
	{ "sync", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) sync_config },
	{ "google", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) google_config },
	{ "forms", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) forms_config },
	{ "sheets", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) sheets_config },
	{ "reply", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) reply_config },
	{ "web_filter", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) web_filter_config },
	{ "enforce", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) enforce_config },
	{ "audit", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) audit_config },
	{ "store", FR_CONF_OFFSET(PW_TYPE_SUBSECTION, rlm_cetbyod_t, store_conf), (void const *) cetbyod_store_config },
	{ "reports", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cetbyod_reports_config },
	{ "reminders", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cetbyod_reminders_config },
	{ "metrics", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cetbyod_metrics_config },
	CONF_PARSER_TERMINATOR
};

/** Route core log lines to radiusd's log, prefixed with the module instance. */
void cetbyod_core_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	rlm_cetbyod_t const *inst = uctx;
	char msg[1024];
	va_list ap;
	log_type_t type = L_INFO;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (level) {
	case CB_LOG_DEBUG:	type = L_DBG; break;
	case CB_LOG_INFO:	type = L_INFO; break;
	case CB_LOG_WARN:	type = L_WARN; break;
	case CB_LOG_ERROR:	type = L_ERR; break;
	}
	radlog(type, "rlm_cetbyod (%s): %s", inst->name, msg);
}

static int mod_detach(void *instance);

/** start - build the instance, in order; -1 when a step failed (it said why). */
static int start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	if (cetbyod_metrics_init(inst, conf) < 0) return -1;
	if (cetbyod_start_conf(inst, conf) < 0) return -1;
	if (cetbyod_store_start(inst, conf) < 0) return -1;
	if (cetbyod_start_roles(inst, conf) < 0) return -1;
	if (cetbyod_filter_start(inst, conf) < 0) return -1;
	if (inst->directory == DIRECTORY_LDAP && cetbyod_ldap_instantiate(inst, conf) < 0) return -1;
	if (cetbyod_start_enforcement(inst, conf) < 0) return -1;
	if (cetbyod_limits_start(inst, conf) < 0) return -1;
	if (cetbyod_class_start(inst, conf) < 0) return -1;
	if (cetbyod_start_source(inst, conf) < 0) return -1;
	if (inst->enforcer) cb_enforcer_attach_sync(inst->enforcer, inst->sync, inst->acks);
	if (cetbyod_people_start(inst, conf) < 0) return -1;
	if (cetbyod_metrics_start(inst, conf) < 0) return -1;
	return 0;
}

/**
 * mod_instantiate - on a bad option radiusd exits at once, without
 * detaching the module: what the steps before had started (the audit
 * writer, the store's batcher, the enforcer and sync threads) is stopped
 * here, or those threads would run on while the process exits under them.
 */
static int mod_instantiate(CONF_SECTION *conf, void *instance)
{
	rlm_cetbyod_t *inst = instance;

	inst->name = cf_section_name2(conf);
	if (!inst->name) inst->name = cf_section_name1(conf);
	/*
	 *	radiusd -C (Debian's freeradius.service runs it before every
	 *	start): every option is checked, but no thread is started and
	 *	nothing is opened or written: no store, no audit record, no
	 *	fetch.  radiusd exits right after, without detaching modules.
	 */
	inst->check_only = check_config;
	if (inst->check_only) INFO("rlm_cetbyod (%s): configuration check only: nothing started", inst->name);

	if (start(inst, conf) < 0) {
		mod_detach(inst);
		return -1;
	}
	return 0;
}

/**
 * mod_detach - at shutdown (and after a failed start, with only part of the
 * instance built: every step is NULL-safe).  Threads first, then memory:
 * the enforcer, sync and people threads call into each other (the enforcer
 * reads the sync's status and forwards cetbyodctl's sync commands; the sync
 * hands new acknowledgements to the enforcer and the people thread), so all
 * three are halted (joined, not freed) before any of them is freed.  The
 * enforcer goes first: its halt also ends a Disconnect-Request waiting on a
 * NAS that does not answer.  Then the directory they read, then the audit
 * writer and the store's batcher they wrote to, each flushed as it stops.
 */
static int mod_detach(void *instance)
{
	rlm_cetbyod_t *inst = instance;

	cetbyod_metrics_stop(inst);	/* It reads the sync's and the audit trail's status. */
	cb_enforcer_halt(inst->enforcer);
	cb_sync_halt(inst->sync);
	cb_people_halt(inst->people);

	cetbyod_people_stop(inst);
	cb_enforcer_stop(inst->enforcer);
	inst->enforcer = NULL;
	cb_sync_stop(inst->sync);
	inst->sync = NULL;
	cetbyod_ldap_detach(inst);
	cb_audit_close(inst->audit, 2000);
	inst->audit = NULL;
	cetbyod_limits_stop(inst);
	cetbyod_class_stop(inst);
	cb_store_close(inst->store);
	inst->store = NULL;
	cb_ack_current_free(inst->acks);
	inst->acks = NULL;
	cb_tz_free(inst->tz);
	inst->tz = NULL;
	return 0;
}


/** The one mapping from decisions to rcodes. */
static rlm_rcode_t decision_rcode(cb_status_t status)
{
	switch (status) {
	case CB_STATUS_ADMIT:
	case CB_STATUS_RESTRICTED:	return RLM_MODULE_OK;
	case CB_STATUS_ONBOARD:		return RLM_MODULE_UPDATED;
	case CB_STATUS_REJECT:		break;
	}
	return RLM_MODULE_REJECT;
}

static rlm_rcode_t CC_HINT(nonnull) mod_post_auth(void *instance, REQUEST *request)
{
	rlm_cetbyod_t *inst = instance;
	char identity[CB_IDENTITY_MAX + 1];
	cetbyod_facts_buf_t buf;
	cb_facts_t facts;
	cb_decide_result_t res;
	cb_ack_index_t *idx;
	bool device_new, repeat;
	time_t now = time(NULL);

	if (!cetbyod_request_identity(inst, request, identity, now)) return decision_rcode(CB_STATUS_REJECT);
	cetbyod_request_facts(inst, request, identity, &facts, &buf);
	idx = cb_ack_current_get(inst->acks);
	cetbyod_request_decide(inst, request, identity, &facts, idx, now, &res);
	device_new = cetbyod_request_limits(inst, request, identity, &res, now);	/* max_devices, max_concurrent. */
	repeat = cetbyod_request_record(inst, request, identity, &res, now, device_new);	/* The Class, the audit trail. */
	cetbyod_request_reply(inst, request, identity, &res, now, repeat);	/* Cetbyod-* attributes, the log line. */
	cetbyod_filter_reply(inst, request, identity, res.decision.status);	/* The name the NAS accounts under. */
	cb_ack_index_unref(idx);	/* res.ack points into idx: not used after this. */

	return decision_rcode(res.decision.status);
}

/*
 *	Accounting: sessions, tied to decisions by the Class we sent.
 */
static uint64_t octets(REQUEST *request, unsigned int attr, unsigned int giga)
{
	VALUE_PAIR *lo = cetbyod_packet_attr(request, attr), *hi = cetbyod_packet_attr(request, giga);

	return cb_store_octets(lo ? lo->vp_integer : 0, hi ? hi->vp_integer : 0);
}

/**
 * client_address - the address the accounting came from: the RADIUS client
 * that proved it holds the secret, not the NAS the packet names.  Sessions
 * are keyed on it (the store's "nas"), so a client can neither close nor
 * plant another client's sessions, and disconnects go back to it.
 */
static bool client_address(REQUEST *request, char *buf, size_t len)
{
	fr_ipaddr_t const *ip = &request->packet->src_ipaddr;

	buf[0] = '\0';
	if (ip->af != AF_INET && ip->af != AF_INET6) return false;
	return inet_ntop(ip->af, &ip->ipaddr, buf, (socklen_t) len) != NULL;
}

/**
 * audit_session - a session start or stop into the audit trail, with the
 * person from its Class (s: the session as the store wrote it, whose
 * identity the store took from the Class's decision).
 */
static void audit_session(rlm_cetbyod_t *inst, bool start, cb_store_acct_t const *a, char const *named_nas,
			  cb_store_session_t const *s, char const *untrusted)
{
	char detail[160];
	cb_audit_event_t ev = {
		.type = start ? CB_AUDIT_SESSION_START : CB_AUDIT_SESSION_STOP, .time = a->event_time,
		.outer_identity = a->outer_identity, .calling_station = a->calling_station,
		.called_station = a->called_station, .nas = named_nas, .class_id = a->class_id,
		.acct_session_id = a->acct_session_id, .framed_ip = a->framed_ip, .stop_cause = a->stop_cause,
		.has_octets = a->has_octets, .in_octets = a->in_octets, .out_octets = a->out_octets,
	};

	if (!inst->audit) return;
	if (a->decision) {
		ev.identity = a->decision->identity;
	} else if (a->class_id && s->identity[0]) {
		ev.identity = s->identity;
	}
	ev.session_started = s->started ? s->started : a->event_time;
	ev.session_stopped = s->stopped;
	if (!start && !ev.session_stopped) ev.session_stopped = a->event_time;
	if (untrusted) {
		snprintf(detail, sizeof(detail), "Class not trusted: %s; the session is not tied to a person", untrusted);
		ev.detail = detail;
	}
	cb_audit_record(inst->audit, &ev);
}

/**
 * nas_restarted - Accounting-On/Off: the sessions of the client that sent
 * it are closed (and audited), whatever NAS the packet names.
 */
static rlm_rcode_t nas_restarted(rlm_cetbyod_t *inst, REQUEST *request, char const *client, char const *named,
				 bool on, time_t now)
{
	cb_store_sessions_t gone = { 0 };
	size_t closed = 0;
	int rc;

	rc = cb_store_nas_reboot(inst->store, client, on ? "NAS-Reboot" : "NAS-Request", now, &closed, &gone);
	RDEBUG2("RADIUS client %s (%s, naming NAS %s) restarted its accounting: %zu of its session(s) closed", client,
		request->client->shortname, named, closed);
	for (size_t i = 0; i < gone.count; i++) cb_audit_session_closed(inst->audit, &gone.items[i]);
	cb_store_sessions_free(&gone);
	return rc < 0 ? RLM_MODULE_FAIL : RLM_MODULE_OK;
}

/** acct_counters - the octet counters and the instant of the event (Event-Timestamp, else now - Acct-Delay-Time). */
static void acct_counters(REQUEST *request, cb_store_acct_t *a, time_t now)
{
	VALUE_PAIR *vp;

	a->has_octets = cetbyod_packet_attr(request, PW_ACCT_INPUT_OCTETS) != NULL;
	a->in_octets = octets(request, PW_ACCT_INPUT_OCTETS, PW_ACCT_INPUT_GIGAWORDS);
	a->out_octets = octets(request, PW_ACCT_OUTPUT_OCTETS, PW_ACCT_OUTPUT_GIGAWORDS);
	vp = cetbyod_packet_attr(request, PW_EVENT_TIMESTAMP);
	a->event_time = vp ? (time_t) vp->vp_date : now;
	if (!vp && (vp = cetbyod_packet_attr(request, PW_ACCT_DELAY_TIME))) a->event_time = now - (time_t) vp->vp_integer;
}

/**
 * acct_write - Start, Interim-Update or Stop into the store (the session as
 * written, returned by the write itself), the audit trail and the web filter.
 */
static rlm_rcode_t acct_write(rlm_cetbyod_t *inst, REQUEST *request, uint32_t type, cb_store_acct_t *a,
			      char const *nas, cetbyod_class_kind_t kind, char const *untrusted)
{
	cb_store_session_t *s = talloc_zero(request, cb_store_session_t);	/* 3 KB: not on the stack. */
	cb_store_spool_info_t sp;
	rlm_rcode_t rcode = RLM_MODULE_OK;
	int rc;

	if (!s) return RLM_MODULE_FAIL;
	a->result = s;
	switch (type) {
	case PW_STATUS_START:
		rc = cb_store_session_start(inst->store, a);
		break;
	case PW_STATUS_ALIVE:
		cetbyod_filter_address(inst, request, a);
		rc = cb_store_session_update(inst->store, a);
		break;
	case PW_STATUS_STOP:
		rc = cb_store_session_stop(inst->store, a);
		break;
	default:
		rcode = RLM_MODULE_NOOP;
		goto done;
	}
	/*
	 *	The spool's state takes the store's mutex, which a commit holds: asked
	 *	only for what is printed (a failure, or radiusd -X), never on every
	 *	answer (it made each request wait for the next group's commit).
	 */
	memset(&sp, 0, sizeof(sp));
	if ((rc < 0 || RDEBUG_ENABLED2) && cb_store_spool_info(inst->store, &sp) == 0 && sp.down) {
		RDEBUG2("The state store (PostgreSQL) is unreachable: this accounting %s in the on-disk spool (%" PRIu64
			" write(s), %" PRIu64 " of %" PRIu64 " bytes), replayed when the database is back",
			rc < 0 ? "could NOT be kept" : "is kept", sp.records, sp.bytes, sp.max_bytes);
	}
	if (rc < 0) {
		REDEBUG("Cannot record accounting for session %s on %s in the state store%s: not answered, the NAS "
			"retries", a->acct_session_id, nas, sp.down ? " (database unreachable, spool full)" : "");
		rcode = RLM_MODULE_FAIL;
		goto done;
	}
	if (type != PW_STATUS_ALIVE) audit_session(inst, type == PW_STATUS_START, a, nas, s, untrusted);
	cetbyod_filter_accounting(inst, request, a, untrusted);
	RDEBUG2("Session %s on %s from client %s (%s), device %s: accounting %s recorded%s", a->acct_session_id, nas,
		a->nas, request->client->shortname, a->calling_station,
		type == PW_STATUS_START ? "Start" : type == PW_STATUS_STOP ? "Stop" : "Interim",
		kind == CETBYOD_CLASS_KEYED ? ", tied to its person by its keyed Class" :
		kind == CETBYOD_CLASS_STORE ? ", tied to its decision by Class" :
		kind == CETBYOD_CLASS_UNTRUSTED ? ", its Class not trusted: not tied to a person" : ", no Class of ours");
done:
	a->result = NULL;
	talloc_free(s);
	return rcode;
}

static rlm_rcode_t CC_HINT(nonnull) mod_accounting(void *instance, REQUEST *request)
{
	rlm_cetbyod_t *inst = instance;
	VALUE_PAIR *status = cetbyod_packet_attr(request, PW_ACCT_STATUS_TYPE);
	char nas[CB_STORE_TEXT_MAX + 1], nas_ip[64], nas_id[CB_STORE_TEXT_MAX + 1], sid[CB_STORE_TEXT_MAX + 1];
	char outer[CB_STORE_TEXT_MAX + 1], calling[CB_STORE_TEXT_MAX + 1], called[CB_STORE_TEXT_MAX + 1];
	char framed[64], cause[CB_STORE_CAUSE_MAX + 1], class_id[CB_CLASS_ID_LEN + 1], client[INET6_ADDRSTRLEN];
	cb_store_acct_t a;
	cb_store_decision_t dec;
	cetbyod_class_kind_t kind;
	char const *untrusted;
	time_t now = time(NULL);

	cetbyod_filter_forward(inst, request);
	if (!inst->store || !status) return RLM_MODULE_NOOP;
	cetbyod_value(cetbyod_packet_attr(request, PW_NAS_IP_ADDRESS), nas_ip, sizeof(nas_ip));
	cetbyod_value(cetbyod_packet_attr(request, PW_NAS_IDENTIFIER), nas_id, sizeof(nas_id));
	strlcpy(nas, nas_ip[0] ? nas_ip : nas_id, sizeof(nas));
	if (!nas[0]) {
		RWDEBUG("Accounting without NAS-IP-Address or NAS-Identifier: not tracked");
		return RLM_MODULE_NOOP;
	}
	if (!client_address(request, client, sizeof(client))) {
		RWDEBUG("Accounting from a client without an IP address: not tracked");
		return RLM_MODULE_NOOP;
	}
	if (status->vp_integer == PW_STATUS_ACCOUNTING_ON || status->vp_integer == PW_STATUS_ACCOUNTING_OFF) {
		return nas_restarted(inst, request, client, nas, status->vp_integer == PW_STATUS_ACCOUNTING_ON, now);
	}

	cetbyod_value(cetbyod_packet_attr(request, PW_ACCT_SESSION_ID), sid, sizeof(sid));
	if (!sid[0]) {
		RWDEBUG("Accounting without Acct-Session-Id: not tracked");
		return RLM_MODULE_NOOP;
	}
	cetbyod_value(cetbyod_packet_attr(request, PW_USER_NAME), outer, sizeof(outer));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLED_STATION_ID), called, sizeof(called));
	cetbyod_value(cetbyod_packet_attr(request, PW_FRAMED_IP_ADDRESS), framed, sizeof(framed));
	cetbyod_value(cetbyod_packet_attr(request, PW_ACCT_TERMINATE_CAUSE), cause, sizeof(cause));
	kind = cetbyod_class_read(inst, request, calling, class_id, &dec, &untrusted);

	memset(&a, 0, sizeof(a));
	a.nas = client;		/* The key; the packet's NAS attributes are kept below for display and DAS. */
	a.acct_session_id = sid;
	a.class_id = class_id[0] ? class_id : NULL;
	if (kind == CETBYOD_CLASS_KEYED) {
		strlcpy(dec.nas, nas, sizeof(dec.nas));
		if (strcmp(outer, dec.identity) != 0) strlcpy(dec.outer_identity, outer, sizeof(dec.outer_identity));
		a.decision = &dec;
	}
	a.outer_identity = outer;
	a.calling_station = calling;
	a.called_station = called;
	a.framed_ip = framed;
	a.nas_ip = nas_ip;
	a.nas_identifier = nas_id;
	a.stop_cause = cause;
	acct_counters(request, &a, now);

	return acct_write(inst, request, status->vp_integer, &a, nas, kind, untrusted);
}

extern module_t rlm_cetbyod;
module_t rlm_cetbyod = {
	.magic		= RLM_MODULE_INIT,
	.name		= "cetbyod",
	/*
	 *	Not RLM_TYPE_HUP_SAFE: FreeRADIUS 3.2 would build a second
	 *	instance on HUP (from the configuration read at start-up, see
	 *	module_hup_module) and keep the first one's threads running,
	 *	two audit writers on one chain, two enforcers.  Without it a
	 *	HUP leaves this module as it is; a change to its configuration
	 *	takes a restart (README "Reloads and shutdown").
	 */
	.type		= RLM_TYPE_THREAD_SAFE,
	.inst_size	= sizeof(rlm_cetbyod_t),
	.config		= module_config,
	.instantiate	= mod_instantiate,
	.detach		= mod_detach,
	.methods = {
		[MOD_POST_AUTH]		= mod_post_auth,
		[MOD_ACCOUNTING]	= mod_accounting,
	},
};
