/*
 * control.h: the daemon's control socket, STATE_DIR/control.sock (mode
 * 0600).  A client sends one line and reads the answer until EOF:
 *   status   a table of connections, for people
 *   json     the same as JSON, for scripts
 *   stop     the daemon tears down and exits
 */
#ifndef NS_CONTROL_H
#define NS_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "../event/loop.h"

struct ns_daemon;

/* One client, from its command to the end of the answer. */
struct ns_ctl {
	struct ns_daemon *d;
	struct ns_watch w;
	struct ns_ctl *next;
	char in[64];
	size_t inlen;
	char *out;
	size_t outlen, outoff;
};

/* The control socket's path for a state directory. */
void ns_control_path(const char *state_dir, char *out, size_t cap);
int ns_control_listen(const char *path, char *err, size_t errlen);
void ns_control_accept(struct ns_daemon *d);
void ns_control_close_all(struct ns_daemon *d);

/* Client: sends cmd, returns the malloc'd answer or NULL (errno set). */
char *ns_control_request(const char *path, const char *cmd);

#endif
