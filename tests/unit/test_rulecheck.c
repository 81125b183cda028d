/*
 * test_rulecheck: the watchdog's check, "are all of nodeseal's rules still
 * there?" (src/intercept/rulecheck.c), against canned tool output.
 * - iptables-save of a host with the rules, as iptables-nft-save 1.8.9
 *   printed it (proxy and packet mode): nothing missing, also with other
 *   programs' rules and chains around ours;
 * - after "iptables -F; iptables -X", a single jump deleted, one of our
 *   chains flushed or short of a rule, a whole table gone: each counted
 *   and named, in its own table only;
 * - a jump to a chain whose name only starts like ours does not count;
 *   packet mode's two jumps from INPUT to one chain count twice;
 * - "nft list table inet nodeseal" against guard.c's script: a chain
 *   flushed, a chain deleted, the table gone;
 * - hostile text (huge lines, no newline, a tiny buffer for the names)
 *   neither overflows nor passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/intercept/intercept.h"
#include "tap.h"

/* ns_intercept_rules_text() (ruletext.c) for the defaults (iptables-restore input). */
static const char rules_proxy[] =
	"*nat\n"
	":NODESEAL_OUT - [0:0]\n"
	":NODESEAL_IN - [0:0]\n"
	"-A NODESEAL_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_OUT -m mark --mark 0x4e530001 -j RETURN\n"
	"-A NODESEAL_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_OUT -p tcp -m multiport --dports 7447 -j REDIRECT --to-ports 20051\n"
	"-A NODESEAL_IN -i lo -j RETURN\n"
	"-A NODESEAL_IN -m addrtype ! --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_IN -p tcp -m multiport --dports 7447 -j REDIRECT --to-ports 20052\n"
	"-I OUTPUT 1 -p tcp -j NODESEAL_OUT\n"
	"-I PREROUTING 1 -p tcp -j NODESEAL_IN\n"
	"COMMIT\n"
	"*mangle\n"
	":NODESEAL_MARK - [0:0]\n"
	"-A NODESEAL_MARK -m connmark --mark 0x4e530001 -j MARK --set-mark 0x4e530001\n"
	"-A NODESEAL_MARK -m mark --mark 0x4e530001 -j CONNMARK --set-mark 0x4e530001\n"
	"-I OUTPUT 1 -p tcp -j NODESEAL_MARK\n"
	"COMMIT\n"
	"*filter\n"
	":NODESEAL_GUARD_OUT - [0:0]\n"
	":NODESEAL_GUARD_IN - [0:0]\n"
	"-A NODESEAL_GUARD_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -m mark --mark 0x4e530001 -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -p tcp --tcp-flags RST RST -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -p tcp -m multiport --dports 7447 -j REJECT --reject-with tcp-reset\n"
	"-A NODESEAL_GUARD_OUT -p tcp -m multiport --sports 7447 -j REJECT --reject-with tcp-reset\n"
	"-A NODESEAL_GUARD_IN -i lo -j RETURN\n"
	"-A NODESEAL_GUARD_IN -p tcp -m multiport --dports 7447 -j DROP\n"
	"-I OUTPUT 1 -p tcp -j NODESEAL_GUARD_OUT\n"
	"-I INPUT 1 -p tcp -j NODESEAL_GUARD_IN\n"
	"COMMIT\n";

static const char rules_packet[] =
	"*mangle\n"
	":NODESEAL_PKT_OUT - [0:0]\n"
	":NODESEAL_PKT_IN - [0:0]\n"
	"-A NODESEAL_PKT_OUT -o lo -j RETURN\n"
	"-A NODESEAL_PKT_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_PKT_OUT -p tcp -m multiport --dports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_OUT -p tcp -m multiport --sports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_IN -p icmp -m icmp --icmp-type fragmentation-needed -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_IN -i lo -j RETURN\n"
	"-A NODESEAL_PKT_IN -p tcp -m multiport --dports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_IN -p tcp -m multiport --sports 7447 -j NFQUEUE --queue-num 7447\n"
	"-I OUTPUT 1 -p tcp -j NODESEAL_PKT_OUT\n"
	"-I INPUT 1 -p tcp -j NODESEAL_PKT_IN\n"
	"-I INPUT 1 -p icmp -j NODESEAL_PKT_IN\n"
	"COMMIT\n";

