/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI capabilities: placement in the standard (0x40-0xff) and extended
 * (0x100-0xfff) lists, each capability's registers and masks, the side
 * effects of writes to them, and their decoded state.
 *
 * Sources: PCI Local Bus 3.0 §6.7-6.8 (list, MSI, MSI-X), PCI Bus Power
 * Management 1.2 (PM), PCIe Base Specification §7 (Express capability v2,
 * extended capabilities, Device Serial Number).
 */
#include "pci_config.h"

#include <errno.h>
#include <inttypes.h>

#define CAP_ID_PM      0x01
#define CAP_ID_MSI     0x05
#define CAP_ID_VENDOR  0x09
#define CAP_ID_EXP     0x10
#define CAP_ID_MSIX    0x11
#define EXT_CAP_ID_DSN 0x0003

#define CAP_NEXT       1 /* next pointer byte in a standard capability */

/* Power management: PMC at +2, PMCSR at +4, bridge extension and data. */
#define PM_PMC              2
#define PM_PMCSR            4
#define PM_SIZE             8
#define PMC_VERSION_1_2     0x0003
#define PMCSR_STATE         0x0003 /* D0 = 0 .. D3hot = 3 */
#define PMCSR_NO_SOFT_RESET 0x0008

/* MSI: the register offsets after the address depend on 64-bit and
 * per-vector masking; see msi_data_reg() and msi_mask_reg(). */
#define MSI_CTRL            2
#define MSI_ADDR_LO         4
#define MSI_ADDR_HI         8
#define MSI_CTRL_ENABLE     0x0001
#define MSI_CTRL_MMC_SHIFT  1
#define MSI_CTRL_MME_SHIFT  4
#define MSI_CTRL_MME        0x0070
#define MSI_CTRL_64BIT      0x0080
#define MSI_CTRL_MASKABLE   0x0100
#define MSI_MAX_VECTORS     32

/* MSI-X */
#define MSIX_CTRL           2
#define MSIX_TABLE          4
#define MSIX_PBA            8
#define MSIX_SIZE           12
#define MSIX_CTRL_MASKALL   0x4000
#define MSIX_CTRL_ENABLE    0x8000
#define MSIX_MAX_VECTORS    2048
#define MSIX_ENTRY_SIZE     16

/* PCI Express capability, version 2, endpoint layout. */
#define EXP_FLAGS           0x02
#define EXP_DEVCAP          0x04
#define EXP_DEVCTL          0x08
#define EXP_DEVSTA          0x0a
#define EXP_LNKCAP          0x0c
#define EXP_LNKCTL          0x10
#define EXP_LNKSTA          0x12
#define EXP_DEVCAP2         0x24
#define EXP_DEVCTL2         0x28
#define EXP_LNKCAP2         0x2c
#define EXP_LNKCTL2         0x30
#define EXP_SIZE            0x3c

#define EXP_FLAGS_VERSION2      0x0002 /* device/port type 0: PCIe endpoint */
#define EXP_DEVCAP_RBER         0x00008000 /* role-based error reporting */
#define EXP_DEVCAP_FLR          0x10000000
/* Correctable, non-fatal, fatal and UR reporting enables, relaxed ordering,
 * MPS, extended tag, phantom functions, aux power, no snoop, MRRS. */
#define EXP_DEVCTL_WMASK        0x7fff
#define EXP_DEVCTL_FLR          0x8000
/* Power-on value: relaxed ordering and no snoop enabled, MRRS 512 B. */
#define EXP_DEVCTL_DEFAULT      0x2810
#define EXP_DEVSTA_W1C          0x000f /* CED, NFED, FED, URD */
/* x1 at 2.5 GT/s, no ASPM, ASPM optionality compliant (bit 22). */
#define EXP_LNKCAP_VALUE        0x00400011
#define EXP_LNKCTL_WMASK        0x00c0 /* common clock, extended synch */
#define EXP_LNKSTA_VALUE        0x0011 /* x1 at 2.5 GT/s */
#define EXP_DEVCAP2_CTO_DISABLE 0x00000010
#define EXP_DEVCTL2_CTO_DISABLE 0x0010
#define EXP_LNKCAP2_2_5GT       0x00000002
#define EXP_LNKCTL2_2_5GT       0x0001 /* target link speed */

/* Device Serial Number extended capability. */
#define DSN_SIZE            12

