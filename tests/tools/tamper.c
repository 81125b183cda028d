/*
 * tamper.c: an on-path attacker for nodeseal's attack tests.
 *
 * Runs on a router, behind
 *
 *     iptables -A FORWARD -p tcp -j NFQUEUE --queue-num 0
 *
 * and gives every forwarded TCP segment a verdict.  Most pass untouched.  The
 * test arms one attack at a time on stdin; it applies to the next TCP
 * connection to the protected port (the next SYN), fires once in that
 * connection, and the tool says on stdout what it did, so that the test can
 * count attacks actually applied.  IP and TCP checksums are recomputed for
 * every segment it changes.
 *
 * Build:  cc -O2 -o tamper tamper.c -lnetfilter_queue -lmnl
 * Run:    tamper [-q QUEUE] [-p PORT]          (root, in the router's netns)
 *
 * Stream offsets count payload bytes from the connection's first payload
 * byte in one direction: c2s (from the side that sent the SYN) or s2c.
 * An attack fires at the first segment of its direction that reaches past
 * OFF (so a segment that contains OFF, or the first one after it).
 *
 * Commands (stdin, one per line):
 *   arm TID KIND DIR OFF ARG   KIND: none flip rand replay xreplay inject trunc drop
 *       flip     flip bit ARG (0-7) of the byte at OFF
 *       rand     overwrite ARG bytes from OFF (to the segment's end at most)
 *                with random bytes (the first one always differs)
 *       replay   replace the segment's payload with the bytes of the previous
 *                segment of the same connection and direction (same length,
 *                same sequence numbers; fewer bytes if less came before)
 *       xreplay  replace the segment's payload with the bytes at the same
 *                stream offsets of another (the most recent) connection
 *       inject   write attacker bytes at OFF: ARG 0 a forged DATA record
 *                header (type 1, length 16, zero tag) and body, 1 a forged
 *                CLOSE record, 2 plain text
 *       trunc    cut the stream at OFF: ARG 0 ends it with a FIN there and
 *                drops the sender's later segments (data and FIN) in that
 *                direction; ARG 1 sends the receiver a RST instead of the
 *                segment that holds OFF (cut at that segment's start), after
 *                which the sender's segments pass and meet the receiver's
 *                RST; ARG 2 is ARG 1 but drops them (a black hole: the sender
 *                learns only from its own timeouts)
 *       drop     drop the segment once (TCP retransmits it)
 *       forge    send the receiver, from the router, a segment of its own
 *                before this one: a copy of this segment's headers (its
 *                options too) with plain text as payload; ARG 0 at this
 *                segment's sequence number (it arrives first), ARG 1 at the
 *                sequence number just past it (ahead of the stream)
 *   path DUP REORDER   from now on, for every segment with payload of the
 *                port's connections (both directions): with probability
 *                DUP % a copy is sent again, from the router, after 0-3 later
 *                segments (or 30 ms); with probability REORDER % the segment
 *                is held and released after 1-3 later segments (or 30 ms).
 *                "path 0 0" stops it.  Loss: drop with iptables
 *                -m statistic --mode random before the NFQUEUE rule.
 *   pathstats    prints "pathstats dups=N held=N"
 *   downgrade MODE   a downgrade attacker, for every connection of the port
 *                (both directions, no arming; tests/integration/test_downgrade.py):
 *       off      none (the default)
 *       rst      proxy mode: a connection whose first payload segment in
 *                either direction (each judged on its own) is not a plain
 *                MultiChain header (bytes 4..15 "version" NUL-padded) is
 *                killed: that segment goes on as a
 *                RST|ACK at its own sequence number (payload removed), the
 *                sender gets a RST|ACK from the router at the sequence number
 *                it acknowledged, and every later segment of the connection,
 *                both ways, is dropped.  A first segment shorter than 16
 *                bytes that agrees with the header so far passes and the
 *                next one is judged with it.  A direction whose first payload
 *                went by before "rst" is left alone.
 *       strip    packet mode: the nodeseal option (kind 253, ExID 0x4E53,
 *                docs/PROTOCOL.md "The option") is overwritten with NOPs in
 *                every SYN and SYN-ACK of the port, checksums fixed
 *                prints "downgrade mode=MODE"
 *   dgstats      prints "dgstats mode=M killed=N plain=N stripped=N blackholed=N"
 *                (connections killed, directions judged plain, SYN/SYN-ACKs
 *                stripped, segments of killed connections dropped); each
 *                kill and strip is also logged on stderr
 *   end TID      prints "end TID ..." with what the connection saw
 *   ping         prints "pong"
 *   quit         exits (so does EOF on stdin)
 *
 * Output (stdout, one line per event):
 *   ready
 *   armed TID
 *   conn TID CLIENT > SERVER
 *   applied TID kind=K dir=D off=N seg=START+LEN changed=N [detail]
 *   end TID conns=N applied=N c2s=BYTES s2c=BYTES truncdrop=N tuple=CLIENT>SERVER
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAXCONN 96
#define HIST (64 * 1024)   /* stream bytes remembered per direction */
#define MAXSEGS 1024       /* segment starts remembered per direction */

