/*
 * das.c - the sender loop of the RFC 5176 Dynamic Authorization Client: it
 * owns the sockets, the retransmission of Disconnect-Request and
 * CoA-Request, and the matching of answers to the requests outstanding.
 * It keeps no state between calls.  The packets themselves (encoding,
 * checking answers, profiles and names) are das_packet.c's, which has no
 * sockets, threads or clock and is what the fuzz targets exercise.
 *
 * Why not FreeRADIUS's own packet library
 * ---------------------------------------
 * libfreeradius-radius (rad_encode, rad_sign, rad_verify) was considered and
 * not used, for four reasons.  Its header libradius.h cannot be compiled
 * without the server's generated autoconf.h/build.h forced in front of it,
 * and the core must build without FreeRADIUS headers (it is linked into
 * cetbyodctl and the unit tests too).  It encodes only through the global
 * dictionary (dict_init on a raddb directory), process-wide state that
 * cetbyodctl would have to load and that inside radiusd belongs to the
 * server.  Its MD5 and HMAC-MD5 are its own code (md5.c over the low-level
 * MD5_* API, hmacmd5.c hand-rolled), where this project uses OpenSSL's EVP
 * only.  And its packet list and rad_recv() would decide the socket and ID
 * discipline that this file has to control for concurrent bursts.  What we
 * need is small: a header, at most a dozen attributes from a closed list,
 * two digests.  So das_packet.c encodes them itself, with every length
 * checked against a fixed 4096-octet buffer, and uses EVP for MD5 and
 * HMAC-MD5.
 *
 * Packets
 * -------
 * A request is encoded once per phase (cb_das_packet_encode, see
 * das_packet.c) and its bytes are kept and resent unchanged: a
 * retransmission has the same Identifier, the same Event-Timestamp and so
 * the same authenticator, which is what lets the NAS's duplicate detection
 * (RFC 5080 section 2.2.2) recognise it and what RFC 5176 section 6.3 asks
 * for.
 *
 * An answer is accepted only when it comes from the address and port the
 * request went to, carries an Identifier with a request outstanding on that
 * socket, and passes cb_das_packet_check_answer (the ACK or NAK code of
 * that request, every attribute inside the Length, the Response
 * Authenticator and Message-Authenticator, the Event-Timestamp window).
 * Anything else is logged and dropped, and the request keeps waiting: a
 * forged or damaged answer can neither end a request nor stop its
 * retransmissions.
 *
 * Retransmission (RFC 5080 section 2.2.1)
 * ---------------------------------------
 * Each request has its own timer.  The first retransmission timeout is
 *
 *	RT = IRT + RAND*IRT,		RAND uniform in [-0.1, +0.1]
 *
 * and each following one doubles the previous, with fresh jitter:
 *
 *	RT = 2*RTprev + RAND*RTprev,	and if RT > MRT: RT = MRT + RAND*MRT.
 *
 * A request fails (TIMEOUT) when the RT of its MRC-th transmission has run
 * out, or MRD after its first transmission, whichever comes first; the
 * timer is never set beyond the MRD deadline.  Worked example with the
 * defaults IRT 2 s, MRC 5, MRT 16 s, MRD 30 s and an unreachable NAS (the
 * jitter drawn is shown in brackets):
 *
 *	t =  0.00 s  transmission 1   RT = 2 + (-0.05)*2          = 1.90 s
 *	t =  1.90 s  transmission 2   RT = 2*1.90 + (+0.03)*1.90  = 3.86 s
 *	t =  5.76 s  transmission 3   RT = 2*3.86 + (-0.08)*3.86  = 7.41 s
 *	t = 13.17 s  transmission 4   RT = 2*7.41 + (+0.10)*7.41  = 15.56 s (< MRT)
 *	t = 28.73 s  transmission 5   RT = 2*15.56 ... > MRT, so 16 + (0.02)*16 = 16.32 s,
 *	                              but MRD ends at 30.00 s: the timer is set there
 *	t = 30.00 s  TIMEOUT after 5 transmissions
 *
 * Had the NAS answered the third transmission, the request would be done
 * at t = 5.76 s + round trip, and the answer would carry the Identifier and
 * authenticator of the first transmission, because they are the same bytes.
 * Tests and the benchmark use an IRT of a few tens of milliseconds; the
 * arithmetic is the same.
 *
 * Concurrency
 * -----------
 * cb_das_send() runs a whole array of requests in one poll() loop.  Each
 * call opens its own UDP sockets (so calls on several threads do not share
 * Identifier space), each socket hands out each of its 256 Identifiers at
 * most once, starting at a random one, and is closed when all 256 have been
 * used and answered; a burst of 1000 revocations uses four sockets, and an
 * Identifier is never reused towards a NAS while the NAS may still hold the
 * old request in its duplicate cache.  Up to max_sockets are open at once.
 * Requests to one NAS are started in order, at most max_inflight_per_nas at
 * a time, so that a burst does not overflow the NAS's receive queue (which
 * would cost a whole IRT of delay); requests to different NASes proceed
 * independently.  If a request to a NAS times out and that NAS has not
 * answered anything in this call, the requests to it that have not started
 * yet fail at once (TIMEOUT, "not sent") instead of each waiting out its own
 * MRD: the caller retries them later.
 *
 * For coa-then-disconnect, a CoA-NAK starts a second phase: a
 * Disconnect-Request with a new Identifier, a new Event-Timestamp and its
 * own schedule.  A CoA that times out does not fall back (a NAS that does
 * not answer a CoA will not answer a Disconnect either).
 *
 * Every loop is bounded: the poll loop by a deadline computed from MRD and
 * the queue lengths, and by a count of iterations; the receive loop by a
 * number of datagrams per wake-up (and das_packet.c's attribute walk by the
 * packet length).
 */
