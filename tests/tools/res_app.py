#!/usr/bin/python3
"""res_app -- traffic ends for tests/integration/test_resilience.py.

Standard library only (asyncio); run with /usr/bin/python3.  Every mode
raises RLIMIT_NOFILE to its hard limit first.

Honest protocol (what the node's application speaks): a connection starts
with a 16-byte header  b"NSRES1\\0\\0" + kind (1 byte) + 3 zero bytes + id
(uint32 BE).  Kinds:

  P  ping-pong: frames [len u32 BE][body]; the server echoes each frame;
     the client compares the echo with what it sent, byte for byte.
  L  load: the server answers one byte b"R" at once (the connection is then
     open end to end).  After the client's GO each side sends SIZE bytes of
     its own stream (shake_256 of seed/direction/id) and checks every byte of
     the other side's stream.

Modes:

  server --listen HOST:PORT --log FILE [--load-size N --seed S]
      Echo/load server.  One JSON line per finished connection in FILE:
      {"peer", "kind", "id", "ok", "bytes_in", "bytes_out", "error", "head"}.
      A connection that does not start with our header is never answered:
      bytes_in counts what arrives within a second, head is the first 64
      bytes in hex.

  honest --connect HOST:PORT --status FILE --marker TEXT
         [--interval S] [--size N] [--probe-interval S] [--probe-deadline S]
      One long-lived ping-pong connection (reconnects on any failure, after
      --reconnect-delay) plus, every --probe-interval seconds, a probe: a new
      connection, header, one 64-byte ping, its echo, close.  A probe that
      fails (reset, EOF, timeout) is retried every 50 ms until
      --probe-deadline (at most --probe-max-inflight probes at a time).
      FILE (rewritten atomically every 0.2 s and at exit, SIGTERM ends)
      holds counters, RTTs and probe results with time.monotonic() stamps.

  load --connect HOST:PORT --conns N --size N --seed S --ctl DIR
       [--open-concurrency N] [--timeout S]
      Opens N load connections (at most --open-concurrency opening at once),
      writes DIR/state.json {"phase": "open", ...}, waits for DIR/go, moves
      the data both ways, writes {"phase": "done", ...}, waits for
      DIR/close, closes everything, writes {"phase": "closed", ...}.

  flood --target HOST:PORT --mode random|msg1|slowloris --out FILE
        [--count N] [--concurrency N] [--duration S] [--hold S] [--sources IP,...]
      A stranger.  random: 1..300 random bytes, then shutdown(SHUT_WR);
      msg1: exactly 60 random bytes (a plausible first handshake message);
      slowloris: connect and send nothing.  Each connection then reads
      until the other side closes it (or --hold seconds).  Keeps
      --concurrency connections going until --count were made or
      --duration is over; with --sources, worker i connects from the
      i-th address, round robin (many sources).  Writes a JSON summary to
      FILE: outcomes, bytes the stranger got back, and for each connection
      how long it lived.

  syn --src IP --target HOST:PORT --count N [--rate PPS] --sport-lo N --sport-hi N --out FILE
      Half-open connections: raw TCP SYNs, never completed (the test drops
      the SYN-ACKs in the stranger's namespace).
"""

import argparse
import asyncio
import errno
import hashlib
import json
import os
import random
import resource
import signal
import socket
import struct
import sys
import time

MAGIC = b"NSRES1\0\0"
HDR = struct.Struct(">8sc3sI")
now = time.monotonic


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def write_json(path, obj):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def stream(seed, direction, cid, size):
    return hashlib.shake_256(b"%d/%s/%d" % (seed, direction, cid)).digest(size)


