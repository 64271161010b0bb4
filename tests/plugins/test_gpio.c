/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of the gpio module (plugins/.libs/gpio.so) in the fake daemon
 * (tests/harness): the register sequences of Linux's gpio-pci-idio-16
 * (regmap version, and the direct-I/O one before 6.4), the host-side files,
 * reset.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_vfud.h"

static vfud_dev *new_dev(const char *name)
{
    vfud_dev *dev = fake_dev_new_loaded(name, BUILD_PLUGINDIR "/gpio.so");

    ck_assert_ptr_nonnull(dev);
    return dev;
}

static uint8_t rd(vfud_dev *dev, unsigned off)
{
    uint8_t v = 0xee;

    ck_assert_int_eq(fake_region_read(dev, VFUD_REGION_BAR2, off, &v, 1), 0);
    return v;
}

static void wr(vfud_dev *dev, unsigned off, uint8_t v)
{
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR2, off, &v, 1), 0);
}

/* One turn of the device loop, which must find the FIFO readable. */
static void run_fifo(vfud_dev *dev)
{
    ck_assert_int_eq(fake_dev_run_watches(dev, 0), 1);
}

/* The probe of the regmap driver: disable, ack anything pending, filters
 * off; then the first unmask: clear, read-to-enable. */
static void probe_and_enable(vfud_dev *dev)
{
    wr(dev, 2, 0);
    if (rd(dev, 6) != 0) {
        wr(dev, 1, 0);
    }
    wr(dev, 3, 0);
    wr(dev, 1, 0);
    rd(dev, 2);
}

