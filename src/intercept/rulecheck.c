/*
 * rulecheck.c: are nodeseal's rules all still there?  Pure functions over
 * the text iptables-save and "nft list table" print (intercept.h).
 *
 * Another program can take the rules away at any moment: "iptables -F", a
 * firewalld or ufw reload, an iptables-restore without --noflush.  The
 * daemon's watchdog (daemon.c) compares what the tools show with what it
 * installed.  The tools print a rule in their own canonical form, not as
 * nodeseal wrote it, so the check counts rather than compares text: each of
 * our chains is declared and holds at least as many rules as we put in it,
 * and each jump from a built-in chain to one of ours is there as often as we
 * added it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "intercept.h"

#define NAME_MAX_LEN 64

typedef bool (*line_match)(const char *line, size_t len, const char *a, const char *b);

/* Lines of table (iptables-save's "*nat" sections) that m accepts. */
static int count_in_table(const char *text, const char *table, line_match m, const char *a,
                          const char *b)
{
	size_t tlen = strlen(table);
	bool in = false;
	int n = 0;

	for (const char *p = text; *p != '\0';) {
		const char *end = strchrnul(p, '\n');
		size_t len = (size_t)(end - p);

		if (len > 0 && p[0] == '*')
			in = len - 1 == tlen && memcmp(p + 1, table, tlen) == 0;
		else if (in && m(p, len, a, b))
			n++;
		p = *end ? end + 1 : end;
	}
	return n;
}

static bool starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(line, prefix, n) == 0;
}

/* line starts with prefix immediately followed by word and a space. */
static bool starts_word(const char *line, size_t len, const char *prefix, const char *word)
{
	size_t n = strlen(prefix), w = strlen(word);

	return len > n + w && memcmp(line, prefix, n) == 0 && memcmp(line + n, word, w) == 0 &&
	       line[n + w] == ' ';
}

static bool is_decl(const char *line, size_t len, const char *chain, const char *unused)
{
	(void)unused;
	return starts_word(line, len, ":", chain);
}

static bool is_rule_of(const char *line, size_t len, const char *chain, const char *unused)
{
	(void)unused;
	return starts_word(line, len, "-A ", chain);
}

