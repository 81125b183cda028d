#!/usr/bin/python3
"""mcpeer -- a test peer speaking MultiChain/Bitcoin-style P2P framing.

Every message on a connection is framed as

    4  magic        (default fb b4 c7 de, --magic)
    12 command      ASCII, NUL padded
    4  length       little endian, messages above 32 MiB are refused
    4  checksum     first 4 bytes of SHA256(SHA256(payload))
    n  payload

Per connection the side that opened the TCP connection sends `version`, the
other side answers `version`, both send `verack`.  Then each side runs its
script concurrently with the other side: --pings `ping` (8-byte nonce, answered
by `pong` with the same nonce), --invs `inv` (varint count, then 1..50 Bitcoin
inv vectors of 36 bytes: uint32 type + 32-byte hash; a 1-entry inv is 37
bytes), --blocks `block` messages of --block-size random bytes with the marker
at a random offset, interleaved with the small messages, and finally `done`
(JSON: messages/bytes/sha256 of everything it sent before `done`).  A side
closes (shutdown(SHUT_WR), then read to EOF) once it has sent its `done`,
received the peer's `done` and a pong for each of its pings.

The marker (--marker, default NODESEAL-MARKER-<name>) is carried by every
non-empty payload: `version` (extra var_str after the standard fields), `ping`
and `pong` (after the 8-byte nonce), `inv` (after the entries), `block` (at a
random offset) and `done` (JSON field).  `verack` has an empty payload.  The
receiver checks that the peer's marker (learned from its `version`) is present.

Standard library only; run with /usr/bin/python3.  Logs go to stderr; stdout
gets a single summary line at exit; --report FILE gets the full JSON report.
Exit status 0 if everything was ok, 1 otherwise, 2 on usage errors.
"""

import argparse
import hashlib
import json
import os
import queue
import random
import signal
import socket
import struct
import sys
import threading
import time

DEFAULT_MAGIC = "fbb4c7de"
MAX_PAYLOAD = 32 * 1024 * 1024
HEADER = struct.Struct("<4s12sI4s")
HEADER_SIZE = HEADER.size  # 24
PROTOCOL_VERSION = 70002
USER_AGENT = "/mcpeer:1.0/"
MAX_INV_ENTRIES = 50000
INV_ENTRY_SIZE = 36  # Bitcoin inv vector: uint32 type + 32-byte hash (1-entry inv = 37 bytes)
REPORT_VERSION = 1


def now():
    return time.monotonic()


def dsha256_4(data):
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]


