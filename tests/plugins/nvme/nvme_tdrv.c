/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test driver's NVMe logic: see nvme_tdrv.h.  Nothing here knows how
 * the controller is reached (d->tr does).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_tdrv.h"

void td_init(struct tdrv *d, const struct td_transport *tr, void *priv)
{
    memset(d, 0, sizeof(*d));
    d->tr = tr;
    d->tr_priv = priv;
    d->next_free = TD_MEM_IOVA;
    d->timeout_ms = 5000;
}

uint64_t td_alloc(struct tdrv *d, uint64_t size, uint64_t align)
{
    uint64_t a = (d->next_free + align - 1) & ~(align - 1);

    d->next_free = a + size;
    if (d->next_free > TD_MEM_IOVA + TD_MEM_SIZE) {
        abort();
    }
    memset(d->mem + (a - TD_MEM_IOVA), 0, size);
    return a;
}

void *td_ptr(struct tdrv *d, uint64_t iova)
{
    return d->mem + (iova - TD_MEM_IOVA);
}

static void wr32(struct tdrv *d, uint64_t off, uint32_t v)
{
    d->tr->wr32(d, off, v);
}

static uint32_t rd32(struct tdrv *d, uint64_t off)
{
    return d->tr->rd32(d, off);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = { 0, (long)us * 1000 };

    nanosleep(&ts, NULL);
}

int td_wait_csts(struct tdrv *d, uint32_t mask, uint32_t val)
{
    int64_t deadline = now_ms() + d->timeout_ms;

    for (;;) {
        if ((rd32(d, NVME_REG_CSTS) & mask) == val) {
            return 0;
        }
        if (now_ms() > deadline) {
            return -ETIMEDOUT;
        }
        sleep_us(100);
    }
}

int td_enable(struct tdrv *d, uint32_t n)
{
    struct td_queue *q = &d->q[0];

    memset(q, 0, sizeof(*q));
    d->shadow = false;
    q->used = true;
    q->size = n;
    q->phase = true;
    q->sq_iova = td_alloc(d, n * 64ull, 4096);
    q->cq_iova = td_alloc(d, n * 16ull, 4096);
    wr32(d, NVME_REG_AQA, (n - 1) | (n - 1) << 16);
    d->tr->wr64(d, NVME_REG_ASQ, q->sq_iova);
    d->tr->wr64(d, NVME_REG_ACQ, q->cq_iova);
    wr32(d, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
    return td_wait_csts(d, NVME_CSTS_RDY, NVME_CSTS_RDY);
}

int td_disable(struct tdrv *d)
{
    wr32(d, NVME_REG_CC, 0);
    for (int i = 1; i < TD_MAXQ; i++) {
        d->q[i].used = false;
    }
    d->shadow = false;
    return td_wait_csts(d, NVME_CSTS_RDY, 0);
}

static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

static void write_doorbell(struct tdrv *d, uint16_t qid, bool cq, uint32_t v,
                           uint32_t old)
{
    uint32_t slot = 2u * qid + (cq ? 1 : 0);

    if (d->shadow && qid != 0) {
        volatile uint32_t *dbs = td_ptr(d, d->dbs_iova);
        volatile uint32_t *eis = td_ptr(d, d->eis_iova);

        dbs[slot] = v;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!need_event((uint16_t)eis[slot], (uint16_t)v, (uint16_t)old)) {
            return;
        }
    }
    if (qid != 0) {
        d->rings++;
    }
    if (d->db_page) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        d->db_page[slot] = v;
        return;
    }
    d->tr->doorbell(d, NVME_REG_DBS + slot * 4ull, v);
}

uint16_t td_queue_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe)
{
    struct td_queue *q = &d->q[qid];

    sqe->cid = q->next_cid++;
    memcpy(td_ptr(d, q->sq_iova + q->sq_tail * 64ull), sqe, 64);
    q->sq_tail = (q->sq_tail + 1) % q->size;
    return sqe->cid;
}

void td_ring(struct tdrv *d, uint16_t qid)
{
    struct td_queue *q = &d->q[qid];

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    write_doorbell(d, qid, false, q->sq_tail, q->last_rung);
    q->last_rung = q->sq_tail;
}

uint16_t td_submit(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe)
{
    uint16_t cid = td_queue_cmd(d, qid, sqe);

    td_ring(d, qid);
    return cid;
}

bool td_cqe_ready(struct tdrv *d, uint16_t qid)
{
    struct td_queue *q = &d->q[qid];
    volatile struct nvme_cqe *e = td_ptr(d, q->cq_iova + q->cq_head * 16ull);

    return (e->status & 1) == (q->phase ? 1 : 0);
}

