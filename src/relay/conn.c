/*
 * conn.c: one connection, from accept to close (conn.h).
 *
 * Each event runs the connection as far as it goes without blocking: its
 * state's step, then the pumps (pump.c), which say which readiness they
 * wait for; only that is watched.  Everything that ends a connection comes
 * back to ns_conn_close.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../event/clock.h"
#include "../keys/keys.h"
#include "../util/log.h"
#include "../util/net.h"
#include "admission.h"
#include "pump.h"
#include "relay.h"

/* What a state's step tells the run. */
enum step { STEP_ON, STEP_WAIT, STEP_FAILED, STEP_ENDED };

static ns_watch_fn conn_event;

const char *ns_conn_state_name(const struct ns_conn *c)
{
	switch (c->state) {
	case NS_C_CONNECTING: return "connecting";
	case NS_C_SNIFFING: return "sniffing";
	case NS_C_HANDSHAKE: return "handshake";
	case NS_C_PROVING: return "proving";
	case NS_C_DELIVERING: return "delivering";
	case NS_C_RELAY: return "relay";
	}
	return "?";
}

bool ns_conn_pending(const struct ns_conn *c)
{
	return c->state != NS_C_RELAY;
}

struct ns_conn *ns_conn_new(struct ns_relay *r, bool outbound, ns_conn_dead_fn *dead,
                            void *cookie)
{
	struct ns_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->relay = r;
	c->dead = dead;
	c->cookie = cookie;
	c->outbound = outbound;
	ns_watch_init(&c->local, r->loop, -1, conn_event, c);
	ns_watch_init(&c->remote, r->loop, -1, conn_event, c);
	c->rcvlowat = 1; /* the kernel's default */
	c->started_ms = ns_now_ms();
	return c;
}

void ns_conn_close(struct ns_conn *c, bool abort, const char *reason)
{
	/* The owner first: it logs the connection as it was. */
	c->dead(c->cookie, c, reason);
	if (abort) {
		ns_socket_reset(c->local.fd);
		ns_socket_reset(c->remote.fd);
	}
	ns_watch_drop(&c->local);
	ns_watch_drop(&c->remote);
	if (c->pinned && c->relay->chain != NULL)
		ns_chain_unpin(c->relay->chain, c->chain_addr);
	c->pinned = false;
	if (c->hs) {
		ns_handshake_free(c->hs);
		free(c->hs);
		c->hs = NULL;
	}
	if (c->has_session)
		ns_session_free(&c->session);
	c->has_session = false;
	ns_pump_release(c);
}

/* Asked during the handshake, so a reload counts for handshakes under way. */
static bool is_member(void *ctx, const uint8_t key[32])
{
	const struct ns_relay *r = ctx;

	return r->members == NULL || ns_members_find(r->members, key) != NULL;
}

/*
 * --members chain: without a proof of our own to send (the node's RPC not
 * answering yet, our address without connect), every handshake would end
 * refused; it is refused before it costs a Diffie-Hellman.
 */
static int chain_not_ready(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	uint8_t proof[NS_PROOF_MAX];

	if (c->relay->chain == NULL ||
	    ns_chain_own_proof(c->relay->chain, proof, sizeof(proof), err, errlen) >= 0)
		return 0;
	c->refusal = NS_R_CHAIN_UNAVAILABLE;
	*why = err;
	return -1;
}

static int hs_start(struct ns_conn *c, bool initiator)
{
	struct ns_relay *r = c->relay;

	c->hs = malloc(sizeof(*c->hs));
	if (c->hs == NULL ||
	    ns_handshake_init(c->hs, initiator, &r->id, initiator ? NULL : &r->replay) != NS_OK) {
		free(c->hs);
		c->hs = NULL;
		return -1;
	}
	if (r->members != NULL)
		ns_handshake_set_check(c->hs, is_member, r);
	return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
	return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/*
 * A connection of our own that came back to our listener.  conntrack
 * decides NAT per 4-tuple: if the port the kernel gave one of our sockets
 * last served an application connection that was redirected and then reset,
 * its entry may still stand, and our SYN follows it into our own listener.
 * The looped connection is reset, and ours connects again from a new port.
 */
static struct ns_conn *own_loop(struct ns_relay *r, int fd)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);

	if (getpeername(fd, (struct sockaddr *)&from, &len) != 0)
		return NULL;
	for (struct ns_conn *c = r->pending_out.head; c != NULL; c = c->qnext)
		if (c->state == NS_C_CONNECTING && same_addr(&c->own, &from))
			return c;
	return NULL;
}

