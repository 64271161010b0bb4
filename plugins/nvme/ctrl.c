/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller: BAR0 registers, enable / disable (controller reset) /
 * shutdown, and the I/O thread that owns all queue state.
 *
 * The device thread (region callbacks) never touches queue state: register
 * writes that change the controller's life (CC.EN, CC.SHN, NSSR) and
 * dma_unmap are handed to the I/O thread with nvme_ctl_call(), which waits
 * for it, so when CC.EN=0 returns no command is in flight and no guest
 * memory is referenced.  Doorbell writes only store the new value in a slot
 * and wake the I/O thread if it sleeps.
 *
 * Migration stops the I/O thread the same way (NVME_CTL_QUIESCE): it
 * stops fetching, drains the back-end, posts what completed and then
 * parks, touching no guest memory until NVME_CTL_RESUME; saving and
 * loading the state are ctl operations too, which the device thread runs
 * itself while the I/O thread is parked, so the state only ever changes
 * hands between the two threads through ctl_lock.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "nvme_int.h"
#include "nvme_mig.h"

#define NVME_CAP_TO_UNITS 10   /* CAP.TO: 5 s, in 500 ms units */
#define NVME_VERSION 0x00010400u
#define POLL_SPIN_NS 200000    /* poll mode: busy-poll this long when idle */
#define POLL_SLEEP_MIN_US 10   /* then sleep from this, doubling */
/* remote_hold: wait this long at most for a completion with EventIdx
 * withheld, and only with this many commands out (fewer: the next
 * completion may be a whole network round trip away) */
#define REMOTE_HOLD_US 1000
#define REMOTE_HOLD_MIN 16
/* shadow hold (hold_us): with at least this many commands outstanding
 * (in flight here, or completed and not yet consumed by the driver), for
 * at most this long after the last progress */
#define SHADOW_HOLD_MIN 2
#define SHADOW_HOLD_MAX_US 1000
/* ...looking first after this long, then after twice as long each time up
 * to hold_us: a fast driver (a host process polling its CQs) submits again
 * within microseconds, and a first look after 50 us cost it a quarter of
 * its IOPS at QD32 */
#define SHADOW_HOLD_FIRST_US 5

/* ---- Registers ---- */

void nvme_ctrl_init_regs(struct nvme_ctrl *c)
{
    c->cap = NVME_CAP_MQES(c->max_q_entries - 1) | NVME_CAP_CQR |
             NVME_CAP_TO(NVME_CAP_TO_UNITS) | NVME_CAP_DSTRD(0) |
             NVME_CAP_NSSRS | NVME_CAP_CSS_NVM | NVME_CAP_MPSMIN(0) |
             NVME_CAP_MPSMAX(0);
    c->cc = 0;
    c->intms = 0;
    c->aqa = 0;
    c->asq = 0;
    c->acq = 0;
    atomic_store(&c->csts, 0);
}

static uint32_t reg_read32(struct nvme_ctrl *c, uint64_t off)
{
    switch (off) {
    case NVME_REG_CAP:
        return (uint32_t)c->cap;
    case NVME_REG_CAP + 4:
        return (uint32_t)(c->cap >> 32);
    case NVME_REG_VS:
        return NVME_VERSION;
    case NVME_REG_INTMS:
    case NVME_REG_INTMC:
        return c->intms;
    case NVME_REG_CC:
        return c->cc;
    case NVME_REG_CSTS:
        return atomic_load(&c->csts);
    case NVME_REG_AQA:
        return c->aqa;
    case NVME_REG_ASQ:
        return (uint32_t)c->asq;
    case NVME_REG_ASQ + 4:
        return (uint32_t)(c->asq >> 32);
    case NVME_REG_ACQ:
        return (uint32_t)c->acq;
    case NVME_REG_ACQ + 4:
        return (uint32_t)(c->acq >> 32);
    default:
        return 0; /* NSSR reads 0; CMB/BP/PMR registers are not there */
    }
}

static void csts_update(struct nvme_ctrl *c, uint32_t clear, uint32_t set)
{
    uint32_t v = atomic_load(&c->csts);

    while (!atomic_compare_exchange_weak(&c->csts, &v, (v & ~clear) | set)) {
    }
}

static bool cc_valid_for_enable(struct nvme_ctrl *c, uint32_t cc)
{
    if (NVME_CC_MPS(cc) != 0 || NVME_CC_CSS(cc) != 0 || NVME_CC_AMS(cc) != 0) {
        return false;
    }
    if ((c->aqa & 0xfff) == 0 || ((c->aqa >> 16) & 0xfff) == 0) {
        return false; /* an admin queue needs two entries at least */
    }
    if ((c->asq | c->acq) & (NVME_PAGE_SIZE - 1)) {
        return false;
    }
    return true;
}

