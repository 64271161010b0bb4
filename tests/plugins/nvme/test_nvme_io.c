/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe plugin, I/O path: Read/Write with every PRP shape and SGLs, the
 * error statuses (PRP offset, LBA range, MDTS, DMA outside guest memory,
 * SGL errors), Flush, FUA, Write Zeroes, Dataset Management, Compare,
 * queue wrap-around, shadow doorbells with EventIdx, message-only guest
 * memory, O_DIRECT, polled doorbells, the null back-end and Format NVM.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nvme_tdrv_fake.h"

#define NS_SIZE (64ull << 20)

static struct tdrv D;

static void up_with(bool message_only, const char *const *extra)
{
    ck_assert_int_eq(td_open(&D, NS_SIZE, message_only, extra), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
}

static void up(void)
{
    up_with(false, NULL);
}

static void down(void)
{
    td_close(&D);
}

static void fill(uint64_t iova, size_t len, unsigned seed)
{
    uint8_t *p = td_ptr(&D, iova);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static void check_file(uint64_t off, const void *expect, size_t len)
{
    int fd = open(D.path, O_RDONLY);
    uint8_t *buf = malloc(len);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    ck_assert_int_eq(memcmp(buf, expect, len), 0);
    free(buf);
    close(fd);
}

static struct nvme_sqe rw_cmd(uint8_t opc, uint64_t slba, uint32_t nlb)
{
    struct nvme_sqe c;

    memset(&c, 0, sizeof(c));
    c.opcode = opc;
    c.nsid = 1;
    c.cdw10 = (uint32_t)slba;
    c.cdw11 = (uint32_t)(slba >> 32);
    c.cdw12 = nlb - 1;
    return c;
}

/* Write len bytes from src_iova at slba, read them back into a fresh
 * buffer with the same shape, compare, and check the file. */
static void roundtrip(uint64_t src, uint64_t dst, uint64_t slba, uint32_t nlb)
{
    size_t len = (size_t)nlb * 512;

    fill(src, len, (unsigned)slba);
    memset(td_ptr(&D, dst), 0, len);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, slba, nlb, src, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, slba, nlb, dst, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, src), td_ptr(&D, dst), len), 0);
    check_file(slba * 512, td_ptr(&D, src), len);
}

START_TEST(test_prp1_only)
{
    uint64_t a, b;

    up();
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    roundtrip(a, b, 0, 1);
    roundtrip(a, b, 100, 8);             /* exactly one page */
    roundtrip(a + 512, b + 1024, 7, 2);  /* offset inside the page */
    ck_assert_uint_gt(fake_irq_count(D.dev, 1), 0); /* MSI-X vector of CQ1 */
    down();
}
END_TEST

START_TEST(test_prp1_prp2)
{
    uint64_t a, b;

    up();
    a = td_alloc(&D, 16384, 4096);
    b = td_alloc(&D, 16384, 4096);
    roundtrip(a, b, 10, 16);              /* two full pages */
    roundtrip(a + 2048, b + 3072, 50, 8); /* crosses into a second page */
    roundtrip(a + 4, b + 8, 60, 9);       /* dword-aligned odd offset */
    down();
}
END_TEST

START_TEST(test_prp_list)
{
    uint64_t a, b;

    up();
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 1000, 128);             /* 64 KiB: list of 15 */
    roundtrip(a + 512, b + 1536, 2000, 256); /* 128 KiB = MDTS, offset */
    down();
}
END_TEST

START_TEST(test_prp_list_chained)
{
    uint64_t src, dst, pages[40], list;
    struct nvme_sqe c;

    up();
    src = td_alloc(&D, 132 << 10, 4096);
    dst = td_alloc(&D, 132 << 10, 4096);
    fill(src, 128 << 10, 3);
    /* 128 KiB from offset 0: PRP1 + 31 entries; the list starts 3 entries
     * before the end of its page, so its last slot chains to a new page */
    for (int dir = 0; dir < 2; dir++) {
        uint64_t buf = dir ? dst : src;

        for (int i = 0; i < 31; i++) {
            pages[i] = buf + 4096 * (uint64_t)(i + 1);
        }
        list = td_alloc(&D, 8192, 4096) + 4096 - 24;
        c = rw_cmd(dir ? NVME_CMD_READ : NVME_CMD_WRITE, 4096, 256);
        td_build_prp_at(&D, &c, buf, pages, 31, list);
        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    }
    ck_assert_int_eq(memcmp(td_ptr(&D, src), td_ptr(&D, dst), 128 << 10), 0);
    check_file(4096 * 512, td_ptr(&D, src), 128 << 10);
    down();
}
END_TEST

START_TEST(test_prp_errors)
{
    uint64_t a, pages[8];
    struct nvme_sqe c;

    up();
    a = td_alloc(&D, 65536, 4096);
    /* PRP1 not dword aligned */
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = a + 2;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    /* PRP2 (second page) with an offset */
    c = rw_cmd(NVME_CMD_READ, 0, 16);
    c.dptr1 = a;
    c.dptr2 = a + 4096 + 512;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    /* list entry with an offset */
    for (int i = 0; i < 3; i++) {
        pages[i] = a + 4096 * (uint64_t)(i + 1);
    }
    pages[1] += 64;
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    td_build_prp(&D, &c, a, pages, 3);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    /* list pointer not qword aligned */
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    c.dptr1 = a;
    c.dptr2 = td_alloc(&D, 4096, 4096) + 4;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_PRP_INVALID_OFFSET);
    /* reserved PSDT */
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = a;
    c.flags = 3 << 6;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_INVALID_FIELD);
    down();
}
END_TEST

