/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts: DEVICE_GET_IRQ_INFO (§2.7) and DEVICE_SET_IRQS (§2.8), every
 * action x data combination of the table in §2.8 and each malformed
 * request, observed through the eventfds the testdev raises (IRQ_RAISE,
 * IRQ_SIGNAL) and the MSI-X PBA read over REGION_READ (§4).
 *
 * Traps covered: 2 (fds closed when refused), 16 (SET_IRQS edge cases:
 * disable with count 0, detach without fds, start..start+count-1,
 * replacing eventfds), 17 (INTx auto-mask, resample fd, Command bit 10),
 * 20.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long "not signalled" is watched. */
#define QUIET_MS 50

/* SET_IRQS as given; argsz covers the data.  0 or -errno. */
static int set_irqs_raw(struct vfu_client *c, uint32_t index, uint32_t flags,
                        uint32_t start, uint32_t count, const int *fds,
                        unsigned nr_fds, const void *data, size_t data_len)
{
    g_autofree uint8_t *p = g_malloc0(sizeof(struct vfio_user_irq_set) + data_len);
    struct vfio_user_irq_set s = {
        .argsz = (uint32_t)(sizeof(s) + data_len),
        .flags = flags,
        .index = index,
        .start = start,
        .count = count,
    };
    struct pt_reply r;
    int ret;

    memcpy(p, &s, sizeof(s));
    if (data_len > 0) {
        memcpy(p + sizeof(s), data, data_len);
    }
    ret = pt_call(c, VFIO_USER_DEVICE_SET_IRQS, 0, p, sizeof(s) + data_len, fds, nr_fds, &r);
    if (ret == 0) {
        ck_assert_uint_eq(r.len, 0);
    }
    pt_reply_clear(&r);
    return ret;
}

static void set_irqs_ok(struct vfu_client *c, uint32_t index, uint32_t flags,
                        uint32_t start, uint32_t count, const int *fds,
                        unsigned nr_fds, const void *data, size_t data_len)
{
    int r = set_irqs_raw(c, index, flags, start, count, fds, nr_fds, data, data_len);

    ck_assert_msg(r == 0, "SET_IRQS index %u flags %#x %u+%u: %s", index, flags, start,
                  count, strerror(-r));
}

static void raise_vector(struct vfu_client *c, unsigned n)
{
    pt_bar0_set(c, TD_IRQ_RAISE, n);
    ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), 0);
}

static void assert_signalled(int efd)
{
    ck_assert_msg(pt_efd_wait(efd, 2000) > 0, "eventfd not signalled");
}

static void assert_quiet(int efd)
{
    ck_assert_msg(pt_efd_wait(efd, QUIET_MS) == 0, "eventfd signalled");
}

/* Only efds[n] of four fired (n < 0: none). */
static void assert_only(int *efds, int n)
{
    for (int i = 0; i < TD_VECTORS; i++) {
        if (i == n) {
            assert_signalled(efds[i]);
        } else {
            ck_assert_msg(pt_efd_wait(efds[i], i < n ? 0 : QUIET_MS / 4) == 0,
                          "vector %d fired", i);
        }
    }
}

static uint64_t pba(struct vfu_client *c)
{
    uint64_t v = 0;

    ck_assert_int_eq(vfu_client_region_read(c, PT_BAR4, TD_PBA_OFFSET, &v, sizeof(v)), 0);
    return v;
}

/* A testdev with MSI-X enabled and an eventfd on every vector. */
static struct vfu_client *msix_setup(struct harness *h, int *efds)
{
    struct vfu_client *c = pt_open(h, "t0");

    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efds[i] = pt_eventfd();
    }
    pt_msix_enable(c, true);
    pt_irq_attach(c, PT_IRQ_MSIX, 0, TD_VECTORS, efds);
    return c;
}

/* ------------------------------------------------------------------------
 * GET_IRQ_INFO
 */
