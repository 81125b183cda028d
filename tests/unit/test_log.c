/*
 * test_log: JSON log lines (src/util/log.c).
 * - the escape: quotes, backslashes, every control character and DEL
 *   escaped; valid UTF-8 of every length kept; each byte of invalid UTF-8
 *   (a stray continuation, a cut sequence, an overlong form, a surrogate,
 *   past U+10FFFF, 0xfe/0xff) becomes \ufffd;
 * - what does not fit is left off whole: never half an escape or half a
 *   character, always NUL-terminated;
 * - every byte value, alone and in a run of all 255, gives output made
 *   only of printable ASCII, escapes and valid UTF-8, with no bare quote;
 * - the format is parsed: text and json, nothing else.
 */
#include <string.h>

#include "../../src/util/log.h"
#include "tap.h"

static const char *esc(const char *in)
{
	static char out[4096];

	ns_log_json_escape(in, out, sizeof(out));
	return out;
}

static void test_escapes(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "say \"hi\"", "say \\\"hi\\\"" },
		{ "C:\\path", "C:\\\\path" },
		{ "a\nb\rc\td", "a\\u000ab\\u000dc\\u0009d" },
		{ "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92" },
		{ "\x80", "\\ufffd" },
		{ "a\xc3", "a\\ufffd" },
		{ "\xc3(", "\\ufffd(" },
		{ "\xc0\xaf", "\\ufffd\\ufffd" },
		{ "\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd" },
		{ "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" },
		{ "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },
		{ "\xfe\xff", "\\ufffd\\ufffd" },
		{ "\xe2\x82", "\\ufffd\\ufffd" },
		{ "peer \"\xff\"\n", "peer \\\"\\ufffd\\\"\\u000a" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(strcmp(esc(cases[i].in), cases[i].out) == 0, "case %zu: %s", i, esc(cases[i].in));
}

static void test_truncation(void)
{
	char out[8];
	size_t n;

	n = ns_log_json_escape("abc\"def", out, sizeof(out));
	ok(n == 7 && strcmp(out, "abc\\\"de") == 0, "cut after a whole escape: %s", out);
	n = ns_log_json_escape("abcde\n", out, sizeof(out));
	ok(n == 5 && strcmp(out, "abcde") == 0, "an escape that does not fit is left off");
	n = ns_log_json_escape("abcde\xe2\x82\xac", out, sizeof(out));
	ok(n == 5 && strcmp(out, "abcde") == 0, "a character that does not fit is left off");
	n = ns_log_json_escape("abcdef\xe2\x82\xac", out, 1);
	ok(n == 0 && out[0] == '\0', "room for the NUL only");
	out[0] = 'x';
	ns_log_json_escape("abc", out, 0);
	ok(out[0] == 'x', "no room: nothing written");
}

/* The output holds no raw control, no bare quote or backslash outside an
 * escape, and only valid UTF-8. */
static int json_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		if (*p == '\\') {
			if (p[1] == '"' || p[1] == '\\') {
				p += 2;
				continue;
			}
			if (p[1] != 'u')
				return 0;
			for (int i = 2; i < 6; i++)
				if (strchr("0123456789abcdef", p[i]) == NULL || p[i] == '\0')
					return 0;
			p += 6;
			continue;
		}
		if (*p < 0x20 || *p == '"' || *p == 0x7f || *p >= 0xf5 || (*p >= 0x80 && *p < 0xc2))
			return 0;
		p++;
	}
	return 1;
}

static void test_every_byte(void)
{
	char in[256], one[2];
	int bad = 0;

	for (int b = 1; b < 256; b++) {
		one[0] = (char)b;
		one[1] = '\0';
		bad += !json_safe(esc(one));
		in[b - 1] = (char)b;
	}
	in[255] = '\0';
	ok(bad == 0, "each byte alone gives safe JSON text");
	ok(json_safe(esc(in)), "all 255 bytes in a row give safe JSON text");
}

static void test_format_names(void)
{
	ok(ns_log_parse_format("text") == NS_LOG_TEXT, "text");
	ok(ns_log_parse_format("json") == NS_LOG_JSON, "json");
	ok(ns_log_parse_format("JSON") == -1 && ns_log_parse_format("") == -1 &&
	   ns_log_parse_format("xml") == -1, "nothing else");
}

int main(void)
{
	test_escapes();
	test_truncation();
	test_every_byte();
	test_format_names();
	return tap_done();
}