enum kind { K_NONE, K_FLIP, K_RAND, K_REPLAY, K_XREPLAY, K_INJECT, K_TRUNC, K_DROP, K_FORGE,
            K_COUNT };
static const char *const kind_names[K_COUNT] = { "none", "flip", "rand", "replay", "xreplay",
                                                 "inject", "trunc", "drop", "forge" };
static const char *const dir_names[2] = { "c2s", "s2c" };

struct attack {
	int kind, dir, arg;
	uint32_t off;
	long tid;
};

struct dirst {
	uint32_t isn;
	int have_isn;
	uint8_t hist[HIST];
	uint8_t known[HIST / 8];
	uint32_t seg[MAXSEGS];
	int nseg;
	uint64_t bytes;
};

struct conn {
	int used;
	uint64_t gen;
	uint32_t cip, sip; /* network order */
	uint16_t cport, sport;
	long tid;
	struct attack atk;
	int fired, applied, cutting;
	uint32_t cut;
	uint64_t truncdrop;
	int dg;              /* downgrade: DG_KILLED, or DG_NEW */
	int dgd[2];          /* downgrade: each direction's first payload, DG_* */
	struct dirst d[2];
};

/* A connection as the downgrade attacker sees it. */
enum { DG_NEW, DG_PENDING, DG_PLAIN, DG_KILLED, DG_SEEN };
enum { DGM_OFF, DGM_RST, DGM_STRIP };
static const char *const dg_mode_names[3] = { "off", "rst", "strip" };
static int dg_mode;
static uint64_t dg_killed, dg_plain, dg_stripped, dg_blackholed;
static const uint8_t mc_version_cmd[12] = { 'v', 'e', 'r', 's', 'i', 'o', 'n', 0, 0, 0, 0, 0 };

static struct conn *conns[MAXCONN];
static uint64_t next_gen = 1;
static struct attack pending;
static int armed;
static uint16_t port = 7447;
static unsigned queue_num;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ------------------------------------------------------------ path impairment */

#define HELD_MAX 256
#define HELD_MS 30

/* A segment held back (its verdict not given yet) or a copy to send again. */
struct held {
	int used, is_copy;
	uint32_t id;          /* packet id, for a held verdict */
	int after;            /* released after this many more segments */
	int64_t due_ms;       /* or at this time */
	uint32_t len;
	uint8_t *pkt;         /* a copy's bytes */
};

static struct held held[HELD_MAX];
static int path_dup, path_reorder;   /* percent */
static uint64_t n_dups, n_held;
static int raw_fd = -1;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends an IPv4 packet from this host as it is (the router's own output:
 * not forwarded, so not queued again). */
static void raw_send(const uint8_t *ip, uint32_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET };

	memcpy(&to.sin_addr, ip + 16, 4);
	if (sendto(raw_fd, ip, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		say("error raw send: %s", strerror(errno));
}

static struct held *held_slot(void)
{
	for (int i = 0; i < HELD_MAX; i++)
		if (!held[i].used)
			return &held[i];
	return NULL;
}

static void addr_text(uint32_t ip, uint16_t p, char *out, size_t cap)
{
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip, a, sizeof(a));
	snprintf(out, cap, "%s:%u", a, ntohs(p));
}

/* ------------------------------------------------------------ checksums */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void fix_checksums(uint8_t *ip, size_t ihl, size_t tot)
{
	uint8_t *tcp = ip + ihl;
	size_t tcplen = tot - ihl;
	uint32_t s = 0;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = fold(sum16(ip, ihl, 0));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;

	tcp[16] = tcp[17] = 0;
	s = sum16(ip + 12, 8, 0);     /* source and destination address */
	s += 6;                        /* protocol */
	s += (uint32_t)tcplen;
	s = sum16(tcp, tcplen, s);
	c = fold(s);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
}

/* ------------------------------------------------------------ connections */

static struct conn *conn_new(uint32_t cip, uint16_t cport, uint32_t sip, uint16_t sport)
{
	int slot = -1;
	uint64_t oldest = UINT64_MAX;

	for (int i = 0; i < MAXCONN; i++) {
		if (conns[i] == NULL || !conns[i]->used) {
			slot = i;
			break;
		}
		if (conns[i]->cip == cip && conns[i]->cport == cport && conns[i]->sip == sip &&
		    conns[i]->sport == sport) {
			slot = i; /* the same four-tuple again: a new connection */
			break;
		}
		if (conns[i]->gen < oldest) {
			oldest = conns[i]->gen;
			slot = i;
		}
	}
	if (conns[slot] == NULL && (conns[slot] = malloc(sizeof(struct conn))) == NULL) {
		perror("tamper: malloc");
		exit(1);
	}
	struct conn *c = conns[slot];
	memset(c, 0, sizeof(*c));
	c->used = 1;
	c->gen = next_gen++;
	c->cip = cip;
	c->cport = cport;
	c->sip = sip;
	c->sport = sport;
	c->tid = -1;
	return c;
}

