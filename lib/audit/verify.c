/*
 * verify.c - verification of the audit trail's hash chain across its
 * rotated files: every line complete, parseable, hashed as its content
 * says, linked to the one before and numbered one more (chain.c has the
 * format and a worked example).  Read-only; it needs neither the writer
 * nor the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit_int.h"

#define AUDIT_PATH_MAX		4096
#define AUDIT_ROTATED_MAX	1000		/* path.1 .. path.1000 */

typedef struct {
	cb_audit_verify_t	*out;
	cb_audit_anchor_t const	*anchor;	/* The store's last record; NULL: none. */
	cb_audit_key_t const	*key;		/* NULL: keyed records' hashes are not checked. */
	bool			last_keyed;	/* The last good record was keyed. */
	bool			allow_pending;
	bool			last_file;
	uint64_t		expect;		/* Next seq; 0 before the first record. */
	char			prev[CB_AUDIT_HASH_HEX + 1];
	char			*line;
	json_tokener		*tok;		/* Reused for every line. */
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

cb_audit_bad_t cb_audit_line_parse_key(char const *text, size_t len, cb_audit_key_t const *key, cb_audit_line_t *out)
{
	return cb_audit_line_parse_obj(text, len, key, out, NULL);
}

cb_audit_bad_t cb_audit_line_parse_obj(char const *text, size_t len, cb_audit_key_t const *key, cb_audit_line_t *out,
				       json_object **objp)
{
	json_tokener *tok = json_tokener_new();
	cb_audit_bad_t bad;

	memset(out, 0, sizeof(*out));
	if (!tok) return CB_AUDIT_BAD_IO;
	bad = cb_audit_line_parse_tok(tok, text, len, key, out, objp);
	json_tokener_free(tok);
	return bad;
}

cb_audit_bad_t cb_audit_line_parse_tok(json_tokener *tok, char const *text, size_t len, cb_audit_key_t const *key,
				       cb_audit_line_t *out, json_object **objp)
{
	json_object *o, *js, *jp, *jh, *jc;
	char hash[CB_AUDIT_HASH_HEX + 1];
	cb_audit_bad_t bad = CB_AUDIT_BAD_SYNTAX;

	memset(out, 0, sizeof(*out));
	if (len > CB_AUDIT_LINE_MAX) return CB_AUDIT_BAD_SYNTAX;
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || (size_t) json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) goto done;
	out->is_object = true;
	if (!json_object_object_get_ex(o, "seq", &js) || !json_object_is_type(js, json_type_int) ||
	    json_object_get_int64(js) <= 0 || !json_object_object_get_ex(o, "prev", &jp) ||
	    !cb_store_hash_valid(json_object_get_string(jp)) || !json_object_object_get_ex(o, "hash", &jh) ||
	    !cb_store_hash_valid(json_object_get_string(jh))) goto done;
	if (json_object_object_get_ex(o, "chain", &jc)) {
		if (!json_object_is_type(jc, json_type_string) || strcmp(json_object_get_string(jc), CB_AUDIT_CHAIN_HMAC) != 0) {
			goto done;	/* A chain this version does not know. */
		}
		out->keyed = true;
	}
	out->seq = (uint64_t) json_object_get_int64(js);
	memcpy(out->prev, json_object_get_string(jp), CB_AUDIT_HASH_HEX + 1);
	memcpy(out->hash, json_object_get_string(jh), CB_AUDIT_HASH_HEX + 1);
	if (out->keyed && !key) {
		out->unchecked = true;
		bad = CB_AUDIT_OK;
		goto done;
	}
	bad = (cb_audit_line_mac(o, out->keyed ? key : NULL, hash) < 0 || strcmp(hash, out->hash) != 0) ?
	      CB_AUDIT_BAD_HASH : CB_AUDIT_OK;
done:
	if (objp && bad == CB_AUDIT_OK) {
		*objp = o;
		o = NULL;
	}
	json_object_put(o);
	return bad;
}

