#!/usr/bin/env python3
"""TCP peers for the sluice reset lab.

server PORT            echo server on 0.0.0.0:PORT (one thread per connection), for the node namespaces
client HOST PORT N S [SPORT]
                       open N connections (from source ports SPORT.. when given), then for S seconds send a numbered line on each every 50 ms
                       and read the echo; print one JSON object per event on stdout:
                       {"ev":"up","conn":i,"lport":p}  {"ev":"reset","conn":i,"t":secs}
                       {"ev":"error","conn":i,"err":"..."}  {"ev":"done","conn":i,"echoes":k}
connect HOST PORT      open one connection, send a line, expect its echo; exit 0 on success
iscsi-abuse HOST PORT CASE [ARG]
                       a hostile client of an iSCSI portal: garbage (a SCSI command before login), bad-text (a
                       login whose text is not key=value), oversized (a header announcing 16 MB of data, then
                       data), silent (connect and say nothing for ARG s), trickle (a login a byte every 300 ms,
                       for ARG s), crowd (ARG silent connections at once: how many are refused, cut, held); prints
                       {"case":..,"closed":secs or null,...}
iscsi-write HOST PORT TARGET LBA BLOCKS
                       a minimal initiator (an oracle independent of libiscsi): logs in to TARGET at a portal,
                       following a redirect, WRITEs BLOCKS 512-byte blocks of a pattern at LBA as immediate data,
                       READs them back; prints {"ev":"iscsi","session":..,"wrote":..,"matched":..}
iscsi-place HOST PORT TARGET COUNT SPORT
                       COUNT logins to TARGET at a portal from source ports SPORT..; prints
                       {"ev":"placed","addresses":{TargetAddress: logins}}
iscsi-logins HOST PORT TARGET SECS PARALLEL
                       PARALLEL clients log in to TARGET at a portal again and again for SECS seconds (each reads
                       the redirect and closes); prints {"ev":"logins","per_sec":..,"p50_ms":..,"p99_ms":..}
bulk HOST PORT N SECS SPORT SIZE INTERVAL_MS
                       N connections from source ports SPORT.. (connected in parallel), then each writes SIZE bytes
                       every INTERVAL_MS (writes staggered over the interval) and reads the echo back, checking it
                       byte for byte; one process, non-blocking sockets on epoll. It runs SECS seconds after all
                       connections are up, or until SIGTERM/SIGINT, then reports every connection still open.
                       Progress ("rx") is any echoed byte arriving; a gap is the time between two arrivals (from
                       the start of traffic, and up to the reset, error or end). Events, one JSON object a line:
                       {"ev":"start","wall":time.time() at t=0}   {"ev":"up","conn":i,"lport":p,"t":..}
                       {"ev":"ready","t":..,"up":k}               traffic starts
                       {"ev":"reset","conn":i,"t":..,"last_rx":..,"max_gap":..,"gaps":[[from,len],..],"echoes":k}
                       {"ev":"error","conn":i,"t":..,"err":"..",...}   anything but ECONNRESET (EOF, bad echo, ...)
                       {"ev":"tick","t":..,"live":k,"stale":k,"late_ms":..}   each second: connections open, those
                                                                   with nothing received for 0.5 s, worst send lateness
                       {"ev":"done","conn":i,"t":..,"last_rx":..,"max_gap":..,"gaps":[..],"echoes":k,"skipped":k}
                       {"ev":"summary","t":..,"cpu_s":..,"sends":k,"late_sends":k,"max_late_ms":..,"skipped":k}
                       gaps lists every gap over 0.25 s; echoes counts whole SIZE-byte echoes; "skipped" counts
                       writes left out because 4 writes' worth still waited for room in the socket buffer (a
                       stalled connection); a send is late when the client's loop makes it more than one
                       interval after its time (then the client, not the network, is behind).
spoof-acks SRC DST DPORT COUNT SPORT
                       send COUNT bare TCP ACKs (random sequence and acknowledgement numbers) from SRC:SPORT..
                       to DST:DPORT through a raw socket (IP_HDRINCL), 5 ms apart: segments of connections that
                       exist nowhere; prints {"ev":"sent","sport":p,"seq":..,"ack":..} for each
frag-acks SRC DST DPORT SPORT COUNT
                       send COUNT ACKs with 12 bytes of data (random numbers) from SRC:SPORT to DST:DPORT, each
                       as two IPv4 fragments, 20 ms apart: what an off-path host that knows a connection's
                       addresses and ports can send; prints {"ev":"sent",...} for each
ipip-decap [MTU]         for a node namespace reached by IP-in-IP (the lab's kernel has no ipip module): creates tun0
                       (MTU, default 9000), takes every IPv4 packet of protocol 4 (IPv4 in IPv4) addressed here
                       through a raw socket and hands the inner packet to the kernel through tun0, until
                       SIGTERM; reverse-path filtering is turned off so that the inner packet's client source is
                       accepted; prints {"ev":"decap","packets":k} at the end
syn-flood DST DPORT COUNT
                       send COUNT TCP SYNs to DST:DPORT from random addresses in 198.18.0.0/15 and random ports
                       through a raw socket (IP_HDRINCL), as fast as it can: spoofed clients opening connections
                       that never complete; prints {"ev":"flooded","sent":k,"secs":..}
replay IFACE PCAP PPS SECS
                       send the frames of PCAP (classic pcap, Ethernet) out of IFACE through an AF_PACKET socket,
                       over and over, PPS a second, for SECS seconds (until SIGTERM/SIGINT when SECS is 0); frames
                       the kernel refuses (e.g. shorter than an Ethernet header) are counted, not fatal; prints
                       {"ev":"replayed","sent":k,"refused":k,"frames":k} at the end
Times are seconds since the client started (time.monotonic()).
"""
import errno
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
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


