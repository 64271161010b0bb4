/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts.
 *
 * The client attaches one eventfd per vector with SET_IRQS; "raising" a
 * vector is writing 1 to it.  A plugin raises vector n without knowing what
 * the guest enabled: we look at config space (MSI-X, else MSI, else INTx).
 * A vector that is masked (SET_IRQS MASK, MSI-X function mask or table
 * entry, MSI per-vector mask) or has no eventfd keeps a pending bit and is
 * delivered when that changes, as a device's PBA would.
 *
 * INTx is a level: asserted by the device until it deasserts.  It is
 * auto-masked: we signal once and wait for UNMASK (QEMU sends it at EOI, or
 * KVM signals the resample eventfd), then signal again if still asserted.
 *
 * QEMU emulates the MSI-X table itself and never writes ours, so our table
 * starts with every vector unmasked (the PCI reset value would leave a QEMU
 * guest without interrupts); a client that does program it is honoured.
 *
 * Locking: everything here is under irq.lock, because plugins raise
 * interrupts from their own threads.  Config space belongs to the device
 * thread; state the guest reads there (MSI pending bits, INTx status) is
 * copied in by irq_sync_config() before each config read.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "irq.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#define MSIX_ENTRY_SIZE 16u
#define MSIX_CTRL_MASKBIT 1u

static const char *const irq_names[VFUD_NR_IRQ_TYPES] = {
    "INTx", "MSI", "MSI-X", "ERR", "REQ",
};

void irq_init(struct irq_state *irq)
{
    g_mutex_init(&irq->lock);
    irq->intx_unmask_fd = -1;
}

static void unmask_fd_detach(struct irq_state *irq)
{
    if (irq->intx_unmask_src != NULL) {
        g_source_destroy(irq->intx_unmask_src);
        g_source_unref(irq->intx_unmask_src);
        irq->intx_unmask_src = NULL;
    }
    util_close(&irq->intx_unmask_fd);
}

void irq_cleanup(struct irq_state *irq)
{
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; irq->vec[t] != NULL && i < irq->count[t]; i++) {
            util_close(&irq->vec[t][i].efd);
        }
        g_free(irq->vec[t]);
        irq->vec[t] = NULL;
    }
    unmask_fd_detach(irq);
    g_free(irq->msix_table);
    irq->msix_table = NULL;
    g_mutex_clear(&irq->lock);
}

void irq_realize(vfud_dev *dev)
{
    struct irq_state *irq = &dev->irq;
    const struct pci_config *pc = &dev->pci;

    irq->count[VFUD_IRQ_MSI] = pc->cap_msi != 0 ? pc->msi_vectors : 0;
    irq->count[VFUD_IRQ_MSIX] = pc->cap_msix != 0 ? pc->msix_vectors : 0;
    /* QEMU asks for ERR at realize and wires it if present. */
    if (irq->count[VFUD_IRQ_ERR] == 0) {
        irq->count[VFUD_IRQ_ERR] = 1;
    }
    if (irq->count[VFUD_IRQ_REQ] == 0) {
        irq->count[VFUD_IRQ_REQ] = 1;
    }
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        irq->vec[t] = g_new0(struct irq_vector, MAX(irq->count[t], 1));
        for (unsigned i = 0; i < irq->count[t]; i++) {
            irq->vec[t][i].efd = -1;
        }
    }
    if (irq->count[VFUD_IRQ_MSIX] > 0) {
        irq->msix_table = g_malloc0(MSIX_ENTRY_SIZE * irq->count[VFUD_IRQ_MSIX]);
    }
}

/* ------------------------------------------------------------------------
 * Delivery (irq.lock held)
 */
static void efd_signal(vfud_dev *dev, int efd)
{
    uint64_t one = 1;

    dev->irq.stats_delivered++;
    if (write(efd, &one, sizeof(one)) != sizeof(one)) {
        dev_debug(dev, "eventfd write failed: %s", g_strerror(errno));
    }
}

static bool msix_entry_masked(const struct irq_state *irq, unsigned n)
{
    uint32_t ctrl;

    memcpy(&ctrl, irq->msix_table + n * MSIX_ENTRY_SIZE + 12, sizeof(ctrl));
    return (ctrl & MSIX_CTRL_MASKBIT) != 0;
}

