/*
 * queue.h: packet mode's NFQUEUE, over libnetfilter_queue and libmnl.
 *
 * The daemon binds one queue number (the rules send every segment of a
 * protected port there, without bypass), asks for whole packets (copy
 * mode, no GSO flag: the kernel segments a GSO packet and completes its
 * checksum before queueing, so each packet is one wire-sized segment) and
 * gives each a verdict: accept with the rewritten packet, or drop.
 *
 * Reads are batched: one recvmmsg takes up to NS_QUEUE_BATCH packets (the
 * kernel sends each in its own datagram, so a plain recv would cost one
 * system call per packet), and a readiness event does up to
 * NS_QUEUE_ROUNDS of them.  The verdicts of a batch are concatenated in
 * one send.  Buffers are allocated once: no allocation per packet.
 *
 * Overruns: the kernel drops packets beyond the queue's maxlen and counts
 * them (/proc/net/netfilter/nfnetlink_queue, queue_dropped); when the
 * socket's buffer fills, it drops and the next receive fails with ENOBUFS,
 * counted here.  Either way nothing passes: a dropped segment is
 * retransmitted by TCP.
 */
#ifndef NS_QUEUE_H
#define NS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define NS_QUEUE_BATCH 64         /* packets per recvmmsg */
#define NS_QUEUE_ROUNDS 4          /* recvmmsg calls per readiness event */

struct ns_queue_rx;

struct ns_queue_stats {
	uint64_t packets, accepted, dropped;
	uint64_t enobufs;           /* receive buffer overruns (packets lost in the kernel) */
	uint64_t kernel_dropped;    /* queue full (maxlen), from /proc */
	uint64_t user_dropped;      /* the kernel could not send us a packet, from /proc */
	uint64_t send_failed;       /* verdict batches the kernel refused */
};

struct ns_queue {
	void *nl;                   /* struct mnl_socket */
	unsigned portid;
	uint16_t num;
	uint8_t *rbuf, *vbuf, *work;
	struct ns_queue_rx *rx;     /* recvmmsg headers (queue.c) */
	size_t vlen;                /* verdicts waiting to be sent */
	struct ns_flow_table flows;
	struct ns_queue_stats st;
	int mtu_cache_ifindex[8];
	unsigned mtu_cache[8];
};

/* Binds queue num (maxlen packets held at most) and sets up the flow
 * table (max_flows connections).  -1 with one sentence in err. */
int ns_queue_open(struct ns_queue *q, uint16_t num, uint32_t maxlen, uint32_t max_flows,
                  const uint8_t network_key[NS_KEY_LEN], char *err, size_t errlen);
int ns_queue_fd(const struct ns_queue *q);
/* Reads what is waiting and gives every packet its verdict. */
void ns_queue_event(struct ns_queue *q, int64_t now_ms);
/* Expiry of the flow table; kernel counters. */
void ns_queue_tick(struct ns_queue *q, int64_t now_ms);
/*
 * Ends the node's connections that packet mode protects, before the rules
 * go: once they are gone, the stack would send on them in clear and hand
 * the peer's ciphertext to the node.  Each local socket is destroyed
 * (SOCK_DESTROY, as "ss -K"): the stack sends a reset, which this sealing
 * pump gets through the queue, so the peer ends too.  Returns how many.
 */
int ns_queue_abort_connections(struct ns_queue *q, int64_t (*now_ms)(void));
/* Unbinds (the kernel drops what is still queued) and frees everything. */
void ns_queue_close(struct ns_queue *q);

#endif