#define VENDOR_HDR          3 /* id, next, length */

static bool range_hits(unsigned offset, size_t len, unsigned reg, unsigned n)
{
    return offset < reg + n && reg < offset + len;
}

static int cap_check(struct pci_config *pc, unsigned have, const char *what)
{
    if (pc->finalized) {
        pci_config_set_error(pc, "%s capability added after finalize", what);
        return -EINVAL;
    }
    if (have != 0) {
        pci_config_set_error(pc, "second %s capability", what);
        return -EEXIST;
    }
    return 0;
}

/* Reserve size bytes for a standard capability and link it at the end of
 * the list.  Returns its offset or -ENOSPC. */
static int cap_place(struct pci_config *pc, uint8_t id, unsigned size,
                     const char *what)
{
    unsigned off = pc->next_free;

    if (off + size > PCI_CFG_SIZE_CONVENTIONAL) {
        pci_config_set_error(pc, "no room for the %s capability (%u bytes "
                             "at %#x)", what, size, off);
        return -ENOSPC;
    }
    pci_config_define_zero(pc, off, size);
    pc->cfg[off] = id;
    if (pc->last_cap != 0) {
        pc->cfg[pc->last_cap + CAP_NEXT] = (uint8_t)off;
    } else {
        pc->cfg[PCI_CFG_CAP_PTR] = (uint8_t)off;
        pc->cfg[PCI_CFG_STATUS] |= PCI_CFG_STATUS_CAP_LIST;
    }
    pc->last_cap = off;
    pc->next_free = (off + size + 3) & ~3u;
    return (int)off;
}

/* Same for the extended list; its header is id:16, version:4, next:12. */
static int ext_cap_place(struct pci_config *pc, uint16_t id, unsigned version,
                         unsigned size, const char *what)
{
    unsigned off = pc->next_ext_free;

    if (pc->type != VFUD_PCI_EXPRESS) {
        pci_config_set_error(pc, "%s is an extended capability: PCI Express "
                             "devices only", what);
        return -EINVAL;
    }
    if (off + size > PCI_CFG_SIZE_EXPRESS) {
        pci_config_set_error(pc, "no room for the %s capability", what);
        return -ENOSPC;
    }
    pci_config_define_zero(pc, off, size);
    pci_config_define(pc, off, 4, id | (uint32_t)version << 16, 0, 0);
    if (pc->last_ext_cap != 0) {
        pc->cfg[pc->last_ext_cap + 2] |= (uint8_t)((off & 0xf) << 4);
        pc->cfg[pc->last_ext_cap + 3] = (uint8_t)(off >> 4);
    }
    pc->last_ext_cap = off;
    pc->next_ext_free = (off + size + 3) & ~3u;
    return (int)off;
}

/* ---- Power management ---- */

int pci_cap_add_pm(struct pci_config *pc)
{
    int off = cap_check(pc, pc->cap_pm, "PM");

    if (off == 0) {
        off = cap_place(pc, CAP_ID_PM, PM_SIZE, "PM");
    }
    if (off < 0) {
        return off;
    }
    /* No D1/D2, no PME.  No_Soft_Reset: going D3hot -> D0 keeps the
     * function's state, so the guest need not re-initialise us and we need
     * not reset anything on a power-state change. */
    pci_config_define(pc, (unsigned)off + PM_PMC, 2, PMC_VERSION_1_2, 0, 0);
    pci_config_define(pc, (unsigned)off + PM_PMCSR, 2, PMCSR_NO_SOFT_RESET,
                      PMCSR_STATE, 0);
    pc->cap_pm = (unsigned)off;
    return off;
}

static unsigned pm_write(struct pci_config *pc, unsigned offset, size_t len,
                         const uint8_t *old)
{
    unsigned reg = pc->cap_pm + PM_PMCSR;
    uint8_t state;

    if (pc->cap_pm == 0 || !range_hits(offset, len, reg, 1)) {
        return 0;
    }
    /* Writing an unsupported state (D1, D2) completes but changes nothing
     * (PM 1.2 §5.4). */
    state = pc->cfg[reg] & PMCSR_STATE;
    if (state == 1 || state == 2) {
        pc->cfg[reg] = (uint8_t)((pc->cfg[reg] & ~PMCSR_STATE) |
                                 (old[reg - offset] & PMCSR_STATE));
    }
    return pci_config_changed(pc, offset, len, old, reg, 1)
               ? PCI_CFG_CHANGED_PM : 0;
}

