/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme: an NVMe 1.4 PCIe controller backed by files or block devices.
 *
 * Design
 * ------
 * Files: nvme.c (this: configuration, PCI identity, region callbacks),
 * ctrl.c (registers, enable/reset/shutdown, the I/O thread), queue.c (SQ/CQ,
 * doorbells, shadow doorbells, phase tags, async events), dptr.c (PRP/SGL
 * to iovecs or bounce buffers), admin.c, io.c, ns.c (namespaces),
 * backend_uring.c and backend_null.c.
 *
 * PCI: class 01/08/02, PCIe + PM capabilities, MSI-X with one vector per
 * I/O completion queue plus the admin queue, INTx as a fallback.  BAR0 is a
 * 64-bit 16 KiB memory BAR:
 *     0x0000-0x0fff  controller registers            (trapped)
 *     0x1000-0x1fff  doorbells, stride 4 (DSTRD=0)   (trapped, or mmapped)
 *     0x2000-0x2fff  MSI-X table                     (served by the daemon)
 *     0x3000-0x3fff  MSI-X PBA                       (served by the daemon)
 *
 * Threads: every region callback runs on the daemon's device thread and
 * never blocks on I/O.  One I/O thread per controller owns all queue state:
 * it fetches SQEs, runs admin commands, submits I/O to an io_uring (one
 * ring per controller, several requests in flight per queue, batched
 * submission), reaps completions, posts CQEs and raises one MSI-X interrupt
 * per completion queue per loop iteration.  It sleeps in ppoll() on the
 * ring fd and a kick eventfd; a doorbell write signals the eventfd only
 * when the thread actually sleeps (a flag checked after the doorbell
 * store, Dekker style, so no wake-up is lost).
 * Controller-level changes (CC.EN, CC.SHN, NSSR, device reset, dma_unmap,
 * destroy) are passed to the I/O thread with nvme_ctl_call(), which waits:
 * when CC.EN=0 has been written, nothing is in flight and no guest pointer
 * is held.
 *
 * Doorbells: "shadow" (default): doorbell writes arrive as (posted) region
 * writes; the controller offers Doorbell Buffer Config, and once the driver
 * uses it the I/O queues' doorbells are read from the shadow buffer; after
 * draining a queue the controller publishes EventIdx and re-reads the
 * shadow value (full fence between), so the driver rings the real doorbell
 * only when the controller may be asleep.  While the driver has more than
 * one command outstanding (in flight, or completed and not consumed by its
 * shadow CQ head) the controller withholds EventIdx and looks again after
 * 5 us, then twice as long each time up to hold-us, for at most 1 ms after
 * its last command: the driver's next submissions ring nothing and are
 * fetched in batches (by default only with a namespace on local storage).
 * The admin queue is never shadowed.  No polling: an idle guest costs no
 * CPU.  When guest memory is reachable by DMA messages only, Doorbell
 * Buffer Config is refused (every shadow read would be a message round
 * trip) and the driver keeps ringing the real doorbells.  "adaptive":
 * shadow doorbells, and while I/O flows the I/O thread polls them (and the
 * trapped doorbell slots) without publishing EventIdx, so the driver rings
 * no real doorbell and the thread is never woken; after poll-idle-us
 * without work it publishes EventIdx, looks once more and sleeps, so an
 * idle guest still costs nothing and the next submission rings and wakes
 * it.  With shadow or adaptive and every namespace across the network
 * (remote_hold), the thread with 16 or more commands out sleeps until the
 * next completion (at most 1 ms) with EventIdx withheld, instead of asking
 * for a doorbell that would wake it for each submission.  "poll": the
 * doorbell page is mmapped by the client (sparse area of BAR0) and the I/O
 * thread polls it, spinning a while and then sleeping with an exponential
 * back-off up to poll-max-sleep-us.
 *
 * Guest memory: queue memory and the shadow buffers are mapped once with
 * vfud_dma_sgl_get() and the reference is kept until the queue is deleted,
 * the controller reset, or the client unmaps the window (dma_unmap drops
 * them on the I/O thread).  Data buffers are translated per command; when
 * the memory is message-only (-EREMOTE) the command uses a bounce buffer
 * with vfud_dma_read/write, which is also used when O_DIRECT cannot take
 * the guest buffer as it is.  No allocation happens per I/O once a
 * request slot has its bounce buffer.  SQEs are fetched up to 16 at a
 * time (one copy, or one message).
 *
 * Durability: a write with FUA, or any write while the volatile write cache
 * is disabled (Set Features or write-cache=off), is submitted with
 * RWF_DSYNC; Flush is an io_uring fdatasync.  Shutdown (CC.SHN) stops
 * fetching I/O, waits for the back-end to drain, fdatasyncs every
 * namespace, then reports SHST=complete.  Reset, detach and destroy wait
 * for in-flight operations to finish (their writes reach the file) before
 * returning; destroy also fdatasyncs.
 *
 * Migration (nvme_mig.h, mig_format.c, mig_state.c): quiesce stops the
 * I/O thread from fetching and drains the back-end, so the state is the
 * plain structs (struct nvme_ctrl / nvme_sq / nvme_cq) plus the
 * completions still waiting for CQ room; it is written field by field,
 * and the namespaces' storage is shared, not copied.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "nvme_int.h"
