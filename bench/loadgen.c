/*
 * loadgen.c - a closed-loop RADIUS load generator for the cetbyod
 * benchmarks (bench/run).
 *
 * It owns nothing but its own sockets: it keeps N Access-Requests in flight
 * over UDP to a RADIUS server on the loopback interface, sends a new one as
 * soon as one is answered or times out, and reports the rate and the
 * latency percentiles of the answers.  radclient cannot do this: it sends
 * from a list, busy-loops while it waits, and slows down as the list grows.
 *
 * Each Access-Request is PAP, built as RFC 2865 and RFC 3579 say: a fresh
 * random Request Authenticator, Message-Authenticator first (BlastRADIUS),
 * User-Name, User-Password hidden with the shared secret (section 5.2),
 * NAS-IP-Address and a Calling-Station-Id per request (per user with
 * --device-per-user: each user one phone, as in a refusal storm).  Every answer is
 * checked before it counts: it must come from the server, carry the
 * Identifier of a request in flight, parse completely (every attribute
 * inside the Length), and have the right Response Authenticator and, when
 * present, Message-Authenticator (compared in constant time).  Anything
 * else is counted as "bad" and the request keeps waiting.  MD5 and
 * HMAC-MD5 are OpenSSL's EVP; nothing here is hand-rolled crypto.
 *
 * Session mode (--acct-port): after each Access-Accept the same slot sends
 * an Accounting-Request Start that echoes the Accept's Class, with a unique
 * Acct-Session-Id and Calling-Station-Id, as a NAS would; the slot is free
 * again when the Accounting-Response (also checked) arrives.  bench/run
 * uses it to open sessions that the module ties to real decisions.
 *
 * Accounting mode (--acct-only, with --acct-port): each user is
 * authenticated once (not measured) and the Class of the Accept kept; from
 * then on a slot sends an Accounting Start with the user's Class and, when
 * it is answered, the Stop of the same session, both with the
 * Calling-Station-Id of the user's Accept (a NAS sends the device's; a
 * keyed Class is trusted only for the device it names).  Only the
 * accounting answers are measured (rate and latency are per
 * Accounting-Request).
 *
 * Bounds: the target must be a loopback address (127.0.0.0/8 or ::1;
 * anything else is refused); the run ends after --duration seconds (at most
 * 600) or --count requests, whichever comes first, plus at most one
 * --timeout to collect the answers still in flight.  Up to 128 requests are
 * in flight per socket, so an Identifier is reused only after 128 others.
 *
 * Latencies go into a log-linear histogram (256 sub-buckets per power of
 * two, so percentiles are exact below 256 us and within 0.4% above), which
 * keeps memory fixed however long the run.
 *
 * Output: one line of key=value pairs on stdout, for scripts:
 *   loadgen inflight=64 sent=... accept=... reject=... other=... timeout=...
 *   bad=... acct_ok=... acct_timeout=... elapsed_s=... rate=... p50_us=...
 *   p99_us=... max_us=...
 * Exit status: 0 when the run completed (whatever the answers were), 1 on
 * a usage or set-up error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "loadgen needs OpenSSL 3 (EVP_MAC)"
#endif

#define LG_MAX_PACKET		4096
#define LG_MAX_USERS		1000000
#define LG_MAX_NAME		253
#define LG_MAX_PASSWORD		128	/* RFC 2865 section 5.2. */
#define LG_MAX_SECRET		128
#define LG_MAX_INFLIGHT		4096
#define LG_PER_SOCKET		128	/* In flight per socket: the other 128 Identifiers rest. */
#define LG_MAX_DURATION		600.0
#define LG_MAX_COUNT		100000000ULL
#define LG_MAX_CLASS		4	/* Class attributes echoed into accounting. */
#define LG_RECV_BURST		64	/* Datagrams read per socket per wake-up. */
#define LG_HIST_SUB		256
#define LG_HIST_BUCKETS		(LG_HIST_SUB + 56 * (LG_HIST_SUB / 2))

#define RAD_ACCESS_REQUEST	1
#define RAD_ACCESS_ACCEPT	2
#define RAD_ACCESS_REJECT	3
#define RAD_ACCOUNTING_REQUEST	4
#define RAD_ACCOUNTING_RESPONSE	5
#define RAD_ACCESS_CHALLENGE	11

#define ATTR_USER_NAME		1
#define ATTR_USER_PASSWORD	2
#define ATTR_NAS_IP_ADDRESS	4
#define ATTR_CLASS		25
#define ATTR_CALLING_STATION_ID	31
#define ATTR_ACCT_STATUS_TYPE	40
#define ATTR_ACCT_SESSION_ID	44
#define ATTR_EVENT_TIMESTAMP	55
#define ATTR_MESSAGE_AUTH	80

#define HDR_LEN			20
#define AUTH_OFF		4
#define AUTH_LEN		16
#define MA_LEN			16

typedef struct {
	char		*name;
	size_t		name_len;
	char		*password;
	size_t		password_len;
	uint8_t		cls[254];		/* Accounting mode: the Class of the user's Accept. */
	uint8_t		cls_len;
	bool		primed;			/* Accounting mode: authenticated once. */
	uint64_t	device;			/* Accounting mode: the Calling-Station-Id (calling_station's
						 * number) its Accept was for, which its sessions send. */
} lg_user_t;

typedef enum {
	SLOT_FREE = 0,
	SLOT_AUTH,		/* Access-Request in flight. */
	SLOT_ACCT,		/* Accounting-Request Start in flight (session mode). */
	SLOT_STOP		/* Accounting-Request Stop in flight (accounting mode). */
} lg_phase_t;

