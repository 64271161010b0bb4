/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA windows and guest-memory access for plugins.
 *
 * A window with an fd is mmapped (MAP_SHARED, with the client's
 * permissions); one without is reached with DMA_READ/DMA_WRITE messages.
 * Windows never overlap, so the table is a sorted array searched by binary
 * search.  The device thread changes the table under the write lock; plugin
 * threads translate under the read lock and take a reference on a window
 * when they keep a pointer into it.
 *
 * Locking rule: nobody waits for a client message while holding the table
 * lock, because the device thread may need the write lock before it can
 * read the reply that message waits for.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "dma.h"
#include "dma_log.h"
#include "dma_verify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long an unmap waits for plugin references before leaving the last
 * reference holder to release the mapping. */
#define UNMAP_WAIT_MS 2000

void dma_init(struct dma_state *dma)
{
    g_rw_lock_init(&dma->lock);
    g_mutex_init(&dma->unref_lock);
    g_cond_init(&dma->unref_cond);
    dma->windows = g_ptr_array_new();
    dma->max_windows = DMA_MAX_WINDOWS;
    dma->log = dma_log_new();
    g_mutex_init(&dma->files_lock);
    dma->files = g_ptr_array_new();
}

/* ------------------------------------------------------------------------
 * Kept files
 *
 * A mapping alone would hold the guest's memory, but an upgrade
 * (daemon/dev_handoff.c) must hand the new process the file itself, and
 * reopening it from the mapping (/proc/self/map_files) needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, which neither the sandboxed
 * daemon nor our systemd units have.  So the fd is kept -- once per file,
 * not per window (QEMU maps many windows of the same RAM block), and for
 * at most DMA_MAX_FILES files per device: a client passing a new file in
 * every DMA_MAP cannot make us hold one fd per window (up to
 * DMA_MAX_WINDOWS) out of the fds every device shares.  A window of a
 * file beyond the limit works as before; only an upgrade refuses it.
 */
static void file_keep(vfud_dev *dev, struct dma_window *w, int fd)
{
    struct dma_state *dma = &dev->dma;
    struct dma_file *f = NULL;

    g_mutex_lock(&dma->files_lock);
    for (guint i = 0; i < dma->files->len; i++) {
        struct dma_file *o = g_ptr_array_index(dma->files, i);

        if (o->st_dev == w->st_dev && o->st_ino == w->st_ino) {
            f = o;
            break;
        }
    }
    if (f == NULL && dma->files->len < DMA_MAX_FILES) {
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);

        if (dup >= 0) {
            f = g_new0(struct dma_file, 1);
            f->owner = dma;
            f->fd = dup;
            f->st_dev = w->st_dev;
            f->st_ino = w->st_ino;
            g_ptr_array_add(dma->files, f);
        }
    }
    if (f != NULL) {
        f->refs++;
        w->file = f;
    }
    g_mutex_unlock(&dma->files_lock);
    if (f == NULL && !dma->files_warned) {
        /* Once per device: a client can repeat this at will. */
        dma->files_warned = true;
        dev_notice(dev, "DMA_MAP [%#llx, %#llx): its memory file is not kept "
                   "(%u files already, or no fd left); an upgrade is refused "
                   "while this window is mapped",
                   (unsigned long long)w->iova,
                   (unsigned long long)(w->iova + w->size), DMA_MAX_FILES);
    }
}

static void file_release(struct dma_file *f)
{
    struct dma_state *dma = f->owner;
    bool last;

    g_mutex_lock(&dma->files_lock);
    last = --f->refs == 0;
    if (last) {
        g_ptr_array_remove_fast(dma->files, f);
    }
    g_mutex_unlock(&dma->files_lock);
    if (last) {
        close(f->fd);
        g_free(f);
    }
}

static void window_free(struct dma_window *w)
{
    if (w->map_base != NULL) {
        munmap(w->map_base, w->map_len);
    }
    if (w->file != NULL) {
        file_release(w->file);
    }
    dma_verify_forget(w);
    g_free(w);
}

