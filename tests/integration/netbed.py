#!/usr/bin/python3
"""netbed -- the network-namespace test beds of nodeseal's integration tests.

Two beds: NetBed, nodes on a bridge (below), and RoutedBed, two nodes with a
router between them for the attack and path tests (see its section).  The
shared pytest fixtures are in conftest.py; the suites' helpers for meshes
of mcpeer (mesh.py), nodeseal's commands (sealcmd.py) and the resilience
application (resapp.py) build on this module.

    bed = NetBed(3, logdir="/some/dir")   # nothing happens yet
    bed.setup()                           # namespaces, bridge, veths, addresses
    ...
    bed.teardown()                        # always; idempotent

Layout (all of it inside namespaces this module creates; nothing is added to
the namespace the tests run in):

    <prefix>-sw         "switch": bridge br0, ports p0..pN-1 (IPv6 off)
    <prefix>-n<i>       node i: lo up, eth0 (veth peer of p<i>),
                        10.77.0.(i+1)/24 and fd77::(i+1)/64 nodad

<prefix> is "nsbed-<pid>-<4 hex>": unique per bed, so two runs (or a leftover)
never collide.  setup() first removes stale beds with the same base prefix
whose owning pid is gone (killing, by PID, what still runs inside them).
The veth pairs are created inside the switch namespace with the peer end
placed straight into the node namespace, so no interface ever appears in the
caller's namespace.

Processes are started with spawn() (always `ip netns exec NS ...`, which execs,
so the Popen pid *is* the command) and remembered; teardown() stops them by
PID (SIGTERM, then SIGKILL), then kills by PID whatever still lives in the
bed's own namespaces (orphans of a killed parent, such as the child of a
SIGKILLed `nodeseal run`), then deletes the namespaces and the work dir.

Capture: bed.capture("name") starts tcpdump on br0 in the switch namespace and
returns once a probe datagram sent after tcpdump said "listening" is really in
the file; stop() sends SIGINT by PID and waits.  scan_pcap() parses the pcap
(pure Python, no scapy needed), reassembles every TCP direction by sequence
number and searches the payload bytes for given byte strings.

Also a small CLI (used by scripts/demo.sh):
    netbed.py scan FILE [--needle TEXT]... [--needle-hex HEX]... [--absent|--present] [--json]
    netbed.py excerpt FILE [--port N] [--bytes N] [--skip N]
    netbed.py snapshot        (JSON of this namespace's iptables/ip rule/route state)
"""

import argparse
import collections
import difflib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

PYTHON = "/usr/bin/python3"
PORT = 7447         # the protected port: MultiChain's P2P port
PLAIN_PORT = 7448   # a port nodeseal leaves alone
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MCPEER = os.path.join(REPO, "tests", "peer", "mcpeer.py")

BASE_PREFIX = "nsbed"
BRIDGE = "br0"
NODE_IF = "eth0"
SUBNET4 = "10.77.0.%d"
SUBNET6 = "fd77::%x"
BCAST4 = "10.77.0.255"
KEEP_FLAG = ".keep"  # in a work dir: NSBED_KEEP=1 run, left for a look (rm -rf it yourself)


class BedError(RuntimeError):
    pass


# ---------------------------------------------------------------- helpers

