/*
 * down.c: "nodeseal down" stops a running daemon and removes every rule
 * nodeseal installs, also those a crashed daemon left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <unistd.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "../intercept/intercept.h"
#include "../packet/sockdiag.h"
#include "cli.h"

/*
 * Packet-mode rules with no daemon behind them (it crashed): the node's
 * segments of the protected ports were dropped, and its sockets still hold
 * that data.  Removing the rules first would let the stack send it again
 * in clear, so those sockets are destroyed first (the node sees its
 * connections end).  If that cannot be done the rules stay: -1.
 */
static int reset_packet_connections(void)
{
	uint16_t ports[NS_MAX_PORTS];
	int n = ns_intercept_packet_ports(ports, NS_MAX_PORTS), fd, done;

	if (n == 0)
		return 0;
	fd = n < 0 ? -1 : ns_sockdiag_open();
	done = fd < 0 ? -1 : ns_sockdiag_destroy_ports(fd, ports, n);
	if (fd >= 0)
		close(fd);
	if (done < 0) {
		fprintf(stderr, "nodeseal down: cannot reset packet mode's connections (reading the "
		        "rules or sock_diag failed); the rules stay, so that nothing passes in "
		        "clear\n");
		return -1;
	}
	if (done > 0)
		fprintf(stderr, "nodeseal: reset %d connection%s left by a daemon that did not stop "
		        "(their data would go out in clear)\n", done, done == 1 ? "" : "s");
	return 0;
}

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
	if (answer == NULL && reset_packet_connections() != 0)
		return 1;
	if (ns_intercept_remove(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal down: %s\n", err);
		return 1;
	}
	fprintf(stderr, "nodeseal: %s\n", answer ? "stopped" : "not running; no rules left");
	return 0;
}
