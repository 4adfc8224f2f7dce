/*
 * cetbyodctl.c - the IT admin's command line: global options, argument
 * checks, help, and dispatch to the commands in ctl_cmds.c.
 *
 *   cetbyodctl [--state-dir DIR | --db FILE] [--json] COMMAND [ARGS]
 *
 * It works only through the store (lib/store/store.c), so it needs no
 * running radiusd: what it writes (a revocation, a command) is picked up by
 * a running module within a second, or by the module when it starts.
 *
 * Every argument is checked before anything is written: identities as the
 * module checks them (cb_identity_normalise, with the module's settings
 * read from the store), reasons and names bounded and free of control
 * characters.  A bad argument exits 1 with a message naming it; a value
 * shown back is escaped so that it cannot drive the terminal.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/tz.h"

#include "ctl.h"

#define DEFAULT_TZ	"Europe/London"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static char const global_usage[] =
	"Usage: cetbyodctl [--raddb DIR [--module NAME]]\n"
	"                  [--state-dir DIR | --db FILE | --store postgresql://... [--store-password-file FILE]]\n"
	"                  [--json] COMMAND [ARGUMENTS]\n";

static char const global_help[] =
	"\n"
	"The IT admin's command line for cetbyod (staff BYOD Wi-Fi, FreeRADIUS).\n"
	"It reads and writes the module's state store; radiusd need not be running.\n"
	"\n"
	"Options:\n"
	"  --raddb DIR      read the module's configuration as radiusd -d DIR does\n"
	"                   (DIR/radiusd.conf, its $INCLUDEs and ${...}; default\n"
	"                   " CTL_RADDB_DEFAULT " when its mods-enabled/ holds cetbyod):\n"
	"                   its state_dir, store { } (backend, postgresql { conninfo,\n"
	"                   password_file, server_id }), audit { filename,\n"
	"                   hmac_key_file }, class_key_file and timezone.  The store\n"
	"                   options below win over it; without either, the store is\n"
	"                   " CB_STORE_DEFAULT_DIR "\n"
	"  --module NAME    the module instance in it: modules { cetbyod NAME { } }\n"
	"                   (default cetbyod)\n"
	"  --state-dir DIR  the module's state directory (default " CB_STORE_DEFAULT_DIR ");\n"
	"                   the store is DIR/" CB_STORE_FILE "\n"
	"  --db FILE        the store file itself, instead of --state-dir\n"
	"  --store postgresql://USER@HOST:PORT/DB?OPTIONS\n"
	"                   the PostgreSQL store (store { backend = postgresql }): the\n"
	"                   module's store { postgresql { conninfo } } as a URI\n"
	"  --store-conninfo CONNINFO\n"
	"                   the same, as a libpq string (host=... port=... dbname=...) or URI\n"
	"  --store-password-file FILE\n"
	"                   its password, the first line of FILE (never on the command line)\n"
	"  --json           print JSON on stdout instead of tables (any command)\n"
	"  -h, --help       this help; `cetbyodctl help COMMAND` for one command\n"
	"  --version        print the version\n"
	"\n"
	"Exit codes:\n"
	"  0  done\n"
	"  1  usage error: bad command, option or argument (nothing was changed)\n"
	"  2  not found or nothing to do (nothing was changed)\n"
	"  3  the store could not be opened, read or written (nothing was changed)\n"
	"  4  status: something needs attention (held disconnects or sync,\n"
	"     a disconnect not enforced, a sync error, a store that cannot be\n"
	"     written, radiusd not running); audit verify: keyed records could\n"
	"     not be authenticated (no key), or the store's copy lacks records\n"
	"     the files hold\n"
	"  5  audit verify only: the audit chain is broken (an altered, removed\n"
	"     or reordered record)\n"
	"  6  the PostgreSQL store cannot be reached now: nothing was changed (a\n"
	"     revocation was NOT recorded: run it again when the database is back)\n"
	"  7  the module's configuration (--raddb, or the installed one) cannot be\n"
	"     used: radiusd.conf unreadable, refused by FreeRADIUS's parser (its\n"
	"     message names the file and line), no cetbyod module in it, or its store\n"
	"     settings incomplete (nothing was changed)\n"
	"\n"
	"See cetbyodctl(8).\n";

static void store_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** store_log - the store's complaints, on stderr. */
static void store_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	ctl_t *ctl = uctx;
	va_list ap;

	if (level < CB_LOG_WARN) return;
	fprintf(stderr, "%s: %s", ctl->prog, level == CB_LOG_WARN ? "warning: " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/** vreport - the message on stderr, and as {"error": ...} on stdout with --json. */
static void vreport(ctl_t *ctl, int code, char const *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vreport(ctl_t *ctl, int code, char const *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s\n", ctl->prog, msg);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error", ctl_jstr(msg));
		json_object_object_add(o, "exit", json_object_new_int(code));
		ctl_print_json(o);
	}
}

