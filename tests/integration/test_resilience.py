"""Resilience of nodeseal (issue 4, parts 3-5): strangers and floods, faults,
load.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -s -p no:cacheprovider tests/integration/test_resilience.py

About 2 minutes on a 2-core machine.  Every figure goes into a summary that
is printed at the end (-s shows it) and written to
tests/integration/resilience-summary.txt.

Beds are tests/integration/netbed.py (node i = 10.77.0.(i+1)); nothing is done
in the namespace pytest runs in.  The application ends are
tests/tools/res_app.py:

  server  the node's application: echoes ping-pong frames, runs load
          streams, and logs every connection it accepted (peer address,
          bytes, and anything that is not its own protocol);
  honest  a peer: one long-lived ping-pong connection (reconnects on any
          failure) plus, every few ms, a probe = a new connection, one round
          trip, close (its latency is connect + handshake + first round trip);
  flood   a stranger without nodeseal: random bytes, a plausible 60-byte
          first message, slowloris;
  syn     half-open connections (raw SYNs whose SYN-ACKs the stranger's
          namespace drops);
  load    N connections, each moving its own seeded stream both ways.

Part 3 (one bed, four nodes, `flood` fixture): A (10.77.0.1, `--max-pending
64 --handshake-timeout 2`) and B run nodeseal and the server; B keeps a
long-lived connection to A and probes A; A probes B (its own outbound
connections).  S (no nodeseal) floods A's port 7447 in phases, W has nodeseal
with another network key.  The test samples A's daemon (/proc: CPU, RSS,
fds; `nodeseal status --json`) throughout.

Part 4: SIGKILL and restart of a daemon mid-transfer (capture), restart of
the peer programs, link cut and restore, bad state directories (private
mount namespaces with tiny tmpfs), 100 on/off cycles.

Part 5: 1000 concurrent connections through one daemon pair, 128 KiB each
way per connection, every byte checked; RSS per connection; three rounds.

Bugs this file found have a test each (section "bugs found here"), with
the reproduction and the figures measured in its docstring; all are fixed
and the tests are regression tests: the daemon looping back into its own
listener, the unprotected window when `up` restarts after a crash, the busy
loop out of file descriptors, delivery connections colliding with wire
connections in conntrack, and one stranger's slowloris locking honest peers
out (now a per-source limit, eviction of the oldest, and a budget of its
own for outbound connections).
"""

import collections
import json
import os
import re
import signal
import threading
import time
import types

import pytest

import netbed
from netbed import PORT, PYTHON, NetBed, nodeseal_path, plaintext_flows, snapshot_diff
from resapp import (APP, check_app_saw_only, honest_state, server_records, spawn_honest,
                    spawn_server, stop_honest, wait_rounds)
from sealcmd import CMD_TIMEOUT, down, start_up

REPO = netbed.REPO
pytestmark = pytest.mark.usefixtures("host_untouched")
SUMMARY_PATH = os.path.join(netbed.HERE, "resilience-summary.txt")

# ----------------------------------------------------------------- summary

SUMMARY = collections.OrderedDict()


def note(section, text):
    """Add a line to the summary (and print it at once)."""
    SUMMARY.setdefault(section, []).append(text)
    print("[%s] %s" % (section, text))
    write_summary()


def write_summary():
    lines = ["nodeseal resilience summary (tests/integration/test_resilience.py)", ""]
    for section, items in SUMMARY.items():
        lines.append("== %s ==" % section)
        lines += ["  " + l for l in items]
        lines.append("")
    text = "\n".join(lines)
    try:
        with open(SUMMARY_PATH, "w") as f:
            f.write(text)
    except OSError:
        pass
    return text


@pytest.fixture(scope="module", autouse=True)
def summary_at_end():
    SUMMARY.clear()
    t0 = time.monotonic()
    if sanitized():
        note("run", "%s is an ASan build: RSS figures are reported, not bounded" % nodeseal_path())
    yield
    note("run", "module wall time %.1f s" % (time.monotonic() - t0))
    print("\n" + write_summary())


def fmt_ms(x):
    return "-" if x is None else "%.1f ms" % (x * 1000.0)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))]


# ----------------------------------------------------------------- the binary's build

_SANITIZED = {}


def sanitized(path=None):
    """True for an ASan build (make integration-asan): its RSS is shadow
    memory and quarantine, so RSS is reported but not bounded, and CPU
    bounds are doubled."""
    path = path or nodeseal_path()
    if path not in _SANITIZED:
        try:
            with open(path, "rb") as f:
                _SANITIZED[path] = b"__asan_init" in f.read()
        except OSError:
            _SANITIZED[path] = False
    return _SANITIZED[path]


def cpu_factor():
    return 2.0 if sanitized() else 1.0


# ----------------------------------------------------------------- the daemon's status

def pending_count(st):
    """Inbound connections not yet authenticated (what --max-pending bounds)."""
    return sum(1 for c in st["connections"]
               if c.get("state") != "relay" and c.get("direction") == "in")


# ================================================================= part 3: strangers and floods

class Results(types.SimpleNamespace):
    """Fixture results; a short repr keeps assertion messages readable."""

    def __repr__(self):
        return "<%s>" % getattr(self, "what", "results")


A_MAX_PENDING = 64
A_PER_SOURCE = 48
MANY_SOURCES = ["10.77.0.%d" % i for i in range(200, 216)]
A_HS_TIMEOUT = 2
SYN_SPORTS = (40000, 59999)