static void cc_write(struct nvme_ctrl *c, uint32_t val)
{
    uint32_t old = c->cc;

    c->cc = val & 0x00fffff1u;
    if (!(old & NVME_CC_EN) && (val & NVME_CC_EN)) {
        csts_update(c, NVME_CSTS_SHST_MASK | NVME_CSTS_CFS, 0);
        if (!cc_valid_for_enable(c, val)) {
            vfud_log(c->dev, LOG_WARNING,
                     "nvme: enable with invalid CC 0x%x / AQA 0x%x", val, c->aqa);
            csts_update(c, 0, NVME_CSTS_CFS);
            return;
        }
        if (nvme_ctl_call(c, NVME_CTL_ENABLE, 0, 0) < 0) {
            csts_update(c, 0, NVME_CSTS_CFS);
            return;
        }
        csts_update(c, 0, NVME_CSTS_RDY);
    } else if ((old & NVME_CC_EN) && (val & NVME_CC_EN)) {
        /* entry sizes may be set after enabling, before queue creation */
        atomic_store(&c->cc_at_enable, c->cc);
    } else if ((old & NVME_CC_EN) && !(val & NVME_CC_EN)) {
        (void)nvme_ctl_call(c, NVME_CTL_DISABLE, 0, 0);
        csts_update(c, NVME_CSTS_RDY | NVME_CSTS_CFS, 0);
    }
    if (NVME_CC_SHN(val) && !NVME_CC_SHN(old)) {
        csts_update(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCUR);
        (void)nvme_ctl_call(c, NVME_CTL_SHUTDOWN, 1, 0);
    } else if (!NVME_CC_SHN(val) && NVME_CC_SHN(old)) {
        (void)nvme_ctl_call(c, NVME_CTL_SHUTDOWN, 0, 0);
        csts_update(c, NVME_CSTS_SHST_MASK, 0);
    }
}

static void reg_write32(struct nvme_ctrl *c, uint64_t off, uint32_t val)
{
    switch (off) {
    case NVME_REG_INTMS:
        c->intms |= val;
        break;
    case NVME_REG_INTMC:
        c->intms &= ~val;
        break;
    case NVME_REG_CC:
        cc_write(c, val);
        break;
    case NVME_REG_CSTS:
        if (val & NVME_CSTS_NSSRO) {
            csts_update(c, NVME_CSTS_NSSRO, 0);
        }
        break;
    case NVME_REG_NSSR:
        if (val == NVME_NSSR_MAGIC) {
            vfud_log(c->dev, LOG_NOTICE, "nvme: NVM subsystem reset");
            (void)nvme_ctl_call(c, NVME_CTL_DISABLE, 0, 0);
            c->cc = 0;
            atomic_store(&c->csts, NVME_CSTS_NSSRO);
        }
        break;
    case NVME_REG_AQA:
        c->aqa = val & 0x0fff0fffu;
        break;
    case NVME_REG_ASQ:
        c->asq = (c->asq & ~0xffffffffull) | val;
        break;
    case NVME_REG_ASQ + 4:
        c->asq = (c->asq & 0xffffffffull) | (uint64_t)val << 32;
        break;
    case NVME_REG_ACQ:
        c->acq = (c->acq & ~0xffffffffull) | val;
        break;
    case NVME_REG_ACQ + 4:
        c->acq = (c->acq & 0xffffffffull) | (uint64_t)val << 32;
        break;
    default:
        break; /* read-only or reserved: ignored */
    }
}

/* Accesses of any size and alignment are split into the dwords they
 * touch (64-bit registers are two dwords, low first). */
void nvme_reg_read(struct nvme_ctrl *c, uint64_t off, void *buf, size_t len)
{
    uint8_t *out = buf;

    while (len) {
        uint64_t base = off & ~3ull;
        unsigned skip = (unsigned)(off - base);
        size_t n = 4 - skip < len ? 4 - skip : len;
        uint32_t v = reg_read32(c, base);

        memcpy(out, (uint8_t *)&v + skip, n);
        out += n;
        off += n;
        len -= n;
    }
}

void nvme_reg_write(struct nvme_ctrl *c, uint64_t off, const void *buf,
                    size_t len)
{
    const uint8_t *in = buf;

    while (len) {
        uint64_t base = off & ~3ull;
        unsigned skip = (unsigned)(off - base);
        size_t n = 4 - skip < len ? 4 - skip : len;
        uint32_t v = 0;

        if (n != 4 && base != NVME_REG_INTMS && base != NVME_REG_INTMC) {
            v = reg_read32(c, base); /* partial write: keep other bytes */
        }
        memcpy((uint8_t *)&v + skip, in, n);
        reg_write32(c, base, v);
        in += n;
        off += n;
        len -= n;
    }
}

