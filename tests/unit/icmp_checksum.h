/*
 * icmp_checksum.h: an ICMP packet's IP length field and ICMP checksum made
 * right for the bytes it has, for test_icmp (to cut packets and fix them
 * up) and fuzz_icmp (so that mutations get past the checksum to the quoted
 * packet's parser).  Written apart from src/packet/icmp.c on purpose: the
 * test checks it against scapy's checksums before it trusts it.
 */
#ifndef NS_TEST_ICMP_CHECKSUM_H
#define NS_TEST_ICMP_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* IPv4: the ICMP header at the IP header's length; IPv6: next header 58
 * at 40.  A packet too short for its headers is left as it is. */
static inline void icmp_fix_checksum(uint8_t *p, size_t len)
{
	int v6 = p[0] >> 4 == 6;
	size_t off = v6 ? 40 : (size_t)(p[0] & 15) * 4, n;
	uint64_t acc = 0;

	if (len < (v6 ? 44u : 24u) || off < 20 || off + 4 > len || len > 65535)
		return;
	n = len - off;
	if (v6) {
		p[4] = (uint8_t)((len - 40) >> 8);
		p[5] = (uint8_t)(len - 40);
		for (size_t i = 8; i < 40; i += 2)
			acc += (uint32_t)(p[i] << 8 | p[i + 1]);
		acc += (n >> 16) + (n & 0xffff) + 58;
	} else {
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
	}
	p[off + 2] = p[off + 3] = 0;
	for (size_t i = 0; i < n; i += 2)
		acc += (uint32_t)(p[off + i] << 8 | (i + 1 < n ? p[off + i + 1] : 0));
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	p[off + 2] = (uint8_t)(~acc >> 8);
	p[off + 3] = (uint8_t)~acc;
}

#endif
