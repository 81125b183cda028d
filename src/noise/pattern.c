/*
 * pattern.c: protocol names ("Noise_XXpsk0+psk3_25519_AESGCM_SHA256") to
 * token lists.  The pattern table is the specification's (sections 7.4 to
 * 7.6) written as text: pre-messages, then messages separated by '|', each a
 * comma-separated list of tokens.  Messages alternate, initiator first.
 */
#include <stdlib.h>
#include <string.h>

#include "noise.h"

struct pattern_def {
	const char *name;
	const char *pre_i; /* "s" or "" */
	const char *pre_r;
	const char *msgs;
};

static const struct pattern_def patterns[] = {
	/* one-way */
	{ "N", "", "s", "e,es" },
	{ "K", "s", "s", "e,es,ss" },
	{ "X", "", "s", "e,es,s,ss" },
	/* fundamental interactive */
	{ "NN", "", "", "e|e,ee" },
	{ "NK", "", "s", "e,es|e,ee" },
	{ "NX", "", "", "e|e,ee,s,es" },
	{ "XN", "", "", "e|e,ee|s,se" },
	{ "XK", "", "s", "e,es|e,ee|s,se" },
	{ "XX", "", "", "e|e,ee,s,es|s,se" },
	{ "KN", "s", "", "e|e,ee,se" },
	{ "KK", "s", "s", "e,es,ss|e,ee,se" },
	{ "KX", "s", "", "e|e,ee,se,s,es" },
	{ "IN", "", "", "e,s|e,ee,se" },
	{ "IK", "", "s", "e,es,s,ss|e,ee,se" },
	{ "IX", "", "", "e,s|e,ee,se,s,es" },
	/* deferred */
	{ "NK1", "", "s", "e|e,ee,es" },
	{ "NX1", "", "", "e|e,ee,s|es" },
	{ "X1N", "", "", "e|e,ee|s|se" },
	{ "X1K", "", "s", "e,es|e,ee|s|se" },
	{ "XK1", "", "s", "e|e,ee,es|s,se" },
	{ "X1K1", "", "s", "e|e,ee,es|s|se" },
	{ "X1X", "", "", "e|e,ee,s,es|s|se" },
	{ "XX1", "", "", "e|e,ee,s|es,s,se" },
	{ "X1X1", "", "", "e|e,ee,s|es,s|se" },
	{ "K1N", "s", "", "e|e,ee|se" },
	{ "K1K", "s", "s", "e,es|e,ee|se" },
	{ "KK1", "s", "s", "e|e,ee,se,es" },
	{ "K1K1", "s", "s", "e|e,ee,es|se" },
	{ "K1X", "s", "", "e|e,ee,s,es|se" },
	{ "KX1", "s", "", "e|e,ee,se,s|es" },
	{ "K1X1", "s", "", "e|e,ee,s|se,es" },
	{ "I1N", "", "", "e,s|e,ee|se" },
	{ "I1K", "", "s", "e,es,s|e,ee|se" },
	{ "IK1", "", "s", "e,s|e,ee,se,es" },
	{ "I1K1", "", "s", "e,s|e,ee,es|se" },
	{ "I1X", "", "", "e,s|e,ee,s,es|se" },
	{ "IX1", "", "", "e,s|e,ee,se,s|es" },
	{ "I1X1", "", "", "e,s|e,ee,s|se,es" },
};

static int token_parse(const char *t, size_t len)
{
	static const char *const names[] = { "e", "s", "ee", "es", "se", "ss" };

	for (int i = 0; i < 6; i++)
		if (strlen(names[i]) == len && memcmp(t, names[i], len) == 0)
			return i;
	return -1;
}

