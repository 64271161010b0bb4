/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Regions: declaration by plugins, GET_REGION_INFO (with the sparse-mmap
 * capability and the fd), and accesses by message.
 *
 * An access is routed, in order: config space (region 7) to the emulation
 * in pci_config; the MSI-X table and PBA to irq; a memory-backed area to
 * that memory (the client may also have it mmapped); everything else to the
 * plugin's callbacks.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "region.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MMAP_AREAS 16u

void region_init(struct region *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

void region_cleanup(struct region *r)
{
    if (r->own_mem && r->mem != NULL) {
        munmap(r->mem, (size_t)r->size);
    }
    util_close(&r->fd);
    g_free(r->areas);
    region_init(r);
}

static bool realizing(vfud_dev *dev, const char *what)
{
    if (dev->phase != DEV_REALIZING) {
        dev_err(dev, "%s: only allowed from realize()", what);
        return false;
    }
    return true;
}

int region_add(vfud_dev *dev, unsigned index, uint64_t size, unsigned flags)
{
    struct region *r;
    int ret;

    if (!realizing(dev, "vfud_region_add")) {
        return -EBUSY;
    }
    if (index >= VFUD_NR_REGIONS || index == VFUD_REGION_CONFIG) {
        device_set_error("no such region index");
        return -EINVAL;
    }
    r = &dev->regions[index];
    if (r->size != 0) {
        device_set_error("region declared twice");
        return -EEXIST;
    }
    if (size == 0 || (flags & VFUD_REGION_RW) == 0) {
        device_set_error("a region needs a size and read or write access");
        return -EINVAL;
    }
    if (index < VFUD_REGION_ROM && index > 0 &&
        (dev->regions[index - 1].flags & VFUD_REGION_64BIT)) {
        device_set_error("BAR is the upper half of a 64-bit BAR");
        return -EINVAL;
    }
    if (index <= VFUD_REGION_ROM) {
        ret = pci_config_set_bar(&dev->pci, index, size, flags);
        if (ret < 0) {
            device_set_error(dev->pci.error);
            return ret;
        }
    }
    if (index == VFUD_REGION_ROM) {
        flags &= ~VFUD_REGION_WRITE; /* a ROM is read-only */
    }
    r->size = size;
    r->flags = flags;
    return 0;
}

static int check_areas(vfud_dev *dev, const struct region *r,
                       const struct vfud_mmap_area *areas, unsigned nr)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

    if (nr > MAX_MMAP_AREAS) {
        device_set_error("too many mmap areas");
        return -EINVAL;
    }
    for (unsigned i = 0; i < nr; i++) {
        if (areas[i].size == 0 || areas[i].offset % page || areas[i].size % page ||
            util_range_exceeds(areas[i].offset, areas[i].size, r->size)) {
            device_set_error("mmap areas must be page aligned and inside the region");
            return -EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (areas[i].offset < areas[j].offset + areas[j].size &&
                areas[j].offset < areas[i].offset + areas[i].size) {
                device_set_error("mmap areas overlap");
                return -EINVAL;
            }
        }
    }
    return 0;
}

static void set_areas(struct region *r, const struct vfud_mmap_area *areas,
                      unsigned nr)
{
    if (nr == 0) {
        r->areas = g_new0(struct vfud_mmap_area, 1);
        r->areas[0].size = r->size;
        r->nr_areas = 1;
    } else {
        r->areas = g_memdup2(areas, sizeof(*areas) * nr);
        r->nr_areas = nr;
    }
}

static struct region *mmap_target(vfud_dev *dev, unsigned index, const char *what)
{
    struct region *r;

    if (!realizing(dev, what)) {
        return NULL;
    }
    if (index >= VFUD_NR_REGIONS || dev->regions[index].size == 0) {
        device_set_error("declare the region with vfud_region_add() first");
        return NULL;
    }
    r = &dev->regions[index];
    if (r->fd >= 0) {
        device_set_error("region already has memory");
        return NULL;
    }
    if (r->flags & VFUD_REGION_IO) {
        device_set_error("I/O BARs cannot be mmapped");
        return NULL;
    }
    return r;
}

