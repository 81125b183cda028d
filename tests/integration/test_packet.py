"""Packet-mode integration tests: `nodeseal up --mode packet` on MultiChain-
style peers in network namespaces, checked on the wire.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -v -p no:cacheprovider tests/integration/test_packet.py

Packet mode leaves the peers' TCP connections end to end: the daemon sees
each segment of port 7447 through NFQUEUE, encrypts its payload in place and
adds a MAC option (docs/PROTOCOL.md, "Packet mode").  So the peers
are plain mcpeer processes (not under `nodeseal run`), and each sees the
other's real address and port.  Each check of "nothing readable on the
wire" searches the reassembled TCP payload of a bridge capture for the
peers' markers and the 12-byte P2P command fields, and asserts the capture
dropped nothing and saw at least the bytes the peers moved.

Beds, captures and the nodeseal wrappers are those of the proxy tests
(conftest.py, netbed.py, mesh.py, sealcmd.py).
"""

import os
import signal
import time

import pytest

import netbed
from mesh import (COMMANDS, MESH_TIMEOUT, PROC_SLACK, VERSION_CMD, assert_capture_clean,
                  assert_mesh_reports, assert_same_state, load_report, start_mesh, wait_all)
from netbed import PORT, PYTHON

pytestmark = pytest.mark.usefixtures("host_untouched")


def packet_opts(seal, bed, node, key, extra=()):
    return seal.opts(bed, node, key, extra=["--mode", "packet"] + list(extra))


def start_packet(seal, bed, nodes, key):
    return {n.name: seal.start_up(bed, n, packet_opts(seal, bed, n, key), "up-" + n.name)
            for n in nodes}


def stop_packet(seal, bed, nodes, key):
    for n in nodes:
        seal.down(bed, n, packet_opts(seal, bed, n, key))


def wait_for(proc, word, timeout=5):
    """Until proc prints word (and is still running)."""
    end = time.monotonic() + timeout
    while word not in proc.stdout():
        assert time.monotonic() < end and proc.poll() is None, proc.describe()
        time.sleep(0.05)


def segment_counts(seal, bed, node):
    st, r = seal.status_json(bed, node)
    assert st is not None, "status --json failed: %s" % r.stderr
    assert st.get("mode") == "packet", st
    return st


def assert_real_ports(reports):
    """No proxy in between: each inbound connection comes from the very
    address and port the connecting peer's socket has."""
    outs = {(c["local_host"], c["local_port"], c["peer_host"], c["peer_port"])
            for rep in reports.values() for c in rep["connections"] if c["direction"] == "out"}
    for name, rep in reports.items():
        for c in rep["connections"]:
            if c["direction"] != "in":
                continue
            tup = (c["peer_host"], c["peer_port"], c["local_host"], c["local_port"])
            assert tup in outs, "%s: inbound %s matches no peer's outbound socket %s" % (
                name, tup, sorted(outs))


# ----------------------------------------------------------------- options

def test_mode_option_rejects_unknown_value(seal, make_bed):
    bed = make_bed(1)
    n = bed.nodes[0]
    r = seal.cmd(bed, n, "up", ["--mode", "tunnel", "--state-dir", bed.node_dir(n)])
    assert r.returncode == 2 and "--mode: 'tunnel' is not proxy or packet" in r.stderr, r.stderr
    r = bed.ns_exec(n, [seal.path, "up", "--state-dir", bed.node_dir(n)],
                    env={"NODESEAL_MODE": "Packet"})
    assert r.returncode == 2 and "NODESEAL_MODE: 'Packet' is not proxy or packet" in r.stderr, \
        r.stderr


@pytest.mark.parametrize("mode", ["packet", "proxy"])
def test_up_creates_a_missing_state_dir(seal, keys, make_bed, mode):
    """A state directory that does not exist yet is made (mode 0700), in
    packet mode too, which keeps no key there but its control socket."""
    bed = make_bed(1)
    n = bed.nodes[0]
    state = os.path.join(bed.workdir, n.name, "not-yet", "state")
    assert not os.path.exists(os.path.dirname(state))
    opts = ["--state-dir", state, "--network-key-file", keys.good, "--mode", mode]
    p = bed.spawn(n, [seal.path, "up"] + opts, "up-fresh-" + mode)
    end = time.monotonic() + 10
    while True:
        r = bed.ns_exec(n, [seal.path, "status", "--state-dir", state], timeout=5)
        if r.returncode == 0 or p.poll() is not None or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert r.returncode == 0, "status: %s\n%s" % (r.stderr, p.describe())
    assert os.stat(state).st_mode & 0o777 == 0o700
    assert os.path.exists(os.path.join(state, "node.key")) == (mode == "proxy")
    seal.down(bed, n, opts)
    p.stop()


