/*
 * pump.c: the handshake and the two directions of a relay (pump.h).
 *
 * A direction holds at most one buffer, so a slow reader stops the other
 * side being read (back-pressure), and an idle connection holds none.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "../event/pool.h"
#include "pump.h"
#include "relay.h"

#define PUMP_ROUNDS 16 /* per event and direction: fairness between conns */

static int refusal_of(int err)
{
	switch (err) {
	case NS_ERR_AUTH: return NS_R_AUTH;
	case NS_ERR_REPLAY: return NS_R_REPLAY;
	case NS_ERR_STALE: return NS_R_CLOCK;
	case NS_ERR_BUSY: return NS_R_BUSY;
	case NS_ERR_CLONED: return NS_R_CLONED;
	case NS_ERR_NOT_MEMBER: return NS_R_NOT_MEMBER;
	default: return NS_R_OTHER;
	}
}

static void buf_release(struct ns_conn *c, struct ns_buf *b)
{
	if (b->data != NULL)
		ns_pool_put(&c->relay->pool, b->data);
	b->data = NULL;
	b->start = b->end = 0;
}

static int buf_take(struct ns_conn *c, struct ns_buf *b)
{
	if (b->data == NULL && (b->data = ns_pool_get(&c->relay->pool)) == NULL)
		return -1;
	return 0;
}

void ns_pump_release(struct ns_conn *c)
{
	buf_release(c, &c->up);
	buf_release(c, &c->down);
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EINTR;
}

/* The handshake's timestamp and its check read the wall clock: peers
 * share no other. */
static void hs_clock(struct ns_handshake *hs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns_handshake_set_time(hs, ts.tv_sec, (uint32_t)ts.tv_nsec);
}

/* A handshake error: the peer is refused, by kind. */
static int hs_failed(struct ns_conn *c, int err, const char **why)
{
	const uint8_t *key = ns_handshake_peer_key(c->hs);

	/* The log names a refused member's key by its fingerprint. */
	if (err == NS_ERR_NOT_MEMBER && key != NULL)
		ns_fingerprint(key, c->fingerprint);
	c->refusal = refusal_of(err);
	*why = ns_strerror(err);
	return -1;
}

int ns_pump_handshake(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	for (;;) {
		ssize_t n;
		int err;

		if (c->hs_out_off < c->hs_out_len) {
			n = send(c->remote.fd, c->hs_out + c->hs_out_off, c->hs_out_len - c->hs_out_off,
			         MSG_NOSIGNAL);
			if (n < 0 && would_block()) {
				w->remote |= EPOLLOUT;
				return 0;
			}
			if (n <= 0) {
				c->peer_ended = c->outbound;
				*why = "peer gone during handshake";
				return -1;
			}
			c->hs_out_off += (size_t)n;
			continue;
		}
		if (ns_handshake_done(c->hs)) {
			if (ns_handshake_finish(c->hs, &c->session) != NS_OK) {
				*why = "handshake finish failed";
				return -1;
			}
			c->has_session = true;
			return 1;
		}
		if (ns_handshake_writing(c->hs)) {
			hs_clock(c->hs);
			err = ns_handshake_write(c->hs, c->hs_out, sizeof(c->hs_out), &c->hs_out_len);
			if (err != NS_OK)
				return hs_failed(c, err, why);
			c->hs_out_off = 0;
			continue;
		}
		/* Read exactly the message: the bytes after it are records. */
		n = recv(c->remote.fd, c->hs_in + c->hs_in_have,
		         ns_handshake_next_len(c->hs) - c->hs_in_have, 0);
		if (n < 0 && would_block()) {
			w->remote |= EPOLLIN;
			return 0;
		}
		if (n <= 0) {
			/* Before any byte of its reply: what a node without
			 * nodeseal does with our first message (conn.c). */
			c->peer_ended = c->outbound && c->hs_in_have == 0 &&
			                (n == 0 || errno == ECONNRESET || errno == EPIPE);
			*why = n == 0 ? "peer closed during handshake"
			              : "peer reset during handshake";
			return -1;
		}
		c->hs_in_have += (size_t)n;
		if (c->hs_in_have < ns_handshake_next_len(c->hs))
			continue;
		hs_clock(c->hs);
		err = ns_handshake_read(c->hs, c->hs_in, c->hs_in_have);
		c->hs_in_have = 0;
		if (err != NS_OK)
			return hs_failed(c, err, why);
	}
}

