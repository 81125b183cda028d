"""Loopback tests for the P2P test peer tests/peer/mcpeer.py and the
bit-flipping relay tests/peer/tamper_relay.py.

Run with:  pytest-3 -q tests/integration/test_peer.py

Only 127.0.0.1 and ::1 are used.  Listening sockets are bound to port 0 by the
test itself and handed to the children (--listen-fd), so there is no port race.
Every child is started with its own --timeout and is terminated/killed by PID
at teardown.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

import livemesh
from netbed import MCPEER, PYTHON, fmt_hostport as fmt_addr

RELAY = os.path.join(os.path.dirname(MCPEER), "tamper_relay.py")

PROC_TIMEOUT = 15      # --timeout given to every child
WAIT_TIMEOUT = 20      # how long the test waits for a child to exit


def listening_socket(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(64)
    s.set_inheritable(True)
    return s


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


class Procs:
    """Starts children, remembers them, and terminates them by PID."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs = []

    def start(self, name, script, argv, listener=None):
        out = open(self.tmp / ("%s.stdout" % name), "w")
        err = open(self.tmp / ("%s.stderr" % name), "w")
        fds = ()
        if listener is not None:
            fds = (listener.fileno(),)
            argv = ["--listen-fd", str(listener.fileno())] + list(argv)
        p = subprocess.Popen([PYTHON, script] + list(argv), stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, pass_fds=fds, close_fds=True)
        out.close()
        err.close()
        if listener is not None:
            listener.close()  # the child holds its own copy
        p.test_name = name
        self.procs.append(p)
        return p

    def peer(self, name, argv, listener=None):
        report = self.tmp / ("%s.json" % name)
        argv = ["--name", name, "--report", str(report), "--timeout", str(PROC_TIMEOUT)] + list(argv)
        p = self.start(name, MCPEER, argv, listener)
        p.report_path = report
        return p

    def relay(self, name, argv, listener):
        report = self.tmp / ("%s.json" % name)
        argv = ["--report", str(report), "--timeout", str(PROC_TIMEOUT)] + list(argv)
        p = self.start(name, RELAY, argv, listener)
        p.report_path = report
        return p

    def wait(self, p, timeout=WAIT_TIMEOUT):
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("%s (pid %d) did not exit within %ss; stderr:\n%s"
                        % (p.test_name, p.pid, timeout, self.stderr(p)))

    def stop(self, p):
        """SIGTERM (then SIGKILL) one child, by its PID."""
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(3)

    def stderr(self, p):
        try:
            return (self.tmp / ("%s.stderr" % p.test_name)).read_text()[-4000:]
        except OSError:
            return ""

    def stdout(self, p):
        return (self.tmp / ("%s.stdout" % p.test_name)).read_text()

    def report(self, p):
        with open(p.report_path) as f:
            return json.load(f)

    def cleanup(self):
        for p in self.procs:
            self.stop(p)


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    try:
        yield ps
    finally:
        ps.cleanup()


def conns(rep, direction):
    return [c for c in rep["connections"] if c["direction"] == direction]


def find_inbound(rep, peer_port):
    for c in conns(rep, "in"):
        if c["peer_port"] == peer_port:
            return c
    return None


# --------------------------------------------------------------------------
# (1) full mesh of three peers, (3) inbound peer addresses


