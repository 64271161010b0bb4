/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration tool (vfud-migrate, i.e. vfiouserctl migrate): moves a
 * device between two daemons by itself, for each plugin; options; refusal
 * while another client is attached; a refused stream rolls back; and the
 * measurements of the report (stream bytes, save and load time, how long
 * the device is stopped).
 */
#include "config.h"

#include "ctl_migrate.h"
#include "migtest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct two {
    struct harness *hs, *hd;
    char *ps, *pd; /* socket paths */
};

static void two_start(struct two *t, const char *src_keys, const char *dst_keys)
{
    t->hs = pt_start_testdev(src_keys);
    t->hd = pt_start_testdev(dst_keys);
    t->ps = harness_socket(t->hs, "t0");
    t->pd = harness_socket(t->hd, "t0");
}

static void two_finish(struct two *t)
{
    pt_finish(t->hs);
    pt_finish(t->hd);
    g_free(t->ps);
    g_free(t->pd);
}

/* Run the tool and wait until both daemons saw it leave (a client that
 * connects at once could otherwise be refused as a second client). */
static int run_tool(struct harness *hs, struct harness *hd, const char *const *args,
                    char **out)
{
    struct harness *hh[2] = { hs, hd };
    unsigned conn[2], disc[2];
    int r;

    for (unsigned i = 0; i < 2; i++) {
        conn[i] = pt_log_count(hh[i], "client connected");
        disc[i] = pt_log_count(hh[i], "client disconnected");
    }
    r = mt_run_tool(args, out);
    for (unsigned i = 0; i < 2; i++) {
        pt_log_wait_count(hh[i], "client disconnected",
                          disc[i] + pt_log_count(hh[i], "client connected") - conn[i]);
    }
    return r;
}

/* A testdev with a state, then left without a client. */
static void prepare_source(struct harness *h, uint32_t seed)
{
    struct vfu_client *c = pt_open(h, "t0");

    pt_bar0_set(c, TD_SCRATCH, seed);
    pt_bar0_set(c, TD_DMA_LEN, seed >> 16);
    pt_wr32(c, PT_BAR2, 0x4000, ~seed);
    pt_cfg16_set(c, PCI_COMMAND, PCI_COMMAND_MEMORY);
    pt_close_wait(h, c);
}

static void expect_state(struct harness *h, uint32_t seed, uint32_t mig_state)
{
    struct vfu_client *c = pt_open(h, "t0");

    ck_assert_uint_eq(mt_get(c), mig_state);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), seed);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_LEN), seed >> 16);
    ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x4000), ~seed);
    ck_assert_uint_eq(pt_cfg16(c, PCI_COMMAND), PCI_COMMAND_MEMORY);
    pt_close_wait(h, c);
}

START_TEST(test_tool_testdev)
{
    struct two t;
    g_autofree char *out = NULL;
    const char *args[3];
    struct vfu_client *c;

    two_start(&t, NULL, NULL);
    prepare_source(t.hs, 0x12345678);
    args[0] = t.ps;
    args[1] = t.pd;
    args[2] = NULL;
    ck_assert_msg(run_tool(t.hs, t.hd, args, &out) == 0, "vfud-migrate failed:\n%s", out);
    fprintf(stderr, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "stream:"));
    ck_assert_ptr_nonnull(strstr(out, "device stopped:"));
    ck_assert_ptr_nonnull(strstr(out, "source:           stopped (STOP)"));
    expect_state(t.hd, 0x12345678, MT_RUNNING);
    /* The source stays stopped, its state readable but frozen. */
    c = pt_open(t.hs, "t0");
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x12345678);
    pt_close_wait(t.hs, c);
    two_finish(&t);
}
END_TEST

START_TEST(test_tool_options)
{
    struct two t;
    g_autofree char *out = NULL;
    const char *args[6] = { "--pre-copy", "--reset-source", "--chunk=1000", NULL };
    struct vfu_client *c;
    unsigned chunks = 0;
    unsigned long long bytes = 0;
    const char *p;

    two_start(&t, NULL, NULL);
    prepare_source(t.hs, 0x0abc0def);
    args[3] = t.ps;
    args[4] = t.pd;
    args[5] = NULL;
    ck_assert_msg(run_tool(t.hs, t.hd, args, &out) == 0, "vfud-migrate failed:\n%s", out);
    p = strstr(out, "stream:");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "stream: %llu bytes in %u chunks", &bytes, &chunks), 2);
    ck_assert_uint_eq(chunks, (bytes + 999) / 1000);
    expect_state(t.hd, 0x0abc0def, MT_RUNNING);
    /* Reset source: running, from power-on state. */
    c = pt_open(t.hs, "t0");
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
    pt_close_wait(t.hs, c);
    two_finish(&t);
}
END_TEST

