/*
 * store_spool.c - the front's spool (PostgreSQL): while the database is
 * unreachable, what the store would have written goes to a bounded file in
 * the state directory (spool.h) and RADIUS is answered; a thread of the
 * store replays the file into the database, in order and exactly once
 * (cb_store_ops_t.spool_apply), when it is back.
 *
 * What is spooled, one record each (a JSON object, "op" saying which):
 *   "start", "update", "stop"  an accounting request's session write, with
 *                              the keyed Class's decision on a Start;
 *   "decision"                 a decision row (a Class too long to carry
 *                              it: batch.c spools what it cannot commit);
 *   "device"                   a device seen (the module's devices writer
 *                              and device limits, each on a store handle
 *                              of its own, so a spool file of its own).
 * The audit index is not spooled: its source is the audit file, and the
 * writer's catch-up (lib/audit/index.c) copies what the index missed, by
 * seq, once the database is back.
 *
 * Order: once one record waits, every later write goes to the spool too,
 * until the replay has caught up, so the database sees decisions before
 * the sessions tied to them, and Start, Interim-Update and Stop in the
 * order the NAS sent them.  The replay takes the store's mutex for a run
 * of up to REPLAY_BATCH records, written in one transaction with one mark:
 * requests interleave between runs; it first asks whether the database
 * answers at all without the mutex (PQping), so a server that does not
 * answer (a connect timeout) holds up no request.
 * A full spool is said loudly (once per outage) and the write fails as it
 * did without a spool (accounting is not answered; the NAS retries); a
 * run the database refuses for good is replayed again one record at a
 * time, and the record refused is logged whole at ERROR and skipped, so
 * that one bad record does not stop the rest.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/worker.h"
#include "store/spool.h"
#include "store/store_int.h"

#define REPLAY_INTERVAL_MS	1000	/* How often the replay tries the database while records wait. */
#define REPLAY_BATCH		64	/* Records per transaction (and per hold of the store's mutex). */

struct cb_store_spool {
	cb_spool_t	*file;
	cb_worker_t	*replayer;
	bool		full_logged;	/* "full" said once until it drains. */
	bool		down;		/* The last write went to the spool (the database was unreachable). */
	char		name[32];	/* The mark's name (spool_apply): "" for store.spool, else the file's. */
	uint64_t	spooled;	/* Records written since start. */
	uint64_t	replayed;	/* Records replayed since start. */
	size_t		careful;	/* Records still to replay one at a time (a run was refused). */
};

#define LOG(store, level, ...) do { if ((store)->log) (store)->log((store)->log_ctx, (level), __VA_ARGS__); } while (0)

static char const *const op_names[] = { "start", "update", "stop", "decision", "device" };

static void add_text(json_object *o, char const *k, char const *v)
{
	if (v && *v) json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *decision_json(cb_store_decision_t const *d)
{
	json_object *o = json_object_new_object();

	add_text(o, "class_id", d->class_id);
	add_text(o, "identity", d->identity);
	add_text(o, "outer_identity", d->outer_identity);
	add_text(o, "status", d->status);
	add_text(o, "reason", d->reason);
	json_object_object_add(o, "decided_at", json_object_new_int64(d->decided_at));
	json_object_object_add(o, "valid_until", json_object_new_int64(d->valid_until));
	json_object_object_add(o, "ack_time", json_object_new_int64(d->ack_time));
	add_text(o, "policy_version", d->policy_version);
	add_text(o, "nas", d->nas);
	add_text(o, "calling_station", d->calling_station);
	add_text(o, "ack_email", d->ack_email);
	add_text(o, "role", d->role);
	return o;
}

/** acct_json - the record of one session write. */
static json_object *acct_json(cb_spool_op_t op, cb_store_acct_t const *a)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string(op_names[op]));
	add_text(o, "nas", a->nas);
	add_text(o, "acct_session_id", a->acct_session_id);
	add_text(o, "class_id", a->class_id);
	add_text(o, "identity", a->identity);
	add_text(o, "outer_identity", a->outer_identity);
	add_text(o, "calling_station", a->calling_station);
	add_text(o, "called_station", a->called_station);
	add_text(o, "framed_ip", a->framed_ip);
	add_text(o, "nas_ip", a->nas_ip);
	add_text(o, "nas_identifier", a->nas_identifier);
	add_text(o, "stop_cause", a->stop_cause);
	if (a->has_octets) {
		json_object_object_add(o, "in_octets", json_object_new_int64((int64_t) a->in_octets));
		json_object_object_add(o, "out_octets", json_object_new_int64((int64_t) a->out_octets));
	}
	json_object_object_add(o, "started", json_object_new_int64(a->started));
	json_object_object_add(o, "event_time", json_object_new_int64(a->event_time));
	if (a->decision) json_object_object_add(o, "decision", decision_json(a->decision));
	return o;
}

