/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserd plugin API — the only header a device-model plugin includes.
 *
 * A plugin is a shared object that defines one struct vfud_plugin and
 * registers it with VFUD_REGISTER_PLUGIN().  The daemon dlopen()s it, copies
 * min(sizeof(struct vfud_plugin), _struct_size) bytes of the struct and zeroes
 * the rest, so a plugin built against an older header keeps loading: new
 * fields are only ever appended.
 *
 * How the API evolves (nbdkit's scheme):
 *   - a new callback or function is appended; the version stays;
 *   - when the meaning of a field or function changes, VFUD_API_VERSION goes
 *     up, the old field keeps its place under a new name ending in _v<N>, an
 *     old function stays exported by the daemon under its old name, and the
 *     header declares only the new ones;
 *   - the daemon loads every version from VFUD_API_VERSION_MIN to its own
 *     and serves each plugin the meaning its version had; it refuses newer
 *     ones, which may rely on things it lacks.
 * Version history:
 *   1  the first;
 *   2  the scatter-gather entry is opaque (its size is the daemon's business):
 *      vfud_dma_sgl_get/put and vfud_sg_alloc replace version 1's
 *      vfud_dma_sg_get/put on a plugin-visible struct vfud_sg.
 *
 * Lifecycle (see vfiouserd-plugin(3) for the diagram):
 *
 *   load()                           once per process, first device using it
 *   per configured device:
 *     create(dev)                    allocate instance state (optional)
 *     config(dev, key, value) ...    one call per plugin key in the section
 *     config_complete(dev)           cross-key validation (optional)
 *     realize(dev)                   declare PCI identity, regions, IRQs;
 *                                    the last place to fail visibly
 *     start(dev)                     socket is listening; threads may start
 *     attach(dev) / detach(dev)      a client connected / went away
 *     reset(dev, why)                DEVICE_RESET, FLR, lost connection
 *     destroy(dev)                   free instance state
 *   unload()                         once, at exit
 *
 * Threads: every callback of one device runs on that device's own thread,
 * one at a time, so a plugin needs no locking against itself unless it starts
 * threads of its own.  Functions marked "any thread" below may be called from
 * plugin threads too.
 *
 * Errors: callbacks return 0 on success or a negative errno (-EINVAL, ...).
 * Call vfud_error() first to say why; the daemon logs that reason with the
 * device name and context (config file and line, the command being served).
 */
#ifndef VFIOUSERD_PLUGIN_H
#define VFIOUSERD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header describes, and the oldest the daemon still loads. */
#define VFUD_API_VERSION 2
#define VFUD_API_VERSION_MIN 1

#if defined(__GNUC__)
#define VFUD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VFUD_EXPORT __attribute__((visibility("default")))
#else
#define VFUD_PRINTF(f, a)
#define VFUD_EXPORT
#endif

/* One configured device: opaque, owned by the daemon. */
typedef struct vfud_dev vfud_dev;
/* Where save_state() writes the device's migration state. */
typedef struct vfud_mig_stream vfud_mig_stream;

/* ------------------------------------------------------------------------
 * Regions (vfio region indices of a PCI device)
 */
enum vfud_region_index {
    VFUD_REGION_BAR0 = 0,
    VFUD_REGION_BAR1,
    VFUD_REGION_BAR2,
    VFUD_REGION_BAR3,
    VFUD_REGION_BAR4,
    VFUD_REGION_BAR5,
    VFUD_REGION_ROM,     /* expansion ROM: read-only */
    VFUD_REGION_CONFIG,  /* emulated by the daemon; plugins cannot add it */
    VFUD_REGION_VGA,
    VFUD_NR_REGIONS
};

#define VFUD_REGION_READ     (1u << 0)
#define VFUD_REGION_WRITE    (1u << 1)
#define VFUD_REGION_RW       (VFUD_REGION_READ | VFUD_REGION_WRITE)
#define VFUD_REGION_IO       (1u << 2) /* I/O-space BAR (default: memory) */
#define VFUD_REGION_64BIT    (1u << 3) /* 64-bit memory BAR: uses index+1 too */
#define VFUD_REGION_PREFETCH (1u << 4)

/* Part of a region that the client may mmap. */
struct vfud_mmap_area {
    uint64_t offset; /* from the start of the region, page aligned */
    uint64_t size;   /* page multiple */
};

/* ------------------------------------------------------------------------
 * PCI identity and capabilities
 */
enum vfud_pci_type {
    VFUD_PCI_CONVENTIONAL = 0, /* 256-byte config space */
    VFUD_PCI_EXPRESS = 1,      /* 4 KiB config space, PCIe capability */
};

struct vfud_pci_id {
    uint16_t vendor_id;
    uint16_t device_id;
    uint16_t subsys_vendor_id;
    uint16_t subsys_id;
    uint32_t class_code; /* base << 16 | sub-class << 8 | prog-if */
    uint8_t revision;
};

#define VFUD_MSI_64BIT    (1u << 0)
#define VFUD_MSI_MASKABLE (1u << 1) /* per-vector masking */

#define VFUD_PCIE_FLR (1u << 0) /* advertise Function Level Reset */

/* ------------------------------------------------------------------------
 * Interrupts
 */
enum vfud_irq_type {
    VFUD_IRQ_INTX = 0,
    VFUD_IRQ_MSI,
    VFUD_IRQ_MSIX,
    VFUD_IRQ_ERR,
    VFUD_IRQ_REQ,
    VFUD_NR_IRQ_TYPES
};

/* ------------------------------------------------------------------------
 * DMA (guest memory)
 */
#define VFUD_DMA_READ  (1u << 0) /* the device reads guest memory */
#define VFUD_DMA_WRITE (1u << 1) /* the device writes guest memory */

/* Scatter-gather entries: each holds a reference on the DMA window that one
 * piece of guest memory mapped into the daemon belongs to.  Opaque: the
 * plugin keeps arrays of them (vfud_sg_alloc(), or its own memory of
 * n * vfud_sg_size() bytes) and reads the host addresses from the iovecs
 * vfud_dma_sgl_get() fills beside them. */
typedef struct vfud_sg vfud_sg;

/* ------------------------------------------------------------------------
 * Reset reasons
 */
enum vfud_reset_reason {
    VFUD_RESET_DEVICE = 0, /* the client sent DEVICE_RESET */
    VFUD_RESET_FLR,        /* the guest started a Function Level Reset */
    /* The daemon crashed and was restarted: the client's connection was
     * re-attached but the device's state is lost.  Reset, and make the
     * guest's driver notice and recover (NVMe: CSTS.CFS). */
    VFUD_RESET_LOST,
};

/* ------------------------------------------------------------------------
 * Watches (fds and timers run on the device's thread)
 */
typedef struct vfud_watch vfud_watch;

#define VFUD_EV_IN  (1u << 0)
#define VFUD_EV_OUT (1u << 1)
#define VFUD_EV_ERR (1u << 2) /* error or hang-up; always reported */

/* Return true to keep the watch, false to remove it. */
typedef bool (*vfud_fd_fn)(vfud_dev *dev, int fd, unsigned revents, void *opaque);
typedef bool (*vfud_timer_fn)(vfud_dev *dev, void *opaque);
typedef void (*vfud_work_fn)(vfud_dev *dev, void *opaque);

/* ------------------------------------------------------------------------
 * Configuration keys, for --dump-plugin and key validation.
 * A name may contain '*' and '?' wildcards ("namespace.*.path").
 * If a plugin gives no table, every key goes to config() unchecked.
 */
struct vfud_config_key {
    const char *name;
    const char *help;
};

/* I/O counters a storage-like device reports for operators ("vfiouserctl
 * stats DEVICE"), filled by the io_stats callback.  Fields are only ever
 * appended; _struct_size (set by the daemon) says how many it has. */
#define VFUD_LAT_BUCKETS 32
struct vfud_io_stats {
    uint32_t _struct_size;
    uint32_t queue_depth;             /* commands in flight now */
    uint64_t reads, writes, others;   /* commands completed, by kind */
    uint64_t bytes_read, bytes_written;
    uint64_t errors;                  /* completed with an error status */
    /* Completion latency: lat[i] counts commands that took [2^i, 2^(i+1))
     * ns (lat[0] also those under 1 ns, the last one everything longer). */
    uint64_t lat[VFUD_LAT_BUCKETS];
};

/* ------------------------------------------------------------------------
 * The plugin
 */
struct vfud_plugin {
    /* Set by VFUD_REGISTER_PLUGIN; the plugin does not touch these. */
    uint64_t _struct_size;
    int _api_version;
    int _reserved;

    const char *name;        /* required: [a-z0-9_-], as in the config */
    const char *version;     /* plugin version string */
    const char *description; /* one line */
    const struct vfud_config_key *config_keys; /* ended by { NULL, NULL } */

    /* Process-wide, optional. */
    int (*load)(void);
    void (*unload)(void);

    /* Per device instance. */
    int (*create)(vfud_dev *dev);
    int (*config)(vfud_dev *dev, const char *key, const char *value);
    int (*config_complete)(vfud_dev *dev);
    int (*realize)(vfud_dev *dev); /* required */
    int (*start)(vfud_dev *dev);
    void (*destroy)(vfud_dev *dev);

    /* A client has negotiated VERSION / has gone away.  When detach runs,
     * every DMA window is gone (dma_unmap was called for each) and the IRQ
     * eventfds are closed.  Device state is kept: the next client (QEMU
     * after a restart, say) finds the device as the last one left it. */
    void (*attach)(vfud_dev *dev);
    void (*detach)(vfud_dev *dev);

    /* Return the device to its power-on state, aborting work in flight
     * (the daemon then waits for vfud_submit() jobs to end).  DMA windows
     * stay mapped; the daemon resets config space and interrupt state. */
    int (*reset)(vfud_dev *dev, enum vfud_reset_reason why);

    /* Accesses to trapped parts of BARs, ROM and VGA.  len is 1..1 MiB and
     * offset + len lies inside the region.  Required if the device has a
     * region with trapped parts. */
    int (*region_read)(vfud_dev *dev, unsigned region, uint64_t offset,
                       void *buf, size_t len);
    int (*region_write)(vfud_dev *dev, unsigned region, uint64_t offset,
                        const void *buf, size_t len);

    /* A DMA window is going away: it has already left the daemon's table
     * (a new vfud_dma_sgl_get() or vfud_dma_read/write on it fails), so drop
     * every pointer obtained for [iova, iova + len) and return; the daemon
     * then waits (up to 2 s) for vfud_sg references still held. */
    void (*dma_unmap)(vfud_dev *dev, uint64_t iova, uint64_t len);

    /* A config-space write the daemon emulated (after it took effect), for
     * devices that react to command-register or capability changes. */
    void (*config_written)(vfud_dev *dev, unsigned offset, unsigned len);

    /* ---- Migration (optional) ----
     * A plugin with save_state and load_state can be migrated: the daemon moves its own
     * part of the device (config space, interrupt state) and calls these
     * for the plugin's.  All run on the device thread. */

    /* Version of the state format save_state() writes (1 or more).  A stream
     * from an older version must still load; a newer one is refused. */
    uint32_t state_version;
    /* Stop (stop = true) or resume the device.  While stopped it starts no
     * DMA, raises no interrupt and changes no state the guest can see;
     * region callbacks still arrive and must answer from that state.
     * Optional: without it the daemon only drains vfud_submit() jobs. */
    int (*quiesce)(vfud_dev *dev, bool stop);
    /* Write the device's state with vfud_mig_write(); the device is
     * stopped. */
    int (*save_state)(vfud_dev *dev, vfud_mig_stream *out);
    /* Replace the device's state with what save_state() of format `version`
     * wrote (version <= state_version: the daemon refuses newer streams).
     * On failure change nothing (return -EINVAL, say why with vfud_error);
     * the device is stopped. */
    int (*load_state)(vfud_dev *dev, uint32_t version, const void *data,
                      size_t len);

    /* ---- Statistics (optional) ----
     * Fill *st (zeroed by the daemon) for "vfiouserctl stats".  Called on
     * the daemon's main thread while the device runs, concurrently with
     * the device and plugin threads: read the counters with relaxed atomic
     * loads, never block, and keep what the I/O path pays for them small
     * enough to leave on. */
    void (*io_stats)(vfud_dev *dev, struct vfud_io_stats *st);

    /* ---- Sandbox (optional) ----
     * System calls the plugin's code needs beyond the daemon's own, once
     * the device has started (vfiouserd(8), SECURITY): NULL-terminated
     * names of groups ("io_uring", "block-io", "network-client", "event",
     * "spawn") or of single calls ("mlock").  Everything realize() and
     * start() do comes first and is not filtered.  A call outside the
     * daemon's allow-list and this one is logged and refused, or kills the
     * device's process. */
    const char *const *syscalls;

    /* ---- Process (optional) ----
     * true: each device of this plugin is served by a process of its own
     * unless its section sets "isolate" (vfiouserd.conf(5)), so that a
     * device taken over by its guest maps no other guest's memory and runs
     * under a filter built from this plugin alone.  Worth it where the
     * model's code is large or not ours (an interpreter) and the device is
     * not on a hot path; its cost is a process (some MiB) per device, a
     * restart on a crash instead of a failed device, and a slower message
     * path (vfiouserd(8), SECURITY).  Plugins built before this field
     * existed read as false: served by threads, as they always were. */
    bool prefers_process;

    /* ---- Running (optional) ----
     * Called once on the device thread after start(), when the process
     * has confined itself (its sandbox is in force, or off), before the
     * first client is served.  The place for work that makes a library
     * start threads of its own (a cluster connection): they inherit the
     * sandbox, and the system calls they make must be in syscalls.  A
     * negative errno (say why with vfud_error) fails the device's start
     * as start() failing would. */
    int (*running)(vfud_dev *dev);

    /* ---- new fields go here, at the end ---- */
};

/* Registration: use once, at file scope, with the plugin struct. */
#define VFUD_REGISTER_PLUGIN(plugin)                                      \
    VFUD_EXPORT struct vfud_plugin *vfud_plugin_init(void);               \
    VFUD_EXPORT struct vfud_plugin *vfud_plugin_init(void)                \
    {                                                                     \
        (plugin)._struct_size = sizeof(plugin);                           \
        (plugin)._api_version = VFUD_API_VERSION;                         \
        return &(plugin);                                                 \
    }

/* =================================================================
 * Functions the daemon provides
 * ======================================================================== */

/* ---- Instance, logging, errors (any thread) ---- */
const char *vfud_dev_name(const vfud_dev *dev);
void vfud_set_private(vfud_dev *dev, void *priv);
void *vfud_get_private(const vfud_dev *dev);

/* level: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */
void vfud_log(vfud_dev *dev, int level, const char *fmt, ...) VFUD_PRINTF(3, 4);
/* The reason the current callback is about to fail. */
void vfud_error(vfud_dev *dev, const char *fmt, ...) VFUD_PRINTF(2, 3);
bool vfud_debug_enabled(const vfud_dev *dev);
/* "pid N (comm)" of the connected client into buf (always terminated);
 * -ENOTCONN with no client.  Device thread; for messages that must say
 * which client a device's trouble came from. */
int vfud_client_describe(vfud_dev *dev, char *buf, size_t len);

/* ---- Config value helpers: 0 or -EINVAL/-ERANGE ---- */
int vfud_parse_bool(const char *s, bool *out);
int vfud_parse_u64(const char *s, uint64_t *out);         /* 0x.., 0.., decimal */
int vfud_parse_size(const char *s, uint64_t *out);        /* 512, 4k, 1M, 2G, 1T */

/* ---- Device declaration: only from realize() ---- */
int vfud_pci_init(vfud_dev *dev, enum vfud_pci_type type,
                  const struct vfud_pci_id *id);
/* Capabilities are placed by the daemon; each returns the config-space
 * offset of the capability or a negative errno. */
int vfud_pci_add_cap_pm(vfud_dev *dev);
int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags);
int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors,
                          unsigned table_bar, uint32_t table_offset,
                          unsigned pba_bar, uint32_t pba_offset);
