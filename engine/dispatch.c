/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command table.  Each entry bounds the payload and the number of fds a
 * command may carry; the dispatcher checks those (and that VERSION came
 * first) before a handler sees the message, so handlers only check what is
 * specific to them.
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dispatch.h"
#include "dma.h"
#include "irq.h"
#include "log.h"
#include "region.h"
#include "util.h"

#include <errno.h>

struct command {
    int (*handler)(struct conn *c, struct msg *m);
    uint32_t min_len; /* payload bytes */
    uint32_t max_len; /* 0: up to the largest message */
    unsigned max_fds;
    /* Fds beyond max_fds that a real client is known to attach although
     * the command has no use for them: closed before the handler runs,
     * as libvfio-user closes every fd no handler consumed. */
    unsigned stray_fds;
};

static const struct command commands[VFIO_USER_MAX_COMMAND] = {
    [VFIO_USER_VERSION] = { handle_version, 4, 4096, 0 },
    [VFIO_USER_DMA_MAP] = { handle_dma_map, sizeof(struct vfio_user_dma_map),
                            sizeof(struct vfio_user_dma_map), 1 },
    /* SPDK's client (lib/vfio_user/host) sends the window's fd again with
     * every unmap. */
    [VFIO_USER_DMA_UNMAP] = { handle_dma_unmap,
                              sizeof(struct vfio_user_dma_unmap),
                              sizeof(struct vfio_user_dma_unmap) +
                                  sizeof(struct vfio_user_bitmap), 0, 1 },
    [VFIO_USER_DEVICE_GET_INFO] = { handle_device_info,
                                    sizeof(struct vfio_user_device_info),
                                    sizeof(struct vfio_user_device_info), 0 },
    /* SPDK's client sends its whole reply buffer as the request (argsz =
     * buffer size - 32, 4064 bytes); libvfio-user reads the first 32 and
     * ignores the rest.  The framing already holds the whole message, so
     * the extra bytes cannot desync the stream; the reply follows argsz. */
    [VFIO_USER_DEVICE_GET_REGION_INFO] = { handle_region_info,
                                           sizeof(struct vfio_user_region_info),
                                           0, 0 },
    [VFIO_USER_DEVICE_GET_REGION_IO_FDS] = {
        handle_region_io_fds, sizeof(struct vfio_user_region_io_fds_request),
        sizeof(struct vfio_user_region_io_fds_request), 0 },
    [VFIO_USER_DEVICE_GET_IRQ_INFO] = { handle_irq_info,
                                        sizeof(struct vfio_user_irq_info),
                                        sizeof(struct vfio_user_irq_info), 0 },
    [VFIO_USER_DEVICE_SET_IRQS] = { handle_set_irqs,
                                    sizeof(struct vfio_user_irq_set),
                                    sizeof(struct vfio_user_irq_set) + IRQ_MAX_MSIX,
                                    CONN_MAX_MSG_FDS },
    [VFIO_USER_REGION_READ] = { handle_region_read,
                                sizeof(struct vfio_user_region_access),
                                sizeof(struct vfio_user_region_access), 0 },
    [VFIO_USER_REGION_WRITE] = { handle_region_write,
                                 sizeof(struct vfio_user_region_access),
                                 sizeof(struct vfio_user_region_access) +
                                     CONN_MAX_XFER, 0 },
    [VFIO_USER_DEVICE_RESET] = { handle_device_reset, 0, 0, 0 },
    [VFIO_USER_DIRTY_PAGES] = { handle_dirty_pages, 0, 0, 0 },
    [VFIO_USER_REGION_WRITE_MULTI] = {
        handle_region_write_multi, sizeof(struct vfio_user_write_multi),
        sizeof(struct vfio_user_write_multi) +
            1024 * sizeof(struct vfio_user_write_multi_entry), 0 },
    [VFIO_USER_DEVICE_FEATURE] = { handle_device_feature,
                                   sizeof(struct vfio_user_device_feature), 0, 0 },
    [VFIO_USER_MIG_DATA_READ] = { handle_mig_data_read,
                                  sizeof(struct vfio_user_mig_data),
                                  sizeof(struct vfio_user_mig_data), 0 },
    [VFIO_USER_MIG_DATA_WRITE] = { handle_mig_data_write,
                                   sizeof(struct vfio_user_mig_data), 0, 0 },
};

int dispatch_command(struct conn *c, struct msg *m)
{
    unsigned cmd = m->hdr.cmd;
    const char *name;
    const struct command *d;
    int r;

    if (cmd >= VFIO_USER_MAX_COMMAND || commands[cmd].handler == NULL) {
        dev_warn(c->dev, "unknown command %u (id %#x); refused", cmd,
                 m->hdr.msg_id);
        return -ENOSYS;
    }
    d = &commands[cmd];
    name = vfio_user_command_name(cmd); /* a table lookup */
    if (!c->versioned && cmd != VFIO_USER_VERSION) {
        dev_warn(c->dev, "%s before VERSION; refused", name);
        return -EINVAL;
    }
    if (c->versioned && cmd == VFIO_USER_VERSION) {
        dev_warn(c->dev, "second VERSION; refused");
        return -EINVAL;
    }
    if (m->len < d->min_len || (d->max_len != 0 && m->len > d->max_len)) {
        dev_warn(c->dev, "%s (id %#x): payload of %zu bytes, expected %u..%u",
                 name, m->hdr.msg_id, m->len, d->min_len,
                 d->max_len != 0 ? d->max_len : (unsigned)CONN_MAX_MSG);
        return -EINVAL;
    }
    if (m->nr_fds > d->max_fds + d->stray_fds) {
        dev_warn(c->dev, "%s (id %#x): %u fds, at most %u allowed%s", name,
                 m->hdr.msg_id, m->nr_fds, d->max_fds,
                 m->fds_shared_read
                     ? " (they came with several messages at once: send each "
                       "message that carries fds with a sendmsg() of its own)"
                     : "");
        return -EINVAL;
    }
    if (m->nr_fds > d->max_fds) {
        dev_debug(c->dev, "%s (id %#x): closing %u fd(s) the command does "
                  "not use", name, m->hdr.msg_id, m->nr_fds - d->max_fds);
        for (unsigned i = d->max_fds; i < m->nr_fds; i++) {
            util_close(&m->fds[i]);
        }
    }
    device_command_hook(c->dev, m, 1);
    r = d->handler(c, m);
    device_command_hook(c->dev, m, r);
    if (r < 0) {
        dev_debug(c->dev, "%s (id %#x) failed: %s", name, m->hdr.msg_id,
                  g_strerror(-r));
    }
    return r;
}
