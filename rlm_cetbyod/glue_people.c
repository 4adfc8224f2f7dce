/*
 * glue_people.c - the module glue for the list of people and the reminder
 * emails: the reports { } and reminders { } sections, checked at start-up
 * with messages that name the option (the daily sharing summary to IT,
 * reports { sharing_summary_to }, needs the reminders' mail relay), and the thread (people.c) started
 * and stopped with the module.
 */
#include "rlm_cetbyod.h"

#include <freeradius-devel/rad_assert.h>

#include "people/people.h"

const CONF_PARSER cetbyod_reports_config[] = {
	{ "refresh_interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, reports.refresh_interval), "3600" },
	{ "sharing_summary_to", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reports.sharing_summary_to), "" },
	{ "sharing_summary_hour", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, reports.sharing_summary_hour), "7" },
	CONF_PARSER_TERMINATOR
};

const CONF_PARSER cetbyod_reminders_config[] = {
	{ "enabled", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, reminders.enabled), "no" },
	{ "dry_run", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, reminders.dry_run), "no" },
	{ "windows", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.windows), "30, 7, 1" },
	{ "per_minute", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, reminders.per_minute), "30" },
	{ "template", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.template_file), "" },
	{ "school", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.school), "" },
	{ "smtp_url", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.smtp_url), "" },
	{ "smtp_username", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.smtp_username), "" },
	{ "smtp_password", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_SECRET, rlm_cetbyod_t, reminders.smtp_password), "" },
	{ "from", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.from), "" },
	{ "from_name", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.from_name), "" },
	{ "ca_file", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, reminders.ca_file), "" },
	{ "require_tls", FR_CONF_OFFSET(PW_TYPE_BOOLEAN, rlm_cetbyod_t, reminders.require_tls), "yes" },
	{ "timeout", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, reminders.timeout), "30" },
	CONF_PARSER_TERMINATOR
};

/** parse_windows - "30, 7, 1" into days; -1 (logged) on anything else. */
static int parse_windows(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_reminders_conf_t *rc)
{
	char const *p = inst->reminders.windows;

	rc->num_windows = 0;
	while (p && *p) {
		char *end;
		unsigned long days;

		while (*p == ' ' || *p == ',') p++;
		if (!*p) break;
		days = strtoul(p, &end, 10);
		if (end == p || days < 1 || days > 366 || rc->num_windows == CB_PEOPLE_MAX_WINDOWS ||
		    (*end && *end != ',' && *end != ' ')) {
			cf_log_err_cs(conf, "Invalid value \"%s\" for 'reminders { windows }': accepted values are up to "
				      "%d numbers of days from 1 to 366, separated by commas (e.g. \"30, 7, 1\")",
				      inst->reminders.windows, CB_PEOPLE_MAX_WINDOWS);
			return -1;
		}
		rc->windows[rc->num_windows++] = (unsigned int) days;
		p = end;
	}
	if (!rc->num_windows) {
		cf_log_err_cs(conf, "'reminders { windows }' is empty: give the days before the lapse, e.g. \"30, 7, 1\"");
		return -1;
	}
	return 0;
}

