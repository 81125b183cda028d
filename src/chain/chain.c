/*
 * chain.c: the chain worker and its caches (chain.h).
 *
 * Bounds on what a holder of the network key can make the node's RPC do:
 * nothing before its handshake (the proof is read only after it), then one
 * call at a time (one worker), at most NS_CHAIN_QUEUE jobs waiting and
 * NS_CHAIN_RATE new verifications a second; a peer already verified costs
 * no call (the proof cache, keyed by its key, address and signature, and
 * the permission cache, kept fresh by the refresh), a new one two
 * (verifymessage, listpermissions).  A refusal is cached for one interval
 * like a grant, so a grant is seen within one interval.  Invented
 * addresses evict only unpinned entries (PERMS_MAX of them), never the
 * pinned addresses of live connections, and an address the cache does not
 * hold is refused.  New admissions wait for a healthy RPC (the last
 * refresh answered, no call failed since).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../event/clock.h"
#include "../util/errmsg.h"
#include "../util/log.h"
#include "chain.h"
#include "chainconf.h"
#include "rpc.h"

#define PERMS_MAX 256         /* unpinned entries; pinned ones (live connections) besides */
#define PROOFS_MAX 256
#define LIST_BATCH 512        /* addresses in one listpermissions */
#define LIST_RESPONSE_MAX (256 * 1024)
#define FILE_MAX (4 * NS_CHAINCONF_FILE_MAX)
#define RESULTS_MAX (NS_CHAIN_QUEUE + 8)
#define PERM_IDLE_MS (10 * 60 * 1000) /* an address nobody asked about this long is dropped */

enum rpc_state { RPC_WAITING, RPC_READY, RPC_ERROR };

struct perm {
	char addr[NS_PROOF_ADDR_MAX + 1];
	bool allowed;
	bool checked;
	int pins;                       /* live connections with this address */
	int64_t checked_ms, used_ms;
};

struct proof_seen {
	uint8_t key[32], sighash[32];
	char addr[NS_PROOF_ADDR_MAX + 1];
	bool ok;
	int64_t at_ms, used_ms;
};

struct job {
	uint64_t id;
	uint8_t key[32];
	struct ns_proof proof;
};

struct result {
	uint64_t id;
	int verdict;
	char why[256];
};

struct ns_chain {
	struct ns_loop *loop;
	struct ns_watch watch;          /* the eventfd */
	ns_chain_verdict_fn *on_verdict;
	ns_chain_refresh_fn *on_refresh;
	void *cookie;
	char dir[512];
	int refresh_ms;
	uint8_t own_key[32];
	pthread_t thread;
	bool started;

	pthread_mutex_t mu;             /* everything below */
	pthread_cond_t cv;
	bool stop;
	struct ns_rpc_target target;    /* worker only */
	bool conf_loaded;               /* worker only */
	enum rpc_state state;
	char error[320];
	char chainname[NS_CHAIN_NAME_MAX + 1];
	char own_addr[NS_PROOF_ADDR_MAX + 1];
	char own_sig[NS_PROOF_SIG_MAX + 1];
	bool own_connect;
	bool healthy;                   /* the last refresh answered, no call failed since */
	int64_t blocks;
	int64_t last_ok_ms, last_refresh_wall;
	uint64_t rpc_calls;
	struct perm *perms;             /* perms_n used of perms_cap */
	int perms_n, perms_cap;
	struct proof_seen proofs[PROOFS_MAX];
	struct job jobs[NS_CHAIN_QUEUE];
	int jobs_head, jobs_n;
	struct result results[RESULTS_MAX];
	int results_n;
	bool refreshed;
	double tokens;                  /* the rate limit (event loop only) */
	int64_t tokens_ms;
};

/* ---- caches (the mutex held) ---- */

static struct perm *perm_find(struct ns_chain *ch, const char *addr)
{
	for (int i = 0; i < ch->perms_n; i++)
		if (ch->perms[i].addr[0] != '\0' && strcmp(ch->perms[i].addr, addr) == 0)
			return &ch->perms[i];
	return NULL;
}

/* addr's entry, added if new: at most PERMS_MAX unpinned entries (the least
 * recently used goes), and the pinned ones (addresses of live connections)
 * never go.  NULL only out of memory. */
static struct perm *perm_get(struct ns_chain *ch, const char *addr, int64_t now)
{
	struct perm *p = perm_find(ch, addr), *old = NULL, *free_slot = NULL;
	int unpinned = 0;

