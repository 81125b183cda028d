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

#define REPLAY_PROBES 16
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

static int replay_grow(struct ns_replay *r, int64_t now)
{
	struct ns_replay_slot *old = r->slots;
	size_t oldn = r->nslots;

	if (r->nslots * 2 > r->max_slots)
		return -1;
	r->slots = calloc(oldn * 2, sizeof(*r->slots));
	if (r->slots == NULL) {
		r->slots = old;
		return -1;
	}
	r->nslots = oldn * 2;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].expires > now)
			(void)replay_place(r, old[i].id, old[i].expires, now);
	free(old);
	return 0;
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
