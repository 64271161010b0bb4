/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl upgrade: a client attached as QEMU is (VERSION, shared
 * memory mapped, an interrupt eventfd, device state written) goes on using
 * the same connection after the daemon has been replaced by a fresh
 * execve() of itself: same device state, same DMA windows and interrupt
 * eventfds, no reconnect.  An upgrade the new binary refuses (a state
 * format from the future) or that cannot start leaves the old process
 * serving.  200 upgrades in a row leave the fd count flat.  Each runs
 * with the sandbox off and on (the default: the new process is started
 * by the launcher forked before the sandbox, and --exec is refused).
 * An isolate = process device keeps its client and state too: its
 * process stores its state with the parent, whose hand-over carries it to
 * the new parent's process.
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <linux/vfio.h>
#include <vfiouserd/plugin.h>

#define MANY 200
#define WARMUP 10

static const char *const devs[] = { "g0", NULL };
/* Loop index _i: 0 sandbox = off, 1 the default (on). */
static const char *const configs[] = {
    "[daemon]\nsocket-dir = @SOCKDIR@\nsandbox = off\n[g0]\nplugin = gpio\n",
    "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n",
};

G_GNUC_UNUSED static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The daemon started on h's config for devices (with version_var, or
 * NULL, set to 99 in its environment: it then hands over a state format
 * from the future), its control socket up and, isolated, g0's process
 * started; a client attached to g0 with value, as QEMU attaches. */
static struct vfu_client *start_attached(struct harness *h, const char *const *devices,
                                         const char *version_var, bool isolated,
                                         uint8_t value)
{
    g_autofree char *sock = harness_socket(h, "g0");

    if (version_var != NULL) {
        g_setenv(version_var, "99", TRUE);
    }
    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    if (version_var != NULL) {
        g_unsetenv(version_var);
    }
    ck_assert(dt_wait_log(h, "control socket "));
    if (isolated) {
        ck_assert(dt_wait_log(h, "[g0] isolated process pid "));
    }
    return ot_gpio_attach(sock, value);
}

/* The last upgrade's time to the new daemon's READY (its start, while the
 * old one serves), from its answer. */
static double last_start_ms;

/* An upgrade (to exec, or NULL: the running binary) that succeeds: the new
 * daemon's pid. */
static pid_t upgrade_ok(const char *ctl, const char *exec, double *pause_ms)
{
    json_object *a = exec != NULL
                         ? ot_request(ctl, "{\"command\":\"upgrade\",\"exec\":\"%s\"}", exec)
                         : ot_request(ctl, "{\"command\":\"upgrade\"}");
    pid_t pid;

    ot_assert_ok(a);
    pid = json_object_get_int(ot_get(a, "pid"));
    last_start_ms = json_object_get_double(ot_get(a, "start_ms"));
    if (pause_ms != NULL) {
        *pause_ms = json_object_get_double(ot_get(a, "pause_ms"));
    }
    json_object_put(a);
    ck_assert_int_gt(pid, 0);
    return pid;
}

/* The daemons of a chain of upgrades are each other's children; as the
 * subreaper (adopt()) this test is the parent of every one the harness did
 * not start, and reaps them. */
static void adopt(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
}

/* Sandboxed, each daemon's launcher dies with it and, orphaned, comes to
 * us (the subreaper) too: reap those, and nothing else. */
static void reap_launchers(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;

    ck_assert_ptr_nonnull(d);
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *stat = NULL;
        char state;
        int ppid;
        const char *p;

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(path, &stat, NULL, NULL) ||
            strstr(stat, "(vfiouserd-upg)") == NULL || (p = strrchr(stat, ')')) == NULL ||
            sscanf(p + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid()) {
            continue;
        }
        waitpid(atoi(name), NULL, state == 'Z' ? 0 : WNOHANG);
    }
}

/* An upgrade refused with code, its error saying why (NULL: anything). */
G_GNUC_UNUSED static void upgrade_refused(const char *ctl, const char *code, const char *why)
{
    json_object *a = ot_request(ctl, "{\"command\":\"upgrade\"}");

    ck_assert_msg(!ot_ok(a) && g_strcmp0(ot_str(a, "code"), code) == 0 &&
                      ot_str(a, "error") != NULL &&
                      (why == NULL || strstr(ot_str(a, "error"), why) != NULL),
                  "expected %s for \"%s\": %s", code, why != NULL ? why : "",
                  json_object_to_json_string(a));
    json_object_put(a);
}

