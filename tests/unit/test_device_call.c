/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for device calls (engine/device_call.c): a function run on a
 * device's thread while another thread waits, on real device threads of
 * a device with no plugin callbacks.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>

#include "device.h"

static const struct vfud_plugin no_ops = { .name = "none" };

struct seen {
    GThread *thread;
    vfud_dev *current;
    int calls;
};

static int note(vfud_dev *dev, void *opaque)
{
    struct seen *s = opaque;

    (void)dev;
    s->thread = g_thread_self();
    s->current = device_current();
    s->calls++;
    return 7;
}

START_TEST(runs_on_the_device_thread)
{
    vfud_dev *dev = device_new("d0", &no_ops);
    struct seen s = { 0 };

    device_start_thread(dev);
    ck_assert_int_eq(device_call_sync(dev, note, &s), 7);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_ptr_eq(s.current, dev);
    ck_assert_ptr_ne(s.thread, g_thread_self());
    device_free(dev);
}
END_TEST

START_TEST(no_thread_is_esrch)
{
    vfud_dev *dev = device_new("d0", &no_ops);
    struct seen s = { 0 };

    /* Never started, then stopped: fn never runs, nobody hangs. */
    ck_assert_int_eq(device_call_sync(dev, note, &s), -ESRCH);
    device_start_thread(dev);
    device_stop(dev);
    ck_assert_int_eq(device_call_sync(dev, note, &s), -ESRCH);
    ck_assert_int_eq(s.calls, 0);
    device_free(dev);
}
END_TEST

/* On the device thread: a nested call on the same device runs at once. */
static int nested(vfud_dev *dev, void *opaque)
{
    return device_call_sync(dev, note, opaque) + 1;
}

START_TEST(own_thread_runs_at_once)
{
    vfud_dev *dev = device_new("d0", &no_ops);
    struct seen s = { 0 };

    device_start_thread(dev);
    ck_assert_int_eq(device_call_sync(dev, nested, &s), 8);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_ptr_eq(s.current, dev);
    device_free(dev);
}
END_TEST

/* Two devices each hold their thread until both are in: only possible if
 * the calls run at the same time. */
struct meet {
    GMutex lock;
    GCond cond;
    int in;
    bool released;
};

static int meet_and_hold(vfud_dev *dev, void *opaque)
{
    struct meet *m = opaque;

    (void)dev;
    g_mutex_lock(&m->lock);
    m->in++;
    g_cond_broadcast(&m->cond);
    while (m->in < 2) {
        g_cond_wait(&m->cond, &m->lock);
    }
    g_mutex_unlock(&m->lock);
    /* Answer now, then keep the thread until released. */
    device_call_return(0);
    g_mutex_lock(&m->lock);
    while (!m->released) {
        g_cond_wait(&m->cond, &m->lock);
    }
    g_mutex_unlock(&m->lock);
    return -EIO; /* too late: the call already ended with 0 */
}

START_TEST(parallel_and_early_return)
{
    vfud_dev *a = device_new("a", &no_ops);
    vfud_dev *b = device_new("b", &no_ops);
    struct meet m = { .in = 0 };
    struct seen s = { 0 };
    struct device_call *ca, *cb;

    g_mutex_init(&m.lock);
    g_cond_init(&m.cond);
    device_start_thread(a);
    device_start_thread(b);
    ca = device_call_start(a, meet_and_hold, &m);
    cb = device_call_start(b, meet_and_hold, &m);
    ck_assert_int_eq(device_call_wait(ca), 0);
    ck_assert_int_eq(device_call_wait(cb), 0);
    /* The threads are still held: a call queued now runs after. */
    ca = device_call_start(a, note, &s);
    g_usleep(20000);
    ck_assert_int_eq(s.calls, 0);
    g_mutex_lock(&m.lock);
    m.released = true;
    g_cond_broadcast(&m.cond);
    g_mutex_unlock(&m.lock);
    ck_assert_int_eq(device_call_wait(ca), 7);
    ck_assert_int_eq(s.calls, 1);
    device_free(a);
    device_free(b);
    g_mutex_clear(&m.lock);
    g_cond_clear(&m.cond);
}
END_TEST

/* A call queued behind one that holds the thread, when the thread then
 * leaves its loop: it ends with -ESRCH instead of waiting forever. */
static int hold_then_stop(vfud_dev *dev, void *opaque)
{
    (void)opaque;
    g_usleep(50000);
    g_main_loop_quit(dev->loop);
    return 0;
}

START_TEST(pending_when_the_thread_leaves)
{
    vfud_dev *dev = device_new("d0", &no_ops);
    struct seen s = { 0 };
    struct device_call *c1, *c2;

    device_start_thread(dev);
    c1 = device_call_start(dev, hold_then_stop, NULL);
    g_usleep(10000);
    c2 = device_call_start(dev, note, &s);
    ck_assert_int_eq(device_call_wait(c1), 0);
    ck_assert_int_eq(device_call_wait(c2), -ESRCH);
    ck_assert_int_eq(s.calls, 0);
    device_free(dev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("device_call");
    TCase *tc = tcase_create("calls");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, runs_on_the_device_thread);
    tcase_add_test(tc, no_thread_is_esrch);
    tcase_add_test(tc, own_thread_runs_at_once);
    tcase_add_test(tc, parallel_and_early_return);
    tcase_add_test(tc, pending_when_the_thread_leaves);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
