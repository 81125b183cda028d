/*
 * flow.h: packet mode's per-connection state and the verdict on each
 * segment (docs/PROTOCOL.md, "Packet mode").
 *
 * One entry per TCP connection of a protected port, keyed by the 4-tuple
 * seen from this host (local address and port, remote address and port),
 * so both directions find the same entry.  An entry is made by a SYN: the
 * node's own (it gets our nonce) or a peer's (it must carry one).  Keys are
 * derived once both nonces are known, at the SYN-ACK.  After that, every
 * segment leaving is encrypted at its stream offset and carries a MAC;
 * every segment arriving must carry a MAC that verifies, and is decrypted.
 * Anything else is dropped: a protected port's segment never passes in
 * clear, and nothing unauthenticated reaches the local stack (but for the
 * two exceptions of ns_flow_segment: resets without payload before keys).
 *
 * The table is a fixed array allocated once (max entries), with chained
 * hash buckets over a keyed hash.  When it is full, an entry makes way for
 * a new connection: the one that ended first (both FINs or a reset), else
 * the oldest whose peer has not verified a segment (a handshake).  Two
 * lists in the order entries joined them make that O(1), which a SYN
 * flood (the option on a SYN is not authenticated) would otherwise turn
 * into a scan of the table per SYN.  Established entries are never
 * evicted: with only those, a new connection is refused.
 *
 * Nonces are new for every handshake and side (a PRF of a per-start
 * secret and a counter) and are kept in the entry: a retransmitted SYN or
 * SYN-ACK carries the same one, a replayed SYN is answered with a new one,
 * so no two connections share keys.
 *
 * A connection whose arriving segments keep failing their MAC is given up:
 * the table queues its tuple (ns_flow_next_kill) and the caller destroys
 * the local socket, whose reset then leaves sealed through this table.
 *
 * The rollout policy (docs/PROTOCOL.md, "Rolling out"), t->policy.  Under
 * NS_POLICY_REQUIRED the above is all.  Under NS_POLICY_OPPORTUNISTIC a
 * peer's SYN without the option, or a SYN-ACK without it answering our SYN
 * (which always carries it), makes the connection clear: its entry stays,
 * marked, and every segment of it passes unchanged both ways (but for the
 * checksums being completed).  A clear entry never becomes sealed, nor a
 * sealed one clear.  Whatever the policy, a peer in sealed memory
 * (t->peers, peers.h: it once verified a sealed segment) is never carried
 * in clear: its optionless SYN or SYN-ACK is dropped (NS_FC_DOWNGRADE).
 * When a peer is marked sealed for the first time, and when the policy
 * becomes required, the clear connections concerned are ended through
 * ns_flow_next_kill like failing ones, and their segments dropped from
 * then on.
 */
#ifndef NS_FLOW_H
#define NS_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "../peers/peers.h"
#include "pkt_crypto.h"
#include "pmtu.h"

/* Timeouts, in milliseconds. */
#define NS_FLOW_HANDSHAKE_MS (75 * 1000)   /* > Linux's SYN-ACK retries (~63 s) */
#define NS_FLOW_IDLE_MS (2 * 3600 * 1000)  /* established, nothing seen */
#define NS_FLOW_CLOSED_MS (60 * 1000)      /* both FINs, as TIME_WAIT */
#define NS_FLOW_RESET_MS (10 * 1000)       /* after a reset */
/* A clear connection is noted to t->peers at most this often (and, by the
 * segment path or by expiry, at least about this often: well within
 * NS_PEERS_CLEAR_HOLD_S). */
#define NS_FLOW_CLEAR_NOTE_MS (NS_PEERS_CLEAR_HOLD_S * 1000 / 4)

/* Room a caller's packet buffer needs past the packet: the MAC option. */
#define NS_FLOW_HEADROOM 64

/*
 * Arriving segments of one connection that fail their MAC in a row, with
 * no verified one between, before the daemon ends the connection.  One
 * lost or damaged segment is retransmitted by TCP and passes; a run of 8
 * means the peer's segments cannot pass at all (another network key, a
 * middlebox rewriting covered fields), and the connection would otherwise
 * stall until TCP gives up, some 15 minutes of retransmissions.  Failures
 * count at most one per 200 ms (Linux's smallest retransmission timeout),
 * so a peer that can no longer pass reaches 8 within about 25 s of RTO
 * doubling, and 8 is well above the damaged segments in a row of a bad
 * link.  Only failures the local stack would take for its peer's count
 * (flow.c, plausible(): seq in the window, ack in range, as RFC 5961
 * asks), so a stranger who knows the 4-tuple needs about 2^31 guesses per
 * failure on an idle connection with 64 KiB windows (docs/SECURITY.md).
 */
#define NS_FLOW_FAIL_MAX 8
/* Connections to end that the table holds until the caller takes them. */
#define NS_FLOW_KILL_MAX 16

