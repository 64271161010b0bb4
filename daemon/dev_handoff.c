/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's live state out of one process and into another (upgrade).
 *
 * In-flight work: capture quiesces the plugin exactly as a migration's
 * STOP does (quiesce(true), then every vfud_submit() job drained), so an
 * NVMe command the guest submitted before the pause has completed -- its
 * completion entry written and its interrupt raised or held pending --
 * before the state is taken.  Nothing is resubmitted, and the guest sees
 * only a pause.  A request of ours still waiting for the client's reply
 * (DMA by messages) makes the capture fail with EBUSY: the old process
 * serves on and the upgrade can be tried again.
 *
 * DMA windows: the engine keeps each window's memory file open (dma.c,
 * "Kept files"), so capture hands over a duplicate of it; no privilege is
 * needed, which matters in the sandbox and under our systemd units (no
 * capabilities at all).  Only a window whose file was not kept (a client
 * with more than DMA_MAX_FILES files) falls back to reopening the mapping
 * through /proc/self/map_files, which needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE; without it the upgrade is refused, naming the
 * cause.  The new process maps them again through the DMA_MAP handler,
 * with every check it makes for a client.
 *
 * Region memory the client has mmapped (vfud_region_alloc_mmap, e.g. the
 * NVMe doorbells) must stay the very memory the client maps: the new
 * process maps the old memfd over the one its plugin just allocated, at the
 * same address, after loading the migration stream (the stream's copy of
 * it is older than what the guest may have written during the pause).
 */
#include "config.h"

#include "dev_handoff.h"
#include "conn.h"
#include "device.h"
#include "device_proc.h"
#include "dispatch.h"
#include "dma_log.h"
#include "handoff.h"
#include "isolate.h"
#include "mig_stream.h"
#include "migration.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

struct dev_state *dev_state_new(const char *name)
{
    struct dev_state *st = g_new0(struct dev_state, 1);

    st->name = g_strdup(name);
    st->windows = g_array_new(FALSE, TRUE, sizeof(struct dh_window));
    st->irqs = g_array_new(FALSE, TRUE, sizeof(struct dh_irq));
    st->intx_unmask_fd = -1;
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        st->region_fd[i] = -1;
    }
    return st;
}

static void saved_fds_close(GArray *a)
{
    for (guint i = 0; a != NULL && i < a->len; i++) {
        util_close(&g_array_index(a, struct conn_saved_fd, i).fd);
    }
    if (a != NULL) {
        g_array_unref(a);
    }
}

static void dh_conn_free(struct dh_conn *c)
{
    if (c == NULL) {
        return;
    }
    util_close(&c->fd);
    util_close(&c->twin_fd);
    g_byte_array_unref(c->in);
    g_byte_array_unref(c->twin_in);
    saved_fds_close(c->in_fds);
    saved_fds_close(c->twin_fds);
    g_free(c);
}

struct dh_conn *dh_conn_new(void)
{
    struct dh_conn *c = g_new0(struct dh_conn, 1);

    c->fd = c->twin_fd = -1;
    c->in = g_byte_array_new();
    c->twin_in = g_byte_array_new();
    c->in_fds = g_array_new(FALSE, TRUE, sizeof(struct conn_saved_fd));
    c->twin_fds = g_array_new(FALSE, TRUE, sizeof(struct conn_saved_fd));
    return c;
}

void dev_state_free(struct dev_state *st)
{
    if (st == NULL) {
        return;
    }
    g_free(st->name);
    if (st->mig != NULL) {
        g_byte_array_unref(st->mig);
    }
    dh_conn_free(st->conn);
    for (guint i = 0; i < st->windows->len; i++) {
        util_close(&g_array_index(st->windows, struct dh_window, i).fd);
    }
    g_array_unref(st->windows);
    for (guint i = 0; i < st->irqs->len; i++) {
        util_close(&g_array_index(st->irqs, struct dh_irq, i).fd);
    }
    g_array_unref(st->irqs);
    util_close(&st->intx_unmask_fd);
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        util_close(&st->region_fd[i]);
    }
    g_free(st);
}

