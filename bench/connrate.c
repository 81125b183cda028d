/* connrate: new connections per second, and the echo server the bench uses.
 *
 *   connrate server PORT                      echo server (epoll; echoes every
 *                                             byte, closes on EOF)
 *   connrate client HOST PORT SECONDS WORKERS each worker, for SECONDS:
 *                                             connect, write 1 byte, read the
 *                                             1-byte echo, close; repeat
 *   connrate send HOST PORT TEXT              one connection: send TEXT, check
 *                                             the echo is identical (exit 0/1)
 *
 * client prints:  conn_per_s=... ok=N errors=E seconds=S [first_error=...]
 * An error (refused, reset, timeout) counts, and the worker backs off 1 ms. */
#include "common.h"
#include "epoll_server.h"

#include <pthread.h>
#include <signal.h>

/* ------------------------------------------------------------- server */

static void echo_accepted(int fd)
{
	set_nodelay(fd);
	/* writes are blocking (with a timeout): replies are tiny */
	set_timeouts(fd, 5);
}

static int echo(int fd, const char *buf, size_t n)
{
	return write_full(fd, buf, n);
}

__attribute__((noreturn)) static void server(const char *port)
{
	static char buf[65536];
	const struct epoll_server s = { SOCK_CLOEXEC, echo_accepted, echo, buf, sizeof buf };

	signal(SIGPIPE, SIG_IGN);
	epoll_serve(port, &s);
}

/* ------------------------------------------------------------- client */

struct worker {
	pthread_t thread;
	struct sockaddr_in sa;
	double until;
	long ok, errors;
	int first_errno;
	char first_error[128];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	while (now_s() < w->until) {
		char b = 'c';
		const char *what = "connect";
		int fd = connect_to(&w->sa, 5);
		if (fd >= 0) {
			set_nodelay(fd);
			what = "write";
			if (write_full(fd, &b, 1) == 0) {
				what = "read";
				if (read_full(fd, &b, 1) == 0 && b == 'c') {
					close(fd);
					w->ok++;
					continue;
				}
			}
			int e = errno;
			close(fd);
			errno = e;
		}
		if (w->errors++ == 0)
			snprintf(w->first_error, sizeof w->first_error, "%s: %s", what, errstr());
		usleep(1000);
	}
	return NULL;
}

static int client(const char *host, const char *port, double seconds, int workers)
{
	struct worker *w = calloc((size_t)workers, sizeof *w);
	struct sockaddr_in sa = make_addr(host, port);
	long ok = 0, errors = 0;
	const char *first = NULL;
	double t0 = now_s(), elapsed;

	if (!w)
		die("out of memory");
	for (int i = 0; i < workers; i++) {
		w[i].sa = sa;
		w[i].until = t0 + seconds;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < workers; i++) {
		pthread_join(w[i].thread, NULL);
		ok += w[i].ok;
		errors += w[i].errors;
		if (!first && w[i].errors)
			first = w[i].first_error;
	}
	elapsed = now_s() - t0;
	printf("conn_per_s=%.1f ok=%ld errors=%ld seconds=%.2f", (double)ok / elapsed, ok, errors,
	       elapsed);
	if (first)
		printf(" first_error=\"%s\"", first);
	printf("\n");
	return ok > 0 ? 0 : 1;
}

/* --------------------------------------------------------------- send */

static int send_text(const char *host, const char *port, const char *text)
{
	struct sockaddr_in sa = make_addr(host, port);
	size_t n = strlen(text);
	char *back = calloc(1, n + 1);
	int fd = connect_to(&sa, 10);
	if (fd < 0)
		die("send: connect %s:%s: %s", host, port, strerror(errno));
	if (write_full(fd, text, n) < 0 || read_full(fd, back, n) < 0)
		die("send: %s", errstr());
	close(fd);
	if (memcmp(back, text, n) != 0)
		die("send: echo differs from what was sent");
	return 0;
}

int main(int argc, char **argv)
{
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		server(argv[2]);
	if (argc == 6 && strcmp(argv[1], "client") == 0) {
		double s = atof(argv[4]);
		int wk = atoi(argv[5]);
		if (s <= 0 || wk < 1 || wk > 256)
			die("connrate: bad SECONDS or WORKERS");
		return client(argv[2], argv[3], s, wk);
	}
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return send_text(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: connrate server PORT | connrate client HOST PORT SECONDS WORKERS"
			" | connrate send HOST PORT TEXT\n");
	return 2;
}
