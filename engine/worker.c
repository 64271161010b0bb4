/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "worker.h"

#include <errno.h>

#include <glib.h>

struct job {
    vfud_work_fn fn;
    void *opaque;
};

struct worker {
    vfud_dev *dev;
    GThread *thread;
    GMutex lock;
    GCond cond; /* jobs arrived, or a job finished */
    GQueue jobs;
    bool busy;
    bool quit;
};

static gpointer worker_thread(gpointer data)
{
    struct worker *w = data;

    g_mutex_lock(&w->lock);
    for (;;) {
        struct job *j;

        while (g_queue_is_empty(&w->jobs) && !w->quit) {
            g_cond_wait(&w->cond, &w->lock);
        }
        if (g_queue_is_empty(&w->jobs)) {
            break; /* quit, nothing left */
        }
        j = g_queue_pop_head(&w->jobs);
        w->busy = true;
        g_mutex_unlock(&w->lock);
        j->fn(w->dev, j->opaque);
        g_free(j);
        g_mutex_lock(&w->lock);
        w->busy = false;
        g_cond_broadcast(&w->cond);
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

struct worker *worker_new(vfud_dev *dev)
{
    struct worker *w = g_new0(struct worker, 1);
    g_autofree char *name = g_strdup_printf("%s-work", dev->name);

    w->dev = dev;
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    g_queue_init(&w->jobs);
    w->thread = g_thread_new(name, worker_thread, w);
    return w;
}

int worker_submit(struct worker *w, vfud_work_fn fn, void *opaque)
{
    struct job *j = g_new(struct job, 1);

    j->fn = fn;
    j->opaque = opaque;
    g_mutex_lock(&w->lock);
    if (w->quit) {
        g_mutex_unlock(&w->lock);
        g_free(j);
        return -ESHUTDOWN;
    }
    g_queue_push_tail(&w->jobs, j);
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    return 0;
}

void worker_drain(struct worker *w, struct conn *c)
{
    for (;;) {
        bool idle;

        g_mutex_lock(&w->lock);
        idle = !w->busy && g_queue_is_empty(&w->jobs);
        if (!idle && (c == NULL || c->closing)) {
            g_cond_wait_until(&w->cond, &w->lock, g_get_monotonic_time() + 10000);
        }
        g_mutex_unlock(&w->lock);
        if (idle) {
            return;
        }
        if (c != NULL && !c->closing) {
            conn_pump_replies(c, 5);
        }
    }
}

void worker_free(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    g_mutex_lock(&w->lock);
    w->quit = true;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    g_free(w);
}