/** A record read back: the acct and decision point into json (kept until freed). */
typedef struct {
	json_object		*json;
	cb_spool_op_t		op;
	cb_store_acct_t		a;
	cb_store_decision_t	d;
	cb_store_seen_t		seen;
	cb_store_ops_t const	*ops;
} rec_t;

static char const *get_text(json_object *o, char const *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t get_int(json_object *o, char const *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static void copy_text(json_object *o, char const *k, char *buf, size_t size)
{
	char const *v = get_text(o, k);

	snprintf(buf, size, "%s", v ? v : "");
}

static void decision_read(json_object *o, cb_store_decision_t *d)
{
	memset(d, 0, sizeof(*d));
	copy_text(o, "class_id", d->class_id, sizeof(d->class_id));
	copy_text(o, "identity", d->identity, sizeof(d->identity));
	copy_text(o, "outer_identity", d->outer_identity, sizeof(d->outer_identity));
	copy_text(o, "status", d->status, sizeof(d->status));
	copy_text(o, "reason", d->reason, sizeof(d->reason));
	d->decided_at = (time_t) get_int(o, "decided_at");
	d->valid_until = (time_t) get_int(o, "valid_until");
	d->ack_time = (time_t) get_int(o, "ack_time");
	copy_text(o, "policy_version", d->policy_version, sizeof(d->policy_version));
	copy_text(o, "nas", d->nas, sizeof(d->nas));
	copy_text(o, "calling_station", d->calling_station, sizeof(d->calling_station));
	copy_text(o, "ack_email", d->ack_email, sizeof(d->ack_email));
	copy_text(o, "role", d->role, sizeof(d->role));
}

/** device_read - a "device" record into r->seen; false when a field is missing. */
static bool device_read(rec_t *r)
{
	json_object *v;

	copy_text(r->json, "identity", r->seen.identity, sizeof(r->seen.identity));
	copy_text(r->json, "mac", r->seen.mac, sizeof(r->seen.mac));
	copy_text(r->json, "nas", r->seen.nas, sizeof(r->seen.nas));
	r->seen.counted = json_object_object_get_ex(r->json, "counted", &v) && json_object_get_boolean(v);
	r->seen.when = (time_t) get_int(r->json, "when");
	return r->seen.identity[0] && r->seen.mac[0];
}

/** rec_read - parse a record; false when it is not one (the caller logs it). */
static bool rec_read(char const *text, rec_t *r)
{
	char const *op;
	json_object *dec;

	memset(r, 0, sizeof(*r));
	r->json = json_tokener_parse(text);
	if (!r->json || !json_object_is_type(r->json, json_type_object)) return false;
	op = get_text(r->json, "op");
	for (r->op = CB_SPOOL_START; r->op <= CB_SPOOL_DEVICE; r->op++) {
		if (op && strcmp(op, op_names[r->op]) == 0) break;
	}
	if (r->op > CB_SPOOL_DEVICE) return false;
	if (r->op == CB_SPOOL_DEVICE) return device_read(r);
	if (json_object_object_get_ex(r->json, "decision", &dec)) {
		decision_read(dec, &r->d);
		r->a.decision = &r->d;
	}
	if (r->op == CB_SPOOL_DECISION) return r->a.decision && r->d.class_id[0];
	r->a.nas = get_text(r->json, "nas");
	r->a.acct_session_id = get_text(r->json, "acct_session_id");
	r->a.class_id = get_text(r->json, "class_id");
	r->a.identity = get_text(r->json, "identity");
	r->a.outer_identity = get_text(r->json, "outer_identity");
	r->a.calling_station = get_text(r->json, "calling_station");
	r->a.called_station = get_text(r->json, "called_station");
	r->a.framed_ip = get_text(r->json, "framed_ip");
	r->a.nas_ip = get_text(r->json, "nas_ip");
	r->a.nas_identifier = get_text(r->json, "nas_identifier");
	r->a.stop_cause = get_text(r->json, "stop_cause");
	r->a.has_octets = json_object_object_get_ex(r->json, "in_octets", NULL);
	r->a.in_octets = (uint64_t) get_int(r->json, "in_octets");
	r->a.out_octets = (uint64_t) get_int(r->json, "out_octets");
	r->a.started = (time_t) get_int(r->json, "started");
	r->a.event_time = (time_t) get_int(r->json, "event_time");
	return r->a.nas && r->a.acct_session_id;
}

static int rec_apply(cb_store_backend_t *be, rec_t *r)
{
	switch (r->op) {
	case CB_SPOOL_START: return r->ops->session_start(be, &r->a);
	case CB_SPOOL_UPDATE: return r->ops->session_update(be, &r->a);
	case CB_SPOOL_STOP: return r->ops->session_stop(be, &r->a);
	case CB_SPOOL_DECISION: return r->ops->decisions_put(be, &r->d, 1);
	default: return r->ops->devices_seen(be, &r->seen, 1);
	}
}

/** A run of records replayed in one transaction (replay_batch). */
typedef struct {
	rec_t		rec[REPLAY_BATCH];
	void		*data[REPLAY_BATCH];
	uint64_t	seq[REPLAY_BATCH];
	bool		ok[REPLAY_BATCH];	/* Parsed (the others were logged and are skipped). */
	size_t		n;
} batch_t;

/** batch_apply - spool_apply's callback: the records after the mark's seq, in order; 0 or -1. */
static int batch_apply(cb_store_backend_t *be, void *ctx, uint64_t after)
{
	batch_t *b = ctx;

	for (size_t i = 0; i < b->n; i++) {
		if (b->ok[i] && b->seq[i] > after && rec_apply(be, &b->rec[i]) < 0) return -1;
	}
	return 0;
}

static void batch_clear(batch_t *b)
{
	for (size_t i = 0; i < b->n; i++) {
		json_object_put(b->rec[i].json);
		free(b->data[i]);
	}
	b->n = 0;
}

/** batch_read - peek up to max records into b; 0, 1 when none waits, -1 on an I/O error. */
static int batch_read(cb_store_t *store, batch_t *b, size_t max)
{
	struct cb_store_spool *s = store->spool;
	size_t len;
	int rc = 0;

	while (b->n < max && (rc = cb_spool_peek(s->file, &b->data[b->n], &len, &b->seq[b->n])) == 0) {
		size_t i = b->n++;

		b->ok[i] = rec_read(b->data[i], &b->rec[i]);
		b->rec[i].ops = store->ops;
		if (!b->ok[i]) LOG(store, CB_LOG_ERROR, "store: spool %s: record %" PRIu64 " is not a write it knows, "
				   "skipped: %s", cb_spool_path(s->file), b->seq[i], (char const *) b->data[i]);
	}
	if (rc < 0) return -1;
	return b->n ? 0 : 1;
}

/**
 * replay_batch - (store->mutex held) up to REPLAY_BATCH of the oldest
 * records into the database in one transaction, with one mark (s->careful:
 * one record at a time, after a run the database refused).  0 done or
 * skipped, 1 none left, -1 later.
 */
static int replay_batch(cb_store_t *store, batch_t *b)
{
	struct cb_store_spool *s = store->spool;
	size_t max = s->careful ? 1 : REPLAY_BATCH;
	int rc = batch_read(store, b, max);

	if (rc != 0) {
		batch_clear(b);
		cb_spool_unpeek(s->file);
		return rc;
	}
	rc = store->ops->spool_apply(store->be, s->name, cb_spool_generation(s->file), b->seq[b->n - 1], batch_apply, b);
	if (rc < 0 && !store->ops->transient(store->be)) {
		if (b->n > 1) {		/* Which one?  Again one by one: only that one is skipped. */
			s->careful = b->n;
			batch_clear(b);
			cb_spool_unpeek(s->file);
			return 0;
		}
		LOG(store, CB_LOG_ERROR, "store: spool %s: the database refused record %" PRIu64 " (see above), "
		    "skipped: %s", cb_spool_path(s->file), b->seq[0], (char const *) b->data[0]);
		rc = 0;
	}
	if (rc < 0) {
		batch_clear(b);
		cb_spool_unpeek(s->file);
		return -1;
	}
	s->replayed += b->n;
	if (s->careful) s->careful--;
	batch_clear(b);
	if (cb_spool_consume(s->file) < 0) {
		LOG(store, CB_LOG_ERROR, "store: spool %s: cannot advance (the records will be replayed again, and "
		    "skipped by their mark)", cb_spool_path(s->file));
		cb_spool_rewind(s->file);
		return -1;
	}
	return 0;
}

static void replay_main(cb_worker_t *w, void *arg)
{
	cb_store_t *store = arg;
	struct cb_store_spool *s = store->spool;

	batch_t *b = calloc(1, sizeof(*b));

	while (b && cb_worker_wait(w, REPLAY_INTERVAL_MS)) {
		uint64_t before = s->replayed;
		int rc = 0;

		pthread_mutex_lock(&store->mutex);
		rc = cb_spool_pending(s->file) ? 0 : 1;
		pthread_mutex_unlock(&store->mutex);
		/* Asked without the lock: a server that times out must not hold up the requests. */
		if (rc == 1 || (store->ops->reachable && !store->ops->reachable(store->be))) continue;

		while (rc == 0 && !cb_worker_stopping(w)) {
			pthread_mutex_lock(&store->mutex);
			rc = replay_batch(store, b);
			if (rc == 1 && s->down) {
				s->down = false;
				s->full_logged = false;
			}
			pthread_mutex_unlock(&store->mutex);
		}
		if (s->replayed > before) {
			LOG(store, CB_LOG_INFO, "store: %" PRIu64 " spooled write(s) replayed into the database%s",
			    s->replayed - before, rc == 1 ? "; the spool is empty" : "");
		}
	}
	if (!b) LOG(store, CB_LOG_ERROR, "store: out of memory: the spool %s is not replayed", cb_spool_path(s->file));
	free(b);
}

int cb_store_spool_start(cb_store_t *store, cb_store_conf_t const *conf, char *err, size_t errlen)
{
	struct cb_store_spool *s;
	char const *base;
	size_t dropped = 0;

	if (!store->ops->spool_apply) {
		snprintf(err, errlen, "the %s store has no spool", store->ops->name);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	base = strrchr(conf->spool_path, '/');
	base = base ? base + 1 : conf->spool_path;
	if (strcmp(base, CB_SPOOL_FILE) != 0) snprintf(s->name, sizeof(s->name), "%s", base);
	s->file = cb_spool_open(conf->spool_path, conf->spool_max, &dropped, err, errlen);
	if (!s->file) {
		free(s);
		return -1;
	}
	if (dropped) LOG(store, CB_LOG_WARN, "store: spool %s: a torn record at its end (%zu bytes, written when a "
			 "crash cut it short, never answered) was cut off", conf->spool_path, dropped);
	if (cb_spool_pending(s->file)) {
		s->down = true;
		LOG(store, CB_LOG_INFO, "store: spool %s holds %" PRIu64 " write(s) from before: replaying them",
		    conf->spool_path, cb_spool_count(s->file));
	}
	store->spool = s;
	s->replayer = cb_worker_start("store-spool", replay_main, store, err, errlen);
	if (!s->replayer) {
		cb_spool_close(s->file);
		free(s);
		store->spool = NULL;
		return -1;
	}
	if (s->down) cb_worker_wake(s->replayer);
	return 0;
}

void cb_store_spool_stop(cb_store_t *store)
{
	struct cb_store_spool *s = store->spool;

	if (!s) return;
	cb_worker_stop(s->replayer);
	cb_spool_close(s->file);
	free(s);
	store->spool = NULL;
}

bool cb_store_spool_waiting(cb_store_t *store)
{
	return store->spool && cb_spool_pending(store->spool->file);
}

/** result_from - the session as far as a says (a->result, while the database cannot be read). */
static void result_from(cb_spool_op_t op, cb_store_acct_t const *a)
{
	cb_store_session_t *r = a->result;

	if (!r) return;
	memset(r, 0, sizeof(*r));
	snprintf(r->nas, sizeof(r->nas), "%s", a->nas);
	snprintf(r->acct_session_id, sizeof(r->acct_session_id), "%s", a->acct_session_id);
	snprintf(r->class_id, sizeof(r->class_id), "%s", a->class_id ? a->class_id : "");
	snprintf(r->identity, sizeof(r->identity), "%s", a->identity && *a->identity ? a->identity :
		 a->decision ? a->decision->identity : "");
	snprintf(r->calling_station, sizeof(r->calling_station), "%s", a->calling_station ? a->calling_station : "");
	snprintf(r->framed_ip, sizeof(r->framed_ip), "%s", a->framed_ip ? a->framed_ip : "");
	if (a->decision) snprintf(r->status, sizeof(r->status), "%s", a->decision->status);
	r->started = a->started ? a->started : a->event_time;
	r->last_seen = a->event_time;
	if (op == CB_SPOOL_STOP) r->stopped = a->event_time;
}

/**
 * spool_write - objs[0..n) (put here, whatever happens) into the spool, in
 * one write and one fsync; what says what they are, for the log.  0, or -1
 * when the spool is full or cannot be written (said loudly).
 */
static int spool_write(cb_store_t *store, json_object **objs, size_t n, char const *what)
{
	struct cb_store_spool *s = store->spool;
	void const **texts = calloc(n ? n : 1, sizeof(*texts));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	char err[256] = "out of memory";
	int rc = texts && lens ? 0 : -1;

	for (size_t i = 0; i < n && rc == 0; i++) {
		texts[i] = objs[i] ? json_object_to_json_string_ext(objs[i], JSON_C_TO_STRING_PLAIN) : NULL;
		if (!texts[i]) rc = -1;
		else lens[i] = strlen(texts[i]);
	}
	if (rc == 0) rc = cb_spool_appendv(s->file, texts, lens, n, err, sizeof(err));
	for (size_t i = 0; i < n; i++) json_object_put(objs[i]);
	free(texts);
	free(lens);
	if (rc == 1) {
		if (!s->full_logged) LOG(store, CB_LOG_ERROR, "store: the database is unreachable and the spool %s is "
					 "FULL (%" PRIu64 " bytes, store { spool_max_mb }): %s NOT recorded until it "
					 "drains (accounting is not answered, the NAS keeps retrying; decisions wait in "
					 "memory; devices seen are dropped)", cb_spool_path(s->file),
					 cb_spool_bytes(s->file), what);
		s->full_logged = true;
		return -1;
	}
	if (rc < 0) {
		LOG(store, CB_LOG_ERROR, "store: the database is unreachable and the spool cannot be written (%s): %s",
		    what, err);
		return -1;
	}
	if (!s->down) LOG(store, CB_LOG_WARN, "store: the database is unreachable: writes go to the spool %s "
			  "and are replayed when it is back", cb_spool_path(s->file));
	s->down = true;
	s->spooled += n;
	return 0;
}

int cb_store_spool_session(cb_store_t *store, cb_spool_op_t op, cb_store_acct_t const *a)
{
	json_object *o = acct_json(op, a);

	if (spool_write(store, &o, 1, "accounting is") < 0) return -1;
	result_from(op, a);
	return 0;
}

/** op_json - a new record of op; NULL when out of memory. */
static json_object *op_json(cb_spool_op_t op)
{
	json_object *o = json_object_new_object();

	if (o) json_object_object_add(o, "op", json_object_new_string(op_names[op]));
	return o;
}

static json_object *decision_rec(void const *items, size_t i)
{
	json_object *o = op_json(CB_SPOOL_DECISION);

	if (o) json_object_object_add(o, "decision", decision_json((cb_store_decision_t const *) items + i));
	return o;
}

static json_object *device_rec(void const *items, size_t i)
{
	cb_store_seen_t const *d = (cb_store_seen_t const *) items + i;
	json_object *o = op_json(CB_SPOOL_DEVICE);

	if (!o) return NULL;
	add_text(o, "identity", d->identity);
	add_text(o, "mac", d->mac);
	add_text(o, "nas", d->nas);
	json_object_object_add(o, "counted", json_object_new_boolean(d->counted));
	json_object_object_add(o, "when", json_object_new_int64(d->when));
	return o;
}

/** spool_each - a record per item (make), all in one write; as spool_write. */
static int spool_each(cb_store_t *store, void const *items, size_t n, json_object *(*make)(void const *, size_t),
		      char const *what)
{
	json_object **objs = calloc(n ? n : 1, sizeof(*objs));
	int rc;

	if (!objs) return -1;
	for (size_t i = 0; i < n; i++) objs[i] = make(items, i);
	rc = spool_write(store, objs, n, what);
	free(objs);
	return rc;
}

int cb_store_spool_decisions(cb_store_t *store, cb_store_decision_t const *d, size_t n)
{
	return spool_each(store, d, n, decision_rec, "decisions are");
}

int cb_store_spool_devices(cb_store_t *store, cb_store_seen_t const *items, size_t n)
{
	return spool_each(store, items, n, device_rec, "devices seen are");
}

int cb_store_spool_info(cb_store_t *store, cb_store_spool_info_t *out)
{
	struct cb_store_spool *s;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&store->mutex);
	s = store->spool;
	if (s) {
		out->down = s->down;
		out->records = cb_spool_count(s->file);
		out->bytes = cb_spool_bytes(s->file);
		out->max_bytes = cb_spool_max(s->file);
		out->spooled = s->spooled;
		out->replayed = s->replayed;
	}
	pthread_mutex_unlock(&store->mutex);
	return s ? 0 : 1;
}
