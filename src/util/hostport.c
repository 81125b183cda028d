/* hostport.c: listening addresses as operators write them (hostport.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "hostport.h"

static int port_parse(const char *s, uint16_t *out)
{
	unsigned long v = 0;

	/* Decimal, and no leading zero: 09100 is not a way to write 9100. */
	if (*s == '\0' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int ns_hostport_parse(const char *s, struct ns_hostport *out)
{
	char host[64];
	const char *colon, *port;
	size_t hl;
	uint16_t p;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host) || memchr(s, ':', hl) != NULL)
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
	} else {
		strcpy(host, "127.0.0.1");
		port = s;
	}
	if (port_parse(port, &p) != 0)
		return -1;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(p);
		out->salen = sizeof(*a);
		out->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		snprintf(out->text, sizeof(out->text), "[%s]:%u", host, p);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons(p);
		out->salen = sizeof(*a);
		out->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		snprintf(out->text, sizeof(out->text), "%s:%u", host, p);
	}
	return 0;
}

uint16_t ns_hostport_port(const struct ns_hostport *h)
{
	if (h->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&h->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&h->sa)->sin_port);
}
