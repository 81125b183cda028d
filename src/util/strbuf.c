/* strbuf.c: a growing text buffer (strbuf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "strbuf.h"

void ns_strbuf_printf(struct ns_strbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (o->p != NULL && o->len + (size_t)n < o->cap) {
			o->len += (size_t)n;
			return;
		}
		char *np = realloc(o->p, o->cap * 2 + (size_t)n + 256);
		if (np == NULL) {
			o->oom = true;
			return;
		}
		o->p = np;
		o->cap = o->cap * 2 + (size_t)n + 256;
	}
}
