#!/usr/bin/python3
"""mclive -- a long-lived MultiChain-style test peer (the live mode of mcpeer).

mcpeer.py runs a script per connection (pings, invs, blocks, done) and ends.
mclive keeps its connections open instead, so a test can show that nothing
was dropped while something changed under them (a daemon switched on next to
the peer, a policy changed).  It reuses mcpeer's framing (magic, 12-byte
command, length, double-SHA256 checksum) and its version payload.  It is a
file of its own because mcpeer's connection is built around its script and
its final `done` accounting; threading a second lifecycle through it would
make both harder to read.

    mclive.py --name n0 --listen 0.0.0.0:7447 --connect 10.77.0.2:7447 ... \\
              --status /path/n0.json [--stop-file /path/n0.stop]

Per connection, as mcpeer: the side that connected sends `version`, the other
answers `version`, both send `verack`.  Then each side sends a `ping` every
--interval seconds (8-byte nonce + the marker) and answers every `ping` with a
`pong` (same nonce + its own marker), for as long as the connection lives.

Like MultiChain: a first message with a bad magic, or a first message that is
not `version`, closes the connection at once (checked as soon as 4 bytes,
then the whole header, are in); a bad magic later closes it too.  An outbound
connection that fails or closes is made again after --reconnect-delay
seconds, for as long as mclive runs.  A connection on which nothing arrives
for --idle-timeout seconds is closed ("idle").

The status file (--status, JSON, rewritten atomically every --interval
seconds and at exit) lists every connection ever made, in order:

    id, direction ("in"|"out"), target (out: HOST:PORT as given), local,
    peer_host, peer_port, peer_name and peer_marker (from its version),
    opened, established (version and verack both ways), closed (all
    time.monotonic() of this host; null while open), close_reason,
    pings_sent, pongs_received (our pings it answered), pings_received,
    pongs_sent (its pings we answered), last_pong_received, last_ping_received,
    messages_received, bytes_received, bad_magic, marker_missing,
    checksum_failures, errors

plus the node: name, pid, marker, listen, accept_errors and
accept_last_error (e.g. a listening socket destroyed under it), started, now
(monotonic at the write), stopping, stop_reason.

It stops on SIGTERM/SIGINT, when the --stop-file appears, or after --timeout
seconds (a safety net against a leaked process); then it closes every
connection (reason "stopped") and writes the status file a last time.  Exit
status 0 (1 if it could not listen, 2 on usage errors).  Standard library only;
run with /usr/bin/python3.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcpeer import (DEFAULT_MAGIC, HEADER, HEADER_SIZE, MAX_PAYLOAD, PROTOCOL_VERSION,  # noqa: E402
                    USER_AGENT, dsha256_4, fmt_sockaddr, netaddr_bytes, pack_varstr,
                    parse_hostport, unpack_varstr)

STATUS_VERSION = 1


def now():
    return time.monotonic()


class Closed(Exception):
    """The connection is over; the message is the close reason."""


class LiveConn:
    MAX_ERRORS = 20

    def __init__(self, node, direction, sock, target=None):
        self.node = node
        self.direction = direction
        self.target = target
        self.sock = sock
        self.id = node.next_id()
        self.lock = threading.Lock()     # the record
        self.wlock = threading.Lock()    # the socket's writes
        self.opened = now()
        self.established = None
        self.closed = None
        self.close_reason = None
        self.local = self.peer_host = self.peer_port = None
        self.peer_name = self.peer_marker = None
        self.version_received = self.verack_received = False
        self.pings_sent = self.pongs_received = self.pings_received = self.pongs_sent = 0
        self.last_pong_received = self.last_ping_received = None
        self.last_received = now()
        self.messages_received = self.bytes_received = 0
        self.bad_magic = self.marker_missing = self.checksum_failures = 0
        self.errors = []
        self.outstanding = {}
        self.nonce = 0
        try:
            self.local = fmt_sockaddr(sock.getsockname())
            sa = sock.getpeername()
            self.peer_sa = sa
            self.peer_host, self.peer_port = sa[0], sa[1]
        except OSError as e:
            self.peer_sa = None
            self.error("getpeername: %s" % e)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def tag(self):
        return "conn#%d/%s %s" % (self.id, self.direction,
                                  self.target or "%s:%s" % (self.peer_host, self.peer_port))

    def error(self, msg):
        with self.lock:
            if len(self.errors) < self.MAX_ERRORS:
                self.errors.append(msg)

    # ------------------------------------------------------------ wire
    def send(self, cmd, payload):
        header = HEADER.pack(self.node.magic, cmd.encode("ascii"), len(payload), dsha256_4(payload))
        with self.wlock:
            self.sock.sendall(header + payload)
        self.node.log("%s: sent %s" % (self.tag(), cmd), debug=True)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                r = self.sock.recv(n - len(buf))
            except socket.timeout:
                if self.node.stop.is_set():
                    raise Closed("stopped")
                if now() - self.last_received > self.node.args.idle_timeout:
                    raise Closed("idle: nothing received for %gs" % self.node.args.idle_timeout)
                continue
            except OSError as e:
                raise Closed("receive failed: %s" % e)
            if not r:
                raise Closed("eof" if not buf else "eof inside a message (%d of %d bytes)"
                             % (len(buf), n))
            buf += r
            self.last_received = now()
            with self.lock:
                self.bytes_received += len(r)
        return bytes(buf)

    def read_message(self, first):
        magic = self.recv_exact(4)
        if magic != self.node.magic:
            with self.lock:
                self.bad_magic += 1
            raise Closed("bad magic %s%s" % (magic.hex(), " in the first message" if first else ""))
        rest = self.recv_exact(HEADER_SIZE - 4)
        _, rawcmd, length, csum = HEADER.unpack(magic + rest)
        cmd = rawcmd.rstrip(b"\0")
        valid = b"\0" not in cmd and cmd and all(0x20 <= c < 0x7F for c in cmd)
        if first and cmd != b"version":
            raise Closed("first message is not version: %s" % rawcmd.hex())
        if not valid:
            raise Closed("invalid command bytes %s" % rawcmd.hex())
        if length > MAX_PAYLOAD:
            raise Closed("message %r of %d bytes" % (cmd, length))
        payload = self.recv_exact(length)
        if dsha256_4(payload) != csum:
            with self.lock:
                self.checksum_failures += 1
            raise Closed("checksum mismatch on %r" % cmd)
        with self.lock:
            self.messages_received += 1
        return cmd.decode("ascii"), payload

    # ------------------------------------------------------------ payloads
    def make_version(self):
        p = struct.pack("<iQq", PROTOCOL_VERSION, 1, int(time.time()))
        p += netaddr_bytes(self.peer_sa) + netaddr_bytes(None)
        p += struct.pack("<Q", int.from_bytes(os.urandom(8), "little"))
        p += pack_varstr("%s%s/" % (USER_AGENT, self.node.args.name))
        p += struct.pack("<i?", 0, True)
        p += pack_varstr(self.node.args.name) + pack_varstr(self.node.marker)
        return p

    @staticmethod
    def parse_version(payload):
        if len(payload) < 80:
            raise ValueError("version payload too short (%d)" % len(payload))
        ua, off = unpack_varstr(payload, 80)
        off += 5
        name, off = unpack_varstr(payload, off)
        marker, off = unpack_varstr(payload, off)
        return name.decode("utf-8", "replace"), marker

    def check_marker(self, cmd, data):
        if self.peer_marker and self.peer_marker not in data:
            with self.lock:
                self.marker_missing += 1
            self.error("peer marker missing in %s" % cmd)

    # ------------------------------------------------------------ session
    def handle(self, cmd, payload):
        if cmd == "version":
            if self.version_received:
                raise Closed("duplicate version")
            try:
                name, marker = self.parse_version(payload)
            except (ValueError, struct.error) as e:
                raise Closed("bad version: %s" % e)
            with self.lock:
                self.peer_name, self.peer_marker = name, marker or None
                self.version_received = True
            if self.direction == "in":
                self.send("version", self.make_version())
            self.send("verack", b"")
            self.node.log("%s: peer is %r" % (self.tag(), name))
        elif cmd == "verack":
            with self.lock:
                self.verack_received = True
        elif cmd == "ping":
            self.check_marker(cmd, payload[8:])
            t = now()
            with self.lock:
                self.pings_received += 1
                self.last_ping_received = t
            self.send("pong", payload[:8] + self.node.marker)
            with self.lock:
                self.pongs_sent += 1
        elif cmd == "pong":
            self.check_marker(cmd, payload[8:])
            t = now()
            with self.lock:
                if self.outstanding.pop(payload[:8], None) is None:
                    self.errors.append("pong with unknown nonce %s" % payload[:8].hex())
                    return
                self.pongs_received += 1
                self.last_pong_received = t
        else:
            self.node.log("%s: ignoring %r" % (self.tag(), cmd))
        with self.lock:
            if self.established is None and self.version_received and self.verack_received:
                self.established = now()

    def reader(self):
        first = True
        while True:
            cmd, payload = self.read_message(first)
            first = False
            self.handle(cmd, payload)

    def pinger(self):
        iv = self.node.args.interval
        while not self.node.stop.wait(iv):
            with self.lock:
                if self.closed is not None:
                    return
                ready = self.established is not None
            if not ready:
                continue
            self.nonce += 1
            nonce = struct.pack("<Q", (self.id << 40) | self.nonce)
            with self.lock:
                self.outstanding[nonce] = now()
                self.pings_sent += 1
                if len(self.outstanding) > 1000:  # never answered: keep the record small
                    self.outstanding.pop(next(iter(self.outstanding)))
            try:
                self.send("ping", nonce + self.node.marker)
            except OSError:
                return  # the reader sees the failure and closes

    def run(self):
        """The whole connection; returns the close reason."""
        self.sock.settimeout(0.2)
        self.node.log("%s: open (local %s)" % (self.tag(), self.local))
        pt = threading.Thread(target=self.pinger, name="ping%d" % self.id, daemon=True)
        pt.start()
        try:
            if self.direction == "out":
                self.send("version", self.make_version())
            self.reader()
        except Closed as e:
            reason = str(e)
        except OSError as e:
            reason = "send failed: %s" % e
        except Exception as e:  # never die silently
            reason = "crashed: %r" % (e,)
        if self.node.stop.is_set():
            reason = "stopped"
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            self.closed = now()
            self.close_reason = reason
        self.node.log("%s: closed (%s)" % (self.tag(), reason))
        pt.join(1.0)
        self.node.write_status()
        return reason

    def record(self):
        with self.lock:
            return {
                "id": self.id, "direction": self.direction, "target": self.target,
                "local": self.local, "peer_host": self.peer_host, "peer_port": self.peer_port,
                "peer_name": self.peer_name,
                "peer_marker": self.peer_marker.decode("utf-8", "replace") if self.peer_marker else None,
                "opened": self.opened, "established": self.established,
                "closed": self.closed, "close_reason": self.close_reason,
                "pings_sent": self.pings_sent, "pongs_received": self.pongs_received,
                "pings_received": self.pings_received, "pongs_sent": self.pongs_sent,
                "last_pong_received": self.last_pong_received,
                "last_ping_received": self.last_ping_received,
                "messages_received": self.messages_received, "bytes_received": self.bytes_received,
                "bad_magic": self.bad_magic, "marker_missing": self.marker_missing,
                "checksum_failures": self.checksum_failures, "errors": list(self.errors),
            }


class LiveNode:
    def __init__(self, args):
        self.args = args
        self.magic = bytes.fromhex(args.magic)
        self.marker = args.marker.encode("utf-8")
        self.t0 = now()
        self.stop = threading.Event()
        self.stop_reason = None
        self.lock = threading.Lock()
        self.wrlock = threading.Lock()
        self.conns = []
        self.counter = 0
        self.listener = None
        self.listen_addr = None
        self.accept_errors = 0
        self.accept_last_error = None

    def log(self, msg, debug=False):
        if debug and not self.args.verbose:
            return
        sys.stderr.write("[mclive %s %7.3f] %s\n" % (self.args.name, now() - self.t0, msg))
        sys.stderr.flush()

    def next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def add(self, c):
        with self.lock:
            self.conns.append(c)
        self.write_status()

    # ------------------------------------------------------------ status
    def write_status(self):
        path = self.args.status
        if not path:
            return
        with self.lock:
            conns = sorted(self.conns, key=lambda c: c.id)
        st = {
            "status_version": STATUS_VERSION, "name": self.args.name, "pid": os.getpid(),
            "marker": self.args.marker, "listen": self.listen_addr,
            "accept_errors": self.accept_errors, "accept_last_error": self.accept_last_error,
            "connect": list(self.args.connect), "started": self.t0, "now": now(),
            "stopping": self.stop.is_set(), "stop_reason": self.stop_reason,
            "connections": [c.record() for c in conns],
        }
        with self.wrlock:
            tmp = "%s.tmp.%d" % (path, os.getpid())
            with open(tmp, "w") as f:
                json.dump(st, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)

    # ------------------------------------------------------------ sockets
    def open_listener(self):
        a = self.args
        if a.listen_fd is not None:
            s = socket.socket(fileno=a.listen_fd)
        else:
            host, port = parse_hostport(a.listen, "--listen")
            host = "0.0.0.0" if host in ("*", "") else host
            fam, st, proto, _, sa = socket.getaddrinfo(host, port, socket.AF_UNSPEC,
                                                       socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0]
            s = socket.socket(fam, st, proto)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(sa)
            s.listen(64)
        s.settimeout(0.2)
        self.listener = s
        self.listen_addr = fmt_sockaddr(s.getsockname())
        self.log("listening on %s" % self.listen_addr)

    def accept_loop(self):
        while not self.stop.is_set():
            try:
                cs, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError as e:
                if not self.stop.is_set():
                    self.accept_errors += 1
                    self.accept_last_error = str(e)
                    if self.accept_errors in (1, 10) or self.accept_errors % 100 == 0:
                        self.log("accept failed (%d so far): %s" % (self.accept_errors, e))
                    time.sleep(0.1)
                continue
            c = LiveConn(self, "in", cs)
            self.add(c)
            threading.Thread(target=c.run, name="in%d" % c.id, daemon=True).start()

    def out_loop(self, target):
        a = self.args
        host, port = parse_hostport(target, "--connect")
        failures = 0
        while not self.stop.is_set():
            sock, err = None, None
            try:
                for fam, st, proto, _, sa in socket.getaddrinfo(host, port, socket.AF_UNSPEC,
                                                                 socket.SOCK_STREAM):
                    s = socket.socket(fam, st, proto)
                    s.settimeout(a.connect_timeout)
                    try:
                        s.connect(sa)
                        sock = s
                        break
                    except OSError as e:
                        err = e
                        s.close()
            except OSError as e:
                err = e
            if sock is None:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    self.log("connect %s failed (%d so far): %s" % (target, failures, err))
            else:
                c = LiveConn(self, "out", sock, target)
                self.add(c)
                c.run()
            self.stop.wait(a.reconnect_delay)

    # ------------------------------------------------------------ main
    def run(self):
        a = self.args
        if a.listen or a.listen_fd is not None:
            self.open_listener()
            threading.Thread(target=self.accept_loop, name="accept", daemon=True).start()
        for t in a.connect:
            threading.Thread(target=self.out_loop, args=(t,), name="out", daemon=True).start()
        end = self.t0 + a.timeout
        while not self.stop.is_set():
            self.write_status()
            if a.stop_file and os.path.exists(a.stop_file):
                self.stop_reason = "stop file %s" % a.stop_file
                break
            if now() >= end:
                self.stop_reason = "timeout (%gs) reached" % a.timeout
                break
            self.stop.wait(a.interval)
        self.stop.set()
        self.log("stopping: %s" % self.stop_reason)
        with self.lock:
            conns = list(self.conns)
        for c in conns:  # wake every reader: it closes and records "stopped"
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        t_end = now() + 3.0
        while now() < t_end and any(c.closed is None for c in conns):
            time.sleep(0.02)
        if self.listener is not None:
            self.listener.close()
        self.write_status()
        return 0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="mclive.py", description=(
        "Long-lived MultiChain-style peer: keeps every connection open with ping/pong, "
        "reconnects, reports in a JSON status file."))
    p.add_argument("--listen", metavar="ADDR:PORT")
    p.add_argument("--listen-fd", type=int, metavar="FD",
                   help="an inherited, bound and listening socket instead of --listen")
    p.add_argument("--connect", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--name", default=None, help="node name (default node-<pid>)")
    p.add_argument("--marker", default=None, help="carried by every version/ping/pong payload "
                   "(default NODESEAL-MARKER-<name>)")
    p.add_argument("--magic", default=DEFAULT_MAGIC)
    p.add_argument("--status", metavar="FILE", help="JSON status file")
    p.add_argument("--stop-file", metavar="FILE", help="stop once this file exists")
    p.add_argument("--interval", type=float, default=0.2,
                   help="seconds between pings, and between status writes (default 0.2)")
    p.add_argument("--reconnect-delay", type=float, default=0.3, metavar="SECONDS")
    p.add_argument("--connect-timeout", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--idle-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="close a connection on which nothing arrived for this long (default 10)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="stop after this many seconds at the latest (default 300)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.name is None:
        a.name = "node-%d" % os.getpid()
    if a.marker is None:
        a.marker = "NODESEAL-MARKER-%s" % a.name
    try:
        ok = len(bytes.fromhex(a.magic)) == 4
    except ValueError:
        ok = False
    if not ok:
        p.error("--magic must be 4 bytes of hex")
    if a.listen and a.listen_fd is not None:
        p.error("--listen and --listen-fd are mutually exclusive")
    try:
        if a.listen:
            parse_hostport(a.listen, "--listen")
        for t in a.connect:
            parse_hostport(t, "--connect")
    except ValueError as e:
        p.error(str(e))
    for k in ("interval", "reconnect_delay", "connect_timeout", "idle_timeout", "timeout"):
        if getattr(a, k) <= 0:
            p.error("--%s must be > 0" % k.replace("_", "-"))
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    node = LiveNode(args)

    def on_signal(signum, frame):
        node.stop_reason = "signal %d" % signum
        node.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return node.run()
    except OSError as e:
        node.log("fatal: %s" % e)
        node.stop_reason = "fatal: %s" % e
        node.stop.set()
        node.write_status()
        return 1


if __name__ == "__main__":
    sys.exit(main())
