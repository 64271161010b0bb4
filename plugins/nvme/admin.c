/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admin command set: Identify, features, queue management, log pages,
 * asynchronous events, Abort, Doorbell Buffer Config and Format NVM.
 * Admin commands run to completion on the I/O thread (except AERs, which
 * are held until an event arrives); their data goes through admin_buf.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_int.h"

#define ADMIN_BUF_SIZE 4096u

static void done(struct nvme_ctrl *c, struct nvme_req *req, uint16_t st)
{
    req->status = st;
    nvme_req_complete(c, req);
}

/* Send len bytes of admin_buf to the command's data buffer. */
static uint16_t send_buf(struct nvme_ctrl *c, struct nvme_req *req,
                         uint64_t len)
{
    uint16_t st = nvme_dptr_parse(c, req, len, false);

    if (st) {
        return st;
    }
    return nvme_dptr_to_guest(c, req, c->admin_buf, len);
}

static void pad_copy(uint8_t *dst, const char *src, size_t n)
{
    size_t l = strlen(src);

    memset(dst, ' ', n);
    memcpy(dst, src, l < n ? l : n);
}

static struct nvme_ns *active_ns(struct nvme_ctrl *c, uint32_t nsid)
{
    if (nsid == 0 || nsid > c->nn) {
        return NULL;
    }
    return c->ns[nsid];
}

/* ---- Identify ---- */

static void id_ctrl(struct nvme_ctrl *c, uint8_t *d)
{
    char nqn[256];

    nvme_put16(d + NVME_IDC_VID, c->vendor_id);
    nvme_put16(d + NVME_IDC_SSVID, c->ssvid);
    pad_copy(d + NVME_IDC_SN, c->serial, 20);
    pad_copy(d + NVME_IDC_MN, c->model, 40);
    pad_copy(d + NVME_IDC_FR, c->firmware, 8);
    d[NVME_IDC_RAB] = 6;
    d[NVME_IDC_CMIC] = 0;
    d[NVME_IDC_MDTS] = NVME_MDTS;
    nvme_put16(d + NVME_IDC_CNTLID, 1);
    nvme_put32(d + NVME_IDC_VER, 0x00010400);
    /* time to shut down: a flush of a large page cache can take a while */
    nvme_put32(d + NVME_IDC_RTD3E, 30 * 1000 * 1000);
    d[NVME_IDC_CNTRLTYPE] = 1;                       /* I/O controller */
    /* Keep Alive supported, timer granularity 100 ms */
    nvme_put16(d + NVME_IDC_KAS, NVME_KAS);
    nvme_put16(d + NVME_IDC_OACS,
               NVME_OACS_FORMAT |
               (c->db_mode == NVME_DB_SHADOW ? NVME_OACS_DBBUF : 0));
    d[NVME_IDC_ACL] = 3;
    d[NVME_IDC_AERL] = NVME_AERL;
    /* Namespace Attribute Notices (an RBD image resized) */
    nvme_put32(d + NVME_IDC_OAES, NVME_OAES_NS_ATTR);
    d[NVME_IDC_FRMW] = 0x03; /* one slot, read-only */
    d[NVME_IDC_LPA] = NVME_LPA_CMD_EFFECTS | NVME_LPA_EXT_DATA;
    d[NVME_IDC_ELPE] = 3;
    d[NVME_IDC_NPSS] = 0;
    nvme_put16(d + NVME_IDC_WCTEMP, 343);
    nvme_put16(d + NVME_IDC_CCTEMP, 373);
    d[NVME_IDC_SQES] = 0x66;
    d[NVME_IDC_CQES] = 0x44;
    nvme_put32(d + NVME_IDC_NN, c->nn);
    /* Save/Select: Get Features reports default and supported
     * capabilities; nothing is saveable, so a saved value is the default */
    nvme_put16(d + NVME_IDC_ONCS,
               NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES |
                   NVME_ONCS_SAVE_SELECT);
    /* VWC present (if any namespace caches), flush of all namespaces with
     * NSID FFFFFFFFh supported (bits 2:1 = 11b). */
    d[NVME_IDC_VWC] = (c->vwc ? 1 : 0) | 0x6;
    nvme_put32(d + NVME_IDC_SGLS, 0x1); /* SGLs, no alignment needed */
    snprintf(nqn, sizeof(nqn), "nqn.2026-01.org.vfiouserd:nvme:%s", c->serial);
    memcpy(d + NVME_IDC_SUBNQN, nqn, strlen(nqn));
    nvme_put16(d + NVME_IDC_PSD0, 2500); /* max power: 25 W */
}