START_TEST(test_range_and_mdts)
{
    uint64_t a;

    up();
    a = td_alloc(&D, 256 << 10, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, NS_SIZE / 512 - 1, 1, a, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, NS_SIZE / 512 - 1, 2, a, 0),
                     NVME_SC_LBA_RANGE);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, NS_SIZE / 512, 1, a, 0),
                     NVME_SC_LBA_RANGE);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, ~0ull - 2, 8, a, 0),
                     NVME_SC_LBA_RANGE);
    /* 132 KiB > MDTS (128 KiB) */
    {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, 0, 264);
        uint64_t pages[40];

        for (int i = 0; i < 33; i++) {
            pages[i] = a + 4096 * (uint64_t)(i + 1);
        }
        td_build_prp(&D, &c, a, pages, 33);
        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_INVALID_FIELD);
    }
    /* protection information requested: no PI formats */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 1, a, 1u << 29),
                     NVME_SC_INVALID_FIELD);
    down();
}
END_TEST

START_TEST(test_dma_outside_memory)
{
    uint64_t a, pages[4];
    struct nvme_sqe c;

    up();
    a = td_alloc(&D, 16384, 4096);
    /* buffer not mapped by the client */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, 0x1000, 0),
                     NVME_SC_DATA_XFER_ERROR);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, 0x7000000000ull, 0),
                     NVME_SC_DATA_XFER_ERROR);
    /* the second page outside */
    c = rw_cmd(NVME_CMD_WRITE, 0, 16);
    c.dptr1 = a;
    c.dptr2 = TD_MEM_IOVA + TD_MEM_SIZE;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* a PRP list that is itself outside */
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    c.dptr1 = a;
    c.dptr2 = 0x2000;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* a list entry outside */
    pages[0] = a + 4096;
    pages[1] = 0x3000;
    pages[2] = a + 8192;
    c = rw_cmd(NVME_CMD_READ, 0, 32);
    td_build_prp(&D, &c, a, pages, 3);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* still healthy */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 8, a, 0), 0);
    ck_assert_int_eq(fake_sg_refs(D.dev) >= 0, 1);
    down();
}
END_TEST

static void set_sgl(struct nvme_sqe *c, uint64_t addr, uint32_t len,
                    uint8_t type)
{
    struct nvme_sgl_desc d = { addr, len, { 0 }, (uint8_t)(type << 4) };

    c->flags = 1 << 6; /* PSDT: SGL */
    memcpy(&c->dptr1, &d, 16);
}

static void put_desc(uint64_t at, uint64_t addr, uint32_t len, uint8_t type)
{
    struct nvme_sgl_desc d = { addr, len, { 0 }, (uint8_t)(type << 4) };

    memcpy(td_ptr(&D, at), &d, 16);
}

START_TEST(test_sgl)
{
    uint64_t src, dst, seg, seg2;
    struct nvme_sqe c;

    up();
    src = td_alloc(&D, 65536, 4096);
    dst = td_alloc(&D, 65536, 4096);
    fill(src, 65536, 9);

    /* one data block */
    c = rw_cmd(NVME_CMD_WRITE, 0, 8);
    set_sgl(&c, src + 100 * 4, 4096, NVME_SGL_DATA_BLOCK);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    check_file(0, td_ptr(&D, src + 400), 4096);

    /* a last segment of three odd-sized blocks */
    seg = td_alloc(&D, 4096, 16);
    put_desc(seg, src + 1, 1000, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 16, src + 5000, 2000, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 32, src + 20000, 1096, NVME_SGL_DATA_BLOCK);
    c = rw_cmd(NVME_CMD_WRITE, 64, 8);
    set_sgl(&c, seg, 48, NVME_SGL_LAST_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    check_file(64 * 512, td_ptr(&D, src + 1), 1000);
    check_file(64 * 512 + 1000, td_ptr(&D, src + 5000), 2000);
    check_file(64 * 512 + 3000, td_ptr(&D, src + 20000), 1096);

    /* segment -> last segment, reading back into two pieces */
    seg = td_alloc(&D, 4096, 16);
    seg2 = td_alloc(&D, 4096, 16);
    put_desc(seg, dst, 2048, NVME_SGL_DATA_BLOCK);
    put_desc(seg + 16, seg2, 16, NVME_SGL_LAST_SEGMENT);
    put_desc(seg2, dst + 10000, 2048, NVME_SGL_DATA_BLOCK);
    c = rw_cmd(NVME_CMD_READ, 0, 8);
    set_sgl(&c, seg, 32, NVME_SGL_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, dst), td_ptr(&D, src + 400), 2048), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, dst + 10000), td_ptr(&D, src + 400 + 2048),
                            2048), 0);

    /* errors: too short, too long, bad type, segment not last, last
     * segment holding a segment descriptor, outside memory */
    c = rw_cmd(NVME_CMD_READ, 0, 8);
    set_sgl(&c, dst, 2048, NVME_SGL_DATA_BLOCK);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_DATA_LEN);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, dst, 4096, NVME_SGL_DATA_BLOCK);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_DATA_LEN);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, dst, 512, NVME_SGL_BIT_BUCKET);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_TYPE);
    put_desc(seg, seg2, 16, NVME_SGL_LAST_SEGMENT);
    put_desc(seg + 16, dst, 512, NVME_SGL_DATA_BLOCK);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, seg, 32, NVME_SGL_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_COUNT);
    put_desc(seg, seg2, 16, NVME_SGL_SEGMENT);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, seg, 16, NVME_SGL_LAST_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_SEG);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, seg, 20, NVME_SGL_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_SEG);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, 0x5000, 512, NVME_SGL_DATA_BLOCK);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_DATA_XFER_ERROR);
    /* a segment chain pointing at itself is bounded */
    put_desc(seg, seg, 16, NVME_SGL_SEGMENT);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    set_sgl(&c, seg, 16, NVME_SGL_SEGMENT);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_SGL_INVALID_COUNT);
    down();
}
END_TEST

