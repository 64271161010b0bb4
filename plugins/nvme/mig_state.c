/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration, the controller's side: quiesce and resume, capturing the
 * state of a stopped controller, and on the destination checking a
 * decoded state against this controller's configuration, building its
 * queues and installing it (see nvme_mig.h for the order of things).
 *
 * Namespaces are not copied: storage is shared (the same file or device,
 * seen from both daemons).  The destination must have the same
 * namespaces, identifiers and sizes, and the same controller shape
 * (queues, queue entries, doorbell mode, serial, model), since the guest
 * has read them through Identify; otherwise the stream is refused.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_mig.h"

static struct nvme_ctrl *ctrl_of(vfud_dev *dev)
{
    return vfud_get_private(dev);
}

static uint64_t now_secs(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec;
}

/* ------------------------------------------------------------------------
 * Source
 */
int nvme_mig_quiesce(vfud_dev *dev, bool stop)
{
    /* a = 1: a hand-over on this host, whose files need no flush */
    return nvme_ctl_call(ctrl_of(dev), stop ? NVME_CTL_QUIESCE : NVME_CTL_RESUME,
                         stop && vfud_mig_handover(dev) ? 1 : 0, 0);
}

static void capture_queues(struct nvme_ctrl *c, struct nvme_mig *m)
{
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);
        struct nvme_sq *sq = nvme_get_sq(c, (uint16_t)qid);

        if (cq) {
            m->cq[qid] = (struct nvme_mig_cq){
                .present = true, .iova = cq->mem.iova, .size = cq->size,
                .head = cq->head, .tail = cq->tail, .phase = cq->phase,
                .ien = cq->ien, .vector = cq->vector,
            };
            for (struct nvme_req *r = cq->wait_head; r; r = r->next) {
                m->waiting[m->nr_waiting++] = (struct nvme_mig_cqe){
                    .cqid = (uint16_t)qid, .sqid = r->sq->qid,
                    .cid = r->cmd.cid, .status = r->status, .dw0 = r->dw0,
                };
            }
        }
        if (sq) {
            m->sq[qid] = (struct nvme_mig_sq){
                .present = true, .cqid = sq->cqid, .iova = sq->mem.iova,
                .size = sq->size, .head = sq->head, .tail = sq->tail,
                .eventidx = sq->eventidx,
            };
        }
    }
}

/* I/O thread, controller quiesced: every request is either free, an AER,
 * or a completion waiting for CQ room. */
