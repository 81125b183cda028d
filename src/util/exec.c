/* exec.c: fork, exec and collect, with pipes and no shell. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

extern char **environ;

/* POSIX declares posix_spawnp's argv char *const[] only so that existing
 * char ** arrays pass without a cast (C does not convert char ** to
 * const char *const *); it writes to neither the array nor the strings. */
static char *const *spawn_argv(const char *const argv[])
{
	union {
		const char *const *c;
		char *const *m;
	} u = { .c = argv };

	return u.m;
}

int ns_exec(const char *const argv[], const char *input, char *out, size_t cap, char *errout,
            size_t errcap)
{
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 }, status, rc = -1;
	size_t inlen = input ? strlen(input) : 0, inoff = 0, olen = 0, elen = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	if (out && cap)
		out[0] = '\0';
	if (errout && errcap)
		errout[0] = '\0';
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, spawn_argv(argv), environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		rc = -1;
		goto out;
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	if (inlen == 0) {
		close(in[1]);
		in[1] = -1;
	}
	for (;;) {
		struct pollfd p[3] = { { o[0], POLLIN, 0 }, { e[0], POLLIN, 0 },
		                       { in[1], POLLOUT, 0 } };
		char sink[4096];
		ssize_t n;

		if (o[0] < 0 && e[0] < 0 && in[1] < 0)
			break;
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents) {
			n = write(in[1], input + inoff, inlen - inoff);
			if (n > 0)
				inoff += (size_t)n;
			if (n <= 0 || inoff == inlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &o[0] : &e[0];
			char *dst = i == 0 ? out : errout;
			size_t dcap = i == 0 ? cap : errcap, *dlen = i == 0 ? &olen : &elen;

			if (!p[i].revents)
				continue;
			if (dst != NULL && *dlen + 1 < dcap)
				n = read(*fd, dst + *dlen, dcap - 1 - *dlen);
			else
				n = read(*fd, sink, sizeof(sink));
			if (n <= 0) {
				close(*fd);
				*fd = -1;
			} else if (dst != NULL && *dlen + 1 < dcap) {
				*dlen += (size_t)n;
				dst[*dlen] = '\0';
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto out;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	return rc;
}
