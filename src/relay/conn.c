/*
 * conn.c: the relay, one connection at a time (conn.h).
 *
 * Each event runs the connection's pumps until a socket would block; the
 * pumps then say which readiness they wait for, and only that is watched.
 * A direction holds at most one buffer, so a slow reader stops the other
 * side being read (back-pressure), and an idle connection holds none.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../event/clock.h"
#include "../keys/keys.h"
#include "../util/log.h"
#include "../util/net.h"
#include "relay.h"

#define PUMP_ROUNDS 16 /* per event and direction: fairness between conns */

/* What the pumps ask for, per side. */
struct wants {
	uint32_t local, remote;
};

static ns_watch_fn conn_event;
static void conn_free(struct ns_deferred *dead);

const char *ns_conn_state_name(const struct ns_conn *c)
{
	switch (c->state) {
	case NS_C_CONNECTING: return "connecting";
	case NS_C_HANDSHAKE: return "handshake";
	case NS_C_DELIVERING: return "delivering";
	case NS_C_RELAY: return "relay";
	}
	return "?";
}

static int refusal_of(int err)
{
	switch (err) {
	case NS_ERR_AUTH: return NS_R_AUTH;
	case NS_ERR_REPLAY: return NS_R_REPLAY;
	case NS_ERR_STALE: return NS_R_CLOCK;
	case NS_ERR_BUSY: return NS_R_BUSY;
	case NS_ERR_CLONED: return NS_R_CLONED;
	default: return NS_R_OTHER;
	}
}

static bool conn_pending(const struct ns_conn *c)
{
	return c->state != NS_C_RELAY;
}

static struct ns_pending *queue_of(struct ns_relay *r, const struct ns_conn *c)
{
	return c->outbound ? &r->pending_out : &r->pending_in;
}

static void queue_push(struct ns_pending *q, struct ns_conn *c)
{
	c->qnext = NULL;
	c->qprev = q->tail;
	if (q->tail != NULL)
		q->tail->qnext = c;
	else
		q->head = c;
	q->tail = c;
	q->n++;
}

static void queue_remove(struct ns_pending *q, struct ns_conn *c)
{
	if (c->qprev != NULL)
		c->qprev->qnext = c->qnext;
	else
		q->head = c->qnext;
	if (c->qnext != NULL)
		c->qnext->qprev = c->qprev;
	else
		q->tail = c->qprev;
	c->qprev = c->qnext = NULL;
	q->n--;
}

static void buf_release(struct ns_relay *r, struct ns_buf *b)
{
	if (b->data != NULL)
		ns_pool_put(&r->pool, b->data);
	b->data = NULL;
	b->start = b->end = 0;
}

static struct ns_conn *conn_new(struct ns_relay *r, bool outbound)
{
	struct ns_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = ++r->next_id;
	c->outbound = outbound;
	c->relay = r;
	ns_watch_init(&c->local, r->loop, -1, conn_event, c);
	ns_watch_init(&c->remote, r->loop, -1, conn_event, c);
	c->refusal = NS_R_OTHER;
	c->rcvlowat = 1; /* the kernel's default */
	c->started_ms = ns_now_ms();
	c->deadline_ms = c->started_ms + (int64_t)r->cfg->handshake_timeout * 1000;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->nconns++;
	queue_push(queue_of(r, c), c);
	return c;
}

/* A refused stranger is one line per connection, but a flood of them
 * must not flood the log: at most 10 lines per 10 seconds. */
static void log_refused(struct ns_relay *r, const struct ns_conn *c, const char *reason)
{
	int64_t now = ns_now_ms();

	r->refused++;
	r->refused_by[c->refusal]++;
	/* Only a member holding our node key gets this far: a misconfiguration
	 * to fix (or an attack to see), never hidden behind strangers' lines. */
	if (c->refusal == NS_R_CLONED) {
		ns_log(NS_LOG_WARN, "failed %s %s: %s", c->outbound ? "out" : "in", c->peer_text,
		       reason);
		return;
	}
	if (now - r->log_window_ms > 10000) {
		if (r->log_in_window > 10)
			ns_log(NS_LOG_INFO, "%d more failed handshakes since the last summary",
			       r->log_in_window - 10);
		r->log_window_ms = now;
		r->log_in_window = 0;
	}
	if (r->log_in_window++ < 10)
		ns_log(NS_LOG_INFO, "failed %s %s: %s", c->outbound ? "out" : "in", c->peer_text,
		       reason);
}

