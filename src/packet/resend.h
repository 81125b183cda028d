/*
 * resend.h: packet mode's raw sockets, for sealed segments longer than the
 * MTU the stack was told, and the interface MTUs (docs/PROTOCOL.md, "MTU").
 *
 * The option makes each sealed segment 20 bytes longer than the stack made
 * it.  The daemon tells the stack a path MTU lowered by those 20 bytes
 * (icmp.h, pmtu.h), but a segment made before the stack heard, or one it
 * retransmits, is too long for that MTU, and the kernel would drop the
 * queue's rewritten copy against it.  Such a segment leaves by a raw
 * socket instead, which checks only the interface MTU (PMTUDISC_PROBE);
 * the socket's mark is the one the rules let pass, so the segment, sealed
 * already, is not queued again.
 */
#ifndef NS_RESEND_H
#define NS_RESEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_RESEND_MTU_SLOTS 8

struct ns_resend {
	int raw4, raw6;             /* -1: none */
	/* Interface MTUs by ifindex, a slot each (ifindex mod the slots);
	 * ifindex 0: empty. */
	int mtu_ifindex[NS_RESEND_MTU_SLOTS];
	unsigned mtu[NS_RESEND_MTU_SLOTS];
};

/* No sockets, no MTUs known. */
void ns_resend_init(struct ns_resend *r);
/* Opens the raw sockets with mark (IPv6's only if the kernel has IPv6);
 * -1 with one sentence in err. */
int ns_resend_open(struct ns_resend *r, uint32_t mark, char *err, size_t errlen);
/* Whether there is a raw socket for the family. */
bool ns_resend_ready(const struct ns_resend *r, bool v6);
/* Sends pkt, a whole IPv4 or IPv6 packet of len bytes, to its destination;
 * oif names the interface for a link-local IPv6 one.  0 if the kernel took
 * all of it. */
int ns_resend_send(const struct ns_resend *r, const uint8_t *pkt, size_t len, int oif);
void ns_resend_close(struct ns_resend *r);

/* The MTU of interface ifindex; 0 if unknown.  Cached until
 * ns_resend_forget_mtus. */
unsigned ns_resend_if_mtu(struct ns_resend *r, int ifindex);
void ns_resend_forget_mtus(struct ns_resend *r);

#endif
