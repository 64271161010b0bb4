/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device-level commands: DEVICE_GET_INFO, DEVICE_RESET, and DIRTY_PAGES of
 * the removed migration v1 protocol.  DEVICE_FEATURE and MIG_DATA_* are in
 * migration.c.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"

#include <errno.h>
#include <string.h>

int handle_device_info(struct conn *c, struct msg *m)
{
    struct vfio_user_device_info req, *rep;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req)) {
        dev_warn(c->dev, "DEVICE_GET_INFO: argsz %u < %zu", req.argsz, sizeof(req));
        return -EINVAL;
    }
    rep = msg_reply_alloc(m, sizeof(*rep));
    rep->argsz = sizeof(*rep);
    rep->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    /* QEMU wants 8..100 regions and 3..50 IRQ indices. */
    rep->num_regions = VFUD_NR_REGIONS;
    rep->num_irqs = VFUD_NR_IRQ_TYPES;
    return 0;
}

int handle_device_reset(struct conn *c, struct msg *m)
{
    if (m->len != 0) {
        dev_warn(c->dev, "DEVICE_RESET with %zu bytes of payload", m->len);
        return -EINVAL;
    }
    return device_reset(c->dev, VFUD_RESET_DEVICE);
}

int handle_dirty_pages(struct conn *c, struct msg *m)
{
    dev_warn(c->dev, "DIRTY_PAGES belongs to the removed migration v1 protocol; "
             "use DEVICE_FEATURE DMA logging");
    return -ENOTSUP;
}
