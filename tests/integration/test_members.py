"""The members list (issue 14, proxy mode): `--members FILE` lets only the
node keys it lists complete a handshake, `nodeseal reload` (or SIGHUP) reads
it again without dropping anyone else, and a bad list is a clear error.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -q -p no:cacheprovider tests/integration/test_members.py

Every node runs tests/peer/mclive.py (a MultiChain-style peer that keeps its
connections open with ping/pong and writes a status file: livemesh.py), under
`nodeseal run`, and connects to every other node, so each pair of nodes has
two connections.  Node keys are made beforehand with `nodeseal pubkey`.

  1. n0, n1, n2 listed; n3 holds the network key but is not listed (and runs
     with membership open, as an outsider would).  n3's node gets nothing
     from anyone and nothing of n3's reaches the others' nodes, in either
     direction; their daemons count not_member refusals and log n3's
     fingerprint both as initiator and as responder; every link among the
     three carries messages, and status names each peer.
  2. All four listed and live; n3 is removed from the file and `nodeseal
     reload` runs on n0, n1, n2.  Within REMOVE_BOUND every connection with
     n3 is gone, n3 cannot connect again, and the n0-n1-n2 connections are
     never touched (same mclive connection ids, none closed).
  3. Bad lists: an unknown key format, a duplicate key and a group-writable
     file each stop the start with an error naming the file (and the line);
     a reload with a bad file is refused, names the line and keeps the list
     in force; a good one replaces it; SIGHUP to `nodeseal up` reloads too,
     and under `nodeseal run` it reloads and still reaches the child.
  4. `nodeseal reload` with no daemon: exit 1; `--members` in packet mode:
     exit 2.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

import livemesh
import netbed
from livemesh import brief, closed_between, open_ids, read_status
from mesh import marker_for
from netbed import PORT

pytestmark = pytest.mark.usefixtures("host_untouched")

START_BOUND = 15       # every link among the listed nodes live within this
WATCH_S = 5.0          # how long the outsider keeps trying
REMOVE_BOUND = 2.0     # a removed member's connections gone within this of the reloads
QUIET_S = 4.0          # after the removal: the window in which nothing else may close
LIVE_LIFETIME = 240    # mclive --timeout: a leaked peer ends by itself


# ----------------------------------------------------------------- helpers

def pubkey(seal, bed, node):
    """(public key, fingerprint) of node, creating its node key."""
    r = seal.cmd(bed, node, "pubkey", ["--state-dir", bed.node_dir(node)])
    assert r.returncode == 0, "nodeseal pubkey on %s: %s" % (node.name, r.stderr)
    f = dict(line.split(None, 1) for line in r.stdout.strip().splitlines())
    return f["public-key"].strip(), f["fingerprint"].strip()


def write_members(path, entries, mode=0o644):
    """entries: [(key, name)]; written whole under another name, then moved
    into place, as an operator's editor or config tool would."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("# the network's nodes\n")
        for key, name in entries:
            f.write("%s %s\n" % (key, name))
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def start_live(bed, seal, node, opts, tag="live"):
    others = [m for m in bed.nodes if m is not node]
    status = bed.path("live", "%s-%s.json" % (node.name, tag))
    marker = marker_for(bed, node.name)
    argv = livemesh.live_argv(node.name, listen="0.0.0.0:%d" % PORT,
                              connect=[m.addr() for m in others], status=status,
                              marker=marker, timeout=LIVE_LIFETIME)
    p = bed.spawn(node, seal.run_argv(opts, argv), "%s-%s" % (node.name, tag))
    p.status_path, p.marker = status, marker
    seal.wait_ready(bed, node, p)
    return p


def statuses(procs):
    return {n: read_status(p.status_path, describe=p.describe) for n, p in procs.items()}


def status_of(seal, bed, node):
    st, r = seal.status_json(bed, node)
    assert st is not None, "nodeseal status --json on %s: exit %d\n%s%s" % (
        node.name, r.returncode, r.stdout, r.stderr)
    return st


