/* net.h: sockets as the relay needs them. */
#ifndef NS_NET_H
#define NS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../daemon/config.h"

/* Where a REDIRECTed connection was going (SO_ORIGINAL_DST). */
int ns_original_dst(int fd, struct sockaddr_storage *out);
void ns_addr_text(const struct sockaddr_storage *a, char *out, size_t cap);
uint16_t ns_addr_port(const struct sockaddr_storage *a);
bool ns_addr_is_loopback(const struct sockaddr_storage *a);
bool ns_port_protected(const struct ns_config *c, uint16_t port);
/*
 * A non-blocking connection to dst, its packets marked with mark.  With
 * from (and transparent), it leaves from that address, which need not be
 * ours (IP_TRANSPARENT).  Returns the socket, or -1 with err set.
 */
int ns_socket_connect(const struct sockaddr_storage *dst, const struct sockaddr_storage *from,
                      bool transparent, uint32_t mark, char *err, size_t errlen);
/* The next port after port in the kernel's ephemeral range, wrapping. */
uint16_t ns_next_ephemeral_port(uint16_t port, int step);
/* A non-blocking listener on addr (a literal) and port. */
int ns_socket_listen(const char *addr, uint16_t port, char *err, size_t errlen);
/* Non-blocking, no Nagle delay, keepalive. */
void ns_socket_tune(int fd);
/* Makes the next close() send a reset. */
void ns_socket_reset(int fd);

#endif
