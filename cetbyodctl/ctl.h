/*
 * ctl.h - what the files of cetbyodctl share: the run context, exit codes,
 * argument checks, and the output helpers (aligned tables, JSON, times).
 *
 * cetbyodctl.c parses the global options and dispatches; ctl_cmds.c holds
 * one function per command; ctl_out.c formats.  Nothing here keeps state
 * between runs: everything lives in the store.
 */
#ifndef CETBYODCTL_CTL_H
#define CETBYODCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "core/identity.h"
#include "store/store.h"
#include "core/tz.h"

#include "ctl_raddb.h"

/* Exit codes: documented in --help and cetbyodctl(8); scripts rely on them. */
#define CTL_EXIT_OK		0	/* Done. */
#define CTL_EXIT_USAGE		1	/* Bad command, option or argument; nothing was changed. */
#define CTL_EXIT_NOT_FOUND	2	/* Not found or nothing to do; nothing was changed. */
#define CTL_EXIT_STORE		3	/* The store could not be opened, read or written; nothing was changed. */
#define CTL_EXIT_ATTENTION	4	/* status: something needs an admin (held, failing, radiusd down);
					 * audit verify: keyed records not authenticated (no key), or the
					 * store's copy lacks records of the files. */

#define CTL_EXIT_UNREACHABLE	6	/* The PostgreSQL store cannot be reached now; nothing was changed (5 is
					 * audit verify's CTL_EXIT_AUDIT_BROKEN). */

#define CTL_EXIT_CONFIG		7	/* --raddb (or the installed configuration): radiusd.conf unreadable,
					 * refused by FreeRADIUS's parser, without the module, or the module's
					 * store settings unusable; nothing was changed. */

#define CTL_STATE_PATH_MAX	4096
#define CTL_BUSY_TIMEOUT_MS	30000	/* How long a command waits while radiusd (or another) writes the store. */
#define CTL_BUSY_NOTE_MS	1000	/* ... and says so on stderr once it has waited this long. */
#define CTL_HELP_SHOWN		(-1)	/* ctl_parse printed the command's help: exit 0. */

/* The run: options, the open store, and the clock. */
typedef struct {
	char const		*prog;		/* "cetbyodctl", for messages. */
	char const		*state_dir;	/* NULL with --db. */
	char			db[CTL_STATE_PATH_MAX];
	char const		*pg_conninfo;	/* --store-conninfo: the PostgreSQL store instead of db. */
	char			pg_password[1025]; /* --store-password-file's first line; "" when none. */
	char const		*server_id;	/* audit verify --server (or the module's server_id): the server
						 * whose index rows are compared. */
	char const		*raddb;		/* --raddb DIR: the module's configuration, as radiusd -d DIR. */
	char const		*module;	/* --module NAME: its instance (default cetbyod). */
	ctl_raddb_t		conf;		/* What was read from it; conf.tree NULL when nothing was. */
	bool			json;
	cb_store_t		*store;		/* Opened by ctl_open. */
	cb_identity_conf_t	iconf;		/* As the module normalises (from the store's status). */
	time_t			now;
} ctl_t;

/* One option a command accepts: --name, or --name VALUE / --name=VALUE. */
typedef struct {
	char const	*name;		/* Without the dashes. */
	char const	**value;	/* Set for an option with a value; NULL for a flag. */
	bool		*flag;		/* Set for a flag. */
} ctl_opt_t;

/* A command. */
typedef struct {
	char const	*name;
	char const	*usage;		/* "revoke USER --reason TEXT [--by NAME]" */
	char const	*summary;	/* One line. */
	char const	*help;		/* The rest of `help COMMAND`. */
	bool		writes;		/* Creates the store when missing. */
	int		(*run)(ctl_t *ctl, int argc, char **argv);	/* NULL: help, which main handles. */
} ctl_cmd_t;

extern ctl_cmd_t const ctl_cmds[];
ctl_cmd_t const *ctl_cmd_find(char const *name);

/*
 *	cetbyodctl.c
 */