static int outbound_connect(struct ns_conn *c, char *err, size_t errlen)
{
	socklen_t len = sizeof(c->own);
	struct sockaddr_storage from = c->own;

	/* After a loop, from another port than the one whose stale entry
	 * sent us round: the kernel, left to itself, may pick it again. */
	if (c->retries > 0)
		ns_addr_set_port(&from, ns_next_ephemeral_port(ns_addr_port(&c->own), c->retries));
	c->remote.fd = ns_socket_connect(&c->peer, c->retries > 0 ? &from : NULL, false,
	                                 c->relay->cfg->fwmark, err, errlen);
	if (c->remote.fd < 0)
		return -1;
	if (getsockname(c->remote.fd, (struct sockaddr *)&c->own, &len) != 0)
		memset(&c->own, 0, sizeof(c->own));
	ns_watch_set(&c->remote, EPOLLOUT);
	return 0;
}

static void discard(int fd)
{
	ns_socket_reset(fd);
	close(fd);
}

void ns_conn_outbound(struct ns_relay *r, int fd)
{
	struct ns_conn *c, *looped;
	char err[128];

	if ((looped = own_loop(r, fd)) != NULL) {
		discard(fd);
		looped->retries++;
		ns_watch_drop(&looped->remote);
		ns_log(NS_LOG_DEBUG, "out %s: own connection looped back (stale conntrack entry); "
		       "connecting again", looped->peer_text);
		if (looped->retries > 3 || outbound_connect(looped, err, sizeof(err)) != 0)
			ns_conn_close(looped, true, "own connection kept looping back");
		return;
	}
	if ((c = ns_admit_outbound(r, fd)) == NULL)
		return;
	if (ns_original_dst(fd, &c->peer) != 0) {
		snprintf(c->peer_text, sizeof(c->peer_text), "?");
		ns_conn_close(c, true, "no original destination (not redirected?)");
		return;
	}
	ns_addr_text(&c->peer, c->peer_text, sizeof(c->peer_text));
	/* Only redirected connections to a protected port are served: a
	 * direct connection to the listener must not make it connect to
	 * itself or anywhere else. */
	if (!ns_port_protected(r->cfg, ns_addr_port(&c->peer)) || ns_addr_is_loopback(&c->peer) ||
	    !ns_peer_addr_from(&c->peer, &c->peer_ip)) {
		ns_conn_close(c, true, "destination is not a protected port of another host");
		return;
	}
	/* A peer found plain a moment ago is not asked again until its mark
	 * runs out: it would cost the node a refused handshake each time. */
	c->clear = r->policy == NS_POLICY_OPPORTUNISTIC &&
	           ns_peers_plain(r->peers, &c->peer_ip, ns_now_ms());
	c->state = NS_C_CONNECTING;
	if (outbound_connect(c, err, sizeof(err)) != 0)
		ns_conn_close(c, true, err);
}

static int deliver_start(struct ns_conn *c, char *err, size_t errlen);

/*
 * Our own delivery, back at the inbound listener: a stale conntrack entry
 * of the same 4-tuple (a wire connection from the peer whose source port
 * was in the delivery range) NATed its SYN here.  Like own_loop().
 */
static struct ns_conn *delivery_loop(struct ns_relay *r, const struct sockaddr_storage *from)
{
	for (struct ns_conn *c = r->pending_in.head; c != NULL; c = c->qnext)
		if (c->state == NS_C_DELIVERING && same_addr(&c->own, from))
			return c;
	return NULL;
}

void ns_conn_inbound(struct ns_relay *r, int fd)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	struct ns_conn *c;
	char err[128];

	if (getpeername(fd, (struct sockaddr *)&from, &len) != 0) {
		discard(fd);
		return;
	}
	if ((c = delivery_loop(r, &from)) != NULL) {
		discard(fd);
		ns_watch_drop(&c->local);
		ns_log(NS_LOG_DEBUG, "in %s: delivery looped back (stale conntrack entry); "
		       "delivering again", c->peer_text);
		if (++c->retries > 3 || deliver_start(c, err, sizeof(err)) != 0)
			ns_conn_close(c, true, c->retries > 3 ? "delivery kept looping back" : err);
		else
			ns_watch_set(&c->local, EPOLLOUT);
		return;
	}
	if ((c = ns_admit_inbound(r, fd, &from)) == NULL)
		return;
	c->peer = from;
	ns_addr_text(&c->peer, c->peer_text, sizeof(c->peer_text));
	if (ns_original_dst(fd, &c->target) != 0 ||
	    !ns_port_protected(r->cfg, ns_addr_port(&c->target)) ||
	    !ns_peer_addr_from(&c->peer, &c->peer_ip)) {
		ns_conn_close(c, true, "not a redirected connection to a protected port");
		return;
	}
	c->state = NS_C_SNIFFING;
	ns_watch_set(&c->remote, EPOLLIN);
}

