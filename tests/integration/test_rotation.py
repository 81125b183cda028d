"""Network key rotation without downtime (issue 14): a live mesh changes its
network key node by node with key file edits and `nodeseal reload`, and
nothing is dropped or sent in clear.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -q -p no:cacheprovider tests/integration/test_rotation.py

Three nodes (n0, n1, n2) run `nodeseal run --mode M -- mclive` (policy
required), every node connected to every other (tests/peer/mclive.py keeps
the connections open with ping/pong; tests/integration/livemesh.py reads its
status files).  Each node has its own key file, holding key A.  A capture of
the bridge runs from before step 1 to after step 3.  Then, node by node:

  1. append key B to the file, `nodeseal reload`: sends A, accepts A, B;
  2. swap the lines, reload: sends B, accepts B, A (checked half-way too:
     n0 switched, n1 and n2 not, so new handshakes cross the two keys);
  3. remove A, reload: sends B, accepts B.

After every reload: the answer and `status` show the fingerprints (computed
here from the keys: SHA-256 of the label and the key, first 8 bytes); after
every step (and half-way through step 2) a probe peer on each node opens new
connections to the two others and they carry messages, and every mesh link
is still live.  At the end: the mesh has the same connections as before step
1 and none closed in the window, messages flowed throughout, the capture
holds no marker or command in clear.  Then n3, under nodeseal with key A
only, is refused by every node in both directions: n3's node gets no
message, and a probe on n0 connecting to n3 gets none either; the daemons
count it (proxy: failed_handshakes.authentication; packet: bad_mac or
unknown_key).

And: a reload of an inline key (NODESEAL_NETWORK_KEY) keeps it and says why;
a bad key file (three keys) is refused at reload, naming the line, and the
keys in force stay.
"""

import hashlib
import base64
import os
import time

import pytest

import livemesh
from livemesh import brief, closed_between, dead_links, open_ids, read_status
from mesh import COMMANDS, marker_for
from netbed import PORT

pytestmark = pytest.mark.usefixtures("host_untouched")

MODES = ["proxy", "packet"]
START_BOUND = 15       # every mesh link live within this
PROBE_BOUND = 10       # a probe's new connections live within this
LIVE_LIFETIME = 300    # mclive --timeout: a leaked peer ends by itself
SETTLE_S = 1.0         # after each step, before the links are looked at
REFUSE_S = 5.0         # how long the old-key node is given to get through


def key_text(path):
    with open(path) as f:
        return f.read().strip()


def fingerprint(b64):
    """docs/PROTOCOL.md, "Keys": a network key's fingerprint."""
    raw = base64.b64decode(b64)
    return hashlib.sha256(b"nodeseal network key fingerprint 1" + raw).hexdigest()[:16]


def write_key_file(path, lines):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")


def start_live(bed, seal, node, tag, opts, targets, listen=True):
    status = bed.path("live", "%s-%s.json" % (node.name, tag))
    marker = marker_for(bed, node.name)
    name = node.name if listen else "%s%s" % (node.name, tag)
    argv = livemesh.live_argv(name, listen="0.0.0.0:%d" % PORT if listen else None,
                              connect=[m.addr() for m in targets], status=status,
                              marker=marker, timeout=LIVE_LIFETIME)
    if opts is not None:
        argv = seal.run_argv(opts, argv)
    p = bed.spawn(node, argv, "%s-%s" % (node.name, tag))
    p.status_path, p.marker = status, marker
    if opts is not None:
        seal.wait_ready(bed, node, p)
    return p


def statuses(procs):
    return {n: read_status(p.status_path, describe=p.describe) for n, p in procs.items()}


def status_of(seal, bed, node):
    st, r = seal.status_json(bed, node)
    assert st is not None, "nodeseal status --json on %s: exit %d\n%s%s" % (
        node.name, r.returncode, r.stdout, r.stderr)
    return st


def mesh_ids(st, names):
    """open_ids of the connections with mesh nodes (not the probes)."""
    return {i: v for i, v in open_ids(st).items() if v[1] in names}