def pack_varint(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def unpack_varint(buf, off):
    if off >= len(buf):
        raise ValueError("truncated varint")
    b = buf[off]
    if b < 0xFD:
        return b, off + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[b]
    if off + 1 + size > len(buf):
        raise ValueError("truncated varint")
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[size]
    return struct.unpack_from(fmt, buf, off + 1)[0], off + 1 + size


def pack_varstr(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return pack_varint(len(s)) + s


def unpack_varstr(buf, off):
    n, off = unpack_varint(buf, off)
    if off + n > len(buf):
        raise ValueError("truncated var_str")
    return bytes(buf[off:off + n]), off + n


def parse_hostport(text, what="address"):
    """'1.2.3.4:5', 'host:5' or '[::1]:5' -> (host, port)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("bad %s %r (want [IPv6]:PORT)" % (what, text))
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError("bad %s %r (want HOST:PORT)" % (what, text))
        if ":" in host:
            raise ValueError("bad %s %r (IPv6 needs brackets: [addr]:port)" % (what, text))
    try:
        port = int(port)
    except ValueError:
        raise ValueError("bad port in %s %r" % (what, text))
    if not 0 <= port <= 65535:
        raise ValueError("port out of range in %s %r" % (what, text))
    return host, port


def fmt_sockaddr(sa):
    if sa is None:
        return None
    if isinstance(sa, tuple) and len(sa) >= 4:
        return "[%s]:%d" % (sa[0], sa[1])
    if isinstance(sa, tuple):
        return "%s:%d" % (sa[0], sa[1])
    return str(sa)


def netaddr_bytes(sa):
    """Bitcoin net_addr without time: services, 16-byte IPv6, port (BE)."""
    ip16 = b"\x00" * 16
    port = 0
    try:
        if sa and len(sa) >= 4:
            ip16 = socket.inet_pton(socket.AF_INET6, sa[0].split("%")[0])
            port = sa[1]
        elif sa:
            ip16 = b"\x00" * 10 + b"\xff\xff" + socket.inet_pton(socket.AF_INET, sa[0])
            port = sa[1]
    except (OSError, ValueError, TypeError):
        pass
    return struct.pack("<Q", 1) + ip16 + struct.pack(">H", port)


class Logger:
    def __init__(self, name, verbose):
        self.name = name
        self.verbose = verbose
        self.t0 = now()
        self.lock = threading.Lock()

    def __call__(self, msg, debug=False):
        if debug and not self.verbose:
            return
        with self.lock:
            sys.stderr.write("[mcpeer %s %7.3f] %s\n" % (self.name, now() - self.t0, msg))
            sys.stderr.flush()


class Conn:
    """One TCP connection (one attempt) and its full bookkeeping."""

    MAX_ERRORS = 50

    def __init__(self, node, direction, sock=None, target=None):
        self.node = node
        self.args = node.args
        self.log = node.log
        self.direction = direction  # "in" | "out"
        self.target = target  # "host:port" as given on --connect
        self.sock = sock
        self.id = node.next_conn_id()
        seed = self.args.seed
        if seed is None:
            self.rng = random.Random(os.urandom(16))
        else:
            self.rng = random.Random("%s/%s/%s/%s" % (seed, self.args.name, direction, target or self.id))
        self.cond = threading.Condition()
        self.outq = queue.Queue()
        self.bulk_slots = threading.Semaphore(2)
        self.errors = []
        self.aborted = False
        self.finished = False
        self.started_at = now()
        self.ended_at = None
        self.connect_attempts = 0
        self.attempt_errors = []
        self.local = None
        self.peer = None
        self.peer_sa = None
        self.local_sa = None
        # handshake
        self.version_sent = False
        self.version_received = False
        self.verack_sent = False
        self.verack_received = False
        self.peer_name = None
        self.peer_marker = None
        self.peer_user_agent = None
        self.peer_protocol_version = None
        # script/finish state
        self.outstanding_pings = {}
        self.pings_sent = 0
        self.pongs_received = 0
        self.script_done = False
        self.done_sent = False
        self.done_received = False
        self.peer_done = None
        self.done_match = None
        self.clean_eof = False
        # counters
        self.messages_sent = 0
        self.bytes_sent = 0
        self.payload_bytes_sent = 0
        self.sent_by_command = {}
        self.block_bytes_sent = 0
        self.sent_digest = hashlib.sha256()
        self.sent_before_done = None  # dict filled when done is sent
        self.messages_received = 0
        self.bytes_received = 0
        self.payload_bytes_received = 0
        self.received_by_command = {}
        self.block_bytes_received = 0
        self.recv_digest = hashlib.sha256()
        self.recv_msgs_before_done = 0
        self.recv_bytes_before_done = 0
        self.recv_payload_before_done = 0
        self.recv_before_done = None
        self.checksum_failures = 0
        self.bad_magic = 0
        self.unexpected_eof = 0
        self.protocol_errors = 0
        self.oversized = 0
        self.unknown_commands = 0
        self.marker_missing = 0
        self.done_mismatches = 0
        self.ok = False
        self.marker = self.args.marker.encode("utf-8")

    # ---------------------------------------------------------- utilities
    def tag(self):
        return "conn#%d/%s %s" % (self.id, self.direction, self.peer or self.target or "?")

    def error(self, msg, kind=None):
        with self.cond:
            if kind:
                setattr(self, kind, getattr(self, kind) + 1)
            if len(self.errors) < self.MAX_ERRORS:
                self.errors.append(msg)
            elif len(self.errors) == self.MAX_ERRORS:
                self.errors.append("(further errors suppressed)")
            self.cond.notify_all()
        self.log("%s: ERROR %s" % (self.tag(), msg))

    def abort(self, msg=None, kind=None):
        if msg:
            self.error(msg, kind)
        with self.cond:
            already = self.aborted
            self.aborted = True
            self.cond.notify_all()
        if not already and self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.outq.put(("stop",))

    def wait_for(self, predicate, what):
        """Wait until predicate() (under self.cond) or abort/deadline."""
        with self.cond:
            while True:
                if predicate():
                    return True
                if self.aborted:
                    return False
                left = self.node.deadline - now()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
        self.abort("timeout waiting for %s" % what)
        return False

    # ---------------------------------------------------------- sending
    def enqueue(self, cmd, payload, bulk=False):
        self.outq.put(("msg", cmd, payload, bulk))

    def _send_frame(self, cmd, payload, count_before_done=True):
        header = HEADER.pack(self.node.magic, cmd.encode("ascii"), len(payload), dsha256_4(payload))
        self.sock.sendall(header + payload if len(payload) < 65536 else header)
        if len(payload) >= 65536:
            self.sock.sendall(payload)
        with self.cond:
            self.messages_sent += 1
            self.bytes_sent += HEADER_SIZE + len(payload)
            self.payload_bytes_sent += len(payload)
            self.sent_by_command[cmd] = self.sent_by_command.get(cmd, 0) + 1
            if cmd == "block":
                self.block_bytes_sent += len(payload)
            if count_before_done and not self.done_sent:
                self.sent_digest.update(cmd.encode("ascii").ljust(12, b"\0"))
                self.sent_digest.update(payload)
            if cmd == "version":
                self.version_sent = True
            elif cmd == "verack":
                self.verack_sent = True
            self.cond.notify_all()
        self.log("%s: sent %s (%d bytes)" % (self.tag(), cmd, len(payload)), debug=True)

    def writer(self):
        try:
            while True:
                item = self.outq.get()
                kind = item[0]
                if kind == "stop":
                    return
                if self.aborted:
                    return
                if kind == "msg":
                    _, cmd, payload, bulk = item
                    try:
                        self._send_frame(cmd, payload)
                    finally:
                        if bulk:
                            self.bulk_slots.release()
                elif kind == "done":
                    with self.cond:
                        info = {
                            "messages": self.messages_sent,
                            "bytes": self.bytes_sent,
                            "payload_bytes": self.payload_bytes_sent,
                            "blocks": self.sent_by_command.get("block", 0),
                            "block_bytes": self.block_bytes_sent,
                            "sha256": self.sent_digest.hexdigest(),
                            "name": self.args.name,
                            "marker": self.args.marker,
                        }
                        self.sent_before_done = dict(info)
                    payload = json.dumps(info, sort_keys=True).encode("utf-8")
                    self._send_frame("done", payload, count_before_done=False)
                    with self.cond:
                        self.done_sent = True
                        self.cond.notify_all()
                elif kind == "shutdown":
                    self.sock.shutdown(socket.SHUT_WR)
                    return
        except OSError as e:
            if not self.aborted:
                self.abort("send failed: %s" % e)

    # ---------------------------------------------------------- payloads
    def make_version(self):
        p = struct.pack("<iQq", PROTOCOL_VERSION, 1, int(time.time()))
        p += netaddr_bytes(self.peer_sa) + netaddr_bytes(self.local_sa)
        p += struct.pack("<Q", self.rng.getrandbits(64))
        p += pack_varstr("%s%s/" % (USER_AGENT, self.args.name))
        p += struct.pack("<i?", 0, True)
        # extension fields (ignored by Bitcoin-style parsers): name, marker
        p += pack_varstr(self.args.name) + pack_varstr(self.marker)
        return p

    def parse_version(self, payload):
        if len(payload) < 80:
            raise ValueError("version payload too short (%d)" % len(payload))
        pver, = struct.unpack_from("<i", payload, 0)
        off = 80
        ua, off = unpack_varstr(payload, off)
        if off + 5 > len(payload):
            raise ValueError("version truncated after user agent")
        off += 5
        name, off = unpack_varstr(payload, off)
        marker, off = unpack_varstr(payload, off)
        return pver, ua.decode("utf-8", "replace"), name.decode("utf-8", "replace"), marker

    def make_ping(self):
        while True:
            nonce = struct.pack("<Q", self.rng.getrandbits(64))
            if nonce not in self.outstanding_pings:
                break
        return nonce, nonce + self.marker

    def make_inv(self):
        n = self.rng.randint(1, 50)
        parts = [pack_varint(n)]
        for _ in range(n):
            # inv vector: uint32 type (1 = MSG_TX, 2 = MSG_BLOCK) + 32-byte hash
            parts.append(struct.pack("<I", self.rng.choice((1, 2))))
            parts.append(self.rng.randbytes(32))
        parts.append(self.marker)
        return b"".join(parts)

    def make_block(self):
        size = self.args.block_size
        data = bytearray(self.rng.randbytes(size))
        m = self.marker[:size]
        off = self.rng.randrange(0, size - len(m) + 1)
        data[off:off + len(m)] = m
        return bytes(data)

    # ---------------------------------------------------------- receiving
    def recv_exact(self, n, at_frame_start=False):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            r = self.sock.recv_into(view[got:], min(n - got, 1 << 20))
            if r == 0:
                if at_frame_start and got == 0:
                    return None
                raise EOFError("EOF after %d of %d bytes" % (got, n))
            got += r
            with self.cond:
                self.bytes_received += r
        return bytes(buf)

    def peer_finished_ok(self):
        return self.done_received and not self.outstanding_pings and self.script_done

    def reader(self):
        try:
            while True:
                hdr = self.recv_exact(HEADER_SIZE, at_frame_start=True)
                if hdr is None:
                    with self.cond:
                        aborted = self.aborted
                        expected = self.peer_finished_ok()
                        if expected:
                            self.clean_eof = True
                        self.cond.notify_all()
                    if aborted:
                        return
                    if not expected:
                        what = []
                        if not self.version_received:
                            what.append("version")
                        if not self.done_received:
                            what.append("done")
                        if self.outstanding_pings:
                            what.append("%d pong(s)" % len(self.outstanding_pings))
                        self.abort("unexpected EOF from peer (still waiting for %s)" %
                                   (", ".join(what) or "own script"), kind="unexpected_eof")
                    return
                magic, rawcmd, length, csum = HEADER.unpack(hdr)
                if magic != self.node.magic:
                    self.abort("bad magic %s (expected %s)" % (magic.hex(), self.node.magic.hex()),
                               kind="bad_magic")
                    return
                if length > MAX_PAYLOAD:
                    self.abort("message %r length %d exceeds max %d" % (rawcmd.rstrip(b"\0"), length, MAX_PAYLOAD),
                               kind="oversized")
                    return
                payload = self.recv_exact(length)
                cmd = rawcmd.rstrip(b"\0")
                valid_cmd = (b"\0" not in cmd and all(0x20 <= c < 0x7F for c in cmd))
                if dsha256_4(payload) != csum:
                    self.error("checksum mismatch on %r message (%d bytes): got %s want %s" %
                               (cmd.decode("ascii", "replace"), length, csum.hex(), dsha256_4(payload).hex()),
                               kind="checksum_failures")
                    continue
                if not valid_cmd:
                    self.error("invalid command bytes %s" % rawcmd.hex(), kind="protocol_errors")
                    continue
                self.handle(cmd.decode("ascii"), payload, HEADER_SIZE + length)
        except EOFError as e:
            if not self.aborted:
                self.abort("unexpected EOF inside a message: %s" % e, kind="unexpected_eof")
        except OSError as e:
            if not self.aborted:
                self.abort("receive failed: %s" % e)
        except Exception as e:  # bug guard: never die silently
            self.abort("reader crashed: %r" % (e,))

    def check_marker(self, cmd, data):
        pm = self.peer_marker
        if pm and pm not in data:
            self.error("peer marker missing in %s payload" % cmd, kind="marker_missing")

    def handle(self, cmd, payload, wire_len):
        self.log("%s: recv %s (%d bytes)" % (self.tag(), cmd, len(payload)), debug=True)
        with self.cond:
            self.messages_received += 1
            self.payload_bytes_received += len(payload)
            self.received_by_command[cmd] = self.received_by_command.get(cmd, 0) + 1
            before_done = not self.done_received
            if before_done and cmd != "done":
                self.recv_msgs_before_done += 1
                self.recv_bytes_before_done += wire_len
                self.recv_payload_before_done += len(payload)
                self.recv_digest.update(cmd.encode("ascii").ljust(12, b"\0"))
                self.recv_digest.update(payload)
            if cmd == "block":
                self.block_bytes_received += len(payload)

        if cmd == "version":
            if self.version_received:
                self.error("duplicate version", kind="protocol_errors")
                return
            try:
                pver, ua, name, marker = self.parse_version(payload)
            except (ValueError, struct.error) as e:
                self.error("bad version payload: %s" % e, kind="protocol_errors")
                pver, ua, name, marker = None, None, None, b""
            with self.cond:
                self.peer_protocol_version = pver
                self.peer_user_agent = ua
                self.peer_name = name
                self.peer_marker = marker or None
            if self.direction == "in":
                self.enqueue("version", self.make_version())
            self.enqueue("verack", b"")
            with self.cond:
                self.version_received = True
                self.cond.notify_all()
            self.log("%s: peer is %r (%s, protocol %s)" % (self.tag(), name, ua, pver))
            return

        if not self.version_received:
            self.error("%s received before version" % cmd, kind="protocol_errors")
            return
        if not before_done and cmd != "pong":
            self.error("%s received after peer's done" % cmd, kind="protocol_errors")

        if cmd == "verack":
            if payload:
                self.error("verack with non-empty payload", kind="protocol_errors")
            with self.cond:
                if self.verack_received:
                    self.error("duplicate verack", kind="protocol_errors")
                self.verack_received = True
                self.cond.notify_all()
        elif cmd == "ping":
            if len(payload) < 8:
                self.error("ping payload shorter than 8 bytes", kind="protocol_errors")
                return
            self.check_marker(cmd, payload[8:])
            self.enqueue("pong", payload[:8] + self.marker)
        elif cmd == "pong":
            nonce = payload[:8]
            self.check_marker(cmd, payload[8:])
            with self.cond:
                if len(nonce) == 8 and nonce in self.outstanding_pings:
                    del self.outstanding_pings[nonce]
                    self.pongs_received += 1
                    self.cond.notify_all()
                    return
            self.error("pong with unknown nonce %s" % nonce.hex(), kind="protocol_errors")
        elif cmd == "inv":
            try:
                n, off = unpack_varint(payload, 0)
                if n < 1 or n > MAX_INV_ENTRIES:
                    raise ValueError("inv count %d out of range" % n)
                end = off + n * INV_ENTRY_SIZE
                if end > len(payload):
                    raise ValueError("inv of %d entries truncated (%d bytes)" % (n, len(payload)))
                for i in range(n):
                    t, = struct.unpack_from("<I", payload, off + i * INV_ENTRY_SIZE)
                    if t not in (1, 2):
                        raise ValueError("inv entry %d has type %d" % (i, t))
                self.check_marker(cmd, payload[end:])
            except (ValueError, KeyError, struct.error) as e:
                self.error("bad inv: %s" % e, kind="protocol_errors")
        elif cmd == "block":
            self.check_marker(cmd, payload)
        elif cmd == "done":
            self.handle_done(payload)
        else:
            with self.cond:
                self.unknown_commands += 1
            self.log("%s: ignoring unknown command %r" % (self.tag(), cmd))

    def handle_done(self, payload):
        if self.done_received:
            self.error("duplicate done", kind="protocol_errors")
            return
        try:
            info = json.loads(payload.decode("utf-8"))
            if not isinstance(info, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as e:
            self.error("bad done payload: %s" % e, kind="protocol_errors")
            info = {}
        mism = []
        with self.cond:
            got = {
                "messages": self.recv_msgs_before_done,
                "bytes": self.recv_bytes_before_done,
                "payload_bytes": self.recv_payload_before_done,
                "blocks": self.received_by_command.get("block", 0),
                "block_bytes": self.block_bytes_received,
                "sha256": self.recv_digest.hexdigest(),
            }
            self.recv_before_done = dict(got)
            for k, v in got.items():
                if info.get(k) != v:
                    mism.append("%s: peer sent %r, received %r" % (k, info.get(k), v))
            pm = self.peer_marker.decode("utf-8", "replace") if self.peer_marker else None
            if pm and info.get("marker") != pm:
                mism.append("marker: done says %r, version said %r" % (info.get("marker"), pm))
            self.peer_done = info
            self.done_match = not mism
            self.done_received = True
            self.cond.notify_all()
        for m in mism:
            self.error("done mismatch: " + m, kind="done_mismatches")

    # ---------------------------------------------------------- lifecycle
    def setup_socket(self):
        s = self.sock
        s.settimeout(None)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            self.local_sa = s.getsockname()
            self.local = fmt_sockaddr(self.local_sa)
        except OSError:
            pass
        try:
            self.peer_sa = s.getpeername()
            self.peer = fmt_sockaddr(self.peer_sa)
        except OSError as e:
            self.error("getpeername failed: %s" % e)

    def run_script(self):
        a = self.args
        smalls = ["ping"] * a.pings + ["inv"] * a.invs
        self.rng.shuffle(smalls)
        groups = [[] for _ in range(a.blocks + 1)]
        for i, m in enumerate(smalls):
            groups[i % (a.blocks + 1)].append(m)
        script = []
        for i in range(a.blocks):
            script.extend(groups[i])
            script.append("block")
        script.extend(groups[a.blocks])
        for item in script:
            if self.aborted:
                return False
            if item == "ping":
                nonce, payload = self.make_ping()
                with self.cond:
                    self.outstanding_pings[nonce] = now()
                    self.pings_sent += 1
                self.enqueue("ping", payload)
            elif item == "inv":
                self.enqueue("inv", self.make_inv())
            else:
                while not self.bulk_slots.acquire(timeout=0.2):
                    if self.aborted or now() > self.node.deadline:
                        return False
                self.enqueue("block", self.make_block(), bulk=True)
        self.outq.put(("done",))
        with self.cond:
            self.script_done = True
            self.cond.notify_all()
        return True

    def session(self):
        """Run the protocol on self.sock (already connected)."""
        self.setup_socket()
        self.log("%s: connected (local %s)" % (self.tag(), self.local))
        wt = threading.Thread(target=self.writer, name="w%d" % self.id, daemon=True)
        rt = threading.Thread(target=self.reader, name="r%d" % self.id, daemon=True)
        wt.start()
        rt.start()
        if self.direction == "out":
            self.enqueue("version", self.make_version())
        if self.wait_for(lambda: self.version_received and self.verack_received, "handshake"):
            if self.run_script():
                if self.wait_for(lambda: self.done_sent and self.done_received and not self.outstanding_pings,
                                 "peer's done and pongs"):
                    self.outq.put(("shutdown",))
                    left = max(0.0, self.node.deadline - now())
                    rt.join(left)
                    if rt.is_alive():
                        self.abort("timeout waiting for peer to close")
        rt.join(2.0)
        wt.join(2.0)
        if rt.is_alive() or wt.is_alive():
            self.abort()
            rt.join(1.0)
            wt.join(1.0)
        try:
            self.sock.close()
        except OSError:
            pass

    def early_failure(self):
        """True if the connection died before the peer said anything."""
        return (self.bytes_received == 0 and not self.version_received and
                now() < self.node.deadline and
                (self.unexpected_eof > 0 or any("failed" in e for e in self.errors)))

    def finalize(self):
        with self.cond:
            self.ended_at = now()
            self.ok = bool(
                not self.errors and not self.aborted and
                self.version_received and self.verack_received and
                self.done_sent and self.done_received and self.done_match and
                self.clean_eof and not self.outstanding_pings and
                self.pongs_received == self.pings_sent and
                self.checksum_failures == 0 and self.bad_magic == 0 and
                self.unexpected_eof == 0 and self.protocol_errors == 0 and
                self.oversized == 0 and self.marker_missing == 0 and
                self.done_mismatches == 0)
            self.finished = True
            self.cond.notify_all()

    def report(self):
        with self.cond:
            peer_host = self.peer_sa[0] if self.peer_sa else None
            peer_port = self.peer_sa[1] if self.peer_sa else None
            local_host = self.local_sa[0] if self.local_sa else None
            local_port = self.local_sa[1] if self.local_sa else None
            return {
                "id": self.id,
                "direction": self.direction,
                "target": self.target,
                "local": self.local,
                "local_host": local_host,
                "local_port": local_port,
                "peer": self.peer,
                "peer_host": peer_host,
                "peer_port": peer_port,
                "peer_name": self.peer_name,
                "peer_marker": self.peer_marker.decode("utf-8", "replace") if self.peer_marker else None,
                "peer_user_agent": self.peer_user_agent,
                "peer_protocol_version": self.peer_protocol_version,
                "connect_attempts": self.connect_attempts,
                "attempt_errors": self.attempt_errors[-10:],
                "messages_sent": self.messages_sent,
                "bytes_sent": self.bytes_sent,
                "payload_bytes_sent": self.payload_bytes_sent,
                "messages_received": self.messages_received,
                "bytes_received": self.bytes_received,
                "payload_bytes_received": self.payload_bytes_received,
                "sent_by_command": dict(self.sent_by_command),
                "received_by_command": dict(self.received_by_command),
                "blocks_sent": self.sent_by_command.get("block", 0),
                "blocks_received": self.received_by_command.get("block", 0),
                "block_bytes_sent": self.block_bytes_sent,
                "block_bytes_received": self.block_bytes_received,
                "pings_sent": self.pings_sent,
                "pongs_received": self.pongs_received,
                "sent_before_done": self.sent_before_done,
                "received_before_done": self.recv_before_done,
                "peer_done": self.peer_done,
                "done_sent": self.done_sent,
                "done_received": self.done_received,
                "done_match": self.done_match,
                "clean_close": self.clean_eof,
                "checksum_failures": self.checksum_failures,
                "bad_magic": self.bad_magic,
                "unexpected_eof": self.unexpected_eof,
                "protocol_errors": self.protocol_errors,
                "oversized": self.oversized,
                "marker_missing": self.marker_missing,
                "done_mismatches": self.done_mismatches,
                "unknown_commands": self.unknown_commands,
                "errors": list(self.errors),
                "duration_s": round((self.ended_at or now()) - self.started_at, 3),
                "ok": self.ok,
            }


class Node:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.magic = bytes.fromhex(args.magic)
        self.t0 = now()
        self.deadline = self.t0 + args.timeout
        self.lock = threading.Lock()
        self.conn_counter = 0
        self.conns = []  # all finished-or-active Conn records (final attempt only for out)
        self.out_threads = []
        self.stop = threading.Event()
        self.stop_reason = None
        self.listener = None
        self.listen_addr = None
        self.errors = []

    def next_conn_id(self):
        with self.lock:
            self.conn_counter += 1
            return self.conn_counter

    # ---------------------------------------------------------- listening
    def open_listener(self):
        a = self.args
        if a.listen_fd is not None:
            s = socket.socket(fileno=a.listen_fd)
        else:
            host, port = parse_hostport(a.listen, "--listen")
            if host in ("*", ""):
                host = "0.0.0.0"
            infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
            fam, st, proto, _, sa = infos[0]
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
                    self.log("accept failed: %s" % e)
                    time.sleep(0.1)
                continue
            cs.settimeout(None)
            c = Conn(self, "in", sock=cs)
            c.connect_attempts = 1
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self.run_inbound, args=(c,), name="in%d" % c.id, daemon=True).start()

    def run_inbound(self, c):
        try:
            c.session()
        except Exception as e:
            c.abort("inbound session crashed: %r" % (e,))
        finally:
            c.finalize()
            self.log("%s: finished ok=%s" % (c.tag(), c.ok))

    # ---------------------------------------------------------- connecting
    def run_outbound(self, target):
        a = self.args
        retry_until = min(self.deadline, now() + a.connect_retry)
        attempts = 0
        attempt_errors = []
        c = None
        try:
            host, port = parse_hostport(target, "--connect")
        except ValueError as e:
            c = Conn(self, "out", target=target)
            c.error(str(e))
            c.finalize()
            with self.lock:
                self.conns.append(c)
            return
        while True:
            c = Conn(self, "out", target=target)
            attempts += 1
            c.connect_attempts = attempts
            c.attempt_errors = attempt_errors
            sock = None
            err = None
            try:
                infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
                for fam, st, proto, _, sa in infos:
                    s = socket.socket(fam, st, proto)
                    s.settimeout(max(0.1, min(5.0, self.deadline - now())))
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
                attempt_errors.append("connect %s: %s" % (target, err))
                if now() < retry_until and not self.stop.is_set():
                    time.sleep(0.2)
                    continue
                c.error("could not connect to %s after %d attempt(s): %s" % (target, attempts, err))
                break
            c.sock = sock
            with self.lock:
                self.conns.append(c)
            try:
                c.session()
            except Exception as e:
                c.abort("outbound session crashed: %r" % (e,))
            if c.early_failure() and now() < retry_until and not self.stop.is_set():
                attempt_errors.append("attempt %d: %s" % (attempts, "; ".join(c.errors) or "closed early"))
                self.log("%s: closed before the peer spoke, retrying" % c.tag())
                with self.lock:
                    self.conns.remove(c)
                time.sleep(0.2)
                continue
            break
        c.finalize()
        with self.lock:
            if c not in self.conns:
                self.conns.append(c)
        self.log("%s: finished ok=%s" % (c.tag(), c.ok))

    # ---------------------------------------------------------- main loop
    def run(self):
        a = self.args
        if a.listen or a.listen_fd is not None:
            self.open_listener()
            threading.Thread(target=self.accept_loop, name="accept", daemon=True).start()
        for t in a.connect:
            th = threading.Thread(target=self.run_outbound, args=(t,), name="out", daemon=True)
            th.start()
            self.out_threads.append(th)
        timed_out = False
        while True:
            if self.stop.is_set():
                break
            if now() >= self.deadline:
                timed_out = True
                self.stop_reason = "overall timeout (%gs) reached" % a.timeout
                break
            with self.lock:
                conns = list(self.conns)
            outs_done = not any(t.is_alive() for t in self.out_threads)
            ins = [c for c in conns if c.direction == "in"]
            ins_finished = sum(1 for c in ins if c.finished)
            ins_active = sum(1 for c in ins if not c.finished)
            if outs_done and ins_finished >= a.expect_inbound and ins_active == 0:
                break
            time.sleep(0.05)
        self.stop.set()
        if self.stop_reason:
            self.errors.append(self.stop_reason)
            self.log(self.stop_reason)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            if not c.finished:
                c.abort(self.stop_reason or "node stopping")
        # give sessions a moment to wind down
        end = now() + 3.0
        for t in self.out_threads:
            t.join(max(0.0, end - now()))
        while now() < end:
            with self.lock:
                if all(c.finished for c in self.conns):
                    break
            time.sleep(0.05)
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        return self.build_report(timed_out)

    def build_report(self, timed_out):
        a = self.args
        with self.lock:
            conns = sorted(self.conns, key=lambda c: c.id)
        reps = [c.report() for c in conns]
        outs = [r for r in reps if r["direction"] == "out"]
        ins = [r for r in reps if r["direction"] == "in"]
        out_ok = sum(1 for r in outs if r["ok"])
        in_ok = sum(1 for r in ins if r["ok"])
        ok = bool(all(r["ok"] for r in reps) and out_ok == len(a.connect) and
                  in_ok >= a.expect_inbound and not self.stop_reason)
        return {
            "report_version": REPORT_VERSION,
            "name": a.name,
            "ok": ok,
            "pid": os.getpid(),
            "magic": self.magic.hex(),
            "marker": a.marker,
            "listen": self.listen_addr,
            "config": {
                "connect": list(a.connect),
                "blocks": a.blocks,
                "block_size": a.block_size,
                "pings": a.pings,
                "invs": a.invs,
                "timeout": a.timeout,
                "connect_retry": a.connect_retry,
                "expect_inbound": a.expect_inbound,
                "seed": a.seed,
            },
            "outbound_expected": len(a.connect),
            "outbound_ok": out_ok,
            "inbound_expected": a.expect_inbound,
            "inbound_total": len(ins),
            "inbound_ok": in_ok,
            "timed_out": timed_out,
            "errors": list(self.errors),
            "totals": {
                "messages_sent": sum(r["messages_sent"] for r in reps),
                "bytes_sent": sum(r["bytes_sent"] for r in reps),
                "messages_received": sum(r["messages_received"] for r in reps),
                "bytes_received": sum(r["bytes_received"] for r in reps),
                "checksum_failures": sum(r["checksum_failures"] for r in reps),
                "bad_magic": sum(r["bad_magic"] for r in reps),
                "unexpected_eof": sum(r["unexpected_eof"] for r in reps),
                "protocol_errors": sum(r["protocol_errors"] for r in reps),
            },
            "duration_s": round(now() - self.t0, 3),
            "connections": reps,
        }


def summary_line(rep):
    t = rep["totals"]
    nerr = len(rep["errors"]) + sum(len(c["errors"]) for c in rep["connections"])
    return ("mcpeer %s: %s out=%d/%d in=%d/%d(total %d) msgs_sent=%d bytes_sent=%d msgs_recv=%d "
            "bytes_recv=%d checksum_failures=%d bad_magic=%d unexpected_eof=%d protocol_errors=%d "
            "errors=%d %.2fs" % (
                rep["name"], "OK" if rep["ok"] else "FAIL",
                rep["outbound_ok"], rep["outbound_expected"],
                rep["inbound_ok"], rep["inbound_expected"], rep["inbound_total"],
                t["messages_sent"], t["bytes_sent"], t["messages_received"], t["bytes_received"],
                t["checksum_failures"], t["bad_magic"], t["unexpected_eof"], t["protocol_errors"],
                nerr, rep["duration_s"]))


def write_report(path, rep):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(rep, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="mcpeer.py",
        description="MultiChain/Bitcoin-framing P2P test peer (version/verack, ping/pong, inv, "
                    "multi-MB blocks, done). Exit 0 if all connections were ok.")
    p.add_argument("--listen", metavar="ADDR:PORT",
                   help="listen address, IPv4 '1.2.3.4:PORT' or '[IPv6]:PORT' (port 0 = ephemeral)")
    p.add_argument("--listen-fd", type=int, metavar="FD",
                   help="use an inherited, already bound+listening socket FD instead of --listen")
    p.add_argument("--connect", action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer (repeatable; IPv6 as [addr]:port)")
    p.add_argument("--name", default=None, help="node name (default: node-<pid>)")
    p.add_argument("--blocks", type=int, default=2, help="block messages per connection (default 2)")
    p.add_argument("--block-size", type=int, default=3 * 1024 * 1024,
                   help="block payload size in bytes (default 3 MiB, max 32 MiB)")
    p.add_argument("--pings", type=int, default=5, help="ping messages per connection (default 5)")
    p.add_argument("--invs", type=int, default=5, help="inv messages per connection (default 5)")
    p.add_argument("--marker", default=None,
                   help="string embedded in every payload (default NODESEAL-MARKER-<name>)")
    p.add_argument("--magic", default=DEFAULT_MAGIC, help="4-byte magic as hex (default fbb4c7de)")
    p.add_argument("--report", metavar="FILE", help="write JSON report to FILE at exit")
    p.add_argument("--timeout", type=float, default=60.0, help="overall timeout in seconds (default 60)")
    p.add_argument("--connect-retry", type=float, default=10.0, metavar="SECONDS",
                   help="keep retrying outbound connects (refused, or closed before the peer's "
                        "version arrived) for this long (default 10)")
    p.add_argument("--expect-inbound", type=int, default=0, metavar="N",
                   help="wait for N inbound connections to finish before exiting (default 0)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the random content (default: random each run)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every message to stderr")
    a = p.parse_args(argv)
    if a.name is None:
        a.name = "node-%d" % os.getpid()
    if a.marker is None:
        a.marker = "NODESEAL-MARKER-%s" % a.name
    try:
        m = bytes.fromhex(a.magic)
    except ValueError:
        m = b""
    if len(m) != 4:
        p.error("--magic must be 4 bytes of hex, e.g. fbb4c7de")
    if a.listen and a.listen_fd is not None:
        p.error("--listen and --listen-fd are mutually exclusive")
    if a.listen:
        try:
            parse_hostport(a.listen, "--listen")
        except ValueError as e:
            p.error(str(e))
    for t in a.connect:
        try:
            parse_hostport(t, "--connect")
        except ValueError as e:
            p.error(str(e))
    if a.expect_inbound and not (a.listen or a.listen_fd is not None):
        p.error("--expect-inbound needs --listen or --listen-fd")
    for opt in ("blocks", "pings", "invs", "expect_inbound"):
        if getattr(a, opt) < 0:
            p.error("--%s must be >= 0" % opt.replace("_", "-"))
    if not 0 <= a.block_size <= MAX_PAYLOAD:
        p.error("--block-size must be between 0 and %d" % MAX_PAYLOAD)
    if a.blocks and a.block_size < len(a.marker.encode("utf-8")):
        p.error("--block-size must be at least the marker length")
    if a.timeout <= 0:
        p.error("--timeout must be > 0")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log = Logger(args.name, args.verbose)
    node = Node(args, log)

    def on_signal(signum, frame):
        node.stop_reason = "terminated by signal %d" % signum
        node.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        rep = node.run()
    except OSError as e:
        # e.g. cannot listen
        log("fatal: %s" % e)
        node.errors.append("fatal: %s" % e)
        node.stop.set()
        rep = node.build_report(False)
        rep["ok"] = False
    if args.report:
        write_report(args.report, rep)
    sys.stdout.write(summary_line(rep) + "\n")
    sys.stdout.flush()
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
