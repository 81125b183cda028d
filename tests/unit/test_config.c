/*
 * test_config: the config file (src/config/config.c).
 * - NAME = VALUE lines with the variables' names, blanks, comments, quotes
 *   and a missing final newline are read, through the same parsers as
 *   the environment's;
 * - every bad line is refused with an error naming the file and the line:
 *   an unknown name, one given twice, NODESEAL and NODESEAL_CONFIG, a bad
 *   value (naming the setting), no '=', an unclosed quote, a NUL byte, a
 *   line too long; the network key only in a file of mode 0600;
 * - numbers are decimal: a leading zero with more digits (07447, which
 *   strtoul base 0 read as octal 3879) is refused naming the setting, in a
 *   file, the environment and an option, for every numeric kind and the
 *   delivery range; 0x only for the fwmark;
 * - layers: options win over the environment, which wins over the file;
 *   the network key, inline or as a file, is one setting across them (a
 *   higher layer's either takes the lower's other away), both in one layer
 *   refused; NODESEAL_MEMBERS and _MEMBERS_FILE both in the environment
 *   refused;
 *   a file others can write, or missing, stops the load.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/util/log.h"
#include "tap.h"

static char text[4096];

/* Parses s (copied: the parser cuts it) over the defaults into c. */
static int parse(struct ns_config *c, const char *s, unsigned mode, char *err, size_t errlen)
{
	snprintf(text, sizeof(text), "%s", s);
	ns_config_defaults(c);
	err[0] = '\0';
	return ns_config_parse(c, text, strlen(text), "ns.conf", mode, err, errlen);
}

static void test_good(void)
{
	struct ns_config c;
	char err[512];

	ok(parse(&c, "# nodeseal\n\n  NODESEAL_PORTS = 7447,7448  \r\nNODESEAL_MODE=packet\n"
	         "\tNODESEAL_STATE_DIR = \"/var/lib/x y\"\nNODESEAL_POLICY='opportunistic'\n"
	         "NODESEAL_DELIVERY_PORTS = 62000-63000\nNODESEAL_LOG_LEVEL = debug", 0100600, err,
	         sizeof(err)) == 0, "a file is read (%s)", err);
	ok(c.nports == 2 && c.ports[0] == 7447 && c.ports[1] == 7448, "ports");
	ok(c.mode == NS_MODE_PACKET && c.policy == NS_POLICY_OPPORTUNISTIC, "mode and policy");
	ok(strcmp(c.state_dir, "/var/lib/x y") == 0, "quotes removed, the blank inside kept");
	ok(c.delivery_lo == 62000 && c.delivery_hi == 63000, "a range");
	ok(c.log_level == NS_LOG_DEBUG && c.queue_num == 7447, "no final newline; defaults kept");
	ok(parse(&c, "NODESEAL_MEMBERS_FILE = /etc/a#b\n", 0100644, err, sizeof(err)) == 0 &&
	   strcmp(c.members_file, "/etc/a#b") == 0, "a '#' inside a value is the value's");
	ok(parse(&c, "", 0100644, err, sizeof(err)) == 0 && c.nports == 1, "an empty file");
	ok(parse(&c, "NODESEAL_NETWORK_KEY = abc\n", 0100600, err, sizeof(err)) == 0 &&
	   strcmp(c.network_key, "abc") == 0, "the network key in a file of mode 0600");
	ok(parse(&c, "NODESEAL_NETWORK_KEY = abc\n", 0100400, err, sizeof(err)) == 0,
	   "and of mode 0400");
}

static void refused(const char *s, unsigned mode, const char *want, const char *what)
{
	struct ns_config c;
	char err[512];
	int rc = parse(&c, s, mode, err, sizeof(err));

	ok(rc != 0 && strstr(err, want) != NULL, "%s: '%s'", what, err);
}

