/*
 * fuzz_tcpseg: hostile bytes as an IP packet for packet mode's parser,
 * option walker and rewriters.
 * Input: [mode][packet].  mode bit 7: the SYN rewrite adds a nonce; bits
 * 5-6: spare room in the buffer (0, 10, 20 or 64 bytes, so rewrites also
 * meet a buffer too small); bits 0-4: the MSS limit.
 * Invariants: no crash; a parsed packet's parts add up; fixed checksums
 * verify; a rewritten packet parses again, with exactly the options
 * promised and its payload intact; a rewrite that fails for room leaves
 * the packet untouched; put_mac then take_mac gives back the MAC.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/packet/tcpseg.h"

#define MAXPKT 65535

static uint8_t pkt[MAXPKT + 64], orig[MAXPKT + 64], pay[MAXPKT];

static const uint8_t value[NS_TCPSEG_OPT_VALUE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void check_parsed(const struct ns_tcpseg *s, size_t len)
{
	if (s->len != len || s->thlen < 20 || s->thlen > 60 || s->l4 + s->thlen + s->paylen != len)
		abort();
}

static void reparse(struct ns_tcpseg *s)
{
	struct ns_tcpseg t;
	struct ns_tcpopts o;

	if (ns_tcpseg_parse(&t, s->pkt, s->len) != 0 || t.thlen != s->thlen ||
	    t.paylen != s->paylen || ns_tcpseg_opts(&t, &o) != 0)
		abort();
	ns_tcpseg_fix_checksums(s);
	if (!ns_tcpseg_checksums_ok(s))
		abort();
}

static void unchanged(const struct ns_tcpseg *s, size_t len)
{
	if (s->len != len || memcmp(pkt, orig, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t slack[4] = { 0, 10, 20, 64 };
	struct ns_tcpseg s;
	struct ns_tcpopts o;
	uint8_t mode, got[NS_TCPSEG_OPT_VALUE_LEN];
	size_t len, cap, paylen;
	uint16_t mss_max;
	int rc;

	if (size < 1 || size - 1 > MAXPKT)
		return 0;
	mode = data[0];
	len = size - 1;
	cap = len + slack[(mode >> 5) & 3];
	mss_max = (uint16_t)(mode & 31 ? 60 + 45 * (mode & 31) : 1440);
	memcpy(pkt, data + 1, len);
	if (ns_tcpseg_parse(&s, pkt, len) != 0)
		return 0;
	check_parsed(&s, len);
	ns_tcpseg_fix_checksums(&s);
	if (!ns_tcpseg_checksums_ok(&s))
		abort();
	if (ns_tcpseg_opts(&s, &o) != 0) {
		if (ns_tcpseg_get_value(&s, got) != NS_TCPSEG_BAD)
			abort();
		return 0;
	}
	if (o.end > s.thlen - 20)
		abort();
	memcpy(orig, pkt, len);

	if (ns_tcpseg_flags(&s) & NS_TCP_SYN) {
		int with = (mode & 0x80) != 0;

		rc = ns_tcpseg_syn_rewrite(&s, cap, mss_max, with ? value : NULL);
		if (rc == NS_TCPSEG_NOSPACE || rc == NS_TCPSEG_BAD) {
			unchanged(&s, len);
			return 0;
		}
		if (rc != 0 || s.len > cap)
			abort();
		reparse(&s);
		ns_tcpseg_opts(&s, &o);
		if (o.mss != 0 || o.sackok >= 0 || o.sack >= 0 || o.others != 0 || s.paylen != 0)
			abort();
		if ((ns_tcpseg_opt_area(&s)[2] << 8 | ns_tcpseg_opt_area(&s)[3]) > mss_max)
			abort();
		if (ns_tcpseg_get_value(&s, got) != with ||
		    (with && memcmp(got, value, sizeof(value)) != 0))
			abort();
		return 0;
	}

	/* Incoming path on the packet as it is. */
	rc = ns_tcpseg_take_mac(&s, got);
	if (rc == 0) {
		if (s.len > len)
			abort();
		reparse(&s);
	} else if (rc != NS_TCPSEG_BAD || o.ns >= 0) {
		abort();
	}

	/* Outgoing path, then incoming on the result. */
	memcpy(pkt, orig, len);
	ns_tcpseg_parse(&s, pkt, len);
	paylen = s.paylen;
	memcpy(pay, ns_tcpseg_payload(&s), paylen);
	rc = ns_tcpseg_put_mac(&s, cap, value);
	if (rc == NS_TCPSEG_NOSPACE || rc == NS_TCPSEG_UNSUPP) {
		if (rc == NS_TCPSEG_UNSUPP && o.others == 0)
			abort();
		unchanged(&s, len);
		return 0;
	}
	if (rc != 0 || s.len > cap || s.paylen != paylen || memcmp(ns_tcpseg_payload(&s), pay, paylen) != 0)
		abort();
	reparse(&s);
	if (ns_tcpseg_get_value(&s, got) != 1 || memcmp(got, value, sizeof(value)) != 0)
		abort();
	memset(got, 0, sizeof(got));
	if (ns_tcpseg_take_mac(&s, got) != 0 || memcmp(got, value, sizeof(value)) != 0 ||
	    s.paylen != paylen || memcmp(ns_tcpseg_payload(&s), pay, paylen) != 0)
		abort();
	reparse(&s);
	ns_tcpseg_opts(&s, &o);
	if (o.ns >= 0 || o.others != 0 || o.sack >= 0 || o.mss >= 0)
		abort();
	return 0;
}
