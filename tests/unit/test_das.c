/*
 * test_das.c - the RFC 5176 disconnect sender: packet encoding (checked
 * against digests computed here with OpenSSL's one-shot functions, not the
 * sender's code), refusal of bad answers, the RFC 5080 retransmission
 * schedule against a local UDP responder that drops packets, NAK with
 * Error-Cause, CoA-then-Disconnect fallback, concurrency, timeouts and the
 * configuration checks.
 *
 * The responder is a thread in this test on 127.0.0.1; the real peer
 * (hostapd's DAS) is exercised by tests/nas/test_das_hostapd.sh.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "enforce/das.h"
#include "enforce/das_packet.h"
#include "enforce/das_queue.h"
#include "test_slack.h"

#define SECRET "das-secret-1"

/*
 * Reference digests (OpenSSL one-shots) and packet helpers.
 */

static void ref_md5(uint8_t out[16], uint8_t const *data, size_t len)
{
	unsigned int olen = 0;

	ck_assert_int_eq(EVP_Digest(data, len, out, &olen, EVP_md5(), NULL), 1);
	ck_assert_uint_eq(olen, 16);
}

static void ref_hmac_md5(uint8_t out[16], char const *key, uint8_t const *data, size_t len)
{
	unsigned int olen = 0;

	ck_assert_ptr_nonnull(HMAC(EVP_md5(), key, (int)strlen(key), data, len, out, &olen));
	ck_assert_uint_eq(olen, 16);
}

/** find_attr - offset of the first attribute of type in pkt, or 0. */
static size_t find_attr(uint8_t const *pkt, size_t len, uint8_t type)
{
	size_t pos = 20;

	while (pos + 2 <= len && pkt[pos + 1] >= 2) {
		if (pkt[pos] == type) return pos;
		pos += pkt[pos + 1];
	}
	return 0;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/**
 * make_answer - an answer to req (code ACK or NAK), built independently:
 * Event-Timestamp, Error-Cause (when cause), Message-Authenticator (when ma),
 * signed with secret.  Returns its length.
 */
static size_t make_answer(uint8_t *out, uint8_t const *req, unsigned int code, uint32_t cause, bool ma,
			  uint32_t ts, char const *secret)
{
	uint8_t tmp[4096];
	uint8_t d[16];
	size_t len = 20, ma_off = 0, slen = strlen(secret);

	memset(out, 0, 20);
	out[0] = (uint8_t)code;
	out[1] = req[1];
	out[len++] = 55;
	out[len++] = 6;
	out[len++] = (uint8_t)(ts >> 24);
	out[len++] = (uint8_t)(ts >> 16);
	out[len++] = (uint8_t)(ts >> 8);
	out[len++] = (uint8_t)ts;
	if (cause) {
		out[len++] = 101;
		out[len++] = 6;
		out[len++] = (uint8_t)(cause >> 24);
		out[len++] = (uint8_t)(cause >> 16);
		out[len++] = (uint8_t)(cause >> 8);
		out[len++] = (uint8_t)cause;
	}
	if (ma) {
		ma_off = len;
		out[len++] = 80;
		out[len++] = 18;
		memset(out + len, 0, 16);
		len += 16;
	}
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, req + 4, 16);
	if (ma) {
		ref_hmac_md5(d, secret, out, len);
		memcpy(out + ma_off + 2, d, 16);
	}
	memcpy(tmp, out, len);
	memcpy(tmp + len, secret, slen);
	ref_md5(d, tmp, len + slen);
	memcpy(out + 4, d, 16);
	return len;
}

/** resign - recompute the Response Authenticator of ans (after a mutation). */
static void resign(uint8_t *ans, size_t len, uint8_t const *req, char const *secret)
{
	uint8_t tmp[4200];
	uint8_t d[16];
	size_t slen = strlen(secret);

	memcpy(tmp, ans, len);
	memcpy(tmp + 4, req + 4, 16);
	memcpy(tmp + len, secret, slen);
	ref_md5(d, tmp, len + slen);
	memcpy(ans + 4, d, 16);
}

/**
 * craft - an answer to req with exactly the attribute octets given, then a
 * correct Message-Authenticator (when ma) and Response Authenticator.
 */
static size_t craft(uint8_t *out, uint8_t const *req, unsigned int code, uint8_t const *attrs, size_t alen, bool ma)
{
	uint8_t d[16];
	size_t len = 20 + alen, ma_off = 0;

	memset(out, 0, 20);
	out[0] = (uint8_t)code;
	out[1] = req[1];
	memcpy(out + 20, attrs, alen);
	if (ma) {
		ma_off = len;
		out[len] = 80;
		out[len + 1] = 18;
		memset(out + len + 2, 0, 16);
		len += 18;
	}
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, req + 4, 16);
	if (ma) {
		ref_hmac_md5(d, SECRET, out, len);
		memcpy(out + ma_off + 2, d, 16);
	}
	resign(out, len, req, SECRET);
	return len;
}

/*
 * Log capture.
 */

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[65536];
static size_t log_len;

static void log_capture(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_capture(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;
	int n;

	(void)uctx;
	(void)level;
	pthread_mutex_lock(&log_mutex);
	if (log_len < sizeof(log_buf) - 2) {
		va_start(ap, fmt);
		n = vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len - 1, fmt, ap);
		va_end(ap);
		if (n > 0) log_len += (size_t)n < sizeof(log_buf) - log_len - 1 ? (size_t)n : sizeof(log_buf) - log_len - 2;
		log_buf[log_len++] = '\n';
		log_buf[log_len] = '\0';
	}
	pthread_mutex_unlock(&log_mutex);
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_mutex);
	log_len = 0;
	log_buf[0] = '\0';
	pthread_mutex_unlock(&log_mutex);
}

static bool log_has(char const *s)
{
	bool r;

	pthread_mutex_lock(&log_mutex);
	r = strstr(log_buf, s) != NULL;
	pthread_mutex_unlock(&log_mutex);
	return r;
}

/*
 * A local UDP responder (a thread) with scripted behaviour.
 */

typedef enum {
	R_ACK,			/* ACK everything. */
	R_NAK,			/* NAK with Error-Cause 503. */
	R_SILENT,		/* Never answer. */
	R_BAD_THEN_GOOD,	/* A forged answer (bad Message-Authenticator), then a good ACK. */
	R_COA_NAK,		/* CoA-Request: NAK 405; Disconnect-Request: ACK. */
	R_OTHER_PORT,		/* ACK, but from another socket. */
	R_NO_MA			/* ACK without Message-Authenticator. */
} rmode_t;

#define RMAX 1024

typedef struct {
	int		fd;
	int		other_fd;
	uint16_t	port;
	rmode_t		mode;
	unsigned int	drop_first;
	volatile int	stop;
	pthread_t	thread;
	pthread_mutex_t	mutex;
	unsigned int	count;
	uint8_t		pkts[RMAX][256];
	size_t		lens[RMAX];
	uint64_t	when[RMAX];
	uint16_t	from_port[RMAX];
} responder_t;

