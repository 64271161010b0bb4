#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Turn QEMU wire captures (text logs, one message per line with decoded
fields, as in shared/vfio-user/captures/) into seed inputs for the fuzz
target tests/fuzz/fuzz_engine.c.

Every client->server line is rebuilt into its binary message from the
decoded fields; the rebuilt length must equal the captured msg_size, so a
line we cannot rebuild faithfully stops the conversion instead of planting a
wrong seed.  Messages that came with fds become chunks that ask the fuzz
target for fds of the right kind (memfd for DMA_MAP, eventfds for SET_IRQS).

Input format (see fuzz_engine.c): one device byte, then chunks of
  ctl u8 | len u16 little endian | len bytes
where ctl bits 0-2 are the fd kind and bits 3-5 the fd count - 1.

usage: capture2seed.py OUTDIR CAPTURE.log...
Writes, per capture and per device, the whole session and its first 24
messages (start-up only: quick to run, and a good base for mutation), and
synthetic sessions for what no capture shows: testdev's DMA engine through
an fd-backed window and through a window served by messages, interrupts
raised by the device, REGION_WRITE_MULTI.
"""
import os
import re
import struct
import sys

CMDS = {
    "VERSION": 1, "DMA_MAP": 2, "DMA_UNMAP": 3, "GET_INFO": 4,
    "GET_REGION_INFO": 5, "GET_REGION_IO_FDS": 6, "GET_IRQ_INFO": 7,
    "SET_IRQS": 8, "REGION_READ": 9, "REGION_WRITE": 10, "DMA_READ": 11,
    "DMA_WRITE": 12, "RESET": 13, "REGION_WRITE_MULTI": 15,
}
# The fuzz target's fd kinds (fuzz_engine.c: enum fd_kind).
FD_MEMFD = 1
FD_EVENTFD = 2
DEVICES = {"testdev": 0, "gpio": 1}

LINE = re.compile(
    r"^\s*[\d.]+\s+C->S\s+id=0x([0-9a-f]+)\s+(\S+)\s+(CMD|REPLY)\s+"
    r"size=(\d+)\s+flags=0x([0-9a-f]+)(?:\s+NO_REPLY)?\s+err=(\d+)\s+"
    r"fds=(\d+)\s+\|\s?(.*)$")


def fields(text):
    return dict(re.findall(r"(\w+)=(\S*)", text))


def num(v):
    return int(v, 0)


def payload(cmd, kind, rest):
    if kind == "REPLY":
        raw = fields(rest).get("raw", "")
        return bytes.fromhex(raw)
    f = fields(rest)
    if cmd == "VERSION":
        m = re.match(r"v(\d+)\.(\d+)\s?(.*)$", rest)
        text = m.group(3).encode()
        return struct.pack("<HH", int(m.group(1)), int(m.group(2))) + \
            (text + b"\0" if text else b"")
    if cmd == "DMA_MAP":
        return struct.pack("<IIQQQ", num(f["argsz"]), num(f["flags"]),
                           num(f["offset"]), num(f["addr"]), num(f["size"]))
    if cmd == "DMA_UNMAP":
        return struct.pack("<IIQQ", num(f["argsz"]), num(f["flags"]),
                           num(f["addr"]), num(f["size"]))
    if cmd in ("GET_INFO", "GET_IRQ_INFO"):
        return struct.pack("<IIII", num(f["argsz"]), num(f["flags"]),
                           num(f["a"]), num(f["b"]))
    if cmd == "GET_REGION_INFO":
        return struct.pack("<IIIIQQ", num(f["argsz"]), num(f["flags"]),
                           num(f["index"]), num(f["cap_off"]),
                           num(f["size"]), num(f["offset"]))
    if cmd == "SET_IRQS":
        return struct.pack("<IIIII", num(f["argsz"]), num(f["flags"]),
                           num(f["index"]), num(f["start"]), num(f["count"]))
    if cmd in ("REGION_READ", "REGION_WRITE"):
        return struct.pack("<QII", num(f["off"]), num(f["region"]),
                           num(f["count"])) + bytes.fromhex(f.get("data", ""))
    if cmd == "RESET":
        return b""
    raise ValueError("no rule for " + cmd)


def convert(path):
    """[(fd_kind, nr_fds, message bytes)] of the client's side."""
    out = []
    with open(path) as fp:
        for lineno, line in enumerate(fp, 1):
            m = LINE.match(line)
            if m is None:
                continue
            msg_id, cmd, kind, size, flags, err, nfds, rest = m.groups()
            body = payload(cmd, kind, rest)
            if 16 + len(body) != int(size):
                raise ValueError("%s:%d: rebuilt %d bytes, captured %s"
                                 % (path, lineno, 16 + len(body), size))
            hdr = struct.pack("<HHIII", int(msg_id, 16), CMDS[cmd], int(size),
                              int(flags, 16), int(err))
            nfds = int(nfds)
            fd_kind = 0
            if nfds > 0:
                fd_kind = FD_MEMFD if cmd == "DMA_MAP" else FD_EVENTFD
            out.append((fd_kind, nfds, hdr + body))
    return out


