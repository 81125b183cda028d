/*
 * test_flow: packet mode's connection table, two hosts in one process.
 *
 * Host A (10.0.0.1) and host B (10.0.0.2) each have a flow table with the
 * same network key.  A segment "sent" by one goes through its table as
 * outgoing, then through the other's as incoming, as on the wire between
 * two NFQUEUEs.  Checked:
 * - the handshake: A's SYN gets a nonce and a clamped MSS, loses
 *   SACK-permitted; B's SYN-ACK gets its own; both strip the other's
 *   before their stack sees it;
 * - data both ways arrives as sent, checksums right, and the wire bytes
 *   are not the plaintext; each carries the 20-byte option;
 * - a flipped payload bit, a flipped window, a missing option, a segment
 *   of an unknown connection, a peer's SYN without the option: dropped and
 *   counted;
 * - a retransmitted SYN carries the same nonce; a peer's SYN cannot
 *   replace a live connection; resets before keys pass only as allowed;
 * - another network key: the handshake passes (it is not authenticated)
 *   and the first sealed segment fails;
 * - a path MTU learned for the peer (pmtu.h) clamps the MSS of a later SYN
 *   so that a full segment with the option fits it; IPv4 paths below 552
 *   count as 552.
 * - a connection that keeps failing is given up: 7 failures in a row are
 *   not enough, the 8th hands its tuple out once (ns_flow_next_kill), and
 *   the stack's reset then leaves sealed and verifies at the peer; a
 *   verified segment starts the count again; failures far from the stream
 *   (a stranger's guesses) do not count; with the kill queue full, a
 *   connection is handed out at its next failure.
 * - the rollout policy: under opportunistic a plain peer's connection
 *   (its SYN, or its SYN-ACK to ours, without the option) passes unchanged
 *   both ways and is counted clear, under required it is dropped as
 *   before; a peer that verified a sealed segment is never carried in
 *   clear again (downgrade), and its clear connections are handed out to
 *   end; switching to required hands out every clear connection, more than
 *   the kill queue holds, and drops their segments; clear handshakes are
 *   evicted, established clear connections are not.
 * - rotation: the SYN's nonce ends with the id of the key its sender
 *   sends with; a responder holding two keys keys the connection with the
 *   one named, whichever is first; holding two and neither named, it drops
 *   the SYN (unknown_key); holding one, a peer under another key fails at
 *   the MAC as before; a reload keeps established connections' keys; two
 *   keys of one id are refused and the old set kept.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/packet/flow.h"
#include "../../src/peers/peers.h"
#include "../../src/packet/tcpseg.h"
#include "segment.h"
#include "tap.h"

#define CAP 2048
#define A_IP 0x0a000001u
#define B_IP 0x0a000002u
#define C_IP 0x0a000003u

/* An IPv4 TCP segment as Linux sends it (segment.h), into a CAP buffer. */
static size_t build(uint8_t *pkt, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                    uint32_t seq, uint32_t ack, uint8_t flags, const char *payload)
{
	return seg_build(pkt, CAP, src, dst, sport, dport, seq, ack, flags, payload);
}

struct host {
	struct ns_flow_table t;
	int64_t now;
};

static uint8_t wire[CAP];

/* out through the sender's table, in through the receiver's; returns the
 * receiver's verdict (or the sender's drop as -1) and leaves the packet
 * the receiver's stack gets in pkt. */
static int send_seg(struct host *from, struct host *to, uint8_t *pkt, size_t *len)
{
	struct ns_flow_pkt p = { pkt, *len, CAP, 1, 1500 };

	if (ns_flow_segment(&from->t, &p, from->now) != NS_FLOW_ACCEPT)
		return -1;
	memcpy(wire, pkt, p.len);
	p.outgoing = 0;
	p.cap = CAP;
	if (ns_flow_segment(&to->t, &p, to->now) != NS_FLOW_ACCEPT)
		return 0;
	*len = p.len;
	return 1;
}

static int incoming(struct host *to, uint8_t *pkt, size_t *len)
{
	struct ns_flow_pkt p = { pkt, *len, CAP, 0, 1500 };
	int v = ns_flow_segment(&to->t, &p, to->now) == NS_FLOW_ACCEPT;

	*len = p.len;
	return v;
}

static int has_option(uint8_t *pkt, size_t len, uint8_t *value)
{
	struct ns_tcpseg s;
	uint8_t v[16];

	if (ns_tcpseg_parse(&s, pkt, len) != 0)
		return -1;
	int rc = ns_tcpseg_get_value(&s, v);
	if (value != NULL && rc == 1)
		memcpy(value, v, 16);
	return rc;
}

/* A connection A (port) -> B (7447), handshake done and one byte each
 * way, so both ends have verified a segment. */
