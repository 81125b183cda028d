/*
 * test_tamper: a recorded session, altered in every way an attacker on the
 * path could, replayed into a fresh receiver.
 *
 * - every single bit of both directions' streams (handshake and the first
 *   records, the close record included) flipped in turn;
 * - each record dropped, duplicated, swapped with the next;
 * - the stream cut at every byte offset.
 * Each case must end in an error, and the receiver must have released
 * exactly the records before the damaged one, as sent, and nothing after.
 */
#include "endpoints.h"
#include "tap.h"

#define MAXT 8192

struct stream {
	uint8_t t[MAXT];
	size_t len;
	size_t hs_len;          /* handshake bytes at the start */
	size_t rec_end[8];      /* end offset of each record */
	size_t rec_plain[8];    /* plaintext released once record i is in */
	int nrec;
	uint8_t plain[MAXT];
	size_t plain_len;
};

static struct ep_keys keys;
static struct stream fwd, back;     /* initiator->responder, and back */

static void record_streams(void)
{
	static const size_t fsizes[] = { 1, 17, 300, 600 }, bsizes[] = { 5, 200, 700 };
	struct ep_side a, b;
	struct stream *st[2] = { &fwd, &back };
	const size_t *sizes[2] = { fsizes, bsizes };
	size_t nsizes[2] = { 4, 3 };

	ep_keys_fixed(&keys, 42);
	memset(&fwd, 0, sizeof(fwd));
	memset(&back, 0, sizeof(back));
	ok(ep_init(&a, &keys, 1, 1, NULL) == 0 && ep_init(&b, &keys, 0, 1, NULL) == 0, "init");
	ok(ep_handshake(&a, &b, fwd.t, &fwd.len, back.t, &back.len) == NS_OK, "handshake");
	fwd.hs_len = fwd.len;
	back.hs_len = back.len;
	for (int d = 0; d < 2; d++) {
		struct ep_side *w = d == 0 ? &a : &b;
		struct stream *s = st[d];
		for (size_t i = 0; i <= nsizes[d]; i++) {
			size_t n = i < nsizes[d] ? sizes[d][i] : 0; /* last: close */
			for (size_t j = 0; j < n; j++)
				s->plain[s->plain_len + j] = (uint8_t)(j * 31 + i + d);
			ep_seal(w, s->plain + s->plain_len, n, s->t, &s->len);
			s->plain_len += n;
			s->rec_end[s->nrec] = s->len;
			s->rec_plain[s->nrec++] = s->plain_len;
		}
	}
	ep_free(&a);
	ep_free(&b);
}

/* Plaintext a receiver may have released if damage starts at offset off. */
static size_t allowed_plain(const struct stream *s, size_t off)
{
	size_t allowed = 0;

	for (int i = 0; i < s->nrec; i++)
		if (s->rec_end[i] <= off)
			allowed = s->rec_plain[i];
	return off < s->hs_len ? 0 : allowed;
}

/* Feeds t to a fresh receiver of direction s; returns its verdict. */
static int feed(const struct stream *s, const uint8_t *t, size_t len, size_t chunk,
                uint8_t *out, size_t *outlen)
{
	struct ep_side rx;
	int forward = s == &fwd, err;

	if (ep_init(&rx, &keys, !forward, 1, NULL) != 0)
		return NS_ERR_INTERNAL;
	err = ep_receive(&rx, NULL, t, len, chunk, out, outlen);
	ep_free(&rx);
	return err;
}

static void check_intact(const struct stream *s, const char *name)
{
	static uint8_t out[MAXT];
	size_t outlen;
	int err = feed(s, s->t, s->len, 64, out, &outlen);

	ok(err == NS_OK && outlen == s->plain_len && memcmp(out, s->plain, outlen) == 0,
	   "%s: untouched stream delivered whole (%zu bytes, %s)", name, outlen, ns_strerror(err));
}

