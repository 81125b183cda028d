/*
 * test_chain_worker: the chain worker (src/chain/chain.c) against an
 * in-process fake JSON-RPC node on 127.0.0.1 (review of --members chain).
 *
 * - control: an admitted address whose connect is revoked is refused by
 *   ns_chain_holds_connect after the next refresh;
 * - review finding: a network-key holder that proves 256 invented addresses
 *   (within the 20/s rate) between two refreshes evicts the revoked
 *   address from the permission cache; chain_refreshed's
 *   ns_chain_holds_connect then re-adds it unchecked, and "unchecked: the
 *   verdict that admitted it stands" keeps the revoked connection alive.
 */
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "../../src/chain/chain.h"
#include "../../src/event/clock.h"
#include "../../src/event/loop.h"
#include "tap.h"

#define OWN "1NodeAddrXXXXXXXXXXXXXXXXXXXXXXXX"
#define VICTIM "1VictimAddrXXXXXXXXXXXXXXXXXXXXXX"
#define KEEPER "1KeeperAddrXXXXXXXXXXXXXXXXXXXXXX" /* a member whose connect stays */

static int lfd;
static volatile int victim_revoked;
static volatile int calls;
static volatile int list_delay_ms; /* listpermissions answers this late */
static volatile int garbage;       /* every call answered with what is not HTTP */
static volatile int all_delay_ms;  /* every call answered this late */

static void serve_one(int fd)
{
	char buf[65536], out[65536 + 256], body[62000]; /* a thread's stack: 8 MiB */
	size_t have = 0, want = 0;
	char *hdr_end, *cl, *res = NULL;
	cJSON *req, *m, *params;

	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strcasestr(buf, "Content-Length:");
			want = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
			if (have >= want)
				break;
		}
	}
	calls++;
	if (all_delay_ms > 0) {
		struct timespec d = { all_delay_ms / 1000, (all_delay_ms % 1000) * 1000000L };
		nanosleep(&d, NULL);
	}
	if (garbage) {
		if (write(fd, "garbage\r\n\r\n", 11) < 0)
			return;
		return;
	}
	req = cJSON_Parse(hdr_end + 4);
	m = cJSON_GetObjectItem(req, "method");
	params = cJSON_GetObjectItem(req, "params");
	if (strcmp(m->valuestring, "getinfo") == 0) {
		res = strdup("{\"handshakelocal\":\"" OWN "\",\"chainname\":\"chain1\",\"blocks\":10}");
	} else if (strcmp(m->valuestring, "signmessage") == 0) {
		res = strdup("\"SIGOWN=\"");
	} else if (strcmp(m->valuestring, "verifymessage") == 0) {
		res = strdup("true");
	} else if (strcmp(m->valuestring, "listpermissions") == 0) {
		if (list_delay_ms > 0) {
			struct timespec d = { list_delay_ms / 1000, (list_delay_ms % 1000) * 1000000L };
			nanosleep(&d, NULL);
		}
		/* MultiChain's: a comma-separated list of addresses, the items
		 * of those that have one. */
		char *list = strdup(cJSON_GetArrayItem(params, 1)->valuestring), *save = NULL;
		char tmp[60000];
		size_t tl = 0;

		tl += (size_t)snprintf(tmp + tl, sizeof(tmp) - tl, "[");
		for (char *a = strtok_r(list, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
			int allowed = strcmp(a, OWN) == 0 || strcmp(a, KEEPER) == 0 ||
			              (strcmp(a, VICTIM) == 0 && !victim_revoked);
			if (allowed && tl < sizeof(tmp) - 200)
				tl += (size_t)snprintf(tmp + tl, sizeof(tmp) - tl, "%s{\"address\":\"%s\","
				                       "\"type\":\"connect\",\"startblock\":0,"
				                       "\"endblock\":4294967295}", tl > 1 ? "," : "", a);
		}
		snprintf(tmp + tl, sizeof(tmp) - tl, "]");
		free(list);
		res = strdup(tmp);
	}
	{
		int bl = snprintf(body, sizeof(body), "{\"result\":%s,\"error\":null,\"id\":1}",
		                  res ? res : "null");
		int hl = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: application/json"
		                  "\r\nContent-Length: %d\r\n\r\n%s", bl, body);
		if (write(fd, out, (size_t)hl) < 0)
			return;
	}
	free(res);
	cJSON_Delete(req);
}

static void *serve_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;

	serve_one(fd);
	close(fd);
	return NULL;
}

