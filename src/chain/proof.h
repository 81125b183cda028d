/*
 * proof.h: the membership proof of --members chain, and the statement it
 * signs (docs/PROTOCOL.md, "Membership from the chain").
 *
 * Under --members chain the first record each side sends after the
 * handshake is a proof record (NS_RECORD_PROOF): the address this node
 * proves in MultiChain's own handshake, and that address's signature over
 * a statement naming the chain and this node's nodeseal static key.  The
 * verifier builds the statement itself, from its own chain's name and the
 * peer key the handshake proved, so a proof is worth nothing for another
 * key or another chain.  Pure: no I/O.
 */
#ifndef NS_CHAIN_PROOF_H
#define NS_CHAIN_PROOF_H

#include <stddef.h>
#include <stdint.h>

#define NS_PROOF_ADDR_MIN 25
#define NS_PROOF_ADDR_MAX 64
#define NS_PROOF_SIG_MAX 256
#define NS_PROOF_MAX (1 + NS_PROOF_ADDR_MAX + 2 + NS_PROOF_SIG_MAX)
#define NS_CHAIN_NAME_MAX 64
/* "nodeseal proof 1 chain=NAME key=HEX64" */
#define NS_PROOF_STATEMENT_MAX (32 + NS_CHAIN_NAME_MAX + 64)

struct ns_proof {
	char addr[NS_PROOF_ADDR_MAX + 1];
	char sig[NS_PROOF_SIG_MAX + 1];
};

/* Whether s (NUL-terminated) is an address as a proof carries it: base58
 * characters only, 25..64 of them. */
int ns_proof_addr_ok(const char *s);
/* Whether s is a signature as a proof carries it: base64 text, 1..256. */
int ns_proof_sig_ok(const char *s);
/* Whether s is a chain name a statement can carry: 1..64 printable ASCII
 * characters, no space. */
int ns_proof_chain_ok(const char *s);
/* The payload of p into out (NS_PROOF_MAX bytes); its length, or -1 if p
 * does not hold an address and a signature as above. */
int ns_proof_encode(const struct ns_proof *p, uint8_t *out, size_t outlen);
/* Parses a proof record's payload; 0, or -1 for anything malformed (p is
 * then zeroed). */
int ns_proof_parse(const uint8_t *in, size_t len, struct ns_proof *p);
/* The statement an address signs for chain and key; 0, or -1 if the chain
 * name is not one a statement carries. */
int ns_proof_statement(const char *chain, const uint8_t key[32], char *out, size_t outlen);

#endif
