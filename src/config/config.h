/*
 * config.h: the daemon's settings, from the environment (containers are
 * configured that way) and then from options, which win.
 */
#ifndef NS_CONFIG_H
#define NS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../peers/peers.h"

#define NS_MAX_PORTS 15 /* what one iptables multiport match takes */

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
	bool members_chain;         /* --members chain: addresses holding connect */
	const char *chain_dir;      /* its chain directory (multichain.conf, params.dat) */
	int chain_refresh;          /* seconds between its permission checks */
	int log_level;
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
 * Fills c from the environment, then from argv[*i ...] up to "--" or the
 * end; *i is left at the first argument not consumed.  Returns 0, or -1
 * with one sentence in err.
 */
int ns_config_load(struct ns_config *c, int argc, char **argv, int *i, char *err, size_t errlen);
/* Usage text of the options, for the subcommands' help. */
extern const char ns_config_usage[];
/* Whether port is one of c's protected ports. */
bool ns_port_protected(const struct ns_config *c, uint16_t port);

#endif
