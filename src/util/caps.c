/*
 * caps.c: the daemon's capabilities after set-up (caps.h).
 *
 * Root holds some forty capabilities, and a daemon that parses what
 * strangers send needs two of them once its sockets are open: a bug in it
 * then cannot load a module, read any file or trace a process.  The
 * bounding set goes too, so that the tools the daemon runs (iptables, nft,
 * ip) get only what is kept, though they run as root.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

static const char *const names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
};

/* The highest capability this kernel knows. */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f != NULL) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

static void describe(uint64_t mask, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int c = 0; c < 64 && n < len; c++) {
		if (!(mask & ((uint64_t)1 << c)))
			continue;
		if (c < (int)(sizeof(names) / sizeof(names[0])))
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", names[c]);
		else
			n += (size_t)snprintf(out + n, len - n, "%scap_%d", n ? " " : "", c);
	}
	if (mask == 0)
		snprintf(out, len, "none");
}

int ns_caps_keep(uint64_t keep, bool *bounded, char *kept, size_t keptlen, char *err,
                 size_t errlen)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int last = last_cap();
	uint64_t prm;

	*bounded = true;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot read the capabilities: %s", strerror(errno));
		return -1;
	}
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * the effective set holds until the capset below. */
	for (int c = 0; c <= last; c++) {
		if (keep & ((uint64_t)1 << c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
			if (errno != EPERM) {
				snprintf(err, errlen, "cannot drop capability %d from the bounding set: "
				         "%s", c, strerror(errno));
				return -1;
			}
			*bounded = false;
		}
		/* EINVAL: a kernel before 4.3, without ambient capabilities. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, c, 0, 0) != 0 && errno != EINVAL) {
			snprintf(err, errlen, "cannot drop capability %d from the ambient set: %s", c,
			         strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));
		data[i].permitted &= k;
		data[i].effective = data[i].permitted;
		data[i].inheritable &= k;
	}
	if (syscall(SYS_capset, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot drop the capabilities not needed: %s", strerror(errno));
		return -1;
	}
	if (!*bounded && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	prm = (uint64_t)data[0].permitted | (uint64_t)data[1].permitted << 32;
	describe(prm, kept, keptlen);
	return 0;
}
