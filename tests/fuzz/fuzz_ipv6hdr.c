/*
 * fuzz_ipv6hdr: hostile bytes as a packet the queue must sort into ICMP and
 * the rest, through the walk past IPv6's extension headers
 * (src/packet/ipv6hdr.c).
 * Input: [cut][packet].  The packet is also tried cut to cut * len / 255
 * bytes (a prefix).
 * Invariants: no crash, no read past the packet (it is copied into a
 * buffer of exactly its size); the answer is -1 or a protocol number, never
 * an extension header the walk knows; it agrees with a plain reference walk
 * written here from RFC 8200; and a prefix that can be told tells the same
 * as the whole packet (bytes past a header chain never change it).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/ipv6hdr.h"

static int is_extension(int nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60;
}

/* RFC 8200, section 4, read plainly: each header's first byte is the next
 * header; hop-by-hop, routing and destination options give their length in
 * 8-byte units past the first 8; a fragment header is 8 bytes and only the
 * first fragment (offset 0) carries the upper header. */
static int reference(const uint8_t *p, size_t len)
{
	size_t off = 40, hdr;
	int nh;

	if (len >= 20 && p[0] >> 4 == 4)
		return p[9];
	if (len < 40 || p[0] >> 4 != 6)
		return -1;
	nh = p[6];
	for (int seen = 0; is_extension(nh); seen++) {
		if (seen == NS_IPV6HDR_MAX_EXT || off + 8 > len)
			return -1;
		if (nh == 44 && ((p[off + 2] << 8 | p[off + 3]) >> 3) != 0)
			return -1;
		hdr = nh == 44 ? 8 : ((size_t)p[off + 1] + 1) * 8;
		nh = p[off];
		off += hdr;
		if (off > len)
			return -1;
	}
	return nh;
}

static int upper(const uint8_t *data, size_t len)
{
	uint8_t *pkt = malloc(len ? len : 1);
	int rc;

	if (pkt == NULL)
		abort();
	memcpy(pkt, data, len);
	rc = ns_ipv6hdr_upper_proto(pkt, len);
	if (rc < -1 || rc > 255 || (rc >= 0 && pkt[0] >> 4 == 6 && is_extension(rc)) ||
	    rc != reference(pkt, len))
		abort();
	free(pkt);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, cut;
	int whole, prefix;

	if (size < 1 || size - 1 > 65535)
		return 0;
	len = size - 1;
	cut = len * data[0] / 255;
	whole = upper(data + 1, len);
	prefix = upper(data + 1, cut);
	if (prefix != -1 && prefix != whole)
		abort();
	return 0;
}
