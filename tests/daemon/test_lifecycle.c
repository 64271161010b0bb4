/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's life: sockets appear with the configured mode, owner and
 * group; SIGTERM removes them and exits 0; start-up is all or nothing
 * (a bad socket path or a failing device leaves no socket behind); a stale
 * socket is replaced but a live one is not taken over; devices of one
 * plugin are independent; one client at a time per device; single-device
 * mode with --socket-path and --fd; --version and --help.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <vfiouserd/plugin.h>

/* testdev's BAR0 registers (plugins/testdev/testdev.c). */
#define TESTDEV_ID       0x7e57de01u
#define REG_ID           0x000
#define REG_MAGIC_LO     0x008
#define REG_MAGIC_HI     0x00c
#define REG_SCRATCH      0x010

static const char *const g0_t0[] = { "g0", "t0", NULL };

static const char two_devices[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[g0]\n"
    "plugin = gpio\n"
    "[t0]\n"
    "plugin = testdev\n";

/* Start h's daemon and wait until every device listens. */
static void start(struct harness *h, const char *const *devices)
{
    int r = harness_start(h, NULL, devices);
    g_autofree char *log = NULL;

    if (r == 0 && dt_wait_listening(h, devices)) {
        return;
    }
    log = harness_log(h);
    ck_abort_msg("the daemon did not start; its log:\n%s", log);
}

static void stop_ok(struct harness *h)
{
    int rc = harness_stop(h);
    g_autofree char *log = harness_log(h);

    ck_assert_msg(rc == 0, "exit status %d after SIGTERM; log:\n%s", rc, log);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void expect_socket(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;

    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, g_strerror(errno));
    ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket", path);
    ck_assert_msg((st.st_mode & 07777) == mode, "%s has mode %04o, not %04o", path,
                  (unsigned)(st.st_mode & 07777), (unsigned)mode);
    ck_assert_msg(st.st_uid == uid, "%s: owner %u, not %u", path,
                  (unsigned)st.st_uid, (unsigned)uid);
    ck_assert_msg(st.st_gid == gid, "%s: group %u, not %u", path,
                  (unsigned)st.st_gid, (unsigned)gid);
}

/* No file in dir (or no dir). */
static void expect_empty_dir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (d == NULL) {
        return;
    }
    name = g_dir_read_name(d);
    g_dir_close(d);
    ck_assert_msg(name == NULL, "%s/%s was left behind", dir, name);
}

/* "vfiouserd: <config>:<line>: [dev] ...<what>..." */
static void expect_error_at(const struct harness *h, const char *out,
                            const char *dev, const char *what)
{
    g_autofree char *cfg = g_regex_escape_string(h->config_path, -1);
    g_autofree char *esc = g_regex_escape_string(what, -1);
    g_autofree char *re = g_strdup_printf("^vfiouserd: %s:[0-9]+: \\[%s\\] .*%s",
                                          cfg, dev, esc);

    ck_assert_msg(dt_has_match(out, re), "no line matching %s in:\n%s", re, out);
}

/* A group we may give sockets to, other than our own if possible. */
static gid_t other_group(void)
{
    gid_t groups[256];
    int n = getgroups(G_N_ELEMENTS(groups), groups);

    for (int i = 0; i < n; i++) {
        if (groups[i] != getegid()) {
            return groups[i];
        }
    }
    if (geteuid() == 0) {
        /* root may use any group. */
        struct group *g = getgrnam("nogroup");

        if (g == NULL) {
            g = getgrnam("daemon");
        }
        return g != NULL ? g->gr_gid : 1;
    }
    return getegid();
}

/* Wait until fd reports end of file. */
static bool wait_eof(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;

    if (poll(&p, 1, DT_WAIT_MS) != 1) {
        return false;
    }
    return read(fd, &c, 1) == 0;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    strcpy(sa.sun_path, path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                  "connect %s: %s", path, g_strerror(errno));
    return fd;
}

/* ------------------------------------------------------------------------
 * Sockets
 */
START_TEST(sockets_default_mode)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *attach = NULL;

    start(h, g0_t0);
    expect_socket(g0, 0660, geteuid(), getegid());
    expect_socket(t0, 0660, geteuid(), getegid());
    /* One line per device tells how to attach it (vfiouserd(8)). */
    attach = g_strdup_printf("-device '{\"driver\":\"vfio-user-pci\",\"socket\":"
                             "{\"type\":\"unix\",\"path\":\"%s\"}}'", t0);
    ck_assert(harness_log_contains(h, attach));

    stop_ok(h);
    ck_assert_msg(!exists(g0) && !exists(t0), "sockets left after SIGTERM");
    harness_free(h);
}
END_TEST

