/*
 * ruletext.h: the iptables text nodeseal writes and reads, with no I/O.
 *
 * iptables.c runs the tools (iptables-save, iptables-restore); everything
 * it hands them or reads back is made or read here, so that a unit test can
 * hold the text of each backend's dump against what comes out.  The dump
 * ("saved") is iptables-save output of one family; the rules are
 * iptables-restore input, as one --noflush commit per table.
 */
#ifndef NS_RULETEXT_H
#define NS_RULETEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ns_config;

/* Room for the rules of one family and for the commands that replace or
 * remove them. */
#define NS_INTERCEPT_RULES_MAX 8192

/* The rules of one family (v6: ip6tables), for c->mode. */
void ns_intercept_rules_text(const struct ns_config *c, bool v6, char *out, size_t cap);

/* The commands that delete every NODESEAL chain and jump in saved's nat,
 * mangle and filter tables, into out; returns how many things they
 * delete (0: nothing of ours, out holds empty commits). */
int ns_intercept_removal_text(const char *saved, char *out, size_t cap);

/*
 * The rules of one family as one input that replaces, in the same commit,
 * whatever nodeseal rules saved already holds (a crashed daemon's, either
 * mode's): the old jumps deleted, the chains redeclared (which flushes
 * them) and filled, chains no longer declared deleted.  0, or -1 if it
 * does not fit in cap.
 */
int ns_intercept_replacement_text(const struct ns_config *c, bool v6, const char *saved,
                                  char *out, size_t cap);

/* True if saved shows table with no rules and no chains of its own (and
 * every built-in chain's policy ACCEPT): as iptables-restore creates it. */
bool ns_intercept_table_empty(const char *saved, const char *table);

/* Adds the protected ports of packet-mode rules in saved (mangle
 * NODESEAL_PKT_OUT) to ports[*n], each once, up to max. */
void ns_intercept_saved_packet_ports(const char *saved, uint16_t *ports, int max, int *n);

#endif