static int connect_pair(struct host *a, struct host *b, uint16_t port, uint32_t isn_a,
                        uint32_t isn_b)
{
	uint8_t pkt[CAP];
	size_t len;
	int good = 1;

	len = build(pkt, A_IP, B_IP, port, 7447, isn_a, 0, NS_TCP_SYN, NULL);
	good &= send_seg(a, b, pkt, &len) == 1;
	len = build(pkt, B_IP, A_IP, 7447, port, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	good &= send_seg(b, a, pkt, &len) == 1;
	len = build(pkt, A_IP, B_IP, port, 7447, isn_a + 1, isn_b + 1, NS_TCP_ACK, "a");
	good &= send_seg(a, b, pkt, &len) == 1;
	len = build(pkt, B_IP, A_IP, 7447, port, isn_b + 1, isn_a + 2, NS_TCP_ACK, "b");
	good &= send_seg(b, a, pkt, &len) == 1;
	return good;
}

/* The spacing of failures that count (flow.c: Linux's smallest RTO). */
#define SPACING_MS 200

/* A's next segment on the connection, sealed by A and damaged on the
 * wire (or not), into B: B's verdict.  seq_off is A's stream offset.  It
 * comes a retransmission timeout after the last, as TCP resends. */
static int damaged(struct host *a, struct host *b, uint16_t port, uint32_t isn_a, uint32_t isn_b,
                   uint32_t seq_off, int damage)
{
	uint8_t pkt[CAP];
	size_t len = build(pkt, A_IP, B_IP, port, 7447, isn_a + 1 + seq_off, isn_b + 2, NS_TCP_ACK,
	                   "xyz");
	struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
	struct ns_tcpseg s;

	b->now += SPACING_MS;
	if (ns_flow_segment(&a->t, &p, a->now) != NS_FLOW_ACCEPT)
		return -1;
	len = p.len;
	if (damage) {
		pkt[len - 1] ^= 0x20;
		ns_tcpseg_parse(&s, pkt, len);
		ns_tcpseg_fix_checksums(&s);
	}
	return incoming(b, pkt, &len);
}

static int kills(struct ns_flow_table *t, struct ns_flow_tuple *tu)
{
	struct ns_flow_tuple dummy;
	int n = 0;

	while (ns_flow_next_kill(t, n == 0 && tu != NULL ? tu : &dummy))
		n++;
	return n;
}

static void test_failing(const uint8_t *key)
{
	struct host a = { .now = 5000 }, b = { .now = 5000 };
	struct ns_flow_tuple tu;
	uint8_t pkt[CAP];
	size_t len;
	int n, bad = 0, dropped;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 40, key) == 0, "tables for failing");
	ok(connect_pair(&a, &b, 42000, 1000, 2000), "a connection, verified both ways");
	for (int i = 0; i < NS_FLOW_FAIL_MAX - 1; i++)
		bad += damaged(&a, &b, 42000, 1000, 2000, 1 + 3 * (uint32_t)i, 1) == 0;
	ok(bad == NS_FLOW_FAIL_MAX - 1 && kills(&b.t, NULL) == 0 &&
	   b.t.count[NS_FC_RESET_FAILING] == 0, "%d failures in a row: nothing to end", bad);
	ok(damaged(&a, &b, 42000, 1000, 2000, 1 + 3 * (NS_FLOW_FAIL_MAX - 1), 1) == 0 &&
	   kills(&b.t, &tu) == 1 && b.t.count[NS_FC_RESET_FAILING] == 1,
	   "the %dth: B gives the connection up, once", NS_FLOW_FAIL_MAX);
	ok(tu.v6 == 0 && tu.lport == 7447 && tu.rport == 42000 &&
	   memcmp(tu.local, "\x0a\x00\x00\x02", 4) == 0 &&
	   memcmp(tu.remote, "\x0a\x00\x00\x01", 4) == 0, "the tuple is B's socket's");
	ok(damaged(&a, &b, 42000, 1000, 2000, 1 + 3 * NS_FLOW_FAIL_MAX, 1) == 0 &&
	   kills(&b.t, NULL) == 0, "more failures do not ask again");
	/* the local stack's reset, after SOCK_DESTROY */
	len = build(pkt, B_IP, A_IP, 7447, 42000, 2002, 1002, NS_TCP_RST | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT &&
		   has_option(pkt, p.len, NULL) == 1, "B's stack's reset leaves sealed");
		len = p.len;
	}
	ok(incoming(&a, pkt, &len) == 1, "and verifies at A: the peer ends too");

	/* a verified segment in between starts the count again */
	ok(connect_pair(&a, &b, 42001, 5000, 6000), "a second connection");
	bad = 0;
	for (int i = 0; i < NS_FLOW_FAIL_MAX - 1; i++)
		bad += damaged(&a, &b, 42001, 5000, 6000, 1 + 3 * (uint32_t)i, 1) == 0;
	ok(damaged(&a, &b, 42001, 5000, 6000, 1 + 3 * (NS_FLOW_FAIL_MAX - 1), 0) == 1,
	   "a verified segment after %d failures", bad);
	for (int i = 0; i < NS_FLOW_FAIL_MAX - 1; i++)
		bad += damaged(&a, &b, 42001, 5000, 6000, 1 + 3 * (uint32_t)(NS_FLOW_FAIL_MAX + i), 1) == 0;
	ok(bad == 2 * (NS_FLOW_FAIL_MAX - 1) && kills(&b.t, NULL) == 0,
	   "%d more failures: still nothing to end", NS_FLOW_FAIL_MAX - 1);
	b.now += SPACING_MS;
	len = build(pkt, A_IP, B_IP, 42001, 7447, 5000 + 1 + 3 * (2 * NS_FLOW_FAIL_MAX), 6002,
	            NS_TCP_ACK, "nomac");
	ok(incoming(&b, pkt, &len) == 0 && kills(&b.t, NULL) == 1,
	   "a segment without the MAC option is a failure too: the %dth", NS_FLOW_FAIL_MAX);

	/* a stranger's guesses: seq or ack far from the streams */
	ok(connect_pair(&a, &b, 42002, 9000, 10000), "a third connection");
	dropped = 0;
	for (int i = 0; i < 4 * NS_FLOW_FAIL_MAX; i++) {
		uint32_t seq = 9001 + (i & 1 ? 1 : 0x40000000u), ack = i & 1 ? 0x80000000u : 10002;
		len = build(pkt, A_IP, B_IP, 42002, 7447, seq, ack, NS_TCP_ACK, "guess");
		dropped += incoming(&b, pkt, &len) == 0;
	}
	ok(dropped == 4 * NS_FLOW_FAIL_MAX && kills(&b.t, NULL) == 0,
	   "%d failures with seq or ack far off: none counts", dropped);
	len = build(pkt, A_IP, B_IP, 42002, 7447, 9002, 10002, NS_TCP_RST, NULL);
	for (n = 0; n < 2 * NS_FLOW_FAIL_MAX; n++)
		(void)incoming(&b, pkt, &len);
	ok(kills(&b.t, NULL) == 0, "nor do forged resets without ACK");
	ns_flow_free(&a.t);

	/* more connections failing at once than the queue holds */
	{
		struct host c = { .now = 5000 };
		int all = 1, first;

		ok(ns_flow_init(&c.t, 40, key) == 0, "a table for %d connections", NS_FLOW_KILL_MAX + 1);
		for (uint16_t i = 0; i <= NS_FLOW_KILL_MAX; i++)
			all &= connect_pair(&c, &b, (uint16_t)(43000 + i), 100u * i, 7u * i);
		for (uint16_t i = 0; i <= NS_FLOW_KILL_MAX; i++)
			for (int j = 0; j < NS_FLOW_FAIL_MAX; j++)
				all &= damaged(&c, &b, (uint16_t)(43000 + i), 100u * i, 7u * i,
				               1 + 3 * (uint32_t)j, 1) == 0;
		first = kills(&b.t, NULL);
		all &= damaged(&c, &b, 43000 + NS_FLOW_KILL_MAX, 100u * NS_FLOW_KILL_MAX,
		               7u * NS_FLOW_KILL_MAX, 1 + 3 * NS_FLOW_FAIL_MAX, 1) == 0;
		ok(all && first == NS_FLOW_KILL_MAX && kills(&b.t, &tu) == 1 &&
		   tu.rport == 43000 + NS_FLOW_KILL_MAX,
		   "queue full: %d handed out, the last at its next failure", first);
		ns_flow_free(&c.t);
	}
	ns_flow_free(&b.t);
}

/* Damage the MAC does not cover must not be made good by the checksums the
 * daemon recomputes; a GSO super-packet is never sealed; two SYNs crossing
 * on one 4-tuple do not open a connection. */
static void test_checksum_gso_simultaneous(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	static char big[1501]; /* 1552 bytes with the headers; CAP is 2048 */
	uint8_t pkt[CAP];
	size_t len;
	uint64_t bad_packet, bad_mac;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0, "tables");
	ok(connect_pair(&a, &b, 41000, 1000, 2000), "a connection");

	len = build(pkt, A_IP, B_IP, 41000, 7447, 1002, 2002, NS_TCP_ACK, "xyz");
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A seals a segment");
		len = p.len;
	}
	pkt[20 + 20 + 4] ^= 0x01; /* the timestamp: not covered by the MAC */
	bad_packet = b.t.count[NS_FC_BAD_PACKET];
	bad_mac = b.t.count[NS_FC_BAD_MAC];
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_BAD_PACKET] == bad_packet + 1 &&
	   b.t.count[NS_FC_BAD_MAC] == bad_mac, "a damaged timestamp fails the checksum: dropped "
	   "as bad_packet, not passed with a new checksum");
	pkt[20 + 20 + 4] ^= 0x01;
	ok(incoming(&b, pkt, &len) == 1, "undamaged, the same segment passes");

	memset(big, 'g', sizeof(big) - 1);
	len = build(pkt, A_IP, B_IP, 41000, 7447, 1005, 2002, NS_TCP_ACK, big);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		uint64_t unsupported = a.t.count[NS_FC_UNSUPPORTED];
		ok(len > 1500 && ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_DROP &&
		   a.t.count[NS_FC_UNSUPPORTED] == unsupported + 1,
		   "an outgoing segment longer than the MTU (GSO) is dropped as unsupported");
	}

	/* simultaneous open: A's SYN out, then B's SYN on the same 4-tuple */
	len = build(pkt, A_IP, B_IP, 7447, 7447, 5000, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A's SYN from 7447 to 7447");
	}
	len = build(pkt, B_IP, A_IP, 7447, 7447, 6000, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT, "B's crossing SYN leaves B");
		len = p.len;
	}
	{
		uint64_t not_ready = a.t.count[NS_FC_NOT_READY];
		ok(incoming(&a, pkt, &len) == 0 && a.t.count[NS_FC_NOT_READY] == not_ready + 1,
		   "simultaneous open: the crossing SYN is dropped at A (fails closed)");
	}
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

/* A full table makes way for a new connection with one that has ended
 * (both FINs), before any that is still open. */
static void test_evict_ended(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	uint8_t pkt[CAP];
	size_t len;
	int good = 1;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0, "tables of 4");
	for (uint16_t i = 0; i < 4; i++)
		good &= connect_pair(&a, &b, (uint16_t)(42000 + i), 100u * i, 5000u + 100u * i);
	ok(good, "4 connections fill both tables");
	len = build(pkt, A_IP, B_IP, 42100, 7447, 9000, 0, NS_TCP_SYN, NULL);
	ok(send_seg(&a, &b, pkt, &len) == -1 && a.t.count[NS_FC_TABLE_FULL] == 1,
	   "a fifth is refused while all four are open");
	/* the second one ends: FIN each way */
	len = build(pkt, A_IP, B_IP, 42001, 7447, 102, 5102, NS_TCP_ACK | NS_TCP_FIN, NULL);
	good = send_seg(&a, &b, pkt, &len) == 1;
	len = build(pkt, B_IP, A_IP, 7447, 42001, 5102, 103, NS_TCP_ACK | NS_TCP_FIN, NULL);
	good &= send_seg(&b, &a, pkt, &len) == 1;
	ok(good, "the second connection ends (FIN both ways)");
	len = build(pkt, A_IP, B_IP, 42100, 7447, 9000, 0, NS_TCP_SYN, NULL);
	ok(send_seg(&a, &b, pkt, &len) == 1 && a.t.count[NS_FC_EVICTED] == 1 &&
	   b.t.count[NS_FC_EVICTED] == 1, "now the fifth gets the ended one's entry, at both ends");
	len = build(pkt, A_IP, B_IP, 42000, 7447, 2, 5002, NS_TCP_ACK, "still here");
	ok(send_seg(&a, &b, pkt, &len) == 1, "and the open ones still carry data");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

static int payload_is(uint8_t *pkt, size_t len, const char *want)
{
	struct ns_tcpseg s;

	if (ns_tcpseg_parse(&s, pkt, len) != 0 || !ns_tcpseg_checksums_ok(&s))
		return 0;
	return s.paylen == strlen(want) && memcmp(ns_tcpseg_payload(&s), want, s.paylen) == 0;
}

