/*
 * fuzz_protocol_name: hostile Noise protocol names into the pattern parser.
 * An accepted name must give a pattern within the fixed limits.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/noise/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[128];
	struct noise_protocol p;

	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	if (noise_protocol_parse(name, &p) != 0)
		return 0;
	if (p.nmessages < 1 || p.nmessages > NOISE_MAX_MESSAGES || p.npsks > NOISE_MAX_PSKS)
		abort();
	for (int i = 0; i < p.nmessages; i++)
		if (p.ntokens[i] > NOISE_MAX_TOKENS)
			abort();
	return 0;
}
