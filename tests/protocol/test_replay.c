/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay of what QEMU 11.1.3 sends while it realizes a vfio-user-pci
 * device and the guest firmware starts: the message sequence of the wire
 * capture qemu11.1.3-gpio-tcg-memfd.log (shared vfio-user notes,
 * captures/), ids 0x00-0x68, written out below as a table so the test does
 * not depend on the capture file.  It is replayed against the gpio plugin
 * (the capture's device was a PCI-IDIO-16 too), with the same pipelining
 * (QEMU sends several DMA_MAP/UNMAPs before it waits, §3), the same fds
 * (guest RAM as one memfd, eventfds for INTx and ERR), and each reply is
 * checked the way QEMU checks it: sizes, flags, no fds, the fields it
 * uses at realize.
 *
 * Traps covered: 4 (VERSION reply size), 11 (map churn, pipelined), 20,
 * 21 (DEVICE_RESET header-only), 24 (region info without fds).
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

/* Shorthands for the table. */
#define VER     VFIO_USER_VERSION
#define MAP     VFIO_USER_DMA_MAP
#define UNMAP   VFIO_USER_DMA_UNMAP
#define INFO    VFIO_USER_DEVICE_GET_INFO
#define RINFO   VFIO_USER_DEVICE_GET_REGION_INFO
#define IINFO   VFIO_USER_DEVICE_GET_IRQ_INFO
#define IRQS    VFIO_USER_DEVICE_SET_IRQS
#define RD      VFIO_USER_REGION_READ
#define WR      VFIO_USER_REGION_WRITE
#define RESET   VFIO_USER_DEVICE_RESET

/* Guest RAM in the capture: 512 MiB, memory-backend-memfd. */
#define RAM_SIZE 0x20000000ull

struct step {
    uint16_t id;         /* msg_id QEMU used */
    uint16_t cmd;
    uint16_t size;       /* request msg_size */
    uint8_t fds;         /* fds QEMU attached */
    uint8_t pipelined;   /* QEMU sent the next command before this reply */
    uint16_t reply_size; /* reply msg_size in the capture */
    /* MAP: flags, offset, addr, size     UNMAP: flags, addr, size
     * RINFO, IINFO: index                IRQS: flags, index, start, count
     * RD: region, offset, count          WR: region, offset, count, value */
    uint64_t f[4];
};

static const struct step steps[] = {
    { 0x00, VER,    214, 0, 0, 125, { 0 } },
    { 0x01, MAP,    48, 1, 1,  16, { 0x3, 0x0, 0x0, 0xa0000 } },
    { 0x02, MAP,    48, 1, 1,  16, { 0x3, 0xc0000, 0xc0000, 0x1ff40000 } },
    { 0x03, MAP,    48, 0, 0,  16, { 0x1, 0x0, 0xfffc0000, 0x40000 } },
    { 0x04, INFO,   32, 0, 0,  32, { 0 } },
    { 0x05, RINFO,  48, 0, 0,  48, { 0 } },
    { 0x06, RINFO,  48, 0, 0,  48, { 1 } },
    { 0x07, RINFO,  48, 0, 0,  48, { 2 } },
    { 0x08, RINFO,  48, 0, 0,  48, { 3 } },
    { 0x09, RINFO,  48, 0, 0,  48, { 4 } },
    { 0x0a, RINFO,  48, 0, 0,  48, { 5 } },
    { 0x0b, RINFO,  48, 0, 0,  48, { 7 } },
    { 0x0c, IINFO,  32, 0, 0,  32, { 3 } },
    { 0x0d, RD,     32, 0, 0, 288, { 7, 0x0, 256 } },
    { 0x0e, RD,     32, 0, 0,  36, { 7, 0x30, 4 } },
    { 0x0f, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0xfffff800 } },
    { 0x10, RD,     32, 0, 0,  36, { 7, 0x30, 4 } },
    { 0x11, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0x0 } },
    { 0x12, RD,     32, 0, 0,  36, { 7, 0x18, 4 } },
    { 0x13, RD,     32, 0, 0,  33, { 7, 0x3d, 1 } },
    { 0x14, RD,     32, 0, 0,  33, { 7, 0x3d, 1 } },
    { 0x15, IRQS,   36, 1, 0,  16, { 0x24, 0, 0, 1 } },
    { 0x16, IRQS,   36, 1, 0,  16, { 0x24, 3, 0, 1 } },
    { 0x17, IRQS,   36, 0, 0,  16, { 0x21, 0, 0, 0 } },
    { 0x18, RD,     32, 0, 0,  34, { 7, 0x4, 2 } },
    { 0x19, WR,     34, 0, 0,  32, { 7, 0x4, 2, 0x0 } },
    { 0x1a, RESET,  16, 0, 0,  16, { 0 } },
    { 0x1b, RD,     32, 0, 0,  33, { 7, 0x3d, 1 } },
    { 0x1c, IRQS,   36, 1, 0,  16, { 0x24, 0, 0, 1 } },
    { 0x1d, WR,     36, 0, 0,  32, { 7, 0x10, 4, 0x0 } },
    { 0x1e, WR,     36, 0, 0,  32, { 7, 0x14, 4, 0x0 } },
    { 0x1f, WR,     36, 0, 0,  32, { 7, 0x18, 4, 0x0 } },
    { 0x20, WR,     36, 0, 0,  32, { 7, 0x1c, 4, 0x0 } },
    { 0x21, WR,     36, 0, 0,  32, { 7, 0x20, 4, 0x0 } },
    { 0x22, WR,     36, 0, 0,  32, { 7, 0x24, 4, 0x0 } },
    { 0x23, UNMAP,  40, 0, 1,  40, { 0x0, 0xc0000, 0x1ff40000 } },
    { 0x24, MAP,    48, 0, 1,  16, { 0x1, 0x0, 0xc0000, 0x20000 } },
    { 0x25, MAP,    48, 0, 1,  16, { 0x1, 0x0, 0xe0000, 0x20000 } },
    { 0x26, MAP,    48, 1, 0,  16, { 0x3, 0x100000, 0x100000, 0x1ff00000 } },
    { 0x27, UNMAP,  40, 0, 1,  40, { 0x0, 0xc0000, 0x20000 } },
    { 0x28, UNMAP,  40, 0, 1,  40, { 0x0, 0xe0000, 0x20000 } },
    { 0x29, UNMAP,  40, 0, 0,  40, { 0x0, 0x100000, 0x1ff00000 } },
    { 0x2a, MAP,    48, 1, 1,  16, { 0x3, 0xc0000, 0xc0000, 0x18000 } },
    { 0x2b, MAP,    48, 0, 1,  16, { 0x1, 0x0, 0xd8000, 0x8000 } },
    { 0x2c, MAP,    48, 0, 1,  16, { 0x1, 0x0, 0xe0000, 0x10000 } },
    { 0x2d, MAP,    48, 1, 0,  16, { 0x3, 0xf0000, 0xf0000, 0x1ff10000 } },
    { 0x2e, UNMAP,  40, 0, 1,  40, { 0x0, 0xc0000, 0x18000 } },
    { 0x2f, UNMAP,  40, 0, 1,  40, { 0x0, 0xd8000, 0x8000 } },
    { 0x30, UNMAP,  40, 0, 0,  40, { 0x0, 0xe0000, 0x10000 } },
    { 0x31, UNMAP,  40, 0, 1,  40, { 0x0, 0xf0000, 0x1ff10000 } },
    { 0x32, MAP,    48, 1, 0,  16, { 0x3, 0xc0000, 0xc0000, 0x1ff40000 } },
    { 0x33, RD,     32, 0, 0,  34, { 7, 0x0, 2 } },
    { 0x34, RD,     32, 0, 0,  34, { 7, 0xa, 2 } },
    { 0x35, RD,     32, 0, 0,  33, { 7, 0xe, 1 } },
    { 0x36, RD,     32, 0, 0,  34, { 7, 0x0, 2 } },
    { 0x37, RD,     32, 0, 0,  34, { 7, 0xa, 2 } },
    { 0x38, RD,     32, 0, 0,  33, { 7, 0xe, 1 } },
    { 0x39, RD,     32, 0, 0,  34, { 7, 0x0, 2 } },
    { 0x3a, RD,     32, 0, 0,  36, { 7, 0x0, 4 } },
    { 0x3b, RD,     32, 0, 0,  36, { 7, 0x8, 4 } },
    { 0x3c, RD,     32, 0, 0,  33, { 7, 0xe, 1 } },
    { 0x3d, RD,     32, 0, 0,  33, { 7, 0xe, 1 } },
    { 0x3e, WR,     36, 0, 0,  32, { 7, 0x10, 4, 0xffffffff } },
    { 0x3f, WR,     36, 0, 0,  32, { 7, 0x10, 4, 0x0 } },
    { 0x40, WR,     36, 0, 0,  32, { 7, 0x14, 4, 0xffffffff } },
    { 0x41, WR,     36, 0, 0,  32, { 7, 0x14, 4, 0x0 } },
    { 0x42, WR,     36, 0, 0,  32, { 7, 0x18, 4, 0xffffffff } },
    { 0x43, WR,     36, 0, 0,  32, { 7, 0x18, 4, 0x1 } },
    { 0x44, WR,     36, 0, 0,  32, { 7, 0x1c, 4, 0xffffffff } },
    { 0x45, WR,     36, 0, 0,  32, { 7, 0x1c, 4, 0x0 } },
    { 0x46, WR,     36, 0, 0,  32, { 7, 0x20, 4, 0xffffffff } },
    { 0x47, WR,     36, 0, 0,  32, { 7, 0x20, 4, 0x0 } },
    { 0x48, WR,     36, 0, 0,  32, { 7, 0x24, 4, 0xffffffff } },
    { 0x49, WR,     36, 0, 0,  32, { 7, 0x24, 4, 0x0 } },
    { 0x4a, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0xfffff800 } },
    { 0x4b, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0x0 } },
    { 0x4c, WR,     36, 0, 0,  32, { 7, 0x18, 4, 0xc000 } },
    { 0x4d, MAP,    48, 0, 0,  16, { 0x3, 0x0, 0xfd000000, 0x1000000 } },
    { 0x4e, RD,     32, 0, 0,  33, { 7, 0x3d, 1 } },
    { 0x4f, WR,     33, 0, 0,  32, { 7, 0x3c, 1, 0xb } },
    { 0x50, RD,     32, 0, 0,  34, { 7, 0x4, 2 } },
    { 0x51, WR,     34, 0, 0,  32, { 7, 0x4, 2, 0x103 } },
    { 0x52, UNMAP,  40, 0, 1,  40, { 0x0, 0x0, 0xa0000 } },
    { 0x53, UNMAP,  40, 0, 1,  40, { 0x0, 0xc0000, 0x1ff40000 } },
    { 0x54, MAP,    48, 1, 0,  16, { 0x3, 0x0, 0x0, 0x20000000 } },
    { 0x55, UNMAP,  40, 0, 1,  40, { 0x0, 0x0, 0x20000000 } },
    { 0x56, MAP,    48, 1, 1,  16, { 0x3, 0x0, 0x0, 0xa0000 } },
    { 0x57, MAP,    48, 1, 0,  16, { 0x3, 0xc0000, 0xc0000, 0x1ff40000 } },
    { 0x58, RD,     32, 0, 0,  33, { 7, 0x3d, 1 } },
    { 0x59, RD,     32, 0, 0,  33, { 7, 0x3c, 1 } },
    { 0x5a, MAP,    48, 0, 0,  16, { 0x1, 0x0, 0xfebe0000, 0x10000 } },
    { 0x5b, UNMAP,  40, 0, 0,  40, { 0x0, 0xfebe0000, 0x10000 } },
    { 0x5c, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0xfffffffe } },
    { 0x5d, WR,     36, 0, 0,  32, { 7, 0x30, 4, 0x0 } },
    { 0x5e, UNMAP,  40, 0, 1,  40, { 0x0, 0xc0000, 0x1ff40000 } },
    { 0x5f, MAP,    48, 1, 1,  16, { 0x1, 0xc0000, 0xc0000, 0xa000 } },
    { 0x60, MAP,    48, 1, 1,  16, { 0x3, 0xca000, 0xca000, 0x3000 } },
    { 0x61, MAP,    48, 1, 1,  16, { 0x1, 0xcd000, 0xcd000, 0xb000 } },
    { 0x62, MAP,    48, 1, 1,  16, { 0x3, 0xd8000, 0xd8000, 0x18000 } },
    { 0x63, MAP,    48, 1, 1,  16, { 0x1, 0xf0000, 0xf0000, 0x10000 } },
    { 0x64, MAP,    48, 1, 0,  16, { 0x3, 0x100000, 0x100000, 0x1ff00000 } },
    { 0x65, UNMAP,  40, 0, 1,  40, { 0x0, 0xcd000, 0xb000 } },
    { 0x66, UNMAP,  40, 0, 1,  40, { 0x0, 0xd8000, 0x18000 } },
    { 0x67, MAP,    48, 1, 1,  16, { 0x1, 0xcd000, 0xcd000, 0x1b000 } },
    { 0x68, MAP,    48, 1, 0,  16, { 0x3, 0xe8000, 0xe8000, 0x8000 } },
};