def header(kind, cid):
    return HDR.pack(MAGIC, kind, b"\0\0\0", cid)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def set_linger0(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


# ------------------------------------------------------------------ server

class Server:
    def __init__(self, a):
        self.a = a
        self.log = open(a.log, "a", buffering=1)

    def record(self, rec):
        self.log.write(json.dumps(rec) + "\n")

    async def handle(self, reader, writer):
        peer = writer.get_extra_info("peername")
        rec = {"peer": peer[0] if peer else None, "kind": None, "id": None, "ok": False,
               "bytes_in": 0, "bytes_out": 0, "error": None, "t0": now()}
        try:
            head = b""
            try:
                head = await asyncio.wait_for(reader.readexactly(HDR.size), 30)
            except asyncio.IncompleteReadError as e:
                head = e.partial
                raise
            finally:
                rec["bytes_in"] += len(head)
            magic, kind, _, cid = HDR.unpack(head)
            if magic != MAGIC or kind not in (b"P", b"L"):
                # Not the application's protocol: note everything that
                # arrives within a second (never answer it).
                rest = b""
                try:
                    while len(rest) < 65536:
                        chunk = await asyncio.wait_for(reader.read(65536), 1.0)
                        if not chunk:
                            break
                        rest += chunk
                except (asyncio.TimeoutError, ConnectionError, OSError):
                    pass
                rec["bytes_in"] += len(rest)
                rec["head"] = (head + rest)[:64].hex()
                rec["error"] = "not our header"
                return
            rec["kind"], rec["id"] = kind.decode(), cid
            if kind == b"P":
                await self.pingpong(reader, writer, rec)
            else:
                await self.load(reader, writer, rec, cid)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.TimeoutError) as e:
            if rec["error"] is None:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            rec["t1"] = now()
            self.record(rec)
            try:
                writer.close()
            except Exception:
                pass

    async def pingpong(self, reader, writer, rec):
        while True:
            try:
                lenb = await reader.readexactly(4)
            except asyncio.IncompleteReadError as e:
                rec["bytes_in"] += len(e.partial)
                if not e.partial:
                    rec["ok"] = rec["error"] is None
                    return
                raise
            n, = struct.unpack(">I", lenb)
            if n > 16 << 20:
                rec["error"] = "frame too big (%d)" % n
                return
            body = await reader.readexactly(n)
            rec["bytes_in"] += 4 + n
            writer.write(lenb + body)
            await writer.drain()
            rec["bytes_out"] += 4 + n

    async def load(self, reader, writer, rec, cid):
        size, seed = self.a.load_size, self.a.seed
        writer.write(b"R")
        await writer.drain()
        rec["bytes_out"] += 1
        first = await reader.read(65536)
        if not first:
            rec["error"] = "closed before data"
            return
        expect = stream(seed, b"c2s", cid, size)
        got = bytearray(first)
        out = stream(seed, b"s2c", cid, size)

        async def send():
            for off in range(0, size, 16384):
                writer.write(out[off:off + 16384])
                await writer.drain()
            rec["bytes_out"] += size

        sender = asyncio.ensure_future(send())
        while len(got) < size:
            chunk = await reader.read(65536)
            if not chunk:
                break
            got += chunk
        await sender
        rec["bytes_in"] += len(got)
        rec["c2s_ok"] = bytes(got[:size]) == expect and len(got) == size
        if not rec["c2s_ok"]:
            rec["error"] = "c2s stream differs (%d bytes, %d expected)" % (len(got), size)
        # hold until the client closes
        rest = await reader.read(65536)
        while rest:
            rec["bytes_in"] += len(rest)
            rec["error"] = "bytes after the stream"
            rest = await reader.read(65536)
        rec["ok"] = rec["error"] is None


