"""Packet mode across a path narrower than the links: path MTU discovery.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -s -p no:cacheprovider tests/integration/test_packet_pmtu.py

Topology (a netbed.RoutedBed of its own address plan: three namespaces of this
module's own, nothing in the caller's):

    A 10.84.1.1  fd00:84:1::1 --- ra [R] rb --- 10.84.2.1  fd00:84:2::1 B
    every link MTU 1500; on R the routes towards A and towards B carry
    "mtu lock M", so R answers an oversize packet with DF (IPv6: any) with
    ICMP "fragmentation needed" / ICMPv6 "packet too big", MTU M.

In packet mode every sealed segment is 20 bytes longer than the stack made
it (the nodeseal option).  What this reproduced before the fix (M = 1400,
2 MB each way over port 7447): nothing but the first 64 KiB left either
socket; R sent 10 frag-needed each way (the first window) and then saw no
more large segment: the stack had lowered its PMTU to 1400, the option made
its 1400-byte packets 1420, and the kernel dropped them itself before they
left the host (IpFragFails = IcmpOutDestUnreachs = 15 on A, each answered
to itself over lo with the same MTU 1400), so nothing changed and the
transfer stalled until the test's 20 s deadline.  The same with a route MTU
of 1380 on the ends and a 1500 path: the proposed "MTU - 20" alone cannot
work, since the kernel checks the sealed packet against what it was told.

What is asserted now, for IPv4 and IPv6:
  * without nodeseal the same transfer passes (the control: R does send
    the ICMP, the stacks do learn 1400);
  * with nodeseal in A and B (same network key) 2 MB each way arrive with
    the right SHA-256 within the deadline; both daemons lowered the MTU of
    R's messages (status --json "pmtu": "lowered" > 0, "resent" > 0), the
    stacks hold M - 20 for the peer, and no host dropped a packet of its own
    for its size (IpFragFails / Ip6FragFails 0);
  * a PMTU learned by the kernel from an unprotected connection's ICMP
    (passed unchanged) or from a route MTU on the host is corrected from
    the kernel's own report over lo;
  * IPv6 below 1300 (here 1290; the stack goes no lower than 1280): the
    connection that meets the narrow path first may stall (documented), the
    next one to the same peer passes, clamped from the learned MTU;
  * the rules carry the ICMP queueing and no bypass, and "nodeseal down"
    restores iptables and routing exactly; a SIGKILLed daemon's rules (its
    ICMP jumps too) are replaced, one of each, by the next start.

Processes are stopped by PID; namespaces are named nspmtu-<pid>-<hex>-{a,r,b}
and removed at teardown (and, if a run was killed, by the next run).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from netbed import (PLAIN_PORT, PORT, PYTHON, REPO, RoutedBed, RouterCapture, collect_state,
                    private_tools, sh, snapshot_diff, start_daemon)

APP = os.path.join(REPO, "tests", "tools", "pmtu_bulk.py")
NS_PREFIX = "nspmtu"
A4, RA4, RB4, B4 = "10.84.1.1", "10.84.1.254", "10.84.2.254", "10.84.2.1"
A6, RA6, RB6, B6 = "fd00:84:1::1", "fd00:84:1::fe", "fd00:84:2::fe", "fd00:84:2::1"
NBYTES = 2 << 20
DEADLINE = 20.0
OPTION = 20


class Bed(RoutedBed):
    """A - R - B, IPv4 and IPv6, all links 1500; set_path() narrows R."""

    prefix = NS_PREFIX

    def __init__(self, tmpdir):
        super().__init__(tmpdir)
        self.daemons = {}

    def setup(self):
        # no duplicate address detection: the link-local addresses (and
        # their routes) are there at once, not in the middle of a snapshot
        self.add_namespaces(["net.ipv6.conf.%s.accept_dad=0" % conf
                             for conf in ("default", "all")])
        for ns, dev, a4, a6 in ((self.a, "eth0", A4, A6), (self.r, "ra", RA4, RA6),
                                (self.r, "rb", RB4, RB6), (self.b, "eth0", B4, B6)):
            # no router advertisements, no autoconfiguration: only these
            self.ns(ns, "sysctl", "-qw", "net.ipv6.conf.%s.accept_ra=0" % dev)
            sh(["ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev])
            sh(["ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad"])
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
        sh(["ip", "-n", self.a, "route", "add", "default", "via", RA4])
        sh(["ip", "-n", self.b, "route", "add", "default", "via", RB4])
        sh(["ip", "-n", self.a, "-6", "route", "add", "default", "via", RA6])
        sh(["ip", "-n", self.b, "-6", "route", "add", "default", "via", RB6])
        self.ns(self.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ns(self.r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")

    def set_path(self, mtu4=None, mtu6=None):
        """R's routes towards A and B get "mtu lock": the path narrows."""
        for dev, net4, net6 in (("rb", "10.84.2.0/24", "fd00:84:2::/64"),
                                ("ra", "10.84.1.0/24", "fd00:84:1::/64")):
            if mtu4:
                sh(["ip", "-n", self.r, "route", "replace", net4, "dev", dev, "proto", "kernel",
                    "scope", "link", "mtu", "lock", str(mtu4)])
            if mtu6:
                sh(["ip", "-n", self.r, "-6", "route", "replace", net6, "dev", dev, "proto",
                    "kernel", "metric", "256", "mtu", "lock", str(mtu6)])

    def teardown(self):
        for node, (p, state) in list(self.daemons.items()):
            try:
                p.stop()   # SIGTERM by PID: the daemon removes its rules
                self.ns(self.a if node == "A" else self.b, self.seal, "down", "--state-dir",
                        state, check=False, timeout=20)
            except Exception as e:   # the namespaces go anyway
                print("teardown of nodeseal in %s: %s" % (node, e))
        self.daemons = {}
        super().teardown()

    # ------------------------------------------------------------ nodeseal

    def prime(self, ns):
        """The usual tables present in both backends, as on a real host (so
        that a snapshot compares rules, not tables iptables created)."""
        for tool in ("iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft"):
            if shutil.which(tool):
                for table in ("filter", "nat", "mangle"):
                    self.ns(ns, tool, "-w", "-t", table, "-N", "NSPMTU-PRIME", check=False)
                    self.ns(ns, tool, "-w", "-t", table, "-X", "NSPMTU-PRIME", check=False)

    def snapshot(self, ns):
        self.prime(ns)
        return collect_state(lambda argv: self.ns(ns, *argv, check=False))

    def up(self, keyfile):
        for node, ns in (("A", self.a), ("B", self.b)):
            state = os.path.join(self.dir, "state" + node)
            p = start_daemon(self, ns, self.seal, ["--mode", "packet", "--network-key-file",
                                                   keyfile], state, "nodeseal-" + node)
            self.daemons[node] = (p, state)

    def status(self, node):
        p, state = self.daemons[node]
        r = self.ns(self.a if node == "A" else self.b, self.seal, "status", "--json",
                    "--state-dir", state, timeout=10, check=False)
        assert r.returncode == 0, "status in %s: %s%s" % (node, r.stdout, r.stderr)
        return json.loads(r.stdout)

    def down(self, node):
        p, state = self.daemons.pop(node)
        r = self.ns(self.a if node == "A" else self.b, self.seal, "down", "--state-dir", state,
                    check=False, timeout=20)
        assert r.returncode == 0, "nodeseal down in %s: %s%s" % (node, r.stdout, r.stderr)
        try:
            p.p.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("nodeseal up in %s still running after down" % node)
        p.stop()
        assert p.p.returncode == 0, "nodeseal up in %s: exit %s\n%s" % (
            node, p.p.returncode, p.stderr())

    # ------------------------------------------------------------ measures

    def transfer(self, addr, port=PORT, nbytes=NBYTES, deadline=DEADLINE, name="xfer"):
        """pmtu_bulk.py server in B, client in A; both results."""
        listen = "::" if ":" in addr else "0.0.0.0"
        srv = self.spawn(self.b, [PYTHON, APP, "server", listen, str(port), str(nbytes),
                                  str(deadline + 2)], name + "-server")
        assert srv.get(10) == "listening"
        t0 = time.monotonic()
        cli = self.spawn(self.a, [PYTHON, APP, "client", addr, str(port), str(nbytes),
                                  str(deadline)], name + "-client")
        c = json.loads(cli.get(deadline + 15))
        s = json.loads(srv.get(deadline + 15))
        c["seconds"] = round(time.monotonic() - t0, 2)
        cli.stop()
        srv.stop()
        return c, s

    def counters(self, ns):
        """IPv4 and IPv6 SNMP counters of a namespace (no nstat history)."""
        out = {}
        snmp = self.ns(ns, "cat", "/proc/net/snmp").stdout.splitlines()
        for head, vals in zip(snmp[0::2], snmp[1::2]):
            names, values = head.split()[1:], vals.split()[1:]
            prefix = head.split(":")[0]
            out.update({prefix + n: int(v) for n, v in zip(names, values)})
        for line in self.ns(ns, "cat", "/proc/net/snmp6").stdout.splitlines():
            k, v = line.split()
            out[k] = int(v)
        return out

    def kernel_pmtu(self, ns, addr):
        r = sh(["ip", "-n", ns] + (["-6"] if ":" in addr else []) + ["route", "get", addr])
        m = re.search(r"\bmtu (\d+)", r.stdout)
        return int(m.group(1)) if m else None


