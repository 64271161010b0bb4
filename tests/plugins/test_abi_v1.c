/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A plugin built against version 1 of the plugin API (abi_v1.c, compiled
 * with the header kept in tests/plugins/v1) still loads into this daemon
 * and works: --dump-plugin names its version, and its version 1
 * vfud_dma_sg_get/put give it host pointers into guest memory, across two
 * DMA windows, and release them so that the windows can be unmapped.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define R_ID      0x00
#define R_API     0x04
#define R_IOVA_LO 0x08
#define R_IOVA_HI 0x0c
#define R_LEN     0x10
#define R_FILL    0x14
#define R_GO      0x18
#define R_RESULT  0x1c

static struct harness *start_v1(void)
{
    static const char *const names[] = { "v0", NULL };
    g_autofree char *cfg = g_strdup_printf("[v0]\nplugin = %s\n", ABI_V1_PATH);

    return pt_start(cfg, names);
}

static int32_t fill(struct vfu_client *c, uint64_t iova, uint32_t len,
                    uint8_t byte)
{
    pt_bar0_set(c, R_IOVA_LO, (uint32_t)iova);
    pt_bar0_set(c, R_IOVA_HI, (uint32_t)(iova >> 32));
    pt_bar0_set(c, R_LEN, len);
    pt_bar0_set(c, R_FILL, byte);
    pt_bar0_set(c, R_GO, 1);
    return (int32_t)pt_bar0(c, R_RESULT);
}

START_TEST(dump_v1)
{
    const char *args[] = { "--dump-plugin=" ABI_V1_PATH, NULL };
    g_autofree char *out = NULL;
    int rc = harness_run(args, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(strstr(out, "\napi_version=1\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "name=abi_v1\n") != NULL, "%s", out);
    /* A field appended since reads as zero: served by threads, as ever. */
    ck_assert_msg(strstr(out, "\nprefers_process=no\n") != NULL, "%s", out);
}
END_TEST

START_TEST(sg_v1_across_windows)
{
    struct harness *h = start_v1();
    struct vfu_client *c = pt_open(h, "v0");
    uint8_t *lo, *hi;

    ck_assert_uint_eq(pt_bar0(c, R_ID), 0xab100001u);
    ck_assert_uint_eq(pt_bar0(c, R_API), 1);
    lo = vfu_client_add_memory(c, 0x100000, 0x2000, true);
    hi = vfu_client_add_memory(c, 0x102000, 0x1000, true);
    ck_assert_ptr_nonnull(lo);
    ck_assert_ptr_nonnull(hi);
    pt_bus_master(c, true);

    /* 0x101000..0x102800: the last page of one window, half of the next */
    ck_assert_int_eq(fill(c, 0x101000, 0x1800, 0xa5), 2);
    ck_assert_uint_eq(lo[0xfff], 0);
    for (size_t i = 0x1000; i < 0x2000; i++) {
        ck_assert_uint_eq(lo[i], 0xa5);
    }
    for (size_t i = 0; i < 0x800; i++) {
        ck_assert_uint_eq(hi[i], 0xa5);
    }
    ck_assert_uint_eq(hi[0x800], 0);

    /* Beyond the windows, and with bus mastering off: refused. */
    ck_assert_int_eq(fill(c, 0x102800, 0x1000, 0x5a), -EFAULT);
    pt_bus_master(c, false);
    ck_assert_int_eq(fill(c, 0x100000, 16, 0x5a), -EPERM);
    ck_assert_uint_eq(lo[0], 0);

    /* The references were put: both windows go at once. */
    ck_assert_int_eq(vfu_client_dma_unmap(c, 0x100000, 0x2000, 0), 0);
    ck_assert_int_eq(vfu_client_dma_unmap(c, 0x102000, 0x1000, 0), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(sg_v1_message_only)
{
    struct harness *h = start_v1();
    struct vfu_client *c = pt_open(h, "v0");

    ck_assert_ptr_nonnull(vfu_client_add_memory(c, 0x200000, 0x1000, false));
    pt_bus_master(c, true);
    ck_assert_int_eq(fill(c, 0x200000, 0x100, 0x11), -EREMOTE);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi_v1");
    TCase *tc = pt_tcase("v1");

    tcase_add_test(tc, dump_v1);
    tcase_add_test(tc, sg_v1_across_windows);
    tcase_add_test(tc, sg_v1_message_only);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
