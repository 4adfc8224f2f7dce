/*
 * glue_start.c - the module's start-up: the string options turned into
 * enums, the policy and identity settings checked, the dictionary looked
 * up, the acknowledgement source and its sync thread, the state store, the
 * audit trail and the enforcer (with its NAS table and, for directory =
 * ldap, the directory watcher's facts provider).  Each failure names the
 * option and what it accepts, and stops radiusd from starting.
 */
#include "rlm_cetbyod.h"

#include <freeradius-devel/rad_assert.h>

#include "base/name.h"
#include "people/people.h"
#include "sources/ackfile.h"
#include "sources/budget.h"
#include "sources/gsource.h"
#include "sources/gbind.h"
#include "sources/snapshot.h"
#include "store/spool.h"

static cb_name_t const source_names[] = {
	{ "file", SOURCE_FILE },
	{ "forms", SOURCE_FORMS },
	{ "sheets", SOURCE_SHEETS },
	{ NULL, -1 }
};

static cb_name_t const directory_names[] = {
	{ "attributes", DIRECTORY_ATTRIBUTES },
	{ "ldap", DIRECTORY_LDAP },
	{ NULL, -1 }
};

static cb_name_t const log_decisions_names[] = {
	{ "all", LOG_DECISIONS_ALL },
	{ "refusals", LOG_DECISIONS_REFUSALS },
	{ "none", LOG_DECISIONS_NONE },
	{ NULL, -1 }
};

static cb_name_t const unacknowledged_names[] = {
	{ "onboard", CB_UNACK_ONBOARD },
	{ "reject", CB_UNACK_REJECT },
	{ NULL, -1 }
};

static cb_name_t const fsync_names[] = {
	{ "batch", CB_AUDIT_FSYNC_BATCH },
	{ "none", CB_AUDIT_FSYNC_NONE },
	{ NULL, -1 }
};

static cb_name_t const on_failure_names[] = {
	{ "fail_open", CB_AUDIT_FAIL_OPEN },
	{ "fail_closed", CB_AUDIT_FAIL_CLOSED },
	{ NULL, -1 }
};

/**
 * parse_enum - value's number in tab; -1 after telling the administrator
 * the option's name and its accepted values ("a", "b" and "c").
 */
static int parse_enum(CONF_SECTION *conf, cb_name_t const *tab, char const *option, char const *value)
{
	int v = cb_name_value(tab, value, -1);
	char accepted[256];
	size_t o = 0;

	if (v >= 0) return v;
	accepted[0] = '\0';
	for (size_t i = 0; tab[i].name && o < sizeof(accepted); i++) {
		o += snprintf(accepted + o, sizeof(accepted) - o, "%s\"%s\"", i == 0 ? "" : tab[i + 1].name ? ", " : " and ",
			      tab[i].name);
	}
	cf_log_err_cs(conf, "Invalid value \"%s\" for '%s': accepted values are %s", value, option, accepted);
	return -1;
}

/** parse_limits - policy { max_devices, device_window, max_concurrent } and their actions (core/limits.h). */
static int parse_limits(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	int v;

	if ((v = parse_enum(conf, cb_limit_action_names, "policy { max_devices_action }",
			    inst->policy.max_devices_action)) < 0) {
		return -1;
	}
	inst->lconf.devices_action = (cb_limit_action_t) v;
	if ((v = parse_enum(conf, cb_limit_action_names, "policy { max_concurrent_action }",
			    inst->policy.max_concurrent_action)) < 0) {
		return -1;
	}
	inst->lconf.concurrent_action = (cb_limit_action_t) v;
	/* The store keeps CB_STORE_DEVICES_PER_PERSON devices a person: room for the limit and those held back. */
	if (inst->policy.max_devices > CB_STORE_DEVICES_PER_PERSON / 2) {
		cf_log_err_cs(conf, "Invalid value %u for 'policy { max_devices }': accepted values are 0 (no limit) "
			      "to %d", inst->policy.max_devices, CB_STORE_DEVICES_PER_PERSON / 2);
		return -1;
	}
	if (inst->policy.max_concurrent > 1000) {
		cf_log_err_cs(conf, "Invalid value %u for 'policy { max_concurrent }': accepted values are 0 (no "
			      "limit) to 1000", inst->policy.max_concurrent);
		return -1;
	}
	if (inst->policy.device_window > 3660) {
		cf_log_err_cs(conf, "Invalid value %u for 'policy { device_window }': accepted values are 0 (every "
			      "device ever seen counts) to 3660 days", inst->policy.device_window);
		return -1;
	}
	inst->lconf.max_devices = inst->policy.max_devices;
	inst->lconf.device_window_days = inst->policy.device_window;
	inst->lconf.max_concurrent = inst->policy.max_concurrent;
	return 0;
}

