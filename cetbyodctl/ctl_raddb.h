/*
 * ctl_raddb.h - the module's configuration, read from radiusd.conf with
 * FreeRADIUS's own parser (ctl_raddb.c, the one file of cetbyodctl that
 * sees FreeRADIUS headers): what cetbyodctl takes from it.
 */
#ifndef CETBYODCTL_CTL_RADDB_H
#define CETBYODCTL_CTL_RADDB_H

#include <stddef.h>

/* Results of ctl_raddb_read. */
#define CTL_RADDB_OK		0
#define CTL_RADDB_UNREADABLE	1	/* DIR/radiusd.conf missing or unreadable. */
#define CTL_RADDB_PARSE		2	/* FreeRADIUS refused it (its message, with file[line], on stderr). */
#define CTL_RADDB_NO_MODULE	3	/* No modules { cetbyod [NAME] { } } in it. */
#define CTL_RADDB_BAD		4	/* The module's section has a bad value (err says which). */

/* What cetbyodctl takes from modules { cetbyod [NAME] { } }.  Strings are NULL when unset (""). */
typedef struct {
	char		file[4096];	/* DIR/radiusd.conf, for messages. */
	char const	*state_dir;
	char const	*backend;	/* "sqlite" or "postgresql". */
	char const	*conninfo;	/* store { postgresql { } }. */
	char const	*password_file;
	char const	*server_id;
	char const	*audit_file;	/* audit { filename } */
	char const	*audit_key_file;	/* audit { hmac_key_file } */
	char const	*class_key_file;
	char const	*timezone;
	void		*tree;		/* The parsed configuration, which the strings point into. */
} ctl_raddb_t;

/**
 * ctl_raddb_read - read DIR/radiusd.conf as radiusd -d DIR does (dictionaries,
 * $INCLUDE, ${...}), find the instance NAME of module cetbyod, and fill out.
 * Returns CTL_RADDB_OK, or another CTL_RADDB_* with err set (FreeRADIUS's
 * own parse messages go to stderr first).  Free with ctl_raddb_free, also
 * after a failure.
 */
int ctl_raddb_read(char const *dir, char const *name, ctl_raddb_t *out, char *err, size_t errlen);

/** ctl_raddb_free - the parsed configuration; NULL-safe, idempotent. */
void ctl_raddb_free(ctl_raddb_t *rc);

#endif
