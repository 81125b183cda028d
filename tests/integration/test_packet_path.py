"""Packet mode between an attacker and a faulty path (issue 6).

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -s -p no:cacheprovider tests/integration/test_packet_path.py

The topology, the attacker and the applications are test_attack.py's (netbed.RoutedBed,
netbed.Tamper, tests/tools/attack_app.py):

    A 10.81.1.1 --- [R: FORWARD -p tcp -> NFQUEUE 0, tests/tools/tamper.c] --- 10.81.2.1 B

but A and B run `nodeseal up --mode packet` (same network key), so the
connection from the client in A to the server in B (port 7447) is one TCP
connection end to end, each segment sealed in place.  A trial is one
connection: each side sends 6000 bytes that the other checks byte by byte
(tests/tools/attack_app.py), with one attack armed in tamper.c.

What packet mode must do with each attack, and what is asserted per trial:

  * corrupted bytes delivered to either application == 0, always, and no
    message fails its SHA-256;
  * a segment changed in flight (flip, rand, replay, xreplay, inject), a
    segment forged from R (forge: plain text ahead of the real one, at its
    sequence number or just past it) and a reset forged in place of a
    segment (trunc 1) fail the MAC at the receiving daemon and are dropped
    (its bad_mac counter rises); the sender retransmits, so the transfer
    completes intact at both ends;
  * one dropped segment (drop) does no harm either;
  * a stream cut with a forged FIN and a black hole after it (trunc 0), or
    with a forged reset and a black hole (trunc 2): no application sees a
    clean end of a cut stream (the forged FIN never reaches it);
  * each attack fires at most once, and in at least 90% of its trials.

The faulty path: 3% of all TCP segments dropped on R (iptables statistic),
5% duplicated and 5% reordered (tamper.c "path"); bulk trials in both
directions arrive intact and the daemons count no bad MAC.

The receiver resets a connection while the sender still has megabytes
queued (SO_LINGER 0), once with the reset delivered and once with R
dropping the receiver's resets for 3 s: the sender sees the reset, and the
capture on R shows every payload segment of the port sealed (the nodeseal
option on it) and no marker byte, before and after the reset.

The faulty path and the resets run before the attacks: the attacks'
black-holed connections retransmit for minutes, and would add to the
daemons' counters.

One tcpdump on R records all attack trials; at the end no trial's reassembled
stream holds the applications' marker, and a plain connection on port 7448
(not protected) shows that the scan finds it where it is.
"""

import collections
import json
import os
import random
import re
import time

import pytest

from netbed import (ATTACK_APP as APP, A_IP, B_IP, PLAIN_PORT, PORT, PYTHON, RoutedBed,
                    RouterCapture, Tamper, TrialCtx, pcap_packets, pcap_streams, private_tools,
                    start_daemon, stream_has_marker, trial_record)

C2S_LEN = S2C_LEN = 6000
TRIAL_TIMEOUT = 6.0
CONN_TIMEOUT = 7.0        # the server's limit per connection
NS_OPTION = bytes([253, 20, 0x4E, 0x53])
KINDS = ["flip", "rand", "replay", "xreplay", "inject", "forge", "drop", "trunc"]
# kinds whose applied attack the receiving daemon must see as a bad MAC
MAC_KINDS = {"flip", "rand", "replay", "xreplay", "inject", "forge"}
RESULTS = collections.OrderedDict()


class PacketCtx(TrialCtx):
    def __init__(self, bed, seal, keyfile):
        super().__init__(bed, seal)
        self.keyfile = keyfile
        self.daemons = {}

    def opts(self, node):
        return ["--mode", "packet", "--network-key-file", self.keyfile,
                "--state-dir", self.state[node]]

    def status(self, node):
        st = super().status(node)
        assert st.get("mode") == "packet", st
        return st

    def segments(self):
        return {n: dict(self.status(n)["segments"]) for n in ("A", "B")}


