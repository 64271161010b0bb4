/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration state machine (§2.13 MIG_DEVICE_STATE): every (from, to)
 * pair, what the device does in each state (interrupts held and DMA
 * parked while stopped), failing arcs and ERROR, DEVICE_RESET from every
 * state, commands accepted while stopped (trap 23), a client leaving in
 * the middle, and the pre-copy phase.
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NR_STATES 8

/* The kernel's rules: any state from any state except out of ERROR, into
 * ERROR, and from STOP_COPY back to a pre-copy state. */
static bool legal(uint32_t from, uint32_t to)
{
    if (from == MT_ERROR || to == MT_ERROR || to >= NR_STATES) {
        return false;
    }
    return !(from == MT_STOP_COPY && (to == MT_PRE_COPY || to == MT_PRE_COPY_P2P));
}

static bool stopped(uint32_t s)
{
    return s == MT_STOP || s == MT_STOP_COPY || s == MT_RESUMING || s == MT_ERROR;
}

/* testdev into ERROR: resuming is made to fail. */
static void make_error(struct vfu_client *c)
{
    pt_bar0_set(c, TD_MIG_FAULT, TD_FAULT_RESUME);
    mt_set(c, MT_STOP);
    ck_assert_int_eq(mt_set_try(c, MT_RUNNING), -EIO);
    ck_assert_uint_eq(mt_get(c), MT_ERROR);
    /* Region accesses still work in ERROR. */
    pt_bar0_set(c, TD_MIG_FAULT, 0);
}

static void reach(struct vfu_client *c, uint32_t s)
{
    if (s == MT_ERROR) {
        make_error(c);
    } else {
        mt_set(c, s);
    }
    ck_assert_uint_eq(mt_get(c), s);
}

static void back_to_running(struct vfu_client *c)
{
    if (mt_get(c) == MT_ERROR) {
        ck_assert_int_eq(vfu_client_reset(c), 0);
    } else {
        mt_set(c, MT_RUNNING);
    }
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
}

START_TEST(test_matrix)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");

    for (uint32_t from = 0; from < NR_STATES; from++) {
        for (uint32_t to = 0; to <= NR_STATES; to++) {
            int r;

            reach(c, from);
            r = mt_set_try(c, to);
            if (legal(from, to)) {
                ck_assert_msg(r == 0, "%s -> %s refused: %s", mt_state_name(from),
                              mt_state_name(to), strerror(-r));
                ck_assert_msg(mt_get(c) == to, "%s -> %s ended in %s",
                              mt_state_name(from), mt_state_name(to),
                              mt_state_name(mt_get(c)));
            } else {
                ck_assert_msg(r == -EINVAL, "%s -> %s: expected EINVAL, got %s",
                              mt_state_name(from), mt_state_name(to),
                              r == 0 ? "success" : strerror(-r));
                ck_assert_msg(mt_get(c) == from, "refused %s -> %s moved to %s",
                              mt_state_name(from), mt_state_name(to),
                              mt_state_name(mt_get(c)));
            }
            back_to_running(c);
        }
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* MSI-X on, an eventfd per vector. */
static void wire_msix(struct vfu_client *c, int efd[TD_VECTORS])
{
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efd[i] = pt_eventfd();
    }
    pt_irq_attach(c, PT_IRQ_MSIX, 0, TD_VECTORS, efd);
    pt_msix_enable(c, true);
}

static uint64_t pba(struct vfu_client *c)
{
    uint64_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &v, 8), 0);
    return v;
}

