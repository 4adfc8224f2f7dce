/*
 * ctl_migrate.c - `cetbyodctl migrate`: everything the SQLite store holds
 * (--state-dir or --db) copied into a PostgreSQL store in one transaction
 * (cb_store_copy), with the rows per table printed.  The SQLite file is
 * only read; radiusd should be stopped meanwhile (what it writes after the
 * copy stays in the file).
 */
#include <stdio.h>
#include <string.h>

#include "ctl_migrate.h"

char const ctl_migrate_usage[] = "migrate --to CONNINFO [--password-file FILE] [--server-id ID] [--replace]";
char const ctl_migrate_summary[] = "move the SQLite store into a PostgreSQL store";
char const ctl_migrate_help[] =
	"Copies everything the SQLite store (--state-dir or --db) holds into the\n"
	"PostgreSQL store --to names (a postgresql:// URI or libpq string: the\n"
	"module's store { postgresql { conninfo } }), in one transaction: every\n"
	"session, decision, revocation with its history, exception, disconnect,\n"
	"pending command, person, reminder, device, forgotten device, status\n"
	"value and the audit index, with their ids.  Prints the rows copied per\n"
	"table.  Stop radiusd first, and start it with store { backend =\n"
	"postgresql } after.  The audit trail's files stay where they are; the\n"
	"copied index rows are given --server-id (the server_id of the module\n"
	"whose trail they are; default \"\"), so that `audit verify --server ID`\n"
	"compares that server's files with them.  A PostgreSQL store that holds\n"
	"anything is refused (exit 2) unless --replace, which deletes its rows\n"
	"in the same transaction.  A row PostgreSQL refuses fails the whole copy\n"
	"(exit 3): nothing is written.\n"
	"  --to CONNINFO          the PostgreSQL store\n"
	"  --password-file FILE   its password, the first line of FILE\n"
	"  --server-id ID         the server_id the audit rows are given\n"
	"  --replace              empty a PostgreSQL store that is not empty\n";

typedef struct {
	ctl_t		*ctl;
	json_object	*tables;
	ctl_table_t	*tab;
	uint64_t	total;
} report_t;

static void report_table(void *uctx, char const *table, uint64_t rows)
{
	report_t *r = uctx;
	char n[32];
	char const *cells[2] = { table, n };

	snprintf(n, sizeof(n), "%llu", (unsigned long long) rows);
	r->total += rows;
	if (r->tables) json_object_object_add(r->tables, table, json_object_new_int64((int64_t) rows));
	if (r->tab) ctl_table_row(r->tab, cells);
}

/** read_password - the first line of file into out (the global --store-password-file's rules). */
static int read_password(ctl_t *ctl, ctl_cmd_t const *cmd, char const *file, char *out, size_t len)
{
	char safe[CTL_SAFE_LEN(256)];
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f) return ctl_usage_err(ctl, cmd, "--password-file: cannot read %s", ctl_safe(file, safe, sizeof(safe)));
	n = fread(out, 1, len - 1, f);
	fclose(f);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0]) return ctl_usage_err(ctl, cmd, "--password-file: %s is empty", ctl_safe(file, safe, sizeof(safe)));
	return 0;
}

/** open_target - the PostgreSQL store; NULL with the error reported in *rc. */
static cb_store_t *open_target(ctl_t *ctl, char const *to, char const *password, char const *server, int *rc)
{
	cb_store_conf_t conf = ctl_store_conf(ctl);
	char err[1024], safe[CTL_SAFE_LEN(1024)];
	cb_store_t *dst;

	conf.backend = CB_STORE_POSTGRESQL;
	conf.pg_conninfo = to;
	conf.pg_password = password[0] ? password : NULL;
	conf.server_id = server;
	conf.create = true;
	dst = cb_store_open(&conf, err, sizeof(err));
	if (!dst) *rc = ctl_err(ctl, CTL_EXIT_STORE, "the PostgreSQL store: %s", ctl_safe(err, safe, sizeof(safe)));
	return dst;
}

int ctl_migrate_main(ctl_t *ctl, int argc, char **argv)
{
	static char const *const headers[] = { "table", "rows" };	/* The table keeps the pointer. */
	ctl_cmd_t const *cmd = ctl_cmd_find("migrate");
	char const *to = NULL, *pwfile = NULL, *server = NULL;
	bool replace = false;
	ctl_opt_t opts[] = { { "to", &to, NULL }, { "to-conninfo", &to, NULL }, { "password-file", &pwfile, NULL },
			     { "server-id", &server, NULL }, { "replace", NULL, &replace }, { NULL, NULL, NULL } };
	char *pos[1], password[1025] = "", err[1024], safe[CTL_SAFE_LEN(1024)];
	report_t r = { .ctl = ctl };
	cb_store_t *dst;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, pos, 0, &n);
	if (rc) return rc;
	if (ctl->pg_conninfo) return ctl_usage_err(ctl, cmd, "the source is the SQLite store: give --state-dir or --db, "
						   "and the PostgreSQL store with --to");
	if (!to || !*to) return ctl_usage_err(ctl, cmd, "give --to CONNINFO (the PostgreSQL store)");
	if (server && (rc = ctl_text(ctl, cmd, "server given with --server-id", server, CB_STORE_NAME_MAX)) != 0) return rc;
	if (pwfile && (rc = read_password(ctl, cmd, pwfile, password, sizeof(password))) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	dst = open_target(ctl, to, password, server, &rc);
	memset(password, 0, sizeof(password));
	if (!dst) return rc;
	if (ctl->json) r.tables = json_object_new_object();
	else r.tab = ctl_table_new(2, headers);
	rc = cb_store_copy(ctl->store, dst, replace, report_table, &r, err, sizeof(err));
	cb_store_close(dst);
	if (rc != 0) {
		json_object_put(r.tables);
		ctl_table_free(r.tab);
		if (rc == 1) return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "the PostgreSQL store is not empty: nothing was copied "
					    "(give --replace to delete what it holds)");
		return ctl_err(ctl, CTL_EXIT_STORE, "%s", ctl_safe(err, safe, sizeof(safe)));
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "tables", r.tables);
		json_object_object_add(o, "rows", json_object_new_int64((int64_t) r.total));
		return ctl_print_json(o);
	}
	ctl_table_print(r.tab, stdout, "");
	ctl_table_free(r.tab);
	printf("Copied %llu rows in one transaction.  Start radiusd with store { backend = postgresql }, then check\n"
	       "the trail with: cetbyodctl --store ... audit verify --server '%s' --file <the audit file>\n",
	       (unsigned long long) r.total, server ? ctl_safe(server, safe, sizeof(safe)) : "");
	return CTL_EXIT_OK;
}
