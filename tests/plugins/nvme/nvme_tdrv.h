/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny NVMe host driver for the plugin's tests and benchmarks: it plays
 * the guest (queues in guest memory, doorbells as register writes, shadow
 * doorbells with EventIdx, mmapped doorbells in poll mode) against the nvme
 * plugin, whichever way the plugin is reached:
 *
 *   nvme_tdrv_fake.h  the plugin loaded into the fake daemon (tests/harness)
 *   nvme_tdrv_vfu.h   the real daemon over vfio-user, through the client
 *                     library (common/client)
 *
 * The driver logic below knows neither: a transport gives it register
 * access, doorbell writes and a way to wait for an interrupt, and both put
 * guest memory at TD_MEM_IOVA (d->mem is the driver's own view of it).
 */
#ifndef NVME_TDRV_H
#define NVME_TDRV_H

#include <stdbool.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

#include "../../../plugins/nvme/nvme_spec.h"

#define TD_MEM_IOVA  0x100000000ull /* guest memory starts at 4 GiB */
#define TD_MEM_SIZE  (64ull << 20)
#define TD_MAXQ      8

struct tdrv;

/* How the driver reaches the controller's BAR0. */
struct td_transport {
    uint32_t (*rd32)(struct tdrv *d, uint64_t off);
    void (*wr32)(struct tdrv *d, uint64_t off, uint32_t v);
    void (*wr64)(struct tdrv *d, uint64_t off, uint64_t v);
    /* A trapped doorbell write (QEMU posts these: no reply awaited). */
    void (*doorbell)(struct tdrv *d, uint64_t off, uint32_t v);
    /* Nothing new in the CQ of this MSI-X vector: wait for its interrupt
     * (or just a while) for at most ms, doing whatever the transport needs
     * meanwhile (serving DMA messages). */
    void (*idle)(struct tdrv *d, uint16_t vector, int ms);
};

struct td_queue {
    bool used;
    uint16_t qid;
    uint32_t size;
    uint64_t sq_iova, cq_iova;
    uint32_t sq_tail, cq_head;
    bool phase;
    uint16_t next_cid;
    uint16_t vector;
    uint32_t last_rung;        /* SQ tail last reported */
    uint32_t cq_rung;          /* CQ head last reported */
};

struct tdrv {
    const struct td_transport *tr;
    void *tr_priv;             /* the transport's state */
    vfud_dev *dev;             /* fake daemon only */
    uint8_t *mem;              /* guest memory, TD_MEM_SIZE at TD_MEM_IOVA */
    uint64_t next_free;        /* bump allocator in guest memory */
    struct td_queue q[TD_MAXQ];
    bool shadow;               /* use shadow doorbells for I/O queues */
    uint64_t dbs_iova, eis_iova;
    unsigned rings;            /* real doorbell writes for I/O queues */
    bool poll_mode;
    /* Poll mode: the doorbell page as the client mapped it (NULL: trapped
     * doorbells through tr->doorbell). */
    volatile uint32_t *db_page;
    int timeout_ms;            /* td_wait's patience (default 5000) */
    char path[256];            /* backing file (removed at teardown) */
};

/* The transport-independent part of the set-up (the transports call it). */
void td_init(struct tdrv *d, const struct td_transport *tr, void *priv);

uint64_t td_alloc(struct tdrv *d, uint64_t size, uint64_t align);
void *td_ptr(struct tdrv *d, uint64_t iova);

/* Controller bring-up with an admin queue of n entries. */
int td_enable(struct tdrv *d, uint32_t admin_entries);
int td_disable(struct tdrv *d);
/* Wait until (CSTS & mask) == val, up to d->timeout_ms. */
int td_wait_csts(struct tdrv *d, uint32_t mask, uint32_t val);

/* Submit a command; fills in the CID; returns the CID. */
uint16_t td_submit(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe);
/* Same, without ringing the doorbell (td_ring does). */
uint16_t td_queue_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe);
void td_ring(struct tdrv *d, uint16_t qid);
/* Wait for the next completion on qid (d->timeout_ms); 0 or -ETIMEDOUT. */
int td_wait(struct tdrv *d, uint16_t qid, struct nvme_cqe *cqe);
/* Is a completion waiting on qid right now? */
bool td_cqe_ready(struct tdrv *d, uint16_t qid);
/* Take the completion td_cqe_ready() saw without reporting the new head;
 * td_cq_ring() reports it (batching, as a driver does per interrupt). */
void td_consume(struct tdrv *d, uint16_t qid, struct nvme_cqe *cqe);
void td_cq_ring(struct tdrv *d, uint16_t qid);
/* Submit + wait; returns the status (SCT << 8 | SC), or -1 on timeout. */
int td_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe,
           struct nvme_cqe *cqe);
static inline int td_status(const struct nvme_cqe *c)
{
    return (c->status >> 1) & 0x7ff;
}

/* Create CQ+SQ pair qid with size entries and MSI-X vector qid. */
int td_create_io_queue(struct tdrv *d, uint16_t qid, uint32_t size);
/* Same with interrupts off (a polled queue). */
int td_create_io_queue_polled(struct tdrv *d, uint16_t qid, uint32_t size);
/* Doorbell Buffer Config; later I/O doorbells go through the shadow. */
int td_enable_shadow(struct tdrv *d);
/* Wait up to ms for the completion ahead places past qid's CQ head to be
 * posted (without consuming anything); true when it is. */
bool td_wait_cqe_posted(struct tdrv *d, uint16_t qid, unsigned ahead, int ms);
/* Wait up to ms for the controller to publish qid's SQ EventIdx at the
 * SQ tail, which it does once it has run out of work (in a pass after the
 * one that posted the last completion): true when it has. */
bool td_wait_sq_eventidx(struct tdrv *d, uint16_t qid, int ms);
/* Write qid's SQ tail to the shadow doorbell only, never ringing the real
 * one (what a driver does when EventIdx says the controller is awake). */
void td_shadow_tail_only(struct tdrv *d, uint16_t qid);
/* The shadow hold, as a driver meets it: does the controller fetch a read
 * written to the shadow tail only, just after completions the driver left
 * unconsumed?  Up to tries times: 4 reads into buf, rung, then a fifth
 * unrung.  A try whose fifth read is not fetched in 200 ms checks that
 * EventIdx asks for a doorbell, rings, and consumes all five.  Returns 1
 * when a fifth read completed unrung (its 5 completions left unconsumed),
 * 0 when none did, -1 when the controller misbehaved. */
int td_shadow_hold_probe(struct tdrv *d, uint16_t qid, uint64_t buf,
                         unsigned tries);

/* Read/write helpers with a simple PRP (buffer allocated by caller). */
int td_rw(struct tdrv *d, uint16_t qid, uint8_t opc, uint64_t slba,
          uint32_t nlb, uint64_t buf_iova, uint32_t flags_cdw12);
/* Build PRP1/PRP2 (with lists) for a buffer described by page addresses. */
void td_build_prp(struct tdrv *d, struct nvme_sqe *sqe, uint64_t first,
                  const uint64_t *pages, unsigned npages);
/* Same with the PRP list starting at list_iova (qword aligned); entries that
 * do not fit in its page continue in a freshly allocated chained page. */
void td_build_prp_at(struct tdrv *d, struct nvme_sqe *sqe, uint64_t first,
                     const uint64_t *pages, unsigned npages,
                     uint64_t list_iova);

#endif