/* A write the host refuses completes with an error status, whichever way it
 * took: whole pages are copied into the page cache by the I/O thread, part
 * of a page goes through io_uring.  The host refuses here because of the
 * file size limit (RLIMIT_FSIZE: EFBIG past 1 MiB). */
START_TEST(test_write_error)
{
    struct rlimit lim, old;
    uint64_t a;

    up();
    a = td_alloc(&D, 4096, 4096);
    fill(a, 4096, 3);
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1u << 20; /* the soft limit only: it can be raised again */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    /* 2 MiB: a whole page, then one 512-byte block of a page */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 4096, 8, a, 0),
                     NVME_SC_WRITE_FAULT);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 4097, 1, a, 0),
                     NVME_SC_WRITE_FAULT);
    /* below the limit both ways still work, and the controller is fine */
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 8, 8, a, 0), 0);
    check_file(8 * 512, td_ptr(&D, a), 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 17, 1, a, 0), 0);
    check_file(17 * 512, td_ptr(&D, a), 512);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    down();
}
END_TEST

START_TEST(test_flush_fua)
{
    uint64_t a;
    struct nvme_sqe c;

    up();
    a = td_alloc(&D, 4096, 4096);
    fill(a, 4096, 1);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 8, 8, a, NVME_RW_FUA), 0);
    check_file(8 * 512, td_ptr(&D, a), 4096);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_CMD_FLUSH;
    c.nsid = 1;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c.nsid = NVME_NSID_ALL;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c.nsid = 9;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_INVALID_NS);
    /* unknown I/O opcode, unknown namespace */
    c = rw_cmd(0x7e, 0, 1);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_INVALID_OPCODE);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 1, a, 0), 0);
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.nsid = 0;
    c.dptr1 = a;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_INVALID_NS);
    down();
}
END_TEST

START_TEST(test_write_zeroes_and_dsm)
{
    uint64_t a, b, r;
    struct nvme_sqe c;
    struct nvme_dsm_range *rg;
    struct stat st0, st1;
    uint8_t zero[8192];

    up();
    memset(zero, 0, sizeof(zero));
    a = td_alloc(&D, 1 << 20, 4096);
    b = td_alloc(&D, 1 << 20, 4096);
    fill(a, 1 << 20, 5);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 256 * (uint64_t)i, 256,
                               a + (uint64_t)i * 131072, 0), 0);
    }
    /* Write Zeroes, plain and with DEAC */
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, 16, 16);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, 256, 256);
    c.cdw12 |= NVME_WZ_DEAC | NVME_RW_FUA;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 0, 64, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), td_ptr(&D, a), 16 * 512), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 16 * 512), zero, 8192), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b + 32 * 512), td_ptr(&D, a + 32 * 512),
                            32 * 512), 0);
    check_file(256 * 512, zero, 8192);
    c = rw_cmd(NVME_CMD_WRITE_ZEROES, NS_SIZE / 512 - 1, 2);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_LBA_RANGE);

    /* DSM deallocate of two ranges: reads zeroes, file space released */
    fsync(open(D.path, O_RDONLY));
    ck_assert_int_eq(stat(D.path, &st0), 0);
    r = td_alloc(&D, 4096, 4096);
    rg = td_ptr(&D, r);
    rg[0].slba = 512;
    rg[0].nlb = 256;
    rg[1].slba = 1024;
    rg[1].nlb = 512;
    c = rw_cmd(NVME_CMD_DSM, 0, 1);
    c.cdw10 = 1;          /* two ranges */
    c.cdw11 = NVME_DSM_AD;
    c.cdw12 = 0;
    c.dptr1 = r;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 512, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), zero, 8192), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 1536, 16, b, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, b), td_ptr(&D, a + 1536 * 512), 8192), 0);
    ck_assert_int_eq(stat(D.path, &st1), 0);
    ck_assert_int_le(st1.st_blocks, st0.st_blocks);
    /* DSM without AD is a no-op; out of range is refused */
    c.cdw11 = 0;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    rg[1].slba = NS_SIZE / 512;
    c.cdw11 = NVME_DSM_AD;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_LBA_RANGE);
    down();
}
END_TEST

START_TEST(test_compare)
{
    uint64_t a, b;

    up();
    a = td_alloc(&D, 65536, 4096);
    b = td_alloc(&D, 65536, 4096);
    fill(a, 65536, 77);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 300, 128, a, 0), 0);
    memcpy(td_ptr(&D, b), td_ptr(&D, a), 65536);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 300, 128, b, 0), 0);
    ((uint8_t *)td_ptr(&D, b))[40000] ^= 1;
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 300, 128, b, 0),
                     NVME_SC_COMPARE_FAILED);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_COMPARE, 300, 8, b, 0), 0);
    down();
}
END_TEST