unsigned pci_config_pm_state(const struct pci_config *pc)
{
    if (pc->cap_pm == 0) {
        return 0;
    }
    return pc->cfg[pc->cap_pm + PM_PMCSR] & PMCSR_STATE;
}

/* ---- MSI ---- */

static unsigned msi_data_reg(const struct pci_config *pc)
{
    return pc->cap_msi + (pc->msi_flags & VFUD_MSI_64BIT ? 0x0c : 0x08);
}

/* The mask bits follow the data and extended-data words; pending bits
 * follow the mask bits. */
static unsigned msi_mask_reg(const struct pci_config *pc)
{
    return msi_data_reg(pc) + 4;
}

static unsigned log2_u(unsigned x)
{
    unsigned l = 0;

    while ((1u << l) < x) {
        l++;
    }
    return l;
}

int pci_cap_add_msi(struct pci_config *pc, unsigned nr_vectors, unsigned flags)
{
    bool is64 = flags & VFUD_MSI_64BIT;
    bool maskable = flags & VFUD_MSI_MASKABLE;
    unsigned data = is64 ? 0x0c : 0x08;
    unsigned size = maskable ? data + 12 : data + 2;
    unsigned o;
    int off = cap_check(pc, pc->cap_msi, "MSI");

    if (off < 0) {
        return off;
    }
    if (nr_vectors == 0 || nr_vectors > MSI_MAX_VECTORS ||
        (nr_vectors & (nr_vectors - 1)) != 0) {
        pci_config_set_error(pc, "MSI: %u vectors is not a power of two "
                             "from 1 to 32", nr_vectors);
        return -EINVAL;
    }
    if (flags & ~(VFUD_MSI_64BIT | VFUD_MSI_MASKABLE)) {
        pci_config_set_error(pc, "MSI: unknown flags %#x", flags);
        return -EINVAL;
    }
    off = cap_place(pc, CAP_ID_MSI, size, "MSI");
    if (off < 0) {
        return off;
    }
    o = (unsigned)off;

    /* Enable and Multiple Message Enable are the guest's; the capable
     * count, 64-bit and per-vector-mask bits describe us. */
    pci_config_define(pc, o + MSI_CTRL, 2,
                      log2_u(nr_vectors) << MSI_CTRL_MMC_SHIFT |
                          (is64 ? MSI_CTRL_64BIT : 0) |
                          (maskable ? MSI_CTRL_MASKABLE : 0),
                      MSI_CTRL_ENABLE | MSI_CTRL_MME, 0);
    /* The message address is dword aligned: bits 1:0 read 0. */
    pci_config_define(pc, o + MSI_ADDR_LO, 4, 0, 0xfffffffc, 0);
    if (is64) {
        pci_config_define(pc, o + MSI_ADDR_HI, 4, 0, 0xffffffff, 0);
    }
    /* Message Data; extended message data is not offered, so the word
     * after it (present in the maskable layouts) stays read-only 0. */
    pci_config_define(pc, o + data, 2, 0, 0xffff, 0);
    if (maskable) {
        uint32_t vmask = nr_vectors == 32 ? 0xffffffff
                                          : (UINT32_C(1) << nr_vectors) - 1;

        pci_config_define(pc, o + data + 4, 4, 0, vmask, 0);
        pci_config_define(pc, o + data + 8, 4, 0, 0, 0); /* pending */
    }
    pc->cap_msi = o;
    pc->msi_vectors = nr_vectors;
    pc->msi_flags = flags;
    return off;
}

static unsigned msi_write(struct pci_config *pc, unsigned offset, size_t len,
                          const uint8_t *old)
{
    unsigned ctrl_reg = pc->cap_msi + MSI_CTRL;
    unsigned changed = 0;
    uint16_t ctrl;
    unsigned mmc, mme;

    if (pc->cap_msi == 0) {
        return 0;
    }
    /* Software must not enable more vectors than we are capable of; if it
     * does anyway, store the largest legal value, so that what the guest
     * reads back is what the daemon routes. */
    ctrl = pci_cfg_get16(pc, ctrl_reg);
    mmc = (ctrl >> MSI_CTRL_MMC_SHIFT) & 7;
    mme = (ctrl & MSI_CTRL_MME) >> MSI_CTRL_MME_SHIFT;
    if (mme > mmc) {
        pc->cfg[ctrl_reg] = (uint8_t)((pc->cfg[ctrl_reg] & ~MSI_CTRL_MME) |
                                      mmc << MSI_CTRL_MME_SHIFT);
    }
    if (pci_config_changed(pc, offset, len, old, ctrl_reg, 2)) {
        changed |= PCI_CFG_CHANGED_MSI;
    }
    if ((pc->msi_flags & VFUD_MSI_MASKABLE) &&
        pci_config_changed(pc, offset, len, old, msi_mask_reg(pc), 4)) {
        changed |= PCI_CFG_CHANGED_MSI;
    }
    return changed;
}

