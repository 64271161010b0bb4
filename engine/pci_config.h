/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI configuration space emulation (vfio region 7).
 *
 * The daemon owns the authoritative copy.  Every byte has a write mask and a
 * write-1-to-clear mask, so guest writes to read-only bits are ignored rather
 * than failed (QEMU forwards nearly every config write), BAR sizing falls out
 * of the masks, and capabilities only declare which of their bits are
 * writable.  Nothing here knows about sockets or threads: callers serialise.
 */
#ifndef VFIOUSERD_PCI_CONFIG_H
#define VFIOUSERD_PCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

#define PCI_CFG_SIZE_CONVENTIONAL 256u
#define PCI_CFG_SIZE_EXPRESS 4096u
#define PCI_NR_BARS 6u
#define PCI_ROM_SLOT 6u /* index of the expansion ROM in bars[] */

/* What a write changed (pci_config_write's return value). */
#define PCI_CFG_CHANGED_COMMAND (1u << 0) /* command register */
#define PCI_CFG_CHANGED_BAR     (1u << 1) /* a BAR or the ROM BAR */
#define PCI_CFG_CHANGED_MSI     (1u << 2) /* MSI enable, MME or mask bits */
#define PCI_CFG_CHANGED_MSIX    (1u << 3) /* MSI-X enable or function mask */
#define PCI_CFG_CHANGED_PM      (1u << 4) /* PM power state */
#define PCI_CFG_FLR_REQUESTED   (1u << 5) /* PCIe Initiate FLR written as 1 */

struct pci_bar {
    uint64_t size;  /* 0: not implemented; else a power of two */
    unsigned flags; /* VFUD_REGION_IO / _64BIT / _PREFETCH */
};

struct pci_config {
    enum vfud_pci_type type;
    unsigned size; /* 256 or 4096 */
    uint8_t cfg[PCI_CFG_SIZE_EXPRESS];
    uint8_t wmask[PCI_CFG_SIZE_EXPRESS];   /* bits a write may change */
    uint8_t w1cmask[PCI_CFG_SIZE_EXPRESS]; /* bits a write of 1 clears */
    uint8_t used[PCI_CFG_SIZE_EXPRESS];    /* bytes owned by header/caps */
    uint8_t reset_cfg[PCI_CFG_SIZE_EXPRESS]; /* snapshot for reset */
    struct pci_bar bars[PCI_NR_BARS + 1];  /* BAR0-5 and ROM */

    /* Capability offsets (0 = absent) and their parameters. */
    unsigned cap_pm, cap_msi, cap_msix, cap_exp, cap_dsn;
    unsigned msi_vectors;  /* 1, 2, 4 ... 32 */
    unsigned msi_flags;    /* VFUD_MSI_* */
    unsigned msix_vectors; /* 1 .. 2048 */
    unsigned msix_table_bar, msix_pba_bar;
    uint32_t msix_table_offset, msix_pba_offset;

    unsigned last_cap;     /* offset of the last standard capability */
    unsigned last_ext_cap; /* offset of the last extended capability */
    unsigned next_free;    /* next free dword for a standard capability */
    unsigned next_ext_free;
    bool finalized;

    /* Why the last declaration call (set_bar, a cap add, finalize) failed,
     * for the caller's log message. */
    char error[128];
};

/* Header type 0 with the given identity; status has no capability bit yet.
 * For VFUD_PCI_EXPRESS the extended list starts empty (zero dword at 0x100). */
void pci_config_init(struct pci_config *pc, enum vfud_pci_type type,
                     const struct vfud_pci_id *id);

/* Declare a BAR (0-5) or the ROM (PCI_ROM_SLOT).  size must be a power of
 * two: memory 16 B .. 2 GiB (32-bit) or 2^63 (64-bit), I/O 4 .. 256 B (the
 * PCI limit per I/O BAR), ROM 2 KiB .. 2 GiB.  A 64-bit BAR uses bar and
 * bar+1 (bar 0-4); bar+1 cannot be declared on its own.  Only the
 * VFUD_REGION_IO/_64BIT/_PREFETCH bits of flags matter (read/write bits are
 * ignored, so region flags can be passed as they are).  Returns 0 or -EINVAL
 * (bad size or flags, slot taken, after finalize). */
int pci_config_set_bar(struct pci_config *pc, unsigned bar, uint64_t size,
                       unsigned flags);
/* Interrupt pin A when the device has INTx (before finalize). */
void pci_config_set_intx(struct pci_config *pc, bool has_intx);

/* Capabilities: each returns its offset or a negative errno (-ENOSPC when
 * the space is full, -EEXIST for a second one of a kind, -EINVAL for bad
 * parameters or after finalize).  Standard ones are packed dword aligned
 * from 0x40 in the order added; extended ones from 0x100.
 *
 * PM: version 3, D0 and D3hot only (writes of D1/D2 are discarded, as the
 *   spec asks), no PME, No_Soft_Reset set.
 * MSI: nr_vectors 1, 2, 4 .. 32; flags VFUD_MSI_*.  A Multiple Message
 *   Enable written above Multiple Message Capable is stored clamped to it.
 * MSI-X: nr_vectors 1 .. 2048; BIRs 0-5, offsets 8-byte aligned; the BARs
 *   are checked at finalize (they may be declared later).
 * Express: v2 endpoint capability (0x3c bytes), x1 at 2.5 GT/s, MPS 128 B,
 *   flags VFUD_PCIE_*; VFUD_PCI_EXPRESS devices only.
 * Vendor: id, next, length byte (3 + len, the whole capability), then data;
 *   len <= 252.
 * DSN: extended capability 0x0003 v1, VFUD_PCI_EXPRESS devices only. */
