/*
 * classtok.c - the keyed Class (classtok.h): the class key file, and the
 * decision sealed into a Class with AES-256-GCM and opened from one.
 *
 * Each thread that seals or opens keeps its own cipher state (tok_thread_t,
 * freed when the thread ends): one AES-256-GCM context per direction, kept
 * with its key schedule so a Class costs an IV, not a cipher set-up, and a
 * batch of random nonces drawn from OpenSSL's DRBG at once.  A fork
 * discards the child's batch, so a parent and child never share a nonce.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/mac.h"
#include "core/policy.h"
#include "store/classtok.h"

#define TOK_VERSION	2
#define NONCE_LEN	12
#define TAG_LEN		16
#define HEAD_LEN	2	/* version, key id: GCM's additional data. */
#define SEALED_MAX	((CB_CLASSTOK_MAX - (sizeof(CB_CLASSTOK_PREFIX) - 1)) * 3 / 4)
#define PLAIN_MAX	(SEALED_MAX - HEAD_LEN - NONCE_LEN - TAG_LEN)
#define FLAG_MAC	1	/* The payload carries the device's MAC. */
#define FLAG_ACK_SAME	2	/* The acknowledgement's address is the identity. */
#define KEYFILE_MAX	8192

/*
 *	The key file
 */

/** parse_hex_key - 64 hex digits into 32 bytes. */
static bool parse_hex_key(char const *s, size_t n, uint8_t key[32])
{
	if (n != 64) return false;
	for (size_t i = 0; i < 32; i++) {
		char two[3] = { s[2 * i], s[2 * i + 1], '\0' };
		char *end;
		unsigned long v;

		if (!strchr("0123456789abcdefABCDEF", two[0]) || !strchr("0123456789abcdefABCDEF", two[1]) ||
		    !two[0] || !two[1]) return false;
		v = strtoul(two, &end, 16);
		if (*end) return false;
		key[i] = (uint8_t) v;
	}
	return true;
}

/** parse_line - "<id> <64 hex> <verify until>" into e; false when malformed. */
static bool parse_line(char *line, cb_classkey_entry_t *e)
{
	char *end, *hex;
	unsigned long id;
	long long until;
	size_t n;

	errno = 0;
	id = strtoul(line, &end, 10);
	if (errno || end == line || id < 1 || id > 255 || (*end != ' ' && *end != '\t')) return false;
	while (*end == ' ' || *end == '\t') end++;
	hex = end;
	n = strspn(hex, "0123456789abcdefABCDEF");
	if (!parse_hex_key(hex, n, e->key)) return false;
	end = hex + n;
	if (*end != ' ' && *end != '\t') return false;
	while (*end == ' ' || *end == '\t') end++;
	errno = 0;
	until = strtoll(end, &hex, 10);
	if (errno || hex == end || until < 0) return false;
	while (*hex == ' ' || *hex == '\t' || *hex == '\r') hex++;
	if (*hex) return false;
	e->id = (unsigned int) id;
	e->verify_until = (time_t) until;
	return true;
}

/** parse_file - the keys in text; 0, or -1 with err. */
static int parse_file(char *text, char const *path, cb_classkey_t *out, char *err, size_t errlen)
{
	unsigned int lineno = 0;

	for (char *line = text, *next; line && *line; line = next) {
		cb_classkey_entry_t e;

		next = strchr(line, '\n');
		if (next) *next++ = '\0';
		lineno++;
		if (!*line || *line == '#') continue;
		if (!parse_line(line, &e)) {
			snprintf(err, errlen, "%s line %u: not \"<key id 1..255> <64 hex digits> <verify until, Unix "
				 "time, 0 for no end>\"", path, lineno);
			return -1;
		}
		for (size_t i = 0; i < out->count; i++) {
			if (out->keys[i].id != e.id) continue;
			snprintf(err, errlen, "%s line %u: key id %u appears twice", path, lineno, e.id);
			return -1;
		}
		if (out->count == CB_CLASSKEY_MAX) {
			snprintf(err, errlen, "%s: more than %d keys", path, CB_CLASSKEY_MAX);
			return -1;
		}
		out->keys[out->count] = e;
		if (e.verify_until == 0) out->current = (int) out->count;
		out->count++;
		OPENSSL_cleanse(&e, sizeof(e));
	}
	return 0;
}

