/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the PCI configuration space emulation
 * (daemon/pci_config.c, daemon/pci_caps.c): everything is exercised through
 * pci_config_read/write, as a guest (through QEMU) would.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci_config.h"

static struct pci_config *pc;

static const struct vfud_pci_id test_id = {
    .vendor_id = 0x1af4,
    .device_id = 0x10f0,
    .subsys_vendor_id = 0x1b36,
    .subsys_id = 0x0042,
    .class_code = 0x010802,
    .revision = 0x07,
};

static void setup(void)
{
    pc = calloc(1, sizeof(*pc));
    ck_assert_ptr_nonnull(pc);
}

static void teardown(void)
{
    free(pc);
    pc = NULL;
}

static void init_conv(void)
{
    pci_config_init(pc, VFUD_PCI_CONVENTIONAL, &test_id);
}

static void init_pcie(unsigned exp_flags)
{
    pci_config_init(pc, VFUD_PCI_EXPRESS, &test_id);
    ck_assert_int_ge(pci_cap_add_express(pc, exp_flags), 0x40);
}

/* Little-endian access of n (1..4) bytes, as the wire carries it. */
static uint32_t rd(unsigned o, unsigned n)
{
    uint8_t b[4] = { 0 };
    uint32_t v = 0;

    pci_config_read(pc, o, b, n);
    for (unsigned i = 0; i < n; i++) {
        v |= (uint32_t)b[i] << (8 * i);
    }
    return v;
}

static unsigned wr(unsigned o, unsigned n, uint32_t v)
{
    uint8_t b[4];

    for (unsigned i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    return pci_config_write(pc, o, b, n);
}

/* ---- Header ---- */

START_TEST(test_identity)
{
    init_conv();
    ck_assert_uint_eq(pc->size, 256);
    ck_assert_uint_eq(rd(0x00, 2), 0x1af4);
    ck_assert_uint_eq(rd(0x02, 2), 0x10f0);
    ck_assert_uint_eq(rd(0x00, 4), 0x10f01af4);
    ck_assert_uint_eq(rd(0x08, 1), 0x07);
    ck_assert_uint_eq(rd(0x09, 1), 0x02); /* prog-if */
    ck_assert_uint_eq(rd(0x0a, 1), 0x08); /* sub-class */
    ck_assert_uint_eq(rd(0x0b, 1), 0x01); /* base class */
    ck_assert_uint_eq(rd(0x08, 4), 0x01080207);
    ck_assert_uint_eq(rd(0x0e, 1), 0x00); /* header type 0, single function */
    ck_assert_uint_eq(rd(0x2c, 2), 0x1b36);
    ck_assert_uint_eq(rd(0x2e, 2), 0x0042);
    ck_assert_uint_eq(rd(0x04, 4), 0); /* command and status */
    ck_assert_uint_eq(rd(0x34, 1), 0); /* no capabilities */
    ck_assert_uint_eq(rd(0x3d, 1), 0); /* no INTx */
    pci_config_set_intx(pc, true);
    ck_assert_uint_eq(rd(0x3d, 1), 1);
    pci_config_set_intx(pc, false);
    ck_assert_uint_eq(rd(0x3d, 1), 0);
    for (unsigned o = 0; o < 0x40; o++) {
        ck_assert_uint_eq(pc->used[o], 1);
    }
    ck_assert_uint_eq(pc->used[0x40], 0);
}
END_TEST

START_TEST(test_readonly_ignored)
{
    static const unsigned ro[] = { 0x00, 0x08, 0x0e, 0x28, 0x2c, 0x34, 0x38,
                                   0x3d, 0x40, 0x80, 0xfc };
    uint8_t before[256], after[256];

    init_conv();
    pci_config_set_intx(pc, true);
    pci_config_read(pc, 0, before, sizeof(before));
    for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        unsigned o = ro[i];
        unsigned n = o == 0x3d ? 1 : 4;

        ck_assert_uint_eq(wr(o, n, 0xffffffff), 0);
        ck_assert_uint_eq(wr(o, n, 0), 0);
    }
    pci_config_read(pc, 0, after, sizeof(after));
    ck_assert_mem_eq(before, after, sizeof(before));
}
END_TEST

START_TEST(test_command)
{
    init_conv();
    ck_assert(!pci_config_bus_master(pc));
    ck_assert_uint_eq(wr(0x04, 2, 0xffff), PCI_CFG_CHANGED_COMMAND);
    /* IO, MEM, bus master, parity, SERR, INTx disable. */
    ck_assert_uint_eq(rd(0x04, 2), 0x0547);
    ck_assert_uint_eq(pci_config_command(pc), 0x0547);
    ck_assert(pci_config_bus_master(pc));
    ck_assert(pci_config_intx_disabled(pc));
    /* Same value again: nothing changed. */
    ck_assert_uint_eq(wr(0x04, 2, 0xffff), 0);
    ck_assert_uint_eq(wr(0x04, 2, 0x0006), PCI_CFG_CHANGED_COMMAND);
    ck_assert_uint_eq(rd(0x04, 2), 0x0006);
    ck_assert(!pci_config_intx_disabled(pc));
    /* Byte write of the high byte only. */
    ck_assert_uint_eq(wr(0x05, 1, 0x04), PCI_CFG_CHANGED_COMMAND);
    ck_assert_uint_eq(rd(0x04, 2), 0x0406);
}
END_TEST

