/*
 * snapshot.c - saving and loading the last good acknowledgement index.
 *
 * The file, one JSON document per line (json-c writes and reads every line):
 *
 *   {"format":"cetbyod-snapshot","version":1,"synced_at":1788249600,"built_at":1788249601,"count":2,"source":"forms"}
 *   {"email":"a@school.example","ack_time":1788220800,"policy_version":"2026","revoked":false,"origin":"forms:ACYD..."}
 *   {"email":"b@school.example","ack_time":1788224400,"policy_version":"","revoked":true,"origin":"sheet:row 9"}
 *   {"sha256":"<64 hex digits over every byte of the lines above, newlines included>"}
 *
 * Writing streams the index through a stdio buffer while hashing, into a
 * mkstemp file (mode 0600) beside the target; fsync, rename, then fsync of
 * the directory make the replacement durable and atomic.  Loading streams
 * the lines into an index builder while hashing and trusts the builder's
 * result only once the trailer's digest, the header's count and every
 * record have checked out; on any failure the builder is discarded.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "core/identity.h"
#include "sources/snapshot.h"

/* json-c before 0.15 has no accessor for where parsing stopped. */
#if JSON_C_VERSION_NUM < ((0 << 16) | (15 << 8))
#define json_tokener_get_parse_end(_tok) ((size_t) (_tok)->char_offset)
#endif

#define SNAP_FORMAT		"cetbyod-snapshot"
#define SNAP_LINE_MAX		8192
#define SNAP_FIELD_MAX		256
#define SNAP_PATH_MAX		4096

/*
 *	Writing
 */
typedef struct {
	FILE		*fp;
	EVP_MD_CTX	*md;
	bool		failed;
} snap_writer_t;

static void write_line(snap_writer_t *w, json_object *o)
{
	char const *s;
	size_t len;

	if (w->failed) return;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		w->failed = true;
		return;
	}
	len = strlen(s);
	if (fwrite(s, 1, len, w->fp) != len || fputc('\n', w->fp) == EOF ||
	    EVP_DigestUpdate(w->md, s, len) != 1 || EVP_DigestUpdate(w->md, "\n", 1) != 1) w->failed = true;
}

static void write_header(snap_writer_t *w, cb_ack_index_t const *idx, time_t synced_at, char const *source)
{
	json_object *o = json_object_new_object();

	if (!o) {
		w->failed = true;
		return;
	}
	json_object_object_add(o, "format", json_object_new_string(SNAP_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(CB_SNAPSHOT_VERSION));
	json_object_object_add(o, "synced_at", json_object_new_int64((int64_t) synced_at));
	json_object_object_add(o, "built_at", json_object_new_int64((int64_t) cb_ack_index_built_at(idx)));
	json_object_object_add(o, "count", json_object_new_int64((int64_t) cb_ack_index_count(idx)));
	json_object_object_add(o, "source", json_object_new_string(source ? source : ""));
	write_line(w, o);
	json_object_put(o);
}

static void write_record(snap_writer_t *w, cb_ack_record_t const *r)
{
	json_object *o = json_object_new_object();

	if (!o) {
		w->failed = true;
		return;
	}
	json_object_object_add(o, "email", json_object_new_string(r->email));
	json_object_object_add(o, "ack_time", json_object_new_int64((int64_t) r->ack_time));
	json_object_object_add(o, "policy_version", json_object_new_string(r->policy_version ? r->policy_version : ""));
	json_object_object_add(o, "revoked", json_object_new_boolean(r->revoked));
	json_object_object_add(o, "origin", json_object_new_string(r->origin ? r->origin : ""));
	write_line(w, o);
	json_object_put(o);
}

static void write_trailer(snap_writer_t *w)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int n;

	if (w->failed) return;
	if (EVP_DigestFinal_ex(w->md, digest, &dlen) != 1) {
		w->failed = true;
		return;
	}
	for (unsigned int i = 0; i < dlen; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	n = fprintf(w->fp, "{\"sha256\":\"%s\"}\n", hex);
	if (n < 0) w->failed = true;
}

/* The directory part of path, into dir[len]. */
static void dir_of(char const *path, char *dir, size_t len)
{
	char tmp[SNAP_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, len, "%s", dirname(tmp));
}

static int fsync_dir(char const *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0) return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int cb_snapshot_save(char const *path, cb_ack_index_t const *idx, time_t synced_at, char const *source,
		     char *err, size_t errlen)
{
	char tmp[SNAP_PATH_MAX], dir[SNAP_PATH_MAX];
	snap_writer_t w = { 0 };
	size_t n = cb_ack_index_count(idx);
	int fd, e;

	if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "snapshot path \"%s\" is too long", path);
		return -1;
	}
	dir_of(path, dir, sizeof(dir));
	fd = mkstemp(tmp);		/* Mode 0600, in the target's directory. */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file beside \"%s\": %m", path);
		return -1;
	}
	if (fchmod(fd, 0600) < 0 || !(w.fp = fdopen(fd, "w"))) {
		snprintf(err, errlen, "cannot write \"%s\": %m", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	setvbuf(w.fp, NULL, _IOFBF, 1 << 16);
	w.md = EVP_MD_CTX_new();
	if (!w.md || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1) w.failed = true;

	write_header(&w, idx, synced_at, source);
	for (size_t i = 0; i < n && !w.failed; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(idx, i);

		if (r) write_record(&w, r);
	}
	write_trailer(&w);
	EVP_MD_CTX_free(w.md);

	e = errno;
	if (w.failed || fflush(w.fp) != 0 || fsync(fileno(w.fp)) != 0) {
		e = errno;
		fclose(w.fp);
		unlink(tmp);
		if (e) {
			errno = e;
			snprintf(err, errlen, "cannot write the snapshot \"%s\": %m", tmp);
		} else {
			snprintf(err, errlen, "cannot write the snapshot \"%s\": out of memory", tmp);
		}
		return -1;
	}
	if (fclose(w.fp) != 0 || rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		snprintf(err, errlen, "cannot replace the snapshot \"%s\": %m", path);
		return -1;
	}
	if (fsync_dir(dir) < 0) {
		snprintf(err, errlen, "the snapshot \"%s\" was written but its directory could not be synced: %m",
			 path);
		return -1;
	}
	return 0;
}

/*
 *	Loading
 */
typedef struct {
	char const		*path;
	long			line;
	cb_ack_builder_t	*b;
	cb_snapshot_info_t	*info;
	size_t			records;
	bool			have_header;
	bool			have_trailer;
	EVP_MD_CTX		*md;
	json_tokener		*tok;
	char			*err;
	size_t			errlen;
} snap_reader_t;

static int bad(snap_reader_t *r, char const *why)
{
	snprintf(r->err, r->errlen, "the snapshot \"%s\" is corrupt and is ignored: line %ld: %s", r->path, r->line, why);
	return -1;
}

static json_object *field(json_object *o, char const *key, json_type type)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) return NULL;
	return v;
}

