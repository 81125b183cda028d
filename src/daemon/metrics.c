/*
 * metrics.c: the Prometheus endpoint's sockets (metrics.h).  The request
 * is judged by ns_http_parse (src/util/http.c) and the body written by
 * ns_metrics_text from the same gathering as "nodeseal status"
 * (ns_stats_gather).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../event/clock.h"
#include "daemon.h"
#include "metrics.h"

static ns_watch_fn on_listen, on_scrape;

void ns_metrics_init(struct ns_metrics *m, struct ns_daemon *d)
{
	memset(m, 0, sizeof(*m));
	m->d = d;
	ns_watch_init(&m->listen, &d->loop, -1, on_listen, m);
	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		m->slot[i].m = m;
		ns_watch_init(&m->slot[i].w, &d->loop, -1, on_scrape, &m->slot[i]);
	}
}

int ns_metrics_open(struct ns_metrics *m, const struct ns_hostport *at, char *err,
                    size_t errlen)
{
	int fd = socket(at->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)&at->sa, at->salen) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "--metrics %s: cannot listen: %s", at->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->listen.fd = fd;
	ns_watch_set(&m->listen, EPOLLIN);
	return 0;
}

static void scrape_close(struct ns_scrape *s)
{
	ns_watch_drop(&s->w);
	free(s->out);
	s->out = NULL;
	s->inlen = s->outlen = s->outoff = 0;
}

static void scrape_step(struct ns_scrape *s);

/* A free slot, or the place of the oldest connection still sending its
 * request; NULL if every slot is answering.  What has arrived is read
 * first: a connection whose whole request is in is answered, never
 * evicted, however many newcomers a flood brings at once. */
static struct ns_scrape *slot_for_new(struct ns_metrics *m)
{
	struct ns_scrape *oldest = NULL;

	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		struct ns_scrape *s = &m->slot[i];

		if (s->w.fd < 0)
			return s;
	}
	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		struct ns_scrape *s = &m->slot[i];

		if (s->out == NULL)
			scrape_step(s);
		if (s->w.fd < 0)
			return s;
	}
	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		struct ns_scrape *s = &m->slot[i];

		if (s->out == NULL && (oldest == NULL || s->accepted_ms < oldest->accepted_ms))
			oldest = s;
	}
	if (oldest != NULL) {
		scrape_close(oldest);
		m->evicted++;
	}
	return oldest;
}

static void on_listen(void *cookie, struct ns_watch *w, uint32_t events)
{
	struct ns_metrics *m = cookie;

	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ns_scrape *s;

		if (fd < 0) {
			/* Out of descriptors: the listener would stay readable and
			 * the loop spin on it.  It rests until the next tick. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				ns_watch_set(w, 0);
				m->paused = true;
			}
			return;
		}
		s = slot_for_new(m);
		if (s == NULL) {
			close(fd);
			continue;
		}
		s->w.fd = fd;
		s->accepted_ms = ns_now_ms();
		ns_watch_set(&s->w, EPOLLIN);
		/* Its request may be in already: taken now, before a later
		 * newcomer of this burst looks for a place. */
		scrape_step(s);
	}
}

/* The whole answer: status line, fields, body. */
static void answer(struct ns_scrape *s, enum ns_http_verdict v, int minor)
{
	struct ns_strbuf body = { 0 }, o = { 0 };
	struct ns_stats st;

	s->m->answered++;
	if (v == NS_HTTP_OK) {
		ns_stats_gather(s->m->d, ns_now_ms(), &st);
		ns_metrics_text(&st, &body);
	} else {
		ns_strbuf_printf(&body, "%d %s: only GET /metrics is served here\n", (int)v,
		                 ns_http_reason(v));
	}
	ns_strbuf_printf(&o, "HTTP/1.%d %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "%sConnection: close\r\n\r\n%s", minor, (int)v, ns_http_reason(v),
	                 v == NS_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
	                                 : "text/plain; charset=utf-8",
	                 body.len, v == NS_HTTP_METHOD ? "Allow: GET\r\n" : "",
	                 body.p != NULL ? body.p : "");
	free(body.p);
	if (body.oom || o.oom || o.p == NULL) {
		free(o.p);
		o.p = NULL;
		o.len = 0;
	}
	s->out = o.p;
	s->outlen = o.len;
	s->outoff = 0;
}

/* Reads the head; 1 once there is an answer to send, 0 to wait, -1 to close. */
static int scrape_read(struct ns_scrape *s)
{
	enum ns_http_verdict v;
	ssize_t n;
	int minor;

	n = recv(s->w.fd, s->in + s->inlen, sizeof(s->in) - s->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	s->inlen += (size_t)n;
	v = ns_http_parse(s->in, s->inlen, &minor);
	if (v == NS_HTTP_MORE)
		return 0;
	answer(s, v, minor);
	return s->out != NULL ? 1 : -1;
}

/* Reads what has arrived, and sends the answer once there is one. */
static void scrape_step(struct ns_scrape *s)
{
	struct ns_watch *w = &s->w;
	ssize_t n;

	if (s->out == NULL) {
		int rc = scrape_read(s);

		if (rc < 0)
			scrape_close(s);
		if (rc <= 0)
			return;
	}
	while (s->outoff < s->outlen) {
		n = send(w->fd, s->out + s->outoff, s->outlen - s->outoff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ns_watch_set(w, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		s->outoff += (size_t)n;
	}
	scrape_close(s);
}

static void on_scrape(void *cookie, struct ns_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	scrape_step(cookie);
}

void ns_metrics_tick(struct ns_metrics *m, int64_t now_ms)
{
	if (m->paused) {
		m->paused = false;
		ns_watch_set(&m->listen, EPOLLIN);
	}
	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		struct ns_scrape *s = &m->slot[i];

		if (s->w.fd >= 0 && now_ms - s->accepted_ms >= NS_METRICS_TIMEOUT_MS)
			scrape_close(s);
	}
}

void ns_metrics_close(struct ns_metrics *m)
{
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		scrape_close(&m->slot[i]);
	ns_watch_drop(&m->listen);
}
