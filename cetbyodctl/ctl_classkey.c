/*
 * ctl_classkey.c - `cetbyodctl class-key rotate`: the key of the keyed
 * Class rotated (lib/store/classtok.c does the file).
 */
#include <stdio.h>
#include <string.h>

#include "store/classtok.h"
#include "ctl_classkey.h"

char const ctl_classkey_usage[] = "class-key rotate [--file PATH] [--grace-days N]";
char const ctl_classkey_summary[] = "rotate the key that seals the Class of Access-Accepts";
char const ctl_classkey_help[] =
	"Adds a new key to the class key file (the module's class_key_file;\n"
	"default class.key in the state directory, made when absent) and lets\n"
	"the previous key verify the Classes it sealed for a grace period:\n"
	"sessions admitted before the rotation stay tied to their person until\n"
	"then; after it, their accounting is recorded without a person.  Keys\n"
	"past their grace are dropped.  radiusd reads the file when it starts:\n"
	"restart it after rotating.  Servers that share sessions (two RADIUS\n"
	"servers behind one NAS) must share the file: copy it to each (mode 0600,\n"
	"owner the user radiusd runs as) before restarting them.\n"
	"  --file PATH      the class key file (default: the module's class_key_file\n"
	"                   with --raddb, else <state dir>/class.key)\n"
	"  --grace-days N   how long the previous key still verifies, 1..365\n"
	"                   (default 14)\n";

int ctl_classkey_main(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("class-key");
	char const *file = NULL, *grace_arg = NULL;
	char *pos[1], path[CTL_STATE_PATH_MAX + 16], err[1024], safe[CTL_SAFE_LEN(256)];
	ctl_opt_t opts[] = { { "file", &file, NULL }, { "grace-days", &grace_arg, NULL }, { NULL, NULL, NULL } };
	unsigned long grace = CB_CLASSKEY_GRACE_DAYS;
	unsigned int id;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, pos, 1, &n);
	if (rc) return rc;
	if (n != 1 || strcmp(pos[0], "rotate") != 0) return ctl_usage_err(ctl, cmd, "the one action is 'rotate'");
	if (grace_arg && (rc = ctl_count(ctl, cmd, "grace-days", grace_arg, 1, 365, &grace))) return rc;
	if (file) {
		if (strlen(file) >= sizeof(path)) return ctl_usage_err(ctl, cmd, "--file: too long");
		snprintf(path, sizeof(path), "%s", file);
	} else if (ctl->conf.class_key_file) {		/* The module's class_key_file (--raddb). */
		snprintf(path, sizeof(path), "%s", ctl->conf.class_key_file);
	} else if (ctl->state_dir) {
		snprintf(path, sizeof(path), "%s/%s", ctl->state_dir, CB_CLASSKEY_NAME);
	} else if (!ctl->db[0] || strcmp(ctl->db, CB_STORE_DEFAULT_DIR "/" CB_STORE_FILE) == 0) {
		snprintf(path, sizeof(path), "%s/%s", CB_STORE_DEFAULT_DIR, CB_CLASSKEY_NAME);
	} else {
		return ctl_usage_err(ctl, cmd, "with --db, give --file");
	}
	if (cb_classkey_rotate(path, ctl->now, (unsigned int) grace, &id, err, sizeof(err)) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "%s", ctl_safe(err, safe, sizeof(safe)));
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "file", ctl_jstr(path));
		json_object_object_add(o, "key_id", json_object_new_int((int) id));
		json_object_object_add(o, "grace_days", json_object_new_int((int) grace));
		return ctl_print_json(o);
	} else {
		printf("%s: key %u now seals Classes; the previous key verifies for %lu more day(s).\n"
		       "Restart radiusd (on every server sharing this file, after copying it) to use it.\n",
		       ctl_safe(path, safe, sizeof(safe)), id, grace);
	}
	return CTL_EXIT_OK;
}
