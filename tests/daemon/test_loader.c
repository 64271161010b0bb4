/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The plugin loader: good plugins load (by short name or by path), broken
 * ones are refused at start-up with a message that names the file, the
 * line, the device and why (missing file, not a shared object, unresolved
 * symbol, no vfud_plugin_init, another API version, no realize), and
 * --dump-plugin describes a plugin.
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
#include <vfiouserd/plugin.h>

/* The loader reports canonical paths. */
static char *real_plugin(const char *dir, const char *name)
{
    g_autofree char *p = g_strdup_printf("%s/%s.so", dir, name);
    char *r = realpath(p, NULL);

    ck_assert_msg(r != NULL, "%s is missing: was 'make check' run?", p);
    return r;
}

/* --check-config on a file whose one device [p0] uses the plugin spec
 * (section at line 1, plugin key at line 2). */
static int check_plugin(const char *spec, const char *const *extra,
                        struct harness **h, char **out)
{
    g_autofree char *text = g_strdup_printf("[p0]\nplugin = %s\n", spec);

    *h = harness_new(text);
    return dt_check_config(*h, true, extra, out);
}

static void expect_line(const char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expect_line(const char *out, const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ck_assert_msg(dt_has_line(out, line), "expected the line\n  %s\nin:\n%s", line,
                  out);
}

/* A refused plugin: exit status 1, one message. */
static void expect_refused(int rc, const char *out)
{
    ck_assert_msg(rc == 1, "exit status %d, not 1; output:\n%s", rc, out);
    ck_assert_msg(dt_count_lines(out, "vfiouserd: ") == 1, "%s", out);
    ck_assert_ptr_null(strstr(out, "configuration OK"));
}

/* ------------------------------------------------------------------------
 * Good plugins
 */
START_TEST(good_by_name)
{
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("testdev", NULL, &h, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "%s: configuration OK (1 device)", h->config_path);
    harness_free(h);
}
END_TEST

START_TEST(good_by_path)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "gpio");
    g_autofree char *out = NULL;
    struct harness *h;
    /* No --plugin-dir needed for a path: give a useless one. */
    const char *extra[] = { "--plugin-dir=/nonexistent", NULL };
    int rc = check_plugin(path, extra, &h, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "%s: configuration OK (1 device)", h->config_path);
    harness_free(h);
}
END_TEST

/* Two devices of one plugin share one loaded copy. */
START_TEST(loaded_once)
{
    struct harness *h = harness_new("[a]\nplugin = testdev\nmagic = 1\n"
                                    "[b]\nplugin = testdev\nmagic = 2\n"
                                    "[c]\nplugin = gpio\n");
    const char *extra[] = { "-v", NULL };
    g_autofree char *out = NULL;
    int rc = dt_check_config(h, true, extra, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_count_lines(out, "vfiouserd: loaded plugin 'testdev'") == 1,
                  "%s", out);
    ck_assert_msg(dt_count_lines(out, "vfiouserd: loaded plugin 'gpio'") == 1,
                  "%s", out);
    expect_line(out, "%s: configuration OK (3 devices)", h->config_path);
    harness_free(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Broken plugins
 */
START_TEST(missing_by_name)
{
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("nosuch", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] plugin 'nosuch' not found: "
                     "%s/nosuch.so: No such file or directory",
                h->config_path, harness_plugin_dir());
    harness_free(h);
}
END_TEST

START_TEST(missing_by_path)
{
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("/nonexistent/dir/x.so", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] plugin '/nonexistent/dir/x.so' not "
                     "found: /nonexistent/dir/x.so: No such file or directory",
                h->config_path);
    harness_free(h);
}
END_TEST

START_TEST(invalid_short_name)
{
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("Test.Dev", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] invalid plugin name 'Test.Dev' "
                     "(use [a-z0-9_-], or a path)", h->config_path);
    harness_free(h);
}
END_TEST

START_TEST(wrong_abi)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "bad_abi");
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("bad_abi", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] %s: plugin API version 999, this "
                     "daemon speaks %d to %d",
                h->config_path, path, VFUD_API_VERSION_MIN, VFUD_API_VERSION);
    harness_free(h);
}
END_TEST

START_TEST(no_realize)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "bad_noreal");
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("bad_noreal", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] %s: plugin 'bad_noreal' has no "
                     "realize callback", h->config_path, path);
    harness_free(h);
}
END_TEST

