/*
 * queue.c: packet mode's NFQUEUE (queue.h).
 *
 * Netlink messages are walked here rather than with mnl_cb_run: that stops
 * at the first acknowledgement in a buffer, and a packet after it would
 * never get a verdict (it would sit in the kernel's queue until unbind).
 * Every datagram must come from the kernel (nl_pid 0): any local process
 * may send to a netlink port, and a forged "packet" with a real packet's
 * id would have the daemon give that packet a verdict and a payload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "../event/clock.h"
#include "icmp.h"
#include "ipv6hdr.h"
#include "queue.h"
#include "sockdiag.h"

#define PKT_MAX 65535
#define RBUF_ONE (PKT_MAX + 4096)           /* one packet message with its attributes */
/* recvmmsg slots start on page boundaries: aligned for the netlink
 * headers, and a wire-sized packet touches one page of its slot. */
#define RBUF_SLOT ((RBUF_ONE + 4095) & ~4095)
/* Verdicts go out in one send of at most VBUF_SIZE bytes.  A netlink send
 * longer than the socket's send buffer fails whole (EMSGSIZE) and leaves
 * every packet in it queued, so VBUF_SIZE stays below the default
 * net.core.wmem_default (212992) and the send buffer is raised to SNDBUF
 * as well (root: SO_SNDBUFFORCE). */
#define VBUF_SIZE (192 << 10)
#define SNDBUF (1 << 20)
#define VERDICT_MAX (PKT_MAX + NS_FLOW_HEADROOM + 256)
#define WORK_CAP (PKT_MAX + NS_FLOW_HEADROOM)
#define RCVBUF (8 << 20)

/* The receive side of a batch: one recvmmsg takes up to NS_QUEUE_BATCH
 * datagrams (each a packet; the kernel sends one packet per datagram),
 * each into its own RBUF_SLOT of q->rbuf.  Only the pages a packet
 * touches become resident. */
struct ns_queue_rx {
	struct mmsghdr mm[NS_QUEUE_BATCH];
	struct iovec iov[NS_QUEUE_BATCH];
	struct sockaddr_nl from[NS_QUEUE_BATCH];
};

static int q_error(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "NFQUEUE: %s: %s", what, strerror(errno));
	return -1;
}

static int send_all(struct ns_queue *q, const void *buf, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n = sendto(mnl_socket_get_fd(q->nl), buf, len, 0, (struct sockaddr *)&kernel,
	                   sizeof(kernel));

	return n == (ssize_t)len ? 0 : -1;
}

static void flush_verdicts(struct ns_queue *q)
{
	if (q->vlen == 0)
		return;
	/* Lost verdicts leave packets queued: counted, and the queue's
	 * maxlen bounds the harm (the kernel drops beyond it). */
	if (send_all(q, q->vbuf, q->vlen) != 0)
		q->st.send_failed++;
	q->vlen = 0;
}

/* Verdicts: V_DROP, V_ACCEPT with pkt (rewritten), V_ASIS (accept the
 * kernel's own copy, unchanged), V_SENT (dropped: the raw socket sent it). */
enum verdict { V_DROP, V_ACCEPT, V_ASIS, V_SENT };

static void put_verdict(struct ns_queue *q, uint32_t id, enum verdict v, const uint8_t *pkt,
                        size_t len)
{
	struct nlmsghdr *nlh;
	bool accept = v == V_ACCEPT || v == V_ASIS;

	if (VBUF_SIZE - q->vlen < VERDICT_MAX)
		flush_verdicts(q);
	nlh = nfq_nlmsg_put((char *)q->vbuf + q->vlen, NFQNL_MSG_VERDICT, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)id, accept ? NF_ACCEPT : NF_DROP);
	if (v == V_ACCEPT)
		nfq_nlmsg_verdict_put_pkt(nlh, pkt, (uint32_t)len);
	if (accept && q->mark != 0)
		nfq_nlmsg_verdict_put_mark(nlh, q->mark);
	q->vlen += NLMSG_ALIGN(nlh->nlmsg_len);
	q->st.packets++;
	if (accept)
		q->st.accepted++;
	else if (v == V_DROP)
		q->st.dropped++;
}