/* Whether t has a connection not yet ended from remote port rport. */
static int has_open(const struct ns_flow_table *t, uint16_t rport)
{
	struct ns_flow_tuple tu;
	uint32_t cursor = 0;

	while (ns_flow_next_open(t, &cursor, &tu))
		if (tu.rport == rport)
			return 1;
	return 0;
}

/* A stranger's SYN to B from C_IP:port, with a nonce (from C's table). */
static int stranger_syn(struct ns_flow_table *c, struct host *b, uint16_t port)
{
	uint8_t pkt[CAP];
	size_t len = build(pkt, C_IP, B_IP, port, 7447, 777u * port, 0, NS_TCP_SYN, NULL);
	struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };

	if (ns_flow_segment(c, &p, b->now) != NS_FLOW_ACCEPT)
		return -1;
	len = p.len;
	return incoming(b, pkt, &len);
}

/* A SYN repeated after B's SYN-ACK made the keys passes, but does not keep
 * the entry: only the SYN-ACK that answers it would. */
static void test_repeated_syn_expiry(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	uint8_t pkt[CAP], syn[CAP];
	size_t len, syn_len;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0, "tables");
	len = build(pkt, A_IP, B_IP, 43000, 7447, 10, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A's SYN");
		len = syn_len = p.len;
		memcpy(syn, pkt, len);
	}
	ok(incoming(&b, pkt, &len) == 1, "B takes it");
	len = build(pkt, B_IP, A_IP, 7447, 43000, 20, 11, NS_TCP_SYN | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT, "B's SYN-ACK (keys), then lost");
	}
	b.now += NS_FLOW_HANDSHAKE_MS - 5000;
	memcpy(pkt, syn, syn_len);
	len = syn_len;
	ok(incoming(&b, pkt, &len) == 1, "A's SYN again, 70 s later, passes");
	b.now += 5001;
	ns_flow_expire(&b.t, b.now, 16);
	ok(b.t.used == 0, "the entry still expires 75 s after the SYN-ACK");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

/* A full table makes way with the oldest handshake; a flood of SYNs (they
 * are not authenticated) never takes an established connection's entry. */
static void test_evict_handshakes(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	struct ns_flow_table c;
	uint8_t pkt[CAP];
	size_t len;
	int good = 1, lists = 1;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0 &&
	   ns_flow_init(&c, 1u << 16, key) == 0, "tables of 4 (and a stranger's)");
	good &= connect_pair(&a, &b, 42000, 100, 5000);
	good &= connect_pair(&a, &b, 42001, 200, 6000);
	ok(good, "2 connections established");
	b.now += 10;
	ok(stranger_syn(&c, &b, 50001) == 1, "a stranger's SYN");
	b.now += 10;
	/* its retransmission later does not make it younger */
	ok(stranger_syn(&c, &b, 50002) == 1, "a second");
	b.now += 10;
	ok(stranger_syn(&c, &b, 50001) == 1, "the first again");
	ok(b.t.used == 4 && stranger_syn(&c, &b, 50003) == 1, "a third, into a full table");
	ok(!has_open(&b.t, 50001) && has_open(&b.t, 50002) && has_open(&b.t, 50003) &&
	   has_open(&b.t, 42000) && has_open(&b.t, 42001),
	   "the oldest handshake made way, the established stayed");
	/* the second connection ends: its entry goes before any handshake */
	len = build(pkt, A_IP, B_IP, 42001, 7447, 202, 6002, NS_TCP_ACK | NS_TCP_FIN, NULL);
	good = send_seg(&a, &b, pkt, &len) == 1;
	len = build(pkt, B_IP, A_IP, 7447, 42001, 6002, 203, NS_TCP_ACK | NS_TCP_FIN, NULL);
	good &= send_seg(&b, &a, pkt, &len) == 1;
	ok(good && stranger_syn(&c, &b, 50004) == 1 && has_open(&b.t, 50002) &&
	   has_open(&b.t, 50003) && has_open(&b.t, 50004),
	   "an ended connection makes way before the handshakes");
	lists &= ns_flow_check_lists(&b.t) == 0;
	for (uint16_t port = 51000; port < 53000; port++) {
		good &= stranger_syn(&c, &b, port) == 1;
		if (port % 97 == 0)
			lists &= ns_flow_check_lists(&b.t) == 0;
	}
	ok(good && b.t.used == 4 && b.t.count[NS_FC_TABLE_FULL] == 0 &&
	   b.t.count[NS_FC_EVICTED] == 2 + 2000,
	   "2000 more SYNs each take the oldest handshake's entry (evicted counts them)");
	len = build(pkt, A_IP, B_IP, 42000, 7447, 102, 5002, NS_TCP_ACK, "still here");
	ok(send_seg(&a, &b, pkt, &len) == 1 && payload_is(pkt, len, "still here"),
	   "the established connection still carries data");
	ok(lists && ns_flow_check_lists(&b.t) == 0 && ns_flow_check_lists(&a.t) == 0,
	   "the eviction lists stayed consistent");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
	ns_flow_free(&c);
}

/* Passes pkt (len) through a table as outgoing: the packet leaves sealed
 * into out (its length returned), 0 if dropped. */
static size_t leave(struct host *h, uint8_t *pkt, size_t len, uint8_t *out)
{
	struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };

	if (ns_flow_segment(&h->t, &p, h->now) != NS_FLOW_ACCEPT)
		return 0;
	memcpy(out, pkt, p.len);
	return p.len;
}

/* ------------------------------------------------ the rollout policy */

#define WALL 1700000000
#define PLAIN_IP A_IP

/* One packet through h's table: -1 dropped, 1 accepted as it came, 2
 * accepted rewritten. */
static int feed(struct host *h, int outgoing, const uint8_t *in, size_t len)
{
	uint8_t pkt[CAP];
	struct ns_flow_pkt p = { pkt, len, CAP, outgoing != 0, 1500 };

	memcpy(pkt, in, len);
	if (ns_flow_segment(&h->t, &p, h->now) != NS_FLOW_ACCEPT)
		return -1;
	return p.len == len && memcmp(pkt, in, len) == 0 ? 1 : 2;
}

/* A plain stack at PLAIN_IP:port connects to B's 7447, B under its
 * table: SYN, SYN-ACK, ACK, data both ways.  1 if every segment passed
 * as it came. */
static int plain_connects(struct host *b, uint16_t port, uint32_t isn_c, uint32_t isn_b)
{
	uint8_t pkt[CAP];
	size_t len;
	int good = 1;

	len = build(pkt, PLAIN_IP, B_IP, port, 7447, isn_c, 0, NS_TCP_SYN, NULL);
	good &= feed(b, 0, pkt, len) == 1;
	len = build(pkt, B_IP, PLAIN_IP, 7447, port, isn_b, isn_c + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	good &= feed(b, 1, pkt, len) == 1;
	len = build(pkt, PLAIN_IP, B_IP, port, 7447, isn_c + 1, isn_b + 1, NS_TCP_ACK, NULL);
	good &= feed(b, 0, pkt, len) == 1;
	len = build(pkt, PLAIN_IP, B_IP, port, 7447, isn_c + 1, isn_b + 1, NS_TCP_ACK, "hello");
	good &= feed(b, 0, pkt, len) == 1;
	len = build(pkt, B_IP, PLAIN_IP, 7447, port, isn_b + 1, isn_c + 6, NS_TCP_ACK, "there");
	good &= feed(b, 1, pkt, len) == 1;
	return good;
}

/* The entry for remote port rport, as status lists it. */
static int info_of(const struct ns_flow_table *t, uint16_t rport, struct ns_flow_info *out)
{
	uint32_t cursor = 0;

	while (ns_flow_next_info(t, &cursor, out))
		if (out->tu.rport == rport)
			return 1;
	return 0;
}

static void test_opportunistic_inbound(const uint8_t *key)
{
	struct host b = { .now = 1000 }, r = { .now = 1000 };
	struct ns_flow_info fi;
	uint8_t pkt[CAP];
	size_t len;

	ok(ns_flow_init(&b.t, 8, key) == 0 && ns_flow_init(&r.t, 8, key) == 0, "tables for clear");
	b.t.wall_s = WALL;
	ok(ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC) == 0 &&
	   b.t.policy == NS_POLICY_OPPORTUNISTIC, "B goes opportunistic");
	ok(plain_connects(&b, 50000, 1000, 2000),
	   "opportunistic: a plain peer's connection passes unchanged both ways");
	ok(b.t.count[NS_FC_CLEAR] == 5 && b.t.count[NS_FC_OUT] == 0 && b.t.count[NS_FC_IN] == 0 &&
	   b.t.count[NS_FC_NO_OPTION] == 0, "5 segments counted clear, none sealed or opened");
	ok(info_of(&b.t, 50000, &fi) && fi.clear && !fi.out && !fi.ending && fi.since == WALL &&
	   strcmp(fi.state, "open") == 0 && fi.tu.lport == 7447 &&
	   memcmp(fi.tu.remote, "\x0a\x00\x00\x01", 4) == 0,
	   "status lists it: in, clear, open, since the SYN");
	ok(!has_open(&b.t, 50000), "the open walk (ending before the rules go) leaves it out");
	/* a segment carrying something like our option is just clear data */
	len = build(pkt, PLAIN_IP, B_IP, 50000, 7447, 1006, 2006, NS_TCP_ACK | NS_TCP_PSH, "more");
	ok(feed(&b, 0, pkt, len) == 1, "later data passes unchanged too");
	/* our SYN-ACK never gets the option for it, its retransmission neither */
	len = build(pkt, B_IP, PLAIN_IP, 7447, 50000, 2000, 1001, NS_TCP_SYN | NS_TCP_ACK, NULL);
	ok(feed(&b, 1, pkt, len) == 1, "B's SYN-ACK again: unchanged, no option");
	/* FIN both ways: closing */
	len = build(pkt, PLAIN_IP, B_IP, 50000, 7447, 1010, 2006, NS_TCP_ACK | NS_TCP_FIN, NULL);
	ok(feed(&b, 0, pkt, len) == 1, "the peer's FIN");
	len = build(pkt, B_IP, PLAIN_IP, 7447, 50000, 2006, 1011, NS_TCP_ACK | NS_TCP_FIN, NULL);
	ok(feed(&b, 1, pkt, len) == 1 && info_of(&b.t, 50000, &fi) &&
	   strcmp(fi.state, "closing") == 0 && ns_flow_check_lists(&b.t) == 0,
	   "B's FIN: the entry is closing, on the ended list");
	/* required (the default): as before */
	len = build(pkt, PLAIN_IP, B_IP, 50001, 7447, 3000, 0, NS_TCP_SYN, NULL);
	ok(r.t.policy == NS_POLICY_REQUIRED && feed(&r, 0, pkt, len) == -1 &&
	   r.t.count[NS_FC_NO_OPTION] == 1 && r.t.count[NS_FC_CLEAR] == 0 && r.t.used == 0,
	   "required: the same SYN is dropped (no_option), no entry");
	len = build(pkt, PLAIN_IP, B_IP, 50001, 7447, 3001, 4001, NS_TCP_ACK, "hello");
	ok(feed(&r, 0, pkt, len) == -1 && r.t.count[NS_FC_NO_FLOW] == 1, "and its data too");
	ns_flow_free(&b.t);
	ns_flow_free(&r.t);
}

