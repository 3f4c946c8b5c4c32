#!/usr/bin/env python3
"""Independent NFSv3 call encoder for sluice's key tests: builds ONC RPC (RFC 5531) calls to NFS version 3
(RFC 1813) with Python's xdrlib and prints one JSON object per call: name, proc, fh (hex), offset, call (hex).
"""
import json
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import xdrlib

NFS_PROGRAM, MOUNT_PROGRAM = 100003, 100005
GETATTR, LOOKUP, READ, WRITE, COMMIT = 1, 3, 6, 7, 21


def call(xid, prog, vers, proc, args, machine=b"client-vm"):
    p = xdrlib.Packer()
    p.pack_uint(xid)
    p.pack_enum(0)  # CALL
    p.pack_uint(2)  # RPC version
    p.pack_uint(prog)
    p.pack_uint(vers)
    p.pack_uint(proc)
    cred = xdrlib.Packer()  # AUTH_UNIX (RFC 5531 appendix A)
    cred.pack_uint(0x5eed)
    cred.pack_string(machine)
    cred.pack_uint(1000)
    cred.pack_uint(1000)
    cred.pack_array([1000, 27, 100], cred.pack_uint)
    p.pack_enum(1)
    p.pack_opaque(cred.get_buffer())
    p.pack_enum(0)  # AUTH_NONE verifier
    p.pack_opaque(b"")
    args(p)
    return p.get_buffer()


def fh_of(n, length):
    return bytes((n * 31 + i) & 0xFF for i in range(length))


def emit(name, proc, fh, offset, data):
    print(json.dumps({"name": name, "proc": proc, "fh": fh.hex(), "offset": offset, "call": data.hex()}))


xid = 1
for f in range(16):
    fh = fh_of(f, 8 + (f * 7) % 57)  # handle lengths 8..64
    emit("getattr", GETATTR, fh, 0, call(xid, NFS_PROGRAM, 3, GETATTR, lambda p: p.pack_opaque(fh)))
    xid += 1
    for region in range(8):
        off = region * (1 << 20) + (f * 4096) % (1 << 20)

        def read(p, fh=fh, off=off):
            p.pack_opaque(fh)
            p.pack_uhyper(off)
            p.pack_uint(32768)

        def write(p, fh=fh, off=off):
            p.pack_opaque(fh)
            p.pack_uhyper(off + 512)
            p.pack_uint(64)
            p.pack_enum(2)  # FILE_SYNC
            p.pack_opaque(b"w" * 64)

        def commit(p, fh=fh, off=off):
            p.pack_opaque(fh)
            p.pack_uhyper(off)
            p.pack_uint(4096)

        emit("read", READ, fh, off, call(xid, NFS_PROGRAM, 3, READ, read))
        emit("write", WRITE, fh, off + 512, call(xid + 1, NFS_PROGRAM, 3, WRITE, write, machine=b"other-vm"))
        emit("commit", COMMIT, fh, off, call(xid + 2, NFS_PROGRAM, 3, COMMIT, commit))
        xid += 3

# Calls that have no key: another procedure, program, version, and an over-long handle.
fh = fh_of(99, 32)
emit("lookup", LOOKUP, fh, 0, call(xid, NFS_PROGRAM, 3, LOOKUP, lambda p: (p.pack_opaque(fh), p.pack_string(b"name"))))
emit("mount", 1, fh, 0, call(xid + 1, MOUNT_PROGRAM, 3, 1, lambda p: p.pack_string(b"/export")))
emit("nfs4", 1, fh, 0, call(xid + 2, NFS_PROGRAM, 4, 1, lambda p: p.pack_opaque(fh)))
long_fh = fh_of(7, 65)
emit("fh65", GETATTR, long_fh, 0, call(xid + 3, NFS_PROGRAM, 3, GETATTR, lambda p: p.pack_opaque(long_fh)))
sys.stdout.flush()
