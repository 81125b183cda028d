"""An on-path attacker who tries to downgrade nodeseal to clear text (issue 13).

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -s -p no:cacheprovider tests/integration/test_downgrade.py

The topology, the attacker and the applications are test_attack.py's
(netbed.RoutedBed, netbed.Tamper, tests/tools/attack_app.py):

    A 10.81.1.1 --- [R: FORWARD -p tcp -> NFQUEUE 0, tests/tools/tamper.c] --- 10.81.2.1 B

with an application server and client in each of A and B, so that the nodes
connect both ways (A -> B:7447 and B -> A:7447).  Every stream the
applications send starts with a MultiChain `version` header (attack_app.py
--prefix-hex), then the marker-carrying content: a connection carried in
clear looks to nodeseal like a plain MultiChain peer's, and its marker shows
on the wire.

The attacker (tamper.c "downgrade"):
  * proxy mode, "rst": every connection of port 7447 whose first payload
    segment is not a plain MultiChain header (nodeseal's first handshake
    message) is reset, both ways, and black-holed;
  * packet mode, "strip": the nodeseal TCP option is overwritten with NOPs in
    every SYN and SYN-ACK.
Proxy mode also gets an impersonation probe: R opens a plain connection to
B:7447 with A's address as source (SNAT on R, R's own traffic: not queued)
and sends a `version` header, as a downgrading attacker would once the real
handshakes fail.

What is asserted (both nodes `--policy opportunistic` unless said):
  * test_attacker_leaves_plain_peers_alone: the attacker's control, no
    nodeseal: "rst" passes the applications' streams (header first) both
    ways and resets a client that sends no header; "strip" changes nothing.
Per mode:
  * test_sealed_pair_stays_sealed: with no attack a connection each way is
    sealed (status: the peer "sealed"); with the attack every new connection
    each way fails (reset, refused or timed out at the application), no
    connection reaches the other node's application, the downgrade counter
    (failed_handshakes.downgrade / segments.downgrade) rises and the peer stays
    sealed; the impersonation probe is refused; after both daemons restart
    (STATE_DIR/peers) the same holds.  The capture on R never holds the
    marker.  Then B forgets A (`nodeseal forget all`): A still refuses both
    ways and nothing of A's leaves in clear; B's own connections to A are
    B's memory's to guard: in proxy mode their first bytes cross R in clear
    before A refuses them (asserted to be only those), in packet mode no
    connection comes up (asserted: no marker).
  * test_never_sealed_pair_goes_clear: a pair with no sealed memory, under
    the attack from the start, ends up clear: the transfers complete, status
    lists the peer as "clear", and the marker IS on the wire.  This is what
    opportunistic gives against an on-path attacker (docs/SECURITY.md,
    "Downgrade"), asserted so that the document stays honest.
  * test_required_refuses: `--policy required` under the attack: every
    connection fails, nothing in clear (and the probe is refused).

Processes are stopped by PID; namespaces are nsatk-<pid>-<hex>-{a,r,b}, removed
at teardown.
"""

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import time

import pytest

from netbed import (ATTACK_APP as APP, A_IP, B_IP, PLAIN_PORT, PORT, PYTHON, RB_IP, RoutedBed,
                    RouterCapture, Tamper, TrialCtx, pcap_streams, private_tools, start_daemon,
                    stream_has_marker)

MODES = ["proxy", "packet"]
C2S_LEN = S2C_LEN = 3000
TRY_TIMEOUT = 3.0          # an application's limit per connection under the attack
OK_TIMEOUT = 8.0           # ... and for one that should go through
HANDSHAKE_TIMEOUT = 3
ATTEMPT_ROUNDS = 2         # rounds of one new connection each way, per phase


