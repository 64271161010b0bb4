/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client sessions: what a disconnect releases (§1.8: DMA windows and
 * eventfds go, the device stays, the next client is served), a disconnect
 * with a DMA in flight, a silent or flooding client on one device while
 * another device is used, and fd leaks over many connect / map / irq /
 * disconnect cycles.
 *
 * Traps covered: 12 (in-flight DMA at disconnect), 19 (disconnect at any
 * point).
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>


/* Everything a client can leave in the daemon. */
struct session {
    struct vfu_client *c;
    uint8_t *shared, *by_msg;
    int efds[TD_VECTORS + 4]; /* MSI-X, INTx, ERR, REQ, resample */
};

static void session_open(struct harness *h, struct session *s)
{
    struct vfio_user_region_info ri;
    uint8_t caps[64];
    int fd = -1;

    s->c = pt_open(h, "t0");
    s->shared = vfu_client_add_memory(s->c, 0x100000, 0x10000, true);
    s->by_msg = vfu_client_add_memory(s->c, 0x200000, 0x10000, false);
    ck_assert_ptr_nonnull(s->shared);
    ck_assert_ptr_nonnull(s->by_msg);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->efds); i++) {
        s->efds[i] = pt_eventfd();
    }
    pt_bus_master(s->c, true);
    pt_irq_attach(s->c, PT_IRQ_MSIX, 0, TD_VECTORS, s->efds);
    pt_irq_attach(s->c, PT_IRQ_INTX, 0, 1, &s->efds[TD_VECTORS]);
    pt_irq_attach(s->c, PT_IRQ_ERR, 0, 1, &s->efds[TD_VECTORS + 1]);
    pt_irq_attach(s->c, PT_IRQ_REQ, 0, 1, &s->efds[TD_VECTORS + 2]);
    ck_assert_int_eq(vfu_client_set_irqs(s->c, PT_IRQ_INTX, PT_UNMASK | PT_EVENTFD, 0, 1,
                                         &s->efds[TD_VECTORS + 3], 1, NULL), 0);
    ck_assert_int_gt(vfu_client_region_info(s->c, PT_BAR2, &ri, caps, sizeof(caps), &fd), 0);
    close(fd);
    ck_assert_uint_eq(pt_dma(s->c, TD_OP_FILL, 0, 0x100000, 0x100, 0x01010101), TD_ST_DONE);
    ck_assert_uint_eq(pt_dma(s->c, TD_OP_COPY, 0x100000, 0x200000, 0x100, 0), TD_ST_DONE);
    ck_assert_uint_eq(s->by_msg[0xff], 1);
}

static void session_close_fds(struct session *s)
{
    pt_close_fds(s->efds, G_N_ELEMENTS(s->efds));
}

START_TEST(test_disconnect_releases_client_state)
{
    struct harness *h = pt_start_testdev(NULL);
    int base = harness_fd_count(h->pid);
    struct session s;
    struct vfu_client *c;

    session_open(h, &s);
    /* socket + 8 eventfds + the shared window's memory file, which the
     * daemon keeps for an upgrade (dma.c, "Kept files") */
    ck_assert_int_eq(harness_fd_count(h->pid), base + 1 + 8 + 1);
    pt_bar0_set(s.c, TD_SCRATCH, 0x600d);
    pt_close_wait(h, s.c);
    /* Every fd of the client is closed. */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);

    c = pt_open(h, "t0");
    /* Its windows are gone... */
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x10, 7),
                      TD_ST_ERROR | (EFAULT << 16));
    /* ...and so are its eventfds. */
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_ERR);
    ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), -ENOTCONN);
    for (unsigned i = 0; i < G_N_ELEMENTS(s.efds); i++) {
        ck_assert_uint_eq(pt_efd_wait(s.efds[i], i == 0 ? 50 : 0), 0);
    }
    /* Device state survives the client (the issue: "keep device state";
     * vfiouserd-plugin(3), LIFECYCLE): no reset happened. */
    ck_assert_uint_eq(pt_bar0(c, TD_LAST_RESET), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_RESETS), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x600d);
    ck_assert(pt_log_wait(h, "client disconnected", 1000));
    pt_assert_alive(c);
    session_close_fds(&s);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static void disconnect_during_dma(bool shared)
{
    struct harness *h = pt_start_testdev("dma-delay-ms = 300");
    int base = harness_fd_count(h->pid);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x10000, shared);

    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    pt_dma_start(c, TD_OP_FILL, 0, 0x100000, 0x10000, 0x99, 0xffffffff);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS), TD_ST_BUSY);
    /* Hang up with the DMA waiting to run (trap 12): the daemon must not
     * crash or hang, must release everything, and serve the next one. */
    pt_close_wait(h, c);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    c = pt_open(h, "t0");
    pt_assert_alive(c);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS) & TD_ST_BUSY, 0);
    mem = vfu_client_add_memory(c, 0x100000, 0x1000, true);
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0x5), TD_ST_DONE);
    ck_assert_uint_eq(mem[0xffc], 5);
    vfu_client_close(c);
    pt_finish(h);
}

