/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Submission and completion queues: guest memory access (cached host
 * pointers with a message fallback), fetching SQEs, posting CQEs with the
 * phase tag, doorbells (trapped, polled or shadowed with EventIdx) and
 * asynchronous events.  Everything here runs on the I/O thread.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

/* ---- Guest memory regions ---- */

void nvme_gmem_init(struct nvme_gmem *g, uint64_t iova, uint64_t len)
{
    memset(g, 0, sizeof(*g));
    g->iova = iova;
    g->len = len;
}

void nvme_gmem_release(struct nvme_ctrl *c, struct nvme_gmem *g)
{
    if (g->mapped) {
        vfud_dma_sgl_put(c->dev, g->sg, 1);
        vfud_sg_free(g->sg);
        g->sg = NULL;
        g->base = NULL;
        g->mapped = false;
        atomic_fetch_sub(&c->nr_mapped, 1);
    }
    g->remote = false;
}

void nvme_gmem_unmap_range(struct nvme_ctrl *c, struct nvme_gmem *g,
                           uint64_t iova, uint64_t len)
{
    if (g->len == 0) {
        return;
    }
    if (iova < g->iova + g->len && g->iova < iova + len) {
        nvme_gmem_release(c, g);
    }
}

/* Map the whole region with one host pointer if the client shared it.
 * Returns 0, -EREMOTE (use messages) or another negative errno. */
int nvme_gmem_map(struct nvme_ctrl *c, struct nvme_gmem *g)
{
    struct iovec iov;
    int n;

    if (g->mapped) {
        return 0;
    }
    if (g->remote) {
        return -EREMOTE;
    }
    /* Allocated per mapping, not per access: a queue maps once. */
    g->sg = vfud_sg_alloc(1);
    if (g->sg == NULL) {
        return -ENOMEM;
    }
    n = vfud_dma_sgl_get(c->dev, g->iova, g->len,
                         VFUD_DMA_READ | VFUD_DMA_WRITE, g->sg, &iov, 1);
    if (n == 1) {
        g->base = iov.iov_base;
        g->mapped = true;
        atomic_fetch_add(&c->nr_mapped, 1);
        return 0;
    }
    vfud_sg_free(g->sg);
    g->sg = NULL;
    if (n == -EREMOTE || n == -ENOSPC) {
        /* message-only memory, or a queue split over two DMA windows */
        g->remote = true;
        return -EREMOTE;
    }
    return n < 0 ? n : -EFAULT;
}

static inline uint8_t *gmem_ptr(struct nvme_gmem *g, uint64_t off)
{
    return (uint8_t *)g->base + off;
}

/* A write through a pointer held since the queue was created: the
 * daemon logs dirty pages only when a reference is dropped, so say it
 * now, or a migration's pre-copy of guest memory would miss it. */
static inline void gmem_dirty(struct nvme_ctrl *c, struct nvme_gmem *g,
                              uint64_t off, uint64_t len)
{
    vfud_dma_mark_dirty(c->dev, g->iova + off, len);
}

int nvme_gmem_read(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                   void *buf, size_t len)
{
    int r = nvme_gmem_map(c, g);

    if (r == 0) {
        memcpy(buf, gmem_ptr(g, off), len);
        return 0;
    }
    if (r == -EREMOTE) {
        return vfud_dma_read(c->dev, g->iova + off, buf, len);
    }
    return r;
}

int nvme_gmem_write(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                    const void *buf, size_t len)
{
    int r = nvme_gmem_map(c, g);

    if (r == 0) {
        memcpy(gmem_ptr(g, off), buf, len);
        gmem_dirty(c, g, off, len);
        return 0;
    }
    if (r == -EREMOTE) {
        return vfud_dma_write(c->dev, g->iova + off, buf, len);
    }
    return r;
}

/* A 32-bit slot shared with the guest driver (shadow doorbell, EventIdx):
 * atomic when mapped so the compiler neither tears nor caches it. */