def with_node(st, node, bed):
    """The connections of mclive status st that involve node (by address or
    by the name its version message gave)."""
    return [c for c in st["connections"]
            if c["peer_name"] == node.name or c["peer_host"] == node.ip4
            or c["target"] == node.addr()]


def open_without(st, node, bed):
    """{id: (direction, peer name)} of st's open connections, those with
    node (even one not yet named) aside."""
    skip = {c["id"] for c in with_node(st, node, bed)}
    return {i: v for i, v in open_ids(st).items() if i not in skip}


def daemon_context(seal, bed, nodes):
    out = []
    for n in nodes:
        st, r = seal.status_json(bed, n)
        if st is None:
            out.append("%s: status exit %d: %s" % (n.name, r.returncode, r.stderr.strip()))
            continue
        keep = {k: st.get(k) for k in ("membership", "failed_handshakes", "connections")}
        out.append("%s's nodeseal status: %s" % (n.name, json.dumps(keep, sort_keys=True)[:3000]))
    return "\n".join(out)


# ----------------------------------------------------------------- 1. an outsider

def test_outsider_with_the_network_key_gets_nothing(seal, keys, make_bed):
    bed = make_bed(4)
    n0, n1, n2, n3 = bed.nodes
    listed = [n0, n1, n2]
    names = [n.name for n in listed]
    pub = {n.name: pubkey(seal, bed, n) for n in bed.nodes}
    members = bed.path("members.txt")
    write_members(members, [(pub[n.name][0], n.name) for n in listed])

    procs = {}
    for n in listed:
        procs[n.name] = start_live(bed, seal, n, seal.opts(bed, n, keys.good,
                                                           extra=["--members", members]))
    procs["n3"] = start_live(bed, seal, n3, seal.opts(bed, n3, keys.good))
    took = livemesh.wait_live(lambda: statuses(procs), names, START_BOUND,
                              "the three listed nodes",
                              context=lambda: daemon_context(seal, bed, listed))
    time.sleep(WATCH_S)  # n3 and the others keep trying each other
    sts = statuses(procs)
    print("\nlisted nodes live %.1fs after start; n3 tried for %.1fs" % (took, WATCH_S))

    # n3's node: nothing from anyone, no peer ever named.
    got3 = [brief(c) for c in sts["n3"]["connections"]
            if c["messages_received"] or c["peer_name"] or c["established"]]
    assert not got3, "the outsider's node received messages: %s" % got3
    outs3 = [c for c in sts["n3"]["connections"] if c["direction"] == "out"]
    assert outs3, "n3 never tried to connect (connections %s)" % sts["n3"]["connections"]
    # The listed nodes: nothing of n3's, neither inbound nor on their own
    # outbound connections to it.
    for n in listed:
        cs = with_node(sts[n.name], n3, bed)
        bad = [brief(c) for c in cs if c["messages_received"] or c["peer_name"]
               or c["established"] or c["direction"] == "in"]
        assert not bad, "%s's node got something from n3: %s" % (n.name, bad)
        assert any(c["direction"] == "out" for c in cs), (
            "%s's node never tried n3: %s" % (n.name, sts[n.name]["connections"]))
        assert not livemesh.dead_links(sts, names), livemesh.dead_links(sts, names)

    fp3 = pub["n3"][1]
    for n in listed:
        st = status_of(seal, bed, n)
        refused = (st.get("failed_handshakes") or {}).get("not_member", 0)
        assert refused >= 2, "%s: failed_handshakes %s, expected not_member >= 2" % (
            n.name, st.get("failed_handshakes"))
        assert st.get("membership") == {"mode": "file", "members": 3, "file": members,
                                        "reloads": 0}, (
            "%s: membership %s" % (n.name, st.get("membership")))
        named = {c.get("fingerprint"): c.get("name") for c in st["connections"]
                 if c.get("state") == "relay"}
        for m in listed:
            if m is not n:
                assert named.get(pub[m.name][1]) == m.name, (
                    "%s: status does not name %s: %s" % (n.name, m.name, st["connections"]))
        assert fp3 not in named, "%s relays a connection of n3: %s" % (n.name, st["connections"])
        log = procs[n.name].stderr()
        for d in ("out", "in"):
            assert re.search(r"failed %s \S+ fingerprint=%s: peer's node key is not in the "
                             r"members list" % (d, fp3), log), (
                "%s's log has no '%s' refusal of n3 (fingerprint %s):\n%s"
                % (n.name, d, fp3, log[-3000:]))
        r = seal.cmd(bed, n, "status", ["--state-dir", bed.node_dir(n)])
        assert "membership: 3 members (%s)" % members in r.stdout, r.stdout
        assert re.search(r"FINGERPRINT\s+NAME\s+DIR", r.stdout), r.stdout
    st3 = status_of(seal, bed, n3)
    assert st3.get("membership") == {"mode": "open", "members": None, "file": None}, st3.get(
        "membership")
    r = seal.cmd(bed, n3, "status", ["--state-dir", bed.node_dir(n3)])
    assert "membership: open" in r.stdout, r.stdout


