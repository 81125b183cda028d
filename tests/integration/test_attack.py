"""An attacker on the path between two nodeseal daemons (issue 4, parts 1-2).

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -s -p no:cacheprovider tests/integration/test_attack.py

Topology (netbed.RoutedBed: three namespaces of this module's own, nothing in the
caller's):

    A 10.81.1.1/24 --- ra 10.81.1.254 [R] rb 10.81.2.254 --- 10.81.2.1/24 B
    gw 10.81.1.254        ip_forward=1, FORWARD -p tcp -> NFQUEUE 0     gw 10.81.2.254

`nodeseal up` runs in A and in B (same network key).  R queues every
forwarded TCP segment (no bypass) to tests/tools/tamper.c, which the test
compiles into its temp dir and drives over a pipe: before each trial it arms
one attack for the next connection, and it reports what it did.  A trial is
one TCP connection from a client in A to a server in B on port 7447
(tests/tools/attack_app.py): each side sends 6000 bytes derived from the
trial id, the other side compares every byte it receives with what was sent,
and counts mismatches.  What is asserted, per trial:

  * corrupted bytes delivered to either application == 0 (always), and no
    message fails its SHA-256;
  * an applied attack (other than "drop") ends the connection: it does not
    complete at both ends, and nodeseal (A's or B's) records the failure
    (a log line with an error reason, or its "refused" counter);
  * an application whose stream was cut sees a reset, never a clean end;
  * an applied "drop" (one segment, once) does no harm: both ends complete;
  * an attack that was not applied leaves a complete transfer;
  * each attack fires at most once, and in at least 90% of its trials;
  * another session's first message in place of this one's is refused by
    B as "replayed handshake".

Attack kinds (see tamper.c): flip, rand, replay (an earlier segment of the
same connection), xreplay (the same stream offsets of another connection),
inject (forged record headers, plain text), trunc (FIN + drop the rest, or a
RST), drop (one segment once).  Offsets cover msg1 (c2s 0-59), msg3 (c2s
60-123), msg2 (s2c 0-95) and the records after them; the summary says where
the applied attacks landed.  The daemons run with --handshake-timeout 3: a
handshake whose other end an attacker reset waits for it.

One tcpdump on R captures all trials; the summary searches each trial's
reassembled TCP payload for the application's plaintext marker (and checks
that the same scan finds it in a plain connection on port 7448).

The replay tests capture one whole session on R and replay the initiator's
side of it from R (R's own traffic is not forwarded, so the tamper tool is
not involved) against B: nothing reaches B's application, and B's nodeseal
refuses the first message as "replayed handshake".  Then the first message
alone, 200 times.

Two tests at the end reproduce, deterministically, what the trials hit now
and then: a stale conntrack entry whose NAT decision sticks to a new
connection on the same port.  The daemon looping into its own listener that
way is detected and the daemon reconnects from another port (a passing test);
a node connection landing on a stale entry of the daemon's is refused by the
guard (fails closed; an xfail(strict) test records the limitation).

Processes are stopped by PID; namespaces are named nsatk-<pid>-<hex>-{a,r,b}
and removed at teardown (and, if a run was killed, by the next run).
"""

import collections
import json
import os
import random
import re
import time

import pytest

from netbed import (ATTACK_APP as APP, ATTACK_MARKER as MARKER, B_IP, PLAIN_PORT, PORT, PYTHON,
                    RB_IP, RoutedBed, RouterCapture, Tamper, TrialCtx, pcap_streams, private_tools,
                    start_daemon, stream_has_marker, trial_record)



C2S_LEN = 6000          # bytes the client sends per trial
S2C_LEN = 6000          # bytes the server sends back
MAX_OFF = 4096          # attack offsets stay below this (the streams are longer)
C2S_HS = 124            # msg1 (60) + msg3 (64)
S2C_HS = 96             # msg2
TRIAL_TIMEOUT = 6.0     # client's limit for one connection
# An attacker who resets one end of a handshake leaves the other end waiting
# for its handshake timeout (default 10 s): shorter here, to keep trials short.
HANDSHAKE_TIMEOUT = 3
SERVER_WAIT = 10        # for the server's side of a trial to end (its own limit: 10 s)