static int gmem_load32(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                       uint32_t *v)
{
    int r = nvme_gmem_map(c, g);

    if (r == 0) {
        *v = atomic_load_explicit((_Atomic uint32_t *)gmem_ptr(g, off),
                                  memory_order_acquire);
        return 0;
    }
    if (r == -EREMOTE) {
        return vfud_dma_read(c->dev, g->iova + off, v, 4);
    }
    return r;
}

static int gmem_store32(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                        uint32_t v)
{
    int r = nvme_gmem_map(c, g);

    if (r == 0) {
        atomic_store_explicit((_Atomic uint32_t *)gmem_ptr(g, off), v,
                              memory_order_release);
        gmem_dirty(c, g, off, 4);
        return 0;
    }
    if (r == -EREMOTE) {
        return vfud_dma_write(c->dev, g->iova + off, &v, 4);
    }
    return r;
}

/* ---- Queue set-up ---- */

int nvme_sq_init(struct nvme_ctrl *c, struct nvme_sq *sq, uint16_t qid,
                 uint16_t cqid, uint64_t iova, uint32_t size, unsigned nreqs)
{
    memset(sq, 0, sizeof(*sq));
    sq->reqs = calloc(nreqs, sizeof(*sq->reqs));
    /* Scatter-gather entries for every request now: none on the I/O path. */
    sq->sg_pool = vfud_sg_alloc(nreqs * NVME_MAX_SEGS);
    if (!sq->reqs || !sq->sg_pool) {
        free(sq->reqs);
        vfud_sg_free(sq->sg_pool);
        sq->reqs = NULL;
        sq->sg_pool = NULL;
        return -ENOMEM;
    }
    sq->nr_reqs = nreqs;
    for (unsigned i = 0; i < nreqs; i++) {
        sq->reqs[i].sg = vfud_sg_at(sq->sg_pool, i * NVME_MAX_SEGS);
        sq->reqs[i].sq = sq;
        sq->reqs[i].next = sq->free_list;
        sq->free_list = &sq->reqs[i];
    }
    sq->qid = qid;
    sq->cqid = cqid;
    sq->size = size;
    nvme_gmem_init(&sq->mem, iova, (uint64_t)size * sizeof(struct nvme_sqe));
    sq->valid = true;
    (void)c;
    return 0;
}

void nvme_sq_fini(struct nvme_ctrl *c, struct nvme_sq *sq)
{
    if (!sq->valid) {
        return;
    }
    nvme_gmem_release(c, &sq->mem);
    for (unsigned i = 0; i < sq->nr_reqs; i++) {
        nvme_req_release_data(c, &sq->reqs[i]);
        free(sq->reqs[i].bounce);
    }
    c->total_inflight -= sq->inflight;
    free(sq->reqs);
    sq->reqs = NULL;
    vfud_sg_free(sq->sg_pool);
    sq->sg_pool = NULL;
    sq->free_list = NULL;
    sq->valid = false;
}

void nvme_cq_init(struct nvme_cq *cq, uint16_t qid, uint64_t iova,
                  uint32_t size, uint16_t vector, bool ien)
{
    memset(cq, 0, sizeof(*cq));
    cq->qid = qid;
    cq->size = size;
    cq->vector = vector;
    cq->ien = ien;
    cq->phase = true;
    nvme_gmem_init(&cq->mem, iova, (uint64_t)size * sizeof(struct nvme_cqe));
    cq->valid = true;
}

void nvme_cq_fini(struct nvme_ctrl *c, struct nvme_cq *cq)
{
    if (!cq->valid) {
        return;
    }
    nvme_gmem_release(c, &cq->mem);
    cq->wait_head = cq->wait_tail = NULL;
    cq->valid = false;
}

struct nvme_sq *nvme_get_sq(struct nvme_ctrl *c, uint16_t qid)
{
    if (qid == 0) {
        return c->admin_sq.valid ? &c->admin_sq : NULL;
    }
    if (qid > c->nr_io_queues) {
        return NULL;
    }
    return c->sqs[qid];
}

