/*
 * reload.c: "nodeseal reload" asks the running daemon to read its members
 * list (--members) and its network key file again, through the control
 * socket.  New network keys serve the handshakes begun from then on;
 * sealed connections keep theirs.  An inline network key cannot be read
 * again (wiped from the environment at start): it is kept, and the answer
 * says so.
 *
 * No sealed connection of a member still listed is touched; a member no
 * longer listed has its connections reset at once and is refused from
 * then on.  A bad file is refused whole and the list and keys in force stay: the
 * answer says why, and the exit status is 1.  SIGHUP to the daemon does
 * the same, answered only in the log; this command is the way that says
 * what happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/control.h"
#include "../daemon/daemon.h"
#include "cli.h"

int cmd_reload(int argc, char **argv)
{
	struct ns_config cfg;
	char path[4200], *answer;
	int i, rc;

	if ((rc = cli_config("reload", "nodeseal reload [--state-dir DIR]", argc, argv, &cfg,
	                     &i)) >= 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "nodeseal reload: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	ns_control_path(cfg.state_dir, path, sizeof(path));
	answer = ns_control_request(path, "reload");
	if (answer == NULL) {
		fprintf(stderr, "nodeseal reload: not running (nothing answers on %s); nothing "
		        "to reload\n", path);
		return 1;
	}
	rc = strncmp(answer, "error", 5) == 0 ? 1 : 0;
	if (rc != 0 || answer[0] == '\0') {
		fprintf(stderr, "nodeseal reload: %s", answer[0] ? answer : "no answer\n");
		rc = 1;
	} else {
		fputs(answer, stdout);
	}
	free(answer);
	return rc;
}
