/*
 * index.c - the copy of the audit trail in the store's index: the fields
 * of a line as the index keeps them, a batch of lines into the index, and
 * the catch-up that copies what the index missed.
 *
 * The file is the record of authority; the index (cb_store_audit_*) is
 * what cetbyodctl's queries read.  The index thread (indexer.c) copies
 * the file's new lines after the writer has written them, cetbyodctl
 * before a query, and the writer one pass at start-up:
 * cb_audit_index_catch_up reads the
 * index's last record (seq, hash), reads the files (the rotated ones too,
 * oldest first, from where the writer says it fell behind when it knows)
 * and copies the records after that one, in order, each checked with the
 * line parser, linked to the one before and numbered one more.  seq is the
 * index's primary key, and the copy starts after the index's last, so a
 * record is never copied twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit_int.h"
#include "base/mac.h"
#include "core/tz.h"

#define CATCHUP_BATCH	256		/* Records per transaction of the catch-up. */

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

/**
 * index_fields - the index's fields of one line (len bytes, no newline)
 * from o, the record it holds, pointing into o; mac holds the normalised MAC.
 */
static void index_fields(json_object *o, char const *line, size_t len, cb_store_audit_entry_t *e,
			 char mac[CB_MAC_LEN + 1])
{
	json_object *v = NULL;

	memset(e, 0, sizeof(*e));
	e->type = jget(o, "type");
	if (strcmp(e->type, "session_start") == 0) {
		e->session_start = jtime(o, "session_started");
		if (!e->session_start) e->session_start = jtime(o, "time");
	} else if (strcmp(e->type, "session_stop") == 0) {
		e->session_start = jtime(o, "session_started");
		e->session_stop = jtime(o, "session_stopped");
		if (!e->session_stop) e->session_stop = jtime(o, "time");
	} else if (strcmp(e->type, "decision") == 0 && json_object_object_get_ex(o, "count", NULL)) {
		e->session_start = jtime(o, "first");		/* A coalesced run's span (runs.c). */
		e->session_stop = jtime(o, "last");
	}
	json_object_object_get_ex(o, "seq", &v);
	e->seq = json_object_get_int64(v);
	e->time = jtime(o, "time");
	e->identity = jget(o, "identity");
	e->outer_identity = jget(o, "outer_identity");
	e->calling_station = jget(o, "calling_station");
	e->mac = cb_mac_normalise(e->calling_station, mac) ? mac : "";
	e->nas = jget(o, "nas");
	e->ap = jget(o, "ap");
	e->ssid = jget(o, "ssid");
	e->framed_ip = jget(o, "framed_ip");
	e->acct_session_id = jget(o, "acct_session_id");
	e->status = jget(o, "status");
	e->reason = jget(o, "reason");
	e->by = jget(o, "by");
	e->hash = jget(o, "hash");
	e->ref = jget(o, "ref");
	e->record = line;
	e->record_len = len;
}

/**
 * index_entry - the index's fields of one line (len bytes, no newline),
 * pointing into *o, which the caller puts; mac holds the normalised MAC.
 * 0, or -1 when the line does not parse.
 */
static int index_entry(char const *line, size_t len, cb_store_audit_entry_t *e, char mac[CB_MAC_LEN + 1],
		       json_object **o)
{
	json_tokener *tok = json_tokener_new();

	*o = tok ? json_tokener_parse_ex(tok, line, (int) len) : NULL;	/* line is not NUL-terminated. */
	if (tok) json_tokener_free(tok);
	if (!*o) return -1;
	index_fields(*o, line, len, e, mac);
	return 0;
}

/**
 * index_put - lines buf[0..ends[n-1]) into the index, their fields from
 * recs[i] when recs is given (the writer's objects), else parsed from the
 * lines; see cb_audit_index_lines.
 */
