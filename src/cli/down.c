/*
 * down.c: "nodeseal down" stops a running daemon and removes every rule
 * nodeseal installs, also those a crashed daemon left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "../intercept/intercept.h"
#include "cli.h"

int cmd_down(int argc, char **argv)
{
	struct ns_config cfg;
	char err[512], path[4200], *answer;
	int i, rc;

	if ((rc = cli_config("down", "nodeseal down [options]", argc, argv, &cfg, &i)) >= 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "nodeseal down: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	ns_control_path(cfg.state_dir, path, sizeof(path));
	answer = ns_control_request(path, "stop");
	if (answer != NULL) {
		/* Wait until it has gone (it removes its rules on the way). */
		struct timespec pause = { 0, 50 * 1000 * 1000 };
		for (int t = 0; t < 300; t++) {
			char *again = ns_control_request(path, "json");
			if (again == NULL)
				break;
			free(again);
			nanosleep(&pause, NULL);
		}
		free(answer);
	}
	if (ns_intercept_remove(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal down: %s\n", err);
		return 1;
	}
	fprintf(stderr, "nodeseal: %s\n", answer ? "stopped" : "not running; no rules left");
	return 0;
}
