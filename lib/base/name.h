/*
 * name.h - the one idiom for enums that have names (in configuration, logs,
 * the store and the audit trail), after FreeRADIUS's FR_NAME_NUMBER.
 *
 *	static cb_name_t const mode_names[] = {
 *		{ "disconnect", CB_DAS_DISCONNECT },
 *		{ "coa",        CB_DAS_COA },
 *		{ NULL, -1 }
 *	};
 *	int mode = cb_name_value(mode_names, "coa", -1);
 *	char const *s = cb_name_of(mode_names, mode, "unknown");
 *
 * A table ends with a NULL name.  Look-ups are exact (case matters), since
 * every name is an identifier the project defines.
 */
#ifndef CETBYOD_BASE_NAME_H
#define CETBYOD_BASE_NAME_H

#include <stddef.h>

typedef struct {
	char const	*name;
	int		value;
} cb_name_t;

/** cb_name_value - the value named name in tab; def when name is NULL or not in the table. */
int cb_name_value(cb_name_t const *tab, char const *name, int def);

/** cb_name_of - the name of value in tab; def when no entry has it. */
char const *cb_name_of(cb_name_t const *tab, int value, char const *def);

/**
 * cb_name_list - the table's names as "a, b, c" for an error message that
 * lists the accepted values.  Writes at most buflen bytes, NUL-terminated.
 */
char const *cb_name_list(cb_name_t const *tab, char *buf, size_t buflen);

#endif
