/*
 * chain.h: membership from the chain (--members chain).  A peer is a
 * member while the MultiChain address it proves holds the connect
 * permission on this node's chain (docs/SECURITY.md, "Membership from the
 * chain").
 *
 * A worker thread does every RPC call to the local node (rpc.c), so the
 * event loop never blocks on it: it refreshes this node's own state every
 * refresh interval (getinfo; signmessage when the address or the chain
 * changed; one listpermissions of a comma-separated list of our address
 * and every address of the permission cache; all within
 * NS_CHAIN_REFRESH_DEADLINE_MS), and verifies the proofs of new peers
 * (verifymessage, listpermissions).  The permission cache keeps the
 * addresses the relay pins (live connections) and at most 256 others.  Jobs
 * go in through a bounded queue, verdicts come back through an eventfd the
 * event loop watches.  Every function here but the worker's own is called
 * from the event loop's thread.
 */
#ifndef NS_CHAIN_H
#define NS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../event/loop.h"
#include "proof.h"

#define NS_CHAIN_QUEUE 32         /* verification jobs waiting, at most */
#define NS_CHAIN_RATE 20          /* new verifications a second, at most (burst: as many) */
#define NS_CHAIN_RPC_TIMEOUT_MS 2000 /* one call */
#define NS_CHAIN_REFRESH_DEADLINE_MS (2 * NS_CHAIN_RPC_TIMEOUT_MS) /* a refresh's calls, or a job's */
#define NS_CHAIN_STALE_INTERVALS 3 /* refreshes missed before live connections go */

enum ns_chain_verdict {
	NS_CHAIN_YES,
	NS_CHAIN_QUEUED,              /* asked: the verdict comes through the handler */
	NS_CHAIN_NOT_MEMBER,          /* the address does not hold connect now */
	NS_CHAIN_BAD_PROOF,           /* the signature does not verify */
	NS_CHAIN_UNAVAILABLE,         /* the node's RPC did not answer, or we are too busy */
};

/* A verdict on the job id; why for the log. */
typedef void ns_chain_verdict_fn(void *cookie, uint64_t id, int verdict, const char *why);
/* A refresh is over (answered or not): live connections are checked again. */
typedef void ns_chain_refresh_fn(void *cookie);

struct ns_chain;

/* What status shows. */
struct ns_chain_status {
	const char *rpc;              /* waiting, ready or error */
	char error[320];              /* the last error, "" if none */
	char chain[NS_CHAIN_NAME_MAX + 1];
	char address[NS_PROOF_ADDR_MAX + 1];
	bool own_connect;             /* our address holds connect */
	int64_t blocks;
	int64_t last_refresh;         /* unix seconds of the last answered refresh; 0 none */
	uint64_t rpc_calls;
};

/* dir: the chain's directory (multichain.conf, params.dat), which need not
 * exist yet; own_key: this node's nodeseal static public key.  NULL with
 * one sentence in err. */
struct ns_chain *ns_chain_new(struct ns_loop *loop, const char *dir, int refresh_s,
                              const uint8_t own_key[32], char *err, size_t errlen);
void ns_chain_set_handlers(struct ns_chain *ch, ns_chain_verdict_fn *verdict,
                           ns_chain_refresh_fn *refreshed, void *cookie);
/* Starts the worker; -1 with err. */
int ns_chain_start(struct ns_chain *ch, char *err, size_t errlen);
/* Stops the worker (waits for its RPC call to end) and frees. */
void ns_chain_free(struct ns_chain *ch);
/* Our proof record's payload into out; its length, or -1 with why when
 * there is none to send (the RPC not answering yet, our address without
 * connect). */
int ns_chain_own_proof(struct ns_chain *ch, uint8_t *out, size_t outlen, char *why,
                       size_t whylen);
/* Whether the peer with key (proven by the handshake) and proof is a
 * member: NS_CHAIN_YES or a refusal at once from the caches, or
 * NS_CHAIN_QUEUED and the verdict later, for job id. */
int ns_chain_ask(struct ns_chain *ch, uint64_t id, const uint8_t key[32],
                 const struct ns_proof *p);
/* Whether addr holds connect by the last refresh or verification that
 * checked it (false for an address the cache does not hold, once the RPC
 * has not answered for NS_CHAIN_STALE_INTERVALS intervals and a timeout,
 * or once our own address lost it). */
bool ns_chain_holds_connect(struct ns_chain *ch, const char *addr);
/* A live connection with addr: its entry is kept (never evicted) and
 * checked by every refresh until as many ns_chain_unpin.  False out of
 * memory (the connection is to be refused). */
bool ns_chain_pin(struct ns_chain *ch, const char *addr);
void ns_chain_unpin(struct ns_chain *ch, const char *addr);
/* Whether the last successful refresh is older than the stale cut
 * (NS_CHAIN_STALE_INTERVALS intervals and NS_CHAIN_RPC_TIMEOUT_MS); the
 * relay asks every second.  False before any refresh answered. */
bool ns_chain_stale(struct ns_chain *ch);
void ns_chain_status(struct ns_chain *ch, struct ns_chain_status *out);

#endif