/* A replaced daemon exits right after answering. */
G_GNUC_UNUSED static void reap(pid_t pid)
{
    int st;

    pid_t r;

    /* Sandboxed, it is the child of the launcher of the daemon before it,
     * which dies with that one (SIGKILL, asynchronously): it may not have
     * come to us yet. */
    for (int i = 0; (r = waitpid(pid, &st, 0)) < 0 && errno == ECHILD; i++) {
        ck_assert_int_lt(i, DT_WAIT_MS / 10);
        g_usleep(10000);
    }
    ck_assert_int_eq(r, pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "old daemon %d: status %#x",
                  (int)pid, st);
    reap_launchers();
}

static void stop_pid(pid_t pid)
{
    int st = 0;
    pid_t r = 0;

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    for (int i = 0; i < DT_WAIT_MS / 10 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++) {
        g_usleep(10000);
    }
    ck_assert_msg(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "pid %d did not stop cleanly (status %#x)", (int)pid, st);
}

/* The client leaves, the harness's daemon (gone if it was replaced) stops
 * and so does pid, the last upgrade's daemon (0: none). */
static void finish(struct harness *h, struct vfu_client *c, pid_t pid)
{
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    if (pid != 0) {
        stop_pid(pid);
    }
    harness_free(h);
}

#ifndef UPGRADE_SKEW
START_TEST(client_survives_upgrade)
{
    struct harness *h = harness_new(configs[_i]);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *out = NULL;
    g_autofree char *ctlarg = NULL;
    struct vfu_client *c;
    json_object *a;
    pid_t pid, first;

    adopt();
    c = start_attached(h, devs, NULL, false, 0x5a);
    ot_gpio_check_client(ctl);

    /* As vfiouserctl(8) prints it. */
    ctlarg = g_strdup_printf("--socket=%s", ctl);
    {
        const char *args[] = { ctlarg, "upgrade", NULL };

        ck_assert_int_eq(ot_ctl(args, &out), 0);
    }
    ck_assert_msg(g_str_has_prefix(out, "upgraded: pid "), "%s", out);
    pid = first = (pid_t)atoi(out + strlen("upgraded: pid "));
    ck_assert_int_ne(pid, h->pid);

    /* The same connection: the value, the window, the eventfd. */
    ck_assert_uint_eq(ot_gpio_read(c), 0x5a);
    ot_gpio_check_client(ctl);
    ot_gpio_write(c, 0xa5);

    /* Mid-message: half a REGION_WRITE is in the old process's buffer when
     * it hands over; the new one serves it once the rest arrives. */
    {
        uint8_t m[OT_GPIO_MSG_SIZE];
        const size_t half = sizeof(struct vfio_user_header) + 4;
        struct vfio_user_header rh;
        void *rp = NULL;
        size_t rlen = 0;
        unsigned nfds = 0;

        ot_gpio_write_msg(m, 0x6b);
        ck_assert_int_eq(vfu_client_send_raw(c, m, half, NULL, 0), 0);
        pid = upgrade_ok(ctl, NULL, NULL);
        reap(first);
        first = pid;
        ck_assert_int_eq(vfu_client_send_raw(c, m + half, sizeof(m) - half,
                                             NULL, 0), 0);
        ck_assert_int_eq(vfu_client_recv_reply(c, OT_GPIO_MSG_ID, &rh, &rp, &rlen, NULL,
                                               &nfds), 0);
        free(rp);
        ck_assert_uint_eq(ot_gpio_read(c), 0x6b);
        ot_gpio_write(c, 0xa5);
    }

    /* Again, to the new binary by --exec: sandboxed, only our own binary
     * may be started, and the client is served on. */
    a = ot_request(ctl, "{\"command\":\"upgrade\",\"exec\":\"%s/daemon/vfiouserd\"}",
                   BUILDDIR);
    if (_i == 1) {
        ot_assert_error(a, "EPERM");
        ck_assert_msg(strstr(ot_str(a, "error"), "--exec is refused while the "
                             "sandbox is on") != NULL, "%s", ot_str(a, "error"));
        json_object_put(a);
        /* The new process confined itself as a fresh start does. */
        {
            g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
            g_autofree char *text = NULL;

            ck_assert(g_file_get_contents(path, &text, NULL, NULL));
            ck_assert_msg(dt_has_line(text, "NoNewPrivs:\t1") &&
                          dt_has_line(text, "CapEff:\t0000000000000000"), "%s", text);
#if !defined(VFUD_SANITIZED)
            if (getenv("VFIOUSERD_WRAPPER") == NULL) {
                ck_assert_msg(dt_has_line(text, "Seccomp:\t2"), "%s", text);
            }
#endif
        }
    } else {
        ot_assert_ok(a);
        pid = json_object_get_int(ot_get(a, "pid"));
        json_object_put(a);
        reap(first);
    }
    ck_assert_uint_eq(ot_gpio_read(c), 0xa5);
    ot_gpio_check_client(ctl);
    finish(h, c, pid);
}
END_TEST