static void test_opportunistic_outbound(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 }, r = { .now = 1000 };
	struct ns_flow_info fi;
	uint8_t pkt[CAP];
	size_t len;
	struct ns_flow_pkt p;

	ok(ns_flow_init(&a.t, 8, key) == 0 && ns_flow_init(&b.t, 8, key) == 0 &&
	   ns_flow_init(&r.t, 8, key) == 0, "tables for outbound clear");
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	ns_flow_set_policy(&a.t, NS_POLICY_OPPORTUNISTIC);
	b.t.wall_s = WALL + 5;
	/* B connects to a plain stack at PLAIN_IP:7447 */
	len = build(pkt, B_IP, PLAIN_IP, 45000, 7447, 500, 0, NS_TCP_SYN, NULL);
	p = (struct ns_flow_pkt){ pkt, len, CAP, 1, 1500 };
	ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT && has_option(pkt, p.len, NULL) == 1,
	   "opportunistic: our SYN still carries the option");
	len = build(pkt, PLAIN_IP, B_IP, 7447, 45000, 9000, 501, NS_TCP_SYN | NS_TCP_ACK, NULL);
	ok(feed(&b, 0, pkt, len) == 1 && b.t.count[NS_FC_CLEAR] == 1,
	   "the plain peer's SYN-ACK without it passes unchanged: the connection is clear");
	ok(feed(&b, 0, pkt, len) == 1, "its retransmission too");
	len = build(pkt, B_IP, PLAIN_IP, 45000, 7447, 501, 9001, NS_TCP_ACK, "version");
	ok(feed(&b, 1, pkt, len) == 1, "B's data leaves unchanged");
	len = build(pkt, PLAIN_IP, B_IP, 7447, 45000, 9001, 508, NS_TCP_ACK, "verack");
	ok(feed(&b, 0, pkt, len) == 1, "the peer's arrives unchanged");
	ok(info_of(&b.t, 7447, &fi) && fi.clear && fi.out && fi.since == WALL + 5 &&
	   strcmp(fi.state, "open") == 0, "status: out, clear, open");
	/* a SYN-ACK with the option now: the entry stays clear */
	{
		uint8_t syn[CAP];
		size_t sl;
		/* A's SYN-ACK with a nonce, but for B's clear connection */
		len = build(pkt, B_IP, A_IP, 45000, 7447, 500, 0, NS_TCP_SYN, NULL);
		p = (struct ns_flow_pkt){ pkt, len, CAP, 1, 1500 };
		(void)ns_flow_segment(&r.t, &p, r.now);
		sl = p.len;
		memcpy(syn, pkt, sl);
		ok(incoming(&a, syn, &sl) == 1, "(A takes a SYN)");
		len = build(pkt, A_IP, B_IP, 7447, 45000, 9000, 501, NS_TCP_SYN | NS_TCP_ACK, NULL);
		p = (struct ns_flow_pkt){ pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT &&
		   has_option(pkt, p.len, NULL) == 1, "(A's SYN-ACK with its nonce)");
		ok(feed(&b, 0, pkt, p.len) == -1, "a SYN-ACK with the option for a clear connection: dropped");
	}
	/* required: B's outbound connection to a plain peer fails, as before */
	len = build(pkt, B_IP, PLAIN_IP, 45002, 7447, 700, 0, NS_TCP_SYN, NULL);
	ok(feed(&r, 1, pkt, len) == 2, "required: our SYN");
	len = build(pkt, PLAIN_IP, B_IP, 7447, 45002, 9100, 701, NS_TCP_SYN | NS_TCP_ACK, NULL);
	ok(feed(&r, 0, pkt, len) == -1 && r.t.count[NS_FC_NO_OPTION] == 1 &&
	   r.t.count[NS_FC_CLEAR] == 0, "the plain SYN-ACK is dropped (no_option)");
	/* opportunistic between two nodeseal tables: sealed as ever */
	ok(connect_pair(&a, &b, 42000, 100, 5000) && a.t.count[NS_FC_OUT] >= 2 &&
	   b.t.count[NS_FC_IN] >= 2 && info_of(&b.t, 42000, &fi) && !fi.clear &&
	   strcmp(fi.state, "open") == 0, "opportunistic with the option: sealed, as today");
	len = build(pkt, A_IP, B_IP, 42000, 7447, 102, 5002, NS_TCP_ACK, "plain");
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_BAD_MAC] == 1,
	   "a sealed connection's segment without a MAC: dropped as today, never clear");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
	ns_flow_free(&r.t);
}

static int peer_listed(const struct ns_peers *pe, const char *addr, bool sealed)
{
	struct ns_peer_info pi;
	size_t cursor = 0;

	while (ns_peers_next(pe, &cursor, &pi))
		if (strcmp(pi.addr, addr) == 0 && pi.sealed == sealed)
			return 1;
	return 0;
}