def icmp_seen(path, v6):
    """(count, set of MTUs) of the PMTU messages in a capture."""
    r = sh(["tcpdump", "-n", "-r", path, "icmp6" if v6 else "icmp"], check=False)
    mtus = re.findall(r"packet too big, mtu (\d+)" if v6 else r"need to frag \(mtu (\d+)\)",
                      r.stdout)
    return len(mtus), set(int(m) for m in mtus)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp, seal, _, keyfile = private_tools(tmp_path_factory, "test_packet_pmtu.py", "pmtu",
                                          tamper=False)
    return {"tmp": tmp, "seal": seal, "key": keyfile}


@pytest.fixture
def bed(env, request):
    d = os.path.join(env["tmp"], request.node.name.replace("[", "-").replace("]", ""))
    os.makedirs(d, exist_ok=True)
    b = Bed(d)
    b.seal = env["seal"]
    b.key = env["key"]
    try:
        b.setup()
        yield b
    finally:
        b.teardown()


FAMILIES = [pytest.param((4, B4), id="ipv4"), pytest.param((6, B6), id="ipv6")]


def report(what, c, s, extra=""):
    print("\n%s: client sent %d received %d (%s/%s), server sent %d received %d (%s/%s), "
          "%.2f s%s" % (what, c["sent"], c["received"], c["send_end"], c["recv_end"], s["sent"],
                        s["received"], s["send_end"], s["recv_end"], c["seconds"], extra))


