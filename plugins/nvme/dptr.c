/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data pointers: PRP lists and SGLs are walked into a list of guest
 * segments (req->seg), which are then either translated into host iovecs
 * with vfud_dma_sgl_get() (fd-backed guest memory: zero copy) or served by a
 * bounce buffer filled/drained with vfud_dma_read/write (message-only guest
 * memory, or buffers O_DIRECT cannot use as they are).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_int.h"

#define PAGE_MASK ((uint64_t)NVME_PAGE_SIZE - 1)
#define SGL_MAX_DESCS 4096 /* bound on descriptors walked (cycles) */

static uint16_t add_seg(struct nvme_req *req, uint64_t iova, uint64_t len)
{
    struct nvme_seg *last = req->nseg ? &req->seg[req->nseg - 1] : NULL;

    if (len == 0) {
        return NVME_SC_SUCCESS;
    }
    if (iova + len < iova) {
        return NVME_SC_DATA_XFER_ERROR;
    }
    if (last && last->iova + last->len == iova) {
        last->len += len; /* physically contiguous: one segment */
        return NVME_SC_SUCCESS;
    }
    if (req->nseg == NVME_MAX_SEGS) {
        return NVME_SC_INVALID_FIELD;
    }
    req->seg[req->nseg].iova = iova;
    req->seg[req->nseg].len = len;
    req->nseg++;
    return NVME_SC_SUCCESS;
}