/*
 * Runs once per plugin buffer release (every NVMe I/O), so it must not
 * make a system call: a broadcast on every release was ~56% of the NVMe
 * I/O thread's time at QD 32 (futex calls), waiter or not.  The wake-up is
 * for an unmap waiting in window_retire(), which is rare: it announces
 * itself in unref_waiters before it looks at the count.  Both sides use
 * sequentially consistent atomics (Dekker): either this release sees the
 * waiter, or the waiter sees this release's decrement.  The broadcast
 * takes unref_lock, which the waiter holds from its check until it sleeps,
 * so the wake-up cannot fall between the two.
 */
static void window_unref(struct dma_state *dma, struct dma_window *w)
{
    if (g_atomic_int_dec_and_test(&w->refs)) {
        window_free(w);
        return;
    }
    if (g_atomic_int_get(&dma->unref_waiters) == 0) {
        return;
    }
    g_mutex_lock(&dma->unref_lock);
    g_cond_broadcast(&dma->unref_cond);
    g_mutex_unlock(&dma->unref_lock);
}

void dma_cleanup(struct dma_state *dma)
{
    for (guint i = 0; i < dma->windows->len; i++) {
        window_unref(dma, g_ptr_array_index(dma->windows, i));
    }
    g_ptr_array_unref(dma->windows);
    /* Every window is gone with its table reference (as unref_lock above,
     * the files do not outlive the device). */
    g_ptr_array_unref(dma->files);
    g_mutex_clear(&dma->files_lock);
    dma_log_free(dma->log);
    g_rw_lock_clear(&dma->lock);
    g_mutex_clear(&dma->unref_lock);
    g_cond_clear(&dma->unref_cond);
}

