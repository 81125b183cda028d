/* iptables.c: installing and removing proxy mode's rules (intercept.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/exec.h"
#include "../util/log.h"
#include "intercept.h"

#define RULES_MAX 8192
#define SAVE_MAX (1 << 20)

struct family {
	const char *name;    /* for messages */
	bool v6;
	char restore[48], save[48];
};

static const char *backend_suffix(const char *backend)
{
	return strcmp(backend, "legacy") == 0 ? "-legacy" : strcmp(backend, "nft") == 0 ? "-nft" : "";
}

static void family_init(struct family *f, const char *backend, bool v6)
{
	const char *base = v6 ? "ip6tables" : "iptables";
	const char *sfx = backend_suffix(backend);

	f->name = v6 ? "IPv6" : "IPv4";
	f->v6 = v6;
	snprintf(f->restore, sizeof(f->restore), "%s%s-restore", base, sfx);
	snprintf(f->save, sizeof(f->save), "%s%s-save", base, sfx);
}

/* ::1 is listed in if_inet6 while lo has IPv6: a bind would not tell, as
 * net.ipv6.ip_nonlocal_bind lets it succeed without the address. */
enum ns_ipv6 ns_intercept_ipv6(void)
{
	FILE *f = fopen("/proc/net/if_inet6", "r");
	char line[256];
	enum ns_ipv6 v6 = NS_IPV6_OFF;

	if (f == NULL)
		return NS_IPV6_NONE;
	while (v6 == NS_IPV6_OFF && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "00000000000000000000000000000001 ", 33) == 0)
			v6 = NS_IPV6_ON;
	fclose(f);
	return v6;
}

__attribute__((format(printf, 3, 4)))
static int icp_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static int run(const char *const argv[], const char *input, char *out, size_t cap, char *err,
               size_t errlen)
{
	char errout[512];
	int rc = ns_exec(argv, input, out, cap, errout, sizeof(errout));

	if (rc == 0)
		return 0;
	trim(errout);
	if (rc < 0 || rc == 127)
		return icp_error(err, errlen, "cannot run %s: %s", argv[0],
		                 rc < 0 ? strerror(errno) : "not found");
	return icp_error(err, errlen, "%s failed (status %d): %s", argv[0], rc,
	                 errout[0] ? errout : "no message");
}

static void ports_text(const struct ns_config *c, char *ports, size_t cap)
{
	size_t n = 0;

	ports[0] = '\0';
	for (int i = 0; i < c->nports; i++)
		n += (size_t)snprintf(ports + n, cap - n, "%s%u", i ? "," : "", c->ports[i]);
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

/* The rules of one family, as iptables-restore input. */
static void rules_text(const struct ns_config *c, bool v6, char *out, size_t cap)
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
	         mark_out, mark_in, ports, c->proxy_port, ports, c->proxy_port + 1, mark_in, mark_in,
	         mark_in, mark_in, mark_in, mark_out, mark_in, ports, ports, ports, c->proxy_port,
	         c->proxy_port + 1);
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
		n += (size_t)snprintf(out + n, cap - n, "*%s\n", table);
	/* Jumps first, then flush every chain, then delete them. */
	for (int pass = 0; pass < (jumps_only ? 1 : 3); pass++) {
		struct save_walk w;

		for (walk_start(&w, saved, table); walk_next(&w, line, sizeof(line));) {
			if (pass == 0 && strncmp(line, "-A ", 3) == 0 &&
			    strncmp(line + 3, "NODESEAL_", 9) != 0 && strstr(line, "-j NODESEAL_")) {
				n += (size_t)snprintf(out + n, cap - n, "-D %s\n", line + 3);
				count++;
			} else if (pass > 0 && strncmp(line, ":NODESEAL_", 10) == 0) {
				*strchrnul(line, ' ') = '\0';
				n += (size_t)snprintf(out + n, cap - n, "%s %s\n", pass == 1 ? "-F" : "-X",
				                      line + 1);
				count++;
			}
		}
	}
	if (!jumps_only)
		n += (size_t)snprintf(out + n, cap - n, "COMMIT\n");
	return count;
}

/* Deletes our chains and jumps from one backend's tables; a backend whose
 * tools are not installed has nothing of ours. */