struct nvme_cq *nvme_get_cq(struct nvme_ctrl *c, uint16_t qid)
{
    if (qid == 0) {
        return c->admin_cq.valid ? &c->admin_cq : NULL;
    }
    if (qid > c->nr_io_queues) {
        return NULL;
    }
    return c->cqs[qid];
}

/* ---- Doorbells ---- */

static inline bool q_shadowed(const struct nvme_ctrl *c, uint16_t qid)
{
    /* The admin queue never uses the shadow buffer (NVMe 1.4, 7.13). */
    return c->dbbuf && qid != 0;
}

static inline uint32_t db_slot_sq(uint16_t qid)
{
    return 2u * qid;
}

static inline uint32_t db_slot_cq(uint16_t qid)
{
    return 2u * qid + 1;
}

static uint32_t read_db(struct nvme_ctrl *c, uint32_t slot, bool shadow,
                        bool *ok)
{
    uint32_t v = 0;

    *ok = true;
    if (shadow) {
        if (gmem_load32(c, &c->dbbuf_dbs, (uint64_t)slot * 4, &v) < 0) {
            *ok = false;
        }
        return v;
    }
    return atomic_load_explicit(&c->db[slot], memory_order_acquire);
}

static void write_eventidx(struct nvme_ctrl *c, uint32_t slot, uint32_t v)
{
    (void)gmem_store32(c, &c->dbbuf_eis, (uint64_t)slot * 4, v);
    /* The EventIdx store must be visible before the shadow doorbell is
     * re-read: pairs with the driver's barrier between its shadow write and
     * its EventIdx read (store-load ordering needs a full fence). */
    atomic_thread_fence(memory_order_seq_cst);
}

/* At Doorbell Buffer Config or creation of a queue while it is active:
 * seed the shadow slots with the values we already know, and EventIdx with
 * them too, so the driver's very next update rings the real doorbell. */
void nvme_dbbuf_setup_queue(struct nvme_ctrl *c, uint16_t qid)
{
    struct nvme_sq *sq = nvme_get_sq(c, qid);
    struct nvme_cq *cq = nvme_get_cq(c, qid);

    if (!q_shadowed(c, qid)) {
        return;
    }
    if (sq) {
        (void)gmem_store32(c, &c->dbbuf_dbs, db_slot_sq(qid) * 4ull, sq->tail);
        (void)gmem_store32(c, &c->dbbuf_eis, db_slot_sq(qid) * 4ull, sq->tail);
        sq->eventidx = sq->tail;
    }
    if (cq) {
        (void)gmem_store32(c, &c->dbbuf_dbs, db_slot_cq(qid) * 4ull, cq->head);
        (void)gmem_store32(c, &c->dbbuf_eis, db_slot_cq(qid) * 4ull, cq->head);
    }
    atomic_thread_fence(memory_order_seq_cst);
}

/* Latest valid SQ tail, or the old one if the host wrote garbage. */
static uint32_t sq_fetch_tail(struct nvme_ctrl *c, struct nvme_sq *sq)
{
    bool ok;
    uint32_t t = read_db(c, db_slot_sq(sq->qid), q_shadowed(c, sq->qid), &ok);

    if (!ok) {
        nvme_ctrl_mem_fault(c, "shadow doorbell buffer unreadable");
        return sq->tail;
    }
    if (t >= sq->size) {
        sq->bad_tail = t; /* reported: nvme_doorbells_pending */
        if (t != sq->tail) {
            nvme_post_event(c, NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB_VAL,
                            NVME_LOG_ERROR);
        }
        return sq->tail;
    }
    sq->tail = t;
    sq->bad_tail = 0;
    return t;
}

static void cq_refresh_head(struct nvme_ctrl *c, struct nvme_cq *cq)
{
    bool ok;
    uint32_t h = read_db(c, db_slot_cq(cq->qid), q_shadowed(c, cq->qid), &ok);

    if (ok && h < cq->size) {
        cq->head = h;
    }
}

