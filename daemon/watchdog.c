/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "device.h"
#include "log.h"
#include "watchdog.h"

#include <glib.h>

struct timed {
    vfud_dev *dev;
    gint64 reported; /* the cb_started already logged, or 0 */
};

static GMutex watch_lock;
static GCond watch_cond;
static GList *watched;        /* struct timed: running devices */
static GThread *watch_thread;
static bool watch_quit;

/* Wakes twice per limit, only while some device runs. */
static gpointer watchdog(gpointer data)
{
    g_mutex_lock(&watch_lock);
    while (!watch_quit) {
        unsigned limit_ms = device_callback_limit();
        gint64 now = device_cb_clock();

        for (GList *l = watched; l != NULL; l = l->next) {
            struct timed *w = l->data;
            vfud_dev *dev = w->dev;
            gint64 t0 = __atomic_load_n(&dev->cb_started, __ATOMIC_ACQUIRE);

            if (t0 != 0 && (now - t0) / 1000 >= limit_ms && w->reported != t0) {
                w->reported = t0;
                dev_warn(dev, "plugin callback %s has been running for %lld ms "
                         "(limit %u ms); the client may give up waiting",
                         dev->cb_name, (long long)((now - t0) / 1000), limit_ms);
            }
        }
        g_cond_wait_until(&watch_cond, &watch_lock,
                          g_get_monotonic_time() + limit_ms * 500);
    }
    g_mutex_unlock(&watch_lock);
    return NULL;
}

void watchdog_add(vfud_dev *dev)
{
    struct timed *w;

    if (device_callback_limit() == 0) {
        return;
    }
    w = g_new0(struct timed, 1);
    w->dev = dev;
    g_mutex_lock(&watch_lock);
    watched = g_list_prepend(watched, w);
    if (watch_thread == NULL) {
        watch_quit = false;
        watch_thread = g_thread_new("watchdog", watchdog, NULL);
    }
    g_mutex_unlock(&watch_lock);
}

void watchdog_remove(vfud_dev *dev)
{
    GThread *t = NULL;

    g_mutex_lock(&watch_lock);
    for (GList *l = watched; l != NULL; l = l->next) {
        struct timed *w = l->data;

        if (w->dev == dev) {
            watched = g_list_delete_link(watched, l);
            g_free(w);
            break;
        }
    }
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
