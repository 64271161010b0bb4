/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration file, through "vfiouserd --check-config": good files
 * pass with exit status 0, and each kind of mistake gives exit status 1 and
 * exactly the documented message,
 *
 *     vfiouserd: FILE:LINE: [section] what is wrong
 *
 * naming the file, the line, the section and the key (vfiouserd.conf(5),
 * ERRORS).  Plugin keys are judged by the testdev and gpio plugins.
 */
#include "config.h"

#include "daemon_test.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

/* One --check-config run on a configuration text. */
struct run {
    struct harness *h;
    char *out;
    int rc;
};

static void run_free(struct run *r)
{
    harness_free(r->h);
    g_free(r->out);
}

static void check_text(struct run *r, const char *text)
{
    r->h = harness_new(text);
    r->rc = dt_check_config(r->h, true, NULL, &r->out);
}

static void expect_line(const struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expect_line(const struct run *r, const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ck_assert_msg(dt_has_line(r->out, line), "expected the line\n  %s\nin:\n%s",
                  line, r->out);
}

/* "vfiouserd: <config>:<line>: ..." */
#define EXPECT_AT(r, lineno, fmt, ...)                                         \
    expect_line((r), "vfiouserd: %s:%d: " fmt, (r)->h->config_path, (lineno),  \
                ##__VA_ARGS__)

/* Exit status 1 and exactly n message lines. */
static void expect_failure(const struct run *r, unsigned n)
{
    ck_assert_msg(r->rc == 1, "exit status %d, not 1; output:\n%s", r->rc, r->out);
    ck_assert_msg(dt_count_lines(r->out, "vfiouserd: ") == n,
                  "expected %u messages, got:\n%s", n, r->out);
    ck_assert_msg(strstr(r->out, "configuration OK") == NULL, "%s", r->out);
}

static void expect_ok(const struct run *r, unsigned devices)
{
    g_autofree char *prefix = NULL;

    ck_assert_msg(r->rc == 0, "exit status %d, not 0; output:\n%s", r->rc, r->out);
    expect_line(r, "%s: configuration OK (%u device%s)", r->h->config_path,
                devices, devices == 1 ? "" : "s");
    /* No message about the file (log-level = debug adds others). */
    prefix = g_strdup_printf("vfiouserd: %s", r->h->config_path);
    ck_assert_msg(dt_count_lines(r->out, prefix) == 0, "unexpected messages:\n%s",
                  r->out);
}

/* ------------------------------------------------------------------------
 * Good files
 */
START_TEST(good_file)
{
    struct run r;

    check_text(&r,
               "# A comment, then a blank line\n"
               "\n"
               "[daemon]\n"
               "socket-dir = @SOCKDIR@\n"
               "socket-mode = 0600\n"
               "log-level = warning\n"
               "\n"
               "[gpio0]\n"
               "plugin = gpio\n"
               "inputs = 0x00ff\n"
               "\n"
               "; another comment\n"
               "[t.0-x_Y]\n"
               "plugin = testdev\n"
               "socket = @DIR@/other.sock\n"
               "magic = 0x1234\n"
               "dma-delay-ms = 10\n"
               "fail-realize = no\n");
    expect_ok(&r, 2);
    /* Checking creates no socket, not even the socket directory. */
    ck_assert_int_ne(access(r.h->sock_dir, F_OK), 0);
    {
        g_autofree char *other = g_build_filename(r.h->dir, "other.sock", NULL);

        ck_assert_int_ne(access(other, F_OK), 0);
    }
    run_free(&r);
}
END_TEST

START_TEST(good_one_device)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\n");
    expect_ok(&r, 1);
    run_free(&r);
}
END_TEST

static const char *const good_log_levels[] = {
    "error", "warning", "notice", "info", "debug",
};

START_TEST(good_log_level)
{
    g_autofree char *text = g_strdup_printf("[daemon]\nlog-level = %s\n"
                                            "[t0]\nplugin = testdev\n",
                                            good_log_levels[_i]);
    struct run r;

    check_text(&r, text);
    expect_ok(&r, 1);
    run_free(&r);
}
END_TEST

/* Comments after a value start with " ;"; a '#' there is part of the value
 * (vfiouserd.conf(5), SYNTAX). */
START_TEST(inline_comments)
{
    struct run r;

    check_text(&r, "[t0]\n"
                   "plugin = testdev ; the test device\n"
                   "magic = 7\t; seven\n");
    expect_ok(&r, 1);
    run_free(&r);

    check_text(&r, "[t0]\n"
                   "plugin = testdev\n"
                   "magic = 7 # seven\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[t0] magic = 7 # seven: magic: expected a 64-bit number, "
                     "not \"7 # seven\"");
    run_free(&r);
}
END_TEST

/* The daemon reads plugin-dir from the file unless --plugin-dir is given. */
START_TEST(plugin_dir_key)
{
    g_autofree char *text = g_strdup_printf("[daemon]\nplugin-dir = %s\n"
                                            "[t0]\nplugin = testdev\n",
                                            harness_plugin_dir());
    struct run r;

    r.h = harness_new(text);
    r.rc = dt_check_config(r.h, false, NULL, &r.out);
    expect_ok(&r, 1);
    run_free(&r);
}
END_TEST

START_TEST(plugin_dir_option_wins)
{
    struct run r;

    check_text(&r, "[daemon]\nplugin-dir = /nonexistent/plugins\n"
                   "[t0]\nplugin = testdev\n");
    expect_ok(&r, 1);
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------
 * The [daemon] section
 */
START_TEST(unknown_daemon_key)
{
    struct run r;

    check_text(&r, "[daemon]\nsocket-mode = 0660\nsise = 3\n[t0]\nplugin = testdev\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[daemon] unknown key 'sise'");
    run_free(&r);
}
END_TEST

static const char *const bad_modes[] = {
    "rw-rw----", "0x660", "888", "10000", "-1", "",
};

START_TEST(bad_socket_mode)
{
    g_autofree char *text = g_strdup_printf("[daemon]\nsocket-mode = %s\n"
                                            "[t0]\nplugin = testdev\n",
                                            bad_modes[_i]);
    struct run r;

    check_text(&r, text);
    expect_failure(&r, 1);
    EXPECT_AT(&r, 2, "[daemon] invalid socket-mode '%s' (octal, e.g. 0660)",
              bad_modes[_i]);
    run_free(&r);
}
END_TEST

START_TEST(bad_log_level)
{
    struct run r;

    check_text(&r, "[daemon]\nlog-level = loud\n[t0]\nplugin = testdev\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 2, "[daemon] invalid log-level 'loud' (error, warning, notice, "
                     "info, debug)");
    run_free(&r);
}
END_TEST

START_TEST(unknown_owner_group)
{
    struct run r;

    check_text(&r, "[daemon]\n"
                   "socket-owner = no-such-user-vfud\n"
                   "socket-group = no-such-group-vfud\n"
                   "[t0]\nplugin = testdev\n");
    expect_failure(&r, 2);
    EXPECT_AT(&r, 2, "[daemon] socket-owner 'no-such-user-vfud': no such user");
    EXPECT_AT(&r, 3, "[daemon] socket-group 'no-such-group-vfud': no such group");
    run_free(&r);
}
END_TEST

START_TEST(socket_dir_relative)
{
    struct run r;

    check_text(&r, "[daemon]\nsocket-dir = run/vfiouserd\n[t0]\nplugin = testdev\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 2, "[daemon] socket-dir 'run/vfiouserd' must be an absolute path");
    run_free(&r);
}
END_TEST

START_TEST(daemon_twice)
{
    struct run r;

    check_text(&r, "[daemon]\nsocket-mode = 0660\n"
                   "[t0]\nplugin = testdev\n"
                   "[daemon]\nlog-level = info\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 5, "duplicate section [daemon] (first at line 1)");
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------
 * Device sections
 */
START_TEST(unknown_device_key)
{
    struct run r;

    check_text(&r, "[nvme0]\nplugin = testdev\n\nsise = 1\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 4, "[nvme0] unknown key 'sise'");
    run_free(&r);
}
END_TEST

START_TEST(unknown_key_gpio)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\n[g0]\nplugin = gpio\nbogus = 1\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 5, "[g0] unknown key 'bogus'");
    run_free(&r);
}
END_TEST

START_TEST(plugin_rejects_value)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\nmagic = notanumber\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[t0] magic = notanumber: magic: expected a 64-bit number, "
                     "not \"notanumber\"");
    run_free(&r);
}
END_TEST

/* config_complete and realize run in --check-config too. */
START_TEST(plugin_fails_realize)
{
    g_autofree char *re = NULL;
    g_autofree char *path_re = NULL;
    struct run r;

    check_text(&r, "[t1]\nplugin = testdev\n\n[t0]\nplugin = testdev\nfail-realize = true\n");
    ck_assert_msg(r.rc == 1, "exit status %d; output:\n%s", r.rc, r.out);
    ck_assert_ptr_null(strstr(r.out, "configuration OK"));
    /* The documented form: file, line (of the section), device, and the
     * plugin's own reason. */
    path_re = g_regex_escape_string(r.h->config_path, -1);
    re = g_strdup_printf("^vfiouserd: %s:[0-9]+: \\[t0\\] .*failing on purpose "
                         "\\(fail-realize is set\\)$", path_re);
    ck_assert_msg(dt_has_match(r.out, re), "no line matching %s in:\n%s", re, r.out);
    run_free(&r);
}
END_TEST

START_TEST(duplicate_device)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\n[t1]\nplugin = testdev\n"
                   "[t0]\nplugin = testdev\nmagic = 1\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 5, "[t0] duplicate device name (first defined at line 1)");
    run_free(&r);
}
END_TEST

START_TEST(duplicate_key)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\nmagic = 1\n# again\nmagic = 2\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 5, "[t0] duplicate key 'magic' (first at line 3)");
    run_free(&r);

    check_text(&r, "[t0]\nplugin = testdev\nplugin = gpio\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[t0] duplicate key 'plugin' (first at line 2)");
    run_free(&r);

    check_text(&r, "[t0]\nplugin = testdev\nsocket = /tmp/a.sock\nsocket = /tmp/b.sock\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 4, "[t0] duplicate key 'socket' (first at line 3)");
    run_free(&r);
}
END_TEST

START_TEST(missing_plugin_key)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\n\n[t1]\nmagic = 1\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 4, "[t1] no 'plugin' key in this section");
    run_free(&r);

    /* An empty section too. */
    check_text(&r, "[t0]\nplugin = testdev\n[empty]\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[empty] no 'plugin' key in this section");
    run_free(&r);
}
END_TEST