/* One request in flight; lives in its socket's table, indexed by Identifier. */
typedef struct lg_req lg_req_t;
struct lg_req {
	lg_phase_t	phase;
	uint8_t		id;
	uint16_t	sock;
	uint8_t		auth[AUTH_LEN];		/* Request Authenticator of the packet in flight. */
	uint64_t	sent_us;		/* Of the Access-Request (latency is measured from it). */
	uint64_t	phase_us;		/* Of the packet in flight (its timeout counts from it). */
	size_t		user;
	uint64_t	seq;
	lg_req_t	*prev, *next;		/* In-flight list, oldest first. */
	uint8_t		cls[LG_MAX_CLASS][254];
	uint8_t		cls_len[LG_MAX_CLASS];
	unsigned int	num_cls;
};

typedef struct {
	int		fd;			/* Access-Requests. */
	int		acct_fd;		/* Accounting-Requests (session mode), else -1. */
	lg_req_t	req[256];
	uint8_t		freeq[256];		/* Free Identifiers, oldest-freed first. */
	unsigned int	free_head, free_count;
	unsigned int	busy;
} lg_sock_t;

typedef struct {
	uint64_t	bucket[LG_HIST_BUCKETS];
	uint64_t	count;
	uint64_t	max;
} lg_hist_t;

typedef struct {
	/* Options. */
	struct sockaddr_storage	server;
	socklen_t		server_len;
	struct sockaddr_storage	acct_server;
	bool			session_mode;
	bool			acct_only;	/* Accounting mode: Start/Stop pairs, accounting measured. */
	char			secret[LG_MAX_SECRET + 1];
	size_t			secret_len;
	unsigned int		inflight;
	double			duration;
	double			warmup;
	uint64_t		count;
	unsigned int		timeout_ms;
	char			session_prefix[33];
	uint32_t		nas_ip;		/* Network byte order. */
	bool			device_per_user; /* Calling-Station-Id from the user, not the request. */

	/* Users. */
	lg_user_t		*users;
	size_t			num_users;
	size_t			next_user;

	/* Sockets and the in-flight list. */
	lg_sock_t		*socks;
	unsigned int		num_socks;
	lg_req_t		*head, *tail;
	unsigned int		outstanding;
	uint64_t		seq;

	/* Crypto. */
	EVP_MD			*md5;
	EVP_MD_CTX		*mdctx;
	EVP_MAC			*mac;
	EVP_MAC_CTX		*macctx;

	/* Results. */
	uint64_t		sent, accept, reject, other, timeouts, bad, acct_ok, acct_timeouts;
	uint64_t		counted;	/* Answers inside the measuring window. */
	uint64_t		window_start_us, window_end_us, last_counted_us;
	lg_hist_t		hist;
} lg_t;

static volatile sig_atomic_t lg_interrupted;

