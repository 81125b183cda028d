/*
 * peers.c: the peer memory of the rollout policy (peers.h).
 *
 * A flat array searched linearly: a consortium has tens of nodes, the
 * bound is 4096, and a lookup happens once per connection (a handshake, a
 * SYN), never per record or segment of a sealed connection.
 *
 * The file holds the sealed entries only, one per line:
 *   ADDRESS FIRST LAST      (unix seconds)
 * It is written whole to a temporary file, synced, and renamed over the
 * old one, so a crash leaves the old memory or the new, never half.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "peers.h"

int ns_peers_init(struct ns_peers *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->max = max ? max : NS_PEERS_MAX;
	p->v = calloc(p->max, sizeof(*p->v));
	return p->v == NULL ? -1 : 0;
}

void ns_peers_free(struct ns_peers *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->max = 0;
}

bool ns_peer_addr_from(const struct sockaddr_storage *sa, struct ns_peer_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->ss_family == AF_INET) {
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->ss_family != AF_INET6)
		return false;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(out->a, &a6->s6_addr[12], 4);
		return true;
	}
	out->v6 = true;
	memcpy(out->a, a6, 16);
	return true;
}

void ns_peer_addr_text(const struct ns_peer_addr *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	inet_ntop(a->v6 ? AF_INET6 : AF_INET, a->a, host, sizeof(host));
	snprintf(out, cap, "%s", host);
}

int ns_peer_addr_parse(const char *text, struct ns_peer_addr *out)
{
	struct in6_addr a6;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->a) == 1)
		return 0;
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(out->a, &a6.s6_addr[12], 4);
		return 0;
	}
	out->v6 = true;
	memcpy(out->a, &a6, 16);
	return 0;
}

bool ns_peer_addr_equal(const struct ns_peer_addr *a, const struct ns_peer_addr *b)
{
	return a->v6 == b->v6 && memcmp(a->a, b->a, sizeof(a->a)) == 0;
}

static struct ns_peer *find(const struct ns_peers *p, const struct ns_peer_addr *a)
{
	for (size_t i = 0; i < p->n; i++)
		if (ns_peer_addr_equal(&p->v[i].addr, a))
			return &p->v[i];
	return NULL;
}

static void remove_at(struct ns_peers *p, size_t i)
{
	if (p->v[i].sealed_first != 0)
		p->dirty = true;
	p->v[i] = p->v[--p->n];
}

/* Room for a new entry: a free slot, else a clear entry's (the one seen
 * longest ago), else, for a sealed newcomer, the sealed entry sealed
 * longest ago.  NULL when only sealed entries remain and the newcomer is
 * clear: what is sealed is never forgotten for what is not. */
static struct ns_peer *make_room(struct ns_peers *p, bool sealed)
{
	size_t victim = p->n;
	char text[48];

	if (p->n < p->max)
		return &p->v[p->n++];
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].sealed_first == 0 &&
		    (victim == p->n || p->v[i].clear_last < p->v[victim].clear_last))
			victim = i;
	if (victim == p->n && sealed) {
		victim = 0;
		for (size_t i = 1; i < p->n; i++)
			if (p->v[i].sealed_last < p->v[victim].sealed_last)
				victim = i;
		ns_peer_addr_text(&p->v[victim].addr, text, sizeof(text));
		ns_log(NS_LOG_WARN, "peer memory full (%zu): forgetting %s, sealed longest ago; it "
		       "could be taken in clear again under --policy opportunistic", p->max, text);
		p->dirty = true;
	}
	if (victim == p->n)
		return NULL;
	return &p->v[victim];
}

static struct ns_peer *get(struct ns_peers *p, const struct ns_peer_addr *a, bool sealed)
{
	struct ns_peer *e = find(p, a);