START_TEST(test_realize)
{
    vfud_dev *dev = new_dev("gpio0");
    const struct vfud_pci_id *id;

    ck_assert_int_eq(fake_dev_configure(dev, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    id = fake_pci_id(dev);
    ck_assert_ptr_nonnull(id);
    ck_assert_int_eq(fake_pci_type(dev), VFUD_PCI_CONVENTIONAL);
    ck_assert_uint_eq(id->vendor_id, 0x494f);
    ck_assert_uint_eq(id->device_id, 0x0dc8);
    ck_assert_uint_eq(fake_region_size(dev, VFUD_REGION_BAR2), 8);
    ck_assert_uint_eq(fake_region_flags(dev, VFUD_REGION_BAR2),
                      VFUD_REGION_RW | VFUD_REGION_IO);
    ck_assert_uint_eq(fake_region_size(dev, VFUD_REGION_BAR0), 0);
    ck_assert_uint_eq(fake_irq_count_setup(dev, VFUD_IRQ_INTX), 1);
    ck_assert_str_eq(fake_dev_plugin(dev)->name, "gpio");
    ck_assert_ptr_null(fake_dev_plugin(dev)->config_keys[4].name);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_outputs)
{
    char out[128], text[32];
    vfud_dev *dev = new_dev("gpio0");

    snprintf(out, sizeof(out), "%s/out", fake_tmpdir());
    ck_assert_int_eq(fake_dev_configure(dev, "output-file", out, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0000\n");

    /* gpio-regmap sets a line: update_bits on +0 or +4 */
    wr(dev, 0, 0x81);
    wr(dev, 4, 0x02);
    ck_assert_uint_eq(rd(dev, 0), 0x81);
    ck_assert_uint_eq(rd(dev, 4), 0x02);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0281\n");

    /* a 16-bit write at +0 is outputs 0-7 and a clear-interrupt */
    uint8_t two[2] = { 0x00, 0x55 };
    ck_assert_int_eq(fake_region_write(dev, VFUD_REGION_BAR2, 0, two, 2), 0);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0200\n");
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_inputs_and_cos)
{
    char in[128];
    vfud_dev *dev = new_dev("gpio0");

    snprintf(in, sizeof(in), "%s/in", fake_tmpdir());
    ck_assert_int_eq(mkfifo(in, 0600), 0);
    ck_assert_int_eq(fake_dev_configure(dev, "inputs", "0x8001",
                                        "input-file", in, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    ck_assert_uint_eq(rd(dev, 1), 0x01);
    ck_assert_uint_eq(rd(dev, 5), 0x80);

    /* disabled: a change is not latched */
    fake_write_text(in, "0x0000\n");
    run_fifo(dev);
    ck_assert_uint_eq(rd(dev, 1), 0x00);
    ck_assert_uint_eq(rd(dev, 6), 0);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 0);

    probe_and_enable(dev);
    ck_assert(!fake_intx_level(dev));

    /* input 3 rises: status = pending | inputs 0-7, INTx asserted */
    fake_write_text(in, "3=1\n");
    run_fifo(dev);
    ck_assert(fake_intx_level(dev));
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    ck_assert_uint_eq(rd(dev, 6), 0x05);
    ck_assert_uint_eq(rd(dev, 1), 0x08);

    /* more changes while pending: no new trigger, status accumulates */
    fake_write_text(in, "12=1\n");
    run_fifo(dev);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    ck_assert_uint_eq(rd(dev, 6), 0x07);

    /* the handler acks by writing the status to +1 */
    wr(dev, 1, rd(dev, 6));
    ck_assert(!fake_intx_level(dev));
    ck_assert_uint_eq(rd(dev, 6), 0);
    ck_assert_uint_eq(rd(dev, 5), 0x10);

    /* a line without its newline waits for it; lines split over writes */
    fake_write_text(in, "0x0");
    run_fifo(dev);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    fake_write_text(in, "000 15=1\n");
    run_fifo(dev);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 2);
    ck_assert_uint_eq(rd(dev, 1), 0x00);
    ck_assert_uint_eq(rd(dev, 5), 0x80);
    ck_assert_uint_eq(rd(dev, 6), 0x07);

    /* disable with the latch set: the line drops, the latch stays, and
     * enabling again raises it */
    wr(dev, 2, 0);
    ck_assert(!fake_intx_level(dev));
    ck_assert_uint_eq(rd(dev, 6), 0x07);
    rd(dev, 2);
    ck_assert(fake_intx_level(dev));
    ck_assert_uint_eq(fake_irq_count(dev, 0), 3);
    wr(dev, 1, 0);
    ck_assert(!fake_intx_level(dev));

    /* bad lines change nothing, even partly */
    fake_write_text(in, "0x10000\n16=1\n3=2\n4=1 junk\n# just a comment\n\n");
    run_fifo(dev);
    ck_assert_uint_eq(rd(dev, 1), 0x00);
    ck_assert_uint_eq(rd(dev, 5), 0x80);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 3);

    /* the FIFO stays watched after its writers went away */
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    fake_write_text(in, "0x00ff, 15=0\n");
    run_fifo(dev);
    ck_assert_uint_eq(rd(dev, 1), 0xff);
    ck_assert_uint_eq(rd(dev, 5), 0x00);
    ck_assert_uint_eq(rd(dev, 6), 0x07);
    fake_dev_free(dev);
}
END_TEST

/* The driver before 6.4: filters off, disable, clear; unmask = read +2;
 * the handler wants bit 2 and bit 0 or 1, then writes 0 to +1. */
START_TEST(test_old_driver)
{
    char in[128];
    vfud_dev *dev = new_dev("gpio0");

    snprintf(in, sizeof(in), "%s/in", fake_tmpdir());
    ck_assert_int_eq(mkfifo(in, 0600), 0);
    ck_assert_int_eq(fake_dev_configure(dev, "input-file", in, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    wr(dev, 3, 0);
    wr(dev, 2, 0);
    wr(dev, 1, 0);
    rd(dev, 2);
    fake_write_text(in, "9=1\n");
    run_fifo(dev);
    uint8_t st = rd(dev, 6);
    ck_assert((st & 0x3) && (st & 0x4));
    ck_assert(fake_intx_level(dev));
    wr(dev, 1, 0);
    ck_assert(!fake_intx_level(dev));
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_regular_file)
{
    char in[128], tmp[140];
    FILE *f;
    vfud_dev *dev = new_dev("gpio0");

    snprintf(in, sizeof(in), "%s/in", fake_tmpdir());
    snprintf(tmp, sizeof(tmp), "%s/in.new", fake_tmpdir());
    f = fopen(in, "w");
    fputs("0x0f00\n1=1\n", f);
    fclose(f);
    ck_assert_int_eq(fake_dev_configure(dev, "input-file", in,
                                        "input-poll-ms", "20", NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    ck_assert_uint_eq(fake_watch_count(dev), 1);
    ck_assert_uint_eq(rd(dev, 1), 0x02);
    ck_assert_uint_eq(rd(dev, 5), 0x0f);

    /* the poll timer runs (within its 20 ms) and finds nothing new */
    probe_and_enable(dev);
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 0);

    /* replaced by rename: one event with the result of all lines */
    f = fopen(tmp, "w");
    fputs("0x0000\n0=1\n2=1\n", f);
    fclose(f);
    ck_assert_int_eq(rename(tmp, in), 0);
    ck_assert_int_eq(fake_dev_run_watches(dev, 1000), 1);
    ck_assert_uint_eq(rd(dev, 1), 0x05);
    ck_assert_uint_eq(rd(dev, 5), 0x00);
    ck_assert_uint_eq(fake_irq_count(dev, 0), 1);
    ck_assert_uint_eq(rd(dev, 6), 0x07);
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_reset)
{
    char out[128], text[32];
    vfud_dev *dev = new_dev("gpio0");
    unsigned deasserts;

    snprintf(out, sizeof(out), "%s/out", fake_tmpdir());
    ck_assert_int_eq(fake_dev_configure(dev, "inputs", "0x1234",
                                        "output-file", out, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), 0);
    wr(dev, 0, 0xff);
    wr(dev, 7, 0x0f);
    probe_and_enable(dev);
    deasserts = fake_intx_deasserts(dev);
    ck_assert_int_eq(fake_dev_reset(dev, VFUD_RESET_DEVICE), 0);
    ck_assert_uint_eq(rd(dev, 0), 0);
    ck_assert_uint_eq(rd(dev, 7), 0);
    ck_assert_uint_eq(rd(dev, 1), 0x34);
    ck_assert_uint_eq(rd(dev, 5), 0x12);
    fake_read_text(out, text, sizeof(text));
    ck_assert_str_eq(text, "0x0000\n");
    /* the plugin lowers INTx itself, not only the daemon after it */
    ck_assert_uint_gt(fake_intx_deasserts(dev), deasserts);
    ck_assert(!fake_intx_level(dev));
    fake_dev_free(dev);
}
END_TEST

START_TEST(test_bad_config)
{
    char path[128];
    vfud_dev *dev = new_dev("gpio0");

    ck_assert_int_eq(fake_dev_config(dev, "inputs", "0x10000"), -EINVAL);
    ck_assert_int_eq(fake_dev_config(dev, "inputs", "many"), -EINVAL);
    ck_assert_int_eq(fake_dev_config(dev, "input-poll-ms", "1"), -EINVAL);
    /* the daemon refuses a key the plugin does not list, and so would the
     * plugin */
    ck_assert_int_eq(fake_dev_config(dev, "colour", "blue"), -EINVAL);
    ck_assert_int_eq(fake_dev_plugin(dev)->config(dev, "colour", "blue"), -EINVAL);
    snprintf(path, sizeof(path), "%s/missing", fake_tmpdir());
    ck_assert_int_eq(fake_dev_configure(dev, "input-file", path, NULL), -ENOENT);
    ck_assert_ptr_nonnull(strstr(fake_dev_last_error(dev), "missing"));
    ck_assert_int_eq(fake_dev_configure(dev, "input-file", fake_tmpdir(), NULL), -EINVAL);
    fake_dev_free(dev);

    dev = new_dev("gpio1");
    snprintf(path, sizeof(path), "%s/nodir/out", fake_tmpdir());
    ck_assert_int_eq(fake_dev_configure(dev, "output-file", path, NULL), 0);
    ck_assert_int_eq(fake_dev_realize(dev), -ENOENT);
    fake_dev_free(dev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpio");
    TCase *tc = tcase_create("gpio");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, fake_tmpdir_setup, fake_tmpdir_teardown);
    tcase_add_test(tc, test_realize);
    tcase_add_test(tc, test_outputs);
    tcase_add_test(tc, test_inputs_and_cos);
    tcase_add_test(tc, test_old_driver);
    tcase_add_test(tc, test_regular_file);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_bad_config);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
