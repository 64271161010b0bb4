/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Operations on a running device, from the main thread (control socket,
 * reload): stopping without waiting, who may connect, snapshots.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "device_proc.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

struct device_stop_request {
    vfud_dev *dev;
    bool force;
    const char *why;
    GMainContext *ctx;
    device_stopped_fn done;
    void *opaque;
    int result;
};

static void stop_request_free(gpointer data)
{
    struct device_stop_request *rq = data;

    g_main_context_unref(rq->ctx);
    g_free(rq);
}

/* Main context: hand the outcome to whoever asked. */
static gboolean stop_answered(gpointer data)
{
    struct device_stop_request *rq = data;
    vfud_dev *dev = rq->dev;

    g_source_unref(dev->proc->stop_src); /* the context keeps it until we return */
    dev->proc->stop_src = NULL;
    dev->proc->stop_rq = NULL;
    rq->done(dev, rq->result, rq->opaque); /* may free dev */
    return G_SOURCE_REMOVE;
}

/* Device thread (or main, before the thread exists): post the answer. */
static void stop_answer(vfud_dev *dev, int result)
{
    struct device_stop_request *rq = dev->proc->stop_rq;
    GSource *s = g_idle_source_new();

    rq->result = result;
    g_source_set_callback(s, stop_answered, rq, stop_request_free);
    /* Set before attaching: the answer may run at once on the main thread. */
    dev->proc->stop_src = s;
    g_source_attach(s, rq->ctx);
}

static gboolean stop_on_thread(gpointer data)
{
    vfud_dev *dev = data;
    struct device_stop_request *rq = dev->proc->stop_rq;

    if (!rq->force && dev->conn != NULL) {
        /* A client came since the caller looked: it is not disturbed. */
        stop_answer(dev, -EBUSY);
        return G_SOURCE_REMOVE;
    }
    listener_unwatch(dev); /* accept nobody else while going */
    if (dev->conn != NULL) {
        device_client_gone(dev, rq->why);
    }
    g_main_loop_quit(dev->loop); /* device_proc.c's thread_exit answers */
    return G_SOURCE_REMOVE;
}

void device_stop_async(vfud_dev *dev, bool force, const char *why,
                       GMainContext *ctx, device_stopped_fn done, void *opaque)
{
    struct device_stop_request *rq = g_new0(struct device_stop_request, 1);
    GSource *s;

    rq->dev = dev;
    rq->force = force;
    rq->why = why;
    rq->ctx = g_main_context_ref(ctx);
    rq->done = done;
    rq->opaque = opaque;
    dev->proc->stop_rq = rq;
    if (dev->thread == NULL) {
        stop_answer(dev, 0);
        return;
    }
    s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_HIGH);
    g_source_set_callback(s, stop_on_thread, dev, NULL);
    g_source_attach(s, dev->ctx);
    g_source_unref(s);
}

void device_stop_answer_pending(vfud_dev *dev)
{
    if (dev->proc->stop_rq != NULL) {
        stop_answer(dev, 0);
    }
}

void device_stop_cancel(vfud_dev *dev)
{
    if (dev->proc->stop_src != NULL) {
        g_source_destroy(dev->proc->stop_src);
        g_source_unref(dev->proc->stop_src);
        dev->proc->stop_src = NULL;
        dev->proc->stop_rq = NULL;
    }
}

static GArray *ids_copy(const GArray *ids)
{
    GArray *c;

    if (ids == NULL || ids->len == 0) {
        return NULL;
    }
    c = g_array_sized_new(FALSE, FALSE, sizeof(guint32), ids->len);
    g_array_append_vals(c, ids->data, ids->len);
    return c;
}

void device_set_access(vfud_dev *dev, const GArray *uids, const GArray *gids)
{
    GArray *old_u, *old_g;

    g_mutex_lock(&dev->conn_lock);
    old_u = dev->proc->allowed_uids;
    old_g = dev->proc->allowed_gids;
    dev->proc->allowed_uids = ids_copy(uids);
    dev->proc->allowed_gids = ids_copy(gids);
    g_mutex_unlock(&dev->conn_lock);
    if (old_u != NULL) {
        g_array_unref(old_u);
    }
    if (old_g != NULL) {
        g_array_unref(old_g);
    }
}