@pytest.fixture(scope="module")
def pctx(tmp_path_factory):
    tmp, seal, tamper_bin, keyfile = private_tools(tmp_path_factory, "test_packet_path.py",
                                                   "packet-path")

    bed = RoutedBed(tmp)
    c = None
    try:
        bed.setup()
        c = PacketCtx(bed, seal, keyfile)
        c.tamper = Tamper(bed, bed.r, [tamper_bin, "-q", "0", "-p", str(PORT)], "tamper")
        assert c.tamper.get(10) == "ready"
        bed.ns(bed.r, "iptables", "-A", "FORWARD", "-p", "tcp", "-j", "NFQUEUE",
               "--queue-num", "0")
        for node in ("A", "B"):
            c.daemons[node] = start_daemon(bed, c.nsname[node], seal,
                                           ["--mode", "packet", "--network-key-file", keyfile],
                                           c.state[node], "nodeseal-" + node)
        c.server = bed.spawn(bed.b, [PYTHON, APP, "server", "--listen", "0.0.0.0:%d" % PORT,
                                     "--plain-port", str(PLAIN_PORT),
                                     "--conn-timeout", str(CONN_TIMEOUT)],
                             "server", json_lines=True)
        c.client = bed.spawn(bed.a, [PYTHON, APP, "client", "--connect", "%s:%d" % (B_IP, PORT)],
                             "client", json_lines=True)
        assert c.server.get(10) == {"ready": True}
        assert c.client.get(10) == {"ready": True}
        c.capture = None   # started by the first attack test
        yield c
    finally:
        if c is not None:
            for node, p in c.daemons.items():
                try:
                    p.stop()   # SIGTERM: the daemon removes its rules
                    bed.ns(c.nsname[node], seal, "down", *c.opts(node), check=False,
                           timeout=20)
                except Exception as e:   # the namespaces go anyway
                    print("teardown of nodeseal in %s: %s" % (node, e))
        bed.teardown()


# ------------------------------------------------------------------ trials

def delta(after, before):
    return {n: {k: after[n][k] - before[n].get(k, 0) for k in after[n]} for n in after}


def run_trial(c, kind, direction, off, arg, c2s=C2S_LEN, s2c=S2C_LEN, timeout=TRIAL_TIMEOUT):
    tid = c.tid()
    c.tamper.expect("arm %d %s %s %d %d" % (tid, kind, direction, off, arg), "armed %d" % tid)
    assert c.server.request("expect %d %d %d" % (tid, c2s, s2c)) == {"ok": tid}
    seg0 = c.segments()
    t0 = time.monotonic()
    cli = c.client.request("run %d %d %d %s" % (tid, c2s, s2c, timeout), timeout=timeout + 10)
    assert cli.get("tid") == tid, cli
    srv = c.server.request("report %d %s" % (tid, CONN_TIMEOUT + 1), timeout=CONN_TIMEOUT + 10)
    end = c.tamper.expect("end %d" % tid, "end %d " % tid)
    seg = delta(c.segments(), seg0)
    events = [e for e in c.tamper.trial_events(tid) if e.startswith("applied")]
    # the daemon on the receiving side of the attacked direction
    receiver = "B" if direction == "c2s" else "A"
    rec = trial_record(tid, kind, direction, off, arg, events, end, cli, srv["conns"])
    rec.update({
        "segments": seg,
        "bad_mac_at_receiver": seg[receiver]["bad_mac"],
        "seconds": round(time.monotonic() - t0, 3),
    })
    return rec


