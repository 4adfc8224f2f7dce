/*
 * audit.c - the audit trail: hash-chained JSON lines written by a
 * background thread, their verification, and the indexed copy in the
 * store's database that cetbyodctl queries.
 *
 * What it is for.  The school's policy says network use is logged, breaches
 * are investigated and exceptions are recorded.  An investigator asks "who
 * had which device on the network, when, and on what acknowledgement", and
 * must be able to trust that nobody quietly edited the answer.  So every
 * event (decision, session start and stop, revocation, exception, sync,
 * disconnect attempt) becomes one line of JSON in a file, and every line
 * carries the hash of the line before it.
 *
 * The record.  One JSON object per line, members in any order, values only
 * strings, integers, booleans and null (no floating point: it has no single
 * text form).  Every record has:
 *   seq    1, 2, 3, ... without gaps, for the life of the trail (rotation
 *          does not restart it);
 *   prev   the previous record's hash ("000...0", 64 zeros, for seq 1);
 *   type   "decision", "session_start", ... (cb_audit_type_name);
 *   time   when it happened, RFC 3339 UTC ("2026-11-24T10:14:03Z");
 *   hash   SHA-256 of the record's canonical form, as 64 hex digits;
 * and the event's own fields (audit.h lists them per type).  The canonical
 * form is the record without "hash", keys sorted bytewise, written by
 * json-c with JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE.  The
 * line on disk is that canonical form with ,"hash":"..." added before the
 * closing brace, so a reader can recompute the hash from the line alone,
 * and a change of spacing or key order by a text editor that keeps the
 * content leaves the hash valid (the content is what is protected).
 *
 * A worked example.  The trail starts; the first event is a decision:
 *
 *   canonical C1 = {"identity":"alice","prev":"0000...0000","reason":"acknowledged",
 *                   "seq":1,"status":"admit","time":"2026-11-24T10:14:03Z","type":"decision"}
 *   H1 = SHA-256(C1) = "5e1f...", say
 *   line 1 = C1 minus its "}" + ,"hash":"5e1f..."}
 *
 * Then alice's laptop starts a session:
 *
 *   C2 = {"framed_ip":"10.20.30.40","identity":"alice",...,"prev":"5e1f...","seq":2,...}
 *   H2 = SHA-256(C2), line 2 = C2 + hash H2.
 *
 * Verify reads line 2, recomputes SHA-256 over its canonical form and
 * compares with its "hash" (catches an edit of line 2), checks that its
 * "prev" equals line 1's hash (catches line 1 edited with its hash
 * recomputed, or replaced), and that its seq is one more (catches a deleted
 * or moved line).  A last line without its newline was cut short.  After
 * rotation, cetbyod-audit.jsonl.1 ends with seq 41 and hash H41, and the
 * new cetbyod-audit.jsonl starts with seq 42 and prev H41: verify, given
 * the files oldest first, follows the chain across them.  When the oldest
 * files have been deleted by retention, the chain simply starts later.
 *
 * What the chain does not do: someone who can rewrite the whole file can
 * recompute every hash.  The copies that live elsewhere are the anchors:
 * the database table (each row holds its record and hash, and verify
 * compares the file's last record with the table's), and syslog when it
 * is on (sent to another machine, it is out of reach of a local editor).
 *
 * The writer.  cb_audit_record() runs on radiusd's request threads and
 * must not wait for a disk.  It turns the event into a json_object (no
 * seq, prev or hash yet), takes the mutex for a moment to append it to a
 * bounded ring, signals, and returns.  One writer thread takes up to
 * AUDIT_BATCH records from the head of the ring (leaving them there),
 * numbers and chains them in order, appends the lines with one write()
 * loop to the file (opened O_APPEND), fsyncs (policy "batch"), and only
 * then removes them from the ring: that is the acknowledgement.  After it,
 * the lines go to the database table and to syslog; a failure there is
 * logged but loses nothing, the file being the record of authority.
 *
 * When a write or fsync fails (ENOSPC, EIO), the file is cut back to the
 * length it had before the batch (so it never holds half a line or a
 * record that was not acknowledged), the records stay at the head of the
 * ring, the failure is logged as an error (the first one, then once a
 * minute while it lasts), and the writer retries after retry_ms, doubling
 * up to retry_max_ms.  Meanwhile:
 *   fail_open    cb_audit_record keeps queuing until the ring is full and
 *                then drops new records, counting them; when writing
 *                resumes, an "audit_gap" record says how many were dropped
 *                and when, so the gap is itself in the chain;
 *   fail_closed  cb_audit_admit_ok() is false, and cb_audit_record answers
 *                CB_AUDIT_REFUSE, so the module refuses admissions it
 *                cannot record; an admission refused so is not queued
 *                (the trail must not say someone was let on who was not),
 *                the reject the module records instead is, while there is
 *                room.
 * New records do not hurry a retry: the writer sleeps out its delay (1 s,
 * doubling to retry_max_ms, 5 s by default) unless stopped or reopened, so
 * writing resumes within that long after the disk recovers.
 * No acknowledged record is lost: acknowledgement follows the write (and
 * fsync), and nothing after it can undo the write.
 *
 * Rotation.  logrotate moves the file away and sends SIGHUP; the module
 * calls cb_audit_reopen(), and the writer, between batches, closes and
 * reopens the path, creating a new file.  Without a SIGHUP the writer
 * notices on its own: before each batch it compares the path's inode with
 * the open file's and reopens when they differ.  The chain state (last seq
 * and hash) is in memory, so the new file continues the chain.  Use
 * logrotate's "nocompress" or "delaycompress" if verify is to read the
 * previous file (it cannot read .gz files).  At start-up the chain
 * continues from the file's last line, else (an empty, just-rotated file)
 * the database's last row, else the last line of <path>.1.  When the
 * database is ahead of the file (lines were removed from its end), the
 * chain continues from the database, so the removal stays visible.
 *
 * Queries.  The table (schema/sql/audit.sql) has the indexed fields of
 * each record beside the record itself.  "Who had 10.20.30.40 at 10:14"
 * is answered from session_start and session_stop records alone: each
 * session (NAS, Acct-Session-Id) holds its address from start to stop; a
 * session whose stop never arrived holds it until another session with
 * that address starts (cb_audit_ip_at).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "base/utf8.h"
#include "audit/audit.h"
#include "store/store.h"
#include "core/tz.h"

#include "audit/audit_schema.h"

#define AUDIT_BATCH		256		/* Records per write. */
#define AUDIT_PATH_MAX		4096
#define AUDIT_LOUD_EVERY	60		/* Seconds between repeated failure messages. */
#define AUDIT_TAIL_READ		(2 * CB_AUDIT_LINE_MAX)
#define AUDIT_ROTATED_MAX	1000		/* path.1 .. path.1000 */
#define AUDIT_QUERY_MAX		100000
#define AUDIT_BUSY_MS		5000
#define AUDIT_ZERO_HASH		"0000000000000000000000000000000000000000000000000000000000000000"

static char const *const type_names[CB_AUDIT_TYPE_MAX] = {
	"decision", "session_start", "session_stop", "revoke", "reinstate", "exception_grant",
	"exception_end", "sync", "disconnect", "audit_start", "audit_gap", "reminder"
};

char const *cb_audit_type_name(cb_audit_type_t type)
{
	return (unsigned int) type < CB_AUDIT_TYPE_MAX ? type_names[type] : "?";
}

int cb_audit_type_from_name(char const *name)
{
	int i;

	if (!name) return -1;
	for (i = 0; i < CB_AUDIT_TYPE_MAX; i++) {
		if (strcmp(type_names[i], name) == 0) return i;
	}
	return -1;
}

char const *cb_audit_schema(void)
{
	return audit_schema;
}

/*
 *	Text
 */

/** utf8_len - length of the valid UTF-8 sequence at p (before end), 0 when invalid. */
static size_t utf8_len(unsigned char const *p, unsigned char const *end)
{
	uint32_t cp;

	return cb_utf8_decode(p, end, &cp);
}

/**
 * jtext - s as a JSON string: invalid UTF-8 as U+FFFD, at most
 * CB_AUDIT_FIELD_MAX bytes (cut at a character; *cut set).  NULL on
 * allocation failure.
 */
static json_object *jtext(char const *s, bool *cut)
{
	unsigned char const *p = (unsigned char const *) s, *end = p + strlen(s);
	char buf[CB_AUDIT_FIELD_MAX + 4];
	size_t o = 0;

	while (p < end) {
		size_t n = utf8_len(p, end);
		unsigned char const *src = p;

		if (n == 0) {
			src = (unsigned char const *) "\xef\xbf\xbd";
			n = 3;
			p++;
		} else {
			p += n;
		}
		if (o + n > CB_AUDIT_FIELD_MAX) {
			*cut = true;
			break;
		}
		memcpy(buf + o, src, n);
		o += n;
	}
	return json_object_new_string_len(buf, (int) o);
}