START_TEST(test_wrap_and_full)
{
    uint64_t a, b;
    unsigned irqs;

    ck_assert_int_eq(td_open(&D, NS_SIZE, false, NULL), 0);
    ck_assert_int_eq(td_enable(&D, 4), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 2, 4), 0); /* 3 usable slots */
    a = td_alloc(&D, 3 * 4096, 4096);
    b = td_alloc(&D, 3 * 4096, 4096);
    irqs = fake_irq_count(D.dev, 2);
    for (int round = 0; round < 25; round++) {
        struct nvme_cqe e[3];
        uint16_t cid[3];

        fill(a, 3 * 4096, (unsigned)round);
        for (int i = 0; i < 3; i++) {
            struct nvme_sqe c = rw_cmd(NVME_CMD_WRITE, (uint64_t)(round * 3 + i) * 8, 8);

            c.dptr1 = a + 4096 * (uint64_t)i;
            cid[i] = td_queue_cmd(&D, 2, &c); /* the SQ is now full */
        }
        td_ring(&D, 2);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(td_wait(&D, 2, &e[i]), 0);
            ck_assert_int_eq(td_status(&e[i]), 0);
            ck_assert_uint_eq(e[i].sq_id, 2);
        }
        ck_assert(e[0].cid == cid[0] || e[0].cid == cid[1] || e[0].cid == cid[2]);
        ck_assert_uint_eq(e[2].sq_head, D.q[2].sq_tail);
    }
    /* everything landed */
    for (int i = 0; i < 3; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, (uint64_t)(24 * 3 + i) * 8, 8);

        c.dptr1 = b + 4096 * (uint64_t)i;
        ck_assert_int_eq(td_cmd(&D, 2, &c, NULL), 0);
    }
    ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 3 * 4096), 0);
    ck_assert_uint_gt(fake_irq_count(D.dev, 2), irqs);
    down();
}
END_TEST

