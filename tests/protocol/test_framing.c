/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing: how the daemon cuts the byte stream into messages and attaches
 * fds to them, and what it does with messages that are malformed as
 * messages (sizes, types, unknown commands, stray fds).  After every bad
 * input the next good message must be answered.
 *
 * Traps covered (PROTOCOL.md §5): 1 partial reads, 2 fds and control
 * buffers, 3 oversized / malformed headers, 6 NO_REPLY, 19 disconnect
 * mid-message, 20 error replies, 21 header-only messages.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The daemon refuses messages above 1 MiB of data plus headers
 * (engine/conn.h CONN_MAX_MSG = 16 + 64 + 1 MiB). */
#define MAX_MSG (16u + 64u + (1u << 20))

static const struct vfio_user_device_info info_req = { .argsz = sizeof(info_req) };

static struct vfio_user_region_access bar0_access(uint64_t off, uint32_t count)
{
    return (struct vfio_user_region_access){ .offset = off, .region = PT_BAR0,
                                             .count = count };
}

/* REGION_WRITE of one dword to BAR0. */
static void append_bar0_write(GByteArray *b, uint16_t id, uint32_t flags,
                              unsigned reg, uint32_t v)
{
    uint8_t p[sizeof(struct vfio_user_region_access) + 4];
    struct vfio_user_region_access a = bar0_access(reg, 4);

    memcpy(p, &a, sizeof(a));
    memcpy(p + sizeof(a), &v, 4);
    pt_msg_append(b, id, VFIO_USER_REGION_WRITE, flags, p, sizeof(p));
}

static void append_bar0_read(GByteArray *b, uint16_t id, unsigned reg)
{
    struct vfio_user_region_access a = bar0_access(reg, 4);

    pt_msg_append(b, id, VFIO_USER_REGION_READ, 0, &a, sizeof(a));
}

/* The reply to a BAR0 dword read sent raw. */
static uint32_t recv_bar0_read(struct vfu_client *c, uint16_t id)
{
    struct vfio_user_header hdr;
    uint8_t *body = NULL;
    size_t len = 0;
    uint32_t v;

    ck_assert_int_eq(vfu_client_recv_reply(c, id, &hdr, (void **)&body, &len,
                                           NULL, NULL), 0);
    ck_assert_uint_eq(hdr.cmd, VFIO_USER_REGION_READ);
    ck_assert_uint_eq(len, sizeof(struct vfio_user_region_access) + 4);
    memcpy(&v, body + sizeof(struct vfio_user_region_access), 4);
    free(body);
    return v;
}

static void append_version(GByteArray *b, uint16_t id)
{
    const char *json = VFU_CLIENT_QEMU_CAPS;
    size_t n = strlen(json) + 1;
    g_autofree uint8_t *p = g_malloc0(4 + n);

    memcpy(p + 4, json, n);
    pt_msg_append(b, id, VFIO_USER_VERSION, 0, p, 4 + n);
}

static void send_chunks(struct vfu_client *c, const GByteArray *b, size_t chunk,
                        unsigned pause_us)
{
    for (size_t off = 0; off < b->len; off += chunk) {
        size_t n = MIN(chunk, b->len - off);

        ck_assert_int_eq(vfu_client_send_raw(c, b->data + off, n, NULL, 0), 0);
        if (pause_us > 0) {
            g_usleep(pause_us);
        }
    }
}

/* ------------------------------------------------------------------------
 * Partial reads and pipelining (trap 1)
 */
