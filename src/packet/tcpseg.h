/*
 * tcpseg.h: TCP segments in raw IPv4 and IPv6 packets, for packet mode.
 *
 * Packet mode sees whole IP packets (from NFQUEUE) and must find the TCP
 * header, its options and its payload without trusting a single length;
 * rewrite the options of SYNs and data segments (the nodeseal option, the
 * MSS clamp, the options it cannot carry); and fix the checksums.  Nothing
 * here does I/O or keeps state.
 *
 * The nodeseal option (docs/PROTOCOL.md, "Packet mode") is an
 * RFC 6994 experimental option, 20 bytes:
 *   kind 253 | length 20 | ExID 0x4E53 ("NS") | 16 bytes
 * The 16 bytes are the sender's nonce on a SYN or SYN-ACK, and the
 * segment's MAC on every other segment.
 *
 * Results: 0 on success; NS_TCPSEG_NOT_TCP when a packet carries no TCP at
 * all; a negative enum ns_tcpseg_err otherwise.  A caller must drop every
 * packet with a negative result: a packet it cannot parse, it cannot
 * verify either.
 *
 * Functions that change a packet keep the IP length field and the parsed
 * struct in step but leave the checksums stale: call
 * ns_tcpseg_fix_checksums once after the last change.
 */
#ifndef NS_TCPSEG_H
#define NS_TCPSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_TCPSEG_OPT_KIND 253       /* RFC 4727/6994 experimental option */
#define NS_TCPSEG_EXID 0x4E53        /* "NS" */
#define NS_TCPSEG_OPT_LEN 20         /* kind, length, ExID, 16-byte value */
#define NS_TCPSEG_OPT_VALUE_LEN 16
#define NS_TCPSEG_MAX_OPTS 40        /* TCP's data offset allows 60 bytes */
#define NS_TCPSEG_MIN_MSS 88         /* as Linux's TCP_MIN_MSS */

/* TCP flag bits (RFC 9293). */
#define NS_TCP_FIN 0x01
#define NS_TCP_SYN 0x02
#define NS_TCP_RST 0x04
#define NS_TCP_PSH 0x08
#define NS_TCP_ACK 0x10
#define NS_TCP_URG 0x20

#define NS_TCPSEG_NOT_TCP 1
enum ns_tcpseg_err {
	NS_TCPSEG_BAD = -1,     /* malformed: a length or an option is wrong */
	NS_TCPSEG_UNSUPP = -2,  /* well-formed, but packet mode cannot handle it:
	                         * IP fragment, IPv6 extension header, an option
	                         * it cannot carry */
	NS_TCPSEG_NOSPACE = -3, /* the change would not fit the buffer or the
	                         * 40-byte option area */
};

struct ns_tcpseg {
	uint8_t *pkt;     /* the IP header */
	size_t len;       /* whole packet: the IP length field says the same */
	bool ipv6;
	size_t l4;        /* offset of the TCP header (the IP header's length) */
	size_t thlen;     /* TCP header with options: 20 to 60 */
	size_t paylen;    /* payload bytes, after the TCP header */
};

/* Offsets, within the option area, of the options a segment carries; -1
 * when absent.  end is where the list ends (EOL or the area's end). */
struct ns_tcpopts {
	int mss, ws, sackok, ts, sack, ns;
	int others;       /* how many options of any other kind */
	size_t end;
};

/* Parses a packet of len bytes.  IPv4: header length, total length == len,
 * not a fragment.  IPv6: payload length + 40 == len, next header TCP. */
int ns_tcpseg_parse(struct ns_tcpseg *s, uint8_t *pkt, size_t len);

/* Walks the options strictly.  NS_TCPSEG_BAD if an option runs past the
 * area, has a length below 2, a known kind has the wrong length, a kind that
 * may appear once appears twice, or bytes after EOL are not zero. */
int ns_tcpseg_opts(const struct ns_tcpseg *s, struct ns_tcpopts *o);

/* The 16-byte value of the nodeseal option: 1 if present, 0 if absent,
 * NS_TCPSEG_BAD if the options are malformed. */
int ns_tcpseg_get_value(const struct ns_tcpseg *s, uint8_t value[NS_TCPSEG_OPT_VALUE_LEN]);