static void lg_on_signal(int sig)
{
	(void) sig;
	lg_interrupted = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*
 *	Histogram.
 */
static unsigned int hist_index(uint64_t v)
{
	unsigned int k, shift;

	if (v < LG_HIST_SUB) return (unsigned int) v;
	k = 63u - (unsigned int) __builtin_clzll(v);		/* v in [2^k, 2^(k+1)), k >= 8. */
	shift = k - 7;						/* v >> shift in [128, 255]. */
	if (k - 8 >= 56) return LG_HIST_BUCKETS - 1;
	return LG_HIST_SUB + (k - 8) * (LG_HIST_SUB / 2) + (unsigned int) ((v >> shift) - LG_HIST_SUB / 2);
}

static uint64_t hist_value(unsigned int idx)
{
	unsigned int k, shift;
	uint64_t m;

	if (idx < LG_HIST_SUB) return idx;
	k = 8 + (idx - LG_HIST_SUB) / (LG_HIST_SUB / 2);
	m = (idx - LG_HIST_SUB) % (LG_HIST_SUB / 2) + LG_HIST_SUB / 2;
	shift = k - 7;
	return (m << shift) + ((1ull << shift) >> 1);		/* Middle of the bucket. */
}

static void hist_add(lg_hist_t *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	if (v > h->max) h->max = v;
}

/** hist_percentile - the value below which a fraction p of the samples lie (0 when none). */
static uint64_t hist_percentile(lg_hist_t const *h, double p)
{
	uint64_t want, seen = 0;

	if (h->count == 0) return 0;
	want = (uint64_t) ceil(p * (double) h->count);
	if (want < 1) want = 1;
	for (unsigned int i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);

			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/*
 *	Crypto: OpenSSL EVP only.
 */
static int crypto_init(lg_t *lg)
{
	OSSL_PARAM params[2];

	lg->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	lg->mdctx = EVP_MD_CTX_new();
	lg->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	lg->macctx = lg->mac ? EVP_MAC_CTX_new(lg->mac) : NULL;
	if (!lg->md5 || !lg->mdctx || !lg->macctx) return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "MD5", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(lg->macctx, params) != 1) return -1;
	return 0;
}

static void crypto_free(lg_t *lg)
{
	EVP_MAC_CTX_free(lg->macctx);
	EVP_MAC_free(lg->mac);
	EVP_MD_CTX_free(lg->mdctx);
	EVP_MD_free(lg->md5);
}

/** md5 - MD5 over up to three segments (a NULL segment is skipped).  0 or -1. */
static int md5(lg_t *lg, uint8_t out[16], void const *a, size_t alen, void const *b, size_t blen,
	       void const *c, size_t clen)
{
	unsigned int olen = 0;

	if (EVP_DigestInit_ex2(lg->mdctx, lg->md5, NULL) != 1) return -1;
	if (a && EVP_DigestUpdate(lg->mdctx, a, alen) != 1) return -1;
	if (b && EVP_DigestUpdate(lg->mdctx, b, blen) != 1) return -1;
	if (c && EVP_DigestUpdate(lg->mdctx, c, clen) != 1) return -1;
	if (EVP_DigestFinal_ex(lg->mdctx, out, &olen) != 1 || olen != 16) return -1;
	return 0;
}

static int hmac_md5(lg_t *lg, uint8_t out[16], uint8_t const *data, size_t len)
{
	size_t olen = 0;

	if (EVP_MAC_init(lg->macctx, (unsigned char const *) lg->secret, lg->secret_len, NULL) != 1) return -1;
	if (EVP_MAC_update(lg->macctx, data, len) != 1) return -1;
	if (EVP_MAC_final(lg->macctx, out, &olen, 16) != 1 || olen != 16) return -1;
	return 0;
}

/*
 *	Packets.
 */
typedef struct {
	uint8_t		buf[LG_MAX_PACKET];
	size_t		len;
	bool		overflow;
} lg_pkt_t;

static void put_attr(lg_pkt_t *p, uint8_t type, void const *value, size_t len)
{
	if (p->overflow || len > 253 || p->len + 2 + len > sizeof(p->buf)) {
		p->overflow = true;
		return;
	}
	p->buf[p->len] = type;
	p->buf[p->len + 1] = (uint8_t) (2 + len);
	if (len) memcpy(p->buf + p->len + 2, value, len);
	p->len += 2 + len;
}

static void put_u32(lg_pkt_t *p, uint8_t type, uint32_t v)
{
	uint8_t b[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };

	put_attr(p, type, b, 4);
}

static void set_length(lg_pkt_t *p)
{
	p->buf[2] = (uint8_t) (p->len >> 8);
	p->buf[3] = (uint8_t) p->len;
}

/** hide_password - RFC 2865 section 5.2.  out gets len rounded up to 16 (1..128).  0 or -1. */
static int hide_password(lg_t *lg, uint8_t const auth[AUTH_LEN], char const *pw, size_t pwlen,
			 uint8_t *out, size_t *outlen)
{
	size_t n = pwlen ? (pwlen + 15) / 16 * 16 : 16;
	uint8_t b[16];

	memset(out, 0, n);
	memcpy(out, pw, pwlen);
	for (size_t i = 0; i < n; i += 16) {
		if (md5(lg, b, lg->secret, lg->secret_len, i ? out + i - 16 : auth, 16, NULL, 0) < 0) return -1;
		for (size_t j = 0; j < 16; j++) out[i + j] ^= b[j];
	}
	*outlen = n;
	return 0;
}

/** calling_station - a locally administered MAC address per request: "02-00-XX-XX-XX-XX". */
static void calling_station(uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "02-00-%02X-%02X-%02X-%02X", (unsigned int) (seq >> 24) & 0xff,
		 (unsigned int) (seq >> 16) & 0xff, (unsigned int) (seq >> 8) & 0xff, (unsigned int) seq & 0xff);
}

static int build_access_request(lg_t *lg, lg_req_t *r, lg_pkt_t *p)
{
	lg_user_t const *u = &lg->users[r->user];
	uint8_t hidden[LG_MAX_PASSWORD], ma[MA_LEN], zero[MA_LEN] = { 0 };
	size_t hlen, ma_off;
	char csid[32];

	if (RAND_bytes(r->auth, AUTH_LEN) != 1) return -1;
	p->len = HDR_LEN;
	p->overflow = false;
	p->buf[0] = RAD_ACCESS_REQUEST;
	p->buf[1] = r->id;
	memcpy(p->buf + AUTH_OFF, r->auth, AUTH_LEN);
	ma_off = p->len;
	put_attr(p, ATTR_MESSAGE_AUTH, zero, MA_LEN);
	put_attr(p, ATTR_USER_NAME, u->name, u->name_len);
	if (hide_password(lg, r->auth, u->password, u->password_len, hidden, &hlen) < 0) return -1;
	put_attr(p, ATTR_USER_PASSWORD, hidden, hlen);
	put_attr(p, ATTR_NAS_IP_ADDRESS, &lg->nas_ip, 4);
	calling_station(lg->device_per_user ? r->user : r->seq, csid, sizeof(csid));
	put_attr(p, ATTR_CALLING_STATION_ID, csid, strlen(csid));
	if (p->overflow) return -1;
	set_length(p);
	if (hmac_md5(lg, ma, p->buf, p->len) < 0) return -1;
	memcpy(p->buf + ma_off + 2, ma, MA_LEN);
	return 0;
}