bool pci_config_msi_enabled(const struct pci_config *pc)
{
    return pc->cap_msi != 0 &&
           (pci_cfg_get16(pc, pc->cap_msi + MSI_CTRL) & MSI_CTRL_ENABLE);
}

unsigned pci_config_msi_enabled_vectors(const struct pci_config *pc)
{
    if (pc->cap_msi == 0) {
        return 0;
    }
    return 1u << ((pci_cfg_get16(pc, pc->cap_msi + MSI_CTRL) & MSI_CTRL_MME) >>
                  MSI_CTRL_MME_SHIFT);
}

bool pci_config_msi_vector_masked(const struct pci_config *pc, unsigned v)
{
    if (pc->cap_msi == 0 || !(pc->msi_flags & VFUD_MSI_MASKABLE) ||
        v >= MSI_MAX_VECTORS) {
        return false;
    }
    return (pci_cfg_get32(pc, msi_mask_reg(pc)) >> v) & 1;
}

void pci_config_msi_set_pending(struct pci_config *pc, unsigned v,
                                bool pending)
{
    unsigned o;

    if (pc->cap_msi == 0 || !(pc->msi_flags & VFUD_MSI_MASKABLE) ||
        v >= pc->msi_vectors) {
        return;
    }
    o = msi_mask_reg(pc) + 4 + v / 8;
    if (pending) {
        pc->cfg[o] |= (uint8_t)(1u << (v % 8));
    } else {
        pc->cfg[o] &= (uint8_t)~(1u << (v % 8));
    }
}

/* ---- MSI-X ---- */

int pci_cap_add_msix(struct pci_config *pc, unsigned nr_vectors,
                     unsigned table_bar, uint32_t table_offset,
                     unsigned pba_bar, uint32_t pba_offset)
{
    unsigned o;
    int off = cap_check(pc, pc->cap_msix, "MSI-X");

    if (off < 0) {
        return off;
    }
    if (nr_vectors == 0 || nr_vectors > MSIX_MAX_VECTORS) {
        pci_config_set_error(pc, "MSI-X: %u vectors is not 1 to 2048",
                             nr_vectors);
        return -EINVAL;
    }
    if (table_bar >= PCI_NR_BARS || pba_bar >= PCI_NR_BARS) {
        pci_config_set_error(pc, "MSI-X: table and PBA must be in BARs 0-5");
        return -EINVAL;
    }
    /* The low 3 bits of each dword hold the BIR. */
    if ((table_offset | pba_offset) & 7) {
        pci_config_set_error(pc, "MSI-X: table offset %#" PRIx32 " and PBA "
                             "offset %#" PRIx32 " must be 8-byte aligned",
                             table_offset, pba_offset);
        return -EINVAL;
    }
    off = cap_place(pc, CAP_ID_MSIX, MSIX_SIZE, "MSI-X");
    if (off < 0) {
        return off;
    }
    o = (unsigned)off;
    pci_config_define(pc, o + MSIX_CTRL, 2, nr_vectors - 1,
                      MSIX_CTRL_MASKALL | MSIX_CTRL_ENABLE, 0);
    pci_config_define(pc, o + MSIX_TABLE, 4, table_offset | table_bar, 0, 0);
    pci_config_define(pc, o + MSIX_PBA, 4, pba_offset | pba_bar, 0, 0);
    pc->cap_msix = o;
    pc->msix_vectors = nr_vectors;
    pc->msix_table_bar = table_bar;
    pc->msix_table_offset = table_offset;
    pc->msix_pba_bar = pba_bar;
    pc->msix_pba_offset = pba_offset;
    return off;
}