int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags);
/* Vendor-specific capability: data is the body after id/next/len bytes. */
int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len);
/* Device Serial Number extended capability (PCIe only). */
int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial);

/* A region whose accesses all reach region_read/region_write. */
int vfud_region_add(vfud_dev *dev, unsigned index, uint64_t size,
                    unsigned flags);
/* Back a region with shared memory the client may mmap in the given areas
 * (all of it if nr_areas is 0).  Accesses that arrive as messages inside the
 * areas are served from that memory; outside them they reach the callbacks.
 * The memory is the daemon's: returns its address (page aligned, zeroed) or
 * NULL with errno set.  Call after vfud_region_add(). */
void *vfud_region_alloc_mmap(vfud_dev *dev, unsigned index,
                             const struct vfud_mmap_area *areas,
                             unsigned nr_areas);
/* Same, with memory the plugin owns: fd is dup()ed. */
int vfud_region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd,
                            uint64_t fd_offset, void *addr,
                            const struct vfud_mmap_area *areas,
                            unsigned nr_areas);
/* INTx (pin A) and the ERR/REQ vectors; MSI/MSI-X counts come from their
 * capabilities. */
int vfud_irq_setup(vfud_dev *dev, enum vfud_irq_type type, unsigned count);

/* ---- Interrupts (any thread) ---- */
/* Raise vector n of whatever the guest enabled: MSI-X vector n, MSI vector
 * n, or INTx (n must be 0), which then stays asserted until deasserted.
 * A masked or unconnected vector is recorded as pending and delivered when
 * it is unmasked.  Returns 0, or -EINVAL for a bad vector, -ENOTCONN when
 * the guest enabled nothing (the interrupt is then lost, as on hardware). */