START_TEST(sockets_configured_mode)
{
    gid_t gid = other_group();
    struct group *gr = getgrgid(gid);
    g_autofree char *group = gr != NULL ? g_strdup(gr->gr_name)
                                        : g_strdup_printf("%u", (unsigned)gid);
    g_autofree char *text = g_strdup_printf("[daemon]\n"
                                            "socket-dir = @SOCKDIR@\n"
                                            "socket-mode = 0600\n"
                                            "socket-owner = %u\n"
                                            "socket-group = %s\n"
                                            "[g0]\nplugin = gpio\n"
                                            "[t0]\nplugin = testdev\n",
                                            (unsigned)geteuid(), group);
    struct harness *h = harness_new(text);
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *t0 = harness_socket(h, "t0");

    start(h, g0_t0);
    expect_socket(g0, 0600, geteuid(), gid);
    expect_socket(t0, 0600, geteuid(), gid);
    stop_ok(h);
    ck_assert(!exists(g0) && !exists(t0));
    harness_free(h);
}
END_TEST

/* A socket key: its directory is created; the socket goes away at exit. */
START_TEST(socket_key)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[t0]\nplugin = testdev\n"
                                    "socket = @DIR@/sub/dir/my.sock\n");
    g_autofree char *path = g_build_filename(h->dir, "sub", "dir", "my.sock", NULL);
    g_autofree char *line = g_strdup_printf("listening on %s;", path);

    ck_assert_int_eq(harness_start(h, NULL, NULL), 0);
    ck_assert_msg(dt_wait_log(h, line), "%s", harness_log(h));
    expect_socket(path, 0660, geteuid(), getegid());
    stop_ok(h);
    ck_assert(!exists(path));
    harness_free(h);
}
END_TEST

START_TEST(sigint_stops)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    int rc;

    start(h, g0_t0);
    kill(h->pid, SIGINT);
    rc = dt_wait_exit(h->pid, DT_WAIT_MS);
    h->pid = -1;
    ck_assert_int_eq(rc, 0);
    ck_assert(!exists(t0));
    harness_free(h);
}
END_TEST

/* SIGTERM with a client attached: the client sees the end, the daemon
 * exits 0 and removes its sockets. */
START_TEST(stop_with_client)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    struct vfu_client *c;
    uint32_t v;

    start(h, g0_t0);
    c = dt_client(t0);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    stop_ok(h);
    ck_assert(!exists(t0));
    ck_assert_int_lt(vfu_client_region_read(c, VFUD_REGION_BAR0, REG_ID, &v, 4), 0);
    vfu_client_close(c);
    harness_free(h);
}
END_TEST

/* A socket file nobody listens on (a crashed daemon's) is replaced. */
START_TEST(stale_socket_replaced)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    struct vfu_client *c;

    ck_assert_int_eq(g_mkdir_with_parents(h->sock_dir, 0755), 0);
    close(dt_unix_socket(t0, true));
    ck_assert(exists(t0));

    start(h, g0_t0);
    c = dt_client(t0);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    vfu_client_close(c);
    stop_ok(h);
    ck_assert(!exists(t0));
    harness_free(h);
}
END_TEST

/* Any other file at a socket path stops the start: exit 1, a message in the
 * documented form, the file untouched, and no other socket left behind
 * (index: which device's path is taken, to fail after or before the other
 * device's socket exists). */
START_TEST(regular_file_refused)
{
    struct harness *h = harness_new(two_devices);
    const char *bad = _i == 0 ? "t0" : "g0";
    const char *good = _i == 0 ? "g0" : "t0";
    g_autofree char *bad_path = harness_socket(h, bad);
    g_autofree char *good_path = harness_socket(h, good);
    g_autofree char *out = NULL;
    g_autofree char *content = NULL;
    int rc;

    ck_assert_int_eq(g_mkdir_with_parents(h->sock_dir, 0755), 0);
    ck_assert(g_file_set_contents(bad_path, "precious\n", -1, NULL));

    rc = dt_run_config(h, &out);
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(!exists(good_path), "%s left behind:\n%s", good_path, out);
    ck_assert(g_file_get_contents(bad_path, &content, NULL, NULL));
    ck_assert_str_eq(content, "precious\n");
    expect_error_at(h, out, bad, "exists and is not a socket");
    harness_free(h);
}
END_TEST

