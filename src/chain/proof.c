/*
 * proof.c: the proof record's payload and the signed statement (proof.h).
 *
 * Payload: 1 byte address length, the address (ASCII, base58 alphabet),
 * 2 bytes big-endian signature length, the signature (base64 text).
 * Every length is checked against what is left, and nothing may follow.
 */
#include <stdio.h>
#include <string.h>

#include "proof.h"

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

static int all_of(const char *s, size_t len, const char *set)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

int ns_proof_addr_ok(const char *s)
{
	size_t n = strnlen(s, NS_PROOF_ADDR_MAX + 1);

	return n >= NS_PROOF_ADDR_MIN && n <= NS_PROOF_ADDR_MAX && all_of(s, n, b58);
}

int ns_proof_sig_ok(const char *s)
{
	size_t n = strnlen(s, NS_PROOF_SIG_MAX + 1);

	return n >= 1 && n <= NS_PROOF_SIG_MAX && all_of(s, n, b64);
}

int ns_proof_chain_ok(const char *s)
{
	size_t n = strnlen(s, NS_CHAIN_NAME_MAX + 1);

	if (n < 1 || n > NS_CHAIN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

int ns_proof_encode(const struct ns_proof *p, uint8_t *out, size_t outlen)
{
	size_t al, sl;

	if (!ns_proof_addr_ok(p->addr) || !ns_proof_sig_ok(p->sig))
		return -1;
	al = strlen(p->addr);
	sl = strlen(p->sig);
	if (outlen < 1 + al + 2 + sl)
		return -1;
	out[0] = (uint8_t)al;
	memcpy(out + 1, p->addr, al);
	out[1 + al] = (uint8_t)(sl >> 8);
	out[2 + al] = (uint8_t)sl;
	memcpy(out + 3 + al, p->sig, sl);
	return (int)(3 + al + sl);
}

int ns_proof_parse(const uint8_t *in, size_t len, struct ns_proof *p)
{
	size_t al, sl;

	memset(p, 0, sizeof(*p));
	if (len < 1)
		goto bad;
	al = in[0];
	if (al < NS_PROOF_ADDR_MIN || al > NS_PROOF_ADDR_MAX || len < 1 + al + 2)
		goto bad;
	sl = (size_t)in[1 + al] << 8 | in[2 + al];
	if (sl < 1 || sl > NS_PROOF_SIG_MAX || len != 3 + al + sl)
		goto bad;
	memcpy(p->addr, in + 1, al);
	memcpy(p->sig, in + 3 + al, sl);
	if (!all_of(p->addr, al, b58) || !all_of(p->sig, sl, b64))
		goto bad;
	return 0;
bad:
	memset(p, 0, sizeof(*p));
	return -1;
}

int ns_proof_statement(const char *chain, const uint8_t key[32], char *out, size_t outlen)
{
	char hex[65];
	int n;

	if (!ns_proof_chain_ok(chain))
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	n = snprintf(out, outlen, "nodeseal proof 1 chain=%s key=%s", chain, hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
