/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "devset.h"
#include "isolate.h"
#include "listener.h"
#include "log.h"
#include "plugin_loader.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Operations waiting behind the running one; more are refused (EBUSY). */
#define DEVSET_MAX_QUEUED 32

struct devset_op;

struct devset {
    struct daemon_config *cfg; /* [daemon] settings in force */
    char *config_path;         /* NULL: single-device mode */
    char *plugin_dir;          /* --plugin-dir, or NULL */
    bool verbose;
    GPtrArray *entries;        /* struct devset_entry *, oldest first */
    GPtrArray *activation;     /* struct listen_fd *: kept, devices get dups */
    GMainContext *ctx;
    GQueue queued;             /* struct devset_op * */
    struct devset_op *current;
    guint kick_id;
};

/* One change a reload makes to one device. */
enum change_kind { CH_ADD, CH_REMOVE, CH_RECREATE, CH_UPDATE };

struct change {
    enum change_kind kind;
    struct devset_entry *old;  /* running entry: remove, recreate, update */
    struct device_config *dc;  /* new section: add, recreate, update */
    vfud_dev *dev;             /* prepared instance: add, recreate */
    bool pending;              /* not done: a client is attached */
    struct devset_op *op;
};

struct devset_op {
    struct devset *ds;
    void (*run)(struct devset_op *op);
    devset_done_fn done;
    void *opaque;
    /* add */
    struct device_config *dc;
    /* remove */
    char *name;
    bool force;
    struct devset_entry *entry;
    /* reload */
    struct daemon_config *newcfg;
    GPtrArray *changes;        /* struct change * */
    unsigned stopping;         /* device stops not answered yet */
    struct devset_result *result;
};

static void kick(struct devset *ds);

/* ------------------------------------------------------------------------
 * Answers
 */
static void pending_free(gpointer p)
{
    struct devset_pending *pd = p;

    g_free(pd->device);
    g_free(pd->reason);
    g_free(pd);
}

static struct devset_result *result_new(void)
{
    return g_new0(struct devset_result, 1);
}

void devset_result_free(struct devset_result *r)
{
    if (r == NULL) {
        return;
    }
    g_free(r->error);
    g_free(r->device);
    g_free(r->socket);
    g_free(r->config);
    for (unsigned k = 0; k < DEVSET_NR_LISTS; k++) {
        if (r->lists[k] != NULL) {
            g_ptr_array_unref(r->lists[k]);
        }
    }
    if (r->pending != NULL) {
        g_ptr_array_unref(r->pending);
    }
    if (r->errors != NULL) {
        g_ptr_array_unref(r->errors);
    }
    g_free(r);
}

