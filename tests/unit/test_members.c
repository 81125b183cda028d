/*
 * test_members: the members list (src/keys/members.c).
 * - keys as 'nodeseal pubkey' prints them, names, comments and blank
 *   lines are read; lookups find listed keys and only those;
 * - every bad line is refused with an error naming the file and the line:
 *   not a key, 'public-key' pasted with it, a duplicate key or name, a
 *   bad name, more than two words; an empty list is refused;
 * - files: a list group or others can write is refused, as is a missing
 *   one; a good file loads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/keys/keys.h"
#include "../../src/keys/members.h"
#include "tap.h"

static char k1[NS_KEY_B64_LEN + 1], k2[NS_KEY_B64_LEN + 1], k3[NS_KEY_B64_LEN + 1];
static uint8_t p1[32], p2[32], p3[32];

static void keys_make(void)
{
	for (int i = 0; i < 32; i++) {
		p1[i] = (uint8_t)(i + 1);
		p2[i] = (uint8_t)(i * 7 + 3);
		p3[i] = (uint8_t)(255 - i);
	}
	ns_key_encode(p1, k1);
	ns_key_encode(p2, k2);
	ns_key_encode(p3, k3);
}

/* Parses text; returns the result and leaves the error in err. */
static int parse(const char *text, struct ns_members *m, char *err, size_t errlen)
{
	err[0] = '\0';
	return ns_members_parse(text, strlen(text), "members.txt", m, err, errlen);
}

static void test_good(void)
{
	struct ns_members m;
	char text[512], err[256];
	const struct ns_member *f;

	snprintf(text, sizeof(text), "# the network's nodes\n\n%s alpha\n  %s\tbeta # the second\n"
	         "%s\r\n", k1, k2, k3);
	ok(parse(text, &m, err, sizeof(err)) == 0 && m.n == 3, "three members read (%s)", err);
	f = ns_members_find(&m, p2);
	ok(f != NULL && strcmp(f->name, "beta") == 0, "a key is found with its name");
	f = ns_members_find(&m, p3);
	ok(f != NULL && f->name[0] == '\0', "a key without a name has an empty one");
	ns_members_free(&m);
	snprintf(text, sizeof(text), "%s alpha", k1);
	ok(parse(text, &m, err, sizeof(err)) == 0 && m.n == 1 && ns_members_find(&m, p2) == NULL,
	   "no final newline; an unlisted key is not found");
	ns_members_free(&m);
}

/* text must be refused with an error containing want. */
static void refused(const char *text, const char *want, const char *what)
{
	struct ns_members m;
	char err[256];
	int rc = parse(text, &m, err, sizeof(err));

	ok(rc != 0 && strstr(err, want) != NULL && m.n == 0 && m.v == NULL, "%s: %s", what, err);
}

static void test_bad(void)
{
	char text[512];

	refused("", "lists no member", "an empty file");
	refused("# nobody\n\n", "lists no member", "comments only");
	snprintf(text, sizeof(text), "%s a\nnot-a-key b\n", k1);
	refused(text, "members.txt:2: not a public key", "a word that is no key names line 2");
	snprintf(text, sizeof(text), "%s a\n%.43s! b\n", k1, k2);
	refused(text, "members.txt:2: not a public key", "a bad base64 character");
	snprintf(text, sizeof(text), "public-key %s\n", k1);
	refused(text, "members.txt:1: give the key alone", "'public-key' pasted with the key");
	snprintf(text, sizeof(text), "%s a\n%s b\n# c\n%s c\n", k1, k2, k1);
	refused(text, "members.txt:4: duplicate key, listed already on line 1", "a duplicate key");
	snprintf(text, sizeof(text), "%s same\n%s same\n", k1, k2);
	refused(text, "members.txt:2: duplicate name 'same'", "a duplicate name");
	snprintf(text, sizeof(text), "%s two words\n", k1);
	refused(text, "members.txt:1: more than a key and a name", "three words");
	snprintf(text, sizeof(text), "%s na\"me\n", k1);
	refused(text, "members.txt:1: name", "a name with a quote");
	snprintf(text, sizeof(text), "%s %070d\n", k1, 0);
	refused(text, "members.txt:1: name longer", "a name too long");
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
	char dir[] = "/tmp/ns-members-XXXXXX", path[128], text[256], err[512];
	struct ns_members m;
	int rc;

	ok(mkdtemp(dir) != NULL, "temporary directory");
	snprintf(path, sizeof(path), "%s/members", dir);
	snprintf(text, sizeof(text), "%s alpha\n%s beta\n", k1, k2);
	ok(write_file(path, text, 0644) == 0, "members file written");
	err[0] = '\0';
	rc = ns_members_load(path, &m, err, sizeof(err));
	ok(rc == 0 && m.n == 2, "mode 0644 loads: the list is public %s", err);
	ns_members_free(&m);
	chmod(path, 0664);
	ok(ns_members_load(path, &m, err, sizeof(err)) != 0 && strstr(err, path) != NULL &&
	   strstr(err, "group") != NULL, "group-writable refused: %s", err);
	chmod(path, 0646);
	ok(ns_members_load(path, &m, err, sizeof(err)) != 0 && strstr(err, "anyone") != NULL,
	   "writable by others refused: %s", err);
	unlink(path);
	ok(ns_members_load(path, &m, err, sizeof(err)) != 0 && strstr(err, "cannot open") != NULL,
	   "a missing file: %s", err);
	rmdir(dir);
}

int main(void)
{
	keys_make();
	test_good();
	test_bad();
	test_files();
	return tap_done();
}
