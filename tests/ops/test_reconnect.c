/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reconnect: what a guest reboot or a QEMU restart looks like to the
 * daemon.  100 times, a client attaches as QEMU does (VERSION, DMA_MAP of
 * shared memory, an MSI-X eventfd), finds the device state the previous
 * client left (a scratch register), leaves its own, and goes away.  The
 * daemon must release each client's memory and eventfds (no fd growth, RSS
 * flat after warm-up), count every client in its totals, and keep serving.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>
#include <linux/vfio.h>
#include <vfiouserd/plugin.h>

#define REG_ID 0x000
#define REG_SCRATCH 0x010
#define TESTDEV_ID 0x7e57de01u

#define CYCLES 100
#define WARMUP 10
#define GUEST_RAM (2u << 20)

/* The daemon's fd count once the control connection the test just closed
 * is gone too (the daemon closes it when it reads the EOF, a moment
 * later): the lowest count seen, stable for a quarter of a second. */
static int settled_fd_count(pid_t pid)
{
    int best = -1, same = 0;

    for (int i = 0; i < 400 && same < 10; i++) {
        int n = harness_fd_count(pid);

        if (best < 0 || n < best) {
            best = n;
            same = 0;
        } else {
            same++;
        }
        g_usleep(25000);
    }
    return best;
}

/* Wait until the daemon has finished with the last client. */
static void wait_idle(const char *ctl)
{
    for (int i = 0;; i++) {
        json_object *a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t0\"}");
        /* The device thread releases the client's memory and eventfds
         * right after it stops counting it as connected. */
        bool idle = strcmp(ot_str(a, "devices.0.state"), "listening") == 0 &&
                    json_object_get_int(ot_get(a, "devices.0.dma.windows")) == 0 &&
                    json_object_get_int(ot_get(a, "devices.0.irqs.msix.attached")) == 0;

        if (idle) {
            json_object_put(a);
            return;
        }
        json_object_put(a);
        ck_assert_int_lt(i, DT_WAIT_MS / 5);
        g_usleep(5000);
    }
}

/* One QEMU-like life: returns the scratch value it found. */
static uint32_t one_client(const char *sock, const char *ctl, uint32_t leave)
{
    struct vfu_client *c = dt_client(sock);
    int efd = eventfd(0, EFD_CLOEXEC);
    uint32_t found;
    json_object *a;

    ck_assert_ptr_nonnull(vfu_client_add_memory(c, 0, GUEST_RAM, true));
    ck_assert_ptr_nonnull(vfu_client_add_memory(c, 1u << 30, GUEST_RAM, true));
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(vfu_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
                                         VFIO_IRQ_SET_DATA_EVENTFD |
                                             VFIO_IRQ_SET_ACTION_TRIGGER,
                                         0, 1, &efd, 1, NULL), 0);
    close(efd); /* the daemon has its own */
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    found = dt_read32(c, VFUD_REGION_BAR0, REG_SCRATCH);
    dt_write32(c, VFUD_REGION_BAR0, REG_SCRATCH, leave);

    /* What status says about an attached client. */
    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t0\"}");
    ck_assert_str_eq(ot_str(a, "devices.0.state"), "connected");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.client.pid")), getpid());
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.dma.windows")), 2);
    ck_assert_int_eq(json_object_get_int64(ot_get(a, "devices.0.dma.bytes_mapped")),
                     2 * GUEST_RAM);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.irqs.msix.attached")), 1);
    ck_assert_int_ge(json_object_get_int(ot_get(a, "devices.0.client.messages_in")), 6);
    json_object_put(a);

    vfu_client_close(c);
    wait_idle(ctl);
    return found;
}

START_TEST(hundred_reconnects)
{
    static const char *const devs[] = { "t0", NULL };
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[t0]\nplugin = testdev\n");
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *sock = harness_socket(h, "t0");
    int fds_warm = -1, fds_end;
    long rss_warm = -1, rss_end;
    json_object *a;

    ck_assert_int_eq(harness_start(h, NULL, devs), 0);
    ck_assert(dt_wait_listening(h, devs));
    ck_assert(dt_wait_log(h, "control socket "));

    for (uint32_t i = 0; i < CYCLES; i++) {
        uint32_t found = one_client(sock, ctl, 0x1000 + i);

        /* Device state survives the client (scratch starts at 0). */
        ck_assert_uint_eq(found, i == 0 ? 0 : 0x1000 + i - 1);
        if (i + 1 == WARMUP) {
            fds_warm = settled_fd_count(h->pid);
            rss_warm = ot_rss_kb(h->pid);
        }
    }
    fds_end = settled_fd_count(h->pid);
    rss_end = ot_rss_kb(h->pid);
    fprintf(stderr, "reconnect: after %d clients %d fds, %ld KiB RSS; after %d "
            "clients %d fds, %ld KiB RSS (%+ld KiB)\n", WARMUP, fds_warm, rss_warm,
            CYCLES, fds_end, rss_end, rss_end - rss_warm);
    ck_assert_int_gt(fds_warm, 0);
    ck_assert_int_eq(fds_end, fds_warm);
    if (harness_rss_meaningful()) {
        /* Each client maps 4 MiB: a leak of mappings would show at once. */
        ck_assert_msg(rss_end - rss_warm < 1024, "RSS grew by %ld KiB over %d clients",
                      rss_end - rss_warm, CYCLES - WARMUP);
    }

    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t0\"}");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.clients")), CYCLES);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.refused")), 0);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.errors")), 0);
    ck_assert_int_ge(json_object_get_int(ot_get(a, "devices.0.totals.messages_in")),
                     CYCLES * 7);
    ck_assert(json_object_is_type(ot_get(a, "devices.0.client"), json_type_null));
    json_object_put(a);
    ck_assert_int_eq(harness_stop(h), 0);
    {
        g_autofree char *log = harness_log(h);

        ck_assert_uint_eq(dt_count_lines(log, "vfiouserd: [t0] client connected"), CYCLES);
        ck_assert_uint_eq(dt_count_lines(log, "vfiouserd: [t0] client disconnected"),
                          CYCLES);
    }
    harness_free(h);
}
END_TEST

static Suite *reconnect_suite(void)
{
    Suite *s = suite_create("reconnect");
    TCase *tc = tcase_create("cycles");

    tcase_add_test(tc, hundred_reconnects);
    tcase_set_timeout(tc, 900);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reconnect_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
