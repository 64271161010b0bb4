/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake daemon (fake_vfud.h): guest memory.  Each DMA window is an
 * anonymous mapping at an IOVA the test chose; a message-only window is
 * reached by copying, as DMA_READ/DMA_WRITE messages would, and counted.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_priv.h"

/* Window holding iova, or NULL (win_lock held). */
static struct fake_window *find_window(vfud_dev *dev, uint64_t iova)
{
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        struct fake_window *w = &dev->win[i];

        if (w->used && iova >= w->iova && iova - w->iova < w->size) {
            return w;
        }
    }
    return NULL;
}

/* Walk [iova, iova+len) window by window: check it all (copy false), or
 * copy between buf and guest memory (win_lock held). */
static int dma_walk(vfud_dev *dev, uint64_t iova, uint8_t *p, size_t len,
                    bool to_guest, bool copy)
{
    while (len) {
        struct fake_window *w = find_window(dev, iova);
        size_t off, n;

        if (w == NULL) {
            return -EFAULT;
        }
        if (w->message_only && fk_on_device_thread(dev)) {
            atomic_fetch_add(&dev->dma_deadlocks, 1);
            fprintf(stderr, "[%s] DMA %s at %#llx needs a message round trip, "
                    "which the device thread cannot wait for\n", dev->name,
                    to_guest ? "write" : "read", (unsigned long long)iova);
            return -EDEADLK;
        }
        off = (size_t)(iova - w->iova);
        n = w->size - off < len ? w->size - off : len;
        if (copy) {
            if (w->message_only) {
                atomic_fetch_add(&dev->dma_messages, 1);
            }
            if (to_guest) {
                memcpy(w->mem + off, p, n);
            } else {
                memcpy(p, w->mem + off, n);
            }
        }
        p += n;
        iova += n;
        len -= n;
    }
    return 0;
}

/* All or nothing: a failed access changes no memory. */
static int dma_copy(vfud_dev *dev, uint64_t iova, void *buf, size_t len,
                    bool to_guest)
{
    int r;

    if (!atomic_load(&dev->bus_master)) {
        return -EPERM;
    }
    pthread_rwlock_rdlock(&dev->win_lock);
    r = dma_walk(dev, iova, buf, len, to_guest, false);
    if (r == 0) {
        r = dma_walk(dev, iova, buf, len, to_guest, true);
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return r;
}

int vfud_dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len)
{
    return dma_copy(dev, iova, buf, len, false);
}

int vfud_dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len)
{
    return dma_copy(dev, iova, (void *)buf, len, true);
}

/* The fake's own scatter-gather entry: plugins see only its size, so it
 * need not look like the daemon's. */
struct vfud_sg {
    struct fake_window *win; /* reference held; NULL: empty */
    unsigned prot;
};

size_t vfud_sg_size(void)
{
    return sizeof(struct vfud_sg);
}

vfud_sg *vfud_sg_alloc(unsigned nr)
{
    return calloc(nr ? nr : 1, sizeof(struct vfud_sg));
}

void vfud_sg_free(vfud_sg *sg)
{
    free(sg);
}

vfud_sg *vfud_sg_at(vfud_sg *sg, unsigned i)
{
    return sg + i;
}

int vfud_dma_sgl_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
                     vfud_sg *sg, struct iovec *iov, unsigned max_sg)
{
    unsigned n = 0;
    int r = 0;

    if (iov == NULL) {
        return -EINVAL;
    }
    if (!atomic_load(&dev->bus_master)) {
        return -EPERM;
    }
    if (len == 0) {
        return 0;
    }
    pthread_rwlock_rdlock(&dev->win_lock);
    while (len) {
        struct fake_window *w = find_window(dev, iova);
        size_t off, l;

        if (w == NULL) {
            r = -EFAULT;
            break;
        }
        if (w->message_only) {
            r = -EREMOTE;
            break;
        }
        if (n == max_sg) {
            r = -ENOSPC;
            break;
        }
        off = (size_t)(iova - w->iova);
        l = w->size - off < len ? w->size - off : len;
        iov[n].iov_base = w->mem + off;
        iov[n].iov_len = l;
        sg[n].win = w;
        sg[n].prot = prot;
        atomic_fetch_add(&w->refs, 1);
        n++;
        iova += l;
        len -= l;
    }
    pthread_rwlock_unlock(&dev->win_lock);
    if (r < 0) {
        vfud_dma_sgl_put(dev, sg, n);
        return r;
    }
    return (int)n;
}

void vfud_dma_sgl_put(vfud_dev *dev, vfud_sg *sg, unsigned nr_sg)
{
    (void)dev;
    for (unsigned i = 0; i < nr_sg; i++) {
        struct fake_window *w = sg[i].win;

        if (w != NULL) {
            atomic_fetch_sub(&w->refs, 1);
            sg[i].win = NULL;
        }
    }
}

