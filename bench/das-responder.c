/*
 * das-responder.c - a Dynamic Authorization Server (RFC 5176) for the
 * cetbyod benchmarks: it answers every valid Disconnect-Request with a
 * Disconnect-ACK (and every CoA-Request with a CoA-ACK), correctly signed,
 * and logs when it did so.
 *
 * bench/run needs a NAS that answers for a hundred sessions at once, and
 * hostapd needs a real 802.1X station per session, so the revocation and
 * promotion benchmarks point the module's enforce { nas } entry here.  It
 * owns one UDP socket on a loopback address and its log file; it keeps no
 * session table: every request that is well formed and correctly signed
 * is acknowledged.
 *
 * Checks on a request (silently dropped when one fails, and counted):
 * length and header; every attribute inside the Length;
 * Request Authenticator = MD5(Code+Identifier+Length+16 zero octets+
 * Attributes+Secret) (RFC 5176 section 2.3); Message-Authenticator, when
 * present, = HMAC-MD5 over the packet with the authenticator and itself
 * zeroed (section 3.5).  Comparisons are constant time (CRYPTO_memcmp).
 *
 * The answer carries Message-Authenticator (HMAC-MD5 over the answer with
 * the Request Authenticator in place, RFC 3579 section 3.2) and the
 * Response Authenticator = MD5(Code+Identifier+Length+Request
 * Authenticator+Attributes+Secret).  A retransmission (same source,
 * Identifier and authenticator as an answered request) gets the same answer
 * again and is logged as a duplicate.
 *
 * Log lines, one per answer, flushed at once:
 *   <unix time in s with 6 decimals> <answer code name> id=<n> from=<port>
 *   user=<User-Name> session=<Acct-Session-Id> dup=<0|1>
 * Non-printable octets in the values are shown as '?'.
 *
 * Bounds: it exits after --max-requests answers or --max-seconds, and on
 * SIGTERM/SIGINT, removing its port file.  Only loopback addresses are
 * accepted for --listen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <openssl/params.h>

#define DR_MAX_PACKET		4096
#define DR_MAX_SECRET		128
#define DR_MAX_SECONDS		3600
#define HDR_LEN			20
#define AUTH_OFF		4
#define AUTH_LEN		16
#define MA_LEN			16

#define CODE_DISCONNECT_REQUEST	40
#define CODE_DISCONNECT_ACK	41
#define CODE_COA_REQUEST	43
#define CODE_COA_ACK		44

#define ATTR_USER_NAME		1
#define ATTR_ACCT_SESSION_ID	44
#define ATTR_MESSAGE_AUTH	80

/* The last answer per Identifier, to answer a retransmission alike. */
typedef struct {
	bool			used;
	struct sockaddr_storage	from;
	socklen_t		fromlen;
	uint8_t			req_auth[AUTH_LEN];
	uint8_t			answer[HDR_LEN + 2 + MA_LEN];
	size_t			answer_len;
} dr_cache_t;

typedef struct {
	int			fd;
	char			secret[DR_MAX_SECRET + 1];
	size_t			secret_len;
	FILE			*log;
	char const		*port_file;
	unsigned long		max_requests;
	unsigned long		max_seconds;
	unsigned long		answered, duplicates, dropped;
	EVP_MD			*md5;
	EVP_MD_CTX		*mdctx;
	EVP_MAC			*mac;
	EVP_MAC_CTX		*macctx;
	dr_cache_t		cache[256];
} dr_t;

static volatile sig_atomic_t dr_stop;

static void dr_on_signal(int sig)
{
	(void) sig;
	dr_stop = 1;
}

static int md5_parts(dr_t *dr, uint8_t out[16], uint8_t const *pkt, size_t len, uint8_t const auth[AUTH_LEN])
{
	unsigned int olen = 0;

	return (EVP_DigestInit_ex2(dr->mdctx, dr->md5, NULL) == 1 &&
		EVP_DigestUpdate(dr->mdctx, pkt, AUTH_OFF) == 1 &&
		EVP_DigestUpdate(dr->mdctx, auth, AUTH_LEN) == 1 &&
		EVP_DigestUpdate(dr->mdctx, pkt + HDR_LEN, len - HDR_LEN) == 1 &&
		EVP_DigestUpdate(dr->mdctx, dr->secret, dr->secret_len) == 1 &&
		EVP_DigestFinal_ex(dr->mdctx, out, &olen) == 1 && olen == 16) ? 0 : -1;
}

