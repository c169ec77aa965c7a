#!/usr/bin/python3
"""Random access to one RBD image (or snapshot) through librbd, for Blockvault's rbd:// I/O.

Started by the Node side with: pool image [snapshot] mode, where mode is read, write or create:<size>.
Frames on stdin/stdout: one type byte, then fields in network byte order.
  request  R offset:u64 length:u32         -> D length:u32 data
  request  W offset:u64 length:u32 data    -> O
  request  Z offset:u64 length:u64         -> O   (discard: reads back as zeros)
  request  S size:u64                      -> O   (resize)
  request  F                               -> O   (flush)
  request  Q                               -> (exit)
On start it answers J length:u32 json({"size": n}); any failure answers E length:u32 message.
"""
import json
import struct
import sys

import rados
import rbd

out = sys.stdout.buffer
inp = sys.stdin.buffer


def send(kind, payload=b""):
    out.write(kind + struct.pack(">I", len(payload)) + payload if kind in (b"D", b"J", b"E") else kind)
    out.flush()


def read_exact(n):
    data = inp.read(n)
    if data is None or len(data) != n:
        raise EOFError()
    return data


def main():
    pool, image_name, snap, mode = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4]
    cluster = rados.Rados(conffile="")  # CEPH_CONF from the environment, else Ceph's defaults
    cluster.conf_read_file()
    cluster.connect(timeout=30)
    try:
        ioctx = cluster.open_ioctx(pool)
        if mode.startswith("create:"):
            rbd.RBD().create(ioctx, image_name, int(mode[7:]), old_format=False)
            mode = "write"
        image = rbd.Image(ioctx, image_name, snapshot=snap, read_only=(mode == "read"))
        send(b"J", json.dumps({"size": image.size()}).encode())
        while True:
            kind = read_exact(1)
            if kind == b"R":
                offset, length = struct.unpack(">QI", read_exact(12))
                send(b"D", image.read(offset, length, rados.LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL))
            elif kind == b"W":
                offset, length = struct.unpack(">QI", read_exact(12))
                image.write(read_exact(length), offset)
                send(b"O")
            elif kind == b"Z":
                offset, length = struct.unpack(">QQ", read_exact(16))
                image.discard(offset, length)
                send(b"O")
            elif kind == b"S":
                (size,) = struct.unpack(">Q", read_exact(8))
                image.resize(size)
                send(b"O")
            elif kind == b"F":
                image.flush()
                send(b"O")
            elif kind == b"Q":
                image.close()
                return
            else:
                raise ValueError("unknown request %r" % kind)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    try:
        main()
    except EOFError:
        pass
    except rbd.ImageNotFound as e:
        send(b"E", ("not-found: %s" % e).encode())
    except rbd.ImageExists as e:
        send(b"E", ("exists: %s" % e).encode())
    except rados.ObjectNotFound as e:
        send(b"E", ("not-found: %s" % e).encode())
    except Exception as e:  # reported to the Node side, which raises a typed error
        send(b"E", ("%s: %s" % (type(e).__name__, e)).encode())