void ns_conn_close(struct ns_conn *c, bool abort, const char *reason)
{
	struct ns_relay *r = c->relay;
	int64_t ms = ns_now_ms() - c->started_ms;

	if (conn_pending(c)) {
		queue_remove(queue_of(r, c), c);
		if (c->state != NS_C_DELIVERING)
			log_refused(r, c, reason);
		else
			ns_log(NS_LOG_INFO, "close in %s fingerprint=%s: %s", c->peer_text, c->fingerprint,
			       reason);
	} else {
		ns_log(NS_LOG_INFO,
		       "close %s %s fingerprint=%s sent=%llu received=%llu duration=%lld.%03llds %s",
		       c->outbound ? "out" : "in", c->peer_text, c->fingerprint,
		       (unsigned long long)c->bytes_out, (unsigned long long)c->bytes_in,
		       (long long)(ms / 1000), (long long)(ms % 1000), reason);
	}
	if (abort) {
		ns_socket_reset(c->local.fd);
		ns_socket_reset(c->remote.fd);
	}
	ns_watch_drop(&c->local);
	ns_watch_drop(&c->remote);
	if (c->hs) {
		ns_handshake_free(c->hs);
		free(c->hs);
	}
	if (c->has_session)
		ns_session_free(&c->session);
	buf_release(r, &c->up);
	buf_release(r, &c->down);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->nconns--;
	/* Freed after the event batch: a later event may name its watches. */
	ns_loop_defer(r->loop, &c->dead, conn_free);
}

static void conn_free(struct ns_deferred *dead)
{
	struct ns_conn *c = (struct ns_conn *)(void *)((char *)dead - offsetof(struct ns_conn, dead));

	ns_wipe(c, sizeof(*c));
	free(c);
}

static void refuse(struct ns_relay *r, int fd, const char *why)
{
	r->refused++;
	r->refused_by[NS_R_LIMIT]++;
	ns_log(NS_LOG_DEBUG, "connection refused: %s (%d pending in, %d out, %d open)", why,
	       r->pending_in.n, r->pending_out.n, r->nconns);
	ns_socket_reset(fd);
	close(fd);
}

/* The node's own connections: only the totals bound them. */
static int admit_outbound(struct ns_relay *r, int fd)
{
	if (r->pending_out.n >= r->cfg->max_pending || r->nconns >= r->cfg->max_conns) {
		refuse(r, fd, "limit");
		return -1;
	}
	return 0;
}

/* One host: one IPv4 address, or one IPv6 /64 (what a host is given). */
static bool same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr, 8) == 0;
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/*
 * Strangers must not lock honest peers out.  One source holds at most
 * max_pending_source unauthenticated connections; when the table is full
 * anyway (many sources), the oldest connection still in its handshake
 * makes way: an honest handshake takes milliseconds, so only a flood of
 * max_pending new connections within that time can evict it, while a
 * slowloris is always the oldest.
 */