START_TEST(test_one_byte_at_a_time)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();

    /* VERSION, then a register write and read, each dribbled in bytewise
     * with pauses so that every byte is a read of its own. */
    append_version(b, 0x100);
    send_chunks(c, b, 1, 200);
    ck_assert_int_eq(pt_recv(c, 0x100, NULL), 0);

    g_byte_array_set_size(b, 0);
    append_bar0_write(b, 0x101, 0, TD_SCRATCH, 0xfeedf00d);
    append_bar0_read(b, 0x102, TD_SCRATCH);
    send_chunks(c, b, 1, 200);
    ck_assert_int_eq(pt_recv(c, 0x101, NULL), 0);
    ck_assert_uint_eq(recv_bar0_read(c, 0x102), 0xfeedf00d);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_odd_chunks)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();

    /* 40 messages cut into 7-byte pieces: every boundary falls somewhere
     * inside a header or a payload. */
    for (unsigned i = 0; i < 20; i++) {
        append_bar0_write(b, (uint16_t)(0x200 + 2 * i), 0, TD_SCRATCH, i * 3);
        append_bar0_read(b, (uint16_t)(0x201 + 2 * i), TD_SCRATCH);
    }
    send_chunks(c, b, 7, 50);
    for (unsigned i = 0; i < 20; i++) {
        ck_assert_int_eq(pt_recv(c, (uint16_t)(0x200 + 2 * i), NULL), 0);
        ck_assert_uint_eq(recv_bar0_read(c, (uint16_t)(0x201 + 2 * i)), i * 3);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_many_in_one_write)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();

    for (unsigned i = 0; i < 64; i++) {
        uint16_t id = (uint16_t)(0x300 + 3 * i);

        pt_msg_append(b, id, VFIO_USER_DEVICE_GET_INFO, 0, &info_req, sizeof(info_req));
        append_bar0_write(b, id + 1, 0, TD_SCRATCH, 0x1000 + i);
        append_bar0_read(b, id + 2, TD_SCRATCH);
    }
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    /* Replies come in order: waiting for each id in turn fails on any
     * reply that arrives out of place. */
    for (unsigned i = 0; i < 64; i++) {
        uint16_t id = (uint16_t)(0x300 + 3 * i);

        ck_assert_int_eq(pt_recv(c, id, NULL), 0);
        ck_assert_int_eq(pt_recv(c, id + 1, NULL), 0);
        ck_assert_uint_eq(recv_bar0_read(c, id + 2), 0x1000 + i);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_replies_to_a_late_reader)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_region_access rd = { .region = PT_CONFIG, .count = 4096 };
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autofree uint8_t *cfg = g_malloc(4096);

    /* 1000 config reads sent before reading any reply: ~4 MiB of replies,
     * far more than the socket holds, so the daemon's writes end half-way
     * through messages and must resume exactly there. */
    ck_assert_int_eq(vfu_client_region_read(c, PT_CONFIG, 0, cfg, 4096), 0);
    for (unsigned i = 0; i < 1000; i++) {
        pt_msg_append(b, (uint16_t)(0xa000 + i), VFIO_USER_REGION_READ, 0, &rd, sizeof(rd));
    }
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    for (unsigned i = 0; i < 1000; i++) {
        struct vfio_user_header hdr;
        uint8_t *body = NULL;
        size_t len = 0;

        ck_assert_int_eq(vfu_client_recv_reply(c, (uint16_t)(0xa000 + i), &hdr,
                                               (void **)&body, &len, NULL, NULL), 0);
        ck_assert_uint_eq(len, sizeof(rd) + 4096);
        ck_assert_int_eq(memcmp(body + sizeof(rd), cfg, 4096), 0);
        free(body);
    }
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_repeated_msg_id)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();

    /* Ids mean nothing to the receiver (§1.3): three commands with one id
     * get three replies with that id, in order. */
    append_bar0_write(b, 0x77, 0, TD_SCRATCH, 5);
    append_bar0_read(b, 0x77, TD_SCRATCH);
    pt_msg_append(b, 0x77, VFIO_USER_DEVICE_GET_INFO, 0, &info_req, sizeof(info_req));
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    ck_assert_int_eq(pt_recv(c, 0x77, NULL), 0);
    ck_assert_uint_eq(recv_bar0_read(c, 0x77), 5);
    ck_assert_int_eq(pt_recv(c, 0x77, NULL), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* SET_IRQS ERR TRIGGER|EVENTFD for one vector. */
static void append_err_attach(GByteArray *b, uint16_t id)
{
    struct vfio_user_irq_set s = {
        .argsz = sizeof(s),
        .flags = PT_TRIGGER | PT_EVENTFD,
        .index = PT_IRQ_ERR,
        .count = 1,
    };

    pt_msg_append(b, id, VFIO_USER_DEVICE_SET_IRQS, 0, &s, sizeof(s));
}

/* The eventfd attached to ERR is the one signalled. */
static void assert_err_wired(struct vfu_client *c, int efd)
{
    pt_bar0_set(c, TD_IRQ_SIGNAL, PT_IRQ_ERR);
    ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), 0);
    ck_assert_uint_eq(pt_efd_wait(efd, 2000), 1);
}

