/*
 * test_proc.c - helper programs started from unit tests (the fixtures'
 * certificate scripts, the Python servers), shared by test_google_emu.c
 * and test_mail.c.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_proc.h"

pid_t test_spawn(char *const argv[], char const *out)
{
	pid_t pid = fork();

	if (pid != 0) return pid;
	{
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);	/* Never outlive the test. */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
}

int test_run_wait(char *const argv[], char const *out)
{
	pid_t pid = test_spawn(argv, out);
	int status = 0;

	if (pid < 0) return -1;
	if (waitpid(pid, &status, 0) < 0) return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
