/*
 * test_proc.c - running a helper program to completion from a unit test
 * (the fixtures' certificate scripts), shared by the tests that start
 * Python servers (test_google_emu.c, test_mailer.c).
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_proc.h"

int test_run_wait(char *const argv[], char const *out)
{
	pid_t pid = fork();
	int status = 0;

	if (pid < 0) return -1;
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0) return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
