#!/usr/bin/python3
"""fakerpc.py: a stand-in for a MultiChain node's JSON-RPC, for the tests of
`nodeseal --members chain` (tests/integration/test_chain.py).

It answers the four calls nodeseal makes, as MultiChain 2.3 does:

  getinfo                          {"chainname", "handshakelocal", "blocks", ...}
  signmessage ADDRESS MESSAGE      base64 signature (only of its own address)
  verifymessage ADDRESS SIG MSG    true or false
  listpermissions connect ADDRESS  [{"address", "type": "connect", "startblock", "endblock"}]

on 127.0.0.1:PORT, with HTTP Basic auth against the rpcuser/rpcpassword it
writes into CHAIN_DIR/multichain.conf (and params.dat with
default-rpc-port), as multichaind does when it creates a chain.

Its signature scheme is real, and its own: each fake node has an Ed25519
key (KEY_FILE, made on first use); its address is base58 of a version byte,
the first 20 bytes of SHA-256 of the public key and a 4-byte checksum, so it
looks like a MultiChain address; a signature is base64(public key ||
Ed25519 signature).  verifymessage checks that the address derives from the
public key and that the signature verifies, so every fake verifies every
other fake's signatures without a registry.

Permissions live in a JSON file the test edits:
  {"blocks": N, "connect": {"ADDRESS": [startblock, endblock], ...}}

Modes (--mode, or the file --mode-file names, read on every request):
  ok        answers as above
  slow      sleeps --slow-s (default 3 s) before answering
  garbage   answers each call with something else, in turn: not JSON, a
            result of the wrong shape, a body of 200 KiB, a bad status line
  keepalive answers as ok, but keeps the connection open after the answer
Forgeries, for the refusal tests:
  --chain NAME           reports (and signs for) this chain name
  --sign-as KEY_FILE     uses another node's key for its address and signatures
  --statement-key HEX    signs statements with key=HEX instead of the one asked
                         (with --sign-as: exactly that node's own proof, replayed)

--address prints the address of KEY_FILE and exits.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import socketserver
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(data):
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def address_of(pub):
    body = b"\x00" + hashlib.sha256(pub).digest()[:20]
    check = hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4]
    return b58(body + check)


def load_key(path):
    if not os.path.exists(path):
        seed = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(seed)
    with open(path, "rb") as f:
        seed = f.read()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return key, pub


def verify(address, sig, message):
    try:
        raw = base64.b64decode(sig, validate=True)
    except Exception:
        raise RpcError(-5, "Malformed base64 encoding")
    if len(raw) != 96:
        return False
    pub, s = raw[:32], raw[32:]
    if address_of(pub) != address:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(s, message.encode())
        return True
    except Exception:
        return False


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class Fake:
    def __init__(self, a):
        self.a = a
        self.key, self.pub = load_key(a.sign_as or a.key_file)
        self.address = address_of(self.pub)
        self.user = "multichainrpc"
        self.password = secrets.token_urlsafe(24)
        self.garbage_turn = 0
        self.calls = 0

    def mode(self):
        if self.a.mode_file and os.path.exists(self.a.mode_file):
            with open(self.a.mode_file) as f:
                return f.read().strip() or "ok"
        return self.a.mode

    def perms(self):
        try:
            with open(self.a.perms) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"blocks": 0, "connect": {}}

    def call(self, method, params):
        if method == "getinfo":
            return {"version": "2.3.3", "chainname": self.a.chain,
                    "handshakelocal": self.address, "blocks": self.perms().get("blocks", 0)}
        if method == "signmessage":
            addr, msg = params
            if addr != self.address:
                raise RpcError(-4, "Private key for address is not known")
            if self.a.statement_key:
                msg = re.sub(r"key=[0-9a-f]+", "key=" + self.a.statement_key, msg)
            return base64.b64encode(self.pub + self.key.sign(msg.encode())).decode()
        if method == "verifymessage":
            addr, sig, msg = params
            return verify(addr, sig, msg)
        if method == "listpermissions":
            kind, addr = params
            p = self.perms()
            out = []
            for a in addr.split(","):
                if kind == "connect" and a in p.get("connect", {}):
                    s, e = p["connect"][a]
                    out.append({"address": a, "for": None, "type": "connect",
                                "startblock": s, "endblock": e, "admins": [], "pending": []})
            return out
        raise RpcError(-32601, "Method not found")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fakerpc: " + (fmt % args) + "\n")

    def send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.server.fake.mode() == "keepalive":
            # As an HTTP/1.1 server may: the connection stays open.
            self.close_connection = False
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        fake = self.server.fake
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (fake.user, fake.password)).encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.send(401, b"", "text/plain")
        mode = fake.mode()
        fake.calls += 1
        req = json.loads(body)
        method, params = req.get("method"), req.get("params", [])
        sys.stderr.write("fakerpc: %s %s (mode %s)\n" % (method, json.dumps(params)[:200], mode))
        if mode == "slow":
            time.sleep(fake.a.slow_s)
        if mode == "garbage":
            turn = fake.garbage_turn % 4
            fake.garbage_turn += 1
            if turn == 0:
                return self.send(200, b"<html>not json</html>", "text/html")
            if turn == 1:
                return self.send(200, json.dumps({"result": "wrong shape", "error": None,
                                                  "id": req.get("id")}).encode())
            if turn == 2:
                return self.send(200, b'{"result": "' + b"A" * (200 * 1024) + b'"}')
            self.wfile.write(b"garbage garbage\r\n\r\n")
            self.close_connection = True
            return
        try:
            result, error = fake.call(method, params), None
        except RpcError as e:
            result, error = None, {"code": e.code, "message": e.message}
        except (ValueError, TypeError):
            result, error = None, {"code": -1, "message": "bad parameters"}
        out = json.dumps({"result": result, "error": error, "id": req.get("id")}).encode()
        self.send(200 if error is None else 500, out)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", help="the chain directory: multichain.conf and params.dat")
    ap.add_argument("--port", type=int, default=7446)
    ap.add_argument("--conf-port", action="store_true",
                    help="put the port in multichain.conf's rpcport too")
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--perms")
    ap.add_argument("--chain", default="chain1")
    ap.add_argument("--mode", default="ok", choices=["ok", "slow", "garbage", "keepalive"])
    ap.add_argument("--mode-file")
    ap.add_argument("--slow-s", type=float, default=3.0)
    ap.add_argument("--sign-as")
    ap.add_argument("--statement-key")
    ap.add_argument("--address", action="store_true")
    a = ap.parse_args()
    if a.address:
        print(address_of(load_key(a.key_file)[1]))
        return 0
    fake = Fake(a)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.fake = fake
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "params.dat"), "w") as f:
        f.write("# ==== MultiChain configuration file ====\n\n"
                "chain-name = %s    # Chain name\n"
                "default-network-port = 7447    # Default TCP/IP port\n"
                "default-rpc-port = %d    # Default TCP/IP port for JSON-RPC\n" % (a.chain, a.port))
    conf = os.path.join(a.dir, "multichain.conf")
    with open(conf + ".new", "w") as f:
        f.write("rpcuser=%s\nrpcpassword=%s\n" % (fake.user, fake.password))
        if a.conf_port:
            f.write("rpcport=%d\n" % a.port)
    os.chmod(conf + ".new", 0o600)
    os.rename(conf + ".new", conf)
    sys.stderr.write("fakerpc: %s on 127.0.0.1:%d, address %s\n" % (a.chain, a.port, fake.address))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
