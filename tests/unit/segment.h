/*
 * segment.h: IPv4 TCP segments as Linux sends them, for test_flow and
 * bench/flow_speed (both feed packet mode's connection table); its
 * big-endian stores also serve fuzz_flow's own builder (IPv6, options).
 */
#ifndef NS_TEST_SEGMENT_H
#define NS_TEST_SEGMENT_H

#include <stdint.h>
#include <string.h>

#include "../../src/packet/tcpseg.h"

static inline void seg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void seg_put32(uint8_t *p, uint32_t v)
{
	seg_put16(p, (uint16_t)(v >> 16));
	seg_put16(p + 2, (uint16_t)v);
}

/* Into pkt (cap bytes, zeroed first); SYNs carry Linux's options (MSS 1460,
 * SACK-permitted, timestamps, window scale), others timestamps; payload a
 * string or NULL.  Checksums set.  Returns the length. */
static inline size_t seg_build(uint8_t *pkt, size_t cap, uint32_t src, uint32_t dst,
                               uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                               uint8_t flags, const char *payload)
{
	static const uint8_t syn_opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
	                                      0, 0, 0, 0, 1, 3, 3, 7 };
	static const uint8_t ts_opts[12] = { 1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1 };
	size_t olen = (flags & NS_TCP_SYN) ? sizeof(syn_opts) : sizeof(ts_opts);
	size_t plen = payload ? strlen(payload) : 0, len = 20 + 20 + olen + plen;
	struct ns_tcpseg s;

	if (len > cap)
		return 0;
	memset(pkt, 0, cap);
	pkt[0] = 0x45;
	seg_put16(pkt + 2, (uint16_t)len);
	pkt[6] = 0x40; /* DF */
	pkt[8] = 64;
	pkt[9] = 6;
	seg_put32(pkt + 12, src);
	seg_put32(pkt + 16, dst);
	seg_put16(pkt + 20, sport);
	seg_put16(pkt + 22, dport);
	seg_put32(pkt + 24, seq);
	seg_put32(pkt + 28, ack);
	pkt[32] = (uint8_t)(((20 + olen) / 4) << 4);
	pkt[33] = flags;
	seg_put16(pkt + 34, 502);
	memcpy(pkt + 40, (flags & NS_TCP_SYN) ? syn_opts : ts_opts, olen);
	if (plen)
		memcpy(pkt + 40 + olen, payload, plen);
	if (ns_tcpseg_parse(&s, pkt, len) != 0)
		return 0;
	ns_tcpseg_fix_checksums(&s);
	return len;
}

#endif