bool nvme_doorbells_pending(struct nvme_ctrl *c)
{
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_sq *sq = nvme_get_sq(c, (uint16_t)qid);
        bool ok;

        if (!sq) {
            continue;
        }
        /* Values out of range are no work (sq_fetch_tail, cq_refresh_head
         * ignore them), and counting them every time would keep the I/O
         * thread from ever sleeping (100% CPU until the guest writes a
         * valid value; found by tests/fuzz/fuzz_nvme).  But a new one is
         * owed its Invalid Doorbell Write Value event, once: a write that
         * lands between the I/O thread's last pass and its going to sleep
         * finds it not yet asleep and does not kick it, so this check is
         * the only one that sees it (test_nvme_ctrl:test_aer_abort timed
         * out waiting for that event under ASan). */
        uint32_t t = read_db(c, db_slot_sq(sq->qid), q_shadowed(c, sq->qid), &ok);
        if (t < sq->size && t != sq->head && sq->free_list) {
            return true;
        }
        if (ok && t >= sq->size && t != sq->bad_tail) {
            return true;
        }
        struct nvme_cq *cq = nvme_get_cq(c, sq->cqid);
        if (cq && cq->wait_head) {
            uint32_t h = read_db(c, db_slot_cq(cq->qid),
                                 q_shadowed(c, cq->qid), &ok);
            if (h < cq->size && h != cq->head) {
                return true;
            }
        }
    }
    return false;
}

/* Completions posted to the shadowed I/O CQs that the driver has not
 * consumed yet, by its shadow CQ heads (read, not adopted: cq->head moves
 * where the controller needs it to).  With the commands in flight, what
 * the driver has outstanding: more work will come from it soon. */
unsigned nvme_cq_unconsumed(struct nvme_ctrl *c)
{
    unsigned n = 0;

    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);
        bool ok;
        uint32_t h;

        if (!cq || !q_shadowed(c, cq->qid)) {
            continue;
        }
        h = read_db(c, db_slot_cq(cq->qid), true, &ok);
        if (ok && h < cq->size) {
            n += (cq->tail + cq->size - h) % cq->size;
        }
    }
    return n;
}

/* ---- Fetching commands ---- */

bool nvme_process_sq(struct nvme_ctrl *c, struct nvme_sq *sq)
{
    bool progress = false;

    if (c->fatal) {
        return false;
    }
    for (;;) {
        uint32_t tail = sq_fetch_tail(c, sq);

        if (tail == sq->head) {
            if (!q_shadowed(c, sq->qid) || c->eventidx_withheld) {
                /* (Withheld: the I/O thread polls, no ring is needed;
                 * it publishes before it sleeps.) */
                break;
            }
            /* Publish how far we got, then look again: a submission the
             * driver made before seeing the new EventIdx is caught here,
             * one made after it rings the doorbell.  (Unchanged: the last
             * publication still stands and nothing needs re-checking.) */
            if (sq->eventidx == tail) {
                break;
            }
            write_eventidx(c, db_slot_sq(sq->qid), tail);
            sq->eventidx = tail;
            if (sq_fetch_tail(c, sq) == sq->head) {
                break;
            }
            continue;
        }
        while (sq->head != tail) {
            struct nvme_sqe batch[NVME_SQE_BATCH];
            uint32_t n = (tail + sq->size - sq->head) % sq->size;
            int r;

            if (c->fatal || !sq->valid) {
                return progress;
            }
            if (!sq->free_list) {
                return progress; /* resumed when a command completes */
            }

            /* Contiguous entries, as many as there are free requests: one
             * copy (or one DMA message when memory is message-only). */
            if (n > sq->size - sq->head) {
                n = sq->size - sq->head;
            }
            if (n > NVME_SQE_BATCH) {
                n = NVME_SQE_BATCH;
            }
            if (n > sq->nr_reqs - sq->inflight) {
                n = sq->nr_reqs - sq->inflight;
            }
            r = nvme_gmem_read(c, &sq->mem,
                               (uint64_t)sq->head * sizeof(struct nvme_sqe),
                               batch, n * sizeof(struct nvme_sqe));
            if (r < 0) {
                /* retried later: the client may be re-mapping memory */
                nvme_ctrl_mem_fault(c, "submission queue unreadable");
                return progress;
            }
            for (uint32_t i = 0; i < n; i++) {
                struct nvme_req *req = sq->free_list;

                if (!sq->valid) {
                    return progress; /* deleted by an admin command */
                }
                if (atomic_load_explicit(&c->ctl_op, memory_order_relaxed) !=
                    NVME_CTL_NONE) {
                    /* A reset (or an unmap) waits on the device thread:
                     * serve it before starting another command.  With
                     * message-only memory each command costs round trips
                     * the device thread has to relay while it waits, and a
                     * reset discards the commands anyway.  Entries not
                     * taken stay in the queue (head is not advanced). */
                    return true;
                }
                req->cmd = batch[i];
                sq->free_list = req->next;
                req->next = NULL;
                sq->inflight++;
                c->total_inflight++;
                if (++sq->head == sq->size) {
                    sq->head = 0; /* (a division per command showed in profiles) */
                }
                progress = true;

                req->status = NVME_SC_SUCCESS;
                req->dw0 = 0;
                req->ns = NULL;
                req->nseg = req->nsg = req->niov = 0;
                req->bounced = false;
                req->pending = 0;
                req->res = 0;
                if (sq->qid != 0) {
                    req->t_fetch = nvme_pass_ns(c);
                }
                if (sq->qid == 0) {
                    nvme_admin_exec(c, req);
                } else {
                    nvme_io_exec(c, req);
                }
            }
        }
    }
    return progress;
}