#define _GNU_SOURCE		/* pipe2, strerror_r returning char * */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/clock.h"
#include "enforce/das.h"
#include "enforce/das_packet.h"

#define RECV_BURST	256		/* Datagrams read per socket per wake-up. */
#define ID_SPACE	256

struct cb_das {
	cb_das_conf_t		conf;
	char			*source_address;	/* Owned copy of conf.source_address. */
	struct sockaddr_storage	src;
	socklen_t		srclen;			/* 0: no source address. */
	int			cancel_rd;		/* Readable once cancelled. */
	int			cancel_wr;
};

/*
 * The sender
 */

void cb_das_conf_defaults(cb_das_conf_t *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->irt_ms = 2000;
	conf->mrc = 5;
	conf->mrt_ms = 16000;
	conf->mrd_ms = 30000;
	conf->time_window = 300;
	conf->max_inflight_per_nas = 32;
	conf->max_sockets = 16;
}

/** parse_address - a numeric address and port into a sockaddr.  Returns: 0, or -1. */
static int parse_address(char const *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!s) return -1;
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

/** errtext - the message of errno value e, in buf if need be (strerror is not thread-safe). */
static char const *errtext(int e, char *buf, size_t buflen)
{
	return strerror_r(e, buf, buflen);
}

/** conf_check - every setting in range.  Returns: 0, or -1 with err naming the bad setting. */
static int conf_check(cb_das_conf_t const *conf, char *err, size_t errlen)
{
	if (!conf) {
		snprintf(err, errlen, "no configuration");
		return -1;
	}
	if (conf->irt_ms < 1 || conf->irt_ms > 60000) {
		snprintf(err, errlen, "irt_ms %u is out of range: 1 to 60000", conf->irt_ms);
		return -1;
	}
	if (conf->mrc < 1 || conf->mrc > 20) {
		snprintf(err, errlen, "mrc %u is out of range: 1 to 20 transmissions", conf->mrc);
		return -1;
	}
	if (conf->mrt_ms != 0 && (conf->mrt_ms < conf->irt_ms || conf->mrt_ms > 600000)) {
		snprintf(err, errlen, "mrt_ms %u is out of range: 0 (no limit) or irt_ms (%u) to 600000",
			 conf->mrt_ms, conf->irt_ms);
		return -1;
	}
	if (conf->mrd_ms < conf->irt_ms || conf->mrd_ms > 600000) {
		snprintf(err, errlen, "mrd_ms %u is out of range: irt_ms (%u) to 600000", conf->mrd_ms, conf->irt_ms);
		return -1;
	}
	if (conf->time_window < 1 || conf->time_window > 86400) {
		snprintf(err, errlen, "time_window %u is out of range: 1 to 86400 seconds", conf->time_window);
		return -1;
	}
	if (conf->max_inflight_per_nas < 1 || conf->max_inflight_per_nas > 4096) {
		snprintf(err, errlen, "max_inflight_per_nas %u is out of range: 1 to 4096", conf->max_inflight_per_nas);
		return -1;
	}
	if (conf->max_sockets < 1 || conf->max_sockets > 256) {
		snprintf(err, errlen, "max_sockets %u is out of range: 1 to 256", conf->max_sockets);
		return -1;
	}
	return 0;
}

cb_das_t *cb_das_init(cb_das_conf_t const *conf, char *err, size_t errlen)
{
	cb_das_t *das;
	char eb[128];
	int fds[2];

	if (conf_check(conf, err, errlen) < 0) return NULL;
	das = calloc(1, sizeof(*das));
	if (!das) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	das->conf = *conf;
	das->cancel_rd = das->cancel_wr = -1;
	if (conf->source_address) {
		if (parse_address(conf->source_address, 0, &das->src, &das->srclen) < 0) {
			snprintf(err, errlen, "source_address \"%s\" is not a numeric IPv4 or IPv6 address",
				 conf->source_address);
			cb_das_deinit(das);
			return NULL;
		}
		das->source_address = strdup(conf->source_address);
		if (!das->source_address) {
			snprintf(err, errlen, "out of memory");
			cb_das_deinit(das);
			return NULL;
		}
	}
	das->conf.source_address = das->source_address;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "pipe: %s", errtext(errno, eb, sizeof(eb)));
		cb_das_deinit(das);
		return NULL;
	}
	das->cancel_rd = fds[0];
	das->cancel_wr = fds[1];
	return das;
}

void cb_das_deinit(cb_das_t *das)
{
	if (!das) return;
	if (das->cancel_rd >= 0) close(das->cancel_rd);
	if (das->cancel_wr >= 0) close(das->cancel_wr);
	free(das->source_address);
	free(das);
}

void cb_das_cancel(cb_das_t *das)
{
	char c = 'x';
	ssize_t rc;

	if (!das || das->cancel_wr < 0) return;
	/* One byte that nobody reads: the pipe stays readable for every poll(). */
	do {
		rc = write(das->cancel_wr, &c, 1);
	} while (rc < 0 && errno == EINTR);
}