void *region_alloc_mmap(vfud_dev *dev, unsigned index,
                        const struct vfud_mmap_area *areas, unsigned nr)
{
    struct region *r = mmap_target(dev, index, "vfud_region_alloc_mmap");
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    g_autofree char *name = NULL;
    void *p;
    int fd;

    if (r == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (r->size % page || (nr == 0 && r->size < page)) {
        device_set_error("a memory-backed region must be a multiple of the page size");
        errno = EINVAL;
        return NULL;
    }
    if (check_areas(dev, r, areas, nr) < 0) {
        errno = EINVAL;
        return NULL;
    }
    name = g_strdup_printf("vfiouserd-%s-region%u", dev->name, index);
    fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    if (ftruncate(fd, (off_t)r->size) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return NULL;
    }
    p = mmap(NULL, (size_t)r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;

        close(fd);
        errno = e;
        return NULL;
    }
    r->fd = fd;
    r->fd_offset = 0;
    r->mem = p;
    r->own_mem = true;
    set_areas(r, areas, nr);
    return p;
}

int region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd,
                       uint64_t fd_offset, void *addr,
                       const struct vfud_mmap_area *areas, unsigned nr)
{
    struct region *r = mmap_target(dev, index, "vfud_region_set_mmap_fd");
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int copy;

    if (r == NULL) {
        return -EINVAL;
    }
    if (fd_offset % page) {
        device_set_error("the fd offset must be page aligned");
        return -EINVAL;
    }
    if (check_areas(dev, r, areas, nr) < 0) {
        return -EINVAL;
    }
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) {
        return -errno;
    }
    r->fd = copy;
    r->fd_offset = fd_offset;
    r->mem = addr;
    r->own_mem = false;
    set_areas(r, areas, nr);
    return 0;
}

/* ------------------------------------------------------------------------
 * Accesses
 */
static bool in_area(const struct region *r, uint64_t off, size_t len)
{
    for (unsigned i = 0; i < r->nr_areas; i++) {
        const struct vfud_mmap_area *a = &r->areas[i];

        if (off >= a->offset && len <= a->size && off - a->offset <= a->size - len) {
            return true;
        }
    }
    return false;
}

int region_access(vfud_dev *dev, unsigned index, uint64_t offset, void *buf,
                  size_t len, bool is_write)
{
    const struct region *r = &dev->regions[index];
    int ret;

    if (irq_msix_access(dev, index, offset, buf, len, is_write, &ret)) {
        return ret;
    }
    if (r->mem != NULL && in_area(r, offset, len)) {
        if (is_write) {
            memcpy((uint8_t *)r->mem + offset, buf, len);
        } else {
            memcpy(buf, (uint8_t *)r->mem + offset, len);
        }
        return 0;
    }
    if (dev->ops->region_read == NULL) {
        dev_warn(dev, "region %u [%#llx, +%zu): no handler for trapped accesses",
                 index, (unsigned long long)offset, len);
        return -EINVAL;
    }
    if (is_write) {
        device_cb_enter(dev, "region_write");
        ret = dev->ops->region_write(dev, index, offset, buf, len);
    } else {
        device_cb_enter(dev, "region_read");
        ret = dev->ops->region_read(dev, index, offset, buf, len);
    }
    device_cb_leave(dev);
    if (ret > 0) {
        ret = 0; /* tolerate plugins returning a byte count */
    }
    if (ret < 0) {
        g_autofree char *why = device_take_error();

        dev_debug(dev, "region %u %s [%#llx, +%zu) failed: %s%s%s", index,
                  is_write ? "write" : "read", (unsigned long long)offset, len,
                  g_strerror(-ret), why != NULL ? ": " : "", why != NULL ? why : "");
    }
    return ret;
}

static int config_write(vfud_dev *dev, unsigned offset, const void *buf,
                        size_t len)
{
    unsigned changed = pci_config_write(&dev->pci, offset, buf, len);

    if (changed & (PCI_CFG_CHANGED_COMMAND | PCI_CFG_CHANGED_MSI |
                   PCI_CFG_CHANGED_MSIX)) {
        irq_config_changed(dev, changed);
    }
    if (dev->ops->config_written != NULL) {
        device_cb_enter(dev, "config_written");
        dev->ops->config_written(dev, offset, (unsigned)len);
        device_cb_leave(dev);
    }
    if (changed & PCI_CFG_FLR_REQUESTED) {
        dev_info(dev, "guest requested a function level reset");
        return device_reset(dev, VFUD_RESET_FLR);
    }
    return 0;
}