static void *responder_main(void *arg)
{
	responder_t *r = arg;
	uint8_t buf[4096], ans[4096];
	struct sockaddr_in from;
	socklen_t fromlen;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	char cbuf[256];
	uint64_t arrival;
	unsigned int k;
	int loops;

	for (loops = 0; loops < 100000 && !r->stop; loops++) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		ssize_t n;
		size_t alen;

		if (poll(&p, 1, 20) <= 0) continue;
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(r->fd, &msg, 0);
		if (n < 20) continue;
		fromlen = msg.msg_namelen;
		/* The kernel's arrival time (CLOCK_REALTIME): the thread's own scheduling delay does not count. */
		arrival = real_us();
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;

				memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
				arrival = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
			}
		}
		pthread_mutex_lock(&r->mutex);
		k = r->count;
		if (k < RMAX) {
			memcpy(r->pkts[k], buf, (size_t)n < 256 ? (size_t)n : 256);
			r->lens[k] = (size_t)n;
			r->when[k] = arrival;
			r->from_port[k] = ntohs(from.sin_port);
			r->count++;
		}
		pthread_mutex_unlock(&r->mutex);
		if (k < r->drop_first) continue;
		switch (r->mode) {
		case R_SILENT:
			continue;
		case R_ACK:
		case R_OTHER_PORT:
			alen = make_answer(ans, buf, buf[0] + 1u, 0, true, (uint32_t)time(NULL), SECRET);
			break;
		case R_NO_MA:
			alen = make_answer(ans, buf, buf[0] + 1u, 0, false, (uint32_t)time(NULL), SECRET);
			break;
		case R_NAK:
			alen = make_answer(ans, buf, buf[0] + 2u, 503, true, (uint32_t)time(NULL), SECRET);
			break;
		case R_COA_NAK:
			if (buf[0] == 43) alen = make_answer(ans, buf, 45, 405, true, (uint32_t)time(NULL), SECRET);
			else alen = make_answer(ans, buf, buf[0] + 1u, 0, true, (uint32_t)time(NULL), SECRET);
			break;
		case R_BAD_THEN_GOOD:
			alen = make_answer(ans, buf, buf[0] + 1u, 0, true, (uint32_t)time(NULL), SECRET);
			ans[alen - 1] ^= 0x01;		/* Message-Authenticator is last. */
			resign(ans, alen, buf, SECRET);	/* Response Authenticator still right. */
			sendto(r->fd, ans, alen, 0, (struct sockaddr *)&from, fromlen);
			alen = make_answer(ans, buf, buf[0] + 1u, 0, true, (uint32_t)time(NULL), SECRET);
			break;
		default:
			continue;
		}
		sendto(r->mode == R_OTHER_PORT ? r->other_fd : r->fd, ans, alen, 0, (struct sockaddr *)&from, fromlen);
	}
	return NULL;
}

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	if (port) *port = ntohs(a.sin_port);
	return fd;
}

static responder_t *responder_start(rmode_t mode, unsigned int drop_first)
{
	responder_t *r = calloc(1, sizeof(*r));
	int one = 1;

	ck_assert_ptr_nonnull(r);
	r->mode = mode;
	r->drop_first = drop_first;
	r->fd = udp_socket(&r->port);
	r->other_fd = udp_socket(NULL);
	ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)), 0);
	pthread_mutex_init(&r->mutex, NULL);
	ck_assert_int_eq(pthread_create(&r->thread, NULL, responder_main, r), 0);
	return r;
}

static void responder_stop(responder_t *r)
{
	r->stop = 1;
	pthread_join(r->thread, NULL);
	close(r->fd);
	close(r->other_fd);
	pthread_mutex_destroy(&r->mutex);
	free(r);
}

/*
 * Common request set-up.
 */

static cb_das_session_t const alice = {
	.nas_ip_address = "127.0.0.1",
	.nas_identifier = "nas-1",
	.user_name = "alice@school.example",
	.acct_session_id = "0123456789ABCDEF",
	.calling_station_id = "02-00-00-00-00-01",
};

static cb_das_t *sender(unsigned int irt, unsigned int mrc, unsigned int mrt, unsigned int mrd)
{
	cb_das_conf_t conf;
	char err[256];
	cb_das_t *das;

	cb_das_conf_defaults(&conf);
	conf.irt_ms = irt;
	conf.mrc = mrc;
	conf.mrt_ms = mrt;
	conf.mrd_ms = mrd;
	conf.log = log_capture;
	das = cb_das_init(&conf, err, sizeof(err));
	ck_assert_msg(das != NULL, "cb_das_init: %s", err);
	log_reset();
	return das;
}

static void nas_for(cb_das_nas_t *nas, uint16_t port, char const *profile)
{
	memset(nas, 0, sizeof(*nas));
	nas->address = "127.0.0.1";
	nas->port = port;
	nas->secret = SECRET;
	nas->profile = cb_das_profile_find(profile);
	ck_assert_ptr_nonnull(nas->profile);
}

/*
 * Encoding.
 */

START_TEST(test_encode_disconnect)
{
	cb_das_nas_t nas;
	cb_das_request_t req = { 0 };
	uint8_t pkt[4096], tmp[4200], d[16];
	char err[256];
	size_t len, pos, off;

	nas_for(&nas, 3799, "hostapd");
	req.nas = &nas;
	req.session = &alice;
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 0x5a, 1700000000u, pkt, sizeof(pkt), &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(pkt[0], 40);
	ck_assert_uint_eq(pkt[1], 0x5a);
	ck_assert_uint_eq(((size_t)pkt[2] << 8) | pkt[3], len);

	/* Message-Authenticator first, then the identification, Event-Timestamp last. */
	ck_assert_uint_eq(pkt[20], 80);
	ck_assert_uint_eq(pkt[21], 18);
	off = find_attr(pkt, len, 4);
	ck_assert_uint_ne(off, 0);
	ck_assert_uint_eq(pkt[off + 1], 6);
	ck_assert_mem_eq(pkt + off + 2, "\x7f\x00\x00\x01", 4);
	off = find_attr(pkt, len, 32);
	ck_assert_uint_eq(pkt[off + 1], 2 + 5);
	ck_assert_mem_eq(pkt + off + 2, "nas-1", 5);
	off = find_attr(pkt, len, 1);
	ck_assert_uint_eq(pkt[off + 1], 2 + strlen(alice.user_name));
	ck_assert_mem_eq(pkt + off + 2, alice.user_name, strlen(alice.user_name));
	off = find_attr(pkt, len, 44);
	ck_assert_mem_eq(pkt + off + 2, alice.acct_session_id, 16);
	off = find_attr(pkt, len, 31);
	ck_assert_mem_eq(pkt + off + 2, alice.calling_station_id, 17);
	off = find_attr(pkt, len, 55);
	ck_assert_uint_eq(pkt[off + 1], 6);
	ck_assert_mem_eq(pkt + off + 2, "\x65\x53\xf1\x00", 4);	/* 1700000000 */
	ck_assert_uint_eq(off + 6, len);
	/* Nothing else: a Disconnect-Request holds only identification (RFC 5176 section 3). */
	for (pos = 20; pos < len; pos += pkt[pos + 1]) {
		ck_assert_msg(pkt[pos] == 80 || pkt[pos] == 4 || pkt[pos] == 32 || pkt[pos] == 1 || pkt[pos] == 44 ||
			      pkt[pos] == 31 || pkt[pos] == 55, "unexpected attribute %u", pkt[pos]);
	}

	/* Message-Authenticator = HMAC-MD5 over the packet, zero authenticator and zero MA. */
	memcpy(tmp, pkt, len);
	memset(tmp + 4, 0, 16);
	memset(tmp + 22, 0, 16);
	ref_hmac_md5(d, SECRET, tmp, len);
	ck_assert_mem_eq(d, pkt + 22, 16);

	/* Request Authenticator = MD5(packet with zero authenticator + secret). */
	memcpy(tmp, pkt, len);
	memset(tmp + 4, 0, 16);
	memcpy(tmp + len, SECRET, strlen(SECRET));
	ref_md5(d, tmp, len + strlen(SECRET));
	ck_assert_mem_eq(d, pkt + 4, 16);
}
END_TEST