def test_three_peer_full_mesh(procs):
    names = ["A", "B", "C"]
    block_size = 3 * 1024 * 1024
    blocks = 2
    listeners = {n: listening_socket("127.0.0.1") for n in names}
    addrs = {n: fmt_addr(*listeners[n].getsockname()[:2]) for n in names}
    ps = {}
    for i, n in enumerate(names):
        argv = ["--expect-inbound", "2", "--blocks", str(blocks), "--block-size", str(block_size),
                "--pings", "5", "--invs", "5", "--seed", str(100 + i)]
        for m in names:
            if m != n:
                argv += ["--connect", addrs[m]]
        ps[n] = procs.peer(n, argv, listener=listeners[n])
    for n in names:
        rc = procs.wait(ps[n])
        assert rc == 0, "%s exited %d:\n%s" % (n, rc, procs.stderr(ps[n]))

    reps = {n: procs.report(ps[n]) for n in names}
    for n, rep in reps.items():
        line = procs.stdout(ps[n]).strip()
        assert line.startswith("mcpeer %s: OK" % n) and "\n" not in line, line
        assert rep["ok"] is True, rep
        assert rep["name"] == n
        assert rep["outbound_ok"] == 2 and rep["outbound_expected"] == 2
        assert rep["inbound_ok"] == 2 and rep["inbound_total"] == 2
        assert len(rep["connections"]) == 4
        for c in rep["connections"]:
            assert c["ok"] is True, c
            assert c["errors"] == []
            assert c["checksum_failures"] == 0 and c["bad_magic"] == 0
            assert c["unexpected_eof"] == 0 and c["protocol_errors"] == 0
            assert c["done_sent"] and c["done_received"] and c["done_match"]
            assert c["pings_sent"] == 5 and c["pongs_received"] == 5
            assert c["blocks_sent"] == blocks and c["blocks_received"] == blocks
            assert c["block_bytes_sent"] == blocks * block_size
            assert c["block_bytes_received"] == blocks * block_size
            assert c["sent_by_command"]["inv"] == 5
            assert c["received_by_command"]["inv"] == 5
            assert c["peer_marker"] == "NODESEAL-MARKER-%s" % c["peer_name"]

    # every outbound connection X->Y must match exactly one inbound connection
    # on Y, identified by the address Y saw with getpeername()
    for x in names:
        outs = conns(reps[x], "out")
        assert sorted(c["peer_name"] for c in outs) == sorted(m for m in names if m != x)
        for out in outs:
            y = out["peer_name"]
            assert out["target"] == addrs[y]
            assert out["peer"] == addrs[y]
            inc = find_inbound(reps[y], out["local_port"])
            assert inc is not None, "no inbound conn on %s from %s (%s)" % (y, x, out["local"])
            # (3) inbound peer address = the real source address of the connector
            assert inc["peer"] == out["local"]
            assert inc["peer_host"] == "127.0.0.1"
            assert inc["local"] == addrs[y]
            assert inc["peer_name"] == x
            # counts equal in both directions
            assert out["messages_sent"] == inc["messages_received"]
            assert out["bytes_sent"] == inc["bytes_received"]
            assert inc["messages_sent"] == out["messages_received"]
            assert inc["bytes_sent"] == out["bytes_received"]
            # block bytes intact: digest of everything before `done` matches
            assert out["sent_before_done"]["sha256"] == inc["received_before_done"]["sha256"]
            assert inc["sent_before_done"]["sha256"] == out["received_before_done"]["sha256"]
            assert inc["peer_done"]["sha256"] == out["sent_before_done"]["sha256"]


# --------------------------------------------------------------------------
# (2) bit flips through the relay must be detected


def start_relayed_pair(procs, relay_args, a_args=(), b_args=()):
    lb = listening_socket("127.0.0.1")
    lr = listening_socket("127.0.0.1")
    b_addr = fmt_addr(*lb.getsockname()[:2])
    r_addr = fmt_addr(*lr.getsockname()[:2])
    b = procs.peer("B", ["--expect-inbound", "1", "--seed", "2"] + list(b_args), listener=lb)
    r = procs.relay("relay", ["--connect", b_addr, "--connect-retry", "1"] + list(relay_args), listener=lr)
    a = procs.peer("A", ["--connect", r_addr, "--seed", "1"] + list(a_args))
    return a, b, r, b_addr, r_addr


