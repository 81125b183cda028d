/*
 * pkt_crypto.c: packet mode's key schedule, length-preserving payload
 * encryption (AES-256-CTR at the stream offset) and per-segment MAC
 * (truncated HMAC-SHA256).
 *
 * The MAC is a PRF over the segment's offsets, covered header fields and
 * ciphertext.  A one-time-key MAC (Poly1305 or GMAC keyed by the offset)
 * would be broken here: a retransmission has the same offset as the
 * original but may carry another window, ack or length, and two messages
 * under one Poly1305 key give the key away.  HMAC has no such limit.
 */
#include <string.h>

#include "pkt_crypto.h"

#define PKT_LABEL "nodeseal packet 1"
#define PKT_LABEL_LEN (sizeof(PKT_LABEL) - 1)
#define PKT_OKM_LEN (4 * NS_KEY_LEN)

int ns_pkt_keys_derive(struct ns_pkt_keys *k, const uint8_t network_key[NS_KEY_LEN],
                       const uint8_t nonce_i[NS_PKT_NONCE_LEN],
                       const uint8_t nonce_r[NS_PKT_NONCE_LEN])
{
	uint8_t info[PKT_LABEL_LEN + 2 * NS_PKT_NONCE_LEN], okm[PKT_OKM_LEN];
	int rc = -1;

	memset(k, 0, sizeof(*k));
	memcpy(info, PKT_LABEL, PKT_LABEL_LEN);
	memcpy(info + PKT_LABEL_LEN, nonce_i, NS_PKT_NONCE_LEN);
	memcpy(info + PKT_LABEL_LEN + NS_PKT_NONCE_LEN, nonce_r, NS_PKT_NONCE_LEN);
	if (ns_hkdf_sha256((const uint8_t *)PKT_LABEL, PKT_LABEL_LEN, network_key, NS_KEY_LEN,
	                   info, sizeof(info), okm, sizeof(okm)) != 0)
		goto out;
	for (int d = 0; d < 2; d++) {
		const uint8_t *base = okm + 2 * NS_KEY_LEN * d;

		if (ns_ctr_init(&k->enc[d], base) != 0 ||
		    ns_mac_init(&k->mac[d], base + NS_KEY_LEN, NS_KEY_LEN) != 0)
			goto out;
	}
	k->ready = 1;
	rc = 0;
out:
	ns_wipe(okm, sizeof(okm));
	if (rc != 0)
		ns_pkt_keys_free(k);
	return rc;
}

int ns_pkt_key_id(const uint8_t network_key[NS_KEY_LEN], uint8_t id[NS_PKT_KEYID_LEN])
{
	static const char label[] = PKT_LABEL " key id";
	uint8_t full[32];
	int rc;

	rc = ns_hmac(NS_HASH_SHA256, network_key, NS_KEY_LEN, (const uint8_t *)label,
	             sizeof(label) - 1, NULL, 0, full);
	memcpy(id, full, NS_PKT_KEYID_LEN);
	ns_wipe(full, sizeof(full));
	return rc;
}

void ns_pkt_keys_free(struct ns_pkt_keys *k)
{
	for (int d = 0; d < 2; d++) {
		ns_ctr_free(&k->enc[d]);
		ns_mac_free(&k->mac[d]);
	}
	k->ready = 0;
}

static int dir_ok(const struct ns_pkt_keys *k, enum ns_pkt_dir dir)
{
	return k->ready && (dir == NS_PKT_I2R || dir == NS_PKT_R2I);
}

int ns_pkt_xor_stream(struct ns_pkt_keys *k, enum ns_pkt_dir dir, uint64_t offset,
                      uint8_t *buf, size_t len)
{
	if (!dir_ok(k, dir))
		return -1;
	return ns_ctr_xor(&k->enc[dir], offset, buf, len);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int ns_pkt_mac(struct ns_pkt_keys *k, enum ns_pkt_dir dir, const struct ns_pkt_hdr *h,
               const uint8_t *ct, size_t len, uint8_t mac[NS_PKT_MAC_LEN])
{
	uint8_t hdr[NS_PKT_MAC_HDR_LEN], full[32];
	struct ns_mac *m;
	int rc = -1;

	/* An IP packet cannot carry more; the bound also keeps len in 4 bytes. */
	if (!dir_ok(k, dir) || len > 65535)
		return -1;
	m = &k->mac[dir];
	hdr[0] = NS_PKT_VERSION;
	hdr[1] = (uint8_t)dir;
	hdr[2] = h->flags & NS_PKT_MAC_FLAGS;
	hdr[3] = 0;
	put_be(hdr + 4, h->seq_off, 8);
	put_be(hdr + 12, (h->flags & NS_TCP_ACK) ? h->ack_off : 0, 8);
	put_be(hdr + 20, h->window, 2);
	put_be(hdr + 22, (h->flags & NS_TCP_URG) ? h->urg_ptr : 0, 2);
	put_be(hdr + 24, len, 4);
	if (ns_mac_begin(m) != 0 || ns_mac_update(m, hdr, sizeof(hdr)) != 0 ||
	    ns_mac_update(m, ct, len) != 0 || ns_mac_final(m, full) != 0)
		goto out;
	memcpy(mac, full, NS_PKT_MAC_LEN);
	rc = 0;
out:
	ns_wipe(full, sizeof(full));
	return rc;
}

int ns_pkt_verify(struct ns_pkt_keys *k, enum ns_pkt_dir dir, const struct ns_pkt_hdr *h,
                  const uint8_t *ct, size_t len, const uint8_t mac[NS_PKT_MAC_LEN])
{
	uint8_t want[NS_PKT_MAC_LEN];
	int rc;

	if (ns_pkt_mac(k, dir, h, ct, len, want) != 0)
		return -1;
	rc = ns_ct_equal(want, mac, NS_PKT_MAC_LEN) ? 1 : 0;
	ns_wipe(want, sizeof(want));
	return rc;
}

uint64_t ns_pkt_offset_extend(uint64_t near, uint32_t off32)
{
	/* The signed 32-bit distance from near, as TCP compares sequence
	 * numbers (RFC 9293), applied to the 64-bit value. */
	int64_t diff = (int32_t)(off32 - (uint32_t)near);

	if (diff < 0 && near < (uint64_t)-diff)
		return off32; /* would be negative: the stream starts at 0 */
	return near + (uint64_t)diff;
}
