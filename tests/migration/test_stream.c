/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bad migration data (§2.14-2.15): MIG_DATA_* in the wrong state or
 * malformed, and streams the destination must refuse while keeping its
 * own state: truncated, corrupted, oversized, from another plugin, from a
 * differently configured device, from a newer plugin, or refused by the
 * plugin itself.  Also: an older plugin's stream loads in a newer plugin.
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What a test compares on the destination before and after a refusal. */
struct snap {
    uint32_t regs[8];
    uint8_t cfg[256];
    uint32_t bar2[3];
    uint64_t pba;
};

static const unsigned snap_regs[8] = {
    TD_SCRATCH, TD_DMA_SRC_LO, TD_DMA_DST_LO, TD_DMA_LEN, TD_DMA_FILL,
    TD_DMA_VECTOR, TD_DMA_COUNT, TD_RESETS,
};

static void take_snap(struct vfu_client *c, struct snap *s)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(snap_regs); i++) {
        s->regs[i] = pt_bar0(c, snap_regs[i]);
    }
    ck_assert_int_eq(vfu_client_region_read(c, PT_CONFIG, 0, s->cfg, sizeof(s->cfg)), 0);
    s->bar2[0] = pt_rd32(c, PT_BAR2, 0);
    s->bar2[1] = pt_rd32(c, PT_BAR2, 0x4000);
    s->bar2[2] = pt_rd32(c, PT_BAR2, 0xfffc);
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &s->pba, 8), 0);
}

static void assert_same(struct vfu_client *c, const struct snap *before)
{
    struct snap now;

    take_snap(c, &now);
    for (unsigned i = 0; i < G_N_ELEMENTS(snap_regs); i++) {
        ck_assert_msg(now.regs[i] == before->regs[i], "register %#x is %#x, was %#x",
                      snap_regs[i], now.regs[i], before->regs[i]);
    }
    ck_assert_msg(memcmp(now.cfg, before->cfg, sizeof(now.cfg)) == 0,
                  "config space changed");
    ck_assert_int_eq(memcmp(now.bar2, before->bar2, sizeof(now.bar2)), 0);
    ck_assert_uint_eq(now.pba, before->pba);
}

/* Give a testdev a recognisable state (seed tells two apart). */
static void dirty_up(struct vfu_client *c, uint32_t seed)
{
    pt_bar0_set(c, TD_SCRATCH, seed);
    pt_bar0_set(c, TD_DMA_SRC_LO, seed + 1);
    pt_bar0_set(c, TD_DMA_DST_LO, seed + 2);
    pt_bar0_set(c, TD_DMA_LEN, seed & 0xffff);
    pt_bar0_set(c, TD_DMA_FILL, ~seed);
    pt_bar0_set(c, TD_DMA_VECTOR, 2);
    pt_cfg16_set(c, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    pt_wr32(c, PT_BAR2, 0, seed);
    pt_wr32(c, PT_BAR2, 0x4000, seed + 3);
    pt_wr32(c, PT_BAR2, 0xfffc, seed + 4);
}

struct pair {
    struct harness *hs, *hd;
    struct vfu_client *s, *d;
};

static void pair_start(struct pair *p, const char *src_keys, const char *dst_keys)
{
    p->hs = pt_start_testdev(src_keys);
    p->hd = pt_start_testdev(dst_keys);
    p->s = pt_open(p->hs, "t0");
    p->d = pt_open(p->hd, "t0");
}

static void pair_finish(struct pair *p)
{
    vfu_client_close(p->s);
    vfu_client_close(p->d);
    pt_finish(p->hs);
    pt_finish(p->hd);
}

/* The stream of a source in a known state (left in STOP_COPY). */
static GByteArray *source_stream(struct vfu_client *s)
{
    dirty_up(s, 0xa0000000);
    return mt_save(s);
}

/* A refused load: EINVAL, still RESUMING, state as before; then leave
 * RESUMING without data, which keeps it. */
static void expect_refused(struct vfu_client *d, const struct snap *before,
                           const uint8_t *data, size_t len)
{
    ck_assert_int_eq(mt_load_try(d, data, len), -EINVAL);
    ck_assert_uint_eq(mt_get(d), MT_RESUMING);
    assert_same(d, before);
    mt_set(d, MT_STOP);
    assert_same(d, before);
}

/* Recompute the stream's SHA-256 after an edit. */
static void redigest(GByteArray *b)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    gsize len = 32;

    g_checksum_update(ck, b->data, b->len - 32);
    g_checksum_get_digest(ck, b->data + b->len - 32, &len);
    g_checksum_free(ck);
}

