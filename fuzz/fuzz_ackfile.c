/*
 * fuzz_ackfile.c - the local acknowledgements file parser (cb_ackfile_parse):
 * lines of email, time (RFC 3339 or local in the school's zone) and options.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/tz.h"
#include "sources/ackfile.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size);

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	static cb_tz_t *tz;		/* Immutable once made. */
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx;
	char const *err;

	if (!tz && !(tz = cb_tz_new("Europe/London", &err))) abort();
	if (!b) abort();
	cb_ackfile_parse("fuzz", (char const *) data, size, tz, b, NULL, NULL);
	idx = cb_ack_builder_finish(b, 1788249600);
	for (size_t i = 0; idx && i < cb_ack_index_count(idx); i++) cb_ack_index_find(idx, cb_ack_index_at(idx, i)->email);
	cb_ack_index_unref(idx);
	return 0;
}
