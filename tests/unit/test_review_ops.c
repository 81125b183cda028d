/*
 * test_review_ops: reproductions of review findings (config layering,
 * duplicate keys under two names, sd_notify abstract address length).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/keys/keys.h"
#include "../../src/util/notify.h"
#include "tap.h"

static char text[4096];

static int parse(struct ns_config *c, const char *s, unsigned mode, char *err, size_t errlen)
{
	snprintf(text, sizeof(text), "%s", s);
	ns_config_defaults(c);
	err[0] = '\0';
	return ns_config_parse(c, text, strlen(text), "ns.conf", mode, err, errlen);
}

/* NODESEAL_MEMBERS and NODESEAL_MEMBERS_FILE set the same field: a file
 * naming both is not refused as "set again"; the later line wins. */
static void test_members_twice(void)
{
	struct ns_config c;
	char err[512];
	int rc = parse(&c, "NODESEAL_MEMBERS_FILE = /etc/nodeseal/members\nNODESEAL_MEMBERS = chain\n",
	               0100600, err, sizeof(err));

	diag("rc=%d err='%s' members_file=%s", rc, err, c.members_file ? c.members_file : "(null)");
	ok(rc != 0, "one setting named twice in a file (MEMBERS_FILE, then MEMBERS) is refused");
}

/* Precedence: an option (or the environment) naming the key file must win
 * over an inline key in the config file; instead the keys refuse both. */
static void test_key_layers(void)
{
	char path[] = "/tmp/review-ops-conf-XXXXXX", kpath[] = "/tmp/review-ops-key-XXXXXX";
	char err[512], *argv[] = { "up", "--network-key-file", kpath, NULL };
	const char *key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	struct ns_config c;
	struct ns_netkeys k;
	int fd = mkstemp(path), kfd = mkstemp(kpath), i = 1, rc;

	dprintf(fd, "NODESEAL_NETWORK_KEY = %s\n", key);
	close(fd);
	chmod(path, 0600);
	dprintf(kfd, "%s\n", key);
	close(kfd);
	chmod(kpath, 0600);
	setenv("NODESEAL_CONFIG", path, 1);
	rc = ns_config_load(&c, 3, argv, &i, err, sizeof(err));
	ok(rc == 0, "config loads (%s)", rc ? err : "");
	rc = ns_network_keys_load(c.network_key, c.network_key_file, &k, err, sizeof(err));
	diag("keys_load rc=%d: %s", rc, rc ? err : "");
	ok(rc == 0, "--network-key-file wins over NODESEAL_NETWORK_KEY of the config file");
	ns_network_keys_wipe(&k);
	ns_config_wipe_key();
	ok(c.network_key != NULL && c.network_key[0] == '\0', "the file's inline key wiped");
	unsetenv("NODESEAL_CONFIG");
	unlink(path);
	unlink(kpath);
}

/* NOTIFY_SOCKET=@ + 107 bytes names a full 108-byte abstract address,
 * which is valid (no NUL terminator in the abstract namespace). */
static void test_notify_abstract_len(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env[sizeof(sa.sun_path) + 1], buf[64];
	int s = socket(AF_UNIX, SOCK_DGRAM, 0), rc;
	ssize_t n;

	memset(sa.sun_path, 'n', sizeof(sa.sun_path));
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "review-ops-%d-", (int)getpid());
	sa.sun_path[strlen(sa.sun_path + 1) + 1] = 'n';
	sa.sun_path[0] = '\0';
	ok(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a 108-byte abstract address bound");
	env[0] = '@';
	memcpy(env + 1, sa.sun_path + 1, sizeof(sa.sun_path) - 1);
	env[sizeof(sa.sun_path)] = '\0';
	setenv("NOTIFY_SOCKET", env, 1);
	rc = ns_notify("READY=1");
	n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	diag("ns_notify rc=%d, received %zd", rc, n);
	ok(rc == 0 && n == 7, "READY=1 reaches a 108-byte abstract NOTIFY_SOCKET");
	unsetenv("NOTIFY_SOCKET");
	close(s);
}

int main(void)
{
	test_members_twice();
	test_key_layers();
	test_notify_abstract_len();
	return tap_done();
}