cb_audit_bad_t cb_audit_line_parse(char const *text, size_t len, cb_audit_line_t *out)
{
	return cb_audit_line_parse_key(text, len, NULL, out);
}

/** check_link - a sound record's place in the chain; 0 good (v advanced), 1 bad (v->out filled). */
static int check_link(verify_t *v, char const *file, uint64_t lineno, cb_audit_line_t const *l)
{
	uint64_t seq = l->seq;

	if (v->expect == 0) {
		v->out->first_seq = seq;
		if (seq == 1 && strcmp(l->prev, CB_AUDIT_ZERO_HASH) != 0) {
			return vbad(v, file, lineno, CB_AUDIT_BAD_START, seq, "record seq 1 (line %" PRIu64 ") does not "
				    "start a chain", lineno);
		}
	} else if (seq > v->expect) {
		vbad(v, file, lineno, CB_AUDIT_BAD_GAP, seq, "line %" PRIu64 " holds seq %" PRIu64 " where seq %"
		     PRIu64 " belongs: record%s %" PRIu64 "%s%s removed or moved", lineno, seq, v->expect,
		     seq - v->expect > 1 ? "s" : "", v->expect, seq - v->expect > 1 ? "..." : "",
		     seq - v->expect > 1 ? "were" : " was");
		if (seq - v->expect > 1) {
			snprintf(v->out->message, sizeof(v->out->message), "line %" PRIu64 " holds seq %" PRIu64
				 " where seq %" PRIu64 " belongs: records %" PRIu64 " to %" PRIu64 " were removed or moved",
				 lineno, seq, v->expect, v->expect, seq - 1);
		}
		return 1;
	} else if (seq < v->expect) {
		return vbad(v, file, lineno, CB_AUDIT_BAD_ORDER, seq, "line %" PRIu64 " holds seq %" PRIu64 " where seq %"
			    PRIu64 " belongs: records were moved or duplicated", lineno, seq, v->expect);
	} else if (strcmp(l->prev, v->prev) != 0) {
		return vbad(v, file, lineno, CB_AUDIT_BAD_LINK, seq, "record seq %" PRIu64 " (line %" PRIu64 ") does not "
			    "follow the record before it: seq %" PRIu64 " was altered or replaced", seq, lineno, seq - 1);
	}
	if (v->anchor && seq == v->anchor->seq && strcmp(l->hash, v->anchor->hash) != 0) {
		return vbad(v, file, lineno, CB_AUDIT_BAD_TAIL, seq, "record seq %" PRIu64 " (line %" PRIu64 ") differs "
			    "from the store's copy: it was altered or replaced", seq, lineno);
	}
	v->expect = seq + 1;
	memcpy(v->prev, l->hash, CB_AUDIT_HASH_HEX + 1);
	v->out->records++;
	v->out->last_seq = seq;
	memcpy(v->out->last_hash, v->prev, sizeof(v->prev));
	return 0;
}

/** check_record - one line; 0 good, 1 bad (v->out filled). */
static int check_record(verify_t *v, char const *file, uint64_t lineno, char const *text, size_t len)
{
	cb_audit_line_t l;

	switch (cb_audit_line_parse_tok(v->tok, text, len, v->key, &l, NULL)) {
	case CB_AUDIT_OK:
		if (v->key && !l.keyed && v->out->keyed) {
			return vbad(v, file, lineno, CB_AUDIT_BAD_KEY, l.seq, "record seq %" PRIu64 " (line %" PRIu64 ") "
				    "is not keyed but follows keyed records: written without the key", l.seq, lineno);
		}
		v->out->keyed += l.keyed;
		v->out->unchecked += l.unchecked;
		v->last_keyed = l.keyed;
		return check_link(v, file, lineno, &l);
	case CB_AUDIT_BAD_IO:
		return vbad(v, file, lineno, CB_AUDIT_BAD_IO, 0, "out of memory");
	case CB_AUDIT_BAD_HASH:
		if (l.keyed) {
			return vbad(v, file, lineno, CB_AUDIT_BAD_HASH, l.seq, "record seq %" PRIu64 " (line %" PRIu64 ") "
				    "does not match its HMAC: altered, or the key is not the one it was written with",
				    l.seq, lineno);
		}
		return vbad(v, file, lineno, CB_AUDIT_BAD_HASH, l.seq, "record seq %" PRIu64 " (line %" PRIu64 ") was "
			    "altered: its content does not match its hash", l.seq, lineno);
	default:
		if (!l.is_object) {
			return vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " is not a JSON object", lineno);
		}
		return vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " lacks a valid seq, prev or hash",
			    lineno);
	}
}