static void test_sealed_memory(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	struct ns_peers pe;
	struct ns_peer_addr pa;
	struct ns_flow_tuple tu;
	uint8_t pkt[CAP];
	size_t len;
	struct ns_flow_pkt p;

	ok(ns_flow_init(&a.t, 8, key) == 0 && ns_flow_init(&b.t, 8, key) == 0 &&
	   ns_peers_init(&pe, 0) == 0, "tables and a peer memory");
	b.t.peers = &pe;
	b.t.wall_s = WALL;
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	ok(plain_connects(&b, 41000, 1000, 2000) && plain_connects(&b, 41001, 3000, 4000),
	   "two clear connections from 10.0.0.1");
	ok(peer_listed(&pe, "10.0.0.1", false), "the peer memory lists it clear");
	ok(kills(&b.t, NULL) == 0, "nothing to end yet");
	/* 10.0.0.1 now runs nodeseal: a sealed connection verifies */
	ok(connect_pair(&a, &b, 42000, 100, 5000), "then a sealed connection from it");
	ns_peer_addr_parse("10.0.0.1", &pa);
	ok(ns_peers_sealed(&pe, &pa) && peer_listed(&pe, "10.0.0.1", true),
	   "the peer is in sealed memory");
	ok(kills(&b.t, &tu) == 2 && b.t.count[NS_FC_CLEAR_ENDED] == 2 &&
	   (tu.rport == 41000 || tu.rport == 41001) && tu.lport == 7447,
	   "its two clear connections are handed out to end");
	ok(kills(&b.t, NULL) == 0, "once");
	len = build(pkt, PLAIN_IP, B_IP, 41000, 7447, 1006, 2006, NS_TCP_ACK, "more");
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_DOWNGRADE] == 1,
	   "a clear connection's segment is dropped from then on (downgrade)");
	len = build(pkt, B_IP, PLAIN_IP, 7447, 41000, 2006, 1006, NS_TCP_ACK, "more");
	ok(feed(&b, 1, pkt, len) == -1 && b.t.count[NS_FC_DOWNGRADE] == 2, "both ways");
	len = build(pkt, B_IP, PLAIN_IP, 7447, 41000, 2006, 1006, NS_TCP_ACK | NS_TCP_RST, NULL);
	ok(feed(&b, 1, pkt, len) == 1, "the stack's reset (socket destroyed) passes, to end the peer");
	ok(has_open(&b.t, 42000) && connect_pair(&a, &b, 42001, 300, 7000),
	   "the sealed connections are untouched, new ones seal");
	len = build(pkt, PLAIN_IP, B_IP, 41002, 7447, 8000, 0, NS_TCP_SYN, NULL);
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_DOWNGRADE] == 3,
	   "its SYN without the option: dropped (downgrade), though opportunistic");
	ns_flow_set_policy(&b.t, NS_POLICY_REQUIRED);
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_DOWNGRADE] == 4 &&
	   b.t.count[NS_FC_NO_OPTION] == 0, "under required too");
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	len = build(pkt, B_IP, PLAIN_IP, 45000, 7447, 500, 0, NS_TCP_SYN, NULL);
	p = (struct ns_flow_pkt){ pkt, len, CAP, 1, 1500 };
	ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT, "B connects to it");
	len = build(pkt, PLAIN_IP, B_IP, 7447, 45000, 9000, 501, NS_TCP_SYN | NS_TCP_ACK, NULL);
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_DOWNGRADE] == 5,
	   "a SYN-ACK without the option from it: dropped (downgrade)");
	/* another address is still welcome in clear */
	len = build(pkt, C_IP, B_IP, 41003, 7447, 8000, 0, NS_TCP_SYN, NULL);
	ok(feed(&b, 0, pkt, len) == 1, "another peer's plain SYN still passes in clear");
	ok(ns_flow_check_lists(&b.t) == 0, "the eviction lists are consistent");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
	ns_peers_free(&pe);
}

/* Switching to required ends every clear connection, more than the kill
 * queue holds; sealed ones stay. */
static void test_policy_required(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	struct ns_flow_tuple tu;
	uint8_t pkt[CAP], seen[40] = { 0 };
	size_t len;
	int good = 1, n = 0, dup = 0, n_clear = NS_FLOW_KILL_MAX + 9;

	ok(ns_flow_init(&a.t, 8, key) == 0 && ns_flow_init(&b.t, 64, key) == 0, "tables for required");
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	for (int i = 0; i < n_clear; i++)
		good &= plain_connects(&b, (uint16_t)(50000 + i), 1000u * (uint32_t)i, 7u * (uint32_t)i);
	ok(good && connect_pair(&a, &b, 42000, 100, 5000), "%d clear connections and a sealed one",
	   n_clear);
	len = build(pkt, C_IP, B_IP, 51000, 7447, 1, 0, NS_TCP_SYN, NULL);
	ok(feed(&b, 0, pkt, len) == 1, "and a clear handshake");
	ok(ns_flow_set_policy(&b.t, NS_POLICY_REQUIRED) == n_clear + 1 && b.t.nkill == NS_FLOW_KILL_MAX,
	   "required: %d queued to end, the kill queue full", n_clear + 1);
	ok(ns_flow_set_policy(&b.t, NS_POLICY_REQUIRED) == 0, "again: none more");
	ok(ns_flow_check_lists(&b.t) == 0, "lists consistent");
	len = build(pkt, PLAIN_IP, B_IP, 50003, 7447, 3001, 22, NS_TCP_ACK, "late");
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_NO_OPTION] == 1,
	   "a clear connection's segment is dropped now (no_option)");
	len = build(pkt, B_IP, PLAIN_IP, 7447, 50003, 22, 3001, NS_TCP_ACK, "late");
	ok(feed(&b, 1, pkt, len) == -1, "both ways");
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	ok(feed(&b, 1, pkt, len) == -1 && b.t.count[NS_FC_NO_OPTION] == 3,
	   "and still after going back to opportunistic");
	ns_flow_set_policy(&b.t, NS_POLICY_REQUIRED);
	while (ns_flow_next_kill(&b.t, &tu)) {
		n++;
		if (tu.rport >= 50000 && tu.rport < 50000 + 40)
			dup |= seen[tu.rport - 50000]++;
		else if (tu.rport != 51000)
			dup = 1;
	}
	ok(n == n_clear + 1 && !dup && b.t.count[NS_FC_CLEAR_ENDED] == (uint64_t)n_clear + 1 &&
	   b.t.nend_waiting == 0, "all %d handed out, each once, none lost to the queue's size", n);
	len = build(pkt, A_IP, B_IP, 42000, 7447, 102, 5002, NS_TCP_ACK, "sealed");
	ok(send_seg(&a, &b, pkt, &len) == 1 && payload_is(pkt, len, "sealed"),
	   "the sealed connection carries on");
	len = build(pkt, PLAIN_IP, B_IP, 50100, 7447, 1, 0, NS_TCP_SYN, NULL);
	ok(feed(&b, 0, pkt, len) == -1 && b.t.count[NS_FC_NO_OPTION] == 4,
	   "a new plain SYN is dropped again");
	/* an ended entry that goes before it is handed out is not */
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	ok(plain_connects(&b, 52000, 11, 22), "opportunistic: a new clear connection");
	ok(ns_flow_set_policy(&b.t, NS_POLICY_REQUIRED) == 1, "required: queued");
	b.now += NS_FLOW_IDLE_MS + 1;
	ns_flow_expire(&b.t, b.now, 64);
	ok(kills(&b.t, NULL) == 0, "expired before it was taken: nothing to end");
	ok(ns_flow_check_lists(&b.t) == 0, "lists consistent");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

/* Clear entries under eviction: a handshake until the three-way
 * handshake completes, then established. */
static void test_evict_clear(const uint8_t *key)
{
	struct host b = { .now = 1000 };
	struct ns_flow_info fi;
	uint8_t pkt[CAP];
	size_t len;
	int good = 1, lists = 1;

	ok(ns_flow_init(&b.t, 4, key) == 0, "a table of 4");
	ns_flow_set_policy(&b.t, NS_POLICY_OPPORTUNISTIC);
	ok(plain_connects(&b, 50000, 10, 20) && plain_connects(&b, 50001, 30, 40),
	   "2 clear connections established");
	/* a SYN answered, no ACK: still a handshake */
	len = build(pkt, C_IP, B_IP, 50002, 7447, 50, 0, NS_TCP_SYN, NULL);
	good &= feed(&b, 0, pkt, len) == 1;
	len = build(pkt, B_IP, C_IP, 7447, 50002, 60, 51, NS_TCP_SYN | NS_TCP_ACK, NULL);
	good &= feed(&b, 1, pkt, len) == 1;
	/* an ACK that does not acknowledge the SYN-ACK does not complete it */
	len = build(pkt, C_IP, B_IP, 50002, 7447, 51, 9999, NS_TCP_ACK, NULL);
	good &= feed(&b, 0, pkt, len) == 1;
	ok(good && info_of(&b.t, 50002, &fi) && strcmp(fi.state, "handshake") == 0,
	   "a clear handshake (SYN-ACK sent, no right ACK)");
	for (uint16_t port = 60000; port < 60500; port++) {
		len = build(pkt, C_IP, B_IP, port, 7447, port, 0, NS_TCP_SYN, NULL);
		good &= feed(&b, 0, pkt, len) == 1;
		if (port % 37 == 0)
			lists &= ns_flow_check_lists(&b.t) == 0;
	}
	ok(good && b.t.used == 4 && b.t.count[NS_FC_TABLE_FULL] == 0 &&
	   b.t.count[NS_FC_EVICTED] == 499, "500 spoofed plain SYNs: the last 499 each evict a handshake");
	ok(info_of(&b.t, 50000, &fi) && info_of(&b.t, 50001, &fi) && !info_of(&b.t, 50002, &fi),
	   "the established clear connections stayed, the clear handshake went");
	len = build(pkt, PLAIN_IP, B_IP, 50000, 7447, 16, 26, NS_TCP_ACK, "still");
	ok(feed(&b, 0, pkt, len) == 1, "and still pass");
	/* a stranger's FIN far from the stream does not count */
	len = build(pkt, PLAIN_IP, B_IP, 50000, 7447, 5000, 26, NS_TCP_ACK | NS_TCP_FIN, NULL);
	ok(feed(&b, 0, pkt, len) == 1, "a blind FIN passes (the stack judges)");
	len = build(pkt, B_IP, PLAIN_IP, 7447, 50000, 26, 21, NS_TCP_ACK | NS_TCP_FIN, NULL);
	ok(feed(&b, 1, pkt, len) == 1 && info_of(&b.t, 50000, &fi) &&
	   strcmp(fi.state, "open") == 0, "with B's FIN it does not end the entry");
	len = build(pkt, PLAIN_IP, B_IP, 50000, 7447, 21, 27, NS_TCP_ACK | NS_TCP_FIN, NULL);
	ok(feed(&b, 0, pkt, len) == 1 && info_of(&b.t, 50000, &fi) &&
	   strcmp(fi.state, "closing") == 0, "the peer's FIN in order does");
	/* a stranger's reset at the wrong seq does not end one */
	len = build(pkt, PLAIN_IP, B_IP, 50001, 7447, 12345, 0, NS_TCP_RST, NULL);
	ok(feed(&b, 0, pkt, len) == 1 && info_of(&b.t, 50001, &fi) &&
	   strcmp(fi.state, "open") == 0, "a blind reset passes (the stack judges) but ends nothing");
	len = build(pkt, PLAIN_IP, B_IP, 50001, 7447, 36, 0, NS_TCP_RST, NULL);
	ok(feed(&b, 0, pkt, len) == 1 && info_of(&b.t, 50001, &fi) &&
	   strcmp(fi.state, "closing") == 0, "one at the next seq does");
	ok(lists && ns_flow_check_lists(&b.t) == 0, "the eviction lists stayed consistent");
	ns_flow_free(&b.t);
}