/* ---- Posting completions ---- */

static bool cq_full(struct nvme_ctrl *c, struct nvme_cq *cq)
{
    if ((cq->tail + 1) % cq->size != cq->head) {
        return false;
    }
    cq_refresh_head(c, cq);
    if ((cq->tail + 1) % cq->size != cq->head) {
        return false;
    }
    if (q_shadowed(c, cq->qid)) {
        /* Ask the driver to ring as soon as it consumes anything. */
        write_eventidx(c, db_slot_cq(cq->qid), cq->head);
        cq_refresh_head(c, cq);
        return (cq->tail + 1) % cq->size == cq->head;
    }
    return true;
}

static bool cq_post(struct nvme_ctrl *c, struct nvme_cq *cq,
                    struct nvme_req *req)
{
    struct nvme_cqe e;
    uint64_t off = (uint64_t)cq->tail * sizeof(e);
    uint16_t st = (uint16_t)(req->status << 1) | (cq->phase ? 1 : 0);
    int r;

    if (cq_full(c, cq)) {
        return false;
    }
    if (req->status != NVME_SC_SUCCESS && req->status != NVME_SC_INTERNAL &&
        req->status != NVME_SC_ABORT_REQ &&
        req->status != NVME_SC_ABORT_SQ_DELETED) {
        st |= NVME_CQE_DNR; /* retrying the same command cannot help */
    }
    e.dw0 = req->dw0;
    e.dw1 = 0;
    e.sq_head = (uint16_t)req->sq->head;
    e.sq_id = req->sq->qid;
    e.cid = req->cmd.cid;
    e.status = st;

    r = nvme_gmem_map(c, &cq->mem);
    if (r == 0) {
        uint32_t *p = (uint32_t *)gmem_ptr(&cq->mem, off);
        uint32_t w[4];

        memcpy(w, &e, sizeof(w));
        p[0] = w[0];
        p[1] = w[1];
        p[2] = w[2];
        /* The phase tag makes the entry valid: publish it last. */
        atomic_store_explicit((_Atomic uint32_t *)&p[3], w[3],
                              memory_order_release);
        gmem_dirty(c, &cq->mem, off, sizeof(e));
    } else if (r == -EREMOTE) {
        /* Two messages so the phase dword cannot land before the rest. */
        r = vfud_dma_write(c->dev, cq->mem.iova + off, &e, 12);
        if (r == 0) {
            r = vfud_dma_write(c->dev, cq->mem.iova + off + 12,
                               (uint8_t *)&e + 12, 4);
        }
    }
    if (r < 0) {
        /* the completion waits and is retried (see nvme_ctrl_mem_fault) */
        nvme_ctrl_mem_fault(c, "completion queue unwritable");
        return false;
    }
    cq->tail++;
    if (cq->tail == cq->size) {
        cq->tail = 0;
        cq->phase = !cq->phase;
    }
    cq->irq_pending = true;
    return true;
}

