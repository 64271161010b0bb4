/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the testdev module (plugins/.libs/testdev.so) in the fake
 * daemon (tests/harness), against the register map documented in
 * testdev.c, and of the broken modules the loader tests use.
 */
#include <config.h>

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fake_vfud.h"

/* Guest memory: message-only, so a DMA the plugin tried on the device
 * thread would fail with -EDEADLK, as in the daemon. */
#define GUEST_BASE 0x100000ull
#define GUEST_SIZE (2u << 20)

static vfud_dev *load_dev(const char *name)
{
    vfud_dev *dev = fake_dev_new_loaded(name, BUILD_PLUGINDIR "/testdev.so");

    ck_assert_ptr_nonnull(dev);
    return dev;
}

static vfud_dev *new_dev(const char *magic, const char *delay)
{
    vfud_dev *dev = load_dev("td0");

    ck_assert_int_eq(fake_dev_configure(dev, "magic", magic,
                                        "dma-delay-ms", delay, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_ptr_nonnull(fake_dma_map(dev, GUEST_BASE, GUEST_SIZE, true));
    return dev;
}

static uint8_t *guest(vfud_dev *dev)
{
    return fake_gpa(dev, GUEST_BASE, GUEST_SIZE);
}

static uint8_t *bar2(vfud_dev *dev)
{
    return fake_region_mem(dev, VFUD_REGION_BAR2);
}

static uint32_t rd32(vfud_dev *dev, unsigned off)
{
    uint8_t b[4];

    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, off, b, 4), 0);
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(vfud_dev *dev, unsigned off, uint32_t v)
{
    uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };

    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, off, b, 4), 0);
}

static void wr64(vfud_dev *dev, unsigned off, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR0, off, b, 8), 0);
}

/* Straight to the plugin, past the daemon's checks: for what the plugin
 * itself must refuse or tolerate. */
static int plugin_write(vfud_dev *dev, unsigned region, uint64_t off,
                        const void *buf, size_t len)
{
    return fake_dev_plugin(dev)->region_write(dev, region, off, buf, len);
}

static int plugin_read(vfud_dev *dev, unsigned region, uint64_t off,
                       void *buf, size_t len)
{
    return fake_dev_plugin(dev)->region_read(dev, region, off, buf, len);
}

static uint32_t dma(vfud_dev *dev, unsigned op, uint64_t src, uint64_t dst, uint32_t len)
{
    wr64(dev, 0x100, src);
    wr64(dev, 0x108, dst);
    wr32(dev, 0x110, len);
    wr32(dev, 0x114, op);
    wr32(dev, 0x120, 1);
    vfud_submit_drain(dev); /* as the daemon may, between messages */
    return rd32(dev, 0x124);
}

