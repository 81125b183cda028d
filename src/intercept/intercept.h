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
 * bypass, and INPUT the ICMP path MTU messages too (the rules text:
 * ruletext.c).
 *
 * Everything lives in chains named NODESEAL_* plus one jump per built-in
 * chain, installed in one iptables-restore per family.  A second guard
 * lives in nodeseal's own nftables table, "inet nodeseal" (guard.c), which
 * the tools that flush iptables leave alone: while another program has
 * taken the iptables rules away, it keeps the protected ports closed, and
 * the daemon's watchdog (ns_intercept_check, ns_intercept_restore) puts
 * them back.  Removal reads
 * iptables-save and deletes exactly what is there, so it also clears what a
 * crashed daemon left.  The rules stay while the daemon is down: with
 * nobody listening, intercepted connections are refused, never passed on.
 */
#ifndef NS_INTERCEPT_H
#define NS_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "../config/config.h"

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

/* The watchdog.  0 if every chain, jump and the guard table are in place;
 * 1 if something is missing (named in what); -1 if the tools cannot say. */
int ns_intercept_check(const struct ns_config *c, enum ns_ipv6 ipv6, char *what, size_t cap);
/* Puts everything back (guard table first), over whatever is left; on
 * failure it removes nothing. */
int ns_intercept_restore(const struct ns_config *c, enum ns_ipv6 ipv6, char *err,
                         size_t errlen);

/* guard.c: the nftables table. */
void ns_intercept_guard_text(const struct ns_config *c, char *out, size_t cap);
int ns_intercept_guard_install(const struct ns_config *c, char *err, size_t errlen);
/* 0 if the table is gone (or nft is not installed: then it never was). */
int ns_intercept_guard_remove(char *err, size_t errlen);
bool ns_intercept_guard_present(void);
/* As ns_intercept_check, for the guard table alone. */
int ns_intercept_guard_check(const struct ns_config *c, char *what, size_t cap);

/* rulecheck.c, pure.  How many of the chains, their rules and the jumps in
 * rules (iptables-restore input as nodeseal writes it) are missing from
 * saved (iptables-save output); the first few named in what. */
int ns_intercept_rules_missing(const char *saved, const char *rules, char *what, size_t cap);
/* The same for the chains of script (nft input as guard.c writes it) in
 * listing ("nft list table" output). */
int ns_intercept_guard_missing(const char *listing, const char *script, char *what, size_t cap);

#endif