# xreplay trials that put another session's first message in place of this
# one's; they come first, in a fresh window of B's refusal log (10 lines per
# 10 s), so that each one's reason is in the log.
XREPLAY_MSG1 = 10
KINDS = ["flip", "rand", "replay", "xreplay", "inject", "trunc", "drop"]
RESULTS = collections.OrderedDict()   # kind -> list of trial records
REFUSAL_TIMES = []                    # when B last refused something (log rate limit)


# ------------------------------------------------------------------ daemon logs

class LogTail:
    """A nodeseal daemon's stderr, read from a mark on."""

    def __init__(self, path):
        self.path = path
        self.pos = 0

    def mark(self):
        self.pos = os.path.getsize(self.path)
        return self.pos

    def since(self, pos=None):
        with open(self.path, "rb") as f:
            f.seek(self.pos if pos is None else pos)
            return f.read().decode(errors="replace").splitlines()


FAILED_RE = re.compile(r"\] failed (in|out) (\S+): (.*)$")
CLOSE_RE = re.compile(r"\] close (in|out) (\S+) fingerprint=\S+ sent=\d+ received=\d+ "
                      r"duration=\S+ (.*)$")
CLOSE_DELIVERING_RE = re.compile(r"\] close in (\S+) fingerprint=\S*: (.*)$")
OPEN_RE = re.compile(r"\] open (in|out) (\S+) fingerprint=")


def log_failures(lines):
    """(reason, line) of every failure a daemon logged in lines."""
    out = []
    for line in lines:
        m = FAILED_RE.search(line) or CLOSE_DELIVERING_RE.search(line)
        if m:
            out.append((m.groups()[-1], line))
            continue
        m = CLOSE_RE.search(line)
        if m and m.group(3) != "closed":
            out.append((m.group(3), line))
    return out


# ------------------------------------------------------------------ the bed
# ------------------------------------------------------------------ the shared context


class Ctx(TrialCtx):
    """Everything the tests share: the bed, the daemons, the apps, the tool."""

    def __init__(self, bed, seal):
        super().__init__(bed, seal)
        self.lingering = []         # (trial, status A, status B) when a wait timed out
        self.lingering_base = 0

    def wait_idle(self, timeout=12.0):
        """Both daemons without connections (so every close is logged), or
        none but those that outlived this wait before (a connection the
        attacker black-holed lives until TCP gives up); their status then."""
        end = time.monotonic() + timeout
        while True:
            sa, sb = self.status("A"), self.status("B")
            n = len(sa["connections"]) + len(sb["connections"])
            if n <= self.lingering_base:
                self.lingering_base = n
                return sa, sb
            if time.monotonic() > end:
                self.lingering.append((self.next_tid - 1, sa, sb))
                self.lingering_base = n
                return sa, sb
            time.sleep(0.02)


# ------------------------------------------------------------------ pcap



@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp, seal, tamper_bin, keyfile = private_tools(tmp_path_factory, "test_attack.py", "attack")

    bed = RoutedBed(tmp)
    c = None
    try:
        bed.setup()
        c = Ctx(bed, seal)
        # the attacker: every forwarded TCP segment goes through it, no bypass
        c.tamper = Tamper(bed, bed.r, [tamper_bin, "-q", "0", "-p", str(PORT)], "tamper")
        assert c.tamper.get(10) == "ready"
        bed.ns(bed.r, "iptables", "-A", "FORWARD", "-p", "tcp", "-j", "NFQUEUE",
               "--queue-num", "0")
        # both daemons
        c.logs = {}
        for node in ("A", "B"):
            p = start_daemon(bed, c.nsname[node], seal,
                             ["--network-key-file", keyfile,
                              "--handshake-timeout", str(HANDSHAKE_TIMEOUT)],
                             c.state[node], "nodeseal-" + node)
            c.logs[node] = LogTail(p.errpath)
            setattr(c, "seal_" + node, p)
        # the applications
        c.server = bed.spawn(bed.b, [PYTHON, APP, "server", "--listen", "0.0.0.0:%d" % PORT,
                                     "--plain-port", str(PLAIN_PORT)], "server", json_lines=True)
        c.client = bed.spawn(bed.a, [PYTHON, APP, "client", "--connect", "%s:%d" % (B_IP, PORT)],
                             "client", json_lines=True)
        assert c.server.get(10) == {"ready": True}
        assert c.client.get(10) == {"ready": True}
        # one capture on R for all trials; first flow: the positive control,
        # plaintext on an unprotected port
        c.capture = RouterCapture(bed, "trials", "any", "tcp")
        ctl = c.client.request("plain 0 %d %d" % (C2S_LEN, PLAIN_PORT))
        assert ctl.get("send_end") == "ok", ctl
        sa, sb = c.wait_idle()
        c.refused = {"A": sa["refused"], "B": sb["refused"]}
        yield c
    finally:
        for node in ("A", "B"):
            p = getattr(c, "seal_" + node, None)
            if p is not None:
                try:
                    p.stop()   # SIGTERM: the daemon removes its rules
                    bed.ns(bed.b if node == "B" else bed.a, seal, "down", "--state-dir",
                           os.path.join(tmp, "state" + node), check=False, timeout=20)
                except Exception as e:   # the namespaces go anyway
                    print("teardown of nodeseal in %s: %s" % (node, e))
        bed.teardown()


