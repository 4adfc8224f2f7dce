/*
 * rlm_cetbyod.c - FreeRADIUS glue of the cetbyod BYOD module.
 *
 * This file owns only what needs FreeRADIUS: the configuration table, the
 * conversion of string options to enums (failing start-up with the option's
 * name and accepted values), reading facts from the request's attribute
 * lists, writing the decision as Cetbyod-* attributes to the control list,
 * and the one mapping from decisions to rlm_rcode_t.  The policy, the
 * identity checks, the acknowledgement index and the sync thread are the
 * core (libcetbyod-core), shared with cetbyodctl and the unit tests.
 *
 * Where it runs: post-auth of the outer virtual server, once per
 * authentication.  For EAP the inner-tunnel copies the inner identity (and
 * any facts the stock modules set there) to the outer session-state; see
 * raddb/sites-available/cetbyod-inner-tunnel.
 */
#include "rlm_cetbyod.h"

#include <freeradius-devel/rad_assert.h>

#include "sources/ackfile.h"
#include "core/ack.h"
#include "sources/gsource.h"
#include "people/people.h"
#include "sources/snapshot.h"
#include "core/identity.h"
#include "core/policy.h"
#include "sources/sync.h"
#include "core/tz.h"

static const CONF_PARSER identity_config[] = {
	{ "strip_realm", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, identity.strip_realm), "no" },
	{ "strip_domain", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, identity.strip_domain), "yes" },
	{ "max_length", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, identity.max_length), "128" },
	CONF_PARSER_TERMINATOR
};

static const CONF_PARSER policy_config[] = {
	{ "validity_days", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.validity_days), "365" },
	{ "effective_from", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, policy.effective_from), "" },
	{ "version", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, policy.version), "" },
	{ "grace_period", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.grace_period), "0" },
	{ "unacknowledged", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, policy.unacknowledged), "onboard" },
	{ "stale_after", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, policy.stale_after), "0" },
	{ "admit_when_stale", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, policy.admit_when_stale), "no" },
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
	{ "on_failure", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, audit_conf.on_failure), "fail_open" },
	{ "queue", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.queue), "10000" },
	{ "syslog", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, audit_conf.syslog), "no" },
	{ "retention_days", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, audit_conf.retention_days), "0" },
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

static const CONF_PARSER module_config[] = {
	{ "source", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, source_name), "file" },
	{ "directory", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, directory_name), "attributes" },
	{ "timezone", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, rlm_cetbyod_t, timezone), "Europe/London" },
	{ "form_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, form_url), "" },
	{ "email_domain", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, email_domain), "" },
	{ "state_dir", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, state_dir), "" },
	{ "identity", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) identity_config },
	{ "policy", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) policy_config },
	{ "file", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) file_config },
	{ "sync", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) sync_config },
	{ "google", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) google_config },
	{ "forms", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) forms_config },
	{ "sheets", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) sheets_config },
	{ "reply", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) reply_config },
	{ "enforce", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) enforce_config },
	{ "audit", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) audit_config },
	{ "reports", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cetbyod_reports_config },
	{ "reminders", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) cetbyod_reminders_config },
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

/*
 *	Start-up checks.  Each failure names the option and what it accepts.
 */
static int parse_enums(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	if (strcmp(inst->source_name, "file") == 0) {
		inst->source = SOURCE_FILE;
	} else if (strcmp(inst->source_name, "forms") == 0) {
		inst->source = SOURCE_FORMS;
	} else if (strcmp(inst->source_name, "sheets") == 0) {
		inst->source = SOURCE_SHEETS;
	} else {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'source': accepted values are \"file\", \"forms\" "
			      "and \"sheets\"", inst->source_name);
		return -1;
	}
	if (strcmp(inst->directory_name, "attributes") == 0) {
		inst->directory = DIRECTORY_ATTRIBUTES;
	} else if (strcmp(inst->directory_name, "ldap") == 0) {
		inst->directory = DIRECTORY_LDAP;
	} else {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'directory': accepted values are \"attributes\" "
			      "and \"ldap\"", inst->directory_name);
		return -1;
	}
	if (strcmp(inst->policy.unacknowledged, "onboard") == 0) {
		inst->pconf.unacknowledged = CB_UNACK_ONBOARD;
	} else if (strcmp(inst->policy.unacknowledged, "reject") == 0) {
		inst->pconf.unacknowledged = CB_UNACK_REJECT;
	} else {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'policy { unacknowledged }': accepted values are "
			      "\"onboard\" and \"reject\"", inst->policy.unacknowledged);
		return -1;
	}
	return 0;
}

static int parse_policy(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char const *err = NULL;

	inst->tz = cb_tz_new(inst->timezone, &err);
	if (!inst->tz) {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'timezone': %s", inst->timezone, err);
		return -1;
	}
	if (inst->policy.validity_days > 3660) {
		cf_log_err_cs(conf, "Invalid value %u for 'policy { validity_days }': accepted values are 0 "
			      "(never lapses) to 3660", inst->policy.validity_days);
		return -1;
	}
	if (inst->policy.effective_from && *inst->policy.effective_from &&
	    cb_tz_parse_time(inst->policy.effective_from, strlen(inst->policy.effective_from), inst->tz,
			  &inst->pconf.effective_from) < 0) {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'policy { effective_from }': accepted values are a "
			      "local date (2026-09-01), a local date and time (2026-09-01 08:00) or RFC 3339",
			      inst->policy.effective_from);
		return -1;
	}
	if (inst->identity.max_length < 1 || inst->identity.max_length > CB_IDENTITY_MAX) {
		cf_log_err_cs(conf, "Invalid value %u for 'identity { max_length }': accepted values are 1 to %d",
			      inst->identity.max_length, CB_IDENTITY_MAX);
		return -1;
	}
	inst->pconf.validity_days = inst->policy.validity_days;
	inst->pconf.policy_version = inst->policy.version;
	inst->pconf.grace_seconds = inst->policy.grace_period;
	inst->pconf.admit_when_stale = inst->policy.admit_when_stale;
	inst->pconf.tz = inst->tz;
	inst->iconf.strip_realm = inst->identity.strip_realm;
	inst->iconf.strip_domain = inst->identity.strip_domain;
	inst->iconf.max_length = inst->identity.max_length;
	return 0;
}

