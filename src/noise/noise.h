/*
 * noise.h: the Noise Protocol Framework, revision 34, as its specification
 * names the objects: CipherState, SymmetricState and HandshakeState.
 *
 * Patterns are token lists parsed from the protocol name, so every
 * fundamental, one-way and deferred pattern works with any set of pskN
 * modifiers.  DH: 25519, 448.  Ciphers: AESGCM, ChaChaPoly.  Hashes: SHA256,
 * SHA512, BLAKE2s, BLAKE2b.  All state lives in the structs (no allocation
 * besides libcrypto's contexts); *_free wipes it.
 */
#ifndef NS_NOISE_H
#define NS_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

#define NOISE_MAX_MSG_LEN 65535
#define NOISE_MAX_MESSAGES 8
#define NOISE_MAX_TOKENS 8
#define NOISE_MAX_PSKS 5

/* CipherState */
struct noise_cipher {
	struct ns_aead aead;
	uint64_t n;
	bool has_key;
};

int noise_cipher_init(struct noise_cipher *cs, enum ns_cipher_id id);
void noise_cipher_set_key(struct noise_cipher *cs, const uint8_t key[NS_KEY_LEN]);
/* out needs len + NS_TAG_LEN bytes (len without a key); *outlen is set. */
int noise_cipher_encrypt_ad(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
                            const uint8_t *in, size_t len, uint8_t *out, size_t *outlen);
int noise_cipher_decrypt_ad(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
                            const uint8_t *in, size_t len, uint8_t *out, size_t *outlen);
int noise_cipher_rekey(struct noise_cipher *cs);
void noise_cipher_free(struct noise_cipher *cs);

/* SymmetricState */
struct noise_symmetric {
	struct noise_cipher cs;
	enum ns_hash_id hash;
	size_t hashlen;
	uint8_t ck[NS_HASH_MAXLEN];
	uint8_t h[NS_HASH_MAXLEN];
};

int noise_symmetric_init(struct noise_symmetric *ss, const char *protocol_name,
                         enum ns_cipher_id cipher, enum ns_hash_id hash);
int noise_symmetric_mix_key(struct noise_symmetric *ss, const uint8_t *ikm, size_t len);
int noise_symmetric_mix_hash(struct noise_symmetric *ss, const uint8_t *data, size_t len);
int noise_symmetric_mix_key_and_hash(struct noise_symmetric *ss, const uint8_t *ikm, size_t len);
int noise_symmetric_encrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                                     uint8_t *out, size_t *outlen);
int noise_symmetric_decrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                                     uint8_t *out, size_t *outlen);
int noise_symmetric_split(struct noise_symmetric *ss, struct noise_cipher *c1,
                          struct noise_cipher *c2);
void noise_symmetric_free(struct noise_symmetric *ss);

/* Protocol names and handshake patterns (pattern.c) */
enum noise_token { NOISE_TOK_E, NOISE_TOK_S, NOISE_TOK_EE, NOISE_TOK_ES, NOISE_TOK_SE,
                   NOISE_TOK_SS, NOISE_TOK_PSK };

struct noise_protocol {
	char name[64];
	enum ns_dh_id dh;
	enum ns_cipher_id cipher;
	enum ns_hash_id hash;
	bool pre_initiator_s, pre_responder_s; /* pre-messages ("-> s", "<- s") */
	bool one_way;
	int nmessages;
	uint8_t ntokens[NOISE_MAX_MESSAGES];
	uint8_t tokens[NOISE_MAX_MESSAGES][NOISE_MAX_TOKENS];
	int npsks;
};

/* 0 and *p filled if the name is a supported protocol, -1 otherwise. */
int noise_protocol_parse(const char *name, struct noise_protocol *p);

/* HandshakeState */
enum noise_hs_state { NOISE_HS_NEW, NOISE_HS_RUNNING, NOISE_HS_DONE, NOISE_HS_FAILED };

struct noise_handshake {
	struct noise_protocol proto;
	struct noise_symmetric ss;
	enum noise_hs_state state;
	bool initiator;
	bool psk_mode;
	int msg;                        /* index of the next message */
	bool has_s, has_e, has_rs, has_re, fixed_e;
	bool s_borrowed;                /* s (and its key object) belongs to the caller */
	struct ns_dh_keypair s, e;
	uint8_t rs[NS_DH_MAXLEN], re[NS_DH_MAXLEN];
	uint8_t psk[NOISE_MAX_PSKS][NS_KEY_LEN];
	int npsk_set, npsk_used;
};

int noise_handshake_init(struct noise_handshake *hs, const char *protocol_name, bool initiator);
/* Setters, all before noise_handshake_start(). */
int noise_handshake_set_local_static(struct noise_handshake *hs, const uint8_t *priv);
/* The same with the public half already known: no scalar multiplication. */
int noise_handshake_set_local_keypair(struct noise_handshake *hs, const struct ns_dh_keypair *kp);
int noise_handshake_set_remote_static(struct noise_handshake *hs, const uint8_t *pub);
int noise_handshake_set_fixed_ephemeral(struct noise_handshake *hs, const uint8_t *priv);
int noise_handshake_add_psk(struct noise_handshake *hs, const uint8_t psk[NS_KEY_LEN]);
int noise_handshake_start(struct noise_handshake *hs, const uint8_t *prologue, size_t len);

/* True when the next message is ours to write. */
bool noise_handshake_my_turn(const struct noise_handshake *hs);
/* Writes the next message: *outlen set; out needs up to NOISE_MAX_MSG_LEN. */
int noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload, size_t plen,
                          uint8_t *out, size_t outcap, size_t *outlen);
/* Reads the next message; the payload goes to out (cap outcap). */
int noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg, size_t len,
                         uint8_t *out, size_t outcap, size_t *outlen);
/* Size of the next message, given its payload length. */
size_t noise_handshake_message_len(const struct noise_handshake *hs, size_t plen);
/* After DONE: send and receive CipherStates for this side (Split). */
int noise_handshake_split(struct noise_handshake *hs, struct noise_cipher *send,
                          struct noise_cipher *recv);
const uint8_t *noise_handshake_hash(const struct noise_handshake *hs, size_t *len);
const uint8_t *noise_handshake_remote_static(const struct noise_handshake *hs);
void noise_handshake_free(struct noise_handshake *hs);

#endif
