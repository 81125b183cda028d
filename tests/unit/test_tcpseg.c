/*
 * test_tcpseg: parsing, option rewriting and checksums of raw TCP packets.
 * The reference packets come from scapy (tcpseg_vectors.h, made by
 * tests/tools/gen_tcpseg_vectors.py), an independent implementation:
 * - our checksums accept scapy's and, recomputed from zero, equal them;
 * - a Linux SYN / SYN-ACK (MSS, SACK_PERM, TS, NOP, WS) rewritten with the
 *   nonce and a clamped MSS is byte for byte scapy's packet of the layout
 *   docs/PROTOCOL.md states; the same for the MAC on data segments, both
 *   ways, IPv4 and IPv6;
 * - malformed packets and option lists are rejected, fragments and IPv6
 *   extension headers are refused, UDP is "not TCP";
 * - growing a packet fails cleanly, leaving it untouched, when the buffer
 *   is one byte short; SACK-permitted, Fast Open and MPTCP leave SYNs; a
 *   full-size segment plus the MAC option fits the MTU the clamp was
 *   computed for.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/tcpseg.h"
#include "tap.h"
#include "tcpseg_vectors.h"

#define CAP 2048

static uint8_t buf[CAP];

static int load(struct ns_tcpseg *s, const uint8_t *pkt, size_t len)
{
	memset(buf, 0xee, sizeof(buf));
	memcpy(buf, pkt, len);
	return ns_tcpseg_parse(s, buf, len);
}

static int same(const struct ns_tcpseg *s, const uint8_t *want, size_t len)
{
	return s->len == len && memcmp(s->pkt, want, len) == 0;
}

#define LOAD(s, v) load(s, v, sizeof(v))
#define SAME(s, v) same(s, v, sizeof(v))

static void test_parse_and_checksums(void)
{
	static const struct { const char *name; const uint8_t *p; size_t len; int v6; size_t pay; } v[] = {
		{ "v4 SYN", vec_v4_syn, sizeof(vec_v4_syn), 0, 0 },
		{ "v4 SYN-ACK", vec_v4_synack, sizeof(vec_v4_synack), 0, 0 },
		{ "v4 data", vec_v4_data, sizeof(vec_v4_data), 0, 1001 },
		{ "v4 data with IP options", vec_v4_ipopt_data, sizeof(vec_v4_ipopt_data), 0, 3 },
		{ "v6 SYN", vec_v6_syn, sizeof(vec_v6_syn), 1, 0 },
		{ "v6 data", vec_v6_data, sizeof(vec_v6_data), 1, 777 },
	};
	struct ns_tcpseg s;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = load(&s, v[i].p, v[i].len);
		uint8_t *tcp = ns_tcpseg_tcp(&s);

		ok(rc == 0 && s.ipv6 == v[i].v6 && s.paylen == v[i].pay &&
		   s.l4 + s.thlen + s.paylen == v[i].len, "%s parses", v[i].name);
		ok(rc == 0 && ns_tcpseg_checksums_ok(&s), "%s: scapy's checksums verify", v[i].name);
		/* Zero both checksums, recompute: scapy's bytes again. */
		if (!s.ipv6)
			buf[10] = buf[11] = 0;
		tcp[16] ^= 0x5a;
		tcp[17] = 0;
		ok(!ns_tcpseg_checksums_ok(&s), "%s: a damaged checksum fails", v[i].name);
		ns_tcpseg_fix_checksums(&s);
		ok(same(&s, v[i].p, v[i].len), "%s: recomputed checksums equal scapy's", v[i].name);
		/* One payload or header bit flipped must fail the TCP checksum. */
		buf[v[i].len - 1] ^= 0x01;
		ok(!ns_tcpseg_checksums_ok(&s), "%s: a flipped bit fails the checksum", v[i].name);
	}
	ok(LOAD(&s, vec_v4_udp) == NS_TCPSEG_NOT_TCP, "UDP is not TCP");
}