static int tables_remove_once(struct family *f, char *err, size_t errlen)
{
	char *saved = malloc(SAVE_MAX), cmds[RULES_MAX] = "";
	const char *save_argv[] = { f->save, NULL };
	const char *restore_argv[] = { f->restore, "--noflush", NULL };
	int count = 0, rc = -1, st;

	if (saved == NULL)
		return icp_error(err, errlen, "out of memory");
	st = ns_exec(save_argv, NULL, saved, SAVE_MAX, NULL, 0);
	if (st == 127 || (st < 0 && errno == ENOENT)) {
		rc = 0;
		goto out;
	}
	if (st != 0) {
		icp_error(err, errlen, "%s failed (status %d)", f->save, st);
		goto out;
	}
	count += removal_for_table(saved, "nat", cmds, sizeof(cmds), false);
	count += removal_for_table(saved, "mangle", cmds, sizeof(cmds), false);
	count += removal_for_table(saved, "filter", cmds, sizeof(cmds), false);
	if (count > 0 && run(restore_argv, cmds, NULL, 0, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	free(saved);
	return rc;
}

/* Another process (a stopping daemon, a second "down") may be removing
 * the same rules: a failed restore is retried from a fresh dump. */
static int tables_remove(struct family *f, char *err, size_t errlen)
{
	int rc = -1;

	for (int attempt = 0; attempt < 3 && rc != 0; attempt++)
		rc = tables_remove_once(f, err, errlen);
	return rc;
}

static void routing_remove(const struct ns_config *c, bool v6)
{
	const char *fam = v6 ? "-6" : "-4";
	char pref[16], mark[16], tbl[16], ignore[256];

	snprintf(pref, sizeof(pref), "%u", NS_RULE_PREF);
	snprintf(mark, sizeof(mark), "0x%x", c->fwmark + 1);
	snprintf(tbl, sizeof(tbl), "%u", c->route_table);
	for (int i = 0; i < 64; i++) {
		const char *argv[] = { "ip", fam, "rule", "del", "pref", pref, "fwmark", mark,
		                       "lookup", tbl, NULL };
		if (run(argv, NULL, NULL, 0, ignore, sizeof(ignore)) != 0)
			break;
	}
	{
		const char *argv[] = { "ip", fam, "route", "flush", "table", tbl, NULL };
		(void)run(argv, NULL, NULL, 0, ignore, sizeof(ignore));
	}
}


/*
 * Tables nodeseal brought into being.  iptables-restore creates the nat and
 * mangle tables when they are missing; with the nft backend they can be
 * deleted again, so that removal leaves iptables-save exactly as it was.
 * The list lives in the state directory, for a "down" after a crash.
 * (The legacy backend cannot drop a table the kernel has made: there an
 * empty table stays, which docs/SECURITY.md says.)
 */
static void created_path(const struct ns_config *c, char *out, size_t cap)
{
	snprintf(out, cap, "%s/iptables-created", c->state_dir);
}

static bool family_is_nft(struct family *f)
{
	char version[256];
	const char *argv[] = { f->save, "-V", NULL };

	return ns_exec(argv, NULL, version, sizeof(version), NULL, 0) == 0 &&
	       strstr(version, "nf_tables") != NULL;
}

/* Appends "ip nat" and the like for tables missing before install. */
static void note_missing_tables(const struct ns_config *c, struct family *f)
{
	static const char *const tables[] = { "nat", "mangle", "filter" };
	char *saved = malloc(SAVE_MAX), path[4200];
	const char *argv[] = { f->save, NULL };
	FILE *out;

	if (saved == NULL)
		return;
	if (ns_exec(argv, NULL, saved, SAVE_MAX, NULL, 0) == 0 && family_is_nft(f)) {
		created_path(c, path, sizeof(path));
		out = fopen(path, "a");
		for (int i = 0; out != NULL && i < 3; i++) {
			char marker[16];
			snprintf(marker, sizeof(marker), "*%s\n", tables[i]);
			if (strstr(saved, marker) == NULL)
				fprintf(out, "%s %s\n", f->v6 ? "ip6" : "ip", tables[i]);
		}
		if (out != NULL)
			fclose(out);
	}
	free(saved);
}

/* True if the saved dump shows table with no rules and no chains of its own. */
static bool table_empty(const char *saved, const char *table)
{
	char marker[32];
	const char *p, *end;

	snprintf(marker, sizeof(marker), "*%s\n", table);
	p = strstr(saved, marker);
	if (p == NULL)
		return false;
	end = strstr(p, "\nCOMMIT");
	for (const char *l = strchr(p, '\n'); l != NULL && l < end; l = strchr(l + 1, '\n')) {
		if (strncmp(l + 1, "-A ", 3) == 0)
			return false;
		if (l[1] == ':' && strstr(l, " ACCEPT ") != strchr(l, ' '))
			return false; /* a user chain ("-") or a non-ACCEPT policy */
	}
	return true;
}

static void drop_created_tables(const struct ns_config *c)
{
	char path[4200], line[64], *saved[2] = { NULL, NULL };
	FILE *in;

	created_path(c, path, sizeof(path));
	in = fopen(path, "r");
	if (in == NULL)
		return;
	while (fgets(line, sizeof(line), in) != NULL) {
		char fam[8], name[24];
		int v6;

		if (sscanf(line, "%7s %23s", fam, name) != 2)
			continue;
		v6 = strcmp(fam, "ip6") == 0;
		if (saved[v6] == NULL) {
			struct family f;
			family_init(&f, "nft", v6);
			const char *argv[] = { f.save, NULL };
			saved[v6] = malloc(SAVE_MAX);
			if (saved[v6] == NULL || ns_exec(argv, NULL, saved[v6], SAVE_MAX, NULL, 0) != 0)
				continue;
		}
		if (table_empty(saved[v6], name)) {
			const char *argv[] = { "nft", "delete", "table", fam, name, NULL };
			char ignore[256];
			(void)run(argv, NULL, NULL, 0, ignore, sizeof(ignore));
		}
	}
	fclose(in);
	free(saved[0]);
	free(saved[1]);
	unlink(path);
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
			n += (size_t)snprintf(out + n, cap - n, "%s %s\n", pass == 0 ? "-F" : "-X",
			                      line + 1);
		}
	}
}