static bool vector_masked(vfud_dev *dev, unsigned type, unsigned n)
{
    struct irq_state *irq = &dev->irq;

    if (irq->vec[type][n].masked) {
        return true;
    }
    if (type == VFUD_IRQ_MSIX) {
        return pci_config_msix_function_masked(&dev->pci) ||
               msix_entry_masked(irq, n);
    }
    if (type == VFUD_IRQ_MSI) {
        return pci_config_msi_vector_masked(&dev->pci, n);
    }
    return false;
}

/* Deliver, or remember as pending. */
static void vector_raise(vfud_dev *dev, unsigned type, unsigned n)
{
    struct irq_vector *v = &dev->irq.vec[type][n];

    if (v->efd < 0 || dev->irq.held || vector_masked(dev, type, n)) {
        v->pending = true;
        return;
    }
    v->pending = false;
    efd_signal(dev, v->efd);
}

static void vector_retry(vfud_dev *dev, unsigned type, unsigned n)
{
    if (dev->irq.vec[type][n].pending) {
        vector_raise(dev, type, n);
    }
}

static bool intx_usable(vfud_dev *dev)
{
    return dev->irq.count[VFUD_IRQ_INTX] > 0 &&
           !pci_config_msix_enabled(&dev->pci) &&
           !pci_config_msi_enabled(&dev->pci) &&
           !pci_config_intx_disabled(&dev->pci);
}

/* Signal INTx if asserted and not waiting for an unmask. */
static void intx_update(vfud_dev *dev)
{
    struct irq_state *irq = &dev->irq;
    struct irq_vector *v;

    if (irq->count[VFUD_IRQ_INTX] == 0) {
        return;
    }
    v = &irq->vec[VFUD_IRQ_INTX][0];
    if (irq->intx_asserted && !irq->intx_signalled && !v->masked &&
        !irq->held && v->efd >= 0 && intx_usable(dev)) {
        irq->intx_signalled = true;
        efd_signal(dev, v->efd);
    }
}

static void intx_unmask(vfud_dev *dev)
{
    dev->irq.intx_signalled = false;
    intx_update(dev);
}

int irq_trigger(vfud_dev *dev, unsigned n)
{
    struct irq_state *irq = &dev->irq;
    int r = 0;

    g_mutex_lock(&irq->lock);
    irq->stats_raised++;
    if (irq->count[VFUD_IRQ_MSIX] > 0 && pci_config_msix_enabled(&dev->pci)) {
        if (n >= irq->count[VFUD_IRQ_MSIX]) {
            r = -EINVAL;
        } else {
            vector_raise(dev, VFUD_IRQ_MSIX, n);
        }
    } else if (irq->count[VFUD_IRQ_MSI] > 0 && pci_config_msi_enabled(&dev->pci)) {
        if (n >= pci_config_msi_enabled_vectors(&dev->pci)) {
            r = -EINVAL;
        } else {
            vector_raise(dev, VFUD_IRQ_MSI, n);
        }
    } else if (irq->count[VFUD_IRQ_INTX] > 0) {
        if (n != 0) {
            r = -EINVAL;
        } else {
            irq->intx_asserted = true;
            intx_update(dev);
        }
    } else {
        r = -ENOTCONN;
    }
    g_mutex_unlock(&irq->lock);
    return r;
}

void irq_intx_deassert(vfud_dev *dev)
{
    g_mutex_lock(&dev->irq.lock);
    dev->irq.intx_asserted = false;
    g_mutex_unlock(&dev->irq.lock);
}

int irq_signal(vfud_dev *dev, enum vfud_irq_type type)
{
    int r = 0;

    if (type != VFUD_IRQ_ERR && type != VFUD_IRQ_REQ) {
        return -EINVAL;
    }
    g_mutex_lock(&dev->irq.lock);
    if (dev->irq.vec[type] == NULL || dev->irq.vec[type][0].efd < 0) {
        r = -ENOTCONN;
    } else {
        efd_signal(dev, dev->irq.vec[type][0].efd);
    }
    g_mutex_unlock(&dev->irq.lock);
    return r;
}

void irq_config_changed(vfud_dev *dev, unsigned changed)
{
    struct irq_state *irq = &dev->irq;

    g_mutex_lock(&irq->lock);
    if (changed & PCI_CFG_CHANGED_MSIX) {
        for (unsigned i = 0; i < irq->count[VFUD_IRQ_MSIX]; i++) {
            vector_retry(dev, VFUD_IRQ_MSIX, i);
        }
    }
    if (changed & PCI_CFG_CHANGED_MSI) {
        for (unsigned i = 0; i < irq->count[VFUD_IRQ_MSI]; i++) {
            vector_retry(dev, VFUD_IRQ_MSI, i);
        }
    }
    /* INTx may have become usable again (INTx disable cleared, MSI off). */
    intx_update(dev);
    g_mutex_unlock(&irq->lock);
}

