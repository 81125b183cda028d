/*
 * kdf.c: HKDF-SHA256 as RFC 5869 defines it (extract, then expand).
 *
 * This is the standard HKDF, unlike the Noise HKDF of hash.c, which has
 * fixed outputs and no info.  Packet mode derives its per-connection keys
 * with it.  The KDF is fetched from the provider once.
 */
#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "crypto.h"

static EVP_KDF *kdf_hkdf;
static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;

static void kdf_fetch(void)
{
	kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

int ns_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                   const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
	static char digest[] = "SHA256";
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	pthread_once(&kdf_once, kdf_fetch);
	/* RFC 5869: at most 255 blocks of output. */
	if (kdf_hkdf == NULL || outlen == 0 || outlen > 255 * 32 || ikmlen == 0)
		return -1;
	if ((ctx = EVP_KDF_CTX_new(kdf_hkdf)) == NULL)
		return -1;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	/* The casts drop const only for the parameter array: libcrypto copies
	 * these buffers and does not write to them. */
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm, ikmlen);
	if (saltlen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		                                         (void *)(uintptr_t)salt, saltlen);
	if (infolen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		                                         (void *)(uintptr_t)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1)
		goto out;
	rc = 0;
out:
	EVP_KDF_CTX_free(ctx); /* cleanses the key material it copied */
	if (rc != 0)
		ns_wipe(out, outlen);
	return rc;
}
