/* genkey.c: "nodeseal genkey" prints a new 256-bit network key. */
#include <stdio.h>

#include "../crypto/crypto.h"
#include "../keys/keys.h"
#include "cli.h"

int cmd_genkey(int argc, char **argv)
{
	uint8_t key[32];
	char text[NS_KEY_B64_LEN + 1];
	int rc = 1;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: nodeseal genkey\n");
		return 2;
	}
	if (ns_random(key, sizeof(key)) != 0) {
		fprintf(stderr, "nodeseal genkey: no randomness available\n");
		goto out;
	}
	ns_key_encode(key, text);
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "nodeseal genkey: cannot write the key\n");
		goto out;
	}
	rc = 0;
out:
	ns_wipe(key, sizeof(key));
	ns_wipe(text, sizeof(text));
	return rc;
}
