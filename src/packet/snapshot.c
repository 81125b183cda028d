/* snapshot.c: packet mode's counters, copied (snapshot.h). */
#include <string.h>

#include "pmtu.h"
#include "snapshot.h"

void ns_queue_snapshot(const struct ns_queue *q, int64_t now_ms, struct ns_queue_snapshot *out)
{
	out->num = q->num;
	out->flows = q->flows.used;
	memcpy(out->segments, q->flows.count, sizeof(out->segments));
	out->st = q->st;
	out->pm = q->pm;
	out->pmtu_peers = ns_pmtu_count(&q->flows.pmtu, now_ms);
}
