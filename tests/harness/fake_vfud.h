/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake daemon for plugin unit tests: implements every function of
 * <vfiouserd/plugin.h>, loads a plugin .so with dlopen(RTLD_NOW) and lets a
 * test act as the daemon (config, realize, region accesses, resets, DMA
 * unmaps, migration) and as the guest (memory, interrupts).  What the
 * plugin declares and does is recorded for the test to look at.
 *
 * It follows plugin.h and the daemon where a plugin could tell the
 * difference: declarations only from realize() (-EBUSY elsewhere), the
 * daemon's BAR and MSI-X layout checks, region accesses checked against
 * the region's size and flags, vfud_submit() jobs on one worker thread in
 * order, vfud_defer() work run after the "message" that queued it, reset
 * followed by a drain of the jobs, -EDEADLK for DMA by message on the
 * device thread.  It does not emulate config space or the MSI-X table:
 * every access to a region reaches the plugin unless it falls in the
 * region's mmap areas.
 *
 * The device thread: the test's thread plays it while it calls a fake_*
 * function that runs a device-thread callback (attach, detach, reset,
 * region access, dma_unmap, migration, watches, deferred work).
 *
 * Guest memory is a set of "DMA windows" the test maps at chosen IOVAs.  A
 * window can be fd-backed (vfud_dma_sgl_get hands out pointers) or
 * message-only (sgl_get says -EREMOTE; vfud_dma_read/write still work, as
 * they would through DMA_READ/DMA_WRITE messages, but not on the device
 * thread).  Counters are safe to read from any thread.
 *
 * Plugin log lines of LOG_WARNING and worse go to stderr; with
 * FAKE_VFUD_VERBOSE set in the environment, all of them and every
 * vfud_error() too (vfud_debug_enabled() is then true).
 * fake_dev_set_log_level() moves the line.
 *
 * The test program must export the vfud_* symbols to the plugin: link it
 * with $(FAKE_VFUD_LINKFLAGS) (see tests/harness/local.mk).
 */
#ifndef FAKE_VFUD_H
#define FAKE_VFUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

#define FAKE_MAX_WINDOWS 8
#define FAKE_MAX_VECTORS 2048
#define FAKE_MAX_CAPS    16
/* Extended capability ids in fake_caps(), beside the standard ones. */
#define FAKE_EXT_CAP(id) (0x10000u | (id))

/* ---- device life ---- */
vfud_dev *fake_dev_new(const char *name);
/* dlopen() the plugin (RTLD_NOW: every symbol it uses must exist), call its
 * registration function, check the struct as the daemon does, call load().
 * 0 or -errno; fake_dev_last_error() says why. */
int fake_dev_load(vfud_dev *dev, const char *so_path);
/* Use a plugin struct linked into the test instead. */
void fake_dev_set_plugin(vfud_dev *dev, struct vfud_plugin *plugin);
struct vfud_plugin *fake_dev_plugin(vfud_dev *dev);
/* create() runs before the first config()/config_complete()/realize(). */
int fake_dev_config(vfud_dev *dev, const char *key, const char *value);
/* config_complete(); fake_dev_realize() runs it unless it succeeded here. */
int fake_dev_config_complete(vfud_dev *dev);
/* config() for each key, value pair up to a NULL key, then
 * config_complete(); stops at the first failure. */
int fake_dev_configure(vfud_dev *dev, ...);
/* config_complete (if not done) + realize + the daemon's checks of what
 * realize declared + start; -EEXIST if realized already. */
int fake_dev_realize(vfud_dev *dev);
void fake_dev_attach(vfud_dev *dev);
/* The client went away: drain the jobs, unmap every window (dma_unmap for
 * each), then detach() if attached. */
void fake_dev_detach(vfud_dev *dev);
/* reset(), drain the jobs, then (on success) lower INTx as the daemon's
 * interrupt reset does. */
int fake_dev_reset(vfud_dev *dev, enum vfud_reset_reason why);
/* detach if attached, run deferred work, stop the worker, destroy, unmap
 * everything, unload() + dlclose; dev is freed.  NULL is fine. */
void fake_dev_free(vfud_dev *dev);
/* The last vfud_error() text, or the fake's own reason for a refusal
 * ("" if none). */
const char *fake_dev_last_error(vfud_dev *dev);
/* Plugin log lines above level (LOG_*) are dropped; -1 drops them all (a
 * fuzzer's hostile guest makes the plugin complain at every step). */
void fake_dev_set_log_level(vfud_dev *dev, int level);

/* ---- migration, as the daemon drives it ---- */
/* quiesce(stop) if the plugin has it; stopping also drains the jobs. */
int fake_dev_quiesce(vfud_dev *dev, bool stop);
/* save_state() into a new buffer: *data (free() it) and *len.  -ENOTSUP
 * without save_state; the stream may hold 256 MiB, as the daemon's. */
int fake_dev_save_state(vfud_dev *dev, void **data, size_t *len);
/* load_state(); versions 0 and above state_version are refused (-EINVAL)
 * before the plugin sees them, as the daemon does. */
int fake_dev_load_state(vfud_dev *dev, uint32_t version, const void *data,
                        size_t len);

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
/* DMA accesses served "by message" so far, and those refused with
 * -EDEADLK because they were asked for on the device thread. */
