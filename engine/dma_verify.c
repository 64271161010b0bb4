/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The check that a mapped DMA window is the guest's memory (dma_verify.h).
 *
 * The rule.  The client's answer to a DMA message is the guest's view of
 * its memory; the file we were given, read with pread(), is what our
 * mapping would show.  QEMU with share=on maps the same pages, so the two
 * always agree; with share=off every page the guest has written since QEMU
 * mapped the file is a private copy, so they differ there.  For the bytes
 * of one access (or a probe of at most DMA_VERIFY_MAX_BYTES):
 *   - equal and not all zero: shared.  Fooled only if the file already
 *     held exactly these bytes while QEMU kept a private copy, i.e. the
 *     file is an old copy of this guest's memory or the guest has not
 *     written these bytes itself;
 *   - equal and all zero: proves nothing (an untouched private page reads
 *     as zeroes both ways); stay pending and judge again at the next use;
 *   - different: read the guest's view once more; if it did not change
 *     around our file read, private.  Otherwise the guest was writing
 *     there: stay pending.
 * A wrong "private" only costs speed; the memory is still reached
 * correctly by messages.
 *
 * pread() rather than our mapping: reading a hole through a MAP_SHARED
 * mapping would allocate a page for it, and on hugetlbfs with an exactly
 * sized pool (private hugepages) fail with SIGBUS; pread() returns zeroes
 * for holes and errors instead of signals.  So a window keeps a duplicate
 * of its fd until judged.
 *
 * A cheaper first signal, tried at DMA_MAP: the client's own mapping of
 * the file, in /proc/PID/maps (PID from SO_PEERCRED).  Lines for the file
 * (device and inode of the fd) that overlap the window's part of it say
 * "s" (shared) or "p" (private): any private one demotes the window at
 * once; shared ones covering the whole part make it trusted at once, with
 * no message at all (clients that never answer DMA_READ, such as SPDK's,
 * need that).  The file is readable only when we may ptrace the client
 * (same user, or root); otherwise, or when no line matches, the content
 * check decides.  Under Landlock, which confines ptrace, the sandbox's
 * helper opens it for us (conn_open_peer_maps).  VFIOUSERD_PEER_MAPS=no skips it (tests of the content
 * check).
 *
 * Locking: judging needs messages, so nothing is held while waiting for
 * the client; verify_lock only orders the file read against closing the
 * fd when another thread settles the window first.  Once shared, the
 * window's addr is set (under the table's write lock) and accesses never
 * come here again.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dma.h"
#include "dma_verify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* conn->dma_warned bits: one warning of each kind per client. */
#define WARNED_PRIVATE 1
#define WARNED_FDS 2

/* /proc/PID/maps reads per client: QEMU maps a few dozen windows per boot;
 * a client mapping thousands must not make us parse its maps each time. */
#define PEER_MAPS_MAX_READS 1024

static GMutex verify_lock;

/* Warn once per client (any thread). */
static bool first_warning(vfud_dev *dev, int bit)
{
    struct conn *c = device_get_conn(dev);
    bool first;

    if (c == NULL) {
        return false;
    }
    first = !(g_atomic_int_or(&c->dma_warned, (guint)bit) & (guint)bit);
    conn_unref(c);
    return first;
}

static void warn_private(vfud_dev *dev, const struct dma_window *w,
                         const char *how)
{
    dev_debug(dev, "DMA window [%#llx, %#llx): %s; reached by messages",
              (unsigned long long)w->iova,
              (unsigned long long)(w->iova + w->size), how);
    if (first_warning(dev, WARNED_PRIVATE)) {
        dev_warn(dev, "guest memory [%#llx, %#llx) came with a file, but the "
                 "client does not share it: the file holds other data than "
                 "the guest sees (QEMU: a memory backend with share=off; "
                 "libvirt: <memoryBacking> without <access mode='shared'/>). "
                 "DMA to such memory goes by messages, which is slow: give "
                 "the memory backend share=on",
                 (unsigned long long)w->iova,
                 (unsigned long long)(w->iova + w->size));
    }
}

static gint cmp_u64_pair(gconstpointer a, gconstpointer b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* All of an open /proc/PID/maps, read again from the start. */
static char *read_maps(int fd)
{
    g_autoptr(GString) s = g_string_sized_new(16384);
    char buf[16384];
    off_t off = 0;
    ssize_t n;

    while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
        g_string_append_len(s, buf, n);
        off += n;
    }
    return n < 0 ? NULL : g_string_free(g_steal_pointer(&s), FALSE);
}

