/*
 * test_review_metrics: the metrics endpoint's connection handling, over
 * real loopback sockets and the real loop (only non-200 answers, so no
 * daemon state is gathered).
 * - a client whose whole request is already in the socket is evicted by a
 *   burst of 8 idle connections accepted in the same listener callback;
 * - a request followed by more bytes (a body, a pipelined request): the
 *   answer is sent and the socket closed with unread input, i.e. an RST.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/daemon/daemon.h"
#include "../../src/daemon/metrics.h"
#include "tap.h"

static struct ns_daemon d;
static struct ns_metrics m;
static struct ns_hostport at;

static int dial(void)
{
	struct sockaddr_in a = *(struct sockaddr_in *)&at.sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	return fd;
}

static void spin(int rounds)
{
	for (int i = 0; i < rounds; i++)
		ns_loop_wait(&d.loop, 20);
}

/* What the client reads within 200 ms: >0 bytes, 0 EOF, -errno. */
static ssize_t answer_of(int fd, char *buf, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 200) <= 0)
		return -ETIMEDOUT;
	n = recv(fd, buf, cap - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

static void test_evicted_with_request_in(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char buf[512];
	int p, idle[NS_METRICS_CONNS];
	ssize_t n;

	p = dial();
	ok(p >= 0 && send(p, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1,
	   "the scraper connects and sends its whole request");
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		idle[i] = dial();
	/* Only now does the daemon run: one listener callback sees 9. */
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	diag("scraper got %zd: %.20s", n, n > 0 ? buf : "");
	ok(n > 0 && strncmp(buf, "HTTP/1.1 404", 12) == 0,
	   "a request already received is answered, not evicted by 8 idle newcomers "
	   "(evicted=%llu)", (unsigned long long)m.evicted);
	close(p);
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		close(idle[i]);
	spin(3);
}

static void test_unread_input_rst(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
	char buf[512];
	int p = dial();
	ssize_t n;

	ok(send(p, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1, "pipelined requests sent");
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	diag("client got %zd (%s)", n, n < 0 ? strerror((int)-n) : "bytes");
	ok(n > 0, "the first answer is readable, not lost to a reset");
	close(p);
	spin(2);
}

int main(void)
{
	char err[256], spec[32];

	if (ns_loop_init(&d.loop) != 0)
		return 1;
	ns_metrics_init(&m, &d);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", 40000 + getpid() % 20000);
	if (ns_hostport_parse(spec, &at) != 0 || ns_metrics_open(&m, &at, err, sizeof(err)) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_evicted_with_request_in();
	test_unread_input_rst();
	ns_metrics_close(&m);
	ns_loop_close(&d.loop);
	return tap_done();
}
