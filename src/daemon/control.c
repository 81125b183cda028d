/* control.c: the control socket (control.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/strbuf.h"
#include "control.h"
#include "daemon.h"
#include "stats.h"

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int ns_control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	if (unix_addr(path, &sa) != 0) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* A socket that answers belongs to a running daemon; one that does
	 * not was left by a crash. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "nodeseal is already running (control socket %s answers)",
		         path);
		return -1;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 16) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The watchdog's line: what another program did to the rules. */
static void rules_text(const struct ns_stats *st, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, "rules: %s, put back %llu time%s\n",
	                 st->rules_missing ? "MISSING (the guard table keeps the ports closed)"
	                                   : "in place",
	                 (unsigned long long)st->rules_restored,
	                 st->rules_restored == 1 ? "" : "s");
}

/* Packet mode's counters, for people. */
static void packet_text(const struct ns_queue_snapshot *q, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, "segments:");
	for (int i = 0; i < NS_FC_COUNT; i++)
		ns_strbuf_printf(o, " %s %llu", ns_flow_count_names[i],
		                 (unsigned long long)q->segments[i]);
	ns_strbuf_printf(o, "\nqueue: packets %llu, dropped by the kernel %llu, overruns %llu\n",
	                 (unsigned long long)q->st.packets, (unsigned long long)q->st.kernel_dropped,
	                 (unsigned long long)q->st.enobufs);
	ns_strbuf_printf(o, "path MTU: icmp %llu, lowered %llu, at minimum %llu, resent %llu, "
	                 "peers %u\n", (unsigned long long)q->pm.icmp,
	                 (unsigned long long)q->pm.lowered, (unsigned long long)q->pm.floor,
	                 (unsigned long long)q->pm.resent, q->pmtu_peers);
}

static const char *policy_name(enum ns_policy p)
{
	return p == NS_POLICY_REQUIRED ? "required" : "opportunistic";
}

/* A string for JSON: the path is the operator's, so escape what needs it. */
static void json_string(struct ns_strbuf *o, const char *s)
{
	ns_strbuf_printf(o, "\"");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			ns_strbuf_printf(o, "\\%c", ch);
		else if (ch < 0x20)
			ns_strbuf_printf(o, "\\u%04x", ch);
		else
			ns_strbuf_printf(o, "%c", ch);
	}
	ns_strbuf_printf(o, "\"");
}

/* Connections open with the peer at addr. */
static int open_with(struct ns_daemon *d, const char *addr, int64_t now)
{
	struct ns_stats_cursor cur = { NULL, 0 };
	struct ns_conn_info ci;
	int n = 0;

	while (ns_stats_conn_next(d, &cur, now, &ci))
		n += ci.since != 0 && strcmp(ci.addr, addr) == 0;
	return n;
}

static void utc_text(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, cap, "-");
	else
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The policy and the peers, sealed or in clear, for people. */
static void peers_text(struct ns_daemon *d, const struct ns_stats *st, struct ns_strbuf *o,
                       int64_t now)
{
	struct ns_peer_info pi;
	size_t cur = 0;
	int sealed = st->peers_sealed, clear = st->peers_clear;
	char since[32];

	ns_strbuf_printf(o, "policy %s\npeers: %d sealed, %d in clear\n", policy_name(st->policy),
	                 sealed, clear);
	if (sealed + clear == 0)
		return;
	ns_strbuf_printf(o, "%-40s %-6s %-20s %s\n", "ADDRESS", "STATE", "SINCE", "OPEN");
	while (ns_peers_next(&d->peers, &cur, &pi)) {
		utc_text(pi.since, since, sizeof(since));
		ns_strbuf_printf(o, "%-40s %-6s %-20s %d\n", pi.addr,
		                 pi.sealed ? "sealed" : "CLEAR", since, open_with(d, pi.addr, now));
	}
}

static void chain_time(int64_t t, char *buf, size_t len)
{
	if (t == 0)
		snprintf(buf, len, "never");
	else
		utc_text(t, buf, len);
}

/* "membership: open", "membership: N members (FILE)" or the chain's. */
static void membership_text(const struct ns_daemon *d, struct ns_strbuf *o)
{
	if (d->chain != NULL) {
		struct ns_chain_status cs;
		char at[40];

		ns_chain_status(d->chain, &cs);
		chain_time(cs.last_refresh, at, sizeof(at));
		ns_strbuf_printf(o, "membership: chain %s, address %s%s, RPC %s, last refresh %s%s%s\n",
		           cs.chain[0] ? cs.chain : "?", cs.address[0] ? cs.address : "?",
		           cs.address[0] && !cs.own_connect ? " (WITHOUT connect)" : "", cs.rpc, at,
		           cs.error[0] ? ": " : "", cs.error);
	} else if (d->cfg->members_file == NULL)
		ns_strbuf_printf(o, "membership: open\n");
	else
		ns_strbuf_printf(o, "membership: %zu member%s (%s)\n", d->members.n,
		                 d->members.n == 1 ? "" : "s", d->cfg->members_file);
}