static void id_ns(struct nvme_ctrl *c, const struct nvme_ns *ns, uint8_t *d)
{
    (void)c;
    nvme_put64(d + NVME_IDNS_NSZE, ns->nsze);
    nvme_put64(d + NVME_IDNS_NCAP, ns->nsze);
    nvme_put64(d + NVME_IDNS_NUSE, ns->nsze);
    d[NVME_IDNS_NSFEAT] = 0x1;  /* thin provisioning: deallocation works */
    d[NVME_IDNS_NLBAF] = 1;     /* two formats: 512 and 4096 */
    d[NVME_IDNS_FLBAS] = ns->lba_shift == 12 ? 1 : 0;
    d[NVME_IDNS_DLFEAT] = 0x1 | 0x8; /* reads zeroes; WZ may deallocate */
    d[NVME_IDNS_NSATTR] = ns->read_only ? 1 : 0;
    memcpy(d + NVME_IDNS_NGUID, ns->nguid, 16);
    memcpy(d + NVME_IDNS_EUI64, ns->eui64, 8);
    d[NVME_IDNS_LBAF + 0 * 4 + 2] = 9;
    d[NVME_IDNS_LBAF + 0 * 4 + 3] = 2; /* relative performance: good */
    d[NVME_IDNS_LBAF + 1 * 4 + 2] = 12;
    d[NVME_IDNS_LBAF + 1 * 4 + 3] = 0; /* best */
}

static uint16_t id_desc_list(const struct nvme_ns *ns, uint8_t *d)
{
    uint8_t *p = d;

    p[0] = NVME_NIDT_EUI64;
    p[1] = 8;
    memcpy(p + 4, ns->eui64, 8);
    p += 4 + 8;
    p[0] = NVME_NIDT_NGUID;
    p[1] = 16;
    memcpy(p + 4, ns->nguid, 16);
    p += 4 + 16;
    p[0] = NVME_NIDT_UUID;
    p[1] = 16;
    memcpy(p + 4, ns->uuid, 16);
    p += 4 + 16;
    p[0] = NVME_NIDT_CSI;
    p[1] = 1;
    p[4] = 0; /* NVM command set */
    return NVME_SC_SUCCESS;
}

static void exec_identify(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint8_t cns = req->cmd.cdw10 & 0xff;
    uint8_t csi = (uint8_t)(req->cmd.cdw11 >> 24);
    uint32_t nsid = req->cmd.nsid;
    uint8_t *d = c->admin_buf;
    struct nvme_ns *ns;
    uint16_t st = NVME_SC_SUCCESS;

    memset(d, 0, ADMIN_BUF_SIZE);
    switch (cns) {
    case NVME_CNS_CTRL:
        id_ctrl(c, d);
        break;
    case NVME_CNS_NS:
        if (nsid == 0 || (nsid > c->nn && nsid != NVME_NSID_ALL) ||
            nsid == NVME_NSID_ALL) {
            st = NVME_SC_INVALID_NS;
            break;
        }
        ns = active_ns(c, nsid);
        if (ns) {
            id_ns(c, ns, d); /* an inactive NSID reads as zeroes */
        }
        break;
    case NVME_CNS_NS_ACTIVE_LIST: {
        unsigned n = 0;

        if (nsid >= 0xfffffffeu) {
            st = NVME_SC_INVALID_NS;
            break;
        }
        for (uint32_t id = nsid + 1; id <= c->nn && n < 1024; id++) {
            if (c->ns[id]) {
                nvme_put32(d + 4 * n++, id);
            }
        }
        break;
    }
    case NVME_CNS_NS_DESC_LIST:
        ns = active_ns(c, nsid);
        if (!ns) {
            st = NVME_SC_INVALID_NS;
            break;
        }
        st = id_desc_list(ns, d);
        break;
    case NVME_CNS_CS_NS:
        if (csi != 0) {
            st = NVME_SC_INVALID_FIELD;
        } else if (!active_ns(c, nsid)) {
            st = NVME_SC_INVALID_NS;
        }
        break; /* NVM: nothing beyond the base structure */
    case NVME_CNS_CS_CTRL:
        if (csi != 0) {
            st = NVME_SC_INVALID_FIELD;
        }
        break; /* NVM: no extra limits (all zero) */
    case NVME_CNS_CS_INDEP_NS:
        ns = active_ns(c, nsid);
        if (!ns) {
            st = NVME_SC_INVALID_NS;
            break;
        }
        d[8] = ns->read_only ? 1 : 0; /* NSATTR */
        d[13] = 1;                    /* NSTAT: ready */
        break;
    default:
        st = NVME_SC_INVALID_FIELD;
        break;
    }
    if (st == NVME_SC_SUCCESS) {
        st = send_buf(c, req, ADMIN_BUF_SIZE);
    }
    done(c, req, st);
}

/* ---- Queues ---- */

static bool entry_sizes_ok(struct nvme_ctrl *c)
{
    uint32_t cc = atomic_load(&c->cc_at_enable);

    return NVME_CC_IOSQES(cc) == 6 && NVME_CC_IOCQES(cc) == 4;
}