/* A thread a connection: a call abandoned by one test (still sleeping its
 * delay) does not hold up the next test's. */
static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, serve_thread, (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

static uint16_t server_start(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t al = sizeof(a);
	pthread_t t;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
		return 0;
	pthread_create(&t, NULL, server, NULL);
	pthread_detach(t);
	return ntohs(a.sin_port);
}

static char dir[64];

static void chain_dir(uint16_t port)
{
	char path[128];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/ns-chainw-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/params.dat", dir);
	f = fopen(path, "w");
	fprintf(f, "default-rpc-port = %u\n", port);
	fclose(f);
	snprintf(path, sizeof(path), "%s/multichain.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "rpcuser=u\nrpcpassword=p\n");
	fclose(f);
}

/* ---- the relay's side, as relay.c has it ---- */

static struct ns_chain *ch;
static int verdicts[2048];
static int refreshes;
static int victim_kept_after_revocation = -1; /* holds_connect(VICTIM) at the last refresh */
static int keeper_kept = -1;                  /* holds_connect(KEEPER) at the last refresh */

static void on_verdict(void *cookie, uint64_t id, int verdict, const char *why)
{
	(void)cookie;
	(void)why;
	if (id < 2048)
		verdicts[id] = verdict + 100;
}

static void on_refresh(void *cookie)
{
	(void)cookie;
	refreshes++;
	/* What chain_refreshed does for the live connection of VICTIM. */
	if (victim_revoked)
		victim_kept_after_revocation = ns_chain_holds_connect(ch, VICTIM);
	else
		(void)ns_chain_holds_connect(ch, VICTIM);
	keeper_kept = ns_chain_holds_connect(ch, KEEPER);
}

static void spin(struct ns_loop *l, int ms)
{
	int64_t end = ns_now_ms() + ms;

	while (ns_now_ms() < end)
		ns_loop_wait(l, 10);
}

static void wait_refresh(struct ns_loop *l, int n, int max_ms)
{
	int64_t end = ns_now_ms() + max_ms;

	while (refreshes < n && ns_now_ms() < end)
		ns_loop_wait(l, 10);
}

static void mkaddr(int i, char *out)
{
	static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

	snprintf(out, 40, "1Attacker%c%c%cXXXXXXXXXXXXXXXXXXXXXX", b58[i % 58], b58[(i / 58) % 58],
	         b58[(i / 3364) % 58]);
}

static void run(int refresh_s, int invented)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 }, key[32];
	struct ns_proof p;
	char err[256];
	uint64_t id = 1;
	int v, admitted_via;

	memset(verdicts, 0, sizeof(verdicts));
	refreshes = 0;
	victim_revoked = 0;
	victim_kept_after_revocation = -1;
	keeper_kept = -1;
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, dir, refresh_s, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, on_verdict, on_refresh, NULL);
	ok(ns_chain_start(ch, err, sizeof(err)) == 0, "worker started (refresh %d s)", refresh_s);
	wait_refresh(&loop, 1, 5000);
	ok(refreshes == 1, "first refresh done");

	/* The victim, a member, is admitted. */
	memset(key, 0xee, 32);
	memset(&p, 0, sizeof(p));
	strcpy(p.addr, VICTIM);
	strcpy(p.sig, "SIGVICTIM=");
	v = ns_chain_ask(ch, id, key, &p);
	while (v == NS_CHAIN_QUEUED && verdicts[id] == 0)
		ns_loop_wait(&loop, 10);
	admitted_via = v == NS_CHAIN_QUEUED ? verdicts[id] - 100 : v;
	ok(admitted_via == NS_CHAIN_YES, "the victim's address is admitted");
	id++;
	/* A second member, whose connect stays. */
	memset(key, 0xdd, 32);
	memset(&p, 0, sizeof(p));
	strcpy(p.addr, KEEPER);
	strcpy(p.sig, "SIGKEEPER=");
	v = ns_chain_ask(ch, id, key, &p);
	while (v == NS_CHAIN_QUEUED && verdicts[id] == 0)
		ns_loop_wait(&loop, 10);
	ok((v == NS_CHAIN_QUEUED ? verdicts[id] - 100 : v) == NS_CHAIN_YES,
	   "the keeper's address is admitted");
	id++;
	/* As the relay does for its live connections. */
	ok(ns_chain_pin(ch, VICTIM) && ns_chain_pin(ch, KEEPER), "both addresses pinned");

	/* Its connect is revoked on the chain. */
	victim_revoked = 1;

	/* A network-key holder proves addresses of its own, at the rate allowed. */
	{
		int done = 0, unavailable = 0;
		int64_t t0 = ns_now_ms();

		while (done < invented) {
			char a[64];

			memset(key, 0, 32);
			memcpy(key, &done, sizeof(done));
			memset(&p, 0, sizeof(p));
			mkaddr(done, a);
			strcpy(p.addr, a);
			snprintf(p.sig, sizeof(p.sig), "SIG%d=", done);
			v = ns_chain_ask(ch, id++, key, &p);
			if (v == NS_CHAIN_UNAVAILABLE) {
				unavailable++;
				spin(&loop, 50);
				continue;
			}
			done++;
			ns_loop_wait(&loop, 0);
		}
		spin(&loop, 300); /* the last verdicts */
		if (invented > 0)
			diag("%d invented addresses proven in %lld ms (%d asks refused by the rate)",
			     invented, (long long)(ns_now_ms() - t0), unavailable);
	}
	/* The next refresh after the revocation. */
	wait_refresh(&loop, 2, refresh_s * 1000 + 10000);
	ok(refreshes >= 2, "a refresh after the revocation");
	if (invented == 0)
		ok(victim_kept_after_revocation == 0,
		   "control: the revoked address is refused at the next refresh (holds_connect %d)",
		   victim_kept_after_revocation);
	else
		ok(victim_kept_after_revocation == 0,
		   "after %d invented addresses: the revoked address is refused at the next refresh "
		   "(holds_connect %d)", invented, victim_kept_after_revocation);
	ok(keeper_kept == 1, "after %d invented addresses: the pinned member is still admitted "
	   "at the next refresh (holds_connect %d)", invented, keeper_kept);
	ns_chain_unpin(ch, VICTIM);
	ns_chain_unpin(ch, KEEPER);
	ns_chain_free(ch);
	ns_loop_close(&loop);
}