static int index_put(cb_store_t *store, char const *buf, size_t const *ends, json_object *const *recs, size_t n,
		     cb_audit_indexed_fn fn, void *ctx, char const **why)
{
	cb_store_audit_entry_t *e = calloc(n ? n : 1, sizeof(*e));
	json_object **objs = calloc(n ? n : 1, sizeof(*objs));
	char (*macs)[CB_MAC_LEN + 1] = calloc(n ? n : 1, sizeof(*macs));
	size_t i, start = 0;
	int rc = (e && objs && macs) ? 0 : -1;

	*why = rc < 0 ? "out of memory" : NULL;
	for (i = 0; i < n && rc == 0; i++) {
		if (recs) {
			index_fields(recs[i], buf + start, ends[i] - start - 1, &e[i], macs[i]);
		} else {
			rc = index_entry(buf + start, ends[i] - start - 1, &e[i], macs[i], &objs[i]);
			if (rc < 0) *why = "a record does not parse";
		}
		start = ends[i];
	}
	if (rc == 0) rc = cb_store_audit_put(store, e, n);
	if (rc == 0 && fn) fn(ctx, e, n);
	for (i = 0; objs && i < n; i++) json_object_put(objs[i]);
	free(e);
	free(objs);
	free(macs);
	return rc;
}

int cb_audit_index_lines(cb_store_t *store, char const *buf, size_t const *ends, size_t n, cb_audit_indexed_fn fn,
			 void *ctx, char const **why)
{
	return index_put(store, buf, ends, NULL, n, fn, ctx, why);
}

int cb_audit_index_recs(cb_store_t *store, char const *buf, size_t const *ends, json_object *const *recs, size_t n,
			cb_audit_indexed_fn fn, void *ctx, char const **why)
{
	return index_put(store, buf, ends, recs, n, fn, ctx, why);
}

/*
 *	The catch-up
 */
typedef struct {
	cb_store_t		*store;
	cb_audit_key_t const	*key;
	cb_audit_indexed_fn	fn;
	void			*ctx;
	cb_audit_mark_t		*mark;
	uint64_t		last;		/* The last seq the index holds, or is about to (the batch). */
	char			prev[CB_AUDIT_HASH_HEX + 1];	/* Its hash; "": not known (no row yet). */
	size_t			left;		/* Records this pass may still copy. */
	uint64_t		*copied;
	char			*buf;		/* The batch: lines with their newlines. */
	size_t			len, alloc, n;
	size_t			ends[CATCHUP_BATCH];
	json_object		*recs[CATCHUP_BATCH];	/* The batch's records, parsed once (put by flush). */
	bool			in_seq;		/* Reading on from the mark: no line is the index's already. */
	cb_audit_mark_t		skip;		/* After a broken line: where the next pass resyncs (unset: unknown). */
	cb_audit_mark_t		end;		/* Where the batch's last line ends. */
	json_tokener		*tok;		/* Reused for every line of the pass. */
	char			*err;
	size_t			errlen;
} catchup_t;

/** flush - the batch into the index; 0, or -1 (the store failed). */
static int flush(catchup_t *c)
{
	char const *why;
	int rc;

	if (c->n == 0) return 0;
	rc = cb_audit_index_recs(c->store, c->buf, c->ends, c->recs, c->n, c->fn, c->ctx, &why);
	for (size_t i = 0; i < c->n; i++) json_object_put(c->recs[i]);
	if (rc < 0) {
		c->n = 0;
		c->len = 0;
		snprintf(c->err, c->errlen, "%s", why ? why : "the database refused them");
		return -1;
	}
	*c->copied += c->n;
	*c->mark = c->end;
	c->n = 0;
	c->len = 0;
	return 0;
}

static int broken(catchup_t *c, char const *path, off_t off, char const *what)
{
	snprintf(c->err, c->errlen, "%.3000s at byte %lld: %s", path, (long long) off, what);
	return -2;
}

/** line_seq - the seq of a line, without checking its hash (to skip what the index holds); 0: none. */
static uint64_t line_seq(json_tokener *tok, char const *text, size_t len)
{
	json_object *o, *v;
	uint64_t seq = 0;

	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0) {
		seq = (uint64_t) json_object_get_int64(v);
	}
	json_object_put(o);
	return seq;
}

/**
 * skip_at - where the next pass resyncs after the broken line of len bytes
 * ending at at: at the line itself when it is a sound record that does not
 * follow (seq is its seq: a gap, or a replaced record before it), else past
 * it, with the seq it claims plus one (an altered record) or the one
 * expected (a line that is not a record of this trail).
 */
