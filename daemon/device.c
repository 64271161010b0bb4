/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices: plugin instance life cycle, the per-device thread and its
 * GMainContext, accepting clients, client loss and reset.
 *
 * create/config/realize/start/destroy run on the main thread, before the
 * device thread exists or after it has stopped; everything else of a
 * device runs on its own thread.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "isolate.h"
#include "listener.h"
#include "log.h"
#include "migration.h"
#include "sd_notify.h"
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

/* After accept() runs out of fds, wait this long before trying again. */
#define ACCEPT_RETRY_MS 200

static __thread vfud_dev *current_device;
static __thread char *current_error;

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
static GMutex watch_lock;
static GCond watch_cond;
static GList *watched;        /* running devices */
static GThread *watch_thread;
static bool watch_quit;

void device_set_callback_limit(unsigned ms)
{
    cb_limit_ms = ms;
}

/* Every region access passes here twice, so the clock is the coarse one:
 * reading it is a load from the vDSO page, where CLOCK_MONOTONIC costs a
 * clock-source read (in a VM the biggest single item of the daemon's user
 * time in make bench).  Its tick (1-10 ms) is far below the limits this
 * serves, which are in hundreds of ms.  Microseconds; never 0. */
static gint64 cb_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000 + 1;
}

void device_cb_enter(vfud_dev *dev, const char *name)
{
    dev->cb_name = name;
    dev->cb_reported = false;
    __atomic_store_n(&dev->cb_started, cb_clock(), __ATOMIC_RELEASE);
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
    gint64 ms = (cb_clock() - t0) / 1000;

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

/* Wakes twice per limit, only while some device runs. */
static gpointer watchdog(gpointer data)
{
    g_mutex_lock(&watch_lock);
    while (!watch_quit) {
        gint64 now = cb_clock();

        for (GList *l = watched; l != NULL; l = l->next) {
            vfud_dev *dev = l->data;
            gint64 t0 = __atomic_load_n(&dev->cb_started, __ATOMIC_ACQUIRE);

            if (t0 != 0 && (now - t0) / 1000 >= cb_limit_ms && !dev->cb_reported) {
                dev->cb_reported = true;
                dev_warn(dev, "plugin callback %s has been running for %lld ms "
                         "(limit %u ms); the client may give up waiting",
                         dev->cb_name, (long long)((now - t0) / 1000), cb_limit_ms);
            }
        }
        g_cond_wait_until(&watch_cond, &watch_lock,
                          g_get_monotonic_time() + cb_limit_ms * 500);
    }
    g_mutex_unlock(&watch_lock);
    return NULL;
}

static void watch_add(vfud_dev *dev)
{
    if (cb_limit_ms == 0) {
        return;
    }
    g_mutex_lock(&watch_lock);
    watched = g_list_prepend(watched, dev);
    if (watch_thread == NULL) {
        watch_quit = false;
        watch_thread = g_thread_new("watchdog", watchdog, NULL);
    }
    g_mutex_unlock(&watch_lock);
}

static void watch_remove(vfud_dev *dev)
{
    GThread *t = NULL;

    g_mutex_lock(&watch_lock);
    watched = g_list_remove(watched, dev);
    if (watched == NULL && watch_thread != NULL) {
        watch_quit = true;
        g_cond_broadcast(&watch_cond);
        t = watch_thread;
        watch_thread = NULL;
    }
    g_mutex_unlock(&watch_lock);
    if (t != NULL) {
        g_thread_join(t);
    }
}

/* ------------------------------------------------------------------------
 * Creation and configuration
 */
vfud_dev *device_new(const char *name, struct plugin *plugin)
{
    vfud_dev *dev = g_new0(vfud_dev, 1);

    dev->name = g_strdup(name);
    dev->plugin = plugin;
    dev->ops = &plugin->ops;
    dev->log_level = -1;
    dev->listen_fd = -1;
    dev->sock.fd = -1;
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

static char *location(const char *file, unsigned line)
{
    if (line == 0) {
        return g_strdup(file);
    }
    return g_strdup_printf("%s:%u", file, line);
}

int device_configure(vfud_dev *dev, const char *file,
                     const struct device_config *cfg)
{
    int r, errors = 0;

    g_free(dev->where);
    g_free(dev->socket_where);
    dev->write_multiple = cfg->write_multiple;
    dev->where = location(file, cfg->line);
    dev->socket_where = location(file, cfg->socket != NULL ? cfg->socket_line
                                                           : cfg->line);
    if (dev->ops->create != NULL) {
        r = dev->ops->create(dev);
        if (r < 0) {
            report_failure(dev, dev->where, "create failed", r);
            return r;
        }
    }
    dev->created = true;
    for (guint i = 0; i < cfg->keys->len; i++) {
        const struct config_entry *e = g_ptr_array_index(cfg->keys, i);
        g_autofree char *at = location(file, e->line);

        if (!plugin_knows_key(dev->plugin, e->key)) {
            log_error(NULL, "%s: [%s] unknown key '%s'", at, dev->name, e->key);
            errors++;
            continue;
        }
        if (dev->ops->config == NULL) {
            log_error(NULL, "%s: [%s] plugin '%s' takes no keys ('%s')", at,
                      dev->name, dev->ops->name, e->key);
            errors++;
            continue;
        }
        r = dev->ops->config(dev, e->key, e->value);
        if (r < 0) {
            g_autofree char *why = device_take_error();

            log_error(NULL, "%s: [%s] %s = %s: %s", at, dev->name, e->key,
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

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data);

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

static void listen_watch(vfud_dev *dev)
{
    dev->listen_src = g_unix_fd_source_new(dev->listen_fd, G_IO_IN);
    g_source_set_callback(dev->listen_src, G_SOURCE_FUNC(on_accept), dev, NULL);
    g_source_attach(dev->listen_src, dev->ctx);
}

static gboolean listen_resume(gpointer data)
{
    vfud_dev *dev = data;

    listen_watch(dev);
    return G_SOURCE_REMOVE;
}

/* Out of fds: the pending connection stays in the backlog and the socket
 * stays readable, so stop watching it for a while instead of spinning. */
static void listen_pause(vfud_dev *dev, int err)
{
    GSource *t = g_timeout_source_new(ACCEPT_RETRY_MS);

    dev_warn(dev, "cannot accept a client: %s; retrying in %d ms",
             g_strerror(err), ACCEPT_RETRY_MS);
    g_source_destroy(dev->listen_src);
    g_source_unref(dev->listen_src);
    dev->listen_src = NULL;
    g_source_set_callback(t, listen_resume, dev, NULL);
    g_source_attach(t, dev->ctx);
    g_source_unref(t);
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

static bool id_listed(const GArray *ids, guint32 id)
{
    for (guint i = 0; ids != NULL && i < ids->len; i++) {
        if (g_array_index(ids, guint32, i) == id) {
            return true;
        }
    }
    return false;
}

/* allowed-uids / allowed-gids, from the peer's credentials as the kernel
 * recorded them at connect(): its uid, its group and (SO_PEERGROUPS) its
 * supplementary groups. */
static bool peer_allowed(vfud_dev *dev, int fd, const struct ucred *cred)
{
    bool ok = false;

    g_mutex_lock(&dev->conn_lock);
    if ((dev->allowed_uids == NULL || dev->allowed_uids->len == 0) &&
        (dev->allowed_gids == NULL || dev->allowed_gids->len == 0)) {
        ok = true;
    } else if (cred->pid < 0) {
        ok = false; /* no credentials: nothing to check against */
    } else if (id_listed(dev->allowed_uids, cred->uid) ||
               id_listed(dev->allowed_gids, cred->gid)) {
        ok = true;
    } else if (dev->allowed_gids != NULL && dev->allowed_gids->len > 0) {
        gid_t groups[256];
        socklen_t len = sizeof(groups);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
            for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++) {
                ok = id_listed(dev->allowed_gids, groups[i]);
            }
        }
    }
    g_mutex_unlock(&dev->conn_lock);
    return ok;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    vfud_dev *dev = data;
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            listen_pause(dev, errno);
            return G_SOURCE_REMOVE;
        }
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            dev_warn(dev, "accept failed: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        cred.pid = -1;
        cred.uid = (uid_t)-1;
        cred.gid = (gid_t)-1;
    }
    if (__atomic_load_n(&dev->sandbox_failed, __ATOMIC_ACQUIRE)) {
        dev_warn(dev, "refused a client (pid %d): the device failed (sandbox violation)",
                 (int)cred.pid);
        dev->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (!peer_allowed(dev, cfd, &cred)) {
        /* Before reading a single byte: the device never sees it. */
        dev_warn(dev, "refused a client (pid %d uid %u gid %u): not in "
                 "allowed-uids or allowed-gids", (int)cred.pid,
                 (unsigned)cred.uid, (unsigned)cred.gid);
        dev->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (dev->conn != NULL && conn_finish_if_hung_up(dev->conn)) {
        /* The last client closed just before this one connected: we saw
         * the new connection before its EOF. */
        device_client_gone(dev, "connection closed");
    }
    if (dev->conn != NULL) {
        /* One client at a time; the current one is not disturbed. */
        dev_warn(dev, "refused a second client (pid %d uid %u): the device "
                 "is serving pid %d", (int)cred.pid, (unsigned)cred.uid,
                 (int)dev->conn->pid);
        dev->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    g_mutex_lock(&dev->conn_lock);
    dev->conn = conn_new(dev, cfd);
    dev->conn->write_multiple = dev->write_multiple;
    dev->client_since = g_get_real_time();
    g_mutex_unlock(&dev->conn_lock);
    dev->clients_served++;
    handshake_deadline(dev);
    dev_info(dev, "client connected (pid %d uid %u gid %u)", (int)cred.pid,
             (unsigned)cred.uid, (unsigned)cred.gid);
    sd_notify_printf("STATUS=%s: client pid %d connected", dev->name, (int)cred.pid);
    return G_SOURCE_CONTINUE;
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
    sd_notify_printf("STATUS=%s: client disconnected (%s)", dev->name, why);
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
 * Operations: stopping without waiting, access, snapshots
 */
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

    g_source_unref(dev->stop_src); /* the context keeps it until we return */
    dev->stop_src = NULL;
    dev->stop_rq = NULL;
    rq->done(dev, rq->result, rq->opaque); /* may free dev */
    return G_SOURCE_REMOVE;
}

/* Device thread (or main, before the thread exists): post the answer. */
static void stop_answer(vfud_dev *dev, int result)
{
    struct device_stop_request *rq = dev->stop_rq;
    GSource *s = g_idle_source_new();

    rq->result = result;
    g_source_set_callback(s, stop_answered, rq, stop_request_free);
    /* Set before attaching: the answer may run at once on the main thread. */
    dev->stop_src = s;
    g_source_attach(s, rq->ctx);
}

static gboolean stop_on_thread(gpointer data)
{
    vfud_dev *dev = data;
    struct device_stop_request *rq = dev->stop_rq;

    if (!rq->force && dev->conn != NULL) {
        /* A client came since the caller looked: it is not disturbed. */
        stop_answer(dev, -EBUSY);
        return G_SOURCE_REMOVE;
    }
    if (dev->listen_src != NULL) {
        /* Accept nobody else while going. */
        g_source_destroy(dev->listen_src);
        g_source_unref(dev->listen_src);
        dev->listen_src = NULL;
    }
    if (dev->conn != NULL) {
        device_client_gone(dev, rq->why);
    }
    g_main_loop_quit(dev->loop); /* device_thread() posts the answer */
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
    dev->stop_rq = rq;
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
    old_u = dev->allowed_uids;
    old_g = dev->allowed_gids;
    dev->allowed_uids = ids_copy(uids);
    dev->allowed_gids = ids_copy(gids);
    g_mutex_unlock(&dev->conn_lock);
    if (old_u != NULL) {
        g_array_unref(old_u);
    }
    if (old_g != NULL) {
        g_array_unref(old_g);
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
    s->clients_served = READ_COUNTER(dev->clients_served);
    s->clients_refused = READ_COUNTER(dev->clients_refused);
    s->isolated = dev->isolate;
    s->iso_pid = READ_COUNTER(dev->iso_pid);
    s->iso_restarts = READ_COUNTER(dev->iso_restarts);

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

/* ------------------------------------------------------------------------
 * Serving
 */
static gpointer device_thread(gpointer data)
{
    vfud_dev *dev = data;

    current_device = dev;
    g_main_context_push_thread_default(dev->ctx);
    g_main_loop_run(dev->loop);
    /* Leaving: the client (if any) goes first, while the plugin lives. */
    device_client_gone(dev, "daemon stopping");
    if (dev->isolate) {
        isolate_stop(dev);
    }
    if (dev->worker != NULL) {
        worker_drain(dev->worker, NULL);
    }
    device_run_deferred(dev);
    g_main_context_pop_thread_default(dev->ctx);
    g_free(current_error);
    current_error = NULL;
    current_device = NULL;
    if (dev->stop_rq != NULL) {
        stop_answer(dev, 0);
    }
    return NULL;
}

int device_start(vfud_dev *dev, const struct device_socket *sock)
{
    g_autofree char *why = NULL;
    int r;

    dev->sock = *sock;
    dev->sock.path = g_strdup(sock->path);
    if (sock->fd >= 0) {
        dev->listen_fd = sock->fd;
    } else {
        r = listener_bind(&dev->sock, &dev->listen_fd, &why);
        if (r < 0) {
            log_error(NULL, "%s: [%s] %s", dev->socket_where, dev->name, why);
            return r;
        }
        dev->unlink_on_stop = true;
    }
    util_set_nonblock(dev->listen_fd, true);
    if (dev->isolate) {
        /* The plugin instance lives in the child: the one realized here
         * only proved the configuration good. */
        if (dev->created && dev->ops->destroy != NULL) {
            dev->ops->destroy(dev);
        }
        dev->created = false;
        r = isolate_start(dev);
        if (r < 0) {
            return r;
        }
        dev->loop = g_main_loop_new(dev->ctx, FALSE);
        dev->phase = DEV_RUNNING;
        dev->thread = g_thread_new(dev->name, device_thread, dev);
        return 0;
    }
    listen_watch(dev);

    if (dev->ops->start != NULL) {
        r = dev->ops->start(dev);
        if (r < 0) {
            report_failure(dev, dev->where, "plugin start failed", r);
            return r;
        }
    }
    dev->loop = g_main_loop_new(dev->ctx, FALSE);
    dev->phase = DEV_RUNNING;
    dev->thread = g_thread_new(dev->name, device_thread, dev);
    watch_add(dev);
    return 0;
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
        watch_remove(dev);
    }
    if (dev->stop_src != NULL) {
        /* A device_stop_async answer nobody will take now (shutdown). */
        g_source_destroy(dev->stop_src);
        g_source_unref(dev->stop_src);
        dev->stop_src = NULL;
        dev->stop_rq = NULL;
    }
    if (dev->listen_src != NULL) {
        g_source_destroy(dev->listen_src);
        g_source_unref(dev->listen_src);
        dev->listen_src = NULL;
    }
    if (dev->worker != NULL) {
        worker_free(dev->worker);
        dev->worker = NULL;
    }
    if (dev->created && dev->ops->destroy != NULL) {
        dev->ops->destroy(dev);
        dev->created = false;
    }
    if (dev->listen_fd >= 0) {
        util_close(&dev->listen_fd);
        if (dev->unlink_on_stop && dev->sock.path != NULL) {
            unlink(dev->sock.path);
        }
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
    if (dev->allowed_uids != NULL) {
        g_array_unref(dev->allowed_uids);
    }
    if (dev->allowed_gids != NULL) {
        g_array_unref(dev->allowed_gids);
    }
    g_mutex_clear(&dev->conn_lock);
    g_mutex_clear(&dev->defer_lock);
    if (dev->loop != NULL) {
        g_main_loop_unref(dev->loop);
    }
    g_main_context_unref(dev->ctx);
    g_free(dev->sock.path);
    g_free(dev->where);
    g_free(dev->socket_where);
    g_free(dev->iso_config);
    g_free(dev->name);
    g_free(dev);
}
