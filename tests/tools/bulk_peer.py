#!/usr/bin/python3
"""bulk_peer: a known number of bytes each way over one TCP connection,
which then stays open a while, so that a test can read the counts of the
daemons in between (tests/integration/test_metrics.py).

  bulk_peer.py server PORT SEND          accepts one connection, sends SEND
                                         bytes, reads until EOF
  bulk_peer.py client HOST PORT SEND EXPECT HOLD
                                         sends SEND bytes, reads EXPECT, prints
                                         "done", keeps the connection HOLD s
Each prints a JSON line at the end: {"sent": n, "received": n}.
"""

import json
import socket
import sys
import time


def main():
    if sys.argv[1] == "server":
        port, send = int(sys.argv[2]), int(sys.argv[3])
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", port))
        ls.listen(4)
        c, _ = ls.accept()
        c.sendall(b"s" * send)
        got = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            got += len(b)
        print(json.dumps({"sent": send, "received": got}), flush=True)
        return
    host, port, send, expect, hold = (sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                      int(sys.argv[5]), float(sys.argv[6]))
    c = socket.create_connection((host, port), timeout=15)
    c.sendall(b"c" * send)
    got = 0
    while got < expect:
        b = c.recv(65536)
        if not b:
            break
        got += len(b)
    print("done", flush=True)
    time.sleep(hold)
    c.close()
    print(json.dumps({"sent": send, "received": got}), flush=True)


if __name__ == "__main__":
    main()
