/*
 * ackfile.h - the local acknowledgements file as an acknowledgement source.
 *
 * A school records paper acknowledgements (or runs without Google at all)
 * in a plain text file, one acknowledgement per line:
 *
 *     # email                 acknowledged at         options
 *     alice@school.example    2026-09-03T08:15:00Z    version=2026-1
 *     bob@school.example      2026-09-01              by=office
 *     carol@school.example    2026-10-02 14:30        revoked
 *
 * The time is RFC 3339, or a local date / date and time in the school's time
 * zone.  Options: version=<policy version>, revoked (a withdrawal), by=<who
 * recorded it>.  A malformed line is reported with its line number and
 * skipped; the rest of the file is used.
 */
#ifndef CETBYOD_SOURCES_ACKFILE_H
#define CETBYOD_SOURCES_ACKFILE_H

#include "sources/source.h"
#include "core/tz.h"

#define CB_ACKFILE_MAX_SIZE (64 * 1024 * 1024)	/* Refuse larger files. */
#define CB_ACKFILE_MAX_LINE 1024

/**
 * cb_ackfile_source_new - a source reading filename.  The tz is borrowed
 * (must outlive the source).  Returns NULL and sets err when filename is
 * empty or allocation fails; a missing file is reported at fetch time.
 */
cb_source_t *cb_ackfile_source_new(char const *filename, cb_tz_t const *tz, cb_log_fn_t log, void *log_ctx,
				   char *err, size_t errlen);

/**
 * cb_ackfile_parse - parse a whole file held in memory into b, reporting each
 * bad line through log.  Returns the number of bad lines.  Used by the
 * source and by `cetbyodctl check-file`.
 */
unsigned int cb_ackfile_parse(char const *name, char const *data, size_t len, cb_tz_t const *tz,
			      cb_ack_builder_t *b, cb_log_fn_t log, void *log_ctx);

#endif