# ----------------------------------------------------------------- mesh

def test_packet_mesh_ipv4_sealed_end_to_end(seal, keys, make_bed):
    """Three nodes in packet mode: every connection delivers intact both
    ways, from the peer's real address; the wire shows neither markers nor
    commands; status counts no failure; down restores iptables exactly."""
    bed = make_bed(3)
    snaps = {n.name: bed.snapshot(n) for n in bed.nodes}
    ups = start_packet(seal, bed, bed.nodes, keys.good)
    blocks, bsize = 2, 512 << 10
    cap = bed.capture("packet4")
    procs = start_mesh(bed, bed.nodes, blocks=blocks, block_size=bsize)
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s\n%s" % (
        rcs, "\n".join(p.describe() for p in procs.values() if p.returncode),
        "\n".join(p.describe() for p in ups.values()))
    assert_mesh_reports(reports, bed.nodes, 4, blocks, bsize, real_source=True)
    assert_real_ports(reports)
    scan = cap.scan()
    assert_capture_clean(cap, scan, [p.marker for p in procs.values()],
                         min_payload=6 * blocks * bsize)
    for n in bed.nodes:
        st = segment_counts(seal, bed, n)
        # no handshake, so no node key
        assert st["fingerprint"] is None, st
        assert not os.path.exists(os.path.join(bed.node_dir(n), "node.key"))
        seg = st["segments"]
        assert seg["sealed"] > 0 and seg["opened"] > 0, st
        assert seg["bad_mac"] == 0 and seg["internal"] == 0, st
        assert st["queue"]["kernel_dropped"] == 0, st
    stop_packet(seal, bed, bed.nodes, keys.good)
    for n in bed.nodes:
        assert ups[n.name].wait(10) == 0, ups[n.name].describe()
        assert_same_state(snaps[n.name], bed.snapshot(n), "%s after down" % n.name)


def test_packet_mesh_ipv6(seal, keys, make_bed):
    bed = make_bed(2)
    start_packet(seal, bed, bed.nodes, keys.good)
    blocks, bsize = 2, 256 << 10
    cap = bed.capture("packet6")
    procs = start_mesh(bed, bed.nodes, family=6, blocks=blocks, block_size=bsize)
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    assert rcs == {n: 0 for n in procs}, "exit codes %s\n%s" % (
        rcs, "\n".join(p.describe() for p in procs.values() if p.returncode))
    assert_mesh_reports(reports, bed.nodes, 6, blocks, bsize, real_source=True)
    scan = cap.scan()
    assert_capture_clean(cap, scan, [p.marker for p in procs.values()],
                         min_payload=2 * blocks * bsize)
    assert [k for k in scan.flows_with_payload(PORT) if ":" in k[0]], scan.summary()
    stop_packet(seal, bed, bed.nodes, keys.good)


def test_packet_off_mesh_is_plaintext(make_bed):
    """The same mesh without nodeseal: the capture check sees the markers
    and the version command, so its silence above means something."""
    bed = make_bed(2)
    cap = bed.capture("plain")
    procs = start_mesh(bed, bed.nodes, blocks=1, block_size=64 << 10)
    rcs = wait_all(procs.values(), MESH_TIMEOUT + PROC_SLACK)
    cap.stop()
    assert rcs == {n: 0 for n in procs}, rcs
    hits = cap.scan().find([p.marker.encode() for p in procs.values()] + [VERSION_CMD])
    assert len(hits) == 3, hits


# ----------------------------------------------------------------- refusals

def test_packet_wrong_key_and_plain_peer_get_nothing(seal, keys, make_bed):
    """n0 and n1 in packet mode with different keys, n2 without nodeseal:
    no connection among them delivers a byte, nothing readable on the wire."""
    bed = make_bed(3)
    n0, n1, n2 = bed.nodes
    seal.start_up(bed, n0, packet_opts(seal, bed, n0, keys.good), "up-n0")
    seal.start_up(bed, n1, packet_opts(seal, bed, n1, keys.bad), "up-n1")
    cap = bed.capture("refused")
    procs = start_mesh(bed, bed.nodes, blocks=1, block_size=64 << 10, timeout=12,
                       connect_retry=3, expect_from=lambda n: [])
    wait_all(procs.values(), 12 + PROC_SLACK)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    for name, rep in reports.items():
        assert rep["totals"]["messages_received"] == 0, (name, rep["connections"])
    scan = cap.scan()
    hits = scan.find([p.marker.encode() for p in procs.values()] + COMMANDS)
    # n2 sends its own version in clear (it has no nodeseal) -- only
    # towards a node that accepted the connection, which none may do
    assert not hits, "plaintext on the wire: %s" % {k: v[:4] for k, v in hits.items()}
    st0 = segment_counts(seal, bed, n0)["segments"]
    assert st0["no_option"] > 0 or st0["bad_mac"] > 0, st0


