/*
 * config.c: options, environment variables and the config file, validated.
 *
 * One table names every setting (option, variable, kind, bounds), and one
 * parser per kind reads its value, wherever it comes from.  The layers go
 * on in the order file, environment, options, so that the later wins.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../keys/keys.h"
#include "../util/confine.h"
#include "../util/errmsg.h"
#include "../util/log.h"
#include "config.h"

const char ns_config_usage[] =
	"options (environment variable in brackets; options win over the environment, which\n"
	"wins over the config file; numbers are decimal, a leading zero is refused):\n"
	"  --config FILE             settings as NAME = VALUE lines, NAME a variable below\n"
	"                            [NODESEAL_CONFIG] (none; the package's unit uses\n"
	"                            /etc/nodeseal/nodeseal.conf)\n"
	"  --ports LIST              P2P ports to protect, comma-separated [NODESEAL_PORTS] (7447)\n"
	"  --network-key-file PATH   file holding the network key, mode 0600 or 0400\n"
	"                            [NODESEAL_NETWORK_KEY_FILE]\n"
	"  NODESEAL_NETWORK_KEY=KEY  the network key itself, base64: environment or a config\n"
	"                            file of mode 0600, never an option (a command line is\n"
	"                            readable by every local user); with the key file one\n"
	"                            setting: the higher layer's wins, both in one are refused\n"
	"  --members FILE            proxy mode: only the node keys listed complete a handshake\n"
	"                            (one 'nodeseal pubkey' public-key a line, then a name;\n"
	"                            'nodeseal reload' rereads it) [NODESEAL_MEMBERS_FILE] (open)\n"
	"  --members chain           proxy mode: only nodes whose MultiChain address holds the\n"
	"                            connect permission, asked of the local node's JSON-RPC\n"
	"                            [NODESEAL_MEMBERS=chain] (a file named chain: ./chain)\n"
	"  --chain-dir DIR           --members chain: the chain's directory, with multichain.conf\n"
	"                            and params.dat; need not exist yet [NODESEAL_CHAIN_DIR]\n"
	"  --chain-refresh SEC       --members chain: permissions checked again this often; a\n"
	"                            revoked peer is cut within SEC + 8 s [NODESEAL_CHAIN_REFRESH] (5)\n"
	"  --state-dir DIR           node key and control socket [NODESEAL_STATE_DIR]"
	" (/var/lib/nodeseal)\n"
	"  --log-level LEVEL         error, warn, info or debug [NODESEAL_LOG_LEVEL] (info)\n"
	"  --log-format text|json    json: one JSON object a line, for log shippers\n"
	"                            [NODESEAL_LOG_FORMAT] (text)\n"
	"  --metrics ADDR:PORT       Prometheus metrics on http://ADDR:PORT/metrics; a bare PORT\n"
	"                            is 127.0.0.1:PORT, [IPv6]:PORT for IPv6; any address but\n"
	"                            loopback makes them readable from the network\n"
	"                            [NODESEAL_METRICS] (off)\n"
	"  --iptables auto|legacy|nft  iptables backend [NODESEAL_IPTABLES] (auto)\n"
	"  --mode proxy|packet       proxy: a sealed connection of the daemon's; packet: the\n"
	"                            node's own TCP segments, sealed in place [NODESEAL_MODE] (proxy)\n"
	"  --queue-num N             packet mode's NFQUEUE number [NODESEAL_QUEUE_NUM] (7447)\n"
	"  --queue-maxlen N          packets the kernel may hold for the daemon; more are dropped\n"
	"                            [NODESEAL_QUEUE_MAXLEN] (4096)\n"
	"  --proxy-port N            daemon's ports N (outbound) and N+1 (inbound)"
	" [NODESEAL_PROXY_PORT] (20051)\n"
	"  --fwmark N                socket marks N and N+1, decimal or 0x hex\n"
	"                            [NODESEAL_FWMARK] (0x4e530000)\n"
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
	"  NODESEAL=off              'run' only executes COMMAND, without protection\n"
	"                            (environment only, not in a config file)\n";

/* A number as written: decimal digits, or 0x and hex digits where hex
 * is allowed (hex).  Never octal: a leading 0 with more digits is refused
 * (-2), not read as octal (07447 would be port 3879) nor as decimal. */