/* ---- Controller state (I/O thread) ---- */

/* Any thread (librbd's callbacks): d to the I/O thread, which is woken
 * only if it waits (remote.c). */
void nvme_ctrl_remote_done(struct nvme_ctrl *c, struct nvme_remote_done *d)
{
    if (nvme_remote_push(&c->remote, d)) {
        nvme_ctrl_kick(c);
    }
}

/* Sleep until the ring has completions, the kick eventfd fires or the
 * timeout expires.  Submits what is queued first.  A plain ppoll() on both
 * fds rather than a blocking io_uring_enter(): it is one place to wait for
 * both, and tools like valgrind know it blocks.  kick_fd is written by the
 * device thread, and by a completion handed over from another thread
 * (nvme_ctrl_remote_done) unless sleep_begin() finds it first; a stale
 * kick costs one spare pass. */
static void io_wait(struct nvme_ctrl *c, const struct timespec *timeout)
{
    struct pollfd p[2] = {
        { .fd = c->ring.ring_fd, .events = POLLIN },
        { .fd = c->kick_fd, .events = POLLIN },
    };

    if (c->sqes_queued) {
        c->sqes_queued = 0;
        io_uring_submit(&c->ring);
    }
    if (io_uring_cq_ready(&c->ring)) {
        return;
    }
    if (nvme_remote_sleep_begin(&c->remote) &&
        ppoll(p, 2, timeout, NULL) > 0 && (p[1].revents & POLLIN)) {
        uint64_t v;
        ssize_t r = read(c->kick_fd, &v, sizeof(v));

        (void)r;
    }
    nvme_remote_sleep_end(&c->remote);
}

void nvme_ctrl_fatal(struct nvme_ctrl *c, const char *why)
{
    if (!c->fatal) {
        vfud_log(c->dev, LOG_ERR, "nvme: controller fatal status: %s", why);
    }
    c->fatal = true;
    csts_update(c, 0, NVME_CSTS_CFS);
}

/* Guest memory a queue lives in is unreachable.  That happens for a moment
 * while the client re-maps memory (QEMU unmaps and maps again when the
 * guest reshapes its address space), so it is retried every 10 ms; only if
 * it lasts NVME_MEM_FAULT_MS does the controller report a fatal status. */
void nvme_ctrl_mem_fault(struct nvme_ctrl *c, const char *why)
{
    struct timespec now;
    uint64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    c->mem_fault = true;
    if (!c->mem_fault_since) {
        c->mem_fault_since = ms;
        vfud_log(c->dev, LOG_DEBUG, "nvme: %s, retrying", why);
    } else if (ms - c->mem_fault_since > NVME_MEM_FAULT_MS) {
        nvme_ctrl_fatal(c, why);
    }
}

/* Wait until the back-end has nothing in flight.  Completions are
 * processed as usual (posted, unless the controller is going away). */
void nvme_ctrl_drain(struct nvme_ctrl *c, struct nvme_sq *sq)
{
    (void)sq;
    while (c->backend_inflight) {
        if (nvme_uring_process(c) + nvme_rbd_collect(c) == 0) {
            io_wait(c, NULL);
        }
    }
}

/* files: the namespaces on files too, not only the back-ends whose
 * acknowledged writes may sit in this process (a library's cache, a
 * connection's server). */
static void flush_sync(struct nvme_ctrl *c, bool files)
{
    for (uint32_t id = 1; id <= c->nn; id++) {
        struct nvme_ns *ns = c->ns[id];

        if (files && ns && ns->fd >= 0 && !ns->read_only &&
            ns->backend == NVME_BACKEND_URING && fdatasync(ns->fd) < 0) {
            vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: flush failed: %m",
                     id);
        }
        if (ns && !ns->read_only && ns->backend == NVME_BACKEND_NBD) {
            (void)nvme_nbd_flush_sync(c, ns); /* logs its failure */
        }
        if (ns && !ns->read_only && ns->backend == NVME_BACKEND_RBD) {
            (void)nvme_rbd_flush_sync(c, ns); /* logs its failure */
        }
    }
}

void nvme_flush_all_sync(struct nvme_ctrl *c)
{
    flush_sync(c, true);
}

static void features_default(struct nvme_ctrl *c)
{
    c->feat_arbitration = 0;
    c->feat_err_recovery = 0;
    c->feat_irq_coalesce = 0;
    c->feat_async_event = 0;
    c->feat_write_atomic = 0;
    c->temp_over = NVME_TEMP_OVER_DEFAULT;
    c->temp_under = 0;
    c->wce = c->vwc;
    memset(c->irq_config_cd, 0, sizeof(c->irq_config_cd));
    c->kato = 0; /* the default for NVMe over PCIe: no Keep Alive */
    c->ka_deadline_ns = 0;
    c->hbs_acre = 0;
}