/* Index of the first window whose end is above iova (caller holds lock). */
static guint window_search(const struct dma_state *dma, uint64_t iova)
{
    guint lo = 0, hi = dma->windows->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const struct dma_window *w = g_ptr_array_index(dma->windows, mid);

        if (w->iova + w->size - 1 < iova) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static struct dma_window *window_find(const struct dma_state *dma, uint64_t iova)
{
    guint i = window_search(dma, iova);
    struct dma_window *w;

    if (i >= dma->windows->len) {
        return NULL;
    }
    w = g_ptr_array_index(dma->windows, i);
    return iova >= w->iova ? w : NULL;
}

unsigned dma_window_count(vfud_dev *dev)
{
    unsigned n;

    g_rw_lock_reader_lock(&dev->dma.lock);
    n = dev->dma.windows->len;
    g_rw_lock_reader_unlock(&dev->dma.lock);
    return n;
}

/* ------------------------------------------------------------------------
 * DMA_MAP
 */
/* Map the window's part of fd, and keep the file for an upgrade (once per
 * file: see "Kept files" above). */
static int window_mmap(vfud_dev *dev, struct dma_window *w, int fd)
{
    struct stat st;
    uint64_t page, start, end;
    int prot = 0;
    void *p;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    w->has_file = true;
    w->st_dev = st.st_dev;
    w->st_ino = st.st_ino;
    if (!S_ISREG(st.st_mode)) {
        dev_warn(dev, "DMA_MAP [%#llx, %#llx): the fd is not a memory file "
                 "(mode %#o); refused",
                 (unsigned long long)w->iova,
                 (unsigned long long)(w->iova + w->size), st.st_mode & S_IFMT);
        return -EINVAL;
    }
    if (util_range_exceeds(w->fd_offset, w->size, (uint64_t)st.st_size)) {
        /* Touching pages past the end of the file would raise SIGBUS. */
        dev_warn(dev, "DMA_MAP [%#llx, %#llx): offset %#llx + size exceeds "
                 "the file's %lld bytes; refused",
                 (unsigned long long)w->iova,
                 (unsigned long long)(w->iova + w->size),
                 (unsigned long long)w->fd_offset, (long long)st.st_size);
        return -EINVAL;
    }
    /* hugetlbfs reports its page size in st_blksize. */
    page = MAX((uint64_t)sysconf(_SC_PAGESIZE), (uint64_t)st.st_blksize);
    if (page & (page - 1)) {
        page = (uint64_t)sysconf(_SC_PAGESIZE);
    }
    start = w->fd_offset & ~(page - 1);
    end = (w->fd_offset + w->size + page - 1) & ~(page - 1);
    if (w->prot & VFUD_DMA_READ) {
        prot |= PROT_READ;
    }
    if (w->prot & VFUD_DMA_WRITE) {
        prot |= PROT_WRITE;
    }
    p = mmap(NULL, end - start, prot, MAP_SHARED, fd, (off_t)start);
    if (p == MAP_FAILED) {
        int e = errno;

        dev_warn(dev, "DMA_MAP [%#llx, %#llx): mmap failed: %s",
                 (unsigned long long)w->iova,
                 (unsigned long long)(w->iova + w->size), g_strerror(e));
        return -e;
    }
    /* Guest memory has no business in our core dumps. */
    madvise(p, end - start, MADV_DONTDUMP);
    w->map_base = p;
    w->map_len = end - start;
    /* Not w->addr yet: the client may keep a private copy of this memory
     * (dma_verify.h). */
    w->vaddr = (uint8_t *)p + (w->fd_offset - start);
    dma_verify_adopt(dev, w, fd);
    file_keep(dev, w, fd);
    return 0;
}

/* Is the request (fd may be -1) the same map as the existing window o? */
static bool same_window(const struct dma_window *o, const struct dma_window *w,
                        int fd)
{
    struct stat st;

    if (o->iova != w->iova || o->size != w->size || o->prot != w->prot ||
        o->has_file != (fd >= 0)) {
        return false;
    }
    if (fd < 0) {
        return true;
    }
    return o->fd_offset == w->fd_offset && fstat(fd, &st) == 0 &&
           st.st_dev == o->st_dev && st.st_ino == o->st_ino;
}

/* Insert w (fd: its memory, or -1) unless it clashes with the table.
 * Frees w when it is not inserted. */
static int window_add(vfud_dev *dev, struct dma_window *w, int fd)
{
    struct dma_state *dma = &dev->dma;
    guint pos;
    int r;

    g_rw_lock_reader_lock(&dma->lock);
    pos = window_search(dma, w->iova);
    if (pos < dma->windows->len) {
        struct dma_window *o = g_ptr_array_index(dma->windows, pos);

        if (o->iova <= w->iova + w->size - 1) {
            bool same = same_window(o, w, fd);

            g_rw_lock_reader_unlock(&dma->lock);
            if (same) {
                /* A client may repeat a map; LVU accepts that too. */
                dev_debug(dev, "DMA_MAP [%#llx, %#llx) repeated",
                          (unsigned long long)w->iova,
                          (unsigned long long)(w->iova + w->size));
                window_free(w);
                return 0;
            }
            dev_warn(dev, "DMA_MAP [%#llx, %#llx) overlaps [%#llx, %#llx)",
                     (unsigned long long)w->iova,
                     (unsigned long long)(w->iova + w->size),
                     (unsigned long long)o->iova,
                     (unsigned long long)(o->iova + o->size));
            window_free(w);
            return -EEXIST;
        }
    }
    if (dma->windows->len >= dma->max_windows) {
        g_rw_lock_reader_unlock(&dma->lock);
        dev_warn(dev, "DMA_MAP: %u windows mapped already (the limit)",
                 dma->max_windows);
        window_free(w);
        return -ENOSPC;
    }
    g_rw_lock_reader_unlock(&dma->lock);

    if (fd >= 0) {
        r = window_mmap(dev, w, fd);
        if (r < 0) {
            window_free(w);
            return r;
        }
    }
    /* Only this thread changes the table, so pos is still right. */
    g_rw_lock_writer_lock(&dma->lock);
    g_ptr_array_insert(dma->windows, (gint)pos, w);
    dma->mapped_bytes += w->size;
    g_rw_lock_writer_unlock(&dma->lock);
    dev_debug(dev, "DMA_MAP [%#llx, %#llx) %s%s %s", (unsigned long long)w->iova,
              (unsigned long long)(w->iova + w->size),
              w->prot & VFUD_DMA_READ ? "r" : "-",
              w->prot & VFUD_DMA_WRITE ? "w" : "-",
              w->vaddr != NULL ? "mmapped" : "by messages");
    return 0;
}

int handle_dma_map(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_dma_map req;
    struct dma_window *w;
    int fd, r;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz != sizeof(req)) {
        dev_warn(dev, "DMA_MAP: argsz %u, expected %zu", req.argsz, sizeof(req));
        return -EINVAL;
    }
    if (req.flags & ~(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)) {
        dev_warn(dev, "DMA_MAP: unsupported flags %#x", req.flags);
        return -EINVAL;
    }
    if (req.flags == 0) {
        dev_warn(dev, "DMA_MAP: window neither readable nor writable");
        return -EINVAL;
    }
    if (req.size == 0) {
        dev_warn(dev, "DMA_MAP at %#llx: zero size", (unsigned long long)req.addr);
        return -EINVAL;
    }
    if (req.addr + req.size - 1 < req.addr) {
        dev_warn(dev, "DMA_MAP [%#llx, +%#llx) wraps the address space",
                 (unsigned long long)req.addr, (unsigned long long)req.size);
        return -EINVAL;
    }
    if (req.size > DMA_MAX_WINDOW_SIZE) {
        dev_warn(dev, "DMA_MAP of %#llx bytes exceeds the %llu TiB limit",
                 (unsigned long long)req.size, DMA_MAX_WINDOW_SIZE >> 40);
        return -ENOSPC;
    }

    w = g_new0(struct dma_window, 1);
    w->refs = 1;
    w->iova = req.addr;
    w->size = req.size;
    w->fd_offset = req.offset;
    w->prot = (req.flags & VFIO_USER_F_DMA_REGION_READ ? VFUD_DMA_READ : 0) |
              (req.flags & VFIO_USER_F_DMA_REGION_WRITE ? VFUD_DMA_WRITE : 0);
    fd = msg_take_fd(m, 0);
    if (fd < 0) {
        w->fd_offset = 0;
    }
    r = window_add(dev, w, fd);
    /* Mapped or refused, this fd is done with: the mapping holds the
     * memory, and file_keep its own duplicate. */
    util_close(&fd);
    return r;
}

