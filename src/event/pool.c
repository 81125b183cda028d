/* pool.c: the buffer pool (pool.h). */
#include <malloc.h>
#include <stdlib.h>

#include "pool.h"

void ns_pool_init(struct ns_pool *p, size_t size)
{
	p->size = size;
	p->nkeep = p->out = 0;
	p->trim = false;
}

uint8_t *ns_pool_get(struct ns_pool *p)
{
	uint8_t *b = p->nkeep > 0 ? p->keep[--p->nkeep] : malloc(p->size);

	if (b != NULL)
		p->out++;
	return b;
}

void ns_pool_put(struct ns_pool *p, uint8_t *buf)
{
	p->out--;
	p->trim = true;
	if (p->nkeep < NS_POOL_KEEP)
		p->keep[p->nkeep++] = buf;
	else
		free(buf);
}

/* glibc would otherwise keep what a burst took, for good. */
void ns_pool_trim(struct ns_pool *p)
{
	if (!p->trim || p->out != 0)
		return;
	while (p->nkeep > 4)
		free(p->keep[--p->nkeep]);
	malloc_trim(0);
	p->trim = false;
}

void ns_pool_free(struct ns_pool *p)
{
	while (p->nkeep > 0)
		free(p->keep[--p->nkeep]);
}
