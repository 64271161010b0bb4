/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices changed while the daemon runs: add and remove (refused while a
 * client is attached unless forced, which detaches it), reload (sections
 * added, removed, changed and unchanged; changes to devices with a client
 * wait; an invalid file or a section its plugin rejects changes nothing;
 * SIGHUP), devices added at run time kept by a reload, a remove that does
 * not wait for a stalled device, and the traffic of a busy client on
 * another device while all this happens (its round trips never stall).
 */
#include "config.h"

#include "ops_test.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <vfiouserd/plugin.h>

/* testdev's BAR0 registers (plugins/testdev/testdev.c). */
#define TESTDEV_ID 0x7e57de01u
#define REG_ID 0x000
#define REG_MAGIC_LO 0x008
#define REG_SCRATCH 0x010
#define REG_STALL_MS 0x034

static void write_config(struct harness *h, const char *text)
{
    g_autofree char *t = NULL;
    g_auto(GStrv) parts = g_strsplit(text, "@SOCKDIR@", -1);

    t = g_strjoinv(h->sock_dir, parts);
    ck_assert(g_file_set_contents(h->config_path, t, -1, NULL));
}

static ino_t inode(const char *path)
{
    struct stat st;

    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, g_strerror(errno));
    return st.st_ino;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Does the device answer with its ID, and the magic given? */
static void expect_testdev(struct vfu_client *c, uint32_t magic)
{
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_ID), TESTDEV_ID);
    ck_assert_uint_eq(dt_read32(c, VFUD_REGION_BAR0, REG_MAGIC_LO), magic);
}

/* The client's connection has been closed by the daemon. */
static void expect_dropped(struct vfu_client *c)
{
    uint32_t v;
    int r = vfu_client_region_read(c, VFUD_REGION_BAR0, REG_ID, &v, sizeof(v));

    ck_assert_msg(r < 0, "the client still works after a forced remove");
}

START_TEST(add_and_remove)
{
    static const char *const devs[] = { "g0", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n",
                                 NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t1 = harness_socket(h, "t1");
    g_autofree char *t2 = harness_socket(h, "t2");
    g_autofree char *out = NULL;
    struct vfu_client *c;
    json_object *a;

    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t1\",\"keys\":"
                        "[\"plugin=testdev\",\"magic = 0x1234\"]}");
    ot_assert_ok(a);
    ck_assert_str_eq(ot_str(a, "socket"), t1);
    json_object_put(a);
    ck_assert(exists(t1));
    c = dt_client(t1);
    expect_testdev(c, 0x1234);

    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t1\"}");
    ck_assert_str_eq(ot_str(a, "devices.0.origin"), "runtime");
    ck_assert_str_eq(ot_str(a, "devices.0.state"), "connected");
    json_object_put(a);

    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t1\",\"keys\":[\"plugin=gpio\"]}");
    ot_assert_error(a, "EEXIST");
    json_object_put(a);
    /* The plugin's own verdict comes back with the answer. */
    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t2\",\"keys\":"
                        "[\"plugin=testdev\",\"bogus=1\"]}");
    ot_assert_error(a, "EINVAL");
    ck_assert_str_eq(json_object_get_string(ot_get(a, "errors.0")),
                     "vfiouserctl add: [t2] unknown key 'bogus'");
    json_object_put(a);
    ck_assert(!exists(t2));
    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t2\",\"keys\":[\"magic=1\"]}");
    ot_assert_error(a, "EINVAL");
    json_object_put(a);

    /* Not while a client is attached... */
    a = ot_request(ctl, "{\"command\":\"remove\",\"device\":\"t1\"}");
    ot_assert_error(a, "EBUSY");
    ck_assert_msg(strstr(ot_str(a, "error"), "a client is attached (pid ") != NULL &&
                      strstr(ot_str(a, "error"), "--force") != NULL,
                  "%s", ot_str(a, "error"));
    json_object_put(a);
    expect_testdev(c, 0x1234);
    /* ...unless forced: the client is detached, the device destroyed. */
    a = ot_request(ctl, "{\"command\":\"remove\",\"device\":\"t1\",\"force\":true}");
    ot_assert_ok(a);
    json_object_put(a);
    expect_dropped(c);
    vfu_client_close(c);
    ck_assert(!exists(t1));
    ck_assert(harness_log_contains(h, "[t1] client disconnected (device removed by "
                                      "the operator)"));
    a = ot_request(ctl, "{\"command\":\"remove\",\"device\":\"t1\"}");
    ot_assert_error(a, "ENOENT");
    json_object_put(a);

    /* The same through vfiouserctl. */
    {
        const char *add[] = { "-s", ctl, "add", "g1", "plugin=gpio", "inputs=0x3", NULL };
        const char *rm[] = { "-s", ctl, "remove", "g1", NULL };
        g_autofree char *g1 = harness_socket(h, "g1");

        ck_assert_int_eq(ot_ctl(add, &out), 0);
        ck_assert_msg(g_str_has_prefix(out, "added g1, listening on "), "%s", out);
        ck_assert(exists(g1));
        g_free(out);
        ck_assert_int_eq(ot_ctl(rm, &out), 0);
        ck_assert_str_eq(out, "removed g1\n");
        ck_assert(!exists(g1));
        g_free(out);
        ck_assert_int_eq(ot_ctl(rm, &out), 1);
        ck_assert_str_eq(out, "vfiouserctl: no device g1\n");
    }
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