int vfud_irq_trigger(vfud_dev *dev, unsigned n);
/* Lower the INTx line (harmless when INTx is not in use). */
void vfud_intx_deassert(vfud_dev *dev);
/* Signal the ERR or REQ eventfd the client attached, if any. */
int vfud_irq_signal(vfud_dev *dev, enum vfud_irq_type type);

/* ---- Guest memory (any thread except where noted) ----
 * Addresses are IOVAs the client mapped with DMA_MAP.  All return 0 or a
 * negative errno: -EFAULT (not inside the client's DMA windows), -EACCES
 * (window lacks the permission), -EPERM (bus mastering is off),
 * -ENOTCONN (no client), -EIO (the client failed a DMA message).
 *
 * vfud_dma_read/write work for every window: fd-backed ones by copying,
 * others with DMA_READ/DMA_WRITE messages to the client.  A message round
 * trip cannot be waited for on the device thread while the client may wait
 * for us, so there they return -EDEADLK for message-only windows: do the
 * work in vfud_submit() or a thread of your own. */
int vfud_dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len);
int vfud_dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len);

/* Direct access: fill sg[0..n) and iov[0..n) for [iova, iova + len), one
 * entry per DMA window crossed; iov[i] is the host address and length of
 * entry i, valid until vfud_dma_sgl_put() releases the window reference the
 * entry holds.  Returns n, -ENOSPC if max_sg is too small, -EREMOTE if part
 * of the range is reachable by messages only (nothing is held then). */
