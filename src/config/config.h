/*
 * config.h: the daemon's settings, from a config file (a service's), then
 * from the environment (containers are configured that way), then from
 * options: each later layer wins.
 */
#ifndef NS_CONFIG_H
#define NS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../peers/peers.h"
#include "../util/hostport.h"

#define NS_MAX_PORTS 15 /* what one iptables multiport match takes */
#define NS_CONFIG_LINE_MAX 1024
#define NS_CONFIG_FILE_MAX 65536

/* proxy: connections go through the daemon's listeners (src/relay);
 * packet: segments go through NFQUEUE to the daemon (src/packet). */
enum ns_mode { NS_MODE_PROXY, NS_MODE_PACKET };

struct ns_config {
	uint16_t ports[NS_MAX_PORTS];
	int nports;
	const char *state_dir;
	const char *network_key;
	const char *network_key_file;
	const char *members_file;   /* proxy mode: the node keys allowed; NULL: open */
	const char *config_file;    /* --config or NODESEAL_CONFIG; NULL: none */
	bool members_chain;         /* --members chain: addresses holding connect */
	const char *chain_dir;      /* its chain directory (multichain.conf, params.dat) */
	int chain_refresh;          /* seconds between its permission checks */
	int log_level;
	int log_format;             /* enum ns_log_format */
	bool metrics;               /* --metrics given: the endpoint is on */
	struct ns_hostport metrics_addr;
	const char *iptables;       /* auto, legacy or nft */
	enum ns_mode mode;
	uint16_t queue_num;         /* packet mode: the NFQUEUE number */
	uint32_t queue_maxlen;      /* packet mode: packets the kernel holds for us */
	uint16_t proxy_port;        /* outbound listener (loopback); inbound: +1 */
	uint32_t fwmark;            /* outbound sockets; delivery sockets: +1 */
	uint32_t route_table;
	int handshake_timeout;      /* seconds */
	int max_pending;            /* inbound connections not yet authenticated */
	int max_pending_source;     /* the same, from one address (IPv6: one /64) */
	uint16_t delivery_lo, delivery_hi; /* source ports of delivered connections */
	int max_conns;
	int clock_window;           /* seconds */
	enum ns_policy policy;      /* at start: "nodeseal policy" changes the daemon's copy */
	int plain_retry;            /* seconds a peer found plain is reached in clear */
	bool json;                  /* status --json */
	bool require_sealed;        /* status --require-sealed */
	bool off;                   /* NODESEAL=off */
	bool help;                  /* --help given: print usage, exit 0 */
};

/*
 * Fills c with the defaults, then from the config file (--config in
 * argv[*i ...] up to "--", else NODESEAL_CONFIG), then from the
 * environment, then from the options; *i is left at the first argument not
 * consumed.  Returns 0, or -1 with one sentence in err.
 */
int ns_config_load(struct ns_config *c, int argc, char **argv, int *i, char *err, size_t errlen);
void ns_config_defaults(struct ns_config *c);
/*
 * Applies a config file's settings to c: text is len bytes, with
 * text[len] == '\0', and is cut in place (c's strings point into it, so it
 * must outlive c).  One setting a line, NAME = VALUE, NAME a variable's
 * name (NODESEAL_PORTS); blanks around either are dropped, and so are
 * quotes ('...' or "...") around the whole value; lines of blanks or
 * starting with '#' are skipped.  name is the file in errors, which name
 * the line: an unknown NAME, one given twice, NODESEAL or NODESEAL_CONFIG,
 * a bad value, a line over NS_CONFIG_LINE_MAX bytes; and the network key
 * (NODESEAL_NETWORK_KEY) when mode, the file's st_mode, lets group or
 * others in.  0, or -1 with err.
 */
int ns_config_parse(struct ns_config *c, char *text, size_t len, const char *name,
                    unsigned mode, char *err, size_t errlen);
/* Overwrites the inline network key where config and environment keep it,
 * once the daemon has read it. */
void ns_config_wipe_key(void);
/* Usage text of the options, for the subcommands' help. */
extern const char ns_config_usage[];
/* Whether port is one of c's protected ports. */
bool ns_port_protected(const struct ns_config *c, uint16_t port);

#endif
