/*
 * handshake_speed: complete nodeseal handshakes in memory, both sides in
 * one thread, and the cost of their parts: handshakes per second and
 * microseconds of CPU per side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "../src/proto/proto.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	uint8_t net[32] = { 1 }, a[32] = { 2 }, b[32] = { 3 }, msg[128];
	struct ns_identity ia, ib;
	struct ns_replay replay;
	double t0, t;
	uint64_t dh0;

	ns_identity_init(&ia, net, a);
	ns_identity_init(&ib, net, b);
	ns_replay_init(&replay, 60, 1 << 20);
	dh0 = ns_dh_count();
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct ns_handshake hi, hr;
		struct ns_session si, sr;
		size_t len;

		ns_handshake_init(&hi, true, &ia, NULL);
		ns_handshake_init(&hr, false, &ib, &replay);
		ns_handshake_set_time(&hi, 1700000000, 0);
		ns_handshake_set_time(&hr, 1700000000, 0);
		ns_handshake_write(&hi, msg, sizeof(msg), &len);
		ns_handshake_read(&hr, msg, len);
		ns_handshake_write(&hr, msg, sizeof(msg), &len);
		ns_handshake_read(&hi, msg, len);
		ns_handshake_write(&hi, msg, sizeof(msg), &len);
		if (ns_handshake_read(&hr, msg, len) != NS_OK || ns_handshake_finish(&hi, &si) != NS_OK ||
		    ns_handshake_finish(&hr, &sr) != NS_OK) {
			fprintf(stderr, "handshake failed\n");
			return 1;
		}
		ns_session_free(&si);
		ns_session_free(&sr);
		ns_handshake_free(&hi);
		ns_handshake_free(&hr);
	}
	t = now_s() - t0;
	printf("%d handshakes in %.3f s: %.0f/s, %.1f us per handshake (both sides), %.1f DH each\n",
	       n, t, n / t, t / n * 1e6, (double)(ns_dh_count() - dh0) / n);
	return 0;
}