def test_relay_bit_flip_in_block_is_detected(procs):
    # A's first block starts after version/verack and a few small messages
    # (< 10 kB), so byte 1,000,000 lies inside the first 2 MiB block payload.
    a, b, r, _, _ = start_relayed_pair(
        procs, ["--corrupt-after", "1000000", "--direction", "up"],
        a_args=["--block-size", str(2 * 1024 * 1024)])
    rc_b = procs.wait(b)
    procs.wait(a)
    procs.stop(r)
    assert rc_b == 1, procs.stderr(b)
    assert "FAIL" in procs.stdout(b)
    rep_b = procs.report(b)
    assert rep_b["ok"] is False
    (inc,) = conns(rep_b, "in")
    assert inc["ok"] is False
    assert inc["checksum_failures"] == 1
    assert inc["bad_magic"] == 0
    assert any("checksum mismatch on 'block'" in e for e in inc["errors"]), inc["errors"]
    # the dropped block also shows up in the done comparison
    assert inc["done_received"] and inc["done_match"] is False
    assert inc["blocks_received"] == 1
    rep_r = procs.report(r)
    assert rep_r["corruptions"] == 1
    assert rep_r["connections"][0]["corrupted"][0]["offset"] == 1000000


def test_relay_bit_flip_in_magic_is_detected(procs):
    a, b, r, _, _ = start_relayed_pair(
        procs, ["--corrupt-after", "0", "--direction", "up"],
        a_args=["--connect-retry", "1"])
    rc_b = procs.wait(b)
    rc_a = procs.wait(a)
    procs.stop(r)
    assert rc_b == 1 and rc_a == 1
    rep_b = procs.report(b)
    assert rep_b["ok"] is False
    inc = conns(rep_b, "in")[0]
    assert inc["bad_magic"] == 1 and inc["ok"] is False
    rep_a = procs.report(a)
    assert rep_a["ok"] is False
    assert conns(rep_a, "out")[0]["ok"] is False


def test_relay_bit_flip_downstream_is_detected_by_connector(procs):
    # corrupt B -> A instead; now the connecting side must notice
    a, b, r, _, _ = start_relayed_pair(
        procs, ["--corrupt-after", "1500000", "--direction", "down"],
        b_args=["--block-size", str(2 * 1024 * 1024)])
    rc_a = procs.wait(a)
    procs.wait(b)
    procs.stop(r)
    assert rc_a == 1
    (out,) = conns(procs.report(a), "out")
    assert out["checksum_failures"] == 1 and out["ok"] is False


# --------------------------------------------------------------------------
# (3) inbound peer addresses: a relay hides the real source, IPv6 works


def test_clean_relay_hides_source_address(procs):
    a, b, r, b_addr, r_addr = start_relayed_pair(procs, ["--corrupt-after", "-1"],
                                                 a_args=["--blocks", "1"], b_args=["--blocks", "1"])
    assert procs.wait(a) == 0, procs.stderr(a)
    assert procs.wait(b) == 0, procs.stderr(b)
    procs.stop(r)
    rep_a, rep_b, rep_r = procs.report(a), procs.report(b), procs.report(r)
    assert rep_a["ok"] and rep_b["ok"]
    assert rep_r["corruptions"] == 0
    (out,) = conns(rep_a, "out")
    (inc,) = conns(rep_b, "in")
    (rc,) = rep_r["connections"]
    assert out["peer"] == r_addr            # A talked to the relay
    assert rc["client"] == out["local"]     # the relay saw A's real source
    assert inc["peer"] == rc["upstream_local"]   # B only sees the relay's socket
    assert inc["peer"] != out["local"]
    assert inc["local"] == b_addr
    assert inc["peer_name"] == "A" and out["peer_name"] == "B"
    assert out["bytes_sent"] == inc["bytes_received"] == rc["bytes_up"]
    assert inc["bytes_sent"] == out["bytes_received"] == rc["bytes_down"]


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
def test_ipv6_loopback_pair_reports_addresses(procs):
    lb = listening_socket("::1")
    b_addr = fmt_addr(*lb.getsockname()[:2])
    b = procs.peer("B", ["--expect-inbound", "1", "--blocks", "1", "--block-size", "1048576"], listener=lb)
    a = procs.peer("A", ["--connect", b_addr, "--blocks", "1", "--block-size", "1048576"])
    assert procs.wait(a) == 0, procs.stderr(a)
    assert procs.wait(b) == 0, procs.stderr(b)
    (out,) = conns(procs.report(a), "out")
    (inc,) = conns(procs.report(b), "in")
    assert b_addr.startswith("[::1]:")
    assert out["peer"] == b_addr
    assert inc["peer_host"] == "::1"
    assert inc["peer"] == out["local"] == "[::1]:%d" % out["local_port"]
    assert inc["ok"] and out["ok"]