static int admit_inbound(struct ns_relay *r, int fd, const struct sockaddr_storage *from)
{
	struct ns_conn *c, *victim = NULL;
	int same = 0;

	if (r->nconns >= r->cfg->max_conns) {
		refuse(r, fd, "connection limit");
		return -1;
	}
	for (c = r->pending_in.head; c != NULL; c = c->qnext) {
		if (victim == NULL && c->state == NS_C_HANDSHAKE)
			victim = c;
		if (same_source(&c->peer, from) && ++same >= r->cfg->max_pending_source) {
			refuse(r, fd, "per-source limit");
			return -1;
		}
	}
	if (r->pending_in.n >= r->cfg->max_pending) {
		if (victim == NULL) {
			refuse(r, fd, "pending limit");
			return -1;
		}
		victim->refusal = NS_R_EVICTED;
		ns_conn_close(victim, true, "dropped for a newer connection (pending limit)");
	}
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

static int outbound_connect(struct ns_relay *r, struct ns_conn *c, char *err, size_t errlen)
{
	socklen_t len = sizeof(c->own);
	struct sockaddr_storage from = c->own;

	/* After a loop, from another port than the one whose stale entry
	 * sent us round: the kernel, left to itself, may pick it again. */
	if (c->retries > 0)
		ns_addr_set_port(&from, ns_next_ephemeral_port(ns_addr_port(&c->own), c->retries));
	c->remote.fd = ns_socket_connect(&c->peer, c->retries > 0 ? &from : NULL, false,
	                                 r->cfg->fwmark, err, errlen);
	if (c->remote.fd < 0)
		return -1;
	if (getsockname(c->remote.fd, (struct sockaddr *)&c->own, &len) != 0)
		memset(&c->own, 0, sizeof(c->own));
	ns_watch_set(&c->remote, EPOLLOUT);
	return 0;
}

void ns_conn_outbound(struct ns_relay *r, int fd)
{
	struct ns_conn *c, *looped;
	char err[128];

	if ((looped = own_loop(r, fd)) != NULL) {
		ns_socket_reset(fd);
		close(fd);
		looped->retries++;
		ns_watch_drop(&looped->remote);
		ns_log(NS_LOG_DEBUG, "out %s: own connection looped back (stale conntrack entry); "
		       "connecting again", looped->peer_text);
		if (looped->retries > 3 || outbound_connect(r, looped, err, sizeof(err)) != 0)
			ns_conn_close(looped, true, "own connection kept looping back");
		return;
	}
	if (admit_outbound(r, fd) != 0)
		return;
	if ((c = conn_new(r, true)) == NULL) {
		ns_socket_reset(fd);
		close(fd);
		return;
	}
	c->local.fd = fd;
	if (ns_original_dst(fd, &c->peer) != 0) {
		snprintf(c->peer_text, sizeof(c->peer_text), "?");
		ns_conn_close(c, true, "no original destination (not redirected?)");
		return;
	}
	ns_addr_text(&c->peer, c->peer_text, sizeof(c->peer_text));
	/* Only redirected connections to a protected port are served: a
	 * direct connection to the listener must not make it connect to
	 * itself or anywhere else. */
	if (!ns_port_protected(r->cfg, ns_addr_port(&c->peer)) || ns_addr_is_loopback(&c->peer)) {
		ns_conn_close(c, true, "destination is not a protected port of another host");
		return;
	}
	c->state = NS_C_CONNECTING;
	if (outbound_connect(r, c, err, sizeof(err)) != 0)
		ns_conn_close(c, true, err);
}

static int deliver_start(struct ns_relay *r, struct ns_conn *c, char *err, size_t errlen);

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
		ns_socket_reset(fd);
		close(fd);
		return;
	}
	if ((c = delivery_loop(r, &from)) != NULL) {
		ns_socket_reset(fd);
		close(fd);
		ns_watch_drop(&c->local);
		ns_log(NS_LOG_DEBUG, "in %s: delivery looped back (stale conntrack entry); "
		       "delivering again", c->peer_text);
		if (++c->retries > 3 || deliver_start(r, c, err, sizeof(err)) != 0)
			ns_conn_close(c, true, c->retries > 3 ? "delivery kept looping back" : err);
		else
			ns_watch_set(&c->local, EPOLLOUT);
		return;
	}
	if (admit_inbound(r, fd, &from) != 0)
		return;
	if ((c = conn_new(r, false)) == NULL) {
		ns_socket_reset(fd);
		close(fd);
		return;
	}
	c->remote.fd = fd;
	c->peer = from;
	ns_addr_text(&c->peer, c->peer_text, sizeof(c->peer_text));
	if (ns_original_dst(fd, &c->target) != 0 ||
	    !ns_port_protected(r->cfg, ns_addr_port(&c->target))) {
		ns_conn_close(c, true, "not a redirected connection to a protected port");
		return;
	}
	c->state = NS_C_HANDSHAKE;
	c->hs = malloc(sizeof(*c->hs));
	if (c->hs == NULL || ns_handshake_init(c->hs, false, &r->id, &r->replay) != NS_OK) {
		free(c->hs);
		c->hs = NULL;
		ns_conn_close(c, true, "out of memory");
		return;
	}
	ns_watch_set(&c->remote, EPOLLIN);
}

