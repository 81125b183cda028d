/*
 * metrics_text.c: the gathered counts (stats.h) in the Prometheus text
 * format 0.0.4 (metrics.h).  Pure: no I/O, so a unit test reads what a
 * scrape would.  Each family has its HELP and TYPE lines; counters end in
 * _total.  Families of one mode only are left out in the other.  Every
 * label value is a fixed name of the program's, never a peer's text.
 */
#include <stdio.h>

#include "../util/version.h"
#include "metrics.h"

static void head(struct ns_strbuf *o, const char *name, const char *type, const char *help)
{
	ns_strbuf_printf(o, "# HELP nodeseal_%s %s\n# TYPE nodeseal_%s %s\n", name, help, name,
	                 type);
}

static void one(struct ns_strbuf *o, const char *name, const char *type, const char *help,
                unsigned long long v)
{
	head(o, name, type, help);
	ns_strbuf_printf(o, "nodeseal_%s %llu\n", name, v);
}

static void conns(const struct ns_stats *s, struct ns_strbuf *o)
{
	const char *mode = s->mode == NS_MODE_PACKET ? "packet" : "proxy";

	head(o, "connections", "gauge", "Open connections of the protected ports.");
	for (size_t i = 0; i < s->nkinds; i++)
		ns_strbuf_printf(o, "nodeseal_connections{mode=\"%s\",state=\"%s\",sealed=\"%s\","
		                 "direction=\"%s\"} %u\n", mode, s->kinds[i].state,
		                 s->kinds[i].sealed ? "true" : "false",
		                 s->kinds[i].outbound ? "out" : "in", s->kinds[i].n);
	if (s->nkinds == 0)
		ns_strbuf_printf(o, "nodeseal_connections{mode=\"%s\",state=\"%s\",sealed=\"true\","
		                 "direction=\"out\"} 0\n", mode,
		                 s->mode == NS_MODE_PACKET ? "open" : "relay");
}

static void proxy(const struct ns_stats *s, struct ns_strbuf *o)
{
	const struct ns_relay_totals *t = &s->relay.totals;

	head(o, "handshakes_total", "counter",
	     "Connections that completed (ok) or failed (failed) before relaying.");
	ns_strbuf_printf(o, "nodeseal_handshakes_total{outcome=\"ok\"} %llu\n"
	                 "nodeseal_handshakes_total{outcome=\"failed\"} %llu\n",
	                 (unsigned long long)t->handshakes, (unsigned long long)s->relay.refused);
	head(o, "handshake_failures_total", "counter",
	     "Connections refused or failed before relaying, by reason.");
	for (int i = 0; i < NS_REFUSAL_KINDS; i++)
		ns_strbuf_printf(o, "nodeseal_handshake_failures_total{reason=\"%s\"} %llu\n",
		                 ns_refusal_kinds[i], (unsigned long long)s->relay.refused_by[i]);
	one(o, "strangers_refused_total", "counter",
	    "Connections refused at the first handshake message: no network key.",
	    (unsigned long long)s->relay.refused_by[NS_R_AUTH]);
	one(o, "clear_connections_total", "counter",
	    "Connections carried in clear (policy opportunistic, a peer without nodeseal).",
	    (unsigned long long)t->clear);
	head(o, "bytes_total", "counter",
	     "Payload bytes relayed: out to the peers, in to the node.");
	ns_strbuf_printf(o, "nodeseal_bytes_total{direction=\"out\"} %llu\n"
	                 "nodeseal_bytes_total{direction=\"in\"} %llu\n",
	                 (unsigned long long)t->bytes_out, (unsigned long long)t->bytes_in);
	head(o, "records_total", "counter", "Sealed records: sent (out) and opened (in).");
	ns_strbuf_printf(o, "nodeseal_records_total{direction=\"out\"} %llu\n"
	                 "nodeseal_records_total{direction=\"in\"} %llu\n",
	                 (unsigned long long)t->records_out, (unsigned long long)t->records_in);
	one(o, "rekeys_total", "counter", "Record keys replaced, both directions.",
	    (unsigned long long)t->rekeys);
}

