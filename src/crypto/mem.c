/* mem.c: wiping, constant-time comparison and randomness, from libcrypto. */
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "crypto.h"

void ns_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

int ns_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int ns_random(void *buf, size_t len)
{
	/* RAND_priv_bytes: a DRBG instance reserved for secret values. */
	if (len > INT32_MAX || RAND_priv_bytes(buf, (int)len) != 1)
		return -1;
	return 0;
}
