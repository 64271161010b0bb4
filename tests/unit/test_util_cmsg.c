/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util_cmsg_fds(): the fds of SCM_RIGHTS messages, with what the kernel
 * truncated (MSG_CTRUNC) or what does not fit closed, never leaked.
 */
#include "config.h"

#include "util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

static int count_fds(void)
{
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while (g_dir_read_name(d) != NULL) {
        n++;
    }
    g_dir_close(d);
    return n;
}

/* Send one byte with nr copies of fd. */
static void send_fds(int sock, int fd, unsigned nr)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u = { { 0 } };
    char byte = 'x';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    ck_assert_uint_le(nr, 8);
    if (nr > 0) {
        struct cmsghdr *cm;

        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nr);
        for (unsigned i = 0; i < nr; i++) {
            memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof(int));
        }
    }
    ck_assert_int_eq(sendmsg(sock, &mh, 0), 1);
}

/* Receive one byte with room for room fds; the msghdr's control data
 * stays in *u for util_cmsg_fds. */
struct rx {
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        /* cmsghdr's alignment; not struct cmsghdr itself, whose flexible
         * array makes the union variable-sized for clang
         * (-Wgnu-variable-sized-type-not-at-end). */
        size_t align;
    } u;
    char byte;
    struct iovec iov;
    struct msghdr mh;
};

static void recv_fds(int sock, struct rx *rx, unsigned room)
{
    memset(rx, 0, sizeof(*rx));
    rx->iov.iov_base = &rx->byte;
    rx->iov.iov_len = 1;
    rx->mh.msg_iov = &rx->iov;
    rx->mh.msg_iovlen = 1;
    rx->mh.msg_control = rx->u.buf;
    rx->mh.msg_controllen = room > 0 ? CMSG_SPACE(sizeof(int) * room) : 0;
    ck_assert_int_eq(recvmsg(sock, &rx->mh, MSG_CMSG_CLOEXEC), 1);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;

    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

START_TEST(collects_appending)
{
    int sv[2];
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before = -7;
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    struct rx rx;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    g_array_append_val(fds, before);
    send_fds(sv[0], fd, 3);
    recv_fds(sv[1], &rx, 8);
    ck_assert_int_eq(util_cmsg_fds(&rx.mh, fds), 0);
    ck_assert_uint_eq(fds->len, 4);
    ck_assert_int_eq(g_array_index(fds, int, 0), -7);
    for (guint i = 1; i < 4; i++) {
        ck_assert(same_file(g_array_index(fds, int, i), fd));
        close(g_array_index(fds, int, i));
    }
    /* A message with no fds adds none. */
    send_fds(sv[0], fd, 0);
    recv_fds(sv[1], &rx, 8);
    ck_assert_int_eq(util_cmsg_fds(&rx.mh, fds), 0);
    ck_assert_uint_eq(fds->len, 4);
    g_array_unref(fds);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(truncated_closes_all)
{
    int sv[2];
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    struct rx rx;
    int n;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    n = count_fds();
    send_fds(sv[0], fd, 5);
    /* Room for 2 of 5: the kernel passes 2 and sets MSG_CTRUNC. */
    recv_fds(sv[1], &rx, 2);
    ck_assert(rx.mh.msg_flags & MSG_CTRUNC);
    ck_assert_int_eq(count_fds(), n + 2);
    ck_assert_int_eq(util_cmsg_fds(&rx.mh, fds), -EMSGSIZE);
    ck_assert_uint_eq(fds->len, 0);
    ck_assert_int_eq(count_fds(), n);
    g_array_unref(fds);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(too_many_for_the_buffer)
{
    int sv[2];
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out[2] = { -1, -1 };
    size_t nr = 9;
    struct rx rx;
    int n;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    n = count_fds();
    send_fds(sv[0], fd, 3);
    recv_fds(sv[1], &rx, 8);
    ck_assert_int_eq(util_cmsg_fds_to(&rx.mh, out, 2, &nr), -EMSGSIZE);
    ck_assert_uint_eq(nr, 0);
    ck_assert_int_eq(out[0], -1);
    ck_assert_int_eq(out[1], -1);
    ck_assert_int_eq(count_fds(), n);
    /* Within the limit. */
    send_fds(sv[0], fd, 1);
    recv_fds(sv[1], &rx, 8);
    ck_assert_int_eq(util_cmsg_fds_to(&rx.mh, out, 2, &nr), 0);
    ck_assert_uint_eq(nr, 1);
    ck_assert(same_file(out[0], fd));
    ck_assert_int_eq(out[1], -1);
    close(out[0]);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util_cmsg");
    TCase *tc = tcase_create("fds");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, collects_appending);
    tcase_add_test(tc, truncated_closes_all);
    tcase_add_test(tc, too_many_for_the_buffer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
