/*
 * daemon.c: start, run and stop (daemon.h).
 *
 * Start-up order matters for the fail-closed promise: keys, listeners and
 * the control socket first, then the interception rules, then the child.
 * So the node never runs unprotected, and a failure before the rules leaves
 * nothing installed.  On the way out the order reverses: the child has
 * exited before the rules go.
 */
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../intercept/intercept.h"
#include "../keys/keys.h"
#include "../packet/sockdiag.h"
#include "../util/caps.h"
#include "../util/confine.h"
#include "../util/errmsg.h"
#include "../util/log.h"
#include "../util/notify.h"
#include "control.h"
#include "daemon.h"

/* The checks that give one clear error instead of a half-working daemon. */
static int check_privileges(const struct ns_config *c, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
	uint32_t mark = c->fwmark;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
	    setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "missing privilege: nodeseal needs CAP_NET_ADMIN "
		         "(as root, or 'docker run --cap-add NET_ADMIN')");
		rc = -1;
	}
	close(fd);
	/* Packet mode sends a sealed segment longer than the path MTU the
	 * stack was told by a raw socket (resend.h): without CAP_NET_RAW every
	 * full-sized segment to a peer behind a narrower path would be lost. */
	if (rc == 0 && c->mode == NS_MODE_PACKET) {
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (fd >= 0) {
			close(fd);
		} else if (errno == EPERM || errno == EACCES) {
			snprintf(err, errlen, "missing privilege: packet mode needs CAP_NET_RAW as well "
			         "as CAP_NET_ADMIN, for its raw sockets of path MTU (as root, or "
			         "'podman run --cap-add NET_ADMIN,NET_RAW')");
			rc = -1;
		}
	}
	return rc;
}

/* SIGHUP: a reload, answered in the log. */
static void hup_reload(struct ns_daemon *d)
{
	char summary[1536], err[1024];

	ns_log(NS_LOG_INFO, "SIGHUP: reloading");
	if (ns_daemon_reload(d, summary, sizeof(summary), err, sizeof(err)) != 0)
		ns_log(NS_LOG_ERROR, "reload refused, the members list and network keys in force "
		       "are kept: %s", err);
}

static void on_signal(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_daemon *d = cookie;
	struct signalfd_siginfo si;

	(void)w;
	(void)events;
	while (read(d->signals.fd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGCHLD) {
			int status;
			pid_t pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				if (pid != d->child)
					continue;
				d->child_status = WIFEXITED(status) ? WEXITSTATUS(status)
				                                    : 128 + WTERMSIG(status);
				d->child = 0;
				d->stop = true;
			}
		} else if (sig == SIGHUP) {
			/* Ours first: the members list.  The child gets it too,
			 * as from any entrypoint (bitcoind-style nodes reopen
			 * their log on it). */
			hup_reload(d);
			if (d->child > 0)
				kill(d->child, sig);
		} else if (d->child > 0) {
			kill(d->child, sig); /* the child decides; its exit ends us */
		} else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
			ns_log(NS_LOG_INFO, "signal %d: stopping", sig);
			d->stop = true;
		}
	}
}

static void on_queue(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_daemon *d = cookie;

	(void)w;
	(void)events;
	ns_queue_event(&d->queue, ns_now_ms());
}

static void on_control(void *cookie, struct ns_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	ns_control_accept(cookie);
}

/* Every watch of the daemon's own, before anything can fail: shutdown
 * then finds each with no descriptor, or one to drop. */
static void watches_init(struct ns_daemon *d)
{
	ns_listeners_init(&d->listeners, &d->loop, &d->relay);
	ns_watch_init(&d->control, &d->loop, -1, on_control, d);
	ns_watch_init(&d->signals, &d->loop, -1, on_signal, d);
	ns_watch_init(&d->queue_w, &d->loop, -1, on_queue, d);
	ns_metrics_init(&d->metrics, d);
}

/* Two descriptors a connection: take all the system allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Packet mode has no handshake, so no node key: its keys come from the
 * network key and the SYNs' nonces.  The state directory still holds the
 * control socket. */
