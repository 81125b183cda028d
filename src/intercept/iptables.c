/*
 * iptables.c: installing and removing the rules (intercept.h) by running
 * iptables-save, iptables-restore, ip and nft; the text they are given and
 * the dumps they print are made and read in ruletext.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/errmsg.h"
#include "../util/exec.h"
#include "../util/log.h"
#include "intercept.h"
#include "ruletext.h"

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

/* How many families a loop over them takes: IPv4 (0), and IPv6 (1) unless
 * the kernel has none. */
static int families(enum ns_ipv6 v6)
{
	return v6 == NS_IPV6_NONE ? 1 : 2;
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
		return ns_error(err, errlen, "cannot run %s: %s", argv[0],
		                 rc < 0 ? strerror(errno) : "not found");
	return ns_error(err, errlen, "%s failed (status %d): %s", argv[0], rc,
	                 errout[0] ? errout : "no message");
}

/* Deletes our chains and jumps from one backend's tables; a backend whose
 * tools are not installed has nothing of ours. */
static int tables_remove_once(struct family *f, char *err, size_t errlen)
{
	char *saved = malloc(SAVE_MAX), cmds[NS_INTERCEPT_RULES_MAX] = "";
	const char *save_argv[] = { f->save, NULL };
	const char *restore_argv[] = { f->restore, "--noflush", NULL };
	int rc = -1, st;

	if (saved == NULL)
		return ns_error(err, errlen, "out of memory");
	st = ns_exec(save_argv, NULL, saved, SAVE_MAX, NULL, 0);
	if (st == 127 || (st < 0 && errno == ENOENT)) {
		rc = 0;
		goto out;
	}
	if (st != 0) {
		ns_error(err, errlen, "%s failed (status %d)", f->save, st);
		goto out;
	}
	if (ns_intercept_removal_text(saved, cmds, sizeof(cmds)) > 0 &&
	    run(restore_argv, cmds, NULL, 0, err, errlen) != 0)
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

	snprintf(pref, sizeof(pref), "%d", NS_RULE_PREF);
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
		if (ns_intercept_table_empty(saved[v6], name)) {
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

/*
 * The rules as one iptables-restore input that replaces whatever nodeseal
 * rules are already there (left by a crash, or by another version) in the
 * same commit (ruletext.h).  There is no moment without interception, as
 * there would be with a removal followed by an install.
 */
static int replacement_text(const struct ns_config *c, struct family *f, char *out, size_t cap,
                            char *err, size_t errlen)
{
	char *saved = malloc(SAVE_MAX);
	const char *argv[] = { f->save, NULL };
	int rc = -1;

	if (saved == NULL) {
		ns_error(err, errlen, "out of memory");
		goto out;
	}
	if (run(argv, NULL, saved, SAVE_MAX, err, errlen) != 0)
		goto out;
	if (ns_intercept_replacement_text(c, f->v6, saved, out, cap) != 0) {
		ns_error(err, errlen, "rules too long");
		goto out;
	}
	rc = 0;
out:
	free(saved);
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
	char rules[NS_INTERCEPT_RULES_MAX], pref[16], mark[16], tbl[16];

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
	snprintf(pref, sizeof(pref), "%d", NS_RULE_PREF);
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
	for (int v6 = 0; v6 < families(ns_intercept_ipv6()); v6++) {
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
	for (int v6 = 0; v6 < families(ns_intercept_ipv6()) && !found; v6++)
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

int ns_intercept_packet_ports(uint16_t *ports, int max)
{
	static const char *const backends[] = { "legacy", "nft" };
	char *saved = malloc(SAVE_MAX);
	int n = 0, dumps = 0;

	if (saved == NULL)
		return -1;
	for (int v6 = 0; v6 < families(ns_intercept_ipv6()); v6++)
		for (int b = 0; b < 2; b++) {
			struct family f;
			family_init(&f, backends[b], v6);
			const char *save_argv[] = { f.save, NULL };
			int st = ns_exec(save_argv, NULL, saved, SAVE_MAX, NULL, 0);
			if (st == 127 || (st < 0 && errno == ENOENT))
				continue; /* that backend is not installed: nothing of ours */
			if (st != 0)
				goto fail;
			dumps++;
			ns_intercept_saved_packet_ports(saved, ports, max, &n);
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
	char *saved = malloc(SAVE_MAX), rules[NS_INTERCEPT_RULES_MAX];
	const char *argv[] = { f->save, NULL };
	int rc = -1;

	if (saved == NULL)
		return -1;
	if (ns_exec(argv, NULL, saved, SAVE_MAX, NULL, 0) != 0)
		goto out;
	ns_intercept_rules_text(c, f->v6, rules, sizeof(rules));
	rc = ns_intercept_rules_missing(saved, rules, what, cap) > 0;
out:
	free(saved);
	return rc;
}

int ns_intercept_check(const struct ns_config *c, enum ns_ipv6 ipv6, char *what, size_t cap)
{
	int rc = ns_intercept_guard_check(c, what, cap);

	for (int v6 = 0; v6 < families(ipv6) && rc == 0; v6++) {
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
	for (int v6 = 0; v6 < families(ipv6); v6++) {
		family_init(&f, c->iptables, v6);
		if (family_install(c, &f, !v6 || ipv6 == NS_IPV6_ON, err, errlen) != 0)
			return -1;
	}
	return 0;
}
