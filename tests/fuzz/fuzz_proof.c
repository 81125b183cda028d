/*
 * fuzz_proof: hostile bytes as a proof record's payload (src/chain/proof.c).
 * A payload that parses holds an address and a signature of the allowed
 * alphabets and lengths, and encodes back to exactly the same bytes; a
 * refused one leaves the proof zeroed.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/chain/proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ns_proof zero;
	struct ns_proof p;
	uint8_t out[NS_PROOF_MAX];
	int n;

	if (ns_proof_parse(data, size, &p) != 0) {
		if (memcmp(&p, &zero, sizeof(p)) != 0)
			abort();
		return 0;
	}
	if (!ns_proof_addr_ok(p.addr) || !ns_proof_sig_ok(p.sig))
		abort();
	n = ns_proof_encode(&p, out, sizeof(out));
	if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