/* A socket another process serves is not taken over. */
START_TEST(live_socket_refused)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *out = NULL;
    int lfd, rc;

    ck_assert_int_eq(g_mkdir_with_parents(h->sock_dir, 0755), 0);
    lfd = dt_unix_socket(t0, true);

    rc = dt_run_config(h, &out);
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert(!exists(g0));
    /* Ours is still there and still ours. */
    close(raw_connect(t0));
    {
        int c = accept(lfd, NULL, NULL);

        ck_assert_int_ge(c, 0);
        close(c);
    }
    close(lfd);
    expect_error_at(h, out, "t0", "is in use by another process");
    harness_free(h);
}
END_TEST

/* A device that fails realize: exit 1, no socket at all. */
START_TEST(fail_realize_no_sockets)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[g0]\nplugin = gpio\n"
                                    "[t0]\nplugin = testdev\nfail-realize = true\n");
    g_autofree char *out = NULL;
    int rc = dt_run_config(h, &out);

    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(strstr(out, "failing on purpose (fail-realize is set)") != NULL,
                  "%s", out);
    expect_empty_dir(h->sock_dir);
    expect_error_at(h, out, "t0", "failing on purpose (fail-realize is set)");
    harness_free(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Devices and clients
 */
START_TEST(two_devices_one_plugin)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[t1]\nplugin = testdev\nmagic = 0x1111111100000001\n"
                                    "[t2]\nplugin = testdev\nmagic = 0x2222222200000002\n");
    const char *const devs[] = { "t1", "t2", NULL };
    g_autofree char *p1 = harness_socket(h, "t1");
    g_autofree char *p2 = harness_socket(h, "t2");
    struct vfu_client *c1, *c2;

    start(h, devs);
    c1 = dt_client(p1);
    c2 = dt_client(p2);
    ck_assert_uint_eq(dt_read32(c1, VFUD_REGION_BAR0, REG_MAGIC_LO), 0x00000001);
    ck_assert_uint_eq(dt_read32(c1, VFUD_REGION_BAR0, REG_MAGIC_HI), 0x11111111);
    ck_assert_uint_eq(dt_read32(c2, VFUD_REGION_BAR0, REG_MAGIC_LO), 0x00000002);
    ck_assert_uint_eq(dt_read32(c2, VFUD_REGION_BAR0, REG_MAGIC_HI), 0x22222222);
    /* State is per device. */
    dt_write32(c1, VFUD_REGION_BAR0, REG_SCRATCH, 0xabcd1234);
    ck_assert_uint_eq(dt_read32(c1, VFUD_REGION_BAR0, REG_SCRATCH), 0xabcd1234);
    ck_assert_uint_eq(dt_read32(c2, VFUD_REGION_BAR0, REG_SCRATCH), 0);
    vfu_client_close(c1);
    vfu_client_close(c2);
    stop_ok(h);
    harness_free(h);
}
END_TEST

/* One client at a time: a second one is refused (EOF) with a log line,
 * and the first one is not disturbed. */
