/*
 * test_proc.h - helper programs run by unit tests (test_proc.c).
 */
#ifndef CETBYOD_TEST_PROC_H
#define CETBYOD_TEST_PROC_H

/**
 * test_run_wait - run argv[0] (a path) with argv to completion, its
 * stdout and stderr appended to the file out.  Returns its exit status, or
 * -1 when it could not be run or was killed.
 */
int test_run_wait(char *const argv[], char const *out);

#endif
