/*
 * daemon.h: the program around the event loop (src/event): the listeners,
 * the relay of proxy mode, the control socket, signals and, for "nodeseal
 * run", the child process.  In packet mode the listeners and the relay give
 * way to the NFQUEUE socket.
 */
#ifndef NS_DAEMON_H
#define NS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config/config.h"
#include "../event/clock.h"
#include "../event/loop.h"
#include "../keys/keys.h"
#include "../keys/members.h"
#include "../packet/queue.h"
#include "../relay/relay.h"
#include "listen.h"
#include "metrics.h"
#include "watchdog.h"

struct ns_ctl;

struct ns_daemon {
	const struct ns_config *cfg;
	struct ns_loop loop;
	struct ns_listeners listeners;  /* proxy mode */
	struct ns_watch control, signals;
	struct ns_relay relay;          /* proxy mode */
	struct ns_queue queue;          /* packet mode */
	struct ns_watch queue_w;        /* packet mode: the queue's socket (fd -1 otherwise) */
	char control_path[4200];
	struct ns_ctl *ctls;            /* control clients */
	pid_t child;
	int child_status;
	bool stop;
	bool installed;
	int ipv6;                       /* enum ns_ipv6, decided once at start */
	struct ns_peers peers;          /* sealed for good, clear for a while (src/peers) */
	enum ns_policy policy;          /* in force now: "nodeseal policy" changes it */
	struct ns_watchdog watchdog;    /* rules another program took away */
	struct ns_chain *chain;         /* proxy mode, under --members chain */
	struct ns_members members;      /* proxy mode, under --members: the list in force */
	uint64_t reloads;               /* reloads that replaced the list */
	/* The network keys in force, by fingerprint only (the keys live in
	 * the relay's identity or the flow table): [0] is sent with. */
	char netkey_fp[NS_NETKEYS_MAX][NS_FINGERPRINT_LEN + 1];
	size_t nnetkeys;
	uint64_t key_reloads;           /* reloads that read the network key file */
	struct ns_metrics metrics;      /* --metrics: the Prometheus endpoint */
};

/* Loads keys, opens listeners and the control socket. */
int ns_daemon_init(struct ns_daemon *d, const struct ns_config *cfg, char *err, size_t errlen);
/* Interception on; then, with argv, starts the child.  Runs until a stop
 * signal, a "stop" on the control socket, or the child's exit. */
int ns_daemon_run(struct ns_daemon *d, char **child_argv, char *err, size_t errlen);
/* The policy from now on (the control socket's "policy NAME"); returns
 * how many connections in clear were reset. */
int ns_daemon_set_policy(struct ns_daemon *d, enum ns_policy policy);
/* Forgets addr's sealed memory (NULL: every peer), saved at once; returns
 * how many peers were forgotten, -1 if saving failed (err says why). */
int ns_daemon_forget(struct ns_daemon *d, const struct ns_peer_addr *addr, char *err,
                     size_t errlen);
/* Reads the members list and the network key file again (the control
 * socket's "reload", and SIGHUP).  A bad file, either, keeps both in
 * force: -1 with err.  Otherwise the new list replaces it, and every
 * connection of a key no longer listed is reset at once; the new keys
 * serve the handshakes from now on, and connections already sealed keep
 * theirs.  An inline network key cannot be read again (the variable is
 * wiped at start): it stays, and summary says so.  summary says what
 * changed. */
int ns_daemon_reload(struct ns_daemon *d, char *summary, size_t sumlen, char *err,
                     size_t errlen);
/* Closes everything and removes the interception. */
void ns_daemon_shutdown(struct ns_daemon *d);

#endif
