/*
 * snapshot.h - the last good acknowledgement index, persisted in the state
 * directory so that a restart during a Google outage still admits
 * acknowledged staff (up to the staleness limit).
 *
 * The file is JSON lines: a header line with the format name and version,
 * the sync time and the record count, one line per record, and a trailer
 * line with the SHA-256 of every byte before it.  It is written to a
 * temporary file in the same directory, fsync'd and renamed over the old
 * one (mode 0600), so a reader sees the old file or the new one, never a
 * mixture.  A truncated, edited or otherwise corrupt file is refused as a
 * whole: loading never yields a partial index.
 */
#ifndef CETBYOD_SOURCES_SNAPSHOT_H
#define CETBYOD_SOURCES_SNAPSHOT_H

#include <stddef.h>
#include <time.h>

#include "core/ack.h"

#define CB_SNAPSHOT_FILE	"acknowledgements.snapshot"	/* Suggested name in the state directory. */
#define CB_SNAPSHOT_VERSION	1

typedef struct {
	time_t	synced_at;	/* When the source was last read successfully. */
	time_t	built_at;	/* The index's built_at. */
	size_t	count;		/* Records. */
	char	source[32];	/* "forms", "sheets", "file"; "" when unknown. */
} cb_snapshot_info_t;

/**
 * cb_snapshot_save - write idx to path atomically (temp file in the same
 * directory, fsync, rename, fsync of the directory; mode 0600).  source
 * names the source it came from (may be NULL).  Returns 0, or -1 with err
 * set and the old file (if any) untouched.
 */
int cb_snapshot_save(char const *path, cb_ack_index_t const *idx, time_t synced_at, char const *source,
		     char *err, size_t errlen);

/**
 * cb_snapshot_load - read path.  Returns 0 with *out (one reference, the
 * caller's) and *info filled; 1 when there is no such file (*out NULL, not
 * an error at first start); -1 when it cannot be read or is corrupt (*out
 * NULL, err says why and where).
 */
int cb_snapshot_load(char const *path, cb_ack_index_t **out, cb_snapshot_info_t *info, char *err, size_t errlen);

/**
 * cb_snapshot_parse - as cb_snapshot_load, over a file's bytes data[0..len)
 * already in memory; name stands for the path in messages.  Returns 0 with
 * *out and *info filled, or -1 (*out NULL, err says why and where).
 */
int cb_snapshot_parse(char const *name, char const *data, size_t len, cb_ack_index_t **out, cb_snapshot_info_t *info,
		      char *err, size_t errlen);

/*
 * The read mark: a small file beside the snapshot (path + CB_SNAPSHOT_MARK_SUFFIX)
 * that says "the source was read successfully at read_at, and the snapshot
 * whose synced_at is S was still the index in force then".  The snapshot is
 * rewritten only when a read changes something; the mark is rewritten after
 * every successful read (also an unchanged one, or one held by the
 * mass-removal guard), so after a restart staleness counts from the last
 * successful read and not from the last change.  One JSON line:
 *
 *   {"format":"cetbyod-read-mark","version":1,"snapshot_synced_at":S,"read_at":T}
 *
 * It is written to a temporary file and renamed over the old one, without
 * fsync: a mark lost or cut short by a crash is ignored, which only makes
 * the source look older (stale sooner), never fresher.  A mark naming
 * another snapshot (the snapshot was replaced, or its save failed) is
 * ignored the same way.
 */
#define CB_SNAPSHOT_MARK_SUFFIX	".read"

/**
 * cb_snapshot_mark_save - record that the snapshot at path with synced_at
 * was current at read_at.  Returns 0, or -1 with err set.
 */
int cb_snapshot_mark_save(char const *path, time_t synced_at, time_t read_at, char *err, size_t errlen);

/**
 * cb_snapshot_mark_load - the time of the last successful read recorded
 * for the snapshot at path whose synced_at is synced_at.  Returns 0 with
 * *read_at set (synced_at <= *read_at <= now + 300); 1 when there is no
 * mark or it names another snapshot; -1 when it is unreadable or corrupt
 * (err says why).  In both failure cases the snapshot's own time counts.
 */
int cb_snapshot_mark_load(char const *path, time_t synced_at, time_t now, time_t *read_at, char *err, size_t errlen);

#endif
