/*
 * ipv6hdr.h: the protocol a queued packet carries above IP, past IPv6's
 * extension headers.  Pure: no I/O, no state.
 *
 * The queue sends ICMP and ICMPv6 to the path MTU code (icmp.h) and every
 * other packet to the connection table, so it must tell them apart on
 * hostile packets: an arriving IPv6 packet may carry any chain of
 * extension headers before its ICMPv6 or TCP header.
 */
#ifndef NS_IPV6HDR_H
#define NS_IPV6HDR_H

#include <stddef.h>
#include <stdint.h>

/* At most this many extension headers are walked; a packet with more is
 * not told (no stack sends one: RFC 8200 allows each kind once, and
 * destination options twice: 5 in all). */
#define NS_IPV6HDR_MAX_EXT 7

/*
 * The protocol number above IP of the packet at pkt (len bytes): IPv4's
 * protocol field, or IPv6's next header after hop-by-hop, routing,
 * destination options and fragment headers.  -1 when it cannot be told:
 * too short, neither version, a header past the end, a fragment other than
 * the first (only the first holds the upper header), too many headers.
 */
int ns_ipv6hdr_upper_proto(const uint8_t *pkt, size_t len);

#endif
