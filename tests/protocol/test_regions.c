/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device and region commands: DEVICE_GET_INFO (§2.4), GET_REGION_INFO with
 * the sparse-mmap capability and its fd (§2.5), GET_REGION_IO_FDS (§2.6),
 * REGION_READ/WRITE bounds (§2.9), REGION_WRITE_MULTI (§2.10), and the
 * refusals around migration: unknown DEVICE_FEATUREs, MIG_DATA_READ/WRITE
 * outside a migration, DIRTY_PAGES (§2.13-2.16; migration itself is in
 * tests/migration).
 *
 * Traps covered: 6 (NO_REPLY on refused commands), 14 (region access
 * bounds), 15 (config writes to read-only bits), 20, 24 (region info
 * retry, the fd only with the capability).
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* testdev BAR2's mmappable areas. */
static const struct { uint64_t offset, size; } bar2_areas[] = {
    { 0x0000, 0x4000 },
    { 0xc000, 0x4000 },
};
#define BAR2_INFO_ARGSZ (32 + 16 + 2 * 16)

static int info_raw(struct vfu_client *c, uint32_t argsz, uint32_t index,
                    struct pt_reply *r)
{
    struct vfio_user_region_info req = { .argsz = argsz, .index = index };

    return pt_call(c, VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0, r);
}

static struct vfio_user_region_info reply_info(const struct pt_reply *r)
{
    struct vfio_user_region_info ri;

    ck_assert_uint_ge(r->len, sizeof(ri));
    memcpy(&ri, r->payload, sizeof(ri));
    return ri;
}

/* REGION_READ/WRITE as given; 0 or -errno. */
static int access_raw(struct vfu_client *c, uint16_t cmd, unsigned region,
                      uint64_t offset, uint32_t count, size_t data_len)
{
    g_autofree uint8_t *p = g_malloc0(sizeof(struct vfio_user_region_access) + data_len);
    struct vfio_user_region_access a = { .offset = offset, .region = region,
                                         .count = count };
    struct pt_reply r;
    int ret;

    memcpy(p, &a, sizeof(a));
    ret = pt_call(c, cmd, 0, p, sizeof(a) + data_len, NULL, 0, &r);
    if (ret == 0) {
        /* READ: head + data; WRITE: head only. */
        ck_assert_uint_eq(r.len, sizeof(a) + (cmd == VFIO_USER_REGION_READ ? count : 0));
        ck_assert_uint_eq(((struct vfio_user_region_access *)r.payload)->count, count);
    }
    pt_reply_clear(&r);
    return ret;
}

/* ------------------------------------------------------------------------
 * DEVICE_GET_INFO and GET_REGION_INFO
 */