START_TEST(test_encode_coa_vsa_ipv6)
{
	cb_das_profile_t prof = *cb_das_profile_find("rfc5176");
	cb_das_session_t s = alice;
	cb_das_nas_t nas;
	cb_das_attr_t avpair = { .type = 26, .vendor = 9, .vendor_type = 1,
				 .value = (uint8_t const *)"subscriber:command=reauthenticate", .len = 33 };
	cb_das_attr_t timeout = { .type = 27, .value = (uint8_t const *)"\x00\x00\x0e\x10", .len = 4 };
	cb_das_request_t req = { 0 };
	uint8_t pkt[4096];
	char err[256];
	size_t len, off;

	nas_for(&nas, 0, "rfc5176");
	prof.mode = CB_DAS_MODE_COA;
	prof.coa_attrs = &avpair;
	prof.num_coa_attrs = 1;
	nas.profile = &prof;
	s.nas_ip_address = "2001:db8::1";
	req.nas = &nas;
	req.session = &s;
	req.coa_attrs = &timeout;
	req.num_coa_attrs = 1;
	ck_assert_int_eq(cb_das_packet_encode(&req, 43, 7, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(pkt[0], 43);
	ck_assert_uint_eq(find_attr(pkt, len, 4), 0);
	off = find_attr(pkt, len, 95);
	ck_assert_uint_ne(off, 0);
	ck_assert_uint_eq(pkt[off + 1], 18);
	off = find_attr(pkt, len, 26);
	ck_assert_uint_ne(off, 0);
	ck_assert_uint_eq(pkt[off + 1], 2 + 6 + 33);
	ck_assert_mem_eq(pkt + off + 2, "\x00\x00\x00\x09\x01\x23", 6);
	ck_assert_mem_eq(pkt + off + 8, "subscriber:command=reauthenticate", 33);
	off = find_attr(pkt, len, 27);
	ck_assert_mem_eq(pkt + off + 2, "\x00\x00\x0e\x10", 4);
	/* The CoA attributes are not in a Disconnect-Request. */
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 7, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(find_attr(pkt, len, 26), 0);
	ck_assert_uint_eq(find_attr(pkt, len, 27), 0);
}
END_TEST

START_TEST(test_encode_refusals)
{
	cb_das_session_t s;
	cb_das_nas_t nas;
	cb_das_request_t req = { 0 };
	uint8_t pkt[4096];
	char err[256], big[300];
	size_t len;

	nas_for(&nas, 0, "hostapd");
	req.nas = &nas;
	req.session = &s;

	/* The hostapd profile needs Calling-Station-Id. */
	s = alice;
	s.calling_station_id = NULL;
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "Calling-Station-Id") != NULL, "%s", err);

	/* Nothing that identifies a session. */
	nas.profile = cb_das_profile_find("rfc5176");
	memset(&s, 0, sizeof(s));
	s.nas_ip_address = "127.0.0.1";
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "nothing identifies") != NULL, "%s", err);

	/* Values too long, empty, or not addresses. */
	s = alice;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s.user_name = big;
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "User-Name") != NULL, "%s", err);
	s = alice;
	s.acct_session_id = "";
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty") != NULL, "%s", err);
	s = alice;
	s.nas_ip_address = "nas.example";
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	s = alice;
	ck_assert_int_eq(cb_das_packet_encode(&req, 41, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, 19, &len, err, sizeof(err)), -1);
	/* A packet that would not fit its buffer. */
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, 40, &len, err, sizeof(err)), -1);
	nas.secret = "";
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 1, 1, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "secret") != NULL, "%s", err);
}
END_TEST

/*
 * Checking answers.
 */

static size_t build_request(uint8_t *pkt, char const *profile)
{
	static cb_das_nas_t nas;
	cb_das_request_t req = { 0 };
	char err[256];
	size_t len;

	nas_for(&nas, 0, profile);
	req.nas = &nas;
	req.session = &alice;
	ck_assert_int_eq(cb_das_packet_encode(&req, 40, 0x42, (uint32_t)time(NULL), pkt, 4096, &len, err, sizeof(err)), 0);
	return len;
}

