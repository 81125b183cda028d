/*
 * sockowner.c: the owner of the other end of a local TCP connection
 * (sockowner.h).
 *
 * One inet_diag request for an exact socket: the one whose source is our
 * peer's address and port and whose destination is ours.  The answer is
 * bounds-checked before it is read, and only the kernel's (port 0) taken.
 * A connection still in the server's SYN queue shows as a request socket,
 * whose uid the kernel reports as 0: that answer is not taken (root would
 * pass); we ask again a few times, then fail.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "errmsg.h"
#include "sockowner.h"

#define TRIES 200                 /* 1 ms apart */

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 req;
};

/* 1 with *uid, 0 not (yet) a full socket, -1 with err. */
static int ask(int nl, const struct sockaddr_in *ours, const struct sockaddr_in *theirs,
               uid_t *uid, char *err, size_t errlen)
{
	struct diag_req m;
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char b[8192];
	} buf;
	struct sockaddr_nl from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.nlh.nlmsg_len = sizeof(m);
	m.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	m.nlh.nlmsg_flags = NLM_F_REQUEST;
	m.nlh.nlmsg_seq = 1;
	m.req.sdiag_family = AF_INET;
	m.req.sdiag_protocol = IPPROTO_TCP;
	m.req.idiag_states = ~0u;
	/* The server side: its source is our peer, its destination us. */
	m.req.id.idiag_sport = theirs->sin_port;
	m.req.id.idiag_dport = ours->sin_port;
	memcpy(&m.req.id.idiag_src[0], &theirs->sin_addr, 4);
	memcpy(&m.req.id.idiag_dst[0], &ours->sin_addr, 4);
	m.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	m.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(nl, &m, sizeof(m), 0, (struct sockaddr *)&k, sizeof(k)) != (ssize_t)sizeof(m))
		return ns_error(err, errlen, "sock_diag: %s", strerror(errno));
	for (;;) {
		n = recvfrom(nl, &buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ns_error(err, errlen, "sock_diag: %s", strerror(errno));
		if (from.nl_pid == 0)
			break;
	}
	if ((size_t)n < sizeof(struct nlmsghdr) || buf.h.nlmsg_len > (size_t)n ||
	    buf.h.nlmsg_len < sizeof(struct nlmsghdr))
		return ns_error(err, errlen, "sock_diag: a short answer");
	if (buf.h.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&buf.h);

		if (buf.h.nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return ns_error(err, errlen, "sock_diag: a short answer");
		return ns_error(err, errlen, "sock_diag: the server's socket: %s",
		                strerror(e->error < 0 ? -e->error : EPROTO));
	}
	if (buf.h.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    buf.h.nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return ns_error(err, errlen, "sock_diag: an answer of another kind");
	{
		const struct inet_diag_msg *d = NLMSG_DATA(&buf.h);

		if (d->idiag_family != AF_INET || d->id.idiag_sport != theirs->sin_port ||
		    d->id.idiag_dport != ours->sin_port)
			return ns_error(err, errlen, "sock_diag: an answer for another socket");
		if (d->idiag_state == TCP_SYN_RECV || d->idiag_inode == 0)
			return 0;
		*uid = (uid_t)d->idiag_uid;
	}
	return 1;
}

int ns_sock_peer_uid(int fd, uid_t *uid, char *err, size_t errlen)
{
	struct sockaddr_in ours, theirs;
	socklen_t ol = sizeof(ours), tl = sizeof(theirs);
	int nl, rc = -1;

	if (getsockname(fd, (struct sockaddr *)&ours, &ol) != 0 ||
	    getpeername(fd, (struct sockaddr *)&theirs, &tl) != 0)
		return ns_error(err, errlen, "the connection's addresses: %s", strerror(errno));
	if (ours.sin_family != AF_INET || theirs.sin_family != AF_INET)
		return ns_error(err, errlen, "not an IPv4 connection");
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return ns_error(err, errlen, "sock_diag: %s", strerror(errno));
	{
		struct timeval tv = { 1, 0 };

		(void)setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	for (int i = 0; i < TRIES; i++) {
		struct timespec ms = { 0, 1000000 };

		rc = ask(nl, &ours, &theirs, uid, err, errlen);
		if (rc != 0)
			break;
		nanosleep(&ms, NULL);
	}
	close(nl);
	if (rc == 0)
		return ns_error(err, errlen, "sock_diag: the server has not taken the connection");
	return rc == 1 ? 0 : -1;
}
