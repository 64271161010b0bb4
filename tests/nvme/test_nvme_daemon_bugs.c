/*
 * Known daemon bugs the NVMe plugin runs into, each reproduced
 * deterministically.  This program is in XFAIL_TESTS: it is expected to
 * FAIL until the daemon is fixed; once it passes ("XPASS", which fails
 * "make check"), move its tests to test_nvme_daemon.c and drop it from
 * XFAIL_TESTS.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "nvme_tdrv_vfu.h"
#include "proto.h"

#define MSG_IOVA 0x200000000ull /* a second, message-only DMA window */

/*
 * A DMA reply larger than the room left in the daemon's receive buffer,
 * arriving while the device thread waits inside a plugin callback.
 *
 * CC.EN=0 makes the plugin wait (vfud_wait) on the device thread for its
 * I/O thread, which is waiting for the reply to a DMA_READ of 128 KiB
 * (a Write whose data is in message-only memory).  The daemon's reply pump
 * (conn_pump_replies) may not move or grow the receive buffer, because the
 * message being served lives in it, and reads only into the room left:
 * 64 KiB at most on a fresh connection.  The rest of the reply stays in
 * the socket, the DMA request times out after 5 s, and the register write
 * is answered 5 s late (a guest's reset under load with --no-share memory).
 * Expected: answered at once.
 */
START_TEST(test_large_dma_reply_while_waiting)
{
    static const char *const names[] = { "nvme0", NULL };
    struct harness *h = pt_start("[nvme0]\nplugin = nvme\n"
                                 "namespace.1.path = @DIR@/ns1.img\n"
                                 "namespace.1.size = 16M\n", names);
    struct vfu_client *cl = pt_open(h, "nvme0");
    struct td_vfu_opts o = { .share = true, .vectors = 5 };
    struct tdrv d;
    struct nvme_sqe c;
    struct pollfd pfd;
    uint64_t pages[31];
    gint64 t0, ms;

    ck_assert_int_eq(td_vfu_attach(&d, cl, &o), 0);
    ck_assert_ptr_nonnull(vfu_client_add_memory(cl, MSG_IOVA, 1 << 20, false));
    ck_assert_int_eq(td_enable(&d, 8), 0);
    ck_assert_int_eq(td_create_io_queue(&d, 1, 8), 0);

    /* 128 KiB written from the message-only window (the PRP list itself is
     * in shared memory): the controller fetches the data with one
     * DMA_READ of 128 KiB */
    memset(&c, 0, sizeof(c));
    c.opcode = NVME_CMD_WRITE;
    c.nsid = 1;
    c.cdw12 = 255;
    for (int i = 0; i < 31; i++) {
        pages[i] = MSG_IOVA + 4096 * (uint64_t)(i + 1);
    }
    td_build_prp(&d, &c, MSG_IOVA, pages, 31);
    td_submit(&d, 1, &c);
    pfd.fd = vfu_client_fd(cl);
    pfd.events = POLLIN;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1); /* the DMA_READ is here */

    /* The reset: the client answers the DMA_READ while it waits. */
    vfu_client_set_timeout(cl, 30000);
    t0 = g_get_monotonic_time();
    pt_bar0_set(cl, NVME_REG_CC, 0);
    ms = (g_get_monotonic_time() - t0) / 1000;
    fprintf(stderr, "CC.EN=0 answered after %lld ms\n", (long long)ms);
    ck_assert_uint_eq(pt_bar0(cl, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
    ck_assert_msg(!harness_log_contains(h, "unexpected reply"),
                  "the DMA reply was dropped");
    ck_assert_msg(ms < 1000, "CC.EN=0 took %lld ms: the DMA_READ reply was "
                  "stuck behind the receive buffer", (long long)ms);
    td_vfu_detach(&d);
    pt_close_wait(h, cl);
    pt_finish(h);
}
END_TEST

int main(void)
{
    g_autofree char *plugin = g_build_filename(harness_plugin_dir(), "nvme.so", NULL);
    Suite *s = suite_create("nvme_daemon_bugs");
    TCase *tc = pt_tcase("bugs");
    SRunner *sr;
    int failed;

    if (access(harness_daemon_path(), X_OK) != 0 || access(plugin, R_OK) != 0) {
        fprintf(stderr, "SKIP: needs the built daemon (%s) and nvme plugin (%s)\n",
                harness_daemon_path(), plugin);
        return 77;
    }
    tcase_add_test(tc, test_large_dma_reply_while_waiting);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