static int init_packet_keys(struct ns_daemon *d, const uint8_t netkey[NS_KEY_LEN], char *err,
                            size_t errlen)
{
	const struct ns_config *cfg = d->cfg;
	char why[256];

	if (ns_state_dir_make(cfg->state_dir, err, errlen) != 0 ||
	    ns_queue_open(&d->queue, cfg->queue_num, cfg->queue_maxlen, (uint32_t)cfg->max_conns,
	                  netkey, err, errlen) != 0)
		return -1;
	/* What the daemon lets through carries the mark: the guard table
	 * passes that and nothing else of a protected port. */
	ns_queue_set_mark(&d->queue, cfg->fwmark);
	/* The rollout policy: sealed memory, and clear connections or not. */
	ns_queue_set_peers(&d->queue, &d->peers);
	(void)ns_queue_set_policy(&d->queue, d->policy);
	if (ns_queue_pmtu_setup(&d->queue, cfg->ports, cfg->nports, cfg->fwmark, why,
	                        sizeof(why)) != 0)
		ns_log(NS_LOG_WARN, "%s: segments past a learned path MTU cannot be sent "
		       "(docs/PROTOCOL.md, \"MTU\")", why);
	return 0;
}

/* The members list at start: a bad one stops the start, as a bad key
 * does.  This node's own key missing from it is only a warning: the
 * others will refuse it, which is what the operator sees first. */
static int init_members(struct ns_daemon *d, const uint8_t own_pub[32], char *err,
                        size_t errlen)
{
	const struct ns_config *cfg = d->cfg;

	if (cfg->members_file == NULL)
		return 0;
	if (ns_members_load(cfg->members_file, &d->members, err, errlen) != 0)
		return -1;
	(void)ns_relay_set_members(&d->relay, &d->members);
	if (ns_members_find(&d->members, own_pub) == NULL)
		ns_log(NS_LOG_WARN, "%s does not list this node's own key: the other members will "
		       "refuse it", cfg->members_file);
	return 0;
}

static int init_proxy_keys(struct ns_daemon *d, const uint8_t netkey[NS_KEY_LEN], char *err,
                           size_t errlen)
{
	const struct ns_config *cfg = d->cfg;
	struct ns_dh_keypair node = { 0 };
	bool created;
	int rc = -1;

	if (ns_node_key_load_or_create(cfg->state_dir, &node, &created, err, errlen) != 0)
		goto out;
	if (ns_relay_init(&d->relay, cfg, &d->loop, &d->peers, netkey, node.priv, err, errlen) != 0)
		goto out;
	if (created)
		ns_log(NS_LOG_INFO, "created node key in %s", cfg->state_dir);
	if (init_members(d, node.pub, err, errlen) != 0)
		goto out;
	/* The chain directory need not exist yet: multichaind, started after
	 * us (nodeseal run), creates it.  The worker starts after the child. */
	if (cfg->members_chain) {
		d->chain = ns_chain_new(&d->loop, cfg->chain_dir, cfg->chain_refresh, node.pub, err,
		                        errlen);
		if (d->chain == NULL)
			goto out;
		ns_relay_set_chain(&d->relay, d->chain);
	}
	rc = 0;
out:
	ns_dh_keypair_free(&node);
	return rc;
}

/* The peer memory, from the state directory: a peer sealed before a
 * restart stays sealed after it.  A file that cannot be read stops the
 * start: going on without it would let those peers be taken in clear. */
static int init_peers(struct ns_daemon *d, char *err, size_t errlen)
{
	const struct ns_config *cfg = d->cfg;

	d->policy = cfg->policy;
	if (ns_peers_init(&d->peers, 0) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ns_state_dir_make(cfg->state_dir, err, errlen) != 0 ||
	    ns_peers_load(&d->peers, cfg->state_dir, err, errlen) != 0)
		return -1;
	return 0;
}

/* Puts the keys k in force, in the mode's holder: the flow table's (it
 * refuses two keys with one packet-mode id) or the handshake identity's.
 * On failure nothing changed. */
static int keys_apply(struct ns_daemon *d, const struct ns_netkeys *k, const char *name,
                      char *err, size_t errlen)
{
	char why[256];

	if (d->cfg->mode == NS_MODE_PACKET) {
		if (ns_flow_set_keys(&d->queue.flows, k->key[0], k->n, why,
		                     sizeof(why)) != 0)
			return ns_error(err, errlen, "%s: %s", name, why);
	} else if (ns_identity_set_keys(&d->relay.id, k->key[0],
	                                k->n) != 0) {
		snprintf(err, errlen, "cannot derive the handshake keys");
		return -1;
	}
	d->nnetkeys = k->n;
	for (size_t i = 0; i < k->n; i++)
		ns_network_key_fingerprint(k->key[i], d->netkey_fp[i]);
	return 0;
}