#include "nvme_mig.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the nvme plugin builds NVMe structures in host order: little-endian only"
#endif

#define DEFAULT_QUEUES 4
#define DEFAULT_Q_ENTRIES 1024
#define DEFAULT_POLL_SLEEP_US 1000
#define DEFAULT_POLL_IDLE_US 1000
#define DEFAULT_HOLD_US 50
#define REMOTE_POLL_IDLE_US 20   /* every namespace on RBD or NBD */

static const struct vfud_config_key nvme_keys[] = {
    { "serial", "controller serial number (20 characters at most)" },
    { "model", "model string (40 characters at most)" },
    { "firmware", "firmware revision (8 characters at most)" },
    { "vendor-id", "PCI vendor ID" },
    { "device-id", "PCI device ID" },
    { "subsystem-vendor-id", "PCI subsystem vendor ID" },
    { "subsystem-id", "PCI subsystem ID" },
    { "queues", "number of I/O queue pairs (1-128, default 4)" },
    { "queue-entries", "largest queue size, MQES+1 (2-4096, default 1024)" },
    { "doorbells", "shadow (default), adaptive or poll" },
    { "poll-max-sleep-us", "poll mode: longest idle sleep (default 1000)" },
    { "poll-idle-us", "adaptive mode: polling after the last I/O (default 1000)" },
    { "hold-us",
      "shadow mode: longest interval between looks at the shadow doorbells "
      "while the driver has commands outstanding, instead of asking it to "
      "ring (0-1000, default 50, 0 with every namespace on RBD or NBD; "
      "0: ask at once)" },
    { "namespace.*.path", "backing file or block device" },
    { "namespace.*.size", "namespace size; creates/extends a sparse file" },
    { "namespace.*.block-size", "logical block size: 512 (default) or 4096" },
    { "namespace.*.read-only", "write protect the namespace" },
    { "namespace.*.cache", "writeback (default) or none (O_DIRECT)" },
    { "namespace.*.write-cache", "report a volatile write cache (default on)" },
    { "namespace.*.backend", "uring (default) or null" },
    { "namespace.*.uri",
      "NBD export (nbd://, nbd+unix://) or Ceph RBD image (rbd:POOL/IMAGE) "
      "instead of a path" },
    { "namespace.*.rbd-conf", "RBD: ceph.conf of the cluster (default: Ceph's)" },
    { "namespace.*.rbd-id", "RBD: client name, without client. (default admin)" },
    { "namespace.*.rbd-keyring", "RBD: keyring file (default: ceph.conf's keyring)" },
    { "namespace.*.connections",
      "NBD: connections with multi-conn (default 1 over a UNIX socket, 4 over TCP)" },
    { "namespace.*.tls-psk-file", "NBD over TLS (nbds://): the client's PSK file" },
    { "namespace.*.tls-certificates",
      "NBD over TLS (nbds://): directory of the CA (and client) certificates" },
    { "namespace.*.reconnect-timeout",
      "NBD/RBD: seconds the server/cluster may be away before I/O fails "
      "(default 10)" },
    { "namespace.*.uuid", "namespace UUID (default: derived from serial)" },
    { "namespace.*.nguid", "namespace NGUID (default: derived from serial)" },
    { "namespace.*.eui64", "namespace EUI-64 (default: derived from serial)" },
    { "path", "shorthand for namespace.1.path" },
    { "size", "shorthand for namespace.1.size" },
    { "block-size", "shorthand for namespace.1.block-size" },
    { "read-only", "shorthand for namespace.1.read-only" },
    { "cache", "shorthand for namespace.1.cache" },
    { "write-cache", "shorthand for namespace.1.write-cache" },
    { "backend", "shorthand for namespace.1.backend" },
    { "uri", "shorthand for namespace.1.uri" },
    { NULL, NULL },
};

