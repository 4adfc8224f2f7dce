/*
 * ctl_raddb.c - cetbyodctl's FreeRADIUS glue: the module's configuration
 * read from DIR/radiusd.conf the way radiusd -d DIR reads it, with
 * FreeRADIUS's own parser from libfreeradius-server (the dictionaries
 * first, then cf_file_read: $INCLUDE, $-INCLUDE, ${...} and $ENV{...} as
 * radiusd does them), and the options cetbyodctl needs taken from modules {
 * cetbyod [NAME] { } }.  The store { } section is parsed with the module's
 * own table (rlm_cetbyod/conf_store.c), so both see the same defaults.
 *
 * The rest of cetbyodctl sees none of this: ctl_raddb.h is free of
 * FreeRADIUS headers.  FreeRADIUS's messages (a parse error names the file
 * and line) go to stderr, never to stdout, where --json output goes.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <freeradius-devel/radiusd.h>

#include "conf_store.h"
#include "ctl_raddb.h"

/* The options of the module's section that cetbyodctl uses; defaults as the module's (rlm_cetbyod.c). */
typedef struct {
	char const		*state_dir;
	char const		*timezone;
	char const		*class_key_file;
	char const		*audit_file;
	char const		*audit_key_file;
	cetbyod_store_section_t	store;
} ctl_modconf_t;

static CONF_PARSER const audit_paths[] = {
	{ "filename", FR_CONF_OFFSET(PW_TYPE_STRING, ctl_modconf_t, audit_file), "" },
	{ "hmac_key_file", FR_CONF_OFFSET(PW_TYPE_STRING, ctl_modconf_t, audit_key_file), "" },
	CONF_PARSER_TERMINATOR
};

static CONF_PARSER const module_paths[] = {
	{ "state_dir", FR_CONF_OFFSET(PW_TYPE_STRING, ctl_modconf_t, state_dir), "" },
	{ "timezone", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, ctl_modconf_t, timezone), "Europe/London" },
	{ "class_key_file", FR_CONF_OFFSET(PW_TYPE_STRING, ctl_modconf_t, class_key_file), "" },
	{ "audit", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) audit_paths },
	{ "store", FR_CONF_OFFSET(PW_TYPE_SUBSECTION, ctl_modconf_t, store), (void const *) cetbyod_store_config },
	CONF_PARSER_TERMINATOR
};

/*
 *	libfreeradius-server leaves these to the program (radiusd defines them
 *	in threads.c; before its thread pool starts they are fork and waitpid,
 *	which is what a configuration's `backquoted` values run through).
 */
pid_t rad_fork(void)
{
	return fork();
}

pid_t rad_waitpid(pid_t pid, int *status)
{
	return waitpid(pid, status, 0);
}

/** set - NULL for "" (the module's "not set"). */
static char const *set(char const *s)
{
	return s && *s ? s : NULL;
}

/** read_dictionaries - DICTDIR/dictionary, then DIR/dictionary when present, as radiusd does. */
static int read_dictionaries(char const *dir, char *err, size_t errlen)
{
	char path[4200];

	if (dict_init(DICTDIR, RADIUS_DICTIONARY) != 0) {
		snprintf(err, errlen, "cannot read FreeRADIUS's dictionaries in %s: %s", DICTDIR, fr_strerror());
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, RADIUS_DICTIONARY);
	if (access(path, R_OK) == 0 && dict_read(dir, RADIUS_DICTIONARY) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, fr_strerror());
		return -1;
	}
	return 0;
}

/** find_module - modules { cetbyod NAME { } } or modules { cetbyod { } } for NAME "cetbyod"; NULL if none. */
static CONF_SECTION *find_module(CONF_SECTION *main_cs, char const *name)
{
	CONF_SECTION *mods = cf_section_sub_find(main_cs, "modules"), *cs = NULL;

	if (!mods) return NULL;
	while ((cs = cf_subsection_find_next(mods, cs, NULL)) != NULL) {
		char const *n1 = cf_section_name1(cs), *n2 = cf_section_name2(cs);

		if (strcmp(n1, "cetbyod") == 0 && strcmp(n2 ? n2 : n1, name) == 0) return cs;
	}
	return NULL;
}

