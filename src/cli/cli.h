/* cli.h: subcommands of the nodeseal command, one file each. */
#ifndef NS_CLI_H
#define NS_CLI_H

#include <stdbool.h>

#include "../util/version.h"

int cmd_genkey(int argc, char **argv);
int cmd_pubkey(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_reload(int argc, char **argv);

/* Value of an option from argv ("--name VALUE" or "--name=VALUE"), else
 * the environment variable, else NULL.  *i is advanced past a value. */
void cli_usage(void);

struct ns_config;
/* Loads the settings of subcommand cmd from the environment and argv.
 * Returns -1 to go on (*i at the first argument left), else the exit code:
 * 0 after --help, 2 after a bad setting (both printed). */
int cli_config(const char *cmd, const char *synopsis, int argc, char **argv,
               struct ns_config *cfg, int *i);

/* Whether argv's last argument is a positional one (not an option, nor
 * the value of the option before it). */
bool cli_positional_last(int argc, char **argv);

#endif