static struct nvme_ctrl *ctrl_of(vfud_dev *dev)
{
    return vfud_get_private(dev);
}

void nvme_ctrl_kick(struct nvme_ctrl *c)
{
    uint64_t one = 1;

    if (c->kick_fd >= 0) {
        ssize_t r = write(c->kick_fd, &one, sizeof(one));

        (void)r; /* EAGAIN: the counter is already non-zero */
    }
}

static int nvme_create(vfud_dev *dev)
{
    struct nvme_ctrl *c = calloc(1, sizeof(*c));
    uint64_t h = 0xcbf29ce484222325ull;

    if (!c) {
        return -ENOMEM;
    }
    c->dev = dev;
    c->kick_fd = -1;
    c->vendor_id = 0x4e56; /* see vfiouserd-nvme(8): override as needed */
    c->device_id = 0x6d65;
    c->ssvid = 0x4e56;
    c->ssid = 0x6d65;
    c->nr_io_queues = DEFAULT_QUEUES;
    c->max_q_entries = DEFAULT_Q_ENTRIES;
    c->db_mode = NVME_DB_SHADOW;
    c->poll_max_sleep_us = DEFAULT_POLL_SLEEP_US;
    for (const char *p = vfud_dev_name(dev); p && *p; p++) {
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    snprintf(c->serial, sizeof(c->serial), "VFUD%016llx", (unsigned long long)h);
    snprintf(c->model, sizeof(c->model), "vfiouserd NVMe");
    snprintf(c->firmware, sizeof(c->firmware), "%.8s", PACKAGE_VERSION);
    pthread_mutex_init(&c->ctl_lock, NULL);
    pthread_cond_init(&c->ctl_cond, NULL);
    vfud_set_private(dev, c);
    return 0;
}

static int parse_id16(vfud_dev *dev, const char *key, const char *value,
                      uint16_t *out)
{
    uint64_t v;

    if (vfud_parse_u64(value, &v) < 0 || v > 0xffff) {
        vfud_error(dev, "%s: not a 16-bit number: '%s'", key, value);
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

static int set_string(vfud_dev *dev, const char *key, const char *value,
                      char *dst, size_t size)
{
    if (strlen(value) >= size) {
        vfud_error(dev, "%s: longer than %zu characters", key, size - 1);
        return -EINVAL;
    }
    for (const char *p = value; *p; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            vfud_error(dev, "%s: only printable ASCII is allowed", key);
            return -EINVAL;
        }
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int nvme_config(vfud_dev *dev, const char *key, const char *value)
{
    struct nvme_ctrl *c = ctrl_of(dev);
    uint64_t v;

    if (strcmp(key, "serial") == 0) {
        return set_string(dev, key, value, c->serial, sizeof(c->serial));
    }
    if (strcmp(key, "model") == 0) {
        return set_string(dev, key, value, c->model, sizeof(c->model));
    }
    if (strcmp(key, "firmware") == 0) {
        return set_string(dev, key, value, c->firmware, sizeof(c->firmware));
    }
    if (strcmp(key, "vendor-id") == 0) {
        return parse_id16(dev, key, value, &c->vendor_id);
    }
    if (strcmp(key, "device-id") == 0) {
        return parse_id16(dev, key, value, &c->device_id);
    }
    if (strcmp(key, "subsystem-vendor-id") == 0) {
        return parse_id16(dev, key, value, &c->ssvid);
    }
    if (strcmp(key, "subsystem-id") == 0) {
        return parse_id16(dev, key, value, &c->ssid);
    }
    if (strcmp(key, "queues") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v < 1 || v > NVME_MAX_QUEUES) {
            vfud_error(dev, "queues: must be 1 to %u", NVME_MAX_QUEUES);
            return -EINVAL;
        }
        c->nr_io_queues = (unsigned)v;
        return 0;
    }
    if (strcmp(key, "queue-entries") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v < 2 || v > 4096) {
            vfud_error(dev, "queue-entries: must be 2 to 4096");
            return -EINVAL;
        }
        c->max_q_entries = (unsigned)v;
        return 0;
    }
    if (strcmp(key, "doorbells") == 0) {
        /* adaptive is shadow with a polling window: the same controller
         * and the same migration state, so it is not a mode of its own */
        c->adaptive = strcmp(value, "adaptive") == 0;
        if (strcmp(value, "shadow") == 0 || c->adaptive) {
            c->db_mode = NVME_DB_SHADOW;
        } else if (strcmp(value, "poll") == 0) {
            c->db_mode = NVME_DB_POLL;
        } else {
            vfud_error(dev, "doorbells: must be shadow, adaptive or poll");
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "poll-idle-us") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v < 1 || v > 1000000) {
            vfud_error(dev, "poll-idle-us: must be 1 to 1000000");
            return -EINVAL;
        }
        c->cfg_poll_idle_us = (unsigned)v;
        return 0;
    }
    if (strcmp(key, "hold-us") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v > 1000) {
            vfud_error(dev, "hold-us: must be 0 to 1000");
            return -EINVAL;
        }
        c->cfg_hold_us = (unsigned)v;
        c->hold_given = true;
        return 0;
    }
    if (strcmp(key, "poll-max-sleep-us") == 0) {
        if (vfud_parse_u64(value, &v) < 0 || v < 1 || v > 1000000) {
            vfud_error(dev, "poll-max-sleep-us: must be 1 to 1000000");
            return -EINVAL;
        }
        c->poll_max_sleep_us = (unsigned)v;
        return 0;
    }
    if (strncmp(key, "namespace.", 10) == 0) {
        char *end;
        unsigned long nsid = strtoul(key + 10, &end, 10);
        struct nvme_ns *ns;

        if (end == key + 10 || *end != '.' || nsid == 0 || nsid > NVME_MAX_NS) {
            vfud_error(dev, "%s: namespace IDs are 1 to %u", key, NVME_MAX_NS);
            return -EINVAL;
        }
        ns = nvme_ns_get_or_create(c, (uint32_t)nsid);
        if (!ns) {
            return -ENOMEM;
        }
        return nvme_ns_config(c, ns, end + 1, value);
    }
    /* shorthand keys for namespace 1 */
    {
        struct nvme_ns *ns = nvme_ns_get_or_create(c, 1);

        if (!ns) {
            return -ENOMEM;
        }
        return nvme_ns_config(c, ns, key, value);
    }
}

