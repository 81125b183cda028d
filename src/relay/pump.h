/*
 * pump.h: the pumps that move a connection's bytes: the handshake, then
 * node -> peer (up) and peer -> node (down), each independent of the other.
 *
 * A pump runs until a socket would block, or for at most a few rounds
 * (fairness between connections), and adds what it then waits for to
 * wants.  It never closes the connection: on a failure it returns -1 and
 * says why, and the caller closes (conn.c).
 */
#ifndef NS_PUMP_H
#define NS_PUMP_H

#include <stdint.h>

#include "conn.h"

/* What the pumps wait for, per side (epoll events). */
struct ns_wants {
	uint32_t local, remote;
};

/* 0 to go on, 1 when the handshake is done (c->session set), -1 with why
 * (and c->refusal, for a refused peer). */
int ns_pump_handshake(struct ns_conn *c, struct ns_wants *w, const char **why);
/* 0 to go on (c->up_state / c->down_state say how far), -1 with why. */
int ns_pump_up(struct ns_conn *c, struct ns_wants *w, const char **why);
int ns_pump_down(struct ns_conn *c, struct ns_wants *w, const char **why);
/* The same for a connection in clear (c->clear): bytes copied unchanged. */
int ns_pump_clear_up(struct ns_conn *c, struct ns_wants *w, const char **why);
int ns_pump_clear_down(struct ns_conn *c, struct ns_wants *w, const char **why);
/* Bytes already read from the peer, to go to the node first once a clear
 * connection relays (an inbound connection's sniffed head).  -1: no memory. */
int ns_pump_clear_preload(struct ns_conn *c, const uint8_t *data, size_t len);
/* --members chain: seals our proof record (its payload) into the empty up
 * buffer; -1 if it cannot. */
int ns_pump_proof_queue(struct ns_conn *c, const uint8_t *proof, size_t len);
/* PROVING: sends what the up buffer holds, and reads the peer's first
 * record, which must be a proof (into c->proof, c->proof_in set); the bytes
 * after it stay in the down buffer.  0 to go on, -1 with why and
 * c->refusal. */
int ns_pump_proving(struct ns_conn *c, struct ns_wants *w, const char **why);
/* Gives c's buffers back to the pool (c closes). */
void ns_pump_release(struct ns_conn *c);

#endif
