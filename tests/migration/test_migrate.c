/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole migrations between two daemons (each its own process and socket),
 * driven the way a VMM would with one client per daemon: the destination's
 * state equals the source's afterwards.
 *
 *   testdev: registers, DMA engine progress, device buffer, BAR2 memory,
 *            config space, MSI-X table and pending bits
 *   testdev: a delayed DMA in flight when the source stops is parked and
 *            runs on the destination (or on the source if the migration is
 *            abandoned), never on both
 *   gpio:    outputs (and output-file), inputs, an asserted INTx the guest
 *            has not acknowledged yet: re-raised on the destination at
 *            unmask; host input changes while stopped wait for resume
 *   a round trip A -> B -> A
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE 0x100000ull
#define MEM  0x100000ull
#define PG   4096ull

static const unsigned td_regs[] = {
    TD_SCRATCH, TD_BAR2_TRAPS, TD_IRQ_RESULT, TD_RESETS, TD_LAST_RESET,
    TD_DMA_SRC_LO, TD_DMA_SRC_HI, TD_DMA_DST_LO, TD_DMA_DST_HI, TD_DMA_LEN,
    TD_DMA_OP, TD_DMA_FILL, TD_DMA_VECTOR, TD_DMA_STATUS, TD_DMA_COUNT,
};

static void config_space(struct vfu_client *c, uint8_t cfg[4096])
{
    ck_assert_int_eq(vfu_client_region_read(c, PT_CONFIG, 0, cfg, 4096), 0);
}

static uint64_t pba(struct vfu_client *c)
{
    uint64_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &v, 8), 0);
    return v;
}

/* Mask or unmask MSI-X vector n in the device's table. */
static void msix_entry_mask(struct vfu_client *c, unsigned n, bool mask)
{
    pt_wr32(c, PT_BAR4, 16 * n + 12, mask ? 1 : 0);
}

