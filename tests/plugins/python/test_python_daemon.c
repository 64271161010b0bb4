/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The python plugin in the real daemon (tests/common/harness, client
 * library): a script's exception and a script that never returns give the
 * client an error answer and the log a traceback, and the device goes on;
 * a script that crashes the process (ctypes) with isolate = process takes
 * down its own device only, which the daemon restarts.  A C device in the
 * same daemon sees none of it.  The interpreter's own work after start-up
 * (imports of C extensions, threads, randomness, files) fits the
 * sandbox's base set of system calls: the plugin declares no group.
 * The plugin prefers a process per device (prefers_process): a section
 * without "isolate" gets one, "isolate = thread" keeps it in the daemon.
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

static const char sandboxed_config[] =
    "[daemon]\n"
    "socket-dir = @SOCKDIR@\n"
    "sandbox-violation = eperm\n"
    "[pywork]\n"
    "plugin = python\n"
    "script = @DIR@/work.py\n"
    "[pythread]\n"
    "plugin = python\n"
    "script = @DIR@/work.py\n"
    "isolate = thread\n";

/* Work CPython does lazily, long after start-up; then a fork, which the
 * sandbox refuses (the proof that this test sees a refusal). */
static const char work_py[] =
    "import os\n"
    "import vfiouserd as vfu\n"
    "PCI_ID = dict(vendor_id=0x1234, device_id=0x0003)\n"
    "REGIONS = {vfu.BAR0: (4096, vfu.RW)}\n"
    "result = 0\n"
    "def late_work():\n"
    "    import ctypes, datetime, decimal, json, random, socket, struct\n"
    "    import subprocess, threading, time, zlib\n"
    "    json.dumps({'d': decimal.Decimal('1.5')}, default=str)\n"
    "    zlib.crc32(os.urandom(16) + random.randbytes(8))\n"
    "    t = threading.Thread(target=time.sleep, args=(0.01,))\n"
    "    t.start()\n"
    "    t.join()\n"
    "    os.listdir('/usr'); os.getcwd(); datetime.datetime.now(); time.monotonic()\n"
    "    zlib.decompress(zlib.compress(b'x' * 1000))\n"
    "    return 0x600d\n"
    "def try_fork():\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError as e:\n"
    "        return e.errno\n"
    "    if pid == 0:\n"
    "        os._exit(0)\n"
    "    os.waitpid(pid, 0)\n"
    "    return 0\n"
    "def read(region, offset, size):\n"
    "    return result.to_bytes(size, 'little')\n"
    "def write(region, offset, data):\n"
    "    global result\n"
    "    result = late_work() if offset == 0 else try_fork()\n";

START_TEST(interpreter_fits_the_sandbox)
{
    static const char *const dev[] = { "pywork", "pythread", NULL };
    struct harness *h = harness_new(sandboxed_config);
    g_autofree char *sock = NULL;
    g_autofree char *log = NULL;
    struct vfu_client *c;
    uint32_t v = 0;
    bool filtered;

    put(h, "work.py", work_py);
    ck_assert_int_eq(harness_start(h, NULL, dev), 0);
    ck_assert(dt_wait_listening(h, dev));
    ck_assert(dt_wait_log(h, "sandbox: in force"));
    sock = harness_socket(h, "pywork");
    c = dt_client(sock);
    ck_assert_int_eq(vfu_client_region_write(c, 0, 0, &v, 4, false), 0);
    ck_assert_int_eq(read32(c, 0, &v), 0);
    ck_assert_uint_eq(v, 0x600d);
    log = harness_log(h);
    ck_assert_msg(strstr(log, "forbidden system call") == NULL, "%s", log);
    /* The plugin's preference, and the section's word over it. */
    ck_assert_msg(strstr(log, "[pywork] isolated process pid ") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "[pythread] isolated process pid ") == NULL, "%s", log);
    /* valgrind runs the daemon without the filter (vfiouserd(8)). */
    filtered = dt_has_match(log, "sandbox: in force \\(.*seccomp\\)");
    ck_assert_int_eq(vfu_client_region_write(c, 0, 4, &v, 4, false), 0);
    ck_assert_int_eq(read32(c, 0, &v), 0);
    if (filtered) {
        ck_assert_uint_eq(v, EPERM);
        ck_assert(dt_wait_log(h, "[pywork] sandbox: forbidden system call clone"));
    }
    vfu_client_close(c);
    ck_assert_int_eq(harness_stop(h), 0);
    harness_free(h);
}
END_TEST

static Suite *python_daemon_suite(void)
{
    Suite *s = suite_create("python-daemon");
    TCase *tc = tcase_create("contained");

    tcase_add_test(tc, failures_are_contained);
    tcase_add_test(tc, interpreter_fits_the_sandbox);
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