static void membership_json(const struct ns_daemon *d, struct ns_strbuf *o)
{
	if (d->chain != NULL) {
		struct ns_chain_status cs;

		ns_chain_status(d->chain, &cs);
		ns_strbuf_printf(o, ",\"membership\":{\"mode\":\"chain\",\"members\":null,\"file\":null,"
		           "\"chain_dir\":");
		json_string(o, d->cfg->chain_dir);
		ns_strbuf_printf(o, ",\"chain\":");
		json_string(o, cs.chain);
		ns_strbuf_printf(o, ",\"address\":\"%s\",\"own_connect\":%s,\"rpc\":\"%s\",\"error\":",
		           cs.address, cs.own_connect ? "true" : "false", cs.rpc);
		json_string(o, cs.error);
		ns_strbuf_printf(o, ",\"blocks\":%lld,\"last_refresh\":%lld,\"rpc_calls\":%llu}",
		           (long long)cs.blocks, (long long)cs.last_refresh,
		           (unsigned long long)cs.rpc_calls);
		return;
	}
	if (d->cfg->members_file == NULL) {
		ns_strbuf_printf(o, ",\"membership\":{\"mode\":\"open\",\"members\":null,"
		                 "\"file\":null}");
		return;
	}
	ns_strbuf_printf(o, ",\"membership\":{\"mode\":\"file\",\"members\":%zu,\"file\":",
	                 d->members.n);
	json_string(o, d->cfg->members_file);
	ns_strbuf_printf(o, ",\"reloads\":%llu}", (unsigned long long)d->reloads);
}

/* "network keys: sends A, accepts A, B": fingerprints, never the keys. */
static void netkeys_text(const struct ns_daemon *d, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, "network key%s: sends %s, accepts", d->nnetkeys == 1 ? "" : "s",
	                 d->netkey_fp[0]);
	for (size_t i = 0; i < d->nnetkeys; i++)
		ns_strbuf_printf(o, "%s %s", i ? "," : "", d->netkey_fp[i]);
	ns_strbuf_printf(o, " (%s)\n", d->cfg->network_key_file != NULL ? d->cfg->network_key_file
	                 : "inline");
}

static void netkeys_json(const struct ns_daemon *d, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, ",\"network_keys\":{\"send\":\"%s\",\"accept\":[", d->netkey_fp[0]);
	for (size_t i = 0; i < d->nnetkeys; i++)
		ns_strbuf_printf(o, "%s\"%s\"", i ? "," : "", d->netkey_fp[i]);
	ns_strbuf_printf(o, "],\"file\":");
	if (d->cfg->network_key_file != NULL)
		json_string(o, d->cfg->network_key_file);
	else
		ns_strbuf_printf(o, "null");
	ns_strbuf_printf(o, ",\"reloads\":%llu}", (unsigned long long)d->key_reloads);
}

/* One line per connection (packet mode counts no bytes per connection). */
static void conns_text(struct ns_daemon *d, struct ns_strbuf *o, int64_t now)
{
	struct ns_stats_cursor cur = { NULL, 0 };
	struct ns_conn_info ci;

	ns_strbuf_printf(o, "%-46s %-16s %-16s %-3s %-6s %12s %12s %8s %s\n", "PEER", "FINGERPRINT",
	           "NAME", "DIR", "SEAL", "SENT", "RECEIVED", "AGE", "STATE");
	while (ns_stats_conn_next(d, &cur, now, &ci))
		ns_strbuf_printf(o, "%-46s %-16s %-16s %-3s %-6s %12llu %12llu %7llds %s\n", ci.peer,
		           ci.fingerprint[0] ? ci.fingerprint : "-",
		           ci.name[0] ? ci.name : ci.chain_addr[0] ? ci.chain_addr : "-",
		           ci.outbound ? "out" : "in",
		           ci.sealed ? "sealed" : "CLEAR", (unsigned long long)ci.bytes_out,
		           (unsigned long long)ci.bytes_in, (long long)(ci.age_ms / 1000), ci.state);
}

