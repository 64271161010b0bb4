/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration of the NVMe controller: the state that travels, held in one
 * plain struct on both sides so that the wire format (mig_format.c) and
 * the controller (mig_state.c) meet only here.
 *
 *   source:      quiesce (ctrl.c: stop fetching, drain, post) ->
 *                nvme_mig_capture() on the I/O thread ->
 *                nvme_mig_encode() on the device thread
 *   destination: nvme_mig_decode() (the stream's shape) ->
 *                check against this controller's configuration ->
 *                build the queues (every allocation) ->
 *                nvme_mig_apply() on the I/O thread, which cannot fail
 *
 * Nothing derived from guest memory travels or is resolved at load: queue
 * and shadow-buffer addresses are IOVAs, mapped lazily by the I/O thread
 * once the device runs (the destination's client may map guest memory
 * after the stream is loaded).
 */
#ifndef VFUD_NVME_MIG_H
#define VFUD_NVME_MIG_H

#include "nvme_int.h"

/* 1: the first format; 2 adds the HOST record (Keep Alive Timeout, Host
 * Behavior Support); 3 adds the CHANGED_NS record (the Changed Namespace
 * List).  Older streams still load (what they lack at its default: an
 * empty list). */
#define NVME_STATE_VERSION 3
/* Completions waiting for CQ room: at most one per request slot. */
#define NVME_MIG_MAX_WAITING ((NVME_MAX_QUEUES + 1) * NVME_MAX_INFLIGHT)
#define NVME_MIG_IRQ_CD_WORDS ((NVME_MAX_QUEUES + 1 + 31) / 32)

/* A namespace as the guest knows it: what the destination must match. */
struct nvme_mig_ns {
    uint32_t nsid;
    uint64_t nsze;      /* size in logical blocks, at lba_shift */
    unsigned lba_shift; /* current format (Format NVM may have changed it) */
    bool read_only;
    uint8_t eui64[8], nguid[16], uuid[16];
};

struct nvme_mig_cq {
    bool present;
    uint64_t iova;
    uint32_t size, head, tail;
    bool phase, ien;
    uint16_t vector;
};

struct nvme_mig_sq {
    bool present;
    uint16_t cqid;
    uint64_t iova;
    uint32_t size, head, tail, eventidx;
};

/* A completion that found its CQ full and waits for room. */
struct nvme_mig_cqe {
    uint16_t cqid, sqid, cid, status;
    uint32_t dw0;
};

struct nvme_mig {
    /* identity: the destination's configuration must be the same */
    char serial[21], model[41];
    uint32_t nr_io_queues, max_q_entries, db_mode, nn;
    bool vwc;
    unsigned nr_ns;
    struct nvme_mig_ns ns[NVME_MAX_NS];

    /* registers */
    uint32_t cc, csts, intms, aqa, cc_at_enable;
    uint64_t asq, acq;
    /* trapped doorbell slots (shadow mode; in poll mode the page is region
     * memory, which the daemon moves) */
    bool have_db;
    unsigned nr_db;
    uint32_t db[NVME_DB_SLOTS];

    /* controller */
    bool enabled, fatal, shutting_down, shutdown_done, intx_asserted;
    bool dbbuf;
    uint64_t dbbuf_dbs, dbbuf_eis;
    struct nvme_mig_cq cq[NVME_MAX_QUEUES + 1]; /* [0]: admin */
    struct nvme_mig_sq sq[NVME_MAX_QUEUES + 1];
    unsigned nr_waiting;
    struct nvme_mig_cqe *waiting; /* malloc()ed; per CQ in posting order */

    /* asynchronous events */
    unsigned nr_aer;
    uint16_t aer_cid[NVME_AERL + 1];
    unsigned nr_events;
    uint32_t events[NVME_MAX_EVENTS];
    uint8_t masked_event_types;
    /* the Changed Namespace List (log 04h), and the namespaces a back-end
     * flagged that the I/O thread has not listed yet (their notice is
     * still to be raised) */
    unsigned nr_changed_ns, nr_changed_pending;
    uint32_t changed_ns[NVME_CHANGED_NS_MAX];
    uint32_t changed_pending[NVME_MAX_NS];

    /* features */
    uint32_t feat_arbitration, feat_err_recovery, feat_irq_coalesce;
    uint32_t feat_async_event, feat_write_atomic;
    uint16_t temp_over, temp_under;
    bool wce;
    uint32_t irq_config_cd[NVME_MIG_IRQ_CD_WORDS];
    uint32_t kato;
    uint8_t hbs_acre;

    /* logs */
    struct nvme_smart smart;
    uint64_t power_on_secs;
    uint64_t err_count;
    struct nvme_err_entry errlog[4];
};

/* What the device thread builds for nvme_mig_apply(): the checked state
 * and every queue object, complete, so that installing cannot fail. */
struct nvme_mig_load {
    const struct nvme_mig *m;
    struct nvme_sq *sqs[NVME_MAX_QUEUES + 1]; /* [0]: copied to admin_sq */
    struct nvme_cq *cqs[NVME_MAX_QUEUES + 1]; /* [0]: copied to admin_cq */
    struct nvme_req *aer[NVME_AERL + 1];
};

/* ---- mig_format.c: the wire format ---- */
/* Append the state to out: 0 or a negative errno. */
int nvme_mig_encode(const struct nvme_mig *m, vfud_mig_stream *out);
/* Parse a stream of the given version into m (zeroed first; free with
 * nvme_mig_free).  Checks the shape only: record lengths, counts, flag
 * bits.  0, or -EINVAL with the reason in why, or -ENOMEM. */
int nvme_mig_decode(const void *data, size_t len, uint32_t version,
                    struct nvme_mig *m, char *why, size_t why_len);
void nvme_mig_free(struct nvme_mig *m);

/* ---- mig_state.c: the controller's side ---- */
/* I/O thread (ctl op SAVE), device stopped: 0 or -ENOMEM. */
int nvme_mig_capture(struct nvme_ctrl *c, struct nvme_mig *m);
/* I/O thread (ctl op LOAD), device stopped. */
void nvme_mig_apply(struct nvme_ctrl *c, struct nvme_mig_load *l);
/* The plugin callbacks (nvme.c registers them). */
int nvme_mig_quiesce(vfud_dev *dev, bool stop);
int nvme_mig_save_state(vfud_dev *dev, vfud_mig_stream *out);
int nvme_mig_load_state(vfud_dev *dev, uint32_t version, const void *data,
                        size_t len);

#endif
