/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the NVMe fuzz target: the guest it plays (fuzz_nvme_guest.c) and
 * the controller run without its I/O thread (fuzz_nvme_sync.c).  These
 * files see the plugin's internal state (nvme_int.h): the guest reads
 * where the controller's queues are, as a driver knows where it put them.
 */
#ifndef VFUD_FUZZ_NVME_PRIV_H
#define VFUD_FUZZ_NVME_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_vfud.h"
#include "fuzz_nvme.h"
#include "../../plugins/nvme/nvme_int.h"

void nf_die(const char *fmt, ...) VFUD_PRINTF(1, 2) __attribute__((noreturn));
/* FUZZ_TRACE set: print each operation and completion (to see what an
 * input does). */
extern bool nf_trace;

/* ---- fuzz_nvme_sync.c ---- */
/* The plugin (linked in under fuzz_nvme_plugin_init), with start() and
 * destroy() replaced so that no I/O thread runs: nf_settle() does its
 * work on the caller's thread. */
struct vfud_plugin *nf_sync_plugin(void);
/* Run the controller until it has nothing left to do: every doorbell
 * served, every back-end operation completed and posted (or waiting for
 * room in its CQ).  Dies if it would never stop (a livelock) or if the
 * real I/O thread, in the same state, would spin instead of sleeping. */
void nf_settle(struct nvme_ctrl *c);

/* ---- fuzz_nvme_guest.c ---- */
struct nf_queue {
    bool sq_known, cq_known;   /* the driver's view below is in use */
    uint64_t sq_iova, cq_iova;
    uint32_t sq_size, cq_size;
    uint32_t sq_tail;          /* next free SQ slot */
    uint32_t cq_head;          /* next CQE to look at */
    bool phase;                /* phase tag of a new CQE there */
};

struct nf_guest {
    vfud_dev *dev;
    struct nvme_ctrl *c;
    uint8_t *win[NF_NR_WINDOWS]; /* host view of each window; NULL: unmapped */
    struct nf_queue q[NVME_MAX_QUEUES + 1];
    uint32_t db_last[2 * (NVME_MAX_QUEUES + 1)]; /* last value per doorbell */
};

extern const uint64_t nf_window_iova[NF_NR_WINDOWS];
extern const uint64_t nf_window_size[NF_NR_WINDOWS];

/* Map window w (zeroed), message-only if it is W2 or (not both) swap;
 * false if it is mapped already. */
bool nf_window_map(struct nf_guest *g, unsigned w, bool swap);
/* Unmap it; dies if the device keeps a reference to it. */
void nf_window_unmap(struct nf_guest *g, unsigned w);
/* Write guest memory; what lies outside every window is dropped. */
void nf_mem_write(struct nf_guest *g, uint64_t iova, const void *buf,
                  size_t len);
/* After a reset: the driver forgets its queues. */
void nf_guest_forget(struct nf_guest *g);
/* A doorbell write as the driver makes it: through the shadow buffer
 * (ringing the real one only if EventIdx asks) once Doorbell Buffer Config
 * succeeded, unless mmio. */
void nf_doorbell(struct nf_guest *g, unsigned qid, bool cq, uint32_t v,
                 bool mmio);
/* Put sqe in SQ qid and (if ring) report the new tail; false if there is
 * no such SQ. */
bool nf_submit(struct nf_guest *g, unsigned qid, const struct nvme_sqe *sqe,
               bool ring, bool mmio);
/* Take the new completions of CQ qid and (if report) report the new head;
 * returns how many were taken. */
unsigned nf_reap(struct nf_guest *g, unsigned qid, bool report);
/* Reap every CQ and let the controller go on until no CQE is left. */
void nf_reap_all(struct nf_guest *g);
/* CC.EN=0 if needed, then AQA/ASQ/ACQ and CC.EN=1 as Linux does. */
void nf_bringup(struct nf_guest *g);
/* Register accesses through the fake daemon, as REGION_READ/WRITE. */
void nf_reg_write(struct nf_guest *g, uint64_t off, const void *buf,
                  size_t len);
void nf_reg_read(struct nf_guest *g, uint64_t off, void *buf, size_t len);

#endif
