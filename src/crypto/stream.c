/*
 * stream.c: AES-256-CTR as a keystream addressed by absolute byte offset.
 *
 * Packet mode encrypts each TCP segment where it sits in the stream, so a
 * retransmitted or re-segmented byte must get the same keystream byte
 * whatever segment carries it.  Byte o of the stream is byte o % 16 of
 * AES(k, o / 16) with the block index as a 128-bit big-endian counter.  The
 * key schedule is expanded once; each call only loads a new counter.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"

static EVP_CIPHER *ctr_cipher;
static pthread_once_t ctr_once = PTHREAD_ONCE_INIT;

static void ctr_fetch(void)
{
	ctr_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
}

int ns_ctr_init(struct ns_ctr *c, const uint8_t key[NS_KEY_LEN])
{
	static const uint8_t zero_iv[16];
	EVP_CIPHER_CTX *ctx;

	c->ctx = NULL;
	pthread_once(&ctr_once, ctr_fetch);
	if (ctr_cipher == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_EncryptInit_ex2(ctx, ctr_cipher, key, zero_iv, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return -1;
	}
	c->ctx = ctx;
	return 0;
}

int ns_ctr_xor(struct ns_ctr *c, uint64_t offset, uint8_t *buf, size_t len)
{
	uint8_t iv[16] = { 0 }, skip[16] = { 0 };
	uint64_t block = offset >> 4;
	int outl, rc = -1;

	/* The last byte's offset must fit: the stream ends at 2^64 - 1. */
	if (c->ctx == NULL || (len > 0 && len - 1 > UINT64_MAX - offset))
		return -1;
	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(block >> (8 * i));
	/* A new IV with no key keeps the expanded key and resets the position
	 * within the block. */
	if (EVP_EncryptInit_ex2(c->ctx, NULL, NULL, iv, NULL) != 1)
		goto out;
	/* Discard the keystream before the offset inside the first block. */
	if ((offset & 15) != 0 &&
	    EVP_EncryptUpdate(c->ctx, skip, &outl, skip, (int)(offset & 15)) != 1)
		goto out;
	while (len > 0) {
		int n = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;

		if (EVP_EncryptUpdate(c->ctx, buf, &outl, buf, n) != 1 || outl != n)
			goto out;
		buf += n;
		len -= (size_t)n;
	}
	rc = 0;
out:
	ns_wipe(skip, sizeof(skip));
	return rc;
}

void ns_ctr_free(struct ns_ctr *c)
{
	EVP_CIPHER_CTX_free(c->ctx); /* also cleanses the expanded key */
	c->ctx = NULL;
}