/*
 * SYN and SYN-ACK, in both directions.  The options are rebuilt, in Linux's
 * order: MSS, then timestamps and window scale as they were, then the
 * nodeseal option with nonce if nonce is not NULL.  SACK-permitted and every
 * other option are removed (docs/PROTOCOL.md says why); so is any payload
 * (a Fast Open SYN's data: the client sends it again after the handshake).
 * MSS becomes min(MSS, mss_max); a SYN without one gets one, min(the
 * default 536 or 1220, mss_max).  The result never needs more than the
 * IP header + 60 bytes of cap.
 */
int ns_tcpseg_syn_rewrite(struct ns_tcpseg *s, size_t cap, uint16_t mss_max,
                          const uint8_t nonce[NS_TCPSEG_OPT_VALUE_LEN]);
/* The largest MSS to let either kernel use on a link of this MTU so that a
 * full segment still fits with the nodeseal option added: 0 if none. */
uint16_t ns_tcpseg_mss_max(unsigned mtu, bool ipv6);

/*
 * Other segments.  put_mac (outgoing): the options become the timestamps, if
 * any, then the nodeseal option carrying mac; an existing nodeseal option is
 * replaced.  SACK blocks, and MSS, window scale and SACK-permitted (which
 * mean nothing after the SYN), are dropped; any other option is
 * NS_TCPSEG_UNSUPP.  take_mac (incoming): copies the MAC out and leaves the
 * timestamps as the only option, so the local stack sees no option the MAC
 * did not vouch for besides them; NS_TCPSEG_BAD without a nodeseal option.
 * Neither accepts a SYN.
 */
int ns_tcpseg_put_mac(struct ns_tcpseg *s, size_t cap, const uint8_t mac[NS_TCPSEG_OPT_VALUE_LEN]);
int ns_tcpseg_take_mac(struct ns_tcpseg *s, uint8_t mac[NS_TCPSEG_OPT_VALUE_LEN]);

/* The one's-complement sum of RFC 1071 over big-endian 16-bit words (an
 * odd last byte padded with zero), added to acc: a value with the same
 * fold, not the plain sum; and that fold to 16 bits (not inverted).
 * icmp.c uses them too. */
uint64_t ns_tcpseg_sum16(uint64_t acc, const uint8_t *p, size_t n);
uint16_t ns_tcpseg_fold(uint64_t acc);
/* Recomputes the IPv4 header checksum and the TCP checksum (with the IPv4
 * or IPv6 pseudo-header). */
void ns_tcpseg_fix_checksums(struct ns_tcpseg *s);
/* Whether both checksums verify. */
bool ns_tcpseg_checksums_ok(const struct ns_tcpseg *s);

/* Header fields. */
static inline uint8_t *ns_tcpseg_tcp(const struct ns_tcpseg *s) { return s->pkt + s->l4; }
static inline uint8_t *ns_tcpseg_opt_area(const struct ns_tcpseg *s) { return s->pkt + s->l4 + 20; }
static inline uint8_t *ns_tcpseg_payload(const struct ns_tcpseg *s) { return s->pkt + s->l4 + s->thlen; }
static inline uint32_t ns_tcpseg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t ns_tcpseg_seq(const struct ns_tcpseg *s) { return ns_tcpseg_be32(ns_tcpseg_tcp(s) + 4); }
static inline uint32_t ns_tcpseg_ack(const struct ns_tcpseg *s) { return ns_tcpseg_be32(ns_tcpseg_tcp(s) + 8); }
static inline uint8_t ns_tcpseg_flags(const struct ns_tcpseg *s) { return ns_tcpseg_tcp(s)[13]; }
static inline uint16_t ns_tcpseg_window(const struct ns_tcpseg *s)
{
	return (uint16_t)(ns_tcpseg_tcp(s)[14] << 8 | ns_tcpseg_tcp(s)[15]);
}
static inline uint16_t ns_tcpseg_urg(const struct ns_tcpseg *s)
{
	return (uint16_t)(ns_tcpseg_tcp(s)[18] << 8 | ns_tcpseg_tcp(s)[19]);
}

#endif
