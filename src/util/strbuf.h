/* strbuf.h: a growing text buffer for answers built piece by piece (the
 * control socket's, the metrics endpoint's). */
#ifndef NS_STRBUF_H
#define NS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Zeroed to start; p is malloc'd (the caller frees it), NUL-terminated
 * once anything was written.  Out of memory: what did not fit is lost and
 * oom is set, so an answer is never sent cut without the caller knowing. */
struct ns_strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
void ns_strbuf_printf(struct ns_strbuf *o, const char *fmt, ...);

#endif
