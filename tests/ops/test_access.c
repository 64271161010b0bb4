/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Access control: allowed-uids / allowed-gids checked with SO_PEERCRED at
 * accept (a refused client is closed before anything is read, and logged
 * with its pid, uid and gid), supplementary groups (SO_PEERGROUPS), the
 * [daemon] defaults and a device's "*", changes applied by a reload
 * without recreating the device; a device's own socket-mode and
 * socket-group, changed in place by a reload; and the daemon running as an
 * unprivileged user.  Parts that need other uids run only as root.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <vfiouserd/plugin.h>

#define REG_ID 0x000
#define TESTDEV_ID 0x7e57de01u
/* An id nobody here has (not ours, not root's). */
#define STRANGER 4242u
#define NOBODY 65534u

/* 0 if a client could negotiate and read the device, else -errno. */
static int try_client(const char *path)
{
    struct vfu_client *c = NULL;
    uint32_t v = 0;
    int r = vfu_client_connect(path, &c);

    if (r < 0) {
        return r;
    }
    vfu_client_set_timeout(c, DT_WAIT_MS);
    r = vfu_client_negotiate(c, NULL, NULL);
    if (r == 0) {
        r = vfu_client_region_read(c, VFUD_REGION_BAR0, REG_ID, &v, sizeof(v));
    }
    vfu_client_close(c);
    return r;
}

/* A directory other users can reach: not under our private TMPDIR
 * (mode 0700).  Removed by the test. */
static char *public_dir(void)
{
    char *d = g_strdup("/tmp/vfud-ops-XXXXXX");

    ck_assert_ptr_nonnull(mkdtemp(d));
    ck_assert_int_eq(chmod(d, 0755), 0);
    return d;
}

static void write_config(struct harness *h, const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, "@SOCKDIR@", -1);
    g_autofree char *t = g_strjoinv(h->sock_dir, parts);

    ck_assert(g_file_set_contents(h->config_path, t, -1, NULL));
}

static json_object *status(const char *ctl, const char *dev)
{
    return ot_request(ctl, "{\"command\":\"status\",\"device\":\"%s\"}", dev);
}