START_TEST(test_device_info)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_device_info req = { .argsz = 15 };
    struct pt_reply r;

    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0, EINVAL);
    pt_assert_alive(c);
    /* A larger buffer than needed: the reply is still the 16 bytes. */
    req.argsz = 4096;
    ck_assert_int_eq(pt_call(c, VFIO_USER_DEVICE_GET_INFO, 0, &req, sizeof(req), NULL,
                             0, &r), 0);
    ck_assert_uint_eq(r.len, 16);
    ck_assert_uint_eq(((struct vfio_user_device_info *)r.payload)->argsz, 16);
    pt_reply_clear(&r);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_region_info_each)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const struct {
        uint64_t size;
        uint32_t flags;
        uint32_t argsz;
    } want[PT_NR_REGIONS] = {
        [PT_BAR0] = { 4096, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, 32 },
        [PT_BAR2] = { TD_BAR2_SIZE, VFIO_REGION_INFO_FLAG_READ |
                      VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
                      BAR2_INFO_ARGSZ },
        [PT_BAR4] = { 4096, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, 32 },
        [PT_ROM] = { 2048, VFIO_REGION_INFO_FLAG_READ, 32 },
        [PT_CONFIG] = { 4096, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
                        32 },
        /* BAR1, BAR3 (upper half of 64-bit BAR2), BAR5 and VGA: absent */
        [1] = { 0, 0, 32 }, [3] = { 0, 0, 32 }, [5] = { 0, 0, 32 }, [8] = { 0, 0, 32 },
    };

    /* What QEMU asks first: argsz 32, the bare structure. */
    for (unsigned i = 0; i < PT_NR_REGIONS; i++) {
        struct pt_reply r;
        struct vfio_user_region_info ri;

        ck_assert_int_eq(info_raw(c, 32, i, &r), 0);
        ck_assert_uint_eq(r.len, 32);
        /* Trap 24: no fd with a reply too short for the capability. */
        ck_assert_uint_eq(r.nr_fds, 0);
        ri = reply_info(&r);
        ck_assert_uint_eq(ri.index, i);
        ck_assert_uint_eq(ri.size, want[i].size);
        ck_assert_uint_eq(ri.flags, want[i].flags);
        ck_assert_uint_eq(ri.argsz, want[i].argsz);
        ck_assert_uint_eq(ri.cap_offset, 0);
        pt_reply_clear(&r);
    }
    /* Regions that do not exist, and a buffer below the structure. */
    {
        struct pt_reply r;

        ck_assert_int_eq(info_raw(c, 32, PT_NR_REGIONS, &r), -EINVAL);
        ck_assert_int_eq(info_raw(c, 32, 0xffffffff, &r), -EINVAL);
        ck_assert_int_eq(info_raw(c, 31, PT_BAR0, &r), -EINVAL);
        ck_assert_int_eq(info_raw(c, 0, PT_BAR2, &r), -EINVAL);
    }
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_region_info_caps)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const uint32_t sizes[] = { BAR2_INFO_ARGSZ, BAR2_INFO_ARGSZ + 8, 4096 };
    struct pt_reply r;

    /* With room for the capability: exactly the needed bytes, CAPS, the
     * sparse areas, and one fd (trap 24). */
    for (unsigned k = 0; k < G_N_ELEMENTS(sizes); k++) {
        struct vfio_user_region_info ri;
        struct vfio_user_cap_sparse_mmap cap;

        ck_assert_int_eq(info_raw(c, sizes[k], PT_BAR2, &r), 0);
        ck_assert_uint_eq(r.len, BAR2_INFO_ARGSZ);
        ck_assert_uint_eq(r.nr_fds, 1);
        ri = reply_info(&r);
        ck_assert_uint_eq(ri.argsz, BAR2_INFO_ARGSZ);
        ck_assert_uint_eq(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
                                        VFIO_REGION_INFO_FLAG_MMAP |
                                        VFIO_REGION_INFO_FLAG_CAPS);
        ck_assert_uint_eq(ri.cap_offset, 32);
        memcpy(&cap, r.payload + 32, sizeof(cap));
        ck_assert_uint_eq(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
        ck_assert_uint_eq(cap.header.version, 1);
        ck_assert_uint_eq(cap.header.next, 0);
        ck_assert_uint_eq(cap.nr_areas, 2);
        for (unsigned i = 0; i < 2; i++) {
            struct vfio_user_sparse_mmap_area a;

            memcpy(&a, r.payload + 32 + sizeof(cap) + i * sizeof(a), sizeof(a));
            ck_assert_uint_eq(a.offset, bar2_areas[i].offset);
            ck_assert_uint_eq(a.size, bar2_areas[i].size);
        }
        pt_reply_clear(&r);
    }
    /* One byte short: the short answer again, without fd. */
    ck_assert_int_eq(info_raw(c, BAR2_INFO_ARGSZ - 1, PT_BAR2, &r), 0);
    ck_assert_uint_eq(r.len, 32);
    ck_assert_uint_eq(r.nr_fds, 0);
    ck_assert_uint_eq(reply_info(&r).argsz, BAR2_INFO_ARGSZ);
    ck_assert_uint_eq(reply_info(&r).flags & VFIO_REGION_INFO_FLAG_CAPS, 0);
    pt_reply_clear(&r);
    /* And the whole dance as QEMU does it, through the client library. */
    {
        struct vfio_user_region_info ri;
        uint8_t caps[64];
        int fd = -1;

        ck_assert_int_eq(vfu_client_region_info(c, PT_BAR2, &ri, caps, sizeof(caps), &fd),
                         BAR2_INFO_ARGSZ - 32);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Sparse mmap: mmapped reads never become messages
 */
START_TEST(test_sparse_mmap)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_region_info ri;
    uint8_t caps[64];
    uint32_t *area[2];
    uint32_t v;
    int fd = -1;

    ck_assert_int_gt(vfu_client_region_info(c, PT_BAR2, &ri, caps, sizeof(caps), &fd), 0);
    ck_assert_int_ge(fd, 0);
    for (unsigned i = 0; i < 2; i++) {
        void *p = mmap(NULL, bar2_areas[i].size, PROT_READ | PROT_WRITE, MAP_SHARED,
                       fd, (off_t)(ri.offset + bar2_areas[i].offset));

        ck_assert_ptr_ne(p, MAP_FAILED);
        area[i] = p;
    }
    /* The pattern, read straight from the shared memory. */
    for (unsigned i = 0; i < 2; i++) {
        for (uint32_t o = 0; o < bar2_areas[i].size; o += 4) {
            uint32_t want = 0xb2000000u | (uint32_t)(bar2_areas[i].offset + o);

            ck_assert_uint_eq(area[i][o / 4], want);
        }
    }
    ck_assert_uint_eq(pt_bar0(c, TD_BAR2_TRAPS), 0);
    /* Messages to the mmappable parts are served from the same memory by
     * the daemon, without the plugin... */
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x0), 0xb2000000u);
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0xfffc), 0xb200fffcu);
    ck_assert_uint_eq(pt_bar0(c, TD_BAR2_TRAPS), 0);
    /* ...the trapped part reaches it, once per access. */
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x4000), 0xb2004000u);
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0xbffc), 0xb200bffcu);
    pt_wr32(c, PT_BAR2, 0x8000, 0x12345678);
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x8000), 0x12345678);
    ck_assert_uint_eq(pt_bar0(c, TD_BAR2_TRAPS), 4);
    /* An access straddling an area's end is not inside the area. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR2, 0x3ffc, &v, 4), 0);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR2, 0x3ffe, &v, 4), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_BAR2_TRAPS), 5);
    /* Both views are the same memory. */
    area[0][4] = 0xa1a2a3a4;
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x10), 0xa1a2a3a4);
    pt_wr32(c, PT_BAR2, 0xc010, 0xb1b2b3b4);
    ck_assert_uint_eq(area[1][4], 0xb1b2b3b4);
    ck_assert_uint_eq(pt_bar0(c, TD_BAR2_TRAPS), 5);
    for (unsigned i = 0; i < 2; i++) {
        munmap(area[i], bar2_areas[i].size);
    }
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * REGION_READ / REGION_WRITE bounds (trap 14)
 */
