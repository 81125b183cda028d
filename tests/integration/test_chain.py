"""Membership from the chain (`--members chain`, proxy mode): a peer is let in
only while the MultiChain address it proves holds the connect permission,
asked of the local node's JSON-RPC.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -q -p no:cacheprovider tests/integration/test_chain.py

No real node runs here: each node's "MultiChain" is tests/peer/fakerpc.py
(getinfo, signmessage, verifymessage, listpermissions on 127.0.0.1:7446 in
the node's namespace, with a real Ed25519 scheme of its own and the
permissions in a JSON file the test edits), and its P2P side is
tests/peer/mclive.py under `nodeseal run` (livemesh.py), as in
test_members.py.  nodeseal reads multichain.conf and params.dat that the
fake writes, as it would a real node's.  --chain-refresh 1, so the bound of
a grant or a revocation is 1 s + one RPC timeout (2 s).

  1. n0, n1, n2 hold connect; n3 holds the network key and a node of its own
     that says it holds connect (it lies: the chain the others read does not
     list it).  n3 gets nothing, the others count not_member and name its
     address; then connect is granted to n3 and it gets in without a restart;
     then connect of n2 is revoked (n2's own node does not tell it: the
     others must act): its connections go within the bound and the others
     keep theirs (same mclive connection ids).
  2. Forged proofs: n3 replays n0's own proof (n0's address and signature,
     over n0's key); n3's node is of another chain (its signature is over
     another chain name).  Both refused as bad_proof, nothing admitted.
  3. The RPC: down at start (refused, the log says what nodeseal waits for),
     coming up later (in, no restart; `nodeseal reload` has nothing to
     read); slow, then garbage: refusals counted as chain_unavailable,
     nothing admitted, the daemon still running; an RPC server that keeps
     its connections open is not waited for.
  4. Settings: --members chain in packet mode, or without --chain-dir
     (NODESEAL_MEMBERS=chain), or --chain-refresh 0: exit 2, one line.
"""

import base64
import json
import os
import re
import subprocess
import time

import pytest

import livemesh
import netbed
from livemesh import brief, closed_between, open_ids, read_status
from mesh import assert_capture_clean, marker_for
from netbed import PORT, PYTHON

pytestmark = pytest.mark.usefixtures("host_untouched")

FAKE = os.path.join(netbed.REPO, "tests", "peer", "fakerpc.py")
RPC_PORT = 7446
REFRESH = 1            # --chain-refresh
BOUND = REFRESH + 2.0  # a grant or a revocation takes effect within this (+ the RPC timeout)
START_BOUND = 15
WATCH_S = 4.0
QUIET_S = 3.0
LIVE_LIFETIME = 180


