/* rr: small-message round-trip latency.
 *
 *   rr server PORT                   echo server (thread per connection)
 *   rr client HOST PORT N [SIZE]     N round trips of SIZE bytes (default 100)
 *
 * The client writes SIZE bytes, waits until SIZE bytes came back, and times
 * that; 10% of N (at most 500) untimed warm-up round trips come first.
 * Output, one line:  p50_us=... p99_us=... mean_us=... min_us=... max_us=... n=N
 * TCP_NODELAY is set on both ends. */
#include "common.h"

#include <pthread.h>

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536];
	set_nodelay(fd);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (write_full(fd, buf, (size_t)r) < 0)
			break;
	}
	close(fd);
	return NULL;
}

__attribute__((noreturn)) static void server(const char *port)
{
	int lfd = listen_on(port);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int client(const char *host, const char *port, long n, long size)
{
	struct sockaddr_in sa = make_addr(host, port);
	long warm = n / 10 > 500 ? 500 : n / 10;
	double *lat = calloc((size_t)n, sizeof *lat);
	char *out = malloc((size_t)size), *in = malloc((size_t)size);
	double sum = 0;
	int fd;

	if (!lat || !out || !in)
		die("out of memory");
	memset(out, 'r', (size_t)size);
	fd = connect_to(&sa, 10);
	if (fd < 0)
		die("rr: connect %s:%s: %s", host, port, strerror(errno));
	set_nodelay(fd);
	for (long i = -warm; i < n; i++) {
		double t0 = now_s();
		if (write_full(fd, out, (size_t)size) < 0 || read_full(fd, in, (size_t)size) < 0)
			die("rr: round trip %ld: %s", i, errstr());
		if (i >= 0)
			lat[i] = (now_s() - t0) * 1e6;
	}
	close(fd);
	qsort(lat, (size_t)n, sizeof *lat, cmp_double);
	for (long i = 0; i < n; i++)
		sum += lat[i];
	/* nearest-rank percentiles */
	printf("p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f n=%ld\n",
	       lat[(n * 50 + 99) / 100 - 1], lat[(n * 99 + 99) / 100 - 1], sum / (double)n,
	       lat[0], lat[n - 1], n);
	return 0;
}

int main(int argc, char **argv)
{
	raise_nofile();
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		server(argv[2]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "client") == 0) {
		long n = atol(argv[4]), size = argc == 6 ? atol(argv[5]) : 100;
		if (n < 1 || size < 1 || size > 1 << 20)
			die("rr: bad N or SIZE");
		return client(argv[2], argv[3], n, size);
	}
	fprintf(stderr, "usage: rr server PORT | rr client HOST PORT N [SIZE]\n");
	return 2;
}
