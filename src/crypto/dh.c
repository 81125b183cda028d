/* dh.c: X25519 and X448 through EVP_PKEY raw keys. */
#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"

static uint64_t dh_count;

static int dh_nid(enum ns_dh_id id)
{
	return id == NS_DH_448 ? EVP_PKEY_X448 : EVP_PKEY_X25519;
}

size_t ns_dh_len(enum ns_dh_id id)
{
	return id == NS_DH_448 ? 56 : 32;
}

uint64_t ns_dh_count(void)
{
	return __atomic_load_n(&dh_count, __ATOMIC_RELAXED);
}

int ns_dh_from_private(enum ns_dh_id id, const uint8_t *priv, struct ns_dh_keypair *kp)
{
	size_t len = ns_dh_len(id), publen = len;
	EVP_PKEY *pk;
	int rc = -1;

	pk = EVP_PKEY_new_raw_private_key(dh_nid(id), NULL, priv, len);
	if (pk == NULL)
		goto out;
	EVP_PKEY_free(kp->pkey);
	kp->pkey = NULL;
	kp->id = id;
	if (EVP_PKEY_get_raw_public_key(pk, kp->pub, &publen) != 1 || publen != len)
		goto out;
	if (kp->priv != priv)
		memcpy(kp->priv, priv, len);
	kp->pkey = pk;
	pk = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc;
}

int ns_dh_generate(enum ns_dh_id id, struct ns_dh_keypair *kp)
{
	uint8_t priv[NS_DH_MAXLEN];
	int rc;

	if (ns_random(priv, ns_dh_len(id)) != 0)
		return -1;
	rc = ns_dh_from_private(id, priv, kp);
	ns_wipe(priv, sizeof(priv));
	return rc;
}

int ns_dh(const struct ns_dh_keypair *kp, const uint8_t *peer_pub, uint8_t *out)
{
	size_t len = ns_dh_len(kp->id), outlen = len;
	EVP_PKEY *mine = NULL, *theirs = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	__atomic_fetch_add(&dh_count, 1, __ATOMIC_RELAXED);
	mine = kp->pkey;
	if (mine == NULL)
		mine = EVP_PKEY_new_raw_private_key(dh_nid(kp->id), NULL, kp->priv, len);
	theirs = EVP_PKEY_new_raw_public_key(dh_nid(kp->id), NULL, peer_pub, len);
	if (mine == NULL || theirs == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new(mine, NULL);
	/* EVP_PKEY_derive fails on an all-zero result (a low-order peer key). */
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, theirs) != 1 ||
	    EVP_PKEY_derive(ctx, out, &outlen) != 1 || outlen != len)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		ns_wipe(out, len);
	EVP_PKEY_CTX_free(ctx);
	if (mine != kp->pkey)
		EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	return rc;
}

void ns_dh_keypair_free(struct ns_dh_keypair *kp)
{
	EVP_PKEY_free(kp->pkey);
	ns_wipe(kp, sizeof(*kp));
}
