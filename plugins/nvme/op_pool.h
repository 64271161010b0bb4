/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A back-end's records of the operations it has out (backend_nbd.c,
 * backend_rbd.c): kept on a free list when done, so that the I/O path
 * allocates only while the number in flight grows.  Used by the I/O
 * thread alone, so no lock.  A free record's first bytes hold the link,
 * so a record is at least a pointer long (any record holding its NVMe
 * request is).
 */
#ifndef NVME_OP_POOL_H
#define NVME_OP_POOL_H

#include <stdlib.h>
#include <string.h>

struct nvme_op_pool {
    void *free;
};

/* A zeroed record of size bytes; NULL when out of memory. */
static inline void *nvme_op_get(struct nvme_op_pool *p, size_t size)
{
    void *op = p->free;

    if (op) {
        memcpy(&p->free, op, sizeof(p->free));
    } else {
        op = malloc(size);
        if (!op) {
            return NULL;
        }
    }
    memset(op, 0, size);
    return op;
}

static inline void nvme_op_put(struct nvme_op_pool *p, void *op)
{
    memcpy(op, &p->free, sizeof(p->free));
    p->free = op;
}

/* Every record back to the system (the back-end is closing). */
static inline void nvme_op_pool_clear(struct nvme_op_pool *p)
{
    while (p->free) {
        void *op = p->free;

        memcpy(&p->free, op, sizeof(p->free));
        free(op);
    }
}

#endif /* NVME_OP_POOL_H */
