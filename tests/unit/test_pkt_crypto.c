/*
 * test_pkt_crypto: packet mode's key schedule, keystream and segment MAC.
 * - HKDF-SHA256 gives RFC 5869's test case 1; the connection keys equal an
 *   HKDF computed here from one-shot HMACs and, independently, by the
 *   `openssl kdf` command;
 * - the keystream at any offset is the same as one AES-256-CTR encryption
 *   of the whole stream, for random splits, around 2^32, 2^36 and near
 *   2^64; single bytes match AES-ECB of the block index (the definition);
 * - the MAC equals a one-shot HMAC over the documented encoding; it changes
 *   with every covered field and every ciphertext bit, and not with the
 *   fields left out; a tag with any bit flipped is refused;
 * - 64-bit offset extension around the 2^32 wrap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../src/packet/pkt_crypto.h"
#include "tap.h"

#define LABEL "nodeseal packet 1"

static const uint8_t netkey[32] = {
	0x6e, 0x6f, 0x64, 0x65, 0x73, 0x65, 0x61, 0x6c, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
};
static uint8_t nonce_i[16], nonce_r[16];

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	/* splitmix64: reproducible, so a failure can be replayed. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* RFC 5869 from one-shot HMACs: no EVP_KDF involved. */
static void ref_hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                     const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
	uint8_t prk[32], t[32] = { 0 }, in[32 + 256 + 1];
	unsigned int len;
	size_t tlen = 0, done = 0;

	HMAC(EVP_sha256(), salt, (int)saltlen, ikm, ikmlen, prk, &len);
	for (uint8_t i = 1; done < outlen; i++) {
		memcpy(in, t, tlen);
		memcpy(in + tlen, info, infolen);
		in[tlen + infolen] = i;
		HMAC(EVP_sha256(), prk, 32, in, tlen + infolen + 1, t, &len);
		tlen = 32;
		memcpy(out + done, t, outlen - done < 32 ? outlen - done : 32);
		done += 32;
	}
}

/* The same OKM from the openssl command; 0 if the command is missing. */
static int cli_hkdf(const uint8_t *info, size_t infolen, uint8_t out[128])
{
	char key[65], inf[2 * 128 + 1], cmd[1024], line[1024];
	size_t n = 0;
	FILE *f;

	hex(netkey, 32, key);
	hex(info, infolen, inf);
	snprintf(cmd, sizeof(cmd),
	         "openssl kdf -keylen 128 -kdfopt digest:SHA256 -kdfopt hexkey:%s "
	         "-kdfopt 'salt:" LABEL "' -kdfopt hexinfo:%s HKDF 2>/dev/null", key, inf);
	if ((f = popen(cmd, "r")) == NULL)
		return 0;
	/* Printed as XX:XX:...:XX. */
	if (fgets(line, sizeof(line), f) != NULL) {
		unsigned v;
		for (const char *p = line; n < 128 && sscanf(p, "%2x", &v) == 1; p += 3)
			out[n++] = (uint8_t)v;
	}
	return pclose(f) == 0 && n == 128;
}

static void test_hkdf(uint8_t okm[128])
{
	static const uint8_t ikm[22] = { 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
	                                 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b };
	static const uint8_t salt[13] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	static const uint8_t info[10] = { 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9 };
	static const uint8_t want[42] = {
		0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
		0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
		0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65,
	};
	uint8_t out[42], pinfo[17 + 32], ref[128], cli[128];

	ok(ns_hkdf_sha256(salt, 13, ikm, 22, info, 10, out, 42) == 0 && memcmp(out, want, 42) == 0,
	   "HKDF-SHA256: RFC 5869 test case 1");
	ref_hkdf(salt, 13, ikm, 22, info, 10, ref, 42);
	ok(memcmp(ref, want, 42) == 0, "the test's own HKDF: RFC 5869 test case 1");
	ok(ns_hkdf_sha256(salt, 13, ikm, 22, info, 10, out, 255 * 32 + 1) != 0,
	   "HKDF refuses more than 255 blocks");

	memcpy(pinfo, LABEL, 17);
	memcpy(pinfo + 17, nonce_i, 16);
	memcpy(pinfo + 33, nonce_r, 16);
	ref_hkdf((const uint8_t *)LABEL, 17, netkey, 32, pinfo, sizeof(pinfo), okm, 128);
	if (cli_hkdf(pinfo, sizeof(pinfo), cli))
		ok(memcmp(cli, okm, 128) == 0, "connection OKM: `openssl kdf` agrees with the reference");
	else
		ok(0, "`openssl kdf` ran");
}

