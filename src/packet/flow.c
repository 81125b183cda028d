/*
 * flow.c: packet mode's connection table and per-segment processing
 * (flow.h).
 *
 * Directions: an entry remembers whether this host sent the SYN
 * (we_init).  A segment leaving is then I2R if we initiated, R2I if not;
 * one arriving the other way round.  Per direction it keeps the ISN (from
 * the SYN or SYN-ACK) and hi, the highest stream offset a segment of that
 * direction has reached: the 64-bit extension of every offset is taken
 * near it.  hi moves only for segments that carry sequence space (payload
 * or FIN), and for arriving ones only once their MAC verified, so neither
 * a keepalive (seq one before the data) nor a forgery can drag it.
 *
 * failed counts the arriving segments whose MAC failed since the last one
 * that verified.  At NS_FLOW_FAIL_MAX the entry's key goes into the
 * table's kill queue; ns_flow_next_kill hands it out and marks the entry
 * (NS_FLOW_FAIL_MAX + 1), so a connection is handed out once per run of
 * failures, and not at all if it verified a segment or was replaced before
 * the caller asked.
 *
 * Clear connections (the opportunistic policy, flow.h) keep the same
 * entry with clear set and no keys: they pass through clear_segment, never
 * through seal or open_segment.  For them hi[d] is the next sequence
 * number of direction d (32 bits, not an offset), and up says that the
 * three-way handshake completed.  end says that one must end (END_*):
 * its segments are dropped from then on, whatever the policy becomes.
 *
 * Why one file of some 700 lines: the table (hashing, eviction lists,
 * expiry) and the per-segment state machine share struct ns_flow, which
 * stays private here so that nothing outside can put an entry in a state
 * the two halves do not expect; fuzz_flow drives both through the one
 * public entry point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "tcpseg.h"

const char *const ns_flow_count_names[NS_FC_COUNT] = {
	"sealed", "opened", "bad_packet", "no_flow", "no_option", "bad_mac", "not_ready",
	"table_full", "unsupported", "internal", "clear", "downgrade", "unknown_key", "reset_failing",
	"evicted", "clear_ended",
};

enum fstate { F_FREE, F_SYN_SENT, F_SYN_RCVD, F_KEYED, F_CLOSING };
/* The eviction list an entry is on: evict_head/evict_tail by index. */
enum flist { L_HANDSHAKE, L_ENDED, L_NONE };

#define KEY_LEN NS_FLOW_KEY_LEN
#define KILLED (NS_FLOW_FAIL_MAX + 1)
/* Failures that count are at least this far apart: Linux's smallest
 * retransmission timeout.  A peer whose segments cannot pass retransmits
 * them at growing timeouts, so it still reaches NS_FLOW_FAIL_MAX (within
 * about 25 s); a burst of forgeries counts once. */
#define FAIL_SPACING_MS 200
/* Window scale: none agreed yet / the largest RFC 7323 allows. */
#define WS_NONE 0xff
#define WS_MAX 14
/* A clear connection to end: waiting for room in the kill queue, in it,
 * handed out. */
enum { END_NONE, END_WAITING, END_QUEUED, END_DONE };

struct ns_flow {
	int32_t next;               /* bucket chain, or free list */
	int32_t lprev, lnext;       /* eviction list, -1 at its ends */
	uint8_t list;               /* enum flist */
	uint8_t state;
	uint8_t we_init;
	uint8_t verified;           /* a segment of the peer's verified */
	uint8_t fin[2];             /* by enum ns_pkt_dir */
	uint8_t failed;             /* arriving MAC failures in a row, KILLED once handed out */
	uint8_t clear;              /* passes in clear (the policy; never changes) */
	uint8_t up;                 /* clear, and the three-way handshake completed */
	uint8_t end;                /* clear, and ending: END_* */
	uint8_t end_why;            /* enum ns_flow_count its segments are dropped as */
	uint8_t key[KEY_LEN];       /* local addr, remote addr, lport, rport, v6 */
	uint8_t ws[2];              /* window scale each direction's sender offered, WS_NONE */
	uint32_t isn[2];
	uint64_t hi[2];
	uint64_t acked[2];          /* highest offset of each direction acknowledged (verified) */
	uint32_t wnd_max[2];        /* largest window each direction's sender advertised, scaled */
	int64_t fail_ms;            /* when the last failure counted */
	uint8_t nonce_i[NS_PKT_NONCE_LEN];
	uint8_t nonce_r[NS_PKT_NONCE_LEN];
	int64_t expires_ms;
	int64_t since_s;            /* t->wall_s when made */
	int64_t noted_ms;           /* clear: last given to ns_peers_saw_clear */
	struct ns_pkt_keys keys;
};

static uint32_t hash_key(const struct ns_flow_table *t, const uint8_t key[KEY_LEN])
{
	/* A seeded multiply-xorshift: not a MAC, only to spread the buckets;
	 * the seed is secret, so a stranger cannot aim at one bucket. */
	uint64_t h = t->hash_seed;

	for (int i = 0; i < KEY_LEN; i += 8) {
		uint64_t w;
		memcpy(&w, key + i, 8);
		h ^= w;
		h *= 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ (h >> 32)) & (t->nbuckets - 1);
}

/* The 4-tuple of a segment as seen from this host. */
static void segment_key(const struct ns_tcpseg *s, bool outgoing, uint8_t key[KEY_LEN])
{
	const uint8_t *src = s->pkt + (s->ipv6 ? 8 : 12), *dst = s->pkt + (s->ipv6 ? 24 : 16);
	const uint8_t *tcp = ns_tcpseg_tcp(s);
	size_t alen = s->ipv6 ? 16 : 4;

	memset(key, 0, KEY_LEN);
	memcpy(key, outgoing ? src : dst, alen);
	memcpy(key + 16, outgoing ? dst : src, alen);
	memcpy(key + 32, tcp + (outgoing ? 0 : 2), 2);
	memcpy(key + 34, tcp + (outgoing ? 2 : 0), 2);
	key[36] = (uint8_t)s->ipv6;
}

