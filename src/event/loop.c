/*
 * loop.c: the epoll loop (loop.h).
 *
 * Level-triggered: a handler that stops early (a pump out of rounds, an
 * accept burst cut short) is called again on the next wait, so no handler
 * has to drain its descriptor.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../util/log.h"
#include "loop.h"

#define BATCH 64 /* events per epoll_wait */

int ns_loop_init(struct ns_loop *l)
{
	l->deferred = NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -1 : 0;
}

void ns_loop_close(struct ns_loop *l)
{
	ns_loop_reap(l);
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int ns_loop_wait(struct ns_loop *l, int timeout_ms)
{
	struct epoll_event events[BATCH];
	int n = epoll_wait(l->epfd, events, BATCH, timeout_ms);

	if (n < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < n; i++) {
		struct ns_watch *w = events[i].data.ptr;

		if (w->fd >= 0) /* not dropped earlier in this batch */
			w->fn(w->cookie, w, events[i].events);
	}
	ns_loop_reap(l);
	return 0;
}

void ns_loop_defer(struct ns_loop *l, struct ns_deferred *what,
                   void (*release)(struct ns_deferred *))
{
	what->release = release;
	what->next = l->deferred;
	l->deferred = what;
}

void ns_loop_reap(struct ns_loop *l)
{
	while (l->deferred != NULL) {
		struct ns_deferred *what = l->deferred;

		l->deferred = what->next;
		what->release(what);
	}
}

void ns_watch_init(struct ns_watch *w, struct ns_loop *l, int fd, ns_watch_fn *fn, void *cookie)
{
	w->loop = l;
	w->fd = fd;
	w->events = 0;
	w->fn = fn;
	w->cookie = cookie;
}

void ns_watch_set(struct ns_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	int op;

	if (w->fd < 0 || w->events == events)
		return;
	op = w->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
	if (epoll_ctl(w->loop->epfd, op, w->fd, &ev) != 0)
		ns_log(NS_LOG_ERROR, "epoll_ctl: %s", strerror(errno));
	w->events = events;
}

void ns_watch_stop(struct ns_watch *w)
{
	if (w->fd < 0)
		return;
	ns_watch_set(w, 0);
	w->fd = -1;
}

void ns_watch_drop(struct ns_watch *w)
{
	int fd = w->fd;

	if (fd < 0)
		return;
	ns_watch_stop(w);
	close(fd);
}