/* remove --force of a device whose thread is stuck in a plugin callback:
 * the control socket keeps answering meanwhile. */
START_TEST(remove_does_not_wait)
{
    static const char *const devs[] = { "t0", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                 "callback-warn-ms = 0\n[t0]\nplugin = testdev\n",
                                 NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t0 = harness_socket(h, "t0");
    struct vfu_client *c = dt_client(t0);
    uint32_t stall = 2000;
    int fd = ot_connect(ctl);
    double t_start, t_list, t_removed;
    json_object *a;

    /* Posted: the device thread sleeps 2 s in region_write. */
    ck_assert_int_eq(vfu_client_region_write(c, VFUD_REGION_BAR0, REG_STALL_MS, &stall,
                                             sizeof(stall), true), 0);
    g_usleep(100000);
    t_start = ot_now_ms();
    {
        static const char rq[] = "{\"command\":\"remove\",\"device\":\"t0\",\"force\":true}\n";

        ot_send(fd, rq, strlen(rq));
    }
    a = ot_request(ctl, "{\"command\":\"list\"}");
    t_list = ot_now_ms();
    ot_assert_ok(a);
    ck_assert_str_eq(ot_str(a, "devices.0.state"), "stopping");
    json_object_put(a);
    a = ot_answer(fd);
    t_removed = ot_now_ms();
    ot_assert_ok(a);
    json_object_put(a);
    ot_close(fd);
    fprintf(stderr, "remove_does_not_wait: list answered after %.1f ms, remove after "
            "%.1f ms (device stalled 2000 ms)\n", t_list - t_start, t_removed - t_start);
    if (!harness_wrapped()) {
        ck_assert_msg(t_list - t_start < 500, "list took %.0f ms", t_list - t_start);
    }
    ck_assert_msg(t_removed - t_start > 1000, "remove did not wait for the device");
    vfu_client_close(c);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

static const char reload_before[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[g0]\n"
    "plugin = gpio\n"
    "[t0]\n"
    "plugin = testdev\n"
    "magic = 1\n"
    "[t1]\n"
    "plugin = testdev\n"
    "magic = 1\n"
    "[g1]\n"
    "plugin = gpio\n";

START_TEST(reload_changes)
{
    static const char *const devs[] = { "g0", "t0", "t1", "g1", NULL };
    struct harness *h = ot_start(reload_before, NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *g0 = harness_socket(h, "g0");
    g_autofree char *t0 = harness_socket(h, "t0");
    g_autofree char *t1 = harness_socket(h, "t1");
    g_autofree char *g1 = harness_socket(h, "g1");
    g_autofree char *g2 = harness_socket(h, "g2");
    g_autofree char *after = g_strdup_printf(
        "[daemon]\n"
        "socket-dir = @SOCKDIR@\n"
        "[g0]\n"
        "plugin = gpio\n"
        "allowed-uids = %u\n"   /* a setting: updated in place */
        "[t0]\n"
        "plugin = testdev\n"
        "magic = 1\n"           /* unchanged */
        "[t1]\n"
        "plugin = testdev\n"
        "magic = 2\n"           /* changed, but t1 has a client */
        "[g2]\n"
        "plugin = gpio\n",      /* new; g1 is gone */
        (unsigned)geteuid());
    ino_t ino_g0 = inode(g0), ino_t0 = inode(t0), ino_t1 = inode(t1);
    struct vfu_client *c0 = dt_client(t0);
    struct vfu_client *c1 = dt_client(t1);
    json_object *a;

    dt_write32(c0, VFUD_REGION_BAR0, REG_SCRATCH, 0xabcd);
    write_config(h, after);
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "added", "g2"));
    ck_assert(ot_list_has(a, "removed", "g1"));
    ck_assert(ot_list_has(a, "updated", "g0"));
    ck_assert(ot_list_has(a, "unchanged", "t0"));
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "recreated")), 0);
    ck_assert_str_eq(ot_str(a, "pending.0.device"), "t1");
    ck_assert_str_eq(ot_str(a, "pending.0.change"), "recreate");
    json_object_put(a);

    ck_assert(!exists(g1));
    ck_assert(exists(g2));
    ck_assert_uint_eq(inode(g0), ino_g0);
    ck_assert_uint_eq(inode(t0), ino_t0);
    ck_assert_uint_eq(inode(t1), ino_t1);
    /* The clients never noticed; t1 still runs its old configuration. */
    expect_testdev(c0, 1);
    ck_assert_uint_eq(dt_read32(c0, VFUD_REGION_BAR0, REG_SCRATCH), 0xabcd);
    expect_testdev(c1, 1);
    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"g0\"}");
    ck_assert_int_eq(json_object_get_int(ot_get(a, "devices.0.access.allowed_uids.0")),
                     (int)geteuid());
    json_object_put(a);

    /* Once t1's client has gone, the next reload recreates it. */
    vfu_client_close(c1);
    ot_wait_state(ctl, "t1", "listening");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "recreated", "t1"));
    ck_assert(ot_list_has(a, "unchanged", "g0"));
    ck_assert(ot_list_has(a, "unchanged", "t0"));
    ck_assert(ot_list_has(a, "unchanged", "g2"));
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "pending")), 0);
    json_object_put(a);
    /* (Not by its inode: the new socket may reuse the old one's number.) */
    c1 = dt_client(t1);
    expect_testdev(c1, 2);
    vfu_client_close(c1);
    expect_testdev(c0, 1);
    vfu_client_close(c0);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