START_TEST(no_init_symbol)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "bad_nosym");
    g_autofree char *out = NULL;
    struct harness *h;
    int rc = check_plugin("bad_nosym", NULL, &h, &out);

    expect_refused(rc, out);
    expect_line(out, "vfiouserd: %s:2: [p0] %s is not a vfiouserd plugin "
                     "(no vfud_plugin_init)", h->config_path, path);
    harness_free(h);
}
END_TEST

/* A text file named like a plugin: dlopen() fails, its reason is shown. */
START_TEST(not_elf)
{
    struct harness *h = harness_new("[p0]\nplugin = @DIR@/notelf.so\n");
    g_autofree char *so = g_build_filename(h->dir, "notelf.so", NULL);
    g_autofree char *real = NULL;
    g_autofree char *re = NULL;
    g_autofree char *esc_cfg = NULL;
    g_autofree char *esc_so = NULL;
    g_autofree char *out = NULL;
    GString *text = g_string_new(NULL);
    int rc;

    for (int i = 0; i < 200; i++) {
        g_string_append(text, "this is not a shared object\n");
    }
    ck_assert(g_file_set_contents(so, text->str, (gssize)text->len, NULL));
    g_string_free(text, TRUE);
    real = realpath(so, NULL);
    ck_assert_ptr_nonnull(real);

    rc = dt_check_config(h, true, NULL, &out);
    expect_refused(rc, out);
    esc_cfg = g_regex_escape_string(h->config_path, -1);
    esc_so = g_regex_escape_string(real, -1);
    re = g_strdup_printf("^vfiouserd: %s:2: \\[p0\\] cannot load plugin %s: .+$",
                         esc_cfg, esc_so);
    ck_assert_msg(dt_has_match(out, re), "no line matching %s in:\n%s", re, out);
    harness_free(h);
}
END_TEST

/* An unresolved symbol: RTLD_NOW makes dlopen() fail at start-up, with the
 * symbol's name, not a crash when the plugin first calls it. */
START_TEST(unresolved_symbol)
{
    g_autofree char *path = real_plugin(DT_TEST_PLUGIN_DIR, "bad_undef");
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", DT_TEST_PLUGIN_DIR);
    g_autofree char *esc_cfg = NULL;
    g_autofree char *esc_so = NULL;
    g_autofree char *re = NULL;
    g_autofree char *out = NULL;
    struct harness *h = harness_new("[p0]\nplugin = bad_undef\n");
    const char *args[] = { "--check-config", "-c", h->config_path, pd, NULL };
    int rc = harness_run(args, &out);

    expect_refused(rc, out);
    esc_cfg = g_regex_escape_string(h->config_path, -1);
    esc_so = g_regex_escape_string(path, -1);
    re = g_strdup_printf("^vfiouserd: %s:2: \\[p0\\] cannot load plugin %s: .*"
                         "undefined symbol: vfud_test_no_such_symbol",
                         esc_cfg, esc_so);
    ck_assert_msg(dt_has_match(out, re), "no line matching %s in:\n%s", re, out);
    harness_free(h);
}
END_TEST

/* realize must declare a PCI function; the error names the device and the
 * file (vfiouserd.conf(5), ERRORS). */
START_TEST(realize_declares_nothing)
{
    g_autofree char *path = real_plugin(DT_TEST_PLUGIN_DIR, "bad_nopci");
    g_autofree char *text = g_strdup_printf("[p0]\nplugin = %s\n", path);
    g_autofree char *esc_cfg = NULL;
    g_autofree char *re = NULL;
    g_autofree char *out = NULL;
    struct harness *h = harness_new(text);
    int rc = dt_check_config(h, true, NULL, &out);

    expect_refused(rc, out);
    esc_cfg = g_regex_escape_string(h->config_path, -1);
    re = g_strdup_printf("^vfiouserd: %s:[0-9]+: \\[p0\\] .*vfud_pci_init", esc_cfg);
    ck_assert_msg(dt_has_match(out, re), "no line matching %s in:\n%s", re, out);
    harness_free(h);
}
END_TEST