/** find_attributes - the dictionary must be loaded; say how to load it if not. */
static int find_attributes(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	struct {
		DICT_ATTR const	**da;
		char const	*name;
	} const attrs[] = {
		{ &inst->da_inner_identity, "Cetbyod-Inner-Identity" }, { &inst->da_role, "Cetbyod-Role" },
		{ &inst->da_email, "Cetbyod-Email" }, { &inst->da_disabled, "Cetbyod-Account-Disabled" },
		{ &inst->da_revoked, "Cetbyod-Revoked" }, { &inst->da_exception_until, "Cetbyod-Exception-Until" },
		{ &inst->da_exception_reason, "Cetbyod-Exception-Reason" }, { &inst->da_status, "Cetbyod-Status" },
		{ &inst->da_reason, "Cetbyod-Reason" }, { &inst->da_message, "Cetbyod-Message" },
		{ &inst->da_ack_time, "Cetbyod-Ack-Time" }, { &inst->da_expiry, "Cetbyod-Expiry" },
		{ &inst->da_ack_expiry, "Cetbyod-Ack-Expiry" }, { &inst->da_policy_version, "Cetbyod-Policy-Version" },
		{ &inst->da_form_url, "Cetbyod-Form-URL" }, { &inst->da_vlan, "Cetbyod-VLAN" },
		{ &inst->da_session_timeout, "Cetbyod-Session-Timeout" }, { &inst->da_identity, "Cetbyod-Identity" },
		{ &inst->da_class, "Cetbyod-Class" },
	};

	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		*attrs[i].da = dict_attrbyname(attrs[i].name);
		if (!*attrs[i].da) {
			cf_log_err_cs(conf, "Attribute %s is not defined: add \"$INCLUDE dictionary.cetbyod\" to "
				      "raddb/dictionary (make install does this)", attrs[i].name);
			return -1;
		}
	}
	return 0;
}

/**
 * strlist - every value of a repeatable option (PW_TYPE_MULTI keeps only the
 * first in the struct) as the core's list type, allocated in inst.
 */
static cb_strlist_t strlist(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *section, char const *name)
{
	cb_strlist_t list = { .v = NULL, .n = 0 };
	CONF_SECTION *cs = cf_section_sub_find(conf, section);
	CONF_PAIR *cp;
	char const **v;
	size_t n = 0;

	if (!cs) return list;
	for (cp = cf_pair_find(cs, name); cp; cp = cf_pair_find_next(cs, cp, name)) n++;
	if (n == 0) return list;
	v = talloc_array(inst, char const *, n);
	if (!v) return list;
	n = 0;
	for (cp = cf_pair_find(cs, name); cp; cp = cf_pair_find_next(cs, cp, name)) v[n++] = cf_pair_value(cp);
	list.v = v;
	list.n = n;
	return list;
}

static void google_conf(rlm_cetbyod_t const *inst, cb_google_conf_t *g)
{
	memset(g, 0, sizeof(*g));
	g->key_file = inst->google.key_file;
	g->token_url = inst->google.token_url;
	g->subject = inst->google.subject;
	g->forms_url = inst->google.forms_url;
	g->sheets_url = inst->google.sheets_url;
	g->drive_url = inst->google.drive_url;
	g->ca_file = inst->google.ca_file;
	g->proxy = inst->google.proxy;
	g->connect_timeout_ms = inst->google.connect_timeout * 1000;
	g->timeout_ms = inst->google.timeout * 1000;
}

/** make_source - the configured acknowledgement source; NULL after logging why. */
static cb_source_t *make_source(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[512];
	cb_source_t *src = NULL;
	cb_google_conf_t g;

	switch (inst->source) {
	case SOURCE_FILE:
		if (!inst->file.filename || !*inst->file.filename) {
			cf_log_err_cs(conf, "'file { filename }' must name the acknowledgements file when source = file");
			return NULL;
		}
		src = cb_ackfile_source_new(inst->file.filename, inst->tz, cetbyod_core_log, inst, err, sizeof(err));
		if (!src) cf_log_err_cs(conf, "Cannot read acknowledgements from 'file { filename }': %s", err);
		return src;

	case SOURCE_FORMS: {
		cb_gsource_forms_conf_t f = {
			.form_id = inst->forms.form_id, .agreement_question = inst->forms.agreement_question,
			.agree_values = strlist(inst, conf, "forms", "agree_value"),
			.policy_version_question = inst->forms.policy_version_question,
			.allowed_domains = strlist(inst, conf, "forms", "allowed_domain"), .page_size = inst->forms.page_size,
			.allow_unverified_email = inst->forms.allow_unverified_email,
		};

		google_conf(inst, &g);
		src = cb_gsource_forms_new(&f, &g, cetbyod_core_log, inst, err, sizeof(err));
		break;
	}

	case SOURCE_SHEETS: {
		cb_gsource_sheets_conf_t sh = {
			.spreadsheet_id = inst->sheets.spreadsheet_id, .range = inst->sheets.range,
			.timestamp_column = inst->sheets.timestamp_column, .email_column = inst->sheets.email_column,
			.agreement_column = inst->sheets.agreement_column, .agree_values = strlist(inst, conf, "sheets", "agree_value"),
			.policy_version_column = inst->sheets.policy_version_column,
			.revoked_column = inst->sheets.revoked_column, .revoked_values = strlist(inst, conf, "sheets", "revoked_value"),
			.allowed_domains = strlist(inst, conf, "sheets", "allowed_domain"),
			.rows_per_request = inst->sheets.rows_per_request,
		};

		google_conf(inst, &g);
		src = cb_gsource_sheets_new(&sh, &g, cetbyod_core_log, inst, err, sizeof(err));
		break;
	}
	}
	if (!src) cf_log_err_cs(conf, "Cannot use source = %s: %s", inst->source_name, err);
	return src;
}

/** acks_changed - a sync put new acknowledgements in force: the enforcer re-decides, the people list follows. */
static void acks_changed(void *uctx, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx)
{
	rlm_cetbyod_t *inst = uctx;

	if (inst->enforcer) cb_enforcer_ack_changed(inst->enforcer, old_idx, new_idx);
	cb_people_poke(inst->people);
}