START_TEST(test_fds_behind_plain_messages)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");

    /* Two writes without fds, the SET_IRQS with its eventfd in a write of
     * its own right behind them, then more plain messages: the kernel may
     * hand all of it to one read, and the fd must still go to SET_IRQS.
     * Repeated, so that different read boundaries get a chance. */
    for (unsigned round = 0; round < 20; round++) {
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GByteArray) s = g_byte_array_new();
        g_autoptr(GByteArray) t = g_byte_array_new();
        uint16_t id = (uint16_t)(0x400 + 8 * round);
        int efd = pt_eventfd();

        pt_msg_append(a, id, VFIO_USER_DEVICE_GET_INFO, 0, &info_req, sizeof(info_req));
        append_bar0_write(a, id + 1, 0, TD_SCRATCH, round);
        append_err_attach(s, id + 2);
        pt_msg_append(t, id + 3, VFIO_USER_DEVICE_GET_INFO, 0, &info_req, sizeof(info_req));
        append_bar0_read(t, id + 4, TD_SCRATCH);
        ck_assert_int_eq(vfu_client_send_raw(c, a->data, a->len, NULL, 0), 0);
        ck_assert_int_eq(vfu_client_send_raw(c, s->data, s->len, &efd, 1), 0);
        ck_assert_int_eq(vfu_client_send_raw(c, t->data, t->len, NULL, 0), 0);
        ck_assert_int_eq(pt_recv(c, id, NULL), 0);
        ck_assert_int_eq(pt_recv(c, id + 1, NULL), 0);
        ck_assert_int_eq(pt_recv(c, id + 2, NULL), 0);
        ck_assert_int_eq(pt_recv(c, id + 3, NULL), 0);
        ck_assert_uint_eq(recv_bar0_read(c, id + 4), round);
        assert_err_wired(c, efd);
        close(efd);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_fds_lead_a_batch)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();
    int base = harness_fd_count(h->pid);
    int efd = pt_eventfd();
    struct vfio_user_header hdr;

    /* One sendmsg carrying SET_IRQS with its eventfd followed by two plain
     * messages.  The protocol has a client send each message with fds in a
     * sendmsg() of its own (section 1.4; QEMU and LVU do): from the bytes
     * alone the daemon cannot tell where the fds' chunk began, and gives
     * them to the last message of the read.  What must hold: every message
     * is answered, the misplaced fds are refused with a hint in the log and
     * closed, and the connection goes on. */
    append_err_attach(b, 0x500);
    pt_msg_append(b, 0x501, VFIO_USER_DEVICE_GET_INFO, 0, &info_req, sizeof(info_req));
    append_bar0_read(b, 0x502, TD_ID);
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, &efd, 1), 0);
    ck_assert_int_eq(pt_recv(c, 0x500, NULL), 0);
    ck_assert_int_eq(pt_recv(c, 0x501, NULL), 0);
    ck_assert_int_eq(vfu_client_recv_reply(c, 0x502, &hdr, NULL, NULL, NULL, NULL),
                     -EINVAL);
    ck_assert(pt_log_wait(h, "send each message that carries fds with a sendmsg() "
                             "of its own", 1000));
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    close(efd);
    /* Sent properly, the same attach works. */
    efd = pt_eventfd();
    pt_irq_attach(c, PT_IRQ_ERR, 0, 1, &efd);
    assert_err_wired(c, efd);
    close(efd);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Sizes (trap 3)
 */
