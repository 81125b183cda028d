/*
 * forget.c: "nodeseal forget ADDRESS|all" drops peers from the memory of
 * peers sealed before (docs/PROTOCOL.md, "Rolling out"), so that under
 * --policy opportunistic they may be taken in clear again: for a peer that
 * has really gone back to running without nodeseal, or a new host at a
 * reused address.  The running daemon does it (and saves); with none
 * running, the file in the state directory is changed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

/* No daemon: the file itself. */
static int forget_in_file(const struct ns_config *cfg, const char *what)
{
	struct ns_peers peers;
	struct ns_peer_addr a;
	char err[512];
	bool all = strcmp(what, "all") == 0;
	int n, rc = 1;

	if (ns_peers_init(&peers, 0) != 0)
		return 1;
	if (ns_peers_load(&peers, cfg->state_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal forget: %s\n", err);
		goto out;
	}
	if (!all && ns_peer_addr_parse(what, &a) != 0)
		goto out; /* checked before */
	n = all ? (int)ns_peers_forget_all(&peers) : ns_peers_forget(&peers, &a);
	if (n > 0 && ns_peers_save(&peers, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal forget: %s\n", err);
		goto out;
	}
	if (all)
		printf("forgot %d peer%s\n", n, n == 1 ? "" : "s");
	else if (n == 0)
		printf("%s was not remembered\n", what);
	else
		printf("forgot %s\n", what);
	rc = 0;
out:
	ns_peers_free(&peers);
	return rc;
}

int cmd_forget(int argc, char **argv)
{
	struct ns_config cfg;
	struct ns_peer_addr a;
	char path[4200], cmd[80], *answer;
	int i, rc;

	const char *what = NULL;

	/* The address comes last, after the options. */
	if (cli_positional_last(argc, argv))
		what = argv[--argc];
	if ((rc = cli_config("forget", "nodeseal forget [options] ADDRESS|all", argc, argv, &cfg,
	                     &i)) >= 0)
		return rc;
	if (i != argc || what == NULL ||
	    (strcmp(what, "all") != 0 && ns_peer_addr_parse(what, &a) != 0)) {
		fprintf(stderr, "nodeseal forget: expected one IP address, or all\n");
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "forget %s", what);
	ns_control_path(cfg.state_dir, path, sizeof(path));
	answer = ns_control_request(path, cmd);
	if (answer == NULL)
		return forget_in_file(&cfg, what);
	fputs(answer, strncmp(answer, "error", 5) == 0 ? stderr : stdout);
	rc = strncmp(answer, "error", 5) == 0 ? 1 : 0;
	free(answer);
	return rc;
}
