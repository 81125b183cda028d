/*
 * admission.h: which connections the relay takes, and the lists and
 * counts of those it holds.  Until a connection relays it is pending: it
 * holds a place in its direction's queue, and if it fails there it counts
 * as refused, by kind (enum ns_refusal).
 */
#ifndef NS_ADMISSION_H
#define NS_ADMISSION_H

#include <stdint.h>
#include <sys/socket.h>

#include "relay.h"

/* A new pending connection, holding fd; NULL if a limit refused it or
 * memory ran out (fd then reset and closed). */
struct ns_conn *ns_admit_outbound(struct ns_relay *r, int fd);
struct ns_conn *ns_admit_inbound(struct ns_relay *r, int fd, const struct sockaddr_storage *from);
/* c relays from now on: it leaves its pending queue. */
void ns_admit_established(struct ns_relay *r, struct ns_conn *c);
/* Closes connections whose handshake has run out of time. */
void ns_admit_expire(struct ns_relay *r, int64_t now_ms);

#endif