static int hmac_md5(dr_t *dr, uint8_t out[16], uint8_t const *data, size_t len)
{
	size_t olen = 0;

	return (EVP_MAC_init(dr->macctx, (unsigned char const *) dr->secret, dr->secret_len, NULL) == 1 &&
		EVP_MAC_update(dr->macctx, data, len) == 1 &&
		EVP_MAC_final(dr->macctx, out, &olen, 16) == 1 && olen == 16) ? 0 : -1;
}

/** printable - value[0..len) for the log, non-printable octets as '?'. */
static void printable(uint8_t const *value, size_t len, char *buf, size_t buflen)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < buflen; i++) buf[n++] = (value[i] >= 0x20 && value[i] < 0x7f) ? (char) value[i] : '?';
	buf[n] = '\0';
	if (n == 0 && buflen > 1) {
		buf[0] = '-';
		buf[1] = '\0';
	}
}

/**
 * check_request - validate pkt[0..n); on success *len is its Length and
 * user/session hold the values for the log.  Returns 0, or -1 (drop it).
 */
static int check_request(dr_t *dr, uint8_t *pkt, size_t n, size_t *len, char *user, char *session, size_t vlen)
{
	uint8_t zero[AUTH_LEN] = { 0 }, digest[16], auth[AUTH_LEN], ma[MA_LEN];
	size_t plen, pos, ma_off = 0;

	if (n < HDR_LEN) return -1;
	if (pkt[0] != CODE_DISCONNECT_REQUEST && pkt[0] != CODE_COA_REQUEST) return -1;
	plen = ((size_t) pkt[2] << 8) | pkt[3];
	if (plen < HDR_LEN || plen > n) return -1;
	user[0] = session[0] = '\0';
	for (pos = HDR_LEN; pos < plen;) {
		uint8_t alen;

		if (plen - pos < 2) return -1;
		alen = pkt[pos + 1];
		if (alen < 2 || alen > plen - pos) return -1;
		switch (pkt[pos]) {
		case ATTR_MESSAGE_AUTH:
			if (alen != 2 + MA_LEN || ma_off) return -1;
			ma_off = pos;
			break;
		case ATTR_USER_NAME:
			printable(pkt + pos + 2, alen - 2u, user, vlen);
			break;
		case ATTR_ACCT_SESSION_ID:
			printable(pkt + pos + 2, alen - 2u, session, vlen);
			break;
		default:
			break;
		}
		pos += alen;
	}
	if (md5_parts(dr, digest, pkt, plen, zero) < 0 || CRYPTO_memcmp(digest, pkt + AUTH_OFF, AUTH_LEN) != 0) return -1;
	if (ma_off) {
		memcpy(auth, pkt + AUTH_OFF, AUTH_LEN);
		memcpy(ma, pkt + ma_off + 2, MA_LEN);
		memset(pkt + AUTH_OFF, 0, AUTH_LEN);
		memset(pkt + ma_off + 2, 0, MA_LEN);
		if (hmac_md5(dr, digest, pkt, plen) < 0) return -1;
		memcpy(pkt + AUTH_OFF, auth, AUTH_LEN);
		memcpy(pkt + ma_off + 2, ma, MA_LEN);
		if (CRYPTO_memcmp(digest, ma, MA_LEN) != 0) return -1;
	}
	*len = plen;
	return 0;
}

