/*
 * pkt_crypto.h: packet mode's keys, payload encryption and segment MAC
 * (docs/PROTOCOL.md, "Packet mode").
 *
 * Packet mode leaves the TCP connection end to end and changes only each
 * segment's payload (encrypted in place, same length) and one TCP option
 * (the MAC).  Everything here is a pure function of keys and bytes: the
 * NFQUEUE plumbing and the per-connection state live above this layer.
 *
 * Directions: NS_PKT_I2R is the traffic of the side that sent the SYN (the
 * initiator), NS_PKT_R2I the other.  A struct ns_pkt_keys is not for
 * concurrent use: one connection is handled by one thread at a time.
 */
#ifndef NS_PKT_CRYPTO_H
#define NS_PKT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "tcpseg.h"

#define NS_PKT_VERSION 1
#define NS_PKT_NONCE_LEN NS_TCPSEG_OPT_VALUE_LEN /* each side's, in its SYN option */
#define NS_PKT_MAC_LEN NS_TCPSEG_OPT_VALUE_LEN /* HMAC-SHA256 truncated: 128 bits */
/* The initiator's nonce ends with the id of the network key it sends
 * with, so that a responder holding two keys (a rotation) knows which. */
#define NS_PKT_KEYID_LEN 2
#define NS_PKT_KEYID_OFF (NS_PKT_NONCE_LEN - NS_PKT_KEYID_LEN) /* in the nonce */
/* Fixed-length part of the MAC input, before the ciphertext. */
#define NS_PKT_MAC_HDR_LEN 28

/* The flags the MAC covers: those that change what the receiver does with
 * the segment.  PSH, ECE and CWR are hints that middleboxes may rewrite. */
#define NS_PKT_MAC_FLAGS (NS_TCP_FIN | NS_TCP_SYN | NS_TCP_RST | NS_TCP_ACK | NS_TCP_URG)

enum ns_pkt_dir { NS_PKT_I2R = 0, NS_PKT_R2I = 1 };

struct ns_pkt_keys {
	struct ns_ctr enc[2];   /* by enum ns_pkt_dir */
	struct ns_mac mac[2];
	int ready;
};

/* The header fields a segment's MAC covers (see ns_pkt_mac). */
struct ns_pkt_hdr {
	uint64_t seq_off;   /* stream offset of the segment's seq (see below) */
	uint64_t ack_off;   /* offset of the ack in the other direction; ACK only */
	uint8_t flags;      /* TCP flags byte; only NS_PKT_MAC_FLAGS count */
	uint16_t window;    /* the raw 16-bit field, unscaled */
	uint16_t urg_ptr;   /* URG only */
};

/*
 * Derives one connection's four keys (encryption and MAC, each direction):
 *   OKM = HKDF-SHA256(salt = "nodeseal packet 1", IKM = network key,
 *                     info = "nodeseal packet 1" || nonce_i || nonce_r, L = 128)
 *   enc I2R = OKM[0:32], mac I2R = OKM[32:64], enc R2I = OKM[64:96],
 *   mac R2I = OKM[96:128].
 * nonce_i is the initiator's (SYN), nonce_r the responder's (SYN-ACK).
 */
int ns_pkt_keys_derive(struct ns_pkt_keys *k, const uint8_t network_key[NS_KEY_LEN],
                       const uint8_t nonce_i[NS_PKT_NONCE_LEN],
                       const uint8_t nonce_r[NS_PKT_NONCE_LEN]);
/* A network key's id: HMAC-SHA256(network key, "nodeseal packet 1 key id")
 * truncated to NS_PKT_KEYID_LEN bytes.  It names a key among the two a
 * node holds; it is no secret, and it authenticates nothing. */
int ns_pkt_key_id(const uint8_t network_key[NS_KEY_LEN], uint8_t id[NS_PKT_KEYID_LEN]);
/* Frees the contexts; libcrypto cleanses the key schedules.  Idempotent. */
void ns_pkt_keys_free(struct ns_pkt_keys *k);

/* XORs the direction's keystream from byte offset into buf: encrypts and
 * decrypts.  Any split of a stream gives the same bytes. */
int ns_pkt_xor_stream(struct ns_pkt_keys *k, enum ns_pkt_dir dir, uint64_t offset,
                      uint8_t *buf, size_t len);

/* The MAC of one segment: HMAC-SHA256(mac key of dir, H || ciphertext)
 * truncated to NS_PKT_MAC_LEN bytes, where H is NS_PKT_MAC_HDR_LEN bytes:
 *   version(1) dir(1) flags & NS_PKT_MAC_FLAGS (1) zero(1)
 *   seq_off(8) ack_off(8, 0 without ACK) window(2) urg_ptr(2, 0 without URG)
 *   len(4), all big-endian.  len <= 65535. */
int ns_pkt_mac(struct ns_pkt_keys *k, enum ns_pkt_dir dir, const struct ns_pkt_hdr *h,
               const uint8_t *ct, size_t len, uint8_t mac[NS_PKT_MAC_LEN]);
/* 1 if mac is the segment's MAC (compared in constant time), 0 if not, -1
 * on an internal failure. */
int ns_pkt_verify(struct ns_pkt_keys *k, enum ns_pkt_dir dir, const struct ns_pkt_hdr *h,
                  const uint8_t *ct, size_t len, const uint8_t mac[NS_PKT_MAC_LEN]);

/*
 * Stream offsets.  A segment's 32-bit offset is seq - (ISN + 1) for its
 * direction (the first payload byte is offset 0); an ack's is
 * ack - (peer's ISN + 1).  Both are relative to the ISN each end saw in
 * the SYNs, so a middlebox that shifts sequence numbers changes nothing.
 * ns_pkt_offset_extend returns the 64-bit offset congruent to off32 mod
 * 2^32 nearest to near (the highest offset seen so far in that direction);
 * never below 0.
 */
uint64_t ns_pkt_offset_extend(uint64_t near, uint32_t off32);

#endif
