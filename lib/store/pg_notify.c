/*
 * pg_notify.c - changes reach every server at once: PostgreSQL's
 * LISTEN/NOTIFY.
 *
 * Whoever changes what the servers hold in memory (a revocation, a
 * reinstatement, an exception granted or ended, a command for the module;
 * on any server or by cetbyodctl anywhere) sends NOTIFY on the channel
 * CB_PG_CHANNEL in the same transaction (cb_pg_notify), so the notice is
 * delivered when, and only if, the change commits.  Each module instance
 * listens on a connection of its own (the store's connection is shared by
 * every thread under the front's mutex and may sit in a transaction), in a
 * thread of its own: poll() on the connection's socket, and the watcher's
 * callback (the enforcer's wake) on every notice, so the enforcer re-reads
 * at once instead of at its next pass.  The enforcer's periodic pass stays
 * the safety net: a notice lost with a dropped connection is made up for
 * by a full re-read when the listening connection is back (the callback is
 * called then too), and by the pass in any case.
 *
 * The listening connection is re-made when it drops (every second while
 * the database is away); a drop is logged once, and the return.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "base/worker.h"
#include "store/pg_int.h"

#define WATCH_POLL_MS		200	/* How soon a stop is noticed. */
#define WATCH_RETRY_MS		1000	/* Between two tries to re-make the connection. */
#define WATCH_CONNECT_TIMEOUT	"5"	/* Seconds, unless the conninfo says. */
#define WATCH_NOTICES_MAX	1024	/* Notices read per wake-up (the rest in the next). */

struct cb_pg_watch {
	cb_store_watch_t	base;		/* First: the front stops it through base.stop. */
	cb_worker_t		*worker;
	PGconn			*conn;
	char			*conninfo;
	char			*password;
	char			where[PG_WHERE_MAX];
	cb_store_change_fn	fn;
	void			*ctx;
	cb_log_fn_t		log;
	void			*log_ctx;
	bool			down_logged;
};

int cb_pg_notify(cb_store_backend_t *be, char const *what)
{
	cb_pg_params_t p = { 0 };

	cb_pg_text(&p, what);
	return cb_pg_exec(be, "SELECT pg_notify('" CB_PG_CHANNEL "', $1)", &p, "notifying the other servers", NULL);
}

static void wlog(cb_pg_watch_t *w, cb_log_level_t level, char const *what, char const *msg)
{
	char line[512];
	size_t n;

	if (!w->log) return;
	snprintf(line, sizeof(line), "%s", msg && *msg ? msg : "unknown error");
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = '\0';
	for (char *c = line; *c; c++) if (*c == '\n' || *c == '\t') *c = ' ';
	w->log(w->log_ctx, level, "store: %s: %s%s%s", w->where, what, *line ? ": " : "", line);
}

static void drop(cb_pg_watch_t *w, char const *why)
{
	if (!w->down_logged) {
		wlog(w, CB_LOG_WARN, "the connection that listens for changes made on other servers was lost "
		     "(changes still arrive with the enforcer's periodic re-read; it reconnects by itself)", why);
		w->down_logged = true;
	}
	if (w->conn) PQfinish(w->conn);
	w->conn = NULL;
}

/** listen_connect - a connection that LISTENs; true when it does (and fn was called: re-read everything). */
static bool listen_connect(cb_pg_watch_t *w)
{
	/* connect_timeout first: the conninfo's own wins; without one, a stop never waits on an unreachable host long. */
	char const *keys[] = { "connect_timeout", "dbname", "application_name", "password", NULL };
	char const *vals[] = { WATCH_CONNECT_TIMEOUT, w->conninfo, "cetbyod-listen", w->password, NULL };
	PGresult *r;
	bool ok;

	if (!w->password) keys[3] = vals[3] = NULL;
	w->conn = PQconnectdbParams(keys, vals, 1);
	if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
		drop(w, w->conn ? PQerrorMessage(w->conn) : "out of memory");
		return false;
	}
	r = PQexec(w->conn, "LISTEN " CB_PG_CHANNEL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok) drop(w, PQresultErrorMessage(r));
	PQclear(r);
	if (!ok) return false;
	if (PQsetnonblocking(w->conn, 1) != 0) {
		drop(w, PQerrorMessage(w->conn));
		return false;
	}
	if (w->down_logged) wlog(w, CB_LOG_INFO, "listening for changes made on other servers again", "");
	w->down_logged = false;
	w->fn(w->ctx);	/* Whatever was notified while the connection was away. */
	return true;
}

/** listen_once - wait up to WATCH_POLL_MS for notices; calls fn once when any came. */
static void listen_once(cb_pg_watch_t *w)
{
	struct pollfd pfd = { .fd = PQsocket(w->conn), .events = POLLIN };
	PGnotify *n;
	size_t got = 0;
	int rc;

	if (pfd.fd < 0) {
		drop(w, "no socket");
		return;
	}
	rc = poll(&pfd, 1, WATCH_POLL_MS);
	if (rc < 0 && errno != EINTR) {
		drop(w, strerror(errno));
		return;
	}
	if (rc <= 0) return;
	if (!PQconsumeInput(w->conn) || PQstatus(w->conn) != CONNECTION_OK) {
		drop(w, PQerrorMessage(w->conn));
		return;
	}
	while (got < WATCH_NOTICES_MAX && (n = PQnotifies(w->conn)) != NULL) {
		got++;
		PQfreemem(n);
	}
	if (got) w->fn(w->ctx);
}

static void watch_main(cb_worker_t *worker, void *arg)
{
	cb_pg_watch_t *w = arg;

	while (!cb_worker_stopping(worker)) {
		if (!w->conn && !listen_connect(w)) {
			if (!cb_worker_wait(worker, WATCH_RETRY_MS)) break;
			continue;
		}
		listen_once(w);
	}
}

static void watch_free(cb_pg_watch_t *w)
{
	if (w->conn) PQfinish(w->conn);
	free(w->conninfo);
	if (w->password) {
		memset(w->password, 0, strlen(w->password));
		free(w->password);
	}
	free(w);
}

static void watch_stop(cb_store_watch_t *base)
{
	cb_pg_watch_t *w = (cb_pg_watch_t *) base;

	cb_worker_stop(w->worker);
	watch_free(w);
}

cb_store_watch_t *cb_pg_watch_start(cb_store_backend_t *be, cb_store_change_fn fn, void *ctx, char *err,
				    size_t errlen)
{
	cb_pg_watch_t *w = calloc(1, sizeof(*w));

	if (!w || !(w->conninfo = strdup(be->conninfo)) || (be->password && !(w->password = strdup(be->password)))) {
		snprintf(err, errlen, "out of memory");
		if (w) watch_free(w);
		return NULL;
	}
	w->base.stop = watch_stop;
	w->fn = fn;
	w->ctx = ctx;
	w->log = be->log;
	w->log_ctx = be->log_ctx;
	snprintf(w->where, sizeof(w->where), "%s", be->where);
	w->worker = cb_worker_start("cb-pg-listen", watch_main, w, err, errlen);
	if (!w->worker) {
		watch_free(w);
		return NULL;
	}
	return &w->base;
}