/* Common checks of REGION_READ/WRITE. */
static int access_check(vfud_dev *dev, const char *what, unsigned index,
                        uint64_t offset, uint32_t count, bool is_write)
{
    uint64_t size;
    unsigned flags;

    if (index >= VFUD_NR_REGIONS) {
        dev_warn(dev, "%s: no region %u", what, index);
        return -EINVAL;
    }
    if (index == VFUD_REGION_CONFIG) {
        size = dev->pci.size;
        flags = VFUD_REGION_RW;
    } else {
        size = dev->regions[index].size;
        flags = dev->regions[index].flags;
    }
    if (count > CONN_MAX_XFER) {
        dev_warn(dev, "%s region %u: count %u exceeds %u", what, index, count,
                 CONN_MAX_XFER);
        return -EINVAL;
    }
    if (size == 0 || util_range_exceeds(offset, count, size)) {
        dev_warn(dev, "%s region %u [%#llx, +%u): outside the region (size %#llx)",
                 what, index, (unsigned long long)offset, count,
                 (unsigned long long)size);
        return -EINVAL;
    }
    if (!(flags & (is_write ? VFUD_REGION_WRITE : VFUD_REGION_READ))) {
        dev_warn(dev, "%s region %u: not %s", what, index,
                 is_write ? "writable" : "readable");
        return -EINVAL;
    }
    return 0;
}

int handle_region_read(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_region_access req, *rep;
    int r;

    memcpy(&req, m->payload, sizeof(req));
    r = access_check(dev, "REGION_READ", req.region, req.offset, req.count, false);
    if (r < 0) {
        return r;
    }
    rep = msg_reply_alloc(m, sizeof(*rep) + req.count);
    if (req.region == VFUD_REGION_CONFIG) {
        irq_sync_config(dev);
        pci_config_read(&dev->pci, (unsigned)req.offset, rep->data, req.count);
    } else if (req.count > 0) {
        r = region_access(dev, req.region, req.offset, rep->data, req.count, false);
        if (r < 0) {
            return r;
        }
    }
    /* msg_reply_alloc may have moved the buffer: rep is still valid, as
     * nothing was appended after it. */
    rep->offset = req.offset;
    rep->region = req.region;
    rep->count = req.count;
    return 0;
}

static int region_write_one(vfud_dev *dev, unsigned index, uint64_t offset,
                            const void *data, uint32_t count)
{
    if (count == 0) {
        return 0;
    }
    if (index == VFUD_REGION_CONFIG) {
        return config_write(dev, (unsigned)offset, data, count);
    }
    return region_access(dev, index, offset, (void *)data, count, true);
}

int handle_region_write(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_region_access req, *rep;
    int r;

    memcpy(&req, m->payload, sizeof(req));
    if (m->len - sizeof(req) != req.count) {
        dev_warn(dev, "REGION_WRITE: count %u but %zu data bytes", req.count,
                 m->len - sizeof(req));
        return -EINVAL;
    }
    r = access_check(dev, "REGION_WRITE", req.region, req.offset, req.count, true);
    if (r < 0) {
        return r;
    }
    r = region_write_one(dev, req.region, req.offset, m->payload + sizeof(req),
                         req.count);
    if (r < 0) {
        return r;
    }
    rep = msg_reply_alloc(m, sizeof(*rep));
    rep->offset = req.offset;
    rep->region = req.region;
    rep->count = req.count;
    return 0;
}

