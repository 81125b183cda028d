#!/usr/bin/python3
"""attack_app -- the application ends of tests/integration/test_attack.py.

Three modes, each a long-lived process driven by one-line commands on stdin
and answering one JSON object per line on stdout (standard library only):

  server --listen ADDR:PORT [--plain-port N]
      Accepts connections (one per trial).  Each connection is checked
      against the trial the test announced last ("expect TID C2S S2C"): every
      byte received is compared with the bytes the client of that trial
      sends, and the server sends its own S2C bytes back, then half-closes.
      Commands:
        expect TID C2S S2C   -> {"ok": TID}
        report TID WAIT      -> {"tid": TID, "conns": [...]}  (waits up to WAIT
                                seconds for that trial's connections to end)
        stats                -> {"accepted": N, "plain_accepted": N}
        quit
      --plain-port also accepts plain connections there and reads them (the
      capture's positive control: that port is not protected).

  client --connect ADDR:PORT
        run TID C2S S2C TIMEOUT [SRCPORT]  -> one JSON result for one connection
                                     (C2S -1: send nothing, no half-close)
        plain TID LEN PORT        -> sends LEN content bytes to PORT in clear
        quit

  replay --to ADDR:PORT --data FILE --count N [--timeout T]
      N fresh connections, each sending the bytes of FILE and reading what
      comes back; prints one JSON summary and exits.

  server and client take --prefix-hex HEX: every stream of theirs (c2s and
  s2c, when it is not empty) starts with those bytes before the content, and
  the receiver expects them (test_downgrade.py: a MultiChain "version"
  header, so that a connection carried in clear looks like a plain peer's).

Content: a stream of messages, each [2-byte length][body][SHA-256(body)];
the body holds MARKER, the trial id and the message index, and bytes derived
from (trial, direction, index).  So a byte from another trial, direction or
position never matches.  The receiver counts every received byte that
differs from what the sender sent (and every byte past the end) as corrupted,
and also counts messages whose SHA-256 does not match.
"""

import argparse
import errno
import hashlib
import json
import socket
import struct
import sys
import threading
import time

MARKER = b"NSATK-PLAINTEXT-MARKER"
PREFIX = b""        # --prefix-hex: the bytes every stream starts with
_content_cache = {}


def content(tid, direction, length):
    key = (tid, direction, length)
    if key in _content_cache:
        return _content_cache[key]
    out = bytearray()
    i = 0
    while len(out) < length:
        seed = b"%d/%s/%d" % (tid, direction, i)
        body = (b"%s|%s|%08d|%06d|" % (MARKER, direction, tid, i) +
                hashlib.sha256(seed).digest() * 4 + hashlib.sha256(b"x" + seed).digest()[:i % 32])
        out += struct.pack(">H", len(body)) + body + hashlib.sha256(body).digest()
        i += 1
    data = bytes(out[:length])
    if len(_content_cache) > 64:
        _content_cache.clear()
    _content_cache[key] = data
    return data


def stream(tid, direction, length):
    """What a side sends: PREFIX (if length > 0), then length content bytes."""
    return PREFIX + content(tid, direction, length) if PREFIX and length > 0 else \
        content(tid, direction, length)


def check(received, expected):
    """(corrupted bytes, bad message digests) of received against expected
    (a stream(): the messages start after PREFIX)."""
    n = min(len(received), len(expected))
    corrupted = sum(1 for i in range(n) if received[i] != expected[i]) if received[:n] != expected[:n] else 0
    corrupted += max(0, len(received) - len(expected))
    bad = 0
    pos = len(PREFIX) if PREFIX and expected.startswith(PREFIX) else 0
    while pos + 2 <= len(received):
        (blen,) = struct.unpack(">H", received[pos:pos + 2])
        end = pos + 2 + blen + 32
        if end > len(received):
            break
        body = received[pos + 2:pos + 2 + blen]
        if hashlib.sha256(body).digest() != received[pos + 2 + blen:end]:
            bad += 1
        pos = end
    return corrupted, bad


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def err_name(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, BrokenPipeError):
        return "broken-pipe"
    if isinstance(e, OSError) and e.errno is not None:
        return "error:%s" % errno.errorcode.get(e.errno, e.errno)
    return "error:%s" % type(e).__name__


