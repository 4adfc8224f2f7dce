/*
 * glue_metrics.c - metrics { filename, interval }: the module's counters
 * (lib/core/metrics.h) and, when filename is set, the thread that writes
 * them with the sync's and the audit trail's status as Prometheus text for
 * node_exporter's textfile collector.  The request path, the enforcer and
 * the store's log only increment counters; formatting and the file are the
 * writer thread's.
 */
#include <stdarg.h>

#include "rlm_cetbyod.h"

const CONF_PARSER cetbyod_metrics_config[] = {
	{ "filename", FR_CONF_OFFSET(PW_TYPE_STRING, rlm_cetbyod_t, metrics_conf.filename), "" },
	{ "interval", FR_CONF_OFFSET(PW_TYPE_INTEGER, rlm_cetbyod_t, metrics_conf.interval), "30" },
	CONF_PARSER_TERMINATOR
};

void cetbyod_store_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	rlm_cetbyod_t const *inst = uctx;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == CB_LOG_ERROR) cb_metrics_store_error(inst->metrics);
	cetbyod_core_log(uctx, level, "%s", msg);
}

int cetbyod_metrics_init(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	inst->metrics = talloc_zero(inst, cb_metrics_t);
	if (!inst->metrics) {
		cf_log_err_cs(conf, "Out of memory");
		return -1;
	}
	return 0;
}

/** collect - the writer's view: the counters, the sync's status, the audit trail's, the store's queue. */
static void collect(void *ctx, cb_metrics_view_t *v)
{
	rlm_cetbyod_t *inst = ctx;
	cb_sync_status_t st;
	cb_audit_stats_t as;
	cb_store_counts_t c;

	cb_metrics_snapshot(inst->metrics, v);
	if (inst->sync) {
		cb_sync_status(inst->sync, &st);
		v->has_sync = true;
		v->sync_source = inst->source_name;
		v->sync_last_success = st.last_success;
		v->sync_last_attempt = st.last_attempt;
		v->sync_ok = st.last_error[0] == '\0';
		v->sync_held = st.held;
		v->sync_held_kind = st.held ? cb_sync_hold_name(st.held_kind) : NULL;
	}
	if (inst->audit) {
		cb_audit_stats(inst->audit, &as);
		v->has_audit = true;
		v->audit_queued = as.queued;
		v->audit_dropped = as.dropped;
		v->audit_refused = as.refused;
		v->audit_failing = as.failing;
		v->audit_index_lag = as.index_lag;
		v->audit_index_lag_ms = as.index_lag_ms;
	}
	if (inst->store && cb_store_counts(inst->store, &c) == 0) {
		v->has_disc_queue = true;
		v->disc_pending = c.disc_pending;
		v->disc_held = c.disc_held;
		v->disc_failed = c.disc_failed;
	}
}

int cetbyod_metrics_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[512];
	char const *path = inst->metrics_conf.filename;

	if (!path || !path[0]) return 0;
	if (path[0] != '/') {
		cf_log_err_cs(conf, "Invalid 'metrics { filename }' \"%s\": give an absolute path, e.g. "
			      "/var/lib/prometheus/node-exporter/cetbyod.prom", path);
		return -1;
	}
	if (inst->metrics_conf.interval < CB_METRICS_INTERVAL_MIN || inst->metrics_conf.interval > CB_METRICS_INTERVAL_MAX) {
		cf_log_err_cs(conf, "Invalid 'metrics { interval }' %u: accepted values are %d to %d seconds",
			      inst->metrics_conf.interval, CB_METRICS_INTERVAL_MIN, CB_METRICS_INTERVAL_MAX);
		return -1;
	}
	if (!cb_metrics_check_dir(path, err, sizeof(err))) {
		cf_log_err_cs(conf, "Invalid 'metrics { filename }' %s: %s (the directory must exist and be writable "
			      "by radiusd)", path, err);
		return -1;
	}
	if (inst->check_only) return 0;
	inst->metrics_writer = cb_metrics_writer_start(path, inst->metrics_conf.interval, collect, inst,
						       cetbyod_core_log, inst, err, sizeof(err));
	if (!inst->metrics_writer) {
		cf_log_err_cs(conf, "Cannot start the metrics writer: %s", err);
		return -1;
	}
	DEBUG2("rlm_cetbyod (%s): metrics written to %s every %u s", inst->name, path, inst->metrics_conf.interval);
	return 0;
}

void cetbyod_metrics_stop(rlm_cetbyod_t *inst)
{
	cb_metrics_writer_stop(inst->metrics_writer);
	inst->metrics_writer = NULL;
}
