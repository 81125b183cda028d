/* config.c: options and environment variables, validated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/errmsg.h"
#include "../util/log.h"
#include "config.h"

const char ns_config_usage[] =
	"options (environment variable in brackets):\n"
	"  --ports LIST              P2P ports to protect, comma-separated [NODESEAL_PORTS] (7447)\n"
	"  --network-key-file PATH   file holding the network key, mode 0600 or 0400\n"
	"                            [NODESEAL_NETWORK_KEY_FILE]\n"
	"  NODESEAL_NETWORK_KEY=KEY  the network key itself, base64: environment only (a\n"
	"                            command line is readable by every local user)\n"
	"  --members FILE            proxy mode: only the node keys listed complete a handshake\n"
	"                            (one 'nodeseal pubkey' public-key a line, then a name;\n"
	"                            'nodeseal reload' rereads it) [NODESEAL_MEMBERS_FILE] (open)\n"
	"  --members chain           proxy mode: only nodes whose MultiChain address holds the\n"
	"                            connect permission, asked of the local node's JSON-RPC\n"
	"                            [NODESEAL_MEMBERS=chain] (a file named chain: ./chain)\n"
	"  --chain-dir DIR           --members chain: the chain's directory, with multichain.conf\n"
	"                            and params.dat; need not exist yet [NODESEAL_CHAIN_DIR]\n"
	"  --chain-refresh SEC       --members chain: permissions checked again this often; a\n"
	"                            revoked peer is cut within SEC + 2 s [NODESEAL_CHAIN_REFRESH] (5)\n"
	"  --state-dir DIR           node key and control socket [NODESEAL_STATE_DIR]"
	" (/var/lib/nodeseal)\n"
	"  --log-level LEVEL         error, warn, info or debug [NODESEAL_LOG_LEVEL] (info)\n"
	"  --iptables auto|legacy|nft  iptables backend [NODESEAL_IPTABLES] (auto)\n"
	"  --mode proxy|packet       proxy: a sealed connection of the daemon's; packet: the\n"
	"                            node's own TCP segments, sealed in place [NODESEAL_MODE] (proxy)\n"
	"  --queue-num N             packet mode's NFQUEUE number [NODESEAL_QUEUE_NUM] (7447)\n"
	"  --queue-maxlen N          packets the kernel may hold for the daemon; more are dropped\n"
	"                            [NODESEAL_QUEUE_MAXLEN] (4096)\n"
	"  --proxy-port N            daemon's ports N (outbound) and N+1 (inbound)"
	" [NODESEAL_PROXY_PORT] (20051)\n"
	"  --fwmark N                socket marks N and N+1 [NODESEAL_FWMARK] (0x4e530000)\n"
	"  --route-table N           policy routing table [NODESEAL_ROUTE_TABLE] (20051)\n"
	"  --handshake-timeout SEC   [NODESEAL_HANDSHAKE_TIMEOUT] (10)\n"
	"  --max-pending N           inbound connections not yet authenticated, at once;\n"
	"                            when full, the oldest is dropped [NODESEAL_MAX_PENDING] (256)\n"
	"  --max-pending-per-source N  the same, from one address or IPv6 /64"
	" [NODESEAL_MAX_PENDING_PER_SOURCE] (64)\n"
	"  --delivery-ports LO-HI    source ports of connections delivered to the node; keep\n"
	"                            them outside the peers' ip_local_port_range"
	" [NODESEAL_DELIVERY_PORTS] (61000-65535)\n"
	"  --max-connections N       [NODESEAL_MAX_CONNECTIONS] (4096)\n"
	"  --clock-window SEC        accepted clock difference between nodes"
	" [NODESEAL_CLOCK_WINDOW] (60)\n"
	"  --policy required|opportunistic  required: every connection sealed; opportunistic:\n"
	"                            peers without nodeseal in clear, for a rollout, never a peer\n"
	"                            sealed before [NODESEAL_POLICY] (required)\n"
	"  --plain-retry SEC         opportunistic: a peer found without nodeseal is reached in\n"
	"                            clear this long before sealed is tried again"
	" [NODESEAL_PLAIN_RETRY] (60)\n"
	"  NODESEAL=off              'run' only executes COMMAND, without protection\n";

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_ports(struct ns_config *c, const char *s, const char *from, char *err,
                       size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return ns_error(err, errlen, "%s: list too long", from);
	strcpy(buf, s);
	c->nports = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint32_t p;
		if (parse_u32(tok, 1, 65535, &p) != 0)
			return ns_error(err, errlen, "%s: '%s' is not a port (1-65535)", from, tok);
		if (c->nports == NS_MAX_PORTS)
			return ns_error(err, errlen, "%s: at most %d ports", from, NS_MAX_PORTS);
		for (int j = 0; j < c->nports; j++)
			if (c->ports[j] == p)
				return ns_error(err, errlen, "%s: port %u given twice", from, p);
		c->ports[c->nports++] = (uint16_t)p;
	}
	if (c->nports == 0)
		return ns_error(err, errlen, "%s: no port given", from);
	return 0;
}

/* One setting: name of the option, of the variable, and how to apply it.
 * K_SECRET is a string taken from the environment only. */