/* ns_chain_free "waits for its RPC call to end" (chain.h): it waits for the
 * whole refresh, one listpermissions per cached address, each up to 2 s. */
static void test_free_waits_whole_refresh(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 }, key[32];
	struct ns_proof p;
	char err[256], a[64];
	uint64_t id = 5000;
	int64_t t0, took;

	refreshes = 0;
	victim_revoked = 0;
	list_delay_ms = 0;
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, dir, 1, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, NULL, NULL, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 300);
	for (int i = 0; i < 8; i++) {
		memset(key, 0x40 + i, 32);
		memset(&p, 0, sizeof(p));
		mkaddr(1000 + i, a);
		strcpy(p.addr, a);
		strcpy(p.sig, "SIGX=");
		(void)ns_chain_ask(ch, id++, key, &p);
	}
	spin(&loop, 400);
	list_delay_ms = 1500;       /* a slow node: each call answered within the 2 s timeout */
	spin(&loop, 1200);          /* the next refresh is under way */
	t0 = ns_now_ms();
	ns_chain_free(ch);
	took = ns_now_ms() - t0;
	list_delay_ms = 0;
	ok(took < 2500, "ns_chain_free waits at most one RPC call (took %lld ms; 8 cached "
	   "addresses, 1.5 s a call)", (long long)took);
	ns_loop_close(&loop);
}

/* The revocation bound (SECURITY.md: the interval plus one RPC timeout,
 * 1 + 2 s here) against a node that answers each call in 0.6 s, well
 * within the timeout, with 16 addresses in the permission cache. */
static int64_t revoked_seen_ms;

static void on_refresh_bound(void *cookie)
{
	(void)cookie;
	refreshes++;
	if (victim_revoked && revoked_seen_ms == 0 && !ns_chain_holds_connect(ch, VICTIM))
		revoked_seen_ms = ns_now_ms();
	else if (!victim_revoked)
		(void)ns_chain_holds_connect(ch, VICTIM);
}

