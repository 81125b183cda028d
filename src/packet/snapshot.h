/*
 * snapshot.h: packet mode's counters as one copy, for the control socket:
 * the queue's, the flow table's and path MTU's, read together so that the
 * reader needs none of their structures; and the connections one by one.
 */
#ifndef NS_SNAPSHOT_H
#define NS_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "queue.h"

struct ns_queue_snapshot {
	uint16_t num;                       /* the queue's number */
	uint32_t flows;                     /* connections in the flow table */
	uint32_t clear_flows;               /* of them, clear ones */
	enum ns_policy policy;
	uint64_t segments[NS_FC_COUNT];     /* by ns_flow_count_names */
	uint64_t payload_out, payload_in;   /* bytes of the segments sealed, opened */
	struct ns_queue_stats st;
	struct ns_queue_pmtu_stats pm;
	uint32_t pmtu_peers;                /* peers with a learned path MTU */
};

void ns_queue_snapshot(const struct ns_queue *q, int64_t now_ms, struct ns_queue_snapshot *out);

/* The connections of the flow table, one a call from *cursor (0 to start);
 * false at the end (flow.h, struct ns_flow_info: since is when the entry
 * was made, at the first SYN). */
bool ns_queue_next_flow(const struct ns_queue *q, uint32_t *cursor, struct ns_flow_info *out);

#endif
