/*
 * gbind.c - the Forms source's questions bound by questionId (see gbind.h).
 *
 * Example: the agreement question "Do you agree to the BYOD policy?" was
 * bound to id 5f0c1a2b.  A teacher fixes a typo in its title: forms.get
 * still lists 5f0c1a2b, with the new title; the rename is logged and the
 * file rewritten, the responses are read as before.  The teacher then
 * deletes it and adds it again: forms.get lists 7d3e9f00 with the same
 * title and no 5f0c1a2b.  The binding holds, naming both ids, until an
 * admin accepts 7d3e9f00 (older answers, all under 5f0c1a2b, are then no
 * longer read) or the deletion is undone.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/strlist.h"
#include "base/utf8.h"
#include "sources/gbind.h"

#define GBIND_FORMAT	"cetbyod-forms-questions"
#define GBIND_VERSION	1
#define GBIND_SIZE_MAX	(16 * 1024)	/* Bytes; a file is some 300. */
#define GBIND_PATH_MAX	4096

static void blog(cb_gbind_form_t const *f, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void blog(cb_gbind_form_t const *f, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	if (!f->log) return;
	va_start(ap, fmt);
	cb_log_vprefixed(f->log, f->log_ctx, level, "forms: ", fmt, ap);
	va_end(ap);
}

/* Title comparison: trimmed, ASCII case ignored. */
static bool title_is(char const *title, char const *want)
{
	cb_strlist_t one = { .v = &want, .n = 1 };

	return title && want && cb_strlist_has(&one, title, strlen(title));
}

static long find_id(cb_gbind_form_t const *f, char const *qid)
{
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->items[i].qid, qid) == 0) return (long) i;
	}
	return -1;
}

/* The first question titled t1, else the first titled t2 (may be NULL); -1: none. */
static long find_title(cb_gbind_form_t const *f, char const *t1, char const *t2)
{
	for (size_t i = 0; i < f->n; i++) {
		if (title_is(f->items[i].title, t1)) return (long) i;
	}
	for (size_t i = 0; t2 && i < f->n; i++) {
		if (title_is(f->items[i].title, t2)) return (long) i;
	}
	return -1;
}

