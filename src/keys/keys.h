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
/*
 * The network keys a node holds: one, or two while a rotation runs
 * (docs/SECURITY.md, "Rotating the network key").  key[0] is the one this
 * node sends with; every one of them is accepted.
 */
#define NS_NETKEYS_MAX 2
struct ns_netkeys {
	uint8_t key[NS_NETKEYS_MAX][32];
	size_t n;
};
/* The text of a network key file (or of the inline key): one or two keys,
 * one a line, as 'nodeseal genkey' prints them; blank lines and lines
 * starting with '#' are skipped.  name is the file in errors, which name
 * the line: a line that is not a key, a key given twice, a third key. */
int ns_network_keys_parse(const char *text, size_t len, const char *name, struct ns_netkeys *k,
                          char *err, size_t errlen);
/* The network keys from inline text or from a file: exactly one of them. */
int ns_network_keys_load(const char *inline_b64, const char *path, struct ns_netkeys *k,
                         char *err, size_t errlen);
void ns_network_keys_wipe(struct ns_netkeys *k);
/* 0 if a file of mode mode (st_mode) that holds a secret (what: "network
 * key") is open to its owner only; else -1 with err naming path and the
 * chmod that fixes it.  Key files and config files share this rule. */
int ns_secret_mode_check(const char *path, unsigned mode, const char *what, char *err,
                         size_t errlen);
/* A network key's fingerprint, for status and logs: the first 8 bytes, in
 * hex, of SHA-256("nodeseal network key fingerprint 1" || key).  The label
 * keeps it from being any other hash of the key. */
void ns_network_key_fingerprint(const uint8_t key[32], char out[NS_FINGERPRINT_LEN + 1]);
/* The state directory, created (mkdir -p, itself mode 0700) if missing. */
int ns_state_dir_make(const char *dir, char *err, size_t errlen);
/* The node key in state_dir (made as above), created (mode 0600) when it
 * does not exist. */
int ns_node_key_load_or_create(const char *state_dir, struct ns_dh_keypair *kp, bool *created,
                               char *err, size_t errlen);
/* First 8 bytes of SHA-256(public key), in hex: short enough for logs. */
void ns_fingerprint(const uint8_t pub[32], char out[NS_FINGERPRINT_LEN + 1]);

#endif
