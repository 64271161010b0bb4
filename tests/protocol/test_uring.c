/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device thread's merged turn (engine/conn_uring.c) and its fallback.
 * The same session runs twice: with VFIOUSERD_URING=yes (the daemon holds
 * io_uring rings, made before its sandbox) and with the default (none:
 * the poll path).  The session covers what the turn must keep
 * right: pipelined requests answered in order, fds received with a
 * message (eventfds of SET_IRQS, the memfd of a DMA_MAP), a region read whose
 * reply is too large for a turn's send, server->client requests
 * (DMA_READ/DMA_WRITE to memory the client serves) and a client that
 * disconnects and the next one.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 64 writes of the scratch register then 64 reads, in one send: every
 * reply comes, in the order sent (pt_recv checks each id), and the last
 * write stands. */
static void pipelined(struct vfu_client *c)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    enum { N = 64 };

    for (unsigned i = 0; i < 2 * N; i++) {
        struct vfio_user_region_access a = { .offset = TD_SCRATCH, .region = 0, .count = 4 };
        uint32_t v = 0x1000 + i;
        uint8_t p[sizeof(a) + sizeof(v)];

        memcpy(p, &a, sizeof(a));
        memcpy(p + sizeof(a), &v, sizeof(v));
        pt_msg_append(buf, (uint16_t)(100 + i),
                      i < N ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, 0, p,
                      i < N ? sizeof(p) : sizeof(a));
    }
    ck_assert_int_eq(vfu_client_send_raw(c, buf->data, buf->len, NULL, 0), 0);
    for (unsigned i = 0; i < 2 * N; i++) {
        struct vfio_user_header hdr;

        ck_assert_int_eq(pt_recv(c, (uint16_t)(100 + i), &hdr), 0);
    }
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x1000 + N - 1);
}

static void session(struct harness *h)
{
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];
    uint8_t *mem, *big;

    for (unsigned round = 0; round < 3; round++) {
        pipelined(c);
    }
    /* fds in: eventfds with SET_IRQS, each signalled by its vector. */
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efd[i] = pt_eventfd();
    }
    pt_msix_enable(c, true);
    pt_irq_attach(c, VFIO_PCI_MSIX_IRQ_INDEX, 0, TD_VECTORS, efd);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        pt_bar0_set(c, TD_IRQ_RAISE, i);
        ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), 0);
        ck_assert_msg(pt_efd_wait(efd[i], 2000) > 0, "vector %u not signalled", i);
    }
    /* Shared memory: DMA_MAP carries its memfd; the device writes it. */
    mem = vfu_client_add_memory(c, 0x100000, 0x2000, true);
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0x5a5a5a5a), TD_ST_DONE);
    ck_assert_uint_eq(mem[0], 0x5a);
    ck_assert_uint_eq(mem[0xfff], 0x5a);
    /* Memory the client serves: DMA_WRITE requests from the daemon while
     * our read of DMA_STATUS waits. */
    mem = vfu_client_add_memory(c, 0x200000, 0x1000, false);
    ck_assert_ptr_nonnull(mem);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x200000, 0x1000, 0xa5a5a5a5), TD_ST_DONE);
    ck_assert_uint_eq(mem[0], 0xa5);
    ck_assert_uint_eq(mem[0xfff], 0xa5);
    /* A reply larger than a turn sends (64 KiB): the poll path's send. */
    big = g_malloc(TD_BAR2_SIZE);
    ck_assert_int_eq(vfu_client_region_read(c, 2, 0, big, TD_BAR2_SIZE), 0);
    g_free(big);
    pipelined(c);
    pt_close_fds(efd, TD_VECTORS);
    pt_close_wait(h, c);
    /* The next client. */
    c = pt_open(h, "t0");
    pipelined(c);
    pt_assert_alive(c);
    vfu_client_close(c);
}

START_TEST(test_merged_turns)
{
    struct harness *h;

    g_setenv("VFIOUSERD_URING", "yes", TRUE);
    h = pt_start_testdev(NULL);
    /* The device's ring, and the reserve for devices added later. */
    ck_assert_int_ge(harness_io_uring_count(h->pid), 1);
    session(h);
    ck_assert(!harness_log_contains(h, "io_uring unavailable"));
    ck_assert(!harness_log_contains(h, "forbidden system call"));
    pt_finish(h);
    g_unsetenv("VFIOUSERD_URING");
}
END_TEST

/* The default: no rings, the poll path. */
START_TEST(test_fallback)
{
    struct harness *h;

    g_unsetenv("VFIOUSERD_URING");
    h = pt_start_testdev(NULL);
    ck_assert_int_eq(harness_io_uring_count(h->pid), 0);
    session(h);
    pt_finish(h);
    g_unsetenv("VFIOUSERD_URING");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = pt_tcase("turns");

    tcase_add_test(tc, test_merged_turns);
    tcase_add_test(tc, test_fallback);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