static void test_bad(void)
{
	char longline[2048];

	refused("\nNODESEAL_PORTZ = 1\n", 0100644, "ns.conf:2: unknown setting NODESEAL_PORTZ",
	        "an unknown name");
	refused("NODESEAL_PORTS = 1\n# x\nNODESEAL_PORTS = 2\n", 0100644,
	        "ns.conf:3: NODESEAL_PORTS set again (first on line 1)", "a name twice");
	refused("NODESEAL_MEMBERS_FILE = /etc/nodeseal/members\nNODESEAL_MEMBERS = chain\n", 0100600,
	        "ns.conf:2: NODESEAL_MEMBERS sets what NODESEAL_MEMBERS_FILE on line 1 set",
	        "one field under its two names (the later won silently)");
	refused("NODESEAL_MEMBERS = chain\n\nNODESEAL_MEMBERS_FILE = /etc/m\n", 0100600,
	        "ns.conf:3: NODESEAL_MEMBERS_FILE sets what NODESEAL_MEMBERS on line 1 set",
	        "and the other way round");
	refused("NODESEAL_PORTS = 70000\n", 0100644,
	        "ns.conf:1: NODESEAL_PORTS: '70000' is not a port", "a bad port");
	refused("NODESEAL_MAX_CONNECTIONS = 0\n", 0100644,
	        "ns.conf:1: NODESEAL_MAX_CONNECTIONS: '0' is not a number from 1", "a bad number");
	refused("NODESEAL_MODE = tunnel\n", 0100644, "ns.conf:1: NODESEAL_MODE: 'tunnel' is not",
	        "a bad mode");
	refused("NODESEAL_STATE_DIR =\n", 0100644, "ns.conf:1: NODESEAL_STATE_DIR: empty",
	        "an empty value");
	refused("NODESEAL_STATE_DIR = \"/x\n", 0100644, "ns.conf:1: NODESEAL_STATE_DIR: quote",
	        "an unclosed quote");
	refused("NODESEAL_STATE_DIR = \"\n", 0100644, "quote not closed", "a lone quote");
	refused("NODESEAL_PORTS 7447\n", 0100644, "ns.conf:1: not NAME = VALUE", "no '='");
	refused("= 7447\n", 0100644, "ns.conf:1: not NAME = VALUE", "no name");
	refused("--ports = 7447\n", 0100644, "ns.conf:1: not NAME = VALUE", "an option's name");
	refused("NODESEAL = off\n", 0100644, "ns.conf:1: NODESEAL, the on/off switch",
	        "the on/off switch");
	refused("NODESEAL_CONFIG = /etc/x\n", 0100644, "ns.conf:1: NODESEAL_CONFIG",
	        "a file naming another");
	refused("NODESEAL_JSON = 1\n", 0100644, "unknown setting NODESEAL_JSON",
	        "a flag of status's only");
	{
		struct ns_config c;
		char err[512], nul[] = "NODESEAL_PORTS = 7447\n\0\n";

		ns_config_defaults(&c);
		ok(ns_config_parse(&c, nul, sizeof(nul) - 1, "ns.conf", 0100644, err,
		                   sizeof(err)) != 0 && strstr(err, "ns.conf:2: NUL byte") != NULL,
		   "a NUL byte: '%s'", err);
	}
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "NODESEAL_STATE_DIR = ", 21);
	longline[NS_CONFIG_LINE_MAX + 1] = '\0';
	refused(longline, 0100644, "ns.conf:1: line longer than 1024 bytes", "a line too long");
	longline[NS_CONFIG_LINE_MAX] = '\0';
	{
		struct ns_config c;
		char err[512];
		ok(parse(&c, longline, 0100644, err, sizeof(err)) == 0, "a line of 1024 bytes");
	}
	refused("NODESEAL_NETWORK_KEY = abc\n", 0100640,
	        "ns.conf:1: NODESEAL_NETWORK_KEY: ns.conf: mode 0640 lets others read the network "
	        "key; it must be 0600 (chmod 600 ns.conf)", "the key in a file the group reads");
	refused("NODESEAL_NETWORK_KEY = abc\n", 0100604, "mode 0604 lets others read",
	        "the key in a file others read");
	refused("NODESEAL_NETWORK_KEY_FILE = /k\nNODESEAL_PORTS = 1,x\n", 0100644,
	        "ns.conf:2: NODESEAL_PORTS: 'x' is not a port", "the line of a later error");
}