static int nvme_config_complete(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);
    unsigned n = 0, remote = 0;

    for (uint32_t id = 1; id <= c->nn; id++) {
        if (c->ns[id]) {
            n++;
            remote += c->ns[id]->backend == NVME_BACKEND_RBD ||
                      c->ns[id]->backend == NVME_BACKEND_NBD;
        }
    }
    if (n == 0) {
        vfud_error(dev, "no namespace: set path= or namespace.1.path=");
        return -EINVAL;
    }
    if (c->cfg_poll_idle_us && !c->adaptive) {
        vfud_error(dev, "poll-idle-us: only with doorbells = adaptive");
        return -EINVAL;
    }
    if (c->hold_given && (c->db_mode != NVME_DB_SHADOW || c->adaptive)) {
        vfud_error(dev, "hold-us: only with doorbells = shadow");
        return -EINVAL;
    }
    c->remote_hold = remote == n && c->db_mode == NVME_DB_SHADOW;
    if (c->db_mode == NVME_DB_SHADOW && !c->adaptive) {
        /* Not by default across the network: there the driver submits
         * again only after a completion, which is a network round trip
         * away, so the looks meanwhile find nothing and cost CPU on a
         * host the storage client and the vCPUs need (lab guest, fio
         * QD32, hold against none in one run: RBD randread 0.83x against
         * 0.96x QEMU's rbd, seqread 0.81x against 0.95x; NBD 0.82x
         * against 0.95x QEMU's nbd).  The remote hold serves them. */
        c->hold_us = c->hold_given ? c->cfg_hold_us
                     : remote == n ? 0
                                   : DEFAULT_HOLD_US;
    }
    if (c->adaptive) {
        /* Every pass that completes something opens a new window, and on
         * storage across the network (RBD, NBD: milliseconds a command)
         * completions come every few hundred microseconds at QD32, so a
         * window of 1000 us never closes: the poller held a CPU the OSD
         * and the guest needed (host, RBD, QD32, three runs interleaved at
         * load 17: 163-206 us of CPU per I/O with 1000, 91-94 with 20, and
         * 1.8-1.9x the IOPS; 100 cost 13 % more CPU per I/O than 20). */
        c->poll_idle_us = c->cfg_poll_idle_us ? c->cfg_poll_idle_us
                          : remote == n ? REMOTE_POLL_IDLE_US
                                        : DEFAULT_POLL_IDLE_US;
    }
    return 0;
}

