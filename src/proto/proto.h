/*
 * proto.h: the nodeseal protocol, version 1 (docs/PROTOCOL.md).
 *
 *   handshake.c  Noise_XXpsk0_25519_AESGCM_SHA256, fixed-size messages
 *   replay.c     the responder's cache of first messages already seen
 *   record.c     AEAD records with encrypted lengths, close and rekey
 *   sniff.c      a plain node's first bytes, told from our first message
 *
 * Nothing here does I/O: callers move bytes, these functions only turn
 * them into messages, records and verdicts, so the same code serves every
 * interception mode, the tests and the fuzz targets.
 */
#ifndef NS_PROTO_H
#define NS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../noise/noise.h"

#define NS_PROTOCOL_NAME "Noise_XXpsk0_25519_AESGCM_SHA256"
#define NS_PROLOGUE "nodeseal protocol 1"

#define NS_HS_MSG1_LEN 60 /* e(32) + timestamp(12) + tag(16) */
#define NS_HS_MSG2_LEN 96 /* e(32) + s(32+16) + tag(16) */
#define NS_HS_MSG3_LEN 64 /* s(32+16) + tag(16) */
#define NS_TIMESTAMP_LEN 12

#define NS_RECORD_HDR_LEN (3 + NS_TAG_LEN) /* type, length: sealed */
#define NS_RECORD_MAX 65535                /* payload bytes */
#define NS_RECORD_OVERHEAD (NS_RECORD_HDR_LEN + NS_TAG_LEN)
#define NS_RECORD_MAX_WIRE (NS_RECORD_MAX + NS_RECORD_OVERHEAD)
#define NS_RECORD_DATA 1
#define NS_RECORD_CLOSE 2
#define NS_RECORD_PROOF 3 /* --members chain: the first record of each side */
/* Both ends rekey each direction after this many nonces (two a record). */
#define NS_REKEY_NONCES 65536

#define NS_REPLAY_WINDOW_DEFAULT 60 /* seconds of clock difference accepted */

enum ns_err {
	NS_OK = 0,
	NS_ERR_AUTH = -1,      /* a tag did not verify: wrong key or tampering */
	NS_ERR_STALE = -2,     /* first message's timestamp outside the window */
	NS_ERR_REPLAY = -3,    /* first message seen before */
	NS_ERR_BUSY = -4,      /* replay cache full: refusing new handshakes */
	NS_ERR_PROTO = -5,     /* a field out of range, a message out of turn */
	NS_ERR_TRUNCATED = -6, /* stream ended without a close record */
	NS_ERR_INTERNAL = -7,  /* libcrypto or memory failure */
	NS_ERR_CLONED = -8,    /* the peer's node key is our own */
	NS_ERR_NOT_MEMBER = -9, /* the peer's node key is not in the members list */
};
const char *ns_strerror(int err);

/* The keys one node holds.  During a rotation a node holds two network
 * keys: psk[0], from the one it sends with, starts its handshakes, and a
 * first message under any of them is accepted. */
#define NS_PSK_MAX 2
struct ns_identity {
	uint8_t psk[NS_PSK_MAX][NS_KEY_LEN]; /* derived from the network keys */
	size_t npsk;
	struct ns_dh_keypair node;  /* the node key */
};
/* Derives the handshake PSK from the 32-byte network key. */
int ns_identity_init(struct ns_identity *id, const uint8_t network_key[NS_KEY_LEN],
                     const uint8_t node_priv[32]);
/* Replaces the network keys, at start and on a reload: n (1 to
 * NS_PSK_MAX) of NS_KEY_LEN bytes one after another, the first sent with.
 * Handshakes already begun keep theirs. */
int ns_identity_set_keys(struct ns_identity *id, const uint8_t *network_keys, size_t n);
void ns_identity_wipe(struct ns_identity *id);

/* replay.c */
struct ns_replay_slot;
struct ns_replay {
	struct ns_replay_slot *slots;
	size_t nslots, max_slots, used;
	int64_t window;             /* seconds */
	uint8_t salt[16];
};
int ns_replay_init(struct ns_replay *r, int64_t window, size_t max_entries);
/* Records the first message identified by e (its ephemeral key), sent at
 * ts; now is the responder's clock.  NS_OK, STALE, REPLAY or BUSY. */
int ns_replay_check(struct ns_replay *r, const uint8_t e[32], int64_t ts, int64_t now);
void ns_replay_free(struct ns_replay *r);

