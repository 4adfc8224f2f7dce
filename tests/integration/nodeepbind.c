/*
 * nodeepbind.c - test-only LD_PRELOAD shim for running radiusd with a module
 * built under AddressSanitizer.
 *
 * radiusd dlopen()s modules with RTLD_DEEPBIND, which the ASan runtime
 * refuses.  This shim sits in front of dlopen, clears that one flag and
 * passes the call on; nothing else changes.  It is never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

void *dlopen(char const *file, int mode);

void *dlopen(char const *file, int mode)
{
	static void *(*real_dlopen)(char const *, int);

	if (!real_dlopen) *(void **) &real_dlopen = dlsym(RTLD_NEXT, "dlopen");
	return real_dlopen(file, mode & ~RTLD_DEEPBIND);
}