def assert_complete(c, s, what):
    assert c["end"] == "ok" and s["end"] == "ok" and c["digest_ok"] and s["digest_ok"], (
        "%s: transfer incomplete: client %s, server %s" % (what, c, s))


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("fam", FAMILIES)
def test_plain_transfer_learns_the_narrow_path(bed, fam):
    """The control: no nodeseal, the same narrow path.  R sends its ICMP,
    the stacks learn 1400, the transfer passes."""
    v, addr = fam
    bed.set_path(mtu4=1400, mtu6=1400)
    cap = RouterCapture(bed, "plain%d" % v, "any", "icmp or icmp6")
    c, s = bed.transfer(addr, name="plain%d" % v)
    cap.stop()
    n, mtus = icmp_seen(cap.path, v == 6)
    report("plain IPv%d, path 1400" % v, c, s, ", %d ICMP from R" % n)
    assert_complete(c, s, "plain")
    assert n > 0 and mtus == {1400}, (n, mtus)
    assert bed.kernel_pmtu(bed.a, addr) == 1400


@pytest.mark.parametrize("fam", FAMILIES)
def test_packet_mode_crosses_the_narrow_path(bed, fam):
    """nodeseal in A and B, path 1400: the transfer passes, both daemons
    lowered R's MTU by the option's 20 bytes, the stacks hold 1380, no host
    dropped its own packets for their size, and down restores everything."""
    v, addr = fam
    snaps = {ns: bed.snapshot(ns) for ns in (bed.a, bed.b)}
    bed.set_path(mtu4=1400, mtu6=1400)
    bed.up(bed.key)
    rules = bed.ns(bed.a, "ip6tables-save" if v == 6 else "iptables-save", "-t", "mangle").stdout
    before = {ns: bed.counters(ns) for ns in (bed.a, bed.b)}
    cap = RouterCapture(bed, "sealed%d" % v, "any", "icmp or icmp6")
    c, s = bed.transfer(addr, name="sealed%d" % v)
    cap.stop()
    n, mtus = icmp_seen(cap.path, v == 6)
    st = {node: bed.status(node) for node in ("A", "B")}
    frag = "Ip6FragFails" if v == 6 else "IpFragFails"
    fails = {ns: bed.counters(ns)[frag] - before[ns][frag] for ns in (bed.a, bed.b)}
    report("packet mode IPv%d, path 1400" % v, c, s,
           ", %d ICMP from R, pmtu A %s B %s, %s %s" % (n, st["A"].get("pmtu"),
                                                       st["B"].get("pmtu"), frag, fails))
    assert_complete(c, s, "packet mode")
    assert n > 0 and mtus == {1400}, (n, mtus)
    assert "--queue-bypass" not in rules, rules
    want = ("-p ipv6-icmp -m icmp6 --icmpv6-type 2 -j NFQUEUE --queue-num 7447" if v == 6
            else "-p icmp -m icmp --icmp-type 3/4 -j NFQUEUE --queue-num 7447")
    assert want in rules and "-A NODESEAL_PKT_OUT -m mark --mark 0x4e530000 -j RETURN" in rules, \
        rules
    for node in ("A", "B"):
        pm, seg = st[node]["pmtu"], st[node]["segments"]
        assert pm["lowered"] > 0 and pm["resent"] > 0 and pm["peers"] >= 1, (node, pm)
        assert pm["resend_failed"] == 0, (node, pm)
        assert seg["bad_mac"] == 0 and seg["internal"] == 0, (node, seg)
    assert bed.kernel_pmtu(bed.a, addr) == 1400 - OPTION
    assert bed.kernel_pmtu(bed.b, A6 if v == 6 else A4) == 1400 - OPTION
    assert fails == {bed.a: 0, bed.b: 0}, fails
    bed.down("A")
    bed.down("B")
    for ns in (bed.a, bed.b):
        d = snapshot_diff(snaps[ns], bed.snapshot(ns))
        assert not d, "%s: state differs after down:\n%s" % (ns, d)


