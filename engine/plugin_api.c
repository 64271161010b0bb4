/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The plugin API (include/vfiouserd/plugin.h): the only symbols the daemon
 * exports.  Thin checks and forwarding to the modules that own the state.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dma.h"
#include "irq.h"
#include "log.h"
#include "region.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>

#define API VFUD_EXPORT

struct vfud_watch {
    vfud_dev *dev;
    GSource *src;
    vfud_fd_fn fd_fn;
    vfud_timer_fn timer_fn;
    void *opaque;
    int fd;
};

/* ---- instance, logging ---- */
API const char *vfud_dev_name(const vfud_dev *dev)
{
    return dev->name;
}

API void vfud_set_private(vfud_dev *dev, void *priv)
{
    dev->priv = priv;
}

API void *vfud_get_private(const vfud_dev *dev)
{
    return dev->priv;
}

API void vfud_log(vfud_dev *dev, int level, const char *fmt, ...)
{
    char text[2048];
    va_list ap;

    if (level < LOG_EMERG || level > LOG_DEBUG) {
        level = LOG_INFO;
    }
    if (!device_log_enabled(dev, level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    device_log(dev, level, "%s", text);
}

API void vfud_error(vfud_dev *dev, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    (void)dev;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    device_set_error(text);
}

API bool vfud_debug_enabled(const vfud_dev *dev)
{
    return device_log_enabled(dev, LOG_DEBUG);
}

API int vfud_client_describe(vfud_dev *dev, char *buf, size_t len)
{
    g_autofree char *path = NULL;
    g_autofree char *comm = NULL;
    pid_t pid;

    if (len == 0) {
        return -EINVAL;
    }
    g_mutex_lock(&dev->conn_lock);
    pid = dev->conn != NULL ? dev->conn->pid : -1;
    g_mutex_unlock(&dev->conn_lock);
    if (pid <= 0) {
        snprintf(buf, len, "pid ?");
        return dev->conn != NULL ? 0 : -ENOTCONN;
    }
    /* The name is what a user recognises (spdk_nvme_perf, qemu-system-x86);
     * it may be unreadable (another user's process under hidepid). */
    path = g_strdup_printf("/proc/%d/comm", (int)pid);
    if (g_file_get_contents(path, &comm, NULL, NULL)) {
        g_strchomp(comm);
        snprintf(buf, len, "pid %d (%s)", (int)pid, comm);
    } else {
        snprintf(buf, len, "pid %d", (int)pid);
    }
    return 0;
}

/* ---- parsing ---- */
API int vfud_parse_bool(const char *s, bool *out)
{
    return util_parse_bool(s, out);
}

API int vfud_parse_u64(const char *s, uint64_t *out)
{
    return util_parse_u64(s, out);
}

API int vfud_parse_size(const char *s, uint64_t *out)
{
    return util_parse_size(s, out);
}

/* ---- declaration ---- */
static int declaring(vfud_dev *dev, const char *what)
{
    if (dev->phase != DEV_REALIZING) {
        device_set_error("only allowed from realize()");
        dev_err(dev, "%s called outside realize()", what);
        return -EBUSY;
    }
    if (!dev->pci_declared) {
        device_set_error("call vfud_pci_init() first");
        return -EINVAL;
    }
    return 0;
}

static int cap_result(vfud_dev *dev, int r)
{
    if (r < 0) {
        device_set_error(dev->pci.error[0] != '\0' ? dev->pci.error
                                                   : g_strerror(-r));
    }
    return r;
}

API int vfud_pci_init(vfud_dev *dev, enum vfud_pci_type type,
                      const struct vfud_pci_id *id)
{
    if (dev->phase != DEV_REALIZING) {
        dev_err(dev, "vfud_pci_init called outside realize()");
        return -EBUSY;
    }
    if (dev->pci_declared) {
        device_set_error("vfud_pci_init() called twice");
        return -EEXIST;
    }
    if (id == NULL || (type != VFUD_PCI_CONVENTIONAL && type != VFUD_PCI_EXPRESS)) {
        device_set_error("invalid PCI type or identity");
        return -EINVAL;
    }
    pci_config_init(&dev->pci, type, id);
    dev->pci_declared = true;
    return 0;
}

API int vfud_pci_add_cap_pm(vfud_dev *dev)
{
    int r = declaring(dev, "vfud_pci_add_cap_pm");

    return r < 0 ? r : cap_result(dev, pci_cap_add_pm(&dev->pci));
}

API int vfud_pci_add_cap_msi(vfud_dev *dev, unsigned nr_vectors, unsigned flags)
{
    int r = declaring(dev, "vfud_pci_add_cap_msi");

    return r < 0 ? r : cap_result(dev, pci_cap_add_msi(&dev->pci, nr_vectors, flags));
}

API int vfud_pci_add_cap_msix(vfud_dev *dev, unsigned nr_vectors,
                              unsigned table_bar, uint32_t table_offset,
                              unsigned pba_bar, uint32_t pba_offset)
{
    int r = declaring(dev, "vfud_pci_add_cap_msix");

    return r < 0 ? r
                 : cap_result(dev, pci_cap_add_msix(&dev->pci, nr_vectors, table_bar,
                                                    table_offset, pba_bar, pba_offset));
}

API int vfud_pci_add_cap_express(vfud_dev *dev, unsigned flags)
{
    int r = declaring(dev, "vfud_pci_add_cap_express");

    return r < 0 ? r : cap_result(dev, pci_cap_add_express(&dev->pci, flags));
}

API int vfud_pci_add_cap_vendor(vfud_dev *dev, const void *data, size_t len)
{
    int r = declaring(dev, "vfud_pci_add_cap_vendor");

    return r < 0 ? r : cap_result(dev, pci_cap_add_vendor(&dev->pci, data, len));
}

API int vfud_pci_add_ext_cap_dsn(vfud_dev *dev, uint64_t serial)
{
    int r = declaring(dev, "vfud_pci_add_ext_cap_dsn");

    return r < 0 ? r : cap_result(dev, pci_ext_cap_add_dsn(&dev->pci, serial));
}

API int vfud_region_add(vfud_dev *dev, unsigned index, uint64_t size,
                        unsigned flags)
{
    int r = declaring(dev, "vfud_region_add");

    return r < 0 ? r : region_add(dev, index, size, flags);
}

API void *vfud_region_alloc_mmap(vfud_dev *dev, unsigned index,
                                 const struct vfud_mmap_area *areas,
                                 unsigned nr_areas)
{
    if (declaring(dev, "vfud_region_alloc_mmap") < 0) {
        errno = EBUSY;
        return NULL;
    }
    return region_alloc_mmap(dev, index, areas, nr_areas);
}

API int vfud_region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd,
                                uint64_t fd_offset, void *addr,
                                const struct vfud_mmap_area *areas,
                                unsigned nr_areas)
{
    int r = declaring(dev, "vfud_region_set_mmap_fd");

    return r < 0 ? r
                 : region_set_mmap_fd(dev, index, fd, fd_offset, addr, areas, nr_areas);
}

API int vfud_irq_setup(vfud_dev *dev, enum vfud_irq_type type, unsigned count)
{
    int r = declaring(dev, "vfud_irq_setup");

    if (r < 0) {
        return r;
    }
    switch (type) {
    case VFUD_IRQ_INTX:
    case VFUD_IRQ_ERR:
    case VFUD_IRQ_REQ:
        if (count > 1) {
            device_set_error("INTx, ERR and REQ have at most one vector");
            return -EINVAL;
        }
        dev->irq.count[type] = count;
        return 0;
    case VFUD_IRQ_MSI:
    case VFUD_IRQ_MSIX:
        device_set_error("MSI and MSI-X vectors come from their capabilities");
        return -EINVAL;
    default:
        device_set_error("no such interrupt type");
        return -EINVAL;
    }
}

/* ---- interrupts ---- */
API int vfud_irq_trigger(vfud_dev *dev, unsigned n)
{
    return irq_trigger(dev, n);
}

API void vfud_intx_deassert(vfud_dev *dev)
{
    irq_intx_deassert(dev);
}

API int vfud_irq_signal(vfud_dev *dev, enum vfud_irq_type type)
{
    return irq_signal(dev, type);
}

/* ---- DMA ---- */
API int vfud_dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len)
{
    return dma_read(dev, iova, buf, len);
}

