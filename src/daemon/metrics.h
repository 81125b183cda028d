/*
 * metrics.h: the Prometheus endpoint (--metrics ADDR:PORT, off by
 * default): GET /metrics answers the daemon's counts (stats.h) in the text
 * format; nothing else is served.
 *
 * It runs in the daemon's loop, non-blocking, and is bounded so that it
 * cannot become a way in or a way to stall the daemon: a request head of
 * at most NS_HTTP_HEAD_MAX bytes (more is a 400), NS_METRICS_CONNS
 * connections at once (a newcomer takes the place of the oldest one still
 * sending its request, so idle connections cannot keep a scrape out; what
 * has arrived is read first, so a whole request is never evicted), and
 * NS_METRICS_TIMEOUT_MS for a whole exchange.  Every answer ends with
 * "Connection: close" and the close.
 */
#ifndef NS_METRICS_H
#define NS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../event/loop.h"
#include "../util/hostport.h"
#include "../util/http.h"
#include "../util/strbuf.h"
#include "stats.h"

#define NS_METRICS_CONNS 8
#define NS_METRICS_TIMEOUT_MS 5000

struct ns_metrics;

/* One scrape connection, from accept to close; fd -1 when the slot is free. */
struct ns_scrape {
	struct ns_metrics *m;
	struct ns_watch w;
	int64_t accepted_ms;
	char in[NS_HTTP_HEAD_MAX];
	size_t inlen;
	char *out;                      /* the answer, once the head is judged */
	size_t outlen, outoff;
};

struct ns_metrics {
	struct ns_daemon *d;
	struct ns_watch listen;         /* fd -1: the endpoint is off */
	struct ns_scrape slot[NS_METRICS_CONNS];
	uint64_t answered;              /* answers sent, any status */
	uint64_t evicted;               /* connections closed to make room */
	bool paused;                    /* accept failed (no descriptor): until the tick */
};

/* Every watch without a descriptor: nothing to close yet. */
void ns_metrics_init(struct ns_metrics *m, struct ns_daemon *d);
/* Listens on at: -1 with one sentence in err naming --metrics. */
int ns_metrics_open(struct ns_metrics *m, const struct ns_hostport *at, char *err,
                    size_t errlen);
/* Once a second: closes exchanges past NS_METRICS_TIMEOUT_MS, and takes
 * up accepting again after a failure. */
void ns_metrics_tick(struct ns_metrics *m, int64_t now_ms);
void ns_metrics_close(struct ns_metrics *m);

/* The counts as Prometheus text (metrics_text.c). */
void ns_metrics_text(const struct ns_stats *s, struct ns_strbuf *o);

#endif