/*
 *	Building records
 */
typedef struct {
	json_object	*obj;
	bool		cut;
	bool		failed;
} rec_t;

static void put(rec_t *r, char const *key, json_object *v)
{
	if (!v) {
		r->failed = true;
		return;
	}
	if (json_object_object_add(r->obj, key, v) != 0) {
		json_object_put(v);
		r->failed = true;
	}
}

static void put_str(rec_t *r, char const *key, char const *s)
{
	if (s && *s) put(r, key, jtext(s, &r->cut));
}

static void put_time(rec_t *r, char const *key, time_t t)
{
	char buf[32];

	if (t) put(r, key, json_object_new_string(cb_tz_format_utc(t, buf, sizeof(buf))));
}

static void put_int(rec_t *r, char const *key, int64_t v)
{
	put(r, key, json_object_new_int64(v));
}

/** put_who - the fields that say who and where. */
static void put_who(rec_t *r, cb_audit_event_t const *ev)
{
	put_str(r, "identity", ev->identity);
	put_str(r, "outer_identity", ev->outer_identity);
	put_str(r, "calling_station", ev->calling_station);
	if (ev->called_station && *ev->called_station) {
		char ap[CB_STORE_TEXT_MAX + 1], ssid[CB_STORE_TEXT_MAX + 1];

		put_str(r, "called_station", ev->called_station);
		if (cb_store_split_called_station(ev->called_station, ap, ssid)) {
			put_str(r, "ap", ap);
			put_str(r, "ssid", ssid);
		}
	}
	put_str(r, "nas", ev->nas);
	put_str(r, "class_id", ev->class_id);
	put_str(r, "acct_session_id", ev->acct_session_id);
	put_str(r, "framed_ip", ev->framed_ip);
}

/** event_json - the record for ev, without seq, prev and hash.  NULL on allocation failure. */
static json_object *event_json(cb_audit_event_t const *ev, time_t now)
{
	rec_t r = { .obj = json_object_new_object() };

	if (!r.obj) return NULL;
	put(&r, "type", json_object_new_string(cb_audit_type_name(ev->type)));
	put_time(&r, "time", ev->time ? ev->time : now);
	put_who(&r, ev);
	put_str(&r, "status", ev->status);
	put_str(&r, "reason", ev->reason);
	put_time(&r, "ack_time", ev->ack_time);
	put_str(&r, "policy_version", ev->policy_version);
	put_time(&r, "expiry", ev->expiry);
	put_time(&r, "session_started", ev->session_started);
	if (ev->type == CB_AUDIT_SESSION_STOP) put_time(&r, "session_stopped", ev->session_stopped ? ev->session_stopped : (ev->time ? ev->time : now));
	put_str(&r, "stop_cause", ev->stop_cause);
	if (ev->has_octets) {
		put_int(&r, "in_octets", (int64_t) ev->in_octets);
		put_int(&r, "out_octets", (int64_t) ev->out_octets);
	}
	put_str(&r, "by", ev->by);
	put_str(&r, "why", ev->why);
	put_str(&r, "approved_by", ev->approved_by);
	put_time(&r, "until", ev->until);
	put_str(&r, "result", ev->result);
	if (ev->has_counts) {
		put_int(&r, "people", ev->people);
		put_int(&r, "agreed", ev->agreed);
		put_int(&r, "added", ev->added);
		put_int(&r, "removed", ev->removed);
		put_int(&r, "errors", ev->errors);
	}
	put_str(&r, "kind", ev->kind);
	if (ev->attempt) put_int(&r, "attempt", ev->attempt);
	if (ev->error_cause) put_int(&r, "error_cause", ev->error_cause);
	put_str(&r, "detail", ev->detail);
	if (r.cut) put(&r, "truncated", json_object_new_boolean(1));
	if (r.failed) {
		json_object_put(r.obj);
		return NULL;
	}
	return r.obj;
}

/*
 *	Canonical form and hash
 */
static int key_cmp(void const *a, void const *b)
{
	return strcmp(*(char const *const *) a, *(char const *const *) b);
}

/**
 * canonical - the canonical form of rec (every member but "hash", sorted),
 * malloc'd into *out.  Returns 0, or -1 when a value is not a string,
 * integer, boolean or null, or on allocation failure.
 */