def test_connect_retries_until_listener_appears(procs, tmp_path):
    # reserve a port, release it, start the connector first, then the listener
    tmp = listening_socket("127.0.0.1")
    port = tmp.getsockname()[1]
    tmp.close()
    a = procs.peer("A", ["--connect", "127.0.0.1:%d" % port, "--blocks", "1", "--block-size", "65536"])
    time.sleep(0.8)
    b = procs.peer("B", ["--listen", "127.0.0.1:%d" % port, "--expect-inbound", "1",
                         "--blocks", "1", "--block-size", "65536"])
    assert procs.wait(a) == 0, procs.stderr(a)
    assert procs.wait(b) == 0, procs.stderr(b)
    (out,) = conns(procs.report(a), "out")
    assert out["connect_attempts"] > 1 and out["ok"]


# ----------------------------------------------------------------- the live peer (mclive.py)

LIVE_TIMEOUT = 60      # --timeout of the live peers: a leaked one ends by itself


def start_live(procs, name, listener, targets, tmp_path, extra=(), peer_name=None):
    """A live peer named peer_name (default name); name: its files."""
    status = tmp_path / ("%s.status.json" % name)
    argv = livemesh.live_argv(peer_name or name, connect=targets, status=status, timeout=LIVE_TIMEOUT,
                              stop_file=tmp_path / ("%s.stop" % name), extra=extra)[2:]
    p = procs.start(name, livemesh.LIVE, argv, listener)
    p.status_path = status
    return p


def live_statuses(ps):
    return {n: livemesh.read_status(p.status_path) for n, p in ps.items()}


def test_live_peers_mesh_reconnect_and_status(procs, tmp_path):
    """Four live peers on loopback, every one connected to every other: all
    24 links carry pings both ways; a peer killed with SIGKILL and started
    again is reconnected by the others, while the links among the others
    stay the same connections; a stop file and SIGTERM end the peers with
    every connection recorded as closed."""
    names = ["n0", "n1", "n2", "n3"]
    socks = {n: listening_socket("127.0.0.1") for n in names}
    port = {n: socks[n].getsockname()[1] for n in names}
    ps = {}
    for n in names:
        ps[n] = start_live(procs, n, socks[n], ["127.0.0.1:%d" % port[m] for m in names if m != n],
                           tmp_path)
    took = livemesh.wait_live(lambda: live_statuses(ps), names, 10, "four live peers")
    print("all 24 links live after %.2fs" % took)
    st = live_statuses(ps)
    for n in names:
        assert st[n]["name"] == n and st[n]["marker"] == "NODESEAL-MARKER-%s" % n, st[n]
        conns = st[n]["connections"]
        assert len(conns) == 6 and all(livemesh.is_open(c) for c in conns), (
            "%s: expected 6 open connections, saw %s" % (n, [livemesh.brief(c) for c in conns]))
        for c in conns:
            assert c["peer_host"] == "127.0.0.1" and c["errors"] == [] and c["marker_missing"] == 0, c
            assert c["peer_marker"] == "NODESEAL-MARKER-%s" % c["peer_name"], c
            if c["direction"] == "out":
                assert c["peer_port"] == port[c["peer_name"]], c

    before = {n: livemesh.open_ids(st[n]) for n in names}
    ps["n3"].kill()
    ps["n3"].wait(5)
    t_kill = time.monotonic()
    again = listening_socket_on("127.0.0.1", port["n3"])
    ps["n3"] = start_live(procs, "n3.again", again,
                          ["127.0.0.1:%d" % port[m] for m in names if m != "n3"], tmp_path,
                          peer_name="n3")
    took = livemesh.wait_live(lambda: live_statuses(ps), names, 10, "after n3 was killed")
    print("reconnected %.2fs after the SIGKILL" % (time.monotonic() - t_kill))
    st = live_statuses(ps)
    for n in ("n0", "n1", "n2"):
        closed = livemesh.closed_between(st[n], t_kill - 1, time.monotonic())
        assert sorted(c["peer_name"] for c in closed) == ["n3", "n3"], (
            "%s: expected its two connections with n3 to close, closed: %s"
            % (n, [livemesh.brief(c) for c in closed]))
        assert all(c["close_reason"] for c in closed), closed
        kept = {i: v for i, v in before[n].items() if v[1] != "n3"}
        now_open = livemesh.open_ids(st[n])
        assert all(now_open.get(i) == v for i, v in kept.items()), (
            "%s: links with n0..n2 changed: before %s, now %s" % (n, kept, now_open))
        fresh = [c for c in st[n]["connections"] if c["peer_name"] == "n3" and livemesh.is_open(c)]
        assert len(fresh) == 2 and all(c["opened"] > t_kill for c in fresh), fresh

    (tmp_path / "n0.stop").touch()
    assert procs.wait(ps["n0"], 10) == 0, procs.stderr(ps["n0"])
    for n in ("n1", "n2", "n3"):
        ps[n].send_signal(signal.SIGTERM)
        assert procs.wait(ps[n], 10) == 0, procs.stderr(ps[n])
    for n, s in live_statuses(ps).items():
        assert s["stopping"] and s["stop_reason"], s
        still = [livemesh.brief(c) for c in s["connections"] if livemesh.is_open(c)]
        assert not still, "%s exited with connections recorded open: %s" % (n, still)
    assert "stop file" in live_statuses(ps)["n0"]["stop_reason"]