/* A live wire connection from the peer with this address and port. */
static bool wire_port_in_use(struct ns_relay *r, const struct sockaddr_storage *a)
{
	for (struct ns_conn *c = r->conns; c != NULL; c = c->next)
		if (!c->outbound && same_addr(&c->peer, a))
			return true;
	return false;
}

/*
 * Starts the connection to the local node, from the peer's address.  Its
 * 4-tuple (peer:port -> node:7447) is the one the peer's wire connections
 * have before REDIRECT, so the port must be no wire connection's: in
 * conntrack the two would be one flow, and the delivery's SYN would land on
 * the wire socket and kill it.  Ports come from a range of their own
 * (--delivery-ports), outside the kernel's ephemeral range that the peers'
 * wire connections use, and a live wire connection's port is skipped even
 * there.
 */
static int deliver_start(struct ns_conn *c, char *err, size_t errlen)
{
	struct ns_relay *r = c->relay;
	const struct ns_config *cfg = r->cfg;
	unsigned span = (unsigned)cfg->delivery_hi - cfg->delivery_lo + 1;
	struct sockaddr_storage from = c->peer;

	for (int tries = 0; tries < 256; tries++) {
		uint16_t port = (uint16_t)(cfg->delivery_lo + r->delivery_next++ % span);

		ns_addr_set_port(&from, port);
		if (wire_port_in_use(r, &from))
			continue;
		c->local.fd = ns_socket_connect(&c->target, &from, true, cfg->fwmark + 1, err,
		                                errlen);
		if (c->local.fd >= 0) {
			c->own = from;
			c->state = NS_C_DELIVERING;
			return 0;
		}
		if (errno != EADDRINUSE && errno != EADDRNOTAVAIL)
			return -1;
	}
	snprintf(err, errlen, "no free delivery port in %u-%u", cfg->delivery_lo,
	         cfg->delivery_hi);
	return -1;
}

/* A peer sealed for the first time is never taken in clear again: its
 * connections in clear end now, and the node makes them again, sealed. */
static void remember_sealed(struct ns_conn *c)
{
	struct ns_relay *r = c->relay;
	int n;

	if (!ns_peers_mark_sealed(r->peers, &c->peer_ip, c->since))
		return;
	n = ns_relay_close_clear(r, &c->peer_ip, c, "the peer is sealed now: not in clear again");
	ns_log(NS_LOG_INFO, "peer %s sealed for the first time: never taken in clear again%s",
	       c->peer_text, n > 0 ? " (its connections in clear reset)" : "");
}

static void established(struct ns_conn *c)
{
	const struct ns_member *m;

	ns_admit_established(c->relay, c);
	c->state = NS_C_RELAY;
	c->since = ns_wall_s();
	if (c->clear) {
		c->relay->gone.clear++;
		ns_peers_saw_clear(c->relay->peers, &c->peer_ip, c->since);
		ns_log(NS_LOG_INFO, "open %s %s in CLEAR: the peer does not run nodeseal "
		       "(policy opportunistic)", c->outbound ? "out" : "in", c->peer_text);
		return;
	}
	c->relay->gone.handshakes++;
	ns_fingerprint(c->session.peer_key, c->fingerprint);
	if (c->relay->members != NULL &&
	    (m = ns_members_find(c->relay->members, c->session.peer_key)) != NULL)
		memcpy(c->name, m->name, sizeof(c->name));
	ns_handshake_free(c->hs);
	free(c->hs);
	c->hs = NULL;
	ns_log(NS_LOG_INFO, "open %s %s fingerprint=%s%s%s%s%s", c->outbound ? "out" : "in",
	       c->peer_text, c->fingerprint, c->name[0] ? " name=" : "", c->name,
	       c->chain_addr[0] ? " address=" : "", c->chain_addr);
	remember_sealed(c);
}

static int connect_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return errno;
	return soerr;
}