/* Every queue and what it holds (requests, AERs, shadow buffers) goes;
 * back-end work in flight finishes first, its completions dropped. */
void nvme_ctrl_free_queues(struct nvme_ctrl *c)
{
    c->enabled = false; /* completions from now on are not posted */
    if (c->ring_ok) {
        nvme_ctrl_drain(c, NULL);
    }
    for (unsigned qid = 1; qid <= NVME_MAX_QUEUES; qid++) {
        if (c->sqs[qid]) {
            nvme_sq_fini(c, c->sqs[qid]);
            free(c->sqs[qid]);
            c->sqs[qid] = NULL;
        }
    }
    for (unsigned qid = 1; qid <= NVME_MAX_QUEUES; qid++) {
        if (c->cqs[qid]) {
            nvme_cq_fini(c, c->cqs[qid]);
            free(c->cqs[qid]);
            c->cqs[qid] = NULL;
        }
    }
    nvme_sq_fini(c, &c->admin_sq);
    nvme_cq_fini(c, &c->admin_cq);
    c->total_inflight = 0;
    nvme_gmem_release(c, &c->dbbuf_dbs);
    nvme_gmem_release(c, &c->dbbuf_eis);
    c->dbbuf = false;
    c->eventidx_withheld = false;
    c->nr_aer = 0;
    atomic_store(&c->cq_waiting, false);
}

/* Controller reset: abort everything, forget every queue. */
void nvme_ctrl_reset_state(struct nvme_ctrl *c, bool power_on)
{
    bool was_enabled = c->enabled;

    nvme_ctrl_free_queues(c);
    c->nr_events = 0;
    c->masked_event_types = 0;
    c->nr_changed_ns = 0;
    c->fatal = false;
    c->mem_fault = false;
    c->mem_fault_since = 0;
    c->shutting_down = false;
    c->shutdown_done = false;
    features_default(c);
    for (unsigned i = 0; c->db && i < NVME_DB_SLOTS; i++) {
        atomic_store_explicit(&c->db[i], 0, memory_order_relaxed);
    }
    if (c->intx_asserted) {
        vfud_intx_deassert(c->dev);
        c->intx_asserted = false;
    }
    if (was_enabled && !power_on) {
        vfud_log(c->dev, LOG_DEBUG, "nvme: controller reset");
    }
}

static int ctl_enable(struct nvme_ctrl *c)
{
    uint32_t sqs = (c->aqa & 0xfff) + 1, cqs = ((c->aqa >> 16) & 0xfff) + 1;
    int r;

    nvme_ctrl_reset_state(c, true);
    atomic_store(&c->cc_at_enable, c->cc);
    nvme_cq_init(&c->admin_cq, 0, c->acq, cqs, 0, true);
    r = nvme_sq_init(c, &c->admin_sq, 0, 0, c->asq, sqs, NVME_ADMIN_REQS);
    if (r < 0) {
        nvme_cq_fini(c, &c->admin_cq);
        return r;
    }
    c->enabled = true;
    return 0;
}

static void ctl_unmap(struct nvme_ctrl *c, uint64_t iova, uint64_t len)
{
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_sq *sq = nvme_get_sq(c, (uint16_t)qid);
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

        if (sq) {
            nvme_gmem_unmap_range(c, &sq->mem, iova, len);
        }
        if (cq) {
            nvme_gmem_unmap_range(c, &cq->mem, iova, len);
        }
    }
    nvme_gmem_unmap_range(c, &c->dbbuf_dbs, iova, len);
    nvme_gmem_unmap_range(c, &c->dbbuf_eis, iova, len);
}

/* Migration stop.  Nothing new is fetched; what the back-end has in
 * flight finishes and is posted with its interrupt, and completions that
 * waited for CQ room get what room the host has made: once this returns,
 * every accepted command is either completed in guest memory or waiting
 * for room (and travels in the state).  The page cache is flushed too:
 * the destination reads the same storage, perhaps from another host.  Not
 * for a hand-over to the next process on this host (handover): it reads
 * the same page cache, and a guest's Flush there makes the same files
 * durable; an fdatasync() of what fio just wrote was most of an upgrade's
 * pause, and the new process's own stop flushed again. */
