/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices: plugin instance life cycle, the per-device thread and its
 * GMainContext, attaching clients, client loss and reset.
 *
 * create/config/realize/start/destroy run on the main thread, before the
 * device thread exists or after it has stopped; everything else of a
 * device runs on its own thread.
 */
#include "config.h"

#include "conn.h"
#include "conn_uring.h"
#include "device.h"
#include "log.h"
#include "migration.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

static __thread vfud_dev *current_device;
static __thread char *current_error;
static struct device_hooks hooks;

struct deferred_work {
    vfud_work_fn fn;
    void *opaque;
};

vfud_dev *device_current(void)
{
    return current_device;
}

bool device_on_own_thread(const vfud_dev *dev)
{
    return current_device == dev;
}

void device_set_error(const char *msg)
{
    g_free(current_error);
    current_error = g_strdup(msg);
}

char *device_take_error(void)
{
    char *e = current_error;

    current_error = NULL;
    return e;
}

void device_set_hooks(const struct device_hooks *h)
{
    hooks = *h;
}

void device_client_hook(vfud_dev *dev)
{
    if (hooks.client_changed != NULL) {
        hooks.client_changed(dev);
    }
}

void device_command_hook(vfud_dev *dev, const struct msg *m, int r)
{
    if (hooks.command != NULL) {
        hooks.command(dev, m, r);
    }
}

int device_open_peer_maps(int client_sock)
{
    return hooks.open_peer_maps != NULL ? hooks.open_peer_maps(client_sock) : -ENOSYS;
}

