/* pmtu.c: learned path MTUs by peer address (pmtu.h). */
#include <stdlib.h>
#include <string.h>

#include "pmtu.h"

#define NSETS (NS_PMTU_SLOTS / NS_PMTU_WAYS)

static uint32_t set_of(const struct ns_pmtu_table *t, bool v6, const uint8_t *addr)
{
	/* Seeded multiply-xorshift, as the flow table's: a stranger cannot
	 * aim every address at one set. */
	uint64_t h = t->seed ^ (uint64_t)v6;
	uint8_t key[16] = { 0 };

	memcpy(key, addr, v6 ? 16 : 4);
	for (int i = 0; i < 16; i += 8) {
		uint64_t w;
		memcpy(&w, key + i, 8);
		h ^= w;
		h *= 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ (h >> 32)) & (NSETS - 1);
}

static bool same(const struct ns_pmtu_entry *e, bool v6, const uint8_t *addr)
{
	return e->used && e->v6 == v6 && memcmp(e->addr, addr, v6 ? 16 : 4) == 0;
}

int ns_pmtu_init(struct ns_pmtu_table *t, uint64_t seed)
{
	t->seed = seed;
	t->last_expiry_ms = 0;
	t->e = calloc(NS_PMTU_SLOTS, sizeof(*t->e));
	return t->e != NULL ? 0 : -1;
}

void ns_pmtu_free(struct ns_pmtu_table *t)
{
	free(t->e);
	t->e = NULL;
}

static uint16_t clip(uint32_t v)
{
	return (uint16_t)(v > 65535 ? 65535 : v);
}

void ns_pmtu_note(struct ns_pmtu_table *t, bool v6, const uint8_t *addr, uint32_t path,
                  uint32_t told, int64_t now_ms)
{
	struct ns_pmtu_entry *set, *slot = NULL;

	if (t->e == NULL)
		return;
	set = &t->e[set_of(t, v6, addr) * NS_PMTU_WAYS];
	for (int i = 0; i < NS_PMTU_WAYS; i++) {
		if (same(&set[i], v6, addr)) {
			slot = &set[i];
			break;
		}
		if (slot == NULL || !set[i].used ||
		    (slot->used && set[i].expires_ms < slot->expires_ms))
			slot = &set[i];
	}
	if (!same(slot, v6, addr)) {
		memset(slot, 0, sizeof(*slot));
		slot->used = 1;
		slot->v6 = (uint8_t)v6;
		memcpy(slot->addr, addr, v6 ? 16 : 4);
	} else if (slot->expires_ms > now_ms && slot->told < told) {
		/* The stack keeps the lowest PMTU it was told until it expires:
		 * a larger value now does not raise what it uses. */
		told = slot->told;
		path = slot->path < path ? slot->path : path;
	}
	slot->path = clip(path);
	slot->told = clip(told);
	slot->expires_ms = now_ms + NS_PMTU_TTL_MS;
	if (slot->expires_ms > t->last_expiry_ms)
		t->last_expiry_ms = slot->expires_ms;
}

bool ns_pmtu_get(const struct ns_pmtu_table *t, bool v6, const uint8_t *addr, int64_t now_ms,
                uint32_t *path, uint32_t *told)
{
	const struct ns_pmtu_entry *set;

	/* Every sealed segment asks; almost always nothing was ever noted. */
	if (t->e == NULL || now_ms >= t->last_expiry_ms)
		return false;
	set = &t->e[set_of(t, v6, addr) * NS_PMTU_WAYS];
	for (int i = 0; i < NS_PMTU_WAYS; i++)
		if (same(&set[i], v6, addr) && set[i].expires_ms > now_ms) {
			*path = set[i].path;
			*told = set[i].told;
			return true;
		}
	return false;
}

uint32_t ns_pmtu_count(const struct ns_pmtu_table *t, int64_t now_ms)
{
	uint32_t n = 0;

	for (uint32_t i = 0; t->e != NULL && i < NS_PMTU_SLOTS; i++)
		n += t->e[i].used && t->e[i].expires_ms > now_ms;
	return n;
}
