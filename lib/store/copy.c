/*
 * copy.c - cb_store_copy: everything a SQLite store holds, copied into a
 * PostgreSQL store in one transaction (cetbyodctl migrate).
 *
 * The rows are copied column by column as the source has them (the
 * backends' table_rows and load_row, the same generic rows as the subject
 * access export), so a column the target has no place for fails the copy
 * instead of being dropped, and every id is kept: a disconnect still
 * names its session, a revocation's history stays in order.  The target's
 * identity sequences then continue after the largest id (load_end).
 */
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

/* Every table of the store, parents before the rows that name them. */
static char const *const copy_tables[] = {
	"status", "people", "decisions", "sessions", "revocations", "disconnects", "commands", "exceptions",
	"reminders", "devices", "device_forgets", "audit", "audit_refs"
};
#define COPY_TABLES (sizeof(copy_tables) / sizeof(copy_tables[0]))

typedef struct {
	cb_store_t	*dst;
	uint64_t	rows;
	bool		failed;
} copy_ctx_t;

/** copy_row - one source row into the target (the fields are the source's, valid for this call only). */
static int copy_row(void *uctx, char const *table, cb_store_field_t const *fields, size_t n)
{
	copy_ctx_t *c = uctx;

	if (!fields) return 0;		/* The table's start. */
	if (c->dst->ops->load_row(c->dst->be, table, fields, n) < 0) {
		c->failed = true;
		return -1;
	}
	c->rows++;
	return 0;
}

/** copy_all - every table, counts into rows; the failing table's name in *where.  0 or -1. */
static int copy_all(cb_store_t *src, cb_store_t *dst, uint64_t rows[COPY_TABLES], char const **where)
{
	for (size_t i = 0; i < COPY_TABLES; i++) {
		copy_ctx_t c = { .dst = dst };

		*where = copy_tables[i];
		if (src->ops->table_rows(src->be, copy_tables[i], copy_row, &c) < 0 || c.failed) return -1;
		rows[i] = c.rows;
	}
	return 0;
}

int cb_store_copy(cb_store_t *src, cb_store_t *dst, bool replace, cb_store_copy_fn fn, void *ctx, char *err,
		  size_t errlen)
{
	uint64_t rows[COPY_TABLES] = { 0 };
	char const *where = "";
	int rc;

	if (!src || !dst || src == dst) {
		snprintf(err, errlen, "copy: two different stores are needed");
		return -1;
	}
	if (!src->ops->table_rows || !dst->ops->load_begin) {
		snprintf(err, errlen, "copy: from a %s store into a %s store is not supported (SQLite into PostgreSQL "
			 "is)", src->ops->name, dst->ops->name);
		return -1;
	}
	pthread_mutex_lock(&src->mutex);
	pthread_mutex_lock(&dst->mutex);
	cb_store_batch_flush(src);
	cb_store_batch_flush(dst);
	rc = dst->ops->load_begin(dst->be, copy_tables, COPY_TABLES, replace);
	if (rc == 0) {
		rc = copy_all(src, dst, rows, &where);
		rc = dst->ops->load_end(dst->be, rc, copy_tables, COPY_TABLES);
		if (rc < 0) snprintf(err, errlen, "copying the table %s failed (see the message above); nothing was "
				     "written", where);
	} else if (rc < 0) {
		snprintf(err, errlen, "the target could not be prepared (see the message above); nothing was written");
	} else {
		snprintf(err, errlen, "the target store is not empty");
	}
	pthread_mutex_unlock(&dst->mutex);
	pthread_mutex_unlock(&src->mutex);
	if (rc != 0 || !fn) return rc;
	for (size_t i = 0; i < COPY_TABLES; i++) fn(ctx, copy_tables[i], rows[i]);
	return 0;
}
