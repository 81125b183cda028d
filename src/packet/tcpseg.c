/*
 * tcpseg.c: parsing, option rewriting and checksums of TCP segments in raw
 * IPv4/IPv6 packets (see tcpseg.h).
 *
 * Every length comes from the network, so each is checked against the
 * bytes actually present before it is used, and the option walker rejects
 * any list a strict reading of RFC 9293 would not accept: a packet the
 * daemon might misread is a packet it must drop.
 */
#include <arpa/inet.h>
#include <string.h>

#include "tcpseg.h"

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WS 3
#define OPT_SACKOK 4
#define OPT_SACK 5
#define OPT_TS 8

#define IPPROTO_TCP_ 6
#define MSS_DEFAULT_V4 536   /* RFC 9293 3.7.1, without an MSS option */
#define MSS_DEFAULT_V6 1220  /* RFC 8200: 1280 - 60 */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv6 next-header values that are extension headers (RFC 8200 and the
 * IANA list), or protocols that can wrap TCP: a TCP segment may hide behind
 * them, so they are not "not TCP" but "cannot handle". */
static bool ipv6_ext(uint8_t nh)
{
	switch (nh) {
	case 0: case 43: case 44: case 50: case 51: case 60: case 135: case 139:
	case 140: case 253: case 254:
		return true;
	default:
		return false;
	}
}

int ns_tcpseg_parse(struct ns_tcpseg *s, uint8_t *pkt, size_t len)
{
	size_t l4len;
	uint8_t proto;

	memset(s, 0, sizeof(*s));
	if (len < 1)
		return NS_TCPSEG_BAD;
	if (pkt[0] >> 4 == 4) {
		if (len < 20)
			return NS_TCPSEG_BAD;
		s->l4 = (size_t)(pkt[0] & 15) * 4;
		if (s->l4 < 20 || s->l4 > len || be16(pkt + 2) != len)
			return NS_TCPSEG_BAD;
		proto = pkt[9];
		/* A fragment's TCP header may be missing or split; reassembly
		 * happens (if at all) in the kernel before the queue. */
		if ((be16(pkt + 6) & 0x3fff) != 0)
			return proto == IPPROTO_TCP_ ? NS_TCPSEG_UNSUPP : NS_TCPSEG_NOT_TCP;
	} else if (pkt[0] >> 4 == 6) {
		if (len < 40 || be16(pkt + 4) == 0 || (size_t)be16(pkt + 4) + 40 != len)
			return NS_TCPSEG_BAD;
		s->ipv6 = true;
		s->l4 = 40;
		proto = pkt[6];
		if (ipv6_ext(proto))
			return NS_TCPSEG_UNSUPP;
	} else {
		return NS_TCPSEG_BAD;
	}
	if (proto != IPPROTO_TCP_)
		return NS_TCPSEG_NOT_TCP;
	l4len = len - s->l4;
	if (l4len < 20)
		return NS_TCPSEG_BAD;
	s->thlen = (size_t)(pkt[s->l4 + 12] >> 4) * 4;
	if (s->thlen < 20 || s->thlen > l4len)
		return NS_TCPSEG_BAD;
	s->pkt = pkt;
	s->len = len;
	s->paylen = l4len - s->thlen;
	return 0;
}

static bool is_ours(const uint8_t *opt, size_t olen)
{
	return opt[0] == NS_TCPSEG_OPT_KIND && olen >= 4 && be16(opt + 2) == NS_TCPSEG_EXID;
}

/* Records an option that may appear once; a second is malformed. */
static int once(int *slot, size_t pos, size_t olen, size_t want)
{
	if (*slot >= 0 || olen != want)
		return -1;
	*slot = (int)pos;
	return 0;
}

int ns_tcpseg_opts(const struct ns_tcpseg *s, struct ns_tcpopts *o)
{
	const uint8_t *a = ns_tcpseg_opt_area(s);
	size_t n = s->thlen - 20, pos = 0;

	o->mss = o->ws = o->sackok = o->ts = o->sack = o->ns = -1;
	o->others = 0;
	o->end = n;
	while (pos < n) {
		size_t olen;
		int rc = 0;

		if (a[pos] == OPT_EOL) {
			o->end = pos;
			/* RFC 9293: the padding after EOL is zeros. */
			for (size_t i = pos + 1; i < n; i++)
				if (a[i] != 0)
					return NS_TCPSEG_BAD;
			return 0;
		}
		if (a[pos] == OPT_NOP) {
			pos++;
			continue;
		}
		if (n - pos < 2 || (olen = a[pos + 1]) < 2 || olen > n - pos)
			return NS_TCPSEG_BAD;
		switch (a[pos]) {
		case OPT_MSS: rc = once(&o->mss, pos, olen, 4); break;
		case OPT_WS: rc = once(&o->ws, pos, olen, 3); break;
		case OPT_SACKOK: rc = once(&o->sackok, pos, olen, 2); break;
		case OPT_TS: rc = once(&o->ts, pos, olen, 10); break;
		case OPT_SACK:
			/* 1 to 4 blocks of 8 bytes (RFC 2018). */
			if (olen < 10 || (olen - 2) % 8 != 0)
				return NS_TCPSEG_BAD;
			rc = once(&o->sack, pos, olen, olen);
			break;
		default:
			if (is_ours(a + pos, olen))
				rc = once(&o->ns, pos, olen, NS_TCPSEG_OPT_LEN);
			else
				o->others++;
		}
		if (rc != 0)
			return NS_TCPSEG_BAD;
		pos += olen;
	}
	return 0;
}