static void das_log(cb_das_t const *das, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void das_log(cb_das_t const *das, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cb_log_vprefixed(das->conf.log, das->conf.log_ctx, level, "DAS: ", fmt, ap);
	va_end(ap);
}

/** escape - a bounded, printable copy of an untrusted value for the log. */
static void escape(char *out, size_t outlen, char const *in)
{
	static char const hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outlen == 0) return;
	for (i = 0; in[i] && i < 64; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= outlen) break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outlen) break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		}
	}
	if (in[i] && o + 3 < outlen) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
}

/** describe - "user "alice", Acct-Session-Id "...", Calling-Station-Id "..."" for the log. */
static void describe(char *out, size_t outlen, cb_das_session_t const *s)
{
	char u[260], a[260], c[260];

	escape(u, sizeof(u), s->user_name ? s->user_name : "-");
	escape(a, sizeof(a), s->acct_session_id ? s->acct_session_id : "-");
	escape(c, sizeof(c), s->calling_station_id ? s->calling_station_id : "-");
	snprintf(out, outlen, "User-Name \"%s\", Acct-Session-Id \"%s\", Calling-Station-Id \"%s\"", u, a, c);
}

/*
 * One call's state.
 */

typedef enum {
	JOB_QUEUED = 0,		/* Not started: waiting for its NAS's window. */
	JOB_WAIT_ID,		/* Second phase, waiting for an Identifier. */
	JOB_ACTIVE,		/* Sent; waiting for an answer or its timer. */
	JOB_DONE
} job_state_t;

typedef struct {
	job_state_t		state;
	size_t			dest;
	struct sockaddr_storage	to;
	socklen_t		tolen;
	int			sock;		/* Index into call->socks, or -1. */
	uint8_t			id;
	uint8_t			*pkt;
	size_t			pktlen;
	unsigned int		code;		/* Of the phase in progress. */
	unsigned int		tx;		/* Transmissions of this phase. */
	uint64_t		t_start;	/* First transmission of the request (us). */
	uint64_t		t_phase;	/* First transmission of this phase. */
	uint64_t		t_next;		/* When the timer fires. */
	double			rt;		/* Current RT (us). */
	char			peer[INET6_ADDRSTRLEN + 8];
} job_t;

typedef struct {
	size_t			first;		/* Range of call->order. */
	size_t			end;
	size_t			cursor;		/* Next to start. */
	unsigned int		inflight;
	bool			answered;	/* A valid answer came from it in this call. */
	bool			dead;		/* A request timed out before any answer. */
} dest_t;

typedef struct {
	int			fd;		/* -1: closed. */
	int			family;
	unsigned int		used;		/* Identifiers handed out (each once). */
	unsigned int		outstanding;
	uint8_t			first_id;
	int32_t			slot[ID_SPACE];	/* Job using each Identifier, or -1. */
} sock_t;

typedef struct {
	cb_das_t		*das;
	cb_das_request_t	*reqs;
	job_t			*jobs;
	size_t			n;
	size_t			*order;		/* Job indices grouped by destination. */
	dest_t			*dests;
	size_t			ndests;
	size_t			rr;		/* Round-robin start over destinations. */
	sock_t			*socks;
	size_t			nsocks;
	size_t			*waitq;		/* Ring of JOB_WAIT_ID jobs. */
	size_t			wq_head;
	size_t			wq_len;
	size_t			remaining;
	uint64_t		t0;		/* When the call started. */
	uint64_t		rng;
} call_t;

static uint64_t now_us(void)
{
	struct timespec ts;

	cb_clock_mono(&ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/** jitter - RAND of RFC 5080 section 2.2.1: uniform in [-0.1, +0.1] (xorshift64*). */
static double jitter(call_t *c)
{
	uint64_t x = c->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 * 0.2 - 0.1;
}

static uint8_t random_byte(call_t *c)
{
	return (uint8_t)((jitter(c) + 0.1) * 1279.0);
}

/** dest_cmp - order of destinations: family, address, port. */
static int addr_cmp(struct sockaddr_storage const *a, struct sockaddr_storage const *b)
{
	if (a->ss_family != b->ss_family) return a->ss_family < b->ss_family ? -1 : 1;
	if (a->ss_family == AF_INET) {
		struct sockaddr_in const *x = (struct sockaddr_in const *)a, *y = (struct sockaddr_in const *)b;
		int r = memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));

		if (r) return r;
		return x->sin_port == y->sin_port ? 0 : (ntohs(x->sin_port) < ntohs(y->sin_port) ? -1 : 1);
	} else {
		struct sockaddr_in6 const *x = (struct sockaddr_in6 const *)a, *y = (struct sockaddr_in6 const *)b;
		int r = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));

		if (r) return r;
		return x->sin6_port == y->sin6_port ? 0 : (ntohs(x->sin6_port) < ntohs(y->sin6_port) ? -1 : 1);
	}
}

/* qsort has no context argument; the jobs array is passed through this. */
static __thread job_t const *sort_jobs;

static int order_cmp(void const *a, void const *b)
{
	size_t i = *(size_t const *)a, j = *(size_t const *)b;
	int r = addr_cmp(&sort_jobs[i].to, &sort_jobs[j].to);

	if (r) return r;
	return i < j ? -1 : (i > j ? 1 : 0);	/* Stable: the caller's order within a NAS. */
}

