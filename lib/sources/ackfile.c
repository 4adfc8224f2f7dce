/*
 * ackfile.c - the local acknowledgements file (see ackfile.h for the format).
 *
 * The parser walks the buffer with explicit bounds (pos/end); every line is
 * checked in full before anything from it goes into the builder.  The
 * source re-reads the file only when its identity (inode, size, mtime)
 * changes, and reads it through one bounded read of the whole file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/ackfile.h"
#include "core/identity.h"

typedef struct {
	char		*filename;
	cb_tz_t const	*tz;
	bool		have_stat;
	struct stat	last;
} ackfile_ctx_t;

typedef struct {
	char const	*pos;
	char const	*end;
} cursor_t;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/** next_field - the next whitespace-separated field of the line, or false at its end. */
static bool next_field(cursor_t *c, char const **start, size_t *len)
{
	while (c->pos < c->end && is_space(*c->pos)) c->pos++;
	if (c->pos >= c->end || *c->pos == '#') return false;
	*start = c->pos;
	while (c->pos < c->end && !is_space(*c->pos)) c->pos++;
	*len = (size_t) (c->pos - *start);
	return true;
}

/** copy_field - NUL-terminated copy into buf, false when it does not fit. */
static bool copy_field(char const *start, size_t len, char *buf, size_t buflen)
{
	if (len + 1 > buflen) return false;
	memcpy(buf, start, len);
	buf[len] = '\0';
	return true;
}

/**
 * read_time - the acknowledgement time: one field, or a local date followed
 * by a local time field ("2026-10-02 14:30").
 */
static bool read_time(cursor_t *c, char const *start, size_t len, cb_tz_t const *tz, time_t *out)
{
	cursor_t peek = *c;
	char const *tstart;
	size_t tlen;
	char both[64];

	if (len == 10 && next_field(&peek, &tstart, &tlen) && tlen >= 5 && tlen <= 8 && tstart[2] == ':') {
		if (len + 1 + tlen + 1 > sizeof(both)) return false;
		memcpy(both, start, len);
		both[len] = ' ';
		memcpy(both + len + 1, tstart, tlen);
		if (cb_tz_parse_time(both, len + 1 + tlen, tz, out) < 0) return false;
		*c = peek;
		return true;
	}
	return cb_tz_parse_time(start, len, tz, out) == 0;
}

/** parse_line - one non-blank, non-comment line; returns NULL or what is wrong (maybe in why). */
static char const *parse_line(char const *name, unsigned int lineno, cursor_t *c, cb_tz_t const *tz,
			      cb_ack_builder_t *b, char *why, size_t whylen)
{
	char const *start;
	size_t len;
	char email[CB_IDENTITY_MAX + 1], version[128] = "", origin[256];
	bool revoked = false;
	time_t when;

	if (!next_field(c, &start, &len)) return NULL;	/* Blank or comment. */
	if (!cb_identity_email_normalise(start, len, email, sizeof(email))) return "first field is not an email address";
	if (!next_field(c, &start, &len)) return "the acknowledgement time is missing";
	if (!read_time(c, start, len, tz, &when)) {
		return "the acknowledgement time is not RFC 3339 (2026-09-03T08:15:00Z) or a local date (2026-09-03 [08:15])";
	}
	if (cb_ack_builder_future(b, when, why, whylen)) return why;
	while (next_field(c, &start, &len)) {
		if (len == 7 && memcmp(start, "revoked", 7) == 0) {
			revoked = true;
		} else if (len > 8 && memcmp(start, "version=", 8) == 0) {
			if (!copy_field(start + 8, len - 8, version, sizeof(version))) return "version= is too long";
		} else if (len > 3 && memcmp(start, "by=", 3) == 0) {
			/* Who recorded it: kept in the file for people, not used here. */
		} else {
			return "unknown option (expected version=<v>, revoked or by=<name>)";
		}
	}
	snprintf(origin, sizeof(origin), "%s:%u", name, lineno);
	if (cb_ack_builder_add(b, email, when, version, revoked, origin) < 0) return "out of memory";
	return NULL;
}

/** parse_all - cb_ackfile_parse, also keeping the first problem in first (may be NULL). */
static unsigned int parse_all(char const *name, char const *data, size_t len, cb_tz_t const *tz,
			      cb_ack_builder_t *b, cb_log_fn_t log, void *log_ctx, char *first, size_t firstlen)
{
	char const *pos = data, *end = data + len;
	unsigned int lineno = 0, bad = 0;
	char why[160];

	while (pos < end) {
		char const *eol = memchr(pos, '\n', (size_t) (end - pos));
		char const *line_end = eol ? eol : end;
		char const *problem;
		cursor_t c = { .pos = pos, .end = line_end };

		lineno++;
		if ((size_t) (line_end - pos) > CB_ACKFILE_MAX_LINE) {
			problem = "line is too long";
		} else if (memchr(pos, '\0', (size_t) (line_end - pos))) {
			problem = "line contains a NUL byte";
		} else {
			problem = parse_line(name, lineno, &c, tz, b, why, sizeof(why));
		}
		if (problem) {
			if (!bad++ && first) snprintf(first, firstlen, "line %u: %s", lineno, problem);
			if (log) log(log_ctx, CB_LOG_WARN, "acknowledgements file %s line %u: %s; line skipped",
				     name, lineno, problem);
		}
		pos = eol ? eol + 1 : end;
	}
	return bad;
}

