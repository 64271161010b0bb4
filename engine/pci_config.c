/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI configuration space: the type-0 header, BARs, the ROM BAR and the
 * masked read/write engine.  Capabilities are in pci_caps.c.
 *
 * Register layout and bit meanings follow the PCI Local Bus Specification
 * 3.0 (chapter 6) and, for PCI Express functions, the PCIe Base
 * Specification's type-0 header rules (latency timer hardwired to 0).
 */
#include "pci_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Type-0 header registers. */
#define CFG_VENDOR_ID     0x00
#define CFG_DEVICE_ID     0x02
#define CFG_COMMAND       0x04
#define CFG_REVISION      0x08
#define CFG_CLASS         0x09 /* prog-if, sub-class, base class */
#define CFG_CACHE_LINE    0x0c
#define CFG_LATENCY       0x0d
#define CFG_BAR0          0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID     0x2e
#define CFG_ROM           0x30
#define CFG_INT_LINE      0x3c
#define CFG_INT_PIN       0x3d
#define CFG_HEADER_SIZE   0x40

/* Command bits a guest may set; the others (special cycles, MWI, VGA
 * palette snoop, stepping, fast back-to-back) are optional and hardwired
 * to 0 here. */
#define CMD_IO            0x0001
#define CMD_MEMORY        0x0002
#define CMD_MASTER        0x0004
#define CMD_PARITY        0x0040
#define CMD_SERR          0x0100
#define CMD_INTX_DISABLE  0x0400
#define CMD_WMASK (CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_PARITY | CMD_SERR | \
                   CMD_INTX_DISABLE)

#define STATUS_INTX       0x0008
/* Error bits, all write-1-to-clear: master data parity error, signalled and
 * received target abort, received master abort, signalled system error,
 * detected parity error. */
#define STATUS_W1C        0xf900

/* Low BAR bits, read-only. */
#define BAR_IO            0x1u
#define BAR_MEM_64        0x4u
#define BAR_MEM_PREFETCH  0x8u
#define BAR_IO_LOWMASK    0x3u
#define BAR_MEM_LOWMASK   0xfu
#define ROM_ENABLE        0x1u
#define ROM_ADDR_MASK     0xfffff800u

#define BAR_FLAGS (VFUD_REGION_IO | VFUD_REGION_64BIT | VFUD_REGION_PREFETCH)

void pci_config_set_error(struct pci_config *pc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(pc->error, sizeof(pc->error), fmt, ap);
    va_end(ap);
}

void pci_config_define(struct pci_config *pc, unsigned o, unsigned n,
                       uint32_t value, uint32_t wmask, uint32_t w1cmask)
{
    for (unsigned i = 0; i < n; i++) {
        pc->cfg[o + i] = (uint8_t)(value >> (8 * i));
        pc->wmask[o + i] = (uint8_t)(wmask >> (8 * i));
        pc->w1cmask[o + i] = (uint8_t)(w1cmask >> (8 * i));
        pc->used[o + i] = 1;
    }
}

void pci_config_define_zero(struct pci_config *pc, unsigned o, unsigned n)
{
    memset(pc->cfg + o, 0, n);
    memset(pc->wmask + o, 0, n);
    memset(pc->w1cmask + o, 0, n);
    memset(pc->used + o, 1, n);
}

bool pci_config_changed(const struct pci_config *pc, unsigned offset,
                        size_t len, const uint8_t *old, unsigned reg,
                        unsigned n)
{
    size_t start = reg > offset ? reg : offset;
    size_t end = reg + n < offset + len ? reg + n : offset + len;

    for (size_t o = start; o < end; o++) {
        if (pc->cfg[o] != old[o - offset]) {
            return true;
        }
    }
    return false;
}

