/*
 * flow_speed: packet mode's connection table (src/packet/flow.c) alone, in
 * memory: what a peer's SYN costs the daemon, in ns, when the table has room
 * and when it is full and each SYN must evict an entry (a SYN flood: the
 * option on a SYN is not authenticated, so anyone can fill the table with
 * handshakes that never finish).  Also the cost of a new connection's
 * whole handshake (SYN, SYN-ACK, ACK through both tables) with a full
 * table of ended connections, the churn a busy node makes; and what one
 * full-sized data segment costs both ends.
 * Build: make bench-tools; run: build/bench/flow_speed [max-connections]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "../src/packet/flow.h"
#include "../src/packet/tcpseg.h"
#include "../tests/unit/segment.h"

#define CAP 256
#define NPKT 200000
#define REPEAT 3

static const uint8_t network_key[NS_KEY_LEN] = { 1 };

/* An IPv4 segment as Linux sends it (tests/unit/segment.h). */
static size_t build(uint8_t *pkt, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                    uint32_t seq, uint32_t ack, uint8_t flags)
{
	size_t len = seg_build(pkt, CAP, src, dst, sport, dport, seq, ack, flags, NULL);

	if (len == 0)
		abort();
	return len;
}

/* Through table t; 1 if accepted. */
static int through(struct ns_flow_table *t, uint8_t *pkt, size_t *len, int outgoing, int64_t ms)
{
	struct ns_flow_pkt p = { pkt, *len, CAP, outgoing, 1500 };
	int ok = ns_flow_segment(t, &p, ms) == NS_FLOW_ACCEPT;

	*len = p.len;
	return ok;
}

/* One segment of a conversation between host (10.0.0.2:port) and the
 * node (10.0.0.1:7447). */
struct step {
	int from_host;
	uint32_t seq, ack;
	uint8_t flags;
};

/* Each step out through the sender's table and in through the other's;
 * 0 if one was dropped (the step's index in *bad). */
static int converse(struct ns_flow_table *host, struct ns_flow_table *node, uint32_t host_ip,
                    uint16_t port, const struct step *st, size_t n, int64_t ms, size_t *bad)
{
	static uint8_t pkt[CAP];

	for (size_t k = 0; k < n; k++) {
		int h = st[k].from_host;
		size_t len = build(pkt, h ? host_ip : 0x0a000001u, h ? 0x0a000001u : host_ip,
		                   h ? port : 7447, h ? 7447 : port, st[k].seq, st[k].ack, st[k].flags);
		if (!through(h ? host : node, pkt, &len, 1, ms) ||
		    !through(h ? node : host, pkt, &len, 0, ms)) {
			*bad = k;
			return 0;
		}
	}
	return 1;
}

static struct {
	uint8_t b[CAP];
	size_t len;
} syns[NPKT];

/* NPKT SYNs from distinct strangers to 10.0.0.1:7447, each with a
 * nonce option (made by a sender's table, as a flood would copy it). */
static void make_syns(void)
{
	struct ns_flow_table out;

	if (ns_flow_init(&out, 1u << 20, network_key) != 0)
		abort();
	for (uint32_t i = 0; i < NPKT; i++) {
		uint32_t src = 0x0b000000u | (i >> 14), sport = 10000 + (i & 0x3fff);
		syns[i].len = build(syns[i].b, src, 0x0a000001u, (uint16_t)sport, 7447, i * 7919u, 0,
		                    NS_TCP_SYN);
		if (!through(&out, syns[i].b, &syns[i].len, 1, 1000))
			abort();
	}
	ns_flow_free(&out);
}

/* ns per incoming SYN: the first max fill the table, the rest evict. */
static void syn_flood(uint32_t max, double *ns_fill, double *ns_full)
{
	static uint8_t pkt[CAP];
	struct ns_flow_table t;
	uint32_t accepted = 0;
	double t0, t1;

	if (ns_flow_init(&t, max, network_key) != 0 || max >= NPKT)
		abort();
	t0 = now_s();
	for (uint32_t i = 0; i < max; i++) {
		size_t len = syns[i].len;
		memcpy(pkt, syns[i].b, len);
		accepted += (uint32_t)through(&t, pkt, &len, 0, 2000);
	}
	t1 = now_s();
	for (uint32_t i = max; i < NPKT; i++) {
		size_t len = syns[i].len;
		memcpy(pkt, syns[i].b, len);
		accepted += (uint32_t)through(&t, pkt, &len, 0, 2000 + i / 1000);
	}
	*ns_fill = (t1 - t0) / max * 1e9;
	*ns_full = (now_s() - t1) / (NPKT - max) * 1e9;
	if (accepted != NPKT)
		fprintf(stderr, "flow_speed: %u of %d SYNs accepted\n", accepted, NPKT);
	ns_flow_free(&t);
}

/*
 * ns per connection, both tables: SYN, SYN-ACK, ACK, then FIN and ACK each
 * way, so the entry ends (CLOSING, kept NS_FLOW_CLOSED_MS).  After max
 * connections every new one must evict an ended one.
 */
