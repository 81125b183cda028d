#!/usr/bin/python3
"""Writes tests/unit/tcpseg_vectors.h and the fuzz_tcpseg seed corpus.

The packets are built by scapy, an implementation of IPv4, IPv6 and TCP
independent of src/packet/tcpseg.c, so their checksums and option layouts
are a reference for it.  The SYNs and SYN-ACKs carry options in the order
and alignment Linux writes them (tcp_options_write): MSS, SACK-permitted,
timestamps, NOP, window scale.  The expected results of nodeseal's
rewrites are built by scapy too, from the layout docs/PROTOCOL.md states.

    /usr/bin/python3 tests/tools/gen_tcpseg_vectors.py
"""
import os

from c_vectors import ROOT, c_array, header_start, write_header
from scapy.all import IP, IPv6, TCP, UDP, Raw, raw

EXID = b"\x4e\x53"
NONCE = bytes(range(0xA0, 0xB0))
MAC = bytes(range(0x10, 0x20))
V4 = dict(src="192.0.2.10", dst="198.51.100.20")
V6 = dict(src="2001:db8::10", dst="2001:db8:1::20")
LINUX_SYN = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (2882400001, 0)),
             ("NOP", None), ("WScale", 7)]
LINUX_SYNACK = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (4076863488, 2882400001)),
                ("NOP", None), ("WScale", 9)]
DATA_TS = [("NOP", None), ("NOP", None), ("Timestamp", (2882400100, 4076863500))]
PAYLOAD = bytes((i * 7 + 3) & 0xFF for i in range(1001))  # odd length


def ip4(**kw):
    return IP(id=0x1234, flags="DF", ttl=64, **V4, **kw)


def ip6():
    return IPv6(hlim=64, **V6)


def tcp(flags, opts, seq=0x11223344, ack=0, window=64240, **kw):
    return TCP(sport=40000, dport=7447, seq=seq, ack=ack, flags=flags, window=window,
               options=opts, **kw)


def ours(value):
    return (253, EXID + value)


def syn_rewritten(opts, mss):
    """Layout after ns_tcpseg_syn_rewrite(nonce): MSS, NOP NOP TS, NOP WS, nodeseal."""
    d = dict((k, v) for k, v in opts if k != "NOP")
    out = [("MSS", mss)]
    if "Timestamp" in d:
        out += [("NOP", None), ("NOP", None), ("Timestamp", d["Timestamp"])]
    if "WScale" in d:
        out += [("NOP", None), ("WScale", d["WScale"])]
    return out + [ours(NONCE)]


VECTORS = [
    # name, packet
    ("v4_syn", ip4() / tcp("S", LINUX_SYN, window=64240)),
    ("v4_syn_rw", ip4() / tcp("S", syn_rewritten(LINUX_SYN, 1400), window=64240)),
    ("v4_synack", ip4() / tcp("SA", LINUX_SYNACK, seq=0x99887766, ack=0x11223345, window=65160)),
    ("v4_synack_rw", ip4() / tcp("SA", syn_rewritten(LINUX_SYNACK, 1400), seq=0x99887766,
                                 ack=0x11223345, window=65160)),
    ("v4_data", ip4() / tcp("PA", DATA_TS, seq=0x11223345, ack=0x99887767, window=502)
     / Raw(PAYLOAD)),
    ("v4_data_mac", ip4() / tcp("PA", DATA_TS + [ours(MAC)], seq=0x11223345, ack=0x99887767,
                                window=502) / Raw(PAYLOAD)),
    ("v4_ipopt_data", IP(id=7, ttl=64, options=b"\x94\x04\x00\x00", **V4)
     / tcp("A", DATA_TS, seq=5, ack=6) / Raw(PAYLOAD[:3])),
    ("v6_syn", ip6() / tcp("S", [("MSS", 1440)] + LINUX_SYN[1:])),
    ("v6_syn_rw", ip6() / tcp("S", syn_rewritten(LINUX_SYN, 1420))),
    ("v6_data", ip6() / tcp("A", DATA_TS, seq=0xFFFFFF00, ack=1) / Raw(PAYLOAD[:777])),
    ("v6_data_mac", ip6() / tcp("A", DATA_TS + [ours(MAC)], seq=0xFFFFFF00, ack=1)
     / Raw(PAYLOAD[:777])),
    ("v4_udp", ip4() / UDP(sport=1, dport=2) / Raw(b"not tcp")),
]


def main():
    out = header_start("gen_tcpseg_vectors.py", "NS_TCPSEG_VECTORS_H")
    out.append(c_array("vec_nonce", NONCE))
    out.append(c_array("vec_mac", MAC))
    corpus = os.path.join(ROOT, "tests/fuzz/corpus/fuzz_tcpseg")
    os.makedirs(corpus, exist_ok=True)
    for name, pkt in VECTORS:
        data = raw(pkt)
        out.append(c_array("vec_" + name, data))
        # The fuzz target's first byte: 0x60 = room to grow, MSS limit
        # 1440, no nonce; 0xe3 = room, limit 195, nonce.
        for mode in (0x60, 0xE3):
            with open(os.path.join(corpus, "seed_%s_%02x" % (name, mode)), "wb") as f:
                f.write(bytes([mode]) + data)
    write_header("tcpseg_vectors.h", out)


if __name__ == "__main__":
    main()
