/*
 * record_dir.h: one direction of the record layer, open and keyed as a
 * finished handshake leaves it, without a handshake: for test_records,
 * fuzz_record and bench/record_speed, which exercise the records alone.
 */
#ifndef NS_TEST_RECORD_DIR_H
#define NS_TEST_RECORD_DIR_H

#include <string.h>

#include "../../src/proto/proto.h"

/* The key is seed, seed+1, ..., seed+31: two directions with the same seed
 * talk to each other.  Returns -1 if the cipher cannot be set up. */
static inline int record_dir_keyed(struct ns_record_dir *d, uint8_t seed)
{
	uint8_t key[32];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(seed + i);
	memset(d, 0, sizeof(*d));
	if (noise_cipher_init(&d->cs, NS_CIPHER_AESGCM) != 0)
		return -1;
	noise_cipher_set_key(&d->cs, key);
	d->state = NS_DIR_OPEN;
	return 0;
}

#endif
