/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA_MAP / DMA_UNMAP (§2.2, §2.3) and the device's access to guest memory
 * through them (testdev's DMA engine): shared memfd windows (mmapped by the
 * daemon) and windows without fd (DMA_READ/DMA_WRITE messages, §2.11).
 *
 * Traps covered: 7 (the device's DMA messages go out while the client
 * waits for replies to its own register reads), 9 (bus mastering), 10 (chunking to the client's
 * max_data_xfer_size, windows split over several maps), 11 (overlap,
 * identical re-map, exact unmaps), 13 (mmap offsets, prot), 20.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define RW (VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)
#define RO VFIO_USER_F_DMA_REGION_READ

static struct vfio_user_dma_map map_req(uint64_t addr, uint64_t size,
                                        uint64_t offset, uint32_t flags)
{
    return (struct vfio_user_dma_map){ .argsz = 32, .flags = flags,
                                       .offset = offset, .addr = addr,
                                       .size = size };
}

/* DMA_MAP as given (fd < 0: none); 0 or -errno. */
static int map_raw(struct vfu_client *c, uint64_t addr, uint64_t size, int fd,
                   uint64_t offset, uint32_t flags)
{
    struct vfio_user_dma_map m = map_req(addr, size, offset, flags);
    struct pt_reply r;
    int ret = pt_call(c, VFIO_USER_DMA_MAP, 0, &m, sizeof(m), &fd, fd >= 0 ? 1 : 0, &r);

    if (ret == 0) {
        ck_assert_uint_eq(r.len, 0);
        ck_assert_uint_eq(r.nr_fds, 0);
    }
    pt_reply_clear(&r);
    return ret;
}

/* DMA_UNMAP; on success the reply must echo the request (§2.3). */
static int unmap_raw(struct vfu_client *c, uint64_t addr, uint64_t size,
                     uint32_t flags)
{
    struct vfio_user_dma_unmap u = { .argsz = sizeof(u), .flags = flags,
                                     .addr = addr, .size = size };
    struct pt_reply r;
    int ret = pt_call(c, VFIO_USER_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0, &r);

    if (ret == 0) {
        ck_assert_uint_eq(r.len, sizeof(u));
        ck_assert_int_eq(memcmp(r.payload, &u, sizeof(u)), 0);
    }
    pt_reply_clear(&r);
    return ret;
}

static uint8_t *map_memfd(int fd, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

/* Every byte of [p, p + len) is the LE fill pattern, phase from iova. */
static void assert_filled(const uint8_t *p, uint64_t iova, size_t len, uint32_t fill,
                          uint64_t dma_start)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t want = (uint8_t)(fill >> (8 * ((iova + i - dma_start) % 4)));

        ck_assert_msg(p[i] == want, "byte %#llx is %#x, expected %#x",
                      (unsigned long long)(iova + i), p[i], want);
    }
}

static void assert_dma_error(uint32_t status, int err)
{
    ck_assert_msg((status & TD_ST_ERROR) && TD_ST_ERRNO(status) == (uint32_t)err,
                  "DMA status %#x, expected error %s", status, strerror(err));
}

/* ------------------------------------------------------------------------
 * DMA_MAP
 */