START_TEST(test_testdev)
{
    struct harness *hs = pt_start_testdev("magic = 0x1122334455667788");
    struct harness *hd = pt_start_testdev("magic = 0x1122334455667788");
    struct vfu_client *s = pt_open(hs, "t0");
    struct vfu_client *d = pt_open(hd, "t0");
    int efs[TD_VECTORS], efd[TD_VECTORS];
    uint8_t cfg_s[4096], cfg_d[4096];
    uint32_t regs[G_N_ELEMENTS(td_regs)];
    struct mt_mem mem;
    double stopped_ms;
    size_t bytes;

    mt_mem_new(&mem, MEM);
    /* Source: a guest that set the device up and used it. */
    mt_mem_map(s, &mem, BASE);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efs[i] = pt_eventfd();
        efd[i] = pt_eventfd();
    }
    pt_irq_attach(s, PT_IRQ_MSIX, 0, TD_VECTORS, efs);
    ck_assert_int_eq(vfu_client_cfg_write32(s, PCI_BASE_ADDRESS_0, 0xfebf0000), 0);
    pt_bus_master(s, true);
    pt_msix_enable(s, true);
    for (unsigned i = 0; i < PG; i++) {
        mem.p[2 * PG + i] = (uint8_t)(i * 7 + 3);
    }
    ck_assert_uint_eq(pt_dma(s, TD_OP_TO_DEV, BASE + 2 * PG, 0x800, PG, 0), TD_ST_DONE);
    ck_assert_uint_eq(pt_dma(s, TD_OP_FILL, 0, BASE + 8 * PG, 64, 0xcafe0001), TD_ST_DONE);
    pt_bar0_set(s, TD_SCRATCH, 0xdeadbeef);
    pt_bar0_set(s, TD_DMA_VECTOR, 3);
    pt_wr32(s, PT_BAR2, 0x100, 0x0badc0de);   /* mmappable part */
    pt_wr32(s, PT_BAR2, 0x4000, 0x5eed5eed);  /* trapped part */
    /* A pending vector: masked in the table, then raised. */
    msix_entry_mask(s, 1, true);
    pt_bar0_set(s, TD_IRQ_RAISE, 1);
    ck_assert_uint_eq(pt_efd_wait(efs[1], 20), 0);
    ck_assert_uint_eq(pba(s), 1u << 1);

    /* Destination: its client has memory and interrupts wired first, as
     * QEMU does at realize. */
    mt_mem_map(d, &mem, BASE);
    pt_irq_attach(d, PT_IRQ_MSIX, 0, TD_VECTORS, efd);

    bytes = mt_migrate(s, d, &stopped_ms);
    fprintf(stderr, "MEASURE testdev in-process: %zu bytes, device stopped %.3f ms\n",
            bytes, stopped_ms);
    ck_assert_uint_eq(mt_get(s), MT_STOP);
    ck_assert_uint_eq(mt_get(d), MT_RUNNING);

    /* Registers, config space, BAR2 memory, pending bits: all equal. */
    for (unsigned i = 0; i < G_N_ELEMENTS(td_regs); i++) {
        regs[i] = pt_bar0(s, td_regs[i]);
        ck_assert_msg(pt_bar0(d, td_regs[i]) == regs[i], "register %#x: %#x, source %#x",
                      td_regs[i], pt_bar0(d, td_regs[i]), regs[i]);
    }
    ck_assert_uint_eq(pt_bar0(d, TD_DMA_COUNT), 2);
    ck_assert_uint_eq(pt_bar0(d, TD_SCRATCH), 0xdeadbeef);
    config_space(s, cfg_s);
    config_space(d, cfg_d);
    ck_assert_int_eq(memcmp(cfg_s, cfg_d, sizeof(cfg_s)), 0);
    ck_assert_uint_eq(pt_rd32(d, PT_BAR2, 0x100), 0x0badc0de);
    ck_assert_uint_eq(pt_rd32(d, PT_BAR2, 0x4000), 0x5eed5eed);
    ck_assert_uint_eq(pt_rd32(d, PT_BAR2, 0x8000), 0xb2008000);
    ck_assert_uint_eq(pba(d), 1u << 1);
    /* The pending interrupt is delivered on the destination at unmask. */
    ck_assert_uint_eq(pt_efd_wait(efd[1], 50), 0);
    msix_entry_mask(d, 1, false);
    ck_assert_uint_eq(pt_efd_wait(efd[1], 2000), 1);
    ck_assert_uint_eq(pba(d), 0);
    /* The device buffer came along: the destination writes it back. */
    memset(mem.p + 4 * PG, 0, PG);
    ck_assert_uint_eq(pt_dma(d, TD_OP_FROM_DEV, 0x800, BASE + 4 * PG, PG, 0), TD_ST_DONE);
    ck_assert_int_eq(memcmp(mem.p + 4 * PG, mem.p + 2 * PG, PG), 0);
    ck_assert_uint_eq(pt_bar0(d, TD_DMA_COUNT), 3);
    /* The source stays stopped: its interrupts stay held. */
    pt_bar0_set(s, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(efs[0], 50), 0);

    pt_close_fds(efs, TD_VECTORS);
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(s);
    vfu_client_close(d);
    mt_mem_free(&mem);
    pt_finish(hs);
    pt_finish(hd);
}
END_TEST

START_TEST(test_testdev_dma_in_flight)
{
    struct harness *hs = pt_start_testdev("dma-delay-ms = 1000");
    struct harness *hd = pt_start_testdev("dma-delay-ms = 1000");
    struct vfu_client *s = pt_open(hs, "t0");
    struct vfu_client *d = pt_open(hd, "t0");
    int efs = pt_eventfd(), efd = pt_eventfd();
    struct mt_mem mem;
    double stopped_ms;

    mt_mem_new(&mem, MEM);
    mt_mem_map(s, &mem, BASE);
    mt_mem_map(d, &mem, BASE);
    pt_irq_attach(s, PT_IRQ_MSIX, 0, 1, &efs);
    pt_irq_attach(d, PT_IRQ_MSIX, 0, 1, &efd);
    pt_bus_master(s, true);
    pt_msix_enable(s, true);
    /* A DMA that waits a second before it writes. */
    pt_dma_start(s, TD_OP_FILL, 0, BASE + 5 * PG, PG, 0x0d0d0d0d, 0);
    mt_migrate(s, d, &stopped_ms);
    /* Stopping did not wait for it: it gave up its wait and travelled
     * with the state, still busy. */
    if (!harness_wrapped()) {
        ck_assert_msg(stopped_ms < 500, "stopping waited %.1f ms for the DMA",
                      stopped_ms);
    }
    ck_assert_uint_eq(pt_bar0(s, TD_DMA_STATUS), TD_ST_BUSY);
    /* The destination finishes it (with its delay), into the same guest
     * memory, and interrupts there. */
    ck_assert_uint_eq(pt_dma_wait(d), TD_ST_DONE);
    ck_assert_uint_eq(mem.p[5 * PG], 0x0d);
    ck_assert_uint_eq(mem.p[6 * PG - 1], 0x0d);
    ck_assert_uint_eq(pt_bar0(d, TD_DMA_COUNT), 1);
    ck_assert_uint_eq(pt_efd_wait(efd, 2000), 1);
    /* The source never did it. */
    g_usleep(1200 * 1000);
    ck_assert_uint_eq(pt_bar0(s, TD_DMA_STATUS), TD_ST_BUSY);
    ck_assert_uint_eq(pt_bar0(s, TD_DMA_COUNT), 0);
    ck_assert_uint_eq(pt_efd_wait(efs, 10), 0);

    /* An abandoned migration: the source runs its parked DMA itself. */
    mt_set(s, MT_RUNNING);
    ck_assert_uint_eq(pt_dma_wait(s), TD_ST_DONE);
    ck_assert_uint_eq(pt_bar0(s, TD_DMA_COUNT), 1);
    ck_assert_uint_eq(pt_efd_wait(efs, 2000), 1);

    close(efs);
    close(efd);
    vfu_client_close(s);
    vfu_client_close(d);
    mt_mem_free(&mem);
    pt_finish(hs);
    pt_finish(hd);
}
END_TEST

