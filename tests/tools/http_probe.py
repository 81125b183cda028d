#!/usr/bin/python3
"""http_probe: what a client sees of the metrics endpoint, run inside a
node's namespace by tests/integration/test_metrics.py.  Prints one JSON
object.

  http_probe.py send HOST PORT HEX TIMEOUT
      sends the bytes (hex), reads until the server closes or TIMEOUT s;
      {"response": text, "closed": bool, "elapsed": s, "error": str|null,
       "connected": bool}
  http_probe.py idle HOST PORT N
      opens N connections that send half a request line and stop, then
      scrapes GET /metrics; {"status": int|null, "elapsed": s,
      "idle_closed": how many idle ones the server had closed by then}
  http_probe.py hold HOST PORT WAIT
      one connection that sends half a request line; how long until the
      server closes it (null: still open after WAIT s)
"""

import json
import socket
import sys
import time


def connect(host, port, timeout=3.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_all(s, deadline):
    data, closed, error = b"", False, None
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError as e:          # a reset is a close too
            closed, error = True, str(e)
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return data, closed, error


def send(host, port, raw, timeout):
    t0 = time.monotonic()
    try:
        s = connect(host, port)
    except OSError as e:
        return {"response": "", "closed": True, "elapsed": time.monotonic() - t0,
                "error": "connect: %s" % e, "connected": False}
    error = None
    try:
        s.sendall(raw)
    except OSError as e:
        error = str(e)
    data, closed, err2 = read_all(s, t0 + timeout)
    s.close()
    return {"response": data.decode("utf-8", "replace"), "closed": closed,
            "elapsed": time.monotonic() - t0, "error": error or err2, "connected": True}


def status_of(text):
    try:
        return int(text.split(" ", 2)[1])
    except (IndexError, ValueError):
        return None


def idle(host, port, n):
    conns = []
    for _ in range(n):
        c = connect(host, port)
        c.sendall(b"GET /met")
        conns.append(c)
    time.sleep(0.2)
    t0 = time.monotonic()
    r = send(host, port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 5.0)
    closed = 0
    for c in conns:
        c.setblocking(False)
        try:
            closed += c.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        c.close()
    return {"status": status_of(r["response"]), "elapsed": time.monotonic() - t0,
            "idle_closed": closed}


def hold(host, port, wait):
    t0 = time.monotonic()
    s = connect(host, port)
    s.sendall(b"GET /met")
    _, closed, _ = read_all(s, t0 + wait)
    s.close()
    return {"closed_after": time.monotonic() - t0 if closed else None}


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "send":
        out = send(host, port, bytes.fromhex(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "idle":
        out = idle(host, port, int(sys.argv[4]))
    else:
        out = hold(host, port, float(sys.argv[4]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
