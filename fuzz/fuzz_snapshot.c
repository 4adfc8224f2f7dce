/*
 * fuzz_snapshot.c - the persisted snapshot of the acknowledgement index
 * (JSON lines with a SHA-256 trailer), through cb_snapshot_parse.  A
 * snapshot that loads is saved again into a temporary directory and must
 * load back with the same records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/snapshot.h"

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size);

/* Save idx under a fresh temporary directory and load it back; abort when it differs. */
static void round_trip(cb_ack_index_t const *idx, cb_snapshot_info_t const *info)
{
	char dir[] = "/tmp/fuzz_snapshot.XXXXXX", path[64], err[1024];
	cb_snapshot_info_t again;
	cb_ack_index_t *back = NULL;

	if (!mkdtemp(dir)) return;
	snprintf(path, sizeof(path), "%s/s", dir);
	if (cb_snapshot_save(path, idx, info->synced_at, info->source, err, sizeof(err)) == 0) {
		if (cb_snapshot_load(path, &back, &again, err, sizeof(err)) != 0) abort();
		if (cb_ack_index_count(back) != cb_ack_index_count(idx) ||
		    cb_ack_index_agreed(back) != cb_ack_index_agreed(idx)) abort();
		cb_ack_index_unref(back);
	}
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(uint8_t const *data, size_t size)
{
	cb_ack_index_t *idx = NULL;
	cb_snapshot_info_t info;
	char err[1024];

	if (cb_snapshot_parse("fuzz", (char const *) data, size, &idx, &info, err, sizeof(err)) == 0) {
		round_trip(idx, &info);
		cb_ack_index_unref(idx);
	}
	return 0;
}
