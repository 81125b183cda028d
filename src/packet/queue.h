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
 * Path MTU (docs/PROTOCOL.md, "MTU"): the rules also queue ICMP
 * "fragmentation needed" and ICMPv6 "packet too big" arriving at this host.
 * Those quoting a segment of a protected port get their MTU lowered by the
 * option's 20 bytes (icmp.h) and the peer's path MTU noted (pmtu.h); every
 * other ICMP packet is accepted as it is.  A sealed segment longer than the
 * MTU the stack was told for its peer leaves by a raw socket of the
 * daemon's (marked: the rules let it pass), which checks only the
 * interface MTU, and its queued copy is dropped.
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
#include "resend.h"

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

struct ns_queue_pmtu_stats {
	uint64_t icmp;              /* ICMP packets queued (PMTU rules) */
	uint64_t lowered;           /* MTU lowered by the option's length */
	uint64_t floor;             /* ours, but at the family's minimum (IPv6 1280) */
	uint64_t passed;            /* anything else: accepted unchanged */
	uint64_t resent;            /* sealed segments sent by the raw socket */
	uint64_t resend_failed;     /* raw sends refused (the segment went the usual way) */
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
	struct ns_queue_pmtu_stats pm;
	uint16_t ports[16];         /* protected ports: PMTU messages about them are ours */
	int nports;
	struct ns_resend rs;        /* raw sockets for segments past the told MTU; MTUs */
	uint32_t mark;              /* set on accepted packets (the guard table passes them) */
};

/* Binds queue num (maxlen packets held at most) and sets up the flow
 * table (max_flows connections).  -1 with one sentence in err. */
int ns_queue_open(struct ns_queue *q, uint16_t num, uint32_t maxlen, uint32_t max_flows,
                  const uint8_t network_key[NS_KEY_LEN], char *err, size_t errlen);
/* Path MTU handling: the protected ports, and the mark of the raw sockets
 * (the rules let packets with it pass).  Without raw sockets (no IPv6; no
 * CAP_NET_RAW, which the daemon checks at start) it still lowers the MTUs,
 * and says so in err. */
int ns_queue_pmtu_setup(struct ns_queue *q, const uint16_t *ports, int nports, uint32_t mark,
                        char *err, size_t errlen);
/* Sealed memory for the flow table (flow.h, t->peers): the queue keeps the
 * pointer, the caller owns the table and saves it (dirty) when it likes.
 * NULL: none. */
void ns_queue_set_peers(struct ns_queue *q, struct ns_peers *peers);
/* The rollout policy (ns_flow_set_policy).  Switching to required ends
 * every clear connection at once (their local sockets destroyed, as
 * ns_queue_event does for failing ones); returns how many were queued. */
int ns_queue_set_policy(struct ns_queue *q, enum ns_policy p);
/* Every packet accepted leaves the queue with this mark (0: none). */
void ns_queue_set_mark(struct ns_queue *q, uint32_t mark);
int ns_queue_fd(const struct ns_queue *q);
/* Reads what is waiting and gives every packet its verdict; then destroys
 * the local socket of each connection the flow table gave up on
 * (ns_flow_next_kill), whose reset is sealed in a later batch. */
void ns_queue_event(struct ns_queue *q, int64_t now_ms);
/* Expiry of the flow table (which also notes open clear connections to
 * the peers, at least every NS_FLOW_CLEAR_NOTE_MS for tables of up to
 * 4096 * 30 entries); kernel counters. */
void ns_queue_tick(struct ns_queue *q, int64_t now_ms);
/*
 * Ends the node's connections that packet mode protects, before the rules
 * go: once they are gone, the stack would send on them in clear and hand
 * the peer's ciphertext to the node.  Each local socket is destroyed
 * (SOCK_DESTROY, as "ss -K"): the stack sends a reset, which this sealing
 * pump gets through the queue, so the peer ends too.  Returns how many.
 */
int ns_queue_abort_connections(struct ns_queue *q);
/* Unbinds (the kernel drops what is still queued) and frees everything. */
void ns_queue_close(struct ns_queue *q);

#endif
