/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util_pid_text(): how messages and status name a peer by the pid the
 * kernel gave for it, never as "pid 0".
 */
#include "config.h"

#include "util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(names_a_pid)
{
    char buf[UTIL_PID_TEXT_SIZE];

    ck_assert_str_eq(util_pid_text(4711, buf), "pid 4711");
    ck_assert_str_eq(util_pid_text(1, buf), "pid 1");
    /* The largest pid fits (pid_max is at most 2^22, pid_t an int). */
    ck_assert_str_eq(util_pid_text(2147483647, buf), "pid 2147483647");
}
END_TEST

START_TEST(words_what_is_no_pid)
{
    char buf[UTIL_PID_TEXT_SIZE];

    /* SO_PEERCRED of a peer outside our pid namespace. */
    ck_assert_str_eq(util_pid_text(0, buf), "(in a pid namespace this one cannot see)");
    /* No credentials at all. */
    ck_assert_str_eq(util_pid_text(-1, buf), "(pid unknown)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util_pid");
    TCase *tc = tcase_create("text");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, names_a_pid);
    tcase_add_test(tc, words_what_is_no_pid);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