static void hs_clock(struct ns_handshake *hs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns_handshake_set_time(hs, ts.tv_sec, (uint32_t)ts.tv_nsec);
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
static int deliver_start(struct ns_relay *r, struct ns_conn *c, char *err, size_t errlen)
{
	unsigned span = (unsigned)r->cfg->delivery_hi - r->cfg->delivery_lo + 1;
	struct sockaddr_storage from = c->peer;

	for (int tries = 0; tries < 256; tries++) {
		uint16_t port = (uint16_t)(r->cfg->delivery_lo + r->delivery_next++ % span);

		ns_addr_set_port(&from, port);
		if (wire_port_in_use(r, &from))
			continue;
		c->local.fd = ns_socket_connect(&c->target, &from, true, r->cfg->fwmark + 1, err,
		                                errlen);
		if (c->local.fd >= 0) {
			c->own = from;
			c->state = NS_C_DELIVERING;
			return 0;
		}
		if (errno != EADDRINUSE && errno != EADDRNOTAVAIL)
			return -1;
	}
	snprintf(err, errlen, "no free delivery port in %u-%u", r->cfg->delivery_lo,
	         r->cfg->delivery_hi);
	return -1;
}

static void conn_established(struct ns_relay *r, struct ns_conn *c)
{
	ns_fingerprint(c->session.peer_key, c->fingerprint);
	ns_handshake_free(c->hs);
	free(c->hs);
	c->hs = NULL;
	queue_remove(queue_of(r, c), c);
	c->state = NS_C_RELAY;
	ns_log(NS_LOG_INFO, "open %s %s fingerprint=%s", c->outbound ? "out" : "in", c->peer_text,
	       c->fingerprint);
}

/* Handshake: returns 0 to go on, 1 when done, -1 after closing c. */
static int pump_handshake(struct ns_conn *c, struct wants *w)
{
	for (;;) {
		ssize_t n;
		int err;

		if (c->hs_out_off < c->hs_out_len) {
			n = send(c->remote.fd, c->hs_out + c->hs_out_off, c->hs_out_len - c->hs_out_off,
			         MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				w->remote |= EPOLLOUT;
				return 0;
			}
			if (n <= 0) {
				ns_conn_close(c, true, "peer gone during handshake");
				return -1;
			}
			c->hs_out_off += (size_t)n;
			continue;
		}
		if (ns_handshake_done(c->hs)) {
			if (ns_handshake_finish(c->hs, &c->session) != NS_OK) {
				ns_conn_close(c, true, "handshake finish failed");
				return -1;
			}
			c->has_session = true;
			return 1;
		}
		if (ns_handshake_writing(c->hs)) {
			hs_clock(c->hs);
			err = ns_handshake_write(c->hs, c->hs_out, sizeof(c->hs_out), &c->hs_out_len);
			if (err != NS_OK) {
				c->refusal = refusal_of(err);
				ns_conn_close(c, true, ns_strerror(err));
				return -1;
			}
			c->hs_out_off = 0;
			continue;
		}
		/* Read exactly the message: the bytes after it are records. */
		n = recv(c->remote.fd, c->hs_in + c->hs_in_have,
		         ns_handshake_next_len(c->hs) - c->hs_in_have, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			w->remote |= EPOLLIN;
			return 0;
		}
		if (n <= 0) {
			ns_conn_close(c, true,
			              n == 0 ? "peer closed during handshake"
			                     : "peer reset during handshake");
			return -1;
		}
		c->hs_in_have += (size_t)n;
		if (c->hs_in_have < ns_handshake_next_len(c->hs))
			continue;
		hs_clock(c->hs);
		err = ns_handshake_read(c->hs, c->hs_in, c->hs_in_have);
		c->hs_in_have = 0;
		if (err != NS_OK) {
			c->refusal = refusal_of(err);
			ns_conn_close(c, true, ns_strerror(err));
			return -1;
		}
	}
}

/* node -> peer.  0 to go on, -1 after closing c. */
static int pump_up(struct ns_relay *r, struct ns_conn *c, struct wants *w)
{
	struct ns_buf *b = &c->up;
	bool drained = false;

	for (int round = 0; round < PUMP_ROUNDS && !c->up_done; round++) {
		ssize_t n;

		if (b->end > b->start) {
			n = send(c->remote.fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				w->remote |= EPOLLOUT;
				return 0;
			}
			if (n < 0) {
				ns_conn_close(c, true, "peer connection lost");
				return -1;
			}
			b->start += (size_t)n;
			continue;
		}
		if (drained) {
			/* The last read came up short: the socket is empty, and
			 * epoll (level-triggered) says when it is not. */
			buf_release(r, b);
			w->local |= EPOLLIN;
			return 0;
		}
		if (c->close_sent) {
			shutdown(c->remote.fd, SHUT_WR);
			c->up_done = true;
			break;
		}
		if (b->data == NULL && (b->data = ns_pool_get(&r->pool)) == NULL) {
			ns_conn_close(c, true, "out of memory");
			return -1;
		}
		b->start = b->end = 0;
		if (c->local_eof) {
			if (ns_record_seal(&c->session.tx, NS_RECORD_CLOSE, NULL, 0, b->data) != NS_OK) {
				ns_conn_close(c, true, "seal failed");
				return -1;
			}
			b->end = ns_record_wire_len(0);
			c->close_sent = true;
			continue;
		}
		n = recv(c->local.fd, b->data + NS_RECORD_HDR_LEN, NS_RECORD_MAX, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			buf_release(r, b);
			w->local |= EPOLLIN;
			return 0;
		}
		if (n < 0) {
			ns_conn_close(c, true, "node reset the connection");
			return -1;
		}
		if (n == 0) {
			c->local_eof = true;
			continue;
		}
		if (ns_record_seal(&c->session.tx, NS_RECORD_DATA, b->data + NS_RECORD_HDR_LEN,
		                   (size_t)n, b->data) != NS_OK) {
			ns_conn_close(c, true, "seal failed");
			return -1;
		}
		b->end = ns_record_wire_len((size_t)n);
		c->bytes_out += (uint64_t)n;
		drained = n < NS_RECORD_MAX;
	}
	if (b->start == b->end)
		buf_release(r, b);
	if (!c->up_done && w->local == 0 && w->remote == 0)
		w->remote |= EPOLLOUT; /* out of rounds: come back when writable */
	return 0;
}

/*
 * Wake up only when the rest of the record can be there: a bulk record
 * arrives in several segments, and each early wake-up costs an epoll_wait
 * and a short recv.  The mark is kept at or below what the record still
 * needs (never more: that would wait for bytes that are not coming), and
 * rounded down to 16 KiB steps so that it changes, and costs a
 * setsockopt, rarely; small records leave it at 1.
 */
static void wake_for(struct ns_conn *c, size_t need)
{
	int mark = need >= 16384 ? (int)(need & ~(size_t)16383) : 1;

	if (mark != c->rcvlowat &&
	    setsockopt(c->remote.fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark)) == 0)
		c->rcvlowat = mark;
}

