/*
 * glue_class.c - the keyed Class (lib/store/classtok.h) on radiusd's side:
 * class_key_file at start-up; on Access-Accept the decision sealed into
 * Cetbyod-Class (the site copies it to the reply's Class) instead of a
 * store write, with the decision row of the old form as the fallback when
 * it does not fit in 253 octets; the device remembered for the device
 * limits through a recently-seen cache (a write only for a new device, or
 * one not written for DEVICE_REWRITE seconds); in accounting, the Class
 * read back, verified and bound to the device.
 *
 * The recently-seen cache is set-associative: a device's hash picks one
 * of DEVICE_SETS sets of DEVICE_WAYS entries, and a device not in its set
 * takes the set's empty entry, else the one written longest ago.  (It was
 * direct-mapped: two of a school's devices whose hashes fell in the same
 * slot evicted each other on every authentication, so each of their
 * Accepts was a store write; with 200 phones about 5 % of Accepts were,
 * bench/README.md 2026-12-02 "the device population".)  A device evicted
 * is only written again, which is always correct.
 */
#include "rlm_cetbyod.h"

#include <pthread.h>

#include "base/mac.h"
#include "base/worker.h"
#include "store/classtok.h"
#include "store/spool.h"

#define DEVICE_SETS	2048	/* The recently-seen cache: sets ... */
#define DEVICE_WAYS	8	/* ... of this many devices (16,384 devices, 256 KB). */
#define DEVICE_REWRITE	3600	/* The store keeps last_seen to the hour: a write at most hourly per device. */
#define DEVICE_QUEUE	256	/* Devices waiting for the writer; beyond, the request writes its own. */
#define DEVICE_FLUSH_MS	10	/* The writer's round: a device is in the store within about this. */

struct cetbyod_class {
	cb_classkey_t	keys;
	pthread_mutex_t	mutex;		/* Of seen[] and the queue. */
	struct {
		uint64_t	hash;	/* Of identity, MAC and counted; 0: empty. */
		time_t		written;
	} seen[DEVICE_SETS][DEVICE_WAYS];
	cb_store_seen_t	queue[DEVICE_QUEUE], batch[DEVICE_QUEUE];
	size_t		queued;
	cb_store_t	*store;		/* The writer's own connection. */
	cb_worker_t	*writer;
	rlm_cetbyod_t	*inst;
};

/** writer_main - the devices writer: every queued device in one transaction, each round. */
static void writer_main(cb_worker_t *w, void *arg)
{
	struct cetbyod_class *k = arg;

	while (cb_worker_wait(w, DEVICE_FLUSH_MS)) {
		size_t n;

		pthread_mutex_lock(&k->mutex);
		n = k->queued;
		memcpy(k->batch, k->queue, n * sizeof(k->queue[0]));
		k->queued = 0;
		pthread_mutex_unlock(&k->mutex);
		if (n && cb_store_devices_seen(k->store, k->batch, n) < 0) {
			cetbyod_core_log(k->inst, CB_LOG_ERROR, "cannot record %zu device(s) seen in the state store", n);
		}
	}
}

/** writer_start - the devices writer and its connection; 0, or -1 after cf_log_err. */
static int writer_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[256];

	inst->klass->inst = inst;
	inst->klass->store = cetbyod_store_connection(inst, conf, "the devices writer", CB_SPOOL_DEVICES_FILE);
	if (!inst->klass->store) return -1;
	inst->klass->writer = cb_worker_start("cetbyod-devices", writer_main, inst->klass, err, sizeof(err));
	if (!inst->klass->writer) {
		cf_log_err_cs(conf, "Cannot start the devices writer: %s", err);
		return -1;
	}
	return 0;
}

/** check_key_file - radiusd -C: a class_key_file named is read (never made); the default one is left alone. */
static int check_key_file(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char err[1024];
	cb_classkey_t keys;

	if (!inst->class_key_file || !*inst->class_key_file) return 0;
	if (cb_classkey_load(inst->class_key_file, false, &keys, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'class_key_file' (the key of the Class sent in Access-Accepts): %s", err);
		return -1;
	}
	cb_classkey_wipe(&keys);
	return 0;
}

int cetbyod_class_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	char path[4096], err[1024];
	bool explicit = inst->class_key_file && *inst->class_key_file;

	if (inst->check_only) return check_key_file(inst, conf);
	if (!inst->store) return 0;
	if (explicit) {
		snprintf(path, sizeof(path), "%s", inst->class_key_file);
	} else if ((size_t) snprintf(path, sizeof(path), "%s/%s", inst->state_dir, CB_CLASSKEY_NAME) >= sizeof(path)) {
		cf_log_err_cs(conf, "'state_dir' is too long");
		return -1;
	}
	inst->klass = talloc_zero(inst, struct cetbyod_class);
	if (!inst->klass || pthread_mutex_init(&inst->klass->mutex, NULL) != 0) {
		cf_log_err_cs(conf, "Out of memory for the class key");
		return -1;
	}
	if (cb_classkey_load(path, !explicit, &inst->klass->keys, err, sizeof(err)) < 0) {
		cf_log_err_cs(conf, "Invalid 'class_key_file' (the key of the Class sent in Access-Accepts): %s; "
			      "accepted: a file of \"<key id> <64 hex digits> <verify until>\" lines, mode 0600, or \"\" "
			      "for %s/%s (made when absent)", err, inst->state_dir, CB_CLASSKEY_NAME);
		pthread_mutex_destroy(&inst->klass->mutex);
		TALLOC_FREE(inst->klass);
		return -1;
	}
	if (writer_start(inst, conf) < 0) {
		cetbyod_class_stop(inst);
		return -1;
	}
	INFO("rlm_cetbyod (%s): Class sealed under key %u of %s (%zu key(s) verify)", inst->name,
	     inst->klass->keys.keys[inst->klass->keys.current].id, path, inst->klass->keys.count);
	return 0;
}