class Bulk:
    """One connection of the bulk client."""

    __slots__ = ("i", "s", "out", "unacked", "rx", "last_rx", "max_gap", "gaps", "seq", "skipped", "events")

    def __init__(self, i, s):
        self.i, self.s = i, s
        self.out = bytearray()
        self.unacked = bytearray()
        self.rx = 0
        self.last_rx = 0.0
        self.max_gap = 0.0
        self.gaps = []
        self.seq = 0
        self.skipped = 0
        self.events = select.EPOLLIN

    def received(self, now):
        gap = now - self.last_rx
        if gap > self.max_gap:
            self.max_gap = gap
        if gap > 0.25:
            self.gaps.append([round(self.last_rx, 3), round(gap, 3)])
        self.last_rx = now

    def report(self, size, now):
        last = self.last_rx
        self.received(now)  # the silence up to now counts as a gap, too
        return dict(
            conn=self.i,
            t=round(now, 3),
            last_rx=round(last, 3),
            max_gap=round(self.max_gap, 3),
            gaps=self.gaps,
            echoes=self.rx // size,
            skipped=self.skipped,
        )


def bulk(host, port, n, secs, sport, size, interval_ms):
    interval = interval_ms / 1000.0
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    t0 = time.monotonic()
    emit(ev="start", wall=time.time(), n=n, size=size, interval_ms=interval_ms)

    def now():
        return time.monotonic() - t0

    ep = select.epoll()
    pending = {}
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind(("0.0.0.0", sport + i))
        s.setblocking(False)
        e = s.connect_ex((host, port))
        if e not in (0, errno.EINPROGRESS):
            emit(ev="error", conn=i, err="connect: " + os.strerror(e), t=round(now(), 3))
            s.close()
            continue
        pending[s.fileno()] = (i, s)
        ep.register(s.fileno(), select.EPOLLOUT)
    conns = {}
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline and not stop:
        for fd, _ in ep.poll(0.1):
            i, s = pending.pop(fd)
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e:
                emit(ev="error", conn=i, err="connect: " + os.strerror(e), t=round(now(), 3))
                ep.unregister(fd)
                s.close()
                continue
            conns[fd] = Bulk(i, s)
            ep.modify(fd, select.EPOLLIN)
            emit(ev="up", conn=i, lport=s.getsockname()[1], t=round(now(), 3))
    for fd, (i, s) in pending.items():
        emit(ev="error", conn=i, err="connect: timed out", t=round(now(), 3))
        ep.unregister(fd)
        s.close()

    start = now()
    emit(ev="ready", t=round(start, 3), up=len(conns))
    end = start + secs
    # Sends in time order: (due, conn index, fd); staggered over one interval.
    due = [(start + interval * c.i / n, c.i, fd) for fd, c in conns.items()]
    heapq.heapify(due)
    for c in conns.values():
        c.last_rx = start
    sends = late_sends = skipped = 0
    max_late = tick_late = 0.0
    next_tick = start + 1.0

    def close(fd, ev, **kw):
        nonlocal skipped
        c = conns.pop(fd)
        skipped += c.skipped
        r = c.report(size, now())
        r.update(kw)
        emit(ev=ev, **r)
        ep.unregister(fd)
        c.s.close()

    def failed(fd, e):
        if isinstance(e, ConnectionResetError) or getattr(e, "errno", None) == errno.ECONNRESET:
            close(fd, "reset")
        else:
            close(fd, "error", err=str(e))

    def flush(fd, c):
        try:
            if c.out:
                k = c.s.send(c.out)
                del c.out[:k]
        except BlockingIOError:
            pass  # the socket's buffer is full: EPOLLOUT says when it has room
        except OSError as e:
            failed(fd, e)
            return
        want = select.EPOLLIN | (select.EPOLLOUT if c.out else 0)
        if want != c.events:
            c.events = want
            ep.modify(fd, want)

    while conns and not stop:
        t = now()
        if t >= end:
            break
        while due and due[0][0] <= t:
            d, i, fd = heapq.heappop(due)
            c = conns.get(fd)
            if c is None or c.i != i:
                continue
            heapq.heappush(due, (d + interval, i, fd))
            late = t - d
            if late > max_late:
                max_late = late
            if late > tick_late:
                tick_late = late
            if late > interval:
                late_sends += 1
            sends += 1
            if len(c.out) >= 4 * size:
                c.skipped += 1
                continue
            c.seq += 1
            head = b"%d:%d:" % (c.i, c.seq)
            msg = head + b"." * (size - len(head) - 1) + b"\n"
            c.out += msg
            c.unacked += msg
            flush(fd, c)
        if t >= next_tick:
            stale = sum(1 for c in conns.values() if t - c.last_rx > 0.5)
            emit(ev="tick", t=round(t, 3), live=len(conns), stale=stale, late_ms=round(tick_late * 1000, 1))
            tick_late = 0.0
            next_tick += 1.0
        wait = min(end, next_tick, due[0][0] if due else end) - now()
        for fd, ev in ep.poll(max(0.0, min(wait, 0.05))):
            c = conns.get(fd)
            if c is None:
                continue
            if ev & select.EPOLLOUT:
                flush(fd, c)
                if fd not in conns:
                    continue
            if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                try:
                    d = c.s.recv(262144)
                except BlockingIOError:
                    continue
                except OSError as e:
                    failed(fd, e)
                    continue
                if not d:
                    close(fd, "error", err="eof")
                    continue
                if c.unacked[: len(d)] != d:
                    close(fd, "error", err="echo differs from what was sent")
                    continue
                del c.unacked[: len(d)]
                c.rx += len(d)
                c.received(now())
    t = now()
    for fd in list(conns):
        close(fd, "done")
    cpu = os.times()
    emit(
        ev="summary",
        t=round(t, 3),
        cpu_s=round(cpu.user + cpu.system, 3),
        sends=sends,
        late_sends=late_sends,
        max_late_ms=round(max_late * 1000, 1),
        skipped=skipped,
    )


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def raw_sender():
    """A raw IPv4 socket that sends headers as given (IP_HDRINCL)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return s


def ack_segment(sa, da, sport, dport, seq, ack, data=b""):
    """A TCP ACK from sa:sport to da:dport (packed addresses) carrying data, its checksum correct."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x10, 65535, 0, 0) + data
    csum = checksum(sa + da + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp)) + tcp)
    return tcp[:16] + struct.pack("!H", csum) + tcp[18:]