@pytest.mark.parametrize("fam", FAMILIES)
def test_pmtu_learned_elsewhere_is_corrected(bed, fam):
    """The kernel learns the path from a connection on an unprotected port
    (its ICMP passes through the daemon unchanged), or holds a route MTU of
    its own: its check then drops the sealed segments, it reports that to
    itself over lo, and the daemon lowers that report too."""
    v, addr = fam
    bed.set_path(mtu4=1400, mtu6=1400)
    bed.up(bed.key)
    c, s = bed.transfer(addr, port=PLAIN_PORT, name="unprotected%d" % v)
    report("unprotected port, IPv%d, path 1400" % v, c, s)
    assert_complete(c, s, "unprotected port")
    st = bed.status("A")["pmtu"]
    assert st["passed"] > 0 and st["lowered"] == 0, st
    assert bed.kernel_pmtu(bed.a, addr) == 1400
    c, s = bed.transfer(addr, name="after%d" % v)
    st = bed.status("A")["pmtu"]
    report("then port 7447", c, s, ", pmtu A %s" % st)
    assert_complete(c, s, "protected port after the unprotected one")
    assert st["lowered"] > 0, st
    # a route MTU on B towards A (the path itself is 1400 still)
    a_addr = A6 if v == 6 else A4
    sh(["ip", "-n", bed.b] + (["-6"] if v == 6 else []) + ["route", "add", a_addr, "via",
       RB6 if v == 6 else RB4, "mtu", "1360"])
    c, s = bed.transfer(addr, name="route%d" % v)
    st = bed.status("B")["pmtu"]
    report("route MTU 1360 on B", c, s, ", pmtu B %s" % st)
    assert_complete(c, s, "route MTU on B")
    assert st["lowered"] > 0, st
    assert bed.kernel_pmtu(bed.b, a_addr) == 1360 - OPTION


