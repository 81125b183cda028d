/*
 * loop.h: the event loop at the bottom of the daemon: epoll,
 * level-triggered, single-threaded.
 *
 * A watch is one descriptor with the function to call when it is ready and
 * that function's cookie: the loop calls it and knows nothing of what it
 * watches.  An owner embeds its watches, so an event reaches its object
 * without a lookup.
 *
 * An object closed during an event batch may still be named by a later
 * event of the same batch: it is handed to ns_loop_defer, and freed once
 * the batch is over.  A watch whose descriptor was dropped in the batch is
 * not called again.
 */
#ifndef NS_LOOP_H
#define NS_LOOP_H

#include <stdint.h>

struct ns_watch;

/* Called with the epoll events (EPOLLIN, ...) the descriptor is ready for. */
typedef void ns_watch_fn(void *cookie, struct ns_watch *w, uint32_t events);

/* Freed after the batch; the owner's function wipes and frees. */
struct ns_deferred {
	struct ns_deferred *next;
	void (*release)(struct ns_deferred *);
};

struct ns_loop {
	int epfd;
	struct ns_deferred *deferred;
};

struct ns_watch {
	struct ns_loop *loop;
	int fd;                     /* -1: none */
	uint32_t events;            /* registered interest (0: none) */
	ns_watch_fn *fn;
	void *cookie;
};

/* -1 with errno set. */
int ns_loop_init(struct ns_loop *l);
/* Runs what was deferred, then closes the epoll descriptor. */
void ns_loop_close(struct ns_loop *l);
/* Waits at most timeout_ms, calls each ready watch, then runs what the
 * calls deferred.  -1 with errno set if epoll_wait failed (not EINTR). */
int ns_loop_wait(struct ns_loop *l, int timeout_ms);
void ns_loop_defer(struct ns_loop *l, struct ns_deferred *what,
                   void (*release)(struct ns_deferred *));
/* Runs what was deferred: after a batch, and at shutdown. */
void ns_loop_reap(struct ns_loop *l);

/* A watch of fd (may be -1: nothing yet), interested in nothing so far. */
void ns_watch_init(struct ns_watch *w, struct ns_loop *l, int fd, ns_watch_fn *fn, void *cookie);
/* Registers or updates the watch's interest (0: none). */
void ns_watch_set(struct ns_watch *w, uint32_t events);
/* No longer watched; the descriptor is the owner's to close. */
void ns_watch_stop(struct ns_watch *w);
/* No longer watched, and the descriptor closed. */
void ns_watch_drop(struct ns_watch *w);

#endif
