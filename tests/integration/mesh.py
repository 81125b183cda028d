"""MultiChain-style meshes (tests/peer/mcpeer.py) on a NetBed, and the checks
on what the peers report and what the wire shows.
"""

import json
import time

import pytest

from netbed import PORT, snapshot_diff

# Every command a peer sends, as its 12-byte header field.
COMMANDS = [c.encode().ljust(12, b"\0") for c in
            ("version", "verack", "ping", "pong", "inv", "block", "done")]
VERSION_CMD = b"version\x00\x00\x00\x00\x00"

MESH_TIMEOUT = 30      # mcpeer --timeout in the meshes
PROC_SLACK = 25        # extra time the test waits for a process beyond that


def marker_for(bed, name):
    return "NSMARK-%s-%s" % (bed.run_id, name)


def wait_all(procs, timeout, seal=None):
    """Wait for every Proc; fail fast when nodeseal lacks a subcommand."""
    end = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        for p in list(pending):
            rc = p.poll()
            if rc is None:
                continue
            pending.remove(p)
            if seal is not None and rc != 0 and p.argv and seal.path in p.argv:
                sub = p.argv[p.argv.index(seal.path) + 1]
                seal.fail_if_unsupported(sub, rc, p.stderr())
        if pending and time.monotonic() > end:
            pytest.fail("still running after %ss:\n%s" % (
                timeout, "\n\n".join(p.describe() for p in pending)), pytrace=False)
        time.sleep(0.05)
    return {p.name: p.returncode for p in procs}


def load_report(proc):
    try:
        with open(proc.report_path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        pytest.fail("no report from %s (%s):\n%s" % (proc.name, e, proc.describe()), pytrace=False)


def spawn_peer(bed, node, name, seal=None, opts=None, wrap=None, **kw):
    """Start mcpeer in node's namespace, optionally under `nodeseal run`."""
    report = bed.path("reports", name + ".json")
    kw.setdefault("marker", marker_for(bed, name))
    argv = bed.mcpeer_argv(node, name, report=report, **kw)
    if wrap:
        argv = wrap(argv)
    if seal is not None:
        argv = seal.run_argv(opts, argv)
    p = bed.spawn(node, argv, name)
    p.report_path = report
    p.marker = kw["marker"]
    return p


def start_mesh(bed, nodes, family=4, seal=None, opts_for=None, blocks=3,
               block_size=1 << 20, timeout=MESH_TIMEOUT, connect_retry=10, listen=True,
               connect_to=None, expect_from=None, seed=1000):
    """Every node listens on PORT and connects to every other node."""
    procs = {}
    for n in nodes:
        others = [m for m in nodes if m is not n]
        targets = connect_to(n) if connect_to else others
        expect = expect_from(n) if expect_from else others
        p = spawn_peer(
            bed, n, n.name, seal=seal, opts=opts_for(n) if opts_for else None,
            listen=("0.0.0.0:%d" % PORT if family == 4 else "[::]:%d" % PORT) if listen else None,
            connect=[m.addr(family, PORT) for m in targets], expect_inbound=len(expect),
            blocks=blocks, block_size=block_size, timeout=timeout, connect_retry=connect_retry,
            seed=seed + n.index)
        procs[n.name] = p
    return procs


def ip_of(node, family):
    return node.ip4 if family == 4 else node.ip6


def assert_mesh_reports(reports, nodes, family, blocks, block_size, real_source=True):
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        rep = reports[n.name]
        others = [m for m in nodes if m is not n]
        bad = [c for c in rep["connections"] if not c["ok"]]
        assert rep["ok"] is True, "%s not ok: errors %s; failed connections: %s" % (
            n.name, rep["errors"], json.dumps(bad, indent=1)[:3000])
        assert rep["outbound_ok"] == len(others) and rep["inbound_ok"] == len(others), rep
        assert rep["inbound_total"] == len(others), "%s: extra inbound connections" % n.name
        for c in rep["connections"]:
            assert c["blocks_received"] == blocks and c["block_bytes_received"] == blocks * block_size
            assert c["done_match"] and c["checksum_failures"] == 0
            peer = by_name.get(c["peer_name"])
            assert peer is not None and peer is not n, c
            assert c["peer_marker"] == reports[peer.name]["marker"]
            if c["direction"] == "out":
                assert c["peer_host"] == ip_of(peer, family), c
            elif real_source:
                assert c["peer_host"] == ip_of(peer, family), (
                    "%s saw the inbound connection from %s coming from %s, not from %s"
                    % (n.name, peer.name, c["peer_host"], ip_of(peer, family)))
        ins = sorted(c["peer_host"] for c in rep["connections"] if c["direction"] == "in")
        if real_source:
            assert ins == sorted(ip_of(m, family) for m in others), ins


def assert_capture_clean(cap, scan, markers, min_payload):
    hits = scan.find([m.encode() for m in markers] + COMMANDS)
    assert not hits, "plaintext on the wire (%s): %s" % (scan.summary(), {
        k: v[:4] for k, v in hits.items()})
    assert cap.stats.get("dropped") == 0, "tcpdump dropped packets: %s" % cap.stats
    assert scan.stats["truncated"] == 0, scan.summary()
    got = scan.payload_bytes(PORT)
    assert got >= min_payload, ("only %d TCP payload bytes on port %d in the capture, expected "
                                ">= %d: %s" % (got, PORT, min_payload, scan.summary()))


def assert_same_state(before, after, what):
    d = snapshot_diff(before, after)
    assert not d, "%s: state differs from the snapshot:\n%s" % (what, d)
