/*
 * test_sniff.c: a plain node's version message told from our first
 * handshake message (src/proto/sniff.c), on every prefix length.
 */
#include <string.h>

#include "../../src/crypto/crypto.h"
#include "../../src/proto/proto.h"
#include "tap.h"

int main(void)
{
	/* MultiChain's default magic, then "version" NUL-padded, then a length */
	static const uint8_t version[24] = { 0xfb, 0xb4, 0xc7, 0xde, 'v', 'e', 'r', 's', 'i', 'o',
	                                     'n', 0, 0, 0, 0, 0, 0x66, 0, 0, 0 };
	uint8_t buf[NS_HS_MSG1_LEN], other[24];
	int undecided = 0, early = 0;

	for (size_t n = 0; n < NS_SNIFF_LEN; n++)
		undecided += ns_sniff_plain(version, n) == -1;
	ok(undecided == NS_SNIFF_LEN, "a version header is undecided before 16 bytes (%d)",
	   undecided);
	ok(ns_sniff_plain(version, 16) == 1 && ns_sniff_plain(version, 24) == 1,
	   "a version header is plain at 16 bytes and beyond");
	memcpy(other, version, sizeof(other));
	memcpy(other, "\x01\x02\x03\x04", 4);
	ok(ns_sniff_plain(other, 16) == 1, "any magic: the node judges its own");
	other[15] = 'x';
	ok(ns_sniff_plain(other, 16) == 0, "\"version\" with a bad pad is not plain");
	memcpy(other + 4, "verack\0\0\0\0\0\0", 12);
	ok(ns_sniff_plain(other, 5) == -1 && ns_sniff_plain(other, 8) == 0,
	   "another command is told as soon as it differs");
	/* Random first messages: decided at the 5th byte nearly always. */
	for (int i = 0; i < 1000; i++) {
		if (ns_random(buf, sizeof(buf)) != 0)
			return 1;
		early += ns_sniff_plain(buf, sizeof(buf)) == 0 && ns_sniff_plain(buf, 4) == -1;
	}
	ok(early == 1000, "1000 random first messages are never plain (%d)", early);
	return tap_done();
}
