/* snapshot.c: packet mode's counters, copied, and its connections (snapshot.h). */
#include <string.h>

#include "pmtu.h"
#include "snapshot.h"

void ns_queue_snapshot(const struct ns_queue *q, int64_t now_ms, struct ns_queue_snapshot *out)
{
	uint32_t cursor = 0;
	struct ns_flow_info fi;

	out->num = q->num;
	out->flows = q->flows.used;
	out->clear_flows = 0;
	while (ns_flow_next_info(&q->flows, &cursor, &fi))
		out->clear_flows += fi.clear;
	out->policy = q->flows.policy;
	memcpy(out->segments, q->flows.count, sizeof(out->segments));
	out->payload_out = q->flows.payload[0];
	out->payload_in = q->flows.payload[1];
	out->st = q->st;
	out->pm = q->pm;
	out->pmtu_peers = ns_pmtu_count(&q->flows.pmtu, now_ms);
}

bool ns_queue_next_flow(const struct ns_queue *q, uint32_t *cursor, struct ns_flow_info *out)
{
	return ns_flow_next_info(&q->flows, cursor, out);
}