static unsigned msix_write(struct pci_config *pc, unsigned offset, size_t len,
                           const uint8_t *old)
{
    if (pc->cap_msix == 0 ||
        !pci_config_changed(pc, offset, len, old, pc->cap_msix + MSIX_CTRL, 2)) {
        return 0;
    }
    return PCI_CFG_CHANGED_MSIX;
}

/* Does [offset, offset + size) lie in a memory BAR the device declared? */
static bool msix_in_bar(struct pci_config *pc, const char *what, unsigned bar,
                        uint64_t offset, uint64_t size)
{
    const struct pci_bar *b = &pc->bars[bar];

    if (b->size == 0 || (b->flags & VFUD_REGION_IO)) {
        pci_config_set_error(pc, "MSI-X %s is in BAR %u, which is not a "
                             "declared memory BAR", what, bar);
        return false;
    }
    if (offset + size > b->size) {
        pci_config_set_error(pc, "MSI-X %s [%#" PRIx64 ", %#" PRIx64 ") lies "
                             "outside BAR %u (size %#" PRIx64 ")", what,
                             offset, offset + size, bar, b->size);
        return false;
    }
    return true;
}

static int msix_finalize(struct pci_config *pc)
{
    uint64_t table = pc->msix_table_offset;
    uint64_t pba = pc->msix_pba_offset;
    uint64_t table_size = (uint64_t)MSIX_ENTRY_SIZE * pc->msix_vectors;
    uint64_t pba_size = 8 * (((uint64_t)pc->msix_vectors + 63) / 64);

    if (!msix_in_bar(pc, "table", pc->msix_table_bar, table, table_size) ||
        !msix_in_bar(pc, "PBA", pc->msix_pba_bar, pba, pba_size)) {
        return -EINVAL;
    }
    if (pc->msix_table_bar == pc->msix_pba_bar && table < pba + pba_size &&
        pba < table + table_size) {
        pci_config_set_error(pc, "MSI-X table [%#" PRIx64 ", %#" PRIx64 ") "
                             "and PBA [%#" PRIx64 ", %#" PRIx64 ") overlap",
                             table, table + table_size, pba, pba + pba_size);
        return -EINVAL;
    }
    return 0;
}

bool pci_config_msix_enabled(const struct pci_config *pc)
{
    return pc->cap_msix != 0 &&
           (pci_cfg_get16(pc, pc->cap_msix + MSIX_CTRL) & MSIX_CTRL_ENABLE);
}

bool pci_config_msix_function_masked(const struct pci_config *pc)
{
    return pc->cap_msix != 0 &&
           (pci_cfg_get16(pc, pc->cap_msix + MSIX_CTRL) & MSIX_CTRL_MASKALL);
}

/* ---- PCI Express ---- */

int pci_cap_add_express(struct pci_config *pc, unsigned flags)
{
    unsigned o;
    int off = cap_check(pc, pc->cap_exp, "PCI Express");

    if (off < 0) {
        return off;
    }
    if (pc->type != VFUD_PCI_EXPRESS) {
        pci_config_set_error(pc, "PCI Express capability on a conventional "
                             "PCI device");
        return -EINVAL;
    }
    if (flags & ~VFUD_PCIE_FLR) {
        pci_config_set_error(pc, "PCI Express: unknown flags %#x", flags);
        return -EINVAL;
    }
    off = cap_place(pc, CAP_ID_EXP, EXP_SIZE, "PCI Express");
    if (off < 0) {
        return off;
    }
    o = (unsigned)off;

    /* Everything not set below (slot and root registers, which an
     * endpoint does not have, and the status-2 registers) reads 0. */
    pci_config_define(pc, o + EXP_FLAGS, 2, EXP_FLAGS_VERSION2, 0, 0);
    /* MPS supported: 128 B (field 0); role-based error reporting is
     * mandatory since PCIe 1.1. */
    pci_config_define(pc, o + EXP_DEVCAP, 4,
                      EXP_DEVCAP_RBER |
                          (flags & VFUD_PCIE_FLR ? EXP_DEVCAP_FLR : 0),
                      0, 0);
    /* Initiate FLR (bit 15) is not in the write mask: it always reads 0
     * and a write of 1 is reported by exp_write(). */
    pci_config_define(pc, o + EXP_DEVCTL, 2, EXP_DEVCTL_DEFAULT,
                      EXP_DEVCTL_WMASK, 0);
    pci_config_define(pc, o + EXP_DEVSTA, 2, 0, 0, EXP_DEVSTA_W1C);
    pci_config_define(pc, o + EXP_LNKCAP, 4, EXP_LNKCAP_VALUE, 0, 0);
    pci_config_define(pc, o + EXP_LNKCTL, 2, 0, EXP_LNKCTL_WMASK, 0);
    pci_config_define(pc, o + EXP_LNKSTA, 2, EXP_LNKSTA_VALUE, 0, 0);
    pci_config_define(pc, o + EXP_DEVCAP2, 4, EXP_DEVCAP2_CTO_DISABLE, 0, 0);
    pci_config_define(pc, o + EXP_DEVCTL2, 2, 0, EXP_DEVCTL2_CTO_DISABLE, 0);
    pci_config_define(pc, o + EXP_LNKCAP2, 4, EXP_LNKCAP2_2_5GT, 0, 0);
    pci_config_define(pc, o + EXP_LNKCTL2, 2, EXP_LNKCTL2_2_5GT, 0, 0);
    pc->cap_exp = o;
    return off;
}

