/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The merged turn.  A device thread's GMainContext waits through
 * conn_uring_poll (g_main_context_set_poll_func) instead of poll().  Where
 * it can, one io_uring_enter() then
 *   - sends the replies the last batch left (a copy, MSG_DONTWAIT: it
 *     completes inside the call, whole, short or refused),
 *   - receives the client's next requests on the main socket, with room
 *     for fds,
 *   - polls every other fd of the loop (eventfds of workers and other
 *     threads' wake-ups, the listening socket, the twin channel, a
 *     plugin's) with the loop's own timeout,
 * and waits for the first of them.  The poll path makes three system
 * calls for the same (sendmsg, poll, recvmsg); on one CPU that was worth
 * 1.3x an echo server's msgs/s (bench_echo --uring).
 *
 * When the function returns, nothing that points into our memory is in
 * the kernel's hands: a receive that did not complete is cancelled and
 * reaped.  The polls of the other fds hold no memory of ours and stay
 * armed from turn to turn while none of them fires: arming them costs
 * more than the receive.  A poll holds the file it watches, not the fd
 * number, so a closed fd reused by a new file would go unwatched; but
 * GLib wakes its context (its wake-up eventfd, one of the polls) whenever
 * a source adds, changes or removes an fd.  So once any poll has fired,
 * or the loop's fds differ, the next turn cancels them all and arms them
 * afresh.
 *
 * Rings and the sandbox.  The filter allows io_uring_enter, and
 * io_uring_register only to enable a ring, not io_uring_setup, so rings
 * are made before it is loaded: each device's at its start on the main
 * thread, and a reserve for devices started later (conn_uring_seal).  Each
 * ring is made disabled and restricted to the four operations below
 * without sqe flags: it reaches no further than the sendmsg, recvmsg and
 * poll the filter allows anyway.  Without a ring (io_uring disabled or
 * absent, the reserve used up, VFIOUSERD_URING not yes) a device takes the
 * poll path, and the log says so once.
 *
 * Rings are IORING_SETUP_DEFER_TASKRUN (Linux 6.1) where the kernel has it:
 * a completion's work waits for the one thread that waits on the ring,
 * which runs it inside its own io_uring_enter.  Without it the client's
 * send queued the work on our thread as a signal-like notification and
 * kicked it; the waking side paid for that.  Measured with
 * bench_transport --vs-env (one daemon each way, alternating, quiet):
 * without it the turn made 0.95-0.98x the msgs/s on one CPU shared with
 * the client and 0.90-1.00x with client and daemon on two, spending 1-19%
 * more CPU per message (against the poll path: env_mode's comment).  Such
 * a ring takes its submitter from the thread that enables it, so the
 * device thread enables its own (conn_uring_attach) and it serves no
 * other: a stopped device's ring is closed, not given back to the reserve.
 */
#include "config.h"

#include "conn.h"
#include "conn_uring.h"
#include "device.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_LIBURING
#include <liburing.h>

/* A turn submits a send, a receive and a poll per other fd. */
#define RING_ENTRIES 64
#define POLLS_MAX 48
/* A send that the socket took only in part wakes nobody (the client
 * waits for the rest before it sends again): a turn that sends waits at
 * most this long, then the poll path finishes the send.  Only turns that
 * carry replies are bounded, so an idle client costs one such wake-up. */
#define SEND_TURN_WAIT_MS 50

enum { TAG_SEND = 1, TAG_RECV, TAG_CANCEL, TAG_POLL };

/* Linux 6.15's, not in Debian 12's headers. */
#define FEAT_NO_IOWAIT (1U << 17)
#define ENTER_NO_IOWAIT (1U << 7)

struct conn_uring {
    struct io_uring ring;
    unsigned gen;      /* of the armed polls (tag bits 8..31) */
    unsigned pending;  /* polls still in the kernel, of any generation */
    bool fired;        /* one of this generation's polls completed */
    guint nslots;      /* the loop's fds when they were armed: */
    struct {
        int fd;
        gushort events;
    } slot[POLLS_MAX];
    bool broken;       /* an enter failed: the poll path from now on */
    bool no_iowait;    /* the kernel can wait without counting iowait */
    bool enabled;
};

static GMutex reserve_lock;
static GPtrArray *reserve; /* struct conn_uring * */
static bool sealed;
static bool unavailable_said;
static bool counts_iowait; /* a ring said so: auto takes the poll path */
static unsigned in_use; /* rings given to devices (main thread) */

static uint64_t tag(unsigned what, unsigned gen, unsigned idx)
{
    return (uint64_t)what | (uint64_t)(gen & 0xffffff) << 8 | (uint64_t)idx << 32;
}

/* DEFER_TASKRUN: enabled by the thread that uses it, and bound to it. */
static bool deferred(const struct conn_uring *u)
{
    return (u->ring.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
}

static void ring_free(struct conn_uring *u)
{
    if (u != NULL) {
        io_uring_queue_exit(&u->ring);
        g_free(u);
    }
}

/* Debian 12's liburing 2.3 declares io_uring_register_restrictions and
 * io_uring_enable_rings but does not export them. */
static int ring_register(struct conn_uring *u, unsigned op, const void *arg, unsigned n)
{
    long r = syscall(__NR_io_uring_register, u->ring.ring_fd, op, arg, n);

    return r < 0 ? -errno : 0;
}

/* Submit what is queued and wait for wait_nr completions, for ts at most
 * (NULL: no limit).  Returns what was submitted, or -errno (-ETIME: the
 * time ran out).  liburing's own wait can say "no iowait" only from 2.10
 * on; this is its flush and enter, with that flag where the kernel has it.
 * Why: since Linux 6.5 a thread waiting in io_uring_enter with requests in
 * flight counts as waiting for I/O.  A device with an idle client showed
 * as a CPU at 100% iowait in /proc/stat, and iowait steers the CPU's idle
 * states and frequency towards speed (which also flattered the turn in
 * bench_transport: the echo server measured beside its idle threads ran
 * faster). */
static int ring_enter(struct conn_uring *u, unsigned wait_nr,
                      struct __kernel_timespec *ts)
{
    struct io_uring_sq *sq = &u->ring.sq;
    struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)ts };
    unsigned tail = sq->sqe_tail, flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    long r;

    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    if (u->no_iowait) {
        flags |= ENTER_NO_IOWAIT;
    }
    r = syscall(__NR_io_uring_enter, u->ring.ring_fd,
                tail - io_uring_smp_load_acquire(sq->khead), wait_nr, flags, &arg,
                sizeof(arg));
    return r < 0 ? -errno : (int)r;
}

/* Enable a restricted ring, then check that it cancels the way the turn
 * does.  -errno on failure. */
static int ring_enable(struct conn_uring *u)
{
    struct io_uring_cqe *cqe;
    int r = ring_register(u, IORING_REGISTER_ENABLE_RINGS, NULL, 0);

    if (r == 0) {
        /* The turn cancels with IORING_ASYNC_CANCEL_ANY (5.19): with
         * nothing in flight it says 0 or -ENOENT, an older kernel
         * -EINVAL. */
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        struct __kernel_timespec ts = { .tv_sec = 1 };

        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        r = ring_enter(u, 1, &ts);
        if (r >= 0) {
            r = io_uring_peek_cqe(&u->ring, &cqe);
        }
        if (r == 0) {
            r = cqe->res >= 0 || cqe->res == -ENOENT ? 0 : -EOPNOTSUPP;
            io_uring_cqe_seen(&u->ring, cqe);
        }
    }
    u->enabled = r == 0;
    return r;
}

/* Made disabled and restricted; enabled here, or for DEFER_TASKRUN by the
 * thread that will use it (conn_uring_attach).  -errno on failure. */
static int ring_new(struct conn_uring **out)
{
    static const uint8_t ops[] = {
        IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_POLL_ADD,
        IORING_OP_ASYNC_CANCEL,
    };
    struct io_uring_restriction res[G_N_ELEMENTS(ops)];
    struct io_uring_params p = {
        .flags = IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
                 IORING_SETUP_DEFER_TASKRUN,
    };
    struct conn_uring *u = g_new0(struct conn_uring, 1);
    int r;

    r = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
    if (r == -EINVAL) {
        /* Before Linux 6.1. */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_R_DISABLED;
        r = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
    }
    if (r < 0) {
        g_free(u);
        return r;
    }
    /* The wait's timeout goes with the enter (no timeout sqe to allow). */
    if (!(p.features & IORING_FEAT_EXT_ARG)) {
        ring_free(u);
        return -EOPNOTSUPP;
    }
    u->no_iowait = (p.features & FEAT_NO_IOWAIT) != 0;
    memset(res, 0, sizeof(res));
    for (unsigned i = 0; i < G_N_ELEMENTS(ops); i++) {
        res[i].opcode = IORING_RESTRICTION_SQE_OP;
        res[i].sqe_op = ops[i];
    }
    r = ring_register(u, IORING_REGISTER_RESTRICTIONS, res, G_N_ELEMENTS(res));
    if (r == 0 && !deferred(u)) {
        r = ring_enable(u);
    }
    if (r < 0) {
        ring_free(u);
        return r;
    }
    *out = u;
    return 0;
}

/* VFIOUSERD_URING: no, yes, or auto (unset, or any other value).  auto
 * takes the merged turn where its wait can be kept out of iowait (Linux
 * 6.15 and later, ring_enter): kernels 6.5 to 6.14 count it and cannot be
 * told not to, and some 6.1 stable kernels have that too.  yes takes it
 * anyway.
 *
 * Figures behind the default (bench_transport --vs-env VFIOUSERD_URING=no:
 * the turn's device beside a poll-path device of a second daemon,
 * alternating in one run, quiet, with DEFER_TASKRUN rings): on one CPU
 * shared with the client the turn is 1.08-1.20x an echo server's msgs/s
 * and the poll path 0.84-0.89x the turn's; with the client on another CPU
 * the poll path made 0.89-1.07x the turn's msgs/s (median 0.97, 6 runs x
 * 4 cases), spending from 2% less to 25% more CPU per message (median 11%
 * more).  In the lab guest (bench-nvme-guest.sh, shadow doorbells, each
 * way in its own boot) the daemon spent 27.0 us per I/O with it against
 * 28.6 without, its ratios to QEMU's NVMe alike.  (Without DEFER_TASKRUN
 * the turn lost there by up to 1.44x in 3 runs of 7, which kept it
 * opt-in for a while.) */
enum mode { MODE_NO, MODE_AUTO, MODE_YES };

static enum mode env_mode(void)
{
    const char *e = getenv("VFIOUSERD_URING");

    if (e != NULL && strcmp(e, "no") == 0) {
        return MODE_NO;
    }
    return e != NULL && strcmp(e, "yes") == 0 ? MODE_YES : MODE_AUTO;
}

static bool wanted(void)
{
    return env_mode() != MODE_NO;
}

/* May a device wait on u? */
static bool usable(const struct conn_uring *u)
{
    return u->no_iowait || env_mode() == MODE_YES;
}

/* "sealed": set by the daemon for the isolated device processes it starts
 * (daemon/isolate.c).  Those started after its sandbox inherit its
 * filter, where io_uring_setup is a violation from their first
 * instruction. */
static bool inherited_filter(void)
{
    const char *e = getenv("VFIOUSERD_URING");

    return e != NULL && strcmp(e, "sealed") == 0;
}

static void say_unavailable(const char *dev_name, int r)
{
    g_mutex_lock(&reserve_lock);
    if (!unavailable_said) {
        unavailable_said = true;
        log_notice(dev_name, "io_uring unavailable (%s): client messages take "
                   "the poll path", g_strerror(-r));
    }
    g_mutex_unlock(&reserve_lock);
}

/* Once: auto found a kernel that would count the wait as iowait; yes
 * takes the turn on it all the same. */
static void say_iowait(const char *dev_name)
{
    g_mutex_lock(&reserve_lock);
    if (!unavailable_said) {
        unavailable_said = true;
        log_notice(dev_name, env_mode() == MODE_YES
                   ? "io_uring: this kernel counts the wait for a client's messages "
                     "as iowait (before Linux 6.15)"
                   : "io_uring waits count as iowait on this kernel (before Linux "
                     "6.15): client messages take the poll path (VFIOUSERD_URING=yes "
                     "takes io_uring all the same)");
    }
    g_mutex_unlock(&reserve_lock);
}

/* Back to the reserve. */
static void reserve_add(struct conn_uring *u)
{
    g_mutex_lock(&reserve_lock);
    if (reserve == NULL) {
        reserve = g_ptr_array_new();
    }
    g_ptr_array_add(reserve, u);
    g_mutex_unlock(&reserve_lock);
}

struct conn_uring *conn_uring_get(const char *dev_name)
{
    struct conn_uring *u = NULL;
    bool was_sealed;
    int r;

    if (!wanted()) {
        return NULL;
    }
    if (counts_iowait && env_mode() == MODE_AUTO) {
        say_iowait(dev_name);
        return NULL;
    }
    g_mutex_lock(&reserve_lock);
    was_sealed = sealed || inherited_filter();
    if (reserve != NULL && reserve->len > 0) {
        u = g_ptr_array_steal_index_fast(reserve, reserve->len - 1);
    }
    g_mutex_unlock(&reserve_lock);
    if (u != NULL && !usable(u)) {
        counts_iowait = true;
        reserve_add(u);
        say_iowait(dev_name);
        return NULL;
    }
    if (u != NULL) {
        if (!u->no_iowait) {
            say_iowait(dev_name);
        }
        in_use++;
        return u;
    }
    if (was_sealed) {
        /* io_uring_setup would be a sandbox violation now. */
        if (inherited_filter()) {
            say_unavailable(dev_name, -EPERM); /* "Operation not permitted" */
        } else {
            log_notice(dev_name, "no io_uring ring left from before the "
                       "sandbox: this device's messages take the poll path");
        }
        return NULL;
    }
    r = ring_new(&u);
    if (r < 0) {
        say_unavailable(dev_name, r);
        return NULL;
    }
    if (!u->no_iowait) {
        say_iowait(dev_name);
    }
    if (!usable(u)) {
        counts_iowait = true;
        ring_free(u);
        return NULL;
    }
    in_use++;
    return u;
}

void conn_uring_put(struct conn_uring *u)
{
    if (u == NULL) {
        return;
    }
    in_use--;
    if (u->broken || (deferred(u) && u->enabled)) {
        /* A deferred ring serves the thread that enabled it only. */
        ring_free(u);
        return;
    }
    reserve_add(u);
}

void conn_uring_seal(unsigned devices, unsigned spare)
{
    unsigned n = (devices > in_use ? devices - in_use : 0) + spare;

    if (!wanted() || inherited_filter()) {
        return;
    }
    g_mutex_lock(&reserve_lock);
    if (reserve == NULL) {
        reserve = g_ptr_array_new();
    }
    while (reserve->len < n) {
        struct conn_uring *u;
        int r = ring_new(&u);

        if (r < 0) {
            g_mutex_unlock(&reserve_lock);
            say_unavailable(NULL, r);
            g_mutex_lock(&reserve_lock);
            break;
        }
        if (!usable(u)) {
            /* No device of ours would wait on it. */
            counts_iowait = true;
            ring_free(u);
            break;
        }
        g_ptr_array_add(reserve, u);
    }
    sealed = true;
    g_mutex_unlock(&reserve_lock);
}

/* ------------------------------------------------------------------------
 * The turn
 */

/* Reap the CQ: polls of this turn fill revents, older ones only count
 * down.  *send_res / *recv_res are set when theirs come. */
static unsigned reap(struct conn_uring *u, GPollFD *fds, bool *send_done,
                     int *send_res, bool *recv_done, int *recv_res)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;

    io_uring_for_each_cqe(&u->ring, head, cqe) {
        uint64_t t = cqe->user_data;
        unsigned what = t & 0xff, gen = (t >> 8) & 0xffffff, idx = t >> 32;

        seen++;
        switch (what) {
        case TAG_SEND:
            *send_done = true;
            *send_res = cqe->res;
            break;
        case TAG_RECV:
            *recv_done = true;
            *recv_res = cqe->res;
            break;
        case TAG_POLL:
            if (u->pending > 0) {
                u->pending--;
            }
            if (gen == (u->gen & 0xffffff)) {
                u->fired = true;
            }
            if (fds != NULL && gen == (u->gen & 0xffffff)) {
                if (cqe->res >= 0) {
                    fds[idx].revents = (gushort)(cqe->res & (fds[idx].events | G_IO_ERR |
                                                             G_IO_HUP | G_IO_NVAL));
                } else if (cqe->res != -ECANCELED) {
                    fds[idx].revents = cqe->res == -EBADF ? G_IO_NVAL : G_IO_ERR;
                }
            }
            break;
        default: /* cancellations: their targets say what happened */
            break;
        }
    }
    io_uring_cq_advance(&u->ring, seen);
    return seen;
}