/* Outbound: the connection to the peer has completed, or not yet. */
static enum step step_connecting(struct ns_conn *c, char *err, size_t errlen)
{
	int rc = connect_result(c->remote.fd);

	if (rc == EINPROGRESS || rc == EALREADY) {
		ns_watch_set(&c->remote, EPOLLOUT);
		return STEP_WAIT;
	}
	if (rc != 0) {
		snprintf(err, errlen, "connect to peer: %s", strerror(rc));
		return STEP_FAILED;
	}
	if (c->clear) {
		established(c);
		return STEP_ON;
	}
	{
		const char *why = err;
		if (chain_not_ready(c, &why, err, errlen) != 0)
			return STEP_FAILED;
	}
	c->state = NS_C_HANDSHAKE;
	if (hs_start(c, true) != 0) {
		snprintf(err, errlen, "out of memory");
		return STEP_FAILED;
	}
	return STEP_ON;
}

/* The handshake is done: under --members chain the proofs come first. */
static enum step proving_start(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	uint8_t proof[NS_PROOF_MAX];
	int n;

	c->state = NS_C_PROVING;
	ns_fingerprint(c->session.peer_key, c->fingerprint);
	n = ns_chain_own_proof(c->relay->chain, proof, sizeof(proof), err, errlen);
	*why = err;
	if (n < 0) {
		c->refusal = NS_R_CHAIN_UNAVAILABLE;
		return STEP_FAILED;
	}
	if (ns_pump_proof_queue(c, proof, (size_t)n) != 0) {
		snprintf(err, errlen, "proof record: out of memory");
		return STEP_FAILED;
	}
	return STEP_ON;
}

/* After the chain's yes: on as a handshake done without --members chain. */
static enum step after_proof(struct ns_conn *c, char *err, size_t errlen);

/* The chain's yes: the address pinned in its cache while c lives, so that
 * every refresh checks it; false out of memory. */
static bool admit(struct ns_conn *c)
{
	if (!ns_chain_pin(c->relay->chain, c->chain_addr))
		return false;
	c->pinned = true;
	c->admitted = true;
	return true;
}

static enum step step_proving(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	struct ns_wants w = { 0, 0 };
	int v;

	if (ns_pump_proving(c, &w, why) < 0)
		return STEP_FAILED;
	if (c->proof_in && !c->asked) {
		c->asked = true;
		snprintf(c->chain_addr, sizeof(c->chain_addr), "%s", c->proof.addr);
		v = ns_chain_ask(c->relay->chain, c->id, c->session.peer_key, &c->proof);
		if (v == NS_CHAIN_YES && !admit(c))
			v = NS_CHAIN_UNAVAILABLE;
		if (v != NS_CHAIN_YES && v != NS_CHAIN_QUEUED) {
			c->refusal = v == NS_CHAIN_NOT_MEMBER ? NS_R_NOT_MEMBER :
			             v == NS_CHAIN_BAD_PROOF ? NS_R_BAD_PROOF : NS_R_CHAIN_UNAVAILABLE;
			snprintf(err, errlen, "%s (%s)", v == NS_CHAIN_NOT_MEMBER ?
			         "address without connect" : v == NS_CHAIN_BAD_PROOF ?
			         "proof refused" : "the chain cannot verify now", c->proof.addr);
			*why = err;
			return STEP_FAILED;
		}
	}
	/* Our proof all sent, and the peer admitted: nothing before. */
	if (c->admitted && c->up.data == NULL) {
		*why = err;
		return after_proof(c, err, errlen);
	}
	ns_watch_set(&c->remote, w.remote);
	ns_watch_set(&c->local, 0);
	return STEP_WAIT;
}

/* Whether a connection with c's peer may be carried in clear, and if not,
 * why (a refusal kind). */
static int clear_refusal(const struct ns_conn *c)
{
	const struct ns_relay *r = c->relay;

	if (r->policy != NS_POLICY_OPPORTUNISTIC)
		return NS_R_PLAIN;
	if (ns_peers_sealed(r->peers, &c->peer_ip))
		return NS_R_DOWNGRADE;
	return -1;
}

/*
 * Inbound: the first bytes say whether the peer runs nodeseal.  They are
 * read into the handshake's buffer, where a first message continues; a
 * plain connection's go to the node first, ahead of the rest (the relay's
 * buffer is filled with them).  Reading, not peeking: a peer that sends a
 * few bytes and then its end must be seen to end, not peeked at again and
 * again while its end keeps the socket readable.
 */