static unsigned exp_write(struct pci_config *pc, unsigned offset, size_t len,
                          const uint8_t *val)
{
    unsigned hi = pc->cap_exp + EXP_DEVCTL + 1; /* byte holding bit 15 */

    if (pc->cap_exp == 0 || !range_hits(offset, len, hi, 1) ||
        !(pci_cfg_get32(pc, pc->cap_exp + EXP_DEVCAP) & EXP_DEVCAP_FLR)) {
        return 0;
    }
    return (val[hi - offset] & (EXP_DEVCTL_FLR >> 8)) ? PCI_CFG_FLR_REQUESTED
                                                      : 0;
}

/* ---- Vendor specific ---- */

int pci_cap_add_vendor(struct pci_config *pc, const void *data, size_t len)
{
    const uint8_t *bytes = data;
    unsigned o;
    int off;

    if (pc->finalized) {
        pci_config_set_error(pc, "vendor capability added after finalize");
        return -EINVAL;
    }
    /* The length byte counts the whole capability, header included. */
    if (len > 0xff - VENDOR_HDR || (len > 0 && data == NULL)) {
        pci_config_set_error(pc, "vendor capability: %zu bytes of data (at "
                             "most %u)", len, 0xff - VENDOR_HDR);
        return -EINVAL;
    }
    off = cap_place(pc, CAP_ID_VENDOR, VENDOR_HDR + (unsigned)len, "vendor");
    if (off < 0) {
        return off;
    }
    o = (unsigned)off;
    pc->cfg[o + 2] = (uint8_t)(VENDOR_HDR + len);
    for (size_t i = 0; i < len; i++) {
        pc->cfg[o + VENDOR_HDR + i] = bytes[i];
    }
    return off;
}

/* ---- Device Serial Number ---- */

int pci_ext_cap_add_dsn(struct pci_config *pc, uint64_t serial)
{
    int off = cap_check(pc, pc->cap_dsn, "DSN");

    if (off == 0) {
        off = ext_cap_place(pc, EXT_CAP_ID_DSN, 1, DSN_SIZE, "DSN");
    }
    if (off < 0) {
        return off;
    }
    pci_config_define(pc, (unsigned)off + 4, 4, (uint32_t)serial, 0, 0);
    pci_config_define(pc, (unsigned)off + 8, 4, (uint32_t)(serial >> 32), 0, 0);
    pc->cap_dsn = (unsigned)off;
    return off;
}

/* ---- Shared with pci_config.c ---- */

unsigned pci_caps_write(struct pci_config *pc, unsigned offset, size_t len,
                        const uint8_t *old, const uint8_t *val)
{
    return pm_write(pc, offset, len, old) | msi_write(pc, offset, len, old) |
           msix_write(pc, offset, len, old) | exp_write(pc, offset, len, val);
}

int pci_caps_finalize(struct pci_config *pc)
{
    if (pc->type == VFUD_PCI_EXPRESS && pc->cap_exp == 0) {
        /* Without it, guests treat the function as conventional PCI and
         * never look past 0xff. */
        pci_config_set_error(pc, "a PCI Express device needs the PCI Express "
                             "capability");
        return -EINVAL;
    }
    if (pc->cap_msix != 0) {
        return msix_finalize(pc);
    }
    return 0;
}
