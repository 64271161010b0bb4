/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration: state machine, data session, DEVICE_FEATURE.
 *
 * States and arcs are the kernel's (<linux/vfio.h>, vfio_mig_get_next_state):
 *
 *   STOP <-> RESUMING        STOP <-> STOP_COPY
 *   RUNNING <-> RUNNING_P2P, RUNNING_P2P <-> STOP   (RUNNING <-> STOP only
 *                                                    without P2P)
 *   RUNNING <-> PRE_COPY, PRE_COPY <-> PRE_COPY_P2P, PRE_COPY_P2P ->
 *   RUNNING_P2P, RUNNING_P2P -> PRE_COPY_P2P, PRE_COPY_P2P -> STOP_COPY
 *   (PRE_COPY -> STOP_COPY only without P2P)
 *
 * A SET to any other state walks the kernel's shortest path, whose inner
 * states never start or end a saving session half-way; STOP_COPY ->
 * PRE_COPY(_P2P) and ERROR as a target are refused (EINVAL, nothing
 * changes).  The whole walk finishes before the reply.  If an arc fails,
 * the device stays where the walk got to (GET tells), except that a device
 * that cannot be resumed is in ERROR, which only DEVICE_RESET leaves.
 *
 * What the arcs do:
 *   running -> STOP / STOP_COPY  quiesce(true), drain vfud_submit() jobs,
 *       then hold interrupts (recorded as pending) and refuse plugin DMA
 *   STOP -> running              the reverse, quiesce(false) last
 *   -> STOP_COPY                 the whole stream is built now (mig_stream)
 *   RESUMING -> STOP             the stream is checked and applied; a bad
 *       one fails the SET with EINVAL, the device keeps its state and stays
 *       in RESUMING with the data dropped (write a good stream, or leave
 *       with no data at all: leaving RESUMING without data changes nothing)
 *   running -> PRE_COPY(_P2P)    a session with no pre-copy data: our
 *       devices have nothing worth sending early (config space is 4 KiB)
 * The P2P states behave as running: no device of ours does peer-to-peer
 * DMA, but the arcs are there for clients that expect them.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "dma_log.h"
#include "mig_stream.h"
#include "migration.h"
#include "worker.h"

#include <errno.h>
#include <string.h>

#define S_ERROR     VFIO_USER_DEVICE_STATE_ERROR
#define S_STOP      VFIO_USER_DEVICE_STATE_STOP
#define S_RUNNING   VFIO_USER_DEVICE_STATE_RUNNING
#define S_STOP_COPY VFIO_USER_DEVICE_STATE_STOP_COPY
#define S_RESUMING  VFIO_USER_DEVICE_STATE_RESUMING
#define S_RUN_P2P   VFIO_USER_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY  VFIO_USER_DEVICE_STATE_PRE_COPY
#define S_PRE_P2P   VFIO_USER_DEVICE_STATE_PRE_COPY_P2P
#define NR_STATES   VFIO_USER_DEVICE_NR_STATES

#define F_STOP_COPY VFIO_USER_MIGRATION_STOP_COPY
#define F_P2P       VFIO_USER_MIGRATION_P2P
#define F_PRE_COPY  VFIO_USER_MIGRATION_PRE_COPY

struct migration {
    unsigned state;
    uint64_t flags;       /* VFIO_USER_MIGRATION_*; 0: cannot migrate */
    bool quiesced;        /* the plugin was told to stop */
    gint64 stopped_at;    /* when it stopped, for the log */
    /* Saving session (PRE_COPY*, STOP_COPY): the stream and how much of it
     * the client read.  NULL in pre-copy: there is no pre-copy data. */
    GByteArray *out;
    size_t out_pos;
    /* RESUMING: what the client wrote so far, and the length the stream
     * declares once its header is in (0 before). */
    GByteArray *in;
    uint64_t in_total;
    uint64_t last_plugin_len; /* for the size estimate */
};

static const char *const state_names[NR_STATES] = {
    "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
    "PRE_COPY", "PRE_COPY_P2P",
};