static int set(char **slot, char const *v)
{
	char *copy = v ? strdup(v) : NULL;

	if (v && !copy) return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

void cb_gbind_clear(cb_gbind_t *b)
{
	free(b->configured);
	free(b->qid);
	free(b->title);
	free(b->new_qid);
	memset(b, 0, sizeof(*b));
}

char const *cb_gbind_qid(cb_gbind_t const *b)
{
	return b->new_qid ? b->new_qid : b->qid;
}

/* Bind b to the question at, found for want. */
static cb_gbind_result_t bind(cb_gbind_t *b, cb_gbind_form_t *f, long at, char const *want, char *msg, size_t msglen)
{
	if (set(&b->configured, want) < 0 || set(&b->qid, f->items[at].qid) < 0 || set(&b->title, f->items[at].title) < 0 ||
	    set(&b->new_qid, NULL) < 0) {
		snprintf(msg, msglen, "out of memory");
		return CB_GBIND_ERROR;
	}
	f->dirty = true;
	return CB_GBIND_OK;
}

static cb_gbind_result_t bind_by_title(cb_gbind_t *b, cb_gbind_form_t *f, char const *want, char const *what,
				       char const *option, size_t *index, char *msg, size_t msglen)
{
	long at = find_title(f, want, NULL);

	if (at < 0) {
		snprintf(msg, msglen, "form %s has no question titled \"%s\" (%s); its questions are: %s", f->form_id,
			 want, option, f->titles[0] ? f->titles : "(none)");
		return CB_GBIND_ERROR;
	}
	if (bind(b, f, at, want, msg, msglen) != CB_GBIND_OK) return CB_GBIND_ERROR;
	blog(f, CB_LOG_INFO, "the %s question \"%.100s\" is question id %s; from now on it is read by this id, also "
	     "when its title is edited", what, b->title, b->qid);
	*index = (size_t) at;
	return CB_GBIND_OK;
}

/* The bound id is gone from the form: hold a question of the same title, or fail. */
static cb_gbind_result_t gone(cb_gbind_t *b, cb_gbind_form_t *f, char const *want, char const *what,
			      char const *option, size_t *index, char *msg, size_t msglen)
{
	long at = find_title(f, want, b->title);

	if (at < 0) {
		snprintf(msg, msglen, "the %s question (id %s, last titled \"%.80s\") is no longer in form %s and no "
			 "question is titled \"%.80s\" (%s): restore the question, or set %s to the title of the one "
			 "to read; its questions are: %s", what, b->qid, b->title, f->form_id, want, option, option,
			 f->titles[0] ? f->titles : "(none)");
		return CB_GBIND_ERROR;
	}
	*index = (size_t) at;
	if (f->accept && b->new_qid && strcmp(b->new_qid, f->items[at].qid) == 0) {
		char old[CB_GBIND_ID_MAX + 1];

		snprintf(old, sizeof(old), "%s", b->qid);
		if (bind(b, f, at, want, msg, msglen) != CB_GBIND_OK) return CB_GBIND_ERROR;
		blog(f, CB_LOG_WARN, "an admin accepted question id %s (\"%.100s\") as the %s question in place of the "
		     "deleted id %s: answers to the old question are no longer read", b->qid, b->title, what, old);
		return CB_GBIND_OK;
	}
	if (set(&b->new_qid, f->items[at].qid) < 0) {
		snprintf(msg, msglen, "out of memory");
		return CB_GBIND_ERROR;
	}
	snprintf(msg, msglen, "the %s question \"%.60s\" (id %s) is gone from form %s and a question of that title "
		 "has the new id %s (deleted and re-created?): older responses answer only id %s, so reading the new "
		 "one would discard them.  Restore the question in the form, or accept the new one with 'cetbyodctl "
		 "confirm --rebind' (older answers are then discarded)", what, b->title, b->qid, f->form_id, b->new_qid,
		 b->qid);
	return CB_GBIND_HOLD;
}

cb_gbind_result_t cb_gbind_resolve(cb_gbind_t *b, cb_gbind_form_t *f, char const *want, char const *what,
				   char const *option, size_t *index, char *msg, size_t msglen)
{
	long at;

	if (b->qid && b->configured && strcmp(b->configured, want) != 0) {	/* The option names another title now. */
		at = find_id(f, b->qid);
		if (at >= 0 && title_is(f->items[at].title, want)) {
			if (set(&b->configured, want) < 0) {
				snprintf(msg, msglen, "out of memory");
				return CB_GBIND_ERROR;
			}
			f->dirty = true;
		} else {
			blog(f, CB_LOG_INFO, "%s now names \"%.100s\": the %s question is found by that title again",
			     option, want, what);
			cb_gbind_clear(b);
			f->dirty = true;
		}
	}
	if (!b->qid) return bind_by_title(b, f, want, what, option, index, msg, msglen);
	at = find_id(f, b->qid);
	if (at < 0) return gone(b, f, want, what, option, index, msg, msglen);
	if (strcmp(f->items[at].title, b->title) != 0) {
		blog(f, CB_LOG_WARN, "the %s question (id %s) was renamed in form %s from \"%.100s\" to \"%.100s\"; it is "
		     "still read by its id", what, b->qid, f->form_id, b->title, f->items[at].title);
		if (set(&b->title, f->items[at].title) < 0) {
			snprintf(msg, msglen, "out of memory");
			return CB_GBIND_ERROR;
		}
		f->dirty = true;
	}
	set(&b->new_qid, NULL);
	*index = (size_t) at;
	return CB_GBIND_OK;
}

/*
 *	The file
 */
static json_object *binding_json(cb_gbind_t const *b)
{
	json_object *o = json_object_new_object();

	if (!o) return NULL;
	json_object_object_add(o, "configured", json_object_new_string(b->configured));
	json_object_object_add(o, "id", json_object_new_string(b->qid));
	json_object_object_add(o, "title", json_object_new_string(b->title));
	return o;
}

static int write_all(char const *path, char const *text, char *err, size_t errlen)
{
	char tmp[GBIND_PATH_MAX + 16];
	size_t len = strlen(text), done = 0;
	int fd, e;

	if ((size_t) snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "the path \"%s\" is too long", path);
		return -1;
	}
	fd = mkstemp(tmp);		/* Mode 0600, in the target's directory. */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file beside \"%s\": %m", path);
		return -1;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		done += (size_t) n;
	}
	if (done < len || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		e = errno ? errno : ENOSPC;
		if (done < len) close(fd);
		unlink(tmp);
		errno = e;
		snprintf(err, errlen, "cannot write \"%s\": %m", path);
		return -1;
	}
	return 0;
}

