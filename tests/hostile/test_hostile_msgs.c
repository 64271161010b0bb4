/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile messages: sizes of 4 GiB, 1,000 fds, DMA_MAP of fds that are not
 * memory, maps that overflow the address space, SET_IRQS with fds that are
 * not eventfds.  Each is answered with an error and logged, the daemon keeps
 * no fd of it, the attacking client stays usable, and a second device's
 * client sees no change in latency (hostile.h).
 */
#include "config.h"

#include "hostile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RW (VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)

static void expect_logged(struct hs *s, const char *text)
{
    ck_assert_msg(pt_log_wait(s->h, text, 5000), "%s: the daemon did not log \"%s\"",
                  s->name, text);
}

static void dma_map_expect(struct vfu_client *c, uint64_t addr, uint64_t size,
                           uint64_t offset, int fd, int err)
{
    struct vfio_user_dma_map m = {
        .argsz = sizeof(m), .flags = RW, .offset = offset, .addr = addr, .size = size,
    };

    if (err == 0) {
        pt_expect_ok(c, VFIO_USER_DMA_MAP, &m, sizeof(m), 0);
    } else {
        pt_expect_err(c, VFIO_USER_DMA_MAP, &m, sizeof(m), fd >= 0 ? &fd : NULL,
                      fd >= 0 ? 1 : 0, err);
    }
}

static void attack_claims_of_4gib(struct hs *s)
{
    struct vfu_client *c;
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autofree uint8_t *junk = g_malloc0(1 << 20);
    struct vfio_user_region_access rd = { .region = PT_BAR0, .count = UINT32_MAX };
    struct {
        struct pt_region_access a;
        uint32_t v;
    } __attribute__((packed)) wr = { .a = { .region = PT_BAR0, .count = UINT32_MAX } };
    struct vfio_user_irq_set irq = {
        .argsz = sizeof(irq), .flags = PT_TRIGGER | PT_NONE, .index = PT_IRQ_MSIX,
        .count = UINT32_MAX,
    };
    struct vfio_user_header h;
    int mem = pt_memfd(4096);
    long rss;

    c = pt_open(s->h, "t0");

    /* A header that announces 4 GiB - 1 bytes: refused at once, and what
     * follows is skipped without being buffered. */
    pt_msg_append_sized(buf, 0x4001, VFIO_USER_REGION_WRITE, 0, UINT32_MAX, NULL, 0);
    ck_assert_int_eq(vfu_client_send_raw(c, buf->data, buf->len, NULL, 0), 0);
    ck_assert_int_eq(pt_recv(c, 0x4001, &h), -E2BIG);
    expect_logged(s, "exceeds");
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(vfu_client_send_raw(c, junk, 1 << 20, NULL, 0), 0);
    }
    rss = hs_rss_kb(s);
    ck_assert_msg(!harness_rss_meaningful() || rss - s->base_rss_kb < 4096, "64 MiB of a refused message grew "
                  "the daemon from %ld to %ld kB", s->base_rss_kb, rss);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);

    /* Counts and sizes of 4 GiB inside messages of a sane size. */
    c = pt_open(s->h, "t0");
    pt_expect_err(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), NULL, 0, EINVAL);
    pt_expect_err(c, VFIO_USER_REGION_WRITE, &wr, sizeof(wr), NULL, 0, EINVAL);
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), NULL, 0, EINVAL);
    dma_map_expect(c, 0, 1ull << 32, 0, mem, EINVAL);       /* 4 KiB file */
    dma_map_expect(c, 0, UINT64_MAX - 4096, 0, -1, ENOSPC); /* > 8 TiB */
    expect_logged(s, "exceeds the file");
    pt_assert_alive(c);
    close(mem);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);
}

START_TEST(claims_of_4gib)
{
    struct hs s;

    hs_start(&s, "claims of 4 GiB");
    hs_repeat(&s, attack_claims_of_4gib);
    hs_finish(&s);
}
END_TEST

/* 1,000 fds, 250 per message (a sendmsg carries at most 253). */
static void attack_thousand_fds(struct hs *s)
{
    struct vfu_client *c;
    struct vfio_user_irq_set irq = {
        .argsz = sizeof(irq), .flags = PT_TRIGGER | PT_EVENTFD, .index = PT_IRQ_MSIX,
        .start = 0, .count = 4,
    };
    struct vfio_user_dma_map map = {
        .argsz = sizeof(map), .flags = RW, .addr = 0x100000, .size = 4096,
    };
    struct vfio_user_device_info di = { .argsz = sizeof(di) };
    int fds[250];

    c = pt_open(s->h, "t0");
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 250; i++) {
            fds[i] = round == 1 ? pt_memfd(4096) : pt_eventfd();
        }
        switch (round) {
        case 0:
        case 3:
            pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), fds, 250,
                          EINVAL);
            break;
        case 1:
            pt_expect_err(c, VFIO_USER_DMA_MAP, &map, sizeof(map), fds, 250, EINVAL);
            break;
        default:
            pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &di, sizeof(di), fds, 250,
                          EINVAL);
            break;
        }
        pt_close_fds(fds, 250);
        /* None of them stays in the daemon (the client's socket does). */
        hs_wait_fds(s, s->base_fds + 1);
    }
    expect_logged(s, "250 fds, at most");
    pt_assert_alive(c);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);
}