START_TEST(test_irq_info)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const struct { uint32_t count, flags; } want[5] = {
        [PT_IRQ_INTX] = { 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
                             VFIO_IRQ_INFO_AUTOMASKED },
        [PT_IRQ_MSI] = { 0, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
                            VFIO_IRQ_INFO_NORESIZE },
        [PT_IRQ_MSIX] = { TD_VECTORS, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE },
        [PT_IRQ_ERR] = { 1, VFIO_IRQ_INFO_EVENTFD },
        [PT_IRQ_REQ] = { 1, VFIO_IRQ_INFO_EVENTFD },
    };
    struct vfio_user_irq_info req = { .argsz = sizeof(req) };

    for (unsigned i = 0; i < 5; i++) {
        struct vfio_user_irq_info info;

        ck_assert_int_eq(vfu_client_irq_info(c, i, &info), 0);
        ck_assert_uint_eq(info.argsz, sizeof(info));
        ck_assert_uint_eq(info.index, i);
        ck_assert_uint_eq(info.count, want[i].count);
        ck_assert_uint_eq(info.flags, want[i].flags);
    }
    req.index = 5;
    pt_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req), NULL, 0, EINVAL);
    req.index = 0xffffffff;
    pt_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req), NULL, 0, EINVAL);
    req.index = 0;
    req.argsz = 8;
    pt_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req), NULL, 0, EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * The action x data table of §2.8, on MSI-X
 */
