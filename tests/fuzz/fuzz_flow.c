/*
 * fuzz_flow: packet mode's connection table (flow.c) driven by sequences of
 * segments, as two honest stacks and a hostile network would produce them.
 *
 * Two tables with one network key and 4 entries each (so eviction
 * happens): A, the host under test, and P, its peer.  Their secrets and
 * hash seeds are fixed after init, so a run is reproducible.  The input is
 * a list of records, each one of:
 *   raw        bytes as one packet into A or P, outgoing or incoming;
 *   send       a segment built from the record (one of 6 connection slots,
 *              IPv4 or IPv6, flags, options, seq/ack near the slot's
 *              stream, window, payload) leaves A or P through its table,
 *              may have one byte altered on the wire, and arrives at the
 *              other (the only way to valid MACs: the tables make them);
 *   forge      a segment built the same way arrives without passing the
 *              sender's table (nonces and MACs of the fuzzer's choosing);
 *   replay     one of the last segments that left a table, altered or not,
 *              into the other table or reflected into its sender;
 *   handshake  SYN, SYN-ACK and ACK of one slot through both tables;
 *   kill       the connections a table gave up on or ends for the policy
 *              (ns_flow_next_kill), as queue.c takes them after a batch:
 *              each one's local stack then sends a reset, which goes
 *              through the table and on to the other;
 *   policy     a table's rollout policy set to required or opportunistic
 *              (ns_flow_set_policy; both start required);
 *   keys       a table's network keys replaced, as a reload during a
 *              rotation does: [K], [K2, K], [K, K2] or [K2] (the first sent
 *              with), under live connections and handshakes;
 *   clock      time moves on (up to past every timeout), expiry runs.
 * Each packet is handed over in a buffer of exactly its length plus
 * NS_FLOW_HEADROOM, with an MTU from a list that includes 0 (unknown),
 * too small and too large.  A has a peer memory (sealed peers), P none.
 *
 * Invariants (abort() when broken):
 * - an accepted packet parses, fits its buffer, and its checksums verify;
 *   unchanged, it can only be a reset without payload (the exceptions
 *   before keys);
 * - outgoing accepted: carries the nodeseal option; a SYN with MSS within
 *   the MTU's limit, no SACK-permitted, no payload; any other segment with
 *   its payload length, no option besides timestamps and the MAC;
 * - incoming accepted: no nodeseal option left, no option the daemon
 *   does not pass; a segment that is not a SYN matches, in every field the
 *   MAC covers and in its ciphertext, a segment one of the tables sealed,
 *   and comes out as that segment's plaintext (no forgery, no wrong key
 *   stream);
 * - after an honest handshake whose last ACK verified, honest data gets
 *   through both ways;
 * - a connection handed out to be ended for its failures is still keyed:
 *   the reset its stack sends is sealed; one ended for the policy is
 *   clear: its reset passes as it is;
 * - a segment passed in clear (counted clear) is the packet as it came,
 *   checksums completed, and none goes through sealing or opening; under
 *   required, or with a peer in A's sealed memory, the only one is the
 *   local stack's reset without payload (of a connection being ended);
 *   under required every clear entry is being ended, and so is every one
 *   with a peer in sealed memory;
 * - every call counts exactly one of the table's per-segment counters,
 *   sealed only for outgoing accepts and opened only for incoming ones,
 *   clear for accepts in clear;
 *   each connection given up took NS_FLOW_FAIL_MAX MAC failures; used <=
 *   max; the open-connection walk yields distinct tuples, no more than used;
 *   the eviction lists hold exactly the entries that may be evicted.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/flow.h"
#include "../../src/peers/peers.h"
#include "../../src/packet/tcpseg.h"
#include "../unit/segment.h"

#define MAX_FLOWS 4
#define NSLOT 6
#define RAW_MAX 4096
#define BUF (RAW_MAX + NS_FLOW_HEADROOM + 128)
#define RING 8
#define LOG_MAX 2048
#define SIDE_A 0
#define SIDE_P 1

static const uint8_t network_key[NS_KEY_LEN] = { 0x6e, 0x6f, 0x64, 0x65, 0x73, 0x65, 0x61, 0x6c };
static const unsigned mtus[8] = { 0, 1500, 1280, 9000, 576, 68, 70000, 1400 };
static const int64_t steps[8] = { 0, 1, 200, 1000, NS_FLOW_RESET_MS + 1, NS_FLOW_CLOSED_MS + 1,
                                  NS_FLOW_HANDSHAKE_MS + 1, NS_FLOW_IDLE_MS + 1 };
/* Addresses by side: 10.0.0.1 / 10.0.0.2 and fd00::1 / fd00::2. */
static const uint8_t addr4[2][16] = { { 10, 0, 0, 1 }, { 10, 0, 0, 2 } };
static const uint8_t addr6[2][16] = { { 0xfd, [15] = 1 }, { 0xfd, [15] = 2 } };