static int nvme_realize(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);
    struct vfud_pci_id id = {
        .vendor_id = c->vendor_id,
        .device_id = c->device_id,
        .subsys_vendor_id = c->ssvid,
        .subsys_id = c->ssid,
        .class_code = 0x010802, /* mass storage, NVM, NVMe I/O controller */
        .revision = 0,
    };
    struct timespec now;
    int r;

    for (uint32_t nsid = 1; nsid <= c->nn; nsid++) {
        struct nvme_ns *ns = c->ns[nsid];

        if (!ns) {
            continue;
        }
        r = nvme_ns_open(c, ns);
        if (r < 0) {
            return r;
        }
        if (ns->write_cache && !ns->read_only) {
            c->vwc = true;
        }
    }
    c->wce = c->vwc;
    c->nr_vectors = c->nr_io_queues + 1;
    c->admin_buf = aligned_alloc(NVME_PAGE_SIZE, NVME_MAX_XFER);
    if (!c->admin_buf) {
        return -ENOMEM;
    }

    r = vfud_pci_init(dev, VFUD_PCI_EXPRESS, &id);
    if (r < 0) {
        return r;
    }
    r = vfud_region_add(dev, VFUD_REGION_BAR0, NVME_BAR0_SIZE,
                        VFUD_REGION_RW | VFUD_REGION_64BIT);
    if (r < 0) {
        return r;
    }
    if (c->db_mode == NVME_DB_POLL) {
        struct vfud_mmap_area area = { NVME_REG_DBS, NVME_PAGE_SIZE };
        uint8_t *mem = vfud_region_alloc_mmap(dev, VFUD_REGION_BAR0, &area, 1);

        if (!mem) {
            r = -errno;
            vfud_error(dev, "nvme: cannot back the doorbell page: %s",
                       strerror(errno));
            return r;
        }
        c->db = (_Atomic uint32_t *)(void *)(mem + NVME_REG_DBS);
    } else {
        c->db_alloc = aligned_alloc(NVME_PAGE_SIZE, NVME_PAGE_SIZE);
        if (!c->db_alloc) {
            return -ENOMEM;
        }
        memset((void *)c->db_alloc, 0, NVME_PAGE_SIZE);
        c->db = c->db_alloc;
    }
    r = vfud_pci_add_cap_pm(dev);
    if (r < 0) {
        return r;
    }
    r = vfud_pci_add_cap_express(dev, VFUD_PCIE_FLR);
    if (r < 0) {
        return r;
    }
    r = vfud_pci_add_cap_msix(dev, c->nr_vectors, VFUD_REGION_BAR0,
                              NVME_MSIX_TABLE, VFUD_REGION_BAR0, NVME_MSIX_PBA);
    if (r < 0) {
        return r;
    }
    r = vfud_irq_setup(dev, VFUD_IRQ_INTX, 1);
    if (r < 0) {
        return r;
    }
    nvme_ctrl_init_regs(c);
    clock_gettime(CLOCK_MONOTONIC, &now);
    c->start_time = (uint64_t)now.tv_sec;
    c->smart.power_cycles = 1;
    nvme_ctrl_reset_state(c, true);
    return 0;
}

static int nvme_start(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    for (uint32_t nsid = 1; nsid <= c->nn; nsid++) {
        int r;

        if (c->ns[nsid] == NULL) {
            continue;
        }
        r = nvme_ns_prepare(c, c->ns[nsid]);
        if (r < 0) {
            return r;
        }
    }
    return nvme_ctrl_start_thread(c);
}

/* Namespaces on a Ceph cluster are connected here, by the confined device
 * thread, so that librados's threads inherit the sandbox. */