static void test_parse_rejects(void)
{
	struct ns_tcpseg s;
	uint8_t p[CAP];

#define TRY(base, mutate, want, msg)                            \
	do {                                                    \
		size_t n_ = sizeof(base);                       \
		memcpy(p, base, n_);                            \
		mutate;                                         \
		ok(ns_tcpseg_parse(&s, p, n_) == (want), msg);  \
	} while (0)

	TRY(vec_v4_data, (void)0, 0, "v4 control");
	TRY(vec_v4_data, n_ = 0, NS_TCPSEG_BAD, "empty packet");
	TRY(vec_v4_data, n_ = 19, NS_TCPSEG_BAD, "v4 shorter than its header");
	TRY(vec_v4_data, p[0] = 0x44, NS_TCPSEG_BAD, "IHL 4");
	TRY(vec_v4_syn, p[0] = 0x4f, NS_TCPSEG_BAD, "IHL 15 leaves no room for the TCP header");
	TRY(vec_v4_data, n_ -= 1, NS_TCPSEG_BAD, "buffer shorter than total length");
	TRY(vec_v4_data, p[3] += 1, NS_TCPSEG_BAD, "total length longer than buffer");
	TRY(vec_v4_data, p[0] = 0x55, NS_TCPSEG_BAD, "IP version 5");
	TRY(vec_v4_data, p[6] |= 0x20, NS_TCPSEG_UNSUPP, "v4 more-fragments: refused, not passed");
	TRY(vec_v4_data, p[7] = 1, NS_TCPSEG_UNSUPP, "v4 fragment offset: refused, not passed");
	TRY(vec_v4_data, p[9] = 17, NS_TCPSEG_NOT_TCP, "v4 protocol UDP is not TCP");
	TRY(vec_v4_data, p[32] = 0x40, NS_TCPSEG_BAD, "TCP data offset 4");
	TRY(vec_v4_syn, p[32] = 0xf0, NS_TCPSEG_BAD, "TCP data offset past the packet");
	TRY(vec_v4_syn, (n_ = 39, p[2] = 0, p[3] = 39), NS_TCPSEG_BAD, "TCP header cut short");
	TRY(vec_v6_data, (void)0, 0, "v6 control");
	TRY(vec_v6_data, p[5] += 1, NS_TCPSEG_BAD, "v6 payload length past the buffer");
	TRY(vec_v6_data, n_ += 1, NS_TCPSEG_BAD, "v6 buffer longer than payload length");
	TRY(vec_v6_data, p[4] = p[5] = 0, NS_TCPSEG_BAD, "v6 jumbogram (payload length 0)");
	TRY(vec_v6_data, p[6] = 0, NS_TCPSEG_UNSUPP, "v6 hop-by-hop header: refused, not passed");
	TRY(vec_v6_data, p[6] = 44, NS_TCPSEG_UNSUPP, "v6 fragment header: refused, not passed");
	TRY(vec_v6_data, p[6] = 58, NS_TCPSEG_NOT_TCP, "v6 ICMPv6 is not TCP");
	TRY(vec_v6_data, n_ = 39, NS_TCPSEG_BAD, "v6 shorter than its header");
#undef TRY
}

/* A v4 SYN with the given option area (n bytes, a multiple of 4). */
static int syn_with(struct ns_tcpseg *s, const uint8_t *opts, size_t n)
{
	size_t len = 40 + n;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, vec_v4_syn, 40);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	buf[32] = (uint8_t)((20 + n) / 4) << 4;
	memcpy(buf + 40, opts, n);
	return ns_tcpseg_parse(s, buf, len);
}