int ns_tcpseg_get_value(const struct ns_tcpseg *s, uint8_t value[NS_TCPSEG_OPT_VALUE_LEN])
{
	struct ns_tcpopts o;

	if (ns_tcpseg_opts(s, &o) != 0)
		return NS_TCPSEG_BAD;
	if (o.ns < 0)
		return 0;
	memcpy(value, ns_tcpseg_opt_area(s) + o.ns + 4, NS_TCPSEG_OPT_VALUE_LEN);
	return 1;
}

static size_t put_ours(uint8_t *p, const uint8_t value[NS_TCPSEG_OPT_VALUE_LEN])
{
	p[0] = NS_TCPSEG_OPT_KIND;
	p[1] = NS_TCPSEG_OPT_LEN;
	put16(p + 2, NS_TCPSEG_EXID);
	memcpy(p + 4, value, NS_TCPSEG_OPT_VALUE_LEN);
	return NS_TCPSEG_OPT_LEN;
}

/* Timestamps as Linux aligns them: NOP, NOP, then the 10-byte option. */
static size_t put_ts(uint8_t *p, const uint8_t *ts)
{
	p[0] = p[1] = OPT_NOP;
	memcpy(p + 2, ts, 10);
	return 12;
}

/*
 * Replaces the option area with opts (n bytes, padded here with EOL to a
 * multiple of 4) and, without keep_payload, drops the payload.  The payload
 * moves to its new place; the IP length field follows.  The new packet
 * must fit cap and the IP length field.
 */
static int set_opts(struct ns_tcpseg *s, size_t cap, uint8_t *opts, size_t n, bool keep_payload)
{
	size_t padded = (n + 3) & ~(size_t)3, thlen = 20 + padded;
	size_t paylen = keep_payload ? s->paylen : 0;
	size_t newlen = s->l4 + thlen + paylen;
	uint8_t *tcp = ns_tcpseg_tcp(s);

	if (padded > NS_TCPSEG_MAX_OPTS)
		return NS_TCPSEG_NOSPACE;
	if (newlen > cap || newlen - (s->ipv6 ? 40 : 0) > 65535)
		return NS_TCPSEG_NOSPACE;
	memset(opts + n, OPT_EOL, padded - n);
	if (paylen > 0)
		memmove(tcp + thlen, tcp + s->thlen, paylen);
	memcpy(tcp + 20, opts, padded);
	tcp[12] = (uint8_t)((thlen / 4) << 4 | (tcp[12] & 0x0f));
	if (s->ipv6)
		put16(s->pkt + 4, (uint16_t)(newlen - 40));
	else
		put16(s->pkt + 2, (uint16_t)newlen);
	s->thlen = thlen;
	s->paylen = paylen;
	s->len = newlen;
	return 0;
}

int ns_tcpseg_syn_rewrite(struct ns_tcpseg *s, size_t cap, uint16_t mss_max,
                          const uint8_t nonce[NS_TCPSEG_OPT_VALUE_LEN])
{
	const uint8_t *a = ns_tcpseg_opt_area(s);
	uint8_t opts[NS_TCPSEG_MAX_OPTS + 3];
	uint8_t flags = ns_tcpseg_flags(s);
	struct ns_tcpopts o;
	uint16_t mss;
	size_t n = 0;

	if ((flags & NS_TCP_SYN) == 0 || (flags & (NS_TCP_RST | NS_TCP_FIN)) != 0)
		return NS_TCPSEG_BAD;
	if (mss_max < NS_TCPSEG_MIN_MSS)
		return NS_TCPSEG_NOSPACE;
	if (ns_tcpseg_opts(s, &o) != 0)
		return NS_TCPSEG_BAD;
	mss = o.mss >= 0 ? be16(a + o.mss + 2) : (s->ipv6 ? MSS_DEFAULT_V6 : MSS_DEFAULT_V4);
	if (mss > mss_max)
		mss = mss_max;
	opts[n++] = OPT_MSS;
	opts[n++] = 4;
	put16(opts + n, mss);
	n += 2;
	if (o.ts >= 0)
		n += put_ts(opts + n, a + o.ts);
	if (o.ws >= 0) {
		opts[n++] = OPT_NOP;
		memcpy(opts + n, a + o.ws, 3);
		n += 3;
	}
	if (nonce != NULL)
		n += put_ours(opts + n, nonce);
	return set_opts(s, cap, opts, n, false);
}

