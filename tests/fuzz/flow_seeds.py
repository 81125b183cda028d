#!/usr/bin/python3
"""Writes the seed corpus of fuzz_flow (tests/fuzz/corpus/fuzz_flow/).

Each seed is a list of fuzz_flow's records (see the comment at the top of
tests/fuzz/fuzz_flow.c for what they do); the encodings here follow its
readers.  Deterministic: running it again writes the same files.

    /usr/bin/python3 tests/fuzz/flow_seeds.py
"""

import os
import struct

A, P = 0, 1
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
O_MSS, O_SACKOK, O_TS, O_WS, O_NS = 1, 2, 4, 8, 64
MTU_1500 = 1  # index in fuzz_flow's mtus[]


def handshake(slot, v6=0, data_units=0):
    """SYN, SYN-ACK, ACK (and data_units * 100 + 1 bytes when given)."""
    how = slot | (v6 << 3)
    if data_units:
        how |= 0x10 | ((data_units - 1) << 5)
    return bytes([5, how])


def seg(op, side, slot, flags, opts=O_TS, v6=0, dseq=0, dack=0, win=502, payload=b"",
        nsval=None, alter=(0, 0)):
    """send (op 1) or forge (op 3): a segment of slot from side."""
    units = (len(payload) + 5) // 6
    payload = payload.ljust(units * 6, b".")
    sel = slot | (v6 << 3) | (MTU_1500 << 4)
    b = bytes([op | (side << 3), sel, flags, opts, dseq & 0xff, dack & 0xff])
    b += struct.pack(">H", win) + bytes([units])
    if opts & O_NS:
        b += nsval if nsval is not None else bytes(range(16))
    b += payload
    x, where = alter
    return b + bytes([x]) + struct.pack(">H", where)


def send(side, slot, flags, **kw):
    return seg(1, side, slot, flags, **kw)


def forge(side, slot, flags, **kw):
    return seg(3, side, slot, flags, **kw)


def replay(idx, reflect=0, x=0, where=0):
    return bytes([4 | (reflect << 3) | (MTU_1500 << 4), idx, x]) + struct.pack(">H", where)


def kill(side, mtu=MTU_1500):
    """The connections side's table gave up on, each reset by its stack."""
    return bytes([6 | (side << 3) | (mtu << 4)])


def policy(side, opportunistic):
    """side's table set to required (0) or opportunistic (1)."""
    return bytes([0x80 | 6 | (side << 3) | (opportunistic << 4)])


def clock(step, expire_side=None, budget=16):
    how = step | ((8 | (expire_side << 4)) if expire_side is not None else 0)
    return bytes([7 | (how << 3), budget])


def raw(side, outgoing, packet, mtu=MTU_1500):
    op = (side << 3) | (outgoing << 4) | (mtu << 5)
    return bytes([op]) + struct.pack(">H", len(packet)) + packet


def ipv4_syn():
    """A's stack opening a connection, as Linux builds the SYN."""
    opts = bytes([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
    tcp = struct.pack(">HHIIBBHHH", 40000, 7447, 1000, 0, (20 + len(opts)) // 4 << 4, SYN,
                      64240, 0, 0) + opts
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return ip + tcp  # checksums left wrong: the table does not read them


SEEDS = {
    # one connection, data both ways, then both FINs
    "seed_v4_conversation": handshake(0, data_units=2)
    + send(P, 0, ACK | PSH, payload=b"verack from P")
    + send(A, 0, ACK, payload=b"ping")
    + send(A, 0, ACK | FIN)
    + send(P, 0, ACK | FIN)
    + send(A, 0, ACK),
    # P opens, over IPv6
    "seed_v6_peer_opens": handshake(1, v6=1, data_units=1)
    + send(A, 1, ACK, v6=1, payload=b"answer")
    + send(P, 1, ACK | RST, v6=1),
    # more connections than entries: eviction and table_full
    "seed_eviction": handshake(0) + handshake(1) + handshake(2) + handshake(3)
    + handshake(4) + handshake(5) + clock(6, expire_side=0) + clock(7, expire_side=1),
    # sealed segments altered on the wire, replayed and reflected
    "seed_tamper_replay": handshake(2, data_units=1)
    + send(A, 2, ACK | PSH, payload=b"tampered", alter=(1, 60))
    + send(A, 2, ACK | PSH, payload=b"window", alter=(4, 0x8000 | 34))
    + replay(2) + replay(2, reflect=1) + replay(3, x=0x40, where=0x8000 | 33),
    # forged segments with a MAC option of the fuzzer's choosing, in a row:
    # A gives the connection up, and its stack's reset reaches P sealed
    "seed_forged_run": handshake(0, data_units=1)
    + b"".join(forge(P, 0, ACK, opts=O_TS | O_NS, payload=b"forged%d" % i) for i in range(9))
    + kill(A) + send(P, 0, ACK, payload=b"late"),
    # failures in a row broken by a genuine segment: nothing to end
    "seed_failures_broken": handshake(2, data_units=1)
    + b"".join(forge(P, 2, ACK, opts=O_TS | O_NS, payload=b"f%d" % i) for i in range(7))
    + send(P, 2, ACK, payload=b"genuine")
    + b"".join(send(P, 2, ACK, payload=b"bit%d" % i, alter=(1, 60)) for i in range(7))
    + kill(A),
    # a raw SYN from A's stack, a forged SYN-ACK with a nonce, a reset
    "seed_raw_syn": raw(A, 1, ipv4_syn())
    + forge(P, 0, SYN | ACK, opts=O_MSS | O_TS | O_WS | O_NS, dseq=0)
    + forge(P, 0, RST | ACK, opts=0),
    # opportunistic: a plain stack at P's address opens a clear connection
    # to A (segments that skip P's table), then A goes required and ends it
    "seed_clear_inbound": policy(A, 1)
    + forge(P, 1, SYN, opts=O_MSS | O_SACKOK | O_TS | O_WS)
    + send(A, 1, SYN | ACK, opts=O_MSS | O_SACKOK | O_TS | O_WS)
    + forge(P, 1, ACK)
    + forge(P, 1, ACK | PSH, payload=b"version")
    + send(A, 1, ACK | PSH, payload=b"verack")
    + policy(A, 0) + kill(A)
    + forge(P, 1, ACK | PSH, payload=b"late"),
    # opportunistic: A's SYN (with the option) answered by a plain SYN-ACK,
    # then a sealed connection with P puts it in A's sealed memory, which
    # ends the clear one and refuses P's plain SYNs from then on
    "seed_clear_outbound": policy(A, 1)
    + send(A, 0, SYN, opts=O_MSS | O_TS | O_WS)
    + forge(P, 0, SYN | ACK, opts=O_MSS | O_TS | O_WS)
    + send(A, 0, ACK)
    + forge(P, 0, ACK | PSH, payload=b"plain")
    + handshake(2, data_units=1) + kill(A)
    + forge(P, 3, SYN, opts=O_MSS | O_TS)
    + forge(P, 0, ACK | PSH, payload=b"after"),
    # both opportunistic: two tables still seal
    "seed_opportunistic_sealed": policy(A, 1) + policy(P, 1) + handshake(4, data_units=2)
    + send(P, 4, ACK | FIN) + send(A, 4, ACK | FIN),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_flow")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