START_TEST(test_check_valid)
{
	uint8_t pkt[4096], ans[4096 + 16];
	cb_das_packet_answer_t a;
	char why[256];
	size_t plen = build_request(pkt, "hostapd"), alen;
	time_t now = time(NULL);

	alen = make_answer(ans, pkt, 41, 0, true, (uint32_t)now, SECRET);
	ck_assert_msg(cb_das_packet_check_answer(ans, alen, pkt, plen, SECRET, true, now, 300, &a, why, sizeof(why)) == 0,
		      "%s", why);
	ck_assert_uint_eq(a.code, 41);
	ck_assert_uint_eq(a.error_cause, 0);
	ck_assert(a.has_message_authenticator);
	ck_assert(a.has_event_timestamp);

	alen = make_answer(ans, pkt, 42, 503, true, (uint32_t)now, SECRET);
	ck_assert_int_eq(cb_das_packet_check_answer(ans, alen, pkt, plen, SECRET, true, now, 300, &a, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.code, 42);
	ck_assert_uint_eq(a.error_cause, 503);
	ck_assert_str_eq(cb_das_error_cause_name(a.error_cause), "Session Context Not Found");

	/* Octets after Length are padding (RFC 2865 section 3). */
	memset(ans + alen, 0xee, 16);
	ck_assert_int_eq(cb_das_packet_check_answer(ans, alen + 16, pkt, plen, SECRET, true, now, 300, &a, why,
						    sizeof(why)), 0);

	/* Without Message-Authenticator: fine unless the profile requires it. */
	alen = make_answer(ans, pkt, 41, 0, false, (uint32_t)now, SECRET);
	ck_assert_int_eq(cb_das_packet_check_answer(ans, alen, pkt, plen, SECRET, false, now, 300, &a, why, sizeof(why)), 0);
	ck_assert(!a.has_message_authenticator);
	ck_assert_int_eq(cb_das_packet_check_answer(ans, alen, pkt, plen, SECRET, true, now, 300, &a, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "no Message-Authenticator") != NULL, "%s", why);
}
END_TEST

/** refused - the answer must be refused, with why containing reason. */
static void refused(uint8_t const *ans, size_t alen, uint8_t const *pkt, size_t plen, char const *reason)
{
	cb_das_packet_answer_t a = { .code = 12345 };
	char why[256] = "";

	ck_assert_msg(cb_das_packet_check_answer(ans, alen, pkt, plen, SECRET, true, time(NULL), 300, &a, why,
					  sizeof(why)) == -1, "accepted an answer that should fail with: %s", reason);
	ck_assert_msg(strstr(why, reason) != NULL, "expected \"%s\", got \"%s\"", reason, why);
	ck_assert_uint_eq(a.code, 12345);	/* Untouched. */
}

START_TEST(test_check_refused)
{
	uint8_t pkt[4096], ans[4096 + 16], bad[4096 + 16];
	size_t plen = build_request(pkt, "hostapd"), alen, blen;
	uint32_t now = (uint32_t)time(NULL);
	uint8_t ts[4] = { (uint8_t)(now >> 24), (uint8_t)(now >> 16), (uint8_t)(now >> 8), (uint8_t)now };
	uint8_t d[16], et2[12];
	cb_das_packet_answer_t a;
	char why[256];

	alen = make_answer(ans, pkt, 42, 503, true, now, SECRET);

	/* Wrong secret: the Response Authenticator does not match. */
	blen = make_answer(bad, pkt, 41, 0, true, now, "another-secret");
	refused(bad, blen, pkt, plen, "Response Authenticator");

	/* Wrong Identifier (re-signed, so only the Identifier is wrong). */
	memcpy(bad, ans, alen);
	bad[1] ^= 0xff;
	resign(bad, alen, pkt, SECRET);
	refused(bad, alen, pkt, plen, "Identifier");

	/* Wrong code: a CoA-ACK does not answer a Disconnect-Request; nor does a request. */
	memcpy(bad, ans, alen);
	bad[0] = 44;
	refused(bad, alen, pkt, plen, "does not answer");
	bad[0] = 40;
	refused(bad, alen, pkt, plen, "does not answer");

	/* Truncated: fewer octets than a header, or than the Length field says. */
	refused(ans, 19, pkt, plen, "truncated");
	refused(ans, alen - 1, pkt, plen, "truncated");
	memcpy(bad, ans, alen);
	bad[2] = 0;
	bad[3] = 19;
	refused(bad, alen, pkt, plen, "shorter than a RADIUS header");
	bad[2] = 0x10;
	bad[3] = 0x01;
	refused(bad, alen, pkt, plen, "exceeds");

	/* An attribute whose length runs past the end, or is below 2. */
	memcpy(bad, ans, alen);
	bad[21] = 200;
	resign(bad, alen, pkt, SECRET);
	refused(bad, alen, pkt, plen, "past the end");
	memcpy(bad, ans, alen);
	bad[21] = 1;
	resign(bad, alen, pkt, SECRET);
	refused(bad, alen, pkt, plen, "has length 1");
	memcpy(bad, ans, alen);
	bad[21] = 0;
	resign(bad, alen, pkt, SECRET);
	refused(bad, alen, pkt, plen, "has length 0");
	/* A lone type octet at the end. */
	memcpy(bad, ans, alen);
	bad[alen] = 18;
	bad[2] = (uint8_t)((alen + 1) >> 8);
	bad[3] = (uint8_t)(alen + 1);
	resign(bad, alen + 1, pkt, SECRET);
	refused(bad, alen + 1, pkt, plen, "cut off");

	/* Bad Message-Authenticator (Response Authenticator recomputed, so only the MA is wrong). */
	memcpy(bad, ans, alen);
	bad[alen - 3] ^= 0x80;
	resign(bad, alen, pkt, SECRET);
	refused(bad, alen, pkt, plen, "Message-Authenticator does not match");

	/* Known attributes of the wrong length. */
	blen = craft(bad, pkt, 42, (uint8_t const *)"\x65\x05\x00\x00\x01", 5, true);
	refused(bad, blen, pkt, plen, "Error-Cause has length 5");
	blen = craft(bad, pkt, 41, (uint8_t const *)"\x37\x08\x00\x00\x00\x00\x00\x00", 8, true);
	refused(bad, blen, pkt, plen, "Event-Timestamp has length 8");
	blen = craft(bad, pkt, 41, (uint8_t const *)"\x50\x11" "0123456789abcde", 17, false);
	refused(bad, blen, pkt, plen, "Message-Authenticator has length 17");
	memcpy(et2, "\x37\x06", 2);
	memcpy(et2 + 2, ts, 4);
	memcpy(et2 + 6, et2, 6);
	blen = craft(bad, pkt, 41, et2, 12, true);
	refused(bad, blen, pkt, plen, "more than one Event-Timestamp");
	/* Unknown attributes are skipped, but they must still fit. */
	blen = craft(bad, pkt, 41, (uint8_t const *)"\x12\x05" "abc", 5, true);
	ck_assert_int_eq(cb_das_packet_check_answer(bad, blen, pkt, plen, SECRET, true, time(NULL), 300, &a, why,
					     sizeof(why)), 0);

	/* Two Message-Authenticators. */
	blen = make_answer(bad, pkt, 41, 0, true, now, SECRET);
	memcpy(bad + blen, bad + blen - 18, 18);
	blen += 18;
	bad[2] = (uint8_t)(blen >> 8);
	bad[3] = (uint8_t)blen;
	resign(bad, blen, pkt, SECRET);
	refused(bad, blen, pkt, plen, "more than one Message-Authenticator");

	/* A stale Event-Timestamp (RFC 5176 section 6.3). */
	blen = make_answer(bad, pkt, 41, 0, true, now - 3600, SECRET);
	refused(bad, blen, pkt, plen, "Event-Timestamp");

	/* The request itself is not an answer: pure noise is refused too. */
	memset(d, 0, sizeof(d));
	refused(d, sizeof(d), pkt, plen, "truncated");
}
END_TEST

/*
 * The sender on the wire.
 */

static void send_one(cb_das_t *das, cb_das_nas_t const *nas, cb_das_request_t *req)
{
	memset(req, 0, sizeof(*req));
	req->nas = nas;
	req->session = &alice;
	ck_assert_int_ge(cb_das_send(das, req, 1), 0);
}

START_TEST(test_retransmit_same_bytes_and_backoff)
{
	responder_t *r = responder_start(R_ACK, 2);
	cb_das_t *das = sender(100, 5, 16000, 5000);
	cb_das_nas_t nas;
	cb_das_request_t req;
	double g1, g2;

	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_msg(req.result == CB_DAS_ACK, "%s: %s", cb_das_result_name(req.result), req.error);
	ck_assert_uint_eq(req.response_code, 41);
	ck_assert_uint_eq(req.transmissions, 3);
	pthread_mutex_lock(&r->mutex);
	ck_assert_uint_eq(r->count, 3);
	/* The same bytes every time: Identifier, Event-Timestamp, authenticator. */
	ck_assert_uint_eq(r->lens[0], r->lens[1]);
	ck_assert_uint_eq(r->lens[0], r->lens[2]);
	ck_assert_mem_eq(r->pkts[0], r->pkts[1], r->lens[0]);
	ck_assert_mem_eq(r->pkts[0], r->pkts[2], r->lens[0]);
	ck_assert_uint_eq(r->from_port[0], r->from_port[2]);
	/*
	 * RT1 = IRT +- 10%: 90 to 110 ms; RT2 = 2 RT1 +- 0.1 RT1: 171 to 231 ms.
	 * A late timer only lengthens the gap it ends (the next RT counts from
	 * the late transmission), so the lower bounds are tight and the upper
	 * ones have slack for loaded machines and valgrind.
	 */
	g1 = (double)(r->when[1] - r->when[0]) / 1000.0;
	g2 = (double)(r->when[2] - r->when[1]) / 1000.0;
	pthread_mutex_unlock(&r->mutex);
	ck_assert_msg(g1 >= 88.0 && g1 <= 110.0 + 150.0, "first retransmission after %.1f ms", g1);
	ck_assert_msg(g2 >= 168.0 && g2 <= 231.0 + 150.0, "second retransmission after %.1f ms (no backoff?)", g2);
	ck_assert(log_has("retransmitting Disconnect-Request"));
	ck_assert(log_has("Disconnect-ACK from 127.0.0.1"));
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_backoff_capped_by_mrt)
{
	responder_t *r = responder_start(R_ACK, 4);
	cb_das_t *das = sender(100, 6, 120, 5000);
	cb_das_nas_t nas;
	cb_das_request_t req;
	double g2, g3, g4;

	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_msg(req.result == CB_DAS_ACK, "%s", req.error);
	ck_assert_uint_eq(req.transmissions, 5);
	pthread_mutex_lock(&r->mutex);
	g2 = (double)(r->when[2] - r->when[1]) / 1000.0;
	g3 = (double)(r->when[3] - r->when[2]) / 1000.0;
	g4 = (double)(r->when[4] - r->when[3]) / 1000.0;
	pthread_mutex_unlock(&r->mutex);
	/*
	 * From the second RT on, 2 RTprev > MRT, so RT = MRT +- 10%: 108 to
	 * 132 ms.  Uncapped, the third and fourth would be at least 325 and
	 * 617 ms, far above the slack allowed here.
	 */
	ck_assert_msg(g2 >= 106.0 && g2 <= 132.0 + 150.0, "capped retransmission after %.1f ms", g2);
	ck_assert_msg(g3 >= 106.0 && g3 <= 132.0 + 150.0, "capped retransmission after %.1f ms", g3);
	ck_assert_msg(g4 >= 106.0 && g4 <= 132.0 + 150.0, "capped retransmission after %.1f ms", g4);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_timeout_after_mrc)
{
	responder_t *r = responder_start(R_SILENT, 0);
	cb_das_t *das = sender(50, 3, 0, 5000);
	cb_das_nas_t nas;
	cb_das_request_t req;
	double ms;

	nas_for(&nas, r->port, "rfc5176");
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_TIMEOUT);
	ck_assert_uint_eq(req.transmissions, 3);
	ck_assert_uint_eq(req.response_code, 0);
	/*
	 * RT1 = 50 +- 5; RT2 = 2 RT1 +- 0.1 RT1, in [85.5, 115.5]; RT3 = 2 RT2
	 * +- 0.1 RT2, in [162.5, 242.6]: the jitter compounds, so the total is
	 * 293 to 413 ms (plus scheduling slack upwards).
	 */
	ms = (double)req.elapsed_us / 1000.0;
	ck_assert_msg(ms >= 292.0 && ms <= 413.0 + 200.0, "timed out after %.1f ms", ms);
	ck_assert_msg(strstr(req.error, "no answer") != NULL, "%s", req.error);
	ck_assert(log_has("no answer from 127.0.0.1"));
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_timeout_bounded_by_mrd)
{
	responder_t *r = responder_start(R_SILENT, 0);
	cb_das_t *das = sender(100, 10, 0, 500);
	cb_das_nas_t nas;
	cb_das_request_t req;
	uint64_t t0 = mono_us();
	double ms, wall;

	nas_for(&nas, r->port, "rfc5176");
	send_one(das, &nas, &req);
	wall = (double)(mono_us() - t0) / 1000.0;
	ck_assert_int_eq(req.result, CB_DAS_TIMEOUT);
	/* Transmissions at about 0, 100 and 300 ms; the next would be at 700 > MRD. */
	ck_assert_uint_eq(req.transmissions, 3);
	ms = (double)req.elapsed_us / 1000.0;
	ck_assert_msg(ms >= 499.0 && ms <= 500.0 + 200.0, "MRD 500 ms, gave up after %.1f ms", ms);
	ck_assert_msg(wall <= 900.0, "the call took %.1f ms", wall);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_nak_error_cause)
{
	responder_t *r = responder_start(R_NAK, 0);
	cb_das_t *das = sender(100, 3, 0, 2000);
	cb_das_nas_t nas;
	cb_das_request_t req;

	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_NAK);
	ck_assert_uint_eq(req.response_code, 42);
	ck_assert_uint_eq(req.error_cause, 503);
	ck_assert_uint_eq(req.transmissions, 1);
	ck_assert_msg(strstr(req.error, "503 (Session Context Not Found)") != NULL, "%s", req.error);
	ck_assert(log_has("Disconnect-NAK from 127.0.0.1"));
	ck_assert(log_has("Error-Cause 503 (Session Context Not Found)"));
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_forged_answer_dropped)
{
	responder_t *r = responder_start(R_BAD_THEN_GOOD, 0);
	cb_das_t *das = sender(100, 3, 0, 2000);
	cb_das_nas_t nas;
	cb_das_request_t req;

	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_msg(req.result == CB_DAS_ACK, "%s", req.error);
	ck_assert_uint_eq(req.transmissions, 1);
	ck_assert(log_has("dropped an answer from 127.0.0.1"));
	ck_assert(log_has("Message-Authenticator does not match"));
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_answer_from_other_port_dropped)
{
	responder_t *r = responder_start(R_OTHER_PORT, 0);
	cb_das_t *das = sender(50, 2, 0, 1000);
	cb_das_nas_t nas;
	cb_das_request_t req;

	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_TIMEOUT);
	ck_assert(log_has("was sent to 127.0.0.1"));
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_require_response_authenticator)
{
	responder_t *r = responder_start(R_NO_MA, 0);
	cb_das_t *das = sender(50, 2, 0, 1000);
	cb_das_nas_t nas;
	cb_das_request_t req;

	/* hostapd always signs its answers, so the profile insists. */
	nas_for(&nas, r->port, "hostapd");
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_TIMEOUT);
	ck_assert(log_has("no Message-Authenticator"));
	/* The generic profile takes an unsigned (but authenticated) answer. */
	nas_for(&nas, r->port, "rfc5176");
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_ACK);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_coa_then_disconnect)
{
	responder_t *r = responder_start(R_COA_NAK, 0);
	cb_das_t *das = sender(100, 3, 0, 2000);
	cb_das_profile_t prof = *cb_das_profile_find("rfc5176");
	cb_das_nas_t nas;
	cb_das_request_t req;
	unsigned int k;

	/* A profile made coa-then-disconnect, then the shipped cisco one (its CoA re-authenticates). */
	for (k = 0; k < 2; k++) {
		nas_for(&nas, r->port, k ? "cisco" : "rfc5176");
		prof.mode = CB_DAS_MODE_COA_THEN_DISCONNECT;
		if (!k) nas.profile = &prof;
		send_one(das, &nas, &req);
		ck_assert_msg(req.result == CB_DAS_ACK, "%s", req.error);
		ck_assert(req.fell_back);
		ck_assert_uint_eq(req.response_code, 41);
		ck_assert_uint_eq(req.last_request, 40);
		ck_assert_uint_eq(req.transmissions, 2);
		pthread_mutex_lock(&r->mutex);
		ck_assert_uint_eq(r->count, 2 + 2 * k);
		ck_assert_uint_eq(r->pkts[2 * k][0], 43);
		ck_assert_uint_eq(r->pkts[2 * k + 1][0], 40);
		/* Only cisco's CoA carries Cisco-AVPair; never the Disconnect-Request. */
		ck_assert_uint_eq(find_attr(r->pkts[2 * k], r->lens[2 * k], 26) != 0, k);
		ck_assert_uint_eq(find_attr(r->pkts[2 * k + 1], r->lens[2 * k + 1], 26), 0);
		pthread_mutex_unlock(&r->mutex);
		ck_assert(log_has("CoA-NAK from 127.0.0.1"));
		ck_assert(log_has("405 (Unsupported Service)"));
	}
	nas.profile = &prof;

	/* Plain "coa": the NAK is the outcome. */
	prof.mode = CB_DAS_MODE_COA;
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_NAK);
	ck_assert_uint_eq(req.error_cause, 405);
	ck_assert(!req.fell_back);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_burst_concurrent)
{
	enum { N = 600 };
	responder_t *r = responder_start(R_ACK, 0);
	cb_das_t *das = sender(5000, 3, 0, 10000);
	cb_das_nas_t nas;
	cb_das_request_t *reqs = calloc(N, sizeof(*reqs));
	static uint8_t seen[65536][256 / 8];
	uint64_t t0;
	double ms;
	size_t i;
	int acked;

	ck_assert_ptr_nonnull(reqs);
	nas_for(&nas, r->port, "hostapd");
	for (i = 0; i < N; i++) {
		reqs[i].nas = &nas;
		reqs[i].session = &alice;
	}
	t0 = mono_us();
	acked = cb_das_send(das, reqs, N);
	ms = (double)(mono_us() - t0) / 1000.0;
	ck_assert_int_eq(acked, N);
	for (i = 0; i < N; i++) ck_assert_uint_eq(reqs[i].transmissions, 1);
	/* No retransmission was needed, so nothing waited an IRT (5 s; loose for valgrind). */
	ck_assert_msg(ms < 4000.0, "%d requests took %.1f ms", N, ms);
	/* Every (source port, Identifier) pair was used once: no Identifier reuse on a socket. */
	memset(seen, 0, sizeof(seen));
	pthread_mutex_lock(&r->mutex);
	ck_assert_uint_eq(r->count, N);
	for (i = 0; i < N; i++) {
		uint16_t p = r->from_port[i];
		uint8_t id = r->pkts[i][1];

		ck_assert_msg(!(seen[p][id / 8] & (1u << (id % 8))), "port %u id %u used twice", p, id);
		seen[p][id / 8] |= (uint8_t)(1u << (id % 8));
	}
	pthread_mutex_unlock(&r->mutex);
	free(reqs);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_fallback_waits_for_identifiers)
{
	enum { N = 300 };
	responder_t *r = responder_start(R_COA_NAK, 0);
	cb_das_profile_t prof = *cb_das_profile_find("rfc5176");
	cb_das_request_t *reqs = calloc(N, sizeof(*reqs));
	static uint8_t seen[65536][256 / 8];
	cb_das_conf_t conf;
	cb_das_nas_t nas;
	char err[256];
	cb_das_t *das;
	size_t i;

	/* One socket, no per-NAS window: the 256 CoAs use every Identifier, so
	 * the fallbacks must wait until the socket is drained and replaced. */
	cb_das_conf_defaults(&conf);
	conf.irt_ms = 1000 + (unsigned int) test_slack_ms(0);	/* No answer may be late enough to retransmit. */
	conf.mrd_ms = 5000 + 2 * (unsigned int) test_slack_ms(0);
	conf.max_sockets = 1;
	conf.max_inflight_per_nas = 4096;
	conf.log = log_capture;
	das = cb_das_init(&conf, err, sizeof(err));
	ck_assert_ptr_nonnull(das);
	ck_assert_ptr_nonnull(reqs);
	nas_for(&nas, r->port, "rfc5176");
	prof.mode = CB_DAS_MODE_COA_THEN_DISCONNECT;
	nas.profile = &prof;
	for (i = 0; i < N; i++) {
		reqs[i].nas = &nas;
		reqs[i].session = &alice;
	}
	ck_assert_int_eq(cb_das_send(das, reqs, N), N);
	for (i = 0; i < N; i++) {
		ck_assert(reqs[i].fell_back);
		ck_assert_uint_eq(reqs[i].transmissions, 2);
	}
	memset(seen, 0, sizeof(seen));
	pthread_mutex_lock(&r->mutex);
	ck_assert_uint_eq(r->count, 2 * N);
	for (i = 0; i < 2 * N; i++) {
		uint16_t p = r->from_port[i];
		uint8_t id = r->pkts[i][1];

		ck_assert_msg(!(seen[p][id / 8] & (1u << (id % 8))), "port %u id %u used twice", p, id);
		seen[p][id / 8] |= (uint8_t)(1u << (id % 8));
	}
	pthread_mutex_unlock(&r->mutex);
	free(reqs);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_dead_nas_fails_fast)
{
	responder_t *r = responder_start(R_SILENT, 0);
	responder_t *ok = responder_start(R_ACK, 0);
	cb_das_conf_t conf;
	cb_das_nas_t dead, live;
	cb_das_request_t reqs[12];
	char err[256];
	cb_das_t *das;
	uint64_t t0;
	double ms;
	size_t i;
	int notsent;

	cb_das_conf_defaults(&conf);
	conf.irt_ms = 50;
	conf.mrc = 2;
	conf.mrd_ms = 300;
	conf.max_inflight_per_nas = 2;
	conf.log = log_capture;
	das = cb_das_init(&conf, err, sizeof(err));
	ck_assert_ptr_nonnull(das);
	nas_for(&dead, r->port, "rfc5176");
	nas_for(&live, ok->port, "rfc5176");
	memset(reqs, 0, sizeof(reqs));
	for (i = 0; i < 12; i++) {
		reqs[i].nas = i % 3 == 2 ? &live : &dead;
		reqs[i].session = &alice;
	}
	t0 = mono_us();
	ck_assert_int_eq(cb_das_send(das, reqs, 12), 4);
	ms = (double)(mono_us() - t0) / 1000.0;
	for (i = 0; i < 12; i++) {
		if (i % 3 == 2) ck_assert_int_eq(reqs[i].result, CB_DAS_ACK);
		else ck_assert_int_eq(reqs[i].result, CB_DAS_TIMEOUT);
	}
	/* Two requests in flight waited ~150 ms; the six queued behind them were not sent. */
	ck_assert_msg(ms < 400.0, "took %.1f ms", ms);
	for (i = 0, notsent = 0; i < 12; i++) {
		if (strstr(reqs[i].error, "not sent")) notsent++;
	}
	ck_assert_int_eq(notsent, 6);
	cb_das_deinit(das);
	responder_stop(r);
	responder_stop(ok);
}
END_TEST

