/*
 * ctl_sharing.c - cetbyodctl's commands about shared credentials: the
 * devices the module knows per person (`devices list|forget`) and `report
 * sharing`.
 *
 * The policy: "Staff are not permitted to share access details to the
 * network or Wi-Fi password with anyone else."  A shared password shows as
 * one identity on many devices, or at two NASes at once.  The module
 * records each person's devices (policy { max_devices } counts them within
 * policy { device_window }); IT clears a person's list with `devices
 * forget`, which the store records with who and why and the running module
 * copies into the audit trail.  `report sharing` reads the devices and the
 * sessions: people with more devices than a threshold, and sessions of one
 * identity open at two NASes at the same time.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "people/sharing.h"

#include "ctl_people.h"


char const ctl_devices_usage[] = "devices list|forget [OPTIONS]";
char const ctl_devices_summary[] = "the devices the module knows per person (device limits): list, forget";
char const ctl_devices_help[] =
	"devices list [USER]\n"
	"  The devices the module recorded (Calling-Station-Id), per person: where\n"
	"  and when each was first and last seen, and whether policy { max_devices }\n"
	"  let it in (counted) or holds it back.  Exits 2 when there are none.\n"
	"devices forget USER [--mac MAC] --reason TEXT [--by NAME]\n"
	"  Forgets the person's devices (only MAC with --mac): the next devices\n"
	"  they bring count afresh against policy { max_devices }.  Who and why\n"
	"  are recorded; the running module copies them into the audit trail\n"
	"  (type devices_forget) within seconds.  Sessions open now are not\n"
	"  disconnected.  Exits 2 when there was nothing to forget.\n";

static ctl_cmd_t const devices_cmd = {
	"devices", ctl_devices_usage, ctl_devices_summary, ctl_devices_help, false, NULL
};

static int devices_list(ctl_t *ctl, int argc, char **argv)
{
	static char const *const headers[] = { "USER", "DEVICE", "LIMIT", "LAST NAS", "FIRST SEEN", "LAST SEEN" };
	char identity[CB_IDENTITY_MAX + 1];
	cb_store_known_devices_t list = { 0 };
	ctl_table_t *t;
	char *pos[1];
	size_t n;
	int rc;

	if ((rc = ctl_parse(ctl, &devices_cmd, argc, argv, NULL, pos, 1, &n)) != 0) return rc;
	if (n && (rc = ctl_identity(ctl, &devices_cmd, pos[0], identity)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if (n && (rc = ctl_identity(ctl, &devices_cmd, pos[0], identity)) != 0) return rc;
	if (cb_store_devices_known(ctl->store, n ? identity : NULL, 0, &list) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not read the devices from %s", ctl->db);
	}
	if (ctl->json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < list.count; i++) {
			cb_store_known_device_t const *d = &list.items[i];
			json_object *o = json_object_new_object();

			json_object_object_add(o, "identity", ctl_jstr(d->identity));
			json_object_object_add(o, "device", ctl_jstr(d->mac));
			json_object_object_add(o, "counted", json_object_new_boolean(d->counted));
			json_object_object_add(o, "last_nas", d->nas[0] ? ctl_jstr(d->nas) : NULL);
			json_object_object_add(o, "first_seen", ctl_jtime(d->first_seen));
			json_object_object_add(o, "last_seen", ctl_jtime(d->last_seen));
			json_object_array_add(a, o);
		}
		ctl_print_json(a);
	} else if (list.count == 0) {
		printf("No devices recorded%s.\n", n ? " for that person" : "");
	} else if ((t = ctl_table_new(6, headers)) != NULL) {
		for (size_t i = 0; i < list.count && t; i++) {
			cb_store_known_device_t const *d = &list.items[i];
			char first[32], last[32];
			char const *c[6] = {
				d->identity, d->mac, d->counted ? "counted" : "held back", d->nas[0] ? d->nas : "-",
				ctl_time(d->first_seen, first, sizeof(first)), ctl_time(d->last_seen, last, sizeof(last)),
			};

			if (ctl_table_row(t, c) < 0) rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		}
		if (rc == 0) ctl_table_print(t, stdout, "");
		ctl_table_free(t);
	} else {
		rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	}
	if (rc == 0 && list.count == 0) rc = CTL_EXIT_NOT_FOUND;
	cb_store_known_devices_free(&list);
	return rc;
}

static int devices_forget(ctl_t *ctl, int argc, char **argv)
{
	char const *reason = NULL, *by_arg = NULL, *mac_opt = NULL;
	ctl_opt_t const opts[] = { { "reason", &reason, NULL }, { "by", &by_arg, NULL }, { "mac", &mac_opt, NULL },
				   { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1], by[CB_STORE_BY_MAX + 1], mac[CB_MAC_LEN + 1] = "";
	char safe[CTL_SAFE_LEN(CB_STORE_REASON_MAX)], sid[CTL_SAFE_LEN(CB_IDENTITY_MAX)];
	char *pos[1];
	size_t n, removed = 0;
	int rc;

	if ((rc = ctl_parse(ctl, &devices_cmd, argc, argv, opts, pos, 1, &n)) != 0) return rc;
	if (n == 0) return ctl_usage_err(ctl, &devices_cmd, "whose devices? Give the identity they sign in with");
	if (!reason) return ctl_usage_err(ctl, &devices_cmd, "a reason is required (--reason TEXT); it is audited");
	if (mac_opt && !cb_mac_normalise(mac_opt, mac)) {
		return ctl_usage_err(ctl, &devices_cmd, "--mac: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff, "
				     "AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff)",
				     ctl_safe(strlen(mac_opt) > 32 ? "(too long)" : mac_opt, safe, sizeof(safe)));
	}
	if ((rc = ctl_identity(ctl, &devices_cmd, pos[0], identity)) != 0) return rc;
	if ((rc = ctl_text(ctl, &devices_cmd, "reason", reason, CB_STORE_REASON_MAX)) != 0) return rc;
	if ((rc = ctl_by(ctl, &devices_cmd, by_arg, by, sizeof(by))) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = ctl_identity(ctl, &devices_cmd, pos[0], identity)) != 0) return rc;

	rc = cb_store_devices_forget(ctl->store, identity, mac, reason, by, ctl->now, &removed);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_STORE, "could not forget the devices in %s; nothing was changed", ctl->db);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "identity", ctl_jstr(identity));
		json_object_object_add(o, "device", mac[0] ? ctl_jstr(mac) : NULL);
		json_object_object_add(o, "forgotten", json_object_new_int64((int64_t) removed));
		json_object_object_add(o, "reason", ctl_jstr(reason));
		json_object_object_add(o, "by", ctl_jstr(by));
		ctl_print_json(o);
	} else if (rc == 1) {
		printf("No device%s%s recorded for %s: nothing to forget.\n", mac[0] ? " " : "s", mac,
		       ctl_safe(identity, sid, sizeof(sid)));
	} else {
		printf("Forgot %zu device%s of %s: %s (by %s)\n", removed, removed == 1 ? "" : "s",
		       ctl_safe(identity, sid, sizeof(sid)), ctl_safe(reason, safe, sizeof(safe)), by);
		printf("Their next new device counts afresh against policy { max_devices }.\n");
		ctl_when_effective(ctl, "records this in the audit trail");
	}
	return rc == 1 ? CTL_EXIT_NOT_FOUND : CTL_EXIT_OK;
}

int ctl_devices_main(ctl_t *ctl, int argc, char **argv)
{
	char safe[CTL_SAFE_LEN(64)];

	if (argc == 0) return ctl_usage_err(ctl, &devices_cmd, "devices what? list or forget");
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		printf("Usage: cetbyodctl [OPTIONS] %s\n\n%s\n\n%s", devices_cmd.usage, devices_cmd.summary,
		       devices_cmd.help);
		return CTL_HELP_SHOWN;
	}
	if (strcmp(argv[0], "list") == 0) return devices_list(ctl, argc - 1, argv + 1);
	if (strcmp(argv[0], "forget") == 0) return devices_forget(ctl, argc - 1, argv + 1);
	return ctl_usage_err(ctl, &devices_cmd, "unknown devices command '%s': list or forget",
			     ctl_safe(strlen(argv[0]) > 64 ? "(too long)" : argv[0], safe, sizeof(safe)));
}

/*
 *	report sharing
 */

