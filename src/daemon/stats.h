/*
 * stats.h: every count of the daemon, gathered in one copy: what
 * "nodeseal status" (control.c) and the metrics endpoint (metrics.c) both
 * show, walked in one place.  The relay, the flow table, the watchdog and
 * the peer memory each keep their own counts; this reads them together,
 * so that no reader needs their structures.
 */
#ifndef NS_STATS_H
#define NS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../packet/snapshot.h"
#include "../relay/relay.h"

struct ns_daemon;

/* Open connections of one kind; kinds are few (states x sealed x direction). */
struct ns_stats_conns {
	const char *state;              /* ns_conn_info's state */
	bool sealed, outbound;
	uint32_t n;
};
#define NS_STATS_KINDS 40

struct ns_stats {
	enum ns_mode mode;
	struct ns_relay_stats relay;    /* proxy mode; packet mode: zeros, no fingerprint */
	struct ns_queue_snapshot q;     /* packet mode only */
	uint32_t conns;                 /* open connections */
	struct ns_stats_conns kinds[NS_STATS_KINDS];
	size_t nkinds;
	uint64_t rules_restored;
	bool rules_missing;
	int peers_sealed, peers_clear;
	enum ns_policy policy;
	bool members_on;                /* --members given */
	size_t members;
	uint64_t member_reloads, key_reloads;
	size_t netkeys;
	uint64_t scrapes;               /* the metrics endpoint's answers, this one included */
	uint64_t scrapes_evicted;       /* its connections closed to make room */
};

/* Where a walk over the connections of either mode is: zeroed to start. */
struct ns_stats_cursor {
	const void *relay;
	uint32_t flow;
};

void ns_stats_gather(struct ns_daemon *d, int64_t now_ms, struct ns_stats *out);
/* The connections of either mode, one a call; false at the end. */
bool ns_stats_conn_next(const struct ns_daemon *d, struct ns_stats_cursor *cur, int64_t now_ms,
                        struct ns_conn_info *out);

#endif