static int build_accounting(lg_t *lg, lg_req_t *r, lg_pkt_t *p, uint32_t status)
{
	lg_user_t const *u = &lg->users[r->user];
	uint8_t zero[AUTH_LEN] = { 0 };
	char sid[64], csid[32];

	p->len = HDR_LEN;
	p->overflow = false;
	p->buf[0] = RAD_ACCOUNTING_REQUEST;
	p->buf[1] = r->id;
	memset(p->buf + AUTH_OFF, 0, AUTH_LEN);
	put_u32(p, ATTR_ACCT_STATUS_TYPE, status);	/* 1 Start, 2 Stop. */
	put_attr(p, ATTR_USER_NAME, u->name, u->name_len);
	snprintf(sid, sizeof(sid), "%s-%016" PRIx64, lg->session_prefix, r->seq);
	put_attr(p, ATTR_ACCT_SESSION_ID, sid, strlen(sid));
	put_attr(p, ATTR_NAS_IP_ADDRESS, &lg->nas_ip, 4);
	/* Accounting mode: the device of the user's Accept, as a NAS sends it (the keyed Class names it). */
	calling_station(lg->acct_only ? u->device : r->seq, csid, sizeof(csid));
	put_attr(p, ATTR_CALLING_STATION_ID, csid, strlen(csid));
	for (unsigned int i = 0; i < r->num_cls; i++) put_attr(p, ATTR_CLASS, r->cls[i], r->cls_len[i]);
	put_u32(p, ATTR_EVENT_TIMESTAMP, (uint32_t) time(NULL));
	if (p->overflow) return -1;
	set_length(p);
	/* RFC 2866 section 3: MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret). */
	if (EVP_DigestInit_ex2(lg->mdctx, lg->md5, NULL) != 1) return -1;
	{
		unsigned int olen = 0;

		if (EVP_DigestUpdate(lg->mdctx, p->buf, AUTH_OFF) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, zero, AUTH_LEN) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, p->buf + HDR_LEN, p->len - HDR_LEN) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, lg->secret, lg->secret_len) != 1 ||
		    EVP_DigestFinal_ex(lg->mdctx, r->auth, &olen) != 1 || olen != 16) return -1;
	}
	memcpy(p->buf + AUTH_OFF, r->auth, AUTH_LEN);
	return 0;
}

/**
 * check_answer - validate an answer to the request r: length, every
 * attribute's bounds, Response Authenticator, Message-Authenticator when
 * present.  In session mode the Class values of an Access-Accept are kept
 * in r.  Returns 0, or -1 (the answer must be ignored).
 */
static int check_answer(lg_t *lg, lg_req_t *r, uint8_t *pkt, size_t n)
{
	uint8_t digest[16], saved[MA_LEN];
	size_t len, pos, ma_off = 0;
	unsigned int ncls = 0;

	if (n < HDR_LEN) return -1;
	len = ((size_t) pkt[2] << 8) | pkt[3];
	if (len < HDR_LEN || len > n || len > LG_MAX_PACKET) return -1;
	for (pos = HDR_LEN; pos < len;) {
		uint8_t type, alen;

		if (len - pos < 2) return -1;
		type = pkt[pos];
		alen = pkt[pos + 1];
		if (alen < 2 || alen > len - pos) return -1;
		if (type == ATTR_MESSAGE_AUTH) {
			if (alen != 2 + MA_LEN || ma_off) return -1;
			ma_off = pos;
		}
		if (type == ATTR_CLASS && lg->session_mode && r->phase == SLOT_AUTH && ncls < LG_MAX_CLASS) {
			memcpy(r->cls[ncls], pkt + pos + 2, alen - 2u);
			r->cls_len[ncls] = (uint8_t) (alen - 2u);
			ncls++;
		}
		pos += alen;
	}
	/* Response Authenticator: MD5(Code+Identifier+Length+Request Authenticator+Attributes+Secret). */
	if (EVP_DigestInit_ex2(lg->mdctx, lg->md5, NULL) != 1) return -1;
	{
		unsigned int olen = 0;

		if (EVP_DigestUpdate(lg->mdctx, pkt, AUTH_OFF) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, r->auth, AUTH_LEN) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, pkt + HDR_LEN, len - HDR_LEN) != 1 ||
		    EVP_DigestUpdate(lg->mdctx, lg->secret, lg->secret_len) != 1 ||
		    EVP_DigestFinal_ex(lg->mdctx, digest, &olen) != 1 || olen != 16) return -1;
	}
	if (CRYPTO_memcmp(digest, pkt + AUTH_OFF, AUTH_LEN) != 0) return -1;
	/* Message-Authenticator (RFC 3579 section 3.2): over the answer with the Request Authenticator in place. */
	if (ma_off) {
		uint8_t resp_auth[AUTH_LEN];
		int rc;

		memcpy(resp_auth, pkt + AUTH_OFF, AUTH_LEN);
		memcpy(saved, pkt + ma_off + 2, MA_LEN);
		memcpy(pkt + AUTH_OFF, r->auth, AUTH_LEN);
		memset(pkt + ma_off + 2, 0, MA_LEN);
		rc = hmac_md5(lg, digest, pkt, len);
		memcpy(pkt + AUTH_OFF, resp_auth, AUTH_LEN);
		memcpy(pkt + ma_off + 2, saved, MA_LEN);
		if (rc < 0 || CRYPTO_memcmp(digest, saved, MA_LEN) != 0) return -1;
	}
	if (r->phase == SLOT_AUTH) r->num_cls = ncls;
	return 0;
}

/*
 *	Slots, the in-flight list and timeouts.
 */
static void list_append(lg_t *lg, lg_req_t *r)
{
	r->next = NULL;
	r->prev = lg->tail;
	if (lg->tail) lg->tail->next = r;
	else lg->head = r;
	lg->tail = r;
}

static void list_remove(lg_t *lg, lg_req_t *r)
{
	if (r->prev) r->prev->next = r->next;
	else lg->head = r->next;
	if (r->next) r->next->prev = r->prev;
	else lg->tail = r->prev;
	r->prev = r->next = NULL;
}

static void slot_release(lg_t *lg, lg_req_t *r)
{
	lg_sock_t *s = &lg->socks[r->sock];

	list_remove(lg, r);
	r->phase = SLOT_FREE;
	s->freeq[(s->free_head + s->free_count) % 256] = r->id;
	s->free_count++;
	s->busy--;
	lg->outstanding--;
}