static int parse_u32(const char *s, bool hex, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *p = s;
	uint64_t v = 0;
	unsigned base = 10;

	if (hex && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
		return -2;
	}
	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -1;
		v = v * base + d;
		if (v > UINT32_MAX)
			return -1;
	}
	if (v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* The sentence for a number parse_u32 refused (rc), naming the setting. */
static int num_error(int rc, const char *from, const char *v, const char *what, char *err,
                     size_t errlen)
{
	if (rc == -2)
		return ns_error(err, errlen, "%s: '%s' starts with 0; numbers are decimal, so write "
		                "it without the leading zero", from, v);
	return ns_error(err, errlen, "%s: '%s' is not %s", from, v, what);
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
		int rc;

		/* Blanks around a port, as in "7447, 7448", are not part of it. */
		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if ((rc = parse_u32(tok, false, 1, 65535, &p)) != 0)
			return num_error(rc, from, tok, "a port (1-65535)", err, errlen);
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
 * K_SECRET is a string never taken from the command line; K_CONFIG, the
 * config file, is read before every other setting. */
enum kind { K_PORTS, K_RANGE, K_STR, K_SECRET, K_LEVEL, K_IPT, K_MODE, K_POLICY, K_U16, K_U32,
            K_INT, K_FLAG, K_LOGFMT, K_HOSTPORT, K_CONFIG };
struct setting {
	const char *opt, *env;
	enum kind kind;
	size_t offset;
	uint32_t min, max;
};

#define OFF(f) offsetof(struct ns_config, f)
static const struct setting settings[] = {
	{ "--config", "NODESEAL_CONFIG", K_CONFIG, 0, 0, 0 },
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
	{ "--log-format", "NODESEAL_LOG_FORMAT", K_LOGFMT, OFF(log_format), 0, 0 },
	{ "--metrics", "NODESEAL_METRICS", K_HOSTPORT, OFF(metrics), 0, 0 },
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
	char buf[32], *dash, what[64];
	int rc;

	if (strlen(v) >= sizeof(buf))
		return ns_error(err, errlen, "%s: '%s' is not a range LO-HI", from, v);
	strcpy(buf, v);
	dash = strchr(buf, '-');
	if (dash == NULL)
		return ns_error(err, errlen, "%s: '%s' is not a range LO-HI", from, v);
	*dash = '\0';
	snprintf(what, sizeof(what), "a range of ports %u-%u", s->min, s->max);
	if ((rc = parse_u32(buf, false, s->min, s->max, &lo)) != 0 ||
	    (rc = parse_u32(dash + 1, false, s->min, s->max, &hi)) != 0)
		return num_error(rc, from, v, what, err, errlen);
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
	int level, rc;
	char what[64];

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
	case K_LOGFMT:
		if ((level = ns_log_parse_format(v)) < 0)
			return ns_error(err, errlen, "%s: '%s' is not text or json", from, v);
		c->log_format = level;
		return 0;
	case K_HOSTPORT:
		if (ns_hostport_parse(v, &c->metrics_addr) != 0)
			return ns_error(err, errlen, "%s: '%s' is not ADDR:PORT, [IPv6]:PORT or PORT "
			                "(an IP address, a port 1-65535 in decimal without a leading zero)",
			                from, v);
		c->metrics = true;
		return 0;
	case K_CONFIG:
		return 0; /* read first, by ns_config_load */
	default:
		break;
	}
	/* Hex only where the setting is a bit pattern: the mark. */
	if ((rc = parse_u32(v, s->offset == OFF(fwmark), s->min, s->max, &u)) != 0) {
		if (s->offset == OFF(fwmark))
			snprintf(what, sizeof(what), "a number from %u to %u (decimal, or hex as 0x...)",
			         s->min, s->max);
		else
			snprintf(what, sizeof(what), "a number from %u to %u", s->min, s->max);
		return num_error(rc, from, v, what, err, errlen);
	}
	if (s->kind == K_U16)
		*(uint16_t *)(void *)field = (uint16_t)u;
	else if (s->kind == K_U32)
		*(uint32_t *)(void *)field = u;
	else
		*(int *)(void *)field = (int)u;
	return 0;
}

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

void ns_config_defaults(struct ns_config *c)
{
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
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* s without the blanks around it, cut in place. */
static char *trim(char *s)
{
	size_t n;

	while (blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Two names of one field (NODESEAL_MEMBERS_FILE and NODESEAL_MEMBERS). */
static bool same_field(const struct setting *a, const struct setting *b)
{
	return a != b && a->kind == b->kind && a->offset == b->offset &&
	       (a->kind == K_STR || a->kind == K_SECRET);
}

/* One NAME = VALUE line, already trimmed; seen[k] is the line that set
 * settings[k] (0: none yet). */
static int parse_line(struct ns_config *c, char *line, int lineno, int seen[], const char *name,
                      unsigned mode, char *err, size_t errlen)
{
	char *eq = strchr(line, '='), *key, *val, from[512], why[512];
	size_t k, vlen;

	if (eq == NULL)
		return ns_error(err, errlen, "%s:%d: not NAME = VALUE", name, lineno);
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (key[0] == '\0' ||
	    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
	        strlen(key))
		return ns_error(err, errlen, "%s:%d: not NAME = VALUE", name, lineno);
	if (strcmp(key, "NODESEAL") == 0)
		return ns_error(err, errlen, "%s:%d: NODESEAL, the on/off switch, is read from the "
		                "environment only", name, lineno);
	for (k = 0; k < NSETTINGS; k++)
		if (settings[k].env != NULL && strcmp(key, settings[k].env) == 0)
			break;
	if (k == NSETTINGS)
		return ns_error(err, errlen, "%s:%d: unknown setting %s", name, lineno, key);
	if (settings[k].kind == K_CONFIG)
		return ns_error(err, errlen, "%s:%d: NODESEAL_CONFIG: a config file cannot name "
		                "another", name, lineno);
	if (seen[k] != 0)
		return ns_error(err, errlen, "%s:%d: %s set again (first on line %d)", name, lineno,
		                key, seen[k]);
	for (size_t j = 0; j < NSETTINGS; j++)
		if (seen[j] != 0 && same_field(&settings[j], &settings[k]))
			return ns_error(err, errlen, "%s:%d: %s sets what %s on line %d set; give one of "
			                "them", name, lineno, key, settings[j].env, seen[j]);
	seen[k] = lineno;
	snprintf(from, sizeof(from), "%s:%d: %s", name, lineno, key);
	/* Quotes, as EnvironmentFile= takes them, so one file serves both;
	 * inside them everything is literal. */
	vlen = strlen(val);
	if (val[0] == '"' || val[0] == '\'') {
		if (vlen < 2 || val[vlen - 1] != val[0])
			return ns_error(err, errlen, "%s: quote not closed", from);
		val[vlen - 1] = '\0';
		val++;
	}
	if (settings[k].kind == K_SECRET && ns_secret_mode_check(name, mode, "network key", why,
	                                                         sizeof(why)) != 0)
		return ns_error(err, errlen, "%s: %s", from, why);
	return apply(c, &settings[k], val, from, err, errlen);
}

int ns_config_parse(struct ns_config *c, char *text, size_t len, const char *name,
                    unsigned mode, char *err, size_t errlen)
{
	int seen[NSETTINGS] = { 0 }, lineno = 0;
	char *p = text, *end = text + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end, *line;

		lineno++;
		if (le - p > NS_CONFIG_LINE_MAX)
			return ns_error(err, errlen, "%s:%d: line longer than %d bytes", name, lineno,
			                NS_CONFIG_LINE_MAX);
		if (memchr(p, '\0', (size_t)(le - p)) != NULL)
			return ns_error(err, errlen, "%s:%d: NUL byte", name, lineno);
		*le = '\0';
		line = trim(p);
		if (line[0] != '\0' && line[0] != '#' &&
		    parse_line(c, line, lineno, seen, name, mode, err, errlen) != 0)
			return -1;
		p = le + 1;
	}
	return 0;
}

/* The file's text, which the settings point into, and the network key's
 * place in it: both live until the process ends, and the key until
 * ns_config_wipe_key. */
static char *file_text;
static size_t file_len;
static char *file_secret;

static void file_forget(void)
{
	if (file_text != NULL) {
		explicit_bzero(file_text, file_len);
		free(file_text);
	}
	file_text = file_secret = NULL;
	file_len = 0;
}

/* Whoever can change the file can name another key file or members list:
 * it is root's or this user's, and nobody else may write it. */
static int load_file(struct ns_config *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	file_forget();
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ns_error(err, errlen, "%s: cannot open the config file: %s", path,
		                strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ns_error(err, errlen, "%s: the config file is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 022) != 0) {
		ns_error(err, errlen, "%s: mode %04o lets %s change the settings; it must not be "
		         "writable by group or others (chmod 600 %s)", path,
		         (unsigned)(st.st_mode & 07777), (st.st_mode & 002) ? "anyone" : "the group",
		         path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		ns_error(err, errlen, "%s: owned by uid %u, who can change the settings; it must "
		         "belong to root or to this user", path, (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_size > NS_CONFIG_FILE_MAX) {
		ns_error(err, errlen, "%s: too large for a config file (over %d bytes)", path,
		         NS_CONFIG_FILE_MAX);
		goto out;
	}
	file_text = malloc(NS_CONFIG_FILE_MAX + 2);
	if (file_text == NULL) {
		ns_error(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = read(fd, file_text, NS_CONFIG_FILE_MAX + 1);
	if (n < 0) {
		ns_error(err, errlen, "%s: cannot read the config file: %s", path, strerror(errno));
		goto out;
	}
	if (n > NS_CONFIG_FILE_MAX) {
		ns_error(err, errlen, "%s: too large for a config file (over %d bytes)", path,
		         NS_CONFIG_FILE_MAX);
		goto out;
	}
	file_len = (size_t)n;
	file_text[file_len] = '\0';
	rc = ns_config_parse(c, file_text, file_len, path, st.st_mode, err, errlen);
	/* Only the file can have set it so far: the defaults have none. */
	file_secret = (char *)(uintptr_t)c->network_key;
out:
	close(fd);
	return rc;
}

void ns_config_wipe_key(void)
{
	if (file_secret != NULL)
		explicit_bzero(file_secret, strlen(file_secret));
	if (getenv("NODESEAL_NETWORK_KEY") != NULL)
		ns_env_wipe("NODESEAL_NETWORK_KEY");
}

/* The option at argv[*i], its value joined by '=' or the next argument
 * (*i then moves on to it).  1: --help; 0: *s and *v set; -1: err. */
static int next_option(int argc, char **argv, int *i, const struct setting **s, const char **v,
                       char *err, size_t errlen)
{
	const char *a = argv[*i];
	size_t k;

	if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		return 1;
	*v = NULL;
	for (k = 0; k < NSETTINGS; k++) {
		size_t len = strlen(settings[k].opt);
		if (strncmp(a, settings[k].opt, len) != 0)
			continue;
		if (a[len] == '=' && settings[k].kind != K_FLAG) {
			*v = a + len + 1;
			break;
		}
		if (a[len] == '\0') {
			if (settings[k].kind == K_FLAG)
				*v = "1";
			else if (*i + 1 < argc)
				*v = argv[++*i];
			else
				return ns_error(err, errlen, "%s needs a value", a);
			break;
		}
	}
	if (k == NSETTINGS)
		return ns_error(err, errlen, "unknown option '%s'", a);
	/* Refused, not hidden: overwriting argv would leave a window
	 * in which /proc/PID/cmdline shows the key to every user. */
	if (settings[k].kind == K_SECRET)
		return ns_error(err, errlen, "%s: a key on the command line is readable by "
		                "every local user; set %s or use %s-file instead",
		                settings[k].opt, settings[k].env, settings[k].opt);
	*s = &settings[k];
	return 0;
}

/* The network key, inline or as a file, is one setting across the layers:
 * a layer that sets one of them (key, key_file: what the layers below
 * left) takes the other away; one layer (where) setting both is refused.
 * An inline key of the file's, so dropped, is wiped at once. */
static int key_layer(struct ns_config *c, const char *key, const char *key_file,
                     const char *where, char *err, size_t errlen)
{
	bool key_set = c->network_key != key, file_set = c->network_key_file != key_file;

	if (key_set && file_set)
		return ns_error(err, errlen, "%s: NODESEAL_NETWORK_KEY and NODESEAL_NETWORK_KEY_FILE "
		                "both set; give one of them", where);
	if (key_set) {
		c->network_key_file = NULL;
	} else if (file_set && c->network_key != NULL) {
		if (c->network_key == file_secret) {
			explicit_bzero(file_secret, strlen(file_secret));
			file_secret = NULL;
		}
		c->network_key = NULL;
	}
	return 0;
}

int ns_config_load(struct ns_config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
	const char *off = getenv("NODESEAL"), *path = getenv("NODESEAL_CONFIG"), *v, *key, *key_file;
	const struct setting *s;
	int rc;

	ns_config_defaults(c);
	if (off != NULL) {
		if (strcmp(off, "off") == 0 || strcmp(off, "0") == 0)
			c->off = true;
		else if (strcmp(off, "on") != 0 && strcmp(off, "1") != 0)
			return ns_error(err, errlen, "NODESEAL: '%s' is not on or off", off);
	}
	/* The options once through before any applies: the file they name
	 * is the lowest layer, under the environment. */
	for (int j = *i; j < argc && strcmp(argv[j], "--") != 0; j++) {
		if ((rc = next_option(argc, argv, &j, &s, &v, err, errlen)) < 0)
			return -1;
		if (rc > 0) {
			c->help = true;
			return 0;
		}
		if (s->kind == K_CONFIG)
			path = v;
	}
	if (path != NULL && path[0] == '\0')
		return ns_error(err, errlen, "--config (NODESEAL_CONFIG): empty");
	c->config_file = path;
	if (path != NULL && load_file(c, path, err, errlen) != 0)
		return -1;
	if (key_layer(c, NULL, NULL, path != NULL ? path : "", err, errlen) != 0)
		return -1;
	key = c->network_key;
	key_file = c->network_key_file;
	for (size_t k = 0; k < NSETTINGS; k++) {
		v = settings[k].env ? getenv(settings[k].env) : NULL;
		if (v == NULL || settings[k].kind == K_CONFIG)
			continue;
		for (size_t j = 0; j < k; j++)
			if (same_field(&settings[j], &settings[k]) && getenv(settings[j].env) != NULL)
				return ns_error(err, errlen, "%s and %s are both set in the environment; "
				                "they are one setting: give one of them", settings[j].env,
				                settings[k].env);
		if (apply(c, &settings[k], v, settings[k].env, err, errlen) != 0)
			return -1;
	}
	if (key_layer(c, key, key_file, "the environment", err, errlen) != 0)
		return -1;
	key = c->network_key;
	key_file = c->network_key_file;
	for (; *i < argc && strcmp(argv[*i], "--") != 0; (*i)++) {
		if (next_option(argc, argv, i, &s, &v, err, errlen) != 0)
			return -1;
		if (apply(c, s, v, s->opt, err, errlen) != 0)
			return -1;
	}
	if (key_layer(c, key, key_file, "the options", err, errlen) != 0)
		return -1;
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
	if (c->metrics) {
		uint16_t mp = ns_hostport_port(&c->metrics_addr);
		if (ns_port_protected(c, mp) ||
		    (c->mode == NS_MODE_PROXY && (mp == c->proxy_port || mp == c->proxy_port + 1)))
			return ns_error(err, errlen, "--metrics (NODESEAL_METRICS): port %u is a "
			                "protected port or the daemon's own", mp);
	}
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