# ----------------------------------------------------------------- 2. removal by reload

def test_removed_member_loses_its_connections_and_others_keep_theirs(seal, keys, make_bed):
    bed = make_bed(4)
    n0, n1, n2, n3 = bed.nodes
    stay = [n0, n1, n2]
    names = [n.name for n in bed.nodes]
    pub = {n.name: pubkey(seal, bed, n) for n in bed.nodes}
    members = bed.path("members.txt")
    # n3 keeps its own copy: a removed member does not help.
    members3 = bed.path("members-n3.txt")
    write_members(members, [(pub[n][0], n) for n in names])
    write_members(members3, [(pub[n][0], n) for n in names])
    procs = {}
    for n in bed.nodes:
        procs[n.name] = start_live(bed, seal, n, seal.opts(
            bed, n, keys.good, extra=["--members", members3 if n is n3 else members]))
    livemesh.wait_live(lambda: statuses(procs), names, START_BOUND, "four listed nodes",
                       context=lambda: daemon_context(seal, bed, bed.nodes))
    sts = statuses(procs)
    before = {n.name: open_without(sts[n.name], n3, bed) for n in stay}

    write_members(members, [(pub[n][0], n) for n in ("n0", "n1", "n2")])
    t0 = time.monotonic()
    for n in stay:
        r = seal.cmd(bed, n, "reload", ["--state-dir", bed.node_dir(n)])
        out = (r.stdout + r.stderr).strip()
        m = re.search(r"reloaded \S+: 3 members, 0 added, 1 removed, (\d+) connections? reset",
                      r.stdout)
        assert r.returncode == 0 and m, "nodeseal reload on %s: exit %d: %s" % (
            n.name, r.returncode, out)
        assert int(m.group(1)) >= 2, "%s: reload reset %s connections, expected the two with n3" % (
            n.name, m.group(1))
    t_reloaded = time.monotonic()

    # Within the bound: no open connection with n3 left on any side.
    while True:
        sts = statuses(procs)
        left = ["%s: %s" % (n.name, brief(c)) for n in stay
                for c in with_node(sts[n.name], n3, bed) if c["closed"] is None and c["established"]]
        left += ["n3: %s" % brief(c) for c in sts["n3"]["connections"]
                 if c["closed"] is None and c["established"]]
        if not left or time.monotonic() - t_reloaded > REMOVE_BOUND + 3:
            break
        time.sleep(0.1)
    took = time.monotonic() - t_reloaded
    print("\nn3's connections gone %.2fs after the last reload (%.2fs after the first)" % (
        took, time.monotonic() - t0))
    assert not left, "after %.1fs, connections with the removed n3 are still open:\n  %s" % (
        took, "\n  ".join(left))
    assert took <= REMOVE_BOUND, "n3's connections took %.1fs to go, bound %.1fs" % (
        took, REMOVE_BOUND)

    # n3 keeps trying; nothing gets through, and nothing else closes.
    t1 = time.monotonic()
    time.sleep(QUIET_S)
    t2 = time.monotonic()
    sts = statuses(procs)
    again = ["%s: %s" % (n.name, brief(c)) for n in stay for c in with_node(sts[n.name], n3, bed)
             if c["opened"] >= t1 and (c["established"] or c["messages_received"])]
    again += ["n3: %s" % brief(c) for c in sts["n3"]["connections"]
              if c["opened"] >= t1 and (c["established"] or c["messages_received"])]
    assert not again, "the removed n3 connected again:\n  %s" % "\n  ".join(again)
    tried = [c for c in sts["n3"]["connections"] if c["opened"] >= t1 and c["direction"] == "out"]
    assert tried, "n3 did not try to reconnect in %.1fs: the check proves nothing" % QUIET_S
    for n in stay:
        now = open_without(sts[n.name], n3, bed)
        assert now == before[n.name], "%s's connections with n0-n2 changed: before %s, after %s" % (
            n.name, before[n.name], now)
        closed = [brief(c) for c in closed_between(sts[n.name], t0, t2) if c["peer_name"] != "n3"
                  and c["peer_host"] != n3.ip4 and c["target"] != n3.addr()]
        assert not closed, "%s: connections with the others closed: %s" % (n.name, closed)
        st = status_of(seal, bed, n)
        assert st["membership"]["members"] == 3 and st["membership"]["reloads"] == 1, st["membership"]
        assert st["failed_handshakes"].get("not_member", 0) >= 1, st["failed_handshakes"]
        assert not [c for c in st["connections"] if c.get("fingerprint") == pub["n3"][1]], (
            "%s still lists a connection of n3: %s" % (n.name, st["connections"]))
        log = procs[n.name].stderr()
        assert re.search(r"reload: member n3 fingerprint=%s removed" % pub["n3"][1], log), (
            "%s's log does not name the removed member:\n%s" % (n.name, log[-2000:]))
    assert not livemesh.dead_links(sts, ["n0", "n1", "n2"])