/* A bad file, or a section its plugin rejects: nothing changes at all. */
START_TEST(reload_refused)
{
    static const char *const devs[] = { "g0", "t0", "t1", "g1", NULL };
    struct harness *h = ot_start(reload_before, NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t1 = harness_socket(h, "t1");
    g_autofree char *g2 = harness_socket(h, "g2");
    g_autofree char *re = NULL;
    ino_t ino_t1 = inode(t1);
    json_object *a;

    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n"
                    "this is not ini\n");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_error(a, "EINVAL");
    re = g_strdup_printf("%s:5: syntax error", h->config_path);
    ck_assert_msg(g_str_has_prefix(json_object_get_string(ot_get(a, "errors.0")), re),
                  "%s", json_object_to_json_string(a));
    json_object_put(a);

    /* Valid syntax; t1 changed with a key testdev rejects, g2 new and
     * failing in realize, g1 removed: none of it happens. */
    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\n"
                    "[g0]\nplugin = gpio\n"
                    "[t0]\nplugin = testdev\nmagic = 1\n"
                    "[t1]\nplugin = testdev\nmagic = 1\ncolour = blue\n"
                    "[g2]\nplugin = testdev\nfail-realize = yes\n");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_error(a, "EINVAL");
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "errors")), 2);
    json_object_put(a);
    ck_assert_uint_eq(inode(t1), ino_t1);
    ck_assert(!exists(g2));
    a = ot_request(ctl, "{\"command\":\"list\"}");
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "devices")), 4);
    json_object_put(a);

    /* No devices at all is an error too. */
    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\n");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_error(a, "EINVAL");
    json_object_put(a);

    /* A vanished file. */
    ck_assert_int_eq(unlink(h->config_path), 0);
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_error(a, "ENOENT");
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"list\"}");
    ck_assert_uint_eq(json_object_array_length(ot_get(a, "devices")), 4);
    json_object_put(a);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

START_TEST(reload_on_sighup)
{
    static const char *const devs[] = { "g0", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n",
                                 NULL, devs);
    g_autofree char *g5 = harness_socket(h, "g5");

    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n"
                    "[g5]\nplugin = gpio\n");
    ck_assert_int_eq(kill(h->pid, SIGHUP), 0);
    ck_assert(dt_wait_log(h, "1 added, 0 removed, 0 recreated, 0 updated, 1 unchanged"));
    ck_assert(exists(g5));

    write_config(h, "[g0]\nplugin = gpio\nwat\n");
    ck_assert_int_eq(kill(h->pid, SIGHUP), 0);
    ck_assert(dt_wait_log(h, "SIGHUP: "));
    ck_assert(harness_log_contains(h, "not reloaded, nothing changed"));
    ck_assert(exists(g5));
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

/* What vfiouserctl add made is not the file's: a reload leaves it alone,
 * until the file defines a device of that name. */