START_TEST(refused_upgrade_keeps_serving)
{
    struct harness *h = harness_new(configs[_i]);
    g_autofree char *ctl = ot_control_path(h);
    /* The old daemon writes a state format this binary does not know. */
    struct vfu_client *c = start_attached(h, devs, "VFIOUSERD_TEST_HANDOFF_VERSION", false,
                                          0x33);
    json_object *a;

    upgrade_refused(ctl, "EPROTO", "state format version 99");
    ck_assert_uint_eq(ot_gpio_read(c), 0x33);
    ot_gpio_check_client(ctl);

    /* A binary that is no daemon at all (sandboxed: no other binary). */
    a = ot_request(ctl, "{\"command\":\"upgrade\",\"exec\":\"/bin/false\"}");
    ck_assert(!ot_ok(a));
    ck_assert_msg(strstr(ot_str(a, "error"), _i == 1 ? "--exec is refused"
                                                     : "did not get ready") != NULL,
                  "%s", ot_str(a, "error"));
    json_object_put(a);
    ot_gpio_write(c, 0x44);
    ck_assert_uint_eq(ot_gpio_read(c), 0x44);
    ot_gpio_check_client(ctl);

    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    {
        g_autofree char *log = harness_log(h);

        ck_assert(dt_has_match(log, "refusing the hand-over: state format version 99"));
        ck_assert(dt_has_match(log, "upgrade refused, serving on"));
    }
    harness_free(h);
}
END_TEST


START_TEST(many_upgrades_fd_flat)
{
    struct harness *h = harness_new(configs[_i]);
    g_autofree char *ctl = ot_control_path(h);
    GArray *pauses = g_array_new(FALSE, FALSE, sizeof(double));
    struct vfu_client *c;
    int fds_warm = -1, fds_end;
    pid_t pid = 0;

    adopt();
    c = start_attached(h, devs, NULL, false, 0);
    for (int i = 0; i < MANY; i++) {
        pid_t old = pid;
        double p;

        pid = upgrade_ok(ctl, NULL, &p);
        if (old != 0) {
            reap(old);
        }
        g_array_append_val(pauses, p);
        ck_assert_uint_eq(ot_gpio_read(c), (uint8_t)i);
        ot_gpio_write(c, (uint8_t)(i + 1));
        if (i + 1 == WARMUP) {
            fds_warm = harness_fd_count(pid);
        }
    }
    fds_end = harness_fd_count(pid);
    ot_gpio_check_client(ctl);
    g_array_sort(pauses, cmp_double);
    fprintf(stderr, "upgrade (sandbox %s): %d fds after %d upgrades, %d after %d; "
            "pause ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n", _i ? "on" : "off",
            fds_warm, WARMUP, fds_end, MANY,
            g_array_index(pauses, double, MANY / 2),
            g_array_index(pauses, double, MANY * 9 / 10),
            g_array_index(pauses, double, MANY * 99 / 100),
            g_array_index(pauses, double, MANY - 1));
    ck_assert_int_gt(fds_warm, 0);
    ck_assert_int_eq(fds_end, fds_warm);
    g_array_unref(pauses);
    finish(h, c, pid);
}
END_TEST

static const char *const iso_configs[] = {
    "[daemon]\nsocket-dir = @SOCKDIR@\nsandbox = off\n"
    "[g0]\nplugin = gpio\nisolate = process\n",
    "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\nisolate = process\n",
};