static struct conn *conn_find(uint32_t saddr, uint16_t sp, uint32_t daddr, uint16_t dp, int *dir)
{
	for (int i = 0; i < MAXCONN; i++) {
		struct conn *c = conns[i];
		if (c == NULL || !c->used)
			continue;
		if (c->cip == saddr && c->cport == sp && c->sip == daddr && c->sport == dp) {
			*dir = 0;
			return c;
		}
		if (c->sip == saddr && c->sport == sp && c->cip == daddr && c->cport == dp) {
			*dir = 1;
			return c;
		}
	}
	return NULL;
}

static int known(const struct dirst *d, uint32_t off)
{
	return off < HIST && (d->known[off / 8] >> (off % 8) & 1);
}

/* Remembers bytes as they were forwarded. */
static void remember(struct dirst *d, uint32_t off, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n && off + i < HIST; i++) {
		d->hist[off + i] = p[i];
		d->known[(off + i) / 8] |= (uint8_t)(1 << ((off + i) % 8));
	}
	d->bytes += n;
	if (n > 0) {
		for (int i = 0; i < d->nseg; i++)
			if (d->seg[i] == off)
				return;
		if (d->nseg < MAXSEGS)
			d->seg[d->nseg++] = off;
	}
}

/* How many bytes from off on are known in d, up to n. */
static uint32_t known_run(const struct dirst *d, uint32_t off, uint32_t n)
{
	uint32_t k = 0;
	while (k < n && known(d, off + k))
		k++;
	return k;
}

static uint32_t copy_changed(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	uint32_t changed = 0;
	for (uint32_t i = 0; i < n; i++) {
		changed += dst[i] != src[i];
		dst[i] = src[i];
	}
	return changed;
}

/* ------------------------------------------------------------ attacks */

enum { V_ACCEPT, V_MODIFIED, V_DROP, V_HOLD };

/* The packet being decided (for attacks that copy its headers). */
static uint8_t *cur_ip;
static size_t cur_ihl, cur_thl;

