/*
 * fuzz_logjson: hostile bytes (a peer's name, a reason, an address: what
 * log lines carry) through the JSON escape of --log-format json
 * (src/util/log.c).  The output is JSON string text: no raw control, no
 * bare quote, escapes whole, only valid UTF-8; a smaller buffer gives a
 * prefix of what a larger one gives, cut between pieces, and NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the valid UTF-8 sequence at p, 0 if none (independent of log.c's). */
static size_t utf8_ok(const unsigned char *p)
{
	unsigned cp, n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void check(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	if (strlen(s) != len)
		abort();
	while (*p) {
		size_t u;
		if (*p == '\\') {
			if (p[1] == '"' || p[1] == '\\') {
				p += 2;
				continue;
			}
			if (p[1] != 'u')
				abort();
			for (int i = 2; i < 6; i++)
				if (p[i] == '\0' || strchr("0123456789abcdef", p[i]) == NULL)
					abort();
			p += 6;
			continue;
		}
		if (*p < 0x20 || *p == '"' || *p == 0x7f)
			abort();
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((u = utf8_ok(p)) == 0)
			abort();
		p += u;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *big, small[37];
	size_t cap = 6 * size + 1, n, m;

	in = malloc(size + 1);
	big = malloc(cap);
	if (in == NULL || big == NULL)
		goto out;
	memcpy(in, data, size);
	in[size] = '\0';
	n = ns_log_json_escape(in, big, cap);
	check(big, n);
	m = ns_log_json_escape(in, small, sizeof(small));
	check(small, m);
	if (m > n || memcmp(small, big, m) != 0)
		abort();
	/* Whole: everything fits in six bytes an input byte. */
	if (n < strlen(in))
		abort();
out:
	free(in);
	free(big);
	return 0;
}
