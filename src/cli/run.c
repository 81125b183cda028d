/*
 * run.c: "nodeseal run [options] -- COMMAND" (the container entrypoint)
 * and "nodeseal up [options]" (the same daemon without a child).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../daemon/daemon.h"
#include "../util/log.h"
#include "cli.h"

static int daemon_main(const struct ns_config *cfg, char **child_argv)
{
	struct ns_daemon d;
	char err[1024];
	int rc;

	ns_log_set_level(cfg->log_level);
	ns_log_set_format(cfg->log_format);
	if (ns_daemon_init(&d, cfg, err, sizeof(err)) != 0) {
		ns_log(NS_LOG_ERROR, "%s", err);
		ns_daemon_shutdown(&d);
		return 1;
	}
	rc = ns_daemon_run(&d, child_argv, err, sizeof(err));
	if (rc != 0)
		ns_log(NS_LOG_ERROR, "%s", err);
	if (d.child > 0) {
		/* Never leave the node running once its protection goes. */
		int status;
		kill(d.child, SIGTERM);
		while (waitpid(d.child, &status, 0) < 0 && errno == EINTR)
			;
		d.child = 0;
		rc = -1;
	}
	ns_daemon_shutdown(&d);
	if (rc != 0)
		return 1;
	return child_argv != NULL ? d.child_status : 0;
}

int cmd_run(int argc, char **argv)
{
	struct ns_config cfg;
	int i, rc;

	if ((rc = cli_config("run", "nodeseal run [options] -- COMMAND [ARGS...]", argc, argv, &cfg,
	                     &i)) >= 0)
		return rc;
	if (i + 1 >= argc || strcmp(argv[i], "--") != 0) {
		fprintf(stderr, "usage: nodeseal run [options] -- COMMAND [ARGS...]\n\n%s",
		        ns_config_usage);
		return 2;
	}
	if (cfg.off) {
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "nodeseal: cannot run %s: %s\n", argv[i + 1], strerror(errno));
		return 127;
	}
	return daemon_main(&cfg, argv + i + 1);
}

int cmd_up(int argc, char **argv)
{
	struct ns_config cfg;
	int i, rc;

	if ((rc = cli_config("up", "nodeseal up [options]", argc, argv, &cfg, &i)) >= 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "nodeseal up: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	if (cfg.off) {
		fprintf(stderr, "nodeseal: NODESEAL=off, not starting\n");
		return 0;
	}
	return daemon_main(&cfg, NULL);
}
