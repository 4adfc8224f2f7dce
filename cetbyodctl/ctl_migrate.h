/*
 * ctl_migrate.h - `cetbyodctl migrate`: the SQLite store moved into a
 * PostgreSQL store (lib/store/copy.c does the copy).
 */
#ifndef CETBYODCTL_CTL_MIGRATE_H
#define CETBYODCTL_CTL_MIGRATE_H

#include "ctl.h"

/** ctl_migrate_main - `migrate --to URI|CONNINFO [--password-file F] [--server-id ID] [--replace]`. */
int ctl_migrate_main(ctl_t *ctl, int argc, char **argv);

extern char const ctl_migrate_usage[], ctl_migrate_summary[], ctl_migrate_help[];

#endif