/* The keystream, independently: AES-256-CTR from block 0 (one shot), or
 * AES-256-ECB of one block index. */
static void ctr_oneshot(const uint8_t key[32], uint64_t first_block, uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	int outl;

	for (int i = 0; i < 8; i++)
		iv[15 - i] = (uint8_t)(first_block >> (8 * i));
	EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv);
	EVP_EncryptUpdate(c, buf, &outl, buf, (int)len);
	EVP_CIPHER_CTX_free(c);
}

static uint8_t ecb_byte(const uint8_t key[32], uint64_t offset)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t in[16] = { 0 }, out[32];
	int outl;

	for (int i = 0; i < 8; i++)
		in[15 - i] = (uint8_t)((offset >> 4) >> (8 * i));
	EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL);
	EVP_CIPHER_CTX_set_padding(c, 0);
	EVP_EncryptUpdate(c, out, &outl, in, 16);
	EVP_CIPHER_CTX_free(c);
	return out[offset & 15];
}

#define STREAM 70000

static void test_keystream(struct ns_pkt_keys *k, const uint8_t okm[128])
{
	static uint8_t plain[STREAM], want[STREAM], got[STREAM];
	static const uint64_t bases[] = {
		0, (1ull << 32) - 5000, (1ull << 32) - 7, (1ull << 36) - 3333, 0x123456789abull,
		UINT64_MAX - STREAM - 100,
	};
	int rc;

	for (size_t i = 0; i < STREAM; i++)
		plain[i] = (uint8_t)rnd();
	for (int d = 0; d < 2; d++) {
		const uint8_t *key = okm + 64 * d;

		for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
			uint64_t base = bases[b], start = base & ~(uint64_t)15;
			size_t lead = (size_t)(base - start);
			static uint8_t ref[STREAM + 16];
			int bad = 0, segs = 0;

			/* One shot from the block holding base, then skip the lead. */
			memset(ref, 0, lead);
			memcpy(ref + lead, plain, STREAM);
			ctr_oneshot(key, start >> 4, ref, STREAM + lead);
			memcpy(want, ref + lead, STREAM);
			/* The same stream in random segments, in random order of
			 * retransmission: each piece stands alone. */
			memcpy(got, plain, STREAM);
			for (size_t at = 0; at < STREAM;) {
				size_t n = 1 + rnd() % 1500;
				if (n > STREAM - at)
					n = STREAM - at;
				if (ns_pkt_xor_stream(k, (enum ns_pkt_dir)d, base + at, got + at, n) != 0)
					bad++;
				at += n;
				segs++;
			}
			ok(!bad && memcmp(got, want, STREAM) == 0,
			   "dir %d, offset %#llx: %d random segments = one-shot AES-256-CTR", d,
			   (unsigned long long)base, segs);
			/* A re-segmented retransmission: other splits, same bytes. */
			memcpy(got, plain, STREAM);
			for (int r = 0; r < 50; r++) {
				size_t at = rnd() % STREAM, n = 1 + rnd() % 3000;
				uint8_t piece[3000];
				if (n > STREAM - at)
					n = STREAM - at;
				memcpy(piece, plain + at, n);
				rc = ns_pkt_xor_stream(k, (enum ns_pkt_dir)d, base + at, piece, n);
				if (rc != 0 || memcmp(piece, want + at, n) != 0)
					bad++;
			}
			ok(!bad, "dir %d, offset %#llx: 50 overlapping retransmissions match", d,
			   (unsigned long long)base);
		}
		{
			static const uint64_t offs[] = { 0, 15, 16, 4294967295ull, 4294967296ull,
			                                 (1ull << 40) + 9, UINT64_MAX };
			int bad = 0;
			for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
				uint8_t x = 0;
				if (ns_pkt_xor_stream(k, (enum ns_pkt_dir)d, offs[i], &x, 1) != 0 ||
				    x != ecb_byte(key, offs[i]))
					bad++;
			}
			ok(!bad, "dir %d: byte o is byte o%%16 of AES(k, o/16), up to 2^64-1", d);
		}
	}
	{
		uint8_t a[64] = { 0 }, b[64] = { 0 }, x[2];
		ns_pkt_xor_stream(k, NS_PKT_I2R, 1000, a, 64);
		ns_pkt_xor_stream(k, NS_PKT_R2I, 1000, b, 64);
		ok(memcmp(a, b, 64) != 0, "the two directions have different keystreams");
		ok(ns_pkt_xor_stream(k, NS_PKT_I2R, UINT64_MAX, x, 2) != 0,
		   "a range past 2^64 is refused");
		ok(ns_pkt_xor_stream(k, (enum ns_pkt_dir)2, 0, x, 1) != 0, "direction 2 is refused");
	}
}