static void *cancel_later(void *arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	cb_das_cancel(arg);
	return NULL;
}

START_TEST(test_cancel)
{
	responder_t *r = responder_start(R_SILENT, 0);
	cb_das_t *das = sender(1000, 5, 0, 30000);
	cb_das_nas_t nas;
	cb_das_request_t req;
	pthread_t t;
	uint64_t t0 = mono_us();

	nas_for(&nas, r->port, "rfc5176");
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, das), 0);
	send_one(das, &nas, &req);
	pthread_join(t, NULL);
	ck_assert_int_eq(req.result, CB_DAS_ERROR);
	ck_assert_str_eq(req.error, "cancelled");
	ck_assert_msg(mono_us() - t0 < 1000000u, "cancel took too long");
	/* And later calls finish at once too. */
	send_one(das, &nas, &req);
	ck_assert_int_eq(req.result, CB_DAS_ERROR);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

START_TEST(test_bad_requests_do_not_stop_others)
{
	responder_t *r = responder_start(R_ACK, 0);
	cb_das_t *das = sender(100, 2, 0, 1000);
	cb_das_nas_t nas, badaddr;
	cb_das_session_t nocsi = alice;
	cb_das_request_t reqs[4];

	nas_for(&nas, r->port, "hostapd");
	badaddr = nas;
	badaddr.address = "nas.school.example";
	nocsi.calling_station_id = NULL;
	memset(reqs, 0, sizeof(reqs));
	reqs[0].nas = &nas;
	reqs[0].session = &alice;
	reqs[1].nas = &badaddr;
	reqs[1].session = &alice;
	reqs[2].nas = &nas;
	reqs[2].session = &nocsi;
	reqs[3].nas = NULL;
	reqs[3].session = &alice;
	ck_assert_int_eq(cb_das_send(das, reqs, 4), 1);
	ck_assert_int_eq(reqs[0].result, CB_DAS_ACK);
	ck_assert_int_eq(reqs[1].result, CB_DAS_ERROR);
	ck_assert_msg(strstr(reqs[1].error, "not a numeric") != NULL, "%s", reqs[1].error);
	ck_assert_int_eq(reqs[2].result, CB_DAS_ERROR);
	ck_assert_msg(strstr(reqs[2].error, "Calling-Station-Id") != NULL, "%s", reqs[2].error);
	ck_assert_uint_eq(reqs[2].transmissions, 0);
	ck_assert_int_eq(reqs[3].result, CB_DAS_ERROR);
	ck_assert_int_eq(cb_das_send(das, NULL, 1), -1);
	ck_assert_int_eq(cb_das_send(NULL, reqs, 1), -1);
	ck_assert_int_eq(cb_das_send(das, reqs, 0), 0);
	cb_das_deinit(das);
	responder_stop(r);
}
END_TEST