START_TEST(test_oversized_message)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    static const uint32_t sizes[] = { MAX_MSG + 1, 4u << 20 };
    int base = harness_fd_count(h->pid);

    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autofree uint8_t *body = g_malloc0(sizes[i] - 16);
        struct vfio_user_region_access a = { .region = PT_BAR2, .count = sizes[i] - 32 };
        struct vfio_user_header hdr;
        int efd = pt_eventfd();

        /* A REGION_WRITE too big to accept, body and all (with a stray fd
         * to be closed), then a good message: the daemon answers E2BIG,
         * skips exactly msg_size bytes and answers the next one. */
        memcpy(body, &a, sizeof(a));
        pt_msg_append(b, 0x600, VFIO_USER_REGION_WRITE, 0, body, sizes[i] - 16);
        ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, &efd, 1), 0);
        close(efd);
        ck_assert_int_eq(pt_recv(c, 0x600, &hdr), -E2BIG);
        pt_assert_alive(c);

        /* The same without a reply wanted: silently skipped. */
        g_byte_array_set_size(b, 0);
        pt_msg_append(b, 0x601, VFIO_USER_REGION_WRITE, VFIO_USER_F_NO_REPLY, body,
                      sizes[i] - 16);
        ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
        pt_assert_alive(c);
    }
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_largest_message_accepted)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autofree uint8_t *data = g_malloc0(1u << 20);
    int r;

    /* A REGION_WRITE of max_data_xfer_size bytes passes framing; it only
     * fails because BAR2 is 64 KiB (EINVAL, not E2BIG). */
    r = vfu_client_region_write(c, PT_BAR2, 0, data, 1u << 20, false);
    ck_assert_int_eq(r, -EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_msg_size_below_header)
{
    struct harness *h = pt_start_testdev(NULL);
    static const uint32_t sizes[] = { 0, 8, 15 };

    /* No way to find the next message: the client is dropped and the
     * socket takes the next client. */
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        struct vfu_client *c = pt_open(h, "t0");
        g_autoptr(GByteArray) b = g_byte_array_new();

        pt_msg_append_sized(b, 0x700, VFIO_USER_DEVICE_GET_INFO, 0, sizes[i],
                            &info_req, sizeof(info_req));
        ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
        pt_expect_hangup(c);
        vfu_client_close(c);
    }
    {
        struct vfu_client *c = pt_open(h, "t0");

        pt_assert_alive(c);
        vfu_client_close(c);
    }
    pt_finish(h);
}
END_TEST

