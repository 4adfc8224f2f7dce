/*
 * key.c - the key of a keyed audit chain (audit { hmac_key_file }): read
 * it, and at the module's start-up check that it is out of the service
 * user's write reach (chain.c has what the keyed chain protects against).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit/audit_int.h"

#define KEY_GROUPS_MAX	256

/** in_my_groups - whether gid is the process's group or one of its supplementary groups. */
static bool in_my_groups(gid_t gid)
{
	gid_t groups[KEY_GROUPS_MAX];
	int n = getgroups(KEY_GROUPS_MAX, groups);

	if (gid == getegid()) return true;
	for (int i = 0; i < n; i++) if (groups[i] == gid) return true;
	return false;
}

/** writable_by_me - why st (of what) is writable by this process's user, or NULL. */
static char const *writable_by_me(struct stat const *st)
{
	if (st->st_uid == geteuid()) return "is owned by the user radiusd runs as";
	if ((st->st_mode & S_IWGRP) && in_my_groups(st->st_gid)) return "is writable by a group of that user";
	if (st->st_mode & S_IWOTH) return "is writable by everyone";
	return NULL;
}

/** service_check - the file (st) and its directory out of the service user's reach; 0, 1 warning, -1. */
static int service_check(char const *path, struct stat const *st, char *err, size_t errlen)
{
	char dir[4096];
	char const *slash = strrchr(path, '/'), *why;
	struct stat ds;

	if (st->st_mode & S_IROTH) {
		snprintf(err, errlen, "%s is readable by everyone: whoever reads the key can rewrite the trail "
			 "(chmod 0640, owner root, group of radiusd's user)", path);
		return -1;
	}
	if (geteuid() == 0) {
		snprintf(err, errlen, "radiusd runs as root, which can write %s: the key protects the trail only "
			 "when radiusd runs as an unprivileged user (user = freerad)", path);
		return 1;
	}
	if ((why = writable_by_me(st))) {
		snprintf(err, errlen, "%s %s: the service could replace the key and rewrite the trail with it "
			 "(chown root, chmod 0640)", path, why);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash == path ? 1 : slash - path) : 1, slash ? path : ".");
	if (stat(dir, &ds) < 0 || (why = writable_by_me(&ds))) {
		snprintf(err, errlen, "the directory %s of the key %s: the service could replace the key (use a "
			 "root-owned directory such as /etc/freeradius)", dir, why ? why : "cannot be checked");
		return -1;
	}
	return 0;
}

int cb_audit_key_load(char const *path, bool service, cb_audit_key_t *key, char *err, size_t errlen)
{
	char eb[128];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read the key %s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
		if (fd >= 0) close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the key %s is not a regular file", path);
		rc = -1;
	} else if (service) {
		rc = service_check(path, &st, err, errlen);
	}
	if (rc >= 0) {
		n = read(fd, key->bytes, sizeof(key->bytes));
		if (n < 0) {
			snprintf(err, errlen, "cannot read the key %s: %s", path, cb_audit_strerror(errno, eb, sizeof(eb)));
			rc = -1;
		} else if ((size_t) n < CB_AUDIT_KEY_MIN || (size_t) n >= sizeof(key->bytes)) {
			snprintf(err, errlen, "the key %s holds %zd bytes: it must hold %d to %d (for example "
				 "head -c 32 /dev/urandom)", path, n, CB_AUDIT_KEY_MIN, CB_AUDIT_KEY_MAX - 1);
			rc = -1;
		} else {
			key->len = (size_t) n;
		}
	}
	close(fd);
	if (rc < 0) cb_audit_key_wipe(key);
	return rc;
}

void cb_audit_key_wipe(cb_audit_key_t *key)
{
	if (!key) return;
	OPENSSL_cleanse(key->bytes, sizeof(key->bytes));
	key->len = 0;
}
