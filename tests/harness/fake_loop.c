/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake daemon (fake_vfud.h): running work.  vfud_submit() jobs run on
 * one worker thread per device, in order, as the daemon's (engine/worker.c);
 * vfud_defer() work waits for the end of the fake_* call that plays the
 * message (or for fake_dev_run_watches); watches run only when the test
 * turns the loop with fake_dev_run_watches().
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fake_priv.h"

#define FAKE_MAX_POLL 64

uint64_t fk_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Jobs
 */

static void *worker_main(void *arg)
{
    vfud_dev *dev = arg;
    struct fake_job *job;

    pthread_mutex_lock(&dev->work_lock);
    for (;;) {
        while (dev->jobs == NULL && !dev->worker_stopping) {
            pthread_cond_wait(&dev->work_cond, &dev->work_lock);
        }
        job = dev->jobs;
        if (job == NULL) {
            break;
        }
        dev->jobs = job->next;
        if (dev->jobs == NULL) {
            dev->jobs_tail = &dev->jobs;
        }
        pthread_mutex_unlock(&dev->work_lock);
        job->fn(dev, job->opaque);
        free(job);
        pthread_mutex_lock(&dev->work_lock);
        dev->jobs_done++;
        pthread_cond_broadcast(&dev->work_cond);
    }
    pthread_mutex_unlock(&dev->work_lock);
    return NULL;
}

int vfud_submit(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    struct fake_job *job = calloc(1, sizeof(*job));
    int r = 0;

    if (job == NULL) {
        return -ENOMEM;
    }
    job->fn = fn;
    job->opaque = opaque;
    pthread_mutex_lock(&dev->work_lock);
    if (dev->worker_stopping) {
        r = -ESHUTDOWN;
    } else if (!dev->worker_started) {
        r = -pthread_create(&dev->worker, NULL, worker_main, dev);
        dev->worker_started = r == 0;
    }
    if (r == 0) {
        *dev->jobs_tail = job;
        dev->jobs_tail = &job->next;
        dev->jobs_submitted++;
        pthread_cond_broadcast(&dev->work_cond);
    }
    pthread_mutex_unlock(&dev->work_lock);
    if (r < 0) {
        free(job);
    }
    return r;
}

void fk_drain(vfud_dev *dev)
{
    pthread_mutex_lock(&dev->work_lock);
    /* a job cannot wait for itself */
    if (!dev->worker_started || !pthread_equal(pthread_self(), dev->worker)) {
        unsigned long target = dev->jobs_submitted;

        while (dev->jobs_done < target) {
            pthread_cond_wait(&dev->work_cond, &dev->work_lock);
        }
    }
    pthread_mutex_unlock(&dev->work_lock);
}

void vfud_submit_drain(vfud_dev *dev)
{
    fk_drain(dev);
}

/* ------------------------------------------------------------------------
 * Deferred work and waiting
 */

int vfud_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque)
{
    struct fake_job *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return -ENOMEM;
    }
    w->fn = fn;
    w->opaque = opaque;
    pthread_mutex_lock(&dev->work_lock);
    *dev->deferred_tail = w;
    dev->deferred_tail = &w->next;
    pthread_mutex_unlock(&dev->work_lock);
    return 0;
}

void fk_run_deferred(vfud_dev *dev)
{
    vfud_dev *prev = fk_enter(dev);
    struct fake_job *w;

    for (;;) {
        pthread_mutex_lock(&dev->work_lock);
        w = dev->deferred;
        if (w != NULL) {
            dev->deferred = w->next;
            if (dev->deferred == NULL) {
                dev->deferred_tail = &dev->deferred;
            }
        }
        pthread_mutex_unlock(&dev->work_lock);
        if (w == NULL) {
            break;
        }
        w->fn(dev, w->opaque);
        free(w);
    }
    fk_leave(prev);
}