# ------------------------------------------------------------------ trials

def run_trial(c, kind, direction, off, arg):
    """One connection under one armed attack; returns its record."""
    tid = c.tid()
    c.tamper.expect("arm %d %s %s %d %d" % (tid, kind, direction, off, arg), "armed %d" % tid)
    assert c.server.request("expect %d %d %d" % (tid, C2S_LEN, S2C_LEN)) == {"ok": tid}
    before = {n: c.logs[n].mark() for n in ("A", "B")}
    refused0 = c.refused
    t0 = time.monotonic()
    cli = c.client.request("run %d %d %d %s" % (tid, C2S_LEN, S2C_LEN, TRIAL_TIMEOUT),
                           timeout=TRIAL_TIMEOUT + 10)
    assert cli.get("tid") == tid, cli
    # every close logged before anything is read from the logs
    lingered = len(c.lingering)
    sa, sb = c.wait_idle()
    lingered = len(c.lingering) > lingered
    opened_b = any(OPEN_RE.search(l) for l in c.logs["B"].since(before["B"]))
    # B delivered to the server only if B logged "open in"
    srv = c.server.request("report %d %s" % (tid, SERVER_WAIT if opened_b else 0),
                           timeout=SERVER_WAIT + 10)
    c.refused = {"A": sa["refused"], "B": sb["refused"]}
    end = c.tamper.expect("end %d" % tid, "end %d " % tid)
    events = c.tamper.trial_events(tid)
    lines = {n: c.logs[n].since(before[n]) for n in ("A", "B")}
    fails = {n: log_failures(lines[n]) for n in ("A", "B")}
    refused = {n: c.refused[n] - refused0[n] for n in ("A", "B")}
    if refused["B"]:
        REFUSAL_TIMES.append(time.monotonic())
    rec = trial_record(tid, kind, direction, off, arg,
                       [e for e in events if e.startswith("applied")], end, cli, srv["conns"])
    rec.update({
        "reasons": sorted(set("%s: %s" % (n, f[0]) for n in ("A", "B") for f in fails[n])),
        "refused": refused,
        "ns_failure": bool(fails["A"] or fails["B"] or refused["A"] or refused["B"]),
        "opened_b": opened_b,
        "lingered": lingered,
        "seconds": round(time.monotonic() - t0, 3),
        # connections R saw for this trial (0: nothing left A)
        "wire_conns": int(re.search(r" conns=(\d+)", end).group(1)),
        # outbound connections A's daemon made (more than one: its own
        # outbound connection came back into it, see test_stale_nat_*)
        "a_outbound": len([l for l in lines["A"] if re.search(r"\] (open|failed) out ", l)])
                      + max(0, refused["A"] - len([l for l in lines["A"]
                                                   if re.search(r"\] failed out ", l)])),
    })
    rec["hung"] = hanging(rec)
    rec["closed"] = rec["ns_failure"] and not (rec["client_complete"] and rec["server_complete"])
    return rec


