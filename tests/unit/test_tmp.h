/*
 * test_tmp.h - a unit test's temporary directory, removed also when the
 * test fails.  check runs each test in a child process, and after a failed
 * assertion that child runs neither the checked teardown nor its atexit
 * handlers: a directory a test made for itself in /tmp stayed there.  So
 * every directory is made under one root per test program, which the
 * program makes before main (in the process that forks the tests, under
 * $TMPDIR or /tmp) and removes, with everything in it, when it exits.
 * A test still removes its own directory when it passes (its teardown).
 */
#ifndef CETBYOD_TEST_TMP_H
#define CETBYOD_TEST_TMP_H

#include <stddef.h>

/**
 * test_tmp_dir - a new directory prefix.XXXXXX under the program's root,
 * its path into buf (len bytes); a failed check when it cannot be made.
 */
void test_tmp_dir(char const *prefix, char *buf, size_t len);

/** test_tmp_remove_tree - path and everything under it (symbolic links not followed); NULL or "": nothing. */
void test_tmp_remove_tree(char const *path);

#endif