START_TEST(test_realize)
{
    vfud_dev *dev = new_dev("0x1122334455667788", "0");
    const struct vfud_pci_id *id = fake_pci_id(dev);
    struct vfud_mmap_area areas[4];
    unsigned caps[FAKE_MAX_CAPS];

    ck_assert_int_eq(fake_pci_type(dev), VFUD_PCI_EXPRESS);
    ck_assert_uint_eq(id->vendor_id, 0xfffd);
    ck_assert_uint_eq(id->device_id, 0x0001);
    ck_assert_uint_eq(id->class_code, 0xff0000);
    /* PM, MSI-X, PCI Express, vendor, DSN: in that order */
    ck_assert_uint_eq(fake_caps(dev, caps, FAKE_MAX_CAPS), 5);
    ck_assert_uint_eq(caps[0], 0x01);
    ck_assert_uint_eq(caps[1], 0x11);
    ck_assert_uint_eq(caps[2], 0x10);
    ck_assert_uint_eq(caps[3], 0x09);
    ck_assert_uint_eq(caps[4], FAKE_EXT_CAP(0x03));
    ck_assert_uint_eq(fake_msix_vectors(dev), 4);
    ck_assert_uint_eq(fake_region_size(dev, 0), 4096);
    ck_assert_uint_eq(fake_region_size(dev, 2), 65536);
    ck_assert(fake_region_flags(dev, 2) & VFUD_REGION_64BIT);
    ck_assert_uint_eq(fake_region_size(dev, 3), 0);
    ck_assert_uint_eq(fake_region_size(dev, 4), 4096);
    ck_assert_uint_eq(fake_region_size(dev, VFUD_REGION_ROM), 2048);
    ck_assert_uint_eq(fake_region_flags(dev, VFUD_REGION_ROM), VFUD_REGION_READ);
    ck_assert_uint_eq(fake_region_areas(dev, 2, areas, 4), 2);
    ck_assert_uint_eq(areas[1].offset, 0xc000);
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_INTX), 1);
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_ERR), 1);
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_REQ), 1);
    /* BAR2 pattern, mapped and trapped parts alike */
    ck_assert_uint_eq(bar2(dev)[0x10], 0x10);
    ck_assert_uint_eq(bar2(dev)[0xc004 + 1], 0xc0);
    ck_assert_uint_eq(bar2(dev)[0xfffc + 3], 0xb2);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_registers)
{
    vfud_dev *dev = new_dev("0x1122334455667788", "0");
    uint8_t b[8];

    ck_assert_uint_eq(rd32(dev, 0x000), 0x7e57de01);
    ck_assert_uint_eq(rd32(dev, 0x004), 65536);
    ck_assert_uint_eq(rd32(dev, 0x008), 0x55667788);
    ck_assert_uint_eq(rd32(dev, 0x00c), 0x11223344);
    /* reads of any size and alignment */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 0x008, b, 8), 0);
    ck_assert_uint_eq(b[0], 0x88);
    ck_assert_uint_eq(b[7], 0x11);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR0, 0x001, b, 1), 0);
    ck_assert_uint_eq(b[0], 0xde);
    wr32(dev, 0x010, 0xcafef00d);
    ck_assert_uint_eq(rd32(dev, 0x010), 0xcafef00d);
    ck_assert_uint_eq(rd32(dev, 0x11c), 0xffffffff);
    /* writes: whole aligned dwords only */
    ck_assert_int_eq(plugin_write(dev, VFUD_REGION_BAR0, 0x010, b, 2), -EINVAL);
    ck_assert_int_eq(plugin_write(dev, VFUD_REGION_BAR0, 0x012, b, 4), -EINVAL);
    /* read-only registers ignore writes */
    wr32(dev, 0x000, 0);
    ck_assert_uint_eq(rd32(dev, 0x000), 0x7e57de01);
    /* 64-bit registers */
    wr64(dev, 0x100, 0x0123456789abcdefull);
    ck_assert_uint_eq(rd32(dev, 0x104), 0x01234567);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_irqs)
{
    vfud_dev *dev = new_dev("0", "0");
    unsigned deasserts;

    /* MSI-X, as the guest would enable it */
    wr32(dev, 0x018, 2);
    ck_assert_uint_eq(fake_irq_count(dev, 2), 1);
    ck_assert_uint_eq(rd32(dev, 0x01c), 0);
    wr32(dev, 0x018, 4);
    ck_assert_int_eq((int32_t)rd32(dev, 0x01c), -EINVAL);

    /* the guest enabled nothing: the result says so */
    fake_irq_set_mode(dev, VFUD_NR_IRQ_TYPES);
    wr32(dev, 0x018, 0);
    ck_assert_int_eq((int32_t)rd32(dev, 0x01c), -ENOTCONN);

    /* INTx: vector 0 only; it stays asserted until INTX_DEASSERT */
    fake_irq_set_mode(dev, VFUD_IRQ_INTX);
    wr32(dev, 0x018, 1);
    ck_assert_int_eq((int32_t)rd32(dev, 0x01c), -EINVAL);
    ck_assert(!fake_intx_level(dev));
    wr32(dev, 0x018, 0);
    ck_assert_uint_eq(rd32(dev, 0x01c), 0);
    ck_assert(fake_intx_level(dev));
    deasserts = fake_intx_deasserts(dev);
    wr32(dev, 0x020, 1);
    ck_assert(!fake_intx_level(dev));
    ck_assert_uint_eq(fake_intx_deasserts(dev), deasserts + 1);

    wr32(dev, 0x02c, VFUD_IRQ_ERR);
    wr32(dev, 0x02c, VFUD_IRQ_REQ);
    ck_assert_uint_eq(fake_irq_signals(dev, VFUD_IRQ_ERR), 1);
    ck_assert_uint_eq(fake_irq_signals(dev, VFUD_IRQ_REQ), 1);
    wr32(dev, 0x02c, 7);
    ck_assert_int_eq((int32_t)rd32(dev, 0x01c), -EINVAL);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_dma)
{
    vfud_dev *dev = new_dev("0", "0");
    const uint64_t g = GUEST_BASE;
    uint8_t *mem = guest(dev);

    /* fill, with a completion interrupt on vector 3 */
    wr32(dev, 0x118, 0xa1b2c3d4);
    wr32(dev, 0x11c, 3);
    ck_assert_uint_eq(dma(dev, 0, 0, g + 0x1001, 7), 2);
    ck_assert_uint_eq(mem[0x1001], 0xd4);
    ck_assert_uint_eq(mem[0x1004], 0xa1);
    ck_assert_uint_eq(mem[0x1005], 0xd4);
    ck_assert_uint_eq(mem[0x1008], 0x00);
    ck_assert_uint_eq(fake_irq_count(dev, 3), 1);

    /* copy within the guest */
    for (int i = 0; i < 4096; i++) {
        mem[0x2000 + i] = (uint8_t)(i * 7);
    }
    ck_assert_uint_eq(dma(dev, 1, g + 0x2000, g + 0x8000, 4096), 2);
    ck_assert_mem_eq(mem + 0x8000, mem + 0x2000, 4096);

    /* guest -> device buffer -> guest, at an offset */
    ck_assert_uint_eq(dma(dev, 2, g + 0x2000, 0x100, 4096), 2);
    ck_assert_uint_eq(dma(dev, 3, 0x100, g + 0x20000, 4096), 2);
    ck_assert_mem_eq(mem + 0x20000, mem + 0x2000, 4096);
    ck_assert_uint_eq(rd32(dev, 0x128), 4);
    ck_assert_uint_eq(fake_irq_count(dev, 3), 4);

    /* errors carry their errno; the count does not move */
    ck_assert_uint_eq(dma(dev, 3, 0xffff, g, 2), 4 | ERANGE << 16);
    ck_assert_uint_eq(dma(dev, 0, 0, 0x10, 16), 4 | EFAULT << 16);
    ck_assert_uint_eq(dma(dev, 9, g, g, 16), 4 | EINVAL << 16);
    ck_assert_uint_eq(dma(dev, 0, 0, g, 0), 4 | EINVAL << 16);
    ck_assert_uint_eq(dma(dev, 0, 0, g, (1u << 20) + 1), 4 | EINVAL << 16);
    ck_assert_uint_eq(rd32(dev, 0x128), 4);
    ck_assert_uint_eq(fake_irq_count(dev, 3), 9);

    /* all of it by messages, on the worker, never on the device thread */
    ck_assert_uint_gt(fake_dma_messages(dev), 0);
    ck_assert_uint_eq(fake_dma_deadlocks(dev), 0);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_reset_in_flight)
{
    vfud_dev *dev = new_dev("0", "10000");
    struct timespec t0, t1;

    wr32(dev, 0x010, 1);
    wr32(dev, 0x118, 0xffffffff);
    wr32(dev, 0x11c, 0);
    wr64(dev, 0x108, GUEST_BASE);
    wr32(dev, 0x110, 64);
    wr32(dev, 0x120, 1);
    ck_assert_uint_eq(rd32(dev, 0x124), 1); /* busy */
    wr32(dev, 0x120, 1);                     /* ignored while busy */
    bar2(dev)[0] = 0x5a;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_FLR), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
    ck_assert_uint_eq(rd32(dev, 0x124), 0);
    ck_assert_uint_eq(rd32(dev, 0x128), 0);
    ck_assert_uint_eq(rd32(dev, 0x010), 0);
    ck_assert_uint_eq(rd32(dev, 0x024), 1);
    ck_assert_uint_eq(rd32(dev, 0x028), VFUD_RESET_FLR + 1);
    ck_assert_uint_eq(rd32(dev, 0x11c), 0xffffffff);
    ck_assert_uint_eq(guest(dev)[0], 0);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 0);
    ck_assert_uint_eq(bar2(dev)[0], 0x00);
    ck_assert_uint_eq(bar2(dev)[3], 0xb2);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_bar2_rom)
{
    vfud_dev *dev = new_dev("0", "0");
    uint8_t b[64];
    uint32_t w = 0x12345678;

    /* trapped BAR2 accesses reach the plugin; mapped ones do not */
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, 0x4000, b, 4), 0);
    ck_assert_uint_eq(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24, 0xb2004000);
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR2, 0x8000, &w, 4), 0);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, 0x8000, b, 4), 0);
    ck_assert_mem_eq(b, &w, 4);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, 0xc000, b, 4), 0);
    ck_assert_uint_eq(rd32(dev, 0x014), 3);

    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_ROM, 0, b, 64), 0);
    ck_assert_uint_eq(b[0], 0x55);
    ck_assert_uint_eq(b[1], 0xaa);
    ck_assert_uint_eq(b[0x18], 0);
    ck_assert_mem_eq(b + 0x20, "VFIOUSERD TESTDEV ROM", 21);
    ck_assert_uint_eq(b[0x20 + 21], 0);
    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_ROM, 0x7f0, b, 16), 0);
    ck_assert_uint_eq(b[15], 0xff);
    /* the daemon refuses a ROM write; should one reach the plugin, so
     * does the plugin */
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_ROM, 0, b, 1), -EINVAL);
    ck_assert_int_eq(plugin_write(dev, VFUD_REGION_ROM, 0, b, 1), -EROFS);

    /* BAR4 accesses are the daemon's; harmless if they reach us */
    ck_assert_int_eq(plugin_read(dev, VFUD_REGION_BAR4, 0x800, b, 8), 0);
    ck_assert_uint_eq(b[0], 0);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_instances)
{
    vfud_dev *a = new_dev("1", "0");
    vfud_dev *b = new_dev("2", "0");
    vfud_dev *c = load_dev("td2");

    wr32(a, 0x010, 0xaaaa);
    ck_assert_uint_eq(rd32(b, 0x010), 0);
    ck_assert_uint_eq(rd32(a, 0x008), 1);
    ck_assert_uint_eq(rd32(b, 0x008), 2);
    ck_assert_int_eq(fake_dev_configure(c, "fail-realize", "yes", NULL), 0);
    ck_assert_int_eq(fake_dev_realize(c), -EIO);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(c), "fail-realize"));
    ck_assert_int_eq(fake_dev_config(c, "dma-delay-ms", "60001"), -EINVAL);
    ck_assert_int_eq(fake_dev_config(c, "fail-realize", "perhaps"), -EINVAL);
    ck_assert_int_eq(fake_dev_config(c, "magic", "-1"), -EINVAL);
    /* not a key of the plugin's: the daemon refuses it, the plugin too */
    ck_assert_int_eq(fake_dev_config(c, "size", "1"), -EINVAL);
    ck_assert_int_eq(fake_dev_plugin(c)->config(c, "size", "1"), -EINVAL);
    fake_dev_free(a);
    fake_dev_free(b);
    fake_dev_free(c);
}
END_TEST

