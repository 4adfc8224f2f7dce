/*
 * conf_store.h - the module's store { } section as FreeRADIUS parses it:
 * one option table with its defaults, shared by the module (glue_store.c
 * checks the values) and cetbyodctl (cetbyodctl/ctl_raddb.c reads the
 * same section from radiusd.conf), so that both see the same store.
 */
#ifndef CETBYOD_CONF_STORE_H
#define CETBYOD_CONF_STORE_H

#include <stdint.h>

#include <freeradius-devel/radiusd.h>

/* store { backend, postgresql { conninfo, password_file, server_id }, spool_max_mb }. */
typedef struct {
	char const	*backend;	/* sqlite, postgresql. */
	char const	*conninfo;	/* postgresql { conninfo }. */
	char const	*password_file;
	char const	*server_id;
	uint32_t	spool_max_mb;	/* The spool's cap (PostgreSQL); 0: no spool. */
} cetbyod_store_section_t;

/* The table of store { }: offsets into a cetbyod_store_section_t (parse it as a subsection at its offset). */
extern CONF_PARSER const cetbyod_store_config[];

#endif