void cetbyod_class_stop(rlm_cetbyod_t *inst)
{
	if (!inst->klass) return;
	cb_worker_stop(inst->klass->writer);	/* Its last round has written what was queued. */
	if (inst->klass->queued) cb_store_devices_seen(inst->klass->store, inst->klass->queue, inst->klass->queued);
	cb_store_close(inst->klass->store);
	cb_classkey_wipe(&inst->klass->keys);
	pthread_mutex_destroy(&inst->klass->mutex);
	TALLOC_FREE(inst->klass);
}

bool cetbyod_class_issue(rlm_cetbyod_t *inst, REQUEST *request, cb_store_decision_t *rec)
{
	char tok[CB_CLASSTOK_MAX + 1];
	cb_classtok_rc_t rc;

	if (!inst->klass) return false;
	rc = cb_classtok_seal(&inst->klass->keys, rec, tok, sizeof(tok), rec->class_id);
	if (rc == CB_CLASSTOK_TOO_LONG) {
		RDEBUG2("The decision does not fit in a Class of 253 octets (identity of %zu bytes): recorded in the "
			"state store instead, under a Class naming it", strlen(rec->identity));
		return false;
	}
	if (rc != CB_CLASSTOK_OK) {
		RWDEBUG("Cannot seal the decision into a Class (%s): recorded in the state store instead",
			cb_classtok_error(rc));
		return false;
	}
	cetbyod_class_put(inst, request, tok);
	RDEBUG2("Decision carried in the Class (sealed under key %u, %zu octets, class id %s): nothing written to "
		"the state store", inst->klass->keys.keys[inst->klass->keys.current].id, strlen(tok), rec->class_id);
	return true;
}

void cetbyod_class_put(rlm_cetbyod_t *inst, REQUEST *request, char const *value)
{
	VALUE_PAIR *vp = fr_pair_afrom_da(request, inst->da_class);

	if (!vp) return;
	fr_pair_value_strcpy(vp, value);
	fr_pair_replace(&request->config, vp);
}

uint64_t cetbyod_fnv1a(uint64_t h, char const *s)
{
	for (; *s; s++) h = (h ^ (uint8_t) *s) * 1099511628211ULL;
	return (h ^ 0xff) * 1099511628211ULL;
}

/** enqueue - the device for the writer (woken); false when the queue is full (the caller writes it). */
static bool enqueue(struct cetbyod_class *k, cb_store_decision_t const *rec, char const *mac, bool counted)
{
	cb_store_seen_t *e;

	pthread_mutex_lock(&k->mutex);
	if (k->queued == DEVICE_QUEUE) {
		pthread_mutex_unlock(&k->mutex);
		return false;
	}
	e = &k->queue[k->queued++];
	strlcpy(e->identity, rec->identity, sizeof(e->identity));
	strlcpy(e->mac, mac, sizeof(e->mac));
	strlcpy(e->nas, rec->nas, sizeof(e->nas));
	e->counted = counted;
	e->when = rec->decided_at;
	pthread_mutex_unlock(&k->mutex);
	cb_worker_wake(k->writer);
	return true;
}

/** seen_way - the entry of set for hash h: its own, else an empty one, else the one written longest ago. */
static size_t seen_way(struct cetbyod_class const *k, size_t set, uint64_t h)
{
	size_t i, way = 0;

	for (i = 0; i < DEVICE_WAYS; i++) {
		if (k->seen[set][i].hash == h) return i;
		if (k->seen[set][way].hash && (!k->seen[set][i].hash || k->seen[set][i].written < k->seen[set][way].written)) {
			way = i;
		}
	}
	return way;
}

