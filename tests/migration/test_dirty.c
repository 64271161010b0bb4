/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA logging (§2.13 DMA_LOGGING_START / STOP / REPORT): testdev writes
 * guest pages with its DMA engine while logging runs and the report shows
 * exactly those pages, at any report page size, cleared once reported;
 * ranges, windows by message and windows mapped after START; refusals.
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BASE 0x100000ull
#define MEM  0x100000ull /* 1 MiB: 256 pages */
#define PG   4096ull

struct range {
    uint64_t iova, length;
};

static int start_try(struct vfu_client *c, uint64_t page, const struct range *rg,
                     unsigned n, uint64_t *chosen)
{
    size_t len = 16 + 16 * (size_t)n;
    g_autofree uint8_t *d = g_malloc0(len);
    struct vfio_user_device_feature_dma_logging_control ctl = {
        .page_size = page, .num_ranges = n,
    };
    struct pt_reply r;
    int ret;

    memcpy(d, &ctl, sizeof(ctl));
    if (n > 0) {
        memcpy(d + 16, rg, 16 * (size_t)n);
    }
    ret = mt_feature_try(c, (uint32_t)(8 + len),
                         MT_SET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START, d, len, &r);
    if (ret == 0) {
        ck_assert_uint_eq(r.len, 8 + len);
        memcpy(&ctl, r.payload + 8, sizeof(ctl));
        if (chosen != NULL) {
            *chosen = ctl.page_size;
        }
    }
    pt_reply_clear(&r);
    return ret;
}

static void start(struct vfu_client *c, uint64_t page, const struct range *rg,
                  unsigned n)
{
    uint64_t chosen = 0;
    int r = start_try(c, page, rg, n, &chosen);

    ck_assert_msg(r == 0, "DMA_LOGGING_START: %s", strerror(-r));
    ck_assert_uint_eq(chosen, page);
}

static void stop(struct vfu_client *c)
{
    struct pt_reply r;

    ck_assert_int_eq(mt_feature_try(c, 8, MT_SET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_STOP,
                                    NULL, 0, &r), 0);
    pt_reply_clear(&r);
}

/* REPORT into bits (words u64 words); argsz 0: exactly what is needed. */
static int report_try(struct vfu_client *c, uint64_t iova, uint64_t length,
                      uint64_t page, uint32_t argsz, uint64_t *bits, size_t words)
{
    struct vfio_user_device_feature_dma_logging_report rq = {
        .iova = iova, .length = length, .page_size = page,
    };
    struct pt_reply r;
    int ret;

    if (argsz == 0) {
        argsz = (uint32_t)(8 + 24 + 8 * words);
    }
    ret = mt_feature_try(c, argsz, MT_GET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                         &rq, sizeof(rq), &r);
    if (ret == 0) {
        struct vfio_user_device_feature hd;

        ck_assert_uint_eq(r.len, 8 + 24 + 8 * words);
        memcpy(&hd, r.payload, 8);
        ck_assert_uint_eq(hd.argsz, r.len);
        ck_assert_int_eq(memcmp(r.payload + 8, &rq, sizeof(rq)), 0);
        memcpy(bits, r.payload + 32, 8 * words);
    }
    pt_reply_clear(&r);
    return ret;
}

/* Report [iova, +length) at page and compare with the expected pages. */
static void expect_pages(struct vfu_client *c, uint64_t iova, uint64_t length,
                         uint64_t page, const unsigned *pages, unsigned n)
{
    uint64_t npages = (length + page - 1) / page;
    size_t words = (size_t)((npages + 63) / 64);
    g_autofree uint64_t *got = g_new0(uint64_t, words);
    g_autofree uint64_t *want = g_new0(uint64_t, words);
    int r = report_try(c, iova, length, page, 0, got, words);

    ck_assert_msg(r == 0, "REPORT: %s", strerror(-r));
    for (unsigned i = 0; i < n; i++) {
        want[pages[i] / 64] |= 1ull << (pages[i] % 64);
    }
    for (size_t w = 0; w < words; w++) {
        ck_assert_msg(got[w] == want[w], "report [%#llx, +%#llx) at %llu: word %zu is "
                      "%#llx, expected %#llx", (unsigned long long)iova,
                      (unsigned long long)length, (unsigned long long)page, w,
                      (unsigned long long)got[w], (unsigned long long)want[w]);
    }
}

/* testdev writes len bytes at iova. */
static void dma_fill(struct vfu_client *c, uint64_t iova, uint32_t len)
{
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, iova, len, 0x11223344), TD_ST_DONE);
}

static struct vfu_client *open_with_memory(struct harness *h, bool share)
{
    struct vfu_client *c = pt_open(h, "t0");

    ck_assert_ptr_nonnull(vfu_client_add_memory(c, BASE, MEM, share));
    pt_bus_master(c, true);
    return c;
}

