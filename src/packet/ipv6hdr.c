/*
 * ipv6hdr.c: the protocol above IP, past IPv6's extension headers
 * (ipv6hdr.h).
 *
 * Each extension header's length is checked against the bytes present
 * before the next one is read, and the walk is bounded, so a hostile chain
 * can neither read past the packet nor loop.
 */
#include "ipv6hdr.h"

#define IPV4_HEADER_MIN 20
#define IPV6_HEADER 40
#define EXT_MIN 8             /* every extension header is at least this long */

enum { HOP_BY_HOP = 0, ROUTING = 43, FRAGMENT = 44, DEST_OPTIONS = 60 };

int ns_ipv6hdr_upper_proto(const uint8_t *pkt, size_t len)
{
	size_t off = IPV6_HEADER;
	uint8_t nh;

	if (len >= IPV4_HEADER_MIN && pkt[0] >> 4 == 4)
		return pkt[9];
	if (len < IPV6_HEADER || pkt[0] >> 4 != 6)
		return -1;
	nh = pkt[6];
	/* the headers walked, and the one after the last */
	for (int i = 0; i <= NS_IPV6HDR_MAX_EXT; i++) {
		switch (nh) {
		case HOP_BY_HOP: case ROUTING: case DEST_OPTIONS:
			/* length in 8-byte units, not counting the first 8 */
			if (len - off < EXT_MIN)
				return -1;
			nh = pkt[off];
			off += ((size_t)pkt[off + 1] + 1) * 8;
			if (off > len)
				return -1;
			break;
		case FRAGMENT:
			/* only the first fragment (offset 0) holds the upper header */
			if (len - off < EXT_MIN ||
			    (((unsigned)pkt[off + 2] << 8 | pkt[off + 3]) & 0xfff8) != 0)
				return -1;
			nh = pkt[off];
			off += EXT_MIN;
			break;
		default:
			return nh;
		}
	}
	return -1;
}
