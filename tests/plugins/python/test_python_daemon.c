/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The python plugin in the real daemon (tests/common/harness, client
 * library): a script's exception and a script that never returns give the
 * client an error answer and the log a traceback, and the device goes on;
 * a script that crashes the process (ctypes) with isolate = process takes
 * down its own device only, which the daemon restarts.  A C device in the
 * same daemon sees none of it.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

static const char *const devices[] = { "pyhang", "pyiso", "gpio0", NULL };

static const char config[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "[pyhang]\n"
    "plugin = python\n"
    "script = @DIR@/hang.py\n"
    "callback-timeout-ms = 300\n"
    "[pyiso]\n"
    "plugin = python\n"
    "script = @DIR@/crash.py\n"
    "isolate = process\n"
    "[gpio0]\n"
    "plugin = gpio\n"
    "inputs = 0x1234\n";

static const char hang_py[] =
    "import vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x0001)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "def read(region, offset, size):\n"
    "    if offset == 0:\n"
    "        while True: pass\n"
    "    if offset == 8:\n"
    "        return {}['missing']\n"
    "    return (0xc0de0000 | offset).to_bytes(size, 'little')\n"
    "def write(region, offset, data):\n"
    "    pass\n";

static const char crash_py[] =
    "import ctypes\n"
    "import vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x0002)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "writes = 0\n"
    "def read(region, offset, size):\n"
    "    return writes.to_bytes(size, 'little')\n"
    "def write(region, offset, data):\n"
    "    global writes\n"
    "    writes += 1\n"
    "    if offset == 0x38:\n"
    "        ctypes.string_at(0)  # a segfault, as a C extension's bug would\n";

static void put(const struct harness *h, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(h->dir, name, NULL);

    ck_assert(g_file_set_contents(path, text, -1, NULL));
}

static int read32(struct vfu_client *c, unsigned off, uint32_t *v)
{
    return vfu_client_region_read(c, 0, off, v, 4);
}

START_TEST(failures_are_contained)
{
    struct harness *h = harness_new(config);
    g_autofree char *hang_sock = NULL, *iso_sock = NULL, *gpio_sock = NULL;
    g_autofree char *log = NULL;
    struct vfu_client *hang, *iso, *gpio;
    uint32_t v = 0;
    uint8_t b = 0;
    gint64 t0;
    int r;

    put(h, "hang.py", hang_py);
    put(h, "crash.py", crash_py);
    ck_assert_int_eq(harness_start(h, NULL, devices), 0);
    ck_assert(dt_wait_listening(h, devices));
    hang_sock = harness_socket(h, "pyhang");
    iso_sock = harness_socket(h, "pyiso");
    gpio_sock = harness_socket(h, "gpio0");
    hang = dt_client(hang_sock);
    gpio = dt_client(gpio_sock);
    ck_assert(dt_wait_log(h, "[pyiso] isolated process pid "));
    iso = dt_client(iso_sock);

    /* A read that never returns is interrupted after 300 ms: an error
     * answer long before the client's own 5 s, the traceback logged. */
    t0 = g_get_monotonic_time();
    r = read32(hang, 0, &v);
    ck_assert_int_lt(r, 0);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 3 * G_USEC_PER_SEC);
    ck_assert(dt_wait_log(h, "[pyhang] python: read raised vfiouserd.CallbackTimeout"));
    ck_assert(dt_wait_log(h, "hang.py\", line 6, in read"));
    /* ... and the device serves the next one */
    ck_assert_int_eq(read32(hang, 4, &v), 0);
    ck_assert_uint_eq(v, 0xc0de0004u);

    /* An exception: an error answer, its traceback */
    ck_assert_int_lt(read32(hang, 8, &v), 0);
    ck_assert(dt_wait_log(h, "[pyhang] python: read raised KeyError: 'missing'"));
    ck_assert(dt_wait_log(h, "[pyhang] python:   KeyError: 'missing'"));
    ck_assert_int_eq(read32(hang, 12, &v), 0);
    ck_assert_uint_eq(v, 0xc0de000cu);

    /* A crash in isolate = process: that process only */
    v = 1;
    ck_assert_int_eq(vfu_client_region_write(iso, 0, 0, &v, 4, false), 0);
    ck_assert_int_eq(read32(iso, 0, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_lt(vfu_client_region_write(iso, 0, 0x38, &v, 4, false), 0);
    vfu_client_close(iso);
    ck_assert(dt_wait_log(h, "restarting it in 500 ms (restart 1)"));
    log = harness_log(h);
    /* (AddressSanitizer turns the SIGSEGV into an exit status) */
    ck_assert(dt_has_match(log, "\\[pyiso\\] isolated process pid [0-9]+ "
                                "(was killed by signal 11|exited with status [0-9]+)"));
    /* the others did not notice */
    ck_assert_int_eq(vfu_client_region_read(gpio, 2, 1, &b, 1), 0);
    ck_assert_uint_eq(b, 0x34);
    ck_assert_int_eq(read32(hang, 4, &v), 0);
    /* the new process runs the script from its start; the socket is the
     * same, and a client waits in its queue until the process is up */
    ck_assert_int_eq(vfu_client_connect(iso_sock, &iso), 0);
    vfu_client_set_timeout(iso, DT_WAIT_MS);
    ck_assert_int_eq(vfu_client_negotiate(iso, NULL, NULL), 0);
    ck_assert_ptr_nonnull(iso);
    ck_assert_int_eq(read32(iso, 0, &v), 0);
    ck_assert_uint_eq(v, 0);

    vfu_client_close(iso);
    vfu_client_close(hang);
    vfu_client_close(gpio);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

static Suite *python_daemon_suite(void)
{
    Suite *s = suite_create("python-daemon");
    TCase *tc = tcase_create("contained");

    tcase_add_test(tc, failures_are_contained);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(python_daemon_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
