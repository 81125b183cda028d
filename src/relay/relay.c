/*
 * relay.c: what the connections share, from start to stop (relay.h).
 */
#include <stdio.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "../event/clock.h"
#include "../util/log.h"
#include "../util/net.h"
#include "admission.h"
#include "relay.h"

const char *const ns_refusal_kinds[NS_REFUSAL_KINDS] = {
	"authentication", "replay", "clock", "busy", "timeout", "other", "limit", "evicted",
	"cloned", "plain", "downgrade", "not_member", "bad_proof", "chain_unavailable",
};

/* Peers are usually set up like this host: if its ephemeral ports reach
 * into the delivery range, so do theirs, and deliveries can clash with
 * wire connections (then skipped, at a cost: conn.c, deliver_start). */
static void delivery_ports_check(struct ns_relay *r)
{
	const struct ns_config *cfg = r->cfg;
	unsigned lo, hi;
	uint16_t start;

	ns_ephemeral_range(&lo, &hi);
	if (lo <= cfg->delivery_hi && hi >= cfg->delivery_lo)
		ns_log(NS_LOG_WARN, "delivery ports %u-%u overlap this host's ip_local_port_range "
		       "%u-%u; choose --delivery-ports outside the peers' range", cfg->delivery_lo,
		       cfg->delivery_hi, lo, hi);
	if (ns_random(&start, sizeof(start)) == 0)
		r->delivery_next = start;
}

int ns_relay_init(struct ns_relay *r, const struct ns_config *cfg, struct ns_loop *loop,
                  struct ns_peers *peers, const uint8_t network_key[NS_KEY_LEN],
                  const uint8_t node_priv[32], char *err, size_t errlen)
{
	r->cfg = cfg;
	r->loop = loop;
	r->peers = peers;
	r->policy = cfg->policy;
	ns_pool_init(&r->pool, NS_BUF_SIZE);
	if (ns_identity_init(&r->id, network_key, node_priv) != 0 ||
	    ns_replay_init(&r->replay, cfg->clock_window, 1 << 20) != 0) {
		snprintf(err, errlen, "cannot set up keys");
		return -1;
	}
	ns_fingerprint(r->id.node.pub, r->fingerprint);
	delivery_ports_check(r);
	return 0;
}

/* Clear peers stay listed while a clear connection with them is open. */
static void clear_seen(struct ns_relay *r)
{
	int64_t now = ns_wall_s();

	for (struct ns_conn *c = r->conns; c != NULL; c = c->next)
		if (c->clear && c->state == NS_C_RELAY)
			ns_peers_saw_clear(r->peers, &c->peer_ip, now);
}

static void chain_refreshed(void *cookie);

void ns_relay_tick(struct ns_relay *r, int64_t now_ms)
{
	/* The stale cut holds whenever the refresh ends, or does not. */
	if (r->chain != NULL && ns_chain_stale(r->chain))
		chain_refreshed(r);
	ns_admit_expire(r, now_ms);
	ns_pool_trim(&r->pool);
	clear_seen(r);
}

int ns_relay_close_clear(struct ns_relay *r, const struct ns_peer_addr *addr,
                         const struct ns_conn *keep, const char *reason)
{
	struct ns_conn *c = r->conns;
	int n = 0;

	while (c != NULL) {
		struct ns_conn *next = c->next;

		if (c->clear && c != keep && (addr == NULL || ns_peer_addr_equal(addr, &c->peer_ip))) {
			ns_conn_close(c, true, reason);
			n++;
		}
		c = next;
	}
	return n;
}

int ns_relay_set_policy(struct ns_relay *r, enum ns_policy policy)
{
	r->policy = policy;
	if (policy != NS_POLICY_REQUIRED)
		return 0;
	return ns_relay_close_clear(r, NULL, NULL, "policy now required: no connection in clear");
}

/* The peer key of a sealed connection, once the handshake has given it. */
static const uint8_t *conn_peer_key(const struct ns_conn *c)
{
	if (c->clear)
		return NULL;
	if (c->has_session)
		return c->session.peer_key;
	return c->hs != NULL ? ns_handshake_peer_key(c->hs) : NULL;
}

int ns_relay_set_members(struct ns_relay *r, const struct ns_members *members)
{
	struct ns_conn *c = r->conns;
	int n = 0;

	r->members = members;
	if (members == NULL)
		return 0;
	while (c != NULL) {
		struct ns_conn *next = c->next;
		const uint8_t *key = conn_peer_key(c);
		const struct ns_member *m = key != NULL ? ns_members_find(members, key) : NULL;

		/* A member kept may have been renamed: status shows the new name. */
		if (m != NULL && c->state == NS_C_RELAY)
			memcpy(c->name, m->name, sizeof(c->name));
		if (key != NULL && m == NULL) {
			if (c->fingerprint[0] == '\0')
				ns_fingerprint(key, c->fingerprint);
			if (ns_conn_pending(c))
				c->refusal = NS_R_NOT_MEMBER;
			ns_conn_close(c, true, "removed from the members list");
			n++;
		}
		c = next;
	}
	return n;
}