def check_keys(seal, bed, node, send, accept, what):
    st = status_of(seal, bed, node)
    nk = st.get("network_keys")
    want = {"send": fingerprint(send), "accept": [fingerprint(k) for k in accept]}
    assert nk is not None and {k: nk.get(k) for k in want} == want, (
        "%s: %s's status network_keys %s, expected %s" % (what, node.name, nk, want))
    r = seal.cmd(bed, node, "status", ["--state-dir", bed.node_dir(node)])
    line = "sends %s, accepts %s" % (want["send"], ", ".join(want["accept"]))
    assert line in r.stdout, "%s: %s's status text lacks %r:\n%s" % (what, node.name, line,
                                                                     r.stdout)
    return st


def reload(seal, bed, node, send, accept, what):
    r = seal.cmd(bed, node, "reload", ["--state-dir", bed.node_dir(node)])
    out = (r.stdout + r.stderr).strip()
    line = "sends %s, accepts %s" % (fingerprint(send), ", ".join(fingerprint(k) for k in accept))
    assert r.returncode == 0 and line in r.stdout, (
        "%s: nodeseal reload on %s: exit %d, expected %r in: %s" % (what, node.name, r.returncode,
                                                                   line, out))
    check_keys(seal, bed, node, send, accept, what)


def probe(bed, seal, node, others, tag, what):
    """A peer on node that connects to others (through node's nodeseal):
    returns once each of its connections carries messages both ways."""
    p = start_live(bed, seal, node, tag, None, others, listen=False)
    t0 = time.monotonic()
    try:
        while True:
            st = read_status(p.status_path, describe=p.describe)
            dead = [w for ok, w in (livemesh.link_state(st, m.name, "out") for m in others)
                    if not ok]
            if not dead:
                return time.monotonic() - t0
            assert time.monotonic() - t0 < PROBE_BOUND, (
                "%s: new connections from %s not live after %ds:\n  %s" % (
                    what, node.name, PROBE_BOUND, "\n  ".join(dead)))
            time.sleep(0.1)
    finally:
        p.stop()


def daemon_context(seal, bed, nodes):
    out = []
    for n in nodes:
        st, r = seal.status_json(bed, n)
        if st is None:
            out.append("%s: status exit %d: %s" % (n.name, r.returncode, r.stderr.strip()))
            continue
        keep = {k: st.get(k) for k in ("network_keys", "segments", "failed_handshakes",
                                        "connections") if k in st}
        out.append("%s: %s" % (n.name, str(keep)[:3000]))
    return "\n".join(out)


