/*
 * ctl_classkey.h - `cetbyodctl class-key rotate`: a new key for the keyed
 * Class (lib/store/classtok.h), the previous one kept for a grace period.
 */
#ifndef CETBYODCTL_CTL_CLASSKEY_H
#define CETBYODCTL_CTL_CLASSKEY_H

#include "ctl.h"

/** ctl_classkey_main - `class-key rotate [--file PATH] [--grace-days N]`; 0, usage or CTL_EXIT_STORE. */
int ctl_classkey_main(ctl_t *ctl, int argc, char **argv);

extern char const ctl_classkey_usage[], ctl_classkey_summary[], ctl_classkey_help[];

#endif
