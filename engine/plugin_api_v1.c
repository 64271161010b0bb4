/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Functions of plugin API version 1 that version 2 replaced, still exported
 * for plugins built against the version 1 header (plugin.h says how the API
 * evolves).  Version 1 plugins own arrays of a public struct vfud_sg; they
 * are handed to dma.c as they are while its private entry has the same
 * layout.  When that entry changes, these become converting wrappers: the
 * assertions below fail until then.
 */
#include "config.h"

#include "device.h"
#include "dma.h"

#include <stddef.h>

#include <glib.h>

/* Version 1's struct vfud_sg, as tests/plugins/v1/vfiouserd/plugin.h
 * declares it. */
struct vfud_sg_v1 {
    uint64_t iova;
    void *base;
    size_t len;
    void *_map;
    unsigned _prot;
};

#define SAME_FIELD(f)                                                    \
    _Static_assert(offsetof(struct vfud_sg_v1, f) ==                     \
                   offsetof(struct vfud_sg, f) &&                        \
                   sizeof(((struct vfud_sg_v1 *)0)->f) ==                \
                   sizeof(((struct vfud_sg *)0)->f),                     \
                   "v1 scatter-gather field " #f " moved: convert")
SAME_FIELD(iova);
SAME_FIELD(base);
SAME_FIELD(len);
SAME_FIELD(_map);
SAME_FIELD(_prot);
_Static_assert(sizeof(struct vfud_sg_v1) == sizeof(struct vfud_sg),
               "v1 scatter-gather entry changed size: convert");

/* Not in any header a plugin of version 2 sees. */
VFUD_EXPORT int vfud_dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len,
                                unsigned prot, struct vfud_sg_v1 *sg,
                                unsigned max_sg);
VFUD_EXPORT void vfud_dma_sg_put(vfud_dev *dev, struct vfud_sg_v1 *sg,
                                 unsigned nr_sg);

VFUD_EXPORT int vfud_dma_sg_get(vfud_dev *dev, uint64_t iova, size_t len,
                                unsigned prot, struct vfud_sg_v1 *sg,
                                unsigned max_sg)
{
    return dma_sg_get(dev, iova, len, prot, (struct vfud_sg *)sg, max_sg);
}

VFUD_EXPORT void vfud_dma_sg_put(vfud_dev *dev, struct vfud_sg_v1 *sg,
                                 unsigned nr_sg)
{
    dma_sg_put(dev, (struct vfud_sg *)sg, nr_sg);
}