START_TEST(thousand_fds)
{
    struct hs s;

    hs_start(&s, "1,000 fds");
    hs_repeat(&s, attack_thousand_fds);
    hs_finish(&s);
}
END_TEST

static void attack_dma_map_of_non_memory(struct hs *s)
{
    struct vfu_client *c;
    int fds[4];

    c = pt_open(s->h, "t0");
    fds[0] = hs_pipe_fd();
    fds[1] = hs_socket_fd();
    fds[2] = hs_directory_fd();
    fds[3] = pt_eventfd();
    for (int i = 0; i < 4; i++) {
        dma_map_expect(c, 0x100000, 4096, 0, fds[i], EINVAL);
    }
    pt_close_fds(fds, 4);
    expect_logged(s, "not a memory file");
    hs_wait_fds(s, s->base_fds + 1);
    pt_assert_alive(c);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);
}

START_TEST(dma_map_of_non_memory)
{
    struct hs s;

    hs_start(&s, "DMA_MAP of non-memory");
    hs_repeat(&s, attack_dma_map_of_non_memory);
    hs_finish(&s);
}
END_TEST

static void attack_dma_map_overflow(struct hs *s)
{
    struct vfu_client *c;
    struct vfio_user_dma_unmap un = { .argsz = sizeof(un), .addr = UINT64_MAX, .size = 2 };
    int mem = pt_memfd(64 << 10);

    c = pt_open(s->h, "t0");
    dma_map_expect(c, UINT64_MAX - 4095, 0x2000, 0, -1, EINVAL);   /* wraps */
    dma_map_expect(c, 1ull << 63, 1ull << 63, 0, -1, ENOSPC);      /* huge */
    dma_map_expect(c, 0x100000, 4096, UINT64_MAX - 4095, mem, EINVAL); /* offset */
    dma_map_expect(c, 0x100000, 1ull << 40, 0, mem, EINVAL);       /* > file */
    dma_map_expect(c, 0x100000, 0, 0, -1, EINVAL);                 /* empty */
    pt_expect_err(c, VFIO_USER_DMA_UNMAP, &un, sizeof(un), NULL, 0, ENOENT);
    /* The very top of the address space is a valid window, once. */
    dma_map_expect(c, UINT64_MAX - 4095, 4096, 0, -1, 0);
    dma_map_expect(c, UINT64_MAX - 8191, 8192, 0, -1, EEXIST);
    expect_logged(s, "wraps the address space");
    close(mem);
    pt_assert_alive(c);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);
}

START_TEST(dma_map_overflow)
{
    struct hs s;

    hs_start(&s, "DMA_MAP overflows");
    hs_repeat(&s, attack_dma_map_overflow);
    hs_finish(&s);
}
END_TEST

static void attack_set_irqs_non_eventfds(struct hs *s)
{
    struct vfu_client *c;
    int fds[4], efd;
    int r;

    c = pt_open(s->h, "t0");
    fds[0] = hs_pipe_fd();
    fds[1] = hs_socket_fd();
    fds[2] = hs_directory_fd();
    fds[3] = pt_memfd(4096);
    for (int i = 0; i < 4; i++) {
        r = vfu_client_set_irqs(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 1,
                                &fds[i], 1, NULL);
        ck_assert_int_eq(r, -EINVAL);
        r = vfu_client_set_irqs(c, PT_IRQ_INTX, PT_UNMASK | PT_EVENTFD, 0, 1,
                                &fds[i], 1, NULL);
        ck_assert_int_eq(r, -EINVAL);
        r = vfu_client_set_irqs(c, PT_IRQ_ERR, PT_TRIGGER | PT_EVENTFD, 0, 1,
                                &fds[i], 1, NULL);
        ck_assert_int_eq(r, -EINVAL);
    }
    r = vfu_client_set_irqs(c, PT_IRQ_MSIX, PT_TRIGGER | PT_EVENTFD, 0, 4, fds, 4, NULL);
    ck_assert_int_eq(r, -EINVAL);
    pt_close_fds(fds, 4);
    expect_logged(s, "is not an eventfd");
    hs_wait_fds(s, s->base_fds + 1);
    /* A real eventfd still works, and is the only fd kept. */
    efd = pt_eventfd();
    pt_irq_attach(c, PT_IRQ_MSIX, 0, 1, &efd);
    close(efd);
    hs_wait_fds(s, s->base_fds + 2);
    pt_assert_alive(c);
    vfu_client_close(c);
    hs_wait_fds(s, s->base_fds);
}

START_TEST(set_irqs_non_eventfds)
{
    struct hs s;

    hs_start(&s, "SET_IRQS non-eventfds");
    hs_repeat(&s, attack_set_irqs_non_eventfds);
    hs_finish(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile messages");
    TCase *tc = pt_tcase("messages");

    tcase_add_test(tc, claims_of_4gib);
    tcase_add_test(tc, thousand_fds);
    tcase_add_test(tc, dma_map_of_non_memory);
    tcase_add_test(tc, dma_map_overflow);
    tcase_add_test(tc, set_irqs_non_eventfds);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
