/*
 * rpc.c: the JSON-RPC client of the chain worker (rpc.h).
 *
 * The node is local, but its answers are still input: the response is
 * bounded (NS_RPC_RESPONSE_MAX, or the target's response_max), its status line and Content-Length are
 * checked, and the JSON is parsed with cJSON and its shape checked by the
 * caller.  Every call has one deadline for connect, send and receive, so a
 * node that hangs costs the worker at most timeout_ms a call.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../event/clock.h"
#include "../util/sockowner.h"
#include "rpc.h"

static void b64_encode(const uint8_t *in, size_t len, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

int ns_rpc_target_set(struct ns_rpc_target *t, const char *user, const char *password,
                      uint16_t port, int timeout_ms)
{
	char plain[260];
	int n;

	memset(t, 0, sizeof(*t));
	n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
	if (n < 0 || (size_t)n >= sizeof(plain) || ((size_t)n + 2) / 3 * 4 >= sizeof(t->auth)) {
		ns_wipe(plain, sizeof(plain));
		return -1;
	}
	b64_encode((const uint8_t *)plain, (size_t)n, t->auth);
	ns_wipe(plain, sizeof(plain));
	t->port = port;
	t->timeout_ms = timeout_ms;
	return 0;
}

/* Waits for events on fd until deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - ns_now_ms();
		struct pollfd p = { fd, events, 0 };
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc < 0 ? -1 : rc;
	}
}

static int connect_local(uint16_t port, int64_t deadline, char *err, size_t errlen)
{
	struct sockaddr_in a = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int soerr = 0, rc;
	socklen_t sl = sizeof(soerr);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	snprintf(err, errlen, "connect to 127.0.0.1:%u: %s", port, strerror(errno));
	close(fd);
	return -1;
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) <= 0)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A case-insensitive search for a header name at a line start. */
static const char *find_header(const char *h, size_t hlen, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + nl <= hlen; i++)
		if ((i == 0 || h[i - 1] == '\n') && strncasecmp(h + i, name, nl) == 0)
			return h + i + nl;
	return NULL;
}

int ns_rpc_http_body(const char *resp, size_t len, int *status, const char **body,
                     size_t *blen)
{
	const char *end = NULL, *cl;
	size_t hlen;
	int st = 0;

	*status = 0;
	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
			end = resp + i;
			break;
		}
	if (end == NULL || len < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ')
		return NS_RPC_GARBAGE;
	for (int i = 9; i < 12; i++) {
		if (resp[i] < '0' || resp[i] > '9')
			return NS_RPC_GARBAGE;
		st = st * 10 + (resp[i] - '0');
	}
	hlen = (size_t)(end - resp);
	*body = end + 4;
	*blen = len - hlen - 4;
	cl = find_header(resp, hlen, "Content-Length:");
	if (cl != NULL) {
		size_t v = 0;
		int digits = 0;

		while (cl < end && (*cl == ' ' || *cl == '\t'))
			cl++;
		while (cl < end && *cl >= '0' && *cl <= '9' && digits < 7) {
			v = v * 10 + (size_t)(*cl++ - '0');
			digits++;
		}
		if (digits == 0 || (cl < end && *cl != '\r') || v != *blen)
			return NS_RPC_GARBAGE;
	}
	*status = st;
	return NS_RPC_OK;
}

/* Reads the whole response (the server closes: Connection: close; or its
 * Content-Length is all there) into buf; its length, or an ns_rpc_rc. */
static long recv_all(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t have = 0, scanned = 0, want = 0; /* want: the whole length, once known */

	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - have, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = wait_fd(fd, POLLIN, deadline);
			if (rc == 0)
				return NS_RPC_TIMEOUT;
			if (rc < 0)
				return NS_RPC_DOWN;
			continue;
		}
		if (n < 0)
			return have > 0 ? NS_RPC_GARBAGE : NS_RPC_DOWN;
		if (n == 0)
			return (long)have;
		have += (size_t)n;
		/* A server that keeps the connection open despite "Connection:
		 * close" is not waited for once its Content-Length is all there.
		 * Each byte is scanned once for the end of the headers. */
		for (; want == 0 && scanned + 4 <= have; scanned++) {
			const char *cl;
			if (memcmp(buf + scanned, "\r\n\r\n", 4) != 0)
				continue;
			cl = find_header(buf, scanned, "Content-Length:");
			want = scanned + 4;
			if (cl == NULL) {
				want = SIZE_MAX; /* to the end of the stream */
				break;
			}
			{
				size_t len = 0;

				while (*cl == ' ' || *cl == '\t')
					cl++;
				for (int d = 0; d < 7 && *cl >= '0' && *cl <= '9'; d++)
					len = len * 10 + (size_t)(*cl++ - '0');
				want += len;
			}
			break;
		}
		if (want != 0 && want != SIZE_MAX && have >= want)
			return (long)have;
		if (have == cap)
			return NS_RPC_GARBAGE; /* over the answer's bound */
	}
}