int ns_flow_init(struct ns_flow_table *t, uint32_t max, const uint8_t network_key[NS_KEY_LEN])
{
	memset(t, 0, sizeof(*t));
	for (int l = 0; l < NS_FLOW_NLISTS; l++)
		t->evict_head[l] = t->evict_tail[l] = -1;
	if (max < 1 || max > (1u << 24))
		return -1;
	t->max = max;
	for (t->nbuckets = 1; t->nbuckets < 2 * max; t->nbuckets <<= 1)
		;
	t->e = calloc(max, sizeof(*t->e));
	t->bucket = malloc(t->nbuckets * sizeof(*t->bucket));
	if (t->e == NULL || t->bucket == NULL || ns_random(t->secret, sizeof(t->secret)) != 0 ||
	    ns_random(&t->hash_seed, sizeof(t->hash_seed)) != 0 ||
	    ns_pmtu_init(&t->pmtu, t->hash_seed ^ 0x706d7475ULL) != 0) {
		ns_flow_free(t);
		return -1;
	}
	for (uint32_t i = 0; i < t->nbuckets; i++)
		t->bucket[i] = -1;
	for (uint32_t i = 0; i < max; i++) {
		t->e[i].next = i + 1 < max ? (int32_t)(i + 1) : -1;
		t->e[i].list = L_NONE;
	}
	t->free_head = 0;
	if (ns_flow_set_keys(t, network_key, 1, NULL, 0) != 0) {
		ns_flow_free(t);
		return -1;
	}
	return 0;
}