/* Numbers: decimal only, 0x for the mark, never octal. */
static void test_numbers(void)
{
	static const char *zero[] = {
		"NODESEAL_PORTS = 07447\n", "NODESEAL_PORTS = 7448,07447\n",
		"NODESEAL_QUEUE_NUM = 010\n", "NODESEAL_QUEUE_MAXLEN = 04096\n",
		"NODESEAL_PROXY_PORT = 020051\n", "NODESEAL_FWMARK = 010\n",
		"NODESEAL_ROUTE_TABLE = 020051\n", "NODESEAL_HANDSHAKE_TIMEOUT = 010\n",
		"NODESEAL_MAX_PENDING = 0256\n", "NODESEAL_MAX_PENDING_PER_SOURCE = 064\n",
		"NODESEAL_DELIVERY_PORTS = 061000-65535\n", "NODESEAL_DELIVERY_PORTS = 61000-065535\n",
		"NODESEAL_MAX_CONNECTIONS = 04096\n", "NODESEAL_CLOCK_WINDOW = 060\n",
		"NODESEAL_PLAIN_RETRY = 060\n", "NODESEAL_CHAIN_REFRESH = 05\n",
	};
	char err[512], *argv[4];
	struct ns_config c;
	int i;

	for (size_t k = 0; k < sizeof(zero) / sizeof(zero[0]); k++) {
		char name[64];

		snprintf(name, sizeof(name), "ns.conf:1: %.*s", (int)strcspn(zero[k], " "), zero[k]);
		refused(zero[k], 0100600, name, "a leading zero");
		refused(zero[k], 0100600, "starts with 0; numbers are decimal", "said why");
	}
	refused("NODESEAL_QUEUE_NUM = 0x10\n", 0100600, "NODESEAL_QUEUE_NUM: '0x10' is not", "hex");
	refused("NODESEAL_PORTS = 0x1d17\n", 0100600, "is not a port", "a hex port");
	refused("NODESEAL_PORTS = +7447\n", 0100600, "is not a port", "a sign");
	refused("NODESEAL_PORTS = -7447\n", 0100600, "is not a port", "a minus");
	refused("NODESEAL_FWMARK = 0x\n", 0100600, "is not a number", "0x alone");
	refused("NODESEAL_FWMARK = 0x1g\n", 0100600, "is not a number", "a bad hex digit");
	refused("NODESEAL_FWMARK = 0x100000000\n", 0100600, "is not a number", "over 32 bits");
	refused("NODESEAL_ROUTE_TABLE = 99999999999999999999\n", 0100600, "is not a number",
	        "a long number does not wrap");
	refused("NODESEAL_METRICS = 09100\n", 0100600, "NODESEAL_METRICS: '09100' is not",
	        "a metrics port with a leading zero");
	ok(parse(&c, "NODESEAL_FWMARK = 0x4E53\nNODESEAL_PORTS = 7447, 7448\n"
	         "NODESEAL_QUEUE_NUM = 0\nNODESEAL_DELIVERY_PORTS = 1024-2047\n", 0100600, err,
	         sizeof(err)) == 0 && c.fwmark == 0x4e53 && c.nports == 2 && c.ports[1] == 7448 &&
	   c.queue_num == 0 && c.delivery_lo == 1024, "0x for the mark, a lone 0, blanks after "
	   "a comma (%s)", err);
	ok(parse(&c, "NODESEAL_FWMARK = 20051\n", 0100600, err, sizeof(err)) == 0 &&
	   c.fwmark == 20051, "a decimal mark");

	unsetenv("NODESEAL_CONFIG");
	setenv("NODESEAL_PORTS", "07447", 1);
	argv[0] = "up";
	argv[1] = NULL;
	i = 1;
	ok(ns_config_load(&c, 1, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "NODESEAL_PORTS: '07447' starts with 0") != NULL,
	   "in the environment: '%s'", err);
	unsetenv("NODESEAL_PORTS");
	argv[1] = "--ports";
	argv[2] = "07447";
	argv[3] = NULL;
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "--ports: '07447' starts with 0") != NULL, "as an option: '%s'", err);
	argv[1] = "--fwmark";
	argv[2] = "0x4e530000";
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) == 0 && c.fwmark == 0x4e530000,
	   "--fwmark 0x4e530000 (%s)", err);
}

/* One ns_config_load: a file holding body (NULL: none), the environment
 * key and key_file (NULL: unset), the option --network-key-file opt. */
