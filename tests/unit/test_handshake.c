/*
 * test_handshake: the nodeseal handshake's promises.
 * - two members agree: same handshake hash, each learns the other's node key;
 * - a stranger (other network key) is refused at the first message, and
 *   the responder has performed no Diffie-Hellman by then;
 * - a replayed first message is refused before any DH, a stale one too;
 * - a full replay cache refuses instead of forgetting;
 * - another protocol version (prologue) cannot talk to this one;
 * - messages of the wrong size or out of turn are refused;
 * - a peer holding our own node key (a cloned key, or our own connection
 *   reflected back) is refused in either role, before the handshake ends.
 * - rotation: a responder holding two network keys accepts a first
 *   message under either, with no DH for the one that fails; holding
 *   only the other key it refuses (AUTH) without DH; an initiator sends
 *   with its first key only; a pinned ephemeral survives the retry (same
 *   transcript); a reload during a handshake does not change its keys.
 */
#include "endpoints.h"
#include "tap.h"

static struct ep_keys keys;

static void test_agree(void)
{
	struct ep_side a, b;
	int err;

	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	err = ep_handshake(&a, &b, NULL, NULL, NULL, NULL);
	ok(err == NS_OK, "members complete the handshake (%s)", ns_strerror(err));
	ok(memcmp(a.s.handshake_hash, b.s.handshake_hash, 32) == 0, "same handshake hash");
	ok(memcmp(a.s.peer_key, b.id.node.pub, 32) == 0 &&
	   memcmp(b.s.peer_key, a.id.node.pub, 32) == 0, "each side learns the other's node key");
	ep_free(&a);
	ep_free(&b);
}

static void test_stranger(void)
{
	struct ep_side a, b;
	uint8_t other[32], msg[128];
	size_t len;
	uint64_t dh_before;
	int err;

	memcpy(other, keys.network, 32);
	other[31] ^= 1;
	ep_init(&a, &keys, 1, 0, other);
	ep_init(&b, &keys, 0, 0, NULL);
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) == NS_OK && len == NS_HS_MSG1_LEN,
	   "first message is %d bytes", NS_HS_MSG1_LEN);
	dh_before = ns_dh_count();
	err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_ERR_AUTH, "wrong network key refused at the first message (%s)",
	   ns_strerror(err));
	ok(ns_dh_count() == dh_before, "responder performed no DH for the stranger (%llu)",
	   (unsigned long long)(ns_dh_count() - dh_before));
	ok(ns_handshake_write(&b.hs, msg, sizeof(msg), &len) != NS_OK,
	   "and refuses to answer afterwards");
	ep_free(&a);
	ep_free(&b);

	/* The counter itself works: a member's handshake costs the responder DHs. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_handshake_write(&a.hs, msg, sizeof(msg), &len);
	dh_before = ns_dh_count();
	ok(ns_handshake_read(&b.hs, msg, len) == NS_OK && ns_dh_count() == dh_before,
	   "a member's first message is also read without DH");
	err = ns_handshake_write(&b.hs, msg, sizeof(msg), &len);
	dh_before = ns_dh_count() - dh_before;
	ok(err == NS_OK && dh_before >= 2, "answering it costs DH (%llu counted)",
	   (unsigned long long)dh_before);
	ep_free(&a);
	ep_free(&b);
}

static void test_replay(void)
{
	struct ep_side a, b, c;
	uint8_t msg1[128], msg[128];
	size_t len1, len;
	uint64_t dh_before;
	int err;

	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_handshake_write(&a.hs, msg1, sizeof(msg1), &len1);
	ok(ns_handshake_read(&b.hs, msg1, len1) == NS_OK, "first message accepted once");

	/* A second responder sharing the node's replay cache sees the copy. */
	ep_init(&c, &keys, 0, 0, NULL);
	c.hs.replay = &b.replay;
	dh_before = ns_dh_count();
	err = ns_handshake_read(&c.hs, msg1, len1);
	if (err == NS_OK)
		ns_handshake_write(&c.hs, msg, sizeof(msg), &len);
	ok(err == NS_ERR_REPLAY, "replayed first message refused (%s)", ns_strerror(err));
	ok(ns_dh_count() == dh_before, "no DH spent on the replay");
	ep_free(&c);

	/* The same message, once the window has passed, is stale. */
	ep_init(&c, &keys, 0, 0, NULL);
	ns_handshake_set_time(&c.hs, EP_NOW + NS_REPLAY_WINDOW_DEFAULT + 1, 0);
	err = ns_handshake_read(&c.hs, msg1, len1);
	ok(err == NS_ERR_STALE, "first message older than the window refused (%s)",
	   ns_strerror(err));
	ep_free(&c);
	ep_init(&c, &keys, 0, 0, NULL);
	ns_handshake_set_time(&c.hs, EP_NOW - NS_REPLAY_WINDOW_DEFAULT - 1, 0);
	err = ns_handshake_read(&c.hs, msg1, len1);
	ok(err == NS_ERR_STALE, "first message from the future refused (%s)", ns_strerror(err));
	ep_free(&c);
	ep_free(&a);
	ep_free(&b);
}