int nvme_mig_capture(struct nvme_ctrl *c, struct nvme_mig *m)
{
    unsigned nr_ns = 0;

    m->waiting = calloc(NVME_MIG_MAX_WAITING, sizeof(*m->waiting));
    if (!m->waiting) {
        return -ENOMEM;
    }
    snprintf(m->serial, sizeof(m->serial), "%s", c->serial);
    snprintf(m->model, sizeof(m->model), "%s", c->model);
    m->nr_io_queues = c->nr_io_queues;
    m->max_q_entries = c->max_q_entries;
    m->db_mode = c->db_mode;
    m->nn = c->nn;
    m->vwc = c->vwc;
    for (uint32_t id = 1; id <= c->nn; id++) {
        const struct nvme_ns *ns = c->ns[id];

        if (!ns) {
            continue;
        }
        m->ns[nr_ns++] = (struct nvme_mig_ns){
            .nsid = id, .nsze = ns->nsze, .lba_shift = ns->lba_shift,
            .read_only = ns->read_only,
        };
        memcpy(m->ns[nr_ns - 1].eui64, ns->eui64, 8);
        memcpy(m->ns[nr_ns - 1].nguid, ns->nguid, 16);
        memcpy(m->ns[nr_ns - 1].uuid, ns->uuid, 16);
    }
    m->nr_ns = nr_ns;

    /* the device thread waits in nvme_ctl_call: its registers hold still */
    m->cc = c->cc;
    m->csts = atomic_load(&c->csts);
    m->intms = c->intms;
    m->aqa = c->aqa;
    m->cc_at_enable = atomic_load(&c->cc_at_enable);
    m->asq = c->asq;
    m->acq = c->acq;
    if (c->db_mode == NVME_DB_SHADOW) {
        m->have_db = true;
        m->nr_db = 2 * (c->nr_io_queues + 1);
        for (unsigned i = 0; i < m->nr_db; i++) {
            m->db[i] = atomic_load(&c->db[i]);
        }
    }

    m->enabled = c->enabled;
    m->fatal = c->fatal;
    m->shutting_down = c->shutting_down;
    m->shutdown_done = c->shutdown_done;
    m->intx_asserted = atomic_load(&c->intx_asserted);
    m->dbbuf = c->dbbuf;
    m->dbbuf_dbs = c->dbbuf ? c->dbbuf_dbs.iova : 0;
    m->dbbuf_eis = c->dbbuf ? c->dbbuf_eis.iova : 0;
    capture_queues(c, m);

    m->nr_aer = c->nr_aer;
    for (unsigned i = 0; i < c->nr_aer; i++) {
        m->aer_cid[i] = c->aer[i]->cmd.cid;
    }
    m->nr_events = c->nr_events;
    memcpy(m->events, c->events, sizeof(m->events));
    m->masked_event_types = c->masked_event_types;
    /* Read, not taken: a source that resumes (a move that failed) still
     * has to list the namespaces a back-end flagged. */
    m->nr_changed_ns = c->nr_changed_ns;
    memcpy(m->changed_ns, c->changed_ns, sizeof(m->changed_ns[0]) * c->nr_changed_ns);
    m->nr_changed_pending = 0;
    if (atomic_load(&c->ns_attr_changed)) {
        for (uint32_t nsid = 1; nsid <= NVME_MAX_NS; nsid++) {
            if (c->ns[nsid] && atomic_load(&c->ns[nsid]->attr_changed)) {
                m->changed_pending[m->nr_changed_pending++] = nsid;
            }
        }
    }

    m->feat_arbitration = c->feat_arbitration;
    m->feat_err_recovery = c->feat_err_recovery;
    m->feat_irq_coalesce = c->feat_irq_coalesce;
    m->feat_async_event = c->feat_async_event;
    m->feat_write_atomic = c->feat_write_atomic;
    m->temp_over = c->temp_over;
    m->temp_under = c->temp_under;
    m->wce = c->wce;
    memcpy(m->irq_config_cd, c->irq_config_cd, sizeof(m->irq_config_cd));
    m->kato = c->kato;
    m->hbs_acre = c->hbs_acre;

    m->smart = c->smart;
    m->power_on_secs = now_secs() - c->start_time;
    m->err_count = c->err_count;
    memcpy(m->errlog, c->errlog, sizeof(m->errlog));
    return 0;
}

int nvme_mig_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct nvme_ctrl *c = ctrl_of(dev);
    struct nvme_mig *m = calloc(1, sizeof(*m));
    int r;

    if (!m) {
        return -ENOMEM;
    }
    r = nvme_ctl_call(c, NVME_CTL_SAVE, (uintptr_t)m, 0);
    if (r == 0) {
        r = nvme_mig_encode(m, out);
    }
    if (r < 0) {
        vfud_error(dev, "nvme: cannot save the controller state: %s",
                   strerror(-r));
    }
    nvme_mig_free(m);
    free(m);
    return r;
}

/* ------------------------------------------------------------------------
 * Destination: checks
 */
struct checker {
    struct nvme_ctrl *c;
    const struct nvme_mig *m;
    char *why;
    size_t why_len;
};

