/*
 * ctl_metrics.c - `cetbyodctl metrics`: the figures the store holds, in the
 * text format node_exporter's textfile collector reads (lib/core/metrics.h),
 * so that monitoring works without the module's metrics { filename }.
 *
 * From the store: decisions by status and reason and disconnect attempts by
 * outcome (counted in the audit index, so since the retention purge, not
 * since radiusd started), the sync's status keys (age, last outcome, held),
 * the audit trail's (queued, dropped, refused, failing; as the module last
 * wrote them) and the disconnect queue by state.  Store and directory
 * errors are the running module's counters only: the textfile has them,
 * this command does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "ctl_metrics.h"

char const ctl_metrics_usage[] = "metrics";
char const ctl_metrics_summary[] = "print the module's health in Prometheus's text format";
char const ctl_metrics_help[] =
	"Prints, in Prometheus's text format (0.0.4), what the store records of\n"
	"the module's health: decisions by status and reason and disconnect\n"
	"attempts by outcome (counted in the audit index, so since the last\n"
	"retention purge), the sync's age, last outcome and held state, the audit\n"
	"queue, dropped and refused records, and disconnects pending, held and\n"
	"failed.  Store and directory error counts are only in the module's\n"
	"metrics { filename } file.  For node_exporter's textfile collector, e.g.\n"
	"  cetbyodctl metrics > /var/lib/prometheus/node-exporter/cetbyod.prom.$$ &&\n"
	"  mv /var/lib/prometheus/node-exporter/cetbyod.prom.$$ .../cetbyod.prom\n";

/** tally_decision - one (status, reason) group of the index into the view; unknown names are left out. */
static void tally_decision(void *ctx, char const *status, char const *reason, uint64_t n)
{
	cb_metrics_view_t *v = ctx;
	int r = cb_reason_from_name(reason);

	if (r < 0 || r >= CB_REASON_MAX) return;
	for (unsigned int s = 0; s < CB_METRICS_STATUSES; s++) {
		if (strcmp(cb_status_name((cb_status_t) s), status) == 0) v->decisions[s][r] += n;
	}
}

static void tally_disconnect(void *ctx, char const *result, char const *unused, uint64_t n)
{
	cb_metrics_view_t *v = ctx;

	(void) unused;
	for (unsigned int d = 0; d < CB_METRICS_DISC_MAX; d++) {
		if (strcmp(cb_metrics_disc_name((cb_metrics_disc_t) d), result) == 0) v->disconnects[d] += n;
	}
}

/** status_u64 - a status key holding a count; 0 when unset or not a count. */
static uint64_t status_u64(ctl_t *ctl, char const *key)
{
	char buf[CB_STORE_VALUE_MAX + 1], *end;
	unsigned long long n;

	if (cb_store_status_get(ctl->store, key, buf, sizeof(buf), NULL) != 0 || !buf[0]) return 0;
	n = strtoull(buf, &end, 10);
	return *end || buf[0] == '-' ? 0 : (uint64_t) n;
}

/** status_str - a status key into buf ("" when unset). */
static char const *status_str(ctl_t *ctl, char const *key, char *buf, size_t len)
{
	if (cb_store_status_get(ctl->store, key, buf, len, NULL) != 0) buf[0] = '\0';
	return buf;
}

static int collect(ctl_t *ctl, cb_metrics_view_t *v, char *source, char *held_kind, size_t len)
{
	char buf[CB_STORE_VALUE_MAX + 1];
	cb_store_counts_t c;

	v->now = ctl->now;
	if (cb_store_audit_tally(ctl->store, "decision", tally_decision, v) < 0 ||
	    cb_store_audit_tally(ctl->store, "disconnect", tally_disconnect, v) < 0 ||
	    cb_store_counts(ctl->store, &c) < 0) {
		return -1;
	}
	v->has_decisions = v->has_disconnects = v->has_disc_queue = true;
	v->disc_pending = c.disc_pending;
	v->disc_held = c.disc_held;
	v->disc_failed = c.disc_failed;

	v->has_sync = true;
	v->sync_source = status_str(ctl, CB_STATUS_SOURCE, source, len);
	v->sync_last_success = cb_store_status_time(ctl->store, CB_STATUS_SYNC_SUCCESS);
	v->sync_last_attempt = cb_store_status_time(ctl->store, CB_STATUS_SYNC_ATTEMPT);
	v->sync_ok = status_str(ctl, CB_STATUS_SYNC_ERROR, buf, sizeof(buf))[0] == '\0';
	v->sync_held = status_str(ctl, CB_STATUS_SYNC_HELD, buf, sizeof(buf))[0] != '\0';
	v->sync_held_kind = status_str(ctl, CB_STATUS_SYNC_HELD_KIND, held_kind, len);

	v->has_audit = true;
	v->audit_queued = status_u64(ctl, CB_STATUS_AUDIT_QUEUED);
	v->audit_dropped = status_u64(ctl, CB_STATUS_AUDIT_DROPPED);
	v->audit_refused = status_u64(ctl, CB_STATUS_AUDIT_REFUSED);
	v->audit_index_lag = status_u64(ctl, CB_STATUS_AUDIT_INDEX_LAG);
	v->audit_index_lag_ms = status_u64(ctl, CB_STATUS_AUDIT_INDEX_LAG_MS);
	v->audit_failing = strcmp(status_str(ctl, CB_STATUS_AUDIT_FAILING, buf, sizeof(buf)), "yes") == 0;
	return 0;
}

int ctl_metrics_main(ctl_t *ctl, int argc, char **argv)
{
	cb_metrics_view_t v = { 0 };
	char source[CB_STORE_VALUE_MAX + 1], held_kind[CB_STORE_VALUE_MAX + 1];
	char *text;
	size_t n;
	int rc, len;

	rc = ctl_parse(ctl, ctl_cmd_find("metrics"), argc, argv, NULL, NULL, 0, &n);
	if (rc) return rc;
	rc = ctl_open(ctl, false);
	if (rc) return rc;
	if (collect(ctl, &v, source, held_kind, sizeof(source)) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "cannot read the store %s", ctl->db);
	}
	text = malloc(CB_METRICS_TEXT_MAX);
	if (!text) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	len = cb_metrics_format(&v, text, CB_METRICS_TEXT_MAX);
	if (len < 0) {
		free(text);
		return ctl_err(ctl, CTL_EXIT_STORE, "the metrics text is over %d bytes", CB_METRICS_TEXT_MAX);
	}
	fwrite(text, 1, (size_t) len, stdout);
	free(text);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_STORE;
}