static int parse_enums(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	int v;

	if ((v = parse_enum(conf, source_names, "source", inst->source_name)) < 0) return -1;
	inst->source = (source_kind_t) v;
	if ((v = parse_enum(conf, directory_names, "directory", inst->directory_name)) < 0) return -1;
	inst->directory = (directory_kind_t) v;
	if ((v = parse_enum(conf, log_decisions_names, "log_decisions", inst->log_decisions_name)) < 0) return -1;
	inst->log_decisions = (log_decisions_t) v;
	if ((v = parse_enum(conf, unacknowledged_names, "policy { unacknowledged }", inst->policy.unacknowledged)) < 0) {
		return -1;
	}
	inst->pconf.unacknowledged = (cb_unack_action_t) v;
	return parse_limits(inst, conf);
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
	inst->pconf.validity_days = inst->policy.validity_days;
	inst->pconf.policy_version = inst->policy.version;
	inst->pconf.grace_seconds = inst->policy.grace_period;
	inst->pconf.admit_when_stale = inst->policy.admit_when_stale;
	inst->pconf.tz = inst->tz;
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

static int parse_identity(rlm_cetbyod_t *inst, CONF_SECTION *conf);

cb_store_t *cetbyod_store_connection(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *what, char const *spool)
{
	char path[4096], spath[4096], err[512];
	cb_store_conf_t sconf = { .path = path, .fast_sync = true, .log = cetbyod_store_log, .log_ctx = inst };
	cb_store_t *store;

	if (!cb_store_path(inst->state_dir, path, sizeof(path))) return NULL;
	cetbyod_store_conf(inst, path, &sconf);
	if (spool && !cetbyod_store_spool(inst, spool, spath, sizeof(spath), &sconf)) {
		cf_log_err_cs(conf, "'state_dir' is too long");
		return NULL;
	}
	store = cb_store_open(&sconf, err, sizeof(err));
	if (!store) cf_log_err_cs(conf, "Cannot open the state store for %s: %s", what, err);
	return store;
}

int cetbyod_start_conf(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	if (find_attributes(inst, conf) < 0) return -1;
	if (parse_enums(inst, conf) < 0) return -1;
	if (parse_identity(inst, conf) < 0) return -1;
	return parse_policy(inst, conf);
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

/** strip_list - one of identity { strip_domains, strip_realms }, every name checked. */
static int strip_list(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *option, bool old_switch,
		      char const *old_option, cb_strlist_t *list)
{
	*list = strlist(inst, conf, "identity", option);
	for (size_t i = 0; i < list->n; i++) {
		if (cb_identity_strip_name_ok(list->v[i])) continue;
		cf_log_err_cs(conf, "Invalid value \"%s\" for 'identity { %s }': accepted values are one name each "
			      "(repeat the option for more), without spaces, '\\' or '@'", list->v[i], option);
		return -1;
	}
	if (old_switch && list->n == 0) {
		cf_log_err_cs(conf, "'identity { %s = yes }' took off every %s, so another one's \"alice\" was "
			      "decided as yours: list yours in 'identity { %s }' instead (for example %s = \"%s\"), "
			      "and remove %s", old_option, strcmp(option, "strip_domains") == 0 ? "DOMAIN\\" : "@realm",
			      option, option, strcmp(option, "strip_domains") == 0 ? "SCHOOL" : "school.example",
			      old_option);
		return -1;
	}
	return 0;
}

/** parse_identity - identity { }: the lists of domains and realms taken off, the longest identity. */
static int parse_identity(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	if (inst->identity.max_length < 1 || inst->identity.max_length > CB_IDENTITY_MAX) {
		cf_log_err_cs(conf, "Invalid value %u for 'identity { max_length }': accepted values are 1 to %d",
			      inst->identity.max_length, CB_IDENTITY_MAX);
		return -1;
	}
	if (strip_list(inst, conf, "strip_domains", inst->identity.strip_domain, "strip_domain",
		       &inst->iconf.strip_domains) < 0 ||
	    strip_list(inst, conf, "strip_realms", inst->identity.strip_realm, "strip_realm",
		       &inst->iconf.strip_realms) < 0) return -1;
	inst->iconf.max_length = inst->identity.max_length;
	return 0;
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
	g->max_requests_per_minute = inst->google.max_requests_per_minute;
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

	case SOURCE_FORMS:
	case SOURCE_SHEETS:
		break;
	}
	if (inst->google.max_requests_per_minute > CB_BUDGET_MAX) {
		cf_log_err_cs(conf, "Invalid value %u for 'google { max_requests_per_minute }': accepted values are 0 "
			      "(no budget) to %d", inst->google.max_requests_per_minute, CB_BUDGET_MAX);
		return NULL;
	}
	switch (inst->source) {
	case SOURCE_FILE:
		break;
	case SOURCE_FORMS: {
		cb_gsource_forms_conf_t f = {
			.form_id = inst->forms.form_id, .agreement_question = inst->forms.agreement_question,
			.agree_values = strlist(inst, conf, "forms", "agree_value"),
			.policy_version_question = inst->forms.policy_version_question,
			.allowed_domains = strlist(inst, conf, "forms", "allowed_domain"), .page_size = inst->forms.page_size,
			.allow_unverified_email = inst->forms.allow_unverified_email,
			.binding_path = inst->state_dir && *inst->state_dir ?
					talloc_asprintf(inst, "%s/%s", inst->state_dir, CB_GBIND_FILE) : NULL,
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
			.form_id = inst->sheets.form_id,
			.allow_unverified_email = inst->sheets.allow_unverified_email,
		};

		google_conf(inst, &g);
		src = cb_gsource_sheets_new(&sh, &g, cetbyod_core_log, inst, err, sizeof(err));
		break;
	}
	}
	if (!src) {
		cf_log_err_cs(conf, "Cannot use source = %s: %s", inst->source_name, err);
	} else if (inst->google.max_requests_per_minute) {
		INFO("rlm_cetbyod (%s): at most %u requests a minute to Google as %s (google { max_requests_per_minute })",
		     inst->name, inst->google.max_requests_per_minute, cb_gsource_client_email(src));
	} else {
		INFO("rlm_cetbyod (%s): no request budget (google { max_requests_per_minute = 0 }): only Google's 429s "
		     "limit the requests made as %s", inst->name, cb_gsource_client_email(src));
	}
	return src;
}

/** acks_changed - a sync put new acknowledgements in force: the enforcer re-decides, the people list follows. */
static void acks_changed(void *uctx, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx)
{
	rlm_cetbyod_t *inst = uctx;

	if (inst->enforcer) cb_enforcer_ack_changed(inst->enforcer, old_idx, new_idx);
	cb_people_poke(inst->people);
}

int cetbyod_start_source(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[512];
	cb_source_t *src;
	bool local = (inst->source == SOURCE_FILE);
	cb_sync_conf_t sconf = {
		.interval = local ? (inst->file.check_interval ? inst->file.check_interval : 5) : inst->sync_conf.interval,
		.full_interval = inst->sync_conf.full_interval,
		.stale_after = inst->policy.stale_after,
		.initial_blocking = local,
		.future_skew = inst->sync_conf.future_skew,
		.guard = {
			.max_removal_percent = local ? 100 : inst->sync_conf.max_removal_percent,
			.min_removals = inst->sync_conf.min_removals,
		},
		.backoff_max_ms = inst->sync_conf.backoff_max * 1000,
		.rejected_backoff_max_ms = inst->sync_conf.key_backoff_max * 1000,
		.on_change = acks_changed,
		.on_change_ctx = inst,
		.audit = inst->audit,
	};

	if (!local && inst->sync_conf.interval < 1) {
		cf_log_err_cs(conf, "Invalid value 0 for 'sync { interval }': accepted values are 1 and more (seconds)");
		return -1;
	}
	if (!local && (inst->sync_conf.key_backoff_max < 1 || inst->sync_conf.key_backoff_max > 86400)) {
		cf_log_err_cs(conf, "Invalid value %u for 'sync { key_backoff_max }': accepted values are 1 to 86400 "
			      "(seconds)", inst->sync_conf.key_backoff_max);
		return -1;
	}
	if (inst->sync_conf.future_skew > 86400) {
		cf_log_err_cs(conf, "Invalid value %u for 'sync { future_skew }': accepted values are 0 to 86400 (seconds)",
			      inst->sync_conf.future_skew);
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
	if (inst->check_only) {
		if (src->free) src->free(src);
		return 0;
	}
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
/**
 * nas_overrides - mode, attributes and calling_station_id_format override
 * the profile's, in this NAS's own copy of it.  -1 after logging.
 */
static int nas_overrides(rlm_cetbyod_t *inst, CONF_SECTION *cs, char const *name, cb_das_profile_t const **prof)
{
	cb_das_profile_t *own;
	CONF_PAIR *cp;
	char err[256];

	if (!cf_pair_find(cs, "mode") && !cf_pair_find(cs, "attributes") && !cf_pair_find(cs, "calling_station_id_format")) {
		return 0;
	}
	own = talloc(inst, cb_das_profile_t);
	if (!own) return -1;
	*own = **prof;
	if ((cp = cf_pair_find(cs, "mode")) && cb_das_mode_parse(cf_pair_value(cp), &own->mode) < 0) {
		cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { mode }': accepted values are \"disconnect\", "
			      "\"coa\" and \"coa-then-disconnect\"", cf_pair_value(cp), name);
		return -1;
	}
	if ((cp = cf_pair_find(cs, "attributes")) && cb_das_attrs_parse(cf_pair_value(cp), &own->attrs, err, sizeof(err)) < 0) {
		cf_log_err_cs(cs, "Invalid value for 'nas %s { attributes }': %s", name, err);
		return -1;
	}
	if ((cp = cf_pair_find(cs, "calling_station_id_format")) &&
	    cb_das_mac_format_find(cf_pair_value(cp), &own->calling_station_format) < 0) {
		cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { calling_station_id_format }': accepted values are %s",
			      cf_pair_value(cp), name, CB_DAS_MAC_FORMATS);
		return -1;
	}
	*prof = own;
	return 0;
}

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
		cf_log_err_cs(cs, "nas %s: set 'ipaddr' (the address its accounting comes from) or 'identifier' (its "
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
	if (nas_overrides(inst, cs, name, &nas->das.profile) < 0) return -1;
	if (port) {
		p = strtoul(port, &end, 10);
		if (*end || p < 1 || p > 65535) {
			cf_log_err_cs(cs, "Invalid value \"%s\" for 'nas %s { port }': accepted values are 1 to 65535",
				      port, name);
			return -1;
		}
	}
	nas->das.port = (uint16_t) p;
	INFO("rlm_cetbyod (%s): nas %s: profile %s, %s to %s port %u%s%s", inst->name, name, nas->das.profile->name,
	     cb_das_mode_name(nas->das.profile->mode), nas->das.address,
	     nas->das.port ? nas->das.port : nas->das.profile->port,
	     nas->das.profile->calling_station_format ? ", Calling-Station-Id as " : "",
	     nas->das.profile->calling_station_format ? nas->das.profile->calling_station_format : "");
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

/**
 * audit_key - audit { hmac_key_file }: the keyed chain's key, loaded and
 * checked out of the service user's write reach (cb_audit_key_load); key
 * left empty when none is set.  0, or -1 (start-up fails, naming it).
 */
static int audit_key(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_audit_key_t *key)
{
	char const *path = inst->audit_conf.hmac_key_file;
	char err[4096 + 256];
	int rc;

	memset(key, 0, sizeof(*key));
	if (!path || !*path) return 0;
	rc = cb_audit_key_load(path, true, key, err, sizeof(err));
	if (rc < 0) {
		cf_log_err_cs(conf, "Invalid 'audit { hmac_key_file }' %s: %s", path, err);
		return -1;
	}
	if (rc == 1) WARN("rlm_cetbyod (%s): audit { hmac_key_file }: %s", inst->name, err);
	INFO("rlm_cetbyod (%s): the audit chain is keyed (hmac-sha256) with %s", inst->name, path);
	return 0;
}

/** audit_coalesce - audit { coalesce_* } checked into ac; 0 or -1 (logged, naming the option). */
static int audit_coalesce(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_audit_conf_t *ac)
{
	if (inst->audit_conf.coalesce_window > 86400) {
		cf_log_err_cs(conf, "audit { coalesce_window } must be 0 (off) to 86400 seconds, not %u",
			      inst->audit_conf.coalesce_window);
		return -1;
	}
	if (inst->audit_conf.coalesce_summary_every < 1 || inst->audit_conf.coalesce_summary_every > 86400) {
		cf_log_err_cs(conf, "audit { coalesce_summary_every } must be 1 to 86400 seconds, not %u",
			      inst->audit_conf.coalesce_summary_every);
		return -1;
	}
	if (inst->audit_conf.coalesce_max_runs < 1 || inst->audit_conf.coalesce_max_runs > 1000000) {
		cf_log_err_cs(conf, "audit { coalesce_max_runs } must be 1 to 1000000, not %u",
			      inst->audit_conf.coalesce_max_runs);
		return -1;
	}
	ac->coalesce_window = inst->audit_conf.coalesce_window;
	ac->coalesce_every = inst->audit_conf.coalesce_summary_every;
	ac->coalesce_max = inst->audit_conf.coalesce_max_runs;
	if (ac->coalesce_window) {
		INFO("rlm_cetbyod (%s): audit: identical refusals less than %u s apart are coalesced, summarised every "
		     "%u s (at most %u runs)", inst->name, ac->coalesce_window, ac->coalesce_every,
		     inst->audit_conf.coalesce_max_runs);
	}
	return 0;
}

/** audit_index_defer - audit { index_defer, index_busy_rate } checked into ac; 0 or -1 (logged). */
static int audit_index_defer(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_audit_conf_t *ac)
{
	if (inst->audit_conf.index_defer > 3600) {
		cf_log_err_cs(conf, "audit { index_defer } must be 0 (copy at once) to 3600 seconds, not %u",
			      inst->audit_conf.index_defer);
		return -1;
	}
	if (inst->audit_conf.index_busy_rate < 1 || inst->audit_conf.index_busy_rate > 1000000) {
		cf_log_err_cs(conf, "audit { index_busy_rate } must be 1 to 1000000 records a second, not %u",
			      inst->audit_conf.index_busy_rate);
		return -1;
	}
	ac->index_defer = inst->audit_conf.index_defer;
	ac->index_busy_rate = inst->audit_conf.index_busy_rate;
	return 0;
}

/** audit_options - audit { }'s options into ac, and its key (to be wiped); -1 after logging. */
static int audit_options(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_audit_conf_t *ac, cb_audit_key_t *key)
{
	int v;

	if ((v = parse_enum(conf, fsync_names, "audit { fsync }", inst->audit_conf.fsync)) < 0) return -1;
	ac->fsync = (cb_audit_fsync_t) v;
	if (inst->audit_conf.batch_wait_ms > 1000) {
		cf_log_err_cs(conf, "audit { batch_wait_ms } must be 0 (write at once) to 1000 milliseconds, not %u",
			      inst->audit_conf.batch_wait_ms);
		return -1;
	}
	ac->batch_wait_ms = inst->audit_conf.batch_wait_ms;
	if ((v = parse_enum(conf, on_failure_names, "audit { on_failure }", inst->audit_conf.on_failure)) < 0) return -1;
	ac->on_failure = (cb_audit_failure_t) v;
	if (audit_coalesce(inst, conf, ac) < 0 || audit_index_defer(inst, conf, ac) < 0) return -1;
	return audit_key(inst, conf, key);
}

/** check_audit_conf - radiusd -C: audit { }'s options checked, the trail not opened. */
static int check_audit_conf(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	cb_audit_conf_t ac = { .path = inst->audit_conf.filename };
	cb_audit_key_t key;
	int rc;

	if (!inst->audit_conf.filename || !*inst->audit_conf.filename) return 0;
	rc = audit_options(inst, conf, &ac, &key);
	if (rc == 0) cb_audit_key_wipe(&key);
	return rc;
}

/** start_audit - the audit trail, in the store's database and audit { filename }. */
static int start_audit(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *db_path)
{
	char err[512];
	char const *key_file = inst->audit_conf.hmac_key_file && *inst->audit_conf.hmac_key_file ?
			       inst->audit_conf.hmac_key_file : NULL;
	cb_audit_key_t key;
	time_t now = time(NULL);
	cb_store_conf_t db = { 0 };
	cb_audit_conf_t ac = {
		.path = inst->audit_conf.filename, .db_path = cetbyod_store_name(inst, db_path), .db_conf = &db,
		.queue_max = inst->audit_conf.queue, .syslog = inst->audit_conf.syslog, .log = cetbyod_core_log,
		.log_ctx = inst, .log_summaries = inst->log_decisions != LOG_DECISIONS_NONE,
	};

	cetbyod_store_conf(inst, db_path, &db);
	if (!inst->audit_conf.filename || !*inst->audit_conf.filename) {
		WARN("rlm_cetbyod (%s): no audit { filename }: decisions are not written to an audit trail", inst->name);
		return 0;
	}
	if (audit_options(inst, conf, &ac, &key) < 0) return -1;
	ac.key = key.len ? &key : NULL;
	inst->audit = cb_audit_open(&ac, err, sizeof(err));
	cb_audit_key_wipe(&key);
	if (!inst->audit) {
		cf_log_err_cs(conf, "Cannot open the audit trail 'audit { filename }' %s: %s", inst->audit_conf.filename, err);
		return -1;
	}
	cb_store_status_put(inst->store, CB_AUDIT_STATUS_FILE, inst->audit_conf.filename, now);
	cb_store_status_put(inst->store, CB_AUDIT_STATUS_KEY, key_file ? key_file : "", now);
	cb_store_status_put(inst->store, CB_AUDIT_STATUS_TZ, inst->timezone, now);
	return 0;
}

/** status_list - a list of names for cetbyodctl, separated by spaces (no name holds one). */
static void status_list(rlm_cetbyod_t *inst, char const *key, cb_strlist_t const *list, time_t now)
{
	char buf[1024] = "";

	for (size_t i = 0; i < list->n; i++) {
		if (i) strlcat(buf, " ", sizeof(buf));
		strlcat(buf, list->v[i], sizeof(buf));
	}
	cb_store_status_put(inst->store, key, buf, now);
}

int cetbyod_start_enforcement(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char path[4096], spool[4096], err[512], buf[16];
	cb_store_conf_t sconf = { .path = path, .create = true, .fast_sync = true, .defer_decisions = true,
				  .group_commit = true,
				  .log = cetbyod_store_log, .log_ctx = inst };
	cb_enforcer_conf_t econf = {
		.nas = NULL, .burst_limit = inst->enforce.burst_limit,
		.stale_after = inst->enforce.stale_session_after, .retry_interval = inst->enforce.retry_interval,
		.max_attempts = inst->enforce.max_attempts, .policy = &inst->pconf, .roles = &inst->roles,
		.log = cetbyod_core_log, .log_ctx = inst,
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
	cetbyod_store_conf(inst, path, &sconf);
	if (!cetbyod_store_spool(inst, CB_SPOOL_FILE, spool, sizeof(spool), &sconf)) {
		cf_log_err_cs(conf, "'state_dir' is too long");
		return -1;
	}
	if (inst->check_only) return check_audit_conf(inst, conf);
	inst->store = cb_store_open(&sconf, err, sizeof(err));
	if (!inst->store) {
		if (sconf.backend == CB_STORE_POSTGRESQL) {
			cf_log_err_cs(conf, "Cannot open the PostgreSQL state store (store { postgresql { conninfo } }): %s",
				      err);
		} else {
			cf_log_err_cs(conf, "Cannot open the state store in 'state_dir' %s: %s", inst->state_dir, err);
		}
		return -1;
	}
	if (sconf.backend == CB_STORE_POSTGRESQL) {
		INFO("rlm_cetbyod (%s): the state store is PostgreSQL (server_id '%s')", inst->name,
		     sconf.server_id ? sconf.server_id : "");
	}
	/* cetbyodctl normalises identities the way the module does. */
	status_list(inst, CB_STATUS_IDENTITY_STRIP_DOMAINS, &inst->iconf.strip_domains, now);
	status_list(inst, CB_STATUS_IDENTITY_STRIP_REALMS, &inst->iconf.strip_realms, now);
	snprintf(buf, sizeof(buf), "%u", inst->identity.max_length);
	cb_store_status_put(inst->store, CB_STATUS_IDENTITY_MAX_LENGTH, buf, now);
	snprintf(buf, sizeof(buf), "%u", inst->lconf.max_devices);
	cb_store_status_put(inst->store, CB_STATUS_LIMITS_MAX_DEVICES, buf, now);
	snprintf(buf, sizeof(buf), "%u", inst->lconf.device_window_days);
	cb_store_status_put(inst->store, CB_STATUS_LIMITS_WINDOW, buf, now);
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
	econf.metrics = inst->metrics;
	if (inst->directory == DIRECTORY_LDAP && inst->enforce.watch_interval) {
		econf.directory = cetbyod_ldap_watcher(inst);
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
