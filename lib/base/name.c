/*
 * name.c - names of enum values (see name.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/name.h"

int cb_name_value(cb_name_t const *tab, char const *name, int def)
{
	if (!name) return def;
	for (; tab->name; tab++) {
		if (strcmp(tab->name, name) == 0) return tab->value;
	}
	return def;
}

char const *cb_name_of(cb_name_t const *tab, int value, char const *def)
{
	for (; tab->name; tab++) {
		if (tab->value == value) return tab->name;
	}
	return def;
}

char const *cb_name_list(cb_name_t const *tab, char *buf, size_t buflen)
{
	size_t used = 0;

	if (!buflen) return buf;
	buf[0] = '\0';
	for (; tab->name && used < buflen; tab++) {
		int n = snprintf(buf + used, buflen - used, "%s%s", used ? ", " : "", tab->name);

		if (n < 0) break;
		used += (size_t) n;
	}
	return buf;
}
