/*
 * members.h: the members list (--members FILE): the node keys allowed to
 * complete a proxy-mode handshake, each with an optional name.
 *
 * One member a line: the public key as "nodeseal pubkey" prints it (its
 * public-key value), then optionally a name; '#' starts a comment.  The
 * same file serves every node.  Parsing is pure (members.c, fuzzed);
 * loading checks the file as the key files are checked, except that the
 * list is public: only who may change it matters.
 */
#ifndef NS_MEMBERS_H
#define NS_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_MEMBER_NAME_MAX 64
#define NS_MEMBERS_FILE_MAX (1 << 20)
#define NS_MEMBERS_MAX 65536

struct ns_member {
	uint8_t pub[32];
	char name[NS_MEMBER_NAME_MAX + 1]; /* "" when the line gives none */
};

struct ns_members {
	struct ns_member *v;
	size_t n;
};

/* Parses len bytes of text; what names it in errors (the file's path).
 * -1 with one sentence in err naming the line; out is then empty. */
int ns_members_parse(const char *text, size_t len, const char *what, struct ns_members *out,
                     char *err, size_t errlen);
/* Reads and parses path: a regular file that only its owner (root or
 * this user) can change, of at most NS_MEMBERS_FILE_MAX bytes. */
int ns_members_load(const char *path, struct ns_members *out, char *err, size_t errlen);
/* The member with key pub, or NULL. */
const struct ns_member *ns_members_find(const struct ns_members *m, const uint8_t pub[32]);
void ns_members_free(struct ns_members *m);

#endif
