/*
 * sockowner.h: who serves the other end of a local TCP connection.  The
 * kernel's inet_diag (NETLINK_SOCK_DIAG) is asked for the server side's
 * socket of the 4-tuple of our connected IPv4 socket; its owner is the
 * listener's (an accepted socket keeps its listener's uid).
 */
#ifndef NS_SOCKOWNER_H
#define NS_SOCKOWNER_H

#include <stddef.h>
#include <sys/types.h>

/* The uid owning the other end of fd, a connected TCP socket over IPv4 to
 * a local address, into *uid: 0, or -1 with one sentence in err (no such
 * socket, or one not yet accepted after a few tries). */
int ns_sock_peer_uid(int fd, uid_t *uid, char *err, size_t errlen);

#endif