# ----------------------------------------------------------------- 3. bad lists

def start_fails(seal, bed, node, opts):
    r = seal.cmd(bed, node, "up", opts)
    return r.returncode, (r.stdout + r.stderr).strip()


def test_bad_members_files(seal, keys, make_bed):
    bed = make_bed(1)
    (n0,) = bed.nodes
    key0, _ = pubkey(seal, bed, n0)
    other = subprocess.run([seal.path, "genkey"], capture_output=True, text=True,
                           env=netbed.clean_env()).stdout.strip()  # any 32 bytes are a key
    path = bed.path("members.txt")
    opts = seal.opts(bed, n0, keys.good, extra=["--members", path])

    with open(path, "w") as f:
        f.write("# nodes\n%s n0\nnot-a-key n1\n" % key0)
    os.chmod(path, 0o644)
    rc, out = start_fails(seal, bed, n0, opts)
    assert rc == 1 and "%s:3: not a public key" % path in out, (rc, out)

    with open(path, "w") as f:
        f.write("%s n0\n%s n1\n%s n2\n" % (key0, other, key0))
    rc, out = start_fails(seal, bed, n0, opts)
    assert rc == 1 and "%s:3: duplicate key, listed already on line 1" % path in out, (rc, out)

    write_members(path, [(key0, "n0"), (other, "n1")], mode=0o664)
    rc, out = start_fails(seal, bed, n0, opts)
    assert rc == 1 and path in out and "writable by group or others" in out, (rc, out)

    # A running daemon: a bad reload keeps the list in force.
    write_members(path, [(key0, "n0"), (other, "n1")])
    p = seal.start_up(bed, n0, opts, "n0-up")
    st = status_of(seal, bed, n0)
    assert st["membership"] == {"mode": "file", "members": 2, "file": path, "reloads": 0}, st
    with open(path, "a") as f:
        f.write("%s n1-again\n" % other)
    r = seal.cmd(bed, n0, "reload", ["--state-dir", bed.node_dir(n0)])
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "%s:4: duplicate key" % path in out and "kept" in out, (
        r.returncode, out)
    st = status_of(seal, bed, n0)
    assert st["membership"]["members"] == 2 and st["membership"]["reloads"] == 0, st["membership"]
    assert p.poll() is None, "the daemon stopped after a bad reload:\n%s" % p.describe()

    write_members(path, [(key0, "n0")])
    r = seal.cmd(bed, n0, "reload", ["--state-dir", bed.node_dir(n0)])
    assert r.returncode == 0 and "1 member, 0 added, 1 removed" in r.stdout, (
        r.returncode, r.stdout, r.stderr)
    assert status_of(seal, bed, n0)["membership"]["members"] == 1

    # SIGHUP to `nodeseal up` reloads, and the daemon keeps running.
    write_members(path, [(key0, "n0"), (other, "n1")])
    p.signal(signal.SIGHUP)
    end = time.monotonic() + 5
    while status_of(seal, bed, n0)["membership"]["members"] != 2:
        assert time.monotonic() < end, "SIGHUP did not reload:\n%s" % p.describe()
        assert p.poll() is None, "SIGHUP stopped nodeseal up:\n%s" % p.describe()
        time.sleep(0.1)
    assert p.poll() is None and "SIGHUP: reloading" in p.stderr()
    seal.cmd(bed, n0, "down", ["--state-dir", bed.node_dir(n0)])
    assert p.wait(10) == 0, p.describe()

    # Under `nodeseal run`, SIGHUP reloads and still reaches the child.
    got = bed.path("child-hup.txt")
    child = ["sh", "-c", "trap 'echo HUP >> %s' HUP; while :; do sleep 0.1; done" % got]
    p = bed.spawn(n0, seal.run_argv(opts, child), "n0-run")
    seal.wait_ready(bed, n0, p)
    write_members(path, [(key0, "n0")])
    p.signal(signal.SIGHUP)
    end = time.monotonic() + 5
    while not (os.path.exists(got) and status_of(seal, bed, n0)["membership"]["members"] == 1):
        assert time.monotonic() < end, "under run, SIGHUP: child saw it %s, members %s\n%s" % (
            os.path.exists(got), status_of(seal, bed, n0)["membership"], p.describe())
        time.sleep(0.1)
    assert p.poll() is None, p.describe()
    seal.cmd(bed, n0, "down", ["--state-dir", bed.node_dir(n0)])
    p.wait(10)


