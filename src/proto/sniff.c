/*
 * sniff.c: a plain MultiChain node's first bytes, told from a handshake
 * (proto.h, ns_sniff_plain).
 *
 * A node that connects without nodeseal starts, as Bitcoin Core does, with
 * its version message: 4 bytes of network magic, then the command
 * "version" padded with NUL to 12 bytes.  Our first message starts with a
 * fresh X25519 public key, so it matches those 12 bytes with probability
 * 2^-96.  The magic is not checked: it differs per chain, and the node
 * itself refuses a wrong one.
 */
#include <string.h>

#include "proto.h"

static const uint8_t version_cmd[NS_SNIFF_LEN - 4] = "version\0\0\0\0";

int ns_sniff_plain(const uint8_t *buf, size_t len)
{
	size_t have = len > NS_SNIFF_LEN ? NS_SNIFF_LEN : len;

	if (have <= 4)
		return -1;
	if (memcmp(buf + 4, version_cmd, have - 4) != 0)
		return 0;
	return have == NS_SNIFF_LEN ? 1 : -1;
}
