/*
 * members.c: parsing and loading the members list (members.h).
 *
 * A line is "KEY [NAME]" with an optional '#' comment.  A name is one word
 * of letters, digits and ._:@+- so that it reads the same in logs, the
 * status table and JSON.  Every error names the line: the list decides who
 * may connect, so nothing in it is guessed at or skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/errmsg.h"
#include "keys.h"
#include "members.h"

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("._:@+-", ch) != NULL;
}

/* The next word of [*p, end): its start and length; *p moves past it. */
static size_t next_word(const char **p, const char *end, const char **word)
{
	const char *s = *p;

	while (s < end && is_space(*s))
		s++;
	*word = s;
	while (s < end && !is_space(*s))
		s++;
	*p = s;
	return (size_t)(s - *word);
}

/* One line (no '\n', comment cut off) into m; 0 if blank, 1 if a member,
 * -1 with err. */
static int parse_line(const char *s, const char *end, const char *what, int line,
                      struct ns_member *m, char *err, size_t errlen)
{
	const char *key, *name, *extra;
	size_t klen = next_word(&s, end, &key), nlen, xlen;

	if (klen == 0)
		return 0;
	nlen = next_word(&s, end, &name);
	xlen = next_word(&s, end, &extra);
	if (strncmp(key, "public-key", klen) == 0 && klen == 10)
		return ns_error(err, errlen, "%s:%d: give the key alone, without 'public-key' "
		                "(the value 'nodeseal pubkey' prints after it)", what, line);
	if (klen != NS_KEY_B64_LEN)
		return ns_error(err, errlen, "%s:%d: not a public key: '%.*s' is %zu characters, "
		                "a key is %d of base64 as 'nodeseal pubkey' prints it", what, line,
		                (int)(klen > 48 ? 48 : klen), key, klen, NS_KEY_B64_LEN);
	/* ns_key_decode's reason speaks of network keys: say it for this file. */
	if (ns_key_decode(key, klen, m->pub) != NULL)
		return ns_error(err, errlen, "%s:%d: not a public key: '%.*s' is not the base64 of "
		                "32 bytes that 'nodeseal pubkey' prints", what, line, (int)klen, key);
	if (xlen != 0)
		return ns_error(err, errlen, "%s:%d: more than a key and a name (a name is one word)",
		                what, line);
	if (nlen > NS_MEMBER_NAME_MAX)
		return ns_error(err, errlen, "%s:%d: name longer than %d characters", what, line,
		                NS_MEMBER_NAME_MAX);
	for (size_t i = 0; i < nlen; i++)
		if (!name_char(name[i]))
			return ns_error(err, errlen, "%s:%d: name '%.*s': only letters, digits and "
			                "._:@+- are allowed", what, line, (int)nlen, name);
	memcpy(m->name, name, nlen);
	m->name[nlen] = '\0';
	return 1;
}

/* The line of each member, to name the first in a duplicate's error. */
static int check_duplicate(const struct ns_members *out, const int *lines,
                           const struct ns_member *m, const char *what, int line, char *err,
                           size_t errlen)
{
	for (size_t i = 0; i < out->n; i++) {
		if (memcmp(out->v[i].pub, m->pub, 32) == 0)
			return ns_error(err, errlen, "%s:%d: duplicate key, listed already on line %d",
			                what, line, lines[i]);
		if (m->name[0] != '\0' && strcmp(out->v[i].name, m->name) == 0)
			return ns_error(err, errlen, "%s:%d: duplicate name '%s', given already on "
			                "line %d", what, line, m->name, lines[i]);
	}
	return 0;
}

int ns_members_parse(const char *text, size_t len, const char *what, struct ns_members *out,
                     char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;
	int *lines = NULL, line = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	if (memchr(text, '\0', len) != NULL) {
		ns_error(err, errlen, "%s: a NUL byte: not a text file", what);
		goto out;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *cut;
		struct ns_member m;
		int got;

		if (eol == NULL)
			eol = end;
		line++;
		cut = memchr(p, '#', (size_t)(eol - p));
		memset(&m, 0, sizeof(m));
		got = parse_line(p, cut ? cut : eol, what, line, &m, err, errlen);
		p = eol < end ? eol + 1 : end;
		if (got < 0)
			goto out;
		if (got == 0)
			continue;
		if (check_duplicate(out, lines, &m, what, line, err, errlen) != 0)
			goto out;
		if (out->n == NS_MEMBERS_MAX) {
			ns_error(err, errlen, "%s:%d: more than %d members", what, line, NS_MEMBERS_MAX);
			goto out;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct ns_member *nv = realloc(out->v, ncap * sizeof(*nv));
			int *nl = realloc(lines, ncap * sizeof(*nl));

			if (nv != NULL)
				out->v = nv;
			if (nl != NULL)
				lines = nl;
			if (nv == NULL || nl == NULL) {
				ns_error(err, errlen, "%s: out of memory", what);
				goto out;
			}
			cap = ncap;
		}
		lines[out->n] = line;
		out->v[out->n++] = m;
	}
	if (out->n == 0) {
		ns_error(err, errlen, "%s: lists no member (it would refuse every peer)", what);
		goto out;
	}
	rc = 0;
out:
	free(lines);
	if (rc != 0)
		ns_members_free(out);
	return rc;
}

int ns_members_load(const char *path, struct ns_members *out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t have = 0;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ns_error(err, errlen, "%s: cannot open the members list: %s", path,
		                strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		ns_error(err, errlen, "%s: the members list is not a regular file", path);
		goto out;
	}
	/* Whoever can change the list can let any node key in. */
	if ((st.st_mode & 022) != 0) {
		ns_error(err, errlen, "%s: mode %04o lets %s change the members list; it must not "
		         "be writable by group or others (chmod 644 %s)", path,
		         (unsigned)(st.st_mode & 07777), (st.st_mode & 002) ? "anyone" : "the group",
		         path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		ns_error(err, errlen, "%s: owned by uid %u, who can change the members list; it "
		         "must belong to root or to this user", path, (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_size > NS_MEMBERS_FILE_MAX) {
		ns_error(err, errlen, "%s: too large for a members list (over %d bytes)", path,
		         NS_MEMBERS_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		ns_error(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, text + have, (size_t)st.st_size + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ns_error(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > (size_t)st.st_size) {
			ns_error(err, errlen, "%s: changed while it was read; try again", path);
			goto out;
		}
	}
	rc = ns_members_parse(text, have, path, out, err, errlen);
out:
	free(text);
	close(fd);
	return rc;
}

const struct ns_member *ns_members_find(const struct ns_members *m, const uint8_t pub[32])
{
	for (size_t i = 0; i < m->n; i++)
		if (memcmp(m->v[i].pub, pub, 32) == 0)
			return &m->v[i];
	return NULL;
}

void ns_members_free(struct ns_members *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}
