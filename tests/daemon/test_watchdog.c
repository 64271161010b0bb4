/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The plugin callback time limit: a callback running longer than the
 * [daemon] callback-warn-ms limit is reported while it runs (the client may
 * be about to give up: QEMU waits 5 s for a synchronous reply) and again
 * when it returns; one under the limit is not; 0 turns the check off.
 * testdev's STALL_MS register makes its region_write sleep on purpose.
 * Also the handshake deadline: a client that sends no VERSION is dropped,
 * so that a silent connection cannot keep the next client out.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#define TD_STALL_MS 0x034

static const char *const devices[] = { "t0", NULL };

static struct harness *start(unsigned limit_ms)
{
    g_autofree char *cfg = g_strdup_printf("[daemon]\n"
                                           "socket-dir = @SOCKDIR@\n"
                                           "callback-warn-ms = %u\n"
                                           "[t0]\n"
                                           "plugin = testdev\n",
                                           limit_ms);
    struct harness *h = harness_new(cfg);

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    return h;
}

START_TEST(slow_callback_reported)
{
    struct harness *h = start(200);
    g_autofree char *sock = harness_socket(h, "t0");
    struct vfu_client *c = dt_client(sock);
    g_autofree char *log = NULL;

    /* Under the limit: nothing. */
    dt_write32(c, 0, TD_STALL_MS, 20);
    /* Over it: reported while it runs, and when it returns. */
    dt_write32(c, 0, TD_STALL_MS, 900);
    ck_assert(dt_wait_log(h, "[t0] plugin callback region_write returned after"));
    log = harness_log(h);
    ck_assert_msg(dt_has_match(log, "\\[t0\\] plugin callback region_write has been "
                                    "running for [0-9]+ ms \\(limit 200 ms\\)"),
                  "no report while it ran:\n%s", log);
    ck_assert_uint_eq(dt_count_lines(log, "vfiouserd: [t0] plugin callback"), 2);
    /* The device goes on. */
    ck_assert_uint_eq(dt_read32(c, 0, 0), 0x7e57de01);
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

START_TEST(limit_off)
{
    struct harness *h = start(0);
    g_autofree char *sock = harness_socket(h, "t0");
    struct vfu_client *c = dt_client(sock);

    dt_write32(c, 0, TD_STALL_MS, 300);
    ck_assert_uint_eq(dt_read32(c, 0, 0), 0x7e57de01);
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    ck_assert(!harness_log_contains(h, "plugin callback"));
    harness_free(h);
}
END_TEST

START_TEST(silent_client_dropped)
{
    struct harness *h = harness_new("[daemon]\n"
                                     "socket-dir = @SOCKDIR@\n"
                                     "handshake-timeout-ms = 300\n"
                                     "[t0]\n"
                                     "plugin = testdev\n");
    g_autofree char *sock = NULL;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct vfu_client *c;
    char b;
    int fd;

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    sock = harness_socket(h, "t0");
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Says nothing: the daemon hangs up on it (recv sees EOF). */
    ck_assert_int_eq(recv(fd, &b, 1, 0), 0);
    ck_assert(dt_wait_log(h, "[t0] client pid"));
    ck_assert(dt_wait_log(h, "sent no VERSION within 300 ms; dropped"));
    close(fd);
    /* A client that does speak is served, and not dropped later. */
    c = dt_client(sock);
    g_usleep(500 * 1000);
    ck_assert_uint_eq(dt_read32(c, 0, 0), 0x7e57de01);
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

static Suite *watchdog_suite(void)
{
    Suite *s = suite_create("watchdog");
    TCase *tc = tcase_create("limit");

    tcase_add_test(tc, slow_callback_reported);
    tcase_add_test(tc, limit_off);
    tcase_add_test(tc, silent_client_dropped);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(watchdog_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