# ----------------------------------------------------------------- crash

def test_packet_sigkill_lets_nothing_through(seal, keys, make_bed):
    """With the daemon SIGKILLed the rules stay and nobody reads the queue:
    every segment of the port is dropped, none passes in clear.  Then down
    restores the state exactly."""
    bed = make_bed(2)
    snaps = {n.name: bed.snapshot(n) for n in bed.nodes}
    ups = start_packet(seal, bed, bed.nodes, keys.good)
    for n in bed.nodes:
        ups[n.name].signal(signal.SIGKILL)
        assert ups[n.name].wait(5) is not None
    cap = bed.capture("killed")
    procs = start_mesh(bed, bed.nodes, blocks=1, block_size=64 << 10, timeout=8,
                       connect_retry=2)
    wait_all(procs.values(), 8 + PROC_SLACK)
    cap.stop()
    reports = {n: load_report(p) for n, p in procs.items()}
    for name, rep in reports.items():
        assert rep["ok"] is False and rep["totals"]["messages_received"] == 0, rep
    scan = cap.scan()
    assert scan.payload_bytes(PORT) == 0, scan.summary()
    syns = [k for k in scan.flows if PORT in (k[1], k[3])]
    assert not syns, "segments of port %d on the wire: %s" % (PORT, syns)
    stop_packet(seal, bed, bed.nodes, keys.good)
    for n in bed.nodes:
        assert_same_state(snaps[n.name], bed.snapshot(n), "%s after kill and down" % n.name)


# ----------------------------------------------------------------- down with live connections

LIVE_SERVER = r'''
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d))
l.listen(1)
print("listening", flush=True)
s, _ = l.accept()
s.settimeout(15)
got = 0
try:
    while True:
        b = s.recv(4096)
        if not b:
            print("ended eof", got, flush=True)
            break
        got += len(b)
except OSError as e:
    print("ended", type(e).__name__, got, flush=True)
''' % PORT

LIVE_CLIENT = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], %d), timeout=5)
print("connected", flush=True)
i = 0
end = time.monotonic() + 15
try:
    while time.monotonic() < end:
        s.sendall(("%%s-%%d\n" %% (sys.argv[2], i)).encode())
        i += 1
        time.sleep(0.05)
    print("ended timeout", i, flush=True)
except OSError as e:
    print("ended", type(e).__name__, i, flush=True)