START_TEST(test_size_lies)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint8_t big[64] = { 0 };
    struct vfio_user_dma_map map = { .argsz = 28, .flags = 3, .addr = 0x10000,
                                     .size = 0x1000 };
    struct vfio_user_irq_set irq = { .argsz = 24, .flags = PT_TRIGGER | PT_NONE,
                                     .index = PT_IRQ_MSIX, .count = 1 };
    struct vfio_user_region_access acc = bar0_access(TD_SCRATCH, 8);

    /* Payloads shorter or longer than the command's structure. */
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info_req, 8, NULL, 0, EINVAL);
    pt_assert_alive(c);
    memcpy(big, &info_req, sizeof(info_req));
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, big, 24, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_REGION_READ, big, 20, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_INFO, big, 24, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_GET_IRQ_INFO, big, 12, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DMA_UNMAP, big, 30, NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DMA_MAP, big, 40, NULL, 0, EINVAL);
    pt_assert_alive(c);

    /* Lengths inside the payload that disagree with it. */
    pt_expect_err(c, VFIO_USER_DMA_MAP, &map, sizeof(map), NULL, 0, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &irq, sizeof(irq), NULL, 0, EINVAL);
    pt_assert_alive(c);
    /* REGION_WRITE count 8 with 4 data bytes, then count 4 with 8. */
    memcpy(big, &acc, sizeof(acc));
    pt_expect_err(c, VFIO_USER_REGION_WRITE, big, sizeof(acc) + 4, NULL, 0, EINVAL);
    pt_assert_alive(c);
    acc.count = 4;
    memcpy(big, &acc, sizeof(acc));
    pt_expect_err(c, VFIO_USER_REGION_WRITE, big, sizeof(acc) + 8, NULL, 0, EINVAL);
    pt_assert_alive(c);
    /* Nothing was written by the refused writes. */
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_header_only_commands)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint32_t four = 0;

    /* Trap 21: only DEVICE_RESET is a legitimate header-only command. */
    for (uint16_t cmd = VFIO_USER_DMA_MAP; cmd <= VFIO_USER_MIG_DATA_WRITE; cmd++) {
        struct pt_reply r;
        int ret;

        if (cmd == VFIO_USER_DEVICE_RESET || cmd == VFIO_USER_DMA_READ ||
            cmd == VFIO_USER_DMA_WRITE) {
            continue;
        }
        ret = pt_call(c, cmd, 0, NULL, 0, NULL, 0, &r);
        /* DIRTY_PAGES is refused whatever it carries. */
        ck_assert_msg(ret == (cmd == VFIO_USER_DIRTY_PAGES ? -ENOTSUP : -EINVAL),
                      "header-only %s: %s", vfio_user_command_name(cmd),
                      ret == 0 ? "accepted" : strerror(-ret));
        pt_reply_clear(&r);
        pt_assert_alive(c);
    }
    /* And DEVICE_RESET carries nothing. */
    pt_expect_err(c, VFIO_USER_DEVICE_RESET, &four, sizeof(four), NULL, 0, EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Commands and message types
 */
START_TEST(test_unknown_commands)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    /* 11 and 12 go server->client only; 19 (MIG_GET_PRECOPY_INFO) is a
     * proposal nobody implements. */
    static const uint16_t cmds[] = { 0, VFIO_USER_DMA_READ, VFIO_USER_DMA_WRITE,
                                     19, 20, 100, 0x7fff, 0xffff };

    for (unsigned i = 0; i < G_N_ELEMENTS(cmds); i++) {
        struct vfio_user_dma_rw rw = { .addr = 0, .count = 0 };

        pt_expect_err(c, cmds[i], &rw, sizeof(rw), NULL, 0, ENOSYS);
        pt_assert_alive(c);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_message_types)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    g_autoptr(GByteArray) b = g_byte_array_new();
    struct pt_reply r;

    /* Types other than command and reply are refused... */
    for (uint32_t type = 2; type <= 0xf; type += 13) {
        ck_assert_int_eq(pt_call(c, VFIO_USER_DEVICE_GET_INFO, type, &info_req,
                                 sizeof(info_req), NULL, 0, &r), -EINVAL);
        pt_reply_clear(&r);
        pt_assert_alive(c);
    }
    /* ...and a reply to nothing we asked is ignored, not answered. */
    pt_msg_append(b, 0x4242, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_REPLY, NULL, 0);
    pt_msg_append(b, 0x4243, VFIO_USER_DMA_WRITE,
                  VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, NULL, 0);
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    pt_expect_silence(c, 100);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * fds where they do not belong (trap 2)
 */
START_TEST(test_fds_on_wrong_command)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_region_access rd = bar0_access(TD_ID, 4);
    struct vfio_user_dma_unmap unmap = { .argsz = sizeof(unmap), .addr = 0x10000,
                                         .size = 0x1000 };
    struct vfio_user_irq_set none = { .argsz = sizeof(none),
                                      .flags = PT_TRIGGER | PT_NONE,
                                      .index = PT_IRQ_MSIX, .count = 1 };
    struct vfio_user_dma_map map = { .argsz = sizeof(map), .flags = 3,
                                     .addr = 0x10000, .size = 0x1000 };
    struct vfio_user_region_info ri = { .argsz = sizeof(ri), .index = PT_BAR0 };
    int base = harness_fd_count(h->pid);
    int fds[2] = { pt_eventfd(), pt_memfd(0x1000) };

    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info_req, sizeof(info_req), fds, 1,
                  EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), &fds[1], 1, EINVAL);
    pt_assert_alive(c);
    /* DMA_UNMAP tolerates one fd (SPDK's client sends the window's fd
     * again), which is closed; the unmap itself is judged as without it
     * (here: no such window).  Two fds are refused. */
    pt_expect_err(c, VFIO_USER_DMA_UNMAP, &unmap, sizeof(unmap), fds, 1, ENOENT);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DMA_UNMAP, &unmap, sizeof(unmap), fds, 2, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, &none, sizeof(none), fds, 1, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), fds, 2, EINVAL);
    pt_assert_alive(c);
    /* DMA_MAP takes one fd, not two. */
    pt_expect_err(c, VFIO_USER_DMA_MAP, &map, sizeof(map), fds, 2, EINVAL);
    pt_assert_alive(c);
    /* The refused fds were all closed by the daemon. */
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    pt_close_fds(fds, 2);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_too_many_fds)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    int base = harness_fd_count(h->pid);
    int efd = pt_eventfd();
    int fds[253];
    uint8_t p[sizeof(struct vfio_user_irq_set)];
    struct vfio_user_irq_set s = { .argsz = sizeof(s),
                                   .flags = PT_TRIGGER | PT_EVENTFD,
                                   .index = PT_IRQ_MSIX, .count = 17 };

    for (unsigned i = 0; i < G_N_ELEMENTS(fds); i++) {
        fds[i] = dup(efd);
        ck_assert_int_ge(fds[i], 0);
    }
    /* More eventfds than the 16 we advertised as max_msg_fds. */
    memcpy(p, &s, sizeof(s));
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, p, sizeof(p), fds, 17, EINVAL);
    pt_assert_alive(c);
    /* The most the kernel passes in one message (SCM_MAX_FD). */
    s.count = 253;
    memcpy(p, &s, sizeof(s));
    pt_expect_err(c, VFIO_USER_DEVICE_SET_IRQS, p, sizeof(p), fds, 253, EINVAL);
    pt_assert_alive(c);
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info_req, sizeof(info_req), fds, 200,
                  EINVAL);
    pt_assert_alive(c);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    pt_close_fds(fds, G_N_ELEMENTS(fds));
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * NO_REPLY (trap 6)
 */
