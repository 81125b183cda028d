"""Proxy-mode integration tests: nodeseal between MultiChain-style peers in
network namespaces, checked on the wire.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v tests/integration/test_proxy.py

The daemon is $NS_BUILD/nodeseal (NS_BUILD defaults to "build"; a relative
NS_BUILD is taken relative to the repository root).  Tests that need it fail
(never skip) with a clear message when it is missing or lacks a subcommand.
The baseline tests (nodeseal off) need no binary.

Every node is a namespace of a fresh bed (tests/integration/netbed.py): a
switch namespace with bridge br0, node i at 10.77.0.(i+1)/24 and
fd77::(i+1)/64.  Peers are tests/peer/mcpeer.py on port 7447.  Each check of
"nothing readable on the wire" searches the reassembled TCP payload of a
tcpdump capture of br0 for the peers' markers and for the 12-byte P2P command
fields; each such check also asserts the capture dropped nothing and saw at
least as many payload bytes as the peers moved, so it cannot pass vacuously.

Nothing is done in the namespace pytest runs in: every nodeseal run/up/down/
status runs inside a bed namespace.  Set NSBED_KEEP=1 to keep the work dirs
(pcaps, state dirs) for a look afterwards.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import types

import pytest

import netbed
from mesh import (COMMANDS, MESH_TIMEOUT, PROC_SLACK, VERSION_CMD, assert_capture_clean,
                  assert_mesh_reports, assert_same_state, ip_of, load_report, marker_for,
                  spawn_peer, start_mesh, wait_all)
from netbed import PORT, PYTHON, NetBed, snapshot_diff
from sealcmd import CMD_TIMEOUT, READY_TIMEOUT

REPO = netbed.REPO
pytestmark = pytest.mark.usefixtures("host_untouched")


# ----------------------------------------------------------------- checks of the state


def backend_keys(backend):
    return ("iptables-%s-save" % backend, "ip6tables-%s-save" % backend)


def assert_on_state(before, on, backend=None):
    """While nodeseal is on: rules and policy rules are installed (per the
    contract both families change); the other backend is untouched."""
    changed = [k for k in before if before[k] != on.get(k)]
    need = ["ip rule", "ip -6 rule"]
    if backend:
        need += list(backend_keys(backend))
        other = "nft" if backend == "legacy" else "legacy"
        touched = [k for k in backend_keys(other) if k in changed]
        assert not touched, "--iptables %s also changed %s:\n%s" % (
            backend, touched, snapshot_diff(before, on))
    else:
        if not any(k in changed for k in backend_keys("legacy") + backend_keys("nft")):
            need.append("iptables-*-save")
    missing = [k for k in need if k not in changed]
    assert not missing, "nodeseal on, but no change in %s; diff:\n%s" % (
        missing, snapshot_diff(before, on) or "(none)")


# ----------------------------------------------------------------- (a) baseline

def test_baseline_off_mesh_is_plaintext(make_bed):
    """nodeseal off: the capture shows markers and P2P commands (proves the
    capture check can see plaintext)."""
    bed = make_bed(3)
    blocks, bsize = 3, 1 << 20
    cap = bed.capture("baseline")
    procs = start_mesh(bed, bed.nodes, blocks=blocks, block_size=bsize)
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, rcs
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize)
    scan = cap.scan()  # (drops do not matter here: this proves presence)
    markers = [p.marker for p in procs.values()]
    hits = scan.find([m.encode() for m in markers] + [VERSION_CMD, COMMANDS[1]])
    missing = [n for n in [m.encode() for m in markers] + [VERSION_CMD, COMMANDS[1]]
               if n not in hits]
    assert not missing, "capture check blind: %r not found (%s)" % (missing, scan.summary())
    # every connection's version went over the bridge in the clear, both ways
    assert len(hits[VERSION_CMD]) >= 12, hits[VERSION_CMD]
    assert scan.payload_bytes(PORT) >= 6 * blocks * bsize


# ----------------------------------------------------------------- NODESEAL=off

def test_off_switch_runs_command_unchanged(seal, keys, make_bed):
    """NODESEAL=off nodeseal run -- mcpeer: plain mesh, no state change."""
    bed = make_bed(2)
    snap = bed.snapshot(bed.nodes[0])
    blocks, bsize = 2, 256 << 10
    cap = bed.capture("offswitch")
    procs = {}
    for n in bed.nodes:
        other = bed.nodes[1 - n.index]
        report = bed.path("reports", n.name + ".json")
        argv = bed.mcpeer_argv(n, n.name, listen="0.0.0.0:%d" % PORT, connect=[other.addr()],
                               expect_inbound=1, blocks=blocks, block_size=bsize,
                               marker=marker_for(bed, n.name), report=report, timeout=MESH_TIMEOUT)
        argv = seal.run_argv(seal.opts(bed, n, keys.good), argv)
        p = bed.spawn(n, argv, n.name, env={"NODESEAL": "off"})
        p.report_path = report
        procs[n.name] = p
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK, seal)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, rcs
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize)
    assert VERSION_CMD in cap.scan().find([VERSION_CMD])
    assert_same_state(snap, bed.snapshot(bed.nodes[0]), "after NODESEAL=off run")


# ----------------------------------------------------------------- (b) IPv4 mesh, on

def test_on_mesh_ipv4_encrypted_real_sources(seal, keys, make_bed):
    bed = make_bed(3)
    blocks, bsize = 3, 1 << 20
    cap = bed.capture("on4")
    procs = start_mesh(bed, bed.nodes, seal=seal, blocks=blocks, block_size=bsize,
                       opts_for=lambda n: seal.opts(bed, n, keys.good))
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK, seal)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s" % (
        rcs, "\n".join(p.describe() for p in procs.values() if p.returncode))
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize, real_source=True)
    assert_capture_clean(cap, cap.scan(), [p.marker for p in procs.values()],
                         min_payload=6 * blocks * bsize)


# ----------------------------------------------------------------- (c) IPv6

def test_on_mesh_ipv6(seal, keys, make_bed):
    bed = make_bed(2)
    blocks, bsize = 2, 1 << 20
    cap = bed.capture("on6")
    procs = start_mesh(bed, bed.nodes, family=6, seal=seal, blocks=blocks, block_size=bsize,
                       opts_for=lambda n: seal.opts(bed, n, keys.good))
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK, seal)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s" % (
        rcs, "\n".join(p.describe() for p in procs.values() if p.returncode))
    assert_mesh_reports(reports, bed.nodes, 6, blocks, bsize, real_source=True)
    scan = cap.scan()
    assert_capture_clean(cap, scan, [p.marker for p in procs.values()],
                         min_payload=2 * blocks * bsize)
    v6 = [k for k in scan.flows_with_payload(PORT) if ":" in k[0]]
    assert v6, "no IPv6 TCP payload in the capture: %s" % scan.summary()


# ----------------------------------------------------------------- (d) wrong key

def test_wrong_network_key_gets_nothing(seal, keys, make_bed):
    """n2 has another network key: no payload byte in either direction."""
    bed = make_bed(3)
    n0, n1, n2 = bed.nodes
    honest = [n0, n1]
    blocks, bsize = 2, 256 << 10
    cap = bed.capture("wrongkey")
    retry = 6
    procs = start_mesh(
        bed, bed.nodes, seal=seal, blocks=blocks, block_size=bsize, timeout=25,
        connect_retry=retry,
        opts_for=lambda n: seal.opts(bed, n, keys.bad if n is n2 else keys.good),
        # honest nodes also try the stranger; they only expect each other
        expect_from=lambda n: [m for m in honest if m is not n] if n in honest else [])
    rcs = wait_all(procs.values(), 25 + PROC_SLACK, seal)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    scan = cap.scan()

    bad = reports[n2.name]
    assert bad["ok"] is False and rcs[n2.name] != 0
    assert bad["totals"]["bytes_received"] == 0, (
        "the stranger received payload: %s" % json.dumps(bad["connections"], indent=1)[:3000])
    assert bad["totals"]["messages_received"] == 0
    assert bad["outbound_expected"] == 2
    out_attempts = sum(c["connect_attempts"] for c in bad["connections"] if c["direction"] == "out")
    assert out_attempts >= 2, bad["connections"]

    for n in honest:
        rep = reports[n.name]
        other = n1 if n is n0 else n0
        for c in rep["connections"]:
            to_stranger = (c["direction"] == "out" and c["target"] == n2.addr()) or \
                c["peer_host"] == n2.ip4
            if to_stranger:
                assert c["bytes_received"] == 0 and c["messages_received"] == 0, (
                    "%s got payload on a connection with the stranger: %s" % (n.name, c))
                assert not c["ok"]
            else:
                assert c["ok"], "%s <-> %s failed: %s" % (n.name, other.name, c)
                assert c["peer_host"] == other.ip4
        ins = [c for c in rep["connections"] if c["direction"] == "in"]
        assert [c["peer_host"] for c in ins] == [other.ip4], (
            "%s: inbound connections delivered: %s" % (n.name, [(c["peer_host"], c["bytes_received"])
                                                               for c in ins]))
    # nothing readable, and the stranger really tried over the wire
    assert_capture_clean(cap, scan, [p.marker for p in procs.values()],
                         min_payload=2 * blocks * bsize)
    tried = [k for k in scan.flows_with_payload(PORT) if n2.ip4 in (k[0], k[2])]
    assert tried, "no TCP payload to/from the stranger %s at all: %s" % (n2.ip4, scan.summary())


# ----------------------------------------------------------------- source port reuse

CLIENT = r'''
import socket, sys
port, dst, payload = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if port:
    s.bind(("", port))
s.settimeout(1)
try:
    s.connect((dst, %d))
    print("connected from port", s.getsockname()[1])
    s.sendall(payload)
    print("received", s.recv(100))
except OSError as e:
    print("error", e)
s.close()
''' % PORT


def test_cloned_node_key_refused(seal, keys, make_bed):
    """b's state directory holds a copy of a's node key (a cloned container,
    say).  Each daemon, as initiator, refuses the other when message 2
    shows it its own node key, and logs a cloned node key; no connection
    reaches either node and no payload byte is delivered."""
    bed = make_bed(2)
    a, b = bed.nodes
    r = seal.cmd(bed, a, "pubkey", ["--state-dir", bed.node_dir(a)])
    assert r.returncode == 0, r.stderr
    shutil.copy2(os.path.join(bed.node_dir(a), "node.key"),
                 os.path.join(bed.node_dir(b), "node.key"))
    ups = {n: seal.start_up(bed, n, seal.opts(bed, n, keys.good), "up-" + n.name)
           for n in (a, b)}
    procs = start_mesh(bed, [a, b], blocks=1, block_size=4096, timeout=8, connect_retry=3,
                       expect_from=lambda n: [])
    wait_all(procs.values(), 8 + PROC_SLACK, seal)
    for n in (a, b):
        rep = load_report(procs[n.name])
        assert rep["totals"]["bytes_received"] == 0, rep["connections"]
        assert not [c for c in rep["connections"] if c["direction"] == "in"], (
            "%s: a connection was delivered: %s" % (n.name, rep["connections"]))
        st, r = seal.status_json(bed, n)
        assert st is not None, r.stderr
        assert st["failed_handshakes"]["cloned"] >= 1, st["failed_handshakes"]
    for n in (a, b):
        seal.down(bed, n, seal.opts(bed, n, keys.good))
        assert ups[n].wait(CMD_TIMEOUT) == 0, ups[n].describe()
        other = b if n is a else a
        assert re.search(r"nodeseal\[warn\] failed out %s:%d: peer has this node's own node key "
                         r"\(a cloned node key" % (re.escape(other.ip4), PORT),
                         ups[n].stderr()), ups[n].describe()


def test_reused_source_port_after_peer_reset_stays_sealed(seal, keys, make_bed):
    """A peer resets the daemon's outbound connection (here: it has another
    network key).  An application connection that then reuses the daemon's
    source port towards the same peer must still be intercepted (or fail),
    never go out in clear.

    Why this can go wrong: nat REDIRECT only sees a connection's first
    packet.  The daemon's own (marked, not redirected) connection leaves a
    conntrack entry for its 4-tuple, in CLOSE state for ~10 s after the RST;
    a new SYN with the same 4-tuple is then accepted by conntrack as part of
    that entry ("ignored" packet), so the nat table is never consulted and
    the application talks to the peer directly.  The kernel hands out such
    ports again by itself: test (d) showed it under load."""
    bed = make_bed(2)
    a, b = bed.nodes
    seal.start_up(bed, a, seal.opts(bed, a, keys.good), "up-a")
    seal.start_up(bed, b, seal.opts(bed, b, keys.bad), "up-b")
    cap = bed.capture("portreuse")
    secrets_sent = []
    daemon_ports = set()
    for i in range(3):
        first = "NSMARK-%s-first%d" % (bed.run_id, i)
        secrets_sent.append(first)
        r = bed.ns_exec(a, [PYTHON, "-c", CLIENT, "0", b.ip4, first], timeout=15)
        # the daemon's connection to b: from a, to port 7447, with payload
        end = time.monotonic() + 3
        new = set()
        while not new and time.monotonic() < end:
            flows = netbed.scan_pcap(cap.path).flows_with_payload(PORT)
            new = {k[1] for k in flows if k[0] == a.ip4 and k[3] == PORT} - daemon_ports
            time.sleep(0.05)
        assert new, "no connection from the daemon on %s to %s seen (client: %s)" % (
            a.name, b.ip4, r.stdout.strip())
        daemon_ports |= new
        for port in sorted(new):
            secret = "NSMARK-%s-reuse%d" % (bed.run_id, port)
            secrets_sent.append(secret)
            bed.ns_exec(a, [PYTHON, "-c", CLIENT, str(port), b.ip4, secret], timeout=15)
    cap.stop()
    scan = cap.scan()
    hits = scan.find([s.encode() for s in secrets_sent])
    assert not hits, (
        "an application connection reusing the source port of the daemon's reset connection "
        "went out in clear (ports %s): %s" % (sorted(daemon_ports), hits))
    assert cap.stats.get("dropped") == 0, cap.stats


# ----------------------------------------------------------------- (e) on/off cycles

@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_on_off_cycles_restore_state(seal, keys, make_bed, backend):
    bed = make_bed(1)
    node = bed.nodes[0]
    snap = bed.snapshot(node)
    opts = seal.opts(bed, node, keys.good, backend=backend)
    for i in range(5):
        up = seal.start_up(bed, node, opts, "up-%s-%d" % (backend, i))
        assert_on_state(snap, bed.snapshot(node, prime=False), backend)
        seal.down(bed, node, opts)
        rc = up.wait(CMD_TIMEOUT)
        assert rc is not None, "nodeseal up still running after down:\n" + up.describe()
        assert rc == 0, "nodeseal up exited %d after down:\n%s" % (rc, up.describe())
        assert_same_state(snap, bed.snapshot(node, prime=False), "after up/down cycle %d" % (i + 1))
    for i in range(3):
        r = seal.cmd(bed, node, "run", opts + ["--", "true"])
        assert r.returncode == 0, "nodeseal run -- true: exit %d\n%s" % (r.returncode, r.stderr)
        assert_same_state(snap, bed.snapshot(node, prime=False), "after run -- true #%d" % (i + 1))
    # the child runs with interception on (looked at from outside: the
    # child has no CAP_NET_ADMIN to read the rules), and its status is
    # passed on
    child = bed.spawn(node, seal.run_argv(opts, ["sleep", "60"]), "run-sleep-%s" % backend)
    end = time.monotonic() + READY_TIMEOUT
    while seal.cmd(bed, node, "status", ["--state-dir", bed.node_dir(node)]).returncode != 0:
        assert child.poll() is None and time.monotonic() < end, child.describe()
        time.sleep(0.1)
    assert_on_state(snap, bed.snapshot(node, prime=False), backend)
    child.signal(signal.SIGTERM)
    assert child.wait(CMD_TIMEOUT) == 128 + signal.SIGTERM, child.describe()
    assert_same_state(snap, bed.snapshot(node, prime=False), "after run -- sleep, stopped")
    r = seal.cmd(bed, node, "run", opts + ["--", "/bin/sh", "-c", "exit 7"])
    assert r.returncode == 7, "run -- sh -c 'exit 7' exited %d\n%s" % (r.returncode, r.stderr)
    assert_same_state(snap, bed.snapshot(node, prime=False), "after run -- exit 7")


# ----------------------------------------------------------------- status

def test_status_while_traffic_flows(seal, keys, make_bed):
    bed = make_bed(2)
    a, b = bed.nodes
    fp = {}
    for n in bed.nodes:
        r = subprocess.run([seal.path, "pubkey", "--state-dir", bed.node_dir(n)], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                           env=netbed.clean_env())
        m = re.search(r"^fingerprint\s+([0-9a-fA-F]+)\s*$", r.stdout, re.M)
        assert r.returncode == 0 and m, "nodeseal pubkey: %s%s" % (r.stdout, r.stderr)
        fp[n.name] = m.group(1).lower()
    for n in bed.nodes:
        bed.rate_limit(n, "200mbit")
    blocks, bsize = 20, 1 << 20  # ~2 s each way at 200 Mbit/s
    procs = start_mesh(bed, bed.nodes, seal=seal, blocks=blocks, block_size=bsize,
                       opts_for=lambda n: seal.opts(bed, n, keys.good))
    seen = {}
    end = time.monotonic() + 20
    while time.monotonic() < end and set(seen) != {"in", "out"}:
        for p in procs.values():
            if p.poll() not in (None, 0):
                seal.fail_if_missing_subcommand("run", p.returncode, p.stderr())
        st, r = seal.status_json(bed, a)
        if st is None:
            seal.fail_if_missing_subcommand("status", r.returncode, r.stderr)
        else:
            assert isinstance(st.get("connections"), list), st
            for c in st["connections"]:
                if c.get("state") == "relay" and c.get("bytes_in", 0) > 0 and c.get("bytes_out", 0) > 0:
                    seen[c.get("direction")] = c
        if all(p.poll() is not None for p in procs.values()):
            break
        time.sleep(0.2)
    wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK, seal)
    assert set(seen) == {"in", "out"}, "status never showed relaying in+out connections: %s" % seen
    for d, c in seen.items():
        host = re.sub(r"^\[?(.*?)\]?:\d+$", r"\1", str(c.get("peer")))
        assert host == b.ip4, c
        if d == "out":
            assert c["peer"] == b.addr(4, PORT), c
        got = str(c.get("fingerprint") or "").lower()
        assert len(got) >= 8 and (got.startswith(fp[b.name]) or fp[b.name].startswith(got)), (
            "status fingerprint %r is not %s's (%s)" % (got, b.name, fp[b.name]))
        assert isinstance(c.get("age"), (int, float)) and c["age"] >= 0, c
    # one log line per connection opened and closed (daemon and peer share stderr)
    lines = [l for l in procs[a.name].stderr().splitlines()
             if b.ip4 in l and not l.startswith("[mcpeer")]
    opened = [l for l in lines if re.search(r"\bopen", l, re.I)]
    closed = [l for l in lines if re.search(r"\bclos", l, re.I)]
    assert len(opened) >= 2 and len(closed) >= 2, "connection log lines:\n" + "\n".join(lines)
    for n in bed.nodes:
        assert load_report(procs[n.name])["ok"], procs[n.name].describe()


# ----------------------------------------------------------------- (f)+(g) SIGKILL

@pytest.fixture(scope="module")
def killed(seal, keys, tmp_path_factory):
    """Two nodes relaying big blocks; node A's `nodeseal run` is SIGKILLed
    mid-transfer while a capture runs; then new plain peers keep trying."""
    logdir = tmp_path_factory.mktemp("sigkill")
    bed = NetBed(2, logdir=str(logdir))
    bed.setup()
    try:
        a, b = bed.nodes
        res = types.SimpleNamespace(bed=bed, a=a, b=b)
        res.snap = bed.snapshot(a)
        res.opts = seal.opts(bed, a, keys.good)
        for n in bed.nodes:
            bed.rate_limit(n, "200mbit")
        big = dict(blocks=40, block_size=4 << 20, timeout=40)
        run_a = spawn_peer(bed, a, "A", seal=seal, opts=res.opts, listen="0.0.0.0:%d" % PORT,
                           connect=[b.addr()], expect_inbound=1, **big)
        # B's daemon stays up after its peer is done (sleep), so that a
        # fresh peer on B is still intercepted after A's crash.
        run_b = spawn_peer(bed, b, "B", seal=seal, opts=seal.opts(bed, b, keys.good),
                           listen="0.0.0.0:%d" % PORT, connect=[a.addr()], expect_inbound=1,
                           wrap=lambda argv: ["/bin/sh", "-c", '"$@"; exec sleep 120', "sh"] + argv,
                           **big)
        res.markers = [run_a.marker, run_b.marker]
        # wait until encrypted traffic really flows both ways
        tx0 = {n.name: bed.tx_bytes(n) for n in bed.nodes}
        end = time.monotonic() + 20
        while True:
            for p in (run_a, run_b):
                if p.poll() is not None:
                    seal.fail_if_missing_subcommand("run", p.returncode, p.stderr())
                    pytest.fail("nodeseal run exited before the kill:\n" + p.describe(),
                                pytrace=False)
            moved = {n.name: bed.tx_bytes(n) - tx0[n.name] for n in bed.nodes}
            if min(moved.values()) >= 8 << 20:
                break
            if time.monotonic() > end:
                pytest.fail("traffic never flowed (bytes sent per node %s)\n%s\n%s" % (
                    moved, run_a.describe(), run_b.describe()), pytrace=False)
            time.sleep(0.05)
        res.cap = bed.capture("after-kill")
        run_a.remember_descendants()
        os.kill(run_a.pid, signal.SIGKILL)
        res.kill_rc = run_a.wait(10)
        # keep the peer programs trying, on both sides, with new markers
        retry = dict(blocks=2, block_size=1 << 20, timeout=12, connect_retry=5)
        res.again = [spawn_peer(bed, a, "A-again", connect=[b.addr()], **retry),
                     spawn_peer(bed, b, "B-again", connect=[a.addr()], **retry)]
        res.markers += [p.marker for p in res.again]
        wait_all(res.again, 12 + PROC_SLACK)
        time.sleep(0.5)
        res.cap.stop()
        res.scan = res.cap.scan()
        res.run_a, res.run_b = run_a, run_b
        yield res
    finally:
        problems = bed.teardown()
        assert not problems, problems


def test_sigkill_fails_closed(killed):
    k = killed
    assert k.kill_rc == -signal.SIGKILL, "nodeseal run (pid %d) did not die of SIGKILL: %s" % (
        k.run_a.pid, k.kill_rc)
    for p in k.again:
        rep = load_report(p)
        assert rep["totals"]["bytes_received"] == 0 and not rep["ok"], (
            "%s exchanged data after the crash: %s" % (p.name, json.dumps(rep["connections"])[:2000]))
        assert sum(c["connect_attempts"] for c in rep["connections"]) >= 1
    hits = k.scan.find([m.encode() for m in k.markers] + COMMANDS)
    assert not hits, "plaintext on the wire after SIGKILL (%s): %s" % (k.scan.summary(), hits)
    assert k.cap.stats.get("dropped") == 0, k.cap.stats
    assert k.scan.stats["truncated"] == 0


def test_down_after_crash_restores_state(seal, killed):
    k = killed
    state = k.bed.snapshot(k.a, prime=False)
    assert snapshot_diff(k.snap, state), "no nodeseal rules left after SIGKILL (expected them " \
        "to stay, failing closed)"
    assert_on_state(k.snap, state)
    seal.down(k.bed, k.a, k.opts)
    assert_same_state(k.snap, k.bed.snapshot(k.a, prime=False), "after down following SIGKILL")
    # a second down is harmless
    seal.down(k.bed, k.a, k.opts)
    assert_same_state(k.snap, k.bed.snapshot(k.a, prime=False), "after a second down")


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_down_after_up_killed(seal, keys, make_bed, backend):
    bed = make_bed(1)
    node = bed.nodes[0]
    snap = bed.snapshot(node)
    opts = seal.opts(bed, node, keys.good, backend=backend)
    up = seal.start_up(bed, node, opts, "up-killed-%s" % backend)
    up.remember_descendants()
    up.signal(signal.SIGKILL)
    assert up.wait(10) == -signal.SIGKILL
    assert_on_state(snap, bed.snapshot(node, prime=False), backend)
    seal.down(bed, node, opts)
    assert_same_state(snap, bed.snapshot(node, prime=False), "down after SIGKILLed up")


# ----------------------------------------------------------------- squatted proxy ports

SQUATTER = r'''
import select, socket, sys
# Binds what it can of the daemon's proxy ports and reports everything it
# accepts and reads, as an unprivileged process would after a crash.
port = int(sys.argv[1])
socks = []
for fam, host, p in ((socket.AF_INET, "127.0.0.1", port), (socket.AF_INET6, "::1", port),
                     (socket.AF_INET, "0.0.0.0", port + 1), (socket.AF_INET6, "::", port + 1)):
    s = socket.socket(fam)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        s.bind((host, p))
        s.listen(64)
    except OSError as e:
        print("cannot bind %s port %d: %s" % (host, p, e), flush=True)
        continue
    socks.append(s)
    print("bound %s port %d" % (host, p), flush=True)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        if s.type == socket.SOCK_STREAM and s in socks[:4] and s.getsockname()[1] in (port, port + 1):
            try:
                c, peer = s.accept()
            except OSError:
                continue
            print("accepted %s on port %d" % (peer[0], s.getsockname()[1]), flush=True)
            c.settimeout(1)
            try:
                data = c.recv(4096)
                print("received %d bytes: %r" % (len(data), data[:64]), flush=True)
                c.sendall(b"squatter here\n")
            except OSError as e:
                print("recv: %s" % e, flush=True)
            c.close()
'''


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_squatted_proxy_ports_receive_nothing(seal, keys, make_bed, backend):
    """After a crash the rules stay and redirect to the proxy ports.  An
    unprivileged process (uid 65534) that binds them must receive nothing:
    neither the node's outbound connections (in clear) nor a peer's inbound
    ones; a restart while it holds the ports fails closed, saying so; once
    it is gone a restart works."""
    bed = make_bed(2)
    a, b = bed.nodes
    opts_a = seal.opts(bed, a, keys.good, backend=backend)
    opts_b = seal.opts(bed, b, keys.good, backend=backend)
    seal.start_up(bed, b, opts_b, "up-b")
    up = seal.start_up(bed, a, opts_a, "up-a")
    up.remember_descendants()
    up.signal(signal.SIGKILL)
    assert up.wait(10) == -signal.SIGKILL
    crashed = bed.snapshot(a, prime=False)
    squat = bed.spawn(a, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          PYTHON, "-c", SQUATTER, "20051"], "squatter")
    wait_for_line(squat, "ready")
    bound = squat.stdout()
    for what in ("127.0.0.1 port 20051", "::1 port 20051", "0.0.0.0 port 20052"):
        assert "bound " + what in bound, "the squatter could not bind %s:\n%s" % (what, bound)

    secret = "NSMARK-%s-squat" % bed.run_id
    tries = [(a, b.ip4), (a, b.ip6), (b, a.ip4), (b, a.ip6)]
    clients = ["%s -> %s: %s" % (node.name, dst, bed.ns_exec(
        node, [PYTHON, "-c", CLIENT, "0", dst, secret], timeout=15).stdout.strip())
        for node, dst in tries]
    time.sleep(0.5)
    got = squat.stdout()
    assert "accepted" not in got and "received" not in got, (
        "the squatter received intercepted connections:\n%s\nclients:\n%s"
        % (got, "\n".join(clients)))
    assert not [c for c in clients if "squatter" in c], clients

    r = seal.cmd(bed, a, "up", opts_a)
    assert r.returncode == 1, "a restart next to the squatter did not fail (exit %d):\n%s" % (
        r.returncode, r.stderr)
    assert re.search(r"port 2005[12]\b.*held by another process", r.stderr), r.stderr
    assert "kept" in r.stderr and "nodeseal down" in r.stderr, r.stderr
    assert_same_state(crashed, bed.snapshot(a, prime=False), "after the failed restart")

    squat.stop()
    seal.start_up(bed, a, opts_a, "up-a-again")
    seal.down(bed, a, opts_a)
    seal.down(bed, b, opts_b)


def wait_for_line(proc, word, timeout=10):
    end = time.monotonic() + timeout
    while word not in proc.stdout():
        assert time.monotonic() < end and proc.poll() is None, proc.describe()
        time.sleep(0.05)


# ----------------------------------------------------------------- no IPv6

IPV6_OFF = ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6",
            "net.ipv6.conf.lo.disable_ipv6"]

ECHO_SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", %d))
s.listen(8)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(2)
    try:
        data = c.recv(100)
        print("from %%s: %%r" %% (peer[0], data), flush=True)
        c.sendall(b"echo " + data)
    except OSError as e:
        print("error", e, flush=True)
    c.close()
''' % PORT


def set_ipv6(bed, node, on):
    bed.ns_exec_check(node, ["sysctl", "-qw"] + ["%s=%d" % (k, 0 if on else 1) for k in IPV6_OFF])
    if on:  # turning IPv6 off took the addresses away
        bed.ns_exec_check(node, ["ip", "-6", "addr", "replace", node.ip6 + "/64", "dev",
                                 node.ifname, "nodad"])


@pytest.mark.parametrize("mode", ["proxy", "packet"])
def test_mesh_without_ipv6(seal, keys, make_bed, mode):
    """With IPv6 switched off in every node's namespace (no ::1), both modes
    start, seal the IPv4 mesh and say once that IPv6 is off.  If IPv6 comes
    back while they run, P2P over it still does not pass in clear."""
    bed = make_bed(3)
    for n in bed.nodes:
        set_ipv6(bed, n, on=False)
    snaps = {n.name: bed.snapshot(n) for n in bed.nodes}
    opts = {n.name: seal.opts(bed, n, keys.good, extra=["--mode", mode]) for n in bed.nodes}
    ups = {n.name: seal.start_up(bed, n, opts[n.name], "up-" + n.name) for n in bed.nodes}
    blocks, bsize = 2, 256 << 10
    cap = bed.capture("noipv6-" + mode)
    procs = start_mesh(bed, bed.nodes, blocks=blocks, block_size=bsize)
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK)
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s" % (
        rcs, "\n".join(p.describe() for p in list(procs.values()) + list(ups.values())))
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize, real_source=True)
    for n in bed.nodes:
        said = ups[n.name].stderr().count("IPv6 is off here: protecting IPv4 only")
        assert said == 1, "%s said %d times that IPv6 is off:\n%s" % (
            n.name, said, ups[n.name].stderr_tail())

    # IPv6 back on while the daemons run: a connection over it is refused
    # (proxy mode) or sealed (packet mode), never in clear.
    a, b = bed.nodes[0], bed.nodes[1]
    for n in (a, b):
        set_ipv6(bed, n, on=True)
    server = bed.spawn(b, [PYTHON, "-c", ECHO_SERVER], "echo6")
    wait_for_line(server, "ready")
    secret = "NSMARK-%s-ipv6-back" % bed.run_id
    client = bed.ns_exec(a, [PYTHON, "-c", CLIENT, "0", b.ip6, secret], timeout=15)
    time.sleep(0.3)
    cap.stop()
    scan = cap.scan()
    assert_capture_clean(cap, scan, [p.marker for p in procs.values()] + [secret],
                         min_payload=6 * blocks * bsize)
    v6_flows = [k for k in scan.flows_with_payload(PORT) if ":" in k[0]]
    if mode == "proxy":  # refused at once: no listener for it, the rules reset it
        assert "Connection refused" in client.stdout, client.stdout
        assert "from" not in server.stdout(), server.stdout()
    else:  # sealed: the rules and the daemon handle IPv6 already
        assert "received b'echo %s'" % secret in client.stdout, (client.stdout, server.stdout())
        assert v6_flows, "no IPv6 payload on the wire: %s" % scan.summary()
    for n in bed.nodes:
        seal.down(bed, n, opts[n.name])
        assert ups[n.name].wait(10) == 0, ups[n.name].describe()
    for n in bed.nodes:
        if n not in (a, b):
            assert_same_state(snaps[n.name], bed.snapshot(n), "%s after down" % n.name)


# ----------------------------------------------------------------- delivery route gone

LATE_SERVER = r'''
import socket, sys, time
s = socket.socket(socket.AF_INET6)  # both families
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", %d))
s.listen(4)
print("ready", flush=True)
c, peer = s.accept()
c.sendall(b"hello\n")
time.sleep(float(sys.argv[2]))
try:
    c.sendall(sys.argv[1].encode())
    print("sent", flush=True)
    time.sleep(1)
except OSError as e:
    print("error", e, flush=True)
''' % PORT

LATE_CLIENT = r'''
import socket, sys
s = socket.create_connection((sys.argv[1], %d), timeout=10)
print("got", s.recv(100), flush=True)
s.settimeout(5)
try:
    print("then", s.recv(100), flush=True)
except OSError as e:
    print("error", e, flush=True)
''' % PORT


@pytest.mark.parametrize("family", [4, 6])
def test_delivered_replies_stay_local_without_the_route(seal, keys, make_bed, family):
    """The node's replies on a connection the daemon delivered carry the
    delivery mark and reach the daemon through a policy route over lo.  If
    that route goes (lo down and up, IPv6 on lo switched off and on, a flush
    of the table), they must not leave for the wire in clear: marked
    packets leave only over lo.  IPv4: the table flushed; IPv6: IPv6 on lo
    switched off and on, which takes the route away."""
    bed = make_bed(2)
    a, b = bed.nodes
    opts = {n.name: seal.opts(bed, n, keys.good) for n in bed.nodes}
    for n in bed.nodes:
        seal.start_up(bed, n, opts[n.name], "up-" + n.name)
    secret = "NSMARK-%s-noroute" % bed.run_id
    server = bed.spawn(a, [PYTHON, "-c", LATE_SERVER, secret, "1.5"], "late-server")
    wait_for_line(server, "ready")
    cap = bed.capture("noroute%d" % family)
    client = bed.spawn(b, [PYTHON, "-c", LATE_CLIENT, ip_of(a, family)], "late-client")
    wait_for_line(client, "got b'hello")
    if family == 4:
        bed.ns_exec_check(a, ["ip", "route", "flush", "table", "20051"])
    else:
        for v in (1, 0):
            bed.ns_exec_check(a, ["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=%d" % v])
        assert "local" not in bed.ns_exec(a, ["ip", "-6", "route", "show", "table",
                                              "20051"]).stdout
    assert client.wait(15) is not None, client.describe()
    wait_for_line(server, "sent")
    time.sleep(0.3)
    cap.stop()
    hits = cap.scan().find([secret.encode()])
    assert not hits, "the node's reply left in clear without the delivery route: %s\n%s" % (
        hits, client.stdout())
    for n in bed.nodes:
        seal.down(bed, n, opts[n.name])