int ctl_err(ctl_t *ctl, int code, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctl, code, fmt, ap);
	va_end(ap);
	return code;
}

int ctl_usage_err(ctl_t *ctl, ctl_cmd_t const *cmd, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctl, CTL_EXIT_USAGE, fmt, ap);
	va_end(ap);
	if (cmd) {
		fprintf(stderr, "usage: %s %s\n", ctl->prog, cmd->usage);
	} else {
		fputs(global_usage, stderr);
	}
	fprintf(stderr, "Try '%s help%s%s'.\n", ctl->prog, cmd ? " " : "", cmd ? cmd->name : "");
	return CTL_EXIT_USAGE;
}

/** show - a user-supplied string made safe for a message (static buffer: one per message). */
static char const *show(char const *s)
{
	static char buf[CTL_SAFE_LEN(256)];
	char cut[257];
	size_t n = strlen(s);

	if (n > 256) n = 256;
	memcpy(cut, s, n);
	cut[n] = '\0';
	return ctl_safe(cut, buf, sizeof(buf));
}

static void print_cmd_help(ctl_cmd_t const *cmd)
{
	printf("Usage: cetbyodctl [OPTIONS] %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->help && *cmd->help) printf("\n%s", cmd->help);
}

static void print_help(void)
{
	ctl_cmd_t const *c;

	fputs(global_usage, stdout);
	fputs("\nCommands:\n", stdout);
	for (c = ctl_cmds; c->name; c++) printf("  %-44s %s\n", c->usage, c->summary);
	fputs(global_help, stdout);
}

/** opt_match - whether arg is --name or --name=VALUE; *inline_value gets VALUE. */
static bool opt_match(char const *arg, char const *name, char const **inline_value)
{
	size_t n = strlen(name);

	*inline_value = NULL;
	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0) return false;
	if (arg[2 + n] == '\0') return true;
	if (arg[2 + n] == '=') {
		*inline_value = arg + 3 + n;
		return true;
	}
	return false;
}

/** parse_opt - one option at argv[*i] against opts; 0, or a usage error. */
static int parse_opt(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv, int *i, ctl_opt_t const *opts)
{
	char const *arg = argv[*i], *val;
	ctl_opt_t const *o;

	if (opt_match(arg, "json", &val) && !val) {
		ctl->json = true;
		return 0;
	}
	for (o = opts; o && o->name; o++) {
		if (!opt_match(arg, o->name, &val)) continue;
		if (o->flag) {
			if (val) return ctl_usage_err(ctl, cmd, "option --%s takes no value", o->name);
			*o->flag = true;
			return 0;
		}
		if (!val) {
			if (*i + 1 >= argc) return ctl_usage_err(ctl, cmd, "option --%s needs a value", o->name);
			val = argv[++*i];
		}
		if (*o->value) return ctl_usage_err(ctl, cmd, "option --%s given twice", o->name);
		*o->value = val;
		return 0;
	}
	return ctl_usage_err(ctl, cmd, "unknown option '%s' for %s", show(arg), cmd->name);
}

