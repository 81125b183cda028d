/*
 * rpc.h: one JSON-RPC call to the local MultiChain node: HTTP/1.1 POST with
 * Basic auth to 127.0.0.1:port, blocking, with a deadline.  Called from the
 * chain worker thread only (chain.c), never from the event loop.
 */
#ifndef NS_CHAIN_RPC_H
#define NS_CHAIN_RPC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NS_RPC_RESPONSE_MAX (64 * 1024) /* larger answers are refused (the default) */

enum ns_rpc_rc {
	NS_RPC_OK = 0,
	NS_RPC_DOWN = -1,      /* no connection: the node's RPC is not up */
	NS_RPC_TIMEOUT = -2,   /* no complete answer within the deadline */
	NS_RPC_DENIED = -3,    /* HTTP 401: the credentials are not (or no longer) right */
	NS_RPC_GARBAGE = -4,   /* not HTTP, not JSON, too large, or not the shape asked */
	NS_RPC_ERROR = -5,     /* the node answered with a JSON-RPC error */
	NS_RPC_STRANGER = -6,  /* the port is served by neither root nor owner: nothing sent */
};

struct ns_rpc_target {
	uint16_t port;
	char auth[360];        /* base64 of user:password (secret) */
	int timeout_ms;        /* the whole call */
	size_t response_max;   /* the largest answer taken; 0: NS_RPC_RESPONSE_MAX */
	bool check_owner;      /* send only to a server socket of root's or owner's */
	uid_t owner;
};

/* Sets t from the credentials; -1 if they do not fit. */
int ns_rpc_target_set(struct ns_rpc_target *t, const char *user, const char *password,
                      uint16_t port, int timeout_ms);
/*
 * Calls method with params (a JSON array, taken over and freed).  On
 * NS_RPC_OK *doc is the parsed answer (the caller frees it with
 * cJSON_Delete) and *result its "result"; otherwise an enum ns_rpc_rc with
 * a short reason in err.
 */
int ns_rpc_call(const struct ns_rpc_target *t, const char *method, cJSON *params, cJSON **doc,
                const cJSON **result, char *err, size_t errlen);
/* The body of an HTTP response (its status into *status), checked:
 * status line, Content-Length if given.  Pure; for the fuzz target too.
 * NS_RPC_OK with *body and *blen, or NS_RPC_GARBAGE. */
int ns_rpc_http_body(const char *resp, size_t len, int *status, const char **body,
                     size_t *blen);

#endif