static struct devset_result *result_error(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct devset_result *result_error(int err, const char *fmt, ...)
{
    struct devset_result *r = result_new();
    va_list ap;

    va_start(ap, fmt);
    r->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r->err = err;
    return r;
}

/* ------------------------------------------------------------------------
 * The set
 */
struct devset *devset_new(struct daemon_config *cfg, const char *config_path,
                          const char *plugin_dir, bool verbose)
{
    struct devset *ds = g_new0(struct devset, 1);

    ds->cfg = cfg;
    ds->config_path = g_strdup(config_path);
    ds->plugin_dir = g_strdup(plugin_dir);
    ds->verbose = verbose;
    ds->entries = g_ptr_array_new();
    ds->ctx = g_main_context_ref_thread_default();
    g_queue_init(&ds->queued);
    return ds;
}

const struct daemon_config *devset_config(const struct devset *ds)
{
    return ds->cfg;
}

GPtrArray *devset_entries(const struct devset *ds)
{
    return ds->entries;
}

struct devset_entry *devset_find(const struct devset *ds, const char *name)
{
    for (guint i = 0; i < ds->entries->len; i++) {
        struct devset_entry *e = g_ptr_array_index(ds->entries, i);

        if (strcmp(e->dev->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

static const char *plugin_dir_for(const struct devset *ds,
                                  const struct daemon_config *cfg)
{
    if (ds->plugin_dir != NULL) {
        return ds->plugin_dir;
    }
    if (cfg->plugin_dir != NULL) {
        return cfg->plugin_dir;
    }
    return PLUGINDIR;
}

/* A device whose plugin instance exists (or never did): destroy it and let
 * go of its plugin. */
static void dispose(vfud_dev *dev)
{
    struct plugin *p;

    if (dev == NULL) {
        return;
    }
    p = dev->proc->plugin;
    device_proc_free(dev);
    plugin_close(p);
}

static void entry_free(struct devset_entry *e)
{
    dispose(e->dev);
    config_device_free(e->dc);
    g_free(e);
}

static struct devset_entry *entry_new(vfud_dev *dev, const struct device_config *dc,
                                      bool from_file)
{
    struct devset_entry *e = g_new0(struct devset_entry, 1);

    e->dev = dev;
    e->dc = config_device_dup(dc);
    /* As served: the plugin may have chosen for an unset isolate. */
    e->dc->isolate = dev->proc->isolate;
    e->from_file = from_file;
    return e;
}

/* Open the plugin, configure and realize a device for dc; nothing listens
 * yet.  Errors are logged "FILE:LINE: [dev] ...". */
static int prepare(struct devset *ds, const struct daemon_config *cfg,
                   const char *file, const struct device_config *dc, vfud_dev **out)
{
    g_autofree char *why = NULL;
    struct plugin *p;
    vfud_dev *dev;
    bool isolate;
    int r;

    *out = NULL;
    r = plugin_open(dc->plugin, plugin_dir_for(ds, cfg), &p, &why);
    if (r < 0) {
        if (dc->plugin_line > 0) {
            log_error(NULL, "%s:%u: [%s] %s", file, dc->plugin_line, dc->name, why);
        } else {
            log_error(NULL, "%s: [%s] %s", file, dc->name, why);
        }
        return r;
    }
    /* Unless the section says, a plugin that prefers it gets a process
     * per device (never a process's own device again). */
    isolate = dc->isolate_set ? dc->isolate
                              : p->ops.prefers_process && !isolate_in_child() &&
                                    ds->config_path != NULL;
    /* A device added to a running daemon: its sandbox can only narrow. */
    r = seccomp_check_needs(p->ops.syscalls, &why);
    if (r == 0 && !isolate && !isolate_in_child() &&
        (dc->limit_fds != 0 || dc->limit_memory != 0)) {
        why = g_strdup("limit-fds and limit-memory need isolate = process (devices "
                       "in the daemon share its limits)");
        r = -EINVAL;
    }
    if (r == 0 && isolate) {
        static const char *const spawn[] = { "spawn", NULL };

        r = seccomp_check_needs(spawn, &why);
        if (r < 0 && !dc->isolate_set) {
            /* Only the plugin's preference: a thread will do. */
            log_notice(NULL, "[%s] served by a thread, not the process its plugin "
                       "prefers: the running daemon's filter starts no process "
                       "(set isolate in the section to choose)", dc->name);
            g_clear_pointer(&why, g_free);
            isolate = false;
            r = 0;
        }
    }
    if (r < 0) {
        log_error(NULL, "%s: [%s] %s", file, dc->name, why);
        plugin_close(p);
        return r;
    }
    dev = device_proc_new(dc->name, p);
    dev->log_level = dc->log_level;
    dev->proc->isolate = isolate;
    device_set_access(dev, config_device_allowed_uids(cfg, dc),
                      config_device_allowed_gids(cfg, dc));
    r = device_proc_configure(dev, file, dc);
    if (r == 0) {
        r = device_realize(dev);
    }
    if (r < 0) {
        dispose(dev);
        return r;
    }
    *out = dev;
    return 0;
}

/* The socket the service manager passed for this device, or NULL. */
static const struct listen_fd *activation_fd(const struct devset *ds, const char *name)
{
    for (guint i = 0; ds->activation != NULL && i < ds->activation->len; i++) {
        const struct listen_fd *l = g_ptr_array_index(ds->activation, i);

        if (strcmp(l->name, name) == 0) {
            return l;
        }
    }
    return NULL;
}

static void announce(const struct devset_entry *e)
{
    const vfud_dev *dev = e->dev;

    if (e->activated) {
        /* The number it was passed as: what the caller knows. */
        if (dev->proc->sock.path != NULL) {
            log_notice(dev->name, "plugin %s, serving listening socket fd %d at %s; "
                       "attach with: -device '{\"driver\":\"vfio-user-pci\","
                       "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}}'",
                       dev->ops->name, e->inherited_fd, dev->proc->sock.path,
                       dev->proc->sock.path);
        } else {
            log_notice(dev->name, "plugin %s, serving listening socket fd %d",
                       dev->ops->name, e->inherited_fd);
        }
    } else {
        log_notice(dev->name, "plugin %s, listening on %s; attach with: "
                   "-device '{\"driver\":\"vfio-user-pci\",\"socket\":"
                   "{\"type\":\"unix\",\"path\":\"%s\"}}'",
                   dev->ops->name, dev->proc->sock.path, dev->proc->sock.path);
    }
}

/* Make a prepared device listen and start its thread. */
static int start_entry(struct devset *ds, const struct daemon_config *cfg,
                       struct devset_entry *e)
{
    struct socket_perms perms;
    struct device_socket sock = { .fd = -1 };
    g_autofree char *path = NULL;
    const struct listen_fd *al = activation_fd(ds, e->dc->name);
    int afd = al != NULL ? al->fd : -1;
    int rc;

    config_device_perms(cfg, e->dc, &perms);
    sock.mode = perms.mode;
    sock.set_owner = perms.has_uid;
    sock.set_group = perms.has_gid;
    sock.uid = perms.uid;
    sock.gid = perms.gid;
    if (afd >= 0) {
        /* The daemon keeps the original: a device recreated or added
         * again later listens on the same socket. */
        sock.fd = fcntl(afd, F_DUPFD_CLOEXEC, 3);
        if (sock.fd < 0) {
            int r = -errno;

            log_error(NULL, "[%s] cannot duplicate the socket passed by the "
                      "service manager: %s", e->dc->name, g_strerror(-r));
            return r;
        }
        if (al->ours) {
            /* Ours from before a crash: bound under a temporary name and
             * renamed, so only the configuration knows its path. */
            path = config_device_socket(cfg, e->dc);
        } else {
            /* The name the socket was bound under, unless the section says
             * (an isolated device's process is told where its socket is)
             * or the old process of an upgrade renamed it: that name is
             * what its process is told, on every start. */
            path = e->dc->socket != NULL ? g_strdup(e->dc->socket)
                   : al->path != NULL    ? g_strdup(al->path)
                                         : listener_fd_path(afd);
            e->activated = true;
            e->inherited_fd = afd;
        }
    } else {
        path = config_device_socket(cfg, e->dc);
    }
    sock.path = path;
    if (e->dc->isolate) {
        g_free(e->dev->proc->iso_config);
        e->dev->proc->iso_config = config_isolated_text(cfg, e->dc, plugin_dir_for(ds, cfg),
                                                  path);
    }
    rc = device_proc_start(e->dev, &sock);
    if (rc == 0 && al != NULL && al->ours) {
        e->dev->proc->unlink_on_stop = true;
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * Start-up and shutdown
 */
int devset_create(struct devset *ds)
{
    int errors = 0;

    for (guint i = 0; i < ds->cfg->devices->len; i++) {
        const struct device_config *dc = g_ptr_array_index(ds->cfg->devices, i);
        vfud_dev *dev;

        if (prepare(ds, ds->cfg, ds->cfg->path, dc, &dev) < 0) {
            errors++;
            continue;
        }
        g_ptr_array_add(ds->entries, entry_new(dev, dc, ds->config_path != NULL));
    }
    return errors > 0 ? -EINVAL : 0;
}

int devset_prestart(struct devset *ds)
{
    for (guint i = 0; i < ds->entries->len; i++) {
        struct devset_entry *e = g_ptr_array_index(ds->entries, i);
        int r;

        if (e->dev->proc->isolate) {
            g_autofree char *sock = config_device_socket(ds->cfg, e->dc);

            /* Its process, waiting for its state: the path is rewritten
             * at start (start_entry), the process learns the socket's
             * from the hand-over. */
            g_free(e->dev->proc->iso_config);
            e->dev->proc->iso_config = config_isolated_text(ds->cfg, e->dc,
                                                            plugin_dir_for(ds, ds->cfg),
                                                            sock);
            r = isolate_prestart(e->dev);
            if (r < 0) {
                return r;
            }
            continue;
        }
        r = device_start(e->dev);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int devset_start(struct devset *ds, int single_fd, GPtrArray *activation)
{
    ds->activation = activation;
    if (single_fd >= 0 && ds->entries->len == 1) {
        /* --fd: kept like a socket from the service manager, under the
         * device's name. */
        struct devset_entry *e = g_ptr_array_index(ds->entries, 0);
        struct listen_fd *l = g_new0(struct listen_fd, 1);
        g_autofree char *why = NULL;

        if (listener_check_fd(single_fd, &why) < 0) {
            log_error(NULL, "[%s] %s", e->dc->name, why);
            g_free(l);
            return -EINVAL;
        }
        fcntl(single_fd, F_SETFD, FD_CLOEXEC);
        l->fd = single_fd;
        l->name = g_strdup(e->dc->name);
        if (ds->activation == NULL) {
            ds->activation = listener_fd_array_new();
        }
        g_ptr_array_add(ds->activation, l);
    } else if (ds->activation != NULL && ds->activation->len == 1 &&
               ds->entries->len == 1) {
        /* One socket without a name (LISTEN_FDNAMES unset) for one
         * device: nothing to match, it is that device's. */
        struct listen_fd *l = g_ptr_array_index(ds->activation, 0);
        struct devset_entry *e = g_ptr_array_index(ds->entries, 0);

        if (strcmp(l->name, "unknown") == 0) {
            g_free(l->name);
            l->name = g_strdup(e->dc->name);
        }
    }
    for (guint i = 0; i < ds->entries->len; i++) {
        int r = start_entry(ds, ds->cfg, g_ptr_array_index(ds->entries, i));

        if (r < 0) {
            return r;
        }
    }
    for (guint i = 0; ds->activation != NULL && i < ds->activation->len; i++) {
        const struct listen_fd *l = g_ptr_array_index(ds->activation, i);

        if (devset_find(ds, l->name) == NULL) {
            g_autofree char *path = listener_fd_path(l->fd);

            log_warn(NULL, "the service manager passed a socket named '%s' (%s) "
                     "but no device has that name; it is kept for a device of "
                     "that name added later", l->name,
                     path != NULL ? path : "no path");
        }
    }
    return 0;
}

void devset_announce(struct devset *ds)
{
    for (guint i = 0; i < ds->entries->len; i++) {
        announce(g_ptr_array_index(ds->entries, i));
    }
}

static void op_free(struct devset_op *op);

void devset_free(struct devset *ds)
{
    struct devset_op *op;

    if (ds == NULL) {
        return;
    }
    if (ds->kick_id != 0) {
        g_source_remove(ds->kick_id);
    }
    /* Last created, first gone; pending stops are cancelled with them. */
    for (guint i = ds->entries->len; i-- > 0;) {
        entry_free(g_ptr_array_index(ds->entries, i));
    }
    g_ptr_array_set_size(ds->entries, 0);
    if (ds->current != NULL) {
        /* the operation's captured errors go unreported: it is cancelled */
        GPtrArray *errors = log_capture_end();
        struct devset_result *r = result_error(ESHUTDOWN, "daemon stopping");

        if (errors != NULL) {
            g_ptr_array_unref(errors);
        }

        ds->current->done(r, ds->current->opaque);
        devset_result_free(r);
        op_free(ds->current);
        ds->current = NULL;
    }
    while ((op = g_queue_pop_head(&ds->queued)) != NULL) {
        struct devset_result *r = result_error(ESHUTDOWN, "daemon stopping");

        op->done(r, op->opaque);
        devset_result_free(r);
        op_free(op);
    }
    g_ptr_array_unref(ds->entries);
    if (ds->activation != NULL) {
        g_ptr_array_unref(ds->activation);
    }
    config_free(ds->cfg);
    g_main_context_unref(ds->ctx);
    g_free(ds->config_path);
    g_free(ds->plugin_dir);
    g_free(ds);
}

/* ------------------------------------------------------------------------
 * Operations: one at a time
 */
static void change_free(gpointer p)
{
    struct change *ch = p;

    dispose(ch->dev);
    config_device_free(ch->dc);
    g_free(ch);
}

static void op_free(struct devset_op *op)
{
    config_device_free(op->dc);
    g_free(op->name);
    config_free(op->newcfg);
    if (op->changes != NULL) {
        g_ptr_array_unref(op->changes);
    }
    devset_result_free(op->result);
    g_free(op);
}

static gboolean kick_idle(gpointer data)
{
    struct devset *ds = data;

    ds->kick_id = 0;
    kick(ds);
    return G_SOURCE_REMOVE;
}

/* Answer the running operation (adding the errors it logged) and let the
 * next one run from the main loop. */
static void op_finish(struct devset_op *op, struct devset_result *result)
{
    struct devset *ds = op->ds;

    result->errors = log_capture_end();
    ds->current = NULL;
    op->done(result, op->opaque);
    devset_result_free(result);
    op_free(op);
    if (!g_queue_is_empty(&ds->queued) && ds->kick_id == 0) {
        ds->kick_id = g_idle_add(kick_idle, ds);
    }
}

static void kick(struct devset *ds)
{
    struct devset_op *op;

    if (ds->current != NULL || (op = g_queue_pop_head(&ds->queued)) == NULL) {
        return;
    }
    ds->current = op;
    log_capture_begin();
    op->run(op);
}

static void submit(struct devset *ds, struct devset_op *op)
{
    if (g_queue_get_length(&ds->queued) >= DEVSET_MAX_QUEUED) {
        op->done(result_error(EBUSY, "too many operations waiting; try again"),
                 op->opaque);
        op_free(op);
        return;
    }
    g_queue_push_tail(&ds->queued, op);
    kick(ds);
}

static struct devset_op *op_new(struct devset *ds, void (*run)(struct devset_op *),
                                devset_done_fn done, void *opaque)
{
    struct devset_op *op = g_new0(struct devset_op, 1);

    op->ds = ds;
    op->run = run;
    op->done = done;
    op->opaque = opaque;
    return op;
}

/* "a client is attached (pid N)" for messages. */
static char *client_text(vfud_dev *dev)
{
    struct device_snapshot s;

    device_snapshot(dev, &s);
    return g_strdup_printf("a client is attached (pid %d)", (int)s.pid);
}

/* ---- add ---- */
static void add_run(struct devset_op *op)
{
    struct devset *ds = op->ds;
    struct device_config *dc = op->dc;
    struct devset_entry *e;
    struct devset_result *a;
    vfud_dev *dev;

    if (devset_find(ds, dc->name) != NULL) {
        op_finish(op, result_error(EEXIST, "device %s exists already", dc->name));
        return;
    }
    if (dc->plugin == NULL) {
        op_finish(op, result_error(EINVAL, "device %s: no plugin= given", dc->name));
        return;
    }
    if (prepare(ds, ds->cfg, "vfiouserctl add", dc, &dev) < 0) {
        op_finish(op, result_error(EINVAL, "device %s not added", dc->name));
        return;
    }
    e = entry_new(dev, dc, false);
    if (start_entry(ds, ds->cfg, e) < 0) {
        entry_free(e);
        op_finish(op, result_error(EINVAL, "device %s not added", dc->name));
        return;
    }
    g_ptr_array_add(ds->entries, e);
    announce(e);
    log_notice(dev->name, "added at run time");
    a = result_new();
    a->device = g_strdup(dev->name);
    a->socket = g_strdup(dev->proc->sock.path);
    op_finish(op, a);
}

void devset_add(struct devset *ds, struct device_config *dc,
                devset_done_fn done, void *opaque)
{
    struct devset_op *op = op_new(ds, add_run, done, opaque);

    op->dc = dc;
    submit(ds, op);
}

/* ---- remove ---- */
static void remove_stopped(vfud_dev *dev, int result, void *opaque)
{
    struct devset_op *op = opaque;
    struct devset *ds = op->ds;
    struct devset_entry *e = op->entry;
    g_autofree char *who = NULL;
    struct devset_result *a;

    e->busy = false;
    if (result < 0) {
        who = client_text(dev);
        op_finish(op, result_error(EBUSY, "device %s not removed: %s (use "
                                   "--force to detach it)", dev->name, who));
        return;
    }
    g_ptr_array_remove(ds->entries, e);
    log_notice(op->name, "removed");
    entry_free(e);
    a = result_new();
    a->device = g_strdup(op->name);
    op_finish(op, a);
}

static void remove_run(struct devset_op *op)
{
    struct devset_entry *e = devset_find(op->ds, op->name);
    g_autofree char *who = NULL;

    if (e == NULL) {
        op_finish(op, result_error(ENOENT, "no device %s", op->name));
        return;
    }
    if (!op->force && device_has_client(e->dev)) {
        who = client_text(e->dev);
        op_finish(op, result_error(EBUSY, "device %s not removed: %s (use "
                                   "--force to detach it)", op->name, who));
        return;
    }
    op->entry = e;
    e->busy = true;
    device_stop_async(e->dev, op->force, "device removed by the operator",
                      op->ds->ctx, remove_stopped, op);
}

void devset_remove(struct devset *ds, const char *name, bool force,
                   devset_done_fn done, void *opaque)
{
    struct devset_op *op = op_new(ds, remove_run, done, opaque);

    op->name = g_strdup(name);
    op->force = force;
    submit(ds, op);
}

/* ---- reload ---- */

/* Does dc under cfg put the device on the socket it listens on now? */
static bool same_socket(const struct devset_entry *e, const struct daemon_config *cfg,
                        const struct device_config *dc)
{
    g_autofree char *path = NULL;

    if (e->activated) {
        return true; /* matched by name, whatever the configuration says */
    }
    path = config_device_socket(cfg, dc);
    return g_strcmp0(path, e->dev->proc->sock.path) == 0;
}

static bool ids_same(const GArray *a, const GArray *b)
{
    guint na = a != NULL ? a->len : 0, nb = b != NULL ? b->len : 0;

    return na == nb && (na == 0 || memcmp(a->data, b->data, na * sizeof(guint32)) == 0);
}

/* Do the run-time settings differ, with [daemon] defaults applied? */
static bool same_settings(const struct daemon_config *ocfg,
                          const struct device_config *odc,
                          const struct daemon_config *ncfg,
                          const struct device_config *ndc)
{
    struct socket_perms op, np;

    config_device_perms(ocfg, odc, &op);
    config_device_perms(ncfg, ndc, &np);
    return odc->log_level == ndc->log_level &&
           odc->write_multiple == ndc->write_multiple && op.mode == np.mode &&
           op.has_uid == np.has_uid && (!op.has_uid || op.uid == np.uid) &&
           op.has_gid == np.has_gid && (!op.has_gid || op.gid == np.gid) &&
           ids_same(config_device_allowed_uids(ocfg, odc),
                    config_device_allowed_uids(ncfg, ndc)) &&
           ids_same(config_device_allowed_gids(ocfg, odc),
                    config_device_allowed_gids(ncfg, ndc));
}

/* Apply a device's run-time settings without recreating it. */
static void apply_settings(struct devset_entry *e, const struct daemon_config *cfg,
                           const struct device_config *dc)
{
    vfud_dev *dev = e->dev;
    struct socket_perms p;

    __atomic_store_n(&dev->log_level, dc->log_level, __ATOMIC_RELAXED);
    __atomic_store_n(&dev->write_multiple, dc->write_multiple, __ATOMIC_RELAXED);
    device_set_access(dev, config_device_allowed_uids(cfg, dc),
                      config_device_allowed_gids(cfg, dc));
    config_device_perms(cfg, dc, &p);
    if (dev->proc->unlink_on_stop && dev->proc->sock.path != NULL &&
        (dev->proc->sock.mode != p.mode || dev->proc->sock.set_owner != p.has_uid ||
         dev->proc->sock.set_group != p.has_gid || (p.has_uid && dev->proc->sock.uid != p.uid) ||
         (p.has_gid && dev->proc->sock.gid != p.gid))) {
        g_autofree char *why = NULL;

        dev->proc->sock.mode = p.mode;
        dev->proc->sock.set_owner = p.has_uid;
        dev->proc->sock.set_group = p.has_gid;
        dev->proc->sock.uid = p.uid;
        dev->proc->sock.gid = p.gid;
        if (listener_set_perms(&dev->proc->sock, &why) < 0) {
            log_error(dev->name, "%s", why);
        }
    }
    config_device_free(e->dc);
    e->dc = config_device_dup(dc);
}

/* [daemon] keys that take effect at once; the control socket's need a
 * restart (listed in the answer). */
static void note(struct devset_result *r, enum devset_list list, const char *name);

static void apply_daemon(struct devset *ds, const struct daemon_config *n,
                         struct devset_result *answer)
{
    const struct daemon_config *o = ds->cfg;
    g_autofree char *oc = config_control_socket(o);
    g_autofree char *nc = config_control_socket(n);
    if (answer->lists[DEVSET_RESTART_NEEDED] == NULL) {
        answer->lists[DEVSET_RESTART_NEEDED] = g_ptr_array_new_with_free_func(g_free);
    }
    if (!ds->verbose) {
        log_set_level(n->log_level >= 0 ? n->log_level : LOG_INFO);
    }
    device_set_callback_limit(n->callback_warn_ms);
    device_set_handshake_timeout(n->handshake_timeout_ms);
    if (g_strcmp0(oc, nc) != 0 || o->control_mode != n->control_mode ||
        o->has_control_gid != n->has_control_gid ||
        (n->has_control_gid && o->control_gid != n->control_gid)) {
        note(answer, DEVSET_RESTART_NEEDED, "control-socket");
        log_warn(NULL, "reload: control socket settings change only when the "
                 "daemon restarts");
    }
}

static void note(struct devset_result *r, enum devset_list list, const char *name)
{
    if (r->lists[list] == NULL) {
        r->lists[list] = g_ptr_array_new_with_free_func(g_free);
    }
    g_ptr_array_add(r->lists[list], g_strdup(name));
}

static void note_pending(struct devset_result *answer, const char *name,
                         const char *change, const char *reason)
{
    struct devset_pending *p = g_new0(struct devset_pending, 1);

    p->device = g_strdup(name);
    p->change = change;
    p->reason = g_strdup(reason);
    if (answer->pending == NULL) {
        answer->pending = g_ptr_array_new_with_free_func(pending_free);
    }
    g_ptr_array_add(answer->pending, p);
    log_notice(name, "reload: not %s: %s; reload again once it has gone",
               strcmp(change, "remove") == 0 ? "removed" : "recreated", reason);
}

static void reload_finish(struct devset_op *op)
{
    struct devset *ds = op->ds;
    struct devset_result *a = g_steal_pointer(&op->result);
    static const enum devset_list lists[] = { DEVSET_ADDED, DEVSET_REMOVED,
                                              DEVSET_RECREATED, DEVSET_UPDATED,
                                              DEVSET_UNCHANGED };
    static const char *const names[] = { "added", "removed", "recreated", "updated",
                                         "unchanged" };
    GString *sum = g_string_new(NULL);

    for (guint i = 0; i < op->changes->len; i++) {
        struct change *ch = g_ptr_array_index(op->changes, i);
        struct devset_entry *e;

        if ((ch->kind != CH_ADD && ch->kind != CH_RECREATE) || ch->pending) {
            continue;
        }
        e = entry_new(g_steal_pointer(&ch->dev), ch->dc, true);
        if (start_entry(ds, ds->cfg, e) < 0) {
            note(a, DEVSET_FAILED, ch->dc->name);
            entry_free(e);
            continue;
        }
        g_ptr_array_add(ds->entries, e);
        announce(e);
        log_info(ch->dc->name, "reload: %s", ch->kind == CH_ADD ? "added"
                                         : "recreated (its configuration changed)");
        note(a, ch->kind == CH_ADD ? DEVSET_ADDED : DEVSET_RECREATED, ch->dc->name);
    }
    for (unsigned k = 0; k < G_N_ELEMENTS(lists); k++) {
        g_string_append_printf(sum, "%s%u %s", k > 0 ? ", " : "",
                               a->lists[lists[k]] != NULL ? a->lists[lists[k]]->len : 0,
                               names[k]);
    }
    g_string_append_printf(sum, ", %u pending", a->pending != NULL ? a->pending->len : 0);
    if (a->lists[DEVSET_FAILED] != NULL) {
        g_string_append_printf(sum, ", %u failed", a->lists[DEVSET_FAILED]->len);
        a->err = EIO;
        a->error = g_strdup("some devices could not be started");
    }
    log_notice(NULL, "reloaded %s: %s", ds->config_path, sum->str);
    g_string_free(sum, TRUE);
    op_finish(op, a);
}

static void reload_stopped(vfud_dev *dev, int result, void *opaque)
{
    struct change *ch = opaque;
    struct devset_op *op = ch->op;
    struct devset_entry *e = ch->old;

    e->busy = false;
    if (result < 0) {
        /* A client came between our look and the stop. */
        g_autofree char *who = client_text(dev);

        ch->pending = true;
        dispose(g_steal_pointer(&ch->dev));
        note_pending(op->result, dev->name,
                     ch->kind == CH_REMOVE ? "remove" : "recreate", who);
    } else {
        g_ptr_array_remove(op->ds->entries, e);
        if (ch->kind == CH_REMOVE) {
            log_notice(e->dc->name, "removed: no longer in the configuration");
            note(op->result, DEVSET_REMOVED, e->dc->name);
        }
        entry_free(e);
        ch->old = NULL;
    }
    if (--op->stopping == 0) {
        reload_finish(op);
    }
}

static struct change *change_new(struct devset_op *op, enum change_kind kind,
                                 struct devset_entry *old,
                                 const struct device_config *dc)
{
    struct change *ch = g_new0(struct change, 1);

    ch->op = op;
    ch->kind = kind;
    ch->old = old;
    ch->dc = dc != NULL ? config_device_dup(dc) : NULL;
    g_ptr_array_add(op->changes, ch);
    return ch;
}

/* Compare the file with what runs; decide each device's change. */
static void reload_plan(struct devset_op *op)
{
    struct devset *ds = op->ds;
    const struct daemon_config *n = op->newcfg;
    struct devset_result *a = op->result;

    for (guint i = 0; i < n->devices->len; i++) {
        const struct device_config *dc = g_ptr_array_index(n->devices, i);
        struct devset_entry *e = devset_find(ds, dc->name);

        if (e == NULL) {
            change_new(op, CH_ADD, NULL, dc);
        } else if (!config_device_same_instance(e->dc, dc) || !same_socket(e, n, dc)) {
            if (device_has_client(e->dev)) {
                g_autofree char *who = client_text(e->dev);

                note_pending(a, dc->name, "recreate", who);
            } else {
                change_new(op, CH_RECREATE, e, dc);
            }
        } else if (!same_settings(ds->cfg, e->dc, n, dc)) {
            /* An isolated device's settings live in its process: a new
             * process applies them. */
            change_new(op, e->dc->isolate ? CH_RECREATE : CH_UPDATE, e, dc);
        } else {
            e->from_file = true;
            note(a, DEVSET_UNCHANGED, dc->name);
        }
    }
    for (guint i = 0; i < ds->entries->len; i++) {
        struct devset_entry *e = g_ptr_array_index(ds->entries, i);

        if (config_find_device(n, e->dc->name) != NULL) {
            continue;
        }
        if (!e->from_file) {
            note(a, DEVSET_RUNTIME, e->dc->name); /* vfiouserctl add: left alone */
        } else if (device_has_client(e->dev)) {
            g_autofree char *who = client_text(e->dev);

            note_pending(a, e->dc->name, "remove", who);
        } else {
            change_new(op, CH_REMOVE, e, NULL);
        }
    }
}

static void reload_run(struct devset_op *op)
{
    struct devset *ds = op->ds;
    struct daemon_config *n = NULL;
    unsigned errors = 0;
    int r;

    if (ds->config_path == NULL) {
        op_finish(op, result_error(ENOSYS, "single-device mode: there is no "
                                   "configuration file to reload"));
        return;
    }
    r = config_load(ds->config_path, &n);
    if (r < 0) {
        op_finish(op, result_error(-r, "%s: not reloaded, nothing changed",
                                   ds->config_path));
        return;
    }
    if (n->devices->len == 0) {
        log_error(NULL, "%s: no devices configured", ds->config_path);
        config_free(n);
        op_finish(op, result_error(EINVAL, "%s: not reloaded, nothing changed",
                                   ds->config_path));
        return;
    }
    op->newcfg = n;
    op->result = result_new();
    op->result->reloaded = true;
    op->result->config = g_strdup(ds->config_path);
    op->changes = g_ptr_array_new_with_free_func(change_free);
    reload_plan(op);

    /* Every new instance first, while the old ones still serve: a section
     * its plugin rejects changes nothing at all. */
    for (guint i = 0; i < op->changes->len; i++) {
        struct change *ch = g_ptr_array_index(op->changes, i);

        if ((ch->kind == CH_ADD || ch->kind == CH_RECREATE) &&
            prepare(ds, n, n->path, ch->dc, &ch->dev) < 0) {
            errors++;
        }
    }
    if (errors > 0) {
        devset_result_free(g_steal_pointer(&op->result));
        op_finish(op, result_error(EINVAL, "%s: not reloaded, nothing changed",
                                   ds->config_path));
        return;
    }

    /* Commit. */
    apply_daemon(ds, n, op->result);
    for (guint i = 0; i < op->changes->len; i++) {
        struct change *ch = g_ptr_array_index(op->changes, i);

        if (ch->kind == CH_UPDATE) {
            apply_settings(ch->old, n, ch->dc);
            ch->old->from_file = true;
            log_info(ch->dc->name, "reload: settings updated");
            note(op->result, DEVSET_UPDATED, ch->dc->name);
        }
    }
    config_free(ds->cfg);
    ds->cfg = g_steal_pointer(&op->newcfg);
    op->stopping = 1; /* held until every stop below is asked for */
    for (guint i = 0; i < op->changes->len; i++) {
        struct change *ch = g_ptr_array_index(op->changes, i);

        if (ch->kind == CH_REMOVE || ch->kind == CH_RECREATE) {
            op->stopping++;
            ch->old->busy = true;
            device_stop_async(ch->old->dev, false,
                              ch->kind == CH_REMOVE ? "device removed from the "
                                                      "configuration"
                                                    : "device reconfigured",
                              ds->ctx, reload_stopped, ch);
        }
    }
    if (--op->stopping == 0) {
        reload_finish(op);
    }
}

void devset_reload(struct devset *ds, devset_done_fn done, void *opaque)
{
    submit(ds, op_new(ds, reload_run, done, opaque));
}