async def run_server(a):
    raise_nofile()
    srv = Server(a)
    host, port = hostport(a.listen)
    server = await asyncio.start_server(srv.handle, host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    sys.stderr.write("listening on %s\n" % a.listen)
    sys.stderr.flush()
    async with server:
        await stop.wait()
    srv.log.flush()
    return 0


# ------------------------------------------------------------------ honest

class Honest:
    def __init__(self, a):
        self.a = a
        self.host, self.port = hostport(a.connect)
        self.marker = a.marker.encode()
        self.rng = random.Random(a.seed)
        self.st = {
            "pid": os.getpid(), "started": now(), "updated": None,
            "rounds": 0, "last_round": None, "connects": 0, "conn_failures": 0,
            "disconnects": 0, "corrupt": 0, "bytes_echoed": 0,
            "events": [],           # [t, what]
            "rtts": [],             # [t, seconds] of the long-lived connection
            "probes": [],           # {"t", "ok", "latency", "attempts", "errors"}
            "connected_since": None,
        }
        self.next_id = 1

    def event(self, what):
        ev = self.st["events"]
        if len(ev) < 2000:
            ev.append([round(now(), 4), what])

    async def open(self, kind, cid, timeout):
        r, w = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        w.write(header(kind, cid))
        return r, w

    async def roundtrip(self, r, w, body, timeout):
        frame = struct.pack(">I", len(body)) + body
        w.write(frame)
        await w.drain()
        echo = await asyncio.wait_for(r.readexactly(len(frame)), timeout)
        return echo == frame

    def body(self, seq, size):
        head = b"%s|%d|" % (self.marker, seq)
        return head + self.rng.randbytes(max(0, size - len(head)))

    async def persistent(self):
        a = self.a
        seq = 0
        while True:
            w = None
            try:
                self.next_id += 1
                r, w = await self.open(b"P", self.next_id, 3.0)
                self.st["connects"] += 1
                first = True
                while True:
                    seq += 1
                    t0 = now()
                    ok = await self.roundtrip(r, w, self.body(seq, a.size), a.rtt_timeout)
                    t1 = now()
                    if first:
                        self.st["connected_since"] = t1
                        self.event("connected")
                        first = False
                    if not ok:
                        self.st["corrupt"] += 1
                        self.event("corrupt echo")
                        raise ConnectionError("corrupt echo")
                    self.st["rounds"] += 1
                    self.st["bytes_echoed"] += a.size
                    self.st["last_round"] = t1
                    self.st["rtts"].append([round(t1, 4), round(t1 - t0, 6)])
                    if len(self.st["rtts"]) > 20000:
                        del self.st["rtts"][:5000]
                    if a.interval:
                        await asyncio.sleep(a.interval)
            except (OSError, ConnectionError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                if self.st["connected_since"] is not None:
                    self.st["disconnects"] += 1
                else:
                    self.st["conn_failures"] += 1
                self.st["connected_since"] = None
                self.event("lost: %s" % (type(e).__name__ + (": %s" % e if str(e) else "")))
            finally:
                if w is not None:
                    w.close()
            await asyncio.sleep(a.reconnect_delay)

    async def probe_once(self):
        t_start = now()
        errors = []
        attempts = 0
        while True:
            attempts += 1
            w = None
            try:
                self.next_id += 1
                r, w = await self.open(b"P", self.next_id, 3.0)
                ok = await self.roundtrip(r, w, self.body(0, 64), 3.0)
                if not ok:
                    self.st["corrupt"] += 1
                    raise ConnectionError("corrupt echo")
                lat = now() - t_start
                self.st["probes"].append({"t": round(t_start, 4), "ok": True,
                                          "latency": round(lat, 6), "attempts": attempts,
                                          "errors": errors[:5]})
                return
            except (OSError, ConnectionError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                errors.append(type(e).__name__)
            finally:
                if w is not None:
                    w.close()
            if now() - t_start > self.a.probe_deadline:
                self.st["probes"].append({"t": round(t_start, 4), "ok": False, "latency": None,
                                          "attempts": attempts, "errors": errors[:5]})
                return
            await asyncio.sleep(0.05)

    async def probes(self):
        pending = set()
        while True:
            await asyncio.sleep(self.a.probe_interval)
            if len(pending) >= self.a.probe_max_inflight:
                continue
            t = asyncio.ensure_future(self.probe_once())
            pending.add(t)
            t.add_done_callback(pending.discard)

    async def writer(self):
        while True:
            self.flush()
            await asyncio.sleep(0.2)

    def flush(self):
        self.st["updated"] = now()
        write_json(self.a.status, self.st)


async def run_honest(a):
    raise_nofile()
    h = Honest(a)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = [asyncio.ensure_future(h.writer())]
    if not a.no_persistent:
        tasks.append(asyncio.ensure_future(h.persistent()))
    if a.probe_interval:
        tasks.append(asyncio.ensure_future(h.probes()))
    await stop.wait()
    for t in tasks:
        t.cancel()
    h.flush()
    return 0


# ------------------------------------------------------------------ load

async def run_load(a):
    raise_nofile()
    host, port = hostport(a.connect)
    ctl = a.ctl
    state = {"phase": "opening", "opened": 0, "open_failures": [], "ok": 0, "corrupt": 0,
             "short": 0, "errors": [], "t_open": None, "t_done": None}
    conns = {}
    sem = asyncio.Semaphore(a.open_concurrency)

    async def open_one(cid):
        async with sem:
            for attempt in range(3):
                w = None
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                  a.timeout)
                    w.write(header(b"L", cid))
                    ready = await asyncio.wait_for(r.readexactly(1), a.timeout)
                    if ready != b"R":
                        raise ConnectionError("bad ready byte %r" % ready)
                    conns[cid] = (r, w)
                    state["opened"] += 1
                    return
                except (OSError, ConnectionError, asyncio.IncompleteReadError,
                        asyncio.TimeoutError) as e:
                    state["open_failures"].append([cid, attempt, type(e).__name__])
                    if w is not None:
                        w.close()
                await asyncio.sleep(0.1)

    t0 = now()
    await asyncio.gather(*(open_one(i) for i in range(a.conns)))
    state["t_open"] = round(now() - t0, 3)
    state["phase"] = "open"
    write_json(os.path.join(ctl, "state.json"), state)
    while not os.path.exists(os.path.join(ctl, "go")):
        await asyncio.sleep(0.01)

    async def move(cid, r, w):
        out = stream(a.seed, b"c2s", cid, a.size)
        expect = stream(a.seed, b"s2c", cid, a.size)

        async def send():
            for off in range(0, a.size, 16384):
                w.write(out[off:off + 16384])
                await w.drain()

        try:
            sender = asyncio.ensure_future(send())
            got = bytearray()
            while len(got) < a.size:
                chunk = await asyncio.wait_for(r.read(65536), a.timeout)
                if not chunk:
                    break
                got += chunk
            await sender
            if len(got) != a.size:
                state["short"] += 1
                state["errors"].append([cid, "got %d of %d bytes" % (len(got), a.size)])
            elif bytes(got) != expect:
                state["corrupt"] += 1
                bad = sum(1 for x, y in zip(got, expect) if x != y)
                state["errors"].append([cid, "%d bytes differ" % bad])
            else:
                state["ok"] += 1
        except (OSError, ConnectionError, asyncio.TimeoutError) as e:
            state["errors"].append([cid, "%s: %s" % (type(e).__name__, e)])

    t1 = now()
    await asyncio.gather(*(move(cid, r, w) for cid, (r, w) in conns.items()))
    state["t_done"] = round(now() - t1, 3)
    state["phase"] = "done"
    write_json(os.path.join(ctl, "state.json"), state)
    while not os.path.exists(os.path.join(ctl, "close")):
        await asyncio.sleep(0.01)
    for r, w in conns.values():
        w.close()
    await asyncio.sleep(0.5)
    state["phase"] = "closed"
    write_json(os.path.join(ctl, "state.json"), state)
    return 0


# ------------------------------------------------------------------ flood

async def run_flood(a):
    raise_nofile()
    host, port = hostport(a.target)
    rng = random.Random(a.seed)
    res = {"mode": a.mode, "attempts": 0, "connected": 0, "refused": 0, "connect_errors": {},
           "outcomes": {}, "bytes_back": 0, "lifetimes": [], "started": now(), "ended": None,
           "max_concurrent_open": 0}
    open_now = [0]
    deadline = now() + a.duration if a.duration else None

    def outcome(k):
        res["outcomes"][k] = res["outcomes"].get(k, 0) + 1

    sources = a.sources.split(",") if a.sources else [None]

    async def one(src):
        res["attempts"] += 1
        w = None
        try:
            local = (src, 0) if src else None
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=local), 5)
        except (OSError, asyncio.TimeoutError) as e:
            k = getattr(e, "errno", None)
            if k == errno.ECONNREFUSED:
                res["refused"] += 1
            key = type(e).__name__ if k is None else errno.errorcode.get(k, str(k))
            res["connect_errors"][key] = res["connect_errors"].get(key, 0) + 1
            return
        res["connected"] += 1
        open_now[0] += 1
        res["max_concurrent_open"] = max(res["max_concurrent_open"], open_now[0])
        t0 = now()
        try:
            if a.mode == "random":
                w.write(rng.randbytes(rng.randint(1, 300)))
                await w.drain()
                w.write_eof()
            elif a.mode == "msg1":
                w.write(rng.randbytes(60))
                await w.drain()
            while True:
                data = await asyncio.wait_for(r.read(65536), a.hold)
                if not data:
                    outcome("eof")
                    break
                res["bytes_back"] += len(data)
        except asyncio.TimeoutError:
            outcome("held")  # still open after --hold
        except ConnectionResetError:
            outcome("reset")
        except (OSError, ConnectionError) as e:
            outcome(type(e).__name__)
        finally:
            open_now[0] -= 1
            if len(res["lifetimes"]) < 200000:
                res["lifetimes"].append([round(t0 - res["started"], 4), round(now() - t0, 4)])
            set_linger0(w)
            w.close()

    async def worker(src):
        while (a.count is None or res["attempts"] < a.count) and \
                (deadline is None or now() < deadline):
            await one(src)

    await asyncio.gather(*(worker(sources[i % len(sources)]) for i in range(a.concurrency)))
    res["ended"] = now()
    res["duration"] = round(res["ended"] - res["started"], 3)
    write_json(a.out, res)
    return 0


