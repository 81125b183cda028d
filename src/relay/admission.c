/*
 * admission.c: limits on connections, and their lists (admission.h).
 *
 * Strangers must not lock honest peers out, nor the node out of its own
 * connections: the node's outbound connections and the peers' inbound
 * ones wait in separate queues with separate caps.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../event/clock.h"
#include "../util/log.h"
#include "../util/net.h"
#include "admission.h"

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

/* At most 10 lines per 10 seconds of one kind; then a count. */
static bool log_allowed(struct ns_relay_log_limit *l, int64_t now, const char *what)
{
	if (now - l->window_ms > 10000) {
		if (l->in_window > 10)
			ns_log(NS_LOG_INFO, "%d more %s since the last summary", l->in_window - 10,
			       what);
		l->window_ms = now;
		l->in_window = 0;
	}
	return l->in_window++ < 10;
}

/* A refused stranger is one line per connection, but a flood of them
 * must not flood the log. */
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
	/* A holder of the network key that is not (or no longer) listed:
	 * named by its fingerprint, and limited on its own, so that strangers
	 * do not hide it, nor it the strangers (it may retry as fast as it
	 * likes). */
	if (c->refusal == NS_R_NOT_MEMBER) {
		if (log_allowed(&r->log_not_member, now, "refusals of node keys not listed"))
			ns_log(NS_LOG_WARN, "failed %s %s fingerprint=%s: %s",
			       c->outbound ? "out" : "in", c->peer_text,
			       c->fingerprint[0] ? c->fingerprint : "?", reason);
		return;
	}
	/* A holder of the network key whose proof failed: like the above. */
	if (c->refusal == NS_R_BAD_PROOF) {
		if (log_allowed(&r->log_chain, now, "refused proofs"))
			ns_log(NS_LOG_WARN, "failed %s %s fingerprint=%s: %s",
			       c->outbound ? "out" : "in", c->peer_text,
			       c->fingerprint[0] ? c->fingerprint : "?", reason);
		return;
	}
	if (log_allowed(&r->log_failed, now, "failed handshakes"))
		ns_log(NS_LOG_INFO, "failed %s %s: %s", c->outbound ? "out" : "in", c->peer_text,
		       reason);
}

static void log_closed(const struct ns_conn *c, const char *reason)
{
	int64_t ms = ns_now_ms() - c->started_ms;

	if (c->state == NS_C_DELIVERING) {
		ns_log(NS_LOG_INFO, "close in %s fingerprint=%s: %s", c->peer_text, c->fingerprint,
		       reason);
		return;
	}
	ns_log(NS_LOG_INFO,
	       "close %s %s %s%s%s%s sent=%llu received=%llu duration=%lld.%03llds %s",
	       c->outbound ? "out" : "in", c->peer_text, c->clear ? "CLEAR" : "fingerprint=",
	       c->clear ? "" : c->fingerprint, c->name[0] ? " name=" : "", c->name,
	       (unsigned long long)c->bytes_out, (unsigned long long)c->bytes_in,
	       (long long)(ms / 1000), (long long)(ms % 1000), reason);
}

static void conn_free(struct ns_deferred *freed)
{
	struct ns_conn *c = (struct ns_conn *)(void *)((char *)freed -
	                                               offsetof(struct ns_conn, freed));

	ns_wipe(c, sizeof(*c));
	free(c);
}

/* The connection has closed (ns_conn_dead_fn): its lists and counts. */
static void conn_dead(void *cookie, struct ns_conn *c, const char *reason)
{
	struct ns_relay *r = cookie;

	ns_relay_conn_totals(c, &r->gone);
	if (ns_conn_pending(c)) {
		queue_remove(queue_of(r, c), c);
		if (c->state != NS_C_DELIVERING)
			log_refused(r, c, reason);
		else
			log_closed(c, reason);
	} else {
		log_closed(c, reason);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->nconns--;
	/* A later event of the batch may still name its watches. */
	ns_loop_defer(r->loop, &c->freed, conn_free);
}

static struct ns_conn *conn_add(struct ns_relay *r, int fd, bool outbound)
{
	struct ns_conn *c = ns_conn_new(r, outbound, conn_dead, r);

	if (c == NULL) {
		ns_socket_reset(fd);
		close(fd);
		return NULL;
	}
	/* the accepted socket: the node's side out, the peer's side in */
	if (outbound)
		c->local.fd = fd;
	else
		c->remote.fd = fd;
	c->id = ++r->next_id;
	c->refusal = NS_R_OTHER;
	c->deadline_ms = c->started_ms + (int64_t)r->cfg->handshake_timeout * 1000;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->nconns++;
	queue_push(queue_of(r, c), c);
	return c;
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
struct ns_conn *ns_admit_outbound(struct ns_relay *r, int fd)
{
	if (r->pending_out.n >= r->cfg->max_pending || r->nconns >= r->cfg->max_conns) {
		refuse(r, fd, "limit");
		return NULL;
	}
	return conn_add(r, fd, true);
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
 * One source holds at most max_pending_source unauthenticated
 * connections; when the table is full anyway (many sources), the oldest
 * connection still in its handshake makes way: an honest handshake takes
 * milliseconds, so only a flood of max_pending new connections within that
 * time can evict it, while a slowloris is always the oldest.
 */
struct ns_conn *ns_admit_inbound(struct ns_relay *r, int fd, const struct sockaddr_storage *from)
{
	struct ns_conn *c, *victim = NULL;
	int same = 0;

	if (r->nconns >= r->cfg->max_conns) {
		refuse(r, fd, "connection limit");
		return NULL;
	}
	for (c = r->pending_in.head; c != NULL; c = c->qnext) {
		if (victim == NULL && (c->state == NS_C_SNIFFING || c->state == NS_C_HANDSHAKE))
			victim = c;
		if (same_source(&c->peer, from) && ++same >= r->cfg->max_pending_source) {
			refuse(r, fd, "per-source limit");
			return NULL;
		}
	}
	if (r->pending_in.n >= r->cfg->max_pending) {
		if (victim == NULL) {
			refuse(r, fd, "pending limit");
			return NULL;
		}
		victim->refusal = NS_R_EVICTED;
		ns_conn_close(victim, true, "dropped for a newer connection (pending limit)");
	}
	return conn_add(r, fd, false);
}

void ns_admit_established(struct ns_relay *r, struct ns_conn *c)
{
	queue_remove(queue_of(r, c), c);
}

void ns_admit_expire(struct ns_relay *r, int64_t now_ms)
{
	struct ns_pending *queues[2] = { &r->pending_in, &r->pending_out };

	/* Every connection gets the same timeout: a queue's head expires first. */
	for (int i = 0; i < 2; i++)
		while (queues[i]->head != NULL && now_ms >= queues[i]->head->deadline_ms) {
			queues[i]->head->refusal = NS_R_TIMEOUT;
			ns_conn_close(queues[i]->head, true, "handshake timed out");
		}
}