static void ctl_quiesce(struct nvme_ctrl *c, bool handover)
{
    unsigned backend = c->backend_inflight, held = 0;
    bool waiting = false;

    c->stopped = true;
    if (c->ring_ok) {
        nvme_ctrl_drain(c, NULL);
    }
    for (unsigned qid = 0; qid <= c->nr_io_queues && c->enabled; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

        if (cq && cq->wait_head) {
            nvme_cq_flush_waiters(c, cq);
            waiting |= cq->wait_head != NULL;
        }
        for (struct nvme_req *r = cq ? cq->wait_head : NULL; r; r = r->next) {
            held++;
        }
    }
    atomic_store_explicit(&c->cq_waiting, waiting, memory_order_relaxed);
    nvme_raise_irqs(c);
    flush_sync(c, !handover);
    vfud_log(c->dev, LOG_INFO, "nvme: stopped: %u back-end operations were in "
             "flight and completed, %u completions wait for CQ room, %u "
             "commands in all", backend, held, c->total_inflight);
}

static void ctl_resume(struct nvme_ctrl *c)
{
    c->stopped = false;
    /* Time spent stopped does not count towards a memory fault, nor
     * towards the Keep Alive Timeout: the guest's vCPUs were stopped too. */
    c->mem_fault = false;
    c->mem_fault_since = 0;
    nvme_keep_alive_restart(c);
}

static int ctl_exec(struct nvme_ctrl *c, enum nvme_ctl_op op, uint64_t a,
                    uint64_t b)
{
    switch (op) {
    case NVME_CTL_QUIESCE:
        ctl_quiesce(c, a != 0);
        return 0;
    case NVME_CTL_RESUME:
        ctl_resume(c);
        return 0;
    case NVME_CTL_SAVE:
        return nvme_mig_capture(c, (struct nvme_mig *)(uintptr_t)a);
    case NVME_CTL_LOAD:
        nvme_mig_apply(c, (struct nvme_mig_load *)(uintptr_t)a);
        return 0;
    case NVME_CTL_ENABLE:
        return ctl_enable(c);
    case NVME_CTL_DISABLE:
    case NVME_CTL_STOP:
        nvme_ctrl_reset_state(c, false);
        return 0;
    case NVME_CTL_SHUTDOWN:
        c->shutting_down = a != 0;
        c->shutdown_done = false;
        if (!c->enabled && c->shutting_down) {
            nvme_flush_all_sync(c);
            c->shutdown_done = true;
            csts_update(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
        }
        return 0;
    case NVME_CTL_UNMAP:
        ctl_unmap(c, a, b);
        return 0;
    case NVME_CTL_NONE:
        break;
    }
    return 0;
}

static bool ctl_finished(void *opaque)
{
    struct nvme_ctrl *c = opaque;
    bool done;

    pthread_mutex_lock(&c->ctl_lock);
    done = c->ctl_done;
    pthread_mutex_unlock(&c->ctl_lock);
    return done;
}

/* Device thread: the I/O thread leaves its wait on ctl_cond (ctl_serve)
 * and owns the controller again; the mutex orders what we changed before
 * whatever it does next. */
static void ctl_unpark(struct nvme_ctrl *c)
{
    pthread_mutex_lock(&c->ctl_lock);
    c->park = false;
    pthread_cond_broadcast(&c->ctl_cond);
    pthread_mutex_unlock(&c->ctl_lock);
    c->parked = false;
}

int nvme_ctl_call(struct nvme_ctrl *c, enum nvme_ctl_op op, uint64_t a,
                  uint64_t b)
{
    int r;

    if (!c->thread_running) {
        return ctl_exec(c, op, a, b);
    }
    if (c->parked && op != NVME_CTL_STOP) {
        /* The I/O thread waits in ctl_serve: the controller is ours. */
        r = ctl_exec(c, op, a, b);
        if (op == NVME_CTL_RESUME) {
            ctl_unpark(c);
        }
        return r;
    }
    if (c->parked) {
        ctl_unpark(c); /* it must run to see STOP and leave */
    }
    pthread_mutex_lock(&c->ctl_lock);
    /* A quiesce leaves the I/O thread parked until the resume. */
    c->park = op == NVME_CTL_QUIESCE;
    c->ctl_a = a;
    c->ctl_b = b;
    c->ctl_done = false;
    atomic_store(&c->ctl_op, (int)op);
    pthread_mutex_unlock(&c->ctl_lock);
    nvme_ctrl_kick(c);
    /* Not a condition wait: called on the device thread, we must let the
     * daemon read DMA replies the I/O thread may be waiting for. */
    vfud_wait(c->dev, ctl_finished, c, 0);
    pthread_mutex_lock(&c->ctl_lock);
    r = c->ctl_result;
    c->parked = c->park;
    pthread_mutex_unlock(&c->ctl_lock);
    return r;
}

/* Returns false when the thread must exit. */
static bool ctl_serve(struct nvme_ctrl *c)
{
    int op = atomic_load(&c->ctl_op);
    int r;

    if (op == NVME_CTL_NONE) {
        return true;
    }
    r = ctl_exec(c, (enum nvme_ctl_op)op, c->ctl_a, c->ctl_b);
    pthread_mutex_lock(&c->ctl_lock);
    c->ctl_result = r;
    c->ctl_done = true;
    atomic_store(&c->ctl_op, NVME_CTL_NONE);
    pthread_cond_broadcast(&c->ctl_cond);
    /* Parked after a quiesce: nothing is in flight and nothing may be
     * fetched, so there is nothing for us to do until the resume, and the
     * device thread does the operations meanwhile (nvme_ctl_call). */
    while (c->park) {
        pthread_cond_wait(&c->ctl_cond, &c->ctl_lock);
    }
    pthread_mutex_unlock(&c->ctl_lock);
    return op != NVME_CTL_STOP;
}

/* ---- The I/O thread ---- */

static void check_shutdown(struct nvme_ctrl *c)
{
    /* Commands the host submitted before (or while) asking for shutdown
     * are still served; once every SQ is drained and the back-end idle,
     * every accepted write has reached the file: make it durable. */
    if (c->backend_inflight) {
        return;
    }
    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        struct nvme_sq *sq = c->sqs[qid];

        if (sq && sq->head != sq->tail) {
            return;
        }
    }
    nvme_flush_all_sync(c);
    c->shutdown_done = true;
    csts_update(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
    vfud_log(c->dev, LOG_DEBUG, "nvme: shutdown complete");
}

static bool run_queues(struct nvme_ctrl *c)
{
    bool progress = false;
    bool waiting = false;

    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

        if (cq && cq->wait_head) {
            progress |= nvme_cq_flush_waiters(c, cq);
            waiting |= cq->wait_head != NULL;
        }
    }
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_sq *sq = nvme_get_sq(c, (uint16_t)qid);

        if (sq) {
            progress |= nvme_process_sq(c, sq);
        }
    }
    atomic_store_explicit(&c->cq_waiting, waiting, memory_order_relaxed);
    if (c->shutting_down && !c->shutdown_done) {
        check_shutdown(c);
    }
    return progress;
}