''' % PORT


def test_packet_down_resets_live_connections(seal, keys, make_bed):
    """down on one end of a live connection: the daemon destroys the local
    socket before the rules go, its reset goes out sealed, both
    applications see the connection end, and no byte of it crosses the
    wire in clear afterwards."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    start_packet(seal, bed, bed.nodes, keys.good)
    marker = "NSLIVE-%s" % bed.run_id
    server = bed.spawn(n1, [PYTHON, "-c", LIVE_SERVER], "live-server")
    wait_for(server, "listening")
    client = bed.spawn(n0, [PYTHON, "-c", LIVE_CLIENT, n1.ip4, marker], "live-client")
    wait_for(client, "connected")
    time.sleep(0.5)
    cap = bed.capture("down-live")
    seal.down(bed, n0, packet_opts(seal, bed, n0, keys.good))
    assert client.wait(5) is not None, "client still running after down: " + client.describe()
    assert server.wait(5) is not None, "server still running after down: " + server.describe()
    time.sleep(0.3)
    cap.stop()
    assert client.stdout().split("\n")[1].split()[1] in (
        "ConnectionAbortedError", "ConnectionResetError", "BrokenPipeError"), client.stdout()
    assert "ended ConnectionResetError" in server.stdout(), (
        "the peer did not see the (sealed) reset: " + server.stdout())
    hits = cap.scan().find([marker.encode()])
    assert not hits, "plaintext after down: %s" % hits
    stop_packet(seal, bed, [n1], keys.good)


def test_packet_down_after_crash_sends_nothing_in_clear(seal, keys, make_bed):
    """The daemon SIGKILLed mid-transfer: the rules stay and drop the
    node's segments, which pile up in its socket.  Then `down`: it destroys
    the protected port's sockets before it removes the rules, so the stack
    never sends that data again in clear, and the application sees its
    connection end."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    ups = start_packet(seal, bed, bed.nodes, keys.good)
    marker = "NSCRASHDOWN-%s" % bed.run_id
    server = bed.spawn(n1, [PYTHON, "-c", LIVE_SERVER], "crash-server")
    wait_for(server, "listening")
    client = bed.spawn(n0, [PYTHON, "-c", LIVE_CLIENT, n1.ip4, marker], "crash-client")
    wait_for(client, "connected")
    time.sleep(0.5)
    cap = bed.capture("crash-down")
    ups[n0.name].signal(signal.SIGKILL)
    assert ups[n0.name].wait(5) is not None
    time.sleep(1.0)
    assert client.poll() is None, "the client ended before down: " + client.describe()
    r = seal.down(bed, n0, packet_opts(seal, bed, n0, keys.good))
    assert "reset 1 connection" in r.stderr, r.stderr
    assert client.wait(5) is not None, "client still running after down: " + client.describe()
    # what the stack would retransmit (RTO backoff from the crash) has had
    # its time to show on the wire
    time.sleep(4)
    cap.stop()
    assert client.stdout().split("\n")[1].split()[1] == "ConnectionAbortedError", \
        client.stdout()
    hits = cap.scan().find([marker.encode()])
    assert not hits, "plaintext after down: %s" % hits
    stop_packet(seal, bed, [n1], keys.good)


def test_packet_stop_destroys_sockets_the_table_let_go(seal, keys, make_bed):
    """A connection whose entry made way for others (n1 has another network
    key, so nothing of n1 ever verifies at n0 and n0's entry stays a
    handshake, the first to go from a full table) still has the node's
    data queued.  At n0's stop the daemon destroys it too, not only the
    connections its table holds: nothing of it leaves in clear after the
    rules are gone."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    ups = {n0.name: seal.start_up(bed, n0, packet_opts(seal, bed, n0, keys.good,
                                                       extra=["--max-connections", "2"]),
                                  "up-n0"),
           n1.name: seal.start_up(bed, n1, packet_opts(seal, bed, n1, keys.bad), "up-n1")}
    marker = "NSLETGO-%s" % bed.run_id
    server = bed.spawn(n1, [PYTHON, "-c", LIVE_SERVER], "letgo-server")
    wait_for(server, "listening")
    cap = bed.capture("letgo")
    client = bed.spawn(n0, [PYTHON, "-c", LIVE_CLIENT, n1.ip4, marker], "letgo-client")
    wait_for(client, "connected")
    time.sleep(0.3)
    others = [bed.spawn(n0, [PYTHON, "-c", LIVE_CLIENT, n1.ip4, "other%d" % i], "other%d" % i)
              for i in range(2)]
    for o in others:
        wait_for(o, "connected")
    seg = segment_counts(seal, bed, n0)["segments"]
    assert seg["evicted"] >= 1, seg
    r = seal.down(bed, n0, packet_opts(seal, bed, n0, keys.good))
    assert client.wait(5) is not None, "client still running after down: " + client.describe()
    time.sleep(4)
    cap.stop()
    assert "ConnectionAbortedError" in client.stdout(), client.stdout() + r.stderr
    hits = cap.scan().find([marker.encode()])
    assert not hits, "plaintext after down: %s" % hits
    for o in others:
        o.stop()
    server.stop()
    stop_packet(seal, bed, [n1], keys.bad)
    assert ups[n0.name].wait(10) == 0, ups[n0.name].describe()


def test_packet_restart_resets_connections_from_before(seal, keys, make_bed):
    """A daemon SIGKILLed under a live connection, then started again: the
    new daemon has no keys for that connection, so it destroys the local
    socket at start (the application sees it end at once, instead of a
    stall until TCP gives up), and nothing of it crosses the wire in clear
    at any time."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    ups = start_packet(seal, bed, bed.nodes, keys.good)
    marker = "NSRESTART-%s" % bed.run_id
    server = bed.spawn(n1, [PYTHON, "-c", LIVE_SERVER], "live-server")
    wait_for(server, "listening")
    cap = bed.capture("restart-live")
    client = bed.spawn(n0, [PYTHON, "-c", LIVE_CLIENT, n1.ip4, marker], "live-client")
    wait_for(client, "connected")
    time.sleep(0.5)
    ups[n0.name].signal(signal.SIGKILL)
    assert ups[n0.name].wait(5) is not None
    time.sleep(0.5)
    assert client.poll() is None, "the client ended before the restart: " + client.describe()
    t0 = time.monotonic()
    up = seal.start_up(bed, n0, packet_opts(seal, bed, n0, keys.good), "up-n0-again")
    assert client.wait(5) is not None, "client still running after the restart: " + \
        client.describe()
    took = time.monotonic() - t0
    time.sleep(0.3)
    cap.stop()
    ended = client.stdout().split("\n")[1].split()
    assert ended[1] == "ConnectionAbortedError", client.stdout()
    assert "reset 1 connection opened before this start" in up.stderr(), up.describe()
    print("client ended %.2fs after the restart began: %s" % (took, " ".join(ended)))
    hits = cap.scan().find([marker.encode()])
    assert not hits, "plaintext on the wire: %s" % hits
    stop_packet(seal, bed, bed.nodes, keys.good)


# ----------------------------------------------------------------- a connection that keeps failing

# As LIVE_CLIENT, but a segment every 20 ms whatever is in flight (no Nagle),
# as a node streaming blocks would.
FAIL_CLIENT = LIVE_CLIENT.replace(
    "print(\"connected\", flush=True)",
    "s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\nprint(\"connected\", flush=True)"
).replace("time.sleep(0.05)", "time.sleep(0.02)").replace("+ 15", "+ 60")

# As LIVE_SERVER, patient enough for 8 failures one RTO apart.
FAIL_SERVER = LIVE_SERVER.replace("s.settimeout(15)", "s.settimeout(60)")

# n0's segments to port 7447 get another window after its daemon sealed
# them (postrouting, after the queue), checksums fixed: the MAC fails at n1.
DAMAGE = ("add table inet nsdamage; "
          "add chain inet nsdamage post { type filter hook postrouting priority 300; }; "
          "add rule inet nsdamage post tcp dport %d tcp window set 1" % PORT)


def test_packet_failing_connection_is_reset(seal, keys, make_bed):
    """A live connection whose segments from n0 start failing their MAC at
    n1 (a covered field rewritten on the way): n1's daemon gives it up
    after NS_FLOW_FAIL_MAX (8) failures in a row, one per retransmission
    timeout at most, and destroys its socket;
    the stack's reset goes out sealed and verifies at n0, so both
    applications see the connection end, and n1 counts reset_failing."""
    bed = make_bed(2)
    n0, n1 = bed.nodes
    assert "TCP_NODELAY" in FAIL_CLIENT and "0.02" in FAIL_CLIENT and "+ 60" in FAIL_CLIENT
    start_packet(seal, bed, bed.nodes, keys.good)
    assert "settimeout(60)" in FAIL_SERVER
    server = bed.spawn(n1, [PYTHON, "-c", FAIL_SERVER], "fail-server")
    wait_for(server, "listening")
    client = bed.spawn(n0, [PYTHON, "-c", FAIL_CLIENT, n1.ip4, "NSFAIL"], "fail-client")
    wait_for(client, "connected")
    time.sleep(0.5)
    before = segment_counts(seal, bed, n1)["segments"]
    assert before["opened"] > 0 and before["bad_mac"] == 0 and before["reset_failing"] == 0, before
    r = bed.ns_exec(n0, ["nft", DAMAGE])
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    # failures count one per 200 ms: 8 within n0's retransmissions (~25 s)
    assert server.wait(45) is not None, "server still running: " + server.describe()
    print("n1 gave the connection up %.1f s after the damage began" % (time.monotonic() - t0))
    assert client.wait(10) is not None, "client still running: " + client.describe()
    assert "ended ConnectionAbortedError" in server.stdout(), (
        "n1's socket was not destroyed: " + server.stdout())
    assert client.stdout().split("\n")[1].split()[1] in (
        "ConnectionResetError", "BrokenPipeError"), (
        "n1's sealed reset did not end n0's socket: " + client.stdout())
    st1 = segment_counts(seal, bed, n1)["segments"]
    st0 = segment_counts(seal, bed, n0)["segments"]
    assert st1["reset_failing"] == 1 and st1["bad_mac"] >= 8, st1
    assert st0["reset_failing"] == 0 and st0["bad_mac"] == 0, st0
    bed.ns_exec(n0, ["nft", "delete table inet nsdamage"])
    stop_packet(seal, bed, bed.nodes, keys.good)


# ----------------------------------------------------------------- SYN flood

STEADY_SERVER = r'''
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d))
l.listen(8)
print("listening", flush=True)
for _ in range(int(sys.argv[1])):
    s, _ = l.accept()
    s.settimeout(30)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    print("got", len(got), got.count(b"\n"), flush=True)