/** read_file - the whole file into buf (NUL-terminated); 0, 1 absent, -1 with err. */
static int read_file(char const *path, char *buf, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;
	size_t got = 0;

	if (fd < 0) {
		if (errno == ENOENT) return 1;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & S_IRWXO)) {
		snprintf(err, errlen, "%s: not a regular file, or readable or writable by everyone (chmod 0600, "
			 "owner the user radiusd runs as)", path);
		close(fd);
		return -1;
	}
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0) got += (size_t) n;
	close(fd);
	if (got == len - 1) {
		snprintf(err, errlen, "%s: longer than %d bytes", path, KEYFILE_MAX - 1);
		return -1;
	}
	buf[got] = '\0';
	return 0;
}

/** write_file - the keys into path (0600) through a temporary file and rename; 0, or -1 with err. */
static int write_file(char const *path, cb_classkey_t const *k, char *err, size_t errlen)
{
	static char const head[] = "# cetbyod class keys: <key id> <AES-256 key, hex> <verify until, Unix time; "
				   "0: the current key signs>\n# Servers sharing sessions must share this file. "
				   "Rotate with cetbyodctl class-key rotate.\n";
	char tmp[4200], line[128];
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, head, sizeof(head) - 1) != (ssize_t) (sizeof(head) - 1)) rc = -1;
	for (size_t i = 0; i < k->count && rc == 0; i++) {
		int n = snprintf(line, sizeof(line), "%u ", k->keys[i].id);

		for (size_t j = 0; j < 32; j++) n += snprintf(line + n, sizeof(line) - (size_t) n, "%02x", k->keys[i].key[j]);
		n += snprintf(line + n, sizeof(line) - (size_t) n, " %lld\n", (long long) k->keys[i].verify_until);
		if (write(fd, line, (size_t) n) != n) rc = -1;
	}
	OPENSSL_cleanse(line, sizeof(line));
	if (rc == 0 && fsync(fd) < 0) rc = -1;
	if (close(fd) < 0) rc = -1;
	if (rc == 0 && rename(tmp, path) < 0) rc = -1;
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

/** add_key - a new current key with an id the file does not use; false when RAND_bytes fails. */
static bool add_key(cb_classkey_t *k)
{
	unsigned int id = 0;
	cb_classkey_entry_t *e;

	for (size_t i = 0; i < k->count; i++) if (k->keys[i].id > id) id = k->keys[i].id;
	for (id = id % 255 + 1;; id = id % 255 + 1) {
		bool used = false;

		for (size_t i = 0; i < k->count; i++) used = used || k->keys[i].id == id;
		if (!used) break;
	}
	e = &k->keys[k->count];
	if (RAND_bytes(e->key, sizeof(e->key)) != 1) return false;
	e->id = id;
	e->verify_until = 0;
	k->current = (int) k->count++;
	return true;
}

