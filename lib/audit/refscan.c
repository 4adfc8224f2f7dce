/*
 * refscan.c - the references (cb_audit_record_once) of the records the
 * trail's file holds and its index does not yet, read from the file when
 * the writer starts.
 *
 * cb_audit_record_once records an administrative action once, by its
 * reference: it looks in the index (audit_refs) and in the writer's memory
 * of the references it queued and the index has not taken yet.  A restart
 * loses that memory.  The writer's start-up copies at most 4,096 missing
 * records to the index before the first record (writer.c
 * startup_catch_up); when the index lagged more than that (it waits during
 * a burst, audit { index_defer }; or the store was failing), the actions
 * among the rest would be recorded a second time.  So the writer reads the
 * rest of the file once, from where the index stops, and remembers the
 * references it finds; the index thread's copy makes it forget them, as
 * for the references it queued itself.
 *
 * Only lines holding "ref": are parsed (json-c), so the scan costs a read
 * of the lagging part of the file.  A line that is not JSON or has no
 * string "ref" is passed over: the index copy and 'cetbyodctl audit
 * verify' report such lines.  Without a mark (where the index stops is not
 * known) every file of the trail is read: a reference already in the index
 * remembered as well is harmless (it is found either way).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "audit/audit_int.h"

/** line_ref - the line's "ref" to fn, when it has one. */
static void line_ref(char const *line, cb_audit_ref_fn fn, void *ctx, size_t *found)
{
	json_object *o, *ref;

	if (!strstr(line, "\"ref\":")) return;
	o = json_tokener_parse(line);
	if (o && json_object_object_get_ex(o, "ref", &ref) && json_object_is_type(ref, json_type_string)) {
		fn(ctx, json_object_get_string(ref));
		(*found)++;
	}
	json_object_put(o);
}

/** scan_file - the references of path's complete lines from off on; 0 or -1 (err). */
static int scan_file(char const *path, off_t off, cb_audit_ref_fn fn, void *ctx, size_t *found, char *err,
		     size_t errlen)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL, eb[128];
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	if (!fp) {
		if (errno == ENOENT) return 0;	/* Rotated away since it was listed. */
		snprintf(err, errlen, "%.3000s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
		return -1;
	}
	if (off && fseeko(fp, off, SEEK_SET) < 0) {
		snprintf(err, errlen, "%.3000s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
		fclose(fp);
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] != '\n') break;	/* A line still being written: not a record yet. */
		line_ref(line, fn, ctx, found);
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%.3000s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

/** mark_file - the index in files[0..n) of the file the mark names; n when none does. */
static size_t mark_file(char **files, size_t n, cb_audit_mark_t const *mark)
{
	struct stat st;

	if (!mark || !mark->set) return n;
	for (size_t i = 0; i < n; i++) {
		if (stat(files[i], &st) == 0 && st.st_dev == mark->dev && st.st_ino == mark->ino) return i;
	}
	return n;
}

int cb_audit_refs_unindexed(char const *path, cb_audit_mark_t const *mark, cb_audit_ref_fn fn, void *ctx,
			    size_t *found, char *err, size_t errlen)
{
	char **files = NULL;
	size_t n = 0, skipped, first;
	int rc = 0;

	*found = 0;
	if (cb_audit_rotated_files(path, &files, &n, &skipped) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	first = mark_file(files, n, mark);
	for (size_t i = first < n ? first : 0; i < n && rc == 0; i++) {
		rc = scan_file(files[i], i == first ? mark->off : 0, fn, ctx, found, err, errlen);
	}
	cb_audit_files_free(files, n);
	return rc;
}