/* Cancel what is in flight and wait until it all came back: the turn's
 * receive (recv_only) or every poll as well. */
static void cancel_and_reap(struct conn_uring *u, GPollFD *fds, bool recv_only,
                            bool *recv_done, int *recv_res)
{
    bool send_done = false;
    int send_res = 0;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    /* Without CANCEL_ALL, ANY cancels one request only. */
    if (recv_only) {
        io_uring_prep_cancel64(sqe, tag(TAG_RECV, 0, 0), 0);
    } else {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    }
    io_uring_sqe_set_data64(sqe, tag(TAG_CANCEL, 0, 0));
    for (int tries = 0;; tries++) {
        struct __kernel_timespec ts = { .tv_sec = 1 };
        int r = ring_enter(u, 1, &ts);

        if ((r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) ||
            tries == 10) {
            /* Cannot happen with a ring that worked: do not wait for
             * ever.  The ring is not used again; freeing it cancels what
             * is left. */
            log_warn(NULL, "io_uring: a cancelled request did not complete (%s)",
                     g_strerror(r < 0 ? -r : ETIME));
            u->broken = true;
            return;
        }
        reap(u, fds, &send_done, &send_res, recv_done, recv_res);
        if ((recv_only && *recv_done) || (!recv_only && u->pending == 0 && *recv_done)) {
            return;
        }
    }
}

