/*
 * fuzz_members: hostile text as a members list.  A list that parses holds
 * at least one member, no key twice, names only of the allowed characters,
 * and every member is found again by its key; a refused one leaves the
 * table empty and an error that names the file.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/keys/members.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_members m;
	char err[512];

	if (ns_members_parse((const char *)data, size, "fuzz", &m, err, sizeof(err)) != 0) {
		if (m.n != 0 || m.v != NULL || strncmp(err, "fuzz", 4) != 0)
			abort();
		return 0;
	}
	if (m.n == 0)
		abort();
	for (size_t i = 0; i < m.n; i++) {
		if (ns_members_find(&m, m.v[i].pub) != &m.v[i])
			abort();
		if (strlen(m.v[i].name) > NS_MEMBER_NAME_MAX ||
		    strspn(m.v[i].name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		           "0123456789._:@+-") != strlen(m.v[i].name))
			abort();
	}
	ns_members_free(&m);
	return 0;
}
