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
#include "epoll_server.h"

#include <signal.h>

/* One byte back for what the client sends (its one byte): then it knows
 * the connection is established end to end. */
static int answer_once(int fd, const char *buf, size_t n)
{
	char b = 'i';

	(void)buf;
	(void)n;
	return write(fd, &b, 1) == 1 ? 0 : -1;
}

__attribute__((noreturn)) static void server(const char *port)
{
	static char buf[4096];
	const struct epoll_server s = { SOCK_CLOEXEC | SOCK_NONBLOCK, NULL, answer_once, buf,
	                                 sizeof buf };

	epoll_serve(port, &s);
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