static void packet(const struct ns_stats *s, struct ns_strbuf *o)
{
	const struct ns_queue_snapshot *q = &s->q;

	head(o, "bytes_total", "counter",
	     "TCP payload bytes of segments sealed (out) and opened (in).");
	ns_strbuf_printf(o, "nodeseal_bytes_total{direction=\"out\"} %llu\n"
	                 "nodeseal_bytes_total{direction=\"in\"} %llu\n",
	                 (unsigned long long)q->payload_out, (unsigned long long)q->payload_in);
	head(o, "segments_total", "counter",
	     "Segments by what was done with them (docs/nodeseal.8, status --json segments).");
	for (int i = 0; i < NS_FC_COUNT; i++)
		ns_strbuf_printf(o, "nodeseal_segments_total{result=\"%s\"} %llu\n",
		                 ns_flow_count_names[i], (unsigned long long)q->segments[i]);
	one(o, "strangers_refused_total", "counter",
	    "Segments dropped for a wrong or missing MAC, or a key id of no key held: "
	    "no network key.",
	    (unsigned long long)(q->segments[NS_FC_BAD_MAC] + q->segments[NS_FC_UNKNOWN_KEY]));
	one(o, "queue_packets_total", "counter", "Packets read from the NFQUEUE.",
	    (unsigned long long)q->st.packets);
	one(o, "queue_kernel_dropped_total", "counter",
	    "Packets the kernel dropped: the queue was full.",
	    (unsigned long long)q->st.kernel_dropped);
	one(o, "queue_overruns_total", "counter", "Receive buffer overruns of the queue socket.",
	    (unsigned long long)q->st.enobufs);
	one(o, "pmtu_lowered_total", "counter", "Path MTUs lowered by ICMP messages.",
	    (unsigned long long)q->pm.lowered);
}

void ns_metrics_text(const struct ns_stats *s, struct ns_strbuf *o)
{
	head(o, "build_info", "gauge", "The version and mode running; always 1.");
	ns_strbuf_printf(o, "nodeseal_build_info{version=\"%s\",mode=\"%s\"} 1\n", NS_VERSION,
	                 s->mode == NS_MODE_PACKET ? "packet" : "proxy");
	conns(s, o);
	if (s->mode == NS_MODE_PACKET)
		packet(s, o);
	else
		proxy(s, o);
	one(o, "rules_restored_total", "counter",
	    "Times the interception rules were put back after another program removed them.",
	    (unsigned long long)s->rules_restored);
	one(o, "rules_missing", "gauge", "1 while the interception rules are missing.",
	    s->rules_missing ? 1ULL : 0ULL);
	head(o, "peers", "gauge", "Peers remembered, sealed or in clear.");
	ns_strbuf_printf(o, "nodeseal_peers{state=\"sealed\"} %d\nnodeseal_peers{state=\"clear\"} "
	                 "%d\n", s->peers_sealed, s->peers_clear);
	one(o, "policy_required", "gauge", "1 under policy required, 0 under opportunistic.",
	    s->policy == NS_POLICY_REQUIRED ? 1ULL : 0ULL);
	one(o, "network_keys", "gauge", "Network keys accepted (two during a rotation).",
	    (unsigned long long)s->netkeys);
	if (s->members_on)
		one(o, "members", "gauge", "Node keys in the members list.",
		    (unsigned long long)s->members);
	head(o, "reloads_total", "counter", "Reloads that read the members list or the keys.");
	ns_strbuf_printf(o, "nodeseal_reloads_total{what=\"members\"} %llu\n"
	                 "nodeseal_reloads_total{what=\"network_keys\"} %llu\n",
	                 (unsigned long long)s->member_reloads, (unsigned long long)s->key_reloads);
	one(o, "metrics_requests_total", "counter",
	    "Requests answered by this endpoint, any status, this one included.",
	    (unsigned long long)s->scrapes);
	one(o, "metrics_evicted_total", "counter",
	    "Connections to this endpoint closed to make room for a newer one.",
	    (unsigned long long)s->scrapes_evicted);
}