START_TEST(test_exact_pages)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    const struct range all = { BASE, MEM };
    static const unsigned want[] = { 3, 7, 8, 100, 200, 201 };

    /* Writes before START are not logged. */
    dma_fill(c, BASE + 9 * PG, 16);
    start(c, PG, &all, 1);
    dma_fill(c, BASE + 3 * PG, PG);
    dma_fill(c, BASE + 7 * PG, 2 * PG);
    dma_fill(c, BASE + 100 * PG + 10, 16);
    dma_fill(c, BASE + 200 * PG + 4000, 200);
    /* A DMA that reads guest memory dirties nothing. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_TO_DEV, BASE + 50 * PG, 0, PG, 0), TD_ST_DONE);
    expect_pages(c, BASE, MEM, PG, want, G_N_ELEMENTS(want));
    /* Reported pages are clean again. */
    expect_pages(c, BASE, MEM, PG, NULL, 0);
    /* And dirty again when written again: COPY writes its destination. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, BASE + 3 * PG, BASE + 30 * PG, 8, 0),
                      TD_ST_DONE);
    expect_pages(c, BASE, MEM, PG, (const unsigned[]){ 30 }, 1);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_page_sizes)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    const struct range all = { BASE, MEM };
    uint64_t chosen = 0;

    start(c, PG, &all, 1);
    dma_fill(c, BASE + 3 * PG, 8);
    dma_fill(c, BASE + 4 * PG, 8);
    dma_fill(c, BASE + 9 * PG, 8);
    /* Coarser report pages merge tracking pages. */
    expect_pages(c, BASE, MEM, 2 * PG, (const unsigned[]){ 1, 2, 4 }, 3);
    expect_pages(c, BASE, MEM, PG, NULL, 0);
    /* Finer report pages repeat the bit. */
    dma_fill(c, BASE + 3 * PG, 8);
    expect_pages(c, BASE, 16 * PG, PG / 2, (const unsigned[]){ 6, 7 }, 2);
    /* A report of part of the range leaves the rest alone. */
    dma_fill(c, BASE + 1 * PG, 8);
    dma_fill(c, BASE + 65 * PG, 8);
    expect_pages(c, BASE + 64 * PG, 64 * PG, PG, (const unsigned[]){ 1 }, 1);
    expect_pages(c, BASE, MEM, PG, (const unsigned[]){ 1 }, 1);
    stop(c);

    /* Tracking at 64 KiB: a write dirties the whole 64 KiB. */
    start(c, 16 * PG, &all, 1);
    dma_fill(c, BASE + 20 * PG, 8);
    expect_pages(c, BASE, 64 * PG, PG,
                 (const unsigned[]){ 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                                     28, 29, 30, 31 }, 16);
    stop(c);

    /* Asked for less than 4 KiB, the daemon tracks 4 KiB and says so. */
    ck_assert_int_eq(start_try(c, 512, &all, 1, &chosen), 0);
    ck_assert_uint_eq(chosen, PG);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_ranges)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    /* Given out of order; the second and third touch. */
    const struct range rg[] = {
        { BASE + 512 * 1024, 64 * 1024 },
        { BASE, 64 * 1024 },
        { BASE + 64 * 1024, 64 * 1024 },
    };
    uint64_t bits[4];

    start(c, PG, rg, G_N_ELEMENTS(rg));
    dma_fill(c, BASE + 2 * PG, 8);            /* range 2 */
    dma_fill(c, BASE + 17 * PG, 8);           /* range 3 */
    dma_fill(c, BASE + 256 * 1024, 8);        /* not logged */
    dma_fill(c, BASE + 512 * 1024 + PG, 8);   /* range 1 */
    /* Touching ranges report as one. */
    expect_pages(c, BASE, 128 * 1024, PG, (const unsigned[]){ 2, 17 }, 2);
    expect_pages(c, BASE + 512 * 1024, 64 * 1024, PG, (const unsigned[]){ 1 }, 1);
    /* A report reaching outside the ranges is refused. */
    ck_assert_int_eq(report_try(c, BASE, MEM, PG, 0, bits, 4), -EINVAL);
    ck_assert_int_eq(report_try(c, BASE + 256 * 1024, PG, PG, 0, bits, 1), -EINVAL);
    ck_assert_int_eq(report_try(c, BASE + 120 * 1024, 16 * 1024, PG, 0, bits, 1),
                     -EINVAL);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_everything_and_late_windows)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    const struct range later = { 0x40000000, MEM };

    /* No ranges: every address is logged. */
    start(c, PG, NULL, 0);
    dma_fill(c, BASE + 5 * PG, 8);
    expect_pages(c, 0, 0x200000, PG, (const unsigned[]){ 256 + 5 }, 1);
    stop(c);
    /* A window mapped after START inside a logged range is logged. */
    start(c, PG, &later, 1);
    ck_assert_ptr_nonnull(vfu_client_add_memory(c, 0x40000000, MEM, true));
    dma_fill(c, 0x40000000 + 12 * PG, PG + 1);
    expect_pages(c, 0x40000000, MEM, PG, (const unsigned[]){ 12, 13 }, 2);
    /* Unmapping it changes nothing about the log. */
    ck_assert_int_eq(vfu_client_dma_unmap(c, 0x40000000, MEM, 0), 0);
    expect_pages(c, 0x40000000, MEM, PG, NULL, 0);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_message_windows)
{
    struct harness *h = pt_start_testdev(NULL);
    /* Without an fd the daemon writes by DMA_WRITE messages; it logs them
     * too, sparing the client the bookkeeping. */
    struct vfu_client *c = open_with_memory(h, false);
    const struct range all = { BASE, MEM };

    start(c, PG, &all, 1);
    dma_fill(c, BASE + 2 * PG, 3 * PG);
    expect_pages(c, BASE, MEM, PG, (const unsigned[]){ 2, 3, 4 }, 3);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_refusals)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    const struct range all = { BASE, MEM };
    const struct range overlap[] = { { BASE, 2 * PG }, { BASE + PG, PG } };
    const struct range empty = { BASE, 0 };
    const struct range wrap = { 0xfffffffffffff000ull, 0x2000 };
    uint64_t bits[4];
    uint8_t odd[16 + 8] = { 0 };
    struct pt_reply r;

    /* Nothing to report before START; STOP without START is fine. */
    ck_assert_int_eq(report_try(c, BASE, MEM, PG, 0, bits, 4), -EINVAL);
    stop(c);
    /* Bad page sizes and ranges. */
    ck_assert_int_eq(start_try(c, 0, &all, 1, NULL), -EINVAL);
    ck_assert_int_eq(start_try(c, 3000, &all, 1, NULL), -EINVAL);
    ck_assert_int_eq(start_try(c, 1ull << 33, &all, 1, NULL), -EINVAL);
    ck_assert_int_eq(start_try(c, PG, overlap, 2, NULL), -EINVAL);
    ck_assert_int_eq(start_try(c, PG, &empty, 1, NULL), -EINVAL);
    ck_assert_int_eq(start_try(c, PG, &wrap, 1, NULL), -EINVAL);
    /* num_ranges must match the data: 2 announced, none there. */
    memcpy(odd, &(uint64_t){ PG }, 8);
    memcpy(odd + 8, &(uint32_t){ 2 }, 4);
    ck_assert_int_eq(mt_feature_try(c, 64, MT_SET | VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START,
                                    odd, sizeof(odd), &r), -EINVAL);
    pt_reply_clear(&r);
    /* One START at a time. */
    start(c, PG, &all, 1);
    ck_assert_int_eq(start_try(c, PG, &all, 1, NULL), -EBUSY);
    dma_fill(c, BASE + 6 * PG, 8);
    /* A reply that would not fit argsz is refused before any bit is
     * cleared; too large a bitmap, or a bad page size, too. */
    ck_assert_int_eq(report_try(c, BASE, MEM, PG, 40, bits, 4), -EINVAL);
    ck_assert_int_eq(report_try(c, BASE, MEM, PG + 1, 0, bits, 4), -EINVAL);
    ck_assert_int_eq(report_try(c, BASE, MEM, 0, 0, bits, 4), -EINVAL);
    ck_assert_int_eq(report_try(c, BASE, 0, PG, 0, bits, 1), -EINVAL);
    stop(c);
    start(c, PG, NULL, 0);
    ck_assert_int_eq(report_try(c, 0, 1ull << 40, 1, 0xffffffff, bits, 1), -E2BIG);
    dma_fill(c, BASE + 6 * PG, 8);
    expect_pages(c, BASE, MEM, PG, (const unsigned[]){ 6 }, 1);
    stop(c);
    /* Stopped: nothing to report. */
    ck_assert_int_eq(report_try(c, BASE, MEM, PG, 0, bits, 4), -EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_client_gone_stops_logging)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = open_with_memory(h, true);
    const struct range all = { BASE, MEM };
    uint64_t bits[4];

    start(c, PG, &all, 1);
    pt_close_wait(h, c);
    c = open_with_memory(h, true);
    ck_assert_int_eq(report_try(c, BASE, MEM, PG, 0, bits, 4), -EINVAL);
    start(c, PG, &all, 1);
    stop(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *dirty_suite(void)
{
    Suite *s = suite_create("dirty");
    TCase *tc = pt_tcase("dirty");

    tcase_add_test(tc, test_exact_pages);
    tcase_add_test(tc, test_page_sizes);
    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_everything_and_late_windows);
    tcase_add_test(tc, test_message_windows);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_client_gone_stops_logging);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(dirty_suite());
}
