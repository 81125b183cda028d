"""
The command line's promises, each in a fresh network namespace:
bad settings, a malformed key, missing privileges or missing iptables give
one clear error and a non-zero exit, and leave nothing installed.
"""
import os
import re
import subprocess
import uuid

import pytest

from netbed import nodeseal_path

NODESEAL = nodeseal_path()


def snapshot(ns):
    """iptables/ip6tables (both backends) and ip rules, counters and comments aside."""
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "sh", "-c",
         "iptables-nft-save; ip6tables-nft-save; iptables-legacy-save; ip6tables-legacy-save;"
         " ip rule; ip -6 rule; nft list tables | sort"],
        capture_output=True, text=True, check=True).stdout
    lines = [re.sub(r"\[\d+:\d+\]", "", l) for l in out.splitlines() if not l.startswith("#")]
    return "\n".join(lines)


@pytest.fixture
def ns(tmp_path):
    name = "nscli-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def nodeseal(ns, *args, env=None, prefix=()):
    e = {k: v for k, v in os.environ.items() if not k.startswith("NODESEAL")}
    e.update(env or {})
    return subprocess.run(["ip", "netns", "exec", ns, *prefix, NODESEAL, *args],
                          capture_output=True, text=True, env=e, timeout=30)


@pytest.fixture
def key(tmp_path):
    k = tmp_path / "network.key"
    k.write_text(subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True,
                                check=True).stdout)
    os.chmod(k, 0o600)
    return str(k)


def run_fails(ns, tmp_path, args, env=None, code=1, message=None, prefix=()):
    before = snapshot(ns)
    r = nodeseal(ns, "run", "--state-dir", str(tmp_path / "state"), *args, "--", "true",
                 env=env, prefix=prefix)
    assert r.returncode == code, (r.returncode, r.stderr)
    if message:
        assert re.search(message, r.stderr), r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3, "one clear error, not a cascade: " + r.stderr
    assert snapshot(ns) == before, "something was left installed"
    return r


def test_no_network_key(ns, tmp_path):
    run_fails(ns, tmp_path, [], message="no network key: set NODESEAL_NETWORK_KEY")


def test_malformed_key_file_named(ns, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("hello\n")
    os.chmod(bad, 0o600)
    run_fails(ns, tmp_path, ["--network-key-file", str(bad)],
              message=re.escape(str(bad)) + ".*44 characters")


def test_missing_key_file(ns, tmp_path):
    run_fails(ns, tmp_path, ["--network-key-file", str(tmp_path / "nope")],
              message="nope: cannot open: No such file")


def test_bad_inline_key_from_environment(ns, tmp_path):
    run_fails(ns, tmp_path, [], env={"NODESEAL_NETWORK_KEY": "short"},
              message="network key \\(inline\\)")


@pytest.mark.parametrize("form", ["separate", "joined"])
def test_network_key_on_command_line_refused(ns, tmp_path, form):
    """/proc/PID/cmdline is world-readable: the key itself is taken only from
    the environment (or a file), and the error says where to put it."""
    k = subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True,
                       check=True).stdout.strip()
    args = ["--network-key", k] if form == "separate" else ["--network-key=" + k]
    r = run_fails(ns, tmp_path, args, code=2,
                  message="--network-key: .*NODESEAL_NETWORK_KEY.*--network-key-file")
    assert k not in r.stderr, "the error repeats the key"
    r = nodeseal(ns, "up", "--state-dir", str(tmp_path / "state"), *args)
    assert r.returncode == 2 and "NODESEAL_NETWORK_KEY" in r.stderr, r.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=oct)
def test_network_key_file_readable_by_others_refused(ns, tmp_path, key, mode):
    os.chmod(key, mode)
    run_fails(ns, tmp_path, ["--network-key-file", key],
              message=re.escape("%s: mode %04o lets others read the network key" % (key, mode))
              + ".*" + re.escape("chmod 600 " + key))


