/*
 * test_tmp.c - the unit tests' temporary directories (test_tmp.h): the
 * program's root, made before main and removed at its exit, and the
 * removal of a directory tree the tests share.
 */
#define _GNU_SOURCE	/* nftw */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_tmp.h"

static char root[512];
static pid_t owner;	/* The process that made the root: a test's child exits without removing it. */

static int remove_entry(char const *path, struct stat const *sb, int type, struct FTW *ftw)
{
	(void) sb;
	(void) type;
	(void) ftw;
	remove(path);
	return 0;
}

void test_tmp_remove_tree(char const *path)
{
	if (path && *path) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_root(void)
{
	if (getpid() == owner) test_tmp_remove_tree(root);
}

__attribute__((constructor)) static void make_root(void)
{
	char const *base = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/cetbyod-unit.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(root)) {
		fprintf(stderr, "test_tmp: cannot make %s: %s\n", root, strerror(errno));
		exit(99);	/* automake's hard error. */
	}
	owner = getpid();
	atexit(remove_root);
}

void test_tmp_dir(char const *prefix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.XXXXXX", root, prefix);

	ck_assert_msg(n > 0 && (size_t) n < len, "test_tmp_dir: %s/%s: name too long", root, prefix);
	ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}
