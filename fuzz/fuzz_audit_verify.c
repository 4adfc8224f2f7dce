/*
 * fuzz_audit_verify.c - libFuzzer target: the audit trail's JSON lines as
 * `cetbyodctl audit verify` reads them (lib/audit/audit.h).
 *
 * The input is a trail.  Lines "--rotate--" split it into up to
 * FUZZ_FILES_MAX files, written oldest first as trail.N ... trail.1, trail
 * in a fresh mkdtemp directory; cb_audit_rotated_files() finds them and
 * cb_audit_verify_files() checks the chain through them, as cetbyodctl
 * does.  The directory is removed before returning.
 *
 * A mutated line almost never keeps a valid SHA-256, so verify would stop
 * at the hash and never reach the chain's numbering and links.  An input
 * whose first line is "#seal" is therefore sealed first, as the writer
 * would: every line that is a JSON object gets "prev" set to the hash of
 * the object before it (the all-zero hash for the first) when its "prev"
 * is "^", and then its "hash" set by cb_audit_line_hash().  Other lines
 * stay as they are.
 *
 * Checked contracts (abort() when broken): verify returns 0 or 1 for files
 * that exist (never -1), 0 exactly when out.bad is CB_AUDIT_OK, and its
 * message is a NUL-terminated string, not empty when the chain is broken.
 *
 * State: none kept between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit/audit.h"

#define FUZZ_FILES_MAX	4
#define FUZZ_ROTATE	"--rotate--\n"
#define FUZZ_SEAL	"#seal\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line (without its newline) sealed into out, or copied when it is not a JSON object. */
static void seal_line(FILE *out, char const *line, size_t len, char prev[CB_AUDIT_HASH_HEX + 1])
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *jp;
	char hash[CB_AUDIT_HASH_HEX + 1];

	if (!tok) abort();
	o = json_tokener_parse_ex(tok, line, (int) len);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		fwrite(line, 1, len, out);
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "prev", &jp) && json_object_is_type(jp, json_type_string) &&
	    strcmp(json_object_get_string(jp), "^") == 0) {
		json_object_object_add(o, "prev", json_object_new_string(prev));
	}
	if (cb_audit_line_hash(o, hash) == 0) {
		json_object_object_add(o, "hash", json_object_new_string(hash));
		memcpy(prev, hash, sizeof(hash));
	}
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), out);
	json_object_put(o);
}

/* The input after "#seal\n", sealed line by line, in a malloc'd buffer (*outlen bytes). */
static char *seal(char const *in, size_t len, size_t *outlen)
{
	char prev[CB_AUDIT_HASH_HEX + 1];
	char *buf = NULL;
	size_t off = 0;
	FILE *out = open_memstream(&buf, outlen);

	if (!out) abort();
	memset(prev, '0', CB_AUDIT_HASH_HEX);
	prev[CB_AUDIT_HASH_HEX] = '\0';
	while (off < len) {
		char const *nl = memchr(in + off, '\n', len - off);
		size_t n = nl ? (size_t) (nl - (in + off)) : len - off;

		seal_line(out, in + off, n, prev);
		if (nl) fputc('\n', out);
		off += n + (nl ? 1 : 0);
	}
	if (fclose(out) != 0) abort();
	return buf;
}

/* Where the next file starts in text[0..len): after a "--rotate--" line at or past off, or len. */
static size_t next_split(char const *text, size_t len, size_t off, size_t *end)
{
	for (size_t i = off; i < len; i++) {
		if ((i == 0 || text[i - 1] == '\n') && len - i >= sizeof(FUZZ_ROTATE) - 1 &&
		    memcmp(text + i, FUZZ_ROTATE, sizeof(FUZZ_ROTATE) - 1) == 0) {
			*end = i;
			return i + sizeof(FUZZ_ROTATE) - 1;
		}
	}
	*end = len;
	return len;
}

/* Write text as the trail's files in dir; their number into *nfiles. */
static void write_files(char const *dir, char const *text, size_t len, size_t *nfiles)
{
	size_t starts[FUZZ_FILES_MAX], ends[FUZZ_FILES_MAX], n = 0, off = 0;
	char path[256];

	while (n < FUZZ_FILES_MAX) {
		starts[n] = off;
		off = n + 1 < FUZZ_FILES_MAX ? next_split(text, len, off, &ends[n]) : (ends[n] = len);
		n++;
		if (off >= len) break;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = n - 1 - i;	/* The first part is the oldest: trail.(n-1). */
		FILE *fp;

		if (k) snprintf(path, sizeof(path), "%s/trail.%zu", dir, k);
		else snprintf(path, sizeof(path), "%s/trail", dir);
		fp = fopen(path, "we");
		if (!fp) abort();
		if (ends[i] > starts[i] && fwrite(text + starts[i], 1, ends[i] - starts[i], fp) != ends[i] - starts[i]) abort();
		if (fclose(fp) != 0) abort();
	}
	*nfiles = n;
}

static void verify(char const *dir, size_t nfiles)
{
	char path[256], **files;
	size_t n, skipped;
	cb_audit_verify_t out;
	int rc;

	snprintf(path, sizeof(path), "%s/trail", dir);
	if (cb_audit_rotated_files(path, &files, &n, &skipped) < 0) abort();
	if (n != nfiles || skipped) abort();
	rc = cb_audit_verify_files((char const *const *) files, n, &out);
	if (rc != 0 && rc != 1) abort();
	if ((rc == 0) != (out.bad == CB_AUDIT_OK)) abort();
	if (!memchr(out.message, '\0', sizeof(out.message)) || !memchr(out.file, '\0', sizeof(out.file))) abort();
	if (rc == 1 && !out.message[0]) abort();
	for (size_t i = 0; i < n; i++) unlink(files[i]);
	cb_audit_files_free(files, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[] = "/tmp/fuzz_audit_verify.XXXXXX";
	char const *text = (char const *) data;
	char *sealed = NULL;
	size_t len = size, nfiles;

	if (len >= sizeof(FUZZ_SEAL) - 1 && memcmp(text, FUZZ_SEAL, sizeof(FUZZ_SEAL) - 1) == 0) {
		sealed = seal(text + sizeof(FUZZ_SEAL) - 1, len - (sizeof(FUZZ_SEAL) - 1), &len);
		text = sealed;
	}
	if (!mkdtemp(dir)) abort();
	write_files(dir, text, len, &nfiles);
	verify(dir, nfiles);
	if (rmdir(dir) != 0) abort();
	free(sealed);
	return 0;
}