START_TEST(test_status_w1c)
{
    init_conv();
    ck_assert_int_ge(pci_cap_add_pm(pc), 0);
    ck_assert_uint_eq(rd(0x06, 2), 0x0010);
    /* The device recorded every error bit plus an asserted INTx. */
    pc->cfg[0x07] = 0xf9;
    pci_config_set_intx_status(pc, true);
    ck_assert_uint_eq(rd(0x06, 2), 0xf918);
    /* Writing 0 clears nothing; read-only bits cannot be set. */
    ck_assert_uint_eq(wr(0x06, 2, 0x0000), 0);
    ck_assert_uint_eq(wr(0x06, 2, 0x06e7), 0);
    ck_assert_uint_eq(rd(0x06, 2), 0xf918);
    /* Write 1 clears just those bits. */
    wr(0x06, 2, 0x0100);
    ck_assert_uint_eq(rd(0x06, 2), 0xf818);
    wr(0x06, 2, 0x3000);
    ck_assert_uint_eq(rd(0x06, 2), 0xc818);
    /* All-ones: every RW1C bit clears, capability list and INTx stay. */
    wr(0x06, 2, 0xffff);
    ck_assert_uint_eq(rd(0x06, 2), 0x0018);
    pci_config_set_intx_status(pc, false);
    ck_assert_uint_eq(rd(0x06, 2), 0x0010);
    /* A dword write of command+status: command set, status cleared. */
    pc->cfg[0x07] = 0x80;
    wr(0x04, 4, 0x80000004);
    ck_assert_uint_eq(rd(0x04, 4), 0x00100004);
}
END_TEST

START_TEST(test_misc_writable)
{
    init_conv();
    ck_assert_uint_eq(wr(0x0c, 1, 0x10), 0);
    ck_assert_uint_eq(rd(0x0c, 1), 0x10);
    wr(0x0d, 1, 0x40); /* latency timer: conventional PCI has one */
    ck_assert_uint_eq(rd(0x0d, 1), 0x40);
    ck_assert_uint_eq(wr(0x3c, 1, 0x0b), 0);
    ck_assert_uint_eq(rd(0x3c, 1), 0x0b);
    /* The dword at 0x3c: pin, min_gnt, max_lat stay read-only. */
    wr(0x3c, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x3c, 4), 0x000000ff);

    init_pcie(0);
    wr(0x0c, 2, 0xffff);
    ck_assert_uint_eq(rd(0x0c, 2), 0x00ff); /* PCIe: latency timer is 0 */
}
END_TEST

/* ---- BARs ---- */

START_TEST(test_bar_mem32)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 0x1000, VFUD_REGION_RW), 0);
    ck_assert_uint_eq(rd(0x10, 4), 0);
    ck_assert_uint_eq(wr(0x10, 4, 0xffffffff), PCI_CFG_CHANGED_BAR);
    ck_assert_uint_eq(rd(0x10, 4), 0xfffff000);
    ck_assert_uint_eq(wr(0x10, 4, 0xfebf1234), PCI_CFG_CHANGED_BAR);
    ck_assert_uint_eq(rd(0x10, 4), 0xfebf1000);
    ck_assert_uint_eq(wr(0x10, 4, 0xfebf1000), 0);
    ck_assert_uint_eq(pc->bars[0].size, 0x1000);
    ck_assert_uint_eq(pc->bars[0].flags, 0);
}
END_TEST

START_TEST(test_bar_prefetch)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 1, 16, VFUD_REGION_PREFETCH), 0);
    ck_assert_uint_eq(rd(0x14, 4), 0x8);
    wr(0x14, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x14, 4), 0xfffffff8);
    wr(0x14, 4, 0);
    ck_assert_uint_eq(rd(0x14, 4), 0x8);
}
END_TEST

START_TEST(test_bar_mem64)
{
    init_conv();
    /* 1 MiB: the size mask lives in the low dword. */
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 1 << 20, VFUD_REGION_64BIT), 0);
    /* 8 GiB prefetchable: the size mask lives in the high dword. */
    ck_assert_int_eq(pci_config_set_bar(pc, 2, UINT64_C(8) << 30,
                                        VFUD_REGION_64BIT |
                                            VFUD_REGION_PREFETCH), 0);
    ck_assert_uint_eq(rd(0x10, 4), 0x4);
    ck_assert_uint_eq(rd(0x18, 4), 0xc);
    wr(0x10, 4, 0xffffffff);
    wr(0x14, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x10, 4), 0xfff00004);
    ck_assert_uint_eq(rd(0x14, 4), 0xffffffff);
    wr(0x18, 4, 0xffffffff);
    wr(0x1c, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x18, 4), 0x0000000c);
    ck_assert_uint_eq(rd(0x1c, 4), 0xfffffffe);
    /* An 8-byte write programs a whole 64-bit BAR. */
    ck_assert_uint_eq(wr(0x10, 4, 0), PCI_CFG_CHANGED_BAR);
    {
        uint8_t b[8] = { 0x00, 0x00, 0x50, 0xfe, 0x01, 0x00, 0x00, 0x00 };

        ck_assert_uint_eq(pci_config_write(pc, 0x10, b, 8),
                          PCI_CFG_CHANGED_BAR);
    }
    ck_assert_uint_eq(rd(0x10, 4), 0xfe500004);
    ck_assert_uint_eq(rd(0x14, 4), 0x00000001);
    /* The upper slots are not BARs of their own. */
    ck_assert_uint_eq(pc->bars[1].size, 0);
    ck_assert_uint_eq(pc->bars[3].size, 0);
}
END_TEST

START_TEST(test_bar_io)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 4, 256, VFUD_REGION_IO |
                                                        VFUD_REGION_RW), 0);
    ck_assert_uint_eq(rd(0x20, 4), 0x1);
    wr(0x20, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x20, 4), 0xffffff01);
    wr(0x20, 4, 0xc040);
    ck_assert_uint_eq(rd(0x20, 4), 0xc001);
    ck_assert_int_eq(pci_config_set_bar(pc, 5, 4, VFUD_REGION_IO), 0);
    wr(0x24, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x24, 4), 0xfffffffd);
}
END_TEST

START_TEST(test_bar_unimplemented)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 0x1000, 0), 0);
    for (unsigned bar = 1; bar < 6; bar++) {
        ck_assert_uint_eq(wr(0x10 + 4 * bar, 4, 0xffffffff), 0);
        ck_assert_uint_eq(rd(0x10 + 4 * bar, 4), 0);
    }
}
END_TEST