START_TEST(test_cq_full)
{
    uint64_t a;
    struct nvme_cqe e;

    /* CQ of 4 entries (3 usable) shared by an SQ of 16: completions beyond
     * the CQ's room wait until the host frees entries */
    ck_assert_int_eq(td_open(&D, NS_SIZE, false, NULL), 0);
    ck_assert_int_eq(td_enable(&D, 8), 0);
    {
        struct nvme_sqe c;

        memset(&c, 0, sizeof(c));
        D.q[1].qid = 1;
        D.q[1].size = 4;
        D.q[1].phase = true;
        D.q[1].cq_iova = td_alloc(&D, 4096, 4096);
        c.opcode = NVME_ADM_CREATE_CQ;
        c.dptr1 = D.q[1].cq_iova;
        c.cdw10 = 1 | 3u << 16;
        c.cdw11 = 3 | 1u << 16;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
        memset(&c, 0, sizeof(c));
        D.q[1].sq_iova = td_alloc(&D, 16 * 64, 4096);
        c.opcode = NVME_ADM_CREATE_SQ;
        c.dptr1 = D.q[1].sq_iova;
        c.cdw10 = 1 | 15u << 16;
        c.cdw11 = 1 | 1u << 16;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
        D.q[1].used = true;
    }
    a = td_alloc(&D, 4096, 4096);
    for (int i = 0; i < 10; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, 0, 8);

        c.dptr1 = a;
        /* SQ and CQ sizes differ: td_queue_cmd wraps with the CQ size, so
         * write SQEs by hand */
        c.cid = (uint16_t)(100 + i);
        memcpy(td_ptr(&D, D.q[1].sq_iova + 64ull * (uint64_t)i), &c, 64);
    }
    fake_write32(D.dev, 0, NVME_REG_DBS + 8, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(td_wait(&D, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    down();
}
END_TEST

START_TEST(test_shadow_doorbells)
{
    uint64_t a, b;
    unsigned n = 200;

    up();
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    D.rings = 0;
    for (unsigned i = 0; i < n; i++) {
        fill(a, 4096, i);
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, i * 8ull, 8, a, 0), 0);
        ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, i * 8ull, 8, b, 0), 0);
        ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 4096), 0);
    }
    /* the controller publishes EventIdx for the SQ */
    ck_assert(td_wait_sq_eventidx(&D, 1, 2000));
    /* idle controller: each new submission after it caught up rings (one
     * per SQ submission); CQ head updates rarely do */
    ck_assert_uint_le(D.rings, 2 * n + 2 * n / 64 + 4);
    ck_assert_uint_ge(D.rings, 1);

    /* a burst: queue 32 commands, update the shadow tail once */
    for (unsigned i = 0; i < 32; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_READ, i * 8ull, 8);

        c.dptr1 = b;
        td_queue_cmd(&D, 1, &c);
    }
    td_ring(&D, 1);
    for (unsigned i = 0; i < 32; i++) {
        struct nvme_cqe e;

        ck_assert_int_eq(td_wait(&D, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    /* the admin queue keeps using real doorbells */
    {
        struct nvme_sqe c;
        uint64_t id = td_alloc(&D, 4096, 4096);

        memset(&c, 0, sizeof(c));
        c.opcode = NVME_ADM_IDENTIFY;
        c.dptr1 = id;
        c.cdw10 = NVME_CNS_CTRL;
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    }
    /* a queue created after Doorbell Buffer Config is shadowed too */
    ck_assert_int_eq(td_create_io_queue(&D, 3, 16), 0);
    ck_assert_int_eq(td_rw(&D, 3, NVME_CMD_READ, 0, 8, b, 0), 0);
    down();
}
END_TEST

static void read_cmd(uint64_t buf, unsigned i)
{
    struct nvme_sqe c = rw_cmd(NVME_CMD_READ, i * 8ull, 8);

    c.dptr1 = buf;
    td_queue_cmd(&D, 1, &c);
}

static void consume(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct nvme_cqe e;

        ck_assert_int_eq(td_wait(&D, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    td_cq_ring(&D, 1);
}

static double process_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* hold-us (shadow doorbells, default 50): with completions the driver has
 * not consumed, the controller keeps looking at the shadow doorbells for a
 * while (at most 1 ms after its last command) instead of asking for a
 * doorbell, so a submission the driver does not ring is still fetched.
 * Bounded: then it publishes EventIdx and sleeps, CPU-free.  hold-us = 0
 * asks at once: the same submission waits for a doorbell. */
START_TEST(test_shadow_hold)
{
    static const char *const no_hold[] = { "hold-us", "0", NULL };
    uint64_t b;
    double t0, used;
    int r;

    up();
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    b = td_alloc(&D, 4096, 4096);
    r = td_shadow_hold_probe(&D, 1, b, 20);
    ck_assert_msg(r == 1, "no unrung submission fetched during the hold "
                  "in 20 tries (probe: %d)", r);
    /* bounded: EventIdx is published, and the controller sleeps although
     * completions are still unconsumed */
    ck_assert(td_wait_sq_eventidx(&D, 1, 2000));
    usleep(10000);
    t0 = process_cpu_seconds();
    usleep(300 * 1000);
    used = process_cpu_seconds() - t0;
    ck_assert_msg(used < 0.01, "holding controller used %.3f s of CPU", used);
    consume(5);
    down();

    /* hold-us = 0: the unrung submission is not fetched */
    up_with(false, no_hold);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    b = td_alloc(&D, 4096, 4096);
    for (unsigned i = 0; i < 4; i++) {
        read_cmd(b, i);
    }
    td_ring(&D, 1);
    ck_assert(td_wait_cqe_posted(&D, 1, 3, 5000));
    ck_assert(td_wait_sq_eventidx(&D, 1, 2000));
    usleep(20000);
    read_cmd(b, 4);
    td_shadow_tail_only(&D, 1);
    ck_assert(!td_wait_cqe_posted(&D, 1, 4, 200));
    td_ring(&D, 1);   /* what a driver owes: EventIdx asked for it */
    ck_assert(td_wait_cqe_posted(&D, 1, 4, 5000));
    down();
}
END_TEST

START_TEST(test_message_only_memory)
{
    uint64_t a, b;

    up_with(true, NULL);
    /* shadow doorbells would cost DMA messages: refused, real ones used */
    ck_assert_int_eq(td_enable_shadow(&D), NVME_SC_INVALID_FIELD);
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 0, 1);
    roundtrip(a + 12, b + 4, 40, 100);
    roundtrip(a, b, 1000, 256);
    ck_assert_uint_gt(fake_dma_messages(D.dev), 20);
    ck_assert_int_eq(fake_sg_refs(D.dev), 0);
    down();
}
END_TEST

START_TEST(test_two_windows)
{
    uint64_t a, b;
    uint8_t *hi;

    up();
    /* a second DMA window right after the first: a buffer spans both */
    hi = fake_dma_map(D.dev, TD_MEM_IOVA + TD_MEM_SIZE, 1 << 20, false);
    ck_assert_ptr_nonnull(hi);
    a = TD_MEM_IOVA + TD_MEM_SIZE - 2048;
    b = td_alloc(&D, 8192, 4096);
    for (int i = 0; i < 4096; i++) {
        uint8_t v = (uint8_t)(i * 13);

        if (i < 2048) {
            ((uint8_t *)td_ptr(&D, a))[i] = v;
        } else {
            hi[i - 2048] = v;
        }
    }
    {
        struct nvme_sqe c = rw_cmd(NVME_CMD_WRITE, 77, 8);

        c.dptr1 = a;
        c.dptr2 = a + 2048; /* page-aligned start of the second window */
        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    }
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 77, 8, b, 0), 0);
    for (int i = 0; i < 4096; i++) {
        ck_assert_uint_eq(((uint8_t *)td_ptr(&D, b))[i], (uint8_t)(i * 13));
    }
    ck_assert_int_eq(fake_dma_unmap(D.dev, TD_MEM_IOVA + TD_MEM_SIZE), 0);
    down();
}
END_TEST

START_TEST(test_direct_io)
{
    static const char *const extra[] = { "namespace.1.cache", "none", NULL };
    uint64_t a, b;

    up_with(false, extra);
    a = td_alloc(&D, 256 << 10, 4096);
    b = td_alloc(&D, 256 << 10, 4096);
    roundtrip(a, b, 0, 8);               /* page aligned: direct */
    roundtrip(a + 512, b + 1024, 9, 17); /* not aligned: bounced */
    roundtrip(a, b, 4096, 256);
    down();
}
END_TEST

START_TEST(test_poll_mode)
{
    static const char *const extra[] = { "doorbells", "poll",
                                         "poll-max-sleep-us", "200", NULL };
    struct vfud_mmap_area areas[4];
    uint64_t a, b;

    up_with(false, extra);
    ck_assert_ptr_nonnull(fake_region_mem(D.dev, VFUD_REGION_BAR0));
    ck_assert_uint_eq(fake_region_areas(D.dev, VFUD_REGION_BAR0, areas, 4), 1);
    ck_assert_uint_eq(areas[0].offset, 0x1000);
    ck_assert_uint_eq(areas[0].size, 0x1000);
    a = td_alloc(&D, 65536, 4096);
    b = td_alloc(&D, 65536, 4096);
    for (int i = 0; i < 50; i++) {
        roundtrip(a, b, (uint64_t)i * 128, 128);
    }
    usleep(5000); /* let the poller back off, then wake it again */
    roundtrip(a, b, 0, 8);
    {
        /* no Doorbell Buffer Config in poll mode */
        struct nvme_sqe c;

        memset(&c, 0, sizeof(c));
        c.opcode = NVME_ADM_DBBUF_CONFIG;
        c.dptr1 = td_alloc(&D, 4096, 4096);
        c.dptr2 = td_alloc(&D, 4096, 4096);
        ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_OPCODE);
    }
    down();
}
END_TEST