def clean_env(extra=None):
    """The caller's environment without any NODESEAL* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODESEAL")}
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def sh(argv, timeout=15, check=True, env=None, input=None):
    """Run argv, capture text output; raise BedError on failure if check."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL if input is None else None,
                           input=input, text=True, timeout=timeout,
                           env=clean_env(env))
    except subprocess.TimeoutExpired as e:
        raise BedError("timed out after %ss: %s" % (timeout, " ".join(argv))) from e
    if check and r.returncode != 0:
        raise BedError("%s -> exit %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def nodeseal_path():
    """$NS_BUILD/nodeseal; a relative NS_BUILD (default "build") is taken
    relative to the repository root."""
    build = os.environ.get("NS_BUILD", "build")
    if not os.path.isabs(build):
        build = os.path.join(REPO, build)
    return os.path.join(build, "nodeseal")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is as good as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_starttime(pid):
    """Start time of pid (clock ticks since boot), None if gone: with the pid
    it identifies a process even if the pid is reused later."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def kill_pids(pids, grace=3.0, sig=signal.SIGTERM):
    """Send sig (SIGTERM) to each pid, wait up to grace, SIGKILL the rest (by PID only).
    pids: ints, or (pid, starttime) pairs to skip a pid now used by another process."""
    pairs = [p if isinstance(p, tuple) else (p, None) for p in pids]
    pids = [p for p, st in pairs if p > 1 and p != os.getpid() and
            (st is None or pid_starttime(p) == st)]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    end = time.monotonic() + grace
    while time.monotonic() < end and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def netns_list():
    r = sh(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def netns_pids(ns):
    r = sh(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def child_pids(pid):
    """Direct children of pid (all threads), from /proc."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return sorted(set(out))


def descendant_pids(pid):
    seen, todo = [], [pid]
    while todo:
        for c in child_pids(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


def delete_netns(ns):
    kill_pids(netns_pids(ns))
    sh(["ip", "netns", "del", ns], check=False)


def cleanup_stale(base=BASE_PREFIX):
    """Remove beds named <base>-<pid>-... whose pid no longer exists."""
    removed = []
    pat = re.compile(r"^%s-(\d+)-[0-9a-f]+-" % re.escape(base))
    for ns in netns_list():
        m = pat.match(ns)
        if m and not pid_alive(int(m.group(1))):
            delete_netns(ns)
            removed.append(ns)
    wpat = re.compile(r"^%s-(\d+)-[0-9a-f]+-" % re.escape(base))
    for d in os.listdir(tempfile.gettempdir()):
        m = wpat.match(d)
        path = os.path.join(tempfile.gettempdir(), d)
        if m and not pid_alive(int(m.group(1))) and not os.path.exists(os.path.join(path, KEEP_FLAG)):
            shutil.rmtree(path, ignore_errors=True)
    return removed


def fmt_hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return "(no %s)" % path


# ---------------------------------------------------------------- processes

class Proc:
    """A process started in a namespace; stdout/stderr go to files."""

    def __init__(self, name, ns, argv, popen, out_path, err_path):
        self.name = name
        self.ns = ns
        self.argv = argv
        self.popen = popen
        self.pid = popen.pid
        self.out_path = out_path
        self.err_path = err_path
        self.extra_pids = []  # (pid, starttime) of descendants, e.g. children of a killed parent

    def poll(self):
        return self.popen.poll()

    def remember_descendants(self):
        """Note the current descendants, so stop() also ends them if they
        outlive this process (as after a SIGKILL)."""
        for pid in descendant_pids(self.pid):
            st = pid_starttime(pid)
            if st is not None:
                self.extra_pids.append((pid, st))
        return self.extra_pids

    @property
    def returncode(self):
        return self.popen.returncode

    def wait(self, timeout):
        """Return the exit status, or None if still running after timeout."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=5.0):
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.signal(signal.SIGKILL)
                self.wait(5)
        if self.extra_pids:
            kill_pids(self.extra_pids, grace=1.0)

    def stdout(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr_tail(self, n=3000):
        return tail(self.err_path, n)

    def describe(self):
        rc = self.popen.poll()
        return "%s (pid %d, %s) in %s: %s\n--- stderr (tail) ---\n%s" % (
            self.name, self.pid, "running" if rc is None else "exit %d" % rc, self.ns,
            " ".join(self.argv), self.stderr_tail())


class Node:
    def __init__(self, index, ns):
        self.index = index
        self.name = "n%d" % index
        self.ns = ns
        self.ip4 = SUBNET4 % (index + 1)
        self.ip6 = SUBNET6 % (index + 1)
        self.ifname = NODE_IF

    def addr(self, family=4, port=PORT):
        return fmt_hostport(self.ip4 if family == 4 else self.ip6, port)

    def __repr__(self):
        return "<Node %s %s %s>" % (self.name, self.ns, self.ip4)


# ---------------------------------------------------------------- the bed

class NetBed:
    def __init__(self, n_nodes, base=BASE_PREFIX, logdir=None):
        if not 1 <= n_nodes <= 200:
            raise ValueError("n_nodes out of range")
        self.base = base
        self.run_id = "%d-%s" % (os.getpid(), secrets.token_hex(2))
        self.prefix = "%s-%s" % (base, self.run_id)
        self.switch_ns = self.prefix + "-sw"
        self.nodes = [Node(i, "%s-n%d" % (self.prefix, i)) for i in range(n_nodes)]
        self.procs = []
        self.captures = []
        self.workdir = None
        self.logdir = logdir
        self.created_ns = []
        self.primed = set()
        self.keep = os.environ.get("NSBED_KEEP") == "1"

    # -------------------------------------------------------- lifecycle
    def setup(self):
        cleanup_stale(self.base)
        # Short path: nodeseal's control socket lives in the state dir.
        self.workdir = tempfile.mkdtemp(prefix=self.prefix + "-")
        if self.keep:
            open(os.path.join(self.workdir, KEEP_FLAG), "w").close()
        if self.logdir is None:
            self.logdir = os.path.join(self.workdir, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        try:
            self._create()
        except Exception:
            self.teardown()
            raise
        return self

    def _ns_add(self, ns):
        sh(["ip", "netns", "add", ns])
        self.created_ns.append(ns)

    def _create(self):
        sw = self.switch_ns
        self._ns_add(sw)
        self.ns_exec_check(sw, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                                "net.ipv6.conf.default.disable_ipv6=1"])
        sh(["ip", "-n", sw, "link", "set", "lo", "up"])
        sh(["ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
            "forward_delay", "0"])
        for node in self.nodes:
            self._ns_add(node.ns)
            # No DAD (not even for the link-local address): addresses and
            # their local routes exist at once, so state snapshots taken right
            # after setup do not change later on their own.
            self.ns_exec_check(node.ns, ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                                         "net.ipv6.conf.default.accept_dad=0",
                                         "net.ipv6.conf.default.router_solicitations=0"])
            port = "p%d" % node.index
            sh(["ip", "-n", sw, "link", "add", port, "type", "veth",
                "peer", "name", node.ifname, "netns", node.ns])
            sh(["ip", "-n", sw, "link", "set", port, "master", BRIDGE])
            sh(["ip", "-n", sw, "link", "set", port, "up"])
            sh(["ip", "-n", node.ns, "link", "set", "lo", "up"])
            sh(["ip", "-n", node.ns, "addr", "add", node.ip4 + "/24", "dev", node.ifname])
            sh(["ip", "-n", node.ns, "-6", "addr", "add", node.ip6 + "/64", "dev", node.ifname,
                "nodad"])
            sh(["ip", "-n", node.ns, "link", "set", node.ifname, "up"])
        sh(["ip", "-n", sw, "link", "set", BRIDGE, "up"])
        # Wait until every node's link is up (carrier) -- normally immediate.
        end = time.monotonic() + 5
        for node in self.nodes:
            while True:
                r = sh(["ip", "-n", node.ns, "-o", "link", "show", node.ifname], check=False)
                t = sh(["ip", "-n", node.ns, "addr", "show", "tentative"], check=False)
                if "LOWER_UP" in r.stdout and not t.stdout.strip():
                    break
                if time.monotonic() > end:
                    raise BedError("%s: %s has no carrier: %s" % (node.ns, node.ifname, r.stdout))
                time.sleep(0.02)

    def teardown(self):
        errors = []
        for c in list(self.captures):
            try:
                c.stop()
            except Exception as e:  # keep tearing down
                errors.append("capture %s: %r" % (c.path, e))
        for p in reversed(self.procs):
            try:
                p.stop(grace=5.0)
            except Exception as e:
                errors.append("proc %s: %r" % (p.name, e))
        for ns in reversed(self.created_ns):
            delete_netns(ns)
        self.created_ns = []
        left = [ns for ns in netns_list() if ns.startswith(self.prefix + "-")]
        if left:
            errors.append("namespaces left: %s" % left)
        alive = [p.pid for p in self.procs if pid_alive(p.pid)]
        if alive:
            errors.append("processes still alive: %s" % alive)
        if self.workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return errors

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.teardown()

    # -------------------------------------------------------- paths
    def path(self, *parts):
        p = os.path.join(self.workdir, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def node_dir(self, node, sub="state"):
        d = os.path.join(self.workdir, node.name, sub)
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    # -------------------------------------------------------- running things
    @staticmethod
    def _ns_of(target):
        return target.ns if isinstance(target, Node) else target

    def ns_exec_argv(self, target, argv):
        return ["ip", "netns", "exec", self._ns_of(target)] + [str(a) for a in argv]

    def ns_exec(self, target, argv, timeout=15, env=None, check=False):
        """Run argv to completion in the namespace; CompletedProcess (text)."""
        return sh(self.ns_exec_argv(target, argv), timeout=timeout, check=check, env=env)

    def ns_exec_check(self, target, argv, timeout=15):
        return self.ns_exec(target, argv, timeout=timeout, check=True)

    def spawn(self, target, argv, name, env=None):
        """Start argv in the namespace (its own session); remembered for teardown."""
        full = self.ns_exec_argv(target, argv)
        i = 0
        base = name
        while os.path.exists(os.path.join(self.logdir, name + ".stderr")):
            i += 1
            name = "%s.%d" % (base, i)
        out_path = os.path.join(self.logdir, name + ".stdout")
        err_path = os.path.join(self.logdir, name + ".stderr")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            po = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  close_fds=True, start_new_session=True, env=clean_env(env))
        p = Proc(name, self._ns_of(target), full, po, out_path, err_path)
        self.procs.append(p)
        return p

    # -------------------------------------------------------- traffic helpers
    def mcpeer_argv(self, node, name, listen=None, connect=(), expect_inbound=0, blocks=2,
                    block_size=1 << 20, pings=5, invs=5, timeout=30, connect_retry=10,
                    marker=None, report=None, seed=None, extra=()):
        argv = [PYTHON, MCPEER, "--name", name, "--blocks", blocks, "--block-size", block_size,
                "--pings", pings, "--invs", invs, "--timeout", timeout,
                "--connect-retry", connect_retry]
        if marker:
            argv += ["--marker", marker]
        if listen:
            argv += ["--listen", listen]
        if expect_inbound:
            argv += ["--expect-inbound", expect_inbound]
        for c in connect:
            argv += ["--connect", c]
        if report:
            argv += ["--report", report]
        if seed is not None:
            argv += ["--seed", seed]
        return [str(a) for a in list(argv) + list(extra)]

    def tx_bytes(self, node):
        r = self.ns_exec_check(node, ["cat", "/sys/class/net/%s/statistics/tx_bytes" % node.ifname])
        return int(r.stdout.strip())

    def rate_limit(self, node, rate="100mbit"):
        """Shape the node's egress (tbf) so a transfer lasts long enough to watch."""
        sh(["tc", "-n", node.ns, "qdisc", "replace", "dev", node.ifname, "root", "tbf",
            "rate", rate, "burst", "256kb", "latency", "100ms"])

    def send_probe(self, payload, src=None):
        """One UDP broadcast datagram from src (default node 0) into the bridge."""
        src = src or self.nodes[0]
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\n"
                "s.sendto(sys.argv[1].encode(),(%r,9))\n" % BCAST4)
        self.ns_exec(src, [PYTHON, "-c", code, payload], timeout=10)

    # -------------------------------------------------------- capture
    def capture(self, name, timeout=10.0):
        c = Capture(self, self.path("pcap", name + ".pcap"), name)
        self.captures.append(c)
        c.start(timeout)
        return c

    # -------------------------------------------------------- routing/firewall state
    PRIME_TOOLS = ("iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft")
    PRIME_TABLES = ("filter", "nat", "mangle", "raw")

    def prime_tables(self, node):
        """Make the usual tables exist in both backends, as on any real host.

        Adding (and removing) a rule makes iptables create a table that stays
        after the rule is gone; a daemon cannot be expected to delete whole
        tables.  So the snapshot is taken with the tables already present.
        """
        if node.ns in self.primed:
            return
        for tool in self.PRIME_TOOLS:
            if not shutil.which(tool):
                continue
            for table in self.PRIME_TABLES:
                self.ns_exec(node, [tool, "-w", "-t", table, "-N", "NSBED-PRIME"])
                self.ns_exec(node, [tool, "-w", "-t", table, "-X", "NSBED-PRIME"])
        self.primed.add(node.ns)

    SNAPSHOT_CMDS = (
        ("iptables-legacy-save", ["iptables-legacy-save"]),
        ("ip6tables-legacy-save", ["ip6tables-legacy-save"]),
        ("iptables-nft-save", ["iptables-nft-save"]),
        ("ip6tables-nft-save", ["ip6tables-nft-save"]),
        ("ip rule", ["ip", "rule", "show"]),
        ("ip -6 rule", ["ip", "-6", "rule", "show"]),
        ("ip route table all", ["ip", "route", "show", "table", "all"]),
        ("ip -6 route table all", ["ip", "-6", "route", "show", "table", "all"]),
        # nodeseal's own table (inet nodeseal) and the others; sorted, since a
        # table replaced in one transaction is listed last
        ("nft list tables", ["nft", "list", "tables"]),
    )

    def snapshot(self, node, prime=True):
        """Normalized firewall/policy-routing state of the node namespace."""
        if prime:
            self.prime_tables(node)
        return collect_state(lambda argv: self.ns_exec(node, argv))


SNAPSHOT_CMDS = NetBed.SNAPSHOT_CMDS


def collect_state(run=None):
    """{name: normalized output} of SNAPSHOT_CMDS; run(argv) -> CompletedProcess
    (default: in the current namespace)."""
    run = run or (lambda argv: sh(argv, check=False))
    snap = {}
    for key, argv in SNAPSHOT_CMDS:
        if not shutil.which(argv[0]):
            snap[key] = "<%s not installed>" % argv[0]
            continue
        r = run(argv)
        if r.returncode != 0:
            snap[key] = "<exit %d> %s" % (r.returncode, r.stderr.strip())
        else:
            snap[key] = normalize_state(r.stdout + r.stderr)
            if argv[0] == "nft":
                snap[key] = "".join(sorted(snap[key].splitlines(True)))
    return snap


def normalize_state(text):
    out = []
    for line in text.splitlines():
        if line.startswith("# Generated by") or line.startswith("# Completed on"):
            continue
        line = re.sub(r"\[\d+:\d+\]", "[0:0]", line).rstrip()
        if line:
            out.append(line)
    return "\n".join(out) + "\n"


def snapshot_diff(before, after):
    """Human-readable diff of two snapshots ('' if equal)."""
    parts = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, ""), after.get(key, "")
        if a != b:
            d = difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="")
            parts.append("== %s ==\n%s" % (key, "\n".join(d)))
    return "\n".join(parts)