unsigned long fake_dma_messages(vfud_dev *dev);
unsigned long fake_dma_deadlocks(vfud_dev *dev);

/* ---- regions, as the daemon would forward guest accesses ---- */
/* -EINVAL for an access outside the region or against its flags, as the
 * daemon answers without asking the plugin. */
int fake_region_read(vfud_dev *dev, unsigned region, uint64_t off, void *buf,
                     size_t len);
int fake_region_write(vfud_dev *dev, unsigned region, uint64_t off,
                      const void *buf, size_t len);
/* Shorthands that ignore errors (a failed read gives all ones). */
uint8_t fake_read8(vfud_dev *dev, unsigned region, uint64_t off);
uint32_t fake_read32(vfud_dev *dev, unsigned region, uint64_t off);
uint64_t fake_read64(vfud_dev *dev, unsigned region, uint64_t off);
void fake_write8(vfud_dev *dev, unsigned region, uint64_t off, uint8_t v);
void fake_write32(vfud_dev *dev, unsigned region, uint64_t off, uint32_t v);
void fake_write64(vfud_dev *dev, unsigned region, uint64_t off, uint64_t v);
/* Declared region: size, flags, shared memory (NULL if none), areas. */
uint64_t fake_region_size(vfud_dev *dev, unsigned region);
unsigned fake_region_flags(vfud_dev *dev, unsigned region);
void *fake_region_mem(vfud_dev *dev, unsigned region);
/* Copies up to max areas; returns how many the region has. */
unsigned fake_region_areas(vfud_dev *dev, unsigned region,
                           struct vfud_mmap_area *areas, unsigned max);

/* ---- PCI identity and capabilities recorded at realize ---- */
/* NULL until realize called vfud_pci_init(). */
const struct vfud_pci_id *fake_pci_id(vfud_dev *dev);
enum vfud_pci_type fake_pci_type(vfud_dev *dev);
unsigned fake_msix_vectors(vfud_dev *dev);
/* "pm", "msi", "msix", "express", "vendor", "dsn" */
bool fake_has_cap(vfud_dev *dev, const char *which);
/* Capability ids (0x01 PM, 0x05 MSI, 0x09 vendor, 0x10 PCIe, 0x11 MSI-X,
 * FAKE_EXT_CAP(0x03) DSN) in the order realize added them: copies up to
 * max, returns how many there are. */
unsigned fake_caps(vfud_dev *dev, unsigned *ids, unsigned max);
/* vfud_irq_setup() count of INTx, ERR or REQ. */
unsigned fake_irq_count_setup(vfud_dev *dev, enum vfud_irq_type type);

/* ---- interrupts ---- */
/* What the guest enabled, which vfud_irq_trigger() raises: VFUD_IRQ_MSIX,
 * VFUD_IRQ_MSI, VFUD_IRQ_INTX, or VFUD_NR_IRQ_TYPES for nothing (triggers
 * then fail with -ENOTCONN).  Until set: MSI-X if the device has the
 * capability, else MSI if it has that, else INTx if set up, else nothing. */
void fake_irq_set_mode(vfud_dev *dev, enum vfud_irq_type mode);
/* Successful vfud_irq_trigger(vector) calls; INTx counts as vector 0. */
unsigned fake_irq_count(vfud_dev *dev, unsigned vector);
/* Wait until vector's count exceeds `than`; false on timeout. */
bool fake_irq_wait(vfud_dev *dev, unsigned vector, unsigned than,
                   unsigned timeout_ms);
/* INTx: the line's level (raised by a trigger in INTx mode, lowered by
 * vfud_intx_deassert() and fake_dev_reset()), and deassert calls. */
bool fake_intx_level(vfud_dev *dev);
unsigned fake_intx_deasserts(vfud_dev *dev);
/* Successful vfud_irq_signal(type) calls (ERR or REQ). */
unsigned fake_irq_signals(vfud_dev *dev, enum vfud_irq_type type);

/* ---- watches ---- */
/* One turn of the device's main loop: wait up to timeout_ms (0: not at
 * all, -1: without limit) until an fd watch is ready or a timer is due,
 * then run the ready fd watches, the due timers and deferred work.
 * Returns how many watches ran. */
int fake_dev_run_watches(vfud_dev *dev, int timeout_ms);
/* Watches the plugin has (fd and timer). */
unsigned fake_watch_count(vfud_dev *dev);

/* ---- what every plugin test starts with ---- */
/* fake_dev_new + fake_dev_load; NULL (the reason on stderr) on failure. */
vfud_dev *fake_dev_new_loaded(const char *name, const char *so_path);
/* A scratch directory per test, as a Check fixture:
 * tcase_add_checked_fixture(tc, fake_tmpdir_setup, fake_tmpdir_teardown)
 * makes /tmp/<program>.XXXXXX before each test and deletes it and all it
 * holds after; fake_tmpdir() is its path. */
void fake_tmpdir_setup(void);
void fake_tmpdir_teardown(void);
const char *fake_tmpdir(void);
/* A plugin's input and output files (gpio's input-file/output-file): the
 * whole of path into buf, NUL-terminated; text written to path (a FIFO the
 * plugin reads, opened without blocking).  Failures fail the test. */
void fake_read_text(const char *path, char *buf, size_t size);
void fake_write_text(const char *path, const char *text);

#endif