void ns_relay_close_all(struct ns_relay *r, const char *reason)
{
	while (r->conns != NULL)
		ns_conn_close(r->conns, true, reason);
}

void ns_relay_free(struct ns_relay *r)
{
	ns_pool_free(&r->pool);
	ns_replay_free(&r->replay);
	ns_identity_wipe(&r->id);
}

/* Records and rekeys come from the nonce counts the record layer keeps
 * anyway: two nonces a record (header, body), and a rekey before each
 * multiple of NS_REKEY_NONCES (proto.h). */
static void dir_totals(const struct ns_record_dir *d, uint64_t *records, uint64_t *rekeys)
{
	uint64_t n = d->cs.n;

	*records += n / 2;
	*rekeys += n > 0 ? (n - 1) / NS_REKEY_NONCES : 0;
}

void ns_relay_conn_totals(const struct ns_conn *c, struct ns_relay_totals *t)
{
	t->bytes_out += c->bytes_out;
	t->bytes_in += c->bytes_in;
	if (!c->has_session)
		return;
	dir_totals(&c->session.tx, &t->records_out, &t->rekeys);
	dir_totals(&c->session.rx, &t->records_in, &t->rekeys);
}

void ns_relay_stats(const struct ns_relay *r, struct ns_relay_stats *out)
{
	memcpy(out->fingerprint, r->fingerprint, sizeof(out->fingerprint));
	out->conns = r->nconns;
	out->refused = r->refused;
	memcpy(out->refused_by, r->refused_by, sizeof(out->refused_by));
	out->totals = r->gone;
	for (const struct ns_conn *c = r->conns; c != NULL; c = c->next)
		ns_relay_conn_totals(c, &out->totals);
}

bool ns_relay_conn_next(const struct ns_relay *r, const void **cursor, int64_t now_ms,
                        struct ns_conn_info *out)
{
	const struct ns_conn *c = *cursor == NULL ? r->conns
	                                          : ((const struct ns_conn *)*cursor)->next;

	*cursor = c;
	if (c == NULL)
		return false;
	memcpy(out->peer, c->peer_text, sizeof(out->peer));
	ns_peer_addr_text(&c->peer_ip, out->addr, sizeof(out->addr));
	out->sealed = !c->clear;
	out->since = c->state == NS_C_RELAY ? c->since : 0;
	memcpy(out->fingerprint, c->fingerprint, sizeof(out->fingerprint));
	memcpy(out->name, c->name, sizeof(out->name));
	memcpy(out->chain_addr, c->chain_addr, sizeof(out->chain_addr));
	out->outbound = c->outbound;
	out->bytes_out = c->bytes_out;
	out->bytes_in = c->bytes_in;
	out->age_ms = now_ms - c->started_ms;
	out->state = ns_conn_state_name(c);
	return true;
}

static void chain_verdict(void *cookie, uint64_t id, int verdict, const char *why)
{
	struct ns_relay *r = cookie;

	for (struct ns_conn *c = r->conns; c != NULL; c = c->next)
		if (c->id == id) {
			ns_conn_verdict(c, verdict, why);
			return;
		}
}

/*
 * After each refresh: a connection whose peer's address no longer holds
 * connect ends (so does every one once our own address lost it).  Every
 * second too while the node's RPC has not answered a refresh for
 * NS_CHAIN_STALE_INTERVALS intervals and a timeout (ns_relay_tick).
 */
static void chain_refreshed(void *cookie)
{
	struct ns_relay *r = cookie;
	struct ns_conn *c = r->conns;

	while (c != NULL) {
		struct ns_conn *next = c->next;

		if (c->chain_addr[0] != '\0' && (c->admitted || c->state == NS_C_RELAY) &&
		    !ns_chain_holds_connect(r->chain, c->chain_addr)) {
			ns_log(NS_LOG_WARN, "chain: %s %s address %s: no connect permission now (or "
			       "the node's RPC silent too long): connection reset",
			       c->outbound ? "out" : "in", c->peer_text, c->chain_addr);
			if (ns_conn_pending(c))
				c->refusal = NS_R_NOT_MEMBER;
			ns_conn_close(c, true, "connect permission revoked");
		}
		c = next;
	}
}

void ns_relay_set_chain(struct ns_relay *r, struct ns_chain *ch)
{
	r->chain = ch;
	if (ch != NULL)
		ns_chain_set_handlers(ch, chain_verdict, chain_refreshed, r);
}
