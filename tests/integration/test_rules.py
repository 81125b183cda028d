"""Rules removed by another tool: `iptables -F`, a firewalld or ufw reload,
`iptables-restore` without --noflush (issue 11, item 6).

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -p no:cacheprovider tests/integration/test_rules.py

Two nodes, A and B, each with nodeseal up (proxy mode, then packet mode) and
an echo server on port 7447 (tests/tools/res_app.py).  Each node's program
talks to the other's: one long-lived ping-pong connection plus a new
connection every 20 ms, every message starting with a marker.  Then, on one
node at a time, the node's program is stopped and, while the other
direction goes on, every table of iptables and ip6tables is flushed and its
chains deleted (raw, mangle, nat, filter, security) and an empty filter
table is restored, as a firewall reload does; the program is started again
at once, so it reconnects while nodeseal's rules are missing.

Expected: the marker never appears on the bridge (zero payload bytes in
clear, during live traffic and during the reconnect); nodeseal's rules are
back within 2 s; `nodeseal status` counts the restoration
(`rules_restored`); the traffic goes on, sealed, both ways.

Beds and the application helpers are those of test_resilience.py.
"""

import time

import pytest

import netbed
from test_resilience import (PORT, down, host_untouched, honest_state, keys,  # noqa: F401
                             make_bed, ns_bin, plaintext_flows, spawn_honest, spawn_server,
                             start_up, stop_honest, wait_rounds)

TABLES = ("raw", "mangle", "nat", "filter", "security")
EMPTY_FILTER = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                "COMMIT\n")
BACK_WITHIN = 2.0


def flush_everything(bed, node):
    """What `iptables -F; iptables -X` for every table, and a firewall
    reload (iptables-restore without --noflush), do to a host."""
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            for op in ("-F", "-X"):
                bed.ns_exec_check(node, [tool, "-w", "-t", table, op])
    netbed.sh(bed.ns_exec_argv(node, ["iptables-restore"]), input=EMPTY_FILTER)


def our_rules(bed, node):
    """nodeseal's lines in iptables-save and ip6tables-save (counters
    zeroed), and its own nftables table."""
    out = []
    for tool in ("iptables-save", "ip6tables-save"):
        r = bed.ns_exec_check(node, [tool])
        table = None
        for line in netbed.normalize_state(r.stdout).splitlines():
            if line.startswith("*"):
                table = line
            elif "NODESEAL" in line:
                out.append("%s %s %s" % (tool, table, line))
    r = bed.ns_exec(node, ["nft", "list", "table", "inet", "nodeseal"])
    out.append(r.stdout if r.returncode == 0 else "(no nft table inet nodeseal)")
    return out


def wait_rules_back(bed, node, want, timeout):
    """Seconds until our rules are as they were (None: not within timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if our_rules(bed, node) == want:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def restored_count(d):
    st = d.status()
    assert st is not None, "nodeseal status --json failed:\n" + d.proc.describe()
    return st.get("rules_restored")


def honest(bed, node, peer, name, marker, seed):
    return spawn_honest(bed, node, peer, name, marker, interval=0.01, size=512, rtt_timeout=5,
                        reconnect_delay=0.1, probe_interval=0.02, probe_deadline=8, seed=seed)


@pytest.mark.parametrize("mode", ["proxy", "packet"])
def test_flushed_rules_fail_closed_and_come_back(ns_bin, keys, make_bed, mode):
    bed = make_bed(2)
    a, b = bed.nodes
    extra = ["--mode", mode]
    daemons = {n.name: start_up(ns_bin, bed, n, keys.good, "up-" + n.name, extra=extra)
               for n in bed.nodes}
    want = {n.name: our_rules(bed, n) for n in bed.nodes}
    srv = {n.name: spawn_server(bed, n, "server-" + n.name) for n in bed.nodes}
    cap = bed.capture("flush-" + mode)
    markers = []
    clients = {}
    for i, (n, peer) in enumerate(((a, b), (b, a))):
        markers.append("NSRULES-%s-%s-%s-0" % (bed.run_id, mode, n.name))
        clients[n.name] = honest(bed, n, peer, "honest-" + n.name, markers[-1], 10 + i)
    for p in clients.values():
        wait_rounds(p, 20, 20, "before the flush")
    figures, back, counts, old = [], {}, {}, []
    for i, (n, peer) in enumerate(((a, b), (b, a))):
        before = restored_count(daemons[n.name])
        old.append(stop_honest(clients[n.name]))
        t0 = time.monotonic()
        flush_everything(bed, n)
        took = time.monotonic() - t0
        # the node's program comes back at once: it reconnects while the
        # rules are (or were) missing
        markers.append("NSRULES-%s-%s-%s-1" % (bed.run_id, mode, n.name))
        clients[n.name] = honest(bed, n, peer, "honest-%s-again" % n.name, markers[-1], 20 + i)
        back[n.name] = wait_rules_back(bed, n, want[n.name], BACK_WITHIN + took)
        time.sleep(1.0)
        counts[n.name] = (before, restored_count(daemons[n.name]))
        figures.append("%s: flush took %.2f s; rules back after %s s; rules_restored %s -> %s"
                       % (n.name, took, back[n.name], *counts[n.name]))
    # the traffic goes on: both new programs and the other direction
    resumed = {}
    for name, p in clients.items():
        t0 = time.monotonic()
        first, _ = wait_rounds(p, 10, 20, "after the flush on %s" % name)
        resumed[name] = first - t0
    states = {name: stop_honest(p) for name, p in clients.items()}
    for p in srv.values():
        p.stop()
    cap.stop()
    scan, leaks = plaintext_flows(cap, markers + [b"NSRES1\0\0"])
    print("\n".join(figures))
    print("capture: %s; marker in %d flow(s)" % (scan.summary(), len(leaks)))
    for n in bed.nodes:
        down(ns_bin, bed, n, keys.good)
    assert not leaks, "payload in clear on the wire after the flush: %s\n%s" % (
        leaks[:6], "\n".join(figures))
    assert cap.stats.get("dropped") == 0, cap.stats
    assert scan.payload_bytes(PORT) >= 100000, scan.summary()
    not_back = [name for name, t in back.items() if t is None]
    assert not not_back, "nodeseal's rules not back within %.0f s on %s:\n%s" % (
        BACK_WITHIN, not_back, "\n".join(figures))
    for name, (before, after) in counts.items():
        assert isinstance(after, int) and after > (before or 0), (
            "%s: status does not count the restoration (rules_restored %r -> %r)"
            % (name, before, after))
    for name, st in list(states.items()) + [("old", s) for s in old]:
        assert st["corrupt"] == 0, (name, st["events"][-10:])
    for d in daemons.values():
        assert "rules" in d.log() and "put back" in d.log(), d.log()[-3000:]
    print("traffic resumed after: %s" % {k: "%.2f s" % v for k, v in resumed.items()})