static void format_peer(char *out, size_t outlen, struct sockaddr_storage const *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		struct sockaddr_in const *in4 = (struct sockaddr_in const *)ss;

		inet_ntop(AF_INET, &in4->sin_addr, a, sizeof(a));
		snprintf(out, outlen, "%s:%u", a, ntohs(in4->sin_port));
	} else {
		struct sockaddr_in6 const *in6 = (struct sockaddr_in6 const *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(out, outlen, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
}

/** release_id - give back the job's Identifier; a socket whose 256 are all used and answered is closed. */
static void release_id(call_t *c, job_t *job)
{
	sock_t *s;

	if (job->sock < 0) return;
	s = &c->socks[job->sock];
	s->slot[job->id] = -1;
	s->outstanding--;
	if (s->used == ID_SPACE && s->outstanding == 0) {
		close(s->fd);
		s->fd = -1;
	}
	job->sock = -1;
}

/** finish - give a job its outcome and release what it holds. */
static void finish(call_t *c, size_t j, cb_das_result_t result, char const *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void finish(call_t *c, size_t j, cb_das_result_t result, char const *fmt, ...)
{
	job_t *job = &c->jobs[j];
	cb_das_request_t *req = &c->reqs[j];
	va_list ap;

	if (job->state == JOB_DONE) return;
	release_id(c, job);
	if (job->state == JOB_ACTIVE || job->state == JOB_WAIT_ID) c->dests[job->dest].inflight--;
	free(job->pkt);
	job->pkt = NULL;
	job->state = JOB_DONE;
	req->result = result;
	if (job->t_start) req->elapsed_us = now_us() - job->t_start;
	va_start(ap, fmt);
	vsnprintf(req->error, sizeof(req->error), fmt, ap);
	va_end(ap);
	c->remaining--;
}

/**
 * alloc_id - an Identifier on a socket of the family, opening a socket if
 * needed and allowed.  Returns: 1 with *sock and *id set, 0 when none is
 * free now (try again after a completion), -1 with err set on a socket error.
 */
static int alloc_id(call_t *c, int family, int *sock, uint8_t *id, char *err, size_t errlen)
{
	cb_das_t *das = c->das;
	size_t i, closed = c->nsocks;
	char eb[128];
	sock_t *s;
	int fd;

	for (i = 0; i < c->nsocks; i++) {
		s = &c->socks[i];
		if (s->fd < 0) {
			if (closed == c->nsocks) closed = i;
			continue;
		}
		if (s->family == family && s->used < ID_SPACE) goto take;
	}
	if (closed == c->nsocks) return 0;
	if (das->srclen && das->src.ss_family != family) {
		snprintf(err, errlen, "source_address %s is not of the NAS's address family", das->source_address);
		return -1;
	}
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", errtext(errno, eb, sizeof(eb)));
		return -1;
	}
	if (das->srclen && bind(fd, (struct sockaddr const *)&das->src, das->srclen) < 0) {
		snprintf(err, errlen, "bind to %s: %s", das->source_address, errtext(errno, eb, sizeof(eb)));
		close(fd);
		return -1;
	}
	i = closed;
	s = &c->socks[i];
	s->fd = fd;
	s->family = family;
	s->used = 0;
	s->outstanding = 0;
	s->first_id = random_byte(c);
	memset(s->slot, 0xff, sizeof(s->slot));
take:
	*id = (uint8_t)(s->first_id + s->used);
	s->used++;
	s->outstanding++;
	*sock = (int)i;
	return 1;
}

/**
 * transmit - send job j's packet (again); a transient error counts as a
 * datagram lost.  Returns: 0, or -1 on a permanent socket error, the job
 * then finished as ERROR.
 */
static int transmit(call_t *c, size_t j)
{
	job_t *job = &c->jobs[j];
	char const *msg;
	char eb[128];
	ssize_t rc;
	int e;

	do {
		rc = sendto(c->socks[job->sock].fd, job->pkt, job->pktlen, 0, (struct sockaddr const *)&job->to,
			    job->tolen);
	} while (rc < 0 && errno == EINTR);
	job->tx++;
	c->reqs[j].transmissions++;
	if (rc >= 0) return 0;
	e = errno;
	msg = errtext(e, eb, sizeof(eb));
	switch (e) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case ENOBUFS:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case ECONNREFUSED:
		/* Lost like any datagram: the schedule covers it. */
		das_log(c->das, CB_LOG_DEBUG, "sendto %s: %s (will retransmit)", job->peer, msg);
		return 0;
	default:
		das_log(c->das, CB_LOG_ERROR, "sendto %s: %s", job->peer, msg);
		finish(c, j, CB_DAS_ERROR, "sendto %s: %s", job->peer, msg);
		return -1;
	}
}

/** first_timer - the first RT of a phase, IRT with jitter, never beyond the MRD deadline. */
static void first_timer(call_t *c, job_t *job, uint64_t now)
{
	uint64_t deadline = job->t_phase + (uint64_t)c->das->conf.mrd_ms * 1000u;

	job->rt = (double)c->das->conf.irt_ms * 1000.0;
	job->rt += jitter(c) * job->rt;
	job->t_next = now + (uint64_t)job->rt;
	if (job->t_next > deadline) job->t_next = deadline;
}

/**
 * start_phase - encode and send the first transmission of a phase (code).
 * Returns: 1 sent, 0 no Identifier free (job left as it was), -1 the job
 * failed (finished as ERROR).
 */
static int start_phase(call_t *c, size_t j, unsigned int code, uint64_t now)
{
	job_t *job = &c->jobs[j];
	cb_das_request_t *req = &c->reqs[j];
	cb_das_t *das = c->das;
	uint8_t buf[CB_DAS_MAX_PACKET];
	char err[192], desc[900];
	size_t len;
	uint8_t id;
	int sock, rc;

	rc = alloc_id(c, job->to.ss_family, &sock, &id, err, sizeof(err));
	if (rc == 0) return 0;
	if (job->state == JOB_QUEUED) c->dests[job->dest].inflight++;
	job->state = JOB_ACTIVE;
	req->last_request = (cb_das_code_t)code;
	if (rc < 0) {
		das_log(das, CB_LOG_ERROR, "cannot send a %s to %s: %s", cb_das_code_name(code), job->peer, err);
		finish(c, j, CB_DAS_ERROR, "%s", err);
		return -1;
	}
	job->sock = sock;
	job->id = id;
	c->socks[sock].slot[id] = (int32_t)j;
	if (cb_das_packet_encode(req, code, id, (uint32_t)time(NULL), buf, sizeof(buf), &len, err, sizeof(err)) < 0) {
		das_log(das, CB_LOG_ERROR, "cannot build a %s for %s: %s", cb_das_code_name(code), job->peer, err);
		finish(c, j, CB_DAS_ERROR, "%s", err);
		return -1;
	}
	free(job->pkt);
	job->pkt = malloc(len);
	if (!job->pkt) {
		finish(c, j, CB_DAS_ERROR, "out of memory");
		return -1;
	}
	memcpy(job->pkt, buf, len);
	job->pktlen = len;
	job->code = code;
	job->tx = 0;
	job->t_phase = now;
	if (!job->t_start) {
		job->t_start = now;
		req->queued_us = now - c->t0;
	}
	first_timer(c, job, now);
	describe(desc, sizeof(desc), req->session);
	das_log(das, CB_LOG_INFO, "%s to %s (id %u, profile %s) for %s", cb_das_code_name(code), job->peer, id,
		cb_das_packet_profile(req)->name ? cb_das_packet_profile(req)->name : "(unnamed)", desc);
	return transmit(c, j) < 0 ? -1 : 1;
}

/** start_jobs - start what the windows and Identifiers allow: second phases first, then queued jobs. */
static void start_jobs(call_t *c, uint64_t now)
{
	cb_das_t *das = c->das;
	size_t k, d, j;
	int rc;

	while (c->wq_len) {
		j = c->waitq[c->wq_head];
		if (c->jobs[j].state == JOB_WAIT_ID) {
			rc = start_phase(c, j, CB_DAS_CODE_DISCONNECT_REQUEST, now);
			if (rc == 0) return;
		}
		c->wq_head = (c->wq_head + 1) % c->n;
		c->wq_len--;
	}
	for (k = 0; k < c->ndests; k++) {
		dest_t *dest;

		d = (c->rr + k) % c->ndests;
		dest = &c->dests[d];
		/* Bounded: each round advances the cursor or returns. */
		while (dest->cursor < dest->end && dest->inflight < das->conf.max_inflight_per_nas) {
			j = c->order[dest->cursor];
			if (c->jobs[j].state != JOB_QUEUED) {
				dest->cursor++;
				continue;
			}
			if (dest->dead) {
				finish(c, j, CB_DAS_TIMEOUT, "not sent: %s did not answer the earlier requests of this batch",
				       c->jobs[j].peer);
				dest->cursor++;
				continue;
			}
			rc = start_phase(c, j,
					 cb_das_packet_profile(&c->reqs[j])->mode == CB_DAS_MODE_DISCONNECT ?
					 CB_DAS_CODE_DISCONNECT_REQUEST : CB_DAS_CODE_COA_REQUEST, now);
			if (rc == 0) {
				c->rr = d;
				return;
			}
			dest->cursor++;
		}
		/* A dead NAS's queue is emptied even when its window is full. */
		while (dest->dead && dest->cursor < dest->end) {
			j = c->order[dest->cursor++];
			if (c->jobs[j].state == JOB_QUEUED) {
				finish(c, j, CB_DAS_TIMEOUT, "not sent: %s did not answer the earlier requests of this batch",
				       c->jobs[j].peer);
			}
		}
	}
	c->rr = (c->rr + 1) % c->ndests;
}

/** on_timer - a job's timer fired: retransmit, or give up. */
static void on_timer(call_t *c, size_t j, uint64_t now)
{
	job_t *job = &c->jobs[j];
	cb_das_t *das = c->das;
	uint64_t deadline = job->t_phase + (uint64_t)das->conf.mrd_ms * 1000u;
	char desc[900];

	if (job->tx >= das->conf.mrc || now >= deadline) {
		dest_t *dest = &c->dests[job->dest];

		describe(desc, sizeof(desc), c->reqs[j].session);
		das_log(das, CB_LOG_ERROR, "no answer from %s to %s id %u after %u transmissions in %.1f s, for %s "
			"(NAS down, DAS not enabled, or wrong secret?)", job->peer, cb_das_code_name(job->code), job->id,
			job->tx, (double)(now - job->t_phase) / 1e6, desc);
		if (!dest->answered) dest->dead = true;
		finish(c, j, CB_DAS_TIMEOUT, "no answer from %s after %u transmissions in %.1f s", job->peer, job->tx,
		       (double)(now - job->t_phase) / 1e6);
		return;
	}
	job->rt = 2.0 * job->rt + jitter(c) * job->rt;
	if (das->conf.mrt_ms && job->rt > (double)das->conf.mrt_ms * 1000.0) {
		double mrt = (double)das->conf.mrt_ms * 1000.0;

		job->rt = mrt + jitter(c) * mrt;
	}
	job->t_next = now + (uint64_t)job->rt;
	if (job->t_next > deadline) job->t_next = deadline;
	das_log(das, CB_LOG_DEBUG, "retransmitting %s to %s id %u (transmission %u of at most %u, next timer in %.3f s)",
		cb_das_code_name(job->code), job->peer, job->id, job->tx + 1, das->conf.mrc,
		(double)(job->t_next - now) / 1e6);
	transmit(c, j);
}

/** on_answer - a valid answer to job j. */
static void on_answer(call_t *c, size_t j, cb_das_packet_answer_t const *a, uint64_t now)
{
	job_t *job = &c->jobs[j];
	cb_das_request_t *req = &c->reqs[j];
	cb_das_t *das = c->das;
	char desc[900];
	double ms = (double)(now - job->t_phase) / 1000.0;
	bool nak = a->code == CB_DAS_CODE_DISCONNECT_NAK || a->code == CB_DAS_CODE_COA_NAK;

	c->dests[job->dest].answered = true;
	req->response_code = a->code;
	req->error_cause = a->error_cause;
	describe(desc, sizeof(desc), req->session);
	if (!nak) {
		if (a->error_cause) {
			das_log(das, CB_LOG_INFO, "%s from %s id %u for %s in %.1f ms: Error-Cause %u (%s)",
				cb_das_code_name(a->code), job->peer, job->id, desc, ms, a->error_cause,
				cb_das_error_cause_name(a->error_cause));
		} else {
			das_log(das, CB_LOG_INFO, "%s from %s id %u for %s in %.1f ms", cb_das_code_name(a->code),
				job->peer, job->id, desc, ms);
		}
		finish(c, j, CB_DAS_ACK, "%s", "");
		return;
	}
	if (a->error_cause) {
		das_log(das, CB_LOG_WARN, "%s from %s id %u for %s: Error-Cause %u (%s)", cb_das_code_name(a->code),
			job->peer, job->id, desc, a->error_cause, cb_das_error_cause_name(a->error_cause));
	} else {
		das_log(das, CB_LOG_WARN, "%s from %s id %u for %s, without Error-Cause", cb_das_code_name(a->code),
			job->peer, job->id, desc);
	}
	if (job->code == CB_DAS_CODE_COA_REQUEST &&
	    cb_das_packet_profile(req)->mode == CB_DAS_MODE_COA_THEN_DISCONNECT) {
		/* Give back the CoA's Identifier; the Disconnect gets its own. */
		release_id(c, job);
		req->fell_back = true;
		das_log(das, CB_LOG_INFO, "falling back to a Disconnect-Request to %s", job->peer);
		if (start_phase(c, j, CB_DAS_CODE_DISCONNECT_REQUEST, now) == 0) {
			job->state = JOB_WAIT_ID;
			c->waitq[(c->wq_head + c->wq_len) % c->n] = j;
			c->wq_len++;
		}
		return;
	}
	if (a->error_cause) {
		finish(c, j, CB_DAS_NAK, "Error-Cause %u (%s)", a->error_cause, cb_das_error_cause_name(a->error_cause));
	} else {
		finish(c, j, CB_DAS_NAK, "NAK without Error-Cause");
	}
}

static bool same_peer(struct sockaddr_storage const *a, struct sockaddr_storage const *b)
{
	return addr_cmp(a, b) == 0;
}

/** receive - read what one socket has (bounded), and match it. */
static void receive(call_t *c, size_t si, uint64_t *now)
{
	sock_t *s = &c->socks[si];
	cb_das_t *das = c->das;
	uint8_t buf[CB_DAS_MAX_PACKET];
	struct sockaddr_storage from;
	socklen_t fromlen;
	char peer[INET6_ADDRSTRLEN + 8], why[256], eb[128];
	cb_das_packet_answer_t a;
	ssize_t n;
	int32_t j;
	int k;

	for (k = 0; k < RECV_BURST && s->fd >= 0; k++) {
		fromlen = sizeof(from);
		memset(&from, 0, sizeof(from));
		n = recvfrom(s->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR) continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				das_log(das, CB_LOG_DEBUG, "recvfrom: %s", errtext(errno, eb, sizeof(eb)));
			}
			return;
		}
		*now = now_us();
		format_peer(peer, sizeof(peer), &from);
		if ((size_t)n > sizeof(buf)) {
			das_log(das, CB_LOG_WARN, "dropped a datagram of %zd octets from %s: larger than %d",
				n, peer, CB_DAS_MAX_PACKET);
			continue;
		}
		if (n < CB_DAS_PACKET_HDR_LEN) {
			das_log(das, CB_LOG_WARN, "dropped a datagram of %zd octets from %s: truncated", n, peer);
			continue;
		}
		j = s->slot[buf[1]];
		if (j < 0) {
			das_log(das, CB_LOG_DEBUG, "dropped a %s from %s: no request with id %u outstanding "
				"(late or duplicate answer)", cb_das_code_name(buf[0]), peer, buf[1]);
			continue;
		}
		if (!same_peer(&from, &c->jobs[j].to)) {
			das_log(das, CB_LOG_WARN, "dropped a %s from %s: id %u was sent to %s",
				cb_das_code_name(buf[0]), peer, buf[1], c->jobs[j].peer);
			continue;
		}
		if (cb_das_packet_check_answer(buf, (size_t)n, c->jobs[j].pkt, c->jobs[j].pktlen,
					       c->reqs[j].nas->secret,
					       cb_das_packet_profile(&c->reqs[j])->require_response_authenticator,
					       time(NULL), das->conf.time_window, &a, why, sizeof(why)) < 0) {
			das_log(das, CB_LOG_WARN, "dropped an answer from %s to id %u: %s", peer, buf[1], why);
			continue;
		}
		on_answer(c, (size_t)j, &a, *now);
	}
}