void cetbyod_class_device(rlm_cetbyod_t *inst, REQUEST *request, cb_store_decision_t const *rec, bool device_new)
{
	char mac[CB_MAC_LEN + 1];
	bool counted = strcmp(rec->reason, cb_reason_name(CB_REASON_DEVICE_LIMIT)) != 0 &&
		       strcmp(rec->reason, cb_reason_name(CB_REASON_CONCURRENT_LIMIT)) != 0;
	uint64_t h;
	size_t set, way;
	bool fresh;

	if (!inst->klass || !inst->limits_store || !cb_mac_normalise(rec->calling_station, mac)) return;
	h = cetbyod_fnv1a(cetbyod_fnv1a(cetbyod_fnv1a(CETBYOD_FNV_BASIS, rec->identity), mac), counted ? "1" : "0") | 1;
	set = (size_t) (h % DEVICE_SETS);
	pthread_mutex_lock(&inst->klass->mutex);
	way = seen_way(inst->klass, set, h);
	fresh = !device_new && inst->klass->seen[set][way].hash == h &&
		rec->decided_at >= inst->klass->seen[set][way].written &&
		rec->decided_at - inst->klass->seen[set][way].written < DEVICE_REWRITE;
	pthread_mutex_unlock(&inst->klass->mutex);
	if (fresh) {
		RDEBUG3("Device %s of %s recorded within the hour: not written again", mac, rec->identity);
		return;
	}
	if (!enqueue(inst->klass, rec, mac, counted) &&
	    cb_store_device_seen(inst->limits_store, rec->identity, mac, rec->nas, counted, rec->decided_at) < 0) {
		RWDEBUG("Cannot record device %s of %s in the state store", mac, rec->identity);
		return;
	}
	RDEBUG2("Device %s of %s recorded for the device limits (%s)", mac, rec->identity,
		device_new ? "not among the known devices" : "not written by this server within the hour");
	pthread_mutex_lock(&inst->klass->mutex);
	way = seen_way(inst->klass, set, h);	/* Again: another thread may have changed the set meanwhile. */
	inst->klass->seen[set][way].hash = h;
	inst->klass->seen[set][way].written = rec->decided_at;
	pthread_mutex_unlock(&inst->klass->mutex);
}

/** same_device - whether Calling-Station-Id calling names the MAC the Class was issued to. */
static bool same_device(char const *issued, char const *calling)
{
	char mac[CB_MAC_LEN + 1];

	if (!issued[0]) return true;	/* The Access-Request had no MAC: nothing to bind to. */
	return cb_mac_normalise(calling, mac) && strcmp(mac, issued) == 0;
}

cetbyod_class_kind_t cetbyod_class_read(rlm_cetbyod_t *inst, REQUEST *request, char const *calling,
					char class_id[CB_CLASS_ID_LEN + 1], cb_store_decision_t *dec,
					char const **untrusted)
{
	vp_cursor_t cursor;
	VALUE_PAIR *vp;
	unsigned int kid;
	cb_classtok_rc_t rc = CB_CLASSTOK_NOT_KEYED;

	class_id[0] = '\0';
	*untrusted = NULL;
	for (vp = fr_cursor_init(&cursor, &request->packet->vps); vp; vp = fr_cursor_next(&cursor)) {
		char const *v = (char const *) vp->vp_octets;

		if (vp->da->vendor != 0 || vp->da->attr != PW_CLASS) continue;
		if (cb_store_class_parse(v, vp->vp_length, class_id)) return CETBYOD_CLASS_STORE;
		rc = cb_classtok_open(inst->klass ? &inst->klass->keys : NULL, v, vp->vp_length, time(NULL), dec, &kid);
		if (rc == CB_CLASSTOK_NOT_KEYED) continue;
		break;
	}
	if (rc == CB_CLASSTOK_NOT_KEYED) return CETBYOD_CLASS_NONE;
	if (rc != CB_CLASSTOK_OK) {
		*untrusted = cb_classtok_error(rc);
		if (rc == CB_CLASSTOK_KEY_RETIRED) {
			RWDEBUG("Class under key %u, rotated out of %s: not trusted, this session is not tied to a person "
				"(it was admitted before the rotation's grace ended)", kid, inst->klass->keys.path);
		} else {
			RWDEBUG("Class of ours not trusted: %s (key %u); this session is not tied to a person", *untrusted,
				kid);
		}
		return CETBYOD_CLASS_UNTRUSTED;
	}
	if (!same_device(dec->calling_station, calling)) {
		RWDEBUG("Class was issued to device %s, but this accounting is for device %s: not trusted (replayed "
			"from another session?), this session is not tied to %s", dec->calling_station, calling,
			dec->identity);
		*untrusted = "Class issued to another device";
		memset(dec, 0, sizeof(*dec));
		return CETBYOD_CLASS_UNTRUSTED;
	}
	memcpy(class_id, dec->class_id, CB_CLASS_ID_LEN + 1);
	RDEBUG2("Class verified (key %u): decided %s for %s (%s, %s)", kid, dec->status, dec->identity, dec->reason,
		dec->role[0] ? dec->role : "employees");
	return CETBYOD_CLASS_KEYED;
}