enum kind { K_PORTS, K_RANGE, K_STR, K_SECRET, K_LEVEL, K_IPT, K_MODE, K_POLICY, K_U16, K_U32,
            K_INT, K_FLAG };
struct setting {
	const char *opt, *env;
	enum kind kind;
	size_t offset;
	uint32_t min, max;
};

#define OFF(f) offsetof(struct ns_config, f)
static const struct setting settings[] = {
	{ "--ports", "NODESEAL_PORTS", K_PORTS, 0, 0, 0 },
	{ "--network-key", "NODESEAL_NETWORK_KEY", K_SECRET, OFF(network_key), 0, 0 },
	{ "--network-key-file", "NODESEAL_NETWORK_KEY_FILE", K_STR, OFF(network_key_file), 0, 0 },
	{ "--members", "NODESEAL_MEMBERS_FILE", K_STR, OFF(members_file), 0, 0 },
	/* The same option: its variable for "chain" (the argument loop takes
	 * the entry above, which sets the same field). */
	{ "--members", "NODESEAL_MEMBERS", K_STR, OFF(members_file), 0, 0 },
	{ "--chain-dir", "NODESEAL_CHAIN_DIR", K_STR, OFF(chain_dir), 0, 0 },
	{ "--chain-refresh", "NODESEAL_CHAIN_REFRESH", K_INT, OFF(chain_refresh), 1, 3600 },
	{ "--state-dir", "NODESEAL_STATE_DIR", K_STR, OFF(state_dir), 0, 0 },
	{ "--log-level", "NODESEAL_LOG_LEVEL", K_LEVEL, OFF(log_level), 0, 0 },
	{ "--iptables", "NODESEAL_IPTABLES", K_IPT, OFF(iptables), 0, 0 },
	{ "--mode", "NODESEAL_MODE", K_MODE, OFF(mode), 0, 0 },
	{ "--queue-num", "NODESEAL_QUEUE_NUM", K_U16, OFF(queue_num), 0, 65535 },
	{ "--queue-maxlen", "NODESEAL_QUEUE_MAXLEN", K_U32, OFF(queue_maxlen), 16, 1 << 20 },
	{ "--proxy-port", "NODESEAL_PROXY_PORT", K_U16, OFF(proxy_port), 1, 65534 },
	{ "--fwmark", "NODESEAL_FWMARK", K_U32, OFF(fwmark), 1, 0xfffffffe },
	{ "--route-table", "NODESEAL_ROUTE_TABLE", K_U32, OFF(route_table), 1, 0x7fffffff },
	{ "--handshake-timeout", "NODESEAL_HANDSHAKE_TIMEOUT", K_INT, OFF(handshake_timeout), 1,
	  3600 },
	{ "--max-pending", "NODESEAL_MAX_PENDING", K_INT, OFF(max_pending), 1, 1000000 },
	{ "--max-pending-per-source", "NODESEAL_MAX_PENDING_PER_SOURCE", K_INT,
	  OFF(max_pending_source), 1, 1000000 },
	{ "--delivery-ports", "NODESEAL_DELIVERY_PORTS", K_RANGE, 0, 1024, 65535 },
	{ "--max-connections", "NODESEAL_MAX_CONNECTIONS", K_INT, OFF(max_conns), 1, 1000000 },
	{ "--clock-window", "NODESEAL_CLOCK_WINDOW", K_INT, OFF(clock_window), 1, 86400 },
	{ "--policy", "NODESEAL_POLICY", K_POLICY, OFF(policy), 0, 0 },
	{ "--plain-retry", "NODESEAL_PLAIN_RETRY", K_INT, OFF(plain_retry), 1, 86400 },
	{ "--json", NULL, K_FLAG, OFF(json), 0, 0 },
	{ "--require-sealed", NULL, K_FLAG, OFF(require_sealed), 0, 0 },
};

