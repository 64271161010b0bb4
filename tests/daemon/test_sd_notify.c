/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager protocol (sd_notify(3)) spoken without libsystemd:
 * the test plays systemd, binding the datagram socket NOTIFY_SOCKET names
 * (a path, or "@name" in the abstract namespace).  READY=1 (with a STATUS=
 * line) must come only once every device socket exists and listens, never
 * when start-up fails; STOPPING=1 comes on SIGTERM.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

static const char *const devices[] = { "g0", "t0", NULL };

static const char config[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[g0]\n"
    "plugin = gpio\n"
    "[t0]\n"
    "plugin = testdev\n";

/* Bind the notification socket; name is a path or "@abstract". */
static int notify_socket(const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(len, sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0,
                  "bind %s: %s", name, g_strerror(errno));
    return fd;
}

/* The next datagram, or NULL after timeout_ms. */
static char *next_message(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char buf[4096];
    ssize_t n;

    if (poll(&p, 1, timeout_ms) != 1) {
        return NULL;
    }
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return g_strdup(buf);
}

/* Wait for a datagram with this exact line; every device socket must
 * already listen when READY=1 arrives. */
static char *wait_for_line(int fd, const char *line)
{
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        char *m;

        ck_assert_msg(left > 0, "no %s datagram", line);
        m = next_message(fd, (int)left);
        if (m != NULL && dt_has_line(m, line)) {
            return m;
        }
        g_free(m);
    }
}

static void expect_listening(const struct harness *h)
{
    for (const char *const *d = devices; *d != NULL; d++) {
        g_autofree char *path = harness_socket(h, *d);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        int fd;

        ck_assert_msg(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
                      "READY=1 before %s exists", path);
        ck_assert_msg((st.st_mode & 07777) == 0660,
                      "READY=1 before %s has its mode (%04o)", path,
                      (unsigned)(st.st_mode & 07777));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        strcpy(sa.sun_path, path);
        ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                      "READY=1 before %s listens: %s", path, g_strerror(errno));
        close(fd);
    }
}

/* Start h's daemon with NOTIFY_SOCKET set to name (for this child only). */
static void start_notified(struct harness *h, const char *name)
{
    setenv("NOTIFY_SOCKET", name, 1);
    ck_assert_int_eq(harness_start(h, NULL, NULL), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void ready_then_stopping(const char *name)
{
    struct harness *h = harness_new(config);
    int fd = notify_socket(name);
    g_autofree char *ready = NULL;
    g_autofree char *stopping = NULL;
    int rc;

    start_notified(h, name);
    ready = wait_for_line(fd, "READY=1");
    expect_listening(h);
    ck_assert_msg(dt_has_match(ready, "^STATUS=.+$"), "no STATUS= in: %s", ready);

    rc = harness_stop(h);
    ck_assert_int_eq(rc, 0);
    stopping = wait_for_line(fd, "STOPPING=1");
    close(fd);
    harness_free(h);
}

START_TEST(ready_path)
{
    g_autofree char *dir = g_dir_make_tmp("vfud-notify-XXXXXX", NULL);
    g_autofree char *name = g_build_filename(dir, "notify", NULL);

    ready_then_stopping(name);
    unlink(name);
    rmdir(dir);
}
END_TEST

START_TEST(ready_abstract)
{
    g_autofree char *name = g_strdup_printf("@vfud-test-notify-%d-%u", (int)getpid(),
                                            g_random_int());

    ready_then_stopping(name);
}
END_TEST

/* A start that fails never says READY=1. */
START_TEST(no_ready_on_failure)
{
    struct harness *h = harness_new(config);
    g_autofree char *dir = g_dir_make_tmp("vfud-notify-XXXXXX", NULL);
    g_autofree char *name = g_build_filename(dir, "notify", NULL);
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *out = NULL;
    int fd = notify_socket(name);
    char *m;
    int rc;

    ck_assert_int_eq(g_mkdir_with_parents(h->sock_dir, 0755), 0);
    ck_assert(g_file_set_contents(t0, "not a socket\n", -1, NULL));
    setenv("NOTIFY_SOCKET", name, 1);
    rc = dt_run_config(h, &out);
    unsetenv("NOTIFY_SOCKET");
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    /* Whatever it sent is queued by now. */
    while ((m = next_message(fd, 0)) != NULL) {
        ck_assert_msg(!dt_has_line(m, "READY=1"), "READY=1 from a failed start");
        g_free(m);
    }
    close(fd);
    unlink(name);
    rmdir(dir);
    harness_free(h);
}
END_TEST

/* Nobody listening at NOTIFY_SOCKET is not the daemon's problem. */
START_TEST(notify_socket_absent)
{
    struct harness *h = harness_new(config);
    int rc;

    start_notified(h, "/nonexistent/vfud/notify");
    ck_assert_msg(dt_wait_listening(h, devices), "%s", harness_log(h));
    rc = harness_stop(h);
    ck_assert_int_eq(rc, 0);
    harness_free(h);
}
END_TEST

static Suite *sd_notify_suite(void)
{
    Suite *s = suite_create("sd_notify");
    TCase *tc = tcase_create("notify");

    tcase_add_test(tc, ready_path);
    tcase_add_test(tc, ready_abstract);
    tcase_add_test(tc, no_ready_on_failure);
    tcase_add_test(tc, notify_socket_absent);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sd_notify_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
