/*
 * notify.c: one datagram to the service manager (notify.h).
 *
 * With Type=notify, a unit ordered after nodeseal's (the node's) starts
 * only once the daemon says READY=1, which it says once the rules are in:
 * so the node never runs on a host where nodeseal is starting but does not
 * protect it yet.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

int ns_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	ssize_t n;
	int fd;

	static bool warned;

	if (path == NULL || path[0] == '\0')
		return 0;
	/* Something else (vsock:, a relative path) is a manager we cannot
	 * reach: said, once, rather than taken for none. */
	if (path[0] != '/' && path[0] != '@') {
		if (!warned)
			ns_log(NS_LOG_WARN, "NOTIFY_SOCKET '%.120s' is neither a path (/...) nor an "
			       "abstract address (@...): the service manager is not told", path);
		warned = true;
		return 0;
	}
	len = strlen(path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* A path needs its NUL inside sun_path; an abstract name has none, and
	 * may fill all of it. */
	if (len > sizeof(sa.sun_path) || (path[0] == '/' && len == sizeof(sa.sun_path)))
		return -1;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract address */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
	return n < 0 ? -1 : 0;
}