# how a reset shows: recv/send errors, and shutdown() on a reset socket
RESETS = ("reset", "broken-pipe", "error:ECONNRESET", "error:EPIPE", "error:ENOTCONN")


def saw_reset(res):
    """The connection was reset, seen by the reader or the sender.  (Only
    one of them gets the error: the other then sees an end of stream.)"""
    return res.get("end") in RESETS or res.get("send_end") in RESETS


def send_all(sock, data, res):
    """Sends data, then half-closes; res["send_end"] says how it ended,
    res["sent"] how many bytes the kernel took."""
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent:sent + 65536])
        sock.shutdown(socket.SHUT_WR)
        res["send_end"] = "ok"
    except OSError as e:
        res["send_end"] = err_name(e)
    res["sent"] = sent


def recv_all(sock, deadline):
    """Reads until EOF, error or deadline: (bytes, how it ended)."""
    buf = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(buf), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except OSError as e:
            return bytes(buf), err_name(e)
        if not chunk:
            return bytes(buf), "eof"
        buf += chunk


# ------------------------------------------------------------------ server

class Server:
    def __init__(self, args):
        self.lock = threading.Condition()
        self.expect = None          # (tid, c2s, s2c)
        self.conns = {}             # tid -> list of result dicts (done or running)
        self.accepted = 0
        self.plain_accepted = 0
        self.conn_timeout = args.conn_timeout
        host, port = parse_addr(args.listen)
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, port))
        self.ls.listen(128)
        threading.Thread(target=self.accept_loop, args=(self.ls, False), daemon=True).start()
        if args.plain_port:
            self.ps = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.ps.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.ps.bind((host, args.plain_port))
            self.ps.listen(16)
            threading.Thread(target=self.accept_loop, args=(self.ps, True), daemon=True).start()

    def accept_loop(self, ls, plain):
        while True:
            s, peer = ls.accept()
            if plain:
                with self.lock:
                    self.plain_accepted += 1
                threading.Thread(target=self.drain, args=(s,), daemon=True).start()
                continue
            with self.lock:
                self.accepted += 1
                exp = self.expect
                res = {"tid": exp[0] if exp else None, "peer": "%s:%d" % peer, "done": False,
                       "seq": self.accepted}
                self.conns.setdefault(res["tid"], []).append(res)
            threading.Thread(target=self.handle, args=(s, exp, res), daemon=True).start()

    def drain(self, s):
        try:
            recv_all(s, time.monotonic() + self.conn_timeout)
        finally:
            s.close()

    def handle(self, s, exp, res):
        deadline = time.monotonic() + self.conn_timeout
        tid, c2s, s2c = exp if exp else (-1, 0, 0)
        expected = stream(tid, b"c2s", c2s)
        s.settimeout(self.conn_timeout)
        sender = threading.Thread(target=send_all, args=(s, stream(tid, b"s2c", s2c), res),
                                  daemon=True)
        sender.start()
        data, end = recv_all(s, deadline)
        sender.join(max(0.1, deadline - time.monotonic()))
        corrupted, bad = check(data, expected)
        s.close()
        with self.lock:
            res.update({"received": len(data), "expected": len(expected), "corrupted": corrupted,
                        "bad_digests": bad, "end": end, "done": True,
                        "complete": (end == "eof" and len(data) == len(expected) and
                                     corrupted == 0 and
                                     res.get("send_end") == "ok")})
            res.setdefault("send_end", "unfinished")
            res["saw_reset"] = saw_reset(res)
            self.lock.notify_all()

    def command(self, line):
        w = line.split()
        if not w:
            return True
        if w[0] == "quit":
            return False
        if w[0] == "expect":
            with self.lock:
                self.expect = (int(w[1]), int(w[2]), int(w[3]))
            emit({"ok": int(w[1])})
        elif w[0] == "report":
            tid, wait = int(w[1]), float(w[2])
            end = time.monotonic() + wait
            with self.lock:
                while True:
                    cs = self.conns.get(tid, [])
                    left = end - time.monotonic()
                    if all(c["done"] for c in cs) and (cs or left <= 0):
                        break
                    if left <= 0:
                        break
                    self.lock.wait(min(left, 0.05))
                emit({"tid": tid, "conns": [dict(c) for c in cs]})
        elif w[0] == "stats":
            with self.lock:
                emit({"accepted": self.accepted, "plain_accepted": self.plain_accepted})
        else:
            emit({"error": "unknown command %r" % line})
        return True


