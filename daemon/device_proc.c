/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process's side of a device: its configuration section, its socket,
 * isolation, the watchdog, and what the engine tells the process.
 */
#include "config.h"

#include "device.h"
#include "device_proc.h"
#include "fdstore.h"
#include "isolate.h"
#include "listener.h"
#include "log.h"
#include "sandbox.h"
#include "sd_notify.h"
#include "util.h"
#include "watchdog.h"

#include <errno.h>
#include <unistd.h>

#include <glib.h>

static void status_line(vfud_dev *dev, const char *status)
{
    sd_notify_printf("STATUS=%s: %s", dev->name, status);
}

/* Device thread, leaving: the child of an isolated device goes with it,
 * and a device_stop_async caller learns it is done. */
static void thread_exit(vfud_dev *dev)
{
    if (dev->proc->isolate) {
        isolate_stop(dev);
    }
    device_stop_answer_pending(dev);
}

void device_proc_init(void)
{
    static const struct device_hooks hooks = {
        .status = status_line,
        .thread_exit = thread_exit,
        .open_peer_maps = sandbox_maps_open,
        .command = fdstore_dev_command,
        .client_changed = fdstore_dev_client_changed,
    };

    device_set_hooks(&hooks);
}

vfud_dev *device_proc_new(const char *name, struct plugin *plugin)
{
    vfud_dev *dev = device_new(name, &plugin->ops);
    struct device_proc *p = g_new0(struct device_proc, 1);

    p->plugin = plugin;
    p->listen_fd = -1;
    p->sock.fd = -1;
    p->iso_upgrade_fd = -1;
    dev->proc = p;
    return dev;
}

static char *location(const char *file, unsigned line)
{
    if (line == 0) {
        return g_strdup(file);
    }
    return g_strdup_printf("%s:%u", file, line);
}

int device_proc_configure(vfud_dev *dev, const char *file,
                          const struct device_config *cfg)
{
    g_autofree char *where = location(file, cfg->line);
    g_autofree struct device_key *keys = g_new0(struct device_key, cfg->keys->len + 1);
    g_autoptr(GPtrArray) wheres = g_ptr_array_new_with_free_func(g_free);

    g_free(dev->proc->socket_where);
    dev->write_multiple = cfg->write_multiple;
    dev->proc->socket_where = location(file, cfg->socket != NULL ? cfg->socket_line
                                                                 : cfg->line);
    for (guint i = 0; i < cfg->keys->len; i++) {
        const struct config_entry *e = g_ptr_array_index(cfg->keys, i);
        char *at = location(file, e->line);

        g_ptr_array_add(wheres, at);
        keys[i] = (struct device_key){ .key = e->key, .value = e->value, .where = at };
    }
    return device_configure(dev, where, keys, cfg->keys->len);
}

int device_proc_start(vfud_dev *dev, const struct device_socket *sock)
{
    struct device_proc *p = dev->proc;
    g_autofree char *why = NULL;
    int r;

    p->sock = *sock;
    p->sock.path = g_strdup(sock->path);
    if (sock->fd >= 0) {
        p->listen_fd = sock->fd;
    } else {
        r = listener_bind(&p->sock, &p->listen_fd, &why);
        if (r < 0) {
            log_error(NULL, "%s: [%s] %s", p->socket_where, dev->name, why);
            return r;
        }
        p->unlink_on_stop = true;
    }
    util_set_nonblock(p->listen_fd, true);
    if (p->isolate) {
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
        if (!isolate_taking_over(dev)) {
            /* Else once its child has answered (device_proc_taken_over). */
            device_start_thread(dev);
        }
        return 0;
    }
    listener_watch(dev);
    /* Already running: started early by an upgrade (devset_prestart). */
    r = dev->thread != NULL ? 0 : device_start(dev);
    if (r < 0) {
        return r;
    }
    watchdog_add(dev);
    return 0;
}

int device_proc_taken_over(vfud_dev *dev)
{
    int r;

    if (!isolate_taking_over(dev)) {
        return 0;
    }
    r = isolate_take_over_wait(dev);
    if (r == 0) {
        device_start_thread(dev);
    }
    return r;
}

/* Stop accepting, drop the client, destroy the plugin instance, unlink the
 * socket.  Safe in any phase. */
static void device_proc_stop(vfud_dev *dev)
{
    struct device_proc *p = dev->proc;
    bool running = dev->thread != NULL;

    device_stop(dev);
    if (running) {
        watchdog_remove(dev);
    }
    /* A device_stop_async answer nobody will take now (shutdown). */
    device_stop_cancel(dev);
    listener_unwatch(dev);
    if (p->listen_fd >= 0) {
        util_close(&p->listen_fd);
        if (p->unlink_on_stop && p->sock.path != NULL) {
            unlink(p->sock.path);
        }
    }
}

void device_proc_free(vfud_dev *dev)
{
    struct device_proc *p;

    if (dev == NULL) {
        return;
    }
    p = dev->proc;
    /* A child started for an upgrade refused before it got its state. */
    isolate_prestart_cancel(dev);
    device_proc_stop(dev);
    /* After the thread: its client's conn points into the meta memory. */
    fdstore_dev_forget(dev);
    device_access_free(dev);
    device_free(dev);
    g_free(p->sock.path);
    g_free(p->socket_where);
    g_free(p->iso_config);
    g_free(p);
}
