/* listen.c: the listeners (listen.h). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "../event/clock.h"
#include "../intercept/intercept.h"
#include "../util/log.h"
#include "../util/net.h"
#include "listen.h"

static bool outbound(int slot)
{
	return slot == NS_LISTEN_OUT_V4 || slot == NS_LISTEN_OUT_V6;
}

static void listeners_watch(struct ns_listeners *l, uint32_t events)
{
	for (int i = 0; i < NS_LISTENERS; i++)
		ns_watch_set(&l->w[i], events);
}

/* Out of descriptors: accept would fail at once, again and again, with
 * the listener still readable.  The listeners rest a moment instead. */
static void pause_accepts(struct ns_listeners *l, int err)
{
	int64_t now = ns_now_ms();

	listeners_watch(l, 0);
	l->paused_until = now + 250;
	if (now - l->log_ms > 10000) {
		struct ns_relay_stats rs;

		ns_relay_stats(l->relay, &rs);
		ns_log(NS_LOG_WARN, "accept: %s; new connections wait (%d open)", strerror(err),
		       rs.conns);
		l->log_ms = now;
	}
}

static void on_accept(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_listeners *l = cookie;
	bool out = outbound((int)(w - l->w));

	(void)events;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepts(l, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				ns_log(NS_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		if (out)
			ns_conn_outbound(l->relay, fd);
		else
			ns_conn_inbound(l->relay, fd);
	}
}

void ns_listeners_init(struct ns_listeners *l, struct ns_loop *loop, struct ns_relay *r)
{
	for (int i = 0; i < NS_LISTENERS; i++)
		ns_watch_init(&l->w[i], loop, -1, on_accept, l);
	l->relay = r;
	l->paused_until = l->log_ms = 0;
}

int ns_listeners_open(struct ns_listeners *l, const struct ns_config *cfg, int ipv6, char *err,
                      size_t errlen)
{
	static const char *const addrs[NS_LISTENERS] = {
		[NS_LISTEN_OUT_V4] = "127.0.0.1", [NS_LISTEN_OUT_V6] = "::1",
		[NS_LISTEN_IN_V4] = "0.0.0.0", [NS_LISTEN_IN_V6] = "::",
	};

	for (int i = 0; i < NS_LISTENERS; i++) {
		bool v6 = i == NS_LISTEN_OUT_V6 || i == NS_LISTEN_IN_V6;
		bool in = !outbound(i);
		uint16_t port = (uint16_t)(cfg->proxy_port + in);

		if (v6 && ipv6 != NS_IPV6_ON)
			continue;
		/* inbound sockets face the wire: keepalive finds dead peers */
		l->w[i].fd = ns_socket_listen(addrs[i], port, in, err, errlen);
		if (l->w[i].fd < 0)
			return -1;
		ns_watch_set(&l->w[i], EPOLLIN);
	}
	return 0;
}

bool ns_listeners_paused(const struct ns_listeners *l)
{
	return l->paused_until != 0;
}

void ns_listeners_resume(struct ns_listeners *l, int64_t now_ms)
{
	if (l->paused_until == 0 || now_ms < l->paused_until)
		return;
	l->paused_until = 0;
	listeners_watch(l, EPOLLIN);
}

void ns_listeners_close(struct ns_listeners *l)
{
	for (int i = 0; i < NS_LISTENERS; i++)
		ns_watch_drop(&l->w[i]);
}