/* ------------------------------------------------------------------------
 * Capture
 */
static void device_still(vfud_dev *dev, bool still)
{
    dma_set_stopped(dev, still);
    irq_hold(dev, still);
}

/* The file behind the mapping at addr, opened anew. */
static int reopen_mapping(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[512];
    int fd = -ENOENT;

    if (f == NULL) {
        return -errno;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        uintptr_t lo, hi;
        char path[64];

        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2 ||
            (uintptr_t)addr < lo || (uintptr_t)addr >= hi) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIxPTR "-%" PRIxPTR,
                 lo, hi);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            fd = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0) {
            fd = -errno;
        }
        break;
    }
    fclose(f);
    return fd;
}

static int capture_windows(vfud_dev *dev, struct dev_state *st, char **why)
{
    struct dma_state *dma = &dev->dma;
    int r = 0;

    g_rw_lock_reader_lock(&dma->lock);
    for (guint i = 0; i < dma->windows->len && r == 0; i++) {
        const struct dma_window *w = g_ptr_array_index(dma->windows, i);
        struct dh_window dw = {
            .iova = w->iova,
            .size = w->size,
            .offset = w->fd_offset,
            .prot = w->prot,
            .fd = -1,
        };

        if (w->file != NULL) {
            dw.fd = fcntl(w->file->fd, F_DUPFD_CLOEXEC, 3);
            if (dw.fd < 0) {
                r = -errno;
                *why = g_strdup_printf("DMA window %#" PRIx64 ": %s", w->iova,
                                       g_strerror(errno));
                break;
            }
        } else if (w->has_file) {
            dw.fd = reopen_mapping(w->map_base);
            if (dw.fd < 0) {
                r = dw.fd;
                *why = g_strdup_printf("DMA window %#" PRIx64 ": its memory file "
                                       "was not kept (more than %u files), and "
                                       "reopening it through /proc/self/map_files "
                                       "needs CAP_SYS_ADMIN or "
                                       "CAP_CHECKPOINT_RESTORE: %s",
                                       w->iova, DMA_MAX_FILES, g_strerror(-r));
                break;
            }
        }
        g_array_append_val(st->windows, dw);
    }
    g_rw_lock_reader_unlock(&dma->lock);
    return r;
}

