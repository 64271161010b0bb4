/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest of the NVMe fuzz target: its memory (three DMA windows of the
 * fake daemon) and a driver that submits what the input says, reaps
 * completions and rings doorbells the way Linux does, shadow doorbells and
 * EventIdx included.
 *
 * The driver keeps its own SQ tails and CQ heads, as a driver must, but
 * learns where the queues are from the controller: the input creates them
 * with whatever it likes in the SQE.  When the controller's queue moved or
 * changed size, the driver starts over from the controller's state.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fuzz_nvme_priv.h"

const uint64_t nf_window_iova[NF_NR_WINDOWS] = { NF_W0_IOVA, NF_W1_IOVA, NF_W2_IOVA };
const uint64_t nf_window_size[NF_NR_WINDOWS] = { NF_W0_SIZE, NF_W1_SIZE, NF_W2_SIZE };

/* ---- Memory ---- */

bool nf_window_map(struct nf_guest *g, unsigned w, bool swap)
{
    if (g->win[w]) {
        return false;
    }
    g->win[w] = fake_dma_map(g->dev, nf_window_iova[w], nf_window_size[w],
                             (w == NF_W2) != swap);
    if (!g->win[w]) {
        nf_die("cannot map guest window %u", w);
    }
    return true;
}

void nf_window_unmap(struct nf_guest *g, unsigned w)
{
    int refs;

    if (!g->win[w]) {
        return;
    }
    /* The controller is idle (settled): no command holds guest memory, so
     * once dma_unmap returns nothing may point into the window. */
    refs = fake_dma_unmap(g->dev, nf_window_iova[w]);
    g->win[w] = NULL;
    if (refs != 0) {
        nf_die("%d references to guest window %u outlived its unmap", refs, w);
    }
}

void nf_mem_write(struct nf_guest *g, uint64_t iova, const void *buf,
                  size_t len)
{
    for (unsigned w = 0; w < NF_NR_WINDOWS; w++) {
        uint64_t lo = nf_window_iova[w], hi = lo + nf_window_size[w];
        uint64_t from = iova > lo ? iova : lo;
        uint64_t to = iova + len < iova ? UINT64_MAX : iova + len;

        if (to > hi) {
            to = hi;
        }
        if (g->win[w] && from < to) {
            memcpy(g->win[w] + (from - lo), (const uint8_t *)buf + (from - iova),
                   (size_t)(to - from));
        }
    }
}

/* Host view of [iova, iova + len) if it lies in one mapped window. */
static void *gpa(struct nf_guest *g, uint64_t iova, size_t len)
{
    for (unsigned w = 0; w < NF_NR_WINDOWS; w++) {
        uint64_t lo = nf_window_iova[w];

        if (g->win[w] && iova >= lo && iova - lo <= nf_window_size[w] &&
            len <= nf_window_size[w] - (iova - lo)) {
            return g->win[w] + (iova - lo);
        }
    }
    return NULL;
}

/* ---- Registers and doorbells ---- */

void nf_reg_write(struct nf_guest *g, uint64_t off, const void *buf,
                  size_t len)
{
    (void)fake_region_write(g->dev, VFUD_REGION_BAR0, off, buf, len);
}

void nf_reg_read(struct nf_guest *g, uint64_t off, void *buf, size_t len)
{
    (void)fake_region_read(g->dev, VFUD_REGION_BAR0, off, buf, len);
}

static void reg_write32(struct nf_guest *g, uint64_t off, uint32_t v)
{
    nf_reg_write(g, off, &v, 4);
}

void nf_guest_forget(struct nf_guest *g)
{
    memset(g->q, 0, sizeof(g->q));
    memset(g->db_last, 0, sizeof(g->db_last));
}

/* Linux's nvme_dbbuf_need_event(): has the new value passed EventIdx? */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

void nf_doorbell(struct nf_guest *g, unsigned qid, bool cq, uint32_t v,
                 bool mmio)
{
    struct nvme_ctrl *c = g->c;
    uint32_t slot = 2 * qid + (cq ? 1 : 0);
    uint32_t old = g->db_last[slot];

    g->db_last[slot] = v;
    if (!mmio && c->dbbuf && qid != 0) {
        uint32_t *dbs = gpa(g, c->dbbuf_dbs.iova + slot * 4ull, 4);
        uint32_t *eis = gpa(g, c->dbbuf_eis.iova + slot * 4ull, 4);

        if (dbs) {
            __atomic_store_n(dbs, v, __ATOMIC_SEQ_CST);
        }
        if (eis && !need_event((uint16_t)__atomic_load_n(eis, __ATOMIC_SEQ_CST),
                               (uint16_t)v, (uint16_t)old)) {
            return;
        }
    }
    reg_write32(g, NVME_REG_DBS + slot * 4ull, v);
}