static void check_bit_flips(const struct stream *s, const char *name)
{
	static uint8_t t[MAXT], out[MAXT];
	size_t outlen, bad = 0, flips = 0;

	for (size_t bit = 0; bit < s->len * 8; bit++) {
		size_t off = bit / 8, allowed = allowed_plain(s, off);
		int err;

		memcpy(t, s->t, s->len);
		t[off] ^= (uint8_t)(1u << (bit % 8));
		err = feed(s, t, s->len, 1 + bit % 97, out, &outlen);
		flips++;
		if (err == NS_OK || outlen != allowed || memcmp(out, s->plain, outlen) != 0) {
			if (bad++ < 5)
				diag("%s: bit %zu (byte %zu): %s, %zu bytes out, %zu allowed", name, bit,
				     off, ns_strerror(err), outlen, allowed);
		}
	}
	ok(bad == 0, "%s: %zu single-bit flips, each rejected with no byte from the bad record on"
	   " (%zu wrong)", name, flips, bad);
}

/* Builds a stream from the handshake and a list of record indexes. */
static size_t splice(const struct stream *s, const int *order, int n, uint8_t *t)
{
	size_t len = s->hs_len;

	memcpy(t, s->t, s->hs_len);
	for (int i = 0; i < n; i++) {
		size_t start = order[i] == 0 ? s->hs_len : s->rec_end[order[i] - 1];
		size_t rlen = s->rec_end[order[i]] - start;
		memcpy(t + len, s->t + start, rlen);
		len += rlen;
	}
	return len;
}

static void check_record_games(const struct stream *s, const char *name)
{
	static uint8_t t[MAXT], out[MAXT];
	size_t outlen, len;
	int order[16], bad = 0, cases = 0;

	for (int k = 0; k < s->nrec; k++) {
		int n;
		size_t before = k == 0 ? 0 : s->rec_plain[k - 1];

		/* drop record k */
		n = 0;
		for (int i = 0; i < s->nrec; i++)
			if (i != k)
				order[n++] = i;
		len = splice(s, order, n, t);
		cases++;
		if (feed(s, t, len, 13, out, &outlen) == NS_OK || outlen != before) {
			diag("%s: dropping record %d not detected", name, k);
			bad++;
		}
		/* duplicate record k */
		n = 0;
		for (int i = 0; i < s->nrec; i++) {
			order[n++] = i;
			if (i == k)
				order[n++] = i;
		}
		len = splice(s, order, n, t);
		cases++;
		if (feed(s, t, len, 13, out, &outlen) == NS_OK || outlen != s->rec_plain[k]) {
			diag("%s: duplicating record %d not detected", name, k);
			bad++;
		}
		/* swap record k and k + 1 */
		if (k + 1 < s->nrec) {
			for (int i = 0; i < s->nrec; i++)
				order[i] = i == k ? k + 1 : i == k + 1 ? k : i;
			len = splice(s, order, s->nrec, t);
			cases++;
			if (feed(s, t, len, 13, out, &outlen) == NS_OK || outlen != before) {
				diag("%s: swapping records %d and %d not detected", name, k, k + 1);
				bad++;
			}
		}
	}
	ok(bad == 0, "%s: %d drop/duplicate/reorder cases detected, nothing released after", name,
	   cases);

	/* cut at every offset: the receiver sees EOF there */
	bad = 0;
	for (size_t cut = 0; cut < s->len; cut++) {
		int err = feed(s, s->t, cut, 29, out, &outlen);
		if (err == NS_OK || outlen != allowed_plain(s, cut) ||
		    memcmp(out, s->plain, outlen) != 0) {
			if (bad++ < 5)
				diag("%s: cut at %zu: %s, %zu out", name, cut, ns_strerror(err), outlen);
		}
	}
	ok(bad == 0, "%s: stream cut at each of %zu offsets reported, only whole records released",
	   name, s->len);
}

int main(void)
{
	record_streams();
	diag("forward stream %zu bytes (%d records), backward %zu bytes (%d records)", fwd.len,
	     fwd.nrec, back.len, back.nrec);
	check_intact(&fwd, "initiator->responder");
	check_intact(&back, "responder->initiator");
	check_bit_flips(&fwd, "initiator->responder");
	check_bit_flips(&back, "responder->initiator");
	check_record_games(&fwd, "initiator->responder");
	check_record_games(&back, "responder->initiator");
	return tap_done();
}
