/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io_uring back-end: one ring per controller, owned by the I/O thread.
 * Each back-end operation carries its request pointer and an operation tag
 * in user_data.
 *
 * Writes into the page cache (cache = writeback, no FUA) are the exception:
 * the I/O thread copies them itself with pwritev().  io_uring cannot do
 * them without blocking on filesystems without non-blocking buffered writes
 * (ext4, the usual host filesystem), so it hands each one to an io-wq
 * worker thread, and buffered writes to one file run there one after the
 * other: every write then costs a wake-up of the worker and another of the
 * I/O thread for its completion, while the copy itself takes a few
 * microseconds (a read from the page cache completes in the submitting
 * system call: no other thread).  QEMU's own NVMe (aio=threads) hands the
 * write to one worker; we woke two more threads per write than for a read,
 * which is where our guest randwrite fell behind our randread against QEMU.
 * The write still completes through the ring (a NOP carries it), so
 * completions keep one path and one order.
 * Writes that must reach the media (FUA, or the write cache disabled) stay
 * asynchronous: they wait for the disk.  So do writes of part of a page:
 * the kernel may have to read the rest of the page from the disk first.
 * And at most INLINE_WRITES_MAX per pass of the I/O thread are copied: a
 * deep batch sends the rest to io_uring, whose worker copies them on
 * another CPU while this thread goes on, and no pass is held up long.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/uio.h>

#include "nvme_int.h"

#define INLINE_WRITES_MAX 4

#define OP_RW    0u
#define OP_OTHER 1u
#define OP_NBD   NVME_UD_NBD /* not an operation: the NBD back-end's */
#define OP_MASK  3u

struct io_uring_sqe *nvme_uring_get_sqe(struct nvme_ctrl *c)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

    if (!sqe) {
        /* Ring full: hand what we have to the kernel and retry. */
        io_uring_submit(&c->ring);
        c->sqes_queued = 0;
        sqe = io_uring_get_sqe(&c->ring);
    }
    if (sqe) {
        c->sqes_queued++;
    }
    return sqe;
}

static void set_req(struct io_uring_sqe *sqe, struct nvme_req *req,
                    unsigned op)
{
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)req | op));
}

/* A write into the page cache, done now; 0 or a negative errno. */
static int write_cached(struct nvme_req *req)
{
    ssize_t n;

    do {
        n = pwritev(req->ns->fd, req->iov, (int)req->niov, (off_t)req->offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    /* short: the file cannot grow (full filesystem, a shrunk file) */
    return (uint64_t)n == req->len ? 0 : -ENOSPC;
}

int nvme_uring_rw(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct io_uring_sqe *sqe = nvme_uring_get_sqe(c);
    int fd = req->ns->fd;

    if (!sqe) {
        return -EAGAIN;
    }
    if (req->is_write && !req->fua && req->ns->cache == NVME_CACHE_WRITEBACK &&
        ((req->offset | req->len) & (NVME_PAGE_SIZE - 1)) == 0 &&
        c->inline_writes < INLINE_WRITES_MAX) {
        int r = write_cached(req);

        c->inline_writes++;
        if (r < 0 && req->res == 0) {
            req->res = r; /* reported by the NOP's completion */
        }
        io_uring_prep_nop(sqe);
        set_req(sqe, req, OP_OTHER);
        req->pending++;
        c->backend_inflight++;
        return 0;
    }
    if (req->is_write) {
        io_uring_prep_writev(sqe, fd, req->iov, req->niov, req->offset);
        if (req->fua) {
            sqe->rw_flags = RWF_DSYNC; /* durable before completion */
        }
    } else {
        io_uring_prep_readv(sqe, fd, req->iov, req->niov, req->offset);
    }
    set_req(sqe, req, OP_RW);
    req->pending++;
    c->backend_inflight++;
    return 0;
}

int nvme_uring_flush(struct nvme_ctrl *c, struct nvme_req *req,
                     struct nvme_ns *ns)
{
    struct io_uring_sqe *sqe = nvme_uring_get_sqe(c);

    if (!sqe) {
        return -EAGAIN;
    }
    io_uring_prep_fsync(sqe, ns->fd, IORING_FSYNC_DATASYNC);
    set_req(sqe, req, OP_OTHER);
    req->pending++;
    c->backend_inflight++;
    return 0;
}

int nvme_uring_fallocate(struct nvme_ctrl *c, struct nvme_req *req, int mode,
                         uint64_t off, uint64_t len)
{
    struct io_uring_sqe *sqe = nvme_uring_get_sqe(c);
    int fmode = FALLOC_FL_KEEP_SIZE |
                (mode == NVME_FALLOC_PUNCH ? FALLOC_FL_PUNCH_HOLE
                                           : FALLOC_FL_ZERO_RANGE);

    if (!sqe) {
        return -EAGAIN;
    }
    io_uring_prep_fallocate(sqe, req->ns->fd, fmode, off, len);
    set_req(sqe, req, OP_OTHER);
    req->pending++;
    c->backend_inflight++;
    if (req->fua) {
        /* Linked: the sync only runs once the zeroing succeeded. */
        struct io_uring_sqe *s2;

        sqe->flags |= IOSQE_IO_LINK;
        s2 = nvme_uring_get_sqe(c);
        if (!s2) {
            /* cannot happen: the ring was flushed by get_sqe */
            return 0;
        }
        io_uring_prep_fsync(s2, req->ns->fd, IORING_FSYNC_DATASYNC);
        set_req(s2, req, OP_OTHER);
        req->pending++;
        c->backend_inflight++;
    }
    return 0;
}

/* Reap every available completion; returns how many were handled. */
int nvme_uring_process(struct nvme_ctrl *c)
{
    struct io_uring_cqe *cqe;
    int n = 0;

    while (io_uring_peek_cqe(&c->ring, &cqe) == 0) {
        uint64_t ud = cqe->user_data;
        int res = cqe->res;

        io_uring_cqe_seen(&c->ring, cqe);
        n++;
        if ((ud & OP_MASK) == OP_NBD) {
            nvme_nbd_event(c, (void *)(uintptr_t)(ud & ~(uint64_t)OP_MASK), res);
            continue;
        }
        struct nvme_req *req = (struct nvme_req *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);

        c->backend_inflight--;
        if ((ud & OP_MASK) == OP_RW && res >= 0 && (uint64_t)res != req->len) {
            res = -EIO; /* short transfer: the file shrank under us */
        } else if ((ud & OP_MASK) == OP_OTHER && res > 0) {
            res = 0;
        }
        if (res == -ECANCELED && req->res) {
            res = req->res; /* a linked operation after a failed one */
        }
        nvme_io_backend_done(c, req, res);
    }
    return n;
}
