/*
 * fuzz_handshake: hostile bytes as each handshake message.
 * The first input byte picks the message (1, 2 or 3); for 2 and 3 the
 * earlier messages are produced by real, pinned endpoints so the input
 * meets a handshake in the right state.  The rest is the message, of any
 * length.  Nothing may crash, and a forged message must never complete the
 * handshake.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/proto/proto.h"

static struct ns_identity ini_id, res_id;
static int ready;

static void setup(void)
{
	uint8_t net[32], a[32], b[32];

	for (int i = 0; i < 32; i++) {
		net[i] = (uint8_t)i;
		a[i] = (uint8_t)(i * 3 + 1);
		b[i] = (uint8_t)(i * 5 + 2);
	}
	if (ns_identity_init(&ini_id, net, a) != 0 || ns_identity_init(&res_id, net, b) != 0)
		abort();
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_handshake ini, res;
	struct ns_replay replay;
	uint8_t msg[128], eph[32] = { 9 };
	size_t len;
	int which, err;

	if (!ready)
		setup();
	if (size < 1)
		return 0;
	which = data[0] % 3;
	data++;
	size--;
	if (ns_replay_init(&replay, NS_REPLAY_WINDOW_DEFAULT, 1024) != 0)
		abort();
	ns_handshake_init(&ini, true, &ini_id, NULL);
	ns_handshake_init(&res, false, &res_id, &replay);
	ns_handshake_fix_ephemeral(&ini, eph);
	ns_handshake_set_time(&ini, 1700000000, 0);
	ns_handshake_set_time(&res, 1700000000, 0);

	if (which == 0) {
		err = ns_handshake_read(&res, data, size);
	} else {
		ns_handshake_write(&ini, msg, sizeof(msg), &len);
		if (which == 1) {
			err = ns_handshake_read(&ini, data, size);
		} else {
			if (ns_handshake_read(&res, msg, len) != NS_OK ||
			    ns_handshake_write(&res, msg, sizeof(msg), &len) != NS_OK)
				abort();
			err = ns_handshake_read(&res, data, size);
			/* Only the initiator's own third message could finish it. */
			if (err == NS_OK && ns_handshake_done(&res))
				abort();
		}
	}
	(void)err;
	ns_handshake_free(&ini);
	ns_handshake_free(&res);
	ns_replay_free(&replay);
	return 0;
}