/** check_template - load reminders { template } and render it once, so a bad one stops start-up. */
static int check_template(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_reminders_conf_t *rc)
{
	static cb_mail_var_t const sample[] = {
		{ "name", "x" }, { "identity", "x" }, { "email", "x@example.org" }, { "expires", "x" }, { "days", "1" },
		{ "window", "1" }, { "form_url", "x" }, { "school", "x" },
	};
	char err[512], *text = NULL, *subject = NULL, *body = NULL;

	if (!inst->reminders.template_file || !*inst->reminders.template_file) {
		cf_log_err_cs(conf, "'reminders { template }' must name the template file (see "
			      "mods-config/cetbyod/reminder.txt)");
		return -1;
	}
	if (cb_mail_template_load(inst->reminders.template_file, &text, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'reminders { template }' %s: %s", inst->reminders.template_file, err);
		return -1;
	}
	if (cb_mail_render(text, sample, sizeof(sample) / sizeof(sample[0]), &subject, &body, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'reminders { template }' %s: %s", inst->reminders.template_file, err);
		free(text);
		return -1;
	}
	free(subject);
	free(body);
	inst->reminders.template_text = talloc_strdup(inst, text);
	free(text);
	rc->template_text = inst->reminders.template_text;
	return rc->template_text ? 0 : -1;
}

static int reminders_conf(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_reminders_conf_t *rc)
{
	char err[512];

	memset(rc, 0, sizeof(*rc));
	rc->enabled = inst->reminders.enabled;
	if (!rc->enabled) return 0;
	rc->dry_run = inst->reminders.dry_run;
	rc->per_minute = inst->reminders.per_minute;
	rc->form_url = inst->form_url;
	rc->school = inst->reminders.school;
	rc->mail = (cb_mail_conf_t) {
		.url = inst->reminders.smtp_url, .username = inst->reminders.smtp_username,
		.password = inst->reminders.smtp_password, .from = inst->reminders.from,
		.from_name = inst->reminders.from_name, .ca_file = inst->reminders.ca_file,
		.require_tls = inst->reminders.require_tls, .timeout_ms = inst->reminders.timeout * 1000,
	};
	if (parse_windows(inst, conf, rc) < 0 || check_template(inst, conf, rc) < 0) return -1;
	if (inst->reminders.timeout < 1 || inst->reminders.timeout > CB_MAIL_MAX_TIMEOUT_MS / 1000) {
		cf_log_err_cs(conf, "Invalid value %u for 'reminders { timeout }': accepted values are 1 to %d (seconds)",
			      inst->reminders.timeout, CB_MAIL_MAX_TIMEOUT_MS / 1000);
		return -1;
	}
	if (!rc->dry_run && cb_mail_conf_check(&rc->mail, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'reminders { }': %s", err);
		return -1;
	}
	return 0;
}

/** summary_conf - reports { sharing_summary_to, sharing_summary_hour }: valid, and a relay to send through. */
static int summary_conf(rlm_cetbyod_t *inst, CONF_SECTION *conf, cb_people_conf_t *pc)
{
	char const *to = inst->reports.sharing_summary_to;
	char err[512];

	if (inst->reports.sharing_summary_hour > 23) {
		cf_log_err_cs(conf, "Invalid value %u for 'reports { sharing_summary_hour }': accepted values are 0 to 23 "
			      "(the local hour from which the day's summary is sent)", inst->reports.sharing_summary_hour);
		return -1;
	}
	if (!to || !*to) return 0;
	if (cb_mail_address_check(to, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'reports { sharing_summary_to }': %s", err);
		return -1;
	}
	if (!pc->reminders.enabled || !inst->reminders.smtp_url || !*inst->reminders.smtp_url ||
	    !inst->reminders.from || !*inst->reminders.from) {
		cf_log_err_cs(conf, "'reports { sharing_summary_to }' needs the reminders' mail relay: set reminders { "
			      "enabled = yes, smtp_url, from } (the summary is sent through it), or remove "
			      "sharing_summary_to");
		return -1;
	}
	if (pc->reminders.dry_run && cb_mail_conf_check(&pc->reminders.mail, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'reminders { }' (needed by 'reports { sharing_summary_to }'): %s", err);
		return -1;
	}
	pc->sharing_summary_to = to;
	pc->sharing_summary_hour = inst->reports.sharing_summary_hour;
	return 0;
}

int cetbyod_people_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[512];
	cb_people_conf_t pc = {
		.store = inst->store, .audit = inst->audit, .acks = inst->acks, .policy = &inst->pconf, .roles = &inst->roles,
		.email_domain = inst->email_domain && *inst->email_domain ? inst->email_domain : NULL,
		.refresh_interval = inst->reports.refresh_interval, .log = cetbyod_core_log, .log_ctx = inst,
	};

	if (reminders_conf(inst, conf, &pc.reminders) < 0 || summary_conf(inst, conf, &pc) < 0) return -1;
	if (inst->check_only) return 0;		/* radiusd -C: the store is not opened. */
	if (!inst->store) {
		if (pc.reminders.enabled) {
			cf_log_err_cs(conf, "'reminders { enabled = yes }' needs 'state_dir' (reminders sent are "
				      "remembered in the state store)");
			return -1;
		}
		return 0;
	}
	if (inst->reports.refresh_interval < 5) {
		cf_log_err_cs(conf, "Invalid value %u for 'reports { refresh_interval }': accepted values are 5 and "
			      "more (seconds)", inst->reports.refresh_interval);
		return -1;
	}
	if (inst->directory == DIRECTORY_LDAP) pc.ldap = cetbyod_ldap_core_conf(inst);
	/* Its own connection: writing the list must not hold up the request threads' store. */
	inst->people_store = cetbyod_store_connection(inst, conf, "the list of people", NULL);
	if (!inst->people_store) return -1;
	pc.store = inst->people_store;
	inst->people = cb_people_start(&pc, err, sizeof(err));
	if (!inst->people) {
		cf_log_err_cs(conf, "Cannot start the list of people and reminders: %s", err);
		return -1;
	}
	return 0;
}

void cetbyod_people_stop(rlm_cetbyod_t *inst)
{
	cb_people_stop(inst->people);
	inst->people = NULL;
	cb_store_close(inst->people_store);
	inst->people_store = NULL;
}