/*
 * A recorded connection replayed after its entry ended.  Under SYN cookies
 * B's stack answers the same SYN with the same ISN, so a nonce that is a
 * function of the 4-tuple and the ISN would give the same keys: the
 * replayed data would verify, and B's new reply would be sealed with the
 * recorded keystream.  Fresh nonces make the replay fail.
 */
static void test_replay_after_end(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	static uint8_t syn[CAP], synack[CAP], data[CAP], reply[CAP], pkt[CAP], again[CAP];
	size_t syn_len, synack_len, data_len, reply_len, len, again_len;
	uint8_t n1[16], n2[16];
	const uint32_t isn_a = 7000, isn_b = 0x5eed0001u;
	uint64_t bad_mac;

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0, "tables for replay");
	len = build(pkt, A_IP, B_IP, 40100, 7447, isn_a, 0, NS_TCP_SYN, NULL);
	syn_len = leave(&a, pkt, len, syn);
	len = syn_len;
	memcpy(pkt, syn, len);
	ok(syn_len > 0 && incoming(&b, pkt, &len) == 1, "A's SYN, recorded, reaches B");
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	synack_len = leave(&b, pkt, len, synack);
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	again_len = leave(&b, pkt, len, again);
	ok(synack_len > 0 && again_len == synack_len && memcmp(again, synack, synack_len) == 0,
	   "B's SYN-ACK retransmitted carries the same nonce");
	len = synack_len;
	memcpy(pkt, synack, len);
	ok(incoming(&a, pkt, &len) == 1, "A takes B's SYN-ACK");
	len = build(pkt, A_IP, B_IP, 40100, 7447, isn_a + 1, isn_b + 1, NS_TCP_ACK, "secret-1");
	data_len = leave(&a, pkt, len, data);
	len = data_len;
	memcpy(pkt, data, len);
	ok(data_len > 0 && incoming(&b, pkt, &len) == 1 && payload_is(pkt, len, "secret-1"),
	   "A's data, recorded, reaches B");
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b + 1, isn_a + 9, NS_TCP_ACK, "reply-1");
	reply_len = leave(&b, pkt, len, reply);
	ok(reply_len > 0, "B's reply, recorded");
	/* B's stack resets the connection; the entry's time runs out */
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b + 8, isn_a + 9, NS_TCP_RST | NS_TCP_ACK,
	            NULL);
	ok(leave(&b, pkt, len, again) > 0, "B's reset leaves");
	b.now += NS_FLOW_RESET_MS + 1;
	ns_flow_expire(&b.t, b.now, 100);
	ok(b.t.used == 0, "B's entry is gone");

	/* the replay: A's recorded SYN; B's stack answers with the same ISN */
	len = syn_len;
	memcpy(pkt, syn, len);
	ok(incoming(&b, pkt, &len) == 1, "the replayed SYN reaches B's stack (as a SYN would)");
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	again_len = leave(&b, pkt, len, again);
	ok(again_len > 0 && has_option(synack, synack_len, n1) == 1 &&
	   has_option(again, again_len, n2) == 1 && memcmp(n1, n2, 16) != 0,
	   "B's new SYN-ACK, same ISN, carries a new nonce");
	bad_mac = b.t.count[NS_FC_BAD_MAC];
	len = data_len;
	memcpy(pkt, data, len);
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_BAD_MAC] == bad_mac + 1,
	   "the replayed data fails its MAC: nothing of it reaches B's stack");
	len = build(pkt, B_IP, A_IP, 7447, 40100, isn_b + 1, isn_a + 9, NS_TCP_ACK, "reply-2");
	len = leave(&b, pkt, len, again);
	{
		/* ciphertext XOR ciphertext at one offset is plaintext XOR
		 * plaintext exactly when the keystream repeats */
		size_t off = len - 7, roff = reply_len - 7;
		int reused = len > 7 && reply_len == len;
		for (size_t i = 0; reused && i < 7; i++)
			reused = (again[off + i] ^ reply[roff + i]) == ("reply-2"[i] ^ "reply-1"[i]);
		ok(len > 0 && !reused, "B's new reply is not sealed with the recorded keystream");
	}
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

/* B's failures for A's segment with this seq and ack, without a MAC, n
 * times, step_ms apart: how many connections B then gives up. */
static int forged(struct host *b, uint16_t port, uint32_t seq, uint32_t ack, int n, int step_ms)
{
	uint8_t pkt[CAP];
	size_t len;

	for (int i = 0; i < n; i++) {
		b->now += step_ms;
		len = build(pkt, A_IP, B_IP, port, 7447, seq, ack, NS_TCP_ACK, NULL);
		(void)incoming(b, pkt, &len);
	}
	return kills(&b->t, NULL);
}

/*
 * A stranger who knows the 4-tuple sends bare ACKs with guessed seq and
 * ack.  Only a guess the stack would take (RFC 5961: seq within the window
 * B advertised, 502 << 7 bytes here; ack between what A acknowledged less
 * A's window and what B sent) counts, and only one per retransmission
 * timeout.
 */