static bool str_ok(json_object *v)
{
	return v && json_object_get_string_len(v) <= SNAP_FIELD_MAX &&
	       strlen(json_object_get_string(v)) == (size_t) json_object_get_string_len(v);
}

static int read_header(snap_reader_t *r, json_object *o)
{
	json_object *fmt = field(o, "format", json_type_string), *ver = field(o, "version", json_type_int);
	json_object *synced = field(o, "synced_at", json_type_int), *built = field(o, "built_at", json_type_int);
	json_object *count = field(o, "count", json_type_int), *src = field(o, "source", json_type_string);

	if (!fmt || strcmp(json_object_get_string(fmt), SNAP_FORMAT) != 0) return bad(r, "not a cetbyod snapshot");
	if (!ver || json_object_get_int(ver) != CB_SNAPSHOT_VERSION) return bad(r, "unknown format version");
	if (!synced || !built || !count || json_object_get_int64(count) < 0) return bad(r, "incomplete header");
	r->info->synced_at = (time_t) json_object_get_int64(synced);
	r->info->built_at = (time_t) json_object_get_int64(built);
	r->info->count = (size_t) json_object_get_int64(count);
	if (src && str_ok(src)) snprintf(r->info->source, sizeof(r->info->source), "%s", json_object_get_string(src));
	r->have_header = true;
	return 0;
}

static int read_record(snap_reader_t *r, json_object *o)
{
	json_object *email = field(o, "email", json_type_string), *t = field(o, "ack_time", json_type_int);
	json_object *ver = field(o, "policy_version", json_type_string), *rev = field(o, "revoked", json_type_boolean);
	json_object *origin = field(o, "origin", json_type_string);
	char norm[CB_IDENTITY_MAX + 1];

	if (!email || !t || !ver || !rev || !origin) return bad(r, "a record lacks a field");
	if (!str_ok(email) || !str_ok(ver) || !str_ok(origin)) return bad(r, "a field is too long or holds NUL");
	if (!cb_identity_email_normalise(json_object_get_string(email), (size_t) json_object_get_string_len(email), norm,
				sizeof(norm)) || strcmp(norm, json_object_get_string(email)) != 0) {
		return bad(r, "an email address is not in normal form");
	}
	if (json_object_get_int64(t) < 0) return bad(r, "a negative ack_time");
	if (cb_ack_builder_add(r->b, norm, (time_t) json_object_get_int64(t), json_object_get_string(ver),
			       json_object_get_boolean(rev), json_object_get_string(origin)) < 0) {
		snprintf(r->err, r->errlen, "out of memory loading the snapshot \"%s\"", r->path);
		return -1;
	}
	r->records++;
	return 0;
}