/*
 * An ICMP packet the PMTU rules queued: accepted, rewritten if it is a
 * PMTU message quoting one of our segments (icmp.h), unchanged otherwise.
 * whole: the copy is the whole packet (a truncated one cannot be changed).
 */
static void on_icmp(struct ns_queue *q, uint32_t id, const uint8_t *pkt, size_t len, bool whole,
                    int64_t now)
{
	struct ns_icmp_pmtu m;
	int rc = NS_ICMP_MALFORMED;

	q->pm.icmp++;
	if (whole) {
		memcpy(q->work, pkt, len);
		rc = ns_icmp_pmtu_rewrite(q->work, len, q->ports, q->nports, &m);
	}
	if (rc == NS_ICMP_LOWERED || rc == NS_ICMP_FLOOR) {
		if (rc == NS_ICMP_LOWERED)
			q->pm.lowered++;
		else
			q->pm.floor++;
		/* cppcheck-suppress uninitStructMember
		 * (ns_icmp_pmtu_rewrite fills m for both results, icmp.h) */
		ns_pmtu_note(&q->flows.pmtu, m.ipv6, m.remote, m.mtu, m.mtu_new, now);
		if (m.mtu_new != m.mtu) {
			put_verdict(q, id, V_ACCEPT, q->work, len);
			return;
		}
	} else {
		q->pm.passed++;
	}
	put_verdict(q, id, V_ASIS, NULL, 0);
}

/*
 * A sealed segment the kernel would find longer than the MTU it holds for
 * the peer (it told the stack that MTU, minus the option: pmtu.h) goes out
 * by the raw socket, which checks only the interface MTU (resend.h).
 * true if sent; false to let the verdict carry it.
 */
static bool resend(struct ns_queue *q, const uint8_t *pkt, size_t len, int oif, int64_t now)
{
	bool v6 = pkt[0] >> 4 == 6;
	uint32_t path, told;

	if (!ns_resend_ready(&q->rs, v6) ||
	    !ns_pmtu_get(&q->flows.pmtu, v6, pkt + (v6 ? 24 : 16), now, &path, &told) || len <= told)
		return false;
	/* What the queue accepted before this goes first: no reordering. */
	flush_verdicts(q);
	if (ns_resend_send(&q->rs, pkt, len, oif) != 0) {
		q->pm.resend_failed++;
		return false;
	}
	q->pm.resent++;
	return true;
}

static void on_packet(struct ns_queue *q, const struct nlmsghdr *nlh, int64_t now)
{
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	struct nfqnl_msg_packet_hdr *ph;
	struct ns_flow_pkt p;
	bool accept = false, whole;
	int ifindex = 0;
	uint32_t id, len;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL)
		return; /* no id: nothing to answer */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	memset(&p, 0, sizeof(p));
	/* Only the hooks the rules use; a packet queued from elsewhere (another
	 * rule naming our queue) is not ours to judge. */
	p.outgoing = ph->hook == NF_INET_LOCAL_OUT;
	if (attr[NFQA_PAYLOAD] == NULL || (ph->hook != NF_INET_LOCAL_OUT && ph->hook != NF_INET_LOCAL_IN))
		goto verdict;
	len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	/* A truncated copy cannot be rewritten whole. */
	whole = len <= PKT_MAX && (attr[NFQA_CAP_LEN] == NULL ||
	                           ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) == len);
	/* ICMP arriving (the PMTU rules): never dropped here. */
	if (!p.outgoing) {
		int proto = ns_ipv6hdr_upper_proto(mnl_attr_get_payload(attr[NFQA_PAYLOAD]), len);
		if (proto == 1 || proto == 58) {
			on_icmp(q, id, mnl_attr_get_payload(attr[NFQA_PAYLOAD]), len, whole, now);
			return;
		}
	}
	if (!whole)
		goto verdict;
	memcpy(q->work, mnl_attr_get_payload(attr[NFQA_PAYLOAD]), len);
	p.pkt = q->work;
	p.len = len;
	p.cap = WORK_CAP;
	{
		int a = p.outgoing ? NFQA_IFINDEX_OUTDEV : NFQA_IFINDEX_INDEV;
		if (attr[a] != NULL)
			ifindex = (int)ntohl(mnl_attr_get_u32(attr[a]));
		p.mtu = ns_resend_if_mtu(&q->rs, ifindex);
	}
	accept = ns_flow_segment(&q->flows, &p, now) == NS_FLOW_ACCEPT;
	/* The kernel's copy would be too long for the IP length field: drop. */
	if (accept && p.len > PKT_MAX)
		accept = false;
	/* Grown past the MTU the stack was told for the peer: the raw socket. */
	if (accept && p.outgoing && p.len > len && resend(q, q->work, p.len, ifindex, now)) {
		put_verdict(q, id, V_SENT, NULL, 0);
		return;
	}