''' % PORT

STEADY_CLIENT = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], %d), timeout=5)
print("connected", flush=True)
sent = 0
end = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < end:
    line = ("steady-%%d\n" %% i).encode()
    s.sendall(line)
    sent += len(line)
    i += 1
    time.sleep(0.02)
s.close()
print("sent", sent, i, flush=True)
''' % PORT

# SYNs from many source ports, each with a nodeseal option (kind 253, ExID
# 0x4E53, 16 random bytes): a copy of what a peer's SYN carries, which is
# not authenticated.
FLOOD = r'''
import os, sys
from scapy.all import IP, TCP, send, conf
conf.verb = 0
dst, n = sys.argv[1], int(sys.argv[2])
pkts = [IP(dst=dst) / TCP(sport=20000 + i, dport=%d, flags="S", seq=i * 7919,
                           options=[(253, b"\x4e\x53" + os.urandom(16))])
        for i in range(n)]
send(pkts, inter=0)
print("flooded", n, flush=True)
''' % PORT


def test_packet_syn_flood_spares_live_connections(seal, keys, make_bed):
    """A stranger floods n1's protected port with SYNs carrying copied
    options, 40 times n1's table: each takes the oldest handshake's entry
    (status counts them as evicted, none refused), the live connection from
    n0 carries every byte through the flood, and a new one opens after it."""
    bed = make_bed(3)
    n0, n1, n2 = bed.nodes
    table, flood = 32, 1280
    ups = {n0.name: seal.start_up(bed, n0, packet_opts(seal, bed, n0, keys.good), "up-n0"),
           n1.name: seal.start_up(bed, n1, packet_opts(seal, bed, n1, keys.good,
                                                       extra=["--max-connections", str(table)]),
                                  "up-n1")}
    server = bed.spawn(n1, [PYTHON, "-c", STEADY_SERVER, "2"], "steady-server")
    wait_for(server, "listening")
    client = bed.spawn(n0, [PYTHON, "-c", STEADY_CLIENT, n1.ip4, "6"], "steady-client")
    wait_for(client, "connected")
    time.sleep(0.5)
    r = bed.ns_exec(n2, [PYTHON, "-c", FLOOD, n1.ip4, str(flood)], timeout=60)
    assert r.returncode == 0 and "flooded" in r.stdout, r.stdout + r.stderr
    assert client.poll() is None, "the flood outlasted the client: make it longer"
    seg = segment_counts(seal, bed, n1)["segments"]
    assert seg["evicted"] >= flood - table and seg["table_full"] == 0, seg
    assert client.wait(15) == 0, client.describe()
    sent, lines = (int(x) for x in client.stdout().split("\n")[1].split()[1:3])
    wait_for(server, "got", timeout=10)
    assert server.stdout().split("\n")[1] == "got %d %d" % (sent, lines), (
        server.stdout(), client.stdout())
    # a new connection after the flood: it takes a flooder's entry
    again = bed.spawn(n0, [PYTHON, "-c", STEADY_CLIENT, n1.ip4, "0.5"], "steady-again")
    assert again.wait(15) == 0, again.describe()
    assert server.wait(15) == 0, server.describe()
    sent2 = int(again.stdout().split("\n")[1].split()[1])
    assert server.stdout().split("\n")[2].split()[1] == str(sent2), server.stdout()
    # the honest side saw nothing fail; n1's only failures are n2's resets
    # answering SYN-ACKs it never asked for (no MAC)
    seg0 = segment_counts(seal, bed, n0)["segments"]
    assert seg0["bad_mac"] == 0 and seg0["evicted"] == 0, seg0
    print("n1 segments after the flood:", segment_counts(seal, bed, n1)["segments"])
    stop_packet(seal, bed, [n0, n1], keys.good)
    for p in ups.values():
        assert p.wait(10) == 0, p.describe()


