# SPDX-License-Identifier: BSD-3-Clause
# ACCES PCI-IDIO-16 (16 outputs, 16 inputs, change-of-state interrupt) as
# the gpio plugin models it (vfiouserd-gpio(8)), for Linux's gpio-pci-idio-16.
# BAR2, byte registers: +0/+4 outputs 0-7/8-15, +1/+5 inputs 0-7/8-15
# (writing +1 clears the interrupt), +2 read: enable the interrupt, write:
# disable it, +3 read: filters on, write: off, +6 interrupt status (bit 0/1:
# inputs 0-7/8-15 changed, bit 2: pending), +7 filters 0-7.
# Keys: inputs = 0x00ff; input-file = a FIFO whose lines ("0x00ff", "5=1")
# change the inputs; output-file = replaced by "0x00ff" at every change.
import os
import vfiouserd as vfu

PCI_ID = dict(vendor_id=0x494F, device_id=0x0DC8, class_code=0x118000)
REGIONS = {vfu.BAR2: (8, vfu.RW | vfu.IO)}
IRQS = {vfu.IRQ_INTX: 1}

outputs = inputs = filters = status = irq_on = 0
keys, pending = {}, b""

def config(key, value):
    if key not in ("inputs", "input-file", "output-file"):
        raise OSError(22, "unknown key " + key)
    keys[key] = value

def config_complete():
    global inputs
    inputs = parse([keys.get("inputs", "0").encode()], 0)
    save_outputs()

def start():
    if "input-file" in keys:
        fd = os.open(keys["input-file"], os.O_RDONLY | os.O_NONBLOCK)
        keys["writer"] = os.open(keys["input-file"], os.O_WRONLY)  # never EOF
        device.watch_fd(fd, vfu.EV_IN, lambda fd, ev: feed(os.read(fd, 512)))

def feed(data):
    global pending
    *lines, pending = (pending + data).split(b"\n")
    for line in lines:
        try:
            set_inputs(parse(line.split(b"#")[0].replace(b",", b" ").split(), inputs))
        except ValueError:
            device.warning("input-file: ignoring bad line %r" % line)

def parse(tokens, level):
    for tok in tokens:
        bit, eq, val = tok.rpartition(b"=")
        val = int(val, 0)
        if not eq and 0 <= val <= 0xFFFF:
            level = val
        elif eq and 0 <= int(bit, 0) < 16 and val in (0, 1):
            level = level & ~(1 << int(bit, 0)) | val << int(bit, 0)
        else:
            raise ValueError(tok)
    return level

def set_inputs(level):
    global inputs, status
    changed, inputs = inputs ^ level, level
    if changed:
        device.info("inputs 0x%04x" % level)
    if changed and irq_on:
        was = status
        status |= 4 | (changed & 0xFF and 1) | (changed & 0xFF00 and 2)
        if not was:
            device.irq_trigger(0)

def set_outputs(value):
    global outputs
    if value != outputs:
        outputs = value
        device.info("outputs 0x%04x" % value)
        save_outputs()

def save_outputs():
    if "output-file" in keys:
        with open(keys["output-file"] + ".tmp", "w") as f:
            f.write("0x%04x\n" % outputs)
        os.rename(keys["output-file"] + ".tmp", keys["output-file"])

def read(region, offset, size):
    global irq_on, filters
    if offset <= 2 < offset + size and not irq_on:
        irq_on = True
        if status:
            device.irq_trigger(0)
    if offset <= 3 < offset + size:
        filters = 0xFFFF
    regs = [outputs & 0xFF, inputs & 0xFF, 0, 0, outputs >> 8, inputs >> 8,
            status, filters & 0xFF]
    return bytes(regs[offset:offset + size])

def write(region, offset, data):
    global status, irq_on, filters
    for reg, v in enumerate(data, offset):
        if reg in (0, 4):
            set_outputs(outputs & (0xFF00 >> reg * 2) | v << reg * 2)
        elif reg in (1, 2):
            status, irq_on = (0, irq_on) if reg == 1 else (status, False)
            device.intx_deassert()
        elif reg in (3, 7):
            filters = 0 if reg == 3 else filters & 0xFF00 | v

def reset(why):
    global filters, status, irq_on
    filters, status, irq_on = 0, 0, False
    set_outputs(0)

def save_state():
    return bytes([outputs & 0xFF, outputs >> 8, inputs & 0xFF, inputs >> 8,
                  filters & 0xFF, filters >> 8, irq_on, status])

def load_state(version, data):
    global inputs, filters, irq_on, status
    if len(data) != 8 or data[6] > 1 or data[7] > 7:
        raise OSError(22, "bad state (%d bytes)" % len(data))
    inputs, filters = data[2] | data[3] << 8, data[4] | data[5] << 8
    irq_on, status = bool(data[6]), data[7]
    set_outputs(data[0] | data[1] << 8)
