#!/usr/bin/python3
"""Writes tests/unit/icmp_vectors.h and the fuzz_icmp seed corpus.

The packets are built by scapy, an implementation of IPv4, IPv6, ICMP and
ICMPv6 independent of src/packet/icmp.c: its checksums (ICMPv6's with the
pseudo-header) are the reference.  Each PMTU message comes twice where the
daemon must rewrite it: as a router sends it, and as it must leave the
daemon (the MTU 20 lower, the checksum scapy's).  The quoted packets are
sealed segments as the daemon sends them (timestamps and the nodeseal
option), cut where Linux cuts a quote: ICMP errors at 576 bytes in all,
ICMPv6 errors at 1280.

    /usr/bin/python3 tests/tools/gen_icmp_vectors.py
"""
import os

from c_vectors import ROOT, c_array, header_start, write_header
from scapy.all import (IP, IPv6, TCP, UDP, ICMP, ICMPv6PacketTooBig, ICMPv6EchoRequest,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, Raw, raw)

EXID = b"\x4e\x53"
MAC = bytes(range(0x10, 0x20))
HOST4, PEER4, ROUTER4 = "192.0.2.10", "198.51.100.20", "203.0.113.1"
HOST6, PEER6, ROUTER6 = "2001:db8::10", "2001:db8:1::20", "2001:db8:ff::1"
OPTS = [("NOP", None), ("NOP", None), ("Timestamp", (2882400100, 4076863500)),
        (253, EXID + MAC)]
PAYLOAD = bytes((i * 13 + 5) & 0xFF for i in range(1448))


def seg4(sport, dport, size, **ip):
    """A sealed IPv4 segment of size bytes in all."""
    hdr = IP(id=0x4242, flags="DF", ttl=63, src=HOST4, dst=PEER4, **ip) / TCP(
        sport=sport, dport=dport, seq=0x01020304, ack=0x0a0b0c0d, flags="A", window=501,
        options=OPTS)
    return hdr / Raw(PAYLOAD[:size - len(hdr)])


def seg6(sport, dport, size, nh=None):
    hdr = IPv6(hlim=63, src=HOST6, dst=PEER6) / TCP(
        sport=sport, dport=dport, seq=0x01020304, ack=0x0a0b0c0d, flags="A", window=501,
        options=OPTS)
    if nh is not None:
        hdr = IPv6(hlim=63, src=HOST6, dst=PEER6) / nh / hdr[TCP]
    return hdr / Raw(PAYLOAD[:size - len(hdr)])


# Linux's full quotes for the first vector of each family; the others are
# cut shorter (any cut at or past the ports is a valid quote), to keep the
# header small.
SHORT = 96


def frag_needed(mtu, quoted, cut=SHORT, **icmp):
    return IP(src=ROUTER4, dst=HOST4, ttl=64, id=7) / ICMP(
        type=3, code=4, nexthopmtu=mtu, **icmp) / Raw(raw(quoted)[:cut])


def too_big(mtu, quoted, cut=SHORT, outer=None):
    ip = IPv6(src=ROUTER6, dst=HOST6, hlim=64)
    if outer is not None:
        ip = ip / outer
    return ip / ICMPv6PacketTooBig(mtu=mtu) / Raw(raw(quoted)[:cut])