def test_ipv6_path_below_1300(bed):
    """The stack goes no lower than 1280, so a path of 1290 cannot carry its
    1280-byte segments with the option: the connection that meets it first
    may stall (docs/PROTOCOL.md, "MTU").  The daemon reported 1280 and noted
    1290 for the peer; the next connection's MSS is clamped to it and the
    transfer passes."""
    bed.set_path(mtu4=1400, mtu6=1290)
    bed.up(bed.key)
    c, s = bed.transfer(B6, nbytes=256 << 10, deadline=4, name="first")
    report("IPv6 path 1290, first connection", c, s)
    st = bed.status("A")["pmtu"]
    assert st["floor"] > 0 and st["peers"] >= 1, st
    assert bed.kernel_pmtu(bed.a, B6) == 1280
    c, s = bed.transfer(B6, name="second")
    report("IPv6 path 1290, next connection", c, s, ", pmtu A %s" % bed.status("A")["pmtu"])
    assert_complete(c, s, "IPv6 1290, next connection")


def test_crash_restart_replaces_rules(bed):
    """A SIGKILLed daemon leaves its rules (the ICMP jumps too); the next
    start replaces them, one of each, and down restores the state exactly."""
    snap = bed.snapshot(bed.a)
    bed.up(bed.key)
    saved = {}
    for tool in ("iptables-save", "ip6tables-save"):
        saved[tool] = bed.ns(bed.a, tool, "-t", "mangle").stdout
    p, state = bed.daemons.pop("A")
    p.stop(signal.SIGKILL)
    for tool in ("iptables-save", "ip6tables-save"):
        left = bed.ns(bed.a, tool, "-t", "mangle").stdout
        assert "NODESEAL_PKT_IN" in left, left
    bed.daemons.pop("B")[0].stop()
    bed.up(bed.key)
    for tool in ("iptables-save", "ip6tables-save"):
        now = bed.ns(bed.a, tool, "-t", "mangle").stdout
        rules = sorted(l for l in now.splitlines() if l.startswith("-A"))
        assert rules == sorted(l for l in saved[tool].splitlines() if l.startswith("-A")), now
        assert len([l for l in rules if "-j NODESEAL_PKT_IN" in l]) == 2, rules
        assert "--queue-bypass" not in now, now
    c, s = bed.transfer(B4, nbytes=256 << 10, name="after-restart")
    assert_complete(c, s, "after a crash and a restart")
    bed.down("A")
    d = snapshot_diff(snap, bed.snapshot(bed.a))
    assert not d, "state differs after crash, restart, down:\n%s" % d