/* ------------------------------------------------------------------------
 * gpio
 */
static struct harness *start_gpio_fifo(void)
{
    struct harness *h = harness_new("[daemon]\nsocket-dir = @SOCKDIR@\n"
                                    "[g0]\nplugin = gpio\n"
                                    "input-file = @DIR@/in.fifo\n"
                                    "output-file = @DIR@/out\n");
    g_autofree char *fifo = g_build_filename(h->dir, "in.fifo", NULL);
    static const char *const names[] = { "g0", NULL };

    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(harness_start(h, NULL, names), 0);
    pt_log_wait_count(h, "listening on", 1);
    return h;
}

static void gpio_input(struct harness *h, const char *line)
{
    g_autofree char *fifo = g_build_filename(h->dir, "in.fifo", NULL);
    int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
}

static char *gpio_output(struct harness *h)
{
    g_autofree char *path = g_build_filename(h->dir, "out", NULL);
    char *text = NULL;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

static uint8_t gpio_rd(struct vfu_client *c, unsigned reg)
{
    uint8_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR2, reg, &v, 1), 0);
    return v;
}

static void gpio_wr(struct vfu_client *c, unsigned reg, uint8_t v)
{
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR2, reg, &v, 1, false), 0);
}

START_TEST(test_gpio)
{
    struct harness *hs = start_gpio_fifo();
    struct harness *hd = start_gpio_fifo();
    struct vfu_client *s = pt_open(hs, "g0");
    struct vfu_client *d = pt_open(hd, "g0");
    int efs = pt_eventfd(), efd = pt_eventfd();
    g_autofree char *out = NULL;
    double stopped_ms;
    size_t bytes;

    pt_irq_attach(s, PT_IRQ_INTX, 0, 1, &efs);
    pt_irq_attach(d, PT_IRQ_INTX, 0, 1, &efd);
    pt_cfg16_set(s, PCI_COMMAND, PCI_COMMAND_IO);
    /* Outputs set by the guest; a filter; the interrupt enabled. */
    gpio_wr(s, 0, 0x5a);
    gpio_wr(s, 4, 0xa5);
    gpio_wr(s, 7, 0x0f);
    (void)gpio_rd(s, 2);
    /* An input changes: the interrupt latches, INTx fires; the guest has
     * not acknowledged it (no EOI, no unmask) when the VM migrates. */
    gpio_input(hs, "0x0001\n");
    ck_assert_uint_eq(pt_efd_wait(efs, 5000), 1);
    ck_assert_uint_eq(gpio_rd(s, 6), 0x05);

    bytes = mt_migrate(s, d, &stopped_ms);
    fprintf(stderr, "MEASURE gpio in-process: %zu bytes, device stopped %.3f ms\n",
            bytes, stopped_ms);
    ck_assert_uint_eq(gpio_rd(d, 0), 0x5a);
    ck_assert_uint_eq(gpio_rd(d, 4), 0xa5);
    ck_assert_uint_eq(gpio_rd(d, 1), 0x01);
    ck_assert_uint_eq(gpio_rd(d, 5), 0x00);
    ck_assert_uint_eq(gpio_rd(d, 7), 0x0f);
    ck_assert_uint_eq(gpio_rd(d, 6), 0x05);
    ck_assert_uint_eq(pt_cfg16(d, PCI_COMMAND), PCI_COMMAND_IO);
    out = gpio_output(hd);
    ck_assert_str_eq(out, "0xa55a\n");
    /* INTx is still asserted (config status says so) and was signalled
     * already: the destination raises it again when the guest's EOI
     * unmasks it, not before. */
    ck_assert_uint_ne(pt_cfg16(d, PCI_STATUS) & PCI_STATUS_INTERRUPT, 0);
    ck_assert_uint_eq(pt_efd_wait(efd, 100), 0);
    ck_assert_int_eq(vfu_client_set_irqs(d, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL,
                                         0, NULL), 0);
    ck_assert_uint_eq(pt_efd_wait(efd, 2000), 1);
    /* The guest's handler clears it, then EOI unmasks. */
    gpio_wr(d, 1, 0);
    ck_assert_uint_eq(gpio_rd(d, 6), 0);
    ck_assert_uint_eq(pt_cfg16(d, PCI_STATUS) & PCI_STATUS_INTERRUPT, 0);
    ck_assert_int_eq(vfu_client_set_irqs(d, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL,
                                         0, NULL), 0);
    ck_assert_uint_eq(pt_efd_wait(efd, 100), 0);
    /* The destination follows its own input-file from now on. */
    gpio_input(hd, "0x0003\n");
    ck_assert_uint_eq(pt_efd_wait(efd, 5000), 1);
    ck_assert_uint_eq(gpio_rd(d, 1), 0x03);

    close(efs);
    close(efd);
    vfu_client_close(s);
    vfu_client_close(d);
    pt_finish(hs);
    pt_finish(hd);
}
END_TEST

