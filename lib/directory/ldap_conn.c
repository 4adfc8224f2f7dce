/*
 * ldap_conn.c - connections to the directory: initialise, connect (with
 * failover across the configured URIs), TLS (ldaps:// or StartTLS, with TLS
 * contexts shared between connections), bind, liveness, and the layers under
 * libldap's reads (the handshake guard, liblber's read-ahead).
 *
 * Time: connecting to one URI (TCP connect, TLS handshake or StartTLS, bind)
 * shares one connect_timeout_ms budget.  libldap bounds the TCP connect and
 * each synchronous operation itself; the TLS handshake it does not bound,
 * so the connection guard below does (design note there).  After the bind,
 * operations get search_timeout_ms.
 *
 * State: the shared TLS contexts (tls_shares, under tls_share_mutex) are
 * the only process-wide state of the client; see the note above them.
 *
 * Secrets: bind_password is handed to libldap (do_bind) and appears nowhere
 * else, never in a message.  Signals: libldap may write to a socket the
 * server closed, so the process must ignore SIGPIPE (radiusd does).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "directory/ldap_int.h"
#include "base/clock.h"

/*
 *	The connection guard.  libldap bounds the TCP connect with
 *	LDAP_OPT_NETWORK_TIMEOUT, but not the TLS handshake that follows
 *	(ldaps://, or after StartTLS): with a network timeout set it makes the
 *	socket non-blocking and retries the handshake in a loop with no time
 *	check, so a server that accepts the connection and then stalls keeps a
 *	worker spinning forever.  A connection callback slips this small Sockbuf
 *	I/O layer between TLS and TCP; while it is armed, a read or write that
 *	would block waits for the socket until the deadline and then fails with
 *	ETIMEDOUT, which ends the handshake.  Disarmed, it passes everything
 *	through unchanged.
 */
struct cb_ldap_guard {
	ldap_conncb	cb;		/* Registered with LDAP_OPT_CONNECT_CB; must outlive the handle. */
	int64_t		deadline_ms;	/* Armed while non-zero (cb_clock_ms()). */
	bool		fired;		/* The deadline ended an operation. */
};

/** err_append - add "; " and a message to what err already holds (bounded). */
static void err_append(char *err, size_t errlen, char const *msg)
{
	size_t used;

	if (!err || !errlen) return;
	used = strnlen(err, errlen);
	if (used + 1 >= errlen) return;
	snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", msg);
}

static bool uri_is(char const *uri, char const *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(uri, scheme, n) == 0 && strncmp(uri + n, "://", 3) == 0;
}

static int set_str_opt(LDAP *ld, int opt, char const *option, char const *value, char *err, size_t errlen)
{
	if (!cb_ldap_is_set(value)) return 0;
	if (ldap_set_option(ld, opt, value) == LDAP_OPT_SUCCESS) return 0;
	cb_ldap_err_set(err, errlen, "libldap refused %s = \"%s\"", option, value);
	return -1;
}

/** tls_files_options - trust, client certificate and checks on a handle (no context yet). */
static int tls_files_options(LDAP *ld, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	int reqcert = conf->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	int minproto = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;

	if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &reqcert) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &minproto) != LDAP_OPT_SUCCESS) {
		cb_ldap_err_set(err, errlen, "libldap refused the TLS options (is it built with TLS?)");
		return -1;
	}
	if (set_str_opt(ld, LDAP_OPT_X_TLS_CACERTFILE, "ca_file", conf->ca_file, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_CACERTDIR, "ca_dir", conf->ca_dir, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_CERTFILE, "cert_file", conf->cert_file, err, errlen) < 0 ||
	    set_str_opt(ld, LDAP_OPT_X_TLS_KEYFILE, "key_file", conf->key_file, err, errlen) < 0) return -1;
	return 0;
}

static int tls_new_ctx(LDAP *ld, char *err, size_t errlen)
{
	int newctx = 0;

	if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx) == LDAP_OPT_SUCCESS) return 0;
	cb_ldap_ld_error(ld, LDAP_LOCAL_ERROR, "cannot set up TLS (check ca_file, ca_dir, cert_file, key_file)", err, errlen);
	return -1;
}

/*
 *	Shared TLS contexts.  A TLS context holds the parsed CAs and the
 *	client certificate.  Making one per connection costs file reads and
 *	parsing, and libldap 2.5 built with GnuTLS leaks the client key and
 *	certificate of every context it makes (about 20 kB each), so a pool
 *	that keeps reconnecting would grow without bound.  Connections with the
 *	same TLS settings therefore share one context, made once on a template
 *	handle that is never connected.  The settings key includes each file's
 *	identity (device, inode, size, mtime), so a renewed certificate gets a
 *	new context at the next connection.  libldap has no public call to drop
 *	the reference LDAP_OPT_X_TLS_CTX hands out, so a shared context lives
 *	until the process ends; at most TLS_SHARE_MAX are made, after which
 *	connections get contexts of their own again.
 */