void device_access_free(vfud_dev *dev)
{
    if (dev->proc->allowed_uids != NULL) {
        g_array_unref(dev->proc->allowed_uids);
    }
    if (dev->proc->allowed_gids != NULL) {
        g_array_unref(dev->proc->allowed_gids);
    }
}

bool device_has_client(vfud_dev *dev)
{
    bool r;

    g_mutex_lock(&dev->conn_lock);
    r = dev->conn != NULL;
    g_mutex_unlock(&dev->conn_lock);
    return r;
}

/* The device thread writes these plainly; a relaxed atomic read gets some
 * recent value without tearing. */
#define READ_COUNTER(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void device_snapshot(vfud_dev *dev, struct device_snapshot *s)
{
    struct conn *c;

    memset(s, 0, sizeof(*s));
    s->phase = dev->phase;
    s->pid = -1;
    s->log_level = __atomic_load_n(&dev->log_level, __ATOMIC_RELAXED);
    s->clients_served = READ_COUNTER(dev->proc->clients_served);
    s->clients_refused = READ_COUNTER(dev->proc->clients_refused);
    s->isolated = dev->proc->isolate;
    s->iso_pid = READ_COUNTER(dev->proc->iso_pid);
    s->iso_restarts = READ_COUNTER(dev->proc->iso_restarts);

    /* conn stays allocated while it is dev->conn (conn_lock). */
    g_mutex_lock(&dev->conn_lock);
    c = dev->conn;
    if (c != NULL) {
        s->connected = true;
        s->versioned = READ_COUNTER(c->versioned);
        s->pid = c->pid;
        s->uid = c->uid;
        s->gid = c->gid;
        s->since = dev->client_since;
        s->client.msgs_in = READ_COUNTER(c->msgs_in);
        s->client.bytes_in = READ_COUNTER(c->bytes_in);
        s->client.msgs_out = READ_COUNTER(c->msgs_out);
        s->client.bytes_out = READ_COUNTER(c->bytes_out);
        s->client.errors = READ_COUNTER(c->errors);
    }
    s->past = dev->totals;
    g_mutex_unlock(&dev->conn_lock);

    if (dev->phase >= DEV_REALIZED && dev->dma.windows != NULL) {
        g_rw_lock_reader_lock(&dev->dma.lock);
        s->dma_windows = dev->dma.windows->len;
        s->dma_bytes = dev->dma.mapped_bytes;
        g_rw_lock_reader_unlock(&dev->dma.lock);
    }
    g_mutex_lock(&dev->irq.lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        s->irq_count[t] = dev->irq.count[t];
        for (unsigned i = 0; dev->irq.vec[t] != NULL && i < dev->irq.count[t]; i++) {
            if (dev->irq.vec[t][i].efd >= 0) {
                s->irq_attached[t]++;
            }
        }
    }
    s->irq_raised = dev->irq.stats_raised;
    s->irq_delivered = dev->irq.stats_delivered;
    g_mutex_unlock(&dev->irq.lock);

    /* Config space bytes the guest writes through the device thread: a
     * stale bit at worst, for display only. */
    if (dev->pci_declared) {
        if (pci_config_msix_enabled(&dev->pci)) {
            s->irq_mode = "msix";
        } else if (pci_config_msi_enabled(&dev->pci)) {
            s->irq_mode = "msi";
        } else if (dev->irq.count[VFUD_IRQ_INTX] > 0 &&
                   !pci_config_intx_disabled(&dev->pci)) {
            s->irq_mode = "intx";
        } else {
            s->irq_mode = "none";
        }
        s->bus_master = pci_config_bus_master(&dev->pci);
    } else {
        s->irq_mode = "none";
    }
}