/* iptables-nft-save with those installed. */
static const char save_proxy[] =
	"*mangle\n"
	":PREROUTING ACCEPT [0:0]\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n"
	":NODESEAL_MARK - [0:0]\n"
	"-A OUTPUT -p tcp -j NODESEAL_MARK\n"
	"-A NODESEAL_MARK -m connmark --mark 0x4e530001 -j MARK --set-xmark 0x4e530001/0xffffffff\n"
	"-A NODESEAL_MARK -m mark --mark 0x4e530001 -j CONNMARK --set-xmark 0x4e530001/0xffffffff\n"
	"COMMIT\n"
	"*filter\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":NODESEAL_GUARD_IN - [0:0]\n"
	":NODESEAL_GUARD_OUT - [0:0]\n"
	"-A INPUT -p tcp -j NODESEAL_GUARD_IN\n"
	"-A OUTPUT -p tcp -j NODESEAL_GUARD_OUT\n"
	"-A NODESEAL_GUARD_IN -i lo -j RETURN\n"
	"-A NODESEAL_GUARD_IN -p tcp -m multiport --dports 7447 -j DROP\n"
	"-A NODESEAL_GUARD_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -m mark --mark 0x4e530001 -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -p tcp -m tcp --tcp-flags RST RST -j RETURN\n"
	"-A NODESEAL_GUARD_OUT -p tcp -m multiport --dports 7447 -j REJECT --reject-with tcp-reset\n"
	"-A NODESEAL_GUARD_OUT -p tcp -m multiport --sports 7447 -j REJECT --reject-with tcp-reset\n"
	"COMMIT\n"
	"*nat\n"
	":PREROUTING ACCEPT [0:0]\n"
	":INPUT ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n"
	":NODESEAL_IN - [0:0]\n"
	":NODESEAL_OUT - [0:0]\n"
	"-A PREROUTING -p tcp -j NODESEAL_IN\n"
	"-A OUTPUT -p tcp -j NODESEAL_OUT\n"
	"-A NODESEAL_IN -i lo -j RETURN\n"
	"-A NODESEAL_IN -m addrtype ! --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_IN -p tcp -m multiport --dports 7447 -j REDIRECT --to-ports 20052\n"
	"-A NODESEAL_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_OUT -m mark --mark 0x4e530001 -j RETURN\n"
	"-A NODESEAL_OUT -m addrtype --dst-type LOCAL -j RETURN\n"
	"-A NODESEAL_OUT -p tcp -m multiport --dports 7447 -j REDIRECT --to-ports 20051\n"
	"COMMIT\n";

static const char save_packet[] =
	"*mangle\n"
	":PREROUTING ACCEPT [0:0]\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":POSTROUTING ACCEPT [0:0]\n"
	":NODESEAL_PKT_IN - [0:0]\n"
	":NODESEAL_PKT_OUT - [0:0]\n"
	"-A INPUT -p icmp -j NODESEAL_PKT_IN\n"
	"-A INPUT -p tcp -j NODESEAL_PKT_IN\n"
	"-A OUTPUT -p tcp -j NODESEAL_PKT_OUT\n"
	"-A NODESEAL_PKT_IN -p icmp -m icmp --icmp-type 3/4 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_IN -i lo -j RETURN\n"
	"-A NODESEAL_PKT_IN -p tcp -m multiport --dports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_IN -p tcp -m multiport --sports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_OUT -o lo -j RETURN\n"
	"-A NODESEAL_PKT_OUT -m mark --mark 0x4e530000 -j RETURN\n"
	"-A NODESEAL_PKT_OUT -p tcp -m multiport --dports 7447 -j NFQUEUE --queue-num 7447\n"
	"-A NODESEAL_PKT_OUT -p tcp -m multiport --sports 7447 -j NFQUEUE --queue-num 7447\n"
	"COMMIT\n";

