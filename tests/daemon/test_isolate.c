/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * isolate = process: a device served by a process of its own.  testdev's
 * CRASH register makes its plugin die of SIGSEGV in a callback; the other
 * device (an ordinary thread) and its client must not notice, the daemon
 * logs how the process ended and starts it again after a delay that grows
 * with repeated crashes, the socket path stays the same, and the device
 * state of the new process is the configured one.  The client stays
 * connected: the parent keeps its socket (isolate_store.h) and the new
 * process serves it, with the device reset; the request the plugin died
 * in is never answered.  SIGTERM stops the process with the daemon.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <errno.h>
#include <linux/vfio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>

#define TD_MAGIC_LO 0x008
#define TD_IRQ_RAISE 0x018
#define TD_IRQ_SIGNAL 0x02c
#define TD_INTX_DEASSERT 0x020
#define TD_CRASH 0x038
#define TD_CRASH_MAGIC 0x0badf00du

static const char *const devices[] = { "iso", "thr", NULL };

static const char config[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[iso]\n"
    "plugin = testdev\n"
    "isolate = process\n"
    "magic = 7\n"
    "[thr]\n"
    "plugin = testdev\n"
    "magic = 9\n";

/* The pid in the n-th (from 1) "isolated process pid N started" line, or
 * -1 if there is none yet. */
static pid_t started_pid(const struct harness *h, unsigned n)
{
    static const char mark[] = "[iso] isolated process pid ";
    g_autofree char *log = harness_log(h);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);

    for (char **l = lines; *l != NULL; l++) {
        const char *p = strstr(*l, mark);

        if (p != NULL && g_str_has_suffix(*l, " started") && --n == 0) {
            return (pid_t)strtol(p + strlen(mark), NULL, 10);
        }
    }
    return -1;
}

static void crash(struct vfu_client *c)
{
    uint32_t v = GUINT32_TO_LE(TD_CRASH_MAGIC);
    int r;

    /* The process died before answering, and nobody ever will (a client
     * such as QEMU times the request out): no need to wait long. */
    vfu_client_set_timeout(c, 2000);
    r = vfu_client_region_write(c, 0, TD_CRASH, &v, sizeof(v), false);
    vfu_client_set_timeout(c, DT_WAIT_MS);
    ck_assert_int_lt(r, 0);
}

START_TEST(crash_is_contained)
{
    struct harness *h = harness_new(config);
    g_autofree char *iso_sock = NULL;
    g_autofree char *thr_sock = NULL;
    struct vfu_client *iso, *thr;
    g_autofree char *log = NULL;
    pid_t first, second;

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    ck_assert(dt_wait_log(h, "[iso] isolated process pid "));
    first = started_pid(h, 1);
    ck_assert_int_gt(first, 0);
    ck_assert_int_eq(kill(first, 0), 0);

    iso_sock = harness_socket(h, "iso");
    thr_sock = harness_socket(h, "thr");
    iso = dt_client(iso_sock);
    thr = dt_client(thr_sock);
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);
    dt_write32(thr, 0, 0x10, 0x5ca1ab1e); /* state the crash must not touch */

    crash(iso);
    /* Logged with how it ended, then restarted. */
    ck_assert(dt_wait_log(h, "[iso] isolated process pid "));
    ck_assert(dt_wait_log(h, "restarting it in 500 ms (restart 1)"));
    log = harness_log(h);
    ck_assert_msg(dt_has_match(log, "\\[iso\\] isolated process pid [0-9]+ "
                                    "(was killed by signal 11 \\(SIGSEGV\\)|"
                                    "exited with status [0-9]+)"),
                  "no crash report:\n%s", log);
    /* The other device and its client did not notice. */
    ck_assert_uint_eq(dt_read32(thr, 0, TD_MAGIC_LO), 9);
    ck_assert_uint_eq(dt_read32(thr, 0, 0x10), 0x5ca1ab1e);
    /* The same connection, served by the new process (reset: the
     * configured state). */
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);
    ck_assert(dt_wait_log(h, "[iso] fd store: client pid "));
    vfu_client_close(iso);

    /* Same socket path, a new process with the configured state. */
    ck_assert(dt_wait_log(h, "[iso] isolated process pid"));
    for (int i = 0; i < 500 && (second = started_pid(h, 2)) <= 0; i++) {
        g_usleep(10000);
    }
    ck_assert_int_gt(second, 0);
    ck_assert_int_ne(second, first);
    iso = dt_client(iso_sock);
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);

    /* A second crash soon after waits longer. */
    crash(iso);
    vfu_client_close(iso);
    ck_assert(dt_wait_log(h, "restarting it in 1000 ms (restart 2)"));

    vfu_client_close(thr);
    ck_assert_int_eq(harness_stop(h), 0);
    /* The process went with the daemon, and so did the socket. */
    ck_assert_int_eq(kill(second, 0), -1);
    ck_assert(access(iso_sock, F_OK) != 0);
    harness_free(h);
}
END_TEST

/* Every interrupt eventfd of the client survives a crash of the process:
 * INTx, ERR and REQ each have one, and all eventfds share the kernel's
 * one anonymous inode, which the parent's store once took for the same
 * file (it kept the first and dropped the others).  Each one fires
 * before the crash, and again from the new process after it.  The daemon
 * runs sandboxed (the default): the store's kcmp passes its filter. */
