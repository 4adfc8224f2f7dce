/*
 * ctl_people.h - cetbyodctl's commands about people: the exceptions
 * register (`exception add|list|end`) and the reports (`report
 * due|unacknowledged|devices|reminders`), in ctl_people.c.
 */
#ifndef CETBYODCTL_CTL_PEOPLE_H
#define CETBYODCTL_CTL_PEOPLE_H

#include "ctl.h"

/** ctl_exception_main - `exception add ...`, `exception list ...` or `exception end ...`. */
int ctl_exception_main(ctl_t *ctl, int argc, char **argv);

/** ctl_report_main - `report due ...`, `report unacknowledged`, `report devices ...`, `report reminders ...`. */
int ctl_report_main(ctl_t *ctl, int argc, char **argv);

/* Usage lines and help, for the dispatcher's table. */
extern char const ctl_exception_usage[], ctl_exception_summary[], ctl_exception_help[];
extern char const ctl_report_usage[], ctl_report_summary[], ctl_report_help[];

#endif