static int canonical(json_object *rec, char **out, size_t *outlen)
{
	char const *keys[256];
	size_t n = 0, i;
	json_object *sorted;
	char const *s;
	int rc = -1;

	*out = NULL;
	if (!json_object_is_type(rec, json_type_object)) return -1;
	json_object_object_foreach(rec, k, v) {
		json_type t = json_object_get_type(v);

		if (strcmp(k, "hash") == 0) continue;
		if (t != json_type_string && t != json_type_int && t != json_type_boolean && t != json_type_null) return -1;
		if (n >= sizeof(keys) / sizeof(keys[0])) return -1;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	sorted = json_object_new_object();
	if (!sorted) return -1;
	for (i = 0; i < n; i++) {
		json_object *val = json_object_object_get(rec, keys[i]);

		if (json_object_object_add(sorted, keys[i], json_object_get(val)) != 0) {
			json_object_put(val);
			goto done;
		}
	}
	s = json_object_to_json_string_ext(sorted, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) goto done;
	*outlen = strlen(s);
	*out = malloc(*outlen + 1);
	if (!*out) goto done;
	memcpy(*out, s, *outlen + 1);
	rc = 0;
done:
	json_object_put(sorted);
	return rc;
}

static void hex_of(unsigned char const *md, size_t n, char *out)
{
	static char const hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(char const *data, size_t len, char out[CB_AUDIT_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) return -1;
	hex_of(md, mdlen, out);
	return 0;
}

int cb_audit_line_hash(json_object *rec, char out[CB_AUDIT_HASH_HEX + 1])
{
	char *c;
	size_t len;
	int rc;

	out[0] = '\0';
	if (canonical(rec, &c, &len) < 0) return -1;
	rc = sha256_hex(c, len, out);
	free(c);
	return rc;
}

static bool hash_valid(char const *s)
{
	size_t i;

	if (!s || strlen(s) != CB_AUDIT_HASH_HEX) return false;
	for (i = 0; i < CB_AUDIT_HASH_HEX; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
	}
	return true;
}

/**
 * chain_line - the line (with its newline) for fields at seq after prev,
 * malloc'd into *line; its hash into hash.  fields is not changed.
 * Returns 0 or -1 (allocation failure, or a value canonical refuses).
 */
static int chain_line(json_object *fields, uint64_t seq, char const *prev, char **line, size_t *len,
		      char hash[CB_AUDIT_HASH_HEX + 1])
{
	json_object *rec = json_object_new_object();
	char *c = NULL;
	size_t clen;
	int rc = -1;

	*line = NULL;
	if (!rec) return -1;
	json_object_object_foreach(fields, k, v) {
		if (json_object_object_add(rec, k, json_object_get(v)) != 0) {
			json_object_put(v);
			goto done;
		}
	}
	if (json_object_object_add(rec, "seq", json_object_new_int64((int64_t) seq)) != 0 ||
	    json_object_object_add(rec, "prev", json_object_new_string(prev)) != 0) goto done;
	if (canonical(rec, &c, &clen) < 0 || clen < 2 || sha256_hex(c, clen, hash) < 0) goto done;
	/* "{...}" -> "{...,"hash":"<64>"}\n" */
	*len = clen - 1 + sizeof(",\"hash\":\"\"}\n") - 1 + CB_AUDIT_HASH_HEX;
	*line = malloc(*len + 1);
	if (!*line) goto done;
	memcpy(*line, c, clen - 1);
	snprintf(*line + clen - 1, *len + 1 - (clen - 1), ",\"hash\":\"%s\"}\n", hash);
	rc = 0;
done:
	free(c);
	json_object_put(rec);
	return rc;
}

/*
 *	The writer
 */
struct cb_audit {
	cb_audit_conf_t		conf;
	char			path[AUDIT_PATH_MAX];
	char			db_path[AUDIT_PATH_MAX];

	pthread_mutex_t		mu;
	pthread_cond_t		wake;		/* The writer: work, reopen or stop. */
	pthread_cond_t		acked;		/* Flush waiters. */
	json_object		**ring;
	size_t			cap, head, len;
	uint64_t		enqueued;	/* Ever put on the ring. */
	uint64_t		acknowledged;	/* Ever taken off it, written. */
	uint64_t		dropped_unreported;
	time_t			first_dropped;
	bool			stop, reopen, failing;
	struct timespec		stop_deadline;
	cb_audit_stats_t	stats;
	pthread_t		thread;

	/* The writer thread's own, once started. */
	int			fd;
	uint64_t		seq;
	char			prev[CB_AUDIT_HASH_HEX + 1];
	sqlite3			*db;
	sqlite3_stmt		*ins;
	time_t			last_loud;
	unsigned int		delay_ms;
};

#define A_LOG(a, lvl, ...) do { if ((a)->conf.log) (a)->conf.log((a)->conf.log_ctx, (lvl), __VA_ARGS__); } while (0)

static ssize_t sys_write(void *ctx, int fd, void const *buf, size_t len)
{
	(void) ctx;
	return write(fd, buf, len);
}

static int sys_fsync(void *ctx, int fd)
{
	(void) ctx;
	return fsync(fd);
}

/** write_all - len bytes or -1 (errno set; ENOSPC for a write that wrote nothing). */
static int write_all(cb_audit_t *a, char const *buf, size_t len)
{
	while (len) {
		ssize_t n = a->conf.io.write(a->conf.io.ctx, a->fd, buf, len);

		if (n < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

static int open_file(cb_audit_t *a, char *err, size_t errlen)
{
	int fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		      a->conf.mode ? a->conf.mode : 0600);

	if (fd < 0) {
		snprintf(err, errlen, "audit file %s: %s", a->path, strerror(errno));
		return -1;
	}
	a->fd = fd;
	return 0;
}

/**
 * last_record - seq and hash of the last complete line in fd.  *cut gets
 * the length the file should have (the end of that line; the size when it
 * ends with a newline).  Returns 0 (found), 1 (no complete line), -1 (err).
 */
static int last_record(int fd, uint64_t *seq, char hash[CB_AUDIT_HASH_HEX + 1], off_t *cut, char *err, size_t errlen)
{
	struct stat st;
	off_t start;
	char *buf;
	ssize_t got;
	size_t n, end, b;
	json_object *o, *v;
	int rc = 1;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return -1;
	}
	*cut = st.st_size;
	if (st.st_size == 0) return 1;
	start = st.st_size > AUDIT_TAIL_READ ? st.st_size - AUDIT_TAIL_READ : 0;
	buf = malloc(AUDIT_TAIL_READ + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	got = pread(fd, buf, (size_t) (st.st_size - start), start);
	if (got != st.st_size - start) {
		snprintf(err, errlen, "read: %s", got < 0 ? strerror(errno) : "short read");
		free(buf);
		return -1;
	}
	n = (size_t) got;
	end = n;
	while (end > 0 && buf[end - 1] != '\n') end--;	/* Drop a partial last line. */
	*cut = start + (off_t) end;
	if (end == 0) {
		free(buf);
		if (start > 0) {
			snprintf(err, errlen, "no complete line in the last %d bytes", AUDIT_TAIL_READ);
			return -1;
		}
		return 1;
	}
	b = end - 1;
	while (b > 0 && buf[b - 1] != '\n') b--;
	buf[end - 1] = '\0';
	o = json_tokener_parse(buf + b);
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0) {
		*seq = (uint64_t) json_object_get_int64(v);
		if (json_object_object_get_ex(o, "hash", &v) && hash_valid(json_object_get_string(v))) {
			memcpy(hash, json_object_get_string(v), CB_AUDIT_HASH_HEX + 1);
			rc = 0;
		}
	}
	if (rc != 0) {
		snprintf(err, errlen, "the last line is not an audit record");
		rc = -1;
	}
	json_object_put(o);
	free(buf);
	return rc;
}

/*
 *	The database index (writer side)
 */
static int db_attach(cb_audit_t *a, char *err, size_t errlen);
static int db_insert(cb_audit_t *a, char const *line, size_t len);
static int db_last_raw(sqlite3 *db, uint64_t *seq, char hash[CB_AUDIT_HASH_HEX + 1]);

/** recover - where the chain continues: file, database or path.1; 0 or -1 (err). */
static int recover(cb_audit_t *a, char *err, size_t errlen)
{
	char e[256], rotated[AUDIT_PATH_MAX + 8], hash[CB_AUDIT_HASH_HEX + 1];
	uint64_t seq = 0, dseq = 0;
	off_t cut;
	int rc, fd;
	struct stat st;

	a->seq = 0;
	memcpy(a->prev, AUDIT_ZERO_HASH, sizeof(AUDIT_ZERO_HASH));
	rc = last_record(a->fd, &seq, hash, &cut, e, sizeof(e));
	if (rc < 0) {
		snprintf(err, errlen, "audit file %s: %s; move it aside to start a new trail", a->path, e);
		return -1;
	}
	if (fstat(a->fd, &st) == 0 && cut < st.st_size) {
		A_LOG(a, CB_LOG_ERROR, "audit: %s ended with %lld bytes of an unfinished line (a crash during a "
		      "write; that record was never acknowledged): cut off", a->path, (long long) (st.st_size - cut));
		if (ftruncate(a->fd, cut) < 0) {
			snprintf(err, errlen, "audit file %s: cannot cut the unfinished line: %s", a->path, strerror(errno));
			return -1;
		}
	}
	if (rc == 0) {
		a->seq = seq;
		memcpy(a->prev, hash, sizeof(hash));
	}
	if (a->db && db_last_raw(a->db, &dseq, hash) == 0 && dseq > a->seq) {
		if (a->seq) {
			A_LOG(a, CB_LOG_ERROR, "audit: the database holds records up to seq %" PRIu64 " but %s ends at "
			      "seq %" PRIu64 ": lines were removed from the file; continuing after the database's",
			      dseq, a->path, a->seq);
		}
		a->seq = dseq;
		memcpy(a->prev, hash, sizeof(hash));
		return 0;
	}
	if (rc == 0) return 0;
	snprintf(rotated, sizeof(rotated), "%s.1", a->path);
	fd = open(rotated, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (last_record(fd, &seq, hash, &cut, e, sizeof(e)) == 0) {
			a->seq = seq;
			memcpy(a->prev, hash, sizeof(hash));
		}
		close(fd);
	}
	return 0;
}

/** loud - log a write failure: the first, then once a minute. */
static void loud(cb_audit_t *a, char const *what, int e, size_t queued)
{
	time_t now = time(NULL);

	if (a->last_loud && now - a->last_loud < AUDIT_LOUD_EVERY) return;
	a->last_loud = now;
	A_LOG(a, CB_LOG_ERROR, "audit: cannot %s %s: %s; %zu record%s waiting in memory (at most %zu), %s",
	      what, a->path, strerror(e), queued, queued == 1 ? "" : "s", a->cap,
	      a->conf.on_failure == CB_AUDIT_FAIL_CLOSED ? "refusing admissions (on_failure = fail_closed)" :
	      "still admitting (on_failure = fail_open)");
}

/** gap_json - the audit_gap record for n dropped records since first. */
static json_object *gap_json(uint64_t n, time_t first, time_t now)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_AUDIT_GAP, .time = now,
				.detail = "records dropped: the trail could not be written and the queue was full" };
	json_object *o = event_json(&ev, now);
	char buf[32];

	if (!o) return NULL;
	if (json_object_object_add(o, "dropped", json_object_new_int64((int64_t) n)) != 0 ||
	    json_object_object_add(o, "dropped_since", json_object_new_string(cb_tz_format_utc(first, buf, sizeof(buf)))) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

typedef struct {
	char		*buf;
	size_t		len, alloc;
	size_t		*ends;		/* Where each line ends in buf. */
	size_t		n;
} batch_t;

static int batch_add(batch_t *b, char const *line, size_t len)
{
	if (b->len + len > b->alloc) {
		size_t na = (b->alloc ? b->alloc : 65536);
		char *nb;

		while (na < b->len + len) na *= 2;
		nb = realloc(b->buf, na);
		if (!nb) return -1;
		b->buf = nb;
		b->alloc = na;
	}
	memcpy(b->buf + b->len, line, len);
	b->len += len;
	b->ends[b->n++] = b->len;
	return 0;
}

static void do_reopen(cb_audit_t *a);

/** rotated_away - whether the path no longer names the open file (moved by logrotate without a HUP). */
static bool rotated_away(cb_audit_t *a)
{
	struct stat p, f;

	if (fstat(a->fd, &f) < 0) return false;
	if (stat(a->path, &p) < 0) return errno == ENOENT;
	return p.st_ino != f.st_ino || p.st_dev != f.st_dev;
}

/**
 * write_batch - chain items[0..n) (after a gap record when gap) and append
 * them.  On 0 the chain state has advanced and b holds the lines; on -1
 * the file is as it was and *e holds errno.
 */
static int write_batch(cb_audit_t *a, json_object **items, size_t n, json_object *gap, batch_t *b, int *e)
{
	uint64_t seq = a->seq;
	char prev[CB_AUDIT_HASH_HEX + 1], hash[CB_AUDIT_HASH_HEX + 1];
	struct stat st;
	size_t i;

	memcpy(prev, a->prev, sizeof(prev));
	for (i = 0; i < n + (gap ? 1 : 0); i++) {
		json_object *fields = gap ? (i == 0 ? gap : items[i - 1]) : items[i];
		char *line;
		size_t len;

		if (chain_line(fields, seq + 1, prev, &line, &len, hash) < 0 || batch_add(b, line, len) < 0) {
			free(line);
			*e = ENOMEM;
			return -1;
		}
		free(line);
		seq++;
		memcpy(prev, hash, sizeof(prev));
	}
	if (a->fd >= 0 && rotated_away(a)) do_reopen(a);
	if (a->fd < 0) {
		char err[256];

		if (open_file(a, err, sizeof(err)) < 0) {
			*e = errno;
			return -1;
		}
	}
	if (fstat(a->fd, &st) < 0) {
		*e = errno;
		return -1;
	}
	if (write_all(a, b->buf, b->len) < 0 ||
	    (a->conf.fsync == CB_AUDIT_FSYNC_BATCH && a->conf.io.fsync(a->conf.io.ctx, a->fd) < 0)) {
		*e = errno;
		/* Never leave half a line, or a line not acknowledged, behind. */
		if (ftruncate(a->fd, st.st_size) < 0) {
			A_LOG(a, CB_LOG_ERROR, "audit: cannot cut %s back after a failed write: %s; verify will show a "
			      "broken line there", a->path, strerror(errno));
		}
		return -1;
	}
	a->seq = seq;
	memcpy(a->prev, prev, sizeof(prev));
	return 0;
}

/** after_ack - the acknowledged lines to the database and syslog. */
static void after_ack(cb_audit_t *a, batch_t const *b)
{
	size_t i, start = 0;

	if (a->db && sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		int rc = 0;

		for (i = 0; i < b->n && rc == 0; i++) {
			rc = db_insert(a, b->buf + start, b->ends[i] - start - 1);
			start = b->ends[i];
		}
		if (rc == 0 && sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
			rc = 0;
		} else {
			A_LOG(a, CB_LOG_WARN, "audit: cannot copy records to the database %s: %s (the file has them)",
			      a->db_path, sqlite3_errmsg(a->db));
			sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	if (a->conf.syslog) {
		start = 0;
		for (i = 0; i < b->n; i++) {
			syslog((a->conf.syslog_facility ? a->conf.syslog_facility : LOG_AUTHPRIV) | LOG_INFO,
			       "cetbyod-audit: %.*s", (int) (b->ends[i] - start - 1), b->buf + start);
			start = b->ends[i];
		}
	}
}

static void deadline_in(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool past(struct timespec const *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

static void do_reopen(cb_audit_t *a)
{
	char err[AUDIT_PATH_MAX + 128];

	if (a->fd >= 0) close(a->fd);
	a->fd = -1;
	if (open_file(a, err, sizeof(err)) < 0) {
		A_LOG(a, CB_LOG_ERROR, "audit: reopen: %s (retrying at the next write)", err);
	} else {
		A_LOG(a, CB_LOG_INFO, "audit: reopened %s; the chain continues at seq %" PRIu64, a->path, a->seq + 1);
	}
}

/** writer_failed - after a failed batch (mutex held): log, then wait before the retry.  false: give up (stopping). */
static bool writer_failed(cb_audit_t *a, int e)
{
	struct timespec ts;
	unsigned int max = a->conf.retry_max_ms ? a->conf.retry_max_ms : CB_AUDIT_RETRY_MAX_MS;

	a->failing = true;
	a->stats.failing = true;
	a->stats.write_failures++;
	snprintf(a->stats.last_error, sizeof(a->stats.last_error), "%.180s: %s", a->path, strerror(e));
	loud(a, "write", e, a->len);
	if (a->stop && past(&a->stop_deadline)) return false;
	deadline_in(&ts, a->delay_ms);
	if (a->stop && !past(&a->stop_deadline)) {
		/* Do not sleep past the close deadline. */
		if (ts.tv_sec > a->stop_deadline.tv_sec ||
		    (ts.tv_sec == a->stop_deadline.tv_sec && ts.tv_nsec > a->stop_deadline.tv_nsec)) ts = a->stop_deadline;
	}
	/* New records signal too: they must not hurry the retry (a busy server
	 * would hammer the failing disk), only stop and reopen may. */
	while (!a->stop && !a->reopen && !past(&ts)) pthread_cond_timedwait(&a->wake, &a->mu, &ts);
	a->delay_ms = a->delay_ms * 2 > max ? max : a->delay_ms * 2;
	return true;
}

static void writer_acked(cb_audit_t *a, size_t n, uint64_t gap)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_object_put(a->ring[a->head]);
		a->ring[a->head] = NULL;
		a->head = (a->head + 1) % a->cap;
	}
	a->len -= n;
	a->acknowledged += n;
	a->stats.written += n + (gap ? 1 : 0);
	a->stats.last_seq = a->seq;
	a->dropped_unreported -= gap;
	if (a->failing) A_LOG(a, CB_LOG_INFO, "audit: writing %s again", a->path);
	a->failing = false;
	a->stats.failing = false;
	a->last_loud = 0;
	a->delay_ms = a->conf.retry_ms ? a->conf.retry_ms : 1000;
	pthread_cond_broadcast(&a->acked);
}

static void *writer_main(void *arg)
{
	cb_audit_t *a = arg;
	json_object *items[AUDIT_BATCH];
	size_t ends[AUDIT_BATCH + 1];

	pthread_mutex_lock(&a->mu);
	for (;;) {
		batch_t b = { .ends = ends };
		json_object *gap = NULL;
		uint64_t ngap;
		size_t n, i;
		int e = 0, rc;

		while (!a->stop && !a->reopen && a->len == 0 && !a->dropped_unreported) {
			pthread_cond_wait(&a->wake, &a->mu);
		}
		if (a->reopen) {
			a->reopen = false;
			pthread_mutex_unlock(&a->mu);
			do_reopen(a);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if (a->len == 0 && !a->dropped_unreported) break;	/* Stopping, all written. */
		n = a->len < AUDIT_BATCH ? a->len : AUDIT_BATCH;
		for (i = 0; i < n; i++) items[i] = a->ring[(a->head + i) % a->cap];
		ngap = a->dropped_unreported;
		if (ngap) gap = gap_json(ngap, a->first_dropped, time(NULL));
		pthread_mutex_unlock(&a->mu);

		rc = (ngap && !gap) ? (e = ENOMEM, -1) : write_batch(a, items, n, gap, &b, &e);
		json_object_put(gap);
		if (rc == 0) after_ack(a, &b);
		free(b.buf);

		pthread_mutex_lock(&a->mu);
		if (rc == 0) {
			writer_acked(a, n, ngap);
		} else if (!writer_failed(a, e)) {
			break;
		}
	}
	if (a->len) {
		A_LOG(a, CB_LOG_ERROR, "audit: stopping with %zu record%s never written to %s (never acknowledged)",
		      a->len, a->len == 1 ? "" : "s", a->path);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

cb_audit_t *cb_audit_open(cb_audit_conf_t const *conf, char *err, size_t errlen)
{
	cb_audit_t *a;
	pthread_condattr_t ca;
	cb_audit_event_t start = { .type = CB_AUDIT_AUDIT_START, .detail = "audit trail opened" };

	if (!conf || !conf->path || !*conf->path || strlen(conf->path) >= AUDIT_PATH_MAX ||
	    (conf->db_path && strlen(conf->db_path) >= AUDIT_PATH_MAX)) {
		snprintf(err, errlen, "audit: a file path (shorter than %d bytes) is required", AUDIT_PATH_MAX);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) goto oom;
	a->conf = *conf;
	if (!a->conf.io.write) a->conf.io.write = sys_write;
	if (!a->conf.io.fsync) a->conf.io.fsync = sys_fsync;
	memcpy(a->path, conf->path, strlen(conf->path) + 1);
	if (conf->db_path) memcpy(a->db_path, conf->db_path, strlen(conf->db_path) + 1);
	a->conf.path = a->path;
	a->conf.db_path = conf->db_path ? a->db_path : NULL;
	a->cap = conf->queue_max ? conf->queue_max : CB_AUDIT_QUEUE_DEFAULT;
	a->delay_ms = conf->retry_ms ? conf->retry_ms : 1000;
	a->fd = -1;
	a->ring = calloc(a->cap, sizeof(*a->ring));
	if (!a->ring) goto oom;
	if (open_file(a, err, errlen) < 0) goto fail;
	if (conf->db_path && db_attach(a, err, errlen) < 0) goto fail;
	if (recover(a, err, errlen) < 0) goto fail;
	a->stats.last_seq = a->seq;

	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_cond_init(&a->acked, &ca);
	pthread_condattr_destroy(&ca);
	cb_audit_record(a, &start);
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		snprintf(err, errlen, "audit: cannot start the writer thread");
		json_object_put(a->ring[a->head]);
		pthread_cond_destroy(&a->wake);
		pthread_cond_destroy(&a->acked);
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}
	return a;
oom:
	snprintf(err, errlen, "audit: out of memory");
fail:
	if (a) {
		if (a->ins) sqlite3_finalize(a->ins);
		if (a->db) sqlite3_close(a->db);
		if (a->fd >= 0) close(a->fd);
		free(a->ring);
		free(a);
	}
	return NULL;
}

void cb_audit_close(cb_audit_t *a, unsigned int timeout_ms)
{
	size_t i;

	if (!a) return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	deadline_in(&a->stop_deadline, timeout_ms);
	pthread_cond_broadcast(&a->wake);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);

	for (i = 0; i < a->len; i++) json_object_put(a->ring[(a->head + i) % a->cap]);
	free(a->ring);
	if (a->ins) sqlite3_finalize(a->ins);
	if (a->db) sqlite3_close(a->db);
	if (a->fd >= 0) close(a->fd);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->acked);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/** must_refuse - whether fail_closed must refuse now (mutex held). */
static bool must_refuse(cb_audit_t const *a)
{
	return a->conf.on_failure == CB_AUDIT_FAIL_CLOSED && (a->failing || a->len >= a->cap);
}

cb_audit_rc_t cb_audit_record(cb_audit_t *a, cb_audit_event_t const *ev)
{
	time_t now = time(NULL);
	json_object *o = NULL;
	cb_audit_rc_t rc;

	if (ev && (unsigned int) ev->type < CB_AUDIT_TYPE_MAX) o = event_json(ev, now);
	pthread_mutex_lock(&a->mu);
	if (!o) {
		A_LOG(a, CB_LOG_ERROR, "audit: cannot build a record (%s)", ev ? "out of memory" : "no event");
		rc = a->conf.on_failure == CB_AUDIT_FAIL_CLOSED ? CB_AUDIT_REFUSE : CB_AUDIT_DROPPED;
	} else if (a->len >= a->cap) {
		if (!a->dropped_unreported) a->first_dropped = now;
		a->dropped_unreported++;
		a->stats.dropped++;
		json_object_put(o);
		rc = a->conf.on_failure == CB_AUDIT_FAIL_CLOSED ? CB_AUDIT_REFUSE : CB_AUDIT_DROPPED;
	} else if (must_refuse(a) && ev->admission) {
		json_object_put(o);	/* The caller refuses instead, and records that. */
		rc = CB_AUDIT_REFUSE;
	} else {
		rc = must_refuse(a) ? CB_AUDIT_REFUSE : CB_AUDIT_QUEUED;
		a->ring[(a->head + a->len) % a->cap] = o;
		a->len++;
		a->enqueued++;
		pthread_cond_signal(&a->wake);
	}
	if (rc == CB_AUDIT_REFUSE) a->stats.refused++;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void cb_audit_session_closed(cb_audit_t *audit, cb_store_session_t const *s)
{
	cb_audit_event_t ev = {
		.type = CB_AUDIT_SESSION_STOP, .time = s->stopped, .identity = s->identity[0] ? s->identity : NULL,
		.outer_identity = s->outer_identity, .calling_station = s->calling_station,
		.called_station = s->called_station, .nas = s->nas, .class_id = s->class_id[0] ? s->class_id : NULL,
		.acct_session_id = s->acct_session_id, .framed_ip = s->framed_ip[0] ? s->framed_ip : NULL,
		.session_started = s->started, .session_stopped = s->stopped, .stop_cause = s->stop_cause,
		.has_octets = true, .in_octets = s->in_octets, .out_octets = s->out_octets,
	};

	if (audit) cb_audit_record(audit, &ev);
}

bool cb_audit_admit_ok(cb_audit_t *a)
{
	bool ok;

	pthread_mutex_lock(&a->mu);
	ok = !must_refuse(a);
	pthread_mutex_unlock(&a->mu);
	return ok;
}

void cb_audit_reopen(cb_audit_t *a)
{
	if (!a) return;
	pthread_mutex_lock(&a->mu);
	a->reopen = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

int cb_audit_flush(cb_audit_t *a, unsigned int timeout_ms)
{
	struct timespec ts;
	uint64_t target;
	int rc = 0;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&a->mu);
	target = a->enqueued;
	while (a->acknowledged < target || a->dropped_unreported) {
		if (pthread_cond_timedwait(&a->acked, &a->mu, &ts) != 0 && past(&ts)) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void cb_audit_stats(cb_audit_t *a, cb_audit_stats_t *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->stats;
	out->queued = a->len;
	pthread_mutex_unlock(&a->mu);
}

/*
 *	Verification
 */
typedef struct {
	cb_audit_verify_t	*out;
	uint64_t		expect;		/* Next seq; 0 before the first record. */
	char			prev[CB_AUDIT_HASH_HEX + 1];
	char			*line;
} verify_t;

static int vbad(verify_t *v, char const *file, uint64_t line, cb_audit_bad_t bad, uint64_t found,
		char const *fmt, ...) __attribute__((format(printf, 6, 7)));

static int vbad(verify_t *v, char const *file, uint64_t line, cb_audit_bad_t bad, uint64_t found,
		char const *fmt, ...)
{
	va_list ap;

	v->out->bad = bad;
	snprintf(v->out->file, sizeof(v->out->file), "%s", file);
	v->out->line = line;
	v->out->seq = v->expect ? v->expect : found;
	v->out->found_seq = found;
	va_start(ap, fmt);
	vsnprintf(v->out->message, sizeof(v->out->message), fmt, ap);
	va_end(ap);
	return bad == CB_AUDIT_BAD_IO ? -1 : 1;
}

/** read_line - one line into buf (at most max bytes); returns its length, -1 at EOF, -2 too long; *nl: ended by '\n'. */
static long read_line(FILE *fp, char *buf, size_t max, bool *nl)
{
	size_t n = 0;
	int c;
	bool too_long = false;

	*nl = false;
	while ((c = getc_unlocked(fp)) != EOF) {
		if (c == '\n') {
			*nl = true;
			break;
		}
		if (n < max) buf[n++] = (char) c;
		else too_long = true;
	}
	if (c == EOF && n == 0 && !too_long) return -1;
	buf[n] = '\0';
	return too_long ? -2 : (long) n;
}

/** check_record - one line; 0 good, 1 bad (v->out filled). */
static int check_record(verify_t *v, char const *file, uint64_t lineno, char const *text, size_t len)
{
	json_tokener *tok;
	json_object *o, *js, *jp, *jh;
	char hash[CB_AUDIT_HASH_HEX + 1];
	uint64_t seq = 0;
	int rc = 0;

	tok = json_tokener_new();
	if (!tok) return vbad(v, file, lineno, CB_AUDIT_BAD_IO, 0, "out of memory");
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || (size_t) json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " is not a JSON object", lineno);
		goto done;
	}
	if (!json_object_object_get_ex(o, "seq", &js) || !json_object_is_type(js, json_type_int) ||
	    json_object_get_int64(js) <= 0 || !json_object_object_get_ex(o, "prev", &jp) ||
	    !hash_valid(json_object_get_string(jp)) || !json_object_object_get_ex(o, "hash", &jh) ||
	    !hash_valid(json_object_get_string(jh))) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " lacks a valid seq, prev or hash", lineno);
		goto done;
	}
	seq = (uint64_t) json_object_get_int64(js);
	if (cb_audit_line_hash(o, hash) < 0 || strcmp(hash, json_object_get_string(jh)) != 0) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_HASH, seq, "record seq %" PRIu64 " (line %" PRIu64 ") was "
			  "altered: its content does not match its hash", seq, lineno);
		goto done;
	}
	if (v->expect == 0) {
		v->out->first_seq = seq;
		if (seq == 1 && strcmp(json_object_get_string(jp), AUDIT_ZERO_HASH) != 0) {
			rc = vbad(v, file, lineno, CB_AUDIT_BAD_START, seq, "record seq 1 (line %" PRIu64 ") does not "
				  "start a chain", lineno);
			goto done;
		}
	} else if (seq > v->expect) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_GAP, seq, "line %" PRIu64 " holds seq %" PRIu64 " where seq %"
			  PRIu64 " belongs: record%s %" PRIu64 "%s%s removed or moved", lineno, seq, v->expect,
			  seq - v->expect > 1 ? "s" : "", v->expect, seq - v->expect > 1 ? "..." : "",
			  seq - v->expect > 1 ? "were" : " was");
		if (seq - v->expect > 1) {
			snprintf(v->out->message, sizeof(v->out->message), "line %" PRIu64 " holds seq %" PRIu64
				 " where seq %" PRIu64 " belongs: records %" PRIu64 " to %" PRIu64 " were removed or moved",
				 lineno, seq, v->expect, v->expect, seq - 1);
		}
		goto done;
	} else if (seq < v->expect) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_ORDER, seq, "line %" PRIu64 " holds seq %" PRIu64 " where seq %"
			  PRIu64 " belongs: records were moved or duplicated", lineno, seq, v->expect);
		goto done;
	} else if (strcmp(json_object_get_string(jp), v->prev) != 0) {
		rc = vbad(v, file, lineno, CB_AUDIT_BAD_LINK, seq, "record seq %" PRIu64 " (line %" PRIu64 ") does not "
			  "follow the record before it: seq %" PRIu64 " was altered or replaced", seq, lineno, seq - 1);
		goto done;
	}
	v->expect = seq + 1;
	memcpy(v->prev, json_object_get_string(jh), CB_AUDIT_HASH_HEX + 1);
	v->out->records++;
	v->out->last_seq = seq;
	memcpy(v->out->last_hash, v->prev, sizeof(v->prev));
done:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

static int verify_file(verify_t *v, char const *file)
{
	FILE *fp = fopen(file, "re");
	uint64_t lineno = 0;
	long len;
	bool nl;
	int rc = 0;

	if (!fp) return vbad(v, file, 0, CB_AUDIT_BAD_IO, 0, "cannot read %s: %s", file, strerror(errno));
	while ((len = read_line(fp, v->line, CB_AUDIT_LINE_MAX, &nl)) != -1) {
		lineno++;
		if (len == -2) {
			rc = vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " is longer than %d bytes",
				  lineno, CB_AUDIT_LINE_MAX);
			break;
		}
		if (!nl) {
			rc = vbad(v, file, lineno, CB_AUDIT_BAD_TRUNCATED, 0, "line %" PRIu64 " (the last) was cut short: "
				  "the record there is incomplete", lineno);
			break;
		}
		rc = check_record(v, file, lineno, v->line, (size_t) len);
		if (rc) break;
	}
	if (rc == 0 && ferror(fp)) rc = vbad(v, file, lineno, CB_AUDIT_BAD_IO, 0, "error reading %s", file);
	fclose(fp);
	return rc;
}

int cb_audit_verify_files(char const *const *paths, size_t n, cb_audit_verify_t *out)
{
	verify_t v = { .out = out };
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	v.line = malloc(CB_AUDIT_LINE_MAX + 1);
	if (!v.line) return vbad(&v, "", 0, CB_AUDIT_BAD_IO, 0, "out of memory");
	for (i = 0; i < n && rc == 0; i++) {
		rc = verify_file(&v, paths[i]);
		out->files++;
	}
	free(v.line);
	return rc;
}

