/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test driver's vfio-user transport: see nvme_tdrv_vfu.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "nvme_tdrv_vfu.h"

struct td_vfu {
    struct vfu_client *cl;
    int efd[TD_VFU_MAX_VECTORS];
    uint64_t irqs[TD_VFU_MAX_VECTORS];
    unsigned nr_vectors;
    void *db_map;
    int err;
};

static struct td_vfu *priv(struct tdrv *d)
{
    return d->tr_priv;
}

static void note(struct td_vfu *t, int r)
{
    if (r < 0 && t->err == 0) {
        t->err = r;
    }
}

static uint32_t vfu_rd32(struct tdrv *d, uint64_t off)
{
    uint32_t v = ~0u;
    int r = vfu_client_region_read(priv(d)->cl, VFIO_PCI_BAR0_REGION_INDEX,
                                   off, &v, sizeof(v));

    note(priv(d), r);
    return r < 0 ? ~0u : v;
}

static void vfu_wr32(struct tdrv *d, uint64_t off, uint32_t v)
{
    note(priv(d), vfu_client_region_write(priv(d)->cl,
                                          VFIO_PCI_BAR0_REGION_INDEX, off, &v,
                                          sizeof(v), false));
}

/* As Linux does on x86-64 (lo_hi_writeq): two dwords, low first. */
static void vfu_wr64(struct tdrv *d, uint64_t off, uint64_t v)
{
    vfu_wr32(d, off, (uint32_t)v);
    vfu_wr32(d, off + 4, (uint32_t)(v >> 32));
}

static void vfu_doorbell(struct tdrv *d, uint64_t off, uint32_t v)
{
    note(priv(d), vfu_client_region_write(priv(d)->cl,
                                          VFIO_PCI_BAR0_REGION_INDEX, off, &v,
                                          sizeof(v), true));
}

static void vfu_idle(struct tdrv *d, uint16_t vector, int ms)
{
    struct td_vfu *t = priv(d);
    int64_t r;

    if (vector >= t->nr_vectors) {
        /* no eventfd: keep serving DMA requests, then look again */
        r = vfu_client_serve(t->cl, ms);
        note(t, r < 0 ? (int)r : 0);
        return;
    }
    r = vfu_client_wait_eventfd(t->cl, t->efd[vector], ms);
    if (r > 0) {
        t->irqs[vector] += (uint64_t)r;
    }
    note(t, r < 0 ? (int)r : 0);
}

static const struct td_transport vfu_transport = {
    .rd32 = vfu_rd32,
    .wr32 = vfu_wr32,
    .wr64 = vfu_wr64,
    .doorbell = vfu_doorbell,
    .idle = vfu_idle,
};

static int find_cap(struct vfu_client *cl, uint8_t id, unsigned *at)
{
    uint8_t ptr = 0, cap = 0;
    int r = vfu_client_cfg_read8(cl, PCI_CAPABILITY_LIST, &ptr);

    for (int guard = 0; r == 0 && ptr != 0 && guard < 48; guard++) {
        ptr &= ~3u;
        r = vfu_client_cfg_read8(cl, ptr, &cap);
        if (r == 0 && cap == id) {
            *at = ptr;
            return 0;
        }
        if (r == 0) {
            r = vfu_client_cfg_read8(cl, ptr + 1u, &ptr);
        }
    }
    return r < 0 ? r : -ENOENT;
}

/* Memory decoding, bus mastering and MSI-X on, as the guest's driver and
 * QEMU leave them. */