/* peer -> node.  0 to go on, -1 after closing c. */
static int pump_down(struct ns_relay *r, struct ns_conn *c, struct wants *w)
{
	struct ns_buf *b = &c->down;
	bool drained = false;

	for (int round = 0; round < PUMP_ROUNDS && !c->down_done; round++) {
		size_t used, plen, space;
		uint8_t *p, type;
		ssize_t n;
		int rc;

		if (c->pend_len > 0) {
			n = send(c->local.fd, c->pend, c->pend_len, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				w->local |= EPOLLOUT;
				return 0;
			}
			if (n < 0) {
				ns_conn_close(c, true, "node connection lost");
				return -1;
			}
			c->pend += n;
			c->pend_len -= (size_t)n;
			c->bytes_in += (uint64_t)n;
			continue;
		}
		if (c->pend_wire > 0) {
			b->start += c->pend_wire;
			c->pend_wire = 0;
		}
		if (c->close_seen && !c->local_shut) {
			shutdown(c->local.fd, SHUT_WR);
			c->local_shut = true;
		}
		if (b->data == NULL && (b->data = ns_pool_get(&r->pool)) == NULL) {
			ns_conn_close(c, true, "out of memory");
			return -1;
		}
		rc = ns_record_open(&c->session.rx, b->data + b->start, b->end - b->start, &used, &p,
		                    &plen, &type);
		if (rc < 0) {
			ns_conn_close(c, true, ns_strerror(rc));
			return -1;
		}
		if (rc == 1) {
			c->pend = p;
			c->pend_len = plen;
			c->pend_wire = used;
			if (type == NS_RECORD_CLOSE)
				c->close_seen = true;
			continue;
		}
		if (drained) {
			wake_for(c, used - (b->end - b->start));
			if (b->start == b->end)
				buf_release(r, b);
			w->remote |= EPOLLIN;
			return 0;
		}
		/* Need more: make room for the whole record, then read. */
		if (b->start == b->end) {
			b->start = b->end = 0;
		} else if (NS_BUF_SIZE - b->start < used) {
			memmove(b->data, b->data + b->start, b->end - b->start);
			b->end -= b->start;
			b->start = 0;
		}
		space = NS_BUF_SIZE - b->end;
		n = recv(c->remote.fd, b->data + b->end, space, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wake_for(c, used - (b->end - b->start));
			if (b->start == b->end)
				buf_release(r, b);
			w->remote |= EPOLLIN;
			return 0;
		}
		if (n < 0) {
			ns_conn_close(c, true, "peer reset the connection");
			return -1;
		}
		if (n == 0) {
			rc = b->end > b->start ? NS_ERR_TRUNCATED : ns_record_eof(&c->session.rx);
			if (rc != NS_OK) {
				ns_conn_close(c, true, ns_strerror(rc));
				return -1;
			}
			c->down_done = true;
			break;
		}
		b->end += (size_t)n;
		drained = (size_t)n < space;
	}
	if (c->down_done || b->start == b->end) {
		buf_release(r, b);
		c->pend = NULL;
	}
	if (!c->down_done && w->local == 0 && w->remote == 0)
		w->local |= EPOLLOUT; /* out of rounds: come back when writable */
	return 0;
}

