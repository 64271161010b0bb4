/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket activation without systemd: the test plays the service manager,
 * binding the sockets itself and starting the daemon with them as fds 3,
 * 4, ... and LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES set.  Sockets are
 * matched to devices by name; a device without one binds its own; a
 * socket without a device is kept for one added later; a client that
 * connects before the daemon runs is served once it does; the daemon never
 * removes a socket it was given; malformed variables or fds stop it.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <vfiouserd/plugin.h>

#define REG_ID 0x000
#define REG_MAGIC_LO 0x008
#define TESTDEV_ID 0x7e57de01u

static const char config[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[g0]\n"
    "plugin = gpio\n"
    "[t0]\n"
    "plugin = testdev\n"
    "[t1]\n"
    "plugin = testdev\n";

static pid_t spawn(struct harness *h, const int *fds, unsigned n, const char *const *env)
{
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    const char *args[] = { "-c", h->config_path, pd, NULL };

    return ot_spawn(args, h->log_path, fds, n, env, (uid_t)-1, (gid_t)-1);
}

static void expect_testdev(const char *path, uint32_t magic)
{
    struct vfu_client *c = dt_client(path);

    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_MAGIC_LO), magic);
    vfu_client_close(c);
}

START_TEST(sockets_by_name)
{
    struct harness *h = harness_new(config);
    g_autofree char *p_g0 = g_build_filename(h->dir, "act-g0.sock", NULL);
    g_autofree char *p_t0 = g_build_filename(h->dir, "act-t0.sock", NULL);
    g_autofree char *p_sp = g_build_filename(h->dir, "act-spare.sock", NULL);
    g_autofree char *own_t1 = harness_socket(h, "t1");
    g_autofree char *own_t0 = harness_socket(h, "t0");
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *msg = g_strdup_printf("[t0] plugin testdev, serving listening "
                                           "socket fd 4 at %s;", p_t0);
    const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=3",
                          "LISTEN_FDNAMES=g0:t0:spare", NULL };
    int fds[3] = { dt_unix_socket(p_g0, true), dt_unix_socket(p_t0, true),
                   dt_unix_socket(p_sp, true) };
    struct vfu_client *early = NULL;
    json_object *a;
    pid_t pid;

    /* A client before the daemon: the kernel queues it on the socket. */
    ck_assert_int_eq(vfu_client_connect(p_t0, &early), 0);
    vfu_client_set_timeout(early, DT_WAIT_MS);

    pid = spawn(h, fds, 3, env);
    for (int i = 0; i < 3; i++) {
        close(fds[i]);
    }
    h->pid = pid;
    /* Announced once the daemon has put itself in its sandbox. */
    ck_assert(dt_wait_log(h, msg));
    ck_assert(harness_log_contains(h, "the service manager passed a socket named "
                                      "'spare'"));
    ck_assert_int_eq(vfu_client_negotiate(early, NULL, NULL), 0);
    ck_assert_uint_eq(dt_read32(early, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    vfu_client_close(early);

    /* t1 had no socket passed: its own, in socket-dir.  t0 has none there. */
    expect_testdev(own_t1, 0);
    ck_assert_int_ne(access(own_t0, F_OK), 0);
    expect_testdev(p_t0, 0);
    {
        struct vfu_client *c = dt_client(p_g0);

        vfu_client_close(c);
    }
    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t0\"}");
    ck_assert(json_object_get_boolean(ot_get(a, "devices.0.socket.activated")));
    ck_assert_str_eq(ot_str(a, "devices.0.socket.path"), p_t0);
    json_object_put(a);

    /* The spare socket goes to a device of that name added later, and
     * again after it was removed. */
    for (int round = 0; round < 2; round++) {
        a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"spare\",\"keys\":"
                            "[\"plugin=testdev\",\"magic=%d\"]}", 40 + round);
        ot_assert_ok(a);
        ck_assert_str_eq(ot_str(a, "socket"), p_sp);
        json_object_put(a);
        expect_testdev(p_sp, 40 + round);
        ot_wait_state(ctl, "spare", "listening");
        a = ot_request(ctl, "{\"command\":\"remove\",\"device\":\"spare\"}");
        ot_assert_ok(a);
        json_object_put(a);
        /* Not ours to remove. */
        ck_assert_int_eq(access(p_sp, F_OK), 0);
    }

    /* Recreated by a reload: still on the socket it was given. */
    {
        g_autofree char *text = g_strdup_printf("[daemon]\nsocket-dir = %s\n"
                                                "[g0]\nplugin = gpio\n"
                                                "[t0]\nplugin = testdev\nmagic = 5\n"
                                                "[t1]\nplugin = testdev\n",
                                                h->sock_dir);

        ck_assert(g_file_set_contents(h->config_path, text, -1, NULL));
    }
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "recreated", "t0"));
    json_object_put(a);
    expect_testdev(p_t0, 5);
    ck_assert_int_ne(access(own_t0, F_OK), 0);

    ck_assert_int_eq(dt_stop(pid), 0);
    h->pid = -1;
    /* The manager's sockets stay; the daemon's own is gone. */
    ck_assert_int_eq(access(p_g0, F_OK), 0);
    ck_assert_int_eq(access(p_t0, F_OK), 0);
    ck_assert_int_ne(access(own_t1, F_OK), 0);
    harness_free(h);
}
END_TEST

