/*
 * fuzz_record: hostile bytes into the record decoder.
 * Input: [mode][chunk][rest].  Mode even: rest is the wire stream, fed in
 * chunks of chunk+1 bytes.  Mode odd: rest is cut into payloads that are
 * sealed properly, then one byte of the sealed stream (chosen by the input)
 * is altered, so the decoder also meets authentic headers and bodies.
 * Invariants: no crash; nothing is released after a failure; with no
 * alteration, exactly the sealed payloads come out.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/proto/proto.h"
#include "../unit/record_dir.h"

#define WIRE_MAX (1 << 18)

static uint8_t wire[WIRE_MAX], buf[NS_RECORD_MAX_WIRE * 2], plain[WIRE_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_record_dir tx, rx;
	size_t wlen = 0, plen_total = 0, chunk, have = 0, pos = 0, out = 0;
	int failed = 0, altered = 0;

	if (size < 4)
		return 0;
	chunk = 1 + (data[1] | (size_t)data[2] << 8);
	if (record_dir_keyed(&rx, 1) != 0)
		abort();
	if (data[0] & 1) {
		size_t at = data[3];
		if (record_dir_keyed(&tx, 1) != 0)
			abort();
		for (size_t i = 4; i < size && wlen + NS_RECORD_OVERHEAD + 600 < WIRE_MAX;) {
			size_t n = 1 + data[i] * 2;
			if (n > size - i)
				n = size - i;
			memcpy(plain + plen_total, data + i, n);
			if (ns_record_seal(&tx, NS_RECORD_DATA, data + i, n, wire + wlen) != NS_OK)
				abort();
			wlen += ns_record_wire_len(n);
			plen_total += n;
			i += n;
		}
		if (data[0] & 2 && wlen > 0) {
			wire[(at * 97) % wlen] ^= (uint8_t)(data[0] | 1);
			altered = 1;
		}
		noise_cipher_free(&tx.cs);
	} else {
		wlen = size - 4 < WIRE_MAX ? size - 4 : WIRE_MAX;
		memcpy(wire, data + 4, wlen);
		altered = 1;
	}
	while (pos < wlen && !failed) {
		size_t take = wlen - pos < chunk ? wlen - pos : chunk, used, plen;
		uint8_t *p, type;
		int rc;

		if (take > sizeof(buf) - have)
			take = sizeof(buf) - have;
		memcpy(buf + have, wire + pos, take);
		have += take;
		pos += take;
		while ((rc = ns_record_open(&rx, buf, have, &used, &p, &plen, &type)) == 1) {
			if (failed || used > have || plen > NS_RECORD_MAX)
				abort();
			if (!altered && (out + plen > plen_total || memcmp(p, plain + out, plen) != 0))
				abort();
			out += plen;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (rc < 0)
			failed = 1;
	}
	if (failed && !altered)
		abort();
	if (!altered && out != plen_total)
		abort();
	noise_cipher_free(&rx.cs);
	return 0;
}