# ---------------------------------------------------------------- capture

class Capture:
    def __init__(self, bed, path, name):
        self.bed = bed
        self.path = path
        self.name = name
        self.proc = None
        self.stats = {}
        self.stopped = False

    def start(self, timeout=10.0):
        bed = self.bed
        # -U: write each packet at once (the probe check reads the file);
        # -B: a big kernel buffer so bursts are not dropped; -Z root: keep
        # root so tcpdump may write where we tell it.
        argv = ["tcpdump", "-i", BRIDGE, "-n", "-U", "--immediate-mode", "-s", "0", "-B", "131072", "-Z", "root",
                "-w", self.path]
        self.proc = bed.spawn(bed.switch_ns, argv, "tcpdump-" + self.name)
        end = time.monotonic() + timeout
        while "listening on" not in self.proc.stderr():
            if self.proc.poll() is not None:
                raise BedError("tcpdump exited early:\n" + self.proc.describe())
            if time.monotonic() > end:
                raise BedError("tcpdump not listening after %ss:\n%s" % (timeout, self.proc.describe()))
            time.sleep(0.02)
        # "listening" is printed once the socket is bound; prove it with a
        # probe that must show up in the file before any traffic is started.
        token = "NSBED-PROBE-%s" % secrets.token_hex(8)
        tok = token.encode()
        while True:
            bed.send_probe(token)
            t_end = time.monotonic() + 0.3
            while time.monotonic() < t_end:
                try:
                    with open(self.path, "rb") as f:
                        if tok in f.read():
                            return self
                except OSError:
                    pass
                time.sleep(0.02)
            if self.proc.poll() is not None:
                raise BedError("tcpdump exited:\n" + self.proc.describe())
            if time.monotonic() > end:
                raise BedError("capture probe never seen in %s:\n%s" % (self.path, self.proc.describe()))

    def stop(self, timeout=15.0):
        if self.stopped or self.proc is None:
            return self.stats
        self.stopped = True
        self.proc.signal(signal.SIGINT)
        rc = self.proc.wait(timeout)
        if rc is None:
            self.proc.stop(grace=2)
            raise BedError("tcpdump did not stop on SIGINT:\n" + self.proc.describe())
        err = self.proc.stderr()
        for key, pat in (("captured", r"(\d+) packets? captured"),
                         ("received", r"(\d+) packets? received by filter"),
                         ("dropped", r"(\d+) packets? dropped by kernel")):
            m = re.search(pat, err)
            self.stats[key] = int(m.group(1)) if m else None
        if self in self.bed.captures:
            self.bed.captures.remove(self)
        return self.stats

    def scan(self):
        if not self.stopped:
            self.stop()
        return scan_pcap(self.path)