START_TEST(test_map_unmap)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int fd = pt_memfd(0x10000);
    int base = harness_fd_count(h->pid);

    ck_assert_int_eq(map_raw(c, 0x10000, 0x10000, fd, 0, RW), 0);
    /* The daemon keeps the mapping, a duplicate of the fd until the
     * window's first use has been checked (dma_verify.h), and one of the
     * file for as long as a window of it is mapped: an upgrade hands it to
     * the new process, which could not reopen it from the mapping without
     * privileges (dma.c, "Kept files"). */
    ck_assert_int_eq(harness_fd_count(h->pid), base + 2);
    ck_assert_int_eq(map_raw(c, 0x40000, 0x1000, -1, 0, RW), 0);
    ck_assert_int_eq(map_raw(c, 0x50000, 0x1000, -1, 0, RO), 0);
    ck_assert_int_eq(unmap_raw(c, 0x40000, 0x1000, 0), 0);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x10000, 0), 0);
    ck_assert_int_eq(unmap_raw(c, 0x50000, 0x1000, 0), 0);
    /* ...until the unmap. */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* Maps at the very top of the address space do not wrap. */
    ck_assert_int_eq(map_raw(c, UINT64_MAX - 0xfff, 0x1000, -1, 0, RW), 0);
    ck_assert_int_eq(unmap_raw(c, UINT64_MAX - 0xfff, 0x1000, 0), 0);
    close(fd);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_map_overlap)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const struct { uint64_t addr, size; } overlapping[] = {
        { 0x11000, 0x2000 },  /* tail */
        { 0xf000, 0x2000 },   /* head */
        { 0x8000, 0x10000 },  /* around */
        { 0x10800, 0x100 },   /* inside */
        { 0x10000, 0x1000 },  /* same start, shorter */
        { 0x11fff, 0x1 },     /* last byte */
    };

    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, -1, 0, RW), 0);
    /* Spec: overlapping maps fail with EEXIST (trap 11). */
    for (unsigned i = 0; i < G_N_ELEMENTS(overlapping); i++) {
        ck_assert_int_eq(map_raw(c, overlapping[i].addr, overlapping[i].size, -1, 0,
                                 RW), -EEXIST);
        pt_assert_alive(c);
    }
    /* Adjacent windows are fine on both sides. */
    ck_assert_int_eq(map_raw(c, 0x12000, 0x1000, -1, 0, RW), 0);
    ck_assert_int_eq(map_raw(c, 0xf000, 0x1000, -1, 0, RW), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_map_identical)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int fd = pt_memfd(0x4000);
    int other = pt_memfd(0x4000);
    int copy = dup(fd);
    int base;

    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, fd, 0x1000, RW), 0);
    base = harness_fd_count(h->pid);
    /* The same map again (QEMU may repeat one) is accepted, also with
     * another fd for the same file; the new fd is closed. */
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, fd, 0x1000, RW), 0);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, copy, 0x1000, RW), 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* Anything different is an overlap. */
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, other, 0x1000, RW), -EEXIST);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, fd, 0x2000, RW), -EEXIST);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, fd, 0x1000, RO), -EEXIST);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x2000, -1, 0, RW), -EEXIST);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* One unmap removes it. */
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x2000, 0), 0);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x2000, 0), -ENOENT);
    close(fd);
    close(other);
    close(copy);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_map_bad)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int memfd = pt_memfd(0x2000);
    int pipefd[2], sv[2], dirfd, devnull, rdonly;
    g_autofree char *path = NULL;
    int base = harness_fd_count(h->pid);
    struct pt_reply r;
    struct vfio_user_dma_map m;

    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(dirfd, 0);
    ck_assert_int_ge(devnull, 0);

    ck_assert_int_eq(map_raw(c, 0x10000, 0, -1, 0, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0, memfd, 0, RW), -EINVAL);
    /* Wrapping past 2^64. */
    ck_assert_int_eq(map_raw(c, UINT64_MAX - 0xfff, 0x2000, -1, 0, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, UINT64_MAX, UINT64_MAX, -1, 0, RW), -EINVAL);
    /* Neither readable nor writable, or unknown flag bits. */
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, -1, 0, 0), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, -1, 0, RW | 4), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, -1, 0, 0x80000000u | RW), -EINVAL);
    /* argsz is the size of the structure itself. */
    m = map_req(0x10000, 0x1000, 0, RW);
    m.argsz = 64;
    ck_assert_int_eq(pt_call(c, VFIO_USER_DMA_MAP, 0, &m, sizeof(m), NULL, 0, &r),
                     -EINVAL);
    /* Absurd sizes (LVU: ENOSPC above 8 TiB). */
    ck_assert_int_lt(map_raw(c, 0, 1ull << 62, -1, 0, RW), 0);
    pt_assert_alive(c);

    /* fds that are not memory. */
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, pipefd[0], 0, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, sv[0], 0, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, dirfd, 0, RO), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, devnull, 0, RW), -EINVAL);
    pt_assert_alive(c);

    /* Windows beyond the end of the memfd would SIGBUS on touch. */
    ck_assert_int_eq(map_raw(c, 0x10000, 0x3000, memfd, 0, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, memfd, 0x2000, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, memfd, 0x1800, RW), -EINVAL);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, memfd, UINT64_MAX - 0x10, RW), -EINVAL);
    pt_assert_alive(c);

    /* A read-only fd cannot back a writable window (MAP_SHARED). */
    path = g_strdup_printf("/proc/self/fd/%d", memfd);
    rdonly = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(rdonly, 0);
    ck_assert_int_lt(map_raw(c, 0x10000, 0x1000, rdonly, 0, RW), 0);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, rdonly, 0, RO), 0);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x1000, 0), 0);

    /* Every refused fd was closed. */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    pt_assert_alive(c);
    close(memfd);
    close(rdonly);
    pt_close_fds(pipefd, 2);
    pt_close_fds(sv, 2);
    close(dirfd);
    close(devnull);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * DMA_UNMAP
 */