static void test_option_walker(void)
{
	static const struct { const char *name; uint8_t o[40]; size_t n; int want; } v[] = {
		{ "Linux SYN options", { 2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 3, 3, 7 }, 20, 0 },
		{ "NOPs then EOL then zeros", { 1, 1, 1, 0, 0, 0, 0, 0 }, 8, 0 },
		{ "option length 0", { 2, 0, 1, 1 }, 4, NS_TCPSEG_BAD },
		{ "option length 1", { 99, 1, 1, 1 }, 4, NS_TCPSEG_BAD },
		{ "option past the area", { 1, 1, 99, 3 }, 4, NS_TCPSEG_BAD },
		{ "kind byte alone at the end", { 1, 1, 1, 2 }, 4, NS_TCPSEG_BAD },
		{ "MSS length 3", { 2, 3, 5, 1 }, 4, NS_TCPSEG_BAD },
		{ "MSS twice", { 2, 4, 5, 180, 2, 4, 5, 180 }, 8, NS_TCPSEG_BAD },
		{ "WS length 4", { 3, 4, 7, 0 }, 4, NS_TCPSEG_BAD },
		{ "SACK_PERM length 3", { 4, 3, 0, 1 }, 4, NS_TCPSEG_BAD },
		{ "TS length 9", { 8, 9, 1, 2, 3, 4, 5, 6, 7, 1, 1, 1 }, 12, NS_TCPSEG_BAD },
		{ "TS twice", { 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8 }, 20, NS_TCPSEG_BAD },
		{ "SACK of 11 bytes", { 5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1 }, 12, NS_TCPSEG_BAD },
		{ "SACK of 2 bytes (no block)", { 5, 2, 1, 1 }, 4, NS_TCPSEG_BAD },
		{ "non-zero byte after EOL", { 0, 0, 1, 0 }, 4, NS_TCPSEG_BAD },
		{ "nodeseal option of 19 bytes", { 253, 19, 0x4e, 0x53 }, 20, NS_TCPSEG_BAD },
		{ "nodeseal option twice",
		  { 253, 20, 0x4e, 0x53, [20] = 253, 20, 0x4e, 0x53 }, 40, NS_TCPSEG_BAD },
		{ "kind 253 with another ExID: someone else's", { 253, 20, 0xf9, 0x89 }, 20, 0 },
		{ "unknown kind 99, length 6", { 99, 6, 1, 2, 3, 4, 1, 1 }, 8, 0 },
	};
	struct ns_tcpseg s;
	struct ns_tcpopts o;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = syn_with(&s, v[i].o, v[i].n);

		ok(rc == 0 && ns_tcpseg_opts(&s, &o) == v[i].want, "options: %s -> %d", v[i].name,
		   v[i].want);
	}
	syn_with(&s, v[0].o, v[0].n);
	ns_tcpseg_opts(&s, &o);
	ok(o.mss == 0 && o.sackok == 4 && o.ts == 6 && o.ws == 17 && o.sack < 0 && o.ns < 0 &&
	   o.others == 0 && o.end == 20, "Linux SYN options found where they are");
	syn_with(&s, v[1].o, v[1].n);
	ns_tcpseg_opts(&s, &o);
	ok(o.end == 3, "EOL ends the list");
	syn_with(&s, v[17].o, v[17].n);
	ns_tcpseg_opts(&s, &o);
	ok(o.ns < 0 && o.others == 1, "another experiment's option is not ours");
}

