/*
 * test_peers.c: the peer memory (src/peers): sealed for good, clear for a
 * while, bounded, and kept across restarts in a file read strictly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/peers/peers.h"
#include "tap.h"

static struct ns_peer_addr addr(const char *text)
{
	struct ns_peer_addr a;

	if (ns_peer_addr_parse(text, &a) != 0)
		abort();
	return a;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static void test_sealed_for_good(void)
{
	struct ns_peers p;
	struct ns_peer_addr a = addr("10.0.0.2"), b = addr("10.0.0.3");

	ns_peers_init(&p, 0);
	ok(!ns_peers_sealed(&p, &a), "unknown peer is not sealed");
	ns_peers_mark_plain(&p, &a, 5000);
	ok(ns_peers_plain(&p, &a, 1000), "plain mark holds before it runs out");
	ok(!ns_peers_plain(&p, &a, 5000), "plain mark runs out");
	ok(ns_peers_mark_sealed(&p, &a, 100), "first seal says so");
	ok(!ns_peers_mark_sealed(&p, &a, 200), "second seal does not");
	ok(ns_peers_sealed(&p, &a), "sealed peer is remembered");
	ns_peers_mark_plain(&p, &a, 1 << 30);
	ok(!ns_peers_plain(&p, &a, 1000), "a sealed peer never gets a plain mark");
	ns_peers_saw_clear(&p, &b, 100);
	ns_peers_expire(&p, 100 + NS_PEERS_CLEAR_HOLD_S, 0);
	ok(ns_peers_forget(&p, &b) == 1, "a clear peer is held for the hold time");
	ns_peers_saw_clear(&p, &b, 100);
	ns_peers_expire(&p, 101 + NS_PEERS_CLEAR_HOLD_S + 1000, 0);
	ok(ns_peers_forget(&p, &b) == 0, "and dropped after it");
	ns_peers_expire(&p, 1 << 30, 1LL << 40);
	ok(ns_peers_sealed(&p, &a), "expiry never drops a sealed peer");
	ok(ns_peers_forget(&p, &a) == 1 && !ns_peers_sealed(&p, &a), "forget drops a sealed peer");
	ns_peers_free(&p);
}

static void test_status_walk(void)
{
	struct ns_peers p;
	struct ns_peer_info info;
	size_t cur = 0;
	int sealed = 0, clear = 0, n = 0;
	struct ns_peer_addr c = addr("fd00::3");

	ns_peers_init(&p, 0);
	ns_peers_mark_sealed(&p, &(struct ns_peer_addr){ 0 }, 50);
	ns_peers_saw_clear(&p, &c, 60);
	ns_peers_mark_plain(&p, &(struct ns_peer_addr){ .a = { 10, 0, 0, 9 } }, 99999);
	while (ns_peers_next(&p, &cur, &info)) {
		n++;
		sealed += info.sealed;
		clear += !info.sealed;
		if (!info.sealed)
			ok(strcmp(info.addr, "fd00::3") == 0 && info.since == 60,
			   "clear peer listed with its address and since (%s, %lld)", info.addr,
			   (long long)info.since);
	}
	ok(n == 2 && sealed == 1 && clear == 1,
	   "status lists sealed and clear peers, not bare plain marks (%d: %d sealed %d clear)", n,
	   sealed, clear);
	ns_peers_mark_sealed(&p, &c, 70);
	cur = 0;
	clear = 0;
	while (ns_peers_next(&p, &cur, &info))
		clear += !info.sealed;
	ok(clear == 0, "a clear peer that seals is listed sealed");
	ns_peers_free(&p);
}

static void test_bound(void)
{
	struct ns_peers p;
	struct ns_peer_addr a[4] = { addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3"),
	                             addr("10.0.0.4") };

	ns_peers_init(&p, 3);
	ns_peers_mark_sealed(&p, &a[0], 10);
	ns_peers_mark_sealed(&p, &a[1], 20);
	ns_peers_saw_clear(&p, &a[2], 30);
	ns_peers_saw_clear(&p, &a[3], 40);
	ok(p.n == 3 && ns_peers_forget(&p, &a[2]) == 0 && p.n == 3,
	   "a clear newcomer takes the place of the clear entry seen longest ago");
	ns_peers_saw_clear(&p, &a[2], 50);
	ok(ns_peers_sealed(&p, &a[0]) && ns_peers_sealed(&p, &a[1]),
	   "clear newcomers never push out sealed peers");
	ns_peers_forget(&p, &a[3]);
	ns_peers_forget(&p, &a[2]);
	ns_peers_mark_sealed(&p, &a[2], 60);
	ns_peers_saw_clear(&p, &a[3], 70);
	ok(!ns_peers_sealed(&p, &a[3]) && p.n == 3 && ns_peers_sealed(&p, &a[0]),
	   "with only sealed peers, a clear newcomer is not remembered");
	ns_peers_mark_sealed(&p, &a[3], 80);
	ok(ns_peers_sealed(&p, &a[3]) && !ns_peers_sealed(&p, &a[0]) && p.n == 3,
	   "a sealed newcomer takes the place of the peer sealed longest ago");
	ns_peers_free(&p);
}

static void test_file(void)
{
	char dir[] = "/tmp/ns-peers-XXXXXX", path[256], err[512];
	struct ns_peers p, q;
	struct stat st;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, NS_PEERS_FILE);
	ns_peers_init(&p, 0);
	ok(ns_peers_load(&p, dir, err, sizeof(err)) == 0 && p.n == 0, "no file: empty memory");
	ns_peers_mark_sealed(&p, &(struct ns_peer_addr){ .a = { 10, 1, 2, 3 } }, 1000);
	ns_peers_mark_sealed(&p, &(struct ns_peer_addr){ .v6 = true, .a = { 0xfd, 0, [15] = 7 } },
	                     2000);
	ns_peers_saw_clear(&p, &(struct ns_peer_addr){ .a = { 10, 9, 9, 9 } }, 3000);
	ok(ns_peers_save(&p, err, sizeof(err)) == 0, "saved (%s)", err);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "file is 0600");
	ns_peers_init(&q, 0);
	ok(ns_peers_load(&q, dir, err, sizeof(err)) == 0 && q.n == 2, "reloaded: sealed only (%zu)",
	   q.n);
	ok(ns_peers_sealed(&q, &(struct ns_peer_addr){ .a = { 10, 1, 2, 3 } }) &&
	   ns_peers_sealed(&q, &(struct ns_peer_addr){ .v6 = true, .a = { 0xfd, 0, [15] = 7 } }),
	   "both sealed peers back after a restart");
	ns_peers_free(&q);

	static const char *const bad[] = {
		"10.0.0.1 100\n", "10.0.0.1 100 200 extra\n", "nonsense 1 2\n", "10.0.0.1 0 0\n",
		"10.0.0.1 200 100\n", "10.0.0.1 1 2\n10.0.0.1 1 2\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i]);
		ns_peers_init(&q, 0);
		err[0] = '\0';
		ok(ns_peers_load(&q, dir, err, sizeof(err)) != 0 && strstr(err, "line") != NULL,
		   "bad file %zu refused, naming the line: %s", i, err);
		ns_peers_free(&q);
	}
	write_file(path, "# comment\n\n  10.0.0.1 1 2   # trailing\n::ffff:10.0.0.5 3 4\n");
	ns_peers_init(&q, 0);
	ok(ns_peers_load(&q, dir, err, sizeof(err)) == 0 && q.n == 2 &&
	   ns_peers_sealed(&q, &(struct ns_peer_addr){ .a = { 10, 0, 0, 5 } }),
	   "comments, blanks and a mapped address read (%s)", err);
	ns_peers_free(&q);
	ns_peers_free(&p);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_sealed_for_good();
	test_status_walk();
	test_bound();
	test_file();
	return tap_done();
}
