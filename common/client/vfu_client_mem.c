/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client's "guest memory": memfd-backed windows it DMA_MAPs to the
 * server, and the server->client commands that reach them by message
 * (DMA_READ / DMA_WRITE), answered the way QEMU 11.1.3 answers them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfu_client_priv.h"

void *vfu_client_guest_ptr(struct vfu_client *c, uint64_t iova, size_t len)
{
    for (size_t i = 0; i < c->nr_mem; i++) {
        const struct vfu_mem *m = &c->mem[i];
        uint64_t off;

        if (iova < m->iova) {
            continue;
        }
        off = iova - m->iova;
        /* Written so that nothing can overflow. */
        if (off <= m->size && len <= m->size - off) {
            return m->ptr + off;
        }
    }
    return NULL;
}

static bool mem_overlaps(const struct vfu_client *c, uint64_t iova,
                         uint64_t size)
{
    for (size_t i = 0; i < c->nr_mem; i++) {
        const struct vfu_mem *m = &c->mem[i];

        if (iova < m->iova + m->size && m->iova < iova + size) {
            return true;
        }
    }
    return false;
}

static void mem_unmap_one(struct vfu_mem *m)
{
    munmap(m->ptr - m->lead, m->size + m->lead);
    close(m->fd);
}

int vfu_client_track_memory(struct vfu_client *c, uint64_t iova, size_t size,
                            int fd, uint64_t offset)
{
    struct vfu_mem m = {.iova = iova, .size = size, .lead = offset & 4095};
    struct vfu_mem *table;
    void *p;
    int r;

    if (size == 0 || iova + size < iova) {
        return -EINVAL;
    }
    if (mem_overlaps(c, iova, size)) {
        return -EEXIST;
    }
    m.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (m.fd < 0) {
        return -errno;
    }
    p = mmap(NULL, size + m.lead, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd,
             (off_t)(offset - m.lead));
    if (p == MAP_FAILED) {
        r = -errno;
        close(m.fd);
        return r;
    }
    m.ptr = (uint8_t *)p + m.lead;
    table = realloc(c->mem, (c->nr_mem + 1) * sizeof(*table));
    if (table == NULL) {
        mem_unmap_one(&m);
        return -ENOMEM;
    }
    c->mem = table;
    c->mem[c->nr_mem++] = m;
    return 0;
}

/* mode: 0 message-only, 1 shared, 2 private with the fd sent. */
static void *add_memory(struct vfu_client *c, uint64_t iova, size_t size,
                        int mode)
{
    struct vfu_mem m = {.iova = iova, .size = size, .fd = -1};
    struct vfu_mem *table;
    int r;

    if (size == 0 || iova + size < iova) {
        errno = EINVAL;
        return NULL;
    }
    if (mem_overlaps(c, iova, size)) {
        errno = EEXIST;
        return NULL;
    }
    m.fd = memfd_create("vfu-client-guest", MFD_CLOEXEC);
    if (m.fd < 0) {
        return NULL;
    }
    if (ftruncate(m.fd, (off_t)size) < 0) {
        r = errno;
        close(m.fd);
        errno = r;
        return NULL;
    }
    /* Private: what we write is a copy-on-write page the file (and so a
     * server mapping it) never sees, as QEMU's memory backends with
     * share=off. */
    m.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 mode == 2 ? MAP_PRIVATE : MAP_SHARED, m.fd, 0);
    if (m.ptr == MAP_FAILED) {
        r = errno;
        close(m.fd);
        errno = r;
        return NULL;
    }
    table = realloc(c->mem, (c->nr_mem + 1) * sizeof(*table));
    if (table == NULL) {
        mem_unmap_one(&m);
        errno = ENOMEM;
        return NULL;
    }
    c->mem = table;
    /* In the table before the map, so the server may DMA as soon as it
     * has seen the DMA_MAP. */
    c->mem[c->nr_mem++] = m;

    r = vfu_client_dma_map(c, iova, size, mode != 0 ? m.fd : -1, 0,
                           VFIO_USER_F_DMA_REGION_READ |
                               VFIO_USER_F_DMA_REGION_WRITE);
    if (r < 0) {
        c->nr_mem--;
        mem_unmap_one(&m);
        errno = -r;
        return NULL;
    }
    return m.ptr;
}

void *vfu_client_add_memory(struct vfu_client *c, uint64_t iova, size_t size,
                            bool share)
{
    return add_memory(c, iova, size, share ? 1 : 0);
}