static int key_load(struct ns_config *c, const char *body, const char *key,
                    const char *key_file, const char *opt, char *err, size_t errlen)
{
	static char path[] = "/tmp/test_config_key.XXXXXX";
	char *argv[] = { "up", "--network-key-file", (char *)(uintptr_t)opt, NULL };
	int i = 1, rc, fd;

	err[0] = '\0';
	unsetenv("NODESEAL_CONFIG");
	if (body != NULL) {
		memcpy(path + sizeof(path) - 7, "XXXXXX", 6);
		fd = mkstemp(path);
		if (fd < 0 || write(fd, body, strlen(body)) != (ssize_t)strlen(body))
			return -9;
		close(fd);
		setenv("NODESEAL_CONFIG", path, 1);
	}
	if (key != NULL)
		setenv("NODESEAL_NETWORK_KEY", key, 1);
	else
		unsetenv("NODESEAL_NETWORK_KEY");
	if (key_file != NULL)
		setenv("NODESEAL_NETWORK_KEY_FILE", key_file, 1);
	else
		unsetenv("NODESEAL_NETWORK_KEY_FILE");
	rc = ns_config_load(c, opt != NULL ? 3 : 1, argv, &i, err, errlen);
	if (body != NULL)
		unlink(path);
	unsetenv("NODESEAL_CONFIG");
	unsetenv("NODESEAL_NETWORK_KEY");
	unsetenv("NODESEAL_NETWORK_KEY_FILE");
	return rc;
}

static bool is(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The network key: the highest layer that gives it, inline or as a file. */
static void test_key_layers(void)
{
	static const char fkey[] = "NODESEAL_NETWORK_KEY = fkey\n",
	                  ffile[] = "NODESEAL_NETWORK_KEY_FILE = /f/file\n",
	                  fboth[] = "NODESEAL_NETWORK_KEY = fkey\nNODESEAL_NETWORK_KEY_FILE = /f/file\n";
	static const struct {
		const char *body, *key, *key_file, *opt, *want_key, *want_file, *what;
	} cases[] = {
		{ fkey, NULL, NULL, NULL, "fkey", NULL, "the file's key alone" },
		{ fkey, NULL, NULL, "/o/file", NULL, "/o/file", "--network-key-file over the file's key" },
		{ fkey, NULL, "/e/file", NULL, NULL, "/e/file", "the environment's file over the file's key" },
		{ fkey, "ekey", NULL, NULL, "ekey", NULL, "the environment's key over the file's" },
		{ ffile, "ekey", NULL, NULL, "ekey", NULL, "the environment's key over the file's file" },
		{ ffile, NULL, "/e/file", NULL, NULL, "/e/file", "the environment's file over the file's" },
		{ ffile, NULL, NULL, "/o/file", NULL, "/o/file", "an option's file over the file's" },
		{ NULL, "ekey", NULL, "/o/file", NULL, "/o/file", "an option's file over the environment's key" },
		{ fkey, "ekey", NULL, "/o/file", NULL, "/o/file", "an option over both lower layers" },
		{ ffile, "ekey", NULL, "/o/file", NULL, "/o/file", "an option over the key between" },
	};
	struct ns_config c;
	char err[512];

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int rc = key_load(&c, cases[k].body, cases[k].key, cases[k].key_file, cases[k].opt, err,
		                  sizeof(err));

		ok(rc == 0 && is(c.network_key, cases[k].want_key) &&
		   is(c.network_key_file, cases[k].want_file), "%s (%s; key %s, file %s)",
		   cases[k].what, err, c.network_key ? c.network_key : "-",
		   c.network_key_file ? c.network_key_file : "-");
	}
	/* The file's key, dropped, is wiped at once: its bytes sit 26 before
	 * the state directory's in the file's text, which settings point into. */
	ok(key_load(&c, "NODESEAL_NETWORK_KEY = fkey\nNODESEAL_STATE_DIR = /s\n", NULL, NULL,
	            "/o/file", err, sizeof(err)) == 0 && c.network_key == NULL &&
	   strcmp(c.state_dir, "/s") == 0 && memcmp(c.state_dir - 26, "\0\0\0\0", 4) == 0,
	   "the file's inline key, dropped for --network-key-file, is wiped at once (%s)", err);
	ok(key_load(&c, fboth, NULL, NULL, NULL, err, sizeof(err)) != 0 &&
	   strstr(err, "/tmp/test_config_key.") != NULL &&
	   strstr(err, "NODESEAL_NETWORK_KEY and NODESEAL_NETWORK_KEY_FILE both set") != NULL,
	   "both in the file: '%s'", err);
	ok(key_load(&c, NULL, "ekey", "/e/file", NULL, err, sizeof(err)) != 0 &&
	   strstr(err, "the environment: NODESEAL_NETWORK_KEY and NODESEAL_NETWORK_KEY_FILE both") !=
	   NULL, "both in the environment: '%s'", err);
	ok(key_load(&c, fboth, NULL, NULL, "/o/file", err, sizeof(err)) != 0,
	   "both in the file, even under an option: '%s'", err);
	ns_config_wipe_key();

	setenv("NODESEAL_MEMBERS", "chain", 1);
	setenv("NODESEAL_MEMBERS_FILE", "/etc/m", 1);
	ok(key_load(&c, NULL, NULL, NULL, NULL, err, sizeof(err)) != 0 &&
	   strstr(err, "NODESEAL_MEMBERS_FILE and NODESEAL_MEMBERS are both set in the environment") !=
	   NULL, "NODESEAL_MEMBERS and _FILE both in the environment: '%s'", err);
	unsetenv("NODESEAL_MEMBERS");
	ok(key_load(&c, "NODESEAL_MEMBERS = chain\nNODESEAL_CHAIN_DIR = /c\n", NULL, NULL, NULL, err,
	            sizeof(err)) == 0 && !c.members_chain && is(c.members_file, "/etc/m"),
	   "the environment's NODESEAL_MEMBERS_FILE over the file's NODESEAL_MEMBERS (%s)", err);
	unsetenv("NODESEAL_MEMBERS_FILE");
}