START_TEST(second_client_refused)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    struct vfu_client *a;
    int b;

    start(h, g0_t0);
    a = dt_client(t0);
    dt_write32(a, VFUD_REGION_BAR0, REG_SCRATCH, 0x5a5a5a5a);

    b = raw_connect(t0);
    ck_assert_msg(wait_eof(b), "the second client was not refused");
    close(b);
    ck_assert_msg(dt_wait_log(h, "[t0] refused a second client"), "%s",
                  harness_log(h));

    ck_assert_uint_eq(dt_read32(a, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    ck_assert_uint_eq(dt_read32(a, VFUD_REGION_BAR0, REG_SCRATCH), 0x5a5a5a5a);
    vfu_client_close(a);
    stop_ok(h);
    harness_free(h);
}
END_TEST

/* A client leaves, the next one is served; the daemon keeps no fd of the
 * first. */
START_TEST(reconnect)
{
    struct harness *h = harness_new(two_devices);
    g_autofree char *t0 = harness_socket(h, "t0");
    struct vfu_client *c;
    gint64 deadline;
    int before;

    start(h, g0_t0);
    before = harness_fd_count(h->pid);
    ck_assert_int_gt(before, 0);

    c = dt_client(t0);
    dt_write32(c, VFUD_REGION_BAR0, REG_SCRATCH, 77);
    vfu_client_close(c);
    ck_assert_msg(dt_wait_log(h, "[t0] client disconnected"), "%s", harness_log(h));
    deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;
    while (harness_fd_count(h->pid) != before && g_get_monotonic_time() < deadline) {
        g_usleep(10000);
    }
    ck_assert_int_eq(harness_fd_count(h->pid), before);

    c = dt_client(t0);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    /* The device kept its state across clients (vfiouserd(8)). */
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_SCRATCH), 77);
    vfu_client_close(c);
    stop_ok(h);
    harness_free(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Single-device mode
 */
START_TEST(single_socket_path)
{
    g_autofree char *dir = g_dir_make_tmp("vfud-single-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "x.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    g_autofree char *sp = g_strdup_printf("--socket-path=%s", sock);
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *text = NULL;
    const char *args[] = { sp, "--device=x", "--plugin=testdev", pd, "magic=7", NULL };
    struct vfu_client *c;
    pid_t pid = dt_spawn(args, log, -1, -1);
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;
    int rc;

    for (;;) {
        g_free(text);
        ck_assert(g_file_get_contents(log, &text, NULL, NULL));
        if (strstr(text, "listening on") != NULL) {
            break;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline, "no start:\n%s", text);
        g_usleep(10000);
    }
    expect_socket(sock, 0660, geteuid(), getegid());
    c = dt_client(sock);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_MAGIC_LO), 7);
    vfu_client_close(c);
    rc = dt_stop(pid);
    ck_assert_int_eq(rc, 0);
    ck_assert(!exists(sock));
    unlink(log);
    rmdir(dir);
}
END_TEST

START_TEST(single_fd)
{
    g_autofree char *dir = g_dir_make_tmp("vfud-single-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "fd.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *text = NULL;
    const char *args[] = { "--fd=3", "--device=x", "--plugin=testdev", pd, "magic=9",
                           NULL };
    int lfd = dt_unix_socket(sock, true);
    gint64 deadline = g_get_monotonic_time() + DT_WAIT_MS * 1000;
    struct vfu_client *c;
    pid_t pid;
    int rc;

    pid = dt_spawn(args, log, lfd, 3);
    /* The daemon has its own copy now: connections queue on the same
     * socket, and we must not accept them. */
    close(lfd);
    for (;;) {
        g_free(text);
        ck_assert(g_file_get_contents(log, &text, NULL, NULL));
        if (strstr(text, "serving listening socket fd 3") != NULL) {
            break;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline, "no start:\n%s", text);
        g_usleep(10000);
    }
    c = dt_client(sock);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_MAGIC_LO), 9);
    vfu_client_close(c);
    rc = dt_stop(pid);
    ck_assert_int_eq(rc, 0);
    /* The caller owns the path (vfiouserd(8), --fd). */
    ck_assert(exists(sock));
    unlink(sock);
    unlink(log);
    rmdir(dir);
}
END_TEST