START_TEST(test_null_backend)
{
    static const char *const extra[] = { "backend", "null", "size", "1G",
                                         "queues", "2", NULL };
    uint64_t a;

    ck_assert_int_eq(td_open(&D, 0, false, extra), 0);
    ck_assert_int_eq(td_enable(&D, 16), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 64), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 3, 64), NVME_SC_QID_INVALID);
    a = td_alloc(&D, 65536, 4096);
    memset(td_ptr(&D, a), 0xaa, 65536);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 128, a, 0), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, (1ull << 21) - 128, 128, a, 0), 0);
    for (int i = 0; i < 65536; i++) {
        ck_assert_uint_eq(((uint8_t *)td_ptr(&D, a))[i], 0);
    }
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 1ull << 21, 1, a, 0),
                     NVME_SC_LBA_RANGE);
    {
        struct nvme_sqe c = rw_cmd(NVME_CMD_FLUSH, 0, 1);

        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
        c = rw_cmd(NVME_CMD_WRITE_ZEROES, 0, 100);
        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    }
    down();
}
END_TEST

START_TEST(test_read_only)
{
    static const char *const extra[] = { "namespace.1.read-only", "yes", NULL };
    int fd;
    uint64_t a;
    char path[] = "/tmp/nvme-ro-XXXXXX";

    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    ck_assert_int_eq(pwrite(fd, "hello", 5, 4096), 5);
    close(fd);
    {
        const char *const ex2[] = { "namespace.1.path", path,
                                    "namespace.1.read-only", "yes", NULL };

        (void)extra;
        ck_assert_int_eq(td_open(&D, 0, false, ex2), 0);
    }
    ck_assert_int_eq(td_enable(&D, 16), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 16), 0);
    a = td_alloc(&D, 4096, 4096);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, 8, 1, a, 0), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, a), "hello", 5), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 8, 1, a, 0),
                     NVME_SC_NS_WRITE_PROTECTED);
    {
        struct nvme_sqe c = rw_cmd(NVME_CMD_WRITE_ZEROES, 0, 1);

        ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_NS_WRITE_PROTECTED);
    }
    down();
    unlink(path);
}
END_TEST

START_TEST(test_format)
{
    uint64_t a, b, id;
    struct nvme_sqe c;

    up();
    a = td_alloc(&D, 65536, 4096);
    b = td_alloc(&D, 65536, 4096);
    fill(a, 4096, 4);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 0, 8, a, 0), 0);
    /* to 4096-byte blocks with a user data erase */
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_FORMAT_NVM;
    c.nsid = 1;
    c.cdw10 = 1 | 1u << 9;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    id = td_alloc(&D, 4096, 4096);
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_IDENTIFY;
    c.nsid = 1;
    c.dptr1 = id;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    ck_assert_uint_eq(((uint8_t *)td_ptr(&D, id))[NVME_IDNS_FLBAS], 1);
    ck_assert_uint_eq(*(uint64_t *)td_ptr(&D, id), NS_SIZE / 4096);
    /* one 4 KiB block, erased */
    c = rw_cmd(NVME_CMD_READ, 0, 1);
    c.dptr1 = b;
    memset(td_ptr(&D, b), 0x55, 4096);
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), 0);
    for (int i = 0; i < 4096; i++) {
        ck_assert_uint_eq(((uint8_t *)td_ptr(&D, b))[i], 0);
    }
    c = rw_cmd(NVME_CMD_READ, NS_SIZE / 4096, 1);
    c.dptr1 = b;
    ck_assert_int_eq(td_cmd(&D, 1, &c, NULL), NVME_SC_LBA_RANGE);
    /* invalid formats */
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_ADM_FORMAT_NVM;
    c.nsid = 1;
    c.cdw10 = 2;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FORMAT);
    c.cdw10 = 1u << 5; /* PI */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FORMAT);
    c.cdw10 = 2u << 9; /* crypto erase */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_FIELD);
    c.cdw10 = 0;
    c.nsid = 5;
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), NVME_SC_INVALID_NS);
    c.nsid = NVME_NSID_ALL; /* back to 512 */
    ck_assert_int_eq(td_cmd(&D, 0, &c, NULL), 0);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_READ, NS_SIZE / 512 - 1, 1, b, 0), 0);
    down();
}
END_TEST

