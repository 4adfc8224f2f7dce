/*
 * ctl_audit.h - cetbyodctl's audit trail commands: `audit verify`, `audit
 * query`, `export --person` and `purge --older-than` (ctl_audit.c).
 *
 * Each is a ctl_cmd_t run function: the dispatcher's table in ctl_cmds.c
 * names them (see CTL_AUDIT_CMDS below).
 */
#ifndef CETBYODCTL_CTL_AUDIT_H
#define CETBYODCTL_CTL_AUDIT_H

#include "ctl.h"

/* Exit code of `audit verify` when the chain is broken (documented in its help). */
#define CTL_EXIT_AUDIT_BROKEN	5

/** ctl_audit_main - `audit verify ...` or `audit query ...`. */
int ctl_audit_main(ctl_t *ctl, int argc, char **argv);

/** ctl_export_main - `export --person USER`: everything held about one person, as JSON. */
int ctl_export_main(ctl_t *ctl, int argc, char **argv);

/** ctl_purge_main - `purge --older-than DAYS`: the retention purge of the store and the audit table. */
int ctl_purge_main(ctl_t *ctl, int argc, char **argv);

/* Usage lines and help, for the dispatcher's table. */
extern char const ctl_audit_usage[], ctl_audit_summary[], ctl_audit_help[];
extern char const ctl_export_usage[], ctl_export_summary[], ctl_export_help[];
extern char const ctl_purge_usage[], ctl_purge_summary[], ctl_purge_help[];

#endif