static int nvme_running(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    for (uint32_t nsid = 1; nsid <= c->nn; nsid++) {
        int r;

        if (c->ns[nsid] == NULL) {
            continue;
        }
        r = nvme_ns_connect(c, c->ns[nsid]);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static void nvme_destroy(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    if (!c) {
        return;
    }
    nvme_ctrl_stop_thread(c);
    nvme_ctrl_reset_state(c, false);
    nvme_flush_all_sync(c);
    for (uint32_t nsid = 1; nsid <= NVME_MAX_NS; nsid++) {
        nvme_ns_free(c->ns[nsid]);
    }
    free((void *)c->db_alloc);
    free(c->admin_buf);
    pthread_mutex_destroy(&c->ctl_lock);
    pthread_cond_destroy(&c->ctl_cond);
    free(c);
    vfud_set_private(dev, NULL);
}

/* Back to power-on: everything torn down, registers cleared. */
static void power_on_reset(struct nvme_ctrl *c)
{
    (void)nvme_ctl_call(c, NVME_CTL_DISABLE, 0, 0);
    nvme_ctrl_init_regs(c);
}

static void nvme_attach(vfud_dev *dev)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    c->client_touched = false;
    (void)vfud_client_describe(dev, c->client, sizeof(c->client));
}

/* SPDK's vfio-user NVMe driver finds the doorbell page with
 * spdk_vfio_user_get_bar_addr() right after its setup (VERSION, region
 * infos, DMA_MAP of its heap) and, when BAR0 has no mappable page there,
 * gives up with "Error to get device BAR0": it unmaps and closes without
 * a single region access or reset.  It never uses Doorbell Buffer Config
 * either (SPDK enables it only for its PCIe transport), so no trapped or
 * shadow mode can serve it.  QEMU, by contrast, reads and writes config
 * space and resets the device while it realizes, before any guest runs.
 * Saying so here is the only clear word the user gets: SPDK cannot be
 * sent a reason, and its line names no cause. */
static void warn_unserved_client(struct nvme_ctrl *c)
{
    if (c->db_mode == NVME_DB_POLL || c->client_touched) {
        return;
    }
    vfud_log(c->dev, LOG_WARNING,
             "nvme: client %s left right after setup without touching the "
             "device: with doorbells = %s BAR0's doorbell page cannot be "
             "mapped, and a client that writes doorbells only through that "
             "mapping (SPDK's vfio-user NVMe driver, which then logs \"Error "
             "to get device BAR0\") cannot use this controller; for such "
             "a client set doorbells = poll",
             c->client[0] != '\0' ? c->client : "?",
             c->adaptive ? "adaptive" : "shadow");
}

static void nvme_detach(vfud_dev *dev)
{
    warn_unserved_client(ctrl_of(dev));
    power_on_reset(ctrl_of(dev));
}

static void nvme_config_written(vfud_dev *dev, unsigned offset, unsigned len)
{
    (void)offset;
    (void)len;
    ctrl_of(dev)->client_touched = true;
}

static int nvme_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    ctrl_of(dev)->client_touched = true;
    power_on_reset(ctrl_of(dev));
    if (why == VFUD_RESET_LOST) {
        /* The guest's driver still believes its queues exist.  A fatal
         * status makes its timeout handler reset the controller at the
         * first timeout, instead of aborting first (Linux nvme_timeout). */
        nvme_ctrl_fatal(ctrl_of(dev), "the daemon was restarted after a crash; "
                        "the controller's queues are gone");
    }
    return 0;
}

static void nvme_dma_unmap(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    /* The daemon has already taken the window out of its table, so no new
     * mapping of it can appear: with none held there is nothing to drop,
     * and no reason to wait for an I/O thread that may be blocked in a DMA
     * message only this (device) thread can answer. */
    if (atomic_load(&c->nr_mapped) == 0) {
        return;
    }
    (void)nvme_ctl_call(c, NVME_CTL_UNMAP, iova, len);
}

static int nvme_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                            void *buf, size_t len)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    if (region != VFUD_REGION_BAR0) {
        return -EINVAL;
    }
    c->client_touched = true;
    if (offset < NVME_REG_DBS) {
        size_t n = offset + len > NVME_REG_DBS ? NVME_REG_DBS - offset : len;

        nvme_reg_read(c, offset, buf, n);
        memset((uint8_t *)buf + n, 0, len - n);
        return 0;
    }
    memset(buf, 0, len); /* doorbells are write-only; the rest is unused */
    return 0;
}