static void req_free(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct nvme_sq *sq = req->sq;

    nvme_req_release_data(c, req);
    req->next = sq->free_list;
    sq->free_list = req;
    sq->inflight--;
    c->total_inflight--;
}

/* Names of the status codes this controller returns, for the log. */
static const char *status_name(uint16_t st)
{
    switch (st & 0x7ff) {
    case NVME_SC_INVALID_OPCODE: return "Invalid Command Opcode";
    case NVME_SC_INVALID_FIELD: return "Invalid Field in Command";
    case NVME_SC_DATA_XFER_ERROR: return "Data Transfer Error";
    case NVME_SC_INTERNAL: return "Internal Error";
    case NVME_SC_ABORT_REQ: return "Command Abort Requested";
    case NVME_SC_ABORT_SQ_DELETED: return "Aborted due to SQ Deletion";
    case NVME_SC_INVALID_NS: return "Invalid Namespace or Format";
    case NVME_SC_CMD_SEQ_ERROR: return "Command Sequence Error";
    case NVME_SC_SGL_INVALID_SEG: return "Invalid SGL Segment Descriptor";
    case NVME_SC_SGL_INVALID_COUNT: return "Invalid Number of SGL Descriptors";
    case NVME_SC_SGL_INVALID_DATA_LEN: return "Data SGL Length Invalid";
    case NVME_SC_SGL_INVALID_TYPE: return "SGL Descriptor Type Invalid";
    case NVME_SC_PRP_INVALID_OFFSET: return "PRP Offset Invalid";
    case NVME_SC_SGL_INVALID_OFFSET: return "SGL Offset Invalid";
    case NVME_SC_NS_WRITE_PROTECTED: return "Namespace is Write Protected";
    case NVME_SC_KEEP_ALIVE_EXPIRED: return "Keep Alive Timer Expired";
    case NVME_SC_LBA_RANGE: return "LBA Out of Range";
    case NVME_SC_CAP_EXCEEDED: return "Capacity Exceeded";
    case NVME_SC_NS_NOT_READY: return "Namespace Not Ready";
    case NVME_SC_CQ_INVALID: return "Completion Queue Invalid";
    case NVME_SC_QID_INVALID: return "Invalid Queue Identifier";
    case NVME_SC_QUEUE_SIZE: return "Invalid Queue Size";
    case NVME_SC_ABORT_LIMIT: return "Abort Command Limit Exceeded";
    case NVME_SC_AER_LIMIT: return "Asynchronous Event Request Limit Exceeded";
    case NVME_SC_INVALID_VECTOR: return "Invalid Interrupt Vector";
    case NVME_SC_INVALID_LOG_PAGE: return "Invalid Log Page";
    case NVME_SC_INVALID_FORMAT: return "Invalid Format";
    case NVME_SC_INVALID_QUEUE_DELETION: return "Invalid Queue Deletion";
    case NVME_SC_FEAT_NOT_SAVEABLE: return "Feature Identifier Not Saveable";
    case NVME_SC_WRITE_FAULT: return "Write Fault";
    case NVME_SC_UNRECOVERED_READ: return "Unrecovered Read Error";
    case NVME_SC_COMPARE_FAILED: return "Compare Failure";
    default: return "status";
    }
}