START_TEST(runtime_devices_survive_reload)
{
    static const char *const devs[] = { "g0", NULL };
    struct harness *h = ot_start("[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n",
                                 NULL, devs);
    g_autofree char *ctl = ot_control_path(h);
    g_autofree char *t7 = harness_socket(h, "t7");
    struct vfu_client *c;
    json_object *a;

    a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"t7\",\"keys\":"
                        "[\"plugin=testdev\",\"magic=7\"]}");
    ot_assert_ok(a);
    json_object_put(a);
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "runtime", "t7"));
    ck_assert(ot_list_has(a, "unchanged", "g0"));
    json_object_put(a);
    ck_assert(exists(t7));

    write_config(h, "[daemon]\nsocket-dir = @SOCKDIR@\n[g0]\nplugin = gpio\n"
                    "[t7]\nplugin = testdev\nmagic = 8\n");
    a = ot_request(ctl, "{\"command\":\"reload\"}");
    ot_assert_ok(a);
    ck_assert(ot_list_has(a, "recreated", "t7"));
    json_object_put(a);
    c = dt_client(t7);
    expect_testdev(c, 8);
    vfu_client_close(c);
    a = ot_request(ctl, "{\"command\":\"status\",\"device\":\"t7\"}");
    ck_assert_str_eq(ot_str(a, "devices.0.origin"), "config");
    json_object_put(a);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * A busy client's round trips while devices come and go
 */
/* A round trip this long counts as slow. */
#define SLOW_MS 20

struct prober {
    char *path;
    volatile bool stop;
    volatile bool measuring;
    unsigned long count, errors;
    double max_ms, sum_ms;
    unsigned long slow;   /* round trips over SLOW_MS */
    GArray *samples; /* double, while measuring */
};