static void fire_all(struct vfu_client *c, const int efd[3], const char *when)
{
    static const char *const names[] = { "INTx", "ERR", "REQ" };

    dt_write32(c, 0, TD_IRQ_RAISE, 0); /* INTx: MSI-X is off */
    dt_write32(c, 0, TD_IRQ_SIGNAL, 3);
    dt_write32(c, 0, TD_IRQ_SIGNAL, 4);
    for (int i = 0; i < 3; i++) {
        struct pollfd p = { .fd = efd[i], .events = POLLIN };
        uint64_t v;

        /* The device signals before it answers the write: at once. */
        ck_assert_msg(poll(&p, 1, 5000) == 1, "%s: the %s eventfd did not fire",
                      when, names[i]);
        ck_assert_int_eq(read(efd[i], &v, sizeof(v)), sizeof(v));
    }
    dt_write32(c, 0, TD_INTX_DEASSERT, 1);
}

START_TEST(crash_keeps_every_eventfd)
{
    static const unsigned index[3] = { VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_ERR_IRQ_INDEX,
                                       VFIO_PCI_REQ_IRQ_INDEX };
    struct harness *h = harness_new(config);
    g_autofree char *iso_sock = NULL;
    struct vfu_client *iso;
    int efd[3];

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    iso_sock = harness_socket(h, "iso");
    iso = dt_client(iso_sock);
    for (int i = 0; i < 3; i++) {
        efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ck_assert_int_ge(efd[i], 0);
        ck_assert_int_eq(vfu_client_set_irqs(iso, index[i],
                                             VFIO_IRQ_SET_DATA_EVENTFD |
                                                 VFIO_IRQ_SET_ACTION_TRIGGER,
                                             0, 1, &efd[i], 1, NULL), 0);
    }
    fire_all(iso, efd, "before the crash");
    crash(iso);
    ck_assert(dt_wait_log(h, "[iso] fd store: client pid "));
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);
    fire_all(iso, efd, "after the re-attach");
    vfu_client_close(iso);
    for (int i = 0; i < 3; i++) {
        close(efd[i]);
    }
    ck_assert_int_eq(harness_stop(h), 0);
    {
        /* The new process stored the eventfds again, and the daemon told
         * them from one another by kcmp(KCMP_FILE), which its system call
         * filter must allow (its inode fallback would hide a refusal from
         * the checks above). */
        g_autofree char *log = harness_log(h);

        ck_assert_msg(strstr(log, "forbidden system call") == NULL &&
                          strstr(log, "kcmp() unavailable") == NULL,
                      "%s", log);
    }
    harness_free(h);
}
END_TEST

/* A plugin that dies right after every re-attach (here: the client's
 * posted CRASH writes wait in the socket, and each new process reads one
 * at once): the client is dropped at the third crash in a row within 10 s
 * of its re-attach instead of waiting through ever longer restart delays,
 * and the device serves its socket again. */
START_TEST(crash_loop_drops_client)
{
    struct harness *h = harness_new(config);
    g_autofree char *iso_sock = NULL;
    struct vfu_client *iso;
    uint32_t v = GUINT32_TO_LE(TD_CRASH_MAGIC);
    uint32_t magic;

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    iso_sock = harness_socket(h, "iso");
    iso = dt_client(iso_sock);
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);
    for (unsigned i = 1; i <= 4; i++) {
        g_autofree char *mark = g_strdup_printf("(restart %u)", i);

        ck_assert_int_eq(vfu_client_region_write(iso, 0, TD_CRASH, &v, sizeof(v), true), 0);
        ck_assert(dt_wait_log(h, mark));
    }
    ck_assert(dt_wait_log(h, "[iso] fd store: the client cannot be re-attached after "
                             "the crash: the device's process died 3 times in a row"));
    /* The connection ended: nobody serves it any more. */
    vfu_client_set_timeout(iso, 2000);
    ck_assert_int_ne(vfu_client_region_read(iso, 0, TD_MAGIC_LO, &magic, sizeof(magic)), 0);
    vfu_client_close(iso);
    /* The same socket, a new client, served. */
    iso = dt_client(iso_sock);
    ck_assert_uint_eq(dt_read32(iso, 0, TD_MAGIC_LO), 7);
    vfu_client_close(iso);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

START_TEST(stop_ends_the_process)
{
    struct harness *h = harness_new(config);
    pid_t pid;

    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    ck_assert(dt_wait_log(h, "[iso] isolated process pid "));
    pid = started_pid(h, 1);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(harness_stop(h), 0);
    ck_assert_int_eq(kill(pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);
    harness_free(h);
}
END_TEST

START_TEST(bad_isolate_value)
{
    struct harness *h = harness_new("[t0]\n"
                                     "plugin = testdev\n"
                                     "isolate = fork\n");
    g_autofree char *out = NULL;

    ck_assert_int_eq(dt_check_config(h, true, NULL, &out), 1);
    ck_assert_msg(dt_has_match(out, "vfiouserd: .*:3: \\[t0\\] isolate = fork: "
                                    "expected thread or process"),
                  "%s", out);
    harness_free(h);
}
END_TEST

static Suite *isolate_suite(void)
{
    Suite *s = suite_create("isolate");
    TCase *tc = tcase_create("process");

    tcase_add_test(tc, crash_is_contained);
    tcase_add_test(tc, crash_loop_drops_client);
    tcase_add_test(tc, crash_keeps_every_eventfd);
    tcase_add_test(tc, stop_ends_the_process);
    tcase_add_test(tc, bad_isolate_value);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(isolate_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
