/* log.c: timestamped lines on stderr; keys and plaintext are never logged. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum ns_log_level log_level = NS_LOG_INFO;

void ns_log_set_level(enum ns_log_level level)
{
	log_level = level;
}

int ns_log_parse_level(const char *name)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void ns_log(enum ns_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error", "warn", "info", "debug" };
	char line[1024], stamp[32];
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
	fprintf(stderr, "%s.%03ldZ nodeseal[%s] %s\n", stamp, ts.tv_nsec / 1000000, tags[level],
	        line);
}