static gpointer probe_thread(gpointer data)
{
    struct prober *p = data;
    struct vfu_client *c = NULL;

    ck_assert_int_eq(vfu_client_connect(p->path, &c), 0);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
    while (!p->stop) {
        double t0 = ot_now_ms(), dt;
        uint32_t v = 0;

        if (vfu_client_region_read(c, VFUD_REGION_BAR0, REG_ID, &v, sizeof(v)) < 0 ||
            v != TESTDEV_ID) {
            p->errors++;
        }
        dt = ot_now_ms() - t0;
        if (p->measuring) {
            p->count++;
            p->slow += dt > SLOW_MS;
            p->sum_ms += dt;
            p->max_ms = MAX(p->max_ms, dt);
            g_array_append_val(p->samples, dt);
        }
    }
    vfu_client_close(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void report(const char *what, struct prober *p, double elapsed_ms)
{
    double p99 = 0;

    if (p->samples->len > 0) {
        qsort(p->samples->data, p->samples->len, sizeof(double), cmp_double);
        p99 = g_array_index(p->samples, double, (p->samples->len * 99) / 100);
    }
    fprintf(stderr, "traffic %s: %lu round trips in %.0f ms, mean %.3f ms, p99 %.3f ms, "
            "max %.3f ms, %lu over %d ms, %lu errors\n", what, p->count, elapsed_ms,
            p->count > 0 ? p->sum_ms / (double)p->count : 0.0, p99, p->max_ms,
            p->slow, SLOW_MS, p->errors);
}

static void measure_reset(struct prober *p)
{
    p->measuring = false;
    g_usleep(1000);
    p->count = 0;
    p->errors = 0;
    p->max_ms = 0;
    p->sum_ms = 0;
    p->slow = 0;
    g_array_set_size(p->samples, 0);
}

START_TEST(traffic_during_changes)
{
    static const char *const devs[] = { "t0", "t1", NULL };
    static const char base[] =
        "[daemon]\nsocket-dir = @SOCKDIR@\n"
        "[t0]\nplugin = testdev\n"
        "[t1]\nplugin = testdev\nmagic = %d\n"
        "%s";
    struct harness *h = NULL;
    g_autofree char *ctl = NULL;
    struct prober p = { 0 };
    GThread *th;
    double t0, elapsed, base_slow_per_s;
    struct vfu_client *stuck;
    int remover;
    unsigned ops = 0;
    g_autofree char *first = g_strdup_printf(base, 0, "");

    h = ot_start(first, NULL, devs);
    ctl = ot_control_path(h);
    p.path = harness_socket(h, "t0");
    p.samples = g_array_new(FALSE, FALSE, sizeof(double));
    th = g_thread_new("probe", probe_thread, &p);

    /* Baseline: one second of nothing but the busy client. */
    g_usleep(200000);
    p.measuring = true;
    t0 = ot_now_ms();
    g_usleep(1000000);
    p.measuring = false;
    report("baseline", &p, ot_now_ms() - t0);
    base_slow_per_s = (double)p.slow / ((ot_now_ms() - t0) / 1000.0);
    ck_assert_uint_gt(p.count, 0);
    measure_reset(&p);

    /* First a device stuck for 1.5 s in a plugin callback is removed
     * (--force): the operations below queue behind it.  Then reloads
     * adding four devices, recreating t1 and removing them again, and
     * adds/removes through the control socket, back to back. */
    {
        json_object *a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"stuck\","
                                         "\"keys\":[\"plugin=testdev\"]}");
        g_autofree char *path = harness_socket(h, "stuck");
        uint32_t ms = 1500;

        ot_assert_ok(a);
        json_object_put(a);
        stuck = dt_client(path);
        ck_assert_int_eq(vfu_client_region_write(stuck, VFUD_REGION_BAR0, REG_STALL_MS,
                                                 &ms, sizeof(ms), true), 0);
        g_usleep(50000);
    }
    p.measuring = true;
    t0 = ot_now_ms();
    remover = ot_connect(ctl);
    {
        static const char rq[] = "{\"command\":\"remove\",\"device\":\"stuck\","
                                 "\"force\":true}\n";

        ot_send(remover, rq, strlen(rq));
    }
    for (int round = 0; round < 25; round++) {
        g_autofree char *more = g_strdup_printf(base, round + 1,
                                                "[a0]\nplugin = gpio\n"
                                                "[a1]\nplugin = testdev\n"
                                                "[a2]\nplugin = gpio\n"
                                                "[a3]\nplugin = testdev\n");
        g_autofree char *less = g_strdup_printf(base, round + 100, "");
        json_object *a;

        write_config(h, more);
        a = ot_request(ctl, "{\"command\":\"reload\"}");
        ot_assert_ok(a);
        ck_assert(ot_list_has(a, "recreated", "t1"));
        ck_assert(ot_list_has(a, "unchanged", "t0"));
        json_object_put(a);
        a = ot_request(ctl, "{\"command\":\"add\",\"device\":\"x%d\",\"keys\":"
                            "[\"plugin=testdev\"]}", round);
        ot_assert_ok(a);
        json_object_put(a);
        a = ot_request(ctl, "{\"command\":\"status\"}");
        ot_assert_ok(a);
        json_object_put(a);
        a = ot_request(ctl, "{\"command\":\"remove\",\"device\":\"x%d\"}", round);
        ot_assert_ok(a);
        json_object_put(a);
        write_config(h, less);
        a = ot_request(ctl, "{\"command\":\"reload\"}");
        ot_assert_ok(a);
        ck_assert_uint_eq(json_object_array_length(ot_get(a, "removed")), 4);
        json_object_put(a);
        ops += 5;
    }
    {
        json_object *a = ot_answer(remover);

        ot_assert_ok(a);
        json_object_put(a);
        ot_close(remover);
        vfu_client_close(stuck);
    }
    p.measuring = false;
    elapsed = ot_now_ms() - t0;
    report("during a stuck device's removal, 50 reloads, 25 adds, 25 removes", &p,
           elapsed);
    p.stop = true;
    g_thread_join(th);
    ck_assert_uint_eq(p.errors, 0);
    ck_assert_uint_gt(p.count, ops);
    /* No stall: nothing near a second (a design that paused the other
     * devices while one stops would show the stuck one's 1.5 s), and no
     * more slow round trips than the machine's own hiccups explain.  Under
     * a wrapper (valgrind runs one thread at a time) only the first holds. */
    ck_assert_msg(p.max_ms < (harness_wrapped() ? 5000.0 : 1000.0),
                  "a round trip on t0 took %.1f ms during the changes", p.max_ms);
    if (!harness_wrapped()) {
        double allowed = 5.0 + 3.0 * base_slow_per_s * elapsed / 1000.0;

        ck_assert_msg((double)p.slow <= allowed, "%lu round trips over %d ms during "
                      "the changes (at most %.0f expected)", p.slow, SLOW_MS, allowed);
    }
    g_array_unref(p.samples);
    g_free(p.path);
    ot_stop_ok(h);
    harness_free(h);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("changes");

    tcase_add_test(tc, add_and_remove);
    tcase_add_test(tc, remove_does_not_wait);
    tcase_add_test(tc, reload_changes);
    tcase_add_test(tc, reload_refused);
    tcase_add_test(tc, reload_on_sighup);
    tcase_add_test(tc, runtime_devices_survive_reload);
    tcase_add_test(tc, traffic_during_changes);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(runtime_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