static void test_syn_rewrite(void)
{
	struct ns_tcpseg s;
	struct ns_tcpopts o;
	uint8_t nonce[16];
	int rc;

	LOAD(&s, vec_v4_syn);
	rc = ns_tcpseg_syn_rewrite(&s, CAP, 1400, vec_nonce);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && SAME(&s, vec_v4_syn_rw),
	   "v4 Linux SYN: SACK_PERM out, MSS 1460 -> 1400, nonce option in: scapy's bytes");
	ok(ns_tcpseg_get_value(&s, nonce) == 1 && memcmp(nonce, vec_nonce, 16) == 0,
	   "the nonce reads back");
	ok(s.thlen == 60, "the SYN's option area is full: 40 bytes");

	LOAD(&s, vec_v4_synack);
	rc = ns_tcpseg_syn_rewrite(&s, CAP, 1400, vec_nonce);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && SAME(&s, vec_v4_synack_rw), "v4 Linux SYN-ACK rewritten: scapy's bytes");

	LOAD(&s, vec_v6_syn);
	rc = ns_tcpseg_syn_rewrite(&s, CAP, ns_tcpseg_mss_max(1500, 1), vec_nonce);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && SAME(&s, vec_v6_syn_rw), "v6 SYN rewritten, MSS 1440 clamped to 1420: scapy's bytes");

	/* Incoming: the peer's nonce is read, then the option removed. */
	LOAD(&s, vec_v4_syn_rw);
	ok(ns_tcpseg_get_value(&s, nonce) == 1 && memcmp(nonce, vec_nonce, 16) == 0,
	   "incoming SYN: the peer's nonce");
	rc = ns_tcpseg_syn_rewrite(&s, CAP, 1300, NULL);
	ok(rc == 0 && ns_tcpseg_get_value(&s, nonce) == 0 && ns_tcpseg_opts(&s, &o) == 0 &&
	   o.ns < 0 && o.mss == 0 && ns_tcpseg_opt_area(&s)[2] == 1300 >> 8 &&
	   ns_tcpseg_opt_area(&s)[3] == (1300 & 0xff) && s.thlen == 40,
	   "incoming SYN: option removed, MSS clamped again to the local limit");
	LOAD(&s, vec_v4_syn_rw);
	rc = ns_tcpseg_syn_rewrite(&s, CAP, 1460, NULL);
	ok(rc == 0 && ns_tcpseg_opt_area(&s)[2] == 1400 >> 8 && ns_tcpseg_opt_area(&s)[3] == (1400 & 0xff),
	   "a smaller MSS is never raised");

	/* Capacity: one byte short fails and changes nothing. */
	LOAD(&s, vec_v4_syn);
	rc = ns_tcpseg_syn_rewrite(&s, sizeof(vec_v4_syn_rw) - 1, 1400, vec_nonce);
	ok(rc == NS_TCPSEG_NOSPACE && SAME(&s, vec_v4_syn) && buf[sizeof(vec_v4_syn)] == 0xee,
	   "SYN rewrite into a buffer 1 byte short: NOSPACE, packet untouched");
	rc = ns_tcpseg_syn_rewrite(&s, sizeof(vec_v4_syn_rw), 1400, vec_nonce);
	ok(rc == 0 && s.len == sizeof(vec_v4_syn_rw), "exactly enough room: done");

	/* A SYN without MSS gets the default, clamped; TFO, MPTCP, unknown and
	 * SACK_PERM options leave; the payload (TFO data) leaves too. */
	{
		static const uint8_t opts[] = { 4, 2, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 30, 12, 0, 0x81,
		                                1, 2, 3, 4, 5, 6, 7, 8, 99, 4, 1, 2 };
		size_t n = sizeof(opts);

		memset(buf, 0, sizeof(buf));
		memcpy(buf, vec_v4_syn, 40);
		memcpy(buf + 40, opts, n);
		memcpy(buf + 40 + n, "SYN data", 8);
		buf[3] = (uint8_t)(40 + n + 8);
		buf[32] = (uint8_t)((20 + n) / 4) << 4;
		rc = ns_tcpseg_parse(&s, buf, 40 + n + 8);
		ok(rc == 0 && s.paylen == 8 && ns_tcpseg_opts(&s, &o) == 0 && o.others == 3,
		   "SYN with SACK_PERM, TFO cookie, MP_CAPABLE, kind 99 and 8 data bytes parses");
		rc = ns_tcpseg_syn_rewrite(&s, CAP, 1440, vec_nonce);
		ns_tcpseg_opts(&s, &o);
		ok(rc == 0 && o.mss == 0 && ns_tcpseg_opt_area(&s)[2] == 536 >> 8 &&
		   ns_tcpseg_opt_area(&s)[3] == (536 & 0xff) && o.sackok < 0 && o.others == 0 &&
		   o.ns == 4 && s.paylen == 0 && s.thlen == 44 && s.len == 64,
		   "rewritten: MSS 536 added, all others out, nonce in, data gone");
		ns_tcpseg_fix_checksums(&s);
		ok(ns_tcpseg_parse(&s, buf, 64) == 0 && ns_tcpseg_checksums_ok(&s), "and it reparses");
	}

	LOAD(&s, vec_v4_data);
	ok(ns_tcpseg_syn_rewrite(&s, CAP, 1400, vec_nonce) == NS_TCPSEG_BAD,
	   "syn_rewrite refuses a segment without SYN");
	LOAD(&s, vec_v4_syn);
	ns_tcpseg_tcp(&s)[13] |= NS_TCP_RST;
	ok(ns_tcpseg_syn_rewrite(&s, CAP, 1400, vec_nonce) == NS_TCPSEG_BAD, "... and SYN+RST");
	LOAD(&s, vec_v4_syn);
	ok(ns_tcpseg_syn_rewrite(&s, CAP, 87, vec_nonce) == NS_TCPSEG_NOSPACE && SAME(&s, vec_v4_syn),
	   "... and an MSS limit below 88");
}