/* From the client's /proc/PID/maps: DMA_TRUST_SHARED, _PRIVATE, or
 * _PENDING (unreadable, or nothing conclusive). */
static enum dma_trust peer_mapping(vfud_dev *dev, const struct dma_window *w,
                                   int fd)
{
    const char *env = getenv("VFIOUSERD_PEER_MAPS");
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GArray) shared = NULL; /* [from, to) file ranges, uint64_t[2] */
    uint64_t lo = w->fd_offset, hi = w->fd_offset + w->size, covered;
    bool private_seen = false;
    struct stat st;
    int maps_fd;
    char *line, *next;

    if ((env != NULL && strcmp(env, "no") == 0) || dev->conn == NULL ||
        dev->conn->pid <= 0 ||
        dev->conn->peer_maps_read >= PEER_MAPS_MAX_READS || fstat(fd, &st) < 0) {
        return DMA_TRUST_PENDING;
    }
    dev->conn->peer_maps_read++;
    maps_fd = conn_open_peer_maps(dev->conn);
    if (maps_fd >= 0) {
        text = read_maps(maps_fd);
        close(maps_fd);
    } else {
        path = g_strdup_printf("/proc/%d/maps", (int)dev->conn->pid);
        g_file_get_contents(path, &text, NULL, NULL);
    }
    if (text == NULL) {
        return DMA_TRUST_PENDING;
    }
    shared = g_array_new(FALSE, FALSE, 2 * sizeof(uint64_t));
    for (line = text; line != NULL && *line != '\0'; line = next) {
        uint64_t start, end, off, r[2];
        unsigned maj, min;
        unsigned long long ino;
        char perms[5];

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %llu",
                   &start, &end, perms, &off, &maj, &min, &ino) != 7 ||
            maj != major(st.st_dev) || min != minor(st.st_dev) ||
            ino != (unsigned long long)st.st_ino || end <= start ||
            off >= hi || off + (end - start) <= lo) {
            continue;
        }
        if (perms[3] != 's') {
            private_seen = true;
            break;
        }
        r[0] = MAX(off, lo);
        r[1] = MIN(off + (end - start), hi);
        g_array_append_val(shared, r);
    }
    if (private_seen) {
        return DMA_TRUST_PRIVATE;
    }
    /* The shared lines must cover the window's part of the file (the
     * kernel may show one mapping as several lines). */
    g_array_sort(shared, cmp_u64_pair);
    covered = lo;
    for (guint i = 0; i < shared->len; i++) {
        const uint64_t *r = &g_array_index(shared, uint64_t, 2 * i);

        if (r[0] > covered) {
            break;
        }
        covered = MAX(covered, r[1]);
    }
    return covered >= hi ? DMA_TRUST_SHARED : DMA_TRUST_PENDING;
}

void dma_verify_adopt(vfud_dev *dev, struct dma_window *w, int fd)
{
    gint *count = &dev->dma.verify_fds;
    int dup = -1;
    bool full;

    /* Not in the table yet: nobody else sees w. */
    switch (peer_mapping(dev, w, fd)) {
    case DMA_TRUST_SHARED:
        w->trust = DMA_TRUST_SHARED;
        w->addr = w->vaddr;
        dev_debug(dev, "DMA window [%#llx, %#llx): the client maps its file "
                  "shared; used directly", (unsigned long long)w->iova,
                  (unsigned long long)(w->iova + w->size));
        return;
    case DMA_TRUST_PRIVATE:
        w->trust = DMA_TRUST_PRIVATE;
        warn_private(dev, w, "the client maps its file privately");
        return;
    default:
        break;
    }

    full = g_atomic_int_add(count, 1) >= DMA_VERIFY_MAX_FDS;
    if (!full) {
        dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }
    if (dup < 0) {
        int e = errno;

        g_atomic_int_add(count, -1);
        w->trust = DMA_TRUST_PRIVATE;
        if (first_warning(dev, WARNED_FDS)) {
            dev_warn(dev, "DMA_MAP [%#llx, %#llx): %s; this window (and "
                     "others like it) is reached by messages, which is slow",
                     (unsigned long long)w->iova,
                     (unsigned long long)(w->iova + w->size),
                     full ? "too many windows wait for their first use to be "
                            "checked"
                          : g_strerror(e));
        }
        return;
    }
    w->vfd = dup;
    w->vfd_count = count;
    w->trust = DMA_TRUST_PENDING;
}

