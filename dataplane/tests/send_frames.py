#!/usr/bin/env python3
"""Sends the frames of a pcap out of a kernel interface (AF_PACKET), over and over, for a while.

Used by the launch tests to feed a net_tap port from the kernel side: usage IFACE PCAP SECONDS.
Waits for the interface to come up (DPDK brings a tap up when the port starts)."""
import socket
import struct
import sys
import time

iface, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
data = open(path, "rb").read()
frames, off = [], 24  # after the pcap file header
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack_from("<IIII", data, off)
    frames.append(data[off + 16 : off + 16 + incl])
    off += 16 + incl
end = time.time() + seconds
sock = None
sent = 0
while time.time() < end:
    try:
        if sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((iface, 0))
        for f in frames:
            sock.send(f)
            sent += 1
        time.sleep(0.05)  # ~5k frames/s: enough to see, little enough to leave this small machine its CPU
    except OSError:  # not there or not up yet
        sock = None
        time.sleep(0.05)
print(f"sent {sent} frames on {iface}")
