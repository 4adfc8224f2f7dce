/*
 * spool.c - the bounded append-only record file (spool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/spool.h"
#include "store/store.h"

#define SPOOL_MAGIC	"CBSPOOL1"
#define REC_MAGIC	0x43425352u
#define REC_HEAD	12

struct cb_spool {
	int		fd;
	char		*path;
	uint64_t	max;
	uint64_t	size;		/* End of the last whole record. */
	uint64_t	cursor;		/* Offset of the next record to replay. */
	uint64_t	cursor_seq;	/* Its sequence number. */
	uint64_t	records;	/* Whole records in the file. */
	uint64_t	peeked;		/* Bytes of the records cb_spool_peek returned since the last consume. */
	uint64_t	peeked_n;	/* How many. */
	char		gen[CB_SPOOL_GEN_LEN + 1];
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t cb_spool_crc32(void const *data, size_t len)
{
	unsigned char const *p = data;
	uint32_t c = 0xFFFFFFFFu;

	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) v;
	p[1] = (unsigned char) (v >> 8);
	p[2] = (unsigned char) (v >> 16);
	p[3] = (unsigned char) (v >> 24);
}

static uint32_t get32(unsigned char const *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

/** write_all - buf at off, whole; 0 or -1 (errno). */
static int write_all(int fd, void const *buf, size_t len, uint64_t off)
{
	unsigned char const *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t) off);

		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return -1;
		p += n;
		len -= (size_t) n;
		off += (uint64_t) n;
	}
	return 0;
}

/** read_all - len bytes at off; 0, 1 when the file ends first, -1 on error. */
static int read_all(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t) off);

		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -1;
		if (n == 0) return 1;
		p += n;
		len -= (size_t) n;
		off += (uint64_t) n;
	}
	return 0;
}

/** fresh - cut the file to a header with a new generation; 0 or -1. */
static int fresh(cb_spool_t *sp)
{
	char head[CB_SPOOL_HEADER_LEN];

	if (cb_store_new_class_id(sp->gen) < 0) return -1;
	memcpy(head, SPOOL_MAGIC, 8);
	memcpy(head + 8, sp->gen, CB_SPOOL_GEN_LEN);
	if (ftruncate(sp->fd, 0) < 0 || write_all(sp->fd, head, sizeof(head), 0) < 0 || fsync(sp->fd) < 0) return -1;
	sp->size = sp->cursor = CB_SPOOL_HEADER_LEN;
	sp->cursor_seq = 1;
	sp->records = 0;
	sp->peeked = sp->peeked_n = 0;
	return 0;
}

/** record_at - the length of the whole, valid record at off (0: none; the tail ends there). */
static size_t record_at(cb_spool_t *sp, uint64_t off, uint64_t end, unsigned char **payload)
{
	unsigned char h[REC_HEAD];
	unsigned char *buf;
	uint32_t len;

	if (end - off < REC_HEAD || read_all(sp->fd, h, REC_HEAD, off) != 0) return 0;
	len = get32(h + 4);
	if (get32(h) != REC_MAGIC || len == 0 || len > CB_SPOOL_RECORD_MAX || end - off - REC_HEAD < len) return 0;
	buf = malloc((size_t) len + 1);
	if (!buf) return 0;
	if (read_all(sp->fd, buf, len, off + REC_HEAD) != 0 || cb_spool_crc32(buf, len) != get32(h + 8)) {
		free(buf);
		return 0;
	}
	buf[len] = '\0';
	if (payload) *payload = buf;
	else free(buf);
	return REC_HEAD + (size_t) len;
}

/** scan - count the whole records and cut a torn or corrupt tail off; 0 or -1. */
static int scan(cb_spool_t *sp, uint64_t end, size_t *dropped)
{
	uint64_t off = CB_SPOOL_HEADER_LEN;
	size_t n;

	while ((n = record_at(sp, off, end, NULL)) > 0) {
		off += n;
		sp->records++;
	}
	if (dropped) *dropped = (size_t) (end - off);
	if (off < end && (ftruncate(sp->fd, (off_t) off) < 0 || fsync(sp->fd) < 0)) return -1;
	sp->size = off;
	sp->cursor = CB_SPOOL_HEADER_LEN;
	sp->cursor_seq = 1;
	return 0;
}