uint16_t ns_tcpseg_mss_max(unsigned mtu, bool ipv6)
{
	unsigned over = (ipv6 ? 40u : 20u) + 20u + NS_TCPSEG_OPT_LEN;

	if (mtu > 65535 || mtu < over + NS_TCPSEG_MIN_MSS)
		return 0;
	return (uint16_t)(mtu - over);
}

int ns_tcpseg_put_mac(struct ns_tcpseg *s, size_t cap, const uint8_t mac[NS_TCPSEG_OPT_VALUE_LEN])
{
	uint8_t opts[NS_TCPSEG_MAX_OPTS + 3];
	struct ns_tcpopts o;
	size_t n = 0;

	if (ns_tcpseg_flags(s) & NS_TCP_SYN)
		return NS_TCPSEG_BAD;
	if (ns_tcpseg_opts(s, &o) != 0)
		return NS_TCPSEG_BAD;
	/* An option we do not know may matter to the peer (MD5, AO, MPTCP):
	 * dropping it could change the connection, so the segment goes. */
	if (o.others > 0)
		return NS_TCPSEG_UNSUPP;
	if (o.ts >= 0)
		n += put_ts(opts + n, ns_tcpseg_opt_area(s) + o.ts);
	n += put_ours(opts + n, mac);
	return set_opts(s, cap, opts, n, true);
}

int ns_tcpseg_take_mac(struct ns_tcpseg *s, uint8_t mac[NS_TCPSEG_OPT_VALUE_LEN])
{
	const uint8_t *a = ns_tcpseg_opt_area(s);
	uint8_t opts[NS_TCPSEG_MAX_OPTS + 3];
	struct ns_tcpopts o;
	size_t n = 0;

	if (ns_tcpseg_flags(s) & NS_TCP_SYN)
		return NS_TCPSEG_BAD;
	if (ns_tcpseg_opts(s, &o) != 0 || o.ns < 0)
		return NS_TCPSEG_BAD;
	memcpy(mac, a + o.ns + 4, NS_TCPSEG_OPT_VALUE_LEN);
	if (o.ts >= 0)
		n += put_ts(opts + n, a + o.ts);
	/* Never grows: the TCP header only loses bytes, so no cap is needed. */
	return set_opts(s, s->len, opts, n, true);
}

uint64_t ns_tcpseg_sum16(uint64_t acc, const uint8_t *p, size_t n)
{
	uint64_t host = 0;
	size_t i = 0;

	/* 32-bit words in host byte order, which the one's-complement sum
	 * does not depend on (RFC 1071, 2(B)): the fold is swapped back once.
	 * Twice as fast as 16-bit big-endian words, and every packet of a
	 * protected port is summed once or twice. */
	for (; i + 4 <= n; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		host += w;
	}
	if (i + 2 <= n) {
		uint16_t w;
		memcpy(&w, p + i, 2);
		host += w;
		i += 2;
	}
	acc += ntohs(ns_tcpseg_fold(host));
	if (i < n)
		acc += (uint32_t)p[i] << 8;
	return acc;
}

uint16_t ns_tcpseg_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* Sum of the pseudo-header and the whole TCP segment, checksum included. */
static uint16_t tcp_sum(const struct ns_tcpseg *s)
{
	size_t tcplen = s->len - s->l4;
	uint64_t acc;

	if (s->ipv6)
		acc = ns_tcpseg_sum16(0, s->pkt + 8, 32) + (tcplen >> 16) + (tcplen & 0xffff) + IPPROTO_TCP_;
	else
		acc = ns_tcpseg_sum16(0, s->pkt + 12, 8) + tcplen + IPPROTO_TCP_;
	return ns_tcpseg_fold(ns_tcpseg_sum16(acc, ns_tcpseg_tcp(s), tcplen));
}

void ns_tcpseg_fix_checksums(struct ns_tcpseg *s)
{
	uint8_t *tcp = ns_tcpseg_tcp(s);

	if (!s->ipv6) {
		put16(s->pkt + 10, 0);
		put16(s->pkt + 10, (uint16_t)~ns_tcpseg_fold(ns_tcpseg_sum16(0, s->pkt, s->l4)));
	}
	put16(tcp + 16, 0);
	put16(tcp + 16, (uint16_t)~tcp_sum(s));
}

bool ns_tcpseg_checksums_ok(const struct ns_tcpseg *s)
{
	if (!s->ipv6 && ns_tcpseg_fold(ns_tcpseg_sum16(0, s->pkt, s->l4)) != 0xffff)
		return false;
	return tcp_sum(s) == 0xffff;
}