#define TLS_SHARE_MAX 8
#define TLS_KEY_MAX (4 * (PATH_MAX + 96) + 8)

typedef struct {
	char	*key;
	LDAP	*tmpl;
} tls_share_t;

static pthread_mutex_t tls_share_mutex = PTHREAD_MUTEX_INITIALIZER;
static tls_share_t tls_shares[TLS_SHARE_MAX];
static size_t tls_num_shares;

/** tls_key_file - add "path|dev:ino:size:mtime|" to the key; false when it does not fit. */
static bool tls_key_file(cb_ldap_sb_t *sb, char const *path)
{
	char id[96];
	struct stat st;

	if (!cb_ldap_is_set(path)) {
		cb_ldap_sb_add(sb, "-|");
		return !sb->overflow;
	}
	if (stat(path, &st) < 0) return false;
	snprintf(id, sizeof(id), "|%llu:%llu:%lld:%lld.%09ld|", (unsigned long long) st.st_dev,
		 (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
		 (long) st.st_mtim.tv_nsec);
	cb_ldap_sb_add(sb, path);
	cb_ldap_sb_add(sb, id);
	return !sb->overflow;
}

static bool tls_key(cb_ldap_conf_t const *conf, char *key, size_t keylen)
{
	cb_ldap_sb_t sb;

	cb_ldap_sb_init(&sb, key, keylen);
	cb_ldap_sb_add(&sb, conf->require_cert ? "demand|" : "never|");
	return tls_key_file(&sb, conf->ca_file) && tls_key_file(&sb, conf->ca_dir) &&
	       tls_key_file(&sb, conf->cert_file) && tls_key_file(&sb, conf->key_file);
}

/** tls_share_find - the template for key, made if need be.  NULL: none (use a context of one's own). */
static LDAP *tls_share_find(cb_ldap_conf_t const *conf, char const *key, char *err, size_t errlen, bool *failed)
{
	tls_share_t *share;
	LDAP *tmpl = NULL;

	*failed = false;
	for (size_t i = 0; i < tls_num_shares; i++) if (strcmp(tls_shares[i].key, key) == 0) return tls_shares[i].tmpl;
	if (tls_num_shares == TLS_SHARE_MAX) return NULL;

	share = &tls_shares[tls_num_shares];
	if (ldap_initialize(&tmpl, NULL) != LDAP_SUCCESS || !tmpl) return NULL;
	if (tls_files_options(tmpl, conf, err, errlen) < 0 || tls_new_ctx(tmpl, err, errlen) < 0) {
		ldap_unbind_ext_s(tmpl, NULL, NULL);
		*failed = true;
		return NULL;
	}
	share->key = strdup(key);
	if (!share->key) {
		ldap_unbind_ext_s(tmpl, NULL, NULL);
		return NULL;
	}
	share->tmpl = tmpl;
	tls_num_shares++;
	return tmpl;
}

/** set_tls_options - TLS settings and a context for the handle (shared where possible). */
static int set_tls_options(LDAP *ld, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char key[TLS_KEY_MAX];
	void *ctx = NULL;
	bool failed = false;
	LDAP *tmpl = NULL;
	int rc = -1;

	if (tls_files_options(ld, conf, err, errlen) < 0) return -1;
	if (!tls_key(conf, key, sizeof(key))) return tls_new_ctx(ld, err, errlen);

	pthread_mutex_lock(&tls_share_mutex);
	tmpl = tls_share_find(conf, key, err, errlen, &failed);
	if (tmpl && ldap_get_option(tmpl, LDAP_OPT_X_TLS_CTX, &ctx) == LDAP_OPT_SUCCESS && ctx &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CTX, ctx) == LDAP_OPT_SUCCESS) rc = 0;
	pthread_mutex_unlock(&tls_share_mutex);

	if (rc == 0) return 0;
	if (failed) return -1;
	return tls_new_ctx(ld, err, errlen);
}