@pytest.mark.parametrize("args,message", [
    (["--ports", "70000"], "ports: '70000' is not a port"),
    (["--ports", "07447"], "--ports: .07447. starts with 0; numbers are decimal"),
    (["--delivery-ports", "061000-65535"], "starts with 0; numbers are decimal"),
    (["--ports", "7447,7447"], "given twice"),
    (["--log-level", "loud"], "not error, warn, info or debug"),
    (["--iptables", "ipfw"], "not auto, legacy or nft"),
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--proxy-port", "7447"], "both protected and the daemon's own"),
    (["--delivery-ports", "61000"], "'61000' is not a range LO-HI"),
    (["--delivery-ports", "65000-64000"], "fewer than 64 ports"),
    (["--delivery-ports", "100-2000"], "not a range of ports 1024-65535"),
    (["--delivery-ports", "7400-7500"], "port 7447 is both protected and a delivery port"),
    (["--max-pending-per-source", "0"], "not a number from 1"),
    (["--policy", "lax"], "policy: 'lax' is not required or opportunistic"),
    (["--plain-retry", "0"], "plain-retry: '0' is not a number from 1"),
])
def test_bad_options(ns, tmp_path, key, args, message):
    run_fails(ns, tmp_path, ["--network-key-file", key, *args], code=2, message=message)


def test_bad_environment(ns, tmp_path, key):
    run_fails(ns, tmp_path, ["--network-key-file", key], env={"NODESEAL_PORTS": "x"}, code=2,
              message="NODESEAL_PORTS: 'x' is not a port")


def test_without_net_admin(ns, tmp_path, key):
    os.chmod(tmp_path, 0o755)
    os.chmod(key, 0o644)
    run_fails(ns, tmp_path, ["--network-key-file", key],
              prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all"),
              message="CAP_NET_ADMIN")


def test_packet_mode_without_net_raw(ns, tmp_path, key):
    """Packet mode sends segments past a learned path MTU by a raw socket:
    with CAP_NET_ADMIN but not CAP_NET_RAW (podman's default set plus
    NET_ADMIN; Docker with --cap-drop NET_RAW) it does not start, and says
    which capability to add.  Proxy mode starts without it."""
    drop = ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw")
    run_fails(ns, tmp_path, ["--network-key-file", key, "--mode", "packet"], prefix=drop,
              message=re.escape("packet mode needs CAP_NET_RAW as well as CAP_NET_ADMIN")
              + ".*" + re.escape("--cap-add NET_ADMIN,NET_RAW"))
    r = nodeseal(ns, "run", "--state-dir", str(tmp_path / "state"), "--network-key-file", key,
                 "--", "true", prefix=drop)
    assert r.returncode == 0, r.stderr


def test_without_iptables(ns, tmp_path, key):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink("/usr/sbin/ip", bindir / "ip")
    os.symlink("/usr/sbin/nft", bindir / "nft")
    run_fails(ns, tmp_path, ["--network-key-file", key], env={"PATH": str(bindir)},
              message="cannot run iptables")


