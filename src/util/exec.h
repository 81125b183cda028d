/* exec.h: running the kernel's table tools (iptables, ip) without a shell. */
#ifndef NS_EXEC_H
#define NS_EXEC_H

#include <stddef.h>

/*
 * Runs argv[0] (searched in PATH) with input on its stdin (may be NULL) and
 * its stdout into out (cap bytes, NUL-terminated; may be NULL).  Its stderr
 * goes to errout (cap errcap) for error messages.  Returns the exit status,
 * or -1 if it could not be run (errno set; 127: not found).
 */
int ns_exec(const char *const argv[], const char *input, char *out, size_t cap, char *errout,
            size_t errcap);

#endif
