/*
 * fuzz_http: hostile bytes as the head of a request to the metrics
 * endpoint (src/util/http.c).  The verdict is one of the five; the minor
 * version is 0 or 1; a verdict once given does not change as more bytes
 * arrive (the endpoint answers at the first one); nothing but a head that
 * is complete within NS_HTTP_HEAD_MAX bytes is judged, and a head that is
 * not complete there is a 400, never a wait for more.  The same bytes, up
 * to the first NUL, as a --metrics value: an address taken is shown in a
 * form that reads back as the same address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util/hostport.h"
#include "../../src/util/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hostport(const uint8_t *data, size_t size)
{
	struct ns_hostport h, again;
	char s[128];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	if (ns_hostport_parse(s, &h) != 0)
		return;
	if (ns_hostport_parse(h.text, &again) != 0 || again.salen != h.salen ||
	    memcmp(&again.sa, &h.sa, h.salen) != 0 || again.loopback != h.loopback ||
	    ns_hostport_port(&h) == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int minor, minor2;
	enum ns_http_verdict v = ns_http_parse(buf, size, &minor), v2;

	if (v != NS_HTTP_MORE && v != NS_HTTP_OK && v != NS_HTTP_BAD && v != NS_HTTP_NOT_FOUND &&
	    v != NS_HTTP_METHOD)
		abort();
	if (minor != 0 && minor != 1)
		abort();
	if (v == NS_HTTP_MORE && size >= NS_HTTP_HEAD_MAX)
		abort();
	if (v == NS_HTTP_OK && (size < 18 || memcmp(buf, "GET /metrics", 12) != 0))
		abort();
	/* An earlier verdict stands. */
	for (size_t cut = size / 2; cut > 0 && cut < size; cut = cut + (size - cut + 1) / 2) {
		v2 = ns_http_parse(buf, cut, &minor2);
		if (v2 != NS_HTTP_MORE && (v2 != v || minor2 != minor))
			abort();
	}
	check_hostport(data, size);
	return 0;
}