int cb_gbind_save(char const *path, char const *form_id, cb_gbind_t const *agree, cb_gbind_t const *version,
		  char *err, size_t errlen)
{
	json_object *o = json_object_new_object();
	int rc;

	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_object_add(o, "format", json_object_new_string(GBIND_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(GBIND_VERSION));
	json_object_object_add(o, "form_id", json_object_new_string(form_id));
	if (agree->qid) json_object_object_add(o, "agreement", binding_json(agree));
	if (version->qid) json_object_object_add(o, "policy_version", binding_json(version));
	rc = write_all(path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), err, errlen);
	json_object_put(o);
	return rc;
}

/* A string member: bounded, no NUL, valid text; NULL when not. */
static char const *member(json_object *o, char const *key, size_t max)
{
	json_object *v;
	char const *s;
	size_t len;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
	s = json_object_get_string(v);
	len = (size_t) json_object_get_string_len(v);
	if (len == 0 || len > max || strlen(s) != len || !cb_utf8_text_valid(s, len)) return NULL;
	return s;
}

/* One binding from o[key] into b: 0 (absent is fine), -1 malformed. */
static int load_one(json_object *o, char const *key, cb_gbind_t *b)
{
	json_object *v;
	char const *conf, *qid, *title;

	if (!json_object_object_get_ex(o, key, &v)) return 0;
	conf = member(v, "configured", CB_GBIND_TITLE_MAX);
	qid = member(v, "id", CB_GBIND_ID_MAX);
	title = member(v, "title", CB_GBIND_TITLE_MAX);
	if (!conf || !qid || !title || strspn(qid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
	    != strlen(qid)) return -1;
	if (set(&b->configured, conf) < 0 || set(&b->qid, qid) < 0 || set(&b->title, title) < 0) return -1;
	return 0;
}

static char *read_file(char const *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *data;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		if (errno != ENOENT) snprintf(err, errlen, "cannot open \"%s\": %m", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > GBIND_SIZE_MAX) {
		snprintf(err, errlen, "\"%s\" is not a regular file of at most %d bytes", path, GBIND_SIZE_MAX);
		close(fd);
		return NULL;
	}
	data = malloc((size_t) st.st_size + 1);
	n = data ? read(fd, data, (size_t) st.st_size) : -1;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read \"%s\"", path);
		free(data);
		return NULL;
	}
	data[n] = '\0';
	*len = (size_t) n;
	return data;
}

int cb_gbind_load(char const *path, char const *form_id, cb_gbind_t *agree, cb_gbind_t *version, char *err,
		  size_t errlen)
{
	size_t len = 0;
	char *data;
	json_object *o;
	char const *fmt, *id;
	int rc = -1;

	err[0] = '\0';
	data = read_file(path, &len, err, errlen);
	if (!data) return err[0] ? -1 : 1;
	o = json_tokener_parse(data);
	fmt = o ? member(o, "format", 64) : NULL;
	id = o ? member(o, "form_id", CB_GBIND_ID_MAX) : NULL;
	if (!fmt || strcmp(fmt, GBIND_FORMAT) != 0 || !id) {
		snprintf(err, errlen, "\"%s\" is not a question binding file (damaged?)", path);
	} else if (strcmp(id, form_id) != 0) {
		snprintf(err, errlen, "\"%s\" is for another form (%.80s)", path, id);
		rc = 1;
	} else if (load_one(o, "agreement", agree) < 0 || load_one(o, "policy_version", version) < 0) {
		snprintf(err, errlen, "\"%s\" holds a malformed binding (damaged?)", path);
	} else {
		rc = 0;
	}
	if (rc != 0) {
		cb_gbind_clear(agree);
		cb_gbind_clear(version);
	}
	json_object_put(o);
	free(data);
	return rc;
}
