/*
 * sockdiag.c: finding and destroying the node's TCP sockets (sockdiag.h).
 *
 * Requests and answers are inet_diag's (linux/inet_diag.h).  A dump
 * answers with many messages over several datagrams, ending in NLMSG_DONE;
 * every message is bounds-checked before it is read, although only the
 * kernel can send on this socket (it is not bound to a port others know,
 * and answers from a non-zero port are ignored).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sockdiag.h"

/* Sockets worth destroying: everything but LISTEN, TIME_WAIT and CLOSE. */
#define LIVE_STATES                                                                      \
	((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) |          \
	 (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) |         \
	 (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING))

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 req;
};

int ns_sockdiag_open(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

/* Receives one datagram from the kernel; its length, or -1. */
static ssize_t recv_kernel(int fd, void *buf, size_t cap)
{
	struct sockaddr_nl from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	for (;;) {
		n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&from, &flen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || from.nl_pid == 0)
			return n;
		/* not the kernel's: ignore it */
	}
}

/* The kernel's answer to one request with NLM_F_ACK: its errno (0: done). */
static int request(int fd, struct diag_req *m)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint64_t ans[512];
	ssize_t n;
	const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)ans;

	if (sendto(fd, m, sizeof(*m), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return errno;
	n = recv_kernel(fd, ans, sizeof(ans));
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
		return EPROTO;
	return -((const struct nlmsgerr *)NLMSG_DATA(h))->error;
}

static void destroy_req(struct diag_req *m, bool v6, const uint8_t *local, const uint8_t *remote,
                        uint16_t lport_be, uint16_t rport_be)
{
	memset(m, 0, sizeof(*m));
	m->nlh.nlmsg_len = sizeof(*m);
	m->nlh.nlmsg_type = SOCK_DESTROY;
	m->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m->req.sdiag_family = v6 ? AF_INET6 : AF_INET;
	m->req.sdiag_protocol = IPPROTO_TCP;
	m->req.idiag_states = ~0u;
	m->req.id.idiag_sport = lport_be;
	m->req.id.idiag_dport = rport_be;
	memcpy(m->req.id.idiag_src, local, v6 ? 16 : 4);
	memcpy(m->req.id.idiag_dst, remote, v6 ? 16 : 4);
	m->req.id.idiag_cookie[0] = m->req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

/*
 * The cookie of the connection with exactly this 4-tuple.  The kernel's
 * lookup by tuple (inet_diag_find_one_icsk) falls back to the listener of
 * the local port when no connection has the tuple, so what it answers is
 * taken only if it is that connection: not a listener, same remote port.
 * 0 with cookie set; -1 if there is no such connection.
 */
static int find_cookie(int fd, const struct ns_flow_tuple *tu, uint32_t cookie[2])
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint64_t ans[512];
	const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)ans;
	const struct inet_diag_msg *d;
	struct diag_req m;
	ssize_t n;

	destroy_req(&m, tu->v6, tu->local, tu->remote, htons(tu->lport), htons(tu->rport));
	m.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	m.nlh.nlmsg_flags = NLM_F_REQUEST;
	if (sendto(fd, &m, sizeof(m), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -1;
	n = recv_kernel(fd, ans, sizeof(ans));
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(*d)) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)) || h->nlmsg_len > (size_t)n)
		return -1; /* NLMSG_ERROR: ENOENT, no socket at all */
	d = NLMSG_DATA(h);
	if (d->idiag_state == TCP_LISTEN || d->id.idiag_dport != htons(tu->rport) ||
	    d->id.idiag_sport != htons(tu->lport) ||
	    memcmp(d->id.idiag_dst, tu->remote, tu->v6 ? 16 : 4) != 0)
		return -1;
	cookie[0] = d->id.idiag_cookie[0];
	cookie[1] = d->id.idiag_cookie[1];
	return 0;
}

/* By cookie: should the connection go meanwhile, the kernel's fallback to
 * the listener fails the cookie check instead of destroying the listener. */
int ns_sockdiag_destroy(int fd, const struct ns_flow_tuple *tu)
{
	struct diag_req m;
	uint32_t cookie[2];

	if (find_cookie(fd, tu, cookie) != 0)
		return -1;
	destroy_req(&m, tu->v6, tu->local, tu->remote, htons(tu->lport), htons(tu->rport));
	m.req.id.idiag_cookie[0] = cookie[0];
	m.req.id.idiag_cookie[1] = cookie[1];
	return request(fd, &m) == 0 ? 0 : -1;
}

int ns_sockdiag_probe(int fd)
{
	static const uint8_t zero[16];
	struct diag_req m;
	int e;

	/* Port 0 to port 0: no such socket.  A kernel that can destroy says
	 * so (ENOENT); one built without it says EOPNOTSUPP. */
	destroy_req(&m, false, zero, zero, 0, 0);
	e = request(fd, &m);
	if (e == ENOENT || e == 0)
		return 1;
	return e == EOPNOTSUPP ? 0 : -1;
}

static bool port_listed(uint16_t port_be, const uint16_t *ports, int nports)
{
	for (int i = 0; i < nports; i++)
		if (htons(ports[i]) == port_be)
			return true;
	return false;
}

/*
 * One family's dump.  Matching sockets are collected first and destroyed
 * after the dump: a destroy request in the middle of a dump would have its
 * answer interleaved with the dump's.
 */
static int destroy_family(int fd, int family, const uint16_t *ports, int nports)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct inet_diag_sockid found[256];
	uint64_t buf[8192 / 8];
	struct diag_req m;
	int nfound = 0, done = 0, killed = 0, more = 0;

	memset(&m, 0, sizeof(m));
	m.nlh.nlmsg_len = sizeof(m);
	m.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	m.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	m.req.sdiag_family = (uint8_t)family;
	m.req.sdiag_protocol = IPPROTO_TCP;
	m.req.idiag_states = LIVE_STATES;
	if (sendto(fd, &m, sizeof(m), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -1;
	while (!done) {
		ssize_t n = recv_kernel(fd, buf, sizeof(buf));
		size_t left;
		const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)buf;

		if (n <= 0)
			return -1;
		for (left = (size_t)n; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct inet_diag_msg *d;
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
				continue;
			d = NLMSG_DATA(h);
			if (!port_listed(d->id.idiag_sport, ports, nports) &&
			    !port_listed(d->id.idiag_dport, ports, nports))
				continue;
			if (nfound < (int)(sizeof(found) / sizeof(found[0])))
				found[nfound++] = d->id;
			else
				more = 1;
		}
	}
	for (int i = 0; i < nfound; i++) {
		destroy_req(&m, family == AF_INET6, (const uint8_t *)found[i].idiag_src,
		            (const uint8_t *)found[i].idiag_dst, found[i].idiag_sport,
		            found[i].idiag_dport);
		if (request(fd, &m) == 0)
			killed++;
	}
	/* More than one batch: go round again for the rest. */
	if (more && killed > 0) {
		int rest = destroy_family(fd, family, ports, nports);
		return rest < 0 ? killed : killed + rest;
	}
	return killed;
}

int ns_sockdiag_destroy_ports(int fd, const uint16_t *ports, int nports)
{
	int a = destroy_family(fd, AF_INET, ports, nports);
	int b = destroy_family(fd, AF_INET6, ports, nports);

	if (a < 0 && b < 0)
		return -1;
	return (a > 0 ? a : 0) + (b > 0 ? b : 0);
}
