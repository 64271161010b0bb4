/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Regions of a device (BARs, ROM, VGA; config space is pci_config's) and the
 * commands that reach them: GET_REGION_INFO, GET_REGION_IO_FDS, REGION_READ,
 * REGION_WRITE and REGION_WRITE_MULTI.
 */
#ifndef VFIOUSERD_REGION_H
#define VFIOUSERD_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

struct conn;
struct msg;

struct region {
    uint64_t size;  /* 0: absent */
    unsigned flags; /* VFUD_REGION_* */
    /* Memory the client may mmap (fd >= 0): */
    int fd;
    uint64_t fd_offset;
    void *mem;     /* daemon's mapping of the whole region, or NULL */
    bool own_mem;  /* mem was allocated by vfud_region_alloc_mmap */
    struct vfud_mmap_area *areas;
    unsigned nr_areas;
};

void region_init(struct region *r);
void region_cleanup(struct region *r);

/* Plugin API backends (realize time). */
int region_add(vfud_dev *dev, unsigned index, uint64_t size, unsigned flags);
void *region_alloc_mmap(vfud_dev *dev, unsigned index,
                        const struct vfud_mmap_area *areas, unsigned nr);
int region_set_mmap_fd(vfud_dev *dev, unsigned index, int fd,
                       uint64_t fd_offset, void *addr,
                       const struct vfud_mmap_area *areas, unsigned nr);

/* Access from a message, bounds already checked.  0 or -errno. */
int region_access(vfud_dev *dev, unsigned index, uint64_t offset, void *buf,
                  size_t len, bool is_write);

#endif
