"""What the daemon keeps of root once it is set up (docs/SECURITY.md,
"Privileges").

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -p no:cacheprovider tests/integration/test_privileges.py

For `nodeseal up` in proxy mode and in packet mode, and for `nodeseal run`:
once the rules are in, /proc/PID/status of the daemon shows CAP_NET_ADMIN
and CAP_NET_RAW (and CAP_KILL under `run`, CAP_DAC_READ_SEARCH under
`--members chain`, in every thread) in its effective, permitted and
bounding sets, and nothing else; nothing inheritable nor ambient; and the
log says so in one line.  Under `run`, the node (the child) still has every
capability it was started with except the two that ns_confine_child takes.
Then `nodeseal down` removes every rule: the tools it runs still can.
And READY=1 (systemd's Type=notify) comes once both the rules and the drop
are done.  About 5 s in all.
"""

import os
import re
import socket
import time

import pytest

from sealcmd import Seal, down, start_up, up_argv

pytestmark = pytest.mark.usefixtures("host_untouched")

CAP_DAC_READ_SEARCH, CAP_KILL, CAP_NET_ADMIN, CAP_NET_RAW = 2, 5, 12, 13
NET = 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW


def caps(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                out[k] = int(v.strip(), 16)
    return out


def settled(pid, want, timeout=10.0):
    """The daemon's sets once it has dropped what it does not keep (the
    status socket answers before the rules go in, and the drop is after)."""
    end = time.monotonic() + timeout
    while True:
        c = caps(pid)
        if c["CapEff"] == want or time.monotonic() > end:
            return c
        time.sleep(0.05)


def assert_kept(c, want, what):
    assert c == {"CapInh": 0, "CapPrm": want, "CapEff": want, "CapBnd": want, "CapAmb": 0}, \
        "%s: %s, want %#x in CapPrm, CapEff and CapBnd" % (
            what, {k: "%#x" % v for k, v in c.items()}, want)


@pytest.mark.parametrize("mode", ["proxy", "packet"])
def test_up_keeps_only_net_admin_and_net_raw(ns_bin, keys, make_bed, mode):
    bed = make_bed(1)
    node = bed.nodes[0]
    assert caps(os.getpid())["CapEff"] & NET == NET, "the test must run as root"
    d = start_up(ns_bin, bed, node, keys.good, "up-" + mode, extra=["--mode", mode])
    assert_kept(settled(d.pid, NET), NET, "nodeseal up --mode " + mode)
    st = d.status()
    assert st is not None, "status stopped answering after the drop:\n" + d.proc.describe()
    d.proc.stop()
    log = d.proc.stderr()
    assert re.search(r"capabilities kept: CAP_NET_ADMIN CAP_NET_RAW; the others dropped$",
                     log, re.M), log
    assert "removing interception" not in log, "the rules could not be removed:\n" + log
    down(ns_bin, bed, node, keys.good)


def test_run_keeps_kill_and_the_node_keeps_its_own(ns_bin, keys, make_bed):
    bed = make_bed(1)
    node = bed.nodes[0]
    seal = Seal(ns_bin)
    p = bed.spawn(node, seal.run_argv(seal.opts(bed, node, keys.good), ["sleep", "30"]), "run")
    seal.wait_ready(bed, node, p)
    want = NET | 1 << CAP_KILL
    assert_kept(settled(p.pid, want), want, "nodeseal run (the daemon)")
    kids = [int(x) for x in open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()]
    assert len(kids) == 1, kids
    child = caps(kids[0])
    everything_but_net = caps(os.getpid())["CapEff"] & ~NET
    assert child["CapEff"] == everything_but_net and child["CapPrm"] == everything_but_net, \
        "the node lost more than CAP_NET_ADMIN and CAP_NET_RAW: %s" % (
            {k: "%#x" % v for k, v in child.items()})
    p.stop()
    log = p.stderr()
    assert "capabilities kept: CAP_KILL CAP_NET_ADMIN CAP_NET_RAW" in log, log
    assert "removing interception" not in log, log
    down(ns_bin, bed, node, keys.good)


def test_ready_notification_once_protected(ns_bin, keys, make_bed, tmp_path):
    """Type=notify: READY=1 reaches $NOTIFY_SOCKET once the rules are in and
    the capabilities dropped, so a unit ordered after nodeseal's starts on a
    protected host; STOPPING=1 when it stops.  (A path socket: abstract ones
    belong to a network namespace.)"""
    bed = make_bed(1)
    node = bed.nodes[0]
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    seal = Seal(ns_bin)
    p = bed.spawn(node, up_argv(ns_bin, bed, node, keys.good), "up-notify",
                  env={"NOTIFY_SOCKET": path})
    # The daemon stopped and its rules taken away, whatever fails.
    try:
        try:
            msg = sock.recv(4096).decode()
            guard = bed.ns_exec(node, ["nft", "list", "table", "inet", "nodeseal"]).stdout
            rules = "".join(bed.ns_exec(node, [t]).stdout
                            for t in ("iptables-nft-save", "iptables-legacy-save"))
            c = caps(p.pid)
        except socket.timeout:
            pytest.fail("no READY=1 on NOTIFY_SOCKET:\n" + p.describe(), pytrace=False)
        assert msg.split("\n")[0] == "READY=1", msg
        assert "chain" in guard, "READY=1 before the guard table was in:\n" + guard
        assert "--dport 7447" in rules or "--dports 7447" in rules, \
            "READY=1 before the rules were in:\n" + rules
        assert c["CapEff"] == NET, \
            "READY=1 before the capabilities were dropped: %#x" % c["CapEff"]
        assert seal.status_json(bed, node)[0] is not None
        p.stop()
        assert sock.recv(4096).decode() == "STOPPING=1"
    finally:
        p.stop()
        sock.close()
        down(ns_bin, bed, node, keys.good)


def test_members_chain_keeps_dac_read_search_in_every_thread(ns_bin, keys, make_bed, tmp_path):
    """--members chain: CAP_DAC_READ_SEARCH stays (the node's chain directory
    may be its own user's, mode 0700), and the chain worker thread holds no
    more than the daemon kept: capabilities are a thread's own, so a worker
    started before the drop would keep all of root's."""
    bed = make_bed(1)
    node = bed.nodes[0]
    want = NET | 1 << CAP_DAC_READ_SEARCH
    d = start_up(ns_bin, bed, node, keys.good, "up-chain",
                 extra=["--members", "chain", "--chain-dir", str(tmp_path / "nochain")])
    assert_kept(settled(d.pid, want), want, "nodeseal up --members chain")
    tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % d.pid))
    assert len(tids) >= 2, "no chain worker thread: %s" % tids
    for tid in tids:
        assert_kept(caps(tid), want, "thread %d of nodeseal up --members chain" % tid)
    d.proc.stop()
    log = d.proc.stderr()
    assert "capabilities kept: CAP_DAC_READ_SEARCH CAP_NET_ADMIN CAP_NET_RAW" in log, log
    down(ns_bin, bed, node, keys.good)