static int refuse(struct checker *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(struct checker *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(k->why, k->why_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static unsigned configured_ns(const struct nvme_ctrl *c)
{
    unsigned n = 0;

    for (uint32_t id = 1; id <= c->nn; id++) {
        n += c->ns[id] != NULL;
    }
    return n;
}

static const char *db_mode_name(uint32_t mode)
{
    return mode == NVME_DB_POLL ? "poll" : "shadow";
}

static int check_identity(struct checker *k)
{
    const struct nvme_ctrl *c = k->c;
    const struct nvme_mig *m = k->m;

    if (m->nr_io_queues != c->nr_io_queues || m->max_q_entries != c->max_q_entries ||
        m->db_mode != c->db_mode) {
        return refuse(k, "the controller differs (stream: queues = %u, "
                      "queue-entries = %u, doorbells = %s; here: %u, %u, %s)",
                      m->nr_io_queues, m->max_q_entries, db_mode_name(m->db_mode),
                      c->nr_io_queues, c->max_q_entries, db_mode_name(c->db_mode));
    }
    if (strcmp(m->serial, c->serial) != 0 || strcmp(m->model, c->model) != 0) {
        return refuse(k, "the controller differs (stream: serial '%s' model "
                      "'%s'; here: '%s', '%s')", m->serial, m->model, c->serial,
                      c->model);
    }
    if (m->nn != c->nn || m->nr_ns != configured_ns(c)) {
        return refuse(k, "the namespaces differ (stream: %u namespaces, highest "
                      "nsid %u; here: %u, %u)", m->nr_ns, m->nn,
                      configured_ns(c), c->nn);
    }
    for (unsigned i = 0; i < m->nr_ns; i++) {
        const struct nvme_mig_ns *s = &m->ns[i];
        const struct nvme_ns *ns = s->nsid <= c->nn ? c->ns[s->nsid] : NULL;

        if (!ns) {
            return refuse(k, "namespace %u of the stream is not configured here",
                          s->nsid);
        }
        if (s->read_only != ns->read_only ||
            !nvme_ns_format_ok(ns, s->lba_shift) ||
            ns->size_bytes >> s->lba_shift != s->nsze) {
            return refuse(k, "namespace %u differs (stream: %llu blocks of %u "
                          "bytes%s; here: %llu bytes%s): both daemons must "
                          "use the same storage", s->nsid,
                          (unsigned long long)s->nsze, 1u << s->lba_shift,
                          s->read_only ? ", read-only" : "",
                          (unsigned long long)ns->size_bytes,
                          ns->read_only ? ", read-only" : "");
        }
        if (memcmp(s->eui64, ns->eui64, 8) != 0 ||
            memcmp(s->nguid, ns->nguid, 16) != 0 ||
            memcmp(s->uuid, ns->uuid, 16) != 0) {
            return refuse(k, "namespace %u has other identifiers here (EUI-64, "
                          "NGUID or UUID)", s->nsid);
        }
    }
    if (m->vwc != c->vwc) {
        return refuse(k, "the volatile write cache is %s in the stream, %s here",
                      m->vwc ? "present" : "absent", c->vwc ? "present" : "absent");
    }
    return 0;
}

static int check_regs(struct checker *k)
{
    const struct nvme_ctrl *c = k->c;
    const struct nvme_mig *m = k->m;
    unsigned need_db = 2 * (c->nr_io_queues + 1);

    if ((m->cc | m->cc_at_enable) & ~0x00fffff1u || m->aqa & ~0x0fff0fffu ||
        m->csts & ~0x1fu) {
        return refuse(k, "register values out of range (CC %#x, CSTS %#x, AQA "
                      "%#x)", m->cc, m->csts, m->aqa);
    }
    if (m->have_db != (c->db_mode == NVME_DB_SHADOW) ||
        (m->have_db && m->nr_db != need_db)) {
        return refuse(k, "%u doorbell slots in the stream, %u expected",
                      m->have_db ? m->nr_db : 0,
                      c->db_mode == NVME_DB_SHADOW ? need_db : 0);
    }
    if (m->enabled && !(m->cc & NVME_CC_EN)) {
        return refuse(k, "the controller is enabled with CC.EN clear");
    }
    if (m->enabled != ((m->csts & NVME_CSTS_RDY) != 0)) {
        return refuse(k, "CSTS.RDY is %s on a%s controller",
                      m->csts & NVME_CSTS_RDY ? "set" : "clear",
                      m->enabled ? "n enabled" : " disabled");
    }
    if (m->enabled != (m->sq[0].present && m->cq[0].present)) {
        return refuse(k, "the admin queues %s an enabled controller",
                      m->enabled ? "are missing from" : "exist without");
    }
    if (m->shutdown_done && !m->shutting_down) {
        return refuse(k, "shutdown complete without a shutdown");
    }
    return 0;
}

static int check_features(struct checker *k)
{
    const struct nvme_ctrl *c = k->c;
    const struct nvme_mig *m = k->m;

    if (m->feat_arbitration & ~0xffffff07u || m->feat_err_recovery & ~0x1ffffu ||
        m->feat_irq_coalesce > 0xffff || m->feat_write_atomic > 1 ||
        (m->wce && !c->vwc)) {
        return refuse(k, "feature values out of range");
    }
    for (unsigned iv = c->nr_vectors; iv < 32 * NVME_MIG_IRQ_CD_WORDS; iv++) {
        if (m->irq_config_cd[iv / 32] & (1u << (iv % 32))) {
            return refuse(k, "interrupt configuration of vector %u, which does "
                          "not exist", iv);
        }
    }
    return 0;
}

/* Request slots of the SQ the state gives: what nvme_sq_init gets. */
static unsigned sq_slots(const struct nvme_mig *m, unsigned qid)
{
    unsigned n = m->sq[qid].size - 1;

    if (qid == 0) {
        return NVME_ADMIN_REQS;
    }
    return n < NVME_MAX_INFLIGHT ? n : NVME_MAX_INFLIGHT;
}

static int check_queue_shape(struct checker *k, unsigned qid)
{
    const struct nvme_ctrl *c = k->c;
    const struct nvme_mig *m = k->m;
    const struct nvme_mig_cq *cq = &m->cq[qid];
    const struct nvme_mig_sq *sq = &m->sq[qid];
    /* The admin queues' sizes come from AQA (up to 4096 entries). */
    uint32_t max = qid == 0 ? 4096 : c->max_q_entries;

    if ((cq->present || sq->present) && (!m->enabled || qid > c->nr_io_queues)) {
        return refuse(k, "queue %u exists %s", qid,
                      m->enabled ? "beyond the queues offered"
                                 : "on a disabled controller");
    }
    if (cq->present &&
        (cq->size < 2 || cq->size > max || cq->head >= cq->size ||
         cq->tail >= cq->size || cq->vector >= c->nr_vectors || cq->iova == 0 ||
         (cq->iova & (NVME_PAGE_SIZE - 1)) ||
         (qid == 0 && (cq->vector != 0 || !cq->ien)))) {
        return refuse(k, "completion queue %u: size %u, head %u, tail %u, "
                      "vector %u, IOVA %#llx: out of range (at most %u entries, "
                      "%u vectors)", qid, cq->size, cq->head, cq->tail,
                      cq->vector, (unsigned long long)cq->iova, max,
                      c->nr_vectors);
    }
    if (sq->present &&
        (sq->size < 2 || sq->size > max || sq->head >= sq->size ||
         sq->tail >= sq->size || sq->eventidx >= sq->size || sq->iova == 0 ||
         (sq->iova & (NVME_PAGE_SIZE - 1)) ||
         (qid == 0 ? sq->cqid != 0
                   : sq->cqid == 0 || sq->cqid > c->nr_io_queues ||
                         !m->cq[sq->cqid].present))) {
        return refuse(k, "submission queue %u: size %u, head %u, tail %u, "
                      "EventIdx %u, CQ %u, IOVA %#llx: out of range or bound to "
                      "no completion queue", qid, sq->size, sq->head, sq->tail,
                      sq->eventidx, sq->cqid, (unsigned long long)sq->iova);
    }
    return 0;
}

static int check_queues(struct checker *k)
{
    const struct nvme_ctrl *c = k->c;
    const struct nvme_mig *m = k->m;
    unsigned used[NVME_MAX_QUEUES + 1] = { 0 };
    int r;

    for (unsigned qid = 0; qid <= NVME_MAX_QUEUES; qid++) {
        r = check_queue_shape(k, qid);
        if (r < 0) {
            return r;
        }
    }
    if (m->dbbuf &&
        (!m->enabled || c->db_mode != NVME_DB_SHADOW || m->dbbuf_dbs == 0 ||
         m->dbbuf_eis == 0 || ((m->dbbuf_dbs | m->dbbuf_eis) & (NVME_PAGE_SIZE - 1)))) {
        return refuse(k, "shadow doorbell buffers at %#llx and %#llx: not usable "
                      "here", (unsigned long long)m->dbbuf_dbs,
                      (unsigned long long)m->dbbuf_eis);
    }
    /* Every held request needs a slot of its SQ. */
    for (unsigned i = 0; i < m->nr_waiting; i++) {
        const struct nvme_mig_cqe *e = &m->waiting[i];

        if (e->cqid > NVME_MAX_QUEUES || e->sqid > NVME_MAX_QUEUES ||
            !m->cq[e->cqid].present || !m->sq[e->sqid].present ||
            m->sq[e->sqid].cqid != e->cqid || e->status >= 0x8000) {
            return refuse(k, "a completion (CID %u) waits for CQ %u from SQ %u, "
                          "which are not bound together", e->cid, e->cqid,
                          e->sqid);
        }
        used[e->sqid]++;
    }
    if (m->nr_aer && !m->enabled) {
        return refuse(k, "event requests on a disabled controller");
    }
    used[0] += m->nr_aer;
    for (unsigned qid = 0; qid <= NVME_MAX_QUEUES; qid++) {
        if (used[qid] && used[qid] > sq_slots(m, qid)) {
            return refuse(k, "submission queue %u holds %u commands, it has "
                          "%u slots", qid, used[qid], sq_slots(m, qid));
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Destination: building and installing
 */
static void load_free(struct nvme_mig_load *l)
{
    for (unsigned qid = 0; qid <= NVME_MAX_QUEUES; qid++) {
        if (l->sqs[qid]) {
            free(l->sqs[qid]->reqs);
            vfud_sg_free(l->sqs[qid]->sg_pool);
            free(l->sqs[qid]);
        }
        free(l->cqs[qid]);
    }
    memset(l, 0, sizeof(*l));
}

/* A request slot of sq, in use by a command of the given CID. */
static struct nvme_req *take_req(struct nvme_sq *sq, uint16_t cid,
                                 uint8_t opcode)
{
    struct nvme_req *req = sq->free_list;

    sq->free_list = req->next;
    req->next = NULL;
    memset(&req->cmd, 0, sizeof(req->cmd));
    req->cmd.cid = cid;
    req->cmd.opcode = opcode;
    req->nseg = req->nsg = req->niov = 0;
    req->pending = 0;
    req->res = 0;
    sq->inflight++;
    return req;
}

/* Every queue object, complete, before anything of the controller
 * changes (device thread; the new objects are nobody else's yet). */
static int load_build(struct nvme_ctrl *c, struct nvme_mig_load *l)
{
    const struct nvme_mig *m = l->m;

    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        const struct nvme_mig_cq *mc = &m->cq[qid];
        const struct nvme_mig_sq *ms = &m->sq[qid];

        if (mc->present) {
            l->cqs[qid] = malloc(sizeof(*l->cqs[qid]));
            if (!l->cqs[qid]) {
                return -ENOMEM;
            }
            nvme_cq_init(l->cqs[qid], (uint16_t)qid, mc->iova, mc->size,
                         mc->vector, mc->ien);
            l->cqs[qid]->head = mc->head;
            l->cqs[qid]->tail = mc->tail;
            l->cqs[qid]->phase = mc->phase;
        }
        if (ms->present) {
            l->sqs[qid] = malloc(sizeof(*l->sqs[qid]));
            if (!l->sqs[qid] ||
                nvme_sq_init(c, l->sqs[qid], (uint16_t)qid, ms->cqid, ms->iova,
                             ms->size, sq_slots(m, qid)) < 0) {
                free(l->sqs[qid]);
                l->sqs[qid] = NULL;
                return -ENOMEM;
            }
            l->sqs[qid]->head = ms->head;
            l->sqs[qid]->tail = ms->tail;
            l->sqs[qid]->eventidx = ms->eventidx;
        }
    }
    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        if (l->sqs[qid]) {
            l->cqs[l->sqs[qid]->cqid]->nr_sqs++;
        }
    }
    for (unsigned i = 0; i < m->nr_waiting; i++) {
        const struct nvme_mig_cqe *e = &m->waiting[i];
        struct nvme_cq *cq = l->cqs[e->cqid];
        struct nvme_req *req = take_req(l->sqs[e->sqid], e->cid, 0);

        req->status = e->status;
        req->dw0 = e->dw0;
        if (cq->wait_tail) {
            cq->wait_tail->next = req;
        } else {
            cq->wait_head = req;
        }
        cq->wait_tail = req;
    }
    for (unsigned i = 0; i < m->nr_aer; i++) {
        l->aer[i] = take_req(l->sqs[0], m->aer_cid[i], NVME_ADM_ASYNC_EVENT);
    }
    return 0;
}

static void apply_queues(struct nvme_ctrl *c, struct nvme_mig_load *l)
{
    const struct nvme_mig *m = l->m;
    bool waiting = false;

    /* The admin queues live inside the controller: move the built ones
     * in, and point their requests at their new home. */
    c->admin_cq = *l->cqs[0];
    c->admin_sq = *l->sqs[0];
    for (unsigned i = 0; i < c->admin_sq.nr_reqs; i++) {
        c->admin_sq.reqs[i].sq = &c->admin_sq;
    }
    free(l->cqs[0]);
    free(l->sqs[0]);
    l->cqs[0] = NULL;
    l->sqs[0] = NULL;
    c->total_inflight = c->admin_sq.inflight;
    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        c->cqs[qid] = l->cqs[qid];
        c->sqs[qid] = l->sqs[qid];
        l->cqs[qid] = NULL;
        l->sqs[qid] = NULL;
        if (c->sqs[qid]) {
            c->total_inflight += c->sqs[qid]->inflight;
        }
    }
    for (unsigned qid = 0; qid <= c->nr_io_queues; qid++) {
        struct nvme_cq *cq = nvme_get_cq(c, (uint16_t)qid);

        waiting |= cq && cq->wait_head;
    }
    atomic_store(&c->cq_waiting, waiting);
    c->nr_aer = m->nr_aer;
    for (unsigned i = 0; i < m->nr_aer; i++) {
        c->aer[i] = l->aer[i];
    }
    if (m->dbbuf) {
        /* Mapped when the device runs and first reads a shadow doorbell. */
        nvme_gmem_init(&c->dbbuf_dbs, m->dbbuf_dbs, NVME_PAGE_SIZE);
        nvme_gmem_init(&c->dbbuf_eis, m->dbbuf_eis, NVME_PAGE_SIZE);
        c->dbbuf = true;
    }
    c->enabled = true;
}

/* I/O thread, device stopped: cannot fail (l was built and checked). */
void nvme_mig_apply(struct nvme_ctrl *c, struct nvme_mig_load *l)
{
    const struct nvme_mig *m = l->m;

    /* The old state goes (the controller is stopped: nothing is in
     * flight); INTx is left to the daemon, which has loaded its state. */
    nvme_ctrl_free_queues(c);
    c->cc = m->cc;
    atomic_store(&c->csts, m->csts);
    c->intms = m->intms;
    c->aqa = m->aqa;
    atomic_store(&c->cc_at_enable, m->cc_at_enable);
    c->asq = m->asq;
    c->acq = m->acq;
    for (unsigned i = 0; m->have_db && i < NVME_DB_SLOTS; i++) {
        atomic_store(&c->db[i], i < m->nr_db ? m->db[i] : 0);
    }
    for (unsigned i = 0; i < m->nr_ns; i++) {
        (void)nvme_ns_set_format(c->ns[m->ns[i].nsid], m->ns[i].lba_shift);
    }
    if (m->enabled) {
        apply_queues(c, l);
    }
    c->fatal = m->fatal;
    c->shutting_down = m->shutting_down;
    c->shutdown_done = m->shutdown_done;
    atomic_store(&c->intx_asserted, m->intx_asserted);
    c->mem_fault = false;
    c->mem_fault_since = 0;

    c->nr_events = m->nr_events;
    memcpy(c->events, m->events, sizeof(c->events));
    c->masked_event_types = m->masked_event_types;
    c->nr_changed_ns = m->nr_changed_ns;
    memcpy(c->changed_ns, m->changed_ns, sizeof(c->changed_ns[0]) * m->nr_changed_ns);
    /* the I/O thread's next pass lists them and raises the notice, as the
     * source's would have */
    for (unsigned i = 0; i < m->nr_changed_pending; i++) {
        struct nvme_ns *ns = c->ns[m->changed_pending[i]];

        if (ns) {
            atomic_store(&ns->attr_changed, true);
            atomic_store(&c->ns_attr_changed, true);
        }
    }
    c->feat_arbitration = m->feat_arbitration;
    c->feat_err_recovery = m->feat_err_recovery;
    c->feat_irq_coalesce = m->feat_irq_coalesce;
    c->feat_async_event = m->feat_async_event;
    c->feat_write_atomic = m->feat_write_atomic;
    c->temp_over = m->temp_over;
    c->temp_under = m->temp_under;
    c->wce = m->wce;
    memcpy(c->irq_config_cd, m->irq_config_cd, sizeof(c->irq_config_cd));
    c->kato = m->kato;
    c->hbs_acre = m->hbs_acre;
    /* the timer starts afresh: the time the state travelled is not the
     * host's fault (resuming restarts it once more) */
    nvme_keep_alive_restart(c);
    c->smart = m->smart;
    c->start_time = now_secs() - m->power_on_secs;
    c->err_count = m->err_count;
    memcpy(c->errlog, m->errlog, sizeof(c->errlog));
}

int nvme_mig_load_state(vfud_dev *dev, uint32_t version, const void *data,
                        size_t len)
{
    struct nvme_ctrl *c = ctrl_of(dev);
    struct nvme_mig *m = calloc(1, sizeof(*m));
    struct nvme_mig_load l = { 0 };
    char why[256] = "";
    struct checker k = { .c = c, .m = m, .why = why, .why_len = sizeof(why) };
    int r;

    if (!m) {
        return -ENOMEM;
    }
    r = nvme_mig_decode(data, len, version, m, why, sizeof(why));
    if (r == 0) {
        r = check_identity(&k);
    }
    if (r == 0) {
        r = check_regs(&k);
    }
    if (r == 0) {
        r = check_features(&k);
    }
    if (r == 0) {
        r = check_queues(&k);
    }
    if (r == 0) {
        l.m = m;
        r = load_build(c, &l);
        if (r < 0) {
            snprintf(why, sizeof(why), "out of memory for the queues");
        }
    }
    if (r == 0) {
        r = nvme_ctl_call(c, NVME_CTL_LOAD, (uintptr_t)&l, 0);
    } else {
        vfud_error(dev, "nvme: migration stream refused: %s", why);
    }
    load_free(&l);
    nvme_mig_free(m);
    free(m);
    return r;
}
