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

static GMutex wd_lock;
static GCond wd_cond;
static GList *timed_devs;        /* struct timed: running devices */
static GThread *wd_thread;
static bool wd_quit;

/* Wakes twice per limit, only while some device runs. */
static gpointer watchdog(gpointer data)
{
    g_mutex_lock(&wd_lock);
    while (!wd_quit) {
        unsigned limit_ms = device_callback_limit();
        gint64 now = device_cb_clock();

        for (GList *l = timed_devs; l != NULL; l = l->next) {
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
        g_cond_wait_until(&wd_cond, &wd_lock,
                          g_get_monotonic_time() + limit_ms * 500);
    }
    g_mutex_unlock(&wd_lock);
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
    g_mutex_lock(&wd_lock);
    timed_devs = g_list_prepend(timed_devs, w);
    if (wd_thread == NULL) {
        wd_quit = false;
        wd_thread = g_thread_new("watchdog", watchdog, NULL);
    }
    g_mutex_unlock(&wd_lock);
}

void watchdog_remove(vfud_dev *dev)
{
    GThread *t = NULL;

    g_mutex_lock(&wd_lock);
    for (GList *l = timed_devs; l != NULL; l = l->next) {
        struct timed *w = l->data;

        if (w->dev == dev) {
            timed_devs = g_list_delete_link(timed_devs, l);
            g_free(w);
            break;
        }
    }
    if (timed_devs == NULL && wd_thread != NULL) {
        wd_quit = true;
        g_cond_broadcast(&wd_cond);
        t = wd_thread;
        wd_thread = NULL;
    }
    g_mutex_unlock(&wd_lock);
    if (t != NULL) {
        g_thread_join(t);
    }
}
