/*
 * sockdiag.h: packet mode's hold on the node's own TCP sockets, through
 * NETLINK_SOCK_DIAG.
 *
 * Packet mode cannot carry a connection whose keys it does not have: after
 * a restart every connection of a protected port that is still open has
 * lost them, and once the rules are gone the stack would send on it in
 * clear.  So the daemon destroys such sockets (SOCK_DESTROY, as "ss -K"):
 * the stack sends a reset and the application gets ECONNABORTED at once,
 * instead of a connection that stalls until TCP gives up.  SOCK_DESTROY
 * needs CONFIG_INET_DIAG_DESTROY; without it the daemon still fails
 * closed, only more slowly (ns_sockdiag_probe says which).
 */
#ifndef NS_SOCKDIAG_H
#define NS_SOCKDIAG_H

#include <stdint.h>

#include "flow.h"

/* A NETLINK_SOCK_DIAG socket; -1 on failure. */
int ns_sockdiag_open(void);
/* Destroys one local TCP connection by its 4-tuple: 0 done, -1 not (gone,
 * or the kernel cannot).  Never the port's listener, which the kernel's
 * own lookup by tuple falls back to when the connection is gone. */
int ns_sockdiag_destroy(int fd, const struct ns_flow_tuple *tu);
/* 1 if this kernel can destroy sockets, 0 if not, -1 if it cannot tell. */
int ns_sockdiag_probe(int fd);
/*
 * Destroys every TCP socket of this network namespace, IPv4 and IPv6,
 * that is past its handshake or in it (not listening, not in TIME_WAIT)
 * with one of ports (host order) as local or remote port.  Returns how many
 * were destroyed, -1 if the dump failed.
 */
int ns_sockdiag_destroy_ports(int fd, const uint16_t *ports, int nports);

#endif