/* Queues are served (and their guest memory read) only in this state. */
static bool io_active(const struct nvme_ctrl *c)
{
    return c->enabled && !c->fatal && !c->stopped;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* NVMe 2.0, Keep Alive: when the timer expires the controller records an
 * Error Information entry, stops processing commands and sets CSTS.CFS
 * (a memory-based transport has no association to tear down).  Checked
 * only while the timer runs, which is only after a host asked for it. */
void nvme_keep_alive_check(struct nvme_ctrl *c)
{
    char why[96];

    if (c->ka_deadline_ns == 0 || !io_active(c) || mono_ns() < c->ka_deadline_ns) {
        return;
    }
    c->ka_deadline_ns = 0;
    nvme_errlog_add(c, 0xffff, 0xffff, NVME_SC_KEEP_ALIVE_EXPIRED, 0, 0);
    snprintf(why, sizeof(why), "no Keep Alive command within the Keep Alive "
             "Timeout of %u ms", c->kato);
    nvme_ctrl_fatal(c, why);
}

/* How long the idle I/O thread may sleep: for ever, or until the Keep
 * Alive Timer expires. */
static const struct timespec *idle_timeout(struct nvme_ctrl *c, struct timespec *ts)
{
    uint64_t now, left;

    if (c->ka_deadline_ns == 0 || !io_active(c)) {
        return NULL;
    }
    now = mono_ns();
    left = c->ka_deadline_ns > now ? c->ka_deadline_ns - now : 0;
    ts->tv_sec = (time_t)(left / 1000000000ull);
    ts->tv_nsec = (long)(left % 1000000000ull);
    return ts;
}

/* Sleep, unless work came in: the device thread kicks a sleeping thread
 * on a doorbell (it reads c->sleeping after storing the doorbell; the
 * fence pairs with its own). */
static void sleep_until_work(struct nvme_ctrl *c, const struct timespec *ts)
{
    atomic_store(&c->sleeping, true);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&c->ctl_op) == NVME_CTL_NONE &&
        !(io_active(c) && nvme_doorbells_pending(c))) {
        io_wait(c, ts);
    }
    atomic_store(&c->sleeping, false);
}

/* May the I/O thread hold EventIdx back at all?  Only while the queues
 * run and no control operation (reset, shutdown, a queue deletion, a
 * migration step) waits for the thread's next pass. */
static bool hold_allowed(struct nvme_ctrl *c)
{
    return io_active(c) &&
           atomic_load_explicit(&c->ctl_op, memory_order_relaxed) == NVME_CTL_NONE;
}