static json_object *sharing_json(cb_sharing_t const *r)
{
	json_object *top = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(top, "threshold", json_object_new_int64((int64_t) r->threshold));
	json_object_object_add(top, "since", ctl_jtime(r->since));
	for (size_t i = 0; i < r->num_people; i++) {
		cb_sharing_person_t const *p = &r->people[i];
		json_object *o = json_object_new_object(), *devs = json_object_new_array();
		json_object *ovs = json_object_new_array();

		json_object_object_add(o, "identity", ctl_jstr(p->identity));
		for (size_t k = p->dev_first; k < p->dev_first + p->dev_count; k++) {
			cb_store_known_device_t const *d = &r->devs.items[k];
			json_object *j = json_object_new_object();

			json_object_object_add(j, "device", ctl_jstr(d->mac));
			json_object_object_add(j, "counted", json_object_new_boolean(d->counted));
			json_object_object_add(j, "last_nas", d->nas[0] ? ctl_jstr(d->nas) : NULL);
			json_object_object_add(j, "first_seen", ctl_jtime(d->first_seen));
			json_object_object_add(j, "last_seen", ctl_jtime(d->last_seen));
			json_object_array_add(devs, j);
		}
		for (size_t k = p->ov_first; k < p->ov_first + p->ov_count; k++) {
			cb_sharing_overlap_t const *v = &r->ovs[k];
			json_object *j = json_object_new_object(), *nas = json_object_new_array();
			json_object *dev = json_object_new_array();

			json_object_array_add(nas, ctl_jstr(cb_sharing_session_nas(v->a)));
			json_object_array_add(nas, ctl_jstr(cb_sharing_session_nas(v->b)));
			json_object_array_add(dev, ctl_jstr(v->a->calling_station));
			json_object_array_add(dev, ctl_jstr(v->b->calling_station));
			json_object_object_add(j, "nas", nas);
			json_object_object_add(j, "devices", dev);
			json_object_object_add(j, "from", ctl_jtime(v->from));
			json_object_object_add(j, "until", v->until ? ctl_jtime(v->until) : NULL);
			json_object_array_add(ovs, j);
		}
		json_object_object_add(o, "devices", devs);
		json_object_object_add(o, "two_nases", ovs);
		json_object_array_add(a, o);
	}
	json_object_object_add(top, "people", a);
	return top;
}

