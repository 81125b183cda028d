/*
 * fuzz_key: hostile text as a key (key files, environment variables).
 * Whatever decodes must encode back to the same text, trailing
 * whitespace aside: only the canonical form is accepted.  The same bytes
 * as a network key file (one or two keys, comments): a file that parses
 * holds one or two distinct keys, each of which appears in the text in
 * its canonical form, and one that does not says why, naming the file.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/keys/keys.h"

static void check_netkeys(const uint8_t *data, size_t size)
{
	struct ns_netkeys k;
	char err[512], text[NS_KEY_B64_LEN + 1];

	if (ns_network_keys_parse((const char *)data, size, "fuzz.key", &k, err, sizeof(err)) != 0) {
		if (strncmp(err, "fuzz.key", 8) != 0 || k.n != 0)
			abort();
		return;
	}
	if (k.n < 1 || k.n > NS_NETKEYS_MAX ||
	    (k.n == 2 && memcmp(k.key[0], k.key[1], 32) == 0))
		abort();
	for (size_t i = 0; i < k.n; i++) {
		ns_key_encode(k.key[i], text);
		if (memmem(data, size, text, NS_KEY_B64_LEN) == NULL)
			abort();
	}
	ns_network_keys_wipe(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[32];
	char text[NS_KEY_B64_LEN + 1];
	size_t len = size;

	check_netkeys(data, size);
	if (ns_key_decode((const char *)data, size, key) != NULL)
		return 0;
	while (len > 0 && isspace(data[len - 1]))
		len--;
	ns_key_encode(key, text);
	if (len != NS_KEY_B64_LEN || memcmp(text, data, len) != 0)
		abort();
	return 0;
}
