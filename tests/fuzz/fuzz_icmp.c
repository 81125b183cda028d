/*
 * fuzz_icmp: hostile bytes as a packet the PMTU rules queue, through the
 * ICMP parser and rewriter (src/packet/icmp.c), and the learned MTUs into
 * the table (src/packet/pmtu.c) as the queue notes them.
 * Input: [mode][port, 2 bytes big-endian: the protected port][packet].
 * mode bit 0: first make the IP length field and the ICMP checksum right
 * for the bytes given (else nearly every mutation stops at the checksum,
 * and the quoted packet's parser is never reached).
 * Invariants: no crash, no read past the packet (it is copied into a
 * buffer of exactly its size); the result is one of the enum's; a packet
 * is changed only when the result says so, and then only in the MTU field
 * and the checksum, with the checksum verifying and a second parse finding
 * the new MTU, 20 lower (or 1280 for IPv6 near the floor), below the old;
 * an unchanged packet's fields agree with a plain parse; the port matched
 * whenever the result says the message was ours.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/icmp.h"
#include "../../src/packet/pmtu.h"
#include "../unit/icmp_checksum.h"

static struct ns_pmtu_table table;

/* Bytes that may change: the MTU field and the checksum of the ICMP header. */
static int allowed(const uint8_t *pkt, size_t i)
{
	size_t off = pkt[0] >> 4 == 6 ? 40 : (size_t)(pkt[0] & 15) * 4;

	return i == off + 2 || i == off + 3 || (i >= off + 4 && i < off + 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_icmp_pmtu m, again;
	uint16_t port;
	uint8_t *pkt, *orig;
	size_t len;
	int rc, rc2;

	if (size < 3 || size - 3 > 65535)
		return 0;
	if (table.e == NULL && ns_pmtu_init(&table, 1) != 0)
		abort();
	port = (uint16_t)(data[1] << 8 | data[2]);
	len = size - 3;
	/* exact sizes: ASan sees any read past the packet */
	pkt = malloc(len ? len : 1);
	orig = malloc(len ? len : 1);
	if (pkt == NULL || orig == NULL) {
		free(pkt);
		free(orig);
		return 0;
	}
	memcpy(orig, data + 3, len);
	if (data[0] & 1)
		icmp_fix_checksum(orig, len);
	memcpy(pkt, orig, len);
	rc = ns_icmp_pmtu_rewrite(pkt, len, &port, 1, &m);
	if (rc < NS_ICMP_BAD_CHECKSUM || rc > NS_ICMP_NOT_SMALLER)
		abort();
	if (memcmp(pkt, orig, len) != 0) {
		/* changed: only by a rewrite, only where allowed, and right */
		if (!(rc == NS_ICMP_LOWERED || (rc == NS_ICMP_FLOOR && m.ipv6)))
			abort();
		for (size_t i = 0; i < len; i++)
			if (pkt[i] != orig[i] && !allowed(pkt, i))
				abort();
		if (!ns_icmp_checksum_ok(pkt, len))
			abort();
		if (ns_icmp_parse(pkt, len, &again) != 0 || again.mtu != m.mtu_new ||
		    m.mtu_new >= m.mtu)
			abort();
		if (rc == NS_ICMP_LOWERED ? m.mtu_new != m.mtu - NS_ICMP_SHRINK
		                          : m.mtu_new != NS_ICMP_MIN_MTU6)
			abort();
	} else if (rc == NS_ICMP_LOWERED || (rc == NS_ICMP_FLOOR && m.mtu_new != m.mtu)) {
		abort();
	}
	/* the parse of the original agrees with what the rewrite saw */
	rc2 = ns_icmp_parse(orig, len, &again);
	if (rc == NS_ICMP_LOWERED || rc == NS_ICMP_FLOOR || rc == NS_ICMP_NOT_SMALLER) {
		if (rc2 != 0 || again.mtu != m.mtu || again.sport != m.sport ||
		    again.dport != m.dport || (port != m.sport && port != m.dport))
			abort();
		if (!ns_icmp_checksum_ok(orig, len))
			abort();
		ns_pmtu_note(&table, m.ipv6, m.remote, m.mtu, m.mtu_new, 0);
	} else if (rc == NS_ICMP_OTHER || rc == NS_ICMP_MALFORMED || rc == NS_ICMP_BAD_CHECKSUM) {
		if (rc2 != rc)
			abort();
	}
	free(pkt);
	free(orig);
	return 0;
}