/* LO-HI, at least 64 ports: one per connection a peer has open at once. */
static int parse_range(struct ns_config *c, const struct setting *s, const char *v,
                       const char *from, char *err, size_t errlen)
{
	uint32_t lo, hi;
	char buf[32], *dash;

	if (strlen(v) >= sizeof(buf))
		return ns_error(err, errlen, "%s: '%s' is not a range LO-HI", from, v);
	strcpy(buf, v);
	dash = strchr(buf, '-');
	if (dash == NULL)
		return ns_error(err, errlen, "%s: '%s' is not a range LO-HI", from, v);
	*dash = '\0';
	if (parse_u32(buf, s->min, s->max, &lo) != 0 || parse_u32(dash + 1, s->min, s->max, &hi) != 0)
		return ns_error(err, errlen, "%s: '%s' is not a range of ports %u-%u", from, v, s->min,
		                 s->max);
	if (hi < lo || hi - lo < 63)
		return ns_error(err, errlen, "%s: '%s' holds fewer than 64 ports", from, v);
	c->delivery_lo = (uint16_t)lo;
	c->delivery_hi = (uint16_t)hi;
	return 0;
}

static int apply(struct ns_config *c, const struct setting *s, const char *v, const char *from,
                 char *err, size_t errlen)
{
	char *field = (char *)c + s->offset;
	uint32_t u;
	int level;

	switch (s->kind) {
	case K_PORTS:
		return parse_ports(c, v, from, err, errlen);
	case K_RANGE:
		return parse_range(c, s, v, from, err, errlen);
	case K_STR:
	case K_SECRET:
		if (v[0] == '\0')
			return ns_error(err, errlen, "%s: empty", from);
		memcpy(field, &v, sizeof(v));
		return 0;
	case K_LEVEL:
		if ((level = ns_log_parse_level(v)) < 0)
			return ns_error(err, errlen, "%s: '%s' is not error, warn, info or debug", from,
			                 v);
		c->log_level = level;
		return 0;
	case K_IPT:
		if (strcmp(v, "auto") != 0 && strcmp(v, "legacy") != 0 && strcmp(v, "nft") != 0)
			return ns_error(err, errlen, "%s: '%s' is not auto, legacy or nft", from, v);
		c->iptables = v;
		return 0;
	case K_MODE:
		if (strcmp(v, "proxy") == 0)
			c->mode = NS_MODE_PROXY;
		else if (strcmp(v, "packet") == 0)
			c->mode = NS_MODE_PACKET;
		else
			return ns_error(err, errlen, "%s: '%s' is not proxy or packet", from, v);
		return 0;
	case K_POLICY:
		if (strcmp(v, "required") == 0)
			c->policy = NS_POLICY_REQUIRED;
		else if (strcmp(v, "opportunistic") == 0)
			c->policy = NS_POLICY_OPPORTUNISTIC;
		else
			return ns_error(err, errlen, "%s: '%s' is not required or opportunistic", from,
			                 v);
		return 0;
	case K_FLAG:
		*(bool *)(void *)field = true;
		return 0;
	default:
		break;
	}
	if (parse_u32(v, s->min, s->max, &u) != 0)
		return ns_error(err, errlen, "%s: '%s' is not a number from %u to %u", from, v, s->min,
		                 s->max);
	if (s->kind == K_U16)
		*(uint16_t *)(void *)field = (uint16_t)u;
	else if (s->kind == K_U32)
		*(uint32_t *)(void *)field = u;
	else
		*(int *)(void *)field = (int)u;
	return 0;
}