def trial_plan(kind):
    """(direction, offset, arg) of each trial of kind: fixed points at the
    handshake messages' fields and the first records, then seeded random
    offsets (about a third of them in the handshake)."""
    rnd = random.Random("nodeseal-attack-" + kind)
    c2s_points = [0, 1, 31, 32, 43, 44, 59, 60, 90, 107, 108, 123, 124, 130, 142, 143, 150,
                  1500, 3000]
    s2c_points = [0, 31, 32, 63, 64, 79, 80, 95, 96, 100, 114, 115, 200, 1500, 3000]

    def rand_off(direction):
        hs = C2S_HS if direction == "c2s" else S2C_HS
        return rnd.randrange(0, hs) if rnd.random() < 0.33 else rnd.randrange(hs, MAX_OFF)

    def mix(n, points_c2s=c2s_points, points_s2c=s2c_points, lo=0):
        out = [("c2s", o) for o in points_c2s if o >= lo] + [("s2c", o) for o in points_s2c if o >= lo]
        while len(out) < n:
            d = "c2s" if len(out) % 2 == 0 else "s2c"
            o = rand_off(d)
            if o >= lo:
                out.append((d, o))
        return out[:n]

    if kind == "flip":
        return [(d, o, rnd.randrange(8)) for d, o in mix(150)]
    if kind == "rand":
        return [(d, o, rnd.choice([1, 2, 3, 8, 16, 64, 300])) for d, o in mix(80)]
    if kind == "replay":
        # needs an earlier segment in the same direction: after msg1 / msg2
        pts_c = [o for o in c2s_points if o >= 60]
        pts_s = [o for o in s2c_points if o >= 96]
        out = [("c2s", o) for o in pts_c] + [("s2c", o) for o in pts_s]
        while len(out) < 60:
            d = "c2s" if len(out) % 2 == 0 else "s2c"
            out.append((d, rnd.randrange(60 if d == "c2s" else 96, MAX_OFF)))
        return [(d, o, 0) for d, o in out]
    if kind == "xreplay":
        # another session's msg1 (a genuine first message: B must call it a
        # replay), msg2, msg3, records
        out = [("c2s", 0)] * XREPLAY_MSG1 + [("s2c", 0)] * 6 + [("c2s", 60)] * 6 + mix(48)
        return [(d, o, 0) for d, o in out]
    if kind == "inject":
        out = [("c2s", 124), ("s2c", 96)] * 6 + [("c2s", 0), ("s2c", 0)] * 3 + mix(42)
        return [(d, o, i % 3) for i, (d, o) in enumerate(out)]
    if kind == "trunc":
        return [(d, o, i % 2) for i, (d, o) in enumerate(mix(80))]
    if kind == "drop":
        return [(d, o, 0) for d, o in mix(40)]
    raise ValueError(kind)


def hanging(rec):
    """The application ends of a trial that had not ended when asked (the
    client after TRIAL_TIMEOUT, the server after SERVER_WAIT more)."""
    out = []
    if rec["client"].get("end") == "timeout":
        out.append("client")
    if any(not x.get("done") or x.get("end") == "timeout" for x in rec["server"]):
        out.append("server")
    return out


def region(rec):
    """Which message an applied attack hit: msg1/msg3 (c2s), msg2 (s2c), or
    the records after them."""
    m = re.search(r" dir=(\S+) off=(\d+)", rec["events"][0])
    d, off = m.group(1), int(m.group(2))
    if d == "c2s":
        return "msg1" if off < 60 else "msg3" if off < C2S_HS else "records-c2s"
    return "msg2" if off < S2C_HS else "records-s2c"


def refused_locally(rec):
    """The node's connection never left A: refused at connect() and R saw
    no connection (nodeseal's guard rejects a connection to the port that was
    not redirected: see test_stale_nat_entry_refuses_node_connection)."""
    return (not rec["client"].get("connected") and rec["wire_conns"] == 0 and
            rec["client"].get("end") == "error:ECONNREFUSED")


def fmt_violation(rec, why):
    hint = ""
    if rec.get("a_outbound", 0) > 1:
        hint = (" [A's daemon made %d outbound connections for this one client connection:"
                " its own outbound connection was redirected back into it, see"
                " test_stale_nat_entry_loops_daemon_into_itself]" % rec["a_outbound"])
    return "tid %d %s %s off=%d arg=%d: %s%s; applied=%s client=%s server=%s reasons=%s" % (
        rec["tid"], rec["kind"], rec["dir"], rec["off"], rec["arg"], why, hint, rec["events"],
        json.dumps(rec["client"], sort_keys=True), json.dumps(rec["server"], sort_keys=True),
        rec["reasons"])


# ------------------------------------------------------------------ replay (part 2)

