/*
 * chainconf.c: multichain.conf and params.dat, as far as nodeseal needs
 * them (chainconf.h).
 *
 * Both are lines of "key=value" (params.dat: "key = value   # comment").
 * Lines are split without copying the whole file; every value is bounded.
 * Unknown keys are ignored, a key given twice takes its last value (what
 * multichaind does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/errmsg.h"
#include "chainconf.h"

/* One line's key and value, trimmed; false for a blank or comment line or
 * one without '='. */
static int split_line(const char *line, size_t len, const char **k, size_t *kl, const char **v,
                      size_t *vl)
{
	const char *eq, *end = line + len, *hash;

	hash = memchr(line, '#', len);
	if (hash != NULL)
		end = hash;
	eq = memchr(line, '=', (size_t)(end - line));
	if (eq == NULL)
		return 0;
	*k = line;
	*kl = (size_t)(eq - line);
	*v = eq + 1;
	*vl = (size_t)(end - eq - 1);
	while (*kl > 0 && ((*k)[0] == ' ' || (*k)[0] == '\t'))
		(*k)++, (*kl)--;
	while (*kl > 0 && ((*k)[*kl - 1] == ' ' || (*k)[*kl - 1] == '\t'))
		(*kl)--;
	while (*vl > 0 && ((*v)[0] == ' ' || (*v)[0] == '\t'))
		(*v)++, (*vl)--;
	while (*vl > 0 && ((*v)[*vl - 1] == ' ' || (*v)[*vl - 1] == '\t' || (*v)[*vl - 1] == '\r'))
		(*vl)--;
	return *kl > 0;
}

static int key_is(const char *k, size_t kl, const char *want)
{
	return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static int parse_port(const char *v, size_t vl, uint16_t *port)
{
	unsigned long p = 0;

	if (vl == 0 || vl > 5)
		return -1;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		p = p * 10 + (unsigned long)(v[i] - '0');
	}
	if (p < 1 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* Copies a credential: printable, no NUL, at most NS_CHAINCONF_CRED_MAX. */
static int copy_cred(char *dst, const char *v, size_t vl)
{
	if (vl == 0 || vl > NS_CHAINCONF_CRED_MAX)
		return -1;
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return -1;
	memcpy(dst, v, vl);
	dst[vl] = '\0';
	return 0;
}

/* Calls fn on each key=value line of text; stops at fn's first error. */
typedef int line_fn(void *ctx, const char *k, size_t kl, const char *v, size_t vl);

static int each_line(const char *text, size_t len, line_fn *fn, void *ctx)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *k, *v;
		size_t kl, vl;
		int rc;

		if (split_line(text + pos, ll, &k, &kl, &v, &vl) &&
		    (rc = fn(ctx, k, kl, v, vl)) != 0)
			return rc;
		pos += ll + 1;
	}
	return 0;
}

struct conf_ctx {
	struct ns_chainconf *out;
	const char *bad;
};

static int conf_line(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct conf_ctx *c = ctx;

	if (key_is(k, kl, "rpcuser") && copy_cred(c->out->user, v, vl) != 0)
		c->bad = "rpcuser";
	else if (key_is(k, kl, "rpcpassword") && copy_cred(c->out->password, v, vl) != 0)
		c->bad = "rpcpassword";
	else if (key_is(k, kl, "rpcport") && parse_port(v, vl, &c->out->rpcport) != 0)
		c->bad = "rpcport";
	return c->bad != NULL ? -1 : 0;
}

int ns_chainconf_parse_conf(const char *text, size_t len, const char *name,
                            struct ns_chainconf *out, char *err, size_t errlen)
{
	struct conf_ctx c = { out, NULL };

	memset(out, 0, sizeof(*out));
	if (len > NS_CHAINCONF_FILE_MAX || memchr(text, '\0', len) != NULL)
		return ns_error(err, errlen, "%s: not a multichain.conf (binary or over 64 KiB)",
		                name);
	if (each_line(text, len, conf_line, &c) != 0) {
		memset(out, 0, sizeof(*out));
		return ns_error(err, errlen, "%s: %s is empty, too long or not printable", name,
		                c.bad);
	}
	if (out->user[0] == '\0' || out->password[0] == '\0') {
		memset(out, 0, sizeof(*out));
		return ns_error(err, errlen, "%s: no rpcuser or no rpcpassword", name);
	}
	return 0;
}

struct params_ctx {
	uint16_t port;
	int bad;
};

static int params_line(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct params_ctx *c = ctx;

	if (key_is(k, kl, "default-rpc-port") && parse_port(v, vl, &c->port) != 0) {
		c->bad = 1;
		return -1;
	}
	return 0;
}

int ns_chainconf_parse_params(const char *text, size_t len, const char *name, uint16_t *port,
                              char *err, size_t errlen)
{
	struct params_ctx c = { 0, 0 };

	*port = 0;
	if (len > NS_CHAINCONF_FILE_MAX * 4 || memchr(text, '\0', len) != NULL)
		return ns_error(err, errlen, "%s: not a params.dat (binary or over 256 KiB)", name);
	if (each_line(text, len, params_line, &c) != 0)
		return ns_error(err, errlen, "%s: default-rpc-port is not a port (1-65535)", name);
	if (c.port == 0)
		return ns_error(err, errlen, "%s: no default-rpc-port", name);
	*port = c.port;
	return 0;
}
