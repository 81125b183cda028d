/* log.h: one line per event on stderr, quiet by default below "info". */
#ifndef NS_LOG_H
#define NS_LOG_H

enum ns_log_level { NS_LOG_ERROR, NS_LOG_WARN, NS_LOG_INFO, NS_LOG_DEBUG };

void ns_log_set_level(enum ns_log_level level);
/* -1 if name is not a level. */
int ns_log_parse_level(const char *name);
__attribute__((format(printf, 2, 3)))
void ns_log(enum ns_log_level level, const char *fmt, ...);

#endif