/* "STATUS=dev: ..." for the service manager, if the process wants it. */
static void device_status(vfud_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void device_status(vfud_dev *dev, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (hooks.status == NULL) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    hooks.status(dev, msg);
}

bool device_log_enabled(const vfud_dev *dev, int level)
{
    /* Changed by the main thread at run time (vfiouserctl log-level). */
    int own = dev != NULL ? __atomic_load_n(&dev->log_level, __ATOMIC_RELAXED) : -1;

    if (own >= 0) {
        return level <= own;
    }
    return log_enabled(level);
}

void device_log(const vfud_dev *dev, int level, const char *fmt, ...)
{
    va_list ap;

    if (!device_log_enabled(dev, level)) {
        return;
    }
    /* The device's own level was checked: it may be more verbose than the
     * daemon's (vfiouserctl log-level), so skip the daemon-wide check. */
    va_start(ap, fmt);
    log_vmsg_always(level, dev != NULL ? dev->name : NULL, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------
 * Timing plugin callbacks
 */
static unsigned cb_limit_ms = 1000;

void device_set_callback_limit(unsigned ms)
{
    cb_limit_ms = ms;
}

unsigned device_callback_limit(void)
{
    return cb_limit_ms;
}

/* Every region access passes here twice, so the clock is the coarse one:
 * reading it is a load from the vDSO page, where CLOCK_MONOTONIC costs a
 * clock-source read (in a VM the biggest single item of the daemon's user
 * time in make bench).  Its tick (1-10 ms) is far below the limits this
 * serves, which are in hundreds of ms.  Microseconds; never 0. */
gint64 device_cb_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000 + 1;
}

void device_cb_enter(vfud_dev *dev, const char *name)
{
    dev->cb_name = name;
    __atomic_store_n(&dev->cb_started, device_cb_clock(), __ATOMIC_RELEASE);
}

/* The plugin made a forbidden system call: its client goes (after the
 * message being served has been answered) and no other is accepted. */
static gboolean sandbox_fail(gpointer data)
{
    vfud_dev *dev = data;

    device_client_gone(dev, "sandbox violation");
    return G_SOURCE_REMOVE;
}

void device_cb_leave(vfud_dev *dev)
{
    gint64 t0 = __atomic_exchange_n(&dev->cb_started, 0, __ATOMIC_ACQ_REL);
    gint64 ms = (device_cb_clock() - t0) / 1000;

    if (G_UNLIKELY(__atomic_load_n(&dev->sandbox_failed, __ATOMIC_ACQUIRE)) &&
        !dev->sandbox_handled && dev->ctx != NULL) {
        GSource *src = g_idle_source_new();

        dev->sandbox_handled = true;
        g_source_set_callback(src, sandbox_fail, dev, NULL);
        g_source_attach(src, dev->ctx);
        g_source_unref(src);
    }
    if (cb_limit_ms > 0 && t0 != 0 && ms >= cb_limit_ms) {
        dev_warn(dev, "plugin callback %s returned after %lld ms (limit %u ms)",
                 dev->cb_name, (long long)ms, cb_limit_ms);
    }
}

/* ------------------------------------------------------------------------
 * Creation and configuration
 */
vfud_dev *device_new(const char *name, const struct vfud_plugin *ops)
{
    vfud_dev *dev = g_new0(vfud_dev, 1);

    dev->name = g_strdup(name);
    dev->ops = ops;
    dev->log_level = -1;
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        region_init(&dev->regions[i]);
    }
    irq_init(&dev->irq);
    dma_init(&dev->dma);
    migration_init(dev);
    g_mutex_init(&dev->conn_lock);
    g_mutex_init(&dev->defer_lock);
    g_queue_init(&dev->deferred);
    dev->ctx = g_main_context_new();
    return dev;
}

/* Report a failed plugin callback: "where: [dev] what: reason". */
static void report_failure(vfud_dev *dev, const char *where, const char *what,
                           int r)
{
    g_autofree char *why = device_take_error();

    log_error(NULL, "%s: [%s] %s: %s", where, dev->name, what,
              why != NULL ? why : g_strerror(r < 0 ? -r : EINVAL));
}

bool device_knows_key(const struct vfud_plugin *ops, const char *key)
{
    const struct vfud_config_key *k = ops->config_keys;

    if (k == NULL) {
        return true;
    }
    for (; k->name != NULL; k++) {
        if (strcmp(k->name, key) == 0 || g_pattern_match_simple(k->name, key)) {
            return true;
        }
    }
    return false;
}

int device_configure(vfud_dev *dev, const char *where,
                     const struct device_key *keys, unsigned n)
{
    int r, errors = 0;

    g_free(dev->where);
    dev->where = g_strdup(where);
    if (dev->ops->create != NULL) {
        r = dev->ops->create(dev);
        if (r < 0) {
            report_failure(dev, dev->where, "create failed", r);
            return r;
        }
    }
    dev->created = true;
    for (unsigned i = 0; i < n; i++) {
        const struct device_key *e = &keys[i];

        if (!device_knows_key(dev->ops, e->key)) {
            log_error(NULL, "%s: [%s] unknown key '%s'", e->where, dev->name, e->key);
            errors++;
            continue;
        }
        if (dev->ops->config == NULL) {
            log_error(NULL, "%s: [%s] plugin '%s' takes no keys ('%s')", e->where,
                      dev->name, dev->ops->name, e->key);
            errors++;
            continue;
        }
        r = dev->ops->config(dev, e->key, e->value);
        if (r < 0) {
            g_autofree char *why = device_take_error();

            log_error(NULL, "%s: [%s] %s = %s: %s", e->where, dev->name, e->key,
                      e->value, why != NULL ? why : g_strerror(-r));
            errors++;
        }
    }
    if (errors > 0) {
        return -EINVAL;
    }
    if (dev->ops->config_complete != NULL) {
        r = dev->ops->config_complete(dev);
        if (r < 0) {
            report_failure(dev, dev->where, "incomplete configuration", r);
            return r;
        }
    }
    dev->phase = DEV_CONFIGURED;
    return 0;
}

int device_realize(vfud_dev *dev)
{
    int r;

    dev->phase = DEV_REALIZING;
    r = dev->ops->realize(dev);
    if (r < 0) {
        dev->phase = DEV_CONFIGURED;
        report_failure(dev, dev->where, "device creation failed", r);
        return r;
    }
    if (!dev->pci_declared) {
        dev->phase = DEV_CONFIGURED;
        log_error(NULL, "%s: [%s] plugin '%s' did not call vfud_pci_init() in "
                  "realize", dev->where, dev->name, dev->ops->name);
        return -EINVAL;
    }
    pci_config_set_intx(&dev->pci, dev->irq.count[VFUD_IRQ_INTX] > 0);
    r = pci_config_finalize(&dev->pci);
    if (r < 0) {
        dev->phase = DEV_CONFIGURED;
        log_error(NULL, "%s: [%s] invalid PCI configuration: %s", dev->where,
                  dev->name,
                  dev->pci.error[0] != '\0' ? dev->pci.error : g_strerror(-r));
        return r;
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        const struct region *rg = &dev->regions[i];

        if (rg->size != 0 && dev->ops->region_read == NULL &&
            (rg->fd < 0 || rg->mem == NULL)) {
            dev->phase = DEV_CONFIGURED;
            log_error(NULL, "%s: [%s] region %u has trapped parts but the plugin "
                      "has no region_read/region_write", dev->where, dev->name, i);
            return -EINVAL;
        }
    }
    irq_realize(dev);
    dev->phase = DEV_REALIZED;
    return 0;
}

/* ------------------------------------------------------------------------
 * Clients
 */
struct conn *device_get_conn(vfud_dev *dev)
{
    struct conn *c;

    g_mutex_lock(&dev->conn_lock);
    c = dev->conn;
    if (c != NULL && !c->closing) {
        conn_ref(c);
    } else {
        c = NULL;
    }
    g_mutex_unlock(&dev->conn_lock);
    return c;
}

/* A client that has not negotiated VERSION in time is dropped: one client
 * at a time means a silent connection would keep QEMU out for good. */
static unsigned handshake_timeout_ms = 10000;

void device_set_handshake_timeout(unsigned ms)
{
    handshake_timeout_ms = ms;
}

static gboolean handshake_expired(gpointer data)
{
    vfud_dev *dev = data;

    g_source_unref(dev->handshake_src);
    dev->handshake_src = NULL;
    if (dev->conn != NULL && !dev->conn->versioned && !dev->conn->closing) {
        dev_warn(dev, "client pid %d sent no VERSION within %u ms; dropped",
                 (int)dev->conn->pid, handshake_timeout_ms);
        device_client_gone(dev, "no VERSION in time");
    }
    return G_SOURCE_REMOVE;
}

/* One timer per client, gone with it: a storm of short connections must
 * not leave timers behind. */
static void handshake_deadline(vfud_dev *dev)
{
    if (handshake_timeout_ms == 0) {
        return;
    }
    dev->handshake_src = g_timeout_source_new(handshake_timeout_ms);
    g_source_set_callback(dev->handshake_src, handshake_expired, dev, NULL);
    g_source_attach(dev->handshake_src, dev->ctx);
}

static void handshake_cancel(vfud_dev *dev)
{
    if (dev->handshake_src != NULL) {
        g_source_destroy(dev->handshake_src);
        g_source_unref(dev->handshake_src);
        dev->handshake_src = NULL;
    }
}

void device_handshake_start(vfud_dev *dev)
{
    if (dev->handshake_src == NULL) {
        handshake_deadline(dev);
    }
}

int device_attach(vfud_dev *dev, int cfd, const struct ucred *cred)
{
    if (dev->conn != NULL && conn_finish_if_hung_up(dev->conn)) {
        /* The last client closed just before this one connected: we saw
         * the new connection before its EOF. */
        device_client_gone(dev, "connection closed");
    }
    if (dev->conn != NULL) {
        /* One client at a time; the current one is not disturbed. */
        dev_warn(dev, "refused a second client (pid %d uid %u): the device "
                 "is serving pid %d", (int)cred->pid, (unsigned)cred->uid,
                 (int)dev->conn->pid);
        return -EBUSY;
    }
    g_mutex_lock(&dev->conn_lock);
    dev->conn = conn_new(dev, cfd);
    dev->conn->write_multiple = dev->write_multiple;
    dev->client_since = g_get_real_time();
    g_mutex_unlock(&dev->conn_lock);
    handshake_deadline(dev);
    dev_info(dev, "client connected (pid %d uid %u gid %u)", (int)cred->pid,
             (unsigned)cred->uid, (unsigned)cred->gid);
    device_status(dev, "client pid %d connected", (int)cred->pid);
    device_client_hook(dev);
    return 0;
}

void device_client_gone(vfud_dev *dev, const char *why)
{
    struct conn *c = dev->conn;
    bool attached;

    if (c == NULL) {
        return;
    }
    attached = c->versioned;
    handshake_cancel(dev);
    conn_shutdown(c);
    g_mutex_lock(&dev->conn_lock);
    dev->conn = NULL;
    dev->totals.msgs_in += c->msgs_in;
    dev->totals.bytes_in += c->bytes_in;
    dev->totals.msgs_out += c->msgs_out;
    dev->totals.bytes_out += c->bytes_out;
    dev->totals.errors += c->errors;
    g_mutex_unlock(&dev->conn_lock);

    /* Plugin work that needs the client fails fast now (conn is dead). */
    if (dev->worker != NULL) {
        worker_drain(dev->worker, NULL);
    }
    dma_unmap_all(dev);
    irq_detach(dev);
    migration_client_gone(dev);
    if (attached && dev->ops->detach != NULL) {
        device_cb_enter(dev, "detach");
        dev->ops->detach(dev);
        device_cb_leave(dev);
    }
    dev_info(dev, "client disconnected (%s) after %llu messages, %llu errors",
             why, (unsigned long long)c->msgs_in, (unsigned long long)c->errors);
    device_status(dev, "client disconnected (%s)", why);
    device_client_hook(dev);
    conn_unref(c);
}

int device_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    int r = 0;

    /* The plugin first, so it can abort work in flight rather than have us
     * wait for it (QEMU allows a reset 5 s); then whatever it left running
     * finishes before config space and interrupts return to power-on. */
    if (dev->ops->reset != NULL) {
        device_cb_enter(dev, "reset");
        r = dev->ops->reset(dev, why);
        device_cb_leave(dev);
    }
    if (dev->worker != NULL) {
        worker_drain(dev->worker, dev->conn);
    }
    if (r < 0) {
        g_autofree char *e = device_take_error();

        dev_err(dev, "reset failed: %s", e != NULL ? e : g_strerror(-r));
        return r;
    }
    pci_config_reset(&dev->pci);
    irq_reset(dev);
    dev_info(dev, "device reset (%s)",
             why == VFUD_RESET_FLR ? "function level reset" : "DEVICE_RESET");
    /* A reset leaves any migration state for RUNNING (ERROR included). */
    return migration_after_reset(dev);
}

