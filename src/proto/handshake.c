/*
 * handshake.c: the nodeseal handshake, Noise_XXpsk0_25519_AESGCM_SHA256.
 *
 *   -> psk, e          payload: timestamp (12 bytes)      60 bytes
 *   <- e, ee, s, es    payload: empty                     96 bytes
 *   -> s, se           payload: empty                     64 bytes
 *
 * psk0 keys the first message's tag with the network key, so the responder
 * authenticates it (and its timestamp) before any DH: a stranger costs one
 * AEAD open for each network key the responder holds (two during a
 * rotation).  The replay cache then refuses a first message seen before.
 * A peer's static key, once it arrives, is checked against our own (a
 * cloned key) and, with a members list, against the list.
 */
#include <string.h>

#include "proto.h"

const char *ns_strerror(int err)
{
	switch (err) {
	case NS_OK: return "ok";
	case NS_ERR_AUTH: return "authentication failed (wrong network key or tampering)";
	case NS_ERR_STALE: return "handshake timestamp outside the accepted window (clock skew?)";
	case NS_ERR_REPLAY: return "replayed handshake";
	case NS_ERR_BUSY: return "replay cache full, handshake refused";
	case NS_ERR_PROTO: return "protocol violation";
	case NS_ERR_TRUNCATED: return "stream cut without a close record";
	case NS_ERR_INTERNAL: return "internal error";
	case NS_ERR_CLONED:
		return "peer has this node's own node key (a cloned node key, or a reflected "
		       "connection)";
	case NS_ERR_NOT_MEMBER: return "peer's node key is not in the members list";
	}
	return "unknown error";
}

/* Key separation: the network key itself never enters a cipher. */
static int psk_derive(const uint8_t network_key[NS_KEY_LEN], uint8_t psk[NS_KEY_LEN])
{
	static const char label[] = "nodeseal protocol 1 handshake psk";

	return ns_hmac(NS_HASH_SHA256, network_key, NS_KEY_LEN, (const uint8_t *)label,
	               sizeof(label) - 1, NULL, 0, psk);
}

int ns_identity_init(struct ns_identity *id, const uint8_t network_key[NS_KEY_LEN],
                     const uint8_t node_priv[32])
{
	memset(id, 0, sizeof(*id));
	if (psk_derive(network_key, id->psk[0]) != 0)
		return -1;
	id->npsk = 1;
	return ns_dh_from_private(NS_DH_25519, node_priv, &id->node);
}

int ns_identity_set_keys(struct ns_identity *id, const uint8_t *network_keys, size_t n)
{
	uint8_t psk[NS_PSK_MAX][NS_KEY_LEN];
	int rc = -1;

	if (n < 1 || n > NS_PSK_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (psk_derive(network_keys + i * NS_KEY_LEN, psk[i]) != 0)
			goto out;
	/* All or nothing: a half-replaced set would send with one key and
	 * accept another. */
	ns_wipe(id->psk, sizeof(id->psk));
	memcpy(id->psk, psk, n * NS_KEY_LEN);
	id->npsk = n;
	rc = 0;
out:
	ns_wipe(psk, sizeof(psk));
	return rc;
}

void ns_identity_wipe(struct ns_identity *id)
{
	ns_dh_keypair_free(&id->node);
	ns_wipe(id, sizeof(*id));
}

/* A fresh Noise state under the k-th PSK.  Nothing here costs a scalar
 * multiplication: a stranger's connection must be cheap until its first
 * message has been authenticated. */
static int hs_setup(struct ns_handshake *h, bool initiator, size_t k)
{
	if (noise_handshake_init(&h->noise, NS_PROTOCOL_NAME, initiator) != 0 ||
	    noise_handshake_set_local_keypair(&h->noise, h->node) != 0 ||
	    noise_handshake_add_psk(&h->noise, h->psk[k]) != 0 ||
	    (h->has_fixed_e && noise_handshake_set_fixed_ephemeral(&h->noise, h->fixed_e) != 0))
		return NS_ERR_INTERNAL;
	return NS_OK;
}

int ns_handshake_init(struct ns_handshake *h, bool initiator, const struct ns_identity *id,
                      struct ns_replay *replay)
{
	memset(h, 0, sizeof(*h));
	if ((!initiator && replay == NULL) || id->npsk < 1 || id->npsk > NS_PSK_MAX)
		return NS_ERR_INTERNAL;
	h->replay = replay;
	h->node = &id->node;
	/* A copy: a reload changes id's keys, not a handshake's. */
	memcpy(h->psk, id->psk, sizeof(h->psk));
	h->npsk = initiator ? 1 : id->npsk; /* an initiator sends with the first */
	return hs_setup(h, initiator, 0);
}

int ns_handshake_fix_ephemeral(struct ns_handshake *h, const uint8_t priv[32])
{
	if (noise_handshake_set_fixed_ephemeral(&h->noise, priv) != 0)
		return NS_ERR_INTERNAL;
	memcpy(h->fixed_e, priv, sizeof(h->fixed_e));
	h->has_fixed_e = true;
	return NS_OK;
}

void ns_handshake_set_check(struct ns_handshake *h, ns_peer_check_fn *check, void *ctx)
{
	h->check = check;
	h->check_ctx = ctx;
}

const uint8_t *ns_handshake_peer_key(const struct ns_handshake *h)
{
	return h->noise.has_rs ? h->noise.rs : NULL;
}

void ns_handshake_set_time(struct ns_handshake *h, int64_t sec, uint32_t nsec)
{
	h->now = sec;
	h->now_ns = nsec;
}

static int hs_start(struct ns_handshake *h)
{
	if (h->noise.state != NOISE_HS_NEW)
		return NS_OK;
	return noise_handshake_start(&h->noise, (const uint8_t *)NS_PROLOGUE,
	                             sizeof(NS_PROLOGUE) - 1) == 0 ? NS_OK : NS_ERR_INTERNAL;
}

size_t ns_handshake_next_len(const struct ns_handshake *h)
{
	static const size_t lens[3] = { NS_HS_MSG1_LEN, NS_HS_MSG2_LEN, NS_HS_MSG3_LEN };

	if (h->noise.state != NOISE_HS_NEW && h->noise.state != NOISE_HS_RUNNING)
		return 0;
	return lens[h->noise.msg];
}

bool ns_handshake_writing(const struct ns_handshake *h)
{
	if (h->noise.state == NOISE_HS_NEW)
		return h->noise.initiator;
	return noise_handshake_my_turn(&h->noise);
}

bool ns_handshake_done(const struct ns_handshake *h)
{
	return h->noise.state == NOISE_HS_DONE;
}

static void timestamp_encode(uint8_t out[NS_TIMESTAMP_LEN], int64_t sec, uint32_t nsec)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)sec >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

