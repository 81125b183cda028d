/*
 * test_records: the record layer's edges.
 * - rekey happens where the protocol says, changes the key to exactly
 *   Noise's REKEY(k) (computed here straight from EVP), and both ends stay
 *   in step across it;
 * - a CipherState refuses to work at nonce 2^64-1;
 * - sizes: 1 and 65535 bytes pass, 0-byte DATA and 65536 bytes are refused;
 * - a sealed length is never in clear.
 */
#include <string.h>

#include <openssl/evp.h>

#include "../../src/proto/proto.h"
#include "record_dir.h"
#include "tap.h"

/* REKEY(k) = ENCRYPT(k, 2^64-1, "", 32 zero bytes)[0:32], AESGCM nonce. */
static void expected_rekey(const uint8_t k[32], uint8_t out[32])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[12] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t zeros[32] = { 0 };
	int outl;

	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k, iv);
	EVP_EncryptUpdate(ctx, out, &outl, zeros, 32);
	EVP_CIPHER_CTX_free(ctx);
}

static void test_rekey(void)
{
	struct ns_record_dir tx, rx;
	static uint8_t wire[NS_RECORD_MAX_WIRE];
	uint8_t k0[32], want[32], payload[10] = "0123456789", *p, type;
	size_t used, plen;
	int bad = 0, records = NS_REKEY_NONCES / 2;

	record_dir_keyed(&tx, 1);
	record_dir_keyed(&rx, 1);
	memcpy(k0, tx.cs.aead.key, 32);
	expected_rekey(k0, want);
	for (int i = 0; i < records + 3; i++) {
		if (i == records) {
			ok(memcmp(tx.cs.aead.key, k0, 32) == 0, "no rekey before nonce %d",
			   NS_REKEY_NONCES);
		}
		if (ns_record_seal(&tx, NS_RECORD_DATA, payload, sizeof(payload), wire) != NS_OK ||
		    ns_record_open(&rx, wire, ns_record_wire_len(10), &used, &p, &plen, &type) != 1 ||
		    plen != 10 || memcmp(p, payload, 10) != 0)
			bad++;
		if (i == records) {
			ok(memcmp(tx.cs.aead.key, want, 32) == 0 && memcmp(rx.cs.aead.key, want, 32) == 0,
			   "both ends rekeyed to REKEY(k) at nonce %d", NS_REKEY_NONCES);
		}
	}
	ok(bad == 0, "%d records across the rekey all open", records + 3);
	noise_cipher_free(&tx.cs);
	noise_cipher_free(&rx.cs);
}

static void test_nonce_exhaustion(void)
{
	struct noise_cipher cs;
	uint8_t in[4] = { 1, 2, 3, 4 }, out[4 + NS_TAG_LEN];
	size_t len;
	uint8_t key[32] = { 9 };

	noise_cipher_init(&cs, NS_CIPHER_AESGCM);
	noise_cipher_set_key(&cs, key);
	cs.n = UINT64_MAX - 1;
	ok(noise_cipher_encrypt_ad(&cs, NULL, 0, in, 4, out, &len) == 0, "nonce 2^64-2 is usable");
	ok(noise_cipher_encrypt_ad(&cs, NULL, 0, in, 4, out, &len) != 0,
	   "nonce 2^64-1 is refused (reserved for rekey)");
	ok(noise_cipher_decrypt_ad(&cs, NULL, 0, out, sizeof(out), in, &len) != 0,
	   "decryption refused there too");
	noise_cipher_free(&cs);
}

static void test_sizes(void)
{
	struct ns_record_dir tx, rx;
	static uint8_t wire[NS_RECORD_MAX_WIRE + 64], data[NS_RECORD_MAX + 1];
	uint8_t *p, type;
	size_t used, plen;

	record_dir_keyed(&tx, 2);
	record_dir_keyed(&rx, 2);
	memset(data, 'A', sizeof(data));
	ok(ns_record_seal(&tx, NS_RECORD_DATA, data, 1, wire) == NS_OK &&
	   ns_record_open(&rx, wire, ns_record_wire_len(1), &used, &p, &plen, &type) == 1 &&
	   plen == 1 && used == NS_RECORD_OVERHEAD + 1, "1-byte record, %d bytes on the wire",
	   NS_RECORD_OVERHEAD + 1);
	ok(ns_record_seal(&tx, NS_RECORD_DATA, data, NS_RECORD_MAX, wire) == NS_OK &&
	   ns_record_open(&rx, wire, ns_record_wire_len(NS_RECORD_MAX), &used, &p, &plen, &type) ==
	   1 && plen == NS_RECORD_MAX, "65535-byte record");
	ok(memcmp(wire + 1, "\xff\xff", 2) != 0, "its length (ff ff) does not stand in clear");
	{
		struct ns_record_dir t2;
		record_dir_keyed(&t2, 3);
		ok(ns_record_seal(&t2, NS_RECORD_DATA, data, NS_RECORD_MAX + 1, wire) == NS_ERR_PROTO,
		   "65536 bytes refused");
		noise_cipher_free(&t2.cs);
		record_dir_keyed(&t2, 3);
		ok(ns_record_seal(&t2, NS_RECORD_DATA, data, 0, wire) == NS_ERR_PROTO,
		   "empty DATA refused");
		noise_cipher_free(&t2.cs);
	}
	/* CLOSE, then nothing more may be sealed or accepted. */
	ok(ns_record_seal(&tx, NS_RECORD_CLOSE, NULL, 0, wire) == NS_OK &&
	   ns_record_open(&rx, wire, ns_record_wire_len(0), &used, &p, &plen, &type) == 1 &&
	   type == NS_RECORD_CLOSE && ns_record_eof(&rx) == NS_OK, "close record ends the stream");
	ok(ns_record_seal(&tx, NS_RECORD_DATA, data, 5, wire) != NS_OK, "nothing sealed after close");
	noise_cipher_free(&tx.cs);
	noise_cipher_free(&rx.cs);
}

int main(void)
{
	test_rekey();
	test_nonce_exhaustion();
	test_sizes();
	return tap_done();
}
