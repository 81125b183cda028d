/* caps.h: the daemon gives up, once set up, every capability it no
 * longer needs. */
#ifndef NS_CAPS_H
#define NS_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Keeps only the capabilities of mask keep (bit N: capability N) in the
 * effective, permitted and inheritable sets, the bounding set and the
 * ambient set; those of keep the process does not hold stay out.  Raw
 * prctl and capget/capset: no libcap.  *bounded is false when the bounding
 * set could not shrink (no CAP_SETPCAP): then no_new_privs is set, so that
 * no exec gets more than the process keeps.  The names of what is kept go
 * into kept ("CAP_NET_ADMIN CAP_NET_RAW", or "none").  0, or -1 with err.
 */
int ns_caps_keep(uint64_t keep, bool *bounded, char *kept, size_t keptlen, char *err,
                 size_t errlen);

#endif
