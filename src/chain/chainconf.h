/*
 * chainconf.h: what nodeseal reads of a MultiChain chain directory to reach
 * its node's JSON-RPC: rpcuser, rpcpassword and rpcport of multichain.conf,
 * and default-rpc-port of params.dat (the port unless rpcport overrides
 * it).  Pure: the caller reads the files.
 */
#ifndef NS_CHAIN_CHAINCONF_H
#define NS_CHAIN_CHAINCONF_H

#include <stddef.h>
#include <stdint.h>

#define NS_CHAINCONF_CRED_MAX 128
#define NS_CHAINCONF_FILE_MAX (64 * 1024) /* larger files are refused */

struct ns_chainconf {
	char user[NS_CHAINCONF_CRED_MAX + 1];
	char password[NS_CHAINCONF_CRED_MAX + 1]; /* secret: wiped by the caller */
	uint16_t rpcport;                         /* 0: not given */
};

/* multichain.conf's text (name for the message): 0, or -1 with one
 * sentence in err (no user or password, a value too long, a bad port). */
int ns_chainconf_parse_conf(const char *text, size_t len, const char *name,
                            struct ns_chainconf *out, char *err, size_t errlen);
/* params.dat's text: default-rpc-port into *port; 0, or -1 with err. */
int ns_chainconf_parse_params(const char *text, size_t len, const char *name, uint16_t *port,
                              char *err, size_t errlen);

#endif
