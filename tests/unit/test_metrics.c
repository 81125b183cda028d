/*
 * test_metrics: the Prometheus text of the counts (src/daemon/metrics_text.c).
 * - every line is a HELP or TYPE comment or a sample "name{labels} value";
 *   each family's HELP and TYPE come before its samples, once; names start
 *   nodeseal_, and counters, only they, end in _total;
 * - the figures are the ones gathered: build info, connections by mode,
 *   state, sealed and direction, handshakes by outcome and reason, bytes,
 *   records, rekeys, segments, rules, peers;
 * - each mode shows its own families and not the other's;
 * - records and rekeys as the relay reads them from a session's nonce
 *   counts match what the record layer did: 32769 records each way, one
 *   rekey each way (ns_relay_conn_totals).
 * - the endpoint's connections (src/daemon/metrics.c): a request already
 *   in, whether it came before or after the accept, is answered, not
 *   evicted by a burst of 8 idle newcomers in the same loop round; with 8
 *   half requests the oldest makes room for a scraper; a request followed
 *   by more bytes (pipelined) is answered, not lost to a reset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/daemon/daemon.h"
#include "../../src/daemon/metrics.h"
#include "../../src/util/version.h"
#include "record_dir.h"
#include "tap.h"

/* The format checks of the whole text; returns the number of problems. */
static int check_format(const char *text)
{
	char typed[64][64], helped[64][64], type[64][16];
	int ntyped = 0, nhelped = 0, bad = 0;
	const char *l = text;

	while (*l) {
		const char *e = strchr(l, '\n');
		char line[512], name[64];
		size_t n;

		if (e == NULL) {
			diag("no newline at the end");
			return bad + 1;
		}
		n = (size_t)(e - l);
		if (n >= sizeof(line)) {
			bad++;
			l = e + 1;
			continue;
		}
		memcpy(line, l, n);
		line[n] = '\0';
		l = e + 1;
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			char kind[16] = "";
			if (sscanf(line + 7, "%63s %15s", name, kind) < 1 ||
			    strncmp(name, "nodeseal_", 9) != 0) {
				diag("bad comment: %s", line);
				bad++;
				continue;
			}
			if (line[2] == 'H') {
				for (int i = 0; i < nhelped; i++)
					bad += strcmp(helped[i], name) == 0;
				if (nhelped < 64)
					strcpy(helped[nhelped++], name);
				continue;
			}
			for (int i = 0; i < ntyped; i++)
				bad += strcmp(typed[i], name) == 0;
			if (strcmp(kind, "counter") != 0 && strcmp(kind, "gauge") != 0)
				bad++;
			n = strlen(name);
			if ((strcmp(kind, "counter") == 0) != (n > 6 && strcmp(name + n - 6, "_total") == 0)) {
				diag("%s: %s and _total do not go together", name, kind);
				bad++;
			}
			if (ntyped < 64) {
				strcpy(type[ntyped], kind);
				strcpy(typed[ntyped++], name);
			}
			continue;
		}
		/* A sample: name, optional {labels}, a space, a number. */
		{
			size_t k = strspn(line, "abcdefghijklmnopqrstuvwxyz_");
			const char *v;
			char *end;
			int seen = 0;

			memcpy(name, line, k < 63 ? k : 63);
			name[k < 63 ? k : 63] = '\0';
			for (int i = 0; i < ntyped; i++)
				seen += strcmp(typed[i], name) == 0;
			for (int i = 0; i < nhelped; i++)
				seen += strcmp(helped[i], name) == 0;
			if (seen != 2) {
				diag("sample before its HELP and TYPE: %s", line);
				bad++;
			}
			v = line + k;
			if (*v == '{') {
				v = strchr(v, '}');
				if (v == NULL) {
					bad++;
					continue;
				}
				v++;
			}
			if (*v != ' ') {
				diag("no value: %s", line);
				bad++;
				continue;
			}
			(void)strtod(v + 1, &end);
			if (end == v + 1 || *end != '\0') {
				diag("bad value: %s", line);
				bad++;
			}
		}
	}
	return bad;
}