int ns_flow_set_keys(struct ns_flow_table *t, const uint8_t *keys, size_t n,
                     char *err, size_t errlen)
{
	uint8_t id[NS_FLOW_NETKEYS_MAX][NS_PKT_KEYID_LEN];
	int rc = -1;

	if (n < 1 || n > NS_FLOW_NETKEYS_MAX) {
		if (err != NULL)
			snprintf(err, errlen, "packet mode holds 1 to %d network keys, not %zu",
			         NS_FLOW_NETKEYS_MAX, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (ns_pkt_key_id(keys + i * NS_KEY_LEN, id[i]) != 0)
			goto out;
	/* The id picks the key a SYN named: two keys with one id (1 pair in
	 * 65536) could not be told apart.  Making another new key is the
	 * remedy; guessing would fail one connection in two. */
	if (n == 2 && memcmp(id[0], id[1], NS_PKT_KEYID_LEN) == 0) {
		if (err != NULL)
			snprintf(err, errlen, "the two network keys have the same packet-mode key id "
			         "(a 1 in 65536 chance); make another new key with 'nodeseal genkey'");
		goto out;
	}
	ns_wipe(t->netkey, sizeof(t->netkey));
	memcpy(t->netkey, keys, n * NS_KEY_LEN);
	memcpy(t->netkey_id, id, sizeof(id));
	t->nnetkeys = (uint32_t)n;
	rc = 0;
out:
	return rc;
}

/* The network key a SYN's nonce names, NULL if none held.  Holding one
 * key, a node takes it whatever the id: the id only chooses, the MAC
 * authenticates, and a peer under another key fails there as before. */
static const uint8_t *netkey_for(const struct ns_flow_table *t,
                                 const uint8_t nonce_i[NS_PKT_NONCE_LEN])
{
	if (t->nnetkeys == 1)
		return t->netkey[0];
	for (uint32_t i = 0; i < t->nnetkeys; i++)
		if (memcmp(t->netkey_id[i], &nonce_i[NS_PKT_KEYID_OFF], NS_PKT_KEYID_LEN) == 0)
			return t->netkey[i];
	return NULL;
}

void ns_flow_free(struct ns_flow_table *t)
{
	if (t->e != NULL)
		for (uint32_t i = 0; i < t->max; i++)
			ns_pkt_keys_free(&t->e[i].keys);
	free(t->e);
	free(t->bucket);
	ns_pmtu_free(&t->pmtu);
	ns_wipe(t->netkey, sizeof(t->netkey));
	ns_wipe(t->secret, sizeof(t->secret));
	t->e = NULL;
	t->bucket = NULL;
}

static struct ns_flow *lookup(struct ns_flow_table *t, const uint8_t key[KEY_LEN])
{
	for (int32_t i = t->bucket[hash_key(t, key)]; i >= 0; i = t->e[i].next)
		if (memcmp(t->e[i].key, key, KEY_LEN) == 0)
			return &t->e[i];
	return NULL;
}

static void list_unlink(struct ns_flow_table *t, struct ns_flow *f)
{
	if (f->list == L_NONE)
		return;
	if (f->lprev >= 0)
		t->e[f->lprev].lnext = f->lnext;
	else
		t->evict_head[f->list] = f->lnext;
	if (f->lnext >= 0)
		t->e[f->lnext].lprev = f->lprev;
	else
		t->evict_tail[f->list] = f->lprev;
	f->list = L_NONE;
}

/*
 * The eviction list f belongs on: ended, handshake, or none (established).
 *
 * A clear connection counts as established once its three-way handshake
 * completed (up: the initiator acknowledged the SYN-ACK's ISN), before
 * that as a handshake.  The option on a SYN proves nothing either, so a
 * flood of spoofed optionless SYNs is a flood of handshakes, evicted
 * oldest first as today: to make an entry that stays, a stranger must
 * complete a TCP handshake from its own address (or guess a 32-bit ISN),
 * which is what opening a connection to the node in clear means, and
 * what the node's own connection limit then bounds, as without nodeseal.
 * Making established clear entries evictable instead would let that flood
 * of spoofed SYNs evict live clear connections, whose segments would then
 * be dropped: the clear peers of a node under opportunistic would lose
 * their connections to anyone who can send SYNs.
 */
static enum flist list_for(const struct ns_flow *f)
{
	if (f->state == F_FREE)
		return L_NONE;
	if (f->state == F_CLOSING)
		return L_ENDED;
	if (f->clear)
		return f->up ? L_NONE : L_HANDSHAKE;
	return f->verified ? L_NONE : L_HANDSHAKE;
}

/* Puts f on the list its state calls for, at the end if it moves: an
 * entry stays where it joined while it stays in the same class. */
static void list_place(struct ns_flow_table *t, struct ns_flow *f)
{
	enum flist want = list_for(f);
	int32_t idx = (int32_t)(f - t->e);

	if (f->list == want)
		return;
	list_unlink(t, f);
	if (want == L_NONE)
		return;
	f->list = (uint8_t)want;
	f->lnext = -1;
	f->lprev = t->evict_tail[want];
	if (f->lprev >= 0)
		t->e[f->lprev].lnext = idx;
	else
		t->evict_head[want] = idx;
	t->evict_tail[want] = idx;
}

static void flow_remove(struct ns_flow_table *t, struct ns_flow *f)
{
	int32_t idx = (int32_t)(f - t->e), *pp = &t->bucket[hash_key(t, f->key)];

	list_unlink(t, f);
	while (*pp != idx && *pp >= 0)
		pp = &t->e[*pp].next;
	if (*pp == idx)
		*pp = f->next;
	if (f->end == END_WAITING)
		t->nend_waiting--;
	ns_pkt_keys_free(&f->keys);
	memset(f, 0, sizeof(*f));
	f->state = F_FREE;
	f->list = L_NONE;
	f->next = t->free_head;
	t->free_head = idx;
	t->used--;
}

/* Makes way for a new connection.  First choice: the connection that
 * ended first (both FINs or a reset), kept only to seal the last ACKs and
 * retransmissions; losing it early costs at most a stray segment dropped.
 * Otherwise the oldest whose peer has not verified a segment (a handshake,
 * or a connection we opened whose peer has not sent yet).  Established ones
 * stay.  (Without the first choice, ended connections, 60 s each, capped
 * new ones at max / 60 a second.) */
static int evict_one(struct ns_flow_table *t)
{
	int32_t victim = t->evict_head[L_ENDED] >= 0 ? t->evict_head[L_ENDED]
	                                             : t->evict_head[L_HANDSHAKE];

	if (victim < 0)
		return -1;
	flow_remove(t, &t->e[victim]);
	t->count[NS_FC_EVICTED]++;
	return 0;
}

/* A fresh entry for key in a handshake state (an existing one with that
 * key must be gone). */
static struct ns_flow *flow_new(struct ns_flow_table *t, const uint8_t key[KEY_LEN],
                                enum fstate state)
{
	struct ns_flow *f;
	uint32_t b;

	if (t->free_head < 0 && evict_one(t) != 0)
		return NULL;
	f = &t->e[t->free_head];
	t->free_head = f->next;
	memset(f, 0, sizeof(*f));
	f->list = L_NONE;
	f->state = (uint8_t)state;
	f->since_s = t->wall_s;
	memcpy(f->key, key, KEY_LEN);
	b = hash_key(t, key);
	f->next = t->bucket[b];
	t->bucket[b] = (int32_t)(f - t->e);
	t->used++;
	list_place(t, f);
	return f;
}

/*
 * This host's nonce for a new SYN or SYN-ACK: HMAC(secret, counter), the
 * secret drawn from the CSPRNG at start and the counter never repeating
 * within it, so every handshake gets a nonce of its own (a generator in
 * the manner of HMAC_DRBG; a fixed secret makes the fuzzer reproducible).
 * The entry keeps it, so a retransmission carries the same one.  Never a
 * function of what a stranger can make the stack send again: under SYN
 * cookies the stack answers a replayed SYN with the same ISN, and a nonce
 * derived from the 4-tuple and the ISN gave the recorded connection's
 * keys back (docs/PROTOCOL.md, "Nonces").
 */
static int fresh_nonce(struct ns_flow_table *t, uint8_t nonce[NS_PKT_NONCE_LEN])
{
	uint8_t full[32], ctr[8];
	uint64_t c = t->nonce_counter++;
	int rc;

	for (int i = 0; i < 8; i++)
		ctr[i] = (uint8_t)(c >> (56 - 8 * i));
	rc = ns_hmac(NS_HASH_SHA256, t->secret, sizeof(t->secret), ctr, sizeof(ctr), NULL, 0, full);
	memcpy(nonce, full, NS_PKT_NONCE_LEN);
	ns_wipe(full, sizeof(full));
	return rc;
}

static enum ns_flow_verdict drop(struct ns_flow_table *t, enum ns_flow_count why)
{
	t->count[why]++;
	return NS_FLOW_DROP;
}

static enum ns_flow_verdict pass(struct ns_flow_table *t, struct ns_flow_pkt *p,
                                 struct ns_tcpseg *s)
{
	ns_tcpseg_fix_checksums(s);
	p->len = s->len;
	t->count[p->outgoing ? NS_FC_OUT : NS_FC_IN]++;
	t->payload[p->outgoing ? 0 : 1] += s->paylen;
	return NS_FLOW_ACCEPT;
}

/* A clear connection's segment, passed as it came (checksums completed:
 * the queue hands local senders' packets over with partial ones). */
static enum ns_flow_verdict pass_clear(struct ns_flow_table *t, struct ns_flow_pkt *p,
                                       struct ns_tcpseg *s)
{
	ns_tcpseg_fix_checksums(s);
	p->len = s->len;
	t->count[NS_FC_CLEAR]++;
	return NS_FLOW_ACCEPT;
}

/* The peer of an entry's key, as peers.h names it (IPv4: 4 bytes, the
 * rest zero, as in the key). */
static void key_peer(const uint8_t key[KEY_LEN], struct ns_peer_addr *a)
{
	a->v6 = key[36] != 0;
	memcpy(a->a, key + 16, sizeof(a->a));
}

/* Why a peer's SYN or SYN-ACK without the option must be dropped, or
 * NS_FC_COUNT if it may make its connection clear.  Sealed memory first:
 * whatever the policy, a sealed peer is never carried in clear. */
static enum ns_flow_count clear_refused(const struct ns_flow_table *t, const uint8_t key[KEY_LEN])
{
	struct ns_peer_addr a;

	if (t->peers != NULL) {
		key_peer(key, &a);
		if (ns_peers_sealed(t->peers, &a))
			return NS_FC_DOWNGRADE;
	}
	return t->policy == NS_POLICY_OPPORTUNISTIC ? NS_FC_COUNT : NS_FC_NO_OPTION;
}

/* A clear connection is open: noted for status (peers.h). */
static void note_clear(struct ns_flow_table *t, struct ns_flow *f, int64_t now)
{
	struct ns_peer_addr a;

	f->noted_ms = now;
	if (t->peers == NULL)
		return;
	key_peer(f->key, &a);
	ns_peers_saw_clear(t->peers, &a, t->wall_s);
}

/* Into the kill queue if there is room; otherwise it stays END_WAITING,
 * and ns_flow_next_kill finds it once the queue is empty. */
static void queue_end(struct ns_flow_table *t, struct ns_flow *f)
{
	if (t->nkill >= NS_FLOW_KILL_MAX)
		return;
	memcpy(t->kill[t->nkill++], f->key, KEY_LEN);
	f->end = END_QUEUED;
	t->nend_waiting--;
}

/* Marks every clear connection (with peer a; NULL: all) to end, its
 * segments to be dropped as why.  Returns how many it marked.  A scan of
 * the table: it runs once per policy change and once per peer ever
 * sealed. */
static int end_clear(struct ns_flow_table *t, const struct ns_peer_addr *a, enum ns_flow_count why)
{
	int n = 0;

	for (uint32_t i = 0; t->e != NULL && i < t->max; i++) {
		struct ns_flow *f = &t->e[i];
		struct ns_peer_addr fa;

		if (f->state == F_FREE || !f->clear || f->end != END_NONE)
			continue;
		key_peer(f->key, &fa);
		if (a != NULL && !ns_peer_addr_equal(&fa, a))
			continue;
		f->end = END_WAITING;
		f->end_why = (uint8_t)why;
		t->nend_waiting++;
		queue_end(t, f);
		n++;
	}
	return n;
}

/* The first segment of f's peer that verified: the peer goes into sealed
 * memory, and the first time, its clear connections end.  Once per
 * connection, not per segment. */
static void peer_verified(struct ns_flow_table *t, const struct ns_flow *f)
{
	struct ns_peer_addr a;

	if (t->peers == NULL)
		return;
	key_peer(f->key, &a);
	if (ns_peers_mark_sealed(t->peers, &a, t->wall_s))
		(void)end_clear(t, &a, NS_FC_DOWNGRADE);
}

#define PATH_FLOOR4 552   /* below it Linux stops setting DF: routers fragment */
#define PATH_FLOOR6 1280  /* every IPv6 link carries it */

static uint16_t mss_max(const struct ns_flow_table *t, const struct ns_flow_pkt *p,
                        const struct ns_tcpseg *s, int64_t now)
{
	/* An unknown MTU is taken as Ethernet's: a larger link then carries
	 * segments smaller than it could, never too large for 1500. */
	unsigned mtu = p->mtu ? p->mtu : 1500;
	const uint8_t *peer = s->pkt + (s->ipv6 ? (p->outgoing ? 24 : 8) : (p->outgoing ? 16 : 12));
	uint32_t path, told;

	/* A path MTU learned from a router (pmtu.h): both stacks leave room
	 * for the option on this path from the first segment. */
	if (ns_pmtu_get(&t->pmtu, s->ipv6, peer, now, &path, &told)) {
		unsigned floor = s->ipv6 ? PATH_FLOOR6 : PATH_FLOOR4;
		if (path < floor)
			path = floor;
		if (path < mtu)
			mtu = path;
	}
	return ns_tcpseg_mss_max(mtu, s->ipv6);
}

/* The window scale a SYN or SYN-ACK of direction d offers, and its window
 * (never scaled on a SYN): the first bound on what the other side may
 * send, until segments advertise more. */
static void note_syn_window(struct ns_flow *f, const struct ns_tcpseg *s, enum ns_pkt_dir d)
{
	struct ns_tcpopts o;

	f->ws[d] = WS_NONE;
	if (ns_tcpseg_opts(s, &o) == 0 && o.ws >= 0)
		f->ws[d] = ns_tcpseg_opt_area(s)[o.ws + 2];
	f->wnd_max[d] = ns_tcpseg_window(s);
}

/* A segment's window in bytes: scaled only when both SYNs offered a scale
 * (RFC 7323), by at most 14. */
static uint32_t scaled_window(const struct ns_flow *f, const struct ns_tcpseg *s,
                              enum ns_pkt_dir d)
{
	unsigned shift = 0;

	if (f->ws[0] != WS_NONE && f->ws[1] != WS_NONE)
		shift = f->ws[d] < WS_MAX ? f->ws[d] : WS_MAX;
	return (uint32_t)ns_tcpseg_window(s) << shift;
}

static void note_window(struct ns_flow *f, const struct ns_tcpseg *s, enum ns_pkt_dir d)
{
	uint32_t w = scaled_window(f, s, d);

	if (w > f->wnd_max[d])
		f->wnd_max[d] = w;
}

static enum ns_flow_verdict on_syn(struct ns_flow_table *t, struct ns_flow *f,
                                   struct ns_flow_pkt *p, struct ns_tcpseg *s,
                                   const uint8_t key[KEY_LEN], int64_t now)
{
	uint8_t nonce[NS_PKT_NONCE_LEN];
	uint32_t isn = ns_tcpseg_seq(s);
	bool clear = false;
	int rc;

	if (p->outgoing) {
		/* Only the local stack sends these: anything but a retransmission
		 * means the old connection on this 4-tuple is over. */
		if (f != NULL && !(f->we_init && f->state == F_SYN_SENT && f->isn[NS_PKT_I2R] == isn)) {
			flow_remove(t, f);
			f = NULL;
		}
		if (f != NULL) {
			memcpy(nonce, f->nonce_i, sizeof(nonce));
		} else {
			if (fresh_nonce(t, nonce) != 0)
				return drop(t, NS_FC_INTERNAL);
			/* The key this node sends with, named for the peer. */
			memcpy(&nonce[NS_PKT_KEYID_OFF], t->netkey_id[0], NS_PKT_KEYID_LEN);
		}
	} else {
		rc = ns_tcpseg_get_value(s, nonce);
		if (rc < 0)
			return drop(t, NS_FC_BAD_PACKET);
		/* A key we do not hold: a node before or after a rotation
		 * that this one is not part of.  Its stack never sees it. */
		if (rc > 0 && netkey_for(t, nonce) == NULL)
			return drop(t, NS_FC_UNKNOWN_KEY);
		if (rc == 0) {
			/* No fallback to clear but under opportunistic, and
			 * never for a sealed peer. */
			enum ns_flow_count why = clear_refused(t, key);
			if (why != NS_FC_COUNT)
				return drop(t, why);
			clear = true;
			memset(nonce, 0, sizeof(nonce)); /* a clear entry's nonce_i */
		}
		if (f != NULL) {
			/* The peer's SYN again: its SYN-ACK was lost, or is late.
			 * Until a segment of the peer verifies (clear: until the
			 * handshake completed), the local stack is still in
			 * SYN_RECV and answers with its SYN-ACK again (which
			 * passes: on_synack), as without nodeseal.  Clear or
			 * sealed as the first time: the entry never changes. */
			bool same = !f->we_init && f->clear == clear && f->end == END_NONE &&
			           !(clear ? f->up : f->verified) &&
			           (f->state == F_SYN_RCVD || f->state == F_KEYED) &&
			           f->isn[NS_PKT_I2R] == isn &&
			           ns_ct_equal(f->nonce_i, nonce, sizeof(nonce));
			/* A peer's SYN must not end a live connection: anyone can
			 * send one, since the option is not authenticated. */
			if (!same && f->state != F_SYN_RCVD && f->state != F_CLOSING)
				return drop(t, NS_FC_NOT_READY);
			if (!same) {
				flow_remove(t, f);
				f = NULL;
			}
		}
	}
	if (f == NULL) {
		f = flow_new(t, key, p->outgoing ? F_SYN_SENT : F_SYN_RCVD);
		if (f == NULL)
			return drop(t, NS_FC_TABLE_FULL);
		f->we_init = (uint8_t)p->outgoing;
		f->clear = (uint8_t)clear;
		f->isn[NS_PKT_I2R] = isn;
		f->hi[NS_PKT_I2R] = clear ? isn + 1 : 0;
		note_syn_window(f, s, NS_PKT_I2R);
		memcpy(f->nonce_i, nonce, sizeof(nonce));
	}
	/* Keyed: the SYN-ACK that answers it extends the entry (on_synack),
	 * not the SYN, which a replay could repeat for ever after the local
	 * stack gave up its half-open connection. */
	if (f->state != F_KEYED)
		f->expires_ms = now + NS_FLOW_HANDSHAKE_MS;
	if (f->clear)
		return pass_clear(t, p, s);
	rc = ns_tcpseg_syn_rewrite(s, p->cap, mss_max(t, p, s, now), p->outgoing ? nonce : NULL);
	if (rc != 0)
		return drop(t, rc == NS_TCPSEG_NOSPACE ? NS_FC_UNSUPPORTED : NS_FC_BAD_PACKET);
	return pass(t, p, s);
}

/*
 * A SYN-ACK of a clear connection, or a peer's without the option (then
 * answering our SYN, which carried it: the peer runs no nodeseal).  Our
 * own answers a clear SYN; a peer's makes our connection clear if the
 * policy allows and the peer is not sealed, only from SYN_SENT: an entry
 * keyed stays sealed.  Retransmissions (same ISN) pass as long as the
 * connection is not ending.
 */
static enum ns_flow_verdict on_synack_clear(struct ns_flow_table *t, struct ns_flow *f,
                                            struct ns_flow_pkt *p, struct ns_tcpseg *s,
                                            int64_t now)
{
	uint8_t v[NS_TCPSEG_OPT_VALUE_LEN];
	uint32_t isn = ns_tcpseg_seq(s);

	if (!p->outgoing) {
		/* A peer's SYN-ACK with the option for a clear connection
		 * reaches here too (f->clear): never sealed now. */
		int rc = ns_tcpseg_get_value(s, v);
		enum ns_flow_count why = clear_refused(t, f->key);
		if (rc < 0)
			return drop(t, NS_FC_BAD_PACKET);
		if (rc > 0)
			return drop(t, NS_FC_NOT_READY);
		if (why != NS_FC_COUNT)
			return drop(t, why);
	}
	if (f->end != END_NONE)
		return drop(t, (enum ns_flow_count)f->end_why);
	if (f->state == (f->clear ? F_SYN_RCVD : F_SYN_SENT)) {
		f->clear = 1;
		f->isn[NS_PKT_R2I] = isn;
		f->hi[NS_PKT_I2R] = f->isn[NS_PKT_I2R] + 1;
		f->hi[NS_PKT_R2I] = isn + 1;
		note_syn_window(f, s, NS_PKT_R2I);
		f->state = F_KEYED;
	} else if (!f->clear || f->state != F_KEYED || f->end != END_NONE ||
	           f->isn[NS_PKT_R2I] != isn) {
		return drop(t, NS_FC_NOT_READY);
	}
	if (!f->up)
		f->expires_ms = now + NS_FLOW_HANDSHAKE_MS;
	list_place(t, f);
	return pass_clear(t, p, s);
}

static enum ns_flow_verdict on_synack(struct ns_flow_table *t, struct ns_flow *f,
                                      struct ns_flow_pkt *p, struct ns_tcpseg *s, int64_t now)
{
	uint8_t nonce[NS_PKT_NONCE_LEN];
	uint32_t isn = ns_tcpseg_seq(s);
	int rc = 0;

	if (f == NULL)
		return drop(t, NS_FC_NO_FLOW);
	/* Our SYN-ACK answers a peer's SYN; a peer's answers ours. */
	if (f->we_init == p->outgoing || ns_tcpseg_ack(s) != f->isn[NS_PKT_I2R] + 1)
		return drop(t, NS_FC_NO_FLOW);
	if (!p->outgoing) {
		rc = ns_tcpseg_get_value(s, nonce);
		if (rc < 0)
			return drop(t, NS_FC_BAD_PACKET);
	}
	/* A clear connection's, or a peer's without the option. */
	if (f->clear || (!p->outgoing && rc == 0))
		return on_synack_clear(t, f, p, s, now);
	if (p->outgoing) {
		/* Our SYN-ACK again (same ISN, keys made): the nonce it had. */
		if (f->state == F_KEYED && f->isn[NS_PKT_R2I] == isn)
			memcpy(nonce, f->nonce_r, sizeof(nonce));
		else if (fresh_nonce(t, nonce) != 0)
			return drop(t, NS_FC_INTERNAL);
	}
	if (f->state == F_SYN_SENT || f->state == F_SYN_RCVD) {
		const uint8_t *netkey = netkey_for(t, f->nonce_i);

		/* Gone only if a reload dropped it since the SYN. */
		if (netkey == NULL)
			return drop(t, NS_FC_UNKNOWN_KEY);
		f->isn[NS_PKT_R2I] = isn;
		note_syn_window(f, s, NS_PKT_R2I);
		memcpy(f->nonce_r, nonce, sizeof(nonce));
		if (ns_pkt_keys_derive(&f->keys, netkey, f->nonce_i, f->nonce_r) != 0)
			return drop(t, NS_FC_INTERNAL);
		f->state = F_KEYED;
	} else if (f->state != F_KEYED || f->verified || f->isn[NS_PKT_R2I] != isn ||
	           !ns_ct_equal(f->nonce_r, nonce, sizeof(nonce))) {
		/* Only a retransmission of the SYN-ACK that made the keys. */
		return drop(t, NS_FC_NOT_READY);
	}
	f->expires_ms = now + NS_FLOW_HANDSHAKE_MS;
	rc = ns_tcpseg_syn_rewrite(s, p->cap, mss_max(t, p, s, now), p->outgoing ? nonce : NULL);
	if (rc != 0)
		return drop(t, rc == NS_TCPSEG_NOSPACE ? NS_FC_UNSUPPORTED : NS_FC_BAD_PACKET);
	return pass(t, p, s);
}

/* The covered header fields of a segment of direction d. */
static void mac_header(const struct ns_flow *f, const struct ns_tcpseg *s, enum ns_pkt_dir d,
                       struct ns_pkt_hdr *h)
{
	enum ns_pkt_dir o = d == NS_PKT_I2R ? NS_PKT_R2I : NS_PKT_I2R;

	h->flags = ns_tcpseg_flags(s);
	h->seq_off = ns_pkt_offset_extend(f->hi[d], ns_tcpseg_seq(s) - (f->isn[d] + 1));
	h->ack_off = (h->flags & NS_TCP_ACK)
	                 ? ns_pkt_offset_extend(f->hi[o], ns_tcpseg_ack(s) - (f->isn[o] + 1))
	                 : 0;
	h->window = ns_tcpseg_window(s);
	h->urg_ptr = ns_tcpseg_urg(s);
}

/* After a segment of direction d went out or verified. */
static void advance(struct ns_flow_table *t, struct ns_flow *f, const struct ns_pkt_hdr *h,
                    size_t paylen, enum ns_pkt_dir d, int64_t now)
{
	bool fin = (h->flags & NS_TCP_FIN) != 0;

	if (paylen > 0 || fin) {
		uint64_t end = h->seq_off + paylen + (uint64_t)fin;
		if (end > f->hi[d])
			f->hi[d] = end;
	}
	if (fin)
		f->fin[d] = 1;
	if (h->flags & NS_TCP_RST) {
		f->state = F_CLOSING;
		f->expires_ms = now + NS_FLOW_RESET_MS;
	} else if (f->fin[0] && f->fin[1]) {
		if (f->state != F_CLOSING)
			f->expires_ms = now + NS_FLOW_CLOSED_MS;
		f->state = F_CLOSING;
	} else if (f->state == F_KEYED) {
		f->expires_ms = now + (f->verified ? NS_FLOW_IDLE_MS : NS_FLOW_HANDSHAKE_MS);
	}
	list_place(t, f);
}

static enum ns_flow_verdict seal(struct ns_flow_table *t, struct ns_flow *f,
                                 struct ns_flow_pkt *p, struct ns_tcpseg *s, int64_t now)
{
	enum ns_pkt_dir d = f->we_init ? NS_PKT_I2R : NS_PKT_R2I;
	uint8_t mac[NS_PKT_MAC_LEN];
	struct ns_pkt_hdr h;
	int rc;

	mac_header(f, s, d, &h);
	if (ns_pkt_xor_stream(&f->keys, d, h.seq_off, ns_tcpseg_payload(s), s->paylen) != 0 ||
	    ns_pkt_mac(&f->keys, d, &h, ns_tcpseg_payload(s), s->paylen, mac) != 0)
		return drop(t, NS_FC_INTERNAL);
	rc = ns_tcpseg_put_mac(s, p->cap, mac);
	if (rc != 0)
		return drop(t, rc == NS_TCPSEG_BAD ? NS_FC_BAD_PACKET : NS_FC_UNSUPPORTED);
	note_window(f, s, d);
	advance(t, f, &h, s->paylen, d, now);
	return pass(t, p, s);
}

/*
 * Whether an arriving segment of direction d is one the local stack would
 * take for its peer's (RFC 5961's test): a seq within the window this host
 * advertised of the peer's stream as far as it verified, and an ack no
 * further back than the peer's largest window behind what it acknowledged,
 * and not past what this host sent.  Only such a segment's failure counts:
 * a stranger who knows the 4-tuple guesses both, about 2W / 2^32 times
 * W' / 2^32 for windows W and W' (docs/SECURITY.md has the figures), where
 * plain TCP asks the same for a reset.
 */
static bool plausible(const struct ns_flow *f, const struct ns_tcpseg *s, enum ns_pkt_dir d)
{
	enum ns_pkt_dir o = d == NS_PKT_I2R ? NS_PKT_R2I : NS_PKT_I2R;
	int32_t seq_gap = (int32_t)(ns_tcpseg_seq(s) - (f->isn[d] + 1) - (uint32_t)f->hi[d]);
	uint32_t ack_lag = (uint32_t)f->hi[o] - (ns_tcpseg_ack(s) - (f->isn[o] + 1));
	uint64_t in_flight = f->hi[o] - (f->acked[o] < f->hi[o] ? f->acked[o] : f->hi[o]);
	int64_t wnd = f->wnd_max[o];

	return (ns_tcpseg_flags(s) & NS_TCP_ACK) && seq_gap >= -wnd && seq_gap <= wnd &&
	       (uint64_t)ack_lag <= in_flight + f->wnd_max[d];
}

/* An arriving segment of f without a MAC that verifies: dropped, and
 * counted towards giving the connection up if plausible, and not within
 * FAIL_SPACING_MS of the last that counted. */
static enum ns_flow_verdict mac_failed(struct ns_flow_table *t, struct ns_flow *f,
                                       const struct ns_tcpseg *s, enum ns_pkt_dir d, int64_t now)
{
	if (f->failed < NS_FLOW_FAIL_MAX && plausible(f, s, d) &&
	    (f->failed == 0 || now - f->fail_ms >= FAIL_SPACING_MS)) {
		f->fail_ms = now;
		if (++f->failed == NS_FLOW_FAIL_MAX) {
			if (t->nkill < NS_FLOW_KILL_MAX)
				memcpy(t->kill[t->nkill++], f->key, KEY_LEN);
			else
				f->failed--; /* no room: queued at the next failure */
		}
	}
	return drop(t, NS_FC_BAD_MAC);
}

static enum ns_flow_verdict open_segment(struct ns_flow_table *t, struct ns_flow *f,
                                         struct ns_flow_pkt *p, struct ns_tcpseg *s, int64_t now)
{
	enum ns_pkt_dir d = f->we_init ? NS_PKT_R2I : NS_PKT_I2R;
	uint8_t mac[NS_PKT_MAC_LEN];
	struct ns_pkt_hdr h;
	int rc;

	/* Before take_mac: a segment without the option counts as failing too. */
	mac_header(f, s, d, &h);
	if (ns_tcpseg_take_mac(s, mac) != 0)
		return mac_failed(t, f, s, d, now);
	rc = ns_pkt_verify(&f->keys, d, &h, ns_tcpseg_payload(s), s->paylen, mac);
	if (rc < 0)
		return drop(t, NS_FC_INTERNAL);
	if (rc == 0)
		return mac_failed(t, f, s, d, now);
	if (ns_pkt_xor_stream(&f->keys, d, h.seq_off, ns_tcpseg_payload(s), s->paylen) != 0)
		return drop(t, NS_FC_INTERNAL);
	if (!f->verified) {
		f->verified = 1;
		peer_verified(t, f);
	}
	f->failed = 0;
	note_window(f, s, d);
	if ((h.flags & NS_TCP_ACK) && h.ack_off > f->acked[d == NS_PKT_I2R ? NS_PKT_R2I : NS_PKT_I2R])
		f->acked[d == NS_PKT_I2R ? NS_PKT_R2I : NS_PKT_I2R] = h.ack_off;
	advance(t, f, &h, s->paylen, d, now);
	return pass(t, p, s);
}

/*
 * A segment of a clear connection (not a SYN): passes as it came, unless
 * the connection is ending.  The entry follows the connection only as far
 * as eviction and expiry need: the handshake completing (up), FINs, and
 * resets.  A reset counts from the local stack, and from the peer only if
 * at the next sequence number seen (what RFC 5961 has the stack accept
 * without a challenge): a stranger's blind reset must not make the entry
 * evictable, or have it expire under a live connection.  hi follows a
 * peer's stream, and its FIN counts, only in order for the same reason; a
 * reset after a reordering then leaves the entry to its idle timeout.
 */
static enum ns_flow_verdict clear_segment(struct ns_flow_table *t, struct ns_flow *f,
                                          struct ns_flow_pkt *p, struct ns_tcpseg *s, int64_t now)
{
	enum ns_pkt_dir d = p->outgoing == (bool)f->we_init ? NS_PKT_I2R : NS_PKT_R2I;
	uint8_t flags = ns_tcpseg_flags(s);
	bool rst0 = (flags & NS_TCP_RST) && s->paylen == 0, reset, in_order;
	uint32_t seq = ns_tcpseg_seq(s), hi = (uint32_t)f->hi[d];
	uint32_t end = seq + (uint32_t)s->paylen + ((flags & NS_TCP_FIN) ? 1u : 0u);

	if (f->end != END_NONE) {
		/* The local stack's reset once the caller destroyed its socket
		 * (ns_flow_next_kill): it carries nothing and tells the peer
		 * the connection is over, as the reset for a connection the
		 * stack does not know, which passes too. */
		if (rst0 && p->outgoing) {
			if (f->state != F_CLOSING) {
				f->state = F_CLOSING;
				f->expires_ms = now + NS_FLOW_RESET_MS;
				list_place(t, f);
			}
			return pass_clear(t, p, s);
		}
		return drop(t, (enum ns_flow_count)f->end_why);
	}
	if (f->state == F_SYN_RCVD) {
		/* Before our SYN-ACK: only the stack refusing the SYN. */
		if (!(rst0 && p->outgoing))
			return drop(t, NS_FC_NOT_READY);
		flow_remove(t, f);
		return pass_clear(t, p, s);
	}
	/* The initiator acknowledging the SYN-ACK, and no more than the
	 * responder sent: the handshake is complete for its stack too. */
	if (!f->up && d == NS_PKT_I2R && (flags & (NS_TCP_ACK | NS_TCP_RST)) == NS_TCP_ACK &&
	    ns_tcpseg_ack(s) - (f->isn[NS_PKT_R2I] + 1) <=
	        (uint32_t)f->hi[NS_PKT_R2I] - (f->isn[NS_PKT_R2I] + 1)) {
		f->up = 1;
		note_clear(t, f, now);
	}
	in_order = p->outgoing || (int32_t)(seq - hi) <= 0;
	reset = (flags & NS_TCP_RST) && (p->outgoing || seq == hi);
	if (in_order && (int32_t)(end - hi) > 0)
		f->hi[d] = end;
	if ((flags & NS_TCP_FIN) && in_order)
		f->fin[d] = 1;
	if (reset) {
		f->state = F_CLOSING;
		f->expires_ms = now + NS_FLOW_RESET_MS;
	} else if (f->fin[0] && f->fin[1]) {
		if (f->state != F_CLOSING)
			f->expires_ms = now + NS_FLOW_CLOSED_MS;
		f->state = F_CLOSING;
	} else if (f->state == F_KEYED) {
		f->expires_ms = now + (f->up ? NS_FLOW_IDLE_MS : NS_FLOW_HANDSHAKE_MS);
		/* Throttled per entry: no peer lookup per segment. */
		if (f->up && now - f->noted_ms >= NS_FLOW_CLEAR_NOTE_MS)
			note_clear(t, f, now);
	}
	list_place(t, f);
	return pass_clear(t, p, s);
}

enum ns_flow_verdict ns_flow_segment(struct ns_flow_table *t, struct ns_flow_pkt *p,
                                     int64_t now_ms)
{
	uint8_t key[KEY_LEN];
	struct ns_tcpseg s;
	struct ns_flow *f;
	uint8_t flags;

	if (p->cap < p->len || ns_tcpseg_parse(&s, p->pkt, p->len) != 0)
		return drop(t, NS_FC_BAD_PACKET);
	/* The stack checks a TCP checksum only after INPUT, and every
	 * segment passed on gets its checksums anew: damage in a field the
	 * MAC does not cover (timestamps) would pass unseen.  The queue
	 * completes the checksums of local senders' packets (no GSO flag). */
	if (!p->outgoing && !ns_tcpseg_checksums_ok(&s))
		return drop(t, NS_FC_BAD_PACKET);
	/* A GSO super-packet cannot have one MAC per wire segment; the queue
	 * has the kernel cut them first (docs/PROTOCOL.md, "Offloads"), so
	 * one that still comes whole is dropped, never sent. */
	if (p->outgoing && p->mtu != 0 && p->len > p->mtu)
		return drop(t, NS_FC_UNSUPPORTED);
	segment_key(&s, p->outgoing, key);
	f = lookup(t, key);
	flags = ns_tcpseg_flags(&s);
	if (flags & NS_TCP_SYN) {
		if (flags & (NS_TCP_RST | NS_TCP_FIN))
			return drop(t, NS_FC_BAD_PACKET);
		return (flags & NS_TCP_ACK) ? on_synack(t, f, p, &s, now_ms)
		                            : on_syn(t, f, p, &s, key, now_ms);
	}
	if (f != NULL && f->clear)
		return clear_segment(t, f, p, &s, now_ms);
	if (f == NULL || (f->state != F_KEYED && f->state != F_CLOSING)) {
		bool rst0 = (flags & NS_TCP_RST) && s.paylen == 0;
		/* The local stack's reset for a connection it does not know,
		 * or refusing a peer's SYN (there are no keys to seal it). */
		if (rst0 && p->outgoing && (f == NULL || f->state == F_SYN_RCVD)) {
			if (f != NULL)
				flow_remove(t, f);
			t->count[NS_FC_OUT]++;
			return NS_FLOW_ACCEPT;
		}
		/* A peer refusing our SYN: the stack checks the ack as well. */
		if (rst0 && !p->outgoing && f != NULL && f->state == F_SYN_SENT &&
		    (flags & NS_TCP_ACK) && ns_tcpseg_ack(&s) == f->isn[NS_PKT_I2R] + 1) {
			f->expires_ms = now_ms + NS_FLOW_RESET_MS;
			t->count[NS_FC_IN]++;
			return NS_FLOW_ACCEPT;
		}
		return drop(t, f == NULL ? NS_FC_NO_FLOW : NS_FC_NOT_READY);
	}
	return p->outgoing ? seal(t, f, p, &s, now_ms) : open_segment(t, f, p, &s, now_ms);
}

void ns_flow_expire(struct ns_flow_table *t, int64_t now_ms, uint32_t budget)
{
	if (t->e == NULL)
		return;
	for (uint32_t n = 0; n < budget && n < t->max; n++) {
		struct ns_flow *f = &t->e[t->expire_cursor];
		if (f->state != F_FREE && f->expires_ms <= now_ms)
			flow_remove(t, f);
		else if (f->clear && f->up && f->end == END_NONE && f->state == F_KEYED &&
		         now_ms - f->noted_ms >= NS_FLOW_CLEAR_NOTE_MS)
			note_clear(t, f, now_ms);
		t->expire_cursor = (t->expire_cursor + 1) % t->max;
	}
}

static void key_tuple(const uint8_t key[KEY_LEN], struct ns_flow_tuple *tu)
{
	memset(tu, 0, sizeof(*tu));
	tu->v6 = key[36] != 0;
	memcpy(tu->local, key, 16);
	memcpy(tu->remote, key + 16, 16);
	tu->lport = (uint16_t)(key[32] << 8 | key[33]);
	tu->rport = (uint16_t)(key[34] << 8 | key[35]);
}

bool ns_flow_next_open(const struct ns_flow_table *t, uint32_t *cursor, struct ns_flow_tuple *tu)
{
	for (; t->e != NULL && *cursor < t->max; (*cursor)++) {
		const struct ns_flow *f = &t->e[*cursor];
		if (f->state == F_FREE || f->state == F_CLOSING || f->clear)
			continue;
		key_tuple(f->key, tu);
		(*cursor)++;
		return true;
	}
	return false;
}

bool ns_flow_next_info(const struct ns_flow_table *t, uint32_t *cursor, struct ns_flow_info *out)
{
	for (; t->e != NULL && *cursor < t->max; (*cursor)++) {
		const struct ns_flow *f = &t->e[*cursor];
		if (f->state == F_FREE)
			continue;
		memset(out, 0, sizeof(*out));
		key_tuple(f->key, &out->tu);
		out->out = f->we_init != 0;
		out->clear = f->clear != 0;
		out->ending = f->end != END_NONE;
		out->since = f->since_s;
		if (f->state == F_CLOSING)
			out->state = "closing";
		else if (f->state == F_KEYED && (f->clear ? f->up : f->verified))
			out->state = "open";
		else
			out->state = "handshake";
		(*cursor)++;
		return true;
	}
	return false;
}

int ns_flow_set_policy(struct ns_flow_table *t, enum ns_policy p)
{
	t->policy = p;
	return p == NS_POLICY_REQUIRED ? end_clear(t, NULL, NS_FC_NO_OPTION) : 0;
}

int ns_flow_check_lists(const struct ns_flow_table *t)
{
	uint32_t on_lists = 0, should = 0;

	for (int l = 0; l < NS_FLOW_NLISTS; l++) {
		int32_t prev = -1;
		for (int32_t i = t->evict_head[l]; i >= 0; prev = i, i = t->e[i].lnext) {
			const struct ns_flow *f = &t->e[i];
			if ((uint32_t)i >= t->max || ++on_lists > t->max || f->list != l ||
			    f->lprev != prev || f->state == F_FREE)
				return -1;
		}
		if (t->evict_tail[l] != prev)
			return -1;
	}
	for (uint32_t i = 0; i < t->max; i++) {
		const struct ns_flow *f = &t->e[i];
		enum flist want = list_for(f);
		if (f->list != want)
			return -1;
		should += want != L_NONE;
	}
	return on_lists == should ? 0 : -1;
}

/* Clear connections waiting for room, into the emptied kill queue: a
 * scan, only while some wait (after a policy change or a peer sealed
 * with more than NS_FLOW_KILL_MAX of them).  false if none was found. */
static bool refill_kills(struct ns_flow_table *t)
{
	uint32_t before = t->nkill;

	for (uint32_t i = 0; t->e != NULL && i < t->max && t->nend_waiting > 0 &&
	                     t->nkill < NS_FLOW_KILL_MAX; i++)
		if (t->e[i].state != F_FREE && t->e[i].end == END_WAITING)
			queue_end(t, &t->e[i]);
	if (t->nkill == before)
		t->nend_waiting = 0; /* cannot happen: the count is kept exact */
	return t->nkill > before;
}

bool ns_flow_next_kill(struct ns_flow_table *t, struct ns_flow_tuple *tu)
{
	for (;;) {
		while (t->nkill > 0) {
			const uint8_t *key = t->kill[--t->nkill];
			struct ns_flow *f = t->e != NULL ? lookup(t, key) : NULL;

			if (f == NULL)
				continue;
			if (f->clear && f->end == END_QUEUED) {
				f->end = END_DONE;
				key_tuple(key, tu);
				t->count[NS_FC_CLEAR_ENDED]++;
				return true;
			}
			/* Still failing: not verified since, nor a new connection. */
			if (f->failed != NS_FLOW_FAIL_MAX)
				continue;
			f->failed = KILLED;
			key_tuple(key, tu);
			t->count[NS_FC_RESET_FAILING]++;
			return true;
		}
		if (t->nend_waiting == 0 || !refill_kills(t))
			return false;
	}
}
