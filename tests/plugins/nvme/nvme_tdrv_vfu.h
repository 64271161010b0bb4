/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test driver (nvme_tdrv.h) on the real daemon: a vfio-user client
 * (common/client) plays QEMU.  It gives the device guest memory with
 * DMA_MAP (a shared memfd, or message-only memory it serves with
 * DMA_READ/DMA_WRITE replies), connects an eventfd to every MSI-X vector
 * with SET_IRQS, turns bus mastering and MSI-X on in config space, and
 * reaches BAR0 with REGION_READ/REGION_WRITE: doorbells as posted writes,
 * as QEMU sends them, or straight into the mmapped doorbell page of a
 * device with doorbells=poll.
 */
#ifndef NVME_TDRV_VFU_H
#define NVME_TDRV_VFU_H

#include "nvme_tdrv.h"
#include "vfu_client.h"

#define TD_VFU_MAX_VECTORS 130

struct td_vfu_opts {
    bool share;          /* memfd guest memory (else message-only) */
    bool private_mem;    /* with share: mapped privately, as QEMU's
                          * share=off (the daemon must use messages) */
    bool poll_doorbells; /* map the doorbell page (a doorbells=poll device) */
    unsigned vectors;    /* MSI-X vectors to connect: I/O queues + 1 */
};

/* Make cl (connected and negotiated; still the caller's, and closed by
 * the caller after td_vfu_detach) the guest of d.  0 or -errno. */
int td_vfu_attach(struct tdrv *d, struct vfu_client *cl,
                  const struct td_vfu_opts *o);
/* Free the transport's state (eventfds, doorbell mapping). */
void td_vfu_detach(struct tdrv *d);
struct vfu_client *td_vfu_client(struct tdrv *d);
/* Interrupts received on an MSI-X vector so far. */
uint64_t td_vfu_irqs(struct tdrv *d, unsigned vector);
/* The first failed message (-errno), or 0.  A failed register read
 * returns all ones, as a PCI read nobody answers. */
int td_vfu_error(struct tdrv *d);

#endif
