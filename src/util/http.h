/*
 * http.h: the head of an HTTP/1.x request, judged for the metrics endpoint
 * (src/daemon/metrics.c), which answers one thing: GET /metrics.
 *
 * The bytes are a stranger's: the parser reads at most the length it is
 * given, never past it, and keeps nothing of them.  It says whether the
 * head is complete and, if it is, which answer it gets.
 */
#ifndef NS_HTTP_H
#define NS_HTTP_H

#include <stddef.h>

/* The largest request head taken: a bigger one is a 400. */
#define NS_HTTP_HEAD_MAX 4096

enum ns_http_verdict {
	NS_HTTP_MORE = 0,       /* no end of head yet, and room for more */
	NS_HTTP_OK = 200,       /* GET /metrics */
	NS_HTTP_BAD = 400,      /* not HTTP/1.0 or 1.1, a bad line, or a head too big */
	NS_HTTP_NOT_FOUND = 404,
	NS_HTTP_METHOD = 405,   /* a method other than GET */
};

/* Judges buf[0..len): a complete head (ended by an empty line, CRLF or LF)
 * of NS_HTTP_HEAD_MAX bytes at most.  *minor is set to the request's HTTP
 * minor version (0 or 1) when it was read, else 0. */
enum ns_http_verdict ns_http_parse(const char *buf, size_t len, int *minor);
/* "OK", "Bad Request", ...: the reason phrase of a verdict but MORE. */
const char *ns_http_reason(enum ns_http_verdict v);

#endif