	if (p != NULL)
		return p;
	for (int i = 0; i < ch->perms_n; i++) {
		struct perm *q = &ch->perms[i];

		if (q->addr[0] == '\0') {
			if (free_slot == NULL)
				free_slot = q;
			continue;
		}
		if (q->pins > 0)
			continue;
		unpinned++;
		if (old == NULL || q->used_ms < old->used_ms)
			old = q;
	}
	if (unpinned >= PERMS_MAX && old != NULL) {
		p = old;
	} else if (free_slot != NULL) {
		p = free_slot;
	} else {
		if (ch->perms_n == ch->perms_cap) {
			int cap = ch->perms_cap == 0 ? 64 : ch->perms_cap * 2;
			struct perm *n = realloc(ch->perms, (size_t)cap * sizeof(*n));

			if (n == NULL)
				return NULL;
			ch->perms = n;
			ch->perms_cap = cap;
		}
		p = &ch->perms[ch->perms_n++];
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->used_ms = now;
	return p;
}

static void sig_hash(const char *sig, uint8_t out[32])
{
	ns_hash(NS_HASH_SHA256, (const uint8_t *)sig, strlen(sig), NULL, 0, out);
}

static struct proof_seen *proof_find(struct ns_chain *ch, const uint8_t key[32],
                                     const char *addr, const uint8_t sh[32])
{
	for (int i = 0; i < PROOFS_MAX; i++) {
		struct proof_seen *s = &ch->proofs[i];
		if (s->at_ms != 0 && memcmp(s->key, key, 32) == 0 && memcmp(s->sighash, sh, 32) == 0 &&
		    strcmp(s->addr, addr) == 0)
			return s;
	}
	return NULL;
}

static void proof_put(struct ns_chain *ch, const uint8_t key[32], const char *addr,
                      const uint8_t sh[32], bool ok, int64_t now)
{
	struct proof_seen *s = proof_find(ch, key, addr, sh), *old = &ch->proofs[0];

	/* Full: the least recently used goes. */
	if (s == NULL) {
		for (int i = 0; i < PROOFS_MAX; i++) {
			if (ch->proofs[i].at_ms == 0) {
				old = &ch->proofs[i];
				break;
			}
			if (ch->proofs[i].used_ms < old->used_ms)
				old = &ch->proofs[i];
		}
		s = old;
	}
	memcpy(s->key, key, 32);
	memcpy(s->sighash, sh, 32);
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->ok = ok;
	s->at_ms = now;
	s->used_ms = now;
}

/* Live connections go once this holds (checked on the loop's tick too). */
static bool stale(const struct ns_chain *ch, int64_t now)
{
	return ch->last_ok_ms == 0 ||
	       now - ch->last_ok_ms > (int64_t)NS_CHAIN_STALE_INTERVALS * ch->refresh_ms +
	                              NS_CHAIN_RPC_TIMEOUT_MS;
}

static void push_result(struct ns_chain *ch, uint64_t id, int verdict, const char *why)
{
	struct result *r;

	if (ch->results_n == RESULTS_MAX)
		return; /* cannot happen: at most NS_CHAIN_QUEUE jobs are out */
	r = &ch->results[ch->results_n++];
	r->id = id;
	r->verdict = verdict;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void wake_loop(struct ns_chain *ch)
{
	uint64_t one = 1;

	if (write(ch->watch.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ns_log(NS_LOG_WARN, "chain: eventfd: %s", strerror(errno));
}

/* ---- the worker: RPC calls without the mutex ---- */

/* A FIFO, a device or a symbolic link is refused, not waited on; so is a
 * file of cap bytes or more. */
static int read_small(const char *path, char *buf, size_t cap, size_t *len, char *err,
                      size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	size_t have = 0;

	if (fd < 0)
		return ns_error(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		ns_error(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ns_error(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size >= cap) {
		ns_error(err, errlen, "%s: too large", path);
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ns_error(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == cap) {
			ns_error(err, errlen, "%s: too large", path);
			goto fail;
		}
	}
	close(fd);
	*len = have;
	return 0;
fail:
	close(fd);
	return -1;
}

static int load_conf(struct ns_chain *ch, char *err, size_t errlen)
{
	size_t cap = FILE_MAX, len;
	char *buf = malloc(cap), path[600];
	struct ns_chainconf cc;
	struct stat st;
	uint16_t port = 0;
	int rc = -1;

	if (buf == NULL)
		return ns_error(err, errlen, "out of memory");
	memset(&cc, 0, sizeof(cc));
	snprintf(path, sizeof(path), "%s/params.dat", ch->dir);
	if (read_small(path, buf, cap, &len, err, errlen) != 0 ||
	    ns_chainconf_parse_params(buf, len, path, &port, err, errlen) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/multichain.conf", ch->dir);
	if (read_small(path, buf, NS_CHAINCONF_FILE_MAX + 1, &len, err, errlen) != 0 ||
	    ns_chainconf_parse_conf(buf, len, path, &cc, err, errlen) != 0)
		goto out;
	if (cc.rpcport != 0)
		port = cc.rpcport;
	if (stat(ch->dir, &st) != 0) {
		ns_error(err, errlen, "%s: %s", ch->dir, strerror(errno));
		goto out;
	}
	if (ns_rpc_target_set(&ch->target, cc.user, cc.password, port, NS_CHAIN_RPC_TIMEOUT_MS)
	    != 0) {
		ns_error(err, errlen, "%s: rpcuser and rpcpassword too long", path);
		goto out;
	}
	ch->target.check_owner = true;
	ch->target.owner = st.st_uid;
	ch->conf_loaded = true;
	rc = 0;
out:
	ns_wipe(&cc, sizeof(cc));
	ns_wipe(buf, cap);
	free(buf);
	return rc;
}

/* A call fails the RPC's health (no new admission until a refresh answers)
 * unless the node answered with a JSON-RPC error (a proof it refuses). */
static void unhealthy(struct ns_chain *ch)
{
	pthread_mutex_lock(&ch->mu);
	ch->healthy = false;
	pthread_mutex_unlock(&ch->mu);
}

/* One call, ended by deadline if sooner than its own timeout; none once
 * the worker is stopping. */
static int call(struct ns_chain *ch, const char *method, cJSON *params, int64_t deadline,
                size_t response_max, cJSON **doc, const cJSON **res, char *err,
                size_t errlen)
{
	struct ns_rpc_target t = ch->target;
	int64_t left = deadline - ns_now_ms();
	bool stop;
	int rc;

	*doc = NULL;
	*res = NULL;
	pthread_mutex_lock(&ch->mu);
	stop = ch->stop;
	pthread_mutex_unlock(&ch->mu);
	if (stop || left <= 0) {
		cJSON_Delete(params);
		snprintf(err, errlen, "%s: %s", method, stop ? "stopping" : "the refresh's deadline "
		         "passed");
		return stop ? NS_RPC_DOWN : NS_RPC_TIMEOUT;
	}
	if (left < t.timeout_ms)
		t.timeout_ms = (int)left;
	t.response_max = response_max;
	rc = ns_rpc_call(&t, method, params, doc, res, err, errlen);
	ns_wipe(&t, sizeof(t));
	pthread_mutex_lock(&ch->mu);
	ch->rpc_calls++;
	if (rc != NS_RPC_OK && rc != NS_RPC_ERROR)
		ch->healthy = false;
	pthread_mutex_unlock(&ch->mu);
	/* The conf is read again after a refusal or no connection: a node
	 * that created its chain since, or restarted with new credentials. */
	if (rc == NS_RPC_DOWN || rc == NS_RPC_DENIED || rc == NS_RPC_STRANGER)
		ch->conf_loaded = false;
	return rc;
}

static cJSON *params2(const char *a, const char *b)
{
	cJSON *p = cJSON_CreateArray();

	if (p != NULL && a != NULL)
		cJSON_AddItemToArray(p, cJSON_CreateString(a));
	if (p != NULL && b != NULL)
		cJSON_AddItemToArray(p, cJSON_CreateString(b));
	return p;
}

/* listpermissions connect "A1,A2,...": for each of the n addresses, into
 * held[i], 1 if it holds connect at blocks, else 0; 0 or an ns_rpc_rc.
 * MultiChain takes a comma-separated list of addresses (rpcpermissions.cpp)
 * and lists the items of those that have one.  The rule: an item of type
 * connect for the address with startblock <= blocks < endblock
 * (MultiChain's bounds: from startblock on, up to endblock excluded; a
 * revoked one has both 0). */
static int list_connect(struct ns_chain *ch, char (*addrs)[NS_PROOF_ADDR_MAX + 1], int n,
                        int64_t blocks, int64_t deadline, int *held, char *err,
                        size_t errlen)
{
	cJSON *doc = NULL;
	const cJSON *res, *it;
	size_t cap = (size_t)n * (NS_PROOF_ADDR_MAX + 1) + 1, len = 0;
	char *list = malloc(cap);
	int rc;

	if (list == NULL) {
		snprintf(err, errlen, "listpermissions: out of memory");
		return NS_RPC_GARBAGE;
	}
	for (int i = 0; i < n; i++) {
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "", addrs[i]);
		held[i] = 0;
	}
	rc = call(ch, "listpermissions", params2("connect", list), deadline, LIST_RESPONSE_MAX,
	          &doc, &res, err, errlen);
	free(list);
	if (rc != NS_RPC_OK)
		return rc;
	if (!cJSON_IsArray(res)) {
		snprintf(err, errlen, "listpermissions: the result is not a list");
		rc = NS_RPC_GARBAGE;
		goto out;
	}
	cJSON_ArrayForEach(it, res) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "address");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "startblock");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "endblock");

		if (!cJSON_IsString(a) || !cJSON_IsString(t) || !cJSON_IsNumber(s) ||
		    !cJSON_IsNumber(e)) {
			snprintf(err, errlen, "listpermissions: an item without address, type, "
			         "startblock or endblock");
			rc = NS_RPC_GARBAGE;
			goto out;
		}
		if (strcmp(t->valuestring, "connect") != 0 || !(s->valuedouble <= (double)blocks &&
		    (double)blocks < e->valuedouble))
			continue;
		for (int i = 0; i < n; i++)
			if (strcmp(a->valuestring, addrs[i]) == 0)
				held[i] = 1;
	}
out:
	cJSON_Delete(doc);
	return rc;
}

/* The refresh failed with err: state and a log line when it changes. */
static void refresh_failed(struct ns_chain *ch, bool conf, const char *err)
{
	char line[300];

	if (conf)
		snprintf(line, sizeof(line), "waiting for the node's RPC (%s)", err);
	else
		snprintf(line, sizeof(line), "the node's RPC at 127.0.0.1:%u: %s", ch->target.port,
		         err);
	pthread_mutex_lock(&ch->mu);
	if (strcmp(ch->error, line) != 0)
		ns_log(ch->state == RPC_READY ? NS_LOG_WARN : NS_LOG_INFO, "chain: %s%s", line,
		       ch->state == RPC_READY ? "; new connections refused until it answers" :
		                                "; connections refused until it answers");
	snprintf(ch->error, sizeof(ch->error), "%s", line);
	ch->healthy = false;
	if (ch->state == RPC_READY || ch->last_ok_ms != 0)
		ch->state = RPC_ERROR;
	pthread_mutex_unlock(&ch->mu);
}

/*
 * A refresh: getinfo, signmessage when the address or the chain changed,
 * and one listpermissions for our address and every address of the
 * permission cache (one more per LIST_BATCH addresses), all within
 * NS_CHAIN_REFRESH_DEADLINE_MS; the stop flag is looked at before each.
 */
static void refresh(struct ns_chain *ch)
{
	char err[200], addr[NS_PROOF_ADDR_MAX + 1], name[NS_CHAIN_NAME_MAX + 1];
	char stmt[NS_PROOF_STATEMENT_MAX], sig[NS_PROOF_SIG_MAX + 1] = "";
	const cJSON *res, *hl, *cn, *bl;
	char (*todo)[NS_PROOF_ADDR_MAX + 1] = NULL;
	int *held = NULL;
	int ntodo = 0, rc, own;
	cJSON *doc = NULL;
	bool need_sig;
	int64_t blocks, now = ns_now_ms(), deadline = now + NS_CHAIN_REFRESH_DEADLINE_MS;

	if (!ch->conf_loaded && load_conf(ch, err, sizeof(err)) != 0) {
		refresh_failed(ch, true, err);
		return;
	}
	rc = call(ch, "getinfo", cJSON_CreateArray(), deadline, 0, &doc, &res, err, sizeof(err));
	if (rc != NS_RPC_OK)
		goto failed;
	hl = cJSON_GetObjectItemCaseSensitive(res, "handshakelocal");
	cn = cJSON_GetObjectItemCaseSensitive(res, "chainname");
	bl = cJSON_GetObjectItemCaseSensitive(res, "blocks");
	if (!cJSON_IsString(hl) || !ns_proof_addr_ok(hl->valuestring) || !cJSON_IsString(cn) ||
	    !ns_proof_chain_ok(cn->valuestring) || !cJSON_IsNumber(bl) || bl->valuedouble < 0 ||
	    bl->valuedouble > 1e15) {
		snprintf(err, sizeof(err), "getinfo: no handshakelocal address, chainname or blocks");
		rc = NS_RPC_GARBAGE;
		goto failed;
	}
	snprintf(addr, sizeof(addr), "%s", hl->valuestring);
	snprintf(name, sizeof(name), "%s", cn->valuestring);
	blocks = (int64_t)bl->valuedouble;
	cJSON_Delete(doc);
	doc = NULL;

	pthread_mutex_lock(&ch->mu);
	need_sig = ch->own_sig[0] == '\0' || strcmp(ch->own_addr, addr) != 0 ||
	           strcmp(ch->chainname, name) != 0;
	pthread_mutex_unlock(&ch->mu);
	if (need_sig) {
		if (ns_proof_statement(name, ch->own_key, stmt, sizeof(stmt)) != 0) {
			snprintf(err, sizeof(err), "getinfo: chainname unusable");
			rc = NS_RPC_GARBAGE;
			goto failed;
		}
		rc = call(ch, "signmessage", params2(addr, stmt), deadline, 0, &doc, &res, err,
		          sizeof(err));
		if (rc != NS_RPC_OK)
			goto failed;
		if (!cJSON_IsString(res) || !ns_proof_sig_ok(res->valuestring)) {
			snprintf(err, sizeof(err), "signmessage: the result is not a base64 signature");
			rc = NS_RPC_GARBAGE;
			goto failed;
		}
		snprintf(sig, sizeof(sig), "%s", res->valuestring);
		cJSON_Delete(doc);
		doc = NULL;
	}

	/* The addresses to check: ours, then the pinned ones (live
	 * connections) and those asked about lately. */
	pthread_mutex_lock(&ch->mu);
	todo = malloc((size_t)(ch->perms_n + 1) * sizeof(*todo));
	held = malloc((size_t)(ch->perms_n + 1) * sizeof(*held));
	if (todo != NULL && held != NULL) {
		snprintf(todo[ntodo++], sizeof(todo[0]), "%s", addr);
		for (int i = 0; i < ch->perms_n; i++) {
			struct perm *p = &ch->perms[i];
			if (p->addr[0] == '\0' || strcmp(p->addr, addr) == 0)
				continue;
			if (p->pins == 0 && now - p->used_ms > PERM_IDLE_MS)
				memset(p, 0, sizeof(*p));
			else
				snprintf(todo[ntodo++], sizeof(todo[0]), "%s", p->addr);
		}
	}
	pthread_mutex_unlock(&ch->mu);
	if (todo == NULL || held == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		rc = NS_RPC_GARBAGE;
		goto failed;
	}
	for (int i = 0; i < ntodo; i += LIST_BATCH) {
		int n = ntodo - i < LIST_BATCH ? ntodo - i : LIST_BATCH;

		rc = list_connect(ch, todo + i, n, blocks, deadline, held + i, err, sizeof(err));
		if (rc < 0)
			goto failed;
	}
	own = held[0];

	pthread_mutex_lock(&ch->mu);
	now = ns_now_ms();
	for (int i = 1; i < ntodo; i++) {
		struct perm *p = perm_find(ch, todo[i]);

		if (p == NULL)
			continue;
		if (p->checked && p->allowed && !held[i])
			ns_log(NS_LOG_INFO, "chain: %s no longer holds connect", p->addr);
		p->allowed = held[i] == 1;
		p->checked = true;
		p->checked_ms = now;
	}
	if (ch->state != RPC_READY || strcmp(ch->own_addr, addr) != 0 ||
	    strcmp(ch->chainname, name) != 0 || ch->own_connect != (own == 1))
		ns_log(own == 1 ? NS_LOG_INFO : NS_LOG_WARN, "chain: node's RPC answers: chain %s, "
		       "address %s%s", name, addr, own == 1 ? " (holds connect)"
		       : " does NOT hold connect: every connection refused");
	if (need_sig)
		snprintf(ch->own_sig, sizeof(ch->own_sig), "%s", sig);
	/* Proofs were verified against the old chain's statements. */
	if (ch->chainname[0] != '\0' && strcmp(ch->chainname, name) != 0)
		memset(ch->proofs, 0, sizeof(ch->proofs));
	snprintf(ch->own_addr, sizeof(ch->own_addr), "%s", addr);
	snprintf(ch->chainname, sizeof(ch->chainname), "%s", name);
	ch->own_connect = own == 1;
	ch->blocks = blocks;
	ch->state = RPC_READY;
	ch->healthy = true;
	ch->error[0] = '\0';
	ch->last_ok_ms = now;
	ch->last_refresh_wall = ns_wall_s();
	pthread_mutex_unlock(&ch->mu);
	free(todo);
	free(held);
	return;
failed:
	cJSON_Delete(doc);
	free(todo);
	free(held);
	refresh_failed(ch, false, err);
}

/* One verification: the verdict and why.  Only while the RPC is healthy;
 * two calls at most (verifymessage, listpermissions), within
 * NS_CHAIN_REFRESH_DEADLINE_MS. */
static int verify(struct ns_chain *ch, const struct job *j, char *why, size_t whylen)
{
	char stmt[NS_PROOF_STATEMENT_MAX], name[NS_CHAIN_NAME_MAX + 1], err[200];
	char one[1][NS_PROOF_ADDR_MAX + 1];
	uint8_t sh[32];
	struct proof_seen *seen;
	struct perm *p;
	bool verified = false, fresh = false, allowed = false, healthy;
	const cJSON *res;
	cJSON *doc;
	int64_t blocks, now = ns_now_ms(), deadline = now + NS_CHAIN_REFRESH_DEADLINE_MS;
	int rc, held;

	sig_hash(j->proof.sig, sh);
	pthread_mutex_lock(&ch->mu);
	snprintf(name, sizeof(name), "%s", ch->chainname);
	blocks = ch->blocks;
	healthy = ch->healthy;
	if ((seen = proof_find(ch, j->key, j->proof.addr, sh)) != NULL &&
	    (seen->ok || now - seen->at_ms < ch->refresh_ms)) {
		verified = seen->ok, fresh = true;
		seen->used_ms = now;
	}
	pthread_mutex_unlock(&ch->mu);
	if (!healthy) {
		snprintf(why, whylen, "chain: the node's RPC failed since its last refresh");
		return NS_CHAIN_UNAVAILABLE;
	}
	if (name[0] == '\0' || ns_proof_statement(name, j->key, stmt, sizeof(stmt)) != 0) {
		snprintf(why, whylen, "chain: no chain name from the node yet");
		return NS_CHAIN_UNAVAILABLE;
	}
	if (!fresh) {
		cJSON *params = params2(j->proof.addr, j->proof.sig);

		if (params != NULL)
			cJSON_AddItemToArray(params, cJSON_CreateString(stmt));
		rc = call(ch, "verifymessage", params, deadline, 0, &doc, &res, err, sizeof(err));
		if (rc == NS_RPC_ERROR) {
			snprintf(why, whylen, "proof of %s refused by the node (%.60s)", j->proof.addr, err);
			return NS_CHAIN_BAD_PROOF;
		}
		if (rc != NS_RPC_OK || !cJSON_IsBool(res)) {
			if (rc == NS_RPC_OK) {
				cJSON_Delete(doc);
				unhealthy(ch);
			}
			snprintf(why, whylen, "chain: %.100s", rc == NS_RPC_OK ?
			         "verifymessage: the result is not true or false" : err);
			return NS_CHAIN_UNAVAILABLE;
		}
		verified = cJSON_IsTrue(res);
		cJSON_Delete(doc);
		pthread_mutex_lock(&ch->mu);
		proof_put(ch, j->key, j->proof.addr, sh, verified, ns_now_ms());
		pthread_mutex_unlock(&ch->mu);
	}
	if (!verified) {
		snprintf(why, whylen, "proof of %s does not verify (another key or chain?)",
		         j->proof.addr);
		return NS_CHAIN_BAD_PROOF;
	}
	pthread_mutex_lock(&ch->mu);
	p = perm_get(ch, j->proof.addr, now);
	if (p != NULL) {
		p->used_ms = now;
		fresh = p->checked && now - p->checked_ms < ch->refresh_ms;
		allowed = p->allowed;
	}
	pthread_mutex_unlock(&ch->mu);
	if (p == NULL) {
		snprintf(why, whylen, "chain: out of memory");
		return NS_CHAIN_UNAVAILABLE;
	}
	if (!fresh) {
		snprintf(one[0], sizeof(one[0]), "%s", j->proof.addr);
		rc = list_connect(ch, one, 1, blocks, deadline, &held, err, sizeof(err));
		if (rc < 0) {
			unhealthy(ch);
			snprintf(why, whylen, "chain: %.100s", err);
			return NS_CHAIN_UNAVAILABLE;
		}
		allowed = held == 1;
		pthread_mutex_lock(&ch->mu);
		if ((p = perm_get(ch, j->proof.addr, now)) != NULL) {
			p->allowed = allowed;
			p->checked = true;
			p->checked_ms = ns_now_ms();
		}
		pthread_mutex_unlock(&ch->mu);
	}
	if (!allowed) {
		snprintf(why, whylen, "%s does not hold connect", j->proof.addr);
		return NS_CHAIN_NOT_MEMBER;
	}
	snprintf(why, whylen, "%s holds connect", j->proof.addr);
	return NS_CHAIN_YES;
}

static void *worker(void *arg)
{
	struct ns_chain *ch = arg;
	int64_t next_refresh = 0;

	pthread_mutex_lock(&ch->mu);
	while (!ch->stop) {
		int64_t now = ns_now_ms();

		/* Refreshes start every interval (from the start of the last),
		 * before any job waiting. */
		if (now >= next_refresh) {
			pthread_mutex_unlock(&ch->mu);
			refresh(ch);
			pthread_mutex_lock(&ch->mu);
			next_refresh = now + ch->refresh_ms;
			ch->refreshed = true;
			wake_loop(ch);
			continue;
		}
		if (ch->jobs_n > 0) {
			struct job j = ch->jobs[ch->jobs_head];
			char why[256];
			int v;

			ch->jobs_head = (ch->jobs_head + 1) % NS_CHAIN_QUEUE;
			ch->jobs_n--;
			pthread_mutex_unlock(&ch->mu);
			v = verify(ch, &j, why, sizeof(why));
			pthread_mutex_lock(&ch->mu);
			push_result(ch, j.id, v, why);
			wake_loop(ch);
			continue;
		}
		{
			struct timespec ts;
			int64_t wait = next_refresh - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (long)(wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&ch->cv, &ch->mu, &ts);
		}
	}
	pthread_mutex_unlock(&ch->mu);
	return NULL;
}

/* ---- the event loop's side ---- */

static void on_event(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_chain *ch = cookie;
	struct result got[RESULTS_MAX];
	uint64_t v;
	int n;
	bool refreshed;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		ns_log(NS_LOG_WARN, "chain: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&ch->mu);
	n = ch->results_n;
	memcpy(got, ch->results, (size_t)n * sizeof(got[0]));
	ch->results_n = 0;
	refreshed = ch->refreshed;
	ch->refreshed = false;
	pthread_mutex_unlock(&ch->mu);
	for (int i = 0; i < n && ch->on_verdict != NULL; i++)
		ch->on_verdict(ch->cookie, got[i].id, got[i].verdict, got[i].why);
	if (refreshed && ch->on_refresh != NULL)
		ch->on_refresh(ch->cookie);
}

struct ns_chain *ns_chain_new(struct ns_loop *loop, const char *dir, int refresh_s,
                              const uint8_t own_key[32], char *err, size_t errlen)
{
	struct ns_chain *ch;
	pthread_condattr_t ca;
	int fd;

	if (strlen(dir) >= sizeof(ch->dir) - 20) {
		ns_error(err, errlen, "--chain-dir: path too long");
		return NULL;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		ns_error(err, errlen, "out of memory");
		return NULL;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		ns_error(err, errlen, "eventfd: %s", strerror(errno));
		free(ch);
		return NULL;
	}
	ch->loop = loop;
	snprintf(ch->dir, sizeof(ch->dir), "%s", dir);
	ch->refresh_ms = refresh_s * 1000;
	memcpy(ch->own_key, own_key, 32);
	pthread_mutex_init(&ch->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->cv, &ca);
	pthread_condattr_destroy(&ca);
	ch->tokens = NS_CHAIN_RATE;
	ch->tokens_ms = ns_now_ms();
	ns_watch_init(&ch->watch, loop, fd, on_event, ch);
	return ch;
}

void ns_chain_set_handlers(struct ns_chain *ch, ns_chain_verdict_fn *verdict,
                           ns_chain_refresh_fn *refreshed, void *cookie)
{
	ch->on_verdict = verdict;
	ch->on_refresh = refreshed;
	ch->cookie = cookie;
}

int ns_chain_start(struct ns_chain *ch, char *err, size_t errlen)
{
	int rc;

	/* Watched from here: the loop may not have been set up at new. */
	ns_watch_set(&ch->watch, EPOLLIN);
	rc = pthread_create(&ch->thread, NULL, worker, ch);

	if (rc != 0)
		return ns_error(err, errlen, "chain worker: %s", strerror(rc));
	ch->started = true;
	return 0;
}

void ns_chain_free(struct ns_chain *ch)
{
	if (ch == NULL)
		return;
	if (ch->started) {
		pthread_mutex_lock(&ch->mu);
		ch->stop = true;
		pthread_cond_signal(&ch->cv);
		pthread_mutex_unlock(&ch->mu);
		pthread_join(ch->thread, NULL);
	}
	ns_watch_drop(&ch->watch);
	free(ch->perms);
	pthread_cond_destroy(&ch->cv);
	pthread_mutex_destroy(&ch->mu);
	ns_wipe(ch, sizeof(*ch));
	free(ch);
}

int ns_chain_own_proof(struct ns_chain *ch, uint8_t *out, size_t outlen, char *why,
                       size_t whylen)
{
	struct ns_proof p;
	int n = -1;

	pthread_mutex_lock(&ch->mu);
	if (ch->own_sig[0] == '\0' || !ch->healthy || stale(ch, ns_now_ms()))
		snprintf(why, whylen, "chain: %s", ch->error[0] ? ch->error
		         : "waiting for the node's RPC (no answer yet)");
	else if (!ch->own_connect)
		snprintf(why, whylen, "chain: this node's address %s does not hold connect",
		         ch->own_addr);
	else {
		snprintf(p.addr, sizeof(p.addr), "%s", ch->own_addr);
		snprintf(p.sig, sizeof(p.sig), "%s", ch->own_sig);
		n = ns_proof_encode(&p, out, outlen);
		if (n < 0)
			snprintf(why, whylen, "chain: own proof does not fit");
	}
	pthread_mutex_unlock(&ch->mu);
	return n;
}

int ns_chain_ask(struct ns_chain *ch, uint64_t id, const uint8_t key[32],
                 const struct ns_proof *p)
{
	int64_t now = ns_now_ms();
	uint8_t sh[32];
	struct proof_seen *seen;
	struct perm *perm;
	int v = NS_CHAIN_QUEUED;

	sig_hash(p->sig, sh);
	pthread_mutex_lock(&ch->mu);
	/* New admissions only while the RPC is healthy. */
	if (!ch->healthy || stale(ch, now) || !ch->own_connect) {
		v = NS_CHAIN_UNAVAILABLE;
		goto out;
	}
	seen = proof_find(ch, key, p->addr, sh);
	perm = perm_find(ch, p->addr);
	if (seen != NULL)
		seen->used_ms = now;
	if (seen != NULL && !seen->ok && now - seen->at_ms < ch->refresh_ms) {
		v = NS_CHAIN_BAD_PROOF;
		goto out;
	}
	if (seen != NULL && seen->ok && perm != NULL && perm->checked &&
	    now - perm->checked_ms < ch->refresh_ms) {
		perm->used_ms = now;
		v = perm->allowed ? NS_CHAIN_YES : NS_CHAIN_NOT_MEMBER;
		goto out;
	}
	/* What costs RPC calls is rate-limited and queued, never waited for. */
	ch->tokens += (double)(now - ch->tokens_ms) * NS_CHAIN_RATE / 1000.0;
	if (ch->tokens > NS_CHAIN_RATE)
		ch->tokens = NS_CHAIN_RATE;
	ch->tokens_ms = now;
	if (ch->tokens < 1 || ch->jobs_n == NS_CHAIN_QUEUE) {
		v = NS_CHAIN_UNAVAILABLE;
		goto out;
	}
	ch->tokens -= 1;
	{
		struct job *j = &ch->jobs[(ch->jobs_head + ch->jobs_n) % NS_CHAIN_QUEUE];
		j->id = id;
		memcpy(j->key, key, 32);
		j->proof = *p;
		ch->jobs_n++;
	}
	pthread_cond_signal(&ch->cv);
out:
	pthread_mutex_unlock(&ch->mu);
	return v;
}

bool ns_chain_holds_connect(struct ns_chain *ch, const char *addr)
{
	int64_t now = ns_now_ms();
	struct perm *p;
	bool ok;

	pthread_mutex_lock(&ch->mu);
	p = perm_find(ch, addr);
	if (p != NULL)
		p->used_ms = now;
	/* An address the cache does not know, or that no refresh or
	 * verification checked: no. */
	ok = p != NULL && p->checked && p->allowed && !stale(ch, now) && ch->own_connect;
	pthread_mutex_unlock(&ch->mu);
	return ok;
}

bool ns_chain_pin(struct ns_chain *ch, const char *addr)
{
	int64_t now = ns_now_ms();
	struct perm *p;

	pthread_mutex_lock(&ch->mu);
	if ((p = perm_get(ch, addr, now)) != NULL) {
		p->pins++;
		p->used_ms = now;
	}
	pthread_mutex_unlock(&ch->mu);
	return p != NULL;
}

void ns_chain_unpin(struct ns_chain *ch, const char *addr)
{
	struct perm *p;

	pthread_mutex_lock(&ch->mu);
	if ((p = perm_find(ch, addr)) != NULL && p->pins > 0) {
		p->pins--;
		p->used_ms = ns_now_ms();
	}
	pthread_mutex_unlock(&ch->mu);
}

bool ns_chain_stale(struct ns_chain *ch)
{
	bool st;

	pthread_mutex_lock(&ch->mu);
	st = ch->last_ok_ms != 0 && stale(ch, ns_now_ms());
	pthread_mutex_unlock(&ch->mu);
	return st;
}

void ns_chain_status(struct ns_chain *ch, struct ns_chain_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ch->mu);
	out->rpc = ch->state == RPC_READY ? "ready" : ch->state == RPC_ERROR ? "error" : "waiting";
	snprintf(out->error, sizeof(out->error), "%s", ch->error);
	snprintf(out->chain, sizeof(out->chain), "%s", ch->chainname);
	snprintf(out->address, sizeof(out->address), "%s", ch->own_addr);
	out->own_connect = ch->own_connect;
	out->blocks = ch->blocks;
	out->last_refresh = ch->last_refresh_wall;
	out->rpc_calls = ch->rpc_calls;
	pthread_mutex_unlock(&ch->mu);
}
