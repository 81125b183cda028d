/*
 * relay.h: proxy mode's connections and what they share: the identity and
 * the replay cache of the handshake, the buffer pool, the queues of
 * connections not yet relaying, and the counts of those refused.
 *
 * The daemon owns one and hands it the sockets its listeners accept; the
 * relay knows nothing of the daemon.  Everything runs in the event loop
 * it is given.
 */
#ifndef NS_RELAY_H
#define NS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../event/loop.h"
#include "../event/pool.h"
#include "../keys/keys.h"
#include "../keys/members.h"
#include "../proto/proto.h"
#include "../chain/chain.h"
#include "../config/config.h"
#include "conn.h"

/* The connections' buffers: a whole record fits, with room for the next. */
#define NS_BUF_SIZE (2 * NS_RECORD_MAX_WIRE)

/* Why connections failed before relaying (the control socket's
 * "failed_handshakes"), in this order. */
enum ns_refusal { NS_R_AUTH, NS_R_REPLAY, NS_R_CLOCK, NS_R_BUSY, NS_R_TIMEOUT, NS_R_OTHER,
                  NS_R_LIMIT, NS_R_EVICTED, NS_R_CLONED,
                  NS_R_PLAIN,      /* a peer without nodeseal, under --policy required */
                  NS_R_DOWNGRADE,  /* in clear, or a cut handshake, from a peer sealed before */
                  NS_R_NOT_MEMBER, /* a node key not in the members list; --members chain:
                                      an address without connect now */
                  NS_R_BAD_PROOF,  /* --members chain: no proof, a malformed one, or one
                                      that does not verify */
                  NS_R_CHAIN_UNAVAILABLE, /* --members chain: our node's RPC not answering,
                                             our proof not ready, or too many to verify */
                  NS_REFUSAL_KINDS };
extern const char *const ns_refusal_kinds[NS_REFUSAL_KINDS];

/* What the relay has carried since it started: sealed handshakes, and the
 * payload bytes, records and rekeys each way.  The relay keeps the sums of
 * the connections gone (admission.c adds each as it closes);
 * ns_relay_stats adds the open ones, so nothing on the data path counts. */
struct ns_relay_totals {
	uint64_t handshakes;            /* sealed connections established */
	uint64_t clear;                 /* connections established in clear */
	uint64_t bytes_out, bytes_in;   /* payload: to the peers, to the node */
	uint64_t records_out, records_in; /* sealed records, close records included */
	uint64_t rekeys;                /* both directions */
};

/* Lines of one kind logged in the current window (admission.c). */
struct ns_relay_log_limit {
	int64_t window_ms;
	int in_window;
};

struct ns_relay {
	const struct ns_config *cfg;
	struct ns_loop *loop;
	struct ns_identity id;          /* secret: wiped by ns_relay_free */
	struct ns_replay replay;        /* the responder's record of initiators' ephemerals */
	char fingerprint[NS_FINGERPRINT_LEN + 1]; /* of our node key */
	struct ns_pool pool;            /* NS_BUF_SIZE buffers */
	struct ns_peers *peers;         /* the daemon's peer memory */
	const struct ns_members *members; /* the daemon's members list; NULL: open */
	struct ns_chain *chain;         /* --members chain: the daemon's; NULL: not */
	enum ns_policy policy;          /* in force now (ns_relay_set_policy) */
	struct ns_conn *conns;          /* all open connections */
	int nconns;
	struct ns_pending pending_in, pending_out;
	uint16_t delivery_next;         /* where the next delivery port is sought */
	uint64_t next_id;
	uint64_t refused;               /* connections refused or failed before relaying */
	uint64_t refused_by[NS_REFUSAL_KINDS];
	struct ns_relay_totals gone;    /* of connections closed, and every establishment */
	struct ns_relay_log_limit log_failed;      /* the rate limit of refusal lines */
	struct ns_relay_log_limit log_not_member;  /* the same, of node keys not listed */
	struct ns_relay_log_limit log_chain;       /* the same, of chain refusals */
};

/* What the control socket shows of the relay, copied. */
struct ns_relay_stats {
	char fingerprint[NS_FINGERPRINT_LEN + 1];
	int conns;
	uint64_t refused;
	uint64_t refused_by[NS_REFUSAL_KINDS];
	struct ns_relay_totals totals;  /* connections gone and open */
};

/* One connection, copied. */
struct ns_conn_info {
	char peer[64];
	char fingerprint[NS_FINGERPRINT_LEN + 1]; /* empty before the handshake */
	char name[NS_MEMBER_NAME_MAX + 1]; /* from the members list; "" if none */
	char chain_addr[NS_PROOF_ADDR_MAX + 1]; /* --members chain: its address; "" if none */
	char addr[48];                  /* the peer's IP address alone */
	bool outbound;
	bool sealed;                    /* false: carried in clear */
	int64_t since;                  /* unix seconds: relaying since; 0 before */
	uint64_t bytes_out, bytes_in;
	int64_t age_ms;
	const char *state;
};

void ns_relay_stats(const struct ns_relay *r, struct ns_relay_stats *out);
/* Adds what c has carried (bytes, records, rekeys) to t. */
void ns_relay_conn_totals(const struct ns_conn *c, struct ns_relay_totals *t);
/* Walks the connections: start with *cursor NULL; false at the end. */
bool ns_relay_conn_next(const struct ns_relay *r, const void **cursor, int64_t now_ms,
                        struct ns_conn_info *out);

/* Derives the identity from the keys (the caller wipes its copies) and
 * sets up the replay cache; peers is the daemon's peer memory, the policy
 * cfg's.  -1 with one sentence in err. */
int ns_relay_init(struct ns_relay *r, const struct ns_config *cfg, struct ns_loop *loop,
                  struct ns_peers *peers, const uint8_t network_key[NS_KEY_LEN],
                  const uint8_t node_priv[32], char *err, size_t errlen);
/* The policy from now on; under required every connection in clear is
 * reset (returns how many).  Sealed connections are never touched. */
int ns_relay_set_policy(struct ns_relay *r, enum ns_policy policy);
/* Resets every connection in clear with addr except keep (a peer that has
 * just sealed, or was forgotten); returns how many. */
int ns_relay_close_clear(struct ns_relay *r, const struct ns_peer_addr *addr,
                         const struct ns_conn *keep, const char *reason);
/* The members list from now on (NULL: membership open), owned by the
 * caller; every sealed connection, relaying or pending, whose peer key it
 * does not list is reset at once, and one it lists takes the name given
 * there.  Returns how many were reset. */
int ns_relay_set_members(struct ns_relay *r, const struct ns_members *members);
/* --members chain: membership from ch from now on (owned by the caller);
 * its verdicts and refreshes come to the relay. */
void ns_relay_set_chain(struct ns_relay *r, struct ns_chain *ch);
/* Once a second: handshakes out of time; the pool's memory once idle. */
void ns_relay_tick(struct ns_relay *r, int64_t now_ms);
/* Resets every connection (the daemon is stopping). */
void ns_relay_close_all(struct ns_relay *r, const char *reason);
/* After ns_relay_close_all and the loop's reap: frees and wipes. */
void ns_relay_free(struct ns_relay *r);

#endif
