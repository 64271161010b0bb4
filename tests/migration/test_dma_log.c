/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dirty-page log (daemon/dma_log.c) on its own: edges the protocol
 * tests cannot reach cheaply, such as chunk boundaries (every 32768
 * tracking pages), the top of the address space, sparse logs reported
 * over huge ranges, and threads marking while the log is reported.
 */
#include "config.h"

#include "dma_log.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#define PG 4096ull
#define CHUNK (32768ull * PG) /* bytes one chunk of bits covers at 4 KiB */

static uint64_t *report(struct dma_log *log, uint64_t iova, uint64_t len,
                        uint64_t page, int expect)
{
    uint64_t size = dma_log_bitmap_size(len, page);
    uint64_t *bm = g_malloc0(size > 0 ? size : 8);
    const char *why = NULL;
    int r = dma_log_report(log, iova, len, page, bm, &why);

    ck_assert_msg(r == expect, "report [%#llx, +%#llx) at %llu: %d (%s)",
                  (unsigned long long)iova, (unsigned long long)len,
                  (unsigned long long)page, r, why != NULL ? why : "");
    return bm;
}

static unsigned popcount(const uint64_t *bm, size_t words)
{
    unsigned n = 0;

    for (size_t i = 0; i < words; i++) {
        n += (unsigned)__builtin_popcountll(bm[i]);
    }
    return n;
}

START_TEST(test_chunk_boundaries)
{
    struct dma_log *log = dma_log_new();
    uint64_t ps = PG;
    const char *why;
    uint64_t *bm;

    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), 0);
    /* One write across the boundary between chunks 0 and 1. */
    dma_log_mark(log, CHUNK - 2 * PG, 4 * PG);
    bm = report(log, 0, 2 * CHUNK, PG, 0);
    ck_assert_uint_eq(popcount(bm, 2 * CHUNK / PG / 64), 4);
    ck_assert(bm[(CHUNK / PG - 2) / 64] & (1ull << 62));
    ck_assert(bm[(CHUNK / PG - 1) / 64] & (1ull << 63));
    ck_assert(bm[(CHUNK / PG) / 64] & 1ull);
    ck_assert(bm[(CHUNK / PG + 1) / 64] & 2ull);
    g_free(bm);
    bm = report(log, 0, 2 * CHUNK, PG, 0);
    ck_assert_uint_eq(popcount(bm, 2 * CHUNK / PG / 64), 0);
    g_free(bm);
    dma_log_free(log);
}
END_TEST

START_TEST(test_top_of_address_space)
{
    struct dma_log *log = dma_log_new();
    uint64_t ps = PG;
    const char *why;
    uint64_t *bm;

    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), 0);
    /* A write that would wrap is clipped at the last byte. */
    dma_log_mark(log, UINT64_MAX - PG + 1, 2 * PG);
    dma_log_mark(log, UINT64_MAX, 1);
    bm = report(log, UINT64_MAX - 4 * PG + 1, 4 * PG, PG, 0);
    ck_assert_uint_eq(bm[0], 1ull << 3);
    g_free(bm);
    /* A report that wraps is refused. */
    g_free(report(log, UINT64_MAX - PG + 1, 2 * PG, PG, -EINVAL));
    dma_log_free(log);
}
END_TEST

START_TEST(test_sparse_huge_report)
{
    struct dma_log *log = dma_log_new();
    uint64_t ps = PG;
    const char *why;
    uint64_t *bm;

    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), 0);
    /* Two pages a terabyte apart, reported at 1 GiB pages: the report
     * visits the two chunks, not the 8192 in between. */
    dma_log_mark(log, 5ull << 30, 8);
    dma_log_mark(log, (1ull << 40) + (7ull << 30), 8);
    bm = report(log, 0, 2ull << 40, 1ull << 30, 0);
    ck_assert_uint_eq(popcount(bm, 2048 / 64), 2);
    ck_assert(bm[0] & (1ull << 5));
    ck_assert(bm[(1024 + 7) / 64] & (1ull << ((1024 + 7) % 64)));
    g_free(bm);
    dma_log_free(log);
}
END_TEST