START_TEST(test_bar_errors)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 0x1800, 0), -EINVAL);
    ck_assert_str_ne(pc->error, "");
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 8, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 0, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, UINT64_C(1) << 32, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 2, VFUD_REGION_IO), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 512, VFUD_REGION_IO), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 16, VFUD_REGION_IO |
                                                       VFUD_REGION_64BIT),
                     -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 16, VFUD_REGION_IO |
                                                       VFUD_REGION_PREFETCH),
                     -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 5, 16, VFUD_REGION_64BIT), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 7, 16, 0), -EINVAL);
    /* The odd slot of a 64-bit pair cannot be declared; nor can a 64-bit
     * BAR claim a slot in use; nor can a BAR be declared twice. */
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 16, VFUD_REGION_64BIT), 0);
    ck_assert_int_eq(pci_config_set_bar(pc, 1, 16, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 0, 16, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, 3, 16, 0), 0);
    ck_assert_int_eq(pci_config_set_bar(pc, 2, 16, VFUD_REGION_64BIT),
                     -EINVAL);
    /* ROM: at least 2 KiB, memory only. */
    ck_assert_int_eq(pci_config_set_bar(pc, PCI_ROM_SLOT, 1024, 0), -EINVAL);
    ck_assert_int_eq(pci_config_set_bar(pc, PCI_ROM_SLOT, 4096,
                                        VFUD_REGION_IO), -EINVAL);
    ck_assert_int_eq(pci_config_finalize(pc), 0);
    ck_assert_int_eq(pci_config_set_bar(pc, 4, 16, 0), -EINVAL);
}
END_TEST

/* QEMU's realize: read 0x30, write 0xfffff800, read back, restore 0. */
START_TEST(test_rom_probe)
{
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, PCI_ROM_SLOT, 64 * 1024,
                                        VFUD_REGION_READ), 0);
    ck_assert_uint_eq(rd(0x30, 4), 0);
    ck_assert_uint_eq(wr(0x30, 4, 0xfffff800), PCI_CFG_CHANGED_BAR);
    ck_assert_uint_eq(rd(0x30, 4), 0xffff0000);
    ck_assert_uint_eq(wr(0x30, 4, 0), PCI_CFG_CHANGED_BAR);
    ck_assert_uint_eq(rd(0x30, 4), 0);
    /* The LVU-style probe and an enable. */
    wr(0x30, 4, 0xfffffffe);
    ck_assert_uint_eq(rd(0x30, 4), 0xffff0000);
    wr(0x30, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x30, 4), 0xffff0001);
    wr(0x30, 4, 0xfebc0001);
    ck_assert_uint_eq(rd(0x30, 4), 0xfebc0001);
    /* A 2 KiB ROM answers the probe with all address bits. */
    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, PCI_ROM_SLOT, 2048, 0), 0);
    wr(0x30, 4, 0xfffff800);
    ck_assert_uint_eq(rd(0x30, 4), 0xfffff800);
}
END_TEST