/* Wait for the back-end rather than for a doorbell (remote_hold)? */
static bool hold_for_completions(struct nvme_ctrl *c)
{
    return c->remote_hold && c->backend_inflight >= REMOTE_HOLD_MIN &&
           hold_allowed(c);
}

/* Look again in a moment rather than ask for a doorbell (hold_us)?  Only
 * while the driver has more than one command outstanding: it will submit
 * again soon, and its submissions then ring no doorbell (a message, a
 * device-thread wake-up and a kick each) and are fetched in batches, one
 * interrupt for each.  At queue depth 1 the wait would be pure latency. */
static bool hold_for_driver(struct nvme_ctrl *c)
{
    return c->hold_us && c->dbbuf && hold_allowed(c) &&
           (c->total_inflight - c->nr_aer) + nvme_cq_unconsumed(c) >= SHADOW_HOLD_MIN;
}

/* The shadow hold's first look: SHADOW_HOLD_FIRST_US, or hold_us if that
 * is shorter. */
static unsigned hold_first_look_us(const struct nvme_ctrl *c)
{
    return SHADOW_HOLD_FIRST_US < c->hold_us ? SHADOW_HOLD_FIRST_US : c->hold_us;
}

static void *io_thread(void *arg)
{
    struct nvme_ctrl *c = arg;
    unsigned idle = 0, backoff_us = POLL_SLEEP_MIN_US;
    unsigned hold_look_us = hold_first_look_us(c);
    uint64_t idle_since = 0, hold_since = 0;
    bool spun = false;
    char name[16];

    /* "<device>-io" (15 characters at most): per-thread tools (top -H,
     * perf, the benchmarks' CPU accounting) tell devices apart.  Named by
     * itself, with prctl: naming it from the thread that started it writes
     * /proc/self/task/TID/comm, which the sandbox already forbids when
     * devices start (EACCES), and the thread kept the name "vfiouserd". */
    snprintf(name, sizeof(name), "%.12s-io", vfud_dev_name(c->dev));
    (void)pthread_setname_np(pthread_self(), name);

    if (c->db_mode == NVME_DB_POLL || c->hold_us) {
        /* the poller's and the hold's short sleeps should not be stretched
         * by the default 50 us timer slack */
        (void)prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);
    }

    for (;;) {
        bool progress = false;

        c->pass_ns = 0;
        c->inline_writes = 0;
        if (!ctl_serve(c)) {
            break;
        }
        nvme_ns_attr_collect(c);
        if (!c->mem_fault) {
            c->mem_fault_since = 0;
        }
        c->mem_fault = false;
        if (nvme_uring_process(c) + nvme_rbd_collect(c) > 0) {
            progress = true;
        }
        if (io_active(c)) {
            progress |= run_queues(c);
            nvme_keep_alive_check(c);
        }
        if (!c->stopped) {
            nvme_raise_irqs(c);
        }
        if (c->sqes_queued) {
            c->sqes_queued = 0;
            io_uring_submit(&c->ring);
        }
        /* queue depth for io_stats: what is in flight but AERs (they wait
         * for events, not for the back-end) */
        __atomic_store_n(&c->io_ctr.depth, c->total_inflight - c->nr_aer,
                         __ATOMIC_RELAXED);
        if (progress) {
            idle = 0;
            spun = false;
            backoff_us = POLL_SLEEP_MIN_US;
            hold_since = 0;
            /* here, not where a hold starts: the remote hold may start
             * an idle period and the shadow hold take over in it */
            hold_look_us = hold_first_look_us(c);
            if ((c->poll_idle_us || c->remote_hold || c->hold_us) && io_active(c)) {
                c->eventidx_withheld = true;
            }
            continue;
        }
        if (c->mem_fault && io_active(c)) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };

            io_wait(c, &ts);
            continue;
        }
        if (c->db_mode == NVME_DB_POLL && io_active(c)) {
            /* Poll mode: spin a while, then sleep with a growing timeout
             * (a kick or a back-end completion ends the sleep early). */
            struct timespec ts;

            if (idle++ == 0) {
                idle_since = mono_ns();
                continue;
            }
            if (!spun) {
                /* read the clock only now and then while spinning */
                if ((idle & 63) || mono_ns() - idle_since < POLL_SPIN_NS) {
                    continue;
                }
                spun = true;
            }
            ts.tv_sec = backoff_us / 1000000;
            ts.tv_nsec = (long)(backoff_us % 1000000) * 1000;
            io_wait(c, &ts);
            if (backoff_us < c->poll_max_sleep_us) {
                backoff_us *= 2;
                if (backoff_us > c->poll_max_sleep_us) {
                    backoff_us = c->poll_max_sleep_us;
                }
            }
            continue;
        }
        if (c->eventidx_withheld && hold_for_completions(c)) {
            /* Storage across the network with many commands out: the
             * next completion is near (a few hundred microseconds at QD32
             * at most), so sleep until it comes with EventIdx withheld and
             * look at the shadow doorbells then: the driver's submissions
             * in the meantime ring no doorbell (a message to the device
             * thread, which then kicks us), and are fetched a little later
             * in a pass we make anyway.  Bounded: after REMOTE_HOLD_US
             * without a completion EventIdx is published as usual, and
             * the hold waits for the next progress (hold_since stays). */
            uint64_t now = mono_ns();

            if (hold_since == 0) {
                hold_since = now;
            }
            if (now - hold_since < REMOTE_HOLD_US * 1000ull) {
                uint64_t left = REMOTE_HOLD_US * 1000ull - (now - hold_since);
                struct timespec ts = { 0, (long)left };

                sleep_until_work(c, &ts);
                continue;
            }
        }
        if (c->eventidx_withheld && hold_for_driver(c)) {
            /* Shadow: the driver has commands outstanding, so more will
             * come; look at the shadow doorbells again in a moment (5 us,
             * doubling up to hold_us) with EventIdx withheld.  A back-end
             * completion or a trapped doorbell ends the sleep early.
             * Bounded like the remote hold: SHADOW_HOLD_MAX_US after the
             * last progress, EventIdx is published.  In the lab guest
             * (TCG, fio QD32) it took randread from 1.01x to 1.73x QEMU's
             * NVMe and seqread from 0.87x to 1.07x, mostly by sparing
             * doorbell messages and interrupts.  A host client polling its
             * CQs loses about 15 % at QD32 (hold-us = 0 is its setting; see
             * vfiouserd-nvme(8)). */
            uint64_t now = mono_ns();

            if (hold_since == 0) {
                hold_since = now;
            }
            if (now - hold_since < SHADOW_HOLD_MAX_US * 1000ull) {
                struct timespec ts = { 0, (long)hold_look_us * 1000 };

                sleep_until_work(c, &ts);
                if (hold_look_us < c->hold_us) {
                    hold_look_us = hold_look_us * 2 < c->hold_us ? hold_look_us * 2
                                                                 : c->hold_us;
                }
                continue;
            }
        }
        if (c->eventidx_withheld) {
            /* Adaptive: I/O flowed a moment ago, so poll the doorbells
             * (shadow ones in guest memory, trapped ones in c->db) for
             * poll_idle_us more: the next command is picked up without a
             * doorbell message and a wake-up.  Then publish EventIdx (the
             * next pass does, and looks at the doorbells once more) and
             * sleep until the driver rings. */
            if (c->poll_idle_us && hold_allowed(c)) {
                if (idle++ == 0) {
                    idle_since = mono_ns();
                    continue;
                }
                if ((idle & 63) ||
                    mono_ns() - idle_since < c->poll_idle_us * 1000ull) {
                    continue;
                }
            }
            c->eventidx_withheld = false;
            idle = 0;
            continue;
        }
        {
            struct timespec ts;

            sleep_until_work(c, idle_timeout(c, &ts));
        }
    }
    return NULL;
}