static void skip_at(catchup_t *c, cb_audit_mark_t const *at, size_t len, uint64_t seq, bool sound)
{
	c->skip = *at;
	c->skip.resync = true;
	if (sound && seq > c->last) {
		c->skip.off -= (off_t) len + 1;
		c->skip.seq = seq;
	} else {
		c->skip.seq = seq > c->last ? seq + 1 : c->last + 1;
	}
}

/** take_check - a parsed line's place after the index's last, and room for it; 0, -1 (memory), -2 (broken). */
static int take_check(catchup_t *c, char const *path, size_t len, cb_audit_mark_t const *at, cb_audit_line_t const *l)
{
	if (l->seq != c->last + 1) {
		char m[128];

		snprintf(m, sizeof(m), "seq %" PRIu64 " where %" PRIu64 " should be", l->seq, c->last + 1);
		skip_at(c, at, len, l->seq, true);
		return broken(c, path, at->off - (off_t) len - 1, m);
	}
	if (c->prev[0] && strcmp(l->prev, c->prev) != 0) {
		skip_at(c, at, len, l->seq, true);
		return broken(c, path, at->off - (off_t) len - 1, "the record does not follow the database's last one");
	}
	if (c->len + len + 1 > c->alloc) {
		size_t na = c->alloc ? c->alloc : 65536;
		char *nb;

		while (na < c->len + len + 1) na *= 2;
		if (!(nb = realloc(c->buf, na))) {
			snprintf(c->err, c->errlen, "out of memory");
			return -1;
		}
		c->buf = nb;
		c->alloc = na;
	}
	return 0;
}

/**
 * take_line - one complete line (text[0..len), its newline at text[len])
 * that ends at off in the file (dev, ino): skipped when the index holds it,
 * else checked and added to the batch.  0, 1 (this pass is done), -1
 * (store), -2 (broken).
 */
static int take_line(catchup_t *c, char const *path, char const *text, size_t len, cb_audit_mark_t const *at)
{
	cb_audit_line_t l;
	cb_audit_bad_t bad;
	json_object *o = NULL;
	uint64_t seq = c->in_seq ? 0 : line_seq(c->tok, text, len);	/* From the mark on, parsed once only. */
	int rc;

	if (seq && seq <= c->last) return 0;
	bad = cb_audit_line_parse_tok(c->tok, text, len, c->key, &l, &o);
	if (bad == CB_AUDIT_BAD_IO) {
		snprintf(c->err, c->errlen, "out of memory");
		return -1;
	}
	if (bad != CB_AUDIT_OK) {
		skip_at(c, at, len, l.seq, false);
		return broken(c, path, at->off - (off_t) len - 1, "not a valid audit record");
	}
	if ((rc = take_check(c, path, len, at, &l)) != 0) {
		json_object_put(o);
		return rc;
	}
	memcpy(c->buf + c->len, text, len + 1);
	c->len += len + 1;
	c->recs[c->n] = o;
	c->ends[c->n++] = c->len;
	c->last = l.seq;
	memcpy(c->prev, l.hash, sizeof(c->prev));
	c->end = *at;
	c->end.seq = l.seq + 1;
	if (--c->left == 0) return flush(c) < 0 ? -1 : 1;
	if (c->n == CATCHUP_BATCH && flush(c) < 0) return -1;
	return 0;
}

