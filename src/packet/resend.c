/*
 * resend.c: packet mode's raw sockets and interface MTUs (resend.h).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include "resend.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36   /* linux/in6.h, Linux 4.5 */
#endif

void ns_resend_init(struct ns_resend *r)
{
	memset(r, 0, sizeof(*r));
	r->raw4 = r->raw6 = -1;
}

/* A raw socket that sends whole IP packets with the given mark, checked
 * against the interface MTU only (PMTUDISC_PROBE); -1 on failure. */
static int raw_open(bool v6, uint32_t mark)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	                IPPROTO_RAW);
	int on = 1, probe = v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE, sndbuf = 4 << 20;

	if (fd < 0)
		return -1;
	/* Each of these must hold: unmarked, the packet would be queued again;
	 * without HDRINCL, wrapped in a second header; without PROBE, dropped
	 * by the very check it is meant to pass. */
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &on, sizeof(on)) != 0) ||
	    setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
	               &probe, sizeof(probe)) != 0) {
		close(fd);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)shutdown(fd, SHUT_RD);
	return fd;
}

int ns_resend_open(struct ns_resend *r, uint32_t mark, char *err, size_t errlen)
{
	r->raw4 = raw_open(false, mark);
	if (r->raw4 < 0) {
		snprintf(err, errlen, "raw IPv4 socket for path MTU: %s", strerror(errno));
		return -1;
	}
	if (access("/proc/net/if_inet6", F_OK) == 0) {
		r->raw6 = raw_open(true, mark);
		if (r->raw6 < 0) {
			snprintf(err, errlen, "raw IPv6 socket for path MTU: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

bool ns_resend_ready(const struct ns_resend *r, bool v6)
{
	return (v6 ? r->raw6 : r->raw4) >= 0;
}

/* DF stays as the stack set it, so a router on a path narrower still
 * reports again. */
int ns_resend_send(const struct ns_resend *r, const uint8_t *pkt, size_t len, int oif)
{
	bool v6 = pkt[0] >> 4 == 6;
	ssize_t n;

	if (v6) {
		struct sockaddr_in6 to = { .sin6_family = AF_INET6 };
		memcpy(&to.sin6_addr, pkt + 24, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&to.sin6_addr) && oif > 0)
			to.sin6_scope_id = (uint32_t)oif;
		n = sendto(r->raw6, pkt, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
	} else {
		struct sockaddr_in to = { .sin_family = AF_INET };
		memcpy(&to.sin_addr, pkt + 16, 4);
		n = sendto(r->raw4, pkt, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
	}
	return n == (ssize_t)len ? 0 : -1;
}

void ns_resend_close(struct ns_resend *r)
{
	if (r->raw4 >= 0)
		close(r->raw4);
	if (r->raw6 >= 0)
		close(r->raw6);
	r->raw4 = r->raw6 = -1;
}

unsigned ns_resend_if_mtu(struct ns_resend *r, int ifindex)
{
	char name[IF_NAMESIZE];
	struct ifreq ifr;
	int slot = ifindex & (NS_RESEND_MTU_SLOTS - 1), fd;

	if (ifindex <= 0)
		return 0;
	if (r->mtu_ifindex[slot] == ifindex)
		return r->mtu[slot];
	if (if_indextoname((unsigned)ifindex, name) == NULL)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name) < sizeof(name) ? sizeof(ifr.ifr_name)
	                                                                  : sizeof(name));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (ioctl(fd, SIOCGIFMTU, &ifr) != 0 || ifr.ifr_mtu <= 0) {
		close(fd);
		return 0;
	}
	close(fd);
	r->mtu_ifindex[slot] = ifindex;
	r->mtu[slot] = (unsigned)ifr.ifr_mtu;
	return r->mtu[slot];
}

/* MTUs change rarely: the queue forgets them once a second. */
void ns_resend_forget_mtus(struct ns_resend *r)
{
	memset(r->mtu_ifindex, 0, sizeof(r->mtu_ifindex));
}