int ns_rpc_call(const struct ns_rpc_target *t, const char *method, cJSON *params, cJSON **doc,
                const cJSON **result, char *err, size_t errlen)
{
	int64_t deadline = ns_now_ms() + t->timeout_ms;
	cJSON *req = cJSON_CreateObject(), *root = NULL;
	const cJSON *res, *e;
	char *body = NULL, head[600], *buf = NULL;
	const char *rb;
	size_t rblen;
	size_t cap = t->response_max != 0 ? t->response_max : NS_RPC_RESPONSE_MAX;
	long got;
	int fd = -1, rc = NS_RPC_GARBAGE, status, n;

	*doc = NULL;
	*result = NULL;
	if (req == NULL || params == NULL) {
		cJSON_Delete(params);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(req, "params", params);
	if (cJSON_AddStringToObject(req, "method", method) == NULL ||
	    cJSON_AddNumberToObject(req, "id", 1) == NULL ||
	    (body = cJSON_PrintUnformatted(req)) == NULL ||
	    (buf = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
	             "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: %zu\r\nConnection: close\r\n\r\n", t->port, t->auth,
	             strlen(body));
	if (n < 0 || (size_t)n >= sizeof(head)) {
		snprintf(err, errlen, "request too long");
		goto out;
	}
	if ((fd = connect_local(t->port, deadline, err, errlen)) < 0) {
		rc = NS_RPC_DOWN;
		goto out;
	}
	/* Whoever binds the port while the node is down would get the
	 * credentials, and could answer verifymessage true: the server's
	 * socket must be root's or the chain directory owner's. */
	if (t->check_owner) {
		uid_t uid;
		char why[160];

		rc = NS_RPC_STRANGER;
		if (ns_sock_peer_uid(fd, &uid, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "127.0.0.1:%u: who serves it unknown (%s): nothing sent",
			         t->port, why);
			goto out;
		}
		if (uid != 0 && uid != t->owner) {
			snprintf(err, errlen, "127.0.0.1:%u is served by uid %u, neither root nor the "
			         "chain directory's owner (uid %u): nothing sent", t->port,
			         (unsigned)uid, (unsigned)t->owner);
			goto out;
		}
		rc = NS_RPC_GARBAGE;
	}
	if (send_all(fd, head, (size_t)n, deadline) != 0 ||
	    send_all(fd, body, strlen(body), deadline) != 0) {
		rc = ns_now_ms() >= deadline ? NS_RPC_TIMEOUT : NS_RPC_DOWN;
		snprintf(err, errlen, "%s: sending the request failed", method);
		goto out;
	}
	got = recv_all(fd, buf, cap, deadline);
	if (got < 0) {
		rc = (int)got;
		snprintf(err, errlen, "%s: %s", method,
		         rc == NS_RPC_TIMEOUT ? "no answer in time" :
		         rc == NS_RPC_DOWN ? "connection lost" : "answer too large");
		goto out;
	}
	if (ns_rpc_http_body(buf, (size_t)got, &status, &rb, &rblen) != NS_RPC_OK) {
		snprintf(err, errlen, "%s: the answer is not HTTP", method);
		goto out;
	}
	if (status == 401 || status == 403) {
		rc = NS_RPC_DENIED;
		snprintf(err, errlen, "%s: HTTP %d (rpcuser/rpcpassword refused)", method, status);
		goto out;
	}
	root = cJSON_ParseWithLength(rb, rblen);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: HTTP %d, and the body is not a JSON object", method, status);
		goto out;
	}
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (e != NULL && !cJSON_IsNull(e)) {
		const cJSON *msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message")
		                                     : NULL;
		rc = NS_RPC_ERROR;
		snprintf(err, errlen, "%s: error from the node: %.80s", method,
		         cJSON_IsString(msg) ? msg->valuestring : "(no message)");
		/* The node's words go to the log and status: printable only. */
		for (char *q = err; *q; q++)
			if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
				*q = '?';
		goto out;
	}
	if (status != 200 || res == NULL) {
		snprintf(err, errlen, "%s: HTTP %d without a result", method, status);
		goto out;
	}
	*doc = root;
	*result = res;
	root = NULL;
	rc = NS_RPC_OK;
out:
	if (fd >= 0)
		close(fd);
	cJSON_Delete(root);
	cJSON_Delete(req);
	if (body != NULL) {
		ns_wipe(body, strlen(body));
		cJSON_free(body);
	}
	free(buf);
	ns_wipe(head, sizeof(head));
	return rc;
}
