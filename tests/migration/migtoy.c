/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migtoy: the smallest migratable device, built three ways for the
 * migration tests (the build passes MIGTOY_VERSION):
 *
 *   migtoy_v1.so  name "migtoy", state version 1: VALUE
 *   migtoy_v2.so  name "migtoy", state version 2: VALUE and EXTRA; loads a
 *                 version 1 stream (EXTRA is then 0x7e570001)
 *   nomig.so      name "nomig", MIGTOY_VERSION 0: no save_state/load_state,
 *                 so the device does not migrate
 *
 * Conventional PCI 0xfffd:0x0002, BAR0 of 16 bytes, trapped, dwords:
 *   0x0 VALUE    RW
 *   0x4 EXTRA    RW (version 2; reads 0 in version 1)
 *   0x8 VERSION  RO the state version this build saves
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vfiouserd/plugin.h>

#ifndef MIGTOY_VERSION
#error "build with -DMIGTOY_VERSION=0, 1 or 2"
#endif

#define EXTRA_FROM_V1 0x7e570001u

struct migtoy {
    uint32_t value, extra;
};

static int migtoy_create(vfud_dev *dev)
{
    struct migtoy *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return -ENOMEM;
    }
    vfud_set_private(dev, m);
    return 0;
}

static void migtoy_destroy(vfud_dev *dev)
{
    free(vfud_get_private(dev));
}

static int migtoy_realize(vfud_dev *dev)
{
    static const struct vfud_pci_id id = {
        .vendor_id = 0xfffd, .device_id = 0x0002,
        .subsys_vendor_id = 0xfffd, .subsys_id = 0x0002,
        .class_code = 0xff0000,
    };
    int r = vfud_pci_init(dev, VFUD_PCI_CONVENTIONAL, &id);

    if (r == 0) {
        r = vfud_region_add(dev, VFUD_REGION_BAR0, 16, VFUD_REGION_RW);
    }
    return r;
}

static uint32_t *migtoy_reg(struct migtoy *m, uint64_t offset)
{
    if (offset == 0) {
        return &m->value;
    }
    if (offset == 4 && MIGTOY_VERSION >= 2) {
        return &m->extra;
    }
    return NULL;
}

static int migtoy_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                              void *buf, size_t len)
{
    struct migtoy *m = vfud_get_private(dev);
    uint32_t *reg = migtoy_reg(m, offset);
    uint32_t v = reg != NULL ? *reg : offset == 8 ? MIGTOY_VERSION : 0;

    if (len != 4 || offset % 4 != 0) {
        vfud_error(dev, "dword accesses only");
        return -EINVAL;
    }
    memcpy(buf, &v, 4);
    return 0;
}

static int migtoy_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                               const void *buf, size_t len)
{
    struct migtoy *m = vfud_get_private(dev);
    uint32_t *reg = migtoy_reg(m, offset);

    if (len != 4 || offset % 4 != 0) {
        vfud_error(dev, "dword accesses only");
        return -EINVAL;
    }
    if (reg != NULL) {
        memcpy(reg, buf, 4);
    }
    return 0;
}

#if MIGTOY_VERSION > 0
static int migtoy_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct migtoy *m = vfud_get_private(dev);
    uint32_t st[2] = { m->value, m->extra };

    return vfud_mig_write(out, st, 4 * MIGTOY_VERSION);
}

static int migtoy_load_state(vfud_dev *dev, uint32_t version, const void *data,
                             size_t len)
{
    struct migtoy *m = vfud_get_private(dev);
    uint32_t st[2] = { 0, EXTRA_FROM_V1 };

    if (version < 1 || version > MIGTOY_VERSION || len != 4 * version) {
        vfud_error(dev, "state version %u of %zu bytes", version, len);
        return -EINVAL;
    }
    memcpy(st, data, len);
    m->value = st[0];
    m->extra = st[1];
    return 0;
}
#endif

static struct vfud_plugin migtoy_plugin = {
#if MIGTOY_VERSION > 0
    .name = "migtoy",
    .state_version = MIGTOY_VERSION,
    .save_state = migtoy_save_state,
    .load_state = migtoy_load_state,
#else
    .name = "nomig",
#endif
    .description = "migration test device",
    .create = migtoy_create,
    .destroy = migtoy_destroy,
    .realize = migtoy_realize,
    .region_read = migtoy_region_read,
    .region_write = migtoy_region_write,
};

VFUD_REGISTER_PLUGIN(migtoy_plugin)
