/*
 * test_ruletext: the iptables text nodeseal writes and reads
 * (src/intercept/ruletext.c), against golden texts.
 * - the rules of both modes and both families;
 * - the removal commands for dumps of both backends (iptables-nft-save and
 *   iptables-legacy-save, ruletext_dumps.h) that hold our chains beside
 *   other programs' rules and chains: every one of ours, nothing else;
 * - the replacement over the same mode's rules, and over the other mode's
 *   (a crash, then a start in that mode): its chains become stale and go;
 * - over a dump with nothing of ours, the rules as they are;
 * - which tables are empty, as iptables-restore leaves them;
 * - the protected ports read back from packet-mode rules, once each;
 * - buffers too small: cut or refused, never overrun.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/intercept/intercept.h"
#include "../../src/intercept/ruletext.h"
#include "ruletext_dumps.h"
#include "ruletext_golden.h"
#include "tap.h"

static struct ns_config config(enum ns_mode mode)
{
	struct ns_config c = { .nports = 1, .mode = mode, .queue_num = 7447,
	                       .proxy_port = 20051, .fwmark = 0x4e530000 };

	c.ports[0] = 7447;
	return c;
}

/* The first line where got and want part, for the log. */
static void show_difference(const char *got, const char *want)
{
	size_t line = 1, start = 0;

	for (size_t i = 0; got[i] != '\0' && got[i] == want[i]; i++)
		if (got[i] == '\n') {
			line++;
			start = i + 1;
		}
	diag("differs at line %zu: got \"%.60s\"", line, got + start);
}

static int same(const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return 1;
	show_difference(got, want);
	return 0;
}

struct dump {
	const char *name, *text;
	bool v6;
	enum ns_mode mode;
};

static const struct dump dumps[] = {
	{ "nft proxy IPv4", nft_proxy4, false, NS_MODE_PROXY },
	{ "nft proxy IPv6", nft_proxy6, true, NS_MODE_PROXY },
	{ "nft packet IPv4", nft_packet4, false, NS_MODE_PACKET },
	{ "nft packet IPv6", nft_packet6, true, NS_MODE_PACKET },
	{ "legacy proxy IPv4", legacy_proxy4, false, NS_MODE_PROXY },
	{ "legacy proxy IPv6", legacy_proxy6, true, NS_MODE_PROXY },
	{ "legacy packet IPv4", legacy_packet4, false, NS_MODE_PACKET },
	{ "legacy packet IPv6", legacy_packet6, true, NS_MODE_PACKET },
};
#define NDUMPS (sizeof(dumps) / sizeof(dumps[0]))

static void test_rules(void)
{
	struct ns_config proxy = config(NS_MODE_PROXY), packet = config(NS_MODE_PACKET);
	char out[NS_INTERCEPT_RULES_MAX];

	ns_intercept_rules_text(&proxy, false, out, sizeof(out));
	ok(same(out, golden_rules_proxy), "proxy mode's rules, IPv4");
	ns_intercept_rules_text(&proxy, true, out, sizeof(out));
	ok(same(out, golden_rules_proxy), "proxy mode's rules, IPv6");
	ns_intercept_rules_text(&packet, false, out, sizeof(out));
	ok(same(out, golden_rules_packet4), "packet mode's rules, IPv4");
	ns_intercept_rules_text(&packet, true, out, sizeof(out));
	ok(same(out, golden_rules_packet6), "packet mode's rules, IPv6");
}

static void test_removal(void)
{
	char out[NS_INTERCEPT_RULES_MAX];

	for (size_t i = 0; i < NDUMPS; i++) {
		const struct dump *d = &dumps[i];
		const char *want = d->mode == NS_MODE_PROXY ? golden_removal_proxy
		                   : d->v6 ? golden_removal_packet6 : golden_removal_packet4;
		int n = ns_intercept_removal_text(d->text, out, sizeof(out));
		ok(same(out, want), "%s: removal commands", d->name);
		/* proxy: 7 jumps, 7 chains flushed and deleted; packet: 3, 2 */
		ok(n == (d->mode == NS_MODE_PROXY ? 21 : 7), "%s: %d things to delete", d->name, n);
		ok(strstr(out, "FOREIGN") == NULL && strstr(out, "MASQUERADE") == NULL &&
		   strstr(out, "--dport 22") == NULL, "%s: the other rules stay", d->name);
	}
	ok(ns_intercept_removal_text(nft_removed4, out, sizeof(out)) == 0 &&
	   same(out, golden_removal_none), "nft: nothing left to remove after a removal");
	ok(ns_intercept_removal_text(legacy_removed4, out, sizeof(out)) == 0 &&
	   same(out, golden_removal_none), "legacy: nothing left to remove after a removal");
}

static const char *replacement_golden(enum ns_mode now, const struct dump *d)
{
	if (now == NS_MODE_PROXY && d->mode == NS_MODE_PROXY)
		return golden_proxy_over_proxy;
	if (now == NS_MODE_PROXY)
		return d->v6 ? golden_proxy_over_packet6 : golden_proxy_over_packet4;
	if (d->mode == NS_MODE_PACKET)
		return d->v6 ? golden_packet_over_packet6 : golden_packet_over_packet4;
	return d->v6 ? golden_packet_over_proxy6 : golden_packet_over_proxy4;
}