int vfud_dma_sgl_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
                     vfud_sg *sg, struct iovec *iov, unsigned max_sg);
/* Releases the references; entries taken with VFUD_DMA_WRITE are logged
 * dirty for migration.  Released entries may be filled again. */
void vfud_dma_sgl_put(vfud_dev *dev, vfud_sg *sg, unsigned nr_sg);

/* Scatter-gather storage (any thread).  Allocate it when a queue or a
 * request slot is created, not per I/O: these functions allocate, the two
 * above do not. */
size_t vfud_sg_size(void);                 /* bytes of one entry */
vfud_sg *vfud_sg_alloc(unsigned nr);       /* nr empty entries; NULL: ENOMEM */
void vfud_sg_free(vfud_sg *sg);            /* entries must be put; NULL ok */
vfud_sg *vfud_sg_at(vfud_sg *sg, unsigned i); /* entry i of an array */
/* For a plugin that wrote guest memory through a pointer it kept. */
void vfud_dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len);

/* ---- Migration ---- */
/* Append len bytes to the state being saved: 0 or -ENOMEM/-EFBIG. */
int vfud_mig_write(vfud_mig_stream *out, const void *data, size_t len);
/* In quiesce(true) and until the resume (device thread): true when the
 * device stops to be handed to the daemon's next process on this host
 * (vfiouserctl upgrade, a restart through systemd's fd store), not
 * migrated.  The files it wrote stay in this host's page cache for that
 * process, so the stop need not make them durable (the guests are paused
 * meanwhile); what this process caches itself must still be written. */
