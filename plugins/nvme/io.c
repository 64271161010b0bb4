/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVM command set: Read, Write (FUA), Compare, Flush, Write Zeroes and
 * Dataset Management.  Commands are validated here, their data pointers
 * walked (dptr.c) and handed to the namespace's back-end; completions come
 * back through nvme_io_backend_done().
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "nvme_int.h"

static struct nvme_ns *io_ns(struct nvme_ctrl *c, uint32_t nsid)
{
    if (nsid == 0 || nsid > NVME_MAX_NS) {
        return NULL;
    }
    return c->ns[nsid];
}

static void io_done(struct nvme_ctrl *c, struct nvme_req *req, uint16_t st)
{
    req->status = st;
    nvme_req_complete(c, req);
}

static uint16_t lba_check(const struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
    if (slba + nlb < slba || slba + nlb > ns->nsze) {
        return NVME_SC_LBA_RANGE;
    }
    return NVME_SC_SUCCESS;
}

/* Synchronous zeroing, for back-ends that cannot fallocate (rare path). */
static int zero_range_sync(struct nvme_ns *ns, uint64_t off, uint64_t len)
{
    static _Alignas(4096) const uint8_t zeroes[65536];

    while (len) {
        size_t l = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
        ssize_t n = pwrite(ns->fd, zeroes, l, (off_t)off);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static uint16_t errno_to_status(const struct nvme_req *req, int err)
{
    if (err == -ENOSPC || err == -EDQUOT) {
        return NVME_SC_CAP_EXCEEDED;
    }
    if (err == -ENOTCONN) {
        /* network storage away for longer than its reconnect timeout:
         * not a media error, and worth retrying later (DNR clear) */
        return NVME_SC_NS_NOT_READY;
    }
    switch (req->cmd.opcode) {
    case NVME_CMD_READ:
    case NVME_CMD_COMPARE:
        return NVME_SC_UNRECOVERED_READ;
    default:
        return NVME_SC_WRITE_FAULT;
    }
}

static uint16_t compare_data(struct nvme_ctrl *c, struct nvme_req *req)
{
    const uint8_t *disk = req->bounce;
    uint8_t buf[512];

    for (unsigned i = 0; i < req->nseg; i++) {
        uint64_t done = 0;

        while (done < req->seg[i].len) {
            uint64_t l = req->seg[i].len - done;

            if (l > sizeof(buf)) {
                l = sizeof(buf);
            }
            if (vfud_dma_read(c->dev, req->seg[i].iova + done, buf, l) < 0) {
                return NVME_SC_DATA_XFER_ERROR;
            }
            if (memcmp(buf, disk, l) != 0) {
                return NVME_SC_COMPARE_FAILED;
            }
            disk += l;
            done += l;
        }
    }
    return NVME_SC_SUCCESS;
}

/* Write Zeroes / deallocate without fallocate support: do it by hand. */
static int zero_fallback(struct nvme_req *req)
{
    struct nvme_ns *ns = req->ns;
    int r = 0;

    if (req->cmd.opcode == NVME_CMD_WRITE_ZEROES) {
        r = zero_range_sync(ns, req->offset, req->len);
    } else {
        const struct nvme_dsm_range *rg = req->bounce;
        unsigned nr = (req->cmd.cdw10 & 0xff) + 1;

        for (unsigned i = 0; i < nr && r == 0; i++) {
            r = zero_range_sync(ns, rg[i].slba << ns->lba_shift,
                                (uint64_t)rg[i].nlb << ns->lba_shift);
        }
    }
    if (r == 0 && (req->fua)) {
        r = fdatasync(ns->fd) < 0 ? -errno : 0;
    }
    return r;
}

void nvme_io_backend_done(struct nvme_ctrl *c, struct nvme_req *req, int res)
{
    uint16_t st = NVME_SC_SUCCESS;

    if (res < 0 && req->res == 0) {
        req->res = res;
    }
    if (--req->pending > 0) {
        return;
    }
    nvme_req_release_data(c, req);
    if (req->res == -EOPNOTSUPP &&
        (req->cmd.opcode == NVME_CMD_WRITE_ZEROES ||
         req->cmd.opcode == NVME_CMD_DSM)) {
        req->ns->backend_no_fallocate = true;
        req->res = zero_fallback(req);
    }
    if (req->res < 0) {
        st = errno_to_status(req, req->res);
        c->smart.media_errors++;
    } else if (req->cmd.opcode == NVME_CMD_READ && req->bounced &&
               c->enabled) {
        /* (After a reset the completion is dropped: no data either.) */
        st = nvme_dptr_to_guest(c, req, req->bounce, req->len);
    } else if (req->cmd.opcode == NVME_CMD_COMPARE) {
        st = compare_data(c, req);
    }
    io_done(c, req, st);
}

static void exec_rw(struct nvme_ctrl *c, struct nvme_req *req,
                    struct nvme_ns *ns)
{
    struct nvme_sqe *cmd = &req->cmd;
    uint64_t slba = cmd->cdw10 | (uint64_t)cmd->cdw11 << 32;
    uint64_t nlb = (cmd->cdw12 & 0xffff) + 1ull;
    bool write = cmd->opcode == NVME_CMD_WRITE;
    uint64_t len;
    uint16_t st;

    if (NVME_RW_PRINFO(cmd->cdw12)) {
        io_done(c, req, NVME_SC_INVALID_FIELD); /* no protection info */
        return;
    }
    st = lba_check(ns, slba, nlb);
    if (st) {
        io_done(c, req, st);
        return;
    }
    len = nlb << ns->lba_shift;
    if (len > NVME_MAX_XFER) {
        io_done(c, req, NVME_SC_INVALID_FIELD); /* beyond MDTS */
        return;
    }
    if (write && ns->read_only) {
        io_done(c, req, NVME_SC_NS_WRITE_PROTECTED);
        return;
    }
    st = nvme_dptr_parse(c, req, len, true);
    if (st) {
        io_done(c, req, st);
        return;
    }
    req->offset = slba << ns->lba_shift;
    req->is_write = write;
    req->fua = write && ((cmd->cdw12 & NVME_RW_FUA) || !c->wce ||
                         !ns->write_cache);
    if (write) {
        c->smart.host_writes++;
        c->smart.data_units_written += nlb << (ns->lba_shift - 9);
    } else {
        c->smart.host_reads++;
        c->smart.data_units_read += nlb << (ns->lba_shift - 9);
    }

    if (cmd->opcode == NVME_CMD_COMPARE) {
        /* Read the media into the bounce buffer, compare at completion. */
        if (nvme_req_bounce(req) < 0) {
            io_done(c, req, NVME_SC_INTERNAL);
            return;
        }
        req->bounced = true;
        req->iov[0].iov_base = req->bounce;
        req->iov[0].iov_len = len;
        req->niov = 1;
        if (ns->backend == NVME_BACKEND_NULL) {
            memset(req->bounce, 0, len);
            req->pending = 1;
            nvme_io_backend_done(c, req, 0);
            return;
        }
    } else {
        st = nvme_dptr_map(c, req, write ? VFUD_DMA_READ : VFUD_DMA_WRITE,
                           ns->backend == NVME_BACKEND_NULL ? 1 : ns->dio_align);
        if (st) {
            io_done(c, req, st);
            return;
        }
        if (ns->backend == NVME_BACKEND_NULL) {
            nvme_null_rw(c, req);
            return;
        }
    }
    if (ns->backend == NVME_BACKEND_NBD) {
        (void)nvme_nbd_rw(c, req); /* completes the command, even on error */
        return;
    }
    if (ns->backend == NVME_BACKEND_RBD) {
        if (nvme_rbd_rw(c, req) < 0) {
            io_done(c, req, NVME_SC_INTERNAL);
        }
        return;
    }
    if (nvme_uring_rw(c, req) < 0) {
        io_done(c, req, NVME_SC_INTERNAL);
    }
}

static void exec_flush(struct nvme_ctrl *c, struct nvme_req *req)
{
    uint32_t nsid = req->cmd.nsid;

    req->pending = 1; /* held until every fsync is queued */
    for (uint32_t id = 1; id <= c->nn; id++) {
        struct nvme_ns *ns = c->ns[id];

        if (!ns || (nsid != NVME_NSID_ALL && nsid != id)) {
            continue;
        }
        if (ns->backend == NVME_BACKEND_NULL || ns->read_only) {
            continue;
        }
        if ((ns->backend == NVME_BACKEND_NBD   ? nvme_nbd_flush(c, req, ns)
             : ns->backend == NVME_BACKEND_RBD ? nvme_rbd_flush(c, req, ns)
                                               : nvme_uring_flush(c, req, ns)) < 0) {
            req->res = -EIO;
        }
    }
    nvme_io_backend_done(c, req, 0);
}

static void exec_write_zeroes(struct nvme_ctrl *c, struct nvme_req *req,
                              struct nvme_ns *ns)
{
    struct nvme_sqe *cmd = &req->cmd;
    uint64_t slba = cmd->cdw10 | (uint64_t)cmd->cdw11 << 32;
    uint64_t nlb = (cmd->cdw12 & 0xffff) + 1ull;
    uint16_t st = lba_check(ns, slba, nlb);
    int mode;

    if (st) {
        io_done(c, req, st);
        return;
    }
    if (NVME_RW_PRINFO(cmd->cdw12)) {
        io_done(c, req, NVME_SC_INVALID_FIELD);
        return;
    }
    if (ns->read_only) {
        io_done(c, req, NVME_SC_NS_WRITE_PROTECTED);
        return;
    }
    if (ns->backend == NVME_BACKEND_NULL) {
        io_done(c, req, NVME_SC_SUCCESS);
        return;
    }
    req->offset = slba << ns->lba_shift;
    req->len = nlb << ns->lba_shift;
    req->fua = (cmd->cdw12 & NVME_RW_FUA) || !c->wce || !ns->write_cache;
    req->pending = 1;
    if (ns->backend == NVME_BACKEND_NBD) {
        if (nvme_nbd_zero(c, req, req->offset, req->len,
                          cmd->cdw12 & NVME_WZ_DEAC) < 0) {
            req->res = -EIO;
        }
    } else if (ns->backend == NVME_BACKEND_RBD) {
        if (nvme_rbd_zero(c, req, req->offset, req->len,
                          cmd->cdw12 & NVME_WZ_DEAC) < 0) {
            req->res = -EIO;
        }
    } else if (ns->backend_no_fallocate) {
        req->res = -EOPNOTSUPP;
    } else {
        /* Deallocating also reads back zeroes (DLFEAT), so DEAC may punch. */
        mode = (cmd->cdw12 & NVME_WZ_DEAC) && !ns->is_blockdev
                   ? NVME_FALLOC_PUNCH : NVME_FALLOC_ZERO;
        if (nvme_uring_fallocate(c, req, mode, req->offset, req->len) < 0) {
            req->res = -EIO;
        }
    }
    nvme_io_backend_done(c, req, 0);
}

static void exec_dsm(struct nvme_ctrl *c, struct nvme_req *req,
                     struct nvme_ns *ns)
{
    struct nvme_sqe *cmd = &req->cmd;
    unsigned nr = (cmd->cdw10 & 0xff) + 1;
    const struct nvme_dsm_range *rg;
    uint16_t st;

    if (!(cmd->cdw11 & NVME_DSM_AD)) {
        io_done(c, req, NVME_SC_SUCCESS); /* hints only: nothing to do */
        return;
    }
    if (ns->read_only) {
        io_done(c, req, NVME_SC_NS_WRITE_PROTECTED);
        return;
    }
    st = nvme_dptr_parse(c, req, nr * sizeof(*rg), true);
    if (st == NVME_SC_SUCCESS && nvme_req_bounce(req) < 0) {
        st = NVME_SC_INTERNAL;
    }
    if (st == NVME_SC_SUCCESS) {
        st = nvme_dptr_from_guest(c, req, req->bounce, nr * sizeof(*rg));
    }
    rg = req->bounce;
    for (unsigned i = 0; i < nr && st == NVME_SC_SUCCESS; i++) {
        st = lba_check(ns, rg[i].slba, rg[i].nlb);
    }
    if (st) {
        io_done(c, req, st);
        return;
    }
    if (ns->backend == NVME_BACKEND_NULL) {
        io_done(c, req, NVME_SC_SUCCESS);
        return;
    }
    req->fua = false;
    req->pending = 1;
    if (ns->backend == NVME_BACKEND_NBD) {
        for (unsigned i = 0; i < nr; i++) {
            if (rg[i].nlb && nvme_nbd_zero(c, req, rg[i].slba << ns->lba_shift,
                                           (uint64_t)rg[i].nlb << ns->lba_shift,
                                           true) < 0) {
                req->res = -EIO;
                break;
            }
        }
    } else if (ns->backend == NVME_BACKEND_RBD) {
        for (unsigned i = 0; i < nr; i++) {
            if (rg[i].nlb && nvme_rbd_zero(c, req, rg[i].slba << ns->lba_shift,
                                           (uint64_t)rg[i].nlb << ns->lba_shift,
                                           true) < 0) {
                req->res = -EIO;
                break;
            }
        }
    } else if (ns->backend_no_fallocate) {
        req->res = -EOPNOTSUPP;
    } else {
        for (unsigned i = 0; i < nr; i++) {
            if (rg[i].nlb == 0) {
                continue;
            }
            if (nvme_uring_fallocate(c, req,
                                     ns->is_blockdev ? NVME_FALLOC_ZERO
                                                     : NVME_FALLOC_PUNCH,
                                     rg[i].slba << ns->lba_shift,
                                     (uint64_t)rg[i].nlb << ns->lba_shift) < 0) {
                req->res = -EIO;
                break;
            }
        }
    }
    nvme_io_backend_done(c, req, 0);
}

void nvme_io_exec(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct nvme_sqe *cmd = &req->cmd;
    struct nvme_ns *ns;

    if (cmd->flags & 3) {
        io_done(c, req, NVME_SC_INVALID_FIELD); /* fused: not supported */
        return;
    }
    if (cmd->opcode == NVME_CMD_FLUSH && cmd->nsid == NVME_NSID_ALL) {
        exec_flush(c, req);
        return;
    }
    ns = io_ns(c, cmd->nsid);
    switch (cmd->opcode) {
    case NVME_CMD_FLUSH:
    case NVME_CMD_WRITE:
    case NVME_CMD_READ:
    case NVME_CMD_COMPARE:
    case NVME_CMD_WRITE_ZEROES:
    case NVME_CMD_DSM:
        break;
    default:
        io_done(c, req, NVME_SC_INVALID_OPCODE);
        return;
    }
    if (!ns) {
        io_done(c, req, NVME_SC_INVALID_NS);
        return;
    }
    req->ns = ns;
    switch (cmd->opcode) {
    case NVME_CMD_FLUSH:
        exec_flush(c, req);
        break;
    case NVME_CMD_WRITE:
    case NVME_CMD_READ:
    case NVME_CMD_COMPARE:
        exec_rw(c, req, ns);
        break;
    case NVME_CMD_WRITE_ZEROES:
        exec_write_zeroes(c, req, ns);
        break;
    case NVME_CMD_DSM:
        exec_dsm(c, req, ns);
        break;
    }
}