@pytest.mark.parametrize("mode", MODES)
def test_rotation_node_by_node(seal, keys, make_bed, mode):
    bed = make_bed(4)
    mesh, n3 = bed.nodes[:3], bed.nodes[3]
    names = [n.name for n in mesh]
    key_a, key_b = key_text(keys.good), key_text(keys.bad)
    files = {n.name: bed.path("keys", "%s.key" % n.name) for n in mesh}
    t_start = time.monotonic()

    procs = {}
    for n in mesh:
        write_key_file(files[n.name], ["# the network key", key_a])
        opts = seal.opts(bed, n, files[n.name], extra=["--mode", mode])
        procs[n.name] = start_live(bed, seal, n, "mesh", opts, [m for m in mesh if m is not n])
    took = livemesh.wait_live(lambda: statuses(procs), names, START_BOUND, "the mesh under key A",
                              context=lambda: daemon_context(seal, bed, mesh))
    print("\n[%s] mesh of 3 live %.1fs after start" % (mode, took))
    for n in mesh:
        check_keys(seal, bed, n, key_a, [key_a], "start")

    st_before = statuses(procs)
    before = {n: mesh_ids(s, names) for n, s in st_before.items()}
    pongs0 = {n: {c["id"]: c["pongs_received"] for c in s["connections"]}
              for n, s in st_before.items()}
    assert all(len(v) == 4 for v in before.values()), "mesh connections at start: %s" % before
    t0 = time.monotonic()
    cap = bed.capture("rotation-" + mode)
    probes = 0

    def step_done(what):
        nonlocal probes
        time.sleep(SETTLE_S)
        dead = dead_links(statuses(procs), names)
        assert not dead, "%s: mesh links quiet:\n  %s\n%s" % (
            what, "\n  ".join(dead), daemon_context(seal, bed, mesh))
        for n in mesh:
            took = probe(bed, seal, n, [m for m in mesh if m is not n], "p%d" % probes, what)
            probes += 1
            print("[%s]   %s: new connections from %s live in %.1fs" % (mode, what, n.name, took))

    # 1. add B
    for n in mesh:
        write_key_file(files[n.name], ["# rotation: A still sent with, B accepted", key_a, key_b])
        reload(seal, bed, n, key_a, [key_a, key_b], "step 1")
    step_done("step 1 (sends A, accepts A, B)")

    # 2. switch to B, and look half-way: n0 sends B, n1 and n2 still A
    for i, n in enumerate(mesh):
        write_key_file(files[n.name], ["# rotation: B sent with, A still accepted", key_b, key_a])
        reload(seal, bed, n, key_b, [key_b, key_a], "step 2")
        if i == 0:
            step_done("half-way through step 2 (n0 sends B, n1, n2 send A)")
    step_done("step 2 (sends B, accepts B, A)")

    # 3. drop A
    for n in mesh:
        write_key_file(files[n.name], [key_b])
        reload(seal, bed, n, key_b, [key_b], "step 3")
    step_done("step 3 (sends B, accepts B)")

    cap.stop()
    t1 = time.monotonic()
    after = statuses(procs)
    for n in names:
        closed = [c for c in closed_between(after[n], t0, t1) if c["peer_name"] in names]
        assert not closed, "%s's mesh connections closed during the rotation: %s" % (
            n, [brief(c) for c in closed])
        assert mesh_ids(after[n], names) == before[n], (
            "%s's mesh connections changed: before %s, after %s" % (n, before[n],
                                                                   mesh_ids(after[n], names)))
    # Messages throughout: every mesh connection kept answering pings (one
    # every 0.2 s; half of them is the floor), besides being live at every
    # step (step_done).
    for n in names:
        for c in after[n]["connections"]:
            if c["id"] in before[n]:
                got = c["pongs_received"] - pongs0[n][c["id"]]
                assert got >= (t1 - t0) / 0.2 * 0.5, (
                    "%s: %s answered only %d pings in %.1fs" % (n, brief(c), got, t1 - t0))
    scan = cap.scan()
    markers = [p.marker.encode() for p in procs.values()]
    hits = scan.find(markers + COMMANDS)
    assert not hits, "plaintext on the wire during the rotation (%s): %s" % (
        scan.summary(), {k: v[:4] for k, v in hits.items()})
    assert cap.stats.get("dropped") == 0, "tcpdump dropped packets: %s" % cap.stats
    assert scan.stats["truncated"] == 0, scan.summary()
    got = scan.payload_bytes(PORT)
    assert got >= 10000, "only %d payload bytes captured on port %d: %s" % (got, PORT,
                                                                           scan.summary())
    print("[%s] rotation in %.1fs: %d mesh connections kept on each node, none closed, "
          "%d probe peers connected, %d payload bytes captured, none in clear"
          % (mode, t1 - t0, len(before["n0"]), probes, got))

    # A node left with A only: refused by everyone, both ways.
    counts0 = {n.name: status_of(seal, bed, n) for n in mesh}
    old_file = bed.path("keys", "n3.key")
    write_key_file(old_file, [key_a])
    p3 = start_live(bed, seal, n3, "old", seal.opts(bed, n3, old_file, extra=["--mode", mode]),
                    mesh)
    pin = start_live(bed, seal, mesh[0], "to-n3", None, [n3], listen=False)
    time.sleep(REFUSE_S)
    s3 = read_status(p3.status_path, describe=p3.describe)
    sin = read_status(pin.status_path, describe=pin.describe)
    pin.stop()
    got3 = [brief(c) for c in s3["connections"] if c["established"] or c["messages_received"]]
    assert not got3, "n3 (key A only) exchanged messages after the rotation: %s" % got3
    assert [c for c in s3["connections"] if c["direction"] == "out"], (
        "n3 never tried to connect: %s" % s3["connections"])
    gotin = [brief(c) for c in sin["connections"] if c["established"] or c["messages_received"]]
    assert not gotin, "n0 reached n3 (key A only) after the rotation: %s" % gotin
    assert sin["connections"], "the probe on n0 never tried n3"
    for n in mesh:
        a, b = counts0[n.name], status_of(seal, bed, n)
        if mode == "proxy":
            fa = (a.get("failed_handshakes") or {}).get("authentication", 0)
            fb = (b.get("failed_handshakes") or {}).get("authentication", 0)
            assert fb > fa, "%s: failed_handshakes.authentication %d before n3, %d after" % (
                n.name, fa, fb)
        else:
            sa, sb = a.get("segments") or {}, b.get("segments") or {}
            refused = sum(sb.get(k, 0) - sa.get(k, 0) for k in ("bad_mac", "unknown_key"))
            assert refused > 0, "%s: segments bad_mac/unknown_key did not rise: %s -> %s" % (
                n.name, sa, sb)
    dead = dead_links(statuses(procs), names)
    assert not dead, "the mesh after n3 tried: links quiet:\n  " + "\n  ".join(dead)
    print("[%s] n3 with key A only: refused by n0, n1, n2 both ways; test took %.1fs"
          % (mode, time.monotonic() - t_start))