/* Seals what the node sent (or, once it has ended, the close record) into
 * the empty buffer b.  0, 1 if the node's socket is empty, -1 with why. */
static int up_fill(struct ns_conn *c, struct ns_buf *b, bool *drained, const char **why)
{
	ssize_t n;

	if (c->up_state == NS_UP_EOF) {
		if (ns_record_seal(&c->session.tx, NS_RECORD_CLOSE, NULL, 0, b->data) != NS_OK)
			goto seal_failed;
		b->end = ns_record_wire_len(0);
		c->up_state = NS_UP_CLOSING;
		return 0;
	}
	n = recv(c->local.fd, b->data + NS_RECORD_HDR_LEN, NS_RECORD_MAX, 0);
	if (n < 0 && would_block())
		return 1;
	if (n < 0) {
		*why = "node reset the connection";
		return -1;
	}
	if (n == 0) {
		c->up_state = NS_UP_EOF;
		return 0;
	}
	if (ns_record_seal(&c->session.tx, NS_RECORD_DATA, b->data + NS_RECORD_HDR_LEN,
	                   (size_t)n, b->data) != NS_OK)
		goto seal_failed;
	b->end = ns_record_wire_len((size_t)n);
	c->bytes_out += (uint64_t)n;
	*drained = n < NS_RECORD_MAX;
	return 0;
seal_failed:
	*why = "seal failed";
	return -1;
}

