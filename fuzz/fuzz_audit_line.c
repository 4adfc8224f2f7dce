/*
 * fuzz_audit_line.c - libFuzzer target for the audit trail's line parser
 * (cb_audit_line_parse), the part of `cetbyodctl audit verify` that reads
 * whatever bytes a trail file holds, and for the canonical hash of what it
 * accepts (cb_audit_line_hash).
 *
 * The input is split at newlines, as verify reads a file; each line is
 * parsed on its own.  Invariants checked: a line parsed as sound has a
 * positive seq and a hash that the canonical form of the same line
 * reproduces; a hash mismatch still names a positive seq.  No files, no
 * global state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/** check_line - parse one line and check what the parser claims. */
static void check_line(char const *line, size_t len)
{
	cb_audit_line_t l;
	cb_audit_bad_t bad = cb_audit_line_parse(line, len, &l);

	if (bad == CB_AUDIT_OK || bad == CB_AUDIT_BAD_HASH) {
		if (!l.is_object || l.seq == 0 || strlen(l.hash) != CB_AUDIT_HASH_HEX) abort();
	}
	if (bad == CB_AUDIT_OK && !l.unchecked) {	/* A keyed record without the key: hash not checked. */
		json_tokener *tok = json_tokener_new();
		char hash[CB_AUDIT_HASH_HEX + 1];
		json_object *o;

		if (!tok) return;
		o = json_tokener_parse_ex(tok, line, (int) len);
		if (!o || cb_audit_line_hash(o, hash) != 0 || strcmp(hash, l.hash) != 0) abort();
		json_object_put(o);
		json_tokener_free(tok);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char const *p = (char const *) data, *end = p + size;

	while (p < end) {
		char const *nl = memchr(p, '\n', (size_t) (end - p));
		size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);

		check_line(p, len);
		p += len + (nl ? 1 : 0);
	}
	return 0;
}