_Static_assert(NS_SNIFF_LEN <= NS_HS_MSG1_LEN, "sniffed bytes are the first message's");

static enum step step_sniff(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	ssize_t n = recv(c->remote.fd, c->hs_in + c->hs_in_have, NS_SNIFF_LEN - c->hs_in_have, 0);
	int plain, refusal;

	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		ns_watch_set(&c->remote, EPOLLIN);
		return STEP_WAIT;
	}
	if (n <= 0) {
		*why = n == 0 ? "peer closed before its first message"
		              : "peer reset before its first message";
		return STEP_FAILED;
	}
	c->hs_in_have += (size_t)n;
	plain = ns_sniff_plain(c->hs_in, c->hs_in_have);
	if (plain < 0) {
		ns_watch_set(&c->remote, EPOLLIN);
		return STEP_WAIT;
	}
	if (!plain) {
		if (chain_not_ready(c, why, err, errlen) != 0)
			return STEP_FAILED;
		c->state = NS_C_HANDSHAKE;
		if (hs_start(c, false) != 0) {
			*why = "out of memory";
			return STEP_FAILED;
		}
		return STEP_ON;
	}
	if ((refusal = clear_refusal(c)) >= 0) {
		c->refusal = refusal;
		*why = refusal == NS_R_PLAIN
		       ? "peer does not run nodeseal (policy required)"
		       : "peer sealed before now speaks in clear: refused (downgrade?)";
		return STEP_FAILED;
	}
	c->clear = true;
	if (ns_pump_clear_preload(c, c->hs_in, c->hs_in_have) != 0) {
		*why = "out of memory";
		return STEP_FAILED;
	}
	ns_wipe(c->hs_in, c->hs_in_have);
	c->hs_in_have = 0;
	*why = err;
	if (deliver_start(c, err, errlen) != 0)
		return STEP_FAILED;
	ns_watch_set(&c->remote, 0);
	ns_watch_set(&c->local, EPOLLOUT);
	return STEP_WAIT;
}

/*
 * Outbound: the peer ended our handshake without a byte of reply, which is
 * what a node without nodeseal does with a first message it cannot parse.
 * Under opportunistic, a peer never sealed is then reached in clear on a
 * new connection, and marked plain for --plain-retry seconds; a peer sealed
 * before is not (what an attacker cutting handshakes would want).
 */
static enum step handshake_cut(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	struct ns_relay *r = c->relay;
	int refusal = clear_refusal(c);

	if (refusal == NS_R_PLAIN)
		return STEP_FAILED;
	if (refusal == NS_R_DOWNGRADE) {
		c->refusal = NS_R_DOWNGRADE;
		*why = "peer cut the handshake; sealed before, so not tried in clear";
		return STEP_FAILED;
	}
	ns_peers_mark_plain(r->peers, &c->peer_ip,
	                    ns_now_ms() + (int64_t)r->cfg->plain_retry * 1000);
	ns_log(NS_LOG_INFO, "out %s: peer ended the handshake unanswered (no nodeseal there?): "
	       "connecting in clear; sealed is tried again in %d s", c->peer_text,
	       r->cfg->plain_retry);
	ns_handshake_free(c->hs);
	free(c->hs);
	c->hs = NULL;
	c->hs_in_have = c->hs_out_len = c->hs_out_off = 0;
	ns_watch_drop(&c->remote);
	c->clear = true;
	c->peer_ended = false;
	c->retries = 0;
	c->state = NS_C_CONNECTING;
	*why = err;
	if (outbound_connect(c, err, errlen) != 0)
		return STEP_FAILED;
	return STEP_WAIT;
}

static enum step step_handshake(struct ns_conn *c, const char **why, char *err, size_t errlen)
{
	struct ns_wants w = { 0, 0 };
	int rc = ns_pump_handshake(c, &w, why);

	if (rc < 0 && c->peer_ended)
		return handshake_cut(c, why, err, errlen);
	if (rc < 0)
		return STEP_FAILED;
	if (rc == 0) {
		ns_watch_set(&c->remote, w.remote);
		return STEP_WAIT;
	}
	if (c->relay->chain != NULL)
		return proving_start(c, why, err, errlen);
	*why = err;
	return after_proof(c, err, errlen);
}

static enum step after_proof(struct ns_conn *c, char *err, size_t errlen)
{
	if (c->outbound) {
		established(c);
		return STEP_ON;
	}
	if (deliver_start(c, err, errlen) != 0)
		return STEP_FAILED;
	ns_watch_set(&c->remote, 0);
	ns_watch_set(&c->local, EPOLLOUT);
	return STEP_WAIT;
}