VECTORS = [
    # IPv4: the client's segment (destination port protected), as a router
    # sends it and as the daemon must pass it on
    ("v4_client", frag_needed(1400, seg4(40000, 7447, 1500), cut=576 - 28)),
    ("v4_client_lowered", frag_needed(1380, seg4(40000, 7447, 1500), cut=576 - 28)),
    # the server's segment (source port protected)
    ("v4_server", frag_needed(1400, seg4(7447, 40000, 1500))),
    ("v4_server_lowered", frag_needed(1380, seg4(7447, 40000, 1500))),
    # the quote as short as RFC 792 allows: IP header + 8 bytes
    ("v4_short_quote", frag_needed(1280, seg4(40000, 7447, 1300), cut=28)),
    ("v4_short_quote_lowered", frag_needed(1260, seg4(40000, 7447, 1300), cut=28)),
    # IP options in the quoted header (ihl 6)
    ("v4_inner_opts", frag_needed(1400, seg4(40000, 7447, 1500, options=b"\x94\x04\x00\x00"))),
    ("v4_inner_opts_lowered", frag_needed(1380, seg4(40000, 7447, 1500,
                                                     options=b"\x94\x04\x00\x00"))),
    # not ours: another port, UDP inside, other types and codes
    ("v4_other_port", frag_needed(1400, seg4(40000, 443, 1500))),
    ("v4_udp_inside", frag_needed(1400, IP(src=HOST4, dst=PEER4, flags="DF")
                                  / UDP(sport=7447, dport=7447) / Raw(PAYLOAD[:1472]))),
    ("v4_port_unreach", IP(src=PEER4, dst=HOST4) / ICMP(type=3, code=3)
     / Raw(raw(seg4(40000, 7447, 100)))),
    ("v4_echo", IP(src=PEER4, dst=HOST4) / ICMP(type=8, id=1, seq=1) / Raw(b"ping")),
    # MTU not below the quoted packet's length; MTU below 68 + 20; MTU 0
    ("v4_not_smaller", frag_needed(1500, seg4(40000, 7447, 1500))),
    ("v4_tiny", frag_needed(80, seg4(40000, 7447, 1500))),
    ("v4_zero", frag_needed(0, seg4(40000, 7447, 1500))),
    # IPv6: client and server side, 1400 -> 1380
    ("v6_client", too_big(1400, seg6(40000, 7447, 1500), cut=1280 - 48)),
    ("v6_client_lowered", too_big(1380, seg6(40000, 7447, 1500), cut=1280 - 48)),
    ("v6_server", too_big(1400, seg6(7447, 40000, 1500))),
    ("v6_server_lowered", too_big(1380, seg6(7447, 40000, 1500))),
    # near the floor: 1290 -> 1280 (the stack goes no lower); 1280 stays;
    # 1279 the kernel ignores, so do we
    ("v6_1290", too_big(1290, seg6(40000, 7447, 1500))),
    ("v6_1290_floor", too_big(1280, seg6(40000, 7447, 1500))),
    ("v6_1279", too_big(1279, seg6(40000, 7447, 1500))),
    # not ours: other port, extension header in the quote, extension header
    # before the ICMPv6 header, echo
    ("v6_other_port", too_big(1400, seg6(40000, 443, 1500))),
    ("v6_inner_ext", too_big(1400, seg6(40000, 7447, 1500, nh=IPv6ExtHdrDestOpt()))),
    ("v6_outer_ext", too_big(1400, seg6(40000, 7447, 1500), outer=IPv6ExtHdrHopByHop())),
    ("v6_echo", IPv6(src=PEER6, dst=HOST6) / ICMPv6EchoRequest(id=1, seq=1, data=b"ping")),
    # not ICMP at all
    ("v4_tcp", seg4(40000, 7447, 200)),
]


def main():
    out = header_start("gen_icmp_vectors.py", "NS_ICMP_VECTORS_H")
    corpus = os.path.join(ROOT, "tests/fuzz/corpus/fuzz_icmp")
    os.makedirs(corpus, exist_ok=True)
    for name, pkt in VECTORS:
        data = raw(pkt)
        out.append(c_array("vec_" + name, data))
        if not name.endswith(("_lowered", "_floor")):
            # fuzz_icmp's input: mode (0: as is, 1: length and checksum
            # made right first), the protected port (2 bytes), the packet
            for mode in (0, 1):
                with open(os.path.join(corpus, "seed_%s_%d" % (name, mode)), "wb") as f:
                    f.write(bytes([mode]) + b"\x1d\x17" + data)
    write_header("icmp_vectors.h", out)


if __name__ == "__main__":
    main()