void td_consume(struct tdrv *d, uint16_t qid, struct nvme_cqe *cqe)
{
    struct td_queue *q = &d->q[qid];

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(cqe, td_ptr(d, q->cq_iova + q->cq_head * 16ull), 16);
    q->cq_head++;
    if (q->cq_head == q->size) {
        q->cq_head = 0;
        q->phase = !q->phase;
    }
}

void td_cq_ring(struct tdrv *d, uint16_t qid)
{
    struct td_queue *q = &d->q[qid];

    if (q->cq_head == q->cq_rung) {
        return;
    }
    write_doorbell(d, qid, true, q->cq_head, q->cq_rung);
    q->cq_rung = q->cq_head;
}

int td_wait(struct tdrv *d, uint16_t qid, struct nvme_cqe *cqe)
{
    int64_t deadline = now_ms() + d->timeout_ms;

    while (!td_cqe_ready(d, qid)) {
        int64_t left = deadline - now_ms();

        if (left < 0) {
            return -ETIMEDOUT;
        }
        /* In slices: an interrupt is not the only way a CQE shows up (a
         * polled queue, or one whose vector the test never connected). */
        d->tr->idle(d, d->q[qid].vector, left < 100 ? (int)left : 100);
    }
    td_consume(d, qid, cqe);
    td_cq_ring(d, qid);
    return 0;
}

int td_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe,
           struct nvme_cqe *cqe)
{
    struct nvme_cqe tmp;
    uint16_t cid;

    if (!cqe) {
        cqe = &tmp;
    }
    cid = td_submit(d, qid, sqe);
    if (td_wait(d, qid, cqe) < 0) {
        return -1;
    }
    if (cqe->cid != cid) {
        return -2;
    }
    return td_status(cqe);
}

static int create_io_queue(struct tdrv *d, uint16_t qid, uint32_t size,
                           bool ien)
{
    struct td_queue *q = &d->q[qid];
    struct nvme_sqe c;
    int st;

    memset(q, 0, sizeof(*q));
    q->qid = qid;
    q->size = size;
    q->phase = true;
    q->vector = qid;
    q->cq_iova = td_alloc(d, size * 16ull, 4096);
    q->sq_iova = td_alloc(d, size * 64ull, 4096);

    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_CREATE_CQ;
    c.dptr1 = q->cq_iova;
    c.cdw10 = qid | (size - 1) << 16;
    c.cdw11 = 1 | (ien ? 2 : 0) | (uint32_t)qid << 16;
    st = td_cmd(d, 0, &c, NULL);
    if (st) {
        return st;
    }
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_CREATE_SQ;
    c.dptr1 = q->sq_iova;
    c.cdw10 = qid | (size - 1) << 16;
    c.cdw11 = 1 | (uint32_t)qid << 16;
    st = td_cmd(d, 0, &c, NULL);
    if (st == 0) {
        q->used = true;
    }
    return st;
}

int td_create_io_queue(struct tdrv *d, uint16_t qid, uint32_t size)
{
    return create_io_queue(d, qid, size, true);
}

int td_create_io_queue_polled(struct tdrv *d, uint16_t qid, uint32_t size)
{
    return create_io_queue(d, qid, size, false);
}

int td_enable_shadow(struct tdrv *d)
{
    struct nvme_sqe c;
    int st;

    d->dbs_iova = td_alloc(d, 4096, 4096);
    d->eis_iova = td_alloc(d, 4096, 4096);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_DBBUF_CONFIG;
    c.dptr1 = d->dbs_iova;
    c.dptr2 = d->eis_iova;
    st = td_cmd(d, 0, &c, NULL);
    if (st == 0) {
        d->shadow = true;
    }
    return st;
}

void td_build_prp_at(struct tdrv *d, struct nvme_sqe *sqe, uint64_t first,
                     const uint64_t *pages, unsigned npages,
                     uint64_t list_iova)
{
    uint64_t *ent;
    uint64_t pos = list_iova;

    sqe->dptr1 = first;
    if (npages == 0) {
        sqe->dptr2 = 0;
        return;
    }
    if (npages == 1) {
        sqe->dptr2 = pages[0];
        return;
    }
    sqe->dptr2 = list_iova;
    for (unsigned i = 0; i < npages; i++) {
        unsigned left = npages - i;

        /* last slot of a list page, with more than one entry to go: chain */
        if ((pos & 4095) == 4096 - 8 && left > 1) {
            uint64_t next = td_alloc(d, 4096, 4096);

            ent = td_ptr(d, pos);
            *ent = next;
            pos = next;
        }
        ent = td_ptr(d, pos);
        *ent = pages[i];
        pos += 8;
    }
}

