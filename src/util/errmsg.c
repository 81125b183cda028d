/* errmsg.c: error sentences for the caller (errmsg.h). */
#include <stdarg.h>
#include <stdio.h>

#include "errmsg.h"

int ns_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