/*
 * Configuration, names.
 */

START_TEST(test_conf_and_names)
{
	cb_das_conf_t conf;
	cb_das_mode_t mode = CB_DAS_MODE_COA;
	unsigned int mask = 0;
	char err[512];

	cb_das_conf_defaults(&conf);
	ck_assert_uint_eq(conf.irt_ms, 2000);
	ck_assert_uint_eq(conf.mrc, 5);
	ck_assert_uint_eq(conf.mrt_ms, 16000);
	ck_assert_uint_eq(conf.mrd_ms, 30000);
	conf.irt_ms = 0;
	ck_assert_ptr_null(cb_das_init(&conf, err, sizeof(err)));
	ck_assert_msg(strstr(err, "irt_ms") != NULL, "%s", err);
	cb_das_conf_defaults(&conf);
	conf.mrc = 0;
	ck_assert_ptr_null(cb_das_init(&conf, err, sizeof(err)));
	ck_assert_msg(strstr(err, "mrc") != NULL, "%s", err);
	cb_das_conf_defaults(&conf);
	conf.mrd_ms = 100;
	ck_assert_ptr_null(cb_das_init(&conf, err, sizeof(err)));
	ck_assert_msg(strstr(err, "mrd_ms") != NULL, "%s", err);
	cb_das_conf_defaults(&conf);
	conf.mrt_ms = 5;
	ck_assert_ptr_null(cb_das_init(&conf, err, sizeof(err)));
	ck_assert_msg(strstr(err, "mrt_ms") != NULL, "%s", err);
	cb_das_conf_defaults(&conf);
	conf.source_address = "localhost";
	ck_assert_ptr_null(cb_das_init(&conf, err, sizeof(err)));
	ck_assert_msg(strstr(err, "source_address") != NULL, "%s", err);
	ck_assert_ptr_null(cb_das_init(NULL, err, sizeof(err)));
	cb_das_deinit(NULL);
	cb_das_cancel(NULL);

	ck_assert_ptr_nonnull(cb_das_profile_find("hostapd"));
	ck_assert_ptr_nonnull(cb_das_profile_find("RFC5176"));
	ck_assert_ptr_nonnull(cb_das_profile_find("Cisco"));
	ck_assert_ptr_null(cb_das_profile_find("cisko"));
	ck_assert_ptr_null(cb_das_profile_find(NULL));
	ck_assert_int_eq(cb_das_mode_parse("coa-then-disconnect", &mode), 0);
	ck_assert_int_eq(mode, CB_DAS_MODE_COA_THEN_DISCONNECT);
	ck_assert_int_eq(cb_das_mode_parse("bounce", &mode), -1);
	ck_assert_int_eq(mode, CB_DAS_MODE_COA_THEN_DISCONNECT);
	ck_assert_str_eq(cb_das_mode_name(CB_DAS_MODE_DISCONNECT), "disconnect");
	ck_assert_int_eq(cb_das_attrs_parse("NAS-IP-Address, user-name,Acct-Session-Id", &mask, err, sizeof(err)), 0);
	ck_assert_uint_eq(mask, CB_DAS_A_NAS_IP_ADDRESS | CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID);
	ck_assert_int_eq(cb_das_attrs_parse("User-Name, Class", &mask, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "\"Class\"") != NULL, "%s", err);
	ck_assert_uint_eq(mask, CB_DAS_A_NAS_IP_ADDRESS | CB_DAS_A_USER_NAME | CB_DAS_A_ACCT_SESSION_ID);
	ck_assert_int_eq(cb_das_attrs_parse("none", &mask, err, sizeof(err)), 0);
	ck_assert_uint_eq(mask, 0);

	ck_assert_str_eq(cb_das_error_cause_name(201), "Residual Session Context Removed");
	ck_assert_str_eq(cb_das_error_cause_name(401), "Unsupported Attribute");
	ck_assert_str_eq(cb_das_error_cause_name(403), "NAS Identification Mismatch");
	ck_assert_str_eq(cb_das_error_cause_name(503), "Session Context Not Found");
	ck_assert_str_eq(cb_das_error_cause_name(508), "Multiple Session Selection Unsupported");
	ck_assert_str_eq(cb_das_error_cause_name(999), "Unknown");
	ck_assert_str_eq(cb_das_code_name(40), "Disconnect-Request");
	ck_assert_str_eq(cb_das_code_name(45), "CoA-NAK");
	ck_assert_str_eq(cb_das_result_name(CB_DAS_TIMEOUT), "TIMEOUT");
}
END_TEST