START_TEST(test_rom_absent)
{
    init_conv();
    ck_assert_uint_eq(rd(0x30, 4), 0);
    ck_assert_uint_eq(wr(0x30, 4, 0xfffff800), 0);
    ck_assert_uint_eq(rd(0x30, 4), 0);
    ck_assert_uint_eq(wr(0x30, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(0x30, 4), 0);
}
END_TEST

/* ---- Capability list ---- */

START_TEST(test_cap_chain)
{
    static const uint8_t vdata[5] = { 0xde, 0xad, 0xbe, 0xef, 0x42 };
    static const uint8_t ids[] = { 0x01, 0x05, 0x11, 0x09, 0x09 };
    int offs[5];
    unsigned o, n = 0;

    init_conv();
    offs[0] = pci_cap_add_pm(pc);
    offs[1] = pci_cap_add_msi(pc, 4, VFUD_MSI_64BIT | VFUD_MSI_MASKABLE);
    offs[2] = pci_cap_add_msix(pc, 16, 0, 0x2000, 0, 0x3000);
    offs[3] = pci_cap_add_vendor(pc, vdata, sizeof(vdata));
    offs[4] = pci_cap_add_vendor(pc, NULL, 0);
    ck_assert_int_eq(offs[0], 0x40);
    ck_assert_int_eq(offs[1], 0x48);      /* PM is 8 bytes */
    ck_assert_int_eq(offs[2], 0x48 + 0x18); /* 64-bit maskable MSI: 0x18 */
    ck_assert_int_eq(offs[3], 0x60 + 12);
    ck_assert_int_eq(offs[4], 0x6c + 8);  /* 3 + 5 bytes */

    ck_assert_uint_eq(rd(0x06, 2) & 0x10, 0x10);
    for (o = rd(0x34, 1); o != 0; o = rd(o + 1, 1)) {
        ck_assert_uint_lt(n, 5);
        ck_assert_uint_eq(o, (unsigned)offs[n]);
        ck_assert_uint_eq(o & 3, 0);
        ck_assert_uint_ge(o, 0x40);
        ck_assert_uint_eq(rd(o, 1), ids[n]);
        n++;
    }
    ck_assert_uint_eq(n, 5);

    /* Vendor: id, next, length (the whole capability), then the body. */
    ck_assert_uint_eq(rd(offs[3] + 2, 1), 8);
    ck_assert_mem_eq(pc->cfg + offs[3] + 3, vdata, sizeof(vdata));
    ck_assert_uint_eq(rd(offs[4] + 2, 1), 3);
    ck_assert_uint_eq(wr(offs[3], 4, 0), 0);
    wr(offs[3] + 4, 4, 0);
    ck_assert_mem_eq(pc->cfg + offs[3] + 3, vdata, sizeof(vdata));

    /* Id and next bytes are read-only. */
    for (n = 0; n < 5; n++) {
        uint32_t before = rd(offs[n], 2);

        wr(offs[n], 2, 0xffff);
        ck_assert_uint_eq(rd(offs[n], 2), before);
    }
    wr(0x34, 1, 0x80);
    ck_assert_uint_eq(rd(0x34, 1), 0x40);
}
END_TEST

START_TEST(test_cap_placement_errors)
{
    static uint8_t big[252];

    init_conv();
    ck_assert_int_eq(pci_cap_add_express(pc, 0), -EINVAL);
    ck_assert_int_eq(pci_ext_cap_add_dsn(pc, 1), -EINVAL);
    ck_assert_int_eq(pci_cap_add_vendor(pc, big, 253), -EINVAL);
    ck_assert_int_eq(pci_cap_add_vendor(pc, big, sizeof(big)), -ENOSPC);
    ck_assert_int_eq(pci_cap_add_msi(pc, 3, 0), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msi(pc, 64, 0), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msi(pc, 0, 0), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msi(pc, 1, 0x80), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msix(pc, 0, 0, 0, 0, 0x800), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msix(pc, 2049, 0, 0, 0, 0x8000), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msix(pc, 4, 6, 0, 0, 0x800), -EINVAL);
    ck_assert_int_eq(pci_cap_add_msix(pc, 4, 0, 4, 0, 0x800), -EINVAL);
    /* Nothing was placed by the failures. */
    ck_assert_uint_eq(rd(0x34, 1), 0);
    ck_assert_uint_eq(rd(0x06, 2), 0);

    ck_assert_int_eq(pci_cap_add_pm(pc), 0x40);
    ck_assert_int_eq(pci_cap_add_pm(pc), -EEXIST);
    ck_assert_int_eq(pci_cap_add_msi(pc, 1, 0), 0x48);
    ck_assert_int_eq(pci_cap_add_msi(pc, 1, 0), -EEXIST);
    ck_assert_int_eq(pci_cap_add_msix(pc, 1, 0, 0, 0, 0x800), 0x54);
    ck_assert_int_eq(pci_cap_add_msix(pc, 1, 0, 0, 0, 0x800), -EEXIST);
    /* 0x60..0xff: 160 bytes left.  157 bytes of data fit exactly. */
    ck_assert_int_eq(pci_cap_add_vendor(pc, big, 158), -ENOSPC);
    ck_assert_int_eq(pci_cap_add_vendor(pc, big, 157), 0x60);
    ck_assert_int_eq(pci_cap_add_vendor(pc, NULL, 0), -ENOSPC);
    ck_assert_str_ne(pc->error, "");

    init_conv();
    ck_assert_int_eq(pci_config_finalize(pc), 0);
    ck_assert_int_eq(pci_cap_add_pm(pc), -EINVAL);
    ck_assert_int_eq(pci_cap_add_vendor(pc, NULL, 0), -EINVAL);
}
END_TEST

/* ---- Individual capabilities ---- */

START_TEST(test_pm)
{
    int o;

    init_conv();
    o = pci_cap_add_pm(pc);
    ck_assert_int_ge(o, 0x40);
    ck_assert_uint_eq(rd(o + 2, 2), 0x0003);          /* PMC: v1.2, no PME */
    ck_assert_uint_eq(rd(o + 4, 2), 0x0008);          /* D0, No_Soft_Reset */
    ck_assert_uint_eq(wr(o + 2, 2, 0xffff), 0);
    ck_assert_uint_eq(rd(o + 2, 2), 0x0003);
    ck_assert_uint_eq(pci_config_pm_state(pc), 0);

    ck_assert_uint_eq(wr(o + 4, 2, 0xffff), PCI_CFG_CHANGED_PM);
    ck_assert_uint_eq(rd(o + 4, 2), 0x000b);          /* D3hot, only */
    ck_assert_uint_eq(pci_config_pm_state(pc), 3);
    /* D1 and D2 are unsupported: the write is discarded. */
    ck_assert_uint_eq(wr(o + 4, 2, 0x0001), 0);
    ck_assert_uint_eq(pci_config_pm_state(pc), 3);
    ck_assert_uint_eq(wr(o + 4, 1, 0x02), 0);
    ck_assert_uint_eq(pci_config_pm_state(pc), 3);
    ck_assert_uint_eq(wr(o + 4, 2, 0x0000), PCI_CFG_CHANGED_PM);
    ck_assert_uint_eq(rd(o + 4, 2), 0x0008);
    ck_assert_uint_eq(wr(o + 6, 2, 0xffff), 0);       /* bridge ext, data */
    ck_assert_uint_eq(rd(o + 6, 2), 0);
}
END_TEST

START_TEST(test_msi_64_maskable)
{
    unsigned o;

    init_conv();
    o = (unsigned)pci_cap_add_msi(pc, 4, VFUD_MSI_64BIT | VFUD_MSI_MASKABLE);
    /* MMC = log2(4) = 2, 64-bit, per-vector masking. */
    ck_assert_uint_eq(rd(o + 2, 2), 0x0184);
    ck_assert(!pci_config_msi_enabled(pc));
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 1);

    ck_assert_uint_eq(wr(o + 2, 2, 0x0001), PCI_CFG_CHANGED_MSI);
    ck_assert(pci_config_msi_enabled(pc));
    ck_assert_uint_eq(wr(o + 2, 2, 0x0021), PCI_CFG_CHANGED_MSI);
    ck_assert_uint_eq(rd(o + 2, 2), 0x01a5);
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 4);
    /* MME above MMC is stored clamped to MMC. */
    ck_assert_uint_eq(wr(o + 2, 2, 0x0051), 0);
    ck_assert_uint_eq(rd(o + 2, 2), 0x01a5);
    ck_assert_uint_eq(wr(o + 2, 2, 0x0011), PCI_CFG_CHANGED_MSI);
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 2);
    ck_assert_uint_eq(wr(o + 2, 2, 0xff71), PCI_CFG_CHANGED_MSI);
    ck_assert_uint_eq(rd(o + 2, 2), 0x01a5);

    /* Address (dword aligned), upper address, data: not "changes". */
    ck_assert_uint_eq(wr(o + 4, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(o + 4, 4), 0xfffffffc);
    ck_assert_uint_eq(wr(o + 8, 4, 0x12345678), 0);
    ck_assert_uint_eq(rd(o + 8, 4), 0x12345678);
    ck_assert_uint_eq(wr(o + 0x0c, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(o + 0x0c, 4), 0x0000ffff); /* no extended data */

    /* Mask bits: only the 4 implemented vectors. */
    ck_assert_uint_eq(wr(o + 0x10, 4, 0xffffffff), PCI_CFG_CHANGED_MSI);
    ck_assert_uint_eq(rd(o + 0x10, 4), 0xf);
    ck_assert(pci_config_msi_vector_masked(pc, 3));
    ck_assert(!pci_config_msi_vector_masked(pc, 4));
    ck_assert(!pci_config_msi_vector_masked(pc, 40));
    ck_assert_uint_eq(wr(o + 0x10, 1, 0x05), PCI_CFG_CHANGED_MSI);
    ck_assert(pci_config_msi_vector_masked(pc, 0));
    ck_assert(!pci_config_msi_vector_masked(pc, 1));

    /* Pending bits: the device's, read-only to the guest. */
    ck_assert_uint_eq(wr(o + 0x14, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(o + 0x14, 4), 0);
    pci_config_msi_set_pending(pc, 2, true);
    pci_config_msi_set_pending(pc, 9, true); /* beyond the vectors */
    ck_assert_uint_eq(rd(o + 0x14, 4), 0x4);
    ck_assert_uint_eq(wr(o + 0x14, 4, 0), 0);
    ck_assert_uint_eq(rd(o + 0x14, 4), 0x4);
    pci_config_msi_set_pending(pc, 2, false);
    ck_assert_uint_eq(rd(o + 0x14, 4), 0);

    /* Disabling reports a change. */
    ck_assert_uint_eq(wr(o + 2, 1, 0x20), PCI_CFG_CHANGED_MSI);
    ck_assert(!pci_config_msi_enabled(pc));
}
END_TEST

START_TEST(test_msi_32_plain)
{
    unsigned o;

    init_conv();
    o = (unsigned)pci_cap_add_msi(pc, 1, 0);
    ck_assert_uint_eq(rd(o + 2, 2), 0x0000);
    /* 10 bytes: the next capability goes at the next dword. */
    ck_assert_int_eq(pci_cap_add_pm(pc), (int)o + 12);
    wr(o + 4, 4, 0xfee00000);
    wr(o + 8, 2, 0x4041);
    ck_assert_uint_eq(rd(o + 4, 4), 0xfee00000);
    ck_assert_uint_eq(rd(o + 8, 2), 0x4041);
    /* One vector: any MME clamps to 0. */
    ck_assert_uint_eq(wr(o + 2, 2, 0x0071), PCI_CFG_CHANGED_MSI);
    ck_assert_uint_eq(rd(o + 2, 2), 0x0001);
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 1);
    ck_assert(!pci_config_msi_vector_masked(pc, 0));
    ck_assert_uint_eq(pc->used[o + 10], 0);
}
END_TEST

START_TEST(test_msi_32_vectors_maskable)
{
    unsigned o;

    init_conv();
    o = (unsigned)pci_cap_add_msi(pc, 32, VFUD_MSI_MASKABLE);
    ck_assert_uint_eq(rd(o + 2, 2), 0x010a);
    wr(o + 0x0c, 4, 0xffffffff);
    ck_assert_uint_eq(rd(o + 0x0c, 4), 0xffffffff);
    ck_assert(pci_config_msi_vector_masked(pc, 31));
    wr(o + 2, 2, 0x0051);
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 32);
}
END_TEST

