/*
 * test_ipv6hdr: the protocol above IP (src/packet/ipv6hdr.c), as the queue
 * uses it to send ICMP to the path MTU code and TCP to the flow table.
 * - IPv4: the protocol field, whatever follows; shorter than a header: -1;
 * - IPv6 with no extension header, and behind hop-by-hop, routing,
 *   destination options (of several lengths) and a first fragment, alone
 *   and chained, up to NS_IPV6HDR_MAX_EXT (7) of them;
 * - a later fragment, a header running past the packet (by one byte, in
 *   its length field), a packet cut inside an extension header, versions
 *   other than 4 and 6, more headers than the walk takes: -1;
 * - every length of a valid packet cut short: -1 or the right answer, and
 *   nothing read past the bytes given (the buffer is exactly their size).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/ipv6hdr.h"
#include "tap.h"

enum { TCP = 6, ICMP = 1, ICMPV6 = 58, HBH = 0, ROUTING = 43, FRAGMENT = 44, DSTOPT = 60 };

/* Builds an IPv6 packet: next header chain nh[0..n-1], each extension header
 * 8 * (1 + ext_len) bytes (fragments 8), then the upper header's 20 bytes. */
static size_t build6(uint8_t *p, const uint8_t *chain, int n, uint8_t ext_len, uint16_t frag_off)
{
	size_t off = 40;

	memset(p, 0, 512);
	p[0] = 0x60;
	p[6] = chain[0];
	for (int i = 0; i + 1 < n; i++) {
		p[off] = chain[i + 1];
		if (chain[i] == FRAGMENT) {
			p[off + 2] = (uint8_t)(frag_off >> 8);
			p[off + 3] = (uint8_t)frag_off;
			off += 8;
		} else {
			p[off + 1] = ext_len;
			off += 8 * ((size_t)ext_len + 1);
		}
	}
	return off + 20;
}

/* The answer for exactly len bytes, from a buffer of that size. */
static int upper(const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, p, len);
	rc = ns_ipv6hdr_upper_proto(copy, len);
	free(copy);
	return rc;
}

static void test_ipv4(void)
{
	uint8_t p[60] = { 0x45 };

	p[9] = TCP;
	ok(upper(p, 20) == TCP, "IPv4 TCP");
	p[9] = ICMP;
	ok(upper(p, 60) == ICMP, "IPv4 ICMP");
	ok(upper(p, 19) == -1, "IPv4 shorter than a header");
	p[0] = 0x55;
	ok(upper(p, 60) == -1, "version 5");
	ok(upper(p, 0) == -1, "nothing at all");
}

static void test_ipv6(void)
{
	static const struct {
		const char *name;
		uint8_t chain[8];
		int n;
		uint8_t ext_len;
		int want;
	} cases[] = {
		{ "no extension header", { TCP }, 1, 0, TCP },
		{ "ICMPv6", { ICMPV6 }, 1, 0, ICMPV6 },
		{ "hop-by-hop", { HBH, ICMPV6 }, 2, 0, ICMPV6 },
		{ "hop-by-hop of 24 bytes", { HBH, TCP }, 2, 2, TCP },
		{ "routing", { ROUTING, TCP }, 2, 1, TCP },
		{ "destination options", { DSTOPT, ICMPV6 }, 2, 0, ICMPV6 },
		{ "first fragment", { FRAGMENT, TCP }, 2, 0, TCP },
		{ "all four, RFC 8200's order", { HBH, DSTOPT, ROUTING, FRAGMENT, DSTOPT, ICMPV6 }, 6, 0,
		  ICMPV6 },
		{ "7 headers", { HBH, DSTOPT, DSTOPT, DSTOPT, DSTOPT, DSTOPT, DSTOPT, TCP }, 8, 0, TCP },
		{ "no next header (59)", { HBH, 59 }, 2, 0, 59 },
	};
	uint8_t p[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = build6(p, cases[i].chain, cases[i].n, cases[i].ext_len, 0);
		int got = upper(p, len);
		ok(got == cases[i].want, "IPv6, %s: %d", cases[i].name, got);
	}
}

static void test_refused(void)
{
	static const uint8_t frag[] = { FRAGMENT, TCP }, hbh[] = { HBH, TCP };
	static const uint8_t eight[] = { HBH, DSTOPT, DSTOPT, DSTOPT, DSTOPT, DSTOPT, DSTOPT, DSTOPT,
	                                 TCP };
	uint8_t p[512];
	size_t len;

	len = build6(p, frag, 2, 0, 8);
	ok(upper(p, len) == -1, "a later fragment (offset 8)");
	len = build6(p, frag, 2, 0, 0x0001);
	ok(upper(p, len) == TCP, "a first fragment with more to come");
	len = build6(p, hbh, 2, 0, 0);
	ok(upper(p, 47) == -1, "cut inside the hop-by-hop header");
	ok(upper(p, 48) == TCP, "cut right after it: the upper header is named all the same");
	len = build6(p, hbh, 2, 3, 0);
	ok(upper(p, 40 + 32 - 1) == -1, "a hop-by-hop header one byte past the packet");
	ok(upper(p, 40 + 32) == TCP, "and one that ends with it");
	p[41] = 255;
	ok(upper(p, len) == -1, "a length field of 255 (2 KiB)");
	len = build6(p, eight, 9, 0, 0);
	ok(upper(p, len) == -1, "8 extension headers: more than the walk takes");
	ok(upper(p, 39) == -1, "IPv6 shorter than its header");
}

/* Every prefix of a long chain: the answer never comes from bytes past
 * the prefix (ASan would see the read: each call has a buffer of exactly
 * the prefix). */
static void test_prefixes(void)
{
	static const uint8_t chain[] = { HBH, ROUTING, FRAGMENT, DSTOPT, TCP };
	uint8_t p[512];
	size_t len = build6(p, chain, 5, 1, 0), full_from = 40 + 16 + 16 + 8 + 16;
	int wrong = 0;

	for (size_t n = 0; n <= len; n++) {
		int got = upper(p, n);
		wrong += got != (n >= full_from ? TCP : -1);
	}
	ok(wrong == 0, "each of %zu prefixes: -1 until the chain ends, then TCP", len + 1);
}

int main(void)
{
	test_ipv4();
	test_ipv6();
	test_refused();
	test_prefixes();
	return tap_done();
}