static double churn(uint32_t max, uint32_t conns)
{
	struct ns_flow_table a, b;
	double t0;
	size_t bad;

	if (ns_flow_init(&a, max, network_key) != 0 || ns_flow_init(&b, max, network_key) != 0)
		abort();
	t0 = now_s();
	for (uint32_t i = 0; i < conns; i++) {
		uint32_t ia = i * 2654435761u, ib = ia ^ 0x5555;
		const struct step st[] = {
			{ 1, ia, 0, NS_TCP_SYN },
			{ 0, ib, ia + 1, NS_TCP_SYN | NS_TCP_ACK },
			{ 1, ia + 1, ib + 1, NS_TCP_ACK },
			{ 1, ia + 1, ib + 1, NS_TCP_ACK | NS_TCP_FIN },
			{ 0, ib + 1, ia + 2, NS_TCP_ACK | NS_TCP_FIN },
			{ 1, ia + 2, ib + 2, NS_TCP_ACK },
		};
		if (!converse(&a, &b, 0x0a000002u + (i / 60000) * 256, (uint16_t)(1024 + i % 60000), st,
		              sizeof(st) / sizeof(st[0]), 1000 + i / 1000, &bad)) {
			fprintf(stderr, "flow_speed: connection %u, step %zu dropped\n", i, bad);
			exit(1);
		}
	}
	t0 = now_s() - t0;
	ns_flow_free(&a);
	ns_flow_free(&b);
	return t0 / conns * 1e9;
}

/*
 * ns per 1448-byte data segment of an established connection: sealed by
 * A's table, then verified and opened by B's (checksums, AES-256-CTR and
 * HMAC-SHA256 each way), the work each end does for every packet.
 */
static double segments(uint32_t n)
{
	struct ns_flow_table a, b;
	static uint8_t pkt[CAP + 1500], tmpl[CAP + 1500];
	const uint32_t ia = 1000, ib = 900000, plen = 1448;
	size_t len, tlen;
	double t0;

	if (ns_flow_init(&a, 16, network_key) != 0 || ns_flow_init(&b, 16, network_key) != 0)
		abort();
	{
		const struct step hs[] = {
			{ 1, ia, 0, NS_TCP_SYN },
			{ 0, ib, ia + 1, NS_TCP_SYN | NS_TCP_ACK },
			{ 1, ia + 1, ib + 1, NS_TCP_ACK },
		};
		size_t bad;
		if (!converse(&a, &b, 0x0a000002u, 40000, hs, 3, 1000, &bad))
			abort();
	}
	tlen = build(tmpl, 0x0a000002u, 0x0a000001u, 40000, 7447, ia + 1, ib + 1, NS_TCP_ACK);
	t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		struct ns_tcpseg s;
		memcpy(pkt, tmpl, tlen);
		memset(pkt + tlen, (int)(i & 0xff), plen);
		len = tlen + plen;
		seg_put16(pkt + 2, (uint16_t)len);
		seg_put32(pkt + 24, ia + 1 + i * plen);
		if (ns_tcpseg_parse(&s, pkt, len) != 0)
			abort();
		ns_tcpseg_fix_checksums(&s); /* what the queue does for local senders */
		{
			struct ns_flow_pkt p = { pkt, len, sizeof(pkt), 1, 1500 };
			if (ns_flow_segment(&a, &p, 2000) != NS_FLOW_ACCEPT)
				abort();
			p.outgoing = 0;
			if (ns_flow_segment(&b, &p, 2000) != NS_FLOW_ACCEPT)
				abort();
		}
	}
	t0 = now_s() - t0;
	ns_flow_free(&a);
	ns_flow_free(&b);
	return t0 / n * 1e9;
}

int main(int argc, char **argv)
{
	uint32_t max = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 4096;

	if (max < 16 || max > NPKT / 2) {
		fprintf(stderr, "usage: flow_speed [max-connections, 16..%d]\n", NPKT / 2);
		return 2;
	}
	make_syns();
	printf("table of %u entries; best of %d runs\n", max, REPEAT);
	printf("%-44s %10s\n", "", "ns");
	double fill = 1e30, full = 1e30, ch_room = 1e30, ch_full = 1e30, seg = 1e30;
	for (int r = 0; r < REPEAT; r++) {
		double f, g, c = segments(100000);

		seg = c < seg ? c : seg;
		syn_flood(max, &f, &g);
		fill = f < fill ? f : fill;
		full = g < full ? g : full;
		c = churn(NPKT, max);
		ch_room = c < ch_room ? c : ch_room;
		c = churn(max, 4 * max);
		ch_full = c < ch_full ? c : ch_full;
	}
	printf("%-44s %10.0f\n", "peer's SYN, table has room", fill);
	printf("%-44s %10.0f\n", "peer's SYN, table full of handshakes", full);
	printf("%-44s %10.0f\n", "connection (6 segments x 2 tables), room", ch_room);
	printf("%-44s %10.0f\n", "connection, table full of ended ones", ch_full);
	printf("%-44s %10.0f\n", "1448-byte segment, sealed at A, opened at B", seg);
	return 0;
}