int pci_cap_add_pm(struct pci_config *pc);
int pci_cap_add_msi(struct pci_config *pc, unsigned nr_vectors, unsigned flags);
int pci_cap_add_msix(struct pci_config *pc, unsigned nr_vectors,
                     unsigned table_bar, uint32_t table_offset,
                     unsigned pba_bar, uint32_t pba_offset);
int pci_cap_add_express(struct pci_config *pc, unsigned flags);
int pci_cap_add_vendor(struct pci_config *pc, const void *data, size_t len);
int pci_ext_cap_add_dsn(struct pci_config *pc, uint64_t serial);

/* End of declaration: checks consistency (MSI-X table and PBA inside
 * memory BARs that exist and not overlapping; a VFUD_PCI_EXPRESS device has
 * the Express capability), takes the reset snapshot.  0 or -EINVAL (also
 * when called twice). */
int pci_config_finalize(struct pci_config *pc);

/* Back to the power-on values taken at finalize (BARs, command, enables,
 * D0).  Does nothing before finalize. */
void pci_config_reset(struct pci_config *pc);

/* Access at any offset and length with offset + len <= pc->size (the caller
 * checked).  Writes apply the masks and return PCI_CFG_CHANGED_* bits for
 * every register whose value changed (and PCI_CFG_FLR_REQUESTED when
 * Initiate FLR was written as 1 on a device advertising FLR); writes to
 * read-only bits are dropped silently. */
void pci_config_read(const struct pci_config *pc, unsigned offset, void *buf,
                     size_t len);
unsigned pci_config_write(struct pci_config *pc, unsigned offset,
                          const void *buf, size_t len);

/* Decoded state, for IRQ routing and DMA. */
uint16_t pci_config_command(const struct pci_config *pc);
bool pci_config_bus_master(const struct pci_config *pc);
bool pci_config_intx_disabled(const struct pci_config *pc);
bool pci_config_msi_enabled(const struct pci_config *pc);
/* 1 << Multiple Message Enable, whether or not MSI is enabled; 0 without
 * an MSI capability. */
unsigned pci_config_msi_enabled_vectors(const struct pci_config *pc);
/* False without per-vector masking or for v >= 32. */
bool pci_config_msi_vector_masked(const struct pci_config *pc, unsigned v);
bool pci_config_msix_enabled(const struct pci_config *pc);
bool pci_config_msix_function_masked(const struct pci_config *pc);
/* PMCSR PowerState: 0 (D0) or 3 (D3hot); 0 without a PM capability. */
unsigned pci_config_pm_state(const struct pci_config *pc);

/* Device-side state the guest reads but cannot write.  Status bit 3
 * (Interrupt Status): the function asserts INTx. */
void pci_config_set_intx_status(struct pci_config *pc, bool asserted);
/* MSI Pending Bits (per-vector masking only; ignored otherwise or for
 * v >= nr_vectors). */
void pci_config_msi_set_pending(struct pci_config *pc, unsigned v,
                                bool pending);

/* Little-endian helpers on the config bytes. */
static inline uint16_t pci_cfg_get16(const struct pci_config *pc, unsigned o)
{
    return (uint16_t)(pc->cfg[o] | pc->cfg[o + 1] << 8);
}
static inline uint32_t pci_cfg_get32(const struct pci_config *pc, unsigned o)
{
    return (uint32_t)pc->cfg[o] | (uint32_t)pc->cfg[o + 1] << 8 |
           (uint32_t)pc->cfg[o + 2] << 16 | (uint32_t)pc->cfg[o + 3] << 24;
}

/* ---- Between pci_config.c and pci_caps.c only ---- */

#define PCI_CFG_STATUS 0x06
#define PCI_CFG_STATUS_CAP_LIST 0x0010
#define PCI_CFG_CAP_PTR 0x34
#define PCI_CFG_EXT_CAP_START 0x100

/* Define n (1, 2 or 4) bytes at o: value, write mask and W1C mask, all
 * little-endian; marks the bytes used. */
void pci_config_define(struct pci_config *pc, unsigned o, unsigned n,
                       uint32_t value, uint32_t wmask, uint32_t w1cmask);
/* Define n bytes at o as used, read-only and zero (reserved fields). */
void pci_config_define_zero(struct pci_config *pc, unsigned o, unsigned n);
void pci_config_set_error(struct pci_config *pc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Did any byte of [reg, reg + n) inside the written range [offset,
 * offset + len) change from old[] (the bytes before the write)? */
bool pci_config_changed(const struct pci_config *pc, unsigned offset,
                        size_t len, const uint8_t *old, unsigned reg,
                        unsigned n);
/* After the masks were applied to [offset, offset + len): capability side
 * effects; returns PCI_CFG_* bits. */
unsigned pci_caps_write(struct pci_config *pc, unsigned offset, size_t len,
                        const uint8_t *old, const uint8_t *val);
/* Capability part of pci_config_finalize: 0 or -EINVAL (error set). */
int pci_caps_finalize(struct pci_config *pc);

#endif