START_TEST(test_trigger_eventfd)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    int base = harness_fd_count(h->pid);
    int fresh = pt_eventfd();

    /* Each vector raises its own eventfd. */
    for (int i = 0; i < TD_VECTORS; i++) {
        raise_vector(c, (unsigned)i);
        assert_only(efds, i);
    }
    /* No fds: detach vectors 1..2; raising them leaves them pending. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 1, 2, NULL, 0, NULL, 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base - 2, 2000), base - 2);
    raise_vector(c, 2);
    assert_only(efds, -1);
    ck_assert_uint_eq(pba(c), 1u << 2);
    /* Attaching an eventfd delivers what was pending. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 2, 1, &fresh, 1, NULL, 0);
    assert_signalled(fresh);
    ck_assert_uint_eq(pba(c), 0);
    /* A new eventfd replaces the old one, which the daemon closes. */
    base = harness_fd_count(h->pid);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1, &fresh, 1, NULL, 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    raise_vector(c, 0);
    assert_signalled(fresh);
    assert_quiet(efds[0]);
    pt_close_fds(efds, TD_VECTORS);
    close(fresh);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_trigger_none_and_bool)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    static const uint8_t pick[4] = { 1, 0, 0, 1 };

    /* TRIGGER | NONE fires start..start+count-1 (trap 16: not 0..count). */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 2, 1, NULL, 0, NULL, 0);
    assert_only(efds, 2);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 1, 3, NULL, 0, NULL, 0);
    assert_quiet(efds[0]);
    for (int i = 1; i < 4; i++) {
        assert_signalled(efds[i]);
    }
    /* TRIGGER | BOOL fires those with a 1. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 0, 4, NULL, 0, pick, 4);
    assert_signalled(efds[0]);
    assert_signalled(efds[3]);
    assert_quiet(efds[1]);
    assert_quiet(efds[2]);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 3, 1, NULL, 0, pick, 1);
    assert_only(efds, 3);
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_mask_unmask)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    static const uint8_t mask23[4] = { 0, 0, 1, 1 };
    static const uint8_t only2[4] = { 0, 0, 1, 0 };

    /* MASK | NONE: a raised vector stays pending (PBA bit) until UNMASK
     * | NONE delivers it. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_MASK | PT_NONE, 1, 1, NULL, 0, NULL, 0);
    raise_vector(c, 1);
    assert_only(efds, -1);
    ck_assert_uint_eq(pba(c), 1u << 1);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_UNMASK | PT_NONE, 1, 1, NULL, 0, NULL, 0);
    assert_only(efds, 1);
    ck_assert_uint_eq(pba(c), 0);
    /* Unmasking with nothing pending fires nothing. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_UNMASK | PT_NONE, 0, 4, NULL, 0, NULL, 0);
    assert_only(efds, -1);

    /* MASK | BOOL masks where 1; UNMASK | BOOL unmasks where 1. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_MASK | PT_BOOL, 0, 4, NULL, 0, mask23, 4);
    raise_vector(c, 2);
    raise_vector(c, 3);
    raise_vector(c, 0);
    assert_only(efds, 0);
    ck_assert_uint_eq(pba(c), 0xc);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_UNMASK | PT_BOOL, 0, 4, NULL, 0, only2, 4);
    assert_only(efds, 2);
    ck_assert_uint_eq(pba(c), 0x8);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_UNMASK | PT_NONE, 3, 1, NULL, 0, NULL, 0);
    assert_only(efds, 3);
    ck_assert_uint_eq(pba(c), 0);
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_mask_unmask_eventfd)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    int base = harness_fd_count(h->pid);
    int extra = pt_eventfd();

    /* MASK | EVENTFD has two readings (§2.8) and UNMASK | EVENTFD only
     * means something for INTx (the resample fd, test_intx_resample): the
     * daemon refuses them cleanly and keeps nothing. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_MASK | PT_EVENTFD, 0, 1, &extra, 1,
                                  NULL, 0), -ENOTSUP);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_UNMASK | PT_EVENTFD, 0, 1, &extra, 1,
                                  NULL, 0), -ENOTSUP);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_INTX, PT_MASK | PT_EVENTFD, 0, 1, &extra, 1,
                                  NULL, 0), -ENOTSUP);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* And routing is unchanged. */
    raise_vector(c, 0);
    assert_only(efds, 0);
    assert_quiet(extra);
    pt_close_fds(efds, TD_VECTORS);
    close(extra);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_msix_masking_from_config_and_table)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    unsigned cap = pt_find_cap(c, PCI_CAP_ID_MSIX);
    uint16_t ctrl = pt_cfg16(c, cap + PCI_MSIX_FLAGS);
    uint32_t vctrl = 1;

    /* Function mask (Message Control bit 14). */
    pt_cfg16_set(c, cap + PCI_MSIX_FLAGS, ctrl | PCI_MSIX_FLAGS_MASKALL);
    raise_vector(c, 1);
    assert_only(efds, -1);
    ck_assert_uint_eq(pba(c), 2);
    pt_cfg16_set(c, cap + PCI_MSIX_FLAGS, ctrl);
    assert_only(efds, 1);
    /* Per-vector mask in the table's vector control (BAR4). */
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR4, 3 * 16 + 12, &vctrl, 4, false), 0);
    raise_vector(c, 3);
    assert_only(efds, -1);
    ck_assert_uint_eq(pba(c), 8);
    vctrl = 0;
    ck_assert_int_eq(vfu_client_region_write(c, PT_BAR4, 3 * 16 + 12, &vctrl, 4, false), 0);
    assert_only(efds, 3);
    ck_assert_uint_eq(pba(c), 0);
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_disable_with_count_zero)
{
    struct harness *h = pt_start_testdev(NULL);
    int efds[TD_VECTORS];
    struct vfu_client *c = msix_setup(h, efds);
    int base = harness_fd_count(h->pid);

    /* Trap 16: count 0 with DATA_NONE | TRIGGER disables the whole index
     * and releases its eventfds. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 0, 0, NULL, 0, NULL, 0);
    ck_assert_int_eq(pt_fd_count_settle(h, base - TD_VECTORS, 2000), base - TD_VECTORS);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        raise_vector(c, i);
    }
    assert_only(efds, -1);
    /* An index with no vectors (MSI here) can be disabled too. */
    set_irqs_ok(c, PT_IRQ_MSI, PT_TRIGGER | PT_NONE, 0, 0, NULL, 0, NULL, 0);
    /* Other shapes of count 0 are refused. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 1, 0, NULL, 0,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_MASK | PT_NONE, 0, 0, NULL, 0,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 0, NULL, 0,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 0, 0, NULL, 0,
                                  NULL, 0), -EINVAL);
    /* Re-attach: works again (what was raised meanwhile may arrive now, as
     * pending vectors do). */
    pt_irq_attach(c, PT_IRQ_MSIX, 0, TD_VECTORS, efds);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        pt_efd_wait(efds[i], 0);
    }
    raise_vector(c, 3);
    assert_only(efds, 3);
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_qemu_msix_enable_sequence)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int intx = pt_eventfd(), v1 = pt_eventfd();

    /* What QEMU does when the guest enables MSI-X (§3): INTx disabled
     * with count 0, MSI-X "enabled" with count 1 and no fd, then one
     * SET_IRQS per vector as the guest unmasks it. */
    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &intx);
    pt_msix_enable(c, true);
    set_irqs_ok(c, PT_IRQ_INTX, PT_TRIGGER | PT_NONE, 0, 0, NULL, 0, NULL, 0);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1, NULL, 0, NULL, 0);
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 1, 1, &v1, 1, NULL, 0);
    raise_vector(c, 1);
    assert_signalled(v1);
    assert_quiet(intx);
    /* Vector 0 has no eventfd yet: pending, not lost. */
    raise_vector(c, 0);
    ck_assert_uint_eq(pba(c), 1);
    /* Guest disables MSI-X: QEMU disables the index and re-arms INTx. */
    set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 0, 0, NULL, 0, NULL, 0);
    pt_msix_enable(c, false);
    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &intx);
    raise_vector(c, 0);
    assert_signalled(intx);
    close(intx);
    close(v1);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * INTx (trap 17)
 */
