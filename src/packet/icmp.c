/*
 * icmp.c: parsing and rewriting path MTU messages (icmp.h).
 *
 * Layouts (RFC 792 / RFC 1191, RFC 4443):
 *   IPv4: IP header | type 3, code 4, checksum, unused (2), next-hop MTU (2)
 *         | quoted IP header | at least 8 bytes of its payload
 *   IPv6: IP header (next header 58) | type 2, code 0, checksum, MTU (4)
 *         | quoted IPv6 header | at least 8 bytes of its payload
 * The ICMP checksum covers the whole ICMP message; ICMPv6's also the
 * pseudo-header (source, destination, upper-layer length, 58).
 */
#include <string.h>

#include "icmp.h"
#include "tcpseg.h"

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_ICMPV6 58
#define ICMP_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_TOO_BIG 2
#define ICMP_HDR 8
#define QUOTED_L4 8        /* the quoted payload we need: the ports (and seq) */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the ICMP message in a whole, parsed-enough packet; 0 if the
 * packet is no ICMP this file reads (the outer header is checked). */
static size_t icmp_offset(const uint8_t *pkt, size_t len, bool *v6, int *rc)
{
	*rc = NS_ICMP_OTHER;
	if (len < 1)
		return 0;
	if (pkt[0] >> 4 == 4) {
		size_t ihl;
		if (len < 20)
			return 0;
		ihl = (size_t)(pkt[0] & 15) * 4;
		if (pkt[9] != PROTO_ICMP)
			return 0;
		*rc = NS_ICMP_MALFORMED;
		if (ihl < 20 || ihl > len || be16(pkt + 2) != len)
			return 0;
		/* A fragment of an ICMP message is not one to read. */
		if ((be16(pkt + 6) & 0x3fff) != 0) {
			*rc = NS_ICMP_OTHER;
			return 0;
		}
		*v6 = false;
		return ihl;
	}
	if (pkt[0] >> 4 == 6) {
		if (len < 40 || pkt[6] != PROTO_ICMPV6)
			return 0; /* extension headers included: not read */
		*rc = NS_ICMP_MALFORMED;
		if (be16(pkt + 4) + (size_t)40 != len)
			return 0;
		*v6 = true;
		return 40;
	}
	return 0;
}

/* Sum of the pseudo-header (IPv6) and the ICMP message, checksum included. */
static uint16_t icmp_sum(const uint8_t *pkt, size_t len, size_t off, bool v6)
{
	size_t n = len - off;
	uint64_t acc = 0;

	if (v6)
		acc = ns_tcpseg_sum16(0, pkt + 8, 32) + (n >> 16) + (n & 0xffff) + PROTO_ICMPV6;
	return ns_tcpseg_fold(ns_tcpseg_sum16(acc, pkt + off, n));
}

static void fix_checksum(uint8_t *pkt, size_t len, size_t off, bool v6)
{
	uint16_t c;

	pkt[off + 2] = pkt[off + 3] = 0;
	c = (uint16_t)~icmp_sum(pkt, len, off, v6);
	pkt[off + 2] = (uint8_t)(c >> 8);
	pkt[off + 3] = (uint8_t)c;
}

bool ns_icmp_checksum_ok(const uint8_t *pkt, size_t len)
{
	bool v6 = false;
	int rc;
	size_t off = icmp_offset(pkt, len, &v6, &rc);

	return off != 0 && len - off >= 4 && icmp_sum(pkt, len, off, v6) == 0xffff;
}