void *vfu_client_add_memory_private(struct vfu_client *c, uint64_t iova,
                                    size_t size)
{
    return add_memory(c, iova, size, 2);
}

void vfu_mem_release(struct vfu_client *c)
{
    for (size_t i = 0; i < c->nr_mem; i++) {
        mem_unmap_one(&c->mem[i]);
    }
    free(c->mem);
    c->mem = NULL;
    c->nr_mem = 0;
}

static int send_reply(struct vfu_client *c, const struct vfu_msg *req,
                      const struct iovec *parts, int nr_parts)
{
    struct vfio_user_header hdr = {
        .msg_id = req->hdr.msg_id,
        .cmd = req->hdr.cmd,
        .msg_size = sizeof(hdr),
        .flags = VFIO_USER_F_TYPE_REPLY,
    };

    for (int i = 0; i < nr_parts; i++) {
        hdr.msg_size += parts[i].iov_len;
    }
    return vfu_io_sendv(c, &hdr, parts, nr_parts, NULL, 0);
}

static int send_error(struct vfu_client *c, const struct vfu_msg *req,
                      int err)
{
    struct vfio_user_header hdr = {
        .msg_id = req->hdr.msg_id,
        .cmd = req->hdr.cmd,
        .msg_size = sizeof(hdr),
        .flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
        .error_no = (uint32_t)err,
    };

    return vfu_io_send(c, &hdr, NULL, 0, NULL, 0);
}

/* Checks a DMA request and finds its memory; positive errno on failure. */
static int dma_target(struct vfu_client *c, const struct vfu_msg *m,
                      struct vfio_user_dma_rw *head, uint8_t **ptr)
{
    if (m->len < sizeof(*head)) {
        return EINVAL;
    }
    memcpy(head, m->body, sizeof(*head));
    if (head->count > c->own_max_xfer) {
        return E2BIG;
    }
    if (m->hdr.cmd == VFIO_USER_DMA_READ ? m->len != sizeof(*head)
                                         : m->len - sizeof(*head) !=
                                               head->count) {
        return EINVAL;
    }
    *ptr = vfu_client_guest_ptr(c, head->addr, head->count);
    if (*ptr == NULL) {
        return EFAULT;
    }
    return 0;
}

int vfu_mem_serve(struct vfu_client *c, struct vfu_msg *m)
{
    bool reply = !(m->hdr.flags & VFIO_USER_F_NO_REPLY);
    struct vfio_user_dma_rw head;
    uint8_t *ptr = NULL;
    int err;

    if (m->nr_fds > 0 || m->fds_truncated) {
        err = EINVAL; /* as QEMU: no server->client command carries fds */
    } else if (m->hdr.cmd == VFIO_USER_DMA_READ ||
               m->hdr.cmd == VFIO_USER_DMA_WRITE) {
        err = dma_target(c, m, &head, &ptr);
    } else {
        err = ENOSYS;
    }
    if (err != 0) {
        c->req_errors++;
        fprintf(stderr, "vfu-client: server request id=0x%04x %s failed: "
                "%s\n", m->hdr.msg_id, vfio_user_command_name(m->hdr.cmd),
                strerror(err));
        return reply ? send_error(c, m, err) : 0;
    }

    /* COUNT32 layouts: the head is cut after the low half of count
     * (little endian), so the data follows at offset 12. */
    size_t head_len = c->dma_reply_layout == VFU_DMA_REPLY_SPEC
                          ? sizeof(head)
                          : offsetof(struct vfio_user_dma_rw, count) + 4;

    if (m->hdr.cmd == VFIO_USER_DMA_READ) {
        struct iovec parts[2] = {
            {&head, head_len},
            {ptr, head.count},
        };

        c->dma_reads++;
        return reply ? send_reply(c, m, parts, 2) : 0;
    } else {
        struct iovec parts[1] = {{&head, head_len}};

        memcpy(ptr, m->body + sizeof(head), head.count);
        c->dma_writes++;
        return reply ? send_reply(c, m, parts,
                                  c->dma_reply_layout == VFU_DMA_REPLY_QEMU_10_1
                                      ? 0 : 1)
                     : 0;
    }
}

void vfu_client_set_dma_reply_layout(struct vfu_client *c,
                                     enum vfu_dma_reply_layout layout)
{
    c->dma_reply_layout = (int)layout;
}