static void status_text(struct ns_daemon *d, struct ns_strbuf *o, int64_t now)
{
	struct ns_stats st;

	ns_stats_gather(d, now, &st);
	if (st.mode == NS_MODE_PACKET)
		ns_strbuf_printf(o, "packet mode, queue %u, %u connection%s\n", st.q.num,
		                 st.q.flows, st.q.flows == 1 ? "" : "s");
	else
		ns_strbuf_printf(o, "node %s, %d connection%s\n", st.relay.fingerprint,
		                 st.relay.conns, st.relay.conns == 1 ? "" : "s");
	rules_text(&st, o);
	membership_text(d, o);
	netkeys_text(d, o);
	peers_text(d, &st, o, now);
	if (st.mode == NS_MODE_PACKET)
		packet_text(&st.q, o);
	conns_text(d, o, now);
}

/* Packet mode's counters, for scripts. */
static void packet_json(const struct ns_queue_snapshot *q, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, ",\"mode\":\"packet\",\"flows\":%u,\"segments\":{", q->flows);
	for (int i = 0; i < NS_FC_COUNT; i++)
		ns_strbuf_printf(o, "%s\"%s\":%llu", i ? "," : "", ns_flow_count_names[i],
		                 (unsigned long long)q->segments[i]);
	ns_strbuf_printf(o, "},\"queue\":{\"number\":%u,\"packets\":%llu,\"accepted\":%llu,"
	                 "\"dropped\":%llu,\"enobufs\":%llu,\"kernel_dropped\":%llu,"
	                 "\"user_dropped\":%llu,\"send_failed\":%llu}",
	                 q->num, (unsigned long long)q->st.packets,
	                 (unsigned long long)q->st.accepted, (unsigned long long)q->st.dropped,
	                 (unsigned long long)q->st.enobufs,
	                 (unsigned long long)q->st.kernel_dropped,
	                 (unsigned long long)q->st.user_dropped,
	                 (unsigned long long)q->st.send_failed);
	ns_strbuf_printf(o, ",\"pmtu\":{\"icmp\":%llu,\"lowered\":%llu,\"floor\":%llu,"
	                 "\"passed\":%llu,\"resent\":%llu,\"resend_failed\":%llu,\"peers\":%u}",
	                 (unsigned long long)q->pm.icmp, (unsigned long long)q->pm.lowered,
	                 (unsigned long long)q->pm.floor, (unsigned long long)q->pm.passed,
	                 (unsigned long long)q->pm.resent, (unsigned long long)q->pm.resend_failed,
	                 q->pmtu_peers);
	ns_strbuf_printf(o, ",\"payload\":{\"out\":%llu,\"in\":%llu}",
	                 (unsigned long long)q->payload_out, (unsigned long long)q->payload_in);
}

/* The relay's totals since start, for scripts. */
static void totals_json(const struct ns_relay_totals *t, struct ns_strbuf *o)
{
	ns_strbuf_printf(o, ",\"totals\":{\"handshakes\":%llu,\"clear\":%llu,\"bytes_out\":%llu,"
	                 "\"bytes_in\":%llu,\"records_out\":%llu,\"records_in\":%llu,"
	                 "\"rekeys\":%llu}",
	                 (unsigned long long)t->handshakes, (unsigned long long)t->clear,
	                 (unsigned long long)t->bytes_out, (unsigned long long)t->bytes_in,
	                 (unsigned long long)t->records_out, (unsigned long long)t->records_in,
	                 (unsigned long long)t->rekeys);
}

/* The policy and the peers, for scripts. */
static void peers_json(struct ns_daemon *d, const struct ns_stats *st, struct ns_strbuf *o,
                       int64_t now)
{
	struct ns_peer_info pi;
	size_t cur = 0;

	ns_strbuf_printf(o, ",\"policy\":\"%s\",\"peers\":[", policy_name(st->policy));
	while (ns_peers_next(&d->peers, &cur, &pi))
		ns_strbuf_printf(o, "%s{\"address\":\"%s\",\"state\":\"%s\",\"since\":%lld,"
		                 "\"open\":%d}",
		                 cur > 1 ? "," : "", pi.addr, pi.sealed ? "sealed" : "clear",
		                 (long long)pi.since, open_with(d, pi.addr, now));
	ns_strbuf_printf(o, "],\"summary\":{\"sealed\":%d,\"clear\":%d}", st->peers_sealed,
	                 st->peers_clear);
}