verdict:
	put_verdict(q, id, accept ? V_ACCEPT : V_DROP, q->work, p.len);
}

/*
 * Walks one datagram.  Packets get verdicts; an acknowledgement for seq is
 * noted in *acked (0: none; errors leave errno and return -1).
 */
static int walk(struct ns_queue *q, const uint8_t *buf, size_t n, int64_t now, uint32_t *acked)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)(const void *)buf;
	int len = (int)n, rc = 0;

	while (mnl_nlmsg_ok(nlh, len)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
				errno = EBADMSG;
				rc = -1;
			} else if (e->error != 0) {
				errno = -e->error;
				rc = -1;
			} else if (acked != NULL) {
				*acked = nlh->nlmsg_seq;
			}
		} else if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET) {
			on_packet(q, nlh, now);
		}
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	return rc;
}

/* One datagram from the kernel into buf; -1 with errno (EAGAIN: none). */
static ssize_t recv_kernel(struct ns_queue *q, uint8_t *buf, size_t cap, int flags)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { buf, cap };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
		                      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(mnl_socket_get_fd(q->nl), &msg, flags);

		if (n < 0)
			return -1;
		if (msg.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		if (msg.msg_namelen == sizeof(from) && from.nl_pid == 0)
			return n;
		/* not the kernel's: ignored */
	}
}

/* Sends a configuration message and waits for its acknowledgement,
 * answering any packet that arrives meanwhile. */
static int configure(struct ns_queue *q, struct nlmsghdr *nlh, uint32_t seq)
{
	uint32_t acked = 0;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (send_all(q, nlh, nlh->nlmsg_len) != 0)
		return -1;
	while (acked != seq) {
		ssize_t n = recv_kernel(q, q->rbuf, RBUF_ONE, 0);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return -1;
		}
		if (walk(q, q->rbuf, (size_t)n, 0, &acked) != 0)
			return -1;
		flush_verdicts(q);
	}
	return 0;
}