/** read_file - the complete lines of path from off on; 0 (its end), 1 (pass done), -1, -2. */
static int read_file(catchup_t *c, char const *path, off_t off, char *line)
{
	FILE *fp = fopen(path, "re");
	cb_audit_mark_t at = { .set = true, .off = off };
	struct stat st;
	char eb[128];
	int rc = 0;

	if (!fp) {
		if (errno == ENOENT) return 0;	/* Rotated again since it was listed: the next pass sees it. */
		snprintf(c->err, c->errlen, "%.3000s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
		return -2;
	}
	if (fstat(fileno(fp), &st) < 0 || (off && fseeko(fp, off, SEEK_SET) < 0)) {
		snprintf(c->err, c->errlen, "%.3000s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
		fclose(fp);
		return -2;
	}
	at.dev = st.st_dev;
	at.ino = st.st_ino;
	while (rc == 0 && fgets(line, CB_AUDIT_LINE_MAX + 2, fp)) {
		size_t len = strlen(line);

		if (len == 0 || line[len - 1] != '\n') {
			/* At the end: a line being written (or cut short); the next pass sees it whole. */
			if (!feof(fp)) rc = broken(c, path, at.off, "a line too long, or holding a NUL byte");
			break;
		}
		at.off += (off_t) len;
		rc = take_line(c, path, line, len - 1, &at);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(c->err, c->errlen, "%.3000s: read error", path);
		rc = -2;
	}
	fclose(fp);
	/* A batch never spans two files (the mark names one); what came before a broken line is copied. */
	if ((rc == 0 || rc == -2) && flush(c) < 0) rc = -1;
	return rc;
}

/** first_seq - the seq of path's first line; 0: none, or unreadable. */
static uint64_t first_seq(json_tokener *tok, char const *path, char *line)
{
	FILE *fp = fopen(path, "re");
	uint64_t seq = 0;

	if (!fp) return 0;
	if (fgets(line, CB_AUDIT_LINE_MAX + 2, fp)) seq = line_seq(tok, line, strcspn(line, "\n"));
	fclose(fp);
	return seq;
}

/** start_at - which of files[0..n) to start reading, and where: at the mark, else by seq. */
static size_t start_at(catchup_t *c, char **files, size_t n, off_t *off, char *line)
{
	struct stat st;
	size_t i;

	*off = 0;
	if (c->mark->set && c->mark->seq <= c->last + 1) {
		for (i = 0; i < n; i++) {
			if (stat(files[i], &st) == 0 && st.st_dev == c->mark->dev && st.st_ino == c->mark->ino) {
				*off = c->mark->off;
				c->in_seq = c->mark->seq == c->last + 1;
				return i;
			}
		}
	}
	for (i = n; i-- > 0;) {
		uint64_t s = first_seq(c->tok, files[i], line);

		if (s && s <= c->last + 1) return i;
	}
	return 0;
}

int cb_audit_index_catch_up(cb_store_t *store, char const *path, cb_audit_key_t const *key, cb_audit_mark_t *mark,
			    size_t max, cb_audit_indexed_fn fn, void *ctx, uint64_t *copied, char *err, size_t errlen)
{
	catchup_t c = { .store = store, .key = key, .fn = fn, .ctx = ctx, .mark = mark, .left = max ? max : 1,
			.copied = copied, .err = err, .errlen = errlen };
	char **files = NULL, *line = NULL;
	size_t n = 0, skipped, i;
	off_t off;
	int rc;

	*copied = 0;
	rc = cb_store_audit_last(store, &c.last, c.prev);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the database's last record");
		return -1;
	}
	if (rc == 1 || (mark->set && mark->resync && mark->seq >= c.last + 1)) {
		/* No row, or past a broken line: the mark says where the copy starts. */
		if (!mark->set || mark->seq < 1) return 0;
		c.last = mark->seq - 1;
		c.prev[0] = '\0';
	}
	if (cb_audit_rotated_files(path, &files, &n, &skipped) < 0 || !(line = malloc(CB_AUDIT_LINE_MAX + 2)) ||
	    !(c.tok = json_tokener_new())) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else {
		rc = 0;
		for (i = start_at(&c, files, n, &off, line); i < n && rc == 0; i++, off = 0) {
			rc = read_file(&c, files[i], off, line);
		}
	}
	for (i = 0; i < c.n; i++) json_object_put(c.recs[i]);	/* A batch a failure left unflushed. */
	if (rc == -2 && c.skip.set) *mark = c.skip;			/* The next pass starts past the broken line. */
	free(line);
	free(c.buf);
	if (c.tok) json_tokener_free(c.tok);
	cb_audit_files_free(files, n);
	return rc;
}

int cb_audit_index_update(cb_store_t *store, char const *path, cb_audit_key_t const *key, size_t max,
			  uint64_t *copied, char *err, size_t errlen)
{
	cb_audit_mark_t mark = { .set = false };

	return cb_audit_index_catch_up(store, path, key, &mark, max, NULL, NULL, copied, err, errlen);
}
