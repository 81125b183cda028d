"""The metrics endpoint (`--metrics ADDR:PORT`) and JSON log lines
(`--log-format json`), in namespaces.

Run as root, from the repository root:

    NS_BUILD=build pytest-3 -q -p no:cacheprovider tests/integration/test_metrics.py

Each mode (proxy, packet) on a bed of three nodes: n0 and n1 hold the
network key and serve metrics, n0 on 0.0.0.0:9447 (readable from the
network, and its log says so), n1 on a bare 9447 (127.0.0.1; n1 logs JSON);
n2 runs nodeseal with another key and no --metrics, as a stranger.

  1. One TCP connection n1 -> n0 carries a known number of bytes each way
     (tests/tools/bulk_peer.py) and stays open.  A scrape inside each
     namespace (loopback) shows: build_info; the connection, sealed, out on
     n1 and in on n0; bytes each way at least what was sent; in proxy mode a
     sealed handshake and records each way, and the same totals as
     `status --json`; in packet mode segments sealed and opened.
  2. n2 connects to n0: n0 counts it as a stranger refused (proxy:
     handshake_failures_total{reason="authentication"}; packet: its
     unknown key id).
  3. n2, started without --metrics, listens on nothing but the proxy's own
     ports: the endpoint is off by default.  n0's metrics answer from n1
     over the bed's network; n1's (loopback) do not answer from n0.
  4. Every stderr line of n1's daemon parses as a JSON object with ts,
     level and msg.
  5. Proxy mode only, on [::1]:9447, the guards: POST -> 405, another path -> 404, junk
     and an HTTP/2 line -> 400, a head past 4 KiB -> 400 (or closed) at
     once; 20 idle connections do not keep a scrape out; an idle connection
     is closed after the 5 s timeout.
  6. Bad --metrics / --log-format values: exit 2, one line naming the
     setting.

About 15 s for proxy mode (the idle timeout is most of it), 8 s for packet
mode.
"""

import json
import os
import re
import time

import pytest

import netbed
from netbed import PORT, PYTHON
from sealcmd import start_up

pytestmark = pytest.mark.usefixtures("host_untouched")

MPORT = 9447
TOOLS = os.path.join(netbed.REPO, "tests", "tools")
PROBE = os.path.join(TOOLS, "http_probe.py")
BULK = os.path.join(TOOLS, "bulk_peer.py")
C2S, S2C = 700000, 300000          # bytes the client sends, the server sends back
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$')


# ----------------------------------------------------------------- helpers

def parse_metrics(text):
    """{(name, frozenset(labels)): value}; every sample line must parse, and
    every family must have HELP and TYPE lines before its samples."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            assert len(parts) == 4 and parts[2].startswith("nodeseal_"), line
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge"), line
                typed.add(parts[2])
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        assert name in typed, "%s has no TYPE line before it" % name
        lab = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', labels))
        out[(name, lab)] = value
    return out


def metric(ms, name, **labels):
    """The sum of name's samples whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, lab), v in ms.items() if n == name and want <= set(lab))


def probe(bed, node, *args, timeout=20):
    r = bed.ns_exec(node, [PYTHON, PROBE] + [str(a) for a in args], timeout=timeout)
    assert r.returncode == 0, "http_probe %s in %s: %s" % (args[0], node.name, r.stderr)
    return json.loads(r.stdout)


def http(bed, node, raw, timeout=5.0, host="127.0.0.1"):
    return probe(bed, node, "send", host, MPORT, raw.hex(), timeout)


