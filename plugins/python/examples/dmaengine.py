# SPDX-License-Identifier: BSD-3-Clause
# A DMA engine with the register interface of the test-suite's testdev
# (see the top of plugins/testdev/testdev.c), so the same guest program
# drives both; PCI id fffd:0002 (testdev is fffd:0001).
#
# BAR0, 32-bit registers (aligned dword writes only):
#   0x000 ID 0x7e57de01   0x004 BUF_SIZE   0x008/0x00c MAGIC (the "magic" key)
#   0x010 SCRATCH   0x014 BAR2_TRAPS   0x01c IRQ_RESULT   0x024 RESETS
#   0x028 LAST_RESET   0x100/0x104 SRC   0x108/0x10c DST   0x110 LEN
#   0x114 OP (0 FILL, 1 COPY, 2 TO_DEV, 3 FROM_DEV)   0x118 FILL   0x11c VECTOR
#   0x120 GO   0x124 STATUS (1 busy, 2 done, 4 error | errno << 16)   0x128 COUNT
# BAR2: 64 KiB of shared memory, mmappable but for the trapped middle.
# BAR4: the MSI-X table and PBA (4 vectors), served by the daemon.
import errno
import struct
import threading
import vfiouserd as vfu

PCI_ID = dict(vendor_id=0xFFFD, device_id=0x0002, class_code=0xFF0000,
              revision=1, express=True)
CAPABILITIES = [("pm",), ("msix", 4, vfu.BAR4, 0, vfu.BAR4, 0x800),
                ("express", vfu.PCIE_FLR)]
REGIONS = {vfu.BAR0: (4096, vfu.RW), vfu.BAR4: (4096, vfu.RW)}

BUF_SIZE = 65536
ID = 0x7E57DE01
FILL, COPY, TO_DEV, FROM_DEV = range(4)
BAR2_RESET = struct.pack("<16384I", *(0xB2000000 | o for o in range(0, 65536, 4)))
BUSY, DONE, ERROR = 1, 2, 4

magic = 0
buf = bytearray(BUF_SIZE)          # the device's own memory
lock = threading.Lock()            # the registers the worker writes
regs = {}
bar2 = None


def config(key, value):
    global magic
    if key != "magic":
        raise OSError(errno.EINVAL, "unknown key " + key)
    magic = int(value, 0)


def realize():
    global bar2
    device.add_region(vfu.BAR2, 65536, vfu.RW | vfu.MEM64 | vfu.PREFETCH)
    bar2 = device.region_mmap(vfu.BAR2, [(0, 0x4000), (0xC000, 0x4000)])
    reset(None)


def reset(why):
    with lock:
        resets = regs.get(0x024, 0) + (why is not None)
        regs.clear()
        regs.update({0x11C: 0xFFFFFFFF, 0x024: resets, 0x028: 0 if why is None else why + 1})
    buf[:] = bytes(BUF_SIZE)
    bar2[:] = BAR2_RESET


def read(region, offset, size):
    if region == vfu.BAR2:         # the trapped middle: counted
        regs[0x014] = regs.get(0x014, 0) + 1
        return bytes(bar2[offset:offset + size])
    if region != vfu.BAR0:
        return bytes(size)
    out = b""
    for reg in range(offset & ~3, offset + size, 4):
        out += struct.pack("<I", reg_value(reg))
    return out[offset & 3:(offset & 3) + size]


def reg_value(reg):
    fixed = {0x000: ID, 0x004: BUF_SIZE, 0x008: magic & 0xFFFFFFFF, 0x00C: magic >> 32}
    with lock:
        return fixed.get(reg, regs.get(reg, 0)) & 0xFFFFFFFF


def write(region, offset, data):
    if region == vfu.BAR2:
        regs[0x014] = regs.get(0x014, 0) + 1
        bar2[offset:offset + len(data)] = data
        return
    if region != vfu.BAR0 or offset % 4 or len(data) % 4:
        raise OSError(errno.EINVAL, "BAR0 takes aligned dwords")
    for i, value in enumerate(struct.unpack("<%dI" % (len(data) // 4), data)):
        reg = offset + 4 * i
        if reg in (0x010, 0x100, 0x104, 0x108, 0x10C, 0x110, 0x114, 0x118, 0x11C):
            regs[reg] = value
        elif reg == 0x120 and value & 1:
            go()


def go():
    with lock:
        if regs.get(0x124, 0) & BUSY:
            device.warning("DMA_GO while busy: ignored")
            return
        regs[0x124] = BUSY
    job = {k: regs.get(r, 0) | regs.get(r + 4, 0) << 32 if k in ("src", "dst") else
           regs.get(r, 0) for k, r in (("src", 0x100), ("dst", 0x108), ("len", 0x110),
                                        ("op", 0x114), ("fill", 0x118), ("vector", 0x11C))}
    # On the worker thread: DMA by messages waits for the client there.
    device.submit(run, job)


def run(job):
    try:
        transfer(**job)
        status = DONE
    except OSError as e:
        device.debug("DMA op %d failed: %s" % (job["op"], e))
        status = ERROR | (e.errno or errno.EIO) << 16
    with lock:
        regs[0x124] = status
        if status == DONE:
            regs[0x128] = regs.get(0x128, 0) + 1
        if job["vector"] < 4:
            regs[0x01C] = 0 if device.irq_trigger(job["vector"]) else -errno.ENOTCONN & 0xFFFFFFFF


def transfer(src, dst, len, op, fill, vector):
    if not 0 < len <= 1 << 20:
        raise OSError(errno.EINVAL, "length")
    if op == FILL:
        pattern = (struct.pack("<I", fill) * (len // 4 + 1))[:len]
        try:
            # Straight into guest memory where the daemon has it mapped.
            with device.dma_map(dst, len, vfu.DMA_WRITE) as views:
                done = 0
                for v in views:
                    v[:] = pattern[done:done + v.nbytes]
                    done += v.nbytes
        except OSError as e:
            if e.errno != errno.EREMOTE:
                raise
            device.dma_write(dst, pattern)   # served by messages to the client
    elif op == COPY:
        device.dma_write(dst, device.dma_read(src, len))
    elif op == TO_DEV and dst + len <= BUF_SIZE:
        buf[dst:dst + len] = device.dma_read(src, len)
    elif op == FROM_DEV and src + len <= BUF_SIZE:
        device.dma_write(dst, bytes(buf[src:src + len]))
    else:
        raise OSError(errno.ERANGE if op in (TO_DEV, FROM_DEV) else errno.EINVAL, "op")
