/* cipherstate.c: Noise CipherState (spec section 5.1). */
#include <string.h>

#include "noise.h"

/* 2^64-1 is reserved for rekey: a state that reaches it refuses to work. */
#define NONCE_EXHAUSTED UINT64_MAX

int noise_cipher_init(struct noise_cipher *cs, enum ns_cipher_id id)
{
	cs->n = 0;
	cs->has_key = false;
	return ns_aead_init(&cs->aead, id);
}

void noise_cipher_set_key(struct noise_cipher *cs, const uint8_t key[NS_KEY_LEN])
{
	ns_aead_set_key(&cs->aead, key);
	cs->has_key = true;
	cs->n = 0;
}

int noise_cipher_encrypt_ad(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
                            const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	if (!cs->has_key) {
		memmove(out, in, len);
		*outlen = len;
		return 0;
	}
	if (cs->n == NONCE_EXHAUSTED)
		return -1;
	if (ns_aead_encrypt(&cs->aead, cs->n, ad, adlen, in, len, out) != 0)
		return -1;
	cs->n++;
	*outlen = len + NS_TAG_LEN;
	return 0;
}

int noise_cipher_decrypt_ad(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
                            const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	if (!cs->has_key) {
		memmove(out, in, len);
		*outlen = len;
		return 0;
	}
	if (cs->n == NONCE_EXHAUSTED || len < NS_TAG_LEN)
		return -1;
	if (ns_aead_decrypt(&cs->aead, cs->n, ad, adlen, in, len - NS_TAG_LEN, out) != 0)
		return -1;
	cs->n++;
	*outlen = len - NS_TAG_LEN;
	return 0;
}

int noise_cipher_rekey(struct noise_cipher *cs)
{
	uint8_t zeros[NS_KEY_LEN] = { 0 };
	uint8_t out[NS_KEY_LEN + NS_TAG_LEN];
	int rc = -1;

	if (!cs->has_key)
		return -1;
	/* REKEY(k) = ENCRYPT(k, maxnonce, zerolen, zeros)[0:32] */
	if (ns_aead_encrypt(&cs->aead, NONCE_EXHAUSTED, NULL, 0, zeros, sizeof(zeros), out) != 0)
		goto out;
	ns_aead_set_key(&cs->aead, out);
	rc = 0;
out:
	ns_wipe(out, sizeof(out));
	return rc;
}

void noise_cipher_free(struct noise_cipher *cs)
{
	ns_aead_free(&cs->aead);
	cs->n = 0;
	cs->has_key = false;
}