int ctl_parse(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv, ctl_opt_t const *opts,
	      char **pos, size_t npos, size_t *n)
{
	bool options = true;
	int i, rc;

	*n = 0;
	for (i = 0; i < argc; i++) {
		char const *arg = argv[i];

		if (options && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
			print_cmd_help(cmd);
			return CTL_HELP_SHOWN;
		}
		if (options && strcmp(arg, "--") == 0) {
			options = false;
			continue;
		}
		if (options && arg[0] == '-' && arg[1] != '\0') {
			rc = parse_opt(ctl, cmd, argc, argv, &i, opts);
			if (rc) return rc;
			continue;
		}
		if (*n >= npos) {
			return ctl_usage_err(ctl, cmd, "unexpected argument '%s'", show(arg));
		}
		pos[(*n)++] = argv[i];
	}
	return 0;
}

/*
 *	The module's identity { strip_domains, strip_realms } lists, as it
 *	recorded them (names separated by spaces).  One process, one store:
 *	kept here for the life of the command.
 */
#define STRIP_NAMES_MAX 32
static char strip_text[2][1024];
static char const *strip_names[2][STRIP_NAMES_MAX];

/** status_list - split the status value key into list (in slot); empty when absent. */
static void status_list(ctl_t *ctl, char const *key, int slot, cb_strlist_t *list)
{
	char *p = strip_text[slot];
	size_t n = 0;

	list->v = strip_names[slot];
	list->n = 0;
	if (cb_store_status_get(ctl->store, key, p, sizeof(strip_text[slot]), NULL) != 0) return;
	while (*p && n < STRIP_NAMES_MAX) {
		while (*p == ' ') *p++ = '\0';
		if (!*p) break;
		strip_names[slot][n++] = p;
		while (*p && *p != ' ') p++;
	}
	list->n = n;
}

/** read_identity_conf - the module's identity { } settings, as it recorded them; defaults as raddb ships. */
static void read_identity_conf(ctl_t *ctl)
{
	char v[16];
	time_t n;

	status_list(ctl, CB_STATUS_IDENTITY_STRIP_DOMAINS, 0, &ctl->iconf.strip_domains);
	status_list(ctl, CB_STATUS_IDENTITY_STRIP_REALMS, 1, &ctl->iconf.strip_realms);
	ctl->iconf.max_length = 128;
	if (cb_store_status_get(ctl->store, CB_STATUS_IDENTITY_MAX_LENGTH, v, sizeof(v), NULL) == 0) {
		n = ctl_parse_time(v);
		if (n >= 1 && n <= CB_IDENTITY_MAX) ctl->iconf.max_length = (size_t) n;
	}
}

cb_store_conf_t ctl_store_conf(ctl_t const *ctl)
{
	/*
	 *	radiusd writes the store all the time, and a commit can wait on a
	 *	busy disk: an admin's command waits longer than the module's
	 *	calls (5 s), and says that it waits.
	 */
	cb_store_conf_t conf = { .path = ctl->db, .busy_timeout_ms = CTL_BUSY_TIMEOUT_MS, .busy_note_ms = CTL_BUSY_NOTE_MS };

	if (ctl->pg_conninfo) {
		conf.backend = CB_STORE_POSTGRESQL;
		conf.pg_conninfo = ctl->pg_conninfo;
		conf.pg_password = ctl->pg_password[0] ? ctl->pg_password : NULL;
		conf.server_id = ctl->server_id;
	}
	return conf;
}

char const *ctl_store_name(ctl_t const *ctl)
{
	return ctl->store ? cb_store_name(ctl->store) : ctl->db;
}

