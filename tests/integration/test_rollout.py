"""Rolling nodeseal out node by node (issue 13): `--policy opportunistic`
lets sealed and plain nodes talk while the network is switched over, then
`nodeseal policy required` closes the door without dropping a connection.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -q -p no:cacheprovider tests/integration/test_rollout.py

Each node runs tests/peer/mclive.py: a MultiChain-style peer that keeps every
connection open with ping/pong and writes a status file (tests/integration/
livemesh.py reads it), so a test can tell which links carry messages now and
whether any connection closed in a window.  Every node listens on 7447 and
connects to every other, so each pair of nodes has two connections.

The rollout, in proxy and in packet mode, on a bridge of four nodes:

  1. n0, n1 run `nodeseal run --policy opportunistic -- mclive`; n2, n3 run
     mclive without nodeseal.  Every link carries messages; on the wire the
     n0-n1 traffic is sealed and the pairs with n2 or n3 are in clear;
     n0's status lists n1 sealed, n2 and n3 clear, and --require-sealed
     exits 3.
  2. n2 and n3 switch nodeseal on as a container does: their peer stops and
     comes back under `nodeseal run --policy opportunistic`.  n0 and n1 keep
     running.  Within SEAL_BOUND seconds (measured and printed) every node
     lists every other sealed with no connection in clear, every link
     carries messages, nothing readable is on the wire, and the n0-n1
     connections were never touched.
  3. `nodeseal policy required` on every node: 0 connections in clear reset,
     no connection closes, nothing in clear, --require-sealed exits 0 (a
     peer once listed clear is sealed now: sealed wins, no 120 s hold).

And a plain stranger under `--policy required` still gets nothing; and
`nodeseal policy required` over live clear connections resets them, refuses
the plain peer's new ones and leaves the node's listening socket alone.

Until the implementation lands these tests fail at once, saying which
option or subcommand nodeseal does not have yet.
"""

import json
import re
import time

import pytest

import livemesh
from livemesh import brief, closed_between, dead_links, open_ids, read_status
from mesh import COMMANDS, marker_for
from netbed import PORT

pytestmark = pytest.mark.usefixtures("host_untouched")

MODES = ["proxy", "packet"]
PLAIN_RETRY = 5        # --plain-retry on the nodes (proxy mode)
START_BOUND = 15       # phase 1: every link live within this
SEAL_BOUND = 20        # phase 2: every link sealed and live within this
CAPTURE_S = 2.5        # how long each capture watches the pings
QUIET_S = 3.0          # phase 3: the window in which nothing may close
LIVE_LIFETIME = 240    # mclive --timeout: a leaked peer ends by itself

# Connection states (words in them) that are not, or no longer, an open
# connection: proxy mode lists "connecting" and "handshake" before a
# connection is sealed or found plain; packet mode lists "handshake" and
# keeps flows being ended ("ending") or closed a while.
NOT_OPEN = ("connecting", "handshake", "syn", "clos", "fin", "time", "reset", "rst", "dead", "end")


def open_state(c):
    state = str(c.get("state", "")).lower()
    return not any(w in state for w in NOT_OPEN)


# ----------------------------------------------------------------- helpers

def host_of(text):
    """'10.0.0.1:7447', '[fd00::1]:7447', '10.0.0.1' -> the address."""
    text = str(text)
    if text.startswith("["):
        return text[1:].split("]")[0]
    if text.count(":") == 1:
        return text.split(":")[0]
    return text


def seal_opts(seal, bed, node, key, mode, policy="opportunistic"):
    extra = ["--mode", mode, "--policy", policy]
    if mode == "proxy":
        extra += ["--plain-retry", str(PLAIN_RETRY)]
    return seal.opts(bed, node, key, extra=extra)