START_TEST(empty_plugin_value)
{
    struct run r;

    check_text(&r, "[t0]\nplugin =\n");
    ck_assert_int_eq(r.rc, 1);
    EXPECT_AT(&r, 2, "[t0] empty plugin name");
    run_free(&r);
}
END_TEST

START_TEST(socket_not_absolute)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\nsocket = t0.sock\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[t0] socket 't0.sock' must be an absolute path");
    run_free(&r);
}
END_TEST

START_TEST(key_outside_section)
{
    struct run r;

    check_text(&r, "; leading comment\nplugin = testdev\n[t0]\nplugin = testdev\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 2, "key 'plugin' outside any section");
    run_free(&r);
}
END_TEST

static const char *const bad_names[] = {
    "bad name", "a/b", "x:y", "d\xc3\xa9v",
    /* 65 characters */
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};

START_TEST(invalid_device_name)
{
    g_autofree char *text = g_strdup_printf("[t0]\nplugin = testdev\n[%s]\n"
                                            "plugin = testdev\n",
                                            bad_names[_i]);
    struct run r;

    check_text(&r, text);
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "[%s] invalid device name (use 1-64 of A-Z a-z 0-9 _ . -)",
              bad_names[_i]);
    run_free(&r);
}
END_TEST

START_TEST(longest_device_name)
{
    /* 64 characters: allowed. */
    struct run r;

    check_text(&r, "[xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]\n"
                   "plugin = testdev\n");
    expect_ok(&r, 1);
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------
 * Syntax
 */
START_TEST(line_too_long)
{
    g_autofree char *val = g_strnfill(300, 'a');
    g_autofree char *ok = g_strnfill(190, 'b');
    g_autofree char *text = g_strdup_printf("[t0]\nplugin = testdev\n"
                                            "; %s\n"
                                            "magic = %s\n"
                                            "[t1]\nplugin = testdev\n",
                                            ok, val);
    struct run r;

    check_text(&r, text);
    expect_failure(&r, 1);
    EXPECT_AT(&r, 4, "line too long (more than 198 characters)");
    run_free(&r);
}
END_TEST

START_TEST(syntax_error)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\nthis line has no equals sign\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "syntax error (expected 'key = value' or '[section]')");
    run_free(&r);

    /* The keys under a broken header are ignored, not charged to [t0]. */
    check_text(&r, "[t0]\nplugin = testdev\n[t1\nplugin = testdev\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 3, "syntax error: section header without ']'");
    run_free(&r);
}
END_TEST