static void disarm(struct conn_uring *u)
{
    bool recv_done = true;
    int recv_res = 0;

    reap(u, NULL, &(bool){ false }, &(int){ 0 }, &recv_done, &recv_res);
    if (u->pending > 0 && !u->broken) {
        cancel_and_reap(u, NULL, false, &recv_done, &recv_res);
    }
    u->nslots = 0; /* re-armed by the next turn */
}

static gint count_ready(const GPollFD *fds, guint nfds)
{
    gint n = 0;

    for (guint i = 0; i < nfds; i++) {
        n += fds[i].revents != 0;
    }
    return n;
}

/* The poll path, for a turn that cannot merge: the batch's replies go
 * the poll way first. */
static gint plain(struct conn *c, GPollFD *fds, guint nfds, gint timeout)
{
    if (c != NULL && conn_uring_flush(c)) {
        /* Bytes wait: be woken when the socket takes them (the source
         * asks for that itself from its next prepare). */
        int cfd = conn_uring_fd(c);

        for (guint i = 0; i < nfds; i++) {
            if (fds[i].fd == cfd) {
                fds[i].events |= G_IO_OUT;
            }
        }
    }
    return g_poll(fds, nfds, timeout);
}

static gint conn_uring_poll(GPollFD *fds, guint nfds, gint timeout)
{
    vfud_dev *dev = device_current();
    struct conn_uring *u = dev != NULL ? dev->uring : NULL;
    struct conn *c = dev != NULL ? dev->conn : NULL;
    struct conn_uring_io io;
    struct msghdr smh;
    struct iovec siov;
    struct __kernel_timespec ts, *tsp = NULL;
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    bool send_done = false, recv_done = false, rearm;
    int send_res = 0, recv_res = 0, ci = -1, cfd, r;
    unsigned wait_nr = 1, armed = 0;
    gint ms = timeout;

    if (u == NULL || u->broken) {
        return plain(c, fds, nfds, timeout);
    }
    if (c == NULL || !conn_uring_defers(c)) {
        /* No client to merge with: the armed polls go (they keep the
         * files they watch open). */
        disarm(u);
        return plain(c, fds, nfds, timeout);
    }
    if (timeout == 0 || nfds > POLLS_MAX) {
        return plain(c, fds, nfds, timeout);
    }
    cfd = conn_uring_fd(c);
    for (guint i = 0; i < nfds; i++) {
        if (fds[i].fd == cfd) {
            ci = (int)i;
        }
    }
    if (ci < 0 || !(fds[ci].events & G_IO_IN) || (fds[ci].events & G_IO_OUT) ||
        !conn_uring_begin(c, &io)) {
        return plain(c, fds, nfds, timeout);
    }
    /* Stale completions first (shared memory, no system call), so that
     * the count below is exact. */
    reap(u, NULL, &send_done, &send_res, &recv_done, &recv_res);
    rearm = u->fired || u->nslots != nfds;
    for (guint i = 0; i < nfds && !rearm; i++) {
        rearm = u->slot[i].fd != fds[i].fd ||
                ((int)i != ci && u->slot[i].events != fds[i].events);
    }
    if (rearm && u->pending > 0) {
        /* A system call of its own, but only after a poll fired: while
         * messages flow, the polls stay armed.  (In the turn's submission
         * the wait would have to count the cancelled polls' completions;
         * one too many and a wake-up from another thread would not end
         * the wait.) */
        disarm(u);
    }
    if (io.send != NULL) {
        /* MSG_DONTWAIT: done inside the enter, whole or in part (no
         * MSG_WAITALL: a partial send's count must not be lost). */
        siov = (struct iovec){ (void *)io.send, io.send_len };
        smh = (struct msghdr){ .msg_iov = &siov, .msg_iovlen = 1 };
        sqe = io_uring_get_sqe(&u->ring);
        io_uring_prep_sendmsg(sqe, cfd, &smh, MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, tag(TAG_SEND, 0, 0));
        wait_nr++;
        if (ms < 0 || ms > SEND_TURN_WAIT_MS) {
            ms = SEND_TURN_WAIT_MS;
        }
    }
    sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_recvmsg(sqe, cfd, &io.rmh, MSG_CMSG_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(TAG_RECV, 0, 0));
    for (guint i = 0; i < nfds; i++) {
        fds[i].revents = 0;
    }
    if (rearm) {
        u->gen++;
        u->fired = false;
        u->nslots = nfds;
        for (guint i = 0; i < nfds; i++) {
            u->slot[i].fd = fds[i].fd;
            u->slot[i].events = fds[i].events;
            if ((int)i == ci) {
                continue;
            }
            sqe = io_uring_get_sqe(&u->ring);
            io_uring_prep_poll_add(sqe, fds[i].fd, fds[i].events);
            io_uring_sqe_set_data64(sqe, tag(TAG_POLL, u->gen, i));
            armed++;
        }
    }
    if (ms >= 0) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long long)(ms % 1000) * 1000000;
        tsp = &ts;
    }
    r = ring_enter(u, wait_nr, tsp);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
        /* Not submitted: the kernel never saw the sqes, so none of our
         * memory is in its hands.  This ring is done with. */
        dev_warn(dev, "io_uring_enter: %s; client messages take the poll path",
                 g_strerror(-r));
        u->broken = true;
        conn_uring_sent(c, io.send != NULL ? -EAGAIN : 0);
        return plain(c, fds, nfds, 0);
    }
    u->pending += armed;
    reap(u, fds, &send_done, &send_res, &recv_done, &recv_res);
    while (io.send != NULL && !send_done && !u->broken) {
        /* A MSG_DONTWAIT send completes in the submission; be sure. */
        io_uring_wait_cqe(&u->ring, &cqe);
        reap(u, fds, &send_done, &send_res, &recv_done, &recv_res);
    }
    if (!recv_done) {
        cancel_and_reap(u, fds, true, &recv_done, &recv_res);
    }
    if (io.send != NULL) {
        conn_uring_sent(c, send_res);
    }
    if (recv_done) {
        conn_uring_received(c, &io, recv_res);
        if (recv_res >= 0 || (recv_res != -ECANCELED && recv_res != -EINTR &&
                              recv_res != -EAGAIN)) {
            fds[ci].revents = G_IO_IN;
        }
    }
    return count_ready(fds, nfds);
}