/* ------------------------------------------------------------------------
 * DMA_UNMAP
 */

/* The window is out of the table: tell the plugin, wait (a while) for the
 * references it holds, and drop ours. */
static void window_retire(vfud_dev *dev, struct dma_window *w)
{
    struct dma_state *dma = &dev->dma;
    gint64 deadline = g_get_monotonic_time() + UNMAP_WAIT_MS * 1000;
    struct conn *c = dev->conn;

    if (dev->ops->dma_unmap != NULL) {
        device_cb_enter(dev, "dma_unmap");
        dev->ops->dma_unmap(dev, w->iova, w->size);
        device_cb_leave(dev);
    }
    while (g_atomic_int_get(&w->refs) > 1) {
        if (g_get_monotonic_time() >= deadline) {
            dev_warn(dev, "DMA window [%#llx, %#llx) still in use by the device "
                     "after %d ms; it is unmapped when released",
                     (unsigned long long)w->iova,
                     (unsigned long long)(w->iova + w->size), UNMAP_WAIT_MS);
            break;
        }
        if (c != NULL && !c->closing) {
            /* A holder may be waiting for a reply only we can read. */
            conn_pump_replies(c, 5);
        } else {
            g_atomic_int_inc(&dma->unref_waiters);
            g_mutex_lock(&dma->unref_lock);
            if (g_atomic_int_get(&w->refs) > 1) {
                g_cond_wait_until(&dma->unref_cond, &dma->unref_lock,
                                  g_get_monotonic_time() + 5000);
            }
            g_mutex_unlock(&dma->unref_lock);
            g_atomic_int_add(&dma->unref_waiters, -1);
        }
    }
    window_unref(dma, w);
}

static void window_remove(vfud_dev *dev, guint i)
{
    struct dma_state *dma = &dev->dma;
    struct dma_window *w;

    g_rw_lock_writer_lock(&dma->lock);
    w = g_ptr_array_steal_index(dma->windows, i);
    dma->mapped_bytes -= w->size;
    g_rw_lock_writer_unlock(&dma->lock);
    window_retire(dev, w);
}

void dma_unmap_all(vfud_dev *dev)
{
    while (dev->dma.windows->len > 0) {
        window_remove(dev, dev->dma.windows->len - 1);
    }
}