START_TEST(test_wrong_state)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const uint32_t no_write[] = { MT_RUNNING, MT_PRE_COPY, MT_RUNNING_P2P,
                                         MT_STOP, MT_STOP_COPY };
    static const uint32_t no_read[] = { MT_RUNNING, MT_STOP, MT_RESUMING,
                                        MT_RUNNING_P2P };
    uint8_t data[64] = { 'v', 'f', 'u', 'd' };
    struct vfio_user_mig_data rq;
    uint8_t bad[8 + 16] = { 0 };

    for (unsigned i = 0; i < G_N_ELEMENTS(no_write); i++) {
        mt_set(c, no_write[i]);
        ck_assert_int_eq(mt_write_try(c, data, sizeof(data)), -EINVAL);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(no_read); i++) {
        mt_set(c, no_read[i]);
        ck_assert_int_eq(mt_read_try(c, 64, NULL), -EINVAL);
    }
    /* Malformed reads in STOP_COPY: too large, argsz too small. */
    mt_set(c, MT_STOP_COPY);
    ck_assert_int_eq(mt_read_try(c, (1u << 20) + 1, NULL), -EINVAL);
    rq = (struct vfio_user_mig_data){ .argsz = 8 + 10, .size = 100 };
    pt_expect_err(c, VFIO_USER_MIG_DATA_READ, &rq, sizeof(rq), NULL, 0, EINVAL);
    /* None of that consumed the stream. */
    {
        GByteArray *b = mt_read_all(c);

        ck_assert_int_eq(memcmp(b->data, "vfud-mig", 8), 0);
        g_byte_array_unref(b);
    }
    /* A write whose size disagrees with its data. */
    mt_set(c, MT_RESUMING);
    rq = (struct vfio_user_mig_data){ .argsz = 8, .size = 20 };
    memcpy(bad, &rq, 8);
    pt_expect_err(c, VFIO_USER_MIG_DATA_WRITE, bad, sizeof(bad), NULL, 0, EINVAL);
    /* Not a stream of ours: refused as soon as the header is in. */
    memset(data, 0x5a, sizeof(data));
    ck_assert_int_eq(mt_write_try(c, data, sizeof(data)), 0);
    ck_assert_int_eq(mt_write_try(c, data, sizeof(data)), -EINVAL);
    /* The 64 bytes taken are no stream either; dropped, RESUMING stays. */
    ck_assert_int_eq(mt_set_try(c, MT_RUNNING), -EINVAL);
    ck_assert_uint_eq(mt_get(c), MT_RESUMING);
    mt_set(c, MT_RUNNING);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_truncated)
{
    struct pair p;
    struct snap before;
    GByteArray *b;
    static const size_t cuts[] = { 1, 32, 100, 4000 };

    pair_start(&p, NULL, NULL);
    b = source_stream(p.s);
    dirty_up(p.d, 0x11110000);
    take_snap(p.d, &before);
    for (unsigned i = 0; i < G_N_ELEMENTS(cuts); i++) {
        expect_refused(p.d, &before, b->data, b->len - cuts[i]);
    }
    /* Only the header, or less than one. */
    expect_refused(p.d, &before, b->data, 128);
    expect_refused(p.d, &before, b->data, 100);
    /* The device runs on with its own state. */
    mt_set(p.d, MT_RUNNING);
    assert_same(p.d, &before);
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

START_TEST(test_corrupted)
{
    struct pair p;
    struct snap before, src;
    GByteArray *b;
    static const size_t flips[] = { 200, 5000, 70000, 100000 };

    pair_start(&p, NULL, NULL);
    b = source_stream(p.s);
    dirty_up(p.d, 0x22220000);
    take_snap(p.d, &before);
    for (unsigned i = 0; i < G_N_ELEMENTS(flips); i++) {
        ck_assert_uint_lt(flips[i], b->len);
        b->data[flips[i]] ^= 0x40;
        expect_refused(p.d, &before, b->data, b->len);
        b->data[flips[i]] ^= 0x40;
    }
    /* The digest itself. */
    b->data[b->len - 1] ^= 1;
    expect_refused(p.d, &before, b->data, b->len);
    b->data[b->len - 1] ^= 1;
    /* Consistent digest, inconsistent content: a section length. */
    b->data[128 + 8] ^= 1; /* the first section's length */
    redigest(b);
    expect_refused(p.d, &before, b->data, b->len);
    b->data[128 + 8] ^= 1;
    redigest(b);
    /* After all that, in the same RESUMING session, the good stream. */
    mt_set(p.d, MT_RESUMING);
    ck_assert_int_eq(mt_write_try(p.d, b->data, 4096), 0);
    ck_assert_int_eq(mt_set_try(p.d, MT_STOP), -EINVAL);
    ck_assert_int_eq(mt_load_try(p.d, b->data, b->len), 0);
    mt_set(p.d, MT_RUNNING);
    mt_set(p.s, MT_STOP);
    take_snap(p.s, &src);
    assert_same(p.d, &src);
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

START_TEST(test_oversized)
{
    struct pair p;
    struct snap before;
    GByteArray *b;
    uint64_t total;

    pair_start(&p, NULL, NULL);
    b = source_stream(p.s);
    dirty_up(p.d, 0x33330000);
    take_snap(p.d, &before);
    /* A header announcing more than 256 MiB: refused at once. */
    memcpy(&total, b->data + 16, 8);
    {
        uint64_t huge = 300ull << 20;

        memcpy(b->data + 16, &huge, 8);
        mt_set(p.d, MT_RESUMING);
        ck_assert_int_eq(mt_write_try(p.d, b->data, 4096), -EINVAL);
        memcpy(b->data + 16, &total, 8);
    }
    /* Bytes beyond the announced length are refused; what came before
     * still loads. */
    ck_assert_int_eq(mt_write_try(p.d, b->data, b->len), 0);
    ck_assert_int_eq(mt_write_try(p.d, "more", 4), -EINVAL);
    mt_set(p.d, MT_STOP);
    ck_assert_uint_eq(pt_bar0(p.d, TD_SCRATCH), 0xa0000000);
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

START_TEST(test_foreign_plugin)
{
    struct harness *hg = pt_start_gpio();
    struct harness *ht = pt_start_testdev(NULL);
    struct vfu_client *g = pt_open(hg, "g0");
    struct vfu_client *t = pt_open(ht, "t0");
    GByteArray *gs, *ts;
    struct snap before;

    gs = mt_save(g);
    dirty_up(t, 0x44440000);
    take_snap(t, &before);
    expect_refused(t, &before, gs->data, gs->len);
    ck_assert(pt_log_wait(ht, "it comes from a 'gpio' device, this is a 'testdev'", 2000));
    /* And the other way round. */
    mt_set(g, MT_RUNNING);
    mt_set(t, MT_RUNNING);
    ts = mt_save(t);
    ck_assert_int_eq(mt_load_try(g, ts->data, ts->len), -EINVAL);
    ck_assert(pt_log_wait(hg, "it comes from a 'testdev' device", 2000));
    g_byte_array_unref(gs);
    g_byte_array_unref(ts);
    vfu_client_close(g);
    vfu_client_close(t);
    pt_finish(hg);
    pt_finish(ht);
}
END_TEST

START_TEST(test_other_layout)
{
    struct pair p;
    struct snap before;
    GByteArray *b;

    /* The serial number (DSN capability) differs: another device to the
     * guest, so the stream is refused. */
    pair_start(&p, "magic = 1", "magic = 2");
    b = source_stream(p.s);
    dirty_up(p.d, 0x55550000);
    take_snap(p.d, &before);
    expect_refused(p.d, &before, b->data, b->len);
    ck_assert(pt_log_wait(p.hd, "the device has another layout", 2000));
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

START_TEST(test_plugin_refuses)
{
    struct pair p;
    struct snap before, src;
    GByteArray *b;

    pair_start(&p, NULL, NULL);
    b = source_stream(p.s);
    mt_set(p.s, MT_STOP);
    take_snap(p.s, &src);
    dirty_up(p.d, 0x66660000);
    pt_bar0_set(p.d, TD_MIG_FAULT, TD_FAULT_LOAD);
    take_snap(p.d, &before);
    /* The daemon applied its part before asking the plugin: all of it
     * (config space, BAR2 memory, interrupts) must be back. */
    ck_assert_int_eq(mt_load_try(p.d, b->data, b->len), -EIO);
    ck_assert_uint_eq(mt_get(p.d), MT_RESUMING);
    assert_same(p.d, &before);
    ck_assert(pt_log_wait(p.hd, "MIG_FAULT asks loading to fail", 2000));
    /* Without the fault the same stream loads. */
    pt_bar0_set(p.d, TD_MIG_FAULT, 0);
    ck_assert_int_eq(mt_load_try(p.d, b->data, b->len), 0);
    assert_same(p.d, &src);
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

static struct harness *start_toy(const char *plugin)
{
    g_autofree char *path = mt_plugin_path(plugin);
    g_autofree char *cfg = g_strdup_printf("[m0]\nplugin = %s\n", path);
    static const char *const names[] = { "m0", NULL };

    return pt_start(cfg, names);
}

START_TEST(test_state_versions)
{
    struct harness *h1 = start_toy("migtoy_v1");
    struct harness *h2 = start_toy("migtoy_v2");
    struct vfu_client *c1 = pt_open(h1, "m0");
    struct vfu_client *c2 = pt_open(h2, "m0");
    GByteArray *b;

    ck_assert_uint_eq(pt_rd32(c1, PT_BAR0, 8), 1);
    ck_assert_uint_eq(pt_rd32(c2, PT_BAR0, 8), 2);
    /* Version 1 -> version 2: loads, the new field gets its default. */
    pt_wr32(c1, PT_BAR0, 0, 0xc0ffee01);
    pt_wr32(c2, PT_BAR0, 0, 0x12345678);
    pt_wr32(c2, PT_BAR0, 4, 0x9abcdef0);
    b = mt_save(c1);
    ck_assert_int_eq(mt_load_try(c2, b->data, b->len), 0);
    ck_assert_uint_eq(pt_rd32(c2, PT_BAR0, 0), 0xc0ffee01);
    ck_assert_uint_eq(pt_rd32(c2, PT_BAR0, 4), 0x7e570001);
    g_byte_array_unref(b);
    /* Version 2 -> version 1: refused by the daemon, state kept. */
    mt_set(c1, MT_RUNNING);
    mt_set(c2, MT_RUNNING);
    pt_wr32(c2, PT_BAR0, 0, 0x22222222);
    b = mt_save(c2);
    ck_assert_int_eq(mt_load_try(c1, b->data, b->len), -EINVAL);
    ck_assert(pt_log_wait(h1, "plugin state version 2, this migtoy plugin reads 1 to 1",
                          2000));
    ck_assert_uint_eq(pt_rd32(c1, PT_BAR0, 0), 0xc0ffee01);
    g_byte_array_unref(b);
    vfu_client_close(c1);
    vfu_client_close(c2);
    pt_finish(h1);
    pt_finish(h2);
}
END_TEST

START_TEST(test_newer_format)
{
    struct pair p;
    struct snap before;
    GByteArray *b;

    pair_start(&p, NULL, NULL);
    b = source_stream(p.s);
    dirty_up(p.d, 0x77770000);
    take_snap(p.d, &before);
    /* Stream format 2 (a newer daemon): refused as the header arrives. */
    b->data[8] = 2;
    redigest(b);
    mt_set(p.d, MT_RESUMING);
    ck_assert_int_eq(mt_write_try(p.d, b->data, b->len), -EINVAL);
    ck_assert(pt_log_wait(p.hd, "newer than this daemon reads", 2000));
    mt_set(p.d, MT_STOP);
    assert_same(p.d, &before);
    g_byte_array_unref(b);
    pair_finish(&p);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = pt_tcase("stream");

    tcase_add_test(tc, test_wrong_state);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_corrupted);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_foreign_plugin);
    tcase_add_test(tc, test_other_layout);
    tcase_add_test(tc, test_plugin_refuses);
    tcase_add_test(tc, test_state_versions);
    tcase_add_test(tc, test_newer_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(stream_suite());
}