/* Variables meant for another process are ignored. */
START_TEST(other_pid)
{
    static const char *const devs[] = { "g0", "t0", "t1", NULL };
    struct harness *h = harness_new(config);
    g_autofree char *p = g_build_filename(h->dir, "act.sock", NULL);
    const char *env[] = { "LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=t0", NULL };
    int fd = dt_unix_socket(p, true);

    h->pid = spawn(h, &fd, 1, env);
    close(fd);
    ck_assert(dt_wait_listening(h, devs));
    ck_assert(!harness_log_contains(h, "serving listening socket"));
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

/* One socket, no names, one device: that device's. */
START_TEST(single_unnamed)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[only]\nplugin = testdev\nmagic = 3\n");
    g_autofree char *p = g_build_filename(h->dir, "only.sock", NULL);
    const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=1", NULL };
    int fd = dt_unix_socket(p, true);

    h->pid = spawn(h, &fd, 1, env);
    close(fd);
    /* Announced once the daemon has put itself in its sandbox. */
    ck_assert(dt_wait_log(h, "[only] plugin testdev, serving listening socket fd 3"));
    expect_testdev(p, 3);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

static void expect_refused(const int *fds, unsigned n, const char *const *env,
                           const char *why)
{
    struct harness *h = harness_new(config);
    g_autofree char *own = harness_socket(h, "t1");
    g_autofree char *log = NULL;
    pid_t pid = spawn(h, fds, n, env);

    ck_assert_int_eq(dt_wait_exit(pid, DT_WAIT_MS), 1);
    log = harness_log(h);
    ck_assert_msg(strstr(log, why) != NULL, "no \"%s\" in:\n%s", why, log);
    ck_assert_int_ne(access(own, F_OK), 0);
    harness_free(h);
}

START_TEST(malformed)
{
    g_autofree char *dir = g_dir_make_tmp("vfud-act-XXXXXX", NULL);
    g_autofree char *p = g_build_filename(dir, "x.sock", NULL);
    int fds[2] = { open("/dev/null", O_RDONLY | O_CLOEXEC), dt_unix_socket(p, false) };

    {
        const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=1", "LISTEN_FDNAMES=t0", NULL };

        expect_refused(fds, 1, env, "socket activation: fd 3 is not a socket");
    }
    {
        /* Bound but not listening. */
        const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=1", "LISTEN_FDNAMES=t0", NULL };

        expect_refused(fds + 1, 1, env, "fd 3 is not a listening AF_UNIX stream socket");
    }
    {
        const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=2", "LISTEN_FDNAMES=t0", NULL };

        expect_refused(fds, 2, env, "LISTEN_FDNAMES='t0' names 1 sockets, LISTEN_FDS=2");
    }
    {
        const char *env[] = { "LISTEN_PID=self", "LISTEN_FDS=many", NULL };

        expect_refused(fds, 0, env, "LISTEN_FDS='many' is not a number of sockets");
    }
    close(fds[0]);
    close(fds[1]);
    unlink(p);
    rmdir(dir);
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("listen-fds");

    tcase_add_test(tc, sockets_by_name);
    tcase_add_test(tc, other_pid);
    tcase_add_test(tc, single_unnamed);
    tcase_add_test(tc, malformed);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(activation_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
