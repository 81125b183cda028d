/* idle: hold many established, idle connections.
 *
 *   idle server PORT          accept; answer the first byte of each connection
 *                             with one byte; then hold it until the peer closes
 *   idle client HOST PORT N   open N connections one after another; on each,
 *                             send 1 byte and wait for the 1-byte answer, so it
 *                             is established end to end (through any tunnel);
 *                             then print "ready N" and hold them all until
 *                             SIGTERM or SIGINT
 *
 * On any failure the client prints "failed at I: reason" and exits 1. */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>

__attribute__((noreturn)) static void server(const char *port)
{
	int lfd = listen_on(port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	struct epoll_event evs[256];
	char buf[4096];

	fcntl(lfd, F_SETFL, O_NONBLOCK);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll: %s", strerror(errno));
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (;;) {
					int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP };
					if (c < 0)
						break;
					cev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r > 0) {
				char b = 'i';
				if (write(fd, &b, 1) == 1)
					continue;
			}
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
	}
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int client(const char *host, const char *port, long n)
{
	struct sockaddr_in sa = make_addr(host, port);
	int *fds = calloc((size_t)n, sizeof *fds);
	struct sigaction act;
	if (!fds)
		die("out of memory");
	for (long i = 0; i < n; i++) {
		char b = 'i';
		fds[i] = connect_to(&sa, 15);
		if (fds[i] < 0 || write_full(fds[i], &b, 1) < 0 || read_full(fds[i], &b, 1) < 0) {
			printf("failed at %ld: %s\n", i, errstr());
			fflush(stdout);
			return 1;
		}
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = on_signal;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	printf("ready %ld\n", n);
	fflush(stdout);
	while (!stop)
		pause();
	for (long i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

int main(int argc, char **argv)
{
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		server(argv[2]);
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		long n = atol(argv[4]);
		if (n < 1 || n > 100000)
			die("idle: bad N");
		return client(argv[2], argv[3], n);
	}
	fprintf(stderr, "usage: idle server PORT | idle client HOST PORT N\n");
	return 2;
}