static int64_t timestamp_seconds(const uint8_t in[NS_TIMESTAMP_LEN])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return (int64_t)(v & INT64_MAX);
}

int ns_handshake_write(struct ns_handshake *h, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t payload[NS_TIMESTAMP_LEN];
	size_t plen = 0;

	if (hs_start(h) != NS_OK || !ns_handshake_writing(h))
		return NS_ERR_PROTO;
	if (h->noise.msg == 0) {
		timestamp_encode(payload, h->now, h->now_ns);
		plen = sizeof(payload);
	}
	if (noise_handshake_write(&h->noise, payload, plen, out, cap, len) != 0)
		return NS_ERR_INTERNAL;
	return NS_OK;
}

/*
 * Our own node key on the other end is never a peer: either the state
 * directory was copied to a second node (two nodes one identity), or an
 * attacker turned our connection back on ourselves.  Checked as soon as
 * the key arrives (message 2 for the initiator, 3 for the responder), so
 * the handshake never completes and nothing reaches the node.
 */
static bool peer_is_self(const struct ns_handshake *h)
{
	return h->noise.has_rs && ns_ct_equal(h->noise.rs, h->noise.s.pub, 32) == 1;
}

int ns_handshake_read(struct ns_handshake *h, const uint8_t *msg, size_t len)
{
	uint8_t payload[NS_TIMESTAMP_LEN];
	size_t plen;
	int first = h->noise.msg == 0, err, rc;

	if (hs_start(h) != NS_OK)
		return NS_ERR_INTERNAL;
	if (ns_handshake_writing(h) || len != ns_handshake_next_len(h)) {
		h->noise.state = NOISE_HS_FAILED;
		return NS_ERR_PROTO;
	}
	rc = noise_handshake_read(&h->noise, msg, len, payload, sizeof(payload), &plen);
	/* A responder holding two network keys tries the first message under
	 * each: a wrong PSK fails the tag, and nothing before the tag costs a
	 * DH (e is only hashed and mixed in), so a stranger still costs AEAD
	 * opens, one a key held, and never a scalar multiplication. */
	for (size_t k = 1; rc != 0 && first && !h->noise.initiator && k < h->npsk; k++) {
		noise_handshake_free(&h->noise);
		if (hs_setup(h, false, k) != NS_OK || hs_start(h) != NS_OK) {
			h->noise.state = NOISE_HS_FAILED;
			return NS_ERR_INTERNAL;
		}
		rc = noise_handshake_read(&h->noise, msg, len, payload, sizeof(payload), &plen);
	}
	if (rc != 0)
		return NS_ERR_AUTH;
	if (plen != (first ? NS_TIMESTAMP_LEN : 0U)) {
		h->noise.state = NOISE_HS_FAILED;
		return NS_ERR_PROTO;
	}
	if (peer_is_self(h)) {
		h->noise.state = NOISE_HS_FAILED;
		return NS_ERR_CLONED;
	}
	/* The members list, at the same point: the initiator never writes
	 * message 3 to a non-member, the responder never delivers one. */
	if (h->check != NULL && h->noise.has_rs && !h->check(h->check_ctx, h->noise.rs)) {
		h->noise.state = NOISE_HS_FAILED;
		return NS_ERR_NOT_MEMBER;
	}
	if (first) {
		/* Authentic, but possibly replayed: the cache decides before the
		 * responder spends a DH on it. */
		err = ns_replay_check(h->replay, h->noise.re, timestamp_seconds(payload), h->now);
		if (err != NS_OK) {
			h->noise.state = NOISE_HS_FAILED;
			return err;
		}
	}
	return NS_OK;
}

int ns_handshake_finish(struct ns_handshake *h, struct ns_session *s)
{
	size_t hlen;
	const uint8_t *hash;

	memset(s, 0, sizeof(*s));
	if (!ns_handshake_done(h) ||
	    noise_handshake_split(&h->noise, &s->tx.cs, &s->rx.cs) != 0)
		return NS_ERR_INTERNAL;
	memcpy(s->peer_key, noise_handshake_remote_static(&h->noise), 32);
	hash = noise_handshake_hash(&h->noise, &hlen);
	memcpy(s->handshake_hash, hash, sizeof(s->handshake_hash));
	s->tx.state = s->rx.state = NS_DIR_OPEN;
	return NS_OK;
}

void ns_handshake_free(struct ns_handshake *h)
{
	noise_handshake_free(&h->noise);
	ns_wipe(h, sizeof(*h));
}