int handle_dma_unmap(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct dma_state *dma = &dev->dma;
    struct vfio_user_dma_unmap req;
    struct dma_window *w;
    guint i;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req)) {
        dev_warn(dev, "DMA_UNMAP: argsz %u < %zu", req.argsz, sizeof(req));
        return -EINVAL;
    }
    if (req.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP_) {
        dev_warn(dev, "DMA_UNMAP: GET_DIRTY_BITMAP belongs to the deprecated "
                 "migration v1 protocol; use DEVICE_FEATURE DMA logging");
        return -ENOTSUP;
    }
    if (req.flags & ~VFIO_USER_F_DMA_UNMAP_ALL) {
        dev_warn(dev, "DMA_UNMAP: unsupported flags %#x", req.flags);
        return -EINVAL;
    }
    if (m->len != sizeof(req)) {
        dev_warn(dev, "DMA_UNMAP: %zu bytes of payload, expected %zu", m->len,
                 sizeof(req));
        return -EINVAL;
    }
    if (req.flags & VFIO_USER_F_DMA_UNMAP_ALL) {
        if (req.addr != 0 || req.size != 0) {
            dev_warn(dev, "DMA_UNMAP: UNMAP_ALL needs address and size 0");
            return -EINVAL;
        }
        dev_debug(dev, "DMA_UNMAP all (%u windows)", dma->windows->len);
        dma_unmap_all(dev);
    } else {
        i = window_search(dma, req.addr);
        w = i < dma->windows->len ? g_ptr_array_index(dma->windows, i) : NULL;
        if (w == NULL || w->iova != req.addr || w->size != req.size) {
            dev_warn(dev, "DMA_UNMAP [%#llx, +%#llx): no such window (unmaps "
                     "must match a map exactly)",
                     (unsigned long long)req.addr, (unsigned long long)req.size);
            return -ENOENT;
        }
        dev_debug(dev, "DMA_UNMAP [%#llx, %#llx)", (unsigned long long)w->iova,
                  (unsigned long long)(w->iova + w->size));
        window_remove(dev, i);
    }
    memcpy(msg_reply_alloc(m, sizeof(req)), &req, sizeof(req));
    return 0;
}

/* ------------------------------------------------------------------------
 * Access for plugins
 */
static bool bus_master(vfud_dev *dev)
{
    return (__atomic_load_n(&dev->pci.cfg[4], __ATOMIC_RELAXED) & 0x04) != 0;
}

static int check_access(vfud_dev *dev, uint64_t iova, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (iova + len - 1 < iova) {
        return -EFAULT;
    }
    if (!bus_master(dev)) {
        dev_debug(dev, "DMA to %#llx refused: bus mastering is off",
                  (unsigned long long)iova);
        return -EPERM;
    }
    if (g_atomic_int_get(&dev->dma.stopped)) {
        dev_warn(dev, "DMA to %#llx refused: the device is stopped for "
                 "migration (the plugin should not start DMA now)",
                 (unsigned long long)iova);
        return -EBUSY;
    }
    return 1;
}

/*
 * Replies to our DMA requests come in three layouts (PROTOCOL.md trap 22):
 * the protocol's (address u64, count u64, data at 16), one with a 32-bit
 * count (data at 12: QEMU 10.1.0's DMA_READ reply, the spec table's
 * DMA_WRITE reply), and QEMU 10.1.0's bare DMA_WRITE reply.  The count is
 * little endian, so its low half sits at offset 8 in all of them.
 */
#define DMA_RW_HEAD32 (offsetof(struct vfio_user_dma_rw, count) + 4)

static uint32_t dma_reply_count32(const void *rep)
{
    uint32_t v;

    memcpy(&v, (const uint8_t *)rep + offsetof(struct vfio_user_dma_rw, count),
           sizeof(v));
    return GUINT32_FROM_LE(v);
}

static bool dma_write_ack_ok(const struct vfio_user_dma_rw *ack, size_t got,
                             size_t n)
{
    if (got == 0) {
        return true; /* a bare reply: success is all it says */
    }
    if (got >= sizeof(*ack)) {
        return ack->count == n;
    }
    return got == DMA_RW_HEAD32 && dma_reply_count32(ack) == n;
}