/* VFU_ISOLATED_DEVICES=N (1 to 8, default 1) runs it with N isolated gpio
 * devices, each with a client, to measure how the pause grows with them
 * (vfiouserd(8) UPGRADE: their processes take over all at once). */
static unsigned isolated_devices(void)
{
    const char *v = getenv("VFU_ISOLATED_DEVICES");
    unsigned n = v != NULL ? (unsigned)strtoul(v, NULL, 10) : 1;

    return n >= 1 && n <= 8 ? n : 1;
}

START_TEST(isolated_survives_upgrade)
{
    unsigned n = isolated_devices();
    g_autoptr(GString) config = g_string_new(iso_configs[_i]);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    struct harness *h;
    g_autofree char *ctl = NULL;
    struct vfu_client *c, *more[8] = { NULL };
    double pauses[10], waits[10], daemon_pauses[10];
    int fds_warm = -1;
    pid_t pid = 0;

    g_ptr_array_add(names, g_strdup("g0"));
    for (unsigned d = 1; d < n; d++) {
        g_string_append_printf(config, "[g%u]\nplugin = gpio\nisolate = process\n", d);
        g_ptr_array_add(names, g_strdup_printf("g%u", d));
    }
    g_ptr_array_add(names, NULL);
    h = harness_new(config->str);
    ctl = ot_control_path(h);
    adopt();
    c = start_attached(h, (const char *const *)names->pdata, NULL, true, 0x40);
    for (unsigned d = 1; d < n; d++) {
        g_autofree char *mark = g_strdup_printf("[g%u] isolated process pid ", d);
        g_autofree char *sock = harness_socket(h, g_ptr_array_index(names, d));

        ck_assert(dt_wait_log(h, mark));
        more[d] = ot_gpio_attach(sock, (uint8_t)d);
    }
    for (int i = 0; i < 10; i++) {
        pid_t old = pid;
        double t0 = ot_now_ms();

        pid = upgrade_ok(ctl, NULL, &daemon_pauses[i]);
        /* The same connection, the device's state kept. */
        ck_assert_uint_eq(ot_gpio_read(c), (uint8_t)(0x40 + i));
        /* The client's view: the daemon's pause, and the device's
         * process taking over (before the new daemon's OK when it was
         * started before the pause, after it otherwise). */
        pauses[i] = ot_now_ms() - t0;
        /* Less the new daemon's start, when the old one still served: what
         * the client waited for. */
        waits[i] = pauses[i] - last_start_ms;
        for (unsigned d = 1; d < n; d++) {
            ck_assert_uint_eq(ot_gpio_read(more[d]), (uint8_t)d);
        }
        if (old != 0) {
            reap(old);
        }
        ot_gpio_write(c, (uint8_t)(0x40 + i + 1));
        /* Once its device's process has taken over and the daemon has read
         * what that process removed from its store (the used hand-over). */
        if (n > 1) {
            /* Several processes settle at their own pace: fds not counted. */
        } else if (i == 2) {
            fds_warm = ot_settled_fd_count(pid, -1);
        } else if (i > 2) {
            ck_assert_int_eq(ot_settled_fd_count(pid, fds_warm), fds_warm);
        }
    }
    /* Given the stored state: at its start, or started before the pause
     * (isolate_prestart) and given it there. */
    ck_assert(dt_wait_log(h, "its predecessor stored"));
    if (_i == 0) {
        /* Started before the pause (with the sandbox on too, since the
         * maps helper's channel is scoped in the pause: test_sandbox's
         * isolated_upgrade_maps_scoped asserts that case). */
        ck_assert(dt_wait_log(h, "took over the state its predecessor stored"));
    }
    qsort(pauses, 10, sizeof(pauses[0]), cmp_double);
    fprintf(stderr, "upgrade, isolated (sandbox %s, %u device%s): %d fds; request to the "
            "next read served, ms: min %.2f p50 %.2f p90 %.2f max %.2f; all",
            _i ? "on" : "off", n, n == 1 ? "" : "s", fds_warm, pauses[0], pauses[5],
            pauses[8], pauses[9]);
    for (int i = 0; i < 10; i++) {
        fprintf(stderr, " %.1f", pauses[i]);
    }
    qsort(waits, 10, sizeof(waits[0]), cmp_double);
    fprintf(stderr, "; after the new daemon's READY: min %.2f p50 %.2f p90 %.2f max %.2f",
            waits[0], waits[5], waits[8], waits[9]);
    qsort(daemon_pauses, 10, sizeof(daemon_pauses[0]), cmp_double);
    fprintf(stderr, "; the daemon's pause: p50 %.2f max %.2f", daemon_pauses[5],
            daemon_pauses[9]);
    fprintf(stderr, "\n");
    for (unsigned d = 1; d < n; d++) {
        vfu_client_close(more[d]);
    }
    finish(h, c, pid);
}
END_TEST