# ----------------------------------------------------------------- mode switch after a crash

@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_packet_start_replaces_crashed_proxy_rules(seal, keys, make_bed, backend):
    """A proxy daemon SIGKILLed leaves its rules; a packet-mode start
    replaces them (no proxy chain, jump or policy rule left), and down
    restores the snapshot exactly; the same backwards."""
    bed = make_bed(1)
    n = bed.nodes[0]
    snap = bed.snapshot(n)
    save = "iptables-%s-save" % backend
    up = seal.start_up(bed, n, seal.opts(bed, n, keys.good, backend=backend), "up-proxy")
    up.signal(signal.SIGKILL)
    assert up.wait(5) is not None
    assert "NODESEAL_GUARD_OUT" in bed.ns_exec(n, [save]).stdout
    up = seal.start_up(bed, n, packet_opts(seal, bed, n, keys.good,
                                           extra=["--iptables", backend]), "up-packet")
    rules = bed.ns_exec(n, [save]).stdout
    chains = sorted(set(l.split()[0] for l in rules.splitlines() if l.startswith(":NODESEAL")))
    assert chains == [":NODESEAL_PKT_IN", ":NODESEAL_PKT_OUT"], rules
    assert "--queue-bypass" not in rules and "NFQUEUE --queue-num 7447" in rules, rules
    assert "lookup" not in bed.ns_exec(n, ["ip", "rule", "show", "pref", "20051"]).stdout
    up.signal(signal.SIGKILL)
    assert up.wait(5) is not None
    up = seal.start_up(bed, n, seal.opts(bed, n, keys.good, backend=backend), "up-proxy2")
    rules = bed.ns_exec(n, [save]).stdout
    assert "NODESEAL_PKT" not in rules and "NODESEAL_GUARD_OUT" in rules, rules
    seal.down(bed, n, seal.opts(bed, n, keys.good))
    assert up.wait(10) == 0, up.describe()
    assert_same_state(snap, bed.snapshot(n), "after proxy, crash, packet, crash, proxy, down")