START_TEST(test_unmap_exact_only)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const struct { uint64_t addr, size; } wrong[] = {
        { 0x10000, 0x1000 }, /* head */
        { 0x11000, 0x1000 }, /* middle */
        { 0x13000, 0x1000 }, /* tail */
        { 0x10000, 0x8000 }, /* more */
        { 0xf000, 0x5000 },  /* shifted */
        { 0x100000, 0x1000 }, /* never mapped */
        { 0, 0 },
    };

    ck_assert_int_eq(map_raw(c, 0x10000, 0x4000, -1, 0, RW), 0);
    for (unsigned i = 0; i < G_N_ELEMENTS(wrong); i++) {
        ck_assert_int_eq(unmap_raw(c, wrong[i].addr, wrong[i].size, 0), -ENOENT);
        pt_assert_alive(c);
    }
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x4000, 0), 0);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x4000, 0), -ENOENT);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_unmap_all_and_flags)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int base = harness_fd_count(h->pid);
    int fd = pt_memfd(0x10000);
    struct vfio_user_dma_unmap u = { .argsz = sizeof(u), .addr = 0x10000,
                                     .size = 0x1000 };
    struct {
        struct vfio_user_dma_unmap u;
        struct vfio_user_bitmap b;
    } dirty = { .u = { .argsz = 40, .flags = 1, .addr = 0x10000, .size = 0x1000 },
                .b = { .pgsize = 4096, .size = 8 } };
    struct pt_reply r;

    for (unsigned i = 0; i < 8; i++) {
        ck_assert_int_eq(map_raw(c, 0x10000 + i * 0x2000, 0x1000, fd, i * 0x1000, RW), 0);
        ck_assert_int_eq(map_raw(c, 0x100000 + i * 0x1000, 0x1000, -1, 0, RW), 0);
    }
    /* UNMAP_ALL needs address and size 0; other flag bits are refused;
     * the v1 dirty bitmap is not supported. */
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x1000, VFIO_USER_F_DMA_UNMAP_ALL), -EINVAL);
    ck_assert_int_eq(unmap_raw(c, 0, 0x1000, VFIO_USER_F_DMA_UNMAP_ALL), -EINVAL);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x1000, 4), -EINVAL);
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x1000, 0x80000000u), -EINVAL);
    ck_assert_int_ne(pt_call(c, VFIO_USER_DMA_UNMAP, 0, &dirty, sizeof(dirty), NULL, 0,
                             &r), 0);
    u.argsz = 16;
    ck_assert_int_eq(pt_call(c, VFIO_USER_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0, &r),
                     -EINVAL);
    pt_assert_alive(c);

    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* All gone: the same ranges map again, and nothing is left to unmap. */
    ck_assert_int_eq(unmap_raw(c, 0x10000, 0x1000, 0), -ENOENT);
    ck_assert_int_eq(map_raw(c, 0x10000, 0x1000, -1, 0, RO), 0);
    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    /* UNMAP_ALL with nothing mapped is fine. */
    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    pt_assert_alive(c);
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* Map n message-only windows of 4 KiB, 8 KiB apart from base, pipelined;
 * returns how many succeeded and the first error. */