static void status_json(struct ns_daemon *d, struct ns_strbuf *o, int64_t now)
{
	struct ns_stats st;
	const struct ns_relay_stats *rs = &st.relay;
	struct ns_conn_info ci;
	struct ns_stats_cursor cur = { NULL, 0 };
	bool first = true;

	ns_stats_gather(d, now, &st);
	/* packet mode has no node key */
	if (rs->fingerprint[0])
		ns_strbuf_printf(o, "{\"fingerprint\":\"%s\",\"connections\":[", rs->fingerprint);
	else
		ns_strbuf_printf(o, "{\"fingerprint\":null,\"connections\":[");
	while (ns_stats_conn_next(d, &cur, now, &ci)) {
		ns_strbuf_printf(o,
		           "%s{\"peer\":\"%s\",\"fingerprint\":\"%s\",\"name\":%s%s%s,"
		           "\"direction\":\"%s\",\"sealed\":%s,\"since\":%lld,"
		           "\"bytes_out\":%llu,\"bytes_in\":%llu,\"age\":%.3f,\"state\":\"%s\","
		           "\"chain_address\":%s%s%s}",
		           first ? "" : ",", ci.peer, ci.fingerprint, ci.name[0] ? "\"" : "",
		           ci.name[0] ? ci.name : "null", ci.name[0] ? "\"" : "",
		           ci.outbound ? "out" : "in",
		           ci.sealed ? "true" : "false", (long long)ci.since,
		           (unsigned long long)ci.bytes_out, (unsigned long long)ci.bytes_in,
		           (double)ci.age_ms / 1000.0, ci.state, ci.chain_addr[0] ? "\"" : "",
		           ci.chain_addr[0] ? ci.chain_addr : "null", ci.chain_addr[0] ? "\"" : "");
		first = false;
	}
	ns_strbuf_printf(o, "],\"refused\":%llu,\"failed_handshakes\":{",
	                 (unsigned long long)rs->refused);
	for (int i = 0; i < NS_REFUSAL_KINDS; i++)
		ns_strbuf_printf(o, "%s\"%s\":%llu", i ? "," : "", ns_refusal_kinds[i],
		                 (unsigned long long)rs->refused_by[i]);
	ns_strbuf_printf(o, "},\"rules_restored\":%llu,\"rules_missing\":%s",
	                 (unsigned long long)st.rules_restored,
	                 st.rules_missing ? "true" : "false");
	peers_json(d, &st, o, now);
	membership_json(d, o);
	netkeys_json(d, o);
	if (st.mode == NS_MODE_PACKET) {
		packet_json(&st.q, o);
	} else {
		totals_json(&rs->totals, o);
		ns_strbuf_printf(o, ",\"mode\":\"proxy\"");
	}
	ns_strbuf_printf(o, "}\n");
}

static ns_watch_fn ctl_event;

void ns_control_path(const char *state_dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/control.sock", state_dir);
}

void ns_control_accept(struct ns_daemon *d)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(d->control.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ns_ctl *ctl;

		if (fd < 0)
			return;
		ctl = calloc(1, sizeof(*ctl));
		if (ctl == NULL) {
			close(fd);
			return;
		}
		ctl->d = d;
		ns_watch_init(&ctl->w, &d->loop, fd, ctl_event, ctl);
		ctl->next = d->ctls;
		d->ctls = ctl;
		ns_watch_set(&ctl->w, EPOLLIN);
	}
}

static void ctl_close(struct ns_daemon *d, struct ns_ctl *ctl)
{
	struct ns_ctl **pp;

	for (pp = &d->ctls; *pp != ctl; pp = &(*pp)->next)
		;
	*pp = ctl->next;
	ns_watch_drop(&ctl->w);
	free(ctl->out);
	free(ctl);
}

/* "policy" prints it, "policy NAME" changes it. */
static void policy_command(struct ns_daemon *d, const char *arg, struct ns_strbuf *o)
{
	enum ns_policy was = d->policy, p;
	int n;

	if (*arg == '\0') {
		ns_strbuf_printf(o, "policy %s\n", policy_name(d->policy));
		return;
	}
	if (strcmp(arg, " required") == 0) {
		p = NS_POLICY_REQUIRED;
	} else if (strcmp(arg, " opportunistic") == 0) {
		p = NS_POLICY_OPPORTUNISTIC;
	} else {
		ns_strbuf_printf(o, "error: policy is required or opportunistic\n");
		return;
	}
	n = ns_daemon_set_policy(d, p);
	ns_strbuf_printf(o, "policy %s (was %s): %d connection%s in clear reset\n", policy_name(p),
	                 policy_name(was), n, n == 1 ? "" : "s");
}

