/*
 * daemon.h: the event loop and what it owns: listeners, connections, the
 * control socket, signals and, for "nodeseal run", the child process.
 * In packet mode the proxy listeners give way to the NFQUEUE socket.
 * Single-threaded, epoll, level-triggered.
 */
#ifndef NS_DAEMON_H
#define NS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config/config.h"
#include "../packet/queue.h"
#include "../proto/proto.h"
#include "../relay/conn.h"

#define NS_POOL_KEEP 64
#define NS_REFUSAL_KINDS 9
extern const char *const ns_refusal_kinds[NS_REFUSAL_KINDS];

struct ns_ctl;

struct ns_daemon {
	const struct ns_config *cfg;
	struct ns_identity id;
	struct ns_replay replay;
	char fingerprint[17];
	int epfd;
	struct ns_watch listen[4];      /* out v4, out v6, in v4, in v6 (fd -1 if absent) */
	struct ns_watch control, signals;
	struct ns_queue queue;          /* packet mode */
	struct ns_watch queue_w;        /* packet mode: the queue's socket (fd -1 otherwise) */
	char control_path[4200];
	struct ns_conn *conns;
	struct ns_conn *graveyard;      /* closed, freed after the event batch */
	struct ns_ctl *ctls;            /* control clients */
	int nconns;
	struct ns_pending pending_in, pending_out;
	uint16_t delivery_next;         /* where the next delivery port is sought */
	uint64_t next_id;
	uint64_t refused;               /* connections refused or failed before relaying */
	uint64_t refused_by[NS_REFUSAL_KINDS]; /* by ns_refusal_kinds */
	int64_t log_window_ms;
	int log_in_window;
	uint8_t *pool[NS_POOL_KEEP];
	int npool;
	int bufs_out;                   /* buffers held by connections */
	bool trim;                      /* memory to give back once idle */
	int64_t accept_paused_until;    /* out of descriptors: listeners rest */
	int64_t fd_log_ms;
	pid_t child;
	int child_status;
	bool stop;
	bool installed;
	int ipv6;                       /* enum ns_ipv6, decided once at start */
	/* the watchdog: rules another program took away */
	uint64_t rules_restored;        /* times they were put back */
	bool rules_missing;             /* missing, and putting them back failed */
	int64_t rules_missing_ms;       /* since when */
	bool rules_unknown;             /* the tools could not say (logged once) */
};

int64_t ns_now_ms(void);
/* Loads keys, opens listeners and the control socket. */
int ns_daemon_init(struct ns_daemon *d, const struct ns_config *cfg, char *err, size_t errlen);
/* Interception on; then, with argv, starts the child.  Runs until a stop
 * signal, a "stop" on the control socket, or the child's exit. */
int ns_daemon_run(struct ns_daemon *d, char **child_argv, char *err, size_t errlen);
/* Closes everything and removes the interception. */
void ns_daemon_shutdown(struct ns_daemon *d);

/* Buffer pool (NS_BUF_SIZE bytes each). */
#define NS_BUF_SIZE (2 * NS_RECORD_MAX_WIRE)
uint8_t *ns_pool_get(struct ns_daemon *d);
void ns_pool_put(struct ns_daemon *d, uint8_t *buf);

/* Registers or updates a watch's interest (0: none). */
void ns_watch_set(struct ns_daemon *d, struct ns_watch *w, uint32_t events);
void ns_watch_drop(struct ns_daemon *d, struct ns_watch *w);

/* Control socket path for a state directory. */
void ns_control_path(const char *state_dir, char *out, size_t cap);

#endif