static int enable_pci(struct vfu_client *cl)
{
    uint16_t cmd = 0, ctrl = 0;
    unsigned msix = 0;
    int r = vfu_client_cfg_read16(cl, PCI_COMMAND, &cmd);

    if (r == 0) {
        r = vfu_client_cfg_write16(cl, PCI_COMMAND,
                                   cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }
    if (r == 0) {
        r = find_cap(cl, PCI_CAP_ID_MSIX, &msix);
    }
    if (r == 0) {
        r = vfu_client_cfg_read16(cl, msix + PCI_MSIX_FLAGS, &ctrl);
    }
    if (r == 0) {
        r = vfu_client_cfg_write16(cl, msix + PCI_MSIX_FLAGS,
                                   (ctrl | PCI_MSIX_FLAGS_ENABLE) &
                                       ~PCI_MSIX_FLAGS_MASKALL);
    }
    return r;
}

static int map_doorbells(struct td_vfu *t, struct tdrv *d)
{
    struct vfio_user_region_info ri;
    uint8_t caps[256];
    int fd = -1;
    int r = vfu_client_region_info(t->cl, VFIO_PCI_BAR0_REGION_INDEX, &ri,
                                   caps, sizeof(caps), &fd);
    void *p;

    if (r < 0) {
        return r;
    }
    if (fd < 0) {
        return -ENODEV; /* not a doorbells=poll device */
    }
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             (off_t)(ri.offset + NVME_REG_DBS));
    r = p == MAP_FAILED ? -errno : 0;
    close(fd);
    if (r < 0) {
        return r;
    }
    t->db_map = p;
    d->db_page = p;
    d->poll_mode = true;
    return 0;
}

int td_vfu_attach(struct tdrv *d, struct vfu_client *cl,
                  const struct td_vfu_opts *o)
{
    struct td_vfu *t;
    int r;

    if (o->vectors > TD_VFU_MAX_VECTORS) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->cl = cl;
    for (unsigned i = 0; i < TD_VFU_MAX_VECTORS; i++) {
        t->efd[i] = -1;
    }
    td_init(d, &vfu_transport, t);
    d->mem = o->share && o->private_mem
                 ? vfu_client_add_memory_private(cl, TD_MEM_IOVA, TD_MEM_SIZE)
                 : vfu_client_add_memory(cl, TD_MEM_IOVA, TD_MEM_SIZE, o->share);
    if (!d->mem) {
        r = -errno;
        goto fail;
    }
    r = enable_pci(cl);
    if (r < 0) {
        goto fail;
    }
    for (unsigned i = 0; i < o->vectors; i++) {
        t->efd[i] = vfu_client_eventfd();
        if (t->efd[i] < 0) {
            r = t->efd[i];
            goto fail;
        }
        t->nr_vectors++;
    }
    if (o->vectors) {
        r = vfu_client_set_irqs(cl, VFIO_PCI_MSIX_IRQ_INDEX,
                                VFIO_IRQ_SET_ACTION_TRIGGER |
                                    VFIO_IRQ_SET_DATA_EVENTFD,
                                0, o->vectors, t->efd, o->vectors, NULL);
        if (r < 0) {
            goto fail;
        }
    }
    if (o->poll_doorbells) {
        r = map_doorbells(t, d);
        if (r < 0) {
            goto fail;
        }
    }
    return 0;

fail:
    td_vfu_detach(d);
    return r;
}

void td_vfu_detach(struct tdrv *d)
{
    struct td_vfu *t = priv(d);

    if (!t) {
        return;
    }
    for (unsigned i = 0; i < TD_VFU_MAX_VECTORS; i++) {
        if (t->efd[i] >= 0) {
            close(t->efd[i]);
        }
    }
    if (t->db_map) {
        munmap(t->db_map, 4096);
    }
    free(t);
    d->tr_priv = NULL;
    d->db_page = NULL;
    d->mem = NULL;
}

struct vfu_client *td_vfu_client(struct tdrv *d)
{
    return priv(d)->cl;
}

uint64_t td_vfu_irqs(struct tdrv *d, unsigned vector)
{
    struct td_vfu *t = priv(d);
    uint64_t v;

    if (vector >= t->nr_vectors) {
        return 0;
    }
    if (read(t->efd[vector], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
        t->irqs[vector] += v;
    }
    return t->irqs[vector];
}

int td_vfu_error(struct tdrv *d)
{
    return priv(d)->err;
}