int ctl_open(ctl_t *ctl, bool create)
{
	cb_store_conf_t conf = ctl_store_conf(ctl);
	char err[1024];

	conf.create = create;
	conf.log = store_log;
	conf.log_ctx = ctl;
	ctl->store = cb_store_open(&conf, err, sizeof(err));
	if (!ctl->store && conf.backend == CB_STORE_POSTGRESQL &&
	    strncmp(err, CB_STORE_UNREACHABLE, strlen(CB_STORE_UNREACHABLE)) == 0) {
		return ctl_err(ctl, CTL_EXIT_UNREACHABLE, "the store is DOWN: nothing was done or changed (a revocation, "
			       "reinstatement or exception was NOT recorded; run it again when the database is back; "
			       "the RADIUS servers keep answering and spool their accounting meanwhile): %s", err);
	}
	if (!ctl->store) return ctl_err(ctl, CTL_EXIT_STORE, "%s", err);
	read_identity_conf(ctl);
	return 0;
}

int ctl_identity(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, char *out)
{
	static cb_identity_conf_t const syntax = { .max_length = CB_IDENTITY_MAX };
	cb_identity_conf_t const *conf = ctl->store ? &ctl->iconf : &syntax;
	cb_identity_result_t r = cb_identity_normalise(conf, arg, strlen(arg), out, CB_IDENTITY_MAX + 1);

	if (r == CB_IDENTITY_OK) return 0;
	if (r == CB_IDENTITY_TOO_LONG) {
		return ctl_usage_err(ctl, cmd, "invalid user '%s': longer than %zu bytes (the module's "
				     "identity { max_length })", show(arg), conf->max_length);
	}
	return ctl_usage_err(ctl, cmd, "invalid user '%s': %s", show(arg), cb_identity_error(r));
}

int ctl_text(ctl_t *ctl, ctl_cmd_t const *cmd, char const *what, char const *arg, size_t max)
{
	size_t len = strlen(arg);

	if (len == 0) return ctl_usage_err(ctl, cmd, "the %s is empty", what);
	if (len > max) return ctl_usage_err(ctl, cmd, "the %s is %zu bytes long; at most %zu are allowed", what, len, max);
	if (!cb_store_text_valid(arg, max)) {
		return ctl_usage_err(ctl, cmd, "the %s '%s' contains a control character or invalid UTF-8", what,
				     show(arg));
	}
	return 0;
}

int ctl_by(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, char *out, size_t len)
{
	static char const *const vars[] = { "SUDO_USER", "USER", "LOGNAME" };
	struct passwd *pw;
	size_t i;
	int rc;

	if (arg) {
		rc = ctl_text(ctl, cmd, "name given with --by", arg, CB_STORE_BY_MAX);
		if (rc) return rc;
		snprintf(out, len, "%s", arg);
		return 0;
	}
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		char const *v = getenv(vars[i]);

		if (v && cb_store_text_valid(v, CB_STORE_BY_MAX) && (i > 0 || strcmp(v, "root") != 0)) {
			snprintf(out, len, "%s", v);
			return 0;
		}
	}
	pw = getpwuid(geteuid());
	if (pw && cb_store_text_valid(pw->pw_name, CB_STORE_BY_MAX)) {
		snprintf(out, len, "%s", pw->pw_name);
		return 0;
	}
	snprintf(out, len, "uid:%u", (unsigned int) geteuid());
	return 0;
}

/** set_path - --state-dir or --db (once, non-empty); 0 or a usage error. */
static int set_path(ctl_t *ctl, char const *opt, char const *val, bool is_db)
{
	if (!val || !*val) return ctl_usage_err(ctl, NULL, "option --%s needs a non-empty value", opt);
	if (ctl->db[0] || ctl->state_dir) return ctl_usage_err(ctl, NULL, "give --state-dir or --db once, not both");
	if (is_db) {
		if (strlen(val) >= sizeof(ctl->db)) return ctl_usage_err(ctl, NULL, "--db: path too long");
		memcpy(ctl->db, val, strlen(val) + 1);
		return 0;
	}
	ctl->state_dir = val;
	if (!cb_store_path(val, ctl->db, sizeof(ctl->db))) return ctl_usage_err(ctl, NULL, "--state-dir: path too long");
	return 0;
}