static void test_cache_full(void)
{
	struct ns_replay r;
	uint8_t e[32] = { 0 };
	int err = NS_OK, n = 0;

	ok(ns_replay_init(&r, 60, 256) == 0, "small replay cache");
	while (err == NS_OK && n < 100000) {
		e[0] = (uint8_t)n;
		e[1] = (uint8_t)(n >> 8);
		e[2] = (uint8_t)(n >> 16);
		err = ns_replay_check(&r, e, 1000, 1000);
		n++;
	}
	ok(err == NS_ERR_BUSY && n > 16 && n <= 257, "full cache refuses after %d entries (%s)",
	   n - 1, ns_strerror(err));
	/* All of those are remembered: each is a replay, none is forgotten. */
	err = NS_OK;
	for (int i = 0; i < n - 1 && err == NS_OK; i++) {
		e[0] = (uint8_t)i;
		e[1] = (uint8_t)(i >> 8);
		e[2] = (uint8_t)(i >> 16);
		if (ns_replay_check(&r, e, 1000, 1000) != NS_ERR_REPLAY)
			err = NS_ERR_INTERNAL;
	}
	ok(err == NS_OK, "every entry still refused as a replay");
	e[0] = 0xff;
	e[1] = 0xff;
	e[2] = 0xff;
	err = ns_replay_check(&r, e, 1200, 1200);
	ok(err == NS_OK, "expired entries make room again (%s)", ns_strerror(err));
	ns_replay_free(&r);

	ok(ns_replay_init(&r, 60, 1 << 16) == 0, "growing replay cache");
	err = NS_OK;
	for (n = 0; n < 20000 && err == NS_OK; n++) {
		e[0] = (uint8_t)n;
		e[1] = (uint8_t)(n >> 8);
		e[2] = 0xaa;
		err = ns_replay_check(&r, e, 1000, 1000);
	}
	ok(err == NS_OK && r.nslots > 20000, "grows to hold 20000 entries (%zu slots)", r.nslots);
	/* Growing forgets nothing: each of them is still a replay. */
	for (n = 0; n < 20000 && err == NS_OK; n++) {
		e[0] = (uint8_t)n;
		e[1] = (uint8_t)(n >> 8);
		if (ns_replay_check(&r, e, 1000, 1000) != NS_ERR_REPLAY)
			err = NS_ERR_INTERNAL;
	}
	ok(err == NS_OK, "after growing, all 20000 are still refused as replays");
	ns_replay_free(&r);

	/* Clustering: with 16-slot runs about one salt in 30 had a cache of
	 * 2^16 slots refuse a handshake before 20000 entries.  Many salts. */
	{
		int refused = 0, forgot = 0;
		for (int round = 0; round < 60; round++) {
			if (ns_replay_init(&r, 60, 1 << 16) != 0)
				break;
			e[2] = (uint8_t)round;
			err = NS_OK;
			for (n = 0; n < 20000 && err == NS_OK; n++) {
				e[0] = (uint8_t)n;
				e[1] = (uint8_t)(n >> 8);
				err = ns_replay_check(&r, e, 1000, 1000);
			}
			refused += err != NS_OK;
			e[0] = e[1] = 0;
			forgot += ns_replay_check(&r, e, 1000, 1000) != NS_ERR_REPLAY;
			ns_replay_free(&r);
		}
		ok(refused == 0 && forgot == 0,
		   "60 caches (fresh salts) of 2^16 slots take 20000 entries each: %d refused, "
		   "%d forgot the first", refused, forgot);
	}
}