static int has(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void test_proxy(void)
{
	struct ns_stats s;
	struct ns_strbuf o = { 0 };
	char build[128];

	memset(&s, 0, sizeof(s));
	s.mode = NS_MODE_PROXY;
	s.kinds[0] = (struct ns_stats_conns){ "relay", true, true, 3 };
	s.kinds[1] = (struct ns_stats_conns){ "handshake", true, false, 1 };
	s.kinds[2] = (struct ns_stats_conns){ "relay", false, false, 2 };
	s.nkinds = 3;
	s.conns = 6;
	s.relay.refused = 9;
	s.relay.refused_by[NS_R_AUTH] = 4;
	s.relay.refused_by[NS_R_NOT_MEMBER] = 5;
	s.relay.totals = (struct ns_relay_totals){ .handshakes = 7, .clear = 2, .bytes_out = 1000,
	                                           .bytes_in = 2000, .records_out = 10,
	                                           .records_in = 20, .rekeys = 1 };
	s.rules_restored = 3;
	s.peers_sealed = 4;
	s.peers_clear = 1;
	s.policy = NS_POLICY_OPPORTUNISTIC;
	s.members_on = true;
	s.members = 5;
	s.netkeys = 2;
	s.scrapes = 8;
	ns_metrics_text(&s, &o);
	ok(o.p != NULL && !o.oom, "a text");
	if (o.p == NULL)
		return;
	ok(check_format(o.p) == 0, "the format holds");
	snprintf(build, sizeof(build), "nodeseal_build_info{version=\"%s\",mode=\"proxy\"} 1",
	         NS_VERSION);
	ok(has(o.p, build), "build info");
	ok(has(o.p, "nodeseal_connections{mode=\"proxy\",state=\"relay\",sealed=\"true\","
	       "direction=\"out\"} 3"), "connections: sealed out relaying");
	ok(has(o.p, "nodeseal_connections{mode=\"proxy\",state=\"handshake\",sealed=\"true\","
	       "direction=\"in\"} 1"), "connections: in handshake");
	ok(has(o.p, "nodeseal_connections{mode=\"proxy\",state=\"relay\",sealed=\"false\","
	       "direction=\"in\"} 2"), "connections: in clear");
	ok(has(o.p, "nodeseal_handshakes_total{outcome=\"ok\"} 7") &&
	   has(o.p, "nodeseal_handshakes_total{outcome=\"failed\"} 9"), "handshakes by outcome");
	ok(has(o.p, "nodeseal_handshake_failures_total{reason=\"authentication\"} 4") &&
	   has(o.p, "nodeseal_handshake_failures_total{reason=\"not_member\"} 5") &&
	   has(o.p, "nodeseal_handshake_failures_total{reason=\"timeout\"} 0"),
	   "failures by reason, every reason listed");
	ok(has(o.p, "nodeseal_strangers_refused_total 4"), "strangers: authentication failures");
	ok(has(o.p, "nodeseal_bytes_total{direction=\"out\"} 1000") &&
	   has(o.p, "nodeseal_bytes_total{direction=\"in\"} 2000"), "bytes each way");
	ok(has(o.p, "nodeseal_records_total{direction=\"out\"} 10") &&
	   has(o.p, "nodeseal_records_total{direction=\"in\"} 20"), "records each way");
	ok(has(o.p, "nodeseal_rekeys_total 1") && has(o.p, "nodeseal_clear_connections_total 2"),
	   "rekeys, clear connections");
	ok(has(o.p, "nodeseal_rules_restored_total 3") && has(o.p, "nodeseal_rules_missing 0"),
	   "rules");
	ok(has(o.p, "nodeseal_peers{state=\"sealed\"} 4") && has(o.p, "nodeseal_peers{state=\"clear\"} 1"),
	   "peers");
	ok(has(o.p, "nodeseal_policy_required 0") && has(o.p, "nodeseal_members 5") &&
	   has(o.p, "nodeseal_network_keys 2") && has(o.p, "nodeseal_metrics_requests_total 8"),
	   "policy, members, keys, requests");
	ok(strstr(o.p, "segments_total") == NULL && strstr(o.p, "queue_") == NULL,
	   "no packet-mode family");
	free(o.p);
}

static void test_packet(void)
{
	struct ns_stats s;
	struct ns_strbuf o = { 0 };

	memset(&s, 0, sizeof(s));
	s.mode = NS_MODE_PACKET;
	s.q.segments[NS_FC_OUT] = 11;
	s.q.segments[NS_FC_IN] = 12;
	s.q.segments[NS_FC_BAD_MAC] = 2;
	s.q.segments[NS_FC_UNKNOWN_KEY] = 3;
	s.q.payload_out = 5000;
	s.q.payload_in = 6000;
	s.q.st.packets = 23;
	s.rules_missing = true;
	s.policy = NS_POLICY_REQUIRED;
	ns_metrics_text(&s, &o);
	if (o.p == NULL) {
		ok(0, "a text");
		return;
	}
	ok(check_format(o.p) == 0, "the format holds");
	ok(has(o.p, "nodeseal_connections{mode=\"packet\",state=\"open\",sealed=\"true\","
	       "direction=\"out\"} 0"), "no connection: a zero sample still");
	ok(has(o.p, "nodeseal_segments_total{result=\"sealed\"} 11") &&
	   has(o.p, "nodeseal_segments_total{result=\"opened\"} 12") &&
	   has(o.p, "nodeseal_segments_total{result=\"clear_ended\"} 0"), "segments by result");
	ok(has(o.p, "nodeseal_strangers_refused_total 5"), "strangers: bad MAC and unknown key");
	ok(has(o.p, "nodeseal_bytes_total{direction=\"out\"} 5000") &&
	   has(o.p, "nodeseal_bytes_total{direction=\"in\"} 6000"), "payload bytes each way");
	ok(has(o.p, "nodeseal_queue_packets_total 23") && has(o.p, "nodeseal_rules_missing 1") &&
	   has(o.p, "nodeseal_policy_required 1"), "queue, rules, policy");
	ok(strstr(o.p, "records_total") == NULL && strstr(o.p, "handshake") == NULL &&
	   strstr(o.p, "nodeseal_members ") == NULL, "no proxy-mode family, no members list");
	free(o.p);
}

/* Seals n one-byte records in tx and opens them in rx; 0 if all went. */
static int exchange(struct ns_record_dir *tx, struct ns_record_dir *rx, int n)
{
	uint8_t buf[NS_RECORD_OVERHEAD + 1], *p, type;
	size_t used, plen;

	for (int i = 0; i < n; i++) {
		buf[NS_RECORD_HDR_LEN] = (uint8_t)i;
		if (ns_record_seal(tx, NS_RECORD_DATA, buf + NS_RECORD_HDR_LEN, 1, buf) != NS_OK ||
		    ns_record_open(rx, buf, sizeof(buf), &used, &p, &plen, &type) != 1 || plen != 1 ||
		    p[0] != (uint8_t)i)
			return -1;
	}
	return 0;
}

static void test_record_totals(void)
{
	struct ns_conn *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct ns_relay_totals ta = { 0 }, tb = { 0 };
	/* NS_REKEY_NONCES / 2 records a key, and one more: a rekey each way. */
	int n = NS_REKEY_NONCES / 2 + 1;

	if (a == NULL || b == NULL || record_dir_keyed(&a->session.tx, 1) != 0 ||
	    record_dir_keyed(&b->session.rx, 1) != 0 || record_dir_keyed(&b->session.tx, 2) != 0 ||
	    record_dir_keyed(&a->session.rx, 2) != 0) {
		ok(0, "sessions set up");
		goto out;
	}
	a->has_session = b->has_session = true;
	a->bytes_out = 7;
	a->bytes_in = 9;
	ns_relay_conn_totals(a, &ta);
	ok(ta.records_out == 0 && ta.records_in == 0 && ta.rekeys == 0 && ta.bytes_out == 7 &&
	   ta.bytes_in == 9, "a fresh session: bytes only");
	ok(exchange(&a->session.tx, &b->session.rx, n) == 0 &&
	   exchange(&b->session.tx, &a->session.rx, 3) == 0, "records sealed and opened");
	memset(&ta, 0, sizeof(ta));
	ns_relay_conn_totals(a, &ta);
	ns_relay_conn_totals(b, &tb);
	ok(ta.records_out == (uint64_t)n && ta.records_in == 3, "records each way: %llu, %llu",
	   (unsigned long long)ta.records_out, (unsigned long long)ta.records_in);
	ok(tb.records_in == (uint64_t)n && tb.records_out == 3, "the peer's: the same, crossed");
	ok(ta.rekeys == 1 && tb.rekeys == 1, "one rekey past %d records: %llu, %llu",
	   NS_REKEY_NONCES / 2, (unsigned long long)ta.rekeys, (unsigned long long)tb.rekeys);
	ok(exchange(&b->session.tx, &a->session.rx, n) == 0, "back the other way");
	memset(&ta, 0, sizeof(ta));
	ns_relay_conn_totals(a, &ta);
	ok(ta.rekeys == 2 && ta.records_in == (uint64_t)n + 3, "a rekey each way");
	ta.records_out = 0;
	ns_relay_conn_totals(b, &ta);
	ok(ta.records_out == (uint64_t)n + 3, "totals add up over connections");
out:
	if (a != NULL) {
		ns_session_free(&a->session);
		free(a);
	}
	if (b != NULL) {
		ns_session_free(&b->session);
		free(b);
	}
}

/* The endpoint's sockets, over real loopback sockets and the real loop
 * (only non-200 answers, so no daemon state is gathered). */
static struct ns_daemon d;
static struct ns_metrics m;
static struct ns_hostport at;

static int dial(void)
{
	struct sockaddr_in a = *(struct sockaddr_in *)&at.sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	return fd;
}

static void spin(int rounds)
{
	for (int i = 0; i < rounds; i++)
		ns_loop_wait(&d.loop, 20);
}

/* What the client reads within 200 ms: >0 bytes, 0 EOF, -errno. */
static ssize_t answer_of(int fd, char *buf, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 200) <= 0)
		return -ETIMEDOUT;
	n = recv(fd, buf, cap - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

static void test_evicted_with_request_in(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char buf[512];
	int p, idle[NS_METRICS_CONNS];
	ssize_t n;

	p = dial();
	ok(p >= 0 && send(p, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1,
	   "the scraper connects and sends its whole request");
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		idle[i] = dial();
	/* Only now does the daemon run: one listener callback sees 9. */
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	diag("scraper got %zd: %.20s", n, n > 0 ? buf : "");
	ok(n > 0 && strncmp(buf, "HTTP/1.1 404", 12) == 0,
	   "a request already received is answered, not evicted by 8 idle newcomers "
	   "(evicted=%llu)", (unsigned long long)m.evicted);
	close(p);
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		close(idle[i]);
	spin(3);
}

/* The request arrives after the accept, in the same loop round as a burst
 * of 8 newcomers: read before anyone is evicted, so answered. */
static void test_request_after_accept(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char buf[512];
	int p = dial(), idle[NS_METRICS_CONNS];
	ssize_t n;

	spin(2);
	ok(p >= 0 && send(p, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1,
	   "a scraper accepted, then its request");
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		idle[i] = dial();
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 404", 12) == 0,
	   "answered, though 8 newcomers came in the round its request did");
	close(p);
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		close(idle[i]);
	spin(3);
}

/* The bound holds: 8 connections with half a request each, then a
 * scraper: the oldest half request makes room, the scraper is answered. */
static void test_partial_evicted(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char buf[512];
	int p, half[NS_METRICS_CONNS];
	uint64_t before = m.evicted;
	ssize_t n;

	for (int i = 0; i < NS_METRICS_CONNS; i++) {
		half[i] = dial();
		(void)send(half[i], "GET /x HT", 9, 0);
	}
	spin(3);
	p = dial();
	(void)send(p, req, sizeof(req) - 1, 0);
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	ok(n > 0 && strncmp(buf, "HTTP/1.1 404", 12) == 0 && m.evicted == before + 1,
	   "8 half requests: one evicted (%llu), the scraper answered",
	   (unsigned long long)(m.evicted - before));
	n = answer_of(half[0], buf, sizeof(buf));
	ok(n == 0 || n == -ECONNRESET, "the oldest half request was the one closed (%zd)", n);
	close(p);
	for (int i = 0; i < NS_METRICS_CONNS; i++)
		close(half[i]);
	spin(3);
}

static void test_unread_input_rst(void)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
	char buf[512];
	int p = dial();
	ssize_t n;

	ok(send(p, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1, "pipelined requests sent");
	spin(5);
	n = answer_of(p, buf, sizeof(buf));
	diag("client got %zd (%s)", n, n < 0 ? strerror((int)-n) : "bytes");
	ok(n > 0, "the first answer is readable, not lost to a reset");
	close(p);
	spin(2);
}

static void test_endpoint(void)
{
	char err[256], spec[32];

	if (ns_loop_init(&d.loop) != 0) {
		ok(0, "loop");
		return;
	}
	ns_metrics_init(&m, &d);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", 40000 + getpid() % 20000);
	if (ns_hostport_parse(spec, &at) != 0 || ns_metrics_open(&m, &at, err, sizeof(err)) != 0) {
		ok(0, "metrics endpoint on %s: %s", spec, err);
		ns_loop_close(&d.loop);
		return;
	}
	test_evicted_with_request_in();
	test_request_after_accept();
	test_partial_evicted();
	test_unread_input_rst();
	ns_metrics_close(&m);
	ns_loop_close(&d.loop);
}

int main(void)
{
	test_proxy();
	test_packet();
	test_record_totals();
	test_endpoint();
	return tap_done();
}