/** read_password - the first line of path (what names it: opt) into ctl->pg_password; 0 or CTL_EXIT_STORE. */
static int read_password(ctl_t *ctl, char const *opt, char const *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) return ctl_err(ctl, CTL_EXIT_STORE, "%s: cannot read %s", opt, show(path));
	n = fread(ctl->pg_password, 1, sizeof(ctl->pg_password) - 1, f);
	fclose(f);
	ctl->pg_password[n] = '\0';
	ctl->pg_password[strcspn(ctl->pg_password, "\r\n")] = '\0';
	if (!ctl->pg_password[0]) return ctl_err(ctl, CTL_EXIT_STORE, "%s: %s is empty", opt, show(path));
	return 0;
}

/** set_pg - --store-conninfo CONNINFO or --store-password-file FILE; 0 or a usage error. */
static int set_pg(ctl_t *ctl, char const *opt, char const *val)
{
	if (!val || !*val) return ctl_usage_err(ctl, NULL, "option --%s needs a non-empty value", opt);
	if (strcmp(opt, "store-conninfo") == 0) {
		if (ctl->pg_conninfo) return ctl_usage_err(ctl, NULL, "give --store or --store-conninfo once");
		ctl->pg_conninfo = val;
		return 0;
	}
	return read_password(ctl, "--store-password-file", val);
}

/** set_once - --raddb DIR or --module NAME (once, non-empty); 0 or a usage error. */
static int set_once(ctl_t *ctl, char const *opt, char const *val, char const **slot)
{
	if (!val || !*val) return ctl_usage_err(ctl, NULL, "option --%s needs a non-empty value", opt);
	if (*slot) return ctl_usage_err(ctl, NULL, "option --%s given twice", opt);
	if (strlen(val) > 1024) return ctl_usage_err(ctl, NULL, "--%s: too long", opt);
	*slot = val;
	return 0;
}

/**
 * load_raddb - the module's configuration: --raddb DIR (with --module NAME;
 * --module alone reads the default DIR), else the default DIR when its
 * mods-enabled/ holds cetbyod and no store option was given.  Store options
 * on the command line win over the configuration's store.  0, or an exit
 * code (reported).
 */
static int load_raddb(ctl_t *ctl)
{
	bool given = ctl->pg_conninfo || ctl->state_dir || ctl->db[0];
	char const *dir = ctl->raddb, *name = ctl->module ? ctl->module : "cetbyod";
	char err[2048], safe[CTL_SAFE_LEN(2048)], path[CTL_STATE_PATH_MAX];
	ctl_raddb_t *c = &ctl->conf;
	int rc;

	if (!dir && ctl->module) dir = CTL_RADDB_DEFAULT;
	if (!dir) {
		if (given) return 0;
		snprintf(path, sizeof(path), "%s/mods-enabled/cetbyod", CTL_RADDB_DEFAULT);
		if (access(path, F_OK) != 0) return 0;
		dir = CTL_RADDB_DEFAULT;
	}
	rc = ctl_raddb_read(dir, name, c, err, sizeof(err));
	if (rc != CTL_RADDB_OK) {		/* Found by itself: say how to do without it. */
		char const *hint = ctl->raddb || ctl->module ? "" :
				   rc == CTL_RADDB_UNREADABLE ? " (run as root, or give --state-dir or --store)" :
				   " (or give --state-dir or --store)";

		return ctl_err(ctl, CTL_EXIT_CONFIG, "%s%s", ctl_safe(err, safe, sizeof(safe)), hint);
	}
	if (given) return 0;
	ctl->state_dir = c->state_dir;
	if (strcmp(c->backend, "postgresql") == 0) {
		ctl->pg_conninfo = c->conninfo;
		ctl->server_id = c->server_id;
		if (c->password_file) return read_password(ctl, "store { postgresql { password_file } }", c->password_file);
		return 0;
	}
	if (!cb_store_path(c->state_dir, ctl->db, sizeof(ctl->db))) {
		return ctl_err(ctl, CTL_EXIT_CONFIG, "%s: state_dir is too long", c->file);
	}
	return 0;
}