def start_live(bed, seal, node, tag, opts=None, targets=None):
    """mclive on node (named as the node, so peers know it by name), under
    `nodeseal run opts` if opts is given; returns once nodeseal answers."""
    others = [m for m in bed.nodes if m is not node] if targets is None else targets
    status = bed.path("live", "%s-%s.json" % (node.name, tag))
    marker = marker_for(bed, node.name)
    argv = livemesh.live_argv(node.name, listen="0.0.0.0:%d" % PORT,
                              connect=[m.addr() for m in others], status=status,
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


def require_sealed(seal, bed, node):
    r = seal.cmd(bed, node, "status", ["--require-sealed", "--state-dir", bed.node_dir(node)])
    return r.returncode, (r.stdout + r.stderr).strip()


def peer_states(st):
    """{address: state} of status --json "peers"."""
    return {host_of(p.get("address")): p.get("state") for p in st.get("peers") or []}


def open_clear(st):
    """The connections status lists as open and not sealed."""
    return [c for c in st.get("connections") or [] if c.get("sealed") is not True and open_state(c)]


def seal_problems(st, node, others):
    """What keeps node's status from saying "every other node sealed, no
    connection in clear" ([] when it says so)."""
    out = []
    peers = peer_states(st)
    for m in others:
        if peers.get(m.ip4) != "sealed":
            out.append("%s lists %s as %r" % (node.name, m.name, peers.get(m.ip4, "absent")))
    summ = st.get("summary") or {}
    if summ.get("clear") != 0:
        out.append("%s: summary %s" % (node.name, summ))
    for c in open_clear(st):
        out.append("%s: connection in clear %s" % (node.name, json.dumps(c, sort_keys=True)))
    return out


def daemon_context(seal, bed, nodes):
    """What the daemons of nodes say, for a failure message."""
    out = []
    for n in nodes:
        st, r = seal.status_json(bed, n)
        if st is None:
            out.append("%s: status exit %d: %s" % (n.name, r.returncode, r.stderr.strip()))
            continue
        keep = {k: st.get(k) for k in ("policy", "peers", "summary", "segments",
                                        "failed_handshakes", "connections") if k in st}
        out.append("%s's nodeseal status: %s" % (n.name, json.dumps(keep, sort_keys=True)[:3000]))
    return "\n".join(out)


def flows_by_pair(scan, names_by_ip):
    """{frozenset({a, b}): {(src name, dst name): payload bytes of that direction}}."""
    pairs = {}
    for (src, sport, dst, dport), chunks in scan.flows.items():
        if PORT not in (sport, dport) or src not in names_by_ip or dst not in names_by_ip:
            continue
        key = frozenset((names_by_ip[src], names_by_ip[dst]))
        d = pairs.setdefault(key, {})
        d[(names_by_ip[src], names_by_ip[dst])] = d.get((names_by_ip[src], names_by_ip[dst]),
                                                        b"") + b"".join(chunks)
    return pairs


def capture_for(bed, name, seconds=CAPTURE_S):
    cap = bed.capture(name)
    time.sleep(seconds)
    cap.stop()
    return cap, cap.scan()


def assert_nothing_readable(cap, scan, markers, what, min_payload=1000):
    hits = scan.find([m.encode() for m in markers] + COMMANDS)
    assert not hits, "%s: plaintext on the wire (%s): %s" % (
        what, scan.summary(), {k: v[:4] for k, v in hits.items()})
    assert cap.stats.get("dropped") == 0, "%s: tcpdump dropped packets: %s" % (what, cap.stats)
    assert scan.stats["truncated"] == 0, scan.summary()
    got = scan.payload_bytes(PORT)
    assert got >= min_payload, "%s: only %d payload bytes on port %d, expected >= %d: %s" % (
        what, got, PORT, min_payload, scan.summary())


# ----------------------------------------------------------------- the rollout

@pytest.mark.parametrize("mode", MODES)
def test_rollout_node_by_node(seal, keys, make_bed, mode):
    bed = make_bed(4)
    n0, n1, n2, n3 = bed.nodes
    names = [n.name for n in bed.nodes]
    by_ip = {n.ip4: n.name for n in bed.nodes}
    t_start = time.monotonic()

    # ---------------------------------------------------------- phase 1
    procs = {}
    for n in (n0, n1):
        procs[n.name] = start_live(bed, seal, n, "sealed", seal_opts(seal, bed, n, keys.good, mode))
    for n in (n2, n3):
        procs[n.name] = start_live(bed, seal, n, "plain")
    took = livemesh.wait_live(lambda: statuses(procs), names, START_BOUND,
                              "phase 1 (n0, n1 opportunistic; n2, n3 plain)",
                              context=lambda: daemon_context(seal, bed, [n0, n1]))
    print("\n[%s] phase 1: all 24 links live %.1fs after the peers started" % (mode, took))

    cap, scan = capture_for(bed, "phase1-" + mode)
    assert cap.stats.get("dropped") == 0, "tcpdump dropped packets: %s" % cap.stats
    pairs = flows_by_pair(scan, by_ip)
    sealed_pair = pairs.get(frozenset(("n0", "n1")), {})
    sealed_bytes = sum(len(v) for v in sealed_pair.values())
    assert sealed_bytes > 500, "phase 1: only %d payload bytes between n0 and n1 (%s)" % (
        sealed_bytes, scan.summary())
    needles = [p.marker.encode() for p in procs.values()] + COMMANDS
    leaks = ["%s->%s carries %r" % (a, b, x) for (a, b), data in sealed_pair.items()
             for x in needles if x in data]
    assert not leaks, "phase 1: the n0-n1 traffic is readable: %s" % leaks
    for a in names:
        for b in names:
            if a == b or {a, b} == {"n0", "n1"}:
                continue
            data = pairs.get(frozenset((a, b)), {}).get((a, b), b"")
            assert procs[a].marker.encode() in data, (
                "phase 1: %s -> %s should be in clear with %s's marker; %d payload bytes, "
                "first 64: %r" % (a, b, a, len(data), data[:64]))

    for n in (n0, n1):
        st = status_of(seal, bed, n)
        other = n1 if n is n0 else n0
        want = {other.ip4: "sealed", n2.ip4: "clear", n3.ip4: "clear"}
        assert st.get("policy") == "opportunistic", "%s: status policy %r" % (n.name, st.get("policy"))
        got = peer_states(st)
        assert got == want, "phase 1: %s's status peers %s, expected %s (peers: %s)" % (
            n.name, got, want, st.get("peers"))
        assert st.get("summary") == {"sealed": 1, "clear": 2}, (
            "phase 1: %s's summary %s" % (n.name, st.get("summary")))
        for p in st["peers"]:
            assert isinstance(p.get("since"), (int, float)) and p["since"] > 0 and p.get("open", 0) >= 1, (
                "phase 1: %s's peer entry %s: expected since > 0 and open >= 1 (two live "
                "connections with each peer); status connections: %s"
                % (n.name, p, json.dumps(st.get("connections"), sort_keys=True)))
        seen = {}  # peer name -> sealed flags of its open connections
        for c in st.get("connections") or []:
            assert isinstance(c.get("sealed"), bool) and isinstance(c.get("since"), (int, float)), (
                "%s: status connection without sealed/since: %s" % (n.name, c))
            host = host_of(c.get("peer"))
            if open_state(c):
                seen.setdefault(by_ip.get(host, host), set()).add(c["sealed"])
        exp = {other.name: {True}, "n2": {False}, "n3": {False}}
        assert {k: seen.get(k) for k in exp} == exp, (
            "phase 1: %s's open connections by peer, sealed flags: %s, expected %s; "
            "connections: %s" % (n.name, seen, exp, st.get("connections")))
        r = seal.cmd(bed, n, "status", ["--state-dir", bed.node_dir(n)])
        assert "policy opportunistic" in r.stdout and "peers: 1 sealed, 2 in clear" in r.stdout, (
            "phase 1: %s's status text:\n%s" % (n.name, r.stdout))
        assert re.search(r"\bSEAL\b", r.stdout) and "CLEAR" in r.stdout, (
            "phase 1: %s's status text has no SEAL column or no CLEAR connection:\n%s"
            % (n.name, r.stdout))
        assert re.search(r"ADDRESS\s+STATE\s+SINCE\s+OPEN", r.stdout), (
            "phase 1: %s's status text has no peers table (ADDRESS STATE SINCE OPEN):\n%s"
            % (n.name, r.stdout))
        rc, out = require_sealed(seal, bed, n)
        assert rc == 3, "phase 1: status --require-sealed on %s exited %d, expected 3: %s" % (
            n.name, rc, out)
    # The node under nodeseal sees every inbound peer, sealed or in clear,
    # from that peer's own address.
    ip_of = {n.name: n.ip4 for n in bed.nodes}
    for name, st in statuses({k: procs[k] for k in ("n0", "n1")}).items():
        wrong = ["%s from %s" % (c["peer_name"], c["peer_host"]) for c in st["connections"]
                 if c["direction"] == "in" and livemesh.is_open(c) and c["peer_name"]
                 and c["peer_host"] != ip_of.get(c["peer_name"])]
        assert not wrong, "phase 1: %s's node sees inbound peers from other addresses: %s" % (
            name, wrong)
    before01 = {n: {i: v for i, v in open_ids(s).items() if v[1] in ("n0", "n1")}
                for n, s in statuses({k: procs[k] for k in ("n0", "n1")}).items()}

    # ---------------------------------------------------------- phase 2
    t_switch = time.monotonic()
    for n in (n2, n3):
        procs[n.name].stop()
        procs[n.name] = start_live(bed, seal, n, "sealed", seal_opts(seal, bed, n, keys.good, mode))
    problems = ["not looked yet"]
    while True:
        problems = []
        for n in bed.nodes:
            problems += seal_problems(status_of(seal, bed, n), n, [m for m in bed.nodes if m is not n])
        problems += dead_links(statuses(procs), names)
        elapsed = time.monotonic() - t_switch
        if not problems or elapsed > SEAL_BOUND + 10:
            break
        time.sleep(0.25)
    print("[%s] phase 2: every link sealed and live %.1fs after n2, n3 switched "
          "(bound %ds, --plain-retry %d)" % (mode, elapsed, SEAL_BOUND, PLAIN_RETRY))
    assert not problems, "phase 2: after %.1fs not every link is sealed and live:\n  %s\n%s" % (
        elapsed, "\n  ".join(problems), daemon_context(seal, bed, bed.nodes))
    assert elapsed <= SEAL_BOUND, "phase 2: took %.1fs to seal every link, bound %ds" % (
        elapsed, SEAL_BOUND)
    st0 = read_status(procs["n0"].status_path)
    for m in ("n2", "n3"):  # how n0's node got there: its connections since the switch
        since = [c for c in st0["connections"] if c["opened"] >= t_switch and
                 c["direction"] == "out" and c["target"] == bed.nodes[int(m[1])].addr()]
        print("[%s]   n0 -> %s since the switch: %d connections, closed: %s" % (
            mode, m, len(since), [c["close_reason"] for c in since if c["closed"]]))

    cap, scan = capture_for(bed, "phase2-" + mode)
    assert_nothing_readable(cap, scan, [p.marker for p in procs.values()], "phase 2")
    pairs = flows_by_pair(scan, by_ip)
    quiet = [sorted(k) for k in (frozenset((a, b)) for a in names for b in names if a < b)
             if sum(len(v) for v in pairs.get(k, {}).values()) == 0]
    assert not quiet, "phase 2: no payload at all between %s (%s)" % (quiet, scan.summary())
    dead = dead_links(statuses(procs), names)
    assert not dead, "phase 2: links quiet after the capture:\n  " + "\n  ".join(dead)
    after01 = {n: {i: v for i, v in open_ids(s).items() if v[1] in ("n0", "n1")}
               for n, s in statuses({k: procs[k] for k in ("n0", "n1")}).items()}
    assert after01 == before01, ("phase 2: the sealed n0-n1 connections changed while n2, n3 "
                                 "switched: before %s, after %s" % (before01, after01))

    # ---------------------------------------------------------- phase 3
    before = {n: open_ids(s) for n, s in statuses(procs).items()}
    t0 = time.monotonic()
    cap = bed.capture("phase3-" + mode)
    for n in bed.nodes:
        r = seal.cmd(bed, n, "policy", ["--state-dir", bed.node_dir(n), "required"])
        out = (r.stdout + r.stderr).strip()
        assert r.returncode == 0 and re.search(
            r"policy required \(was opportunistic\): 0 connections in clear reset", r.stdout), (
            "phase 3: nodeseal policy required on %s: exit %d: %s" % (n.name, r.returncode, out))
        r = seal.cmd(bed, n, "policy", ["--state-dir", bed.node_dir(n)])
        assert r.returncode == 0 and r.stdout.strip() == "policy required", (
            "phase 3: nodeseal policy on %s: exit %d: %r" % (n.name, r.returncode, r.stdout))
    time.sleep(QUIET_S)
    cap.stop()
    t1 = time.monotonic()
    after = statuses(procs)
    for n in names:
        closed = closed_between(after[n], t0, t1)
        assert not closed, "phase 3: %s's connections closed after policy required: %s" % (
            n, [brief(c) for c in closed])
        assert open_ids(after[n]) == before[n], (
            "phase 3: %s's open connections changed: before %s, after %s"
            % (n, before[n], open_ids(after[n])))
    dead = dead_links(after, names)
    assert not dead, "phase 3: links quiet under required:\n  " + "\n  ".join(dead)
    assert_nothing_readable(cap, cap.scan(), [p.marker for p in procs.values()], "phase 3")
    for n in bed.nodes:
        st = status_of(seal, bed, n)
        assert st.get("policy") == "required", "%s: status policy %r" % (n.name, st.get("policy"))
        assert st.get("summary") == {"sealed": 3, "clear": 0}, (
            "phase 3: %s's summary %s" % (n.name, st.get("summary")))
        rc, out = require_sealed(seal, bed, n)
        assert rc == 0, ("phase 3: status --require-sealed on %s exited %d, expected 0 (every peer "
                         "sealed; n2, n3 were listed clear in phase 1 on n0, n1): %s" % (
                             n.name, rc, out))
    print("[%s] phase 3: policy required on 4 nodes, no connection closed in %.1fs; "
          "test took %.1fs" % (mode, t1 - t0, time.monotonic() - t_start))


# ----------------------------------------------------------------- a plain stranger

@pytest.mark.parametrize("mode", MODES)
def test_plain_stranger_under_required_gets_nothing(seal, keys, make_bed, mode):
    """n0 runs nodeseal --policy required, n1 a plain live peer; each
    connects to the other.  Proxy mode: n1's connections are refused
    (failed_handshakes.plain), n0's sealed attempts are closed by n1.  Packet
    mode: n0's node never sees a connection.  Either way no message reaches
    either peer and n0's marker never crosses the wire."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    cap = bed.capture("stranger-" + mode)
    p0 = start_live(bed, seal, n0, "sealed", seal_opts(seal, bed, n0, keys.good, mode, "required"))
    p1 = start_live(bed, seal, n1, "plain")
    time.sleep(4.0)
    s0, s1 = read_status(p0.status_path), read_status(p1.status_path)
    cap.stop()
    scan = cap.scan()

    got0 = [brief(c) for c in s0["connections"] if c["messages_received"] or c["peer_name"]]
    assert not got0, "n0's node received messages from the plain stranger: %s" % got0
    ins0 = [brief(c) for c in s0["connections"] if c["direction"] == "in"]
    assert not ins0, "n0's node saw inbound connections from the plain stranger: %s" % ins0
    got1 = [brief(c) for c in s1["connections"] if c["established"] or c["peer_name"]]
    assert not got1, "the plain stranger completed a handshake: %s" % got1
    hits = scan.find([p0.marker.encode()])
    assert not hits, "n0's marker on the wire: %s (%s)" % (hits, scan.summary())

    st = status_of(seal, bed, n0)
    assert st.get("policy") == "required", "n0: status policy %r" % st.get("policy")
    clear = open_clear(st)
    assert not clear, "n0 lists connections in clear under required: %s" % clear
    if mode == "proxy":
        outs1 = [c for c in s1["connections"] if c["direction"] == "out"]
        assert outs1, "n1 never connected to n0 (connections: %s)" % s1["connections"]
        plain = (st.get("failed_handshakes") or {}).get("plain", 0)
        assert plain >= 1, "n0: failed_handshakes %s, expected plain >= 1" % st.get("failed_handshakes")
        tried = [c for c in s1["connections"] if c["direction"] == "in"]
        assert tried and all("bad magic" in (c["close_reason"] or "") for c in tried
                             if c["closed"]), (
            "n1 should have closed n0's sealed attempts for their bad magic: %s"
            % [brief(c) for c in tried])
    else:
        segs = st.get("segments") or {}
        assert segs.get("no_option", 0) > 0, "n0: segments %s, expected no_option > 0" % segs
    rc, out = require_sealed(seal, bed, n0)
    assert rc == 0, ("n0: status --require-sealed exited %d: a refused plain peer had no "
                     "connection in clear, so none is listed clear: %s" % (rc, out))


# ----------------------------------------------------------------- required over clear links

@pytest.mark.parametrize("mode", MODES)
def test_policy_required_resets_the_clear_connections(seal, keys, make_bed, mode):
    """n0 (opportunistic) and a plain n1 talk in clear; `nodeseal policy
    required` on n0 resets those connections (and says how many), n1's new
    ones are refused, nothing of n0's crosses the wire in clear any more, and
    n0's node keeps its listening socket.  n1 stays listed clear for the
    120 s hold (it never was sealed), so --require-sealed exits 3."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    procs = {"n0": start_live(bed, seal, n0, "sealed", seal_opts(seal, bed, n0, keys.good, mode)),
             "n1": start_live(bed, seal, n1, "plain")}
    livemesh.wait_live(lambda: statuses(procs), ["n0", "n1"], START_BOUND,
                       "n0 opportunistic, n1 plain", context=lambda: daemon_context(seal, bed, [n0]))
    before = status_of(seal, bed, n0)
    t0 = time.monotonic()
    r = seal.cmd(bed, n0, "policy", ["--state-dir", bed.node_dir(n0), "required"])
    m = re.search(r"policy required \(was opportunistic\): (\d+) connections? in clear reset", r.stdout)
    assert r.returncode == 0 and m and int(m.group(1)) >= 2, (
        "nodeseal policy required with two connections in clear: exit %d: %s" % (
            r.returncode, (r.stdout + r.stderr).strip()))
    time.sleep(1.0)
    cap, scan = capture_for(bed, "required-" + mode)
    st = statuses(procs)
    gone = [c for c in st["n0"]["connections"] if c["peer_name"] == "n1" and c["closed"] is None]
    assert not gone, "n0's connections with n1 still open after policy required: %s" % (
        [brief(c) for c in gone])
    live = [c for c in st["n0"]["connections"] if c["established"] and c["opened"] > t0]
    assert not live, "n1 got a connection with n0 after policy required: %s" % (
        [brief(c) for c in live])
    assert not st["n0"].get("accept_errors"), (
        "n0's listening socket broke when the clear connections were reset: %d accept errors, "
        "the last: %s" % (st["n0"]["accept_errors"], st["n0"].get("accept_last_error")))
    hits = scan.find([procs["n0"].marker.encode()])
    assert not hits, "n0's marker on the wire after policy required: %s (%s)" % (
        hits, scan.summary())
    after = status_of(seal, bed, n0)
    assert after.get("policy") == "required", after.get("policy")
    if mode == "proxy":
        b = (before.get("failed_handshakes") or {}).get("plain", 0)
        a = (after.get("failed_handshakes") or {}).get("plain", 0)
        assert a > b, "n1's new connections were not refused as plain: failed_handshakes.plain " \
                      "%d before, %d after" % (b, a)
    else:
        b = (before.get("segments") or {}).get("no_option", 0)
        a = (after.get("segments") or {}).get("no_option", 0)
        assert a > b, "n1's new SYNs were not dropped: segments.no_option %d before, %d after" % (b, a)
    assert peer_states(after).get(n1.ip4) == "clear", (
        "n1 should stay listed clear for the hold: peers %s" % after.get("peers"))
    rc, out = require_sealed(seal, bed, n0)
    assert rc == 3, "status --require-sealed on n0 exited %d, expected 3 (n1 listed clear): %s" % (
        rc, out)
