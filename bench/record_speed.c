/*
 * record_speed: the record layer alone, in memory: seal and open of records
 * of several sizes, in MB/s of payload and nanoseconds per record, beside a
 * bare EVP AES-256-GCM pass over the same bytes (the ceiling).
 * Build: make bench-tools; run: build/bench/record_speed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "clock.h"
#include "../src/proto/proto.h"
#include "../tests/unit/record_dir.h"

static double bare_gcm(size_t len, size_t total)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	static uint8_t buf[NS_RECORD_MAX_WIRE], key[32], iv[12], tag[16];
	int outl;
	double t0 = now_s();

	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv);
	for (size_t done = 0; done < total; done += len) {
		EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv);
		EVP_EncryptUpdate(ctx, buf, &outl, buf, (int)len);
		EVP_EncryptFinal_ex(ctx, buf + len, &outl);
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
	}
	EVP_CIPHER_CTX_free(ctx);
	return total / (now_s() - t0) / 1e6;
}

int main(void)
{
	static const size_t sizes[] = { 100, 1024, 16384, 65535 };
	static uint8_t wire[NS_RECORD_MAX_WIRE];
	const size_t total = 1u << 30;

	printf("%-8s %12s %12s %12s %12s\n", "record", "seal MB/s", "open MB/s", "ns/record",
	       "bare GCM MB/s");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ns_record_dir tx, rx;
		size_t len = sizes[i], n = total / len, used, plen;
		uint8_t *p, type;
		double t0, ts, to;

		record_dir_keyed(&tx, 7);
		record_dir_keyed(&rx, 7);
		t0 = now_s();
		for (size_t k = 0; k < n; k++)
			ns_record_seal(&tx, NS_RECORD_DATA, wire + NS_RECORD_HDR_LEN, len, wire);
		ts = now_s() - t0;
		/* Open needs a genuine stream: reseal each record before opening it. */
		record_dir_keyed(&tx, 7);
		t0 = now_s();
		for (size_t k = 0; k < n; k++) {
			ns_record_seal(&tx, NS_RECORD_DATA, wire + NS_RECORD_HDR_LEN, len, wire);
			if (ns_record_open(&rx, wire, ns_record_wire_len(len), &used, &p, &plen, &type) != 1)
				return 1;
		}
		to = now_s() - t0 - ts; /* the seals again, subtracted */
		printf("%-8zu %12.0f %12.0f %12.0f %12.0f\n", len, n * len / ts / 1e6,
		       n * len / to / 1e6, (ts + to) / n * 1e9, bare_gcm(len, total));
		noise_cipher_free(&tx.cs);
		noise_cipher_free(&rx.cs);
	}
	return 0;
}