/* "nft list table inet nodeseal" with guard.c's tables installed. */
static const char nft_proxy[] =
	"table inet nodeseal {\n"
	"	chain guard_out {\n"
	"		type filter hook output priority filter; policy accept;\n"
	"		oif \"lo\" accept\n"
	"		meta mark 0x4e530000 accept\n"
	"		meta mark 0x4e530001 accept\n"
	"		tcp flags & rst == rst accept\n"
	"		tcp dport 7447 reject with tcp reset\n"
	"		tcp sport 7447 reject with tcp reset\n"
	"	}\n"
	"\n"
	"	chain guard_in {\n"
	"		type filter hook input priority filter; policy accept;\n"
	"		iif \"lo\" accept\n"
	"		tcp dport 7447 drop\n"
	"	}\n"
	"}\n";

static const char nft_packet[] =
	"table inet nodeseal {\n"
	"	chain guard_out {\n"
	"		type filter hook output priority filter; policy accept;\n"
	"		oif \"lo\" accept\n"
	"		meta mark 0x4e530000 accept\n"
	"		tcp dport 7447 drop\n"
	"		tcp sport 7447 drop\n"
	"	}\n"
	"\n"
	"	chain guard_in {\n"
	"		type filter hook input priority filter; policy accept;\n"
	"		iif \"lo\" accept\n"
	"		meta mark 0x4e530000 accept\n"
	"		tcp dport 7447 drop\n"
	"		tcp sport 7447 drop\n"
	"	}\n"
	"}\n";

