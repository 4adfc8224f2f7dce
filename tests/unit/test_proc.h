/*
 * test_proc.h - helper programs started by unit tests (test_proc.c).
 */
#ifndef CETBYOD_TEST_PROC_H
#define CETBYOD_TEST_PROC_H

#include <sys/types.h>

/**
 * test_spawn - start argv[0] (a path) with argv, its stdout and stderr
 * appended to the file out; it gets SIGTERM if the test dies.  Returns its
 * PID (the caller stops and reaps it), or -1.
 */
pid_t test_spawn(char *const argv[], char const *out);

/** test_run_wait - test_spawn and wait: its exit status, or -1 when it could not be run or was killed. */
int test_run_wait(char *const argv[], char const *out);

#endif
