/* clock.c: the monotonic clock, and the wall clock for people (clock.h). */
#include <time.h>

#include "clock.h"

int64_t ns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ns_wall_s(void)
{
	return (int64_t)time(NULL);
}