START_TEST(test_disconnect_during_shared_dma)
{
    disconnect_during_dma(true);
}
END_TEST

START_TEST(test_disconnect_during_message_dma)
{
    disconnect_during_dma(false);
}
END_TEST

START_TEST(test_disconnect_while_dma_messages_flow)
{
    struct harness *h = pt_start_testdev(NULL);
    int base = harness_fd_count(h->pid);
    struct vfu_client *c = pt_open_caps(h, "t0",
                                        "{\"capabilities\": {\"max_data_xfer_size\": 4096}}");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x100000, false);
    uint32_t go = 1;

    /* Close while the daemon waits for the reply to one of many
     * DMA_WRITEs (trap 19: "while you wait for a DMA reply"). */
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    pt_bar0_set(c, TD_DMA_DST_LO, 0x100000);
    pt_bar0_set(c, TD_DMA_LEN, 0x100000);
    pt_bar0_set(c, TD_DMA_OP, TD_OP_FILL);
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR0, TD_DMA_GO, &go, 4, true), 0);
    ck_assert_int_ge(vfu_client_serve(c, 10), 0);
    pt_close_wait(h, c);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    c = pt_open(h, "t0");
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * One device's client does not hold up another device
 */
static const char two_devices[] = "[t0]\nplugin = testdev\n[t1]\nplugin = testdev\n";
static const char *const both[] = { "t0", "t1", NULL };

/* A full workout of a device: memory, DMA, an interrupt. */
static void use_device(struct harness *h, const char *dev)
{
    struct vfu_client *c = pt_open(h, dev);
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x1000, false);
    int efd = pt_eventfd();

    ck_assert_ptr_nonnull(mem);
    ck_assert_uint_eq(pt_bar0(c, TD_ID), TD_ID_VALUE);
    pt_bus_master(c, true);
    pt_msix_enable(c, true);
    pt_irq_attach(c, PT_IRQ_MSIX, 1, 1, &efd);
    pt_dma_start(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0x24242424, 1);
    ck_assert_int_eq(vfu_client_wait_eventfd(c, efd, 5000), 1);
    ck_assert_uint_eq(mem[0x800], 0x24);
    close(efd);
    pt_close_wait(h, c);
}

START_TEST(test_silent_client_does_not_block_others)
{
    struct harness *h = pt_start(two_devices, both);
    struct vfu_client *silent = pt_connect(h, "t0");
    struct vfu_client *partial = NULL;
    struct vfio_user_header half = { .cmd = VFIO_USER_VERSION, .msg_size = 214 };

    /* t0 has a client that says nothing: t1 works fully. */
    use_device(h, "t1");
    use_device(h, "t1");
    /* The silent client gets served when it finally speaks. */
    ck_assert_int_eq(vfu_client_negotiate(silent, NULL, NULL), 0);
    pt_assert_alive(silent);
    pt_close_wait(h, silent);
    /* A client stuck half-way through a message blocks nothing either. */
    partial = pt_connect(h, "t0");
    ck_assert_int_eq(vfu_client_send_raw(partial, &half, 10, NULL, 0), 0);
    use_device(h, "t1");
    pt_close_wait(h, partial);
    use_device(h, "t0");
    pt_finish(h);
}
END_TEST

START_TEST(test_flooding_client_does_not_block_others)
{
    struct harness *h = pt_start(two_devices, both);
    struct vfu_client *flood = pt_open(h, "t0");
    int fd = vfu_client_fd(flood);
    g_autoptr(GByteArray) b = g_byte_array_new();
    struct vfio_user_region_access rd = { .region = PT_CONFIG, .count = 4096 };
    size_t sent = 0;

    /* t0's client sends reads without reading any reply: the daemon
     * stops reading it once replies pile up (back-pressure), and t1 does
     * not notice. */
    for (unsigned i = 0; i < 256; i++) {
        pt_msg_append(b, (uint16_t)i, VFIO_USER_REGION_READ, 0, &rd, sizeof(rd));
    }
    for (unsigned round = 0; round < 1000; round++) {
        ssize_t n = send(fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            break; /* both socket buffers full */
        }
        sent += (size_t)n;
        if ((size_t)n < b->len) {
            break;
        }
    }
    ck_assert_uint_gt(sent, 1u << 16);
    use_device(h, "t1");
    /* Hanging up with replies unread is fine too. */
    pt_close_wait(h, flood);
    use_device(h, "t0");
    pt_finish(h);
}
END_TEST

/* CPU time (ms) the process has used. */
static long cpu_ms(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    unsigned long ut = 0, st = 0;
    const char *p;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    p = strrchr(text, ')');
    ck_assert_ptr_nonnull(p);
    /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &ut, &st), 2);
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