static int send_packet(lg_t *lg, int fd, bool acct, lg_pkt_t const *p)
{
	struct sockaddr const *to = (struct sockaddr const *) (acct ? &lg->acct_server : &lg->server);
	ssize_t n;

	for (int tries = 0; tries < 100; tries++) {
		n = sendto(fd, p->buf, p->len, 0, to, lg->server_len);
		if (n == (ssize_t) p->len) return 0;
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)) continue;
		break;
	}
	return -1;
}

/** start_request - an Access-Request on the least busy socket.  0, or -1 on a fatal error. */
static int start_request(lg_t *lg, uint64_t now)
{
	lg_sock_t *s = NULL;
	unsigned int si = 0;
	lg_req_t *r;
	lg_pkt_t p;
	uint8_t id;

	for (unsigned int i = 0; i < lg->num_socks; i++) {
		if (lg->socks[i].busy < LG_PER_SOCKET && (!s || lg->socks[i].busy < s->busy)) {
			s = &lg->socks[i];
			si = i;
		}
	}
	if (!s || s->free_count == 0) return 0;
	id = s->freeq[s->free_head];
	s->free_head = (s->free_head + 1) % 256;
	s->free_count--;
	s->busy++;
	r = &s->req[id];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->sock = (uint16_t) si;
	r->phase = SLOT_AUTH;
	r->user = lg->next_user;
	lg->next_user = (lg->next_user + 1) % lg->num_users;
	r->seq = lg->seq++;
	r->sent_us = r->phase_us = now;
	lg->outstanding++;
	list_append(lg, r);
	if (lg->acct_only && lg->users[r->user].primed) {	/* Straight to the Start, with the user's Class. */
		lg_user_t const *u = &lg->users[r->user];

		r->phase = SLOT_ACCT;
		r->num_cls = u->cls_len ? 1 : 0;
		memcpy(r->cls[0], u->cls, u->cls_len);
		r->cls_len[0] = u->cls_len;
		if (build_accounting(lg, r, &p, 1) < 0 || send_packet(lg, s->acct_fd, true, &p) < 0) {
			fprintf(stderr, "loadgen: cannot build or send an Accounting-Request: %s\n", strerror(errno));
			slot_release(lg, r);
			return -1;
		}
		lg->sent++;
		return 0;
	}
	if (build_access_request(lg, r, &p) < 0 || send_packet(lg, s->fd, false, &p) < 0) {
		fprintf(stderr, "loadgen: cannot build or send an Access-Request: %s\n", strerror(errno));
		slot_release(lg, r);
		return -1;
	}
	lg->sent++;
	return 0;
}

static bool in_window(lg_t const *lg, uint64_t t)
{
	return t >= lg->window_start_us && t <= lg->window_end_us;
}

static void record_latency(lg_t *lg, lg_req_t const *r, uint64_t now)
{
	if (!in_window(lg, now)) return;
	hist_add(&lg->hist, now - r->sent_us);
	lg->counted++;
	lg->last_counted_us = now;
}

/** handle_answer - one datagram from socket si (acct: its accounting socket). */
static void handle_answer(lg_t *lg, unsigned int si, bool acct, uint8_t *pkt, size_t n, uint64_t now)
{
	lg_sock_t *s = &lg->socks[si];
	lg_req_t *r;
	lg_pkt_t p;

	if (n < HDR_LEN) {
		lg->bad++;
		return;
	}
	r = &s->req[pkt[1]];
	if ((acct ? r->phase != SLOT_ACCT && r->phase != SLOT_STOP : r->phase != SLOT_AUTH) ||
	    check_answer(lg, r, pkt, n) < 0) {
		lg->bad++;	/* Late, forged, damaged or for another socket: ignored. */
		return;
	}
	if (acct) {
		if (pkt[0] != RAD_ACCOUNTING_RESPONSE) {
			lg->bad++;
			return;
		}
		lg->acct_ok++;
		if (lg->acct_only) {
			record_latency(lg, r, now);
			if (r->phase == SLOT_ACCT) {	/* The Stop of the same session. */
				r->phase = SLOT_STOP;
				r->sent_us = r->phase_us = now;
				list_remove(lg, r);
				list_append(lg, r);
				if (build_accounting(lg, r, &p, 2) == 0 && send_packet(lg, s->acct_fd, true, &p) == 0) return;
				lg->acct_timeouts++;
			}
		}
		slot_release(lg, r);
		return;
	}
	switch (pkt[0]) {
	case RAD_ACCESS_ACCEPT:
		lg->accept++;
		break;
	case RAD_ACCESS_REJECT:
		lg->reject++;
		break;
	default:
		lg->other++;
		break;
	}
	if (!lg->acct_only) record_latency(lg, r, now);
	if (pkt[0] == RAD_ACCESS_ACCEPT && lg->session_mode) {
		r->phase = SLOT_ACCT;
		r->phase_us = now;
		list_remove(lg, r);
		list_append(lg, r);
		if (lg->acct_only && r->num_cls) {
			lg_user_t *u = &lg->users[r->user];

			memcpy(u->cls, r->cls[0], r->cls_len[0]);
			u->cls_len = r->cls_len[0];
		}
		lg->users[r->user].device = lg->device_per_user ? r->user : r->seq;
		lg->users[r->user].primed = true;
		r->sent_us = now;
		if (build_accounting(lg, r, &p, 1) == 0 && send_packet(lg, s->acct_fd, true, &p) == 0) return;
		fprintf(stderr, "loadgen: cannot send an Accounting-Request: %s\n", strerror(errno));
		lg->acct_timeouts++;
	}
	slot_release(lg, r);
}