def _refusal_window_fresh():
    """B rate-limits refusal lines (10 per 10 s): wait until a new window."""
    if REFUSAL_TIMES:
        wait = REFUSAL_TIMES[-1] + 10.5 - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _replay_from_r(c, data, count, name, timeout=3.0):
    path = os.path.join(c.bed.dir, name + ".bin")
    with open(path, "wb") as f:
        f.write(data)
    r = c.bed.ns(c.bed.r, PYTHON, APP, "replay", "--to", "%s:%d" % (B_IP, PORT), "--data", path,
                 "--count", str(count), "--timeout", str(timeout),
                 timeout=count * (timeout + 1) + 30)
    return json.loads(r.stdout)["results"]


def _record_session(c):
    """One clean session A -> B, captured on R; the initiator's stream bytes."""
    cap = RouterCapture(c.bed, "session", "ra", "tcp port %d" % PORT)
    try:
        rec = run_trial(c, "none", "c2s", 0, 0)
    finally:
        cap.stop()
    assert rec["client_complete"] and rec["server_complete"] and not rec["ns_failure"], rec
    assert rec["tuple"], rec
    (ip, port), (dip, dport) = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1]))
                                for t in rec["tuple"]]
    streams = pcap_streams(cap.path).get((ip, port, dip, dport))
    assert streams, "session %s not in the capture" % (rec["tuple"],)
    st = streams[-1]
    data = bytes(st["data"])
    # msg1 + msg3 + at least one DATA record carrying C2S_LEN bytes + CLOSE
    assert len(data) >= 60 + 64 + C2S_LEN + 35 + 35, len(data)
    assert MARKER not in data
    return rec, data


def test_replay_recorded_session(ctx):
    """Replay the initiator's side of a recorded session from a fresh
    connection: refused as a replay at the first message, nothing delivered."""
    c = ctx
    rec, data = _record_session(c)
    _refusal_window_fresh()
    c.wait_idle()
    pos = c.logs["B"].mark()
    accepted0 = c.server.request("stats")["accepted"]
    refused0 = c.status("B")["refused"]
    results = _replay_from_r(c, data, 1, "session-c2s")
    sa, sb = c.wait_idle()
    lines = c.logs["B"].since(pos)
    accepted1 = c.server.request("stats")["accepted"]
    (res,) = results
    print("\nreplayed %d recorded initiator bytes (session tid %d) from %s: %s"
          % (len(data), rec["tid"], RB_IP, res))
    print("B's log:\n  " + "\n  ".join(lines))
    assert res["received"] == 0, res          # no message 2, no byte of anything
    assert res["end"] in ("reset", "eof"), res
    assert accepted1 == accepted0, "B's application got a connection from the replay"
    assert not [l for l in lines if OPEN_RE.search(l)], lines
    mine = [l for l in lines if ("failed in %s:" % RB_IP) in l]
    assert mine, "B logged nothing about the replayed session:\n" + "\n".join(lines)
    expect = "failed in %s: replayed handshake" % res["local"]
    assert any(l.endswith(expect) for l in mine), (
        "B did not refuse the replay as 'replayed handshake' (%r):\n%s" % (expect, "\n".join(lines)))
    assert all(l.endswith(": replayed handshake") for l in mine), mine
    assert sb["refused"] - refused0 == 1
    REFUSAL_TIMES.append(time.monotonic())
    c.first_message = data[:60]
    c.session_time = time.time()


def test_replay_first_message_200_times(ctx):
    c = ctx
    msg1 = getattr(c, "first_message", None)
    if msg1 is None or time.time() - c.session_time > 40:
        _, data = _record_session(c)
        msg1 = data[:60]
    c.wait_idle()
    pos = c.logs["B"].mark()
    accepted0 = c.server.request("stats")["accepted"]
    refused0 = c.status("B")["refused"]
    n = 200
    t0 = time.monotonic()
    results = _replay_from_r(c, msg1, n, "msg1", timeout=3.0)
    took = time.monotonic() - t0
    sa, sb = c.wait_idle()
    REFUSAL_TIMES.append(time.monotonic())
    lines = c.logs["B"].since(pos)
    accepted1 = c.server.request("stats")["accepted"]
    ends = collections.Counter(r["end"] for r in results)
    mine = [l for l in lines if ("failed in %s:" % RB_IP) in l]
    print("\n%d replays of one first message in %.1fs: ends %s, bytes back %d, B refused +%d, "
          "B log lines about them %d (rate-limited to 10 per 10 s), reasons %s"
          % (n, took, dict(ends), sum(r["received"] for r in results), sb["refused"] - refused0,
             len(mine), sorted(set(l.rsplit(": ", 1)[-1] for l in mine))))
    assert len(results) == n
    assert all(r["received"] == 0 for r in results), [r for r in results if r["received"]][:5]
    assert all(r["end"] in ("reset", "eof") for r in results), ends
    assert sb["refused"] - refused0 == n, "B refused %d of %d" % (sb["refused"] - refused0, n)
    assert accepted1 == accepted0, "B's application got a connection from a replay"
    assert not [l for l in lines if OPEN_RE.search(l)], lines
    assert mine, "B logged no refusal at all:\n" + "\n".join(lines)
    assert all(l.endswith(": replayed handshake") for l in mine), mine