/** build_answer - the signed ACK of the request pkt, into c->answer.  0 or -1. */
static int build_answer(dr_t *dr, uint8_t const *pkt, dr_cache_t *c)
{
	uint8_t *a = c->answer;
	uint8_t digest[16];

	a[0] = (uint8_t) (pkt[0] + 1);		/* 40 -> 41, 43 -> 44. */
	a[1] = pkt[1];
	a[2] = 0;
	a[3] = HDR_LEN + 2 + MA_LEN;
	memcpy(a + AUTH_OFF, pkt + AUTH_OFF, AUTH_LEN);		/* The Request Authenticator, for the HMAC. */
	a[HDR_LEN] = ATTR_MESSAGE_AUTH;
	a[HDR_LEN + 1] = 2 + MA_LEN;
	memset(a + HDR_LEN + 2, 0, MA_LEN);
	if (hmac_md5(dr, digest, a, HDR_LEN + 2 + MA_LEN) < 0) return -1;
	memcpy(a + HDR_LEN + 2, digest, MA_LEN);
	if (md5_parts(dr, digest, a, HDR_LEN + 2 + MA_LEN, pkt + AUTH_OFF) < 0) return -1;
	memcpy(a + AUTH_OFF, digest, AUTH_LEN);
	c->answer_len = HDR_LEN + 2 + MA_LEN;
	memcpy(c->req_auth, pkt + AUTH_OFF, AUTH_LEN);
	return 0;
}