/** call_free - release a call's state; closes what is still open. */
static void call_free(call_t *c)
{
	size_t i;

	if (c->socks) {
		for (i = 0; i < c->nsocks; i++) {
			if (c->socks[i].fd >= 0) close(c->socks[i].fd);
		}
	}
	if (c->jobs) {
		for (i = 0; i < c->n; i++) free(c->jobs[i].pkt);
	}
	free(c->socks);
	free(c->jobs);
	free(c->order);
	free(c->dests);
	free(c->waitq);
}

/** call_alloc - a call's arrays and its random state.  Returns: 0, or -1 (out of memory). */
static int call_alloc(call_t *c)
{
	size_t i;

	c->jobs = calloc(c->n, sizeof(*c->jobs));
	c->order = calloc(c->n, sizeof(*c->order));
	c->dests = calloc(c->n, sizeof(*c->dests));
	c->waitq = calloc(c->n, sizeof(*c->waitq));
	c->nsocks = c->das->conf.max_sockets;
	c->socks = calloc(c->nsocks, sizeof(*c->socks));
	if (!c->jobs || !c->order || !c->dests || !c->waitq || !c->socks) return -1;
	for (i = 0; i < c->nsocks; i++) c->socks[i].fd = -1;
	if (RAND_bytes((unsigned char *)&c->rng, sizeof(c->rng)) != 1 || c->rng == 0) {
		c->rng = now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
		if (c->rng == 0) c->rng = 0x9E3779B97F4A7C15ULL;
	}
	return 0;
}

