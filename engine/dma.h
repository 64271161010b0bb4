/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory: the DMA windows a client maps (DMA_MAP / DMA_UNMAP), their
 * translation for plugins, and DMA by messages for windows without an fd.
 *
 * The window table is read by plugin threads and changed only by the device
 * thread, under a reader/writer lock.  A window is reference counted so a
 * plugin can hold host pointers into it (vfud_dma_sg_get) across an unmap:
 * the munmap happens when the last reference goes.
 */
#ifndef VFIOUSERD_DMA_H
#define VFIOUSERD_DMA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

struct conn;
struct dma_log;
struct msg;

/* A scatter-gather entry (opaque to plugins since API version 2: only
 * vfud_sg_size() tells them how big it is, so it may change).  The v1
 * shim (plugin_api_v1.c) hands arrays of version 1's public struct here
 * and checks at compile time that the layouts still agree. */
struct vfud_sg {
    uint64_t iova;   /* guest address of base */
    void *base;      /* host address */
    size_t len;
    void *_map;      /* struct dma_window * held; NULL: entry empty */
    unsigned _prot;  /* VFUD_DMA_*: WRITE marks dirty on put */
};

/* A memory file a client mapped windows of, kept open for an upgrade
 * (dma.c, "Kept files"): one per file, shared by its windows. */
struct dma_file {
    struct dma_state *owner;
    int fd;
    dev_t st_dev;
    ino_t st_ino;
    unsigned refs;      /* windows using it (owner->files_lock) */
};

struct dma_window {
    gint refs;          /* the table's + one per vfud_sg entry */
    uint64_t iova;
    uint64_t size;
    unsigned prot;      /* VFUD_DMA_READ | VFUD_DMA_WRITE */
    bool has_file;      /* came with an fd (closed once mapped) */
    dev_t st_dev;       /* that file, to recognise a repeated map */
    ino_t st_ino;
    uint64_t fd_offset;
    uint8_t *addr;      /* host address of iova; NULL: by messages only */
    void *map_base;     /* what to munmap */
    size_t map_len;
    /* A mapped window is used by messages until dma_verify.c has seen that
     * the mapping shows the guest's memory (addr stays NULL till then). */
    uint8_t *vaddr;     /* host address of iova in the mapping */
    gint trust;         /* enum dma_trust */
    int vfd;            /* the file, kept for the check... */
    gint *vfd_count;    /* ...while this (the device's count) is set */
    struct dma_file *file; /* its file, kept open; NULL: none kept */
};

struct dma_state {
    GRWLock lock;
    GPtrArray *windows; /* struct dma_window *, sorted by iova, disjoint */
    GMutex unref_lock;  /* pairs with unref_cond: last references */
    GCond unref_cond;
    /* Unmaps waiting on unref_cond.  A release wakes them only when this is
     * non-zero, so the per-I/O release costs one atomic decrement and one
     * load, never a system call (window_unref). */
    gint unref_waiters;
    unsigned max_windows;
    uint64_t mapped_bytes;
    /* Migration: dirty-page log (dma_log.h), and plugin DMA refused while
     * the device is stopped (the plugin was quiesced; this catches one that
     * did not listen). */
    struct dma_log *log;
    gint stopped;
    gint verify_fds;    /* fds held by windows waiting for their check */
    GMutex files_lock;  /* files, and each one's refs */
    GPtrArray *files;   /* struct dma_file *, at most DMA_MAX_FILES */
    bool files_warned;  /* said once that a file is not kept */
};

#define DMA_MAX_WINDOWS 65535u
/* Distinct memory files kept open per device (QEMU maps a few: one per
 * RAM block); windows of further files are served but not kept. */
#define DMA_MAX_FILES 64u
/* Largest window: 8 TiB, as the kernel's vfio type1 and LVU allow. */
#define DMA_MAX_WINDOW_SIZE (8ull << 40)

void dma_init(struct dma_state *dma);
void dma_cleanup(struct dma_state *dma);
/* Drop every window (disconnect), telling the plugin first. */
void dma_unmap_all(vfud_dev *dev);
unsigned dma_window_count(vfud_dev *dev);

/* A round trip by DMA_READ/DMA_WRITE messages (any thread but the
 * device's, which gets -EDEADLK). */
int dma_by_message(vfud_dev *dev, bool is_write, uint64_t iova, void *buf,
                   size_t len);

/* Plugin API backends. */
int dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len);
int dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len);
int dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
               struct vfud_sg *sg, unsigned max_sg);
void dma_sg_put(vfud_dev *dev, struct vfud_sg *sg, unsigned nr_sg);
void dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len);
/* Migration: refuse (-EBUSY) or allow plugin DMA again. */
void dma_set_stopped(vfud_dev *dev, bool stopped);

#endif
