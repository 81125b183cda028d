"""nodeseal as the integration tests run it: the binary's subcommands in a
bed's namespaces (Seal), and a `nodeseal up` watched through /proc (Daemon).

Every command runs inside a bed namespace, never in the one pytest runs in.
"""

import json
import os
import re
import time

import pytest

from netbed import PYTHON

CMD_TIMEOUT = 20       # one nodeseal down/status/run -- true
READY_TIMEOUT = 15     # nodeseal up: until status answers
HZ = os.sysconf("SC_CLK_TCK")


class Seal:
    """The nodeseal binary and the ways the tests call it."""

    def __init__(self, path):
        self.path = path

    def fail_if_missing_subcommand(self, sub, rc, stderr):
        if rc not in (None, 0) and re.search(r"unknown (sub)?command", stderr or "", re.I):
            pytest.fail("%s has no '%s' subcommand yet (exit %s): %s"
                        % (self.path, sub, rc, (stderr or "").strip()[:500]), pytrace=False)

    def fail_if_unknown_option(self, rc, stderr):
        """The option-level twin of fail_if_missing_subcommand: a test written
        against an option the binary does not have yet says so plainly."""
        m = re.search(r"unknown option '(-[^']*)'", stderr or "")
        if rc not in (None, 0) and m:
            pytest.fail("%s has no %s option yet (exit %s): %s"
                        % (self.path, m.group(1), rc, (stderr or "").strip()[:500]), pytrace=False)

    def fail_if_unsupported(self, sub, rc, stderr):
        self.fail_if_missing_subcommand(sub, rc, stderr)
        self.fail_if_unknown_option(rc, stderr)

    def opts(self, bed, node, key, backend=None, extra=()):
        o = ["--state-dir", bed.node_dir(node), "--network-key-file", key]
        if backend:
            o += ["--iptables", backend]
        return o + list(extra)

    def run_argv(self, opts, cmd):
        return [self.path, "run"] + list(opts) + ["--"] + list(cmd)

    def cmd(self, bed, node, sub, opts, timeout=CMD_TIMEOUT, env=None):
        """Run a short nodeseal subcommand inside node's namespace."""
        r = bed.ns_exec(node, [self.path, sub] + list(opts), timeout=timeout, env=env)
        self.fail_if_unsupported(sub, r.returncode, r.stderr)
        return r

    def down(self, bed, node, opts):
        r = self.cmd(bed, node, "down", opts)
        assert r.returncode == 0, "nodeseal down failed (exit %d):\n%s%s" % (
            r.returncode, r.stdout, r.stderr)
        return r

    def status_json(self, bed, node, timeout=5):
        r = self.cmd(bed, node, "status", ["--json", "--state-dir", bed.node_dir(node)],
                     timeout=timeout)
        if r.returncode != 0:
            return None, r
        try:
            return json.loads(r.stdout), r
        except ValueError:
            pytest.fail("nodeseal status --json printed no JSON:\n%s%s" % (r.stdout, r.stderr),
                        pytrace=False)

    def start_up(self, bed, node, opts, name):
        p = bed.spawn(node, [self.path, "up"] + list(opts), name)
        return self.wait_ready(bed, node, p)

    def wait_ready(self, bed, node, p, ready=READY_TIMEOUT):
        """Until `status` answers in node; p is the `nodeseal up` (or `run`)
        process (a failure if it exits first)."""
        sub = "up"
        if self.path in p.argv[:-1]:
            sub = p.argv[p.argv.index(self.path) + 1]
        end = time.monotonic() + ready
        while True:
            r = bed.ns_exec(node, [self.path, "status", "--state-dir", bed.node_dir(node)],
                            timeout=5)
            if r.returncode == 0:
                return p
            rc = p.poll()
            if rc is not None:
                self.fail_if_unsupported(sub, rc, p.stderr())
                pytest.fail("nodeseal %s exited (%d) before it was ready:\n%s"
                            % (sub, rc, p.describe()), pytrace=False)
            self.fail_if_missing_subcommand("status", r.returncode, r.stderr)
            if time.monotonic() > end:
                pytest.fail("nodeseal %s not ready after %ss (status exit %d: %s)\n%s"
                            % (sub, ready, r.returncode, (r.stderr or "").strip(), p.describe()),
                            pytrace=False)
            time.sleep(0.05)


class Daemon:
    """A `nodeseal up` in a node namespace, and what /proc says about it."""

    def __init__(self, bed, node, proc, ns_bin):
        self.bed, self.node, self.proc, self.ns_bin = bed, node, proc, ns_bin
        self.pid = proc.pid
        self.state_dir = bed.node_dir(node)

    def cpu(self):
        """utime + stime in seconds."""
        with open("/proc/%d/stat" % self.pid) as f:
            x = f.read().rsplit(")", 1)[1].split()
        return (int(x[11]) + int(x[12])) / float(HZ)

    def mem(self):
        """{VmRSS, VmHWM} in KiB."""
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
        return out

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def nofile_soft(self):
        with open("/proc/%d/limits" % self.pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        return None

    def status(self, timeout=5):
        """`status --json`, or None while the daemon does not answer."""
        return Seal(self.ns_bin).status_json(self.bed, self.node, timeout)[0]

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        return self.proc.stderr()


def up_argv(ns_bin, bed, node, key, extra=(), nofile=None):
    """nofile: (soft, hard) RLIMIT_NOFILE for the daemon (None: inherited;
    a hard of None keeps the inherited hard limit)."""
    argv = [ns_bin, "up", "--network-key-file", key, "--state-dir", bed.node_dir(node)]
    argv += [str(x) for x in extra]
    if nofile:
        # exec keeps the pid: the Popen pid is still nodeseal's
        argv = [PYTHON, "-c", "import os, resource, sys\n"
                "cur = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
                "hard = int(sys.argv[2]) if sys.argv[2] != '-' else cur\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (min(int(sys.argv[1]), hard), hard))\n"
                "os.execv(sys.argv[3], sys.argv[3:])", str(nofile[0]),
                "-" if nofile[1] is None else str(nofile[1])] + argv
    return argv


def start_up(ns_bin, bed, node, key, name, extra=(), nofile=None, wrapper=(), ready=READY_TIMEOUT):
    """`nodeseal up` in node (under wrapper, e.g. valgrind); returns once
    `status` answers."""
    p = bed.spawn(node, list(wrapper) + up_argv(ns_bin, bed, node, key, extra, nofile), name)
    Seal(ns_bin).wait_ready(bed, node, p, ready)
    return Daemon(bed, node, p, ns_bin)


def down(ns_bin, bed, node, key):
    seal = Seal(ns_bin)
    seal.down(bed, node, seal.opts(bed, node, key))
