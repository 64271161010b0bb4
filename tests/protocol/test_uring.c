/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device thread's merged turn (engine/conn_uring.c) and its fallback.
 * The same session runs with VFIOUSERD_URING=yes (the daemon holds
 * io_uring rings, made before its sandbox), with =no (none: the poll
 * path) and with the default, which takes the turn only where its wait is
 * kept out of iowait (Linux 6.15); test_idle_not_iowait checks that the
 * turn's wait for an idle client is not accounted as iowait.  The session
 * covers what the turn must keep
 * right: pipelined requests answered in order, fds received with a
 * message (eventfds of SET_IRQS, the memfd of a DMA_MAP), a region read whose
 * reply is too large for a turn's send, server->client requests
 * (DMA_READ/DMA_WRITE to memory the client serves) and a client that
 * disconnects and the next one.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 64 writes of the scratch register then 64 reads, in one send: every
 * reply comes, in the order sent (pt_recv checks each id), and the last
 * write stands. */
static void pipelined(struct vfu_client *c)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    enum { N = 64 };

    for (unsigned i = 0; i < 2 * N; i++) {
        struct vfio_user_region_access a = { .offset = TD_SCRATCH, .region = 0, .count = 4 };
        uint32_t v = 0x1000 + i;
        uint8_t p[sizeof(a) + sizeof(v)];

        memcpy(p, &a, sizeof(a));
        memcpy(p + sizeof(a), &v, sizeof(v));
        pt_msg_append(buf, (uint16_t)(100 + i),
                      i < N ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, 0, p,
                      i < N ? sizeof(p) : sizeof(a));
    }
    ck_assert_int_eq(vfu_client_send_raw(c, buf->data, buf->len, NULL, 0), 0);
    for (unsigned i = 0; i < 2 * N; i++) {
        struct vfio_user_header hdr;

        ck_assert_int_eq(pt_recv(c, (uint16_t)(100 + i), &hdr), 0);
    }
    ck_assert_uint_eq(pt_bar0(c, TD_SCRATCH), 0x1000 + N - 1);
}

static void session(struct harness *h)
{
    struct vfu_client *c = pt_open(h, "t0");
    int efd[TD_VECTORS];
    uint8_t *mem, *big;

    for (unsigned round = 0; round < 3; round++) {
        pipelined(c);
    }
    /* fds in: eventfds with SET_IRQS, each signalled by its vector. */
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        efd[i] = pt_eventfd();
    }
    pt_msix_enable(c, true);
    pt_irq_attach(c, VFIO_PCI_MSIX_IRQ_INDEX, 0, TD_VECTORS, efd);
    for (unsigned i = 0; i < TD_VECTORS; i++) {
        pt_bar0_set(c, TD_IRQ_RAISE, i);
        ck_assert_int_eq((int32_t)pt_bar0(c, TD_IRQ_RESULT), 0);
        ck_assert_msg(pt_efd_wait(efd[i], 2000) > 0, "vector %u not signalled", i);
    }
    /* Shared memory: DMA_MAP carries its memfd; the device writes it. */
    mem = vfu_client_add_memory(c, 0x100000, 0x2000, true);
    ck_assert_ptr_nonnull(mem);
    pt_bus_master(c, true);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x100000, 0x1000, 0x5a5a5a5a), TD_ST_DONE);
    ck_assert_uint_eq(mem[0], 0x5a);
    ck_assert_uint_eq(mem[0xfff], 0x5a);
    /* Memory the client serves: DMA_WRITE requests from the daemon while
     * our read of DMA_STATUS waits. */
    mem = vfu_client_add_memory(c, 0x200000, 0x1000, false);
    ck_assert_ptr_nonnull(mem);
    ck_assert_uint_eq(pt_dma(c, TD_OP_FILL, 0, 0x200000, 0x1000, 0xa5a5a5a5), TD_ST_DONE);
    ck_assert_uint_eq(mem[0], 0xa5);
    ck_assert_uint_eq(mem[0xfff], 0xa5);
    /* A reply larger than a turn sends (64 KiB): the poll path's send. */
    big = g_malloc(TD_BAR2_SIZE);
    ck_assert_int_eq(vfu_client_region_read(c, 2, 0, big, TD_BAR2_SIZE), 0);
    g_free(big);
    pipelined(c);
    pt_close_fds(efd, TD_VECTORS);
    pt_close_wait(h, c);
    /* The next client. */
    c = pt_open(h, "t0");
    pipelined(c);
    pt_assert_alive(c);
    vfu_client_close(c);
}

START_TEST(test_merged_turns)
{
    struct harness *h;

    g_setenv("VFIOUSERD_URING", "yes", TRUE);
    h = pt_start_testdev(NULL);
    /* The device's ring, and the reserve for devices added later. */
    ck_assert_int_ge(harness_io_uring_count(h->pid), 1);
    session(h);
    ck_assert(!harness_log_contains(h, "io_uring unavailable"));
    ck_assert(!harness_log_contains(h, "forbidden system call"));
    pt_finish(h);
    g_unsetenv("VFIOUSERD_URING");
}
END_TEST