struct side {
	struct ns_flow_table t;
	uint64_t calls, out_ok, in_ok;
	struct ns_peers peers;
	int has_peers;
};

/* A segment a table sealed: the fields its MAC covers, as on the wire. */
struct sealed {
	uint8_t v6, src[16], dst[16];
	uint16_t sport, dport, win, urg;
	uint32_t seq, ack, paylen;
	uint8_t flags;
	uint64_t ct_hash, pt_hash;
};

struct slot {
	uint32_t isn[2], nxt[2]; /* by side; nxt: bytes of stream sent after the SYN */
};

struct ring_pkt {
	int side;
	size_t len;
	uint8_t b[BUF];
};

static struct side sides[2];
static struct slot slots[NSLOT];
static struct sealed seal_log[LOG_MAX];
static size_t nlog;
static int log_full;
static struct ring_pkt ring[RING];
static size_t nring, ring_next;
static int64_t now;
static uint8_t pkt[BUF], before[BUF], wire[BUF], payload[BUF], as_came[BUF];

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t rd8(struct reader *r)
{
	uint8_t v = 0;

	if (r->n > 0) {
		v = *r->p++;
		r->n--;
	}
	return v;
}

static uint16_t rd16(struct reader *r)
{
	uint16_t hi = rd8(r);

	return (uint16_t)(hi << 8 | rd8(r));
}

/* Up to n bytes; the rest of buf is a pattern, so long payloads need not
 * be spelled out in the input. */