/* Flags a state needs to exist. */
static const uint64_t state_needs[NR_STATES] = {
    [S_ERROR] = 0,
    [S_STOP] = F_STOP_COPY,
    [S_RUNNING] = F_STOP_COPY,
    [S_STOP_COPY] = F_STOP_COPY,
    [S_RESUMING] = F_STOP_COPY,
    [S_RUN_P2P] = F_STOP_COPY | F_P2P,
    [S_PRE_COPY] = F_STOP_COPY | F_PRE_COPY,
    [S_PRE_P2P] = F_STOP_COPY | F_P2P | F_PRE_COPY,
};

/* next_step[from][to]: the first state on the way from `from` to `to` as
 * if every state existed; a step to a state the device lacks is followed
 * by that state's own next step.  This is the table of the kernel's
 * vfio_mig_get_next_state(), which defines the paths. */
static const uint8_t next_step[NR_STATES][NR_STATES] = {
    [S_STOP] = {
        [S_STOP] = S_STOP, [S_RUNNING] = S_RUN_P2P, [S_PRE_COPY] = S_RUN_P2P,
        [S_PRE_P2P] = S_RUN_P2P, [S_STOP_COPY] = S_STOP_COPY,
        [S_RESUMING] = S_RESUMING, [S_RUN_P2P] = S_RUN_P2P, [S_ERROR] = S_ERROR,
    },
    [S_RUNNING] = {
        [S_STOP] = S_RUN_P2P, [S_RUNNING] = S_RUNNING, [S_PRE_COPY] = S_PRE_COPY,
        [S_PRE_P2P] = S_RUN_P2P, [S_STOP_COPY] = S_RUN_P2P,
        [S_RESUMING] = S_RUN_P2P, [S_RUN_P2P] = S_RUN_P2P, [S_ERROR] = S_ERROR,
    },
    [S_PRE_COPY] = {
        [S_STOP] = S_RUNNING, [S_RUNNING] = S_RUNNING, [S_PRE_COPY] = S_PRE_COPY,
        [S_PRE_P2P] = S_PRE_P2P, [S_STOP_COPY] = S_PRE_P2P,
        [S_RESUMING] = S_RUNNING, [S_RUN_P2P] = S_RUNNING, [S_ERROR] = S_ERROR,
    },
    [S_PRE_P2P] = {
        [S_STOP] = S_RUN_P2P, [S_RUNNING] = S_RUN_P2P, [S_PRE_COPY] = S_PRE_COPY,
        [S_PRE_P2P] = S_PRE_P2P, [S_STOP_COPY] = S_STOP_COPY,
        [S_RESUMING] = S_RUN_P2P, [S_RUN_P2P] = S_RUN_P2P, [S_ERROR] = S_ERROR,
    },
    [S_STOP_COPY] = {
        [S_STOP] = S_STOP, [S_RUNNING] = S_STOP, [S_PRE_COPY] = S_ERROR,
        [S_PRE_P2P] = S_ERROR, [S_STOP_COPY] = S_STOP_COPY,
        [S_RESUMING] = S_STOP, [S_RUN_P2P] = S_STOP, [S_ERROR] = S_ERROR,
    },
    [S_RESUMING] = {
        [S_STOP] = S_STOP, [S_RUNNING] = S_STOP, [S_PRE_COPY] = S_STOP,
        [S_PRE_P2P] = S_STOP, [S_STOP_COPY] = S_STOP,
        [S_RESUMING] = S_RESUMING, [S_RUN_P2P] = S_STOP, [S_ERROR] = S_ERROR,
    },
    [S_RUN_P2P] = {
        [S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING, [S_PRE_COPY] = S_RUNNING,
        [S_PRE_P2P] = S_PRE_P2P, [S_STOP_COPY] = S_STOP,
        [S_RESUMING] = S_STOP, [S_RUN_P2P] = S_RUN_P2P, [S_ERROR] = S_ERROR,
    },
    [S_ERROR] = {
        [S_STOP] = S_ERROR, [S_RUNNING] = S_ERROR, [S_PRE_COPY] = S_ERROR,
        [S_PRE_P2P] = S_ERROR, [S_STOP_COPY] = S_ERROR,
        [S_RESUMING] = S_ERROR, [S_RUN_P2P] = S_ERROR, [S_ERROR] = S_ERROR,
    },
};

const char *migration_state_name(unsigned state)
{
    return state < NR_STATES ? state_names[state] : "(invalid)";
}

static bool is_running(unsigned s)
{
    return s == S_RUNNING || s == S_RUN_P2P || s == S_PRE_COPY || s == S_PRE_P2P;
}

static bool is_saving(unsigned s)
{
    return s == S_PRE_COPY || s == S_PRE_P2P || s == S_STOP_COPY;
}

static bool state_exists(const struct migration *mig, unsigned s)
{
    return s < NR_STATES && s != S_ERROR &&
           (mig->flags & state_needs[s]) == state_needs[s];
}

/* The next state on the way from cur to target: 0 or -EINVAL. */
static int next_state(const struct migration *mig, unsigned cur, unsigned target,
                      unsigned *next)
{
    unsigned n;

    if (!state_exists(mig, target) || cur >= NR_STATES) {
        return -EINVAL;
    }
    n = next_step[cur][target];
    while (n != S_ERROR && !state_exists(mig, n)) {
        n = next_step[n][target];
    }
    *next = n;
    return n == S_ERROR ? -EINVAL : 0;
}

/* Can the device go from `from` to `target`?  Checked whole before any
 * arc runs, so a refused request changes nothing. */
static bool path_exists(const struct migration *mig, unsigned from, unsigned target)
{
    unsigned s = from, n;

    if (from == S_ERROR || !state_exists(mig, target)) {
        return false;
    }
    for (unsigned steps = 0; s != target; steps++) {
        if (steps >= NR_STATES || next_state(mig, s, target, &n) < 0) {
            return false;
        }
        s = n;
    }
    return true;
}

void migration_init(vfud_dev *dev)
{
    struct migration *mig = g_new0(struct migration, 1);

    mig->state = S_RUNNING;
    if (dev->ops->save_state != NULL && dev->ops->load_state != NULL) {
        if (dev->ops->state_version == 0) {
            dev_warn(dev, "plugin '%s' has save_state/load_state but state_version "
                     "0: migration is off", dev->ops->name);
        } else {
            mig->flags = F_STOP_COPY | F_P2P | F_PRE_COPY;
        }
    }
    dev->mig = mig;
}

static void session_end(struct migration *mig)
{
    if (mig->out != NULL) {
        g_byte_array_unref(mig->out);
        mig->out = NULL;
    }
    mig->out_pos = 0;
}

static void resume_data_drop(struct migration *mig)
{
    if (mig->in != NULL) {
        g_byte_array_unref(mig->in);
        mig->in = NULL;
    }
    mig->in_total = 0;
}

void migration_free(vfud_dev *dev)
{
    if (dev->mig != NULL) {
        session_end(dev->mig);
        resume_data_drop(dev->mig);
        g_free(dev->mig);
        dev->mig = NULL;
    }
}

bool migration_supported(const vfud_dev *dev)
{
    return dev->mig != NULL && dev->mig->flags != 0;
}

unsigned migration_state(const vfud_dev *dev)
{
    return dev->mig->state;
}

static double ms_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

/* ------------------------------------------------------------------------
 * Arcs
 */
static int mig_device_stop(vfud_dev *dev, struct migration *mig)
{
    int r;

    if (dev->ops->quiesce != NULL) {
        r = dev->ops->quiesce(dev, true);
        if (r > 0) {
            r = 0;
        }
        if (r < 0) {
            g_autofree char *why = device_take_error();

            dev_err(dev, "migration: the device cannot stop: %s",
                    why != NULL ? why : g_strerror(-r));
            return r;
        }
    }
    mig->quiesced = true;
    mig->stopped_at = g_get_monotonic_time();
    /* Jobs already submitted finish (they may wait for DMA replies only
     * this thread reads); only then is the device really still. */
    if (dev->worker != NULL) {
        worker_drain(dev->worker, dev->conn);
    }
    dma_set_stopped(dev, true);
    irq_hold(dev, true);
    return 0;
}

/* On failure the device is in an unknown state: the caller makes it
 * ERROR, and interrupts and DMA stay held. */
static int mig_device_resume(vfud_dev *dev, struct migration *mig)
{
    int r = 0;

    dma_set_stopped(dev, false);
    irq_hold(dev, false);
    if (mig->quiesced && dev->ops->quiesce != NULL) {
        r = dev->ops->quiesce(dev, false);
        if (r > 0) {
            r = 0;
        }
    }
    if (r < 0) {
        g_autofree char *why = device_take_error();

        dma_set_stopped(dev, true);
        irq_hold(dev, true);
        dev_err(dev, "migration: the device cannot run again: %s; it is in ERROR "
                "until DEVICE_RESET", why != NULL ? why : g_strerror(-r));
        return r;
    }
    if (mig->quiesced) {
        dev_info(dev, "migration: device running again after %.3f ms stopped",
                 ms_since(mig->stopped_at));
    }
    mig->quiesced = false;
    return 0;
}

static int save(vfud_dev *dev, struct migration *mig)
{
    gint64 t0 = g_get_monotonic_time();
    uint64_t plen = 0;
    int r;

    session_end(mig);
    r = mig_stream_save(dev, &mig->out, &plen);
    if (r < 0) {
        return r;
    }
    mig->last_plugin_len = plen;
    dev_info(dev, "migration: saved %u bytes (plugin state %llu bytes, version %u) "
             "in %.3f ms", mig->out->len, (unsigned long long)plen,
             dev->ops->state_version, ms_since(t0));
    return 0;
}

static int load(vfud_dev *dev, struct migration *mig)
{
    gint64 t0 = g_get_monotonic_time();
    int r;

    if (mig->in == NULL || mig->in->len == 0) {
        dev_info(dev, "migration: RESUMING left without data: the device keeps "
                 "its state");
        resume_data_drop(mig);
        return 0;
    }
    r = mig_stream_load(dev, mig->in->data, mig->in->len);
    if (r < 0) {
        /* Stay in RESUMING, ready for another stream. */
        g_byte_array_set_size(mig->in, 0);
        mig->in_total = 0;
        return r;
    }
    dev_info(dev, "migration: loaded %u bytes in %.3f ms", mig->in->len, ms_since(t0));
    resume_data_drop(mig);
    return 0;
}

/* One arc of the machine (from mig->state to `to`, a legal step). */
static int arc(vfud_dev *dev, struct migration *mig, unsigned to)
{
    unsigned from = mig->state;
    int r = 0;

    dev_debug(dev, "migration: arc %s -> %s", state_names[from], state_names[to]);
    if (is_running(from) && !is_running(to)) {
        /* RUNNING(_P2P) -> STOP, PRE_COPY(_P2P) -> STOP_COPY */
        r = mig_device_stop(dev, mig);
        if (r < 0) {
            return r;
        }
        if (to == S_STOP_COPY) {
            r = save(dev, mig);
            if (r < 0) {
                if (mig_device_resume(dev, mig) < 0) {
                    mig->state = S_ERROR;
                }
                return r;
            }
        } else {
            session_end(mig);
        }
    } else if (!is_running(from) && is_running(to)) {
        /* STOP -> RUNNING(_P2P) */
        r = mig_device_resume(dev, mig);
        if (r < 0) {
            mig->state = S_ERROR;
            return r;
        }
    } else if (from == S_STOP && to == S_STOP_COPY) {
        r = save(dev, mig);
        if (r < 0) {
            return r;
        }
    } else if (from == S_STOP && to == S_RESUMING) {
        resume_data_drop(mig);
        mig->in = g_byte_array_new();
    } else if (from == S_RESUMING && to == S_STOP) {
        r = load(dev, mig);
        if (r < 0) {
            return r;
        }
    } else if (is_saving(from) != is_saving(to)) {
        /* STOP_COPY -> STOP, PRE_COPY(_P2P) -> RUNNING(_P2P) end the
         * session; RUNNING(_P2P) -> PRE_COPY(_P2P) start one, empty. */
        session_end(mig);
    }
    /* RUNNING <-> RUNNING_P2P and PRE_COPY <-> PRE_COPY_P2P: nothing. */
    mig->state = to;
    return 0;
}

static int set_state(vfud_dev *dev, struct migration *mig, uint32_t target)
{
    unsigned from = mig->state, n;
    int r;

    if (!path_exists(mig, from, target)) {
        dev_warn(dev, "migration: %s -> %s is not a legal transition",
                 migration_state_name(from), migration_state_name(target));
        return -EINVAL;
    }
    if (target == from) {
        return 0;
    }
    while (mig->state != target) {
        /* path_exists() walked these steps already; checking again is what
         * lets the compiler (gcc 16) see that n is always set. */
        if (next_state(mig, mig->state, target, &n) < 0) {
            return -EINVAL;
        }
        r = arc(dev, mig, n);
        if (r < 0) {
            dev_warn(dev, "migration: %s -> %s failed at %s -> %s: %s; the device is "
                     "in %s", migration_state_name(from), migration_state_name(target),
                     migration_state_name(mig->state), migration_state_name(n),
                     g_strerror(-r), migration_state_name(mig->state));
            return r;
        }
    }
    dev_info(dev, "migration: %s -> %s", migration_state_name(from),
             migration_state_name(target));
    return 0;
}

int migration_after_reset(vfud_dev *dev)
{
    struct migration *mig = dev->mig;
    unsigned from = mig->state;
    int r;

    if (mig->flags == 0) {
        return 0;
    }
    session_end(mig);
    resume_data_drop(mig);
    if (mig->quiesced || !is_running(from)) {
        r = mig_device_resume(dev, mig);
        if (r < 0) {
            mig->state = S_ERROR;
            return r;
        }
    }
    mig->state = S_RUNNING;
    if (from != S_RUNNING) {
        dev_info(dev, "migration: %s -> RUNNING (device reset)",
                 migration_state_name(from));
    }
    return 0;
}

void migration_client_gone(vfud_dev *dev)
{
    struct migration *mig = dev->mig;
    unsigned from = mig->state;

    dma_log_stop(dev->dma.log);
    switch (from) {
    case S_STOP_COPY:
        mig->state = S_STOP;
        break;
    case S_PRE_COPY:
        mig->state = S_RUNNING;
        break;
    case S_PRE_P2P:
        mig->state = S_RUN_P2P;
        break;
    case S_RESUMING:
        mig->state = S_STOP;
        break;
    default:
        return;
    }
    session_end(mig);
    resume_data_drop(mig);
    dev_info(dev, "migration: client gone in %s: data session dropped, the device "
             "is in %s", migration_state_name(from), migration_state_name(mig->state));
}

/* ------------------------------------------------------------------------
 * DEVICE_FEATURE
 */
/* A GET reply: the request's header with argsz grown, then data. */
static int feature_reply(vfud_dev *dev, struct msg *m,
                         const struct vfio_user_device_feature *req,
                         const void *data, size_t len)
{
    struct vfio_user_device_feature *rep;

    if (req->argsz < sizeof(*rep) + len) {
        dev_warn(dev, "DEVICE_FEATURE %u: argsz %u, the reply needs %zu",
                 req->flags & VFIO_USER_DEVICE_FEATURE_MASK, req->argsz,
                 sizeof(*rep) + len);
        return -EINVAL;
    }
    rep = msg_reply_alloc(m, sizeof(*rep) + len);
    rep->argsz = (uint32_t)(sizeof(*rep) + len);
    rep->flags = req->flags;
    memcpy(rep->data, data, len);
    return 0;
}

static int feat_migration(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len)
{
    struct vfio_user_device_feature_migration f = { .flags = dev->mig->flags };

    (void)data;
    (void)len;
    return feature_reply(dev, m, req, &f, sizeof(f));
}

static int feat_state_get(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len)
{
    struct vfio_user_device_feature_mig_state st = {
        .device_state = dev->mig->state,
        .data_fd = UINT32_MAX, /* -1: data goes by MIG_DATA_* */
    };

    (void)data;
    (void)len;
    return feature_reply(dev, m, req, &st, sizeof(st));
}

static int feat_state_set(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len)
{
    struct vfio_user_device_feature_mig_state st;

    (void)m;
    (void)req;
    if (len < sizeof(st)) {
        dev_warn(dev, "MIG_DEVICE_STATE SET: %zu bytes of data, expected %zu", len,
                 sizeof(st));
        return -EINVAL;
    }
    memcpy(&st, data, sizeof(st));
    if (st.device_state >= NR_STATES) {
        dev_warn(dev, "migration: no state %u", st.device_state);
        return -EINVAL;
    }
    return set_state(dev, dev->mig, st.device_state);
}

static int feat_data_size(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len)
{
    struct migration *mig = dev->mig;
    struct vfio_user_device_feature_mig_data_size ds;

    (void)data;
    (void)len;
    if (mig->state == S_STOP_COPY) {
        ds.stop_copy_length = mig->out != NULL ? mig->out->len - mig->out_pos : 0;
    } else if (mig->state == S_STOP) {
        /* Stopped: the plugin can be asked, and the answer is exact. */
        GByteArray *b = NULL;
        uint64_t plen = 0;
        int r = mig_stream_save(dev, &b, &plen);

        if (r < 0) {
            return r;
        }
        ds.stop_copy_length = b->len;
        mig->last_plugin_len = plen;
        g_byte_array_unref(b);
    } else {
        /* Running: exact for our part, the plugin's last size for its. */
        ds.stop_copy_length = mig_stream_overhead(dev) + mig->last_plugin_len;
    }
    return feature_reply(dev, m, req, &ds, sizeof(ds));
}

static int feat_log_start(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len)
{
    struct vfio_user_device_feature_dma_logging_control ctl;
    g_autofree struct dma_log_range *ranges = NULL;
    const char *why = NULL;
    uint64_t ps;
    int r;

    (void)m;
    (void)req;
    if (len < sizeof(ctl)) {
        dev_warn(dev, "DMA_LOGGING_START: %zu bytes of data, expected at least %zu",
                 len, sizeof(ctl));
        return -EINVAL;
    }
    memcpy(&ctl, data, sizeof(ctl));
    if (ctl.num_ranges > DMA_LOG_MAX_RANGES ||
        len != sizeof(ctl) + (size_t)ctl.num_ranges *
                                 sizeof(struct vfio_user_device_feature_dma_logging_range)) {
        dev_warn(dev, "DMA_LOGGING_START: %u ranges in %zu bytes of data",
                 ctl.num_ranges, len);
        return -EINVAL;
    }
    ranges = g_new(struct dma_log_range, MAX(ctl.num_ranges, 1));
    for (unsigned i = 0; i < ctl.num_ranges; i++) {
        struct vfio_user_device_feature_dma_logging_range wr;

        memcpy(&wr, data + sizeof(ctl) + i * sizeof(wr), sizeof(wr));
        ranges[i].iova = wr.iova;
        ranges[i].length = wr.length;
    }
    ps = ctl.page_size;
    r = dma_log_start(dev->dma.log, &ps, ranges, ctl.num_ranges, &why);
    if (r < 0) {
        dev_warn(dev, "DMA_LOGGING_START (page size %#llx, %u ranges) refused: %s",
                 (unsigned long long)ctl.page_size, ctl.num_ranges, why);
        return r;
    }
    /* The reply tells the page size we track at. */
    ctl.page_size = ps;
    memcpy(data, &ctl, sizeof(ctl));
    dev_info(dev, "DMA logging started: %llu-byte pages, %s",
             (unsigned long long)ps, ctl.num_ranges == 0 ? "every address" : "ranges");
    return 0;
}

static int feat_log_stop(vfud_dev *dev, struct msg *m,
                         const struct vfio_user_device_feature *req,
                         uint8_t *data, size_t len)
{
    (void)m;
    (void)req;
    (void)data;
    (void)len;
    if (dma_log_active(dev->dma.log)) {
        dev_info(dev, "DMA logging stopped");
    }
    dma_log_stop(dev->dma.log);
    return 0;
}

static int feat_log_report(vfud_dev *dev, struct msg *m,
                           const struct vfio_user_device_feature *req,
                           uint8_t *data, size_t len)
{
    struct vfio_user_device_feature_dma_logging_report rep;
    g_autofree uint8_t *buf = NULL;
    const char *why = NULL;
    uint64_t bm;
    int r;

    if (len < sizeof(rep)) {
        dev_warn(dev, "DMA_LOGGING_REPORT: %zu bytes of data, expected %zu", len,
                 sizeof(rep));
        return -EINVAL;
    }
    memcpy(&rep, data, sizeof(rep));
    bm = dma_log_bitmap_size(rep.length, rep.page_size);
    if (bm == 0) {
        dev_warn(dev, "DMA_LOGGING_REPORT: length %#llx, page size %#llx: empty "
                 "range or page size not a power of two",
                 (unsigned long long)rep.length, (unsigned long long)rep.page_size);
        return -EINVAL;
    }
    if (bm > CONN_MAX_XFER) {
        dev_warn(dev, "DMA_LOGGING_REPORT: a bitmap of %llu bytes exceeds %u; ask "
                 "for smaller ranges", (unsigned long long)bm, CONN_MAX_XFER);
        return -E2BIG;
    }
    if (req->argsz < sizeof(*req) + sizeof(rep) + bm) {
        /* Checked before the bits are cleared: none may be lost. */
        dev_warn(dev, "DMA_LOGGING_REPORT: argsz %u, the reply needs %llu",
                 req->argsz, (unsigned long long)(sizeof(*req) + sizeof(rep) + bm));
        return -EINVAL;
    }
    buf = g_malloc0(sizeof(rep) + bm);
    memcpy(buf, &rep, sizeof(rep));
    r = dma_log_report(dev->dma.log, rep.iova, rep.length, rep.page_size,
                       (uint64_t *)(void *)(buf + sizeof(rep)), &why);
    if (r < 0) {
        dev_warn(dev, "DMA_LOGGING_REPORT [%#llx, +%#llx): %s",
                 (unsigned long long)rep.iova, (unsigned long long)rep.length, why);
        return r;
    }
    return feature_reply(dev, m, req, buf, sizeof(rep) + bm);
}

typedef int (*feature_fn)(vfud_dev *dev, struct msg *m,
                          const struct vfio_user_device_feature *req,
                          uint8_t *data, size_t len);

struct feature {
    const char *name;
    feature_fn get; /* NULL: no GET */
    feature_fn set; /* NULL: no SET */
};

static const struct feature features[] = {
    [VFIO_USER_DEVICE_FEATURE_MIGRATION] = { "MIGRATION", feat_migration, NULL },
    [VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE] = { "MIG_DEVICE_STATE",
                                                    feat_state_get, feat_state_set },
    [VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START] = { "DMA_LOGGING_START", NULL,
                                                     feat_log_start },
    [VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_STOP] = { "DMA_LOGGING_STOP", NULL,
                                                    feat_log_stop },
    [VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_REPORT] = { "DMA_LOGGING_REPORT",
                                                      feat_log_report, NULL },
    [VFIO_USER_DEVICE_FEATURE_MIG_DATA_SIZE] = { "MIG_DATA_SIZE", feat_data_size, NULL },
};

int handle_device_feature(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_device_feature req;
    g_autofree uint8_t *data = NULL;
    size_t len = m->len - sizeof(req);
    unsigned index;
    bool get, set, probe;
    const struct feature *f;
    int r;

    memcpy(&req, m->payload, sizeof(req));
    index = req.flags & VFIO_USER_DEVICE_FEATURE_MASK;
    get = req.flags & VFIO_USER_DEVICE_FEATURE_GET;
    set = req.flags & VFIO_USER_DEVICE_FEATURE_SET;
    probe = req.flags & VFIO_USER_DEVICE_FEATURE_PROBE;
    if (!migration_supported(dev)) {
        dev_debug(dev, "DEVICE_FEATURE %u: the device does not migrate", index);
        return -ENOTSUP;
    }
    if (req.flags & ~(VFIO_USER_DEVICE_FEATURE_MASK | VFIO_USER_DEVICE_FEATURE_GET |
                      VFIO_USER_DEVICE_FEATURE_SET | VFIO_USER_DEVICE_FEATURE_PROBE)) {
        dev_warn(dev, "DEVICE_FEATURE: unknown flags %#x", req.flags);
        return -EINVAL;
    }
    if ((get && set && !probe) || (!get && !set && !probe)) {
        dev_warn(dev, "DEVICE_FEATURE %u: flags %#x need one of GET and SET, or "
                 "PROBE", index, req.flags);
        return -EINVAL;
    }
    if (index >= G_N_ELEMENTS(features) || features[index].name == NULL) {
        dev_debug(dev, "DEVICE_FEATURE %u: no such feature", index);
        return -ENOTSUP;
    }
    f = &features[index];
    if ((get && f->get == NULL) || (set && f->set == NULL)) {
        dev_warn(dev, "DEVICE_FEATURE %s: %s not supported", f->name,
                 get ? "GET" : "SET");
        return -EINVAL;
    }
    data = g_memdup2(m->payload + sizeof(req), len);
    if (probe) {
        memcpy(msg_reply_alloc(m, m->len), m->payload, m->len);
        return 0;
    }
    if (get) {
        return f->get(dev, m, &req, data, len);
    }
    r = f->set(dev, m, &req, data, len);
    if (r == 0) {
        /* A SET is answered with its request (the data as it took effect). */
        uint8_t *rep = msg_reply_alloc(m, m->len);

        memcpy(rep, &req, sizeof(req));
        if (len > 0) {
            memcpy(rep + sizeof(req), data, len);
        }
    }
    return r;
}

/* ------------------------------------------------------------------------
 * MIG_DATA_READ / MIG_DATA_WRITE
 */
int handle_mig_data_read(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct migration *mig = dev->mig;
    struct vfio_user_mig_data req, *rep;
    size_t avail, n;

    if (!migration_supported(dev)) {
        dev_warn(dev, "MIG_DATA_READ: the device does not support migration");
        return -ENOTSUP;
    }
    memcpy(&req, m->payload, sizeof(req));
    if (!is_saving(mig->state)) {
        dev_warn(dev, "MIG_DATA_READ in state %s (only PRE_COPY, PRE_COPY_P2P and "
                 "STOP_COPY have data)", migration_state_name(mig->state));
        return -EINVAL;
    }
    if (req.size > CONN_MAX_XFER || req.size > c->client_max_xfer) {
        dev_warn(dev, "MIG_DATA_READ of %u bytes exceeds max_data_xfer_size", req.size);
        return -EINVAL;
    }
    if (req.argsz < sizeof(req) + (uint64_t)req.size) {
        dev_warn(dev, "MIG_DATA_READ: argsz %u too small for %u bytes", req.argsz,
                 req.size);
        return -EINVAL;
    }
    avail = mig->out != NULL ? mig->out->len - mig->out_pos : 0;
    n = MIN((size_t)req.size, avail);
    rep = msg_reply_alloc(m, sizeof(*rep) + n);
    rep->argsz = (uint32_t)(sizeof(*rep) + n);
    rep->size = (uint32_t)n;
    if (n > 0) {
        memcpy(rep->data, mig->out->data + mig->out_pos, n);
        mig->out_pos += n;
    }
    return 0;
}

int handle_mig_data_write(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct migration *mig = dev->mig;
    struct vfio_user_mig_data req;
    const uint8_t *data = m->payload + sizeof(req);
    uint64_t have;

    if (!migration_supported(dev)) {
        dev_warn(dev, "MIG_DATA_WRITE: the device does not support migration");
        return -ENOTSUP;
    }
    memcpy(&req, m->payload, sizeof(req));
    if (mig->state != S_RESUMING) {
        dev_warn(dev, "MIG_DATA_WRITE in state %s (only RESUMING takes data)",
                 migration_state_name(mig->state));
        return -EINVAL;
    }
    if (req.size != m->len - sizeof(req) || req.size > CONN_MAX_XFER) {
        dev_warn(dev, "MIG_DATA_WRITE: size %u with %zu bytes of data", req.size,
                 m->len - sizeof(req));
        return -EINVAL;
    }
    have = mig->in->len;
    if (have + req.size > MIG_MAX_STREAM) {
        dev_warn(dev, "MIG_DATA_WRITE: the stream exceeds %u MiB; refused",
                 MIG_MAX_STREAM >> 20);
        return -EFBIG;
    }
    if (have < MIG_HEADER_SIZE && have + req.size >= MIG_HEADER_SIZE) {
        /* The header is complete with this write: check it now, so a
         * stream that cannot be ours is refused before it is all sent. */
        uint8_t hdr[MIG_HEADER_SIZE];
        const char *why;

        if (have > 0) {
            memcpy(hdr, mig->in->data, (size_t)have);
        }
        memcpy(hdr + have, data, MIG_HEADER_SIZE - (size_t)have);
        if (mig_stream_peek(hdr, sizeof(hdr), &mig->in_total, &why) < 0) {
            dev_warn(dev, "MIG_DATA_WRITE: %s; refused", why);
            mig->in_total = 0;
            return -EINVAL;
        }
    }
    if (mig->in_total != 0 && have + req.size > mig->in_total) {
        dev_warn(dev, "MIG_DATA_WRITE: %llu bytes, more than the %llu the stream "
                 "declares; refused", (unsigned long long)(have + req.size),
                 (unsigned long long)mig->in_total);
        return -EINVAL;
    }
    g_byte_array_append(mig->in, data, req.size);
    return 0;
}