static void test_replacement(void)
{
	char out[2 * NS_INTERCEPT_RULES_MAX];

	for (size_t i = 0; i < NDUMPS; i++) {
		const struct dump *d = &dumps[i];
		for (int m = 0; m < 2; m++) {
			struct ns_config c = config(m ? NS_MODE_PACKET : NS_MODE_PROXY);
			int rc = ns_intercept_replacement_text(&c, d->v6, d->text, out, sizeof(out));
			ok(rc == 0 && same(out, replacement_golden(c.mode, d)), "%s: replaced by %s mode",
			   d->name, m ? "packet" : "proxy");
		}
	}
	for (int m = 0; m < 2; m++) {
		struct ns_config c = config(m ? NS_MODE_PACKET : NS_MODE_PROXY);
		const char *want = m ? golden_rules_packet4 : golden_rules_proxy;
		ok(ns_intercept_replacement_text(&c, false, nft_removed4, out, sizeof(out)) == 0 &&
		   same(out, want), "nothing of ours: %s mode's rules as they are", m ? "packet" : "proxy");
		ok(ns_intercept_replacement_text(&c, false, legacy_removed4, out, sizeof(out)) == 0 &&
		   same(out, want), "legacy, nothing of ours: %s mode's rules", m ? "packet" : "proxy");
	}
}

static void test_table_empty(void)
{
	static const char *const tables[] = { "nat", "mangle", "filter" };

	for (int t = 0; t < 3; t++) {
		ok(ns_intercept_table_empty(nft_removed4, tables[t]), "nft: %s empty after removal",
		   tables[t]);
		ok(ns_intercept_table_empty(legacy_removed4, tables[t]),
		   "legacy: %s empty after removal", tables[t]);
		ok(!ns_intercept_table_empty(nft_proxy4, tables[t]), "nft: %s with rules is not empty",
		   tables[t]);
	}
	ok(!ns_intercept_table_empty(nft_packet4, "raw"), "a table the dump lacks is not empty");
	ok(!ns_intercept_table_empty(nft_packet6, "nat"), "another program's rule: not empty");
	ok(!ns_intercept_table_empty("*nat\n:PREROUTING DROP [0:0]\nCOMMIT\n", "nat"),
	   "a policy other than ACCEPT: not empty");
	ok(!ns_intercept_table_empty("*nat\n:X - [0:0]\nCOMMIT\n", "nat"),
	   "a chain of another program: not empty");
	ok(!ns_intercept_table_empty("*nat\n:PREROUTING ACCEPT [0:0]\n", "nat"),
	   "a dump cut before COMMIT: not empty");
}

static void test_packet_ports(void)
{
	uint16_t ports[8];
	int n = 0;

	ns_intercept_saved_packet_ports(nft_proxy4, ports, 8, &n);
	ok(n == 0, "proxy mode's rules: no packet-mode ports");
	ns_intercept_saved_packet_ports(legacy_packet4, ports, 8, &n);
	ok(n == 1 && ports[0] == 7447, "legacy packet rules: port 7447");
	ns_intercept_saved_packet_ports(nft_packet6, ports, 8, &n);
	ok(n == 1, "the same port from a second dump is counted once");
	ns_intercept_saved_packet_ports(legacy_packet_ports4, ports, 8, &n);
	ok(n == 3 && ports[1] == 8333 && ports[2] == 9000, "three ports, 7447 once: %d", n);
	n = 0;
	ns_intercept_saved_packet_ports(legacy_packet_ports4, ports, 2, &n);
	ok(n == 2 && ports[0] == 8333 && ports[1] == 7447, "at most max ports");
	n = 0;
	ns_intercept_saved_packet_ports("*mangle\n-A NODESEAL_PKT_OUT -p tcp -m multiport "
	                                "--dports 0,70000,x -j NFQUEUE\nCOMMIT\n", ports, 8, &n);
	ok(n == 0, "ports out of range are not read");
}

static void test_small_buffers(void)
{
	struct ns_config c = config(NS_MODE_PACKET);
	char small[256], *big = malloc(64 << 10);
	size_t off = 0;

	ok(ns_intercept_replacement_text(&c, false, nft_proxy4, small, sizeof(small)) == -1,
	   "a replacement that does not fit is refused");
	memset(small, 'x', sizeof(small));
	ns_intercept_removal_text(nft_proxy4, small, 64);
	ok(strlen(small) == 63 && strstr(small, "COMMIT") == NULL,
	   "a removal that does not fit is cut, without its COMMIT");
	/* A dump with more of our chains than the buffer holds. */
	off += (size_t)sprintf(big + off, "*filter\n");
	for (int i = 0; i < 2000; i++)
		off += (size_t)sprintf(big + off, ":NODESEAL_X%d - [0:0]\n", i);
	sprintf(big + off, "COMMIT\n");
	ok(ns_intercept_removal_text(big, small, sizeof(small)) == 4000 &&
	   strlen(small) == sizeof(small) - 1, "2000 chains into %zu bytes: cut", sizeof(small));
	ok(ns_intercept_replacement_text(&c, false, big, small, sizeof(small)) == -1,
	   "2000 stale chains: refused");
	free(big);
}

int main(void)
{
	test_rules();
	test_removal();
	test_replacement();
	test_table_empty();
	test_packet_ports();
	test_small_buffers();
	return tap_done();
}
