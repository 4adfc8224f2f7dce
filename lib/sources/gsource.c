/*
 * gsource.c - what the Forms and Sheets sources share: matching configured
 * values, the allowed-domain check, spotting formulas and error values in
 * cells, finding duplicate records, and reporting bad records.
 *
 * The duplicate table (cb_gseen_t) keys records by (email, ack_time): a
 * person who acknowledges every year has several records, which is normal;
 * two records of one person at the same instant are a copied row or a
 * double submission (a duplicate), or, when one agrees and the other
 * withdraws, a conflict that the index resolves in favour of the withdrawal.
 * It is an open-addressing hash table whose email strings live in an arena
 * of large blocks, so 100 000 records cost two allocations per 64 KiB of
 * addresses rather than one each.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources/gsource.h"

#define CB_ARENA_BLOCK	65536

/* Trim ASCII spaces off both ends of s[0..*len). */
static char const *trim(char const *s, size_t *len)
{
	while (*len && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) {
		s++;
		(*len)--;
	}
	while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r' || s[*len - 1] == '\n')) (*len)--;
	return s;
}

bool cb_strlist_has(cb_strlist_t const *list, char const *s, size_t len)
{
	s = trim(s, &len);
	for (size_t i = 0; i < list->n; i++) {
		char const *v = list->v[i];
		size_t vlen = strlen(v);

		v = trim(v, &vlen);
		if (vlen == len && strncasecmp(v, s, len) == 0) return true;
	}
	return false;
}

bool cb_email_domain_allowed(cb_strlist_t const *domains, char const *email)
{
	char const *at = strrchr(email, '@');

	if (domains->n == 0) return true;
	if (!at) return false;
	at++;
	for (size_t i = 0; i < domains->n; i++) {
		char const *d = domains->v[i];

		if (*d == '@') d++;
		if (strcasecmp(d, at) == 0) return true;
	}
	return false;
}

char const *cb_cell_problem(char const *s)
{
	static char const *errors[] = { "#REF!", "#N/A", "#VALUE!", "#ERROR!", "#NAME?", "#DIV/0!", "#NUM!",
					"#NULL!", "#SPILL!", "#CALC!", "#LOADING", NULL };

	while (*s == ' ' || *s == '\t') s++;
	if (*s == '=') return "a formula (or text that looks like one)";
	if (*s == '#') {
		for (int i = 0; errors[i]; i++) {
			if (strncasecmp(s, errors[i], strlen(errors[i])) == 0) return "a spreadsheet error value";
		}
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c < 0x20 && c != '\t') || c == 0x7f) return "control characters";
	}
	return NULL;
}

int cb_strlist_copy(cb_strlist_t *dst, cb_strlist_t const *src, char const * const *dflt)
{
	char const * const *from = src ? src->v : NULL;
	size_t n = src ? src->n : 0, i;
	char **v;

	if (n == 0 && dflt) {
		from = dflt;
		while (dflt[n]) n++;
	}
	dst->v = NULL;
	dst->n = 0;
	if (n == 0) return 0;
	v = calloc(n, sizeof(*v));
	if (!v) return -1;
	for (i = 0; i < n; i++) {
		v[i] = strdup(from[i] ? from[i] : "");
		if (!v[i]) {
			while (i--) free(v[i]);
			free(v);
			return -1;
		}
	}
	dst->v = (char const * const *) v;
	dst->n = n;
	return 0;
}

void cb_strlist_free(cb_strlist_t *list)
{
	for (size_t i = 0; i < list->n; i++) free((void *) (uintptr_t) list->v[i]);
	free((void *) (uintptr_t) list->v);
	list->v = NULL;
	list->n = 0;
}

/*
 *	The duplicate table
 */
typedef struct {
	uint64_t	hash;		/* 0: empty slot. */
	char const	*email;
	time_t		ack_time;
	long		where;
	bool		revoked;
} cb_seen_entry_t;

typedef struct cb_arena_block {
	struct cb_arena_block	*next;
	size_t			used;
	char			data[];
} cb_arena_block_t;

struct cb_gseen {
	cb_seen_entry_t		*slots;
	size_t			size;		/* Power of two. */
	size_t			count;
	cb_arena_block_t	*arena;
};

