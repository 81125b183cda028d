/*
 * fuzz_chainconf: hostile text as multichain.conf, as params.dat, and as an
 * HTTP response of the node's RPC (src/chain/chainconf.c, rpc.c).  Parsed
 * credentials are printable and bounded, a parsed port is 1..65535, a
 * refusal names the file; a response body lies inside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/chain/chainconf.h"
#include "../../src/chain/rpc.h"

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *body;
	struct ns_chainconf cc = { 0 };
	char err[512];
	uint16_t port;
	size_t blen;
	int st;

	if (ns_chainconf_parse_conf(text, size, "fz", &cc, err, sizeof(err)) == 0) {
		if (cc.user[0] == '\0' || cc.password[0] == '\0' || !printable(cc.user) ||
		    !printable(cc.password) || strlen(cc.user) > NS_CHAINCONF_CRED_MAX ||
		    strlen(cc.password) > NS_CHAINCONF_CRED_MAX)
			abort();
	} else if (strncmp(err, "fz", 2) != 0 || cc.user[0] != '\0') {
		abort();
	}
	if (ns_chainconf_parse_params(text, size, "fz", &port, err, sizeof(err)) == 0) {
		if (port == 0)
			abort();
	} else if (strncmp(err, "fz", 2) != 0 || port != 0) {
		abort();
	}
	if (ns_rpc_http_body(text, size, &st, &body, &blen) == NS_RPC_OK &&
	    (body < text || body + blen != text + size || st < 0 || st > 999))
		abort();
	return 0;
}
