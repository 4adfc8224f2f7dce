/*
 * strlist.h - a bounded list of strings, as FreeRADIUS gives a multi-valued
 * option (agree_value, allowed_domain, revoked_value), and the one way the
 * core matches a value against such a list.
 *
 * A list made by cb_strlist_copy owns its strings; one that points into a
 * caller's array (as the glue builds from its configuration) owns nothing.
 */
#ifndef CETBYOD_BASE_STRLIST_H
#define CETBYOD_BASE_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

/** A list of strings, as FreeRADIUS gives a multi-valued option. */
typedef struct {
	char const * const	*v;
	size_t			n;
} cb_strlist_t;

/**
 * cb_strlist_copy - deep copy of src into dst, or of the NULL-terminated
 * dflt when src is NULL or empty.  0, or -1 on allocation failure (dst empty).
 */
int cb_strlist_copy(cb_strlist_t *dst, cb_strlist_t const *src, char const * const *dflt);

/** cb_strlist_free - free a list made by cb_strlist_copy. */
void cb_strlist_free(cb_strlist_t *list);

/**
 * cb_strlist_has - s[0..len) equals one of list's entries, both trimmed of
 * ASCII white space, ignoring ASCII case.
 */
bool cb_strlist_has(cb_strlist_t const *list, char const *s, size_t len);

#endif