def trial_plan(kind):
    """(direction, offset, arg) of each trial: fixed points at the stream's
    start and segment edges, then seeded random offsets."""
    rnd = random.Random("nodeseal-packet-attack-" + kind)
    points = [("c2s", 0), ("s2c", 0), ("c2s", 1), ("s2c", 1447), ("c2s", 1448), ("s2c", 2896),
              ("c2s", 5999), ("s2c", 4000)]
    n = {"flip": 60, "rand": 30, "replay": 30, "xreplay": 30, "inject": 30, "forge": 24,
         "drop": 16, "trunc": 6}[kind]
    plan = list(points)
    while len(plan) < n:
        plan.append((rnd.choice(["c2s", "s2c"]), rnd.randrange(0, C2S_LEN)))
    plan = plan[:n]
    if kind == "flip":
        return [(d, o, rnd.randrange(8)) for d, o in plan]
    if kind == "rand":
        return [(d, o, rnd.choice([1, 3, 16, 300])) for d, o in plan]
    if kind == "inject":
        return [(d, o, i % 3) for i, (d, o) in enumerate(plan)]
    if kind == "forge":
        return [(d, o, i % 2) for i, (d, o) in enumerate(plan)]
    if kind == "trunc":
        # 0: forged FIN + black hole; 1: forged RST in place of a segment;
        # 2: forged RST + black hole
        return [(d, o, i % 3) for i, (d, o) in enumerate(plan)]
    return [(d, o, 0) for d, o in plan]


def recovers(rec):
    """The attack leaves TCP something to retransmit: the transfer must
    complete intact."""
    return rec["kind"] != "trunc" or rec["arg"] == 1


def violations(rec):
    why = []
    if rec["corrupted"] or rec["bad_digests"]:
        why.append("CORRUPTED BYTES DELIVERED")
    if len(rec["server"]) != 1:
        why.append("the server saw %d connections" % len(rec["server"]))
    if rec["applied"] > 1:
        why.append("the attack fired more than once")
    complete = rec["client_complete"] and rec["server_complete"]
    if not rec["applied"] or recovers(rec):
        if not complete:
            why.append("the transfer did not complete intact")
    else:
        for side, x in [("client", rec["client"])] + [("server", s) for s in rec["server"]]:
            cut = x.get("end") == "eof" and x.get("received", 0) < x.get("expected", 0)
            if cut:
                why.append("the %s saw a cut stream end cleanly" % side)
    if rec["applied"] and (rec["kind"] in MAC_KINDS or (rec["kind"] == "trunc")) \
            and rec["bad_mac_at_receiver"] < 1:
        why.append("the receiving daemon counted no bad MAC")
    return why


def fmt(rec, why):
    return "tid %d %s %s off=%d arg=%d: %s; %s client=%s server=%s segments=%s" % (
        rec["tid"], rec["kind"], rec["dir"], rec["off"], rec["arg"], "; ".join(why),
        rec["events"], json.dumps(rec["client"], sort_keys=True),
        json.dumps(rec["server"], sort_keys=True), rec["segments"])


# ------------------------------------------------------------------ a faulty path

def test_packet_loss_reorder_duplication(pctx):
    """3% loss (iptables statistic on R), 5% duplicated, 5% reordered: bulk
    transfers both ways arrive intact, and no segment fails its MAC (copies
    and late segments verify; TCP discards what it has)."""
    c = pctx
    rule = ["FORWARD", "-p", "tcp", "-m", "statistic", "--mode", "random",
            "--probability", "0.03", "-j", "DROP"]
    c.bed.ns(c.bed.r, "iptables", "-I", *rule[:1], "1", *rule[1:])
    assert c.tamper.request("path 5 5") == "path dup=5 reorder=5"
    recs = []
    seg0 = c.segments()
    try:
        for i in range(6):
            recs.append(run_trial(c, "none", "c2s", 0, 0, c2s=400000 if i % 2 else 60000,
                                  s2c=60000 if i % 2 else 400000, timeout=40))
    finally:
        c.tamper.request("path 0 0")
        counters = c.bed.ns(c.bed.r, "iptables", "-L", "FORWARD", "-v", "-x", "-n").stdout
        c.bed.ns(c.bed.r, "iptables", "-D", *rule)
    seg = delta(c.segments(), seg0)
    stats = c.tamper.request("pathstats")
    dropped = int(re.search(r"^\s*(\d+)\s+\d+\s+DROP.*statistic", counters, re.M).group(1))
    dups, held = [int(x) for x in re.findall(r"=(\d+)", stats)]
    RESULTS["path"] = recs
    print("\nfaulty path: %d transfers, %d segments dropped by R, %s (since start), "
          "daemons: %s" % (len(recs), dropped, stats, seg))
    bad = [fmt(r, ["not intact"]) for r in recs
           if r["corrupted"] or r["bad_digests"] or not (r["client_complete"]
                                                          and r["server_complete"])]
    assert not bad, "\n".join(bad)
    assert dropped > 20 and dups > 20 and held > 20, (dropped, stats)
    assert seg["A"]["bad_mac"] == 0 and seg["B"]["bad_mac"] == 0, seg