/* "forget ADDRESS" or "forget all": the peer memory, saved at once. */
static void forget_command(struct ns_daemon *d, const char *arg, struct ns_strbuf *o)
{
	struct ns_peer_addr a;
	char err[512];
	bool all = strcmp(arg, "all") == 0;
	int n;

	if (!all && ns_peer_addr_parse(arg, &a) != 0) {
		ns_strbuf_printf(o, "error: '%s' is not an IP address (or all)\n", arg);
		return;
	}
	n = ns_daemon_forget(d, all ? NULL : &a, err, sizeof(err));
	if (n < 0) {
		ns_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	ns_log(NS_LOG_INFO, "forgot %s: %d peer%s", arg, n, n == 1 ? "" : "s");
	if (all)
		ns_strbuf_printf(o, "forgot %d peer%s\n", n, n == 1 ? "" : "s");
	else if (n == 0)
		ns_strbuf_printf(o, "%s was not remembered\n", arg);
	else
		ns_strbuf_printf(o, "forgot %s\n", arg);
}

/* "reload": the members list and the network key file read again; a bad
 * file keeps both in force. */
static void reload_command(struct ns_daemon *d, struct ns_strbuf *o)
{
	char summary[1536], err[1024];

	if (ns_daemon_reload(d, summary, sizeof(summary), err, sizeof(err)) != 0) {
		ns_log(NS_LOG_ERROR, "reload refused, the members list and network keys in force "
		       "are kept: %s", err);
		ns_strbuf_printf(o, "error: reload refused, the members list and network keys in "
		                 "force are kept: %s\n", err);
		return;
	}
	ns_strbuf_printf(o, "%s\n", summary);
}

static void ctl_answer(struct ns_daemon *d, struct ns_ctl *ctl)
{
	struct ns_strbuf o = { 0 };
	int64_t now = ns_now_ms();

	ctl->in[strcspn(ctl->in, "\r\n")] = '\0';
	if (strcmp(ctl->in, "status") == 0) {
		status_text(d, &o, now);
	} else if (strcmp(ctl->in, "json") == 0) {
		status_json(d, &o, now);
	} else if (strcmp(ctl->in, "clear") == 0) {
		struct ns_stats st;
		ns_stats_gather(d, now, &st);
		ns_strbuf_printf(&o, "clear %d\n", st.peers_clear);
	} else if (strncmp(ctl->in, "policy", 6) == 0) {
		policy_command(d, ctl->in + 6, &o);
	} else if (strncmp(ctl->in, "forget ", 7) == 0) {
		forget_command(d, ctl->in + 7, &o);
	} else if (strcmp(ctl->in, "reload") == 0) {
		reload_command(d, &o);
	} else if (strcmp(ctl->in, "stop") == 0) {
		ns_log(NS_LOG_INFO, "stop requested on the control socket");
		ns_strbuf_printf(&o, "stopping\n");
		d->stop = true;
	} else {
		ns_strbuf_printf(&o, "error: unknown command\n");
	}
	ctl->out = o.p;
	ctl->outlen = o.len;
}

static void ctl_event(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_ctl *ctl = cookie;
	struct ns_daemon *d = ctl->d;
	ssize_t n;

	(void)events;
	if (ctl->out == NULL) {
		n = recv(w->fd, ctl->in + ctl->inlen, sizeof(ctl->in) - 1 - ctl->inlen, 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ctl_close(d, ctl);
			return;
		}
		ctl->inlen += (size_t)n;
		ctl->in[ctl->inlen] = '\0';
		if (strchr(ctl->in, '\n') == NULL && ctl->inlen < sizeof(ctl->in) - 1)
			return;
		ctl_answer(d, ctl);
	}
	while (ctl->outoff < ctl->outlen) {
		n = send(w->fd, ctl->out + ctl->outoff, ctl->outlen - ctl->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			ns_watch_set(w, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		ctl->outoff += (size_t)n;
	}
	ctl_close(d, ctl);
}

void ns_control_close_all(struct ns_daemon *d)
{
	while (d->ctls != NULL)
		ctl_close(d, d->ctls);
}

char *ns_control_request(const char *path, const char *cmd)
{
	struct sockaddr_un sa;
	struct ns_strbuf o = { 0 };
	char buf[4096];
	ssize_t n;
	int fd;

	if (unix_addr(path, &sa) != 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	ns_strbuf_printf(&o, "%s", "");
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		ns_strbuf_printf(&o, "%.*s", (int)n, buf);
	close(fd);
	return o.p;
}
