/*
 * reaper - run a command as a child subreaper, and reap what it leaves.
 *
 * libvirtd daemonizes QEMU and virtlogd daemonizes itself: their parent
 * becomes the nearest subreaper, else PID 1.  On some machines PID 1 reaps
 * late (seconds) or not at all, and a zombie looks alive to kill -0 and to
 * libvirt (a capabilities probe waited forever on a zombie QEMU).  Under
 * this reaper every orphan of the suite is reaped at once.
 *
 *   reaper COMMAND [ARG...]      exits with COMMAND's status
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	pid_t child, p;
	int status, rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper COMMAND [ARG...]\n");
		return 64;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("reaper: PR_SET_CHILD_SUBREAPER");
	child = fork();
	if (child < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (child == 0) {
		execvp(argv[1], argv + 1);
		perror("reaper: exec");
		_exit(127);
	}
	/* Reap every child and orphan until the command itself ends... */
	while ((p = waitpid(-1, &status, 0)) != child)
		if (p < 0 && errno != EINTR)
			return 1;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* ...then what is already dead; anything still running is left to
	 * PID 1 (the suite kills its hosts before it ends). */
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
	return rc;
}