/* ------------------------------------------------------------------------
 * Deferred work
 */
static gboolean deferred_idle(gpointer data)
{
    vfud_dev *dev = data;

    device_run_deferred(dev);
    return G_SOURCE_REMOVE;
}

int device_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    struct deferred_work *w = g_new(struct deferred_work, 1);

    w->fn = fn;
    w->opaque = opaque;
    g_mutex_lock(&dev->defer_lock);
    g_queue_push_tail(&dev->deferred, w);
    if (dev->defer_src == NULL && dev->phase == DEV_RUNNING) {
        /* Outside a message (a timer, a plugin thread) nothing else would
         * run the queue soon. */
        dev->defer_src = g_idle_source_new();
        g_source_set_callback(dev->defer_src, deferred_idle, dev, NULL);
        g_source_attach(dev->defer_src, dev->ctx);
    }
    g_mutex_unlock(&dev->defer_lock);
    return 0;
}

void device_run_deferred(vfud_dev *dev)
{
    struct deferred_work *w;

    g_mutex_lock(&dev->defer_lock);
    if (dev->defer_src != NULL) {
        g_source_destroy(dev->defer_src);
        g_source_unref(dev->defer_src);
        dev->defer_src = NULL;
    }
    while ((w = g_queue_pop_head(&dev->deferred)) != NULL) {
        g_mutex_unlock(&dev->defer_lock);
        w->fn(dev, w->opaque);
        g_free(w);
        g_mutex_lock(&dev->defer_lock);
    }
    g_mutex_unlock(&dev->defer_lock);
}