/* The layers, through ns_config_load with a real file. */
static void test_layers(void)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[128], err[512];
	const char *body = "NODESEAL_PORTS = 7001\nNODESEAL_LOG_LEVEL = debug\n"
	                   "NODESEAL_QUEUE_NUM = 5\n";
	char *argv[8];
	struct ns_config c;
	FILE *f;
	int i;

	err[0] = '\0';
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/ns.conf", dir);
	f = fopen(path, "w");
	fputs(body, f);
	fclose(f);
	chmod(path, 0600);
	unsetenv("NODESEAL_PORTS");
	unsetenv("NODESEAL_LOG_LEVEL");
	unsetenv("NODESEAL_QUEUE_NUM");
	setenv("NODESEAL_LOG_LEVEL", "warn", 1);
	argv[0] = "up";
	argv[1] = "--queue-num";
	argv[2] = "9";
	argv[3] = "--config";
	argv[4] = path;
	argv[5] = NULL;
	i = 1;
	ok(ns_config_load(&c, 5, argv, &i, err, sizeof(err)) == 0 && i == 5, "load (%s)", err);
	ok(c.nports == 1 && c.ports[0] == 7001, "the file's setting where nothing else sets it");
	ok(c.log_level == NS_LOG_WARN, "the environment wins over the file");
	ok(c.queue_num == 9, "an option wins over the file, given before --config");
	ok(c.config_file != NULL && strcmp(c.config_file, path) == 0, "config_file");
	unsetenv("NODESEAL_LOG_LEVEL");

	setenv("NODESEAL_CONFIG", path, 1);
	i = 1;
	ok(ns_config_load(&c, 1, argv, &i, err, sizeof(err)) == 0 && c.ports[0] == 7001 &&
	   c.queue_num == 5, "NODESEAL_CONFIG names the file (%s)", err);
	argv[1] = "--config";
	argv[2] = "/nonexistent/ns.conf";
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "/nonexistent/ns.conf: cannot open the config file") != NULL,
	   "--config wins over NODESEAL_CONFIG; a missing file: '%s'", err);
	unsetenv("NODESEAL_CONFIG");

	chmod(path, 0620);
	argv[2] = path;
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "mode 0620 lets the group change the settings") != NULL,
	   "a file the group can write: '%s'", err);
	chmod(path, 0600);
	argv[2] = dir;
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "not a regular file") != NULL, "a directory: '%s'", err);
	argv[2] = "";
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0 &&
	   strstr(err, "empty") != NULL, "an empty name: '%s'", err);
	argv[2] = "--help";
	i = 1;
	ok(ns_config_load(&c, 3, argv, &i, err, sizeof(err)) != 0,
	   "--config takes the next argument, even --help: '%s'", err);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_good();
	test_bad();
	test_numbers();
	test_layers();
	test_key_layers();
	return tap_done();
}
