/*
 * test_keys: key text and key files.
 * - encoding agrees with OpenSSL's EVP_EncodeBlock; decoding inverts it;
 * - malformed text is refused: wrong length, bad characters, non-canonical
 *   padding bits;
 * - files: errors name the file and say what is wrong; the node key is
 *   created once with mode 0600, reloaded unchanged, refused when readable
 *   by others; so is a network key file.
 * - network key files of one or two keys (a rotation): the first is the
 *   one sent with; comments and blank lines are skipped; a bad line, a key
 *   given twice, a third key are refused with the line named; the
 *   fingerprint is domain-separated (not SHA-256 of the key alone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../src/keys/keys.h"
#include "tap.h"

static void test_text(void)
{
	uint8_t key[32], back[32];
	char text[NS_KEY_B64_LEN + 1], ref[64];
	int bad = 0;

	for (int i = 0; i < 2000; i++) {
		for (int j = 0; j < 32; j++)
			key[j] = (uint8_t)(i == 0 ? 0 : i == 1 ? 0xff : rand());
		ns_key_encode(key, text);
		EVP_EncodeBlock((unsigned char *)ref, key, 32);
		if (strcmp(text, ref) != 0 || ns_key_decode(text, strlen(text), back) != NULL ||
		    memcmp(key, back, 32) != 0)
			bad++;
	}
	ok(bad == 0, "2000 keys: encoding matches OpenSSL's, decoding inverts it");
	ok(ns_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 45, back) == NULL,
	   "trailing newline accepted");
	ok(ns_key_decode("", 0, back) != NULL, "empty refused");
	ok(ns_key_decode("AAAA", 4, back) != NULL, "short refused");
	ok(ns_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 44, back) != NULL,
	   "missing '=' refused");
	ok(ns_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*AAAA=", 44, back) != NULL,
	   "non-base64 character refused");
	ok(ns_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 44, back) != NULL,
	   "non-canonical padding bits refused");
	ok(ns_key_decode("AAAAAAAAAAAAAAAAAAAAAA\xc3" "\xa9" "AAAAAAAAAAAAAAAAAAAA=", 44, back) != NULL,
	   "non-ASCII refused");
}

#define K1 "TG14aI7Lb7zs7hRrWfHmjcBsPDuBXX1EdZDP1q2joL8="
#define K2 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void test_netkeys(void)
{
	struct ns_netkeys k;
	uint8_t k1[32], k2[32];
	char err[512], fp[NS_FINGERPRINT_LEN + 1], fp2[NS_FINGERPRINT_LEN + 1];
	const char *t;

	ns_key_decode(K1, 44, k1);
	ns_key_decode(K2, 44, k2);
	t = K1 "\n";
	ok(ns_network_keys_parse(t, strlen(t), "f", &k, err, sizeof(err)) == 0 && k.n == 1 &&
	   memcmp(k.key[0], k1, 32) == 0, "one key");
	t = K1;
	ok(ns_network_keys_parse(t, strlen(t), "f", &k, err, sizeof(err)) == 0 && k.n == 1,
	   "one key without a newline");
	t = "# rotation of 2026-12: new key first\n\n  " K2 "  \r\n# old, still accepted\n" K1
	    "\n\n";
	ok(ns_network_keys_parse(t, strlen(t), "f", &k, err, sizeof(err)) == 0 && k.n == 2 &&
	   memcmp(k.key[0], k2, 32) == 0 && memcmp(k.key[1], k1, 32) == 0,
	   "two keys, comments, blank lines, CRLF: the first is sent with (%s)", err);
	t = K1 "\n" "not-a-key\n";
	ok(ns_network_keys_parse(t, strlen(t), "net.key", &k, err, sizeof(err)) != 0 &&
	   strstr(err, "net.key line 2: not a key") && k.n == 0,
	   "a bad line is named: %s", err);
	t = "# c\n" K1 "\n# c\n" K1 "\n";
	ok(ns_network_keys_parse(t, strlen(t), "net.key", &k, err, sizeof(err)) != 0 &&
	   strstr(err, "net.key line 4: the same key as line 2"), "a duplicate is named: %s", err);
	t = K1 "\n" K2 "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	ok(ns_network_keys_parse(t, strlen(t), "net.key", &k, err, sizeof(err)) != 0 &&
	   strstr(err, "net.key line 3: a third key"), "three keys refused: %s", err);
	t = "# nothing\n\n";
	ok(ns_network_keys_parse(t, strlen(t), "net.key", &k, err, sizeof(err)) != 0 &&
	   strstr(err, "net.key: no key"), "no key refused: %s", err);
	t = K1 " # trailing comment\n";
	ok(ns_network_keys_parse(t, strlen(t), "net.key", &k, err, sizeof(err)) != 0 &&
	   strstr(err, "line 1"), "a key and more on one line refused: %s", err);
	t = K1 "\n" K2;
	ok(ns_network_keys_load(t, NULL, &k, err, sizeof(err)) == 0 && k.n == 2,
	   "inline text: the same format");

	ns_network_key_fingerprint(k1, fp);
	ns_network_key_fingerprint(k2, fp2);
	ns_fingerprint(k1, err);
	ok(strlen(fp) == 16 && strcmp(fp, fp2) != 0 && strcmp(fp, err) != 0,
	   "network key fingerprints: 16 hex digits, not the plain hash (%s, %s)", fp, fp2);
	ns_network_keys_wipe(&k);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode);
}

static void test_files(void)
{
	char dir[] = "/tmp/nodeseal-test-keys.XXXXXX", path[512], sdir[256], err[1024];
	struct ns_netkeys key;
	struct ns_dh_keypair kp1 = { 0 }, kp2 = { 0 };
	struct stat st;
	bool created;

	ok(mkdtemp(dir) != NULL, "temporary directory");
	snprintf(path, sizeof(path), "%s/net.key", dir);
	write_file(path, "TG14aI7Lb7zs7hRrWfHmjcBsPDuBXX1EdZDP1q2joL8=\n", 0600);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) == 0 && key.n == 1,
	   "network key file read");
	write_file(path, "# next\n" K2 "\n" K1 "\n", 0600);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) == 0 && key.n == 2,
	   "a network key file of two keys read");
	write_file(path, K1 "\n" K2 "\n" K1 "\n", 0600);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) != 0 && strstr(err, path) &&
	   strstr(err, "line 3"), "a file's bad line named with the file: %s", err);
	write_file(path, "TG14aI7Lb7zs7hRrWfHmjcBsPDuBXX1EdZDP1q2joL8=\n", 0600);
	/* Whoever can read the file is a member: the same rule as the node key. */
	chmod(path, 0640);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) != 0 && strstr(err, path) &&
	   strstr(err, "0640") && strstr(err, "network key") && strstr(err, "chmod 600"),
	   "group-readable network key file refused: %s", err);
	chmod(path, 0604);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) != 0 && strstr(err, "0604"),
	   "world-readable network key file refused: %s", err);
	chmod(path, 0400);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) == 0,
	   "network key file of mode 0400 read (a Docker secret)");
	chmod(path, 0600);
	write_file(path, "not a key at all\n", 0600);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) != 0 && strstr(err, path) &&
	   strstr(err, "44 characters"), "malformed file: error names it (%s)", err);
	snprintf(path, sizeof(path), "%s/missing.key", dir);
	ok(ns_network_keys_load(NULL, path, &key, err, sizeof(err)) != 0 && strstr(err, path) &&
	   strstr(err, "No such file"), "missing file: %s", err);
	ok(ns_network_keys_load(NULL, NULL, &key, err, sizeof(err)) != 0 &&
	   strstr(err, "NODESEAL_NETWORK_KEY"), "no key at all: %s", err);
	ok(ns_network_keys_load("abc", path, &key, err, sizeof(err)) != 0 && strstr(err, "both"),
	   "two keys: %s", err);
	ok(ns_network_keys_load("abc", NULL, &key, err, sizeof(err)) != 0 && strstr(err, "inline"),
	   "bad inline key: %s", err);

	snprintf(sdir, sizeof(sdir), "%s/state/sub", dir);
	ok(ns_node_key_load_or_create(sdir, &kp1, &created, err, sizeof(err)) == 0 && created,
	   "node key created in a new state directory");
	snprintf(path, sizeof(path), "%s/node.key", sdir);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "node key file mode 0600");
	ok(stat(sdir, &st) == 0 && (st.st_mode & 0777) == 0700, "state directory mode 0700");
	ok(ns_node_key_load_or_create(sdir, &kp2, &created, err, sizeof(err)) == 0 && !created &&
	   memcmp(kp1.pub, kp2.pub, 32) == 0, "reloaded unchanged");
	ns_dh_keypair_free(&kp2);
	chmod(path, 0640);
	ok(ns_node_key_load_or_create(sdir, &kp2, &created, err, sizeof(err)) != 0 &&
	   strstr(err, "0640") && strstr(err, path), "group-readable node key refused: %s", err);
	write_file(path, "garbage", 0600);
	ok(ns_node_key_load_or_create(sdir, &kp2, &created, err, sizeof(err)) != 0 &&
	   strstr(err, path) && strstr(err, "not a key"), "corrupt node key refused: %s", err);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	write_file(path, "x", 0600);
	snprintf(sdir, sizeof(sdir), "%s/file/sub", dir);
	ok(ns_node_key_load_or_create(sdir, &kp2, &created, err, sizeof(err)) != 0 &&
	   strstr(err, "cannot create"), "unusable state directory: %s", err);
	unlink(path);

	{
		char fp[NS_FINGERPRINT_LEN + 1];
		ns_fingerprint(kp1.pub, fp);
		ok(strlen(fp) == 16 && strspn(fp, "0123456789abcdef") == 16, "fingerprint %s", fp);
	}
	ns_dh_keypair_free(&kp1);
	ns_dh_keypair_free(&kp2);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ok(system(cmd) == 0, "cleanup");
	}
}

int main(void)
{
	test_text();
	test_netkeys();
	test_files();
	return tap_done();
}