/* The request bytes QEMU sent for step s (payload only). */
static size_t build(const struct step *s, uint8_t *p)
{
    switch (s->cmd) {
    case VER: {
        const char *json = VFU_CLIENT_QEMU_CAPS;

        memset(p, 0, 4);
        memcpy(p + 4, json, strlen(json) + 1);
        return 4 + strlen(json) + 1;
    }
    case MAP: {
        struct vfio_user_dma_map m = { .argsz = 32, .flags = (uint32_t)s->f[0],
                                       .offset = s->f[1], .addr = s->f[2],
                                       .size = s->f[3] };

        memcpy(p, &m, sizeof(m));
        return sizeof(m);
    }
    case UNMAP: {
        struct vfio_user_dma_unmap u = { .argsz = 24, .flags = (uint32_t)s->f[0],
                                         .addr = s->f[1], .size = s->f[2] };

        memcpy(p, &u, sizeof(u));
        return sizeof(u);
    }
    case INFO: {
        struct vfio_user_device_info i = { .argsz = 16 };

        memcpy(p, &i, sizeof(i));
        return sizeof(i);
    }
    case RINFO: {
        struct vfio_user_region_info r = { .argsz = 32, .index = (uint32_t)s->f[0] };

        memcpy(p, &r, sizeof(r));
        return sizeof(r);
    }
    case IINFO: {
        struct vfio_user_irq_info i = { .argsz = 16, .index = (uint32_t)s->f[0] };

        memcpy(p, &i, sizeof(i));
        return sizeof(i);
    }
    case IRQS: {
        struct vfio_user_irq_set i = { .argsz = 20, .flags = (uint32_t)s->f[0],
                                       .index = (uint32_t)s->f[1],
                                       .start = (uint32_t)s->f[2],
                                       .count = (uint32_t)s->f[3] };

        memcpy(p, &i, sizeof(i));
        return sizeof(i);
    }
    case RD:
    case WR: {
        struct vfio_user_region_access a = { .offset = s->f[1], .region = (uint32_t)s->f[0],
                                             .count = (uint32_t)s->f[2] };

        memcpy(p, &a, sizeof(a));
        if (s->cmd == RD) {
            return sizeof(a);
        }
        memcpy(p + sizeof(a), &s->f[3], a.count); /* little endian */
        return sizeof(a) + a.count;
    }
    default: /* RESET */
        return 0;
    }
}

