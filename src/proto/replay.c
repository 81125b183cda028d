/*
 * replay.c: first messages already seen, so that a replayed one costs the
 * responder a table lookup instead of a key generation and two DH.
 *
 * A first message carries its sender's clock; one older or newer than the
 * window is refused outright, so only the last 2 * window seconds need
 * remembering.  Entries live in an open-addressed table probed over a short
 * run; it doubles when a run is full (up to max_slots) and drops expired
 * entries when it does.  When it cannot grow, new handshakes are refused:
 * failing closed beats forgetting and doing the work twice.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Linear probing clusters: at a third full, a run of 16 taken slots turns
 * up every few tens of thousands of entries (a table that then could not
 * grow refused handshakes).  A run of 64 stays out of reach below
 * half full, and costs a scan of 1.5 KiB per first message. */
#define REPLAY_PROBES 64
#define REPLAY_MIN_SLOTS 256

struct ns_replay_slot {
	uint8_t id[16];   /* first 16 bytes of the ephemeral key */
	int64_t expires;  /* 0: empty */
};

int ns_replay_init(struct ns_replay *r, int64_t window, size_t max_entries)
{
	memset(r, 0, sizeof(*r));
	r->window = window;
	r->max_slots = max_entries < REPLAY_MIN_SLOTS ? REPLAY_MIN_SLOTS : max_entries;
	r->nslots = REPLAY_MIN_SLOTS;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (r->slots == NULL || ns_random(r->salt, sizeof(r->salt)) != 0) {
		free(r->slots);
		r->slots = NULL;
		return -1;
	}
	return 0;
}

static size_t replay_index(const struct ns_replay *r, const uint8_t id[16])
{
	uint8_t h[32];
	uint64_t v = 0;

	/* Salted, so nobody can aim entries at one run of slots. */
	if (ns_hash(NS_HASH_SHA256, r->salt, sizeof(r->salt), id, 16, h) != 0)
		memcpy(h, id, 8);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return (size_t)(v & (r->nslots - 1));
}

/* Puts id in the first free or expired slot of its run; -1 if none. */
static int replay_place(struct ns_replay *r, const uint8_t id[16], int64_t expires, int64_t now)
{
	size_t i = replay_index(r, id);

	for (int p = 0; p < REPLAY_PROBES; p++, i = (i + 1) & (r->nslots - 1)) {
		struct ns_replay_slot *s = &r->slots[i];
		if (s->expires <= now) {
			memcpy(s->id, id, 16);
			s->expires = expires;
			return 0;
		}
	}
	return -1;
}

/* Every live entry of old into r's (empty) table; -1 if one finds no
 * room, so that the caller can try a larger table: forgetting an entry
 * would let its first message be replayed. */
static int replay_rehash(struct ns_replay *r, const struct ns_replay_slot *old, size_t oldn,
                         int64_t now)
{
	for (size_t i = 0; i < oldn; i++)
		if (old[i].expires > now && replay_place(r, old[i].id, old[i].expires, now) != 0)
			return -1;
	return 0;
}

static int replay_grow(struct ns_replay *r, int64_t now)
{
	struct ns_replay_slot *old = r->slots;
	size_t oldn = r->nslots;

	for (size_t n = oldn * 2; n <= r->max_slots; n *= 2) {
		r->slots = calloc(n, sizeof(*r->slots));
		if (r->slots == NULL)
			break;
		r->nslots = n;
		if (replay_rehash(r, old, oldn, now) == 0) {
			free(old);
			return 0;
		}
		free(r->slots);
	}
	r->slots = old;
	r->nslots = oldn;
	return -1;
}

int ns_replay_check(struct ns_replay *r, const uint8_t e[32], int64_t ts, int64_t now)
{
	size_t i;

	if (ts < now - r->window || ts > now + r->window)
		return NS_ERR_STALE;
	/* The whole run is searched before anything is placed: a match can
	 * sit behind a slot that has expired since. */
	i = replay_index(r, e);
	for (int p = 0; p < REPLAY_PROBES; p++, i = (i + 1) & (r->nslots - 1))
		if (r->slots[i].expires > now && ns_ct_equal(r->slots[i].id, e, 16))
			return NS_ERR_REPLAY;
	while (replay_place(r, e, ts + r->window + 1, now) != 0)
		if (replay_grow(r, now) != 0)
			return NS_ERR_BUSY;
	return NS_OK;
}

void ns_replay_free(struct ns_replay *r)
{
	free(r->slots);
	memset(r, 0, sizeof(*r));
}