void irq_hold(vfud_dev *dev, bool hold)
{
    g_mutex_lock(&dev->irq.lock);
    dev->irq.held = hold;
    g_mutex_unlock(&dev->irq.lock);
    if (!hold) {
        irq_config_changed(dev, PCI_CFG_CHANGED_MSI | PCI_CFG_CHANGED_MSIX);
    }
}

void irq_sync_config(vfud_dev *dev)
{
    struct irq_state *irq = &dev->irq;

    g_mutex_lock(&irq->lock);
    pci_config_set_intx_status(&dev->pci, irq->intx_asserted);
    for (unsigned i = 0; i < irq->count[VFUD_IRQ_MSI]; i++) {
        pci_config_msi_set_pending(&dev->pci, i, irq->vec[VFUD_IRQ_MSI][i].pending);
    }
    g_mutex_unlock(&irq->lock);
}

void irq_detach(vfud_dev *dev)
{
    struct irq_state *irq = &dev->irq;

    g_mutex_lock(&irq->lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < irq->count[t]; i++) {
            util_close(&irq->vec[t][i].efd);
            irq->vec[t][i].masked = false;
        }
    }
    irq->intx_signalled = false;
    unmask_fd_detach(irq);
    g_mutex_unlock(&irq->lock);
}

void irq_reset(vfud_dev *dev)
{
    struct irq_state *irq = &dev->irq;

    g_mutex_lock(&irq->lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < irq->count[t]; i++) {
            irq->vec[t][i].pending = false;
        }
    }
    irq->intx_asserted = false;
    irq->intx_signalled = false;
    if (irq->msix_table != NULL) {
        memset(irq->msix_table, 0, MSIX_ENTRY_SIZE * irq->count[VFUD_IRQ_MSIX]);
    }
    g_mutex_unlock(&irq->lock);
}

/* ------------------------------------------------------------------------
 * MSI-X table and PBA in a BAR
 */
static bool range_within(uint64_t off, size_t len, uint64_t start, uint64_t size)
{
    return off >= start && len <= size && off - start <= size - len;
}

static bool range_overlaps(uint64_t off, size_t len, uint64_t start,
                           uint64_t size)
{
    return off < start + size && start < off + len;
}

bool irq_msix_access(vfud_dev *dev, unsigned index, uint64_t offset, void *buf,
                     size_t len, bool is_write, int *result)
{
    struct irq_state *irq = &dev->irq;
    const struct pci_config *pc = &dev->pci;
    unsigned n = irq->count[VFUD_IRQ_MSIX];
    uint64_t tsize = (uint64_t)n * MSIX_ENTRY_SIZE;
    uint64_t psize = (uint64_t)(n + 63) / 64 * 8;
    bool in_table, in_pba;

    if (n == 0) {
        return false;
    }
    in_table = index == pc->msix_table_bar &&
               range_overlaps(offset, len, pc->msix_table_offset, tsize);
    in_pba = index == pc->msix_pba_bar &&
             range_overlaps(offset, len, pc->msix_pba_offset, psize);
    if (!in_table && !in_pba) {
        return false;
    }
    *result = 0;
    g_mutex_lock(&irq->lock);
    if (in_table && range_within(offset, len, pc->msix_table_offset, tsize)) {
        uint8_t *p = irq->msix_table + (offset - pc->msix_table_offset);

        if (is_write) {
            unsigned first = (unsigned)((offset - pc->msix_table_offset) / MSIX_ENTRY_SIZE);
            unsigned last = (unsigned)((offset + len - 1 - pc->msix_table_offset) /
                                       MSIX_ENTRY_SIZE);

            memcpy(p, buf, len);
            for (unsigned i = first; i <= last; i++) {
                vector_retry(dev, VFUD_IRQ_MSIX, i);
            }
        } else {
            memcpy(buf, p, len);
        }
    } else if (in_pba && range_within(offset, len, pc->msix_pba_offset, psize)) {
        if (!is_write) {
            /* Build the bytes asked for from the pending flags. */
            uint8_t *out = buf;
            uint64_t first_bit = (offset - pc->msix_pba_offset) * 8;

            memset(out, 0, len);
            for (size_t b = 0; b < len * 8; b++) {
                uint64_t v = first_bit + b;

                if (v < n && irq->vec[VFUD_IRQ_MSIX][v].pending) {
                    out[b / 8] |= (uint8_t)(1u << (b % 8));
                }
            }
        }
        /* The PBA is read-only: writes are dropped, as QEMU does. */
    } else {
        dev_warn(dev, "region %u access [%#llx, +%zu) straddles the MSI-X "
                 "table or PBA", index, (unsigned long long)offset, len);
        *result = -EINVAL;
    }
    g_mutex_unlock(&irq->lock);
    return true;
}

