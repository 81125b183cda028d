"""The resilience tests' application (tests/tools/res_app.py) on a NetBed: an
echo server on the protected port, and honest peers that keep one
ping-pong connection and open new connections, reporting in a status file.
"""

import json
import os
import time

import pytest

import netbed
from netbed import PORT, PYTHON

APP = os.path.join(netbed.REPO, "tests", "tools", "res_app.py")


def spawn_server(bed, node, name, extra=()):
    log = bed.path("app", name + ".jsonl")
    p = bed.spawn(node, [PYTHON, APP, "server", "--listen", "0.0.0.0:%d" % PORT, "--log", log]
                  + list(extra), name)
    p.log_path = log
    end = time.monotonic() + 10
    while "listening" not in p.stderr():
        assert p.poll() is None, "server died:\n" + p.describe()
        assert time.monotonic() < end, "server not listening:\n" + p.describe()
        time.sleep(0.02)
    return p


def server_records(*procs):
    recs = []
    for p in procs:
        try:
            with open(p.log_path) as f:
                for line in f:
                    if line.strip():
                        rec = json.loads(line)
                        rec["server"] = p.name
                        recs.append(rec)
        except OSError:
            pass
    return recs


def spawn_honest(bed, node, target, name, marker, **opts):
    status = bed.path("app", name + ".json")
    argv = [PYTHON, APP, "honest", "--connect", target.addr(), "--status", status,
            "--marker", marker]
    for k, v in opts.items():
        if v is True:
            argv.append("--" + k.replace("_", "-"))
        else:
            argv += ["--" + k.replace("_", "-"), str(v)]
    p = bed.spawn(node, argv, name)
    p.status_path = status
    return p


def honest_state(p, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        try:
            with open(p.status_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            if time.monotonic() > end:
                pytest.fail("no status from %s:\n%s" % (p.name, p.describe()), pytrace=False)
            time.sleep(0.05)


def wait_rounds(p, n, timeout, what=""):
    """Wait until the long-lived connection of p made n more round trips;
    returns (time of the first new round, time of the n-th)."""
    st = honest_state(p)
    start = st["rounds"]
    first = None
    end = time.monotonic() + timeout
    while True:
        st = honest_state(p)
        if first is None and st["rounds"] > start:
            first = time.monotonic()
        if st["rounds"] >= start + n:
            return first, time.monotonic()
        if p.poll() is not None or time.monotonic() > end:
            pytest.fail("%s: %s made %d of %d round trips in %ss; last events: %s\n%s"
                        % (what, p.name, st["rounds"] - start, n, timeout, st["events"][-8:],
                           p.describe()), pytrace=False)
        time.sleep(0.05)


def stop_honest(p):
    p.stop(grace=5)
    return honest_state(p)


def check_app_saw_only(recs, honest_ips):
    """Every connection the application accepted came from an honest peer
    and spoke its protocol (no stranger byte, no handshake bytes, no
    connection of the daemon's own)."""
    foreign = [r for r in recs
               if r.get("peer") not in honest_ips or r.get("error") == "not our header"]
    assert not foreign, "the application accepted connections that are not honest traffic:\n%s" % (
        json.dumps(foreign[:10], indent=1))
