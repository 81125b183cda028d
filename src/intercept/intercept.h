/*
 * intercept.h: the kernel's side of proxy and packet mode, set up with iptables and ip.
 *
 * nat OUTPUT:      outbound TCP to a protected port of another host goes to
 *                  the daemon's loopback listener (REDIRECT), except the
 *                  daemon's own sockets (marked).
 * nat PREROUTING:  inbound TCP to a protected local port goes to the
 *                  daemon's inbound listener (REDIRECT).
 * mangle OUTPUT:   the node's replies on connections the daemon delivered
 *                  from a peer's address carry the delivery mark, and a
 *                  policy rule routes that mark to lo, back to the daemon.
 * mangle POSTROUTING: a packet with that mark leaves by lo or not at all
 *                  (were the policy route gone, it would leave in clear).
 * filter OUTPUT/INPUT: the guard.  Every packet (not only a connection's
 *                  first, which is all nat sees) to a protected port is
 *                  refused unless it is the daemon's or was redirected.
 * filter INPUT:    the proxy ports, where nat sends the connections, reach
 *                  transparent sockets only (the daemon's); anything else
 *                  is reset, so a process that binds them after a crash
 *                  receives nothing.
 *
 * Packet mode (--mode packet) has none of these: mangle OUTPUT and INPUT
 * send every segment of a protected port to the daemon's NFQUEUE, with no
 * bypass, and INPUT the ICMP path MTU messages too (iptables.c,
 * packet_rules_text).
 *
 * Everything lives in chains named NODESEAL_* plus one jump per built-in
 * chain, installed in one iptables-restore per family.  Removal reads
 * iptables-save and deletes exactly what is there, so it also clears what a
 * crashed daemon left.  The rules stay while the daemon is down: with
 * nobody listening, intercepted connections are refused, never passed on.
 */
#ifndef NS_INTERCEPT_H
#define NS_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "../daemon/config.h"

#define NS_RULE_PREF 20051

/*
 * What this namespace has of IPv6.  NONE: the kernel has none (no
 * /proc/net/if_inet6, as with ipv6.disable=1), so nothing of it to
 * intercept.  OFF: switched off (disable_ipv6, no ::1); it may be switched
 * on again while the daemon runs, so its rules go in all the same, and
 * only what needs IPv6 now (proxy mode's listeners and policy routing)
 * stays out: connections over it are then refused, not relayed.
 */
enum ns_ipv6 { NS_IPV6_NONE, NS_IPV6_OFF, NS_IPV6_ON };
enum ns_ipv6 ns_intercept_ipv6(void);
/* Rules of an earlier daemon that did not stop (a crash), in any backend. */
bool ns_intercept_leftover(void);
/* Installs the rules; v6 is what ns_intercept_ipv6 said when the daemon
 * opened its listeners, so that rules and listeners agree. */
int ns_intercept_install(const struct ns_config *c, enum ns_ipv6 v6, char *err,
                         size_t errlen);
/* Removes every NODESEAL chain, jump and policy rule; 0 if none remain. */
int ns_intercept_remove(const struct ns_config *c, char *err, size_t errlen);
/* The protected ports of packet-mode rules in place now (any backend,
 * a crashed daemon's included), up to max: how many, 0 if there are no
 * such rules, -1 if the rules cannot be read. */
int ns_intercept_packet_ports(uint16_t *ports, int max);

#endif