/* ------------------------------------------------------------------------
 * Serving
 */

/* The plugin's running() waits while the daemon confines itself, so that
 * the threads it makes a library start (librados's) are created by a
 * confined thread and inherit the sandbox. */
static GMutex running_lock;
static GCond running_cond;
static bool running_held;
static bool running_cancelled;

void device_hold_running(bool hold, bool run)
{
    g_mutex_lock(&running_lock);
    running_held = hold;
    running_cancelled = !hold && !run;
    g_cond_broadcast(&running_cond);
    g_mutex_unlock(&running_lock);
}

static void run_running(vfud_dev *dev)
{
    bool cancelled;
    int r;

    g_mutex_lock(&running_lock);
    while (running_held) {
        g_cond_wait(&running_cond, &running_lock);
    }
    cancelled = running_cancelled;
    g_mutex_unlock(&running_lock);
    r = cancelled ? -ECANCELED : dev->ops->running(dev);
    if (r < 0 && !cancelled) {
        report_failure(dev, dev->where, "start failed", r);
    }
    g_mutex_lock(&running_lock);
    dev->running_result = r;
    dev->running_done = true;
    g_cond_broadcast(&running_cond);
    g_mutex_unlock(&running_lock);
}

int device_wait_running(vfud_dev *dev)
{
    int r;

    if (!dev->run_hook) {
        return 0;
    }
    g_mutex_lock(&running_lock);
    while (!dev->running_done) {
        g_cond_wait(&running_cond, &running_lock);
    }
    r = dev->running_result;
    g_mutex_unlock(&running_lock);
    return r;
}