class Sampler(threading.Thread):
    """Samples A's daemon: fds and RSS every 50 ms, status every ~0.3 s."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.d = daemon
        self.samples = []   # (t, fds, rss)
        self.status = []    # (t, pending, total, refused)
        self.stop_ev = threading.Event()
        self.errors = []

    def run(self):
        last_status = 0.0
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                self.samples.append((t, self.d.fds(), self.d.mem()["VmRSS"]))
            except OSError as e:
                self.errors.append(repr(e))
                return
            if t - last_status > 0.3:
                last_status = t
                try:
                    st = self.d.status(timeout=5)
                except Exception as e:  # a timeout is a finding, not a crash
                    st = None
                    self.errors.append("status: %r" % e)
                if st is not None:
                    self.status.append((time.monotonic(), pending_count(st),
                                        len(st["connections"]), st["refused"]))
                else:
                    self.errors.append("status failed at %.2f" % t)
            self.stop_ev.wait(0.05)

    def window(self, t0, t1):
        s = [x for x in self.samples if t0 <= x[0] <= t1]
        st = [x for x in self.status if t0 <= x[0] <= t1]
        return s, st


def phase_stats(hst, t0, t1):
    """Honest-side figures for [t0, t1] from an honest status."""
    probes = [p for p in hst["probes"] if t0 <= p["t"] <= t1]
    ok = [p for p in probes if p["ok"]]
    lats = [p["latency"] for p in ok]
    rtts = [r[1] for r in hst["rtts"] if t0 <= r[0] <= t1]
    return {
        "probes": len(probes), "probes_ok": len(ok),
        "retried": sum(1 for p in probes if p["attempts"] > 1),
        "p50": pct(lats, 50), "p99": pct(lats, 99), "max": max(lats) if lats else None,
        "rounds": len(rtts), "rtt_p50": pct(rtts, 50), "rtt_max": max(rtts) if rtts else None,
    }


@pytest.fixture(scope="module")
def flood(ns_bin, keys, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("flood")
    bed = NetBed(4, logdir=str(logdir))
    bed.setup()
    sampler = None
    try:
        A, B, S, W = bed.nodes
        res = Results(what="flood results", bed=bed, A=A, B=B, S=S, W=W,
                      phases=collections.OrderedDict())
        da = start_up(ns_bin, bed, A, keys.good, "up-A",
                      extra=["--max-pending", A_MAX_PENDING, "--max-pending-per-source",
                             A_PER_SOURCE, "--handshake-timeout", A_HS_TIMEOUT])
        start_up(ns_bin, bed, B, keys.good, "up-B")
        start_up(ns_bin, bed, W, keys.bad, "up-W")
        res.da = da
        res.srv_a = spawn_server(bed, A, "server-A")
        res.srv_b = spawn_server(bed, B, "server-B")
        marker = "NSRES-%s-flood" % bed.run_id
        res.hon_b = spawn_honest(bed, B, A, "honest-B", marker, interval=0.02, size=512,
                                 probe_interval=0.05, probe_deadline=5, seed=1)
        res.hon_a = spawn_honest(bed, A, B, "honest-A-out", marker, no_persistent=True,
                                 probe_interval=0.2, probe_deadline=5, seed=2)
        # The stranger: its own connections use ports below the raw SYNs',
        # and it drops the SYN-ACKs for those (so they stay half-open).
        bed.ns_exec_check(S, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 39999"])
        for ip in MANY_SOURCES:  # a stranger with many addresses (on-link for A)
            bed.ns_exec_check(S, ["ip", "addr", "add", ip + "/24", "dev", S.ifname])
        bed.ns_exec_check(S, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--sport", str(PORT),
                              "--dport", "%d:%d" % SYN_SPORTS, "-j", "DROP"])
        wait_rounds(res.hon_b, 20, 15, "before the flood")
        res.base_fds = da.fds()
        res.base_rss = da.mem()["VmRSS"]
        res.nofile = da.nofile_soft()
        sampler = Sampler(da)
        sampler.start()
        res.sampler = sampler

        def phase(name, argv_node=None, argv=None, duration=None, out=None):
            st0 = da.status()
            c0, t0 = da.cpu(), time.monotonic()
            extra = {}
            if argv is not None:
                p = bed.spawn(argv_node, argv, name)
                if name == "syn":
                    time.sleep(2.0)
                    r = bed.ns_exec(A, ["ss", "-Htn", "state", "syn-recv"])
                    extra["syn_recv_mid"] = len(r.stdout.splitlines())
                rc = p.wait(120)
                assert rc == 0, "%s: exit %s\n%s" % (name, rc, p.describe())
            else:
                time.sleep(duration)
            t1, c1 = time.monotonic(), da.cpu()
            time.sleep(0.3)  # the honest status file is rewritten every 0.2 s
            st1 = da.status()
            ph = {"t0": t0, "t1": t1, "cpu": c1 - c0, "refused0": st0["refused"],
                  "refused1": st1["refused"]}
            ph.update(extra)
            if out:
                with open(out) as f:
                    ph["flood"] = json.load(f)
            res.phases[name] = ph
            return ph

        def flood_argv(mode, **kw):
            out = bed.path("app", "flood-%s.json" % mode)
            argv = [PYTHON, APP, "flood", "--target", A.addr(), "--mode", mode, "--out", out,
                    "--seed", "7"]
            for k, v in kw.items():
                argv += ["--" + k, str(v)]
            return argv, out

        phase("baseline", duration=2.0)
        argv, out = flood_argv("random", duration=4, concurrency=40)
        phase("random", S, argv, out=out)
        argv, out = flood_argv("msg1", duration=4, concurrency=40)
        phase("msg1", S, argv, out=out)
        argv, out = flood_argv("slowloris", duration=6, concurrency=40, hold=10)
        phase("slowloris40", S, argv, out=out)
        out = bed.path("app", "syn.json")
        phase("syn", S, [PYTHON, APP, "syn", "--src", S.ip4, "--target", A.addr(), "--count",
                         20000, "--rate", 5000, "--sport-lo", SYN_SPORTS[0], "--sport-hi",
                         SYN_SPORTS[1], "--seed", 3, "--out", out], out=out)
        # W has nodeseal with another network key: real Noise first messages
        wk = spawn_honest(bed, W, A, "wrongkey-W", "NSRES-%s-wrongkey" % bed.run_id,
                          no_persistent=True, probe_interval=0.01, probe_deadline=0, seed=4)
        ph = phase("wrongkey", duration=3.0)
        res.wrongkey = stop_honest(wk)
        ph["attempts"] = len(res.wrongkey["probes"])
        argv, out = flood_argv("slowloris", duration=7, concurrency=200, hold=10)
        phase("saturate", S, argv, out=out)
        phase("rest", duration=A_HS_TIMEOUT + 1.5)
        argv, out = flood_argv("slowloris", duration=7, concurrency=20 * len(MANY_SOURCES),
                               hold=10, sources=",".join(MANY_SOURCES))
        phase("saturate_many", S, argv, out=out)
        phase("cooldown", duration=A_HS_TIMEOUT + 2.0)
        sampler.stop_ev.set()
        sampler.join(10)
        res.hb = stop_honest(res.hon_b)
        res.ha = stop_honest(res.hon_a)
        time.sleep(0.5)
        res.end_fds = da.fds()
        res.end_rss = da.mem()["VmRSS"]
        res.end_status = da.status()
        res.srv_a.stop()
        res.srv_b.stop()
        res.records_a = server_records(res.srv_a)
        res.records_b = server_records(res.srv_b)
        res.log_a = da.log()
        res.daemon_alive = da.alive()
        yield res
    finally:
        if sampler is not None:
            sampler.stop_ev.set()
        problems = bed.teardown()
        assert not problems, problems


HONEST_PHASES = ["baseline", "random", "msg1", "slowloris40", "syn", "wrongkey"]


def stranger_conns(ph):
    """Stranger connections the daemon had to accept (and refuse) in a phase:
    every attempt (the saturating slowloris' resets included)."""
    f = ph.get("flood")
    return f.get("attempts", 0) if f and "attempts" in f else 0


def test_flood_figures(flood):
    """Not a check: the figures of every phase, for the summary."""
    f = flood
    sec = "3 flood"
    note(sec, "A: --max-pending %d --handshake-timeout %d; idle: %d fds, RSS %d KiB, "
         "RLIMIT_NOFILE soft %s" % (A_MAX_PENDING, A_HS_TIMEOUT, f.base_fds, f.base_rss, f.nofile))
    total = 0
    for name, ph in f.phases.items():
        st = phase_stats(f.hb, ph["t0"], ph["t1"])
        sa = phase_stats(f.ha, ph["t0"], ph["t1"])
        s, _ = f.sampler.window(ph["t0"], ph["t1"])
        dur = ph["t1"] - ph["t0"]
        fl = ph.get("flood", {})
        what = ""
        if name == "syn":
            what = "%d SYNs (%d half-open at A mid-flood)" % (fl.get("sent", 0),
                                                            ph.get("syn_recv_mid", -1))
        elif name == "wrongkey":
            what = "%d wrong-key handshakes from W" % ph.get("attempts", 0)
        elif fl:
            total += fl["attempts"]
            what = "%d connects (%d accepted by TCP), outcomes %s, %d bytes back" % (
                fl["attempts"], fl["connected"], dict(fl["outcomes"], **fl["connect_errors"]),
                fl["bytes_back"])
        note(sec, "%-11s %4.1fs %s" % (name, dur, what))
        note(sec, "            B->A new connections: %d/%d ok (%d retried), connect+first "
             "round trip p50 %s p99 %s max %s; long-lived: %d round trips, RTT p50 %s max %s"
             % (st["probes_ok"], st["probes"], st["retried"], fmt_ms(st["p50"]),
                fmt_ms(st["p99"]), fmt_ms(st["max"]), st["rounds"], fmt_ms(st["rtt_p50"]),
                fmt_ms(st["rtt_max"])))
        note(sec, "            A->B (A's own outbound) new connections: %d/%d ok, p50 %s p99 %s"
             % (sa["probes_ok"], sa["probes"], fmt_ms(sa["p50"]), fmt_ms(sa["p99"])))
        note(sec, "            A daemon: CPU %.2f s (%.0f%% of one core)%s; fds max %s; RSS max "
             "%s KiB; refused +%d" % (
                 ph["cpu"], 100.0 * ph["cpu"] / dur,
                 (", %.0f us per stranger connection" % (1e6 * ph["cpu"] / stranger_conns(ph))
                  if stranger_conns(ph) >= 1000 else ""),
                 max((x[1] for x in s), default="-"), max((x[2] for x in s), default="-"),
                 ph["refused1"] - ph["refused0"]))
    note(sec, "stranger TCP connections in total: %d (+ %d raw SYNs, + %d wrong-key handshakes)"
         % (total, f.phases["syn"]["flood"]["sent"], f.phases["wrongkey"]["attempts"]))
    fl = [ph for n, ph in f.phases.items() if n not in ("baseline", "cooldown")]
    cpu = sum(ph["cpu"] for ph in fl)
    dur = sum(ph["t1"] - ph["t0"] for ph in fl)
    note(sec, "A daemon CPU over the whole flood: %.2f s in %.1f s (%.0f%% of one core)"
         % (cpu, dur, 100.0 * cpu / dur))


def test_flood_honest_traffic_unharmed(flood):
    """Below the pending limit, floods of every kind leave honest traffic
    alone: every new honest connection completes, quickly, and the
    long-lived one never breaks."""
    f = flood
    hb = f.hb
    assert hb["corrupt"] == 0, "corrupted echoes on honest connections: %s" % hb["events"][-10:]
    assert hb["disconnects"] == 0, (
        "the long-lived honest connection broke during the floods: %s" % hb["events"][-10:])
    assert f.daemon_alive, "A's daemon died:\n" + f.log_a[-3000:]
    for name in HONEST_PHASES:
        ph = f.phases[name]
        st = phase_stats(hb, ph["t0"], ph["t1"])
        assert st["probes"] >= 10, "%s: only %d honest probes" % (name, st["probes"])
        assert st["probes_ok"] == st["probes"], (
            "%s: %d of %d new honest connections failed: %s" % (
                name, st["probes"] - st["probes_ok"], st["probes"],
                [p for p in hb["probes"] if ph["t0"] <= p["t"] <= ph["t1"] and not p["ok"]][:5]))
        assert st["p99"] < 1.0, "%s: honest connect+round trip p99 %.3f s" % (name, st["p99"])
        assert st["rounds"] >= 0.3 * (ph["t1"] - ph["t0"]) / 0.02, (
            "%s: the long-lived connection made only %d round trips" % (name, st["rounds"]))
        assert st["rtt_max"] < 1.0, "%s: long-lived RTT up to %.3f s" % (name, st["rtt_max"])
        sa = phase_stats(f.ha, ph["t0"], ph["t1"])
        assert sa["probes_ok"] == sa["probes"], "%s: A's outbound connections failed" % name


def test_flood_strangers_get_nothing(flood):
    """No stranger byte reaches either application, and no stranger gets a
    byte back; the SYN flood never even reaches the daemon."""
    f = flood
    check_app_saw_only(f.records_a, {f.B.ip4})
    check_app_saw_only(f.records_b, {f.A.ip4})
    assert any(r["kind"] == "P" and r["ok"] for r in f.records_a), "server A saw no honest traffic"
    for name in ("random", "msg1", "slowloris40", "saturate", "saturate_many"):
        fl = f.phases[name]["flood"]
        assert fl["connected"] > 0, "%s: the stranger never connected: %s" % (name, fl)
        assert fl["bytes_back"] == 0, "%s: the stranger got %d bytes back" % (
            name, fl["bytes_back"])
        assert "held" not in fl["outcomes"], (
            "%s: stranger connections still open after 10 s: %s" % (name, fl["outcomes"]))
    for name in ("random", "msg1"):
        ph = f.phases[name]
        fl = ph["flood"]
        assert fl["attempts"] >= 1000, "%s: only %d connections" % (name, fl["attempts"])
        # every stranger connection is refused and counted (honest ones are not)
        assert ph["refused1"] - ph["refused0"] >= 0.95 * fl["connected"], (
            name, ph["refused0"], ph["refused1"], fl["connected"])
    syn = f.phases["syn"]
    assert syn["flood"]["sent"] >= 19000, syn
    assert syn["refused1"] == syn["refused0"], (
        "half-open connections reached the daemon: refused %d -> %d" % (syn["refused0"],
                                                                       syn["refused1"]))
    wk = f.wrongkey
    assert len(wk["probes"]) >= 50 and not any(p["ok"] for p in wk["probes"]), (
        "wrong-key peer W: %d attempts, %d succeeded" % (len(wk["probes"]),
                                                          sum(p["ok"] for p in wk["probes"])))
    ph = f.phases["wrongkey"]
    assert ph["refused1"] - ph["refused0"] >= 0.9 * len(wk["probes"]), ph


def test_flood_daemon_resources_bounded(flood):
    """CPU, RSS and fds of A's daemon stay bounded during the whole flood,
    and return to idle after it."""
    f = flood
    s = f.sampler.samples
    assert len(s) > 100, "sampler: %d samples, errors %s" % (len(s), f.sampler.errors[:5])
    max_fds = max(x[1] for x in s)
    max_rss = max(x[2] for x in s)
    base_fds, base_rss, end_fds = f.base_fds, f.base_rss, f.end_fds
    # pending connections hold 1-2 fds each, relayed ones 2; the honest
    # traffic is a few connections at a time
    fd_bound = base_fds + 2 * A_MAX_PENDING + 16
    note("3 flood", "A daemon overall: fds max %d (bound %d, idle %d, after %d); RSS max %d KiB "
         "(idle %d, after %d)" % (max_fds, fd_bound, base_fds, end_fds, max_rss, base_rss,
                                  f.end_rss))
    if f.sampler.errors:
        note("3 flood", "status sampler errors: %s" % f.sampler.errors[:3])
    assert max_fds <= fd_bound, "A's daemon held up to %d fds (bound %d)" % (max_fds, fd_bound)
    if not sanitized():
        assert max_rss <= base_rss + 16 * 1024 and max_rss < 64 * 1024, (
            "A's daemon RSS up to %d KiB (idle %d KiB)" % (max_rss, base_rss))
    for name, ph in f.phases.items():
        dur = ph["t1"] - ph["t0"]
        cpu = ph["cpu"]
        assert cpu < 0.7 * cpu_factor() * dur, "%s: the daemon used %.2f s CPU in %.1f s" % (
            name, cpu, dur)
        n = stranger_conns(ph)
        if n >= 1000:
            assert cpu / n < 500e-6 * cpu_factor(), "%s: %.0f us CPU per stranger connection" % (
                name, 1e6 * cpu / n)
    assert end_fds <= base_fds + 4, "fds after the flood: %d (idle %d)" % (end_fds, base_fds)
    left = [c for c in f.end_status["connections"] if c["state"] != "relay"]
    assert not left, "pending connections left after the flood: %s" % left[:5]


def max_pending_in(f, ph):
    _, st = f.sampler.window(ph["t0"], ph["t1"])
    assert len(st) >= 5, "too few status samples: %s" % (f.sampler.errors[:5],)
    return max(x[1] for x in st)


def test_flood_pending_limit_and_handshake_timeout(flood):
    """--max-pending-per-source 48: one stranger (200 slowloris connections
    at once, each re-opened as soon as it is cut) never holds more than 48
    unauthenticated connections; the rest are refused at once and counted.
    --max-pending 64 with 16 stranger addresses (320 at once): never more
    than 64, the oldest dropped for each newcomer and counted as evicted.
    --handshake-timeout 2: held slowloris connections are cut after 2 s (the
    daemon checks once a second).  The log stays short (at most 10 'failed'
    lines per 10 s, then a summary)."""
    f = flood
    sec = "3 flood"
    sat, many = f.phases["saturate"], f.phases["saturate_many"]
    max_one, max_many = max_pending_in(f, sat), max_pending_in(f, many)
    fl = sat["flood"]
    immediate = fl["connect_errors"].get("ECONNRESET", 0) + sum(
        1 for t0, life in fl["lifetimes"] if life < 0.5)
    refused = sat["refused1"] - sat["refused0"]
    evicted = f.end_status["failed_handshakes"].get("evicted", 0)
    limited = f.end_status["failed_handshakes"].get("limit", 0)
    note(sec, "saturate (1 source): at most %d pending (per-source limit %d); %d stranger "
         "connections reset at once; refused +%d" % (max_one, A_PER_SOURCE, immediate, refused))
    note(sec, "saturate_many (%d sources, %d at once): at most %d pending (limit %d); %d "
         "connections tried, %d evicted for newer ones, %d refused at the limits in all" % (
             len(MANY_SOURCES), 20 * len(MANY_SOURCES), max_many, A_MAX_PENDING,
             many["flood"]["attempts"], evicted, limited))
    held = {}
    for name in ("slowloris40", "saturate"):
        held[name] = [life for t0, life in f.phases[name]["flood"]["lifetimes"] if life >= 0.5]
        h = held[name] or [0.0]
        note(sec, "%s: %d slowloris connections held, cut after %.2f..%.2f s (p50 %.2f s; "
             "timeout %d s)" % (name, len(held[name]), min(h), max(h), pct(h, 50), A_HS_TIMEOUT))
    failed = [l for l in f.log_a.splitlines() if re.search(r"\bfailed (in|out)\b", l)]
    summaries = [l for l in f.log_a.splitlines() if "more failed handshakes" in l]
    secs = max(1.0, f.phases["cooldown"]["t1"] - f.phases["baseline"]["t0"])
    note(sec, "A's log: %d lines in all (one per honest connection opened and closed), %d "
         "'failed' lines, %d summary lines for %.0f s of flood" % (
             len(f.log_a.splitlines()), len(failed), len(summaries), secs))

    # honest probes from B are pending for a moment too: a few over the limit
    assert max_one <= A_PER_SOURCE + 4, "%d pending from one source (limit %d)" % (
        max_one, A_PER_SOURCE)
    assert max_one >= A_PER_SOURCE - 8, "one stranger did not reach its limit (max %d)" % max_one
    assert max_many <= A_MAX_PENDING, "%d pending connections (limit %d)" % (max_many,
                                                                         A_MAX_PENDING)
    assert max_many >= A_MAX_PENDING - 8, "many sources did not fill the table (%d)" % max_many
    assert evicted >= 100, "only %d connections evicted with the table full" % evicted
    assert immediate > 1000, fl["outcomes"]
    assert refused >= 0.9 * immediate, (refused, immediate)
    for name, lives in held.items():
        assert len(lives) >= 40, "%s: only %d connections were held" % (name, len(lives))
        early = [x for x in lives if x < A_HS_TIMEOUT - 0.15]
        late = [x for x in lives if x > A_HS_TIMEOUT + 2.5]
        assert not early and not late, (
            "%s: slowloris connections cut after %s s (timeout %d s)" % (
                name, sorted(set(round(x, 1) for x in early + late)), A_HS_TIMEOUT))
    # the long-lived honest connection is authenticated: not pending, not cut
    for ph in (sat, many):
        hs = phase_stats(f.hb, ph["t0"], ph["t1"])
        assert hs["rounds"] >= 0.3 * (ph["t1"] - ph["t0"]) / 0.02, hs
    assert len(failed) <= 10 * (secs / 10.0 + 3), (
        "%d 'failed' log lines in %.0f s" % (len(failed), secs))
    assert summaries, "no rate-limit summary line in A's log"


def test_flood_saturating_slowloris_does_not_lock_out_honest_peers(flood):
    """Regression: one stranger holding --max-pending idle connections used
    to lock every new honest connection out, inbound and the node's own
    outbound ones (one shared budget, no per-source limit, no eviction):
    most got in only when a batch of slowloris connections was cut at the
    handshake timeout, and some not within 5 s.  Now, while one stranger
    (200 at once) or sixteen stranger addresses (320 at once, the table
    full) keep at it, new honest connections get in: B's to A, and A's own
    to B."""
    f = flood
    for name in ("saturate", "saturate_many"):
        ph = f.phases[name]
        hs = phase_stats(f.hb, ph["t0"], ph["t1"])
        ha = phase_stats(f.ha, ph["t0"], ph["t1"])
        note("3 flood", "%s: B->A new connections %d/%d within 5 s, p50 %s p99 %s; A->B "
             "(outbound) %d/%d, p50 %s" % (name, hs["probes_ok"], hs["probes"],
                                           fmt_ms(hs["p50"]), fmt_ms(hs["p99"]),
                                           ha["probes_ok"], ha["probes"], fmt_ms(ha["p50"])))
        assert hs["probes"] >= 20 and ha["probes"] >= 5, (name, hs, ha)
        assert hs["probes_ok"] >= 0.9 * hs["probes"] and hs["p50"] < 0.5, (name, hs)
        assert ha["probes_ok"] == ha["probes"] and ha["p50"] < 0.5, (name, ha)


# ================================================================= bugs found here

def test_own_outbound_connection_never_loops_back(ns_bin, keys, make_bed):
    """Regression (fixed in af14715): each application connection must cost
    the daemon exactly one connection.  B's application connects to A:7447
    2000 times; A has no listener, so every attempt is refused and B's
    daemon resets the application's connection.  conntrack keeps each reset connection's
    REDIRECT entry (CLOSE state, 10 s; a new SYN in the original direction
    does not reopen it because the RST came from the other side).  When the
    daemon's own marked socket to A:7447 then gets one of those source ports,
    its SYN follows the old entry into the daemon's own listener: the daemon
    accepts its own connection, opens another one for it, and relays its own
    first handshake message as data.  Measured before the fix: 3000 attempts
    -> 3145 connections at B's daemon, and against a live peer the 60 bytes
    reached the peer's application (13 times in the flood test)."""
    bed = make_bed(2)
    a, b = bed.nodes
    db = start_up(ns_bin, bed, b, keys.good, "up-B")
    code = r'''
import socket, sys
n = int(sys.argv[2])
for i in range(n):
    s = socket.socket()
    try:
        s.connect((sys.argv[1], %d))
        s.settimeout(2)
        s.recv(100)
    except OSError:
        pass
    s.close()
print(n)
''' % PORT
    attempts = 2000
    r = bed.ns_exec(b, [PYTHON, "-c", code, a.ip4, str(attempts)], timeout=120)
    if r.returncode != 0:
        pytest.fail("client: %s" % r.stderr, pytrace=False)
    time.sleep(0.5)
    st = db.status()
    note("bugs", "self-loop: %d application connection attempts -> %d connections at the "
         "daemon (%d looped back into its own listener)" % (attempts, st["refused"],
                                                            st["refused"] - attempts))
    assert st["refused"] == attempts, (
        "%d application attempts, but B's daemon handled %d connections" % (attempts,
                                                                            st["refused"]))


def test_restart_after_crash_leaves_no_unprotected_window(ns_bin, keys, make_bed):
    """Regression (fixed in af14715).  docs/SECURITY.md promise 1 holds "when
    the daemon crashes or restarts".  After a SIGKILL the rules stay (fail
    closed), but the next `nodeseal up` called ns_intercept_remove() and only
    then ns_intercept_install() (daemon.c, ns_daemon_run).  Measured before the fix, with a client
    connecting every 2 ms: 56 plaintext connections left B for A during B's
    restart, and 70 connections of a stranger without the key reached A's
    application during A's restart (window ~160-180 ms)."""
    bed = make_bed(3)
    a, b, s = bed.nodes
    listener = r'''
import socket, sys, threading, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d)); l.listen(1024)
out = open(sys.argv[1], "a", buffering=1)
def h(c, p):
    c.settimeout(1); d = b""
    try:
        while True:
            x = c.recv(4096)
            if not x: break
            d += x
    except OSError: pass
    out.write("%%.4f %%s %%d %%r\n" %% (time.time(), p[0], len(d), d[:40])); c.close()
while True:
    c, p = l.accept(); threading.Thread(target=h, args=(c, p), daemon=True).start()
''' % PORT
    hammer = r'''
import socket, sys, time
end = time.time() + float(sys.argv[2]); n = 0
while time.time() < end:
    s = socket.socket(); s.settimeout(0.5)
    try:
        s.connect((sys.argv[1], %d)); s.sendall(b"NSRES-PLAINTEXT-%%d" %% n); n += 1
    except OSError: pass
    s.close(); time.sleep(0.002)
''' % PORT
    results = {}
    for victim, hammer_node, name in ((b, b, "outbound"), (a, s, "inbound")):
        log = bed.path("app", "%s.log" % name)
        lst = bed.spawn(a, [PYTHON, "-c", listener, log], "listener-" + name)
        time.sleep(0.3)
        d = start_up(ns_bin, bed, victim, keys.good, "up-%s-1" % name)
        d.proc.signal(signal.SIGKILL)
        if d.proc.wait(5) != -signal.SIGKILL:
            pytest.fail("nodeseal up did not die of SIGKILL:\n" + d.proc.describe(), pytrace=False)
        ham = bed.spawn(hammer_node, [PYTHON, "-c", hammer, a.ip4, "2.5"], "hammer-" + name)
        time.sleep(0.5)
        start_up(ns_bin, bed, victim, keys.good, "up-%s-2" % name)
        if ham.wait(15) != 0:
            pytest.fail(ham.describe(), pytrace=False)
        time.sleep(1.3)
        lst.stop()
        with open(log) as f:
            lines = [l for l in f.read().splitlines() if "NSRES-PLAINTEXT" in l]
        results[name] = lines
        down(ns_bin, bed, victim, keys.good)
    note("bugs", "restart gap: %d plaintext connections left B during its restart; %d "
         "stranger connections reached A's application during A's restart"
         % (len(results["outbound"]), len(results["inbound"])))
    assert not results["outbound"], "plaintext left B while its daemon restarted: %s" % (
        results["outbound"][:3])
    assert not results["inbound"], "a stranger reached A's application while A restarted: %s" % (
        results["inbound"][:3])


def test_fd_exhaustion_degrades_gracefully(ns_bin, keys, make_bed):
    """Regression (fixed in af14715): out of descriptors, the level-triggered
    listener made the daemon spin at 100% CPU and log 'accept: Too many open
    files' ~400,000 times a second (28 MB/s); nodeseal did not raise its soft
    RLIMIT_NOFILE either.  A's daemon runs with RLIMIT_NOFILE 128 (soft and
    hard, so it cannot raise it); B opens 80
    connections to A (A relays 59 and refuses the rest once it cannot open
    the delivery socket), then 5 more, which wait in A's accept queue.
    Expected: the daemon stays idle and its log short while out of fds, and
    serves again once connections are gone."""
    bed = make_bed(2, keep_logs=False)  # the log can grow by ~30 MB/s: the work dir goes
    a, b = bed.nodes
    da = start_up(ns_bin, bed, a, keys.good, "up-A", nofile=(128, 128))
    start_up(ns_bin, bed, b, keys.good, "up-B")
    srv = spawn_server(bed, a, "server-A")
    holder = r'''
import socket, sys, time
conns = []
def more(n):
    for i in range(n):
        s = socket.socket(); s.setblocking(False)
        try: s.connect((sys.argv[1], %d))
        except BlockingIOError: pass
        conns.append(s)
more(int(sys.argv[2]))      # more than A's fds allow: A relays what it can
time.sleep(1.5)
more(int(sys.argv[3]))      # these wait in A's accept queue
time.sleep(float(sys.argv[4]))
''' % PORT
    h = bed.spawn(b, [PYTHON, "-c", holder, a.ip4, "80", "5", "2.0"], "holder")
    time.sleep(1.5 + 0.5)
    t0, c1, l1 = time.monotonic(), da.cpu(), os.path.getsize(da.proc.err_path)
    fds_full = da.fds()
    time.sleep(1.0)
    dt, cpu = time.monotonic() - t0, da.cpu() - c1
    grown = os.path.getsize(da.proc.err_path) - l1
    if h.wait(15) != 0:
        pytest.fail(h.describe(), pytrace=False)
    time.sleep(1.0)
    hon = spawn_honest(bed, b, a, "honest-after", "NSRES-%s-fd" % bed.run_id, interval=0.02)
    ok = True
    try:
        wait_rounds(hon, 5, 15, "after fd exhaustion")
    except BaseException:
        ok = False
    srv.stop()
    note("bugs", "fd exhaustion (soft limit 128: %d fds in use, 5 connections waiting): "
         "daemon CPU %.2f s in %.1f s, log +%d bytes (%.1f MB/s), serving again afterwards: %s"
         % (fds_full, cpu, dt, grown, grown / dt / 1e6, ok))
    assert cpu < 0.3 * cpu_factor() * dt, "the daemon used %.2f s CPU in %.1f s out of fds" % (
        cpu, dt)
    assert grown < 20000, "the daemon's log grew by %d bytes in %.1f s" % (grown, dt)
    assert ok, "no honest connection after the fd exhaustion"


def test_delivery_never_collides_with_wire_connections(ns_bin, keys, make_bed):
    """Regression: rounds of 300 connections B -> A (1 KiB each way), with
    both nodes' ephemeral port range narrowed to 2000 ports (a legitimate
    setting; it made the collision likely instead of rare).  Every
    connection must work and none may be left behind.

    The bug: A delivered an inbound connection from a transparent socket
    bound to the peer's address and a port of the kernel's choice, to the
    same IP:7447 the peer's wire connections use before REDIRECT; when that
    port was also the source port of a live or new wire connection from the
    peer, conntrack merged the two flows.  Now delivery ports come from
    --delivery-ports (61000-65535), outside the ephemeral range, and a live
    wire connection's port is skipped.

    Measured before the fix: round 1 failed every time: ~40 opens reset after "handshake
    timed out" and 5-10 transfers cut; B's daemon keeps 5-10 connections in
    'relay' whose wire socket stays ESTABLISHED and retransmits (RTO backoff)
    while A has no socket at all.  With the default port range the same
    happens from the 8th round of 1000 connections on (28 stuck connections,
    still there 85 s later).  Packet trace in A's namespace, port 44521:
    wire B:44521 -> A:7447 relayed (60/96/64 handshake, records); then A's
    delivery socket 10.77.0.2:44521 -> 10.77.0.1:7447 sends its SYN on lo,
    NATed to 10.77.0.1:20052 by the wire connection's conntrack entry; A's
    wire socket answers with a challenge ACK, the delivery socket answers that
    with an RST, the wire socket dies; B's later segments are dropped."""
    bed = make_bed(2)
    a, b = bed.nodes
    for n in (a, b):
        bed.ns_exec_check(n, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 41999"])
    hs = ["--handshake-timeout", 3]
    d = {a.name: start_up(ns_bin, bed, a, keys.good, "up-A", extra=hs),
         b.name: start_up(ns_bin, bed, b, keys.good, "up-B", extra=hs)}
    srv = spawn_server(bed, a, "server-A", extra=["--load-size", 1024, "--seed", 21])
    conns, results = 300, []
    for rnd in range(3):
        ctl = os.path.dirname(bed.path("collide%d" % rnd, "x"))
        ld = bed.spawn(b, [PYTHON, APP, "load", "--connect", a.addr(), "--conns", conns,
                           "--size", 1024, "--seed", 21, "--ctl", ctl, "--timeout", 4],
                       "load%d" % rnd)

        def phase_of():
            try:
                with open(os.path.join(ctl, "state.json")) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return {}

        for want, nxt in (("open", "go"), ("done", "close"), ("closed", None)):
            end = time.monotonic() + 60
            while phase_of().get("phase") != want:
                if ld.poll() is not None or time.monotonic() > end:
                    pytest.fail("load tool stuck before %s:\n%s" % (want, ld.describe()),
                                pytrace=False)
                time.sleep(0.02)
            if want == "done":
                st = phase_of()
            if nxt:
                open(os.path.join(ctl, nxt), "w").close()
        ld.wait(10)
        time.sleep(3 + 1.5)  # pending connections expire (handshake timeout 3 s)
        left = {n: x.status()["connections"] for n, x in d.items()}
        results.append((rnd, st["ok"], len(st["open_failures"]), len(st["errors"]),
                        {n: len(v) for n, v in left.items()}))
        if st["ok"] != conns or st["open_failures"] or any(left.values()):
            break
    srv.stop()
    note("bugs", "delivery/wire 4-tuple collision (port range 2000, rounds of %d): %s"
         % (conns, "; ".join("round %d: %d ok, %d opens reset, %d transfers failed, left %s"
                             % r for r in results)))
    for rnd, ok, openfail, errors, left in results:
        assert ok == conns and openfail == 0 and errors == 0, (
            "round %d: %d of %d connections worked, %d opens reset, %d transfers failed" % (
                rnd, ok, conns, openfail, errors))
        assert not any(left.values()), "round %d: connections left behind: %s" % (rnd, left)


def test_delivery_ports_reused_soon_after_close(ns_bin, keys, make_bed):
    """A delivered connection that closes first leaves its port in TIME_WAIT
    for 60 s, and delivery ports come from a range of their own
    (--delivery-ports): at 4536 ports, a peer could open only about 75
    connections a second for long if a port stayed taken.  The delivery
    socket binds its port with SO_REUSEADDR, and the kernel lets a connect()
    from an explicitly bound port take over a TIME_WAIT 4-tuple (TCP
    timestamps guard the sequence space).  Here A has 100 delivery ports and
    default sysctls; B opens 400 connections, 50 a second, each one round
    trip, closed by the client side first (so A's delivery socket closes
    first too).  All must work; without SO_REUSEADDR only the first 100 do."""
    bed = make_bed(2)
    a, b = bed.nodes
    start_up(ns_bin, bed, a, keys.good, "up-A", extra=["--delivery-ports", "61000-61099"])
    start_up(ns_bin, bed, b, keys.good, "up-B")
    server = r'''
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d)); l.listen(256)
def h(c):
    try:
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
while True:
    c, _ = l.accept(); threading.Thread(target=h, args=(c,), daemon=True).start()
''' % PORT
    client = r'''
import socket, sys, time
ok = bad = 0; t0 = time.monotonic()
for i in range(int(sys.argv[2])):
    time.sleep(max(0, t0 + i / 50.0 - time.monotonic()))
    s = socket.socket(); s.settimeout(5)
    try:
        s.connect((sys.argv[1], %d)); s.sendall(b"x%%d" %% i)
        got = b""
        while len(got) < len(b"x%%d" %% i):
            d = s.recv(100)
            if not d: break
            got += d
        ok += got == b"x%%d" %% i; bad += got != b"x%%d" %% i
    except OSError:
        bad += 1
    s.close()
print(ok, bad)
''' % PORT
    srv = bed.spawn(a, [PYTHON, "-c", server], "echo-A")
    time.sleep(0.3)
    r = bed.ns_exec(b, [PYTHON, "-c", client, a.ip4, "400"], timeout=60)
    srv.stop()
    assert r.returncode == 0, r.stderr
    ok, bad = map(int, r.stdout.split())
    tw = bed.ns_exec(a, ["ss", "-Htan", "state", "time-wait", "sport", ">=", ":61000"]).stdout
    note("bugs", "delivery ports reused after TIME_WAIT (100 ports, 400 connections at 50/s): "
         "%d ok, %d failed; %d delivery ports in TIME_WAIT at the end" % (
             ok, bad, len(tw.splitlines())))
    assert ok == 400 and bad == 0, "%d of 400 connections failed" % bad


# ================================================================= part 4: faults

def test_sigkill_mid_transfer_then_restart(ns_bin, keys, make_bed):
    """4a.  B streams 64 KiB ping-pong frames to A.  SIGKILL A's daemon
    mid-transfer, wait 2 s, `nodeseal up` again; then the same for B's
    daemon.  While a daemon is dead nothing passes and nothing leaves in
    clear; after the restart B's program reconnects and the data is intact.
    Also during the restart: `up` replaces the crashed daemon's rules in one
    commit (see test_restart_after_crash_leaves_no_unprotected_window)."""
    bed = make_bed(2)
    a, b = bed.nodes
    d = {a.name: start_up(ns_bin, bed, a, keys.good, "up-A"),
         b.name: start_up(ns_bin, bed, b, keys.good, "up-B")}
    cap = bed.capture("sigkill")
    srv = spawn_server(bed, a, "server-A")
    marker = "NSRES-%s-kill" % bed.run_id
    hon = spawn_honest(bed, b, a, "honest-B", marker, interval=0, size=65536, rtt_timeout=5,
                       reconnect_delay=0.1, seed=5)
    wait_rounds(hon, 20, 20, "before the kill")
    windows = []      # (kill, restart begins, restart done) in time.time()
    figures = []
    for victim in (a, b):
        st0 = honest_state(hon)
        t_kill = time.time()
        d[victim.name].proc.signal(signal.SIGKILL)
        assert d[victim.name].proc.wait(5) == -signal.SIGKILL
        time.sleep(0.5)
        r_dead0 = honest_state(hon)["rounds"]
        time.sleep(1.5)
        st_dead = honest_state(hon)
        assert st_dead["rounds"] == r_dead0, (
            "round trips completed while %s's daemon was dead" % victim.name)
        t_restart = time.time()
        d[victim.name] = start_up(ns_bin, bed, victim, keys.good, "up-%s-again" % victim.name)
        t_up = time.time()
        m_up = time.monotonic()
        first, _ = wait_rounds(hon, 20, 20, "after restarting %s's daemon" % victim.name)
        windows.append((t_kill, t_restart, t_up))
        figures.append("%s killed mid-transfer (after %d round trips); %d failed reconnects while "
                       "dead; first round trip %.2f s after `up` answered"
                       % (victim.name, st0["rounds"], st_dead["conn_failures"] -
                          st0["conn_failures"], first - m_up))
    hst = stop_honest(hon)
    srv.stop()
    cap.stop()
    scan, leaks = plaintext_flows(cap, [marker])
    for f in figures:
        note("4a sigkill", f)
    note("4a sigkill", "capture (whole test, kills and restarts included): %s; marker in %d "
         "flow(s)" % (scan.summary(), len(leaks)))
    assert cap.stats.get("dropped") == 0, cap.stats
    assert scan.payload_bytes(PORT) >= 20 * 65536 * 2, scan.summary()
    assert not leaks, "plaintext on the wire: %s (kill, restart, up: %s)" % (leaks, windows)
    assert hst["corrupt"] == 0, hst["events"][-10:]
    check_app_saw_only(server_records(srv), {b.ip4})


def test_peer_program_restart(ns_bin, keys, make_bed):
    """4b.  Kill the node's program (A's server) while B's program talks to
    it, start it again; then restart B's program.  Each time the
    connections come back, every echo is intact, and both daemons end with
    exactly the live connections (nothing stale)."""
    bed = make_bed(2)
    a, b = bed.nodes
    hs = ["--handshake-timeout", "3"]
    da = start_up(ns_bin, bed, a, keys.good, "up-A", extra=hs)
    db = start_up(ns_bin, bed, b, keys.good, "up-B", extra=hs)
    cap = bed.capture("peer-restart")
    srv = spawn_server(bed, a, "server-A")
    marker = "NSRES-%s-peer" % bed.run_id
    hon = spawn_honest(bed, b, a, "honest-B", marker, interval=0.005, size=4096, rtt_timeout=5,
                       reconnect_delay=0.1, seed=6)
    wait_rounds(hon, 50, 20, "at start")
    srvs = [srv]
    # (1) the server dies (SIGKILL), is down for 1.5 s, comes back
    srv.signal(signal.SIGKILL)
    srv.wait(5)
    time.sleep(1.5)
    m0 = time.monotonic()
    srv = spawn_server(bed, a, "server-A-again")
    srvs.append(srv)
    first, _ = wait_rounds(hon, 50, 20, "after the server restart")
    t_server = first - m0
    # (2) the client program is stopped (SIGTERM) and started again
    h1 = stop_honest(hon)
    hon2 = spawn_honest(bed, b, a, "honest-B-again", marker, interval=0.005, size=4096,
                        rtt_timeout=5, reconnect_delay=0.1, seed=7)
    m1 = time.monotonic()
    first, _ = wait_rounds(hon2, 50, 20, "after the client restart")
    t_client = first - m1
    # both daemons converge on the one live connection
    end = time.monotonic() + 3 + 3
    while True:
        sa, sb = da.status(), db.status()
        if len(sa["connections"]) == 1 and len(sb["connections"]) == 1:
            break
        if time.monotonic() > end:
            pytest.fail("stale connections: A %s\nB %s" % (sa["connections"], sb["connections"]),
                        pytrace=False)
        time.sleep(0.2)
    assert sa["connections"][0]["state"] == "relay" and sb["connections"][0]["state"] == "relay"
    h2 = stop_honest(hon2)
    for s in srvs:
        s.stop()
    cap.stop()
    assert h1["corrupt"] == 0 and h2["corrupt"] == 0, (h1["events"][-5:], h2["events"][-5:])
    recs = server_records(*srvs)
    check_app_saw_only(recs, {b.ip4})
    bad = [r for r in recs if r.get("kind") == "P" and r["error"] and
           not re.search(r"Reset|IncompleteRead|BrokenPipe", r["error"])]
    assert not bad, bad[:5]
    scan, leaks = plaintext_flows(cap, [marker])
    assert not leaks, "plaintext on the wire: %s" % leaks[:5]
    assert cap.stats.get("dropped") == 0, cap.stats
    note("4b peer restart", "server killed and back after 1.5 s: first echo %.2f s after its "
         "start; client restarted: first echo after %.2f s; %d + %d round trips, 0 corrupt; "
         "%d failed reconnects while the server was down" % (
             t_server, t_client, h1["rounds"], h2["rounds"], h1["conn_failures"]))


def test_link_cut_and_restore(ns_bin, keys, make_bed):
    """4c.  Two programs on B talk to A: one patient (waits 60 s for an
    echo), one impatient (gives up after 3 s and reconnects).  A's link goes
    down for 3 s, then B's for 6 s.  The patient connection must survive
    both cuts; the impatient one survives or is re-established; no echo is
    corrupted; no plaintext; the daemons end with only the live
    connections."""
    bed = make_bed(2)
    a, b = bed.nodes
    hs = ["--handshake-timeout", "4"]
    da = start_up(ns_bin, bed, a, keys.good, "up-A", extra=hs)
    db = start_up(ns_bin, bed, b, keys.good, "up-B", extra=hs)
    cap = bed.capture("link")
    srv = spawn_server(bed, a, "server-A")
    marker = "NSRES-%s-link" % bed.run_id
    patient = spawn_honest(bed, b, a, "patient", marker, interval=0.01, size=8192,
                           rtt_timeout=60, seed=8)
    impatient = spawn_honest(bed, b, a, "impatient", marker, interval=0.01, size=8192,
                             rtt_timeout=3, reconnect_delay=0.2, seed=9)
    wait_rounds(patient, 30, 20, "at start")
    wait_rounds(impatient, 30, 20, "at start")
    for node, secs in ((a, 3), (b, 6)):
        p0, i0 = honest_state(patient), honest_state(impatient)
        bed.ns_exec_check(node, ["ip", "link", "set", node.ifname, "down"])
        time.sleep(secs)
        bed.ns_exec_check(node, ["ip", "link", "set", node.ifname, "up"])
        m_up = time.monotonic()
        fp, _ = wait_rounds(patient, 20, 30, "after %s's link came back" % node.name)
        fi, _ = wait_rounds(impatient, 20, 30, "after %s's link came back" % node.name)
        p1, i1 = honest_state(patient), honest_state(impatient)
        note("4c link cut", "%s's link down %d s: patient connection %s, traffic again %.2f s "
             "after link up; impatient one: %d disconnect(s), traffic again after %.2f s"
             % (node.name, secs,
                "survived" if p1["disconnects"] == p0["disconnects"] else "BROKE",
                fp - m_up, i1["disconnects"] - i0["disconnects"], fi - m_up))
        assert p1["disconnects"] == p0["disconnects"], (
            "the patient connection broke: %s" % p1["events"][-5:])
    # converge: each daemon holds exactly the two live relayed connections
    end = time.monotonic() + 30
    while True:
        sa, sb = da.status(), db.status()
        ok = all(len(s["connections"]) == 2 and all(c["state"] == "relay"
                                                    for c in s["connections"])
                 for s in (sa, sb))
        if ok:
            break
        if time.monotonic() > end:
            pytest.fail("daemons did not converge on the 2 live connections:\nA %s\nB %s" % (
                sa["connections"], sb["connections"]), pytrace=False)
        time.sleep(0.5)
    converge = time.monotonic() - m_up
    hp, hi = stop_honest(patient), stop_honest(impatient)
    srv.stop()
    cap.stop()
    assert hp["corrupt"] == 0 and hi["corrupt"] == 0
    assert hp["disconnects"] == 0, hp["events"][-5:]
    check_app_saw_only(server_records(srv), {b.ip4})
    scan, leaks = plaintext_flows(cap, [marker])
    assert not leaks, "plaintext on the wire: %s" % leaks[:5]
    note("4c link cut", "daemons back to exactly the live connections %.1f s after the last link "
         "up; patient %d round trips, impatient %d, 0 corrupt" % (converge, hp["rounds"],
                                                                  hi["rounds"]))


STATE_CASES = [
    # (name, setup script (sh, in a private mount namespace, $D = dir), state dir, expect)
    ("under-a-file", 'echo x > "$D/file"', "file/state", r"Not a directory"),
    ("full-disk-no-key",
     'mount -t tmpfs -o size=16k tmpfs "$D/m" && dd if=/dev/zero of="$D/m/fill" bs=4k '
     '2>/dev/null; true', "m/state", r"No space left on device"),
    ("read-only", 'mount -t tmpfs -o size=16k,ro tmpfs "$D/m"', "m/state",
     r"Read-only file system"),
    ("socket-path-too-long", "true", "x" * 100, r"path too long"),
]


def test_bad_state_directory(ns_bin, keys, make_bed):
    """4d.  A state directory nodeseal cannot use: one clear error, non-zero
    exit, no rules or routes installed, no process left, no half-written key.
    Each case runs in a private mount namespace (tiny tmpfs, gone with it).
    Also: a full disk with the node key already there still runs, and a
    missing directory is created (mode 0700)."""
    bed = make_bed(1)
    node = bed.nodes[0]
    snap = bed.snapshot(node)
    base = os.path.dirname(bed.path("statecases", "x"))
    for name, setup, sub, expect in STATE_CASES:
        d = os.path.join(base, name)
        os.makedirs(os.path.join(d, "m"))
        sd = os.path.join(d, sub)
        script = ('D="$1"; shift; %s || exit 90; "$@"; rc=$?; '
                  'echo "LEFT: $(ls -A "$D/%s" 2>/dev/null | tr "\\n" " ")" >&2; exit $rc'
                  % (setup, sub))
        t0 = time.monotonic()
        r = bed.ns_exec(node, ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                               script, "sh", d, ns_bin, "up", "--network-key-file", keys.good,
                               "--state-dir", sd], timeout=CMD_TIMEOUT)
        dt = time.monotonic() - t0
        err = r.stderr.strip()
        assert r.returncode not in (0, 90), "%s: exit %d\n%s" % (name, r.returncode, err)
        errors = [l for l in err.splitlines() if "nodeseal[error]" in l]
        assert len(errors) == 1 and re.search(expect, errors[0]), (
            "%s: expected one error line matching %r:\n%s" % (name, expect, err))
        left = re.search(r"LEFT:(.*)", err).group(1).split()
        assert not [f for f in left if f.startswith(".node.key")], (
            "%s: a half-written key was left: %s" % (name, left))
        assert not netbed.netns_pids(node.ns), "%s: processes left in the namespace" % name
        diff = snapshot_diff(snap, bed.snapshot(node, prime=False))
        assert not diff, "%s: state changed:\n%s" % (name, diff)
        side = ""
        if name == "socket-path-too-long" and os.path.exists(os.path.join(sd, "node.key")):
            side = " (but it created the state dir and a node key before failing)"
        note("4d state dir", "%-21s exit %d in %.2f s, nothing installed: %s%s" % (
            name, r.returncode, dt, errors[0].split("] ", 1)[1].replace(d, "$D"), side))
    # a full disk with the key already there: runs, and leaves nothing
    d = os.path.join(base, "full-disk-with-key")
    os.makedirs(os.path.join(d, "m"))
    script = ('D="$1"; shift; mount -t tmpfs -o size=16k tmpfs "$D/m" || exit 90; '
              '"$NSBIN" pubkey --state-dir "$D/m/s" >/dev/null || exit 91; '
              'dd if=/dev/zero of="$D/m/fill" bs=4k 2>/dev/null; "$@"; rc=$?; '
              'echo "LEFT: $(ls -A "$D/m/s" | tr "\\n" " ")" >&2; exit $rc')
    r = bed.ns_exec(node, ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script,
                           "sh", d, ns_bin, "run", "--network-key-file", keys.good, "--state-dir",
                           os.path.join(d, "m", "s"), "--", ns_bin, "status", "--state-dir",
                           os.path.join(d, "m", "s")], timeout=CMD_TIMEOUT,
                    env={"NSBIN": ns_bin})
    assert r.returncode == 0, "full disk with a key: exit %d\n%s%s" % (r.returncode, r.stdout,
                                                                      r.stderr)
    left = re.search(r"LEFT:(.*)", r.stderr).group(1).split()
    assert left == ["node.key"], left
    assert not snapshot_diff(snap, bed.snapshot(node, prime=False))
    note("4d state dir", "full disk, node key present: runs (status answered), leaves only "
         "node.key, nothing installed after")
    # a missing directory is created
    sd = os.path.join(base, "missing", "deeper", "state")
    r = bed.ns_exec(node, [ns_bin, "run", "--network-key-file", keys.good, "--state-dir", sd,
                           "--", "true"], timeout=CMD_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert os.stat(sd).st_mode & 0o777 == 0o700
    assert not snapshot_diff(snap, bed.snapshot(node, prime=False))
    note("4d state dir", "missing state dir: created with mode 0700, runs")


def test_on_off_cycles(ns_bin, keys, make_bed):
    """4e.  100 cycles, alternating `nodeseal run -- true` and `up` + `down`:
    after every cycle no process in the namespace and no control socket;
    the firewall/routing snapshot is compared every 5 cycles and at the
    end; every `up` daemon holds the same number of fds."""
    bed = make_bed(1)
    node = bed.nodes[0]
    snap = bed.snapshot(node)
    sd = bed.node_dir(node)
    opts = ["--network-key-file", keys.good, "--state-dir", sd]
    fds = []
    t0 = time.monotonic()
    compared = 0
    for i in range(100):
        if i % 2 == 0:
            r = bed.ns_exec(node, [ns_bin, "run"] + opts + ["--", "true"], timeout=CMD_TIMEOUT)
            assert r.returncode == 0, "cycle %d: run -- true exit %d\n%s" % (i, r.returncode,
                                                                             r.stderr)
        else:
            d = start_up(ns_bin, bed, node, keys.good, "up-%d" % i)
            fds.append(d.fds())
            down(ns_bin, bed, node, keys.good)
            rc = d.proc.wait(CMD_TIMEOUT)
            assert rc == 0, "cycle %d: nodeseal up exited %s\n%s" % (i, rc, d.proc.describe())
        pids = netbed.netns_pids(node.ns)
        assert not pids, "cycle %d: processes left in the namespace: %s" % (i, [
            open("/proc/%d/cmdline" % p).read().replace("\0", " ") for p in pids
            if os.path.exists("/proc/%d" % p)])
        files = sorted(os.listdir(sd))
        assert files == ["node.key"], "cycle %d: state dir holds %s" % (i, files)
        if i % 5 == 4 or i == 99:
            diff = snapshot_diff(snap, bed.snapshot(node, prime=False))
            assert not diff, "after cycle %d:\n%s" % (i + 1, diff)
            compared += 1
    dt = time.monotonic() - t0
    assert len(set(fds)) == 1, "fds of the `up` daemons differ: %s" % fds
    note("4e on/off", "100 cycles (50 run -- true, 50 up/down) in %.1f s; state identical at %d "
         "comparisons; 0 processes and no control socket after each; every daemon held %d fds"
         % (dt, compared, fds[0]))


# ================================================================= part 5: load

LOAD_CONNS = 1000
LOAD_SIZE = 128 << 10


def test_load_1000_connections(ns_bin, keys, make_bed):
    """1000 concurrent connections through one daemon pair, each moving its
    own 128 KiB stream each way, every byte checked at both ends.  Three
    rounds through the same daemons: later rounds must not leave more fds,
    connections or (beyond allocator jitter) memory behind than the first."""
    bed = make_bed(2)
    a, b = bed.nodes
    need = 2 * LOAD_CONNS + 64
    soft = None
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError):
        pass
    # nodeseal does not raise its own limit (see test_fd_exhaustion_...):
    # give it what 1000 connections need if the test's own is too small
    nofile = (need, None) if soft is not None and soft < need else None
    d = {a.name: start_up(ns_bin, bed, a, keys.good, "up-A", nofile=nofile),
         b.name: start_up(ns_bin, bed, b, keys.good, "up-B", nofile=nofile)}
    srv = spawn_server(bed, a, "server-A", extra=["--load-size", LOAD_SIZE, "--seed", 11])
    time.sleep(0.5)
    sec = "5 load"
    if nofile:
        note(sec, "the test's RLIMIT_NOFILE soft limit is %d: the daemons were started with %d"
             % (soft, need))

    def snap():
        return {n: (x.mem()["VmRSS"], x.fds()) for n, x in d.items()}

    def one_round(rnd):
        ctl = os.path.dirname(bed.path("loadctl%d" % rnd, "x"))
        idle = snap()
        t0 = time.monotonic()
        ld = bed.spawn(b, [PYTHON, APP, "load", "--connect", a.addr(), "--conns", LOAD_CONNS,
                           "--size", LOAD_SIZE, "--seed", 11, "--ctl", ctl,
                           "--open-concurrency", 64], "load%d" % rnd)

        def state(phase, timeout):
            end = time.monotonic() + timeout
            while True:
                try:
                    with open(os.path.join(ctl, "state.json")) as f:
                        s = json.load(f)
                    if s["phase"] == phase:
                        return s
                except (OSError, ValueError):
                    pass
                if ld.poll() is not None or time.monotonic() > end:
                    pytest.fail("load tool never reached %s:\n%s" % (phase, ld.describe()),
                                pytrace=False)
                time.sleep(0.02)

        s_open = state("open", 90)
        t_open = time.monotonic() - t0
        assert s_open["opened"] == LOAD_CONNS, "opened %d of %d: %s" % (
            s_open["opened"], LOAD_CONNS, s_open["open_failures"][:10])
        time.sleep(0.5)
        opened = snap()
        for n, x in d.items():
            st = x.status(timeout=10)
            relay = [c for c in st["connections"] if c["state"] == "relay"]
            assert len(relay) == LOAD_CONNS, "%s's daemon shows %d relayed connections" % (
                n, len(relay))
        peak = {n: 0 for n in d}
        open(os.path.join(ctl, "go"), "w").close()
        t1 = time.monotonic()
        end = t1 + 120
        while True:
            for n, x in d.items():
                peak[n] = max(peak[n], x.mem()["VmRSS"])
            try:
                with open(os.path.join(ctl, "state.json")) as f:
                    if json.load(f)["phase"] == "done":
                        break
            except (OSError, ValueError):
                pass
            assert ld.poll() is None and time.monotonic() < end, ld.describe()
            time.sleep(0.02)
        s_done = state("done", 5)
        t_move = time.monotonic() - t1
        after = snap()
        open(os.path.join(ctl, "close"), "w").close()
        state("closed", 30)
        assert ld.wait(10) == 0, ld.describe()
        end = time.monotonic() + 10
        while any(len(x.status()["connections"]) for x in d.values()):
            assert time.monotonic() < end, "connections left after the close"
            time.sleep(0.2)
        time.sleep(1.5)  # the daemon gives idle memory back on its 1 s tick
        closed = snap()
        assert s_done["ok"] == LOAD_CONNS and s_done["corrupt"] == 0 and s_done["short"] == 0, (
            "round %d, client side: %d ok, %d corrupt, %d short: %s" % (
                rnd, s_done["ok"], s_done["corrupt"], s_done["short"], s_done["errors"][:10]))
        mb = 2 * LOAD_CONNS * LOAD_SIZE / 1e6
        note(sec, "round %d: %d connections x %d KiB each way: all opened in %.2f s (64 at a "
             "time), data moved in %.2f s (%.0f MB, %.0f MB/s through the pair); 0 lost, 0 "
             "corrupt" % (rnd, LOAD_CONNS, LOAD_SIZE >> 10, t_open, t_move, mb, mb / t_move))
        for n in d:
            per = (opened[n][0] - idle[n][0]) * 1024.0 / LOAD_CONNS
            note(sec, "round %d, %s daemon: RSS before %d KiB, with %d open %d KiB%s; peak while "
                 "moving %d KiB, after %d KiB, 1.5 s after close %d KiB; fds %d before, %d open, "
                 "%d after close" % (
                     rnd, n, idle[n][0], LOAD_CONNS, opened[n][0],
                     " -> %.0f bytes per connection" % per, peak[n], after[n][0], closed[n][0],
                     idle[n][1], opened[n][1], closed[n][1]))
            if not sanitized():
                assert per < 16 * 1024, "%s: %.0f bytes RSS per connection" % (n, per)
            assert opened[n][1] <= idle[n][1] + 2 * LOAD_CONNS + 8
            assert closed[n][1] == idle[n][1], "%s: %d fds after the close, %d before" % (
                n, closed[n][1], idle[n][1])
        return closed

    idle0 = snap()
    rounds = [one_round(r) for r in (1, 2, 3)]
    time.sleep(1.5)  # the server logs each connection as it ends
    srv.stop()
    recs = server_records(srv)
    load = [r for r in recs if r["kind"] == "L"]
    assert len(load) == 3 * LOAD_CONNS and all(r["ok"] and r["c2s_ok"] for r in load), (
        "server side: %d load connections, bad: %s" % (len(load), [r for r in load
                                                                   if not r["ok"]][:5]))
    check_app_saw_only(recs, {b.ip4})
    for n in d:
        rss = [r[n][0] for r in rounds]
        note(sec, "%s daemon RSS 1.5 s after each round's close: %s KiB (idle before the first: "
             "%d KiB)" % (n, rss, idle0[n][0]))
        if not sanitized():
            # the burst's buffers are given back once idle (a few stay pooled);
            # a leak of 8 KiB per connection would show as 8 MB per round
            assert max(rss) < idle0[n][0] + 8 * 1024, (
                "%s: %d KiB resident after the load (idle %d KiB)" % (n, max(rss), idle0[n][0]))