/* QEMU's checks of the VERSION reply (proxy.c caps_*, §2.1). */
static void check_version(const uint8_t *body, size_t len)
{
    json_object *root, *caps, *o;

    ck_assert_uint_ge(len, 4);
    ck_assert_uint_eq(body[0] | body[1] << 8, 0);
    ck_assert_uint_eq(body[2] | body[3] << 8, 0);
    if (len == 4) {
        return;
    }
    ck_assert_msg(body[len - 1] == '\0', "corrupt version reply");
    root = json_tokener_parse((const char *)body + 4);
    ck_assert_ptr_nonnull(root);
    ck_assert(json_object_is_type(root, json_type_object));
    if (json_object_object_get_ex(root, "capabilities", &caps)) {
        if (json_object_object_get_ex(caps, "max_msg_fds", &o)) {
            ck_assert_int_le(json_object_get_int64(o), 16);
        }
        if (json_object_object_get_ex(caps, "max_data_xfer_size", &o)) {
            ck_assert_int_le(json_object_get_int64(o), 64 << 20);
        }
        if (json_object_object_get_ex(caps, "pgsizes", &o)) {
            ck_assert_int_eq(json_object_get_int64(o) & 4095, 0);
        }
        if (json_object_object_get_ex(caps, "max_dma_maps", &o)) {
            ck_assert_int_le(json_object_get_int64(o), 65535);
        }
        if (json_object_object_get_ex(caps, "write_multiple", &o)) {
            ck_assert(json_object_is_type(o, json_type_boolean));
        }
        ck_assert(!json_object_object_get_ex(caps, "twin_socket", NULL));
    }
    json_object_put(root);
}

