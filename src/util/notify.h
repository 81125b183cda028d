/* notify.h: readiness for a service manager (systemd's Type=notify). */
#ifndef NS_NOTIFY_H
#define NS_NOTIFY_H

/*
 * Sends msg ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, the protocol of
 * sd_notify(3) without libsystemd.  0 when sent or when there is no such
 * socket (not run by systemd); -1 when it could not be sent.
 */
int ns_notify(const char *msg);

#endif