enum ns_flow_verdict { NS_FLOW_DROP = 0, NS_FLOW_ACCEPT = 1 };

/* Why segments were dropped (and one count of what passed), for status. */
enum ns_flow_count {
	NS_FC_OUT,            /* segments sealed and sent */
	NS_FC_IN,             /* segments verified and delivered */
	NS_FC_BAD_PACKET,     /* unparsable, fragment, extension header, bad option */
	NS_FC_NO_FLOW,        /* no connection known for the 4-tuple */
	NS_FC_NO_OPTION,      /* a peer's SYN or SYN-ACK without the nodeseal option (policy
	                       * required), or a segment of a clear connection ended since */
	NS_FC_BAD_MAC,        /* MAC missing or wrong */
	NS_FC_NOT_READY,      /* a segment before the keys (not a SYN or a reset) */
	NS_FC_TABLE_FULL,     /* a new connection with no room left */
	NS_FC_UNSUPPORTED,    /* an option the daemon cannot carry, no MTU room */
	NS_FC_INTERNAL,       /* a crypto failure */
	NS_FC_CLEAR,          /* segments of clear connections passed unchanged, both ways */
	NS_FC_DOWNGRADE,      /* a sealed peer's SYN or SYN-ACK without the option, or a
	                       * segment of a clear connection ended since it became sealed */
	NS_FC_UNKNOWN_KEY,    /* a SYN, or our SYN-ACK, whose key id names no network key held */
	/* From here on, counts of connections, not segments.  Ended after
	 * NS_FLOW_FAIL_MAX failures in a row (handed to the caller by
	 * ns_flow_next_kill): */
	NS_FC_RESET_FAILING,
	NS_FC_EVICTED,        /* entries that made way for a new connection */
	NS_FC_CLEAR_ENDED,    /* clear connections handed out to end (policy, sealed peer) */
	NS_FC_COUNT
};
extern const char *const ns_flow_count_names[NS_FC_COUNT];

struct ns_flow;

/* A connection as the local stack names it, for ns_flow_next_open and
 * ns_flow_next_kill. */
struct ns_flow_tuple {
	bool v6;
	uint8_t local[16], remote[16];  /* IPv4: the first 4 bytes */
	uint16_t lport, rport;          /* host order */
};

/* Network keys held at once: two during a rotation. */
#define NS_FLOW_NETKEYS_MAX 2
/* An entry's key: local address, remote address, ports, family (flow.c). */
#define NS_FLOW_KEY_LEN 40
/* Eviction lists: handshakes, ended connections (flow.c). */
#define NS_FLOW_NLISTS 2

struct ns_flow_table {
	struct ns_flow *e;          /* max entries */
	int32_t *bucket;            /* nbuckets heads, -1 terminated chains */
	uint32_t nbuckets, max, used;
	int32_t free_head;
	/* The network keys: [0] is sent with, each is accepted; ids as
	 * ns_pkt_key_id gives them (ns_flow_set_keys). */
	uint8_t netkey[NS_FLOW_NETKEYS_MAX][NS_KEY_LEN];
	uint8_t netkey_id[NS_FLOW_NETKEYS_MAX][NS_PKT_KEYID_LEN];
	uint32_t nnetkeys;
	uint8_t secret[NS_KEY_LEN];  /* nonces: fresh per start */
	uint64_t nonce_counter;      /* nonces made so far */
	uint64_t hash_seed;
	uint64_t count[NS_FC_COUNT];
	uint64_t payload[2];         /* TCP payload bytes of segments sealed [0], opened [1] */
	uint32_t expire_cursor;
	/* Entries that may be evicted, oldest first (flow.c): handshakes,
	 * ended connections; -1 when empty. */
	int32_t evict_head[NS_FLOW_NLISTS], evict_tail[NS_FLOW_NLISTS];
	struct ns_pmtu_table pmtu;   /* learned path MTUs: the SYN clamp uses them */
	/* Connections to end, by key; looked up again when taken. */
	uint8_t kill[NS_FLOW_KILL_MAX][NS_FLOW_KEY_LEN];
	uint32_t nkill;
	/* Clear connections to end that did not fit the kill queue yet:
	 * ns_flow_next_kill finds them once the queue is empty. */
	uint32_t nend_waiting;
	/* The rollout policy: set it with ns_flow_set_policy (ns_flow_init
	 * leaves NS_POLICY_REQUIRED). */
	enum ns_policy policy;
	/* Sealed memory, and where clear connections are noted; NULL: none
	 * (no peer is known sealed, nothing is noted). */
	struct ns_peers *peers;
	/* Unix seconds, for what goes to t->peers and ns_flow_info.since: the
	 * caller sets it before each batch (the table reads no clock). */
	int64_t wall_s;
};

