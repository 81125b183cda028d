/*
 * clock.h: the daemon's one clock, monotonic, in milliseconds.  Deadlines,
 * ticks and the flow table's expiry all read it, so a change of the wall
 * clock moves none of them.  The wall clock, in seconds, is only for
 * what people read: since when a peer is sealed or in clear.
 */
#ifndef NS_CLOCK_H
#define NS_CLOCK_H

#include <stdint.h>

int64_t ns_now_ms(void);
int64_t ns_wall_s(void);

#endif