void pci_config_init(struct pci_config *pc, enum vfud_pci_type type,
                     const struct vfud_pci_id *id)
{
    memset(pc, 0, sizeof(*pc));
    pc->type = type;
    pc->size = type == VFUD_PCI_EXPRESS ? PCI_CFG_SIZE_EXPRESS
                                        : PCI_CFG_SIZE_CONVENTIONAL;
    pc->next_free = CFG_HEADER_SIZE;
    pc->next_ext_free = PCI_CFG_EXT_CAP_START;

    /* The whole header is defined; what is not set below (header type 0,
     * BIST, CardBus CIS, reserved bytes, Min_Gnt/Max_Lat) reads 0. */
    pci_config_define_zero(pc, 0, CFG_HEADER_SIZE);
    pci_config_define(pc, CFG_VENDOR_ID, 2, id->vendor_id, 0, 0);
    pci_config_define(pc, CFG_DEVICE_ID, 2, id->device_id, 0, 0);
    pci_config_define(pc, CFG_COMMAND, 2, 0, CMD_WMASK, 0);
    pci_config_define(pc, PCI_CFG_STATUS, 2, 0, 0, STATUS_W1C);
    pci_config_define(pc, CFG_REVISION, 1, id->revision, 0, 0);
    pci_config_define(pc, CFG_CLASS, 3, id->class_code & 0xffffff, 0, 0);
    /* Cache line size is read/write even on PCIe, for compatibility. */
    pci_config_define(pc, CFG_CACHE_LINE, 1, 0, 0xff, 0);
    /* The latency timer is for conventional bus masters; PCIe hardwires
     * it to 0. */
    pci_config_define(pc, CFG_LATENCY, 1, 0,
                      type == VFUD_PCI_EXPRESS ? 0 : 0xff, 0);
    pci_config_define(pc, CFG_SUBSYS_VENDOR, 2, id->subsys_vendor_id, 0, 0);
    pci_config_define(pc, CFG_SUBSYS_ID, 2, id->subsys_id, 0, 0);
    /* Firmware writes the routing it chose here; the device ignores it. */
    pci_config_define(pc, CFG_INT_LINE, 1, 0, 0xff, 0);

    if (type == VFUD_PCI_EXPRESS) {
        /* An empty extended capability list: a zero header at 0x100. */
        pci_config_define_zero(pc, PCI_CFG_EXT_CAP_START, 4);
    }
}

/* Is slot bar the upper dword of a 64-bit BAR declared below it? */
static bool bar_is_upper_half(const struct pci_config *pc, unsigned bar)
{
    return bar > 0 && pc->bars[bar - 1].size != 0 &&
           (pc->bars[bar - 1].flags & VFUD_REGION_64BIT);
}

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static int set_rom(struct pci_config *pc, uint64_t size, unsigned flags)
{
    if (flags & (VFUD_REGION_IO | VFUD_REGION_64BIT)) {
        pci_config_set_error(pc, "the expansion ROM is 32-bit memory");
        return -EINVAL;
    }
    if (!is_pow2(size) || size < 2048 || size > (UINT64_C(1) << 31)) {
        pci_config_set_error(pc, "ROM size %#" PRIx64 " is not a power of two "
                             "between 2 KiB and 2 GiB", size);
        return -EINVAL;
    }
    pc->bars[PCI_ROM_SLOT].size = size;
    pc->bars[PCI_ROM_SLOT].flags = 0; /* prefetch means nothing for a ROM */
    /* Address bits above the size plus the enable bit: writing 0xfffff800
     * and reading back tells the size, which is how QEMU learns it. */
    pci_config_define(pc, CFG_ROM, 4, 0,
                      ((uint32_t)~(size - 1) & ROM_ADDR_MASK) | ROM_ENABLE, 0);
    return 0;
}

int pci_config_set_bar(struct pci_config *pc, unsigned bar, uint64_t size,
                       unsigned flags)
{
    bool io = flags & VFUD_REGION_IO;
    bool is64 = flags & VFUD_REGION_64BIT;
    uint64_t min = io ? 4 : 16;
    uint64_t max = io ? 256 : is64 ? UINT64_C(1) << 63 : UINT64_C(1) << 31;
    uint32_t low, lowmask;
    unsigned o;

    if (pc->finalized) {
        pci_config_set_error(pc, "BARs are declared before finalize");
        return -EINVAL;
    }
    if (bar > PCI_ROM_SLOT) {
        pci_config_set_error(pc, "no BAR %u", bar);
        return -EINVAL;
    }
    if (pc->bars[bar].size != 0 || bar_is_upper_half(pc, bar)) {
        pci_config_set_error(pc, "BAR %u is already declared", bar);
        return -EINVAL;
    }
    if (bar == PCI_ROM_SLOT) {
        return set_rom(pc, size, flags);
    }
    if (io && (flags & (VFUD_REGION_64BIT | VFUD_REGION_PREFETCH))) {
        pci_config_set_error(pc, "I/O BAR %u cannot be 64-bit or "
                             "prefetchable", bar);
        return -EINVAL;
    }
    if (!is_pow2(size) || size < min || size > max) {
        pci_config_set_error(pc, "BAR %u: size %#" PRIx64 " is not a power of "
                             "two between %#" PRIx64 " and %#" PRIx64,
                             bar, size, min, max);
        return -EINVAL;
    }
    if (is64 && (bar + 1 >= PCI_NR_BARS || pc->bars[bar + 1].size != 0)) {
        pci_config_set_error(pc, "64-bit BAR %u needs slot %u free", bar,
                             bar + 1);
        return -EINVAL;
    }

    pc->bars[bar].size = size;
    pc->bars[bar].flags = flags & BAR_FLAGS;

    if (io) {
        low = BAR_IO;
        lowmask = BAR_IO_LOWMASK;
    } else {
        low = (is64 ? BAR_MEM_64 : 0) |
              (flags & VFUD_REGION_PREFETCH ? BAR_MEM_PREFETCH : 0);
        lowmask = BAR_MEM_LOWMASK;
    }
    /* The address bits at and above the size are writable, the type bits
     * are not: a write of all-ones therefore reads back as the size mask. */
    o = CFG_BAR0 + 4 * bar;
    pci_config_define(pc, o, 4, low, (uint32_t)~(size - 1) & ~lowmask, 0);
    if (is64) {
        pci_config_define(pc, o + 4, 4, 0, (uint32_t)(~(size - 1) >> 32), 0);
    }
    return 0;
}