START_TEST(test_partial_cover_stays_dirty)
{
    struct dma_log *log = dma_log_new();
    uint64_t ps = 16 * PG; /* 64 KiB tracking pages */
    const char *why;
    uint64_t *bm;

    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), 0);
    dma_log_mark(log, 0x10000 + 0x100, 8);
    /* Half of the tracking page: reported, not cleared. */
    bm = report(log, 0x10000, 0x8000, PG, 0);
    ck_assert_uint_eq(bm[0], 0xffull);
    g_free(bm);
    bm = report(log, 0x10000, 0x10000, PG, 0);
    ck_assert_uint_eq(bm[0], 0xffffull);
    g_free(bm);
    bm = report(log, 0x10000, 0x10000, PG, 0);
    ck_assert_uint_eq(bm[0], 0);
    g_free(bm);
    dma_log_free(log);
}
END_TEST

START_TEST(test_start_checks)
{
    struct dma_log *log = dma_log_new();
    const struct dma_log_range touching[] = { { 0x2000, 0x1000 }, { 0x1000, 0x1000 } };
    const struct dma_log_range overlap[] = { { 0x1000, 0x2000 }, { 0x2fff, 0x10 } };
    uint64_t ps;
    const char *why;

    ps = 0;
    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), -EINVAL);
    ps = 6000;
    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), -EINVAL);
    ps = 1ull << 33;
    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), -EINVAL);
    ps = PG;
    ck_assert_int_eq(dma_log_start(log, &ps, overlap, 2, &why), -EINVAL);
    ck_assert(!dma_log_active(log));
    ps = 1;
    ck_assert_int_eq(dma_log_start(log, &ps, touching, 2, &why), 0);
    ck_assert_uint_eq(ps, PG);
    ck_assert(dma_log_active(log));
    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), -EBUSY);
    /* Touching ranges cover [0x1000, 0x3000) together; no more. */
    g_free(report(log, 0x1000, 0x2000, PG, 0));
    g_free(report(log, 0x1000, 0x2001, PG, -EINVAL));
    g_free(report(log, 0x0fff, 0x10, PG, -EINVAL));
    /* Outside the ranges, marks are dropped. */
    dma_log_mark(log, 0, 0x10000);
    {
        uint64_t *bm = report(log, 0x1000, 0x2000, PG, 0);

        ck_assert_uint_eq(bm[0], 3);
        g_free(bm);
    }
    dma_log_stop(log);
    ck_assert(!dma_log_active(log));
    g_free(report(log, 0x1000, 0x2000, PG, -EINVAL));
    dma_log_free(log);
}
END_TEST

struct marker {
    struct dma_log *log;
    uint64_t base;
    volatile bool stop;
    uint64_t marks;
};

static void *mark_thread(void *opaque)
{
    struct marker *m = opaque;

    while (!m->stop) {
        for (uint64_t p = 0; p < 64; p++) {
            dma_log_mark(m->log, m->base + p * PG, 8);
        }
        m->marks++;
    }
    return NULL;
}

START_TEST(test_threads)
{
    struct dma_log *log = dma_log_new();
    struct marker m[2] = { { .log = log, .base = 0 }, { .log = log, .base = 64 * PG } };
    pthread_t th[2];
    uint64_t ps = PG;
    const char *why;
    unsigned seen = 0;

    ck_assert_int_eq(dma_log_start(log, &ps, NULL, 0, &why), 0);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, mark_thread, &m[i]), 0);
    }
    /* Report while the threads mark: every report is well-formed and the
     * pages of both keep coming back (however late the threads start). */
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (unsigned i = 0; i < 200 || (seen != 3 && g_get_monotonic_time() < deadline);
         i++) {
        uint64_t *bm = report(log, 0, 128 * PG, PG, 0);

        seen |= bm[0] != 0 ? 1 : 0;
        seen |= bm[1] != 0 ? 2 : 0;
        g_free(bm);
    }
    for (unsigned i = 0; i < 2; i++) {
        m[i].stop = true;
        pthread_join(th[i], NULL);
    }
    ck_assert_uint_eq(seen, 3);
    /* After the threads stop, one more report empties the log. */
    g_free(report(log, 0, 128 * PG, PG, 0));
    {
        uint64_t *bm = report(log, 0, 128 * PG, PG, 0);

        ck_assert_uint_eq(popcount(bm, 2), 0);
        g_free(bm);
    }
    dma_log_free(log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dma_log");
    TCase *tc = tcase_create("dma_log");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_chunk_boundaries);
    tcase_add_test(tc, test_top_of_address_space);
    tcase_add_test(tc, test_sparse_huge_report);
    tcase_add_test(tc, test_partial_cover_stays_dirty);
    tcase_add_test(tc, test_start_checks);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