static int sharing_print_devices(cb_sharing_t const *r)
{
	static char const *const headers[] = { "USER", "DEVICES", "DEVICE", "LIMIT", "LAST NAS", "FIRST SEEN",
					       "LAST SEEN" };
	ctl_table_t *t = ctl_table_new(7, headers);
	int rc = 0;

	if (!t) return -1;
	for (size_t i = 0; i < r->num_people && rc == 0; i++) {
		cb_sharing_person_t const *p = &r->people[i];
		char count[24];

		snprintf(count, sizeof(count), "%zu", p->dev_count);
		for (size_t k = p->dev_first; k < p->dev_first + p->dev_count && rc == 0; k++) {
			cb_store_known_device_t const *d = &r->devs.items[k];
			char first[32], last[32];
			char const *c[7] = {
				k == p->dev_first ? p->identity : "", k == p->dev_first ? count : "", d->mac,
				d->counted ? "counted" : "held back", d->nas[0] ? d->nas : "-",
				ctl_time(d->first_seen, first, sizeof(first)), ctl_time(d->last_seen, last, sizeof(last)),
			};

			rc = ctl_table_row(t, c);
		}
	}
	if (rc == 0) ctl_table_print(t, stdout, "  ");
	ctl_table_free(t);
	return rc;
}