/** ctl_err - "cetbyodctl: ..." on stderr (and {"error": ...} on stdout with --json); returns code. */
int ctl_err(ctl_t *ctl, int code, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/** ctl_usage_err - a usage error naming the command's usage line; returns CTL_EXIT_USAGE. */
int ctl_usage_err(ctl_t *ctl, ctl_cmd_t const *cmd, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/**
 * ctl_parse - split argv into the options in opts (and --json, which every
 * command takes) and positional arguments (written to pos, at most npos;
 * *n gets how many).  Returns 0; CTL_HELP_SHOWN after printing the
 * command's help for -h/--help; or a usage error (reported) for an unknown
 * option, a missing value, a repeated option or too many arguments.
 */
int ctl_parse(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv, ctl_opt_t const *opts,
	      char **pos, size_t npos, size_t *n);

/**
 * ctl_open - open the store (creating it for commands that write) and
 * read how the module normalises identities.  Returns 0, or
 * CTL_EXIT_STORE (reported).
 */
int ctl_open(ctl_t *ctl, bool create);
/** ctl_store_name - the store as messages name it: its SQLite path, or PostgreSQL's database, host and port. */
char const *ctl_store_name(ctl_t const *ctl);

/** ctl_store_conf - the store the options name (SQLite ctl->db, or PostgreSQL), no log: for a second handle. */
cb_store_conf_t ctl_store_conf(ctl_t const *ctl);

/*
 *	Argument checks: each returns 0, or CTL_EXIT_USAGE with a message.
 */

/** ctl_identity - normalise arg as the module does, into out (CB_IDENTITY_MAX + 1). */
int ctl_identity(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, char *out);

/** ctl_text - a reason or name: 1..max bytes of UTF-8 without control characters. */
int ctl_text(ctl_t *ctl, ctl_cmd_t const *cmd, char const *what, char const *arg, size_t max);

/** ctl_when_effective - one sentence: when a running module acts on what was just written ("disconnects them"). */
void ctl_when_effective(ctl_t *ctl, char const *what);

/** ctl_tz - --tz (arg), else the module's timezone (--raddb), else its zone (status module.timezone), else Europe/London. */
int ctl_tz(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, cb_tz_t **tz);

/**
 * ctl_when - a TIME argument of option opt: RFC 3339, or local "YYYY-MM-DD
 * HH:MM" or "YYYY-MM-DD" in tz.  *end gets the last second of the period
 * it names (the minute, the day), else *t.
 */
int ctl_when(ctl_t *ctl, ctl_cmd_t const *cmd, char const *opt, char const *arg, cb_tz_t const *tz, time_t *t,
	     time_t *end);

/** ctl_count - a decimal in [min, max] without sign, spaces or junk, for option opt. */
int ctl_count(ctl_t *ctl, ctl_cmd_t const *cmd, char const *opt, char const *arg, unsigned long min,
	      unsigned long max, unsigned long *out);

/** ctl_by - who is acting: --by, else $SUDO_USER, $USER, $LOGNAME, the login name, "uid:N". */
int ctl_by(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, char *out, size_t len);

/*
 *	ctl_out.c
 */

/** ctl_safe - s for a terminal: control characters and invalid UTF-8 as \xNN.  Returns out. */
char const *ctl_safe(char const *s, char *out, size_t outlen);
#define CTL_SAFE_LEN(n)	(4 * (n) + 1)

/** ctl_time - "2026-09-01T08:00:00Z", or "-" for 0.  Returns buf (>= 32 bytes). */
char const *ctl_time(time_t t, char *buf, size_t len);

/** ctl_age - "12 s", "5 min", "3 h", "2 d" between t and now.  Returns buf. */
char const *ctl_age(time_t t, time_t now, char *buf, size_t len);

/** ctl_bytes - "1.5 GiB".  Returns buf. */
char const *ctl_bytes(uint64_t n, char *buf, size_t len);

/** ctl_parse_time - a status value holding decimal UTC seconds; 0 when empty or not a number. */
time_t ctl_parse_time(char const *s);

/* An aligned table, printed at once so that columns fit their widest cell. */
typedef struct ctl_table ctl_table_t;

ctl_table_t *ctl_table_new(size_t ncols, char const *const *headers);
/** ctl_table_row - append a row of ncols cells (copied, made safe).  -1 on allocation failure. */
int ctl_table_row(ctl_table_t *t, char const *const *cells);
void ctl_table_print(ctl_table_t const *t, FILE *fp, char const *indent);
void ctl_table_free(ctl_table_t *t);

/* JSON values from store records.  Strings are made valid UTF-8; times of 0 are null. */
json_object *ctl_jstr(char const *s);
json_object *ctl_jtime(time_t t);
json_object *ctl_jsession(cb_store_session_t const *s);
json_object *ctl_jdisconnect(cb_store_disconnect_t const *d);
json_object *ctl_jrevocation(cb_store_revocation_t const *r);

/** ctl_print_json - print obj on stdout (pretty) and drop it.  Returns CTL_EXIT_OK. */
int ctl_print_json(json_object *obj);

/** ctl_sessions_table / ctl_disconnects_table - print a list as an aligned table. */
int ctl_sessions_table(ctl_t *ctl, cb_store_sessions_t const *list, char const *indent);
int ctl_disconnects_table(ctl_t *ctl, cb_store_disconnects_t const *list, char const *indent);
int ctl_revocations_table(ctl_t *ctl, cb_store_revocations_t const *list, char const *indent);

#endif