static void test_mss_rule(void)
{
	struct ns_tcpseg s;
	uint16_t mss = ns_tcpseg_mss_max(1500, 0);
	size_t paylen = (size_t)mss - 12; /* Linux subtracts the timestamps */
	uint8_t mac[16];
	int rc;

	ok(mss == 1440 && ns_tcpseg_mss_max(1500, 1) == 1420 && ns_tcpseg_mss_max(9000, 0) == 8940,
	   "MSS limit = MTU - IP - TCP - 20 (1440 v4, 1420 v6 at MTU 1500)");
	ok(ns_tcpseg_mss_max(147, 0) == 0 && ns_tcpseg_mss_max(148, 0) == 88 &&
	   ns_tcpseg_mss_max(70000, 0) == 0, "no MSS limit below 88 or for an impossible MTU");
	/* A full segment at that MSS, with timestamps, plus the MAC: the MTU. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, vec_v4_data, 52);
	buf[2] = (uint8_t)((52 + paylen) >> 8);
	buf[3] = (uint8_t)(52 + paylen);
	rc = ns_tcpseg_parse(&s, buf, 52 + paylen);
	ok(rc == 0 && ns_tcpseg_put_mac(&s, CAP, vec_mac) == 0 && s.len == 1500,
	   "a full-MSS segment with timestamps and the MAC option is exactly 1500 bytes");
	ok(ns_tcpseg_take_mac(&s, mac) == 0 && s.len == 52 + paylen, "and shrinks back");
}

static void test_mac_option(void)
{
	struct ns_tcpseg s;
	struct ns_tcpopts o;
	uint8_t mac[16];
	int rc;

	LOAD(&s, vec_v4_data);
	rc = ns_tcpseg_put_mac(&s, CAP, vec_mac);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && SAME(&s, vec_v4_data_mac), "v4 data: MAC option after NOP NOP TS: scapy's bytes");
	rc = ns_tcpseg_take_mac(&s, mac);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && memcmp(mac, vec_mac, 16) == 0 && SAME(&s, vec_v4_data),
	   "v4 data: MAC taken out, the original packet back");

	LOAD(&s, vec_v6_data);
	rc = ns_tcpseg_put_mac(&s, CAP, vec_mac);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && SAME(&s, vec_v6_data_mac), "v6 data: MAC option: scapy's bytes");
	rc = ns_tcpseg_take_mac(&s, mac);
	ns_tcpseg_fix_checksums(&s);
	ok(rc == 0 && memcmp(mac, vec_mac, 16) == 0 && SAME(&s, vec_v6_data), "v6 data: and back");

	LOAD(&s, vec_v4_data);
	rc = ns_tcpseg_put_mac(&s, sizeof(vec_v4_data_mac) - 1, vec_mac);
	ok(rc == NS_TCPSEG_NOSPACE && SAME(&s, vec_v4_data) && buf[sizeof(vec_v4_data)] == 0xee,
	   "MAC into a buffer 1 byte short: NOSPACE, packet untouched");
	LOAD(&s, vec_v4_data);
	ok(ns_tcpseg_take_mac(&s, mac) == NS_TCPSEG_BAD, "take_mac without the option: BAD");
	LOAD(&s, vec_v4_data_mac);
	ok(ns_tcpseg_put_mac(&s, CAP, vec_nonce) == 0 && ns_tcpseg_get_value(&s, mac) == 1 &&
	   memcmp(mac, vec_nonce, 16) == 0 && s.len == sizeof(vec_v4_data_mac),
	   "put_mac replaces an existing nodeseal option");
	LOAD(&s, vec_v4_syn);
	ok(ns_tcpseg_put_mac(&s, CAP, vec_mac) == NS_TCPSEG_BAD, "put_mac refuses a SYN");

	/* A data segment with every slot used: NOP NOP TS + NOP NOP SACK(3). */
	{
		static const uint8_t opts[40] = { 1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 5, 26 };
		memset(buf, 0, sizeof(buf));
		memcpy(buf, vec_v4_data, 32);
		memcpy(buf + 40, opts, 40);
		buf[2] = 0;
		buf[3] = 100;
		buf[32] = 0xf0;
		memcpy(buf + 80, "payload of twenty b.", 20);
		rc = ns_tcpseg_parse(&s, buf, 100);
		ok(rc == 0 && ns_tcpseg_put_mac(&s, CAP, vec_mac) == 0 && ns_tcpseg_opts(&s, &o) == 0 &&
		   o.sack < 0 && o.ts == 2 && o.ns == 12 && s.thlen == 52 && s.paylen == 20 &&
		   memcmp(ns_tcpseg_payload(&s), "payload of twenty b.", 20) == 0,
		   "SACK blocks are dropped to make room; TS and payload kept");
	}
	{
		/* TS, MD5 signature (kind 19, 18 bytes): cannot be dropped safely. */
		static const uint8_t opts[32] = { 1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 19, 18 };
		memset(buf, 0, sizeof(buf));
		memcpy(buf, vec_v4_data, 32);
		memcpy(buf + 40, opts, 32);
		buf[2] = 0;
		buf[3] = 72;
		buf[32] = 0xd0;
		rc = ns_tcpseg_parse(&s, buf, 72);
		ok(rc == 0 && ns_tcpseg_put_mac(&s, CAP, vec_mac) == NS_TCPSEG_UNSUPP,
		   "an MD5 signature option: UNSUPP, not silently dropped");
	}
	{
		/* Incoming: options other than TS that arrive with the MAC are not
		 * passed to the local stack. */
		static const uint8_t opts[40] = { 1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 253, 20, 0x4e, 0x53,
		                                  [32] = 99, 4, 0, 0, 1, 1, 1, 1 };
		memset(buf, 0, sizeof(buf));
		memcpy(buf, vec_v4_data, 32);
		memcpy(buf + 40, opts, 40);
		buf[2] = 0;
		buf[3] = 80;
		buf[32] = 0xf0;
		rc = ns_tcpseg_parse(&s, buf, 80);
		ok(rc == 0 && ns_tcpseg_take_mac(&s, mac) == 0 && ns_tcpseg_opts(&s, &o) == 0 &&
		   o.others == 0 && o.ts == 2 && s.thlen == 32, "take_mac leaves only the timestamps");
	}
}