/* The documented encoding, written out here again. */
static void ref_mac(const uint8_t key[32], int dir, const struct ns_pkt_hdr *h, const uint8_t *ct,
                    size_t len, uint8_t out[16])
{
	uint8_t m[28 + 2000], full[32];
	uint64_t ack = (h->flags & 0x10) ? h->ack_off : 0;
	uint16_t urg = (h->flags & 0x20) ? h->urg_ptr : 0;
	unsigned int fl;

	m[0] = 1;
	m[1] = (uint8_t)dir;
	m[2] = h->flags & 0x37;
	m[3] = 0;
	for (int i = 0; i < 8; i++) {
		m[4 + i] = (uint8_t)(h->seq_off >> (56 - 8 * i));
		m[12 + i] = (uint8_t)(ack >> (56 - 8 * i));
	}
	m[20] = (uint8_t)(h->window >> 8);
	m[21] = (uint8_t)h->window;
	m[22] = (uint8_t)(urg >> 8);
	m[23] = (uint8_t)urg;
	m[24] = (uint8_t)(len >> 24);
	m[25] = (uint8_t)(len >> 16);
	m[26] = (uint8_t)(len >> 8);
	m[27] = (uint8_t)len;
	memcpy(m + 28, ct, len);
	HMAC(EVP_sha256(), key, 32, m, 28 + len, full, &fl);
	memcpy(out, full, 16);
}

static int mac_of(struct ns_pkt_keys *k, int dir, const struct ns_pkt_hdr *h, const uint8_t *ct,
                  size_t len, uint8_t out[16])
{
	return ns_pkt_mac(k, (enum ns_pkt_dir)dir, h, ct, len, out);
}