/* text without its lines that contain needle (malloc'd). */
static char *without(const char *text, const char *needle)
{
	char *out = malloc(strlen(text) + 1);
	size_t n = 0;

	for (const char *p = text; *p != '\0';) {
		const char *end = strchrnul(p, '\n');
		size_t len = (size_t)(end - p) + (*end ? 1 : 0);
		char line[4096];
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (strstr(line, needle) == NULL) {
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	out[n] = '\0';
	return out;
}

/* text with every "from" replaced by "to" (same length). */
static char *replaced(const char *text, const char *from, const char *to)
{
	char *out = strdup(text);

	for (char *p = out; (p = strstr(p, from)) != NULL; p += strlen(to))
		memcpy(p, to, strlen(to));
	return out;
}

static void check(const char *saved, const char *rules, int want, const char *named,
                  const char *what_case)
{
	char what[512];
	int n = ns_intercept_rules_missing(saved, rules, what, sizeof(what));

	ok(n == want && (named == NULL || strstr(what, named) != NULL) && (want > 0 || !what[0]),
	   "%s: %d missing (want %d), \"%s\"", what_case, n, want, what);
}

static void test_iptables(void)
{
	char *s;

	check(save_proxy, rules_proxy, 0, NULL, "proxy rules in place");
	check(save_packet, rules_packet, 0, NULL, "packet rules in place");
	check(save_proxy, rules_packet, 4, "mangle chain NODESEAL_PKT_OUT",
	      "the other mode's rules are not ours");
	/* iptables -F; iptables -X for every table */
	s = without(save_proxy, "NODESEAL");
	check(s, rules_proxy, 10, "nat chain NODESEAL_OUT", "everything flushed and deleted");
	free(s);
	check("", rules_proxy, 10, "nat chain NODESEAL_OUT", "an empty dump");
	s = without(save_proxy, "-A OUTPUT -p tcp -j NODESEAL_OUT");
	check(s, rules_proxy, 1, "nat jump OUTPUT -> NODESEAL_OUT", "one jump deleted");
	free(s);
	s = without(save_proxy, "-A NODESEAL_GUARD_OUT ");
	check(s, rules_proxy, 1, "filter rules of NODESEAL_GUARD_OUT", "a chain flushed");
	free(s);
	s = without(save_proxy, "--dports 7447 -j DROP");
	check(s, rules_proxy, 1, "filter rules of NODESEAL_GUARD_IN", "a chain short of a rule");
	free(s);
	s = replaced(save_proxy, "*nat", "*nah");
	check(s, rules_proxy, 4, "nat chain NODESEAL_IN", "a whole table gone");
	free(s);
	/* firewalld, docker and the like add their own; ours are all there */
	{
		char extra[8192];
		snprintf(extra, sizeof(extra), "%s*filter\n:FOO - [0:0]\n-A INPUT -j FOO\n"
		         "-A FOO -j ACCEPT\n-A OUTPUT -j NODESEAL_GUARD_OUTX\nCOMMIT\n", save_proxy);
		check(extra, rules_proxy, 0, NULL, "others' rules around ours");
	}
	s = replaced(save_proxy, "-A OUTPUT -p tcp -j NODESEAL_OUT\n",
	             "-A OUTPUT -p ud -j NODESEAL_OUTX\n");
	check(s, rules_proxy, 1, "nat jump OUTPUT -> NODESEAL_OUT",
	      "a jump to NODESEAL_OUTX is not one to NODESEAL_OUT");
	free(s);
	s = without(save_packet, "-A INPUT -p icmp -j NODESEAL_PKT_IN");
	check(s, rules_packet, 1, "mangle jump INPUT -> NODESEAL_PKT_IN",
	      "packet mode: one of two jumps from INPUT gone");
	free(s);
	{
		char what[512];
		s = without(save_packet, "-A INPUT -p");
		const char *first;
		ok(ns_intercept_rules_missing(s, rules_packet, what, sizeof(what)) == 1 &&
		   (first = strstr(what, "NODESEAL_PKT_IN")) != NULL &&
		   strstr(first + 1, "NODESEAL_PKT_IN") == NULL,
		   "both jumps gone: counted and named once (\"%s\")", what);
		free(s);
	}
}

static void test_hostile(void)
{
	char small[16], *big = malloc(300000);

	memset(small, 'x', sizeof(small));
	ok(ns_intercept_rules_missing("", rules_proxy, small, sizeof(small)) == 10 &&
	   strlen(small) < sizeof(small), "names cut to the buffer (\"%s\")", small);
	ok(ns_intercept_rules_missing("", rules_proxy, NULL, 0) == 10, "no buffer for names");
	memset(big, 'A', 299999);
	big[299999] = '\0';
	memcpy(big, "*nat\n:NODESEAL_OUT ", 19);
	check(big, rules_proxy, 10, NULL, "a 300 KB line with no newline");
	memcpy(big, "*nat\n-A OUTPUT -j ", 18);
	check(big, rules_proxy, 10, NULL, "a 300 KB jump target");
	free(big);
	check("*nat\n:NODESEAL_OUT", rules_proxy, 10, NULL, "a truncated declaration");
}

static void guard_check(const char *listing, enum ns_mode mode, int want, const char *named,
                        const char *what_case)
{
	struct ns_config c;
	char script[4096], what[256];
	int n;

	memset(&c, 0, sizeof(c));
	c.mode = mode;
	c.fwmark = 0x4e530000;
	c.ports[0] = 7447;
	c.nports = 1;
	ns_intercept_guard_text(&c, script, sizeof(script));
	n = ns_intercept_guard_missing(listing, script, what, sizeof(what));
	ok(n == want && (named == NULL || strstr(what, named) != NULL),
	   "%s: %d missing (want %d), \"%s\"", what_case, n, want, what);
}

static void test_nft(void)
{
	char *s;

	guard_check(nft_proxy, NS_MODE_PROXY, 0, NULL, "proxy guard in place");
	guard_check(nft_packet, NS_MODE_PACKET, 0, NULL, "packet guard in place");
	guard_check(nft_packet, NS_MODE_PROXY, 1, "nft rules of guard_out",
	            "packet mode's guard is not proxy mode's");
	guard_check("", NS_MODE_PROXY, 2, "nft chain guard_out", "no table");
	s = without(nft_proxy, "\t\t");
	{
		/* "nft flush chain": the hook stays, the rules go */
		char *t = replaced(nft_proxy, "\t\toif \"lo\" accept\n", "\t\t#                 ");
		guard_check(t, NS_MODE_PROXY, 1, "nft rules of guard_out", "a rule of guard_out gone");
		free(t);
	}
	guard_check(s, NS_MODE_PROXY, 2, "nft rules of guard_in", "both chains flushed");
	free(s);
	s = replaced(nft_proxy, "chain guard_in {", "chain guard_inx{");
	guard_check(s, NS_MODE_PROXY, 1, "nft chain guard_in", "guard_inx is not guard_in");
	free(s);
}

int main(void)
{
	test_iptables();
	test_hostile();
	test_nft();
	return tap_done();
}