int ns_icmp_parse(const uint8_t *pkt, size_t len, struct ns_icmp_pmtu *m)
{
	const uint8_t *icmp, *in;
	size_t off, ilen, inlen, inhl;
	bool v6 = false;
	int rc;

	memset(m, 0, sizeof(*m));
	off = icmp_offset(pkt, len, &v6, &rc);
	if (off == 0)
		return rc;
	icmp = pkt + off;
	ilen = len - off;
	if (ilen < ICMP_HDR)
		return NS_ICMP_MALFORMED;
	if (v6 ? icmp[0] != ICMPV6_TOO_BIG || icmp[1] != 0
	       : icmp[0] != ICMP_UNREACH || icmp[1] != ICMP_FRAG_NEEDED)
		return NS_ICMP_OTHER;
	if (icmp_sum(pkt, len, off, v6) != 0xffff)
		return NS_ICMP_BAD_CHECKSUM;
	m->ipv6 = v6;
	m->mtu = m->mtu_new = v6 ? be32(icmp + 4) : be16(icmp + 6);
	in = icmp + ICMP_HDR;
	inlen = ilen - ICMP_HDR;
	if (v6) {
		if (inlen < 40 + QUOTED_L4 || in[0] >> 4 != 6)
			return NS_ICMP_MALFORMED;
		m->inner_len = be16(in + 4) + 40;
		/* Packet mode seals no segment with extension headers. */
		if (in[6] != PROTO_TCP)
			return NS_ICMP_NOT_OURS;
		inhl = 40;
		memcpy(m->local, in + 8, 16);
		memcpy(m->remote, in + 24, 16);
	} else {
		if (inlen < 20 || in[0] >> 4 != 4)
			return NS_ICMP_MALFORMED;
		inhl = (size_t)(in[0] & 15) * 4;
		if (inhl < 20 || inhl + QUOTED_L4 > inlen)
			return NS_ICMP_MALFORMED;
		m->inner_len = be16(in + 2);
		/* A later fragment quotes no TCP header. */
		if (in[9] != PROTO_TCP || (be16(in + 6) & 0x1fff) != 0)
			return NS_ICMP_NOT_OURS;
		memcpy(m->local, in + 12, 4);
		memcpy(m->remote, in + 16, 4);
	}
	/* The length field must at least cover what is quoted of it. */
	if (m->inner_len < inhl + QUOTED_L4)
		return NS_ICMP_MALFORMED;
	m->sport = (uint16_t)be16(in + inhl);
	m->dport = (uint16_t)be16(in + inhl + 2);
	return 0;
}

static bool protected(const struct ns_icmp_pmtu *m, const uint16_t *ports, int nports)
{
	for (int i = 0; i < nports; i++)
		if (m->sport == ports[i] || m->dport == ports[i])
			return true;
	return false;
}

static void set_mtu(uint8_t *pkt, size_t len, struct ns_icmp_pmtu *m, uint32_t mtu)
{
	size_t off = m->ipv6 ? 40 : (size_t)(pkt[0] & 15) * 4;
	uint8_t *icmp = pkt + off;

	if (m->ipv6) {
		icmp[4] = (uint8_t)(mtu >> 24);
		icmp[5] = (uint8_t)(mtu >> 16);
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
	} else {
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
	}
	fix_checksum(pkt, len, off, m->ipv6);
	m->mtu_new = mtu;
}

int ns_icmp_pmtu_rewrite(uint8_t *pkt, size_t len, const uint16_t *ports, int nports,
                         struct ns_icmp_pmtu *m)
{
	int rc = ns_icmp_parse(pkt, len, m);

	if (rc != 0)
		return rc;
	if (!protected(m, ports, nports))
		return NS_ICMP_NOT_OURS;
	/* A packet that fitted M was not too big: whatever this is, the
	 * option did not cause it.  IPv6 below 1280 the kernel ignores. */
	if (m->mtu >= m->inner_len || (m->ipv6 && m->mtu < NS_ICMP_MIN_MTU6))
		return NS_ICMP_NOT_SMALLER;
	if (m->ipv6 && m->mtu < NS_ICMP_MIN_MTU6 + NS_ICMP_SHRINK) {
		/* The stack goes no lower than 1280: as low as it goes. */
		if (m->mtu != NS_ICMP_MIN_MTU6)
			set_mtu(pkt, len, m, NS_ICMP_MIN_MTU6);
		return NS_ICMP_FLOOR;
	}
	if (!m->ipv6 && m->mtu < NS_ICMP_MIN_MTU4 + NS_ICMP_SHRINK)
		return NS_ICMP_FLOOR;
	set_mtu(pkt, len, m, m->mtu - NS_ICMP_SHRINK);
	return NS_ICMP_LOWERED;
}