START_TEST(test_interrupts_per_state)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];

    wire_msix(c, efd);
    for (uint32_t s = 0; s < NR_STATES; s++) {
        reach(c, s);
        pt_bar0_set(c, TD_IRQ_RAISE, 1);
        if (stopped(s)) {
            /* Held: pending in the PBA, delivered once running again
             * (after a reset from ERROR, pending state is gone). */
            ck_assert_msg(pt_efd_wait(efd[1], 50) == 0, "interrupt delivered in %s",
                          mt_state_name(s));
            ck_assert_uint_eq(pba(c), 1u << 1);
            back_to_running(c);
            if (s == MT_ERROR) {
                ck_assert_uint_eq(pt_efd_wait(efd[1], 50), 0);
                pt_msix_enable(c, true);
            } else {
                ck_assert_uint_eq(pt_efd_wait(efd[1], 2000), 1);
            }
        } else {
            ck_assert_msg(pt_efd_wait(efd[1], 2000) == 1, "no interrupt in %s",
                          mt_state_name(s));
            back_to_running(c);
        }
        ck_assert_uint_eq(pba(c), 0);
    }
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_dma_parked_while_stopped)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x10000, true);

    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    mt_set(c, MT_STOP);
    /* DMA_GO while stopped: accepted, busy, nothing moves. */
    pt_dma_start(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0xa5a5a5a5, 0xffffffff);
    g_usleep(100 * 1000);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS), TD_ST_BUSY);
    ck_assert_uint_eq(mem[0], 0);
    /* Running again, it happens. */
    mt_set(c, MT_RUNNING);
    ck_assert_uint_eq(pt_dma_wait(c), TD_ST_DONE);
    ck_assert_uint_eq(mem[0], 0xa5);
    ck_assert_uint_eq(mem[0xfff], 0xa5);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_COUNT), 1);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_commands_while_stopped)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const uint32_t states[] = { MT_STOP, MT_STOP_COPY, MT_RESUMING };

    for (unsigned i = 0; i < G_N_ELEMENTS(states); i++) {
        int efd = pt_eventfd();
        int fd = pt_memfd(0x1000);
        uint32_t v = 0;

        mt_set(c, states[i]);
        /* The client's memory and interrupt wiring may change at any time
         * (QEMU's memory listener does not ask the device). */
        ck_assert_int_eq(vfu_client_dma_map(c, 0x200000, 0x1000, fd, 0,
                                            VFIO_USER_F_DMA_REGION_READ |
                                                VFIO_USER_F_DMA_REGION_WRITE), 0);
        ck_assert_int_eq(vfu_client_dma_unmap(c, 0x200000, 0x1000, 0), 0);
        pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &efd);
        ck_assert_int_eq(vfu_client_set_irqs(c, PT_IRQ_INTX, PT_TRIGGER | PT_NONE, 0, 0,
                                             NULL, 0, NULL), 0);
        /* Config space and BARs answer. */
        ck_assert_int_eq(vfu_client_cfg_read32(c, 0, &v), 0);
        ck_assert_uint_eq(v, 0x0001fffd);
        pt_cfg16_set(c, PCI_COMMAND, PCI_COMMAND_MEMORY);
        ck_assert_uint_eq(pt_cfg16(c, PCI_COMMAND), PCI_COMMAND_MEMORY);
        pt_bar0_set(c, TD_SCRATCH, 0x5a5a0000 + i);
        ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x5a5a0000 + i);
        ck_assert_uint_eq(pt_rd32(c, PT_BAR2, 0x4000), 0xb2004000);
        ck_assert_uint_eq(mt_get(c), states[i]);
        /* DEVICE_RESET: power-on state, running. */
        ck_assert_int_eq(vfu_client_reset(c), 0);
        ck_assert_uint_eq(mt_get(c), MT_RUNNING);
        ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
        ck_assert_uint_eq(pt_cfg16(c, PCI_COMMAND), 0);
        close(efd);
        close(fd);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_reset_from_each_state)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];

    wire_msix(c, efd);
    for (uint32_t s = 0; s < NR_STATES; s++) {
        reach(c, s);
        ck_assert_int_eq(vfu_client_reset(c), 0);
        ck_assert_msg(mt_get(c) == MT_RUNNING, "reset in %s left %s", mt_state_name(s),
                      mt_state_name(mt_get(c)));
        ck_assert_uint_eq(pt_bar0(c, TD_LAST_RESET), TD_RESET_DEVICE);
        /* It runs: interrupts flow (the reset turned MSI-X off). */
        pt_msix_enable(c, true);
        pt_bar0_set(c, TD_IRQ_RAISE, 2);
        ck_assert_uint_eq(pt_efd_wait(efd[2], 2000), 1);
    }
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_stop_fails)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];

    wire_msix(c, efd);
    /* The device cannot stop: the SET fails, it keeps running. */
    pt_bar0_set(c, TD_MIG_FAULT, TD_FAULT_STOP);
    ck_assert_int_eq(mt_set_try(c, MT_STOP_COPY), -EIO);
    ck_assert_uint_eq(mt_get(c), MT_RUNNING_P2P);
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(efd[0], 2000), 1);
    ck_assert_int_eq(mt_set_try(c, MT_STOP), -EIO);
    pt_bar0_set(c, TD_MIG_FAULT, 0);
    mt_set(c, MT_STOP);
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_save_fails)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];

    wire_msix(c, efd);
    pt_bar0_set(c, TD_MIG_FAULT, TD_FAULT_SAVE);
    /* RUNNING -> STOP_COPY walks RUNNING_P2P, STOP: it stops in STOP. */
    ck_assert_int_eq(mt_set_try(c, MT_STOP_COPY), -EIO);
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    /* From pre-copy the device must run again where the walk stopped. */
    mt_set(c, MT_PRE_COPY);
    ck_assert_int_eq(mt_set_try(c, MT_STOP_COPY), -EIO);
    ck_assert_uint_eq(mt_get(c), MT_PRE_COPY_P2P);
    pt_bar0_set(c, TD_IRQ_RAISE, 3);
    ck_assert_uint_eq(pt_efd_wait(efd[3], 2000), 1);
    pt_bar0_set(c, TD_MIG_FAULT, 0);
    mt_set(c, MT_STOP_COPY);
    g_byte_array_unref(mt_read_all(c));
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_error_state)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];

    wire_msix(c, efd);
    pt_bar0_set(c, TD_SCRATCH, 0x1234);
    make_error(c);
    /* Nothing leaves ERROR but a reset; interrupts stay held. */
    for (uint32_t s = 0; s <= NR_STATES; s++) {
        ck_assert_int_eq(mt_set_try(c, s), -EINVAL);
    }
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(efd[0], 50), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x1234);
    /* A reset whose resume fails again leaves it in ERROR... */
    ck_assert_uint_eq(mt_get(c), MT_ERROR);
    /* ...a good one brings it back, from power-on state. */
    ck_assert_int_eq(vfu_client_reset(c), 0);
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
    pt_msix_enable(c, true);
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(efd[0], 2000), 1);
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_client_gone)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    GByteArray *b;

    /* STOP_COPY: the session ends, the device stays stopped. */
    mt_set(c, MT_STOP_COPY);
    ck_assert_int_eq(mt_read_try(c, 100, NULL), 100);
    pt_close_wait(h, c);
    c = pt_open(h, "t0");
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    /* A new session starts the stream from the beginning. */
    b = mt_save(c);
    ck_assert_int_eq(memcmp(b->data, "vfud-mig", 8), 0);
    /* RESUMING with part of a stream: dropped, the state is kept. */
    mt_set(c, MT_STOP);
    pt_bar0_set(c, TD_SCRATCH, 0x77);
    mt_set(c, MT_RESUMING);
    ck_assert_int_eq(mt_write_try(c, b->data, b->len / 2), 0);
    pt_close_wait(h, c);
    c = pt_open(h, "t0");
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x77);
    /* PRE_COPY: back to RUNNING.  STOP stays STOP. */
    mt_set(c, MT_PRE_COPY);
    pt_close_wait(h, c);
    c = pt_open(h, "t0");
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    mt_set(c, MT_PRE_COPY_P2P);
    pt_close_wait(h, c);
    c = pt_open(h, "t0");
    ck_assert_uint_eq(mt_get(c), MT_RUNNING_P2P);
    mt_set(c, MT_STOP);
    pt_close_wait(h, c);
    c = pt_open(h, "t0");
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    g_byte_array_unref(b);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_pre_copy)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];
    GByteArray *b;

    wire_msix(c, efd);
    mt_set(c, MT_PRE_COPY);
    /* No pre-copy data, and the device runs. */
    ck_assert_int_eq(mt_read_try(c, 4096, NULL), 0);
    ck_assert_int_eq(mt_read_try(c, 4096, NULL), 0);
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(efd[0], 2000), 1);
    pt_bar0_set(c, TD_SCRATCH, 0xfeed);
    mt_set(c, MT_PRE_COPY_P2P);
    ck_assert_int_eq(mt_read_try(c, 4096, NULL), 0);
    /* The stop-copy stream is the whole state. */
    mt_set(c, MT_STOP_COPY);
    b = mt_read_all(c);
    ck_assert_int_eq(memcmp(b->data, "vfud-mig", 8), 0);
    g_byte_array_unref(b);
    /* Out of the saving states there is nothing to read. */
    mt_set(c, MT_RUNNING);
    ck_assert_int_eq(mt_read_try(c, 4096, NULL), -EINVAL);
    mt_set(c, MT_PRE_COPY);
    mt_set(c, MT_RUNNING);
    ck_assert_int_eq(mt_read_try(c, 4096, NULL), -EINVAL);
    pt_close_fds(efd, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *states_suite(void)
{
    Suite *s = suite_create("states");
    TCase *tc = pt_tcase("states");

    tcase_add_test(tc, test_matrix);
    tcase_add_test(tc, test_interrupts_per_state);
    tcase_add_test(tc, test_dma_parked_while_stopped);
    tcase_add_test(tc, test_commands_while_stopped);
    tcase_add_test(tc, test_reset_from_each_state);
    tcase_add_test(tc, test_stop_fails);
    tcase_add_test(tc, test_save_fails);
    tcase_add_test(tc, test_error_state);
    tcase_add_test(tc, test_client_gone);
    tcase_add_test(tc, test_pre_copy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(states_suite());
}
