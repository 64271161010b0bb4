/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices added after the sandbox get io_uring rings from the reserve the
 * daemon made before its filter (SANDBOX_URING_SPARE of them): io_uring_setup
 * would be a violation by then.  Past the reserve, a device serves the poll
 * way and the log says so.  A removed device's ring is closed, not given
 * to the next device: it ran its completions on the removed device's
 * thread (DEFER_TASKRUN), and would refuse another's.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#define TD_ID 0x000
#define TD_ID_VALUE 0x7e57de01u
#define SPARE 4 /* daemon/sandbox.h */
#define NO_RING "no io_uring ring left from before the sandbox"

static void add(const char *ctl, const char *name)
{
    const char *args[] = { "-s", ctl, "add", name, "plugin=testdev", NULL };
    g_autofree char *out = NULL;

    ck_assert_msg(ot_ctl(args, &out) == 0, "%s", out);
}

static void served(struct harness *h, const char *name)
{
    g_autofree char *sock = harness_socket(h, name);
    struct vfu_client *c = dt_client(sock);

    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(dt_read32(c, 0, TD_ID), TD_ID_VALUE);
    }
    vfu_client_close(c);
}

START_TEST(hot_added_devices_take_reserved_rings)
{
    static const char *const devs[] = { "t0", NULL };
    struct harness *h;
    g_autofree char *ctl = NULL;

    g_setenv("VFIOUSERD_URING", "yes", TRUE);
    h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n[t0]\nplugin = testdev\n", NULL, devs);
    ctl = ot_control_path(h);
    ck_assert(harness_log_contains(h, "sandbox: in force"));
    /* t0's ring and the reserve. */
    ck_assert_int_eq(harness_io_uring_count(h->pid), 1 + SPARE);
    served(h, "t0");
    for (unsigned i = 1; i <= SPARE; i++) {
        g_autofree char *name = g_strdup_printf("t%u", i);

        add(ctl, name);
        served(h, name);
    }
    ck_assert(!harness_log_contains(h, NO_RING));
    /* One more than the reserve: the poll path, said once. */
    add(ctl, "t9");
    served(h, "t9");
    ck_assert(dt_wait_log(h, "[t9] " NO_RING));
    ck_assert_int_eq(harness_io_uring_count(h->pid), 1 + SPARE);
    /* A removed device's ring is closed; the next device serves the poll
     * way, and well. */
    {
        const char *rm[] = { "-s", ctl, "remove", "t1", NULL };
        g_autofree char *out = NULL;

        ck_assert_msg(ot_ctl(rm, &out) == 0, "%s", out);
    }
    ck_assert_int_eq(harness_io_uring_count(h->pid), SPARE);
    add(ctl, "t8");
    served(h, "t8");
    ck_assert(dt_wait_log(h, "[t8] " NO_RING));
    ck_assert(!harness_log_contains(h, "forbidden system call"));
    ck_assert(!harness_log_contains(h, "enabling the ring"));
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("uring_hotadd");
    TCase *tc = tcase_create("reserve");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hot_added_devices_take_reserved_rings);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