# ------------------------------------------------------------------ client

def client_run(target, tid, c2s, s2c, timeout, src_port=0):
    """One connection: sends c2s content bytes (c2s < 0: sends nothing and
    does not half-close), reads and checks s2c bytes.  src_port: bind to it."""
    res = {"tid": tid}
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", src_port))
        s.connect(target)
    except OSError as e:
        # (a reset can beat connect(): the local daemon accepted, failed the
        # handshake and reset us before connect() looked at SO_ERROR)
        res.update({"connected": False, "end": err_name(e), "received": 0, "corrupted": 0,
                    "bad_digests": 0, "complete": False, "send_end": "not-connected"})
        res["saw_reset"] = saw_reset(res)
        s.close()
        return res
    res["connected"] = True
    res["local_port"] = s.getsockname()[1]
    sender = None
    if c2s >= 0:
        sender = threading.Thread(target=send_all, args=(s, stream(tid, b"c2s", c2s), res),
                                  daemon=True)
        sender.start()
    else:
        res["send_end"] = "ok"   # nothing to send, by request
    data, end = recv_all(s, deadline)
    if sender is not None:
        sender.join(max(0.1, deadline - time.monotonic()))
    s.close()
    res.setdefault("send_end", "unfinished")
    expected = stream(tid, b"s2c", s2c)
    corrupted, bad = check(data, expected)
    res.update({"received": len(data), "expected": len(expected), "corrupted": corrupted,
                "bad_digests": bad, "end": end,
                "complete": (end == "eof" and len(data) == len(expected) and corrupted == 0 and
                             res["send_end"] == "ok")})
    res["saw_reset"] = saw_reset(res)
    return res


def client_plain(host, tid, length, port, timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    res = {}
    send_all(s, content(tid, b"c2s", length), res)
    s.close()
    return {"tid": tid, "plain": True, "sent": res.get("sent"), "send_end": res["send_end"]}


# ------------------------------------------------------------------ replay

def replay(target, data, count, timeout):
    results = []
    for _ in range(count):
        r = {}
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(target)
            r["local"] = "%s:%d" % s.getsockname()
            try:
                s.sendall(data)
                r["send_end"] = "ok"
            except OSError as e:
                r["send_end"] = err_name(e)
            got, end = recv_all(s, time.monotonic() + timeout)
            r.update({"received": len(got), "end": end})
        except OSError as e:
            r.update({"received": 0, "end": "connect:" + err_name(e)})
        finally:
            s.close()
        results.append(r)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--listen", required=True)
    sp.add_argument("--plain-port", type=int, default=0)
    sp.add_argument("--conn-timeout", type=float, default=10.0)
    sp.add_argument("--prefix-hex", default="")
    cp = sub.add_parser("client")
    cp.add_argument("--connect", required=True)
    cp.add_argument("--prefix-hex", default="")
    rp = sub.add_parser("replay")
    rp.add_argument("--to", required=True)
    rp.add_argument("--data", required=True)
    rp.add_argument("--count", type=int, default=1)
    rp.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()
    global PREFIX
    PREFIX = bytes.fromhex(getattr(args, "prefix_hex", "") or "")

    if args.mode == "replay":
        with open(args.data, "rb") as f:
            data = f.read()
        emit({"results": replay(parse_addr(args.to), data, args.count, args.timeout)})
        return 0
    if args.mode == "server":
        srv = Server(args)
        emit({"ready": True})
        for line in sys.stdin:
            if not srv.command(line.strip()):
                break
        return 0
    target = parse_addr(args.connect)
    emit({"ready": True})
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "quit":
            break
        if w[0] == "run":
            emit(client_run(target, int(w[1]), int(w[2]), int(w[3]), float(w[4]),
                            int(w[5]) if len(w) > 5 else 0))
        elif w[0] == "plain":
            try:
                emit(client_plain(target[0], int(w[1]), int(w[2]), int(w[3])))
            except OSError as e:
                emit({"tid": int(w[1]), "plain": True, "error": err_name(e)})
        else:
            emit({"error": "unknown command %r" % line})
    return 0


if __name__ == "__main__":
    sys.exit(main())