API int vfud_dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len)
{
    return dma_write(dev, iova, buf, len);
}

API int vfud_dma_sgl_get(vfud_dev *dev, uint64_t iova, size_t len,
                         unsigned prot, vfud_sg *sg, struct iovec *iov,
                         unsigned max_sg)
{
    int n;

    if (iov == NULL) {
        return -EINVAL;
    }
    n = dma_sg_get(dev, iova, len, prot, sg, max_sg);
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = sg[i].base;
        iov[i].iov_len = sg[i].len;
    }
    return n;
}

API void vfud_dma_sgl_put(vfud_dev *dev, vfud_sg *sg, unsigned nr_sg)
{
    dma_sg_put(dev, sg, nr_sg);
}

API size_t vfud_sg_size(void)
{
    return sizeof(struct vfud_sg);
}

API vfud_sg *vfud_sg_alloc(unsigned nr)
{
    return g_try_new0(struct vfud_sg, MAX(nr, 1u));
}

API void vfud_sg_free(vfud_sg *sg)
{
    g_free(sg);
}

API vfud_sg *vfud_sg_at(vfud_sg *sg, unsigned i)
{
    return sg + i;
}

API void vfud_dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    dma_mark_dirty(dev, iova, len);
}

API bool vfud_mig_handover(vfud_dev *dev)
{
    return dev->handover != HANDOVER_NONE;
}