/* Where the n bytes of a DMA_READ reply of `got` bytes start, or NULL. */
static const uint8_t *dma_read_reply_data(const struct vfio_user_dma_rw *rep,
                                          size_t got, size_t n)
{
    if (got == sizeof(*rep) + n && rep->count == n) {
        return rep->data;
    }
    if (got == DMA_RW_HEAD32 + n && dma_reply_count32(rep) == n) {
        return (const uint8_t *)rep + DMA_RW_HEAD32;
    }
    return NULL;
}

/* One message round trip for [iova, iova + len) of a message-only window. */
int dma_by_message(vfud_dev *dev, bool is_write, uint64_t iova, void *buf,
                   size_t len)
{
    struct conn *c;
    int r = 0;

    if (device_on_own_thread(dev)) {
        /* The client may be blocked on a reply from us: waiting for its
         * answer here would deadlock both (trap 7). */
        dev_err(dev, "DMA %s at %#llx needs a message round trip, which the "
                "device thread cannot wait for; use vfud_submit()",
                is_write ? "write" : "read", (unsigned long long)iova);
        return -EDEADLK;
    }
    c = device_get_conn(dev);
    if (c == NULL) {
        return -ENOTCONN;
    }
    while (len > 0 && r == 0) {
        size_t n = (size_t)MIN((uint64_t)len, MIN(c->client_max_xfer, CONN_MAX_XFER));
        struct vfio_user_dma_rw req = { .addr = iova, .count = n };
        struct vfio_user_dma_rw *rep;
        size_t got = 0;

        if (is_write) {
            struct vfio_user_dma_rw ack;

            r = conn_request(c, VFIO_USER_DMA_WRITE, &req, sizeof(req), buf, n,
                             &ack, sizeof(ack), &got, 5000);
            if (r == 0 && !dma_write_ack_ok(&ack, got, n)) {
                r = -EIO;
            }
        } else {
            rep = g_malloc(sizeof(*rep) + n);
            r = conn_request(c, VFIO_USER_DMA_READ, &req, sizeof(req), NULL, 0,
                             rep, sizeof(*rep) + n, &got, 5000);
            if (r == 0) {
                const uint8_t *data = dma_read_reply_data(rep, got, n);

                if (data == NULL) {
                    r = -EIO;
                } else {
                    memcpy(buf, data, n);
                }
            }
            g_free(rep);
        }
        if (r < 0) {
            dev_debug(dev, "DMA %s message at %#llx (%zu bytes) failed: %s",
                      is_write ? "write" : "read", (unsigned long long)iova, n,
                      g_strerror(-r));
            if (r != -ENOTCONN && r != -ETIMEDOUT) {
                r = -EIO;
            }
        }
        iova += n;
        buf = (uint8_t *)buf + n;
        len -= n;
    }
    conn_unref(c);
    return r;
}

static int dma_rw(vfud_dev *dev, bool is_write, uint64_t iova, void *buf,
                  size_t len)
{
    struct dma_state *dma = &dev->dma;
    unsigned need = is_write ? VFUD_DMA_WRITE : VFUD_DMA_READ;
    int r = check_access(dev, iova, len);

    if (r <= 0) {
        return r;
    }
    while (len > 0) {
        struct dma_window *w;
        size_t n;
        uint64_t off;
        bool by_message, unchecked;

        g_rw_lock_reader_lock(&dma->lock);
        w = window_find(dma, iova);
        if (w == NULL) {
            g_rw_lock_reader_unlock(&dma->lock);
            return -EFAULT;
        }
        if (!(w->prot & need)) {
            g_rw_lock_reader_unlock(&dma->lock);
            return -EACCES;
        }
        off = iova - w->iova;
        n = (size_t)MIN((uint64_t)len, w->size - off);
        by_message = w->addr == NULL;
        /* Keep the window to judge it from this access (dma_verify.h). */
        unchecked = by_message && dma_verify_pending(w);
        if (unchecked) {
            g_atomic_int_inc(&w->refs);
        }
        if (!by_message) {
            if (is_write) {
                memcpy(w->addr + off, buf, n);
            } else {
                memcpy(buf, w->addr + off, n);
            }
        }
        g_rw_lock_reader_unlock(&dma->lock);
        if (by_message) {
            r = dma_by_message(dev, is_write, iova, buf, n);
            if (unchecked) {
                if (r == 0) {
                    dma_verify_observe(dev, w, iova, buf, n);
                }
                window_unref(dma, w);
            }
            if (r < 0) {
                return r;
            }
        }
        /* After the write: a report in between only delays the page.
         * Message writes are the client's to log, but logging them too
         * spares it the bookkeeping and costs nothing. */
        if (is_write) {
            dma_log_mark(dma->log, iova, n);
        }
        iova += n;
        buf = (uint8_t *)buf + n;
        len -= n;
    }
    return 0;
}