# ----------------------------------------------------------------- a recorded connection replayed

# n1's server: per connection, the first line it got and a reply that names
# the connection (so a reply to a replay differs from the recorded one).
REPLAY_SERVER = r'''
import socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", %d))
l.listen(8)
l.settimeout(float(sys.argv[1]))
print("listening", flush=True)
k = 0
while True:
    try:
        s, peer = l.accept()
    except socket.timeout:
        break
    k += 1
    s.settimeout(5)
    got = b""
    try:
        while b"\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
        print("conn", k, peer[1], got.hex(), flush=True)
        s.sendall(b"reply to connection %%d: the responder's secret\n" %% k)
        while s.recv(4096):
            pass
    except OSError as e:
        print("conn", k, "error", e, flush=True)
    s.close()
''' % PORT

# n0's client: from a given source port, one line, the reply, then close.
REPLAY_CLIENT = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.settimeout(5)
s.connect((sys.argv[1], %d))
s.sendall(sys.argv[3].encode() + b"\n")
got = b""
while b"\n" not in got:
    b = s.recv(4096)
    if not b:
        break
    got += b
s.shutdown(socket.SHUT_WR)
while s.recv(4096):
    pass
s.close()
print("done", len(got), flush=True)
''' % PORT

# A stranger on the path (n2) replays, from n0's address, what n0 sent on
# one recorded connection: its SYN, then the rest, as captured.
REPLAYER = r'''
import sys, time
from scapy.all import IP, TCP, rdpcap, send, conf
conf.verb = 0
src, dst, sport = sys.argv[2], sys.argv[3], int(sys.argv[4])
pkts = [p[IP] for p in rdpcap(sys.argv[1]) if IP in p and TCP in p and p[IP].src == src
        and p[IP].dst == dst and p[TCP].sport == sport]
assert pkts and pkts[0][TCP].flags == "S", pkts
send(IP(bytes(pkts[0])))
time.sleep(0.3)
for p in pkts[1:]:
    send(IP(bytes(p)))
    time.sleep(0.05)