/** job_init - clear request i's outputs and resolve its NAS; a request that cannot be sent is finished as ERROR. */
static void job_init(call_t *c, size_t i)
{
	cb_das_request_t *req = &c->reqs[i];
	job_t *job = &c->jobs[i];
	cb_das_profile_t const *prof;
	uint16_t port;

	req->result = CB_DAS_ERROR;
	req->last_request = 0;
	req->response_code = 0;
	req->error_cause = 0;
	req->transmissions = 0;
	req->fell_back = false;
	req->queued_us = 0;
	req->elapsed_us = 0;
	req->error[0] = '\0';
	job->sock = -1;
	job->state = JOB_QUEUED;
	c->order[i] = i;
	c->remaining++;
	snprintf(job->peer, sizeof(job->peer), "%s", "(no NAS)");
	if (!req->nas || !req->session) {
		finish(c, i, CB_DAS_ERROR, "request %zu has no NAS or no session", i);
		return;
	}
	prof = cb_das_packet_profile(req);
	port = req->nas->port ? req->nas->port : (prof->port ? prof->port : CB_DAS_DEFAULT_PORT);
	if (parse_address(req->nas->address, port, &job->to, &job->tolen) < 0) {
		char a[80];

		escape(a, sizeof(a), req->nas->address ? req->nas->address : "(none)");
		das_log(c->das, CB_LOG_ERROR, "NAS address \"%s\" is not a numeric IPv4 or IPv6 address", a);
		finish(c, i, CB_DAS_ERROR, "NAS address \"%s\" is not a numeric IPv4 or IPv6 address", a);
		return;
	}
	format_peer(job->peer, sizeof(job->peer), &job->to);
	if (prof->mode != CB_DAS_MODE_DISCONNECT && prof->mode != CB_DAS_MODE_COA &&
	    prof->mode != CB_DAS_MODE_COA_THEN_DISCONNECT) {
		finish(c, i, CB_DAS_ERROR, "profile %s has an unknown mode", prof->name ? prof->name : "(unnamed)");
	}
}

