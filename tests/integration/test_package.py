"""The Debian package: built from this tree (`make deb`), installed with
dpkg, used, and removed.

Run as root, from the repository root:

    pytest-3 -v -p no:cacheprovider tests/integration/test_package.py

The module builds build/nodeseal_VERSION_ARCH.deb, checks what it holds
(dpkg-deb --info/--contents), installs it with `dpkg -i` and purges it at
the end, leaving the host as it was.  It runs only on a host without
nodeseal installed (no package, no /usr/bin/nodeseal, no /etc/nodeseal):
otherwise it skips, rather than replace the operator's.  The dependencies
are those scripts/install-deps.sh installs; nothing is fetched.

With the package installed, two nodes exchange P2P messages under
`/usr/bin/nodeseal run --config FILE` in proxy mode (the network key named
in the config file), and the bridge sees none of them in clear; and the
installed unit passes `systemd-analyze verify` (skipped where there is no
systemd-analyze); the same package installed again (the upgrade path)
passes; `make SAN=1 deb` is refused; a purge deletes /etc/nodeseal and
/var/lib/nodeseal, keys put there included.  $NS_BUILD's binary is not used.  About 15 s with the
tree already built.
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

import netbed
from mesh import (MESH_TIMEOUT, PROC_SLACK, assert_capture_clean, assert_mesh_reports,
                  load_report, start_mesh, wait_all)
from sealcmd import Seal

pytestmark = pytest.mark.usefixtures("host_untouched")

REPO = netbed.REPO
BIN = "/usr/bin/nodeseal"
UNIT = "/lib/systemd/system/nodeseal.service"
CONF = "/etc/nodeseal/nodeseal.conf"
STATE = "/var/lib/nodeseal"


def run(argv, timeout=300, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, env=netbed.clean_env())
    if check:
        assert r.returncode == 0, "%s -> exit %d:\n%s" % (" ".join(argv), r.returncode, r.stdout)
    return r


@pytest.fixture(scope="module")
def deb():
    if shutil.which("dpkg-deb") is None:
        pytest.skip("no dpkg-deb: not a Debian host")
    run(["make", "-C", REPO, "--no-print-directory", "deb"])
    debs = glob.glob(os.path.join(REPO, "build", "nodeseal_*.deb"))
    assert debs, "make deb made no build/nodeseal_*.deb"
    return max(debs, key=os.path.getmtime)


@pytest.fixture(scope="module")
def installed(deb):
    if run(["dpkg-query", "-W", "nodeseal"], check=False).returncode == 0:
        pytest.skip("a nodeseal package is installed on this host: not replaced by the test's")
    for path in (BIN, "/etc/nodeseal", UNIT, STATE):
        if os.path.lexists(path):
            pytest.skip("%s exists on this host: not overwritten by the test's package" % path)
    r = run(["dpkg", "-i", deb], check=False)
    try:
        assert r.returncode == 0, ("dpkg -i failed (scripts/install-deps.sh installs what "
                                   "the package depends on):\n" + r.stdout)
        yield deb
    finally:
        # What the daemon and the operator put there goes with a purge.
        if r.returncode == 0 and os.path.isdir("/etc/nodeseal"):
            os.makedirs(STATE, mode=0o700, exist_ok=True)
            with open(os.path.join(STATE, "node.key"), "w") as f:
                f.write("not a key\n")
            with open("/etc/nodeseal/network.key", "w") as f:
                f.write("not a key\n")
        run(["dpkg", "--purge", "nodeseal"], check=False)
        left = [p for p in (BIN, UNIT, "/etc/nodeseal", STATE) if os.path.lexists(p)]
        assert not left, "left after dpkg --purge: %s" % left


def test_deb_holds_what_it_should(deb):
    info = run(["dpkg-deb", "--info", deb]).stdout
    depends = re.search(r"^ Depends: (.*)$", info, re.M)
    assert depends, info
    for dep in ("libssl3", "libnetfilter-queue1", "libmnl0", "libcjson1", "iptables",
                "nftables", "iproute2"):
        assert re.search(r"(^|, )%s\b" % re.escape(dep), depends.group(1)), (dep, info)
    contents = run(["dpkg-deb", "--contents", deb]).stdout
    want = {"./usr/bin/nodeseal": "-rwxr-xr-x", "./usr/share/man/man8/nodeseal.8.gz": "-rw-r--r--",
            "./lib/systemd/system/nodeseal.service": "-rw-r--r--",
            "./etc/nodeseal/nodeseal.conf": "-rw-------"}
    for line in contents.splitlines():
        f = line.split()
        if f[-1] in want:
            assert f[0] == want[f[-1]] and f[1] == "root/root", line
            del want[f[-1]]
    assert not want, "missing from the package: %s\n%s" % (sorted(want), contents)
    conffiles = run(["dpkg-deb", "--info", deb, "conffiles"]).stdout.split()
    assert conffiles == [CONF], conffiles


def test_upgrade_in_place(installed):
    """The same package again: the upgrade path of the scripts (postinst
    configure with the version replaced, prerm upgrade) runs clean, and
    the config file stays."""
    r = run(["dpkg", "-i", installed], check=False)
    assert r.returncode == 0, r.stdout
    assert os.path.exists(CONF)


def test_san_build_not_packaged():
    r = run(["make", "-C", REPO, "--no-print-directory", "SAN=1", "deb"], check=False)
    assert r.returncode != 0 and "not with SAN=1" in r.stdout, r.stdout


def test_installed_unit_verifies(installed):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here (package systemd)")
    r = run(["systemd-analyze", "verify", "--man=no", UNIT], check=False)
    assert r.returncode == 0 and not r.stdout.strip(), (
        "systemd-analyze verify %s -> exit %d:\n%s" % (UNIT, r.returncode, r.stdout))


def test_installed_binary_seals_a_mesh(installed, make_bed, tmp_path):
    assert os.stat(CONF).st_mode & 0o777 == 0o600
    run([BIN, "version"])
    bed = make_bed(2)
    key = tmp_path / "network.key"
    key.write_text(run([BIN, "genkey"]).stdout)
    os.chmod(key, 0o600)
    conf = tmp_path / "nodeseal.conf"
    conf.write_text("# written by test_package\nNODESEAL_NETWORK_KEY_FILE = %s\n"
                    "NODESEAL_MODE = proxy\n" % key)
    os.chmod(conf, 0o600)
    seal = Seal(BIN)
    blocks, bsize = 2, 1 << 18
    cap = bed.capture("deb")
    procs = start_mesh(bed, bed.nodes, seal=seal, blocks=blocks, block_size=bsize,
                       opts_for=lambda n: ["--config", str(conf),
                                           "--state-dir", bed.node_dir(n)])
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK, seal)
    cap.stop()
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s" % (
        rcs, "\n".join(p.describe() for p in procs.values() if p.returncode))
    reports = {n: load_report(p) for n, p in procs.items()}
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize, real_source=True)
    assert_capture_clean(cap, cap.scan(), [p.marker for p in procs.values()],
                         min_payload=2 * blocks * bsize)
    for p in procs.values():
        assert p.argv[0] == BIN or BIN in p.argv, p.argv