def test_without_nft(ns, tmp_path, key):
    """nft makes the guard table that keeps the ports closed while another
    program has flushed iptables: without it, no start, and nothing is left
    installed (not even the tables iptables-restore would have made)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ip", "iptables-restore", "iptables-save", "ip6tables-restore",
                 "ip6tables-save", "iptables-nft-save", "ip6tables-nft-save",
                 "iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-restore",
                 "ip6tables-nft-restore", "iptables-legacy-restore", "ip6tables-legacy-restore"):
        if os.path.exists("/usr/sbin/" + tool):
            os.symlink("/usr/sbin/" + tool, bindir / tool)
    for mode in ("proxy", "packet"):
        run_fails(ns, tmp_path, ["--network-key-file", key, "--mode", mode],
                  env={"PATH": str(bindir)}, message=r"cannot run nft \(package nftables\)")


def failing_ip6tables_restore(tmp_path):
    """A PATH on which the IPv6 half of an install fails (after the IPv4 half)."""
    bindir = tmp_path / "failbin"
    bindir.mkdir()
    for name in ("ip6tables-restore", "ip6tables-nft-restore", "ip6tables-legacy-restore"):
        (bindir / name).write_text("#!/bin/sh\necho 'simulated failure' >&2\nexit 1\n")
        os.chmod(bindir / name, 0o755)
    return "%s:%s" % (bindir, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))


def test_failed_install_leaves_nothing(ns, tmp_path, key):
    if not os.path.exists("/proc/net/if_inet6"):
        pytest.skip("no IPv6")
    run_fails(ns, tmp_path, ["--network-key-file", key],
              env={"PATH": failing_ip6tables_restore(tmp_path)}, message="ip6tables")


def test_failed_restart_after_crash_keeps_rules(ns, tmp_path, key):
    """Regression: a restart that failed to install used to remove the rules
    a crashed daemon left, which were what kept P2P off the wire."""
    if not os.path.exists("/proc/net/if_inet6"):
        pytest.skip("no IPv6")
    state = str(tmp_path / "state")
    clean = snapshot(ns)
    up = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "up", "--network-key-file", key,
                           "--state-dir", state], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if nodeseal(ns, "status", "--state-dir", state).returncode == 0:
                break
            subprocess.run(["sleep", "0.05"])
        up.kill()
        up.wait(timeout=10)
        crashed = snapshot(ns)
        assert "NODESEAL_GUARD_OUT" in crashed
        r = nodeseal(ns, "up", "--network-key-file", key, "--state-dir", state,
                     env={"PATH": failing_ip6tables_restore(tmp_path)})
        assert r.returncode == 1, r.stderr
        assert "kept" in r.stderr and "nodeseal down" in r.stderr, r.stderr
        assert snapshot(ns) == crashed, "the crashed daemon's rules were not kept"
    finally:
        if up.poll() is None:
            up.kill()
        assert nodeseal(ns, "down", "--state-dir", state).returncode == 0
    assert snapshot(ns) == clean


def test_already_running(ns, tmp_path, key):
    state = str(tmp_path / "state")
    up = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "up", "--network-key-file", key,
                           "--state-dir", state], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if nodeseal(ns, "status", "--state-dir", state).returncode == 0:
                break
            subprocess.run(["sleep", "0.05"])
        r = nodeseal(ns, "run", "--network-key-file", key, "--state-dir", state, "--", "true")
        assert r.returncode == 1 and "already running" in r.stderr, r.stderr
        assert nodeseal(ns, "status", "--state-dir", state).returncode == 0, "first one survives"
    finally:
        assert nodeseal(ns, "down", "--state-dir", state).returncode == 0
        up.wait(timeout=10)


def test_off_runs_command_only(ns, tmp_path):
    before = snapshot(ns)
    r = nodeseal(ns, "run", "--", "sh", "-c", "echo child; exit 5", env={"NODESEAL": "off"})
    assert r.returncode == 5 and r.stdout == "child\n"
    assert snapshot(ns) == before


def test_run_exit_status_and_signal(ns, tmp_path, key):
    state = str(tmp_path / "state")
    r = nodeseal(ns, "run", "--network-key-file", key, "--state-dir", state, "--", "sh", "-c",
                 "exit 7")
    assert r.returncode == 7, r.stderr
    # A signal to nodeseal reaches the child; the child's death by it is the exit status.
    p = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "run", "--network-key-file", key,
                          "--state-dir", state, "--", "sleep", "30"], stderr=subprocess.PIPE)
    for _ in range(100):
        if nodeseal(ns, "status", "--state-dir", state).returncode == 0:
            break
        subprocess.run(["sleep", "0.05"])
    p.send_signal(15)
    assert p.wait(timeout=10) == 128 + 15


def test_status_when_not_running(ns, tmp_path):
    r = nodeseal(ns, "status", "--state-dir", str(tmp_path / "state"))
    assert r.returncode == 1 and "not running" in r.stderr


def test_genkey_and_pubkey(tmp_path):
    keys = {subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True).stdout
            for _ in range(3)}
    assert len(keys) == 3 and all(re.fullmatch(r"[A-Za-z0-9+/]{43}=\n", k) for k in keys)
    r1 = subprocess.run([NODESEAL, "pubkey", "--state-dir", str(tmp_path / "s")],
                        capture_output=True, text=True)
    r2 = subprocess.run([NODESEAL, "pubkey", "--state-dir", str(tmp_path / "s")],
                        capture_output=True, text=True)
    assert r1.returncode == 0 and r1.stdout == r2.stdout
    assert re.fullmatch(r"public-key [A-Za-z0-9+/]{43}=\nfingerprint [0-9a-f]{16}\n", r1.stdout)
    assert oct(os.stat(tmp_path / "s" / "node.key").st_mode & 0o777) == "0o600"


def test_child_does_not_see_network_key(ns, tmp_path):
    k = subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True).stdout.strip()
    r = nodeseal(ns, "run", "--state-dir", str(tmp_path / "state"), "--", "sh", "-c",
                 'echo "key=${NODESEAL_NETWORK_KEY:-unset}"', env={"NODESEAL_NETWORK_KEY": k})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "key=unset\n"


def test_network_key_from_environment_wiped(ns, tmp_path):
    """/proc/PID/environ shows the environment a process started with; the
    daemon is PID 1 of a container, and a node running as root reads it.
    Once loaded, the key is wiped there."""
    k = subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True,
                       check=True).stdout.strip()
    state = str(tmp_path / "state")
    e = {n: v for n, v in os.environ.items() if not n.startswith("NODESEAL")}
    e["NODESEAL_NETWORK_KEY"] = k
    up = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "up", "--state-dir", state],
                          stderr=subprocess.PIPE, text=True, env=e)
    try:
        for _ in range(100):
            if nodeseal(ns, "status", "--state-dir", state).returncode == 0:
                break
            subprocess.run(["sleep", "0.05"])
        with open("/proc/%d/environ" % up.pid, "rb") as f:
            environ = f.read()
        assert b"NODESEAL_NETWORK_KEY=" in environ, "not the daemon's environment"
        still = k.encode() in environ
        assert not still, "the key is still in /proc/PID/environ"
    finally:
        assert nodeseal(ns, "down", "--state-dir", state).returncode == 0
        up.wait(timeout=10)


CHILD_REPORT = r"""
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status
env | grep '^NODESEAL' | sed 's/=.*//; s/^/env /'
if iptables -w -F 2>/dev/null; then echo 'iptables -F: done'; else echo 'iptables -F: refused'; fi
"""


@pytest.mark.parametrize("setpcap", [True, False], ids=["root", "without-setpcap"])
def test_child_keeps_no_net_admin_nor_settings(ns, tmp_path, key, setpcap):
    """The node, a child of `run`, gets neither CAP_NET_ADMIN (bit 12) nor
    CAP_NET_RAW (13), not even back through an exec as root (grep and
    iptables below are execs), and no NODESEAL_* variable.  Without
    CAP_SETPCAP (docker --cap-drop ALL --cap-add NET_ADMIN) the bounding
    set cannot shrink; no_new_privs then keeps exec from restoring them."""
    prefix = () if setpcap else ("setpriv", "--bounding-set=-setpcap", "--inh-caps=-setpcap")
    env = {"NODESEAL_NETWORK_KEY_FILE": key, "NODESEAL_LOG_LEVEL": "warn",
           "NODESEAL_PORTS": "7447"}
    r = nodeseal(ns, "run", "--state-dir", str(tmp_path / "state"), "--", "sh", "-c",
                 CHILD_REPORT, env=env, prefix=prefix)
    assert r.returncode == 0, r.stderr
    fields = dict(l.split(":", 1) for l in r.stdout.splitlines() if l.startswith(("Cap", "No")))
    net = (1 << 12) | (1 << 13)
    for f in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(fields[f], 16) & net == 0, "%s: %s\n%s" % (f, fields[f], r.stdout)
    if setpcap:
        assert int(fields["CapBnd"], 16) & net == 0, r.stdout
    else:
        assert int(fields["NoNewPrivs"]) == 1 or int(fields["CapBnd"], 16) & net == 0, r.stdout
    assert [l for l in r.stdout.splitlines() if l.startswith("env ")] == [], r.stdout
    assert "iptables -F: refused" in r.stdout, r.stdout


def test_bad_policy_from_environment(ns, tmp_path, key):
    run_fails(ns, tmp_path, ["--network-key-file", key], env={"NODESEAL_POLICY": "maybe"},
              code=2, message="NODESEAL_POLICY: 'maybe' is not required or opportunistic")


@pytest.mark.parametrize("text,line", [
    ("10.0.0.1 100 200\nnot-an-address 1 2\n", 2),
    ("# ok\n10.0.0.1 100\n", 2),
    ("10.0.0.1 1 2\n10.0.0.1 3 4\n", 2),
])
def test_unreadable_peer_memory_stops_start(ns, tmp_path, key, text, line):
    """A peer memory that cannot be read must not be taken for an empty one:
    its peers would be taken in clear under --policy opportunistic."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "peers").write_text(text)
    run_fails(ns, tmp_path, ["--network-key-file", key, "--policy", "opportunistic"], code=1,
              message=r"peer memory .*/peers, line %d" % line)