/** group_dests - order the jobs by destination and give each destination its range. */
static void group_dests(call_t *c)
{
	size_t i, d = 0;

	/* Finished (invalid) jobs sort anywhere and are skipped. */
	sort_jobs = c->jobs;
	qsort(c->order, c->n, sizeof(*c->order), order_cmp);
	sort_jobs = NULL;
	for (i = 0; i < c->n; i++) {
		size_t j = c->order[i];

		if (i == 0 || addr_cmp(&c->jobs[c->order[i - 1]].to, &c->jobs[j].to) != 0) {
			if (i > 0) d++;
			c->dests[d].first = c->dests[d].cursor = i;
		}
		c->dests[d].end = i + 1;
		c->jobs[j].dest = d;
	}
	c->ndests = c->n ? d + 1 : 0;
}

/** call_setup - allocate, resolve destinations, group them.  Returns: 0, or -1 (out of memory). */
static int call_setup(call_t *c)
{
	size_t i;

	if (call_alloc(c) < 0) return -1;
	for (i = 0; i < c->n; i++) job_init(c, i);
	group_dests(c);
	return 0;
}

/** fail_rest - end every unfinished job as ERROR with why (the call is over). */
static void fail_rest(call_t *c, char const *why)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->jobs[i].state != JOB_DONE) finish(c, i, CB_DAS_ERROR, "%s", why);
	}
}