START_TEST(test_intx_automask)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd = pt_eventfd();

    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &efd);
    /* One signal per assertion, then silence until UNMASK. */
    raise_vector(c, 0);
    assert_signalled(efd);
    raise_vector(c, 0);
    assert_quiet(efd);
    /* UNMASK while still asserted: signalled again. */
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    assert_signalled(efd);
    /* Deasserted, then unmasked: nothing. */
    pt_bar0_set(c, TD_INTX_DEASSERT, 1);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    assert_quiet(efd);
    /* The next assertion signals at once. */
    raise_vector(c, 0);
    assert_signalled(efd);
    pt_bar0_set(c, TD_INTX_DEASSERT, 1);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);

    /* MASK | NONE holds the line back; UNMASK lets it through. */
    set_irqs_ok(c, PT_IRQ_INTX, PT_MASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    raise_vector(c, 0);
    assert_quiet(efd);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    assert_signalled(efd);
    pt_bar0_set(c, TD_INTX_DEASSERT, 1);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_BOOL, 0, 1, NULL, 0, (uint8_t[]){ 1 }, 1);

    /* Command register bit 10 (INTx disable) holds it back too. */
    pt_cfg16_set(c, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE);
    raise_vector(c, 0);
    assert_quiet(efd);
    pt_cfg16_set(c, PCI_COMMAND, 0);
    assert_signalled(efd);
    /* With MSI-X on, IRQ_RAISE goes to MSI-X vector 0, not INTx. */
    pt_bar0_set(c, TD_INTX_DEASSERT, 1);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    pt_msix_enable(c, true);
    raise_vector(c, 0);
    assert_quiet(efd);
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_intx_resample)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efd = pt_eventfd(), resample = pt_eventfd();
    uint64_t one = 1;

    /* KVM's way (§2.8): the resample fd, passed with UNMASK | EVENTFD,
     * stands for "unmask" when it is signalled at EOI. */
    pt_irq_attach(c, PT_IRQ_INTX, 0, 1, &efd);
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_EVENTFD, 0, 1, &resample, 1, NULL, 0);
    raise_vector(c, 0);
    assert_signalled(efd);
    raise_vector(c, 0);
    assert_quiet(efd);
    ck_assert_int_eq(write(resample, &one, 8), 8);
    assert_signalled(efd);
    pt_bar0_set(c, TD_INTX_DEASSERT, 1);
    ck_assert_int_eq(write(resample, &one, 8), 8);
    assert_quiet(efd);
    /* Detach the resample fd (UNMASK | EVENTFD without fd): it no longer
     * unmasks. */
    set_irqs_ok(c, PT_IRQ_INTX, PT_UNMASK | PT_EVENTFD, 0, 1, NULL, 0, NULL, 0);
    raise_vector(c, 0);
    assert_signalled(efd);
    ck_assert_int_eq(write(resample, &one, 8), 8);
    assert_quiet(efd);
    close(efd);
    close(resample);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_err_and_req)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int err = pt_eventfd(), req = pt_eventfd();

    /* Not wired yet: the device is told. */
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_ERR);
    ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), -ENOTCONN);
    pt_irq_attach(c, PT_IRQ_ERR, 0, 1, &err);
    pt_irq_attach(c, PT_IRQ_REQ, 0, 1, &req);
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_ERR);
    ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), 0);
    assert_signalled(err);
    assert_quiet(req);
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_REQ);
    assert_signalled(req);
    assert_quiet(err);
    /* One vector, TRIGGER only. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_ERR, PT_MASK | PT_NONE, 0, 1, NULL, 0, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_REQ, PT_UNMASK | PT_NONE, 0, 1, NULL, 0, NULL,
                                  0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_ERR, PT_TRIGGER | PT_NONE, 0, 2, NULL, 0, NULL,
                                  0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_ERR, PT_TRIGGER | PT_NONE, 1, 1, NULL, 0, NULL,
                                  0), -EINVAL);
    /* Software trigger. */
    set_irqs_ok(c, PT_IRQ_REQ, PT_TRIGGER | PT_NONE, 0, 1, NULL, 0, NULL, 0);
    assert_signalled(req);
    pt_assert_alive(c);
    close(err);
    close(req);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Malformed SET_IRQS
 */