def test_policy_and_forget(ns, tmp_path, key):
    """policy shows and changes the running policy; forget edits the memory
    through the daemon, or the file itself when none runs."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "peers").write_text("10.0.0.1 100 200\nfd00::2 300 400\n10.0.0.3 500 600\n")
    r = nodeseal(ns, "policy", "--state-dir", str(state))
    assert r.returncode == 1 and "not running" in r.stderr, r
    r = nodeseal(ns, "forget", "--state-dir", str(state), "10.0.0.3")
    assert r.returncode == 0 and r.stdout == "forgot 10.0.0.3\n", r
    assert "10.0.0.3" not in (state / "peers").read_text()
    assert nodeseal(ns, "forget", "--state-dir", str(state), "10.0.0.300").returncode == 2
    up = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "up", "--network-key-file", key,
                           "--state-dir", str(state), "--policy", "opportunistic"],
                          stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if nodeseal(ns, "status", "--state-dir", str(state)).returncode == 0:
                break
            subprocess.run(["sleep", "0.05"])
        r = nodeseal(ns, "status", "--state-dir", str(state))
        assert "policy opportunistic\npeers: 2 sealed, 0 in clear\n" in r.stdout, r.stdout
        assert re.search(r"fd00::2 +sealed +1970-01-01T00:05:00Z +0", r.stdout), r.stdout
        assert nodeseal(ns, "status", "--require-sealed", "--state-dir",
                        str(state)).returncode == 0
        r = nodeseal(ns, "policy", "--state-dir", str(state))
        assert r.returncode == 0 and r.stdout == "policy opportunistic\n", r
        r = nodeseal(ns, "policy", "--state-dir", str(state), "required")
        assert r.returncode == 0, r
        assert r.stdout == "policy required (was opportunistic): 0 connections in clear reset\n"
        assert nodeseal(ns, "policy", "--state-dir", str(state), "lax").returncode == 2
        r = nodeseal(ns, "forget", "--state-dir", str(state), "fd00::2")
        assert r.returncode == 0 and r.stdout == "forgot fd00::2\n", r
        assert "fd00::2" not in (state / "peers").read_text(), "forget is saved at once"
        r = nodeseal(ns, "status", "--json", "--state-dir", str(state))
        st = __import__("json").loads(r.stdout)
        assert st["policy"] == "required" and st["summary"] == {"sealed": 1, "clear": 0}, st
        assert st["peers"] == [{"address": "10.0.0.1", "state": "sealed", "since": 100,
                                "open": 0}], st
        r = nodeseal(ns, "forget", "--state-dir", str(state), "all")
        assert r.returncode == 0 and r.stdout == "forgot 1 peer\n", r
    finally:
        assert nodeseal(ns, "down", "--state-dir", str(state)).returncode == 0
        up.wait(timeout=10)
    assert "10.0.0.1" not in (state / "peers").read_text()


@pytest.mark.parametrize("cmd", ["run", "up", "down", "status", "pubkey", "policy", "forget"])
def test_help(cmd):
    r = subprocess.run([NODESEAL, cmd, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: nodeseal " + cmd), r


def test_bad_switch_value_named():
    env = dict(os.environ, NODESEAL="/usr/bin/nodeseal")
    r = subprocess.run([NODESEAL, "up"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "NODESEAL: '/usr/bin/nodeseal' is not on or off" in r.stderr


def test_pubkey_unusable_state_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    r = subprocess.run([NODESEAL, "pubkey", "--state-dir", str(tmp_path / "file" / "sub")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot create" in r.stderr, r


# ----------------------------------------------------------------- the config file

def write_conf(tmp_path, text, mode=0o600, name="nodeseal.conf"):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_config_file_layers(ns, tmp_path, key):
    """Options win over the environment, which wins over the file: seen
    through the check that a protected port is not the daemon's own
    (20051, the default --proxy-port)."""
    conf = write_conf(tmp_path, "# ports\nNODESEAL_PORTS = 20051\nNODESEAL_NETWORK_KEY_FILE"
                      " = '%s'\n" % key)
    run_fails(ns, tmp_path, ["--config", conf], code=2,
              message="port 20051 is both protected and the daemon's own")
    run_fails(ns, tmp_path, [], env={"NODESEAL_CONFIG": conf}, code=2,
              message="port 20051 is both protected and the daemon's own")
    state = str(tmp_path / "state")
    r = nodeseal(ns, "run", "--config", conf, "--state-dir", state, "--", "true",
                 env={"NODESEAL_PORTS": "7447"})
    assert r.returncode == 0, "the environment over the file: " + r.stderr
    r = nodeseal(ns, "run", "--ports", "7447", "--state-dir", state, "--", "true",
                 env={"NODESEAL_PORTS": "20051", "NODESEAL_CONFIG": conf})
    assert r.returncode == 0, "an option over the environment and the file: " + r.stderr
    good = write_conf(tmp_path, "NODESEAL_PORTS = 7447\n", name="good.conf")
    run_fails(ns, tmp_path, ["--config", good, "--network-key-file", key], code=2,
              env={"NODESEAL_PORTS": "20051"},
              message="port 20051 is both protected and the daemon's own")
    r = nodeseal(ns, "run", "--config", good, "--state-dir", state, "--", "true",
                 env={"NODESEAL_CONFIG": conf})
    assert r.returncode == 1 and "no network key" in r.stderr, \
        "--config over NODESEAL_CONFIG: " + r.stderr


@pytest.mark.parametrize("text,mode,message", [
    ("NODESEAL_PORTS = 7447\nNODESEAL_PORTZ = 1\n", 0o600,
     r"nodeseal.conf:2: unknown setting NODESEAL_PORTZ$"),
    ("\n\nNODESEAL_POLICY = lax\n", 0o600,
     r"nodeseal.conf:3: NODESEAL_POLICY: 'lax' is not required or opportunistic$"),
    ("NODESEAL_PORTS = 7447\nNODESEAL_PORTS=7448\n", 0o600,
     r"nodeseal.conf:2: NODESEAL_PORTS set again \(first on line 1\)$"),
    ("NODESEAL = off\n", 0o600, r"nodeseal.conf:1: NODESEAL, the on/off switch, is read from "
     r"the environment only$"),
    ("NODESEAL_STATE_DIR = " + "x" * 2000 + "\n", 0o600,
     r"nodeseal.conf:1: line longer than 1024 bytes$"),
    ("NODESEAL_NETWORK_KEY = @K@\n", 0o644,
     r"nodeseal.conf:1: NODESEAL_NETWORK_KEY: .*nodeseal.conf: mode 0644 lets others read the "
     r"network key; it must be 0600 \(chmod 600 .*nodeseal.conf\)$"),
    ("NODESEAL_PORTS = 7447\n", 0o664,
     r"nodeseal.conf: mode 0664 lets the group change the settings"),
    ("ports: 7447\n", 0o600, r"nodeseal.conf:1: not NAME = VALUE$"),
], ids=["unknown", "bad-value", "twice", "on-off", "too-long", "key-readable",
        "group-writable", "no-equals"])
def test_config_file_errors(ns, tmp_path, text, mode, message):
    k = subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True,
                       check=True).stdout.strip()
    conf = write_conf(tmp_path, text.replace("@K@", k), mode)
    r = run_fails(ns, tmp_path, ["--config", conf], code=2, message=message)
    assert k not in r.stderr, "the error repeats the key"
    assert r.stderr.startswith("nodeseal run: " + conf), r.stderr


def test_config_file_missing(ns, tmp_path):
    run_fails(ns, tmp_path, ["--config", str(tmp_path / "nope.conf")], code=2,
              message="nope.conf: cannot open the config file: No such file")


def test_network_key_in_config_file(ns, tmp_path):
    """The key itself may be in a 0600 config file, and is wiped from the
    daemon's copy of the file once read (under 1 s)."""
    k = subprocess.run([NODESEAL, "genkey"], capture_output=True, text=True,
                       check=True).stdout.strip()
    conf = write_conf(tmp_path, 'NODESEAL_NETWORK_KEY = "%s"\n' % k)
    state = str(tmp_path / "state")
    up = subprocess.Popen(["ip", "netns", "exec", ns, NODESEAL, "up", "--config", conf,
                           "--state-dir", state], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if nodeseal(ns, "status", "--state-dir", state).returncode == 0:
                break
            subprocess.run(["sleep", "0.05"])
        assert nodeseal(ns, "status", "--state-dir", state).returncode == 0, "not running"
        # Its private writable memory: the heap, and ASan's allocator
        # regions under the sanitizers (not the shadow's huge ones).
        with open("/proc/%d/maps" % up.pid) as f:
            spans = [l.split()[0] for l in f if l.split()[1] == "rw-p"]
        found, scanned = [], 0
        with open("/proc/%d/mem" % up.pid, "rb") as mem:
            for span in spans:
                lo, hi = (int(x, 16) for x in span.split("-"))
                if hi - lo > 64 << 20:
                    continue
                try:
                    mem.seek(lo)
                    data = mem.read(hi - lo)
                except OSError:
                    continue
                scanned += len(data)
                if k.encode() in data:
                    found.append(span)
        assert scanned > 0 and not found, "the key is still in the daemon's memory: %s" % found
    finally:
        assert nodeseal(ns, "down", "--state-dir", state).returncode == 0
        up.wait(timeout=10)
