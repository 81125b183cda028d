/*
 * pubkey.c: "nodeseal pubkey" prints the node's public key and its
 * fingerprint, creating the node key on first use, exactly as the daemon
 * does at its first start.  Output, for scripts:
 *   public-key <base64>
 *   fingerprint <16 hex digits>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"
#include "../crypto/crypto.h"
#include "../keys/keys.h"
#include "cli.h"

int cmd_pubkey(int argc, char **argv)
{
	struct ns_config cfg;
	const char *state_dir;
	int i;
	struct ns_dh_keypair kp = { 0 };
	char err[512], text[NS_KEY_B64_LEN + 1], fp[NS_FINGERPRINT_LEN + 1];
	bool created;
	int rc;

	if ((rc = cli_config("pubkey", "nodeseal pubkey [--state-dir DIR]", argc, argv, &cfg,
	                     &i)) >= 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "nodeseal pubkey: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	state_dir = cfg.state_dir;
	rc = 1;
	if (ns_node_key_load_or_create(state_dir, &kp, &created, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal pubkey: %s\n", err);
		goto out;
	}
	if (created)
		fprintf(stderr, "nodeseal: created a node key in %s\n", state_dir);
	ns_key_encode(kp.pub, text);
	ns_fingerprint(kp.pub, fp);
	printf("public-key %s\nfingerprint %s\n", text, fp);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	ns_dh_keypair_free(&kp);
	return rc;
}
