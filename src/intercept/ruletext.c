/*
 * ruletext.c: the rules nodeseal installs, and reading iptables-save's
 * dumps to remove or replace them (ruletext.h).  No I/O: iptables.c runs
 * the tools with this text.
 *
 * The dumps are read line by line within one table ("*nat" to "COMMIT").
 * Ours are the chains named NODESEAL_* and the jumps to them from built-in
 * chains; a rule of another program is never touched, whatever it says.
 * Each backend prints a rule in its own canonical form, so a jump is
 * deleted by repeating the rule as the dump shows it ("-D" for "-A").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intercept.h"
#include "ruletext.h"

/* Appends to out (n bytes used of cap); what does not fit is cut, and the
 * restore of a cut text fails for its missing COMMIT, as it should. */
__attribute__((format(printf, 4, 5)))
static void append(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (*n + 1 >= cap)
		return;
	va_start(ap, fmt);
	len = vsnprintf(out + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (len > 0)
		*n = *n + (size_t)len < cap ? *n + (size_t)len : cap - 1;
}

static void ports_text(const struct ns_config *c, char *ports, size_t cap)
{
	size_t n = 0;

	ports[0] = '\0';
	for (int i = 0; i < c->nports; i++)
		append(ports, cap, &n, "%s%u", i ? "," : "", c->ports[i]);
}

/*
 * Packet mode: every TCP segment of a protected port, either end of the
 * connection, leaving or arriving, goes to the daemon's queue.  No
 * --queue-bypass: with nobody bound to the queue (the daemon stopped or
 * crashed) the kernel drops the segments, so nothing of a protected port
 * passes in clear.  Loopback stays out: it never reaches a wire.
 *
 * mangle, not filter: the segments are rewritten (the nodeseal option,
 * payload), and mangle is the table meant for that; INPUT, not
 * PREROUTING, so that a host routing other nodes' traffic leaves it alone.
 * Conntrack (priority -200) sees the segments before the queue (-150);
 * their sequence numbers and payload lengths do not change, so its view of
 * the connection holds.
 *
 * Path MTU (docs/PROTOCOL.md, "MTU"): ICMP "fragmentation needed" and
 * ICMPv6 "packet too big" arriving at this host go to the queue too, ahead
 * of the loopback exception (the kernel reports its own drops for a too
 * small MTU over lo); the daemon lowers the MTU of those quoting a
 * protected port's segment and accepts every one.  No bypass here either:
 * with no daemon they are dropped, as the segments are.  The daemon sends
 * sealed segments longer than the MTU it gave the stack on a raw socket
 * marked with the fwmark: those are sealed already and pass.
 */
static void packet_rules_text(const struct ns_config *c, bool v6, char *out, size_t cap)
{
	char ports[128];
	unsigned q = c->queue_num;
	const char *icmp = v6 ? "-p ipv6-icmp -m icmp6 --icmpv6-type packet-too-big"
	                      : "-p icmp -m icmp --icmp-type fragmentation-needed";
	const char *proto = v6 ? "ipv6-icmp" : "icmp";

	ports_text(c, ports, sizeof(ports));
	snprintf(out, cap,
	         "*mangle\n"
	         ":NODESEAL_PKT_OUT - [0:0]\n"
	         ":NODESEAL_PKT_IN - [0:0]\n"
	         "-A NODESEAL_PKT_OUT -o lo -j RETURN\n"
	         "-A NODESEAL_PKT_OUT -m mark --mark 0x%x -j RETURN\n"
	         "-A NODESEAL_PKT_OUT -p tcp -m multiport --dports %s -j NFQUEUE --queue-num %u\n"
	         "-A NODESEAL_PKT_OUT -p tcp -m multiport --sports %s -j NFQUEUE --queue-num %u\n"
	         "-A NODESEAL_PKT_IN %s -j NFQUEUE --queue-num %u\n"
	         "-A NODESEAL_PKT_IN -i lo -j RETURN\n"
	         "-A NODESEAL_PKT_IN -p tcp -m multiport --dports %s -j NFQUEUE --queue-num %u\n"
	         "-A NODESEAL_PKT_IN -p tcp -m multiport --sports %s -j NFQUEUE --queue-num %u\n"
	         "-I OUTPUT 1 -p tcp -j NODESEAL_PKT_OUT\n"
	         "-I INPUT 1 -p tcp -j NODESEAL_PKT_IN\n"
	         "-I INPUT 1 -p %s -j NODESEAL_PKT_IN\n"
	         "COMMIT\n",
	         c->fwmark, ports, q, ports, q, icmp, q, ports, q, ports, q, proto);
}

void ns_intercept_rules_text(const struct ns_config *c, bool v6, char *out, size_t cap)
{
	char ports[128];
	uint32_t mark_out = c->fwmark, mark_in = c->fwmark + 1;

	if (c->mode == NS_MODE_PACKET) {
		packet_rules_text(c, v6, out, cap);
		return;
	}
	ports_text(c, ports, sizeof(ports));
	snprintf(out, cap,
	         "*nat\n"
	         ":NODESEAL_OUT - [0:0]\n"
	         ":NODESEAL_IN - [0:0]\n"
	         "-A NODESEAL_OUT -m mark --mark 0x%x -j RETURN\n"
	         "-A NODESEAL_OUT -m mark --mark 0x%x -j RETURN\n"
	         "-A NODESEAL_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	         "-A NODESEAL_OUT -p tcp -m multiport --dports %s -j REDIRECT --to-ports %u\n"
	         "-A NODESEAL_IN -i lo -j RETURN\n"
	         "-A NODESEAL_IN -m addrtype ! --dst-type LOCAL -j RETURN\n"
	         "-A NODESEAL_IN -p tcp -m multiport --dports %s -j REDIRECT --to-ports %u\n"
	         "-I OUTPUT 1 -p tcp -j NODESEAL_OUT\n"
	         "-I PREROUTING 1 -p tcp -j NODESEAL_IN\n"
	         "COMMIT\n"
	         "*mangle\n"
	         ":NODESEAL_MARK - [0:0]\n"
	         ":NODESEAL_LOCAL - [0:0]\n"
	         "-A NODESEAL_MARK -m connmark --mark 0x%x -j MARK --set-mark 0x%x\n"
	         "-A NODESEAL_MARK -m mark --mark 0x%x -j CONNMARK --set-mark 0x%x\n"
	         "-I OUTPUT 1 -p tcp -j NODESEAL_MARK\n"
	         /* The delivery mark is for lo only (deliveries, and the node's
	          * replies on them, which the policy route takes back to the
	          * daemon).  Were that route gone (IPv6 on lo switched off and
	          * on, lo down and up, a flush), the replies would take the
	          * main table to the wire, in clear, and the guard lets marked
	          * packets pass.  POSTROUTING, not filter OUTPUT: only here is
	          * the device the one after the mark's rerouting. */
	         "-A NODESEAL_LOCAL -o lo -j RETURN\n"
	         "-A NODESEAL_LOCAL -m mark --mark 0x%x -j DROP\n"
	         "-I POSTROUTING 1 -p tcp -j NODESEAL_LOCAL\n"
	         "COMMIT\n"
	         /* The guard: nat sees only a connection's first packet, so a
	          * packet whose conntrack entry escaped the REDIRECT (a 4-tuple
	          * reused from one of the daemon's own connections, say) would
	          * pass.  filter sees every packet: nothing unmarked leaves for
	          * a protected port, nothing unredirected arrives at one. */
	         "*filter\n"
	         ":NODESEAL_GUARD_OUT - [0:0]\n"
	         ":NODESEAL_GUARD_IN - [0:0]\n"
	         ":NODESEAL_LISTEN - [0:0]\n"
	         "-A NODESEAL_GUARD_OUT -m mark --mark 0x%x -j RETURN\n"
	         "-A NODESEAL_GUARD_OUT -m mark --mark 0x%x -j RETURN\n"
	         "-A NODESEAL_GUARD_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	         /* the kernel's resets for connections already gone carry no
	          * payload, and the far end must see them */
	         "-A NODESEAL_GUARD_OUT -p tcp --tcp-flags RST RST -j RETURN\n"
	         "-A NODESEAL_GUARD_OUT -p tcp -m multiport --dports %s -j REJECT --reject-with tcp-reset\n"
	         /* and nothing from one: a connection in clear from before
	          * nodeseal started, the node serving, dies here */
	         "-A NODESEAL_GUARD_OUT -p tcp -m multiport --sports %s -j REJECT --reject-with tcp-reset\n"
	         "-A NODESEAL_GUARD_IN -i lo -j RETURN\n"
	         "-A NODESEAL_GUARD_IN -p tcp -m multiport --dports %s -j DROP\n"
	         /* The proxy ports take what the nat rules redirect, so only
	          * the daemon's own sockets may receive there: a process that
	          * binds them once the daemon is gone (a crash; the ports are
	          * unprivileged) would get the node's bytes in clear.  The
	          * daemon's listeners are transparent, which takes
	          * CAP_NET_ADMIN or CAP_NET_RAW; anything else is reset, as a
	          * closed port would be.  --nowildcard: the inbound listener
	          * is bound to the any address.  Loopback included: that is
	          * where the node's own connections arrive. */
	         "-A NODESEAL_LISTEN -m socket --transparent --nowildcard -j RETURN\n"
	         "-A NODESEAL_LISTEN -p tcp -j REJECT --reject-with tcp-reset\n"
	         "-I OUTPUT 1 -p tcp -j NODESEAL_GUARD_OUT\n"
	         "-I INPUT 1 -p tcp -j NODESEAL_GUARD_IN\n"
	         "-I INPUT 1 -p tcp -m multiport --dports %u,%u -j NODESEAL_LISTEN\n"
	         "COMMIT\n",
	         mark_out, mark_in, ports, c->proxy_port, ports, c->proxy_port + 1u, mark_in, mark_in,
	         mark_in, mark_in, mark_in, mark_out, mark_in, ports, ports, ports, c->proxy_port,
	         c->proxy_port + 1u);
}

/* Walks the lines of one table of an iptables-save dump. */
struct save_walk {
	const char *next;
	char marker[32];
	bool in_table;
};

static void walk_start(struct save_walk *w, const char *saved, const char *table)
{
	w->next = saved;
	w->in_table = false;
	snprintf(w->marker, sizeof(w->marker), "*%s", table);
}

/* The table's next line, into line (lines of cap bytes or more are not
 * ours: skipped); false at the end of the dump. */
static bool walk_next(struct save_walk *w, char *line, size_t cap)
{
	while (*w->next != '\0') {
		const char *p = w->next, *end = strchrnul(p, '\n');
		size_t len = (size_t)(end - p);

		w->next = *end ? end + 1 : end;
		if (len >= cap)
			continue;
		memcpy(line, p, len);
		line[len] = '\0';
		if (line[0] == '*')
			w->in_table = strcmp(line, w->marker) == 0;
		else if (w->in_table)
			return true;
	}
	return false;
}

/* Appends to out the commands that delete our chains and jumps found in
 * one table of saved (only the jumps, bare, with jumps_only); returns how
 * many things it will delete. */
static int removal_for_table(const char *saved, const char *table, char *out, size_t cap,
                             bool jumps_only)
{
	char line[1024];
	size_t n = strlen(out);
	int count = 0;

	if (!jumps_only)
		append(out, cap, &n, "*%s\n", table);
	/* Jumps first, then flush every chain, then delete them. */
	for (int pass = 0; pass < (jumps_only ? 1 : 3); pass++) {
		struct save_walk w;

		for (walk_start(&w, saved, table); walk_next(&w, line, sizeof(line));) {
			if (pass == 0 && strncmp(line, "-A ", 3) == 0 &&
			    strncmp(line + 3, "NODESEAL_", 9) != 0 && strstr(line, "-j NODESEAL_")) {
				append(out, cap, &n, "-D %s\n", line + 3);
				count++;
			} else if (pass > 0 && strncmp(line, ":NODESEAL_", 10) == 0) {
				*strchrnul(line, ' ') = '\0';
				append(out, cap, &n, "%s %s\n", pass == 1 ? "-F" : "-X", line + 1);
				count++;
			}
		}
	}
	if (!jumps_only)
		append(out, cap, &n, "COMMIT\n");
	return count;
}

int ns_intercept_removal_text(const char *saved, char *out, size_t cap)
{
	out[0] = '\0';
	return removal_for_table(saved, "nat", out, cap, false) +
	       removal_for_table(saved, "mangle", out, cap, false) +
	       removal_for_table(saved, "filter", out, cap, false);
}

/* Appends "-F" and "-X" for each NODESEAL chain of table in saved that
 * rules does not declare again: after the old jumps are deleted, nothing
 * refers to it. */
static void stale_chains(const char *saved, const char *table, const char *rules, char *out,
                         size_t cap)
{
	char line[256], decl[300];
	size_t n = strlen(out);

	for (int pass = 0; pass < 2; pass++) {
		struct save_walk w;

		for (walk_start(&w, saved, table); walk_next(&w, line, sizeof(line));) {
			if (strncmp(line, ":NODESEAL_", 10) != 0)
				continue;
			*strchrnul(line, ' ') = '\0';
			snprintf(decl, sizeof(decl), "%s ", line);
			if (strstr(rules, decl) != NULL)
				continue;
			append(out, cap, &n, "%s %s\n", pass == 0 ? "-F" : "-X", line + 1);
		}
	}
}

/* Our chains of the tables rules leaves alone: the other mode's, after a
 * crash and a start in this one. */
static int other_tables(const char *saved, const char *rules, char *out, size_t cap)
{
	static const char *const tables[] = { "nat", "mangle", "filter" };
	size_t n = strlen(out);

	for (int t = 0; t < 3; t++) {
		char marker[16], probe[NS_INTERCEPT_RULES_MAX] = "";
		snprintf(marker, sizeof(marker), "*%s\n", tables[t]);
		if (strstr(rules, marker) != NULL ||
		    removal_for_table(saved, tables[t], probe, sizeof(probe), false) == 0)
			continue;
		if (n + strlen(probe) + 1 >= cap)
			return -1;
		memcpy(out + n, probe, strlen(probe) + 1);
		n += strlen(probe);
	}
	return 0;
}

/* Each table's old jumps and stale chains go right after its header, so
 * that they go in the commit that fills it anew. */
int ns_intercept_replacement_text(const struct ns_config *c, bool v6, const char *saved,
                                  char *out, size_t cap)
{
	char rules[NS_INTERCEPT_RULES_MAX];
	size_t n = 0;

	ns_intercept_rules_text(c, v6, rules, NS_INTERCEPT_RULES_MAX);
	out[0] = '\0';
	for (const char *p = rules; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		if (n + len + 1 >= cap)
			return -1;
		memcpy(out + n, p, len);
		n += len;
		out[n] = '\0';
		if (p[0] == '*') {
			char table[16];
			snprintf(table, sizeof(table), "%.*s", (int)(len - 2), p + 1);
			removal_for_table(saved, table, out, cap, true);
			stale_chains(saved, table, rules, out, cap);
			n = strlen(out);
		}
		p += len;
	}
	return other_tables(saved, rules, out, cap);
}

bool ns_intercept_table_empty(const char *saved, const char *table)
{
	char marker[32];
	const char *p, *end;

	snprintf(marker, sizeof(marker), "*%s\n", table);
	p = strstr(saved, marker);
	if (p == NULL)
		return false;
	end = strstr(p, "\nCOMMIT");
	if (end == NULL)
		return false; /* a dump cut short proves nothing */
	for (const char *l = strchr(p, '\n'); l != NULL && l < end; l = strchr(l + 1, '\n')) {
		if (strncmp(l + 1, "-A ", 3) == 0)
			return false;
		if (l[1] == ':' && strstr(l, " ACCEPT ") != strchr(l, ' '))
			return false; /* a user chain ("-") or a non-ACCEPT policy */
	}
	return true;
}

/* Adds the ports of a "--dports A,B,C" in line to ports[*n], once each. */
static void ports_of_line(const char *line, uint16_t *ports, int max, int *n)
{
	const char *p = strstr(line, "--dports ");

	for (p = p ? p + 9 : NULL; p != NULL && *n < max;) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		bool seen = false;
		if (end == p || v == 0 || v > 65535)
			return;
		for (int i = 0; i < *n; i++)
			seen |= ports[i] == v;
		if (!seen)
			ports[(*n)++] = (uint16_t)v;
		p = *end == ',' ? end + 1 : NULL;
	}
}

void ns_intercept_saved_packet_ports(const char *saved, uint16_t *ports, int max, int *n)
{
	struct save_walk w;
	char line[1024];

	for (walk_start(&w, saved, "mangle"); walk_next(&w, line, sizeof(line));)
		if (strncmp(line, "-A NODESEAL_PKT_OUT ", 20) == 0)
			ports_of_line(line, ports, max, n);
}