static int set_options(LDAP *ld, cb_ldap_conf_t const *conf, bool tls, char *err, size_t errlen)
{
	int version = LDAP_VERSION3;
	struct timeval tv;
	unsigned int user_timeout = conf->connect_timeout_ms + conf->search_timeout_ms;

	cb_ldap_ms_to_timeval(conf->connect_timeout_ms, &tv);
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		cb_ldap_err_set(err, errlen, "libldap refused the connection options");
		return -1;
	}
	/* Where the OS has it, a server that stops acknowledging data fails the socket too. */
	(void) ldap_set_option(ld, LDAP_OPT_TCP_USER_TIMEOUT, &user_timeout);
	return tls ? set_tls_options(ld, conf, err, errlen) : 0;
}


static int guard_wait(Sockbuf_IO_Desc *sbiod, short events)
{
	cb_ldap_guard_t *g = sbiod->sbiod_pvt;
	ber_socket_t fd = -1;
	struct pollfd pfd;
	int64_t left = g->deadline_ms - cb_clock_ms();
	int rc;

	if (left <= 0) goto timeout;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	do {
		rc = poll(&pfd, 1, (int) left);
	} while (rc < 0 && errno == EINTR);
	if (rc > 0) return 0;
	if (rc < 0) return -1;

timeout:
	g->fired = true;
	errno = ETIMEDOUT;
	return -1;
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static ber_slen_t guard_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	cb_ldap_guard_t *g = sbiod->sbiod_pvt;

	for (;;) {
		ber_slen_t n = LBER_SBIOD_READ_NEXT(sbiod, buf, len);

		if (n >= 0 || !g->deadline_ms || !would_block()) return n;
		if (guard_wait(sbiod, POLLIN) < 0) return -1;
	}
}

static ber_slen_t guard_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	cb_ldap_guard_t *g = sbiod->sbiod_pvt;

	for (;;) {
		ber_slen_t n = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);

		if (n >= 0 || !g->deadline_ms || !would_block()) return n;
		if (guard_wait(sbiod, POLLOUT) < 0) return -1;
	}
}

static int guard_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int guard_remove(Sockbuf_IO_Desc *sbiod)
{
	(void) sbiod;
	return 0;
}

static int guard_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static int guard_close(Sockbuf_IO_Desc *sbiod)
{
	(void) sbiod;
	return 0;
}

static Sockbuf_IO guard_io = {
	.sbi_setup	= guard_setup,
	.sbi_remove	= guard_remove,
	.sbi_ctrl	= guard_ctrl,
	.sbi_read	= guard_read,
	.sbi_write	= guard_write,
	.sbi_close	= guard_close
};

/*
 *	The read-ahead layer.  Over TCP, liblber reads each message with two
 *	read()s (its tag and length, then the rest), and a search answers with
 *	two messages (the entry, then the result): four read()s per lookup,
 *	each a system call on the request's thread.  liblber's own read-ahead
 *	layer (ber_sockbuf_io_readahead, which libldap uses for UDP) reads what
 *	the socket has into a buffer of 16 kB and hands the messages out of it,
 *	and tells libldap that data is waiting (LBER_SB_OPT_DATA_READY), so it
 *	does not poll() for what it has already read.  It sits above the guard
 *	and below TLS, so TLS records are read through it and the guard still
 *	bounds the handshake.
 */
#define READAHEAD_LEVEL	(LBER_SBIOD_LEVEL_PROVIDER + 6)

/** guard_add - connection callback: called by libldap after TCP connect, before TLS. */
static int guard_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr, struct ldap_conncb *ctx)
{
	(void) ld;
	(void) srv;
	(void) addr;
	if (ber_sockbuf_add_io(sb, &guard_io, LBER_SBIOD_LEVEL_PROVIDER + 5, ctx->lc_arg) < 0) return -1;
	return ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, READAHEAD_LEVEL, NULL) < 0 ? -1 : 0;
}

static void guard_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void) ld;
	(void) sb;
	(void) ctx;
}

static void guard_arm(cb_ldap_guard_t *g, int64_t deadline_ms)
{
	g->fired = false;
	g->deadline_ms = deadline_ms;
}

/** op_timeout - give the next synchronous operation what is left until deadline; -1 if nothing is. */
static int op_timeout(LDAP *ld, int64_t deadline_ms)
{
	int64_t left = deadline_ms - cb_clock_ms();
	struct timeval tv;

	if (left <= 0) return -1;
	cb_ldap_ms_to_timeval((unsigned int) left, &tv);
	return ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) == LDAP_OPT_SUCCESS ? 0 : -1;
}

static void guard_disarm(cb_ldap_guard_t *g)
{
	g->deadline_ms = 0;
}

/** tls_error - a failed TLS handshake, with what to check. */
static void tls_error(char const *what, char *err, size_t errlen)
{
	cb_ldap_err_set(err, errlen, "%s: TLS handshake failed: the server's certificate is not trusted (ca_file, ca_dir), "
		"does not name the host in the URI, or the server does not speak TLS there", what);
}