def test_reload_inline_key_and_bad_file(seal, keys, make_bed):
    """An inline key cannot be read again: the reload keeps it and says so.
    A key file of three keys is refused at reload, naming the line; the keys
    in force stay."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    key_a, key_b = key_text(keys.good), key_text(keys.bad)

    argv = [seal.path, "up", "--state-dir", bed.node_dir(n0)]
    p = bed.spawn(n0, argv, "n0-inline", env={"NODESEAL_NETWORK_KEY": key_a})
    seal.wait_ready(bed, n0, p)
    r = seal.cmd(bed, n0, "reload", ["--state-dir", bed.node_dir(n0)])
    assert r.returncode == 0 and "inline" in r.stdout and "kept" in r.stdout and \
        "NODESEAL_NETWORK_KEY_FILE" in r.stdout, (r.returncode, r.stdout, r.stderr)
    st = status_of(seal, bed, n0)
    assert st.get("network_keys", {}).get("send") == fingerprint(key_a) and \
        st["network_keys"].get("file") is None, st.get("network_keys")
    assert key_a not in r.stdout and key_a not in str(st), "the key itself was shown"

    path = bed.path("keys", "n1.key")
    write_key_file(path, [key_a])
    p1 = seal.start_up(bed, n1, seal.opts(bed, n1, path), "n1-up")
    write_key_file(path, [key_a, key_b, key_a])
    r = seal.cmd(bed, n1, "reload", ["--state-dir", bed.node_dir(n1)])
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "%s line 3" % path in out and "kept" in out, (r.returncode, out)
    check_keys(seal, bed, n1, key_a, [key_a], "after a bad reload")
    write_key_file(path, [key_a, key_b, key_b[:-2] + "A="])
    r = seal.cmd(bed, n1, "reload", ["--state-dir", bed.node_dir(n1)])
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "line 3" in out, (r.returncode, out)
    os.chmod(path, 0o644)
    write_key_file(path, [key_b])
    os.chmod(path, 0o644)
    r = seal.cmd(bed, n1, "reload", ["--state-dir", bed.node_dir(n1)])
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "chmod 600" in out, (r.returncode, out)
    check_keys(seal, bed, n1, key_a, [key_a], "after a reload of a readable file")
    assert p.poll() is None and p1.poll() is None, "a daemon stopped after a reload"