static int pattern_expand(const struct pattern_def *d, struct noise_protocol *p)
{
	const char *c = d->msgs;

	p->pre_initiator_s = d->pre_i[0] == 's';
	p->pre_responder_s = d->pre_r[0] == 's';
	p->one_way = strlen(d->name) == 1;
	p->nmessages = 1;
	while (*c != '\0') {
		size_t len = strcspn(c, ",|");
		int tok = token_parse(c, len);
		int m = p->nmessages - 1;

		if (tok < 0 || p->ntokens[m] >= NOISE_MAX_TOKENS)
			return -1;
		p->tokens[m][p->ntokens[m]++] = (uint8_t)tok;
		c += len;
		if (*c == '|') {
			if (p->nmessages >= NOISE_MAX_MESSAGES)
				return -1;
			p->nmessages++;
		}
		if (*c != '\0')
			c++;
	}
	return 0;
}

/* "psk0+psk3": psk0 opens the first message, pskN closes message N. */
static int psk_apply(const char *mods, struct noise_protocol *p)
{
	while (*mods != '\0') {
		char *end;
		long n;
		int m;

		if (strncmp(mods, "psk", 3) != 0)
			return -1;
		n = strtol(mods + 3, &end, 10);
		if (end == mods + 3 || n < 0 || n > p->nmessages)
			return -1;
		m = n == 0 ? 0 : (int)n - 1;
		if (p->ntokens[m] >= NOISE_MAX_TOKENS || p->npsks >= NOISE_MAX_PSKS)
			return -1;
		if (n == 0) {
			memmove(&p->tokens[0][1], &p->tokens[0][0], p->ntokens[0]);
			p->tokens[0][0] = NOISE_TOK_PSK;
		} else {
			p->tokens[m][p->ntokens[m]] = NOISE_TOK_PSK;
		}
		p->ntokens[m]++;
		p->npsks++;
		mods = end;
		if (*mods == '+')
			mods++;
		else if (*mods != '\0')
			return -1;
	}
	return 0;
}

static int component(const char *s, size_t len, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0)
			return i;
	return -1;
}

int noise_protocol_parse(const char *name, struct noise_protocol *p)
{
	static const char *const dhs[] = { "25519", "448" };
	static const char *const ciphers[] = { "AESGCM", "ChaChaPoly" };
	static const char *const hashes[] = { "SHA256", "SHA512", "BLAKE2s", "BLAKE2b" };
	const char *part[5];
	size_t plen[5], base;
	int dh, cipher, hash;
	const char *c = name;

	memset(p, 0, sizeof(*p));
	if (strlen(name) >= sizeof(p->name))
		return -1;
	for (int i = 0; i < 5; i++) {
		part[i] = c;
		plen[i] = strcspn(c, "_");
		c += plen[i];
		if ((i < 4) != (*c == '_'))
			return -1;
		if (*c == '_')
			c++;
	}
	if (plen[0] != 5 || memcmp(part[0], "Noise", 5) != 0)
		return -1;
	dh = component(part[2], plen[2], dhs, 2);
	cipher = component(part[3], plen[3], ciphers, 2);
	hash = component(part[4], plen[4], hashes, 4);
	if (dh < 0 || cipher < 0 || hash < 0)
		return -1;
	p->dh = (enum ns_dh_id)dh;
	p->cipher = (enum ns_cipher_id)cipher;
	p->hash = (enum ns_hash_id)hash;

	/* The pattern's base name ends where its modifiers start. */
	for (base = 0; base < plen[1] && strncmp(part[1] + base, "psk", 3) != 0; base++)
		;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		char mods[32];
		size_t mlen = plen[1] - base;

		if (strlen(patterns[i].name) != base || memcmp(patterns[i].name, part[1], base) != 0)
			continue;
		if (mlen >= sizeof(mods) || pattern_expand(&patterns[i], p) != 0)
			return -1;
		memcpy(mods, part[1] + base, mlen);
		mods[mlen] = '\0';
		if (psk_apply(mods, p) != 0)
			return -1;
		strcpy(p->name, name);
		return 0;
	}
	return -1;
}
