/*
 * aead.c: AES-256-GCM and ChaCha20-Poly1305 with Noise's nonce encodings.
 *
 * The key schedule is loaded once per key and direction; each message then
 * only sets its 96-bit nonce, which keeps the per-record cost low.
 */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"

static const EVP_CIPHER *aead_cipher(enum ns_cipher_id id)
{
	return id == NS_CIPHER_AESGCM ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

/* Noise: 32 zero bits then the counter, big-endian for AESGCM and
 * little-endian for ChaChaPoly. */
static void aead_nonce(enum ns_cipher_id id, uint64_t n, uint8_t iv[12])
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(n >> (8 * i));
		if (id == NS_CIPHER_AESGCM)
			iv[11 - i] = b;
		else
			iv[4 + i] = b;
	}
}

int ns_aead_init(struct ns_aead *a, enum ns_cipher_id id)
{
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->keyed_dir = -1;
	a->ctx = EVP_CIPHER_CTX_new();
	return a->ctx == NULL ? -1 : 0;
}

void ns_aead_set_key(struct ns_aead *a, const uint8_t key[NS_KEY_LEN])
{
	if (a->key != key)
		memcpy(a->key, key, NS_KEY_LEN);
	a->keyed_dir = -1;
}

static int aead_start(struct ns_aead *a, int enc, uint64_t n)
{
	uint8_t iv[12];
	const uint8_t *key = NULL;
	const EVP_CIPHER *cipher = NULL;

	if (a->keyed_dir != enc) {
		cipher = aead_cipher(a->id);
		key = a->key;
	}
	aead_nonce(a->id, n, iv);
	if (EVP_CipherInit_ex(a->ctx, cipher, NULL, key, iv, enc) != 1) {
		a->keyed_dir = -1;
		return -1;
	}
	a->keyed_dir = enc;
	return 0;
}

int ns_aead_encrypt(struct ns_aead *a, uint64_t n, const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out)
{
	int outl;

	if (len > INT_MAX / 2 || adlen > INT_MAX / 2 || aead_start(a, 1, n) != 0)
		return -1;
	if (adlen > 0 && EVP_CipherUpdate(a->ctx, NULL, &outl, ad, (int)adlen) != 1)
		return -1;
	if (len > 0 && EVP_CipherUpdate(a->ctx, out, &outl, in, (int)len) != 1)
		return -1;
	if (EVP_CipherFinal_ex(a->ctx, out + len, &outl) != 1)
		return -1;
	return EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, NS_TAG_LEN, out + len) == 1 ? 0 : -1;
}

int ns_aead_decrypt(struct ns_aead *a, uint64_t n, const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t tag[NS_TAG_LEN];
	int outl;

	if (len > INT_MAX / 2 || adlen > INT_MAX / 2 || aead_start(a, 0, n) != 0)
		return -1;
	/* Copy the tag first: in and out may overlap. */
	memcpy(tag, in + len, NS_TAG_LEN);
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, NS_TAG_LEN, tag) != 1)
		goto fail;
	if (adlen > 0 && EVP_CipherUpdate(a->ctx, NULL, &outl, ad, (int)adlen) != 1)
		goto fail;
	if (len > 0 && EVP_CipherUpdate(a->ctx, out, &outl, in, (int)len) != 1)
		goto fail;
	if (EVP_CipherFinal_ex(a->ctx, out + len, &outl) != 1)
		goto fail;
	return 0;
fail:
	/* Never leave unauthenticated plaintext behind. */
	ns_wipe(out, len);
	return -1;
}

void ns_aead_free(struct ns_aead *a)
{
	EVP_CIPHER_CTX_free(a->ctx); /* also cleanses the expanded key */
	ns_wipe(a, sizeof(*a));
	a->keyed_dir = -1;
}