static void rdbytes(struct reader *r, uint8_t *buf, size_t n)
{
	size_t got = n < r->n ? n : r->n;

	memcpy(buf, r->p, got);
	r->p += got;
	r->n -= got;
	for (size_t i = got; i < n; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ------------------------------------------------------------ builder */

struct spec {
	int v6;
	const uint8_t *src, *dst;
	uint16_t sport, dport, win, urg, mss;
	uint32_t seq, ack;
	uint8_t flags, opts;
	uint8_t nsval[NS_TCPSEG_OPT_VALUE_LEN];
	const uint8_t *payload;
	size_t paylen;
};

/* Appends an option if it still fits the 40-byte area. */
static void opt_add(uint8_t *area, size_t *n, const uint8_t *o, size_t olen)
{
	if (*n + olen <= NS_TCPSEG_MAX_OPTS) {
		memcpy(area + *n, o, olen);
		*n += olen;
	}
}

/*
 * An IPv4 or IPv6 TCP segment with checksums.  opts bits: 0 MSS, 1
 * SACK-permitted, 2 timestamps, 3 window scale, 4 one SACK block, 5 an
 * option the daemon cannot carry (MPTCP's kind), 6 the nodeseal option
 * with nsval, 7 a malformed option; as many as fit, in that order.
 */
static size_t build(uint8_t *b, const struct spec *g)
{
	uint8_t area[NS_TCPSEG_MAX_OPTS] = { 0 };
	const uint8_t mss[4] = { 2, 4, (uint8_t)(g->mss >> 8), (uint8_t)g->mss };
	const uint8_t sackok[2] = { 4, 2 };
	const uint8_t ts[12] = { 1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 0, 7 };
	const uint8_t ws[4] = { 1, 3, 3, 7 };
	const uint8_t sack[12] = { 1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 99 };
	const uint8_t mptcp[4] = { 30, 4, 0x10, 0 };
	const uint8_t bad[2] = { 8, 1 };
	uint8_t ns[NS_TCPSEG_OPT_LEN] = { NS_TCPSEG_OPT_KIND, NS_TCPSEG_OPT_LEN,
	                                  NS_TCPSEG_EXID >> 8, NS_TCPSEG_EXID & 0xff };
	const struct {
		const uint8_t *o;
		size_t len;
	} all[8] = { /* by bit of g->opts */
		{ mss, sizeof(mss) }, { sackok, sizeof(sackok) }, { ts, sizeof(ts) },
		{ ws, sizeof(ws) },   { sack, sizeof(sack) },     { mptcp, sizeof(mptcp) },
		{ ns, sizeof(ns) },   { bad, sizeof(bad) },
	};
	size_t n = 0, l4 = g->v6 ? 40 : 20, thlen, len;
	struct ns_tcpseg s;
	uint8_t *tcp;

	memcpy(ns + 4, g->nsval, NS_TCPSEG_OPT_VALUE_LEN);
	for (int i = 0; i < 8; i++)
		if (g->opts & (1u << i))
			opt_add(area, &n, all[i].o, all[i].len);
	thlen = 20 + ((n + 3) & ~(size_t)3);
	len = l4 + thlen + g->paylen;
	memset(b, 0, l4 + thlen);
	if (g->v6) {
		b[0] = 0x60;
		seg_put16(b + 4, (uint16_t)(len - 40));
		b[6] = 6;
		b[7] = 64;
		memcpy(b + 8, g->src, 16);
		memcpy(b + 24, g->dst, 16);
	} else {
		b[0] = 0x45;
		seg_put16(b + 2, (uint16_t)len);
		b[6] = 0x40;
		b[8] = 64;
		b[9] = 6;
		memcpy(b + 12, g->src, 4);
		memcpy(b + 16, g->dst, 4);
	}
	tcp = b + l4;
	seg_put16(tcp, g->sport);
	seg_put16(tcp + 2, g->dport);
	seg_put32(tcp + 4, g->seq);
	seg_put32(tcp + 8, g->ack);
	tcp[12] = (uint8_t)((thlen / 4) << 4);
	tcp[13] = g->flags;
	seg_put16(tcp + 14, g->win);
	seg_put16(tcp + 18, g->urg);
	memcpy(tcp + 20, area, thlen - 20);
	memcpy(tcp + thlen, g->payload, g->paylen);
	if (ns_tcpseg_parse(&s, b, len) != 0)
		abort(); /* the builder's own mistake */
	ns_tcpseg_fix_checksums(&s);
	return len;
}

/* ------------------------------------------------------------ checks */

/* Whether side's peer memory holds the remote address of tu as sealed. */
static int remote_sealed(const struct side *sd, bool v6, const uint8_t *remote)
{
	struct ns_peer_addr a;

	if (!sd->has_peers)
		return 0;
	memset(&a, 0, sizeof(a));
	a.v6 = v6;
	memcpy(a.a, remote, v6 ? 16 : 4);
	return ns_peers_sealed(&sd->peers, &a);
}

/* Every entry listed once; a clear one is being ended under required and
 * when its peer is sealed. */
static void check_clear_entries(const struct side *sd)
{
	const struct ns_flow_table *t = &sd->t;
	struct ns_flow_info fi;
	uint32_t cursor = 0, n = 0;

	while (ns_flow_next_info(t, &cursor, &fi)) {
		if (++n > t->used || fi.state == NULL)
			abort();
		if (fi.clear && !fi.ending &&
		    (t->policy == NS_POLICY_REQUIRED || remote_sealed(sd, fi.tu.v6, fi.tu.remote)))
			abort();
	}
	if (n != t->used || t->nend_waiting > t->used)
		abort();
}

static void check_table(const struct side *sd)
{
	const struct ns_flow_table *t = &sd->t;
	struct ns_flow_tuple seen[MAX_FLOWS + 1], tu;
	uint32_t cursor = 0, n = 0;
	uint64_t sum = 0;

	for (int i = 0; i < NS_FC_RESET_FAILING; i++) /* the per-segment counts */
		sum += t->count[i];
	if (sum != sd->calls || t->count[NS_FC_OUT] != sd->out_ok || t->count[NS_FC_IN] != sd->in_ok)
		abort();
	if (t->count[NS_FC_RESET_FAILING] * NS_FLOW_FAIL_MAX > t->count[NS_FC_BAD_MAC] ||
	    t->nkill > NS_FLOW_KILL_MAX)
		abort();
	if (t->used > t->max || t->max != MAX_FLOWS || ns_flow_check_lists(t) != 0)
		abort();
	while (ns_flow_next_open(t, &cursor, &tu)) {
		if (n >= t->used)
			abort();
		for (uint32_t i = 0; i < n; i++)
			if (memcmp(&seen[i], &tu, sizeof(tu)) == 0)
				abort();
		seen[n++] = tu;
	}
	check_clear_entries(sd);
}

static void fields(const struct ns_tcpseg *s, struct sealed *e)
{
	const uint8_t *tcp = ns_tcpseg_tcp(s);
	size_t alen = s->ipv6 ? 16 : 4;

	memset(e, 0, sizeof(*e));
	e->v6 = (uint8_t)s->ipv6;
	memcpy(e->src, s->pkt + (s->ipv6 ? 8 : 12), alen);
	memcpy(e->dst, s->pkt + (s->ipv6 ? 24 : 16), alen);
	e->sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
	e->dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
	e->flags = ns_tcpseg_flags(s) & NS_PKT_MAC_FLAGS;
	e->seq = ns_tcpseg_seq(s);
	e->ack = (e->flags & NS_TCP_ACK) ? ns_tcpseg_ack(s) : 0;
	e->win = ns_tcpseg_window(s);
	e->urg = (e->flags & NS_TCP_URG) ? ns_tcpseg_urg(s) : 0;
	e->paylen = (uint32_t)s->paylen;
	e->ct_hash = fnv(ns_tcpseg_payload(s), s->paylen);
}

static int same_covered(const struct sealed *a, const struct sealed *b)
{
	return a->v6 == b->v6 && memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
	       a->sport == b->sport && a->dport == b->dport && a->flags == b->flags &&
	       a->seq == b->seq && a->ack == b->ack && a->win == b->win && a->urg == b->urg &&
	       a->paylen == b->paylen && a->ct_hash == b->ct_hash;
}

/* The options of an accepted packet: well formed, and none the daemon
 * must not pass on. */
static void check_opts(const struct ns_tcpseg *s, struct ns_tcpopts *o)
{
	if (ns_tcpseg_opts(s, o) != 0 || o->others != 0 || o->sack >= 0 || o->sackok >= 0)
		abort();
}

static void check_syn(const struct ns_tcpseg *s, const struct ns_tcpopts *o, unsigned mtu)
{
	uint16_t lim = ns_tcpseg_mss_max(mtu ? mtu : 1500, s->ipv6);
	const uint8_t *a = ns_tcpseg_opt_area(s);

	if (s->paylen != 0 || o->mss < 0 || (a[o->mss + 2] << 8 | a[o->mss + 3]) > lim)
		abort();
}

/*
 * One packet through one side's table, with the checks.  b holds len
 * bytes and room for NS_FLOW_HEADROOM more; on return *len is the new
 * length.  1 if accepted.
 */
static int judge(int side, int outgoing, uint8_t *b, size_t *len, unsigned mtu)
{
	struct side *sd = &sides[side];
	struct ns_flow_pkt p = { b, *len, *len + NS_FLOW_HEADROOM, outgoing, mtu };
	size_t inlen = *len;
	struct ns_tcpseg s, s0;
	struct ns_tcpopts o;
	int accepted, unchanged, in_parsed, clear;
	uint64_t clear0 = sd->t.count[NS_FC_CLEAR];

	memcpy(before, b, inlen);
	in_parsed = ns_tcpseg_parse(&s0, before, inlen) == 0;
	accepted = ns_flow_segment(&sd->t, &p, now) == NS_FLOW_ACCEPT;
	clear = sd->t.count[NS_FC_CLEAR] != clear0;
	sd->calls++;
	if (accepted && !clear && outgoing)
		sd->out_ok++;
	else if (accepted && !clear)
		sd->in_ok++;
	check_table(sd);
	if (!accepted) {
		if (clear)
			abort();
		return 0;
	}

	*len = p.len;
	if (!in_parsed || p.len > p.cap || ns_tcpseg_parse(&s, b, p.len) != 0)
		abort();
	if (clear) {
		/* As it came, but for the checksums completed. */
		struct ns_tcpseg sc;
		const uint8_t *remote = s.pkt + (s.ipv6 ? (outgoing ? 24 : 8) : (outgoing ? 16 : 12));
		int rst0 = outgoing && (ns_tcpseg_flags(&s) & NS_TCP_RST) && s.paylen == 0;

		memcpy(as_came, before, inlen);
		if (ns_tcpseg_parse(&sc, as_came, inlen) != 0)
			abort();
		ns_tcpseg_fix_checksums(&sc);
		if (p.len != inlen || memcmp(b, as_came, inlen) != 0 || !ns_tcpseg_checksums_ok(&s))
			abort();
		if (!rst0 && (sd->t.policy == NS_POLICY_REQUIRED || remote_sealed(sd, s.ipv6, remote)))
			abort();
		return 1;
	}
	unchanged = p.len == inlen && memcmp(b, before, inlen) == 0;
	/* Resets without payload pass as they came (before keys); any other
	 * accept is a rewrite, checked below. */
	if (unchanged && (ns_tcpseg_flags(&s) & (NS_TCP_RST | NS_TCP_SYN)) == NS_TCP_RST &&
	    s.paylen == 0)
		return 1;
	if (!ns_tcpseg_checksums_ok(&s) || ns_tcpseg_flags(&s) != ns_tcpseg_flags(&s0))
		abort();
	check_opts(&s, &o);

	if (outgoing) {
		uint8_t v[NS_TCPSEG_OPT_VALUE_LEN];

		if (ns_tcpseg_get_value(&s, v) != 1)
			abort();
		if (ns_tcpseg_flags(&s) & NS_TCP_SYN) {
			check_syn(&s, &o, mtu);
		} else {
			if (s.paylen != s0.paylen || o.mss >= 0 || o.ws >= 0)
				abort();
			if (nlog < LOG_MAX) {
				fields(&s, &seal_log[nlog]);
				seal_log[nlog++].pt_hash = fnv(ns_tcpseg_payload(&s0), s0.paylen);
			} else {
				log_full = 1;
			}
		}
		ring[ring_next].side = side;
		ring[ring_next].len = p.len;
		memcpy(ring[ring_next].b, b, p.len);
		ring_next = (ring_next + 1) % RING;
		if (nring < RING)
			nring++;
		return 1;
	}

	if (o.ns >= 0)
		abort();
	if (ns_tcpseg_flags(&s) & NS_TCP_SYN) {
		check_syn(&s, &o, mtu);
	} else {
		struct sealed e;
		uint64_t pt = fnv(ns_tcpseg_payload(&s), s.paylen);
		int found = 0;

		if (s.paylen != s0.paylen || o.mss >= 0 || o.ws >= 0)
			abort();
		/* What arrived must be what a table sealed, and come out as
		 * what that table was given. */
		fields(&s0, &e);
		for (size_t i = 0; i < nlog && !found; i++)
			found = same_covered(&seal_log[i], &e) && seal_log[i].pt_hash == pt;
		if (!found && !log_full)
			abort();
	}
	return 1;
}

/* ------------------------------------------------------------ records */

static void addrs(int side, int v6, const uint8_t **src, const uint8_t **dst)
{
	*src = v6 ? addr6[side] : addr4[side];
	*dst = v6 ? addr6[!side] : addr4[!side];
}

static uint16_t slot_port(int k, int side)
{
	/* Even slots: A connects to P's 7447; odd ones the other way. */
	int responder = (k & 1) ? SIDE_A : SIDE_P;

	return (uint16_t)(side == responder ? 7447 : 40000 + k);
}

/* Alters one byte of b; with fix, the checksums are made right again (if
 * the packet still parses). */
static void alter(struct reader *r, uint8_t *b, size_t len)
{
	uint8_t x = rd8(r);
	uint16_t where = rd16(r);
	struct ns_tcpseg s;

	if (x == 0 || len == 0)
		return;
	b[(where & 0x7fff) % len] ^= x;
	if ((where & 0x8000) && ns_tcpseg_parse(&s, b, len) == 0)
		ns_tcpseg_fix_checksums(&s);
}

/* The segment a record describes, from side's stack on slot k. */
static size_t build_from(struct reader *r, int side, uint8_t *b, int *slot_out, unsigned *mtu)
{
	uint8_t sel = rd8(r), flags = rd8(r), opts = rd8(r);
	int8_t dseq = (int8_t)rd8(r), dack = (int8_t)rd8(r);
	uint16_t win = rd16(r);
	size_t paylen = (size_t)rd8(r) * 6;
	int k = (sel & 7) % NSLOT, v6 = (sel >> 3) & 1;
	struct slot *sl = &slots[k];
	struct spec g;

	memset(&g, 0, sizeof(g));
	*mtu = mtus[(sel >> 4) & 7];
	*slot_out = k;
	g.v6 = v6;
	addrs(side, v6, &g.src, &g.dst);
	g.sport = slot_port(k, side);
	g.dport = slot_port(k, !side);
	g.flags = flags;
	g.opts = opts;
	g.win = win;
	g.urg = (uint16_t)(sel & 0x80 ? paylen / 2 : 0);
	g.mss = (uint16_t)(1200 + 40 * (sel >> 7) + dack);
	if (opts & 64)
		rdbytes(r, g.nsval, sizeof(g.nsval));
	if ((flags & (NS_TCP_SYN | NS_TCP_ACK)) == NS_TCP_SYN && dseq != 0) {
		/* A new connection on the slot: another ISN. */
		sl->isn[side] += (uint32_t)dseq * 0x9E3779B9u;
		sl->nxt[side] = 0;
	}
	g.seq = sl->isn[side] + ((flags & NS_TCP_SYN) ? 0 : 1 + sl->nxt[side] + (uint32_t)dseq);
	g.ack = sl->isn[!side] + 1 + sl->nxt[!side] + (uint32_t)dack;
	rdbytes(r, payload, paylen);
	g.payload = payload;
	g.paylen = paylen;
	return build(b, &g);
}

/* The stream a segment about to leave side's stack takes up. */
static uint32_t stream_len(uint8_t *b, size_t len)
{
	struct ns_tcpseg s;

	if (ns_tcpseg_parse(&s, b, len) != 0 || (ns_tcpseg_flags(&s) & NS_TCP_SYN))
		return 0;
	return (uint32_t)s.paylen + (ns_tcpseg_flags(&s) & NS_TCP_FIN);
}

/* From side's stack through its table, over the wire (maybe altered),
 * into the other table. */
static void send_built(struct reader *r, int side)
{
	unsigned mtu;
	int k;
	size_t len = build_from(r, side, pkt, &k, &mtu);
	uint32_t used = stream_len(pkt, len);

	if (!judge(side, 1, pkt, &len, mtu))
		return;
	slots[k].nxt[side] += used;
	memcpy(wire, pkt, len);
	alter(r, wire, len);
	(void)judge(!side, 0, wire, &len, mtu);
}

static void forge(struct reader *r, int side)
{
	unsigned mtu;
	int k;
	size_t len = build_from(r, side, pkt, &k, &mtu);

	alter(r, pkt, len);
	(void)judge(!side, 0, pkt, &len, mtu);
}

static void replay(struct reader *r, uint8_t how)
{
	const struct ring_pkt *e;
	size_t len;

	if (nring == 0)
		return;
	e = &ring[rd8(r) % nring];
	len = e->len;
	memcpy(wire, e->b, len);
	alter(r, wire, len);
	(void)judge((how & 8) ? e->side : !e->side, 0, wire, &len, mtus[(how >> 4) & 7]);
}

static void raw(struct reader *r, uint8_t how)
{
	size_t len = rd16(r) % (RAW_MAX + 1);

	rdbytes(r, pkt, len);
	(void)judge((how >> 3) & 1, (how >> 4) & 1, pkt, &len, mtus[(how >> 5) & 7]);
}

/* One segment of a scripted exchange, honest and unaltered: 1 if both
 * tables accepted it. */
static int exchange(int k, int v6, int side, uint8_t flags, uint8_t opts, size_t paylen)
{
	struct slot *sl = &slots[k];
	struct spec g;
	size_t len;

	memset(&g, 0, sizeof(g));
	g.v6 = v6;
	addrs(side, v6, &g.src, &g.dst);
	g.sport = slot_port(k, side);
	g.dport = slot_port(k, !side);
	g.flags = flags;
	g.opts = opts;
	g.win = 502;
	g.mss = 1460;
	g.seq = sl->isn[side] + ((flags & NS_TCP_SYN) ? 0 : 1 + sl->nxt[side]);
	g.ack = (flags & NS_TCP_ACK) ? sl->isn[!side] + 1 + sl->nxt[!side] : 0;
	for (size_t i = 0; i < paylen; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	g.payload = payload;
	g.paylen = paylen;
	len = build(pkt, &g);
	if (!judge(side, 1, pkt, &len, 1500))
		return 0;
	sl->nxt[side] += (uint32_t)paylen;
	return judge(!side, 0, pkt, &len, 1500);
}

/*
 * SYN, SYN-ACK and ACK of slot how & 7 as Linux sends them; with bit 4,
 * then data both ways.  Liveness: once the ACK verified, the two tables
 * hold the same keys, so honest data must get through both ways.
 */
static void handshake(uint8_t how)
{
	int k = (how & 7) % NSLOT, v6 = (how >> 3) & 1, init = (k & 1) ? SIDE_P : SIDE_A;

	if (!exchange(k, v6, init, NS_TCP_SYN, 1 | 2 | 4 | 8, 0) ||
	    !exchange(k, v6, !init, NS_TCP_SYN | NS_TCP_ACK, 1 | 2 | 4 | 8, 0) ||
	    !exchange(k, v6, init, NS_TCP_ACK, 4, 0) || !(how & 0x10))
		return;
	if (!exchange(k, v6, init, NS_TCP_ACK | NS_TCP_PSH, 4, (size_t)(how >> 5) * 100 + 1) ||
	    !exchange(k, v6, !init, NS_TCP_ACK | NS_TCP_PSH, 4, 7))
		abort();
}

/* The local stack's reset on a connection whose socket was destroyed. */
static void stack_reset(int side, const struct ns_flow_tuple *tu, unsigned mtu)
{
	uint8_t mac[NS_TCPSEG_OPT_VALUE_LEN];
	struct ns_tcpseg s;
	struct spec g;
	size_t len;

	memset(&g, 0, sizeof(g));
	g.v6 = tu->v6;
	g.src = tu->local;
	g.dst = tu->remote;
	g.sport = tu->lport;
	g.dport = tu->rport;
	g.flags = NS_TCP_RST | NS_TCP_ACK;
	g.opts = 4;
	g.win = 0;
	for (int k = 0; k < NSLOT; k++) {
		if (tu->lport == slot_port(k, side) && tu->rport == slot_port(k, !side)) {
			g.seq = slots[k].isn[side] + 1 + slots[k].nxt[side];
			g.ack = slots[k].isn[!side] + 1 + slots[k].nxt[!side];
		}
	}
	g.payload = payload;
	len = build(pkt, &g);
	/* Longer than the MTU (68 with IPv6, which no stack has): the
	 * table drops it, as any outgoing packet the stack could not send
	 * whole. */
	if (mtu != 0 && len > mtu) {
		if (judge(side, 1, pkt, &len, mtu))
			abort();
		return;
	}
	/* Still keyed: it must leave, sealed. */
	if (!judge(side, 1, pkt, &len, mtu) || ns_tcpseg_parse(&s, pkt, len) != 0 ||
	    ns_tcpseg_get_value(&s, mac) != 1)
		abort();
	(void)judge(!side, 0, pkt, &len, mtu);
}

/* The local stack's reset on a clear connection whose socket was
 * destroyed: it passes as it is (unless longer than the MTU). */
static void clear_reset(int side, const struct ns_flow_tuple *tu, unsigned mtu)
{
	uint64_t clear0 = sides[side].t.count[NS_FC_CLEAR];
	struct spec g;
	size_t len;
	int passed;

	memset(&g, 0, sizeof(g));
	g.v6 = tu->v6;
	g.src = tu->local;
	g.dst = tu->remote;
	g.sport = tu->lport;
	g.dport = tu->rport;
	g.flags = NS_TCP_RST | NS_TCP_ACK;
	g.opts = 4;
	for (int k = 0; k < NSLOT; k++) {
		if (tu->lport == slot_port(k, side) && tu->rport == slot_port(k, !side)) {
			g.seq = slots[k].isn[side] + 1 + slots[k].nxt[side];
			g.ack = slots[k].isn[!side] + 1 + slots[k].nxt[!side];
		}
	}
	g.payload = payload;
	len = build(pkt, &g);
	passed = judge(side, 1, pkt, &len, mtu);
	if (passed != (mtu == 0 || len <= mtu) || (passed && sides[side].t.count[NS_FC_CLEAR] != clear0 + 1))
		abort();
	if (passed)
		(void)judge(!side, 0, pkt, &len, mtu);
}

static void kill_failing(uint8_t how)
{
	int side = (how >> 3) & 1;
	struct ns_flow_table *t = &sides[side].t;
	struct ns_flow_tuple tu;

	for (;;) {
		uint64_t ended = t->count[NS_FC_CLEAR_ENDED];
		if (!ns_flow_next_kill(t, &tu))
			break;
		if (t->count[NS_FC_CLEAR_ENDED] != ended)
			clear_reset(side, &tu, mtus[(how >> 4) & 7]);
		else
			stack_reset(side, &tu, mtus[(how >> 4) & 7]);
	}
	if (t->nkill != 0 || t->nend_waiting != 0)
		abort(); /* none left behind */
	check_table(&sides[side]);
}

/* A table's policy changes, as the control command does it. */
static void set_policy(uint8_t how)
{
	struct side *sd = &sides[(how >> 3) & 1];
	enum ns_policy pol = (how & 0x10) ? NS_POLICY_OPPORTUNISTIC : NS_POLICY_REQUIRED;
	int n = ns_flow_set_policy(&sd->t, pol);

	if (sd->t.policy != pol || n < 0 || (uint32_t)n > sd->t.used ||
	    (pol == NS_POLICY_OPPORTUNISTIC && n != 0))
		abort();
	check_table(sd);
}

/* A reload of the network keys (a rotation's steps, in any order). */
static void set_keys(uint8_t how)
{
	static const uint8_t next_key[NS_KEY_LEN] = { 0x6e, 0x65, 0x78, 0x74 };
	struct side *sd = &sides[(how >> 3) & 1];
	int which = ((how >> 4) & 1) | ((how >> 5) & 2);
	uint8_t set[2 * NS_KEY_LEN];
	size_t n = which == 0 || which == 3 ? 1 : 2;
	char err[256];

	memcpy(set, which == 1 || which == 3 ? next_key : network_key, NS_KEY_LEN);
	memcpy(set + NS_KEY_LEN, which == 1 ? network_key : next_key, NS_KEY_LEN);
	if (ns_flow_set_keys(&sd->t, set, n, err, sizeof(err)) != 0 || sd->t.nnetkeys != n)
		abort(); /* K and K2 have distinct ids */
	check_table(sd);
}

static void clock_tick(uint8_t how, uint8_t budget)
{
	now += steps[how & 7];
	for (int i = 0; i < 2; i++)
		sides[i].t.wall_s = now / 1000;
	if (how & 8)
		ns_flow_expire(&sides[(how >> 4) & 1].t, now, budget);
	for (int i = 0; i < 2; i++)
		check_table(&sides[i]);
}

static void setup(void)
{
	for (int i = 0; i < 2; i++) {
		struct side *sd = &sides[i];

		memset(sd, 0, sizeof(*sd));
		if (ns_flow_init(&sd->t, MAX_FLOWS, network_key) != 0)
			abort();
		/* Fixed rather than random: a crash must reproduce. */
		memset(sd->t.secret, 0x40 + i, sizeof(sd->t.secret));
		sd->t.hash_seed = 0x1234567890abcdefULL * (uint64_t)(i + 1);
		sd->t.wall_s = 1000;
	}
	/* A remembers sealed peers, P does not. */
	if (ns_peers_init(&sides[SIDE_A].peers, 8) != 0)
		abort();
	sides[SIDE_A].has_peers = 1;
	sides[SIDE_A].t.peers = &sides[SIDE_A].peers;
	for (int k = 0; k < NSLOT; k++) {
		/* Some streams start just before the 32-bit wrap. */
		slots[k].isn[SIDE_A] = (k & 2) ? 0xffffff00u + (uint32_t)k : 1000u * (uint32_t)(k + 1);
		slots[k].isn[SIDE_P] = (k & 4) ? 0xfffffff0u : 77777u * (uint32_t)(k + 1);
		slots[k].nxt[SIDE_A] = slots[k].nxt[SIDE_P] = 0;
	}
	nlog = 0;
	log_full = 0;
	nring = ring_next = 0;
	now = 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };

	setup();
	while (r.n > 0) {
		uint8_t op = rd8(&r);

		switch (op & 7) {
		case 0:
			raw(&r, op);
			break;
		case 1:
		case 2:
			send_built(&r, (op >> 3) & 1);
			break;
		case 3:
			forge(&r, (op >> 3) & 1);
			break;
		case 4:
			replay(&r, op);
			break;
		case 5:
			handshake(rd8(&r));
			break;
		case 6:
			if ((op & 0xa0) == 0xa0)
				set_keys(op);
			else if (op & 0x80)
				set_policy(op);
			else
				kill_failing(op);
			break;
		default:
			clock_tick(op >> 3, rd8(&r));
			break;
		}
	}
	for (int i = 0; i < 2; i++)
		ns_flow_free(&sides[i].t);
	ns_peers_free(&sides[SIDE_A].peers);
	return 0;
}
