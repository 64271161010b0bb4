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
};

/* Header type 0 with the given identity; status has no capability bit yet. */
void pci_config_init(struct pci_config *pc, enum vfud_pci_type type,
                     const struct vfud_pci_id *id);

/* Declare a BAR (0-5) or the ROM (PCI_ROM_SLOT).  size must be a power of
 * two (>= 16 for memory, >= 4 for I/O, >= 2 KiB for the ROM); a 64-bit BAR
 * uses bar and bar+1.  Returns 0 or -EINVAL. */
int pci_config_set_bar(struct pci_config *pc, unsigned bar, uint64_t size,
                       unsigned flags);
/* Interrupt pin A when the device has INTx. */
void pci_config_set_intx(struct pci_config *pc, bool has_intx);

/* Capabilities: each returns its offset or a negative errno (-ENOSPC when
 * the space is full, -EEXIST for a second one of a kind, -EINVAL). */
int pci_cap_add_pm(struct pci_config *pc);
int pci_cap_add_msi(struct pci_config *pc, unsigned nr_vectors, unsigned flags);
int pci_cap_add_msix(struct pci_config *pc, unsigned nr_vectors,
                     unsigned table_bar, uint32_t table_offset,
                     unsigned pba_bar, uint32_t pba_offset);
int pci_cap_add_express(struct pci_config *pc, unsigned flags);
int pci_cap_add_vendor(struct pci_config *pc, const void *data, size_t len);
int pci_ext_cap_add_dsn(struct pci_config *pc, uint64_t serial);

/* End of declaration: checks consistency (e.g. MSI-X table inside a BAR
 * that exists), takes the reset snapshot.  0 or -EINVAL. */
int pci_config_finalize(struct pci_config *pc);

/* Back to the power-on values taken at finalize (BARs, command, enables). */
void pci_config_reset(struct pci_config *pc);

/* Access at any offset and length with offset + len <= pc->size (the caller
 * checked).  Writes apply the masks and return PCI_CFG_CHANGED_* bits. */
void pci_config_read(const struct pci_config *pc, unsigned offset, void *buf,
                     size_t len);
unsigned pci_config_write(struct pci_config *pc, unsigned offset,
                          const void *buf, size_t len);

/* Decoded state, for IRQ routing and DMA. */
uint16_t pci_config_command(const struct pci_config *pc);
bool pci_config_bus_master(const struct pci_config *pc);
bool pci_config_intx_disabled(const struct pci_config *pc);
bool pci_config_msi_enabled(const struct pci_config *pc);
unsigned pci_config_msi_enabled_vectors(const struct pci_config *pc); /* MME */
bool pci_config_msi_vector_masked(const struct pci_config *pc, unsigned v);
bool pci_config_msix_enabled(const struct pci_config *pc);
bool pci_config_msix_function_masked(const struct pci_config *pc);

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

#endif