void conn_uring_attach(vfud_dev *dev)
{
    struct conn_uring *u = dev->uring;

    if (u == NULL) {
        return;
    }
    if (!u->enabled && !u->broken) {
        int r = ring_enable(u);

        if (r < 0) {
            dev_warn(dev, "io_uring: enabling the ring: %s; client messages take "
                     "the poll path", g_strerror(-r));
            u->broken = true;
            return;
        }
    }
    g_main_context_set_poll_func(dev->ctx, conn_uring_poll);
}

void conn_uring_detach(vfud_dev *dev)
{
    struct conn_uring *u = dev->uring;

    if (u == NULL) {
        return;
    }
    g_main_context_set_poll_func(dev->ctx, NULL);
    if (!u->broken) {
        disarm(u);
    }
}

#else /* !HAVE_LIBURING */

struct conn_uring *conn_uring_get(const char *dev_name)
{
    (void)dev_name;
    return NULL;
}

void conn_uring_put(struct conn_uring *u)
{
    (void)u;
}

void conn_uring_seal(unsigned devices, unsigned spare)
{
    (void)devices;
    (void)spare;
}

void conn_uring_attach(vfud_dev *dev)
{
    (void)dev;
}

void conn_uring_detach(vfud_dev *dev)
{
    (void)dev;
}

#endif
