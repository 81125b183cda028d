/*
 * endpoints.h: two nodeseal endpoints in memory, for the unit tests.
 * A transcript is the byte stream one side sent: handshake messages, then
 * records.  Pinned ephemeral keys and clocks make transcripts repeatable,
 * so a recorded stream can be replayed, byte for byte, into a fresh peer.
 */
#ifndef NS_ENDPOINTS_H
#define NS_ENDPOINTS_H

#include <stdlib.h>
#include <string.h>

#include "../../src/proto/proto.h"

#define EP_NOW 1700000000

struct ep_keys {
	uint8_t network[32], node_i[32], node_r[32], eph_i[32], eph_r[32];
};

static inline void ep_keys_fixed(struct ep_keys *k, uint8_t seed)
{
	for (int i = 0; i < 32; i++) {
		k->network[i] = (uint8_t)(seed + i);
		k->node_i[i] = (uint8_t)(seed * 3 + i * 7 + 1);
		k->node_r[i] = (uint8_t)(seed * 5 + i * 11 + 2);
		k->eph_i[i] = (uint8_t)(seed * 7 + i * 13 + 3);
		k->eph_r[i] = (uint8_t)(seed * 11 + i * 17 + 4);
	}
}

struct ep_side {
	struct ns_identity id;
	struct ns_handshake hs;
	struct ns_replay replay;
	struct ns_session s;
	int has_session;
};

/* Sets up one side; pinned ephemeral when pin is non-zero. */
static inline int ep_init(struct ep_side *ep, const struct ep_keys *k, int initiator, int pin,
                          const uint8_t *network_override)
{
	memset(ep, 0, sizeof(*ep));
	if (ns_identity_init(&ep->id, network_override ? network_override : k->network,
	                     initiator ? k->node_i : k->node_r) != 0)
		return -1;
	if (!initiator && ns_replay_init(&ep->replay, NS_REPLAY_WINDOW_DEFAULT, 1 << 16) != 0)
		return -1;
	if (ns_handshake_init(&ep->hs, initiator, &ep->id, initiator ? NULL : &ep->replay) != 0)
		return -1;
	if (pin && ns_handshake_fix_ephemeral(&ep->hs, initiator ? k->eph_i : k->eph_r) != 0)
		return -1;
	ns_handshake_set_time(&ep->hs, EP_NOW, 0);
	return 0;
}

static inline void ep_free(struct ep_side *ep)
{
	ns_handshake_free(&ep->hs);
	if (ep->has_session)
		ns_session_free(&ep->s);
	ns_replay_free(&ep->replay);
	ns_identity_wipe(&ep->id);
}

/* Runs the handshake in memory; appends each side's messages to its
 * transcript (may be NULL).  Returns the first error. */
static inline int ep_handshake(struct ep_side *a, struct ep_side *b, uint8_t *ta, size_t *la,
                               uint8_t *tb, size_t *lb)
{
	struct ep_side *sides[2] = { a, b };
	uint8_t msg[128];
	size_t len;
	int err, turn = 0;

	while (!ns_handshake_done(&a->hs) || !ns_handshake_done(&b->hs)) {
		struct ep_side *w = sides[turn], *r = sides[1 - turn];
		uint8_t *t = turn == 0 ? ta : tb;
		size_t *l = turn == 0 ? la : lb;

		if ((err = ns_handshake_write(&w->hs, msg, sizeof(msg), &len)) != NS_OK)
			return err;
		if (t != NULL) {
			memcpy(t + *l, msg, len);
			*l += len;
		}
		if ((err = ns_handshake_read(&r->hs, msg, len)) != NS_OK)
			return err;
		turn = 1 - turn;
	}
	if ((err = ns_handshake_finish(&a->hs, &a->s)) != NS_OK ||
	    (err = ns_handshake_finish(&b->hs, &b->s)) != NS_OK)
		return err;
	a->has_session = b->has_session = 1;
	return NS_OK;
}

/* Seals a DATA record of len bytes of data into t at *l. */
static inline int ep_seal(struct ep_side *ep, const uint8_t *data, size_t len, uint8_t *t,
                          size_t *l)
{
	int err = ns_record_seal(&ep->s.tx, len ? NS_RECORD_DATA : NS_RECORD_CLOSE, data, len,
	                         t + *l);
	if (err == NS_OK)
		*l += ns_record_wire_len(len);
	return err;
}

/*
 * Feeds a whole stream to a receiver as a socket would, in chunks of
 * chunk bytes: handshake messages first when hs_msgs is set (responder: the
 * first and third message; initiator: the second), then records.  Plaintext
 * released goes to out (*outlen).  Returns the first error, NS_OK if the
 * stream ended with a close record, or NS_ERR_TRUNCATED.
 */
static inline int ep_receive(struct ep_side *rx, struct ep_side *peer_for_hs, const uint8_t *t,
                             size_t len, size_t chunk, uint8_t *out, size_t *outlen)
{
	static uint8_t buf[NS_RECORD_MAX_WIRE * 2];
	size_t have = 0, pos = 0;
	int err;

	*outlen = 0;
	/* Handshake: the receiver reads what it must, writing its own answers
	 * into peer_for_hs (which does not check them: transcript replay). */
	while (!ns_handshake_done(&rx->hs)) {
		uint8_t msg[128];
		size_t mlen;

		if (ns_handshake_writing(&rx->hs)) {
			if ((err = ns_handshake_write(&rx->hs, msg, sizeof(msg), &mlen)) != NS_OK)
				return err;
			(void)peer_for_hs;
			continue;
		}
		mlen = ns_handshake_next_len(&rx->hs);
		if (len - pos < mlen)
			return NS_ERR_TRUNCATED;
		if ((err = ns_handshake_read(&rx->hs, t + pos, mlen)) != NS_OK)
			return err;
		pos += mlen;
	}
	if ((err = ns_handshake_finish(&rx->hs, &rx->s)) != NS_OK)
		return err;
	rx->has_session = 1;
	for (;;) {
		size_t take = len - pos < chunk ? len - pos : chunk, used;
		uint8_t *p, type;
		size_t plen;
		int rc;

		if (take > sizeof(buf) - have)
			take = sizeof(buf) - have;
		memcpy(buf + have, t + pos, take);
		have += take;
		pos += take;
		while ((rc = ns_record_open(&rx->s.rx, buf, have, &used, &p, &plen, &type)) == 1) {
			memcpy(out + *outlen, p, plen);
			*outlen += plen;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (rc < 0)
			return rc;
		if (pos == len)
			return have == 0 ? ns_record_eof(&rx->s.rx) : NS_ERR_TRUNCATED;
	}
}

#endif
