/*
 * pool.h: buffers of one size, kept for reuse.  A connection holds a
 * buffer per direction only while data is in flight, so buffers come and
 * go at the rate of reads; the pool keeps up to NS_POOL_KEEP of them, and
 * gives the memory of a burst back once no buffer is held.
 */
#ifndef NS_POOL_H
#define NS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_POOL_KEEP 64

struct ns_pool {
	size_t size;                /* of each buffer */
	uint8_t *keep[NS_POOL_KEEP];
	int nkeep;
	int out;                    /* buffers held by their users */
	bool trim;                  /* memory to give back once idle */
};

void ns_pool_init(struct ns_pool *p, size_t size);
/* NULL when out of memory. */
uint8_t *ns_pool_get(struct ns_pool *p);
void ns_pool_put(struct ns_pool *p, uint8_t *buf);
/* Once no buffer is held: keeps a few, returns the rest to the system. */
void ns_pool_trim(struct ns_pool *p);
void ns_pool_free(struct ns_pool *p);

#endif
