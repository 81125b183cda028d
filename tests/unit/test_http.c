/*
 * test_http: the metrics endpoint's request head (src/util/http.c) and
 * its listening address (src/util/hostport.c).
 * - GET /metrics in HTTP/1.0 and 1.1, with fields, CRLF or LF, a query: 200;
 * - other methods 405, other paths 404, anything else 400: a bad request
 *   line, another version, a field line without a colon, a CR alone, a
 *   folded line, controls in the target;
 * - a head is judged only once whole: every shorter prefix is MORE;
 * - the bound: a head of NS_HTTP_HEAD_MAX bytes or more without its end
 *   is 400, one that ends within it is judged;
 * - addresses: ADDR:PORT, [IPv6]:PORT, a bare PORT on 127.0.0.1; names,
 *   missing or bad ports, bad brackets refused; loopback told apart.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util/hostport.h"
#include "../../src/util/http.h"
#include "tap.h"

static enum ns_http_verdict judge(const char *s, int *minor)
{
	return ns_http_parse(s, strlen(s), minor);
}

static void test_verdicts(void)
{
	static const struct {
		const char *req;
		enum ns_http_verdict want;
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", NS_HTTP_OK },
		{ "GET /metrics HTTP/1.0\r\n\r\n", NS_HTTP_OK },
		{ "GET /metrics HTTP/1.0\n\n", NS_HTTP_OK },
		{ "GET /metrics?name[]=x HTTP/1.1\r\nUser-Agent: Prometheus/2.45\r\n\r\n", NS_HTTP_OK },
		{ "GET /metrics HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb\r\n\r\n", NS_HTTP_OK },
		{ "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", NS_HTTP_METHOD },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", NS_HTTP_METHOD },
		{ "get /metrics HTTP/1.1\r\n\r\n", NS_HTTP_METHOD },
		{ "GET / HTTP/1.1\r\n\r\n", NS_HTTP_NOT_FOUND },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", NS_HTTP_NOT_FOUND },
		{ "GET /metrics/ HTTP/1.1\r\n\r\n", NS_HTTP_NOT_FOUND },
		{ "GET http://x/metrics HTTP/1.1\r\n\r\n", NS_HTTP_NOT_FOUND },
		{ "GET /metrics HTTP/2.0\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.10\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics\r\n\r\n", NS_HTTP_BAD },
		{ "GET  /metrics HTTP/1.1\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1 \r\n\r\n", NS_HTTP_BAD },
		{ " GET /metrics HTTP/1.1\r\n\r\n", NS_HTTP_BAD },
		{ "\r\nGET /metrics HTTP/1.1\r\n\r\n", NS_HTTP_BAD },
		{ "GET /met\x01rics HTTP/1.1\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\nX: a\rb\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", NS_HTTP_BAD },
		{ "GET /metrics HTTP/1.1\r\nX: a\x7f\r\n\r\n", NS_HTTP_BAD },
		{ "POST /metrics HTTP/9.9\r\n\r\n", NS_HTTP_BAD },
		{ "\x16\x03\x01\x02\xa5\x01\x01\x01\xa1\x03\x03\n\n", NS_HTTP_BAD },
	};
	int minor;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ns_http_verdict v = judge(cases[i].req, &minor);
		ok(v == cases[i].want, "case %zu: %d (want %d)", i, (int)v, (int)cases[i].want);
	}
	judge("GET /metrics HTTP/1.0\r\n\r\n", &minor);
	ok(minor == 0, "HTTP/1.0 read as minor 0");
	judge("GET /metrics HTTP/1.1\r\n\r\n", &minor);
	ok(minor == 1, "HTTP/1.1 read as minor 1");
	ok(strcmp(ns_http_reason(NS_HTTP_METHOD), "Method Not Allowed") == 0 &&
	   strcmp(ns_http_reason(NS_HTTP_NOT_FOUND), "Not Found") == 0 &&
	   strcmp(ns_http_reason(NS_HTTP_BAD), "Bad Request") == 0 &&
	   strcmp(ns_http_reason(NS_HTTP_OK), "OK") == 0, "reason phrases");
}

/* A head arrives in pieces: no verdict before its end, whatever the cut. */
static void test_prefixes(void)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9447\r\n\r\n";
	size_t n = strlen(req), early = 0;
	int minor;

	for (size_t i = 0; i < n; i++)
		early += ns_http_parse(req, i, &minor) != NS_HTTP_MORE;
	ok(early == 0, "no verdict on any of the %zu prefixes", n);
	ok(ns_http_parse(req, n, &minor) == NS_HTTP_OK, "the whole head: 200");
}