void pci_config_set_intx(struct pci_config *pc, bool has_intx)
{
    pc->cfg[CFG_INT_PIN] = has_intx ? 1 : 0; /* INTA# */
}

void pci_config_set_intx_status(struct pci_config *pc, bool asserted)
{
    if (asserted) {
        pc->cfg[PCI_CFG_STATUS] |= STATUS_INTX;
    } else {
        pc->cfg[PCI_CFG_STATUS] &= (uint8_t)~STATUS_INTX;
    }
}

int pci_config_finalize(struct pci_config *pc)
{
    int r;

    if (pc->finalized) {
        pci_config_set_error(pc, "config space already finalized");
        return -EINVAL;
    }
    r = pci_caps_finalize(pc);
    if (r < 0) {
        return r;
    }
    memcpy(pc->reset_cfg, pc->cfg, pc->size);
    pc->finalized = true;
    pc->error[0] = '\0';
    return 0;
}

void pci_config_reset(struct pci_config *pc)
{
    if (pc->finalized) {
        memcpy(pc->cfg, pc->reset_cfg, pc->size);
    }
}

void pci_config_read(const struct pci_config *pc, unsigned offset, void *buf,
                     size_t len)
{
    /* The caller bounds-checked; stay inside the array if it did not. */
    if (offset > pc->size || len > pc->size - offset) {
        memset(buf, 0, len);
        return;
    }
    memcpy(buf, pc->cfg + offset, len);
}

unsigned pci_config_write(struct pci_config *pc, unsigned offset,
                          const void *buf, size_t len)
{
    const uint8_t *val = buf;
    uint8_t old[PCI_CFG_SIZE_EXPRESS];
    unsigned changed = 0;

    if (offset > pc->size || len > pc->size - offset) {
        return 0;
    }
    memcpy(old, pc->cfg + offset, len);
    for (size_t i = 0; i < len; i++) {
        unsigned o = offset + (unsigned)i;
        uint8_t v = (uint8_t)((old[i] & ~pc->wmask[o]) | (val[i] & pc->wmask[o]));

        pc->cfg[o] = (uint8_t)(v & ~(val[i] & pc->w1cmask[o]));
    }

    if (pci_config_changed(pc, offset, len, old, CFG_COMMAND, 2)) {
        changed |= PCI_CFG_CHANGED_COMMAND;
    }
    if (pci_config_changed(pc, offset, len, old, CFG_BAR0, 4 * PCI_NR_BARS) ||
        pci_config_changed(pc, offset, len, old, CFG_ROM, 4)) {
        changed |= PCI_CFG_CHANGED_BAR;
    }
    return changed | pci_caps_write(pc, offset, len, old, val);
}

uint16_t pci_config_command(const struct pci_config *pc)
{
    return pci_cfg_get16(pc, CFG_COMMAND);
}

bool pci_config_bus_master(const struct pci_config *pc)
{
    return pci_config_command(pc) & CMD_MASTER;
}

bool pci_config_intx_disabled(const struct pci_config *pc)
{
    return pci_config_command(pc) & CMD_INTX_DISABLE;
}