/**
 * parse_global - the options before COMMAND.  Returns the index of COMMAND
 * (argc when none), or -1 - exit code when the run is over.
 */
static int parse_global(ctl_t *ctl, int argc, char **argv)
{
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		char const *arg = argv[i], *val;

		if (strcmp(arg, "--") == 0) return i + 1;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			print_help();
			return -1 - CTL_EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("cetbyodctl %s\n", PACKAGE_VERSION);
			return -1 - CTL_EXIT_OK;
		}
		if (strcmp(arg, "--json") == 0) {
			ctl->json = true;
			continue;
		}
		if (opt_match(arg, "state-dir", &val) || opt_match(arg, "db", &val)) {
			bool is_db = strncmp(arg, "--db", 4) == 0;

			if (!val && i + 1 < argc) val = argv[++i];
			rc = set_path(ctl, is_db ? "db" : "state-dir", val, is_db);
			if (rc) return -1 - rc;
			continue;
		}
		if (opt_match(arg, "store-conninfo", &val) || opt_match(arg, "store-password-file", &val)) {
			bool is_ci = strncmp(arg, "--store-conninfo", 16) == 0;

			if (!val && i + 1 < argc) val = argv[++i];
			rc = set_pg(ctl, is_ci ? "store-conninfo" : "store-password-file", val);
			if (rc) return -1 - rc;
			continue;
		}
		if (opt_match(arg, "raddb", &val) || opt_match(arg, "module", &val)) {
			bool is_raddb = strncmp(arg, "--raddb", 7) == 0;

			if (!val && i + 1 < argc) val = argv[++i];
			rc = set_once(ctl, is_raddb ? "raddb" : "module", val, is_raddb ? &ctl->raddb : &ctl->module);
			if (rc) return -1 - rc;
			continue;
		}
		if (opt_match(arg, "store", &val)) {
			if (!val && i + 1 < argc) val = argv[++i];
			if (val && strncmp(val, "postgresql://", 13) != 0 && strncmp(val, "postgres://", 11) != 0) {
				return -1 - ctl_usage_err(ctl, NULL, "--store: give a postgresql:// URI (for SQLite: "
							  "--state-dir or --db)");
			}
			rc = set_pg(ctl, "store-conninfo", val);
			if (rc) return -1 - rc;
			continue;
		}
		return -1 - ctl_usage_err(ctl, NULL, "unknown option '%s'", show(arg));
	}
	if (ctl->pg_conninfo && (ctl->state_dir || strcmp(ctl->db, "") != 0)) {
		return -1 - ctl_usage_err(ctl, NULL, "give --store (--store-conninfo) or --state-dir/--db, not both");
	}
	return i;
}

/** cmd_help - `help [COMMAND]`. */
static int cmd_help(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd;

	if (argc == 0) {
		print_help();
		return CTL_EXIT_OK;
	}
	if (argc > 1) return ctl_usage_err(ctl, ctl_cmd_find("help"), "help takes one command at most");
	cmd = ctl_cmd_find(argv[0]);
	if (!cmd) return ctl_usage_err(ctl, NULL, "unknown command '%s'", show(argv[0]));
	print_cmd_help(cmd);
	return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	ctl_t ctl;
	ctl_cmd_t const *cmd;
	int i, rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.prog = "cetbyodctl";
	ctl.now = time(NULL);

	i = parse_global(&ctl, argc, argv);
	if (i < 0) return -1 - i;
	if (i >= argc) return ctl_usage_err(&ctl, NULL, "no command given");
	if (strcmp(argv[i], "help") == 0) return cmd_help(&ctl, argc - i - 1, argv + i + 1);

	cmd = ctl_cmd_find(argv[i]);
	if (!cmd) return ctl_usage_err(&ctl, NULL, "unknown command '%s'", show(argv[i]));
	rc = load_raddb(&ctl);
	if (!ctl.db[0]) cb_store_path(CB_STORE_DEFAULT_DIR, ctl.db, sizeof(ctl.db));
	if (rc == 0) rc = cmd->run(&ctl, argc - i - 1, argv + i + 1);
	cb_store_close(ctl.store);
	ctl_raddb_free(&ctl.conf);
	return rc == CTL_HELP_SHOWN ? CTL_EXIT_OK : rc;
}

