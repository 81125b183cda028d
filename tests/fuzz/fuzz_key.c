/*
 * fuzz_key: hostile text as a key (key files, environment variables).
 * Whatever decodes must encode back to the same text, trailing
 * whitespace aside: only the canonical form is accepted.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/keys/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[32];
	char text[NS_KEY_B64_LEN + 1];
	size_t len = size;

	if (ns_key_decode((const char *)data, size, key) != NULL)
		return 0;
	while (len > 0 && isspace(data[len - 1]))
		len--;
	ns_key_encode(key, text);
	if (len != NS_KEY_B64_LEN || memcmp(text, data, len) != 0)
		abort();
	return 0;
}
