/*
 * ctl_metrics.h - `cetbyodctl metrics`: the module's health in Prometheus's
 * text format, from the store (ctl_metrics.c; the format is lib/core/metrics.c).
 */
#ifndef CETBYODCTL_CTL_METRICS_H
#define CETBYODCTL_CTL_METRICS_H

#include "ctl.h"

/** ctl_metrics_main - `metrics`: print the text; 0, or CTL_EXIT_STORE. */
int ctl_metrics_main(ctl_t *ctl, int argc, char **argv);

extern char const ctl_metrics_usage[], ctl_metrics_summary[], ctl_metrics_help[];

#endif
