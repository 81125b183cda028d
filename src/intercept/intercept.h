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
 * filter OUTPUT/INPUT: the guard.  Every packet (not only a connection's
 *                  first, which is all nat sees) to a protected port is
 *                  refused unless it is the daemon's or was redirected.
 *
 * Packet mode (--mode packet) has none of these: mangle OUTPUT and INPUT
 * send every segment of a protected port to the daemon's NFQUEUE, with no
 * bypass, and INPUT the ICMP path MTU messages too (iptables.c,
 * packet_rules_text).
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

#include "../daemon/config.h"

#define NS_RULE_PREF 20051

bool ns_intercept_ipv6(void);
int ns_intercept_install(const struct ns_config *c, char *err, size_t errlen);
/* Removes every NODESEAL chain, jump and policy rule; 0 if none remain. */
int ns_intercept_remove(const struct ns_config *c, char *err, size_t errlen);

/* The watchdog.  0 if every chain, jump and the guard table are in place;
 * 1 if something is missing (named in what); -1 if the tools cannot say. */
int ns_intercept_check(const struct ns_config *c, char *what, size_t cap);
/* Puts everything back (guard table first), over whatever is left; on
 * failure it removes nothing. */
int ns_intercept_restore(const struct ns_config *c, char *err, size_t errlen);

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