/* Forged record pieces an attacker without keys can write. */
static const uint8_t forged_data[] = {
	0x01, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	'F', 'O', 'R', 'G', 'E', 'D', '-', 'B', 'Y', '-', 'A', 'T', 'T', 'A', 'C', 'K',
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static const uint8_t forged_close[] = {
	0x02, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static const char forged_text[] = "ATTACKER-INJECTED-PLAINTEXT\n";

static void applied(struct conn *c, uint32_t at, uint32_t seg, uint32_t plen, uint32_t changed,
                    const char *detail)
{
	c->fired = 1;
	c->applied++;
	say("applied %ld kind=%s dir=%s off=%u seg=%u+%u changed=%u%s%s", c->tid,
	    kind_names[c->atk.kind], dir_names[c->atk.dir], at, seg, plen, changed,
	    detail[0] ? " " : "", detail);
}

/*
 * Applies c's attack to one segment of direction dir at stream offset off.
 * May change the payload length (*plen) and the TCP flags.
 */
static int attack(struct conn *c, int dir, uint32_t off, uint8_t *tcp, uint8_t *pay,
                  uint32_t *plen)
{
	const struct attack *a = &c->atk;
	uint32_t n = *plen, pos, at, k, changed = 0;
	char detail[160] = "";

	/* A cut stream stays cut: the sender's later bytes never arrive. */
	if (c->cutting && dir == a->dir) {
		int fin = tcp[13] & 0x01;
		if (n == 0 && !fin)
			return V_ACCEPT;
		if (off + n <= c->cut && !fin)
			return V_ACCEPT;
		if (a->arg == 0 && off < c->cut) {
			*plen = c->cut - off;
			tcp[13] |= 0x01;
			return V_MODIFIED;
		}
		c->truncdrop++;
		return V_DROP;
	}
	if (c->fired || a->kind == K_NONE || dir != a->dir || n == 0 || off + n <= a->off)
		return V_ACCEPT;
	at = a->off > off ? a->off : off;
	pos = at - off;
	switch (a->kind) {
	case K_FLIP:
		pay[pos] ^= (uint8_t)(1u << (a->arg & 7));
		snprintf(detail, sizeof(detail), "bit=%d", a->arg & 7);
		applied(c, at, off, n, 1, detail);
		return V_MODIFIED;
	case K_RAND:
		k = (uint32_t)(a->arg > 0 ? a->arg : 1);
		if (k > n - pos)
			k = n - pos;
		for (uint32_t i = 0; i < k; i++) {
			uint8_t r = (uint8_t)rng();
			if (i == 0 && r == pay[pos])
				r ^= 0x5a;
			changed += r != pay[pos + i];
			pay[pos + i] = r;
		}
		snprintf(detail, sizeof(detail), "len=%u", k);
		applied(c, at, off, n, changed, detail);
		return V_MODIFIED;
	case K_REPLAY: {
		/* the previous segment: the latest start before this one */
		struct dirst *d = &c->d[dir];
		int64_t best = -1;
		for (int i = 0; i < d->nseg; i++)
			if (d->seg[i] < off && (int64_t)d->seg[i] > best)
				best = d->seg[i];
		if (best < 0)
			return V_ACCEPT; /* nothing earlier yet: wait for a later segment */
		k = off - (uint32_t)best < n ? off - (uint32_t)best : n;
		k = known_run(d, (uint32_t)best, k);
		if (k == 0)
			return V_ACCEPT;
		changed = copy_changed(pay, d->hist + best, k);
		if (changed == 0)
			return V_ACCEPT;
		snprintf(detail, sizeof(detail), "src=%lld len=%u", (long long)best, k);
		applied(c, off, off, n, changed, detail);
		return V_MODIFIED;
	}
	case K_XREPLAY: {
		struct conn *src = NULL;
		uint32_t best = 0;
		char s1[32], s2[32];
		for (int i = 0; i < MAXCONN; i++) {
			struct conn *o = conns[i];
			if (o == NULL || !o->used || o == c || o->sport != c->sport)
				continue;
			k = known_run(&o->d[dir], off, n);
			if (k > best || (k == best && k > 0 && o->gen > src->gen)) {
				best = k;
				src = o;
			}
		}
		if (src == NULL || best == 0)
			return V_ACCEPT;
		changed = copy_changed(pay, src->d[dir].hist + off, best);
		if (changed == 0)
			return V_ACCEPT;
		addr_text(src->cip, src->cport, s1, sizeof(s1));
		addr_text(src->sip, src->sport, s2, sizeof(s2));
		snprintf(detail, sizeof(detail), "src_tid=%ld src=%s>%s len=%u", src->tid, s1, s2,
		         best);
		applied(c, off, off, n, changed, detail);
		return V_MODIFIED;
	}
	case K_INJECT: {
		const uint8_t *p = a->arg == 1 ? forged_close
		                   : a->arg == 2 ? (const uint8_t *)forged_text : forged_data;
		size_t plen2 = a->arg == 1 ? sizeof(forged_close)
		               : a->arg == 2 ? sizeof(forged_text) - 1 : sizeof(forged_data);
		k = (uint32_t)plen2 < n - pos ? (uint32_t)plen2 : n - pos;
		changed = copy_changed(pay + pos, p, k);
		if (changed == 0)
			return V_ACCEPT;
		snprintf(detail, sizeof(detail), "what=%s len=%u",
		         a->arg == 1 ? "close-record" : a->arg == 2 ? "plaintext" : "data-record", k);
		applied(c, at, off, n, changed, detail);
		return V_MODIFIED;
	}
	case K_TRUNC:
		c->cutting = 1;
		if (a->arg == 0) {
			c->cut = at;
			*plen = pos;
			tcp[13] |= 0x01; /* FIN */
			snprintf(detail, sizeof(detail), "how=fin cut=%u", at);
			applied(c, at, off, n, n - pos, detail);
		} else {
			/* The receiver's socket is gone after this: the sender's
			 * later segments may pass, its kernel answers them with a
			 * RST (dropping them too would only leave the sender
			 * waiting for its TCP timeout, which says nothing about
			 * nodeseal: "trunc ... 2" does that). */
			c->cut = off;
			c->cutting = a->arg == 2;
			*plen = 0;
			tcp[13] = 0x14; /* RST|ACK */
			snprintf(detail, sizeof(detail), "how=rst%s cut=%u",
			         a->arg == 2 ? "+blackhole" : "", off);
			applied(c, off, off, n, n, detail);
		}
		return V_MODIFIED;
	case K_DROP:
		applied(c, off, off, n, n, "");
		return V_DROP;
	case K_FORGE: {
		static uint8_t f[65536];
		size_t hl = cur_ihl + cur_thl, tot;
		uint32_t seq;
		memcpy(f, cur_ip, hl);
		for (uint32_t i = 0; i < n; i++)
			f[hl + i] = (uint8_t)forged_text[i % (sizeof(forged_text) - 1)];
		seq = (uint32_t)f[cur_ihl + 4] << 24 | (uint32_t)f[cur_ihl + 5] << 16 |
		      (uint32_t)f[cur_ihl + 6] << 8 | f[cur_ihl + 7];
		if (a->arg == 1)
			seq += n;
		for (int i = 0; i < 4; i++)
			f[cur_ihl + 4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		tot = hl + n;
		f[2] = (uint8_t)(tot >> 8);
		f[3] = (uint8_t)tot;
		fix_checksums(f, cur_ihl, tot);
		raw_send(f, (uint32_t)tot);
		snprintf(detail, sizeof(detail), "what=plaintext at=%s len=%u",
		         a->arg == 1 ? "ahead" : "same", n);
		applied(c, off, off, n, n, detail);
		return V_ACCEPT;
	}
	}
	return V_ACCEPT;
}

static uint64_t path_rng_state = 1;
static struct held *hold_next;

static uint32_t path_rng(void)
{
	uint64_t x = path_rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	path_rng_state = x;
	return (uint32_t)(x >> 32);
}

/* The path's own faults for one unmodified segment: V_HOLD to hold it
 * back, or a copy to send again later. */
static int impair(const uint8_t *ip, uint32_t len)
{
	struct held *h;

	if (path_reorder > 0 && (int)(path_rng() % 100) < path_reorder) {
		if ((h = held_slot()) == NULL)
			return V_ACCEPT;
		h->is_copy = 0;
		h->after = 1 + (int)(path_rng() % 3);
		hold_next = h; /* the caller fills in the packet id */
		return V_HOLD;
	}
	if (path_dup > 0 && (int)(path_rng() % 100) < path_dup && (h = held_slot()) != NULL &&
	    (h->pkt = malloc(len)) != NULL) {
		memcpy(h->pkt, ip, len);
		h->len = len;
		h->is_copy = 1;
		h->after = (int)(path_rng() % 4);
		h->due_ms = now_ms() + HELD_MS;
		h->used = 1;
		n_dups++;
	}
	return V_ACCEPT;
}

/* ------------------------------------------------------------ downgrade */

/* Overwrites every nodeseal option (kind 253, ExID 0x4E53) in the options of
 * tcp (header length thl) with NOPs; how many. */
static int strip_ns_option(uint8_t *tcp, size_t thl)
{
	size_t i = 20;
	int n = 0;

	while (i < thl) {
		uint8_t kind = tcp[i], olen;
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= thl || (olen = tcp[i + 1]) < 2 || i + olen > thl)
			break; /* malformed: leave the rest */
		if (kind == 253 && olen >= 4 && tcp[i + 2] == 0x4E && tcp[i + 3] == 0x53) {
			memset(tcp + i, 1, olen);
			n++;
		}
		i += olen;
	}
	return n;
}

/* Sends from the router a RST|ACK as if from (saddr, sp) to (daddr, dp). */
static void send_rst(uint32_t saddr, uint16_t sp, uint32_t daddr, uint16_t dp, uint32_t seq,
                     uint32_t ack)
{
	uint8_t p[40] = { 0 };

	p[0] = 0x45;
	p[3] = 40;
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	memcpy(p + 12, &saddr, 4);
	memcpy(p + 16, &daddr, 4);
	memcpy(p + 20, &sp, 2);
	memcpy(p + 22, &dp, 2);
	for (int i = 0; i < 4; i++) {
		p[24 + i] = (uint8_t)(seq >> (24 - 8 * i));
		p[28 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	p[32] = 5 << 4;
	p[33] = 0x14; /* RST|ACK */
	fix_checksums(p, 20, 40);
	raw_send(p, 40);
}

/*
 * The "rst" downgrade attacker on one segment with payload of a connection
 * of the port: V_ACCEPT, V_DROP (a killed connection), or V_MODIFIED (this
 * segment made a RST: the kill).  Each direction's first payload is judged
 * on its own (an application may answer before it heard anything): a plain
 * MultiChain peer starts both with a header.
 */
static int dg_proxy(struct conn *c, int dir, uint32_t off, uint8_t *ip, uint8_t *tcp,
                    uint32_t *plen)
{
	const uint8_t *pay = tcp + (size_t)(tcp[12] >> 4) * 4;
	int have = 0, bad = 0;
	char s1[32], s2[32], hex[40];

	if (c->dg == DG_KILLED) {
		dg_blackholed++;
		return V_DROP;
	}
	if (*plen == 0 || c->dgd[dir] == DG_PLAIN || c->dgd[dir] == DG_SEEN)
		return V_ACCEPT;
	if (dg_mode != DGM_RST) {
		/* this direction's first payload goes by unjudged: never judged later */
		c->dgd[dir] = DG_SEEN;
		return V_ACCEPT;
	}
	c->dgd[dir] = DG_PENDING;
	if (off >= 16 && known_run(&c->d[dir], 0, 16) < 16)
		bad = 1; /* its head went by unseen: judged bad */
	/* the first 16 bytes as far as known: earlier segments, then this one */
	for (uint32_t i = 0; i < 16 && !bad; i++) {
		uint8_t b;
		if (i >= off && i < off + *plen)
			b = pay[i - off];
		else if (known(&c->d[dir], i))
			b = c->d[dir].hist[i];
		else
			continue;
		have++;
		if (i >= 4 && b != mc_version_cmd[i - 4])
			bad = 1;
	}
	if (!bad) {
		if (have == 16) {
			c->dgd[dir] = DG_PLAIN;
			dg_plain++;
		}
		return V_ACCEPT;
	}
	/* the kill: this segment goes on as a RST, the sender gets one too */
	uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 |
	               tcp[7];
	uint32_t ack = (uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 | (uint32_t)tcp[10] << 8 |
	               tcp[11];
	uint32_t saddr, daddr, n = *plen < 16 ? *plen : 16;
	uint16_t sp, dp;
	memcpy(&saddr, ip + 12, 4);
	memcpy(&daddr, ip + 16, 4);
	memcpy(&sp, tcp, 2);
	memcpy(&dp, tcp + 2, 2);
	if (tcp[13] & 0x10)
		send_rst(daddr, dp, saddr, sp, ack, seq + *plen);
	for (uint32_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", pay[i]);
	hex[2 * n] = '\0';
	addr_text(saddr, sp, s1, sizeof(s1));
	addr_text(daddr, dp, s2, sizeof(s2));
	fprintf(stderr, "downgrade: killed %s > %s (%s) off=%u len=%u first=%s\n", s1, s2,
	        dir_names[dir], off, *plen, hex);
	c->dg = DG_KILLED;
	dg_killed++;
	*plen = 0;
	tcp[13] = 0x14; /* RST|ACK */
	return V_MODIFIED;
}

/* Set by handle_tcp when it stripped a SYN's option in place. */
static int syn_stripped;

/* Decides one packet; may rewrite it in place (*len is its new length). */
static int handle_tcp(uint8_t *ip, uint32_t *len)
{
	size_t ihl, thl, tot;
	uint8_t *tcp, flags;
	uint32_t saddr, daddr, seq, plen, off;
	uint16_t sp, dp;
	struct conn *c;
	int dir, v;

	if (*len < 20 || (ip[0] >> 4) != 4 || ip[9] != IPPROTO_TCP)
		return V_ACCEPT;
	ihl = (size_t)(ip[0] & 15) * 4;
	tot = (size_t)ip[2] << 8 | ip[3];
	if (ihl < 20 || tot > *len || tot < ihl + 20 || ((ip[6] & 0x3f) | ip[7]) != 0)
		return V_ACCEPT; /* malformed or a fragment: not ours */
	tcp = ip + ihl;
	thl = (size_t)(tcp[12] >> 4) * 4;
	if (thl < 20 || ihl + thl > tot)
		return V_ACCEPT;
	memcpy(&saddr, ip + 12, 4);
	memcpy(&daddr, ip + 16, 4);
	memcpy(&sp, tcp, 2);
	memcpy(&dp, tcp + 2, 2);
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	flags = tcp[13];
	plen = (uint32_t)(tot - ihl - thl);

	if (dg_mode == DGM_STRIP && (flags & 0x02) && (ntohs(dp) == port || ntohs(sp) == port)) {
		int n = strip_ns_option(tcp, thl);
		if (n > 0) {
			char s1[32], s2[32];
			fix_checksums(ip, ihl, tot);
			dg_stripped++;
			addr_text(saddr, sp, s1, sizeof(s1));
			addr_text(daddr, dp, s2, sizeof(s2));
			fprintf(stderr, "downgrade: stripped %s %s > %s\n",
			        flags & 0x10 ? "SYN-ACK" : "SYN", s1, s2);
			syn_stripped = 1;
		}
	}

	if ((flags & 0x12) == 0x02) { /* SYN: a new connection */
		char s1[32], s2[32];
		c = conn_new(saddr, sp, daddr, dp);
		c->d[0].isn = seq;
		c->d[0].have_isn = 1;
		if (armed && ntohs(dp) == port) {
			c->atk = pending;
			c->tid = pending.tid;
			armed = 0;
			addr_text(saddr, sp, s1, sizeof(s1));
			addr_text(daddr, dp, s2, sizeof(s2));
			say("conn %ld %s > %s", c->tid, s1, s2);
		}
		return V_ACCEPT;
	}
	c = conn_find(saddr, sp, daddr, dp, &dir);
	if (c == NULL)
		return V_ACCEPT;
	if ((flags & 0x12) == 0x12 && dir == 1) {
		c->d[1].isn = seq;
		c->d[1].have_isn = 1;
		return V_ACCEPT;
	}
	if (!c->d[dir].have_isn)
		return V_ACCEPT;
	off = seq - (c->d[dir].isn + 1);
	if (off > 0x7fffffffu)
		return V_ACCEPT; /* before the stream: not ours */
	cur_ip = ip;
	cur_ihl = ihl;
	cur_thl = thl;
	v = c->sport == htons(port) ? dg_proxy(c, dir, off, ip, tcp, &plen) : V_ACCEPT;
	if (v == V_ACCEPT)
		v = attack(c, dir, off, tcp, tcp + thl, &plen);
	if (v == V_DROP)
		return V_DROP;
	remember(&c->d[dir], off, tcp + thl, plen);
	if (v == V_ACCEPT && plen > 0 && c->sport == htons(port))
		v = impair(ip, (uint32_t)tot);
	if (v == V_MODIFIED) {
		tot = ihl + thl + plen;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		fix_checksums(ip, ihl, tot);
		*len = (uint32_t)tot;
	}
	return v;
}

static int handle(uint8_t *ip, uint32_t *len)
{
	int v;

	syn_stripped = 0;
	v = handle_tcp(ip, len);
	return v == V_ACCEPT && syn_stripped ? V_MODIFIED : v;
}

/* ------------------------------------------------------------ netlink */

static struct mnl_socket *nl;
static char *nlbuf;
static size_t nlbuf_size;

static void nl_send(struct nlmsghdr *nlh)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		perror("tamper: mnl_socket_sendto");
		exit(1);
	}
}

static void verdict(uint32_t id, int v, const uint8_t *pkt, uint32_t len)
{
	static char vbuf[8192 + 65536]; /* a verdict and the packet */
	struct nlmsghdr *out = nfq_nlmsg_put(vbuf, NFQNL_MSG_VERDICT, queue_num);

	nfq_nlmsg_verdict_put(out, (int)id, v == V_DROP ? NF_DROP : NF_ACCEPT);
	if (v == V_MODIFIED)
		nfq_nlmsg_verdict_put_pkt(out, pkt, len);
	nl_send(out);
}

static void release(struct held *h)
{
	if (h->is_copy) {
		raw_send(h->pkt, h->len);
		free(h->pkt);
	} else {
		verdict(h->id, V_ACCEPT, NULL, 0);
	}
	memset(h, 0, sizeof(*h));
}

/* Releases what is due: after one more segment went by (counted), or on
 * time.  Returns how many are still held. */
static int held_tick(int counted)
{
	int64_t now = now_ms();
	int left = 0;

	for (int i = 0; i < HELD_MAX; i++) {
		struct held *h = &held[i];
		if (!h->used)
			continue;
		if ((counted && --h->after <= 0) || now >= h->due_ms || (!path_dup && !path_reorder))
			release(h);
		else
			left++;
	}
	return left;
}

static int queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	struct nfqnl_msg_packet_hdr *ph;
	static uint8_t pkt[65536 + 64];
	uint32_t id, len = 0;
	int v = V_ACCEPT;

	(void)data;
	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL)
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (attr[NFQA_PAYLOAD] != NULL) {
		len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
		if (len > sizeof(pkt))
			len = 0; /* cannot happen with copy range 0xffff */
		memcpy(pkt, mnl_attr_get_payload(attr[NFQA_PAYLOAD]), len);
		if (len > 0)
			v = handle(pkt, &len);
	}
	held_tick(1);
	if (v == V_HOLD) {
		hold_next->used = 1;
		hold_next->id = id;
		hold_next->due_ms = now_ms() + HELD_MS;
		n_held++;
		return MNL_CB_OK;
	}
	verdict(id, v, pkt, len);
	return MNL_CB_OK;
}

/* ------------------------------------------------------------ commands */

static int parse_kind(const char *s)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -1;
}

static void command(char *line)
{
	char word[16], kind[16], dir[8];
	long tid;
	unsigned long off;
	int arg;

	if (sscanf(line, "%15s", word) != 1)
		return;
	if (strcmp(word, "quit") == 0) {
		say("bye");
		exit(0);
	} else if (strcmp(word, "ping") == 0) {
		say("pong");
	} else if (strcmp(word, "arm") == 0) {
		if (sscanf(line, "arm %ld %15s %7s %lu %d", &tid, kind, dir, &off, &arg) != 5 ||
		    parse_kind(kind) < 0 || (strcmp(dir, "c2s") != 0 && strcmp(dir, "s2c") != 0)) {
			say("error bad arm: %s", line);
			return;
		}
		pending.tid = tid;
		pending.kind = parse_kind(kind);
		pending.dir = strcmp(dir, "s2c") == 0;
		pending.off = (uint32_t)off;
		pending.arg = arg;
		rng_state = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)tid * 0x2545f4914f6cdd1dULL);
		if (rng_state == 0)
			rng_state = 1;
		armed = 1;
		say("armed %ld", tid);
	} else if (strcmp(word, "path") == 0) {
		int dup, reo;
		if (sscanf(line, "path %d %d", &dup, &reo) != 2 || dup < 0 || dup > 100 || reo < 0 ||
		    reo > 100) {
			say("error bad path: %s", line);
			return;
		}
		path_dup = dup;
		path_reorder = reo;
		path_rng_state = 0x2545f4914f6cdd1dULL ^ (uint64_t)(dup * 101 + reo);
		held_tick(0);
		say("path dup=%d reorder=%d", dup, reo);
	} else if (strcmp(word, "downgrade") == 0) {
		char m[8];
		int k = -1;
		if (sscanf(line, "downgrade %7s", m) == 1)
			for (int i = 0; i < 3; i++)
				if (strcmp(m, dg_mode_names[i]) == 0)
					k = i;
		if (k < 0) {
			say("error bad downgrade: %s", line);
			return;
		}
		dg_mode = k;
		say("downgrade mode=%s", dg_mode_names[k]);
	} else if (strcmp(word, "dgstats") == 0) {
		say("dgstats mode=%s killed=%llu plain=%llu stripped=%llu blackholed=%llu",
		    dg_mode_names[dg_mode], (unsigned long long)dg_killed, (unsigned long long)dg_plain,
		    (unsigned long long)dg_stripped, (unsigned long long)dg_blackholed);
	} else if (strcmp(word, "pathstats") == 0) {
		say("pathstats dups=%llu held=%llu", (unsigned long long)n_dups,
		    (unsigned long long)n_held);
	} else if (strcmp(word, "end") == 0) {
		int n = 0, app = 0;
		uint64_t b0 = 0, b1 = 0, td = 0;
		char tuple[80] = "-";
		if (sscanf(line, "end %ld", &tid) != 1) {
			say("error bad end: %s", line);
			return;
		}
		if (armed && pending.tid == tid)
			armed = 0; /* no connection came */
		for (int i = 0; i < MAXCONN; i++) {
			struct conn *c = conns[i];
			if (c == NULL || !c->used || c->tid != tid)
				continue;
			char s1[32], s2[32];
			n++;
			app += c->applied;
			b0 += c->d[0].bytes;
			b1 += c->d[1].bytes;
			td += c->truncdrop;
			addr_text(c->cip, c->cport, s1, sizeof(s1));
			addr_text(c->sip, c->sport, s2, sizeof(s2));
			snprintf(tuple, sizeof(tuple), "%s>%s", s1, s2);
		}
		say("end %ld conns=%d applied=%d c2s=%llu s2c=%llu truncdrop=%llu tuple=%s", tid, n, app,
		    (unsigned long long)b0, (unsigned long long)b1, (unsigned long long)td, tuple);
	} else {
		say("error unknown command: %s", line);
	}
}