static void expire(lg_t *lg, uint64_t now)
{
	uint64_t limit = (uint64_t) lg->timeout_ms * 1000u;

	while (lg->head && now - lg->head->phase_us >= limit) {
		if (lg->head->phase != SLOT_AUTH) lg->acct_timeouts++;
		else lg->timeouts++;
		slot_release(lg, lg->head);
	}
}

static void drain_socket(lg_t *lg, unsigned int si, bool acct)
{
	uint8_t buf[LG_MAX_PACKET];
	struct sockaddr_storage from;

	for (int i = 0; i < LG_RECV_BURST; i++) {
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(acct ? lg->socks[si].acct_fd : lg->socks[si].fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *) &from, &fromlen);

		if (n < 0) return;
		/* connect()ed sockets only receive from the server; a short or odd datagram is bad. */
		handle_answer(lg, si, acct, buf, (size_t) n, now_us());
	}
}

/*
 *	Set-up.
 */

/** parse_target - "127.0.0.1:1812" or "[::1]:1812", loopback only.  0 or -1 (message printed). */
static int parse_target(char const *arg, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	char const *colon, *h;
	size_t hlen;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(arg, ':');
	if (!colon || colon == arg) goto bad;
	h = arg;
	hlen = (size_t) (colon - arg);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']') goto bad;
		h++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535) goto bad;

	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) goto bad;
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) goto remote;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t) port);
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *) ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) goto bad;
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127) goto remote;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t) port);
		*sslen = sizeof(*s4);
	}
	return 0;
bad:
	fprintf(stderr, "loadgen: --server \"%s\": expected a numeric loopback address and port, "
		"127.0.0.1:1812 or [::1]:1812\n", arg);
	return -1;
remote:
	fprintf(stderr, "loadgen: --server %s is not a loopback address: loadgen only loads servers on "
		"this host (127.0.0.0/8, ::1)\n", arg);
	return -1;
}