START_TEST(test_no_reply_never_answered)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_region_access out = { .offset = 0x10000, .region = PT_BAR0,
                                           .count = 4 };
    struct vfio_user_dma_unmap unmap = { .argsz = sizeof(unmap), .addr = 0x10000,
                                         .size = 0x1000 };
    static const uint8_t version_empty[] = { 0, 0, 0, 0, '{', '}', 0 };
    int efd = pt_eventfd();
    g_autoptr(GByteArray) b = g_byte_array_new();

    /* Failing commands of every kind, each flagged NO_REPLY. */
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_NO_REPLY,
                                     &info_req, 8, NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, 99, VFIO_USER_F_NO_REPLY, &info_req,
                                     sizeof(info_req), NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_REGION_READ, VFIO_USER_F_NO_REPLY,
                                     &out, sizeof(out), NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DMA_UNMAP, VFIO_USER_F_NO_REPLY,
                                     &unmap, sizeof(unmap), NULL, 0, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_NO_REPLY,
                                     &info_req, sizeof(info_req), &efd, 1, NULL), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_VERSION, VFIO_USER_F_NO_REPLY,
                                     version_empty, sizeof(version_empty), NULL, 0,
                                     NULL), 0);
    /* and successful ones */
    append_bar0_write(b, 0x800, VFIO_USER_F_NO_REPLY, TD_SCRATCH, 0x5a5a);
    ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_GET_INFO, VFIO_USER_F_NO_REPLY,
                                     &info_req, sizeof(info_req), NULL, 0, NULL), 0);
    pt_expect_silence(c, 200);
    /* The next reply is the one to the next command that wants one
     * (pt_recv fails on any reply to another id). */
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x5a5a);
    pt_assert_alive(c);
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_posted_writes_in_order)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");

    /* Trap 6: QEMU posts memory-BAR writes and relies on a later read
     * seeing all of them. */
    for (uint32_t i = 1; i <= 1000; i++) {
        ck_assert_int_eq(vfu_client_region_write(c, PT_BAR0, TD_SCRATCH, &i, 4, true), 0);
    }
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 1000);
    for (uint32_t i = 0; i < 50; i++) {
        uint32_t v = 0xabc00000 | i;

        ck_assert_int_eq(vfu_client_region_write(c, PT_BAR0, TD_SCRATCH, &v, 4, true), 0);
        ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), v);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Disconnects mid-message (trap 19) and a second client
 */
