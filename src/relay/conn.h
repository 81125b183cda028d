/*
 * conn.h: one intercepted connection, from accept to close.
 *
 * Outbound (the local node connected out; this side initiates):
 *   CONNECTING -> HANDSHAKE [-> PROVING] -> RELAY
 * Inbound (a peer connected in; this side responds):
 *   HANDSHAKE [-> PROVING] -> DELIVERING (connecting to the node, from the
 *   peer's address) -> RELAY
 * PROVING, under --members chain only: each side sends its proof record
 * first, and waits for the chain's verdict on the peer's (src/chain).
 * The node is reached only after the peer has authenticated, so a stranger
 * never gets a connection to it.
 *
 * Under --policy opportunistic a connection may instead be carried in
 * clear (c->clear), byte for byte, when the peer is not running nodeseal
 * and has never completed a sealed handshake with this node (src/peers):
 * inbound, SNIFFING tells a plain node's first bytes from a handshake
 * before anything is read; outbound, a handshake the peer ends without a
 * reply is tried again in clear (CONNECTING once more).  Every failure closes both sockets with a
 * reset, so neither end mistakes a cut for a clean end of stream.
 *
 * A connection is created by its owner (admission.c) with a function that
 * it calls, once, when it closes: the owner takes it out of its lists and
 * counts, and frees it after the event batch.
 */
#ifndef NS_CONN_H
#define NS_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../chain/proof.h"
#include "../event/loop.h"
#include "../keys/keys.h"
#include "../keys/members.h"
#include "../peers/peers.h"
#include "../proto/proto.h"

struct ns_relay;
struct ns_conn;

enum ns_conn_state { NS_C_CONNECTING, NS_C_SNIFFING, NS_C_HANDSHAKE, NS_C_PROVING,
                     NS_C_DELIVERING, NS_C_RELAY };

/*
 * Each direction ends on its own.  The sender's end of stream travels as
 * a sealed close record and is passed on as a shutdown, so an end is never
 * a cut taken for one.
 */
enum ns_up_state {
	NS_UP_OPEN,
	NS_UP_EOF,                  /* the node has ended: a close record to seal */
	NS_UP_CLOSING,              /* the close record is on its way to the peer */
	NS_UP_DONE,                 /* sent, and the peer socket shut for writing */
};

enum ns_down_state {
	NS_DOWN_OPEN,
	NS_DOWN_CLOSING,            /* the peer's close record opened: to pass on */
	NS_DOWN_SHUT,               /* the node socket shut for writing; the peer's EOF next */
	NS_DOWN_DONE,               /* the peer's EOF, after its close record */
};

/* A buffer from the relay's pool; data is NULL while none is held. */
struct ns_buf {
	uint8_t *data;
	size_t start, end;
};

/* Called once, when c closes; reason says why, for the log. */
typedef void ns_conn_dead_fn(void *cookie, struct ns_conn *c, const char *reason);

struct ns_conn {
	struct ns_relay *relay;         /* what it shares with the others */
	ns_conn_dead_fn *dead;          /* the owner, told of the close */
	void *cookie;
	struct ns_deferred freed;       /* freed after the event batch */
	struct ns_conn *prev, *next;    /* all connections */
	struct ns_conn *qprev, *qnext;  /* while pending: its queue, oldest first */
	uint64_t id;
	bool outbound;
	enum ns_conn_state state;
	struct ns_watch local, remote;  /* plaintext side (node), sealed side (peer) */
	struct sockaddr_storage peer;   /* the other node */
	struct sockaddr_storage target; /* inbound: the node's own address */
	struct sockaddr_storage own;    /* address of the socket we connected (outbound: to
	                                   the peer; inbound: to the node), to spot loops */
	int retries;                    /* connects redone after a loop or a port clash */
	int refusal;                    /* enum ns_refusal, if it fails pending */
	int64_t started_ms, deadline_ms;
	int64_t since;                  /* unix seconds: relaying (sealed or clear) since */
	struct ns_peer_addr peer_ip;    /* the other node's address, for the peer memory */
	bool clear;                     /* carried in clear: a peer without nodeseal */
	bool peer_ended;                /* outbound: the peer ended the handshake unanswered */
	char peer_text[64];
	char fingerprint[NS_FINGERPRINT_LEN + 1];
	char name[NS_MEMBER_NAME_MAX + 1]; /* the peer's, from the members list */
	char chain_addr[NS_PROOF_ADDR_MAX + 1]; /* --members chain: the peer's, once proven */

	/* --members chain: the proofs (PROVING) */
	struct ns_proof proof;          /* the peer's */
	bool proof_in;                  /* the peer's proof read */
	bool asked;                     /* asked of the chain */
	bool admitted;                  /* the chain's yes */
	bool pinned;                    /* chain_addr pinned in the chain's cache (ns_chain_pin) */

	/* handshake */
	struct ns_handshake *hs;
	uint8_t hs_in[NS_HS_MSG2_LEN], hs_out[NS_HS_MSG2_LEN];
	size_t hs_in_have, hs_out_len, hs_out_off;

	/* relay */
	struct ns_session session;
	bool has_session;
	struct ns_buf up;               /* node -> peer: sealed records to write */
	struct ns_buf down;             /* peer -> node: records, opened in place */
	uint8_t *pend;                  /* opened payload not yet written */
	size_t pend_len, pend_wire;
	enum ns_up_state up_state;
	enum ns_down_state down_state;
	uint32_t up_wants[2], down_wants[2]; /* what each pump waits for: local, remote */
	int rcvlowat;                   /* SO_RCVLOWAT of the remote socket */
	uint64_t bytes_out, bytes_in;   /* payload bytes: to the peer, to the node */
};

/* Pending connections: inbound ones are capped in total and per source,
 * and the oldest makes way for a newcomer; outbound ones (the node's own)
 * have their own cap.  Both queues are in order of deadline. */
struct ns_pending {
	struct ns_conn *head, *tail;
	int n;
};

/* A connection of r, not yet in any list: its owner's (admission.c), who
 * is told through dead when it closes.  NULL when out of memory. */
struct ns_conn *ns_conn_new(struct ns_relay *r, bool outbound, ns_conn_dead_fn *dead,
                            void *cookie);
/* Takes an accepted socket from the loopback (node connecting out) or the
 * inbound listener (peer connecting in). */
void ns_conn_outbound(struct ns_relay *r, int fd);
void ns_conn_inbound(struct ns_relay *r, int fd);
/* The one way a connection ends: abort resets both sockets. */
void ns_conn_close(struct ns_conn *c, bool abort, const char *reason);
bool ns_conn_pending(const struct ns_conn *c);
const char *ns_conn_state_name(const struct ns_conn *c);
/* The chain's verdict on c's proof (an enum ns_chain_verdict), and why. */
void ns_conn_verdict(struct ns_conn *c, int verdict, const char *why);

#endif
