/* status.c: "nodeseal status [--json]" asks the running daemon. */
#include <stdio.h>
#include <stdlib.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

int cmd_status(int argc, char **argv)
{
	struct ns_config cfg;
	char err[512], path[4200], *answer;
	int i = 1;

	if (ns_config_load(&cfg, argc, argv, &i, err, sizeof(err)) != 0 || i != argc) {
		fprintf(stderr, "nodeseal status: %s\n", i != argc ? "unexpected argument" : err);
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