static int sharing_print_overlaps(cb_sharing_t const *r)
{
	static char const *const headers[] = { "USER", "NAS", "DEVICE", "NAS", "DEVICE", "FROM", "UNTIL" };
	ctl_table_t *t = ctl_table_new(7, headers);
	int rc = 0;

	if (!t) return -1;
	for (size_t i = 0; i < r->num_ovs && rc == 0; i++) {
		cb_sharing_overlap_t const *v = &r->ovs[i];
		char from[32], until[32];
		char const *c[7] = {
			v->a->identity, cb_sharing_session_nas(v->a), v->a->calling_station[0] ? v->a->calling_station : "-",
			cb_sharing_session_nas(v->b), v->b->calling_station[0] ? v->b->calling_station : "-",
			ctl_time(v->from, from, sizeof(from)), v->until ? ctl_time(v->until, until, sizeof(until)) : "open",
		};

		rc = ctl_table_row(t, c);
	}
	if (rc == 0) ctl_table_print(t, stdout, "  ");
	ctl_table_free(t);
	return rc;
}

static int sharing_read(ctl_t *ctl, cb_sharing_t *r)
{
	int rc = cb_sharing_read(ctl->store, r);

	if (rc == -1) return ctl_err(ctl, CTL_EXIT_STORE, "could not read the devices and sessions from %s", ctl->db);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	return 0;
}

int ctl_report_sharing(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv)
{
	char const *threshold_arg = NULL, *since_opt = NULL, *tz_arg = NULL;
	ctl_opt_t const opts[] = { { "threshold", &threshold_arg, NULL }, { "since", &since_opt, NULL },
				   { "tz", &tz_arg, NULL }, { NULL, NULL, NULL } };
	cb_sharing_t r = { .threshold = 0 };
	unsigned long threshold = 0;
	cb_tz_t *tz = NULL;
	time_t ignore;
	char when[32];
	size_t n;
	int rc;

	if ((rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n)) != 0) return rc;
	if (threshold_arg && (rc = ctl_count(ctl, cmd, "threshold", threshold_arg, 1, 1000, &threshold)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	cb_sharing_defaults(ctl->store, ctl->now, &r.threshold, &r.since);
	if (threshold_arg) r.threshold = threshold;
	if (since_opt) {
		if ((rc = ctl_tz(ctl, cmd, tz_arg, &tz)) != 0) return rc;
		rc = ctl_when(ctl, cmd, "since", since_opt, tz, &r.since, &ignore);
		cb_tz_free(tz);
		if (rc) return rc;
	}
	if ((rc = sharing_read(ctl, &r)) != 0) {
		cb_sharing_free(&r);
		return rc;
	}
	if (ctl->json) {
		ctl_print_json(sharing_json(&r));
	} else if (r.num_people == 0) {
		printf("Since %s nobody had more than %lu devices, or sessions at two NASes at once.\n",
		       ctl_time(r.since, when, sizeof(when)), r.threshold);
	} else {
		printf("Since %s: %zu %s with more than %lu devices, or sessions at two NASes at once.\n",
		       ctl_time(r.since, when, sizeof(when)), r.num_people, r.num_people == 1 ? "person" : "people",
		       r.threshold);
		printf("Devices:\n");
		if (sharing_print_devices(&r) < 0) rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		if (rc == 0 && r.num_ovs) {
			printf("At two NASes at once:\n");
			if (sharing_print_overlaps(&r) < 0) rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		}
	}
	if (rc == 0 && r.num_people == 0) rc = CTL_EXIT_NOT_FOUND;
	cb_sharing_free(&r);
	return rc;
}