static void exec_create_cq(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint16_t qid = req->cmd.cdw10 & 0xffff;
    uint32_t qsize = (req->cmd.cdw10 >> 16) + 1;
    bool pc = req->cmd.cdw11 & 1, ien = req->cmd.cdw11 & 2;
    uint16_t iv = (uint16_t)(req->cmd.cdw11 >> 16);
    uint64_t base = req->cmd.dptr1;
    struct nvme_cq *cq;

    if (qid == 0 || qid > c->nr_io_queues || c->cqs[qid]) {
        done(c, req, NVME_SC_QID_INVALID);
        return;
    }
    if (qsize < 2 || qsize > c->max_q_entries) {
        done(c, req, NVME_SC_QUEUE_SIZE);
        return;
    }
    if (iv >= c->nr_vectors) {
        done(c, req, NVME_SC_INVALID_VECTOR);
        return;
    }
    if (!pc || !entry_sizes_ok(c) || NVME_SQE_PSDT(req->cmd.flags)) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    if (base == 0 || (base & (NVME_PAGE_SIZE - 1))) {
        done(c, req, NVME_SC_PRP_INVALID_OFFSET);
        return;
    }
    cq = malloc(sizeof(*cq));
    if (!cq) {
        done(c, req, NVME_SC_INTERNAL);
        return;
    }
    nvme_cq_init(cq, qid, base, qsize, iv, ien);
    /* a new queue's doorbell starts at 0, whatever was written before */
    atomic_store(&c->db[2u * qid + 1], 0);
    c->cqs[qid] = cq;
    nvme_dbbuf_setup_queue(c, qid);
    done(c, req, NVME_SC_SUCCESS);
}

static void exec_create_sq(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint16_t qid = req->cmd.cdw10 & 0xffff;
    uint32_t qsize = (req->cmd.cdw10 >> 16) + 1;
    bool pc = req->cmd.cdw11 & 1;
    uint16_t cqid = (uint16_t)(req->cmd.cdw11 >> 16);
    uint64_t base = req->cmd.dptr1;
    unsigned nreqs;
    struct nvme_sq *sq;

    if (qid == 0 || qid > c->nr_io_queues || c->sqs[qid]) {
        done(c, req, NVME_SC_QID_INVALID);
        return;
    }
    if (qsize < 2 || qsize > c->max_q_entries) {
        done(c, req, NVME_SC_QUEUE_SIZE);
        return;
    }
    /* NVMe 2.0 (Create I/O Submission Queue, CDW11 CQID): 0h, the admin
     * CQ, shall not be specified, and a value that is not a valid I/O CQ
     * identifier is an Invalid Queue Identifier; Completion Queue Invalid
     * is for "the CQ identifier specified does not exist", i.e. a CQ in
     * range that was not created.  SPDK's compliance suite checks 0 and
     * NCQR+1 this way.  (QEMU's hw/nvme answers Completion Queue Invalid
     * for all three, Linux's PCI endpoint target for CQID 0.) */
    if (cqid == 0 || cqid > c->nr_io_queues) {
        done(c, req, NVME_SC_QID_INVALID);
        return;
    }
    if (!c->cqs[cqid]) {
        done(c, req, NVME_SC_CQ_INVALID);
        return;
    }
    if (!pc || !entry_sizes_ok(c) || NVME_SQE_PSDT(req->cmd.flags)) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    if (base == 0 || (base & (NVME_PAGE_SIZE - 1))) {
        done(c, req, NVME_SC_PRP_INVALID_OFFSET);
        return;
    }
    sq = malloc(sizeof(*sq));
    if (!sq) {
        done(c, req, NVME_SC_INTERNAL);
        return;
    }
    nreqs = qsize - 1 < NVME_MAX_INFLIGHT ? qsize - 1 : NVME_MAX_INFLIGHT;
    if (nvme_sq_init(c, sq, qid, cqid, base, qsize, nreqs) < 0) {
        free(sq);
        done(c, req, NVME_SC_INTERNAL);
        return;
    }
    atomic_store(&c->db[2u * qid], 0);
    c->sqs[qid] = sq;
    c->cqs[cqid]->nr_sqs++;
    nvme_dbbuf_setup_queue(c, qid);
    done(c, req, NVME_SC_SUCCESS);
}