void dma_verify_forget(struct dma_window *w)
{
    /* The last reference: no check can be running on w. */
    if (w->vfd_count != NULL) {
        close(w->vfd);
        g_atomic_int_add(w->vfd_count, -1);
        w->vfd_count = NULL;
    }
}

/* The file's bytes for [iova, iova + len) of w, or -errno. */
static int file_read(struct dma_window *w, uint64_t iova, uint8_t *buf,
                     size_t len)
{
    uint64_t off = w->fd_offset + (iova - w->iova);

    while (len > 0) {
        ssize_t n = pread(w->vfd, buf, len, (off_t)off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* 0: the client shrank the file under its window. */
            return n < 0 ? -errno : -EIO;
        }
        buf += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static size_t first_nonzero(const uint8_t *p, size_t len)
{
    size_t i = 0;

    while (i < len && p[i] == 0) {
        i++;
    }
    return i;
}

/* The verdict for w from guest[0..len), the client's view of [iova, ...)
 * just now (see the rule at the top). */
static enum dma_trust judge(vfud_dev *dev, struct dma_window *w, uint64_t iova,
                            const uint8_t *guest, size_t len)
{
    size_t nz = first_nonzero(guest, len);
    /* Compare where the guest has data, from the start of its page. */
    size_t start = nz < len ? nz & ~(size_t)4095 : 0;
    size_t n = MIN(len - start, (size_t)DMA_VERIFY_MAX_BYTES);
    g_autofree uint8_t *file = g_malloc(n);
    g_autofree uint8_t *again = NULL;
    int r;

    g_mutex_lock(&verify_lock);
    if (!dma_verify_pending(w)) {
        g_mutex_unlock(&verify_lock);
        return (enum dma_trust)g_atomic_int_get(&w->trust);
    }
    r = file_read(w, iova + start, file, n);
    g_mutex_unlock(&verify_lock);
    if (r < 0) {
        dev_debug(dev, "DMA window [%#llx, %#llx): reading its file failed "
                  "(%s); still on messages",
                  (unsigned long long)w->iova,
                  (unsigned long long)(w->iova + w->size), g_strerror(-r));
        return DMA_TRUST_PENDING;
    }
    if (memcmp(file, guest + start, n) == 0) {
        return nz < len ? DMA_TRUST_SHARED : DMA_TRUST_PENDING;
    }
    again = g_malloc(n);
    if (dma_by_message(dev, false, iova + start, again, n) < 0 ||
        memcmp(again, guest + start, n) != 0) {
        return DMA_TRUST_PENDING;
    }
    return DMA_TRUST_PRIVATE;
}

static void settle(vfud_dev *dev, struct dma_window *w, enum dma_trust t)
{
    if (t == DMA_TRUST_PENDING) {
        return;
    }
    g_mutex_lock(&verify_lock);
    if (!g_atomic_int_compare_and_exchange(&w->trust, DMA_TRUST_PENDING, t)) {
        g_mutex_unlock(&verify_lock);
        return;
    }
    close(w->vfd);
    g_atomic_int_add(w->vfd_count, -1);
    w->vfd_count = NULL;
    g_mutex_unlock(&verify_lock);

    if (t == DMA_TRUST_SHARED) {
        g_rw_lock_writer_lock(&dev->dma.lock);
        w->addr = w->vaddr;
        g_rw_lock_writer_unlock(&dev->dma.lock);
        dev_debug(dev, "DMA window [%#llx, %#llx): the mapping shows the "
                  "guest's memory; used directly",
                  (unsigned long long)w->iova,
                  (unsigned long long)(w->iova + w->size));
        return;
    }
    warn_private(dev, w, "the client keeps a private copy");
}

void dma_verify_observe(vfud_dev *dev, struct dma_window *w, uint64_t iova,
                        const void *buf, size_t len)
{
    if (len == 0 || !dma_verify_pending(w)) {
        return;
    }
    settle(dev, w, judge(dev, w, iova, buf, len));
}

bool dma_verify_probe(vfud_dev *dev, struct dma_window *w, uint64_t iova,
                      size_t len)
{
    size_t n = MIN(len, (size_t)DMA_VERIFY_MAX_BYTES);
    g_autofree uint8_t *guest = NULL;

    if (dma_verify_pending(w) && n > 0) {
        guest = g_malloc(n);
        if (dma_by_message(dev, false, iova, guest, n) == 0) {
            settle(dev, w, judge(dev, w, iova, guest, n));
        }
    }
    return g_atomic_int_get(&w->trust) == DMA_TRUST_SHARED;
}