START_TEST(test_msix)
{
    unsigned o;

    init_conv();
    ck_assert_int_eq(pci_config_set_bar(pc, 2, 0x4000, 0), 0);
    o = (unsigned)pci_cap_add_msix(pc, 16, 2, 0x2000, 2, 0x3000);
    ck_assert_uint_eq(rd(o + 2, 2), 0x000f);
    ck_assert_uint_eq(rd(o + 4, 4), 0x00002002);
    ck_assert_uint_eq(rd(o + 8, 4), 0x00003002);
    ck_assert_int_eq(pci_config_finalize(pc), 0);

    ck_assert_uint_eq(wr(o + 2, 2, 0xffff), PCI_CFG_CHANGED_MSIX);
    ck_assert_uint_eq(rd(o + 2, 2), 0xc00f);
    ck_assert(pci_config_msix_enabled(pc));
    ck_assert(pci_config_msix_function_masked(pc));
    ck_assert_uint_eq(wr(o + 2, 2, 0xffff), 0);
    /* QEMU writes the control high byte alone. */
    ck_assert_uint_eq(wr(o + 3, 1, 0x80), PCI_CFG_CHANGED_MSIX);
    ck_assert(pci_config_msix_enabled(pc));
    ck_assert(!pci_config_msix_function_masked(pc));
    ck_assert_uint_eq(wr(o + 3, 1, 0x00), PCI_CFG_CHANGED_MSIX);
    ck_assert(!pci_config_msix_enabled(pc));
    /* Table and PBA dwords are read-only. */
    ck_assert_uint_eq(wr(o + 4, 4, 0), 0);
    ck_assert_uint_eq(wr(o + 8, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(o + 4, 4), 0x00002002);
    ck_assert_uint_eq(rd(o + 8, 4), 0x00003002);
}
END_TEST

START_TEST(test_express)
{
    int o;

    pci_config_init(pc, VFUD_PCI_EXPRESS, &test_id);
    ck_assert_uint_eq(pc->size, 4096);
    o = pci_cap_add_express(pc, VFUD_PCIE_FLR);
    ck_assert_int_eq(o, 0x40);
    ck_assert_int_eq(pci_cap_add_express(pc, 0), -EEXIST);
    ck_assert_uint_eq(rd(o, 1), 0x10);
    ck_assert_uint_eq(rd(o + 2, 2), 0x0002);         /* v2 endpoint */
    ck_assert_uint_eq(rd(o + 4, 4), 0x10008000);     /* FLR, RBER, MPS 128 */
    ck_assert_uint_eq(rd(o + 8, 2), 0x2810);         /* RO, NS, MRRS 512 */
    ck_assert_uint_eq(rd(o + 0x0c, 4) & 0x3ff, 0x11); /* x1, 2.5 GT/s */
    ck_assert_uint_eq(rd(o + 0x12, 2), 0x0011);
    ck_assert_uint_eq(rd(o + 0x2c, 4), 0x2);         /* 2.5 GT/s supported */
    /* v2 capability is 0x3c bytes: the next one goes right after. */
    ck_assert_int_eq(pci_cap_add_pm(pc), o + 0x3c);
    for (unsigned i = 0; i < 0x3c; i++) {
        ck_assert_uint_eq(pc->used[o + i], 1);
    }

    /* Device Control: all but Initiate FLR writable. */
    ck_assert_uint_eq(wr(o + 8, 2, 0x7fff), 0);
    ck_assert_uint_eq(rd(o + 8, 2), 0x7fff);
    ck_assert_uint_eq(wr(o + 8, 2, 0x0000), 0);
    ck_assert_uint_eq(rd(o + 8, 2), 0);
    /* Initiate FLR: reported, reads 0, the rest of the write applies. */
    ck_assert_uint_eq(wr(o + 8, 2, 0x8010), PCI_CFG_FLR_REQUESTED);
    ck_assert_uint_eq(rd(o + 8, 2), 0x0010);
    ck_assert_uint_eq(wr(o + 9, 1, 0x80), PCI_CFG_FLR_REQUESTED);
    ck_assert_uint_eq(rd(o + 8, 2), 0x0010);
    /* Dword write of control + status, as some drivers do. */
    pc->cfg[o + 0x0a] = 0x0f;
    ck_assert_uint_eq(wr(o + 8, 4, 0x00058000), PCI_CFG_FLR_REQUESTED);
    ck_assert_uint_eq(rd(o + 8, 4), 0x000a0000);

    /* Device Status: RW1C errors, the rest read-only. */
    pc->cfg[o + 0x0a] = 0x3f;
    wr(o + 0x0a, 2, 0x0001);
    ck_assert_uint_eq(rd(o + 0x0a, 2), 0x003e);
    wr(o + 0x0a, 2, 0xffff);
    ck_assert_uint_eq(rd(o + 0x0a, 2), 0x0030);

    /* Link: capabilities and status read-only, CCC/ES writable. */
    wr(o + 0x0c, 4, 0);
    ck_assert_uint_eq(rd(o + 0x0c, 4), 0x00400011);
    wr(o + 0x10, 4, 0xffffffff);
    ck_assert_uint_eq(rd(o + 0x10, 4), 0x001100c0);
    /* Device Control 2: completion timeout disable only. */
    ck_assert_uint_eq(rd(o + 0x24, 4), 0x10);
    wr(o + 0x28, 2, 0xffff);
    ck_assert_uint_eq(rd(o + 0x28, 2), 0x0010);
    /* Slot/root registers of a port: absent, read-only 0. */
    wr(o + 0x14, 4, 0xffffffff);
    wr(o + 0x18, 4, 0xffffffff);
    ck_assert_uint_eq(rd(o + 0x14, 4), 0);
    ck_assert_uint_eq(rd(o + 0x18, 4), 0);
}
END_TEST

START_TEST(test_express_no_flr)
{
    int o;

    init_pcie(0);
    o = pc->cap_exp;
    ck_assert_uint_eq(rd(o + 4, 4) & 0x10000000, 0);
    ck_assert_uint_eq(wr(o + 8, 2, 0x8000), 0);
    ck_assert_uint_eq(rd(o + 8, 2), 0);
}
END_TEST

START_TEST(test_ext_caps)
{
    int o;

    /* PCIe without extended capabilities: a zero header at 0x100. */
    init_pcie(0);
    ck_assert_uint_eq(rd(0x100, 4), 0);
    ck_assert_uint_eq(pc->used[0x100], 1);
    ck_assert_uint_eq(wr(0x100, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(0x100, 4), 0);
    ck_assert_uint_eq(wr(0x800, 4, 0xffffffff), 0);
    ck_assert_uint_eq(rd(0x800, 4), 0);
    ck_assert_uint_eq(rd(0xffc, 4), 0);

    /* DSN: id 3, version 1, end of list, serial. */
    o = pci_ext_cap_add_dsn(pc, UINT64_C(0x0123456789abcdef));
    ck_assert_int_eq(o, 0x100);
    ck_assert_int_eq(pci_ext_cap_add_dsn(pc, 1), -EEXIST);
    ck_assert_uint_eq(rd(0x100, 4), 0x00010003);
    ck_assert_uint_eq(rd(0x104, 4), 0x89abcdef);
    ck_assert_uint_eq(rd(0x108, 4), 0x01234567);
    ck_assert_uint_eq(wr(0x100, 4, 0xffffffff), 0);
    ck_assert_uint_eq(wr(0x104, 4, 0), 0);
    ck_assert_uint_eq(rd(0x100, 4), 0x00010003);
    ck_assert_uint_eq(rd(0x104, 4), 0x89abcdef);

    /* Conventional: no extended space at all. */
    init_conv();
    ck_assert_uint_eq(pc->size, 256);
    ck_assert_int_eq(pci_ext_cap_add_dsn(pc, 1), -EINVAL);
    ck_assert_uint_eq(pc->used[0x100], 0);
}
END_TEST

/* ---- Finalize and reset ---- */

START_TEST(test_finalize_msix)
{
    /* Table in a BAR that was never declared. */
    init_conv();
    pci_cap_add_msix(pc, 4, 1, 0, 1, 0x100);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);
    ck_assert_str_ne(pc->error, "");
    ck_assert(!pc->finalized);

    /* Table runs past the end of its BAR (16 vectors = 256 bytes). */
    init_conv();
    pci_config_set_bar(pc, 0, 0x1000, 0);
    pci_cap_add_msix(pc, 16, 0, 0xf08, 0, 0);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* PBA past the end of its BAR. */
    init_conv();
    pci_config_set_bar(pc, 0, 0x1000, 0);
    pci_config_set_bar(pc, 1, 0x10, 0);
    pci_cap_add_msix(pc, 128, 0, 0, 1, 0x8); /* PBA: 16 bytes */
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* Table and PBA overlap in the same BAR. */
    init_conv();
    pci_config_set_bar(pc, 0, 0x1000, 0);
    pci_cap_add_msix(pc, 16, 0, 0x000, 0, 0x0f8);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* In an I/O BAR. */
    init_conv();
    pci_config_set_bar(pc, 0, 256, VFUD_REGION_IO);
    pci_cap_add_msix(pc, 1, 0, 0, 0, 0x10);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* In the upper half of a 64-bit BAR. */
    init_conv();
    pci_config_set_bar(pc, 0, 0x4000, VFUD_REGION_64BIT);
    pci_cap_add_msix(pc, 1, 1, 0, 1, 0x10);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* The table's last entry overlaps the PBA's only qword. */
    init_conv();
    pci_config_set_bar(pc, 0, 0x4000, VFUD_REGION_64BIT);
    pci_cap_add_msix(pc, 16, 0, 0x3f00, 0, 0x3ff8);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);

    /* Adjacent table and PBA, exactly filling the BAR: fine; a second
     * finalize is refused. */
    init_conv();
    pci_config_set_bar(pc, 0, 0x4000, VFUD_REGION_64BIT);
    pci_cap_add_msix(pc, 16, 0, 0x3ef8, 0, 0x3ff8);
    ck_assert_int_eq(pci_config_finalize(pc), 0);
    ck_assert(pc->finalized);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);
}
END_TEST

