"""Long-lived meshes of tests/peer/mclive.py, and what their status files say:
which links carry messages now, which connections closed when.

A link is one TCP connection seen from one end: (node, peer name,
direction).  It is live when the connection is open, its pings were answered
within the last FRESH seconds (pongs received) and the peer's pings arrived
within FRESH seconds too (so messages go both ways on it), in a status file
written within the last second or so.  Times are time.monotonic() of this
host: the peers and pytest share the clock.
"""

import json
import os
import time

import pytest

import netbed
from netbed import PYTHON

LIVE = os.path.join(netbed.REPO, "tests", "peer", "mclive.py")
FRESH = 2.0           # a live link answered a ping within this many seconds
STATUS_STALE = 1.5    # a status file older than this: the peer is not writing it


def live_argv(name, listen=None, listen_fd=None, connect=(), status=None, stop_file=None,
              marker=None, timeout=300, extra=()):
    argv = [PYTHON, LIVE, "--name", name, "--timeout", timeout]
    if listen:
        argv += ["--listen", listen]
    if listen_fd is not None:
        argv += ["--listen-fd", listen_fd]
    for c in connect:
        argv += ["--connect", c]
    if status:
        argv += ["--status", status]
    if stop_file:
        argv += ["--stop-file", stop_file]
    if marker:
        argv += ["--marker", marker]
    return [str(a) for a in list(argv) + list(extra)]


def read_status(path, timeout=5.0, describe=None):
    """The status file of a live peer (waits for it to exist)."""
    end = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            if time.monotonic() > end:
                pytest.fail("no status file %s (%s)%s" % (
                    path, e, "\n" + describe() if describe else ""), pytrace=False)
            time.sleep(0.05)


def is_open(c):
    return c["closed"] is None


def link_state(st, peer, direction, fresh=FRESH, at=None):
    """(live?, what was seen) for node st's link to peer in direction."""
    at = time.monotonic() if at is None else at
    if at - st["now"] > STATUS_STALE:
        return False, "%s's status is %.1fs old (stopping=%s)" % (st["name"], at - st["now"],
                                                                 st["stopping"])
    cs = [c for c in st["connections"] if c["peer_name"] == peer and c["direction"] == direction]
    opened = [c for c in cs if is_open(c)]
    if not opened:
        return False, "%s has no open %s connection with %s (%d closed: %s)" % (
            st["name"], direction, peer, len(cs), [c["close_reason"] for c in cs[-3:]])
    notes = []
    for c in opened:
        lp, lr = c["last_pong_received"], c["last_ping_received"]
        if lp is not None and lr is not None and at - lp <= fresh and at - lr <= fresh:
            return True, "conn#%d live" % c["id"]
        notes.append("conn#%d: last pong %s, last ping from it %s (pongs %d, pings %d)" % (
            c["id"], "never" if lp is None else "%.1fs ago" % (at - lp),
            "never" if lr is None else "%.1fs ago" % (at - lr), c["pongs_received"],
            c["pings_received"]))
    return False, "%s's %s link with %s is open but quiet: %s" % (
        st["name"], direction, peer, "; ".join(notes))


def dead_links(statuses, names, fresh=FRESH):
    """[what was seen] for every expected link that is not live: every node
    of names has an outbound and an inbound connection with every other."""
    at = time.monotonic()
    out = []
    for a in names:
        if statuses[a].get("accept_errors"):
            out.append("%s's listening socket fails: %d accept errors, the last: %s" % (
                a, statuses[a]["accept_errors"], statuses[a].get("accept_last_error")))
        for b in names:
            if a == b:
                continue
            for d in ("out", "in"):
                ok, what = link_state(statuses[a], b, d, fresh, at)
                if not ok:
                    out.append(what)
    return out


def wait_live(get_statuses, names, timeout, what="", context=None):
    """Until every link among names is live; returns the seconds it took.
    get_statuses() -> {name: status}; context() -> more to say on failure."""
    t0 = time.monotonic()
    while True:
        dead = dead_links(get_statuses(), names)
        if not dead:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail("%s: after %.1fs, %d links do not carry messages:\n  %s%s" % (
                what, timeout, len(dead), "\n  ".join(dead),
                "\n" + context() if context else ""), pytrace=False)
        time.sleep(0.1)


def open_ids(st):
    """{connection id: (direction, peer name)} of the open connections."""
    return {c["id"]: (c["direction"], c["peer_name"]) for c in st["connections"] if is_open(c)}


def closed_between(st, t0, t1):
    """The connections of st that closed in [t0, t1] (monotonic)."""
    return [c for c in st["connections"] if c["closed"] is not None and t0 <= c["closed"] <= t1]


def brief(c):
    return "conn#%d/%s %s peer=%s opened=%.2f closed=%s (%s)" % (
        c["id"], c["direction"], c["target"] or "%s:%s" % (c["peer_host"], c["peer_port"]),
        c["peer_name"], c["opened"], "%.2f" % c["closed"] if c["closed"] else "-",
        c["close_reason"])