static gpointer device_thread(gpointer data)
{
    vfud_dev *dev = data;

    current_device = dev;
    g_main_context_push_thread_default(dev->ctx);
    conn_uring_attach(dev);
    if (dev->run_hook) {
        run_running(dev);
    }
    g_main_loop_run(dev->loop);
    device_calls_close(dev);
    /* Leaving: the client (if any) goes first, while the plugin lives. */
    device_client_gone(dev, "daemon stopping");
    if (dev->worker != NULL) {
        worker_drain(dev->worker, NULL);
    }
    device_run_deferred(dev);
    if (hooks.thread_exit != NULL) {
        hooks.thread_exit(dev);
    }
    conn_uring_detach(dev);
    g_main_context_pop_thread_default(dev->ctx);
    g_free(current_error);
    current_error = NULL;
    current_device = NULL;
    return NULL;
}

void device_start_thread(vfud_dev *dev)
{
    dev->loop = g_main_loop_new(dev->ctx, FALSE);
    dev->phase = DEV_RUNNING;
    if (dev->uring == NULL) {
        /* Here, on the main thread: perhaps before the sandbox. */
        dev->uring = conn_uring_get(dev->name);
    }
    device_calls_open(dev);
    dev->thread = g_thread_new(dev->name, device_thread, dev);
}

int device_start(vfud_dev *dev)
{
    bool held;
    int r;

    if (dev->ops->start != NULL) {
        r = dev->ops->start(dev);
        if (r < 0) {
            report_failure(dev, dev->where, "plugin start failed", r);
            return r;
        }
    }
    dev->run_hook = dev->ops->running != NULL;
    dev->running_done = false;
    device_start_thread(dev);
    g_mutex_lock(&running_lock);
    held = running_held;
    g_mutex_unlock(&running_lock);
    /* A device added to a running daemon: started when running() is. */
    return held ? 0 : device_wait_running(dev);
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void device_stop(vfud_dev *dev)
{
    if (dev == NULL) {
        return;
    }
    if (dev->thread != NULL) {
        GSource *s = g_idle_source_new();

        g_source_set_callback(s, quit_loop, dev->loop, NULL);
        g_source_attach(s, dev->ctx);
        g_source_unref(s);
        g_thread_join(dev->thread);
        dev->thread = NULL;
        conn_uring_put(dev->uring);
        dev->uring = NULL;
    }
    if (dev->worker != NULL) {
        worker_free(dev->worker);
        dev->worker = NULL;
    }
    if (dev->created && dev->ops->destroy != NULL) {
        dev->ops->destroy(dev);
        dev->created = false;
    }
    dev->phase = DEV_STOPPED;
}

void device_free(vfud_dev *dev)
{
    struct deferred_work *w;

    if (dev == NULL) {
        return;
    }
    device_stop(dev);
    while ((w = g_queue_pop_head(&dev->deferred)) != NULL) {
        g_free(w);
    }
    if (dev->defer_src != NULL) {
        g_source_destroy(dev->defer_src);
        g_source_unref(dev->defer_src);
    }
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        region_cleanup(&dev->regions[i]);
    }
    irq_cleanup(&dev->irq);
    dma_cleanup(&dev->dma);
    migration_free(dev);
    g_mutex_clear(&dev->conn_lock);
    g_mutex_clear(&dev->defer_lock);
    if (dev->loop != NULL) {
        g_main_loop_unref(dev->loop);
    }
    g_main_context_unref(dev->ctx);
    g_free(dev->where);
    g_free(dev->name);
    g_free(dev);
}