static void test_version(void)
{
	struct noise_handshake v2;
	struct ep_side b;
	uint8_t msg[128], ts[NS_TIMESTAMP_LEN] = { 0 };
	size_t len;
	static const char prologue[] = "nodeseal protocol 2";

	ep_init(&b, &keys, 0, 0, NULL);
	noise_handshake_init(&v2, NS_PROTOCOL_NAME, true);
	noise_handshake_set_local_static(&v2, keys.node_i);
	noise_handshake_add_psk(&v2, b.id.psk[0]);
	noise_handshake_start(&v2, (const uint8_t *)prologue, sizeof(prologue) - 1);
	noise_handshake_write(&v2, ts, sizeof(ts), msg, sizeof(msg), &len);
	ok(len == NS_HS_MSG1_LEN && ns_handshake_read(&b.hs, msg, len) == NS_ERR_AUTH,
	   "a first message bound to another protocol version is refused");
	noise_handshake_free(&v2);
	ep_free(&b);
}

static void test_framing(void)
{
	struct ep_side a, b;
	uint8_t msg[128];
	size_t len;

	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_handshake_write(&a.hs, msg, sizeof(msg), &len);
	ok(ns_handshake_read(&b.hs, msg, len - 1) == NS_ERR_PROTO, "short first message refused");
	ok(ns_handshake_read(&a.hs, msg, len) == NS_ERR_PROTO,
	   "a message out of turn is refused");
	ok(ns_handshake_next_len(&b.hs) == 0 && ns_handshake_next_len(&a.hs) == 0,
	   "both handshakes are dead after an error");
	ep_free(&a);
	ep_free(&b);
}

/* An initiator that does not check: the Noise layer alone, with node_priv. */
static void raw_initiator(struct noise_handshake *v, const uint8_t node_priv[32],
                          const uint8_t psk[32], uint8_t *msg, size_t cap, size_t *len)
{
	uint8_t ts[NS_TIMESTAMP_LEN] = { 0 };

	for (int i = 0; i < 8; i++)
		ts[i] = (uint8_t)((uint64_t)EP_NOW >> (56 - 8 * i));
	noise_handshake_init(v, NS_PROTOCOL_NAME, true);
	noise_handshake_set_local_static(v, node_priv);
	noise_handshake_add_psk(v, psk);
	noise_handshake_start(v, (const uint8_t *)NS_PROLOGUE, sizeof(NS_PROLOGUE) - 1);
	noise_handshake_write(v, ts, sizeof(ts), msg, cap, len);
}