void td_build_prp(struct tdrv *d, struct nvme_sqe *sqe, uint64_t first,
                  const uint64_t *pages, unsigned npages)
{
    uint64_t list = npages > 1 ? td_alloc(d, 4096, 4096) : 0;

    td_build_prp_at(d, sqe, first, pages, npages, list);
}

static bool cqe_posted(struct tdrv *d, uint16_t qid, unsigned ahead)
{
    const struct td_queue *q = &d->q[qid];
    unsigned i = (q->cq_head + ahead) % q->size;
    bool phase = (q->cq_head + ahead) / q->size ? !q->phase : q->phase;
    volatile struct nvme_cqe *e = td_ptr(d, q->cq_iova + i * 16ull);

    return (e->status & 1) == (phase ? 1 : 0);
}

bool td_wait_cqe_posted(struct tdrv *d, uint16_t qid, unsigned ahead, int ms)
{
    for (int i = 0; i < ms && !cqe_posted(d, qid, ahead); i++) {
        usleep(1000);
    }
    return cqe_posted(d, qid, ahead);
}

bool td_wait_sq_eventidx(struct tdrv *d, uint16_t qid, int ms)
{
    volatile uint32_t *eis = td_ptr(d, d->eis_iova);

    for (int i = 0; i < ms && __atomic_load_n(&eis[2u * qid], __ATOMIC_ACQUIRE) !=
                                  d->q[qid].sq_tail; i++) {
        usleep(1000);
    }
    return eis[2u * qid] == d->q[qid].sq_tail;
}

void td_shadow_tail_only(struct tdrv *d, uint16_t qid)
{
    volatile uint32_t *dbs = td_ptr(d, d->dbs_iova);

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    dbs[2u * qid] = d->q[qid].sq_tail;   /* (last_rung stays: td_ring rings) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void queue_read(struct tdrv *d, uint16_t qid, uint64_t buf, unsigned i)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = NVME_CMD_READ;
    c.nsid = 1;
    c.cdw10 = i * 8u;
    c.cdw12 = 7;   /* 8 blocks of 512 bytes: buf's page */
    c.dptr1 = buf;
    td_queue_cmd(d, qid, &c);
}

static int consume_ok(struct tdrv *d, uint16_t qid, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct nvme_cqe e;

        if (td_wait(d, qid, &e) != 0 || td_status(&e) != 0) {
            return -1;
        }
    }
    td_cq_ring(d, qid);
    return 0;
}

int td_shadow_hold_probe(struct tdrv *d, uint16_t qid, uint64_t buf,
                         unsigned tries)
{
    volatile uint32_t *eis = td_ptr(d, d->eis_iova);
    const struct td_queue *q = &d->q[qid];

    /* Under load the probe may look too late (the hold lasts 1 ms after
     * the last command): try again, each time with 4 completions left
     * unconsumed. */
    for (unsigned t = 0; t < tries; t++) {
        for (unsigned i = 0; i < 4; i++) {
            queue_read(d, qid, buf, i);
        }
        td_ring(d, qid);
        if (!td_wait_cqe_posted(d, qid, 3, 5000)) {
            return -1;
        }
        queue_read(d, qid, buf, 4);
        td_shadow_tail_only(d, qid);
        if (td_wait_cqe_posted(d, qid, 4, 200)) {
            return 1;
        }
        /* the hold had ended: EventIdx published, a doorbell owed */
        if (eis[2u * qid] != (q->sq_tail + q->size - 1) % q->size) {
            return -1;
        }
        td_ring(d, qid);
        if (!td_wait_cqe_posted(d, qid, 4, 5000) || consume_ok(d, qid, 5) != 0) {
            return -1;
        }
    }
    return 0;
}

int td_rw(struct tdrv *d, uint16_t qid, uint8_t opc, uint64_t slba,
          uint32_t nlb, uint64_t buf_iova, uint32_t flags_cdw12)
{
    struct nvme_sqe c;
    uint64_t len = (uint64_t)nlb * 512; /* callers use 512-byte formats */
    uint64_t pages[64];
    unsigned n = 0;
    uint64_t first_len = 4096 - (buf_iova & 4095);

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    c.nsid = 1;
    c.cdw10 = (uint32_t)slba;
    c.cdw11 = (uint32_t)(slba >> 32);
    c.cdw12 = (nlb - 1) | flags_cdw12;
    if (len > first_len) {
        for (uint64_t a = (buf_iova & ~4095ull) + 4096;
             a < buf_iova + len && n < 64; a += 4096) {
            pages[n++] = a;
        }
    }
    td_build_prp(d, &c, buf_iova, pages, n);
    return td_cmd(d, qid, &c, NULL);
}