static int verify_file(verify_t *v, char const *file)
{
	FILE *fp = fopen(file, "re");
	uint64_t lineno = 0;
	long len;
	bool nl;
	int rc = 0;

	if (!fp) {
		char eb[128];

		return vbad(v, file, 0, CB_AUDIT_BAD_IO, 0, "cannot read %s: %s", file, cb_audit_strerror(errno, eb, sizeof(eb)));
	}
	while ((len = read_line(fp, v->line, CB_AUDIT_LINE_MAX, &nl)) != -1) {
		lineno++;
		if (len == -2) {
			rc = vbad(v, file, lineno, CB_AUDIT_BAD_SYNTAX, 0, "line %" PRIu64 " is longer than %d bytes",
				  lineno, CB_AUDIT_LINE_MAX);
			break;
		}
		if (!nl && v->allow_pending && v->last_file) {
			v->out->pending = true;		/* The writer may be in the middle of it. */
			v->out->pending_line = lineno;
			v->out->pending_len = (size_t) len;
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

/** check_anchor - after the walk: the files reach the store's last record; 0 or 1 (v->out filled). */
static int check_anchor(verify_t *v)
{
	cb_audit_verify_t *out = v->out;
	uint64_t seq = v->anchor->seq;

	out->anchored = true;
	if (seq <= out->last_seq) return 0;
	v->expect = out->last_seq + 1;
	vbad(v, "", 0, CB_AUDIT_BAD_TAIL, 0, "the store holds records up to seq %" PRIu64 " but the files end at seq %"
	     PRIu64 ": records %" PRIu64 " to %" PRIu64 " were removed from the end", seq, out->last_seq,
	     out->last_seq + 1, seq);
	out->file[0] = '\0';
	return 1;
}

int cb_audit_verify_trail(char const *const *paths, size_t n, cb_audit_anchor_t const *anchor, bool allow_pending,
			  cb_audit_key_t const *key, cb_audit_verify_t *out)
{
	verify_t v = { .out = out, .anchor = anchor && anchor->seq ? anchor : NULL, .allow_pending = allow_pending,
		       .key = key };
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	v.line = malloc(CB_AUDIT_LINE_MAX + 1);
	v.tok = json_tokener_new();
	if (!v.line || !v.tok) {
		free(v.line);
		if (v.tok) json_tokener_free(v.tok);
		return vbad(&v, "", 0, CB_AUDIT_BAD_IO, 0, "out of memory");
	}
	for (i = 0; i < n && rc == 0; i++) {
		v.last_file = i + 1 == n;
		rc = verify_file(&v, paths[i]);
		out->files++;
	}
	free(v.line);
	json_tokener_free(v.tok);
	if (rc == 0 && v.anchor) rc = check_anchor(&v);
	if (rc == 0 && key && out->records && !v.last_keyed) {
		v.expect = 0;
		rc = vbad(&v, "", 0, CB_AUDIT_BAD_KEY, out->last_seq, "the last record, seq %" PRIu64 ", is not keyed: "
			  "the trail was not written with this key, or was rewritten without it", out->last_seq);
	}
	return rc;
}

int cb_audit_verify_files(char const *const *paths, size_t n, cb_audit_verify_t *out)
{
	return cb_audit_verify_trail(paths, n, NULL, false, NULL, out);
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