/* No dirty-page log here: migration of guest memory is QEMU's to test. */
void vfud_dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    (void)dev;
    (void)iova;
    (void)len;
}

/* ------------------------------------------------------------------------
 * Inside the fake
 */

void fk_dma_init(vfud_dev *dev)
{
    pthread_rwlock_init(&dev->win_lock, NULL);
}

void fk_dma_unmap_all(vfud_dev *dev)
{
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used) {
            fake_dma_unmap(dev, dev->win[i].iova);
        }
    }
}

void fk_dma_free(vfud_dev *dev)
{
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used) {
            munmap(dev->win[i].mem, dev->win[i].size);
            dev->win[i].used = false;
        }
    }
    pthread_rwlock_destroy(&dev->win_lock);
}

/* ------------------------------------------------------------------------
 * Test side
 */

void *fake_dma_map(vfud_dev *dev, uint64_t iova, size_t size, bool message_only)
{
    return fake_dma_map_copy(dev, iova, size, message_only, NULL);
}

void *fake_dma_map_copy(vfud_dev *dev, uint64_t iova, size_t size,
                        bool message_only, const void *init)
{
    void *mem;
    int slot = -1;

    pthread_rwlock_wrlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        struct fake_window *w = &dev->win[i];

        if (w->used && iova < w->iova + w->size && w->iova < iova + size) {
            pthread_rwlock_unlock(&dev->win_lock);
            return NULL; /* overlapping map: the daemon refuses it too */
        }
        if (!w->used && slot < 0) {
            slot = i;
        }
    }
    if (slot < 0) {
        pthread_rwlock_unlock(&dev->win_lock);
        return NULL;
    }
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (mem == MAP_FAILED) {
        pthread_rwlock_unlock(&dev->win_lock);
        return NULL;
    }
    if (init != NULL) {
        memcpy(mem, init, size);
    }
    dev->win[slot].used = true;
    dev->win[slot].message_only = message_only;
    dev->win[slot].iova = iova;
    dev->win[slot].size = size;
    dev->win[slot].mem = mem;
    atomic_store(&dev->win[slot].refs, 0);
    pthread_rwlock_unlock(&dev->win_lock);
    return mem;
}

int fake_dma_unmap(vfud_dev *dev, uint64_t iova)
{
    struct fake_window *w = NULL;
    uint8_t *mem = NULL;
    size_t size = 0;
    vfud_dev *prev;
    int refs;

    /* Out of the table first, as the daemon does: the plugin's dma_unmap
     * and any thread of its see the window gone, while the memory stays
     * mapped until the references are dropped or given up on. */
    pthread_rwlock_wrlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used && dev->win[i].iova == iova) {
            w = &dev->win[i];
        }
    }
    if (w != NULL) {
        w->used = false;
        mem = w->mem;
        size = w->size;
    }
    pthread_rwlock_unlock(&dev->win_lock);
    if (w == NULL) {
        return -ENOENT;
    }
    if (dev->plugin.dma_unmap != NULL) {
        prev = fk_enter(dev);
        dev->plugin.dma_unmap(dev, iova, size);
        fk_run_deferred(dev);
        fk_leave(prev);
    }
    /* the daemon waits for outstanding references: give in-flight I/O a
     * moment, then report what is left */
    for (int i = 0; i < 500 && atomic_load(&w->refs); i++) {
        usleep(1000);
    }
    refs = atomic_load(&w->refs);
    munmap(mem, size);
    return refs;
}

void *fake_gpa(vfud_dev *dev, uint64_t iova, size_t len)
{
    struct fake_window *w;
    void *p = NULL;

    pthread_rwlock_rdlock(&dev->win_lock);
    w = find_window(dev, iova);
    if (w != NULL && iova - w->iova + len <= w->size) {
        p = w->mem + (iova - w->iova);
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return p;
}

void fake_set_bus_master(vfud_dev *dev, bool on)
{
    atomic_store(&dev->bus_master, on);
}

int fake_sg_refs(vfud_dev *dev)
{
    int n = 0;

    pthread_rwlock_rdlock(&dev->win_lock);
    for (int i = 0; i < FAKE_MAX_WINDOWS; i++) {
        if (dev->win[i].used) {
            n += atomic_load(&dev->win[i].refs);
        }
    }
    pthread_rwlock_unlock(&dev->win_lock);
    return n;
}

unsigned long fake_dma_messages(vfud_dev *dev)
{
    return atomic_load(&dev->dma_messages);
}

unsigned long fake_dma_deadlocks(vfud_dev *dev)
{
    return atomic_load(&dev->dma_deadlocks);
}