print("replayed", len(pkts), flush=True)
'''


def tcp_records(paths):
    """(tuple, flags, seq, ack, nodeseal option value or None, payload) of
    every IPv4 TCP segment of port PORT in the captures, in order."""
    out = []
    for path in paths:
        for linktype, _, _, data, _ in netbed.read_pcap(path):
            et, off = netbed._l3(linktype, data)
            if et != 0x0800 or data[off + 9] != 6:
                continue
            ip = data[off:]
            ihl, total = (ip[0] & 15) * 4, int.from_bytes(ip[2:4], "big")
            tcp = ip[ihl:total]
            sport, dport = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")
            if PORT not in (sport, dport):
                continue
            doff = (tcp[12] >> 4) * 4
            opt, i = None, 20
            while i < doff:
                kind = tcp[i]
                if kind in (0, 1):
                    i += 1
                    continue
                olen = tcp[i + 1]
                if kind == 253 and olen == 20 and tcp[i + 2:i + 4] == b"\x4e\x53":
                    opt = bytes(tcp[i + 4:i + 20])
                i += max(olen, 2)
            out.append(((ip[12:16], sport, ip[16:20], dport), tcp[13],
                        int.from_bytes(tcp[4:8], "big"), int.from_bytes(tcp[8:12], "big"),
                        opt, bytes(tcp[doff:])))
    return out


def keystream_reuse(records):
    """Segments sealed under one key (the nonce pair of the handshake they
    follow), direction and stream offset with different bytes there: the
    same keystream over different plaintext.  Returns such places."""
    hs = {}       # connection (initiator's view) -> [nonce_i, nonce_r, isn_i, isn_r]
    seen = {}     # (nonce_i, nonce_r, from initiator, offset) -> byte
    bad = []
    for tup, flags, seq, ack, opt, payload in records:
        rev = (tup[2], tup[3], tup[0], tup[1])
        if flags & 0x02 and not flags & 0x10:          # SYN: a new handshake
            hs[tup] = [opt, None, seq, None]
            continue
        if flags & 0x02:                                # SYN-ACK
            if rev in hs:
                hs[rev][1], hs[rev][3] = opt, seq
            continue
        conn, from_i = (tup, True) if tup in hs else (rev, False)
        h = hs.get(conn)
        if h is None or h[1] is None or not payload:
            continue
        base = (seq - ((h[2] if from_i else h[3]) + 1)) & 0xffffffff
        for j, byte in enumerate(payload):
            k = (h[0], h[1], from_i, base + j)
            if seen.setdefault(k, byte) != byte:
                bad.append(k)
    return bad


def test_packet_replayed_connection_gets_nothing(seal, keys, make_bed):
    """Under SYN cookies (net.ipv4.tcp_syncookies=2) n1's stack answers a
    replayed SYN with the recorded ISN.  A stranger replays a recorded
    connection of n0 to n1 after n1's entry for it made way: nothing of it
    reaches n1's node, and in the captures no two segments are sealed under
    one key at one offset with different bytes."""
    bed = make_bed(3)
    n0, n1, n2 = bed.nodes
    bed.ns_exec_check(n1, ["sysctl", "-qw", "net.ipv4.tcp_syncookies=2"])
    ups = {n0.name: seal.start_up(bed, n0, packet_opts(seal, bed, n0, keys.good), "up-n0"),
           n1.name: seal.start_up(bed, n1, packet_opts(seal, bed, n1, keys.good,
                                                       extra=["--max-connections", "2"]),
                                  "up-n1")}
    server = bed.spawn(n1, [PYTHON, "-c", REPLAY_SERVER, "20"], "replay-server")
    wait_for(server, "listening")
    rec = bed.capture("recorded")
    sport, marker = 40777, "REPLAY-ME-" + os.urandom(6).hex()
    for port, line in ((sport, marker), (40778, "second"), (40779, "third")):
        r = bed.ns_exec(n0, [PYTHON, "-c", REPLAY_CLIENT, n1.ip4, str(port), line], timeout=15)
        assert r.returncode == 0 and "done" in r.stdout, r.stdout + r.stderr
    rec.stop()
    seg = segment_counts(seal, bed, n1)["segments"]
    assert seg["evicted"] >= 1, "the recorded connection's entry is still there: %s" % seg
    bad_mac = seg["bad_mac"]
    replay = bed.capture("replay")
    r = bed.ns_exec(n2, [PYTHON, "-c", REPLAYER, rec.path, n0.ip4, n1.ip4, str(sport)],
                    timeout=30)
    assert r.returncode == 0 and "replayed" in r.stdout, r.stdout + r.stderr
    time.sleep(1.5)
    replay.stop()
    assert server.wait(30) is not None, server.describe()
    conns = [l.split() for l in server.stdout().splitlines() if l.startswith("conn")]
    lines = [bytes.fromhex(c[3]) if len(c) > 3 and c[2] != "error" else b"" for c in conns]
    assert lines == [(marker + "\n").encode(), b"second\n", b"third\n"], (
        "n1's node got %s" % conns)
    reuse = keystream_reuse(tcp_records([rec.path, replay.path]))
    assert not reuse, "one keystream over different bytes at %d places, first %s" % (
        len(reuse), reuse[0])
    seg = segment_counts(seal, bed, n1)["segments"]
    assert seg["bad_mac"] > bad_mac, "the replayed segments were not refused: %s" % seg
    stop_packet(seal, bed, [n0, n1], keys.good)
    for p in ups.values():
        assert p.wait(10) == 0, p.describe()
