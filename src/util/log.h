/*
 * log.h: one line per event on stderr, quiet by default below "info".
 * A line is text ("2026-01-02T03:04:05.678Z nodeseal[info] message") or,
 * for log shippers, one JSON object with the same fields:
 * {"ts":"2026-01-02T03:04:05.678Z","program":"nodeseal","level":"info","msg":"message"}.
 */
#ifndef NS_LOG_H
#define NS_LOG_H

#include <stddef.h>

enum ns_log_level { NS_LOG_ERROR, NS_LOG_WARN, NS_LOG_INFO, NS_LOG_DEBUG };
enum ns_log_format { NS_LOG_TEXT, NS_LOG_JSON };

void ns_log_set_level(enum ns_log_level level);
void ns_log_set_format(enum ns_log_format format);
/* -1 if name is not a level. */
int ns_log_parse_level(const char *name);
/* -1 if name is not text or json. */
int ns_log_parse_format(const char *name);
__attribute__((format(printf, 2, 3)))
void ns_log(enum ns_log_level level, const char *fmt, ...);

/*
 * in as the inside of a JSON string, into out (cap bytes, NUL-terminated;
 * what does not fit is left off, never half an escape).  Messages carry
 * what peers sent (addresses, names, reasons), so nothing in may break
 * the object: quotes, backslashes and control characters are escaped, and
 * each byte that is not part of valid UTF-8 becomes U+FFFD.  Returns the
 * length written.
 */
size_t ns_log_json_escape(const char *in, char *out, size_t cap);

#endif
