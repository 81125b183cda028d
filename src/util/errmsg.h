/*
 * errmsg.h: the one way a function tells its caller what went wrong: one
 * sentence into the caller's err buffer (docs/STYLE.md, "Errors").
 */
#ifndef NS_ERRMSG_H
#define NS_ERRMSG_H

#include <stddef.h>

/* Writes the message into err (errlen bytes, always terminated) and
 * returns -1, so that a failure path reads "return ns_error(...)". */
__attribute__((format(printf, 3, 4)))
int ns_error(char *err, size_t errlen, const char *fmt, ...);

#endif