/* Refused after the process stored its state: the old daemon starts a new
 * process on it and serves on, the state kept. */
START_TEST(isolated_refused_upgrade_keeps_state)
{
    struct harness *h = harness_new(iso_configs[_i]);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = start_attached(h, devs, "VFIOUSERD_TEST_HANDOFF_VERSION", true,
                                          0x33);

    upgrade_refused(ctl, "EPROTO", NULL);
    ck_assert_uint_eq(ot_gpio_read(c), 0x33);
    ck_assert(dt_wait_log(h, "isolated process given the "));
    ot_gpio_write(c, 0x44);
    ck_assert_uint_eq(ot_gpio_read(c), 0x44);
    finish(h, c, 0);
}
END_TEST

/* The new daemon's process for the device, started before the pause,
 * refuses the state the old one stored (a format it cannot read): the
 * upgrade is refused and the old daemon serves on, its client on the same
 * connection.  (Its own next process refuses that state too: the client
 * is re-attached with the device reset, as after a crash.)  Sandbox off
 * only: the early start with the sandbox on is test_sandbox's. */
START_TEST(isolated_new_process_refuses_state)
{
    struct harness *h = harness_new(iso_configs[0]);
    g_autofree char *ctl = ot_control_path(h);
    struct vfu_client *c = start_attached(h, devs, "VFIOUSERD_TEST_CHILD_HANDOFF_VERSION",
                                          true, 0x21);

    upgrade_refused(ctl, "EPROTO", NULL);
    ck_assert(dt_wait_log(h, "before the pause"));
    ck_assert(dt_wait_log(h, "the new isolated process refused the state"));
    ot_gpio_write(c, 0x22);
    ck_assert_uint_eq(ot_gpio_read(c), 0x22);
    finish(h, c, 0);
}
END_TEST

/* A DEVICE_FEATURE SET (vfiouserd(8) UPGRADE lists what each state does). */
static int feature_set(struct vfu_client *c, uint32_t feature, const void *data,
                       size_t len)
{
    uint8_t msg[64], reply[64];
    struct vfio_user_device_feature f = {
        .argsz = (uint32_t)(sizeof(f) + len),
        .flags = VFIO_USER_DEVICE_FEATURE_SET | feature,
    };
    size_t rlen = sizeof(reply);

    ck_assert_uint_le(sizeof(f) + len, sizeof(msg));
    memcpy(msg, &f, sizeof(f));
    if (len > 0) {
        memcpy(msg + sizeof(f), data, len);
    }
    return vfu_client_call(c, VFIO_USER_DEVICE_FEATURE, msg, sizeof(f) + len, NULL, 0,
                           reply, &rlen, NULL, NULL);
}

static void mig_state(struct vfu_client *c, uint32_t state)
{
    struct vfio_user_device_feature_mig_state st = { .device_state = state };

    ck_assert_int_eq(feature_set(c, VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
                                 sizeof(st)), 0);
}

/* testdev's DMA engine (its BAR0; tests/protocol/proto.h has them all). */
#define TD_DMA_SRC_LO 0x100
#define TD_DMA_DST_LO 0x108
#define TD_DMA_LEN    0x110
#define TD_DMA_OP     0x114
#define TD_DMA_GO     0x120
#define TD_DMA_STATUS 0x124
#define TD_OP_TO_DEV  2
#define TD_ST_BUSY    (1u << 0)
#define TD_ST_DONE    (1u << 1)

static void td_set(struct vfu_client *c, uint64_t off, uint32_t v)
{
    ck_assert_int_eq(vfu_client_region_write(c, VFUD_REGION_BAR0, off, &v, 4, false), 0);
}

static uint32_t td_get(struct vfu_client *c, uint64_t off)
{
    uint32_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, VFUD_REGION_BAR0, off, &v, 4), 0);
    return v;
}