/**
 * call_bounds - the hard bounds of the loop: every NAS's queue drains in
 * rounds of max_inflight_per_nas requests, each round at most two phases
 * of MRD; and a number of iterations no correct run comes near.
 */
static void call_bounds(call_t const *c, uint64_t now, uint64_t *deadline, uint64_t *max_iterations)
{
	cb_das_conf_t const *conf = &c->das->conf;
	uint64_t longest = 0;
	size_t i;

	for (i = 0; i < c->ndests; i++) {
		size_t len = c->dests[i].end - c->dests[i].first;

		if (len > longest) longest = len;
	}
	*deadline = now + ((longest + conf->max_inflight_per_nas - 1) / conf->max_inflight_per_nas + 1) *
			  2u * (uint64_t)conf->mrd_ms * 1000u + 1000000u;
	*max_iterations = 1000 + (uint64_t)c->n * (2u * conf->mrc + 4u) * 8u;
}

/**
 * run_timers - fire the timers that are due.
 * Returns: the earliest that is not, or UINT64_MAX when nothing is in flight.
 */
static uint64_t run_timers(call_t *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->jobs[i].state != JOB_ACTIVE) continue;
		if (c->jobs[i].t_next <= now) on_timer(c, i, now);
		if (c->jobs[i].state == JOB_ACTIVE && c->jobs[i].t_next < next) next = c->jobs[i].t_next;
	}
	return next;
}

/**
 * stalled - nothing is in flight: start what can be started now.
 * Returns: true when nothing started and nothing ended, so nothing ever
 * will (every job left is then finished as ERROR).
 */
static bool stalled(call_t *c, uint64_t now)
{
	size_t before = c->remaining, i;

	start_jobs(c, now);
	for (i = 0; i < c->n; i++) {
		if (c->jobs[i].state == JOB_ACTIVE) return false;
	}
	if (c->remaining != before) return false;
	fail_rest(c, "internal: stalled");
	return true;
}

/**
 * wait_and_receive - poll the open sockets and the cancel pipe until the
 * timer due at next (at most a second), and read what arrived.
 * Returns: 0, or -1 when the call is over (cancelled, or poll failed: the
 * jobs left are finished as ERROR).
 */
static int wait_and_receive(call_t *c, uint64_t next, uint64_t *now)
{
	cb_das_t *das = c->das;
	struct pollfd pfd[1 + 256];
	size_t map[1 + 256];
	char eb[128], why[160];
	size_t i, np = 0;
	int timeout, rc;

	pfd[np].fd = das->cancel_rd;
	pfd[np].events = POLLIN;
	map[np++] = SIZE_MAX;
	for (i = 0; i < c->nsocks; i++) {
		if (c->socks[i].fd < 0) continue;
		pfd[np].fd = c->socks[i].fd;
		pfd[np].events = POLLIN;
		map[np++] = i;
	}
	timeout = next <= *now ? 0 : (int)((next - *now + 999) / 1000);
	if (timeout > 1000) timeout = 1000;
	rc = poll(pfd, np, timeout);
	*now = now_us();
	if (rc < 0) {
		if (errno == EINTR) return 0;
		snprintf(why, sizeof(why), "poll: %s", errtext(errno, eb, sizeof(eb)));
		das_log(das, CB_LOG_ERROR, "%s", why);
		fail_rest(c, why);
		return -1;
	}
	if (pfd[0].revents) {
		das_log(das, CB_LOG_WARN, "cancelled with %zu requests unfinished", c->remaining);
		fail_rest(c, "cancelled");
		return -1;
	}
	for (i = 1; i < np; i++) {
		if (pfd[i].revents) receive(c, map[i], now);
	}
	return 0;
}

int cb_das_send(cb_das_t *das, cb_das_request_t *reqs, size_t n)
{
	call_t c = { 0 };
	uint64_t now, next, deadline, iterations = 0, max_iterations;
	size_t i, acked = 0;
	char why[96];

	if (n == 0) return 0;
	if (!das || !reqs || n > CB_DAS_MAX_BATCH) return -1;
	c.das = das;
	c.reqs = reqs;
	c.n = n;
	c.t0 = now_us();
	if (call_setup(&c) < 0) {
		for (i = 0; i < n; i++) {
			reqs[i].result = CB_DAS_ERROR;
			snprintf(reqs[i].error, sizeof(reqs[i].error), "out of memory");
		}
		das_log(das, CB_LOG_ERROR, "out of memory for %zu requests", n);
		call_free(&c);
		return 0;
	}
	now = now_us();
	call_bounds(&c, now, &deadline, &max_iterations);

	while (c.remaining) {
		if (++iterations > max_iterations || now >= deadline) {
			char const *bound = now >= deadline ? "time" : "iteration";

			das_log(das, CB_LOG_ERROR, "giving up on %zu requests: the call reached its %s bound",
				c.remaining, bound);
			snprintf(why, sizeof(why), "gave up: the call reached its %s bound", bound);
			fail_rest(&c, why);
			break;
		}
		start_jobs(&c, now);
		next = run_timers(&c, now);
		if (!c.remaining) break;
		if (next == UINT64_MAX) {
			/* Nothing in flight: either a start is possible now, or nothing ever will be. */
			if (stalled(&c, now)) break;
			continue;
		}
		if (wait_and_receive(&c, next, &now) < 0) break;
	}

	for (i = 0; i < n; i++) {
		if (reqs[i].result == CB_DAS_ACK) acked++;
	}
	call_free(&c);
	return (int)acked;
}