START_TEST(test_access_bounds)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const unsigned absent[] = { 1, PT_BAR3, 5, PT_VGA, PT_NR_REGIONS, 100,
                                       0xffffffff };
    static const struct { unsigned region; uint64_t offset; uint32_t count; } outside[] = {
        { PT_BAR0, 4096, 4 },
        { PT_BAR0, 4094, 4 },
        { PT_BAR0, 0, 4097 },
        { PT_BAR0, UINT64_MAX - 1, 4 },
        { PT_BAR0, UINT64_MAX, 1 },
        { PT_BAR2, 0xfff0, 0x20 },
        { PT_ROM, 2048, 1 },
        { PT_CONFIG, 4096, 1 },
        { PT_CONFIG, 4095, 2 },
        { PT_CONFIG, 0, 4097 },
        { PT_CONFIG, 1ull << 32, 4 },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(absent); i++) {
        ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, absent[i], 0, 4, 0), -EINVAL);
        ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_WRITE, absent[i], 0, 4, 4), -EINVAL);
        pt_assert_alive(c);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(outside); i++) {
        ck_assert_msg(access_raw(c, VFIO_USER_REGION_READ, outside[i].region,
                                 outside[i].offset, outside[i].count, 0) == -EINVAL,
                      "read of region %u [%#llx, +%u) accepted", outside[i].region,
                      (unsigned long long)outside[i].offset, outside[i].count);
        ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_WRITE, outside[i].region,
                                    outside[i].offset, outside[i].count,
                                    outside[i].count), -EINVAL);
        pt_assert_alive(c);
    }
    /* The last bytes are inside. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_BAR0, 4092, 4, 0), 0);
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_CONFIG, 4095, 1, 0), 0);
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_CONFIG, 0, 4096, 0), 0);
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_ROM, 0, 2048, 0), 0);
    /* count above max_data_xfer_size (1 MiB), even though the request
     * itself is small. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_BAR2, 0, (1u << 20) + 1, 0),
                     -EINVAL);
    ck_assert(pt_log_wait(h, "exceeds", 1000));
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_BAR2, 0, UINT32_MAX, 0),
                     -EINVAL);
    /* count 0: nothing to do, an empty answer. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_BAR0, 0, 0, 0), 0);
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_WRITE, PT_BAR0, 0, 0, 0), 0);
    /* The ROM is read-only. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_WRITE, PT_ROM, 0, 4, 4), -EINVAL);
    /* A plugin's refusal (testdev takes aligned dwords) is an error reply. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_WRITE, PT_BAR0, TD_SCRATCH + 1, 2, 2),
                     -EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_access_sizes)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autofree uint8_t *cfg = g_malloc(4096);
    uint8_t buf[16];
    uint16_t vendor;
    uint64_t q;

    /* Any size at any offset (trap 14): the config space read whole and
     * in odd pieces agrees. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_CONFIG, 0, cfg, 4096), 0);
    ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 0xfffd);
    ck_assert_uint_eq(cfg[2] | cfg[3] << 8, 0x0001);
    for (unsigned off = 0; off < 4096; off += 509) {
        for (unsigned n = 1; n <= 7 && off + n <= 4096; n += 2) {
            ck_assert_int_eq(vfu_client_region_read(c, PT_CONFIG, off, buf, n), 0);
            ck_assert_int_eq(memcmp(buf, cfg + off, n), 0);
        }
    }
    /* Trap 15: writes to read-only config registers are ignored, not
     * failed. */
    ck_assert_int_eq(vfu_client_cfg_write16(c, PCI_VENDOR_ID, 0x1234), 0);
    ck_assert_int_eq(vfu_client_cfg_read16(c, PCI_VENDOR_ID, &vendor), 0);
    ck_assert_uint_eq(vendor, 0xfffd);
    /* BAR0 registers read with 1, 2 and 8 bytes at any alignment. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR0, TD_ID + 1, buf, 2), 0);
    ck_assert_uint_eq(buf[0] | buf[1] << 8, (TD_ID_VALUE >> 8) & 0xffff);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR0, TD_ID, &q, 8), 0);
    ck_assert_uint_eq((uint32_t)q, TD_ID_VALUE);
    ck_assert_uint_eq((uint32_t)(q >> 32), 65536); /* BUF_SIZE */
    /* The ROM: signature and text. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_ROM, 0, buf, 2), 0);
    ck_assert_uint_eq(buf[0], 0x55);
    ck_assert_uint_eq(buf[1], 0xaa);
    ck_assert_int_eq(vfu_client_region_read(c, PT_ROM, 0x20, buf, 9), 0);
    ck_assert_int_eq(memcmp(buf, "VFIOUSERD", 9), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_msix_table_and_pba_access)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t entry[16], back[16];
    uint64_t pba = ~0ull;

    /* The table and PBA in BAR4 are the daemon's (QEMU emulates the table
     * and forwards PBA reads). */
    for (unsigned i = 0; i < 16; i++) {
        entry[i] = (uint8_t)(0x40 + i);
    }
    entry[12] = 0; /* vector control: unmasked */
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR4, 16, entry, 16, false), 0);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, 16, back, 16), 0);
    ck_assert_int_eq(memcmp(entry, back, 16), 0);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &pba, 8), 0);
    ck_assert_uint_eq(pba, 0);
    /* PBA writes are dropped, as QEMU does. */
    pba = ~0ull;
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR4, TD_PBA_OFFSET, &pba, 8, false), 0);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &pba, 8), 0);
    ck_assert_uint_eq(pba, 0);
    /* An access straddling the end of the table is refused. */
    ck_assert_int_eq(access_raw(c, VFIO_USER_REGION_READ, PT_BAR4, 0x3c, 8, 0), -EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * REGION_WRITE_MULTI (§2.10)
 */
START_TEST(test_write_multi_refused)
{
    struct harness *h = pt_start_testdev(NULL);
    /* QEMU's capabilities offer write_multiple; the daemon does not turn
     * it on (it is absent from its VERSION reply, see test_version), so
     * REGION_WRITE_MULTI is refused and its writes are not done. */
    struct vfu_client *c = pt_open(h, "t0");
    struct {
        struct pt_write_multi head;
        struct vfio_user_write_multi_entry e[2];
    } m = {
        .head = { .wr_cnt = 2 },
        .e = {
            { .offset = TD_SCRATCH, .region = PT_BAR0, .count = 4, .data = { 1 } },
            { .offset = TD_SCRATCH, .region = PT_BAR0, .count = 4, .data = { 2 } },
        },
    };

    pt_expect_err(c, VFIO_USER_REGION_WRITE_MULTI, &m, sizeof(m), NULL, 0, EINVAL);
    pt_assert_alive(c);
    /* QEMU sends it NO_REPLY: refused silently. */
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_REGION_WRITE_MULTI, VFIO_USER_F_NO_REPLY,
                                     &m, sizeof(m), NULL, 0, NULL), 0);
    pt_expect_silence(c, 100);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * GET_REGION_IO_FDS (§2.6)
 */