/* What QEMU does with the other replies at realize. */
static void check_reply(const struct step *s, const uint8_t *body, size_t len)
{
    switch (s->cmd) {
    case INFO: {
        struct vfio_user_device_info i;

        memcpy(&i, body, sizeof(i));
        ck_assert_uint_ne(i.flags & VFIO_DEVICE_FLAGS_PCI, 0);
        ck_assert_uint_ge(i.num_regions, 8);
        ck_assert_uint_le(i.num_regions, 100);
        ck_assert_uint_ge(i.num_irqs, 3);
        ck_assert_uint_le(i.num_irqs, 50);
        break;
    }
    case RINFO: {
        struct vfio_user_region_info r;

        memcpy(&r, body, sizeof(r));
        ck_assert_uint_eq(r.index, s->f[0]);
        /* gpio: an 8-byte I/O BAR2 and 256 bytes of config space. */
        ck_assert_uint_eq(r.size, s->f[0] == 2 ? 8 : s->f[0] == 7 ? 256 : 0);
        ck_assert_uint_eq(r.flags, r.size != 0 ? VFIO_REGION_INFO_FLAG_READ |
                                                     VFIO_REGION_INFO_FLAG_WRITE : 0);
        ck_assert_uint_eq(r.argsz, 32);
        break;
    }
    case IINFO: {
        struct vfio_user_irq_info i;

        memcpy(&i, body, sizeof(i));
        /* ERR has one vector: QEMU wires an eventfd to it. */
        ck_assert_uint_eq(i.index, 3);
        ck_assert_uint_eq(i.count, 1);
        ck_assert_uint_ne(i.flags & VFIO_IRQ_INFO_EVENTFD, 0);
        break;
    }
    case UNMAP:
        ck_assert_uint_eq(len, 24);
        break;
    case RD: {
        const uint8_t *d = body + sizeof(struct vfio_user_region_access);
        uint64_t v = 0;

        ck_assert_uint_eq(len, sizeof(struct vfio_user_region_access) + s->f[2]);
        memcpy(&v, d, MIN(s->f[2], sizeof(v)));
        if (s->f[1] == 0) {
            /* vendor 494f, device 0dc8, as the real card */
            uint64_t id = 0x0dc8494f;

            ck_assert_uint_eq(v & ((1ull << (8 * MIN(s->f[2], 4))) - 1),
                              id & ((1ull << (8 * MIN(s->f[2], 4))) - 1));
        } else if (s->f[1] == 0x30) {
            ck_assert_uint_eq(v, 0); /* no expansion ROM */
        } else if (s->f[1] == 0x3d) {
            ck_assert_uint_eq(v, 1); /* INTA# */
        } else if (s->f[1] == 0x18 && s->f[2] == 4) {
            ck_assert_uint_eq(v & 1, 1); /* BAR2 is I/O space */
        }
        break;
    }
    default:
        break;
    }
}