def scrape(bed, node, host="127.0.0.1"):
    r = http(bed, node, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", host=host)
    head, _, body = r["response"].partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK"), "scrape of %s: %r" % (node.name, r)
    assert "text/plain; version=0.0.4" in head and "Connection: close" in head, head
    assert r["closed"], "the endpoint did not close after its answer: %r" % r
    m = re.search(r"Content-Length: (\d+)", head)
    assert m and int(m.group(1)) == len(body.encode()), head
    return parse_metrics(body)


def wait_for(what, fn, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail("not within %ss: %s" % (timeout, what), pytrace=False)
        time.sleep(0.2)


def listening_ports(bed, node):
    r = bed.ns_exec(node, ["ss", "-ltnH"])
    assert r.returncode == 0, r.stderr
    return {int(l.split()[3].rsplit(":", 1)[1]) for l in r.stdout.splitlines() if l.strip()}


def start_nodes(bed, ns_bin, keys, mode):
    base = ["--mode", mode]
    d0 = start_up(ns_bin, bed, bed.nodes[0], keys.good, "n0-seal",
                  extra=base + ["--metrics", "0.0.0.0:%d" % MPORT])
    d1 = start_up(ns_bin, bed, bed.nodes[1], keys.good, "n1-seal",
                  extra=base + ["--metrics", str(MPORT), "--log-format", "json"])
    d2 = start_up(ns_bin, bed, bed.nodes[2], keys.bad, "n2-seal", extra=base)
    return d0, d1, d2


def bulk(bed, n0, n1, hold=30):
    """The known traffic, n1 -> n0; returns once the exchange is over and
    the connection stays open."""
    srv = bed.spawn(n0, [PYTHON, BULK, "server", PORT, S2C], "bulk-server")
    time.sleep(0.3)
    cli = bed.spawn(n1, [PYTHON, BULK, "client", n0.ip4, PORT, C2S, S2C, hold], "bulk-client")
    wait_for("the bulk exchange (%s)" % cli.describe(),
             lambda: "done" in cli.stdout() or cli.poll() is not None, 20)
    assert "done" in cli.stdout(), cli.describe()
    return srv, cli


def check_json_log(d):
    lines = [l for l in d.log().splitlines() if l.strip()]
    assert lines, "no log lines"
    for l in lines:
        try:
            o = json.loads(l)
        except ValueError:
            pytest.fail("a log line of --log-format json is not JSON: %r" % l, pytrace=False)
        assert isinstance(o, dict) and {"ts", "level", "msg", "program"} <= set(o), l
        assert o["level"] in ("error", "warn", "info", "debug"), l
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"]), l
    assert any("metrics on http://127.0.0.1:%d/metrics" % MPORT in json.loads(l)["msg"]
               for l in lines), lines


# ----------------------------------------------------------------- the tests

@pytest.mark.parametrize("mode", ["proxy", "packet"])
def test_metrics_figures(make_bed, ns_bin, keys, mode):
    bed = make_bed(3)
    n0, n1, n2 = bed.nodes
    d0, d1, d2 = start_nodes(bed, ns_bin, keys, mode)

    # 1. known traffic, connection held open
    bulk(bed, n0, n1)
    m0, m1 = scrape(bed, n0), scrape(bed, n1)
    for ms in (m0, m1):
        assert metric(ms, "nodeseal_build_info", mode=mode) == 1, ms
    assert metric(m1, "nodeseal_connections", sealed="true", direction="out", mode=mode) == 1
    assert metric(m0, "nodeseal_connections", sealed="true", direction="in", mode=mode) == 1
    assert metric(m0, "nodeseal_connections", sealed="false") == 0
    assert metric(m1, "nodeseal_bytes_total", direction="out") >= C2S
    assert metric(m1, "nodeseal_bytes_total", direction="in") >= S2C
    assert metric(m0, "nodeseal_bytes_total", direction="in") >= C2S
    assert metric(m0, "nodeseal_bytes_total", direction="out") >= S2C
    if mode == "proxy":
        # The payload is counted exactly: nothing but the exchange has passed.
        assert metric(m1, "nodeseal_bytes_total", direction="out") == C2S
        assert metric(m0, "nodeseal_bytes_total", direction="in") == C2S
        for ms in (m0, m1):
            assert metric(ms, "nodeseal_handshakes_total", outcome="ok") == 1, ms
            assert metric(ms, "nodeseal_connections", state="relay") == 1
            assert metric(ms, "nodeseal_records_total", direction="out") >= 1
            assert metric(ms, "nodeseal_records_total", direction="in") >= 1
            assert metric(ms, "nodeseal_rekeys_total") == 0
        # 65535 payload bytes a record at most (NS_RECORD_MAX): at least
        # C2S / 65535 of them, and n0 opened each one n1 sealed.
        assert metric(m1, "nodeseal_records_total", direction="out") >= -(-C2S // 65535)
        assert metric(m0, "nodeseal_records_total", direction="in") == metric(
            m1, "nodeseal_records_total", direction="out")
        # The same gathering as status --json.
        st = d0.status()
        assert st["totals"]["bytes_in"] == metric(m0, "nodeseal_bytes_total", direction="in")
        assert st["totals"]["handshakes"] == 1 and st["refused"] == metric(
            m0, "nodeseal_handshakes_total", outcome="failed")
    else:
        for ms in (m0, m1):
            assert metric(ms, "nodeseal_segments_total", result="sealed") >= 1, ms
            assert metric(ms, "nodeseal_segments_total", result="opened") >= 1, ms
            assert metric(ms, "nodeseal_connections", state="open") == 1, ms

    # 2. a stranger: n2 holds another key
    base = metric(m0, "nodeseal_strangers_refused_total")
    r = bed.ns_exec(n2, [PYTHON, "-c", "import socket,sys\n"
                         "try:\n s=socket.create_connection((sys.argv[1],%d),timeout=3)\n"
                         " s.sendall(b'x'*100); s.recv(10)\nexcept OSError: pass" % PORT,
                         n0.ip4], timeout=15)
    assert r.returncode == 0, r.stderr

    def refused():
        ms = scrape(bed, n0)
        return metric(ms, "nodeseal_strangers_refused_total") > base and ms
    ms = wait_for("n0 counts n2 as a stranger refused", refused)
    if mode == "proxy":
        assert metric(ms, "nodeseal_handshake_failures_total", reason="authentication") >= 1
        assert metric(ms, "nodeseal_handshakes_total", outcome="failed") >= 1
    else:
        assert metric(ms, "nodeseal_segments_total", result="unknown_key") + metric(
            ms, "nodeseal_segments_total", result="bad_mac") >= 1

    # 3. off by default; loopback unless told otherwise, and told with a warning
    ports = listening_ports(bed, n2)
    assert MPORT not in ports and ports <= {20051, 20052}, ports
    assert metric(scrape(bed, n1, host=n0.ip4), "nodeseal_build_info") == 1
    r = http(bed, n0, b"GET /metrics HTTP/1.0\r\n\r\n", host=n1.ip4)
    assert not r["connected"] and r["response"] == "", r
    assert re.search(r"nodeseal\[warn\] metrics on http://0\.0\.0\.0:%d/metrics are readable "
                     r"from the network" % MPORT, d0.log()), d0.log()

    # 4. JSON log lines
    check_json_log(d1)
    assert d0.alive() and d1.alive() and d2.alive()


def test_metrics_guards(make_bed, ns_bin, keys):
    bed = make_bed(1)
    n0 = bed.nodes[0]
    d0 = start_up(ns_bin, bed, n0, keys.good, "n0-seal",
                  extra=["--metrics", "[::1]:%d" % MPORT])
    t0 = time.monotonic()

    cases = [
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics/../etc HTTP/1.0\r\n\r\n", 404),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.0\n\n", 200),
    ]
    for raw, want in cases:
        r = http(bed, n0, raw, host="::1")
        got = int(r["response"].split(" ", 2)[1]) if r["response"] else None
        assert got == want, "%r: expected %d, got %r" % (raw, want, r)
        assert r["closed"], "%r: not closed after the answer: %r" % (raw, r)
    # A 405 says what is allowed.
    assert "Allow: GET" in http(bed, n0, cases[0][0], host="::1")["response"]

    # A head past 4 KiB: a 400 (or a close) at once, not a read for ever.
    big = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 8192
    r = http(bed, n0, big, timeout=4.0, host="::1")
    assert r["closed"] and r["elapsed"] < 2.0, r
    assert r["response"] == "" or r["response"].startswith("HTTP/1.0 400"), r

    # Idle connections do not keep a scrape out.
    r = probe(bed, n0, "idle", "::1", MPORT, 20)
    assert r["status"] == 200 and r["elapsed"] < 2.0, r
    assert r["idle_closed"] >= 20 - 8, r

    # An idle connection is closed by the timeout (alone: none newer
    # takes its place).
    holder = bed.spawn(n0, [PYTHON, PROBE, "hold", "::1", MPORT, 12], "hold")
    rc = holder.wait(20)
    assert rc == 0, holder.describe()
    closed_after = json.loads(holder.stdout())["closed_after"]
    assert closed_after is not None and 4.5 <= closed_after <= 7.5, (
        "an idle connection closed after %r s, expected the 5 s timeout" % closed_after)

    # The daemon is fine and still answers.
    ms = scrape(bed, n0, host="::1")
    assert metric(ms, "nodeseal_metrics_requests_total") >= len(cases) + 2
    assert metric(ms, "nodeseal_metrics_evicted_total") >= 12
    assert d0.alive()
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("args,env,setting", [
    (["--metrics", "127.0.0.1"], None, "--metrics"),
    (["--metrics", "localhost:9447"], None, "--metrics"),
    (["--metrics", "[::1]9447"], None, "--metrics"),
    (["--metrics", "70000"], None, "--metrics"),
    (["--metrics", "7447"], None, "--metrics"),
    ([], {"NODESEAL_METRICS": "1.2.3.4:0"}, "NODESEAL_METRICS"),
    (["--log-format", "xml"], None, "--log-format"),
    ([], {"NODESEAL_LOG_FORMAT": "JSON"}, "NODESEAL_LOG_FORMAT"),
])
def test_metrics_bad_settings(make_bed, ns_bin, keys, args, env, setting):
    bed = make_bed(1, keep_logs=False)
    n0 = bed.nodes[0]
    r = bed.ns_exec(n0, [ns_bin, "up", "--network-key-file", keys.good, "--state-dir",
                         bed.node_dir(n0)] + args, env=env, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines and setting in lines[0], r.stderr
    assert MPORT not in listening_ports(bed, n0)