START_TEST(test_region_io_fds)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_region_io_fds_request req = { .argsz = sizeof(req) };
    static const uint32_t argsz[] = { 16, 4096 };
    struct pt_reply r;

    /* No region has ioeventfds: an empty list, no fds, for every region
     * and any buffer size. */
    for (unsigned i = 0; i < PT_NR_REGIONS; i++) {
        for (unsigned k = 0; k < G_N_ELEMENTS(argsz); k++) {
            struct vfio_user_region_io_fds_request rep;

            req.index = i;
            req.argsz = argsz[k];
            ck_assert_int_eq(pt_call(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, 0, &req,
                                     sizeof(req), NULL, 0, &r), 0);
            ck_assert_uint_eq(r.len, sizeof(rep));
            ck_assert_uint_eq(r.nr_fds, 0);
            memcpy(&rep, r.payload, sizeof(rep));
            ck_assert_uint_eq(rep.argsz, sizeof(rep));
            ck_assert_uint_eq(rep.index, i);
            ck_assert_uint_eq(rep.count, 0);
            pt_reply_clear(&r);
        }
    }
    /* Requests must have flags and count 0, a sane argsz and index. */
    req = (struct vfio_user_region_io_fds_request){ .argsz = 16, .flags = 1 };
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), NULL, 0, EINVAL);
    req = (struct vfio_user_region_io_fds_request){ .argsz = 16, .count = 1 };
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), NULL, 0, EINVAL);
    req = (struct vfio_user_region_io_fds_request){ .argsz = 8 };
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), NULL, 0, EINVAL);
    req = (struct vfio_user_region_io_fds_request){ .argsz = 16, .index = PT_NR_REGIONS };
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), NULL, 0, EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Features the daemon lacks (ENOTSUP), migration data outside a migration
 * (EINVAL), the v1 migration command (ENOTSUP)
 */
