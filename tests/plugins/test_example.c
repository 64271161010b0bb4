/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the example plugin (plugins/.libs/example.so, the EXAMPLE of
 * vfiouserd-plugin(3)) in the fake daemon: what it declares, its
 * registers, the INTx line, reset to the "fill" value, a bad key value.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <string.h>

#include "fake_vfud.h"

#define EX_REG_ID  0x000
#define EX_REG_IRQ 0x004
#define EX_ID      0x5c7a7c40u

static vfud_dev *new_dev(const char *fill)
{
    vfud_dev *dev = fake_dev_new_loaded("example0", BUILD_PLUGINDIR "/example.so");

    ck_assert_ptr_nonnull(dev);
    if (fill != NULL) {
        ck_assert_int_eq(fake_dev_config(dev, "fill", fill), 0);
    }
    ck_assert_msg(fake_dev_realize(dev) == 0, "%s", fake_dev_last_error(dev));
    return dev;
}

START_TEST(test_declares)
{
    vfud_dev *dev = new_dev(NULL);
    const struct vfud_pci_id *id = fake_pci_id(dev);

    ck_assert_str_eq(fake_dev_plugin(dev)->name, "example");
    ck_assert_ptr_nonnull(id);
    ck_assert_uint_eq(id->vendor_id, 0x1234);
    ck_assert_uint_eq(id->device_id, 0x5c7a);
    ck_assert_uint_eq(id->class_code, 0xff0000);
    ck_assert_int_eq(fake_pci_type(dev), VFUD_PCI_CONVENTIONAL);
    ck_assert_uint_eq(fake_region_size(dev, VFUD_REGION_BAR0), 4096);
    ck_assert_uint_eq(fake_region_flags(dev, VFUD_REGION_BAR0), VFUD_REGION_RW);
    ck_assert_ptr_null(fake_region_mem(dev, VFUD_REGION_BAR0));
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_INTX), 1);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_registers)
{
    vfud_dev *dev = new_dev("0xdeadbeef");

    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, EX_REG_ID), EX_ID);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, EX_REG_IRQ), 0);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, 0xffc), 0xdeadbeef);
    /* scratch registers keep what is written, in any width */
    fake_write32(dev, VFUD_REGION_BAR0, 0x100, 0x12345678);
    fake_write8(dev, VFUD_REGION_BAR0, 0x101, 0xab);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, 0x100), 0x1234ab78);
    /* the identifier is read-only */
    fake_write32(dev, VFUD_REGION_BAR0, EX_REG_ID, 0);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, EX_REG_ID), EX_ID);
    /* outside the BAR: refused before the plugin sees it */
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, 0x1000), 0xffffffff);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_intx_and_reset)
{
    vfud_dev *dev = new_dev("7");

    fake_irq_set_mode(dev, VFUD_IRQ_INTX);
    fake_write32(dev, VFUD_REGION_BAR0, EX_REG_IRQ, 1);
    ck_assert(fake_intx_level(dev));
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    fake_write32(dev, VFUD_REGION_BAR0, EX_REG_IRQ, 0);
    ck_assert(!fake_intx_level(dev));

    fake_write32(dev, VFUD_REGION_BAR0, 0x200, 0x55);
    fake_write32(dev, VFUD_REGION_BAR0, EX_REG_IRQ, 1);
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_FLR), 0);
    ck_assert(!fake_intx_level(dev));
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, 0x200), 7);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, EX_REG_IRQ), 0);
    ck_assert_uint_eq(fake_read32(dev, VFUD_REGION_BAR0, EX_REG_ID), EX_ID);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_bad_fill)
{
    vfud_dev *dev = fake_dev_new("example0");

    ck_assert_int_eq(fake_dev_load(dev, BUILD_PLUGINDIR "/example.so"), 0);
    ck_assert_int_eq(fake_dev_config(dev, "fill", "0x100000000"), -EINVAL);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev),
                                 "not a 32-bit number"));
    ck_assert_int_eq(fake_dev_config(dev, "fill", "many"), -EINVAL);
    fake_dev_free(dev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("example");
    TCase *tc = tcase_create("example");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_declares);
    tcase_add_test(tc, test_registers);
    tcase_add_test(tc, test_intx_and_reset);
    tcase_add_test(tc, test_bad_fill);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
