/*
 * test_icmp: packet mode's path MTU messages (src/packet/icmp.c) and the
 * table of learned path MTUs (src/packet/pmtu.c).
 * The reference packets come from scapy (icmp_vectors.h, made by
 * tests/tools/gen_icmp_vectors.py), an independent implementation:
 * - scapy's ICMP and ICMPv6 checksums verify;
 * - a router's "fragmentation needed" / "packet too big" quoting a sealed
 *   segment of port 7447, from the client's side or the server's, with IP
 *   options in the quote or the shortest quote allowed, rewritten with the
 *   MTU 20 lower is byte for byte scapy's packet with that MTU (so the
 *   checksum, and ICMPv6's pseudo-header, are right);
 * - IPv6 near its minimum: 1290 becomes 1280, 1280 stays, 1279 is left
 *   alone (the kernel ignores it); IPv4 below 88 is left alone;
 * - everything else is left untouched: another port, UDP or an extension
 *   header in the quote, an extension header before the ICMPv6 header,
 *   other ICMP types and codes, an MTU not below the quoted length, a bad
 *   checksum, a fragment, a later fragment quoted, TCP;
 * - every truncation is refused without reading past the end (run under
 *   ASan with make SAN=1 unit), and a quote cut anywhere at or past the
 *   ports is still rewritten;
 * - the table: lookup, expiry, the lowest MTU kept, a full set.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/icmp.h"
#include "../../src/packet/pmtu.h"
#include "icmp_checksum.h"
#include "icmp_vectors.h"
#include "tap.h"

#define CAP 2048

static const uint16_t ports[] = { 7447 };
static uint8_t buf[CAP];

#define V(x) x, sizeof(x)

static int rewrite(const uint8_t *pkt, size_t len, struct ns_icmp_pmtu *m)
{
	memcpy(buf, pkt, len);
	return ns_icmp_pmtu_rewrite(buf, len, ports, 1, m);
}

static void test_checksums(void)
{
	static const struct { const char *name; const uint8_t *p; size_t len; } v[] = {
		{ "v4 client", V(vec_v4_client) }, { "v4 server", V(vec_v4_server) },
		{ "v4 short quote", V(vec_v4_short_quote) }, { "v4 echo", V(vec_v4_echo) },
		{ "v6 client", V(vec_v6_client) }, { "v6 server", V(vec_v6_server) },
		{ "v6 echo", V(vec_v6_echo) },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ok(ns_icmp_checksum_ok(v[i].p, v[i].len), "%s: scapy's checksum verifies", v[i].name);
		memcpy(buf, v[i].p, v[i].len);
		icmp_fix_checksum(buf, v[i].len);
		ok(memcmp(buf, v[i].p, v[i].len) == 0, "%s: the test's own checksum is scapy's",
		   v[i].name);
		buf[v[i].len - 1] ^= 0x40;
		ok(!ns_icmp_checksum_ok(buf, v[i].len), "%s: a flipped bit fails", v[i].name);
	}
	ok(!ns_icmp_checksum_ok(V(vec_v4_tcp)), "TCP has no ICMP checksum");
}

static void test_parse(void)
{
	static const uint8_t host4[4] = { 192, 0, 2, 10 }, peer4[4] = { 198, 51, 100, 20 };
	static const uint8_t host6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x10 };
	static const uint8_t peer6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 0x20 };
	struct ns_icmp_pmtu m;

	ok(ns_icmp_parse(V(vec_v4_client), &m) == 0 && !m.ipv6 && m.mtu == 1400 &&
	   m.inner_len == 1500 && m.sport == 40000 && m.dport == 7447 &&
	   memcmp(m.local, host4, 4) == 0 && memcmp(m.remote, peer4, 4) == 0,
	   "v4: MTU, quoted length, ports, addresses");
	ok(ns_icmp_parse(V(vec_v6_server), &m) == 0 && m.ipv6 && m.mtu == 1400 &&
	   m.inner_len == 1500 && m.sport == 7447 && m.dport == 40000 &&
	   memcmp(m.local, host6, 16) == 0 && memcmp(m.remote, peer6, 16) == 0,
	   "v6: MTU, quoted length, ports, addresses");
	ok(ns_icmp_parse(V(vec_v4_inner_opts), &m) == 0 && m.sport == 40000 && m.dport == 7447,
	   "v4: ports found past the quote's IP options");
}

static void test_rewrites(void)
{
	static const struct {
		const char *name;
		const uint8_t *in; size_t inlen;
		const uint8_t *out; size_t outlen;
		int rc; uint32_t mtu_new;
	} v[] = {
		{ "v4 client 1400", V(vec_v4_client), V(vec_v4_client_lowered), NS_ICMP_LOWERED, 1380 },
		{ "v4 server 1400", V(vec_v4_server), V(vec_v4_server_lowered), NS_ICMP_LOWERED, 1380 },
		{ "v4 shortest quote", V(vec_v4_short_quote), V(vec_v4_short_quote_lowered),
		  NS_ICMP_LOWERED, 1260 },
		{ "v4 IP options quoted", V(vec_v4_inner_opts), V(vec_v4_inner_opts_lowered),
		  NS_ICMP_LOWERED, 1380 },
		{ "v6 client 1400", V(vec_v6_client), V(vec_v6_client_lowered), NS_ICMP_LOWERED, 1380 },
		{ "v6 server 1400", V(vec_v6_server), V(vec_v6_server_lowered), NS_ICMP_LOWERED, 1380 },
		{ "v6 1290", V(vec_v6_1290), V(vec_v6_1290_floor), NS_ICMP_FLOOR, 1280 },
		/* unchanged */
		{ "v6 1280", V(vec_v6_1290_floor), V(vec_v6_1290_floor), NS_ICMP_FLOOR, 1280 },
		{ "v6 1279", V(vec_v6_1279), V(vec_v6_1279), NS_ICMP_NOT_SMALLER, 1279 },
		{ "v4 80", V(vec_v4_tiny), V(vec_v4_tiny), NS_ICMP_FLOOR, 80 },
		{ "v4 0", V(vec_v4_zero), V(vec_v4_zero), NS_ICMP_FLOOR, 0 },
		{ "v4 MTU 1500 for 1500 bytes", V(vec_v4_not_smaller), V(vec_v4_not_smaller),
		  NS_ICMP_NOT_SMALLER, 1500 },
		{ "v4 another port", V(vec_v4_other_port), V(vec_v4_other_port), NS_ICMP_NOT_OURS, 1400 },
		{ "v4 UDP quoted", V(vec_v4_udp_inside), V(vec_v4_udp_inside), NS_ICMP_NOT_OURS, 1400 },
		{ "v4 port unreachable", V(vec_v4_port_unreach), V(vec_v4_port_unreach),
		  NS_ICMP_OTHER, 0 },
		{ "v4 echo", V(vec_v4_echo), V(vec_v4_echo), NS_ICMP_OTHER, 0 },
		{ "v4 TCP", V(vec_v4_tcp), V(vec_v4_tcp), NS_ICMP_OTHER, 0 },
		{ "v6 another port", V(vec_v6_other_port), V(vec_v6_other_port), NS_ICMP_NOT_OURS, 1400 },
		{ "v6 extension header quoted", V(vec_v6_inner_ext), V(vec_v6_inner_ext),
		  NS_ICMP_NOT_OURS, 1400 },
		{ "v6 extension header before ICMPv6", V(vec_v6_outer_ext), V(vec_v6_outer_ext),
		  NS_ICMP_OTHER, 0 },
		{ "v6 echo", V(vec_v6_echo), V(vec_v6_echo), NS_ICMP_OTHER, 0 },
	};
	struct ns_icmp_pmtu m;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = rewrite(v[i].in, v[i].inlen, &m);

		ok(rc == v[i].rc && v[i].inlen == v[i].outlen &&
		   memcmp(buf, v[i].out, v[i].outlen) == 0,
		   "%s: result %d (want %d), bytes %s", v[i].name, rc, v[i].rc,
		   v[i].in == v[i].out ? "untouched" : "are scapy's with the new MTU");
		if (rc >= NS_ICMP_LOWERED && rc <= NS_ICMP_NOT_OURS && rc != NS_ICMP_OTHER)
			ok(m.mtu_new == v[i].mtu_new, "%s: the MTU it reports is %u", v[i].name, m.mtu_new);
		if (v[i].in != v[i].out)
			ok(ns_icmp_checksum_ok(buf, v[i].outlen), "%s: checksum verifies", v[i].name);
	}
}