START_TEST(allowed_ids)
{
    static const char *const devs[] = { "t0", "t1", "t2", "t3", NULL };
    g_autofree char *config = g_strdup_printf(
        "[daemon]\n"
        "socket-dir = @SOCKDIR@\n"
        "allowed-uids = %u\n"          /* the default: a stranger */
        "[t0]\nplugin = testdev\n"      /* inherits it */
        "[t1]\nplugin = testdev\nallowed-uids = %u\n"
        "[t2]\nplugin = testdev\nallowed-gids = %u\n"
        "[t3]\nplugin = testdev\nallowed-uids = *\n",
        STRANGER, (unsigned)geteuid(), (unsigned)getegid());
    struct harness *h = ot_start(config, NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *t1 = harness_socket(h, "t1");
    g_autofree char *t2 = harness_socket(h, "t2");
    g_autofree char *t3 = harness_socket(h, "t3");
    g_autofree char *refused = g_strdup_printf(
        "vfiouserd: [t0] refused a client (pid %d uid %u gid %u): not in allowed-uids "
        "or allowed-gids", (int)getpid(), (unsigned)geteuid(), (unsigned)getegid());
    g_autofree char *log = NULL;
    struct stat st;
    json_object *a;
    struct vfu_client *kept;

    ck_assert_int_lt(try_client(t0), 0);
    ck_assert(dt_wait_log(h, refused));
    ck_assert_int_eq(try_client(t1), 0);
    ck_assert_int_eq(try_client(t2), 0);
    ck_assert_int_eq(try_client(t3), 0);
    a = status(ctl, "t0");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.refused")), 1);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.clients")), 0);
    /* Refused before a single byte was read. */
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.totals.messages_in")), 0);
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.access.allowed_uids.0")),
                     STRANGER);
    json_object_put(a);
    a = status(ctl, "t3");
    ck_assert(json_object_is_type(ot_get(a, "devices.0.access"), json_type_null));
    json_object_put(a);

    /* A reload lets us in, without recreating t0. */
    ck_assert_int_eq(lstat(t0, &st), 0);
    {
        g_autofree char *open_up = g_strdup_printf(
            "[daemon]\nsocket-dir = @SOCKDIR@\nallowed-uids = %u %u\n"
            "[t0]\nplugin = testdev\n"
            "[t1]\nplugin = testdev\nallowed-uids = %u\n"
            "[t2]\nplugin = testdev\nallowed-gids = %u\n"
            "[t3]\nplugin = testdev\nallowed-uids = *\n",
            STRANGER, (unsigned)geteuid(), (unsigned)geteuid(), (unsigned)getegid());

        write_config(h, open_up);
    }
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "updated", "t0"));
    ck_assert(ot_list_has(a, "unchanged", "t1"));
    json_object_put(a);
    {
        struct stat st2;

        ck_assert_int_eq(lstat(t0, &st2), 0);
        ck_assert_uint_eq(st2.st_ino, st.st_ino);
    }
    kept = dt_client(t0);

    /* Closing it again refuses newcomers only: the client in keeps going. */
    write_config(h, config);
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "updated", "t0"));
    json_object_put(a);
    ck_assert_uint_eq(dt_read32(kept, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    vfu_client_close(kept);
    ot_wait_state(ctl, "t0", "listening");
    ck_assert_int_lt(try_client(t0), 0);
    ck_assert_int_eq(harness_stop(h), 0);
    log = harness_log(h);
    ck_assert_uint_eq(dt_count_lines(log, refused), 2);
    harness_free(h);
}
END_TEST

/* Root only: clients of other users and groups, from forked children. */
static int child_client(const char *path, uid_t uid, gid_t gid, const gid_t *groups,
                        int nr_groups)
{
    pid_t pid = fork();
    int status;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups((size_t)nr_groups, groups) < 0 || setgid(gid) < 0 ||
            setuid(uid) < 0) {
            _exit(100);
        }
        _exit(try_client(path) == 0 ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_ne(WEXITSTATUS(status), 100);
    return WEXITSTATUS(status);
}

START_TEST(other_users)
{
    g_autofree char *pub = NULL;
    g_autofree char *config = NULL;
    g_autofree char *s_uid = NULL;
    g_autofree char *s_grp = NULL;
    struct harness *h;
    gid_t stranger = STRANGER;

    if (geteuid() != 0) {
        fprintf(stderr, "other_users: not root, only our own uid was tried\n");
        return;
    }
    /* Sockets where nobody can reach them (the harness dir is 0700). */
    pub = public_dir();
    s_uid = g_build_filename(pub, "by-uid.sock", NULL);
    s_grp = g_build_filename(pub, "by-group.sock", NULL);
    config = g_strdup_printf("[daemon]\nsocket-dir = @SOCKDIR@\nsocket-mode = 0666\n"
                             "[by-uid]\nplugin = testdev\nsocket = %s\n"
                             "allowed-uids = %u\n"
                             "[by-group]\nplugin = testdev\nsocket = %s\n"
                             "allowed-gids = %u\n",
                             s_uid, NOBODY, s_grp, STRANGER);
    h = harness_new(config);
    ck_assert_int_eq(harness_start(h, NULL, NULL), 0);
    ck_assert(dt_wait_log(h, "control socket "));

    /* uid nobody: in; root: out. */
    ck_assert_int_eq(child_client(s_uid, NOBODY, NOBODY, NULL, 0), 0);
    ck_assert_int_lt(try_client(s_uid), 0);
    /* Group 4242 as a supplementary group (SO_PEERGROUPS), as primary
     * group, and not at all. */
    ck_assert_int_eq(child_client(s_grp, NOBODY, NOBODY, &stranger, 1), 0);
    ck_assert_int_eq(child_client(s_grp, NOBODY, STRANGER, NULL, 0), 0);
    ck_assert_int_eq(child_client(s_grp, NOBODY, NOBODY, NULL, 0), 1);
    ck_assert(dt_wait_log(h, "[by-group] refused a client (pid "));
    ck_assert(harness_log_contains(h, "uid 65534 gid 65534): not in allowed-uids"));
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
    ck_assert_int_eq(rmdir(pub), 0);
}
END_TEST

/* A device's own socket-mode / socket-group; a reload changes them on the
 * socket in place. */
START_TEST(socket_permissions)
{
    static const char *const devs[] = { "g0", "t0", NULL };
    gid_t grp = geteuid() == 0 ? STRANGER : getegid();
    g_autofree char *config = g_strdup_printf("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                              "[g0]\nplugin = gpio\n"
                                              "[t0]\nplugin = testdev\n"
                                              "socket-mode = 0600\nsocket-group = %u\n",
                                              (unsigned)grp);
    struct harness *h = ot_start(config, NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *t0 = harness_socket(h, "t0");
    struct stat st, st2;
    json_object *a;

    ck_assert_int_eq(lstat(g0, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0660);
    ck_assert_int_eq(lstat(t0, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(st.st_gid, grp);

    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\nsocket-mode = 0666\n"
                    "[g0]\nplugin = gpio\n[t0]\nplugin = testdev\nsocket-mode = 0640\n");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "updated", "g0"));
    ck_assert(ot_list_has(a, "updated", "t0"));
    json_object_put(a);
    ck_assert_int_eq(lstat(g0, &st2), 0);
    ck_assert_uint_eq(st2.st_mode & 07777, 0666);
    ck_assert_int_eq(lstat(t0, &st2), 0);
    ck_assert_uint_eq(st2.st_mode & 07777, 0640);
    ck_assert_uint_eq(st2.st_ino, st.st_ino);
    a = status(ctl, "t0");
    ck_assert_str_eq(ot_str(a, "devices.0.socket.mode"), "0640");
    json_object_put(a);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

/* The daemon as an unprivileged user (what the units do with User=):
 * sockets and control socket are its own, and everything works. */
START_TEST(unprivileged_daemon)
{
    g_autofree char *dir = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *log = NULL;
    g_autofree char *ctl = NULL;
    g_autofree char *t0 = NULL;
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    struct stat st;
    json_object *a;
    pid_t pid;

    if (geteuid() != 0) {
        fprintf(stderr, "unprivileged_daemon: not root; the whole suite already runs "
                "the daemon unprivileged\n");
        return;
    }
    dir = public_dir();
    ck_assert_int_eq(chown(dir, NOBODY, NOBODY), 0);
    conf = g_build_filename(dir, "vfiouserd.conf", NULL);
    log = g_build_filename(dir, "log", NULL);
    ctl = g_build_filename(dir, "sock/control", NULL);
    t0 = g_build_filename(dir, "sock/t0.sock", NULL);
    text = g_strdup_printf("[daemon]\nsocket-dir = %s/sock\n"
                           "[g0]\nplugin = gpio\n[t0]\nplugin = testdev\n", dir);
    ck_assert(g_file_set_contents(conf, text, -1, NULL));
    ck_assert_int_eq(chmod(conf, 0644), 0);
    {
        const char *args[] = { "-c", conf, pd, NULL };

        pid = ot_spawn(args, log, NULL, 0, NULL, NOBODY, NOBODY);
    }
    ck_assert(dt_wait_file(ctl));
    for (int i = 0; i < 1000; i++) {
        g_free(out);
        ck_assert(g_file_get_contents(log, &out, NULL, NULL));
        if (strstr(out, "control socket ") != NULL) {
            break;
        }
        g_usleep(10000);
    }
    ck_assert_int_eq(lstat(ctl, &st), 0);
    ck_assert_uint_eq(st.st_uid, NOBODY);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(lstat(t0, &st), 0);
    ck_assert_uint_eq(st.st_uid, NOBODY);
    ck_assert_uint_eq(st.st_mode & 07777, 0660);
    ck_assert_int_eq(try_client(t0), 0);
    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t9\",\"keys\":[\"plugin=testdev\"]}");
    ot_assert_ok(a);
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    json_object_put(a);
    ck_assert_int_eq(dt_stop(pid), 0);
    g_free(out);
    ck_assert(g_file_get_contents(log, &out, NULL, NULL));
    ck_assert_msg(strstr(out, "vfiouserd: control: add t9 (asked by pid ") != NULL, "%s", out);
    ck_assert_int_ne(access(ctl, F_OK), 0);
    unlink(conf);
    unlink(log);
    {
        g_autofree char *sock = g_build_filename(dir, "sock", NULL);

        rmdir(sock);
    }
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("peercred");

    tcase_add_test(tc, allowed_ids);
    tcase_add_test(tc, other_users);
    tcase_add_test(tc, socket_permissions);
    tcase_add_test(tc, unprivileged_daemon);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(access_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
