#!/usr/bin/env python3
"""TCP peers for the sluice reset lab.

server PORT            echo server on 0.0.0.0:PORT (one thread per connection), for the node namespaces
client HOST PORT N S [SPORT]
                       open N connections (from source ports SPORT.. when given), then for S seconds send a numbered line on each every 50 ms
                       and read the echo; print one JSON object per event on stdout:
                       {"ev":"up","conn":i,"lport":p}  {"ev":"reset","conn":i,"t":secs}
                       {"ev":"error","conn":i,"err":"..."}  {"ev":"done","conn":i,"echoes":k}
connect HOST PORT      open one connection, send a line, expect its echo; exit 0 on success
Times are seconds since the client started.
"""
import errno
import json
import select
import socket
import sys
import threading
import time


def serve(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(512)

    def handle(c):
        with c:
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
            except OSError:
                return

    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def client(host, port, n, secs, sport=0):
    t0 = time.monotonic()
    conns = {}
    for i in range(n):
        src = ("0.0.0.0", sport + i) if sport else None
        s = socket.create_connection((host, port), timeout=3, source_address=src)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        conns[i] = [s, 0]
        emit(ev="up", conn=i, lport=s.getsockname()[1], t=round(time.monotonic() - t0, 3))
    seq = 0
    end = t0 + secs
    while time.monotonic() < end and conns:
        seq += 1
        for i, (s, _) in list(conns.items()):
            try:
                s.send(b"%d:%d\n" % (i, seq))
            except OSError as e:
                gone(conns, i, e, t0)
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline and conns:
            socks = [c[0] for c in conns.values()]
            r, _, _ = select.select(socks, [], [], max(0.0, deadline - time.monotonic()))
            for s in r:
                i = next(k for k, v in conns.items() if v[0] is s)
                try:
                    d = s.recv(65536)
                    if not d:
                        emit(ev="error", conn=i, err="eof", t=round(time.monotonic() - t0, 3))
                        conns.pop(i)[0].close()
                    else:
                        conns[i][1] += d.count(b"\n")
                except OSError as e:
                    gone(conns, i, e, t0)
    for i, (s, k) in conns.items():
        emit(ev="done", conn=i, echoes=k)
        s.close()


def gone(conns, i, e, t0):
    t = round(time.monotonic() - t0, 3)
    if isinstance(e, ConnectionResetError) or getattr(e, "errno", None) == errno.ECONNRESET:
        emit(ev="reset", conn=i, t=t)
    else:
        emit(ev="error", conn=i, err=str(e), t=t)
    conns.pop(i)[0].close()


def connect(host, port):
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(b"hello\n")
        s.settimeout(3)
        assert s.recv(100) == b"hello\n"


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "server":
        serve(int(a[1]))
    elif a[0] == "client":
        client(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]) if len(a) > 5 else 0)
    elif a[0] == "connect":
        connect(a[1], int(a[2]))
    else:
        sys.exit(__doc__)