/* No client here: nothing to read while waiting, so waiting is polling. */
int vfud_wait(vfud_dev *dev, bool (*done)(void *opaque), void *opaque,
              unsigned timeout_ms)
{
    uint64_t deadline = fk_now_ms() + timeout_ms;

    (void)dev;
    while (!done(opaque)) {
        if (timeout_ms > 0 && fk_now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        usleep(200);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Watches
 */

static vfud_watch *watch_new(vfud_dev *dev, int fd, void *opaque)
{
    vfud_watch *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return NULL;
    }
    w->dev = dev;
    w->fd = fd;
    w->opaque = opaque;
    w->next = dev->watches;
    dev->watches = w;
    return w;
}

vfud_watch *vfud_watch_fd(vfud_dev *dev, int fd, unsigned events,
                          vfud_fd_fn fn, void *opaque)
{
    vfud_watch *w;

    if (fd < 0 || fn == NULL) {
        return NULL;
    }
    w = watch_new(dev, fd, opaque);
    if (w != NULL) {
        w->events = events;
        w->fd_fn = fn;
    }
    return w;
}

vfud_watch *vfud_watch_timer(vfud_dev *dev, unsigned interval_ms,
                             vfud_timer_fn fn, void *opaque)
{
    vfud_watch *w;

    if (fn == NULL) {
        return NULL;
    }
    w = watch_new(dev, -1, opaque);
    if (w != NULL) {
        w->timer_fn = fn;
        w->interval_ms = interval_ms;
        w->due_ms = fk_now_ms() + interval_ms;
    }
    return w;
}

static void watch_unlink(vfud_watch *w)
{
    for (vfud_watch **pp = &w->dev->watches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

void vfud_watch_remove(vfud_watch *w)
{
    if (w == NULL) {
        return;
    }
    if (w->dev->running_watches) {
        w->dead = true; /* the loop may still hold it */
    } else {
        watch_unlink(w);
    }
}

int fake_dev_run_watches(vfud_dev *dev, int timeout_ms)
{
    struct pollfd pfd[FAKE_MAX_POLL];
    vfud_watch *ws[FAKE_MAX_POLL];
    nfds_t n = 0;
    int ran = 0, wait = timeout_ms;
    uint64_t now = fk_now_ms();
    vfud_dev *prev;

    for (vfud_watch *w = dev->watches; w != NULL; w = w->next) {
        if (w->fd >= 0 && n < FAKE_MAX_POLL) {
            pfd[n].fd = w->fd;
            pfd[n].events = (short)((w->events & VFUD_EV_IN ? POLLIN : 0) |
                                    (w->events & VFUD_EV_OUT ? POLLOUT : 0));
            ws[n++] = w;
        } else if (w->fd < 0) {
            int until = w->due_ms > now ? (int)(w->due_ms - now) : 0;

            if (wait < 0 || until < wait) {
                wait = until;
            }
        }
    }
    if (n == 0 && wait < 0) {
        return 0; /* nothing could ever be ready */
    }
    if (poll(pfd, n, wait) < 0) {
        return -errno;
    }

    prev = fk_enter(dev);
    dev->running_watches = true;
    for (nfds_t i = 0; i < n; i++) {
        short re = pfd[i].revents;
        unsigned ev = (re & POLLIN ? VFUD_EV_IN : 0) |
                      (re & POLLOUT ? VFUD_EV_OUT : 0) |
                      (re & (POLLERR | POLLHUP | POLLNVAL) ? VFUD_EV_ERR : 0);

        if (ev != 0 && !ws[i]->dead) {
            ran++;
            if (!ws[i]->fd_fn(dev, ws[i]->fd, ev, ws[i]->opaque)) {
                ws[i]->dead = true;
            }
        }
    }
    for (vfud_watch *w = dev->watches; w != NULL; w = w->next) {
        if (w->fd < 0 && !w->dead && fk_now_ms() >= w->due_ms) {
            ran++;
            w->due_ms = fk_now_ms() + w->interval_ms;
            if (!w->timer_fn(dev, w->opaque)) {
                w->dead = true;
            }
        }
    }
    dev->running_watches = false;
    for (vfud_watch *w = dev->watches, *next; w != NULL; w = next) {
        next = w->next;
        if (w->dead) {
            watch_unlink(w);
        }
    }
    fk_run_deferred(dev);
    fk_leave(prev);
    return ran;
}

unsigned fake_watch_count(vfud_dev *dev)
{
    unsigned n = 0;

    for (vfud_watch *w = dev->watches; w != NULL; w = w->next) {
        n += !w->dead;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Inside the fake
 */

void fk_loop_init(vfud_dev *dev)
{
    pthread_mutex_init(&dev->work_lock, NULL);
    pthread_cond_init(&dev->work_cond, NULL);
    dev->jobs_tail = &dev->jobs;
    dev->deferred_tail = &dev->deferred;
}

void fk_loop_stop(vfud_dev *dev)
{
    bool join;

    fk_run_deferred(dev);
    fk_drain(dev);
    pthread_mutex_lock(&dev->work_lock);
    join = dev->worker_started && !dev->worker_stopping;
    dev->worker_stopping = true;
    pthread_cond_broadcast(&dev->work_cond);
    pthread_mutex_unlock(&dev->work_lock);
    if (join) {
        pthread_join(dev->worker, NULL);
    }
}

void fk_loop_free(vfud_dev *dev)
{
    struct fake_job *w;

    while (dev->watches != NULL) {
        watch_unlink(dev->watches);
    }
    /* work deferred by destroy() has nobody left to run it */
    while ((w = dev->deferred) != NULL) {
        dev->deferred = w->next;
        free(w);
    }
    pthread_mutex_destroy(&dev->work_lock);
    pthread_cond_destroy(&dev->work_cond);
}
