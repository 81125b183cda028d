/* log.c: timestamped lines on stderr, text or JSON (log.h); keys and
 * plaintext are never logged. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum ns_log_level log_level = NS_LOG_INFO;
static enum ns_log_format log_format = NS_LOG_TEXT;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void ns_log_set_level(enum ns_log_level level)
{
	log_level = level;
}

void ns_log_set_format(enum ns_log_format format)
{
	log_format = format;
}

int ns_log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int ns_log_parse_format(const char *name)
{
	if (strcmp(name, "text") == 0)
		return NS_LOG_TEXT;
	if (strcmp(name, "json") == 0)
		return NS_LOG_JSON;
	return -1;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t ns_log_json_escape(const char *in, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;

	if (cap == 0)
		return 0;
	while (n > 0) {
		char esc[8];
		const char *piece = esc;
		size_t plen, take = 1, u = utf8_len(s, n);

		if (u == 0) {
			piece = "\\ufffd";
			plen = 6;
		} else if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s;
			plen = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			plen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *s);
		} else {
			piece = (const char *)s;
			plen = take = u;
		}
		if (o + plen >= cap)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		s += take;
		n -= take;
	}
	out[o] = '\0';
	return o;
}

void ns_log(enum ns_log_level level, const char *fmt, ...)
{
	char line[1024], stamp[32], esc[6 * sizeof(line)];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines of concurrent processes stay whole. */
	if (log_format == NS_LOG_JSON) {
		ns_log_json_escape(line, esc, sizeof(esc));
		fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"program\":\"nodeseal\",\"level\":\"%s\","
		        "\"msg\":\"%s\"}\n", stamp, ts.tv_nsec / 1000000, level_names[level], esc);
		return;
	}
	fprintf(stderr, "%s.%03ldZ nodeseal[%s] %s\n", stamp, ts.tv_nsec / 1000000,
	        level_names[level], line);
}
