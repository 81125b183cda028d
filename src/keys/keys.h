/*
 * keys.h: the network key and the node key, in text and on disk.
 *
 * Both are 32 bytes, written as 44 characters of standard base64.  The
 * decoder runs in constant time (no branch or table lookup on key bytes)
 * and accepts only the canonical encoding.  Errors are written to err as
 * one sentence naming the file and what is wrong with it.
 */
#ifndef NS_KEYS_H
#define NS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

#define NS_KEY_B64_LEN 44
#define NS_FINGERPRINT_LEN 16
#define NS_NODE_KEY_FILE "node.key"

/* base64.c */
void ns_key_encode(const uint8_t key[32], char out[NS_KEY_B64_LEN + 1]);
/* Decodes text (trailing whitespace allowed); NULL on success, else why. */
const char *ns_key_decode(const char *text, size_t len, uint8_t key[32]);

/* keys.c */
/* The network key from inline text or from a file: exactly one of them. */
int ns_network_key_load(const char *inline_b64, const char *path, uint8_t key[32],
                        char *err, size_t errlen);
/* The state directory, created (mkdir -p, itself mode 0700) if missing. */
int ns_state_dir_make(const char *dir, char *err, size_t errlen);
/* The node key in state_dir (made as above), created (mode 0600) when it
 * does not exist. */
int ns_node_key_load_or_create(const char *state_dir, struct ns_dh_keypair *kp, bool *created,
                               char *err, size_t errlen);
/* First 8 bytes of SHA-256(public key), in hex: short enough for logs. */
void ns_fingerprint(const uint8_t pub[32], char out[NS_FINGERPRINT_LEN + 1]);

#endif