static uint16_t parse_prp(struct nvme_ctrl *c, struct nvme_req *req,
                          uint64_t len)
{
    uint64_t prp1 = req->cmd.dptr1, prp2 = req->cmd.dptr2;
    uint64_t first, rem, list;
    uint16_t st;

    if (prp1 & 3) {
        return NVME_SC_PRP_INVALID_OFFSET;
    }
    first = NVME_PAGE_SIZE - (prp1 & PAGE_MASK);
    if (first > len) {
        first = len;
    }
    st = add_seg(req, prp1, first);
    rem = len - first;
    if (st || rem == 0) {
        return st;
    }
    if (rem <= NVME_PAGE_SIZE) {
        if (prp2 & PAGE_MASK) {
            return NVME_SC_PRP_INVALID_OFFSET;
        }
        return add_seg(req, prp2, rem);
    }

    /* PRP2 points to a list; a list that needs more entries than are left
     * in its page continues in the page its last entry points to. */
    list = prp2;
    if (list & 7) {
        return NVME_SC_PRP_INVALID_OFFSET;
    }
    while (rem) {
        uint64_t in_page = (NVME_PAGE_SIZE - (list & PAGE_MASK)) / 8;
        uint64_t needed = (rem + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;
        uint64_t n = needed > in_page ? in_page : needed;
        bool chain = needed > in_page;
        uint64_t ent[64];

        if (n > 64) {
            return NVME_SC_INVALID_FIELD; /* more than MDTS allows */
        }
        if (vfud_dma_read(c->dev, list, ent, n * 8) < 0) {
            return NVME_SC_DATA_XFER_ERROR;
        }
        for (uint64_t i = 0; i < (chain ? n - 1 : n); i++) {
            uint64_t l = rem < NVME_PAGE_SIZE ? rem : NVME_PAGE_SIZE;

            if (ent[i] & PAGE_MASK) {
                return NVME_SC_PRP_INVALID_OFFSET;
            }
            st = add_seg(req, ent[i], l);
            if (st) {
                return st;
            }
            rem -= l;
        }
        if (chain) {
            /* Only PRP2 may point into a page; a list page the previous
             * one chains to starts at a page boundary (NVMe 1.4, 4.3).
             * With an offset it could hold nothing but the next pointer,
             * and a list pointing to itself kept the I/O thread in this
             * loop for ever (tests/fuzz/regressions-nvme). */
            list = ent[n - 1];
            if (list & PAGE_MASK) {
                return NVME_SC_PRP_INVALID_OFFSET;
            }
        }
    }
    return NVME_SC_SUCCESS;
}

static uint16_t sgl_data(struct nvme_req *req, const struct nvme_sgl_desc *d,
                         uint64_t *rem)
{
    if ((d->type & 0xf) != 0) {
        return NVME_SC_SGL_INVALID_TYPE; /* only "address" subtype */
    }
    if (d->len > *rem) {
        return NVME_SC_SGL_INVALID_DATA_LEN;
    }
    *rem -= d->len;
    return add_seg(req, d->addr, d->len);
}

static uint16_t parse_sgl(struct nvme_ctrl *c, struct nvme_req *req,
                          uint64_t len)
{
    struct nvme_sgl_desc d;
    uint64_t rem = len;
    unsigned walked = 0;
    uint16_t st;

    memcpy(&d, &req->cmd.dptr1, sizeof(d));
    for (;;) {
        unsigned type = d.type >> 4;
        bool last_seg;
        uint64_t nd, seg_addr;

        if (type == NVME_SGL_DATA_BLOCK) {
            st = sgl_data(req, &d, &rem);
            if (st) {
                return st;
            }
            break;
        }
        if (type != NVME_SGL_SEGMENT && type != NVME_SGL_LAST_SEGMENT) {
            return NVME_SC_SGL_INVALID_TYPE;
        }
        if ((d.type & 0xf) != 0) {
            return NVME_SC_SGL_INVALID_TYPE;
        }
        if (d.len == 0 || d.len % sizeof(d)) {
            return NVME_SC_SGL_INVALID_SEG;
        }
        last_seg = type == NVME_SGL_LAST_SEGMENT;
        nd = d.len / sizeof(d);
        seg_addr = d.addr;

        /* Walk the segment in chunks; only its last descriptor may point
         * to another segment, and a last segment points to none. */
        for (uint64_t i = 0; i < nd;) {
            struct nvme_sgl_desc chunk[16];
            uint64_t n = nd - i < 16 ? nd - i : 16;

            if (vfud_dma_read(c->dev, seg_addr + i * sizeof(d), chunk,
                              n * sizeof(d)) < 0) {
                return NVME_SC_DATA_XFER_ERROR;
            }
            for (uint64_t j = 0; j < n; j++, i++) {
                unsigned t = chunk[j].type >> 4;

                if (++walked > SGL_MAX_DESCS) {
                    return NVME_SC_SGL_INVALID_COUNT;
                }
                if (t == NVME_SGL_SEGMENT || t == NVME_SGL_LAST_SEGMENT) {
                    if (i != nd - 1) {
                        return NVME_SC_SGL_INVALID_COUNT;
                    }
                    if (last_seg) {
                        return NVME_SC_SGL_INVALID_SEG;
                    }
                    d = chunk[j];
                    goto next_segment;
                }
                if (t != NVME_SGL_DATA_BLOCK) {
                    return NVME_SC_SGL_INVALID_TYPE;
                }
                st = sgl_data(req, &chunk[j], &rem);
                if (st) {
                    return st;
                }
            }
        }
        break;
next_segment:
        continue;
    }
    if (rem) {
        return NVME_SC_SGL_INVALID_DATA_LEN;
    }
    return NVME_SC_SUCCESS;
}

uint16_t nvme_dptr_parse(struct nvme_ctrl *c, struct nvme_req *req,
                         uint64_t len, bool allow_sgl)
{
    unsigned psdt = NVME_SQE_PSDT(req->cmd.flags);

    req->nseg = 0;
    req->len = len;
    if (len == 0) {
        return NVME_SC_SUCCESS;
    }
    if (psdt == NVME_PSDT_PRP) {
        return parse_prp(c, req, len);
    }
    if (psdt == 3 || !allow_sgl) {
        return NVME_SC_INVALID_FIELD;
    }
    return parse_sgl(c, req, len);
}

uint16_t nvme_errno_to_dma_status(int err)
{
    (void)err;
    return NVME_SC_DATA_XFER_ERROR;
}

int nvme_req_bounce(struct nvme_req *req)
{
    if (!req->bounce) {
        void *p;

        if (posix_memalign(&p, NVME_PAGE_SIZE, NVME_MAX_XFER) != 0) {
            return -ENOMEM;
        }
        /* Once per request slot: stale heap bytes can never reach the
         * guest, and memory checkers see the buffer as initialised even
         * though io_uring fills it behind their back. */
        memset(p, 0, NVME_MAX_XFER);
        req->bounce = p;
    }
    return 0;
}

void nvme_req_release_data(struct nvme_ctrl *c, struct nvme_req *req)
{
    if (req->nsg) {
        vfud_dma_sgl_put(c->dev, req->sg, req->nsg);
        req->nsg = 0;
    }
}

uint16_t nvme_dptr_to_guest(struct nvme_ctrl *c, struct nvme_req *req,
                            const void *buf, uint64_t len)
{
    const uint8_t *p = buf;

    for (unsigned i = 0; i < req->nseg && len; i++) {
        uint64_t l = req->seg[i].len < len ? req->seg[i].len : len;

        if (vfud_dma_write(c->dev, req->seg[i].iova, p, l) < 0) {
            return NVME_SC_DATA_XFER_ERROR;
        }
        p += l;
        len -= l;
    }
    return NVME_SC_SUCCESS;
}

uint16_t nvme_dptr_from_guest(struct nvme_ctrl *c, struct nvme_req *req,
                              void *buf, uint64_t len)
{
    uint8_t *p = buf;

    for (unsigned i = 0; i < req->nseg && len; i++) {
        uint64_t l = req->seg[i].len < len ? req->seg[i].len : len;

        if (vfud_dma_read(c->dev, req->seg[i].iova, p, l) < 0) {
            return NVME_SC_DATA_XFER_ERROR;
        }
        p += l;
        len -= l;
    }
    return NVME_SC_SUCCESS;
}

/* Build req->iov for the back-end.  Direct when every segment is mapped
 * and suitably aligned, else through the bounce buffer (filled from the
 * guest here for writes; drained to the guest at completion for reads). */
uint16_t nvme_dptr_map(struct nvme_ctrl *c, struct nvme_req *req,
                       unsigned prot, unsigned align)
{
    bool direct = true;

    req->nsg = 0;
    req->niov = 0;
    req->bounced = false;
    for (unsigned i = 0; i < req->nseg && direct; i++) {
        int n = vfud_dma_sgl_get(c->dev, req->seg[i].iova, req->seg[i].len,
                                 prot, vfud_sg_at(req->sg, req->nsg),
                                 &req->iov[req->nsg], NVME_MAX_SEGS - req->nsg);

        if (n == -EREMOTE || n == -ENOSPC) {
            direct = false;
            break;
        }
        if (n < 0) {
            nvme_req_release_data(c, req);
            return nvme_errno_to_dma_status(n);
        }
        req->nsg += (unsigned)n;
    }
    if (direct && align > 1) {
        for (unsigned i = 0; i < req->nsg; i++) {
            if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) &
                (align - 1)) {
                direct = false;
                break;
            }
        }
    }
    if (direct) {
        req->niov = req->nsg;
        return NVME_SC_SUCCESS;
    }

    nvme_req_release_data(c, req);
    if (nvme_req_bounce(req) < 0) {
        return NVME_SC_INTERNAL;
    }
    req->bounced = true;
    req->iov[0].iov_base = req->bounce;
    req->iov[0].iov_len = req->len;
    req->niov = 1;
    if (prot & VFUD_DMA_READ) {
        /* the device reads guest memory: a write command */
        return nvme_dptr_from_guest(c, req, req->bounce, req->len);
    }
    return NVME_SC_SUCCESS;
}