# ------------------------------------------------------------------ attacks (part 1)

@pytest.mark.parametrize("kind", KINDS)
def test_attack(ctx, kind):
    c = ctx
    sa, sb = c.wait_idle()
    c.refused = {"A": sa["refused"], "B": sb["refused"]}
    recs = []
    RESULTS[kind] = recs
    if kind == "xreplay":
        _refusal_window_fresh()
    t0 = time.monotonic()
    for direction, off, arg in trial_plan(kind):
        recs.append(run_trial(c, kind, direction, off, arg))
    bad = []
    if kind == "xreplay":
        # a genuine first message of an earlier session: the replay cache
        # refuses it, before any DH (and not the tag, not the clock)
        # (the very first has no earlier session when run alone)
        msg1 = [r for r in recs[:XREPLAY_MSG1] if r["applied"]]
        why = [[x for x in r["reasons"] if x.startswith("B: ")] for r in msg1]
        print("\nxreplay of another session's first message: B's reasons %s" % why)
        assert len(msg1) >= XREPLAY_MSG1 - 1
        assert all(w == ["B: replayed handshake"] for w in why), why
    for r in recs:
        if r["corrupted"] or r["bad_digests"]:
            bad.append(fmt_violation(r, "CORRUPTED BYTES DELIVERED"))
        if len(r["server"]) > 1 or any(s["tid"] != r["tid"] for s in r["server"]):
            bad.append(fmt_violation(r, "unexpected server connections"))
        if refused_locally(r):
            continue   # never reached the wire: counted in the summary
        for side, x in [("client", r["client"])] + [("server", x) for x in r["server"]]:
            if side in r["hung"]:
                continue   # no end at all: counted in the summary, see hanging()
            if not x.get("complete") and not x.get("saw_reset"):
                bad.append(fmt_violation(r, "the %s saw its cut stream end without a reset"
                                         % side))
        if r["applied"] > 1:
            bad.append(fmt_violation(r, "the attack fired more than once"))
        if not r["applied"]:
            if not (r["client_complete"] and r["server_complete"]):
                bad.append(fmt_violation(r, "not applied, yet the transfer failed"))
        elif kind == "drop":
            if not (r["client_complete"] and r["server_complete"]) or r["ns_failure"]:
                bad.append(fmt_violation(r, "one dropped segment broke the transfer"))
        elif not r["closed"]:
            bad.append(fmt_violation(r, "attack applied but nodeseal did not close the connection"))
    applied = sum(1 for r in recs if r["applied"])
    recs_wire = [r for r in recs if not refused_locally(r)]
    print("\n%s: %d trials in %.1fs, %d applied, %d closed by nodeseal" % (
        kind, len(recs), time.monotonic() - t0, applied, sum(1 for r in recs if r["closed"])))
    assert not bad, "%d violations:\n%s" % (len(bad), "\n".join(bad[:20]))
    assert applied > 0, "no %s attack was applied" % kind
    # each trial's attack should land: only a rare one may find nothing to do
    assert applied >= 0.9 * len(recs_wire), "only %d of %d %s attacks applied" % (
        applied, len(recs_wire), kind)