int ns_queue_open(struct ns_queue *q, uint16_t num, uint32_t maxlen, uint32_t max_flows,
                  const uint8_t network_key[NS_KEY_LEN], char *err, size_t errlen)
{
	uint64_t cfg[1024]; /* aligned for the netlink header */
	struct nlmsghdr *nlh;
	int rcvbuf = RCVBUF, sndbuf = SNDBUF;

	memset(q, 0, sizeof(*q));
	ns_resend_init(&q->rs);
	q->num = num;
	q->rbuf = aligned_alloc(4096, (size_t)NS_QUEUE_BATCH * RBUF_SLOT);
	q->vbuf = malloc(VBUF_SIZE);
	q->work = malloc(WORK_CAP);
	q->rx = calloc(1, sizeof(struct ns_queue_rx));
	if (q->rbuf == NULL || q->vbuf == NULL || q->work == NULL || q->rx == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (ns_flow_init(&q->flows, max_flows, network_key) != 0) {
		snprintf(err, errlen, "cannot set up the connection table (%u entries)", max_flows);
		goto fail;
	}
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (q->nl == NULL) {
		q_error(err, errlen, "netlink socket");
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		q_error(err, errlen, "netlink bind");
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	               sizeof(rcvbuf)) != 0)
		(void)setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		                 sizeof(rcvbuf));
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
	               sizeof(sndbuf)) != 0)
		(void)setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_SNDBUF, &sndbuf,
		                 sizeof(sndbuf));

	nlh = nfq_nlmsg_put((char *)cfg, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (configure(q, nlh, 1) != 0) {
		if (errno == EBUSY || errno == EPERM)
			snprintf(err, errlen, "NFQUEUE %u is bound by another process (%s); "
			         "choose another with --queue-num", num, strerror(errno));
		else
			q_error(err, errlen, "binding the queue");
		goto fail;
	}
	/* Whole packets; at most maxlen held; no fail-open (a full queue
	 * drops, never accepts unread) and no GSO (the kernel segments). */
	nlh = nfq_nlmsg_put((char *)cfg, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, PKT_MAX);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(0));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
	if (configure(q, nlh, 2) != 0) {
		q_error(err, errlen, "configuring the queue");
		goto fail;
	}
	return 0;
fail:
	ns_queue_close(q);
	return -1;
}

int ns_queue_pmtu_setup(struct ns_queue *q, const uint16_t *ports, int nports, uint32_t mark,
                        char *err, size_t errlen)
{
	int n = nports < (int)(sizeof(q->ports) / sizeof(q->ports[0]))
	            ? nports : (int)(sizeof(q->ports) / sizeof(q->ports[0]));

	memcpy(q->ports, ports, (size_t)n * sizeof(*ports));
	q->nports = n;
	return ns_resend_open(&q->rs, mark, err, errlen);
}

void ns_queue_set_mark(struct ns_queue *q, uint32_t mark)
{
	q->mark = mark;
}

int ns_queue_fd(const struct ns_queue *q)
{
	return q->nl != NULL ? mnl_socket_get_fd(q->nl) : -1;
}

/* Ends the connections the table gave up on (NS_FLOW_FAIL_MAX failures
 * in a row) or may no longer carry in clear (the policy, a peer newly
 * sealed): each local socket is destroyed, and the stack's reset comes
 * back through the queue, to be sealed like any segment (a clear one's
 * passes as it is).  ns_flow_next_kill hands out every one, however many.  A socket already
 * gone is nothing to end.  The diag socket lives only while there is work:
 * this is rare, and the packet path keeps no extra descriptor. */
static void kill_failing(struct ns_queue *q)
{
	struct ns_flow_tuple tu;
	int fd = -1;

	while (ns_flow_next_kill(&q->flows, &tu)) {
		if (fd < 0)
			fd = ns_sockdiag_open();
		if (fd >= 0)
			(void)ns_sockdiag_destroy(fd, &tu);
	}
	if (fd >= 0)
		close(fd);
}

void ns_queue_set_peers(struct ns_queue *q, struct ns_peers *peers)
{
	q->flows.peers = peers;
}

int ns_queue_set_policy(struct ns_queue *q, enum ns_policy p)
{
	int n;

	q->flows.wall_s = ns_wall_s();
	n = ns_flow_set_policy(&q->flows, p);
	kill_failing(q);
	return n;
}

