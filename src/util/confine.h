/* confine.h: what the node, the child of "nodeseal run", must not inherit,
 * nor read from the daemon. */
#ifndef NS_CONFINE_H
#define NS_CONFINE_H

#include <stddef.h>

/*
 * Called in the child between fork and exec.  Removes every NODESEAL_*
 * variable from the environment and CAP_NET_ADMIN and CAP_NET_RAW from all
 * five capability sets, so that neither the node nor any program it runs
 * (root, setuid or with file capabilities) can change the rules that
 * protect it.  Without CAP_SETPCAP the bounding set cannot shrink; then
 * no_new_privs keeps an exec from giving them back.  0, or -1 with err.
 */
int ns_confine_child(char *err, size_t errlen);

/*
 * Overwrites the value of the variable name where it lies, in the block
 * /proc/PID/environ shows (the environment the process started with), and
 * removes the variable.  For a secret, once read: the daemon is PID 1 of
 * a container, and a node running as root can read that block.
 */
void ns_env_wipe(const char *name);

#endif