static void test_cloned_key(void)
{
	struct ep_keys clone = keys;
	struct ep_side a, b;
	struct noise_handshake v;
	struct ns_session s;
	uint8_t msg[128];
	size_t len, plen;
	int err;

	/* Both ends hold one node key: what a copied state directory, or an
	 * attacker reflecting our own connection back to us, looks like. */
	memcpy(clone.node_r, clone.node_i, 32);
	ep_init(&a, &clone, 1, 0, NULL);
	ep_init(&b, &clone, 0, 0, NULL);
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) == NS_OK &&
	   ns_handshake_read(&b.hs, msg, len) == NS_OK &&
	   ns_handshake_write(&b.hs, msg, sizeof(msg), &len) == NS_OK,
	   "cloned key: the first two messages are made");
	err = ns_handshake_read(&a.hs, msg, len);
	ok(err == NS_ERR_CLONED, "initiator refuses a responder with its own node key (%s)",
	   ns_strerror(err));
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) != NS_OK && !ns_handshake_done(&a.hs) &&
	   ns_handshake_finish(&a.hs, &s) != NS_OK,
	   "and stays failed: no third message, no session");
	ep_free(&a);
	ep_free(&b);

	/* The responder's own check, against an initiator that makes none. */
	ep_init(&b, &clone, 0, 0, NULL);
	raw_initiator(&v, clone.node_r, b.id.psk[0], msg, sizeof(msg), &len);
	ok(ns_handshake_read(&b.hs, msg, len) == NS_OK &&
	   ns_handshake_write(&b.hs, msg, sizeof(msg), &len) == NS_OK &&
	   noise_handshake_read(&v, msg, len, NULL, 0, &plen) == 0 &&
	   noise_handshake_write(&v, NULL, 0, msg, sizeof(msg), &len) == 0,
	   "an unchecking initiator with the responder's node key gets to its third message");
	err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_ERR_CLONED, "responder refuses an initiator with its own node key (%s)",
	   ns_strerror(err));
	ok(!ns_handshake_done(&b.hs) && ns_handshake_finish(&b.hs, &s) != NS_OK,
	   "and never completes: nothing can be delivered");
	noise_handshake_free(&v);
	ep_free(&b);

	/* The same unchecking initiator with a key of its own is accepted. */
	ep_init(&b, &keys, 0, 0, NULL);
	raw_initiator(&v, keys.node_i, b.id.psk[0], msg, sizeof(msg), &len);
	err = ns_handshake_read(&b.hs, msg, len);
	if (err == NS_OK)
		err = ns_handshake_write(&b.hs, msg, sizeof(msg), &len);
	if (err == NS_OK && (noise_handshake_read(&v, msg, len, NULL, 0, &plen) != 0 ||
	                     noise_handshake_write(&v, NULL, 0, msg, sizeof(msg), &len) != 0))
		err = NS_ERR_INTERNAL;
	if (err == NS_OK)
		err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_OK && ns_handshake_done(&b.hs), "control: another node key completes (%s)",
	   ns_strerror(err));
	noise_handshake_free(&v);
	ep_free(&b);
}

/* The members check: it says no to every key but allowed, and records
 * the key it was asked about. */
struct member_probe {
	const uint8_t *allowed;
	uint8_t asked[32];
	int calls;
};

static bool probe_check(void *ctx, const uint8_t key[32])
{
	struct member_probe *p = ctx;

	memcpy(p->asked, key, 32);
	p->calls++;
	return p->allowed != NULL && memcmp(key, p->allowed, 32) == 0;
}

