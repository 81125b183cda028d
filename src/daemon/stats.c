/* stats.c: the daemon's counts in one copy (stats.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "stats.h"

/* A packet-mode connection as status shows a proxy-mode one. */
static void flow_conn(const struct ns_flow_info *fi, struct ns_conn_info *out)
{
	char host[INET6_ADDRSTRLEN] = "?";

	memset(out, 0, sizeof(*out));
	inet_ntop(fi->tu.v6 ? AF_INET6 : AF_INET, fi->tu.remote, host, sizeof(host));
	snprintf(out->addr, sizeof(out->addr), "%s", host);
	snprintf(out->peer, sizeof(out->peer), fi->tu.v6 ? "[%s]:%u" : "%s:%u", host,
	         fi->tu.rport);
	out->outbound = fi->out;
	out->sealed = !fi->clear;
	out->since = fi->since;
	out->age_ms = (ns_wall_s() - fi->since) * 1000;
	out->state = fi->ending ? "ending" : fi->state;
}

bool ns_stats_conn_next(const struct ns_daemon *d, struct ns_stats_cursor *cur, int64_t now_ms,
                        struct ns_conn_info *out)
{
	struct ns_flow_info fi;

	if (d->cfg->mode != NS_MODE_PACKET)
		return ns_relay_conn_next(&d->relay, &cur->relay, now_ms, out);
	if (!ns_queue_next_flow(&d->queue, &cur->flow, &fi))
		return false;
	flow_conn(&fi, out);
	return true;
}

/* Counts ci among the kinds; a kind past the table's room (the states
 * are fixed names, so it cannot happen) goes uncounted rather than wrong. */
static void tally(struct ns_stats *s, const struct ns_conn_info *ci)
{
	size_t i;

	s->conns++;
	for (i = 0; i < s->nkinds; i++)
		if (strcmp(s->kinds[i].state, ci->state) == 0 &&
		    s->kinds[i].sealed == ci->sealed && s->kinds[i].outbound == ci->outbound)
			break;
	if (i == s->nkinds) {
		if (i == NS_STATS_KINDS)
			return;
		s->kinds[i].state = ci->state;
		s->kinds[i].sealed = ci->sealed;
		s->kinds[i].outbound = ci->outbound;
		s->nkinds++;
	}
	s->kinds[i].n++;
}

void ns_stats_gather(struct ns_daemon *d, int64_t now_ms, struct ns_stats *out)
{
	struct ns_stats_cursor cur = { NULL, 0 };
	struct ns_peer_info pi;
	struct ns_conn_info ci;
	size_t pcur = 0;

	memset(out, 0, sizeof(*out));
	out->mode = d->cfg->mode;
	if (out->mode == NS_MODE_PACKET)
		ns_queue_snapshot(&d->queue, now_ms, &out->q);
	else
		ns_relay_stats(&d->relay, &out->relay);
	while (ns_stats_conn_next(d, &cur, now_ms, &ci))
		tally(out, &ci);
	out->rules_restored = d->watchdog.restored;
	out->rules_missing = d->watchdog.missing;
	while (ns_peers_next(&d->peers, &pcur, &pi)) {
		out->peers_sealed += pi.sealed;
		out->peers_clear += !pi.sealed;
	}
	out->policy = d->policy;
	out->members_on = d->cfg->members_file != NULL;
	out->members = d->members.n;
	out->member_reloads = d->reloads;
	out->key_reloads = d->key_reloads;
	out->netkeys = d->nnetkeys;
	out->scrapes = d->metrics.answered;
	out->scrapes_evicted = d->metrics.evicted;
}
