/* net.c: socket helpers (net.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * whose headers do not mix with glibc's. */
#define NS_SO_ORIGINAL_DST 80
#define NS_IP6T_SO_ORIGINAL_DST 80

int ns_original_dst(int fd, struct sockaddr_storage *out)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	memset(out, 0, sizeof(*out));
	if (getsockname(fd, (struct sockaddr *)&local, &len) != 0)
		return -1;
	len = sizeof(*out);
	if (local.ss_family == AF_INET6)
		return getsockopt(fd, SOL_IPV6, NS_IP6T_SO_ORIGINAL_DST, out, &len);
	return getsockopt(fd, SOL_IP, NS_SO_ORIGINAL_DST, out, &len);
}

void ns_addr_text(const struct sockaddr_storage *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(s->sin6_port));
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)a;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(s->sin_port));
	}
}

uint16_t ns_addr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

bool ns_addr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
}

void ns_socket_tune(int fd, bool keepalive)
{
	int one = 1, idle = 60, intvl = 10, cnt = 6;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!keepalive)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void ns_socket_reset(int fd)
{
	struct linger l = { 1, 0 };

	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int ns_socket_connect(const struct sockaddr_storage *dst, const struct sockaddr_storage *from,
                      bool transparent, uint32_t mark, char *err, size_t errlen)
{
	int fd, one = 1, saved;

	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		saved = errno;
		snprintf(err, errlen, "socket: %s", strerror(saved));
		errno = saved;
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
		saved = errno;
		snprintf(err, errlen, "SO_MARK: %s", strerror(saved));
		goto fail;
	}
	if (transparent) {
		int r = dst->ss_family == AF_INET6
		        ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
		        : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
		if (r != 0) {
			saved = errno;
			snprintf(err, errlen, "IP_TRANSPARENT: %s", strerror(saved));
			goto fail;
		}
	}
	if (from != NULL) {
		/* A chosen port may still be held by a closed connection (in
		 * TIME_WAIT): connect() from an explicitly bound port may take
		 * its 4-tuple over (TCP timestamps keep the sequence spaces
		 * apart), and refuses a true clash with EADDRNOTAVAIL. */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)from, addr_len(from)) != 0) {
			saved = errno;
			snprintf(err, errlen, "bind to %s address: %s", transparent ? "the peer's" : "our",
			         strerror(saved));
			goto fail;
		}
	}
	ns_socket_tune(fd, !transparent);
	if (connect(fd, (const struct sockaddr *)dst, addr_len(dst)) != 0 && errno != EINPROGRESS) {
		saved = errno;
		snprintf(err, errlen, "connect: %s", strerror(saved));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}

void ns_addr_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)a)->sin_port = htons(port);
}

void ns_ephemeral_range(unsigned *lo, unsigned *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	*lo = 32768;
	*hi = 60999;
	if (f == NULL)
		return;
	if (fscanf(f, "%u %u", lo, hi) != 2 || *lo > *hi || *hi > 65535) {
		*lo = 32768;
		*hi = 60999;
	}
	fclose(f);
}

uint16_t ns_next_ephemeral_port(uint16_t port, int step)
{
	unsigned lo, hi;

	ns_ephemeral_range(&lo, &hi);
	if (port < lo || port > hi)
		port = (uint16_t)lo;
	return (uint16_t)(lo + (port - lo + (unsigned)step) % (hi - lo + 1));
}

int ns_socket_listen(const char *addr, uint16_t port, bool keepalive, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s->sin_addr);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Transparent: the rules let only such sockets receive on the proxy
	 * ports, and an unprivileged process cannot make one
	 * (intercept/ruletext.c, NODESEAL_LISTEN). */
	if ((ss.ss_family == AF_INET6
	         ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
	         : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) != 0) {
		snprintf(err, errlen, "listen on %s port %u: IP_TRANSPARENT: %s", addr, port,
		         strerror(errno));
		goto fail;
	}
	/* Accepted sockets inherit these: no set-up per connection. */
	ns_socket_tune(fd, keepalive);
	if (bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) != 0) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "listen on %s port %u: the port is held by another "
			         "process; stop it, or choose another --proxy-port", addr, port);
		else
			snprintf(err, errlen, "listen on %s port %u: %s", addr, port, strerror(errno));
		goto fail;
	}
	if (listen(fd, 1024) != 0) {
		snprintf(err, errlen, "listen on %s port %u: %s", addr, port, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
