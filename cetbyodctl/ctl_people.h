/*
 * ctl_people.h - cetbyodctl's commands about people: the exceptions
 * register (`exception add|list|end`) and the reports (`report
 * due|unacknowledged|devices|reminders|sharing`), in ctl_people.c; the
 * devices the module knows and `report sharing` in ctl_sharing.c.
 */
#ifndef CETBYODCTL_CTL_PEOPLE_H
#define CETBYODCTL_CTL_PEOPLE_H

#include "ctl.h"

/** ctl_exception_main - `exception add ...`, `exception list ...` or `exception end ...`. */
int ctl_exception_main(ctl_t *ctl, int argc, char **argv);

/** ctl_report_main - `report due ...`, `report unacknowledged`, `report devices ...`, `report reminders ...`. */
int ctl_report_main(ctl_t *ctl, int argc, char **argv);

/*
 *	ctl_sharing.c: `devices list|forget`, and `report sharing` (which
 *	ctl_report_main runs with its command, for the usage errors).
 */
int ctl_devices_main(ctl_t *ctl, int argc, char **argv);
int ctl_report_sharing(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv);
extern char const ctl_devices_usage[], ctl_devices_summary[], ctl_devices_help[];

/* Usage lines and help, for the dispatcher's table. */
extern char const ctl_exception_usage[], ctl_exception_summary[], ctl_exception_help[];
extern char const ctl_report_usage[], ctl_report_summary[], ctl_report_help[];

#endif