/* Inbound: the connection to the node has completed, or not yet. */
static enum step step_delivering(struct ns_conn *c, char *err, size_t errlen)
{
	int rc = connect_result(c->local.fd);

	if (rc == EINPROGRESS || rc == EALREADY) {
		ns_watch_set(&c->local, EPOLLOUT);
		return STEP_WAIT;
	}
	if (rc != 0) {
		snprintf(err, errlen, "delivery to the node: %s", strerror(rc));
		return STEP_FAILED;
	}
	established(c);
	return STEP_ON;
}

/* The pumps that run_up and run_down ask for, then what both wait for. */
static enum step step_relay(struct ns_conn *c, bool run_up, bool run_down, const char **why)
{
	struct ns_wants wu = { 0, 0 }, wd = { 0, 0 };

	if (run_up) {
		if ((c->clear ? ns_pump_clear_up(c, &wu, why) : ns_pump_up(c, &wu, why)) < 0)
			return STEP_FAILED;
		c->up_wants[0] = wu.local;
		c->up_wants[1] = wu.remote;
	}
	if (run_down) {
		if ((c->clear ? ns_pump_clear_down(c, &wd, why) : ns_pump_down(c, &wd, why)) < 0)
			return STEP_FAILED;
		c->down_wants[0] = wd.local;
		c->down_wants[1] = wd.remote;
	}
	if (c->up_state == NS_UP_DONE && c->down_state == NS_DOWN_DONE)
		return STEP_ENDED;
	ns_watch_set(&c->local, c->up_wants[0] | c->down_wants[0]);
	ns_watch_set(&c->remote, c->up_wants[1] | c->down_wants[1]);
	return STEP_WAIT;
}

/*
 * Runs c as far as it goes without blocking.  The two directions are
 * independent: an event of a relaying connection runs only the pump it
 * concerns (both when the relay starts, or on an error or hang-up).
 */
static void conn_run(struct ns_conn *c, struct ns_watch *w_ev, uint32_t events)
{
	bool run_up = true, run_down = true;
	enum step s = STEP_ON;
	char err[160];
	const char *why = err;

	if (c->state == NS_C_RELAY && !(events & (EPOLLERR | EPOLLHUP))) {
		bool local = w_ev == &c->local;
		run_up = (events & (local ? EPOLLIN : EPOLLOUT)) != 0;
		run_down = (events & (local ? EPOLLOUT : EPOLLIN)) != 0;
	}
	if (c->state == NS_C_CONNECTING)
		s = step_connecting(c, err, sizeof(err));
	if (s == STEP_ON && c->state == NS_C_SNIFFING)
		s = step_sniff(c, &why, err, sizeof(err));
	if (s == STEP_ON && c->state == NS_C_HANDSHAKE)
		s = step_handshake(c, &why, err, sizeof(err));
	if (s == STEP_ON && c->state == NS_C_PROVING)
		s = step_proving(c, &why, err, sizeof(err));
	if (s == STEP_ON && c->state == NS_C_DELIVERING)
		s = step_delivering(c, err, sizeof(err));
	if (s == STEP_ON)
		s = step_relay(c, run_up, run_down, &why);
	if (s == STEP_FAILED)
		ns_conn_close(c, true, why);
	else if (s == STEP_ENDED)
		ns_conn_close(c, false, "closed");
}

static void conn_event(void *cookie, struct ns_watch *w, uint32_t events)
{
	conn_run(cookie, w, events);
}

void ns_conn_verdict(struct ns_conn *c, int verdict, const char *why)
{
	char err[300];

	if (c->state != NS_C_PROVING || !c->asked || c->admitted)
		return;
	if (verdict == NS_CHAIN_YES && admit(c)) {
		conn_run(c, &c->remote, 0);
		return;
	}
	if (verdict == NS_CHAIN_YES) {
		verdict = NS_CHAIN_UNAVAILABLE;
		why = "chain: out of memory";
	}
	c->refusal = verdict == NS_CHAIN_NOT_MEMBER ? NS_R_NOT_MEMBER :
	             verdict == NS_CHAIN_BAD_PROOF ? NS_R_BAD_PROOF : NS_R_CHAIN_UNAVAILABLE;
	snprintf(err, sizeof(err), "%s", why);
	ns_conn_close(c, true, err);
}