START_TEST(test_finalize_express)
{
    pci_config_init(pc, VFUD_PCI_EXPRESS, &test_id);
    ck_assert_int_eq(pci_config_finalize(pc), -EINVAL);
    ck_assert_int_ge(pci_cap_add_express(pc, 0), 0);
    ck_assert_int_eq(pci_config_finalize(pc), 0);
}
END_TEST

START_TEST(test_reset)
{
    uint8_t power_on[4096], now[4096];
    unsigned msi, msix, pm, exp;

    pci_config_init(pc, VFUD_PCI_EXPRESS, &test_id);
    exp = (unsigned)pci_cap_add_express(pc, VFUD_PCIE_FLR);
    pm = (unsigned)pci_cap_add_pm(pc);
    msi = (unsigned)pci_cap_add_msi(pc, 8, VFUD_MSI_64BIT | VFUD_MSI_MASKABLE);
    msix = (unsigned)pci_cap_add_msix(pc, 64, 0, 0, 0, 0x800);
    pci_config_set_bar(pc, 0, 0x1000, VFUD_REGION_64BIT);
    pci_config_set_bar(pc, 2, 256, VFUD_REGION_IO);
    pci_config_set_bar(pc, PCI_ROM_SLOT, 0x8000, 0);
    pci_config_set_intx(pc, true);
    pci_ext_cap_add_dsn(pc, 42);

    /* Reset before finalize has no snapshot to go back to. */
    wr(0x04, 2, 0x0002);
    pci_config_reset(pc);
    ck_assert_uint_eq(rd(0x04, 2), 0x0002);
    wr(0x04, 2, 0);

    ck_assert_int_eq(pci_config_finalize(pc), 0);
    pci_config_read(pc, 0, power_on, sizeof(power_on));

    wr(0x04, 2, 0x0407);
    wr(0x10, 4, 0xfebf0000);
    wr(0x14, 4, 0x1);
    wr(0x18, 4, 0xc000);
    wr(0x30, 4, 0xfeb00001);
    wr(0x0c, 1, 0x10);
    wr(0x3c, 1, 0x0b);
    wr(pm + 4, 2, 0x0003);
    wr(msi + 2, 2, 0x0031);
    wr(msi + 4, 4, 0xfee00000);
    wr(msi + 0x10, 4, 0xff);
    wr(msix + 2, 2, 0xc000);
    wr(exp + 8, 2, 0x00ff);
    pci_config_set_intx_status(pc, true);
    pci_config_msi_set_pending(pc, 1, true);
    ck_assert(pci_config_msix_enabled(pc));
    ck_assert_uint_eq(pci_config_pm_state(pc), 3);

    pci_config_reset(pc);
    pci_config_read(pc, 0, now, sizeof(now));
    ck_assert_mem_eq(power_on, now, sizeof(now));
    ck_assert_uint_eq(pci_config_command(pc), 0);
    ck_assert(!pci_config_bus_master(pc));
    ck_assert(!pci_config_msi_enabled(pc));
    ck_assert(!pci_config_msix_enabled(pc));
    ck_assert(!pci_config_msix_function_masked(pc));
    ck_assert_uint_eq(pci_config_pm_state(pc), 0);
    ck_assert_uint_eq(rd(0x10, 4), 0x4);
    ck_assert_uint_eq(rd(0x30, 4), 0);
    ck_assert_uint_eq(rd(0x3d, 1), 1);
    ck_assert_uint_eq(rd(0x100, 4), 0x00010003);
    /* And it still works afterwards. */
    wr(0x10, 4, 0xffffffff);
    ck_assert_uint_eq(rd(0x10, 4), 0xfffff004);
}
END_TEST