static void exec_delete_sq(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint16_t qid = req->cmd.cdw10 & 0xffff;
    struct nvme_sq *sq = qid ? nvme_get_sq(c, qid) : NULL;
    struct nvme_cq *cq;
    struct nvme_req **pp;

    if (!sq) {
        done(c, req, NVME_SC_QID_INVALID);
        return;
    }
    /* Commands already handed to the back-end complete (and are posted)
     * before the queue goes away. */
    nvme_ctrl_drain(c, sq);
    cq = nvme_get_cq(c, sq->cqid);
    if (cq) {
        nvme_cq_flush_waiters(c, cq);
        /* what still finds no room in the CQ is dropped with the SQ */
        for (pp = &cq->wait_head; *pp;) {
            if ((*pp)->sq == sq) {
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
        cq->wait_tail = NULL;
        for (struct nvme_req *r = cq->wait_head; r; r = r->next) {
            cq->wait_tail = r;
        }
        cq->nr_sqs--;
    }
    nvme_sq_fini(c, sq);
    free(sq);
    c->sqs[qid] = NULL;
    done(c, req, NVME_SC_SUCCESS);
}

static void exec_delete_cq(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint16_t qid = req->cmd.cdw10 & 0xffff;
    struct nvme_cq *cq = qid ? nvme_get_cq(c, qid) : NULL;

    if (!cq) {
        done(c, req, NVME_SC_QID_INVALID);
        return;
    }
    if (cq->nr_sqs) {
        done(c, req, NVME_SC_INVALID_QUEUE_DELETION);
        return;
    }
    nvme_cq_fini(c, cq);
    free(cq);
    c->cqs[qid] = NULL;
    done(c, req, NVME_SC_SUCCESS);
}

/* ---- Features ---- */

/* The features this controller has: what NVMe 2.0 makes mandatory for an
 * I/O controller, and the optional ones it implements (Volatile Write
 * Cache when a namespace caches, Keep Alive Timer, Host Behavior
 * Support). */
static bool feature_supported(const struct nvme_ctrl *c, uint8_t fid)
{
    switch (fid) {
    case NVME_FEAT_ARBITRATION:
    case NVME_FEAT_POWER_MGMT:
    case NVME_FEAT_TEMP_THRESH:
    case NVME_FEAT_ERR_RECOVERY:
    case NVME_FEAT_NUM_QUEUES:
    case NVME_FEAT_IRQ_COALESCE:
    case NVME_FEAT_IRQ_CONFIG:
    case NVME_FEAT_WRITE_ATOMIC:
    case NVME_FEAT_ASYNC_EVENT:
    case NVME_FEAT_KEEP_ALIVE:
    case NVME_FEAT_HOST_BEHAVIOR:
        return true;
    case NVME_FEAT_VOLATILE_WC:
        return c->vwc;
    default:
        return false;
    }
}

/* DW0 of Get Features for a supported feature other than Host Behavior
 * Support: the current value, or the default one (what a controller reset
 * restores, and the saved value too, since nothing is saveable). */
static uint16_t feature_value(struct nvme_ctrl *c, uint8_t fid, uint32_t cdw11,
                              bool dflt, uint32_t *dw0)
{
    switch (fid) {
    case NVME_FEAT_ARBITRATION:
        *dw0 = dflt ? 0 : c->feat_arbitration;
        break;
    case NVME_FEAT_POWER_MGMT:
        *dw0 = 0;
        break;
    case NVME_FEAT_TEMP_THRESH: {
        unsigned sel = (cdw11 >> 16) & 0xf, type = (cdw11 >> 20) & 0x3;
        uint16_t t;

        if (sel != 0 || type > 1) {
            return NVME_SC_INVALID_FIELD;
        }
        if (type) {
            t = dflt ? 0 : c->temp_under;
        } else {
            t = dflt ? NVME_TEMP_OVER_DEFAULT : c->temp_over;
        }
        *dw0 = t | (uint32_t)type << 20;
        break;
    }
    case NVME_FEAT_ERR_RECOVERY:
        *dw0 = dflt ? 0 : c->feat_err_recovery;
        break;
    case NVME_FEAT_VOLATILE_WC:
        *dw0 = dflt || c->wce ? 1 : 0;
        break;
    case NVME_FEAT_NUM_QUEUES:
        *dw0 = (c->nr_io_queues - 1) | (c->nr_io_queues - 1) << 16;
        break;
    case NVME_FEAT_IRQ_COALESCE:
        *dw0 = dflt ? 0 : c->feat_irq_coalesce;
        break;
    case NVME_FEAT_IRQ_CONFIG: {
        unsigned iv = cdw11 & 0xffff;

        if (iv >= c->nr_vectors) {
            return NVME_SC_INVALID_FIELD;
        }
        *dw0 = iv;
        if (!dflt) {
            *dw0 |= ((c->irq_config_cd[iv / 32] >> (iv % 32)) & 1u) << 16;
        }
        break;
    }
    case NVME_FEAT_WRITE_ATOMIC:
        *dw0 = dflt ? 0 : c->feat_write_atomic;
        break;
    case NVME_FEAT_ASYNC_EVENT:
        *dw0 = dflt ? 0 : c->feat_async_event;
        break;
    case NVME_FEAT_KEEP_ALIVE:
        *dw0 = dflt ? 0 : c->kato;
        break;
    default:
        return NVME_SC_INVALID_FIELD;
    }
    return NVME_SC_SUCCESS;
}

static void exec_get_features(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint8_t fid = req->cmd.cdw10 & 0xff;
    unsigned sel = (req->cmd.cdw10 >> 8) & 0x7;
    bool dflt = sel == NVME_SEL_DEFAULT || sel == NVME_SEL_SAVED;
    uint16_t st;

    if (sel > NVME_SEL_SUPPORTED || !feature_supported(c, fid)) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    if (sel == NVME_SEL_SUPPORTED) {
        /* every feature here can be set; none is saveable or namespace
         * specific */
        req->dw0 = NVME_FEAT_CAP_CHANGE;
        done(c, req, NVME_SC_SUCCESS);
        return;
    }
    if (fid == NVME_FEAT_HOST_BEHAVIOR) {
        memset(c->admin_buf, 0, NVME_HBS_SIZE);
        c->admin_buf[0] = dflt ? 0 : c->hbs_acre;
        done(c, req, send_buf(c, req, NVME_HBS_SIZE));
        return;
    }
    st = feature_value(c, fid, req->cmd.cdw11, dflt, &req->dw0);
    done(c, req, st);
}

/* Keep Alive Timer: a Keep Alive command, or the Set Features that makes
 * KATO non-zero, (re)starts it; KATO is rounded up to the granularity the
 * controller reports in KAS. */
void nvme_keep_alive_restart(struct nvme_ctrl *c)
{
    uint64_t unit_ms = NVME_KAS * 100ull;
    struct timespec now;

    if (c->kato == 0) {
        c->ka_deadline_ns = 0;
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    c->ka_deadline_ns = (uint64_t)now.tv_sec * 1000000000ull +
                        (uint64_t)now.tv_nsec +
                        (c->kato + unit_ms - 1) / unit_ms * unit_ms * 1000000ull;
}

static void exec_keep_alive(struct nvme_ctrl *c, struct nvme_req *req)
{
    nvme_keep_alive_restart(c);
    done(c, req, NVME_SC_SUCCESS);
}

/* Set Features Host Behavior Support: the 512-byte structure comes from
 * the host.  ACRE may be set (the controller reports no Command Retry
 * Delay, so retries are never delayed); Extended Telemetry Data Area 4 and
 * extended LBA formats are not supported, so ETDAS and LBAFEE must stay 0. */
static uint16_t set_host_behavior(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint16_t st = nvme_dptr_parse(c, req, NVME_HBS_SIZE, false);
    const uint8_t *b = c->admin_buf;

    if (st) {
        return st;
    }
    st = nvme_dptr_from_guest(c, req, c->admin_buf, NVME_HBS_SIZE);
    if (st) {
        return st;
    }
    if (b[0] > 1 || b[1] != 0 || b[2] != 0) {
        return NVME_SC_INVALID_FIELD;
    }
    c->hbs_acre = b[0];
    return NVME_SC_SUCCESS;
}

static bool any_io_queue(const struct nvme_ctrl *c)
{
    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        if (c->sqs[qid] || c->cqs[qid]) {
            return true;
        }
    }
    return false;
}

static void exec_set_features(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint8_t fid = req->cmd.cdw10 & 0xff;
    uint32_t v = req->cmd.cdw11;
    uint16_t st = NVME_SC_SUCCESS;

    if (!feature_supported(c, fid)) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    if (req->cmd.cdw10 & (1u << 31)) {
        done(c, req, NVME_SC_FEAT_NOT_SAVEABLE);
        return;
    }
    switch (fid) {
    case NVME_FEAT_ARBITRATION:
        c->feat_arbitration = v & 0xffffff07u;
        break;
    case NVME_FEAT_KEEP_ALIVE:
        c->kato = v;
        nvme_keep_alive_restart(c);
        break;
    case NVME_FEAT_HOST_BEHAVIOR:
        st = set_host_behavior(c, req);
        break;
    case NVME_FEAT_POWER_MGMT:
        if ((v & 0x1f) != 0) {
            st = NVME_SC_INVALID_FIELD; /* only power state 0 exists */
        }
        break;
    case NVME_FEAT_TEMP_THRESH: {
        unsigned sel = (v >> 16) & 0xf, type = (v >> 20) & 0x3;

        if (sel != 0 || type > 1) {
            st = NVME_SC_INVALID_FIELD;
        } else if (type) {
            c->temp_under = v & 0xffff;
        } else {
            c->temp_over = v & 0xffff;
        }
        break;
    }
    case NVME_FEAT_ERR_RECOVERY:
        c->feat_err_recovery = v & 0x1ffff;
        break;
    case NVME_FEAT_VOLATILE_WC:
        if (!c->vwc) {
            st = NVME_SC_INVALID_FIELD;
        } else {
            c->wce = v & 1;
        }
        break;
    case NVME_FEAT_NUM_QUEUES:
        if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
            st = NVME_SC_INVALID_FIELD;
        } else if (any_io_queue(c)) {
            st = NVME_SC_CMD_SEQ_ERROR;
        } else {
            req->dw0 = (c->nr_io_queues - 1) | (c->nr_io_queues - 1) << 16;
        }
        break;
    case NVME_FEAT_IRQ_COALESCE:
        c->feat_irq_coalesce = v & 0xffff;
        break;
    case NVME_FEAT_IRQ_CONFIG: {
        unsigned iv = v & 0xffff;

        if (iv >= c->nr_vectors) {
            st = NVME_SC_INVALID_FIELD;
        } else if (v & (1u << 16)) {
            c->irq_config_cd[iv / 32] |= 1u << (iv % 32);
        } else {
            c->irq_config_cd[iv / 32] &= ~(1u << (iv % 32));
        }
        break;
    }
    case NVME_FEAT_WRITE_ATOMIC:
        c->feat_write_atomic = v & 1;
        break;
    case NVME_FEAT_ASYNC_EVENT:
        c->feat_async_event = v;
        break;
    default:
        st = NVME_SC_INVALID_FIELD;
        break;
    }
    done(c, req, st);
}

/* ---- Log pages ---- */

static void put128(uint8_t *p, uint64_t v)
{
    nvme_put64(p, v);
    nvme_put64(p + 8, 0);
}

static size_t log_smart(struct nvme_ctrl *c, uint8_t *d)
{
    struct timespec now;
    uint64_t hours;

    clock_gettime(CLOCK_MONOTONIC, &now);
    hours = ((uint64_t)now.tv_sec - c->start_time) / 3600;
    d[0] = 0;                    /* no critical warning */
    nvme_put16(d + 1, 313);      /* 40 C */
    d[3] = 100;                  /* available spare */
    d[4] = 10;                   /* spare threshold */
    d[5] = 0;                    /* percentage used */
    /* data units are thousands of 512-byte units, rounded up */
    put128(d + 32, (c->smart.data_units_read + 999) / 1000);
    put128(d + 48, (c->smart.data_units_written + 999) / 1000);
    put128(d + 64, c->smart.host_reads);
    put128(d + 80, c->smart.host_writes);
    put128(d + 112, c->smart.power_cycles);
    put128(d + 128, hours);
    put128(d + 144, c->smart.unsafe_shutdowns);
    put128(d + 160, c->smart.media_errors);
    put128(d + 176, c->err_count);
    return 512;
}

static size_t log_effects(uint8_t *d)
{
    static const uint8_t admin_ops[] = {
        NVME_ADM_DELETE_SQ, NVME_ADM_CREATE_SQ, NVME_ADM_GET_LOG_PAGE,
        NVME_ADM_DELETE_CQ, NVME_ADM_CREATE_CQ, NVME_ADM_IDENTIFY,
        NVME_ADM_ABORT, NVME_ADM_SET_FEATURES, NVME_ADM_GET_FEATURES,
        NVME_ADM_ASYNC_EVENT, NVME_ADM_KEEP_ALIVE, NVME_ADM_DBBUF_CONFIG,
    };

    for (size_t i = 0; i < sizeof(admin_ops); i++) {
        nvme_put32(d + 4 * admin_ops[i], NVME_CSE_CSUPP);
    }
    nvme_put32(d + 4 * NVME_ADM_FORMAT_NVM,
               NVME_CSE_CSUPP | NVME_CSE_LBCC | NVME_CSE_NCC | NVME_CSE_NIC |
               NVME_CSE_EXCL_NS);
    nvme_put32(d + 1024 + 4 * NVME_CMD_FLUSH, NVME_CSE_CSUPP);
    nvme_put32(d + 1024 + 4 * NVME_CMD_READ, NVME_CSE_CSUPP);
    nvme_put32(d + 1024 + 4 * NVME_CMD_COMPARE, NVME_CSE_CSUPP);
    nvme_put32(d + 1024 + 4 * NVME_CMD_WRITE, NVME_CSE_CSUPP | NVME_CSE_LBCC);
    nvme_put32(d + 1024 + 4 * NVME_CMD_WRITE_ZEROES,
               NVME_CSE_CSUPP | NVME_CSE_LBCC);
    nvme_put32(d + 1024 + 4 * NVME_CMD_DSM, NVME_CSE_CSUPP | NVME_CSE_LBCC);
    return 4096;
}

static void exec_get_log_page(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint8_t lid = req->cmd.cdw10 & 0xff;
    bool rae = req->cmd.cdw10 & (1u << 15);
    uint64_t numd = ((uint64_t)(req->cmd.cdw11 & 0xffff) << 16 |
                     req->cmd.cdw10 >> 16) + 1;
    uint64_t len = numd * 4;
    uint64_t off = req->cmd.cdw12 | (uint64_t)req->cmd.cdw13 << 32;
    uint8_t *d = c->admin_buf;
    size_t size;
    uint16_t st;

    memset(d, 0, NVME_MAX_XFER);
    switch (lid) {
    case NVME_LOG_ERROR: {
        unsigned n = sizeof(c->errlog) / sizeof(c->errlog[0]);

        /* ELPE + 1 entries, newest first; unused ones are zero */
        for (unsigned i = 0; i < n && i < c->err_count; i++) {
            const struct nvme_err_entry *e =
                &c->errlog[(c->err_count - i) % n];
            uint8_t *p = d + 64 * i;

            nvme_put64(p, e->count);
            nvme_put16(p + 8, e->sqid);
            nvme_put16(p + 10, e->cid);
            nvme_put16(p + 12, e->status);
            nvme_put16(p + 14, e->param_loc);
            nvme_put64(p + 16, e->lba);
            nvme_put32(p + 24, e->nsid);
        }
        size = 64 * n;
        break;
    }
    case NVME_LOG_SMART:
        size = log_smart(c, d);
        break;
    case NVME_LOG_FW_SLOT:
        d[0] = 1; /* slot 1 active */
        pad_copy(d + 8, c->firmware, 8);
        size = 512;
        break;
    case NVME_LOG_CMD_EFFECTS:
        size = log_effects(d);
        break;
    case NVME_LOG_CHANGED_NS:
        for (unsigned i = 0; i < c->nr_changed_ns; i++) {
            nvme_put32(d + 4 * i, c->changed_ns[i]);
        }
        size = 4 * NVME_CHANGED_NS_MAX;
        break;
    default:
        done(c, req, NVME_SC_INVALID_LOG_PAGE);
        return;
    }
    if ((off & 3) || off >= size || len > NVME_MAX_XFER) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    st = nvme_dptr_parse(c, req, len, false);
    if (st == NVME_SC_SUCCESS) {
        uint64_t n = size - off < len ? size - off : len;

        /* the page from the offset, then zeroes for what lies beyond it
         * (admin_buf holds NVME_MAX_XFER bytes, len is bounded by it) */
        memmove(d, d + off, n);
        memset(d + n, 0, len - n);
        st = nvme_dptr_to_guest(c, req, d, len);
    }
    if (st == NVME_SC_SUCCESS && !rae) {
        if (lid == NVME_LOG_ERROR) {
            c->masked_event_types &= (uint8_t)~(1u << NVME_AER_TYPE_ERROR);
        } else if (lid == NVME_LOG_SMART) {
            c->masked_event_types &= (uint8_t)~(1u << NVME_AER_TYPE_SMART);
        } else if (lid == NVME_LOG_CHANGED_NS) {
            c->nr_changed_ns = 0;
            c->masked_event_types &= (uint8_t)~(1u << NVME_AER_TYPE_NOTICE);
        }
        nvme_deliver_events(c);
    }
    done(c, req, st);
}

/* ---- Others ---- */

static void exec_aer(struct nvme_ctrl *c, struct nvme_req *req)
{
    if (c->nr_aer > NVME_AERL) {
        done(c, req, NVME_SC_AER_LIMIT);
        return;
    }
    c->aer[c->nr_aer++] = req; /* completed when an event occurs */
    nvme_deliver_events(c);
}

static void exec_dbbuf_config(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint64_t dbs = req->cmd.dptr1, eis = req->cmd.dptr2;

    if (c->db_mode != NVME_DB_SHADOW) {
        done(c, req, NVME_SC_INVALID_OPCODE);
        return;
    }
    if (!dbs || !eis || ((dbs | eis) & (NVME_PAGE_SIZE - 1)) ||
        NVME_SQE_PSDT(req->cmd.flags)) {
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    nvme_gmem_release(c, &c->dbbuf_dbs);
    nvme_gmem_release(c, &c->dbbuf_eis);
    c->dbbuf = false;
    nvme_gmem_init(&c->dbbuf_dbs, dbs, NVME_PAGE_SIZE);
    nvme_gmem_init(&c->dbbuf_eis, eis, NVME_PAGE_SIZE);
    if (nvme_gmem_map(c, &c->dbbuf_dbs) < 0 ||
        nvme_gmem_map(c, &c->dbbuf_eis) < 0) {
        /* Guest memory reachable by DMA messages only: reading the shadow
         * doorbells would cost a message round trip per queue per pass,
         * far more than the (posted) doorbell writes they would save.
         * Refused, the driver keeps ringing the real doorbells. */
        nvme_gmem_release(c, &c->dbbuf_dbs);
        nvme_gmem_release(c, &c->dbbuf_eis);
        nvme_gmem_init(&c->dbbuf_dbs, 0, 0);
        nvme_gmem_init(&c->dbbuf_eis, 0, 0);
        done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    c->dbbuf = true;
    for (unsigned qid = 1; qid <= c->nr_io_queues; qid++) {
        nvme_dbbuf_setup_queue(c, (uint16_t)qid);
    }
    done(c, req, NVME_SC_SUCCESS);
}

static uint16_t format_ns(struct nvme_ctrl *c, struct nvme_ns *ns,
                          unsigned shift, unsigned ses)
{
    if (ns->read_only) {
        return NVME_SC_NS_WRITE_PROTECTED;
    }
    if (!nvme_ns_format_ok(ns, shift)) {
        return NVME_SC_INVALID_FORMAT;
    }
    if (ses == 1 && ns->backend == NVME_BACKEND_URING) {
        /* User data erase: every block reads back as zeroes. */
        int mode = FALLOC_FL_KEEP_SIZE |
                   (ns->is_blockdev ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);

        if (fallocate(ns->fd, mode, 0, (off_t)ns->size_bytes) < 0) {
            vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: erase failed: %m",
                     ns->nsid);
            return NVME_SC_INTERNAL;
        }
    }
    if (ses == 1 && ns->backend == NVME_BACKEND_NBD &&
        nvme_nbd_erase_sync(c, ns) < 0) {
        return NVME_SC_INTERNAL;
    }
    if (ses == 1 && ns->backend == NVME_BACKEND_RBD &&
        nvme_rbd_erase_sync(c, ns) < 0) {
        return NVME_SC_INTERNAL;
    }
    if (nvme_ns_set_format(ns, shift) < 0) {
        return NVME_SC_INVALID_FORMAT;
    }
    return NVME_SC_SUCCESS;
}

static void exec_format(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint32_t v = req->cmd.cdw10, nsid = req->cmd.nsid;
    unsigned lbaf = v & 0xf, ses = (v >> 9) & 0x7;
    unsigned shift = lbaf == 1 ? 12 : 9;
    uint16_t st = NVME_SC_SUCCESS;

    if (lbaf > 1 || (v & 0x1f0) != 0) {
        done(c, req, NVME_SC_INVALID_FORMAT); /* no metadata, no PI */
        return;
    }
    if (ses > 1) {
        done(c, req, NVME_SC_INVALID_FIELD); /* no cryptographic erase */
        return;
    }
    if (nsid != NVME_NSID_ALL && !active_ns(c, nsid)) {
        done(c, req, NVME_SC_INVALID_NS);
        return;
    }
    nvme_ctrl_drain(c, NULL); /* nothing in flight while blocks change */
    for (uint32_t id = 1; id <= c->nn && st == NVME_SC_SUCCESS; id++) {
        if (c->ns[id] && (nsid == NVME_NSID_ALL || nsid == id)) {
            st = format_ns(c, c->ns[id], shift, ses);
        }
    }
    done(c, req, st);
}

void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_req *req)
{
    if (req->cmd.flags & 3) {
        done(c, req, NVME_SC_INVALID_FIELD); /* no fused admin commands */
        return;
    }
    switch (req->cmd.opcode) {
    case NVME_ADM_IDENTIFY:
        exec_identify(c, req);
        break;
    case NVME_ADM_CREATE_CQ:
        exec_create_cq(c, req);
        break;
    case NVME_ADM_CREATE_SQ:
        exec_create_sq(c, req);
        break;
    case NVME_ADM_DELETE_SQ:
        exec_delete_sq(c, req);
        break;
    case NVME_ADM_DELETE_CQ:
        exec_delete_cq(c, req);
        break;
    case NVME_ADM_GET_FEATURES:
        exec_get_features(c, req);
        break;
    case NVME_ADM_SET_FEATURES:
        exec_set_features(c, req);
        break;
    case NVME_ADM_GET_LOG_PAGE:
        exec_get_log_page(c, req);
        break;
    case NVME_ADM_ASYNC_EVENT:
        exec_aer(c, req);
        break;
    case NVME_ADM_ABORT:
        req->dw0 = 1; /* not aborted: commands are not held long enough */
        done(c, req, NVME_SC_SUCCESS);
        break;
    case NVME_ADM_KEEP_ALIVE:
        exec_keep_alive(c, req);
        break;
    case NVME_ADM_DBBUF_CONFIG:
        exec_dbbuf_config(c, req);
        break;
    case NVME_ADM_FORMAT_NVM:
        exec_format(c, req);
        break;
    default:
        done(c, req, NVME_SC_INVALID_OPCODE);
        break;
    }
}