static void test_refusals(void)
{
	struct ns_icmp_pmtu m;
	static const uint16_t many[] = { 8333, 30303, 7447 }, none[] = { 8333, 30303 };

	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	buf[sizeof(vec_v4_client) - 1] ^= 1;
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), ports, 1, &m) == NS_ICMP_BAD_CHECKSUM &&
	   buf[20 + 7] == (1400 & 0xff), "v4: a bad checksum is left for the kernel to drop");
	memcpy(buf, vec_v6_client, sizeof(vec_v6_client));
	buf[8] ^= 1; /* the source: in the pseudo-header only */
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v6_client), ports, 1, &m) == NS_ICMP_BAD_CHECKSUM,
	   "v6: the pseudo-header counts");

	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), many, 3, &m) == NS_ICMP_LOWERED,
	   "the third of three ports matches");
	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), none, 2, &m) == NS_ICMP_NOT_OURS &&
	   memcmp(buf, vec_v4_client, sizeof(vec_v4_client)) == 0, "no protected port: untouched");

	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	buf[6] |= 0x20; /* MF */
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), ports, 1, &m) == NS_ICMP_OTHER,
	   "a fragment of an ICMP message is not read");
	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	buf[28 + 7] = 0x10; /* the quoted packet's fragment offset */
	icmp_fix_checksum(buf, sizeof(vec_v4_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), ports, 1, &m) == NS_ICMP_NOT_OURS,
	   "a later fragment quoted has no ports: not ours");
	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	buf[28] = 0x44; /* quoted ihl 16 */
	icmp_fix_checksum(buf, sizeof(vec_v4_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), ports, 1, &m) == NS_ICMP_MALFORMED,
	   "a quoted header shorter than 20 bytes is malformed");
	memcpy(buf, vec_v4_client, sizeof(vec_v4_client));
	buf[28 + 2] = 0;
	buf[28 + 3] = 27; /* quoted length below its header + 8 */
	icmp_fix_checksum(buf, sizeof(vec_v4_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v4_client), ports, 1, &m) == NS_ICMP_MALFORMED,
	   "a quoted length that cannot hold the quote is malformed");
	memcpy(buf, vec_v6_client, sizeof(vec_v6_client));
	buf[48] = 0x45; /* not IPv6 inside */
	icmp_fix_checksum(buf, sizeof(vec_v6_client));
	ok(ns_icmp_pmtu_rewrite(buf, sizeof(vec_v6_client), ports, 1, &m) == NS_ICMP_MALFORMED,
	   "v6: an IPv4 header quoted is malformed");
	memset(buf, 0, 64);
	ok(ns_icmp_pmtu_rewrite(buf, 0, ports, 1, &m) == NS_ICMP_OTHER &&
	   ns_icmp_pmtu_rewrite(buf, 64, ports, 1, &m) == NS_ICMP_OTHER, "empty and zero bytes");
}