def seed(device, msgs):
    data = bytes([DEVICES[device]])
    for ctl, nfds, body in msgs:
        if ctl & 7:
            ctl |= ((max(nfds, 1) - 1) & 7) << 3
        data += struct.pack("<BH", ctl, len(body)) + body
    return data


QEMU_CAPS = (b'{"capabilities": {"pgsizes": 4096, "max_msg_fds": 16, '
             b'"max_dma_maps": 65535, "max_data_xfer_size": 1048576, '
             b'"migration": {"max_bitmap_size": 268435456, "pgsize": 4096}, '
             b'"write_multiple": true}}\0')
BARRIER = 0x40


def msg(msg_id, cmd, body, flags=0):
    return struct.pack("<HHIII", msg_id, cmd, 16 + len(body), flags, 0) + body


def reg_write(msg_id, region, off, value, flags=0):
    return msg(msg_id, CMDS["REGION_WRITE"],
               struct.pack("<QIII", off, region, 4, value), flags)


def reg_read(msg_id, region, off, count=4):
    return msg(msg_id, CMDS["REGION_READ"], struct.pack("<QII", off, region, count))


def testdev_dma(op, src, dst, length, fill, vector, first_id):
    """BAR0 writes that program and start one DMA (testdev.c's map)."""
    regs = [(0x100, src & 0xffffffff), (0x104, src >> 32),
            (0x108, dst & 0xffffffff), (0x10c, dst >> 32), (0x110, length),
            (0x114, op), (0x118, fill), (0x11c, vector), (0x120, 1)]
    return [(0, 0, reg_write(first_id + i, 0, off, v))
            for i, (off, v) in enumerate(regs)]


def synthetic():
    """[(name, device, [(ctl, nfds, message)])] for what captures lack."""
    start = [
        (0, 0, msg(1, CMDS["VERSION"], struct.pack("<HH", 0, 0) + QEMU_CAPS)),
        (FD_MEMFD, 1, msg(2, CMDS["DMA_MAP"],
                          struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 0x100000))),
        (0, 0, msg(3, CMDS["DMA_MAP"],
                   struct.pack("<IIQQQ", 32, 3, 0, 0x400000, 0x10000))),
        # bus master and memory enable
        (0, 0, msg(4, CMDS["REGION_WRITE"],
                   struct.pack("<QII", 4, 7, 2) + struct.pack("<H", 6))),
        (FD_EVENTFD, 1, msg(5, CMDS["SET_IRQS"],
                            struct.pack("<IIIII", 20, 0x24, 0, 0, 1))),
    ]
    dma = (testdev_dma(0, 0, 0x100000, 4096, 0xdeadbeef, 0, 0x10) +
           [(BARRIER, 0, reg_read(0x20, 0, 0x124))] +
           testdev_dma(1, 0x100000, 0x400000, 8192, 0, 0, 0x30) +
           [(BARRIER, 0, reg_read(0x40, 0, 0x124))] +
           testdev_dma(2, 0x400000, 0x100, 512, 0, 9, 0x50) +
           [(BARRIER, 0, reg_read(0x60, 0, 0x124))] +
           testdev_dma(3, 0x0, 0x100800, 1024, 0, 9, 0x70) +
           [(0, 0, reg_write(0x80, 0, 0x018, 0)),
            (0, 0, reg_read(0x81, 0, 0x01c)),
            (0, 0, reg_write(0x82, 0, 0x020, 1)),
            (0, 0, msg(0x83, CMDS["SET_IRQS"],
                       struct.pack("<IIIII", 20, 0x11, 0, 0, 1))),
            (0, 0, msg(0x84, CMDS["RESET"], b"")),
            (0, 0, msg(0x85, CMDS["DMA_UNMAP"],
                       struct.pack("<IIQQ", 24, 2, 0, 0)))])
    entries = [(0x10, 0, 4, 0x12345678), (0x0, 7, 4, 0x6), (0x2c, 0, 4, 3)]
    multi = struct.pack("<Q", len(entries)) + b"".join(
        struct.pack("<QII", off, region, count) + struct.pack("<Q", value)
        for off, region, count, value in entries)
    wm = [(0, 0, msg(0x90, CMDS["REGION_WRITE_MULTI"], multi, 0x10)),
          (0, 0, reg_read(0x91, 0, 0x10))]
    return [("synthetic-testdev-dma", "testdev", start + dma),
            ("synthetic-testdev-write-multi", "testdev", start + wm)]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for path in sys.argv[2:]:
        msgs = convert(path)
        base = os.path.basename(path).replace(".log", "")
        for device in DEVICES:
            for suffix, part in (("", msgs), ("-start", msgs[:24])):
                name = os.path.join(outdir, "%s-%s%s" % (base, device, suffix))
                with open(name, "wb") as fp:
                    fp.write(seed(device, part))
                print("%s: %d messages" % (name, len(part)))
    for base, device, part in synthetic():
        name = os.path.join(outdir, base)
        with open(name, "wb") as fp:
            fp.write(seed(device, part))
        print("%s: %d messages" % (name, len(part)))


if __name__ == "__main__":
    main()
