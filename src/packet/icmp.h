/*
 * icmp.h: path MTU messages for packet mode (docs/PROTOCOL.md, "MTU").
 *
 * Every segment packet mode seals grows by the nodeseal option (20 bytes).
 * A router whose next hop is smaller than the sealed segment answers with
 * ICMP "fragmentation needed" (IPv4 type 3 code 4) or ICMPv6 "packet too
 * big" (type 2) carrying its MTU M.  Given M unchanged, the local stack
 * would make segments of M bytes, which the option makes M + 20 again: so
 * the MTU such a message reports is lowered by the option's length before
 * the stack sees it, and the checksum fixed (ICMPv6's covers the
 * pseudo-header).
 *
 * Only a message quoting a TCP segment with a protected port (as source or
 * destination: the quoted packet is one this host sent, from a node that
 * listens or one that connected) is changed; every other packet here is
 * left as it is, and a caller accepts it unchanged: an unrelated ICMP
 * message is never dropped.  Nothing here does I/O or keeps state.
 *
 * Parsing is bounded: each length is checked against the bytes present
 * before it is used.  The outer packet must be whole (IP length == bytes),
 * not a fragment, without IPv6 extension headers; its ICMP checksum must
 * verify (a damaged message is left for the kernel to discard, never
 * repaired by a rewrite); the quoted packet must hold its IP header and
 * the first 8 bytes of TCP (the ports), and not be a later fragment.
 */
#ifndef NS_ICMP_H
#define NS_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_ICMP_SHRINK 20            /* the nodeseal option: NS_TCPSEG_OPT_LEN */
#define NS_ICMP_MIN_MTU4 68          /* RFC 791 */
#define NS_ICMP_MIN_MTU6 1280        /* RFC 8200; Linux ignores less */

enum ns_icmp_result {
	NS_ICMP_LOWERED = 0,   /* rewritten: the MTU is now mtu_new */
	NS_ICMP_FLOOR = 1,     /* ours, but M - 20 is below the family's minimum:
	                        * IPv6 reports 1280 (mtu_new), IPv4 is unchanged */
	NS_ICMP_OTHER = 2,     /* not ICMP, or another type or code: unchanged */
	NS_ICMP_NOT_OURS = 3,  /* a PMTU message about a packet of no protected
	                        * port, not TCP, a later fragment: unchanged */
	NS_ICMP_NOT_SMALLER = 4, /* M is not below the quoted packet's length
	                        * (that packet was not too big), or is an IPv6
	                        * M below 1280 (the kernel ignores it): unchanged */
	NS_ICMP_MALFORMED = -1,  /* a length is wrong or bytes are missing: unchanged */
	NS_ICMP_BAD_CHECKSUM = -2, /* left for the kernel to discard: unchanged */
};

struct ns_icmp_pmtu {
	bool ipv6;
	uint32_t mtu;          /* as reported */
	uint32_t mtu_new;      /* as rewritten (LOWERED, FLOOR); else mtu */
	uint32_t inner_len;    /* the quoted packet's IP length field: its size when sent */
	uint8_t local[16];     /* quoted source: this host (IPv4: first 4 bytes) */
	uint8_t remote[16];    /* quoted destination: the peer */
	uint16_t sport, dport; /* quoted ports, host order */
};

/*
 * Parses pkt (len bytes, an IP packet) as a PMTU message quoting TCP.
 * 0 with *m filled; NS_ICMP_OTHER, NS_ICMP_NOT_OURS (quoted packet not
 * TCP, or a later fragment), NS_ICMP_MALFORMED or NS_ICMP_BAD_CHECKSUM
 * otherwise.  Never writes to pkt.
 */
int ns_icmp_parse(const uint8_t *pkt, size_t len, struct ns_icmp_pmtu *m);

/*
 * The whole step: parses, and if the quoted segment has one of the nports
 * ports as source or destination port, lowers the MTU by NS_ICMP_SHRINK
 * and fixes the checksum.  Returns an enum ns_icmp_result; pkt changes only
 * with NS_ICMP_LOWERED, or NS_ICMP_FLOOR for IPv6 when 1280 is below M.
 * *m is filled from NS_ICMP_LOWERED to NS_ICMP_NOT_SMALLER (for
 * NS_ICMP_NOT_OURS, when the quoted packet was TCP).
 */
int ns_icmp_pmtu_rewrite(uint8_t *pkt, size_t len, const uint16_t *ports, int nports,
                         struct ns_icmp_pmtu *m);

/* Whether the ICMP or ICMPv6 checksum of a parsed message verifies. */
bool ns_icmp_checksum_ok(const uint8_t *pkt, size_t len);

#endif
