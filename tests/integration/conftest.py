"""The fixtures the namespace suites share: the nodeseal binary, network
keys, NetBeds, and the check that the host's own namespace is left alone.

The module-scoped fixtures are set up once per test module, as when each
module defined its own.  host_untouched is not autouse: a module opts in
with `pytestmark = pytest.mark.usefixtures("host_untouched")` (the suites
whose beds run nodeseal up/run; test_cli.py and test_peer.py need no bed).
"""

import os
import re
import subprocess
import types

import pytest

import netbed
from netbed import NetBed, nodeseal_path
from sealcmd import Seal


@pytest.fixture(scope="module")
def ns_bin():
    """The path of the nodeseal binary under test; the test fails (never
    skips) when it is missing."""
    path = nodeseal_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("nodeseal binary not found at %s (NS_BUILD=%r); build it with `make`"
                    % (path, os.environ.get("NS_BUILD")), pytrace=False)
    return path


@pytest.fixture(scope="module")
def seal(ns_bin):
    return Seal(ns_bin)


@pytest.fixture(scope="module")
def keys(ns_bin, tmp_path_factory):
    """Two network keys from `nodeseal genkey`, in 0600 files."""
    d = tmp_path_factory.mktemp("keys")
    out = types.SimpleNamespace()
    for name in ("good", "bad"):
        r = subprocess.run([ns_bin, "genkey"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10, env=netbed.clean_env())
        assert r.returncode == 0 and r.stdout.strip(), "nodeseal genkey: %s" % r.stderr
        path = str(d / ("%s.key" % name))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(r.stdout.strip() + "\n")
        setattr(out, name, path)
    return out


@pytest.fixture(scope="module")
def host_untouched():
    """The namespace pytest runs in must not gain interception state."""
    before = netbed.collect_state()
    yield
    after = netbed.collect_state()
    suspicious = re.compile(r"nodeseal|REDIRECT|TPROXY|fwmark|7447|20051", re.I)
    added = []
    for key in after:
        old = set(before.get(key, "").splitlines())
        added += ["%s: %s" % (key, l) for l in after[key].splitlines()
                  if l not in old and suspicious.search(l)]
    assert not added, "the test host's own namespace changed:\n" + "\n".join(added)


@pytest.fixture
def make_bed(tmp_path):
    """make_bed(n): a NetBed of n nodes, set up; every bed is torn down after
    the test, and a teardown problem fails it.  keep_logs=False: no log dir."""
    beds = []

    def make(n, keep_logs=True):
        logdir = None
        if keep_logs:
            logdir = tmp_path / ("bed%d" % len(beds))
            logdir.mkdir()
            logdir = str(logdir)
        bed = NetBed(n, logdir=logdir)
        beds.append(bed)
        return bed.setup()

    yield make
    problems = []
    for bed in beds:
        problems += bed.teardown()
    assert not problems, "teardown: %s" % problems