void ns_queue_event(struct ns_queue *q, int64_t now_ms)
{
	struct ns_queue_rx *rx = q->rx;

	/* The flow table's wall clock (peers.h keeps unix seconds): once a
	 * readiness event, not per packet. */
	q->flows.wall_s = ns_wall_s();
	for (int round = 0; round < NS_QUEUE_ROUNDS; round++) {
		int n;

		for (int k = 0; k < NS_QUEUE_BATCH; k++) {
			rx->iov[k].iov_base = q->rbuf + (size_t)k * RBUF_SLOT;
			rx->iov[k].iov_len = RBUF_ONE;
			memset(&rx->mm[k], 0, sizeof(rx->mm[k]));
			rx->mm[k].msg_hdr.msg_name = &rx->from[k];
			rx->mm[k].msg_hdr.msg_namelen = sizeof(rx->from[k]);
			rx->mm[k].msg_hdr.msg_iov = &rx->iov[k];
			rx->mm[k].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(mnl_socket_get_fd(q->nl), rx->mm, NS_QUEUE_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == ENOBUFS) {
				q->st.enobufs++;
				continue;
			}
			break; /* EAGAIN: drained */
		}
		for (int k = 0; k < n; k++) {
			const struct msghdr *m = &rx->mm[k].msg_hdr;

			/* A truncated datagram cannot be walked (it would not
			 * fit RBUF_ONE, which no packet message exceeds);
			 * one not from the kernel is ignored. */
			if ((m->msg_flags & MSG_TRUNC) || m->msg_namelen != sizeof(rx->from[k]) ||
			    rx->from[k].nl_pid != 0)
				continue;
			(void)walk(q, rx->iov[k].iov_base, rx->mm[k].msg_len, now_ms, NULL);
		}
		/* Verdicts for this batch now: the packets go on while the
		 * next batch is read. */
		flush_verdicts(q);
		if (n < NS_QUEUE_BATCH)
			break; /* drained */
	}
	flush_verdicts(q);
	/* After the verdicts: the segments of the batch go first. */
	kill_failing(q);
}

/* queue_dropped and queue_user_dropped of our queue, as the kernel counts. */
static void kernel_counters(struct ns_queue *q)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	char line[256];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned num, portid, total, mode, range;
		unsigned long long dropped, udropped;
		if (sscanf(line, "%u %u %u %u %u %llu %llu", &num, &portid, &total, &mode, &range,
		           &dropped, &udropped) == 7 && num == q->num && portid == q->portid) {
			q->st.kernel_dropped = dropped;
			q->st.user_dropped = udropped;
		}
	}
	fclose(f);
}

void ns_queue_tick(struct ns_queue *q, int64_t now_ms)
{
	q->flows.wall_s = ns_wall_s();
	ns_flow_expire(&q->flows, now_ms, 4096);
	kernel_counters(q);
	/* MTUs change rarely; a second's delay is fine. */
	ns_resend_forget_mtus(&q->rs);
}

int ns_queue_abort_connections(struct ns_queue *q)
{
	struct ns_flow_tuple tu;
	uint32_t cursor = 0;
	int fd, done = 0;
	int64_t end;

	if (q->nl == NULL)
		return 0;
	fd = ns_sockdiag_open();
	if (fd < 0)
		return 0;
	while (ns_flow_next_open(&q->flows, &cursor, &tu)) {
		if (ns_sockdiag_destroy(fd, &tu) == 0)
			done++;
		/* seal the reset now: the queue holds only so much */
		ns_queue_event(q, ns_now_ms());
	}
	close(fd);
	/* The resets and anything queued before them, sealed and sent. */
	end = ns_now_ms() + 200;
	while (done > 0 && ns_now_ms() < end) {
		struct pollfd p = { mnl_socket_get_fd(q->nl), POLLIN, 0 };
		if (poll(&p, 1, 50) > 0)
			ns_queue_event(q, ns_now_ms());
	}
	return done;
}

void ns_queue_close(struct ns_queue *q)
{
	if (q->nl != NULL) {
		uint64_t cfg[1024]; /* aligned for the netlink header */
		struct nlmsghdr *nlh = nfq_nlmsg_put((char *)cfg, NFQNL_MSG_CONFIG, q->num);
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
		(void)send_all(q, nlh, nlh->nlmsg_len);
		mnl_socket_close(q->nl);
		q->nl = NULL;
		/* Raw sockets exist only with the netlink socket (a queue never
		 * opened is all zeros: fd 0 is not ours). */
		ns_resend_close(&q->rs);
	}
	ns_flow_free(&q->flows);
	free(q->rbuf);
	free(q->vbuf);
	free(q->work);
	free(q->rx);
	q->rbuf = q->vbuf = q->work = NULL;
	q->rx = NULL;
}