unsigned int cb_ackfile_parse(char const *name, char const *data, size_t len, cb_tz_t const *tz,
			      cb_ack_builder_t *b, cb_log_fn_t log, void *log_ctx)
{
	return parse_all(name, data, len, tz, b, log, log_ctx, NULL, 0);
}

/** read_whole_file - the file's contents in a malloc'd buffer, bounded by CB_ACKFILE_MAX_SIZE. */
static char *read_whole_file(int fd, size_t size, size_t *len, char *err, size_t errlen)
{
	char *data = malloc(size + 1);
	size_t got = 0;

	if (!data) {
		snprintf(err, errlen, "out of memory reading %zu bytes", size);
		return NULL;
	}
	while (got < size) {
		ssize_t n = read(fd, data + got, size - got);

		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			snprintf(err, errlen, "read failed: %m");
			free(data);
			return NULL;
		}
		if (n == 0) break;	/* Shrunk while reading: use what is there. */
		got += (size_t) n;
	}
	data[got] = '\0';
	*len = got;
	return data;
}

static cb_source_result_t ackfile_fetch(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev,
				       bool full, unsigned int *retry_after, char *err, size_t errlen)
{
	ackfile_ctx_t *ctx = src->ctx;
	struct stat st;
	char *data;
	int fd;
	unsigned int bad;
	size_t len = 0;

	(void) retry_after;
	fd = open(ctx->filename, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open acknowledgements file %s: %m", ctx->filename);
		return CB_FETCH_ERROR;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "acknowledgements file %s is not a regular file", ctx->filename);
		close(fd);
		return CB_FETCH_ERROR;
	}
	if (st.st_size > CB_ACKFILE_MAX_SIZE) {
		snprintf(err, errlen, "acknowledgements file %s is larger than %d bytes", ctx->filename,
			 CB_ACKFILE_MAX_SIZE);
		close(fd);
		return CB_FETCH_ERROR;
	}
	if (prev && !full && ctx->have_stat && st.st_ino == ctx->last.st_ino && st.st_size == ctx->last.st_size &&
	    st.st_mtim.tv_sec == ctx->last.st_mtim.tv_sec && st.st_mtim.tv_nsec == ctx->last.st_mtim.tv_nsec) {
		close(fd);
		return CB_FETCH_UNCHANGED;
	}
	data = read_whole_file(fd, (size_t) st.st_size, &len, err, errlen);
	close(fd);
	if (!data) return CB_FETCH_ERROR;

	bad = parse_all(ctx->filename, data, len, ctx->tz, b, src->log, src->log_ctx, src->first_problem,
			sizeof(src->first_problem));
	free(data);
	src->problems = bad;		/* For `cetbyodctl status`: the skipped lines, and the first. */
	if (!bad) src->first_problem[0] = '\0';
	src->problems_fresh = true;
	if (bad && src->log) {
		src->log(src->log_ctx, CB_LOG_WARN, "acknowledgements file %s: %u bad line(s) skipped, %zu people read",
			 ctx->filename, bad, cb_ack_builder_count(b));
	}
	ctx->last = st;
	ctx->have_stat = true;
	return CB_FETCH_OK;
}

static void ackfile_free(cb_source_t *src)
{
	ackfile_ctx_t *ctx;

	if (!src) return;
	ctx = src->ctx;
	if (ctx) free(ctx->filename);
	free(ctx);
	free(src);
}

cb_source_t *cb_ackfile_source_new(char const *filename, cb_tz_t const *tz, cb_log_fn_t log, void *log_ctx,
				   char *err, size_t errlen)
{
	cb_source_t *src;
	ackfile_ctx_t *ctx;

	if (!filename || !*filename) {
		snprintf(err, errlen, "no acknowledgements file name given");
		return NULL;
	}
	src = cb_source_new("file", ackfile_fetch, ackfile_free, sizeof(*ctx), log, log_ctx);
	if (!src || !(((ackfile_ctx_t *) src->ctx)->filename = strdup(filename))) {
		ackfile_free(src);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx = src->ctx;
	ctx->tz = tz;
	return src;
}
