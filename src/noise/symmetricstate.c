/* symmetricstate.c: Noise SymmetricState (spec section 5.2). */
#include <string.h>

#include "noise.h"

int noise_symmetric_init(struct noise_symmetric *ss, const char *protocol_name,
                         enum ns_cipher_id cipher, enum ns_hash_id hash)
{
	size_t len = strlen(protocol_name);

	memset(ss, 0, sizeof(*ss));
	ss->hash = hash;
	ss->hashlen = ns_hash_len(hash);
	if (len <= ss->hashlen) {
		memcpy(ss->h, protocol_name, len); /* zero-padded by the memset */
	} else if (ns_hash(hash, (const uint8_t *)protocol_name, len, NULL, 0, ss->h) != 0) {
		return -1;
	}
	memcpy(ss->ck, ss->h, ss->hashlen);
	return noise_cipher_init(&ss->cs, cipher);
}

int noise_symmetric_mix_key(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[NS_HASH_MAXLEN];
	int rc;

	rc = ns_noise_hkdf(ss->hash, ss->ck, ikm, len, 2, ss->ck, temp_k, NULL);
	if (rc == 0)
		noise_cipher_set_key(&ss->cs, temp_k); /* truncated to 32 bytes */
	ns_wipe(temp_k, sizeof(temp_k));
	return rc;
}

int noise_symmetric_mix_hash(struct noise_symmetric *ss, const uint8_t *data, size_t len)
{
	return ns_hash(ss->hash, ss->h, ss->hashlen, data, len, ss->h);
}

int noise_symmetric_mix_key_and_hash(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_h[NS_HASH_MAXLEN], temp_k[NS_HASH_MAXLEN];
	int rc = -1;

	if (ns_noise_hkdf(ss->hash, ss->ck, ikm, len, 3, ss->ck, temp_h, temp_k) != 0)
		goto out;
	if (noise_symmetric_mix_hash(ss, temp_h, ss->hashlen) != 0)
		goto out;
	noise_cipher_set_key(&ss->cs, temp_k);
	rc = 0;
out:
	ns_wipe(temp_h, sizeof(temp_h));
	ns_wipe(temp_k, sizeof(temp_k));
	return rc;
}

int noise_symmetric_encrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                                     uint8_t *out, size_t *outlen)
{
	if (noise_cipher_encrypt_ad(&ss->cs, ss->h, ss->hashlen, in, len, out, outlen) != 0)
		return -1;
	return noise_symmetric_mix_hash(ss, out, *outlen);
}

int noise_symmetric_decrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
                                     uint8_t *out, size_t *outlen)
{
	uint8_t h_in[NS_HASH_MAXLEN];
	int rc;

	/* h is mixed with the ciphertext, which out may overwrite in place. */
	memcpy(h_in, ss->h, ss->hashlen);
	if (noise_symmetric_mix_hash(ss, in, len) != 0)
		return -1;
	rc = noise_cipher_decrypt_ad(&ss->cs, h_in, ss->hashlen, in, len, out, outlen);
	return rc;
}

int noise_symmetric_split(struct noise_symmetric *ss, struct noise_cipher *c1,
                          struct noise_cipher *c2)
{
	uint8_t k1[NS_HASH_MAXLEN], k2[NS_HASH_MAXLEN];
	int rc = -1;

	if (ns_noise_hkdf(ss->hash, ss->ck, NULL, 0, 2, k1, k2, NULL) != 0)
		goto out;
	if (noise_cipher_init(c1, ss->cs.aead.id) != 0)
		goto out;
	if (noise_cipher_init(c2, ss->cs.aead.id) != 0) {
		noise_cipher_free(c1);
		goto out;
	}
	noise_cipher_set_key(c1, k1);
	noise_cipher_set_key(c2, k2);
	rc = 0;
out:
	ns_wipe(k1, sizeof(k1));
	ns_wipe(k2, sizeof(k2));
	return rc;
}

void noise_symmetric_free(struct noise_symmetric *ss)
{
	noise_cipher_free(&ss->cs);
	ns_wipe(ss->ck, sizeof(ss->ck));
	ns_wipe(ss->h, sizeof(ss->h));
}
