#!/usr/bin/python3
"""tamper_relay -- TCP relay that flips one bit of the stream after N bytes.

Accepts connections on --listen (or an inherited listening socket, --listen-fd),
opens one upstream connection to --connect per client, and copies bytes both
ways.  In the chosen --direction ("up" = client->upstream, "down" =
upstream->client) the byte at offset --corrupt-after N (0-based, counted per
connection) gets bit --bit flipped; N < 0 disables corruption (a plain relay).
Half-closes are propagated (EOF on one side -> shutdown(SHUT_WR) on the other).

Used by the tests to prove that mcpeer (and later nodeseal) detect tampering.
Standard library only; run with /usr/bin/python3.  Logs go to stderr; the
--report FILE (JSON) is rewritten after every finished connection and at exit.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time


def parse_hostport(text):
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("bad address %r" % text)
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError("bad address %r (IPv6 needs [addr]:port)" % text)
    return host, int(port)


def fmt(sa):
    if sa is None:
        return None
    if len(sa) >= 4:
        return "[%s]:%d" % (sa[0], sa[1])
    return "%s:%d" % (sa[0], sa[1])


class Relay:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.timeout
        self.lock = threading.Lock()
        self.records = []
        self.stop = threading.Event()
        self.corruptions_done = 0
        self.listen_addr = None

    def log(self, msg):
        sys.stderr.write("[tamper_relay %7.3f] %s\n" % (time.monotonic() - self.t0, msg))
        sys.stderr.flush()

    def want_corrupt(self):
        a = self.args
        if a.corrupt_after < 0:
            return False
        with self.lock:
            if a.max_corruptions and self.corruptions_done >= a.max_corruptions:
                return False
            return True

    def pump(self, rec, key, src, dst, corrupt):
        """Copy src -> dst; flip the bit at offset corrupt (or None)."""
        total = 0
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if corrupt is not None and total <= corrupt < total + len(data):
                    with self.lock:
                        if (not self.args.max_corruptions or
                                self.corruptions_done < self.args.max_corruptions):
                            self.corruptions_done += 1
                            buf = bytearray(data)
                            i = corrupt - total
                            old = buf[i]
                            buf[i] ^= (1 << self.args.bit)
                            data = bytes(buf)
                            rec["corrupted"].append({"direction": key, "offset": corrupt,
                                                     "bit": self.args.bit, "old": old, "new": buf[i]})
                            self.log("conn %d: flipped bit %d of byte %d (%s): %02x -> %02x" %
                                     (rec["id"], self.args.bit, corrupt, key, old, buf[i]))
                dst.sendall(data)
                total += len(data)
                rec["bytes_" + key] = total
        except OSError as e:
            rec["errors"].append("%s: %s" % (key, e))
        finally:
            rec["bytes_" + key] = total
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def connect_upstream(self):
        host, port = parse_hostport(self.args.connect)
        until = min(self.deadline, time.monotonic() + self.args.connect_retry)
        last = None
        while True:
            for fam, st, proto, _, sa in socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
                s = socket.socket(fam, st, proto)
                s.settimeout(5.0)
                try:
                    s.connect(sa)
                    s.settimeout(None)
                    return s
                except OSError as e:
                    last = e
                    s.close()
            if time.monotonic() >= until or self.stop.is_set():
                raise OSError("upstream %s: %s" % (self.args.connect, last))
            time.sleep(0.2)

    def handle(self, client, rec):
        up = None
        try:
            client.settimeout(None)
            rec["client"] = fmt(client.getpeername())
            rec["listen_local"] = fmt(client.getsockname())
            up = self.connect_upstream()
            rec["upstream_local"] = fmt(up.getsockname())
            rec["upstream_peer"] = fmt(up.getpeername())
            self.log("conn %d: %s -> %s via %s" % (rec["id"], rec["client"], rec["upstream_peer"],
                                                   rec["upstream_local"]))
            c_up = self.args.corrupt_after if (self.want_corrupt() and self.args.direction == "up") else None
            c_dn = self.args.corrupt_after if (self.want_corrupt() and self.args.direction == "down") else None
            t1 = threading.Thread(target=self.pump, args=(rec, "up", client, up, c_up), daemon=True)
            t2 = threading.Thread(target=self.pump, args=(rec, "down", up, client, c_dn), daemon=True)
            t1.start()
            t2.start()
            for t in (t1, t2):
                t.join(max(0.0, self.deadline - time.monotonic()))
            if t1.is_alive() or t2.is_alive():
                rec["errors"].append("timeout")
        except OSError as e:
            rec["errors"].append(str(e))
            self.log("conn %d: %s" % (rec["id"], e))
        finally:
            for s in (client, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            rec["finished"] = True
            self.write_report()

    def report(self):
        with self.lock:
            return {
                "listen": self.listen_addr,
                "connect": self.args.connect,
                "corrupt_after": self.args.corrupt_after,
                "bit": self.args.bit,
                "direction": self.args.direction,
                "corruptions": self.corruptions_done,
                "connections": [dict(r) for r in self.records],
            }

    def write_report(self):
        if not self.args.report:
            return
        rep = self.report()
        tmp = "%s.tmp.%d.%d" % (self.args.report, os.getpid(), threading.get_ident())
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=2, sort_keys=True)
        os.replace(tmp, self.args.report)

    def run(self):
        a = self.args
        if a.listen_fd is not None:
            ls = socket.socket(fileno=a.listen_fd)
        else:
            host, port = parse_hostport(a.listen)
            fam, st, proto, _, sa = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                                       socket.AI_PASSIVE)[0]
            ls = socket.socket(fam, st, proto)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(sa)
            ls.listen(64)
        ls.settimeout(0.2)
        self.listen_addr = fmt(ls.getsockname())
        self.log("listening on %s, relaying to %s, corrupt-after %d (%s, bit %d)" %
                 (self.listen_addr, a.connect, a.corrupt_after, a.direction, a.bit))
        threads = []
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            if a.max_connections and n >= a.max_connections:
                break
            try:
                cs, _ = ls.accept()
            except socket.timeout:
                continue
            n += 1
            rec = {"id": n, "client": None, "listen_local": None, "upstream_local": None,
                   "upstream_peer": None, "bytes_up": 0, "bytes_down": 0, "corrupted": [],
                   "errors": [], "finished": False}
            with self.lock:
                self.records.append(rec)
            t = threading.Thread(target=self.handle, args=(cs, rec), daemon=True)
            t.start()
            threads.append(t)
        ls.close()
        # on a signal give active connections only a moment, else run to the deadline
        end = time.monotonic() + 1.0 if self.stop.is_set() else self.deadline
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        self.write_report()
        return 0


def main():
    p = argparse.ArgumentParser(prog="tamper_relay.py",
                                description="TCP relay that flips one bit after N bytes")
    p.add_argument("--listen", metavar="ADDR:PORT")
    p.add_argument("--listen-fd", type=int, metavar="FD", help="inherited listening socket")
    p.add_argument("--connect", required=True, metavar="HOST:PORT", help="upstream address")
    p.add_argument("--corrupt-after", type=int, default=-1, metavar="N",
                   help="flip a bit in byte N (0-based) of each connection's stream; <0 = never (default)")
    p.add_argument("--bit", type=int, default=0, choices=range(8), help="bit to flip (default 0)")
    p.add_argument("--direction", choices=("up", "down"), default="up",
                   help="up = client->upstream (default), down = upstream->client")
    p.add_argument("--max-corruptions", type=int, default=0,
                   help="stop corrupting after this many flips in total (0 = one per connection)")
    p.add_argument("--max-connections", type=int, default=0,
                   help="exit after accepting this many connections and finishing them (0 = unlimited)")
    p.add_argument("--connect-retry", type=float, default=5.0, help="seconds to retry upstream connect")
    p.add_argument("--timeout", type=float, default=60.0, help="overall lifetime in seconds")
    p.add_argument("--report", metavar="FILE", help="JSON report (rewritten per connection)")
    a = p.parse_args()
    if (a.listen is None) == (a.listen_fd is None):
        p.error("exactly one of --listen / --listen-fd is required")
    relay = Relay(a)

    def on_signal(signum, frame):
        relay.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return relay.run()


if __name__ == "__main__":
    sys.exit(main())
