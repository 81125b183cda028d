/*
 * listen.h: proxy mode's listeners.  The node's own connections out are
 * redirected to the loopback at the proxy port, the peers' connections in
 * to the port after it; each accepted socket goes to the relay.
 */
#ifndef NS_LISTEN_H
#define NS_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../event/loop.h"
#include "../relay/relay.h"
#include "../config/config.h"

enum ns_listener { NS_LISTEN_OUT_V4, NS_LISTEN_OUT_V6, NS_LISTEN_IN_V4, NS_LISTEN_IN_V6,
                   NS_LISTENERS };

struct ns_listeners {
	struct ns_watch w[NS_LISTENERS]; /* fd -1 if absent */
	struct ns_relay *relay;
	int64_t paused_until;           /* out of descriptors: the listeners rest */
	int64_t log_ms;                 /* when that was last logged */
};

/* Nothing open yet: ns_listeners_close is safe from here on. */
void ns_listeners_init(struct ns_listeners *l, struct ns_loop *loop, struct ns_relay *r);
/* ipv6: the enum ns_ipv6 decided at start.  -1 with one sentence in err. */
int ns_listeners_open(struct ns_listeners *l, const struct ns_config *cfg, int ipv6, char *err,
                      size_t errlen);
bool ns_listeners_paused(const struct ns_listeners *l);
/* After an event batch: the rest is over once its time has come. */
void ns_listeners_resume(struct ns_listeners *l, int64_t now_ms);
void ns_listeners_close(struct ns_listeners *l);

#endif