int ns_pump_up(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	struct ns_buf *b = &c->up;
	bool drained = false;

	for (int round = 0; round < PUMP_ROUNDS && c->up_state != NS_UP_DONE; round++) {
		ssize_t n;
		int rc;

		if (b->end > b->start) {
			n = send(c->remote.fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
			if (n < 0 && would_block()) {
				w->remote |= EPOLLOUT;
				return 0;
			}
			if (n < 0) {
				*why = "peer connection lost";
				return -1;
			}
			b->start += (size_t)n;
			continue;
		}
		if (drained) {
			/* The last read came up short: the socket is empty, and
			 * epoll (level-triggered) says when it is not. */
			buf_release(c, b);
			w->local |= EPOLLIN;
			return 0;
		}
		if (c->up_state == NS_UP_CLOSING) {
			shutdown(c->remote.fd, SHUT_WR);
			c->up_state = NS_UP_DONE;
			break;
		}
		if (buf_take(c, b) != 0) {
			*why = "out of memory";
			return -1;
		}
		b->start = b->end = 0;
		rc = up_fill(c, b, &drained, why);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			buf_release(c, b);
			w->local |= EPOLLIN;
			return 0;
		}
	}
	if (b->start == b->end)
		buf_release(c, b);
	if (c->up_state != NS_UP_DONE && w->local == 0 && w->remote == 0)
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

/* The peer's socket is empty for now: wait for the rest of the record. */
static int down_wait(struct ns_conn *c, struct ns_buf *b, size_t need, struct ns_wants *w)
{
	wake_for(c, need);
	if (b->start == b->end)
		buf_release(c, b);
	w->remote |= EPOLLIN;
	return 0;
}

/* Room for a whole record of used bytes, at the buffer's end. */
static void down_make_room(struct ns_buf *b, size_t used)
{
	if (b->start == b->end) {
		b->start = b->end = 0;
	} else if (NS_BUF_SIZE - b->start < used) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
}

/* Writes the opened payload to the node.  1 if it would block. */
static int down_deliver(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	ssize_t n = send(c->local.fd, c->pend, c->pend_len, MSG_NOSIGNAL);

	if (n < 0 && would_block()) {
		w->local |= EPOLLOUT;
		return 1;
	}
	if (n < 0) {
		*why = "node connection lost";
		return -1;
	}
	c->pend += n;
	c->pend_len -= (size_t)n;
	c->bytes_in += (uint64_t)n;
	return 0;
}

int ns_pump_down(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	struct ns_buf *b = &c->down;
	bool drained = false;

	for (int round = 0; round < PUMP_ROUNDS && c->down_state != NS_DOWN_DONE; round++) {
		size_t used, plen, space;
		uint8_t *p, type;
		ssize_t n;
		int rc;

		if (c->pend_len > 0) {
			rc = down_deliver(c, w, why);
			if (rc != 0)
				return rc < 0 ? -1 : 0;
			continue;
		}
		if (c->pend_wire > 0) {
			b->start += c->pend_wire;
			c->pend_wire = 0;
		}
		if (c->down_state == NS_DOWN_CLOSING) {
			shutdown(c->local.fd, SHUT_WR);
			c->down_state = NS_DOWN_SHUT;
		}
		if (buf_take(c, b) != 0) {
			*why = "out of memory";
			return -1;
		}
		rc = ns_record_open(&c->session.rx, b->data + b->start, b->end - b->start, &used, &p,
		                    &plen, &type);
		if (rc < 0) {
			*why = ns_strerror(rc);
			return -1;
		}
		/* A proof is the first record or nothing: one later is refused
		 * (and under no --members chain, every one). */
		if (rc == 1 && type == NS_RECORD_PROOF) {
			*why = "proof record in the stream";
			return -1;
		}
		if (rc == 1) {
			c->pend = p;
			c->pend_len = plen;
			c->pend_wire = used;
			if (type == NS_RECORD_CLOSE)
				c->down_state = NS_DOWN_CLOSING;
			continue;
		}
		if (drained)
			return down_wait(c, b, used - (b->end - b->start), w);
		down_make_room(b, used);
		space = NS_BUF_SIZE - b->end;
		n = recv(c->remote.fd, b->data + b->end, space, 0);
		if (n < 0 && would_block())
			return down_wait(c, b, used - (b->end - b->start), w);
		if (n < 0) {
			*why = "peer reset the connection";
			return -1;
		}
		if (n == 0) {
			/* An end without the close record before it is a cut. */
			rc = b->end > b->start ? NS_ERR_TRUNCATED : ns_record_eof(&c->session.rx);
			if (rc != NS_OK) {
				*why = ns_strerror(rc);
				return -1;
			}
			c->down_state = NS_DOWN_DONE;
			break;
		}
		b->end += (size_t)n;
		drained = (size_t)n < space;
	}
	if (c->down_state == NS_DOWN_DONE || b->start == b->end) {
		buf_release(c, b);
		c->pend = NULL;
	}
	if (c->down_state != NS_DOWN_DONE && w->local == 0 && w->remote == 0)
		w->local |= EPOLLOUT; /* out of rounds: come back when writable */
	return 0;
}

int ns_pump_proof_queue(struct ns_conn *c, const uint8_t *proof, size_t len)
{
	struct ns_buf *b = &c->up;

	if (len == 0 || len > NS_PROOF_MAX || buf_take(c, b) != 0)
		return -1;
	memcpy(b->data + NS_RECORD_HDR_LEN, proof, len);
	if (ns_record_seal(&c->session.tx, NS_RECORD_PROOF, b->data + NS_RECORD_HDR_LEN, len,
	                   b->data) != NS_OK)
		return -1;
	b->start = 0;
	b->end = ns_record_wire_len(len);
	return 0;
}

int ns_pump_proving(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	struct ns_buf *u = &c->up, *b = &c->down;

	while (u->data != NULL && u->end > u->start) {
		ssize_t n = send(c->remote.fd, u->data + u->start, u->end - u->start, MSG_NOSIGNAL);

		if (n < 0 && would_block()) {
			w->remote |= EPOLLOUT;
			break;
		}
		if (n < 0) {
			*why = "peer connection lost";
			return -1;
		}
		u->start += (size_t)n;
	}
	if (u->data != NULL && u->start == u->end)
		buf_release(c, u);
	/* The peer's first record, and not a byte more of it is read: the
	 * bytes after it stay in the buffer for the down pump. */
	while (!c->proof_in) {
		size_t used, plen;
		uint8_t *p, type;
		ssize_t n;
		int rc;

		if (buf_take(c, b) != 0) {
			*why = "out of memory";
			return -1;
		}
		rc = ns_record_open(&c->session.rx, b->data + b->start, b->end - b->start, &used, &p,
		                    &plen, &type);
		if (rc < 0) {
			c->refusal = NS_R_BAD_PROOF;
			*why = ns_strerror(rc);
			return -1;
		}
		if (rc == 1) {
			c->refusal = NS_R_BAD_PROOF;
			if (type != NS_RECORD_PROOF) {
				*why = "no proof record first (the peer does not run --members chain?)";
				return -1;
			}
			if (ns_proof_parse(p, plen, &c->proof) != 0) {
				*why = "malformed proof record";
				return -1;
			}
			b->start += used;
			c->proof_in = true;
			break;
		}
		/* A proof record is small: it fits after the buffer's start. */
		down_make_room(b, used);
		n = recv(c->remote.fd, b->data + b->end, NS_BUF_SIZE - b->end, 0);
		if (n < 0 && would_block()) {
			w->remote |= EPOLLIN;
			break;
		}
		if (n <= 0) {
			c->refusal = NS_R_OTHER;
			*why = n == 0 ? "peer closed before its proof" : "peer reset before its proof";
			return -1;
		}
		b->end += (size_t)n;
	}
	if (c->proof_in && b->start == b->end)
		buf_release(c, b);
	return 0;
}

/*
 * A connection in clear: the bytes of one direction copied as they are,
 * from src to dst, with the end passed on as a shutdown.  A reset ends the
 * connection, and the caller passes it on as a reset.
 */
static int clear_copy(struct ns_conn *c, struct ns_buf *b, int src, int dst, bool *ended,
                      uint64_t *count, uint32_t *want_src, uint32_t *want_dst)
{
	for (int round = 0; round < PUMP_ROUNDS && !*ended; round++) {
		ssize_t n;

		if (b->data != NULL && b->end > b->start) {
			n = send(dst, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
			if (n < 0 && would_block()) {
				*want_dst |= EPOLLOUT;
				return 0;
			}
			if (n < 0)
				return -1;
			b->start += (size_t)n;
			*count += (uint64_t)n;
			continue;
		}
		if (buf_take(c, b) != 0)
			return -1;
		b->start = b->end = 0;
		n = recv(src, b->data, NS_BUF_SIZE, 0);
		if (n < 0 && would_block()) {
			buf_release(c, b);
			*want_src |= EPOLLIN;
			return 0;
		}
		if (n < 0)
			return -1;
		if (n == 0) {
			shutdown(dst, SHUT_WR);
			*ended = true;
			break;
		}
		b->end = (size_t)n;
	}
	if (b->start == b->end)
		buf_release(c, b);
	if (!*ended && *want_src == 0 && *want_dst == 0)
		*want_dst |= EPOLLOUT; /* out of rounds: come back when writable */
	return 0;
}

int ns_pump_clear_up(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	bool ended = c->up_state == NS_UP_DONE;

	if (clear_copy(c, &c->up, c->local.fd, c->remote.fd, &ended, &c->bytes_out, &w->local,
	               &w->remote) != 0) {
		*why = "connection lost (in clear, node to peer)";
		return -1;
	}
	if (ended)
		c->up_state = NS_UP_DONE;
	return 0;
}

int ns_pump_clear_down(struct ns_conn *c, struct ns_wants *w, const char **why)
{
	bool ended = c->down_state == NS_DOWN_DONE;

	if (clear_copy(c, &c->down, c->remote.fd, c->local.fd, &ended, &c->bytes_in, &w->remote,
	               &w->local) != 0) {
		*why = "connection lost (in clear, peer to node)";
		return -1;
	}
	if (ended)
		c->down_state = NS_DOWN_DONE;
	return 0;
}

int ns_pump_clear_preload(struct ns_conn *c, const uint8_t *data, size_t len)
{
	if (len > NS_BUF_SIZE || buf_take(c, &c->down) != 0)
		return -1;
	memcpy(c->down.data, data, len);
	c->down.start = 0;
	c->down.end = len;
	return 0;
}