int dma_read(vfud_dev *dev, uint64_t iova, void *buf, size_t len)
{
    return dma_rw(dev, false, iova, buf, len);
}

int dma_write(vfud_dev *dev, uint64_t iova, const void *buf, size_t len)
{
    return dma_rw(dev, true, iova, (void *)buf, len);
}

int dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len, unsigned prot,
               struct vfud_sg *sg, unsigned max_sg)
{
    struct dma_state *dma = &dev->dma;
    struct dma_window *unchecked = NULL;
    uint64_t iova0 = iova;
    size_t len0 = len;
    unsigned n = 0, checks = 0;
    int r = check_access(dev, iova, len);

    if (r <= 0) {
        return r;
    }
    if (prot == 0 || (prot & ~(VFUD_DMA_READ | VFUD_DMA_WRITE))) {
        return -EINVAL;
    }
again:
    g_rw_lock_reader_lock(&dma->lock);
    while (len > 0) {
        struct dma_window *w = window_find(dma, iova);
        uint64_t off;
        size_t chunk;

        if (w == NULL) {
            r = -EFAULT;
            break;
        }
        if ((w->prot & prot) != prot) {
            r = -EACCES;
            break;
        }
        if (w->addr == NULL) {
            r = -EREMOTE;
            /* No pointer before the window is known to be the guest's
             * memory; the device thread cannot wait for the check. */
            if (dma_verify_pending(w) && checks < 8 &&
                !device_on_own_thread(dev)) {
                unchecked = w;
                g_atomic_int_inc(&w->refs);
            }
            break;
        }
        if (n == max_sg) {
            r = -ENOSPC;
            break;
        }
        off = iova - w->iova;
        chunk = (size_t)MIN((uint64_t)len, w->size - off);
        g_atomic_int_inc(&w->refs);
        sg[n].iova = iova;
        sg[n].base = w->addr + off;
        sg[n].len = chunk;
        sg[n]._map = w;
        sg[n]._prot = prot;
        n++;
        iova += chunk;
        len -= chunk;
    }
    g_rw_lock_reader_unlock(&dma->lock);
    if (r < 0) {
        dma_sg_put(dev, sg, n);
        if (unchecked != NULL) {
            /* A window still pending after its check (all zeroes) is by
             * messages this time. */
            bool shared = dma_verify_probe(
                dev, unchecked, iova,
                (size_t)MIN((uint64_t)len, unchecked->iova + unchecked->size - iova));

            window_unref(dma, unchecked);
            unchecked = NULL;
            checks++;
            if (shared) {
                iova = iova0;
                len = len0;
                n = 0;
                r = 0;
                goto again;
            }
        }
        return r;
    }
    return (int)n;
}

void dma_sg_put(vfud_dev *dev, struct vfud_sg *sg, unsigned nr_sg)
{
    for (unsigned i = 0; i < nr_sg; i++) {
        struct dma_window *w = sg[i]._map;

        if (w == NULL) {
            continue;
        }
        if (sg[i]._prot & VFUD_DMA_WRITE) {
            dma_mark_dirty(dev, sg[i].iova, sg[i].len);
        }
        sg[i]._map = NULL;
        window_unref(&dev->dma, w);
    }
}

void dma_mark_dirty(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    dma_log_mark(dev->dma.log, iova, len);
}

void dma_set_stopped(vfud_dev *dev, bool stopped)
{
    g_atomic_int_set(&dev->dma.stopped, stopped ? 1 : 0);
}