/* Every cut of a packet: with the IP length as it was (malformed), and
 * with the length and checksum made right for the cut (rewritten once the
 * quote reaches the ports). */
static void test_truncations(const char *name, const uint8_t *pkt, size_t len, size_t need)
{
	struct ns_icmp_pmtu m;
	int bad_raw = 0, bad_fixed = 0;

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
		int rc;

		memcpy(p, pkt, cut);
		rc = ns_icmp_pmtu_rewrite(p, cut, ports, 1, &m);
		if (rc == NS_ICMP_LOWERED || rc == NS_ICMP_FLOOR || memcmp(p, pkt, cut) != 0)
			bad_raw++;
		if (cut >= (pkt[0] >> 4 == 6 ? 48u : 28u)) {
			icmp_fix_checksum(p, cut);
			rc = ns_icmp_pmtu_rewrite(p, cut, ports, 1, &m);
			if ((cut >= need) != (rc == NS_ICMP_LOWERED) ||
			    (rc == NS_ICMP_LOWERED && !ns_icmp_checksum_ok(p, cut)))
				bad_fixed++;
		}
		free(p);
	}
	ok(bad_raw == 0, "%s: each of %zu cuts (length field unchanged) left untouched", name, len);
	ok(bad_fixed == 0, "%s: cuts made whole are rewritten exactly from %zu bytes on", name,
	   need);
}