def _dsha256(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


MC_MAGIC = bytes.fromhex("fbb4c7de")   # mcpeer.py's default
# a MultiChain message header: magic, command "version" NUL-padded to 12,
# payload length 0 (little endian), checksum of the empty payload
VERSION_HEADER = MC_MAGIC + b"version".ljust(12, b"\0") + struct.pack("<I", 0) + _dsha256(b"")[:4]
PROBE_BYTES = VERSION_HEADER + b"DOWNGRADE-PROBE-FROM-R\n" * 8


class DgCtx(TrialCtx):
    def __init__(self, bed, seal, keyfile):
        super().__init__(bed, seal)
        self.keyfile = keyfile
        self.daemons = {}
        self.mode = None
        h = bed.ns(bed.a, seal, "up", "--help", check=False)
        # without --policy (before issue 13) the default is required: the
        # required tests run on such a binary, the others fail on its status
        self.has_policy = "--policy" in h.stdout + h.stderr
        self.ip = {"A": A_IP, "B": B_IP}
        self.other = {"A": "B", "B": "A"}

    def start(self, mode, policy, state_tag):
        """Both daemons in mode under policy, with state dirs named by
        state_tag (a new tag: no sealed memory)."""
        self.mode = mode
        self.policy = policy
        for node in ("A", "B"):
            self.state[node] = os.path.join(self.bed.dir, "state-%s-%s" % (state_tag, node))
            self.daemons[node] = start_daemon(self.bed, self.nsname[node], self.seal,
                                              self.opts(), self.state[node],
                                              "nodeseal-%s-%s" % (state_tag, node))

    def opts(self):
        o = ["--network-key-file", self.keyfile]
        if self.mode == "packet":
            o += ["--mode", "packet"]
        else:
            o += ["--handshake-timeout", str(HANDSHAKE_TIMEOUT)]
        if self.policy != "required" or self.has_policy:
            o += ["--policy", self.policy]
        return o

    def stop(self):
        """Both daemons: SIGTERM by PID (they remove their rules), then
        `nodeseal down` for what a failed stop left."""
        for node, p in list(self.daemons.items()):
            if p.p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.p.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            p.stop()
            self.bed.ns(self.nsname[node], self.seal, "down", "--state-dir", self.state[node],
                        *(["--mode", "packet"] if self.mode == "packet" else []),
                        check=False, timeout=20)
        self.daemons = {}

    def restart(self):
        tag = {n: self.state[n] for n in ("A", "B")}
        mode, policy = self.mode, self.policy
        self.stop()
        self.mode, self.policy = mode, policy
        for node in ("A", "B"):
            self.state[node] = tag[node]
            self.daemons[node] = start_daemon(self.bed, self.nsname[node], self.seal,
                                              self.opts(), self.state[node],
                                              "nodeseal-restarted-%s-%d" % (node, time.time()))

    def counters(self):
        """{node: {name: value}} of the counters this mode's downgrade shows in."""
        out = {}
        for node in ("A", "B"):
            st = self.status(node)
            out[node] = dict(st.get("segments", {}) if self.mode == "packet"
                             else st.get("failed_handshakes", {}))
            out[node]["refused"] = st.get("refused", 0)
        return out


def peer_state(st, ip):
    for p in st.get("peers") or []:
        if p.get("address") == ip:
            return p.get("state")
    return None


def require_sealed_rc(c, node):
    """`nodeseal status --require-sealed`'s exit status in node (3: a peer in clear)."""
    r = c.bed.ns(c.nsname[node], c.seal, "status", "--require-sealed", "--state-dir",
                 c.state[node], check=False, timeout=10)
    return r.returncode


def peers_of(c):
    return {n: c.status(n).get("peers") for n in ("A", "B")}


def delta(after, before):
    return {n: {k: v - before[n].get(k, 0) for k, v in after[n].items() if v - before[n].get(k, 0)}
            for n in after}


@pytest.fixture(scope="module")
def dctx(tmp_path_factory):
    tmp, seal, tamper_bin, keyfile = private_tools(tmp_path_factory, "test_downgrade.py",
                                                   "downgrade")
    bed = RoutedBed(tmp)
    c = None
    try:
        bed.setup()
        c = DgCtx(bed, seal, keyfile)
        c.tamper = Tamper(bed, bed.r, [tamper_bin, "-q", "0", "-p", str(PORT)], "tamper")
        assert c.tamper.get(10) == "ready"
        bed.ns(bed.r, "iptables", "-A", "FORWARD", "-p", "tcp", "-j", "NFQUEUE",
               "--queue-num", "0")
        # the impersonation probe: R's own connections to B:7447 leave with A's address
        bed.ns(bed.r, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "rb", "-s", RB_IP,
               "-d", B_IP, "-p", "tcp", "--dport", str(PORT), "-j", "SNAT",
               "--to-source", A_IP)
        pre = ["--prefix-hex", VERSION_HEADER.hex()]
        c.server, c.client = {}, {}
        for node, peer_ip in (("A", B_IP), ("B", A_IP)):
            ns = c.nsname[node]
            c.server[node] = bed.spawn(ns, [PYTHON, APP, "server", "--listen",
                                            "0.0.0.0:%d" % PORT, "--plain-port", str(PLAIN_PORT),
                                            "--conn-timeout", "6"] + pre,
                                       "server-" + node, json_lines=True)
            c.client[node] = bed.spawn(ns, [PYTHON, APP, "client", "--connect",
                                            "%s:%d" % (peer_ip, PORT)] + pre,
                                       "client-" + node, json_lines=True)
        # a client that sends no header (the attacker's control)
        c.bare = bed.spawn(bed.a, [PYTHON, APP, "client", "--connect", "%s:%d" % (B_IP, PORT)],
                           "client-bare", json_lines=True)
        for p in list(c.server.values()) + list(c.client.values()) + [c.bare]:
            assert p.get(10) == {"ready": True}, p.stderr()
        yield c
    finally:
        if c is not None:
            try:
                c.stop()
            except Exception as e:   # the namespaces go anyway
                print("teardown of the daemons: %s" % e)
        bed.teardown()


@pytest.fixture
def run(dctx):
    """One test's share of the bed: the attacker off at the start, a capture on
    R (stopped and scanned by the test), the daemons stopped at the end."""
    c = dctx
    c.tamper.expect("downgrade off", "downgrade mode=off")
    c.caps = []
    yield c
    for cap in c.caps:
        if not getattr(cap, "scanned", False):
            cap.stop()
    c.tamper.expect("downgrade off", "downgrade mode=off")
    c.stop()


def capture(c, name):
    cap = RouterCapture(c.bed, name, "any", "tcp")
    c.caps.append(cap)
    # the scan's positive control: the marker in clear on an unprotected port
    r = c.client["A"].request("plain %d %d %d" % (c.tid(), C2S_LEN, PLAIN_PORT))
    assert r.get("send_end") == "ok", "control connection to port %d: %s" % (PLAIN_PORT, r)
    return cap


def scan(cap):
    """(marker flows on PORT, whether the control flow on PLAIN_PORT showed it,
    packets tcpdump dropped)."""
    cap.stop()
    cap.scanned = True
    streams = pcap_streams(cap.path)
    ctl = any(stream_has_marker(st) for k, sts in streams.items() if PLAIN_PORT in (k[1], k[3])
              for st in sts)
    hits = ["%s:%d>%s:%d" % k for k, sts in streams.items() if PORT in (k[1], k[3])
            and any(stream_has_marker(st) for st in sts)]
    return hits, ctl, cap.dropped


def both_ways(c, timeout, c2s=C2S_LEN, s2c=S2C_LEN):
    """One new connection A -> B and one B -> A at the same time, by the node
    applications; {"A->B": (client result, server conns), "B->A": ...}."""
    tids = {}
    for node in ("A", "B"):
        tid = c.tid()
        tids[node] = tid
        srv = c.server[c.other[node]]
        assert srv.request("expect %d %d %d" % (tid, c2s, s2c)) == {"ok": tid}
    # the two servers each expect one trial at a time: the second expect above
    # is the other server's, so both are armed
    for node in ("A", "B"):
        c.client[node].send("run %d %d %d %s" % (tids[node], c2s, s2c, timeout))
    out = {}
    for node in ("A", "B"):
        cli = c.client[node].get(timeout + 10)
        srv = c.server[c.other[node]].request("report %d 0.5" % tids[node], timeout=15)
        out["%s->%s" % (node, c.other[node])] = (cli, srv["conns"])
    return out


def brief(res):
    return {k: {"client": {x: cli.get(x) for x in ("connected", "end", "send_end", "received",
                                                   "complete")},
                "server_conns": [{x: s.get(x) for x in ("received", "end", "complete")}
                                 for s in srv]}
            for k, (cli, srv) in res.items()}


def assert_all_failed(res, what):
    for k, (cli, srv) in res.items():
        assert not cli.get("complete"), "%s: %s completed:\n%s" % (what, k, brief(res))
        assert cli.get("received", 0) == 0, "%s: %s's client received %d bytes:\n%s" % (
            what, k, cli.get("received"), brief(res))
        assert not srv or all(s.get("received", 0) == 0 for s in srv), (
            "%s: %s reached the other node's application:\n%s" % (what, k, brief(res)))
        # refused, reset, or no answer at all (a dropped SYN: connect times out)
        assert cli.get("end") != "eof" or cli.get("saw_reset"), (
            "%s: %s ended with a clean EOF, not a refusal:\n%s" % (what, k, brief(res)))


def assert_all_complete(res, what):
    for k, (cli, srv) in res.items():
        assert cli.get("complete") and len(srv) == 1 and srv[0].get("complete"), (
            "%s: %s did not complete:\n%s" % (what, k, brief(res)))


def probe(c, timeout=2.0):
    """The impersonation probe: from R, a plain MultiChain header to B:7447
    with A's address as source; what came back."""
    code = ("import json,socket,sys,time\n"
            "s=socket.socket(); s.settimeout(%r)\n"
            "r={}\n"
            "try:\n"
            "  s.connect((%r,%d)); r['connected']=True; s.sendall(bytes.fromhex(%r))\n"
            "  got=b''\n"
            "  while True:\n"
            "    x=s.recv(4096)\n"
            "    if not x: r['end']='eof'; break\n"
            "    got+=x\n"
            "  r['received']=len(got)\n"
            "except OSError as e:\n"
            "  r['end']=type(e).__name__\n"
            "print(json.dumps(r))\n") % (timeout, B_IP, PORT, PROBE_BYTES.hex())
    accepted0 = c.server["B"].request("stats")["accepted"]
    r = c.bed.ns(c.bed.r, PYTHON, "-c", code, timeout=timeout + 10, check=False)
    res = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {"err": r.stderr}
    time.sleep(0.2)
    res["b_app_accepted"] = c.server["B"].request("stats")["accepted"] - accepted0
    return res


def dgstats(c):
    line = c.tamper.expect("dgstats", "dgstats ")
    return {k: (int(v) if v.isdigit() else v) for k, v in re.findall(r"(\w+)=(\S+)", line)}


def attack_on(c, mode):
    m = "rst" if mode == "proxy" else "strip"
    c.tamper.expect("downgrade " + m, "downgrade mode=" + m)


def counter_name(mode):
    return "segments.downgrade" if mode == "packet" else "failed_handshakes.downgrade"


# ------------------------------------------------------------------ the attacker alone

def test_attacker_leaves_plain_peers_alone(run):
    """No nodeseal: under "rst" the node applications (a MultiChain header
    first) get through untouched, a client without it is reset; under "strip"
    everything goes through (no option to strip)."""
    c = run
    cap = capture(c, "plain-peers")
    attack_on(c, "proxy")
    s0 = dgstats(c)
    res = both_ways(c, OK_TIMEOUT)
    assert_all_complete(res, "plain peers under the rst attacker")
    tid = c.tid()
    assert c.server["B"].request("expect %d %d %d" % (tid, C2S_LEN, S2C_LEN)) == {"ok": tid}
    bare = c.bare.request("run %d %d %d %s" % (tid, C2S_LEN, S2C_LEN, TRY_TIMEOUT),
                          timeout=TRY_TIMEOUT + 10)
    srv = c.server["B"].request("report %d 1" % tid)["conns"]
    s1 = dgstats(c)
    # The server answers at once, with the header: the client may have read
    # all of it, and the server's FIN, before the router's reset arrives, so
    # the reset is asserted at the server, whose first byte in never came.
    assert not bare.get("complete"), "a connection without the header under the rst " \
        "attacker completed: %s" % bare
    assert len(srv) == 1 and srv[0].get("received", 0) == 0 and srv[0].get("saw_reset"), (
        "server side of the connection without the header: %s (client %s)" % (srv, bare))
    assert s1["killed"] - s0["killed"] == 1 and s1["plain"] - s0["plain"] >= 4, (
        "tamper counted %s -> %s (expected 1 kill, 4 or 5 directions plain)" % (s0, s1))
    c.tamper.expect("downgrade strip", "downgrade mode=strip")
    res = both_ways(c, OK_TIMEOUT)
    assert_all_complete(res, "plain peers under the strip attacker")
    s2 = dgstats(c)
    assert s2["stripped"] == s1["stripped"], "stripped an option from plain SYNs: %s" % s2
    hits, ctl, dropped = scan(cap)
    assert ctl, "capture blind: no marker on the control connection to port %d" % PLAIN_PORT
    assert len(hits) >= 4, "plain peers' marker seen in only %s" % hits
    print("\nplain peers: %s; tamper %s" % (brief(res), s2))


# ------------------------------------------------------------------ sealed before

def attack_round(c, mode, label, counters0):
    """ATTEMPT_ROUNDS rounds both ways under the attack; the counters' rise."""
    results = []
    for i in range(ATTEMPT_ROUNDS):
        res = both_ways(c, TRY_TIMEOUT)
        results.append(res)
        assert_all_failed(res, "%s, round %d" % (label, i + 1))
    time.sleep(0.3)
    d = delta(c.counters(), counters0)
    return results, d


@pytest.mark.parametrize("mode", MODES)
def test_sealed_pair_stays_sealed(run, mode):
    c = run
    t0 = time.monotonic()
    c.start(mode, "opportunistic", "sealed-" + mode)
    cap = capture(c, "sealed-" + mode)
    # 1: no attack: sealed both ways
    res = both_ways(c, OK_TIMEOUT)
    assert_all_complete(res, "no attack")
    time.sleep(0.3)
    sa, sb = c.status("A"), c.status("B")
    assert sa.get("policy") == "opportunistic", "A's status policy: %r" % sa.get("policy")
    assert peer_state(sa, B_IP) == "sealed" and peer_state(sb, A_IP) == "sealed", (
        "after sealed connections: A's peers %s, B's peers %s" % (sa.get("peers"), sb.get("peers")))

    # 2: the attack
    attack_on(c, mode)
    k0 = dgstats(c)
    n0 = c.counters()
    results, d = attack_round(c, mode, "sealed pair under the attack", n0)
    k1 = dgstats(c)
    hit = "killed" if mode == "proxy" else "stripped"
    assert k1[hit] > k0[hit], "the attacker did nothing: %s -> %s" % (k0, k1)
    peers = peers_of(c)
    name = counter_name(mode).split(".")[1]
    rose = sum(d[n].get(name, 0) for n in ("A", "B"))
    print("\n%s, attack: tamper %s -> %s; counters rose %s; peers %s" % (mode, k0, k1, d, peers))
    assert rose > 0, "%s did not rise on either side under the attack: rises %s" % (
        counter_name(mode), d)
    assert peer_state({"peers": peers["A"]}, B_IP) == "sealed" and \
        peer_state({"peers": peers["B"]}, A_IP) == "sealed", (
            "under the attack: A's peers %s, B's peers %s" % (peers["A"], peers["B"]))
    if mode == "proxy":
        n1 = c.counters()
        pr = probe(c)
        d2 = delta(c.counters(), n1)
        assert pr.get("b_app_accepted") == 0 and not pr.get("received"), (
            "the impersonation probe (plain, from A's address) reached B's node: %s" % pr)
        assert d2["B"].get("downgrade", 0) >= 1, (
            "B did not count the impersonation probe as a downgrade: probe %s, B's rises %s"
            % (pr, d2["B"]))

    # 3: both daemons restart; the memory is in STATE_DIR/peers
    c.restart()
    files = {}
    for n in ("A", "B"):
        path = os.path.join(c.state[n], "peers")
        files[n] = open(path, errors="replace").read() if os.path.exists(path) else None
    sa, sb = c.status("A"), c.status("B")
    assert peer_state(sa, B_IP) == "sealed" and peer_state(sb, A_IP) == "sealed", (
        "after the restart: A's peers %s, B's peers %s; peers files %s"
        % (sa.get("peers"), sb.get("peers"), files))
    n0 = c.counters()
    results2, d = attack_round(c, mode, "sealed pair under the attack, after a restart", n0)
    peers = peers_of(c)
    rose = sum(d[n].get(name, 0) for n in ("A", "B"))
    print("%s, after the restart: counters rose %s; peers %s" % (mode, d, peers))
    assert rose > 0, "%s did not rise after the restart: rises %s" % (counter_name(mode), d)
    assert peer_state({"peers": peers["A"]}, B_IP) == "sealed" and \
        peer_state({"peers": peers["B"]}, A_IP) == "sealed", (
            "after the restart, under the attack: A's peers %s, B's peers %s"
            % (peers["A"], peers["B"]))

    rcs = {n: require_sealed_rc(c, n) for n in ("A", "B")}
    assert rcs == {"A": 0, "B": 0}, "status --require-sealed exit statuses %s" % rcs

    hits, ctl, dropped = scan(cap)
    assert ctl, "capture blind: no marker on the control connection to port %d" % PLAIN_PORT
    assert dropped == 0, "tcpdump dropped %s packets" % dropped
    assert not hits, "the marker crossed R in clear in %s" % hits

    # 4: one side forgets (B: `nodeseal forget all`).  A's memory still
    # refuses everything, both ways: nothing reaches either application, and
    # nothing A sends leaves in clear.  What B sends is B's memory's to
    # protect: in proxy mode B's daemon, its handshake cut, retries in clear
    # and the node's first bytes cross R before A refuses them (asserted as
    # such, docs/SECURITY.md "Downgrade"); in packet mode A drops B's
    # option-less SYN-ACK or stripped SYN, and no TCP connection comes up.
    cap4 = capture(c, "forgot-" + mode)
    r = c.bed.ns(c.nsname["B"], c.seal, "forget", "--state-dir", c.state["B"], "all",
                 check=False, timeout=10)
    assert r.returncode == 0, "nodeseal forget all in B: %s%s" % (r.stdout, r.stderr)
    sb = c.status("B")
    assert peer_state(sb, A_IP) != "sealed", "B still lists A sealed after forget all: %s" % (
        sb.get("peers"))
    n0 = c.counters()
    results3, d = attack_round(c, mode, "under the attack, B having forgotten A", n0)
    peers = peers_of(c)
    hits4, ctl4, dropped4 = scan(cap4)
    print("%s, B forgot: counters rose %s; peers %s; marker on the wire in %s" % (
        mode, d, peers, hits4))
    assert peer_state({"peers": peers["A"]}, B_IP) == "sealed", (
        "A's peers after B forgot, under the attack: %s" % peers["A"])
    assert d["A"].get(name, 0) > 0, "A did not count a downgrade once B forgot: rises %s" % d
    assert ctl4 and dropped4 == 0, "capture blind (%s) or dropping (%s)" % (ctl4, dropped4)
    not_b_out = [h for h in hits4 if not h.startswith(B_IP + ":") or
                 not h.endswith(">%s:%d" % (A_IP, PORT))]
    assert not not_b_out, "after B forgot, the marker crossed R in clear in flows other than " \
        "B's connections to A:%d: %s" % (PORT, not_b_out)
    if mode == "packet":
        assert not hits4, "packet mode, B forgot: the marker crossed R in %s" % hits4
    c.forgot_leaks = hits4
    results2 += results3

    print("%s: application ends seen %s; %.1fs" % (
        mode, sorted(set("%s/%s" % (cli.get("end"), cli.get("send_end"))
                         for r in results + results2 for cli, _ in r.values())),
        time.monotonic() - t0))


# ------------------------------------------------------------------ never sealed

@pytest.mark.parametrize("mode", MODES)
def test_never_sealed_pair_goes_clear(run, mode):
    """What opportunistic gives, and no more: a pair that never sealed, under
    the attack from its first connection, talks in clear."""
    c = run
    t0 = time.monotonic()
    attack_on(c, mode)
    c.start(mode, "opportunistic", "never-" + mode)
    cap = capture(c, "never-" + mode)
    seen = []
    done = set()
    for _ in range(3):
        res = both_ways(c, OK_TIMEOUT)
        seen.append(brief(res))
        done |= {k for k, (cli, srv) in res.items()
                 if cli.get("complete") and len(srv) == 1 and srv[0].get("complete")}
        if len(done) == 2:
            break
    k = dgstats(c)
    time.sleep(0.3)
    sa, sb = c.status("A"), c.status("B")
    hits, ctl, dropped = scan(cap)
    print("\n%s, never sealed, under the attack: tamper %s; peers A %s B %s; marker in %d flows"
          % (mode, k, sa.get("peers"), sb.get("peers"), len(hits)))
    assert len(done) == 2, "a never-sealed pair under the attack did not get through in clear " \
        "both ways (done %s):\n%s" % (sorted(done), seen)
    assert peer_state(sa, B_IP) == "clear" and peer_state(sb, A_IP) == "clear", (
        "A's peers %s, B's peers %s" % (sa.get("peers"), sb.get("peers")))
    # what a health check sees
    rcs = {n: require_sealed_rc(c, n) for n in ("A", "B")}
    assert rcs == {"A": 3, "B": 3}, "status --require-sealed exit statuses %s (3 expected: " \
        "a peer in clear)" % rcs
    assert ctl, "capture blind: no marker on the control connection to port %d" % PLAIN_PORT
    assert hits, "no marker on the wire, yet the transfers went through: the attack did not " \
        "downgrade (tamper %s)" % k
    assert k["killed" if mode == "proxy" else "stripped"] > 0, "the attacker did nothing: %s" % k
    print("%s: %.1fs" % (mode, time.monotonic() - t0))


# ------------------------------------------------------------------ required

@pytest.mark.parametrize("mode", MODES)
def test_required_refuses(run, mode):
    c = run
    t0 = time.monotonic()
    attack_on(c, mode)
    c.start(mode, "required", "required-" + mode)
    cap = capture(c, "required-" + mode)
    k0 = dgstats(c)
    n0 = c.counters()
    results, d = attack_round(c, mode, "required under the attack", n0)
    k1 = dgstats(c)
    assert k1["killed" if mode == "proxy" else "stripped"] > k0["killed" if mode == "proxy"
                                                              else "stripped"], (
        "the attacker did nothing: %s -> %s" % (k0, k1))
    peers = peers_of(c)
    assert not any(p.get("state") == "clear" for n in ("A", "B") for p in (peers[n] or [])), (
        "a clear peer under --policy required: %s" % peers)
    pr = None
    if mode == "proxy":
        n1 = c.counters()
        pr = probe(c)
        d2 = delta(c.counters(), n1)
        assert pr.get("b_app_accepted") == 0 and not pr.get("received"), (
            "the plain probe reached B's node under required: %s" % pr)
        if c.has_policy:
            assert d2["B"].get("plain", 0) >= 1, (
                "B did not count the plain probe as failed_handshakes.plain: probe %s, B's "
                "rises %s" % (pr, d2["B"]))
    hits, ctl, dropped = scan(cap)
    print("\n%s, required, under the attack: tamper %s; counters rose %s; probe %s; %.1fs"
          % (mode, k1, d, pr, time.monotonic() - t0))
    assert ctl, "capture blind: no marker on the control connection to port %d" % PLAIN_PORT
    assert not hits, "the marker crossed R in clear in %s" % hits