static void test_mac(struct ns_pkt_keys *k, const uint8_t okm[128])
{
	uint8_t ct[1448], base[16], m[16], want[16];
	struct ns_pkt_hdr h0 = {
		.seq_off = 0x0000000123456789ull, .ack_off = 0x00000002deadbeefull,
		.flags = NS_TCP_ACK | NS_TCP_PSH, .window = 502, .urg_ptr = 0,
	}, h;
	int bad, changed;

	for (size_t i = 0; i < sizeof(ct); i++)
		ct[i] = (uint8_t)rnd();
	for (int d = 0; d < 2; d++) {
		ref_mac(okm + 64 * d + 32, d, &h0, ct, sizeof(ct), want);
		ok(mac_of(k, d, &h0, ct, sizeof(ct), m) == 0 && memcmp(m, want, 16) == 0,
		   "dir %d: MAC = HMAC-SHA256(mac key, encoding || ct)[0:16] computed here", d);
	}
	h = h0;
	h.flags |= NS_TCP_URG | NS_TCP_FIN;
	h.urg_ptr = 77;
	ref_mac(okm + 32, 0, &h, ct, 100, want);
	ok(mac_of(k, 0, &h, ct, 100, m) == 0 && memcmp(m, want, 16) == 0, "... with URG and FIN too");
	bad = 0;
	for (int i = 0; i < 100; i++)
		if (mac_of(k, 0, &h0, ct, sizeof(ct), m) != 0 || (i == 0 ? (memcpy(base, m, 16), 0)
		                                                          : memcmp(m, base, 16) != 0))
			bad++;
	ok(!bad, "the keyed context restarts cleanly: 100 calls, one MAC");

#define CHANGES(mutate, msg)                                                      \
	do {                                                                      \
		h = h0;                                                           \
		mutate;                                                           \
		ok(mac_of(k, 0, &h, ct, sizeof(ct), m) == 0 && memcmp(m, base, 16) != 0, \
		   "MAC covers %s", msg);                                         \
	} while (0)
#define SAMEMAC(mutate, msg)                                                      \
	do {                                                                      \
		h = h0;                                                           \
		mutate;                                                           \
		ok(mac_of(k, 0, &h, ct, sizeof(ct), m) == 0 && memcmp(m, base, 16) == 0, \
		   "MAC leaves out %s", msg);                                     \
	} while (0)
	CHANGES(h.seq_off ^= 1, "seq offset, low bit");
	CHANGES(h.seq_off ^= 1ull << 32, "seq offset, bit 32 (a replay 4 GiB later)");
	CHANGES(h.seq_off ^= 1ull << 63, "seq offset, bit 63");
	CHANGES(h.ack_off ^= 1, "ack offset");
	CHANGES(h.ack_off ^= 1ull << 40, "ack offset, bit 40");
	CHANGES(h.flags ^= NS_TCP_FIN, "FIN");
	CHANGES(h.flags ^= NS_TCP_SYN, "SYN");
	CHANGES(h.flags ^= NS_TCP_RST, "RST");
	CHANGES(h.flags ^= NS_TCP_ACK, "ACK");
	CHANGES(h.flags ^= NS_TCP_URG, "URG");
	CHANGES(h.window ^= 1, "window");
	CHANGES((h.flags |= NS_TCP_URG, h.urg_ptr = 1), "urgent pointer with URG");
	SAMEMAC(h.flags ^= NS_TCP_PSH, "PSH");
	SAMEMAC(h.flags ^= 0x40, "ECE");
	SAMEMAC(h.flags ^= 0x80, "CWR");
	SAMEMAC(h.urg_ptr = 99, "urgent pointer without URG");
#undef CHANGES
#undef SAMEMAC
	h = h0;
	h.flags &= (uint8_t)~NS_TCP_ACK;
	mac_of(k, 0, &h, ct, sizeof(ct), base);
	h.ack_off = 12345;
	ok(mac_of(k, 0, &h, ct, sizeof(ct), m) == 0 && memcmp(m, base, 16) == 0,
	   "MAC leaves out the ack without ACK");
	mac_of(k, 0, &h0, ct, sizeof(ct), base);
	ok(mac_of(k, 1, &h0, ct, sizeof(ct), m) == 0 && memcmp(m, base, 16) != 0,
	   "MAC covers the direction (own key)");
	ok(mac_of(k, 0, &h0, ct, sizeof(ct) - 1, m) == 0 && memcmp(m, base, 16) != 0,
	   "MAC covers the length (one byte cut)");
	ok(mac_of(k, 0, &h0, ct, 0, m) == 0 && memcmp(m, base, 16) != 0, "an empty payload has its own MAC");
	bad = 0;
	for (size_t bit = 0; bit < sizeof(ct) * 8; bit++) {
		ct[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		if (mac_of(k, 0, &h0, ct, sizeof(ct), m) != 0 || memcmp(m, base, 16) == 0)
			bad++;
		ct[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	ok(!bad, "MAC changes with each of the %zu ciphertext bits", sizeof(ct) * 8);

	ok(ns_pkt_verify(k, NS_PKT_I2R, &h0, ct, sizeof(ct), base) == 1, "verify accepts the MAC");
	ok(ns_pkt_verify(k, NS_PKT_R2I, &h0, ct, sizeof(ct), base) == 0,
	   "verify refuses it in the other direction");
	changed = 0;
	for (int bit = 0; bit < 128; bit++) {
		base[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		if (ns_pkt_verify(k, NS_PKT_I2R, &h0, ct, sizeof(ct), base) == 0)
			changed++;
		base[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	ok(changed == 128, "verify refuses the tag with any one of its 128 bits flipped");
	ok(ns_pkt_mac(k, NS_PKT_I2R, &h0, ct, 65536, m) != 0, "MAC refuses a 65536-byte payload");
}

static void test_offsets(void)
{
	static const struct { uint64_t near; uint32_t off; uint64_t want; } v[] = {
		{ 0, 0, 0 },
		{ 0, 100, 100 },
		{ 5, 0xfffffff0u, 0xfffffff0u },             /* never below 0 */
		{ 0xfffff000u, 0x00000010u, 0x100000010ull },   /* forward across the wrap */
		{ 0x100000010ull, 0xfffff000u, 0xfffff000u },   /* a retransmission from before it */
		{ 0x1fffffff0ull, 0x10u, 0x200000010ull },
		{ 0x280000000ull, 0x7fffffffu, 0x27fffffffull }, /* 1 back */
		{ 0x280000000ull, 0x80000000u, 0x280000000ull },
		{ 0x280000000ull, 0x00000001u, 0x200000001ull }, /* 2^31 - 1 back */
		{ 0x280000000ull, 0xffffffffu, 0x2ffffffffull }, /* 2^31 - 1 ahead */
		{ 0x280000000ull, 0x00000000u, 0x200000000ull }, /* 2^31: a tie, back */
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t got = ns_pkt_offset_extend(v[i].near, v[i].off);
		if (got != v[i].want) {
			diag("extend(%#llx, %#x) = %#llx, want %#llx", (unsigned long long)v[i].near,
			     v[i].off, (unsigned long long)got, (unsigned long long)v[i].want);
			bad++;
		}
	}
	ok(!bad, "64-bit offset extension: %zu cases around the 2^32 wraps", sizeof(v) / sizeof(v[0]));
}

static void test_keys(const uint8_t okm[128])
{
	struct ns_pkt_keys a, b;
	uint8_t x[32] = { 0 }, y[32] = { 0 }, n2[16];

	memcpy(n2, nonce_r, 16);
	n2[15] ^= 1;
	ns_pkt_keys_derive(&a, netkey, nonce_i, nonce_r);
	ns_pkt_keys_derive(&b, netkey, nonce_i, n2);
	ns_pkt_xor_stream(&a, NS_PKT_I2R, 0, x, 32);
	ns_pkt_xor_stream(&b, NS_PKT_I2R, 0, y, 32);
	ok(memcmp(x, y, 32) != 0, "one nonce bit changes the connection's keys");
	ns_pkt_keys_free(&b);
	ns_pkt_keys_derive(&b, netkey, nonce_r, nonce_i);
	memset(y, 0, 32);
	ns_pkt_xor_stream(&b, NS_PKT_I2R, 0, y, 32);
	ok(memcmp(x, y, 32) != 0, "swapping the nonces changes the keys (roles are bound)");
	memset(y, 0, 32);
	ctr_oneshot(okm, 0, y, 32);
	ok(memcmp(x, y, 32) == 0, "I2R encryption key = OKM[0:32]");
	ns_pkt_keys_free(&a);
	ns_pkt_keys_free(&a);
	ok(ns_pkt_xor_stream(&a, NS_PKT_I2R, 0, x, 1) != 0, "freed keys are refused; free twice is safe");
	ns_pkt_keys_free(&b);
}

/* Not an assertion (the machine is shared): a figure for the record. */
static void speed(struct ns_pkt_keys *k)
{
	static uint8_t seg[1448];
	struct ns_pkt_hdr h = { .flags = NS_TCP_ACK, .window = 500 };
	struct timespec t0, t1;
	uint8_t m[16];
	int n = 40000;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		h.seq_off = (uint64_t)i * sizeof(seg);
		ns_pkt_xor_stream(k, NS_PKT_I2R, h.seq_off, seg, sizeof(seg));
		ns_pkt_mac(k, NS_PKT_I2R, &h, seg, sizeof(seg), m);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	diag("encrypt + MAC, 1448-byte segments: %.0f ns each, %.2f Gbit/s on one core",
	     s / n * 1e9, (double)n * sizeof(seg) * 8 / s / 1e9);
}

int main(void)
{
	struct ns_pkt_keys k;
	uint8_t okm[128];

	for (int i = 0; i < 16; i++) {
		nonce_i[i] = (uint8_t)(0x10 + i);
		nonce_r[i] = (uint8_t)(0xc0 + i);
	}
	test_hkdf(okm);
	ok(ns_pkt_keys_derive(&k, netkey, nonce_i, nonce_r) == 0 && k.ready, "keys derived");
	test_keystream(&k, okm);
	test_mac(&k, okm);
	test_offsets();
	test_keys(okm);
	speed(&k);
	ns_pkt_keys_free(&k);
	return tap_done();
}