static void test_blind_cut(const uint8_t *key)
{
	struct host a = { .now = 1000 }, b = { .now = 1000 };
	const uint32_t ia = 300000, ib = 900000, wnd = 502u << 7;
	/* A's stream is at offset 1, B's at 1: seq ia + 2, ack ib + 2 are
	 * where the stack is; each case on a connection of its own */
	static const struct {
		int32_t dseq, dack;
		int step_ms, want;
		const char *what;
	} c[] = {
		{ 1 << 20, 0, SPACING_MS, 0, "seq 1 MiB past the window, ack right" },
		{ -(1 << 20), 0, SPACING_MS, 0, "seq 1 MiB before it" },
		{ 0, -(1 << 20), SPACING_MS, 0, "ack 1 MiB behind what A acknowledged" },
		{ 0, 1, SPACING_MS, 0, "ack past what B sent" },
		{ (int32_t)wnd - 1, 0, 0, 0, "in the window, all at one instant (count once)" },
		{ (int32_t)wnd - 1, -(int32_t)wnd, SPACING_MS, 1, "in the window, at its edges, spaced" },
	};
	int good = 1;

	ok(ns_flow_init(&a.t, 8, key) == 0 && ns_flow_init(&b.t, 8, key) == 0, "tables for blind");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		good &= connect_pair(&a, &b, (uint16_t)(42500 + i), ia, ib);
	ok(good, "connections, idle after a byte each way");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ok(forged(&b, (uint16_t)(42500 + i), ia + 2 + (uint32_t)c[i].dseq,
		          ib + 2 + (uint32_t)c[i].dack, NS_FLOW_FAIL_MAX, c[i].step_ms) == c[i].want,
		   "%s: %d forged ACKs, %s", c[i].what, NS_FLOW_FAIL_MAX,
		   c[i].want ? "B gives up" : "B keeps the connection");
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

static void set_keys(struct host *h, const uint8_t *k0, const uint8_t *k1)
{
	uint8_t two[64];
	char err[256];

	memcpy(two, k0, 32);
	if (k1 != NULL)
		memcpy(two + 32, k1, 32);
	if (ns_flow_set_keys(&h->t, two, k1 != NULL ? 2 : 1, err, sizeof(err)) != 0)
		fprintf(stderr, "# set_keys: %s\n", err);
}

static void test_rotation(const uint8_t *ka)
{
	struct host a = { .now = 7000 }, b = { .now = 7000 };
	uint8_t kb[32], kc[32], id[2], pkt[CAP], v[16], two[64];
	uint64_t unknown, bad_mac;
	char err[256];
	size_t len;

	memcpy(kb, ka, 32);
	kb[5] ^= 0x11;
	memcpy(kc, ka, 32);
	kc[6] ^= 0x22;
	ok(ns_flow_init(&a.t, 16, ka) == 0 && ns_flow_init(&b.t, 16, ka) == 0, "tables for rotation");

	/* The SYN names the key its sender sends with. */
	set_keys(&a, kb, ka);
	len = build(pkt, A_IP, B_IP, 41000, 7447, 1000, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT && has_option(pkt, p.len, v) == 1 &&
		   ns_pkt_key_id(kb, id) == 0 && memcmp(v + 14, id, 2) == 0,
		   "A [B, A]: its SYN's nonce ends with B's key id");
	}
	ns_flow_free(&a.t);
	ns_flow_init(&a.t, 16, ka);

	/* Step 1 at B only: A sends with A, B [B, A] keys with A. */
	set_keys(&b, kb, ka);
	ok(connect_pair(&a, &b, 41001, 10, 20000), "A [A] to B [B, A]: connected, data both ways");
	/* Step 2 at A: A [B, A] sends with B; B [B, A] follows. */
	set_keys(&a, kb, ka);
	ok(connect_pair(&a, &b, 41002, 30, 40000), "A [B, A] to B [B, A]: connected under B");
	/* Step 3 at B: B [B]; the connection under A keeps its keys. */
	set_keys(&b, kb, NULL);
	ok(damaged(&a, &b, 41001, 10, 20000, 1, 0) == 1,
	   "after B dropped A, the connection made under A still verifies (keys kept)");
	ok(connect_pair(&a, &b, 41003, 50, 60000), "A [B, A] to B [B]: connected");

	/* A node left with the old key only: refused by B [B] at the MAC. */
	set_keys(&a, ka, NULL);
	bad_mac = b.t.count[NS_FC_BAD_MAC];
	ok(!connect_pair(&a, &b, 41004, 70, 80000) && b.t.count[NS_FC_BAD_MAC] > bad_mac,
	   "A [A] to B [B]: the handshake's ACK fails B's MAC, no connection");
	/* B holding two keys, neither A: the SYN is dropped, never answered. */
	set_keys(&b, kb, kc);
	unknown = b.t.count[NS_FC_UNKNOWN_KEY];
	len = build(pkt, A_IP, B_IP, 41005, 7447, 90, 0, NS_TCP_SYN, NULL);
	ok(send_seg(&a, &b, pkt, &len) == 0 && b.t.count[NS_FC_UNKNOWN_KEY] == unknown + 1,
	   "A [A] to B [B, C]: its SYN dropped as unknown_key");
	/* The other way: B [B, C] sends with B; A [A] takes the SYN (one key
	 * held, the id is not asked) and B's ACK fails A's MAC. */
	{
		uint8_t p2[CAP];
		size_t l2;
		uint64_t am = a.t.count[NS_FC_BAD_MAC];
		int good;

		l2 = build(p2, B_IP, A_IP, 41006, 7447, 100, 0, NS_TCP_SYN, NULL);
		good = send_seg(&b, &a, p2, &l2) == 1;
		l2 = build(p2, A_IP, B_IP, 7447, 41006, 200, 101, NS_TCP_SYN | NS_TCP_ACK, NULL);
		good &= send_seg(&a, &b, p2, &l2) == 1;
		l2 = build(p2, B_IP, A_IP, 41006, 7447, 101, 201, NS_TCP_ACK, "v");
		good &= send_seg(&b, &a, p2, &l2) == 0;
		ok(good && a.t.count[NS_FC_BAD_MAC] == am + 1,
		   "B [B, C] to A [A]: B's first sealed segment fails A's MAC");
	}

	/* A reload that drops the key a SYN named, before the SYN-ACK. */
	set_keys(&a, ka, NULL);
	set_keys(&b, kb, ka);
	len = build(pkt, A_IP, B_IP, 41007, 7447, 300, 0, NS_TCP_SYN, NULL);
	ok(send_seg(&a, &b, pkt, &len) == 1, "A [A] SYN to B [B, A]: taken");
	set_keys(&b, kb, kc);
	unknown = b.t.count[NS_FC_UNKNOWN_KEY];
	len = build(pkt, B_IP, A_IP, 7447, 41007, 400, 301, NS_TCP_SYN | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_DROP &&
		   b.t.count[NS_FC_UNKNOWN_KEY] == unknown + 1,
		   "B reloaded to [B, C] before its SYN-ACK: dropped, unknown_key");
	}

	/* Two keys of one id: found by search (about 2^8 keys), refused. */
	{
		static uint16_t seen[65536];
		uint8_t k[32] = { 0 }, prev[32];
		uint32_t i, hit = 0;

		memset(seen, 0, sizeof(seen));
		for (i = 1; i < 100000 && hit == 0; i++) {
			k[0] = (uint8_t)i;
			k[1] = (uint8_t)(i >> 8);
			k[2] = (uint8_t)(i >> 16);
			ns_pkt_key_id(k, id);
			uint16_t slot = (uint16_t)(id[0] << 8 | id[1]);
			if (seen[slot] != 0)
				hit = seen[slot];
			else
				seen[slot] = (uint16_t)i;
		}
		memset(prev, 0, sizeof(prev));
		prev[0] = (uint8_t)hit;
		prev[1] = (uint8_t)(hit >> 8);
		memcpy(two, prev, 32);
		memcpy(two + 32, k, 32);
		ok(hit != 0 && ns_flow_set_keys(&b.t, two, 2, err, sizeof(err)) != 0 &&
		   strstr(err, "same packet-mode key id") && b.t.nnetkeys == 2 &&
		   memcmp(b.t.netkey[0], kb, 32) == 0 && memcmp(b.t.netkey[1], kc, 32) == 0,
		   "two keys of one id refused, the set in force kept: %s", err);
	}
	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
}