START_TEST(test_unsupported_commands)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    /* GET | LOW_POWER_ENTRY (3), PROBE | GET | SET | PCI_VF_TOKEN (0),
     * SET | feature 0xffff */
    struct { uint32_t argsz, flags; uint64_t data[3]; } feat[] = {
        { 16, (1u << 16) | 3, { 0 } },
        { 16, (1u << 18) | (1u << 16) | (1u << 17) | 0, { 0 } },
        { 32, (1u << 17) | 0xffff, { 4096, 0, 0 } },
    };
    struct { uint32_t argsz, size; uint8_t data[64]; } mig = { 8 + 64, 64, { 0 } };
    struct { uint32_t argsz, flags; } dirty = { 8, 1 };

    for (unsigned i = 0; i < G_N_ELEMENTS(feat); i++) {
        pt_expect_err(c, VFIO_USER_DEVICE_FEATURE, &feat[i], feat[i].argsz, NULL, 0,
                      ENOTSUP);
        pt_assert_alive(c);
    }
    /* The device runs: there is no migration data to read or write. */
    pt_expect_err(c, VFIO_USER_MIG_DATA_READ, &mig, 8, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_MIG_DATA_WRITE, &mig, sizeof(mig), NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DIRTY_PAGES, &dirty, sizeof(dirty), NULL, 0, ENOTSUP);
    pt_assert_alive(c);
    /* Refused silently when no reply is wanted (trap 6). */
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_MIG_DATA_WRITE, VFIO_USER_F_NO_REPLY,
                                     &mig, sizeof(mig), NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_FEATURE, VFIO_USER_F_NO_REPLY,
                                     &feat[0], 16, NULL, 0, NULL), 0);
    pt_expect_silence(c, 100);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *regions_suite(void)
{
    Suite *s = suite_create("regions");
    TCase *tc;

    tc = pt_tcase("info");
    tcase_add_test(tc, test_device_info);
    tcase_add_test(tc, test_region_info_each);
    tcase_add_test(tc, test_region_info_caps);
    tcase_add_test(tc, test_sparse_mmap);
    tcase_add_test(tc, test_region_io_fds);
    suite_add_tcase(s, tc);

    tc = pt_tcase("access");
    tcase_add_test(tc, test_access_bounds);
    tcase_add_test(tc, test_access_sizes);
    tcase_add_test(tc, test_msix_table_and_pba_access);
    tcase_add_test(tc, test_write_multi_refused);
    suite_add_tcase(s, tc);

    tc = pt_tcase("unsupported");
    tcase_add_test(tc, test_unsupported_commands);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(regions_suite());
}
