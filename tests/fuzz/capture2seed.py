#!/usr/bin/env python3
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
messages (start-up only: quick to run, and a good base for mutation).
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
    for fd_kind, nfds, msg in msgs:
        ctl = fd_kind | (((max(nfds, 1) - 1) & 7) << 3 if fd_kind else 0)
        data += struct.pack("<BH", ctl, len(msg)) + msg
    return data


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


if __name__ == "__main__":
    main()