/*
 * The packet layer's profile choice, and the name tables behind the settings.
 */

START_TEST(test_packet_profile_and_names)
{
	cb_das_nas_t nas = { .address = "127.0.0.1", .secret = SECRET };
	cb_das_request_t req = { .nas = &nas, .session = &alice };
	cb_das_profile_t own = *cb_das_profile_find("hostapd");
	cb_das_mode_t mode = CB_DAS_MODE_DISCONNECT;
	unsigned int mask = 0;
	char err[512];

	/* No profile: the shipped rfc5176 one; otherwise the NAS's own. */
	ck_assert_ptr_eq(cb_das_packet_profile(&req), cb_das_profile_find("rfc5176"));
	own.name = "own";
	nas.profile = &own;
	ck_assert_ptr_eq(cb_das_packet_profile(&req), &own);

	/* Settings are case-insensitive; names come back as the tables spell them. */
	ck_assert_int_eq(cb_das_mode_parse("COA", &mode), 0);
	ck_assert_int_eq(mode, CB_DAS_MODE_COA);
	ck_assert_int_eq(cb_das_mode_parse("coa-then", &mode), -1);
	ck_assert_int_eq(cb_das_mode_parse(NULL, &mode), -1);
	ck_assert_str_eq(cb_das_mode_name(CB_DAS_MODE_COA_THEN_DISCONNECT), "coa-then-disconnect");
	ck_assert_str_eq(cb_das_mode_name((cb_das_mode_t)7), "unknown");
	ck_assert_int_eq(cb_das_attrs_parse("CALLED-STATION-ID,framed-ip-address\tNone", &mask, err, sizeof(err)), 0);
	ck_assert_uint_eq(mask, CB_DAS_A_CALLED_STATION_ID | CB_DAS_A_FRAMED_IP_ADDRESS);
	ck_assert_int_eq(cb_das_attrs_parse("User-Nam", &mask, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown attribute \"User-Nam\": accepted are NAS-IP-Address, NAS-Identifier, User-Name, "
			 "Acct-Session-Id, Calling-Station-Id, Called-Station-Id, Framed-IP-Address, Event-Timestamp, "
			 "Message-Authenticator (or none)");
	ck_assert_str_eq(cb_das_result_name(CB_DAS_ACK), "ACK");
	ck_assert_str_eq(cb_das_result_name((cb_das_result_t)9), "unknown");
	ck_assert_str_eq(cb_das_code_name(44), "CoA-ACK");
	ck_assert_str_eq(cb_das_code_name(0), "unknown");
	ck_assert_str_eq(cb_das_code_name(0x10000 + 40), "unknown");
	ck_assert_str_eq(cb_das_error_cause_name(0x10000 + 503), "Unknown");
	ck_assert_str_eq(cb_das_profile_names(), "hostapd, rfc5176, aruba, cisco, meraki, mikrotik, ruckus, unifi");
}
END_TEST

/*
 * The vendor profiles: one table row each, checked on the packets they make.
 */

/** sent_types - the attribute types of pkt[0..len-1], in order, 0-terminated (at most n - 1). */
static void sent_types(uint8_t const *pkt, size_t len, uint8_t *types, size_t n)
{
	size_t pos, k = 0;

	for (pos = 20; pos + 2 <= len && pkt[pos + 1] >= 2 && k + 1 < n; pos += pkt[pos + 1]) types[k++] = pkt[pos];
	types[k] = 0;
}

START_TEST(test_vendor_profiles)
{
	static const struct {
		char const	*name;
		cb_das_mode_t	mode;
		uint16_t	port;
		char const	*types;		/* Attribute types of a Disconnect-Request for bob, in order. */
		char const	*calling;	/* Calling-Station-Id sent for bob's "02:00:00:0a:0b:0c". */
	} want[] = {
		{ "hostapd", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x04\x20\x01\x2c\x1f\x37", "02:00:00:0a:0b:0c" },
		{ "rfc5176", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x04\x20\x01\x2c\x1f\x37", "02:00:00:0a:0b:0c" },
		{ "aruba", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x01\x2c\x1f\x08\x37", "02:00:00:0a:0b:0c" },
		{ "cisco", CB_DAS_MODE_COA_THEN_DISCONNECT, 1700, "\x50\x04\x2c\x1f\x37", "02:00:00:0a:0b:0c" },
		{ "meraki", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x01\x1f\x37", "02-00-00-0A-0B-0C" },
		{ "mikrotik", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x01\x2c\x1f\x08\x37", "02:00:00:0A:0B:0C" },
		{ "ruckus", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x04\x01\x2c\x1f\x37", "02:00:00:0a:0b:0c" },
		{ "unifi", CB_DAS_MODE_DISCONNECT, 3799, "\x50\x01\x1f\x37", "02:00:00:0a:0b:0c" },
	};
	cb_das_session_t const bob = {
		.nas_ip_address = "192.0.2.7", .nas_identifier = "ap-7", .user_name = "anonymous@school.example",
		.acct_session_id = "5F3A-0001", .calling_station_id = "02:00:00:0a:0b:0c",
		.called_station_id = "02-00-00-00-00-07:Staff", .framed_ip_address = "10.1.2.3",
	};
	char names[256], *tok, *save = NULL;
	cb_das_nas_t nas;
	cb_das_request_t req = { .nas = &nas, .session = &bob };
	uint8_t pkt[4096], types[64];
	char err[256];
	size_t i, len, off, n = 0;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cb_das_profile_t const *p;

		nas_for(&nas, 0, want[i].name);
		p = nas.profile;
		ck_assert_str_eq(p->name, want[i].name);
		ck_assert_int_eq(p->mode, want[i].mode);
		ck_assert_uint_eq(p->port, want[i].port);
		ck_assert_int_eq(cb_das_packet_encode(&req, 40, 7, 1700000000u, pkt, sizeof(pkt), &len, err, sizeof(err)), 0);
		sent_types(pkt, len, types, sizeof(types));
		ck_assert_msg(strcmp((char const *)types, want[i].types) == 0, "%s: attributes sent differ", want[i].name);
		off = find_attr(pkt, len, 31);
		ck_assert_uint_eq(pkt[off + 1], 2 + strlen(want[i].calling));
		ck_assert_msg(memcmp(pkt + off + 2, want[i].calling, strlen(want[i].calling)) == 0, "%s: Calling-Station-Id",
			      want[i].name);
		/* A Disconnect-Request never carries the CoA's authorisation change. */
		ck_assert_uint_eq(find_attr(pkt, len, 26), 0);
	}
	/* The names the messages list are the table's, each found. */
	snprintf(names, sizeof(names), "%s", cb_das_profile_names());
	for (tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), n++) {
		ck_assert_ptr_nonnull(cb_das_profile_find(tok));
		ck_assert_str_eq(cb_das_profile_find(tok)->name, want[n].name);
	}
	ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
}
END_TEST

START_TEST(test_cisco_coa_reauthenticate)
{
	static char const avpair[] = "subscriber:command=reauthenticate";
	cb_das_nas_t nas;
	cb_das_request_t req = { .nas = &nas, .session = &alice };
	uint8_t pkt[4096];
	char err[256];
	size_t len, off;

	nas_for(&nas, 0, "cisco");
	ck_assert_int_eq(cb_das_packet_encode(&req, 43, 9, 1700000000u, pkt, sizeof(pkt), &len, err, sizeof(err)), 0);
	off = find_attr(pkt, len, 26);
	ck_assert_uint_ne(off, 0);
	/* RFC 2865 section 5.26: Vendor-Id 9 (Cisco), Cisco-AVPair (1) of dictionary.cisco. */
	ck_assert_uint_eq(pkt[off + 1], 2 + 6 + strlen(avpair));
	ck_assert_mem_eq(pkt + off + 2, "\x00\x00\x00\x09\x01", 5);
	ck_assert_uint_eq(pkt[off + 7], 2 + strlen(avpair));
	ck_assert_mem_eq(pkt + off + 8, avpair, strlen(avpair));
	/* Identification as for the Disconnect; no User-Name, no NAS-Identifier (not among Cisco's). */
	ck_assert_uint_ne(find_attr(pkt, len, 31), 0);
	ck_assert_uint_ne(find_attr(pkt, len, 44), 0);
	ck_assert_uint_eq(find_attr(pkt, len, 1), 0);
	ck_assert_uint_eq(find_attr(pkt, len, 32), 0);
	/* The session must have Calling-Station-Id. */
	{
		cb_das_session_t s = alice;

		s.calling_station_id = NULL;
		req.session = &s;
		ck_assert_int_eq(cb_das_packet_encode(&req, 43, 9, 1700000000u, pkt, sizeof(pkt), &len, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "profile cisco needs Calling-Station-Id") != NULL, "%s", err);
	}
}
END_TEST

START_TEST(test_calling_station_formats)
{
	cb_das_profile_t prof = *cb_das_profile_find("rfc5176");
	char out[CB_DAS_PACKET_MAC_MAX + 1];
	char const *f = "x";

	/* As accounting had it unless the profile names a spelling. */
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "02:00:00:0a:0b:0c", out), "02:00:00:0a:0b:0c");
	ck_assert_int_eq(cb_das_mac_format_find("aabb.ccdd.eeff", &prof.calling_station_format), 0);
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "02-00-00-0A-0B-0C", out), "0200.000a.0b0c");
	ck_assert_int_eq(cb_das_mac_format_find("AABBCCDDEEFF", &prof.calling_station_format), 0);
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "0200.000a.0b0c", out), "0200000A0B0C");
	ck_assert_int_eq(cb_das_mac_format_find("aa:bb:cc:dd:ee:ff", &prof.calling_station_format), 0);
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "0200000A0B0C", out), "02:00:00:0a:0b:0c");
	/* Not one MAC (a PPP caller's address, trailing text): unchanged. */
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "192.0.2.1", out), "192.0.2.1");
	ck_assert_str_eq(cb_das_packet_calling_station(&prof, "02-00-00-0A-0B-0C:x", out), "02-00-00-0A-0B-0C:x");
	ck_assert_int_eq(cb_das_mac_format_find("as-is", &prof.calling_station_format), 0);
	ck_assert_ptr_null(prof.calling_station_format);
	ck_assert_int_eq(cb_das_mac_format_find("AA.BB", &f), -1);
	ck_assert_str_eq(f, "x");
	ck_assert_int_eq(cb_das_mac_format_find(NULL, &f), -1);
}
END_TEST

