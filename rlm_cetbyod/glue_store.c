/*
 * glue_store.c - store { backend, postgresql { } }: which state store the
 * module opens (SQLite in state_dir, the default; or PostgreSQL), and the
 * configuration every connection of the module to it uses (the request
 * path's, the audit index's, the people's and the limits').
 *
 * store { spool_max_mb }: the request path's spool (lib/store/spool.h) in
 * state_dir, for session writes while PostgreSQL is unreachable.
 *
 * The PostgreSQL password is a secret: it is read once from password_file
 * (at most 1 KB, one line), handed to libpq apart from the conninfo, and
 * written nowhere; a conninfo that holds password= works too (libpq's own
 * ~/.pgpass as well) but puts the secret in the configuration file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rlm_cetbyod.h"
#include "store/spool.h"

#define PASSWORD_MAX	1024
#define SPOOL_MAX_MB	4096	/* store { spool_max_mb } at most. */

/** read_password - password_file's first line into a talloc'd string; NULL after cf_log_err. */
static char *read_password(rlm_cetbyod_t *inst, CONF_SECTION *conf, char const *path)
{
	char buf[PASSWORD_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		cf_log_err_cs(conf, "store { postgresql { password_file } }: cannot read %s: %s", path,
			      fr_syserror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077)) {
		WARN("rlm_cetbyod (%s): store { postgresql { password_file } }: %s is readable by others (chmod 0600)",
		     inst->name, path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0 || n > PASSWORD_MAX) {
		cf_log_err_cs(conf, "store { postgresql { password_file } }: %s is unreadable or longer than %d bytes",
			      path, PASSWORD_MAX);
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0]) {
		cf_log_err_cs(conf, "store { postgresql { password_file } }: %s is empty", path);
		return NULL;
	}
	return talloc_strdup(inst, buf);
}

int cetbyod_store_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char const *b = inst->store_conf.backend;
	cb_store_conf_t *t = &inst->store_template;

	memset(t, 0, sizeof(*t));
	if (inst->store_conf.spool_max_mb > SPOOL_MAX_MB) {
		cf_log_err_cs(conf, "store { spool_max_mb }: %u is out of range (accepted: 0 [no spool] to %d)",
			      inst->store_conf.spool_max_mb, SPOOL_MAX_MB);
		return -1;
	}
	if (!b || strcmp(b, "sqlite") == 0) return 0;
	if (strcmp(b, "postgresql") != 0) {
		cf_log_err_cs(conf, "store { backend }: unknown value '%s' (accepted: sqlite, postgresql)", b);
		return -1;
	}
	if (!inst->store_conf.conninfo || !*inst->store_conf.conninfo) {
		cf_log_err_cs(conf, "store { backend = postgresql } needs store { postgresql { conninfo } }");
		return -1;
	}
	t->backend = CB_STORE_POSTGRESQL;
	t->pg_conninfo = inst->store_conf.conninfo;
	t->server_id = inst->store_conf.server_id;
	if (t->server_id && strlen(t->server_id) > CB_STORE_NAME_MAX) {
		cf_log_err_cs(conf, "store { postgresql { server_id } }: longer than %d bytes", CB_STORE_NAME_MAX);
		return -1;
	}
	if (inst->store_conf.password_file && *inst->store_conf.password_file) {
		inst->pg_password = read_password(inst, conf, inst->store_conf.password_file);
		if (!inst->pg_password) return -1;
		t->pg_password = inst->pg_password;
	}
	return 0;
}

void cetbyod_store_conf(rlm_cetbyod_t const *inst, char const *path, cb_store_conf_t *sc)
{
	cb_store_conf_t const *t = &inst->store_template;

	sc->backend = t->backend;
	sc->path = path;
	sc->pg_conninfo = t->pg_conninfo;
	sc->pg_password = t->pg_password;
	sc->server_id = t->server_id;
}

bool cetbyod_store_spool(rlm_cetbyod_t const *inst, char const *name, char *path, size_t len, cb_store_conf_t *sc)
{
	if (inst->store_template.backend != CB_STORE_POSTGRESQL || !inst->store_conf.spool_max_mb) return true;
	if ((size_t) snprintf(path, len, "%s/%s", inst->state_dir, name) >= len) return false;
	sc->spool_path = path;
	sc->spool_max = (uint64_t) inst->store_conf.spool_max_mb * 1024 * 1024;
	return true;
}

char const *cetbyod_store_name(rlm_cetbyod_t const *inst, char const *path)
{
	return inst->store_template.backend == CB_STORE_POSTGRESQL ? "(PostgreSQL)" : path;
}