/* RFC 1071 as written: big-endian 16-bit words, end-around carry. */
static uint16_t ref_sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2) {
		acc += (uint32_t)(p[i] << 8 | (i + 1 < n ? p[i + 1] : 0));
		acc = (acc & 0xffff) + (acc >> 16);
	}
	return (uint16_t)((acc & 0xffff) + (acc >> 16));
}

/* The word-at-a-time sum against the reference: every length to 300, at
 * every alignment, with an accumulator already holding a pseudo-header
 * sum; random bytes, all zero, all 0xff. */
static void test_sum16(void)
{
	static uint8_t data[512];
	unsigned bad = 0, runs = 0;

	srand(7);
	for (int fill = 0; fill < 3; fill++) {
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = fill == 0 ? (uint8_t)rand() : fill == 1 ? 0 : 0xff;
		for (size_t off = 0; off < 4; off++)
			for (size_t n = 0; n <= 300; n++) {
				uint32_t acc = fill == 0 ? (uint32_t)rand() % 0x30000 : 0;
				uint16_t got = ns_tcpseg_fold(ns_tcpseg_sum16(acc, data + off, n));
				uint16_t want = ref_sum(acc, data + off, n);
				bad += got != want;
				runs++;
			}
	}
	ok(bad == 0, "sum16: %u of %u lengths and alignments differ from RFC 1071", bad, runs);
}

int main(void)
{
	test_sum16();
	test_parse_and_checksums();
	test_parse_rejects();
	test_option_walker();
	test_syn_rewrite();
	test_mss_rule();
	test_mac_option();
	return tap_done();
}
