/*
 * crypto.h: the only door to OpenSSL's libcrypto.
 *
 * Every primitive nodeseal uses (DH, AEAD, hash, HMAC, HKDF, AES-CTR,
 * randomness, wiping, constant-time comparison) is a thin wrapper over libcrypto 3.x here, so the
 * rest of the tree never includes an OpenSSL header and no primitive is
 * written by hand.  Functions return 0 on success and -1 on failure.
 */
#ifndef NS_CRYPTO_H
#define NS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define NS_KEY_LEN 32      /* AEAD key and PSK length (Noise: 32) */
#define NS_TAG_LEN 16      /* AEAD tag length */
#define NS_DH_MAXLEN 56    /* X448; X25519 is 32 */
#define NS_HASH_MAXLEN 64  /* SHA512, BLAKE2b */

enum ns_dh_id { NS_DH_25519, NS_DH_448 };
enum ns_cipher_id { NS_CIPHER_AESGCM, NS_CIPHER_CHACHAPOLY };
enum ns_hash_id { NS_HASH_SHA256, NS_HASH_SHA512, NS_HASH_BLAKE2S, NS_HASH_BLAKE2B };

/* mem.c */
void ns_wipe(void *p, size_t len);
int ns_ct_equal(const void *a, const void *b, size_t len); /* 1 if equal */
int ns_random(void *buf, size_t len);

/* dh.c */
struct ns_dh_keypair {
	enum ns_dh_id id;
	uint8_t priv[NS_DH_MAXLEN];
	uint8_t pub[NS_DH_MAXLEN];
	void *pkey;   /* libcrypto's key object, kept: building it costs a scalar
	               * multiplication (it derives the public key) */
};
size_t ns_dh_len(enum ns_dh_id id);
int ns_dh_generate(enum ns_dh_id id, struct ns_dh_keypair *kp);
int ns_dh_from_private(enum ns_dh_id id, const uint8_t *priv, struct ns_dh_keypair *kp);
int ns_dh(const struct ns_dh_keypair *kp, const uint8_t *peer_pub, uint8_t *out);
/* Frees the key object and wipes the pair. */
void ns_dh_keypair_free(struct ns_dh_keypair *kp);
/* Number of DH operations this process has performed (tests, statistics). */
uint64_t ns_dh_count(void);

/* aead.c: one key, many nonces; the nonce is the Noise 64-bit counter. */
struct ns_aead {
	enum ns_cipher_id id;
	void *ctx;          /* EVP_CIPHER_CTX */
	int keyed_dir;      /* -1: key not loaded, 0: decrypt, 1: encrypt */
	uint8_t key[NS_KEY_LEN];
};
int ns_aead_init(struct ns_aead *a, enum ns_cipher_id id);
void ns_aead_set_key(struct ns_aead *a, const uint8_t key[NS_KEY_LEN]);
/* out receives len + NS_TAG_LEN bytes; in and out may be the same buffer. */
int ns_aead_encrypt(struct ns_aead *a, uint64_t n, const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out);
/* in holds len bytes of ciphertext followed by the tag; out receives len
 * bytes, which are wiped if the tag does not verify. */
int ns_aead_decrypt(struct ns_aead *a, uint64_t n, const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out);
void ns_aead_free(struct ns_aead *a);

/* hash.c */
size_t ns_hash_len(enum ns_hash_id id);
int ns_hash(enum ns_hash_id id, const uint8_t *a, size_t alen,
            const uint8_t *b, size_t blen, uint8_t *out);
int ns_hmac(enum ns_hash_id id, const uint8_t *key, size_t keylen,
            const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t *out);
/* Noise's HKDF (the spec, section 4.3: HMAC chains over the chaining key),
 * not RFC 5869's (ns_hkdf_sha256 below): writes nout (2 or 3) outputs of
 * ns_hash_len(id) bytes each. */
int ns_noise_hkdf(enum ns_hash_id id, const uint8_t *ck, const uint8_t *ikm, size_t ikmlen,
                  int nout, uint8_t *out1, uint8_t *out2, uint8_t *out3);

/* hash.c: HMAC-SHA256 under one key for many messages (packet mode's
 * per-segment MAC).  begin, update..., final; then begin again.  Not for
 * concurrent use: one struct per thread. */
struct ns_mac {
	void *ctx;          /* EVP_MAC_CTX, keyed */
};
int ns_mac_init(struct ns_mac *m, const uint8_t *key, size_t keylen);
int ns_mac_begin(struct ns_mac *m);
int ns_mac_update(struct ns_mac *m, const uint8_t *p, size_t len);
int ns_mac_final(struct ns_mac *m, uint8_t out[32]);
void ns_mac_free(struct ns_mac *m);

/* kdf.c: HKDF-SHA256 of RFC 5869 (extract and expand); outlen <= 8160. */
int ns_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                   const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* stream.c: the AES-256-CTR keystream, addressed by byte offset: byte o is
 * byte o % 16 of AES(k, o / 16), the block index a 128-bit big-endian
 * counter.  ns_ctr_xor XORs len bytes of it, from byte offset, into buf.
 * Not for concurrent use: one struct per thread. */
struct ns_ctr {
	void *ctx;          /* EVP_CIPHER_CTX, keyed */
};
int ns_ctr_init(struct ns_ctr *c, const uint8_t key[NS_KEY_LEN]);
int ns_ctr_xor(struct ns_ctr *c, uint64_t offset, uint8_t *buf, size_t len);
void ns_ctr_free(struct ns_ctr *c);

#endif