/**
 * do_connect - TCP connect, and the TLS handshake for ldaps://.  libldap
 * (GnuTLS flavour) leaves a diagnostic message after a failed handshake and
 * none after a failed TCP connect, which tells the two apart.
 */
static int do_connect(LDAP *ld, cb_ldap_guard_t *guard, int64_t deadline_ms, bool ldaps, char *err, size_t errlen)
{
	char *diag = NULL;
	int rc;

	guard_arm(guard, deadline_ms);
	rc = ldap_connect(ld);
	guard_disarm(guard);
	if (rc == LDAP_SUCCESS) return 0;
	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (guard->fired) {
		cb_ldap_err_set(err, errlen, "ldaps: TLS handshake: no answer within connect_timeout_ms");
	} else if (ldaps && diag) {
		tls_error("ldaps", err, errlen);
	} else {
		cb_ldap_err_set(err, errlen, "cannot contact the server (connection refused, unreachable, or no answer "
			"within connect_timeout_ms): %s", ldap_err2string(rc));
	}
	if (diag) ldap_memfree(diag);
	return -1;
}

static int do_start_tls(LDAP *ld, cb_ldap_guard_t *guard, int64_t deadline_ms, char *err, size_t errlen)
{
	int rc;

	if (op_timeout(ld, deadline_ms) < 0) {
		cb_ldap_err_set(err, errlen, "StartTLS: connect_timeout_ms used up before it could start");
		return -1;
	}
	guard_arm(guard, deadline_ms);
	rc = ldap_start_tls_s(ld, NULL, NULL);
	guard_disarm(guard);
	if (rc == LDAP_SUCCESS) return 0;
	if (rc == LDAP_TIMEOUT || guard->fired) {
		cb_ldap_err_set(err, errlen, "StartTLS: no answer within connect_timeout_ms");
	} else if (rc == LDAP_CONNECT_ERROR || rc == LDAP_SERVER_DOWN) {
		tls_error("StartTLS", err, errlen);
	} else {
		cb_ldap_ld_error(ld, rc, "StartTLS refused by the server", err, errlen);
	}
	return -1;
}

static int do_bind(LDAP *ld, cb_ldap_conf_t const *conf, int64_t deadline_ms, char *err, size_t errlen)
{
	char what[CB_DIR_DN_MAX + 64];
	struct berval cred;
	int rc;

	if ((conf->sasl_external || cb_ldap_is_set(conf->bind_dn)) && op_timeout(ld, deadline_ms) < 0) {
		cb_ldap_err_set(err, errlen, "bind: connect_timeout_ms used up before it could start");
		return -1;
	}
	if (conf->sasl_external) {
		/* An empty initial response: "authorise as the certificate's identity". */
		cred.bv_val = (char *) (uintptr_t) "";
		cred.bv_len = 0;
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
		snprintf(what, sizeof(what), "SASL EXTERNAL bind (with the identity of cert_file) refused");
	} else if (cb_ldap_is_set(conf->bind_dn)) {
		cred.bv_val = (char *) (uintptr_t) (conf->bind_password ? conf->bind_password : "");
		cred.bv_len = strlen(cred.bv_val);
		rc = ldap_sasl_bind_s(ld, conf->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		snprintf(what, sizeof(what), "bind as \"%s\" refused", conf->bind_dn);
	} else {
		return 0;	/* Anonymous. */
	}
	if (rc == LDAP_SUCCESS) return 0;
	if (rc == LDAP_TIMEOUT) {
		cb_ldap_err_set(err, errlen, "bind: no answer within connect_timeout_ms");
		return -1;
	}
	cb_ldap_ld_error(ld, rc, what, err, errlen);
	return -1;
}

/**
 * connect_uri - one URI: initialise, connect, secure, bind.
 * Returns the handle, with *guardp set to its guard (the caller frees it
 * after the handle), or NULL with err set and nothing left allocated.
 */
static LDAP *connect_uri(cb_ldap_conf_t const *conf, char const *uri, cb_ldap_guard_t **guardp, char *err, size_t errlen)
{
	LDAP *ld = NULL;
	bool ldaps = uri_is(uri, "ldaps"), starttls = conf->start_tls && uri_is(uri, "ldap");
	cb_ldap_guard_t *guard;
	struct timeval tv;
	int64_t deadline;
	int rc;

	*guardp = NULL;
	guard = calloc(1, sizeof(*guard));
	if (!guard) {
		cb_ldap_err_set(err, errlen, "out of memory");
		return NULL;
	}
	guard->cb.lc_add = guard_add;
	guard->cb.lc_del = guard_del;
	guard->cb.lc_arg = guard;

	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS || !ld) {
		cb_ldap_err_set(err, errlen, "cannot use this URI: %s", ldap_err2string(rc));
		free(guard);
		return NULL;
	}
	if (ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &guard->cb) != LDAP_OPT_SUCCESS) {
		cb_ldap_err_set(err, errlen, "libldap refused the connection callback");
		goto fail;
	}
	/* One budget for the whole attempt: TCP connect, TLS, bind. */
	deadline = cb_clock_ms() + conf->connect_timeout_ms;
	if (set_options(ld, conf, ldaps || starttls, err, errlen) < 0 ||
	    do_connect(ld, guard, deadline, ldaps, err, errlen) < 0 ||
	    (starttls && do_start_tls(ld, guard, deadline, err, errlen) < 0) ||
	    do_bind(ld, conf, deadline, err, errlen) < 0) goto fail;

	/* From now on, operations get the search timeout. */
	cb_ldap_ms_to_timeval(conf->search_timeout_ms, &tv);
	if (ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
		cb_ldap_err_set(err, errlen, "libldap refused the search timeout");
		goto fail;
	}
	*guardp = guard;
	return ld;

fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	free(guard);
	return NULL;
}

cb_ldap_conn_t *cb_ldap_connect(cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	char one[1024], line[CB_LDAP_URI_MAX + sizeof(one) + 4];
	cb_ldap_conn_t *conn;
	size_t i;

	if (err && errlen) err[0] = '\0';
	if (!conf || !conf->uris || conf->num_uris == 0) {
		cb_ldap_err_set(err, errlen, "no server URIs configured (uri)");
		return NULL;
	}
	for (i = 0; i < conf->num_uris && i < CB_LDAP_MAX_URIS; i++) {
		char const *uri = conf->uris[i];
		cb_ldap_guard_t *guard;
		LDAP *ld;

		if (!cb_ldap_is_set(uri) || strlen(uri) >= CB_LDAP_URI_MAX) continue;
		one[0] = '\0';
		ld = connect_uri(conf, uri, &guard, one, sizeof(one));
		if (!ld) {
			snprintf(line, sizeof(line), "%s: %s", uri, one);
			err_append(err, errlen, line);
			continue;
		}
		conn = calloc(1, sizeof(*conn));
		if (!conn) {
			ldap_unbind_ext_s(ld, NULL, NULL);
			free(guard);
			cb_ldap_err_set(err, errlen, "out of memory");
			return NULL;
		}
		conn->ld = ld;
		conn->guard = guard;
		conn->search_timeout_ms = conf->search_timeout_ms;
		memcpy(conn->uri, uri, strlen(uri) + 1);
		if (err && errlen) err[0] = '\0';
		return conn;
	}
	if (err && errlen && !err[0]) cb_ldap_err_set(err, errlen, "no usable server URI");
	return NULL;
}

void cb_ldap_close(cb_ldap_conn_t *conn)
{
	if (!conn) return;
	if (conn->ld) ldap_unbind_ext_s(conn->ld, NULL, NULL);
	free(conn->guard);
	cb_ldap_groups_free(&conn->groups);
	free(conn);
}

char const *cb_ldap_conn_uri(cb_ldap_conn_t const *conn)
{
	return conn ? conn->uri : "";
}

bool cb_ldap_conn_lost(cb_ldap_conn_t const *conn)
{
	return conn && conn->broken && conn->lost;
}

bool cb_ldap_alive(cb_ldap_conn_t *conn)
{
	struct pollfd pfd;
	ber_socket_t fd = -1;
	char c;
	ssize_t n;

	if (!conn || !conn->ld || conn->broken) return false;
	if (ldap_get_option(conn->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) return false;
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) < 0) return errno == EINTR;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) goto dead;
	if (!(pfd.revents & POLLIN)) return true;

	/*
	 *	An idle connection has nothing to read.  Data now is end of file,
	 *	a Notice of Disconnection or a TLS alert: the server is leaving.
	 */
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;

dead:
	conn->broken = true;
	return false;
}

int cb_ldap_conn_groups(cb_ldap_conn_t *conn, cb_ldap_conf_t const *conf, char *err, size_t errlen)
{
	if (conn->groups_for == conf) return 0;
	cb_ldap_groups_free(&conn->groups);
	conn->groups_for = NULL;
	if (cb_ldap_groups_prepare(&conn->groups, conf, err, errlen) < 0) return -1;
	conn->groups_for = conf;
	return 0;
}