int main(int argc, char **argv)
{
	static char in[4096];
	size_t inlen = 0;
	struct nlmsghdr *nlh;
	unsigned portid;
	int opt, one = 1, rcvbuf = 8 << 20;

	while ((opt = getopt(argc, argv, "q:p:")) != -1) {
		if (opt == 'q')
			queue_num = (unsigned)atoi(optarg);
		else if (opt == 'p')
			port = (uint16_t)atoi(optarg);
		else {
			fprintf(stderr, "usage: tamper [-q QUEUE] [-p PORT]\n");
			return 2;
		}
	}
	nlbuf_size = 0xffff + (MNL_SOCKET_BUFFER_SIZE / 2);
	nlbuf = malloc(nlbuf_size);
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nlbuf == NULL || nl == NULL) {
		perror("tamper: mnl_socket_open");
		return 1;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("tamper: mnl_socket_bind");
		return 1;
	}
	portid = mnl_socket_get_portid(nl);
	raw_fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (raw_fd < 0) {
		perror("tamper: raw socket");
		return 1;
	}
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));

	nlh = nfq_nlmsg_put(nlbuf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	nl_send(nlh);
	/* Whole packets, no GSO: the kernel segments and completes checksums
	 * before it hands a packet over. */
	nlh = nfq_nlmsg_put(nlbuf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nl_send(nlh);
	mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	setvbuf(stdout, NULL, _IOLBF, 0);
	say("ready");

	for (;;) {
		struct pollfd p[2] = { { 0, POLLIN, 0 }, { mnl_socket_get_fd(nl), POLLIN, 0 } };
		if (poll(p, 2, held_tick(0) ? 5 : -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("tamper: poll");
			return 1;
		}
		if (p[1].revents & POLLIN) {
			ssize_t r = mnl_socket_recvfrom(nl, nlbuf, nlbuf_size);
			if (r < 0) {
				if (errno != ENOBUFS && errno != EINTR) {
					perror("tamper: recv");
					return 1;
				}
			} else if (mnl_cb_run(nlbuf, (size_t)r, 0, portid, queue_cb, NULL) < 0) {
				perror("tamper: mnl_cb_run");
				return 1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(0, in + inlen, sizeof(in) - 1 - inlen);
			char *nlpos;
			if (r <= 0)
				return 0; /* the test is gone */
			inlen += (size_t)r;
			in[inlen] = '\0';
			while ((nlpos = strchr(in, '\n')) != NULL) {
				*nlpos = '\0';
				command(in);
				inlen -= (size_t)(nlpos + 1 - in);
				memmove(in, nlpos + 1, inlen);
				in[inlen] = '\0';
			}
			if (inlen == sizeof(in) - 1)
				inlen = 0; /* an overlong line: forget it */
		}
	}
}