int cb_audit_rotated_files(char const *path, char ***files, size_t *n, size_t *skipped)
{
	char buf[AUDIT_PATH_MAX + 16];
	char **list;
	struct stat st;
	size_t count = 0, i, k, last = 0;

	*files = NULL;
	*n = 0;
	*skipped = 0;
	for (k = 1; k <= AUDIT_ROTATED_MAX; k++) {
		snprintf(buf, sizeof(buf), "%s.%zu", path, k);
		if (stat(buf, &st) == 0) {
			last = k;
			continue;
		}
		snprintf(buf, sizeof(buf), "%s.%zu.gz", path, k);
		if (stat(buf, &st) == 0) {
			last = k;
			continue;
		}
		break;
	}
	list = calloc(last + 1, sizeof(*list));
	if (!list) return -1;
	for (k = last; k >= 1; k--) {
		snprintf(buf, sizeof(buf), "%s.%zu", path, k);
		if (stat(buf, &st) != 0) {
			(*skipped)++;
			continue;
		}
		list[count] = strdup(buf);
		if (!list[count++]) goto oom;
	}
	if (stat(path, &st) == 0) {
		list[count] = strdup(path);
		if (!list[count++]) goto oom;
	}
	*files = list;
	*n = count;
	return 0;
oom:
	for (i = 0; i < count; i++) free(list[i]);
	free(list);
	return -1;
}