int handle_region_write_multi(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_write_multi head;
    uint64_t *rep;
    uint64_t done = 0;
    int r = 0;

    if (!c->write_multiple) {
        dev_warn(dev, "REGION_WRITE_MULTI without write_multiple negotiated");
        return -EINVAL;
    }
    memcpy(&head, m->payload, sizeof(head));
    if (head.wr_cnt == 0 || head.wr_cnt > 1024 ||
        m->len != sizeof(head) + head.wr_cnt * sizeof(struct vfio_user_write_multi_entry)) {
        dev_warn(dev, "REGION_WRITE_MULTI: %llu entries in %zu bytes",
                 (unsigned long long)head.wr_cnt, m->len);
        return -EINVAL;
    }
    /* Posted writes in order; stop at the first failure. */
    for (uint64_t i = 0; i < head.wr_cnt; i++) {
        struct vfio_user_write_multi_entry e;

        memcpy(&e, m->payload + sizeof(head) + i * sizeof(e), sizeof(e));
        if (e.count > VFIO_USER_MULTI_DATA) {
            dev_warn(dev, "REGION_WRITE_MULTI entry %llu: count %u > 8",
                     (unsigned long long)i, e.count);
            r = -EINVAL;
            break;
        }
        r = access_check(dev, "REGION_WRITE_MULTI", e.region, e.offset, e.count,
                         true);
        if (r == 0) {
            r = region_write_one(dev, e.region, e.offset, e.data, e.count);
        }
        if (r < 0) {
            break;
        }
        done++;
    }
    if (r < 0) {
        return r;
    }
    rep = msg_reply_alloc(m, sizeof(*rep));
    *rep = done;
    return 0;
}

int handle_region_info(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_region_info req, info = { 0 };
    const struct region *r;
    size_t caps_len = 0;
    uint8_t *p;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req)) {
        dev_warn(dev, "GET_REGION_INFO: argsz %u < %zu", req.argsz, sizeof(req));
        return -EINVAL;
    }
    if (req.index >= VFUD_NR_REGIONS) {
        dev_warn(dev, "GET_REGION_INFO: no region %u", req.index);
        return -EINVAL;
    }
    info.index = req.index;
    info.argsz = sizeof(info);
    if (req.index == VFUD_REGION_CONFIG) {
        info.size = dev->pci.size;
        info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    } else {
        r = &dev->regions[req.index];
        info.size = r->size;
        if (r->flags & VFUD_REGION_READ) {
            info.flags |= VFIO_REGION_INFO_FLAG_READ;
        }
        if (r->flags & VFUD_REGION_WRITE) {
            info.flags |= VFIO_REGION_INFO_FLAG_WRITE;
        }
        if (r->fd >= 0) {
            info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
            info.offset = r->fd_offset;
            caps_len = sizeof(struct vfio_user_cap_sparse_mmap) +
                       r->nr_areas * sizeof(struct vfio_user_sparse_mmap_area);
            info.argsz += (uint32_t)caps_len;
        }
    }
    if (caps_len > 0 && req.argsz >= info.argsz) {
        struct vfio_user_cap_sparse_mmap cap = {
            .header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
            .nr_areas = r->nr_areas,
        };

        info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
        info.cap_offset = sizeof(info);
        p = msg_reply_alloc(m, info.argsz);
        memcpy(p, &info, sizeof(info));
        memcpy(p + sizeof(info), &cap, sizeof(cap));
        for (unsigned i = 0; i < r->nr_areas; i++) {
            struct vfio_user_sparse_mmap_area a = {
                .offset = r->areas[i].offset,
                .size = r->areas[i].size,
            };

            memcpy(p + sizeof(info) + sizeof(cap) + i * sizeof(a), &a, sizeof(a));
        }
        /* One fd, and only with the reply that carries the capability. */
        m->reply_fds[0] = fcntl(r->fd, F_DUPFD_CLOEXEC, 3);
        if (m->reply_fds[0] < 0) {
            return -errno;
        }
        m->nr_reply_fds = 1;
    } else {
        /* Too small for the capability: argsz tells the client to ask again. */
        memcpy(msg_reply_alloc(m, sizeof(info)), &info, sizeof(info));
    }
    return 0;
}

int handle_region_io_fds(struct conn *c, struct msg *m)
{
    vfud_dev *dev = c->dev;
    struct vfio_user_region_io_fds_request req, *rep;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req) || req.flags != 0 || req.count != 0) {
        dev_warn(dev, "GET_REGION_IO_FDS: argsz %u flags %#x count %u invalid",
                 req.argsz, req.flags, req.count);
        return -EINVAL;
    }
    if (req.index >= VFUD_NR_REGIONS) {
        dev_warn(dev, "GET_REGION_IO_FDS: no region %u", req.index);
        return -EINVAL;
    }
    /* No region of ours is backed by ioeventfds: an empty list. */
    rep = msg_reply_alloc(m, sizeof(*rep));
    rep->argsz = sizeof(*rep);
    rep->index = req.index;
    rep->count = 0;
    return 0;
}
