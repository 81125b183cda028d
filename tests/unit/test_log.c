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
 * - sd_notify (src/util/notify.c): a full 108-byte abstract NOTIFY_SOCKET
 *   (no NUL in the abstract namespace) is reached, a 108-byte path (no room
 *   for its NUL) refused; one neither /... nor @... is warned about, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../src/util/log.h"
#include "../../src/util/notify.h"
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

/* NOTIFY_SOCKET=@ + 107 bytes names a full 108-byte abstract address. */
static void test_notify(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env[sizeof(sa.sun_path) + 1], buf[256], tmpl[] = "/tmp/test_log.XXXXXX";
	int s = socket(AF_UNIX, SOCK_DGRAM, 0), rc, saved, fd;
	ssize_t n;
	FILE *f;

	memset(sa.sun_path, 'n', sizeof(sa.sun_path));
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "test-log-%d-", (int)getpid());
	sa.sun_path[strlen(sa.sun_path + 1) + 1] = 'n';
	sa.sun_path[0] = '\0';
	ok(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a 108-byte abstract address bound");
	env[0] = '@';
	memcpy(env + 1, sa.sun_path + 1, sizeof(sa.sun_path) - 1);
	env[sizeof(sa.sun_path)] = '\0';
	setenv("NOTIFY_SOCKET", env, 1);
	rc = ns_notify("READY=1");
	n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	ok(rc == 0 && n == 7, "READY=1 reaches a 108-byte abstract NOTIFY_SOCKET (rc %d, %zd bytes)",
	   rc, n);
	env[0] = '/';
	setenv("NOTIFY_SOCKET", env, 1);
	ok(ns_notify("READY=1") != 0, "a 108-byte path, with no room for its NUL, is refused");
	close(s);

	/* The warning, on stderr. */
	fflush(stderr);
	saved = dup(2);
	fd = mkstemp(tmpl);
	dup2(fd, 2);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	rc = ns_notify("READY=1");
	(void)ns_notify("STOPPING=1");
	setenv("NOTIFY_SOCKET", "", 1);
	(void)ns_notify("READY=1");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	buf[n < 0 ? 0 : n] = '\0';
	fclose(f);
	unlink(tmpl);
	ok(rc == 0 && strstr(buf, "NOTIFY_SOCKET 'vsock:2:1234' is neither a path") != NULL,
	   "NOTIFY_SOCKET=vsock:... is warned about, not silently taken for none");
	ok(strstr(buf, "neither") != NULL && strstr(strstr(buf, "neither") + 1, "neither") == NULL,
	   "once, and an empty NOTIFY_SOCKET is none: '%s'", buf);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	test_escapes();
	test_truncation();
	test_every_byte();
	test_format_names();
	test_notify();
	return tap_done();
}