def test_attack_summary(ctx):
    c = ctx
    c.capture.stop()
    streams = pcap_streams(c.capture.path)
    # positive control: the scan sees plaintext where there is plaintext
    ctl = [st for k, sts in streams.items() if k[3] == PLAIN_PORT for st in sts]
    assert ctl and any(stream_has_marker(st) for st in ctl), (
        "capture/scan blind: the marker of the plain connection on port %d was not found"
        % PLAIN_PORT)
    by_tuple = collections.defaultdict(list)
    for k, sts in streams.items():
        if PORT in (k[1], k[3]):
            ends = tuple(sorted(["%s:%d" % (k[0], k[1]), "%s:%d" % (k[2], k[3])]))
            by_tuple[ends].extend(sts)
    wire_bytes = sum(st["bytes"] for sts in by_tuple.values() for st in sts)
    any_marker = [k for k, sts in by_tuple.items() if any(stream_has_marker(st) for st in sts)]

    rows = []
    app_bytes = 0
    for kind, recs in RESULTS.items():
        seen = 0
        for r in recs:
            app_bytes += r["client"].get("received", 0) + sum(s.get("received", 0)
                                                               for s in r["server"])
            if r["tuple"] and any(stream_has_marker(st)
                                  for st in by_tuple.get(tuple(sorted(r["tuple"])), [])):
                seen += 1
        reasons = collections.Counter(x.split(": ", 1)[1] for r in recs for x in r["reasons"])
        rows.append((kind, len(recs), sum(1 for r in recs if r["applied"]),
                     sum(1 for r in recs if r["closed"]),
                     sum(1 for r in recs if r["client_complete"] and r["server_complete"]),
                     sum(r["corrupted"] for r in recs), seen,
                     "; ".join("%s x%d" % (k, v) for k, v in reasons.most_common(4))))
    head = ("kind", "trials", "applied", "closed by nodeseal", "intact", "corrupted bytes delivered",
            "plaintext seen")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *[r[:7] for r in rows])]
    out = ["", "attack summary (capture: %d TCP payload bytes on port %d, %s dropped by tcpdump; "
           "applications received %d bytes)" % (wire_bytes, PORT, c.capture.dropped, app_bytes)]
    out.append("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(str(x).ljust(w) for x, w in zip(r[:7], widths)))
    tot = ("total", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows),
           sum(r[4] for r in rows), sum(r[5] for r in rows), sum(r[6] for r in rows))
    out.append("  ".join(str(x).ljust(w) for x, w in zip(tot, widths)))
    out.append("")
    out.append("where the applied attacks hit: %s" % "; ".join(
        "%s %s" % (kind, " ".join("%s=%d" % kv for kv in sorted(
            collections.Counter(region(r) for r in recs if r["applied"]).items())))
        for kind, recs in RESULTS.items()))
    hung = [r for recs in RESULTS.values() for r in recs if r["hung"]]
    out.append("trials whose application was left waiting (no end, no reset): %d%s" % (
        len(hung), "".join("\n  trial %d %s %s off=%d arg=%d: %s waiting; %s; nodeseal: %s" % (
            r["tid"], r["kind"], r["dir"], r["off"], r["arg"], "+".join(r["hung"]),
            r["events"][0].split(" ", 3)[3] if r["events"] else "-", r["reasons"])
            for r in hung[:10])))
    loc = [r for recs in RESULTS.values() for r in recs if refused_locally(r)]
    out.append("trials whose client connection A refused locally (never on the wire): %d%s" % (
        len(loc), " (tids %s)" % [r["tid"] for r in loc] if loc else ""))
    loops = [r for recs in RESULTS.values() for r in recs if r["a_outbound"] > 1]
    out.append("trials where A made more than one outbound connection: %d%s" % (
        len(loops), " (tids %s)" % [r["tid"] for r in loops] if loops else ""))
    out.append("connections a daemon still held %ds after their trial: %d%s" % (
        12, len(c.lingering), "".join("\n  after trial %d: A %s B %s" % (t, a["connections"],
                                                                      b["connections"])
                                      for t, a, b in c.lingering[:5])))
    out.append("nodeseal's reasons (A: initiator's daemon, B: responder's), most frequent:")
    for r in rows:
        out.append("  %-8s %s" % (r[0], r[7] or "-"))
    text = "\n".join(out)
    print(text)
    with open(os.path.join(c.bed.dir, "attack-summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(c.bed.dir, "attack-trials.json"), "w") as f:
        json.dump(RESULTS, f, indent=1, sort_keys=True)

    assert RESULTS, "no attack trials ran"
    assert c.capture.dropped == 0, "tcpdump dropped %s packets" % c.capture.dropped
    assert not any_marker, "plaintext marker on the wire in %s" % any_marker[:5]
    assert wire_bytes >= app_bytes, "capture saw %d payload bytes, applications %d" % (
        wire_bytes, app_bytes)
    assert all(r[5] == 0 for r in rows)


# ------------------------------------------------------------------ found on the way

def _port_range(c, lo, hi):
    c.bed.ns(c.bed.a, "sysctl", "-qw", "net.ipv4.ip_local_port_range=%d %d" % (lo, hi))


def _reset_before_fin(c, src_port):
    """A connection of the node (from src_port, or an ephemeral port if 0)
    that A's daemon resets before the node sent anything (so conntrack saw
    no FIN, only RSTs): B refuses the first message, whose bit 0 of byte 5
    the tamper tool flips."""
    tid = c.tid()
    c.tamper.expect("arm %d flip c2s 5 0" % tid, "armed %d" % tid)
    r = c.client.request("run %d -1 0 5 %d" % (tid, src_port), timeout=20)
    assert not r.get("complete") and r.get("saw_reset"), r
    c.tamper.expect("end %d" % tid, "end %d " % tid)
    c.wait_idle()
    return r


def _exchange(c, src_port=0):
    tid = c.tid()
    c.tamper.expect("arm %d none c2s 0 0" % tid, "armed %d" % tid)
    assert c.server.request("expect %d %d %d" % (tid, C2S_LEN, S2C_LEN)) == {"ok": tid}
    pos = c.logs["A"].mark()
    cli = c.client.request("run %d %d %d %s %d" % (tid, C2S_LEN, S2C_LEN, TRIAL_TIMEOUT,
                                                   src_port), timeout=TRIAL_TIMEOUT + 10)
    c.wait_idle()
    srv = c.server.request("report %d 3" % tid, timeout=20)["conns"]
    wire = c.tamper.expect("end %d" % tid, "end %d " % tid)
    return cli, srv, wire, c.logs["A"].since(pos)


def test_stale_nat_entry_loops_daemon_into_itself(ctx):
    """Deterministic form of what the trials hit now and then.  1: the node
    connects from port P (even), A's daemon (outbound port P+1, the only one
    allowed) is refused by B and resets the node: conntrack keeps the node's
    entry, REDIRECTed, in CLOSE for 10 s.  2: within that time, the daemon's
    next outbound connection may use P or P+1 and connect() prefers even
    ports: it gets P.  Expected: a normal exchange between a node in A and
    the server in B."""
    c = ctx
    p = 30000  # below the ephemeral range: no earlier trial left anything on it
    try:
        _port_range(c, p + 1, p + 1)
        _reset_before_fin(c, p)
        _port_range(c, p, p + 1)
        cli, srv, wire, alog = _exchange(c, p + 4)
    finally:
        _port_range(c, 32768, 60999)
    print("\nclient %s\nserver %s\nR: %s\nA's log:\n  %s" % (cli, srv, wire, "\n  ".join(alog)))
    assert all(x.get("corrupted") == 0 for x in srv), (
        "B's node received %s bytes its peer never sent" % [x.get("corrupted") for x in srv])
    assert cli.get("complete") and len(srv) == 1 and srv[0].get("complete"), (cli, srv)


@pytest.mark.xfail(strict=True, reason=(
    "known limitation (fails closed): a node connection whose port equals that of an "
    "earlier outbound connection of the daemon that was reset (conntrack entry in CLOSE, no "
    "FIN seen) reuses that entry, which has no REDIRECT: it is not intercepted, and the "
    "guard refuses it; the node retries from another port"))
def test_stale_nat_entry_refuses_node_connection(ctx):
    """1: A's daemon connects out from port P (the only one allowed) and B
    resets it (bad first message).  2: within 10 s the node connects from
    port P.  Expected: a normal exchange.  (The guard keeps the plaintext off
    the wire: the node gets ECONNREFUSED instead.)"""
    c = ctx
    p = 31000  # below the ephemeral range, as above
    try:
        _port_range(c, p, p)
        _reset_before_fin(c, p + 5)
    finally:
        _port_range(c, 32768, 60999)
    cli, srv, wire, alog = _exchange(c, p)
    print("\nclient %s\nserver %s\nR: %s\nA's log:\n  %s" % (cli, srv, wire, "\n  ".join(alog)))
    assert " conns=0 " not in wire or cli.get("connected"), "the node's connection never left A"
    assert cli.get("complete") and len(srv) == 1 and srv[0].get("complete"), (cli, srv)
