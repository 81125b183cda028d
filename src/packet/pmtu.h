/*
 * pmtu.h: what packet mode learned of path MTUs, by peer address.
 *
 * When the daemon lowers the MTU of a PMTU message (icmp.h) quoting a
 * segment to peer D, it notes for D the path MTU the router reported
 * (path) and the value it gave the local stack (told).  Two uses:
 *
 * - Sending.  The stack now makes segments that fit told, and the kernel
 *   checks each packet leaving against told, after the option made it 20
 *   bytes longer: it would drop every full-sized sealed segment itself
 *   (IpFragFails) before any router saw it.  So the queue sends a sealed
 *   segment longer than told to D on its own raw socket instead, where
 *   only the interface MTU is checked (queue.c).
 * - New connections.  The SYN clamp (flow.c) uses min(link MTU, path): the
 *   MSS both stacks are given then leaves room for the option on this path
 *   from the first segment, and for IPv6 below 1300, where the stack will
 *   not go under 1280, it is the only thing that helps.
 *
 * A fixed table allocated once (NS_PMTU_SLOTS, 4-way sets over a keyed
 * hash; a full set loses its entry that expires first).  Entries live
 * NS_PMTU_TTL_MS from the last message, longer than the kernel keeps a
 * learned PMTU (net.ipv4.route.mtu_expires, net.ipv6.route.mtu_expires:
 * 600 s by default).
 */
#ifndef NS_PMTU_H
#define NS_PMTU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_PMTU_SLOTS 1024
#define NS_PMTU_WAYS 4
#define NS_PMTU_TTL_MS (11 * 60 * 1000)

struct ns_pmtu_entry {
	uint8_t addr[16];      /* IPv4: the first 4 bytes, the rest zero */
	uint8_t v6, used;
	uint16_t path, told;
	int64_t expires_ms;
};

struct ns_pmtu_table {
	struct ns_pmtu_entry *e;   /* NS_PMTU_SLOTS */
	uint64_t seed;
	int64_t last_expiry_ms;    /* no entry lives past it */
};

int ns_pmtu_init(struct ns_pmtu_table *t, uint64_t seed);
void ns_pmtu_free(struct ns_pmtu_table *t);
/* Notes (or refreshes) peer addr: path MTU reported, told to the stack. */
void ns_pmtu_note(struct ns_pmtu_table *t, bool v6, const uint8_t *addr, uint32_t path,
                  uint32_t told, int64_t now_ms);
/* true with *path and *told if addr has a live entry. */
bool ns_pmtu_get(const struct ns_pmtu_table *t, bool v6, const uint8_t *addr, int64_t now_ms,
                uint32_t *path, uint32_t *told);
/* Live entries (a scan: for status). */
uint32_t ns_pmtu_count(const struct ns_pmtu_table *t, int64_t now_ms);

#endif