static int start_source(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[512];
	cb_source_t *src;
	bool local = (inst->source == SOURCE_FILE);
	cb_sync_conf_t sconf = {
		.interval = local ? (inst->file.check_interval ? inst->file.check_interval : 5) : inst->sync_conf.interval,
		.full_interval = inst->sync_conf.full_interval,
		.stale_after = inst->policy.stale_after,
		.initial_blocking = local,
		.guard = {
			.max_removal_percent = local ? 100 : inst->sync_conf.max_removal_percent,
			.min_removals = inst->sync_conf.min_removals,
		},
		.backoff_max_ms = inst->sync_conf.backoff_max * 1000,
		.on_change = acks_changed,
		.on_change_ctx = inst,
		.audit = inst->audit,
	};

	if (!local && inst->sync_conf.interval < 1) {
		cf_log_err_cs(conf, "Invalid value 0 for 'sync { interval }': accepted values are 1 and more (seconds)");
		return -1;
	}
	if (inst->sync_conf.max_removal_percent > 100) {
		cf_log_err_cs(conf, "Invalid value %u for 'sync { max_removal_percent }': accepted values are 0 to 100",
			      inst->sync_conf.max_removal_percent);
		return -1;
	}
	/*
	 *	A remote source keeps its last good result in the state
	 *	directory, so a restart during an outage still has it.
	 */
	if (!local) {
		if (!inst->state_dir || !*inst->state_dir) {
			cf_log_err_cs(conf, "'state_dir' must name a directory radiusd can write when source = %s",
				      inst->source_name);
			return -1;
		}
		if (access(inst->state_dir, W_OK | X_OK) < 0) {
			cf_log_err_cs(conf, "'state_dir' %s is not a writable directory: %s (create it, owned by the "
				      "user radiusd runs as)", inst->state_dir, fr_syserror(errno));
			return -1;
		}
		sconf.snapshot_path = talloc_asprintf(inst, "%s/%s", inst->state_dir, CB_SNAPSHOT_FILE);
	}

	inst->acks = cb_ack_current_new();
	if (!inst->acks) return -1;
	src = make_source(inst, conf);
	if (!src) return -1;
	inst->sync = cb_sync_start(&sconf, src, inst->acks, err, sizeof(err));
	if (!inst->sync) {
		cf_log_err_cs(conf, "Cannot start the acknowledgement sync: %s", err);
		return -1;
	}
	return 0;
}

/*
 *	Enforcement: the store, the NAS table and the enforcer thread.
 */
static cb_status_t directory_recheck(void *ctx, char const *identity, cb_reason_t *reason);

/** nas_entry - one enforce { nas NAME { ... } } section.  -1 after logging. */
static int nas_entry(rlm_cetbyod_t *inst, CONF_SECTION *cs, cb_enforcer_nas_t *nas)
{
	char const *name = cf_section_name2(cs);
	CONF_PAIR *cp;
	char const *profile = "rfc5176", *port = NULL;
	unsigned long p = 0;
	char *end;

	if (!name) {
		cf_log_err_cs(cs, "Every 'nas' section needs a name: nas <name> { ... }");
		return -1;
	}
	nas->name = name;
	if ((cp = cf_pair_find(cs, "ipaddr"))) nas->ip = cf_pair_value(cp);
	if ((cp = cf_pair_find(cs, "identifier"))) nas->identifier = cf_pair_value(cp);
	if ((cp = cf_pair_find(cs, "das_address"))) nas->das.address = cf_pair_value(cp);
	if ((cp = cf_pair_find(cs, "secret"))) nas->das.secret = cf_pair_value(cp);
	if ((cp = cf_pair_find(cs, "profile"))) profile = cf_pair_value(cp);
	if ((cp = cf_pair_find(cs, "port"))) port = cf_pair_value(cp);

	if ((!nas->ip || !*nas->ip) && (!nas->identifier || !*nas->identifier)) {
		cf_log_err_cs(cs, "nas %s: set 'ipaddr' (the NAS-IP-Address it sends) or 'identifier' (its "
			      "NAS-Identifier)", name);
		return -1;
	}
	if (!nas->das.address || !*nas->das.address) nas->das.address = nas->ip;
	if (!nas->das.address || !*nas->das.address) {
		cf_log_err_cs(cs, "nas %s: set 'das_address', the numeric address of its DAS", name);
		return -1;
	}
	if (!nas->das.secret || !*nas->das.secret) {
		cf_log_err_cs(cs, "nas %s: 'secret' (the NAS's DAS secret) is required", name);
		return -1;
	}
	nas->das.profile = cb_das_profile_find(profile);
	if (!nas->das.profile) {
		cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { profile }': accepted values are %s", profile, name,
			      cb_das_profile_names());
		return -1;
	}
	/*
	 *	mode and attributes override the profile's, in this NAS's own
	 *	copy of it.
	 */
	if (cf_pair_find(cs, "mode") || cf_pair_find(cs, "attributes")) {
		cb_das_profile_t *own = talloc(inst, cb_das_profile_t);
		char err[256];

		if (!own) return -1;
		*own = *nas->das.profile;
		if ((cp = cf_pair_find(cs, "mode")) && cb_das_mode_parse(cf_pair_value(cp), &own->mode) < 0) {
			cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { mode }': accepted values are \"disconnect\", "
				      "\"coa\" and \"coa-then-disconnect\"", cf_pair_value(cp), name);
			return -1;
		}
		if ((cp = cf_pair_find(cs, "attributes")) &&
		    cb_das_attrs_parse(cf_pair_value(cp), &own->attrs, err, sizeof(err)) < 0) {
			cf_log_err_cs(cs, "Invalid value for 'nas %s { attributes }': %s", name, err);
			return -1;
		}
		nas->das.profile = own;
	}
	if (port) {
		p = strtoul(port, &end, 10);
		if (*end || p < 1 || p > 65535) {
			cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { port }': accepted values are 1 to 65535",
				      port, name);
			return -1;
		}
	}
	nas->das.port = (uint16_t) p;
	return 0;
}

static int parse_nas_table(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	CONF_SECTION *enforce = cf_section_sub_find(conf, "enforce"), *cs;
	size_t n = 0;

	if (!enforce) return 0;
	for (cs = cf_subsection_find_next(enforce, NULL, "nas"); cs; cs = cf_subsection_find_next(enforce, cs, "nas")) n++;
	if (n == 0) return 0;
	inst->nas = talloc_zero_array(inst, cb_enforcer_nas_t, n);
	if (!inst->nas) return -1;
	for (cs = cf_subsection_find_next(enforce, NULL, "nas"); cs; cs = cf_subsection_find_next(enforce, cs, "nas")) {
		if (nas_entry(inst, cs, &inst->nas[inst->num_nas]) < 0) return -1;
		inst->num_nas++;
	}
	return 0;
}