/* ---- config space ---- */
API bool vfud_pci_bus_master(vfud_dev *dev)
{
    return (__atomic_load_n(&dev->pci.cfg[4], __ATOMIC_RELAXED) & 0x04) != 0;
}

API int vfud_pci_config_read(vfud_dev *dev, unsigned offset, void *buf, size_t len)
{
    if (util_range_exceeds(offset, len, dev->pci.size)) {
        return -EINVAL;
    }
    pci_config_read(&dev->pci, offset, buf, len);
    return 0;
}

/* ---- work ---- */
API int vfud_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    if (fn == NULL) {
        return -EINVAL;
    }
    return device_defer(dev, fn, opaque);
}

static GMutex worker_create_lock;

API int vfud_submit(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    if (fn == NULL) {
        return -EINVAL;
    }
    g_mutex_lock(&worker_create_lock);
    if (dev->worker == NULL) {
        dev->worker = worker_new(dev);
    }
    g_mutex_unlock(&worker_create_lock);
    return worker_submit(dev->worker, fn, opaque);
}

API void vfud_submit_drain(vfud_dev *dev)
{
    if (dev->worker != NULL) {
        worker_drain(dev->worker, device_on_own_thread(dev) ? dev->conn : NULL);
    }
}

API int vfud_wait(vfud_dev *dev, bool (*done)(void *opaque), void *opaque,
                  unsigned timeout_ms)
{
    gint64 deadline = timeout_ms > 0
                          ? g_get_monotonic_time() + (gint64)timeout_ms * 1000
                          : G_MAXINT64;
    bool own = device_on_own_thread(dev);

    while (!done(opaque)) {
        if (g_get_monotonic_time() >= deadline) {
            return -ETIMEDOUT;
        }
        if (own && dev->conn != NULL && !dev->conn->closing) {
            conn_pump_replies(dev->conn, 1);
        } else {
            g_usleep(200);
        }
    }
    return 0;
}

static gboolean watch_fd_ready(gint fd, GIOCondition cond, gpointer data)
{
    struct vfud_watch *w = data;
    unsigned ev = 0;

    if (cond & G_IO_IN) {
        ev |= VFUD_EV_IN;
    }
    if (cond & G_IO_OUT) {
        ev |= VFUD_EV_OUT;
    }
    if (cond & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
        ev |= VFUD_EV_ERR;
    }
    return w->fd_fn(w->dev, fd, ev, w->opaque) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean watch_timer_fired(gpointer data)
{
    struct vfud_watch *w = data;

    return w->timer_fn(w->dev, w->opaque) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static vfud_watch *watch_attach(vfud_dev *dev, struct vfud_watch *w, GSource *s,
                                GSourceFunc fn)
{
    w->dev = dev;
    w->src = s;
    /* The watch lives as long as its source: freed when it is destroyed. */
    g_source_set_callback(s, fn, w, g_free);
    g_source_attach(s, dev->ctx);
    g_source_unref(s);
    return w;
}

API vfud_watch *vfud_watch_fd(vfud_dev *dev, int fd, unsigned events,
                              vfud_fd_fn fn, void *opaque)
{
    struct vfud_watch *w;
    GIOCondition cond = G_IO_ERR | G_IO_HUP;

    if (fn == NULL || fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (events & VFUD_EV_IN) {
        cond |= G_IO_IN;
    }
    if (events & VFUD_EV_OUT) {
        cond |= G_IO_OUT;
    }
    w = g_new0(struct vfud_watch, 1);
    w->fd_fn = fn;
    w->opaque = opaque;
    w->fd = fd;
    return watch_attach(dev, w, g_unix_fd_source_new(fd, cond),
                        G_SOURCE_FUNC(watch_fd_ready));
}

API vfud_watch *vfud_watch_timer(vfud_dev *dev, unsigned interval_ms,
                                 vfud_timer_fn fn, void *opaque)
{
    struct vfud_watch *w;

    if (fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    w = g_new0(struct vfud_watch, 1);
    w->timer_fn = fn;
    w->opaque = opaque;
    return watch_attach(dev, w, g_timeout_source_new(interval_ms), watch_timer_fired);
}

API void vfud_watch_remove(vfud_watch *w)
{
    if (w != NULL) {
        g_source_destroy(w->src); /* frees w */
    }
}