START_TEST(test_disconnect_mid_message)
{
    struct harness *h = pt_start_testdev(NULL);
    int base = harness_fd_count(h->pid);

    for (unsigned step = 0; step < 4; step++) {
        struct vfu_client *c = pt_open(h, "t0");
        g_autoptr(GByteArray) b = g_byte_array_new();
        struct vfio_user_dma_map map = { .argsz = sizeof(map), .flags = 3,
                                         .addr = 0x10000, .size = 0x1000 };
        uint8_t body[64] = { 0 };
        int fd = pt_memfd(0x1000);

        switch (step) {
        case 0: /* half a header */
            pt_msg_append(b, 0x900, VFIO_USER_DEVICE_GET_INFO, 0, &info_req,
                          sizeof(info_req));
            ck_assert_int_eq(vfu_client_send_raw(c, b->data, 10, NULL, 0), 0);
            break;
        case 1: /* a header and part of its payload */
            pt_msg_append_sized(b, 0x901, VFIO_USER_REGION_WRITE, 0, 16 + 16 + 48,
                                body, sizeof(body));
            ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, NULL, 0), 0);
            break;
        case 2: /* part of a DMA_MAP that carries its fd */
            pt_msg_append(b, 0x902, VFIO_USER_DMA_MAP, 0, &map, sizeof(map));
            ck_assert_int_eq(vfu_client_send_raw(c, b->data, 20, &fd, 1), 0);
            break;
        default: /* a complete message whose reply is never read */
            pt_msg_append(b, 0x903, VFIO_USER_DMA_MAP, 0, &map, sizeof(map));
            ck_assert_int_eq(vfu_client_send_raw(c, b->data, b->len, &fd, 1), 0);
            break;
        }
        close(fd);
        g_usleep(20000);
        vfu_client_close(c);
        /* Everything of that client is released, the fd included. */
        ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    }
    {
        struct vfu_client *c = pt_open(h, "t0");

        pt_assert_alive(c);
        vfu_client_close(c);
    }
    ck_assert(pt_log_wait(h, "client disconnected", 1000));
    pt_finish(h);
}
END_TEST

START_TEST(test_second_client_refused)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c1 = pt_open(h, "t0");
    struct vfu_client *c2 = pt_connect(h, "t0");

    /* One client per device (§1.1): the second is hung up on and the
     * first does not notice. */
    pt_expect_hangup(c2);
    vfu_client_close(c2);
    pt_assert_alive(c1);
    vfu_client_close(c1);
    /* Once the first has gone, the next one is served. */
    for (int i = 0; i < 100; i++) {
        c2 = pt_connect(h, "t0");
        if (vfu_client_negotiate(c2, NULL, NULL) == 0) {
            break;
        }
        /* The daemon had not yet noticed the first hang-up. */
        vfu_client_close(c2);
        c2 = NULL;
        g_usleep(10000);
    }
    ck_assert_ptr_nonnull(c2);
    pt_assert_alive(c2);
    vfu_client_close(c2);
    pt_finish(h);
}
END_TEST

static Suite *framing_suite(void)
{
    Suite *s = suite_create("framing");
    TCase *tc;

    tc = pt_tcase("stream");
    tcase_add_test(tc, test_one_byte_at_a_time);
    tcase_add_test(tc, test_odd_chunks);
    tcase_add_test(tc, test_many_in_one_write);
    tcase_add_test(tc, test_replies_to_a_late_reader);
    tcase_add_test(tc, test_repeated_msg_id);
    tcase_add_test(tc, test_fds_behind_plain_messages);
    tcase_add_test(tc, test_fds_lead_a_batch);
    suite_add_tcase(s, tc);

    tc = pt_tcase("sizes");
    tcase_add_test(tc, test_oversized_message);
    tcase_add_test(tc, test_largest_message_accepted);
    tcase_add_test(tc, test_msg_size_below_header);
    tcase_add_test(tc, test_size_lies);
    tcase_add_test(tc, test_header_only_commands);
    suite_add_tcase(s, tc);

    tc = pt_tcase("commands");
    tcase_add_test(tc, test_unknown_commands);
    tcase_add_test(tc, test_message_types);
    tcase_add_test(tc, test_fds_on_wrong_command);
    tcase_add_test(tc, test_too_many_fds);
    tcase_add_test(tc, test_no_reply_never_answered);
    tcase_add_test(tc, test_posted_writes_in_order);
    suite_add_tcase(s, tc);

    tc = pt_tcase("clients");
    tcase_add_test(tc, test_disconnect_mid_message);
    tcase_add_test(tc, test_second_client_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(framing_suite());
}