/* "sends A, accepts A, B": the key set by fingerprint. */
static void keys_describe(const struct ns_daemon *d, char *out, size_t len)
{
	int n = snprintf(out, len, "sends %s, accepts", d->netkey_fp[0]);

	for (size_t i = 0; i < d->nnetkeys && n > 0 && (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s %s", i ? "," : "", d->netkey_fp[i]);
}

/* The network keys, and the keys of the mode derived from them.  The
 * keys' one copy here is wiped on the way out, whatever happened. */
static int init_keys(struct ns_daemon *d, char *err, size_t errlen)
{
	const struct ns_config *cfg = d->cfg;
	struct ns_netkeys k;
	int rc;

	rc = ns_network_keys_load(cfg->network_key, cfg->network_key_file, &k, err, errlen);
	/* An inline key comes from the environment or the config file
	 * (config.c): wiped there, /proc/PID/environ no longer shows it to
	 * the node, nor a core dump of the daemon. */
	if (cfg->network_key != NULL)
		ns_config_wipe_key();
	if (rc != 0)
		goto out;
	if (cfg->mode == NS_MODE_PACKET)
		rc = init_packet_keys(d, k.key[0], err, errlen);
	else
		rc = init_proxy_keys(d, k.key[0], err, errlen);
	if (rc == 0)
		rc = keys_apply(d, &k, cfg->network_key_file != NULL ? cfg->network_key_file
		                                                     : "network key (inline)",
		                err, errlen);
out:
	ns_network_keys_wipe(&k);
	return rc;
}

/* Signals arrive as reads, in the loop, never in a handler. */
static int init_signals(struct ns_daemon *d, char *err, size_t errlen)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t mask;

	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signals.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signals.fd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	ns_watch_set(&d->signals, EPOLLIN);
	return 0;
}

/* The loop, its signals and the control socket: both modes have them. */
static int init_loop(struct ns_daemon *d, char *err, size_t errlen)
{
	if (ns_loop_init(&d->loop) != 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	if (init_signals(d, err, errlen) != 0)
		return -1;
	/* The control socket first: a second daemon on the same state
	 * directory is told so, rather than that a port is taken. */
	ns_control_path(d->cfg->state_dir, d->control_path, sizeof(d->control_path));
	d->control.fd = ns_control_listen(d->control_path, err, errlen);
	if (d->control.fd < 0)
		return -1;
	ns_watch_set(&d->control, EPOLLIN);
	if (d->cfg->metrics &&
	    ns_metrics_open(&d->metrics, &d->cfg->metrics_addr, err, errlen) != 0)
		return -1;
	return 0;
}

/* Bound before the rules go in: a segment queued with nobody reading
 * would wait, and one with no queue bound is dropped. */
static int init_packet_io(struct ns_daemon *d)
{
	d->queue_w.fd = ns_queue_fd(&d->queue);
	ns_watch_set(&d->queue_w, EPOLLIN);
	return 0;
}

static int init_proxy_io(struct ns_daemon *d, char *err, size_t errlen)
{
	if (ns_listeners_open(&d->listeners, d->cfg, d->ipv6, err, errlen) == 0)
		return 0;
	/* Nothing is installed yet; what a crashed daemon left stays, and
	 * keeps the node's traffic off the wire meanwhile. */
	if (ns_intercept_leftover())
		ns_log(NS_LOG_WARN, "rules of an earlier daemon kept: P2P stays blocked until "
		       "\"nodeseal down\"");
	return -1;
}

int ns_daemon_init(struct ns_daemon *d, const struct ns_config *cfg, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->loop.epfd = -1;
	watches_init(d);
	if (check_privileges(cfg, err, errlen) != 0)
		return -1;
	d->ipv6 = ns_intercept_ipv6();
	raise_fd_limit();
	if (init_peers(d, err, errlen) != 0 || init_keys(d, err, errlen) != 0 ||
	    init_loop(d, err, errlen) != 0)
		return -1;
	if (cfg->mode == NS_MODE_PACKET)
		return init_packet_io(d);
	return init_proxy_io(d, err, errlen);
}

static void start_child(struct ns_daemon *d, char **argv)
{
	char why[256];
	sigset_t none;

	d->child = fork();
	if (d->child != 0)
		return;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* The node has no business with the network key or the rules: it
	 * does not start unless both are out of its reach. */
	if (ns_confine_child(why, sizeof(why)) != 0) {
		fprintf(stderr, "nodeseal: not running %s: %s\n", argv[0], why);
		_exit(127);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "nodeseal: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Packet mode: destroys every socket of a protected port the daemon has no
 * keys for, and says how many with why.  At start (once the rules are in)
 * those are connections made before this daemon (a crashed one's, or made
 * while nodeseal was off): left alone they would stall until TCP gave up.
 * At stop (after the table's own connections were reset, sealed) they are
 * those whose entries made way for others or ran out of time: their queued
 * data would leave in clear once the rules are gone.
 */
static void reset_unkeyed_connections(struct ns_daemon *d, const char *why)
{
	int fd = ns_sockdiag_open(), n;

	if (fd < 0) {
		ns_log(NS_LOG_ERROR, "cannot open sock_diag: connections %s are not reset", why);
		return;
	}
	n = ns_sockdiag_destroy_ports(fd, d->cfg->ports, d->cfg->nports);
	if (n > 0)
		ns_log(NS_LOG_INFO, "reset %d connection%s %s (no keys for them)", n,
		       n == 1 ? "" : "s", why);
	close(fd);
}

/* Packet mode ends live connections at stop by destroying their sockets:
 * without that the stack would go on sending them in clear once the rules
 * are gone.  A kernel that cannot do it gets no packet mode. */
static int check_sock_destroy(char *err, size_t errlen)
{
	int fd = ns_sockdiag_open(), ok = fd < 0 ? -1 : ns_sockdiag_probe(fd);

	if (fd >= 0)
		close(fd);
	if (ok == 1)
		return 0;
	snprintf(err, errlen, "packet mode needs SOCK_DESTROY (a kernel with "
	         "CONFIG_INET_DIAG_DESTROY) to end connections when it stops; %s; "
	         "use --mode proxy", ok == 0 ? "this kernel does not have it"
	                                     : "cannot ask this kernel (NETLINK_SOCK_DIAG)");
	return -1;
}

/* The lines that say the node is protected now, and with what: after
 * the rules, so that a start that fails says only why. */
static void announce(const struct ns_daemon *d)
{
	const struct ns_config *cfg = d->cfg;
	struct ns_relay_stats rs;
	char set[512];

	keys_describe(d, set, sizeof(set));
	ns_log(NS_LOG_INFO, "network key%s: %s", d->nnetkeys == 1 ? "" : "s", set);
	if (cfg->members_chain)
		ns_log(NS_LOG_INFO, "membership from the chain: peers whose MultiChain address holds "
		       "connect (%s, checked every %d s); until the node's RPC answers, every "
		       "connection is refused", cfg->chain_dir, cfg->chain_refresh);
	else if (cfg->mode == NS_MODE_PROXY && cfg->members_file == NULL)
		ns_log(NS_LOG_INFO, "membership open: every holder of the network key is a peer "
		       "(--members FILE restricts it)");
	else if (cfg->mode == NS_MODE_PROXY)
		ns_log(NS_LOG_INFO, "membership: %zu member%s (%s)", d->members.n,
		       d->members.n == 1 ? "" : "s", cfg->members_file);

	if (cfg->metrics && cfg->metrics_addr.loopback)
		ns_log(NS_LOG_INFO, "metrics on http://%s/metrics", cfg->metrics_addr.text);
	else if (cfg->metrics)
		ns_log(NS_LOG_WARN, "metrics on http://%s/metrics are readable from the network, "
		       "not only from this host (--metrics names an address that is not loopback)",
		       cfg->metrics_addr.text);

	if (d->policy == NS_POLICY_OPPORTUNISTIC)
		ns_log(NS_LOG_INFO, "policy opportunistic: peers without nodeseal are carried in "
		       "clear (nodeseal status lists them), never one sealed before");

	if (cfg->mode == NS_MODE_PACKET) {
		ns_log(NS_LOG_INFO, "protecting port%s %u%s, packet mode", cfg->nports > 1 ? "s" : "",
		       cfg->ports[0], cfg->nports > 1 ? " and more" : "");
		return;
	}
	ns_relay_stats(&d->relay, &rs);
	ns_log(NS_LOG_INFO, "protecting port%s %u%s, node fingerprint %s",
	       cfg->nports > 1 ? "s" : "", cfg->ports[0], cfg->nports > 1 ? " and more" : "",
	       rs.fingerprint);
}

/*
 * Set up, the daemon keeps only what it still does: sockets with
 * IP_TRANSPARENT and SO_MARK for each connection (proxy mode), verdicts,
 * marks and SOCK_DESTROY (packet mode), and the iptables, nft and ip it
 * runs to put rules back (the watchdog) and to take them away at the end:
 * CAP_NET_ADMIN.  CAP_NET_RAW: the legacy iptables tools open a raw socket,
 * and the removal sweeps that backend whichever installed the rules.
 * CAP_KILL, under "run" only: signals reach the node even once it has
 * changed its user.  Files the daemon reads again (members list, key
 * file) and writes (the peer memory) are root's: CAP_DAC_OVERRIDE goes.
 */
static int drop_privileges(bool child, bool chain, char *err, size_t errlen)
{
	uint64_t keep = (uint64_t)1 << CAP_NET_ADMIN | (uint64_t)1 << CAP_NET_RAW;
	char kept[256], why[256];
	bool bounded;

	if (child)
		keep |= (uint64_t)1 << CAP_KILL;
	/* --members chain reads multichain.conf whenever it appears or
	 * changes, and a node run as its own user keeps its chain directory
	 * mode 0700: reading, never writing, anyone's file. */
	if (chain)
		keep |= (uint64_t)1 << CAP_DAC_READ_SEARCH;
	if (ns_caps_keep(keep, &bounded, kept, sizeof(kept), why, sizeof(why)) != 0)
		return ns_error(err, errlen, "dropping privileges: %s", why);
	ns_log(NS_LOG_INFO, "capabilities kept: %s; the others dropped%s", kept,
	       bounded ? "" : " (the bounding set could not shrink without CAP_SETPCAP: "
	                      "no_new_privs set instead)");
	return 0;
}

/* A peer newly sealed is saved within a second: a restart must find it. */
static void peers_tick(struct ns_daemon *d, int64_t now)
{
	char err[512];

	ns_peers_expire(&d->peers, ns_wall_s(), now);
	if (d->peers.dirty && ns_peers_save(&d->peers, err, sizeof(err)) != 0)
		ns_log(NS_LOG_ERROR, "%s (tried again in a second)", err);
}

int ns_daemon_set_policy(struct ns_daemon *d, enum ns_policy policy)
{
	int n;

	if (d->cfg->mode == NS_MODE_PACKET)
		n = ns_queue_set_policy(&d->queue, policy);
	else
		n = ns_relay_set_policy(&d->relay, policy);
	ns_log(NS_LOG_INFO, "policy %s (was %s)%s",
	       policy == NS_POLICY_REQUIRED ? "required" : "opportunistic",
	       d->policy == NS_POLICY_REQUIRED ? "required" : "opportunistic",
	       n > 0 ? ": connections in clear reset" : "");
	d->policy = policy;
	return n;
}

int ns_daemon_forget(struct ns_daemon *d, const struct ns_peer_addr *addr, char *err,
                     size_t errlen)
{
	int n = addr ? ns_peers_forget(&d->peers, addr) : (int)ns_peers_forget_all(&d->peers);

	if (n > 0 && ns_peers_save(&d->peers, err, errlen) != 0)
		return -1;
	return n;
}

/* Logs each member of old that new does not list, by name and fingerprint. */
static int log_removed(const struct ns_members *old, const struct ns_members *new_list)
{
	char fp[NS_FINGERPRINT_LEN + 1];
	int n = 0;

	for (size_t i = 0; i < old->n; i++) {
		if (ns_members_find(new_list, old->v[i].pub) != NULL)
			continue;
		ns_fingerprint(old->v[i].pub, fp);
		ns_log(NS_LOG_INFO, "reload: member %s%sfingerprint=%s removed: its connections "
		       "are reset and it is refused from now on", old->v[i].name,
		       old->v[i].name[0] ? " " : "", fp);
		n++;
	}
	return n;
}

/* The network key file read again, into k (n 0: an inline key, which
 * cannot be read again); note says what happened for the summary. */
static int keys_reload_read(struct ns_daemon *d, struct ns_netkeys *k, char *note,
                            size_t notelen, char *err, size_t errlen)
{
	const struct ns_config *cfg = d->cfg;

	memset(k, 0, sizeof(*k));
	if (cfg->network_key_file == NULL) {
		snprintf(note, notelen, "network key inline (NODESEAL_NETWORK_KEY) kept: the "
		         "variable is wiped at start, so it cannot be read again; give the keys in "
		         "a file (NODESEAL_NETWORK_KEY_FILE) to rotate them without a restart");
		return 0;
	}
	return ns_network_keys_load(NULL, cfg->network_key_file, k, err, errlen);
}

/* The members list read again into fresh (*have false: open membership). */
static int members_reload_read(struct ns_daemon *d, struct ns_members *fresh, bool *have,
                               char *err, size_t errlen)
{
	*have = d->cfg->members_file != NULL;
	if (!*have)
		return 0;
	return ns_members_load(d->cfg->members_file, fresh, err, errlen);
}

int ns_daemon_reload(struct ns_daemon *d, char *summary, size_t sumlen, char *err,
                     size_t errlen)
{
	const struct ns_config *cfg = d->cfg;
	struct ns_members fresh = { 0 }, old;
	struct ns_netkeys k;
	char members[512] = "", keys[768] = "", was[128], set[128];
	int removed, added = 0, reset, rc = -1;
	bool have_members;

	/* Both files parsed whole before anything changes: a bad one, either,
	 * keeps everything in force. */
	if (members_reload_read(d, &fresh, &have_members, err, errlen) != 0)
		return -1;
	if (keys_reload_read(d, &k, keys, sizeof(keys), err, errlen) != 0)
		goto out;
	if (k.n > 0) {
		keys_describe(d, was, sizeof(was));
		/* Packet mode refuses two keys of one id: still nothing changed. */
		if (keys_apply(d, &k, cfg->network_key_file, err, errlen) != 0)
			goto out;
		keys_describe(d, set, sizeof(set));
		d->key_reloads++;
		snprintf(keys, sizeof(keys), "network key%s: %s (%s)%s", d->nnetkeys == 1 ? "" : "s",
		         set, cfg->network_key_file,
		         strcmp(was, set) == 0 ? ", unchanged" : "");
		if (strcmp(was, set) != 0)
			ns_log(NS_LOG_INFO, "reload: network keys were: %s; now: %s; sealed connections "
			       "keep their keys", was, set);
	}
	if (!have_members) {
		if (cfg->members_chain)
			snprintf(members, sizeof(members), "membership from the chain (read from "
			         "the node every %d s: nothing to reload)", cfg->chain_refresh);
		else
			snprintf(members, sizeof(members), "membership open (%s)",
			         cfg->mode == NS_MODE_PACKET ? "packet mode has no members list"
			                                     : "no --members");
	} else {
		old = d->members;
		d->members = fresh;
		memset(&fresh, 0, sizeof(fresh));
		removed = log_removed(&old, &d->members);
		for (size_t i = 0; i < d->members.n; i++)
			added += ns_members_find(&old, d->members.v[i].pub) == NULL;
		reset = ns_relay_set_members(&d->relay, &d->members);
		ns_members_free(&old);
		d->reloads++;
		snprintf(members, sizeof(members), "%s: %zu member%s, %d added, %d removed, "
		         "%d connection%s reset", cfg->members_file, d->members.n,
		         d->members.n == 1 ? "" : "s", added, removed, reset, reset == 1 ? "" : "s");
	}
	snprintf(summary, sumlen, "reloaded %s; %s", members, keys);
	ns_log(NS_LOG_INFO, "%s", summary);
	rc = 0;
out:
	if (have_members)
		ns_members_free(&fresh);
	ns_network_keys_wipe(&k);
	return rc;
}

/* Once a second: the mode's expiries, the peer memory, and the watchdog. */
static void tick(struct ns_daemon *d, int64_t now)
{
	peers_tick(d, now);
	if (d->cfg->mode == NS_MODE_PACKET)
		ns_queue_tick(&d->queue, now);
	else
		ns_relay_tick(&d->relay, now);
	ns_watchdog_check(&d->watchdog, d->cfg, d->ipv6, now);
	ns_metrics_tick(&d->metrics, now);
}

int ns_daemon_run(struct ns_daemon *d, char **child_argv, char *err, size_t errlen)
{
	int64_t next_tick = ns_now_ms() + 1000;

	/* Install replaces any rules a crashed daemon left, in one commit:
	 * removing them first would open a window without interception. */
	if (d->cfg->mode == NS_MODE_PACKET && check_sock_destroy(err, errlen) != 0)
		return -1;
	if (ns_intercept_install(d->cfg, d->ipv6, err, errlen) != 0)
		return -1;
	d->installed = true;
	if (d->ipv6 != NS_IPV6_ON)
		ns_log(NS_LOG_INFO, "IPv6 is off here: protecting IPv4 only");
	if (d->cfg->mode == NS_MODE_PACKET)
		reset_unkeyed_connections(d, "opened before this start");
	announce(d);
	if (child_argv != NULL) {
		start_child(d, child_argv);
		if (d->child < 0) {
			snprintf(err, errlen, "fork: %s", strerror(errno));
			return -1;
		}
	}
	/* After the fork: the node keeps what it was started with, less
	 * what ns_confine_child takes. */
	if (drop_privileges(child_argv != NULL, d->chain != NULL, err, errlen) != 0)
		return -1;
	/* After the drop too: capabilities are a thread's own, and the
	 * worker must start with only what the daemon kept. */
	if (d->chain != NULL && ns_chain_start(d->chain, err, errlen) != 0)
		return -1;
	if (ns_notify("READY=1\nSTATUS=protecting the P2P ports") != 0)
		ns_log(NS_LOG_WARN, "cannot tell the service manager that nodeseal is ready "
		       "(NOTIFY_SOCKET)");
	while (!d->stop) {
		int64_t now;

		if (ns_loop_wait(&d->loop, ns_listeners_paused(&d->listeners) ? 100 : 1000) != 0) {
			snprintf(err, errlen, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		now = ns_now_ms();
		ns_listeners_resume(&d->listeners, now);
		if (now >= next_tick) {
			tick(d, now);
			next_tick = ns_now_ms() + 1000;
		}
	}
	return 0;
}

void ns_daemon_shutdown(struct ns_daemon *d)
{
	char err[512];

	if (d->installed)
		(void)ns_notify("STOPPING=1");

	ns_relay_close_all(&d->relay, "nodeseal stopping");
	ns_relay_set_chain(&d->relay, NULL);
	ns_chain_free(d->chain);
	d->chain = NULL;
	ns_loop_reap(&d->loop);
	ns_control_close_all(d);
	ns_listeners_close(&d->listeners);
	if (d->installed && d->queue_w.fd >= 0) {
		int n = ns_queue_abort_connections(&d->queue);
		if (n > 0)
			ns_log(NS_LOG_INFO, "nodeseal stopping: %d connection%s reset", n,
			       n == 1 ? "" : "s");
		reset_unkeyed_connections(d, "the table let go");
	}
	/* Rules before the control socket: "nodeseal down" waits for the
	 * socket to go, and then finds the rules gone too. */
	if (d->installed && ns_intercept_remove(d->cfg, err, sizeof(err)) != 0)
		ns_log(NS_LOG_ERROR, "removing interception: %s", err);
	/* After the rules: unbinding drops what is still queued, and with the
	 * rules gone nothing more is queued. */
	ns_watch_stop(&d->queue_w);
	ns_queue_close(&d->queue);
	if (d->control.fd >= 0) {
		ns_watch_drop(&d->control);
		unlink(d->control_path);
	}
	ns_watch_drop(&d->signals);
	ns_metrics_close(&d->metrics);
	ns_loop_close(&d->loop);
	ns_relay_free(&d->relay);
	ns_members_free(&d->members);
	if (d->peers.dirty && ns_peers_save(&d->peers, err, sizeof(err)) != 0)
		ns_log(NS_LOG_ERROR, "%s", err);
	ns_peers_free(&d->peers);
}
