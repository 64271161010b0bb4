/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory that comes with an fd but is private to the client, as
 * QEMU 11 sends it with memory-backend-memfd/-file,share=off: the daemon
 * must notice that its mapping does not show what the client answers by
 * message, use messages for that window, and warn once per client; and a
 * shared window must not be demoted (daemon/dma_verify.h).  testdev's DMA
 * engine does the accesses (vfud_dma_read/write); tests/plugins/nvme's
 * test_nvme_daemon covers vfud_dma_sg_get with the same memory.
 *
 * The daemon may read our /proc/PID/maps (we are its child), which settles
 * a window at DMA_MAP; the content check, what it does when it may not,
 * is tested with VFIOUSERD_PEER_MAPS=no.
 */
#include "config.h"

#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one warning a client gets. */
#define WARNING "give the memory backend share=on"

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 13 + seed + 1);
    }
}

/* Private memory: the data is right (it comes by message), the window is
 * demoted, and the client is warned once however many windows. */
START_TEST(test_private_window_demoted)
{
    struct harness *h;
    uint8_t *mem, *mem2;
    struct vfu_client *c;
    uint64_t rd, wr, rd1, wr1;

    setenv("VFIOUSERD_PEER_MAPS", "no", 1);
    h = pt_start_testdev(NULL);
    c = pt_open(h, "t0");
    mem = vfu_client_add_memory_private(c, 0x100000, 0x10000);
    mem2 = vfu_client_add_memory_private(c, 0x200000, 0x10000);

    ck_assert_ptr_nonnull(mem);
    ck_assert_ptr_nonnull(mem2);
    /* Written after the map: copy-on-write pages the file never sees. */
    fill_pattern(mem + 0x2000, 0x1000, 0);
    pt_bus_master(c, true);
    /* Mapped directly, the copy would read the file's zeroes. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x102000, 0x105000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x5000, mem + 0x2000, 0x1000), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    /* The read, the second read that confirmed the difference, the write. */
    ck_assert_uint_eq(rd, 2);
    ck_assert_uint_eq(wr, 1);
    pt_log_wait_count(h, WARNING, 1);
    ck_assert_msg(harness_log_contains(h, "the client does not share it"),
                  "the warning does not name the cause");

    /* Still by messages: a FILL the client sees, though the page was never
     * written by the client (its private view would show a file write). */
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x108000, 0x1000, 0x11223344), TD_ST_DONE);
    ck_assert_uint_eq(mem[0x8000], 0x44);
    ck_assert_uint_eq(mem[0x8fff], 0x11);
    vfu_client_dma_stats(c, &rd1, &wr1);
    ck_assert_uint_eq(rd1, rd);
    ck_assert_uint_eq(wr1, wr + 1);

    /* A second private window: judged on its own, no second warning. */
    fill_pattern(mem2, 0x800, 7);
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x200000, 0x200800, 0x800, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem2 + 0x800, mem2, 0x800), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, rd1 + 2);
    ck_assert_uint_eq(wr, wr1 + 1);
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x200000, 0x201000, 0x800, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem2 + 0x1000, mem2, 0x800), 0);
    vfu_client_dma_stats(c, &rd1, &wr1);
    ck_assert_uint_eq(rd1, rd + 1);
    ck_assert_uint_eq(wr1, wr + 1);
    ck_assert_uint_eq(pt_log_count(h, WARNING), 1);
    pt_close_wait(h, c);

    /* The next client is warned again. */
    c = pt_open(h, "t0");
    mem = vfu_client_add_memory_private(c, 0x100000, 0x10000);
    ck_assert_ptr_nonnull(mem);
    fill_pattern(mem, 0x1000, 3);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_TO_DEV, 0x100000, 0, 0x1000, 0), TD_ST_DONE);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FROM_DEV, 0, 0x101000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x1000, mem, 0x1000), 0);
    pt_log_wait_count(h, WARNING, 2);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* Shared memory: zeroes prove nothing, the first data settles it, and from
 * then on no message is sent and nobody is warned. */