/* One segment as the queue hands it over. */
struct ns_flow_pkt {
	uint8_t *pkt;               /* the IP packet; may be rewritten in place */
	size_t len;                 /* in: its length; out: the new length */
	size_t cap;                 /* bytes available at pkt (len + NS_FLOW_HEADROOM or more) */
	bool outgoing;              /* from this host (OUTPUT), else to it (INPUT) */
	unsigned mtu;               /* of the interface it leaves or arrived by; 0 unknown */
};
/* A SYN or SYN-ACK's MSS clamp uses min(mtu, the path MTU t->pmtu holds for
 * the peer's address), the path MTU taken as at least 552 (IPv4: Linux's
 * net.ipv4.route.min_pmtu default) or 1280 (IPv6). */

int ns_flow_init(struct ns_flow_table *t, uint32_t max, const uint8_t network_key[NS_KEY_LEN]);
/*
 * Replaces the network keys, on a reload: n (1 to NS_FLOW_NETKEYS_MAX) of
 * NS_KEY_LEN bytes one after another, the first sent with.  Connections already keyed keep their keys; a
 * handshake completes under the key its SYN named, if still held.  Two
 * keys with the same id are refused (err says so), the old set kept.
 */
int ns_flow_set_keys(struct ns_flow_table *t, const uint8_t *keys, size_t n,
                     char *err, size_t errlen);
/* Frees every entry's keys and the arrays; wipes the secrets. */
void ns_flow_free(struct ns_flow_table *t);

/*
 * The verdict on one segment of a protected port.  With NS_FLOW_ACCEPT the
 * packet at p->pkt, p->len bytes, is what goes on (rewritten, checksums
 * fixed).  now_ms is a monotonic clock.
 *
 * Before keys exist, only resets without payload pass: the node's reset
 * answering a SYN (a refused connection), and a peer's reset answering our
 * SYN whose ack is our ISN + 1 (what the local stack would accept).  They
 * carry nothing and change nothing an on-path attacker could not (it can
 * drop the SYN).
 */
enum ns_flow_verdict ns_flow_segment(struct ns_flow_table *t, struct ns_flow_pkt *p,
                                     int64_t now_ms);

/* The sealed connections not yet closed (handshake or established), one a
 * call from *cursor (0 to start); true while one was found, false at the
 * end.  Clear ones are left out: they need no ending when the rules go. */
bool ns_flow_next_open(const struct ns_flow_table *t, uint32_t *cursor, struct ns_flow_tuple *tu);

/* One connection of the table, for status. */
struct ns_flow_info {
	struct ns_flow_tuple tu;    /* remote: the peer */
	bool out;                   /* this node sent the SYN */
	bool clear;                 /* passed in clear (else sealed) */
	bool ending;                /* clear, and queued to end (policy or sealed peer) */
	int64_t since;              /* unix seconds (t->wall_s) when the entry was made: its SYN */
	const char *state;          /* "handshake", "open" or "closing" */
};
/* Every entry, one a call from *cursor (0 to start); false at the end. */
bool ns_flow_next_info(const struct ns_flow_table *t, uint32_t *cursor, struct ns_flow_info *out);

/*
 * Sets the policy.  To NS_POLICY_REQUIRED: every clear connection is
 * queued to end (ns_flow_next_kill hands them all out, however many) and
 * its segments are dropped from now on; sealed ones are untouched.
 * Returns how many clear connections were queued (0 for opportunistic).
 */
int ns_flow_set_policy(struct ns_flow_table *t, enum ns_policy p);

/* For tests and fuzzing: 0 if the eviction lists hold exactly the entries
 * that may be evicted, each once, linked both ways; -1 if not. */
int ns_flow_check_lists(const struct ns_flow_table *t);

/*
 * The next connection to end because NS_FLOW_FAIL_MAX of its arriving
 * segments failed in a row, or because it is clear and may no longer be
 * (ns_flow_set_policy, or its peer newly sealed): true with *tu set, false
 * when there is none left.  The caller destroys the local socket
 * (SOCK_DESTROY); the stack's reset then comes through ns_flow_segment and
 * leaves sealed, or in clear for a clear one (a reset without payload, as
 * for a connection the stack does not know).  Call it after each batch of
 * segments, until false: the table holds NS_FLOW_KILL_MAX, and a failing
 * connection that finds no room is queued at its next failure; clear ones
 * that found no room are all handed out once the queue is empty.  One that
 * verified a segment or was replaced meanwhile is left alone.
 */
bool ns_flow_next_kill(struct ns_flow_table *t, struct ns_flow_tuple *tu);

/* Frees entries whose time is up; looks at up to budget entries a call.
 * A clear connection it passes that is open and was not noted for
 * NS_FLOW_CLEAR_NOTE_MS is noted (ns_peers_saw_clear, t->wall_s), as its
 * segments note it at most once per NS_FLOW_CLEAR_NOTE_MS. */
void ns_flow_expire(struct ns_flow_table *t, int64_t now_ms, uint32_t budget);

#endif