static int open_header(cb_spool_t *sp, size_t *dropped, char *err, size_t errlen)
{
	char head[CB_SPOOL_HEADER_LEN];
	struct stat st;

	if (fstat(sp->fd, &st) < 0) goto io;
	if (st.st_size == 0) return fresh(sp) < 0 ? (snprintf(err, errlen, "%s: %s", sp->path, strerror(errno)), -1) : 0;
	if (read_all(sp->fd, head, sizeof(head), 0) != 0 || memcmp(head, SPOOL_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s is not a cetbyod spool (move it away; nothing was read from it)", sp->path);
		return -1;
	}
	memcpy(sp->gen, head + 8, CB_SPOOL_GEN_LEN);
	sp->gen[CB_SPOOL_GEN_LEN] = '\0';
	if (strspn(sp->gen, "0123456789abcdef") != CB_SPOOL_GEN_LEN) {
		snprintf(err, errlen, "%s: the header is corrupt (move it away; nothing was read from it)", sp->path);
		return -1;
	}
	if (scan(sp, (uint64_t) st.st_size, dropped) == 0) return 0;
io:
	snprintf(err, errlen, "%s: %s", sp->path, strerror(errno));
	return -1;
}

cb_spool_t *cb_spool_open(char const *path, uint64_t max_bytes, size_t *dropped, char *err, size_t errlen)
{
	cb_spool_t *sp = calloc(1, sizeof(*sp));

	if (dropped) *dropped = 0;
	if (sp) sp->fd = -1;
	if (!sp || !(sp->path = strdup(path))) {
		free(sp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sp->max = max_bytes ? max_bytes : CB_SPOOL_DEFAULT_MAX;
	sp->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sp->fd < 0) {
		snprintf(err, errlen, "cannot open the spool %s: %s", path, strerror(errno));
		cb_spool_close(sp);
		return NULL;
	}
	if (open_header(sp, dropped, err, errlen) < 0) {
		cb_spool_close(sp);
		return NULL;
	}
	return sp;
}

int cb_spool_append(cb_spool_t *sp, void const *data, size_t len, char *err, size_t errlen)
{
	return cb_spool_appendv(sp, &data, &len, 1, err, errlen);
}

int cb_spool_appendv(cb_spool_t *sp, void const *const *data, size_t const *len, size_t n, char *err, size_t errlen)
{
	unsigned char *buf, *p;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (len[i] == 0 || len[i] > CB_SPOOL_RECORD_MAX) {
			snprintf(err, errlen, "a spool record of %zu bytes (1..%d)", len[i], CB_SPOOL_RECORD_MAX);
			return -1;
		}
		total += REC_HEAD + len[i];
	}
	if (n == 0) return 0;
	if (sp->size + total > sp->max) return 1;
	buf = malloc((size_t) total);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = buf; p < buf + total; data++, len++) {
		put32(p, REC_MAGIC);
		put32(p + 4, (uint32_t) *len);
		put32(p + 8, cb_spool_crc32(*data, *len));
		memcpy(p + REC_HEAD, *data, *len);
		p += REC_HEAD + *len;
	}
	if (write_all(sp->fd, buf, (size_t) total, sp->size) < 0 || fdatasync(sp->fd) < 0) {
		snprintf(err, errlen, "writing the spool %s: %s", sp->path, strerror(errno));
		free(buf);
		if (ftruncate(sp->fd, (off_t) sp->size) < 0) { /* scan() cuts it off on the next open. */ }
		return -1;
	}
	free(buf);
	sp->size += total;
	sp->records += n;
	return 0;
}

int cb_spool_peek(cb_spool_t *sp, void **data, size_t *len, uint64_t *seq)
{
	unsigned char *payload = NULL;
	size_t n;

	if (sp->cursor + sp->peeked >= sp->size) return 1;
	n = record_at(sp, sp->cursor + sp->peeked, sp->size, &payload);
	if (n == 0) return -1;	/* Written by us and checked: only an I/O error or a change under us. */
	*seq = sp->cursor_seq + sp->peeked_n;
	sp->peeked += n;
	sp->peeked_n++;
	*data = payload;
	*len = n - REC_HEAD;
	return 0;
}

int cb_spool_consume(cb_spool_t *sp)
{
	if (!sp->peeked) return -1;
	sp->cursor += sp->peeked;
	sp->cursor_seq += sp->peeked_n;
	sp->peeked = sp->peeked_n = 0;
	if (sp->cursor < sp->size) return 0;
	return fresh(sp);
}

void cb_spool_unpeek(cb_spool_t *sp)
{
	sp->peeked = sp->peeked_n = 0;
}

void cb_spool_rewind(cb_spool_t *sp)
{
	sp->cursor = CB_SPOOL_HEADER_LEN;
	sp->cursor_seq = 1;
	sp->peeked = sp->peeked_n = 0;
}

bool cb_spool_pending(cb_spool_t const *sp)
{
	return sp->cursor < sp->size;
}

uint64_t cb_spool_bytes(cb_spool_t const *sp)
{
	return sp->size;
}

uint64_t cb_spool_count(cb_spool_t const *sp)
{
	return sp->records - (sp->cursor_seq - 1);
}

uint64_t cb_spool_max(cb_spool_t const *sp)
{
	return sp->max;
}

char const *cb_spool_generation(cb_spool_t const *sp)
{
	return sp->gen;
}

char const *cb_spool_path(cb_spool_t const *sp)
{
	return sp->path;
}

void cb_spool_close(cb_spool_t *sp)
{
	if (!sp) return;
	if (sp->fd >= 0) close(sp->fd);
	free(sp->path);
	free(sp);
}
