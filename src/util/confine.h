/* confine.h: what the node, the child of "nodeseal run", must not inherit. */
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

#endif