static bool same_peer(struct sockaddr_storage const *a, struct sockaddr_storage const *b)
{
	if (a->ss_family != b->ss_family) return false;
	if (a->ss_family == AF_INET) {
		struct sockaddr_in const *x = (struct sockaddr_in const *) a, *y = (struct sockaddr_in const *) b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	{
		struct sockaddr_in6 const *x = (struct sockaddr_in6 const *) a, *y = (struct sockaddr_in6 const *) b;

		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
}

static unsigned int peer_port(struct sockaddr_storage const *a)
{
	if (a->ss_family == AF_INET) return ntohs(((struct sockaddr_in const *) a)->sin_port);
	return ntohs(((struct sockaddr_in6 const *) a)->sin6_port);
}

static void handle(dr_t *dr, uint8_t *pkt, size_t n, struct sockaddr_storage const *from, socklen_t fromlen)
{
	char user[128], session[128];
	struct timespec ts;
	dr_cache_t *c;
	size_t len;
	bool dup;

	if (check_request(dr, pkt, n, &len, user, session, sizeof(user)) < 0) {
		dr->dropped++;
		return;
	}
	c = &dr->cache[pkt[1]];
	dup = c->used && same_peer(&c->from, from) && CRYPTO_memcmp(c->req_auth, pkt + AUTH_OFF, AUTH_LEN) == 0;
	if (!dup) {
		if (build_answer(dr, pkt, c) < 0) {
			dr->dropped++;
			return;
		}
		c->used = true;
		c->from = *from;
		c->fromlen = fromlen;
	}
	if (sendto(dr->fd, c->answer, c->answer_len, 0, (struct sockaddr const *) from, fromlen) < 0) {
		fprintf(stderr, "das-responder: sendto: %s\n", strerror(errno));
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (dup) dr->duplicates++;
	else dr->answered++;
	if (dr->log) {
		fprintf(dr->log, "%lld.%06ld %s id=%u from=%u user=%s session=%s dup=%d\n", (long long) ts.tv_sec,
			ts.tv_nsec / 1000, c->answer[0] == CODE_DISCONNECT_ACK ? "Disconnect-ACK" : "CoA-ACK", pkt[1],
			peer_port(from), user, session, dup ? 1 : 0);
		fflush(dr->log);
	}
}

static int parse_ulong(char const *opt, char const *arg, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "das-responder: %s \"%s\": expected a whole number from %lu to %lu\n", opt, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/** write_port_file - the bound port into path, atomically (temp file, rename).  0 or -1. */
static int write_port_file(char const *path, unsigned int port)
{
	char tmp[4096];
	FILE *fp;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t) n >= sizeof(tmp)) return -1;
	fp = fopen(tmp, "w");
	if (!fp) return -1;
	fprintf(fp, "%u\n", port);
	if (fclose(fp) != 0) return -1;
	return rename(tmp, path);
}

static void usage(FILE *fp)
{
	fprintf(fp, "usage: das-responder --secret SECRET [--listen 127.0.0.1] [--port N] [--port-file PATH]\n"
		"                     [--log PATH] [--max-requests N] [--max-seconds S]\n"
		"Answers valid Disconnect-Requests with Disconnect-ACK (CoA with CoA-ACK) on a loopback address.\n");
}

int main(int argc, char **argv)
{
	static struct option const opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "secret", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'L' },
		{ "max-requests", required_argument, NULL, 'n' },
		{ "max-seconds", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static dr_t dr;
	char const *listen_addr = "127.0.0.1", *log_path = NULL;
	unsigned long port = 0;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct sigaction sa;
	struct timespec start;
	OSSL_PARAM params[2];
	bool wrote_port_file = false;
	int c, rc = 1;

	dr.fd = -1;
	dr.max_requests = 1000000;
	dr.max_seconds = 900;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_addr = optarg; break;
		case 'p': if (parse_ulong("--port", optarg, 0, 65535, &port) < 0) return 1; break;
		case 'P': dr.port_file = optarg; break;
		case 's':
			dr.secret_len = strlen(optarg);
			if (dr.secret_len == 0 || dr.secret_len > DR_MAX_SECRET) {
				fprintf(stderr, "das-responder: --secret must be 1 to %d bytes\n", DR_MAX_SECRET);
				return 1;
			}
			memcpy(dr.secret, optarg, dr.secret_len + 1);
			break;
		case 'L': log_path = optarg; break;
		case 'n': if (parse_ulong("--max-requests", optarg, 1, 100000000, &dr.max_requests) < 0) return 1; break;
		case 't': if (parse_ulong("--max-seconds", optarg, 1, DR_MAX_SECONDS, &dr.max_seconds) < 0) return 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || !dr.secret_len) {
		usage(stderr);
		return 1;
	}

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, listen_addr, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127) goto remote;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t) port);
		sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, listen_addr, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) goto remote;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t) port);
		sslen = sizeof(*s6);
	} else {
		fprintf(stderr, "das-responder: --listen \"%s\" is not a numeric address\n", listen_addr);
		return 1;
	}

	dr.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	dr.mdctx = EVP_MD_CTX_new();
	dr.mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	dr.macctx = dr.mac ? EVP_MAC_CTX_new(dr.mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "MD5", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!dr.md5 || !dr.mdctx || !dr.macctx || EVP_MAC_CTX_set_params(dr.macctx, params) != 1) {
		fprintf(stderr, "das-responder: OpenSSL has no MD5 or HMAC\n");
		goto done;
	}
	if (log_path) {
		dr.log = fopen(log_path, "a");
		if (!dr.log) {
			fprintf(stderr, "das-responder: cannot open %s: %s\n", log_path, strerror(errno));
			goto done;
		}
	}
	dr.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (dr.fd < 0 || bind(dr.fd, (struct sockaddr *) &ss, sslen) < 0 ||
	    getsockname(dr.fd, (struct sockaddr *) &ss, &sslen) < 0) {
		fprintf(stderr, "das-responder: cannot bind %s port %lu: %s\n", listen_addr, port, strerror(errno));
		goto done;
	}
	if (dr.port_file && write_port_file(dr.port_file, peer_port(&ss)) < 0) {
		fprintf(stderr, "das-responder: cannot write %s: %s\n", dr.port_file, strerror(errno));
		goto done;
	}
	wrote_port_file = dr.port_file != NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dr_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);

	while (!dr_stop && dr.answered < dr.max_requests) {
		struct pollfd pfd = { .fd = dr.fd, .events = POLLIN };
		struct timespec now;
		uint8_t buf[DR_MAX_PACKET];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long) (now.tv_sec - start.tv_sec) >= dr.max_seconds) break;
		if (poll(&pfd, 1, 200) <= 0) continue;
		n = recvfrom(dr.fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *) &from, &fromlen);
		if (n < 0) continue;
		handle(&dr, buf, (size_t) n, &from, fromlen);
	}
	fprintf(stderr, "das-responder: %lu answered, %lu duplicates, %lu dropped\n", dr.answered, dr.duplicates,
		dr.dropped);
	rc = 0;
done:
	if (wrote_port_file) unlink(dr.port_file);
	if (dr.fd >= 0) close(dr.fd);
	if (dr.log) fclose(dr.log);
	EVP_MAC_CTX_free(dr.macctx);
	EVP_MAC_free(dr.mac);
	EVP_MD_CTX_free(dr.mdctx);
	EVP_MD_free(dr.md5);
	OPENSSL_cleanse(dr.secret, sizeof(dr.secret));
	return rc;
remote:
	fprintf(stderr, "das-responder: --listen %s is not a loopback address (127.0.0.0/8, ::1)\n", listen_addr);
	return 1;
}
