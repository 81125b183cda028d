/*
 * test_sockowner: ns_sock_peer_uid (src/util/sockowner.c) finds the owner
 * of the listener at the other end of a loopback connection: ours, and,
 * when run as root, a listener of another uid (a child that gave up root).
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/util/sockowner.h"
#include "tap.h"

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { 0 };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	return fd;
}

int main(void)
{
	char err[256] = "";
	uint16_t port = 0;
	uid_t uid = 12345;
	int l = listener(&port), c, s, rc;

	ok(l >= 0, "a listener on 127.0.0.1:%u", port);
	c = connect_to(port);
	ok(c >= 0, "connected");
	/* Not accepted yet: the kernel cannot tell (uid 0 would pass as root). */
	rc = ns_sock_peer_uid(c, &uid, err, sizeof(err));
	ok(rc == -1, "before accept: refused (%s)", err);
	s = accept(l, NULL, NULL);
	rc = ns_sock_peer_uid(c, &uid, err, sizeof(err));
	ok(rc == 0 && uid == geteuid(), "accepted: the listener's uid %u found (rc %d, %s)",
	   (unsigned)uid, rc, rc ? err : "");
	close(s);
	close(c);
	close(l);
	ok(ns_sock_peer_uid(l, &uid, err, sizeof(err)) == -1, "a closed socket: refused (%s)",
	   err);

	if (geteuid() != 0) {
		ok(1, "# SKIP not root: no listener of another uid");
	} else {
		int p[2];
		pid_t pid;

		if (pipe(p) != 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			uint16_t cport = 0;
			int cl;

			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(1);
			cl = listener(&cport);
			if (write(p[1], &cport, sizeof(cport)) != sizeof(cport))
				_exit(1);
			for (;;) {
				int a = accept(cl, NULL, NULL);
				if (a >= 0)
					pause();
			}
		}
		if (read(p[0], &port, sizeof(port)) != sizeof(port))
			port = 0;
		c = connect_to(port);
		uid = 0;
		for (int i = 0; i < 100; i++) {
			rc = ns_sock_peer_uid(c, &uid, err, sizeof(err));
			if (rc == 0)
				break;
			usleep(10000);
		}
		ok(rc == 0 && uid == 65534, "a listener of uid 65534: its uid found (%u, rc %d, %s)",
		   (unsigned)uid, rc, rc ? err : "");
		close(c);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return tap_done();
}
