/* net.h: sockets as the relay needs them. */
#ifndef NS_NET_H
#define NS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Where a REDIRECTed connection was going (SO_ORIGINAL_DST). */
int ns_original_dst(int fd, struct sockaddr_storage *out);
void ns_addr_text(const struct sockaddr_storage *a, char *out, size_t cap);
uint16_t ns_addr_port(const struct sockaddr_storage *a);
void ns_addr_set_port(struct sockaddr_storage *a, uint16_t port);
bool ns_addr_is_loopback(const struct sockaddr_storage *a);
/*
 * A non-blocking connection to dst, its packets marked with mark.  With
 * from, it leaves from that address and port (port 0: the kernel's choice);
 * with transparent, the address need not be ours (IP_TRANSPARENT).
 * Returns the socket, or -1 with err set and errno kept (EADDRINUSE or
 * EADDRNOTAVAIL: that port is taken).
 */
int ns_socket_connect(const struct sockaddr_storage *dst, const struct sockaddr_storage *from,
                      bool transparent, uint32_t mark, char *err, size_t errlen);
/* The kernel's ephemeral port range (ip_local_port_range). */
void ns_ephemeral_range(unsigned *lo, unsigned *hi);
/* The next port after port in the kernel's ephemeral range, wrapping. */
uint16_t ns_next_ephemeral_port(uint16_t port, int step);
/* A non-blocking transparent listener (IP_TRANSPARENT: the rules let only
 * such sockets receive on the proxy ports) on addr (a literal) and port.
 * The sockets it accepts inherit TCP_NODELAY and, with keepalive, TCP
 * keepalive.  A port another process holds is named as such in err. */
int ns_socket_listen(const char *addr, uint16_t port, bool keepalive, char *err,
                     size_t errlen);
/* No Nagle delay; with keepalive, TCP keepalive (60 s idle, 10 s x 6). */
void ns_socket_tune(int fd, bool keepalive);
/* Makes the next close() send a reset. */
void ns_socket_reset(int fd);

#endif
