/*
 * strlist.c - a bounded list of strings and matching against it (see
 * strlist.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strlist.h"

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