# ================================================================= part 6: valgrind

def test_valgrind_memcheck_short_scenario(ns_bin, keys, make_bed):
    """6.  A's daemon runs under valgrind memcheck (full leak check) through
    a short scenario that takes every path once: honest connections in and
    out with ping-pong traffic, strangers (random bytes, a first message,
    slowloris cut by the handshake timeout), a wrong-key node, `status
    --json`, then `down`.  Valgrind must report no error and no definite or
    indirect leak, and the daemon must exit 0."""
    if sanitized(ns_bin):
        pytest.skip("valgrind does not run ASan builds")
    bed = make_bed(4)
    a, b, s, w = bed.nodes
    vlog = bed.path("valgrind", "memcheck.log")
    wrapper = ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
               "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
               "--log-file=" + vlog]
    da = start_up(ns_bin, bed, a, keys.good, "up-A-valgrind", wrapper=wrapper,
                  extra=["--handshake-timeout", 2], ready=60)
    start_up(ns_bin, bed, b, keys.good, "up-B")
    start_up(ns_bin, bed, w, keys.bad, "up-W")
    srv_a, srv_b = spawn_server(bed, a, "server-A"), spawn_server(bed, b, "server-B")
    marker = "NSRES-%s-valgrind" % bed.run_id
    hb = spawn_honest(bed, b, a, "honest-B", marker, interval=0.05, probe_interval=0.3,
                      probe_deadline=10, seed=5)
    ha = spawn_honest(bed, a, b, "honest-A", marker, interval=0.05, probe_interval=0.3,
                      probe_deadline=10, seed=6)
    wait_rounds(hb, 10, 60, "B -> A under valgrind")
    wait_rounds(ha, 10, 60, "A -> B under valgrind")
    floods = []
    for mode, extra in (("random", {"count": 30}), ("msg1", {"count": 30}),
                        ("slowloris", {"count": 5, "hold": 5})):
        out = bed.path("app", "vg-flood-%s.json" % mode)
        argv = [PYTHON, APP, "flood", "--target", a.addr(), "--mode", mode, "--out", out,
                "--concurrency", 5, "--seed", 8]
        for k, v in extra.items():
            argv += ["--" + k, v]
        floods.append(bed.spawn(s, [str(x) for x in argv], "vg-flood-" + mode))
    wk = spawn_honest(bed, w, a, "wrongkey-W", marker, no_persistent=True, probe_interval=0.2,
                      probe_deadline=0, seed=7)
    for p in floods:
        assert p.wait(120) == 0, p.describe()
    time.sleep(1.0)
    stop_honest(wk)
    st = da.status(timeout=30)
    assert st is not None and st["refused"] >= 60, st
    wait_rounds(hb, 5, 60, "B -> A after the strangers")
    rb, ra = stop_honest(hb), stop_honest(ha)
    srv_a.stop()
    srv_b.stop()
    down(ns_bin, bed, a, keys.good)
    rc = da.proc.wait(120)
    with open(vlog) as f:
        report = f.read()
    summary = re.findall(r"ERROR SUMMARY: (\d+) errors", report)
    leaks = re.findall(r"(definitely|indirectly) lost: ([\d,]+) bytes", report)
    note("6 valgrind", "memcheck of A's daemon: %d+%d honest round trips, %d strangers refused; "
         "exit %s; %s; %s" % (rb["rounds"], ra["rounds"], st["refused"], rc,
                               summary and "ERROR SUMMARY: %s errors" % summary[-1],
                               ", ".join("%s lost %s bytes" % x for x in leaks) or
                               "no leak summary (all freed)"))
    assert rb["corrupt"] == 0 and ra["corrupt"] == 0
    assert summary, "no valgrind summary:\n" + report[-3000:]
    assert summary[-1] == "0" and rc == 0, "valgrind (exit %s):\n%s" % (rc, report[-6000:])
