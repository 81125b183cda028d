/*
 * nodeseal.c: the command line, dispatching to one file per subcommand
 * (the layout of wireguard-tools' wg).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"
#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "run", cmd_run, "protect the node while running COMMAND (entrypoint)" },
	{ "up", cmd_up, "protect the node until stopped (service)" },
	{ "down", cmd_down, "stop protecting; remove every rule nodeseal installed" },
	{ "status", cmd_status, "show connections and peers, sealed or in clear (--json)" },
	{ "policy", cmd_policy, "show or change the running policy (required, opportunistic)" },
	{ "reload", cmd_reload, "read the members list again (--members), keeping connections" },
	{ "forget", cmd_forget, "forget that a peer was sealed (ADDRESS or all)" },
	{ "genkey", cmd_genkey, "print a new network key (base64)" },
	{ "pubkey", cmd_pubkey, "print this node's public key and fingerprint" },
};

void cli_usage(void)
{
	fprintf(stderr, "usage: nodeseal <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(stderr, "  %-8s %s\n  %-8s %s\n", "version", "print the version", "help",
	        "print this help");
	fprintf(stderr, "\nSee nodeseal(8) for options and environment variables.\n");
}

int cli_config(const char *cmd, const char *synopsis, int argc, char **argv,
               struct ns_config *cfg, int *i)
{
	char err[512];

	*i = 1;
	if (ns_config_load(cfg, argc, argv, i, err, sizeof(err)) != 0) {
		fprintf(stderr, "nodeseal %s: %s\n", cmd, err);
		return 2;
	}
	if (cfg->help) {
		printf("usage: %s\n\n%s", synopsis, ns_config_usage);
		return 0;
	}
	return -1;
}

bool cli_positional_last(int argc, char **argv)
{
	const char *prev;

	if (argc < 2 || argv[argc - 1][0] == '-')
		return false;
	prev = argv[argc - 2];
	/* after an option that takes a value it is that value; flags take none */
	return argc == 2 || strncmp(prev, "--", 2) != 0 || strchr(prev, '=') != NULL ||
	       strcmp(prev, "--json") == 0 || strcmp(prev, "--require-sealed") == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		cli_usage();
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("nodeseal %s\n", NS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nodeseal: unknown command '%s'\n", argv[1]);
	cli_usage();
	return 2;
}