int nvme_ctrl_start_thread(struct nvme_ctrl *c)
{
    int r;

    if (c->thread_running) {
        return 0;
    }
    c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->kick_fd < 0) {
        r = -errno;
        vfud_error(c->dev, "nvme: eventfd: %m");
        return r;
    }
    r = io_uring_queue_init(512, &c->ring, 0);
    if (r < 0) {
        vfud_error(c->dev, "nvme: io_uring_queue_init: %s", strerror(-r));
        close(c->kick_fd);
        c->kick_fd = -1;
        return r;
    }
    c->ring_ok = true;
    r = pthread_create(&c->thread, NULL, io_thread, c);
    if (r != 0) {
        vfud_error(c->dev, "nvme: cannot start the I/O thread: %s", strerror(r));
        io_uring_queue_exit(&c->ring);
        c->ring_ok = false;
        close(c->kick_fd);
        c->kick_fd = -1;
        return -r;
    }
    c->thread_running = true;
    return 0;
}

void nvme_ctrl_stop_thread(struct nvme_ctrl *c)
{
    if (!c->thread_running) {
        return;
    }
    (void)nvme_ctl_call(c, NVME_CTL_STOP, 0, 0);
    pthread_join(c->thread, NULL);
    c->thread_running = false;
    io_uring_queue_exit(&c->ring);
    c->ring_ok = false;
    close(c->kick_fd);
    c->kick_fd = -1;
}