/* ---- Access shapes ---- */

START_TEST(test_unaligned_and_spanning)
{
    uint8_t buf[8];
    unsigned msi, msix, pm;

    init_conv();
    pci_config_set_bar(pc, 0, 0x1000, 0);
    pci_config_set_bar(pc, 1, 0x1000, 0);
    pm = (unsigned)pci_cap_add_pm(pc);
    msi = (unsigned)pci_cap_add_msi(pc, 2, VFUD_MSI_MASKABLE);
    msix = (unsigned)pci_cap_add_msix(pc, 8, 1, 0, 1, 0x800);

    /* Unaligned reads across registers. */
    ck_assert_uint_eq(rd(0x01, 2), 0xf01a);
    ck_assert_uint_eq(rd(0x03, 4), 0x10000010);
    pci_config_read(pc, 0x0b, buf, 8);
    ck_assert_uint_eq(buf[0], 0x01);
    ck_assert_uint_eq(buf[1], 0x00);

    /* A 4-byte write at 0x03: device id (RO), command, status low. */
    ck_assert_uint_eq(wr(0x03, 4, 0x00000600), PCI_CFG_CHANGED_COMMAND);
    ck_assert_uint_eq(rd(0x00, 4), 0x10f01af4);
    ck_assert_uint_eq(rd(0x04, 2), 0x0006);

    /* An 8-byte write straddling BAR0 and BAR1 at an odd offset. */
    memset(buf, 0xff, sizeof(buf));
    ck_assert_uint_eq(pci_config_write(pc, 0x12, buf, 8), PCI_CFG_CHANGED_BAR);
    ck_assert_uint_eq(rd(0x10, 4), 0xffff0000);
    ck_assert_uint_eq(rd(0x14, 4), 0xfffff000);
    ck_assert_uint_eq(rd(0x18, 4), 0);

    /* One write over the whole space reports every kind of change. */
    {
        uint8_t all[256];

        memset(all, 0xff, sizeof(all));
        ck_assert_uint_eq(pci_config_write(pc, 0, all, sizeof(all)),
                          PCI_CFG_CHANGED_COMMAND | PCI_CFG_CHANGED_BAR |
                              PCI_CFG_CHANGED_MSI | PCI_CFG_CHANGED_MSIX |
                              PCI_CFG_CHANGED_PM);
    }
    ck_assert_uint_eq(rd(0x04, 2), 0x0547);
    ck_assert_uint_eq(rd(0x10, 4), 0xfffff000);
    ck_assert_uint_eq(pci_config_pm_state(pc), 3);
    ck_assert(pci_config_msi_enabled(pc));
    ck_assert_uint_eq(pci_config_msi_enabled_vectors(pc), 2);
    ck_assert(pci_config_msi_vector_masked(pc, 1));
    ck_assert(pci_config_msix_enabled(pc));
    ck_assert_uint_eq(rd(msix + 4, 4), 0x1);
    ck_assert_uint_eq(rd(pm, 1), 0x01);
    ck_assert_uint_eq(rd(msi, 1), 0x05);
}
END_TEST