int main(void)
{
	static uint8_t key[32] = { 1, 2, 3 }, other[32] = { 9 };
	struct host a = { .now = 1000 }, b = { .now = 1000 }, c = { .now = 1000 };
	uint8_t pkt[CAP], nonce1[16], nonce2[16], syn_wire[CAP], syn_a[CAP];
	uint32_t isn_a = 0xfffffff0u, isn_b = 123456; /* A's offsets wrap the 32-bit seq */
	size_t len, syn_len, syn_a_len;
	struct ns_tcpopts o;
	struct ns_tcpseg s;
	const char *msg = "version: hello from A";

	ok(ns_flow_init(&a.t, 4, key) == 0 && ns_flow_init(&b.t, 4, key) == 0 &&
	   ns_flow_init(&c.t, 4, other) == 0, "tables");

	/* SYN, A -> B */
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A's SYN leaves");
		len = p.len;
	}
	ok(has_option(pkt, len, nonce1) == 1, "A's SYN carries a nonce");
	ns_tcpseg_parse(&s, pkt, len);
	ns_tcpseg_opts(&s, &o);
	ok(o.sackok < 0 && o.mss >= 0 && pkt[20 + 20 + o.mss + 2] == 0x05 &&
	   pkt[20 + 20 + o.mss + 3] == 0xa0, "SACK-permitted gone, MSS clamped to 1440");
	memcpy(syn_wire, pkt, len);
	syn_len = len;
	memcpy(syn_a, pkt, len);
	syn_a_len = len;
	/* retransmission: same nonce */
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A's SYN again");
		len = p.len;
	}
	ok(has_option(pkt, len, nonce2) == 1 && memcmp(nonce1, nonce2, 16) == 0,
	   "a retransmitted SYN carries the same nonce");
	memcpy(pkt, syn_wire, syn_len);
	len = syn_len;
	ok(incoming(&b, pkt, &len) == 1 && has_option(pkt, len, NULL) == 0,
	   "B takes the SYN, its stack sees no nonce");
	memcpy(pkt, syn_wire, syn_len);
	len = syn_len;
	ok(incoming(&c, pkt, &len) == 1, "C (other key) takes the SYN too: nothing to check yet");

	/* a SYN without the option */
	len = build(pkt, A_IP, B_IP, 40001, 7447, 5, 0, NS_TCP_SYN, NULL);
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_NO_OPTION] == 1,
	   "a plain SYN is dropped, counted as no_option");

	/* SYN-ACK, B -> A */
	len = build(pkt, B_IP, A_IP, 7447, 40000, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT &&
		   has_option(pkt, p.len, NULL) == 1, "B's SYN-ACK leaves with B's nonce");
		len = p.len;
	}
	memcpy(syn_wire, pkt, len);
	syn_len = len;
	ok(incoming(&a, pkt, &len) == 1 && has_option(pkt, len, NULL) == 0,
	   "A takes the SYN-ACK, without the option");
	/* as if the SYN-ACK had been lost: A's SYN again reaches B, whose
	 * stack answers with its SYN-ACK again, which A takes */
	/* not the same SYN: another nonce, or another ISN */
	{
		uint64_t not_ready = b.t.count[NS_FC_NOT_READY];
		uint8_t *n;
		int good;

		memcpy(pkt, syn_a, syn_a_len);
		len = syn_a_len;
		n = memmem(pkt, len, nonce1, sizeof(nonce1));
		good = n != NULL;
		if (n != NULL) {
			n[3] ^= 1;
			ns_tcpseg_parse(&s, pkt, len);
			ns_tcpseg_fix_checksums(&s);
			good &= incoming(&b, pkt, &len) == 0;
		}
		len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 5, 0, NS_TCP_SYN, NULL);
		{
			struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
			good &= ns_flow_segment(&c.t, &p, c.now) == NS_FLOW_ACCEPT;
			len = p.len;
		}
		good &= incoming(&b, pkt, &len) == 0;
		ok(good && b.t.count[NS_FC_NOT_READY] == not_ready + 2,
		   "B has keys: a SYN with another nonce or ISN is dropped");
	}
	memcpy(pkt, syn_a, syn_a_len);
	len = syn_a_len;
	ok(incoming(&b, pkt, &len) == 1 && has_option(pkt, len, NULL) == 0,
	   "A's own SYN again still reaches B's stack (SYN-ACK lost)");
	len = build(pkt, B_IP, A_IP, 7447, 40000, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&b.t, &p, b.now) == NS_FLOW_ACCEPT && p.len == syn_len &&
		   memcmp(pkt, syn_wire, syn_len) == 0, "B's SYN-ACK again leaves the same");
		len = p.len;
	}
	ok(incoming(&a, pkt, &len) == 1, "A takes it again");

	/* ACK, then data A -> B */
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 1, isn_b + 1, NS_TCP_ACK, NULL);
	ok(send_seg(&a, &b, pkt, &len) == 1, "the handshake's last ACK verifies at B");
	memcpy(pkt, syn_a, syn_a_len);
	len = syn_a_len;
	{
		uint64_t not_ready = b.t.count[NS_FC_NOT_READY];
		ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_NOT_READY] == not_ready + 1,
		   "after a verified segment, A's SYN again is dropped");
	}
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 1, isn_b + 1, NS_TCP_ACK | NS_TCP_PSH, msg);
	ok(send_seg(&a, &b, pkt, &len) == 1 && payload_is(pkt, len, msg),
	   "data A -> B arrives as sent, checksums right");
	ok(memmem(wire, sizeof(wire), "hello", 5) == NULL && has_option(wire, len + 20, NULL) == 1,
	   "on the wire: no plaintext, the MAC option");
	/* data B -> A */
	len = build(pkt, B_IP, A_IP, 7447, 40000, isn_b + 1, isn_a + 1 + (uint32_t)strlen(msg),
	            NS_TCP_ACK, "verack from B");
	ok(send_seg(&b, &a, pkt, &len) == 1 && payload_is(pkt, len, "verack from B"),
	   "data B -> A arrives as sent");
	/* the second segment of A crosses the 32-bit sequence wrap */
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 1 + (uint32_t)strlen(msg), isn_b + 14,
	            NS_TCP_ACK, "second");
	ok(send_seg(&a, &b, pkt, &len) == 1 && payload_is(pkt, len, "second"),
	   "data past the sequence wrap");

	/* tampering */
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 28, isn_b + 14, NS_TCP_ACK, "third");
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A seals a third segment");
		len = p.len;
	}
	memcpy(syn_wire, pkt, len);
	pkt[len - 1] ^= 1;
	ns_tcpseg_parse(&s, pkt, len);
	ns_tcpseg_fix_checksums(&s);
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_BAD_MAC] == 1,
	   "a flipped payload bit is dropped (bad_mac)");
	memcpy(pkt, syn_wire, len);
	pkt[35] ^= 1; /* window */
	ns_tcpseg_fix_checksums(&s);
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_BAD_MAC] == 2,
	   "a changed window is dropped");
	memcpy(pkt, syn_wire, len);
	ok(incoming(&b, pkt, &len) == 1 && payload_is(pkt, len, "third"), "the original passes");
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 33, isn_b + 14, NS_TCP_ACK, "clear");
	ok(incoming(&b, pkt, &len) == 0, "a segment without the MAC option is dropped");
	len = build(pkt, A_IP, B_IP, 40002, 7447, 1, 1, NS_TCP_ACK, "stray");
	ok(incoming(&b, pkt, &len) == 0 && b.t.count[NS_FC_NO_FLOW] == 1,
	   "a segment of no known connection is dropped (no_flow)");
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		len = build(pkt, A_IP, B_IP, 40002, 7447, 1, 1, NS_TCP_ACK, "stray");
		p.len = len;
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_DROP,
		   "the node's own segment of no known connection is not sent");
	}
	/* a stranger's SYN on the live 4-tuple */
	len = build(pkt, A_IP, B_IP, 40000, 7447, 777, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ns_flow_segment(&c.t, &p, c.now); /* C makes a SYN with a nonce */
		len = p.len;
	}
	ok(incoming(&b, pkt, &len) == 0, "a SYN cannot replace a live connection");

	/* another key: C took A's SYN; C's SYN-ACK makes A derive other keys */
	len = build(pkt, B_IP, A_IP, 7447, 40000, isn_b, isn_a + 1, NS_TCP_SYN | NS_TCP_ACK, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&c.t, &p, c.now) == NS_FLOW_ACCEPT, "C answers with its nonce");
	}
	len = build(pkt, A_IP, B_IP, 40000, 7447, isn_a + 1, isn_b + 1, NS_TCP_ACK, "to C");
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "A seals (its own keys)");
		len = p.len;
	}
	ok(incoming(&c, pkt, &len) == 0 && c.t.count[NS_FC_BAD_MAC] == 1,
	   "another network key: the first sealed segment fails");

	/* resets before keys */
	len = build(pkt, A_IP, B_IP, 41000, 7447, 50, 0, NS_TCP_SYN, NULL);
	{
		struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
		ns_flow_segment(&a.t, &p, a.now);
		len = p.len;
	}
	ok(incoming(&b, pkt, &len) == 1, "B takes a second SYN");
	len = build(pkt, B_IP, A_IP, 7447, 41000, 0, 51, NS_TCP_RST | NS_TCP_ACK, NULL);
	ok(send_seg(&b, &a, pkt, &len) == 1, "B's stack refusing it: the reset passes both ends");
	len = build(pkt, B_IP, A_IP, 7447, 41000, 0, 99, NS_TCP_RST | NS_TCP_ACK, NULL);
	ok(incoming(&a, pkt, &len) == 0, "a reset with the wrong ack does not");
	len = build(pkt, B_IP, A_IP, 7447, 41000, 0, 51, NS_TCP_RST | NS_TCP_ACK, "x");
	ok(incoming(&a, pkt, &len) == 0, "nor one with payload");

	/* a path MTU learned for B: the next SYN's MSS leaves room on that path */
	{
		static const uint8_t b_addr[4] = { 10, 0, 0, 2 };
		static const struct { uint32_t path; uint16_t mss; } v[] = {
			{ 1400, 1400 - 20 - 20 - 20 }, { 300, 552 - 20 - 20 - 20 },
		};
		for (size_t i = 0; i < 2; i++) {
			ns_pmtu_note(&a.t.pmtu, 0, b_addr, v[i].path, v[i].path - 20, a.now);
			len = build(pkt, A_IP, B_IP, (uint16_t)(42000 + i), 7447, 90, 0, NS_TCP_SYN, NULL);
			struct ns_flow_pkt p = { pkt, len, CAP, 1, 1500 };
			ok(ns_flow_segment(&a.t, &p, a.now) == NS_FLOW_ACCEPT, "SYN to B, path %u",
			   v[i].path);
			ns_tcpseg_parse(&s, pkt, p.len);
			ns_tcpseg_opts(&s, &o);
			ok(o.mss >= 0 && (pkt[40 + o.mss + 2] << 8 | pkt[40 + o.mss + 3]) == v[i].mss,
			   "its MSS is %u", v[i].mss);
		}
	}

	/* expiry */
	ns_flow_expire(&a.t, a.now + NS_FLOW_IDLE_MS + 1, 100);
	ok(a.t.used == 0, "entries expire");

	test_failing(key);
	test_checksum_gso_simultaneous(key);
	test_evict_ended(key);
	test_evict_handshakes(key);
	test_repeated_syn_expiry(key);
	test_replay_after_end(key);
	test_blind_cut(key);
	test_opportunistic_inbound(key);
	test_opportunistic_outbound(key);
	test_sealed_memory(key);
	test_policy_required(key);
	test_evict_clear(key);
	test_rotation(key);

	ns_flow_free(&a.t);
	ns_flow_free(&b.t);
	ns_flow_free(&c.t);
	return tap_done();
}