void cb_audit_files_free(char **files, size_t n)
{
	size_t i;

	if (!files) return;
	for (i = 0; i < n; i++) free(files[i]);
	free(files);
}

/*
 *	The database
 */
struct cb_audit_db {
	sqlite3		*db;
	bool		has_table;
};

static bool db_is_store(sqlite3 *db)
{
	sqlite3_stmt *st;
	bool ok = false;

	if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK) return false;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 1128421700) ok = true;
	sqlite3_finalize(st);
	return ok;
}

static bool db_has_table(sqlite3 *db, char const *name)
{
	sqlite3_stmt *st;
	bool ok = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) != SQLITE_OK) {
		return false;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return ok;
}

/**
 * db_connect - a connection to the existing store at path: WAL, busy
 * timeout, the audit table created unless readonly.  NULL with err set.
 */
static sqlite3 *db_connect(char const *path, bool readonly, bool *has_table, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;

	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "audit database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, AUDIT_BUSY_MS);
	if (!db_is_store(db)) {
		snprintf(err, errlen, "audit database %s: not a cetbyod store (open the store first)", path);
		goto fail;
	}
	if (!readonly && (sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
			  sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
			  sqlite3_exec(db, audit_schema, NULL, NULL, NULL) != SQLITE_OK)) {
		snprintf(err, errlen, "audit database %s: cannot create the audit table: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	*has_table = db_has_table(db, "audit");
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

static int db_attach(cb_audit_t *a, char *err, size_t errlen)
{
	bool has;

	a->db = db_connect(a->db_path, false, &has, err, errlen);
	if (!a->db) return -1;
	if (sqlite3_prepare_v2(a->db, "INSERT INTO audit (seq, time, type, identity, outer_identity, calling_station, "
			       "mac, nas, ap, ssid, framed_ip, acct_session_id, status, reason, by, session_start, "
			       "session_stop, hash, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
			       "?13, ?14, ?15, ?16, ?17, ?18, ?19)", -1, &a->ins, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "audit database %s: %s", a->db_path, sqlite3_errmsg(a->db));
		return -1;
	}
	return 0;
}

static char const *jget(json_object *o, char const *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return "";
	return json_object_get_string(v);
}

static time_t jtime(json_object *o, char const *key)
{
	char const *s = jget(o, key);
	time_t t = 0;

	if (!*s || cb_tz_parse_time(s, strlen(s), NULL, &t) < 0) return 0;
	return t;
}

static void bind_time_or_null(sqlite3_stmt *st, int i, time_t t)
{
	if (t) sqlite3_bind_int64(st, i, t);
	else sqlite3_bind_null(st, i);
}

/** db_insert - one line (without its newline) into the table; 0 or -1. */
static int db_insert(cb_audit_t *a, char const *line, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, line, (int) len) : NULL;	/* line is not NUL-terminated. */
	sqlite3_stmt *st = a->ins;
	json_object *v;
	char mac[18];
	char const *type;
	time_t start = 0, stop = 0;
	int rc, i = 3;

	if (tok) json_tokener_free(tok);
	if (!o) return -1;
	type = jget(o, "type");
	if (strcmp(type, "session_start") == 0) {
		start = jtime(o, "session_started");
		if (!start) start = jtime(o, "time");
	} else if (strcmp(type, "session_stop") == 0) {
		start = jtime(o, "session_started");
		stop = jtime(o, "session_stopped");
		if (!stop) stop = jtime(o, "time");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	json_object_object_get_ex(o, "seq", &v);
	sqlite3_bind_int64(st, 1, json_object_get_int64(v));
	sqlite3_bind_int64(st, 2, jtime(o, "time"));
	sqlite3_bind_text(st, i++, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "identity"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "outer_identity"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "calling_station"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, cb_audit_mac_normalise(jget(o, "calling_station"), mac) ? mac : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "nas"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "ap"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "ssid"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "framed_ip"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "acct_session_id"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "status"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "reason"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, jget(o, "by"), -1, SQLITE_TRANSIENT);
	bind_time_or_null(st, i++, start);
	bind_time_or_null(st, i++, stop);
	sqlite3_bind_text(st, i++, jget(o, "hash"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, line, (int) len, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	json_object_put(o);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int db_last_raw(sqlite3 *db, uint64_t *seq, char hash[CB_AUDIT_HASH_HEX + 1])
{
	sqlite3_stmt *st;
	int rc = 1;

	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		char const *h = (char const *) sqlite3_column_text(st, 1);

		if (h && hash_valid(h)) {
			*seq = (uint64_t) sqlite3_column_int64(st, 0);
			memcpy(hash, h, CB_AUDIT_HASH_HEX + 1);
			rc = 0;
		} else {
			rc = -1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

cb_audit_db_t *cb_audit_db_open(char const *path, bool readonly, char *err, size_t errlen)
{
	cb_audit_db_t *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->db = db_connect(path, readonly, &d->has_table, err, errlen);
	if (!d->db) {
		free(d);
		return NULL;
	}
	return d;
}

void cb_audit_db_close(cb_audit_db_t *d)
{
	if (!d) return;
	sqlite3_close(d->db);
	free(d);
}

int cb_audit_last(cb_audit_db_t *d, uint64_t *seq, char hash[CB_AUDIT_HASH_HEX + 1])
{
	if (!d->has_table) return 1;
	return db_last_raw(d->db, seq, hash);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	char const *t = (char const *) sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	char *s = malloc((size_t) (n > 0 ? n : 0) + 1);

	if (!s) return NULL;
	if (t && n > 0) memcpy(s, t, (size_t) n);
	s[n > 0 ? n : 0] = '\0';
	return s;
}

static void row_free(cb_audit_row_t *r)
{
	free(r->identity);
	free(r->outer_identity);
	free(r->calling_station);
	free(r->nas);
	free(r->ssid);
	free(r->framed_ip);
	free(r->acct_session_id);
	free(r->status);
	free(r->reason);
	free(r->by);
	free(r->record);
}

static bool read_row(sqlite3_stmt *st, cb_audit_row_t *r)
{
	char const *t = (char const *) sqlite3_column_text(st, 2);

	memset(r, 0, sizeof(*r));
	r->seq = sqlite3_column_int64(st, 0);
	r->time = (time_t) sqlite3_column_int64(st, 1);
	snprintf(r->type, sizeof(r->type), "%s", t ? t : "");
	r->identity = col_dup(st, 3);
	r->outer_identity = col_dup(st, 4);
	r->calling_station = col_dup(st, 5);
	r->nas = col_dup(st, 6);
	r->ssid = col_dup(st, 7);
	r->framed_ip = col_dup(st, 8);
	r->acct_session_id = col_dup(st, 9);
	r->status = col_dup(st, 10);
	r->reason = col_dup(st, 11);
	r->by = col_dup(st, 12);
	r->record = col_dup(st, 13);
	if (!r->identity || !r->outer_identity || !r->calling_station || !r->nas || !r->ssid || !r->framed_ip ||
	    !r->acct_session_id || !r->status || !r->reason || !r->by || !r->record) {
		row_free(r);
		return false;
	}
	return true;
}

/** sql_add - append a fixed fragment to a bounded SQL buffer. */
static void sql_add(char *sql, size_t size, char const *frag)
{
	size_t n = strlen(sql), f = strlen(frag);

	if (n + f < size) memcpy(sql + n, frag, f + 1);
}

int cb_audit_query(cb_audit_db_t *d, cb_audit_query_t const *q, cb_audit_rows_t *out, char *err, size_t errlen)
{
	char sql[1024] = "SELECT seq, time, type, identity, outer_identity, calling_station, nas, ssid, framed_ip, "
			 "acct_session_id, status, reason, by, record FROM audit WHERE 1";
	char mac[18];
	sqlite3_stmt *st;
	size_t alloc = 0, limit = q->limit ? q->limit : AUDIT_QUERY_MAX;
	int rc;

	out->items = NULL;
	out->count = 0;
	if (!d->has_table) return 0;
	if (q->mac && !cb_audit_mac_normalise(q->mac, mac)) {
		snprintf(err, errlen, "not a MAC address");
		return -1;
	}
	if (q->identity) sql_add(sql, sizeof(sql), " AND identity = ?1");
	if (q->mac) sql_add(sql, sizeof(sql), " AND mac = ?2");
	if (q->nas) sql_add(sql, sizeof(sql), " AND nas = ?3");
	if (q->ssid) sql_add(sql, sizeof(sql), " AND ssid = ?4");
	if (q->ip) sql_add(sql, sizeof(sql), " AND framed_ip = ?5");
	if (q->from) sql_add(sql, sizeof(sql), " AND time >= ?6");
	if (q->to) sql_add(sql, sizeof(sql), " AND time <= ?7");
	if (!q->any_type && q->type >= 0) sql_add(sql, sizeof(sql), " AND type = ?8");
	sql_add(sql, sizeof(sql), " ORDER BY seq LIMIT ?9");
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "query: %s", sqlite3_errmsg(d->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, q->identity ? q->identity : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mac, q->mac ? -1 : 0, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->nas ? q->nas : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->ssid ? q->ssid : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, q->ip ? q->ip : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, q->from);
	sqlite3_bind_int64(st, 7, q->to);
	sqlite3_bind_text(st, 8, cb_audit_type_name((cb_audit_type_t) q->type), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, (int64_t) limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			cb_audit_row_t *ni = realloc(out->items, na * sizeof(*ni));

			if (!ni) goto oom;
			out->items = ni;
			alloc = na;
		}
		if (!read_row(st, &out->items[out->count])) goto oom;
		out->count++;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "query: %s", sqlite3_errmsg(d->db));
		sqlite3_finalize(st);
		cb_audit_rows_free(out);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	sqlite3_finalize(st);
	cb_audit_rows_free(out);
	return -1;
}

void cb_audit_rows_free(cb_audit_rows_t *rows)
{
	size_t i;

	if (!rows) return;
	for (i = 0; i < rows->count; i++) row_free(&rows->items[i]);
	free(rows->items);
	rows->items = NULL;
	rows->count = 0;
}

/*
 *	Who held an address
 */
typedef struct {
	cb_audit_holder_t	h;
	bool			has_start, has_stop, has_ip;
} interval_t;

static void copy_col(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	char const *t = (char const *) sqlite3_column_text(st, col);

	if (t && *t) snprintf(buf, size, "%s", t);
}

/** ip_rows - rebuild sessions (intervals) from the start and stop records of sessions that had ip. */
static int ip_rows(cb_audit_db_t *d, char const *ip, char const *nas, interval_t **out, size_t *n, char *err, size_t errlen)
{
	static char const sql[] =
		"SELECT nas, acct_session_id, type, time, identity, outer_identity, calling_station, ssid, framed_ip, "
		"session_start, session_stop FROM audit WHERE type IN ('session_start', 'session_stop') AND "
		"(nas, acct_session_id) IN (SELECT nas, acct_session_id FROM audit WHERE framed_ip = ?1 AND "
		"type IN ('session_start', 'session_stop') AND (?2 = '' OR nas = ?2)) ORDER BY nas, acct_session_id, seq";
	sqlite3_stmt *st;
	interval_t *list = NULL, *cur = NULL;
	size_t count = 0, alloc = 0;
	char key_nas[256] = "", key_id[256] = "";
	int rc;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "query: %s", sqlite3_errmsg(d->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, nas ? nas : "", -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char const *rn = (char const *) sqlite3_column_text(st, 0), *ri = (char const *) sqlite3_column_text(st, 1);
		char const *type = (char const *) sqlite3_column_text(st, 2);
		bool start = type && strcmp(type, "session_start") == 0;
		bool same = cur && strcmp(key_nas, rn ? rn : "") == 0 && strcmp(key_id, ri ? ri : "") == 0;

		/* A new interval: another key, a start after a stop, or a stop after a stop. */
		if (!same || (start && cur->has_stop) || (!start && cur->has_stop)) {
			if (count == alloc) {
				size_t na = alloc ? alloc * 2 : 16;
				interval_t *ni = realloc(list, na * sizeof(*ni));

				if (!ni) {
					snprintf(err, errlen, "out of memory");
					sqlite3_finalize(st);
					free(list);
					return -1;
				}
				list = ni;
				alloc = na;
			}
			cur = &list[count++];
			memset(cur, 0, sizeof(*cur));
			snprintf(key_nas, sizeof(key_nas), "%s", rn ? rn : "");
			snprintf(key_id, sizeof(key_id), "%s", ri ? ri : "");
			copy_col(st, 0, cur->h.nas, sizeof(cur->h.nas));
			copy_col(st, 1, cur->h.acct_session_id, sizeof(cur->h.acct_session_id));
		}
		copy_col(st, 4, cur->h.identity, sizeof(cur->h.identity));
		copy_col(st, 5, cur->h.outer_identity, sizeof(cur->h.outer_identity));
		copy_col(st, 6, cur->h.calling_station, sizeof(cur->h.calling_station));
		copy_col(st, 7, cur->h.ssid, sizeof(cur->h.ssid));
		copy_col(st, 8, cur->h.framed_ip, sizeof(cur->h.framed_ip));
		if (sqlite3_column_text(st, 8) && strcmp((char const *) sqlite3_column_text(st, 8), ip) == 0) cur->has_ip = true;
		if (start) {
			if (!cur->has_start) cur->h.started = (time_t) sqlite3_column_int64(st, 9);
			cur->has_start = true;
		} else {
			if (!cur->h.started) cur->h.started = (time_t) sqlite3_column_int64(st, 9);
			cur->h.stopped = (time_t) sqlite3_column_int64(st, 10);
			if (!cur->h.started) cur->h.started = cur->h.stopped;
			cur->has_stop = true;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "query: %s", sqlite3_errmsg(d->db));
		free(list);
		return -1;
	}
	*out = list;
	*n = count;
	return 0;
}

static int holder_cmp(void const *a, void const *b)
{
	cb_audit_holder_t const *x = a, *y = b;

	return x->started < y->started ? 1 : (x->started > y->started ? -1 : 0);
}

int cb_audit_ip_at(cb_audit_db_t *d, char const *ip, char const *nas, time_t at, time_t at_end,
		   cb_audit_holders_t *out, char *err, size_t errlen)
{
	interval_t *iv = NULL;
	size_t n = 0, i, j;

	out->items = NULL;
	out->count = 0;
	if (at_end < at) at_end = at;
	if (!d->has_table) return 0;
	if (ip_rows(d, ip, nas, &iv, &n, err, errlen) < 0) return -1;

	/* A session without a stop is superseded by the next session with the address. */
	for (i = 0; i < n; i++) {
		if (iv[i].has_stop || !iv[i].has_ip) continue;
		for (j = 0; j < n; j++) {
			if (j == i || !iv[j].has_ip || iv[j].h.started <= iv[i].h.started) continue;
			if (!iv[i].h.superseded || iv[j].h.started < iv[i].h.superseded) iv[i].h.superseded = iv[j].h.started;
		}
	}
	out->items = calloc(n ? n : 1, sizeof(*out->items));
	if (!out->items) {
		free(iv);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		cb_audit_holder_t *h = &iv[i].h;
		time_t end = h->stopped ? h->stopped : (h->superseded ? h->superseded - 1 : 0);

		if (!iv[i].has_ip || h->started > at_end) continue;
		if (end && end < at) continue;
		out->items[out->count++] = *h;
	}
	for (i = 0; i < out->count; i++) {
		out->items[i].certain = out->count == 1 && out->items[i].stopped;
	}
	qsort(out->items, out->count, sizeof(*out->items), holder_cmp);
	free(iv);
	return 0;
}

void cb_audit_holders_free(cb_audit_holders_t *list)
{
	if (!list) return;
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/*
 *	Export and purge
 */

/** col_json - one column of a row as JSON (text made valid UTF-8). */
static json_object *col_json(sqlite3_stmt *st, int col)
{
	bool cut = false;

	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		return json_object_new_int64(sqlite3_column_int64(st, col));
	case SQLITE_FLOAT:
		return json_object_new_double(sqlite3_column_double(st, col));
	case SQLITE_TEXT:
		return jtext((char const *) sqlite3_column_text(st, col), &cut);
	default:
		return NULL;
	}
}

/** export_table - rows of table whose identity column is identity, as an array; NULL on error. */
static json_object *export_table(cb_audit_db_t *d, char const *table, char const *identity, bool records,
				 char *err, size_t errlen)
{
	char sql[256];
	sqlite3_stmt *st;
	json_object *arr = json_object_new_array();
	int rc, c;

	if (!arr) return NULL;
	if (records) {
		snprintf(sql, sizeof(sql), "SELECT record FROM audit WHERE identity = ?1 ORDER BY seq");
	} else {
		/* people is a WITHOUT ROWID table: one row per person, no order needed. */
		snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE identity = ?1%s", table,
			 strcmp(table, "people") == 0 ? "" : " ORDER BY rowid");
	}
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "export %s: %s", table, sqlite3_errmsg(d->db));
		json_object_put(arr);
		return NULL;
	}
	sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *row;

		if (records) {
			row = json_tokener_parse((char const *) sqlite3_column_text(st, 0));
		} else {
			row = json_object_new_object();
			for (c = 0; row && c < sqlite3_column_count(st); c++) {
				json_object_object_add(row, sqlite3_column_name(st, c), col_json(st, c));
			}
		}
		if (row) json_object_array_add(arr, row);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "export %s: %s", table, sqlite3_errmsg(d->db));
		json_object_put(arr);
		return NULL;
	}
	return arr;
}

json_object *cb_audit_export_person(cb_audit_db_t *d, char const *identity, char *err, size_t errlen)
{
	static char const *const tables[] = {
		"people", "decisions", "sessions", "revocations", "disconnects", "exceptions", "reminders"
	};
	json_object *o = json_object_new_object(), *a;
	size_t i;

	if (!o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_object_object_add(o, "identity", json_object_new_string(identity));
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (!db_has_table(d->db, tables[i])) continue;
		a = export_table(d, tables[i], identity, false, err, errlen);
		if (!a) goto fail;
		json_object_object_add(o, tables[i], a);
	}
	if (d->has_table) {
		a = export_table(d, "audit", identity, true, err, errlen);
		if (!a) goto fail;
	} else {
		a = json_object_new_array();
	}
	json_object_object_add(o, "audit", a);
	return o;
fail:
	json_object_put(o);
	return NULL;
}

int cb_audit_purge(cb_audit_db_t *d, time_t before, size_t *removed, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	*removed = 0;
	if (!d->has_table) return 0;
	if (sqlite3_prepare_v2(d->db, "DELETE FROM audit WHERE time < ?1", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "purge: %s", sqlite3_errmsg(d->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "purge: %s", sqlite3_errmsg(d->db));
		return -1;
	}
	*removed = (size_t) sqlite3_changes(d->db);
	return 0;
}

/*
 *	Output helpers
 */
bool cb_audit_csv_cell(char const *s, char *out, size_t outlen)
{
	bool neutral, quote;
	size_t o = 0, need;
	char const *p;

	if (!s) s = "";
	neutral = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
	quote = strpbrk(s, ",\"\r\n") != NULL;
	need = strlen(s) + 1 + (neutral ? 1 : 0) + (quote ? 2 : 0);
	for (p = s; *p; p++) if (*p == '"') need++;
	if (need > outlen) {
		if (outlen) out[0] = '\0';
		return false;
	}
	if (quote) out[o++] = '"';
	if (neutral) out[o++] = '\'';
	for (p = s; *p; p++) {
		if (*p == '"') out[o++] = '"';
		out[o++] = *p;
	}
	if (quote) out[o++] = '"';
	out[o] = '\0';
	return true;
}

bool cb_audit_mac_normalise(char const *s, char out[18])
{
	char digits[12];
	size_t n = 0, i, o = 0;

	out[0] = '\0';
	if (!s || !*s) return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (isxdigit((unsigned char) c)) {
			if (n >= 12) return false;
			digits[n++] = (char) toupper((unsigned char) c);
		} else if ((c == '-' || c == ':' || c == '.') && i > 0 && s[i + 1] && isxdigit((unsigned char) s[i - 1])) {
			continue;
		} else {
			return false;
		}
	}
	if (n != 12) return false;
	for (i = 0; i < 12; i++) {
		out[o++] = digits[i];
		if (i % 2 == 1 && i < 11) out[o++] = '-';
	}
	out[o] = '\0';
	return true;
}

int cb_retention_purge(cb_store_t *store, char const *db_path, time_t before, size_t *store_removed,
		       size_t *audit_removed, char *err, size_t errlen)
{
	cb_audit_db_t *db = cb_audit_db_open(db_path, false, err, errlen);
	int rc;

	*store_removed = *audit_removed = 0;
	if (!db) return -1;
	rc = cb_audit_purge(db, before, audit_removed, err, errlen);
	cb_audit_db_close(db);
	if (rc < 0) return -1;
	if (cb_store_purge(store, before, store_removed) < 0) {
		snprintf(err, errlen, "purged %zu audit rows, but could not purge the store %s", *audit_removed, db_path);
		return -1;
	}
	return 0;
}
