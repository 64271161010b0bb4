/*
 * A tiny NVMe host driver for the plugin's unit tests: it plays the guest
 * (queues in fake guest memory, doorbells through region writes, shadow
 * doorbells, mmapped doorbells in poll mode) against the nvme plugin loaded
 * into the fake daemon (tests/harness).
 */
#ifndef NVME_TDRV_H
#define NVME_TDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_vfud.h"
#include "../../plugins/nvme/nvme_spec.h"

#define TD_MEM_IOVA  0x100000000ull /* guest memory starts at 4 GiB */
#define TD_MEM_SIZE  (64ull << 20)
#define TD_MAXQ      8

struct td_queue {
    bool used;
    uint16_t qid;
    uint32_t size;
    uint64_t sq_iova, cq_iova;
    uint32_t sq_tail, cq_head;
    bool phase;
    uint16_t next_cid;
    uint16_t vector;
    uint32_t last_rung;
};

struct tdrv {
    vfud_dev *dev;
    uint8_t *mem;
    uint64_t next_free;        /* bump allocator in guest memory */
    struct td_queue q[TD_MAXQ];
    bool shadow;               /* use shadow doorbells for I/O queues */
    uint64_t dbs_iova, eis_iova;
    unsigned rings;            /* real doorbell writes for I/O queues */
    bool poll_mode;
    char path[256];            /* backing file (removed at teardown) */
};

/* Plugin .so path (built by make) */
const char *td_plugin_path(void);

/* Create a device with a temporary sparse backing file of size bytes
 * (namespace 1) plus extra "key=value" config pairs (NULL-terminated). */
int td_open(struct tdrv *d, uint64_t size, bool message_only,
            const char *const *extra);
void td_close(struct tdrv *d);

uint64_t td_alloc(struct tdrv *d, uint64_t size, uint64_t align);
void *td_ptr(struct tdrv *d, uint64_t iova);

/* Controller bring-up with an admin queue of n entries. */
int td_enable(struct tdrv *d, uint32_t admin_entries);
int td_disable(struct tdrv *d);

/* Submit a command; fills in the CID; returns the CID. */
uint16_t td_submit(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe);
/* Same, without ringing the doorbell (td_ring does). */
uint16_t td_queue_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe);
void td_ring(struct tdrv *d, uint16_t qid);
/* Wait for the next completion on qid (5 s); returns 0 or -ETIMEDOUT. */
int td_wait(struct tdrv *d, uint16_t qid, struct nvme_cqe *cqe);
/* Is a completion waiting on qid right now? */
bool td_cqe_ready(struct tdrv *d, uint16_t qid);
/* Submit + wait; returns the status (SCT << 8 | SC), or -1 on timeout. */
int td_cmd(struct tdrv *d, uint16_t qid, struct nvme_sqe *sqe,
           struct nvme_cqe *cqe);
static inline int td_status(const struct nvme_cqe *c)
{
    return (c->status >> 1) & 0x7ff;
}

/* Create CQ+SQ pair qid with size entries and MSI-X vector qid. */
int td_create_io_queue(struct tdrv *d, uint16_t qid, uint32_t size);
/* Doorbell Buffer Config; later I/O doorbells go through the shadow. */
int td_enable_shadow(struct tdrv *d);

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