/* ------------------------------------------------------------------------
 * DEVICE_GET_IRQ_INFO
 */
int handle_irq_info(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_irq_info req, *rep;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req)) {
        dev_warn(dev, "GET_IRQ_INFO: argsz %u < %zu", req.argsz, sizeof(req));
        return -EINVAL;
    }
    if (req.index >= VFUD_NR_IRQ_TYPES) {
        dev_warn(dev, "GET_IRQ_INFO: no IRQ index %u", req.index);
        return -EINVAL;
    }
    rep = msg_reply_alloc(m, sizeof(*rep));
    rep->argsz = sizeof(*rep);
    rep->index = req.index;
    rep->count = dev->irq.count[req.index];
    rep->flags = VFIO_IRQ_INFO_EVENTFD;
    switch (req.index) {
    case VFUD_IRQ_INTX:
        rep->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
        break;
    case VFUD_IRQ_MSI:
        rep->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_NORESIZE;
        break;
    case VFUD_IRQ_MSIX:
        /* Without NORESIZE, QEMU attaches MSI-X vectors one at a time. */
        rep->flags |= VFIO_IRQ_INFO_MASKABLE;
        break;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * DEVICE_SET_IRQS
 */
static bool is_eventfd(int fd)
{
    char path[64], target[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return false;
    }
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static gboolean intx_unmask_fd_ready(gint fd, GIOCondition cond, gpointer data)
{
    vfud_dev *dev = data;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        return G_SOURCE_CONTINUE;
    }
    g_mutex_lock(&dev->irq.lock);
    intx_unmask(dev);
    g_mutex_unlock(&dev->irq.lock);
    return G_SOURCE_CONTINUE;
}

/* Validated request: apply it (irq.lock held). */
static int set_irqs_apply(vfud_dev *dev, const struct vfio_user_irq_set *req,
                          const uint8_t *bools, struct msg *m)
{
    struct irq_state *irq = &dev->irq;
    unsigned data = req->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    unsigned action = req->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    unsigned t = req->index;

    if (req->count == 0) {
        /* Disable the whole index. */
        for (unsigned i = 0; i < irq->count[t]; i++) {
            util_close(&irq->vec[t][i].efd);
            irq->vec[t][i].masked = false;
        }
        if (t == VFUD_IRQ_INTX) {
            irq->intx_signalled = false;
            unmask_fd_detach(irq);
        }
        return 0;
    }
    for (unsigned k = 0; k < req->count; k++) {
        unsigned i = req->start + k;
        struct irq_vector *v = &irq->vec[t][i];
        bool sel = data != VFIO_IRQ_SET_DATA_BOOL || bools[k] != 0;

        switch (action) {
        case VFIO_IRQ_SET_ACTION_TRIGGER:
            if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
                util_close(&v->efd);
                if (m->nr_fds > 0) {
                    v->efd = msg_take_fd(m, k);
                }
                if (t == VFUD_IRQ_INTX) {
                    irq->intx_signalled = false;
                    intx_update(dev);
                } else {
                    vector_retry(dev, t, i);
                }
            } else if (sel) {
                /* A software trigger, as if the device raised it. */
                if (t == VFUD_IRQ_INTX) {
                    if (v->efd >= 0 && !v->masked) {
                        irq->intx_signalled = true;
                        efd_signal(dev, v->efd);
                    }
                } else if (v->efd >= 0) {
                    efd_signal(dev, v->efd);
                }
            }
            break;
        case VFIO_IRQ_SET_ACTION_MASK:
            if (sel) {
                v->masked = true;
            }
            break;
        case VFIO_IRQ_SET_ACTION_UNMASK:
            if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
                /* INTx only (checked): the resample fd means "unmask". */
                unmask_fd_detach(irq);
                if (m->nr_fds > 0) {
                    irq->intx_unmask_fd = msg_take_fd(m, 0);
                    util_set_nonblock(irq->intx_unmask_fd, true);
                    irq->intx_unmask_src =
                        g_unix_fd_source_new(irq->intx_unmask_fd, G_IO_IN);
                    g_source_set_callback(irq->intx_unmask_src,
                                          G_SOURCE_FUNC(intx_unmask_fd_ready),
                                          dev, NULL);
                    g_source_attach(irq->intx_unmask_src, dev->ctx);
                }
            } else if (sel) {
                v->masked = false;
                if (t == VFUD_IRQ_INTX) {
                    intx_unmask(dev);
                } else {
                    vector_retry(dev, t, i);
                }
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

int handle_set_irqs(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_irq_set req;
    unsigned data, action;
    const uint8_t *bools = m->payload + sizeof(req);
    int r;

    memcpy(&req, m->payload, sizeof(req));
    data = req.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    action = req.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    if (req.argsz != m->len) {
        dev_warn(dev, "SET_IRQS: argsz %u but %zu bytes of payload", req.argsz,
                 m->len);
        return -EINVAL;
    }
    if (req.index >= VFUD_NR_IRQ_TYPES) {
        dev_warn(dev, "SET_IRQS: no IRQ index %u", req.index);
        return -EINVAL;
    }
    if ((req.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) ||
        __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1) {
        dev_warn(dev, "SET_IRQS %s: flags %#x need exactly one DATA and one "
                 "ACTION bit", irq_names[req.index], req.flags);
        return -EINVAL;
    }
    if (m->nr_fds > 0 && data != VFIO_IRQ_SET_DATA_EVENTFD) {
        dev_warn(dev, "SET_IRQS %s: fds without DATA_EVENTFD", irq_names[req.index]);
        return -EINVAL;
    }
    if (req.count == 0) {
        if (action != VFIO_IRQ_SET_ACTION_TRIGGER || data != VFIO_IRQ_SET_DATA_NONE ||
            req.start != 0) {
            dev_warn(dev, "SET_IRQS %s: count 0 (disable) needs DATA_NONE | "
                     "ACTION_TRIGGER and start 0", irq_names[req.index]);
            return -EINVAL;
        }
    } else if (req.start >= dev->irq.count[req.index] ||
               req.count > dev->irq.count[req.index] - req.start) {
        dev_warn(dev, "SET_IRQS %s: vectors %u..%u, the device has %u",
                 irq_names[req.index], req.start, req.start + req.count - 1,
                 dev->irq.count[req.index]);
        return -EINVAL;
    }
    if (data == VFIO_IRQ_SET_DATA_BOOL) {
        if (m->len - sizeof(req) != req.count) {
            dev_warn(dev, "SET_IRQS %s: %zu bool bytes for %u vectors",
                     irq_names[req.index], m->len - sizeof(req), req.count);
            return -EINVAL;
        }
    } else if (m->len != sizeof(req)) {
        dev_warn(dev, "SET_IRQS %s: unexpected data after the header",
                 irq_names[req.index]);
        return -EINVAL;
    }
    if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
        if (m->nr_fds != 0 && m->nr_fds != req.count) {
            dev_warn(dev, "SET_IRQS %s: %u fds for %u vectors",
                     irq_names[req.index], m->nr_fds, req.count);
            return -EINVAL;
        }
        if (action == VFIO_IRQ_SET_ACTION_MASK) {
            dev_warn(dev, "SET_IRQS %s: MASK with an eventfd is not supported",
                     irq_names[req.index]);
            return -ENOTSUP;
        }
        if (action == VFIO_IRQ_SET_ACTION_UNMASK &&
            (req.index != VFUD_IRQ_INTX || req.count != 1)) {
            dev_warn(dev, "SET_IRQS %s: UNMASK with an eventfd is for INTx only",
                     irq_names[req.index]);
            return -ENOTSUP;
        }
        for (unsigned i = 0; i < m->nr_fds; i++) {
            if (!is_eventfd(m->fds[i])) {
                dev_warn(dev, "SET_IRQS %s: fd %u is not an eventfd",
                         irq_names[req.index], i);
                return -EINVAL;
            }
        }
    }
    if ((req.index == VFUD_IRQ_ERR || req.index == VFUD_IRQ_REQ) &&
        action != VFIO_IRQ_SET_ACTION_TRIGGER) {
        dev_warn(dev, "SET_IRQS %s: only TRIGGER applies", irq_names[req.index]);
        return -EINVAL;
    }

    g_mutex_lock(&dev->irq.lock);
    r = set_irqs_apply(dev, &req, bools, m);
    g_mutex_unlock(&dev->irq.lock);
    dev_debug(dev, "SET_IRQS %s flags %#x start %u count %u fds %u", irq_names[req.index],
              req.flags, req.start, req.count, m->nr_fds);
    return r;
}
