/*
 * status.c: "nodeseal status [--json] [--require-sealed]" asks the running
 * daemon.  --require-sealed is for health checks: exit 3 while a peer is
 * listed in clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

/* 3 while the daemon lists a peer in clear, 0 when none, 1 if unsure. */
static int require_sealed(const char *path)
{
	char *answer = ns_control_request(path, "clear");
	int clear = -1;

	if (answer == NULL || sscanf(answer, "clear %d", &clear) != 1 || clear < 0) {
		fprintf(stderr, "nodeseal status: cannot tell whether a peer is in clear\n");
		free(answer);
		return 1;
	}
	free(answer);
	if (clear > 0) {
		fprintf(stderr, "nodeseal status: %d peer%s in clear\n", clear, clear == 1 ? "" : "s");
		return 3;
	}
	return 0;
}

int cmd_status(int argc, char **argv)
{
	struct ns_config cfg;
	char path[4200], *answer;
	int i, rc;

	if ((rc = cli_config("status", "nodeseal status [--json] [--require-sealed] [options]", argc, argv, &cfg,
	                     &i)) >= 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "nodeseal status: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	ns_control_path(cfg.state_dir, path, sizeof(path));
	answer = ns_control_request(path, cfg.json ? "json" : "status");
	if (answer == NULL) {
		fprintf(stderr, "nodeseal status: not running (nothing answers on %s)\n", path);
		return 1;
	}
	fputs(answer, stdout);
	free(answer);
	if (cfg.require_sealed)
		return require_sealed(path);
	return 0;
}