void nvme_errlog_add(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid,
                     uint16_t status, uint32_t nsid, uint64_t lba)
{
    struct nvme_err_entry *e;
    unsigned n = sizeof(c->errlog) / sizeof(c->errlog[0]);

    c->err_count++;
    e = &c->errlog[c->err_count % n];
    e->count = c->err_count;
    e->sqid = sqid;
    e->cid = cid;
    e->status = (uint16_t)(status << 1);
    e->param_loc = 0xffff; /* not reported */
    e->nsid = nsid;
    e->lba = lba;
}

/* Error Information log: the newest entries, kept in a small ring.  A
 * driver that is unhappy with the controller usually says only "failed";
 * the debug line says which command got which status. */
static void log_error(struct nvme_ctrl *c, const struct nvme_req *req)
{
    uint16_t qid = req->sq->qid;

    nvme_errlog_add(c, qid, req->cmd.cid, req->status, req->cmd.nsid,
                    qid ? (req->cmd.cdw10 | (uint64_t)req->cmd.cdw11 << 32) : 0);
    vfud_log(c->dev, LOG_DEBUG,
             "nvme: %s command %#04x (CID %u, NSID %u) on SQ %u failed: %s "
             "(SCT %u SC %#04x)", qid ? "I/O" : "admin", req->cmd.opcode,
             req->cmd.cid, req->cmd.nsid, qid, status_name(req->status),
             (req->status >> 8) & 7, req->status & 0xff);
}

/* An I/O command is done (whether or not its completion gets posted). */
static void count_io(struct nvme_ctrl *c, const struct nvme_req *req)
{
    struct nvme_io_counters *k = &c->io_ctr;
    uint64_t lat = nvme_pass_ns(c) - req->t_fetch;
    unsigned b = lat ? 63u - (unsigned)__builtin_clzll(lat) : 0;
    bool ok = req->status == NVME_SC_SUCCESS;

    if (req->cmd.opcode == NVME_CMD_READ) {
        NVME_CTR_ADD(k->reads, 1);
        NVME_CTR_ADD(k->bytes_read, ok ? req->len : 0);
    } else if (req->cmd.opcode == NVME_CMD_WRITE) {
        NVME_CTR_ADD(k->writes, 1);
        NVME_CTR_ADD(k->bytes_written, ok ? req->len : 0);
    } else {
        NVME_CTR_ADD(k->others, 1);
    }
    if (!ok) {
        NVME_CTR_ADD(k->errors, 1);
    }
    if (b >= VFUD_LAT_BUCKETS) {
        b = VFUD_LAT_BUCKETS - 1;
    }
    NVME_CTR_ADD(k->lat[b], 1);
}

void nvme_req_complete(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct nvme_sq *sq = req->sq;
    struct nvme_cq *cq = nvme_get_cq(c, sq->cqid);

    if (req->status != NVME_SC_SUCCESS) {
        log_error(c, req);
    }
    if (sq->qid != 0) {
        count_io(c, req);
    }

    nvme_req_release_data(c, req);
    if (!cq || !sq->valid || !c->enabled) {
        /* controller reset or queue deletion: the command is dropped */
        req_free(c, req);
        return;
    }
    if (cq->wait_head || !cq_post(c, cq, req)) {
        req->next = NULL;
        if (cq->wait_tail) {
            cq->wait_tail->next = req;
        } else {
            cq->wait_head = req;
        }
        cq->wait_tail = req;
        return;
    }
    req_free(c, req);
}

bool nvme_cq_flush_waiters(struct nvme_ctrl *c, struct nvme_cq *cq)
{
    bool progress = false;

    while (cq->wait_head) {
        struct nvme_req *req = cq->wait_head;

        if (!cq_post(c, cq, req)) {
            break;
        }
        cq->wait_head = req->next;
        if (!cq->wait_head) {
            cq->wait_tail = NULL;
        }
        req_free(c, req);
        progress = true;
    }
    return progress;
}