/*
 * The queue: one lane per NAS, so a silent NAS holds up only its own lane.
 */

static void queue_notify(void *ctx)
{
	(void)ctx;
}

/** collect_one - wait (at most ms) for one finished request of q. */
static cb_das_request_t *collect_one(cb_das_queue_t *q, int ms)
{
	cb_das_request_t *done = NULL;

	for (int i = 0; i < ms / 5; i++) {
		if (cb_das_queue_collect(q, &done, 1) == 1) return done;
		usleep(5000);
	}
	return NULL;
}

START_TEST(test_queue_silent_nas_holds_only_its_lane)
{
	responder_t *silent = responder_start(R_SILENT, 0), *healthy = responder_start(R_ACK, 0);
	cb_das_t *das = sender(200, 3, 0, 1500);
	cb_das_nas_t nas_silent, nas_healthy;
	cb_das_request_t r1 = { .session = &alice }, r2 = { .session = &alice }, r3 = { .session = &alice };
	cb_das_request_t *done;
	cb_das_queue_t *q;
	char err[160];
	uint64_t t0;

	nas_for(&nas_silent, silent->port, "rfc5176");
	nas_for(&nas_healthy, healthy->port, "rfc5176");
	r1.nas = &nas_silent;
	r2.nas = &nas_healthy;
	r3.nas = &nas_silent;
	q = cb_das_queue_new(das, 2, 1, queue_notify, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(cb_das_queue_submit(q, 0, &r1, err, sizeof(err)), 0);
	cb_das_queue_flush(q);
	/* A lane holds at most max_queued (1 here): the second request to the silent NAS waits in the caller. */
	ck_assert_int_eq(cb_das_queue_submit(q, 0, &r3, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "already queued or in flight") != NULL, "%s", err);
	ck_assert_int_eq(cb_das_queue_submit(q, 2, &r3, err, sizeof(err)), -1);
	usleep(50000);
	t0 = mono_us();
	ck_assert_int_eq(cb_das_queue_submit(q, 1, &r2, err, sizeof(err)), 0);
	cb_das_queue_flush(q);
	done = collect_one(q, 1000);
	ck_assert_ptr_eq(done, &r2);
	ck_assert_int_eq(r2.result, CB_DAS_ACK);
	ck_assert_msg(mono_us() - t0 < 500000, "the healthy NAS's ACK took %.1f ms while the other NAS was silent",
		      (double)(mono_us() - t0) / 1000.0);
	ck_assert_uint_eq(cb_das_queue_held(q, 0), 1);
	ck_assert_uint_eq(cb_das_queue_held(q, 1), 0);
	/* The silent NAS's request ends by itself, as TIMEOUT, after max_duration. */
	done = collect_one(q, 3000);
	ck_assert_ptr_eq(done, &r1);
	ck_assert_int_eq(r1.result, CB_DAS_TIMEOUT);
	ck_assert_uint_eq(r1.transmissions, 3);
	ck_assert_uint_eq(cb_das_queue_held(q, 0), 0);
	cb_das_cancel(das);
	cb_das_queue_free(q);
	cb_das_deinit(das);
	responder_stop(silent);
	responder_stop(healthy);
}
END_TEST

START_TEST(test_queue_free_cancels)
{
	responder_t *silent = responder_start(R_SILENT, 0);
	cb_das_t *das = sender(1000, 5, 0, 30000);
	cb_das_nas_t nas;
	cb_das_request_t r = { .session = &alice };
	cb_das_queue_t *q;
	char err[160];
	uint64_t t0;

	nas_for(&nas, silent->port, "rfc5176");
	r.nas = &nas;
	q = cb_das_queue_new(das, 1, 4, queue_notify, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(cb_das_queue_submit(q, 0, &r, err, sizeof(err)), 0);
	cb_das_queue_flush(q);
	usleep(50000);
	t0 = mono_us();
	cb_das_cancel(das);
	cb_das_queue_free(q);	/* Joins the lane, which was waiting 30 s for the silent NAS. */
	ck_assert_msg(mono_us() - t0 < 1000000, "freeing the queue took %.1f ms", (double)(mono_us() - t0) / 1000.0);
	cb_das_deinit(das);
	responder_stop(silent);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("das");
	TCase *enc = tcase_create("encoding");
	TCase *wire = tcase_create("wire");
	SRunner *sr;
	int failed;

	tcase_add_test(enc, test_encode_disconnect);
	tcase_add_test(enc, test_encode_coa_vsa_ipv6);
	tcase_add_test(enc, test_encode_refusals);
	tcase_add_test(enc, test_check_valid);
	tcase_add_test(enc, test_check_refused);
	tcase_add_test(enc, test_conf_and_names);
	tcase_add_test(enc, test_packet_profile_and_names);
	tcase_add_test(enc, test_vendor_profiles);
	tcase_add_test(enc, test_cisco_coa_reauthenticate);
	tcase_add_test(enc, test_calling_station_formats);
	suite_add_tcase(s, enc);

	tcase_set_timeout(wire, 30);
	tcase_add_test(wire, test_retransmit_same_bytes_and_backoff);
	tcase_add_test(wire, test_backoff_capped_by_mrt);
	tcase_add_test(wire, test_timeout_after_mrc);
	tcase_add_test(wire, test_timeout_bounded_by_mrd);
	tcase_add_test(wire, test_nak_error_cause);
	tcase_add_test(wire, test_forged_answer_dropped);
	tcase_add_test(wire, test_answer_from_other_port_dropped);
	tcase_add_test(wire, test_require_response_authenticator);
	tcase_add_test(wire, test_coa_then_disconnect);
	tcase_add_test(wire, test_burst_concurrent);
	tcase_add_test(wire, test_fallback_waits_for_identifiers);
	tcase_add_test(wire, test_dead_nas_fails_fast);
	tcase_add_test(wire, test_cancel);
	tcase_add_test(wire, test_bad_requests_do_not_stop_others);
	tcase_add_test(wire, test_queue_silent_nas_holds_only_its_lane);
	tcase_add_test(wire, test_queue_free_cancels);
	suite_add_tcase(s, wire);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
