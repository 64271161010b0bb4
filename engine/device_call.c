/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Calls into a device thread (device.h, device_call_start): a function run
 * by the device's own loop, between two messages, while another thread
 * waits for its result.
 */
#include "config.h"

#include "device.h"

#include <errno.h>

enum call_state { CALL_PENDING, CALL_RUNNING, CALL_DONE };

struct device_call {
    vfud_dev *dev;
    device_call_fn fn;
    void *opaque;
    enum call_state state;
    int r;
    int refs; /* the waiter's, and the source's while attached */
};

/* One lock and condition for every call: calls are rare (upgrades, stops),
 * and a device thread leaving its loop must find its pending ones. */
static GMutex calls_lock;
static GCond calls_cond;
static GList *pending; /* struct device_call *, source attached, not run */
static __thread struct device_call *current_call;

static void unref_locked(struct device_call *c)
{
    if (--c->refs == 0) {
        g_free(c);
    }
}

static void finish_locked(struct device_call *c, int r)
{
    if (c->state != CALL_DONE) {
        c->r = r;
        c->state = CALL_DONE;
        g_cond_broadcast(&calls_cond);
    }
}

static void run_call(struct device_call *c)
{
    struct device_call *outer = current_call;
    int r;

    current_call = c;
    r = c->fn(c->dev, c->opaque);
    current_call = outer;
    g_mutex_lock(&calls_lock);
    finish_locked(c, r);
    g_mutex_unlock(&calls_lock);
}

static gboolean call_dispatch(gpointer data)
{
    struct device_call *c = data;
    bool run;

    g_mutex_lock(&calls_lock);
    run = c->state == CALL_PENDING;
    if (run) {
        pending = g_list_remove(pending, c);
        c->state = CALL_RUNNING;
    }
    g_mutex_unlock(&calls_lock);
    if (run) {
        run_call(c);
    }
    return G_SOURCE_REMOVE;
}

/* The source is gone: run, or destroyed with the context unrun. */
static void call_source_gone(gpointer data)
{
    g_mutex_lock(&calls_lock);
    unref_locked(data);
    g_mutex_unlock(&calls_lock);
}

struct device_call *device_call_start(vfud_dev *dev, device_call_fn fn, void *opaque)
{
    struct device_call *c = g_new0(struct device_call, 1);
    GSource *s;

    c->dev = dev;
    c->fn = fn;
    c->opaque = opaque;
    c->refs = 1;
    if (device_on_own_thread(dev)) {
        /* Waiting for our own loop would never end. */
        c->state = CALL_RUNNING;
        run_call(c);
        return c;
    }
    g_mutex_lock(&calls_lock);
    if (!dev->calls_open) {
        c->state = CALL_DONE;
        c->r = -ESRCH;
        g_mutex_unlock(&calls_lock);
        return c;
    }
    c->refs++;
    pending = g_list_prepend(pending, c);
    g_mutex_unlock(&calls_lock);
    /* If the thread leaves its loop before this runs, it ends the call
     * (device_calls_close) and the source dies with the context. */
    s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_HIGH);
    g_source_set_callback(s, call_dispatch, c, call_source_gone);
    g_source_attach(s, dev->ctx);
    g_source_unref(s);
    return c;
}

int device_call_wait(struct device_call *c)
{
    int r;

    g_mutex_lock(&calls_lock);
    while (c->state != CALL_DONE) {
        g_cond_wait(&calls_cond, &calls_lock);
    }
    r = c->r;
    unref_locked(c);
    g_mutex_unlock(&calls_lock);
    return r;
}

int device_call_sync(vfud_dev *dev, device_call_fn fn, void *opaque)
{
    return device_call_wait(device_call_start(dev, fn, opaque));
}

void device_call_return(int r)
{
    if (current_call == NULL) {
        return;
    }
    g_mutex_lock(&calls_lock);
    finish_locked(current_call, r);
    g_mutex_unlock(&calls_lock);
}

void device_calls_open(vfud_dev *dev)
{
    g_mutex_lock(&calls_lock);
    dev->calls_open = true;
    g_mutex_unlock(&calls_lock);
}

void device_calls_close(vfud_dev *dev)
{
    g_mutex_lock(&calls_lock);
    dev->calls_open = false;
    for (GList *l = pending; l != NULL;) {
        GList *next = l->next;
        struct device_call *c = l->data;

        if (c->dev == dev) {
            finish_locked(c, -ESRCH);
            pending = g_list_delete_link(pending, l);
        }
        l = next;
    }
    g_mutex_unlock(&calls_lock);
}
