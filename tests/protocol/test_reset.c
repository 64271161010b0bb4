/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Resets: DEVICE_RESET (§2.12) and a Function Level Reset started through
 * the PCI Express Device Control register.  Both return the device and its
 * config space to power-on state but keep the client's DMA windows and
 * eventfds (trap 18), also with a DMA in flight.
 *
 * Traps covered: 8 (commands and DMA replies interleaved while a reset
 * waits for the device), 9 (bus mastering off after reset), 18.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PCI_EXP_DEVCAP_FLR_BIT 0x10000000u

/* Program state that a reset must clear, and wire every interrupt. */
struct dirty_state {
    uint8_t *mem;
    int msix[TD_VECTORS];
    int intx, err;
};

static void make_dirty(struct vfu_client *c, struct dirty_state *d)
{
    uint32_t bar0 = 0xfebf0000;

    d->mem = vfu_client_add_memory(c, 0x100000, 0x10000, true);
    ck_assert_ptr_nonnull(d->mem);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        d->msix[i] = pt_eventfd();
    }
    d->intx = pt_eventfd();
    d->err = pt_eventfd();
    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &d->intx);
    pt_irq_attach(c, PT_IRQ_MSIX, 0, TD_VECTORS, d->msix);
    pt_irq_attach(c, PT_IRQ_ERR, 0, 1, &d->err);
    pt_bus_master(c, true);
    pt_msix_enable(c, true);
    ck_assert_int_eq(vfu_client_cfg_write32(c, PCI_BASE_ADDRESS_0, bar0), 0);
    pt_bar0_set(c, TD_SCRATCH, 0x1234);
    pt_bar0_set(c, TD_DMA_LEN, 0x100);
    /* A pending vector: masked, then raised. */
    ck_assert_int_eq(vfu_client_set_irqs(c, PT_IRQ_MSIX, PT_MASK | PT_NONE, 2, 1, NULL, 0,
                                         NULL), 0);
    pt_bar0_set(c, TD_IRQ_RAISE, 2);
    ck_assert_uint_eq(pt_efd_wait(d->msix[2], 20), 0);
    ck_assert_uint_eq(pt_cfg16(c, PCI_COMMAND) & PCI_COMMAND_MASTER, PCI_COMMAND_MASTER);
}

static void dirty_clear(struct dirty_state *d)
{
    pt_close_fds(d->msix, TD_VECTORS);
    close(d->intx);
    close(d->err);
}

/* After a reset of kind `reason` (LAST_RESET value): power-on state, but
 * windows and eventfds still work. */
static void assert_reset_kept_client(struct vfu_client *c, struct dirty_state *d,
                                     uint32_t reason, uint32_t resets)
{
    uint32_t bar0 = 1;
    uint64_t pba = 1;
    unsigned cap = pt_find_cap(c, PCI_CAP_ID_MSIX);

    /* The device... */
    ck_assert_uint_eq(pt_bar0(c, TD_RESETS), resets);
    ck_assert_uint_eq(pt_bar0(c, TD_LAST_RESET), reason);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_LEN), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_VECTOR), 0xffffffff);
    /* ...its config space (command register 0: no bus mastering, no
     * memory decoding; MSI-X off; BARs cleared)... */
    ck_assert_uint_eq(pt_cfg16(c, PCI_COMMAND), 0);
    ck_assert_uint_eq(pt_cfg16(c, cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE, 0);
    ck_assert_int_eq(vfu_client_cfg_read32(c, PCI_BASE_ADDRESS_0, &bar0), 0);
    ck_assert_uint_eq(bar0, 0);
    /* ...and its interrupt state are back to power-on. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &pba, 8), 0);
    ck_assert_uint_eq(pba, 0);
    /* Trap 9 after reset: no DMA until the guest sets bus mastering. */
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x10, 1),
                      TD_ST_ERROR | (EPERM << 16));

    /* The DMA window is still there. */
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0x0badf00d), TD_ST_DONE);
    ck_assert_uint_eq(d->mem[0], 0x0d);
    ck_assert_uint_eq(d->mem[0xfff], 0x0b);
    /* The eventfds too: INTx (MSI-X is off now), then MSI-X once the
     * guest enables it again, and ERR; no SET_IRQS in between. */
    pt_bar0_set(c, TD_IRQ_RAISE, 0);
    ck_assert_uint_eq(pt_efd_wait(d->intx, 2000), 1);
    pt_msix_enable(c, true);
    pt_bar0_set(c, TD_IRQ_RAISE, 1);
    ck_assert_uint_eq(pt_efd_wait(d->msix[1], 2000), 1);
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_ERR);
    ck_assert_uint_eq(pt_efd_wait(d->err, 2000), 1);
    /* The pending vector did not survive. */
    ck_assert_uint_eq(pt_efd_wait(d->msix[2], 20), 0);
}