/* Every broken device is reported, not only the first. */
START_TEST(all_reported)
{
    struct harness *h = harness_new("[ok0]\nplugin = testdev\n"
                                    "[a]\nplugin = bad_abi\n"
                                    "[b]\nplugin = bad_noreal\n"
                                    "[c]\nplugin = bad_nosym\n"
                                    "[ok1]\nplugin = gpio\n"
                                    "[d]\nplugin = nosuch\n");
    g_autofree char *out = NULL;
    int rc = dt_check_config(h, true, NULL, &out);

    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    ck_assert_msg(dt_count_lines(out, "vfiouserd: ") == 4, "%s", out);
    for (unsigned line = 4; line <= 12; line += 2) {
        g_autofree char *prefix = g_strdup_printf("vfiouserd: %s:%u: [",
                                                  h->config_path, line);

        if (line == 10) {
            continue; /* ok1 */
        }
        ck_assert_msg(dt_count_lines(out, prefix) == 1, "no error at line %u:\n%s",
                      line, out);
    }
    harness_free(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * --dump-plugin
 */
static void expect_key(const char *out, const char *key)
{
    g_autofree char *re = g_strdup_printf("^  %s +\\S", key);

    ck_assert_msg(dt_has_match(out, re), "key %s not listed:\n%s", key, out);
}

static int dump(const char *spec, char **out)
{
    g_autofree char *arg = g_strdup_printf("--dump-plugin=%s", spec);
    g_autofree char *pd = g_strdup_printf("--plugin-dir=%s", harness_plugin_dir());
    const char *args[] = { arg, pd, NULL };

    return harness_run(args, out);
}

START_TEST(dump_testdev)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "testdev");
    g_autofree char *out = NULL;
    int rc = dump("testdev", &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "name=testdev");
    expect_line(out, "version=%s", PACKAGE_VERSION);
    expect_line(out, "api_version=%d", VFUD_API_VERSION);
    expect_line(out, "path=%s", path);
    expect_line(out, "prefers_process=no");
    ck_assert_msg(dt_has_match(out, "^description=\\S"), "%s", out);
    expect_line(out, "keys:");
    expect_key(out, "plugin");
    expect_key(out, "socket");
    expect_key(out, "magic");
    expect_key(out, "dma-delay-ms");
    expect_key(out, "fail-realize");
}
END_TEST

START_TEST(dump_gpio_by_path)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "gpio");
    g_autofree char *out = NULL;
    int rc = dump(path, &out);

    ck_assert_msg(rc == 0, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "name=gpio");
    expect_line(out, "api_version=%d", VFUD_API_VERSION);
    expect_line(out, "path=%s", path);
    expect_key(out, "inputs");
    expect_key(out, "input-file");
    expect_key(out, "input-poll-ms");
    expect_key(out, "output-file");
}
END_TEST

START_TEST(dump_missing)
{
    g_autofree char *out = NULL;
    int rc = dump("nosuch", &out);

    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "vfiouserd: plugin 'nosuch' not found: %s/nosuch.so: "
                     "No such file or directory", harness_plugin_dir());
    ck_assert_ptr_null(strstr(out, "name="));
}
END_TEST

START_TEST(dump_wrong_abi)
{
    g_autofree char *path = real_plugin(harness_plugin_dir(), "bad_abi");
    g_autofree char *out = NULL;
    int rc = dump("bad_abi", &out);

    ck_assert_msg(rc == 1, "exit status %d; output:\n%s", rc, out);
    expect_line(out, "vfiouserd: %s: plugin API version 999, this daemon "
                     "speaks %d to %d",
                path, VFUD_API_VERSION_MIN, VFUD_API_VERSION);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *good = tcase_create("good");
    TCase *bad = tcase_create("broken");
    TCase *dumps = tcase_create("dump-plugin");
    TCase *all[] = { good, bad, dumps };

    tcase_add_test(good, good_by_name);
    tcase_add_test(good, good_by_path);
    tcase_add_test(good, loaded_once);

    tcase_add_test(bad, missing_by_name);
    tcase_add_test(bad, missing_by_path);
    tcase_add_test(bad, invalid_short_name);
    tcase_add_test(bad, wrong_abi);
    tcase_add_test(bad, no_realize);
    tcase_add_test(bad, no_init_symbol);
    tcase_add_test(bad, not_elf);
    tcase_add_test(bad, unresolved_symbol);
    tcase_add_test(bad, realize_declares_nothing);
    tcase_add_test(bad, all_reported);

    tcase_add_test(dumps, dump_testdev);
    tcase_add_test(dumps, dump_gpio_by_path);
    tcase_add_test(dumps, dump_missing);
    tcase_add_test(dumps, dump_wrong_abi);

    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        tcase_set_timeout(all[i], 300);
        suite_add_tcase(s, all[i]);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    int failed;

    dt_init();
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dt_finish();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