static int connect_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return errno;
	return soerr;
}

/*
 * Runs c as far as it goes without blocking, then sets what it waits for.
 * The two directions are independent: an event runs only the pump it
 * concerns (both when the relay starts, or on an error or hang-up).
 */
static void conn_run(struct ns_relay *r, struct ns_conn *c, struct ns_watch *w_ev,
                     uint32_t events)
{
	struct wants w = { 0, 0 }, wu = { 0, 0 }, wd = { 0, 0 };
	bool run_up = true, run_down = true;
	char err[160];
	int rc;

	if (c->state == NS_C_RELAY && !(events & (EPOLLERR | EPOLLHUP))) {
		bool local = w_ev == &c->local;
		run_up = (events & (local ? EPOLLIN : EPOLLOUT)) != 0;
		run_down = (events & (local ? EPOLLOUT : EPOLLIN)) != 0;
	}

	if (c->state == NS_C_CONNECTING) {
		rc = connect_result(c->remote.fd);
		if (rc == EINPROGRESS || rc == EALREADY) {
			ns_watch_set(&c->remote, EPOLLOUT);
			return;
		}
		if (rc != 0) {
			snprintf(err, sizeof(err), "connect to peer: %s", strerror(rc));
			ns_conn_close(c, true, err);
			return;
		}
		c->state = NS_C_HANDSHAKE;
		c->hs = malloc(sizeof(*c->hs));
		if (c->hs == NULL || ns_handshake_init(c->hs, true, &r->id, NULL) != NS_OK) {
			free(c->hs);
			c->hs = NULL;
			ns_conn_close(c, true, "out of memory");
			return;
		}
	}
	if (c->state == NS_C_HANDSHAKE) {
		rc = pump_handshake(c, &w);
		if (rc < 0)
			return;
		if (rc == 0) {
			ns_watch_set(&c->remote, w.remote);
			return;
		}
		if (c->outbound) {
			conn_established(r, c);
		} else if (deliver_start(r, c, err, sizeof(err)) != 0) {
			ns_conn_close(c, true, err);
			return;
		} else {
			ns_watch_set(&c->remote, 0);
			ns_watch_set(&c->local, EPOLLOUT);
			return;
		}
	}
	if (c->state == NS_C_DELIVERING) {
		rc = connect_result(c->local.fd);
		if (rc == EINPROGRESS || rc == EALREADY) {
			ns_watch_set(&c->local, EPOLLOUT);
			return;
		}
		if (rc != 0) {
			snprintf(err, sizeof(err), "delivery to the node: %s", strerror(rc));
			ns_conn_close(c, true, err);
			return;
		}
		conn_established(r, c);
	}
	if (run_up) {
		if (pump_up(r, c, &wu) < 0)
			return;
		c->up_wants[0] = wu.local;
		c->up_wants[1] = wu.remote;
	}
	if (run_down) {
		if (pump_down(r, c, &wd) < 0)
			return;
		c->down_wants[0] = wd.local;
		c->down_wants[1] = wd.remote;
	}
	if (c->up_done && c->down_done) {
		ns_conn_close(c, false, "closed");
		return;
	}
	ns_watch_set(&c->local, c->up_wants[0] | c->down_wants[0]);
	ns_watch_set(&c->remote, c->up_wants[1] | c->down_wants[1]);
}

static void conn_event(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_conn *c = cookie;

	conn_run(c->relay, c, w, events);
}

void ns_conn_expire(struct ns_relay *r, int64_t now_ms)
{
	struct ns_pending *queues[2] = { &r->pending_in, &r->pending_out };

	/* Every connection gets the same timeout: a queue's head expires first. */
	for (int i = 0; i < 2; i++)
		while (queues[i]->head != NULL && now_ms >= queues[i]->head->deadline_ms) {
			queues[i]->head->refusal = NS_R_TIMEOUT;
			ns_conn_close(queues[i]->head, true, "handshake timed out");
		}
}