START_TEST(test_device_reset)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct dirty_state d;
    int fds;

    make_dirty(c, &d);
    fds = harness_fd_count(h->pid);
    ck_assert_int_eq(vfu_client_reset(c), 0);
    /* Nothing of the client was released. */
    ck_assert_int_eq(harness_fd_count(h->pid), fds);
    assert_reset_kept_client(c, &d, TD_RESET_DEVICE, 1);
    /* Again and again: each is counted. */
    for (unsigned i = 2; i <= 10; i++) {
        ck_assert_int_eq(vfu_client_reset(c), 0);
        ck_assert_uint_eq(pt_bar0(c, TD_RESETS), i);
    }
    ck_assert_int_eq(harness_fd_count(h->pid), fds);
    dirty_clear(&d);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_flr)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct dirty_state d;
    unsigned exp;
    uint32_t devcap = 0;
    uint16_t devctl;

    exp = pt_find_cap(c, PCI_CAP_ID_EXP);
    ck_assert_uint_ne(exp, 0);
    ck_assert_int_eq(vfu_client_cfg_read32(c, exp + PCI_EXP_DEVCAP, &devcap), 0);
    ck_assert_uint_ne(devcap & PCI_EXP_DEVCAP_FLR_BIT, 0);
    make_dirty(c, &d);
    /* Initiate FLR (Device Control bit 15), as a guest driver does. */
    devctl = pt_cfg16(c, exp + PCI_EXP_DEVCTL);
    pt_cfg16_set(c, exp + PCI_EXP_DEVCTL, devctl | PCI_EXP_DEVCTL_BCR_FLR);
    /* The bit is not sticky. */
    ck_assert_uint_eq(pt_cfg16(c, exp + PCI_EXP_DEVCTL) & PCI_EXP_DEVCTL_BCR_FLR, 0);
    assert_reset_kept_client(c, &d, TD_RESET_FLR, 1);
    dirty_clear(&d);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_reset_aborts_delayed_dma)
{
    struct harness *h = pt_start_testdev("dma-delay-ms = 2000");
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x1000, true);
    gint64 t0;

    /* A DMA waiting to start when the reset comes: the reset ends it
     * without effect, and does not wait for the delay. */
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    pt_dma_start(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0xffffffff, 0xffffffff);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS), TD_ST_BUSY);
    t0 = g_get_monotonic_time();
    ck_assert_int_eq(vfu_client_reset(c), 0);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 1500 * 1000);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_COUNT), 0);
    ck_assert_uint_eq(mem[0], 0);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_reset_during_dma_by_message)
{
    struct harness *h = pt_start_testdev(NULL);
    /* Small DMA messages so the transfer takes many round trips. */
    struct vfu_client *c = pt_open_caps(h, "t0",
                                        "{\"capabilities\": {\"max_data_xfer_size\": 4096}}");
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x100000, false);
    int fd = vfu_client_fd(c);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    struct {
        struct vfio_user_header hdr;
        struct vfio_user_dma_rw rw;
    } req, rep;
    g_autofree uint8_t *data = g_malloc(4096);
    g_autoptr(GByteArray) b = g_byte_array_new();
    uint32_t go = 1;

    /* The reset waits for the device to stop, and the device needs the
     * client to answer its DMA_WRITEs meanwhile: the daemon must keep
     * both going on one socket (trap 8) instead of deadlocking.  To make
     * the interleaving certain, DEVICE_RESET and the reply to the first
     * DMA_WRITE go out in one write, the reply behind the command. */
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    pt_bar0_set(c, TD_DMA_DST_LO, 0x100000);
    pt_bar0_set(c, TD_DMA_LEN, 0x100000);
    pt_bar0_set(c, TD_DMA_OP, TD_OP_FILL);
    pt_bar0_set(c, TD_DMA_FILL, 0x42424242);
    /* Started by a posted write, so that no reply of ours is pending. */
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR0, TD_DMA_GO, &go, 4, true), 0);
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(recv(fd, &req, sizeof(req), MSG_WAITALL), (ssize_t)sizeof(req));
    ck_assert_uint_eq(req.hdr.cmd, VFIO_USER_DMA_WRITE);
    ck_assert_uint_eq(req.rw.count, 4096);
    ck_assert_int_eq(recv(fd, data, 4096, MSG_WAITALL), 4096);
    memcpy(mem, data, 4096);
    pt_msg_append(b, 0x7000, VFIO_USER_DEVICE_RESET, 0, NULL, 0);
    rep.hdr = (struct vfio_user_header){ .msg_id = req.hdr.msg_id,
                                         .cmd = VFIO_USER_DMA_WRITE,
                                         .msg_size = sizeof(rep),
                                         .flags = VFIO_USER_F_TYPE_REPLY };
    rep.rw = req.rw;
    g_byte_array_append(b, (const guint8 *)&rep, sizeof(rep));
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    /* Waiting for the reset's reply serves the DMA_WRITEs that follow.
     * It must come well before the daemon's own 5 s DMA timeout would
     * have broken a deadlock. */
    vfu_client_set_timeout(c, harness_wrapped() ? 4000 : 2500);
    ck_assert_int_eq(pt_recv(c, 0x7000, NULL), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_RESETS), 1);
    ck_assert_uint_eq(pt_bar0(c, TD_DMA_STATUS) & TD_ST_BUSY, 0);
    ck_assert_uint_eq(vfu_client_request_errors(c), 0);
    pt_assert_alive(c);
    /* And the window still works. */
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x2000, 0x17171717), TD_ST_DONE);
    ck_assert_uint_eq(mem[0x1fff], 0x17);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *reset_suite(void)
{
    Suite *s = suite_create("reset");
    TCase *tc;

    tc = pt_tcase("reset");
    tcase_add_test(tc, test_device_reset);
    tcase_add_test(tc, test_flr);
    tcase_add_test(tc, test_reset_aborts_delayed_dma);
    tcase_add_test(tc, test_reset_during_dma_by_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(reset_suite());
}