int ns_config_load(struct ns_config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
	const char *off = getenv("NODESEAL");
	size_t n = sizeof(settings) / sizeof(settings[0]);

	memset(c, 0, sizeof(*c));
	c->ports[0] = 7447;
	c->nports = 1;
	c->state_dir = "/var/lib/nodeseal";
	c->log_level = NS_LOG_INFO;
	c->iptables = "auto";
	c->mode = NS_MODE_PROXY;
	c->queue_num = 7447;
	c->queue_maxlen = 4096;
	c->proxy_port = 20051;
	c->fwmark = 0x4e530000;
	c->route_table = 20051;
	c->handshake_timeout = 10;
	c->max_pending = 256;
	c->max_pending_source = 64;
	c->delivery_lo = 61000;
	c->delivery_hi = 65535;
	c->max_conns = 4096;
	c->clock_window = 60;
	c->policy = NS_POLICY_REQUIRED;
	c->plain_retry = 60;
	c->chain_refresh = 5;
	if (off != NULL) {
		if (strcmp(off, "off") == 0 || strcmp(off, "0") == 0)
			c->off = true;
		else if (strcmp(off, "on") != 0 && strcmp(off, "1") != 0)
			return ns_error(err, errlen, "NODESEAL: '%s' is not on or off", off);
	}
	for (size_t k = 0; k < n; k++) {
		const char *v = settings[k].env ? getenv(settings[k].env) : NULL;
		if (v != NULL && apply(c, &settings[k], v, settings[k].env, err, errlen) != 0)
			return -1;
	}
	for (; *i < argc && strcmp(argv[*i], "--") != 0; (*i)++) {
		const char *a = argv[*i], *v = NULL;
		size_t k;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			c->help = true;
			return 0;
		}

		for (k = 0; k < n; k++) {
			size_t len = strlen(settings[k].opt);
			if (strncmp(a, settings[k].opt, len) != 0)
				continue;
			if (a[len] == '=' && settings[k].kind != K_FLAG) {
				v = a + len + 1;
				break;
			}
			if (a[len] == '\0') {
				if (settings[k].kind == K_FLAG)
					v = "1";
				else if (*i + 1 < argc)
					v = argv[++*i];
				else
					return ns_error(err, errlen, "%s needs a value", a);
				break;
			}
		}
		if (k == n)
			return ns_error(err, errlen, "unknown option '%s'", a);
		/* Refused, not hidden: overwriting argv would leave a window
		 * in which /proc/PID/cmdline shows the key to every user. */
		if (settings[k].kind == K_SECRET)
			return ns_error(err, errlen, "%s: a key on the command line is readable by "
			                 "every local user; set %s or use %s-file instead",
			                 settings[k].opt, settings[k].env, settings[k].opt);
		if (apply(c, &settings[k], v, settings[k].opt, err, errlen) != 0)
			return -1;
	}
	if (c->members_file != NULL && strcmp(c->members_file, "chain") == 0) {
		c->members_chain = true;
		c->members_file = NULL;
		/* Packet mode has no node keys: nothing to bind an address to. */
		if (c->mode == NS_MODE_PACKET)
			return ns_error(err, errlen, "--members chain (NODESEAL_MEMBERS): membership "
			                "from the chain needs proxy mode; packet mode has no per-node "
			                "keys to bind a chain address to (docs/SECURITY.md)");
		if (c->chain_dir == NULL)
			return ns_error(err, errlen, "--members chain needs --chain-dir DIR "
			                "(NODESEAL_CHAIN_DIR), the chain's directory holding "
			                "multichain.conf and params.dat");
	}
	/* Packet mode seals segments with keys from the network key alone:
	 * there is no node key to check against a list. */
	if (c->members_file != NULL && c->mode == NS_MODE_PACKET)
		return ns_error(err, errlen, "--members (NODESEAL_MEMBERS_FILE): membership needs "
		                "proxy mode; packet mode has no node keys, and only replacing the "
		                "network key removes a member there (docs/SECURITY.md)");
	/* Packet mode has no listeners and delivers nothing: its ports are free. */
	for (int p = 0; p < c->nports && c->mode == NS_MODE_PROXY; p++) {
		if (c->ports[p] == c->proxy_port || c->ports[p] == c->proxy_port + 1)
			return ns_error(err, errlen, "port %u is both protected and the daemon's own",
			                 c->ports[p]);
		if (c->ports[p] >= c->delivery_lo && c->ports[p] <= c->delivery_hi)
			return ns_error(err, errlen, "port %u is both protected and a delivery port",
			                 c->ports[p]);
	}
	return 0;
}

bool ns_port_protected(const struct ns_config *c, uint16_t port)
{
	for (int i = 0; i < c->nports; i++)
		if (c->ports[i] == port)
			return true;
	return false;
}