# ---------------------------------------------------------------- pcap reading

def read_pcap(path):
    """Yield (linktype, caplen, origlen, data, ts) for each record of a pcap
    file; ts in seconds."""
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return
        magic = gh[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise BedError("%s: not a pcap file (magic %s)" % (path, magic.hex()))
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(endian + "I", gh[20:24])[0] & 0x0FFFFFFF
        rh = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, caplen, origlen = rh.unpack(h)
            data = f.read(caplen)
            if len(data) < caplen:
                return  # truncated last record (tcpdump killed mid-write)
            yield linktype, caplen, origlen, data, sec + frac / (1e9 if nano else 1e6)


def _l3(linktype, data):
    """(ethertype, offset of the network header) or (None, None)."""
    if linktype == 1:  # Ethernet
        if len(data) < 14:
            return None, None
        et = struct.unpack_from("!H", data, 12)[0]
        off = 14
        while et in (0x8100, 0x88A8) and len(data) >= off + 4:
            et = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
        return et, off
    if linktype == 113:  # Linux cooked v1
        return (struct.unpack_from("!H", data, 14)[0], 16) if len(data) >= 16 else (None, None)
    if linktype == 276:  # Linux cooked v2
        return (struct.unpack_from("!H", data, 0)[0], 20) if len(data) >= 20 else (None, None)
    if linktype in (12, 101):  # raw IP
        v = data[0] >> 4 if data else 0
        return {4: 0x0800, 6: 0x86DD}.get(v), 0
    if linktype == 228:  # raw IPv4
        return 0x0800, 0
    return None, None


def tcp_segments(path, stats=None, options=False):
    """Yield (src, sport, dst, dport, seq, flags, payload) for each TCP segment,
    and with options=True its TCP options as an eighth item."""
    st = stats if stats is not None else {}
    for k in ("packets", "tcp_packets", "truncated", "other"):
        st.setdefault(k, 0)
    for linktype, caplen, origlen, data, _ in read_pcap(path):
        st["packets"] += 1
        if caplen < origlen:
            st["truncated"] += 1
        et, off = _l3(linktype, data)
        if et == 0x0800 and len(data) >= off + 20:
            ihl = (data[off] & 0x0F) * 4
            tot = struct.unpack_from("!H", data, off + 2)[0]
            proto = data[off + 9]
            frag = struct.unpack_from("!H", data, off + 6)[0] & 0x3FFF
            src = socket.inet_ntop(socket.AF_INET, data[off + 12:off + 16])
            dst = socket.inet_ntop(socket.AF_INET, data[off + 16:off + 20])
            end = off + tot if tot else len(data)  # tot 0: IPv4 BIG TCP
            l4 = off + ihl
            if proto != 6 or frag:
                st["other"] += 1
                continue
        elif et == 0x86DD and len(data) >= off + 40:
            plen = struct.unpack_from("!H", data, off + 4)[0]
            nh = data[off + 6]
            src = socket.inet_ntop(socket.AF_INET6, data[off + 8:off + 24])
            dst = socket.inet_ntop(socket.AF_INET6, data[off + 24:off + 40])
            end = off + 40 + plen if plen else len(data)
            l4 = off + 40
            while nh in (0, 43, 60) and len(data) >= l4 + 2:  # hop-by-hop, routing, dstopts
                nh, hl = data[l4], data[l4 + 1]
                l4 += (hl + 1) * 8
            if nh != 6:
                st["other"] += 1
                continue
        else:
            st["other"] += 1
            continue
        end = min(end, len(data))
        if len(data) < l4 + 20:
            continue
        sport, dport, seq = struct.unpack_from("!HHI", data, l4)
        doff = (data[l4 + 12] >> 4) * 4
        flags = data[l4 + 13]
        st["tcp_packets"] += 1
        if options:
            yield src, sport, dst, dport, seq, flags, data[l4 + doff:end], data[l4 + 20:l4 + doff]
        else:
            yield src, sport, dst, dport, seq, flags, data[l4 + doff:end]


class PcapScan:
    """TCP payload of a whole capture, per direction, reassembled by seq."""

    def __init__(self, path):
        self.path = path
        self.stats = {}
        segs = {}
        self.packet_payloads = []  # (flow, payload) -- every non-empty segment as seen
        for src, sport, dst, dport, seq, flags, payload in tcp_segments(path, self.stats):
            key = (src, sport, dst, dport)
            if flags & 0x02:  # SYN consumes one sequence number
                seq = (seq + 1) & 0xFFFFFFFF
            if payload:
                segs.setdefault(key, []).append((seq, bytes(payload)))
                self.packet_payloads.append((key, bytes(payload)))
            else:
                segs.setdefault(key, [])
        self.flows = {}  # key -> list of contiguous chunks (bytes)
        for key, lst in segs.items():
            self.flows[key] = self._stitch(lst)

    @staticmethod
    def _stitch(lst):
        if not lst:
            return []
        base = lst[0][0]
        rel = []
        for seq, p in lst:
            r = (seq - base) & 0xFFFFFFFF
            if r >= 1 << 31:
                r -= 1 << 32
            rel.append((r, p))
        rel.sort(key=lambda x: (x[0], -len(x[1])))
        chunks = []
        cur = None
        cur_end = 0
        for r, p in rel:
            if cur is not None and r <= cur_end:
                if r + len(p) > cur_end:
                    cur += p[cur_end - r:]
                    cur_end = r + len(p)
                continue
            if cur is not None:
                chunks.append(bytes(cur))
            cur = bytearray(p)
            cur_end = r + len(p)
        if cur is not None:
            chunks.append(bytes(cur))
        return chunks

    # ---------------------------------------------------------------- queries
    def payload_bytes(self, port=None):
        n = 0
        for (src, sport, dst, dport), chunks in self.flows.items():
            if port is None or port in (sport, dport):
                n += sum(len(c) for c in chunks)
        return n

    def flows_with_payload(self, port=None):
        return {k: sum(len(c) for c in ch) for k, ch in self.flows.items()
                if ch and (port is None or port in (k[1], k[3]))}

    def find(self, needles):
        """{needle: [flow description, ...]} for every needle found anywhere."""
        hits = {}
        for needle in needles:
            where = []
            for key, chunks in self.flows.items():
                for c in chunks:
                    if needle in c:
                        where.append(flow_name(key))
                        break
            if not where:
                for key, p in self.packet_payloads:
                    if needle in p:
                        where.append(flow_name(key) + " (single segment)")
                        break
            if where:
                hits[needle] = where
        return hits

    def excerpt(self, port=None, nbytes=256, skip=0):
        """Bytes from the largest flow touching port (for showing ciphertext)."""
        flows = self.flows_with_payload(port)
        if not flows:
            return None, b""
        key = max(flows, key=flows.get)
        data = b"".join(self.flows[key])
        return key, data[skip:skip + nbytes]

    def summary(self):
        return ("%s: %d packets, %d TCP, %d truncated, %d TCP flows, %d payload bytes"
                % (os.path.basename(self.path), self.stats.get("packets", 0),
                   self.stats.get("tcp_packets", 0), self.stats.get("truncated", 0),
                   len(self.flows), self.payload_bytes()))


def flow_name(key):
    src, sport, dst, dport = key
    return "%s -> %s" % (fmt_hostport(src, sport), fmt_hostport(dst, dport))


def scan_pcap(path):
    return PcapScan(path)


def pcap_flow_times(path):
    """{flow_name: (first ts, last ts)} for the IPv4/TCP flows of a pcap."""
    out = {}
    for linktype, _, _, data, ts in read_pcap(path):
        et, off = _l3(linktype, data)
        if et != 0x0800 or len(data) < off + 20 or data[off + 9] != 6:
            continue
        ihl = (data[off] & 15) * 4
        if len(data) < off + ihl + 4:
            continue
        sport, dport = struct.unpack_from("!HH", data, off + ihl)
        key = (socket.inet_ntoa(data[off + 12:off + 16]), sport,
               socket.inet_ntoa(data[off + 16:off + 20]), dport)
        name = flow_name(key)
        a, b = out.get(name, (ts, ts))
        out[name] = (min(a, ts), max(b, ts))
    return out


def plaintext_flows(cap, needles):
    """[(flow name, first ts, needle)] of every flow carrying one of needles."""
    scan = cap.scan()
    hits = scan.find([n.encode() if isinstance(n, str) else n for n in needles])
    times = pcap_flow_times(cap.path)
    out = []
    for needle, flows in hits.items():
        for fl in flows:
            name = fl.replace(" (single segment)", "")
            out.append((name, times.get(name, (None, None))[0], needle))
    return scan, out


def hexdump(data, width=16):
    lines = []
    for i in range(0, len(data), width):
        chunk = data[i:i + width]
        hx = " ".join("%02x" % b for b in chunk)
        asc = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append("%08x  %-*s  |%s|" % (i, width * 3 - 1, hx, asc))
    return "\n".join(lines)


# ---------------------------------------------------------------- the routed bed
#
# The attack and packet-path tests' own topology, a router between two nodes:
#
#     A 10.81.1.1/24 --- ra 10.81.1.254 [R] rb 10.81.2.254 --- 10.81.2.1/24 B
#
# Namespaces are named <prefix>-<pid>-<hex>-{a,r,b}.  Their processes talk
# over pipes (PipedProc: commands on stdin, one answer a line on stdout), so
# a test can drive the tamper tool and the applications trial by trial.

TOOLS = os.path.join(REPO, "tests", "tools")
ATTACK_APP = os.path.join(TOOLS, "attack_app.py")
TAMPER_SRC = os.path.join(TOOLS, "tamper.c")
ROUTED_PREFIX = "nsatk"
A_IP, RA_IP, RB_IP, B_IP = "10.81.1.1", "10.81.1.254", "10.81.2.254", "10.81.2.1"
ATTACK_MARKER = b"NSATK-PLAINTEXT-MARKER"   # in every stream of attack_app.py


class PipedProc:
    """A child in a namespace: stdin pipe, stdout lines read by a thread."""

    def __init__(self, bed, ns, argv, name, json_lines=False, pipe=True):
        self.name = name
        self.errpath = os.path.join(bed.dir, name + ".stderr")
        self.err = open(self.errpath, "w")
        self.lines = queue.Queue()
        self.json = json_lines
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv),
                                  stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if pipe else subprocess.DEVNULL,
                                  stderr=self.err, env=clean_env(), text=True, bufsize=1)
        self.pid = self.p.pid
        if pipe:
            threading.Thread(target=self._reader, daemon=True).start()
        bed.procs.append(self)

    def _reader(self):
        for line in self.p.stdout:
            self.on_line(line.rstrip("\n"))
        self.lines.put(None)

    def on_line(self, line):
        self.lines.put(json.loads(line) if self.json else line)

    def stderr(self, n=3000):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def send(self, line):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise AssertionError("%s is gone (exit %s):\n%s" % (self.name, self.p.poll(),
                                                               self.stderr()))

    def get(self, timeout):
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("%s: no answer within %ss\n%s" % (self.name, timeout,
                                                                  self.stderr()))
        if item is None:
            self.lines.put(None)
            raise AssertionError("%s exited (%s):\n%s" % (self.name, self.p.poll(), self.stderr()))
        return item

    def request(self, line, timeout=15):
        self.send(line)
        return self.get(timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        try:
            self.p.wait(1.5 if sig == signal.SIGTERM else 0)
        except subprocess.TimeoutExpired:
            pass
        if self.p.poll() is None:   # reaped: its pid may be another process's by now
            kill_pids([self.pid], sig=sig)
        try:
            self.p.wait(3)
        except subprocess.TimeoutExpired:
            pass
        self.err.close()



class Tamper(PipedProc):
    """tests/tools/tamper.c: replies in a queue, events (conn/applied) by trial."""

    def __init__(self, *a, **kw):
        self.events = collections.defaultdict(list)
        self.ev_lock = threading.Lock()
        super().__init__(*a, **kw)

    def on_line(self, line):
        w = line.split()
        if w and w[0] in ("conn", "applied"):
            with self.ev_lock:
                self.events[int(w[1])].append(line)
        else:
            self.lines.put(line)

    def trial_events(self, tid):
        with self.ev_lock:
            return list(self.events.get(tid, []))

    def expect(self, cmd, prefix):
        line = self.request(cmd)
        assert line.startswith(prefix), "tamper: %r -> %r" % (cmd, line)
        return line



class TrialCtx:
    """What an attack suite on a RoutedBed keeps across its trials: the bed,
    the nodeseal binary, the daemons' state dirs (A and B) and a trial id
    counter; and the daemons' status."""

    def __init__(self, bed, seal):
        self.bed = bed
        self.seal = seal
        self.next_tid = 1
        self.state = {"A": os.path.join(bed.dir, "stateA"), "B": os.path.join(bed.dir, "stateB")}
        self.nsname = {"A": bed.a, "B": bed.b}

    def tid(self):
        t = self.next_tid
        self.next_tid += 1
        return t

    def status(self, node):
        r = self.bed.ns(self.nsname[node], self.seal, "status", "--json", "--state-dir",
                        self.state[node], timeout=10, check=False)
        assert r.returncode == 0, "nodeseal status in %s: %s%s" % (node, r.stdout, r.stderr)
        return json.loads(r.stdout)


def trial_record(tid, kind, direction, off, arg, applied, end, cli, conns):
    """What both attack suites record of one trial: the attack, what tamper.c
    did (applied: its "applied" events; end: its "end" line, which names the
    connection's tuple) and what attack_app.py's client (cli) and server
    (its conns) saw of their streams."""
    tuple_m = re.search(r"tuple=(\S+)>(\S+)", end)
    return {
        "tid": tid, "kind": kind, "dir": direction, "off": off, "arg": arg,
        "applied": len(applied), "events": applied,
        "tuple": (tuple_m.group(1), tuple_m.group(2)) if tuple_m else None,
        "client": cli, "server": conns,
        "client_complete": bool(cli.get("complete")),
        "server_complete": len(conns) == 1 and bool(conns[0].get("complete")),
        "corrupted": cli.get("corrupted", 0) + sum(s.get("corrupted", 0) for s in conns),
        "bad_digests": cli.get("bad_digests", 0) + sum(s.get("bad_digests", 0) for s in conns),
    }


class RouterCapture:
    """tcpdump in the router namespace of a RoutedBed (or of a bed like it)."""

    def __init__(self, bed, name, iface, filt):
        self.path = os.path.join(bed.dir, name + ".pcap")
        self.proc = PipedProc(bed, bed.r, ["tcpdump", "-i", iface, "-n", "-s", "0", "-U",
                                      "--immediate-mode", "-B", "65536", "-w",
                                      self.path, filt], "tcpdump-" + name, pipe=False)
        end = time.monotonic() + 10
        while "listening on" not in self.proc.stderr():
            assert self.proc.p.poll() is None, "tcpdump died:\n" + self.proc.stderr()
            assert time.monotonic() < end, "tcpdump not listening:\n" + self.proc.stderr()
            time.sleep(0.05)
        self.dropped = None

    def stop(self):
        if self.proc.p.poll() is None:
            time.sleep(0.3)   # the last packets through the ring buffer
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc.stop()
        m = re.search(r"(\d+) packets? dropped by kernel", self.proc.stderr())
        self.dropped = int(m.group(1)) if m else None


def start_daemon(bed, ns, seal, args, state, name):
    """`nodeseal up ARGS --state-dir STATE` in ns, once its control socket
    answers; its Proc."""
    os.makedirs(state, exist_ok=True)
    p = bed.spawn(ns, [seal, "up"] + list(args) + ["--state-dir", state], name, pipe=False)
    end = time.monotonic() + 15
    while bed.ns(ns, seal, "status", "--state-dir", state, check=False,
                 timeout=5).returncode != 0:
        assert p.p.poll() is None, "%s exited:\n%s" % (name, p.stderr())
        assert time.monotonic() < end, "%s not ready" % name
        time.sleep(0.05)
    return p



class RoutedBed:
    """Namespaces A and B with a router R between them (see the section
    comment); processes are PipedProcs, stopped at teardown.  A bed of
    another address plan subclasses it with its own prefix and setup()."""

    prefix = ROUTED_PREFIX

    def __init__(self, tmpdir):
        self.dir = tmpdir
        self.tag = "%s-%d-%s" % (self.prefix, os.getpid(), secrets.token_hex(2))
        self.a, self.r, self.b = (self.tag + "-a", self.tag + "-r", self.tag + "-b")
        self.procs = []
        self.created = []

    def ns(self, ns, *argv, **kw):
        return sh(["ip", "netns", "exec", ns] + list(argv), **kw)

    def add_namespaces(self, sysctls):
        """A, R and B (stale ones of a killed run removed first), each with
        sysctls set before any link exists, and the veths R-A and R-B."""
        cleanup_stale(self.prefix)
        for ns in (self.a, self.r, self.b):
            sh(["ip", "netns", "add", ns])
            self.created.append(ns)
            for s in sysctls:
                self.ns(ns, "sysctl", "-qw", s)
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", self.r, "link", "add", "ra", "type", "veth", "peer", "name", "eth0",
            "netns", self.a])
        sh(["ip", "-n", self.r, "link", "add", "rb", "type", "veth", "peer", "name", "eth0",
            "netns", self.b])

    def setup(self):
        # no IPv6 addresses on the links: only the addresses below exist
        self.add_namespaces(["net.ipv6.conf.default.disable_ipv6=1"])
        for ns, dev, addr in ((self.a, "eth0", A_IP), (self.r, "ra", RA_IP),
                              (self.r, "rb", RB_IP), (self.b, "eth0", B_IP)):
            sh(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev])
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
        sh(["ip", "-n", self.a, "route", "add", "default", "via", RA_IP])
        sh(["ip", "-n", self.b, "route", "add", "default", "via", RB_IP])
        self.ns(self.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def spawn(self, ns, argv, name, **kw):
        return PipedProc(self, ns, argv, name, **kw)

    def teardown(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass
        for ns in self.created:
            delete_netns(ns)
        self.created = []


def private_tools(tmp_path_factory, suite, sub, tamper=True):
    """What a module's fixture starts from: root, its own copy of nodeseal
    (others may rebuild build/ while it runs), tamper.c built if asked, and
    a fresh network key (mode 0600).  Returns (tmp, seal, tamper, keyfile)."""
    if os.geteuid() != 0:
        pytest.fail("%s needs root (network namespaces, iptables, NFQUEUE)" % suite,
                    pytrace=False)
    src = nodeseal_path()
    if not os.access(src, os.X_OK):
        pytest.fail("%s not found: run make first (NS_BUILD names the build dir)" % src,
                    pytrace=False)
    tmp = str(tmp_path_factory.mktemp(sub))
    seal = os.path.join(tmp, "nodeseal")
    shutil.copy2(src, seal)
    tamper_bin = None
    if tamper:
        tamper_bin = os.path.join(tmp, "tamper")
        r = sh(["cc", "-O2", "-Wall", "-o", tamper_bin, TAMPER_SRC, "-lnetfilter_queue",
                "-lmnl"], timeout=120, check=False)
        assert r.returncode == 0, "building tamper.c failed:\n" + r.stderr
    keyfile = os.path.join(tmp, "network.key")
    with open(keyfile, "w") as f:
        f.write(sh([seal, "genkey"]).stdout)
    os.chmod(keyfile, 0o600)
    return tmp, seal, tamper_bin, keyfile


def pcap_packets(path, options=False):
    """(src, sport, dst, dport, seq, flags, payload) of each IPv4 TCP packet,
    and with options=True its TCP options as an eighth item."""
    for seg in tcp_segments(path, options=options):
        if ":" not in seg[0]:
            yield seg


def pcap_streams(path):
    """Reassembled payload per TCP connection and direction:
    {(src, sport, dst, dport): [stream, ...]} (one stream per SYN seen), each
    stream a dict: data (bytearray, by sequence number), bytes (payload bytes
    in packets, copies included), marker (ATTACK_MARKER in any one packet)."""
    flows = collections.defaultdict(list)
    for src, sport, dst, dport, seq, flags, pay in pcap_packets(path):
        key = (src, sport, dst, dport)
        if flags & 0x02:
            if not flows[key] or flows[key][-1]["isn"] != seq:
                flows[key].append({"isn": seq, "data": bytearray(), "bytes": 0, "marker": False})
            continue
        if not flows[key]:
            flows[key].append({"isn": (seq - 1) & 0xffffffff, "data": bytearray(), "bytes": 0,
                               "marker": False})
        st = flows[key][-1]
        if not pay:
            continue
        off = (seq - st["isn"] - 1) & 0xffffffff
        if off > (1 << 24):
            continue
        buf = st["data"]
        if len(buf) < off + len(pay):
            buf.extend(b"\0" * (off + len(pay) - len(buf)))
        buf[off:off + len(pay)] = pay
        st["bytes"] += len(pay)
        st["marker"] = st["marker"] or ATTACK_MARKER in pay
    return flows


def stream_has_marker(st):
    return st["marker"] or ATTACK_MARKER in st["data"]




# ---------------------------------------------------------------- CLI

def _cli(argv):
    p = argparse.ArgumentParser(prog="netbed.py", description="pcap helpers for nodeseal tests/demo")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan", help="search TCP payload of a pcap for byte strings")
    s.add_argument("pcap")
    s.add_argument("--needle", action="append", default=[], help="text to look for (UTF-8)")
    s.add_argument("--needle-hex", action="append", default=[], help="bytes to look for, as hex")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--absent", action="store_true", help="exit 1 if any needle is found")
    g.add_argument("--present", action="store_true", help="exit 1 if any needle is missing")
    s.add_argument("--port", type=int, default=None, help="port for the payload byte count")
    s.add_argument("--json", action="store_true")
    e = sub.add_parser("excerpt", help="hex/ASCII dump of TCP payload from the largest flow")
    e.add_argument("pcap")
    e.add_argument("--port", type=int, default=None)
    e.add_argument("--bytes", type=int, default=256)
    e.add_argument("--skip", type=int, default=0)
    sub.add_parser("snapshot", help="JSON of the firewall/policy-routing state of this namespace")
    a = p.parse_args(argv)

    if a.cmd == "snapshot":
        print(json.dumps(collect_state(), indent=1, sort_keys=True))
        return 0
    sc = scan_pcap(a.pcap)
    if a.cmd == "excerpt":
        key, data = sc.excerpt(a.port, a.bytes, a.skip)
        if key is None:
            print("(no TCP payload%s)" % ("" if a.port is None else " on port %d" % a.port))
            return 1
        print("flow %s, bytes %d..%d:" % (flow_name(key), a.skip, a.skip + len(data)))
        print(hexdump(data))
        return 0
    needles = [n.encode("utf-8") for n in a.needle] + [bytes.fromhex(h) for h in a.needle_hex]
    hits = sc.find(needles)
    res = {
        "summary": sc.summary(),
        "payload_bytes": sc.payload_bytes(a.port),
        "needles": {n.decode("latin-1"): hits.get(n, []) for n in needles},
    }
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(res["summary"])
        for n in needles:
            where = hits.get(n)
            print("  %-40r %s" % (n, ("FOUND in " + "; ".join(where[:3])) if where else "not found"))
    if a.absent and hits:
        return 1
    if a.present and len(hits) != len(needles):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
