/*
 * http.c: the request head of the metrics endpoint (http.h).
 *
 * Strict on purpose: the one client is a Prometheus server, so anything
 * outside RFC 9112's request-line and field-line grammar is a 400 rather
 * than a guess.  Only the shape of the header fields is checked; their
 * values are not used.
 */
#include <stdbool.h>
#include <string.h>

#include "http.h"

/* RFC 9110 tchar: the characters of a method or a field name. */
static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A visible character of a request target (no spaces, no controls). */
static bool vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Length of the head including its empty line, or 0 if none in buf. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* The line at buf[*off..end): its length without CRLF or LF, and *off
 * moved past it; -1 if it holds a CR elsewhere than before its LF. */
static long next_line(const char *buf, size_t end, size_t *off)
{
	size_t s = *off, i = s;

	while (i < end && buf[i] != '\n')
		i++;
	*off = i < end ? i + 1 : end;
	if (i > s && buf[i - 1] == '\r')
		i--;
	for (size_t k = s; k < i; k++)
		if (buf[k] == '\r')
			return -1;
	return (long)(i - s);
}

/* name ":" OWS value OWS, value of visible characters, spaces and tabs. */
static bool field_line(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return false;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if (c != ' ' && c != '\t' && !vchar(c) && c < 0x80)
			return false;
	}
	return true;
}

static bool target_is_metrics(const char *t, size_t n)
{
	static const char path[] = "/metrics";
	size_t pl = sizeof(path) - 1;

	/* A query is allowed (a scrape config may add one) and ignored. */
	return n >= pl && memcmp(t, path, pl) == 0 && (n == pl || t[pl] == '?');
}

enum ns_http_verdict ns_http_parse(const char *buf, size_t len, int *minor)
{
	size_t end, off = 0, i = 0, m, t0, tn;
	long n;
	const char *l;

	*minor = 0;
	end = head_end(buf, len < NS_HTTP_HEAD_MAX ? len : NS_HTTP_HEAD_MAX);
	if (end == 0)
		return len >= NS_HTTP_HEAD_MAX ? NS_HTTP_BAD : NS_HTTP_MORE;
	/* method SP request-target SP HTTP-version */
	l = buf;
	n = next_line(buf, end, &off);
	if (n <= 0)
		return NS_HTTP_BAD;
	while (i < (size_t)n && tchar((unsigned char)l[i]))
		i++;
	m = i;
	if (m == 0 || i == (size_t)n || l[i] != ' ')
		return NS_HTTP_BAD;
	t0 = ++i;
	while (i < (size_t)n && vchar((unsigned char)l[i]))
		i++;
	tn = i - t0;
	if (tn == 0 || i == (size_t)n || l[i] != ' ')
		return NS_HTTP_BAD;
	i++;
	if ((size_t)n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 ||
	    (l[i + 7] != '0' && l[i + 7] != '1'))
		return NS_HTTP_BAD;
	*minor = l[i + 7] - '0';
	/* The fields up to the empty line. */
	for (;;) {
		const char *f = buf + off;

		n = next_line(buf, end, &off);
		if (n < 0)
			return NS_HTTP_BAD;
		if (n == 0)
			break;
		if (!field_line(f, (size_t)n))
			return NS_HTTP_BAD;
	}
	if (m != 3 || memcmp(l, "GET", 3) != 0)
		return NS_HTTP_METHOD;
	if (!target_is_metrics(l + t0, tn))
		return NS_HTTP_NOT_FOUND;
	return NS_HTTP_OK;
}

const char *ns_http_reason(enum ns_http_verdict v)
{
	switch (v) {
	case NS_HTTP_OK:
		return "OK";
	case NS_HTTP_NOT_FOUND:
		return "Not Found";
	case NS_HTTP_METHOD:
		return "Method Not Allowed";
	default:
		return "Bad Request";
	}
}
