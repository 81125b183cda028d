/*
 * confine.c: the node runs without the privileges nodeseal needs.
 *
 * CAP_NET_ADMIN would let the node (or whoever takes it over) flush the
 * interception and guard rules and talk to peers in clear; CAP_NET_RAW
 * would let it send segments around them.  The NODESEAL_* variables name
 * the network key file, or hold the key.  Raw capget/capset: no libcap.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"

extern char **environ;

static const int taken[] = { CAP_NET_ADMIN, CAP_NET_RAW };
#define NTAKEN (sizeof(taken) / sizeof(taken[0]))

static void scrub_environment(void)
{
	char **src, **dst;

	/* In place, as unsetenv does: no allocation in a forked child. */
	for (src = dst = environ; *src != NULL; src++)
		if (strncmp(*src, "NODESEAL_", 9) != 0)
			*dst++ = *src;
	*dst = NULL;
}

/* Bounding set, ambient set; false in *bounded when CAP_SETPCAP is missing. */
static int drop_bounding_ambient(bool *bounded, char *err, size_t errlen)
{
	*bounded = true;
	for (size_t i = 0; i < NTAKEN; i++) {
		if (prctl(PR_CAPBSET_READ, taken[i], 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, taken[i], 0, 0, 0) != 0) {
			if (errno != EPERM) {
				snprintf(err, errlen, "cannot drop capability %d from the bounding set: %s",
				         taken[i], strerror(errno));
				return -1;
			}
			*bounded = false;
		}
		/* EINVAL: a kernel before 4.3, without ambient capabilities. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, taken[i], 0, 0) != 0 &&
		    errno != EINVAL) {
			snprintf(err, errlen, "cannot drop capability %d from the ambient set: %s",
			         taken[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Effective, permitted, inheritable: dropping needs no privilege. */
static int drop_process_sets(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot read the capabilities: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < NTAKEN; i++) {
		uint32_t bit = (uint32_t)1 << (taken[i] % 32);
		struct __user_cap_data_struct *d = &data[taken[i] / 32];

		d->effective &= ~bit;
		d->permitted &= ~bit;
		d->inheritable &= ~bit;
	}
	if (syscall(SYS_capset, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot drop CAP_NET_ADMIN and CAP_NET_RAW: %s",
		         strerror(errno));
		return -1;
	}
	return 0;
}

void ns_env_wipe(const char *name)
{
	size_t len = strlen(name);

	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			explicit_bzero(*e + len + 1, strlen(*e + len + 1));
	unsetenv(name);
}

int ns_confine_child(char *err, size_t errlen)
{
	bool bounded;

	scrub_environment();
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * the process sets still hold until the next step. */
	if (drop_bounding_ambient(&bounded, err, errlen) != 0 || drop_process_sets(err, errlen) != 0)
		return -1;
	/* A root exec gets the bounding set as permitted; if that still holds
	 * the two, no_new_privs limits an exec to what the process has now. */
	if (!bounded && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}
