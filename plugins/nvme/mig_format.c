/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe controller's migration state on the wire (state version 3;
 * version 2 is version 3 without the CHANGED_NS record, version 1 is
 * version 2 without the HOST record).
 *
 * A sequence of records, every integer little-endian, written field by
 * field (never a struct dump, so the layout is the same for every build):
 *
 *   u16 tag, u16 reserved (0), u32 body length, body
 *
 * Each record has one exact body length (or a count and that many fixed
 * entries); a reader refuses any other length, an unknown tag, a repeated
 * singleton and a missing required record.  A later version adds tags or
 * fields and raises the state version: a version-1 reader never sees them.
 *
 *   1 IDENT     u32 I/O queue pairs, u32 MQES+1, u32 doorbell mode (0
 *               shadow, 1 poll), u32 NN, u32 namespaces, u32 flags (bit 0:
 *               volatile write cache present), serial[20], model[40]
 *               (NUL padded)
 *   2 NS        u32 nsid, u64 size in blocks, u8 LBA shift (9 or 12), u8
 *               read-only, u16 0, EUI-64[8], NGUID[16], UUID[16]
 *               (once per namespace)
 *   3 REGS      u32 CC, CSTS, INTMS, AQA, CC at enable; u64 ASQ, ACQ
 *   4 CTRL      u32 flags (bit 0 enabled, 1 fatal, 2 shutting down, 3
 *               shutdown done, 4 INTx asserted, 5 shadow doorbell buffer
 *               configured); u64 shadow doorbells IOVA, u64 EventIdx IOVA
 *   5 DOORBELLS u32 n, n x u32: the trapped doorbell slots (shadow mode)
 *   6 CQ        u16 qid, u16 vector, u32 flags (bit 0 IEN, bit 1 phase),
 *               u64 IOVA, u32 size, u32 head, u32 tail   (once per CQ)
 *   7 SQ        u16 qid, u16 CQ id, u64 IOVA, u32 size, u32 head, u32 tail,
 *               u32 EventIdx published                   (once per SQ)
 *   8 WAIT      u16 CQ id, u16 SQ id, u16 CID, u16 status, u32 DW0: a
 *               completion waiting for CQ room, in posting order
 *   9 AER       u32 n, n x u16: CIDs of outstanding Asynchronous Event
 *               Requests
 *  10 EVENTS    u32 event types awaiting a log read, u32 n, n x u32:
 *               events not yet reported (type | info << 8 | log << 16)
 *  11 FEATURES  u32 arbitration, error recovery, interrupt coalescing,
 *               async event config, write atomicity; u16 temperature
 *               over, under; u32 flags (bit 0 volatile write cache
 *               enabled); 5 x u32 interrupt-vector coalescing-disable bits
 *  12 SMART     u64 data units read, written, host reads, writes, media
 *               errors, error log entries, power cycles, unsafe
 *               shutdowns, power-on seconds
 *  13 ERRLOG    u64 error count; 4 x (u64 count, u16 SQ id, u16 CID, u16
 *               status, u16 parameter location, u64 LBA, u32 nsid)
 *  14 HOST      (version 2) u32 Keep Alive Timeout in ms, u8 Host Behavior
 *               Support ACRE, 3 x u8 0
 *  15 CHANGED_NS (version 3) u32 n listed, u32 m pending, n x u32: the
 *               Changed Namespace List (log page 04h) not yet read, m x
 *               u32: namespaces changed and not listed yet (their notice
 *               is raised on the destination); each nsid 1..NN, none
 *               twice
 *
 * Required: IDENT, REGS, CTRL, FEATURES, SMART, ERRLOG.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_mig.h"

enum {
    REC_IDENT = 1,
    REC_NS,
    REC_REGS,
    REC_CTRL,
    REC_DOORBELLS,
    REC_CQ,
    REC_SQ,
    REC_WAIT,
    REC_AER,
    REC_EVENTS,
    REC_FEATURES,
    REC_SMART,
    REC_ERRLOG,
    REC_HOST,
    REC_CHANGED_NS,
    REC_MAX = REC_CHANGED_NS,
};

