/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client that pipelines requests with large replies in big writes and
 * never reads the replies.  The daemon must stop serving it once
 * CONN_SEND_HIGH_WATER (8 MiB) of replies wait, so its memory stays
 * bounded, and drop it after CONN_SEND_STALL_MS.
 *
 * The daemon stops dispatching (and reading) as soon as the mark is
 * passed, so one read batch cannot queue more than one more reply.
 */
#include "config.h"

#include "hostile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define RSS_BOUND_KB (24 * 1024)

START_TEST(pipelined_never_reads)
{
    struct hs s;
    struct vfu_client *c;
    g_autoptr(GByteArray) req = g_byte_array_new();
    struct vfio_user_region_access rd = { .region = PT_BAR2, .count = 64 << 10 };
    long peak = 0;
    unsigned sent = 0;
    int fd;

    hs_start(&s, "pipelined, never reads");
    c = pt_open(s.h, "t0");
    fd = vfu_client_fd(c);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    for (uint16_t id = 1; id <= 2048; id++) {
        pt_msg_append(req, id, VFIO_USER_REGION_READ, 0, &rd, sizeof(rd));
    }
    /* As many 2,048-request writes as the socket takes. */
    for (int k = 0; k < 64; k++) {
        ssize_t n = send(fd, req->data, req->len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            break;
        }
        sent += (unsigned)(n / (ssize_t)(sizeof(struct vfio_user_header) + sizeof(rd)));
        if (n < (ssize_t)req->len) {
            break;
        }
    }
    for (int i = 0; i < 40; i++) {
        peak = MAX(peak, hs_rss_kb(&s));
        g_usleep(50 * 1000);
    }
    printf("hostile: pipelined, never reads: %u requests of 64 KiB replies sent; "
           "daemon VmRSS peak %ld kB (baseline %ld)\n", sent, peak, s.base_rss_kb);
    fflush(stdout);
    vfu_client_close(c);
    hs_wait_fds(&s, s.base_fds);
    ck_assert_msg(peak - s.base_rss_kb < RSS_BOUND_KB,
                  "the daemon grew by %ld kB for a client that does not read",
                  peak - s.base_rss_kb);
    hs_finish(&s);
}
END_TEST

int main(void)
{
    Suite *s;
    TCase *tc;

    if (!harness_rss_meaningful()) {
        /* (an expected failure must not pass for want of judging) */
        fprintf(stderr, "SKIP: the daemon's RSS means nothing under valgrind "
                "or the sanitizers\n");
        return 77;
    }
    s = suite_create("hostile flood");
    tc = pt_tcase("flood");
    tcase_add_test(tc, pipelined_never_reads);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
