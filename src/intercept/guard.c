/*
 * guard.c: nodeseal's own nftables table, "inet nodeseal" (intercept.h).
 *
 * The iptables rules can be taken away by another program ("iptables -F",
 * a firewalld or ufw reload, iptables-restore without --noflush).  Until the
 * daemon's watchdog puts them back (about a second), nothing would stop a
 * protected port's traffic from leaving in clear.  These tools only touch
 * the tables named filter, nat, mangle, raw and security of the ip and ip6
 * families (firewalld's nftables backend keeps its own table), so a table
 * of nodeseal's own outlives them.  It holds a second guard that lets
 * through only what the iptables rules would have made safe:
 *
 * proxy mode   out: the daemon's sockets (fwmark), the node's replies on
 *              delivered connections (fwmark + 1), loopback (a redirected
 *              connection is local by then: nat comes first), bare resets;
 *              anything else to or from a protected port is refused with
 *              a reset.  in: a protected port is reached over loopback or
 *              not at all (a redirected connection has the daemon's port
 *              by then).
 * packet mode  both ways: loopback, and segments the daemon sealed or
 *              verified (it marks them with fwmark in its verdict; its raw
 *              socket sends with that mark); anything else of a protected
 *              port is dropped, and TCP sends it again once the rules are
 *              back.
 *
 * Priority filter (0): after nat (-100) and mangle (-150), so it sees the
 * redirect and the daemon's verdict.  The table is replaced in one nft
 * transaction ("table" then "delete table" then the table), so a restart
 * over a crashed daemon's table has no moment without it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/exec.h"
#include "intercept.h"

#define GUARD_MAX 4096
#define LISTING_MAX 65536

/* "table ...; delete table ..." always succeeds: the first creates the
 * table if it is missing, so the second has something to delete. */
static const char drop_text[] = "table inet nodeseal\ndelete table inet nodeseal\n";

static void ports_set(const struct ns_config *c, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "{ ");

	for (int i = 0; i < c->nports && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%u", i ? ", " : "", c->ports[i]);
	if (n < cap)
		snprintf(out + n, cap - n, " }");
}

void ns_intercept_guard_text(const struct ns_config *c, char *out, size_t cap)
{
	char ports[160];
	uint32_t mark = c->fwmark;

	ports_set(c, ports, sizeof(ports));
	if (c->mode == NS_MODE_PACKET) {
		snprintf(out, cap,
		         "table inet nodeseal {\n"
		         "\tchain guard_out {\n"
		         "\t\ttype filter hook output priority filter; policy accept;\n"
		         "\t\toif \"lo\" accept\n"
		         "\t\tmeta mark 0x%x accept\n"
		         "\t\ttcp dport %s drop\n"
		         "\t\ttcp sport %s drop\n"
		         "\t}\n"
		         "\tchain guard_in {\n"
		         "\t\ttype filter hook input priority filter; policy accept;\n"
		         "\t\tiif \"lo\" accept\n"
		         "\t\tmeta mark 0x%x accept\n"
		         "\t\ttcp dport %s drop\n"
		         "\t\ttcp sport %s drop\n"
		         "\t}\n"
		         "}\n",
		         mark, ports, ports, mark, ports, ports);
		return;
	}
	snprintf(out, cap,
	         "table inet nodeseal {\n"
	         "\tchain guard_out {\n"
	         "\t\ttype filter hook output priority filter; policy accept;\n"
	         "\t\toif \"lo\" accept\n"
	         "\t\tmeta mark 0x%x accept\n"
	         "\t\tmeta mark 0x%x accept\n"
	         "\t\ttcp flags & rst == rst accept\n"
	         "\t\ttcp dport %s reject with tcp reset\n"
	         "\t\ttcp sport %s reject with tcp reset\n"
	         "\t}\n"
	         "\tchain guard_in {\n"
	         "\t\ttype filter hook input priority filter; policy accept;\n"
	         "\t\tiif \"lo\" accept\n"
	         "\t\ttcp dport %s drop\n"
	         "\t}\n"
	         "}\n",
	         mark, mark + 1, ports, ports, ports);
}

static int nft(const char *input, char *out, size_t cap, char *err, size_t errlen)
{
	const char *argv[] = { "nft", "-f", "-", NULL };
	char errout[512];
	int rc = ns_exec(argv, input, out, cap, errout, sizeof(errout));

	if (rc == 0)
		return 0;
	errout[strcspn(errout, "\n")] = '\0';
	if (rc < 0 || rc == 127)
		snprintf(err, errlen, "cannot run nft (package nftables), which nodeseal needs for "
		         "its guard table: %s", rc < 0 ? strerror(errno) : "not found");
	else
		snprintf(err, errlen, "nft failed (status %d) on nodeseal's guard table: %s", rc,
		         errout[0] ? errout : "no message");
	return rc < 0 || rc == 127 ? -2 : -1;
}

int ns_intercept_guard_install(const struct ns_config *c, char *err, size_t errlen)
{
	char text[sizeof(drop_text) + GUARD_MAX];
	size_t n = strlen(drop_text);

	memcpy(text, drop_text, n);
	ns_intercept_guard_text(c, text + n, sizeof(text) - n);
	return nft(text, NULL, 0, err, errlen) == 0 ? 0 : -1;
}

int ns_intercept_guard_remove(char *err, size_t errlen)
{
	int rc = nft(drop_text, NULL, 0, err, errlen);

	/* without nft there never was a table to remove */
	return rc == -2 ? 0 : rc;
}

/* The listing of our table into out; false if it is not there (or nft
 * cannot tell). */
static bool guard_listing(char *out, size_t cap)
{
	return nft("list table inet nodeseal\n", out, cap, NULL, 0) == 0;
}

bool ns_intercept_guard_present(void)
{
	char *listing = malloc(LISTING_MAX);
	bool present = listing != NULL && guard_listing(listing, LISTING_MAX);

	free(listing);
	return present;
}

int ns_intercept_guard_check(const struct ns_config *c, char *what, size_t cap)
{
	char *listing = malloc(LISTING_MAX), script[GUARD_MAX];
	int rc;

	if (listing == NULL)
		return -1;
	ns_intercept_guard_text(c, script, sizeof(script));
	if (!guard_listing(listing, LISTING_MAX)) {
		snprintf(what, cap, "nft table inet nodeseal");
		rc = 1;
	} else {
		rc = ns_intercept_guard_missing(listing, script, what, cap) > 0;
	}
	free(listing);
	return rc;
}