static void test_bound(void)
{
	char *buf = malloc(NS_HTTP_HEAD_MAX + 64);
	const char *line = "GET /metrics HTTP/1.1\r\nX: ";
	size_t l = strlen(line);
	int minor;

	if (buf == NULL)
		return;
	memcpy(buf, line, l);
	memset(buf + l, 'a', NS_HTTP_HEAD_MAX + 64 - l);
	ok(ns_http_parse(buf, NS_HTTP_HEAD_MAX - 1, &minor) == NS_HTTP_MORE,
	   "one byte short of the bound, no end: MORE");
	ok(ns_http_parse(buf, NS_HTTP_HEAD_MAX, &minor) == NS_HTTP_BAD,
	   "the bound reached without an end: 400");
	ok(ns_http_parse(buf, NS_HTTP_HEAD_MAX + 64, &minor) == NS_HTTP_BAD, "past it: 400");
	/* A head that ends exactly at the bound is taken. */
	memcpy(buf + NS_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	ok(ns_http_parse(buf, NS_HTTP_HEAD_MAX, &minor) == NS_HTTP_OK,
	   "a head of exactly NS_HTTP_HEAD_MAX bytes: 200");
	/* An end past the bound is not looked for. */
	memset(buf + NS_HTTP_HEAD_MAX - 4, 'a', 4);
	memcpy(buf + NS_HTTP_HEAD_MAX, "\r\n\r\n", 4);
	ok(ns_http_parse(buf, NS_HTTP_HEAD_MAX + 4, &minor) == NS_HTTP_BAD,
	   "a head ending past the bound: 400");
	free(buf);
}

static void test_hostport(void)
{
	static const char *const bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "0",
		"localhost:9447", "::1:9447", "[::1]", "[::1]9447", "[::1]:", "[]:9447",
		"[127.0.0.1]:9447", "1.2.3:9447", "9447x", "-1", "+9447", "127.0.0.1:+80",
		"127.0.0.1:123456", "1.2.3.4:9447:1",
	};
	struct ns_hostport h;
	char a[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(ns_hostport_parse(bad[i], &h) == -1, "'%s' refused", bad[i]);
	ok(ns_hostport_parse("9447", &h) == 0 && h.loopback && h.sa.ss_family == AF_INET &&
	   strcmp(h.text, "127.0.0.1:9447") == 0 && ns_hostport_port(&h) == 9447,
	   "a bare port is 127.0.0.1");
	ok(ns_hostport_parse("0.0.0.0:80", &h) == 0 && !h.loopback &&
	   strcmp(h.text, "0.0.0.0:80") == 0, "0.0.0.0 is not loopback");
	ok(ns_hostport_parse("127.1.2.3:65535", &h) == 0 && h.loopback &&
	   ns_hostport_port(&h) == 65535, "127/8 is loopback");
	ok(ns_hostport_parse("[::1]:9447", &h) == 0 && h.loopback && h.sa.ss_family == AF_INET6 &&
	   strcmp(h.text, "[::1]:9447") == 0, "[::1]");
	ok(ns_hostport_parse("[fd77::1]:1", &h) == 0 && !h.loopback && ns_hostport_port(&h) == 1,
	   "[fd77::1]:1 is not loopback");
	ok(ns_hostport_parse("10.0.0.7:9100", &h) == 0 &&
	   inet_ntop(AF_INET, &((struct sockaddr_in *)&h.sa)->sin_addr, a, sizeof(a)) != NULL &&
	   strcmp(a, "10.0.0.7") == 0 && h.salen == sizeof(struct sockaddr_in), "the address kept");
}

int main(void)
{
	test_verdicts();
	test_prefixes();
	test_bound();
	test_hostport();
	return tap_done();
}
