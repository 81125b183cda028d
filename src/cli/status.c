/* status.c: "nodeseal status [--json]" asks the running daemon. */
#include <stdio.h>
#include <stdlib.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

int cmd_status(int argc, char **argv)
{
	struct ns_config cfg;
	char path[4200], *answer;
	int i, rc;

	if ((rc = cli_config("status", "nodeseal status [--json] [options]", argc, argv, &cfg,
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
	return 0;
}
