/*
 * test_proving: the PROVING pump of --members chain (src/relay/pump.c)
 * over socketpairs, without a daemon.
 * - our proof record is sealed and sent, and the peer opens it as a proof;
 * - the peer's proof is read, and the records the peer sent right after it
 *   in the same segment stay buffered and reach the node through the down
 *   pump, whole and in order;
 * - a first record that is DATA, or a malformed proof, is refused
 *   (bad_proof); a proof record later in the stream ends the connection.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/relay/pump.h"
#include "../../src/relay/relay.h"
#include "record_dir.h"
#include "tap.h"

#define ADDR "1DtiKZNiKM1gFGoaYkQA1qQHHzVcLeRXWu"
#define SIG "H2x0W3Qq9vUjV1Q3bEJZbx+o9bX7Yd3Hk/0S1o5cT1c="

static struct ns_relay relay;

struct rig {
	struct ns_conn c;
	int peer, node;                 /* the test's ends */
	struct ns_record_dir peer_tx, peer_rx;
};

static int rig_up(struct rig *g)
{
	int rv[2], lv[2];

	memset(g, 0, sizeof(*g));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, rv) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, lv) != 0)
		return -1;
	g->c.relay = &relay;
	g->c.remote.fd = rv[0];
	g->c.local.fd = lv[0];
	g->peer = rv[1];
	g->node = lv[1];
	g->c.rcvlowat = 1;
	if (record_dir_keyed(&g->c.session.rx, 5) != 0 || record_dir_keyed(&g->peer_tx, 5) != 0 ||
	    record_dir_keyed(&g->c.session.tx, 9) != 0 || record_dir_keyed(&g->peer_rx, 9) != 0)
		return -1;
	g->c.has_session = true;
	return 0;
}

static void rig_down(struct rig *g)
{
	ns_pump_release(&g->c);
	close(g->c.remote.fd);
	close(g->c.local.fd);
	close(g->peer);
	close(g->node);
	noise_cipher_free(&g->c.session.rx.cs);
	noise_cipher_free(&g->c.session.tx.cs);
	noise_cipher_free(&g->peer_tx.cs);
	noise_cipher_free(&g->peer_rx.cs);
}

/* Seals a record from the peer into out; its length. */
static size_t peer_record(struct rig *g, uint8_t type, const void *p, size_t len, uint8_t *out)
{
	memcpy(out + NS_RECORD_HDR_LEN, p, len);
	if (ns_record_seal(&g->peer_tx, type, out + NS_RECORD_HDR_LEN, len, out) != NS_OK)
		return 0;
	return ns_record_wire_len(len);
}

static size_t proof_payload(uint8_t *out)
{
	struct ns_proof p;

	memset(&p, 0, sizeof(p));
	strcpy(p.addr, ADDR);
	strcpy(p.sig, SIG);
	return (size_t)ns_proof_encode(&p, out, NS_PROOF_MAX);
}

static void test_proof_then_data(void)
{
	static uint8_t wire[4096], got[4096];
	uint8_t proof[NS_PROOF_MAX], *p, type;
	struct ns_wants w = { 0, 0 };
	struct ns_proof theirs;
	struct rig g;
	const char *why = "";
	size_t n = 0, plen, used, plen_ours = proof_payload(proof);
	ssize_t r;
	int rc;

	if (rig_up(&g) != 0) {
		ok(0, "rig");
		return;
	}
	ok(ns_pump_proof_queue(&g.c, proof, plen_ours) == 0, "our proof queued");
	n += peer_record(&g, NS_RECORD_PROOF, proof, plen_ours, wire + n);
	n += peer_record(&g, NS_RECORD_DATA, "first", 5, wire + n);
	n += peer_record(&g, NS_RECORD_DATA, "second", 6, wire + n);
	ok(write(g.peer, wire, n) == (ssize_t)n, "the peer's proof and two records, one write");
	rc = ns_pump_proving(&g.c, &w, &why);
	ok(rc == 0 && g.c.proof_in && strcmp(g.c.proof.addr, ADDR) == 0 &&
	   strcmp(g.c.proof.sig, SIG) == 0, "the peer's proof read (%s)", rc ? why : "ok");
	ok(g.c.up.data == NULL, "ours all sent");
	ok(g.c.down.data != NULL && g.c.down.end - g.c.down.start ==
	   ns_record_wire_len(5) + ns_record_wire_len(6), "the records after it stay buffered");
	r = read(g.peer, got, sizeof(got));
	ok(r == (ssize_t)ns_record_wire_len(plen_ours) &&
	   ns_record_open(&g.peer_rx, got, (size_t)r, &used, &p, &plen, &type) == 1 &&
	   type == NS_RECORD_PROOF && ns_proof_parse(p, plen, &theirs) == 0 &&
	   strcmp(theirs.addr, ADDR) == 0, "the peer opens ours as a proof");
	/* The verdict: on to the relay, which delivers what was buffered. */
	memset(&w, 0, sizeof(w));
	rc = ns_pump_down(&g.c, &w, &why);
	r = read(g.node, got, sizeof(got));
	ok(rc == 0 && r == 11 && memcmp(got, "firstsecond", 11) == 0,
	   "the node gets the buffered records, in order (%zd bytes)", r);
	/* A later proof record ends the stream. */
	n = peer_record(&g, NS_RECORD_PROOF, proof, plen_ours, wire);
	ok(write(g.peer, wire, n) == (ssize_t)n, "a second proof record");
	memset(&w, 0, sizeof(w));
	rc = ns_pump_down(&g.c, &w, &why);
	ok(rc < 0 && strstr(why, "proof"), "refused in the stream: %s", why);
	r = read(g.node, got, sizeof(got));
	ok(r < 0, "nothing of it reaches the node");
	rig_down(&g);
}

static void test_refused_first(int kind)
{
	static uint8_t wire[4096];
	uint8_t proof[NS_PROOF_MAX];
	struct ns_wants w = { 0, 0 };
	struct rig g;
	const char *why = "";
	size_t n, plen = proof_payload(proof);
	int rc;

	if (rig_up(&g) != 0) {
		ok(0, "rig");
		return;
	}
	if (kind == 0) {
		n = peer_record(&g, NS_RECORD_DATA, "hello", 5, wire);
	} else {
		proof[0] = 3; /* an address of 3 characters */
		n = peer_record(&g, NS_RECORD_PROOF, proof, plen, wire);
	}
	ok(write(g.peer, wire, n) == (ssize_t)n, "the peer's first record");
	rc = ns_pump_proving(&g.c, &w, &why);
	ok(rc < 0 && g.c.refusal == NS_R_BAD_PROOF && !g.c.proof_in,
	   "%s first: refused as bad_proof (%s)", kind == 0 ? "DATA" : "a malformed proof", why);
	rig_down(&g);
}

int main(void)
{
	ns_pool_init(&relay.pool, NS_BUF_SIZE);
	test_proof_then_data();
	test_refused_first(0);
	test_refused_first(1);
	ns_pool_free(&relay.pool);
	return tap_done();
}
