/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Is a mapped DMA window really the guest's memory?
 *
 * QEMU sends the memory file with DMA_MAP even when its own mapping of that
 * file is private (memory-backend-memfd/-file with share=off): the guest
 * then writes to copy-on-write pages the file never sees, and our shared
 * mapping shows stale file content.  So a mapped window starts "pending":
 * plugins reach it by messages until a comparison of what the client
 * answers by message with what the file holds at the same place says the
 * two are one memory ("shared": from then on the mapping is used, with no
 * further cost) or are not ("private": messages for good, and a warning).
 */
#ifndef VFIOUSERD_DMA_VERIFY_H
#define VFIOUSERD_DMA_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "dma.h"

enum dma_trust {
    DMA_TRUST_NONE = 0, /* no mapping: messages only */
    DMA_TRUST_PENDING,  /* mapped, not judged yet: messages meanwhile */
    DMA_TRUST_SHARED,   /* the mapping is the guest's memory */
    DMA_TRUST_PRIVATE,  /* it is not (or cannot be checked): messages */
};

/* Most fds of unjudged windows a device holds; later windows stay on
 * messages (QEMU has a handful of RAM windows at a time). */
#define DMA_VERIFY_MAX_FDS 32
/* Most bytes one check compares. */
#define DMA_VERIFY_MAX_BYTES (64u * 1024)

/* Device thread, DMA_MAP: w was just mmapped from fd (still the caller's);
 * keeps a duplicate of fd for the check and makes w pending. */
void dma_verify_adopt(vfud_dev *dev, struct dma_window *w, int fd);
/* The window is being freed (last reference): close what it holds. */
void dma_verify_forget(struct dma_window *w);

/* Any thread: a mapped window not judged yet (one atomic load). */
static inline bool dma_verify_pending(struct dma_window *w)
{
    return g_atomic_int_get(&w->trust) == DMA_TRUST_PENDING;
}

/* Plugin threads (never the device thread), holding a reference on w but
 * no table lock.  After an access by message to [iova, iova + len) of a
 * pending window (buf: the bytes read, or written), judge the window from
 * them; sends a message only if the two views differ. */
void dma_verify_observe(vfud_dev *dev, struct dma_window *w, uint64_t iova,
                        const void *buf, size_t len);
/* Before handing out host pointers for [iova, iova + len): read the range
 * (at most DMA_VERIFY_MAX_BYTES of it) by message and judge.  True if the
 * window is shared now. */
bool dma_verify_probe(vfud_dev *dev, struct dma_window *w, uint64_t iova,
                      size_t len);

#endif