/* What an upgrade does at each point of the conversation (issue 13 item 4,
 * vfiouserd(8) UPGRADE), sandboxed: posted writes not yet served are
 * handed over and served in order; a migration in progress, dirty-page
 * logging, and a DMA_READ of ours waiting for the client's reply each
 * refuse it with EBUSY, the old process serving on, and once over the
 * upgrade goes through.  (Half a message: client_survives_upgrade.) */
START_TEST(protocol_states)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[g0]\nplugin = gpio\n[t0]\nplugin = testdev\n");
    static const char *const both[] = { "g0", "t0", NULL };
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *tsock = harness_socket(h, "t0");
    struct vfio_user_device_feature_dma_logging_control log = { .page_size = 4096 };
    struct vfu_client *c, *t;
    uint16_t cmd = 0;
    uint32_t st;
    pid_t pid, old;

    adopt();
    c = start_attached(h, both, NULL, false, 0x11);

    /* Posted writes: sent, none answered, the upgrade right behind. */
    for (unsigned i = 1; i <= 64; i++) {
        uint8_t v = (uint8_t)i;

        ck_assert_int_eq(vfu_client_region_write(c, VFUD_REGION_BAR2, OT_GPIO_OUT, &v, 1,
                                                 true), 0);
    }
    pid = upgrade_ok(ctl, NULL, NULL);
    ck_assert_uint_eq(ot_gpio_read(c), 64);
    ot_gpio_check_client(ctl);

    /* A migration in progress. */
    mig_state(c, VFIO_USER_DEVICE_STATE_STOP);
    upgrade_refused(ctl, "EBUSY", "[g0] a migration is in progress (state STOP)");
    mig_state(c, VFIO_USER_DEVICE_STATE_RUNNING);
    /* Dirty-page logging. */
    ck_assert_int_eq(feature_set(c, VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START, &log,
                                 sizeof(log)), 0);
    upgrade_refused(ctl, "EBUSY", "[g0] dirty-page logging is on");
    ck_assert_int_eq(feature_set(c, VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0),
                     0);
    ck_assert_uint_eq(ot_gpio_read(c), 64);
    old = pid;
    pid = upgrade_ok(ctl, NULL, NULL);
    reap(old);
    ck_assert_uint_eq(ot_gpio_read(c), 64);

    /* A DMA_READ of ours waits for the client's reply: testdev reads guest
     * memory the client serves by messages, and the client does not serve
     * it until the refusal. */
    t = dt_client(tsock);
    ck_assert_ptr_nonnull(vfu_client_add_memory(t, 0x100000, 0x10000, false));
    ck_assert_int_eq(vfu_client_cfg_read16(t, 0x04, &cmd), 0);
    ck_assert_int_eq(vfu_client_cfg_write16(t, 0x04, cmd | 0x6), 0); /* memory, master */
    td_set(t, TD_DMA_SRC_LO, 0x100000);
    td_set(t, TD_DMA_DST_LO, 0);
    td_set(t, TD_DMA_LEN, 0x100);
    td_set(t, TD_DMA_OP, TD_OP_TO_DEV);
    td_set(t, TD_DMA_GO, 1);
    {
        /* The DMA_READ is on our socket: the request waits for us. */
        struct pollfd p = { .fd = vfu_client_fd(t), .events = POLLIN };

        ck_assert_int_eq(poll(&p, 1, DT_WAIT_MS), 1);
    }
    upgrade_refused(ctl, "EBUSY", "[t0] the client connection cannot be moved now: a request "
                      "of ours waits for its reply");
    for (int i = 0; (st = td_get(t, TD_DMA_STATUS)) & TD_ST_BUSY; i++) {
        ck_assert_int_lt(i, 5000);
        vfu_client_serve(t, 1);
    }
    ck_assert_uint_eq(st & TD_ST_DONE, TD_ST_DONE);
    old = pid;
    pid = upgrade_ok(ctl, NULL, NULL);
    reap(old);
    ck_assert_uint_eq(ot_gpio_read(c), 64);
    ot_gpio_check_client(ctl);
    td_set(t, TD_DMA_GO, 1);
    for (int i = 0; (st = td_get(t, TD_DMA_STATUS)) & TD_ST_BUSY; i++) {
        ck_assert_int_lt(i, 5000);
        vfu_client_serve(t, 1);
    }
    ck_assert_uint_eq(st & TD_ST_DONE, TD_ST_DONE);

    vfu_client_close(t);
    finish(h, c, pid);
}
END_TEST
#endif /* !UPGRADE_SKEW */

