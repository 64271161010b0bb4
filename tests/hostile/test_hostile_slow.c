/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Slow clients: one that never reads its replies (the daemon stops reading
 * its requests at CONN_SEND_HIGH_WATER, keeps its memory bounded, and drops
 * it after CONN_SEND_STALL_MS without progress), and one that sends one
 * byte a second (it holds up nothing; its message completes correctly, and
 * a hang-up half-way through a message is a clean disconnect).  Meanwhile a
 * second device's client sees no change in latency (hostile.h).
 */
#include "config.h"

#include "hostile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* CONN_SEND_STALL_MS in engine/conn.h, and some slack. */
#define STALL_MS 10000
/* CONN_SEND_HIGH_WATER is 8 MiB; the daemon stops serving once it is
 * passed.  16 MiB leaves room for the buffers around it. */
#define RSS_BOUND_KB (16 * 1024)

START_TEST(never_reads_replies)
{
    struct hs s;
    struct vfu_client *c;
    g_autoptr(GByteArray) req = g_byte_array_new();
    struct vfio_user_region_access rd = { .region = PT_BAR2, .count = 64 << 10 };
    long peak = 0;
    unsigned sent = 0;
    gint64 stalled, dropped;
    int fd;

    hs_start(&s, "never reads replies");
    c = pt_open(s.h, "t0");
    fd = vfu_client_fd(c);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    /* 64 KiB replies to 32-byte requests, until the daemon stops taking
     * them and our socket is full. */
    for (uint16_t id = 1; id < 60000; id++) {
        g_byte_array_set_size(req, 0);
        pt_msg_append(req, id, VFIO_USER_REGION_READ, 0, &rd, sizeof(rd));
        if (send(fd, req->data, req->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            break;
        }
        sent++;
    }
    stalled = g_get_monotonic_time();
    ck_assert_msg(sent < 59999, "the daemon took every request (no back-pressure)");
    /* It must drop us within the stall time (and some), memory bounded. */
    while (!harness_log_contains(s.h, "has not read its replies")) {
        long rss = hs_rss_kb(&s);

        peak = MAX(peak, rss);
        ck_assert_msg(g_get_monotonic_time() - stalled < (STALL_MS + 10000) * 1000LL,
                      "the daemon never dropped the client");
        g_usleep(50 * 1000);
    }
    dropped = g_get_monotonic_time();
    printf("hostile: never reads replies: %u requests taken before back-pressure, "
           "dropped %.1f s after our last write; daemon VmRSS peak %ld kB "
           "(baseline %ld)\n", sent, (dropped - stalled) / 1e6, peak, s.base_rss_kb);
    ck_assert_msg(!harness_rss_meaningful() || peak - s.base_rss_kb < RSS_BOUND_KB,
                  "the daemon grew by %ld kB for a client that does not read",
                  peak - s.base_rss_kb);
    ck_assert_msg(dropped - stalled >= (STALL_MS - 1000) * 1000LL,
                  "dropped after %.1f s, before the stall time",
                  (dropped - stalled) / 1e6);
    hs_wait_fds(&s, s.base_fds);
    vfu_client_close(c);
    hs_finish(&s);
}
END_TEST

static void dribble(struct vfu_client *c, const uint8_t *p, size_t len, int ms)
{
    for (size_t i = 0; i < len; i++) {
        ck_assert_int_eq(vfu_client_send_raw(c, p + i, 1, NULL, 0), 0);
        g_usleep((gulong)ms * 1000);
    }
}

START_TEST(one_byte_a_second)
{
    struct hs s;
    struct vfu_client *c;
    g_autoptr(GByteArray) msg = g_byte_array_new();
    struct {
        struct pt_region_access a;
        uint32_t v;
    } __attribute__((packed)) wr = {
        .a = { .offset = TD_SCRATCH, .region = PT_BAR0, .count = 4 },
        .v = 0x5a5a1234,
    };
    struct vfio_user_header h;
    unsigned gone;

    hs_start(&s, "one byte a second");
    c = pt_open(s.h, "t0");
    pt_msg_append(msg, 0x77, VFIO_USER_REGION_WRITE, 0, &wr, sizeof(wr));
    /* Four seconds at a byte a second, then the rest faster: the message
     * completes and is served as if it came whole. */
    dribble(c, msg->data, 4, 1000);
    dribble(c, msg->data + 4, msg->len - 4, 20);
    ck_assert_int_eq(pt_recv(c, 0x77, &h), 0);
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x5a5a1234);
    /* Half a message, then a hang-up: a plain disconnect. */
    gone = pt_log_count(s.h, "client disconnected");
    dribble(c, msg->data, 20, 100);
    vfu_client_close(c);
    pt_log_wait_count(s.h, "client disconnected", gone + 1);
    hs_finish(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile slow clients");
    TCase *tc = pt_tcase("slow");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, never_reads_replies);
    tcase_add_test(tc, one_byte_a_second);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