static void test_revocation_bound_slow_node(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 }, key[32];
	struct ns_proof p;
	char err[256], a[64];
	uint64_t id = 9000;
	int64_t t0;

	refreshes = 0;
	victim_revoked = 0;
	revoked_seen_ms = 0;
	list_delay_ms = 0;
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, dir, 1, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, NULL, on_refresh_bound, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 300);
	memset(key, 0xee, 32);
	memset(&p, 0, sizeof(p));
	strcpy(p.addr, VICTIM);
	strcpy(p.sig, "SIGVICTIM=");
	(void)ns_chain_ask(ch, id++, key, &p);
	for (int i = 0; i < 15; i++) {
		memset(key, 0x60 + i, 32);
		memset(&p, 0, sizeof(p));
		mkaddr(2000 + i, a);
		strcpy(p.addr, a);
		strcpy(p.sig, "SIGY=");
		(void)ns_chain_ask(ch, id++, key, &p);
	}
	spin(&loop, 1500);
	list_delay_ms = 600;
	victim_revoked = 1;
	t0 = ns_now_ms();
	while (revoked_seen_ms == 0 && ns_now_ms() - t0 < 40000)
		ns_loop_wait(&loop, 10);
	ok(revoked_seen_ms != 0 && revoked_seen_ms - t0 <= 3000,
	   "slow node (0.6 s a call), 16 cached addresses: revocation seen within 1 + 2 s "
	   "(took %lld ms)", (long long)(revoked_seen_ms ? revoked_seen_ms - t0 : -1));
	list_delay_ms = 0;
	ns_chain_free(ch);
	ns_loop_close(&loop);
}

/* params.dat a FIFO: the worker's open() blocks, and so does shutdown. */
static void *free_thread(void *arg)
{
	ns_chain_free(arg);
	return NULL;
}

static void test_fifo_conf(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 };
	char err[256], fdir[64], path[128];
	pthread_t t;
	int64_t t0;
	volatile int done = 0;

	snprintf(fdir, sizeof(fdir), "/tmp/ns-chainf-XXXXXX");
	if (mkdtemp(fdir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/params.dat", fdir);
	mkfifo(path, 0600);
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, fdir, 1, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, NULL, NULL, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 300);
	pthread_create(&t, NULL, free_thread, ch);
	t0 = ns_now_ms();
	while (ns_now_ms() - t0 < 3000 && pthread_tryjoin_np(t, NULL) != 0)
		usleep(10000);
	done = ns_now_ms() - t0 < 3000;
	ok(done, "params.dat a FIFO: ns_chain_free returns (%s)", done ? "yes" : "still blocked after 3 s");
	if (!done) {
		/* unblock the worker's open() and read() */
		int w = open(path, O_WRONLY);
		if (w >= 0)
			close(w);
		pthread_join(t, NULL);
	}
	ns_loop_close(&loop);
}

static int ask_wait(struct ns_loop *l, uint64_t id, const char *addr, uint8_t kb,
                    const char *sig)
{
	uint8_t key[32];
	struct ns_proof p;
	int v;

	memset(key, kb, 32);
	memset(&p, 0, sizeof(p));
	snprintf(p.addr, sizeof(p.addr), "%s", addr);
	snprintf(p.sig, sizeof(p.sig), "%s", sig);
	v = ns_chain_ask(ch, id, key, &p);
	while (v == NS_CHAIN_QUEUED && verdicts[id] == 0)
		ns_loop_wait(l, 10);
	return v == NS_CHAIN_QUEUED ? verdicts[id] - 100 : v;
}

/* RPC down or garbage: nothing admitted, not even a peer in the caches. */
static void test_unhealthy_refuses(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 };
	char err[256];
	int v;

	memset(verdicts, 0, sizeof(verdicts));
	refreshes = 0;
	victim_revoked = 0;
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, dir, 30, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, on_verdict, NULL, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 300);
	v = ask_wait(&loop, 100, KEEPER, 0xdd, "SIGKEEPER=");
	ok(v == NS_CHAIN_YES, "healthy RPC: the member admitted (%d)", v);
	v = ask_wait(&loop, 101, KEEPER, 0xdd, "SIGKEEPER=");
	ok(v == NS_CHAIN_YES, "and again, from the caches (%d)", v);
	garbage = 1;
	v = ask_wait(&loop, 102, VICTIM, 0xee, "SIGVICTIM=");
	ok(v == NS_CHAIN_UNAVAILABLE, "the node answers garbage: a new peer unavailable (%d)", v);
	v = ask_wait(&loop, 103, KEEPER, 0xdd, "SIGKEEPER=");
	ok(v == NS_CHAIN_UNAVAILABLE, "and the member in the caches refused too, before any "
	   "refresh (%d)", v);
	garbage = 0;
	ns_chain_free(ch);
	ns_loop_close(&loop);
}

/* A node that stops answering in time: the stale cut (3 intervals and a
 * timeout from the last answered refresh) holds, whatever the refresh. */