/* =no: no rings, the poll path. */
START_TEST(test_fallback)
{
    struct harness *h;

    g_setenv("VFIOUSERD_URING", "no", TRUE);
    h = pt_start_testdev(NULL);
    ck_assert_int_eq(harness_io_uring_count(h->pid), 0);
    session(h);
    pt_finish(h);
    g_unsetenv("VFIOUSERD_URING");
}
END_TEST

/* Can this kernel's io_uring wait without counting iowait (6.15)? */
static bool kernel_waits_without_iowait(void)
{
    struct io_uring_params p;
    int fd;

    memset(&p, 0, sizeof(p));
    fd = (int)syscall(__NR_io_uring_setup, 1, &p);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return (p.features & (1U << 17)) != 0; /* IORING_FEAT_NO_IOWAIT */
}

/* Time the daemon's threads spent blocked in iowait, in clock ticks
 * (delay accounting: field 42 of /proc/PID/task/TID/stat, added to when
 * a thread wakes). */
static long long iowait_ticks(pid_t pid)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *tid;
    long long sum = 0;

    ck_assert_ptr_nonnull(d);
    while ((tid = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, tid, "stat", NULL);
        g_autofree char *text = NULL;
        g_auto(GStrv) f = NULL;
        char *end;

        if (!g_file_get_contents(path, &text, NULL, NULL) ||
            (end = strrchr(text, ')')) == NULL) {
            continue; /* the thread ended */
        }
        f = g_strsplit(end + 2, " ", -1); /* f[0] is field 3 */
        ck_assert_uint_gt(g_strv_length(f), 39);
        sum += g_ascii_strtoll(f[39], NULL, 10);
    }
    g_dir_close(d);
    return sum;
}

/* The default: the turn where the kernel keeps its wait out of iowait,
 * else the poll path, and the log says why. */
START_TEST(test_default)
{
    struct harness *h;

    g_unsetenv("VFIOUSERD_URING");
    h = pt_start_testdev(NULL);
    if (kernel_waits_without_iowait()) {
        ck_assert_int_ge(harness_io_uring_count(h->pid), 1);
        ck_assert(!harness_log_contains(h, "iowait"));
    } else {
        ck_assert_int_eq(harness_io_uring_count(h->pid), 0);
        ck_assert(harness_log_contains(h, "count as iowait"));
    }
    session(h);
    pt_finish(h);
}
END_TEST

static bool write_proc(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    close(fd);
    return ok;
}

static const char acct_path[] = "/proc/sys/kernel/task_delayacct";
static char *acct_was; /* its value before the tests, restored after */

static void acct_save(void)
{
    if (!g_file_get_contents(acct_path, &acct_was, NULL, NULL)) {
        acct_was = NULL;
    }
}

static void acct_restore(void)
{
    if (acct_was != NULL) {
        write_proc(acct_path, acct_was); /* in the parent: even after a failure */
        g_free(acct_was);
        acct_was = NULL;
    }
}

/* A device thread waiting in its turn for an idle client is not accounted
 * as blocked on I/O.  It was, 100% of a CPU per such device, until the
 * daemon asked the kernel not to (IORING_ENTER_NO_IOWAIT, Linux 6.15);
 * older kernels cannot be asked, and the log says so. */
START_TEST(test_idle_not_iowait)
{
    bool counting;
    struct harness *h;

    g_setenv("VFIOUSERD_URING", "yes", TRUE);
    /* Before the daemon starts: its threads are accounted from birth. */
    counting = acct_was != NULL && write_proc(acct_path, "1");
    h = pt_start_testdev(NULL);
    ck_assert_int_ge(harness_io_uring_count(h->pid), 1);
    if (!kernel_waits_without_iowait()) {
        ck_assert(harness_log_contains(h, "counts the wait"));
    } else if (!counting) {
        fprintf(stderr, "test_idle_not_iowait: %s not writable: not checked\n", acct_path);
    } else {
        struct vfu_client *c = pt_open(h, "t0");
        long long before;

        ck_assert(!harness_log_contains(h, "counts the wait"));
        pipelined(c);
        before = iowait_ticks(h->pid);
        g_usleep(300 * 1000);
        pipelined(c); /* wakes the thread: its wait is accounted now */
        ck_assert_int_eq(iowait_ticks(h->pid), before);
        pt_close_wait(h, c);
    }
    pt_finish(h);
    g_unsetenv("VFIOUSERD_URING");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = pt_tcase("turns");

    tcase_add_test(tc, test_merged_turns);
    tcase_add_test(tc, test_fallback);
    tcase_add_test(tc, test_default);
    tcase_add_test(tc, test_idle_not_iowait);
    tcase_add_unchecked_fixture(tc, acct_save, acct_restore);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
