/*
 * watchdog.h: the rules, checked once a second.  Another program may take
 * them away (iptables -F, a firewall reload); the guard table keeps the
 * protected ports closed meanwhile (intercept.h), and the watchdog puts
 * the rules back.
 */
#ifndef NS_WATCHDOG_H
#define NS_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"

struct ns_watchdog {
	uint64_t restored;          /* times the rules were put back */
	bool missing;               /* missing, and putting them back failed */
	int64_t missing_ms;         /* since when */
	bool unknown;               /* the tools could not say (logged once) */
};

/* ipv6: the enum ns_ipv6 decided at start, so that what is checked and
 * restored is what was installed. */
void ns_watchdog_check(struct ns_watchdog *w, const struct ns_config *cfg, int ipv6,
                       int64_t now_ms);

#endif