static void doorbell_write(struct nvme_ctrl *c, uint64_t offset, uint32_t v)
{
    uint32_t slot = (uint32_t)(offset - NVME_REG_DBS) / 4;

    if (slot >= 2 * (c->nr_io_queues + 1)) {
        return; /* no such queue: ignored */
    }
    atomic_store(&c->db[slot], v);
    /* A new SQ tail always matters; a CQ head only when a completion waits
     * for room or INTx must be lowered. */
    if ((slot & 1) && !atomic_load(&c->cq_waiting) &&
        !atomic_load(&c->intx_asserted)) {
        return;
    }
    if (atomic_load(&c->sleeping)) {
        nvme_ctrl_kick(c);
    }
}

static int nvme_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                             const void *buf, size_t len)
{
    struct nvme_ctrl *c = ctrl_of(dev);

    if (region != VFUD_REGION_BAR0) {
        return -EINVAL;
    }
    c->client_touched = true;
    if (offset < NVME_REG_DBS) {
        size_t n = offset + len > NVME_REG_DBS ? NVME_REG_DBS - offset : len;

        nvme_reg_write(c, offset, buf, n);
        return 0;
    }
    if (offset < NVME_REG_DBS + NVME_PAGE_SIZE && len == 4 && !(offset & 3)) {
        uint32_t v;

        memcpy(&v, buf, 4);
        doorbell_write(c, offset, v);
    }
    return 0;
}

void nvme_io_stats(vfud_dev *dev, struct vfud_io_stats *st)
{
    const struct nvme_io_counters *k = &ctrl_of(dev)->io_ctr;

    st->queue_depth = __atomic_load_n(&k->depth, __ATOMIC_RELAXED);
    st->reads = __atomic_load_n(&k->reads, __ATOMIC_RELAXED);
    st->writes = __atomic_load_n(&k->writes, __ATOMIC_RELAXED);
    st->others = __atomic_load_n(&k->others, __ATOMIC_RELAXED);
    st->bytes_read = __atomic_load_n(&k->bytes_read, __ATOMIC_RELAXED);
    st->bytes_written = __atomic_load_n(&k->bytes_written, __ATOMIC_RELAXED);
    st->errors = __atomic_load_n(&k->errors, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < VFUD_LAT_BUCKETS; i++) {
        st->lat[i] = __atomic_load_n(&k->lat[i], __ATOMIC_RELAXED);
    }
}

/* The I/O thread drives io_uring; Format NVM and the synchronous
 * fall-backs use fallocate and pwrite; the thread sleeps in ppoll on an
 * eventfd (the daemon's base set).  libnbd's I/O (backend_nbd.c) reconnects
 * and talks to its server from the device's threads. */
static const char *const nvme_syscalls[] = {
    "io_uring", "block-io",
#if defined(HAVE_LIBNBD) || defined(HAVE_LIBRBD)
    "network-client",
#endif
#ifdef HAVE_LIBRBD
    /* librados's messenger and timer threads wait on epoll and timerfds. */
    "event",
#endif
    NULL
};

static struct vfud_plugin nvme_plugin = {
    .name = "nvme",
    .version = PACKAGE_VERSION,
    .description = "NVMe 1.4 controller backed by files or block devices",
    .config_keys = nvme_keys,
    .create = nvme_create,
    .config = nvme_config,
    .config_complete = nvme_config_complete,
    .realize = nvme_realize,
    .start = nvme_start,
    .destroy = nvme_destroy,
    .attach = nvme_attach,
    .detach = nvme_detach,
    .reset = nvme_reset,
    .config_written = nvme_config_written,
    .region_read = nvme_region_read,
    .region_write = nvme_region_write,
    .dma_unmap = nvme_dma_unmap,
    .state_version = NVME_STATE_VERSION,
    .quiesce = nvme_mig_quiesce,
    .save_state = nvme_mig_save_state,
    .load_state = nvme_mig_load_state,
    .io_stats = nvme_io_stats,
    .syscalls = nvme_syscalls,
    .running = nvme_running,
};

VFUD_REGISTER_PLUGIN(nvme_plugin)