int cb_classkey_load(char const *path, bool create, cb_classkey_t *out, char *err, size_t errlen)
{
	char buf[KEYFILE_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	out->current = -1;
	snprintf(out->path, sizeof(out->path), "%s", path);
	rc = read_file(path, buf, sizeof(buf), err, errlen);
	if (rc == 1 && create) {
		if (!add_key(out)) {
			snprintf(err, errlen, "%s: no random bytes for a new key", path);
			return -1;
		}
		return write_file(path, out, err, errlen);
	}
	if (rc == 1) snprintf(err, errlen, "%s: no such file", path);
	if (rc != 0) return -1;
	rc = parse_file(buf, path, out, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == 0 && out->current < 0) {
		snprintf(err, errlen, "%s: no current key (a line whose verify-until is 0)", path);
		rc = -1;
	}
	if (rc < 0) cb_classkey_wipe(out);
	return rc;
}

int cb_classkey_rotate(char const *path, time_t now, unsigned int grace_days, unsigned int *new_id, char *err,
		       size_t errlen)
{
	cb_classkey_t k;
	size_t n = 0;
	int rc;

	if (cb_classkey_load(path, true, &k, err, errlen) < 0) return -1;
	for (size_t i = 0; i < k.count; i++) {
		cb_classkey_entry_t e = k.keys[i];

		if (e.verify_until == 0) e.verify_until = now + (time_t) grace_days * 86400;
		if (e.verify_until <= now) continue;	/* Rotated out already: dropped. */
		k.keys[n++] = e;
	}
	if (n == CB_CLASSKEY_MAX) {
		memmove(&k.keys[0], &k.keys[1], (n - 1) * sizeof(k.keys[0]));	/* The oldest goes. */
		n--;
	}
	k.count = n;
	if (!add_key(&k)) {
		snprintf(err, errlen, "%s: no random bytes for a new key", path);
		cb_classkey_wipe(&k);
		return -1;
	}
	*new_id = k.keys[k.current].id;
	rc = write_file(path, &k, err, errlen);
	cb_classkey_wipe(&k);
	return rc;
}

void cb_classkey_wipe(cb_classkey_t *k)
{
	if (k) OPENSSL_cleanse(k->keys, sizeof(k->keys));
}

/*
 *	The sealed Class
 */

char const *cb_classtok_error(cb_classtok_rc_t rc)
{
	switch (rc) {
	case CB_CLASSTOK_OK: return "verified";
	case CB_CLASSTOK_NOT_KEYED: return "not a keyed Class";
	case CB_CLASSTOK_MALFORMED: return "malformed keyed Class";
	case CB_CLASSTOK_UNKNOWN_KEY: return "its key id is not in the class key file (forged, or rotated out long ago)";
	case CB_CLASSTOK_KEY_RETIRED: return "its key has been rotated out (verify-until passed)";
	case CB_CLASSTOK_FORGED: return "it does not verify under its key (altered or forged)";
	case CB_CLASSTOK_TOO_LONG: return "the decision does not fit in a Class of 253 octets";
	case CB_CLASSTOK_ERROR: break;
	}
	return "cryptographic failure or no current key";
}

/** put_str - a length-prefixed string; false when it does not fit. */
static bool put_str(uint8_t *buf, size_t *n, char const *s)
{
	size_t len = strlen(s);

	if (len > 255 || *n + 1 + len > PLAIN_MAX) return false;
	buf[(*n)++] = (uint8_t) len;
	memcpy(buf + *n, s, len);
	*n += len;
	return true;
}

static void put_u32(uint8_t *buf, size_t *n, time_t t)
{
	uint32_t v = (t > 0 && t <= (time_t) UINT32_MAX) ? (uint32_t) t : 0;

	buf[(*n)++] = (uint8_t) (v >> 24);
	buf[(*n)++] = (uint8_t) (v >> 16);
	buf[(*n)++] = (uint8_t) (v >> 8);
	buf[(*n)++] = (uint8_t) v;
}

/** status_index - the cb_status_t of a status name; -1 when unknown. */
static int status_index(char const *name)
{
	for (int i = CB_STATUS_REJECT; i <= CB_STATUS_RESTRICTED; i++) {
		if (strcmp(name, cb_status_name((cb_status_t) i)) == 0) return i;
	}
	return -1;
}

/** encode - the payload of d into buf; its length, 0 when it does not fit, -1 when d is invalid. */
static int encode(cb_store_decision_t const *d, uint8_t buf[PLAIN_MAX])
{
	char mac[CB_MAC_LEN + 1];
	int status = status_index(d->status), reason = cb_reason_from_name(d->reason);
	bool has_mac = cb_mac_normalise(d->calling_station, mac);
	bool same = strcmp(d->ack_email, d->identity) == 0;
	size_t n = 0;

	if (status < 0 || reason < 0) return -1;
	buf[n++] = (uint8_t) status;
	buf[n++] = (uint8_t) reason;
	buf[n++] = (uint8_t) ((has_mac ? FLAG_MAC : 0) | (same ? FLAG_ACK_SAME : 0));
	put_u32(buf, &n, d->decided_at);
	put_u32(buf, &n, d->valid_until);
	put_u32(buf, &n, d->ack_time);
	if (has_mac) {
		for (size_t i = 0; i < 6; i++) {
			char two[3] = { mac[3 * i], mac[3 * i + 1], '\0' };

			buf[n++] = (uint8_t) strtoul(two, NULL, 16);
		}
	}
	if (!put_str(buf, &n, d->identity) || !put_str(buf, &n, d->role) ||
	    (!same && !put_str(buf, &n, d->ack_email)) || !put_str(buf, &n, d->policy_version)) return 0;
	return (int) n;
}

/** class_id_of - the hex of the nonce and the tag's first 4 bytes. */
static void class_id_of(uint8_t const *nonce, uint8_t const *tag, char out[CB_CLASS_ID_LEN + 1])
{
	static char const hex[] = "0123456789abcdef";
	uint8_t id[16];

	memcpy(id, nonce, NONCE_LEN);
	memcpy(id + NONCE_LEN, tag, 4);
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[CB_CLASS_ID_LEN] = '\0';
}

/*
 *	Per-thread cipher state
 */

#define NONCE_BATCH	32	/* Nonces drawn from the DRBG at once. */

typedef struct {
	EVP_CIPHER_CTX	*ctx[2];			/* [0] opens, [1] seals; NULL until first used. */
	bool		ready[2];			/* ctx[i] holds the schedule of key[i]. */
	uint8_t		key[2][32];
	uint8_t		nonce[NONCE_BATCH * NONCE_LEN];	/* Unused nonces: the first nonce_left. */
	size_t		nonce_left;
	unsigned int	fork_gen;			/* fork_gen when the batch was drawn. */
} tok_thread_t;

static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static bool tok_key_ok;
static unsigned int volatile fork_gen;		/* Bumped in a forked child. */

static void tok_thread_free(void *p)
{
	tok_thread_t *t = p;

	if (!t) return;
	for (size_t i = 0; i < 2; i++) EVP_CIPHER_CTX_free(t->ctx[i]);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static void tok_forked(void)
{
	fork_gen++;
}

static void tok_init(void)
{
	tok_key_ok = pthread_key_create(&tok_key, tok_thread_free) == 0;
	if (tok_key_ok) pthread_atfork(NULL, NULL, tok_forked);
}

/*
 *	When radiusd unloads the module (dlclose, after its threads are joined),
 *	the key goes too: no thread that ends later may call a destructor whose
 *	code is gone.
 */
__attribute__((destructor)) static void tok_fini(void)
{
	if (tok_key_ok) pthread_key_delete(tok_key);
	tok_key_ok = false;
}

/** tok_thread - the calling thread's cipher state; NULL when it cannot have one (then each call sets up its own). */
static tok_thread_t *tok_thread(void)
{
	tok_thread_t *t;

	pthread_once(&tok_once, tok_init);
	if (!tok_key_ok) return NULL;
	t = pthread_getspecific(tok_key);
	if (t) return t;
	t = calloc(1, sizeof(*t));
	if (t && pthread_setspecific(tok_key, t) != 0) {
		free(t);
		return NULL;
	}
	if (t) t->fork_gen = fork_gen;
	return t;
}

/** next_nonce - a random GCM nonce, from the thread's batch; false when the DRBG fails. */
static bool next_nonce(uint8_t out[NONCE_LEN])
{
	tok_thread_t *t = tok_thread();

	if (!t) return RAND_bytes(out, NONCE_LEN) == 1;
	if (t->fork_gen != fork_gen) {
		t->nonce_left = 0;
		t->fork_gen = fork_gen;
	}
	if (t->nonce_left == 0) {
		if (RAND_bytes(t->nonce, sizeof(t->nonce)) != 1) return false;
		t->nonce_left = NONCE_BATCH;
	}
	t->nonce_left--;
	memcpy(out, t->nonce + t->nonce_left * NONCE_LEN, NONCE_LEN);
	memset(t->nonce + t->nonce_left * NONCE_LEN, 0, NONCE_LEN);
	return true;
}

/** gcm_setup - ctx made ready to seal (enc) or open under key with nonce, from scratch. */
static bool gcm_setup(EVP_CIPHER_CTX *ctx, bool enc, uint8_t const key[32], uint8_t const *nonce)
{
	return EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
	       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
	       EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) == 1;
}

/** gcm_ctx - the thread's context for that direction, ready for key and nonce; NULL on failure. */
static EVP_CIPHER_CTX *gcm_ctx(tok_thread_t *t, bool enc, uint8_t const key[32], uint8_t const *nonce)
{
	int i = enc ? 1 : 0;

	if (t->ready[i] && memcmp(t->key[i], key, 32) == 0 &&
	    EVP_CipherInit_ex(t->ctx[i], NULL, NULL, NULL, nonce, i) == 1) return t->ctx[i];
	t->ready[i] = false;
	if (!t->ctx[i] && !(t->ctx[i] = EVP_CIPHER_CTX_new())) return NULL;
	if (!gcm_setup(t->ctx[i], enc, key, nonce)) return NULL;
	memcpy(t->key[i], key, 32);
	t->ready[i] = true;
	return t->ctx[i];
}

/** gcm_run - AES-256-GCM of in[0..n) into out with ctx set up; enc: tag out, else tag checked. */
static bool gcm_run(EVP_CIPHER_CTX *ctx, bool enc, uint8_t const *head, uint8_t const *in, size_t n, uint8_t *out,
		    uint8_t *tag)
{
	int len = 0, fin = 0;

	return EVP_CipherUpdate(ctx, NULL, &len, head, HEAD_LEN) == 1 &&
	       EVP_CipherUpdate(ctx, out, &len, in, (int) n) == 1 &&
	       (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
	       EVP_CipherFinal_ex(ctx, out + len, &fin) == 1 &&
	       (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);
}

/** gcm - AES-256-GCM of in[0..n) into out; enc: tag out, else tag checked.  true on success. */
static bool gcm(bool enc, uint8_t const key[32], uint8_t const *head, uint8_t const *nonce, uint8_t const *in,
		size_t n, uint8_t *out, uint8_t *tag)
{
	tok_thread_t *t = tok_thread();
	EVP_CIPHER_CTX *ctx;
	bool ok;

	if (t) {
		ctx = gcm_ctx(t, enc, key, nonce);
		ok = ctx && gcm_run(ctx, enc, head, in, n, out, tag);
		if (!ok) t->ready[enc ? 1 : 0] = false;	/* Set up afresh next time. */
		return ok;
	}
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && gcm_setup(ctx, enc, key, nonce) && gcm_run(ctx, enc, head, in, n, out, tag);
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/** b64url - base64url without padding of in[0..n) into out (len bytes); false when it does not fit. */
static bool b64url(uint8_t const *in, size_t n, char *out, size_t len)
{
	char tmp[4 * ((SEALED_MAX + 2) / 3) + 1];
	size_t i;

	if (n > SEALED_MAX) return false;
	EVP_EncodeBlock((unsigned char *) tmp, in, (int) n);
	for (i = 0; tmp[i] && tmp[i] != '='; i++) {
		if (tmp[i] == '+') tmp[i] = '-';
		else if (tmp[i] == '/') tmp[i] = '_';
	}
	if (i + 1 > len) return false;
	memcpy(out, tmp, i);
	out[i] = '\0';
	return true;
}

/** unb64url - base64url (no padding) s[0..n) into out; the length, or -1 when not base64url or too long. */
static int unb64url(char const *s, size_t n, uint8_t out[SEALED_MAX + 2])
{
	char tmp[4 * ((SEALED_MAX + 2) / 3) + 4];
	size_t pad = (4 - n % 4) % 4;
	int got;

	if (n % 4 == 1 || n + pad + 1 > sizeof(tmp)) return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-') c = '+';
		else if (c == '_') c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return -1;
		tmp[i] = c;
	}
	memset(tmp + n, '=', pad);
	tmp[n + pad] = '\0';
	got = EVP_DecodeBlock(out, (unsigned char const *) tmp, (int) (n + pad));
	if (got < 0 || (size_t) got < pad) return -1;
	return got - (int) pad;
}

cb_classtok_rc_t cb_classtok_seal(cb_classkey_t const *k, cb_store_decision_t const *d, char *out, size_t len,
				  char class_id[CB_CLASS_ID_LEN + 1])
{
	uint8_t plain[PLAIN_MAX], sealed[SEALED_MAX];
	size_t pre = sizeof(CB_CLASSTOK_PREFIX) - 1;
	int n;
	cb_classkey_entry_t const *key;

	if (!k || k->current < 0 || len < CB_CLASSTOK_MAX + 1) return CB_CLASSTOK_ERROR;
	key = &k->keys[k->current];
	n = encode(d, plain);
	if (n < 0) return CB_CLASSTOK_ERROR;
	if (n == 0) return CB_CLASSTOK_TOO_LONG;
	sealed[0] = TOK_VERSION;
	sealed[1] = (uint8_t) key->id;
	if (!next_nonce(sealed + HEAD_LEN) ||
	    !gcm(true, key->key, sealed, sealed + HEAD_LEN, plain, (size_t) n, sealed + HEAD_LEN + NONCE_LEN,
		 sealed + HEAD_LEN + NONCE_LEN + n)) {
		OPENSSL_cleanse(plain, sizeof(plain));
		return CB_CLASSTOK_ERROR;
	}
	OPENSSL_cleanse(plain, sizeof(plain));
	memcpy(out, CB_CLASSTOK_PREFIX, pre);
	if (!b64url(sealed, HEAD_LEN + NONCE_LEN + (size_t) n + TAG_LEN, out + pre, CB_CLASSTOK_MAX + 1 - pre)) {
		return CB_CLASSTOK_TOO_LONG;
	}
	class_id_of(sealed + HEAD_LEN, sealed + HEAD_LEN + NONCE_LEN + n, class_id);
	return CB_CLASSTOK_OK;
}

/** get_str - a length-prefixed string into out (cap bytes); false when malformed or not valid text. */
static bool get_str(uint8_t const *buf, size_t n, size_t *at, char *out, size_t cap)
{
	size_t len;

	if (*at >= n) return false;
	len = buf[(*at)++];
	if (len >= cap || *at + len > n || memchr(buf + *at, '\0', len)) return false;
	memcpy(out, buf + *at, len);
	out[len] = '\0';
	*at += len;
	return true;
}

static time_t get_u32(uint8_t const *b)
{
	return (time_t) (((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) | ((uint32_t) b[2] << 8) | b[3]);
}

/** copy_name - a status or reason name into out (cap bytes), cut if it had to be. */
static void copy_name(char *out, size_t cap, char const *name)
{
	size_t len = strlen(name);

	if (len >= cap) len = cap - 1;
	memcpy(out, name, len);
	out[len] = '\0';
}

/** mac_text - six bytes as "AA-BB-CC-DD-EE-FF" (the form cb_mac_normalise compares). */
static void mac_text(uint8_t const mac[6], char out[18])
{
	static char const hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < 6; i++) {
		out[3 * i] = hex[mac[i] >> 4];
		out[3 * i + 1] = hex[mac[i] & 15];
		out[3 * i + 2] = i < 5 ? '-' : '\0';
	}
}

/** decode - the payload into out; false when it is not a payload of encode. */
static bool decode(uint8_t const *buf, size_t n, cb_store_decision_t *out)
{
	size_t at = 15;
	uint8_t flags;

	if (n < at || buf[0] > CB_STATUS_RESTRICTED || buf[1] >= CB_REASON_MAX || (buf[2] & ~3)) return false;
	flags = buf[2];
	copy_name(out->status, sizeof(out->status), cb_status_name((cb_status_t) buf[0]));
	copy_name(out->reason, sizeof(out->reason), cb_reason_name((cb_reason_t) buf[1]));
	out->decided_at = get_u32(buf + 3);
	out->valid_until = get_u32(buf + 7);
	out->ack_time = get_u32(buf + 11);
	if (flags & FLAG_MAC) {
		if (n < at + 6) return false;
		mac_text(buf + at, out->calling_station);
		at += 6;
	}
	if (!get_str(buf, n, &at, out->identity, sizeof(out->identity)) || !out->identity[0] ||
	    !get_str(buf, n, &at, out->role, sizeof(out->role))) return false;
	if (flags & FLAG_ACK_SAME) {
		memcpy(out->ack_email, out->identity, sizeof(out->ack_email));
	} else if (!get_str(buf, n, &at, out->ack_email, sizeof(out->ack_email))) {
		return false;
	}
	return get_str(buf, n, &at, out->policy_version, sizeof(out->policy_version)) && at == n &&
	       cb_store_text_valid(out->identity, CB_STORE_TEXT_MAX) && cb_store_role_valid(out->role);
}

/** find_key - the key of that id at now; rc says why none. */
static cb_classkey_entry_t const *find_key(cb_classkey_t const *k, unsigned int id, time_t now, cb_classtok_rc_t *rc)
{
	for (size_t i = 0; i < k->count; i++) {
		if (k->keys[i].id != id) continue;
		if (k->keys[i].verify_until && k->keys[i].verify_until < now) {
			*rc = CB_CLASSTOK_KEY_RETIRED;
			return NULL;
		}
		return &k->keys[i];
	}
	*rc = CB_CLASSTOK_UNKNOWN_KEY;
	return NULL;
}

cb_classtok_rc_t cb_classtok_open(cb_classkey_t const *k, char const *value, size_t len, time_t now,
				  cb_store_decision_t *out, unsigned int *key_id)
{
	uint8_t sealed[SEALED_MAX + 2], plain[SEALED_MAX];
	size_t pre = sizeof(CB_CLASSTOK_PREFIX) - 1, n;
	cb_classkey_entry_t const *key;
	cb_classtok_rc_t rc = CB_CLASSTOK_OK;
	int got;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (key_id) *key_id = 0;
	if (len < pre || memcmp(value, CB_CLASSTOK_PREFIX, pre) != 0) return CB_CLASSTOK_NOT_KEYED;
	got = unb64url(value + pre, len - pre, sealed);
	if (got < HEAD_LEN + NONCE_LEN + TAG_LEN + 15 || got > (int) SEALED_MAX || sealed[0] != TOK_VERSION) {
		return CB_CLASSTOK_MALFORMED;
	}
	if (key_id) *key_id = sealed[1];
	if (!k || !(key = find_key(k, sealed[1], now, &rc))) return k ? rc : CB_CLASSTOK_ERROR;
	n = (size_t) got - HEAD_LEN - NONCE_LEN - TAG_LEN;
	ok = gcm(false, key->key, sealed, sealed + HEAD_LEN, sealed + HEAD_LEN + NONCE_LEN, n, plain,
		 sealed + HEAD_LEN + NONCE_LEN + n);
	if (!ok) return CB_CLASSTOK_FORGED;
	ok = decode(plain, n, out);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (!ok) {
		memset(out, 0, sizeof(*out));
		return CB_CLASSTOK_MALFORMED;
	}
	class_id_of(sealed + HEAD_LEN, sealed + HEAD_LEN + NONCE_LEN + n, out->class_id);
	return CB_CLASSTOK_OK;
}