/* Run the daemon with args to completion; returns its exit status. */
static int run_args(const char *const *args, int pass_fd, char **out)
{
    g_autofree char *dir = g_dir_make_tmp("vfud-single-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    pid_t pid = dt_spawn(args, log, pass_fd, 3);
    int rc = dt_wait_exit(pid, DT_WAIT_MS);

    if (!g_file_get_contents(log, out, NULL, NULL)) {
        *out = g_strdup("");
    }
    unlink(log);
    rmdir(dir);
    return rc;
}

START_TEST(single_fd_not_listening)
{
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *out = NULL;
    const char *args[] = { "--fd=3", "--device=x", "--plugin=testdev", pd, NULL };
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int sv[2];
    int rc;

    /* Not a socket. */
    rc = run_args(args, fd, &out);
    close(fd);
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_match(out, "^vfiouserd: \\[x\\] fd 3 is not a socket"), "%s",
                  out);
    g_free(out);

    /* A socket, but not a listening one. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rc = run_args(args, sv[0], &out);
    close(sv[0]);
    close(sv[1]);
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_line(out, "vfiouserd: [x] fd 3 is not a listening AF_UNIX "
                                   "stream socket"), "%s", out);
}
END_TEST

static const struct {
    const char *args[6];
    const char *message;
} single_errors[] = {
    { { "--socket-path=/nonexistent-vfud/x.sock", "--fd=3", "--device=x", "--plugin=testdev" },
      "vfiouserd: --socket-path and --fd exclude each other" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--device=x" },
      "vfiouserd: single-device mode needs --device and --plugin" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--plugin=testdev" },
      "vfiouserd: single-device mode needs --device and --plugin" },
    { { "--socket-path=relative.sock", "--device=x", "--plugin=testdev" },
      "vfiouserd: --socket-path must be absolute" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--device=a b", "--plugin=testdev" },
      "vfiouserd: invalid device name 'a b'" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--device=x", "--plugin=testdev", "magic" },
      "vfiouserd: argument 'magic' is not KEY=VALUE" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--device=x", "--plugin=testdev", "-c",
        "/etc/vfiouserd/vfiouserd.conf" },
      "vfiouserd: single-device mode takes no config file" },
    { { "--socket-path=/nonexistent-vfud/x.sock", "--device=x", "--plugin=testdev",
        "sise=1" },
      "vfiouserd: command line: [x] unknown key 'sise'" },
};

START_TEST(single_errors_exit_1)
{
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    g_autofree char *out = NULL;
    const char *args[8] = { pd };
    int rc;

    for (unsigned i = 0; single_errors[_i].args[i] != NULL; i++) {
        args[i + 1] = single_errors[_i].args[i];
    }
    rc = run_args(args, -1, &out);
    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_line(out, single_errors[_i].message), "expected %s in:\n%s",
                  single_errors[_i].message, out);
    ck_assert(!exists("/nonexistent-vfud/x.sock"));
}
END_TEST

/* ------------------------------------------------------------------------
 * --version, --help
 */
START_TEST(version)
{
    const char *args[] = { "--version", NULL };
    g_autofree char *out = NULL;
    g_autofree char *line = g_strdup_printf("vfiouserd %s (plugin API %d)",
                                            PACKAGE_VERSION, VFUD_API_VERSION);
    int rc = harness_run(args, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_line(out, line), "%s", out);
}
END_TEST

START_TEST(help)
{
    static const char *const options[] = {
        "--config", "--plugin-dir", "--check-config", "--dump-plugin", "--version",
        "--verbose", "--log", "--socket-path", "--fd", "--device", "--plugin",
    };

    for (unsigned i = 0; i < 2; i++) {
        const char *args[] = { i == 0 ? "--help" : "-h", NULL };
        g_autofree char *out = NULL;
        int rc = harness_run(args, &out);

        ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
        for (size_t j = 0; j < G_N_ELEMENTS(options); j++) {
            ck_assert_msg(strstr(out, options[j]) != NULL, "%s missing from:\n%s",
                          options[j], out);
        }
    }
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *sockets = tcase_create("sockets");
    TCase *clients = tcase_create("clients");
    TCase *single = tcase_create("single-device");
    TCase *info = tcase_create("info");
    TCase *all[] = { sockets, clients, single, info };

    tcase_add_test(sockets, sockets_default_mode);
    tcase_add_test(sockets, sockets_configured_mode);
    tcase_add_test(sockets, socket_key);
    tcase_add_test(sockets, sigint_stops);
    tcase_add_test(sockets, stop_with_client);
    tcase_add_test(sockets, stale_socket_replaced);
    tcase_add_loop_test(sockets, regular_file_refused, 0, 2);
    tcase_add_test(sockets, live_socket_refused);
    tcase_add_test(sockets, fail_realize_no_sockets);

    tcase_add_test(clients, two_devices_one_plugin);
    tcase_add_test(clients, second_client_refused);
    tcase_add_test(clients, reconnect);

    tcase_add_test(single, single_socket_path);
    tcase_add_test(single, single_fd);
    tcase_add_test(single, single_fd_not_listening);
    tcase_add_loop_test(single, single_errors_exit_1, 0, G_N_ELEMENTS(single_errors));

    tcase_add_test(info, version);
    tcase_add_test(info, help);

    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        tcase_set_timeout(all[i], 300);
        suite_add_tcase(s, all[i]);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lifecycle_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
