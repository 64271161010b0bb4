/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA logging (dirty-page tracking) for migration: DEVICE_FEATURE
 * DMA_LOGGING_START / STOP / REPORT.
 *
 * The log covers IOVA ranges, not DMA windows: windows mapped or unmapped
 * while logging runs need no special care, and a window mapped later inside
 * a logged range is tracked like the rest of it.  Bits are kept in chunks
 * allocated on the first write into them, so the memory used follows what
 * the device writes, not the size of the ranges.
 *
 * Thread-safe: plugins write guest memory (and so mark pages) from their
 * own threads while the device thread reports.
 */
#ifndef VFIOUSERD_DMA_LOG_H
#define VFIOUSERD_DMA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dma_log;

/* Smallest tracking page; START may ask for less and is told this. */
#define DMA_LOG_MIN_PAGE 4096ull
#define DMA_LOG_MAX_PAGE (1ull << 32)
/* Ranges one START may list. */
#define DMA_LOG_MAX_RANGES 65536u

struct dma_log_range {
    uint64_t iova;
    uint64_t length;
};

struct dma_log *dma_log_new(void);
void dma_log_free(struct dma_log *log);

/* Start logging at *page_size (rounded up to DMA_LOG_MIN_PAGE; the page
 * size used is stored back) over ranges (n 0: every address).  -EBUSY if
 * logging runs already, -EINVAL for a bad page size or ranges that are
 * empty, wrap or overlap.  *why gets a static explanation on error. */
int dma_log_start(struct dma_log *log, uint64_t *page_size,
                  const struct dma_log_range *ranges, unsigned n,
                  const char **why);
/* Stop and forget every bit (nothing to stop is not an error). */
void dma_log_stop(struct dma_log *log);
bool dma_log_active(struct dma_log *log);

/* [iova, iova + len) was written.  Cheap when logging is off. */
void dma_log_mark(struct dma_log *log, uint64_t iova, uint64_t len);

/* Bytes of bitmap a report of length bytes at page_size needs (u64
 * words), or 0 if page_size is not a power of two or length is 0. */
uint64_t dma_log_bitmap_size(uint64_t length, uint64_t page_size);
/* OR the dirty pages of [iova, iova + length) into bitmap (zeroed by the
 * caller, dma_log_bitmap_size() bytes) at page_size granularity, and clear
 * the tracking pages that lie wholly inside the range.  -EINVAL when
 * logging is off, or the range is not inside the logged ranges (*why says
 * which). */
int dma_log_report(struct dma_log *log, uint64_t iova, uint64_t length,
                   uint64_t page_size, uint64_t *bitmap, const char **why);

#endif