# ------------------------------------------------------------------ syn

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def run_syn(a):
    host, port = hostport(a.target)
    src = socket.inet_aton(a.src)
    dst = socket.inet_aton(host)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rng = random.Random(a.seed)
    t0 = now()
    sent = 0
    for i in range(a.count):
        sport = a.sport_lo + (i % (a.sport_hi - a.sport_lo + 1))
        seq = rng.getrandbits(32)
        # SYN with MSS 1460
        opts = struct.pack("!BBH", 2, 4, 1460)
        tcp = struct.pack("!HHIIBBHHH", sport, port, seq, 0, (5 + 1) << 4, 0x02, 64240, 0, 0)
        tcp += opts
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
        c = csum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        try:
            s.sendto(tcp, (host, 0))
            sent += 1
        except OSError:
            time.sleep(0.001)
        if a.rate:
            ahead = (i + 1) / a.rate - (now() - t0)
            if ahead > 0:
                time.sleep(ahead)
    write_json(a.out, {"sent": sent, "duration": round(now() - t0, 3)})
    return 0


# ------------------------------------------------------------------ main

def main(argv):
    p = argparse.ArgumentParser(prog="res_app.py")
    sub = p.add_subparsers(dest="mode_", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--load-size", type=int, default=65536)
    s.add_argument("--seed", type=int, default=1)
    h = sub.add_parser("honest")
    h.add_argument("--connect", required=True)
    h.add_argument("--status", required=True)
    h.add_argument("--marker", required=True)
    h.add_argument("--interval", type=float, default=0.02)
    h.add_argument("--size", type=int, default=256)
    h.add_argument("--rtt-timeout", type=float, default=10.0)
    h.add_argument("--reconnect-delay", type=float, default=0.1)
    h.add_argument("--probe-interval", type=float, default=0.0)
    h.add_argument("--probe-deadline", type=float, default=5.0)
    h.add_argument("--probe-max-inflight", type=int, default=10)
    h.add_argument("--no-persistent", action="store_true")
    h.add_argument("--seed", type=int, default=None)
    ld = sub.add_parser("load")
    ld.add_argument("--connect", required=True)
    ld.add_argument("--conns", type=int, default=1000)
    ld.add_argument("--size", type=int, default=65536)
    ld.add_argument("--seed", type=int, default=1)
    ld.add_argument("--ctl", required=True)
    ld.add_argument("--open-concurrency", type=int, default=64)
    ld.add_argument("--timeout", type=float, default=60.0,
                    help="limit for each open (until the server's R) and each read")
    f = sub.add_parser("flood")
    f.add_argument("--target", required=True)
    f.add_argument("--mode", choices=["random", "msg1", "slowloris"], required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--count", type=int, default=None)
    f.add_argument("--duration", type=float, default=None)
    f.add_argument("--concurrency", type=int, default=50)
    f.add_argument("--hold", type=float, default=10.0)
    f.add_argument("--seed", type=int, default=None)
    f.add_argument("--sources", default=None)
    y = sub.add_parser("syn")
    y.add_argument("--src", required=True)
    y.add_argument("--target", required=True)
    y.add_argument("--count", type=int, default=10000)
    y.add_argument("--rate", type=float, default=0)
    y.add_argument("--sport-lo", type=int, default=40000)
    y.add_argument("--sport-hi", type=int, default=59999)
    y.add_argument("--seed", type=int, default=None)
    y.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.mode_ == "syn":
        return run_syn(a)
    fn = {"server": run_server, "honest": run_honest, "load": run_load, "flood": run_flood}[a.mode_]
    return asyncio.run(fn(a))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