/* The word after "-j " in line (bounded by len), into out; false if none. */
static bool jump_target(const char *line, size_t len, char *out, size_t cap)
{
	for (size_t i = 0; i + 3 <= len; i++) {
		size_t n = 0;

		if (memcmp(line + i, "-j ", 3) != 0 || (i > 0 && line[i - 1] != ' '))
			continue;
		i += 3;
		while (i + n < len && line[i + n] != ' ')
			n++;
		if (n == 0 || n >= cap)
			return false;
		memcpy(out, line + i, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

/* A rule of built-in chain a ("-A" as saved, "-I" as nodeseal writes it)
 * that jumps to our chain b. */
static bool is_jump(const char *line, size_t len, const char *a, const char *b)
{
	char target[NAME_MAX_LEN];

	return (starts_word(line, len, "-A ", a) || starts_word(line, len, "-I ", a)) &&
	       jump_target(line, len, target, sizeof(target)) && strcmp(target, b) == 0;
}

/* The chain a rule line ("-A C ..." or "-I C ...") belongs to, into out. */
static bool rule_chain(const char *line, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	if (!starts(line, len, "-A ") && !starts(line, len, "-I "))
		return false;
	while (3 + n < len && line[3 + n] != ' ')
		n++;
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, line + 3, n);
	out[n] = '\0';
	return true;
}

struct missing {
	char *what;
	size_t cap, len;
	int count;
};

static void note(struct missing *m, const char *table, const char *thing, const char *name)
{
	int n;

	m->count++;
	if (m->cap == 0 || m->len >= m->cap - 1)
		return;
	n = snprintf(m->what + m->len, m->cap - m->len, "%s%s %s %s", m->len ? ", " : "", table,
	             thing, name);
	if (n > 0)
		m->len += (size_t)n < m->cap - m->len ? (size_t)n : m->cap - m->len - 1;
}

/* True if an earlier line of the same table in rules is the same jump. */
static bool jump_seen(const char *rules, const char *upto, const char *table, const char *from,
                      const char *to)
{
	bool in = false;

	for (const char *p = rules; p < upto;) {
		const char *end = strchrnul(p, '\n');
		size_t len = (size_t)(end - p);

		if (len > 0 && p[0] == '*')
			in = len - 1 == strlen(table) && memcmp(p + 1, table, len - 1) == 0;
		else if (in && is_jump(p, len, from, to))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static void check_line(const char *saved, const char *rules, const char *p, size_t len,
                       const char *table, struct missing *m)
{
	char chain[NAME_MAX_LEN], target[NAME_MAX_LEN];

	if (starts(p, len, ":NODESEAL_")) {
		size_t n = strcspn(p + 1, " \n");
		if (n >= sizeof(chain))
			return;
		memcpy(chain, p + 1, n);
		chain[n] = '\0';
		if (count_in_table(saved, table, is_decl, chain, NULL) == 0)
			note(m, table, "chain", chain);
		else if (count_in_table(saved, table, is_rule_of, chain, NULL) <
		         count_in_table(rules, table, is_rule_of, chain, NULL))
			note(m, table, "rules of", chain);
		return;
	}
	if (!rule_chain(p, len, chain, sizeof(chain)) || strncmp(chain, "NODESEAL_", 9) == 0 ||
	    !jump_target(p, len, target, sizeof(target)) || strncmp(target, "NODESEAL_", 9) != 0 ||
	    jump_seen(rules, p, table, chain, target))
		return;
	if (count_in_table(saved, table, is_jump, chain, target) <
	    count_in_table(rules, table, is_jump, chain, target)) {
		char name[2 * NAME_MAX_LEN + 4];
		snprintf(name, sizeof(name), "%s -> %s", chain, target);
		note(m, table, "jump", name);
	}
}

int ns_intercept_rules_missing(const char *saved, const char *rules, char *what, size_t cap)
{
	struct missing m = { what, cap, 0, 0 };
	char table[NAME_MAX_LEN] = "";

	if (cap > 0)
		what[0] = '\0';
	for (const char *p = rules; *p != '\0';) {
		const char *end = strchrnul(p, '\n');
		size_t len = (size_t)(end - p);

		if (len > 0 && p[0] == '*')
			snprintf(table, sizeof(table), "%.*s", (int)(len - 1), p + 1);
		else
			check_line(saved, rules, p, len, table, &m);
		p = *end ? end + 1 : end;
	}
	return m.count;
}

/*
 * nft: "chain NAME {" opens a chain, "}" closes it; inside, a line
 * starting "type " is the chain's hook, any other non-blank line a rule.
 * Returns the rules of chain in text, -1 if the chain is not there.
 */
static int nft_chain_rules(const char *text, const char *chain)
{
	int n = -1;
	bool in = false;

	for (const char *p = text; *p != '\0';) {
		const char *end = strchrnul(p, '\n');
		size_t len;

		p += strspn(p, " \t");
		len = end > p ? (size_t)(end - p) : 0;
		if (!in && starts(p, len, "chain ") && starts_word(p + 6, len - 6, "", chain)) {
			in = true;
			n = 0;
		} else if (in && starts(p, len, "}")) {
			in = false;
		} else if (in && len > 0 && !starts(p, len, "type ")) {
			n++;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}

int ns_intercept_guard_missing(const char *listing, const char *script, char *what, size_t cap)
{
	struct missing m = { what, cap, 0, 0 };

	if (cap > 0)
		what[0] = '\0';
	for (const char *p = script; *p != '\0';) {
		const char *end = strchrnul(p, '\n');
		char chain[NAME_MAX_LEN];
		size_t n;

		p += strspn(p, " \t");
		if (strncmp(p, "chain ", 6) == 0 && (n = strcspn(p + 6, " {\n")) < sizeof(chain)) {
			int want, have;
			memcpy(chain, p + 6, n);
			chain[n] = '\0';
			want = nft_chain_rules(script, chain);
			have = nft_chain_rules(listing, chain);
			if (have < 0)
				note(&m, "nft", "chain", chain);
			else if (have < want)
				note(&m, "nft", "rules of", chain);
		}
		p = *end ? end + 1 : end;
	}
	return m.count;
}