/* The trailer: the digest of every byte before it. */
static int read_trailer(snap_reader_t *r, json_object *o)
{
	json_object *want = field(o, "sha256", json_type_string);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (!want) return bad(r, "the trailer has no sha256");
	if (EVP_DigestFinal_ex(r->md, digest, &dlen) != 1) return bad(r, "cannot compute SHA-256");
	for (unsigned int i = 0; i < dlen; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (strcmp(hex, json_object_get_string(want)) != 0) return bad(r, "SHA-256 mismatch (the file was truncated or edited)");
	r->have_trailer = true;
	return 0;
}

static int read_line(snap_reader_t *r, char const *line, size_t len)
{
	json_object *o;
	int rc;

	if (r->have_trailer) return bad(r, "text after the trailer");
	if (len == 0 || line[len - 1] != '\n') return bad(r, "the last line is incomplete (truncated file)");
	if (len > SNAP_LINE_MAX) return bad(r, "line too long");
	json_tokener_reset(r->tok);
	o = json_tokener_parse_ex(r->tok, line, (int) len - 1);
	if (!o || json_tokener_get_parse_end(r->tok) != len - 1 || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return bad(r, "not a JSON object");
	}
	if (!r->have_header) {
		rc = read_header(r, o);
	} else if (json_object_object_get_ex(o, "sha256", NULL)) {
		rc = read_trailer(r, o);
	} else {
		rc = read_record(r, o);
	}
	json_object_put(o);
	if (rc == 0 && !r->have_trailer && EVP_DigestUpdate(r->md, line, len) != 1) return bad(r, "cannot compute SHA-256");
	return rc;
}

/* After the last line: the file must have been whole. */
static int read_end(snap_reader_t *r)
{
	if (!r->have_header) return bad(r, "empty file");
	if (!r->have_trailer) return bad(r, "no trailer (truncated file)");
	if (r->records != r->info->count) return bad(r, "the record count does not match the header");
	return 0;
}

static int read_all(snap_reader_t *r, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = getline(&line, &cap, fp)) > 0) {
		r->line++;
		rc = read_line(r, line, (size_t) n);
	}
	free(line);
	if (rc < 0) return -1;
	if (ferror(fp)) {
		snprintf(r->err, r->errlen, "cannot read the snapshot \"%s\": %m", r->path);
		return -1;
	}
	return read_end(r);
}

/* The same as read_all, over a file's bytes held in memory (lines end after each '\n'). */
static int read_mem(snap_reader_t *r, char const *data, size_t len)
{
	while (len > 0) {
		char const *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t) (nl - data) + 1 : len;

		r->line++;
		if (read_line(r, data, n) < 0) return -1;
		data += n;
		len -= n;
	}
	return read_end(r);
}

/* Set up r, read with fp or data[0..len), and make the index.  0 or -1 (err set). */
static int read_snapshot(snap_reader_t *r, FILE *fp, char const *data, size_t len, cb_ack_index_t **out)
{
	int rc = -1;

	r->b = cb_ack_builder_new();
	r->md = EVP_MD_CTX_new();
	r->tok = json_tokener_new();
	if (!r->b || !r->md || !r->tok || EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
		snprintf(r->err, r->errlen, "out of memory loading the snapshot \"%s\"", r->path);
	} else if ((fp ? read_all(r, fp) : read_mem(r, data, len)) == 0) {
		*out = cb_ack_builder_finish(r->b, r->info->built_at);
		r->b = NULL;
		if (*out) rc = 0;
		else snprintf(r->err, r->errlen, "out of memory loading the snapshot \"%s\"", r->path);
	}
	cb_ack_builder_free(r->b);
	EVP_MD_CTX_free(r->md);
	json_tokener_free(r->tok);
	return rc;
}

int cb_snapshot_parse(char const *name, char const *data, size_t len, cb_ack_index_t **out, cb_snapshot_info_t *info,
		      char *err, size_t errlen)
{
	snap_reader_t r = { .path = name, .info = info, .err = err, .errlen = errlen };

	*out = NULL;
	memset(info, 0, sizeof(*info));
	return read_snapshot(&r, NULL, data, len, out);
}

int cb_snapshot_load(char const *path, cb_ack_index_t **out, cb_snapshot_info_t *info, char *err, size_t errlen)
{
	snap_reader_t r = { .path = path, .info = info, .err = err, .errlen = errlen };
	FILE *fp;
	int rc;

	*out = NULL;
	memset(info, 0, sizeof(*info));
	fp = fopen(path, "re");
	if (!fp) {
		if (errno == ENOENT) {
			snprintf(err, errlen, "no snapshot at \"%s\"", path);
			return 1;
		}
		snprintf(err, errlen, "cannot open the snapshot \"%s\": %m", path);
		return -1;
	}
	rc = read_snapshot(&r, fp, NULL, 0, out);
	fclose(fp);
	return rc;
}

