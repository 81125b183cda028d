/*
 * test_chain: the pure parts of --members chain (src/chain/).
 * - proof.c: a proof record's payload round-trips; every bound is checked
 *   (address 25..64 base58 characters, signature 1..256 base64, nothing
 *   after it, nothing cut short); the statement is the one PROTOCOL.md
 *   gives, and refuses a chain name it could not carry;
 * - chainconf.c: multichain.conf's rpcuser/rpcpassword/rpcport and
 *   params.dat's default-rpc-port, comments and spaces; what is missing or
 *   malformed is an error naming the file;
 * - rpc.c: an HTTP response's status and body, Content-Length checked;
 * - record.c: a proof record seals and opens; an unknown type is refused.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/chain/chainconf.h"
#include "../../src/chain/proof.h"
#include "../../src/chain/rpc.h"
#include "../../src/proto/proto.h"
#include "record_dir.h"
#include "tap.h"

#define ADDR "1DtiKZNiKM1gFGoaYkQA1qQHHzVcLeRXWu"
#define SIG "H2x0W3Qq9vUjV1Q3bEJZbx+o9bX7Yd3Hk/0S1o5cT1c="

static int parse(const uint8_t *in, size_t len)
{
	struct ns_proof p;

	return ns_proof_parse(in, len, &p);
}

static void test_proof(void)
{
	struct ns_proof p, q;
	uint8_t buf[NS_PROOF_MAX + 8];
	char stmt[NS_PROOF_STATEMENT_MAX];
	uint8_t key[32];
	int n;

	memset(&p, 0, sizeof(p));
	strcpy(p.addr, ADDR);
	strcpy(p.sig, SIG);
	n = ns_proof_encode(&p, buf, sizeof(buf));
	ok(n == 3 + (int)strlen(ADDR) + (int)strlen(SIG), "proof encodes (%d bytes)", n);
	ok(buf[0] == strlen(ADDR) && buf[1 + strlen(ADDR)] == 0 &&
	   buf[2 + strlen(ADDR)] == strlen(SIG), "lengths: 1 byte, then 2 bytes big-endian");
	ok(ns_proof_parse(buf, (size_t)n, &q) == 0 && strcmp(q.addr, ADDR) == 0 &&
	   strcmp(q.sig, SIG) == 0, "and parses back");
	ok(parse(buf, (size_t)n - 1) != 0, "cut short: refused");
	buf[n] = 'A';
	ok(parse(buf, (size_t)n + 1) != 0, "a byte after it: refused");
	ok(parse(buf, 0) != 0 && parse(buf, 1) != 0, "empty or one byte: refused");

	strcpy(p.addr, "1DtiKZNiKM1gFGoaYkQA1qQHH"); /* 25 */
	ok(ns_proof_encode(&p, buf, sizeof(buf)) > 0, "a 25-character address is one");
	p.addr[24] = '\0';
	ok(ns_proof_encode(&p, buf, sizeof(buf)) < 0, "a 24-character one is not");
	memset(p.addr, '2', 64);
	p.addr[64] = '\0';
	ok(ns_proof_encode(&p, buf, sizeof(buf)) > 0, "64 characters is one");
	for (const char *bad = "0OIl+/ \n"; *bad; bad++) {
		strcpy(p.addr, ADDR);
		p.addr[5] = *bad;
		ok(!ns_proof_addr_ok(p.addr), "address with 0x%02x: not base58", *bad);
	}
	strcpy(p.addr, ADDR);
	p.sig[0] = '\0';
	ok(ns_proof_encode(&p, buf, sizeof(buf)) < 0, "an empty signature is refused");
	memset(p.sig, 'A', 256);
	p.sig[256] = '\0';
	n = ns_proof_encode(&p, buf, sizeof(buf));
	ok(n == NS_PROOF_MAX - 64 + (int)strlen(ADDR), "a 256-character signature fits");
	ok(parse(buf, (size_t)n) == 0, "and parses");
	buf[1 + strlen(ADDR)] = 2; /* 512 */
	ok(parse(buf, (size_t)n) != 0, "a length over 256 is refused");
	buf[1 + strlen(ADDR)] = 1;
	buf[3 + strlen(ADDR)] = '!';
	ok(parse(buf, (size_t)n) != 0, "a signature not base64 is refused");
	buf[0] = 65;
	ok(parse(buf, (size_t)n) != 0, "an address length of 65 is refused");

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	ok(ns_proof_statement("chain1", key, stmt, sizeof(stmt)) == 0 &&
	   strcmp(stmt, "nodeseal proof 1 chain=chain1 key=000102030405060708090a0b0c0d0e0f"
	          "101112131415161718191a1b1c1d1e1f") == 0, "statement: %s", stmt);
	ok(ns_proof_statement("two words", key, stmt, sizeof(stmt)) != 0 &&
	   ns_proof_statement("", key, stmt, sizeof(stmt)) != 0 &&
	   ns_proof_statement("x\ny", key, stmt, sizeof(stmt)) != 0,
	   "chain names with spaces, control characters or none: refused");
}

static int conf(const char *text, struct ns_chainconf *cc, char *err, size_t errlen)
{
	return ns_chainconf_parse_conf(text, strlen(text), "/c/multichain.conf", cc, err, errlen);
}