/** read_main - radiusd.conf into a new "main" section, with feature { } and version { } as radiusd adds them. */
static CONF_SECTION *read_main(char const *file)
{
	CONF_SECTION *cs = cf_section_alloc(NULL, "main", NULL), *sub;

	if (!cs) return NULL;
	sub = cf_section_alloc(cs, "feature", NULL);
	if (sub) {
		cf_section_add(cs, sub);
		version_init_features(sub);
	}
	sub = cf_section_alloc(cs, "version", NULL);
	if (sub) {
		cf_section_add(cs, sub);
		version_init_numbers(sub);
	}
	if (cf_file_read(cs, file) < 0) {
		talloc_free(cs);
		return NULL;
	}
	return cs;
}

/** take - the parsed values into out; CTL_RADDB_OK, or CTL_RADDB_BAD with err. */
static int take(ctl_modconf_t const *m, ctl_raddb_t *out, char const *name, char *err, size_t errlen)
{
	out->state_dir = set(m->state_dir);
	out->timezone = set(m->timezone);
	out->class_key_file = set(m->class_key_file);
	out->audit_file = set(m->audit_file);
	out->audit_key_file = set(m->audit_key_file);
	out->backend = m->store.backend;
	out->conninfo = set(m->store.conninfo);
	out->password_file = set(m->store.password_file);
	out->server_id = set(m->store.server_id);
	if (strcmp(out->backend, "postgresql") == 0) {
		if (out->conninfo) return CTL_RADDB_OK;
		snprintf(err, errlen, "%s: module %s: store { backend = postgresql } needs store { postgresql { conninfo } }",
			 out->file, name);
		return CTL_RADDB_BAD;
	}
	if (strcmp(out->backend, "sqlite") != 0) {
		snprintf(err, errlen, "%s: module %s: store { backend }: unknown value '%.64s' (accepted: sqlite, postgresql)",
			 out->file, name, out->backend);
		return CTL_RADDB_BAD;
	}
	if (out->state_dir) return CTL_RADDB_OK;
	snprintf(err, errlen, "%s: module %s has no state_dir: it keeps no store (set state_dir, or give --state-dir)",
		 out->file, name);
	return CTL_RADDB_BAD;
}

int ctl_raddb_read(char const *dir, char const *name, ctl_raddb_t *out, char *err, size_t errlen)
{
	ctl_modconf_t m;
	CONF_SECTION *main_cs, *mod;

	memset(out, 0, sizeof(*out));
	memset(&m, 0, sizeof(m));
	if ((size_t) snprintf(out->file, sizeof(out->file), "%s/radiusd.conf", dir) >= sizeof(out->file)) {
		snprintf(err, errlen, "--raddb: path too long");
		return CTL_RADDB_UNREADABLE;
	}
	if (access(out->file, R_OK) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", out->file, strerror(errno));
		return CTL_RADDB_UNREADABLE;
	}
	default_log.dst = L_DST_STDERR;
	default_log.fd = STDERR_FILENO;
	if (read_dictionaries(dir, err, errlen) < 0) return CTL_RADDB_PARSE;
	main_cs = read_main(out->file);
	if (!main_cs) {
		snprintf(err, errlen, "FreeRADIUS cannot parse %s (the error above names the file and line)", out->file);
		return CTL_RADDB_PARSE;
	}
	out->tree = main_cs;
	mod = find_module(main_cs, name);
	if (!mod) {
		snprintf(err, errlen, "%s has no module '%.64s' (modules { cetbyod%s%.64s { } }): enable it: "
			 "ln -s ../mods-available/cetbyod %s/mods-enabled/", out->file, name,
			 strcmp(name, "cetbyod") == 0 ? "" : " ", strcmp(name, "cetbyod") == 0 ? "" : name, dir);
		return CTL_RADDB_NO_MODULE;
	}
	if (cf_section_parse(mod, &m, module_paths) < 0) {
		snprintf(err, errlen, "FreeRADIUS cannot parse module %.64s in %s (the error above names the file and line)",
			 name, out->file);
		return CTL_RADDB_PARSE;
	}
	return take(&m, out, name, err, errlen);
}

void ctl_raddb_free(ctl_raddb_t *rc)
{
	if (!rc || !rc->tree) return;
	talloc_free(rc->tree);
	rc->tree = NULL;
}