void nvme_raise_irqs(struct nvme_ctrl *c)
{
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

        if (!cq || !cq->irq_pending) {
            continue;
        }
        cq->irq_pending = false;
        if (!cq->ien) {
            continue;
        }
        if (cq->vector == 0 && (c->intms & 1)) {
            continue; /* masked through INTMS (pin/MSI mode) */
        }
        (void)vfud_irq_trigger(c->dev, cq->vector);
        if (cq->vector == 0) {
            c->intx_asserted = true;
            if (q_shadowed(c, cq->qid)) {
                /* a level interrupt must be lowered once the host has
                 * consumed everything: ask for a real doorbell then */
                write_eventidx(c, db_slot_cq(cq->qid),
                               (cq->tail + cq->size - 1) % cq->size);
            }
        }
    }
    if (c->intx_asserted) {
        /* INTx is level-triggered: drop it once every CQ on vector 0 has
         * been consumed by the host. */
        bool busy = false;

        for (unsigned qid = 0; qid <= c->nr_io_queues && !busy; qid++) {
            struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

            if (cq && cq->ien && cq->vector == 0) {
                cq_refresh_head(c, cq);
                busy = cq->head != cq->tail;
            }
        }
        if (!busy) {
            vfud_intx_deassert(c->dev);
            c->intx_asserted = false;
        }
    }
}

/* ---- Asynchronous events ---- */

void nvme_ns_attr_changed(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    atomic_store(&ns->attr_changed, true);
    atomic_store(&c->ns_attr_changed, true);
    nvme_ctrl_kick(c);
}

/* The namespaces marked changed join the Changed Namespace List (log page
 * 04h, cleared when the host reads it) and, if the host enabled Namespace
 * Attribute Notices, a Notice points it there: Linux then rescans them
 * (a new size reaches the block device without "nvme ns-rescan"). */
void nvme_ns_attr_collect(struct nvme_ctrl *c)
{
    bool any = false;

    /* a plain load first: this runs at every pass of the I/O loop */
    if (!atomic_load_explicit(&c->ns_attr_changed, memory_order_relaxed) ||
        !atomic_exchange(&c->ns_attr_changed, false)) {
        return;
    }
    for (uint32_t nsid = 1; nsid <= NVME_MAX_NS; nsid++) {
        struct nvme_ns *ns = c->ns[nsid];
        bool listed = false;

        if (!ns || !atomic_exchange(&ns->attr_changed, false)) {
            continue;
        }
        for (unsigned i = 0; i < c->nr_changed_ns; i++) {
            listed |= c->changed_ns[i] == nsid;
        }
        if (!listed && c->nr_changed_ns < NVME_CHANGED_NS_MAX) {
            c->changed_ns[c->nr_changed_ns++] = nsid;
        }
        any = true;
    }
    if (any && c->enabled && (c->feat_async_event & NVME_OAES_NS_ATTR)) {
        nvme_post_event(c, NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_ATTR,
                        NVME_LOG_CHANGED_NS);
    }
}

void nvme_post_event(struct nvme_ctrl *c, uint8_t type, uint8_t info,
                     uint8_t log)
{
    if (c->masked_event_types & (1u << type)) {
        return; /* one of this type is waiting for its log page */
    }
    for (unsigned i = 0; i < c->nr_events; i++) {
        if ((c->events[i] & 0xffff) == (uint32_t)(type | info << 8)) {
            return;
        }
    }
    if (c->nr_events == NVME_MAX_EVENTS) {
        return;
    }
    c->events[c->nr_events++] = type | (uint32_t)info << 8 | (uint32_t)log << 16;
    nvme_deliver_events(c);
}

void nvme_deliver_events(struct nvme_ctrl *c)
{
    while (c->nr_events && c->nr_aer) {
        struct nvme_req *req = c->aer[--c->nr_aer];
        uint32_t ev = c->events[0];

        memmove(&c->events[0], &c->events[1],
                (c->nr_events - 1) * sizeof(c->events[0]));
        c->nr_events--;
        c->masked_event_types |= (uint8_t)(1u << (ev & 7));
        req->dw0 = ev;
        req->status = NVME_SC_SUCCESS;
        nvme_req_complete(c, req);
    }
}