/*
 * The rules as one iptables-restore input that replaces whatever nodeseal
 * rules are already there (left by a crash, or by another version) in the
 * same commit: the old jumps are deleted, the chains redeclared (which
 * flushes them) and filled.  There is no moment without interception, as
 * there would be with a removal followed by an install.
 */
static int replacement_text(const struct ns_config *c, struct family *f, char *out, size_t cap,
                            char *err, size_t errlen)
{
	char *saved = malloc(SAVE_MAX), *rules = malloc(RULES_MAX);
	const char *argv[] = { f->save, NULL };
	const char *p;
	size_t n = 0;
	int rc = -1;

	if (saved == NULL || rules == NULL) {
		icp_error(err, errlen, "out of memory");
		goto out;
	}
	if (run(argv, NULL, saved, SAVE_MAX, err, errlen) != 0)
		goto out;
	rules_text(c, f->v6, rules, RULES_MAX);
	out[0] = '\0';
	for (p = rules; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		if (n + len + 1 >= cap) {
			icp_error(err, errlen, "rules too long");
			goto out;
		}
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
	/* Tables the new rules leave alone may still hold the other mode's
	 * chains (a crash, then a start in the other mode). */
	for (int t = 0; t < 3; t++) {
		static const char *const tables[] = { "nat", "mangle", "filter" };
		char marker[16], probe[8192] = "";
		snprintf(marker, sizeof(marker), "*%s\n", tables[t]);
		if (strstr(rules, marker) != NULL ||
		    removal_for_table(saved, tables[t], probe, sizeof(probe), false) == 0)
			continue;
		if (n + strlen(probe) + 1 >= cap) {
			icp_error(err, errlen, "rules too long");
			goto out;
		}
		memcpy(out + n, probe, strlen(probe) + 1);
		n += strlen(probe);
	}
	rc = 0;
out:
	free(saved);
	free(rules);
	return rc;
}

/* routing: proxy mode's policy rule and route (not for an IPv6 that is
 * off: a route over lo cannot be added then, and without listeners
 * nothing is delivered that would need it). */
static int family_install(const struct ns_config *c, struct family *f, bool routing, char *err,
                          size_t errlen)
{
	const char *fam = f->v6 ? "-6" : "-4";
	const char *restore_argv[] = { f->restore, "--noflush", NULL };
	char rules[RULES_MAX], pref[16], mark[16], tbl[16];

	note_missing_tables(c, f);
	if (replacement_text(c, f, rules, sizeof(rules), err, errlen) != 0 ||
	    run(restore_argv, rules, NULL, 0, err, errlen) != 0)
		return -1;
	if (c->mode == NS_MODE_PACKET) {
		/* No delivery mark in packet mode; a proxy daemon's policy rule
		 * left by a crash goes. */
		routing_remove(c, f->v6);
		return 0;
	}
	if (!routing)
		return 0;
	snprintf(pref, sizeof(pref), "%u", NS_RULE_PREF);
	snprintf(mark, sizeof(mark), "0x%x", c->fwmark + 1);
	snprintf(tbl, sizeof(tbl), "%u", c->route_table);
	{
		/* Added only when missing: after a crash the rule is there, and
		 * taking it away even for a moment would send the node's replies
		 * on delivered connections out to the wire. */
		char shown[512];
		const char *show[] = { "ip", fam, "rule", "list", "pref", pref, NULL };
		const char *argv[] = { "ip", fam, "rule", "add", "pref", pref, "fwmark", mark,
		                       "lookup", tbl, NULL };
		if (run(show, NULL, shown, sizeof(shown), err, errlen) != 0)
			return -1;
		if (strstr(shown, "lookup") == NULL && run(argv, NULL, NULL, 0, err, errlen) != 0)
			return -1;
	}
	{
		const char *argv[] = { "ip", fam, "route", "replace", "local",
		                       f->v6 ? "::/0" : "0.0.0.0/0", "dev", "lo", "table", tbl, NULL };
		if (run(argv, NULL, NULL, 0, err, errlen) != 0)
			return -1;
	}
	return 0;
}

int ns_intercept_remove(const struct ns_config *c, char *err, size_t errlen)
{
	static const char *const backends[] = { "legacy", "nft", "auto" };
	int rc = 0;

	(void)c->iptables; /* removal sweeps every backend: it may differ from up's */
	for (int v6 = 0; v6 <= (ns_intercept_ipv6() != NS_IPV6_NONE); v6++) {
		for (int b = 0; b < 3; b++) {
			struct family f;
			char e[512];
			family_init(&f, backends[b], v6);
			if (tables_remove(&f, e, sizeof(e)) != 0 && rc == 0) {
				snprintf(err, errlen, "%s", e);
				rc = -1;
			}
		}
		routing_remove(c, v6);
	}
	{
		/* Last: it kept the ports closed while the rules above went. */
		char e[512];
		if (ns_intercept_guard_remove(e, sizeof(e)) != 0 && rc == 0) {
			snprintf(err, errlen, "%s", e);
			rc = -1;
		}
	}
	if (rc == 0)
		drop_created_tables(c);
	return rc;
}

bool ns_intercept_leftover(void)
{
	static const char *const backends[] = { "legacy", "nft" };
	bool found = false;
	char *saved = malloc(SAVE_MAX);

	if (saved == NULL)
		return true; /* cannot tell: keep what may protect */
	for (int v6 = 0; v6 <= (ns_intercept_ipv6() != NS_IPV6_NONE) && !found; v6++)
		for (int b = 0; b < 2 && !found; b++) {
			struct family f;
			family_init(&f, backends[b], v6);
			const char *save_argv[] = { f.save, NULL };
			if (ns_exec(save_argv, NULL, saved, SAVE_MAX, NULL, 0) == 0 &&
			    strstr(saved, ":NODESEAL_") != NULL)
				found = true;
		}
	free(saved);
	return found || ns_intercept_guard_present();
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

int ns_intercept_packet_ports(uint16_t *ports, int max)
{
	static const char *const backends[] = { "legacy", "nft" };
	char *saved = malloc(SAVE_MAX), line[1024];
	int n = 0, dumps = 0;

	if (saved == NULL)
		return -1;
	for (int v6 = 0; v6 <= (ns_intercept_ipv6() != NS_IPV6_NONE); v6++)
		for (int b = 0; b < 2; b++) {
			struct family f;
			struct save_walk w;
			family_init(&f, backends[b], v6);
			const char *save_argv[] = { f.save, NULL };
			int st = ns_exec(save_argv, NULL, saved, SAVE_MAX, NULL, 0);
			if (st == 127 || (st < 0 && errno == ENOENT))
				continue; /* that backend is not installed: nothing of ours */
			if (st != 0)
				goto fail;
			dumps++;
			for (walk_start(&w, saved, "mangle"); walk_next(&w, line, sizeof(line));)
				if (strncmp(line, "-A NODESEAL_PKT_OUT ", 20) == 0)
					ports_of_line(line, ports, max, &n);
		}
	free(saved);
	return dumps > 0 ? n : -1;
fail:
	free(saved);
	return -1;
}

int ns_intercept_install(const struct ns_config *c, enum ns_ipv6 v6, char *err,
                         size_t errlen)
{
	struct family f;
	char ignore[512];
	bool leftover = ns_intercept_leftover();

	/* The guard first: without nft there is no start (docs/SECURITY.md,
	 * "Rules taken away"), and nothing has been touched yet. */
	if (ns_intercept_guard_install(c, err, errlen) != 0)
		goto fail;
	family_init(&f, c->iptables, false);
	if (family_install(c, &f, true, err, errlen) != 0)
		goto fail;
	if (v6 != NS_IPV6_NONE) {
		/* With IPv6 up, or able to come up, and no way to intercept
		 * it, P2P over IPv6 would pass in clear: that is an error, not
		 * a warning. */
		family_init(&f, c->iptables, true);
		if (family_install(c, &f, v6 == NS_IPV6_ON, err, errlen) != 0)
			goto fail;
	}
	ns_log(NS_LOG_DEBUG, "interception installed (%s)", f.restore);
	return 0;
fail:
	/* After a crash, the rules left behind are what keeps the node's
	 * traffic from the wire: a failed restart keeps them (P2P stays
	 * blocked until "nodeseal down").  Otherwise nothing is left. */
	if (leftover)
		ns_log(NS_LOG_WARN, "rules of an earlier daemon kept: P2P stays blocked until "
		       "\"nodeseal down\"");
	else
		(void)ns_intercept_remove(c, ignore, sizeof(ignore));
	return -1;
}

/* One family's chains and jumps against what iptables-save shows. */
static int family_check(const struct ns_config *c, struct family *f, char *what, size_t cap)
{
	char *saved = malloc(SAVE_MAX), rules[RULES_MAX];
	const char *argv[] = { f->save, NULL };
	int rc = -1;

	if (saved == NULL)
		return -1;
	if (ns_exec(argv, NULL, saved, SAVE_MAX, NULL, 0) != 0)
		goto out;
	rules_text(c, f->v6, rules, sizeof(rules));
	rc = ns_intercept_rules_missing(saved, rules, what, cap) > 0;
out:
	free(saved);
	return rc;
}

int ns_intercept_check(const struct ns_config *c, enum ns_ipv6 ipv6, char *what, size_t cap)
{
	int rc = ns_intercept_guard_check(c, what, cap);

	for (int v6 = 0; v6 <= (ipv6 != NS_IPV6_NONE) && rc == 0; v6++) {
		struct family f;
		char found[384];
		family_init(&f, c->iptables, v6);
		rc = family_check(c, &f, found, sizeof(found));
		if (rc == 1)
			snprintf(what, cap, "%s: %s", f.name, found);
	}
	return rc;
}

int ns_intercept_restore(const struct ns_config *c, enum ns_ipv6 ipv6, char *err,
                         size_t errlen)
{
	struct family f;

	/* The guard first: it is what keeps the ports closed meanwhile. */
	if (ns_intercept_guard_install(c, err, errlen) != 0)
		return -1;
	for (int v6 = 0; v6 <= (ipv6 != NS_IPV6_NONE); v6++) {
		family_init(&f, c->iptables, v6);
		if (family_install(c, &f, !v6 || ipv6 == NS_IPV6_ON, err, errlen) != 0)
			return -1;
	}
	return 0;
}
