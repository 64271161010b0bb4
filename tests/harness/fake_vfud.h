/*
 * A fake daemon for plugin unit tests: implements every function of
 * <vfiouserd/plugin.h> in a simple, inspectable way, loads a plugin .so with
 * dlopen() and lets a test act as the daemon (config, realize, region
 * accesses, resets, DMA unmaps) and as the guest (memory, interrupts).
 *
 * Guest memory is a set of "DMA windows" the test maps at chosen IOVAs.  A
 * window can be fd-backed (vfud_dma_sg_get hands out pointers) or
 * message-only (sg_get says -EREMOTE; vfud_dma_read/write still work, as
 * they would through DMA_READ/DMA_WRITE messages).  vfud_defer() and
 * vfud_submit() run the work inline; watches are recorded and run only by
 * fake_dev_run_watches().  All counters are safe to read from any thread.
 *
 * The test program must export the vfud_* symbols to the plugin: link it
 * with -Wl,--dynamic-list=daemon/plugin-api.dynlist (see tests/nvme/local.mk).
 */
#ifndef FAKE_VFUD_H
#define FAKE_VFUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

#define FAKE_MAX_WINDOWS 8
#define FAKE_MAX_VECTORS 2048

/* ---- device life ---- */
vfud_dev *fake_dev_new(const char *name);
/* dlopen() the plugin and call its registration function; 0 or -errno. */
int fake_dev_load(vfud_dev *dev, const char *so_path);
/* Use a plugin struct linked into the test instead. */
void fake_dev_set_plugin(vfud_dev *dev, struct vfud_plugin *plugin);
struct vfud_plugin *fake_dev_plugin(vfud_dev *dev);
/* create() is called on the first config()/realize() if not yet done. */
int fake_dev_config(vfud_dev *dev, const char *key, const char *value);
/* config_complete + realize + start */
int fake_dev_realize(vfud_dev *dev);
void fake_dev_attach(vfud_dev *dev);
void fake_dev_detach(vfud_dev *dev);
int fake_dev_reset(vfud_dev *dev, enum vfud_reset_reason why);
/* destroy + unmap every window + dlclose; dev is freed. */
void fake_dev_free(vfud_dev *dev);
const char *fake_dev_last_error(vfud_dev *dev);

/* ---- guest memory ---- */
/* Map a window of size bytes at iova; returns its host address. */
void *fake_dma_map(vfud_dev *dev, uint64_t iova, size_t size,
                   bool message_only);
/* Same, with the window's initial contents (size bytes from init), copied
 * before the plugin can see the window: memory that was there all along,
 * as guest RAM is when a client maps it again. */
void *fake_dma_map_copy(vfud_dev *dev, uint64_t iova, size_t size,
                        bool message_only, const void *init);
/* Like DMA_UNMAP: calls the plugin's dma_unmap, then checks that no
 * vfud_sg reference to the window is left; returns the references that
 * were still held (0 is the correct answer). */
int fake_dma_unmap(vfud_dev *dev, uint64_t iova);
/* Host pointer for [iova, iova+len) if it lies in one window, else NULL. */
void *fake_gpa(vfud_dev *dev, uint64_t iova, size_t len);
void fake_set_bus_master(vfud_dev *dev, bool on);
/* Outstanding vfud_sg references (all windows). */
int fake_sg_refs(vfud_dev *dev);
/* DMA accesses served "by message" so far. */
unsigned long fake_dma_messages(vfud_dev *dev);

/* ---- regions, as the daemon would forward guest accesses ---- */
int fake_region_read(vfud_dev *dev, unsigned region, uint64_t off, void *buf,
                     size_t len);
int fake_region_write(vfud_dev *dev, unsigned region, uint64_t off,
                      const void *buf, size_t len);
uint32_t fake_read32(vfud_dev *dev, unsigned region, uint64_t off);
uint64_t fake_read64(vfud_dev *dev, unsigned region, uint64_t off);
void fake_write32(vfud_dev *dev, unsigned region, uint64_t off, uint32_t v);
void fake_write64(vfud_dev *dev, unsigned region, uint64_t off, uint64_t v);
/* Declared region: size, flags, shared memory (NULL if none), areas. */
uint64_t fake_region_size(vfud_dev *dev, unsigned region);
unsigned fake_region_flags(vfud_dev *dev, unsigned region);
void *fake_region_mem(vfud_dev *dev, unsigned region);
unsigned fake_region_areas(vfud_dev *dev, unsigned region,
                           struct vfud_mmap_area *areas, unsigned max);

/* ---- PCI identity and capabilities recorded at realize ---- */
const struct vfud_pci_id *fake_pci_id(vfud_dev *dev);
enum vfud_pci_type fake_pci_type(vfud_dev *dev);
unsigned fake_msix_vectors(vfud_dev *dev);
bool fake_has_cap(vfud_dev *dev, const char *which); /* "pm", "msi", "msix", "express", "dsn" */
unsigned fake_irq_count_setup(vfud_dev *dev, enum vfud_irq_type type);

/* ---- interrupts ---- */
unsigned fake_irq_count(vfud_dev *dev, unsigned vector);
/* Wait until vector's count exceeds `than`; false on timeout. */
bool fake_irq_wait(vfud_dev *dev, unsigned vector, unsigned than,
                   unsigned timeout_ms);
unsigned fake_intx_deasserts(vfud_dev *dev);

/* ---- watches ---- */
/* Poll the recorded fd watches once (timeout in ms) and fire due timers. */
int fake_dev_run_watches(vfud_dev *dev, int timeout_ms);

#endif
