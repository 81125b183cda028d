/*
 * hash.c: hashes, HMAC and the Noise HKDF (HMAC-based, 2 or 3 outputs).
 *
 * Digests and the HMAC implementation are fetched from the provider once and
 * kept: fetching on every call would dominate the handshake's cost.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto.h"

static char hash_names[][16] = {
	[NS_HASH_SHA256] = "SHA256",
	[NS_HASH_SHA512] = "SHA512",
	[NS_HASH_BLAKE2S] = "BLAKE2S-256",
	[NS_HASH_BLAKE2B] = "BLAKE2B-512",
};

static EVP_MD *hash_md[4];
static EVP_MAC *hash_hmac;
static EVP_MAC_CTX *hmac_templates[4];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

/* An HMAC context with its digest already set, per hash: duplicating it
 * skips the parameter parsing and digest fetch of a fresh one. */
static void hash_init(void)
{
	hash_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	for (int id = 0; id < 4; id++) {
		OSSL_PARAM params[2];

		hash_md[id] = EVP_MD_fetch(NULL, hash_names[id], NULL);
		if (hash_hmac == NULL || hash_md[id] == NULL)
			continue;
		hmac_templates[id] = EVP_MAC_CTX_new(hash_hmac);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, hash_names[id], 0);
		params[1] = OSSL_PARAM_construct_end();
		if (hmac_templates[id] != NULL &&
		    EVP_MAC_CTX_set_params(hmac_templates[id], params) != 1) {
			EVP_MAC_CTX_free(hmac_templates[id]);
			hmac_templates[id] = NULL;
		}
	}
}

/* Fetched once for the process, by whichever thread comes first. */
static const EVP_MD *hash_fetch(enum ns_hash_id id)
{
	if ((unsigned)id >= 4)
		return NULL;
	pthread_once(&hash_once, hash_init);
	return hash_md[id];
}

size_t ns_hash_len(enum ns_hash_id id)
{
	return (id == NS_HASH_SHA256 || id == NS_HASH_BLAKE2S) ? 32 : 64;
}

int ns_hash(enum ns_hash_id id, const uint8_t *a, size_t alen,
            const uint8_t *b, size_t blen, uint8_t *out)
{
	const EVP_MD *md = hash_fetch(id);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (md == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto out;
	if (alen > 0 && EVP_DigestUpdate(ctx, a, alen) != 1)
		goto out;
	if (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1)
		goto out;
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static EVP_MAC_CTX *hmac_template(enum ns_hash_id id)
{
	return hash_fetch(id) == NULL ? NULL : hmac_templates[id];
}

int ns_hmac(enum ns_hash_id id, const uint8_t *key, size_t keylen,
            const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t *out)
{
	EVP_MAC_CTX *tmpl = hmac_template(id), *ctx;
	size_t outlen = 0;
	int rc = -1;

	if (tmpl == NULL || (ctx = EVP_MAC_CTX_dup(tmpl)) == NULL)
		return -1;
	if (EVP_MAC_init(ctx, key, keylen, NULL) != 1)
		goto out;
	if (alen > 0 && EVP_MAC_update(ctx, a, alen) != 1)
		goto out;
	if (blen > 0 && EVP_MAC_update(ctx, b, blen) != 1)
		goto out;
	if (EVP_MAC_final(ctx, out, &outlen, ns_hash_len(id)) != 1 || outlen != ns_hash_len(id))
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

int ns_noise_hkdf(enum ns_hash_id id, const uint8_t *ck, const uint8_t *ikm, size_t ikmlen,
                  int nout, uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	size_t hl = ns_hash_len(id);
	uint8_t temp[NS_HASH_MAXLEN];
	uint8_t idx;
	int rc = -1;

	if (nout < 2 || nout > 3)
		return -1;
	if (ns_hmac(id, ck, hl, ikm, ikmlen, NULL, 0, temp) != 0)
		goto out;
	idx = 1;
	if (ns_hmac(id, temp, hl, &idx, 1, NULL, 0, out1) != 0)
		goto out;
	idx = 2;
	if (ns_hmac(id, temp, hl, out1, hl, &idx, 1, out2) != 0)
		goto out;
	idx = 3;
	if (nout == 3 && ns_hmac(id, temp, hl, out2, hl, &idx, 1, out3) != 0)
		goto out;
	rc = 0;
out:
	ns_wipe(temp, sizeof(temp));
	return rc;
}

/* A keyed HMAC-SHA256 kept for many messages: the key's inner and outer
 * pads are computed once, and each message restarts from them. */
int ns_mac_init(struct ns_mac *m, const uint8_t *key, size_t keylen)
{
	EVP_MAC_CTX *tmpl = hmac_template(NS_HASH_SHA256), *ctx;

	m->ctx = NULL;
	if (tmpl == NULL || (ctx = EVP_MAC_CTX_dup(tmpl)) == NULL)
		return -1;
	if (EVP_MAC_init(ctx, key, keylen, NULL) != 1) {
		EVP_MAC_CTX_free(ctx);
		return -1;
	}
	m->ctx = ctx;
	return 0;
}

int ns_mac_begin(struct ns_mac *m)
{
	/* No key: HMAC restarts with the one already loaded. */
	return m->ctx != NULL && EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 ? 0 : -1;
}

int ns_mac_update(struct ns_mac *m, const uint8_t *p, size_t len)
{
	if (len == 0)
		return 0;
	return EVP_MAC_update(m->ctx, p, len) == 1 ? 0 : -1;
}

int ns_mac_final(struct ns_mac *m, uint8_t out[32])
{
	size_t outlen = 0;

	if (EVP_MAC_final(m->ctx, out, &outlen, 32) != 1 || outlen != 32)
		return -1;
	return 0;
}

void ns_mac_free(struct ns_mac *m)
{
	EVP_MAC_CTX_free(m->ctx); /* cleanses the key and pads */
	m->ctx = NULL;
}
