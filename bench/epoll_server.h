/* epoll_server.h: the event loop of the benchmark tools' servers (connrate's
 * echo server, idle's holder of connections): accept every connection, hand
 * what each one sends to the tool, close it at EOF or on an error. */
#ifndef BENCH_EPOLL_SERVER_H
#define BENCH_EPOLL_SERVER_H

#include "common.h"

#include <fcntl.h>
#include <sys/epoll.h>

struct epoll_server {
	int accept_flags;                  /* accept4's flags for a new connection */
	void (*accepted)(int fd);          /* a new connection (NULL: nothing to do) */
	int (*answer)(int fd, const char *buf, size_t n); /* 0 keeps the connection */
	char *buf;                         /* where a read lands */
	size_t cap;
};

__attribute__((noreturn)) static inline void epoll_serve(const char *port,
                                                        const struct epoll_server *s)
{
	int lfd = listen_on(port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	struct epoll_event evs[256];

	fcntl(lfd, F_SETFL, O_NONBLOCK);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll: %s", strerror(errno));
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (;;) {
					int c = accept4(lfd, NULL, NULL, s->accept_flags);
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP };
					if (c < 0)
						break;
					if (s->accepted)
						s->accepted(c);
					cev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			ssize_t r = read(fd, s->buf, s->cap);
			if (r > 0 && s->answer(fd, s->buf, (size_t)r) == 0)
				continue;
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
	}
}

#endif