static void test_chainconf(void)
{
	struct ns_chainconf cc = { 0 };
	char err[256];
	uint16_t port;

	ok(conf("rpcuser=multichainrpc\nrpcpassword=Fk3x9Yq\n", &cc, err, sizeof(err)) == 0 &&
	   strcmp(cc.user, "multichainrpc") == 0 && strcmp(cc.password, "Fk3x9Yq") == 0 &&
	   cc.rpcport == 0, "multichain.conf as multichaind writes it");
	ok(conf("# comment\n\nrpcuser = u \r\nrpcpassword=p\nrpcport=4400\nrpcallowip=1.2.3.4\n",
	        &cc, err, sizeof(err)) == 0 && strcmp(cc.user, "u") == 0 && cc.rpcport == 4400,
	   "comments, spaces, CRLF, rpcport, other keys");
	ok(conf("rpcuser=u\n", &cc, err, sizeof(err)) != 0 && strstr(err, "/c/multichain.conf") &&
	   strstr(err, "rpcpassword"), "no password: %s", err);
	ok(conf("rpcuser=u\nrpcpassword=p\nrpcport=70000\n", &cc, err, sizeof(err)) != 0 &&
	   strstr(err, "rpcport") && cc.user[0] == '\0', "rpcport 70000: %s", err);
	ok(conf("rpcuser=u\nrpcpassword=\n", &cc, err, sizeof(err)) != 0, "empty password refused");
	{
		char big[400];
		snprintf(big, sizeof(big), "rpcuser=u\nrpcpassword=%0200d\n", 1);
		ok(conf(big, &cc, err, sizeof(err)) != 0, "a 200-character password refused");
	}
	ok(ns_chainconf_parse_conf("rpcuser=u\0x\nrpcpassword=p\n", 25, "f", &cc, err,
	                           sizeof(err)) != 0, "a NUL byte: refused");
	ok(ns_chainconf_parse_params("default-network-port = 7447  # Default TCP/IP port\n"
	                             "default-rpc-port = 7446    # Default TCP/IP port for JSON-RPC\n",
	                             108, "/c/params.dat", &port, err, sizeof(err)) == 0 &&
	   port == 7446, "params.dat: default-rpc-port = 7446 # comment");
	ok(ns_chainconf_parse_params("chain-name = x\n", 15, "/c/params.dat", &port, err,
	                             sizeof(err)) != 0 && strstr(err, "/c/params.dat") &&
	   strstr(err, "default-rpc-port"), "no default-rpc-port: %s", err);
	ok(ns_chainconf_parse_params("default-rpc-port = 7x\n", 22, "p", &port, err,
	                             sizeof(err)) != 0, "a port that is not a number");
}

static void test_http(void)
{
	const char *body;
	size_t blen;
	int st;
	const char ok1[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	const char ok2[] = "HTTP/1.0 401 Unauthorized\r\n\r\n";
	const char bad1[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}";
	const char bad2[] = "HTTP/1.1 200 OK\r\nContent-Length: 2";
	const char bad3[] = "garbage garbage\r\n\r\n";
	const char bad4[] = "HTTP/1.1 2x0 OK\r\n\r\n";

	ok(ns_rpc_http_body(ok1, strlen(ok1), &st, &body, &blen) == NS_RPC_OK && st == 200 &&
	   blen == 2 && memcmp(body, "{}", 2) == 0, "status 200 and its body");
	ok(ns_rpc_http_body(ok2, strlen(ok2), &st, &body, &blen) == NS_RPC_OK && st == 401 &&
	   blen == 0, "a 401 without a length");
	ok(ns_rpc_http_body(bad1, strlen(bad1), &st, &body, &blen) == NS_RPC_GARBAGE,
	   "a body shorter than its Content-Length: refused");
	ok(ns_rpc_http_body(bad2, strlen(bad2), &st, &body, &blen) == NS_RPC_GARBAGE,
	   "no end of headers: refused");
	ok(ns_rpc_http_body(bad3, strlen(bad3), &st, &body, &blen) == NS_RPC_GARBAGE,
	   "not HTTP: refused");
	ok(ns_rpc_http_body(bad4, strlen(bad4), &st, &body, &blen) == NS_RPC_GARBAGE,
	   "a status that is not a number: refused");
}

static void test_record_type(void)
{
	struct ns_record_dir tx, rx;
	uint8_t wire[64], payload[8] = "proof!!", *p, type;
	size_t used, plen;

	if (record_dir_keyed(&tx, 7) != 0 || record_dir_keyed(&rx, 7) != 0) {
		ok(0, "cipher set up");
		return;
	}
	ok(ns_record_seal(&tx, NS_RECORD_PROOF, payload, 7, wire) == NS_OK, "a proof record seals");
	ok(ns_record_open(&rx, wire, ns_record_wire_len(7), &used, &p, &plen, &type) == 1 &&
	   type == NS_RECORD_PROOF && plen == 7 && memcmp(p, "proof!!", 7) == 0,
	   "and opens as one");
	ok(ns_record_seal(&tx, NS_RECORD_PROOF, payload, 0, wire) != NS_OK,
	   "an empty proof record is refused");
	noise_cipher_free(&tx.cs);
	noise_cipher_free(&rx.cs);
	if (record_dir_keyed(&tx, 7) != 0 || record_dir_keyed(&rx, 7) != 0)
		return;
	ok(ns_record_seal(&tx, 4, payload, 7, wire) != NS_OK, "type 4 is not sealed");
	noise_cipher_free(&tx.cs);
	noise_cipher_free(&rx.cs);
}

int main(void)
{
	test_proof();
	test_chainconf();
	test_http();
	test_record_type();
	return tap_done();
}