# ----------------------------------------------------------------- 4. the command line

def test_reload_without_daemon_and_members_in_packet_mode(seal, keys, tmp_path):
    env = netbed.clean_env()
    state = tmp_path / "state"
    r = subprocess.run([seal.path, "reload", "--state-dir", str(state)], capture_output=True,
                       text=True, env=env, timeout=10)
    seal.fail_if_unsupported("reload", r.returncode, r.stderr)
    assert r.returncode == 1 and "not running" in r.stderr, (r.returncode, r.stderr)

    members = tmp_path / "members.txt"
    members.write_text("# nobody yet\n")
    os.chmod(str(members), 0o644)
    for sub in (["up"], ["run"]):
        argv = [seal.path] + sub + ["--mode", "packet", "--members", str(members),
                                    "--state-dir", str(state), "--network-key-file", keys.good]
        if sub == ["run"]:
            argv += ["--", "true"]
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=10)
        seal.fail_if_unsupported(sub[0], r.returncode, r.stderr)
        assert r.returncode == 2 and "membership needs proxy mode" in r.stderr, (
            sub, r.returncode, r.stderr)
    # From the environment too (status: it starts nothing, whatever the binary).
    env2 = dict(env, NODESEAL_MODE="packet", NODESEAL_MEMBERS_FILE=str(members))
    r = subprocess.run([seal.path, "status", "--state-dir", str(state)], capture_output=True,
                       text=True, env=env2, timeout=10)
    assert r.returncode == 2 and "NODESEAL_MEMBERS_FILE" in r.stderr and (
        "membership needs proxy mode" in r.stderr), (r.returncode, r.stderr)
