/* hostport.h: an address to listen on as an operator writes it:
 * "ADDR:PORT" (IPv4), "[IPv6]:PORT", or a bare "PORT" (127.0.0.1). */
#ifndef NS_HOSTPORT_H
#define NS_HOSTPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ns_hostport {
	struct sockaddr_storage sa;
	socklen_t salen;
	bool loopback;              /* 127.0.0.0/8 or ::1 */
	char text[64];              /* as it is shown: "127.0.0.1:9447", "[::1]:9447" */
};

/* 0, or -1 if s is none of the three forms (port 1-65535, literal
 * addresses only: no names). */
int ns_hostport_parse(const char *s, struct ns_hostport *out);
uint16_t ns_hostport_port(const struct ns_hostport *h);

#endif