def ipv4_packet(sa, da, ident, frag, payload):
    """An IPv4 packet carrying TCP payload; frag holds the DF/MF flags and the fragment offset."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, 6, 0, sa, da)
    return ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:] + payload


def spoof_acks(src, dst, dport, count, sport):
    rnd = random.SystemRandom()
    s = raw_sender()
    sa, da = socket.inet_aton(src), socket.inet_aton(dst)
    for k in range(count):
        seq, ack = rnd.getrandbits(32), rnd.getrandbits(32)
        tcp = ack_segment(sa, da, sport + k, dport, seq, ack)
        s.sendto(ipv4_packet(sa, da, rnd.getrandbits(16), 0x4000, tcp), (dst, 0))
        emit(ev="sent", sport=sport + k, seq=seq, ack=ack)
        time.sleep(0.005)


def frag_acks(src, dst, dport, sport, count):
    """COUNT ACKs (random seq/ack, 12 bytes of data) from SRC:SPORT to DST:DPORT, each sent as two IPv4
    fragments: the TCP header and 4 bytes of data, then the other 8. An off-path host that knows a
    connection's addresses and ports can send this; a balancer that hashes fragments on their addresses
    alone sends it to a node that may not hold the connection, which answers with a RST."""
    rnd = random.SystemRandom()
    s = raw_sender()
    sa, da = socket.inet_aton(src), socket.inet_aton(dst)
    for _ in range(count):
        seq, ack = rnd.getrandbits(32), rnd.getrandbits(32)
        tcp = ack_segment(sa, da, sport, dport, seq, ack, b"x" * 12)
        ident = rnd.getrandbits(16)
        s.sendto(ipv4_packet(sa, da, ident, 0x2000, tcp[:24]), (dst, 0))  # MF, offset 0
        s.sendto(ipv4_packet(sa, da, ident, 3, tcp[24:]), (dst, 0))  # offset 3 (24 bytes)
        emit(ev="sent", sport=sport, seq=seq, ack=ack)
        time.sleep(0.02)


def syn_flood(dst, dport, count):
    rnd = random.Random(os.getpid())
    s = raw_sender()
    da = socket.inet_aton(dst)
    t0 = time.monotonic()
    for _ in range(count):
        sa = struct.pack("!I", (198 << 24 | 18 << 16) + rnd.getrandbits(17))
        sport, seq = rnd.randrange(1024, 65536), rnd.getrandbits(32)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
        csum = checksum(sa + da + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp)) + tcp)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        s.sendto(ipv4_packet(sa, da, rnd.getrandbits(16), 0x4000, tcp), (dst, 0))
    emit(ev="flooded", sent=count, secs=round(time.monotonic() - t0, 3))


def iscsi_pdu(op, flags, text=b"", data_len=None):
    """An iSCSI request PDU: OP (immediate) and FLAGS, ITT 1, CmdSN 1, TEXT as its data segment (padded);
    DATA_LEN overrides the length the header gives."""
    n = len(text) if data_len is None else data_len
    bhs = struct.pack("!BBBBB3s6sHIHHII16x", 0x40 | op, flags, 0, 0, 0, n.to_bytes(3, "big"), b"\x80" + bytes(5), 0, 1, 0, 0, 1, 1)
    return bhs + text + bytes(-len(text) % 4)


def closed_after(s, limit):
    """Reads until the peer closes (or resets) S; returns (seconds it took, bytes read) or (None, bytes)."""
    t0, got = time.monotonic(), b""
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return round(time.monotonic() - t0, 3), got
        if not b:
            return round(time.monotonic() - t0, 3), got
        got += b
    return None, got


def iscsi_abuse(host, port, case, arg):
    """Hostile iSCSI clients of a portal; one JSON object with what happened."""
    name = b"InitiatorName=iqn.2026-12.org.example:abuser\0"
    s = socket.create_connection((host, port), timeout=5)
    if case == "garbage":
        # A SCSI command in a connection that never logged in.
        s.sendall(iscsi_pdu(0x01, 0x80))
        secs, got = closed_after(s, 5)
        emit(case=case, closed=secs, answer_opcode=got[0] & 0x3F if got else None)
    elif case == "bad-text":
        s.sendall(iscsi_pdu(0x03, 0x87, name + b"SessionType\0"))
        secs, got = closed_after(s, 5)
        emit(case=case, closed=secs, status=got[36] if len(got) >= 48 else None)
    elif case == "oversized":
        # A header that announces 16 MB of text; the portal must not wait for it or buffer it.
        s.sendall(iscsi_pdu(0x03, 0x87, data_len=0xFFFFFF))
        sent = 0
        try:
            for _ in range(64):
                s.sendall(b"x" * 16384)
                sent += 16384
        except OSError:
            pass
        secs, got = closed_after(s, 5)
        emit(case=case, closed=secs, answered=len(got), sent=sent)
    elif case == "silent":
        secs, _ = closed_after(s, float(arg))
        emit(case=case, closed=secs)
    elif case == "trickle":
        # One byte of a valid login every 300 ms: never idle, never done.
        pdu = iscsi_pdu(0x03, 0x87, name + b"SessionType=Discovery\0")
        t0 = time.monotonic()
        secs = None
        try:
            for b in pdu:
                s.sendall(bytes([b]))
                time.sleep(0.3)
                if time.monotonic() - t0 > float(arg):
                    break
        except OSError:
            secs = round(time.monotonic() - t0, 3)
        if secs is None:
            secs, _ = closed_after(s, 5)
            secs = None if secs is None else round(time.monotonic() - t0, 3)
        emit(case=case, closed=secs)
    elif case == "crowd":
        # ARG connections from one address, all silent: how many the portal cuts at once.
        socks, refused = [s], 0
        for _ in range(int(arg) - 1):
            try:
                socks.append(socket.create_connection((host, port), timeout=5))
            except OSError:
                refused += 1
        time.sleep(0.5)
        cut = 0
        for c in socks:
            c.setblocking(False)
            try:
                cut += c.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                cut += 1
        emit(case=case, opened=len(socks), refused=refused, cut=cut, held=len(socks) - cut)
    else:
        sys.exit("iscsi-abuse: unknown case " + case)


def recv_pdu(s):
    """One iSCSI PDU from S: (header, data)."""
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise OSError("closed after %d of %d bytes" % (len(b), n))
            b += c
        return b

    h = exact(48)
    n = int.from_bytes(h[5:8], "big")
    d = exact(h[4] * 4 + n + (-n % 4))
    return h, d[h[4] * 4:h[4] * 4 + n]


def scsi_pdu(flags, itt, cmd_sn, exp_stat_sn, edtl, cdb, data=b""):
    """A SCSI Command PDU for LUN 1 (not immediate) carrying DATA as immediate data."""
    lun = b"\x00\x01" + bytes(6)
    bhs = struct.pack("!BBBBB3s8sIIII16s", 0x01, flags, 0, 0, 0, len(data).to_bytes(3, "big"), lun, itt, edtl,
                      cmd_sn, exp_stat_sn, cdb.ljust(16, b"\0"))
    return bhs + data + bytes(-len(data) % 4)


def iscsi_write_read(host, port, target, lba, blocks):
    """Logs in to TARGET at the portal HOST:PORT (following a redirect), WRITEs BLOCKS blocks of a pattern
    at LBA with immediate data, READs them back; prints where the session ran and whether they matched."""
    keys = ("InitiatorName=iqn.2026-12.org.example:writer\0SessionType=Normal\0TargetName=%s\0"
            "HeaderDigest=None\0DataDigest=None\0ImmediateData=Yes\0InitialR2T=No\0FirstBurstLength=65536\0"
            "MaxBurstLength=262144\0MaxRecvDataSegmentLength=262144\0ErrorRecoveryLevel=0\0MaxConnections=1\0"
            % target).encode()
    addr, redirected = (host, port), None
    for _ in range(3):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(iscsi_pdu(0x03, 0x87, keys))
        h, d = recv_pdu(s)
        status = (h[36], h[37])
        if status == (1, 1):
            ta = dict(kv.split("=", 1) for kv in d.rstrip(b"\0").decode().split("\0"))["TargetAddress"]
            ip, p = ta.split(",")[0].rsplit(":", 1)
            addr, redirected = (ip.strip("[]"), int(p)), ta
            s.close()
            continue
        if status != (0, 0) or h[1] & 0x83 != 0x83:
            emit(ev="iscsi", error="login status %s flags %#x" % (status, h[1]))
            return
        break
    stat_sn = int.from_bytes(h[24:28], "big")
    cmd_sn, itt = 1, 0x100
    data = bytes((lba + i) % 251 for i in range(blocks * 512))
    cdb = struct.pack("!BBIBHB", 0x2A, 0, lba, 0, blocks, 0)
    for _ in range(2):
        s.sendall(scsi_pdu(0xA1, itt, cmd_sn, stat_sn + 1, len(data), cdb, data))
        h, d = recv_pdu(s)
        stat_sn, cmd_sn, itt = int.from_bytes(h[24:28], "big"), cmd_sn + 1, itt + 1
        # The first command of a session may meet a unit attention (power on, reset): once more.
        if not (h[3] == 2 and len(d) > 4 and d[4] & 0x0F == 6):
            break
    wrote = h[0] & 0x3F == 0x21 and h[2] == 0 and h[3] == 0
    if not wrote:
        emit(ev="iscsi", error="write answered with opcode %#x response %d status %d" % (h[0] & 0x3F, h[2], h[3]),
             sense=d.hex())
        return
    cdb = struct.pack("!BBIBHB", 0x28, 0, lba, 0, blocks, 0)
    s.sendall(scsi_pdu(0xC1, itt, cmd_sn, stat_sn + 1, len(data), cdb))
    got, status = b"", None
    while status is None:
        h, d = recv_pdu(s)
        op = h[0] & 0x3F
        if op == 0x25:
            got += d
            if h[1] & 0x01:
                status = h[3]
        elif op == 0x21:
            status = h[3]
        else:
            emit(ev="iscsi", error="unexpected opcode %#x" % op)
            return
    s.close()
    emit(ev="iscsi", redirected=redirected, session="%s:%d" % addr, wrote=wrote, read_status=status,
         matched=got == data, bytes=len(data))


def iscsi_place(host, port, target, count, sport):
    """COUNT normal logins to TARGET at the portal HOST:PORT, from source ports SPORT..; prints how many
    were sent to each TargetAddress (and how many got no redirect)."""
    text = b"InitiatorName=iqn.2026-12.org.example:placed\0SessionType=Normal\0TargetName=" + target.encode() + b"\0"
    got = {}
    for k in range(count):
        where = "none"
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport + k))
            s.settimeout(5)
            s.connect((host, port))
            s.sendall(iscsi_pdu(0x03, 0x87, text))
            h, d = recv_pdu(s)
            if (h[36], h[37]) == (1, 1):
                keys = dict(kv.split("=", 1) for kv in d.rstrip(b"\0").decode().split("\0"))
                where = keys.get("TargetAddress", "none")
            s.close()
        except OSError as e:
            where = "error: %s" % e
        got[where] = got.get(where, 0) + 1
    emit(ev="placed", target=target, addresses=got)


def iscsi_logins(host, port, target, secs, parallel):
    """PARALLEL threads log in to TARGET at the portal HOST:PORT over and over for SECS seconds, each
    reading the answer (a redirect) and closing; prints the redirects a second and the latency spread."""
    import threading

    text = b"InitiatorName=iqn.2026-12.org.example:bench\0SessionType=Normal\0TargetName=" + target.encode() + b"\0"
    pdu = iscsi_pdu(0x03, 0x87, text)
    done, lat, errors = [0], [], [0]
    lock = threading.Lock()
    end = time.monotonic() + secs

    def one():
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                with socket.create_connection((host, port), timeout=5) as s:
                    s.sendall(pdu)
                    got = b""
                    while len(got) < 48:
                        b = s.recv(4096)
                        if not b:
                            break
                        got += b
                ok = len(got) >= 48 and got[36] == 1 and got[37] == 1
            except OSError:
                ok = False
            with lock:
                if ok:
                    done[0] += 1
                    lat.append(time.monotonic() - t0)
                else:
                    errors[0] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    lat.sort()
    q = lambda f: round(lat[min(len(lat) - 1, int(f * len(lat)))] * 1000, 2) if lat else None
    emit(ev="logins", redirects=done[0], errors=errors[0], secs=round(took, 3), per_sec=round(done[0] / took, 1),
         p50_ms=q(0.5), p99_ms=q(0.99))


def ipip_decap(mtu):
    import fcntl
    import subprocess

    tun = os.open("/dev/net/tun", os.O_RDWR)
    # TUNSETIFF with IFF_TUN | IFF_NO_PI.
    fcntl.ioctl(tun, 0x400454CA, struct.pack("16sH", b"tun0", 0x0001 | 0x1000))
    subprocess.run(["ip", "link", "set", "tun0", "mtu", str(mtu), "up"], check=True)
    for conf in ("all", "default", "tun0", "eth0"):
        subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0"], check=True)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    raw.settimeout(0.2)
    packets = 0
    while not stop:
        try:
            outer = raw.recv(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        ihl = (outer[0] & 0x0F) * 4
        os.write(tun, outer[ihl:])
        packets += 1
    emit(ev="decap", packets=packets)


def read_pcap(path):
    """The frames of a classic pcap file (either byte order, micro- or nanosecond stamps)."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        sys.exit(f"{path}: not a pcap file")
    frames, at = [], 24
    while at + 16 <= len(data):
        caplen = struct.unpack(order + "I", data[at + 8 : at + 12])[0]
        frames.append(data[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    return frames


def replay(iface, path, pps, secs):
    frames = read_pcap(path)
    if not frames:
        sys.exit(f"{path}: no frames")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    sent = refused = 0
    batch = max(1, pps // 100)
    while not stop and (secs <= 0 or time.monotonic() - t0 < secs):
        for _ in range(batch):
            try:
                s.send(frames[(sent + refused) % len(frames)])
                sent += 1
            except OSError:
                refused += 1
        # Pace to PPS: sleep until the time the frames sent so far are due.
        ahead = (sent + refused) / pps - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    emit(ev="replayed", sent=sent, refused=refused, frames=len(frames))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "server":
        serve(int(a[1]))
    elif a[0] == "client":
        client(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]) if len(a) > 5 else 0)
    elif a[0] == "connect":
        connect(a[1], int(a[2]))
    elif a[0] == "bulk":
        bulk(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]), int(a[6]), float(a[7]))
    elif a[0] == "spoof-acks":
        spoof_acks(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    elif a[0] == "frag-acks":
        frag_acks(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    elif a[0] == "ipip-decap":
        ipip_decap(int(a[1]) if len(a) > 1 else 9000)
    elif a[0] == "syn-flood":
        syn_flood(a[1], int(a[2]), int(a[3]))
    elif a[0] == "iscsi-abuse":
        iscsi_abuse(a[1], int(a[2]), a[3], a[4] if len(a) > 4 else "0")
    elif a[0] == "iscsi-write":
        iscsi_write_read(a[1], int(a[2]), a[3], int(a[4]), int(a[5]))
    elif a[0] == "iscsi-place":
        iscsi_place(a[1], int(a[2]), a[3], int(a[4]), int(a[5]))
    elif a[0] == "iscsi-logins":
        iscsi_logins(a[1], int(a[2]), a[3], float(a[4]), int(a[5]))
    elif a[0] == "replay":
        replay(a[1], a[2], int(a[3]), float(a[4]))
    else:
        sys.exit(__doc__)
