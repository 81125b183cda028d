/*
 * peers.h: what this node remembers of its peers, by IP address, for the
 * rollout policy (docs/PROTOCOL.md, "Rolling out").
 *
 * Sealed memory: a peer that has completed a sealed handshake (proxy mode)
 * or verified a sealed segment (packet mode) is never accepted in clear
 * again, in either direction, until the operator forgets it
 * ("nodeseal forget").  This memory is what stops a downgrade: an on-path
 * attacker who resets or strips handshakes gets refused connections, not
 * clear ones.  It is kept in STATE_DIR/peers across restarts.
 *
 * Clear memory, not kept across restarts: when a clear connection with a
 * peer was last seen (for status), and, in proxy mode, until when an
 * outbound connection to a peer found plain goes clear without trying the
 * sealed handshake first.
 *
 * The table is bounded (NS_PEERS_MAX).  When it is full a clear entry makes
 * way first; a sealed one only for another sealed one (the one sealed
 * longest ago), with a warning: only holders of the network key can add
 * sealed entries.
 */
#ifndef NS_PEERS_H
#define NS_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NS_PEERS_MAX 4096
/* A clear peer stays listed this long after its last clear connection. */
#define NS_PEERS_CLEAR_HOLD_S 120
#define NS_PEERS_FILE "peers"

enum ns_policy { NS_POLICY_REQUIRED, NS_POLICY_OPPORTUNISTIC };

/* An IP address: IPv4 in the first 4 bytes of a, the rest zero. */
struct ns_peer_addr {
	bool v6;
	uint8_t a[16];
};

/* Whether a and b are one address. */
bool ns_peer_addr_equal(const struct ns_peer_addr *a, const struct ns_peer_addr *b);

struct ns_peer {
	struct ns_peer_addr addr;
	int64_t sealed_first;       /* unix seconds; 0: never sealed (kept in the file) */
	int64_t sealed_last;        /* unix seconds (kept in the file) */
	int64_t clear_first;        /* unix seconds: first clear connection; 0 none */
	int64_t clear_last;         /* unix seconds: a clear connection last seen open */
	int64_t plain_until_ms;     /* monotonic ms: proxy outbound goes clear until then */
};

struct ns_peers {
	struct ns_peer *v;
	size_t n, max;
	bool dirty;                 /* sealed entries changed since the last save */
	char path[4200];            /* STATE_DIR/peers; empty: not saved */
};

/* One peer as status shows it. */
struct ns_peer_info {
	char addr[48];
	bool sealed;
	int64_t since;              /* unix seconds: sealed_first, or clear_first */
};

/* An empty table of up to max entries (NS_PEERS_MAX if 0). -1 on ENOMEM. */
int ns_peers_init(struct ns_peers *p, size_t max);
void ns_peers_free(struct ns_peers *p);
/* Reads STATE_DIR/peers (a missing file is an empty memory) and keeps the
 * path for ns_peers_save.  -1 with one sentence naming the file and line. */
int ns_peers_load(struct ns_peers *p, const char *state_dir, char *err, size_t errlen);
/* Writes the sealed entries atomically (temporary file, fsync, rename). */
int ns_peers_save(struct ns_peers *p, char *err, size_t errlen);

/* The address of a socket address; false if it is neither IPv4 nor IPv6.
 * IPv4-mapped IPv6 addresses become IPv4. */
bool ns_peer_addr_from(const struct sockaddr_storage *sa, struct ns_peer_addr *out);
void ns_peer_addr_text(const struct ns_peer_addr *a, char *out, size_t cap);
/* Parses "10.0.0.2" or "fd00::2".  -1 if it is neither. */
int ns_peer_addr_parse(const char *text, struct ns_peer_addr *out);

/* Whether the peer ever completed a sealed handshake (then never clear). */
bool ns_peers_sealed(const struct ns_peers *p, const struct ns_peer_addr *a);
/* A sealed handshake completed with a; now is unix seconds.  Returns true
 * the first time (the caller then ends every clear connection with a, and
 * saves soon), false if a was known sealed. */
bool ns_peers_mark_sealed(struct ns_peers *p, const struct ns_peer_addr *a, int64_t now);
/* A clear connection with a is open (call when it opens, and again at
 * least every NS_PEERS_CLEAR_HOLD_S / 2 while it stays open). */
void ns_peers_saw_clear(struct ns_peers *p, const struct ns_peer_addr *a, int64_t now);
/* Proxy outbound: a was found plain; go clear without trying until
 * until_ms (monotonic). */
void ns_peers_mark_plain(struct ns_peers *p, const struct ns_peer_addr *a, int64_t until_ms);
/* Whether outbound to a goes clear without trying (plain mark not yet out,
 * and a never sealed). */
bool ns_peers_plain(const struct ns_peers *p, const struct ns_peer_addr *a, int64_t now_ms);
/* Forgets a (sealed and clear); 1 if it was known, 0 if not. */
int ns_peers_forget(struct ns_peers *p, const struct ns_peer_addr *a);
/* Forgets everything; returns how many were known. */
size_t ns_peers_forget_all(struct ns_peers *p);
/* Drops clear entries not seen for NS_PEERS_CLEAR_HOLD_S and plain marks
 * run out (now unix seconds, now_ms monotonic). */
void ns_peers_expire(struct ns_peers *p, int64_t now, int64_t now_ms);

/* Walks the peers status lists (sealed ones, and clear ones still held):
 * start with *cursor 0; false at the end. */
bool ns_peers_next(const struct ns_peers *p, size_t *cursor, struct ns_peer_info *out);

#endif