/** start_audit - the audit trail, in the store's database and audit { filename }. */
static int start_audit(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *db_path)
{
	char err[512];
	time_t now = time(NULL);
	cb_audit_conf_t ac = {
		.path = inst->audit_conf.filename, .db_path = db_path, .queue_max = inst->audit_conf.queue,
		.syslog = inst->audit_conf.syslog, .log = cetbyod_core_log, .log_ctx = inst,
	};

	if (!inst->audit_conf.filename || !*inst->audit_conf.filename) {
		WARN("rlm_cetbyod (%s): no audit { filename }: decisions are not written to an audit trail", inst->name);
		return 0;
	}
	if (strcmp(inst->audit_conf.fsync, "batch") == 0) {
		ac.fsync = CB_AUDIT_FSYNC_BATCH;
	} else if (strcmp(inst->audit_conf.fsync, "none") == 0) {
		ac.fsync = CB_AUDIT_FSYNC_NONE;
	} else {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'audit { fsync }': accepted values are \"batch\" and "
			      "\"none\"", inst->audit_conf.fsync);
		return -1;
	}
	if (strcmp(inst->audit_conf.on_failure, "fail_open") == 0) {
		ac.on_failure = CB_AUDIT_FAIL_OPEN;
	} else if (strcmp(inst->audit_conf.on_failure, "fail_closed") == 0) {
		ac.on_failure = CB_AUDIT_FAIL_CLOSED;
	} else {
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'audit { on_failure }': accepted values are "
			      "\"fail_open\" and \"fail_closed\"", inst->audit_conf.on_failure);
		return -1;
	}
	inst->audit = cb_audit_open(&ac, err, sizeof(err));
	if (!inst->audit) {
		cf_log_err_cs(conf, "Cannot open the audit trail 'audit { filename }' %s: %s", inst->audit_conf.filename, err);
		return -1;
	}
	cb_store_status_put(inst->store, CB_AUDIT_STATUS_FILE, inst->audit_conf.filename, now);
	cb_store_status_put(inst->store, CB_AUDIT_STATUS_TZ, inst->timezone, now);
	return 0;
}

static int start_enforcement(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char path[4096], err[512], buf[16];
	cb_store_conf_t sconf = { .path = path, .create = true, .fast_sync = true, .defer_decisions = true,
				  .log = cetbyod_core_log, .log_ctx = inst };
	cb_enforcer_conf_t econf = {
		.nas = NULL, .burst_limit = inst->enforce.burst_limit,
		.stale_after = inst->enforce.stale_session_after, .retry_interval = inst->enforce.retry_interval,
		.max_attempts = inst->enforce.max_attempts, .policy = &inst->pconf, .log = cetbyod_core_log, .log_ctx = inst,
	};
	time_t now = time(NULL);

	if (!inst->state_dir || !*inst->state_dir) {
		WARN("rlm_cetbyod (%s): no state_dir: sessions are not tracked and nobody is disconnected", inst->name);
		return 0;
	}
	if (parse_nas_table(inst, conf) < 0) return -1;
	if (!cb_store_path(inst->state_dir, path, sizeof(path))) {
		cf_log_err_cs(conf, "'state_dir' is too long");
		return -1;
	}
	inst->store = cb_store_open(&sconf, err, sizeof(err));
	if (!inst->store) {
		cf_log_err_cs(conf, "Cannot open the state store in 'state_dir' %s: %s", inst->state_dir, err);
		return -1;
	}
	/* cetbyodctl normalises identities the way the module does. */
	cb_store_status_put(inst->store, CB_STATUS_IDENTITY_STRIP_REALM, inst->identity.strip_realm ? "yes" : "no", now);
	cb_store_status_put(inst->store, CB_STATUS_IDENTITY_STRIP_DOMAIN, inst->identity.strip_domain ? "yes" : "no", now);
	snprintf(buf, sizeof(buf), "%u", inst->identity.max_length);
	cb_store_status_put(inst->store, CB_STATUS_IDENTITY_MAX_LENGTH, buf, now);
	cb_store_status_put(inst->store, CB_STATUS_MODULE_VERSION, CETBYOD_VERSION, now);
	snprintf(buf, sizeof(buf), "%lld", (long long) now);
	cb_store_status_put(inst->store, CB_STATUS_MODULE_STARTED, buf, now);
	cb_store_status_put(inst->store, CB_STATUS_SOURCE, inst->source_name, now);

	if (start_audit(inst, conf, path) < 0) return -1;

	cb_das_conf_defaults(&econf.das);
	econf.das.irt_ms = inst->enforce.initial_retransmit_ms;
	econf.das.mrc = inst->enforce.max_transmissions;
	econf.das.mrd_ms = inst->enforce.max_duration * 1000;
	econf.das.log = cetbyod_core_log;
	econf.das.log_ctx = inst;
	econf.store = inst->store;
	econf.audit = inst->audit;
	if (inst->directory == DIRECTORY_LDAP && inst->enforce.watch_interval) {
		econf.recheck = directory_recheck;
		econf.recheck_ctx = inst;
		econf.watch_interval = inst->enforce.watch_interval;
	}
	econf.nas = inst->nas;
	econf.num_nas = inst->num_nas;
	econf.retention_days = inst->audit_conf.retention_days;
	econf.db_path = talloc_strdup(inst, path);
	inst->enforcer = cb_enforcer_start(&econf, err, sizeof(err));
	if (!inst->enforcer) {
		cf_log_err_cs(conf, "Cannot start enforcement (enforce { }): %s", err);
		return -1;
	}
	return 0;
}

static int mod_instantiate(CONF_SECTION *conf, void *instance)
{
	rlm_cetbyod_t *inst = instance;

	inst->name = cf_section_name2(conf);
	if (!inst->name) inst->name = cf_section_name1(conf);

	if (find_attributes(inst, conf) < 0) return -1;
	if (parse_enums(inst, conf) < 0) return -1;
	if (parse_policy(inst, conf) < 0) return -1;
	if (inst->directory == DIRECTORY_LDAP && cetbyod_ldap_instantiate(inst, conf) < 0) return -1;
	if (start_enforcement(inst, conf) < 0) return -1;
	if (start_source(inst, conf) < 0) return -1;
	if (inst->enforcer) cb_enforcer_attach_sync(inst->enforcer, inst->sync, inst->acks);
	if (cetbyod_people_start(inst, conf) < 0) return -1;
	return 0;
}