bool vfud_mig_handover(vfud_dev *dev);

/* ---- Config space and state (device thread) ---- */
bool vfud_pci_bus_master(vfud_dev *dev);            /* any thread */
int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len);

/* ---- Running work ---- */
/* Run fn on the device thread after the message being served has been
 * answered (or soon, outside a message). */
int vfud_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque);
/* Run fn on the device's worker thread (started on first use), one job at
 * a time in submission order; it may block on DMA messages. */
int vfud_submit(vfud_dev *dev, vfud_work_fn fn, void *opaque);
/* Wait until every job submitted so far has finished (device thread). */
void vfud_submit_drain(vfud_dev *dev);
/* Wait until done(opaque) is true, checking at least every millisecond,
 * for at most timeout_ms (0: no limit): 0, or -ETIMEDOUT.  On the device
 * thread the daemon keeps reading the client's replies meanwhile, so a
 * plugin thread waiting for a DMA message can finish what the callback
 * waits for (a callback that blocked on a condition variable instead would
 * stall both until the message times out). */
int vfud_wait(vfud_dev *dev, bool (*done)(void *opaque), void *opaque,
              unsigned timeout_ms);

vfud_watch *vfud_watch_fd(vfud_dev *dev, int fd, unsigned events,
                          vfud_fd_fn fn, void *opaque);
vfud_watch *vfud_watch_timer(vfud_dev *dev, unsigned interval_ms,
                             vfud_timer_fn fn, void *opaque);
void vfud_watch_remove(vfud_watch *w);

#ifdef __cplusplus
}
#endif
#endif /* VFIOUSERD_PLUGIN_H */