/* The daemon's choice (config_file.c): an indented line is a key of its own,
 * never a continuation of the previous value. */
START_TEST(indented_line_is_a_key)
{
    struct run r;

    check_text(&r, "[t0]\nplugin = testdev\nmagic = 1\n  sise = 2\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 4, "[t0] unknown key 'sise'");
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------
 * Several errors, one run: a user sees all of them at once.
 */
START_TEST(several_file_errors)
{
    struct run r;

    check_text(&r, "stray = 1\n"
                   "[daemon]\n"
                   "bogus = 2\n"
                   "socket-mode = 9\n"
                   "not a key value line\n"
                   "[t0]\n"
                   "magic = 1\n"
                   "magic = 2\n"
                   "[bad name]\n"
                   "plugin = testdev\n");
    expect_failure(&r, 7);
    EXPECT_AT(&r, 1, "key 'stray' outside any section");
    EXPECT_AT(&r, 3, "[daemon] unknown key 'bogus'");
    EXPECT_AT(&r, 4, "[daemon] invalid socket-mode '9' (octal, e.g. 0660)");
    EXPECT_AT(&r, 5, "syntax error (expected 'key = value' or '[section]')");
    EXPECT_AT(&r, 8, "[t0] duplicate key 'magic' (first at line 7)");
    EXPECT_AT(&r, 9, "[bad name] invalid device name (use 1-64 of A-Z a-z 0-9 _ . -)");
    EXPECT_AT(&r, 6, "[t0] no 'plugin' key in this section");
    run_free(&r);
}
END_TEST

START_TEST(several_plugin_errors)
{
    struct run r;

    check_text(&r, "[t0]\n"
                   "plugin = testdev\n"
                   "magic = x\n"
                   "sise = 1\n"
                   "dma-delay-ms = 99999\n"
                   "[g0]\n"
                   "plugin = gpio\n"
                   "bogus = 1\n"
                   "[m0]\n"
                   "plugin = no-such-plugin\n");
    expect_failure(&r, 5);
    EXPECT_AT(&r, 3, "[t0] magic = x: magic: expected a 64-bit number, not \"x\"");
    EXPECT_AT(&r, 4, "[t0] unknown key 'sise'");
    EXPECT_AT(&r, 5, "[t0] dma-delay-ms = 99999: dma-delay-ms: expected 0..60000, "
                     "not \"99999\"");
    EXPECT_AT(&r, 8, "[g0] unknown key 'bogus'");
    EXPECT_AT(&r, 10, "[m0] plugin 'no-such-plugin' not found: %s/no-such-plugin.so: "
                      "No such file or directory", harness_plugin_dir());
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------
 * Whole files
 */
START_TEST(missing_file)
{
    const char *args[] = { "--check-config", "-c", "/nonexistent/vfiouserd.conf", NULL };
    g_autofree char *out = NULL;
    int rc = harness_run(args, &out);

    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_line(out, "vfiouserd: /nonexistent/vfiouserd.conf: "
                                   "No such file or directory"), "%s", out);
}
END_TEST

START_TEST(no_devices)
{
    struct run r;

    check_text(&r, "[daemon]\nsocket-mode = 0600\n");
    ck_assert_msg(r.rc == 1, "exit status %d; output:\n%s", r.rc, r.out);
    expect_line(&r, "vfiouserd: %s: no devices configured", r.h->config_path);
    run_free(&r);
}
END_TEST

START_TEST(bad_option)
{
    const char *args[] = { "--check-config", "--no-such-option", NULL };
    g_autofree char *out = NULL;
    int rc = harness_run(args, &out);

    /* vfiouserd(8) EXIT STATUS documents 1 for a bad option; the code
     * exits 2 (reported).  Either way, not success. */
    ck_assert_msg(rc != 0 && rc < 99, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_has_line(out, "vfiouserd: Unknown option --no-such-option"),
                  "%s", out);
}
END_TEST

/* A namespace file that does not exist yet: the check says what start
 * will create and creates nothing; a directory that does not exist is
 * named.  (vfiouserd-nvme(8); the systemd units' state directory, which
 * does not exist before their first start, is tested in the lab:
 * tests/e2e/systemd.test.) */
START_TEST(nvme_file_created_at_start)
{
    g_autofree char *so = g_build_filename(harness_plugin_dir(), "nvme.so", NULL);
    g_autofree char *img = NULL;
    struct run r;

    if (access(so, F_OK) != 0) {
        printf("nvme_file_created_at_start: skipped, no %s (--disable-nvme)\n", so);
        return;
    }
    check_text(&r, "[n0]\nplugin = nvme\nnamespace.1.path = @DIR@/n0.img\n"
                   "namespace.1.size = 1M\n");
    ck_assert_msg(r.rc == 0, "exit status %d; output:\n%s", r.rc, r.out);
    img = g_build_filename(r.h->dir, "n0.img", NULL);
    expect_line(&r, "vfiouserd: [n0] nvme: namespace 1: %s does not exist: start "
                "creates it (1048576 bytes, sparse)", img);
    ck_assert_msg(access(img, F_OK) != 0, "the check created %s", img);
    run_free(&r);

    check_text(&r, "[n0]\nplugin = nvme\nnamespace.1.path = @DIR@/no-dir/n0.img\n"
                   "namespace.1.size = 1M\n");
    expect_failure(&r, 1);
    EXPECT_AT(&r, 1, "[n0] device creation failed: namespace 1: %s/no-dir/n0.img does "
              "not exist and cannot be created: directory %s/no-dir: No such file "
              "or directory", r.h->dir, r.h->dir);
    run_free(&r);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *good = tcase_create("good");
    TCase *daemon = tcase_create("daemon-section");
    TCase *device = tcase_create("device-sections");
    TCase *syntax = tcase_create("syntax");
    TCase *many = tcase_create("several-errors");
    TCase *file = tcase_create("files");
    TCase *all[] = { good, daemon, device, syntax, many, file };

    tcase_add_test(good, good_file);
    tcase_add_test(good, good_one_device);
    tcase_add_loop_test(good, good_log_level, 0, G_N_ELEMENTS(good_log_levels));
    tcase_add_test(good, inline_comments);
    tcase_add_test(good, plugin_dir_key);
    tcase_add_test(good, plugin_dir_option_wins);

    tcase_add_test(daemon, unknown_daemon_key);
    tcase_add_loop_test(daemon, bad_socket_mode, 0, G_N_ELEMENTS(bad_modes));
    tcase_add_test(daemon, bad_log_level);
    tcase_add_test(daemon, unknown_owner_group);
    tcase_add_test(daemon, socket_dir_relative);
    tcase_add_test(daemon, daemon_twice);

    tcase_add_test(device, unknown_device_key);
    tcase_add_test(device, unknown_key_gpio);
    tcase_add_test(device, plugin_rejects_value);
    tcase_add_test(device, plugin_fails_realize);
    tcase_add_test(device, duplicate_device);
    tcase_add_test(device, duplicate_key);
    tcase_add_test(device, missing_plugin_key);
    tcase_add_test(device, empty_plugin_value);
    tcase_add_test(device, socket_not_absolute);
    tcase_add_loop_test(device, invalid_device_name, 0, G_N_ELEMENTS(bad_names));
    tcase_add_test(device, longest_device_name);
    tcase_add_test(device, nvme_file_created_at_start);

    tcase_add_test(syntax, key_outside_section);
    tcase_add_test(syntax, line_too_long);
    tcase_add_test(syntax, syntax_error);
    tcase_add_test(syntax, indented_line_is_a_key);

    tcase_add_test(many, several_file_errors);
    tcase_add_test(many, several_plugin_errors);

    tcase_add_test(file, missing_file);
    tcase_add_test(file, no_devices);
    tcase_add_test(file, bad_option);

    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        /* Valgrind runs take long. */
        tcase_set_timeout(all[i], 300);
        suite_add_tcase(s, all[i]);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