static unsigned map_many(struct vfu_client *c, uint64_t base, unsigned n, int *err)
{
    unsigned ok = 0;

    *err = 0;
    for (unsigned done = 0; done < n;) {
        unsigned batch = MIN(256u, n - done);
        uint16_t ids[256];

        for (unsigned i = 0; i < batch; i++) {
            struct vfio_user_dma_map m =
                map_req(base + (uint64_t)(done + i) * 0x2000, 0x1000, 0, RW);

            ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DMA_MAP, 0, &m, sizeof(m),
                                             NULL, 0, &ids[i]), 0);
        }
        for (unsigned i = 0; i < batch; i++) {
            int r = pt_recv(c, ids[i], NULL);

            if (r == 0) {
                ok++;
            } else if (*err == 0) {
                *err = r;
            }
        }
        done += batch;
    }
    return ok;
}

START_TEST(test_many_maps)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    bool slow = harness_wrapped();
    /* The daemon advertises max_dma_maps 65535: fill the table to the
     * limit (a few thousand under valgrind), then one more. */
    unsigned n = slow ? 3000 : 65535;
    uint8_t *mem;
    int err;

    ck_assert_uint_eq(map_many(c, 0x100000000ull, n - 1, &err), n - 1);
    /* The last one is memory the client serves by message. */
    mem = vfu_client_add_memory(c, 0x10000, 0x1000, false);
    ck_assert_ptr_nonnull(mem);
    if (!slow) {
        ck_assert_uint_eq(map_many(c, 0x200000000ull, 1, &err), 0);
        ck_assert_int_eq(err, -ENOSPC);
    }
    pt_assert_alive(c);
    /* The device still reaches its memory... */
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x10000, 0x1000, 0xa5a5a5a5), TD_ST_DONE);
    assert_filled(mem, 0x10000, 0x1000, 0xa5a5a5a5, 0x10000);
    /* ...and exact unmaps still find their windows. */
    ck_assert_int_eq(unmap_raw(c, 0x100000000ull + 0x2000ull * (n / 2), 0x1000, 0), 0);
    ck_assert_int_eq(unmap_raw(c, 0x100000000ull + 0x2000ull * (n / 2), 0x1000, 0),
                     -ENOENT);
    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x10000, 0x1000, 0), TD_ST_ERROR |
                      (EFAULT << 16));
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_fd_exhaustion)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int fd = pt_memfd(0x1000);
    int base = harness_fd_count(h->pid);

    /* A window holds its mapping, and its fd only until checked, and
     * only 32 of them; the file is kept once however many windows map it:
     * a client mapping many fd-backed windows cannot use up the fds every
     * device shares. */
    for (unsigned i = 0; i < 2000; i++) {
        ck_assert_int_eq(map_raw(c, 0x100000 + i * 0x1000ull, 0x1000, fd, 0, RW), 0);
    }
    ck_assert_int_eq(harness_fd_count(h->pid), base + 32 + 1);
    /* The rest stay on messages, said once. */
    pt_log_wait_count(h, "too many windows wait for their first use", 1);
    pt_assert_alive(c);
    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    ck_assert_int_eq(map_raw(c, 0x100000, 0x1000, fd, 0, RW), 0);
    pt_assert_alive(c);
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_kept_files_bounded)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int base = harness_fd_count(h->pid);

    /* A new file in every DMA_MAP: at most DMA_MAX_FILES (64) are kept
     * for an upgrade, plus the 32 waiting for their check; the windows
     * beyond work all the same, and the limit is said once. */
    for (unsigned i = 0; i < 200; i++) {
        int fd = pt_memfd(0x1000);

        ck_assert_int_eq(map_raw(c, 0x100000 + i * 0x1000ull, 0x1000, fd, 0, RW), 0);
        close(fd);
    }
    ck_assert_int_eq(harness_fd_count(h->pid), base + 32 + 64);
    pt_log_wait_count(h, "its memory file is not kept", 1);
    pt_assert_alive(c);
    ck_assert_int_eq(unmap_raw(c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * The device's DMA through the windows
 */
static void dma_all_ops(struct vfu_client *c, uint8_t *mem, uint64_t iova)
{
    /* FILL, COPY, to and from the device's buffer. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, iova, 0x1000, 0xdeadbeef), TD_ST_DONE);
    assert_filled(mem, iova, 0x1000, 0xdeadbeef, iova);
    for (unsigned i = 0; i < 0x1000; i++) {
        mem[0x2000 + i] = (uint8_t)(i * 7);
    }
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, iova + 0x2000, iova + 0x5001, 0x1000, 0),
                      TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x5001, mem + 0x2000, 0x1000), 0);
    ck_assert_uint_eq(pt_dma(c, TD_OP_TO_DEV, iova + 0x2000, 0x100, 0x800, 0), TD_ST_DONE);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FROM_DEV, 0x100, iova + 0x8000, 0x800, 0),
                      TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x8000, mem + 0x2000, 0x800), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_COUNT), 4);
}

START_TEST(test_dma_shared_memory)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x10000, true);
    uint64_t rd, wr;

    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    dma_all_ops(c, mem, 0x100000);
    /* Through the mmap: not one message (the daemon saw in our
     * /proc/PID/maps that we map the memfd shared). */
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd + wr, 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* Loop: the layout of the client's replies (trap 22: the daemon accepts
 * the protocol's, a 32-bit count, and QEMU 10.1.0's). */
START_TEST(test_dma_by_message)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x10000, false);
    uint64_t rd, wr;

    ck_assert_ptr_nonnull(mem);
    vfu_client_set_dma_reply_layout(c, (enum vfu_dma_reply_layout)_i);
    pt_bus_master(c, true);
    dma_all_ops(c, mem, 0x100000);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_ge(rd, 2);
    ck_assert_uint_ge(wr, 3);
    ck_assert_uint_eq(vfu_client_request_errors(c), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_fd_offset)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int fd = pt_memfd(0x10000);
    uint8_t *file = map_memfd(fd, 0x10000);

    /* The window starts at file offset 0x3800 (not page aligned, trap
     * 13): guest address 0x20000 is byte 0x3800 of the file. */
    ck_assert_int_eq(vfu_client_track_memory(c, 0x20000, 0x2000, fd, 0x3800), 0);
    ck_assert_int_eq(map_raw(c, 0x20000, 0x2000, fd, 0x3800, RW), 0);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x20000, 0x2000, 0x01020304), TD_ST_DONE);
    assert_filled(file + 0x3800, 0x20000, 0x2000, 0x01020304, 0x20000);
    ck_assert_uint_eq(file[0x37ff], 0);
    ck_assert_uint_eq(file[0x5800], 0);
    munmap(file, 0x10000);
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_across_windows)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    /* Three adjacent windows: shared, by message, shared (trap 10: the
     * device's view is contiguous, the daemon translates per window). */
    uint8_t *a = vfu_client_add_memory(c, 0x200000, 0x1000, true);
    uint8_t *b = vfu_client_add_memory(c, 0x201000, 0x1000, false);
    uint8_t *d = vfu_client_add_memory(c, 0x202000, 0x1000, true);
    uint8_t *gap = vfu_client_add_memory(c, 0x300000, 0x1000, true);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(gap);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x200800, 0x2000, 0xcafe0bad), TD_ST_DONE);
    assert_filled(a + 0x800, 0x200800, 0x800, 0xcafe0bad, 0x200800);
    assert_filled(b, 0x201000, 0x1000, 0xcafe0bad, 0x200800);
    assert_filled(d, 0x202000, 0x800, 0xcafe0bad, 0x200800);
    ck_assert_uint_eq(a[0x7ff], 0);
    ck_assert_uint_eq(d[0x800], 0);
    /* Copy from across the windows back into one. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x200c00, 0x300000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(gap, a + 0xc00, 0x400), 0);
    ck_assert_int_eq(memcmp(gap + 0x400, b, 0xc00), 0);
    /* A range running from a window into unmapped space fails. */
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, 0x202800, 0x1000, 1), EFAULT);
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, 0x300800, 0x1000, 1), EFAULT);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_chunked)
{
    struct harness *h = pt_start_testdev(NULL);
    /* The client takes at most 4 KiB per DMA message (trap 10). */
    struct vfu_client *c = pt_open_caps(h, "t0",
                                        "{\"capabilities\": {\"max_data_xfer_size\": 4096, "
                                        "\"max_msg_fds\": 16}}");
    uint8_t *mem = vfu_client_add_memory(c, 0x400000, 0x40000, false);
    uint64_t rd, wr;

    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x400000, 0x20000, 0x77665544), TD_ST_DONE);
    assert_filled(mem, 0x400000, 0x20000, 0x77665544, 0x400000);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_ge(wr, 0x20000 / 4096);
    /* An unaligned copy larger than 4 KiB, both directions chunked. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x400001, 0x430003, 0x5555, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x30003, mem + 1, 0x5555), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_ge(rd, 6);
    /* Our E2BIG would have been counted as a request error. */
    ck_assert_uint_eq(vfu_client_request_errors(c), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_refused)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x2000, true);
    int fd = pt_memfd(0x1000);

    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(vfu_client_track_memory(c, 0x200000, 0x1000, fd, 0), 0);
    ck_assert_int_eq(map_raw(c, 0x200000, 0x1000, fd, 0, RO), 0);
    /* Trap 9: no DMA while bus mastering is off. */
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x100, 1), EPERM);
    ck_assert_uint_eq(mem[0], 0);
    pt_bus_master(c, true);
    /* Outside every window. */
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, 0x900000, 0x100, 1), EFAULT);
    assert_dma_error(pt_dma(c, TD_OP_TO_DEV, 0x900000, 0, 0x100, 0), EFAULT);
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, UINT64_MAX - 0x7f, 0x100, 1), EFAULT);
    /* Writing a read-only window; reading it is fine. */
    assert_dma_error(pt_dma(c, TD_OP_FILL, 0, 0x200000, 0x100, 1), EACCES);
    ck_assert_uint_eq(pt_dma(c, TD_OP_TO_DEV, 0x200000, 0, 0x100, 0), TD_ST_DONE);
    /* A window that was unmapped. */
    ck_assert_int_eq(unmap_raw(c, 0x200000, 0x1000, 0), 0);
    assert_dma_error(pt_dma(c, TD_OP_TO_DEV, 0x200000, 0, 0x100, 0), EFAULT);
    /* After all that, DMA still works. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x2000, 0x5), TD_ST_DONE);
    ck_assert_uint_eq(mem[0x1ffc], 5);
    pt_assert_alive(c);
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_completion_interrupt)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x10000, false);
    int efd = pt_eventfd();

    /* A message-based DMA_WRITE followed by the MSI-X interrupt: once the
     * eventfd fires, the data is in memory (the daemon sent the writes
     * first and the client serves them before looking at the eventfd). */
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    pt_msix_enable(c, true);
    pt_irq_attach(c, PT_IRQ_MSIX, 2, 1, &efd);
    pt_dma_start(c, TD_OP_FILL, 0, 0x100000, 0x10000, 0x31415926, 2);
    ck_assert_int_eq(vfu_client_wait_eventfd(c, efd, 5000), 1);
    assert_filled(mem, 0x100000, 0x10000, 0x31415926, 0x100000);
    ck_assert_uint_eq(pt_dma_wait(c), TD_ST_DONE);
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *dma_suite(void)
{
    Suite *s = suite_create("dma");
    TCase *tc;

    tc = pt_tcase("map");
    tcase_add_test(tc, test_map_unmap);
    tcase_add_test(tc, test_map_overlap);
    tcase_add_test(tc, test_map_identical);
    tcase_add_test(tc, test_map_bad);
    tcase_add_test(tc, test_unmap_exact_only);
    tcase_add_test(tc, test_unmap_all_and_flags);
    tcase_add_test(tc, test_many_maps);
    tcase_add_test(tc, test_fd_exhaustion);
    tcase_add_test(tc, test_kept_files_bounded);
    suite_add_tcase(s, tc);

    tc = pt_tcase("access");
    tcase_add_test(tc, test_dma_shared_memory);
    tcase_add_loop_test(tc, test_dma_by_message, VFU_DMA_REPLY_SPEC,
                        VFU_DMA_REPLY_QEMU_10_1 + 1);
    tcase_add_test(tc, test_dma_fd_offset);
    tcase_add_test(tc, test_dma_across_windows);
    tcase_add_test(tc, test_dma_chunked);
    tcase_add_test(tc, test_dma_refused);
    tcase_add_test(tc, test_dma_completion_interrupt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(dma_suite());
}