def listening_socket_on(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    s.set_inheritable(True)
    return s


def closes_within(port, data, limit):
    """Connect, send data, return (seconds until the peer closed or reset,
    what it sent back)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit + 2)
    t0 = time.monotonic()
    s.sendall(data)
    got = b""
    try:
        while True:
            r = s.recv(4096)
            if not r:
                break
            got += r
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail("the live peer kept a connection open %.1fs after %r" % (limit + 2, data[:24]))
    finally:
        s.close()
    return time.monotonic() - t0, got


def test_live_peer_closes_non_protocol_connections_at_once(procs, tmp_path):
    """As MultiChain: a first message with a bad magic (a Noise handshake
    message, say), or a first message that is not version, closes the
    connection at once; a proper peer then still gets a live link."""
    sa, sb = listening_socket("127.0.0.1"), listening_socket("127.0.0.1")
    pa = sa.getsockname()[1]
    a = start_live(procs, "A", sa, [], tmp_path)
    livemesh.read_status(a.status_path)
    mcpeer_ping = bytes.fromhex("fbb4c7de") + b"ping".ljust(12, b"\0") + b"\0" * 8
    cases = [("noise-like", os.urandom(60), "bad magic"),
             ("wrong magic", bytes.fromhex("f9beb4d9") + b"version".ljust(12, b"\0") + b"\0" * 8,
              "bad magic f9beb4d9"),
             ("ping first", mcpeer_ping, "first message is not version")]
    for what, data, reason in cases:
        took, got = closes_within(pa, data, 1.0)
        assert took < 1.0 and got == b"", "%s: closed after %.2fs, sent back %r" % (what, took, got)
        print("%s: closed after %.3fs" % (what, took))
    time.sleep(0.3)
    st = livemesh.read_status(a.status_path)
    seen = [(c["close_reason"] or "") for c in st["connections"]]
    for (what, _, reason), got in zip(cases, seen):
        assert reason in got, "%s: close reason %r, expected %r (all: %s)" % (what, got, reason, seen)
    assert [c["bad_magic"] for c in st["connections"]] == [1, 1, 0], st["connections"]
    start_live(procs, "B", sb, ["127.0.0.1:%d" % pa], tmp_path)
    end = time.monotonic() + 5
    while True:
        st = livemesh.read_status(a.status_path)
        ok, what = livemesh.link_state(st, "B", "in")
        if ok:
            break
        assert time.monotonic() < end, "B never got a live link to A: " + what
        time.sleep(0.1)
