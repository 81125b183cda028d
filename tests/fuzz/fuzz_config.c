/*
 * fuzz_config: hostile text as a config file.  A file that parses leaves
 * settings within their bounds, with every string inside the text; a
 * refused one gives an error that names the file and its line.  Both
 * modes of the file are tried: the network key is taken only from the
 * owner's.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"

static void check(const struct ns_config *c, const char *text, size_t len)
{
	const char *strs[] = { c->state_dir, c->network_key, c->network_key_file, c->members_file,
	                       c->iptables };

	if (c->nports < 1 || c->nports > NS_MAX_PORTS || c->delivery_hi < c->delivery_lo ||
	    c->delivery_lo < 1024 || c->proxy_port == 0 || c->max_conns < 1 ||
	    c->queue_maxlen < 16 || c->handshake_timeout < 1)
		abort();
	for (int i = 0; i < c->nports; i++)
		if (c->ports[i] == 0)
			abort();
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *s = strs[i];
		if (s == NULL || (s >= text && s <= text + len))
			continue;
		/* Only the defaults lie outside the text. */
		if (strcmp(s, "/var/lib/nodeseal") != 0 && strcmp(s, "auto") != 0)
			abort();
	}
	if (c->network_key != NULL && c->network_key[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = { 0100600, 0100644 };

	for (size_t m = 0; m < 2; m++) {
		struct ns_config c;
		char err[512], *text = malloc(size + 1);

		if (text == NULL)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		ns_config_defaults(&c);
		if (ns_config_parse(&c, text, size, "fuzz.conf", modes[m], err, sizeof(err)) != 0) {
			if (strncmp(err, "fuzz.conf:", 10) != 0)
				abort();
		} else {
			check(&c, text, size);
			if (modes[m] == 0100644 && c.network_key != NULL)
				abort();
		}
		free(text);
	}
	return 0;
}
