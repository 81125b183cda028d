/*
 * policy.c: "nodeseal policy [required|opportunistic]" shows or changes
 * the running daemon's policy.
 *
 * A change applies at once and keeps every sealed connection: a restart
 * would not (in proxy mode the daemon holds both ends of each relayed
 * connection, so a restart drops them all).  Moving to required resets
 * the connections in clear; their nodes reconnect, sealed or refused.  The
 * setting for the next start stays NODESEAL_POLICY / --policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

int cmd_policy(int argc, char **argv)
{
	struct ns_config cfg;
	char path[4200], cmd[64], *answer;
	int i, rc;

	const char *want = NULL;

	/* The policy, if given, comes last, after the options. */
	if (cli_positional_last(argc, argv))
		want = argv[--argc];
	if ((rc = cli_config("policy", "nodeseal policy [options] [required|opportunistic]", argc,
	                     argv, &cfg, &i)) >= 0)
		return rc;
	if (i != argc || (want != NULL && strcmp(want, "required") != 0 &&
	                  strcmp(want, "opportunistic") != 0)) {
		fprintf(stderr, "nodeseal policy: expected required or opportunistic, got '%s'\n",
		        i != argc ? argv[i] : want);
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "policy%s%s", want ? " " : "", want ? want : "");
	ns_control_path(cfg.state_dir, path, sizeof(path));
	answer = ns_control_request(path, cmd);
	if (answer == NULL) {
		fprintf(stderr, "nodeseal policy: not running (nothing answers on %s); the policy "
		        "at start is --policy or NODESEAL_POLICY\n", path);
		return 1;
	}
	fputs(answer, strncmp(answer, "error", 5) == 0 ? stderr : stdout);
	rc = strncmp(answer, "error", 5) == 0 ? 1 : 0;
	free(answer);
	return rc;
}