class Chain:
    """The fake chain of a test bed: keys, addresses and the permissions."""

    def __init__(self, bed):
        self.bed = bed
        self.perms = bed.path("perms.json")
        self.connect = {}
        self.write()

    def key(self, node):
        return self.bed.path("fake-%s.key" % node.name)

    def dir(self, node):
        return self.bed.path("chain-%s" % node.name)

    def address(self, node):
        r = subprocess.run([PYTHON, FAKE, "--key-file", self.key(node), "--address"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def write(self, path=None, connect=None):
        path = path or self.perms
        connect = self.connect if connect is None else connect
        with open(path + ".new", "w") as f:
            json.dump({"blocks": 10, "connect": connect}, f)
        os.rename(path + ".new", path)

    def grant(self, *addrs):
        for a in addrs:
            self.connect[a] = [0, 4294967295]
        self.write()

    def revoke(self, addr):
        # As MultiChain shows a revoked permission: both bounds 0.
        self.connect[addr] = [0, 0]
        self.write()

    def start_rpc(self, node, perms=None, extra=()):
        argv = [PYTHON, FAKE, "--dir", self.dir(node), "--port", str(RPC_PORT),
                "--key-file", self.key(node), "--perms", perms or self.perms] + list(extra)
        return self.bed.spawn(node, argv, "rpc-%s" % node.name)

    def opts(self, seal, keys, node):
        return seal.opts(self.bed, node, keys.good, extra=[
            "--members", "chain", "--chain-dir", self.dir(node),
            "--chain-refresh", str(REFRESH)])


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


def with_node(st, node):
    return [c for c in st["connections"]
            if c["peer_name"] == node.name or c["peer_host"] == node.ip4
            or c["target"] == node.addr()]


def open_without(st, node):
    """{id: (direction, peer name)} of st's open connections, those with
    node (even one not yet named) aside."""
    skip = {c["id"] for c in with_node(st, node)}
    return {i: v for i, v in open_ids(st).items() if i not in skip}


def got_anything(st, node=None):
    """st's connections (with node, or all) that carried anything."""
    cs = with_node(st, node) if node is not None else st["connections"]
    return [brief(c) for c in cs if c["messages_received"] or c["peer_name"] or c["established"]]


def context(seal, bed, nodes):
    out = []
    for n in nodes:
        st, r = seal.status_json(bed, n)
        if st is None:
            out.append("%s: status exit %d: %s" % (n.name, r.returncode, r.stderr.strip()))
            continue
        keep = {k: st.get(k) for k in ("membership", "failed_handshakes", "connections")}
        out.append("%s's nodeseal status: %s" % (n.name, json.dumps(keep, sort_keys=True)[:3000]))
    return "\n".join(out)


def wait_rpc_ready(seal, bed, node, timeout=10):
    end = time.monotonic() + timeout
    while True:
        st = status_of(seal, bed, node)
        if st["membership"].get("rpc") == "ready":
            return st
        assert time.monotonic() < end, "%s: RPC not ready: %s" % (node.name, st["membership"])
        time.sleep(0.1)


# ----------------------------------------------------------------- 1. outsider, grant, revoke

def test_connect_permission_admits_grants_and_revokes(seal, keys, make_bed):
    bed = make_bed(4)
    n0, n1, n2, n3 = bed.nodes
    chain = Chain(bed)
    addr = {n.name: chain.address(n) for n in bed.nodes}
    chain.grant(addr["n0"], addr["n1"], addr["n2"])
    # n3's own node claims connect for it: the others' chain does not.
    lying = bed.path("perms-n3.json")
    chain.write(lying, dict(chain.connect, **{addr["n3"]: [0, 4294967295]}))
    # n2's node will not tell it of its revocation: the others must act.
    stubborn = bed.path("perms-n2.json")
    chain.write(stubborn)
    for n in bed.nodes:
        chain.start_rpc(n, perms={"n3": lying, "n2": stubborn}.get(n.name))
    cap = bed.capture("chain-members")
    procs = {n.name: start_live(bed, seal, n, chain.opts(seal, keys, n)) for n in bed.nodes}
    three = ["n0", "n1", "n2"]
    took = livemesh.wait_live(lambda: statuses(procs), three, START_BOUND, "n0-n2",
                              context=lambda: context(seal, bed, bed.nodes))
    time.sleep(WATCH_S)
    sts = statuses(procs)
    print("\nn0-n2 live %.1fs after start; n3 tried for %.1fs" % (took, WATCH_S))
    assert not got_anything(sts["n3"]), "the outsider's node got: %s" % got_anything(sts["n3"])
    assert [c for c in sts["n3"]["connections"] if c["direction"] == "out"], "n3 never tried"
    for name in three:
        assert not got_anything(sts[name], n3), "%s got from n3: %s" % (
            name, got_anything(sts[name], n3))
        st = status_of(seal, bed, [n for n in bed.nodes if n.name == name][0])
        assert st["failed_handshakes"]["not_member"] >= 1, st["failed_handshakes"]
        m = st["membership"]
        assert m["mode"] == "chain" and m["chain"] == "chain1" and m["rpc"] == "ready" and \
            m["address"] == addr[name] and m["own_connect"], m
        r = seal.cmd(bed, [n for n in bed.nodes if n.name == name][0], "status",
                     ["--state-dir", bed.node_dir([n for n in bed.nodes if n.name == name][0])])
        assert "membership: chain chain1, address %s, RPC ready, last refresh " % addr[name] \
            in r.stdout, r.stdout
        assert addr[[o for o in three if o != name][0]] in r.stdout, r.stdout
        peers = {c["chain_address"] for c in st["connections"] if c["state"] == "relay"}
        assert peers == {addr[o] for o in three if o != name}, (name, st["connections"])
        log = procs[name].stderr()
        assert re.search(r"failed (in|out) \S+ fingerprint=\S+: address without connect \(%s\)"
                         % addr["n3"], log), log[-3000:]
    assert not livemesh.dead_links(sts, three)
    cap.stop()
    assert_capture_clean(cap, cap.scan(), [p.marker for p in procs.values()], 10000)

    # n3's node tells the truth now: n3 sees that it lacks connect, and
    # refuses everything itself.
    chain.write(lying)
    end = time.monotonic() + BOUND + 2
    while status_of(seal, bed, n3)["membership"]["own_connect"]:
        assert time.monotonic() < end, status_of(seal, bed, n3)["membership"]
        time.sleep(0.1)
    assert "does NOT hold connect" in procs["n3"].stderr()

    # Grant n3, as the chain's admins would a new node: in within the
    # bound (plus mclive's reconnect), no restart.
    t0 = time.monotonic()
    chain.grant(addr["n3"])
    chain.write(lying)
    chain.write(stubborn)
    four = three + ["n3"]
    took = livemesh.wait_live(lambda: statuses(procs), four, BOUND + 6, "after the grant",
                              context=lambda: context(seal, bed, bed.nodes))
    print("n3 live %.1fs after the grant" % (time.monotonic() - t0))
    sts = statuses(procs)
    keep = ["n0", "n1", "n3"]
    before = {n: open_without(sts[n], n2) for n in keep}

    # Revoke n2: its connections go within the bound, the others stay.
    t1 = time.monotonic()
    chain.revoke(addr["n2"])
    chain.write(lying)
    while True:
        sts = statuses(procs)
        left = ["%s: %s" % (n, brief(c)) for n in keep for c in with_node(sts[n], n2)
                if c["closed"] is None and c["established"]]
        if not left or time.monotonic() - t1 > BOUND + 3:
            break
        time.sleep(0.1)
    gone = time.monotonic() - t1
    print("n2's connections gone %.2fs after the revocation (bound %.1fs)" % (gone, BOUND))
    assert not left, "after %.1fs, connections with revoked n2 open:\n  %s" % (gone, "\n  ".join(left))
    assert gone <= BOUND + 0.5, "revocation took %.1fs, bound %.1fs" % (gone, BOUND)
    t2 = time.monotonic()
    time.sleep(QUIET_S)
    sts = statuses(procs)
    for n in keep:
        now = open_without(sts[n], n2)
        assert now == before[n], "%s's other connections changed: %s -> %s" % (n, before[n], now)
        again = [brief(c) for c in with_node(sts[n], n2) if c["opened"] >= t2
                 and (c["established"] or c["messages_received"])]
        assert not again, "revoked n2 connected again: %s" % again
        closed = [brief(c) for c in closed_between(sts[n], t1, time.monotonic())
                  if c["peer_name"] != "n2" and c["peer_host"] != n2.ip4 and c["target"] != n2.addr()]
        assert not closed, "%s: other connections closed: %s" % (n, closed)
    assert not livemesh.dead_links(sts, keep)
    for n in keep:
        log = procs[n].stderr()
        assert "address %s: no connect permission now" % addr["n2"] in log, log[-3000:]


# ----------------------------------------------------------------- 2. forged proofs

def test_forged_and_replayed_proofs_refused(seal, keys, make_bed):
    bed = make_bed(4)
    n0, n1, n2, n3 = bed.nodes
    chain = Chain(bed)
    addr = {n.name: chain.address(n) for n in bed.nodes}
    chain.grant(addr["n0"], addr["n1"], addr["n2"], addr["n3"])
    pub0 = seal.cmd(bed, n0, "pubkey", ["--state-dir", bed.node_dir(n0)])
    key0 = dict(l.split(None, 1) for l in pub0.stdout.strip().splitlines())["public-key"].strip()
    hex0 = base64.b64decode(key0).hex()
    chain.start_rpc(n0)
    chain.start_rpc(n1)
    # n2: replays n0's proof (n0's address, n0's signature over n0's key).
    chain.start_rpc(n2, extra=["--sign-as", chain.key(n0), "--statement-key", hex0])
    # n3: a node of another chain, whose address holds connect here.
    chain.start_rpc(n3, extra=["--chain", "otherchain"])
    procs = {n.name: start_live(bed, seal, n, chain.opts(seal, keys, n)) for n in bed.nodes}
    livemesh.wait_live(lambda: statuses(procs), ["n0", "n1"], START_BOUND, "n0-n1",
                       context=lambda: context(seal, bed, bed.nodes))
    time.sleep(WATCH_S)
    sts = statuses(procs)
    for name in ("n0", "n1"):
        for bad in (n2, n3):
            assert not got_anything(sts[name], bad), "%s got from %s: %s" % (
                name, bad.name, got_anything(sts[name], bad))
        node = [n for n in bed.nodes if n.name == name][0]
        st = status_of(seal, bed, node)
        assert st["failed_handshakes"]["bad_proof"] >= 2, st["failed_handshakes"]
        forged = [c for c in st["connections"] if c["peer"].split(":")[0] in (n2.ip4, n3.ip4)
                  and c["state"] == "relay"]
        assert not forged, "%s relays with a forger: %s" % (name, forged)
    for bad in ("n2", "n3"):
        assert not got_anything(sts[bad]), "%s's node got: %s" % (bad, got_anything(sts[bad]))
    log = procs["n1"].stderr()
    assert re.search(r"proof of %s does not verify" % addr["n0"], log), log[-3000:]
    assert re.search(r"proof of %s does not verify" % addr["n3"], log), log[-3000:]


# ----------------------------------------------------------------- 3. the RPC down, late, slow, garbage

def test_rpc_down_late_slow_garbage(seal, keys, make_bed):
    bed = make_bed(2)
    n0, n1 = bed.nodes
    chain = Chain(bed)
    addr = {n.name: chain.address(n) for n in bed.nodes}
    chain.grant(addr["n0"], addr["n1"])
    mode = bed.path("mode-n1")
    chain.start_rpc(n0)
    # n1's node is not up yet: its chain directory does not even exist.
    procs = {n.name: start_live(bed, seal, n, chain.opts(seal, keys, n)) for n in bed.nodes}
    time.sleep(WATCH_S)
    sts = statuses(procs)
    for name in ("n0", "n1"):
        assert not got_anything(sts[name]), "%s got: %s" % (name, got_anything(sts[name]))
    st1 = status_of(seal, bed, n1)
    assert st1["membership"]["rpc"] == "waiting", st1["membership"]
    assert st1["failed_handshakes"]["chain_unavailable"] >= 1, st1["failed_handshakes"]
    log = procs["n1"].stderr()
    assert re.search(r"chain: waiting for the node's RPC \(%s/params.dat: No such file"
                     % re.escape(chain.dir(n1)), log), log[-3000:]

    # The node comes up: in, without a restart.
    t0 = time.monotonic()
    chain.start_rpc(n1, extra=["--mode-file", mode])
    livemesh.wait_live(lambda: statuses(procs), ["n0", "n1"], START_BOUND, "after the RPC came up",
                       context=lambda: context(seal, bed, bed.nodes))
    print("\nn0-n1 live %.1fs after n1's RPC came up" % (time.monotonic() - t0))
    r = seal.cmd(bed, n0, "reload", ["--state-dir", bed.node_dir(n0)])
    assert r.returncode == 0 and "membership from the chain" in r.stdout, (r.stdout, r.stderr)

    for bad in ("slow", "garbage"):
        with open(mode, "w") as f:
            f.write(bad)
        # Live connections stay while the RPC is briefly bad; new ones are
        # refused.  Wait until n1 sees it, then make new connections fail.
        end = time.monotonic() + 10
        while status_of(seal, bed, n1)["membership"]["rpc"] != "error":
            assert time.monotonic() < end, status_of(seal, bed, n1)["membership"]
            time.sleep(0.2)
        before = status_of(seal, bed, n1)["failed_handshakes"]["chain_unavailable"]
        t1 = time.monotonic()
        # Past NS_CHAIN_STALE_INTERVALS refreshes + a timeout: the live
        # connections go too, and the nodes' reconnections are refused.
        time.sleep(3 * REFRESH + 2 + 2)
        st1 = status_of(seal, bed, n1)
        assert st1["membership"]["error"], st1["membership"]
        sts = statuses(procs)
        new = [brief(c) for n in ("n0", "n1") for c in sts[n]["connections"]
               if c["opened"] >= t1 and c["established"]]
        assert not new, "%s: admitted: %s" % (bad, new)
        print("%s: membership %s" % (bad, st1["membership"]))
        assert st1["failed_handshakes"]["chain_unavailable"] > before, st1["failed_handshakes"]
        assert procs["n1"].poll() is None
        with open(mode, "w") as f:
            f.write("ok")
        wait_rpc_ready(seal, bed, n1)
    # A node that keeps its HTTP connections open is not waited for.
    with open(mode, "w") as f:
        f.write("keepalive")
    time.sleep(0.5)
    first = status_of(seal, bed, n1)["membership"]
    time.sleep(3 * REFRESH + 0.5)
    m = status_of(seal, bed, n1)["membership"]
    assert m["rpc"] == "ready" and m["last_refresh"] >= first["last_refresh"] + 2, (first, m)
    log = procs["n1"].stderr()
    assert "no answer in time" in log, log[-3000:]
    assert re.search(r"not a JSON object|not HTTP|answer too large|not a list|no handshakelocal",
                     log), log[-3000:]


# ----------------------------------------------------------------- 4. settings

def test_chain_settings_refused_clearly(seal, keys, make_bed):
    bed = make_bed(1)
    (n0,) = bed.nodes
    base = seal.opts(bed, n0, keys.good)
    r = seal.cmd(bed, n0, "up", base + ["--mode", "packet", "--members", "chain",
                                        "--chain-dir", bed.path("chain")])
    err = (r.stdout + r.stderr).strip()
    assert r.returncode == 2 and "packet mode has no per-node keys" in err, (r.returncode, err)
    assert len(err.splitlines()) == 1, err
    r = seal.cmd(bed, n0, "up", base, env={"NODESEAL_MEMBERS": "chain"})
    err = (r.stdout + r.stderr).strip()
    assert r.returncode == 2 and "--members chain needs --chain-dir" in err, (r.returncode, err)
    r = seal.cmd(bed, n0, "up", base + ["--chain-refresh", "0"],
                 env={"NODESEAL_MEMBERS": "chain", "NODESEAL_CHAIN_DIR": bed.path("chain")})
    err = (r.stdout + r.stderr).strip()
    assert r.returncode == 2 and "--chain-refresh" in err, (r.returncode, err)
