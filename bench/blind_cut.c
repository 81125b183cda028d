/*
 * blind_cut: what it costs a stranger who knows a packet-mode connection's
 * 4-tuple, but sees none of its segments, to make the daemon end it
 * (docs/SECURITY.md, "A blind stranger").  In memory: hosts A and B
 * (src/packet/flow.c each) make a connection and move one byte each way,
 * then the stranger sends B bare ACKs from A's address with random seq and
 * ack, at a given rate, until B gives the connection up (ns_flow_next_kill)
 * or a budget of segments is spent.  Prints, per run, the segments it took;
 * then the mean over the runs that ended, and the runs that did not.
 * Build: make bench-tools; run: build/bench/blind_cut [runs] [budget] [per-second]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/packet/flow.h"
#include "../src/packet/tcpseg.h"
#include "../tests/unit/segment.h"

#define CAP 256
#define A_IP 0x0a000001u
#define B_IP 0x0a000002u

static const uint8_t network_key[NS_KEY_LEN] = { 7 };

/* xorshift64*: the stranger's guesses; seeded per run, reproducible. */
static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int through(struct ns_flow_table *t, uint8_t *pkt, size_t len, int outgoing, int64_t ms,
                   size_t *out)
{
	struct ns_flow_pkt p = { pkt, len, CAP, outgoing, 1500 };
	int ok = ns_flow_segment(t, &p, ms) == NS_FLOW_ACCEPT;

	*out = p.len;
	return ok;
}

/* A -> B, out of A's table and into B's: 1 if B took it. */
static int send_seg(struct ns_flow_table *from, struct ns_flow_table *to, uint8_t *pkt,
                    size_t len, int64_t ms)
{
	size_t n;

	return through(from, pkt, len, 1, ms, &n) && through(to, pkt, n, 0, ms, &n);
}

static int connect_idle(struct ns_flow_table *a, struct ns_flow_table *b, uint32_t ia,
                        uint32_t ib)
{
	uint8_t pkt[CAP];
	int good = 1;

	good &= send_seg(a, b, pkt, seg_build(pkt, CAP, A_IP, B_IP, 40000, 7447, ia, 0, NS_TCP_SYN, NULL), 0);
	good &= send_seg(b, a, pkt, seg_build(pkt, CAP, B_IP, A_IP, 7447, 40000, ib, ia + 1,
	                                      NS_TCP_SYN | NS_TCP_ACK, NULL), 0);
	good &= send_seg(a, b, pkt, seg_build(pkt, CAP, A_IP, B_IP, 40000, 7447, ia + 1, ib + 1,
	                                      NS_TCP_ACK, "a"), 0);
	good &= send_seg(b, a, pkt, seg_build(pkt, CAP, B_IP, A_IP, 7447, 40000, ib + 1, ia + 2,
	                                      NS_TCP_ACK, "b"), 0);
	return good;
}

/* Segments until B gives the connection up; 0 if the budget ran out. */
static uint64_t one_run(uint64_t seed, uint64_t budget, double per_second)
{
	struct ns_flow_table a, b;
	struct ns_flow_tuple tu;
	uint8_t pkt[CAP];
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1, n;
	size_t len, out;

	if (ns_flow_init(&a, 4, network_key) != 0 || ns_flow_init(&b, 4, network_key) != 0 ||
	    !connect_idle(&a, &b, (uint32_t)rng(&s), (uint32_t)rng(&s))) {
		fprintf(stderr, "blind_cut: set-up failed\n");
		exit(1);
	}
	for (n = 1; n <= budget; n++) {
		uint64_t r = rng(&s);
		len = seg_build(pkt, CAP, A_IP, B_IP, 40000, 7447, (uint32_t)r, (uint32_t)(r >> 32),
		                NS_TCP_ACK, NULL);
		(void)through(&b, pkt, len, 0, (int64_t)(1000.0 * (double)n / per_second), &out);
		if (ns_flow_next_kill(&b, &tu))
			break;
	}
	ns_flow_free(&a);
	ns_flow_free(&b);
	return n <= budget ? n : 0;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 20;
	uint64_t budget = argc > 2 ? strtoull(argv[2], NULL, 0) : 1ULL << 24;
	double rate = argc > 3 ? atof(argv[3]) : 1e6, sum = 0;
	int ended = 0;

	if (runs < 1 || budget < 1 || rate <= 0) {
		fprintf(stderr, "usage: blind_cut [runs] [budget] [per-second]\n");
		return 2;
	}
	printf("random bare ACKs at %.0f/s on a known 4-tuple, idle connection, "
	       "budget %llu a run\n", rate, (unsigned long long)budget);
	for (int i = 0; i < runs; i++) {
		uint64_t n = one_run((uint64_t)i + 1, budget, rate);
		printf("run %2d: %s %llu\n", i + 1, n ? "cut after" : "not cut in",
		       (unsigned long long)(n ? n : budget));
		if (n) {
			ended++;
			sum += (double)n;
		}
	}
	if (ended)
		printf("cut in %d of %d runs, mean %.0f segments (%.1f MB at 52 bytes)\n", ended, runs,
		       sum / ended, sum / ended * 52 / 1e6);
	else
		printf("cut in 0 of %d runs: %.3g segments sent in all (%.1f GB at 52 bytes)\n", runs,
		       (double)budget * runs, (double)budget * runs * 52 / 1e9);
	return 0;
}