START_TEST(test_set_irqs_bad)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int efds[5] = { pt_eventfd(), pt_eventfd(), pt_eventfd(), pt_eventfd(), pt_eventfd() };
    int pipefd[2], memfd = pt_memfd(4096);
    int odd[2];
    uint8_t bools[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    struct vfio_user_irq_set s = { .argsz = 24, .flags = PT_TRIGGER | PT_NONE,
                                   .index = PT_IRQ_MSIX, .count = 1 };
    uint8_t p[24] = { 0 };
    int base = harness_fd_count(h->pid);
    static const struct { uint32_t index, start, count; } ranges[] = {
        { PT_IRQ_MSIX, 3, 2 },
        { PT_IRQ_MSIX, 4, 1 },
        { PT_IRQ_MSIX, 0, 5 },
        { PT_IRQ_MSIX, 0xffffffff, 2 },
        { PT_IRQ_MSIX, 2, 0xffffffff },
        { PT_IRQ_MSI, 0, 1 },
        { PT_IRQ_INTX, 1, 1 },
        { PT_IRQ_INTX, 0, 2 },
        { 5, 0, 1 },
        { 0xffffffff, 0, 1 },
    };
    static const uint32_t flags[] = {
        PT_TRIGGER,                         /* no data type */
        PT_NONE,                            /* no action */
        PT_TRIGGER | PT_NONE | PT_BOOL,     /* two data types */
        PT_TRIGGER | PT_MASK | PT_NONE,     /* two actions */
        PT_TRIGGER | PT_NONE | 0x40,        /* unknown bit */
        PT_TRIGGER | PT_NONE | 0x80000000u,
        0,
    };

    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    odd[0] = pipefd[0];
    odd[1] = memfd;
    pt_msix_enable(c, true);
    /* start..start+count-1 outside the index. */
    for (unsigned i = 0; i < G_N_ELEMENTS(ranges); i++) {
        ck_assert_msg(set_irqs_raw(c, ranges[i].index, PT_TRIGGER | PT_NONE,
                                   ranges[i].start, ranges[i].count, NULL, 0, NULL,
                                   0) == -EINVAL,
                      "index %u start %u count %u accepted", ranges[i].index,
                      ranges[i].start, ranges[i].count);
        pt_assert_alive(c);
    }
    /* Not exactly one data type and one action. */
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++) {
        ck_assert_msg(set_irqs_raw(c, PT_IRQ_MSIX, flags[i], 0, 1, NULL, 0, NULL, 0) ==
                      -EINVAL, "flags %#x accepted", flags[i]);
        pt_assert_alive(c);
    }
    /* fd count must match count. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 2, efds, 1,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1, efds, 2,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 4, efds, 3,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 4, efds, 5,
                                  NULL, 0), -EINVAL);
    pt_assert_alive(c);
    /* fds that are not eventfds (one bad one spoils the lot). */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1, &pipefd[0],
                                  1, NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 2, odd, 2,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 2, 2,
                                  (int[]){ efds[0], memfd }, 2, NULL, 0), -EINVAL);
    /* fds with DATA_NONE or DATA_BOOL. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 0, 1, efds, 1,
                                  NULL, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 0, 1, efds, 1,
                                  bools, 1), -EINVAL);
    pt_assert_alive(c);
    /* DATA_BOOL carries exactly count bytes; the others carry none. */
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 0, 2, NULL, 0,
                                  bools, 1), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_BOOL, 0, 2, NULL, 0,
                                  bools, 3), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_MASK | PT_BOOL, 0, 4, NULL, 0,
                                  bools, 0), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_NONE, 0, 1, NULL, 0,
                                  bools, 4), -EINVAL);
    ck_assert_int_eq(set_irqs_raw(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1, NULL, 0,
                                  bools, 4), -EINVAL);
    /* argsz that disagrees with the message. */
    memcpy(p, &s, sizeof(s));
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, p, 20, NULL, 0, EINVAL);
    s.argsz = 16;
    memcpy(p, &s, sizeof(s));
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, p, 24, NULL, 0, EINVAL);
    pt_assert_alive(c);
    /* Every refused fd was closed, and nothing got attached. */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        raise_vector(c, i);
    }
    for (unsigned i = 0; i < 5; i++) {
        assert_quiet(efds[i]);
    }
    pt_close_fds(efds, 5);
    pt_close_fds(pipefd, 2);
    close(memfd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_eventfds_split_by_max_msg_fds)
{
    struct harness *h = pt_start_testdev(NULL);
    /* A client that honours a small server limit would split; here we
     * check the daemon takes the whole array at once (count == fds ==
     * 4 <= 16) and, as QEMU does, chunks of one. */
    struct vfu_client *c = pt_open(h, "t0");
    int efds[TD_VECTORS];

    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efds[i] = pt_eventfd();
    }
    pt_msix_enable(c, true);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        set_irqs_ok(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, i, 1, &efds[i], 1, NULL, 0);
    }
    for (int i = TD_VECTORS - 1; i >= 0; i--) {
        raise_vector(c, (unsigned)i);
        assert_only(efds, i);
    }
    pt_close_fds(efds, TD_VECTORS);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *irqs_suite(void)
{
    Suite *s = suite_create("irqs");
    TCase *tc;

    tc = pt_tcase("info");
    tcase_add_test(tc, test_irq_info);
    suite_add_tcase(s, tc);

    tc = pt_tcase("msix");
    tcase_add_test(tc, test_trigger_eventfd);
    tcase_add_test(tc, test_trigger_none_and_bool);
    tcase_add_test(tc, test_mask_unmask);
    tcase_add_test(tc, test_mask_unmask_eventfd);
    tcase_add_test(tc, test_msix_masking_from_config_and_table);
    tcase_add_test(tc, test_disable_with_count_zero);
    tcase_add_test(tc, test_qemu_msix_enable_sequence);
    tcase_add_test(tc, test_eventfds_split_by_max_msg_fds);
    suite_add_tcase(s, tc);

    tc = pt_tcase("intx");
    tcase_add_test(tc, test_intx_automask);
    tcase_add_test(tc, test_intx_resample);
    tcase_add_test(tc, test_err_and_req);
    suite_add_tcase(s, tc);

    tc = pt_tcase("bad");
    tcase_add_test(tc, test_set_irqs_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(irqs_suite());
}