/* ctl_tz - --tz, else the module's timezone (--raddb), else its zone from the store (when open), else Europe/London. */
int ctl_tz(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, cb_tz_t **tz)
{
	char v[CB_STORE_VALUE_MAX + 1], safe[CTL_SAFE_LEN(64)];
	char const *name = DEFAULT_TZ, *e = NULL;

	if (arg) {
		name = arg;
	} else if (ctl->conf.timezone) {
		name = ctl->conf.timezone;
	} else if (ctl->store && cb_store_status_get(ctl->store, CB_AUDIT_STATUS_TZ, v, sizeof(v), NULL) == 0 && v[0]) {
		name = v;
	}
	if (strlen(name) > 64) return ctl_usage_err(ctl, cmd, "time zone name too long");
	*tz = cb_tz_new(name, &e);
	if (!*tz) return ctl_usage_err(ctl, cmd, "unknown time zone '%s'%s%s", ctl_safe(name, safe, sizeof(safe)),
				       e ? ": " : "", e ? e : "");
	return 0;
}

/**
 * ctl_when - a TIME argument.  *end gets the end of the period it names:
 * the minute for "YYYY-MM-DD HH:MM", the day for a date, else *t.
 */
int ctl_when(ctl_t *ctl, ctl_cmd_t const *cmd, char const *opt, char const *arg, cb_tz_t const *tz,
		      time_t *t, time_t *end)
{
	char safe[CTL_SAFE_LEN(64)], cut[65];
	size_t len = strlen(arg);

	if (len > 64 || cb_tz_parse_time(arg, len, tz, t) < 0) {
		memcpy(cut, arg, len > 64 ? 64 : len);
		cut[len > 64 ? 64 : len] = '\0';
		return ctl_usage_err(ctl, cmd, "--%s: '%s' is not a time: give RFC 3339 (2026-11-24T10:14:00Z) or "
				     "local \"2026-11-24 10:14\" in %s", opt, ctl_safe(cut, safe, sizeof(safe)),
				     cb_tz_name(tz));
	}
	*end = *t;
	if (len == 16 && arg[10] == ' ' && arg[13] == ':') *end = *t + 59;
	if (len == 10) {
		time_t next = cb_tz_add_days(tz, *t, 1);

		if (next > *t) *end = next - 1;
	}
	return 0;
}

/* ctl_count - a decimal in [min, max] without sign, spaces or junk. */
int ctl_count(ctl_t *ctl, ctl_cmd_t const *cmd, char const *opt, char const *arg, unsigned long min,
		       unsigned long max, unsigned long *out)
{
	char *end;
	char safe[CTL_SAFE_LEN(32)], cut[33];
	size_t len = strlen(arg);

	errno = 0;
	if (arg[0] >= '0' && arg[0] <= '9') {
		*out = strtoul(arg, &end, 10);
		if (errno == 0 && *end == '\0' && *out >= min && *out <= max) return 0;
	}
	memcpy(cut, arg, len > 32 ? 32 : len);
	cut[len > 32 ? 32 : len] = '\0';
	return ctl_usage_err(ctl, cmd, "--%s: '%s' is not a number from %lu to %lu", opt,
			     ctl_safe(cut, safe, sizeof(safe)), min, max);
}