	if (e != NULL)
		return e;
	if ((e = make_room(p, sealed)) == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->addr = *a;
	return e;
}

bool ns_peers_sealed(const struct ns_peers *p, const struct ns_peer_addr *a)
{
	const struct ns_peer *e = find(p, a);

	return e != NULL && e->sealed_first != 0;
}

bool ns_peers_mark_sealed(struct ns_peers *p, const struct ns_peer_addr *a, int64_t now)
{
	struct ns_peer *e = get(p, a, true);
	bool first;

	if (e == NULL)
		return false;
	if (now <= 0)
		now = 1; /* 0 means never */
	first = e->sealed_first == 0;
	if (first) {
		e->sealed_first = now;
		p->dirty = true;
	}
	/* The last time is saved with the next change, not for every
	 * handshake: it only orders evictions. */
	e->sealed_last = now;
	e->plain_until_ms = 0;
	e->clear_first = e->clear_last = 0;
	return first;
}

void ns_peers_saw_clear(struct ns_peers *p, const struct ns_peer_addr *a, int64_t now)
{
	struct ns_peer *e = get(p, a, false);

	if (e == NULL || e->sealed_first != 0)
		return;
	if (e->clear_first == 0)
		e->clear_first = now;
	e->clear_last = now;
}

void ns_peers_mark_plain(struct ns_peers *p, const struct ns_peer_addr *a, int64_t until_ms)
{
	struct ns_peer *e = get(p, a, false);

	if (e != NULL && e->sealed_first == 0)
		e->plain_until_ms = until_ms;
}

bool ns_peers_plain(const struct ns_peers *p, const struct ns_peer_addr *a, int64_t now_ms)
{
	const struct ns_peer *e = find(p, a);

	return e != NULL && e->sealed_first == 0 && now_ms < e->plain_until_ms;
}

int ns_peers_forget(struct ns_peers *p, const struct ns_peer_addr *a)
{
	struct ns_peer *e = find(p, a);

	if (e == NULL)
		return 0;
	remove_at(p, (size_t)(e - p->v));
	return 1;
}

size_t ns_peers_forget_all(struct ns_peers *p)
{
	size_t n = p->n;

	if (n > 0)
		p->dirty = true;
	p->n = 0;
	return n;
}

void ns_peers_expire(struct ns_peers *p, int64_t now, int64_t now_ms)
{
	for (size_t i = 0; i < p->n;) {
		struct ns_peer *e = &p->v[i];

		if (e->sealed_first == 0 && now - e->clear_last > NS_PEERS_CLEAR_HOLD_S &&
		    now_ms >= e->plain_until_ms) {
			remove_at(p, i);
			continue;
		}
		if (e->sealed_first == 0 && e->clear_last != 0 &&
		    now - e->clear_last > NS_PEERS_CLEAR_HOLD_S)
			e->clear_first = e->clear_last = 0; /* a plain mark alone */
		i++;
	}
}

bool ns_peers_next(const struct ns_peers *p, size_t *cursor, struct ns_peer_info *out)
{
	while (*cursor < p->n) {
		const struct ns_peer *e = &p->v[(*cursor)++];

		if (e->sealed_first == 0 && e->clear_first == 0)
			continue; /* a plain mark with no clear connection: not a link */
		ns_peer_addr_text(&e->addr, out->addr, sizeof(out->addr));
		out->sealed = e->sealed_first != 0;
		out->since = out->sealed ? e->sealed_first : e->clear_first;
		return true;
	}
	return false;
}

/* One line of the file: "ADDRESS FIRST LAST".  -1 if it is not that. */
static int parse_line(char *line, struct ns_peer *e)
{
	char addr[64], extra[2];
	int64_t first, last;

	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%63s %" SCNd64 " %" SCNd64 " %1s", addr, &first, &last, extra) != 3)
		return -1;
	if (ns_peer_addr_parse(addr, &e->addr) != 0 || first <= 0 || last < first)
		return -1;
	e->sealed_first = first;
	e->sealed_last = last;
	return 0;
}

int ns_peers_load(struct ns_peers *p, const char *state_dir, char *err, size_t errlen)
{
	char line[256];
	int lineno = 0, rc = -1;
	FILE *f;

	snprintf(p->path, sizeof(p->path), "%s/%s", state_dir, NS_PEERS_FILE);
	f = fopen(p->path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "peer memory %s: %s", p->path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct ns_peer e, *slot;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "peer memory %s, line %d: too long", p->path, lineno);
			goto out;
		}
		line[strcspn(line, "#\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue;
		if (parse_line(line, &e) != 0) {
			snprintf(err, errlen, "peer memory %s, line %d: expected \"ADDRESS FIRST "
			         "LAST\" (unix seconds); fix the line or remove it with care: a "
			         "peer not listed may be taken in clear (nodeseal forget)",
			         p->path, lineno);
			goto out;
		}
		if (find(p, &e.addr) != NULL) {
			snprintf(err, errlen, "peer memory %s, line %d: address listed twice", p->path,
			         lineno);
			goto out;
		}
		if ((slot = make_room(p, true)) == NULL)
			goto out;
		*slot = e;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "peer memory %s: read error", p->path);
		goto out;
	}
	p->dirty = false;
	rc = 0;
out:
	fclose(f);
	return rc;
}

int ns_peers_save(struct ns_peers *p, char *err, size_t errlen)
{
	char tmp[sizeof(p->path) + 8], text[48];
	FILE *f;
	int fd;

	if (p->path[0] == '\0') {
		p->dirty = false;
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", p->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "peer memory %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "# nodeseal: peers that completed a sealed handshake; each is never taken\n"
	           "# in clear again (nodeseal forget).  ADDRESS FIRST LAST, unix seconds.\n");
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].sealed_first == 0)
			continue;
		ns_peer_addr_text(&p->v[i].addr, text, sizeof(text));
		fprintf(f, "%s %" PRId64 " %" PRId64 "\n", text, p->v[i].sealed_first,
		        p->v[i].sealed_last);
	}
	if (fflush(f) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "peer memory %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, p->path) != 0) {
		snprintf(err, errlen, "peer memory %s: %s", p->path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	p->dirty = false;
	return 0;
}