/*
 *	The read mark (see snapshot.h)
 */
#define MARK_FORMAT		"cetbyod-read-mark"
#define MARK_MAX		512		/* Bytes; a mark is about 90. */
#define MARK_FUTURE_MAX		300		/* Seconds of clock skew tolerated. */

static int mark_path(char const *path, char *out, size_t len)
{
	return (size_t) snprintf(out, len, "%s%s", path, CB_SNAPSHOT_MARK_SUFFIX) >= len ? -1 : 0;
}

int cb_snapshot_mark_save(char const *path, time_t synced_at, time_t read_at, char *err, size_t errlen)
{
	char mark[SNAP_PATH_MAX], tmp[SNAP_PATH_MAX + 16], line[MARK_MAX];
	int fd, n, e;

	if (mark_path(path, mark, sizeof(mark)) < 0 || (size_t) snprintf(tmp, sizeof(tmp), "%s.XXXXXX", mark) >= sizeof(tmp)) {
		snprintf(err, errlen, "snapshot path \"%s\" is too long", path);
		return -1;
	}
	n = snprintf(line, sizeof(line), "{\"format\":\"%s\",\"version\":%d,\"snapshot_synced_at\":%lld,\"read_at\":%lld}\n",
		     MARK_FORMAT, CB_SNAPSHOT_VERSION, (long long) synced_at, (long long) read_at);
	fd = mkstemp(tmp);		/* Mode 0600, in the target's directory. */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file beside \"%s\": %m", mark);
		return -1;
	}
	if (write(fd, line, (size_t) n) != n) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e ? e : ENOSPC;
		snprintf(err, errlen, "cannot write \"%s\": %m", tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, mark) != 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		snprintf(err, errlen, "cannot replace \"%s\": %m", mark);
		return -1;
	}
	return 0;
}

/* Parse a mark's bytes: 0 with *synced and *read set, or -1 (err set). */
static int mark_parse(char const *name, char const *data, size_t len, time_t *synced, time_t *read, char *err,
		      size_t errlen)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *fmt, *ver, *s, *r;
	int rc = -1;

	if (len == 0 || data[len - 1] != '\n' || memchr(data, '\n', len) != data + len - 1) {
		snprintf(err, errlen, "the read mark \"%s\" is not one whole line", name);
	} else if (!tok || !(o = json_tokener_parse_ex(tok, data, (int) len - 1)) ||
		   json_tokener_get_parse_end(tok) != len - 1 || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the read mark \"%s\" is not a JSON object", name);
	} else if (!(fmt = field(o, "format", json_type_string)) || strcmp(json_object_get_string(fmt), MARK_FORMAT) != 0 ||
		   !(ver = field(o, "version", json_type_int)) || json_object_get_int(ver) != CB_SNAPSHOT_VERSION ||
		   !(s = field(o, "snapshot_synced_at", json_type_int)) || !(r = field(o, "read_at", json_type_int))) {
		snprintf(err, errlen, "the read mark \"%s\" is not a cetbyod read mark of version %d", name,
			 CB_SNAPSHOT_VERSION);
	} else {
		*synced = (time_t) json_object_get_int64(s);
		*read = (time_t) json_object_get_int64(r);
		rc = 0;
	}
	json_object_put(o);
	if (tok) json_tokener_free(tok);
	return rc;
}

int cb_snapshot_mark_load(char const *path, time_t synced_at, time_t now, time_t *read_at, char *err, size_t errlen)
{
	char mark[SNAP_PATH_MAX], buf[MARK_MAX];
	time_t s = 0, r = 0;
	ssize_t n;
	int fd;

	if (mark_path(path, mark, sizeof(mark)) < 0) {
		snprintf(err, errlen, "snapshot path \"%s\" is too long", path);
		return -1;
	}
	fd = open(mark, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) return 1;
		snprintf(err, errlen, "cannot open the read mark \"%s\": %m", mark);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t) n >= sizeof(buf)) {
		snprintf(err, errlen, n < 0 ? "cannot read the read mark \"%s\": %m" : "the read mark \"%s\" is too long", mark);
		return -1;
	}
	if (mark_parse(mark, buf, (size_t) n, &s, &r, err, errlen) < 0) return -1;
	if (s != synced_at) return 1;		/* It vouches for another snapshot. */
	if (r < synced_at || r > now + MARK_FUTURE_MAX) {
		snprintf(err, errlen, "the read mark \"%s\" has an impossible read time", mark);
		return -1;
	}
	*read_at = r;
	return 0;
}