/* ---- Queues ---- */

bool nf_submit(struct nf_guest *g, unsigned qid, const struct nvme_sqe *sqe,
               bool ring, bool mmio)
{
    struct nvme_sq *sq = nvme_get_sq(g->c, (uint16_t)qid);
    struct nf_queue *q = &g->q[qid];

    if (!sq) {
        q->sq_known = false;
        return false;
    }
    if (!q->sq_known || q->sq_iova != sq->mem.iova || q->sq_size != sq->size) {
        q->sq_known = true;
        q->sq_iova = sq->mem.iova;
        q->sq_size = sq->size;
        q->sq_tail = sq->tail;
    }
    nf_mem_write(g, q->sq_iova + q->sq_tail * 64ull, sqe, sizeof(*sqe));
    q->sq_tail = (q->sq_tail + 1) % q->sq_size;
    if (ring) {
        nf_doorbell(g, qid, false, q->sq_tail, mmio);
    }
    return true;
}

unsigned nf_reap(struct nf_guest *g, unsigned qid, bool report)
{
    struct nvme_cq *cq = nvme_get_cq(g->c, (uint16_t)qid);
    struct nf_queue *q = &g->q[qid];
    unsigned n = 0;

    if (!cq) {
        q->cq_known = false;
        return 0;
    }
    if (!q->cq_known || q->cq_iova != cq->mem.iova || q->cq_size != cq->size) {
        /* Entries from head to tail are new; past the end of the queue
         * (tail < head) they carry the previous phase. */
        q->cq_known = true;
        q->cq_iova = cq->mem.iova;
        q->cq_size = cq->size;
        q->cq_head = cq->head;
        q->phase = cq->tail >= cq->head ? cq->phase : !cq->phase;
    }
    while (n < q->cq_size) {
        const struct nvme_cqe *e = gpa(g, q->cq_iova + q->cq_head * 16ull, 16);

        if (!e || (__atomic_load_n(&e->status, __ATOMIC_ACQUIRE) & 1) !=
                      (q->phase ? 1 : 0)) {
            break;
        }
        if (nf_trace) {
            fprintf(stderr, "  cqe q%u: cid %u sq %u head %u status 0x%03x dw0 0x%x\n",
                    qid, e->cid, e->sq_id, e->sq_head, (e->status >> 1) & 0x7ff,
                    e->dw0);
        }
        n++;
        if (++q->cq_head == q->cq_size) {
            q->cq_head = 0;
            q->phase = !q->phase;
        }
    }
    if (n && report) {
        nf_doorbell(g, qid, true, q->cq_head, false);
    }
    return n;
}

void nf_reap_all(struct nf_guest *g)
{
    /* Reporting room lets waiting completions in: go round until no CQ
     * has anything new (bounded: a CQ can refill only from its SQs). */
    for (unsigned round = 0; round < 64; round++) {
        unsigned n = 0;

        for (unsigned qid = 0; qid <= g->c->nr_io_queues; qid++) {
            n += nf_reap(g, qid, true);
        }
        nf_settle(g->c);
        if (n == 0) {
            break;
        }
    }
}

void nf_bringup(struct nf_guest *g)
{
    uint32_t cc = 0;
    uint32_t entries = NF_ADMIN_ENTRIES - 1;

    nf_reg_read(g, NVME_REG_CC, &cc, 4);
    if (cc & NVME_CC_EN) {
        reg_write32(g, NVME_REG_CC, 0);
    }
    nf_guest_forget(g);
    reg_write32(g, NVME_REG_AQA, entries | entries << 16);
    /* 64-bit registers as Linux writes them: low dword first */
    reg_write32(g, NVME_REG_ASQ, (uint32_t)NF_ASQ);
    reg_write32(g, NVME_REG_ASQ + 4, (uint32_t)(NF_ASQ >> 32));
    reg_write32(g, NVME_REG_ACQ, (uint32_t)NF_ACQ);
    reg_write32(g, NVME_REG_ACQ + 4, (uint32_t)(NF_ACQ >> 32));
    /* entry sizes first, then enable */
    cc = 6u << 16 | 4u << 20;
    reg_write32(g, NVME_REG_CC, cc);
    reg_write32(g, NVME_REG_CC, cc | NVME_CC_EN);
}