#define REC_HEADER 8u
#define IDENT_SIZE 84u
#define NS_SIZE 56u
#define REGS_SIZE 36u
#define CTRL_SIZE 20u
#define CQ_SIZE 28u
#define SQ_SIZE 28u
#define WAIT_SIZE 12u
#define FEATURES_SIZE 48u
#define HOST_SIZE 8u
#define SMART_SIZE 72u
#define ERR_ENTRY_SIZE 28u
#define ERRLOG_SIZE (8u + 4u * ERR_ENTRY_SIZE)

#define IDENT_F_VWC 1u
#define CTRL_F_ENABLED 1u
#define CTRL_F_FATAL 2u
#define CTRL_F_SHUTTING_DOWN 4u
#define CTRL_F_SHUTDOWN_DONE 8u
#define CTRL_F_INTX 16u
#define CTRL_F_DBBUF 32u
#define CTRL_F_ALL 63u
#define CQ_F_IEN 1u
#define CQ_F_PHASE 2u
#define FEAT_F_WCE 1u

_Static_assert(NVME_MIG_IRQ_CD_WORDS == 5, "FEATURES carries 5 words of bits");
_Static_assert(sizeof(((struct nvme_ctrl *)0)->errlog) /
                   sizeof(((struct nvme_ctrl *)0)->errlog[0]) == 4,
               "ERRLOG carries 4 entries");

/* ------------------------------------------------------------------------
 * Writing
 */
struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static uint8_t *w_room(struct wbuf *b, size_t n)
{
    if (b->oom) {
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        uint8_t *p;

        while (cap < b->len + n) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    b->len += n;
    return b->p + b->len - n;
}

static void w8(struct wbuf *b, uint8_t v)
{
    uint8_t *p = w_room(b, 1);

    if (p) {
        p[0] = v;
    }
}

static void w16(struct wbuf *b, uint16_t v)
{
    uint8_t *p = w_room(b, 2);

    if (p) {
        nvme_put16(p, v);
    }
}

static void w32(struct wbuf *b, uint32_t v)
{
    uint8_t *p = w_room(b, 4);

    if (p) {
        nvme_put32(p, v);
    }
}

static void w64(struct wbuf *b, uint64_t v)
{
    uint8_t *p = w_room(b, 8);

    if (p) {
        nvme_put64(p, v);
    }
}

static void wbytes(struct wbuf *b, const void *src, size_t n)
{
    uint8_t *p = w_room(b, n);

    if (p) {
        memcpy(p, src, n);
    }
}

/* A string in a fixed field, NUL padded. */
static void wstr(struct wbuf *b, const char *s, size_t field)
{
    uint8_t *p = w_room(b, field);

    if (p) {
        memset(p, 0, field);
        memcpy(p, s, strnlen(s, field));
    }
}

static size_t rec_begin(struct wbuf *b, uint16_t tag)
{
    size_t at = b->len;

    w16(b, tag);
    w16(b, 0);
    w32(b, 0);
    return at;
}

static void rec_end(struct wbuf *b, size_t at)
{
    if (!b->oom) {
        nvme_put32(b->p + at + 4, (uint32_t)(b->len - at - REC_HEADER));
    }
}

static void put_ident(struct wbuf *b, const struct nvme_mig *m)
{
    size_t at = rec_begin(b, REC_IDENT);

    w32(b, m->nr_io_queues);
    w32(b, m->max_q_entries);
    w32(b, m->db_mode);
    w32(b, m->nn);
    w32(b, m->nr_ns);
    w32(b, m->vwc ? IDENT_F_VWC : 0);
    wstr(b, m->serial, 20);
    wstr(b, m->model, 40);
    rec_end(b, at);
    for (unsigned i = 0; i < m->nr_ns; i++) {
        const struct nvme_mig_ns *ns = &m->ns[i];

        at = rec_begin(b, REC_NS);
        w32(b, ns->nsid);
        w64(b, ns->nsze);
        w8(b, (uint8_t)ns->lba_shift);
        w8(b, ns->read_only ? 1 : 0);
        w16(b, 0);
        wbytes(b, ns->eui64, 8);
        wbytes(b, ns->nguid, 16);
        wbytes(b, ns->uuid, 16);
        rec_end(b, at);
    }
}

static void put_regs(struct wbuf *b, const struct nvme_mig *m)
{
    size_t at = rec_begin(b, REC_REGS);

    w32(b, m->cc);
    w32(b, m->csts);
    w32(b, m->intms);
    w32(b, m->aqa);
    w32(b, m->cc_at_enable);
    w64(b, m->asq);
    w64(b, m->acq);
    rec_end(b, at);
    if (m->have_db) {
        at = rec_begin(b, REC_DOORBELLS);
        w32(b, m->nr_db);
        for (unsigned i = 0; i < m->nr_db; i++) {
            w32(b, m->db[i]);
        }
        rec_end(b, at);
    }
}

static void put_queues(struct wbuf *b, const struct nvme_mig *m)
{
    uint32_t flags = (m->enabled ? CTRL_F_ENABLED : 0) |
                     (m->fatal ? CTRL_F_FATAL : 0) |
                     (m->shutting_down ? CTRL_F_SHUTTING_DOWN : 0) |
                     (m->shutdown_done ? CTRL_F_SHUTDOWN_DONE : 0) |
                     (m->intx_asserted ? CTRL_F_INTX : 0) |
                     (m->dbbuf ? CTRL_F_DBBUF : 0);
    size_t at = rec_begin(b, REC_CTRL);

    w32(b, flags);
    w64(b, m->dbbuf_dbs);
    w64(b, m->dbbuf_eis);
    rec_end(b, at);
    /* CQs before SQs: a reader sees a CQ before the SQs bound to it. */
    for (unsigned qid = 0; qid <= NVME_MAX_QUEUES; qid++) {
        const struct nvme_mig_cq *cq = &m->cq[qid];

        if (!cq->present) {
            continue;
        }
        at = rec_begin(b, REC_CQ);
        w16(b, (uint16_t)qid);
        w16(b, cq->vector);
        w32(b, (cq->ien ? CQ_F_IEN : 0) | (cq->phase ? CQ_F_PHASE : 0));
        w64(b, cq->iova);
        w32(b, cq->size);
        w32(b, cq->head);
        w32(b, cq->tail);
        rec_end(b, at);
    }
    for (unsigned qid = 0; qid <= NVME_MAX_QUEUES; qid++) {
        const struct nvme_mig_sq *sq = &m->sq[qid];

        if (!sq->present) {
            continue;
        }
        at = rec_begin(b, REC_SQ);
        w16(b, (uint16_t)qid);
        w16(b, sq->cqid);
        w64(b, sq->iova);
        w32(b, sq->size);
        w32(b, sq->head);
        w32(b, sq->tail);
        w32(b, sq->eventidx);
        rec_end(b, at);
    }
    for (unsigned i = 0; i < m->nr_waiting; i++) {
        const struct nvme_mig_cqe *e = &m->waiting[i];

        at = rec_begin(b, REC_WAIT);
        w16(b, e->cqid);
        w16(b, e->sqid);
        w16(b, e->cid);
        w16(b, e->status);
        w32(b, e->dw0);
        rec_end(b, at);
    }
}

static void put_events(struct wbuf *b, const struct nvme_mig *m)
{
    size_t at;

    if (m->nr_aer) {
        at = rec_begin(b, REC_AER);
        w32(b, m->nr_aer);
        for (unsigned i = 0; i < m->nr_aer; i++) {
            w16(b, m->aer_cid[i]);
        }
        rec_end(b, at);
    }
    if (m->nr_events || m->masked_event_types) {
        at = rec_begin(b, REC_EVENTS);
        w32(b, m->masked_event_types);
        w32(b, m->nr_events);
        for (unsigned i = 0; i < m->nr_events; i++) {
            w32(b, m->events[i]);
        }
        rec_end(b, at);
    }
}

static void put_features_logs(struct wbuf *b, const struct nvme_mig *m)
{
    size_t at = rec_begin(b, REC_FEATURES);

    w32(b, m->feat_arbitration);
    w32(b, m->feat_err_recovery);
    w32(b, m->feat_irq_coalesce);
    w32(b, m->feat_async_event);
    w32(b, m->feat_write_atomic);
    w16(b, m->temp_over);
    w16(b, m->temp_under);
    w32(b, m->wce ? FEAT_F_WCE : 0);
    for (unsigned i = 0; i < NVME_MIG_IRQ_CD_WORDS; i++) {
        w32(b, m->irq_config_cd[i]);
    }
    rec_end(b, at);

    at = rec_begin(b, REC_SMART);
    w64(b, m->smart.data_units_read);
    w64(b, m->smart.data_units_written);
    w64(b, m->smart.host_reads);
    w64(b, m->smart.host_writes);
    w64(b, m->smart.media_errors);
    w64(b, m->smart.err_log_entries);
    w64(b, m->smart.power_cycles);
    w64(b, m->smart.unsafe_shutdowns);
    w64(b, m->power_on_secs);
    rec_end(b, at);

    at = rec_begin(b, REC_ERRLOG);
    w64(b, m->err_count);
    for (unsigned i = 0; i < 4; i++) {
        const struct nvme_err_entry *e = &m->errlog[i];

        w64(b, e->count);
        w16(b, e->sqid);
        w16(b, e->cid);
        w16(b, e->status);
        w16(b, e->param_loc);
        w64(b, e->lba);
        w32(b, e->nsid);
    }
    rec_end(b, at);

    at = rec_begin(b, REC_HOST);
    w32(b, m->kato);
    w8(b, m->hbs_acre);
    w8(b, 0);
    w16(b, 0);
    rec_end(b, at);

    if (m->nr_changed_ns || m->nr_changed_pending) {
        at = rec_begin(b, REC_CHANGED_NS);
        w32(b, m->nr_changed_ns);
        w32(b, m->nr_changed_pending);
        for (unsigned i = 0; i < m->nr_changed_ns; i++) {
            w32(b, m->changed_ns[i]);
        }
        for (unsigned i = 0; i < m->nr_changed_pending; i++) {
            w32(b, m->changed_pending[i]);
        }
        rec_end(b, at);
    }
}

int nvme_mig_encode(const struct nvme_mig *m, vfud_mig_stream *out)
{
    struct wbuf b = { 0 };
    int r;

    put_ident(&b, m);
    put_regs(&b, m);
    put_queues(&b, m);
    put_events(&b, m);
    put_features_logs(&b, m);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    r = vfud_mig_write(out, b.p, b.len);
    free(b.p);
    return r;
}

/* ------------------------------------------------------------------------
 * Reading
 */

/* A record's body; lengths are checked before any field is read, so the
 * cursor never runs past the end (it stops there if it would). */
struct rcur {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *r_take(struct rcur *r, size_t n)
{
    const uint8_t *p = r->p;

    if (n > r->left) {
        r->left = 0;
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return p;
}

static uint8_t r8(struct rcur *r)
{
    const uint8_t *p = r_take(r, 1);

    return p ? p[0] : 0;
}

static uint16_t r16(struct rcur *r)
{
    const uint8_t *p = r_take(r, 2);

    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t r32(struct rcur *r)
{
    const uint8_t *p = r_take(r, 4);

    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                   (uint32_t)p[3] << 24
             : 0;
}

static uint64_t r64(struct rcur *r)
{
    uint64_t lo = r32(r);

    return lo | (uint64_t)r32(r) << 32;
}

static void rbytes(struct rcur *r, void *dst, size_t n)
{
    const uint8_t *p = r_take(r, n);

    if (p) {
        memcpy(dst, p, n);
    } else {
        memset(dst, 0, n);
    }
}

struct decoder {
    struct nvme_mig *m;
    uint32_t version;
    char *why;
    size_t why_len;
    unsigned seen[REC_MAX + 1];
};

static int bad(struct decoder *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad(struct decoder *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->why, d->why_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A fixed string field: printable ASCII, then NULs only. */
static int get_str(struct decoder *d, struct rcur *r, char *dst, size_t field,
                   const char *what)
{
    const uint8_t *p = r_take(r, field);
    size_t n = 0;

    if (!p) {
        return bad(d, "%s cut off", what);
    }
    while (n < field && p[n]) {
        if (p[n] < 0x20 || p[n] > 0x7e) {
            return bad(d, "%s is not printable ASCII", what);
        }
        n++;
    }
    for (size_t i = n; i < field; i++) {
        if (p[i]) {
            return bad(d, "%s is not NUL padded", what);
        }
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

static int rec_ident(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    uint32_t flags;
    int e;

    m->nr_io_queues = r32(r);
    m->max_q_entries = r32(r);
    m->db_mode = r32(r);
    m->nn = r32(r);
    m->nr_ns = r32(r);
    flags = r32(r);
    if (flags & ~IDENT_F_VWC) {
        return bad(d, "unknown identity flags %#x", flags);
    }
    m->vwc = flags & IDENT_F_VWC;
    e = get_str(d, r, m->serial, 20, "serial number");
    if (e == 0) {
        e = get_str(d, r, m->model, 40, "model");
    }
    if (e < 0) {
        return e;
    }
    if (m->nr_io_queues < 1 || m->nr_io_queues > NVME_MAX_QUEUES ||
        m->db_mode > NVME_DB_POLL || m->nn > NVME_MAX_NS ||
        m->nr_ns > m->nn) {
        return bad(d, "impossible identity (%u queue pairs, doorbell mode %u, "
                   "NN %u, %u namespaces)", m->nr_io_queues, m->db_mode, m->nn,
                   m->nr_ns);
    }
    return 0;
}

static int rec_ns(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    struct nvme_mig_ns *ns;
    uint8_t ro;

    if (!d->seen[REC_IDENT] || d->seen[REC_NS] > m->nr_ns) {
        return bad(d, "a namespace record not announced by the identity");
    }
    ns = &m->ns[d->seen[REC_NS] - 1];
    ns->nsid = r32(r);
    ns->nsze = r64(r);
    ns->lba_shift = r8(r);
    ro = r8(r);
    (void)r16(r);
    rbytes(r, ns->eui64, 8);
    rbytes(r, ns->nguid, 16);
    rbytes(r, ns->uuid, 16);
    if (ro > 1 || (ns->lba_shift != 9 && ns->lba_shift != 12)) {
        return bad(d, "namespace %u: bad format (LBA shift %u, read-only %u)",
                   ns->nsid, ns->lba_shift, ro);
    }
    ns->read_only = ro;
    for (unsigned i = 0; i + 1 < d->seen[REC_NS]; i++) {
        if (m->ns[i].nsid == ns->nsid) {
            return bad(d, "namespace %u appears twice", ns->nsid);
        }
    }
    return 0;
}

static int rec_regs(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;

    m->cc = r32(r);
    m->csts = r32(r);
    m->intms = r32(r);
    m->aqa = r32(r);
    m->cc_at_enable = r32(r);
    m->asq = r64(r);
    m->acq = r64(r);
    return 0;
}

static int rec_ctrl(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    uint32_t flags = r32(r);

    if (flags & ~CTRL_F_ALL) {
        return bad(d, "unknown controller flags %#x", flags);
    }
    m->enabled = flags & CTRL_F_ENABLED;
    m->fatal = flags & CTRL_F_FATAL;
    m->shutting_down = flags & CTRL_F_SHUTTING_DOWN;
    m->shutdown_done = flags & CTRL_F_SHUTDOWN_DONE;
    m->intx_asserted = flags & CTRL_F_INTX;
    m->dbbuf = flags & CTRL_F_DBBUF;
    m->dbbuf_dbs = r64(r);
    m->dbbuf_eis = r64(r);
    return 0;
}

static int rec_doorbells(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;

    m->have_db = true;
    m->nr_db = r32(r);
    if (m->nr_db > NVME_DB_SLOTS || r->left != 4ull * m->nr_db) {
        return bad(d, "doorbell record of %zu bytes for %u slots", r->left + 4,
                   m->nr_db);
    }
    for (unsigned i = 0; i < m->nr_db; i++) {
        m->db[i] = r32(r);
    }
    return 0;
}

static int rec_cq(struct decoder *d, struct rcur *r)
{
    uint16_t qid = r16(r);
    struct nvme_mig_cq *cq;
    uint32_t flags;

    if (qid > NVME_MAX_QUEUES || d->m->cq[qid].present) {
        return bad(d, "completion queue %u out of range or repeated", qid);
    }
    cq = &d->m->cq[qid];
    cq->present = true;
    cq->vector = r16(r);
    flags = r32(r);
    if (flags & ~(CQ_F_IEN | CQ_F_PHASE)) {
        return bad(d, "completion queue %u: unknown flags %#x", qid, flags);
    }
    cq->ien = flags & CQ_F_IEN;
    cq->phase = flags & CQ_F_PHASE;
    cq->iova = r64(r);
    cq->size = r32(r);
    cq->head = r32(r);
    cq->tail = r32(r);
    return 0;
}

static int rec_sq(struct decoder *d, struct rcur *r)
{
    uint16_t qid = r16(r);
    struct nvme_mig_sq *sq;

    if (qid > NVME_MAX_QUEUES || d->m->sq[qid].present) {
        return bad(d, "submission queue %u out of range or repeated", qid);
    }
    sq = &d->m->sq[qid];
    sq->present = true;
    sq->cqid = r16(r);
    sq->iova = r64(r);
    sq->size = r32(r);
    sq->head = r32(r);
    sq->tail = r32(r);
    sq->eventidx = r32(r);
    return 0;
}

static int rec_wait(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    struct nvme_mig_cqe *e;

    if (m->nr_waiting == NVME_MIG_MAX_WAITING) {
        return bad(d, "more than %u waiting completions", NVME_MIG_MAX_WAITING);
    }
    if (!m->waiting) {
        m->waiting = calloc(NVME_MIG_MAX_WAITING, sizeof(*m->waiting));
        if (!m->waiting) {
            return -ENOMEM;
        }
    }
    e = &m->waiting[m->nr_waiting++];
    e->cqid = r16(r);
    e->sqid = r16(r);
    e->cid = r16(r);
    e->status = r16(r);
    e->dw0 = r32(r);
    return 0;
}

static int rec_aer(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;

    m->nr_aer = r32(r);
    if (m->nr_aer > NVME_AERL + 1 || r->left != 2ull * m->nr_aer) {
        return bad(d, "event request record of %zu bytes for %u requests",
                   r->left + 4, m->nr_aer);
    }
    for (unsigned i = 0; i < m->nr_aer; i++) {
        m->aer_cid[i] = r16(r);
    }
    return 0;
}

static int rec_events(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    uint32_t masked = r32(r);

    m->nr_events = r32(r);
    if (masked > 0xff) {
        return bad(d, "masked event types %#x", masked);
    }
    m->masked_event_types = (uint8_t)masked;
    if (m->nr_events > NVME_MAX_EVENTS || r->left != 4ull * m->nr_events) {
        return bad(d, "event record of %zu bytes for %u events", r->left + 8,
                   m->nr_events);
    }
    for (unsigned i = 0; i < m->nr_events; i++) {
        m->events[i] = r32(r);
        if (m->events[i] >> 24) {
            return bad(d, "event %#x", m->events[i]);
        }
    }
    return 0;
}

static int rec_features(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    uint32_t flags;

    m->feat_arbitration = r32(r);
    m->feat_err_recovery = r32(r);
    m->feat_irq_coalesce = r32(r);
    m->feat_async_event = r32(r);
    m->feat_write_atomic = r32(r);
    m->temp_over = r16(r);
    m->temp_under = r16(r);
    flags = r32(r);
    if (flags & ~FEAT_F_WCE) {
        return bad(d, "unknown feature flags %#x", flags);
    }
    m->wce = flags & FEAT_F_WCE;
    for (unsigned i = 0; i < NVME_MIG_IRQ_CD_WORDS; i++) {
        m->irq_config_cd[i] = r32(r);
    }
    return 0;
}

static int rec_smart(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;

    m->smart.data_units_read = r64(r);
    m->smart.data_units_written = r64(r);
    m->smart.host_reads = r64(r);
    m->smart.host_writes = r64(r);
    m->smart.media_errors = r64(r);
    m->smart.err_log_entries = r64(r);
    m->smart.power_cycles = r64(r);
    m->smart.unsafe_shutdowns = r64(r);
    m->power_on_secs = r64(r);
    return 0;
}

static int rec_errlog(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;

    m->err_count = r64(r);
    for (unsigned i = 0; i < 4; i++) {
        struct nvme_err_entry *e = &m->errlog[i];

        e->count = r64(r);
        e->sqid = r16(r);
        e->cid = r16(r);
        e->status = r16(r);
        e->param_loc = r16(r);
        e->lba = r64(r);
        e->nsid = r32(r);
    }
    return 0;
}

static int rec_host(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    uint8_t pad1;
    uint16_t pad2;

    if (d->version < 2) {
        return bad(d, "a host record in a version %u stream", d->version);
    }
    m->kato = r32(r);
    m->hbs_acre = r8(r);
    pad1 = r8(r);
    pad2 = r16(r);
    if (m->hbs_acre > 1 || pad1 != 0 || pad2 != 0) {
        return bad(d, "host record: ACRE %u, reserved %#x %#x", m->hbs_acre,
                   pad1, pad2);
    }
    return 0;
}

/* n nsids into out: each a namespace of the identity, none twice. */
static int get_nsids(struct decoder *d, struct rcur *r, uint32_t *out,
                     unsigned n, const char *what)
{
    for (unsigned i = 0; i < n; i++) {
        out[i] = r32(r);
        if (out[i] == 0 || out[i] > d->m->nn || out[i] > NVME_MAX_NS) {
            return bad(d, "%s: namespace %u of %u", what, out[i], d->m->nn);
        }
        for (unsigned j = 0; j < i; j++) {
            if (out[j] == out[i]) {
                return bad(d, "%s: namespace %u twice", what, out[i]);
            }
        }
    }
    return 0;
}

static int rec_changed_ns(struct decoder *d, struct rcur *r)
{
    struct nvme_mig *m = d->m;
    int e;

    if (d->version < 3) {
        return bad(d, "a changed-namespace record in a version %u stream",
                   d->version);
    }
    m->nr_changed_ns = r32(r);
    m->nr_changed_pending = r32(r);
    if (m->nr_changed_ns > NVME_CHANGED_NS_MAX ||
        m->nr_changed_pending > NVME_MAX_NS ||
        r->left != 4ull * (m->nr_changed_ns + (uint64_t)m->nr_changed_pending)) {
        return bad(d, "changed-namespace record of %zu bytes for %u + %u "
                   "namespaces", r->left + 8, m->nr_changed_ns,
                   m->nr_changed_pending);
    }
    e = get_nsids(d, r, m->changed_ns, m->nr_changed_ns, "changed namespace list");
    if (e == 0) {
        e = get_nsids(d, r, m->changed_pending, m->nr_changed_pending,
                      "changed namespaces pending");
    }
    return e;
}

struct rec_type {
    const char *name;
    uint32_t size;     /* exact body length; 0: counted (checked inside) */
    uint32_t min_size; /* counted records: the fixed part */
    bool repeats;
    bool required;
    int (*parse)(struct decoder *d, struct rcur *r);
};

static const struct rec_type rec_types[REC_MAX + 1] = {
    [REC_IDENT] = { "identity", IDENT_SIZE, 0, false, true, rec_ident },
    [REC_NS] = { "namespace", NS_SIZE, 0, true, false, rec_ns },
    [REC_REGS] = { "registers", REGS_SIZE, 0, false, true, rec_regs },
    [REC_CTRL] = { "controller", CTRL_SIZE, 0, false, true, rec_ctrl },
    [REC_DOORBELLS] = { "doorbells", 0, 4, false, false, rec_doorbells },
    [REC_CQ] = { "completion queue", CQ_SIZE, 0, true, false, rec_cq },
    [REC_SQ] = { "submission queue", SQ_SIZE, 0, true, false, rec_sq },
    [REC_WAIT] = { "waiting completion", WAIT_SIZE, 0, true, false, rec_wait },
    [REC_AER] = { "event requests", 0, 4, false, false, rec_aer },
    [REC_EVENTS] = { "events", 0, 8, false, false, rec_events },
    [REC_FEATURES] = { "features", FEATURES_SIZE, 0, false, true, rec_features },
    [REC_SMART] = { "SMART", SMART_SIZE, 0, false, true, rec_smart },
    [REC_ERRLOG] = { "error log", ERRLOG_SIZE, 0, false, true, rec_errlog },
    [REC_HOST] = { "host", HOST_SIZE, 0, false, false, rec_host },
    [REC_CHANGED_NS] = { "changed namespaces", 0, 8, false, false,
                         rec_changed_ns },
};

void nvme_mig_free(struct nvme_mig *m)
{
    free(m->waiting);
    m->waiting = NULL;
    m->nr_waiting = 0;
}

static int decode(struct decoder *d, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    int r;

    while (pos < len) {
        const struct rec_type *t;
        uint16_t tag, rsvd;
        uint32_t blen;
        struct rcur body;

        if (len - pos < REC_HEADER) {
            return bad(d, "a record header is cut off at byte %zu", pos);
        }
        tag = (uint16_t)(p[pos] | p[pos + 1] << 8);
        rsvd = (uint16_t)(p[pos + 2] | p[pos + 3] << 8);
        blen = (uint32_t)p[pos + 4] | (uint32_t)p[pos + 5] << 8 |
               (uint32_t)p[pos + 6] << 16 | (uint32_t)p[pos + 7] << 24;
        pos += REC_HEADER;
        if (tag == 0 || tag > REC_MAX || rsvd != 0) {
            return bad(d, "unknown record %u (reserved %#x) at byte %zu", tag,
                       rsvd, pos - REC_HEADER);
        }
        t = &rec_types[tag];
        if (blen > len - pos) {
            return bad(d, "the %s record runs past the end (%u bytes, %zu "
                       "left)", t->name, blen, len - pos);
        }
        if ((t->size && blen != t->size) || (!t->size && blen < t->min_size)) {
            return bad(d, "%s record of %u bytes, expected %u", t->name, blen,
                       t->size ? t->size : t->min_size);
        }
        if (d->seen[tag] && !t->repeats) {
            return bad(d, "the %s record is repeated", t->name);
        }
        if (tag != REC_IDENT && !d->seen[REC_IDENT]) {
            return bad(d, "the stream does not start with the identity");
        }
        d->seen[tag]++;
        body.p = p + pos;
        body.left = blen;
        r = t->parse(d, &body);
        if (r < 0) {
            return r;
        }
        pos += blen;
    }
    for (unsigned tag = 1; tag <= REC_MAX; tag++) {
        if (rec_types[tag].required && !d->seen[tag]) {
            return bad(d, "the %s record is missing", rec_types[tag].name);
        }
    }
    if (d->seen[REC_NS] != d->m->nr_ns) {
        return bad(d, "%u namespace records, the identity announces %u",
                   d->seen[REC_NS], d->m->nr_ns);
    }
    return 0;
}

int nvme_mig_decode(const void *data, size_t len, uint32_t version,
                    struct nvme_mig *m, char *why, size_t why_len)
{
    struct decoder d = { .m = m, .version = version, .why = why,
                         .why_len = why_len };
    int r;

    memset(m, 0, sizeof(*m));
    if (version < 1 || version > NVME_STATE_VERSION) {
        return bad(&d, "state version %u, this plugin reads 1 to %u", version,
                   NVME_STATE_VERSION);
    }
    r = decode(&d, data, len);
    if (r < 0) {
        nvme_mig_free(m);
    }
    return r;
}