static void test_stale_cut(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 };
	char err[256];
	int64_t t0, cut = 0;

	refreshes = 0;
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, dir, 1, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, NULL, NULL, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 500);
	ok(!ns_chain_stale(ch), "answering node: not stale");
	all_delay_ms = 2500;        /* each call past its 2 s timeout */
	t0 = ns_now_ms();
	while (ns_now_ms() - t0 < 12000) {
		ns_loop_wait(&loop, 50);
		if (ns_chain_stale(ch)) {
			cut = ns_now_ms() - t0;
			break;
		}
	}
	ok(cut > 0 && cut <= 3 * 1000 + 2000 + 1000, "silent node: stale within 3 intervals + "
	   "2 s of the last answer (%lld ms after it stopped answering)", (long long)cut);
	t0 = ns_now_ms();
	ns_chain_free(ch);
	ok(ns_now_ms() - t0 <= 2500, "ns_chain_free within one call's timeout (2 s) (%lld ms)",
	   (long long)(ns_now_ms() - t0));
	all_delay_ms = 0;
	ns_loop_close(&loop);
	usleep(600000);             /* the fake server's last late answer */
}

/* Another user's listener on the RPC port (the node down): it gets
 * nothing, not the credentials. */
static void test_stranger_gets_nothing(void)
{
	struct ns_loop loop;
	uint8_t own_key[32] = { 1 };
	char err[256], sdir[64], path[128];
	struct ns_chain_status st;
	int p[2], q[2];
	uint16_t sport = 0;
	long got = -1;
	pid_t pid;
	FILE *f;

	if (geteuid() != 0) {
		ok(1, "# SKIP not root: no listener of another uid");
		ok(1, "# SKIP");
		return;
	}
	if (pipe(p) != 0 || pipe(q) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in a = { 0 };
		socklen_t al = sizeof(a);
		int l, c;
		long n = 0;
		char b[512];
		ssize_t r;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(1);
		l = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 8) != 0 ||
		    getsockname(l, (struct sockaddr *)&a, &al) != 0)
			_exit(1);
		sport = ntohs(a.sin_port);
		if (write(p[1], &sport, sizeof(sport)) != sizeof(sport))
			_exit(1);
		/* Every byte any caller sends, until the parent asks. */
		fcntl(l, F_SETFL, O_NONBLOCK);
		fcntl(q[0], F_SETFL, O_NONBLOCK);
		for (;;) {
			char x;

			if ((c = accept(l, NULL, NULL)) >= 0) {
				struct timeval tv = { 0, 300000 };
				setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
				while ((r = read(c, b, sizeof(b))) > 0)
					n += r;
				close(c);
			}
			if (read(q[0], &x, 1) == 1) {
				if (write(p[1], &n, sizeof(n)) != sizeof(n))
					_exit(1);
				_exit(0);
			}
			usleep(5000);
		}
	}
	if (read(p[0], &sport, sizeof(sport)) != sizeof(sport))
		sport = 0;
	snprintf(sdir, sizeof(sdir), "/tmp/ns-chains-XXXXXX");
	if (mkdtemp(sdir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/params.dat", sdir);
	f = fopen(path, "w");
	fprintf(f, "default-rpc-port = %u\n", sport);
	fclose(f);
	snprintf(path, sizeof(path), "%s/multichain.conf", sdir);
	f = fopen(path, "w");
	fprintf(f, "rpcuser=u\nrpcpassword=secret\n");
	fclose(f);
	ns_loop_init(&loop);
	ch = ns_chain_new(&loop, sdir, 1, own_key, err, sizeof(err));
	ns_chain_set_handlers(ch, NULL, NULL, NULL);
	ns_chain_start(ch, err, sizeof(err));
	spin(&loop, 1500);
	ns_chain_status(ch, &st);
	ns_chain_free(ch);
	ns_loop_close(&loop);
	if (write(q[1], "x", 1) != 1 || read(p[0], &got, sizeof(got)) != sizeof(got))
		got = -1;
	waitpid(pid, NULL, 0);
	ok(strstr(st.error, "served by uid 65534") != NULL, "a listener of uid 65534 on the RPC "
	   "port: refused (%s)", st.error);
	ok(got == 0, "and it received nothing (%ld bytes)", got);
}

int main(void)
{
	uint16_t port = server_start();

	ok(port != 0, "fake RPC on 127.0.0.1:%u", port);
	chain_dir(port);
	run(1, 0);
	run(15, 256);
	test_free_waits_whole_refresh();
	test_revocation_bound_slow_node();
	test_fifo_conf();
	test_unhealthy_refuses();
	test_stale_cut();
	test_stranger_gets_nothing();
	return tap_done();
}