# ------------------------------------------------------------------ reset with data queued

RST_SERVER = r'''
import socket, struct, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d))
l.listen(1)
print("listening", flush=True)
s, _ = l.accept()
got = 0
while got < 65536:
    b = s.recv(65536)
    if not b:
        break
    got += len(b)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("reset after", got, flush=True)
''' % PORT

RST_CLIENT = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], %d), timeout=20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
chunk = (sys.argv[2] + "-") .encode() * 4000
sent = 0
end = time.monotonic() + float(sys.argv[3])
try:
    while sent < (64 << 20) and time.monotonic() < end:
        sent += s.send(chunk)
    print("ended", "limit", sent, flush=True)
except OSError as e:
    print("ended", type(e).__name__, sent, flush=True)
''' % PORT


def sealed_check(path, marker):
    """Payload segments of the port in a capture: (total, without the
    nodeseal option, with the marker), and the time order of the first
    reset from the server side."""
    total = unsealed = marked = 0
    after_rst = 0
    rst_seen = False
    for src, sport, dst, dport, seq, flags, pay, opts in pcap_packets(path, options=True):
        if PORT not in (sport, dport):
            continue
        if flags & 0x04 and sport == PORT:
            rst_seen = True
        if not pay:
            continue
        total += 1
        after_rst += rst_seen
        if NS_OPTION not in opts:
            unsealed += 1
        if marker in pay:
            marked += 1
    return total, unsealed, marked, after_rst


@pytest.mark.parametrize("lose_reset", [False, True], ids=["reset-delivered", "reset-lost-3s"])
def test_packet_receiver_reset_with_data_queued(pctx, lose_reset):
    """The receiver (in A) resets while the sender (in B) has megabytes
    queued: the sender sees the reset; every payload segment on the wire,
    before and after the reset, is sealed, and none holds the marker."""
    c = pctx
    bed = c.bed
    marker = "NSRST-%d-%s" % (os.getpid(), "lost" if lose_reset else "delivered")
    server = bed.spawn(bed.a, [PYTHON, "-c", RST_SERVER], "rst-server-%d" % lose_reset)
    assert server.get(10) == "listening"
    drop_rst = ["FORWARD", "-p", "tcp", "-s", A_IP, "--sport", str(PORT), "--tcp-flags",
                "RST", "RST", "-j", "DROP"]
    if lose_reset:
        bed.ns(bed.r, "iptables", "-I", "FORWARD", "1", *drop_rst[1:])
    cap = RouterCapture(bed, "reset-%d" % lose_reset, "any", "tcp port %d" % PORT)
    t0 = time.monotonic()
    client = bed.spawn(bed.b, [PYTHON, "-c", RST_CLIENT, A_IP, marker, "20"],
                       "rst-client-%d" % lose_reset)
    dropping = lose_reset
    try:
        line = server.get(15)
        assert line.startswith("reset after"), line
        if dropping:
            time.sleep(3)
            bed.ns(bed.r, "iptables", "-D", *drop_rst)
            dropping = False
        out = client.get(25)
        took = time.monotonic() - t0
        time.sleep(1)
    finally:
        if dropping:
            bed.ns(bed.r, "iptables", "-D", *drop_rst, check=False)
        cap.stop()
    total, unsealed, marked, after_rst = sealed_check(cap.path, marker.encode())
    print("\nreceiver reset (%s): client %r after %.1fs; wire: %d payload segments, %d after "
          "the first reset, %d without the option, %d with the marker; tcpdump dropped %s"
          % (server.name, out, took, total, after_rst, unsealed, marked, cap.dropped))
    assert out.split()[1] in ("ConnectionResetError", "BrokenPipeError"), out
    assert cap.dropped == 0
    assert total > 20, "the capture saw too little of the transfer: %d segments" % total
    assert unsealed == 0 and marked == 0, (unsealed, marked)
    if lose_reset:
        assert after_rst > 0, "the sender sent nothing after the lost reset: test too weak"


@pytest.mark.parametrize("kind", KINDS)
def test_packet_attack(pctx, kind):
    c = pctx
    if c.capture is None:
        # one capture for all attack trials (not the bulk transfers above:
        # tcpdump on a loaded 2-core machine would drop some of those)
        c.capture = RouterCapture(c.bed, "trials", "any", "tcp")
        ctl = c.client.request("plain 0 %d %d" % (C2S_LEN, PLAIN_PORT))
        assert ctl.get("send_end") == "ok", ctl
    recs = RESULTS.setdefault(kind, [])
    t0 = time.monotonic()
    for direction, off, arg in trial_plan(kind):
        # a black-holed stream ends only at the applications' timeouts
        recs.append(run_trial(c, kind, direction, off, arg))
    bad = [fmt(r, violations(r)) for r in recs if violations(r)]
    applied = sum(1 for r in recs if r["applied"])
    print("\n%s: %d trials in %.1fs, %d applied, %d intact, receivers' bad MACs %d" % (
        kind, len(recs), time.monotonic() - t0, applied,
        sum(1 for r in recs if r["client_complete"] and r["server_complete"]),
        sum(r["bad_mac_at_receiver"] for r in recs)))
    assert not bad, "%d violations:\n%s" % (len(bad), "\n".join(bad[:12]))
    assert applied >= 0.9 * len(recs), "only %d of %d %s attacks applied" % (
        applied, len(recs), kind)


# ------------------------------------------------------------------ the summary

def test_packet_attack_summary(pctx):
    c = pctx
    assert c.capture is not None, "no attack test ran"
    c.capture.stop()
    streams = pcap_streams(c.capture.path)
    ctl = [st for k, sts in streams.items() if k[3] == PLAIN_PORT for st in sts]
    assert ctl and any(stream_has_marker(st) for st in ctl), (
        "capture/scan blind: no marker in the plain connection on port %d" % PLAIN_PORT)
    port_streams = [st for k, sts in streams.items() if PORT in (k[1], k[3]) for st in sts]
    wire_bytes = sum(st["bytes"] for st in port_streams)
    marked = sum(1 for st in port_streams if stream_has_marker(st))
    app_bytes = sum(r["client"].get("received", 0) + sum(s.get("received", 0)
                                                         for s in r["server"])
                    for kind, recs in RESULTS.items() if kind != "path" for r in recs)
    rows = []
    for kind, recs in RESULTS.items():
        rows.append((kind, len(recs), sum(1 for r in recs if r["applied"]),
                     sum(1 for r in recs if r["client_complete"] and r["server_complete"]),
                     sum(r["bad_mac_at_receiver"] for r in recs),
                     sum(r["corrupted"] + r["bad_digests"] for r in recs)))
    head = ("kind", "trials", "applied", "intact", "bad MACs at receiver", "corrupted")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = ["", "packet-mode attack summary (capture: %d payload bytes on port %d, %s dropped by "
           "tcpdump; applications received %d bytes; streams with the marker: %d)"
           % (wire_bytes, PORT, c.capture.dropped, app_bytes, marked)]
    out.append("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in rows]
    text = "\n".join(out)
    print(text)
    with open(os.path.join(c.bed.dir, "packet-attack-summary.txt"), "w") as f:
        f.write(text + "\n")
    assert RESULTS, "no trials ran"
    assert c.capture.dropped == 0, "tcpdump dropped %s packets" % c.capture.dropped
    assert marked == 0, "the marker crossed R in %d streams" % marked
    assert wire_bytes >= app_bytes, (wire_bytes, app_bytes)
    assert all(r[5] == 0 for r in rows), rows