#ifdef UPGRADE_SKEW
/* Version skew: the daemon of an earlier commit (built by
 * build-release.sh, see main) hands its client over to this tree's
 * daemon by --exec.  That commit refuses an upgrade under the sandbox:
 * sandbox = off. */
#define SKEW_COMMIT "b414ef7"

START_TEST(upgrade_from_previous_release)
{
    struct harness *h = harness_new(configs[0]);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *exe_link = NULL;
    g_autofree char *exe = NULL;
    struct vfu_client *c;
    pid_t pid;

    adopt();
    c = start_attached(h, devs, NULL, false, 0x3c);
    {
        /* The client is attached to the earlier commit's daemon. */
        g_autofree char *old_link = g_strdup_printf("/proc/%d/exe", (int)h->pid);
        g_autofree char *old_exe = g_file_read_link(old_link, NULL);

        ck_assert_ptr_nonnull(old_exe);
        ck_assert_str_eq(old_exe, getenv("VFIOUSERD"));
    }
    ot_gpio_check_client(ctl);
    pid = upgrade_ok(ctl, BUILDDIR "/daemon/vfiouserd", NULL);
    /* The new process is this tree's daemon... */
    exe_link = g_strdup_printf("/proc/%d/exe", (int)pid);
    exe = g_file_read_link(exe_link, NULL);
    ck_assert_ptr_nonnull(exe);
    ck_assert_str_eq(exe, BUILDDIR "/daemon/vfiouserd");
    /* ...and serves the same connection: value, window, eventfd. */
    ck_assert_uint_eq(ot_gpio_read(c), 0x3c);
    ot_gpio_check_client(ctl);
    ot_gpio_write(c, 0xc3);
    ck_assert_uint_eq(ot_gpio_read(c), 0xc3);
    {
        g_autofree char *log = harness_log(h);

        ck_assert(dt_has_match(log, "upgrade: took over every device"));
    }
    finish(h, c, pid);
}
END_TEST

static Suite *upgrade_suite(void)
{
    Suite *s = suite_create("upgrade-skew");
    TCase *tc = tcase_create("skew");

    tcase_add_test(tc, upgrade_from_previous_release);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

/* Build the earlier daemon (kept between runs) and run it: 77 when it
 * cannot be built here (the script says why). */
static int use_release(void)
{
    g_autofree char *out = g_strdup_printf("%s/tests/ops/release-%s", BUILDDIR,
                                           SKEW_COMMIT);
    g_autofree char *cmd = g_strdup_printf("sh '%s/tests/ops/build-release.sh' '%s' %s '%s'",
                                           SRCDIR, SRCDIR, SKEW_COMMIT, out);
    g_autofree char *daemon = g_strdup_printf("%s/daemon/vfiouserd", out);
    g_autofree char *plugins = g_strdup_printf("%s/plugins/.libs", out);
    int st = system(cmd);

    if (!WIFEXITED(st)) {
        return 1;
    }
    if (WEXITSTATUS(st) != 0) {
        return WEXITSTATUS(st);
    }
    g_setenv("VFIOUSERD", daemon, TRUE);
    g_setenv("VFIOUSERD_PLUGIN_DIR", plugins, TRUE);
    return 0;
}
#else
static Suite *upgrade_suite(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("upgrade");

    tcase_add_loop_test(tc, client_survives_upgrade, 0, 2);
    tcase_add_loop_test(tc, refused_upgrade_keeps_serving, 0, 2);
    tcase_add_loop_test(tc, many_upgrades_fd_flat, 0, 2);
    tcase_add_test(tc, protocol_states);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    /* Its own case: CK_RUN_CASE=isolated runs it alone. */
    tc = tcase_create("isolated");
    tcase_add_loop_test(tc, isolated_survives_upgrade, 0, 2);
    tcase_add_loop_test(tc, isolated_refused_upgrade_keeps_state, 0, 2);
    tcase_add_test(tc, isolated_new_process_refuses_state);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
#endif

int main(void)
{
    SRunner *sr;
    int failed;

#ifdef UPGRADE_SKEW
    failed = use_release();
    if (failed != 0) {
        return failed;
    }
#endif
    sr = srunner_create(upgrade_suite());
    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