static void replay(struct harness *h)
{
    struct vfu_client *c = pt_connect(h, "g0");
    int ram = pt_memfd(RAM_SIZE);
    int intx = pt_eventfd(), err = pt_eventfd();
    const struct step *waiting[16];
    unsigned nr_waiting = 0;
    uint8_t p[512];

    for (unsigned i = 0; i < G_N_ELEMENTS(steps); i++) {
        const struct step *s = &steps[i];
        size_t len = build(s, p);
        int fd = -1;

        ck_assert_msg(16 + len == s->size, "step %#x: built %zu bytes, QEMU sent %u",
                      s->id, 16 + len, s->size);
        if (s->fds > 0) {
            fd = s->cmd == MAP ? ram : s->f[1] == 0 ? intx : err;
        }
        {
            g_autoptr(GByteArray) b = g_byte_array_new();

            pt_msg_append(b, s->id, s->cmd, 0, p, len);
            ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, &fd, s->fds), 0);
        }
        ck_assert_uint_lt(nr_waiting, G_N_ELEMENTS(waiting));
        waiting[nr_waiting++] = s;
        if (s->pipelined) {
            continue;
        }
        /* QEMU waits now: the replies come in order. */
        for (unsigned k = 0; k < nr_waiting; k++) {
            const struct step *w = waiting[k];
            struct vfio_user_header hdr;
            uint8_t *body = NULL;
            size_t blen = 0;
            int rfds[VFU_CLIENT_MAX_RECV_FDS];
            unsigned nr = VFU_CLIENT_MAX_RECV_FDS;
            int r = vfu_client_recv_reply(c, w->id, &hdr, (void **)&body, &blen, rfds, &nr);

            ck_assert_msg(r == 0, "step %#x (%s): %s", w->id, vfio_user_command_name(w->cmd),
                          strerror(-r));
            ck_assert_uint_eq(hdr.cmd, w->cmd);
            ck_assert_uint_eq(hdr.flags, VFIO_USER_F_TYPE_REPLY);
            ck_assert_msg(nr == 0, "step %#x: %u fds in the reply", w->id, nr);
            if (w->cmd == VER) {
                /* Trap 4: received into QEMU's 214-byte request buffer. */
                ck_assert_uint_le(hdr.msg_size, w->size);
                check_version(body, blen);
            } else {
                ck_assert_msg(hdr.msg_size == w->reply_size,
                              "step %#x (%s): reply of %u bytes, QEMU got %u", w->id,
                              vfio_user_command_name(w->cmd), hdr.msg_size, w->reply_size);
                check_reply(w, body, blen);
            }
            free(body);
        }
        nr_waiting = 0;
    }
    ck_assert_uint_eq(nr_waiting, 0);
    pt_assert_alive(c);
    close(ram);
    close(intx);
    close(err);
    pt_close_wait(h, c);
}

START_TEST(test_qemu_realize_sequence)
{
    struct harness *h = pt_start_gpio();

    replay(h);
    pt_finish(h);
}
END_TEST

START_TEST(test_replay_twice)
{
    struct harness *h = pt_start_gpio();
    int base = harness_fd_count(h->pid);

    /* QEMU restarted (or the device hot-plugged again): a second client
     * after the first went away gets the same answers, and the first one
     * left nothing behind. */
    replay(h);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    replay(h);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    pt_finish(h);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = pt_tcase("qemu-11.1.3");

    tcase_add_test(tc, test_qemu_realize_sequence);
    tcase_add_test(tc, test_replay_twice);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(replay_suite());
}