static void test_table(void)
{
	struct ns_pmtu_table t;
	uint8_t a4[4] = { 198, 51, 100, 20 }, b4[4] = { 198, 51, 100, 21 };
	uint8_t a4_as6[16] = { 198, 51, 100, 20 };
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x20 };
	uint32_t path = 0, told = 0, hits = 0;

	ok(ns_pmtu_init(&t, 42) == 0, "table");
	ok(!ns_pmtu_get(&t, 0, a4, 0, &path, &told), "empty");
	ns_pmtu_note(&t, 0, a4, 1400, 1380, 1000);
	ok(ns_pmtu_get(&t, 0, a4, 1000, &path, &told) && path == 1400 && told == 1380,
	   "noted: path 1400, told 1380");
	ok(!ns_pmtu_get(&t, 0, b4, 1000, &path, &told) && !ns_pmtu_get(&t, 1, a4_as6, 1000, &path, &told),
	   "another address, another family: nothing");
	ns_pmtu_note(&t, 0, a4, 1500, 1480, 2000);
	ok(ns_pmtu_get(&t, 0, a4, 2000, &path, &told) && path == 1400 && told == 1380,
	   "a larger MTU does not raise a live entry (nor does the kernel's)");
	ns_pmtu_note(&t, 0, a4, 1300, 1280, 3000);
	ok(ns_pmtu_get(&t, 0, a4, 3000, &path, &told) && path == 1300 && told == 1280,
	   "a smaller one lowers it");
	ok(!ns_pmtu_get(&t, 0, a4, 3000 + NS_PMTU_TTL_MS, &path, &told), "entries expire");
	ns_pmtu_note(&t, 0, a4, 1500, 1480, 3000 + NS_PMTU_TTL_MS);
	ok(ns_pmtu_get(&t, 0, a4, 3000 + NS_PMTU_TTL_MS, &path, &told) && told == 1480,
	   "an expired entry takes the new value");
	ns_pmtu_note(&t, 1, a6, 1400, 1380, 1000);
	ok(ns_pmtu_get(&t, 1, a6, 1000, &path, &told) && told == 1380, "IPv6 addresses");
	ok(!ns_pmtu_get(&t, 1, a6, 1000 + NS_PMTU_TTL_MS, &path, &told) &&
	   ns_pmtu_get(&t, 0, a4, 1000 + NS_PMTU_TTL_MS, &path, &told),
	   "an entry noted earlier expires first; a later one stays");
	/* more addresses than slots: the newest are there, the count is bounded */
	for (uint32_t i = 0; i < 3 * NS_PMTU_SLOTS; i++) {
		uint8_t a[4] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
		ns_pmtu_note(&t, 0, a, 1400, 1380, 5000 + i);
	}
	for (uint32_t i = 3 * NS_PMTU_SLOTS - NS_PMTU_WAYS; i < 3 * NS_PMTU_SLOTS; i++) {
		uint8_t a[4] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
		hits += (uint32_t)ns_pmtu_get(&t, 0, a, 5000 + 3 * NS_PMTU_SLOTS, &path, &told);
	}
	ok(hits == NS_PMTU_WAYS, "the last %d noted are found", NS_PMTU_WAYS);
	ok(ns_pmtu_count(&t, 5000 + 3 * NS_PMTU_SLOTS) <= NS_PMTU_SLOTS, "at most %d entries",
	   NS_PMTU_SLOTS);
	ns_pmtu_free(&t);
}

int main(void)
{
	test_checksums();
	test_parse();
	test_rewrites();
	test_refusals();
	/* v4: IP 20 + ICMP 8 + quoted IP 20 + 8; v6: 40 + 8 + 40 + 8 */
	test_truncations("v4", V(vec_v4_client), 56);
	test_truncations("v6", V(vec_v6_client), 96);
	test_table();
	return tap_done();
}