START_TEST(test_many_in_flight)
{
    uint64_t a;
    struct nvme_cqe e;

    /* more commands than the per-queue request pool: all complete */
    ck_assert_int_eq(td_open(&D, NS_SIZE, false, NULL), 0);
    ck_assert_int_eq(td_enable(&D, 16), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 1024), 0);
    a = td_alloc(&D, 1 << 20, 4096);
    fill(a, 1 << 20, 8);
    for (int i = 0; i < 1000; i++) {
        struct nvme_sqe c = rw_cmd(NVME_CMD_WRITE, (uint64_t)i * 8, 8);

        c.dptr1 = a + (uint64_t)(i % 256) * 4096;
        if (i % 5 == 0) {
            c.cdw12 |= NVME_RW_FUA;
        }
        td_queue_cmd(&D, 1, &c);
    }
    td_ring(&D, 1);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(td_wait(&D, 1, &e), 0);
        ck_assert_int_eq(td_status(&e), 0);
    }
    check_file(999 * 4096, td_ptr(&D, a + (999 % 256) * 4096), 4096);
    down();
}
END_TEST

START_TEST(test_remap_with_live_queues)
{
    uint64_t a, b;
    uint8_t *snap;
    struct nvme_sqe c;
    struct nvme_cqe e;

    /* The client unmaps guest memory and maps it again (QEMU does this
     * when the guest reshapes its address space) while queues exist and a
     * command is submitted in the gap: it is served once memory is back. */
    up();
    a = td_alloc(&D, 8192, 4096);
    b = td_alloc(&D, 8192, 4096);
    fill(a, 4096, 42);
    ck_assert_int_eq(td_rw(&D, 1, NVME_CMD_WRITE, 5, 8, a, 0), 0);
    c = rw_cmd(NVME_CMD_READ, 5, 8);
    c.dptr1 = b;
    td_queue_cmd(&D, 1, &c);          /* the SQE is in guest memory */
    snap = malloc(TD_MEM_SIZE);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, D.mem, TD_MEM_SIZE);
    ck_assert_int_eq(fake_dma_unmap(D.dev, TD_MEM_IOVA), 0);
    td_ring(&D, 1);                   /* doorbell while memory is gone */
    usleep(50 * 1000);
    D.mem = fake_dma_map_copy(D.dev, TD_MEM_IOVA, TD_MEM_SIZE, false, snap);
    ck_assert_ptr_nonnull(D.mem);
    free(snap);
    ck_assert_int_eq(td_wait(&D, 1, &e), 0);
    ck_assert_int_eq(td_status(&e), 0);
    ck_assert_int_eq(memcmp(td_ptr(&D, a), td_ptr(&D, b), 4096), 0);
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    down();
}
END_TEST

/* Random sizes (512 B .. 128 KiB), buffer offsets, PRP or SGL, two
 * queues, many commands in flight: what fio does to the controller. */
START_TEST(test_stress_verify)
{
    enum { QD = 24, ROUNDS = 40, SLOTS = 2 * QD };
    uint64_t bufs[SLOTS], wbufs[SLOTS], rbuf;
    uint32_t lba[SLOTS], nlb[SLOTS];
    unsigned seed = 12345;

    ck_assert_int_eq(td_open(&D, NS_SIZE, false, NULL), 0);
    ck_assert_int_eq(td_enable(&D, 32), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 1, 256), 0);
    ck_assert_int_eq(td_create_io_queue(&D, 2, 256), 0);
    ck_assert_int_eq(td_enable_shadow(&D), 0);
    for (int i = 0; i < SLOTS; i++) {
        bufs[i] = td_alloc(&D, 136 << 10, 4096);  /* reference data */
        wbufs[i] = td_alloc(&D, 136 << 10, 4096); /* what is written */
    }
    rbuf = td_alloc(&D, 136 << 10, 4096);
    for (int round = 0; round < ROUNDS; round++) {
        bool read_phase = round & 1;

        for (int i = 0; i < SLOTS; i++) {
            uint16_t qid = (uint16_t)(1 + (i & 1));
            struct nvme_sqe c;
            uint64_t buf;

            if (!read_phase) {
                seed = seed * 1103515245 + 12345;
                nlb[i] = 1 + (seed >> 8) % 256;
                lba[i] = (uint32_t)(i * 512 + ((seed >> 4) % 4) * 64);
                fill(bufs[i], nlb[i] * 512, (unsigned)(round * 100 + i));
            }
            seed = seed * 1103515245 + 12345;
            buf = read_phase ? rbuf : wbufs[i];
            if (read_phase) {
                /* one at a time into rbuf, compared right away */
                c = rw_cmd(NVME_CMD_READ, lba[i], nlb[i]);
            } else {
                c = rw_cmd(NVME_CMD_WRITE, lba[i], nlb[i]);
            }
            buf += (seed >> 10) % 2 ? 0 : ((seed >> 12) % 8) * 512;
            if ((seed >> 16) % 3 == 0) {
                /* SGL: the buffer cut into up to 4 data blocks */
                uint64_t seg = td_alloc(&D, 64, 16);
                uint32_t len = nlb[i] * 512, off = 0;
                unsigned nd = 0;

                while (off < len) {
                    uint32_t l = nd == 3 ? len - off : (len - off + 1) / 2;

                    put_desc(seg + 16 * nd, buf + off, l, NVME_SGL_DATA_BLOCK);
                    off += l;
                    nd++;
                }
                set_sgl(&c, seg, 16 * nd, NVME_SGL_LAST_SEGMENT);
            } else {
                uint64_t pages[40];
                unsigned n = 0;
                uint64_t len = nlb[i] * 512ull;
                uint64_t first = 4096 - (buf & 4095);

                if (len > first) {
                    for (uint64_t p = (buf & ~4095ull) + 4096; p < buf + len; p += 4096) {
                        pages[n++] = p;
                    }
                }
                td_build_prp(&D, &c, buf, pages, n);
            }
            if (read_phase) {
                memset(td_ptr(&D, rbuf), 0, 136 << 10);
                ck_assert_int_eq(td_cmd(&D, qid, &c, NULL), 0);
                ck_assert_msg(memcmp(td_ptr(&D, buf), td_ptr(&D, bufs[i]), nlb[i] * 512) == 0,
                              "round %d slot %d lba %u nlb %u", round, i, lba[i], nlb[i]);
            } else {
                memcpy(td_ptr(&D, buf), td_ptr(&D, bufs[i]), nlb[i] * 512);
                td_queue_cmd(&D, qid, &c);
            }
        }
        if (!read_phase) {
            struct nvme_cqe e;

            td_ring(&D, 1);
            td_ring(&D, 2);
            for (int i = 0; i < SLOTS; i++) {
                uint16_t qid = (uint16_t)(1 + (i & 1));

                ck_assert_int_eq(td_wait(&D, qid, &e), 0);
                ck_assert_int_eq(td_status(&e), 0);
            }
        }
    }
    down();
}
END_TEST