START_TEST(test_full_reads)
{
    static uint8_t buf[4096];

    init_conv();
    pci_cap_add_pm(pc);
    pci_config_read(pc, 0, buf, 256);
    ck_assert_mem_eq(buf, pc->cfg, 256);

    init_pcie(VFUD_PCIE_FLR);
    pci_ext_cap_add_dsn(pc, 7);
    pci_config_read(pc, 0, buf, 4096);
    ck_assert_mem_eq(buf, pc->cfg, 4096);
    ck_assert_uint_eq(buf[0x104], 7);
    /* The last bytes, and a full-size write that changes nothing RO. */
    pci_config_read(pc, 4095, buf, 1);
    ck_assert_uint_eq(buf[0], 0);
    memcpy(buf, pc->cfg, 4096);
    ck_assert_uint_eq(pci_config_write(pc, 0, buf, 4096), 0);
    ck_assert_mem_eq(buf, pc->cfg, 4096);
}
END_TEST

static Suite *pci_config_suite(void)
{
    Suite *s = suite_create("pci_config");
    TCase *tc;

    tc = tcase_create("header");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_identity);
    tcase_add_test(tc, test_readonly_ignored);
    tcase_add_test(tc, test_command);
    tcase_add_test(tc, test_status_w1c);
    tcase_add_test(tc, test_misc_writable);
    suite_add_tcase(s, tc);

    tc = tcase_create("bars");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bar_mem32);
    tcase_add_test(tc, test_bar_prefetch);
    tcase_add_test(tc, test_bar_mem64);
    tcase_add_test(tc, test_bar_io);
    tcase_add_test(tc, test_bar_unimplemented);
    tcase_add_test(tc, test_bar_errors);
    tcase_add_test(tc, test_rom_probe);
    tcase_add_test(tc, test_rom_absent);
    suite_add_tcase(s, tc);

    tc = tcase_create("caps");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cap_chain);
    tcase_add_test(tc, test_cap_placement_errors);
    tcase_add_test(tc, test_pm);
    tcase_add_test(tc, test_msi_64_maskable);
    tcase_add_test(tc, test_msi_32_plain);
    tcase_add_test(tc, test_msi_32_vectors_maskable);
    tcase_add_test(tc, test_msix);
    tcase_add_test(tc, test_express);
    tcase_add_test(tc, test_express_no_flr);
    tcase_add_test(tc, test_ext_caps);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_finalize_msix);
    tcase_add_test(tc, test_finalize_express);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);

    tc = tcase_create("access");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unaligned_and_spanning);
    tcase_add_test(tc, test_full_reads);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pci_config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