static void test_not_member(void)
{
	struct ep_side a, b;
	struct member_probe pa = { NULL, { 0 }, 0 }, pb = { NULL, { 0 }, 0 };
	struct ns_session s;
	uint8_t msg[128];
	size_t len;
	int err;

	/* The initiator refuses the responder after message 2: message 3,
	 * which would let the responder deliver, is never written. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_handshake_set_check(&a.hs, probe_check, &pa);
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) == NS_OK &&
	   ns_handshake_read(&b.hs, msg, len) == NS_OK &&
	   ns_handshake_write(&b.hs, msg, sizeof(msg), &len) == NS_OK,
	   "not a member: the first two messages are made");
	err = ns_handshake_read(&a.hs, msg, len);
	ok(err == NS_ERR_NOT_MEMBER && pa.calls == 1 &&
	   memcmp(pa.asked, b.id.node.pub, 32) == 0,
	   "initiator asks about the responder's node key after message 2 and refuses it (%s)",
	   ns_strerror(err));
	ok(ns_handshake_peer_key(&a.hs) != NULL &&
	   memcmp(ns_handshake_peer_key(&a.hs), b.id.node.pub, 32) == 0,
	   "the refused key is there for the log's fingerprint");
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) != NS_OK &&
	   ns_handshake_finish(&a.hs, &s) != NS_OK, "and stays failed: no message 3, no session");
	ep_free(&a);
	ep_free(&b);

	/* The responder refuses the initiator after message 3: no session,
	 * so nothing is delivered. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_handshake_set_check(&b.hs, probe_check, &pb);
	ok(ns_handshake_write(&a.hs, msg, sizeof(msg), &len) == NS_OK &&
	   ns_handshake_read(&b.hs, msg, len) == NS_OK && pb.calls == 0 &&
	   ns_handshake_write(&b.hs, msg, sizeof(msg), &len) == NS_OK &&
	   ns_handshake_read(&a.hs, msg, len) == NS_OK &&
	   ns_handshake_write(&a.hs, msg, sizeof(msg), &len) == NS_OK,
	   "not a member: the initiator gets to its third message; no check before the key");
	err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_ERR_NOT_MEMBER && memcmp(pb.asked, a.id.node.pub, 32) == 0,
	   "responder refuses the initiator's node key after message 3 (%s)", ns_strerror(err));
	ok(!ns_handshake_done(&b.hs) && ns_handshake_finish(&b.hs, &s) != NS_OK,
	   "and never completes");
	ep_free(&a);
	ep_free(&b);

	/* Listed on both ends: the handshake completes. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	pa.allowed = b.id.node.pub;
	pb.allowed = a.id.node.pub;
	ns_handshake_set_check(&a.hs, probe_check, &pa);
	ns_handshake_set_check(&b.hs, probe_check, &pb);
	err = NS_OK;
	for (int i = 0; i < 3 && err == NS_OK; i++) {
		struct ep_side *w = i == 1 ? &b : &a, *r = i == 1 ? &a : &b;

		err = ns_handshake_write(&w->hs, msg, sizeof(msg), &len);
		if (err == NS_OK)
			err = ns_handshake_read(&r->hs, msg, len);
	}
	ok(err == NS_OK && ns_handshake_done(&a.hs) && ns_handshake_done(&b.hs),
	   "members on both ends complete (%s)", ns_strerror(err));
	ep_free(&a);
	ep_free(&b);
}

/* ep's keys replaced by n network keys (the first sent with) and its
 * handshake begun afresh under them, as a reload and a new connection. */
static int rekey(struct ep_side *ep, const struct ep_keys *k, int initiator, int pin,
                 const uint8_t *net, size_t n)
{
	ns_handshake_free(&ep->hs);
	if (ns_identity_set_keys(&ep->id, net, n) != 0 ||
	    ns_handshake_init(&ep->hs, initiator, &ep->id, initiator ? NULL : &ep->replay) != 0)
		return -1;
	ns_handshake_set_time(&ep->hs, EP_NOW, 0);
	if (pin && ns_handshake_fix_ephemeral(&ep->hs, initiator ? k->eph_i : k->eph_r) != 0)
		return -1;
	return 0;
}

static void test_rotation(void)
{
	struct ep_side a, b;
	uint8_t two[64], nb[32], na_nb[64], msg[128], t1[512] = { 0 }, t2[512] = { 0 };
	size_t len, l1 = 0, l2 = 0, lz = 0;
	uint64_t dh;
	int err;

	memcpy(nb, keys.network, 32);
	nb[0] ^= 0x80;                       /* the next key, B */
	memcpy(two, nb, 32);                 /* [B, A]: sends with B, accepts both */
	memcpy(two + 32, keys.network, 32);
	memcpy(na_nb, keys.network, 32);     /* [A, B]: sends with A, accepts both */
	memcpy(na_nb + 32, nb, 32);

	/* Step 1 done here, not there: A sends with A; B accepts [B, A]. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ok(rekey(&b, &keys, 0, 0, two, 2) == 0 && b.hs.npsk == 2, "responder holds [B, A]");
	ns_handshake_write(&a.hs, msg, sizeof(msg), &len);
	dh = ns_dh_count();
	err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_OK && ns_dh_count() == dh,
	   "initiator under A, responder [B, A]: first message accepted under the second key, "
	   "no DH for the first (%s)", ns_strerror(err));
	err = NS_OK;
	while (err == NS_OK && (!ns_handshake_done(&a.hs) || !ns_handshake_done(&b.hs))) {
		struct ep_side *w = ns_handshake_writing(&a.hs) ? &a : &b, *r = w == &a ? &b : &a;
		if ((err = ns_handshake_write(&w->hs, msg, sizeof(msg), &len)) == NS_OK)
			err = ns_handshake_read(&r->hs, msg, len);
	}
	ok(err == NS_OK && ns_handshake_finish(&a.hs, &a.s) == NS_OK &&
	   ns_handshake_finish(&b.hs, &b.s) == NS_OK &&
	   memcmp(a.s.handshake_hash, b.s.handshake_hash, 32) == 0,
	   "and the handshake completes, same hash (%s)", ns_strerror(err));
	a.has_session = b.has_session = 1;
	ep_free(&a);
	ep_free(&b);

	/* Step 3 done here, not there: A still sends with A; B holds [B]. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	rekey(&b, &keys, 0, 0, nb, 1);
	ns_handshake_write(&a.hs, msg, sizeof(msg), &len);
	dh = ns_dh_count();
	err = ns_handshake_read(&b.hs, msg, len);
	ok(err == NS_ERR_AUTH && ns_dh_count() == dh,
	   "initiator under A, responder [B]: refused at the first message, no DH (%s)",
	   ns_strerror(err));
	ok(ns_handshake_write(&b.hs, msg, sizeof(msg), &len) != NS_OK, "and stays refused");
	ep_free(&a);
	ep_free(&b);

	/* A stranger to both keys costs two AEAD opens and no DH. */
	memset(msg, 0x5a, NS_HS_MSG1_LEN);
	ep_init(&b, &keys, 0, 0, NULL);
	rekey(&b, &keys, 0, 0, two, 2);
	dh = ns_dh_count();
	err = ns_handshake_read(&b.hs, msg, NS_HS_MSG1_LEN);
	ok(err == NS_ERR_AUTH && ns_dh_count() == dh && !ns_handshake_writing(&b.hs) &&
	   ns_handshake_write(&b.hs, msg, sizeof(msg), &len) != NS_OK,
	   "a stranger's first message to [B, A]: refused, no DH, stays failed (%s)",
	   ns_strerror(err));
	ep_free(&b);

	/* Step 2 here, not there: A sends with B ([B, A]); B still [A, B] and
	 * [A] (before step 1: refused). */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	rekey(&a, &keys, 1, 0, two, 2);
	rekey(&b, &keys, 0, 0, na_nb, 2);
	ok(a.hs.npsk == 1 && ep_handshake(&a, &b, NULL, NULL, NULL, NULL) == NS_OK,
	   "initiator [B, A] sends with B; responder [A, B] accepts it");
	ep_free(&a);
	ep_free(&b);
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	rekey(&a, &keys, 1, 0, two, 2);
	err = ep_handshake(&a, &b, NULL, NULL, NULL, NULL);
	ok(err == NS_ERR_AUTH, "initiator [B, A], responder [A]: refused, the initiator never "
	   "falls back to A (%s)", ns_strerror(err));
	ep_free(&a);
	ep_free(&b);

	/* Pinned ephemerals: the retry under the second PSK is the same
	 * handshake as with that PSK alone. */
	ep_init(&a, &keys, 1, 1, NULL);
	ep_init(&b, &keys, 0, 1, NULL);
	err = ep_handshake(&a, &b, t1, &l1, t1 + 256, &lz);
	ep_free(&a);
	ep_free(&b);
	ep_init(&a, &keys, 1, 1, NULL);
	ep_init(&b, &keys, 0, 1, NULL);
	rekey(&b, &keys, 0, 1, two, 2);
	lz = 0;
	err |= ep_handshake(&a, &b, t2, &l2, t2 + 256, &lz);
	ok(err == NS_OK && l1 == l2 && memcmp(t1, t2, 512) == 0,
	   "pinned: responder [B, A] answers as responder [A] does, byte for byte");
	ep_free(&a);
	ep_free(&b);

	/* A reload between the connection's start and its first message. */
	ep_init(&a, &keys, 1, 0, NULL);
	ep_init(&b, &keys, 0, 0, NULL);
	ns_identity_set_keys(&b.id, nb, 1);
	ok(ep_handshake(&a, &b, NULL, NULL, NULL, NULL) == NS_OK,
	   "a handshake begun before a reload keeps the keys it began with");
	ep_free(&a);
	ep_free(&b);
}

int main(void)
{
	ep_keys_fixed(&keys, 7);
	test_agree();
	test_stranger();
	test_replay();
	test_cache_full();
	test_version();
	test_framing();
	test_cloned_key();
	test_not_member();
	test_rotation();
	return tap_done();
}