START_TEST(test_tool_gpio)
{
    struct harness *hs = pt_start_gpio();
    struct harness *hd = pt_start_gpio();
    g_autofree char *ps = harness_socket(hs, "g0");
    g_autofree char *pd = harness_socket(hd, "g0");
    g_autofree char *out = NULL;
    const char *args[] = { "-q", ps, pd, NULL };
    struct vfu_client *c = pt_open(hs, "g0");
    uint8_t v = 0x3c;

    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR2, 4, &v, 1, false), 0);
    pt_close_wait(hs, c);
    ck_assert_msg(run_tool(hs, hd, args, &out) == 0, "vfud-migrate failed:\n%s", out);
    ck_assert_str_eq(out, "");
    c = pt_open(hd, "g0");
    v = 0;
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR2, 4, &v, 1), 0);
    ck_assert_uint_eq(v, 0x3c);
    vfu_client_close(c);
    pt_finish(hs);
    pt_finish(hd);
}
END_TEST

START_TEST(test_tool_client_attached)
{
    struct two t;
    g_autofree char *out = NULL;
    const char *args[3];
    struct vfu_client *q;

    two_start(&t, NULL, NULL);
    /* "QEMU" is attached to the source: the tool cannot be its client. */
    q = pt_open(t.hs, "t0");
    pt_bar0_set(q, TD_SCRATCH, 0x42);
    args[0] = t.ps;
    args[1] = t.pd;
    args[2] = NULL;
    ck_assert_int_eq(run_tool(t.hs, t.hd, args, &out), 1);
    ck_assert_msg(strstr(out, "another client") != NULL, "%s", out);
    /* Nothing happened to it. */
    ck_assert_uint_eq(mt_get(q), MT_RUNNING);
    ck_assert_uint_eq(pt_bar0(q, TD_SCRATCH), 0x42);
    vfu_client_close(q);
    two_finish(&t);
}
END_TEST

START_TEST(test_tool_refused_rolls_back)
{
    struct two t;
    g_autofree char *out = NULL;
    const char *args[3];
    struct vfu_client *c;

    /* A differently configured destination refuses the stream. */
    two_start(&t, "magic = 1", "magic = 2");
    prepare_source(t.hs, 0x600d600d);
    c = pt_open(t.hd, "t0");
    pt_bar0_set(c, TD_SCRATCH, 0xd57);
    pt_close_wait(t.hd, c);
    args[0] = t.ps;
    args[1] = t.pd;
    args[2] = NULL;
    ck_assert_int_eq(run_tool(t.hs, t.hd, args, &out), 1);
    ck_assert_msg(strstr(out, "aborted; the source is back in RUNNING") != NULL, "%s",
                  out);
    /* Both as before: the source runs with its state, the destination
     * kept its own. */
    expect_state(t.hs, 0x600d600d, MT_RUNNING);
    c = pt_open(t.hd, "t0");
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0xd57);
    pt_close_wait(t.hd, c);
    two_finish(&t);
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Migrate back and forth n times with the tool's function and print the
 * medians: what the issue asks the report to state. */
static void measure(const char *plugin, struct harness *ha, struct harness *hb,
                    const char *dev)
{
    enum { MAX_RUNS = 21 };
    unsigned n = harness_wrapped() ? 1 : MAX_RUNS;
    g_autofree char *pa = harness_socket(ha, dev);
    g_autofree char *pb = harness_socket(hb, dev);
    double save[MAX_RUNS], load[MAX_RUNS], stopped[MAX_RUNS], total[MAX_RUNS];
    uint64_t bytes = 0;

    for (unsigned i = 0; i < n; i++) {
        struct ctl_migrate_stats st;
        struct ctl_migrate_opts o = { .stats = &st };
        int r = i % 2 == 0 ? ctl_migrate(pa, pb, &o, NULL) : ctl_migrate(pb, pa, &o, NULL);

        ck_assert_msg(r == 0, "migration %u of %s: %s", i, plugin, strerror(-r));
        save[i] = st.save_ms;
        load[i] = st.load_ms;
        stopped[i] = st.stopped_ms;
        total[i] = st.total_ms;
        bytes = st.bytes;
    }
    qsort(save, n, sizeof(double), cmp_double);
    qsort(load, n, sizeof(double), cmp_double);
    qsort(stopped, n, sizeof(double), cmp_double);
    qsort(total, n, sizeof(double), cmp_double);
    fprintf(stderr, "MEASURE %s: stream %llu bytes; median of %u: save %.3f ms, "
            "load %.3f ms, device stopped %.3f ms (max %.3f), whole tool run "
            "%.3f ms\n", plugin, (unsigned long long)bytes, n, save[n / 2],
            load[n / 2], stopped[n / 2], stopped[n - 1], total[n / 2]);
}

START_TEST(test_measure)
{
    struct harness *ta = pt_start_testdev(NULL);
    struct harness *tb = pt_start_testdev(NULL);
    struct harness *ga = pt_start_gpio();
    struct harness *gb = pt_start_gpio();

    measure("testdev", ta, tb, "t0");
    measure("gpio", ga, gb, "g0");
    pt_finish(ta);
    pt_finish(tb);
    pt_finish(ga);
    pt_finish(gb);
}
END_TEST

static Suite *tool_suite(void)
{
    Suite *s = suite_create("tool");
    TCase *tc = pt_tcase("tool");

    tcase_add_test(tc, test_tool_testdev);
    tcase_add_test(tc, test_tool_options);
    tcase_add_test(tc, test_tool_gpio);
    tcase_add_test(tc, test_tool_client_attached);
    tcase_add_test(tc, test_tool_refused_rolls_back);
    tcase_add_test(tc, test_measure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(tool_suite());
}