static int mod_detach(void *instance)
{
	rlm_cetbyod_t *inst = instance;

	cetbyod_people_stop(inst);
	cb_sync_stop(inst->sync);
	inst->sync = NULL;
	cb_enforcer_stop(inst->enforcer);
	inst->enforcer = NULL;
	cetbyod_ldap_detach(inst);
	cb_audit_close(inst->audit, 2000);
	inst->audit = NULL;
	cb_store_close(inst->store);
	inst->store = NULL;
	cb_ack_current_free(inst->acks);
	inst->acks = NULL;
	cb_tz_free(inst->tz);
	inst->tz = NULL;
	return 0;
}

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

/** collect_emails - normalised addresses keying the acknowledgement; returns how many. */
static size_t collect_emails(rlm_cetbyod_t const *inst, REQUEST *request, char const *identity,
			     char buf[][CB_IDENTITY_MAX + 1], char const **emails)
{
	size_t n = 0;
	VALUE_PAIR *list[2] = { request->config, request->state };

	for (size_t l = 0; l < 2 && n == 0; l++) {
		vp_cursor_t cursor;
		VALUE_PAIR *vp;

		for (vp = fr_cursor_init(&cursor, &list[l]); vp && n < CB_MAX_EMAILS; vp = fr_cursor_next(&cursor)) {
			if (vp->da != inst->da_email) continue;
			if (!cb_identity_email_normalise(vp->vp_strvalue, vp->vp_length, buf[n], CB_IDENTITY_MAX + 1)) {
				RWDEBUG("Ignoring Cetbyod-Email \"%pV\": not an email address", &vp->data);
				continue;
			}
			emails[n] = buf[n];
			n++;
		}
	}
	if (n == 0 && cb_identity_email(identity, inst->email_domain, buf[0], CB_IDENTITY_MAX + 1)) {
		emails[0] = buf[0];
		n = 1;
	}
	return n;
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

/** copy_value - an attribute's printable value into buf ("" when absent). */
static void copy_value(VALUE_PAIR *vp, char *buf, size_t len)
{
	buf[0] = '\0';
	if (vp) vp_prints_value(buf, len, vp, 0);
}

static VALUE_PAIR *packet_attr(REQUEST *request, unsigned int attr)
{
	return fr_pair_find_by_num(request->packet->vps, attr, 0, TAG_ANY);
}

/**
 * register_exception - an exception from the register (cetbyodctl exception
 * add) for identity on this device, when the directory gave none or one
 * that ends sooner.  Fills *x (x->id 0: none used).
 */
static void register_exception(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_exception_t *exc,
			       time_t now, cb_store_exception_t *x)
{
	char calling[CB_STORE_TEXT_MAX + 1], until[32];

	memset(x, 0, sizeof(*x));
	copy_value(packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	if (!cb_enforcer_exception(inst->enforcer, identity, calling, now, x)) return;
	cb_tz_format_utc(x->until, until, sizeof(until));
	if (exc->present && (exc->until == 0 || exc->until >= x->until)) {
		RDEBUG2("Register: exception #%" PRId64 " until %s; the directory's lasts longer and is used", x->id, until);
		memset(x, 0, sizeof(*x));
		return;
	}
	RDEBUG2("Register: exception #%" PRId64 " \"%s\", approved by \"%s\", until %s%s%s", x->id, x->reason,
		x->approved_by, until, x->mac[0] ? ", for device " : "", x->mac);
	exc->present = true;
	exc->until = x->until;
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

static char const *decision_vlan(rlm_cetbyod_t const *inst, cb_status_t status)
{
	switch (status) {
	case CB_STATUS_ADMIT:		return inst->reply.staff_vlan;
	case CB_STATUS_ONBOARD:		return inst->reply.onboarding_vlan;
	case CB_STATUS_RESTRICTED:	return inst->reply.restricted_vlan;
	case CB_STATUS_REJECT:		break;
	}
	return NULL;
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
			   cb_decision_t const *d, cb_ack_record_t const *ack, time_t now)
{
	char const *vlan = decision_vlan(inst, d->status);

	add_integer(request, inst->da_status, (uint32_t) d->status);
	add_string(request, inst->da_reason, cb_reason_name(d->reason));
	add_string(request, inst->da_message, cb_reason_message(d->reason));
	if (identity && *identity) add_string(request, inst->da_identity, identity);
	if (inst->form_url && *inst->form_url && wants_form(d)) add_string(request, inst->da_form_url, inst->form_url);
	if (vlan) add_string(request, inst->da_vlan, vlan);
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

/** log_decision - the one line per decision an admin reads in radiusd -X and radius.log. */
static void log_decision(REQUEST *request, char const *identity, cb_decision_t const *d,
			 cb_ack_record_t const *ack)
{
	char ack_buf[32], until_buf[64] = "";

	if (d->valid_until) {
		strlcpy(until_buf, "; holds until ", sizeof(until_buf));
		cb_tz_format_utc(d->valid_until, until_buf + strlen(until_buf), sizeof(until_buf) - strlen(until_buf));
	}
	if (!ack) {
		RINFO("%s -> %s (%s): no acknowledgement on record%s", identity, cb_status_name(d->status),
		      cb_reason_name(d->reason), until_buf);
		return;
	}
	cb_tz_format_utc(ack->ack_time, ack_buf, sizeof(ack_buf));
	RINFO("%s -> %s (%s): %s %s%s%s from %s%s", identity, cb_status_name(d->status), cb_reason_name(d->reason),
	      ack->revoked ? "withdrawn" : "acknowledged", ack_buf, *ack->policy_version ? " version " : "",
	      ack->policy_version, ack->origin, until_buf);
}

/**
 * person_facts - what the directory knows about identity (the LDAP
 * directory, or attributes set by earlier modules), and the addresses that
 * key the acknowledgement.  Returns the number of addresses.
 */
static size_t person_facts(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_policy_input_t *in,
			   char email_buf[][CB_IDENTITY_MAX + 1], char const **emails)
{
	size_t n;

	if (inst->directory == DIRECTORY_LDAP) {
		n = cetbyod_ldap_person(inst, request, identity, in, email_buf, emails, CB_MAX_EMAILS);
		if (n == 0 && cb_identity_email(identity, inst->email_domain, email_buf[0], CB_IDENTITY_MAX + 1)) {
			emails[0] = email_buf[0];
			n = 1;
		}
		return n;
	}
	directory_facts_from_attributes(inst, request, &in->dir);
	exception_from_attributes(inst, request, &in->exception);
	return collect_emails(inst, request, identity, email_buf, emails);
}

/**
 * directory_recheck - the directory watcher's question (enforcer thread):
 * what would identity get now, with fresh directory facts?  Runs outside
 * any request, so it brings its own.
 */
static cb_status_t directory_recheck(void *ctx, char const *identity, cb_reason_t *reason)
{
	rlm_cetbyod_t *inst = ctx;
	REQUEST *request = request_alloc(NULL);
	char email_buf[CB_MAX_EMAILS][CB_IDENTITY_MAX + 1], revoked_reason[CB_STORE_REASON_MAX + 1];
	char const *emails[CB_MAX_EMAILS];
	cb_policy_input_t in;
	cb_ack_index_t *idx;
	cb_ack_record_t const *ack;
	cb_decision_t d;
	cb_store_exception_t exc;
	size_t n;
	time_t now = time(NULL);

	if (!request) {
		*reason = CB_REASON_DIRECTORY_UNAVAILABLE;
		return CB_STATUS_REJECT;
	}
	memset(&in, 0, sizeof(in));
	n = person_facts(inst, request, identity, &in, email_buf, emails);
	if (!in.exception.present && cb_enforcer_exception(inst->enforcer, identity, NULL, now, &exc)) {
		in.exception.present = true;	/* Any device's: the session's device was checked at admission. */
		in.exception.until = exc.until;
	}
	idx = cb_ack_current_get(inst->acks);
	ack = cb_ack_index_find_latest(idx, emails, n);
	if (ack) {
		in.ack.present = true;
		in.ack.revoked = ack->revoked;
		in.ack.ack_time = ack->ack_time;
		in.ack.policy_version = ack->policy_version;
	}
	in.source.stale = cb_sync_is_stale(inst->sync, now);
	if (!in.dir.revoked && cb_enforcer_is_revoked(inst->enforcer, identity, revoked_reason, sizeof(revoked_reason))) {
		in.dir.revoked = true;
	}
	cb_policy_decide(&inst->pconf, &in, now, &d);
	cb_ack_index_unref(idx);
	talloc_free(request);
	*reason = d.reason;
	return d.status;
}

/**
 * record_decision - remember an Access-Accept in the store under a new
 * class id, and put Cetbyod-Class in the control list; the site copies it
 * to the reply's Class, which accounting echoes back.
 */
static void record_decision(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decision_t const *d,
			    char const *ack_email, cb_ack_record_t const *ack, time_t now,
			    char class_id[CB_CLASS_ID_LEN + 1])
{
	cb_store_decision_t rec;
	char class_attr[CB_CLASS_ATTR_LEN + 1];
	VALUE_PAIR *vp;

	if (!inst->store) return;
	memset(&rec, 0, sizeof(rec));
	if (cb_store_new_class_id(rec.class_id) < 0) {
		RWDEBUG("Cannot make a Class id: this session cannot be tied to its decision");
		return;
	}
	strlcpy(rec.identity, identity, sizeof(rec.identity));
	copy_value(packet_attr(request, PW_USER_NAME), rec.outer_identity, sizeof(rec.outer_identity));
	strlcpy(rec.status, cb_status_name(d->status), sizeof(rec.status));
	strlcpy(rec.reason, cb_reason_name(d->reason), sizeof(rec.reason));
	rec.decided_at = now;
	rec.valid_until = d->valid_until;
	if (ack) {
		rec.ack_time = ack->ack_time;
		strlcpy(rec.policy_version, ack->policy_version, sizeof(rec.policy_version));
	}
	strlcpy(rec.ack_email, ack_email ? ack_email : "", sizeof(rec.ack_email));
	vp = packet_attr(request, PW_NAS_IP_ADDRESS);
	if (!vp) vp = packet_attr(request, PW_NAS_IDENTIFIER);
	copy_value(vp, rec.nas, sizeof(rec.nas));
	copy_value(packet_attr(request, PW_CALLING_STATION_ID), rec.calling_station, sizeof(rec.calling_station));
	if (cb_store_decision_put(inst->store, &rec) < 0) {
		RWDEBUG("Cannot record the decision in the state store: its sessions will not be tied to it");
		return;
	}
	if (cb_store_class_format(rec.class_id, class_attr, sizeof(class_attr))) {
		add_string(request, inst->da_class, class_attr);
		RDEBUG2("Decision recorded as Class %s", class_attr);
		strlcpy(class_id, rec.class_id, CB_CLASS_ID_LEN + 1);
	}
}

/**
 * audit_decision - the decision into the audit trail.  Returns false when
 * the trail refuses (audit { on_failure = fail_closed } while it cannot be
 * written): the caller must not admit.
 */
static bool audit_decision(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decision_t const *d,
			   cb_ack_record_t const *ack, char const *class_id, cb_store_exception_t const *exc)
{
	char outer[CB_STORE_TEXT_MAX + 1], calling[CB_STORE_TEXT_MAX + 1], called[CB_STORE_TEXT_MAX + 1];
	char nas[CB_STORE_TEXT_MAX + 1];
	VALUE_PAIR *vp;
	cb_audit_event_t ev = {
		.type = CB_AUDIT_DECISION, .identity = identity, .outer_identity = outer, .calling_station = calling,
		.called_station = called, .nas = nas, .class_id = class_id, .status = cb_status_name(d->status),
		.reason = cb_reason_name(d->reason), .ack_time = ack ? ack->ack_time : 0,
		.policy_version = ack ? ack->policy_version : NULL, .expiry = d->valid_until,
		.admission = d->status != CB_STATUS_REJECT,
	};

	if (!inst->audit) return true;
	if (exc && d->reason == CB_REASON_EXCEPTION_ACTIVE) {
		ev.why = exc->reason;
		ev.approved_by = exc->approved_by;
		ev.until = exc->until;
	}
	copy_value(packet_attr(request, PW_USER_NAME), outer, sizeof(outer));
	copy_value(packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	copy_value(packet_attr(request, PW_CALLED_STATION_ID), called, sizeof(called));
	vp = packet_attr(request, PW_NAS_IP_ADDRESS);
	if (!vp) vp = packet_attr(request, PW_NAS_IDENTIFIER);
	copy_value(vp, nas, sizeof(nas));
	if (cb_audit_record(inst->audit, &ev) != CB_AUDIT_REFUSE) return true;
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
	cb_audit_record(inst->audit, &ev);
	return false;
}

static rlm_rcode_t CC_HINT(nonnull) mod_post_auth(void *instance, REQUEST *request)
{
	rlm_cetbyod_t *inst = instance;
	VALUE_PAIR *id_vp = identity_attribute(inst, request);
	char identity[CB_IDENTITY_MAX + 1];
	char email_buf[CB_MAX_EMAILS][CB_IDENTITY_MAX + 1];
	char const *emails[CB_MAX_EMAILS];
	size_t n_emails;
	cb_identity_result_t id_rcode;
	cb_policy_input_t in;
	cb_decision_t d;
	cb_ack_index_t *idx;
	cb_ack_record_t const *ack = NULL;
	char revoked_reason[CB_STORE_REASON_MAX + 1];
	char class_id[CB_CLASS_ID_LEN + 1] = "";
	cb_store_exception_t exc;
	time_t now = time(NULL);

	if (!id_vp) {
		REDEBUG("No User-Name and no Cetbyod-Inner-Identity: cannot decide, refusing");
		memset(&d, 0, sizeof(d));
		d.status = CB_STATUS_REJECT;
		d.reason = CB_REASON_INVALID_IDENTITY;
		write_decision(inst, request, NULL, &d, NULL, now);
		return RLM_MODULE_REJECT;
	}
	id_rcode = cb_identity_normalise(&inst->iconf, id_vp->vp_strvalue, id_vp->vp_length, identity, sizeof(identity));
	if (id_rcode != CB_IDENTITY_OK) {
		RINFO("identity \"%pV\" -> reject (invalid_identity): %s", &id_vp->data,
		      cb_identity_error(id_rcode));
		memset(&d, 0, sizeof(d));
		d.status = CB_STATUS_REJECT;
		d.reason = CB_REASON_INVALID_IDENTITY;
		audit_decision(inst, request, NULL, &d, NULL, NULL, NULL);
		write_decision(inst, request, NULL, &d, NULL, now);
		return RLM_MODULE_REJECT;
	}

	memset(&in, 0, sizeof(in));
	n_emails = person_facts(inst, request, identity, &in, email_buf, emails);
	register_exception(inst, request, identity, &in.exception, now, &exc);

	idx = cb_ack_current_get(inst->acks);
	ack = cb_ack_index_find_latest(idx, emails, n_emails);
	if (ack) {
		in.ack.present = true;
		in.ack.revoked = ack->revoked;
		in.ack.ack_time = ack->ack_time;
		in.ack.policy_version = ack->policy_version;
		RDEBUG2("Acknowledgement of %s from %s", ack->email, ack->origin);
	} else {
		RDEBUG2("No acknowledgement on record for %s%s", n_emails ? emails[0] : identity,
			n_emails > 1 ? " or its aliases" : "");
	}
	in.source.stale = cb_sync_is_stale(inst->sync, now);
	if (!in.dir.revoked && cb_enforcer_is_revoked(inst->enforcer, identity, revoked_reason, sizeof(revoked_reason))) {
		in.dir.revoked = true;
		in.dir.revoked_reason = revoked_reason;
		RDEBUG2("BYOD access of %s was revoked by IT: %s", identity, revoked_reason);
	}

	cb_policy_decide(&inst->pconf, &in, now, &d);
	if (inst->audit && !cb_audit_admit_ok(inst->audit) && d.status != CB_STATUS_REJECT) {
		d.status = CB_STATUS_REJECT;
		d.reason = CB_REASON_AUDIT_UNAVAILABLE;
		d.valid_until = 0;
	}
	if (d.status != CB_STATUS_REJECT) {
		record_decision(inst, request, identity, &d, ack ? ack->email : (n_emails ? emails[0] : ""), ack, now,
				class_id);
	}
	if (!audit_decision(inst, request, identity, &d, ack, class_id[0] ? class_id : NULL, exc.id ? &exc : NULL) &&
	    d.status != CB_STATUS_REJECT) {
		d.status = CB_STATUS_REJECT;
		d.reason = CB_REASON_AUDIT_UNAVAILABLE;
		d.valid_until = 0;
		fr_pair_delete_by_num(&request->config, inst->da_class->attr, 0, TAG_ANY);
	}
	write_decision(inst, request, identity, &d, ack, now);
	log_decision(request, identity, &d, ack);
	cb_ack_index_unref(idx);	/* ack points into idx: not used after this. */

	return decision_rcode(d.status);
}

/*
 *	Accounting: sessions, tied to decisions by the Class we sent.
 */
static void class_of(REQUEST *request, char class_id[CB_CLASS_ID_LEN + 1])
{
	vp_cursor_t cursor;
	VALUE_PAIR *vp;

	class_id[0] = '\0';
	for (vp = fr_cursor_init(&cursor, &request->packet->vps); vp; vp = fr_cursor_next(&cursor)) {
		if (vp->da->vendor == 0 && vp->da->attr == PW_CLASS &&
		    cb_store_class_parse((char const *) vp->vp_octets, vp->vp_length, class_id)) return;
	}
}

static uint64_t octets(REQUEST *request, unsigned int attr, unsigned int giga)
{
	VALUE_PAIR *lo = packet_attr(request, attr), *hi = packet_attr(request, giga);

	return cb_store_octets(lo ? lo->vp_integer : 0, hi ? hi->vp_integer : 0);
}

/** audit_session - a session start or stop into the audit trail, with the person from its Class. */
static void audit_session(rlm_cetbyod_t *inst, bool start, cb_store_acct_t const *a)
{
	cb_store_decision_t dec;
	cb_store_session_t s;
	cb_audit_event_t ev = {
		.type = start ? CB_AUDIT_SESSION_START : CB_AUDIT_SESSION_STOP, .time = a->event_time,
		.outer_identity = a->outer_identity, .calling_station = a->calling_station,
		.called_station = a->called_station, .nas = a->nas, .class_id = a->class_id,
		.acct_session_id = a->acct_session_id, .framed_ip = a->framed_ip, .stop_cause = a->stop_cause,
		.has_octets = a->has_octets, .in_octets = a->in_octets, .out_octets = a->out_octets,
	};

	if (!inst->audit) return;
	if (a->class_id && cb_store_decision_get(inst->store, a->class_id, &dec) == 0) ev.identity = dec.identity;
	if (cb_store_session_get(inst->store, a->nas, a->acct_session_id, &s) == 0) {
		ev.session_started = s.started;
		ev.session_stopped = s.stopped;
	}
	if (!ev.session_started) ev.session_started = a->event_time;
	if (!start && !ev.session_stopped) ev.session_stopped = a->event_time;
	cb_audit_record(inst->audit, &ev);
}

static rlm_rcode_t CC_HINT(nonnull) mod_accounting(void *instance, REQUEST *request)
{
	rlm_cetbyod_t *inst = instance;
	VALUE_PAIR *status = packet_attr(request, PW_ACCT_STATUS_TYPE), *vp;
	char nas[CB_STORE_TEXT_MAX + 1], nas_ip[64], nas_id[CB_STORE_TEXT_MAX + 1], sid[CB_STORE_TEXT_MAX + 1];
	char outer[CB_STORE_TEXT_MAX + 1], calling[CB_STORE_TEXT_MAX + 1], called[CB_STORE_TEXT_MAX + 1];
	char framed[64], cause[CB_STORE_CAUSE_MAX + 1], class_id[CB_CLASS_ID_LEN + 1];
	cb_store_acct_t a;
	size_t closed = 0;
	int rc = 0;
	time_t now = time(NULL);

	if (!inst->store || !status) return RLM_MODULE_NOOP;
	copy_value(packet_attr(request, PW_NAS_IP_ADDRESS), nas_ip, sizeof(nas_ip));
	copy_value(packet_attr(request, PW_NAS_IDENTIFIER), nas_id, sizeof(nas_id));
	strlcpy(nas, nas_ip[0] ? nas_ip : nas_id, sizeof(nas));
	if (!nas[0]) {
		RWDEBUG("Accounting without NAS-IP-Address or NAS-Identifier: not tracked");
		return RLM_MODULE_NOOP;
	}
	if (status->vp_integer == PW_STATUS_ACCOUNTING_ON || status->vp_integer == PW_STATUS_ACCOUNTING_OFF) {
		cb_store_sessions_t gone = { 0 };

		rc = cb_store_nas_reboot(inst->store, nas, status->vp_integer == PW_STATUS_ACCOUNTING_ON ?
					 "NAS-Reboot" : "NAS-Request", now, &closed, &gone);
		RDEBUG2("NAS %s restarted its accounting: %zu session(s) closed", nas, closed);
		for (size_t i = 0; i < gone.count; i++) cb_audit_session_closed(inst->audit, &gone.items[i]);
		cb_store_sessions_free(&gone);
		return rc < 0 ? RLM_MODULE_FAIL : RLM_MODULE_OK;
	}

	copy_value(packet_attr(request, PW_ACCT_SESSION_ID), sid, sizeof(sid));
	if (!sid[0]) {
		RWDEBUG("Accounting without Acct-Session-Id: not tracked");
		return RLM_MODULE_NOOP;
	}
	copy_value(packet_attr(request, PW_USER_NAME), outer, sizeof(outer));
	copy_value(packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	copy_value(packet_attr(request, PW_CALLED_STATION_ID), called, sizeof(called));
	copy_value(packet_attr(request, PW_FRAMED_IP_ADDRESS), framed, sizeof(framed));
	copy_value(packet_attr(request, PW_ACCT_TERMINATE_CAUSE), cause, sizeof(cause));
	class_of(request, class_id);

	memset(&a, 0, sizeof(a));
	a.nas = nas;
	a.acct_session_id = sid;
	a.class_id = class_id[0] ? class_id : NULL;
	a.outer_identity = outer;
	a.calling_station = calling;
	a.called_station = called;
	a.framed_ip = framed;
	a.nas_ip = nas_ip;
	a.nas_identifier = nas_id;
	a.stop_cause = cause;
	a.has_octets = packet_attr(request, PW_ACCT_INPUT_OCTETS) != NULL;
	a.in_octets = octets(request, PW_ACCT_INPUT_OCTETS, PW_ACCT_INPUT_GIGAWORDS);
	a.out_octets = octets(request, PW_ACCT_OUTPUT_OCTETS, PW_ACCT_OUTPUT_GIGAWORDS);
	vp = packet_attr(request, PW_EVENT_TIMESTAMP);
	a.event_time = vp ? (time_t) vp->vp_date : now;
	if (!vp && (vp = packet_attr(request, PW_ACCT_DELAY_TIME))) a.event_time = now - (time_t) vp->vp_integer;

	switch (status->vp_integer) {
	case PW_STATUS_START:
		rc = cb_store_session_start(inst->store, &a);
		break;
	case PW_STATUS_ALIVE:
		rc = cb_store_session_update(inst->store, &a);
		break;
	case PW_STATUS_STOP:
		rc = cb_store_session_stop(inst->store, &a);
		break;
	default:
		return RLM_MODULE_NOOP;
	}
	if (rc < 0) {
		REDEBUG("Cannot record accounting for session %s on %s in the state store", sid, nas);
		return RLM_MODULE_FAIL;
	}
	if (status->vp_integer != PW_STATUS_ALIVE) audit_session(inst, status->vp_integer == PW_STATUS_START, &a);
	RDEBUG2("Session %s on %s (%s): accounting %s recorded%s", sid, nas, calling,
		status->vp_integer == PW_STATUS_START ? "Start" : status->vp_integer == PW_STATUS_STOP ? "Stop" : "Interim",
		class_id[0] ? ", tied to its decision by Class" : ", no Class of ours");
	return RLM_MODULE_OK;
}

extern module_t rlm_cetbyod;
module_t rlm_cetbyod = {
	.magic		= RLM_MODULE_INIT,
	.name		= "cetbyod",
	.type		= RLM_TYPE_THREAD_SAFE | RLM_TYPE_HUP_SAFE,
	.inst_size	= sizeof(rlm_cetbyod_t),
	.config		= module_config,
	.instantiate	= mod_instantiate,
	.detach		= mod_detach,
	.methods = {
		[MOD_POST_AUTH]		= mod_post_auth,
		[MOD_ACCOUNTING]	= mod_accounting,
	},
};
