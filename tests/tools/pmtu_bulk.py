#!/usr/bin/python3
"""A bulk transfer both ways over one TCP connection, for the path MTU tests
(tests/integration/test_packet_pmtu.py).

    pmtu_bulk.py server ADDR PORT NBYTES DEADLINE_S
    pmtu_bulk.py client ADDR PORT NBYTES DEADLINE_S

Each side sends NBYTES of pseudo-random bytes (seeded by the direction, so
the other side knows what to expect) while it receives the other side's,
then half-closes.  The server accepts one connection.  Each prints one JSON
line at the end: bytes sent and received, whether the SHA-256 of what it
received is the expected one, and how it ended ("ok", "timeout", or the
error).  The server prints "listening" first.  Exit status 0 only when both
directions completed and the digest matched.
"""
import hashlib
import json
import random
import socket
import sys
import threading
import time

CHUNK = 64 << 10


def stream(direction, n):
    return random.Random("nodeseal-pmtu-" + direction).randbytes(n)


def main():
    role, addr, port, nbytes, deadline = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                          int(sys.argv[4]), float(sys.argv[5]))
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    end = time.monotonic() + deadline
    if role == "server":
        lst = socket.socket(family, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((addr, port))
        lst.listen(1)
        lst.settimeout(deadline)
        print("listening", flush=True)
        try:
            s, _ = lst.accept()
        except OSError as e:
            print(json.dumps({"role": role, "end": "accept: %s" % type(e).__name__,
                              "sent": 0, "received": 0, "digest_ok": False}), flush=True)
            return 1
        lst.close()
        out, inn = "s2c", "c2s"
    else:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(min(10.0, deadline))
        s.connect((addr, port))
        out, inn = "c2s", "s2c"
    data = stream(out, nbytes)
    want = hashlib.sha256(stream(inn, nbytes)).hexdigest()
    state = {"sent": 0, "send_end": None}

    def sender():
        mv = memoryview(data)
        try:
            while state["sent"] < nbytes:
                left = end - time.monotonic()
                if left <= 0:
                    state["send_end"] = "timeout"
                    return
                s.settimeout(left)
                state["sent"] += s.send(mv[state["sent"]:state["sent"] + CHUNK])
            s.shutdown(socket.SHUT_WR)
            state["send_end"] = "ok"
        except socket.timeout:
            state["send_end"] = "timeout"
        except OSError as e:
            state["send_end"] = type(e).__name__

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    h = hashlib.sha256()
    got, recv_end = 0, None
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                recv_end = "timeout"
                break
            s.settimeout(left)
            b = s.recv(CHUNK)
            if not b:
                recv_end = "ok" if got == nbytes else "short"
                break
            got += len(b)
            h.update(b)
    except socket.timeout:
        recv_end = "timeout"
    except OSError as e:
        recv_end = type(e).__name__
    t.join(max(0.0, end - time.monotonic()) + 1)
    ok = recv_end == "ok" and state["send_end"] == "ok" and h.hexdigest() == want
    print(json.dumps({"role": role, "sent": state["sent"], "received": got,
                      "send_end": state["send_end"], "recv_end": recv_end,
                      "digest_ok": got == nbytes and h.hexdigest() == want,
                      "end": "ok" if ok else "fail"}), flush=True)
    s.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