START_TEST(test_shared_window_trusted)
{
    struct harness *h;
    struct vfu_client *c;
    uint8_t *mem;
    uint64_t rd, wr;

    setenv("VFIOUSERD_PEER_MAPS", "no", 1);
    h = pt_start_testdev(NULL);
    c = pt_open(h, "t0");
    mem = vfu_client_add_memory(c, 0x100000, 0x10000, true);
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    /* Zeroes both ways: still by messages. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x100000, 0x104000, 0x1000, 0), TD_ST_DONE);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, 1);
    ck_assert_uint_eq(wr, 1);
    /* Data the file shows too: shared. */
    fill_pattern(mem + 0x2000, 0x1000, 5);
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x102000, 0x105000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x5000, mem + 0x2000, 0x1000), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, 2);
    ck_assert_uint_eq(wr, 1);
    /* Directly from now on. */
    for (unsigned i = 0; i < 8; i++) {
        ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x106000, 0x1000, i), TD_ST_DONE);
        ck_assert_uint_eq(mem[0x6000], i);
    }
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x102000, 0x108000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x8000, mem + 0x2000, 0x1000), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, 2);
    ck_assert_uint_eq(wr, 1);
    ck_assert_uint_eq(pt_log_count(h, WARNING), 0);
    ck_assert_msg(!harness_log_contains(h, "private copy"), "a shared window was demoted");
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* The check's fd is closed once the window is judged (each window's file
 * stays kept for an upgrade: dma.c, "Kept files"). */
START_TEST(test_check_fd_released)
{
    struct harness *h;
    struct vfu_client *c;
    int base;
    uint8_t *mem, *priv;

    setenv("VFIOUSERD_PEER_MAPS", "no", 1);
    h = pt_start_testdev(NULL);
    c = pt_open(h, "t0");
    base = harness_fd_count(h->pid);
    mem = vfu_client_add_memory(c, 0x100000, 0x4000, true);
    priv = vfu_client_add_memory_private(c, 0x200000, 0x4000);

    ck_assert_ptr_nonnull(mem);
    ck_assert_ptr_nonnull(priv);
    ck_assert_int_eq(pt_fd_count_settle(h, base + 4, 2000), base + 4);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x100, 0x5a5a5a5a), TD_ST_DONE);
    priv[0] = 1;
    ck_assert_uint_eq(pt_dma(c, TD_OP_TO_DEV, 0x200000, 0, 0x100, 0), TD_ST_DONE);
    ck_assert_int_eq(pt_fd_count_settle(h, base + 2, 2000), base + 2);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* With our /proc/PID/maps readable: private memory is demoted at the map
 * (no check message, one warning), shared memory used from the first DMA
 * (no message at all), and no fd is kept for the check (only each file,
 * for an upgrade). */
START_TEST(test_peer_maps)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int base = harness_fd_count(h->pid);
    uint8_t *priv = vfu_client_add_memory_private(c, 0x100000, 0x10000);
    uint8_t *mem = vfu_client_add_memory(c, 0x200000, 0x10000, true);
    uint64_t rd, wr;

    ck_assert_ptr_nonnull(priv);
    ck_assert_ptr_nonnull(mem);
    pt_log_wait_count(h, WARNING, 1);
    ck_assert_int_eq(harness_fd_count(h->pid), base + 2);
    pt_bus_master(c, true);
    fill_pattern(priv + 0x2000, 0x1000, 1);
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x102000, 0x105000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(priv + 0x5000, priv + 0x2000, 0x1000), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, 1);
    ck_assert_uint_eq(wr, 1);
    fill_pattern(mem + 0x2000, 0x1000, 2);
    ck_assert_uint_eq(pt_dma(c, TD_OP_COPY, 0x202000, 0x205000, 0x1000, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem + 0x5000, mem + 0x2000, 0x1000), 0);
    vfu_client_dma_stats(c, &rd, &wr);
    ck_assert_uint_eq(rd, 1);
    ck_assert_uint_eq(wr, 1);
    ck_assert_uint_eq(pt_log_count(h, WARNING), 1);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dma_private");
    TCase *tc = pt_tcase("private");

    tcase_add_test(tc, test_private_window_demoted);
    tcase_add_test(tc, test_shared_window_trusted);
    tcase_add_test(tc, test_check_fd_released);
    tcase_add_test(tc, test_peer_maps);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