/* record.c: one direction of a session. */
struct ns_record_dir {
	struct noise_cipher cs;
	enum { NS_DIR_OPEN, NS_DIR_BODY, NS_DIR_CLOSED, NS_DIR_FAILED } state;
	uint16_t body_len;          /* NS_DIR_BODY: payload length of the header read */
	uint8_t body_type;
};

struct ns_session {
	struct ns_record_dir tx, rx;
	uint8_t peer_key[32];
	uint8_t handshake_hash[32];
};

/* Bytes on the wire for a record of plen payload bytes. */
static inline size_t ns_record_wire_len(size_t plen)
{
	return NS_RECORD_OVERHEAD + plen;
}
/* Seals one record into out (ns_record_wire_len(plen) bytes).  The payload
 * may already sit at out + NS_RECORD_HDR_LEN (sealed in place). */
int ns_record_seal(struct ns_record_dir *tx, uint8_t type, const uint8_t *payload,
                   size_t plen, uint8_t *out);
/*
 * Opens the next record at the start of buf (avail bytes), in place.
 * Returns 1 with payload, plen and type set and *consumed the record's wire
 * length; 0 when more bytes are needed (*consumed is then how many the
 * record needs in all, once known, else NS_RECORD_HDR_LEN); or an ns_err.
 * A header once opened is remembered: call again with the same buf start.
 * After an error every later call fails: nothing past a bad record is
 * ever released.
 */
int ns_record_open(struct ns_record_dir *rx, uint8_t *buf, size_t avail, size_t *consumed,
                   uint8_t **payload, size_t *plen, uint8_t *type);
/* The peer's stream ended (EOF): NS_OK after a close record, else TRUNCATED. */
int ns_record_eof(struct ns_record_dir *rx);
void ns_session_free(struct ns_session *s);

/* sniff.c: the bytes a connection starts with (len of them, peeked).
 * 1: a plain node's version message (magic, "version" NUL-padded);
 * 0: not that (a handshake, or garbage: the handshake refuses it);
 * -1: too few bytes to tell, wait for NS_SNIFF_LEN. */
#define NS_SNIFF_LEN 16
int ns_sniff_plain(const uint8_t *buf, size_t len);

/* handshake.c */
/* Whether the peer's node key may complete the handshake (the members
 * list): asked as soon as the key arrives. */
typedef bool ns_peer_check_fn(void *ctx, const uint8_t key[32]);

struct ns_handshake {
	struct noise_handshake noise;
	/* What a responder needs to read the first message again under its
	 * next PSK: the node key (borrowed), the PSKs (a copy, wiped), and a
	 * pinned ephemeral (test builds). */
	const struct ns_dh_keypair *node;
	uint8_t psk[NS_PSK_MAX][NS_KEY_LEN];
	size_t npsk;
	uint8_t fixed_e[32];
	bool has_fixed_e;
	struct ns_replay *replay;   /* responder only */
	ns_peer_check_fn *check;    /* NULL: every key that authenticates */
	void *check_ctx;
	int64_t now;                /* the clock, passed in by the caller */
	uint32_t now_ns;
};
int ns_handshake_init(struct ns_handshake *h, bool initiator, const struct ns_identity *id,
                      struct ns_replay *replay);
/* Test builds pin the ephemeral key (for recorded transcripts). */
int ns_handshake_fix_ephemeral(struct ns_handshake *h, const uint8_t priv[32]);
/* Refuses (NS_ERR_NOT_MEMBER) a peer whose node key check says no. */
void ns_handshake_set_check(struct ns_handshake *h, ns_peer_check_fn *check, void *ctx);
/* The peer's node key once it has arrived (message 2 or 3), else NULL. */
const uint8_t *ns_handshake_peer_key(const struct ns_handshake *h);
/* Sets the clock used for the timestamp (initiator) or its check. */
void ns_handshake_set_time(struct ns_handshake *h, int64_t sec, uint32_t nsec);
/* How many bytes the next message has, and whether it is ours to write. */
size_t ns_handshake_next_len(const struct ns_handshake *h);
bool ns_handshake_writing(const struct ns_handshake *h);
bool ns_handshake_done(const struct ns_handshake *h);
int ns_handshake_write(struct ns_handshake *h, uint8_t *out, size_t cap, size_t *len);
int ns_handshake_read(struct ns_handshake *h, const uint8_t *msg, size_t len);
/* After done: the session's keys and the peer's node key. */
int ns_handshake_finish(struct ns_handshake *h, struct ns_session *s);
void ns_handshake_free(struct ns_handshake *h);

#endif