cb_gseen_t *cb_gseen_new(void)
{
	cb_gseen_t *s = calloc(1, sizeof(*s));

	if (!s) return NULL;
	s->size = 1024;
	s->slots = calloc(s->size, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

void cb_gseen_free(cb_gseen_t *s)
{
	cb_arena_block_t *b, *next;

	if (!s) return;
	for (b = s->arena; b; b = next) {
		next = b->next;
		free(b);
	}
	free(s->slots);
	free(s);
}

static char const *arena_strdup(cb_gseen_t *s, char const *str)
{
	size_t len = strlen(str) + 1;
	cb_arena_block_t *b = s->arena;
	char *out;

	if (!b || CB_ARENA_BLOCK - b->used < len) {
		size_t size = len > CB_ARENA_BLOCK ? len : CB_ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b) return NULL;
		b->next = s->arena;
		b->used = 0;
		s->arena = b;
	}
	out = b->data + b->used;
	memcpy(out, str, len);
	b->used += len;
	return out;
}

/* FNV-1a over the email and the instant; never 0 (0 marks an empty slot). */
static uint64_t seen_hash(char const *email, time_t t)
{
	uint64_t h = 14695981039346656037ULL;
	uint64_t v = (uint64_t) t;

	for (; *email; email++) h = (h ^ (unsigned char) *email) * 1099511628211ULL;
	for (int i = 0; i < 8; i++, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ULL;
	return h ? h : 1;
}

static int seen_grow(cb_gseen_t *s)
{
	size_t size = s->size * 2;
	cb_seen_entry_t *slots = calloc(size, sizeof(*slots));

	if (!slots) return -1;
	for (size_t i = 0; i < s->size; i++) {
		size_t j;

		if (!s->slots[i].hash) continue;
		for (j = s->slots[i].hash & (size - 1); slots[j].hash; j = (j + 1) & (size - 1));
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->size = size;
	return 0;
}

cb_seen_t cb_gseen_check(cb_gseen_t *s, char const *email, time_t ack_time, bool revoked, long where, long *first)
{
	uint64_t h = seen_hash(email, ack_time);
	size_t i;
	cb_seen_entry_t *e;

	if ((s->count + 1) * 4 > s->size * 3 && seen_grow(s) < 0) return CB_SEEN_ERROR;
	for (i = h & (s->size - 1); s->slots[i].hash; i = (i + 1) & (s->size - 1)) {
		e = &s->slots[i];
		if (e->hash != h || e->ack_time != ack_time || strcmp(e->email, email) != 0) continue;
		*first = e->where;
		if (e->revoked != revoked) {
			e->revoked = true;	/* A third copy is compared with the winner. */
			return CB_SEEN_CONFLICT;
		}
		return CB_SEEN_DUPLICATE;
	}
	e = &s->slots[i];
	e->email = arena_strdup(s, email);
	if (!e->email) return CB_SEEN_ERROR;
	e->hash = h;
	e->ack_time = ack_time;
	e->revoked = revoked;
	e->where = where;
	s->count++;
	return CB_SEEN_NEW;
}

/*
 *	Reporting
 */
void cb_greport(cb_greport_t *r, char const *fmt, ...)
{
	char buf[1024];
	va_list ap;
	cb_log_level_t level = CB_LOG_DEBUG;

	r->problems++;
	if (!r->quiet && ++r->loud <= CB_GSOURCE_REPORT_MAX) level = CB_LOG_WARN;
	if (!r->src->log) return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->src->log(r->src->log_ctx, level, "%s: %s", r->src->name, buf);
}

void cb_greport_summary(cb_greport_t *r, char const *what, size_t used)
{
	if (!r->src->log) return;
	if (r->problems == 0) {
		r->src->log(r->src->log_ctx, CB_LOG_DEBUG, "%s: %zu %s used", r->src->name, used, what);
		return;
	}
	r->src->log(r->src->log_ctx, r->loud ? CB_LOG_WARN : CB_LOG_DEBUG,
		    "%s: %zu %s used, %zu skipped or questionable%s", r->src->name, used, what, r->problems,
		    r->loud > CB_GSOURCE_REPORT_MAX ? " (only the first ones were logged as warnings; "
		    "the rest are in the debug log)" : "");
}

/*
 *	Accessors common to both sources: each one's ctx starts with its
 *	cb_google_t pointer.
 */
cb_http_t *cb_gsource_http(cb_source_t *src)
{
	return cb_google_http(*(cb_google_t **) src->ctx);
}

char const *cb_gsource_client_email(cb_source_t const *src)
{
	return cb_google_client_email(*(cb_google_t * const *) src->ctx);
}