/* Garbage in: random opcodes and fields, data pointers into a scratch area
 * or outside guest memory.  Every command gets a completion, nothing
 * crashes or hangs, and the controller still works afterwards. */
START_TEST(test_garbage_commands)
{
    uint64_t scratch, a;
    unsigned seed = 777;

    up();
    scratch = td_alloc(&D, 2 << 20, 4096);
    for (int i = 0; i < 3000; i++) {
        struct nvme_sqe c;
        uint32_t *w = (uint32_t *)&c;
        bool admin = i % 5 == 0;
        int st;

        for (int k = 0; k < 16; k++) {
            seed = seed * 1103515245 + 12345;
            w[k] = seed ^ (seed << 7);
        }
        c.nsid = (c.nsid & 3) == 3 ? c.nsid : (c.nsid & 3);
        c.cdw12 &= (i & 1) ? 0xffffffffu : 0x400000ffu; /* often small */
        c.cdw11 &= (i & 2) ? 0xffffffffu : 0;
        /* data pointers: scratch, or unmapped */
        if (i % 7 == 0) {
            c.dptr1 = 0x10000 + (c.dptr1 & 0xffff);
        } else {
            c.dptr1 = scratch + (c.dptr1 & ((1 << 20) - 1));
        }
        c.dptr2 = scratch + (1 << 20) + (c.dptr2 & ((1 << 20) - 1) & ~7ull);
        c.mptr = 0;
        if (admin) {
            /* keep the test's own queues, AERs and doorbell mode intact */
            switch (c.opcode) {
            case NVME_ADM_DELETE_SQ: case NVME_ADM_DELETE_CQ:
            case NVME_ADM_CREATE_SQ: case NVME_ADM_CREATE_CQ:
            case NVME_ADM_ASYNC_EVENT: case NVME_ADM_DBBUF_CONFIG:
            case NVME_ADM_FORMAT_NVM: case NVME_ADM_SET_FEATURES:
                c.opcode = NVME_ADM_GET_FEATURES;
                break;
            }
            c.flags &= 0x3c; /* no fused, PRPs */
        }
        st = td_cmd(&D, admin ? 0 : 1, &c, NULL);
        ck_assert_msg(st >= 0, "command %d (opcode %#x) got no completion", i,
                      c.opcode);
    }
    ck_assert_uint_eq(fake_read32(D.dev, 0, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
    a = td_alloc(&D, 8192, 4096);
    roundtrip(a, a + 4096, 0, 8);
    down();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nvme_io");
    TCase *tc = tcase_create("io");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_prp1_only);
    tcase_add_test(tc, test_prp1_prp2);
    tcase_add_test(tc, test_prp_list);
    tcase_add_test(tc, test_prp_list_chained);
    tcase_add_test(tc, test_prp_errors);
    tcase_add_test(tc, test_range_and_mdts);
    tcase_add_test(tc, test_dma_outside_memory);
    tcase_add_test(tc, test_sgl);
    tcase_add_test(tc, test_flush_fua);
    tcase_add_test(tc, test_write_error);
    tcase_add_test(tc, test_write_zeroes_and_dsm);
    tcase_add_test(tc, test_compare);
    tcase_add_test(tc, test_wrap_and_full);
    tcase_add_test(tc, test_cq_full);
    tcase_add_test(tc, test_shadow_doorbells);
    tcase_add_test(tc, test_shadow_hold);
    tcase_add_test(tc, test_message_only_memory);
    tcase_add_test(tc, test_two_windows);
    tcase_add_test(tc, test_direct_io);
    tcase_add_test(tc, test_poll_mode);
    tcase_add_test(tc, test_null_backend);
    tcase_add_test(tc, test_read_only);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_many_in_flight);
    tcase_add_test(tc, test_remap_with_live_queues);
    tcase_add_test(tc, test_stress_verify);
    tcase_add_test(tc, test_garbage_commands);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (access(td_plugin_path(), R_OK) != 0) {
        fprintf(stderr, "SKIP: plugin %s not built\n", td_plugin_path());
        return 77;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