START_TEST(test_gpio_inputs_wait_while_stopped)
{
    struct harness *h = start_gpio_fifo();
    struct vfu_client *c = pt_open(h, "g0");
    int efd = pt_eventfd();

    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &efd);
    pt_cfg16_set(c, PCI_COMMAND, PCI_COMMAND_IO);
    (void)gpio_rd(c, 2);
    mt_set(c, MT_STOP);
    gpio_input(h, "0x0100\n");
    /* Give the daemon time to read the FIFO: nothing changes. */
    g_usleep(200 * 1000);
    ck_assert_uint_eq(gpio_rd(c, 5), 0);
    ck_assert_uint_eq(gpio_rd(c, 6), 0);
    ck_assert_uint_eq(pt_efd_wait(efd, 10), 0);
    /* Running again, the change happens, with its interrupt. */
    mt_set(c, MT_RUNNING);
    ck_assert_uint_eq(gpio_rd(c, 5), 0x01);
    ck_assert_uint_eq(gpio_rd(c, 6), 0x06);
    ck_assert_uint_eq(pt_efd_wait(efd, 2000), 1);
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_round_trip)
{
    struct harness *ha = pt_start_testdev(NULL);
    struct harness *hb = pt_start_testdev(NULL);
    struct vfu_client *a = pt_open(ha, "t0");
    struct vfu_client *b = pt_open(hb, "t0");

    pt_bar0_set(a, TD_SCRATCH, 0xaaaa5555);
    mt_migrate(a, b, NULL);
    ck_assert_uint_eq(pt_bar0(b, TD_SCRATCH), 0xaaaa5555);
    pt_bar0_set(b, TD_SCRATCH, 0xbbbb6666);
    /* A, stopped since it left, takes the state back. */
    mt_migrate(b, a, NULL);
    ck_assert_uint_eq(mt_get(a), MT_RUNNING);
    ck_assert_uint_eq(mt_get(b), MT_STOP);
    ck_assert_uint_eq(pt_bar0(a, TD_SCRATCH), 0xbbbb6666);
    vfu_client_close(a);
    vfu_client_close(b);
    pt_finish(ha);
    pt_finish(hb);
}
END_TEST

static Suite *migrate_suite(void)
{
    Suite *s = suite_create("migrate");
    TCase *tc = pt_tcase("migrate");

    tcase_add_test(tc, test_testdev);
    tcase_add_test(tc, test_testdev_dma_in_flight);
    tcase_add_test(tc, test_gpio);
    tcase_add_test(tc, test_gpio_inputs_wait_while_stopped);
    tcase_add_test(tc, test_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(migrate_suite());
}