START_TEST(test_fd_exhaustion_spares_other_devices)
{
    bool slow = harness_wrapped();
    struct harness *h;
    struct vfu_client *hog, *other;
    struct rlimit lim;
    int efds[TD_VECTORS];
    unsigned held = 0;
    long cpu;
    int r = 0;

    /* fds are shared by all devices of the daemon (which raises its soft
     * limit to the hard one at start).  Squeeze the running daemon's limit
     * so that a client on t0 holding eventfds exhausts it: its further
     * SET_IRQS fail cleanly; a client of t1 arriving meanwhile must not
     * make the daemon spin on a listening socket it cannot accept from, and
     * is served once the fds are free again. */
    if (slow) {
        /* Under valgrind the limit set from outside does not bind the
         * daemon (valgrind keeps its own fd table): nothing to test. */
        return;
    }
    h = pt_start(two_devices, both);
    hog = pt_open(h, "t0");
    ck_assert_int_eq(prlimit(h->pid, RLIMIT_NOFILE, NULL, &lim), 0);
    lim.rlim_cur = (rlim_t)harness_fd_count(h->pid) + 2;
    ck_assert_int_eq(prlimit(h->pid, RLIMIT_NOFILE, &lim, NULL), 0);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efds[i] = pt_eventfd();
    }
    for (unsigned i = 0; i < TD_VECTORS && r == 0; i++) {
        r = vfu_client_set_irqs(hog, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, i, 1,
                                &efds[i], 1, NULL);
        held += r == 0;
    }
    ck_assert_int_lt(r, 0);
    ck_assert_uint_eq(held, 2);
    pt_assert_alive(hog);

    other = pt_connect(h, "t1");
    cpu = cpu_ms(h->pid);
    g_usleep(500 * 1000);
    {
        ck_assert_msg(cpu_ms(h->pid) - cpu < 250,
                      "the daemon burnt %ld ms of CPU in 500 ms while out of fds",
                      cpu_ms(h->pid) - cpu);
    }
    ck_assert(pt_log_wait(h, "cannot accept a client", 1000));
    /* Disabling the index closes the eventfds the hog held. */
    ck_assert_int_eq(vfu_client_set_irqs(hog, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 0, 0,
                                         NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_negotiate(other, NULL, NULL), 0);
    pt_assert_alive(other);
    pt_assert_alive(hog);
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(other);
    vfu_client_close(hog);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * fd leaks
 */
START_TEST(test_no_fd_leak_over_sessions)
{
    struct harness *h = pt_start_testdev(NULL);
    int base = harness_fd_count(h->pid);
    struct vfio_user_device_info info = { .argsz = sizeof(info) };

    for (unsigned round = 0; round < 20; round++) {
        struct session s;
        int stray = pt_eventfd();

        session_open(h, &s);
        /* Refused fds, a replaced eventfd, an identical re-map, a reset
         * and an unmap along the way. */
        pt_expect_err(s.c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), &stray, 1,
                      EINVAL);
        pt_irq_attach(s.c, PT_IRQ_MSIX, 0, 1, &stray);
        if (round % 2 == 0) {
            ck_assert_int_eq(vfu_client_reset(s.c), 0);
        }
        if (round % 3 == 0) {
            ck_assert_int_eq(vfu_client_dma_unmap(s.c, 0x100000, 0x10000, 0), 0);
        }
        if (round % 4 == 0) {
            ck_assert_int_eq(vfu_client_dma_unmap(s.c, 0, 0, VFIO_USER_F_DMA_UNMAP_ALL), 0);
        }
        pt_close_wait(h, s.c);
        close(stray);
        session_close_fds(&s);
    }
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    {
        struct vfu_client *c = pt_open(h, "t0");

        pt_assert_alive(c);
        vfu_client_close(c);
    }
    pt_finish(h);
}
END_TEST

START_TEST(test_many_reconnects)
{
    struct harness *h = pt_start_testdev(NULL);
    int base = harness_fd_count(h->pid);

    /* Connections that end at every stage: before VERSION, right after
     * it, after a command. */
    for (unsigned i = 0; i < 60; i++) {
        struct vfu_client *c = pt_connect(h, "t0");

        if (i % 3 >= 1) {
            ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
        }
        if (i % 3 == 2) {
            pt_assert_alive(c);
        }
        pt_close_wait(h, c);
    }
    ck_assert_int_eq(pt_fd_count_settle(h, base, 3000), base);
    {
        struct vfu_client *c = pt_open(h, "t0");

        pt_assert_alive(c);
        vfu_client_close(c);
    }
    pt_finish(h);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc;

    tc = pt_tcase("disconnect");
    tcase_add_test(tc, test_disconnect_releases_client_state);
    tcase_add_test(tc, test_disconnect_during_shared_dma);
    tcase_add_test(tc, test_disconnect_during_message_dma);
    tcase_add_test(tc, test_disconnect_while_dma_messages_flow);
    suite_add_tcase(s, tc);

    tc = pt_tcase("devices");
    tcase_add_test(tc, test_silent_client_does_not_block_others);
    tcase_add_test(tc, test_flooding_client_does_not_block_others);
    tcase_add_test(tc, test_fd_exhaustion_spares_other_devices);
    suite_add_tcase(s, tc);

    tc = pt_tcase("leaks");
    tcase_add_test(tc, test_no_fd_leak_over_sessions);
    tcase_add_test(tc, test_many_reconnects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(session_suite());
}