static int capture_irqs(vfud_dev *dev, struct dev_state *st)
{
    struct irq_state *irq = &dev->irq;
    int r = 0;

    g_mutex_lock(&irq->lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES && r == 0; t++) {
        for (unsigned v = 0; v < irq->count[t]; v++) {
            const struct irq_vector *iv = &irq->vec[t][v];
            struct dh_irq di = { .type = t, .vec = v, .fd = -1, .masked = iv->masked };

            if (iv->efd < 0 && !iv->masked) {
                continue;
            }
            if (iv->efd >= 0 && (di.fd = fcntl(iv->efd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = -errno;
                break;
            }
            g_array_append_val(st->irqs, di);
        }
    }
    if (r == 0 && irq->intx_unmask_fd >= 0 &&
        (st->intx_unmask_fd = fcntl(irq->intx_unmask_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        r = -errno;
    }
    g_mutex_unlock(&irq->lock);
    return r;
}

static int capture_conn(vfud_dev *dev, struct dev_state *st, char **why)
{
    struct conn *c = dev->conn;
    struct dh_conn *dc = dh_conn_new();
    int r;

    st->conn = dc;
    dc->versioned = c->versioned;
    dc->write_multiple = c->write_multiple;
    dc->client_max_fds = c->client_max_fds;
    dc->client_max_xfer = c->client_max_xfer;
    dc->client_pgsize = c->client_pgsize;
    dc->next_id = c->next_id;
    dc->pid = c->pid;
    dc->uid = (int32_t)c->uid;
    dc->gid = (int32_t)c->gid;
    dc->since = dev->client_since;
    dc->msgs_in = c->msgs_in;
    dc->bytes_in = c->bytes_in;
    dc->msgs_out = c->msgs_out;
    dc->bytes_out = c->bytes_out;
    dc->errors = c->errors;
    r = conn_export_input(c, false, dc->in, &dc->drain, dc->in_fds, 1000);
    if (r == 0) {
        r = conn_export_input(c, true, dc->twin_in, &dc->twin_drain, dc->twin_fds, 1000);
    }
    if (r < 0) {
        *why = g_strdup_printf("the client connection cannot be moved now: %s",
                               r == -EBUSY ? "a request of ours waits for its "
                               "reply, or the client is not reading its replies"
                                           : g_strerror(-r));
        return r;
    }
    dc->fd = fcntl(conn_socket_fd(c, false), F_DUPFD_CLOEXEC, 3);
    if (dc->fd < 0) {
        return -errno;
    }
    if (conn_socket_fd(c, true) >= 0 &&
        (dc->twin_fd = fcntl(conn_socket_fd(c, true), F_DUPFD_CLOEXEC, 3)) < 0) {
        return -errno;
    }
    return 0;
}

static int capture_regions(vfud_dev *dev, struct dev_state *st, char **why)
{
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        const struct region *rg = &dev->regions[i];

        if (rg->fd < 0) {
            continue;
        }
        if (!rg->own_mem) {
            /* The plugin's own file: its new instance would offer another. */
            *why = g_strdup_printf("region %u is memory of the plugin's own "
                                   "(vfud_region_set_mmap_fd): it cannot be "
                                   "handed over", i);
            return -ENOTSUP;
        }
        st->region_fd[i] = fcntl(rg->fd, F_DUPFD_CLOEXEC, 3);
        if (st->region_fd[i] < 0) {
            return -errno;
        }
    }
    return 0;
}

/* A request of ours (DMA by messages) waits for the client's reply. */
static bool requests_waiting(struct conn *c)
{
    bool waiting;

    g_mutex_lock(&c->req_lock);
    waiting = c->waiters != NULL;
    g_mutex_unlock(&c->req_lock);
    return waiting;
}

int dev_capture(vfud_dev *dev, struct dev_state *st, char **why)
{
    bool can_save = dev->ops->save_state != NULL && dev->ops->load_state != NULL;
    uint64_t plen = 0;
    gint64 t0 = g_get_monotonic_time(), t_still;
    int r;

    if (dev->proc->isolate) {
        /* Its process stores its state with us (isolate.h). */
        return isolate_capture(dev, why);
    }
    if (!can_save && dev->conn != NULL) {
        *why = g_strdup_printf("plugin %s cannot save its state (no save_state/"
                               "load_state) and a client is attached", dev->ops->name);
        return -ENOTSUP;
    }
    if (migration_supported(dev) &&
        migration_state(dev) != VFIO_USER_DEVICE_STATE_RUNNING) {
        *why = g_strdup_printf("a migration is in progress (state %s)",
                               migration_state_name(migration_state(dev)));
        return -EBUSY;
    }
    /* Before quiescing: the plugin's drain would wait for that reply, the
     * guests paused meanwhile.  Refused at once, the old process serves on
     * and the command can be repeated. */
    if (dev->conn != NULL && requests_waiting(dev->conn)) {
        *why = g_strdup("the client connection cannot be moved now: a request of "
                        "ours waits for its reply");
        return -EBUSY;
    }
    if (dev->dma.log != NULL && dma_log_active(dev->dma.log)) {
        *why = g_strdup("dirty-page logging is on (a migration is in progress)");
        return -EBUSY;
    }
    /* The next process on this host takes over: files need no flush
     * inside the pause (vfud_mig_handover). */
    dev->handover = HANDOVER_STOPPED_FOR_CAPTURE;
    if (dev->ops->quiesce != NULL) {
        device_cb_enter(dev, "quiesce");
        r = dev->ops->quiesce(dev, true);
        device_cb_leave(dev);
        if (r < 0) {
            g_autofree char *e = device_take_error();

            dev->handover = HANDOVER_NONE;
            *why = g_strdup_printf("the device cannot stop: %s",
                                   e != NULL ? e : g_strerror(-r));
            return r;
        }
    }
    if (dev->worker != NULL) {
        worker_drain(dev->worker, dev->conn);
    }
    device_still(dev, true);
    t_still = g_get_monotonic_time();

    r = 0;
    if (dev->conn != NULL) {
        r = capture_conn(dev, st, why);
    }
    if (r == 0 && can_save) {
        r = mig_stream_save(dev, &st->mig, &plen);
        if (r < 0) {
            *why = g_strdup_printf("saving the device state failed: %s", g_strerror(-r));
        }
    }
    if (r == 0 && dev->conn != NULL) {
        r = capture_windows(dev, st, why);
    }
    if (r == 0 && dev->conn != NULL) {
        r = capture_irqs(dev, st);
    }
    if (r == 0) {
        r = capture_regions(dev, st, why);
    }
    st->clients_served = dev->proc->clients_served;
    st->clients_refused = dev->proc->clients_refused;
    if (r < 0) {
        if (*why == NULL) {
            *why = g_strdup(g_strerror(-r));
        }
        dev_capture_resume(dev);
        return r;
    }
    /* Inside the guests' pause: stopping (in-flight work finishing) is
     * the device's, the rest is ours. */
    dev_info(dev, "captured in %.1f ms (stopping %.1f, state %.1f ms)",
             (double)(g_get_monotonic_time() - t0) / 1000.0,
             (double)(t_still - t0) / 1000.0,
             (double)(g_get_monotonic_time() - t_still) / 1000.0);
    return 0;
}

void dev_capture_resume(vfud_dev *dev)
{
    if (dev->proc->isolate) {
        isolate_resume(dev);
        return;
    }
    device_still(dev, false);
    if (dev->ops->quiesce != NULL) {
        int r;

        device_cb_enter(dev, "quiesce");
        r = dev->ops->quiesce(dev, false);
        device_cb_leave(dev);
        if (r < 0) {
            g_autofree char *e = device_take_error();

            dev_err(dev, "upgrade: the device cannot run again: %s",
                    e != NULL ? e : g_strerror(-r));
        }
    }
    dev->handover = HANDOVER_NONE;
}

void dev_handoff_add(struct handoff *h, vfud_dev *dev, struct dev_state **st,
                     bool with_stored)
{
    struct handoff_listen *l = g_new0(struct handoff_listen, 1);

    l->name = g_strdup(dev->name);
    l->path = g_strdup(dev->proc->sock.path);
    l->fd = fcntl(dev->proc->listen_fd, F_DUPFD_CLOEXEC, 3);
    l->unlink_on_stop = dev->proc->unlink_on_stop;
    g_ptr_array_add(h->listen, l);
    if (dev->proc->isolate) {
        /* Its state is in what its process stored with us. */
        if (with_stored) {
            isolate_handoff(dev, h->listen);
        }
        return;
    }
    g_ptr_array_add(h->devices, *st);
    *st = NULL;
}

/* ------------------------------------------------------------------------
 * Restore
 */

/* Run a handler on a message we make up, as if the client had sent it. */
static int replay(struct conn *c, uint16_t cmd, const void *payload, size_t len,
                  int fd)
{
    int fds[1] = { fd };
    struct msg m = {
        .hdr = { .cmd = cmd, .msg_size = (uint32_t)(sizeof(struct vfio_user_header) + len),
                 .flags = VFIO_USER_F_TYPE_COMMAND },
        .payload = payload,
        .len = len,
        .fds = fd >= 0 ? fds : NULL,
        .nr_fds = fd >= 0 ? 1 : 0,
        .reply_fds = { -1, -1 },
    };
    int r;

    m.reply = g_byte_array_new();
    r = dispatch_command(c, &m);
    g_byte_array_unref(m.reply);
    if (fds[0] >= 0 && fd >= 0) {
        close(fds[0]); /* not taken by the handler */
    }
    return r;
}

static int restore_conn(vfud_dev *dev, struct dev_state *st, char **why)
{
    struct dh_conn *dc = st->conn;
    struct conn *c;
    int r;

    if (dev->conn != NULL) {
        *why = g_strdup("a new client connected to the new process first");
        return -EBUSY;
    }
    g_mutex_lock(&dev->conn_lock);
    c = conn_new(dev, dc->fd);
    dc->fd = -1;
    dev->conn = c;
    dev->client_since = dc->since;
    g_mutex_unlock(&dev->conn_lock);
    c->versioned = dc->versioned;
    c->write_multiple = dc->write_multiple;
    c->client_max_fds = dc->client_max_fds;
    c->client_max_xfer = dc->client_max_xfer;
    c->client_pgsize = dc->client_pgsize;
    c->next_id = (uint16_t)dc->next_id;
    c->msgs_in = dc->msgs_in;
    c->bytes_in = dc->bytes_in;
    c->msgs_out = dc->msgs_out;
    c->bytes_out = dc->bytes_out;
    c->errors = dc->errors;
    if (dc->twin_fd >= 0) {
        conn_add_twin(c, dc->twin_fd);
        dc->twin_fd = -1;
    }

    for (guint i = 0; i < st->windows->len; i++) {
        struct dh_window *w = &g_array_index(st->windows, struct dh_window, i);
        struct vfio_user_dma_map req = {
            .argsz = sizeof(req),
            .flags = (w->prot & VFUD_DMA_READ ? VFIO_USER_F_DMA_REGION_READ : 0) |
                     (w->prot & VFUD_DMA_WRITE ? VFIO_USER_F_DMA_REGION_WRITE : 0),
            .offset = w->offset,
            .addr = w->iova,
            .size = w->size,
        };

        r = replay(c, VFIO_USER_DMA_MAP, &req, sizeof(req), w->fd);
        w->fd = -1;
        if (r < 0) {
            *why = g_strdup_printf("DMA window %#" PRIx64 " +%#" PRIx64 ": %s",
                                   w->iova, w->size, g_strerror(-r));
            return r;
        }
    }

    g_mutex_lock(&dev->irq.lock);
    for (guint i = 0; i < st->irqs->len; i++) {
        struct dh_irq *di = &g_array_index(st->irqs, struct dh_irq, i);

        if (di->type >= VFUD_NR_IRQ_TYPES || di->vec >= dev->irq.count[di->type]) {
            continue; /* checked against the layout by the stream already */
        }
        util_close(&dev->irq.vec[di->type][di->vec].efd);
        dev->irq.vec[di->type][di->vec].efd = di->fd;
        dev->irq.vec[di->type][di->vec].masked = di->masked;
        di->fd = -1;
    }
    g_mutex_unlock(&dev->irq.lock);
    if (st->intx_unmask_fd >= 0) {
        struct {
            struct vfio_user_irq_set s;
        } req = { .s = {
            .argsz = sizeof(req),
            .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
            .index = VFIO_PCI_INTX_IRQ_INDEX,
            .start = 0,
            .count = 1,
        } };

        r = replay(c, VFIO_USER_DEVICE_SET_IRQS, &req, sizeof(req), st->intx_unmask_fd);
        st->intx_unmask_fd = -1;
        if (r < 0) {
            *why = g_strdup_printf("INTx unmask eventfd: %s", g_strerror(-r));
            return r;
        }
    }

    r = conn_import_input(c, false, dc->in->data, dc->in->len, dc->drain,
                          (const struct conn_saved_fd *)dc->in_fds->data, dc->in_fds->len);
    g_array_set_size(dc->in_fds, 0);
    if (r == 0 && dc->twin_fd < 0 && conn_socket_fd(c, true) >= 0) {
        r = conn_import_input(c, true, dc->twin_in->data, dc->twin_in->len,
                              dc->twin_drain,
                              (const struct conn_saved_fd *)dc->twin_fds->data,
                              dc->twin_fds->len);
        g_array_set_size(dc->twin_fds, 0);
    }
    if (r < 0) {
        *why = g_strdup_printf("unread input: %s", g_strerror(-r));
        return r;
    }
    if (c->versioned && dev->ops->attach != NULL) {
        device_cb_enter(dev, "attach");
        dev->ops->attach(dev);
        device_cb_leave(dev);
    }
    if (!c->versioned) {
        /* Still to negotiate: as long as a client that just connected. */
        device_handshake_start(dev);
    }
    return 0;
}

/* Map the client's memory over the region memory the new instance got. */
static int restore_regions(vfud_dev *dev, struct dev_state *st, char **why)
{
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        struct region *rg = &dev->regions[i];

        if (st->region_fd[i] < 0) {
            continue;
        }
        if (!rg->own_mem || rg->mem == NULL) {
            *why = g_strdup_printf("region %u has no memory of the daemon's "
                                   "in the new process", i);
            return -EINVAL;
        }
        if (mmap(rg->mem, (size_t)rg->size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_FIXED, st->region_fd[i], 0) == MAP_FAILED) {
            int e = errno;

            *why = g_strdup_printf("region %u: mmap: %s", i, g_strerror(e));
            return -e;
        }
        util_close(&rg->fd);
        rg->fd = st->region_fd[i];
        st->region_fd[i] = -1;
    }
    return 0;
}

static int restore_stop(vfud_dev *dev, enum device_handover state)
{
    int r = 0;

    /* Stopped only to load what the old process left in the same files. */
    dev->handover = state;
    if (dev->ops->quiesce != NULL) {
        device_cb_enter(dev, "quiesce");
        r = dev->ops->quiesce(dev, true);
        device_cb_leave(dev);
    }
    if (r < 0) {
        dev->handover = HANDOVER_NONE;
        return r;
    }
    device_still(dev, true);
    return 0;
}

int dev_restore_prepare(vfud_dev *dev)
{
    int r = restore_stop(dev, HANDOVER_STOPPED_AWAITING_STATE);

    if (r < 0) {
        g_autofree char *e = device_take_error();

        dev_warn(dev, "cannot stop before the upgrade's pause (%s); it will "
                 "inside it", e != NULL ? e : g_strerror(-r));
        return r;
    }
    return 0;
}

void dev_restore_unprepare(vfud_dev *dev)
{
    /* No state came for it: it runs as a fresh device. */
    if (dev->handover == HANDOVER_STOPPED_AWAITING_STATE) {
        dev_capture_resume(dev);
    }
}

int dev_restore(vfud_dev *dev, struct dev_state *st, char **why)
{
    gint64 t0 = g_get_monotonic_time(), t_loaded, t_regions, t_client;
    int r = 0;

    if (dev->handover == HANDOVER_STOPPED_AWAITING_STATE) {
        /* dev_restore_prepare() stopped it before the pause. */
        dev->handover = HANDOVER_STOPPED_FOR_RESTORE;
    } else {
        r = restore_stop(dev, HANDOVER_STOPPED_FOR_RESTORE);
        if (r < 0) {
            *why = g_strdup("the new instance cannot stop to load the state");
            return r;
        }
    }
    if (st->mig != NULL) {
        if (dev->ops->load_state == NULL) {
            *why = g_strdup_printf("plugin %s of the new process cannot load state",
                                   dev->ops->name);
            return -ENOTSUP;
        }
        r = mig_stream_load(dev, st->mig->data, st->mig->len);
        if (r < 0) {
            *why = g_strdup_printf("the new process refused the device state: %s",
                                   g_strerror(-r));
            return r;
        }
    }
    t_loaded = g_get_monotonic_time();
    r = restore_regions(dev, st, why);
    t_regions = g_get_monotonic_time();
    if (r == 0 && st->conn != NULL) {
        r = restore_conn(dev, st, why);
    }
    if (r < 0) {
        return r;
    }
    dev->proc->clients_served = st->clients_served;
    dev->proc->clients_refused = st->clients_refused;
    t_client = g_get_monotonic_time();
    dev_capture_resume(dev);
    /* Inside the guests' pause: which part of it is this device's. */
    dev_info(dev, "restored in %.1f ms (state %.1f, regions %.1f, client %.1f, "
             "resume %.1f ms)",
             (double)(g_get_monotonic_time() - t0) / 1000.0,
             (double)(t_loaded - t0) / 1000.0, (double)(t_regions - t_loaded) / 1000.0,
             (double)(t_client - t_regions) / 1000.0,
             (double)(g_get_monotonic_time() - t_client) / 1000.0);
    return 0;
}