static int parse_uint(char const *opt, char const *arg, unsigned long long min, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "loadgen: %s \"%s\": expected a whole number from %llu to %llu\n", opt, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_seconds(char const *opt, char const *arg, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || *end || end == arg || !(v >= min && v <= max)) {
		fprintf(stderr, "loadgen: %s \"%s\": expected seconds from %g to %g\n", opt, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/** load_users - "name password" per line ('#' comments, blank lines ignored).  0 or -1. */
static int load_users(lg_t *lg, char const *path)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	size_t cap = 0, lineno = 0;

	if (!fp) {
		fprintf(stderr, "loadgen: cannot open users file %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *p = line, *name, *pw;
		size_t nlen, plen;

		lineno++;
		if (!strchr(line, '\n') && !feof(fp)) {
			fprintf(stderr, "loadgen: %s line %zu: longer than %zu bytes\n", path, lineno, sizeof(line) - 2);
			goto fail;
		}
		while (*p == ' ' || *p == '\t') p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0') continue;
		name = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
		nlen = (size_t) (p - name);
		while (*p == ' ' || *p == '\t') p++;
		pw = p;
		while (*p && *p != '\n' && *p != '\r') p++;
		plen = (size_t) (p - pw);
		if (nlen == 0 || nlen > LG_MAX_NAME || plen > LG_MAX_PASSWORD) {
			fprintf(stderr, "loadgen: %s line %zu: expected \"name password\" (name 1..%d bytes, password "
				"0..%d bytes)\n", path, lineno, LG_MAX_NAME, LG_MAX_PASSWORD);
			goto fail;
		}
		if (lg->num_users == LG_MAX_USERS) {
			fprintf(stderr, "loadgen: %s: more than %d users\n", path, LG_MAX_USERS);
			goto fail;
		}
		if (lg->num_users == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			lg_user_t *nu = realloc(lg->users, ncap * sizeof(*nu));

			if (!nu) goto oom;
			lg->users = nu;
			cap = ncap;
		}
		lg->users[lg->num_users].name = strndup(name, nlen);
		lg->users[lg->num_users].password = strndup(pw, plen);
		if (!lg->users[lg->num_users].name || !lg->users[lg->num_users].password) {
			free(lg->users[lg->num_users].name);
			free(lg->users[lg->num_users].password);
			goto oom;
		}
		lg->users[lg->num_users].name_len = nlen;
		lg->users[lg->num_users].password_len = plen;
		lg->num_users++;
	}
	fclose(fp);
	if (lg->num_users == 0) {
		fprintf(stderr, "loadgen: %s holds no users\n", path);
		return -1;
	}
	return 0;
oom:
	fprintf(stderr, "loadgen: out of memory reading %s\n", path);
fail:
	fclose(fp);
	return -1;
}

static int open_socket(struct sockaddr_storage const *to, socklen_t len)
{
	int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int buf = 1 << 20;

	if (fd < 0) return -1;
	(void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (connect(fd, (struct sockaddr const *) to, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_sockets(lg_t *lg)
{
	lg->num_socks = (lg->inflight + LG_PER_SOCKET - 1) / LG_PER_SOCKET;
	lg->socks = calloc(lg->num_socks, sizeof(*lg->socks));
	if (!lg->socks) return -1;
	for (unsigned int i = 0; i < lg->num_socks; i++) {
		lg_sock_t *s = &lg->socks[i];
		unsigned int start;

		s->fd = open_socket(&lg->server, lg->server_len);
		s->acct_fd = lg->session_mode ? open_socket(&lg->acct_server, lg->server_len) : -1;
		if (s->fd < 0 || (lg->session_mode && s->acct_fd < 0)) {
			fprintf(stderr, "loadgen: cannot open a UDP socket: %s\n", strerror(errno));
			return -1;
		}
		/* Identifiers in a random order from a random start, as radclient does. */
		if (RAND_bytes((unsigned char *) &start, sizeof(start)) != 1) start = 0;
		for (unsigned int j = 0; j < 256; j++) s->freeq[j] = (uint8_t) ((start + j) % 256);
		s->free_head = 0;
		s->free_count = 256;
	}
	return 0;
}

static void cleanup(lg_t *lg)
{
	for (unsigned int i = 0; lg->socks && i < lg->num_socks; i++) {
		if (lg->socks[i].fd >= 0) close(lg->socks[i].fd);
		if (lg->socks[i].acct_fd >= 0) close(lg->socks[i].acct_fd);
	}
	free(lg->socks);
	for (size_t i = 0; i < lg->num_users; i++) {
		free(lg->users[i].name);
		free(lg->users[i].password);
	}
	free(lg->users);
	crypto_free(lg);
	OPENSSL_cleanse(lg->secret, sizeof(lg->secret));
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: loadgen --server 127.0.0.1:PORT --secret SECRET --users FILE [options]\n"
		"  --inflight N        requests kept in flight (1..%d, default 1)\n"
		"  --duration S        stop sending after S seconds (0.1..%g, default 10)\n"
		"  --count N           stop sending after N requests (default: no limit but the duration)\n"
		"  --warmup S          answers in the first S seconds are not measured (default 0)\n"
		"  --timeout MS        a request unanswered this long is a timeout (1..60000, default 3000)\n"
		"  --acct-port PORT    session mode: an Accounting Start with the Class after each Accept\n"
		"  --acct-only         with --acct-port: each user authenticated once, then Accounting\n"
		"                      Start/Stop pairs with its Class; only accounting is measured\n"
		"  --session-prefix P  Acct-Session-Id prefix in session mode (default \"lg\")\n"
		"  --nas-ip A.B.C.D    NAS-IP-Address (default 127.0.0.1)\n"
		"  --device-per-user   one Calling-Station-Id per user (default: one per request)\n"
		"FILE holds \"name password\" per line; users are taken round-robin.  Targets must be loopback.\n",
		LG_MAX_INFLIGHT, LG_MAX_DURATION);
}

static int parse_args(lg_t *lg, int argc, char **argv, char const **users)
{
	static struct option const opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "secret", required_argument, NULL, 'S' },
		{ "users", required_argument, NULL, 'u' },
		{ "inflight", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "acct-port", required_argument, NULL, 'a' },
		{ "session-prefix", required_argument, NULL, 'p' },
		{ "nas-ip", required_argument, NULL, 'N' },
		{ "device-per-user", no_argument, NULL, 'D' },
		{ "acct-only", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char const *server = NULL;
	unsigned long long v, acct_port = 0;
	int c;

	lg->inflight = 1;
	lg->duration = 10;
	lg->timeout_ms = 3000;
	snprintf(lg->session_prefix, sizeof(lg->session_prefix), "lg");
	lg->nas_ip = htonl(0x7f000001);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'S':
			lg->secret_len = strlen(optarg);
			if (lg->secret_len == 0 || lg->secret_len > LG_MAX_SECRET) {
				fprintf(stderr, "loadgen: --secret must be 1 to %d bytes\n", LG_MAX_SECRET);
				return -1;
			}
			memcpy(lg->secret, optarg, lg->secret_len + 1);
			break;
		case 'u': *users = optarg; break;
		case 'n':
			if (parse_uint("--inflight", optarg, 1, LG_MAX_INFLIGHT, &v) < 0) return -1;
			lg->inflight = (unsigned int) v;
			break;
		case 'd':
			if (parse_seconds("--duration", optarg, 0.1, LG_MAX_DURATION, &lg->duration) < 0) return -1;
			break;
		case 'c':
			if (parse_uint("--count", optarg, 1, LG_MAX_COUNT, &v) < 0) return -1;
			lg->count = v;
			break;
		case 'w':
			if (parse_seconds("--warmup", optarg, 0, LG_MAX_DURATION, &lg->warmup) < 0) return -1;
			break;
		case 't':
			if (parse_uint("--timeout", optarg, 1, 60000, &v) < 0) return -1;
			lg->timeout_ms = (unsigned int) v;
			break;
		case 'a':
			if (parse_uint("--acct-port", optarg, 1, 65535, &acct_port) < 0) return -1;
			break;
		case 'p': {
			size_t len = strlen(optarg);

			if (len == 0 || len >= sizeof(lg->session_prefix) || strspn(optarg,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len) {
				fprintf(stderr, "loadgen: --session-prefix: 1 to %zu letters, digits, - or _\n",
					sizeof(lg->session_prefix) - 1);
				return -1;
			}
			memcpy(lg->session_prefix, optarg, len + 1);
			break;
		}
		case 'N':
			if (inet_pton(AF_INET, optarg, &lg->nas_ip) != 1) {
				fprintf(stderr, "loadgen: --nas-ip \"%s\": expected a numeric IPv4 address\n", optarg);
				return -1;
			}
			break;
		case 'D': lg->device_per_user = true; break;
		case 'A': lg->acct_only = true; break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !server || !lg->secret_len || !*users) {
		usage(stderr);
		return -1;
	}
	if (parse_target(server, &lg->server, &lg->server_len) < 0) return -1;
	if (lg->warmup >= lg->duration) {
		fprintf(stderr, "loadgen: --warmup must be shorter than --duration\n");
		return -1;
	}
	if (lg->acct_only && !acct_port) {
		fprintf(stderr, "loadgen: --acct-only needs --acct-port\n");
		return -1;
	}
	if (acct_port) {
		lg->session_mode = true;
		lg->acct_server = lg->server;
		if (lg->acct_server.ss_family == AF_INET) {
			((struct sockaddr_in *) &lg->acct_server)->sin_port = htons((uint16_t) acct_port);
		} else {
			((struct sockaddr_in6 *) &lg->acct_server)->sin6_port = htons((uint16_t) acct_port);
		}
	}
	return 0;
}

/** run - the closed loop.  0, or -1 on a fatal socket or crypto error. */
static int run(lg_t *lg)
{
	uint64_t start = now_us(), end_send, hard_end, now;
	struct pollfd *pfd;
	unsigned int nfds = lg->num_socks * (lg->session_mode ? 2 : 1);
	bool sending = true;
	int rc = 0;

	pfd = calloc(nfds, sizeof(*pfd));
	if (!pfd) return -1;
	for (unsigned int i = 0; i < lg->num_socks; i++) {
		pfd[i].fd = lg->socks[i].fd;
		pfd[i].events = POLLIN;
		if (lg->session_mode) {
			pfd[lg->num_socks + i].fd = lg->socks[i].acct_fd;
			pfd[lg->num_socks + i].events = POLLIN;
		}
	}
	end_send = start + (uint64_t) (lg->duration * 1e6);
	/* Answers are collected for at most one timeout after the last request (twice in session mode). */
	hard_end = end_send + (uint64_t) lg->timeout_ms * 1000u * (lg->session_mode ? 2u : 1u) + 100000u;
	lg->window_start_us = start + (uint64_t) (lg->warmup * 1e6);
	lg->window_end_us = lg->count ? hard_end : end_send;

	for (uint64_t iter = 0; iter < UINT64_MAX; iter++) {
		int timeout_ms, n;

		now = now_us();
		if (sending && (now >= end_send || (lg->count && lg->sent >= lg->count) || lg_interrupted)) sending = false;
		if (!sending && lg->outstanding == 0) break;
		if (now >= hard_end || (lg_interrupted && !sending && now >= end_send)) break;
		expire(lg, now);
		while (sending && lg->outstanding < lg->inflight && (!lg->count || lg->sent < lg->count)) {
			if (start_request(lg, now) < 0) {
				rc = -1;
				sending = false;
				break;
			}
		}
		/* Sleep until an answer, the oldest request's timeout, or the end of sending. */
		timeout_ms = 100;
		if (lg->head) {
			uint64_t due = lg->head->phase_us + (uint64_t) lg->timeout_ms * 1000u;
			int64_t left = (int64_t) (due - now) / 1000;

			if (left < timeout_ms) timeout_ms = left < 0 ? 0 : (int) left + 1;
		}
		if (sending && end_send > now && (end_send - now) / 1000 < (uint64_t) timeout_ms) {
			timeout_ms = (int) ((end_send - now) / 1000) + 1;
		}
		n = poll(pfd, nfds, timeout_ms);
		if (n < 0) {
			if (errno == EINTR) continue;
			fprintf(stderr, "loadgen: poll: %s\n", strerror(errno));
			rc = -1;
			break;
		}
		for (unsigned int i = 0; n > 0 && i < nfds; i++) {
			if (!(pfd[i].revents & POLLIN)) continue;
			if (i < lg->num_socks) drain_socket(lg, i, false);
			else drain_socket(lg, i - lg->num_socks, true);
		}
	}
	/* What is still in flight at the end did not get an answer in time. */
	while (lg->head) {
		if (lg->head->phase != SLOT_AUTH) lg->acct_timeouts++;
		else lg->timeouts++;
		slot_release(lg, lg->head);
	}
	free(pfd);
	return rc;
}

static void report(lg_t const *lg)
{
	double span;

	if (lg->count && lg->window_end_us > lg->last_counted_us) {
		span = (double) (lg->last_counted_us > lg->window_start_us ? lg->last_counted_us - lg->window_start_us : 0) / 1e6;
	} else {
		span = (double) (lg->window_end_us - lg->window_start_us) / 1e6;
	}
	printf("loadgen inflight=%u sent=%" PRIu64 " accept=%" PRIu64 " reject=%" PRIu64 " other=%" PRIu64
	       " timeout=%" PRIu64 " bad=%" PRIu64 " acct_ok=%" PRIu64 " acct_timeout=%" PRIu64
	       " measured=%" PRIu64 " elapsed_s=%.3f rate=%.1f p50_us=%" PRIu64 " p99_us=%" PRIu64
	       " max_us=%" PRIu64 "\n",
	       lg->inflight, lg->sent, lg->accept, lg->reject, lg->other, lg->timeouts, lg->bad, lg->acct_ok,
	       lg->acct_timeouts, lg->counted, span, span > 0 ? (double) lg->counted / span : 0.0,
	       hist_percentile(&lg->hist, 0.50), hist_percentile(&lg->hist, 0.99), lg->hist.max);
}

int main(int argc, char **argv)
{
	static lg_t lg;		/* The histogram is large: not on the stack. */
	char const *users = NULL;
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lg_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (parse_args(&lg, argc, argv, &users) < 0) return 1;
	if (crypto_init(&lg) < 0) {
		fprintf(stderr, "loadgen: OpenSSL has no MD5 or HMAC (FIPS mode?)\n");
		cleanup(&lg);
		return 1;
	}
	if (load_users(&lg, users) < 0 || open_sockets(&lg) < 0) {
		cleanup(&lg);
		return 1;
	}
	rc = run(&lg);
	report(&lg);
	cleanup(&lg);
	return rc < 0 ? 1 : 0;
}
