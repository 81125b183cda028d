/*
 * keys.c: loading the network keys and loading or creating the node key.
 *
 * A network key file holds one key, or two while a rotation runs: the
 * first is sent with, both are accepted (ns_network_keys_parse).
 * The node key file is created atomically (written under a temporary name,
 * synced, then linked into place, so a crash never leaves half a key and
 * two starting daemons never overwrite each other) with mode 0600.  A key
 * file, the node key's or the network key's, is refused if anyone but its
 * owner could read it: whoever can read the network key is a member.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/errmsg.h"
#include "keys.h"

/* Two keys and comments fit with room to spare; more is not a key file. */
#define KEY_FILE_MAX 4096
#define NETKEY_FP_LABEL "nodeseal network key fingerprint 1"

static void hex8(const uint8_t h[32], char out[NS_FINGERPRINT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < NS_FINGERPRINT_LEN / 2; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[NS_FINGERPRINT_LEN] = '\0';
}

void ns_fingerprint(const uint8_t pub[32], char out[NS_FINGERPRINT_LEN + 1])
{
	uint8_t h[32];

	if (ns_hash(NS_HASH_SHA256, pub, 32, NULL, 0, h) != 0)
		memset(h, 0, sizeof(h));
	hex8(h, out);
}

void ns_network_key_fingerprint(const uint8_t key[32], char out[NS_FINGERPRINT_LEN + 1])
{
	uint8_t h[32];

	if (ns_hash(NS_HASH_SHA256, (const uint8_t *)NETKEY_FP_LABEL, sizeof(NETKEY_FP_LABEL) - 1,
	            key, 32, h) != 0)
		memset(h, 0, sizeof(h));
	hex8(h, out);
	ns_wipe(h, sizeof(h));
}

void ns_network_keys_wipe(struct ns_netkeys *k)
{
	ns_wipe(k, sizeof(*k));
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int ns_network_keys_parse(const char *text, size_t len, const char *name, struct ns_netkeys *k,
                          char *err, size_t errlen)
{
	size_t pos = 0, b, e;
	int line = 0, at[NS_NETKEYS_MAX] = { 0 };
	const char *why;
	uint8_t key[32];
	int rc = -1;

	memset(k, 0, sizeof(*k));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;

		line++;
		for (b = pos; b < end && blank(text[b]); b++)
			;
		for (e = end; e > b && blank(text[e - 1]); e--)
			;
		pos = end + 1;
		if (b == e || text[b] == '#')
			continue;
		if (memchr(text + b, '\0', e - b) != NULL) {
			ns_error(err, errlen, "%s line %d: not a key: a NUL byte", name, line);
			goto out;
		}
		if ((why = ns_key_decode(text + b, e - b, key)) != NULL) {
			ns_error(err, errlen, "%s line %d: not a key: %s", name, line, why);
			goto out;
		}
		for (size_t i = 0; i < k->n; i++)
			if (ns_ct_equal(k->key[i], key, 32) == 1) {
				ns_error(err, errlen, "%s line %d: the same key as line %d; "
				          "list each key once", name, line, at[i]);
				goto out;
			}
		if (k->n == NS_NETKEYS_MAX) {
			ns_error(err, errlen, "%s line %d: a third key; a node holds at most two "
			          "(the first, sent with, and one more accepted)", name, line);
			goto out;
		}
		memcpy(k->key[k->n], key, 32);
		at[k->n++] = line;
	}
	if (k->n == 0) {
		ns_error(err, errlen, "%s: no key in it (create one with 'nodeseal genkey')", name);
		goto out;
	}
	rc = 0;
out:
	ns_wipe(key, sizeof(key));
	if (rc != 0)
		ns_network_keys_wipe(k);
	return rc;
}

int ns_secret_mode_check(const char *path, unsigned mode, const char *what, char *err,
                         size_t errlen)
{
	if ((mode & 077) == 0)
		return 0;
	return ns_error(err, errlen, "%s: mode %04o lets others %s the %s; it must be 0600 "
	                "(chmod 600 %s)", path, mode & 07777, (mode & 044) != 0 ? "read" : "change",
	                what, path);
}

/* Reads a key file of at most KEY_FILE_MAX bytes that only its owner may
 * read or change; what names the key in errors.  A network key file
 * (netkeys not NULL) may hold two keys; a node key file holds one. */
static int key_file_read(const char *path, const char *what, uint8_t key[32],
                         struct ns_netkeys *netkeys, char *err, size_t errlen)
{
	char text[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	const char *why;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ns_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ns_error(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (ns_secret_mode_check(path, st.st_mode, what, err, errlen) != 0)
		goto out;
	n = read(fd, text, sizeof(text));
	if (n < 0) {
		ns_error(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (n > KEY_FILE_MAX) {
		ns_error(err, errlen, "%s: too large for a key file (over %d bytes)", path,
		          KEY_FILE_MAX);
		goto out;
	}
	if (netkeys != NULL) {
		if (ns_network_keys_parse(text, (size_t)n, path, netkeys, err, errlen) != 0)
			goto out;
	} else if ((why = ns_key_decode(text, (size_t)n, key)) != NULL) {
		ns_error(err, errlen, "%s: not a key: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	ns_wipe(text, sizeof(text));
	close(fd);
	return rc;
}

int ns_network_keys_load(const char *inline_b64, const char *path, struct ns_netkeys *k,
                         char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (inline_b64 != NULL && path != NULL)
		return ns_error(err, errlen, "network key given both inline and as a file; "
		                 "give one (NODESEAL_NETWORK_KEY or NODESEAL_NETWORK_KEY_FILE)");
	if (inline_b64 == NULL && path == NULL)
		return ns_error(err, errlen, "no network key: set NODESEAL_NETWORK_KEY or "
		                 "NODESEAL_NETWORK_KEY_FILE (create one with 'nodeseal genkey')");
	if (path != NULL)
		return key_file_read(path, "network key", NULL, k, err, errlen);
	return ns_network_keys_parse(inline_b64, strlen(inline_b64), "network key (inline)", k,
	                             err, errlen);
}

/* mkdir -p, the last component with mode 0700. */
int ns_state_dir_make(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return ns_error(err, errlen, "state directory: invalid path '%s'", dir);
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, i == len ? 0700 : 0755) != 0 && errno != EEXIST)
			return ns_error(err, errlen, "state directory %s: cannot create %s: %s", dir,
			                 path, strerror(errno));
		path[i] = i == len ? '\0' : '/';
	}
	return 0;
}

static int node_key_create(const char *dir, const char *path, char *err, size_t errlen)
{
	char tmp[4200], text[NS_KEY_B64_LEN + 2];
	struct ns_dh_keypair kp = { 0 };
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s/.node.key.%ld", dir, (long)getpid());
	(void)unlink(tmp); /* left by an earlier crash of this pid */
	if (ns_dh_generate(NS_DH_25519, &kp) != 0)
		return ns_error(err, errlen, "cannot generate a node key (no randomness?)");
	ns_key_encode(kp.priv, text);
	text[NS_KEY_B64_LEN] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ns_error(err, errlen, "%s: cannot create the node key: %s", dir, strerror(errno));
		goto out;
	}
	if (write(fd, text, NS_KEY_B64_LEN + 1) != NS_KEY_B64_LEN + 1 || fsync(fd) != 0) {
		ns_error(err, errlen, "%s: cannot write the node key: %s", tmp,
		          errno ? strerror(errno) : "short write");
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	/* link() does not replace: if another process won the race, its
	 * key stands and ours is dropped. */
	if (link(tmp, path) != 0 && errno != EEXIST) {
		ns_error(err, errlen, "%s: cannot install the node key: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	unlink(tmp);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	rc = 0;
out:
	ns_dh_keypair_free(&kp);
	ns_wipe(text, sizeof(text));
	return rc;
}

int ns_node_key_load_or_create(const char *state_dir, struct ns_dh_keypair *kp, bool *created,
                               char *err, size_t errlen)
{
	char path[4200];
	uint8_t priv[32];
	struct stat st;
	int rc;

	*created = false;
	memset(kp, 0, sizeof(*kp));
	if (ns_state_dir_make(state_dir, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", state_dir, NS_NODE_KEY_FILE);
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return ns_error(err, errlen, "%s: %s", path, strerror(errno));
		if (node_key_create(state_dir, path, err, errlen) != 0)
			return -1;
		*created = true;
	}
	if (key_file_read(path, "node key", priv, NULL, err, errlen) != 0)
		return -1;
	rc = ns_dh_from_private(NS_DH_25519, priv, kp);
	ns_wipe(priv, sizeof(priv));
	if (rc != 0)
		return ns_error(err, errlen, "%s: the key is not usable", path);
	return 0;
}
