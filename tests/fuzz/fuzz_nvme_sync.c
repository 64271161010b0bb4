/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe controller without its I/O thread, for the fuzz target.
 *
 * With the thread, what happens after a doorbell depends on when the
 * thread looks, and the fuzzer could neither replay an input nor tell a
 * hang from slowness.  Here start() sets up the io_uring ring but starts no
 * thread, so nvme_ctl_call() runs every control operation inline, and
 * nf_settle() runs the thread's loop body on the caller's thread until
 * there is nothing left to do.  Everything the thread calls is the
 * plugin's own code: this file includes ctrl.c to reach its static
 * run_queues() and io_wait(); only the loop around them is repeated below.
 */
#include "../../plugins/nvme/ctrl.c"

#include "fuzz.h"
#include "fuzz_nvme_priv.h"

/* A controller that still makes progress after this many passes never
 * stops: each pass consumes SQ entries, posts CQEs or reaps the back-end,
 * and the guest gave it finitely many. */
#define SETTLE_MAX_PASSES 100000

static void (*plugin_destroy)(vfud_dev *dev);

/* nvme_start() but for the thread: the ring the thread would own. */
static int sync_start(vfud_dev *dev)
{
    struct nvme_ctrl *c = vfud_get_private(dev);
    int r;

    for (uint32_t nsid = 1; nsid <= c->nn; nsid++) {
        if (c->ns[nsid]) {
            r = nvme_ns_prepare(c, c->ns[nsid]);
            if (r < 0) {
                return r;
            }
        }
    }
    r = io_uring_queue_init(512, &c->ring, 0);
    if (r < 0) {
        vfud_error(dev, "nvme: io_uring_queue_init: %s", strerror(-r));
        return r;
    }
    c->ring_ok = true;
    return 0;
}

/* Tear down as nvme_ctrl_stop_thread() would (the back-end drained while
 * the ring exists), then the plugin's own destroy(). */
static void sync_destroy(vfud_dev *dev)
{
    struct nvme_ctrl *c = vfud_get_private(dev);

    if (c && c->ring_ok) {
        nvme_ctrl_reset_state(c, false);
        io_uring_queue_exit(&c->ring);
        c->ring_ok = false;
    }
    plugin_destroy(dev);
}

struct vfud_plugin *nf_sync_plugin(void)
{
    static struct vfud_plugin p;

    if (!plugin_destroy) {
        p = *fuzz_nvme_plugin_init();
        plugin_destroy = p.destroy;
        p.start = sync_start;
        p.destroy = sync_destroy;
    }
    return &p;
}

/* One turn of io_thread()'s loop, without its waiting. */
static bool sync_pass(struct nvme_ctrl *c)
{
    bool progress = false;

    if (!c->mem_fault) {
        c->mem_fault_since = 0;
    }
    c->mem_fault = false;
    if (nvme_uring_process(c) + nvme_rbd_collect(c) > 0) {
        progress = true;
    }
    if (c->enabled && !c->fatal) {
        progress |= run_queues(c);
    }
    nvme_raise_irqs(c);
    if (c->sqes_queued) {
        c->sqes_queued = 0;
        io_uring_submit(&c->ring);
    }
    return progress;
}

void nf_settle(struct nvme_ctrl *c)
{
    unsigned passes = 0;

    for (;;) {
        if (++passes > SETTLE_MAX_PASSES) {
            nf_die("the controller still makes progress after %u passes",
                   SETTLE_MAX_PASSES);
        }
        if (sync_pass(c)) {
            continue;
        }
        if (c->backend_inflight) {
            io_wait(c, NULL);
            continue;
        }
        break;
    }
    /* Idle now.  The thread would retry a memory fault 10 ms later, poll
     * in poll mode, and otherwise go to sleep unless a doorbell looks
     * pending; if one does, it goes round again at once, and as serving
     * it just made no progress, it would do so forever at 100% CPU. */
    if (c->mem_fault || c->db_mode != NVME_DB_SHADOW || !c->enabled ||
        c->fatal) {
        return;
    }
    if (nvme_doorbells_pending(c)) {
        nf_die("the I/O thread would spin: a doorbell looks pending, but "
               "serving it makes no progress");
    }
}