/* The plugin struct of a module, as its registration function returns it. */
static const struct vfud_plugin *raw_plugin(const char *path, void **handle)
{
    struct vfud_plugin *(*init)(void);

    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(*handle != NULL, "%s", dlerror());
    *(void **)&init = dlsym(*handle, "vfud_plugin_init");
    ck_assert_ptr_nonnull(init);
    return init();
}

/* The loader refuses the module with err and a reason naming `why`. */
static void refused(const char *path, int err, const char *why)
{
    vfud_dev *dev = fake_dev_new("bad");

    ck_assert_int_eq(fake_dev_load(dev, path), err);
    ck_assert_msg(strstr(fake_dev_last_error(dev), why) != NULL,
                  "\"%s\" lacks \"%s\"", fake_dev_last_error(dev), why);
    fake_dev_free(dev);
}

START_TEST(test_bad_plugins)
{
    void *h;
    const struct vfud_plugin *p;

    /* each module is broken the way it says */
    p = raw_plugin(BUILD_PLUGINDIR "/bad_abi.so", &h);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->_api_version, 999);
    ck_assert_uint_eq(p->_struct_size, sizeof(struct vfud_plugin));
    dlclose(h);
    p = raw_plugin(BUILD_PLUGINDIR "/bad_noreal.so", &h);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->_api_version, VFUD_API_VERSION);
    ck_assert_ptr_null(p->realize);
    dlclose(h);
    h = dlopen(BUILD_PLUGINDIR "/bad_nosym.so", RTLD_NOW | RTLD_LOCAL);
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_null(dlsym(h, "vfud_plugin_init"));
    dlclose(h);

    /* and a loader that checks as the daemon does refuses each */
    refused(BUILD_PLUGINDIR "/bad_abi.so", -EPROTO, "version 999");
    refused(BUILD_PLUGINDIR "/bad_noreal.so", -EINVAL, "realize");
    refused(BUILD_PLUGINDIR "/bad_nosym.so", -ENOEXEC, "vfud_plugin_init");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("testdev");
    TCase *tc = tcase_create("testdev");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_realize);
    tcase_add_test(tc, test_registers);
    tcase_add_test(tc, test_irqs);
    tcase_add_test(tc, test_dma);
    tcase_add_test(tc, test_reset_in_flight);
    tcase_add_test(tc, test_bar2_rom);
    tcase_add_test(tc, test_instances);
    tcase_add_test(tc, test_bad_plugins);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
