/*
 * conf_store.c - the option table of the module's store { } section, with
 * its defaults (see conf_store.h): the module and cetbyodctl both parse it.
 */
#include "conf_store.h"

static CONF_PARSER const store_pg_config[] = {
	{ "conninfo", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_store_section_t, conninfo), "" },
	{ "password_file", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_store_section_t, password_file), "" },
	{ "server_id", FR_CONF_OFFSET(PW_TYPE_STRING, cetbyod_store_section_t, server_id), "" },
	CONF_PARSER_TERMINATOR
};

CONF_PARSER const cetbyod_store_config[] = {
	{ "backend", FR_CONF_OFFSET(PW_TYPE_STRING | PW_TYPE_NOT_EMPTY, cetbyod_store_section_t, backend), "sqlite" },
	{ "postgresql", FR_CONF_POINTER(PW_TYPE_SUBSECTION, NULL), (void const *) store_pg_config },
	{ "spool_max_mb", FR_CONF_OFFSET(PW_TYPE_INTEGER, cetbyod_store_section_t, spool_max_mb), "64" },
	CONF_PARSER_TERMINATOR
};
